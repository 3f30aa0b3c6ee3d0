/*
 * A DtlsServer and any number of DtlsClients in one process, wired through an
 * in-memory datagram queue, with a clock the test moves by hand. Delivery happens in
 * pump() only (never inside a send), so no callback runs re-entrantly. Nothing here
 * touches a socket or a timer.
 */
import { DtlsServer, type DtlsServerOptions, type Peer } from "dtls-psk/server";
import type { DtlsEndKind } from "dtls-psk/pump";
import { DtlsClient, type DtlsClientOptions } from "dtls-psk/client";
import { FakeClock } from "../lib/clock";
import { bytesKeptBy } from "./heap";

export interface PairClient {
  port: number;
  client: DtlsClient;
  received: Uint8Array[];
  closed: string[];
  opened: number;
  logs: string[];
  /** datagrams this client sent, in order */
  sent: Uint8Array[];
}

interface InFlight {
  datagram: Uint8Array;
  /** the client's port; to the server when `toServer` */
  port: number;
  toServer: boolean;
}

export class Pair {
  readonly clock = new FakeClock(1_000_000);
  readonly server: DtlsServer;
  readonly clients = new Map<number, PairClient>();
  readonly delivered: { data: Uint8Array; peer: Peer; session: string }[] = [];
  readonly closed: { peer: Peer; session: string; reason: string; kind: DtlsEndKind }[] = [];
  readonly logs: string[] = [];
  readonly serverSent: { datagram: Uint8Array; port: number }[] = [];
  /** return true to lose a datagram */
  drop: (datagram: Uint8Array, toServer: boolean, port: number) => boolean = () => false;
  /** answer every request with "echo:" + it */
  echo = true;
  /** native heap bytes the server's calls and the clients' calls kept since the pair was made */
  serverBytes = 0;
  clientBytes = 0;
  #queue: InFlight[] = [];

  constructor(options: Partial<DtlsServerOptions>) {
    this.server = new DtlsServer({
      send: (buffer, peer) => {
        const record = new Uint8Array(buffer);
        this.serverSent.push({ datagram: record, port: peer.port });
        this.#queue.push({ datagram: record, port: peer.port, toServer: false });
      },
      onData: (data, peer, session, now) => {
        this.delivered.push({ data, peer, session });
        if (this.echo) this.server.write(peer, new Uint8Array(ArrayBuffer.fromString(`echo:${String.fromArrayBuffer(data.slice().buffer as ArrayBuffer)}`)), now);
      },
      onClose: (peer, session, end) => this.closed.push({ peer, session, reason: end.detail, kind: end.kind }),
      log: (message) => this.logs.push(message),
      ...options,
    });
  }

  client(port: number, options: Partial<DtlsClientOptions>): PairClient {
    const entry: PairClient = { port, client: undefined!, received: [], closed: [], opened: 0, logs: [], sent: [] };
    entry.client = new DtlsClient({
      send: (buffer) => {
        const record = new Uint8Array(buffer);
        entry.sent.push(record);
        this.#queue.push({ datagram: record, port, toServer: true });
      },
      onData: (data) => entry.received.push(data),
      onOpen: () => entry.opened++,
      onClose: (end) => entry.closed.push(end.detail),
      log: (message) => entry.logs.push(message),
      ...options,
    });
    this.clients.set(port, entry);
    return entry;
  }

  /** Delivers queued datagrams until nothing moves (bounded). */
  pump(): void {
    for (let i = 0; i < 1000 && this.#queue.length; i++) {
      const { datagram, port, toServer } = this.#queue.shift()!;
      if (this.drop(datagram, toServer, port)) continue;
      if (toServer) this.serverBytes += bytesKeptBy(() => this.server.receive(datagram, { address: "127.0.0.1", port }, this.clock.now));
      else this.clientBytes += bytesKeptBy(() => this.clients.get(port)?.client.receive(datagram, this.clock.now));
    }
    if (this.#queue.length) throw new Error("pair did not settle");
  }

  /** connect() and pump: the client is open afterwards unless something refused it. */
  connect(port: number, options: Partial<DtlsClientOptions>): PairClient {
    const c = this.client(port, options);
    this.clientBytes += bytesKeptBy(() => c.client.connect(this.clock.now));
    this.pump();
    return c;
  }

  /** Fires the server's and every client's deadline, as their timers would, then pumps. */
  tick(): void {
    this.serverBytes += bytesKeptBy(() => this.server.tick(this.clock.now));
    for (const c of this.clients.values()) this.clientBytes += bytesKeptBy(() => c.client.tick(this.clock.now));
    this.pump();
  }

  dispose(): void {
    for (const c of this.clients.values()) c.client.dispose(this.clock.now);
    this.clients.clear();
    this.server.dispose(this.clock.now);
  }
}

export const text = (bytes: Uint8Array): string => String.fromArrayBuffer(bytes.slice().buffer as ArrayBuffer);
export const bytesOf = (s: string): Uint8Array => new Uint8Array(ArrayBuffer.fromString(s));
