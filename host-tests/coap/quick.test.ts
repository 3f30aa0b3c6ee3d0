/*
 * quick.ts against the general path: for GETs of every shape and many seeded
 * mutations of them, what recogniseGet() recognises must be exactly what decode()
 * and checkRequest() make of the same bytes (header, token, options, path, key, no
 * query, Block2, Observe, Accept or Content-Format), and what it does not recognise
 * is left to them. Both outcomes must occur, or the comparison proves nothing.
 */
import { test, assert, toHex, seededRandom } from "../lib/harness";
import { decode, encode, encodeAckTo, encodeBody, encodeWithBody, type CoapMessage, type CoapOption } from "coap/codec";
import { checkRequest, isRefusal } from "coap/check";
import { Code, DEFAULT_LIMITS, Option, Type, formatCode } from "coap/numbers";
import { CoapServer, type CoapRequest, type CoapResponse } from "coap/server";
import { encodeUint, setUriPath, setUriQuery } from "coap/options";
import { recogniseGet } from "coap/quick";
import { utf8Decode, utf8Encode } from "coap/utf8";

const optionsHex = (options: readonly CoapOption[]) => options.map((o) => `${o.number}:${toHex(o.value)}`).join(",");

function seeds(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const add = (type: number, code: number, token: number[], build: (options: CoapOption[]) => void, payload = "") => {
    const options: CoapOption[] = [];
    build(options);
    out.push(encode({ type: type as Type, code, mid: 0x1234 + out.length, token: new Uint8Array(token), options, payload: utf8Encode(payload) }));
  };
  for (const type of [Type.CON, Type.NON]) {
    add(type, Code.GET, [], (o) => setUriPath(o, "light"));
    add(type, Code.GET, [1, 2, 3, 4, 5, 6, 7, 8], (o) => setUriPath(o, "temperature"));
    add(type, Code.GET, [9], (o) => setUriPath(o, ".well-known/core"));
    add(type, Code.GET, [9], (o) => setUriPath(o, "a/b/c/d"));
    add(type, Code.GET, [], () => {});
    add(type, Code.GET, [7], (o) => setUriPath(o, "twelve-bytes"));
    add(type, Code.GET, [7], (o) => setUriPath(o, "thirteen-byte"));
    add(type, Code.GET, [7], (o) => setUriPath(o, "l\u00e9ger"));
    add(type, Code.GET, [7], (o) => (setUriPath(o, "light"), o.push({ number: Option.ACCEPT, value: encodeUint(50) })));
    add(type, Code.GET, [7], (o) => (setUriPath(o, "light"), o.push({ number: Option.OBSERVE, value: encodeUint(0) })));
    add(type, Code.GET, [7], (o) => (setUriPath(o, ".well-known/core"), setUriQuery(o, ["rt=light"])));
    add(type, Code.GET, [7], (o) => setUriPath(o, "light"), "x");
    add(type, Code.PUT, [7], (o) => setUriPath(o, "light"), "1");
    add(type, Code.GET, [7], (o) => o.push({ number: Option.URI_PATH, value: utf8Encode("a") }, { number: Option.URI_PATH, value: utf8Encode("..") }));
    add(type, Code.GET, [7], (o) => o.push({ number: Option.URI_PATH, value: utf8Encode(".") }));
    add(type, Code.GET, [7], (o) => setUriPath(o, "A".repeat(13 + 0x41))); // its extended length byte is "A"
  }
  return out;
}

function mutate(bytes: Uint8Array, random: () => number): Uint8Array {
  const out = bytes.slice();
  const edits = 1 + Math.floor(random() * 3);
  for (let i = 0; i < edits; i++) {
    const pick = random();
    const at = Math.floor(random() * out.length);
    if (pick < 0.6) out[at] = Math.floor(random() * 256);
    else if (pick < 0.8) out[at] ^= 1 << Math.floor(random() * 8);
    else return out.subarray(0, at); // truncated
  }
  return out;
}

test("quick GET: whatever recogniseGet() recognises is what decode() and checkRequest() make of it; the rest is left to them", () => {
  const random = seededRandom(2026);
  let recognised = 0;
  let left = 0;
  const all = seeds();
  const cases: Uint8Array[] = [...all];
  for (let i = 0; i < 20_000; i++) cases.push(mutate(all[Math.floor(random() * all.length)], random));
  for (const bytes of cases) {
    const quick = recogniseGet(bytes);
    if (quick === undefined) {
      left++;
      continue;
    }
    recognised++;
    const what = toHex(bytes);
    const message = decode(bytes); // throws (fails the test) if the general path would call it malformed
    assert.equal(quick.type, message.type, what);
    assert.equal(quick.code, message.code, what);
    assert.equal(quick.mid, message.mid, what);
    assert.equal(toHex(quick.token), toHex(message.token), what);
    assert.equal(quick.payload.length, 0, what);
    assert.equal(message.payload.length, 0, what);
    assert.equal(optionsHex(quick.options), optionsHex(message.options), what);
    const checked = checkRequest(message, DEFAULT_LIMITS);
    if (isRefusal(checked)) throw new Error(`recognised, but the general path refuses it (${checked.diagnostic}): ${what}`);
    assert.deepEqual(quick.path, checked.path, what);
    assert.equal(quick.key, checked.key, what);
    assert.deepEqual(quick.query, checked.query, what);
    for (const field of ["block2", "observe", "accept", "contentFormat"] as const) assert.equal(quick[field], checked[field], `${field}: ${what}`);
  }
  trace(`  ${recognised} recognised, ${left} left to the general path\n`);
  assert.ok(recognised > 1000 && left > 1000, `both outcomes occur (${recognised} / ${left})`);
  // a datagram that is a view into a larger buffer (as a DTLS record's plaintext can be) reads the same
  for (const bytes of all) {
    const framed = new Uint8Array(bytes.length + 7);
    framed.fill(0x41);
    framed.set(bytes, 3);
    const view = framed.subarray(3, 3 + bytes.length);
    const direct = recogniseGet(bytes);
    const viewed = recogniseGet(view);
    assert.equal(viewed === undefined, direct === undefined, toHex(bytes));
    if (direct && viewed) assert.deepEqual([viewed.path, viewed.key, toHex(viewed.token), viewed.mid], [direct.path, direct.key, toHex(direct.token), direct.mid], toHex(bytes));
  }
  // the shapes it is for, and those it leaves alone
  const shapes = seeds().map((bytes) => recogniseGet(bytes) !== undefined);
  assert.deepEqual(shapes.slice(0, 13), [true, true, true, true, true, true, false, false, false, false, false, false, false]);
});

test("quick GET: a handler that asks for the options gets them as received; once kept, the GET holds copies, nothing of the datagram", () => {
  const bytes = encode({ type: Type.CON, code: Code.GET, mid: 1, token: new Uint8Array([5]), options: [{ number: Option.URI_PATH, value: utf8Encode("light") }], payload: new Uint8Array(0) });
  const quick = recogniseGet(bytes)!;
  assert.equal(toHex(quick.token), "05"); // read from the datagram, then copied
  const other = recogniseGet(bytes)!;
  other.keep(); // what the server does before an exchange keeps it
  bytes.fill(0); // the buffer changes afterwards
  assert.equal(toHex(quick.token), "05");
  assert.equal(toHex(other.token), "05");
  assert.deepEqual(quick.path, ["light"]);
  assert.equal(optionsHex(quick.options), `11:${toHex(utf8Encode("light"))}`);
});

/* the server's direct answer (server.ts #answerAtOnce) against what the general path does */
function serverWith(get: (request: CoapRequest) => CoapResponse | Promise<CoapResponse>) {
  const sent: CoapMessage[] = [];
  const server = new CoapServer({ send: (bytes) => sent.push(decode(bytes)), random: seededRandom(9), log: () => {} });
  let calls = 0;
  server.add("thing", { get: (request) => (calls++, get(request)) });
  const peer = { address: "192.0.2.1", port: 5683 };
  let mid = 100;
  const ask = (type = Type.CON, now = 0): void => {
    server.receive(encode({ type, code: Code.GET, mid: mid++, token: new Uint8Array([mid & 0xff]), options: [{ number: Option.URI_PATH, value: utf8Encode("thing") }], payload: new Uint8Array(0) }), peer, now);
  };
  return { server, sent, ask, calls: () => calls, peer };
}

test("direct answer: a CON GET answered as the general path answers it; the handler runs once per request, whether its answer is the last one, another, or a promise", async () => {
  let value = "a";
  let slow: Promise<CoapResponse> | undefined;
  const node = serverWith(() => slow ?? { payload: value });
  for (let i = 0; i < 3; i++) node.ask(); // the first encodes the answer, the next two take the direct path
  value = "b";
  node.ask(); // another answer than the last: the general path, with the result the handler already gave
  assert.equal(node.calls(), 4);
  assert.deepEqual(node.sent.map((m) => [m.type, formatCode(m.code), utf8Decode(m.payload)]), [
    [Type.ACK, "2.05", "a"], [Type.ACK, "2.05", "a"], [Type.ACK, "2.05", "a"], [Type.ACK, "2.05", "b"],
  ]);
  assert.deepEqual(node.sent.map((m) => m.mid), [100, 101, 102, 103]);
  assert.deepEqual(node.sent.map((m) => toHex(m.token)), ["65", "66", "67", "68"]);
  // a promise: an Empty ACK now, the answer as a separate CON once it settles (as before), the handler run once
  let settle!: (response: CoapResponse) => void;
  slow = new Promise((resolve) => (settle = resolve));
  node.sent.length = 0;
  node.ask(Type.CON, 10);
  assert.equal(node.calls(), 5);
  assert.deepEqual(node.sent.map((m) => [m.type, m.code]), [[Type.ACK, Code.EMPTY]]);
  settle({ payload: "c" });
  await slow;
  node.server.tick(20);
  assert.deepEqual(node.sent.map((m) => [m.type, formatCode(m.code), utf8Decode(m.payload)]), [[Type.ACK, "0.00", ""], [Type.CON, "2.05", "c"]]);
  assert.equal(node.calls(), 5);
});

test("direct answer: while a safe request is remembered (answered separately), a retransmitted CON GET gets its Empty ACK again and the handler does not run again", async () => {
  let settle!: (response: CoapResponse) => void;
  let pending: Promise<CoapResponse> | undefined;
  const node = serverWith(() => pending ?? { payload: "x" });
  node.ask();
  node.ask(); // memoised: direct from now on
  pending = new Promise((resolve) => (settle = resolve));
  const bytes = encode({ type: Type.CON, code: Code.GET, mid: 7, token: new Uint8Array([7]), options: [{ number: Option.URI_PATH, value: utf8Encode("thing") }], payload: new Uint8Array(0) });
  node.sent.length = 0;
  node.server.receive(bytes, node.peer, 1);
  pending = undefined; // a new run would answer at once: a duplicate must not run it
  node.server.receive(bytes, node.peer, 2); // the retransmission
  assert.equal(node.calls(), 3);
  assert.deepEqual(node.sent.map((m) => [m.type, m.code, m.mid]), [[Type.ACK, Code.EMPTY, 7], [Type.ACK, Code.EMPTY, 7]]);
  settle({ payload: "y" });
  await Promise.resolve();
  node.server.tick(3);
  assert.equal(node.sent.length, 3);
  assert.equal(utf8Decode(node.sent[2].payload), "y");
});

test("encodeAckTo: the ACK made from the request's bytes is the one encodeWithBody() makes from its fields, whether the request is longer or shorter than the answer", () => {
  const random = seededRandom(17);
  let longer = 0;
  let shorter = 0;
  for (let i = 0; i < 300; i++) {
    const token = new Uint8Array(Math.floor(random() * 9)).map(() => Math.floor(random() * 256));
    const mid = Math.floor(random() * 0x10000);
    const path = "p".repeat(1 + Math.floor(random() * 12));
    const request = encode({ type: random() < 0.5 ? Type.CON : Type.NON, code: Code.GET, mid, token, options: [{ number: Option.URI_PATH, value: utf8Encode(path) }], payload: new Uint8Array(0) });
    const body = encodeBody([{ number: Option.CONTENT_FORMAT, value: encodeUint(Math.floor(random() * 3) * 50) }], utf8Encode("x".repeat(Math.floor(random() * 20))));
    const code = random() < 0.5 ? Code.CONTENT : Code.NOT_FOUND;
    const expected = toHex(encodeWithBody(Type.ACK, code, mid, token, body));
    const copy = request.slice();
    assert.equal(toHex(encodeAckTo(request, code, body)), expected, `token ${toHex(token)}, path ${path}`);
    assert.equal(toHex(request), toHex(copy), "the request is read, not changed");
    if (request.length >= 4 + token.length + body.length) longer++;
    else shorter++;
  }
  assert.ok(longer > 20 && shorter > 20, `both branches: ${longer} longer, ${shorter} shorter`);
});

test("direct answer: a frozen response matches the last answer in one step, and only for the code it was encoded with", () => {
  const A = Object.freeze({ payload: "a" });
  const B = Object.freeze({ payload: "b" });
  let current: CoapResponse = A;
  const node = serverWith(() => current);
  node.server.add("thing", { get: () => current, put: () => current });
  node.ask();
  node.ask(); // the same frozen object: the direct answer
  current = B;
  node.ask(); // another frozen object: encoded again
  node.ask();
  const put = encode({ type: Type.CON, code: Code.PUT, mid: 900, token: new Uint8Array([9]), options: [{ number: Option.URI_PATH, value: utf8Encode("thing") }], payload: new Uint8Array(0) });
  node.server.receive(put, node.peer, 1); // B again, but a PUT's default code is 2.04, not the 2.05 its bytes were made with
  assert.deepEqual(node.sent.map((m) => [formatCode(m.code), utf8Decode(m.payload)]), [["2.05", "a"], ["2.05", "a"], ["2.05", "b"], ["2.05", "b"], ["2.04", "b"]]);
});
