/*
 * Floods against the node itself (main.ts on UDP 5683, in its own host), from 100
 * UDP sockets of this host on loopback: its memory stays at its bound and it logs
 * nothing per datagram; observers past the bound are refused, and observers that
 * answer RST are gone. The node's memory is read from outside (/proc/PID/status), and
 * its cache sizes through the control command `stats` when main.ts answers it.
 */
import UDP from "embedded:io/socket/udp";
import { test, assert, sleep, waitFor } from "../lib/harness";
import { now } from "host/runtime";
import { decode, encode, type CoapMessage } from "coap/codec";
import { Code, DEFAULT_LIMITS, Option, Type } from "coap/numbers";
import { getObserve, setObserve, setUriPath } from "coap/options";
import { NODE_PORT, coap, nodeStats, residentKiB, startNode, stop } from "./peers";

type Socket = UDP & { close(): void };

const SOURCES = 100;
const REQUESTS = 80_000;
/**
 * requests after which the node has reached its working size: the XS heap and malloc's arenas grow to it
 * once. Measured at 60,000 req/s: RSS climbs for the first ~25,000 requests, then stays on the same KiB
 * up to 400,000 (a warm point of 10,000 caught the climb, not growth).
 */
const WARM = 40_000;

interface Source {
  socket: Socket;
  received: CoapMessage[];
}

function openSources(count: number, onMessage?: (source: Source, message: CoapMessage) => void): Source[] {
  const sources: Source[] = [];
  for (let i = 0; i < count; i++) {
    const source = { received: [] } as unknown as Source;
    source.socket = new UDP({
      address: "127.0.0.1",
      onReadable(this: UDP, n: number) {
        for (let k = 0; k < n; k++) {
          const packet = this.read();
          if (!packet) break;
          const message = decode(new Uint8Array(packet));
          if (onMessage) onMessage(source, message);
          else source.received.push(message);
        }
      },
    }) as Socket;
    sources.push(source);
  }
  return sources;
}

function getLight(mid: number, token: number, observe?: number): Uint8Array {
  const options: CoapMessage["options"] = [];
  setUriPath(options, "light");
  if (observe !== undefined) setObserve(options, observe);
  return encode({ type: Type.CON, code: Code.GET, mid, token: new Uint8Array([token >> 8, token & 0xff]), options, payload: new Uint8Array(0) });
}

test(`${REQUESTS} CON GETs from ${SOURCES} sources: the node's memory stays at its bound, nothing logged per request`, async () => {
  const node = await startNode();
  const logBefore = node.stdout.split("\n").length;
  let answered = 0;
  let resent = 0;
  const next = new Map<Source, number>(); // index of the request each source waits for
  const sentAt = new Map<Source, number>();
  const send = (source: Source, i: number) => {
    next.set(source, i);
    sentAt.set(source, now());
    source.socket.write(getLight(i & 0xffff, i, undefined), "127.0.0.1", NODE_PORT);
  };
  let rssWarm = 0;
  let statsWarm: Record<string, number> | undefined;
  const sources = openSources(SOURCES, (source, message) => {
    const i = next.get(source)!;
    if (message.mid !== (i & 0xffff) || message.type !== Type.ACK) return; // a late replay
    answered++;
    const following = i + SOURCES;
    if (following < REQUESTS) send(source, following);
    else next.set(source, -1);
  });
  try {
    const started = now();
    sources.forEach((source, k) => send(source, k));
    // each source waits for its answer; a datagram lost in a full queue is sent again (same MID)
    const deadline = started + 60_000;
    while (answered < REQUESTS && now() < deadline) {
      await sleep(50);
      if (answered >= WARM && !rssWarm) {
        rssWarm = await residentKiB(node.pid);
        statsWarm = await nodeStats(node);
      }
      for (const source of sources) {
        const i = next.get(source)!;
        if (i >= 0 && now() - sentAt.get(source)! > 1000) {
          resent++;
          send(source, i);
        }
      }
    }
    const seconds = (now() - started) / 1000;
    const rssEnd = await residentKiB(node.pid);
    const statsEnd = await nodeStats(node);
    const logged = node.stdout.split("\n").slice(logBefore - 1).filter((line) => line && !line.startsWith("@"));
    trace(`  ${answered} answered in ${seconds.toFixed(1)} s (${Math.round(answered / seconds)} req/s, ${resent} resent); node RSS ${rssWarm} KiB after ${WARM}, ${rssEnd} KiB after ${answered}; stats ${JSON.stringify(statsWarm)} -> ${JSON.stringify(statsEnd)}\n`);
    assert.equal(answered, REQUESTS, "every request answered");
    assert.less(rssEnd - rssWarm, 256, `RSS grows by less than 256 KiB from ${WARM} to ${REQUESTS} requests`);
    if (statsEnd) {
      assert.equal(statsEnd.dedup, 0, "GETs answered at once are not remembered (RFC 7252 sec 4.5: safe to run again)");
      assert.ok(statsEnd.dedupBytes <= DEFAULT_LIMITS.maxDedupBytes, "dedup bytes within the bound");
      if (statsWarm?.heap !== undefined && statsEnd.heap !== undefined) assert.less(statsEnd.heap - statsWarm.heap, 64 * 1024, "XS heap flat");
    }
    assert.less(logged.length, 3, `log lines during the flood: ${logged.slice(0, 5).join(" | ")}`);
  } finally {
    for (const source of sources) source.socket.close();
    await stop(node);
  }
}, { timeout: 75000 });

test(`${SOURCES} would-be observers: ${DEFAULT_LIMITS.maxObserversPerResource} registered, the rest served without Observe; a RST ends each observation`, async () => {
  const node = await startNode();
  const sources = openSources(SOURCES);
  try {
    sources.forEach((source, k) => source.socket.write(getLight(k, k, 0), "127.0.0.1", NODE_PORT));
    await waitFor(() => sources.every((s) => s.received.length >= 1), 5000, "every registration answered");
    const observing = sources.filter((s) => getObserve(s.received[0].options) !== undefined);
    assert.equal(observing.length, DEFAULT_LIMITS.maxObserversPerResource, "observers at the per-resource bound");
    for (const source of sources) source.received.length = 0;

    await coap(["-m", "put", "-e", "1", `coap://127.0.0.1:${NODE_PORT}/light`]);
    await waitFor(() => observing.every((s) => s.received.length >= 1), 5000, "a notification to each observer");
    assert.ok(sources.filter((s) => !observing.includes(s)).every((s) => s.received.length === 0), "no notification to the refused ones");
    // every observer rejects its notification (RFC 7641 sec 3.6: RST ends the observation)
    for (const source of observing) {
      const notification = source.received[0];
      assert.equal(notification.options.some((o) => o.number === Option.OBSERVE), true, "a notification");
      source.socket.write(encode({ type: Type.RST, code: Code.EMPTY, mid: notification.mid, token: new Uint8Array(0), options: [], payload: new Uint8Array(0) }), "127.0.0.1", NODE_PORT);
      source.received.length = 0;
    }
    await sleep(100);
    await coap(["-m", "put", "-e", "0", `coap://127.0.0.1:${NODE_PORT}/light`]);
    await sleep(500);
    assert.ok(sources.every((s) => s.received.length === 0), "no notification after the RSTs");
    // the places are free again
    sources[SOURCES - 1].socket.write(getLight(0x7777, 0x7777, 0), "127.0.0.1", NODE_PORT);
    await waitFor(() => sources[SOURCES - 1].received.length >= 1, 3000, "a new registration");
    assert.ok(getObserve(sources[SOURCES - 1].received[0].options) !== undefined, "a new observer is accepted");
    const stats = await nodeStats(node);
    if (stats) assert.equal(stats.observers, 1, "one observer left");
  } finally {
    for (const source of sources) source.socket.close();
    await stop(node);
  }
}, { timeout: 30000 });
