/*
 * For the device-mode compile check only (compile.test.ts): ESP-IDF enables
 * MBEDTLS_THREADING_PTHREAD, so mbedtls/threading.h (pulled in by ssl_ticket.h and
 * ssl_cache.h) includes <pthread.h>. The device's toolchain (newlib, wrapped by
 * ESP-IDF's esp_libc/platform_include) has it; Debian's picolibc has none. Mbed TLS's
 * header needs only the mutex and condition types for its typedefs; nothing here is linked.
 */
#ifndef DTLS_RV32_PTHREAD_H
#define DTLS_RV32_PTHREAD_H
typedef struct {
	int opaque[8];
} pthread_mutex_t;
typedef struct {
	int opaque[12];
} pthread_cond_t;
int pthread_mutex_init(pthread_mutex_t* mutex, const void* attributes);
int pthread_mutex_destroy(pthread_mutex_t* mutex);
int pthread_mutex_lock(pthread_mutex_t* mutex);
int pthread_mutex_unlock(pthread_mutex_t* mutex);
#endif
