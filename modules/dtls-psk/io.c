/*
 * dtls-psk binding: a session's I/O as Mbed TLS sees it, with no I/O at all: only the
 * session's buffers and its notion of now. The BIO sends into the outbox (datagrams for
 * output()) and receives the one datagram handed in; the timer callbacks turn Mbed TLS's
 * retransmission timer (RFC 6347 4.2.4) into the deadline JS reads; the PSK callback
 * looks the client's identity up (RFC 4279 2: an unknown one ends in unknown_psk_identity).
 * The inbox holds decrypted application records for read() (session.c fills it).
 */
#include "dtls.h"

/* ---- Queues: datagrams out, records in ---- */

void dtlsQueueFree(DTLSQueue* queue)
{
	while (queue->first) {
		DTLSQueued* q = queue->first;
		queue->first = q->next;
		mbedtls_free(q);
	}
	queue->last = NULL;
	queue->count = 0;
}

/* a new entry of length bytes at the end, or NULL when the queue is full or memory is out */
DTLSQueued* dtlsQueueAdd(DTLSQueue* queue, size_t length)
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
	DTLSQueued* q = dtlsQueueAdd(&s->outbox, length);
	if (!q)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	memcpy(q->data, buffer, length);
	if ((length > 0) && (buffer[RECORD_TYPE] == MBEDTLS_SSL_MSG_ALERT))
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

/* the session's BIO and timer, and the largest datagram it sends */
void dtlsSetCallbacks(DTLSSession s)
{
	mbedtls_ssl_set_bio(&s->ssl, s, bioSend, bioRecv, NULL);
	mbedtls_ssl_set_timer_cb(&s->ssl, s, timerSet, timerGet);
	mbedtls_ssl_set_mtu(&s->ssl, DTLS_MTU);
}

static int equalInConstantTime(const unsigned char* a, const unsigned char* b, size_t length)
{
	unsigned char difference = 0;
	size_t i;
	for (i = 0; i < length; i++)
		difference |= a[i] ^ b[i];
	return difference == 0;
}

/* a server's PSK callback (context.c sets it): the context's identities, each compared in constant time */
int dtlsPskLookup(void* data, mbedtls_ssl_context* ssl, const unsigned char* identity, size_t length)
{
	DTLSContext c = data;
	DTLSSession s = gDtlsCurrent;
	int i;
	if (s) {
		s->resumed = 0;   /* a full handshake after all (3.x+: a cached session of another suite) */
		s->credential = kCredentialIdentity;
		s->identityLength = (length < sizeof(s->identity)) ? length : sizeof(s->identity);
		memcpy(s->identity, identity, s->identityLength);
	}
	if ((length == c->identityLength) && equalInConstantTime(identity, c->identity, length)) {
		if (s)
			s->pskNumber = 1;
		return mbedtls_ssl_set_hs_psk(ssl, c->key, c->keyLength);
	}
	for (i = 0; i < c->moreCount; i++) {
		if ((length == c->more[i].identityLength) && equalInConstantTime(identity, c->more[i].identity, length)) {
			if (s)
				s->pskNumber = 2 + i;
			return mbedtls_ssl_set_hs_psk(ssl, c->more[i].key, c->more[i].keyLength);
		}
	}
	if (s)
		s->identityRejected = 1;
	return -1;   /* mbedTLS sends the fatal unknown_psk_identity alert */
}

/* ---- What JS takes ---- */

/* output() -> the next datagram to send, or undefined */
void xs_dtls_session_output(xsMachine* the)
{
	DTLSSession s = dtlsSessionFrom(the);
	queueTake(the, &s->outbox);
}

/* read() -> the next decrypted application record, or undefined */
void xs_dtls_session_read(xsMachine* the)
{
	DTLSSession s = dtlsSessionFrom(the);
	queueTake(the, &s->inbox);
}
