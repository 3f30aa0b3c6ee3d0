/*
 * update binding: what checking a firmware image needs from the platform's Mbed TLS,
 * through its PSA Crypto API (the same calls on Debian's 2.28 and on ESP-IDF's 4.0,
 * where SHA-256 may run on the C3's hardware): a streaming SHA-256 (FIPS 180-4) over
 * the image as it arrives, and an ECDSA P-256 signature check (FIPS 186-4, SEC 1) of
 * its header against the public key built into the firmware. No key is ever secret
 * here; nothing is logged.
 *
 *   new Sha256()                 update(bytes), digest() -> ArrayBuffer(32) (once), close()
 *   verifyP256(publicKey, hash, signature) -> boolean
 *       publicKey: the 65-byte uncompressed point (0x04 || X || Y); hash: 32 bytes;
 *       signature: DER (SEQUENCE { INTEGER r, INTEGER s }), as openssl dgst -sign writes it
 */
#include <stdlib.h>
#include <string.h>
#include "xsmc.h"

#if defined(ESP_PLATFORM) && !defined(MBEDTLS_CONFIG_FILE)
#define MBEDTLS_CONFIG_FILE "mbedtls/esp_config.h"
#define TF_PSA_CRYPTO_USER_CONFIG_FILE "mbedtls/esp_config.h"
#endif
#include "psa/crypto.h"

typedef struct {
	psa_hash_operation_t operation;
	int done;
} Sha256Record;

static void ready(xsMachine* the)
{
	if (psa_crypto_init() != PSA_SUCCESS)
		xsUnknownError("crypto unavailable");
}

void xs_update_sha256_destructor(void* data)
{
	Sha256Record* h = data;
	if (h) {
		psa_hash_abort(&h->operation);
		free(h);
	}
}

void xs_update_sha256(xsMachine* the)
{
	Sha256Record* h;
	ready(the);
	h = calloc(1, sizeof(Sha256Record));
	if (!h)
		xsUnknownError("no memory");
	h->operation = psa_hash_operation_init();
	xsmcSetHostData(xsThis, h);
	if (psa_hash_setup(&h->operation, PSA_ALG_SHA_256) != PSA_SUCCESS)
		xsUnknownError("sha-256 unavailable");
}

static Sha256Record* hashFrom(xsMachine* the)
{
	Sha256Record* h = xsmcGetHostData(xsThis);
	if (!h || h->done)
		xsUnknownError("closed");
	return h;
}

void xs_update_sha256_update(xsMachine* the)
{
	Sha256Record* h = hashFrom(the);
	void* data;
	xsUnsignedValue length;
	xsmcGetBufferReadable(xsArg(0), &data, &length);
	if (psa_hash_update(&h->operation, data, length) != PSA_SUCCESS)
		xsUnknownError("sha-256 failed");
}

void xs_update_sha256_digest(xsMachine* the)
{
	Sha256Record* h = hashFrom(the);
	unsigned char digest[32];
	size_t length = 0;
	h->done = 1;
	if ((psa_hash_finish(&h->operation, digest, sizeof(digest), &length) != PSA_SUCCESS) || (length != sizeof(digest)))
		xsUnknownError("sha-256 failed");
	xsmcSetArrayBuffer(xsResult, digest, sizeof(digest));
}

void xs_update_sha256_close(xsMachine* the)
{
	Sha256Record* h = xsmcGetHostData(xsThis);
	if (h) {
		xsmcSetHostData(xsThis, NULL);
		xs_update_sha256_destructor(h);
	}
}

/*
 * One DER INTEGER at *p (before end) into 32 big-endian bytes: leading zeros dropped,
 * at most 32 significant bytes. 0 when it is no such integer.
 */
static int derInteger(const unsigned char** p, const unsigned char* end, unsigned char* into)
{
	size_t length;
	const unsigned char* value;
	if ((end - *p < 2) || ((*p)[0] != 0x02) || ((*p)[1] > 0x7f))
		return 0;
	length = (*p)[1];
	value = *p + 2;
	if ((length == 0) || ((size_t)(end - value) < length) || (value[0] & 0x80))
		return 0;   /* empty, cut short, or negative */
	*p = value + length;
	while ((length > 0) && (value[0] == 0)) {
		value++;
		length--;
	}
	if (length > 32)
		return 0;
	memset(into, 0, 32 - length);
	memcpy(into + 32 - length, value, length);
	return 1;
}

void xs_update_verify_p256(xsMachine* the)
{
	void* key;
	void* hash;
	void* signature;
	xsUnsignedValue keyLength, hashLength, signatureLength;
	unsigned char raw[64];
	const unsigned char* p;
	const unsigned char* end;
	psa_key_attributes_t attributes = PSA_KEY_ATTRIBUTES_INIT;
	psa_key_id_t id = 0;
	psa_status_t status;
	int valid = 0;

	ready(the);
	xsmcGetBufferReadable(xsArg(0), &key, &keyLength);
	xsmcGetBufferReadable(xsArg(1), &hash, &hashLength);
	xsmcGetBufferReadable(xsArg(2), &signature, &signatureLength);
	if ((keyLength != 65) || (((unsigned char*)key)[0] != 0x04))
		xsRangeError("public key: 65 bytes, uncompressed");
	if (hashLength != 32)
		xsRangeError("hash: 32 bytes");
	/* SEQUENCE (short length) { INTEGER r, INTEGER s }, nothing after */
	p = signature;
	end = p + signatureLength;
	if ((signatureLength >= 8) && (p[0] == 0x30) && (p[1] < 0x80) && ((size_t)p[1] + 2 == signatureLength)) {
		p += 2;
		if (derInteger(&p, end, raw) && derInteger(&p, end, raw + 32) && (p == end)) {
			psa_set_key_type(&attributes, PSA_KEY_TYPE_ECC_PUBLIC_KEY(PSA_ECC_FAMILY_SECP_R1));
			psa_set_key_bits(&attributes, 256);
			psa_set_key_usage_flags(&attributes, PSA_KEY_USAGE_VERIFY_HASH);
			psa_set_key_algorithm(&attributes, PSA_ALG_ECDSA(PSA_ALG_SHA_256));
			status = psa_import_key(&attributes, key, keyLength, &id);
			if (status != PSA_SUCCESS)
				xsRangeError("public key: not a P-256 point");
			valid = psa_verify_hash(id, PSA_ALG_ECDSA(PSA_ALG_SHA_256), hash, hashLength, raw, sizeof(raw)) == PSA_SUCCESS;
			psa_destroy_key(id);
		}
	}
	xsmcSetBoolean(xsResult, valid);
}
