/*
 * A node's shared CoAP socket (server and client, coap/client's shareSocket) under a
 * flood of datagrams nobody asked for: unsolicited responses (CON, NON, ACK with
 * foreign Message IDs), RSTs, and malformed datagrams that look like responses. Each
 * kind is counted and logged at most once per episode, never once per datagram.
 */
import { test, assert, seededRandom } from "../lib/harness";
import { encode } from "coap/codec";
import { CoapClient, type Peer } from "coap/client";
import { shareSocket } from "coap/share";
import { CoapServer } from "coap/server";
import { Code, Type } from "coap/numbers";
import { FakeClock } from "../lib/clock";

test("10,000 unsolicited and malformed response-like datagrams: counted, and at most one log line per kind", () => {
  const logs: string[] = [];
  const clock = new FakeClock(1_000_000);
  const log = (message: string) => logs.push(message);
  const server = new CoapServer({ send: () => {}, random: seededRandom(1), log });
  server.add("light", { get: () => ({ payload: "0" }) });
  const client = new CoapClient({ send: () => {}, random: seededRandom(2), log });
  const receive = shareSocket(server, client);
  const random = seededRandom(0xbad);
  for (let i = 0; i < 10_000; i++) {
    const peer: Peer = { address: `192.0.2.${1 + (i % 200)}`, port: 5683 + (i % 7) };
    const kind = i % 5;
    let datagram: Uint8Array;
    if (kind === 3) {
      // a response-like datagram that does not parse: code 2.05, token length 9
      datagram = Uint8Array.of(0x49, 0x45, i >> 8, i & 0xff, 1, 2, 3);
    } else if (kind === 4) {
      datagram = Uint8Array.of(0x60 | (Math.floor(random() * 4) << 4), 0x45, i >> 8, i & 0xff, 0xff);
    } else {
      const type = [Type.CON, Type.NON, Type.ACK][kind];
      datagram = encode({ type, code: Code.CONTENT, mid: i & 0xffff, token: Uint8Array.of(i & 0xff, 7), options: [], payload: Uint8Array.of(0x31) });
    }
    receive(datagram, peer, clock.now);
    if (i % 1000 === 999) clock.skip(1000); // ten seconds in all: one episode
  }
  assert.ok(logs.length <= 3, `${logs.length} log lines:\n${logs.slice(0, 6).join("\n")}`);
  const counted = Object.values(client.stats().limitHits).reduce((a, b) => a + (b ?? 0), 0) +
    Object.values(server.limitHits()).reduce((a, b) => a + (b ?? 0), 0);
  assert.atLeast(counted, 4000, "the unsolicited responses and malformed datagrams are counted");
  trace(`  log lines: ${logs.length}; counted: server ${JSON.stringify(server.limitHits())}, client ${JSON.stringify(client.stats().limitHits)}\n`);
});
