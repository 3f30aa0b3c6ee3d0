/*
 * The short run of the CoAP server fuzz (fuzz-coap.ts): a few seconds in npm test.
 * The long run (>= 1,000,000 datagrams) is `npm run fuzz`. Seeded from the clock;
 * RELIABILITY_SEED replays a run.
 */
import { test, assert } from "../lib/harness";
import { runFuzz } from "./fuzz-coap";
import { testSeed } from "./peers";
import { gc, heapBytes } from "host/runtime";
import { encode, type CoapOption } from "coap/codec";
import { Code, ContentFormat, Type } from "coap/numbers";
import { setContentFormat, setUriPath } from "coap/options";
import { CoapServer } from "coap/server";
import { Light, lightResource } from "light/light";

test("fuzz: mutated and generated datagrams into the CoAP server for ~4 s: no finding, caches bounded", async () => {
  const report = await runFuzz({ count: 200_000, seed: testSeed(), timeLimit: 4000 });
  trace(`  seed ${report.seed}: ${report.datagrams} datagrams, ${report.perSecond}/s, ${report.sent} sent ${JSON.stringify(report.answers)}; peaks ${JSON.stringify(report.peak)}; heap ${report.heapWarm} -> ${report.heapEnd} B\n`);
  assert.equal(report.finding, undefined, report.finding);
  assert.atLeast(report.datagrams, 10_000, "a meaningful number of datagrams");
}, { timeout: 30000 });

/*
 * XS interns every string used as a property name, for good: WORDS[word] and
 * JSON.parse in modules/light/light.ts parseCommand turn each new PUT payload into a
 * permanent key (about 56 bytes on this host; on the device the key table is fixed
 * and overflowing it aborts the machine). A remote peer can exhaust memory.
 */
test("PUT /light with 20,000 distinct payloads leaves the heap flat (no interned words)", () => {
  let stored: boolean | undefined;
  const light = new Light({ set() {} }, { load: () => stored, save: (on) => { stored = on; } });
  const server = new CoapServer({ send() {}, log() {} });
  server.add("light", lightResource(light));
  const put = (i: number, json: boolean) => {
    const options: CoapOption[] = [];
    setUriPath(options, "light");
    if (json) setContentFormat(options, ContentFormat.JSON);
    const word = json ? `{"k${i}":true}` : `w${i}`;
    const payload = new Uint8Array(word.length);
    for (let k = 0; k < word.length; k++) payload[k] = word.charCodeAt(k);
    server.receive(encode({ type: Type.NON, code: Code.PUT, mid: i & 0xffff, token: new Uint8Array(0), options, payload }), { address: "192.0.2.1", port: 1 }, 0);
  };
  for (let i = 0; i < 1000; i++) put(i, i % 2 === 0);
  gc();
  const before = heapBytes();
  for (let i = 1000; i < 21_000; i++) put(i, i % 2 === 0);
  gc();
  const growth = heapBytes() - before;
  trace(`  heap grew by ${growth} B over 20,000 distinct PUT payloads\n`);
  assert.less(growth, 64 * 1024, "the heap does not grow with distinct payloads");
});
