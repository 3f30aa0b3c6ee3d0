/*
 * One region of the GET path counted alone: code under test calls
 * globalThis.__region?.() at the region's start and end (an experiment's temporary
 * lines, never committed in modules/), and this runs N GETs through server.receive
 * under callgrind --collect-atstart=no (host-tests/bench/region.sh).
 */
import { CoapServer, type Peer } from "coap/server";
import { Light, lightResource } from "light/light";
import { callgrindToggle } from "host/meter";

const N = 2000;
const GET_LIGHT = new Uint8Array([0x42, 0x01, 0x00, 0x01, 0xaa, 0x01, 0xb5, 0x6c, 0x69, 0x67, 0x68, 0x74]);
const light = new Light({ set() {} }, { load: () => false, save() {} });
const server = new CoapServer({ send: () => {}, random: Math.random, log: () => {} });
server.add("light", lightResource(light));
const peers: Peer[] = [];
for (let i = 0; i < 16; i++) peers.push({ address: "127.0.0.1", port: 40000 + i });
server.receive(GET_LIGHT, peers[0], 0);
(globalThis as { __region?: () => void }).__region = callgrindToggle;
for (let i = 1; i <= N; i++) {
  GET_LIGHT[2] = (i >> 8) & 0xff;
  GET_LIGHT[3] = i & 0xff;
  server.receive(GET_LIGHT, peers[i & 15], i);
}
