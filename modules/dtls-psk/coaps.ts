/*
 * A CoAP client over one DTLS client session (coaps://, RFC 7252 sec 9.1): what the
 * CoapClient sends becomes one DTLS record on a UDP socket of its own. The session is
 * opened on demand: a datagram sent while it is closed starts the handshake and
 * waits (a few, bounded, oldest dropped) until the session opens; CON retransmission
 * covers anything lost. When the session closes (alert, close_notify, handshake
 * timeout) the waiting datagrams are dropped and the next send starts a new
 * handshake, so a server that restarts is reached again without the application
 * doing anything. PSK or certificates, as DtlsClient.
 *
 * DtlsTransport is the pure part (no socket, no clock: testable with a fake session;
 * each call is given `now`); openCoapsClient() wires it to a DtlsClient, a CoapClient,
 * a UdpEndpoint and the scheduler's clock: the I/O side, like coap/endpoint.ts.
 */
import { CoapClient, type ClientOptions, type ClientResponse, type RequestOptions } from "coap/client";
import { UdpEndpoint, type DeadlineScheduler } from "coap/endpoint";
import type { Peer } from "coap/exchange";
import { DtlsClient, type DtlsClientOptions } from "./client";

/** What DtlsTransport needs of a session (DtlsClient fits it). */
export interface DtlsSessionLike {
  readonly state: "closed" | "handshaking" | "open";
  connect(now: number): void;
  write(data: Uint8Array, now: number): boolean;
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

  /** CoapClient's send() at `now`: the peer is the session's server, whatever the client names. */
  send(datagram: Uint8Array, now: number): void {
    const session = this.#session;
    if (!session) return;
    if (session.state === "open" && session.write(datagram, now)) return;
    this.#waiting.push(datagram);
    while (this.#waiting.length > this.#maxWaiting) {
      this.#waiting.shift();
      this.#dropped++;
    }
    if (session.state === "closed") session.connect(now);
  }

  /** DtlsClient's onOpen at `now`: the waiting datagrams go out, oldest first. */
  opened(now: number): void {
    const session = this.#session;
    if (!session) return;
    const waiting = this.#waiting.splice(0);
    for (const datagram of waiting) if (!session.write(datagram, now)) this.#dropped++;
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

export interface CoapsClientOptions {
  /** the server: host address and port of the coaps:// URI */
  peer: Peer;
  /** PSK or certificate credentials of the DTLS client */
  credentials: Pick<DtlsClientOptions, "psk" | "ca" | "cert" | "key" | "serverName">;
  /** runs the timers, and its clock is the one every call is given */
  scheduler: DeadlineScheduler;
  random(): number;
  log(message: string): void;
  /** CoAP transmission parameters (tests shorten them) */
  transport?: ClientOptions["transport"];
}

/** What openCoapsClient() returns: requests over the session, and an orderly end. */
export interface CoapsClient {
  /** a request to the server at `now` (default: the scheduler's clock); the session opens on demand */
  request(request: RequestOptions, now?: number): Promise<ClientResponse>;
  /** fails pending requests ("closed"), sends close_notify, closes the socket */
  close(): void;
  readonly coap: CoapClient;
  readonly dtls: DtlsClient;
}

export function openCoapsClient(options: CoapsClientOptions): CoapsClient {
  const { peer, scheduler, random, log } = options;
  const transport = new DtlsTransport();
  const dtls: DtlsClient = new DtlsClient({
    ...options.credentials,
    send: (record) => socket.send(record, peer),
    onData: (data, now) => client.receive(data, peer, now),
    onOpen: (now) => {
      log(`coaps: dtls session to ${peer.address}:${peer.port} open`);
      transport.opened(now);
    },
    onClose: (end) => {
      log(`coaps: dtls session to ${peer.address}:${peer.port} closed: ${end.detail}`);
      transport.closed();
    },
    log,
  });
  transport.attach(dtls);
  const client: CoapClient = new CoapClient({
    send: (datagram, _peer, now) => transport.send(datagram, now),
    random,
    log,
    peer,
    transport: options.transport,
    onDeadlineChange: () => scheduler.update(),
  });
  const socket = new UdpEndpoint({
    port: 0,
    onDatagram: (datagram, from, now) => {
      if (from.port === peer.port) dtls.receive(datagram, now);
    },
    onIdle: () => scheduler.update(),
    log,
  });
  scheduler.add(dtls);
  scheduler.add(client);
  return {
    request: (request, now = scheduler.now()) => client.request(request, now),
    close() {
      const now = scheduler.now();
      client.close(now);
      dtls.close(now);
      scheduler.remove(client);
      scheduler.remove(dtls);
      socket.close();
    },
    coap: client,
    dtls,
  };
}
