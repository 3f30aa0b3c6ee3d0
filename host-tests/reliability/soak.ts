/*
 * npm run soak [SECONDS]: the node (main.ts in the simulator host, on free ports) under
 * a mixed load for SECONDS (default 600), with an attacker beside the normal clients.
 * Not part of npm test (it takes ten minutes); run it before closing work that touches
 * the request or session paths.
 *
 * - 4 plain CoAP clients, each a CON GET or PUT /light every 100 ms;
 * - 2 CoAPS clients (DTLS-PSK), each a GET /light every 200 ms over one session;
 * - 1 plain CoAP observer of /light, which must see every change;
 * - an attacker, 100 datagrams/s: malformed datagrams and unsolicited responses to the
 *   CoAP port, cookie-less ClientHellos, epoch-0 junk and random bytes to the CoAPS port,
 *   from 20 source ports.
 *
 * Every 30 s it prints the node's XS heap, the native heap (Mbed TLS), RSS, the DTLS and
 * CoAP tables, and the latency of the period. It ends with a summary line and exits 1
 * when a normal request took over 100 ms or went unanswered, when the observer missed a
 * change, or when the XS heap or VmData grew after the warm-up (first 60 s).
 */
import Timer from "timer";
import UDP from "embedded:io/socket/udp";
import { argv, exit, now } from "host/runtime";
import { sleep } from "../lib/harness";
import { openUDP, type ClosableUDP } from "../lib/net";
import { memoryKiB, nodeStats, startNodeOnFreePorts, stop } from "./peers";
import { coapGet, readCoap, udpDtlsClient, type UdpDtlsClient } from "../dtls/udp-client";
import { clientHello } from "../dtls/records";
import { pskFromConfig } from "dtls-psk/credentials";
import { seededRandom } from "../lib/harness";

type Datagram = ArrayBuffer & { address: string; port: number };

const SECONDS = Number(argv()[0] ?? 600);
const LATENCY_BOUND_MS = 100;
const WARM_UP_MS = 60_000;
const PERIOD_MS = 30_000;

const latencies: number[] = [];
let periodMax = 0;
let periodCount = 0;
const problems: string[] = [];
const note = (problem: string) => {
  if (problems.length < 20) problems.push(problem);
};

function record(ms: number): void {
  latencies.push(ms);
  periodCount++;
  periodMax = Math.max(periodMax, ms);
  if (ms > LATENCY_BOUND_MS) note(`a request took ${ms.toFixed(1)} ms at ${((now() - started) / 1000).toFixed(0)} s`);
}

function coapRequest(mid: number, token: number, put?: string): Uint8Array {
  const head = [0x41, put === undefined ? 0x01 : 0x03, mid >> 8, mid & 0xff, token & 0xff, 0xb5, ...new Uint8Array(ArrayBuffer.fromString("light"))];
  return Uint8Array.from(put === undefined ? head : [...head, 0xff, ...new Uint8Array(ArrayBuffer.fromString(put))]);
}

/** A plain CoAP client: one CON at a time, every `interval` ms; the answer must come within LATENCY_BOUND_MS. */
function plainClient(index: number, port: number, interval: number): { stop(): void; sent: number } {
  const state = { sent: 0, mid: (index * 4096) & 0xffff, waiting: undefined as undefined | { mid: number; at: number } };
  const { socket } = openUDP({
    address: "127.0.0.1",
    onReadable(this: UDP, count: number) {
      for (let i = 0; i < count; i++) {
        const reply = new Uint8Array(this.read() as Datagram);
        const mid = (reply[2] << 8) | reply[3];
        if (state.waiting && mid === state.waiting.mid) {
          record(now() - state.waiting.at);
          if (reply[1] >= 0x80) note(`plain client ${index}: ${reply[1] >> 5}.${String(reply[1] & 31).padStart(2, "0")} for ${mid}`);
          state.waiting = undefined;
        }
      }
    },
  });
  const timer = Timer.repeat(() => {
    if (state.waiting) note(`plain client ${index}: no answer to ${state.waiting.mid} within ${interval} ms`);
    state.mid = (state.mid + 1) & 0xffff;
    const put = state.mid % 5 === 0 ? (state.mid & 8 ? "1" : "0") : undefined;
    state.waiting = { mid: state.mid, at: now() };
    socket.write(coapRequest(state.mid, index, put).buffer as ArrayBuffer, "127.0.0.1", port);
    state.sent++;
  }, interval);
  return {
    get sent() {
      return state.sent;
    },
    stop() {
      Timer.clear(timer);
      socket.close();
    },
  };
}

/** A CoAPS client: one session, a GET every `interval` ms; reconnects if the session ends. */
function secureClient(index: number, port: number, interval: number): { stop(): void } {
  const psk = pskFromConfig({});
  let client: UdpDtlsClient | undefined;
  let busy = false;
  let mid = index * 1000;
  const timer = Timer.repeat(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      try {
        if (!client || client.client.state !== "open") {
          client?.dispose();
          client = udpDtlsClient(port, { psk: { identity: psk.identity, key: psk.key } });
          await client.open();
        }
        mid = (mid + 1) & 0xffff;
        const at = now();
        const reply = readCoap(await client.request(coapGet("/light", mid), 1000));
        if (reply.code !== "2.05") note(`secure client ${index}: ${reply.code}`);
        record(now() - at);
      } catch (error) {
        note(`secure client ${index}: ${String(error).split("\n")[0]}`);
      } finally {
        busy = false;
      }
    })();
  }, interval);
  return {
    stop() {
      Timer.clear(timer);
      client?.dispose();
    },
  };
}

/** An observer of /light: registers once and counts the notifications it gets. */
function observer(port: number): { socket: ClosableUDP; notifications: number; values: string[] } {
  const state = { notifications: 0, values: [] as string[] };
  const { socket } = openUDP({
    address: "127.0.0.1",
    onReadable(this: UDP, count: number) {
      for (let i = 0; i < count; i++) {
        const message = new Uint8Array(this.read() as Datagram);
        const reply = readCoap(message);
        state.notifications++;
        state.values.push(reply.payload);
        if (state.values.length > 4) state.values.shift();
        if (reply.type === 0) socket.write(Uint8Array.of(0x60, 0, message[2], message[3]).buffer as ArrayBuffer, "127.0.0.1", port); // ACK a CON
      }
    },
  });
  // CON GET /light, token 0xee, Observe 0
  socket.write(Uint8Array.of(0x41, 0x01, 0x77, 0x77, 0xee, 0x60, 0x55, ...new Uint8Array(ArrayBuffer.fromString("light"))).buffer as ArrayBuffer, "127.0.0.1", port);
  return Object.assign(state, { socket });
}

/** 100 datagrams/s of what an attacker on the network sends, from 20 source ports. */
function attacker(coapPort: number, coapsPort: number): { stop(): void; sent: number } {
  const random = seededRandom(0xa77ac);
  const sockets = Array.from({ length: 20 }, () => openUDP({ address: "127.0.0.1", onReadable(this: UDP, count: number) { for (let i = 0; i < count; i++) this.read(); } }).socket);
  const state = { sent: 0 };
  const junk = (length: number) => Uint8Array.from({ length }, () => Math.floor(random() * 256));
  const timer = Timer.repeat(() => {
    for (let i = 0; i < 10; i++) {
      const socket = sockets[Math.floor(random() * sockets.length)];
      const kind = state.sent % 6;
      let datagram: Uint8Array;
      let port = coapPort;
      if (kind === 0) datagram = Uint8Array.of(0x49, 0x45, random() * 256, random() * 256, 1, 2, 3); // malformed response-like
      else if (kind === 1) datagram = Uint8Array.of(0x50, 0x45, random() * 256, random() * 256, 0xff, 0x31); // unsolicited NON 2.05
      else if (kind === 2) datagram = junk(1 + Math.floor(random() * 60));
      else {
        port = coapsPort;
        datagram = kind === 3 ? clientHello({ random }) : kind === 4 ? Uint8Array.of(0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1) : junk(1 + Math.floor(random() * 100));
      }
      socket.write(datagram.buffer as ArrayBuffer, "127.0.0.1", port);
      state.sent++;
    }
  }, 100);
  return {
    get sent() {
      return state.sent;
    },
    stop() {
      Timer.clear(timer);
      for (const socket of sockets) socket.close();
    },
  };
}

const started = now();

async function main(): Promise<void> {
  const { node, coapPort, coapsPort } = await startNodeOnFreePorts();
  trace(`soak: ${SECONDS} s against the node on udp/${coapPort} and udp/${coapsPort} (pid ${node.pid})\n`);
  const watcher = observer(coapPort);
  const plain = [0, 1, 2, 3].map((i) => plainClient(i + 1, coapPort, 100));
  const secure = [0, 1].map((i) => secureClient(i + 1, coapsPort, 200));
  const attack = attacker(coapPort, coapsPort);
  const samples: { at: number; heap: number; nativeHeap: number; rss: number; data: number }[] = [];
  try {
    for (let elapsed = 0; elapsed < SECONDS * 1000; elapsed += PERIOD_MS) {
      await sleep(Math.min(PERIOD_MS, SECONDS * 1000 - elapsed));
      const stats = (await nodeStats(node)) as Record<string, unknown> | undefined;
      const memory = await memoryKiB(node.pid);
      const sample = { at: now() - started, heap: Number(stats?.heap), nativeHeap: Number(stats?.nativeHeap), rss: memory.rss, data: memory.data };
      samples.push(sample);
      trace(`soak ${(sample.at / 1000).toFixed(0)} s: ${periodCount} requests, max ${periodMax.toFixed(1)} ms; XS heap ${sample.heap} B, native ${sample.nativeHeap} B, RSS ${sample.rss} KiB, VmData ${sample.data} KiB; dtls ${JSON.stringify(stats?.dtls)}; observers ${stats?.observers}, dedup ${stats?.dedup}; observer saw ${watcher.notifications}; attacker sent ${attack.sent}\n`);
      periodMax = 0;
      periodCount = 0;
    }
  } finally {
    attack.stop();
    for (const c of plain) c.stop();
    for (const c of secure) c.stop();
    watcher.socket.close();
    await stop(node);
  }
  const sorted = latencies.slice().sort((a, b) => a - b);
  const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  const warm = samples.find((s) => s.at >= WARM_UP_MS) ?? samples[0];
  const last = samples[samples.length - 1];
  const puts = plain.reduce((n, c) => n + Math.floor(c.sent / 5), 0);
  if (watcher.notifications < 10) note(`the observer saw only ${watcher.notifications} notifications for about ${puts} PUTs`);
  if (warm && last && last.heap - warm.heap > 64 * 1024) note(`XS heap grew from ${warm.heap} to ${last.heap} B after the warm-up`);
  if (warm && last && last.data - warm.data > 1024) note(`VmData grew from ${warm.data} to ${last.data} KiB after the warm-up`);
  if (warm && last && last.nativeHeap !== warm.nativeHeap && Math.abs(last.nativeHeap - warm.nativeHeap) > 16 * 1024) note(`native heap moved from ${warm.nativeHeap} to ${last.nativeHeap} B`);
  trace(`soak: ${sorted.length} answered requests in ${SECONDS} s; latency median ${p(0.5).toFixed(2)} ms, p99 ${p(0.99).toFixed(2)} ms, max ${(sorted[sorted.length - 1] ?? NaN).toFixed(2)} ms; over ${LATENCY_BOUND_MS} ms: ${sorted.filter((ms) => ms > LATENCY_BOUND_MS).length}; attacker datagrams ${attack.sent}\n`);
  trace(`soak: ${problems.length ? `FAILED\n  ${problems.join("\n  ")}` : "OK"}\n`);
  exit(problems.length ? 1 : 0);
}

main().catch((error) => {
  trace(`soak: ${error}\n`);
  exit(1);
});
