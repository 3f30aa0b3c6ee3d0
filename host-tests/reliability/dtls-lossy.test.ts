/*
 * CoAP over DTLS 1.2 (PSK) through the lossy proxy (proxy.ts): libcoap's
 * coap-client-openssl completes every handshake and GET although the proxy drops,
 * duplicates and delays 5 % of the datagrams each way, flights included. The node
 * runs on free ports (other tests run at the same time). Seeds come from the clock
 * (RELIABILITY_SEED replays one) and are in every failure.
 */
import { test, assert } from "../lib/harness";
import { coapClient } from "../lib/process";
import { nodeStats, startNodeOnFreePorts, startProxy, stop, testSeed } from "./peers";
import { now } from "host/runtime";

const RUNS = 20;
/** clients at once: shortens the test; stays under the node's 8 DTLS sessions even with a stale one per slot */
const PARALLEL = 4;
const PSK = ["-k", "esp32c3_key", "-u", "CoAP"];

test(`${RUNS} of ${RUNS} DTLS handshakes + GET through drop=5 duplicate=5 delay=5 (coap-client-openssl)`, async () => {
  const seed = testSeed();
  const { node, coapsPort } = await startNodeOnFreePorts();
  const proxy = await startProxy([`seed=${seed}`, `server=127.0.0.1:${coapsPort}`, "drop=5", "duplicate=5", "delay=5", "lifetime=80"]);
  const uri = `coaps://127.0.0.1:${proxy.port}/light`;
  try {
    const outcomes: { i: number; ok: boolean; ms: number; output: string }[] = [];
    const started = now();
    let next = 0;
    const worker = async () => {
      while (next < RUNS) {
        const i = next++;
        const t0 = now();
        // -B bounds one client's wait; coap-client exits 0 even when the handshake fails: read its output
        const output = await coapClient(["-m", "get", "-B", "30", ...PSK, uri], "coap-client-openssl", 35000);
        outcomes.push({ i, ok: output.trim() === "0", ms: Math.round(now() - t0), output });
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    const seconds = (now() - started) / 1000;
    const counters = await proxy.stats();
    const stats = await nodeStats(node);
    const times = outcomes.map((o) => o.ms).sort((a, b) => a - b);
    trace(`  seed ${seed}: ${outcomes.filter((o) => o.ok).length}/${RUNS} in ${seconds.toFixed(1)} s (per client median ${times[times.length >> 1]} ms, max ${times[times.length - 1]} ms); proxy ${JSON.stringify(counters)}; node dtls ${JSON.stringify(stats?.dtls)}\n`);
    const failed = outcomes.filter((o) => !o.ok);
    assert.equal(failed.length, 0, `failed runs (seed ${seed}): ${failed.map((o) => `#${o.i} after ${o.ms} ms: ${JSON.stringify(o.output.slice(-300))}`).join("; ")}`);
    assert.ok(counters.dropped + counters.duplicated + counters.delayed > 0, `the proxy damaged some traffic (seed ${seed})`);
    const completed = (node.stdout.match(/established \(TLS-PSK-WITH-AES-128-CCM-8/g) ?? []).length;
    assert.atLeast(completed, RUNS, `handshakes the node completed (seed ${seed})`);
  } finally {
    await stop(proxy.child);
    await stop(node);
  }
}, { timeout: 75000 });
