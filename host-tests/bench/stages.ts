/*
 * Instructions per stage of a plain GET /light inside the simulator host, without
 * sockets: each stage runs N times between callgrind's counters being zeroed and
 * dumped (host/meter callgrindZero/callgrindDump), so its dump divided by N is the
 * stage's cost. Run it under callgrind (host-tests/bench/stages.sh); outside callgrind
 * it only runs. For finding where a request's instructions go (issue 17).
 */
import { CoapServer, type Peer } from "coap/server";
import { recogniseGet } from "coap/quick";
import { decode } from "coap/codec";
import { Light, lightResource } from "light/light";
import { callgrindDump, callgrindZero } from "host/meter";

const N = 2000;
const GET_LIGHT = new Uint8Array([0x42, 0x01, 0x00, 0x01, 0xaa, 0x01, 0xb5, 0x6c, 0x69, 0x67, 0x68, 0x74]);
const NON_GET_LIGHT = new Uint8Array([0x52, 0x01, 0x00, 0x01, 0xaa, 0x01, 0xb5, 0x6c, 0x69, 0x67, 0x68, 0x74]);

function stage(label: string, body: (i: number) => void): void {
  body(0); // once outside the window: caches and first-time paths
  callgrindZero();
  for (let i = 1; i <= N; i++) body(i);
  callgrindDump(`${label} x${N}`);
}

const light = new Light({ set() {} }, { load: () => false, save() {} });
let sent = 0;
const server = new CoapServer({ send: () => void sent++, random: Math.random, log: () => {} });
server.add("light", lightResource(light));
const peers: Peer[] = [];
for (let i = 0; i < 16; i++) peers.push({ address: "127.0.0.1", port: 40000 + i });

stage("empty loop", () => {});
let sink = 0;
stage("10 typed array reads", () => { for (let k = 0; k < 10; k++) sink += GET_LIGHT[k]; });
stage("10 loop iterations", () => { for (let k = 0; k < 10; k++) sink += k; });
const dv = new DataView(GET_LIGHT.buffer);
stage("10 DataView getUint8", () => { for (let k = 0; k < 10; k++) sink += dv.getUint8(k); });
stage("subarray(7,12)", () => void GET_LIGHT.subarray(7, 12));
stage("slice(4,6)", () => void GET_LIGHT.slice(4, 6));
stage("fromCharCode.apply(subarray)", () => void String.fromCharCode.apply(null, GET_LIGHT.subarray(7, 12) as unknown as number[]));
stage("fromArrayBuffer(buffer.slice)", () => void String.fromArrayBuffer(GET_LIGHT.buffer.slice(7, 12) as ArrayBuffer));
stage("fromCharCode(a,b,c,d,e)", () => void String.fromCharCode(GET_LIGHT[7], GET_LIGHT[8], GET_LIGHT[9], GET_LIGHT[10], GET_LIGHT[11]));
class P3 { a = 1; b = 2; c = 3; }
class Q3 { #a = 1; #b = 2; #c = 3; get a() { return this.#a; } }
class R3 { constructor(readonly a: number, readonly b: number, readonly c: number) {} }
stage("new class with 3 fields", () => void new P3());
stage("new class with 3 #private", () => void new Q3());
stage("new class with 3 ctor params", () => void new R3(1, 2, 3));
stage("object literal 3 props", () => void ({ a: 1, b: 2, c: 3 }));
const m = new Map<string, number>([["light", 1], ["temperature", 2], ["fw", 3]]);
stage("Map.get string", () => void m.get("light"));
stage("function call", () => void Math.abs(sink));
stage("string concat 3", (i) => void `${i}|${i}|x`);
stage("try/catch empty", () => { try { sink++; } catch { sink--; } });
stage("recogniseGet", () => void recogniseGet(GET_LIGHT));
stage("decode", () => void decode(GET_LIGHT));
stage("receive CON GET /light, 16 peers, fresh message IDs", (i) => {
  GET_LIGHT[2] = (i >> 8) & 0xff;
  GET_LIGHT[3] = i & 0xff;
  server.receive(GET_LIGHT, peers[i & 15], i);
});
stage("receive NON GET /light, 16 peers", (i) => {
  NON_GET_LIGHT[2] = (i >> 8) & 0xff;
  NON_GET_LIGHT[3] = i & 0xff;
  server.receive(NON_GET_LIGHT, peers[i & 15], i);
});
stage("server.nextDeadline", () => void server.nextDeadline());
trace(`stages done: ${sent} answers\n`);
