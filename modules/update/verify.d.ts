/** A streaming SHA-256 (verify.c, over the platform's PSA Crypto). */
export class Sha256 {
  constructor();
  update(bytes: ArrayBufferLike | ArrayBufferView): void;
  /** the 32-byte digest; the hash is finished afterwards (update() and digest() throw) */
  digest(): ArrayBuffer;
  close(): void;
}

/**
 * Whether `signature` (DER, as openssl dgst -sign writes it) is an ECDSA P-256
 * signature of the 32-byte `hash` by `publicKey` (65 bytes, uncompressed point).
 * A malformed signature is false; a malformed key throws.
 */
export function verifyP256(publicKey: ArrayBufferLike | ArrayBufferView, hash: ArrayBufferLike | ArrayBufferView, signature: ArrayBufferLike | ArrayBufferView): boolean;
