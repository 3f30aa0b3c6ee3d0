/*
 * Mbed TLS 4.0 configuration (MBEDTLS_CONFIG_FILE) for the compile check of the
 * DTLS binding against 4.x headers, the 4.0 way: TLS and X.509 here, crypto in
 * crypto-config.h (TF_PSA_CRYPTO_CONFIG_FILE). It enables what the device's
 * sdkconfig/sdkconfig.defaults enables: DTLS 1.2 server and client, cookies,
 * anti-replay, the PSK and ECDHE-PSK key exchanges and, unless DTLS_MBED4_PSK_ONLY,
 * ECDHE-ECDSA with X.509 certificates; record buffers of 2 KiB each way.
 */
#ifndef DTLS_MBED4_MBEDTLS_CONFIG_H
#define DTLS_MBED4_MBEDTLS_CONFIG_H
#define MBEDTLS_CONFIG_VERSION 0x04000000

#define MBEDTLS_SSL_TLS_C
#define MBEDTLS_SSL_SRV_C
#define MBEDTLS_SSL_CLI_C
#define MBEDTLS_SSL_PROTO_TLS1_2
#define MBEDTLS_SSL_PROTO_DTLS
#define MBEDTLS_SSL_DTLS_HELLO_VERIFY
#define MBEDTLS_SSL_DTLS_ANTI_REPLAY
#define MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE      /* RFC 6347 4.2.8: a client restarting on the same port */
#define MBEDTLS_SSL_COOKIE_C
#define MBEDTLS_SSL_EXTENDED_MASTER_SECRET
#define MBEDTLS_SSL_ENCRYPT_THEN_MAC
#define MBEDTLS_SSL_ALL_ALERT_MESSAGES
#define MBEDTLS_KEY_EXCHANGE_PSK_ENABLED
#define MBEDTLS_KEY_EXCHANGE_ECDHE_PSK_ENABLED
#define MBEDTLS_SSL_IN_CONTENT_LEN 2048         /* CONFIG_MBEDTLS_SSL_IN_CONTENT_LEN */
#define MBEDTLS_SSL_OUT_CONTENT_LEN 2048        /* CONFIG_MBEDTLS_SSL_OUT_CONTENT_LEN */

#ifndef DTLS_MBED4_PSK_ONLY
#define MBEDTLS_KEY_EXCHANGE_ECDHE_ECDSA_ENABLED
#define MBEDTLS_X509_USE_C
#define MBEDTLS_X509_CRT_PARSE_C
#endif

#endif
