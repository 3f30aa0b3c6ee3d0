/*
 * Telemetry end to end against libcoap's coap-server-notls (-d: POST/PUT create
 * and replace dynamic resources; it keeps only the last payload, so what it
 * received is read from its -v 7 log, PDU by PDU). The fixture node reports a
 * simulated temperature ramp (one step per reading) every 200 ms.
 *
 * The outage: the issue asks for 30 s; the test stops the collector for
 * OUTAGE_MS (the 30 s by default; TELEMETRY_OUTAGE_MS=5000 for a quicker run)
 * with a 16-reading queue, which overflows the same way at this reading rate.
 */
import { env } from "host/runtime";
import { test, assert, sleep, waitFor } from "../lib/harness";
import { available, Child, run, SIGTERM } from "../lib/process";
import { randomPort } from "../lib/net";
import { counters, received, startCollector, startFixtureNode, values, ask } from "./e2e";

const ok: (value: unknown, message?: string) => void = assert.ok;
const OUTAGE_MS = Number(env("TELEMETRY_OUTAGE_MS") ?? 30000);
const STEP = 0.0625;
const START = 20;
const SKIP = (!(await available("coap-server-notls")) || !(await available("coap-client-notls"))) && "coap-server-notls / coap-client-notls not installed (Debian package libcoap3-bin)";

async function stop(child: Child | undefined): Promise<void> {
  if (!child) return;
  child.kill(SIGTERM);
  await child.wait();
}

test(`telemetry: a ramp arrives in order at coap-server-notls; a ${OUTAGE_MS / 1000} s outage loses only what the queue dropped, and the counters say how many`, async () => {
  const collectorPort = randomPort();
  let collector: Child | undefined = await startCollector(collectorPort);
  let node: Child | undefined;
  let second: Child | undefined;
  try {
    node = await startFixtureNode([
      `port=${randomPort()}`,
      `telemetry=coap://127.0.0.1:${collectorPort}/telemetry`,
      "method=POST",
      "period=200",
      "queue=16",
      "batch=4",
      "backoff=250:1000",
      "ack=300",
      "retransmit=2",
      "timeout=3000",
      "ep=tnode",
      `ramp=${START}:${STEP}`,
    ]);
    await waitFor(() => values(received(collector!.stdout)).length >= 8, 5000, "8 readings at the collector");
    collector.kill(SIGTERM);
    const first = (await collector.wait()).stdout;
    collector = undefined;
    const atStop = await counters(node);
    await sleep(OUTAGE_MS);
    const during = await counters(node);
    ok(during.dropped > 0, `the queue overflowed during the outage: ${JSON.stringify(during)}`);
    second = await startCollector(collectorPort);
    await waitFor(() => values(received(second!.stdout)).length >= 20, 10000 + OUTAGE_MS, "the backlog at the restarted collector");
    let after = await counters(node);
    for (let i = 0; i < 50 && after.queued > 1; i++) {
      await sleep(100);
      after = await counters(node);
    }
    assert.equal(await ask(node, "stop"), "removed=false");
    const final = await counters(node);
    await sleep(300);
    second.kill(SIGTERM);
    const secondLog = (await second.wait()).stdout;
    second = undefined;

    const packs = [...received(first), ...received(secondLog)];
    const got = values(packs);
    const indices = got.map((v) => Math.round((v - START) / STEP));
    for (let i = 1; i < indices.length; i++) ok(indices[i] > indices[i - 1], `readings in order: ${indices.join(",")}`);
    assert.equal(got.length, final.sent, "every reading the node counts as sent reached the collector, once");
    const last = indices[indices.length - 1];
    const missing = last - indices.length; // ramp indices start at 1
    assert.equal(missing, final.dropped, `the gaps in the ramp are exactly the dropped readings: ${indices.join(",")}`);
    assert.equal(final.recorded, final.sent + final.dropped + final.rejected + final.queued, JSON.stringify(final));
    ok(final.dropped >= during.dropped, "the drop count only grows");
    ok(final.requests > final.failed && final.failed >= 1, JSON.stringify(final));
    for (const pack of packs) assert.equal(pack.method, "POST");
    ok(JSON.parse(packs[0].payload)[0].bn === "urn:dev:ops:tnode:", packs[0].payload);

    const out = node.stdout;
    assert.equal((out.match(/telemetry: POST [^\n]*: no response/g) ?? []).length, 1, `"no response" logged once for the whole outage:\n${out}`);
    assert.equal((out.match(/telemetry: POST [^\n]*: 2\.0\d: delivering/g) ?? []).length, 2, "delivering logged at start and after recovery");
    assert.equal((out.match(/queue full/g) ?? []).length, 1);
    trace(`  outage ${OUTAGE_MS} ms: recorded ${final.recorded}, sent ${final.sent}, dropped ${final.dropped} (at the stop ${atStop.dropped}, during ${during.dropped}), failed requests ${final.failed}/${final.requests}\n`);
  } finally {
    await stop(node);
    await stop(collector);
    await stop(second);
  }
}, { timeout: 30000 + OUTAGE_MS, skip: SKIP });

test("telemetry: PUT mode replaces coap-server-notls's resource with the latest pack", async () => {
  const collectorPort = randomPort();
  const collector = await startCollector(collectorPort);
  let node: Child | undefined;
  try {
    node = await startFixtureNode([`port=${randomPort()}`, `telemetry=coap://127.0.0.1:${collectorPort}/sensors/node7`, "method=PUT", "period=200", "ep=urn:dev:mac:0024befffe804ff1", `ramp=${START}:${STEP}`]);
    await waitFor(() => received(collector.stdout).length >= 3, 5000, "3 PUTs");
    const puts = received(collector.stdout);
    for (const put of puts) assert.equal(put.method, "PUT");
    const result = await run(["coap-client-notls", "-m", "get", `coap://127.0.0.1:${collectorPort}/sensors/node7`], { timeout: 10000 });
    const stored = JSON.parse(result.stdout.trim()) as { bn?: string; n: string; u: string; v: number }[];
    assert.equal(stored[0].bn, "urn:dev:mac:0024befffe804ff1:");
    assert.equal(stored[0].n, "temperature");
    assert.equal(stored[0].u, "Cel");
    ok(stored[stored.length - 1].v >= START + 3 * STEP, result.stdout);
  } finally {
    await stop(node);
    await stop(collector);
  }
}, { timeout: 20000, skip: SKIP });

const NO_OPENSSL_SERVER = !(await available("coap-server-openssl")) && "coap-server-openssl not installed (Debian package libcoap3-bin)";

test("telemetry over coaps:// (DTLS PSK) to coap-server-openssl: the ramp arrives in order", async () => {
  const plainPort = randomPort();
  // coap-server-openssl serves DTLS on its -p port + 1
  const collector = new Child(["coap-server-openssl", "-A", "127.0.0.1", "-p", String(plainPort), "-d", "4", "-v", "7", "-k", "esp32c3_key"]);
  let node: Child | undefined;
  try {
    await collector.waitFor(/created DTLS +endpoint/, 5000);
    node = await startFixtureNode([`port=${randomPort()}`, `telemetry=coaps://127.0.0.1:${plainPort + 1}/telemetry`, "psk=CoAP:esp32c3_key", "period=200", "ep=snode", `ramp=${START}:${STEP}`]);
    await waitFor(() => values(received(collector.stdout)).length >= 5, 8000, "5 readings over DTLS");
    const got = values(received(collector.stdout)).map((v) => Math.round((v - START) / STEP));
    for (let i = 1; i < got.length; i++) ok(got[i] > got[i - 1], `in order: ${got}`);
    ok(/DTLS[^\n]*received/.test(collector.stdout), "the packs came over DTLS");
    ok(/coaps: dtls session to [^\n]* open/.test(node.stdout), node.stdout);
    const c = await counters(node);
    ok(c.sent >= 5 && c.dropped === 0, JSON.stringify(c));
  } finally {
    await stop(node);
    await stop(collector);
  }
}, { timeout: 20000, skip: SKIP || NO_OPENSSL_SERVER });
