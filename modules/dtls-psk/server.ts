/*
 * DTLS 1.2 server (PSK, certificates, or both on one port): a session table over the
 * native binding, sans-IO. Datagrams
 * come in through receive(), go out through the injected send(), time comes from the
 * injected now(); nothing here owns a socket or a timer (the caller runs tick() at
 * nextDeadline()).
 *
 * - Cookies first (RFC 6347 4.2.1): a peer without a session gets a HelloVerifyRequest
 *   built statelessly by the binding; only a ClientHello whose cookie proves the
 *   peer's address creates a session. Nothing is kept for the others.
 * - An established session is touched only by records that can authenticate for it
 *   (epoch 1 and later): a plaintext epoch-0 record from its address and port is either
 *   a cookie-verified ClientHello, which replaces the session (RFC 6347 4.2.8), or the
 *   datagram is dropped before Mbed TLS and counted as `forged` (records.ts says why).
 * - One session per peer address+port; at most `maxSessions` (handshaking ones
 *   included). When the table is full, a new peer takes the place of the least
 *   recently active session that has been quiet for at least `evictQuietMs`;
 *   if every session is busier than that, the new peer is refused (its ClientHello
 *   is dropped, it retries). Active sessions are never pushed out by newcomers.
 * - A session quiet for `idleTimeoutMs` (nothing received and nothing written) is
 *   closed with close_notify.
 * - A failed handshake (unknown identity, wrong key, a client certificate from another
 *   CA, expired or missing, timeout) is freed at once after its fatal alert went out;
 *   the reason is logged, never a key.
 * - What a peer can cause once per datagram (forged records, errors) is logged once
 *   per episode (episodes.ts) and counted.
 * - Datagrams from unknown peers that are not ClientHellos are dropped silently.
 */
import {
  CLOSED,
  DTLSContext,
  DTLSSession,
  ESTABLISHED,
  FAILED,
  HANDSHAKING,
  PREFER_ECDHE,
  type CredentialBytes,
} from "./binding";
import { credentialOf } from "./describe";
import { EpisodeLog } from "./episodes";
import { authenticatable, isClientHello, startsWithHandshake } from "./records";

export { isClientHello } from "./records";

export interface Peer {
  address: string;
  port: number;
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
  /** certificate mode; with identity/key as well, one context offers both kinds of suite */
  certificate?: ServerCertificateOptions;
  /** called whenever a datagram must go out */
  send(record: Uint8Array, peer: Peer): void;
  /** monotonic milliseconds */
  now(): number;
  /** a decrypted application datagram (one CoAP message) */
  onData(data: Uint8Array, peer: Peer, session: string): void;
  /** the session ended: closed, evicted or failed (drop its observers) */
  onClose?(peer: Peer, session: string, reason: string): void;
  log?(message: string): void;
  /** sessions kept at once, handshaking ones included (default 8) */
  maxSessions?: number;
  /** a session with no traffic for this long is closed (default 120 000 ms) */
  idleTimeoutMs?: number;
  /** when full, a session quiet for at least this long yields to a new peer (default 10 000 ms) */
  evictQuietMs?: number;
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
  handshakesFailed: number;
  /** new peers turned away because the table was full of busy sessions */
  refused: number;
  /** sessions pushed out for a new peer, or closed as idle */
  evicted: number;
  /** datagrams dropped without a session (not a ClientHello, malformed) */
  dropped: number;
  /** datagrams for an established session dropped before Mbed TLS: epoch-0 records that are no cookie-verified ClientHello, or malformed record headers */
  forged: number;
  /** exceptions from the binding or a callback, caught */
  errors: number;
}

export const DEFAULT_MAX_SESSIONS = 8;
export const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
export const DEFAULT_EVICT_QUIET_MS = 10_000;

/** what one call may emit, so a misbehaving binding can never spin the loop */
const MAX_RECORDS_PER_CALL = 32;

interface Entry {
  key: string;
  id: string;
  peer: Peer;
  native: DTLSSession;
  lastActive: number;
  established: boolean;
}

export function peerTransportId(peer: Peer): string {
  return `${peer.address}|${peer.port}`;
}

/** Builds the binding's context from PSK and certificate options, enforcing the policy. */
export function serverContext(options: Pick<DtlsServerOptions, "identity" | "key" | "certificate" | "preferEcdhe" | "suites">): DTLSContext {
  const psk = options.identity !== undefined || options.key !== undefined;
  if (psk && (options.identity === undefined || options.key === undefined)) throw new TypeError("dtls: a PSK needs both identity and key");
  const certificate = options.certificate;
  if (!psk && !certificate) throw new TypeError("dtls: no credentials (a PSK, a certificate, or both)");
  const mutual = certificate !== undefined && certificate.mutualAuth !== false;
  if (mutual && certificate.ca === undefined) throw new TypeError("dtls: mutual authentication needs certificate.ca (or mutualAuth: false)");
  return new DTLSContext(
    psk ? ArrayBuffer.fromString(options.identity!) : undefined,
    psk ? options.key : undefined,
    options.preferEcdhe ? PREFER_ECDHE : 0,
    options.suites,
    certificate?.cert,
    certificate?.key,
    mutual ? certificate.ca : undefined,
  );
}

export class DtlsServer {
  readonly #options: DtlsServerOptions;
  readonly #context: DTLSContext;
  readonly #sessions = new Map<string, Entry>();
  readonly #maxSessions: number;
  readonly #idleTimeoutMs: number;
  readonly #evictQuietMs: number;
  readonly #episodes: EpisodeLog;
  #serial = 0;
  #closed = false;
  readonly #counters = {
    helloVerifyRequests: 0,
    handshakesCompleted: 0,
    handshakesFailed: 0,
    refused: 0,
    evicted: 0,
    dropped: 0,
    forged: 0,
    errors: 0,
  };

  constructor(options: DtlsServerOptions) {
    this.#options = options;
    this.#maxSessions = Math.max(1, Math.floor(options.maxSessions ?? DEFAULT_MAX_SESSIONS));
    this.#idleTimeoutMs = Math.max(1, options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    this.#evictQuietMs = Math.max(0, options.evictQuietMs ?? DEFAULT_EVICT_QUIET_MS);
    this.#episodes = new EpisodeLog((message) => this.#log(message));
    this.#context = serverContext(options);
  }

  /** Hands in one datagram received from `peer`. Never throws. */
  receive(datagram: Uint8Array, peer: Peer): void {
    if (this.#closed) return;
    const key = peerTransportId(peer);
    try {
      const entry = this.#sessions.get(key);
      if (entry && !isClientHello(datagram)) {
        if (entry.established) this.#feedEstablished(entry, datagram);
        else this.#feed(entry, datagram);
        return;
      }
      if (!entry && !startsWithHandshake(datagram)) {
        this.#counters.dropped++;
        return;
      }
      const verdict = this.#context.hello(datagram, key);
      if (verdict instanceof ArrayBuffer) {
        // no valid cookie: prove the address first; an existing session is left alone
        this.#counters.helloVerifyRequests++;
        this.#options.send(new Uint8Array(verdict), peer);
        return;
      }
      if (!verdict) {
        // malformed or fragmented: a handshake in progress lets Mbed TLS decide; an established session never sees it
        if (!entry) this.#counters.dropped++;
        else if (entry.established) this.#forged(entry);
        else this.#feed(entry, datagram);
        return;
      }
      if (entry) {
        if (!entry.established) {
          this.#feed(entry, datagram); // a retransmitted ClientHello of this handshake
          return;
        }
        // RFC 6347 4.2.8: a new handshake from the same address+port replaces the old session
        this.#end(entry, "client reconnected", false);
      }
      this.#open(key, datagram, peer);
    } catch (error) {
      this.#error(() => `dtls: datagram from ${key} dropped: ${error}`);
    }
  }

  /** Encrypts `data` as one record for `peer` and sends it; false without an established session. */
  write(peer: Peer, data: Uint8Array): boolean {
    const entry = this.#sessions.get(peerTransportId(peer));
    if (!entry || !entry.established) return false;
    try {
      const now = this.#options.now();
      const written = entry.native.write(data, now);
      entry.lastActive = now;
      this.#flush(entry);
      if (entry.native.state !== ESTABLISHED) {
        this.#settle(entry);
        return false;
      }
      return written === data.length;
    } catch (error) {
      this.#error(() => `dtls: write to ${entry.id} failed: ${error}`);
      return false;
    }
  }

  /** The session id of `peer`'s established session, if it has one. */
  sessionOf(peer: Peer): string | undefined {
    const entry = this.#sessions.get(peerTransportId(peer));
    return entry && entry.established ? entry.id : undefined;
  }

  nextDeadline(): number | undefined {
    let earliest: number | undefined;
    for (const entry of this.#sessions.values()) {
      const retransmit = entry.native.deadline;
      const idle = entry.lastActive + this.#idleTimeoutMs;
      const due = retransmit >= 0 && retransmit < idle ? retransmit : idle;
      if (earliest === undefined || due < earliest) earliest = due;
    }
    return earliest;
  }

  /** Retransmits flights whose timer expired, fails handshakes that gave up, closes idle sessions. */
  tick(): void {
    const now = this.#options.now();
    for (const entry of [...this.#sessions.values()]) {
      try {
        if (now - entry.lastActive >= this.#idleTimeoutMs) {
          this.#counters.evicted++;
          this.#end(entry, "idle", true);
          continue;
        }
        const deadline = entry.native.deadline;
        if (deadline >= 0 && now >= deadline) {
          entry.native.tick(now);
          this.#flush(entry);
          this.#settle(entry);
        }
      } catch (error) {
        this.#error(() => `dtls: tick of ${entry.id} failed: ${error}`);
        this.#remove(entry, "internal error");
      }
    }
  }

  /** Ends `peer`'s session with close_notify. */
  close(peer: Peer): void {
    const entry = this.#sessions.get(peerTransportId(peer));
    if (entry) this.#end(entry, "closed", true);
  }

  /** Ends every session with close_notify. The server keeps accepting new ones. */
  closeAll(): void {
    for (const entry of [...this.#sessions.values()]) this.#end(entry, "closed", true);
  }

  /** closeAll(), then frees the shared state; receive() ignores everything afterwards. */
  dispose(): void {
    this.closeAll();
    this.#closed = true;
    this.#context.close();
  }

  stats(): DtlsServerStats {
    let handshaking = 0;
    for (const entry of this.#sessions.values()) if (!entry.established) handshaking++;
    return {
      sessions: this.#sessions.size,
      handshaking,
      established: this.#sessions.size - handshaking,
      ...this.#counters,
    };
  }

  #open(key: string, hello: Uint8Array, peer: Peer): void {
    const now = this.#options.now();
    if (!this.#makeRoom(now)) {
      this.#counters.refused++;
      this.#log(`dtls: ${peer.address}:${peer.port} refused: ${this.#sessions.size} sessions, none quiet`);
      return;
    }
    const entry: Entry = {
      key,
      id: `${key}#${++this.#serial}`,
      peer: { address: peer.address, port: peer.port },
      native: new DTLSSession(this.#context, key),
      lastActive: now,
      established: false,
    };
    this.#sessions.set(key, entry);
    this.#feed(entry, hello);
  }

  /** The least recently active session quiet for evictQuietMs gives way; false when none is. */
  #makeRoom(now: number): boolean {
    if (this.#sessions.size < this.#maxSessions) return true;
    let victim: Entry | undefined;
    for (const entry of this.#sessions.values()) {
      if (now - entry.lastActive >= this.#evictQuietMs && (!victim || entry.lastActive < victim.lastActive)) victim = entry;
    }
    if (!victim) return false;
    this.#counters.evicted++;
    this.#end(victim, "evicted for a new peer", true);
    return true;
  }

  /** An established session gets only the records that can authenticate for it. */
  #feedEstablished(entry: Entry, datagram: Uint8Array): void {
    const records = authenticatable(datagram);
    if (records) this.#feed(entry, records);
    else this.#forged(entry);
  }

  #forged(entry: Entry): void {
    this.#counters.forged++;
    this.#episodes.note("forged", this.#options.now(), () => `dtls: ${entry.id}: a datagram with plaintext (epoch 0) or malformed records ignored, the session is unchanged`);
  }

  #feed(entry: Entry, datagram: Uint8Array): void {
    const now = this.#options.now();
    entry.lastActive = now;
    entry.native.receive(datagram, now);
    this.#flush(entry);
    this.#deliver(entry);
    this.#settle(entry);
  }

  #flush(entry: Entry): void {
    for (let i = 0; i < MAX_RECORDS_PER_CALL; i++) {
      const out = entry.native.output();
      if (!out) return;
      try {
        this.#options.send(new Uint8Array(out), entry.peer);
      } catch (error) {
        this.#error(() => `dtls: send to ${entry.id} failed: ${error}`);
      }
    }
  }

  #deliver(entry: Entry): void {
    for (let i = 0; i < MAX_RECORDS_PER_CALL; i++) {
      const plaintext = entry.native.read();
      if (!plaintext) return;
      try {
        this.#options.onData(new Uint8Array(plaintext), entry.peer, entry.id);
      } catch (error) {
        this.#error(() => `dtls: onData of ${entry.id} threw: ${error}`);
      }
      if (this.#sessions.get(entry.key) !== entry) return; // the handler closed it
    }
  }

  /** Acts on the state the binding reports after a call. */
  #settle(entry: Entry): void {
    if (this.#sessions.get(entry.key) !== entry) return;
    const state = entry.native.state;
    if (state === ESTABLISHED && !entry.established) {
      entry.established = true;
      this.#counters.handshakesCompleted++;
      this.#log(`dtls: ${entry.id} established (${entry.native.suite}, ${credentialOf(entry.native)})`);
    } else if (state === FAILED) {
      const reason = entry.native.reason ?? "failed";
      if (!entry.established) {
        this.#counters.handshakesFailed++;
        this.#log(`dtls: handshake with ${entry.peer.address}:${entry.peer.port} failed: ${reason} (${credentialOf(entry.native)})`);
      } else this.#log(`dtls: ${entry.id} failed: ${reason}`);
      this.#remove(entry, reason);
    } else if (state === CLOSED) {
      this.#remove(entry, entry.native.reason ?? "closed");
    } else if (state !== HANDSHAKING && state !== ESTABLISHED) {
      this.#remove(entry, "unknown state");
    }
  }

  /** Ends a session: close_notify when asked and established, then frees it. */
  #end(entry: Entry, reason: string, notify: boolean): void {
    try {
      if (notify) {
        entry.native.closeNotify(this.#options.now());
        this.#flush(entry);
      }
    } catch (error) {
      this.#error(() => `dtls: close of ${entry.id} failed: ${error}`);
    }
    this.#remove(entry, reason);
  }

  #remove(entry: Entry, reason: string): void {
    if (this.#sessions.get(entry.key) !== entry) return;
    this.#sessions.delete(entry.key);
    try {
      entry.native.close();
    } catch {
      // already freed
    }
    if (entry.established) this.#log(`dtls: ${entry.id} ended: ${reason}`);
    try {
      this.#options.onClose?.(entry.peer, entry.id, reason);
    } catch (error) {
      this.#error(() => `dtls: onClose of ${entry.id} threw: ${error}`);
    }
  }

  #error(message: () => string): void {
    this.#counters.errors++;
    this.#episodes.note("error", this.#options.now(), message);
  }

  #log(message: string): void {
    try {
      this.#options.log?.(message);
    } catch {
      // logging must never break the server
    }
  }
}
