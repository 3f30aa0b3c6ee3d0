/*
 * dtls-psk binding: DTLS 1.2 server and client sessions over the platform's mbedTLS,
 * sans-IO, with a pre-shared key (PSK, ECDHE-PSK), certificates (ECDHE-ECDSA, P-256,
 * mutual authentication when a CA is given) or both on one context.
 *
 * The JS side hands in each received datagram with the current time and takes back
 * the datagrams to send and the decrypted application records; mbedTLS's timer
 * callbacks become a deadline the JS side reads. Nothing here reads a socket or a
 * clock, sleeps, or keeps a reference to a JS value between calls.
 *
 * Two host classes (binding.js):
 *   DTLSContext(identity, key, flags, suites, certificate, privateKey, ca)
 *                                       the shared part: ssl config, PSK, own certificate
 *                                       and key, trusted CAs, cookie key (flags:
 *                                       PREFER_ECDHE, CLIENT); any credential may be
 *                                       undefined, one kind must be there
 *     hello(datagram, transportId)      stateless ClientHello check: true when its
 *                                       cookie is valid, an ArrayBuffer holding a
 *                                       HelloVerifyRequest when not, false when the
 *                                       datagram is no ClientHello
 *   DTLSSession(context, transportId)   one ssl context per peer (a client session takes
 *                                       the server name to verify instead)
 *     receive(datagram, now), tick(now), write(data, now), closeNotify(now),
 *     start(now) (a client's first flight) -> state
 *     output() / read() -> next ArrayBuffer to send / next plaintext, or undefined
 *     deadline, state, reason, suite, identity, peerCertificate, credential; close()
 *   stats() -> [sessions, contexts]
 *
 * No allocator is replaced here or anywhere in what the device builds: the heap this
 * file and Mbed TLS hold is measured by the simulator host (host-tests/host/src/mod_meter.c).
 *
 * Mbed TLS 2.28 (Debian, the simulator host) and 4.x (ESP-IDF v6, the device) differ
 * in RNG set-up, cookie set-up, PSA init and the RNG argument of private key parsing
 * only: see "Version differences" below.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xsmc.h"

/*
 * ESP-IDF gives its own mbedtls users its configuration through compile definitions;
 * Moddable's makefile compiles app C without them, so name it here: without it the
 * binding would see Mbed TLS's default configuration, with other struct layouts
 * than the library ESP-IDF built.
 */
#if defined(ESP_PLATFORM) && !defined(MBEDTLS_CONFIG_FILE)
#define MBEDTLS_CONFIG_FILE "mbedtls/esp_config.h"
#define TF_PSA_CRYPTO_USER_CONFIG_FILE "mbedtls/esp_config.h"
#endif

#include "mbedtls/ssl.h"
#include "mbedtls/ssl_cookie.h"
#include "mbedtls/platform.h"
#include "mbedtls/platform_util.h"
#include "mbedtls/version.h"

/* Certificate mode (ECDHE-ECDSA) where the library has X.509; a PSK-only build leaves it out. */
#if defined(MBEDTLS_X509_CRT_PARSE_C) && defined(MBEDTLS_PK_PARSE_C)
#define DTLS_CERTIFICATES 1
#include "mbedtls/pk.h"
#include "mbedtls/x509_crt.h"
#else
#define DTLS_CERTIFICATES 0
#endif

/* ---- Version differences (the only place that knows the Mbed TLS major) ----
 * 2.28: explicit CTR-DRBG; mbedtls_ssl_cookie_setup, mbedtls_ssl_conf_rng take it;
 *       mbedtls_pk_parse_key and mbedtls_pk_check_pair take no RNG.
 * 3.x:  the same DRBG, and mbedtls_pk_parse_key / mbedtls_pk_check_pair take f_rng, p_rng.
 * 4.x:  PSA: psa_crypto_init() first, no RNG anywhere (mbedtls_ssl_conf_rng is gone),
 *       mbedtls_pk_parse_key / mbedtls_pk_check_pair without RNG again; the parsed key
 *       lives in a PSA key slot that mbedtls_pk_free destroys.
 */

#if MBEDTLS_VERSION_MAJOR >= 4
#include "psa/crypto.h"

static int rngStart(void)
{
	return (psa_crypto_init() == PSA_SUCCESS) ? 0 : -1;
}

static void rngStop(void)
{
}

static int cookieSetup(mbedtls_ssl_cookie_ctx* cookies)
{
	return mbedtls_ssl_cookie_setup(cookies);
}

static void configureVersionAndRng(mbedtls_ssl_config* conf)
{
	mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
}

#if DTLS_CERTIFICATES
static int parseKey(mbedtls_pk_context* pk, const unsigned char* key, size_t length)
{
	return mbedtls_pk_parse_key(pk, key, length, NULL, 0);
}

static int checkPair(const mbedtls_pk_context* pub, const mbedtls_pk_context* prv)
{
	return mbedtls_pk_check_pair(pub, prv);
}
#endif

#else /* 2.28 and 3.x: an explicit DRBG seeded from the platform entropy */
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"

static mbedtls_entropy_context gEntropy;
static mbedtls_ctr_drbg_context gDrbg;

static void rngStop(void)
{
	mbedtls_ctr_drbg_free(&gDrbg);
	mbedtls_entropy_free(&gEntropy);
}

static int rngStart(void)
{
	static const unsigned char personalization[] = "dtls-psk";
	mbedtls_entropy_init(&gEntropy);
	mbedtls_ctr_drbg_init(&gDrbg);
	if (mbedtls_ctr_drbg_seed(&gDrbg, mbedtls_entropy_func, &gEntropy, personalization, sizeof(personalization) - 1)) {
		rngStop();
		return -1;
	}
	return 0;
}

static int cookieSetup(mbedtls_ssl_cookie_ctx* cookies)
{
	return mbedtls_ssl_cookie_setup(cookies, mbedtls_ctr_drbg_random, &gDrbg);
}

static void configureVersionAndRng(mbedtls_ssl_config* conf)
{
	mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &gDrbg);
#if MBEDTLS_VERSION_MAJOR >= 3
	mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
#else
	mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
	mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
#endif
}

#if DTLS_CERTIFICATES
static int parseKey(mbedtls_pk_context* pk, const unsigned char* key, size_t length)
{
#if MBEDTLS_VERSION_MAJOR >= 3
	return mbedtls_pk_parse_key(pk, key, length, NULL, 0, mbedtls_ctr_drbg_random, &gDrbg);
#else
	return mbedtls_pk_parse_key(pk, key, length, NULL, 0);
#endif
}

static int checkPair(const mbedtls_pk_context* pub, const mbedtls_pk_context* prv)
{
#if MBEDTLS_VERSION_MAJOR >= 3
	return mbedtls_pk_check_pair(pub, prv, mbedtls_ctr_drbg_random, &gDrbg);
#else
	return mbedtls_pk_check_pair(pub, prv);
#endif
}
#endif
#endif

/* ---- Limits ---- */

#define DTLS_MTU 1472                 /* the UDP payload of both hosts without IP fragmentation */
#define DTLS_HANDSHAKE_MIN_MS 1000    /* RFC 6347 4.2.4.1: 1 s initial, doubling... */
#define DTLS_HANDSHAKE_MAX_MS 60000   /* ...up to 60 s */
#define DTLS_QUEUE_MAX 16             /* datagrams waiting in output(), records in read() */
#define DTLS_TRANSPORT_ID_MAX 64      /* "address|port" of a peer */
#define DTLS_IDENTITY_MAX 64
#define DTLS_RUN_STEPS 8              /* mbedTLS calls per hand-in; each consumes input or stops */
#define DTLS_CREDENTIAL_MAX 65536     /* a certificate chain, CA bundle or private key handed in */
#define DTLS_PEER_NAME_MAX 128        /* the subject of the peer's certificate, for logs */

#ifdef MBEDTLS_PSK_MAX_LEN
#define DTLS_KEY_MAX MBEDTLS_PSK_MAX_LEN
#else
#define DTLS_KEY_MAX 32
#endif

enum {
	kStateHandshaking = 0,
	kStateEstablished = 1,
	kStateClosed = 2,
	kStateFailed = 3,
};

/* What the peer presented to authenticate itself, so a log says "none" only when it sent none */
enum {
	kCredentialUnseen = 0,              /* the handshake did not get that far */
	kCredentialNone = 1,                /* none: an empty Certificate, or a handshake that asked for none */
	kCredentialIdentity = 2,            /* a PSK identity (perhaps empty) */
	kCredentialCertificate = 3,         /* a certificate (perhaps unparsable: then no subject) */
};

#define kFlagPreferEcdhe 1
#define kFlagClient 2                 /* a client context: static PSK and/or certificates, no cookies */

/* ---- Records ---- */

typedef struct DTLSQueued {
	struct DTLSQueued* next;
	size_t length;
	unsigned char data[];
} DTLSQueued;

typedef struct {
	DTLSQueued* first;
	DTLSQueued* last;
	int count;
} DTLSQueue;

typedef struct {
	int references;                     /* the JS object and every session */
	int client;
	int hasPsk;
	int hasCertificate;                 /* own certificate and key (a server must have one to offer ECDSA) */
	int hasCa;                          /* trusted CAs: the peer's certificate is required and verified */
#if DTLS_CERTIFICATES
	mbedtls_x509_crt ownChain;
	mbedtls_pk_context ownKey;
	mbedtls_x509_crt caChain;
#endif
	mbedtls_ssl_config conf;
	mbedtls_ssl_cookie_ctx cookies;
	int ciphersuites[16];
	unsigned char identity[DTLS_IDENTITY_MAX];
	size_t identityLength;
	unsigned char key[DTLS_KEY_MAX];
	size_t keyLength;
} DTLSContextRecord;
typedef DTLSContextRecord* DTLSContext;

typedef struct {
	DTLSContext context;
	mbedtls_ssl_context ssl;
	int state;
	int error;                          /* the mbedTLS error that ended it, 0 otherwise */
	const char* reason;
	double now;                         /* the caller's clock during this call */
	int timerArmed;
	double intermediateAt;
	double finalAt;
	const unsigned char* input;         /* the datagram being handed in, for bioRecv */
	size_t inputLength;
	const unsigned char* datagram;      /* the same datagram for the whole call (describe() reads its ClientHello) */
	size_t datagramLength;
	int credential;                     /* kCredential... */
	int alertSent;                      /* an alert record went out during this call */
	int identityRejected;
	unsigned char identity[DTLS_IDENTITY_MAX];  /* what the client presented, for logs */
	size_t identityLength;
	uint32_t verifyFlags;               /* every X.509 verification flag of the peer's chain */
	char peerName[DTLS_PEER_NAME_MAX];  /* subject of the peer's certificate, "" when none */
	DTLSQueue outbox;
	DTLSQueue inbox;
} DTLSSessionRecord;
typedef DTLSSessionRecord* DTLSSession;

static int gSessions;
static int gContexts;
static DTLSSession gCurrent;            /* the session mbedTLS is working for (PSK callback) */

void xs_dtls_context_destructor(void* data);
void xs_dtls_session_destructor(void* data);

/* TLS_PSK_WITH_AES_128_CCM_8 first: RFC 7252's mandatory suite, and cheap on the device */
static const int gPskSuites[] = {
#ifdef MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8
	MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8,
#endif
#ifdef MBEDTLS_TLS_PSK_WITH_AES_128_CCM
	MBEDTLS_TLS_PSK_WITH_AES_128_CCM,
#endif
#ifdef MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256
	MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256,
#endif
#ifdef MBEDTLS_TLS_PSK_WITH_AES_128_CBC_SHA256
	MBEDTLS_TLS_PSK_WITH_AES_128_CBC_SHA256,
#endif
	0
};
static const int gEcdhePskSuites[] = {
#ifdef MBEDTLS_TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256
	MBEDTLS_TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256,
#endif
	0
};
/* certificate mode: RFC 7252 9.1.3.3's mandatory TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 first */
static const int gEcdsaSuites[] = {
#if DTLS_CERTIFICATES
#ifdef MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8,
#endif
#ifdef MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
#endif
#ifdef MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CCM,
#endif
#ifdef MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
#endif
#endif
	0
};

static void queueFree(DTLSQueue* queue)
{
	while (queue->first) {
		DTLSQueued* q = queue->first;
		queue->first = q->next;
		mbedtls_free(q);
	}
	queue->last = NULL;
	queue->count = 0;
}

static DTLSQueued* queueAdd(DTLSQueue* queue, size_t length)
{
	DTLSQueued* q;
	if (queue->count >= DTLS_QUEUE_MAX)
		return NULL;
	q = mbedtls_calloc(1, sizeof(DTLSQueued) + length);
	if (!q)
		return NULL;
	q->length = length;
	if (queue->last)
		queue->last->next = q;
	else
		queue->first = q;
	queue->last = q;
	queue->count++;
	return q;
}

/* Hands the first queued record to JS as an ArrayBuffer (xsResult), or undefined. */
static void queueTake(xsMachine* the, DTLSQueue* queue)
{
	DTLSQueued* q = queue->first;
	if (!q) {
		xsmcSetUndefined(xsResult);
		return;
	}
	xsmcSetArrayBuffer(xsResult, q->data, q->length);   /* may throw "no memory": then the record stays queued */
	queue->first = q->next;
	if (!queue->first)
		queue->last = NULL;
	queue->count--;
	mbedtls_free(q);
}

/* ---- mbedTLS callbacks: no I/O, only the session's buffers and its notion of now ---- */

static int bioSend(void* data, const unsigned char* buffer, size_t length)
{
	DTLSSession s = data;
	DTLSQueued* q = queueAdd(&s->outbox, length);
	if (!q)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	memcpy(q->data, buffer, length);
	if ((length > 0) && (buffer[0] == MBEDTLS_SSL_MSG_ALERT))
		s->alertSent = 1;
	return (int)length;
}

static int bioRecv(void* data, unsigned char* buffer, size_t length)
{
	DTLSSession s = data;
	size_t n;
	if (!s->input)
		return MBEDTLS_ERR_SSL_WANT_READ;
	n = s->inputLength;
	if (n > length)
		n = length;   /* cannot happen with a datagram <= DTLS_MTU; mbedTLS drops a truncated record */
	memcpy(buffer, s->input, n);
	s->input = NULL;
	s->inputLength = 0;
	return (int)n;
}

static void timerSet(void* data, uint32_t intermediate, uint32_t final)
{
	DTLSSession s = data;
	if (final == 0) {
		s->timerArmed = 0;
		return;
	}
	s->timerArmed = 1;
	s->intermediateAt = s->now + intermediate;
	s->finalAt = s->now + final;
}

static int timerGet(void* data)
{
	DTLSSession s = data;
	if (!s->timerArmed)
		return -1;
	if (s->now >= s->finalAt)
		return 2;
	if (s->now >= s->intermediateAt)
		return 1;
	return 0;
}

static int equalInConstantTime(const unsigned char* a, const unsigned char* b, size_t length)
{
	unsigned char difference = 0;
	size_t i;
	for (i = 0; i < length; i++)
		difference |= a[i] ^ b[i];
	return difference == 0;
}

static int pskLookup(void* data, mbedtls_ssl_context* ssl, const unsigned char* identity, size_t length)
{
	DTLSContext c = data;
	DTLSSession s = gCurrent;
	if (s) {
		s->credential = kCredentialIdentity;
		s->identityLength = (length < sizeof(s->identity)) ? length : sizeof(s->identity);
		memcpy(s->identity, identity, s->identityLength);
	}
	if ((length != c->identityLength) || !equalInConstantTime(identity, c->identity, length)) {
		if (s)
			s->identityRejected = 1;
		return -1;   /* mbedTLS sends the fatal unknown_psk_identity alert */
	}
	return mbedtls_ssl_set_hs_psk(ssl, c->key, c->keyLength);
}

#if DTLS_CERTIFICATES
/* Called for every certificate of the peer's chain, top first: remembers what was wrong and who it is. */
static int verifyPeer(void* data, mbedtls_x509_crt* crt, int depth, uint32_t* flags)
{
	DTLSSession s = gCurrent;
	(void)data;
	if (!s)
		return 0;
	s->credential = kCredentialCertificate;
	s->verifyFlags |= *flags;
	if (depth == 0) {
		if (mbedtls_x509_dn_gets(s->peerName, sizeof(s->peerName), &crt->subject) < 0)
			strcpy(s->peerName, "?");   /* too long for the log: not worth more memory */
	}
	return 0;   /* mbedTLS decides from the flags, and sends the alert that matches them */
}
#endif

/* ---- Errors, by class: 4.x reports some of them as PSA codes ---- */

#define ROLE(s, text) ((s)->context->client ? "server " text : "client " text)

#if DTLS_CERTIFICATES
static const char* describeCertificate(DTLSSession s)
{
	uint32_t flags = s->verifyFlags;
	if (flags & MBEDTLS_X509_BADCERT_MISSING)
		return ROLE(s, "certificate missing");
	if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
		return ROLE(s, "certificate not trusted (unknown CA)");
	if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
		return ROLE(s, "certificate expired");
	if (flags & MBEDTLS_X509_BADCERT_FUTURE)
		return ROLE(s, "certificate not yet valid");
	if (flags & MBEDTLS_X509_BADCERT_REVOKED)
		return ROLE(s, "certificate revoked");
	if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
		return ROLE(s, "certificate does not name the server");
	if (flags & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE | MBEDTLS_X509_BADCERT_NS_CERT_TYPE))
		return ROLE(s, "certificate not allowed for this use");
	if (flags & (MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY))
		return ROLE(s, "certificate algorithm or key not acceptable");
	return ROLE(s, "certificate rejected");
}
#endif

static int offersNoSuiteOfOurs(DTLSSession s);

static const char* describe(DTLSSession s, int error)
{
	/* an if chain, not a switch: in 4.x some of these codes are the same PSA value */
	if (s->identityRejected)
		return "unknown psk identity";
#ifdef MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN
	if (error == MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN)      /* 2.28 */
		return "no shared cipher suite";
#endif
	if (offersNoSuiteOfOurs(s))                         /* 3.x and 4.x say only MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE */
		return "no shared cipher suite";
#if DTLS_CERTIFICATES
	if (error == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE)
		return "no client certificate";
	if (error == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)
		return describeCertificate(s);
#if defined(MBEDTLS_ERR_SSL_BAD_CERTIFICATE)
	if (error == MBEDTLS_ERR_SSL_BAD_CERTIFICATE)       /* 3.x and 4.x name */
#else
	if (error == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE)    /* 2.28 name, same value */
#endif
		return ROLE(s, "certificate malformed");
#endif
#ifdef MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY
	if (error == MBEDTLS_ERR_SSL_UNKNOWN_IDENTITY)
		return "unknown psk identity";
#endif
	if (error == MBEDTLS_ERR_SSL_INVALID_MAC)
		return "bad record mac (wrong key?)";
	if (error == MBEDTLS_ERR_SSL_TIMEOUT)
		return "handshake timed out";
	if (error == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE)
		return "fatal alert from peer";
	if (error == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
		return "close_notify from peer";
#ifdef MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE
	if (error == MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE)  /* suites in common, none with a shared curve or a credential */
		return "no usable cipher suite";
#endif
#ifdef MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED
	if (error == MBEDTLS_ERR_SSL_HELLO_VERIFY_REQUIRED)
		return "cookie rejected";
#endif
#ifdef MBEDTLS_ERR_SSL_ALLOC_FAILED
	if (error == MBEDTLS_ERR_SSL_ALLOC_FAILED)
		return "no memory";
#endif
#ifdef PSA_ERROR_INSUFFICIENT_MEMORY
	if (error == PSA_ERROR_INSUFFICIENT_MEMORY)
		return "no memory";
#endif
	return "handshake failed";
}

/* ---- Context ---- */

static void contextRelease(DTLSContext c)
{
	if (--c->references > 0)
		return;
	mbedtls_ssl_cookie_free(&c->cookies);
	mbedtls_ssl_config_free(&c->conf);
#if DTLS_CERTIFICATES
	mbedtls_x509_crt_free(&c->ownChain);
	mbedtls_pk_free(&c->ownKey);      /* zeroizes the key (4.x: destroys its PSA key slot) */
	mbedtls_x509_crt_free(&c->caChain);
#endif
	mbedtls_platform_zeroize(c->key, sizeof(c->key));
	mbedtls_free(c);
	if (--gContexts == 0)
		rngStop();
}

void xs_dtls_context_destructor(void* data)
{
	if (data)
		contextRelease(data);
}

static void getBytes(xsMachine* the, xsSlot* slot, unsigned char* into, size_t max, size_t* length, const char* what)
{
	void* data;
	xsUnsignedValue count;
	xsmcGetBufferReadable(*slot, &data, &count);
	if ((count == 0) || (count > max))
		xsRangeError("invalid %s", what);
	memcpy(into, data, count);
	*length = count;
}

/* an argument that is there: not undefined or null */
static int given(xsMachine* the, int argument)
{
	return (xsmcArgc > argument) && xsmcTest(xsArg(argument));
}

/*
 * The context's options object, read once into the constructor's variables (as
 * Moddable's own constructors read theirs): kOption* is the variable's index.
 */
enum {
	kOptionIdentity = 0,
	kOptionKey,
	kOptionFlags,
	kOptionSuites,
	kOptionCertificate,
	kOptionPrivateKey,
	kOptionCa,
	kOptionCount,
	kOptionScratch = kOptionCount,
};

static void readOptions(xsMachine* the)
{
	static const char* const names[kOptionCount] = { "identity", "key", "flags", "suites", "certificate", "privateKey", "ca" };
	int i;
	xsmcVars(kOptionCount + 1);
	if ((xsmcArgc < 1) || !xsmcTest(xsArg(0)))
		xsTypeError("options required");
	for (i = 0; i < kOptionCount; i++)
		xsmcGet(xsVar(i), xsArg(0), xsID(names[i]));		/* a missing option reads as undefined */
}

/* an option that is there: not undefined or null */
static int option(xsMachine* the, int index)
{
	return xsmcTest(xsVar(index));
}

#if DTLS_CERTIFICATES
enum { kParseChain, kParseKey };

/* PEM text, which mbedTLS wants with its NUL terminator (JS bytes have none) */
static int isPem(const unsigned char* data, size_t length)
{
	static const char begin[] = "-----BEGIN ";
	size_t i = 0;
	while ((i < length) && ((data[i] == ' ') || (data[i] == '\t') || (data[i] == '\r') || (data[i] == '\n')))
		i++;
	return (length - i >= sizeof(begin) - 1) && !memcmp(data + i, begin, sizeof(begin) - 1);
}

/*
 * Parses a certificate chain (PEM, any number; DER, one) or a private key (PEM or DER,
 * SEC1 or PKCS#8) handed in as bytes. PEM is copied to add the terminator; the copy of
 * a key is zeroized. Nothing is allocated by XS here, so `data` stays put.
 */
static int parseCredential(xsMachine* the, int index, int kind, void* into)
{
	void* data;
	xsUnsignedValue length;
	unsigned char* copy = NULL;
	const unsigned char* bytes;
	size_t size;
	int error;
	xsmcGetBufferReadable(xsVar(index), &data, &length);
	if ((length == 0) || (length > DTLS_CREDENTIAL_MAX))
		return -1;
	bytes = data;
	size = length;
	if (isPem(bytes, size)) {
		copy = mbedtls_calloc(1, size + 1);
		if (!copy)
			return -2;
		memcpy(copy, bytes, size);
		bytes = copy;
		size++;
	}
	if (kind == kParseChain)
		error = mbedtls_x509_crt_parse(into, bytes, size);   /* > 0: some certificates of a bundle failed */
	else
		error = parseKey(into, bytes, size);
	if (copy) {
		mbedtls_platform_zeroize(copy, size);
		mbedtls_free(copy);
	}
	return error;
}
#endif

/* the certificate, privateKey and ca options: parsed into the context; errors name the option, never its content */
static void configureCertificates(xsMachine* the, DTLSContext c)
{
#if DTLS_CERTIFICATES
	int error = 0;
	if (option(the, kOptionCertificate) != option(the, kOptionPrivateKey))
		xsRangeError("certificate and private key go together");
	if (c->hasCertificate) {
		error = parseCredential(the, kOptionCertificate, kParseChain, &c->ownChain);
		if (error)
			xsRangeError((error == -2) ? "no memory" : "invalid certificate");
		error = parseCredential(the, kOptionPrivateKey, kParseKey, &c->ownKey);
		if (!error)
			error = checkPair(&c->ownChain.pk, &c->ownKey) ? -3 : 0;
		if (!error)
			error = mbedtls_ssl_conf_own_cert(&c->conf, &c->ownChain, &c->ownKey);
		if (error)
			xsRangeError((error == -2) ? "no memory" : (error == -3) ? "private key does not match the certificate" : "invalid private key");
	}
	if (c->hasCa) {
		error = parseCredential(the, kOptionCa, kParseChain, &c->caChain);
		if (error)
			xsRangeError((error == -2) ? "no memory" : "invalid ca");
		mbedtls_ssl_conf_ca_chain(&c->conf, &c->caChain, NULL);
	}
	if (c->hasCertificate || c->hasCa)
		mbedtls_ssl_conf_verify(&c->conf, verifyPeer, c);
	/* a CA means the peer must prove itself with a certificate it signed (mutual authentication on a server) */
	mbedtls_ssl_conf_authmode(&c->conf, c->hasCa ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_NONE);
#else
	if (c->hasCertificate || c->hasCa)
		xsUnknownError("certificates unsupported");
	mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_NONE);
#endif
}

static void appendSuites(DTLSContext c, int* i, const int* suites)
{
	int j;
	for (j = 0; suites[j] && (*i < (int)(sizeof(c->ciphersuites) / sizeof(c->ciphersuites[0])) - 1); j++)
		c->ciphersuites[(*i)++] = suites[j];
}

void xs_dtls_context_constructor(xsMachine* the)
{
	DTLSContext c;
	int flags, i = 0, error;
	readOptions(the);
	flags = option(the, kOptionFlags) ? xsmcToInteger(xsVar(kOptionFlags)) : 0;
	if (gContexts == 0) {
		error = rngStart();
		if (error)
			xsUnknownError("rng failed");
	}
	c = mbedtls_calloc(1, sizeof(DTLSContextRecord));
	if (!c) {
		if (gContexts == 0)
			rngStop();
		xsUnknownError("no memory");
	}
	gContexts++;
	c->references = 1;
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_ssl_cookie_init(&c->cookies);
#if DTLS_CERTIFICATES
	mbedtls_x509_crt_init(&c->ownChain);
	mbedtls_pk_init(&c->ownKey);
	mbedtls_x509_crt_init(&c->caChain);
#endif
	xsmcSetHostData(xsThis, c);   /* from here on the destructor frees it, even if we throw */
	c->client = (flags & kFlagClient) ? 1 : 0;
	c->hasPsk = option(the, kOptionIdentity);
	c->hasCertificate = option(the, kOptionCertificate);
	c->hasCa = option(the, kOptionCa);
	if (option(the, kOptionIdentity) != option(the, kOptionKey))
		xsRangeError("identity and key go together");
	if (c->hasPsk) {
		getBytes(the, &xsVar(kOptionIdentity), c->identity, sizeof(c->identity), &c->identityLength, "identity");
		getBytes(the, &xsVar(kOptionKey), c->key, sizeof(c->key), &c->keyLength, "key");
	}
	if (!c->hasPsk && !c->hasCertificate && !(c->client && c->hasCa))
		xsRangeError("no credentials");

	error = mbedtls_ssl_config_defaults(&c->conf, c->client ? MBEDTLS_SSL_IS_CLIENT : MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (!error && c->client && c->hasPsk)
		error = mbedtls_ssl_conf_psk(&c->conf, c->key, c->keyLength, c->identity, c->identityLength);
	if (!error && !c->client)
		error = cookieSetup(&c->cookies);
	if (error)
		xsUnknownError("dtls set-up failed");
	configureVersionAndRng(&c->conf);
	configureCertificates(the, c);
	if (!c->client) {
		if (c->hasPsk)
			mbedtls_ssl_conf_psk_cb(&c->conf, pskLookup, c);
		mbedtls_ssl_conf_dtls_cookies(&c->conf, mbedtls_ssl_cookie_write, mbedtls_ssl_cookie_check, &c->cookies);
	}
	mbedtls_ssl_conf_dtls_anti_replay(&c->conf, MBEDTLS_SSL_ANTI_REPLAY_ENABLED);
	mbedtls_ssl_conf_handshake_timeout(&c->conf, DTLS_HANDSHAKE_MIN_MS, DTLS_HANDSHAKE_MAX_MS);
	mbedtls_ssl_conf_read_timeout(&c->conf, 0);
	if (option(the, kOptionSuites)) {
		/* an explicit list of IANA suite numbers, in order (tests, or a narrower device build) */
		int count;
		xsmcGet(xsVar(kOptionScratch), xsVar(kOptionSuites), xsID("length"));
		count = xsmcToInteger(xsVar(kOptionScratch));
		if ((count < 1) || (count >= (int)(sizeof(c->ciphersuites) / sizeof(c->ciphersuites[0]))))
			xsRangeError("invalid suites");
		for (i = 0; i < count; i++) {
			xsmcGetIndex(xsVar(kOptionScratch), xsVar(kOptionSuites), i);
			c->ciphersuites[i] = xsmcToInteger(xsVar(kOptionScratch));
			if ((c->ciphersuites[i] <= 0) || (c->ciphersuites[i] > 0xffff))
				xsRangeError("invalid suites");
		}
	}
	else {
		/*
		 * Server order: plain PSK first unless ECDHE-PSK (forward secrecy, an ECDH per
		 * handshake) is preferred, then ECDHE-ECDSA. A client offers only the suites its
		 * credentials can complete. mbedTLS also skips, per handshake, the suites whose
		 * credential is missing, so one context serves PSK and certificate peers alike.
		 */
		if (c->hasPsk) {
			if (flags & kFlagPreferEcdhe)
				appendSuites(c, &i, gEcdhePskSuites);
			appendSuites(c, &i, gPskSuites);
			if (!(flags & kFlagPreferEcdhe))
				appendSuites(c, &i, gEcdhePskSuites);
		}
		if (c->client ? (c->hasCa || c->hasCertificate) : c->hasCertificate)
			appendSuites(c, &i, gEcdsaSuites);
		if (i == 0)
			xsUnknownError("no cipher suite for these credentials");
	}
	c->ciphersuites[i] = 0;
	mbedtls_ssl_conf_ciphersuites(&c->conf, c->ciphersuites);
}

static DTLSContext contextFrom(xsMachine* the, xsSlot* slot)
{
	DTLSContext c = fxGetHostDataValidate(the, slot, (void*)xs_dtls_context_destructor);
	if (!c)
		xsUnknownError("closed");
	return c;
}

void xs_dtls_context_close(xsMachine* the)
{
	DTLSContext c = fxGetHostDataValidate(the, &xsThis, (void*)xs_dtls_context_destructor);
	if (c) {
		xsmcSetHostData(xsThis, NULL);
		contextRelease(c);
	}
}

static size_t transportId(xsMachine* the, xsSlot* slot, unsigned char* into)
{
	const char* text = xsmcToString(*slot);
	size_t length = strlen(text);
	if ((length == 0) || (length > DTLS_TRANSPORT_ID_MAX))
		xsRangeError("invalid transport id");
	memcpy(into, text, length);
	return length;
}

/*
 * Finds the cookie of a DTLS ClientHello that starts a datagram (epoch 0, first
 * fragment). Returns 0 when the datagram is no such ClientHello.
 */
static int findCookie(const unsigned char* d, size_t n, const unsigned char** cookie, size_t* cookieLength)
{
	size_t recordLength, fragmentOffset, fragmentLength, sessionIdLength;
	const unsigned char* body;
	if ((n < 13 + 12) || (d[0] != MBEDTLS_SSL_MSG_HANDSHAKE) || (d[1] != 0xfe) || d[3] || d[4])
		return 0;
	recordLength = ((size_t)d[11] << 8) | d[12];
	if (13 + recordLength > n)
		return 0;
	if ((recordLength < 12) || (d[13] != MBEDTLS_SSL_HS_CLIENT_HELLO))
		return 0;
	fragmentOffset = ((size_t)d[19] << 16) | ((size_t)d[20] << 8) | d[21];
	fragmentLength = ((size_t)d[22] << 16) | ((size_t)d[23] << 8) | d[24];
	if (fragmentOffset || (12 + fragmentLength > recordLength))
		return 0;
	body = d + 25;   /* client_version(2) random(32) session_id<0..32> cookie<0..255> ... */
	if (fragmentLength < 2 + 32 + 1)
		return 0;
	sessionIdLength = body[34];
	if ((sessionIdLength > 32) || (35 + sessionIdLength + 1 > fragmentLength))
		return 0;
	*cookieLength = body[35 + sessionIdLength];
	if (36 + sessionIdLength + *cookieLength > fragmentLength)
		return 0;
	*cookie = body + 36 + sessionIdLength;
	return 1;
}

/*
 * Whether the datagram of this call starts with a ClientHello whose cipher_suites
 * (right after the cookie) hold none of the context's. Mbed TLS 2.28 reports that
 * case as MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN, 3.x and 4.x only as a handshake failure;
 * reading the offer says it on every version. Run on a failure only.
 */
static int offersNoSuiteOfOurs(DTLSSession s)
{
	const unsigned char* d = s->datagram;
	const unsigned char* cookie;
	const unsigned char* p;
	const unsigned char* end;
	size_t cookieLength, count, i;
	int j;
	if (!d || !findCookie(d, s->datagramLength, &cookie, &cookieLength))
		return 0;
	end = d + 25 + (((size_t)d[22] << 16) | ((size_t)d[23] << 8) | d[24]);   /* the fragment findCookie checked */
	p = cookie + cookieLength;
	if (end - p < 2)
		return 0;
	count = (((size_t)p[0] << 8) | p[1]) / 2;
	p += 2;
	if ((size_t)(end - p) < count * 2)
		return 0;   /* a list cut short: some other failure */
	for (i = 0; i < count; i++, p += 2) {
		int offered = ((int)p[0] << 8) | p[1];
		for (j = 0; s->context->ciphersuites[j]; j++) {
			if (offered == s->context->ciphersuites[j])
				return 0;
		}
	}
	return 1;
}

/*
 * hello(datagram, transportId): the stateless half of RFC 6347 4.2.1. A ClientHello
 * with a valid cookie for this peer -> true; without one -> an ArrayBuffer holding a
 * HelloVerifyRequest (record and message sequence numbers copied from the
 * ClientHello, server_version 1.0 as the RFC recommends), never larger than the
 * ClientHello; anything else -> false. Nothing is allocated. Throws when Mbed TLS
 * cannot make a cookie at all (seen in the emulated C3 with a PSA configuration that
 * had no HMAC driver: every ClientHello was dropped without a word).
 */
void xs_dtls_context_hello(xsMachine* the)
{
	DTLSContext c = contextFrom(the, &xsThis);
	unsigned char id[DTLS_TRANSPORT_ID_MAX];
	unsigned char hvr[13 + 12 + 3 + 255];
	unsigned char* p;
	const unsigned char* cookie;
	size_t idLength, cookieLength, bodyLength, n;
	void* data;
	xsUnsignedValue length;
	const unsigned char* d;
	int valid, error;

	if (c->client)
		xsUnknownError("not a server");
	idLength = transportId(the, &xsArg(1), id);
	xsmcGetBufferReadable(xsArg(0), &data, &length);   /* no allocation below: data stays put */
	d = data;
	if (!findCookie(d, length, &cookie, &cookieLength)) {
		xsmcSetFalse(xsResult);
		return;
	}
	valid = cookieLength && (mbedtls_ssl_cookie_check(&c->cookies, cookie, cookieLength, id, idLength) == 0);
	p = hvr + 13 + 12 + 3;
	error = valid ? 0 : mbedtls_ssl_cookie_write(&c->cookies, &p, hvr + sizeof(hvr), id, idLength);
	if (valid) {
		xsmcSetTrue(xsResult);
		return;
	}
	if (error) {
		/* no cookie, no handshake for anyone: say why (the session table logs it once per episode) */
		xsUnknownError("cannot make a cookie (Mbed TLS -0x%04x)", (unsigned)-error);
	}
	cookieLength = (size_t)(p - (hvr + 13 + 12 + 3));
	bodyLength = 3 + cookieLength;
	n = 13 + 12 + bodyLength;
	if (n > length) {   /* no amplification, ever */
		xsmcSetFalse(xsResult);
		return;
	}
	memcpy(hvr, d, 11);                 /* type, version, epoch 0, the client's sequence number */
	hvr[11] = (unsigned char)((12 + bodyLength) >> 8);
	hvr[12] = (unsigned char)(12 + bodyLength);
	hvr[13] = MBEDTLS_SSL_HS_HELLO_VERIFY_REQUEST;
	hvr[14] = 0;
	hvr[15] = (unsigned char)(bodyLength >> 8);
	hvr[16] = (unsigned char)bodyLength;
	hvr[17] = d[17];                    /* message_seq of the ClientHello */
	hvr[18] = d[18];
	hvr[19] = hvr[20] = hvr[21] = 0;    /* fragment_offset */
	hvr[22] = 0;
	hvr[23] = hvr[15];                  /* fragment_length = length */
	hvr[24] = hvr[16];
	hvr[25] = 0xfe;                     /* server_version DTLS 1.0 */
	hvr[26] = 0xff;
	hvr[27] = (unsigned char)cookieLength;
	xsmcSetArrayBuffer(xsResult, hvr, n);
}

/* ---- Session ---- */

static void sessionFree(DTLSSession s)
{
	DTLSContext c = s->context;
	mbedtls_ssl_free(&s->ssl);
	queueFree(&s->outbox);
	queueFree(&s->inbox);
	mbedtls_free(s);   /* the charge is subtracted before the block goes */
	gSessions--;
	contextRelease(c);
}

void xs_dtls_session_destructor(void* data)
{
	if (data)
		sessionFree(data);
}

static DTLSSession sessionFrom(xsMachine* the)
{
	DTLSSession s = fxGetHostDataValidate(the, &xsThis, (void*)xs_dtls_session_destructor);
	if (!s)
		xsUnknownError("closed");
	return s;
}

void xs_dtls_session_constructor(xsMachine* the)
{
	DTLSContext c = contextFrom(the, &xsArg(0));
	unsigned char id[DTLS_TRANSPORT_ID_MAX];
	size_t idLength = c->client ? 0 : transportId(the, &xsArg(1), id);
	char serverName[256];
	int named = c->client && given(the, 1);
	DTLSSession s;
	int error;

	if (named) {
		const char* name = xsmcToString(xsArg(1));
		size_t length = strlen(name);
		if ((length == 0) || (length >= sizeof(serverName)))
			xsRangeError("invalid server name");
		memcpy(serverName, name, length + 1);
	}
	s = mbedtls_calloc(1, sizeof(DTLSSessionRecord));
	if (!s)
		xsUnknownError("no memory");
	s->context = c;
	c->references++;
	gSessions++;
	mbedtls_ssl_init(&s->ssl);
	xsmcSetHostData(xsThis, s);
	error = mbedtls_ssl_setup(&s->ssl, &c->conf);
	if (!error && !c->client)
		error = mbedtls_ssl_set_client_transport_id(&s->ssl, id, idLength);
#if DTLS_CERTIFICATES
	/* the name the server's certificate must carry (CN or subjectAltName); NULL: any name the CA signed */
	if (!error && c->client && c->hasCa && mbedtls_ssl_set_hostname(&s->ssl, named ? serverName : NULL))
		error = -1;
#else
	(void)named;
	(void)serverName;
#endif
	if (error) {
		xsmcSetHostData(xsThis, NULL);
		sessionFree(s);
		if (error == -1)
			xsRangeError("invalid server name");
		xsUnknownError("no memory");
	}
	mbedtls_ssl_set_bio(&s->ssl, s, bioSend, bioRecv, NULL);
	mbedtls_ssl_set_timer_cb(&s->ssl, s, timerSet, timerGet);
	mbedtls_ssl_set_mtu(&s->ssl, DTLS_MTU);
	s->state = kStateHandshaking;
}

static void fail(DTLSSession s, int error)
{
	s->state = kStateFailed;
	s->error = error;
	s->reason = describe(s, error);
#if DTLS_CERTIFICATES
	/* the two failures that say what the peer sent without the verify callback seeing it */
	if (error == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE)
		s->credential = kCredentialNone;
#if defined(MBEDTLS_ERR_SSL_BAD_CERTIFICATE)
	else if (error == MBEDTLS_ERR_SSL_BAD_CERTIFICATE)
#else
	else if (error == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE)
#endif
		s->credential = kCredentialCertificate;
#endif
	/* a failed handshake ends with a fatal alert unless mbedTLS sent one, the peer did, or nobody is listening */
	if (!s->alertSent && (error != MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) && (error != MBEDTLS_ERR_SSL_TIMEOUT))
		mbedtls_ssl_send_alert_message(&s->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL, MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
}

/* Reads every complete application record mbedTLS holds into the inbox. */
static void readRecords(DTLSSession s)
{
	unsigned char first[64];
	int steps, ret;
	for (steps = 0; steps < DTLS_RUN_STEPS * 4; steps++) {
		DTLSQueued* q;
		size_t total, got;
		ret = mbedtls_ssl_read(&s->ssl, first, sizeof(first));
		if ((ret == MBEDTLS_ERR_SSL_WANT_READ) || (ret == MBEDTLS_ERR_SSL_WANT_WRITE))
			return;
		if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
			mbedtls_ssl_close_notify(&s->ssl);   /* answer it, as TLS asks */
			s->state = kStateClosed;
			s->reason = "close_notify from peer";
			return;
		}
#ifdef MBEDTLS_ERR_SSL_CLIENT_RECONNECT
		if (ret == MBEDTLS_ERR_SSL_CLIENT_RECONNECT) {   /* a new ClientHello from the same port: the JS side handles it */
			s->state = kStateClosed;
			s->reason = "client reconnected";
			return;
		}
#endif
		if (ret < 0) {
			s->state = kStateFailed;
			s->error = ret;
			s->reason = describe(s, ret);
			return;
		}
		if (ret == 0)
			return;   /* an empty record, or nothing left */
		total = (size_t)ret + mbedtls_ssl_get_bytes_avail(&s->ssl);
		q = queueAdd(&s->inbox, total);
		if (!q) {
			/* keep mbedTLS in step: drop the rest of this record */
			while (mbedtls_ssl_get_bytes_avail(&s->ssl) && (mbedtls_ssl_read(&s->ssl, first, sizeof(first)) > 0))
				;
			continue;
		}
		memcpy(q->data, first, (size_t)ret);
		got = (size_t)ret;
		while (got < total) {
			ret = mbedtls_ssl_read(&s->ssl, q->data + got, total - got);
			if (ret <= 0)
				break;
			got += (size_t)ret;
		}
		q->length = got;
	}
}

/* Runs mbedTLS on what the session holds: the handshake, then application records. */
static void run(DTLSSession s)
{
	int steps, ret;
	s->alertSent = 0;
	for (steps = 0; (s->state == kStateHandshaking) && (steps < DTLS_RUN_STEPS); steps++) {
		ret = mbedtls_ssl_handshake(&s->ssl);
		if (ret == 0) {
			s->state = kStateEstablished;
			if (s->credential == kCredentialUnseen)
				s->credential = kCredentialNone;   /* the handshake asked for nothing and got it */
		}
		else if ((ret == MBEDTLS_ERR_SSL_WANT_READ) || (ret == MBEDTLS_ERR_SSL_WANT_WRITE)) {
			if (!s->input)
				return;   /* waits for the next datagram or the deadline */
			/* the timer expired before our datagram was read: mbedTLS resent its flight, go again */
		}
		else
			fail(s, ret);
	}
	if (s->state == kStateEstablished)
		readRecords(s);
}

static void enter(xsMachine* the, DTLSSession s, int nowArgument)
{
	s->now = xsmcToNumber(xsArg(nowArgument));
	gCurrent = s;
}

static void leave(xsMachine* the, DTLSSession s)
{
	s->input = NULL;
	s->inputLength = 0;
	s->datagram = NULL;
	s->datagramLength = 0;
	gCurrent = NULL;
	xsmcSetInteger(xsResult, s->state);
}

/*
 * Whether every record of the datagram is of epoch 1 or later and the record headers
 * (13 bytes: type, version, epoch, sequence, length) tile it exactly. An established
 * server session hands Mbed TLS nothing else: an epoch-0 record is plaintext that
 * anyone can send from the peer's address, and Mbed TLS's client-reconnect check
 * answers a malformed one with an error after which the context must not be used
 * (readRecords() treats it as fatal). The session table filters first and counts
 * (dtls-psk/records.ts); this keeps the rule for every caller of the binding.
 */
static int onlyLaterEpochs(const unsigned char* d, size_t n)
{
	size_t p = 0;
	while (p < n) {
		size_t length;
		if ((n - p < 13) || (!d[p + 3] && !d[p + 4]))
			return 0;
		length = ((size_t)d[p + 11] << 8) | d[p + 12];
		if (length > n - p - 13)
			return 0;
		p += 13 + length;
	}
	return n > 0;
}

/* receive(datagram, now) -> state */
void xs_dtls_session_receive(xsMachine* the)
{
	DTLSSession s = sessionFrom(the);
	void* data;
	xsUnsignedValue length;
	xsmcGetBufferReadable(xsArg(0), &data, &length);
	enter(the, s, 1);   /* no JS allocation until leave(): data stays where it is */
	if ((length > 0) && ((s->state == kStateHandshaking) || (s->state == kStateEstablished))) {
		if ((s->state == kStateEstablished) && !s->context->client && !onlyLaterEpochs(data, length)) {
			/* dropped unread: see onlyLaterEpochs */
		}
		else {
			s->input = data;
			s->inputLength = length;
			s->datagram = data;
			s->datagramLength = length;
			run(s);
		}
	}
	leave(the, s);
}

/* start(now) -> state: a client session sends its ClientHello */
void xs_dtls_session_start(xsMachine* the)
{
	DTLSSession s = sessionFrom(the);
	enter(the, s, 0);
	if (s->state == kStateHandshaking)
		run(s);
	leave(the, s);
}

/* tick(now) -> state: retransmits the last flight or gives up when the deadline passed */
void xs_dtls_session_tick(xsMachine* the)
{
	DTLSSession s = sessionFrom(the);
	enter(the, s, 0);
	if ((s->state == kStateHandshaking) && s->timerArmed && (s->now >= s->finalAt))
		run(s);
	leave(the, s);
}

/* write(data, now) -> bytes written, or -1 when the session cannot carry application data */
void xs_dtls_session_write(xsMachine* the)
{
	DTLSSession s = sessionFrom(the);
	void* data;
	xsUnsignedValue length;
	int ret = -1;
	xsmcGetBufferReadable(xsArg(0), &data, &length);
	enter(the, s, 1);
	if (s->state == kStateEstablished) {
		ret = mbedtls_ssl_write(&s->ssl, data, length);
		if (ret < 0) {
			/* too large for one record, or the output queue is full: not written, the session lives on */
			if ((ret != MBEDTLS_ERR_SSL_WANT_WRITE) && (ret != MBEDTLS_ERR_SSL_WANT_READ) && (ret != MBEDTLS_ERR_SSL_BAD_INPUT_DATA)) {
				s->state = kStateFailed;
				s->error = ret;
				s->reason = "write failed";
			}
			ret = -1;
		}
	}
	leave(the, s);
	xsmcSetInteger(xsResult, ret);
}

/* closeNotify(now) -> state: sends close_notify when established; the session is closed afterwards */
void xs_dtls_session_close_notify(xsMachine* the)
{
	DTLSSession s = sessionFrom(the);
	enter(the, s, 0);
	if (s->state == kStateEstablished)
		mbedtls_ssl_close_notify(&s->ssl);
	if ((s->state == kStateEstablished) || (s->state == kStateHandshaking)) {
		s->state = kStateClosed;
		s->reason = "closed";
	}
	leave(the, s);
}

void xs_dtls_session_close(xsMachine* the)
{
	DTLSSession s = fxGetHostDataValidate(the, &xsThis, (void*)xs_dtls_session_destructor);
	if (s) {
		xsmcSetHostData(xsThis, NULL);
		sessionFree(s);
	}
}

void xs_dtls_session_output(xsMachine* the)
{
	DTLSSession s = sessionFrom(the);
	queueTake(the, &s->outbox);
}

void xs_dtls_session_read(xsMachine* the)
{
	DTLSSession s = sessionFrom(the);
	queueTake(the, &s->inbox);
}

void xs_dtls_session_get_deadline(xsMachine* the)
{
	DTLSSession s = sessionFrom(the);
	if ((s->state == kStateHandshaking) && s->timerArmed)
		xsmcSetNumber(xsResult, s->finalAt);
	else
		xsmcSetInteger(xsResult, -1);
}

void xs_dtls_session_get_state(xsMachine* the)
{
	xsmcSetInteger(xsResult, sessionFrom(the)->state);
}

void xs_dtls_session_get_reason(xsMachine* the)
{
	DTLSSession s = sessionFrom(the);
	if (s->reason)
		xsmcSetString(xsResult, (char*)s->reason);
}

void xs_dtls_session_get_error(xsMachine* the)
{
	xsmcSetInteger(xsResult, sessionFrom(the)->error);
}

void xs_dtls_session_get_suite(xsMachine* the)
{
	DTLSSession s = sessionFrom(the);
	if (s->state == kStateEstablished)
		xsmcSetString(xsResult, (char*)mbedtls_ssl_get_ciphersuite(&s->ssl));
}

/* the PSK identity the client presented, as bytes (never the key); an empty one is an empty buffer */
void xs_dtls_session_get_identity(xsMachine* the)
{
	DTLSSession s = sessionFrom(the);
	unsigned char identity[DTLS_IDENTITY_MAX];
	size_t length = s->identityLength;
	if (s->credential != kCredentialIdentity)
		return;
	memcpy(identity, s->identity, length);
	xsmcSetArrayBuffer(xsResult, identity, length);
}

/* what the peer presented: kCredential... */
void xs_dtls_session_get_credential(xsMachine* the)
{
	xsmcSetInteger(xsResult, sessionFrom(the)->credential);
}

/* the subject of the certificate the peer presented ("CN=coap-client"), once it has */
void xs_dtls_session_get_peer_certificate(xsMachine* the)
{
	DTLSSession s = sessionFrom(the);
	if (s->peerName[0])
		xsmcSetString(xsResult, s->peerName);
}

/* stats() -> [live sessions, live contexts]: what a leak check needs; heap figures are the host's (host/meter) */
void xs_dtls_stats(xsMachine* the)
{
	xsmcVars(1);
	xsmcSetNewArray(xsResult, 2);
	xsmcSetInteger(xsVar(0), gSessions);
	xsmcSetIndex(xsResult, 0, xsVar(0));
	xsmcSetInteger(xsVar(0), gContexts);
	xsmcSetIndex(xsResult, 1, xsVar(0));
}
