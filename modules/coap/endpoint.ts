/*
 * Binds the sans-IO protocol objects to the device's I/O: an ECMA-419 UDP socket
 * (embedded:io/socket/udp) and one Moddable timer that fires at the earliest
 * deadline of every component. This is the only file in modules/coap that touches
 * a socket or a clock: it reads the clock once per batch of datagrams and once per
 * timer, and hands that `now` to the pure objects it drives, which are tested with a
 * number for "now" instead.
 */
import UDP from "embedded:io/socket/udp";
import Timer from "timer";
import Time from "time";
import type { Peer } from "./exchange";

/** Something with timed work: retransmissions, expiries, evictions. */
export interface Clocked {
  /** when tick() is due (the scheduler's clock, ms); -Infinity: at once */
  nextDeadline(): number | undefined;
  tick(now: number): void;
}

/** Monotonic milliseconds on the device and in the simulator host. */
export function monotonicNow(): number {
  return Time.ticks;
}

/**
 * One timer for many components: call update() after anything that may have
 * changed a deadline (a datagram in, a resource change). update() asks every
 * component and arms the timer for the earliest answer. update(a, b) asks only the
 * components a batch of datagrams can have touched (a DTLS record reaches the DTLS
 * server and the CoAP server, not the client or the telemetry) and only ever moves
 * the timer earlier: a deadline that moved later, or went away, costs one tick that
 * finds nothing, after which update() asks everyone again. A component's deadline
 * moves only through calls into it: those from a datagram are named by its
 * endpoint, the rest (a tick, the application, a promise settling) end in update().
 */
export class DeadlineScheduler {
  readonly #components: Clocked[] = [];
  readonly #now: () => number;
  #timer: ReturnType<typeof Timer.set> | undefined;
  /** the deadline the timer is armed for; Infinity: none */
  #armedFor = Infinity;

  constructor(now: () => number = monotonicNow) {
    this.#now = now;
  }

  /** The clock every component is given (ms, monotonic): for calls the application makes itself, like notify(path, now). */
  now(): number {
    return this.#now();
  }

  add(component: Clocked): void {
    this.#components.push(component);
    this.update();
  }

  remove(component: Clocked): void {
    const index = this.#components.indexOf(component);
    if (index >= 0) this.#components.splice(index, 1);
    this.update();
  }

  /** Every component asked, the timer armed for the earliest; or only `touched` and `also`, and the timer moved earlier if one of them is. */
  update(touched?: Clocked, also?: Clocked): void {
    let earliest = Infinity;
    if (touched === undefined) {
      const components = this.#components;
      for (let i = 0; i < components.length; i++) {
        const d = components[i].nextDeadline();
        if (d !== undefined && d < earliest) earliest = d;
      }
      if (earliest === this.#armedFor) return;
    } else {
      const d = touched.nextDeadline();
      if (d !== undefined) earliest = d;
      const e = also?.nextDeadline();
      if (e !== undefined && e < earliest) earliest = e;
      if (earliest >= this.#armedFor) return;
    }
    if (this.#timer) {
      Timer.clear(this.#timer);
      this.#timer = undefined;
    }
    this.#armedFor = earliest;
    if (earliest === Infinity) return;
    const delay = Math.max(0, Math.ceil(earliest - this.#now()));
    this.#timer = Timer.set(() => {
      this.#timer = undefined;
      this.#armedFor = Infinity;
      const now = this.#now();
      for (const c of this.#components) c.tick(now);
      this.update();
    }, delay);
  }

  stop(): void {
    if (this.#timer) Timer.clear(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
  }
}

/** ECMA-419 sockets have close(); @moddable/typings 5.6.0 leaves it out. */
type Socket = UDP & { close(): void };

export interface UdpEndpointOptions {
  port: number;
  /** bind address; all addresses when absent */
  address?: string;
  /** each datagram as it arrives, with the time its batch was read; must not throw (the protocol objects never do) */
  onDatagram(datagram: Uint8Array, peer: Peer, now: number): void;
  /** the clock (ms, monotonic); default monotonicNow, the scheduler's */
  now?(): number;
  /** after each batch of datagrams: the scheduler's update, typically */
  onIdle?(): void;
  log?(message: string): void;
}

/** A UDP socket that hands datagrams to a protocol object and sends what it returns. */
export class UdpEndpoint {
  readonly port: number;
  readonly #socket: Socket;
  readonly #log: (message: string) => void;
  #sendErrors = 0;

  constructor(options: UdpEndpointOptions) {
    this.port = options.port;
    this.#log = options.log ?? (() => {});
    const { onDatagram, onIdle } = options;
    const clock = options.now ? () => options.now!() : monotonicNow;
    const log = this.#log;
    this.#socket = new UDP({
      port: options.port,
      ...(options.address ? { address: options.address } : {}),
      onReadable(count: number) {
        const now = clock();
        let i = 0;
        let address = "";
        // one try for the batch, entered again only after a datagram whose handling threw
        while (i < count) {
          try {
            for (; i < count; i++) {
              address = "";
              const packet = this.read();
              if (!packet) {
                i = count;
                break;
              }
              address = packet.address;
              onDatagram(new Uint8Array(packet), { address, port: packet.port }, now);
            }
          } catch (error) {
            // a protocol object should never throw; if one does, the endpoint keeps serving the others
            log(`udp/${options.port}: datagram${address ? ` from ${address}` : ""} dropped: ${String(error)}`);
            i++;
          }
        }
        onIdle?.();
      },
    }) as Socket;
  }

  send(datagram: Uint8Array | ArrayBuffer, peer: Peer): void {
    try {
      this.#socket.write(datagram, peer.address, peer.port);
    } catch (error) {
      // UDP promises nothing: a failed send is a lost datagram, which retransmission covers
      if (this.#sendErrors++ === 0) this.#log(`udp/${this.port}: send to ${peer.address} failed: ${String(error)} (further failures not logged)`);
    }
  }

  close(): void {
    this.#socket.close();
  }
}
