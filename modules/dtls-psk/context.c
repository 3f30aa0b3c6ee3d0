/*
 * dtls-psk binding: DTLSContext, what a server's or a client's sessions share. The
 * constructor reads one options object {identity, key, flags, suites, certificate,
 * privateKey, ca, tickets, cache, cid, psks} into an Mbed TLS configuration: DTLS 1.2 only
 * (RFC 6347), PSK (RFC 4279 2) and ECDHE-PSK (RFC 5489) with a pre-shared identity
 * and key, the cipher suites in order (RFC 7252 9.1.3.1 and 9.1.3.3's mandatory
 * CCM_8 suites first), cookies on a server (RFC 6347 4.2.1), anti-replay (RFC 6347 4.1.2.6) and
 * the retransmission timer bounds of RFC 6347 4.2.4.1, and on a server resumption:
 * session tickets (RFC 5077, `tickets`: their lifetime in seconds, which is also how
 * often the ticket key is replaced) and a session-ID cache (`cache`: entries); and
 * connection IDs (RFC 9146, `cid`: our CID's length) where the library has them.
 * Certificates: certificates.c.
 * The RNG runs while there is a context (versions.c).
 */
#include "dtls.h"

int gDtlsContexts;

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

/* the JS object and every session hold a reference; the last one frees the context */
void dtlsContextRelease(DTLSContext c)
{
	if (--c->references > 0)
		return;
	mbedtls_ssl_cookie_free(&c->cookies);
#if DTLS_TICKETS
	for (int i = 0; i < 1 + DTLS_MORE_PSKS; i++)
		mbedtls_ssl_ticket_free(&c->tickets[i]);   /* zeroizes its keys */
#endif
#if DTLS_CACHE
	mbedtls_ssl_cache_free(&c->cache);
	mbedtls_free(c->cached);
#endif
	mbedtls_ssl_config_free(&c->conf);
#if DTLS_CERTIFICATES
	mbedtls_x509_crt_free(&c->ownChain);
	mbedtls_pk_free(&c->ownKey);      /* zeroizes the key (4.x: destroys its PSA key slot) */
	mbedtls_x509_crt_free(&c->caChain);
#endif
	mbedtls_platform_zeroize(c->key, sizeof(c->key));
	mbedtls_platform_zeroize(c->more, sizeof(c->more));
	mbedtls_free(c);
	if (--gDtlsContexts == 0)
		dtlsRngStop();
}

void xs_dtls_context_destructor(void* data)
{
	if (data)
		dtlsContextRelease(data);
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

/* the options object into the variables kOption* (dtls.h) */
static void readOptions(xsMachine* the)
{
	static const char* const names[kOptionCount] = { "identity", "key", "flags", "suites", "certificate", "privateKey", "ca", "tickets", "cache", "cid", "psks" };
	int i;
	xsmcVars(kOptionCount + 1);
	if ((xsmcArgc < 1) || !xsmcTest(xsArg(0)))
		xsTypeError("options required");
	for (i = 0; i < kOptionCount; i++)
		xsmcGet(xsVar(i), xsArg(0), xsID(names[i]));		/* a missing option reads as undefined */
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
	flags = dtlsOption(the, kOptionFlags) ? xsmcToInteger(xsVar(kOptionFlags)) : 0;
	if (gDtlsContexts == 0) {
		error = dtlsRngStart();
		if (error)
			xsUnknownError("rng failed");
	}
	c = mbedtls_calloc(1, sizeof(DTLSContextRecord));
	if (!c) {
		if (gDtlsContexts == 0)
			dtlsRngStop();
		xsUnknownError("no memory");
	}
	gDtlsContexts++;
	c->references = 1;
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_ssl_cookie_init(&c->cookies);
#if DTLS_TICKETS
	for (int i = 0; i < 1 + DTLS_MORE_PSKS; i++)
		mbedtls_ssl_ticket_init(&c->tickets[i]);
#endif
#if DTLS_CACHE
	mbedtls_ssl_cache_init(&c->cache);
#endif
#if DTLS_CERTIFICATES
	mbedtls_x509_crt_init(&c->ownChain);
	mbedtls_pk_init(&c->ownKey);
	mbedtls_x509_crt_init(&c->caChain);
#endif
	xsmcSetHostData(xsThis, c);   /* from here on the destructor frees it, even if we throw */
	c->client = (flags & kFlagClient) ? 1 : 0;
	c->hasPsk = dtlsOption(the, kOptionIdentity);
	c->hasCertificate = dtlsOption(the, kOptionCertificate);
	c->hasCa = dtlsOption(the, kOptionCa);
	if (dtlsOption(the, kOptionIdentity) != dtlsOption(the, kOptionKey))
		xsRangeError("identity and key go together");
	if (c->hasPsk) {
		getBytes(the, &xsVar(kOptionIdentity), c->identity, sizeof(c->identity), &c->identityLength, "identity");
		getBytes(the, &xsVar(kOptionKey), c->key, sizeof(c->key), &c->keyLength, "key");
	}
	if (!c->hasPsk && !c->hasCertificate && !(c->client && c->hasCa))
		xsRangeError("no credentials");
	if (!c->client && c->hasPsk && dtlsOption(the, kOptionPsks)) {
		/* further identities, each with its own key: [identity, key, ...] */
		int count, i;
		xsmcGet(xsVar(kOptionScratch), xsVar(kOptionPsks), xsID("length"));
		count = xsmcToInteger(xsVar(kOptionScratch));
		if ((count < 0) || (count % 2) || (count / 2 > DTLS_MORE_PSKS))
			xsRangeError("invalid psks");
		for (i = 0; i < count / 2; i++) {
			xsmcGetIndex(xsVar(kOptionScratch), xsVar(kOptionPsks), 2 * i);
			getBytes(the, &xsVar(kOptionScratch), c->more[i].identity, sizeof(c->more[i].identity), &c->more[i].identityLength, "identity");
			xsmcGetIndex(xsVar(kOptionScratch), xsVar(kOptionPsks), 2 * i + 1);
			getBytes(the, &xsVar(kOptionScratch), c->more[i].key, sizeof(c->more[i].key), &c->more[i].keyLength, "key");
		}
		c->moreCount = count / 2;
	}
	if (!c->client && dtlsOption(the, kOptionTickets)) {
		int lifetime = xsmcToInteger(xsVar(kOptionTickets));
		if ((lifetime < 0) || (lifetime > DTLS_TICKET_LIFETIME_MAX))
			xsRangeError("invalid tickets");
		if (lifetime && !DTLS_TICKETS)
			xsUnknownError("this Mbed TLS has no session tickets");
		c->ticketLifetime = (uint32_t)lifetime;
	}
	if (dtlsOption(the, kOptionCid)) {
		c->cidLength = xsmcToInteger(xsVar(kOptionCid));
		if ((c->cidLength < 0) || (c->cidLength > DTLS_CID_MAX))
			xsRangeError("invalid cid");
		if (c->cidLength && !dtlsCidSupported())
			xsUnknownError("this Mbed TLS has no connection IDs (RFC 9146)");
	}
	/* with several identities, each identity's tickets have their own keys (the keys that open a ticket name the
	   identity), and the cache notes which identity proved each session it keeps (versions.c) */
	if (!c->client && dtlsOption(the, kOptionCache)) {
		c->cacheEntries = xsmcToInteger(xsVar(kOptionCache));
		if ((c->cacheEntries < 0) || (c->cacheEntries > DTLS_CACHE_ENTRIES_MAX))
			xsRangeError("invalid cache");
		if (c->cacheEntries && !DTLS_CACHE)
			xsUnknownError("this Mbed TLS has no session cache");
#if DTLS_CACHE
		if (c->cacheEntries && c->moreCount) {
			c->cached = mbedtls_calloc(c->cacheEntries, sizeof(*c->cached));
			if (!c->cached)
				xsUnknownError("no memory");
		}
#endif
	}

	error = mbedtls_ssl_config_defaults(&c->conf, c->client ? MBEDTLS_SSL_IS_CLIENT : MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (!error && c->client && c->hasPsk)
		error = mbedtls_ssl_conf_psk(&c->conf, c->key, c->keyLength, c->identity, c->identityLength);
#if defined(MBEDTLS_SSL_SESSION_TICKETS) && defined(MBEDTLS_SSL_CLI_C)
	if (c->client)
		mbedtls_ssl_conf_session_tickets(&c->conf, MBEDTLS_SSL_SESSION_TICKETS_DISABLED);   /* a client session here never resumes: no ticket asked for */
#endif
	if (!error && !c->client)
		error = dtlsCookieSetup(&c->cookies);
#if DTLS_TICKETS
	for (int i = 0; !error && c->ticketLifetime && (i < 1 + c->moreCount); i++) {
		error = dtlsTicketSetup(&c->tickets[i], c->ticketLifetime);
		c->ticketSets = i + 1;
	}
#endif
	if (error)
		xsUnknownError("dtls set-up failed");
	dtlsConfigureVersionAndRng(&c->conf);
	dtlsConfigureCertificates(the, c);
	if (!c->client) {
		if (c->hasPsk)
			mbedtls_ssl_conf_psk_cb(&c->conf, dtlsPskLookup, c);
		mbedtls_ssl_conf_dtls_cookies(&c->conf, dtlsCookieWrite, dtlsCookieCheck, c);
		dtlsConfigureResumption(c);
	}
	if (c->cidLength && dtlsConfigureCid(c))
		xsUnknownError("dtls set-up failed (cid)");
	mbedtls_ssl_conf_dtls_anti_replay(&c->conf, MBEDTLS_SSL_ANTI_REPLAY_ENABLED);
	mbedtls_ssl_conf_handshake_timeout(&c->conf, DTLS_HANDSHAKE_MIN_MS, DTLS_HANDSHAKE_MAX_MS);
	mbedtls_ssl_conf_read_timeout(&c->conf, 0);
	if (dtlsOption(the, kOptionSuites)) {
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

/* the context of a JS DTLSContext (this, or a session's argument); throws when it was closed */
DTLSContext dtlsContextFrom(xsMachine* the, xsSlot* slot)
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
		dtlsContextRelease(c);
	}
}
