/*
 * Floods against CoapServer in this host, with a fake clock: the caches stay at
 * their bounds, the heap stays flat, abandoned observers go within RFC 7641's
 * limits, and every limit is logged once, not once per datagram.
 *
 * Timing limits (RFC 7252 sec 4.8.2, RFC 7641 sec 4.5): an observer that does not
 * acknowledge a CON notification is gone after MAX_TRANSMIT_WAIT (93 s) from that
 * notification; a CON goes out at least every NOTIFY_CON_EVERY notifications (and
 * every 24 h); a RST to any notification ends the observation at once.
 */
import { test, assert } from "../lib/harness";
import { gc, heapBytes } from "host/runtime";
import { decode, encode, type CoapMessage } from "coap/codec";
import { Code, DEFAULT_LIMITS, Option, Type, type Limits } from "coap/numbers";
import { setObserve, setUriPath } from "coap/options";
import { CoapServer, type Peer } from "coap/server";
import { Light, lightResource } from "light/light";
import { testSeed } from "./peers";
import { FakeClock } from "../lib/clock";

/** RFC 7252 sec 4.8.2: ACK_TIMEOUT * (2^(MAX_RETRANSMIT+1) - 1) * ACK_RANDOM_FACTOR */
const MAX_TRANSMIT_WAIT = 93_000;

interface Harness {
  server: CoapServer;
  light: Light;
  clock: FakeClock;
  out: { peer: Peer; message: CoapMessage }[];
  logs: string[];
  /** runs tick(now) at every deadline up to now + ms (synchronously: the handlers of /light are) */
  advance(ms: number): void;
}

function harness(limits: Partial<Limits> = {}, keepOutput = true): Harness {
  const clock = new FakeClock(1000);
  const out: Harness["out"] = [];
  const logs: string[] = [];
  let stored: boolean | undefined;
  const light = new Light({ set() {} }, { load: () => stored, save: (on) => { stored = on; } });
  const server: CoapServer = new CoapServer({
    send: (bytes, peer) => {
      if (keepOutput) out.push({ peer, message: decode(bytes) });
    },
    random: Math.random,
    log: (message) => logs.push(message),
    limits,
  });
  server.add("light", lightResource(light));
  light.onChange(() => server.notify("light", clock.now));
  return {
    server,
    light,
    clock,
    out,
    logs,
    advance(ms: number) {
      const end = clock.now + ms;
      for (let guard = 0; guard < 100_000; guard++) {
        const next = server.nextDeadline();
        if (next === undefined || next > end) break;
        clock.now = Math.max(clock.now, next);
        server.tick(clock.now);
      }
      clock.now = end;
    },
  };
}

function request(type: Type, code: number, mid: number, token: number, observe?: number, payload = ""): Uint8Array {
  const options: CoapMessage["options"] = [];
  setUriPath(options, "light");
  if (observe !== undefined) setObserve(options, observe);
  const body = new Uint8Array(payload.length);
  for (let i = 0; i < payload.length; i++) body[i] = payload.charCodeAt(i);
  return encode({ type, code, mid, token: new Uint8Array([token >> 8, token & 0xff]), options, payload: body });
}

function peerOf(i: number): Peer {
  return { address: `10.9.${i >> 8}.${i & 0xff}`, port: 40000 + (i % 1000) };
}

/** Log lines grouped by their text with numbers, addresses and ports masked: what repeats per datagram shows. */
function logShapes(logs: string[]): Map<string, number> {
  const shapes = new Map<string, number>();
  for (const line of logs) {
    const shape = line.replace(/[0-9a-f]+(?:[.:|][0-9a-f]+)+/g, "PEER").replace(/\d+/g, "N");
    shapes.set(shape, (shapes.get(shape) ?? 0) + 1);
  }
  return shapes;
}

function repeated(logs: string[]): string[] {
  return [...logShapes(logs)].filter(([, n]) => n > 1).map(([shape, n]) => `${n}x "${shape}"`);
}

test("10,000 CON requests from 100 peers: the dedup cache stays at its bound and the heap is flat", () => {
  const { server, clock, logs } = harness({}, false);
  const sizes: number[] = [];
  let heapWarm = 0;
  for (let i = 0; i < 10_000; i++) {
    const mid = i & 0xffff;
    const body = i % 4 === 0 ? request(Type.CON, Code.PUT, mid, i, undefined, i & 4 ? "1" : "0") : request(Type.CON, Code.GET, mid, i);
    server.receive(body, peerOf(i % 100), clock.now);
    clock.skip(1); // 10 s in all: nothing expires (EXCHANGE_LIFETIME is 247 s)
    if (i === 999) {
      gc();
      heapWarm = heapBytes();
    }
    if (i % 500 === 499) sizes.push(server.stats().dedup);
  }
  gc();
  const heapEnd = heapBytes();
  const stats = server.stats();
  trace(`  dedup ${stats.dedup} entries / ${stats.dedupBytes} bytes; heap after 1,000: ${heapWarm} B, after 10,000: ${heapEnd} B\n`);
  assert.equal(stats.dedup, DEFAULT_LIMITS.maxDedupEntries, "the cache is full, at its bound");
  assert.ok(sizes.every((n) => n === DEFAULT_LIMITS.maxDedupEntries), `full and never above: ${sizes}`);
  assert.ok(stats.dedupBytes <= DEFAULT_LIMITS.maxDedupBytes, `bytes within the bound: ${stats.dedupBytes}`);
  assert.less(heapEnd - heapWarm, 16 * 1024, "the heap does not grow with the number of requests");
  assert.deepEqual(repeated(logs), [], "nothing is logged per request");
});

function abandonObservers(limits: Partial<Limits>, observers: number): void {
  const h = harness({ maxObservers: observers, maxObserversPerResource: observers, ...limits }, false);
  for (let i = 0; i < observers; i++) h.server.receive(request(Type.CON, Code.GET, i, i, 0), peerOf(i), h.clock.now);
  assert.equal(h.server.observerCount("light"), observers, "all registered");
  // the observers vanish; the light keeps changing, once a second, until a notification goes CON
  for (let n = 1; n <= DEFAULT_LIMITS.notifyConEvery; n++) {
    h.advance(1000);
    h.light.set(!h.light.on);
  }
  const conSent = h.clock.now;
  h.advance(MAX_TRANSMIT_WAIT);
  const left = h.server.observerCount("light");
  const stats = h.server.stats();
  trace(`  ${left} of ${observers} observers left ${MAX_TRANSMIT_WAIT} ms after the CON notification; ${JSON.stringify(stats)}; log ${JSON.stringify([...logShapes(h.logs)])}\n`);
  assert.equal(left, 0, `observers left ${h.clock.now - conSent} ms after the CON notification`);
  assert.equal(stats.pending, 0, "nothing left to retransmit");
}

test("1,000 observers that never ACK are all removed within MAX_TRANSMIT_WAIT of their CON notification", () => {
  abandonObservers({ maxPendingCon: 1000 }, 1000);
});

/** A harness with `count` observers of /light registered (maxPendingCon at its default), its output emptied. */
function observed(count: number): Harness {
  const h = harness({ maxObservers: count, maxObserversPerResource: count });
  for (let i = 0; i < count; i++) h.server.receive(request(Type.CON, Code.GET, i, i, 0), peerOf(i), h.clock.now);
  assert.equal(h.server.observerCount("light"), count, "all registered");
  h.out.length = 0;
  return h;
}

test("with maxPendingCon at its default (16): abandoned observers go 16 at a time, each within MAX_TRANSMIT_WAIT of its CON, the rest hear NON meanwhile", () => {
  const OBSERVERS = 64;
  const h = observed(OBSERVERS);
  let peak = 0;
  const started = h.clock.now;
  // the observers vanish; the light changes once a second
  for (let second = 0; second < 1000 && h.server.observerCount("light") > 0; second++) {
    h.advance(1000);
    h.light.set(!h.light.on);
    peak = Math.max(peak, h.server.stats().pending);
  }
  const took = h.clock.now - started;
  const cons = h.out.filter(({ message }) => message.type === Type.CON && message.code === Code.CONTENT);
  const confirmed = new Set(cons.map(({ peer }) => `${peer.address}|${peer.port}`));
  trace(`  ${OBSERVERS} abandoned observers gone after ${took / 1000} s; ${cons.length} CON transmissions, ${h.out.length - cons.length} other datagrams; pending peak ${peak}\n`);
  assert.equal(h.server.observerCount("light"), 0, "every abandoned observer goes");
  assert.ok(peak <= DEFAULT_LIMITS.maxPendingCon, `the pending table stays at its bound: ${peak}`);
  assert.equal(confirmed.size, OBSERVERS, "each was removed after a CON of its own went unanswered, none for lack of room");
  // 16 at a time: 4 windows of MAX_TRANSMIT_WAIT after the first CON round (the 20th notification)
  assert.less(took, DEFAULT_LIMITS.notifyConEvery * 1000 + Math.ceil(OBSERVERS / DEFAULT_LIMITS.maxPendingCon) * (MAX_TRANSMIT_WAIT + 1000) + 1000, "16 per MAX_TRANSMIT_WAIT");
});

test("64 silent observers and no change at all: liveness probes go 16 at a time (the table's bound), the rest wait without waking the node", () => {
  const OBSERVERS = 64;
  const h = observed(OBSERVERS);
  const started = h.clock.now;
  let wakeups = 0;
  let peak = 0;
  for (; wakeups < 10_000 && h.server.observerCount("light") > 0; wakeups++) {
    const next = h.server.nextDeadline();
    if (next === undefined) break;
    h.clock.now = Math.max(h.clock.now, next);
    h.server.tick(h.clock.now);
    peak = Math.max(peak, h.server.stats().pending);
  }
  const took = h.clock.now - started;
  trace(`  ${OBSERVERS} silent observers gone after ${took / 1000} s, ${wakeups} wake-ups, ${h.out.length} datagrams, pending peak ${peak}\n`);
  assert.equal(h.server.observerCount("light"), 0, "every silent observer goes");
  assert.ok(peak <= DEFAULT_LIMITS.maxPendingCon, `the pending table stays at its bound: ${peak}`);
  // a wake-up per retransmission round of each group of 16 (5 rounds: 4 retransmissions, then the timeout), not one per millisecond
  assert.less(wakeups, (OBSERVERS / DEFAULT_LIMITS.maxPendingCon) * 16 * 6, "no busy wake-ups while the probes wait for room");
  assert.less(took, 60_000 + (OBSERVERS / DEFAULT_LIMITS.maxPendingCon) * (MAX_TRANSMIT_WAIT + 1000), "probe, 16 at a time");
});

test("live observers past maxPendingCon (64 against 16): CON rounds end no observation, every observer gets every state", () => {
  const OBSERVERS = 64;
  const h = observed(OBSERVERS);
  let peak = 0;
  let cons = 0;
  let nons = 0;
  const consTo = new Map<string, number>();
  const CHANGES = 3 * DEFAULT_LIMITS.notifyConEvery;
  for (let n = 0; n < CHANGES; n++) {
    h.advance(1000);
    h.light.set(!h.light.on);
    peak = Math.max(peak, h.server.stats().pending);
    const want = h.light.on ? "1" : "0";
    const heard = new Set<string>();
    // every observer hears this state; each CON is acknowledged, as a live client does
    for (const { peer, message } of h.out.splice(0)) {
      assert.equal(message.code, Code.CONTENT, "a 2.05 notification");
      assert.equal(String.fromCharCode(...message.payload), want, "the state just set");
      heard.add(`${peer.address}|${peer.port}`);
      if (message.type === Type.CON) {
        cons++;
        consTo.set(`${peer.address}|${peer.port}`, (consTo.get(`${peer.address}|${peer.port}`) ?? 0) + 1);
        h.server.receive(encode({ type: Type.ACK, code: Code.EMPTY, mid: message.mid, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) }), peer, h.clock.now);
      } else nons++;
    }
    assert.equal(heard.size, OBSERVERS, `change ${n + 1}: every observer notified`);
  }
  const stats = h.server.stats();
  trace(`  ${CHANGES} changes to ${OBSERVERS} observers: ${cons} CON, ${nons} NON; pending peak ${peak}; limit hits ${JSON.stringify(h.server.limitHits())}; log ${JSON.stringify([...logShapes(h.logs)])}\n`);
  assert.equal(h.server.observerCount("light"), OBSERVERS, "no live observer removed");
  assert.ok(peak <= DEFAULT_LIMITS.maxPendingCon, `the pending table stays at its bound: ${peak}`);
  // a CON every 20th notification; one that found no room comes with the next notifications, so an observer's rounds drift by up to 3
  const fewest = Math.min(...[...consTo.values()]);
  assert.equal(consTo.size, OBSERVERS, "every observer got CONs");
  assert.ok(fewest >= CHANGES / DEFAULT_LIMITS.notifyConEvery - 1, `at least one CON per ${DEFAULT_LIMITS.notifyConEvery} notifications after the first round: fewest ${fewest}`);
  assert.equal(h.logs.filter((line) => /removed/.test(line)).length, 0, "nothing removed");
});

test("1,000 observers that answer a notification with RST are removed at once", () => {
  const OBSERVERS = 1000;
  // a RST can only be matched to a NON that is still remembered: maxTrackedNon >= observers
  const h = harness({ maxObservers: OBSERVERS, maxObserversPerResource: OBSERVERS, maxTrackedNon: OBSERVERS });
  for (let i = 0; i < OBSERVERS; i++) h.server.receive(request(Type.CON, Code.GET, i, i, 0), peerOf(i), h.clock.now);
  assert.equal(h.server.observerCount("light"), OBSERVERS);
  h.out.length = 0;
  h.advance(1000);
  h.light.set(true);
  const notifications = h.out.splice(0);
  assert.equal(notifications.length, OBSERVERS, "one notification each");
  for (const { peer, message } of notifications) {
    h.server.receive(encode({ type: Type.RST, code: Code.EMPTY, mid: message.mid, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) }), peer, h.clock.now);
  }
  const left = h.server.observerCount("light");
  trace(`  ${left} observers left after ${OBSERVERS} RSTs to ${notifications[0].message.type === Type.CON ? "CON" : "NON"} notifications\n`);
  assert.equal(left, 0, "every RST ended its observation");
});

test("the node's own limits (32 observers, 16 pending CON): abandoned observers all go after one CON round", () => {
  const h = harness({}, false);
  const OBSERVERS = DEFAULT_LIMITS.maxObservers;
  for (let i = 0; i < OBSERVERS; i++) h.server.receive(request(Type.CON, Code.GET, i, i, 0), peerOf(i), h.clock.now);
  assert.equal(h.server.observerCount("light"), DEFAULT_LIMITS.maxObserversPerResource, "per-resource bound");
  for (let n = 1; n <= DEFAULT_LIMITS.notifyConEvery; n++) {
    h.advance(1000);
    h.light.set(!h.light.on);
  }
  h.advance(MAX_TRANSMIT_WAIT);
  assert.equal(h.server.observerCount("light"), 0);
});

test("limits are logged once, not once per datagram: a flood past every bound", () => {
  const seed = testSeed();
  const h = harness({}, false);
  // observers past the bound, CONs past maxPendingCon, malformed datagrams, stale RSTs
  for (let i = 0; i < 200; i++) h.server.receive(request(Type.CON, Code.GET, i, i, 0), peerOf(i), h.clock.now);
  for (let n = 1; n <= DEFAULT_LIMITS.notifyConEvery; n++) {
    h.advance(1000);
    h.light.set(!h.light.on);
  }
  for (let i = 0; i < 200; i++) h.server.receive(new Uint8Array([0x40, 0x01, i, 0xff, 0xf0]), peerOf(i), h.clock.now); // bad option
  for (let i = 0; i < 200; i++) h.server.receive(new Uint8Array([0x80 | (i & 0x3f), 1, 2, 3]), peerOf(i), h.clock.now); // bad version
  h.advance(MAX_TRANSMIT_WAIT);
  // an observer removed for not answering is an event of its own, not a limit: not counted here
  const repeats = repeated(h.logs.filter((line) => !/^observer .* removed: /.test(line)));
  trace(`  seed ${seed}: ${h.logs.length} log lines; repeated shapes: ${repeats.join("; ") || "none"}\n`);
  assert.deepEqual(repeats, [], "each kind of limit or drop is logged once");
});

/* the heap held by `count` observers of /light whose registrations carried a Uri-Host of `hostLength` bytes */
function observersHeap(hostLength: number, count = 32): number {
  const h = harness({ maxObservers: 32, maxObserversPerResource: 32 }, false);
  const host = new Uint8Array(hostLength).fill(0x61);
  for (let i = 0; i < count; i++) {
    const options: CoapMessage["options"] = [{ number: Option.URI_HOST, value: host }];
    setUriPath(options, "light");
    setObserve(options, 0);
    /* .slice(): each datagram arrives in a buffer of its own */
    h.server.receive(encode({ type: Type.CON, code: Code.GET, mid: i, token: new Uint8Array([0x0b, i]), options, payload: new Uint8Array(0) }).slice(), peerOf(1000 + i), h.clock.now);
  }
  assert.equal(h.server.observerCount("light"), count, `${count} registered`);
  for (let i = 0; i < 64; i++) h.server.receive(request(Type.CON, Code.GET, 5000 + i, 5000 + i), peerOf(2000 + i), h.clock.now);
  gc();
  const bytes = heapBytes();
  assert.equal(h.server.observerCount("light"), count);
  return bytes;
}

test("an observer's memory on the host: 32 observers of /light against none, per observer (the device's figure comes from npm run emulate)", () => {
  observersHeap(1, 0); // warm
  const none = observersHeap(1, 0);
  const held = observersHeap(1, 32);
  const per = (held - none) / 32;
  trace(`  XS heap per observer on the host (64-bit slots): ${Math.round(per)} B\n`);
  assert.ok(per > 0, "observers take memory: the measurement sees them");
  assert.less(per, 2048, "an observer keeps its keys, token and a slim request, not its registration");
});

test("an observer keeps no view into its registration's datagram: a 255-byte Uri-Host costs 32 observers nothing", () => {
  observersHeap(1); // warm: the first run creates what every run shares
  const short = observersHeap(1);
  const long = observersHeap(255);
  const extra = (long - short) / 32;
  trace(`  heap with 32 observers: ${short} B (1-byte Uri-Host), ${long} B (255 bytes): ${Math.round(extra)} B more per observer\n`);
  assert.less(extra, 32, "the registration's datagram is not kept alive by its observer");
});
