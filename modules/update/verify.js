/*
 * JS shim of the update binding (verify.c): host functions cannot be written in
 * TypeScript. Types: verify.d.ts.
 */
export class Sha256 @ "xs_update_sha256_destructor" {
	constructor() @ "xs_update_sha256";
	update(bytes) @ "xs_update_sha256_update";
	digest() @ "xs_update_sha256_digest";
	close() @ "xs_update_sha256_close";
}
Object.freeze(Sha256.prototype);

export function verifyP256(publicKey, hash, signature) @ "xs_update_verify_p256";
