/*
 * CoAP client unit tests on a fake transport and clock (RFC 7252 sec 4, 5.2,
 * 5.3; RFC 7959 sec 2): token and Message ID matching, piggybacked and separate
 * responses, RST for unknown tokens, CON retransmission timing, exchange
 * timeouts, Block2 reassembly and its bounds, the bound on outstanding
 * requests; and a client talking to our CoapServer in memory.
 */
import { test, assert, fromHex, toHex, seededRandom } from "../lib/harness";
import { decode, encode, type CoapMessage } from "coap/codec";
import { CoapClient, CoapClientError, type ClientResponse, type Peer } from "coap/client";
import { datagramRole } from "coap/share";
import { CoapServer } from "coap/server";
import { Code, Option, Type } from "coap/numbers";
import { encodeBlock, encodeUint, getBlock2, getUriPath, getUriQuery, getContentFormat } from "coap/options";
import { utf8Decode } from "coap/utf8";
import { clientRig, settle, text, SERVER } from "./rig";
import { FakeClock } from "../lib/clock";

const ok: (value: unknown, message?: string) => void = assert.ok;

function track<T>(promise: Promise<T>) {
  const state: { done: boolean; value?: T; error?: unknown } = { done: false };
  promise.then(
    (value) => ((state.done = true), (state.value = value)),
    (error) => ((state.done = true), (state.error = error)),
  );
  return state;
}

function reason(error: unknown): string {
  return error instanceof CoapClientError ? error.reason : `not a CoapClientError: ${error}`;
}

test("client: GET with a piggybacked response; matched by Message ID and token", async () => {
  const r = clientRig();
  const result = track(r.client.request({ path: "/sensors/temp", query: ["u=c"], accept: 0 }, r.clock.now));
  const [req] = r.take();
  assert.equal(req.type, Type.CON);
  assert.equal(req.code, Code.GET);
  assert.equal(req.token.length, 4, "a 4-byte random token");
  assert.deepEqual(getUriPath(req.options), ["sensors", "temp"]);
  assert.deepEqual(getUriQuery(req.options), ["u=c"]);
  r.receive({ type: Type.ACK, mid: req.mid, code: Code.CONTENT, token: req.token, payload: text("22.5"), options: [{ number: Option.CONTENT_FORMAT, value: new Uint8Array(0) }] });
  await settle();
  ok(result.done && !result.error, String(result.error));
  const response = result.value as ClientResponse;
  assert.equal(response.code, Code.CONTENT);
  assert.equal(response.text(), "22.5");
  assert.equal(response.contentFormat, 0);
  assert.equal(r.client.stats().exchanges, 0);
  assert.equal(r.client.stats().pending, 0);
  await r.advance(300_000);
  assert.deepEqual(r.take(), [], "nothing retransmitted after the ACK");
});

test("client: a piggybacked ACK with another token is ignored; the exchange times out", async () => {
  const r = clientRig();
  const result = track(r.client.request({ path: "a", timeout: 10_000 }, r.clock.now));
  const [req] = r.take();
  r.receive({ type: Type.ACK, mid: req.mid, code: Code.CONTENT, token: fromHex("deadbeef"), payload: text("x") });
  await settle();
  assert.equal(result.done, false);
  ok(r.logs.some((l) => /foreign token/.test(l)), r.logs.join("\n"));
  await r.advance(10_000);
  await settle();
  assert.equal(reason(result.error), "timeout");
});

test("client: separate response (Empty ACK, then CON) is acknowledged; a duplicate is ACKed again, delivered once", async () => {
  const r = clientRig();
  let deliveries = 0;
  const result = track(r.client.request({ path: "slow" }, r.clock.now).then((v) => (deliveries++, v)));
  const [req] = r.take();
  r.receive({ type: Type.ACK, mid: req.mid });
  await r.advance(50_000);
  assert.deepEqual(r.take(), [], "no retransmission after the Empty ACK");
  const response = { type: Type.CON, mid: 0x7777, code: Code.CONTENT, token: req.token, payload: text("late") } as const;
  r.receive(response);
  assert.deepEqual(r.take().map((m) => toHex(encode(m))), ["60007777"], "Empty ACK with the response's Message ID");
  r.receive(response);
  assert.deepEqual(r.take().map((m) => toHex(encode(m))), ["60007777"], "the duplicate is ACKed again");
  await settle();
  assert.equal(deliveries, 1);
  assert.equal((result.value as ClientResponse).text(), "late");
});

test("client: a separate response that overtakes the ACK ends retransmission", async () => {
  const r = clientRig();
  const result = track(r.client.request({ path: "x" }, r.clock.now));
  const [req] = r.take();
  r.receive({ type: Type.CON, mid: 0x1000, code: Code.CONTENT, token: req.token, payload: text("1") });
  await settle();
  assert.equal((result.value as ClientResponse).text(), "1");
  r.take();
  await r.advance(100_000);
  assert.deepEqual(r.take(), [], "the request is not sent again");
  assert.equal(r.client.stats().pending, 0);
});

test("client: NON request, NON response matched by token", async () => {
  const r = clientRig();
  const result = track(r.client.request({ path: "x", confirmable: false }, r.clock.now));
  const [req] = r.take();
  assert.equal(req.type, Type.NON);
  r.receive({ type: Type.NON, mid: 0x2000, code: Code.CONTENT, token: req.token, payload: text("n") });
  assert.deepEqual(r.take(), [], "a NON response is not acknowledged");
  await settle();
  assert.equal((result.value as ClientResponse).text(), "n");
});

test("client: a response with an unknown token gets RST (CON and NON); a stray ACK is ignored", () => {
  const r = clientRig();
  r.receive({ type: Type.CON, mid: 0x3000, code: Code.CONTENT, token: fromHex("01020304") });
  r.receive({ type: Type.NON, mid: 0x3001, code: Code.CONTENT, token: fromHex("01020304") });
  r.receive({ type: Type.ACK, mid: 0x3002, code: Code.CONTENT, token: fromHex("01020304") });
  assert.deepEqual(r.take().map((m) => toHex(encode(m))), ["70003000", "70003001"]);
});

test("client: RST to the request rejects with 'reset'", async () => {
  const r = clientRig();
  const result = track(r.client.request({ path: "x" }, r.clock.now));
  const [req] = r.take();
  r.receive({ type: Type.RST, mid: req.mid });
  await settle();
  assert.equal(reason(result.error), "reset");
  assert.equal(r.client.stats().exchanges, 0);
});

test("client: CON retransmitted at 2, 4, 8, 16 s (random factor at its floor), rejected at 62 s", async () => {
  const r = clientRig({ random: () => 0 });
  const start = r.clock.now;
  const result = track(r.client.request({ path: "x" }, r.clock.now));
  await r.advance(120_000);
  await settle();
  const times = r.sent.map((s) => s.at - start);
  assert.deepEqual(times, [0, 2000, 6000, 14000, 30000], "RFC 7252 sec 4.8: ACK_TIMEOUT doubling, MAX_RETRANSMIT 4");
  const mids = new Set(r.sent.map((s) => s.message.mid));
  assert.equal(mids.size, 1, "a retransmission keeps the Message ID");
  assert.equal(reason(result.error), "timeout");
});

test("client: the random factor spreads the first timeout over [ACK_TIMEOUT, 1.5 ACK_TIMEOUT]", async () => {
  const r = clientRig({ random: () => 0.999 });
  const start = r.clock.now;
  track(r.client.request({ path: "x" }, r.clock.now));
  await r.advance(3000);
  const times = r.sent.map((s) => s.at - start);
  assert.equal(times.length, 2);
  ok(times[1] > 2990 && times[1] <= 3000, `first retransmission at ${times[1]} ms`);
  r.client.close(r.clock.now);
  await settle();
});

test("client: exchange timeout covers the wait for a separate response", async () => {
  const r = clientRig();
  const result = track(r.client.request({ path: "x", timeout: 5000 }, r.clock.now));
  const [req] = r.take();
  r.receive({ type: Type.ACK, mid: req.mid });
  await r.advance(4999);
  await settle();
  assert.equal(result.done, false);
  await r.advance(1);
  await settle();
  assert.equal(reason(result.error), "timeout");
  // a response after the timeout has an unknown token: RST
  r.receive({ type: Type.CON, mid: 0x4000, code: Code.CONTENT, token: req.token });
  assert.deepEqual(r.take().map((m) => m.type), [Type.RST]);
});

test("client: at most maxExchanges outstanding; the next is refused with 'busy'; close() rejects the rest", async () => {
  const r = clientRig({ limits: { maxExchanges: 2 } });
  const a = track(r.client.request({ path: "a" }, r.clock.now));
  const b = track(r.client.request({ path: "b" }, r.clock.now));
  const c = track(r.client.request({ path: "c" }, r.clock.now));
  await settle();
  assert.equal(reason(c.error), "busy");
  const tokens = r.take().map((m) => toHex(m.token));
  assert.equal(tokens.length, 2);
  assert.notEqual(tokens[0], tokens[1], "distinct tokens");
  r.client.close(r.clock.now);
  await settle();
  assert.equal(reason(a.error), "closed");
  assert.equal(reason(b.error), "closed");
  assert.equal(reason(await r.client.request({ path: "d" }, r.clock.now).catch((e) => e)), "closed", "a closed client refuses new requests");
});

/** Answers every block request with the matching slice of `body`, at `szx`. */
function serveBlocks(r: ReturnType<typeof clientRig>, body: Uint8Array, szx: number, options: { etagAt?: number; size2?: number } = {}) {
  const size = 16 << szx;
  let answered = 0;
  for (let i = 0; i < 200; i++) {
    const sent = r.take();
    if (sent.length === 0) break;
    for (const req of sent) {
      const asked = getBlock2(req.options);
      const num = asked ? (asked.num * (16 << asked.szx)) / size : 0;
      const slice = body.subarray(num * size, Math.min(body.length, (num + 1) * size));
      const more = (num + 1) * size < body.length;
      const etag = options.etagAt !== undefined && num >= options.etagAt ? 2 : 1;
      const opts: { number: number; value: Uint8Array }[] = [
        { number: Option.ETAG, value: Uint8Array.of(etag) },
        { number: Option.BLOCK2, value: encodeBlock({ num, more, szx }) },
      ];
      if (num === 0) opts.push({ number: Option.SIZE2, value: encodeUint(options.size2 ?? body.length) });
      r.receive({ type: Type.ACK, mid: req.mid, code: Code.CONTENT, token: req.token, options: opts, payload: slice });
      answered++;
    }
  }
  return answered;
}

function body(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = 33 + (i % 90);
  return out;
}

test("client: Block2 reassembly: 1000 bytes in 64-byte blocks, each block under a new token", async () => {
  const r = clientRig();
  const data = body(1000);
  const result = track(r.client.request({ path: "large", blockSzx: 2 }, r.clock.now));
  const first = r.sent[0].message;
  assert.deepEqual(getBlock2(first.options), { num: 0, more: false, szx: 2 }, "the client asks for 64-byte blocks");
  const tokens = new Set<string>();
  const origTake = r.take;
  r.take = () => {
    const m = origTake();
    for (const x of m) tokens.add(toHex(x.token));
    return m;
  };
  assert.equal(serveBlocks(r, data, 2), 16);
  await settle();
  ok(!result.error, String(result.error));
  assert.deepEqual((result.value as ClientResponse).payload, data);
  assert.equal(tokens.size, 16);
  assert.equal(r.client.stats().exchanges, 0);
});

test("client: Block2: the server's smaller block size is followed", async () => {
  const r = clientRig();
  const data = body(100);
  const result = track(r.client.request({ path: "large", blockSzx: 6 }, r.clock.now));
  serveBlocks(r, data, 0);
  await settle();
  assert.deepEqual((result.value as ClientResponse).payload, data);
});

test("client: Block2 bounds: Size2 above maxBody, a body growing past it, an ETag change", async () => {
  let r = clientRig({ limits: { maxBody: 256 } });
  let result = track(r.client.request({ path: "large" }, r.clock.now));
  serveBlocks(r, body(1000), 2);
  await settle();
  assert.equal(reason(result.error), "too-large", "Size2 announced 1000");

  r = clientRig({ limits: { maxBody: 256 } });
  result = track(r.client.request({ path: "large" }, r.clock.now));
  serveBlocks(r, body(1000), 2, { size2: 100 });
  await settle();
  assert.equal(reason(result.error), "too-large", "lying Size2, the bytes themselves pass the bound");

  r = clientRig();
  result = track(r.client.request({ path: "large" }, r.clock.now));
  serveBlocks(r, body(1000), 2, { etagAt: 3 });
  await settle();
  assert.equal(reason(result.error), "bad-block");
  assert.equal(r.client.stats().exchanges, 0);
});

test("client: Block2: a block out of sequence is refused", async () => {
  const r = clientRig();
  const result = track(r.client.request({ path: "large" }, r.clock.now));
  const [req] = r.take();
  r.receive({ type: Type.ACK, mid: req.mid, code: Code.CONTENT, token: req.token, options: [{ number: Option.BLOCK2, value: encodeBlock({ num: 2, more: true, szx: 0 }) }], payload: body(16) });
  await settle();
  assert.equal(reason(result.error), "bad-block");
});

test("client: a Location-Path of a 2.01 is returned as segments", async () => {
  const r = clientRig();
  const result = track(r.client.request({ method: "POST", path: "rd", payload: "</a>", contentFormat: 40 }, r.clock.now));
  const [req] = r.take();
  assert.equal(getContentFormat(req.options), 40);
  assert.equal(utf8Decode(req.payload), "</a>");
  r.receive({ type: Type.ACK, mid: req.mid, code: Code.CREATED, token: req.token, options: [{ number: Option.LOCATION_PATH, value: text("rd") }, { number: Option.LOCATION_PATH, value: text("4521") }] });
  await settle();
  assert.deepEqual((result.value as ClientResponse).locationPath, ["rd", "4521"]);
});

test("client: a bad request is refused before anything is sent", async () => {
  const r = clientRig();
  const noPeer = new CoapClient({ send: () => {} });
  assert.equal(reason(await noPeer.request({ path: "x" }, 0).catch((e) => e)), "invalid");
  assert.equal(reason(await r.client.request({ path: "x", blockSzx: 7 }, r.clock.now).catch((e) => e)), "invalid");
  assert.equal(reason(await r.client.request({ path: "x".repeat(70_000) }, r.clock.now).catch((e) => e)), "invalid");
  assert.equal(r.sent.length, 0);
  assert.equal(r.client.stats().exchanges, 0);
});

test("datagramRole: requests and pings to the server, responses to the client, Empty ACK/RST to both", () => {
  assert.equal(datagramRole(fromHex("4001123401")), "server");
  assert.equal(datagramRole(fromHex("40001234")), "server");
  assert.equal(datagramRole(fromHex("6045123401")), "client");
  assert.equal(datagramRole(fromHex("4145123401")), "client");
  assert.equal(datagramRole(fromHex("60001234")), "both");
  assert.equal(datagramRole(fromHex("70001234")), "both");
  assert.equal(datagramRole(fromHex("ff")), "server");
});

/** A client and our server connected in memory (a loss-free wire), on one FakeClock. */
function pair() {
  const clock = new FakeClock(5_000_000);
  const CLIENT_PEER: Peer = { address: "192.0.2.1", port: 40000 };
  const queue: { to: "client" | "server"; bytes: Uint8Array }[] = [];
  const server = new CoapServer({ send: (bytes) => queue.push({ to: "client", bytes }), random: seededRandom(3) });
  const client = new CoapClient({ send: (bytes) => queue.push({ to: "server", bytes }), random: seededRandom(4), peer: SERVER });
  /** the server's due work first (what settled asynchronous handlers answered: its timer firing), then the wire */
  const pump = () => {
    clock.fire(server);
    for (let i = 0; i < 1000 && queue.length; i++) {
      const { to, bytes } = queue.shift()!;
      if (to === "server") server.receive(bytes, CLIENT_PEER, clock.now);
      else client.receive(bytes, SERVER, clock.now);
    }
  };
  return { server, client, pump, clock };
}

test("client <-> CoapServer in memory: GET, Block2 of a 3000-byte resource, POST to a missing path", async () => {
  const p = pair();
  const large = "0123456789abcdef".repeat(200).slice(0, 3000);
  p.server.add("large", { get: () => ({ payload: large }) });
  p.server.add("slow", { get: () => new Promise((resolve) => resolve({ payload: "async" })) });
  const a = track(p.client.request({ path: "large", blockSzx: 4 }, p.clock.now));
  const b = track(p.client.request({ path: "nothing", method: "POST", payload: "x" }, p.clock.now));
  for (let i = 0; i < 100 && !(a.done && b.done); i++) {
    p.pump();
    await settle();
  }
  assert.equal((a.value as ClientResponse).text(), large);
  assert.equal((b.value as ClientResponse).code, Code.NOT_FOUND);
  const c = track(p.client.request({ path: "slow" }, p.clock.now));
  for (let i = 0; i < 20 && !c.done; i++) {
    p.pump();
    await settle();
  }
  assert.equal((c.value as ClientResponse).text(), "async");
  assert.equal(p.client.stats().exchanges, 0);
  assert.equal(p.server.stats().pending, 0, "the server's separate response was acknowledged");
});

test("client: decoded requests are valid CoAP (round trip through the codec)", () => {
  const r = clientRig();
  track(r.client.request({ method: "PUT", path: "a/b c", query: ["x=1"], payload: "on", contentFormat: 0 }, r.clock.now));
  const bytes = r.sent[0].bytes;
  const again: CoapMessage = decode(bytes);
  assert.equal(toHex(encode(again)), toHex(bytes));
  r.client.close(r.clock.now);
});
