/*
 * Seeded mutational fuzz of the CoAP server path, in the simulator host: datagrams
 * built from a grammar of requests (every option the server knows, and some it does
 * not), then mutated byte-wise and structurally, from many peers, into a CoapServer
 * wired like main.ts (its limits, the /light resource, /.well-known/core) plus a
 * block-wise, an asynchronous and a failing resource. The clock moves, deadlines
 * are served, the light changes (notifications), peers answer ACK/RST to what the
 * server sent.
 *
 * Checked after every datagram: nothing escapes receive()/tick()/notify(), the
 * server reports no internal failure (" failed: " in its log), every datagram it
 * sends decodes; every 1,000: every cache within DEFAULT_LIMITS. At the end: the
 * heap after the warm-up and at the end (flat), everything drains with time.
 *
 * Long run (npm run fuzz): build/host/xshost -I host-tests/host/js -I build/ts/modules
 *   -I build/ts host-tests/reliability/fuzz-coap [COUNT] [SEED]
 * prints datagrams/s and the seed; exit status 1 on a finding, with the datagram.
 * The short run is reliability/fuzz.test.ts (part of npm test).
 */
import { argv, exit, gc, heapBytes, now } from "host/runtime";
import { seededRandom, sleep, toHex } from "../lib/harness";
import { decode, encode, type CoapOption } from "coap/codec";
import { Code, ContentFormat, DEFAULT_LIMITS, Option, Type, formatType, type Limits } from "coap/numbers";
import { encodeBlock, encodeUint } from "coap/options";
import { CoapServer, type Peer, type ServerStats } from "coap/server";
import { Light, lightResource } from "light/light";
import { FakeClock } from "../lib/clock";

export interface FuzzOptions {
  count: number;
  seed: number;
  /** stop early after this many ms (the short run in npm test) */
  timeLimit?: number;
  /** progress lines every N datagrams (0: none) */
  progress?: number;
}

export interface FuzzReport {
  seed: number;
  datagrams: number;
  seconds: number;
  perSecond: number;
  sent: number;
  /** responses by class: "2", "4", "5", and ACK/RST empties */
  answers: Record<string, number>;
  peak: ServerStats;
  heapWarm: number;
  heapEnd: number;
  /** the first finding, or undefined */
  finding?: string;
}

const LIMITS: Limits = { ...DEFAULT_LIMITS };

/** Heap growth (after GC) from the warm-up to the end of a long run that counts as a finding. */
const HEAP_GROWTH_FINDING = 1024 * 1024;

/** Bounds the stats must respect (the node's limits). */
const BOUNDS: [keyof ServerStats, number][] = [
  ["dedup", LIMITS.maxDedupEntries],
  ["dedupBytes", LIMITS.maxDedupBytes],
  ["pending", LIMITS.maxPendingCon],
  ["trackedNon", LIMITS.maxTrackedNon],
  ["observers", LIMITS.maxObservers],
  ["asyncExchanges", LIMITS.maxAsyncExchanges],
];

const PATHS = [["light"], [".well-known", "core"], ["big"], ["slow"], ["never"], ["throws"], ["missing"], ["light", "x"], ["."], [".."], []];
const QUERIES = ["rt=light", "href=/light", "rt=*", "if=core.a", "ct=0", "x", "=", "rt=temperature-c"];
const PAYLOADS = ["", "0", "1", "on", "off", "toggle", "true", '{"on":true}', '{"on":1}', "dim", "\u00ff\u00fe", "x".repeat(1100)];
const INTERESTING = [0x00, 0x01, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x3f, 0x40, 0x7f, 0x80, 0xd0, 0xe0, 0xef, 0xf0, 0xfe, 0xff];

function ascii(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i) & 0xff;
  return out;
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const { count, seed } = options;
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)];
  const bytes = (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = int(256);
    return out;
  };

  const clock = new FakeClock(1);
  let finding: string | undefined;
  let current = "";
  let sent = 0;
  const answers: Record<string, number> = {};
  /** recent (peer, mid, token) the server sent, for ACK/RST answers */
  const recent: { peer: Peer; mid: number; type: number }[] = [];
  /** recent datagrams we sent, for replays (deduplication) */
  const replays: { datagram: Uint8Array; peer: Peer }[] = [];
  const fail = (what: string) => {
    if (!finding) finding = `seed ${seed}: ${what}; last datagram <${current}>`;
  };

  let stored: boolean | undefined;
  const light = new Light({ set() {} }, { load: () => stored, save: (on) => { stored = on; } });
  const server: CoapServer = new CoapServer({
    send: (datagram, peer) => {
      sent++;
      try {
        const message = decode(datagram);
        const key = message.code === 0 ? formatType(message.type) : `${message.code >> 5}.xx`;
        answers[key] = (answers[key] ?? 0) + 1;
        if (message.type === Type.CON || message.type === Type.NON) {
          recent[sent % 16] = { peer, mid: message.mid, type: message.type };
        }
      } catch (error) {
        fail(`sent a malformed datagram <${toHex(datagram)}>: ${error}`);
      }
    },
    random: seededRandom(seed ^ 0x5eed),
    log: (message) => {
      if (/ failed: /.test(message)) fail(`internal failure: ${message}`);
    },
    limits: LIMITS,
  });
  server.add("light", lightResource(light));
  light.onChange(() => server.notify("light", clock.now));
  const big = ascii("b".repeat(2500));
  server.add("big", { observable: true, rt: "big", get: () => ({ payload: big }) });
  server.add("slow", { observable: true, get: () => new Promise((resolve) => resolve({ payload: "later" })) });
  server.add("never", { get: () => new Promise(() => {}) });
  server.add("throws", { post: () => { throw new Error("handler fault"); }, get: () => ({ code: Code.CONTENT, payload: new Uint8Array(2000) }) });

  const peers: Peer[] = [];
  for (let i = 0; i < 40; i++) {
    const v6 = i % 5 === 4;
    peers.push({
      address: v6 ? `2001:db8::${i.toString(16)}` : `192.0.2.${i % 20}`,
      port: 5000 + (i % 7),
      session: i >= 32 ? `dtls${i}` : undefined,
    });
  }

  const randomOption = (): CoapOption => {
    const r = int(20);
    switch (r) {
      case 0: return { number: Option.OBSERVE, value: encodeUint(pick([0, 1, 0, 2, 0xffffff])) };
      case 1: return { number: Option.ACCEPT, value: encodeUint(pick([ContentFormat.TEXT_PLAIN, ContentFormat.JSON, ContentFormat.LINK_FORMAT, 65535, 9999])) };
      case 2: return { number: Option.CONTENT_FORMAT, value: encodeUint(pick([0, 50, 42, 40, 60000])) };
      case 3: return { number: Option.BLOCK2, value: encodeBlock({ num: int(6) === 0 ? int(1 << 20) : int(8), more: random() < 0.3, szx: int(8) }) };
      case 4: return { number: Option.BLOCK1, value: encodeBlock({ num: int(3), more: random() < 0.5, szx: int(7) }) };
      case 5: return { number: Option.SIZE1, value: encodeUint(int(5000)) };
      case 6: return { number: Option.SIZE2, value: encodeUint(0) };
      case 7: return { number: Option.URI_QUERY, value: ascii(pick(QUERIES)) };
      case 8: return { number: Option.ETAG, value: bytes(int(10)) };
      case 9: return { number: Option.IF_MATCH, value: bytes(int(9)) };
      case 10: return { number: Option.IF_NONE_MATCH, value: bytes(int(2)) };
      case 11: return { number: Option.URI_HOST, value: ascii("node.local") };
      case 12: return { number: Option.URI_PORT, value: encodeUint(int(70000)) };
      case 13: return { number: Option.PROXY_URI, value: ascii("coap://x/") };
      case 14: return { number: Option.MAX_AGE, value: encodeUint(int(100)) };
      case 15: return { number: Option.NO_RESPONSE, value: encodeUint(int(256)) };
      case 16: return { number: 2 * int(30000) + 1, value: bytes(int(4)) }; // unknown critical
      case 17: return { number: 2 * int(30000), value: bytes(int(4)) }; // unknown elective
      case 18: return { number: Option.URI_PATH, value: bytes(int(4)) }; // maybe not UTF-8
      default: return { number: pick([Option.OBSERVE, Option.URI_PATH, Option.ACCEPT]), value: bytes(int(5)) }; // bad lengths
    }
  };

  const generate = (): Uint8Array => {
    const options: CoapOption[] = [];
    const path = pick(PATHS);
    for (const segment of path) options.push({ number: Option.URI_PATH, value: ascii(segment) });
    const extra = int(4) === 0 ? int(6) : int(2);
    for (let i = 0; i < extra; i++) options.push(randomOption());
    const typeRoll = int(10);
    const type = typeRoll < 7 ? Type.CON : typeRoll < 9 ? Type.NON : pick([Type.ACK, Type.RST]);
    const code = int(8) === 0 ? int(256) : pick([Code.GET, Code.GET, Code.GET, Code.PUT, Code.POST, Code.DELETE, Code.FETCH, Code.CONTENT, Code.EMPTY]);
    // now and then a word never seen before: input that must not cost memory for good
    const text = int(50) === 0 ? `w${int(1 << 30).toString(36)}` : pick(PAYLOADS);
    const payload = code === Code.PUT || int(8) === 0 ? ascii(text) : new Uint8Array(0);
    try {
      return encode({ type, code, mid: int(0x10000), token: bytes(int(9)), options, payload: code === 0 ? new Uint8Array(0) : payload });
    } catch {
      return new Uint8Array([0x40 | (type << 4), 0, int(256), int(256)]); // an Empty message cannot carry any of that
    }
  };

  const mutate = (source: Uint8Array): Uint8Array => {
    let out: Uint8Array = source.slice();
    const edits = 1 + int(4);
    for (let e = 0; e < edits; e++) {
      const kind = int(9);
      const at = int(out.length + 1);
      if (kind === 0 && out.length) out[int(out.length)] ^= 1 << int(8);
      else if (kind === 1 && out.length) out[int(out.length)] = pick(INTERESTING);
      else if (kind === 2 && out.length) out[int(out.length)] = int(256);
      else if (kind === 3) out = out.slice(0, at); // truncate
      else if (kind === 4) {
        const insert = int(3) === 0 ? bytes(1 + int(8)) : new Uint8Array([pick(INTERESTING)]);
        const next = new Uint8Array(out.length + insert.length);
        next.set(out.subarray(0, at));
        next.set(insert, at);
        next.set(out.subarray(at), at + insert.length);
        out = next;
      } else if (kind === 5 && out.length > 4) {
        // delete a run
        const from = 4 + int(out.length - 4);
        const to = Math.min(out.length, from + 1 + int(4));
        const next = new Uint8Array(out.length - (to - from));
        next.set(out.subarray(0, from));
        next.set(out.subarray(to), from);
        out = next;
      } else if (kind === 6 && out.length > 4) {
        // duplicate a run (repeated options, long option chains)
        const from = 4 + int(out.length - 4);
        const run = out.slice(from, Math.min(out.length, from + 1 + int(8)));
        const next = new Uint8Array(out.length + run.length);
        next.set(out.subarray(0, from + run.length));
        next.set(run, from + run.length);
        next.set(out.subarray(from + run.length), from + 2 * run.length);
        out = next;
      } else if (kind === 7 && out.length >= 1) {
        out[0] = (out[0] & 0xf0) | int(16); // token length, 9-15 reserved
      } else if (out.length >= 4) {
        out[2] = int(256); // fresh Message ID: past deduplication
        out[3] = int(256);
      }
    }
    return out.length > 1472 ? out.slice(0, 1472) : out;
  };

  const peak = Object.fromEntries(BOUNDS.map(([name]) => [name, 0])) as unknown as ServerStats;
  const started = now();
  let heapWarm = 0;
  let done = 0;
  const warmAt = Math.min(20_000, Math.floor(count / 2));
  for (let i = 0; i < count && !finding; i++) {
    let datagram: Uint8Array;
    let peer = pick(peers);
    const r = random();
    if (r < 0.05) datagram = bytes(int(24)); // noise
    else if (r < 0.35) datagram = generate();
    else if (r < 0.8) datagram = mutate(generate());
    else if (r < 0.9 && replays.length) {
      const replay = pick(replays); // the same datagram again: deduplication and replay
      datagram = replay.datagram;
      peer = replay.peer;
    } else {
      const target = recent[int(16)];
      if (target) {
        peer = target.peer;
        datagram = new Uint8Array([target.type === Type.CON && int(2) ? 0x60 : 0x70, 0, target.mid >> 8, target.mid & 0xff]);
      } else datagram = generate();
    }
    current = toHex(datagram);
    replays[i % 32] = { datagram, peer };
    try {
      server.receive(datagram, peer, clock.now);
      if (i % 16 === 15) {
        clock.skip(int(3) === 0 ? int(60_000) : int(800));
        // the timer firing: what is due (retransmissions, expiries, answers of settled asynchronous handlers)
        for (let guard = 0; guard < 64; guard++) if (!clock.fire(server)) break;
      }
      if (i % 200 === 199) light.set(!light.on);
      if (i % 997 === 996) server.notify(pick(["big", "slow", "light", "missing"]), clock.now);
      if (i % 5003 === 5002) server.dropPeer(pick(peers), clock.now);
    } catch (error) {
      fail(`datagram ${i} escaped: ${error}`);
    }
    if (i % 1000 === 999) {
      // let promise jobs run (asynchronous handlers settle), as the host's event loop does between datagrams
      await sleep(0);
      const stats = server.stats();
      for (const [name, bound] of BOUNDS) {
        peak[name] = Math.max(peak[name], stats[name]);
        if (stats[name] > bound) fail(`after ${i + 1} datagrams ${name} ${stats[name]} exceeds ${bound}`);
      }
      if (options.timeLimit !== undefined && now() - started > options.timeLimit) {
        done = i + 1;
        break;
      }
      if (options.progress && (i + 1) % options.progress === 0) {
        trace(`fuzz-coap: ${i + 1} datagrams, ${Math.round((i + 1) / ((now() - started) / 1000))}/s, peaks ${JSON.stringify(peak)}\n`);
      }
    }
    if (i + 1 === warmAt) {
      gc();
      heapWarm = heapBytes();
    }
    done = i + 1;
  }
  const seconds = (now() - started) / 1000;
  await sleep(0);
  gc();
  const heapEnd = heapBytes();
  // with time everything expires: nothing is kept for ever (the answers of handlers settled by now go out at the first tick)
  if (!finding) {
    for (let t = 0; t < 400; t++) {
      clock.skip(1000);
      server.tick(clock.now);
    }
    const drained = server.stats();
    for (const name of ["dedup", "pending", "trackedNon"] as const) {
      if (drained[name] !== 0) fail(`${name} did not drain: ${drained[name]}`);
    }
  }
  return { seed, datagrams: done, seconds, perSecond: Math.round(done / seconds), sent, answers, peak, heapWarm, heapEnd, finding };
}

export default async function main(): Promise<void> {
  const args = argv();
  const count = args[0] ? Number(args[0]) : 1_000_000;
  const seed = args[1] ? Number(args[1]) >>> 0 : (Date.now() >>> 0);
  if (!(count > 0 && Number.isInteger(count))) throw new RangeError(`a datagram count, not "${args[0]}"`);
  trace(`fuzz-coap: ${count} datagrams, seed ${seed}\n`);
  const report = await runFuzz({ count, seed, progress: 100_000 });
  trace(`fuzz-coap: ${report.datagrams} datagrams in ${report.seconds.toFixed(1)} s = ${report.perSecond} datagrams/s; seed ${seed}; ${report.sent} sent ${JSON.stringify(report.answers)}; peaks ${JSON.stringify(report.peak)}; heap ${report.heapWarm} B after warm-up, ${report.heapEnd} B at the end\n`);
  const growth = report.heapEnd - report.heapWarm;
  if (!report.finding && growth > HEAP_GROWTH_FINDING) report.finding = `seed ${seed}: the heap grew by ${growth} B after the warm-up`;
  if (report.finding) {
    trace(`fuzz-coap: FINDING ${report.finding}\n`);
    exit(1);
    return;
  }
  trace(`fuzz-coap: no finding\n`);
  exit(0);
}
