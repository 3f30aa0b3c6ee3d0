/*
 * dtls-psk binding: certificate mode (ECDHE-ECDSA with P-256, RFC 8422, as RFC 7252
 * 9.1.3.3 asks of CoAP over DTLS): the certificate, privateKey and ca options
 * parsed from PEM or DER into the context, the Certificate / CertificateRequest side
 * of RFC 5246 7.4.2, 7.4.4 and 7.4.6 that follows from them (own chain, a peer
 * certificate required when a CA is given), the verify callback that remembers what
 * the peer presented, and the words for a certificate that failed.
 * A build of Mbed TLS without X.509 (DTLS_CERTIFICATES 0) refuses these options.
 */
#include "dtls.h"

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
		error = dtlsParseKey(into, bytes, size);
	if (copy) {
		mbedtls_platform_zeroize(copy, size);
		mbedtls_free(copy);
	}
	return error;
}

/* Called for every certificate of the peer's chain, top first: remembers what was wrong and who it is. */
static int verifyPeer(void* data, mbedtls_x509_crt* crt, int depth, uint32_t* flags)
{
	DTLSSession s = gDtlsCurrent;
	(void)data;
	if (!s)
		return 0;
	s->resumed = 0;
	s->credential = kCredentialCertificate;
	s->verifyFlags |= *flags;
	if (depth == 0) {
		if (mbedtls_x509_dn_gets(s->peerName, sizeof(s->peerName), &crt->subject) < 0)
			strcpy(s->peerName, "?");   /* too long for the log: not worth more memory */
	}
	return 0;   /* mbedTLS decides from the flags, and sends the alert that matches them */
}

/* why the peer's chain failed verification, from every flag the verify callback saw (status.c asks) */
const char* dtlsDescribeCertificate(DTLSSession s)
{
	uint32_t flags = s->verifyFlags;
	if (flags & MBEDTLS_X509_BADCERT_MISSING)
		return DTLS_ROLE(s, "certificate missing");
	if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
		return DTLS_ROLE(s, "certificate not trusted (unknown CA)");
	if (flags & MBEDTLS_X509_BADCERT_EXPIRED)
		return DTLS_ROLE(s, "certificate expired");
	if (flags & MBEDTLS_X509_BADCERT_FUTURE)
		return DTLS_ROLE(s, "certificate not yet valid");
	if (flags & MBEDTLS_X509_BADCERT_REVOKED)
		return DTLS_ROLE(s, "certificate revoked");
	if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
		return DTLS_ROLE(s, "certificate does not name the server");
	if (flags & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE | MBEDTLS_X509_BADCERT_NS_CERT_TYPE))
		return DTLS_ROLE(s, "certificate not allowed for this use");
	if (flags & (MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK | MBEDTLS_X509_BADCERT_BAD_KEY))
		return DTLS_ROLE(s, "certificate algorithm or key not acceptable");
	return DTLS_ROLE(s, "certificate rejected");
}
#endif

/*
 * The certificate, privateKey and ca options (the constructor's variables, context.c):
 * parsed into the context; errors name the option, never its content.
 */
void dtlsConfigureCertificates(xsMachine* the, DTLSContext c)
{
#if DTLS_CERTIFICATES
	int error = 0;
	if (dtlsOption(the, kOptionCertificate) != dtlsOption(the, kOptionPrivateKey))
		xsRangeError("certificate and private key go together");
	if (c->hasCertificate) {
		error = parseCredential(the, kOptionCertificate, kParseChain, &c->ownChain);
		if (error)
			xsRangeError((error == -2) ? "no memory" : "invalid certificate");
		error = parseCredential(the, kOptionPrivateKey, kParseKey, &c->ownKey);
		if (!error)
			error = dtlsCheckPair(&c->ownChain.pk, &c->ownKey) ? -3 : 0;
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
