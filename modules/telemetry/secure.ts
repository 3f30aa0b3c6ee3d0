/*
 * A CoAP client's transport over one DTLS client session (coaps://, RFC 7252
 * sec 9.1): what the client sends becomes one DTLS record. The session is
 * opened on demand: a datagram sent while it is closed starts the handshake
 * and waits (a few, bounded, oldest dropped) until the session opens; CON
 * retransmission covers anything lost. When the session closes (alert,
 * close_notify, handshake timeout) the waiting datagrams are dropped and the
 * next send starts a new handshake, so a collector that restarts is reached
 * again without the application doing anything.
 *
 * Typed structurally (DtlsSessionLike) so modules/telemetry does not depend on
 * modules/dtls-psk: modules/dtls-psk/client.ts's DtlsClient fits it.
 */

export interface DtlsSessionLike {
  readonly state: "closed" | "handshaking" | "open";
  connect(): void;
  write(data: Uint8Array): boolean;
}

export const DTLS_TRANSPORT_MAX_WAITING = 4;

export class DtlsTransport {
  #session: DtlsSessionLike | undefined;
  #waiting: Uint8Array[] = [];
  #maxWaiting: number;
  #dropped = 0;

  constructor(maxWaiting = DTLS_TRANSPORT_MAX_WAITING) {
    this.#maxWaiting = maxWaiting;
  }

  /** The session to use (set once the DtlsClient exists: it needs this transport's callbacks first). */
  attach(session: DtlsSessionLike): void {
    this.#session = session;
  }

  /** CoapClient's send(): the peer is the session's server, whatever the client names. */
  send(datagram: Uint8Array): void {
    const session = this.#session;
    if (!session) return;
    if (session.state === "open" && session.write(datagram)) return;
    this.#waiting.push(datagram);
    while (this.#waiting.length > this.#maxWaiting) {
      this.#waiting.shift();
      this.#dropped++;
    }
    if (session.state === "closed") session.connect();
  }

  /** DtlsClient's onOpen: the waiting datagrams go out, oldest first. */
  opened(): void {
    const session = this.#session;
    if (!session) return;
    const waiting = this.#waiting.splice(0);
    for (const datagram of waiting) if (!session.write(datagram)) this.#dropped++;
  }

  /** DtlsClient's onClose. */
  closed(): void {
    this.#dropped += this.#waiting.length;
    this.#waiting.length = 0;
  }

  get stats(): { waiting: number; dropped: number } {
    return { waiting: this.#waiting.length, dropped: this.#dropped };
  }
}
