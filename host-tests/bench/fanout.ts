/*
 * Instructions per Observe notification inside the simulator host, without sockets:
 * 1,000 observers of /light (NON notifications, the common case), then rounds of a
 * state change, each stage between callgrind's counters being zeroed and dumped as in
 * stages.ts. Run it under callgrind (host-tests/bench/stages.sh fanout). For finding
 * where a fan-out's instructions go (issue 17); run as it is, it prints the
 * milliseconds of JavaScript a round takes.
 */
import { CoapServer, type Peer } from "coap/server";
import { encode, encodeWithBody, type CoapOption } from "coap/codec";
import { midKey, peerKey } from "coap/exchange";
import { TrackedNons, nonKey } from "coap/tracked";
import { Code, Type } from "coap/numbers";
import { setObserve, setUriPath } from "coap/options";
import { Light, lightResource } from "light/light";
import { callgrindDump, callgrindZero } from "host/meter";
import { gc } from "host/runtime";

const OBSERVERS = 1000;
const ROUNDS = 20;

function stage(label: string, count: number, body: (i: number) => void): void {
  body(0); // once outside the window: caches and first-time paths
  gc(); // each stage starts on a collected heap, so the garbage of the one before is not counted here
  callgrindZero();
  for (let i = 1; i <= count; i++) body(i);
  callgrindDump(`${label} x${count}`);
}

let now = 1000;
const light = new Light({ set() {} }, { load: () => false, save() {} });
let sent = 0;
const server = new CoapServer({ send: () => void sent++, random: Math.random, log: () => {}, limits: { maxObservers: OBSERVERS, maxObserversPerResource: OBSERVERS, maxTrackedNon: 2 * OBSERVERS } });
server.add("light", lightResource(light));
light.onChange(() => server.notify("light", now));
for (let i = 0; i < OBSERVERS; i++) {
  const options: CoapOption[] = [];
  setUriPath(options, "light");
  setObserve(options, 0);
  const peer: Peer = { address: "127.0.0.1", port: 20000 + i };
  server.receive(encode({ type: Type.CON, code: Code.GET, mid: i, token: new Uint8Array([i >> 8, i & 0xff, 0x5a, 0xa5]), options, payload: new Uint8Array(0) }), peer, now);
}
trace(`fanout: ${server.observerCount("light")} observers\n`);
// a round per stage pass: OBSERVERS notifications each (every 20th round is the CON round: kept out by staying under it)
stage(`round of ${OBSERVERS} notifications (divide by ${OBSERVERS})`, ROUNDS / 2 - 1, () => {
  now += 1000;
  light.set(!light.on);
});
// the same rounds timed (meaningful outside callgrind: `build/host/xshost ... build/ts/host-tests/bench/fanout.js`)
const timedFrom = Date.now();
for (let r = 0; r < ROUNDS / 2 - 1; r++) {
  now += 1000;
  light.set(!light.on);
}
trace(`fanout done: ${sent} datagrams; ${((Date.now() - timedFrom) / (ROUNDS / 2 - 1)).toFixed(1)} ms per round of ${OBSERVERS} notifications\n`);

// the pieces of one NON notification, each on its own (collections during a stage count in it)
const keys: string[] = [];
for (let i = 0; i < OBSERVERS; i++) keys.push(peerKey({ address: "127.0.0.1", port: 20000 + i }));
const N = 2000;
const mid = (i: number) => i & 0xffff;
stage("an empty pass (every stage below includes it)", N, () => {});
stage("template literal `${peerKey}#${mid}`", N, (i) => void `${keys[i % OBSERVERS]}#${mid(i)}`);
stage("midKey(peerKey, mid)", N, (i) => void midKey(keys[i % OBSERVERS], mid(i)));
const mids = new Map<string, number>();
for (const key of keys) mids.set(key, 1);
stage("Map get + set by peer key", N, (i) => {
  const key = keys[i % OBSERVERS];
  mids.set(key, (mids.get(key)! + 1) & 0xffff);
});
const records = new Map<string, { next: number }>();
for (const key of keys) records.set(key, { next: 1 });
stage("Map get by peer key, then a record's field", N, (i) => {
  const record = records.get(keys[i % OBSERVERS])!;
  record.next = (record.next + 1) & 0xffff;
});
const token = new Uint8Array([1, 2, 3, 4]);
const body = new Uint8Array([0x61, 0x02, 0xff, 0x6f, 0x6e]);
stage("encodeWithBody (4-byte token, 5-byte body)", N, (i) => void encodeWithBody(Type.NON, Code.CONTENT, mid(i), token, body));
const template = encodeWithBody(Type.NON, Code.CONTENT, 0, token, body);
stage("new Uint8Array(14)", N, () => void new Uint8Array(14));
stage("template.slice()", N, () => void template.slice());
stage("new Uint8Array(n) + set(template)", N, () => void new Uint8Array(template.length).set(template));
stage("2 byte writes", N, (i) => { template[2] = i >> 8; template[3] = i & 0xff; });
const tracked = new TrackedNons(2 * OBSERVERS);
const onReset = () => {};
stage("TrackedNons.add(nonKey(...))", N, (i) => void tracked.add(nonKey(i % OBSERVERS, mid(i)), i + 145_000, i, onReset, keys));
let sink = 0;
stage("try { } catch { }", N, () => { try { sink++; } catch { sink--; } });
trace(`pieces done ${sink + tracked.size}\n`);
