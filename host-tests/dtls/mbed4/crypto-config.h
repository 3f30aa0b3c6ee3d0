/*
 * TF-PSA-Crypto 1.0 configuration (TF_PSA_CRYPTO_CONFIG_FILE) beside
 * mbedtls-config.h: the PSA mechanisms the device's DTLS suites need (AES with CCM,
 * GCM and CBC; HMAC-SHA-256; the TLS 1.2 PRF and PSK-to-MS; ECDH and, for
 * certificates, ECDSA on P-256) with MBEDTLS_PLATFORM_MEMORY as ESP-IDF has it.
 * Entropy as on the device, from a driver (ESP-IDF's); DTLS_MBED4_HOST_ENTROPY takes
 * the operating system's instead, for a build that runs on a PC.
 */
#ifndef DTLS_MBED4_CRYPTO_CONFIG_H
#define DTLS_MBED4_CRYPTO_CONFIG_H
#define TF_PSA_CRYPTO_CONFIG_VERSION 0x01000000

#define MBEDTLS_PSA_CRYPTO_C
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#ifdef DTLS_MBED4_HOST_ENTROPY
#define MBEDTLS_PSA_BUILTIN_GET_ENTROPY
#else
#define MBEDTLS_PSA_DRIVER_GET_ENTROPY
#endif
#define MBEDTLS_CTR_DRBG_C
#define MBEDTLS_PSA_KEY_STORE_DYNAMIC
#define MBEDTLS_MD_C
#define MBEDTLS_ECP_NIST_OPTIM

#define PSA_WANT_KEY_TYPE_AES                   1
#define PSA_WANT_ALG_CCM                        1
#define PSA_WANT_ALG_GCM                        1
#define PSA_WANT_ALG_CBC_NO_PADDING             1
#define PSA_WANT_ALG_ECB_NO_PADDING             1
#define PSA_WANT_ALG_HMAC                       1
#define PSA_WANT_KEY_TYPE_HMAC                  1
#define PSA_WANT_ALG_SHA_256                    1
#define PSA_WANT_ALG_SHA_384                    1
#define PSA_WANT_ALG_TLS12_PRF                  1
#define PSA_WANT_ALG_TLS12_PSK_TO_MS            1
#define PSA_WANT_KEY_TYPE_DERIVE                1
#define PSA_WANT_KEY_TYPE_RAW_DATA              1
#define PSA_WANT_ALG_ECDH                       1
#define PSA_WANT_ECC_SECP_R1_256                1
#define PSA_WANT_KEY_TYPE_ECC_PUBLIC_KEY        1
#define PSA_WANT_KEY_TYPE_ECC_KEY_PAIR_BASIC    1
#define PSA_WANT_KEY_TYPE_ECC_KEY_PAIR_IMPORT   1
#define PSA_WANT_KEY_TYPE_ECC_KEY_PAIR_EXPORT   1
#define PSA_WANT_KEY_TYPE_ECC_KEY_PAIR_GENERATE 1

#ifndef DTLS_MBED4_PSK_ONLY
#define PSA_WANT_ALG_ECDSA                      1
#define PSA_WANT_ALG_DETERMINISTIC_ECDSA        1
#define MBEDTLS_HMAC_DRBG_C
#define MBEDTLS_PK_C
#define MBEDTLS_PK_PARSE_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C
#define MBEDTLS_BASE64_C
#define MBEDTLS_PEM_PARSE_C
#define MBEDTLS_HAVE_TIME
#define MBEDTLS_HAVE_TIME_DATE
#endif

#endif
