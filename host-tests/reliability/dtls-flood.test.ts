/*
 * A ClientHello flood against the node's DTLS port (main.ts in its own host, free
 * ports): 10,000 ClientHellos from 200 source ports that never answer the
 * HelloVerifyRequest, as spoofed sources would not (half without a cookie, half
 * with a forged one). The stateless cookie exchange must keep no state for them:
 * 0 sessions, the binding's heap at the context's own bytes, the XS heap and the
 * RSS flat, every answer no larger than the datagram it answers, nothing logged per
 * datagram, and a real client is still served right after.
 */
import UDP from "embedded:io/socket/udp";
import { test, assert, seededRandom, sleep } from "../lib/harness";
import { coapClient, type Child } from "../lib/process";
import { openUDP, type ClosableUDP } from "../lib/net";
import { now } from "host/runtime";
import { clientHello, HANDSHAKE_HELLO_VERIFY_REQUEST } from "../dtls/records";
import { memoryKiB, nodeStats, startNodeOnFreePorts, stop, testSeed } from "./peers";
import type { DtlsServerStats } from "dtls-psk/server";

/** what the node's control command `stats` answers, the part used here */
interface NodeFigures {
  heap: number;
  /** bytes Mbed TLS and the binding hold (host/meter) */
  nativeHeap: number;
  dtls: DtlsServerStats;
}
async function figures(node: Child): Promise<NodeFigures | undefined> {
  return (await nodeStats(node)) as unknown as NodeFigures | undefined;
}

const HELLOS = 10_000;
const SOURCES = 200;
/** hellos after which the node has its working size (the XS heap grows to it once) */
const WARM = 2000;
/** per 10 ms: the node's receive queue is bounded, a flood beyond it only tests the kernel */
const BURST = 50;

test(`${HELLOS} spoofed ClientHellos from ${SOURCES} ports: 0 sessions, XS heap, binding bytes and data segment flat, no amplification`, async () => {
  const seed = testSeed();
  const random = seededRandom(seed);
  const { node, coapsPort } = await startNodeOnFreePorts();
  const logBefore = node.stdout.split("\n").length;
  let answers = 0;
  let answerBytes = 0;
  let largest = 0;
  let notHvr = 0;
  const sources: ClosableUDP[] = [];
  try {
    for (let i = 0; i < SOURCES; i++) {
      sources.push(openUDP({
        address: "127.0.0.1",
        onReadable(this: UDP, count: number) {
          for (let k = 0; k < count; k++) {
            const packet = this.read();
            if (!packet) break;
            const bytes = new Uint8Array(packet);
            answers++;
            answerBytes += bytes.length;
            largest = Math.max(largest, bytes.length);
            if (bytes[0] !== 22 || bytes[13] !== HANDSHAKE_HELLO_VERIFY_REQUEST) notHvr++;
          }
        },
      }).socket);
    }
    const forged = new Uint8Array(32);
    let sentBytes = 0;
    let smallest = Infinity;
    let statsWarm: NodeFigures | undefined;
    let memWarm = { rss: 0, data: 0 };
    const rssSeries: number[] = [];
    const dataSeries: number[] = [];
    const started = now();
    for (let i = 0; i < HELLOS; i++) {
      for (let k = 0; k < forged.length; k++) forged[k] = Math.floor(random() * 256);
      const hello = clientHello({ cookie: i % 2 ? forged : undefined, sequence: i & 0xffff, random });
      sentBytes += hello.length;
      smallest = Math.min(smallest, hello.length);
      sources[i % SOURCES].write(hello.buffer as ArrayBuffer, "127.0.0.1", coapsPort);
      if (i % BURST === BURST - 1) await sleep(10);
      if (i % 2000 === 1999) {
        const m = await memoryKiB(node.pid);
        rssSeries.push(m.rss);
        dataSeries.push(m.data);
      }
      if (i === WARM - 1) {
        await sleep(200);
        statsWarm = await figures(node);
        memWarm = await memoryKiB(node.pid);
      }
    }
    const seconds = (now() - started) / 1000;
    await sleep(300);
    const statsEnd = (await figures(node))!;
    const memEnd = await memoryKiB(node.pid);
    const logged = node.stdout.split("\n").slice(logBefore - 1).filter((line) => line && !line.startsWith("@"));
    trace(`  seed ${seed}: ${HELLOS} hellos in ${seconds.toFixed(1)} s, ${answers} answers (${answerBytes} B for ${sentBytes} B sent, largest ${largest} B, smallest hello ${smallest} B); node RSS ${memWarm.rss} -> ${memEnd.rss} KiB (per 2000: ${rssSeries.join(" ")}), VmData ${memWarm.data} -> ${memEnd.data} KiB (${dataSeries.join(" ")}), XS heap ${statsWarm?.heap} -> ${statsEnd.heap} B, native heap ${statsWarm?.nativeHeap} -> ${statsEnd.nativeHeap} B; dtls ${JSON.stringify(statsEnd.dtls)}\n`);
    assert.ok(statsWarm && statsEnd.dtls, "the node answers the control command stats");
    assert.equal(statsEnd.dtls.sessions, 0, "no session for sources that never answered");
    assert.equal(statsEnd.dtls.handshakesCompleted, 0, "no handshake");
    assert.equal(statsEnd.nativeHeap, statsWarm!.nativeHeap, "Mbed TLS and the binding hold what they held before (the context)");
    assert.atLeast(statsEnd.dtls.helloVerifyRequests, HELLOS * 0.95, "a HelloVerifyRequest for (nearly) every hello");
    assert.equal(notHvr, 0, "only HelloVerifyRequests go back");
    assert.ok(largest <= smallest, `no amplification: largest answer ${largest} B <= smallest hello ${smallest} B`);
    assert.less(answerBytes, sentBytes, "fewer bytes out than in");
    assert.less(statsEnd.heap - statsWarm!.heap, 32 * 1024, "XS heap flat");
    assert.less(memEnd.data - memWarm.data, 256, "the data segment (malloc) grows by less than 256 KiB");
    assert.less(memEnd.rss - memWarm.rss, 8 * 1024, "RSS stays within the XS arenas already reserved");
    assert.less(logged.length, 3, `log lines during the flood: ${logged.slice(0, 5).join(" | ")}`);
    const got = await coapClient(["-m", "get", "-B", "10", "-k", "esp32c3_key", "-u", "CoAP", `coaps://127.0.0.1:${coapsPort}/light`], "coap-client-openssl", 15000);
    assert.equal(got.trim(), "0", "a real client is served after the flood");
  } finally {
    for (const socket of sources) socket.close();
    await stop(node);
  }
}, { timeout: 45000 });
