/*
 * Server tests: routing, the request the handler sees, default codes, and every
 * refusal (4.04, 4.05, 4.02, 4.00, 4.15, 4.06, 4.13, 5.00, 5.03, 5.05) with the
 * server still serving afterwards.
 */
import { test, assert, fromHex, toHex, seededRandom, sleep } from "../lib/harness";
import { FakeClock } from "../lib/clock";
import { decode, encode, type CoapMessage, type CoapOption } from "coap/codec";
import { Code, ContentFormat, Option, Type, formatCode, type Limits } from "coap/numbers";
import { encodeUint, getContentFormat, getETag, getMaxAge, getOption, setUriPath, setUriQuery } from "coap/options";
import { CoapServer, type CoapRequest, type Peer } from "coap/server";
import { utf8Decode, utf8Encode } from "coap/utf8";

const ok: (value: unknown, message?: string) => void = assert.ok; // see codec.test.ts (TS2775)

const CLIENT: Peer = { address: "192.0.2.1", port: 50000 };

function rig(limits?: Partial<Limits>) {
  const clock = new FakeClock(5_000);
  const sent: { bytes: Uint8Array; peer: Peer }[] = [];
  const logs: string[] = [];
  const server = new CoapServer({
    send: (bytes, peer) => sent.push({ bytes, peer }),
    random: seededRandom(11),
    log: (message) => logs.push(message),
    limits,
  });
  let mid = 0x100;
  /** sends a request and returns every message the server sent in answer, decoded */
  const ask = (fields: RequestFields): CoapMessage[] => {
    server.receive(request({ mid: mid++, ...fields }), CLIENT, clock.now);
    return sent.splice(0).map((s) => decode(s.bytes));
  };
  /** the single piggybacked reply */
  const reply = (fields: RequestFields): CoapMessage => {
    const replies = ask(fields);
    assert.equal(replies.length, 1, "one reply");
    return replies[0];
  };
  return { server, sent, logs, clock, ask, reply };
}

interface RequestFields {
  type?: Type;
  code?: number;
  mid?: number;
  token?: string;
  path?: string;
  query?: string[];
  options?: CoapOption[];
  payload?: string | Uint8Array;
}

function request(fields: RequestFields): Uint8Array {
  const options = fields.options ? fields.options.slice() : [];
  if (fields.path !== undefined) setUriPath(options, fields.path);
  if (fields.query) setUriQuery(options, fields.query);
  return encode({
    type: fields.type ?? Type.CON,
    code: fields.code ?? Code.GET,
    mid: fields.mid ?? 1,
    token: fromHex(fields.token ?? "a1"),
    options,
    payload: typeof fields.payload === "string" ? utf8Encode(fields.payload) : fields.payload ?? new Uint8Array(0),
  });
}

const uint = (number: number, value: number): CoapOption => ({ number, value: encodeUint(value) });
const text = (m: CoapMessage) => utf8Decode(m.payload);
const codeOf = (m: CoapMessage) => formatCode(m.code);

function lightServer(limits?: Partial<Limits>) {
  const r = rig(limits);
  const state = { on: false, requests: [] as CoapRequest[] };
  r.server.add("light", {
    accepts: [ContentFormat.TEXT_PLAIN, ContentFormat.JSON],
    produces: [ContentFormat.TEXT_PLAIN, ContentFormat.JSON],
    get: (req) => {
      state.requests.push(req);
      return req.accept === ContentFormat.JSON
        ? { contentFormat: ContentFormat.JSON, payload: JSON.stringify({ on: state.on }) }
        : { contentFormat: ContentFormat.TEXT_PLAIN, payload: state.on ? "1" : "0", maxAge: 5, etag: fromHex("0102") };
    },
    put: (req) => {
      state.requests.push(req);
      const body = req.text();
      if (body !== "0" && body !== "1") return { code: Code.BAD_REQUEST, payload: "expected 0 or 1" };
      state.on = body === "1";
      return {};
    },
  });
  return { ...r, light: state };
}

test("server: routes by Uri-Path and hands the handler the request", () => {
  const r = lightServer();
  r.server.add("a/b", { post: () => ({ code: Code.CREATED }) });
  const got = r.reply({ path: "light", token: "c0ffee", query: ["x=1", "y"], options: [uint(Option.ACCEPT, 0)] });
  assert.equal(codeOf(got), "2.05");
  assert.equal(toHex(got.token), "c0ffee");
  assert.equal(text(got), "0");
  assert.equal(getContentFormat(got.options), 0);
  assert.equal(getMaxAge(got.options), 5);
  assert.equal(toHex(getETag(got.options)!), "0102");
  const seen = r.light.requests[0];
  assert.equal(seen.method, "GET");
  assert.deepEqual(seen.path, ["light"]);
  assert.deepEqual(seen.query, ["x=1", "y"]);
  assert.equal(seen.accept, 0);
  assert.deepEqual(seen.peer, CLIENT);
  assert.equal(seen.notification, false);
  assert.equal(codeOf(r.reply({ path: "/a/b", code: Code.POST })), "2.01");
});

test("server: a resource's plain answer is encoded once per state: each answer's bytes are still its own (code, Content-Format, payload, token, Message ID)", () => {
  const r = rig();
  const answers = [
    { payload: "0" },
    { payload: "0" },
    { payload: "1" },
    { payload: "1", contentFormat: ContentFormat.JSON },
    { payload: "1", code: Code.VALID },
    { payload: "1", maxAge: 5 },
    { payload: "1" },
    { payload: "x".repeat(1100) }, // too long for one message: Block2, never kept
    { payload: "1" },
  ];
  let next = 0;
  r.server.add("state", { get: () => answers[next++] });
  for (let i = 0; i < answers.length; i++) {
    const answer = answers[i];
    const got = r.reply({ path: "state", token: `0${i}` });
    assert.equal(toHex(got.token), `0${i}`);
    assert.equal(got.code, answer.code ?? Code.CONTENT, `answer ${i}`);
    assert.equal(getContentFormat(got.options), answer.contentFormat, `answer ${i}`);
    assert.equal(getMaxAge(got.options) ?? undefined, answer.maxAge, `answer ${i}`);
    const text = answer.payload.length > 1000 ? answer.payload.slice(0, 1024) : answer.payload;
    assert.equal(utf8Decode(got.payload), text, `answer ${i}`);
  }
});

test("server: default success codes and content negotiation by Accept", () => {
  const r = lightServer();
  assert.equal(codeOf(r.reply({ path: "light", code: Code.PUT, payload: "1" })), "2.04");
  const json = r.reply({ path: "light", options: [uint(Option.ACCEPT, ContentFormat.JSON)] });
  assert.equal(text(json), '{"on":true}');
  assert.equal(getContentFormat(json.options), ContentFormat.JSON);
  const put = r.light.requests.find((q) => q.method === "PUT")!;
  assert.equal(put.contentFormat, undefined, "no Content-Format given: accepted");
  assert.equal(put.text(), "1");
  r.server.add("thing", { delete: () => ({}) });
  assert.equal(codeOf(r.reply({ path: "thing", code: Code.DELETE })), "2.02");
  // the handler's own 4.00 with its reason
  const bad = r.reply({ path: "light", code: Code.PUT, payload: "maybe" });
  assert.equal(codeOf(bad), "4.00");
  assert.equal(text(bad), "expected 0 or 1");
});

test("server: 4.04 for an unknown path, 4.05 for a method the resource lacks", () => {
  const r = lightServer();
  assert.equal(codeOf(r.reply({ path: "nothing" })), "4.04");
  assert.equal(codeOf(r.reply({ path: "light/extra" })), "4.04");
  assert.equal(codeOf(r.reply({})), "4.04", "no path: the root, which has no resource");
  assert.equal(codeOf(r.reply({ path: "light", code: Code.DELETE })), "4.05");
  assert.equal(codeOf(r.reply({ path: "light", code: Code.POST })), "4.05");
  assert.equal(codeOf(r.reply({ path: "light", code: Code.FETCH })), "4.05", "a method this server does not know");
  assert.equal(codeOf(r.reply({ path: "light", code: 0x1f })), "4.05");
});

test("server: 4.02 for an unrecognised or malformed critical option; electives are ignored", () => {
  const r = lightServer();
  const bad = (options: CoapOption[], why: string) => assert.equal(codeOf(r.reply({ path: "light", options })), "4.02", why);
  bad([{ number: 9, value: new Uint8Array(0) }], "unassigned critical option 9");
  bad([{ number: 2049, value: fromHex("00") }], "unassigned critical option 2049");
  bad([{ number: Option.IF_MATCH, value: fromHex("01") }], "If-Match (conditional requests not supported)");
  bad([{ number: Option.IF_NONE_MATCH, value: new Uint8Array(0) }], "If-None-Match");
  bad([{ number: Option.ACCEPT, value: fromHex("010203") }], "Accept longer than 2 bytes");
  bad([uint(Option.ACCEPT, 0), uint(Option.ACCEPT, 50)], "Accept repeated");
  bad([{ number: Option.URI_HOST, value: new Uint8Array(0) }], "empty Uri-Host");
  const fine = r.reply({ path: "light", options: [{ number: 2, value: fromHex("ff") }, { number: 2048, value: fromHex("00") }, { number: Option.CONTENT_FORMAT, value: fromHex("010203") }] });
  assert.equal(codeOf(fine), "2.05", "unknown or malformed electives do not matter");
  assert.equal(codeOf(r.reply({ path: "light", options: [{ number: Option.URI_HOST, value: utf8Encode("node.local") }, uint(Option.URI_PORT, 5683)] })), "2.05");
  // a malformed elective counts as absent: this Content-Format (3 bytes) does not cause 4.15
  const put = r.reply({ path: "light", code: Code.PUT, payload: "1", options: [{ number: Option.CONTENT_FORMAT, value: fromHex("00002a") }] });
  assert.equal(codeOf(put), "2.04");
  assert.equal(r.light.requests[r.light.requests.length - 1].contentFormat, undefined);
});

test("server: 4.00 for a path that is not UTF-8, dot segments, Block2 SZX 7", () => {
  const r = lightServer();
  assert.equal(codeOf(r.reply({ options: [{ number: Option.URI_PATH, value: fromHex("ff6c69676874") }] })), "4.00");
  assert.equal(codeOf(r.reply({ path: "light", options: [{ number: Option.URI_QUERY, value: fromHex("c0") }] })), "4.00");
  assert.equal(codeOf(r.reply({ options: [{ number: Option.URI_PATH, value: utf8Encode("..") }, { number: Option.URI_PATH, value: utf8Encode("light") }] })), "4.00");
  assert.equal(codeOf(r.reply({ path: "light", options: [uint(Option.BLOCK2, 7)] })), "4.00");
});

test("server: 4.15 for a payload format the resource does not accept, 4.06 for an Accept it cannot produce", () => {
  const r = lightServer();
  const wrong = r.reply({ path: "light", code: Code.PUT, payload: "1", options: [uint(Option.CONTENT_FORMAT, ContentFormat.OCTET_STREAM)] });
  assert.equal(codeOf(wrong), "4.15");
  assert.equal(r.light.on, false, "the handler did not run");
  assert.equal(codeOf(r.reply({ path: "light", code: Code.PUT, payload: "1", options: [uint(Option.CONTENT_FORMAT, ContentFormat.TEXT_PLAIN)] })), "2.04");
  assert.equal(codeOf(r.reply({ path: "light", options: [uint(Option.ACCEPT, ContentFormat.SENML_JSON)] })), "4.06");
});

test("server: 4.13 for payloads beyond the limit and for Block1 transfers; 5.05 for proxy requests", () => {
  const r = lightServer({ maxRequestPayload: 8 });
  const big = r.reply({ path: "light", code: Code.PUT, payload: "123456789" });
  assert.equal(codeOf(big), "4.13");
  assert.equal(toHex(getOption(big.options, Option.SIZE1)!), "08");
  assert.equal(codeOf(r.reply({ path: "light", code: Code.PUT, payload: "1", options: [uint(Option.BLOCK1, 0x08)] })), "4.13", "Block1 with M=1");
  assert.equal(codeOf(r.reply({ path: "light", code: Code.PUT, payload: "1", options: [uint(Option.BLOCK1, 0x00)] })), "2.04", "a single-block Block1 is just a payload");
  assert.equal(codeOf(r.reply({ path: "light", options: [{ number: Option.PROXY_URI, value: utf8Encode("coap://elsewhere/x") }] })), "5.05");
});

test("server: 5.00 when a handler throws or rejects, reported through log, and the server keeps serving", async () => {
  const r = lightServer();
  r.server.add("throws", { get: () => { throw new Error("sensor exploded"); } });
  r.server.add("rejects", { get: async () => { throw new Error("bus fault"); } });
  r.server.add("badcode", { get: () => ({ code: Code.GET }) });
  r.server.add("badetag", { get: () => ({ etag: new Uint8Array(9) }) });
  const thrown = r.reply({ path: "throws" });
  assert.equal(codeOf(thrown), "5.00");
  assert.equal(text(thrown), "sensor exploded");
  ok(r.logs.some((l) => l.includes("sensor exploded")), "logged");

  const answers = r.ask({ path: "rejects", token: "77" });
  assert.deepEqual(answers.map(codeOf), ["0.00"], "Empty ACK first");
  await sleep(0);
  r.server.tick(r.clock.now); // the asynchronous handler's answer goes out at the next tick
  const late = r.sent.splice(0).map((s) => decode(s.bytes));
  assert.equal(late.length, 1);
  assert.equal(codeOf(late[0]), "5.00");
  assert.equal(late[0].type, Type.CON);
  assert.equal(toHex(late[0].token), "77");
  ok(r.logs.some((l) => l.includes("bus fault")));

  assert.equal(codeOf(r.reply({ path: "badcode" })), "5.00", "a request code is not a response");
  assert.equal(codeOf(r.reply({ path: "badetag" })), "5.00", "an ETag of 9 bytes cannot be sent");
  assert.equal(codeOf(r.reply({ path: "light" })), "2.05", "still serving");
});

test("server: an asynchronous handler that never settles gets 5.03; too many in flight for one resource get 5.03 at once", async () => {
  const r = lightServer({ maxAsyncExchanges: 2, asyncHandlerTimeout: 10_000 });
  r.server.add("never", { get: () => new Promise(() => {}) });
  r.ask({ path: "never", token: "01" });
  r.ask({ path: "never", token: "02" });
  assert.equal(r.server.stats().asyncExchanges, 2);
  const busy = r.reply({ path: "never", token: "03" });
  assert.equal(codeOf(busy), "5.03");
  assert.equal(getMaxAge(busy.options), 1);
  assert.equal(r.server.nextDeadline(), r.clock.now + 10_000);
  r.clock.skip(10_000);
  r.server.tick(r.clock.now);
  const timedOut = r.sent.splice(0).map((s) => decode(s.bytes));
  assert.deepEqual(timedOut.map(codeOf), ["5.03", "5.03"]);
  assert.equal(r.server.stats().asyncExchanges, 0);
  assert.equal(codeOf(r.reply({ path: "light" })), "2.05");
});

test("server: a NON request is answered with NON, errors included", () => {
  const r = lightServer();
  const got = r.reply({ type: Type.NON, path: "light" });
  assert.equal(got.type, Type.NON);
  assert.equal(codeOf(got), "2.05");
  const missing = r.reply({ type: Type.NON, path: "nope" });
  assert.equal(missing.type, Type.NON);
  assert.equal(codeOf(missing), "4.04");
});

test("server: add replaces, remove forgets, paths are normalised", () => {
  const r = rig();
  r.server.add("/x/", { get: () => ({ payload: "one" }) });
  assert.equal(text(r.reply({ path: "x" })), "one");
  r.server.add("x", { get: () => ({ payload: "two" }) });
  assert.equal(text(r.reply({ path: "x" })), "two");
  r.server.remove("x");
  assert.equal(codeOf(r.reply({ path: "x" })), "4.04");
});

test("server: the limit on running handlers is per resource: a slow one's waiting requests cannot starve the others", async () => {
  const r = rig({ maxAsyncExchanges: 8 });
  const waiting: (() => void)[] = [];
  r.server.add("temperature", { get: () => new Promise((resolve) => waiting.push(() => resolve({ payload: "21.5" }))) });
  r.server.add("light", { get: () => ({ payload: "0" }) });
  r.server.add("slow-light", { get: async () => ({ payload: "1" }) });
  for (let i = 0; i < 8; i++) assert.equal(r.ask({ path: "temperature", token: `0${i}` })[0].code, Code.EMPTY, "an Empty ACK: the answer comes separately");
  const busy = r.reply({ path: "temperature", token: "09" });
  assert.equal(busy.code, Code.SERVICE_UNAVAILABLE, "the ninth request for the same resource waits its turn");
  assert.equal(getMaxAge(busy.options), 1);
  for (let i = 0; i < 20; i++) {
    const light = r.reply({ path: "light" });
    assert.equal(formatCode(light.code), "2.05", "another resource is served while /temperature waits");
  }
  r.ask({ path: "slow-light", token: "0a" });
  await sleep(0);
  r.server.tick(r.clock.now); // the asynchronous handler's answer goes out at the next tick
  assert.equal(formatCode(decode(r.sent.splice(0)[0].bytes).code), "2.05", "and another asynchronous one too");
  for (const resolve of waiting) resolve();
  await sleep(0);
  r.server.tick(r.clock.now);
  assert.equal(r.sent.splice(0).filter((s) => decode(s.bytes).code === Code.CONTENT).length, 8);
  assert.equal(r.server.stats().asyncExchanges, 0);
  assert.equal(formatCode(r.ask({ path: "temperature", token: "0b" })[0].code), "0.00", "room again");
});

test("nextDeadline(): kept across GETs answered at once; a request that leaves state, a notify, an asynchronous answer and a tick each give it up", async () => {
  const r = rig();
  let value = "a";
  let finish: (() => void) | undefined;
  r.server.add("state", { get: () => ({ payload: value }), put: () => ({ code: Code.CHANGED }), observable: true, confirmableNotifications: true });
  r.server.add("slow", { get: () => new Promise((resolve) => (finish = () => resolve({ payload: "late" }))) });
  assert.equal(r.server.nextDeadline(), undefined, "idle: nothing due");
  for (let i = 0; i < 3; i++) assert.equal(formatCode(r.reply({ path: "state" }).code), "2.05");
  assert.equal(r.server.nextDeadline(), undefined, "GETs answered at once leave nothing due");
  // a CON PUT is remembered for deduplication (RFC 7252 4.5): its expiry is a deadline
  assert.equal(formatCode(r.reply({ code: Code.PUT, path: "state", payload: "b" }).code), "2.04");
  const expiry = r.server.nextDeadline();
  assert.ok(expiry !== undefined && expiry > r.clock.now, `the PUT's deduplication expiry, not the kept answer: ${expiry}`);
  // an observer, then a change: the CON notification's retransmission is earlier than that expiry
  const registered = r.ask({ path: "state", options: [{ number: Option.OBSERVE, value: new Uint8Array(0) }] });
  assert.equal(registered.length, 1);
  const afterRegistration = r.server.nextDeadline();
  assert.ok(afterRegistration !== undefined && afterRegistration <= expiry!, "the observer's own deadline (its probe) or the expiry");
  value = "c";
  r.server.notify("state", r.clock.now);
  assert.equal(r.sent.splice(0).length, 1, "one notification");
  const afterNotify = r.server.nextDeadline();
  assert.ok(afterNotify !== undefined && afterNotify < afterRegistration!, `the CON notification's retransmission (${afterNotify}), before what was due (${afterRegistration})`);
  // an asynchronous handler: nothing until it settles, then due at once
  r.ask({ path: "slow" });
  const beforeSettle = r.server.nextDeadline();
  finish!();
  await sleep(0);
  assert.equal(r.server.nextDeadline(), -Infinity, `the settled answer is due at once (was ${beforeSettle})`);
  r.server.tick(r.clock.now);
  assert.notEqual(r.server.nextDeadline(), -Infinity, "the tick sent it");
});
