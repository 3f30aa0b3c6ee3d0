/*
 * Types of the dtls-psk native binding (binding.js over the C files listed in dtls.h): DTLS 1.2 server
 * and client sessions over the platform mbedTLS, sans-IO, with a PSK, certificates
 * (ECDHE-ECDSA, P-256) or both. Bytes go in and out as ArrayBuffers; times are the
 * caller's monotonic milliseconds.
 */

/** Session states returned by receive(), tick(), closeNotify() and `state`. */
export const HANDSHAKING: 0;
export const ESTABLISHED: 1;
export const CLOSED: 2;
export const FAILED: 3;
export type SessionState = 0 | 1 | 2 | 3;

// What a peer presented to authenticate itself (DTLSSession `credential`):
/** the handshake ended before the peer had to present anything */
export const CREDENTIAL_UNSEEN: 0;
/** nothing: an empty Certificate answered our CertificateRequest, or the handshake asked for nothing */
export const CREDENTIAL_NONE: 1;
/** a PSK identity (`identity`, perhaps empty) */
export const CREDENTIAL_IDENTITY: 2;
/** a certificate (`peerCertificate`, undefined when it could not be parsed) */
export const CREDENTIAL_CERTIFICATE: 3;
export type CredentialKind = 0 | 1 | 2 | 3;

/** DTLSContext flag: offer ECDHE-PSK suites before plain PSK ones. */
export const PREFER_ECDHE: 1;
/** DTLSContext flag: a client (static PSK and/or certificates; answers HelloVerifyRequests). */
export const CLIENT: 2;

type Bytes = ArrayBuffer | Uint8Array;
/** certificates and keys: also a Moddable Resource (a HostBuffer in flash) on the device */
export type CredentialBytes = ArrayBuffer | Uint8Array | HostBuffer;

/** IANA numbers of the suites the binding offers by default (RFC 7252's CCM_8 first). */
export const SUITES: {
  readonly PSK_WITH_AES_128_CCM_8: 0xc0a8;
  readonly PSK_WITH_AES_128_CCM: 0xc0a4;
  readonly PSK_WITH_AES_128_GCM_SHA256: 0x00a8;
  readonly PSK_WITH_AES_128_CBC_SHA256: 0x00ae;
  readonly ECDHE_PSK_WITH_AES_128_CBC_SHA256: 0xc037;
};

/** IANA numbers of the certificate suites (ECDHE-ECDSA), RFC 7252's CCM_8 first. */
export const CERTIFICATE_SUITES: {
  readonly ECDHE_ECDSA_WITH_AES_128_CCM_8: 0xc0ae;
  readonly ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 0xc02b;
  readonly ECDHE_ECDSA_WITH_AES_128_CCM: 0xc0ac;
  readonly ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 0xc023;
};

/** What a DTLSContext is made of (one options object, as Moddable's own constructors take). */
export interface DTLSContextOptions {
  identity?: Bytes;
  key?: Bytes;
  /** CLIENT, PREFER_ECDHE */
  flags?: number;
  suites?: readonly number[];
  certificate?: CredentialBytes;
  privateKey?: CredentialBytes;
  ca?: CredentialBytes;
  /** a server's session tickets (RFC 5077): their lifetime in seconds, also how often the ticket key is replaced; 0 or missing: none */
  tickets?: number;
  /** a server's session-ID cache: how many sessions it keeps; 0 or missing: none */
  cache?: number;
  /** connection IDs (RFC 9146): our CID's length in bytes (1..16); 0 or missing: none. Throws where the library has none (features()) */
  cid?: number;
  /** a server's further PSK identities, [identity, key, identity, key, ...], at most 3 pairs; each identity's session tickets are sealed with its own keys (a resumed session reports the identity whose keys opened its ticket); the session-ID cache notes beside each session which identity proved it */
  psks?: Bytes[];
}

/** The part shared by every session: ssl configuration, PSK, certificates, cookie secret. */
export class DTLSContext {
  /**
   * identity: 1..64 bytes; key: 1..32 bytes (MBEDTLS_PSK_MAX_LEN), copied, never reported
   * back; both undefined for certificates only.
   * certificate: own certificate chain (PEM, leaf first, or one DER certificate) and
   * privateKey (PEM or DER, SEC1 or PKCS#8, P-256), parsed and kept; a server needs them
   * for the ECDHE-ECDSA suites, a client to answer a server's CertificateRequest.
   * ca: trusted CA certificates (PEM bundle or one DER): the peer must present a
   * certificate they signed (a server: mutual authentication; a client: the server's).
   * Without a CA no peer certificate is asked for (server) or checked (client).
   * suites: IANA cipher suite numbers in preference order (default: the PSK suites of
   * SUITES when there is a PSK, ECDHE-PSK last unless PREFER_ECDHE, then
   * CERTIFICATE_SUITES when there are certificates); numbers the library lacks are ignored.
   * Throws RangeError for bad credentials, naming the argument, never its content.
   */
  constructor(options: DTLSContextOptions);
  /**
   * The stateless cookie exchange (RFC 6347 4.2.1) for a datagram from a peer without
   * a session: `true` when it is a ClientHello carrying a valid cookie for
   * `transportId`, an ArrayBuffer holding the HelloVerifyRequest to send when it is a
   * ClientHello without one (never larger than the ClientHello), `false` otherwise.
   */
  hello(datagram: Bytes, transportId: string): boolean | ArrayBuffer;
  close(): void;
}

/** One peer's mbedTLS ssl context. Drain output() (and read()) after every call. */
export class DTLSSession {
  /**
   * transportId: the peer's address and port (server sessions); for a client session
   * the server name its certificate must carry (CN or subjectAltName), or undefined to
   * accept any certificate the CA signed.
   */
  constructor(context: DTLSContext, transportId: string | undefined);
  /** a client session sends its first flight (ClientHello) */
  start(now: number): SessionState;
  /**
   * hands one received datagram in. An established server session drops, unread, a
   * datagram holding an epoch-0 record or record headers that do not tile it: only
   * records that can authenticate reach its Mbed TLS context.
   */
  receive(datagram: Bytes, now: number): SessionState;
  /** retransmits the last flight, or fails with "handshake timed out", once `deadline` passed */
  tick(now: number): SessionState;
  /** encrypts one application record; bytes written, or -1 (not established, too large, queue full) */
  write(data: Bytes, now: number): number;
  /** sends close_notify when established; the session is CLOSED afterwards */
  closeNotify(now: number): SessionState;
  /** frees the mbedTLS state now (the object is unusable afterwards) */
  close(): void;
  /** the next datagram to send, or undefined */
  output(): ArrayBuffer | undefined;
  /** the next decrypted application record, or undefined */
  read(): ArrayBuffer | undefined;
  /** when tick() must run next (ms, the caller's clock), -1 when nothing is pending */
  readonly deadline: number;
  readonly state: SessionState;
  /**
   * why the session closed or failed ("unknown psk identity", "bad record mac (wrong key?)",
   * "client certificate not trusted (unknown CA)", "client certificate expired",
   * "no client certificate", "server certificate does not name the server", ...)
   */
  readonly reason: string | undefined;
  /** the mbedTLS error that ended the session, 0 when none */
  readonly error: number;
  /** the negotiated cipher suite, once established */
  readonly suite: string | undefined;
  /** the PSK identity the client presented (empty if it presented an empty one), once it has */
  readonly identity: ArrayBuffer | undefined;
  /** the subject of the peer's certificate ("CN=coap-client"), once it presented one */
  readonly peerCertificate: string | undefined;
  /** what the peer presented to authenticate itself, so far */
  readonly credential: CredentialKind;
  /** the handshake resumed a session (a ticket or the session-ID cache): no credential was presented again */
  readonly resumed: boolean;
  /** the connection ID the peer's records carry (RFC 9146), once it agreed to one */
  readonly cid: ArrayBuffer | undefined;
  /** decrypted application records waiting for read(): what the last receive() authenticated */
  readonly readable: number;
  /** datagrams waiting for output(): what the last call queued (0: nothing to flush) */
  readonly queued: number;
}

/** [live sessions, live contexts] of the whole process (heap figures: the simulator host's host/meter) */
export function stats(): [number, number];
/** FEATURE_* bits: what this build has (the library decides: 2.28 has no RFC 9146 connection IDs) */
export function features(): number;
export const FEATURE_TICKETS: 1;
export const FEATURE_CACHE: 2;
export const FEATURE_CID: 4;
