/*
 * dtls-psk binding: the version differences of Mbed TLS, the only place that knows
 * its major (dtls.h has the layout of the binding). Implements no RFC section of its
 * own: it gives the others an RNG (RFC 5246 7.4.1.2's random, the cookie secret of
 * RFC 6347 4.2.1), the DTLS 1.2 version bounds and private key parsing.
 *
 * 2.28: explicit CTR-DRBG; mbedtls_ssl_cookie_setup, mbedtls_ssl_conf_rng take it;
 *       mbedtls_pk_parse_key and mbedtls_pk_check_pair take no RNG.
 * 3.x:  the same DRBG, and mbedtls_pk_parse_key / mbedtls_pk_check_pair take f_rng, p_rng.
 * 4.x:  PSA: psa_crypto_init() first, no RNG anywhere (mbedtls_ssl_conf_rng is gone),
 *       mbedtls_pk_parse_key / mbedtls_pk_check_pair without RNG again; the parsed key
 *       lives in a PSA key slot that mbedtls_pk_free destroys.
 *
 * Resumption (RFC 5077 tickets, RFC 5246 session IDs): mbedtls_ssl_ticket_setup takes
 * the DRBG and a cipher type in 2.28, a PSA algorithm and key type in 4.x; the cache's
 * get callback takes the session ID as arguments from 3.x on. The callbacks wrap
 * Mbed TLS's own to note that a handshake resumed (no credential callback runs then).
 *
 * Connection IDs (RFC 9146): 3.x and 4.x built with MBEDTLS_SSL_DTLS_CONNECTION_ID have
 * the RFC form; 2.28 only a draft (extension 254, another record layout), which the
 * binding does not use (and Debian builds 2.28 without it).
 */
#include "dtls.h"

#if MBEDTLS_VERSION_MAJOR >= 4
#include "psa/crypto.h"

int dtlsRngStart(void)
{
	return (psa_crypto_init() == PSA_SUCCESS) ? 0 : -1;
}

void dtlsRngStop(void)
{
}

int dtlsCookieSetup(mbedtls_ssl_cookie_ctx* cookies)
{
	return mbedtls_ssl_cookie_setup(cookies);
}

int dtlsRandom(unsigned char* into, size_t length)
{
	return (psa_generate_random(into, length) == PSA_SUCCESS) ? 0 : -1;
}

void dtlsConfigureVersionAndRng(mbedtls_ssl_config* conf)
{
	mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
}

#if DTLS_TICKETS
int dtlsTicketSetup(mbedtls_ssl_ticket_context* tickets, uint32_t lifetime)
{
	return mbedtls_ssl_ticket_setup(tickets, PSA_ALG_GCM, PSA_KEY_TYPE_AES, 256, lifetime);
}
#endif

#if DTLS_CERTIFICATES
int dtlsParseKey(mbedtls_pk_context* pk, const unsigned char* key, size_t length)
{
	return mbedtls_pk_parse_key(pk, key, length, NULL, 0);
}

int dtlsCheckPair(const mbedtls_pk_context* pub, const mbedtls_pk_context* prv)
{
	return mbedtls_pk_check_pair(pub, prv);
}
#endif

#else /* 2.28 and 3.x: an explicit DRBG seeded from the platform entropy */
#include "mbedtls/ctr_drbg.h"
#include "mbedtls/entropy.h"

static mbedtls_entropy_context gEntropy;
static mbedtls_ctr_drbg_context gDrbg;

void dtlsRngStop(void)
{
	mbedtls_ctr_drbg_free(&gDrbg);
	mbedtls_entropy_free(&gEntropy);
}

int dtlsRngStart(void)
{
	static const unsigned char personalization[] = "dtls-psk";
	mbedtls_entropy_init(&gEntropy);
	mbedtls_ctr_drbg_init(&gDrbg);
	if (mbedtls_ctr_drbg_seed(&gDrbg, mbedtls_entropy_func, &gEntropy, personalization, sizeof(personalization) - 1)) {
		dtlsRngStop();
		return -1;
	}
	return 0;
}

int dtlsCookieSetup(mbedtls_ssl_cookie_ctx* cookies)
{
	return mbedtls_ssl_cookie_setup(cookies, mbedtls_ctr_drbg_random, &gDrbg);
}

int dtlsRandom(unsigned char* into, size_t length)
{
	return mbedtls_ctr_drbg_random(&gDrbg, into, length);
}

#if DTLS_TICKETS
int dtlsTicketSetup(mbedtls_ssl_ticket_context* tickets, uint32_t lifetime)
{
	return mbedtls_ssl_ticket_setup(tickets, mbedtls_ctr_drbg_random, &gDrbg, MBEDTLS_CIPHER_AES_256_GCM, lifetime);
}
#endif

void dtlsConfigureVersionAndRng(mbedtls_ssl_config* conf)
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
int dtlsParseKey(mbedtls_pk_context* pk, const unsigned char* key, size_t length)
{
#if MBEDTLS_VERSION_MAJOR >= 3
	return mbedtls_pk_parse_key(pk, key, length, NULL, 0, mbedtls_ctr_drbg_random, &gDrbg);
#else
	return mbedtls_pk_parse_key(pk, key, length, NULL, 0);
#endif
}

int dtlsCheckPair(const mbedtls_pk_context* pub, const mbedtls_pk_context* prv)
{
#if MBEDTLS_VERSION_MAJOR >= 3
	return mbedtls_pk_check_pair(pub, prv, mbedtls_ctr_drbg_random, &gDrbg);
#else
	return mbedtls_pk_check_pair(pub, prv);
#endif
}
#endif
#endif

/* ---- Resumption: Mbed TLS's ticket and cache callbacks, noting a resumed handshake ---- */

#if DTLS_TICKETS || DTLS_CACHE
static void resumed(void)
{
	if (gDtlsCurrent)
		gDtlsCurrent->resumed = 1;
}
#endif

#if DTLS_TICKETS
/* a ticket is sealed with the keys of the identity that proved its session (the first identity's for a certificate) */
static int ticketWrite(void* context, const mbedtls_ssl_session* session, unsigned char* start, const unsigned char* end, size_t* length, uint32_t* lifetime)
{
	DTLSContext c = context;
	int number = gDtlsCurrent ? gDtlsCurrent->pskNumber : 0;
	return mbedtls_ssl_ticket_write(&c->tickets[(number > 1) && (number <= c->ticketSets) ? number - 1 : 0], session, start, end, length, lifetime);
}

/* the keys that open a ticket (each set checks its key name, then authenticates) say whose session it was */
static int ticketParse(void* context, mbedtls_ssl_session* session, unsigned char* ticket, size_t length)
{
	DTLSContext c = context;
	unsigned char* copy = NULL;
	int error = MBEDTLS_ERR_SSL_INVALID_MAC, i;
	if (c->ticketSets > 1) {
		copy = mbedtls_calloc(1, length ? length : 1);   /* a failed attempt may have decrypted in place */
		if (!copy)
			return MBEDTLS_ERR_SSL_ALLOC_FAILED;
		memcpy(copy, ticket, length);
	}
	for (i = 0; i < c->ticketSets; i++) {
		if (i)
			memcpy(ticket, copy, length);
		error = mbedtls_ssl_ticket_parse(&c->tickets[i], session, ticket, length);
		if (!error) {
			resumed();
			if (gDtlsCurrent)
				gDtlsCurrent->pskNumber = i + 1;
			break;
		}
	}
	if (copy) {
		mbedtls_platform_zeroize(copy, length);
		mbedtls_free(copy);
	}
	return error;
}
#endif

#if DTLS_CACHE
/* with several identities: the identity a cached session was proved by, kept beside Mbed TLS's cache */
static struct DTLSCachedIdentity* cachedIdentity(DTLSContext c, const unsigned char* id, size_t length)
{
	for (int i = 0; i < c->cacheEntries; i++) {
		if (c->cached[i].idLength && (c->cached[i].idLength == length) && !memcmp(c->cached[i].id, id, length))
			return &c->cached[i];
	}
	return NULL;
}

static void rememberIdentity(DTLSContext c, const unsigned char* id, size_t length)
{
	struct DTLSCachedIdentity* entry;
	if (!c->cached || !length || (length > sizeof(entry->id)))
		return;
	entry = cachedIdentity(c, id, length);
	if (!entry) {
		entry = &c->cached[c->cachedNext];   /* the oldest, as Mbed TLS's cache replaces its oldest */
		c->cachedNext = (c->cachedNext + 1) % c->cacheEntries;
	}
	memcpy(entry->id, id, length);
	entry->idLength = (unsigned char)length;
	entry->pskNumber = (unsigned char)(gDtlsCurrent ? gDtlsCurrent->pskNumber : 0);
}

static int cacheLookup(DTLSContext c, const unsigned char* id, size_t length, mbedtls_ssl_session* session)
{
	struct DTLSCachedIdentity* entry = NULL;
	int error;
	if (c->cached && !(entry = cachedIdentity(c, id, length)))
		return -1;   /* whose it was is not known (any more): a full handshake */
#if MBEDTLS_VERSION_MAJOR >= 3
	error = mbedtls_ssl_cache_get(&c->cache, id, length, session);
#else
	error = mbedtls_ssl_cache_get(&c->cache, session);
#endif
	if (!error) {
		resumed();
		if (entry && gDtlsCurrent)
			gDtlsCurrent->pskNumber = entry->pskNumber;
	}
	return error;
}

#if MBEDTLS_VERSION_MAJOR >= 3
static int cacheGet(void* context, const unsigned char* id, size_t length, mbedtls_ssl_session* session)
{
	return cacheLookup(context, id, length, session);
}

static int cacheSet(void* context, const unsigned char* id, size_t length, const mbedtls_ssl_session* session)
{
	DTLSContext c = context;
	int error = mbedtls_ssl_cache_set(&c->cache, id, length, session);
	if (!error)
		rememberIdentity(c, id, length);
	return error;
}
#else
static int cacheGet(void* context, mbedtls_ssl_session* session)
{
	unsigned char id[32];
	size_t length = session->id_len < sizeof(id) ? session->id_len : sizeof(id);
	memcpy(id, session->id, length);
	return cacheLookup(context, id, length, session);
}

static int cacheSet(void* context, const mbedtls_ssl_session* session)
{
	DTLSContext c = context;
	int error = mbedtls_ssl_cache_set(&c->cache, session);
	if (!error)
		rememberIdentity(c, session->id, session->id_len);
	return error;
}
#endif
#endif

/* a server context's tickets and cache, as its options asked (context.c has set them up) */
void dtlsConfigureResumption(DTLSContext c)
{
#if DTLS_TICKETS
	if (c->ticketLifetime)
		mbedtls_ssl_conf_session_tickets_cb(&c->conf, ticketWrite, ticketParse, c);
#endif
#if DTLS_CACHE
	if (c->cacheEntries) {
		mbedtls_ssl_cache_set_max_entries(&c->cache, c->cacheEntries);
		mbedtls_ssl_cache_set_timeout(&c->cache, (int)(c->ticketLifetime ? c->ticketLifetime : DTLS_CACHE_TIMEOUT_S));
		mbedtls_ssl_conf_session_cache(&c->conf, c, cacheGet, cacheSet);
	}
#endif
	(void)c;
}

/* ---- Connection IDs (RFC 9146) ---- */

#if defined(MBEDTLS_SSL_DTLS_CONNECTION_ID) && (MBEDTLS_VERSION_MAJOR >= 3)
int dtlsCidSupported(void)
{
	return 1;
}

/* records from the peer carry our CID (the context's length); a record with another is dropped unread */
int dtlsConfigureCid(DTLSContext c)
{
	return mbedtls_ssl_conf_cid(&c->conf, (size_t)c->cidLength, MBEDTLS_SSL_UNEXPECTED_CID_IGNORE);
}

/* a random CID for this session, offered in its handshake */
int dtlsSessionCid(DTLSSession s)
{
	int error = dtlsRandom(s->cid, (size_t)s->context->cidLength);
	if (!error)
		error = mbedtls_ssl_set_cid(&s->ssl, MBEDTLS_SSL_CID_ENABLED, s->cid, (size_t)s->context->cidLength);
	return error;
}

/* whether the peer agreed (asked once the handshake is over: before, Mbed TLS would try to finish it) */
int dtlsCidInUse(DTLSSession s)
{
	int enabled = MBEDTLS_SSL_CID_DISABLED;
	unsigned char peer[MBEDTLS_SSL_CID_OUT_LEN_MAX];
	size_t peerLength = 0;
	return !mbedtls_ssl_get_peer_cid(&s->ssl, &enabled, peer, &peerLength) && (enabled == MBEDTLS_SSL_CID_ENABLED);
}
#else
int dtlsCidSupported(void)
{
	return 0;
}

int dtlsConfigureCid(DTLSContext c)
{
	(void)c;
	return -1;
}

int dtlsSessionCid(DTLSSession s)
{
	(void)s;
	return -1;
}

int dtlsCidInUse(DTLSSession s)
{
	(void)s;
	return 0;
}
#endif
