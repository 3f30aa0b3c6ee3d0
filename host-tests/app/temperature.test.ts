/*
 * /temperature end to end: the simulated DS18B20 of the running node, set from
 * outside through the control channel ("temp ..."), read and observed with
 * coap-client-notls; and the event loop stays free during a 750 ms conversion.
 */
import { test, assert, waitFor, fromHex, toHex, sleep } from "../lib/harness";
import { Child, coapClient, startNode, stop } from "../lib/process";
import { openUDP } from "../lib/net";
import { now } from "host/runtime";

const URI = "coap://127.0.0.1/temperature";
/** the service serves a reading from its cache this long (TemperatureService maxAge) */
const CACHE_MS = 2000;

const coap = (...args: string[]) => coapClient(args);

async function setTemperature(node: Child, value: string): Promise<void> {
  const reply = node.waitForNext(/^@temp (.*)$/m);
  node.send(`temp ${value}\n`);
  await reply;
}

test("GET /temperature returns the simulated value as text and as SenML JSON", async () => {
  const node = await startNode();
  try {
    await setTemperature(node, "-10.125");
    await sleep(CACHE_MS + 100);
    assert.equal((await coap("-m", "get", URI)).trim(), "-10.125");
    assert.equal((await coap("-m", "get", "-A", "110", URI)).trim(), '[{"n":"temperature","u":"Cel","v":-10.125}]');
    assert.match(await coap("-m", "get", "-A", "50", URI), /4\.06/);
    const links = await coap("-m", "get", "coap://127.0.0.1/.well-known/core");
    assert.match(links, /<\/temperature>;[^,]*rt="temperature-c"[^,]*obs/);
  } finally {
    await stop(node);
  }
}, { timeout: 30000 });

test("an observer of /temperature is notified after the simulated temperature changes", async () => {
  const node = await startNode();
  try {
    const observer = new Child(["coap-client-notls", "-v", "6", "-m", "get", "-s", "15", URI]);
    await observer.waitFor(/c:2\.05 [^\n]*Observe:\d+[^\n]*:: '21\.4375'/, 5000);
    await setTemperature(node, "23.5");
    await observer.waitFor(/c:2\.05 [^\n]*Observe:\d+[^\n]*:: '23\.5'/, 10000);
    observer.kill();
    await observer.wait();
  } finally {
    await stop(node);
  }
}, { timeout: 30000 });

test("an absent sensor answers 5.03 with a diagnostic; it recovers when the sensor is back", async () => {
  const node = await startNode();
  try {
    await setTemperature(node, "absent");
    await sleep(CACHE_MS + 100);
    const answer = await coap("-m", "get", URI);
    assert.match(answer, /5\.03/);
    assert.match(answer, /no-presence|presence/);
    await setTemperature(node, "present");
    await sleep(CACHE_MS + 100);
    assert.equal((await coap("-m", "get", URI)).trim(), "21.4375");
  } finally {
    await stop(node);
  }
}, { timeout: 30000 });

test("GET /light is answered within 50 ms while a 12-bit conversion is in progress", async () => {
  const node = await startNode();
  const received: { at: number; bytes: Uint8Array }[] = [];
  const { socket } = openUDP({
    address: "127.0.0.1",
    onReadable(count) {
      for (let i = 0; i < count; i++) received.push({ at: now(), bytes: new Uint8Array(this.read()) });
    },
  });
  try {
    // the start-up reading (taken about 0.8 s after start) is stale after 2.8 s, and the next
    // poll is due at about 5.8 s: in between, a GET has to start a conversion
    await sleep(CACHE_MS + 1200);
    const t0 = now();
    socket.write(fromHex("41 01 0101 01 bb 74656d7065726174757265"), "127.0.0.1", 5683); // CON GET /temperature
    await waitFor(() => received.length >= 1, 1000, "the ACK of GET /temperature");
    assert.equal(toHex(received[0].bytes), "60000101", "an empty ACK: the reading is not ready, a conversion runs");
    await sleep(100);
    const sent = now();
    socket.write(fromHex("41 01 0102 02 b5 6c69676874"), "127.0.0.1", 5683); // CON GET /light
    await waitFor(() => received.some((r) => toHex(r.bytes.subarray(2, 4)) === "0102"), 1000, "the answer to GET /light");
    const light = received.find((r) => toHex(r.bytes.subarray(2, 4)) === "0102")!;
    assert.less(light.at - sent, 50, "GET /light round trip (ms)");
    await waitFor(() => received.some((r) => r.bytes[4] === 0x01 && r.bytes[1] === 0x45), 2000, "the separate 2.05 for /temperature");
    const reading = received.find((r) => r.bytes[4] === 0x01 && r.bytes[1] === 0x45)!;
    assert.atLeast(reading.at - t0, 600, "the conversion took its 12-bit time");
    assert.ok(reading.at > light.at, "the light answer came during the conversion");
    trace(`  /light answered in ${(light.at - sent).toFixed(1)} ms; /temperature after ${(reading.at - t0).toFixed(0)} ms\n`);
  } finally {
    socket.close();
    await stop(node);
  }
}, { timeout: 30000 });
