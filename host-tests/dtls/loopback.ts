/*
 * In-process DTLS peers for unit tests: a DtlsServer and any number of clients
 * (the binding's client mode) wired through in-memory datagram queues, with a clock
 * the test moves by hand. Nothing here touches a socket or a timer.
 */
import { CLIENT, DTLSContext, DTLSSession, ESTABLISHED, type SessionState } from "dtls-psk/binding";
import { DtlsServer, type DtlsServerOptions, type Peer, type SessionPeer } from "dtls-psk/server";
import type { DtlsEndKind } from "dtls-psk/pump";
import { FakeClock } from "../lib/clock";
import { bytesKeptBy } from "./heap";
import { clientHello, cookieOf } from "./records";

export const IDENTITY = "CoAP";
export const KEY: Uint8Array = new Uint8Array(ArrayBuffer.fromString("esp32c3_key"));


export interface Delivered {
  data: Uint8Array;
  peer: SessionPeer;
  session: string;
}

export class TestClient {
  /** where its datagrams come from: a test may move it (a NAT rebinding) */
  peer: Peer;
  readonly session: DTLSSession;
  readonly context: DTLSContext;
  /** datagrams the server sent to this client, not yet handed in */
  readonly inbox: Uint8Array[] = [];
  /** every datagram this client sent, in order */
  readonly sent: Uint8Array[] = [];
  /** decrypted application records */
  readonly received: Uint8Array[] = [];

  constructor(readonly net: Loopback, port: number, identity: string = IDENTITY, key: Uint8Array = KEY, flags = 0, suites?: readonly number[], cid = 0) {
    this.peer = { address: "127.0.0.1", port };
    this.context = new DTLSContext({ identity: ArrayBuffer.fromString(identity), key, flags: CLIENT | flags, suites, cid });
    this.session = new DTLSSession(this.context, "");
  }

  get state(): SessionState {
    return this.session.state;
  }

  /** Collects what the client's session wants to send and hands it to the server. */
  flush(): void {
    for (let i = 0; i < 32; i++) {
      const out = this.session.output();
      if (!out) break;
      const datagram = new Uint8Array(out);
      this.sent.push(datagram);
      if (!this.net.drop(datagram, this)) this.net.deliver(datagram, this.peer);
    }
    for (let i = 0; i < 32; i++) {
      const data = this.session.read();
      if (!data) break;
      this.received.push(new Uint8Array(data));
    }
  }

  start(): void {
    this.session.start(this.net.clock.now);
    this.flush();
  }

  write(text: string): number {
    const n = this.session.write(ArrayBuffer.fromString(text), this.net.clock.now);
    this.flush();
    return n;
  }

  close(): void {
    this.session.closeNotify(this.net.clock.now);
    this.flush();
  }

  dispose(): void {
    this.session.close();
    this.context.close();
  }
}

export class Loopback {
  readonly clock = new FakeClock(1_000_000);
  readonly server: DtlsServer;
  readonly clients = new Map<number, TestClient>();
  /** clients at another address than 127.0.0.1, by address and port (clientAt()) */
  readonly elsewhere = new Map<string, TestClient>();
  readonly delivered: Delivered[] = [];
  readonly closed: { peer: Peer; session: string; reason: string; kind: DtlsEndKind; delivered?: number }[] = [];
  readonly logs: string[] = [];
  /** every datagram the server sent */
  readonly serverSent: { datagram: Uint8Array; peer: Peer }[] = [];
  /** return true to lose a client's datagram on its way to the server */
  drop: (datagram: Uint8Array, from: TestClient) => boolean = () => false;
  /**
   * heap bytes (host/meter) the server's calls took and did not give back since the
   * loopback was made: its sessions' share, apart from the in-process clients'
   */
  serverBytes = 0;

  constructor(options: Partial<DtlsServerOptions> = {}) {
    this.server = new DtlsServer({
      identity: IDENTITY,
      key: KEY,
      send: (buffer, peer) => {
        const record = new Uint8Array(buffer);
        this.serverSent.push({ datagram: record, peer });
        const c = this.clients.get(peer.port);
        if (c !== undefined && c.peer.address === peer.address) c.inbox.push(record);
        else this.elsewhere.get(`${peer.address}|${peer.port}`)?.inbox.push(record);
      },
      onData: (data, peer, session) => this.delivered.push({ data, peer, session }),
      onClose: (peer, session, end) => this.closed.push({ peer, session, reason: end.detail, kind: end.kind, delivered: end.delivered }),
      log: (message) => this.logs.push(message),
      ...options,
    });
  }

  /** Hands a datagram to the server, metering what the call keeps. */
  deliver(datagram: Uint8Array, peer: Peer): void {
    this.serverBytes += bytesKeptBy(() => this.server.receive(datagram, peer, this.clock.now));
  }

  client(port: number, identity: string = IDENTITY, key: Uint8Array = KEY, flags = 0, suites?: readonly number[], cid = 0): TestClient {
    const c = new TestClient(this, port, identity, key, flags, suites, cid);
    this.clients.set(port, c);
    return c;
  }

  /** A client at another address (the same port as one at 127.0.0.1, say). */
  clientAt(address: string, port: number): TestClient {
    const c = new TestClient(this, port);
    c.peer = { address, port };
    this.elsewhere.set(`${address}|${port}`, c);
    return c;
  }

  /** Hands every queued server datagram to its client until nothing moves (bounded). */
  pump(): void {
    for (let round = 0; round < 100; round++) {
      let moved = false;
      for (const c of [...this.clients.values(), ...this.elsewhere.values()]) {
        while (c.inbox.length) {
          const datagram = c.inbox.shift()!;
          c.session.receive(datagram, this.clock.now);
          c.flush();
          moved = true;
        }
      }
      if (!moved) return;
    }
    throw new Error("loopback did not settle");
  }

  /**
   * A ClientHello from `peer` with the cookie the server just gave it: what a peer that
   * can receive at its address sends second. Not delivered: the caller hands it in.
   */
  verifiedHello(peer: Peer, random?: () => number): Uint8Array {
    const sent = this.serverSent.length;
    this.server.receive(clientHello({ random }), peer, this.clock.now);
    const cookie = this.serverSent.length > sent ? cookieOf(this.serverSent[sent].datagram) : undefined;
    if (!cookie) throw new Error(`no HelloVerifyRequest for ${peer.address}|${peer.port}`);
    return clientHello({ cookie, sequence: 1, random });
  }

  /** A half-open handshake: the cookie exchange done, the server's flight sent to nobody. */
  halfOpen(peer: Peer, random?: () => number): void {
    this.server.receive(this.verifiedHello(peer, random), peer, this.clock.now);
  }

  /** Full handshake of a new client; returns it established. */
  connect(port: number, identity: string = IDENTITY, key: Uint8Array = KEY): TestClient {
    const c = this.client(port, identity, key);
    c.start();
    this.pump();
    return c;
  }

  /** Fires the clocks of the server and of every client, as their timers would. */
  tick(): void {
    this.serverBytes += bytesKeptBy(() => this.server.tick(this.clock.now));
    for (const c of this.clients.values()) {
      const deadline = c.session.deadline;
      if (deadline >= 0 && this.clock.now >= deadline) {
        c.session.tick(this.clock.now);
        c.flush();
      }
    }
    this.pump();
  }

  dispose(): void {
    this.server.dispose(this.clock.now);
    for (const c of [...this.clients.values(), ...this.elsewhere.values()]) c.dispose();
    this.clients.clear();
    this.elsewhere.clear();
  }
}

export function isEstablished(c: TestClient): boolean {
  return c.state === ESTABLISHED;
}
