/*
 * A lossy UDP proxy for fault tests (the shape of Mbed TLS's programs/test/udp_proxy),
 * run as a host module: startHost(fixture path, {args: ["drop=5", ...], control: true}).
 * It listens on 127.0.0.1, gives each client its own upstream socket to the server
 * (so the server sees one peer per client, as without the proxy), and damages the
 * traffic in both directions with a seeded PRNG, so a failing run can be replayed.
 *
 * Arguments (key=value words, percentages 0-100):
 *   listen=PORT        port to listen on (default: a free random port); loopback only
 *   server=HOST:PORT   where to forward (default 127.0.0.1:5683); loopback only
 *   seed=N             PRNG seed (default: from the clock); printed at start
 *   drop=P             drop P % of datagrams
 *   duplicate=P        send P % of datagrams twice
 *   delay=P            hold P % of datagrams for 1..maxdelay ms (so later ones overtake them)
 *   maxdelay=MS        bound of a delay (default 300)
 *   reorder[=P]        hold P % (default 5) of datagrams until the next one in the same
 *                      direction has gone (or maxdelay has passed): a swap of neighbours
 *   mtu=N              drop datagrams longer than N bytes
 *   rule=DIR:TYPE:COUNT[:SKIP]  deterministic loss: drop COUNT datagrams going DIR
 *                      (c2s, s2c or any) whose CoAP type is TYPE (CON, NON, ACK, RST or
 *                      any), after letting SKIP of them through; repeatable
 *   lifetime=S         exit after S seconds whatever happens (default 120)
 *   clients=N          most clients at once (default 1024); the least recent is forgotten
 *   held=N             most datagrams held for delay/reorder at once (default 256);
 *                      beyond it they go at once (counted as "overflow")
 *
 * Output: "proxy: listening on udp/PORT -> HOST:PORT seed N ..." once, the counters as
 * "proxy: counters {json}" at exit, and "@stats {json}" for the control command `stats`.
 * Every decision draws the same number of random values, so one seed and one sequence of
 * datagrams always get the same damage.
 */
import UDP from "embedded:io/socket/udp";
import Timer from "timer";
import Control from "host/control";
import { argv, exit, now } from "host/runtime";
import { seededRandom } from "../lib/harness";

type Socket = UDP & { close(): void };
type Direction = "c2s" | "s2c";

const TYPE_NAMES = ["CON", "NON", "ACK", "RST"];

interface Rule {
  direction: Direction | "any";
  type: string;
  count: number;
  skip: number;
  seen: number;
}

interface Settings {
  listen: number;
  serverAddress: string;
  serverPort: number;
  seed: number;
  drop: number;
  duplicate: number;
  delay: number;
  maxDelay: number;
  reorder: number;
  mtu: number;
  rules: Rule[];
  lifetime: number;
  maxClients: number;
  maxHeld: number;
}

export interface ProxyCounters {
  c2s: number;
  s2c: number;
  forwarded: number;
  dropped: number;
  ruleDropped: number;
  mtuDropped: number;
  duplicated: number;
  delayed: number;
  reordered: number;
  overflow: number;
  clients: number;
  evicted: number;
  sendErrors: number;
}

function isLoopback(address: string): boolean {
  return address === "::1" || address.startsWith("127.");
}

function percent(name: string, value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 100)) throw new RangeError(`${name}: a percentage 0-100, not "${value}"`);
  return n;
}

function positive(name: string, value: string): number {
  const n = Number(value);
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`${name}: a whole number, not "${value}"`);
  return n;
}

export function parseArguments(words: string[]): Settings {
  const settings: Settings = {
    listen: 0,
    serverAddress: "127.0.0.1",
    serverPort: 5683,
    seed: (Date.now() ^ Math.floor(now() * 1000)) >>> 0,
    drop: 0,
    duplicate: 0,
    delay: 0,
    maxDelay: 300,
    reorder: 0,
    mtu: 0,
    rules: [],
    lifetime: 120,
    maxClients: 1024,
    maxHeld: 256,
  };
  for (const word of words) {
    const at = word.indexOf("=");
    const key = at < 0 ? word : word.slice(0, at);
    const value = at < 0 ? "" : word.slice(at + 1);
    switch (key) {
      case "listen": settings.listen = positive(key, value); break;
      case "server": {
        const colon = value.lastIndexOf(":");
        settings.serverAddress = value.slice(0, colon).replace(/^\[|\]$/g, "");
        settings.serverPort = positive(key, value.slice(colon + 1));
        break;
      }
      case "seed": settings.seed = positive(key, value) >>> 0; break;
      case "drop": settings.drop = percent(key, value); break;
      case "duplicate": settings.duplicate = percent(key, value); break;
      case "delay": settings.delay = percent(key, value); break;
      case "maxdelay": settings.maxDelay = Math.max(1, positive(key, value)); break;
      case "reorder": settings.reorder = at < 0 ? 5 : percent(key, value); break;
      case "mtu": settings.mtu = positive(key, value); break;
      case "lifetime": settings.lifetime = Math.max(1, positive(key, value)); break;
      case "clients": settings.maxClients = Math.max(1, positive(key, value)); break;
      case "held": settings.maxHeld = positive(key, value); break;
      case "rule": {
        const [direction, type = "any", count = "1", skip = "0"] = value.split(":");
        if (direction !== "c2s" && direction !== "s2c" && direction !== "any") throw new RangeError(`rule: direction c2s, s2c or any, not "${direction}"`);
        const upper = type.toUpperCase();
        if (upper !== "ANY" && !TYPE_NAMES.includes(upper)) throw new RangeError(`rule: type CON, NON, ACK, RST or any, not "${type}"`);
        settings.rules.push({ direction, type: upper, count: positive(key, count), skip: positive(key, skip), seen: 0 });
        break;
      }
      default:
        throw new RangeError(`unknown argument "${word}"`);
    }
  }
  if (!isLoopback(settings.serverAddress)) throw new RangeError(`server must be a loopback address, not ${settings.serverAddress}`);
  return settings;
}

interface Client {
  address: string;
  port: number;
  upstream: Socket;
}

export class LossyProxy {
  readonly counters: ProxyCounters = {
    c2s: 0, s2c: 0, forwarded: 0, dropped: 0, ruleDropped: 0, mtuDropped: 0,
    duplicated: 0, delayed: 0, reordered: 0, overflow: 0, clients: 0, evicted: 0, sendErrors: 0,
  };
  readonly port: number;
  readonly #settings: Settings;
  readonly #random: () => number;
  readonly #listener: Socket;
  /** client "address|port" -> its upstream socket; least recently active first */
  readonly #clients = new Map<string, Client>();
  /** datagrams held back for reordering, per direction, until the next one has gone */
  readonly #reorderQueue: { c2s: (() => void)[]; s2c: (() => void)[] } = { c2s: [], s2c: [] };
  #held = 0;

  constructor(settings: Settings) {
    this.#settings = settings;
    this.#random = seededRandom(settings.seed);
    const proxy = this;
    const options = {
      address: "127.0.0.1",
      onReadable(this: UDP, count: number) {
        for (let i = 0; i < count; i++) {
          const packet = this.read();
          if (!packet) break;
          proxy.#fromClient(packet, packet.address, packet.port);
        }
      },
    };
    let listener: Socket | undefined;
    let port = settings.listen;
    let lastError: unknown;
    for (let attempt = 0; !listener && attempt < 20; attempt++) {
      if (!settings.listen) port = 20000 + Math.floor(Math.random() * 40000);
      try {
        listener = new UDP({ ...options, port }) as Socket;
      } catch (error) {
        lastError = error;
        if (settings.listen) break;
      }
    }
    if (!listener) throw lastError;
    this.#listener = listener;
    this.port = port;
  }

  #fromClient(bytes: ArrayBuffer, address: string, port: number): void {
    this.counters.c2s++;
    const key = `${address}|${port}`;
    let client = this.#clients.get(key);
    if (client) {
      this.#clients.delete(key); // re-inserted below: most recent last
    } else {
      while (this.#clients.size >= this.#settings.maxClients) {
        const [oldKey, old] = this.#clients.entries().next().value!;
        this.#clients.delete(oldKey);
        old.upstream.close();
        this.counters.evicted++;
      }
      client = this.#openUpstream(address, port);
      this.counters.clients++;
    }
    this.#clients.set(key, client);
    const upstream = client.upstream;
    const { serverAddress, serverPort } = this.#settings;
    this.#damage(bytes, "c2s", () => this.#send(upstream, bytes, serverAddress, serverPort));
  }

  #openUpstream(address: string, port: number): Client {
    const proxy = this;
    const client = { address, port } as Client;
    client.upstream = new UDP({
      address: this.#settings.serverAddress.includes(":") ? "::1" : "127.0.0.1",
      onReadable(this: UDP, count: number) {
        for (let i = 0; i < count; i++) {
          const packet = this.read();
          if (!packet) break;
          proxy.counters.s2c++;
          proxy.#damage(packet, "s2c", () => proxy.#send(proxy.#listener, packet, client.address, client.port));
        }
      },
    }) as Socket;
    return client;
  }

  #send(socket: Socket, bytes: ArrayBuffer, address: string, port: number): void {
    try {
      socket.write(bytes, address, port);
      this.counters.forwarded++;
    } catch {
      this.counters.sendErrors++; // e.g. a closed upstream socket: the datagram is lost, as on a network
    }
  }

  /** Decides the fate of one datagram; `forward` sends it on. */
  #damage(bytes: ArrayBuffer, direction: Direction, forward: () => void): void {
    const s = this.#settings;
    // always five draws, so the decisions for datagram k do not depend on earlier outcomes
    const rDrop = this.#random() * 100;
    const rDuplicate = this.#random() * 100;
    const rDelay = this.#random() * 100;
    const rReorder = this.#random() * 100;
    const rAmount = this.#random();

    if (s.mtu && bytes.byteLength > s.mtu) {
      this.counters.mtuDropped++;
      return;
    }
    if (this.#ruleDrops(bytes, direction)) {
      this.counters.ruleDropped++;
      return;
    }
    if (rDrop < s.drop) {
      this.counters.dropped++;
      return;
    }
    const send = () => {
      forward();
      if (rDuplicate < s.duplicate) {
        this.counters.duplicated++;
        forward();
      }
    };
    if (rDelay < s.delay && this.#held < s.maxHeld) {
      this.counters.delayed++;
      this.#hold(send, 1 + Math.floor(rAmount * s.maxDelay));
    } else if (rReorder < s.reorder && this.#held < s.maxHeld) {
      this.counters.reordered++;
      const queue = this.#reorderQueue[direction];
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        send();
      };
      queue.push(release);
      this.#hold(release, s.maxDelay);
    } else {
      if ((rDelay < s.delay || rReorder < s.reorder) && this.#held >= s.maxHeld) this.counters.overflow++;
      send();
      // whatever was held for reordering in this direction goes now, after this one
      const queue = this.#reorderQueue[direction];
      while (queue.length) queue.shift()!();
    }
  }

  #hold(send: () => void, ms: number): void {
    this.#held++;
    Timer.set(() => {
      this.#held--;
      send();
    }, ms);
  }

  #ruleDrops(bytes: ArrayBuffer, direction: Direction): boolean {
    if (!this.#settings.rules.length) return false;
    const view = new Uint8Array(bytes);
    const type = view.length ? TYPE_NAMES[(view[0] >> 4) & 3] : "";
    for (const rule of this.#settings.rules) {
      if (rule.direction !== "any" && rule.direction !== direction) continue;
      if (rule.type !== "ANY" && rule.type !== type) continue;
      rule.seen++;
      if (rule.seen > rule.skip && rule.seen <= rule.skip + rule.count) return true;
    }
    return false;
  }

  get clientCount(): number {
    return this.#clients.size;
  }

  close(): void {
    for (const client of this.#clients.values()) client.upstream.close();
    this.#clients.clear();
    this.#listener.close();
  }
}

function describe(s: Settings): string {
  const rules = s.rules.map((r) => ` rule=${r.direction}:${r.type}:${r.count}:${r.skip}`).join("");
  return `seed ${s.seed} drop=${s.drop} duplicate=${s.duplicate} delay=${s.delay} maxdelay=${s.maxDelay} reorder=${s.reorder} mtu=${s.mtu || "none"}${rules} lifetime=${s.lifetime}`;
}

export default function main(): void {
  const settings = parseArguments(argv());
  const proxy = new LossyProxy(settings);
  const counters = () => JSON.stringify({ ...proxy.counters, active: proxy.clientCount });
  Control.register("stats", () => counters());
  trace(`proxy: listening on udp/${proxy.port} -> ${settings.serverAddress}:${settings.serverPort} ${describe(settings)}\n`);
  Timer.set(() => {
    trace(`proxy: lifetime over; counters ${counters()}\n`);
    proxy.close();
    exit(0);
  }, settings.lifetime * 1000);
}
