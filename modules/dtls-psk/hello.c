/*
 * dtls-psk binding: DTLSContext.hello(), the stateless half of the cookie exchange of
 * RFC 6347 4.2.1 (a ClientHello without a valid cookie gets a HelloVerifyRequest and
 * costs the server no state), and the reading of a ClientHello that it needs: the
 * record header of RFC 6347 4.1 (dtls.h), the handshake header of RFC 6347 4.2.2 and
 * the ClientHello body of RFC 5246 7.4.1.2 with the cookie RFC 6347 4.2.1 adds to it.
 */
#include "dtls.h"

/* The handshake header, RFC 6347 4.2.2: offsets from its start, right after the record header. */
enum {
	HANDSHAKE_TYPE = 0,                 /* msg_type */
	HANDSHAKE_LENGTH = 1,               /* length, uint24: of the whole message */
	HANDSHAKE_MESSAGE_SEQ = 4,          /* message_seq, uint16 */
	HANDSHAKE_FRAGMENT_OFFSET = 6,      /* fragment_offset, uint24 */
	HANDSHAKE_FRAGMENT_LENGTH = 9,      /* fragment_length, uint24 */
	HANDSHAKE_HEADER = 12,
};

/* Where they start in a datagram whose first record holds a handshake message. */
enum {
	HANDSHAKE_AT = RECORD_HEADER,
	BODY_AT = RECORD_HEADER + HANDSHAKE_HEADER,
};

/*
 * The ClientHello body, RFC 5246 7.4.1.2 with RFC 6347 4.2.1's cookie: client_version(2)
 * random(32) session_id<0..32> cookie<0..2^8-1> cipher_suites<2..2^16-2> ... Offsets
 * from the start of the body; after session_id they depend on its length.
 */
enum {
	HELLO_CLIENT_VERSION = 0,
	HELLO_RANDOM = 2,
	HELLO_SESSION_ID = 34,              /* its length byte, then up to SESSION_ID_MAX bytes */
	SESSION_ID_MAX = 32,
};

/* The HelloVerifyRequest body, RFC 6347 4.2.1: server_version(2) cookie<0..2^8-1>. */
enum {
	VERIFY_SERVER_VERSION = 0,
	VERIFY_COOKIE_LENGTH = 2,
	VERIFY_COOKIE = 3,
	COOKIE_MAX = 255,
};

#define DTLS_MAJOR_VERSION 0xfe         /* {254, 253} is DTLS 1.2, {254, 255} DTLS 1.0 (RFC 6347 4.1) */
#define DTLS_1_0_MINOR_VERSION 0xff

static size_t uint16At(const unsigned char* p)
{
	return ((size_t)p[0] << 8) | p[1];
}

static size_t uint24At(const unsigned char* p)
{
	return ((size_t)p[0] << 16) | ((size_t)p[1] << 8) | p[2];
}

static void putUint16(unsigned char* p, size_t value)
{
	p[0] = (unsigned char)(value >> 8);
	p[1] = (unsigned char)value;
}

static void putUint24(unsigned char* p, size_t value)
{
	p[0] = (unsigned char)(value >> 16);
	p[1] = (unsigned char)(value >> 8);
	p[2] = (unsigned char)value;
}

/* A peer's transport id ("address|port"), the cookie's and the session's binding to it. */
size_t dtlsTransportId(xsMachine* the, xsSlot* slot, unsigned char* into)
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
	size_t recordLength, fragmentOffset, fragmentLength, sessionIdLength, cookieAt;
	const unsigned char* body;
	if ((n < RECORD_HEADER + HANDSHAKE_HEADER) || (d[RECORD_TYPE] != MBEDTLS_SSL_MSG_HANDSHAKE) ||
			(d[RECORD_VERSION] != DTLS_MAJOR_VERSION) || d[RECORD_EPOCH] || d[RECORD_EPOCH + 1])
		return 0;
	recordLength = uint16At(d + RECORD_LENGTH);
	if (RECORD_HEADER + recordLength > n)
		return 0;
	if ((recordLength < HANDSHAKE_HEADER) || (d[HANDSHAKE_AT + HANDSHAKE_TYPE] != MBEDTLS_SSL_HS_CLIENT_HELLO))
		return 0;
	fragmentOffset = uint24At(d + HANDSHAKE_AT + HANDSHAKE_FRAGMENT_OFFSET);
	fragmentLength = uint24At(d + HANDSHAKE_AT + HANDSHAKE_FRAGMENT_LENGTH);
	if (fragmentOffset || (HANDSHAKE_HEADER + fragmentLength > recordLength))
		return 0;
	body = d + BODY_AT;
	if (fragmentLength < HELLO_SESSION_ID + 1)
		return 0;
	sessionIdLength = body[HELLO_SESSION_ID];
	cookieAt = HELLO_SESSION_ID + 1 + sessionIdLength;     /* the cookie's length byte */
	if ((sessionIdLength > SESSION_ID_MAX) || (cookieAt + 1 > fragmentLength))
		return 0;
	*cookieLength = body[cookieAt];
	if (cookieAt + 1 + *cookieLength > fragmentLength)
		return 0;
	*cookie = body + cookieAt + 1;
	return 1;
}

/*
 * Whether the datagram of this call starts with a ClientHello whose cipher_suites
 * (right after the cookie) hold none of the context's. Mbed TLS 2.28 reports that
 * case as MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN, 3.x and 4.x only as a handshake failure;
 * reading the offer says it on every version. Run on a failure only (status.c).
 */
int dtlsOffersNoSuiteOfOurs(DTLSSession s)
{
	const unsigned char* d = s->datagram;
	const unsigned char* cookie;
	const unsigned char* p;
	const unsigned char* end;
	size_t cookieLength, count, i;
	int j;
	if (!d || !findCookie(d, s->datagramLength, &cookie, &cookieLength))
		return 0;
	end = d + BODY_AT + uint24At(d + HANDSHAKE_AT + HANDSHAKE_FRAGMENT_LENGTH);   /* the fragment findCookie checked */
	p = cookie + cookieLength;
	if (end - p < 2)
		return 0;
	count = uint16At(p) / 2;            /* cipher_suites: a uint16 length in bytes, then 2 bytes a suite */
	p += 2;
	if ((size_t)(end - p) < count * 2)
		return 0;   /* a list cut short: some other failure */
	for (i = 0; i < count; i++, p += 2) {
		int offered = (int)uint16At(p);
		for (j = 0; s->context->ciphersuites[j]; j++) {
			if (offered == s->context->ciphersuites[j])
				return 0;
		}
	}
	return 1;
}

/* Mbed TLS's cookie callbacks (mbedtls_ssl_conf_dtls_cookies), given the context. */
int dtlsCookieWrite(void* context, unsigned char** p, unsigned char* end, const unsigned char* id, size_t idLength)
{
	return mbedtls_ssl_cookie_write(&((DTLSContext)context)->cookies, p, end, id, idLength);
}

/*
 * A session's ClientHello is the one hello() has just found a valid cookie in (the
 * session table opens a session only with such a hello): the cookie hello() checked,
 * for the same peer, passes once without a second HMAC; any other goes through
 * Mbed TLS's check. Nothing secret is compared: both sides came from the peer.
 */
int dtlsCookieCheck(void* context, const unsigned char* cookie, size_t cookieLength, const unsigned char* id, size_t idLength)
{
	DTLSContext c = context;
	if (c->verifiedCookieLength && (cookieLength == c->verifiedCookieLength) && (idLength == c->verifiedIdLength)
		&& !memcmp(cookie, c->verifiedCookie, cookieLength) && !memcmp(id, c->verifiedId, idLength)) {
		c->verifiedCookieLength = 0;
		return 0;
	}
	return mbedtls_ssl_cookie_check(&c->cookies, cookie, cookieLength, id, idLength);
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
	DTLSContext c = dtlsContextFrom(the, &xsThis);
	unsigned char id[DTLS_TRANSPORT_ID_MAX];
	unsigned char hvr[BODY_AT + VERIFY_COOKIE + COOKIE_MAX];
	unsigned char* p;
	const unsigned char* cookie;
	size_t idLength, cookieLength, bodyLength, n;
	void* data;
	xsUnsignedValue length;
	const unsigned char* d;
	int valid, error;

	if (c->client)
		xsUnknownError("not a server");
	idLength = dtlsTransportId(the, &xsArg(1), id);
	xsmcGetBufferReadable(xsArg(0), &data, &length);   /* no allocation below: data stays put */
	d = data;
	c->verifiedCookieLength = 0;   /* only this hello's verdict may stand for the session opened with it */
	if (!findCookie(d, length, &cookie, &cookieLength)) {
		xsmcSetFalse(xsResult);
		return;
	}
	valid = cookieLength && (mbedtls_ssl_cookie_check(&c->cookies, cookie, cookieLength, id, idLength) == 0);
	if (valid) {
		if (cookieLength <= sizeof(c->verifiedCookie)) {
			memcpy(c->verifiedCookie, cookie, cookieLength);
			memcpy(c->verifiedId, id, idLength);
			c->verifiedIdLength = idLength;
			c->verifiedCookieLength = cookieLength;
		}
		xsmcSetTrue(xsResult);
		return;
	}
	p = hvr + BODY_AT + VERIFY_COOKIE;
	error = mbedtls_ssl_cookie_write(&c->cookies, &p, hvr + sizeof(hvr), id, idLength);
	if (error) {
		/* no cookie, no handshake for anyone: say why (the session table logs it once per episode) */
		xsUnknownError("cannot make a cookie (Mbed TLS -0x%04x)", (unsigned)-error);
	}
	cookieLength = (size_t)(p - (hvr + BODY_AT + VERIFY_COOKIE));
	bodyLength = VERIFY_COOKIE + cookieLength;
	n = RECORD_HEADER + HANDSHAKE_HEADER + bodyLength;
	if (n > length) {   /* no amplification, ever */
		xsmcSetFalse(xsResult);
		return;
	}
	memcpy(hvr, d, RECORD_LENGTH);      /* type, version, epoch 0, the client's sequence number */
	putUint16(hvr + RECORD_LENGTH, HANDSHAKE_HEADER + bodyLength);
	hvr[HANDSHAKE_AT + HANDSHAKE_TYPE] = MBEDTLS_SSL_HS_HELLO_VERIFY_REQUEST;
	putUint24(hvr + HANDSHAKE_AT + HANDSHAKE_LENGTH, bodyLength);
	memcpy(hvr + HANDSHAKE_AT + HANDSHAKE_MESSAGE_SEQ, d + HANDSHAKE_AT + HANDSHAKE_MESSAGE_SEQ, 2);   /* the ClientHello's */
	putUint24(hvr + HANDSHAKE_AT + HANDSHAKE_FRAGMENT_OFFSET, 0);
	putUint24(hvr + HANDSHAKE_AT + HANDSHAKE_FRAGMENT_LENGTH, bodyLength);   /* one fragment: the whole message */
	hvr[BODY_AT + VERIFY_SERVER_VERSION] = DTLS_MAJOR_VERSION;   /* server_version DTLS 1.0 */
	hvr[BODY_AT + VERIFY_SERVER_VERSION + 1] = DTLS_1_0_MINOR_VERSION;
	hvr[BODY_AT + VERIFY_COOKIE_LENGTH] = (unsigned char)cookieLength;
	xsmcSetArrayBuffer(xsResult, hvr, n);
}
