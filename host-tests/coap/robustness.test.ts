/*
 * Robustness: 100,000 random and mutated datagrams from many peers into a server
 * with a few resources (observable, block-wise, asynchronous, failing), with the
 * clock moving, ticks and notifications in between. Nothing may escape, no
 * internal step may fail (the server logs such failures: there must be none),
 * every datagram the server sends must decode, and every cache stays within its
 * limit. Seeded from the clock; the seed is in every failure message.
 */
import { test, assert, fromHex, seededRandom, sleep, toHex } from "../lib/harness";
import { FakeClock } from "../lib/clock";
import { decode, encode, type CoapOption } from "coap/codec";
import { Code, ContentFormat, Option, Type, type Limits } from "coap/numbers";
import { encodeBlock, encodeUint, setUriPath, setUriQuery } from "coap/options";
import { CoapServer, type Peer, type ServerStats } from "coap/server";

const DATAGRAMS = 100_000;

const LIMITS: Partial<Limits> = {
  maxDedupEntries: 16,
  maxDedupBytes: 4096,
  maxPendingCon: 8,
  maxTrackedNon: 8,
  maxObserversPerResource: 3,
  maxObservers: 5,
  maxAsyncExchanges: 4,
  asyncHandlerTimeout: 3000,
};

function withinLimits(stats: ServerStats, where: string): void {
  const bounds: [keyof ServerStats, number][] = [
    ["dedup", LIMITS.maxDedupEntries!],
    ["dedupBytes", LIMITS.maxDedupBytes!],
    ["pending", LIMITS.maxPendingCon!],
    ["trackedNon", LIMITS.maxTrackedNon!],
    ["observers", LIMITS.maxObservers!],
    ["asyncExchanges", LIMITS.maxAsyncExchanges! * stats.resources], // the limit is per resource
  ];
  for (const [name, bound] of bounds) {
    if (!(stats[name] <= bound)) assert.fail(`${where}: ${name} ${stats[name]} exceeds ${bound} (${JSON.stringify(stats)})`);
  }
}

function template(type: Type, code: number, path: string, options: CoapOption[] = [], payload = "", query: string[] = []): Uint8Array {
  const all = options.slice();
  setUriPath(all, path);
  if (query.length) setUriQuery(all, query);
  return encode({ type, code, mid: 0x1234, token: fromHex("a1b2c3"), options: all, payload: new TextBytes(payload).bytes });
}

/** ASCII only: enough for templates, and no dependency on the engine's UTF-8 helpers. */
class TextBytes {
  readonly bytes: Uint8Array;
  constructor(text: string) {
    this.bytes = new Uint8Array(text.length);
    for (let i = 0; i < text.length; i++) this.bytes[i] = text.charCodeAt(i) & 0x7f;
  }
}

const uint = (number: number, value: number): CoapOption => ({ number, value: encodeUint(value) });

const TEMPLATES: Uint8Array[] = [
  template(Type.CON, Code.GET, "light"),
  template(Type.CON, Code.GET, "light", [uint(Option.OBSERVE, 0)]),
  template(Type.NON, Code.GET, "light", [uint(Option.OBSERVE, 0), uint(Option.ACCEPT, ContentFormat.JSON)]),
  template(Type.CON, Code.GET, "light", [uint(Option.OBSERVE, 1)]),
  template(Type.CON, Code.PUT, "light", [uint(Option.CONTENT_FORMAT, 0)], "1"),
  template(Type.CON, Code.PUT, "light", [], "toggle"),
  template(Type.CON, Code.GET, "big", [{ number: Option.BLOCK2, value: encodeBlock({ num: 3, more: false, szx: 2 }) }]),
  template(Type.CON, Code.GET, "big", [uint(Option.OBSERVE, 0)]),
  template(Type.CON, Code.GET, ".well-known/core", [], "", ["rt=light"]),
  template(Type.CON, Code.GET, "slow"),
  template(Type.CON, Code.GET, "never"),
  template(Type.CON, Code.POST, "throws", [], "x"),
  template(Type.CON, Code.GET, "missing"),
  template(Type.CON, Code.GET, "light", [{ number: 9, value: fromHex("00") }]),
  fromHex("40001234"), // ping
  fromHex("60001234"), // ACK
  fromHex("70001234"), // RST
];

test(`robustness: ${DATAGRAMS} random and mutated datagrams; nothing escapes, caches stay bounded`, async () => {
  const seed = Date.now() >>> 0;
  const random = seededRandom(seed);
  const int = (n: number) => Math.floor(random() * n);
  const clock = new FakeClock(0);
  const state = { sent: 0, failures: [] as string[] };
  const recentMids: number[] = [];
  const server = new CoapServer({
    send: (bytes) => {
      state.sent++;
      try {
        recentMids[state.sent % 8] = decode(bytes).mid;
      } catch (error) {
        state.failures.push(`sent a malformed datagram <${toHex(bytes)}>: ${error}`);
      }
    },
    random: seededRandom(seed ^ 0x5eed),
    log: (message) => {
      // the server reports what it survived; an internal exception is a failure
      if (/ failed: /.test(message)) state.failures.push(message);
    },
    limits: LIMITS,
  });
  let light = false;
  const big = new Uint8Array(2000).fill(0x42);
  server.add("light", {
    observable: true,
    rt: "light",
    accepts: [ContentFormat.TEXT_PLAIN],
    produces: [ContentFormat.TEXT_PLAIN, ContentFormat.JSON],
    get: (req) => (req.accept === ContentFormat.JSON ? { contentFormat: 50, payload: `{"on":${light}}` } : { payload: light ? "1" : "0" }),
    put: (req) => {
      const body = req.text();
      if (body === "toggle") light = !light;
      else if (body === "0" || body === "1") light = body === "1";
      else return { code: Code.BAD_REQUEST, payload: "bad state" };
      return {};
    },
  });
  server.add("big", { observable: true, get: () => ({ payload: big }) });
  server.add("slow", { observable: true, get: async () => ({ payload: "later" }) });
  server.add("never", { get: () => new Promise(() => {}) });
  server.add("throws", { post: () => { throw new Error("handler fault"); } });

  const peers: Peer[] = [];
  for (let i = 0; i < 12; i++) peers.push({ address: `198.51.100.${i % 6}`, port: 1000 + (i % 4), session: i >= 8 ? `s${i}` : undefined });

  const mutate = (source: Uint8Array): Uint8Array => {
    let bytes: Uint8Array = source.slice();
    const edits = 1 + int(3);
    for (let e = 0; e < edits; e++) {
      const kind = int(5);
      if (kind === 0 && bytes.length) bytes[int(bytes.length)] ^= 1 << int(8); // bit flip
      else if (kind === 1 && bytes.length) bytes[int(bytes.length)] = int(256); // byte replaced
      else if (kind === 2) bytes = bytes.slice(0, int(bytes.length + 1)); // truncated
      else if (kind === 3) {
        // random bytes inserted
        const at = int(bytes.length + 1);
        const extra = new Uint8Array(1 + int(6)).map(() => int(256));
        const out = new Uint8Array(bytes.length + extra.length);
        out.set(bytes.subarray(0, at));
        out.set(extra, at);
        out.set(bytes.subarray(at), at + extra.length);
        bytes = out;
      } else if (bytes.length >= 4) {
        // a fresh Message ID, so that deduplication does not swallow the rest
        bytes[2] = int(256);
        bytes[3] = int(256);
      }
    }
    return bytes;
  };

  // the largest sizes seen, to show the limits were reached (so the bounds were exercised)
  const peak: ServerStats = { dedup: 0, dedupBytes: 0, pending: 0, trackedNon: 0, observers: 0, asyncExchanges: 0, resources: 0, uploads: 0 };
  for (let i = 0; i < DATAGRAMS; i++) {
    const r = random();
    let datagram: Uint8Array;
    if (r < 0.15) {
      datagram = new Uint8Array(int(40)).map(() => int(256)); // noise
    } else if (r < 0.3) {
      // noise behind a valid version-1 header: reaches the option parser
      datagram = new Uint8Array(4 + int(40)).map(() => int(256));
      datagram[0] = 0x40 | (datagram[0] & 0x3f);
    } else if (r < 0.75) {
      datagram = mutate(TEMPLATES[int(TEMPLATES.length)]);
    } else if (r < 0.92) {
      datagram = TEMPLATES[int(TEMPLATES.length)].slice();
      datagram[2] = int(256);
      datagram[3] = int(256);
    } else {
      // an ACK or RST for something we may have sent
      const mid = recentMids[int(8)] ?? int(0x10000);
      datagram = encode({ type: random() < 0.5 ? Type.ACK : Type.RST, code: 0, mid, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) });
    }
    const peer = peers[int(peers.length)];
    try {
      server.receive(datagram, peer, clock.now);
    } catch (error) {
      assert.fail(`seed ${seed}, datagram ${i} <${toHex(datagram)}>: receive threw ${error}`);
    }
    if (state.failures.length) assert.fail(`seed ${seed}, datagram ${i} <${toHex(datagram)}>: ${state.failures[0]}`);

    if (i % 64 === 63) {
      clock.skip(int(4000));
      server.tick(clock.now);
    }
    if (i % 500 === 499) server.notify(random() < 0.5 ? "light" : "big", clock.now);
    if (i % 1000 === 999) {
      if (random() < 0.2) server.dropPeer(peers[int(peers.length)], clock.now);
      const stats = server.stats();
      withinLimits(stats, `seed ${seed}, after ${i + 1} datagrams`);
      for (const name of Object.keys(peak) as (keyof ServerStats)[]) peak[name] = Math.max(peak[name], stats[name]);
      await sleep(0); // let asynchronous handlers settle
      server.tick(clock.now); // and send what they answered
      if (state.failures.length) assert.fail(`seed ${seed}, near datagram ${i}: ${state.failures[0]}`);
    }
  }
  withinLimits(server.stats(), `seed ${seed}, at the end`);
  trace(`robustness peaks: ${JSON.stringify(peak)}\n`);
  assert.equal(peak.dedup, LIMITS.maxDedupEntries, `seed ${seed}: the dedup bound was reached`);
  assert.equal(peak.pending, LIMITS.maxPendingCon, `seed ${seed}: the pending-CON bound was reached`);
  assert.equal(peak.observers, LIMITS.maxObservers, `seed ${seed}: the observer bound was reached`);

  // with time, everything expires: nothing is kept for ever
  await sleep(0);
  for (let t = 0; t < 400; t++) {
    clock.skip(1000);
    server.tick(clock.now);
  }
  const drained = server.stats();
  assert.equal(drained.dedup, 0, `seed ${seed}: dedup drained`);
  assert.equal(drained.pending, 0, `seed ${seed}: pending drained`);
  assert.equal(drained.trackedNon, 0, `seed ${seed}: tracked NON drained`);
  assert.equal(drained.asyncExchanges, 0, `seed ${seed}: async exchanges drained`);
  assert.equal(state.failures.length, 0, `seed ${seed}: ${state.failures[0]}`);
  assert.atLeast(state.sent, DATAGRAMS / 10, "the server answered a fair share");
}, { timeout: 120_000 });
