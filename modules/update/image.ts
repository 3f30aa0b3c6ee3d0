/*
 * Signed firmware images for an update over CoAPS: what the node accepts before it
 * switches, checked as the image streams in (sans-IO: bytes in, a verdict out; the
 * hash and the signature check are injected, verify.c gives them on the device).
 *
 * An image is a 128-byte header, then the payload (the ESP-IDF app image). The header,
 * big-endian (certs/sign-image.sh writes it with openssl):
 *
 *     0   4  magic "C3FW"
 *     4   1  format (1)
 *     5   1  reserved, 0
 *     6   2  target chip (ESP-IDF's esp_chip_id_t: 5 is the ESP32-C3)
 *     8   4  firmware version (major << 16 | minor << 8 | patch)
 *    12   4  payload length in bytes
 *    16  32  SHA-256 of the payload (FIPS 180-4)
 *    48   1  signature length, 8..72
 *    49  72  ECDSA P-256 signature (FIPS 186-4; DER) of bytes 0..47, zero-padded
 *   121   7  reserved, 0
 *
 * The signature covers the header's first 48 bytes, which name the payload by its
 * hash: a payload that does not hash to them is refused at the end, before anything
 * is switched.
 */

export const HEADER_SIZE = 128;
export const SIGNED_SIZE = 48;
export const MAGIC = "C3FW";
export const FORMAT = 1;
/** ESP-IDF's esp_chip_id_t for the ESP32-C3 */
export const CHIP_ESP32C3 = 5;
const SIGNATURE_AT = 49;
const SIGNATURE_MAX = 72;

export interface ImageHeader {
  chip: number;
  version: number;
  length: number;
  sha256: Uint8Array;
  /** the signed part (bytes 0..47) and its signature (DER) */
  signed: Uint8Array;
  signature: Uint8Array;
}

/** "1.2.3" from a version number, and back. */
export function formatVersion(version: number): string {
  return `${version >>> 16}.${(version >>> 8) & 0xff}.${version & 0xff}`;
}

export function parseVersion(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 3) return undefined;
  const [major, minor, patch] = parts.map(Number);
  if (![major, minor, patch].every((n) => Number.isInteger(n) && n >= 0) || major > 0xffff || minor > 0xff || patch > 0xff) return undefined;
  return major * 65536 + minor * 256 + patch;
}

function uint32(b: Uint8Array, at: number): number {
  return ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];
}

/** The header's fields, or why these 128 bytes are none. */
/** The signing key from config (certs/make-update-key.sh's update-signing.pub.hex): 65 bytes, 0x04 || X || Y; undefined when it is none. */
export function parsePublicKey(hex: string): Uint8Array | undefined {
  if (!/^04[0-9a-fA-F]{128}$/.test(hex)) return undefined;
  const key = new Uint8Array(65);
  for (let i = 0; i < 65; i++) key[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return key;
}

export function parseHeader(bytes: Uint8Array): ImageHeader | string {
  if (bytes.length < HEADER_SIZE) return `image shorter than its ${HEADER_SIZE}-byte header`;
  for (let i = 0; i < 4; i++) if (bytes[i] !== MAGIC.charCodeAt(i)) return "not a firmware image (bad magic)";
  if (bytes[4] !== FORMAT) return `image format ${bytes[4]} unknown`;
  const signatureLength = bytes[48];
  if (signatureLength < 8 || signatureLength > SIGNATURE_MAX) return "bad signature length";
  return {
    chip: (bytes[6] << 8) | bytes[7],
    version: uint32(bytes, 8),
    length: uint32(bytes, 12),
    sha256: bytes.slice(16, 48),
    signed: bytes.slice(0, SIGNED_SIZE),
    signature: bytes.slice(SIGNATURE_AT, SIGNATURE_AT + signatureLength),
  };
}

/** What the checks need from the platform: a streaming SHA-256 and an ECDSA P-256 check (verify.c). */
export interface ImageCrypto {
  sha256(): { update(bytes: Uint8Array): void; digest(): ArrayBuffer; close(): void };
  verifyP256(publicKey: Uint8Array, hash: Uint8Array, signature: Uint8Array): boolean;
}

export interface ImagePolicy {
  /** the key every image must be signed with (65 bytes, uncompressed P-256 point) */
  publicKey: Uint8Array;
  /** this node's chip (CHIP_ESP32C3) */
  chip: number;
  /** the running firmware's version: an older image is refused unless allowOlder */
  running: number;
  allowOlder?: boolean;
  /** the update slot's size: a longer payload is refused */
  maxLength: number;
}

/** A refusal: a CoAP code for the uploader (4.xx) and the words for it and the log. */
export class ImageError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/**
 * Checks one image as it streams in: write() each piece in order (the header is
 * checked, signature included, as soon as its 128 bytes are in; the payload is hashed
 * as it passes, and given back to be written to the update slot), finish() at the end.
 * Throws ImageError with a 4.xx code on the first thing wrong.
 */
export class ImageCheck {
  readonly #policy: ImagePolicy;
  readonly #crypto: ImageCrypto;
  readonly #head = new Uint8Array(HEADER_SIZE);
  #received = 0;
  #header: ImageHeader | undefined;
  #hash: ReturnType<ImageCrypto["sha256"]> | undefined;

  constructor(policy: ImagePolicy, crypto: ImageCrypto) {
    this.#policy = policy;
    this.#crypto = crypto;
  }

  /** the header once checked */
  get header(): ImageHeader | undefined {
    return this.#header;
  }

  /** bytes taken so far, header included */
  get received(): number {
    return this.#received;
  }

  /** The next piece of the image; what of it is payload (to go to the update slot), maybe empty. */
  write(bytes: Uint8Array): Uint8Array {
    let payload = bytes;
    if (this.#received < HEADER_SIZE) {
      const take = Math.min(HEADER_SIZE - this.#received, bytes.length);
      this.#head.set(bytes.subarray(0, take), this.#received);
      this.#received += take;
      payload = bytes.subarray(take);
      if (this.#received < HEADER_SIZE) return payload;
      this.#header = this.#checkHeader();
      this.#hash = this.#crypto.sha256();
    }
    const header = this.#header!;
    if (this.#received - HEADER_SIZE + payload.length > header.length) throw new ImageError("4.00", `image longer than its header says (${header.length} bytes of payload)`);
    if (payload.length > 0) this.#hash!.update(payload);
    this.#received += payload.length;
    return payload;
  }

  /** The whole image is in: its header, or an ImageError (truncated, hash mismatch). */
  finish(): ImageHeader {
    const header = this.#header;
    if (!header) throw new ImageError("4.00", `image truncated: ${this.#received} bytes, no complete header`);
    const got = this.#received - HEADER_SIZE;
    if (got !== header.length) throw new ImageError("4.00", `image truncated: ${got} of ${header.length} bytes of payload`);
    const digest = new Uint8Array(this.#hash!.digest());
    this.#hash = undefined;
    for (let i = 0; i < 32; i++) if (digest[i] !== header.sha256[i]) throw new ImageError("4.00", "payload does not match the signed hash (corrupted or tampered)");
    return header;
  }

  /** Frees the hash (an abandoned upload). */
  close(): void {
    this.#hash?.close();
    this.#hash = undefined;
  }

  #checkHeader(): ImageHeader {
    const header = parseHeader(this.#head);
    if (typeof header === "string") throw new ImageError("4.00", header);
    const policy = this.#policy;
    // the signature first: nothing an unsigned header says is believed
    const hash = this.#crypto.sha256();
    let digest: Uint8Array;
    try {
      hash.update(header.signed);
      digest = new Uint8Array(hash.digest());
    } finally {
      hash.close();
    }
    if (!this.#crypto.verifyP256(policy.publicKey, digest, header.signature)) throw new ImageError("4.03", "bad signature (not signed with this node's update key)");
    if (header.chip !== policy.chip) throw new ImageError("4.00", `image for chip ${header.chip}, this node is chip ${policy.chip}`);
    if (header.length === 0 || header.length > policy.maxLength) throw new ImageError("4.13", `payload of ${header.length} bytes, the update slot takes ${policy.maxLength}`);
    if (header.version < policy.running && !policy.allowOlder) throw new ImageError("4.00", `version ${formatVersion(header.version)} is older than the running ${formatVersion(policy.running)}`);
    return header;
  }
}
