/*
 * DTLS 1.2 client, sans-IO: one session to one server over the native binding, with
 * a PSK or certificates (ECDHE-ECDSA, P-256). Records go out through the injected
 * send(), datagrams from the server come in through receive(), time comes from now();
 * the caller runs tick() at nextDeadline() (the `Clocked` shape of coap/endpoint's
 * DeadlineScheduler). Nothing here owns a socket, a timer or a clock.
 *
 *   const client = new DtlsClient({ psk: { identity: "CoAP", key }, send, now, onData, onOpen, onClose });
 *   client.connect();            // ClientHello; HelloVerifyRequest, retransmissions handled
 *   client.receive(datagram);    // every datagram from the server's address and port
 *   client.write(coapMessage);   // one record; false unless open
 *   client.close();              // close_notify; connect() again to start over
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
  /** a record (datagram) for the server */
  send(record: Uint8Array): void;
  /** monotonic milliseconds */
  now(): number;
  /** one decrypted application datagram from the server */
  onData(data: Uint8Array): void;
  /** the handshake completed: write() works from now on */
  onOpen?(): void;
  /** the session ended (failed handshake, alert, close_notify, close()) */
  onClose?(end: DtlsEnd): void;
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

/** what one call may emit, so a misbehaving binding can never spin the loop */

export class DtlsClient {
  readonly #options: DtlsClientOptions;
  readonly #context: DTLSContext;
  #session: DTLSSession | undefined;
  /** where the session's records go (pump.ts): one object for the client's life */
  #sink: PumpSink<DTLSSession> = {
    send: (_session, record) => this.#options.send(record),
    onData: (_session, data) => this.#options.onData(data),
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

  /** Starts a handshake (its ClientHello goes out at once); nothing when one is open or under way. */
  connect(): void {
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
      session.start(this.#options.now());
      this.#flush(session);
      this.#settle(session);
    } catch (error) {
      this.#log(`dtls client: connect failed: ${error}`);
      if (this.#session) this.#end(this.#session, { kind: "internal", detail: "internal error" });
    }
  }

  /** Hands in one datagram that came from the server. Never throws. */
  receive(datagram: Uint8Array): void {
    const session = this.#session;
    if (!session) {
      this.#counters.dropped++;
      return;
    }
    this.#counters.datagramsReceived++;
    try {
      session.receive(datagram, this.#options.now());
      this.#flush(session);
      if (session.state === ESTABLISHED) this.#settle(session); // onOpen before the first onData
      this.#deliver(session);
      this.#settle(session);
    } catch (error) {
      this.#log(`dtls client: datagram dropped: ${error}`);
    }
  }

  /** Encrypts `data` as one record and sends it; false unless open (or when too large). */
  write(data: Uint8Array): boolean {
    const session = this.#session;
    if (!session || !this.#open) return false;
    try {
      const written = session.write(data, this.#options.now());
      this.#flush(session);
      this.#settle(session);
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
  tick(): void {
    const session = this.#session;
    if (!session) return;
    try {
      const now = this.#options.now();
      const deadline = session.deadline;
      if (deadline < 0 || now < deadline) return;
      session.tick(now);
      this.#flush(session);
      this.#settle(session);
    } catch (error) {
      this.#log(`dtls client: tick failed: ${error}`);
      this.#end(session, { kind: "internal", detail: "internal error" });
    }
  }

  /** Ends the session with close_notify (when open); onClose runs with reason "closed". */
  close(): void {
    const session = this.#session;
    if (!session) return;
    try {
      session.closeNotify(this.#options.now());
      this.#flush(session);
    } catch (error) {
      this.#log(`dtls client: close failed: ${error}`);
    }
    this.#end(session, { kind: "closed", detail: "closed" });
  }

  /** close(), then frees the credentials; the client is unusable afterwards. */
  dispose(): void {
    this.close();
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

  #flush(session: DTLSSession): void {
    this.#counters.datagramsSent += flush(session, this.#sink, session);
  }

  #deliver(session: DTLSSession): void {
    this.#counters.recordsDelivered += deliver(session, this.#sink, session);
  }

  /** Acts on the state the binding reports after a call. */
  #settle(session: DTLSSession): void {
    if (this.#session !== session) return;
    const settled = settle(session, this.#open);
    if (settled.event === "established") {
      this.#open = true;
      this.#counters.handshakesCompleted++;
      const subject = session.peerCertificate;
      this.#log(`dtls client: established (${session.suite}${subject !== undefined ? `, server certificate ${printable(subject)}` : ""})`);
      try {
        this.#options.onOpen?.();
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
      this.#end(session, end);
    }
  }

  /** Frees the session and tells the owner, once. */
  #end(session: DTLSSession, end: DtlsEnd): void {
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
      this.#options.onClose?.(end);
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
