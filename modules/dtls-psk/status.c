/*
 * dtls-psk binding: what a session reports to JS (deadline, state, reason, error, suite,
 * identity, credential, peerCertificate) and the words for a failure: Mbed TLS's errors
 * by class, among them the alerts of RFC 5246 7.2 (close_notify 7.2.1; handshake_failure,
 * bad_record_mac and the certificate alerts 7.2.2) and RFC 4279 2's unknown_psk_identity.
 * Plus stats(), the live sessions and contexts a leak check counts.
 */
#include "dtls.h"

/* ---- Errors, by class: 4.x reports some of them as PSA codes ---- */

const char* dtlsDescribe(DTLSSession s, int error)
{
	/* an if chain, not a switch: in 4.x some of these codes are the same PSA value */
	if (s->identityRejected)
		return "unknown psk identity";
#ifdef MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN
	if (error == MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN)      /* 2.28 */
		return "no shared cipher suite";
#endif
	if (dtlsOffersNoSuiteOfOurs(s))                     /* 3.x and 4.x say only MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE */
		return "no shared cipher suite";
#if DTLS_CERTIFICATES
	if (error == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE)
		return "no client certificate";
	if (error == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED)
		return dtlsDescribeCertificate(s);
#if defined(MBEDTLS_ERR_SSL_BAD_CERTIFICATE)
	if (error == MBEDTLS_ERR_SSL_BAD_CERTIFICATE)       /* 3.x and 4.x name */
#else
	if (error == MBEDTLS_ERR_SSL_BAD_HS_CERTIFICATE)    /* 2.28 name, same value */
#endif
		return DTLS_ROLE(s, "certificate malformed");
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

/* ---- The session's getters ---- */

void xs_dtls_session_get_deadline(xsMachine* the)
{
	DTLSSession s = dtlsSessionFrom(the);
	if ((s->state == kStateHandshaking) && s->timerArmed)
		xsmcSetNumber(xsResult, s->finalAt);
	else
		xsmcSetInteger(xsResult, -1);
}

void xs_dtls_session_get_state(xsMachine* the)
{
	xsmcSetInteger(xsResult, dtlsSessionFrom(the)->state);
}

void xs_dtls_session_get_reason(xsMachine* the)
{
	DTLSSession s = dtlsSessionFrom(the);
	if (s->reason)
		xsmcSetString(xsResult, (char*)s->reason);
}

void xs_dtls_session_get_error(xsMachine* the)
{
	xsmcSetInteger(xsResult, dtlsSessionFrom(the)->error);
}

void xs_dtls_session_get_suite(xsMachine* the)
{
	DTLSSession s = dtlsSessionFrom(the);
	if (s->state == kStateEstablished)
		xsmcSetString(xsResult, (char*)mbedtls_ssl_get_ciphersuite(&s->ssl));
}

/* the PSK identity the client presented, as bytes (never the key); an empty one is an empty buffer */
void xs_dtls_session_get_identity(xsMachine* the)
{
	DTLSSession s = dtlsSessionFrom(the);
	unsigned char identity[DTLS_IDENTITY_MAX];
	size_t length = s->identityLength;
	if (s->credential != kCredentialIdentity)
		return;
	memcpy(identity, s->identity, length);
	xsmcSetArrayBuffer(xsResult, identity, length);
}

/* whether the handshake resumed a session (a ticket or the session-ID cache) */
void xs_dtls_session_get_resumed(xsMachine* the)
{
	xsmcSetBoolean(xsResult, dtlsSessionFrom(the)->resumed);
}

/* the connection ID the peer's records carry (RFC 9146), once it agreed to one; undefined otherwise */
void xs_dtls_session_get_cid(xsMachine* the)
{
	DTLSSession s = dtlsSessionFrom(the);
	unsigned char cid[DTLS_CID_MAX];
	if (!s->cidInUse)
		return;
	memcpy(cid, s->cid, (size_t)s->context->cidLength);
	xsmcSetArrayBuffer(xsResult, cid, (xsUnsignedValue)s->context->cidLength);
}

/* how many decrypted application records wait for read(): what the last receive() authenticated */
void xs_dtls_session_get_readable(xsMachine* the)
{
	xsmcSetInteger(xsResult, dtlsSessionFrom(the)->inbox.count);
}

/* how many datagrams wait for output(): what the last call queued */
void xs_dtls_session_get_queued(xsMachine* the)
{
	xsmcSetInteger(xsResult, dtlsSessionFrom(the)->outbox.count);
}

/* features() -> kFeature* bits: what this build of the binding and Mbed TLS can do */
void xs_dtls_features(xsMachine* the)
{
	xsmcSetInteger(xsResult, (DTLS_TICKETS ? kFeatureTickets : 0) | (DTLS_CACHE ? kFeatureCache : 0) | (dtlsCidSupported() ? kFeatureCid : 0));
}

/* what the peer presented: kCredential... */
void xs_dtls_session_get_credential(xsMachine* the)
{
	xsmcSetInteger(xsResult, dtlsSessionFrom(the)->credential);
}

/* the subject of the certificate the peer presented ("CN=coap-client"), once it has */
void xs_dtls_session_get_peer_certificate(xsMachine* the)
{
	DTLSSession s = dtlsSessionFrom(the);
	if (s->peerName[0])
		xsmcSetString(xsResult, s->peerName);
}

/* stats() -> [live sessions, live contexts]: what a leak check needs; heap figures are the host's (host/meter) */
void xs_dtls_stats(xsMachine* the)
{
	xsmcVars(1);
	xsmcSetNewArray(xsResult, 2);
	xsmcSetInteger(xsVar(0), gDtlsSessions);
	xsmcSetIndex(xsResult, 0, xsVar(0));
	xsmcSetInteger(xsVar(0), gDtlsContexts);
	xsmcSetIndex(xsResult, 1, xsVar(0));
}
