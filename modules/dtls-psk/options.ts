/*
 * What a DtlsServer is made from: its options and their defaults, the figures
 * stats() reports, and the binding context built from the credentials (the policy
 * checks live here so server.ts holds only the session table).
 */
import { DTLSContext, PREFER_ECDHE, type CredentialBytes } from "./binding";
import type { DtlsEnd } from "./pump";

export interface Peer {
  address: string;
  port: number;
}

/** A peer with its session id: one frozen object per session, what onData, onClose and keep get (and write() takes back). */
export interface SessionPeer extends Peer {
  readonly session: string;
}

/** Certificate mode (ECDHE-ECDSA, P-256). */
export interface ServerCertificateOptions {
  /** the node's certificate chain: PEM (leaf first) or one DER certificate */
  cert: CredentialBytes;
  /** its private key, PEM or DER (SEC1 or PKCS#8); parsed once, never logged */
  key: CredentialBytes;
  /** the CA(s) whose client certificates are accepted: PEM bundle or one DER certificate */
  ca?: CredentialBytes;
  /**
   * require and verify a client certificate signed by `ca` (default true). A client
   * with another CA's certificate, an expired one or none gets a fatal alert.
   */
  mutualAuth?: boolean;
}

export interface DtlsServerOptions {
  /** PSK identity (with `key`); leave both out for certificates only */
  identity?: string;
  /** raw PSK bytes ("esp32c3_key" as ASCII by default, as libcoap's -k sends it) */
  key?: Uint8Array;
  /**
   * further PSK identities, each with its own key (at most 3): roles, e.g. an identity
   * that may also update the firmware. identityOf(peer) says which one a session
   * proved. Resumption keeps it: each identity's tickets have their own keys, and the
   * session-ID cache notes beside each session which identity proved it.
   */
  morePsks?: readonly { identity: string; key: Uint8Array }[];
  /** certificate mode; with identity/key as well, one context offers both kinds of suite */
  certificate?: ServerCertificateOptions;
  /** called synchronously whenever a datagram must go out: a buffer of its own, which an ECMA-419 socket's write() takes as it is */
  send(record: ArrayBuffer, peer: Peer): void;
  /** a decrypted application datagram (one CoAP message), during the call at `now` that decrypted it */
  onData(data: Uint8Array, peer: SessionPeer, session: string, now: number): void;
  /** the session ended at `now`: closed, evicted or failed (drop its observers); end.delivered: its application records, 0 when it carried none */
  onClose?(peer: SessionPeer, session: string, end: DtlsEnd, now: number): void;
  /** true: never evicted for a newcomer, e.g. it has observers (asked only when the table is full) */
  keep?(peer: SessionPeer, session: string): boolean;
  log?(message: string): void;
  /** sessions kept at once, handshaking ones included (default 8) */
  maxSessions?: number;
  /** a session with no authenticated traffic for this long is closed (default 120 000 ms) */
  idleTimeoutMs?: number;
  /** when full, an established session quiet for at least this long may yield to a new peer (default 10 000 ms) */
  evictQuietMs?: number;
  /** a handshake not established this long after its ClientHello is freed (default 15 000 ms, see DEFAULT_HANDSHAKE_TIMEOUT_MS) */
  handshakeTimeoutMs?: number;
  /** fragmented ClientHellos joined at once, from different peers (default 4; 0: refuse fragmented ClientHellos, as Mbed TLS alone does) */
  maxPendingHellos?: number;
  /** the longest fragmented ClientHello joined (default 1 536 bytes) */
  maxHelloBytes?: number;
  /** a fragmented ClientHello not whole this long after its first fragment is dropped (default 5 000 ms) */
  helloTimeoutMs?: number;
  /**
   * session tickets (RFC 5077): a client that comes back within this many seconds
   * resumes with an abbreviated handshake; nothing is kept per client. Also how often
   * the ticket key is replaced (Mbed TLS keeps the current and the previous one); a
   * restart makes a new one. 0: no tickets. Default 43 200 (12 h), at most 604 800.
   */
  ticketLifetimeS?: number;
  /** sessions kept for session-ID resumption (clients without tickets, e.g. Californium); 0: none. Default 4 */
  sessionCache?: number;
  /**
   * connection IDs (RFC 9146): the length of ours, in bytes (1..16); a client that
   * agrees keeps its session when its address changes (NAT rebinding). 0: none.
   * Default 4 where the library has the RFC form (features() & FEATURE_CID: Mbed TLS
   * 3.x/4.x built with it), else 0; asking for one where it has none throws.
   */
  connectionIdLength?: number;
  /** offer ECDHE-PSK suites before plain PSK ones (forward secrecy, one ECDH per handshake) */
  preferEcdhe?: boolean;
  /** IANA cipher suite numbers in preference order (default: binding's SUITES, see preferEcdhe) */
  suites?: readonly number[];
}

export interface DtlsServerStats {
  /** sessions in the table, handshaking ones included */
  sessions: number;
  handshaking: number;
  established: number;
  helloVerifyRequests: number;
  handshakesCompleted: number;
  /** handshakes that ended with an alert (wrong key, unknown identity, certificate, no shared suite, Mbed TLS's timeout) */
  handshakesFailed: number;
  /** of handshakesCompleted, those that resumed a session (a ticket or the session-ID cache) */
  handshakesResumed: number;
  /** handshakes freed at handshakeTimeoutMs */
  handshakesExpired: number;
  /** cookie-verified new peers turned away because no session could give way */
  refused: number;
  /** sessions pushed out for a new peer, or closed as idle */
  evicted: number;
  /** datagrams dropped without a session (not a ClientHello, malformed) */
  dropped: number;
  /** datagrams for an established session dropped before Mbed TLS: epoch-0 records that are no cookie-verified ClientHello, or malformed record headers */
  forged: number;
  /** sessions that moved to a new address: an authenticated, newer record with their connection ID came from there */
  moved: number;
  /** exceptions from the binding or a callback, caught */
  errors: number;
  /** ClientHello fragments taken after a first fragment with a valid cookie (reassembly.ts) */
  helloFragments: number;
  /** fragmented ClientHellos joined and handed on */
  hellosJoined: number;
  /** reassemblies given up: a contradicting fragment, too many pieces, pushed out by a newer one, past helloTimeoutMs */
  reassembliesDropped: number;
  /** first fragments refused: a claimed length over maxHelloBytes, or maxPendingHellos 0 */
  reassembliesRefused: number;
  /** reassemblies pending now, and the bytes their buffers hold */
  pendingHellos: number;
  pendingHelloBytes: number;
}

export const DEFAULT_MAX_SESSIONS = 8;
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
export const DEFAULT_EVICT_QUIET_MS = 10_000;
export const DEFAULT_TICKET_LIFETIME_S = 43_200;
export const DEFAULT_SESSION_CACHE = 4;
export const DEFAULT_CONNECTION_ID_LENGTH = 4;
/**
 * Mbed TLS alone gives a silent peer 1+2+4+...+60 s (RFC 6347's doubling timer), two
 * minutes of a session slot and its buffers. A PSK handshake is two round trips after
 * the cookie; 15 s still covers our flight lost three times (resent at 1, 3 and 7 s)
 * and the seconds of ECC a certificate handshake costs on the C3. A client slower than
 * that starts again with a new ClientHello.
 */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 15_000;

/** Builds the binding's context from PSK and certificate options, enforcing the policy. */
export function serverContext(options: Pick<DtlsServerOptions, "identity" | "key" | "certificate" | "preferEcdhe" | "suites" | "ticketLifetimeS" | "sessionCache" | "connectionIdLength" | "morePsks">): DTLSContext {
  const psk = options.identity !== undefined || options.key !== undefined;
  if (psk && (options.identity === undefined || options.key === undefined)) throw new TypeError("dtls: a PSK needs both identity and key");
  const certificate = options.certificate;
  if (!psk && !certificate) throw new TypeError("dtls: no credentials (a PSK, a certificate, or both)");
  const mutual = certificate !== undefined && certificate.mutualAuth !== false;
  if (mutual && certificate.ca === undefined) throw new TypeError("dtls: mutual authentication needs certificate.ca (or mutualAuth: false)");
  return new DTLSContext({
    identity: psk ? ArrayBuffer.fromString(options.identity!) : undefined,
    key: psk ? options.key : undefined,
    flags: options.preferEcdhe ? PREFER_ECDHE : 0,
    suites: options.suites,
    certificate: certificate?.cert,
    privateKey: certificate?.key,
    ca: mutual ? certificate.ca : undefined,
    tickets: options.ticketLifetimeS ?? DEFAULT_TICKET_LIFETIME_S,
    cache: options.sessionCache ?? DEFAULT_SESSION_CACHE,
    cid: options.connectionIdLength ?? 0,
    psks: options.morePsks && options.morePsks.length > 0 ? options.morePsks.flatMap((psk) => [ArrayBuffer.fromString(psk.identity), psk.key]) : undefined,
  });
}
