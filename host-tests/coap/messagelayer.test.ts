/*
 * Message layer tests (RFC 7252 sec 4 and 5.2): piggybacked and separate
 * responses (Appendix A figures 16-22 byte for byte), deduplication with
 * byte-identical replay, retransmission timing on a fake clock, ping -> RST,
 * rejection of malformed and unexpected messages, bounded caches.
 */
import { test, assert, fromHex, toHex, seededRandom, sleep } from "../lib/harness";
import { FakeClock } from "../lib/clock";
import { decode, encode, type CoapOption } from "coap/codec";
import { MessageLayer } from "coap/messagelayer";
import { type ConOutcome, type Exchange, type Peer } from "coap/exchange";
import { Code, DEFAULT_LIMITS, DEFAULT_TRANSPORT, EXCHANGE_LIFETIME, NON_LIFETIME, Option, Type, type Limits } from "coap/numbers";
import { getUint, setUriPath } from "coap/options";
import { CoapServer } from "coap/server";
import { utf8Encode } from "coap/utf8";

// assert.ok is an assertion signature; called through the untyped `assert` object tsc refuses it (TS2775)
const ok: (value: unknown, message?: string) => void = assert.ok;

const CLIENT: Peer = { address: "192.0.2.1", port: 50000 };
const OTHER: Peer = { address: "192.0.2.2", port: 50000 };

interface RigOptions {
  random?: () => number;
  limits?: Partial<Limits>;
}

/** A server on a fake clock that records what it sends. */
function rig(options: RigOptions = {}) {
  const clock = new FakeClock(1_000_000);
  const sent: { bytes: Uint8Array; peer: Peer }[] = [];
  const logs: string[] = [];
  const server = new CoapServer({
    send: (bytes, peer) => sent.push({ bytes, peer }),
    random: options.random ?? seededRandom(7),
    log: (message) => logs.push(message),
    limits: options.limits,
  });
  return {
    server,
    sent,
    logs,
    clock,
    /** moves the clock by `ms`, then one tick (not one per deadline on the way) */
    advance(ms: number) {
      clock.skip(ms);
      server.tick(clock.now);
    },
    /** the datagrams sent since the last call, as hex */
    take(): string[] {
      return sent.splice(0).map((s) => toHex(s.bytes));
    },
  };
}

/** A random source whose first value makes the server's first Message ID `mid`. */
function midSource(mid: number): () => number {
  let first = true;
  return () => {
    if (first) {
      first = false;
      return mid / 0x10000;
    }
    return 0;
  };
}

interface RequestFields {
  type?: Type;
  code?: number;
  mid: number;
  token?: string;
  path?: string;
  options?: CoapOption[];
  payload?: string;
}

function request(fields: RequestFields): Uint8Array {
  const options = fields.options ? fields.options.slice() : [];
  if (fields.path !== undefined) setUriPath(options, fields.path);
  return encode({
    type: fields.type ?? Type.CON,
    code: fields.code ?? Code.GET,
    mid: fields.mid,
    token: fromHex(fields.token ?? ""),
    options,
    payload: utf8Encode(fields.payload ?? ""),
  });
}

const hexOf = (text: string) => toHex(utf8Encode(text));
const TEMPERATURE = hexOf("temperature");
const READING = hexOf("22.3 C");

/** /temperature answers GET and POST with the same reading; calls() counts both handlers' runs. */
function temperatureServer(options: RigOptions = {}) {
  const r = rig(options);
  let calls = 0;
  const read = () => (calls++, { code: Code.CONTENT, payload: "22.3 C" });
  r.server.add("temperature", { get: read, post: read });
  return { ...r, calls: () => calls };
}

test("message layer: piggybacked response, RFC 7252 figures 16 and 17 byte for byte", () => {
  const r = temperatureServer();
  r.server.receive(fromHex("40017d34bb" + TEMPERATURE), CLIENT, r.clock.now);
  assert.deepEqual(r.take(), ["60457d34ff" + READING]);
  r.server.receive(fromHex("41017d3520bb" + TEMPERATURE), CLIENT, r.clock.now);
  assert.deepEqual(r.take(), ["61457d3520ff" + READING]);
  assert.equal(r.sent.length, 0);
});

test("message layer: a retransmitted CON is answered again, byte-identical (figures 18, 19): a GET by running it again (sec 4.5), a POST from the cache, its handler run once", () => {
  const r = temperatureServer();
  const get = fromHex("41017d3742bb" + TEMPERATURE);
  r.server.receive(get, CLIENT, r.clock.now);
  r.clock.skip(DEFAULT_TRANSPORT.ackTimeout);
  r.server.receive(get, CLIENT, r.clock.now);
  const [first, second] = r.take();
  assert.equal(first, "61457d3742ff" + READING);
  assert.equal(second, first);
  assert.equal(r.calls(), 2, "a GET answered at once is not remembered: safe to run again");
  assert.equal(r.server.stats().dedup, 0);

  const post = fromHex("41027d4342bb" + TEMPERATURE);
  r.server.receive(post, CLIENT, r.clock.now);
  r.clock.skip(DEFAULT_TRANSPORT.ackTimeout);
  r.server.receive(post, CLIENT, r.clock.now);
  const [answer, again] = r.take();
  assert.equal(answer, "61457d4342ff" + READING);
  assert.equal(again, answer);
  assert.equal(r.calls(), 3, "the POST ran once");
  // the same Message ID from another endpoint is another request
  r.server.receive(post, OTHER, r.clock.now);
  assert.equal(r.calls(), 4);
});

test("message layer: separate response for an asynchronous handler (figure 20)", async () => {
  const r = rig({ random: midSource(0xad7b) });
  let calls = 0;
  let finish!: () => void;
  r.server.add("temperature", {
    get: () => {
      calls++;
      return new Promise((resolve) => (finish = () => resolve({ payload: "22.3 C" })));
    },
  });
  const bytes = fromHex("41017d3853bb" + TEMPERATURE);
  r.server.receive(bytes, CLIENT, r.clock.now);
  assert.deepEqual(r.take(), ["60007d38"], "Empty ACK at once");
  // the client retransmits before the answer is ready: the Empty ACK again, no second run
  r.server.receive(bytes, CLIENT, r.clock.now);
  assert.deepEqual(r.take(), ["60007d38"]);
  assert.equal(calls, 1);
  finish();
  await sleep(0);
  assert.deepEqual(r.take(), [], "the answer waits for the next tick");
  assert.equal(r.server.nextDeadline(), -Infinity, "due at once");
  r.server.tick(r.clock.now);
  assert.deepEqual(r.take(), ["4145ad7b53ff" + READING], "CON response with our Message ID");
  assert.equal(r.server.stats().pending, 1);
  r.server.receive(fromHex("6000ad7b"), CLIENT, r.clock.now); // the client's ACK
  assert.equal(r.server.stats().pending, 0);
  r.advance(100_000);
  assert.deepEqual(r.take(), [], "no retransmission after the ACK");
});

test("message layer: a RST to a separate response stops it (figure 21)", async () => {
  const r = rig({ random: midSource(0xad7c) });
  r.server.add("temperature", { get: async () => ({ payload: "22.3 C" }) });
  r.server.receive(fromHex("41017d3964bb" + TEMPERATURE), CLIENT, r.clock.now);
  await sleep(0);
  r.server.tick(r.clock.now); // the asynchronous handler's answer goes out
  assert.deepEqual(r.take(), ["60007d39", "4145ad7c64ff" + READING]);
  r.server.receive(fromHex("7000ad7c"), CLIENT, r.clock.now);
  assert.equal(r.server.stats().pending, 0);
  r.advance(100_000);
  assert.deepEqual(r.take(), []);
});

test("message layer: NON request gets a NON response (figure 22); a duplicate NON POST is dropped, a duplicate NON GET answered again", () => {
  const r = temperatureServer({ random: midSource(0xad7d) });
  const get = fromHex("51017d4075bb" + TEMPERATURE);
  r.server.receive(get, CLIENT, r.clock.now);
  assert.deepEqual(r.take(), ["5145ad7d75ff" + READING]);
  r.server.receive(get, CLIENT, r.clock.now);
  assert.deepEqual(r.take(), ["5145ad7e75ff" + READING], "safe: run again, a NON with our next Message ID");
  assert.equal(r.calls(), 2);

  const bytes = fromHex("51027d4175bb" + TEMPERATURE);
  r.server.receive(bytes, CLIENT, r.clock.now);
  assert.deepEqual(r.take(), ["5145ad7f75ff" + READING]);
  r.server.receive(bytes, CLIENT, r.clock.now);
  assert.deepEqual(r.take(), []);
  assert.equal(r.calls(), 3);
  // after NON_LIFETIME the Message ID may be used again
  r.advance(NON_LIFETIME);
  r.server.receive(bytes, CLIENT, r.clock.now);
  assert.equal(r.calls(), 4);
});

test("message layer: deduplication lasts EXCHANGE_LIFETIME, then the Message ID is new again", () => {
  const r = temperatureServer();
  const bytes = request({ mid: 0x1234, token: "aa", code: Code.POST, path: "temperature" });
  r.server.receive(bytes, CLIENT, r.clock.now);
  r.clock.skip(EXCHANGE_LIFETIME - 1);
  r.server.receive(bytes, CLIENT, r.clock.now);
  assert.equal(r.calls(), 1);
  assert.equal(r.server.nextDeadline(), r.clock.now + 1);
  r.advance(1);
  assert.equal(r.server.stats().dedup, 0);
  r.server.receive(bytes, CLIENT, r.clock.now);
  assert.equal(r.calls(), 2);
});

test("message layer: empty CON (ping) -> RST; empty NON is ignored", () => {
  const r = temperatureServer();
  r.server.receive(fromHex("4000beef"), CLIENT, r.clock.now);
  assert.deepEqual(r.take(), ["7000beef"]);
  r.server.receive(fromHex("5000beef"), CLIENT, r.clock.now);
  assert.deepEqual(r.take(), []);
});

test("message layer: malformed CON -> RST when the header is readable; otherwise silence", () => {
  const r = temperatureServer();
  r.server.receive(fromHex("4f01abcd"), CLIENT, r.clock.now); // TKL 15
  r.server.receive(fromHex("40010102ff"), CLIENT, r.clock.now); // marker without payload
  r.server.receive(fromHex("40010103f1"), CLIENT, r.clock.now); // option nibble 15
  assert.deepEqual(r.take(), ["7000abcd", "70000102", "70000103"]);
  r.server.receive(fromHex("5f01abcd"), CLIENT, r.clock.now); // malformed NON
  r.server.receive(fromHex("80010001"), CLIENT, r.clock.now); // version 2
  r.server.receive(fromHex("4001"), CLIENT, r.clock.now); // short
  r.server.receive(fromHex("6f01abcd"), CLIENT, r.clock.now); // malformed ACK
  assert.deepEqual(r.take(), []);
  assert.equal(r.calls(), 0);
});

test("message layer: responses we never asked for and reserved codes are rejected with RST", () => {
  const r = temperatureServer();
  r.server.receive(request({ mid: 7, code: Code.CONTENT, token: "01" }), CLIENT, r.clock.now); // CON 2.05
  r.server.receive(request({ type: Type.NON, mid: 8, code: Code.CONTENT, token: "01" }), CLIENT, r.clock.now); // NON 2.05
  r.server.receive(request({ mid: 9, code: 0x20 + 1, token: "01" }), CLIENT, r.clock.now); // CON 1.01 (reserved class)
  assert.deepEqual(r.take(), ["70000007", "70000008", "70000009"]);
  // an ACK or RST that matches nothing is ignored
  r.server.receive(fromHex("60000042"), CLIENT, r.clock.now);
  r.server.receive(fromHex("70000042"), CLIENT, r.clock.now);
  assert.deepEqual(r.take(), []);
});

/** A message layer alone, to watch retransmissions on a fake clock. */
function layer(randomValue: number, limits: Partial<Limits> = {}) {
  const clock = new FakeClock(0);
  const sent: { at: number; bytes: Uint8Array }[] = [];
  const outcomes: ConOutcome[] = [];
  const ml = new MessageLayer({
    send: (bytes, _peer, now) => sent.push({ at: now, bytes }),
    random: () => randomValue,
    log: () => {},
    limits: { ...DEFAULT_LIMITS, ...limits },
    transport: DEFAULT_TRANSPORT,
    onRequest: (exchange: Exchange, now: number) => exchange.respond({ code: Code.CONTENT, options: [], payload: new Uint8Array(0) }, now),
  });
  const parts = { code: Code.CONTENT, token: fromHex("01"), options: [], payload: utf8Encode("x") };
  /** runs the clock deadline by deadline until nothing is left or `until` */
  const runUntil = (until: number) => {
    for (let next = ml.nextDeadline(); next !== undefined && next <= until; next = ml.nextDeadline()) {
      clock.now = next;
      ml.tick(clock.now);
    }
    clock.now = until;
  };
  return { ml, clock, sent, outcomes, parts, runUntil };
}

test("message layer: CON retransmission follows RFC 7252 4.2 timing, then gives up", () => {
  // random 0.5 -> initial timeout 2000 * (1 + 0.5 * 0.5) = 2500 ms
  const l = layer(0.5);
  const mid = l.ml.sendConfirmable(l.parts, CLIENT, l.clock.now, { onDone: (o) => l.outcomes.push(o) });
  assert.equal(l.ml.nextDeadline(), 2500);
  l.runUntil(1_000_000);
  assert.deepEqual(l.sent.map((s) => s.at), [0, 2500, 7500, 17500, 37500], "1 send + MAX_RETRANSMIT (4) retransmissions, doubling");
  for (const s of l.sent) assert.equal(decode(s.bytes).mid, mid);
  assert.equal(toHex(l.sent[4].bytes), toHex(l.sent[0].bytes), "retransmissions are byte-identical");
  assert.deepEqual(l.outcomes, ["timeout"], "given up after the last timeout (77500 ms)");
  assert.equal(l.ml.stats().pending, 0);
});

test("message layer: the initial timeout stays within [ACK_TIMEOUT, ACK_TIMEOUT * ACK_RANDOM_FACTOR]", () => {
  for (const value of [0, 0.25, 0.999999]) {
    const l = layer(value);
    l.ml.sendConfirmable(l.parts, CLIENT, l.clock.now);
    const timeout = l.ml.nextDeadline()!;
    assert.atLeast(timeout, 2000);
    assert.less(timeout, 3000 + 1e-6);
  }
  // and the ACK stops it
  const l = layer(0);
  const mid = l.ml.sendConfirmable(l.parts, CLIENT, l.clock.now, { onDone: (o) => l.outcomes.push(o) });
  l.runUntil(2000);
  l.ml.receive(encode({ type: Type.ACK, code: 0, mid, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) }), CLIENT, l.clock.now);
  l.runUntil(100_000);
  assert.equal(l.sent.length, 2);
  assert.deepEqual(l.outcomes, ["ack"]);
  // an ACK from another endpoint does not count
  const m = layer(0);
  const mid2 = m.ml.sendConfirmable(m.parts, CLIENT, m.clock.now, { onDone: (o) => m.outcomes.push(o) });
  m.ml.receive(encode({ type: Type.ACK, code: 0, mid: mid2, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) }), OTHER, m.clock.now);
  assert.equal(m.ml.stats().pending, 1);
});

test("message layer: pending CONs are bounded, the oldest given up first", () => {
  const l = layer(0, { maxPendingCon: 3 });
  const outcomes = new Map<number, ConOutcome>();
  const mids: number[] = [];
  for (let i = 0; i < 5; i++) {
    const mid: number = l.ml.sendConfirmable(l.parts, CLIENT, l.clock.now, { onDone: (o) => outcomes.set(mid, o) });
    mids.push(mid);
  }
  assert.equal(l.ml.stats().pending, 3);
  assert.equal(outcomes.get(mids[0]), "evicted");
  assert.equal(outcomes.get(mids[1]), "evicted");
  assert.equal(outcomes.size, 2);
  assert.equal(l.ml.isPending(CLIENT, mids[4]), true);
});

test("message layer: deduplication: a share per peer (its own oldest gives way), the cache gives nothing up younger than MAX_TRANSMIT_WAIT, GETs take at most half; beyond: GETs run unremembered, other requests get 5.03 with Max-Age", () => {
  const THIRD: Peer = { address: "192.0.2.3", port: 50000 };
  const MAX_TRANSMIT_WAIT = 93_000; // 2 s x (2^5 - 1) x 1.5
  const r = temperatureServer({ limits: { maxDedupEntries: 8, maxDedupPerPeer: 4 } });
  let toggles = 0;
  r.server.add("toggle", { put: () => (toggles++, { code: Code.CHANGED }) });
  const put = (mid: number, peer: Peer) => r.server.receive(request({ mid, code: Code.PUT, path: "toggle", payload: "toggle" }), peer, r.clock.now);

  for (let mid = 1; mid <= 6; mid++) r.server.receive(request({ mid, path: "temperature" }), CLIENT, r.clock.now);
  assert.equal(r.calls(), 6);
  assert.equal(r.server.stats().dedup, 0, "GETs answered at once are not remembered");
  r.server.receive(request({ mid: 1, path: "temperature" }), CLIENT, r.clock.now);
  assert.equal(r.calls(), 7, "a duplicate GET runs again (safe)");

  for (let mid = 100; mid < 104; mid++) put(mid, CLIENT);
  assert.equal(toggles, 4, "a full share gives up the peer's own oldest entries");
  put(100, CLIENT);
  assert.equal(toggles, 4, "its newest are remembered");
  for (let mid = 100; mid < 104; mid++) put(mid, OTHER);
  assert.equal(toggles, 8, "another peer has a share of its own");
  assert.equal(r.server.stats().dedup, 8);

  r.take();
  put(1, THIRD);
  assert.equal(toggles, 8, "the cache is full of entries younger than MAX_TRANSMIT_WAIT: the PUT must not run unremembered");
  const refusal = decode(fromHex(r.take()[0]));
  assert.equal(refusal.type, Type.ACK);
  assert.equal(refusal.mid, 1);
  assert.equal(refusal.code, Code.SERVICE_UNAVAILABLE);
  assert.equal(getUint(refusal.options, Option.MAX_AGE), MAX_TRANSMIT_WAIT / 1000, "Max-Age: until the oldest entry may be given up");

  r.advance(MAX_TRANSMIT_WAIT);
  put(1, THIRD);
  assert.equal(toggles, 9, "the oldest entry is given up once past MAX_TRANSMIT_WAIT");
  put(103, OTHER);
  assert.equal(toggles, 9, "the others are still remembered: a late duplicate does not run again");
  ok(r.server.stats().dedupBytes > 0);
});

test("message layer: GETs answered separately are remembered (their Empty ACK) while the cache is under half full; beyond, a retransmission runs again", async () => {
  const r = rig({ limits: { maxDedupEntries: 8, maxDedupPerPeer: 8 } });
  let calls = 0;
  const finishers: (() => void)[] = [];
  r.server.add("slow", { get: () => (calls++, new Promise((resolve) => finishers.push(() => resolve({ payload: "x" })))) });
  for (let mid = 1; mid <= 6; mid++) r.server.receive(request({ mid, token: "0" + mid, path: "slow" }), CLIENT, r.clock.now);
  assert.equal(calls, 6);
  assert.equal(r.server.stats().dedup, 4, "at most half the cache");
  r.take();
  r.server.receive(request({ mid: 1, token: "01", path: "slow" }), CLIENT, r.clock.now);
  assert.deepEqual(r.take(), ["60000001"], "a remembered one: its Empty ACK again");
  assert.equal(calls, 6, "no second slow run");
  r.server.receive(request({ mid: 6, token: "06", path: "slow" }), CLIENT, r.clock.now);
  assert.equal(calls, 7, "one that found no room runs again (safe)");
  // while the cache holds them, GETs answered at once are looked up too, and still not remembered
  r.server.add("fast", { get: () => ({ payload: "y" }) });
  r.server.receive(request({ mid: 9, path: "fast" }), CLIENT, r.clock.now);
  assert.equal(r.server.stats().dedup, 4);
  for (const finish of finishers) finish();
  await sleep(0);
  r.server.tick(r.clock.now);
});

test("message layer: a retransmitted non-idempotent PUT runs once however many requests other peers send in between", () => {
  const r = temperatureServer();
  let toggles = 0;
  r.server.add("toggle", { put: () => (toggles++, { code: Code.CHANGED }) });
  r.server.receive(request({ mid: 7, code: Code.PUT, path: "toggle", payload: "toggle" }), CLIENT, r.clock.now);
  const first = r.take();
  for (let i = 0; i < 1000; i++) {
    const flooder: Peer = { address: `198.51.100.${i % 250}`, port: 40000 + i };
    r.server.receive(request({ mid: i, code: i % 2 ? Code.PUT : Code.GET, path: i % 2 ? "toggle" : "temperature", payload: "toggle" }), flooder, r.clock.now);
    if (i % 100 === 0) r.advance(1000);
  }
  const flood = toggles;
  r.take();
  r.advance(40_000); // the client's last retransmission (ACK_TIMEOUT 2 s, 4 retransmissions: up to 45 s after the first)
  r.server.receive(request({ mid: 7, code: Code.PUT, path: "toggle", payload: "toggle" }), CLIENT, r.clock.now);
  assert.equal(toggles, flood, "the retransmission did not run the PUT again");
  assert.deepEqual(r.take(), first, "the same reply again, byte for byte");
  ok(r.server.stats().dedup <= DEFAULT_LIMITS.maxDedupEntries, `bounded: ${r.server.stats().dedup}`);
});

test("message layer: dropPeer forgets the peer's exchanges", async () => {
  const r = rig({ random: midSource(1) });
  r.server.add("slow", { get: async () => ({ payload: "x" }) });
  r.server.receive(request({ mid: 1, token: "01", path: "slow" }), CLIENT, r.clock.now);
  r.server.receive(request({ mid: 1, token: "01", path: "slow" }), OTHER, r.clock.now);
  await sleep(0);
  r.server.tick(r.clock.now); // the two separate responses go out (CONs, pending)
  assert.equal(r.server.stats().pending, 2);
  assert.equal(r.server.stats().dedup, 2);
  r.server.dropPeer(CLIENT, r.clock.now);
  assert.equal(r.server.stats().pending, 1);
  assert.equal(r.server.stats().dedup, 1);
  // sessions are part of the identity
  r.server.receive(request({ mid: 2, token: "01", path: "slow" }), { ...CLIENT, session: "s1" }, r.clock.now);
  r.server.dropPeer(CLIENT, r.clock.now);
  assert.equal(r.server.stats().dedup, 2);
});

test("message layer: nextDeadline names the next retransmission; tick does it", async () => {
  const r = rig({ random: () => 0 });
  assert.equal(r.server.nextDeadline(), undefined);
  r.server.add("slow", { get: async () => ({ payload: "x" }) });
  r.server.receive(request({ mid: 5, token: "07", path: "slow" }), CLIENT, r.clock.now);
  await sleep(0);
  const start = r.clock.now;
  r.server.tick(start); // the asynchronous handler's answer goes out
  assert.deepEqual(r.take().length, 2); // Empty ACK + CON response
  assert.equal(r.server.nextDeadline(), start + 2000);
  r.clock.now = start + 1999;
  r.server.tick(r.clock.now);
  assert.deepEqual(r.take(), []);
  r.clock.now = start + 2000;
  r.server.tick(r.clock.now);
  const [again] = r.take();
  assert.equal(decode(fromHex(again)).type, Type.CON);
  assert.equal(r.server.nextDeadline(), start + 2000 + 4000);
});
