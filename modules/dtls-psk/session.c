/*
 * dtls-psk binding: DTLSSession, one Mbed TLS ssl context per peer, and the calls that
 * run it on what JS hands in: receive(datagram, now), start(now), tick(now),
 * write(data, now), closeNotify(now). Each runs the handshake of RFC 6347 4.2 (with the
 * retransmissions of 4.2.4 when the deadline passed), then reads application records;
 * a failed handshake ends with a fatal alert (RFC 5246 7.2.2), close_notify is sent and
 * answered (RFC 5246 7.2.1), and an established server session is handed only records
 * of epoch 1 or later (RFC 6347 4.1, 4.2.8). What Mbed TLS calls meanwhile: io.c; what
 * a session reports: status.c.
 */
#include "dtls.h"

int gDtlsSessions;
DTLSSession gDtlsCurrent;

static void sessionFree(DTLSSession s)
{
	DTLSContext c = s->context;
	mbedtls_ssl_free(&s->ssl);
	dtlsQueueFree(&s->outbox);
	dtlsQueueFree(&s->inbox);
	mbedtls_free(s);   /* the charge is subtracted before the block goes */
	gDtlsSessions--;
	dtlsContextRelease(c);
}

void xs_dtls_session_destructor(void* data)
{
	if (data)
		sessionFree(data);
}

/* the session of this; throws when it was closed */
DTLSSession dtlsSessionFrom(xsMachine* the)
{
	DTLSSession s = fxGetHostDataValidate(the, &xsThis, (void*)xs_dtls_session_destructor);
	if (!s)
		xsUnknownError("closed");
	return s;
}

/* an argument that is there: not undefined or null */
static int given(xsMachine* the, int argument)
{
	return (xsmcArgc > argument) && xsmcTest(xsArg(argument));
}

void xs_dtls_session_constructor(xsMachine* the)
{
	DTLSContext c = dtlsContextFrom(the, &xsArg(0));
	unsigned char id[DTLS_TRANSPORT_ID_MAX];
	size_t idLength = c->client ? 0 : dtlsTransportId(the, &xsArg(1), id);
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
	gDtlsSessions++;
	mbedtls_ssl_init(&s->ssl);
	xsmcSetHostData(xsThis, s);
	error = mbedtls_ssl_setup(&s->ssl, &c->conf);
	if (!error && !c->client)
		error = mbedtls_ssl_set_client_transport_id(&s->ssl, id, idLength);
	/* a random CID of ours for this session (RFC 9146 3): the peer puts it in every record it sends */
	if (!error && c->cidLength)
		error = dtlsSessionCid(s);
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
	dtlsSetCallbacks(s);
	s->state = kStateHandshaking;
}

static void fail(DTLSSession s, int error)
{
	s->state = kStateFailed;
	s->error = error;
	s->reason = dtlsDescribe(s, error);
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
			s->reason = dtlsDescribe(s, ret);
			return;
		}
		if (ret == 0)
			return;   /* an empty record, or nothing left */
		total = (size_t)ret + mbedtls_ssl_get_bytes_avail(&s->ssl);
		q = dtlsQueueAdd(&s->inbox, total);
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

/*
 * A resumed handshake runs no credential callback: the credential is the one the
 * first handshake proved. A PSK suite: the context's identity (when it has only one,
 * as resumption is on only then; the ticket
 * or cached session came from a handshake with it, under a key made since the last
 * start). A certificate suite: the peer's certificate, which the session keeps.
 */
static void resumedCredential(DTLSSession s)
{
	const char* suite = mbedtls_ssl_get_ciphersuite(&s->ssl);
	if (suite && strstr(suite, "PSK") && s->context->hasPsk) {
		/* the identity whose ticket keys opened the ticket, or that the cache noted beside the session (versions.c);
		   with one identity, that one */
		int number = s->pskNumber ? s->pskNumber : (s->context->moreCount ? 0 : 1);
		if (number == 1) {
			s->credential = kCredentialIdentity;
			s->identityLength = s->context->identityLength;
			memcpy(s->identity, s->context->identity, s->identityLength);
		}
		else if (number > 1) {
			s->credential = kCredentialIdentity;
			s->identityLength = s->context->more[number - 2].identityLength;
			memcpy(s->identity, s->context->more[number - 2].identity, s->identityLength);
		}
	}
#if DTLS_CERTIFICATES && defined(MBEDTLS_SSL_KEEP_PEER_CERTIFICATE)
	else {
		const mbedtls_x509_crt* peer = mbedtls_ssl_get_peer_cert(&s->ssl);
		if (peer) {
			s->credential = kCredentialCertificate;
			if (mbedtls_x509_dn_gets(s->peerName, sizeof(s->peerName), &peer->subject) < 0)
				strcpy(s->peerName, "?");
		}
	}
#endif
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
			if (s->resumed && (s->credential == kCredentialUnseen))
				resumedCredential(s);
			if (s->credential == kCredentialUnseen)
				s->credential = kCredentialNone;   /* the handshake asked for nothing and got it */
			if (s->context->cidLength)
				s->cidInUse = dtlsCidInUse(s);
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
	gDtlsCurrent = s;
}

static void leave(xsMachine* the, DTLSSession s)
{
	s->input = NULL;
	s->inputLength = 0;
	s->datagram = NULL;
	s->datagramLength = 0;
	gDtlsCurrent = NULL;
	xsmcSetInteger(xsResult, s->state);
}

/*
 * Whether every record of the datagram is of epoch 1 or later and the record headers
 * (RECORD_HEADER bytes: type, version, epoch, sequence, length) tile it exactly. An
 * established server session hands Mbed TLS nothing else: an epoch-0 record is plaintext
 * that anyone can send from the peer's address, and Mbed TLS's client-reconnect check
 * answers a malformed one with an error after which the context must not be used
 * (readRecords() treats it as fatal). The session table filters first and counts
 * (dtls-psk/records.ts); this keeps the rule for every caller of the binding.
 */
static int onlyLaterEpochs(const unsigned char* d, size_t n, size_t cidLength)
{
	size_t p = 0;
	while (p < n) {
		size_t length;
		size_t header = (d[p] == RECORD_TYPE_TLS12_CID) ? RECORD_HEADER + cidLength : RECORD_HEADER;   /* RFC 9146 4 */
		if ((n - p < header) || (!d[p + RECORD_EPOCH] && !d[p + RECORD_EPOCH + 1]))
			return 0;
		length = ((size_t)d[p + header - 2] << 8) | d[p + header - 1];
		if (length > n - p - header)
			return 0;
		p += header + length;
	}
	return n > 0;
}

/* receive(datagram, now) -> state */
void xs_dtls_session_receive(xsMachine* the)
{
	DTLSSession s = dtlsSessionFrom(the);
	void* data;
	xsUnsignedValue length;
	xsmcGetBufferReadable(xsArg(0), &data, &length);
	enter(the, s, 1);   /* no JS allocation until leave(): data stays where it is */
	if ((length > 0) && ((s->state == kStateHandshaking) || (s->state == kStateEstablished))) {
		if ((s->state == kStateEstablished) && !s->context->client && !onlyLaterEpochs(data, length, (size_t)s->context->cidLength)) {
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
	DTLSSession s = dtlsSessionFrom(the);
	enter(the, s, 0);
	if (s->state == kStateHandshaking)
		run(s);
	leave(the, s);
}

/* tick(now) -> state: retransmits the last flight or gives up when the deadline passed */
void xs_dtls_session_tick(xsMachine* the)
{
	DTLSSession s = dtlsSessionFrom(the);
	enter(the, s, 0);
	if ((s->state == kStateHandshaking) && s->timerArmed && (s->now >= s->finalAt))
		run(s);
	leave(the, s);
}

/* write(data, now) -> bytes written, or -1 when the session cannot carry application data */
void xs_dtls_session_write(xsMachine* the)
{
	DTLSSession s = dtlsSessionFrom(the);
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
	DTLSSession s = dtlsSessionFrom(the);
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
