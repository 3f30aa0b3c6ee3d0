/*
 * JS shim of the dtls-psk binding (its C files; dtls.h lists them): host functions cannot be written in
 * TypeScript. Types: binding.d.ts.
 */
export const HANDSHAKING = 0;
export const ESTABLISHED = 1;
export const CLOSED = 2;
export const FAILED = 3;

export const CREDENTIAL_UNSEEN = 0;
export const CREDENTIAL_NONE = 1;
export const CREDENTIAL_IDENTITY = 2;
export const CREDENTIAL_CERTIFICATE = 3;

export const PREFER_ECDHE = 1;
export const CLIENT = 2;

export const SUITES = Object.freeze({
	PSK_WITH_AES_128_CCM_8: 0xc0a8,
	PSK_WITH_AES_128_CCM: 0xc0a4,
	PSK_WITH_AES_128_GCM_SHA256: 0x00a8,
	PSK_WITH_AES_128_CBC_SHA256: 0x00ae,
	ECDHE_PSK_WITH_AES_128_CBC_SHA256: 0xc037,
});

export const CERTIFICATE_SUITES = Object.freeze({
	ECDHE_ECDSA_WITH_AES_128_CCM_8: 0xc0ae,
	ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 0xc02b,
	ECDHE_ECDSA_WITH_AES_128_CCM: 0xc0ac,
	ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 0xc023,
});

export class DTLSContext @ "xs_dtls_context_destructor" {
	constructor(options) @ "xs_dtls_context_constructor";
	hello(datagram, transportId) @ "xs_dtls_context_hello";
	close() @ "xs_dtls_context_close";
}
Object.freeze(DTLSContext.prototype);

export class DTLSSession @ "xs_dtls_session_destructor" {
	constructor(context, transportId) @ "xs_dtls_session_constructor";
	start(now) @ "xs_dtls_session_start";
	receive(datagram, now) @ "xs_dtls_session_receive";
	tick(now) @ "xs_dtls_session_tick";
	write(data, now) @ "xs_dtls_session_write";
	closeNotify(now) @ "xs_dtls_session_close_notify";
	close() @ "xs_dtls_session_close";
	output() @ "xs_dtls_session_output";
	read() @ "xs_dtls_session_read";
	get deadline() @ "xs_dtls_session_get_deadline";
	get state() @ "xs_dtls_session_get_state";
	get reason() @ "xs_dtls_session_get_reason";
	get error() @ "xs_dtls_session_get_error";
	get suite() @ "xs_dtls_session_get_suite";
	get identity() @ "xs_dtls_session_get_identity";
	get peerCertificate() @ "xs_dtls_session_get_peer_certificate";
	get credential() @ "xs_dtls_session_get_credential";
	get resumed() @ "xs_dtls_session_get_resumed";
	get cid() @ "xs_dtls_session_get_cid";
	get readable() @ "xs_dtls_session_get_readable";
	get queued() @ "xs_dtls_session_get_queued";
}
Object.freeze(DTLSSession.prototype);

export function stats() @ "xs_dtls_stats";
export function features() @ "xs_dtls_features";
export const FEATURE_TICKETS = 1;
export const FEATURE_CACHE = 2;
export const FEATURE_CID = 4;
