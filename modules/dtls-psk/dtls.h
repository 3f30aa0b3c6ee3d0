/*
 * dtls-psk binding: DTLS 1.2 (RFC 6347) server and client sessions over the platform's
 * mbedTLS, sans-IO, with a pre-shared key (PSK, ECDHE-PSK: RFC 4279, RFC 5489),
 * certificates (ECDHE-ECDSA, P-256: RFC 8422; mutual authentication when a CA is given)
 * or both on one context. This header is internal to the binding's C files.
 *
 * The JS side hands in each received datagram with the current time and takes back
 * the datagrams to send and the decrypted application records; mbedTLS's timer
 * callbacks become a deadline the JS side reads. Nothing here reads a socket or a
 * clock, sleeps, or keeps a reference to a JS value between calls.
 *
 * Two host classes (binding.js):
 *   DTLSContext({identity, key, flags, suites, certificate, privateKey, ca, tickets, cache, cid, psks})
 *                                       one options object, read once; the shared part:
 *                                       ssl config, PSK (identity and key, bytes), own
 *                                       certificate chain and private key, trusted CAs
 *                                       (PEM or DER bytes), cookie key; flags:
 *                                       PREFER_ECDHE, CLIENT; suites: IANA numbers in
 *                                       order. Any option may be missing or undefined,
 *                                       one kind of credential must be there
 *     hello(datagram, transportId)      stateless ClientHello check: true when its
 *                                       cookie is valid, an ArrayBuffer holding a
 *                                       HelloVerifyRequest when not, false when the
 *                                       datagram is no ClientHello
 *   DTLSSession(context, transportId)   one ssl context per peer (a client session takes
 *                                       the server name to verify instead)
 *     receive(datagram, now), tick(now), write(data, now), closeNotify(now),
 *     start(now) (a client's first flight) -> state
 *     output() / read() -> next ArrayBuffer to send / next plaintext, or undefined
 *     deadline, state, reason, error, suite, identity, peerCertificate, credential,
 *     resumed, cid, readable; close()
 *   stats() -> [sessions, contexts]; features() -> what this build has (tickets, cache, CID)
 *
 * Files:
 *   dtls.h          this: configuration, limits, records, what the files share
 *   versions.c      the only place that knows the Mbed TLS major (RNG, cookies, PSA, keys)
 *   context.c       DTLSContext: options, suites, close, destructor
 *   certificates.c  PEM/DER credentials, the peer's chain, certificate failures
 *   hello.c         DTLSContext.hello(): the stateless cookie exchange
 *   session.c       DTLSSession: constructor, receive/start/tick/write/closeNotify, close
 *   io.c            what Mbed TLS calls during a session: BIO, timer, PSK lookup; output()/read()
 *   status.c        what a session reports: state, reason (errors by class), suite...; stats()
 *
 * No allocator is replaced here or anywhere in what the device builds: the heap these
 * files and Mbed TLS hold is measured by the simulator host (host-tests/host/src/mod_meter.c).
 *
 * Mbed TLS 2.28 (Debian, the simulator host) and 4.x (ESP-IDF v6, the device) differ
 * in RNG set-up, cookie set-up, PSA init and the RNG argument of private key parsing
 * only: see versions.c.
 */
#ifndef DTLS_PSK_DTLS_H
#define DTLS_PSK_DTLS_H

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

/*
 * Resumption (a server's): stateless session tickets (RFC 5077) and a small session-ID
 * cache (RFC 5246 7.4.1.2), where the library has them (Debian's 2.28 and ESP-IDF's
 * 4.0 both do).
 */
#if defined(MBEDTLS_SSL_TICKET_C) && defined(MBEDTLS_SSL_SESSION_TICKETS)
#define DTLS_TICKETS 1
#include "mbedtls/ssl_ticket.h"
#else
#define DTLS_TICKETS 0
#endif
#if defined(MBEDTLS_SSL_CACHE_C)
#define DTLS_CACHE 1
#include "mbedtls/ssl_cache.h"
#else
#define DTLS_CACHE 0
#endif

/*
 * Connection IDs (RFC 9146) where the library has the RFC form: versions.c decides
 * (dtlsCidSupported) and makes the Mbed TLS calls.
 */
#define DTLS_CID_MAX 16               /* our own CID's length, at most (RFC 9146 allows 255; 4-8 bytes do on a small node) */

/* what the binding was built with: features() */
#define kFeatureTickets 1
#define kFeatureCache 2
#define kFeatureCid 4

/* ---- Limits ---- */

#define DTLS_MTU 1472                 /* the UDP payload of both hosts without IP fragmentation */
#define DTLS_HANDSHAKE_MIN_MS 1000    /* RFC 6347 4.2.4.1: 1 s initial, doubling... */
#define DTLS_HANDSHAKE_MAX_MS 60000   /* ...up to 60 s */
#define DTLS_QUEUE_MAX 16             /* datagrams waiting in output(), records in read() */
#define DTLS_TRANSPORT_ID_MAX 64      /* "address|port" of a peer */
#define DTLS_VERIFIED_COOKIE_MAX 32   /* Mbed TLS's cookies: a 4-byte time and a 28-byte HMAC */
#define DTLS_IDENTITY_MAX 64
#define DTLS_MORE_PSKS 3              /* identities beyond the first a server context holds */
#define DTLS_RUN_STEPS 8              /* mbedTLS calls per hand-in; each consumes input or stops */
#define DTLS_CREDENTIAL_MAX 65536     /* a certificate chain, CA bundle or private key handed in */
#define DTLS_PEER_NAME_MAX 128        /* the subject of the peer's certificate, for logs */
#define DTLS_TICKET_LIFETIME_MAX 604800   /* a week (RFC 8446 4.6.1's bound, kept for 1.2 too) */
#define DTLS_CACHE_ENTRIES_MAX 64
#define DTLS_CACHE_TIMEOUT_S 86400    /* cached sessions without tickets live a day */

#ifdef MBEDTLS_PSK_MAX_LEN
#define DTLS_KEY_MAX MBEDTLS_PSK_MAX_LEN
#else
#define DTLS_KEY_MAX 32
#endif

/*
 * The DTLSPlaintext record header, RFC 6347 4.1: type(1) version(2) epoch(2)
 * sequence_number(6) length(2). Offsets from the start of a record.
 */
enum {
	RECORD_TYPE = 0,
	RECORD_VERSION = 1,
	RECORD_EPOCH = 3,
	RECORD_SEQUENCE = 5,
	RECORD_LENGTH = 11,
	RECORD_HEADER = 13,
	RECORD_TYPE_TLS12_CID = 25,         /* RFC 9146 4: the CID sits between the sequence number and the length */
};

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
	kOptionTickets,                     /* session ticket lifetime in seconds (RFC 5077), 0: none */
	kOptionCache,                       /* session-ID cache entries, 0: none */
	kOptionCid,                         /* our connection ID's length in bytes (RFC 9146), 0: none */
	kOptionPsks,                        /* a server's further identities: [identity, key, identity, key, ...] */
	kOptionCount,
	kOptionScratch = kOptionCount,
};

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
	/* the cookie hello() last found valid, and for whom: Mbed TLS's own check of the same ClientHello,
	   in the session opened with it, is answered from here once (hello.c, dtlsCookieCheck) */
	unsigned char verifiedCookie[DTLS_VERIFIED_COOKIE_MAX];
	size_t verifiedCookieLength;          /* 0: none */
	unsigned char verifiedId[DTLS_TRANSPORT_ID_MAX];
	size_t verifiedIdLength;
#if DTLS_TICKETS
	/* ticket keys, one set per PSK identity (a ticket names, by the key that opens it, the identity that
	   proved its session: roles survive resumption); random at set-up, replaced every lifetime (Mbed TLS keeps two) */
	mbedtls_ssl_ticket_context tickets[1 + DTLS_MORE_PSKS];
	int ticketSets;                     /* how many of them are set up */
#endif
#if DTLS_CACHE
	mbedtls_ssl_cache_context cache;
	/* with several identities, which one proved each cached session: a ring as long as the cache */
	struct DTLSCachedIdentity { unsigned char id[32]; unsigned char idLength; unsigned char pskNumber; } *cached;
	int cachedNext;
#endif
	uint32_t ticketLifetime;            /* seconds; 0: no tickets */
	int cacheEntries;                   /* 0: no session-ID cache */
	int cidLength;                      /* our CID's length; 0: no connection IDs */
	int ciphersuites[16];
	unsigned char identity[DTLS_IDENTITY_MAX];
	size_t identityLength;
	unsigned char key[DTLS_KEY_MAX];
	size_t keyLength;
	struct {                            /* a server's further PSK identities (roles: an update identity, say) */
		unsigned char identity[DTLS_IDENTITY_MAX];
		size_t identityLength;
		unsigned char key[DTLS_KEY_MAX];
		size_t keyLength;
	} more[DTLS_MORE_PSKS];
	int moreCount;
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
	const unsigned char* input;         /* the datagram being handed in, for the BIO (io.c) */
	size_t inputLength;
	const unsigned char* datagram;      /* the same datagram for the whole call (describe() reads its ClientHello) */
	size_t datagramLength;
	int credential;                     /* kCredential... */
	int alertSent;                      /* an alert record went out during this call */
	int identityRejected;
	int resumed;                        /* the handshake took a ticket or a cached session (versions.c's callbacks) */
	int pskNumber;                      /* 1 + which of the context's identities proved it (io.c, or a ticket's keys); 0: none */
	int cidInUse;                       /* the peer agreed to connection IDs: its records carry `cid` */
	unsigned char cid[DTLS_CID_MAX];    /* our connection ID for this session, random */
	unsigned char identity[DTLS_IDENTITY_MAX];  /* what the client presented, for logs */
	size_t identityLength;
	uint32_t verifyFlags;               /* every X.509 verification flag of the peer's chain */
	char peerName[DTLS_PEER_NAME_MAX];  /* subject of the peer's certificate, "" when none */
	DTLSQueue outbox;
	DTLSQueue inbox;
} DTLSSessionRecord;
typedef DTLSSessionRecord* DTLSSession;

/* ---- Shared state (one definition each) ---- */

extern int gDtlsContexts;                /* context.c: live contexts; the RNG runs while there is one */
extern int gDtlsSessions;                /* session.c: live sessions */
extern DTLSSession gDtlsCurrent;         /* session.c: the session mbedTLS is working for (PSK and verify callbacks) */

/* an error message about the peer's side: the client's peer is a server and the other way round */
#define DTLS_ROLE(s, text) ((s)->context->client ? "server " text : "client " text)

/* an option of the context's options object that is there: not undefined or null */
static inline int dtlsOption(xsMachine* the, int index)
{
	return xsmcTest(xsVar(index));
}

/* ---- Shared functions, by file ---- */

/* versions.c */
int dtlsRngStart(void);
void dtlsRngStop(void);
int dtlsCookieSetup(mbedtls_ssl_cookie_ctx* cookies);
#if DTLS_TICKETS
int dtlsTicketSetup(mbedtls_ssl_ticket_context* tickets, uint32_t lifetime);
#endif
void dtlsConfigureResumption(DTLSContext c);
int dtlsRandom(unsigned char* into, size_t length);
int dtlsCidSupported(void);
int dtlsConfigureCid(DTLSContext c);
int dtlsSessionCid(DTLSSession s);
int dtlsCidInUse(DTLSSession s);
void dtlsConfigureVersionAndRng(mbedtls_ssl_config* conf);
#if DTLS_CERTIFICATES
int dtlsParseKey(mbedtls_pk_context* pk, const unsigned char* key, size_t length);
int dtlsCheckPair(const mbedtls_pk_context* pub, const mbedtls_pk_context* prv);
#endif

/* context.c */
DTLSContext dtlsContextFrom(xsMachine* the, xsSlot* slot);
void dtlsContextRelease(DTLSContext c);

/* certificates.c */
void dtlsConfigureCertificates(xsMachine* the, DTLSContext c);
#if DTLS_CERTIFICATES
const char* dtlsDescribeCertificate(DTLSSession s);
#endif

/* hello.c */
size_t dtlsTransportId(xsMachine* the, xsSlot* slot, unsigned char* into);
int dtlsOffersNoSuiteOfOurs(DTLSSession s);
int dtlsCookieWrite(void* context, unsigned char** p, unsigned char* end, const unsigned char* id, size_t idLength);
int dtlsCookieCheck(void* context, const unsigned char* cookie, size_t cookieLength, const unsigned char* id, size_t idLength);

/* session.c */
DTLSSession dtlsSessionFrom(xsMachine* the);

/* io.c */
void dtlsQueueFree(DTLSQueue* queue);
DTLSQueued* dtlsQueueAdd(DTLSQueue* queue, size_t length);
void dtlsSetCallbacks(DTLSSession s);
int dtlsPskLookup(void* data, mbedtls_ssl_context* ssl, const unsigned char* identity, size_t length);

/* status.c */
const char* dtlsDescribe(DTLSSession s, int error);

/* ---- The host functions of binding.js ---- */

void xs_dtls_context_destructor(void* data);
void xs_dtls_context_constructor(xsMachine* the);
void xs_dtls_context_hello(xsMachine* the);
void xs_dtls_context_close(xsMachine* the);

void xs_dtls_session_destructor(void* data);
void xs_dtls_session_constructor(xsMachine* the);
void xs_dtls_session_start(xsMachine* the);
void xs_dtls_session_receive(xsMachine* the);
void xs_dtls_session_tick(xsMachine* the);
void xs_dtls_session_write(xsMachine* the);
void xs_dtls_session_close_notify(xsMachine* the);
void xs_dtls_session_close(xsMachine* the);
void xs_dtls_session_output(xsMachine* the);
void xs_dtls_session_read(xsMachine* the);
void xs_dtls_session_get_deadline(xsMachine* the);
void xs_dtls_session_get_state(xsMachine* the);
void xs_dtls_session_get_reason(xsMachine* the);
void xs_dtls_session_get_error(xsMachine* the);
void xs_dtls_session_get_suite(xsMachine* the);
void xs_dtls_session_get_identity(xsMachine* the);
void xs_dtls_session_get_credential(xsMachine* the);
void xs_dtls_session_get_resumed(xsMachine* the);
void xs_dtls_session_get_cid(xsMachine* the);
void xs_dtls_session_get_readable(xsMachine* the);
void xs_dtls_features(xsMachine* the);
void xs_dtls_session_get_peer_certificate(xsMachine* the);

void xs_dtls_stats(xsMachine* the);

#endif
