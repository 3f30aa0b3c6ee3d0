/*
 * DTLS 1.2 client, sans-IO: one session to one server over the native binding, with
 * a PSK or certificates (ECDHE-ECDSA, P-256). Every entry point is given the time of
 * the call (`now`, ms, monotonic); records go out through the injected send()
 * synchronously, during the call that made them, and onData/onOpen/onClose run during
 * it too, with its `now`. The caller runs tick(now) at nextDeadline() (the `Clocked`
 * shape of coap/endpoint's DeadlineScheduler). Nothing here owns a socket, a timer or
 * a clock.
 *
 *   const client = new DtlsClient({ psk: { identity: "CoAP", key }, send, onData, onOpen, onClose });
 *   client.connect(now);              // ClientHello; HelloVerifyRequest, retransmissions handled
 *   client.receive(datagram, now);    // every datagram from the server's address and port
 *   client.write(coapMessage, now);   // one record; false unless open
 *   client.close(now);                // close_notify; connect() again to start over
 *
 * The credentials are parsed once, in the constructor (bad ones throw a RangeError
 * naming what was wrong, never its content); each connect() makes a new session.
 * onClose runs once for every session that ends, whatever ended it, with a DtlsEnd
 * (pump.ts): a kind and the binding's words ("server certificate not trusted
 * (unknown CA)", "fatal alert from peer", "handshake timed out", "close_notify from
 * peer", "closed", ...).
 */
import { CLIENT, DTLSContext, DTLSSession, ESTABLISHED, PREFER_ECDHE, type CredentialBytes } from "./binding";
import { deliver, flush, settle, type DtlsEnd, type PumpSink } from "./pump";
import { printable } from "./describe";

export interface DtlsClientOptions {
  /** a pre-shared key: `key` as raw bytes ("esp32c3_key" as ASCII, as libcoap's -k has it) */
  psk?: { identity: string; key: Uint8Array };
  /**
   * the CA(s) that signed the server's certificate (PEM bundle or one DER certificate):
   * certificate mode; the server must present a certificate one of them signed
   */
  ca?: CredentialBytes;
  /** this client's certificate chain (PEM or one DER), for servers that require one (mutual authentication) */
  cert?: CredentialBytes;
  /** its private key (PEM or DER, P-256); parsed once, never logged */
  key?: CredentialBytes;
  /**
   * the name the server's certificate must carry (CN or subjectAltName), usually the
   * host of the URI. Undefined: any certificate `ca` signed is accepted. Mbed TLS
   * 2.28 (the simulator host) matches DNS names only, 3.x and later IP addresses too.
   */
  serverName?: string;
  /** offer ECDHE-PSK suites before plain PSK ones */
  preferEcdhe?: boolean;
  /** IANA cipher suite numbers in preference order (default: what the credentials allow) */
  suites?: readonly number[];
  /** a record (datagram) for the server: a buffer of its own, which an ECMA-419 socket's write() takes as it is */
  send(record: ArrayBuffer): void;
  /** one decrypted application datagram from the server, during the receive() at `now` */
  onData(data: Uint8Array, now: number): void;
  /** the handshake completed at `now`: write() works from now on */
  onOpen?(now: number): void;
  /** the session ended at `now` (failed handshake, alert, close_notify, close()) */
  onClose?(end: DtlsEnd, now: number): void;
  log?(message: string): void;
}

export type DtlsClientState = "closed" | "handshaking" | "open";

export interface DtlsClientStats {
  state: DtlsClientState;
  /** the negotiated suite while open */
  suite: string | undefined;
  handshakesStarted: number;
  handshakesCompleted: number;
  handshakesFailed: number;
  /** datagrams sent and received (handshake and application) */
  datagramsSent: number;
  datagramsReceived: number;
  /** application records written and delivered */
  recordsWritten: number;
  recordsDelivered: number;
  /** datagrams that arrived with no session to take them */
  dropped: number;
  /** why the last session ended */
  lastReason: string | undefined;
}

export class DtlsClient {
  readonly #options: DtlsClientOptions;
  readonly #context: DTLSContext;
  #session: DTLSSession | undefined;
  /** where the session's records go (pump.ts): one object for the client's life */
  #sink: PumpSink<DTLSSession> = {
    send: (_session, record) => this.#options.send(record),
    onData: (_session, data, now) => this.#options.onData(data, now),
    current: (session) => this.#session === session, // an onData handler may close it
    error: (_session, what, error) => this.#log(what === "send" ? `dtls client: send failed: ${error}` : `dtls client: onData threw: ${error}`),
  };
  #open = false;
  #disposed = false;
  #lastReason: string | undefined;
  readonly #counters = {
    handshakesStarted: 0,
    handshakesCompleted: 0,
    handshakesFailed: 0,
    datagramsSent: 0,
    datagramsReceived: 0,
    recordsWritten: 0,
    recordsDelivered: 0,
    dropped: 0,
  };

  constructor(options: DtlsClientOptions) {
    const { psk, ca, cert, key } = options;
    if ((cert === undefined) !== (key === undefined)) throw new TypeError("dtls client: cert and key go together");
    if (cert !== undefined && ca === undefined) throw new TypeError("dtls client: a certificate needs ca to verify the server");
    if (!psk && ca === undefined) throw new TypeError("dtls client: no credentials (psk, or ca for certificate mode)");
    this.#options = options;
    this.#context = new DTLSContext({
      identity: psk ? ArrayBuffer.fromString(psk.identity) : undefined,
      key: psk ? psk.key : undefined,
      flags: CLIENT | (options.preferEcdhe ? PREFER_ECDHE : 0),
      suites: options.suites,
      certificate: cert,
      privateKey: key,
      ca,
    });
  }

  get state(): DtlsClientState {
    if (!this.#session) return "closed";
    return this.#open ? "open" : "handshaking";
  }

  /** Starts a handshake at `now` (its ClientHello goes out at once); nothing when one is open or under way. */
  connect(now: number): void {
    if (this.#disposed) {
      this.#log("dtls client: connect() after dispose() ignored");
      return;
    }
    if (this.#session) return;
    try {
      const session = new DTLSSession(this.#context, this.#options.serverName);
      this.#session = session;
      this.#open = false;
      this.#counters.handshakesStarted++;
      session.start(now);
      this.#flush(session, now);
      this.#settle(session, now);
    } catch (error) {
      this.#log(`dtls client: connect failed: ${error}`);
      if (this.#session) this.#end(this.#session, { kind: "internal", detail: "internal error" }, now);
    }
  }

  /** Hands in one datagram that came from the server, received at `now`. Never throws. */
  receive(datagram: Uint8Array, now: number): void {
    const session = this.#session;
    if (!session) {
      this.#counters.dropped++;
      return;
    }
    this.#counters.datagramsReceived++;
    try {
      session.receive(datagram, now);
      this.#flush(session, now);
      if (session.state === ESTABLISHED) this.#settle(session, now); // onOpen before the first onData
      this.#deliver(session, now);
      this.#settle(session, now);
    } catch (error) {
      this.#log(`dtls client: datagram dropped: ${error}`);
    }
  }

  /** Encrypts `data` as one record and sends it at `now`; false unless open (or when too large). */
  write(data: Uint8Array, now: number): boolean {
    const session = this.#session;
    if (!session || !this.#open) return false;
    try {
      const written = session.write(data, now);
      this.#flush(session, now);
      this.#settle(session, now);
      if (written !== data.length) return false;
      this.#counters.recordsWritten++;
      return true;
    } catch (error) {
      this.#log(`dtls client: write failed: ${error}`);
      return false;
    }
  }

  /** When tick() must run (handshake retransmission or give-up), undefined when nothing is pending. */
  nextDeadline(): number | undefined {
    const deadline = this.#session?.deadline ?? -1;
    return deadline >= 0 ? deadline : undefined;
  }

  /** Retransmits the last flight whose timer expired, or fails the handshake that gave up (1, 2, 4 ... 60 s). */
  tick(now: number): void {
    const session = this.#session;
    if (!session) return;
    try {
      const deadline = session.deadline;
      if (deadline < 0 || now < deadline) return;
      session.tick(now);
      this.#flush(session, now);
      this.#settle(session, now);
    } catch (error) {
      this.#log(`dtls client: tick failed: ${error}`);
      this.#end(session, { kind: "internal", detail: "internal error" }, now);
    }
  }

  /** Ends the session with close_notify (when open) at `now`; onClose runs with reason "closed". */
  close(now: number): void {
    const session = this.#session;
    if (!session) return;
    try {
      session.closeNotify(now);
      this.#flush(session, now);
    } catch (error) {
      this.#log(`dtls client: close failed: ${error}`);
    }
    this.#end(session, { kind: "closed", detail: "closed" }, now);
  }

  /** close(now), then frees the credentials; the client is unusable afterwards. */
  dispose(now: number): void {
    this.close(now);
    if (this.#disposed) return;
    this.#disposed = true;
    this.#context.close();
  }

  stats(): DtlsClientStats {
    const session = this.#session;
    return {
      state: this.state,
      suite: session && this.#open ? session.suite : undefined,
      ...this.#counters,
      lastReason: this.#lastReason,
    };
  }

  #flush(session: DTLSSession, now: number): void {
    this.#counters.datagramsSent += flush(session, this.#sink, session, now);
  }

  #deliver(session: DTLSSession, now: number): void {
    this.#counters.recordsDelivered += deliver(session, this.#sink, session, now);
  }

  /** Acts on the state the binding reports after a call at `now`. */
  #settle(session: DTLSSession, now: number): void {
    if (this.#session !== session) return;
    const settled = settle(session, this.#open);
    if (settled.event === "established") {
      this.#open = true;
      this.#counters.handshakesCompleted++;
      const subject = session.peerCertificate;
      this.#log(`dtls client: established (${session.suite}${subject !== undefined ? `, server certificate ${printable(subject)}` : ""})`);
      try {
        this.#options.onOpen?.(now);
      } catch (error) {
        this.#log(`dtls client: onOpen threw: ${error}`);
      }
    } else if (settled.event === "ended") {
      const { end, failure } = settled;
      if (failure && !this.#open) {
        this.#counters.handshakesFailed++;
        const subject = session.peerCertificate;
        this.#log(`dtls client: handshake failed: ${end.detail}${subject !== undefined ? ` (server certificate ${printable(subject)})` : ""}`);
      } else if (failure) this.#log(`dtls client: session failed: ${end.detail}`);
      this.#end(session, end, now);
    }
  }

  /** Frees the session and tells the owner, once. */
  #end(session: DTLSSession, end: DtlsEnd, now: number): void {
    if (this.#session !== session) return;
    const wasOpen = this.#open;
    this.#session = undefined;
    this.#open = false;
    this.#lastReason = end.detail;
    try {
      session.close();
    } catch {
      // already freed
    }
    if (wasOpen) this.#log(`dtls client: ended: ${end.detail}`);
    try {
      this.#options.onClose?.(end, now);
    } catch (error) {
      this.#log(`dtls client: onClose threw: ${error}`);
    }
  }

  #log(message: string): void {
    try {
      this.#options.log?.(message);
    } catch {
      // logging must never break the client
    }
  }
}
