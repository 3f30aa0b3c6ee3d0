/*
 * Resource Directory registration unit tests (RFC 9176 sec 5.3) on a fake clock
 * and a scripted RD: the registration request, refresh timing from the
 * lifetime, re-registration after 4.04, back-off, the lifetime running out,
 * an RD without the update interface (libcoap's 4.05), and removal on stop().
 */
import { test, assert } from "../lib/harness";
import { CoapClientError, type ClientResponse, type RequestOptions } from "coap/client";
import { Code } from "coap/numbers";
import { utf8Decode } from "coap/utf8";
import { RdRegistration, type RdOptions } from "../../modules/rd/registration";
import { FakeClock, settle } from "../lib/clock";

const ok: (value: unknown, message?: string) => void = assert.ok;
const LINKS = '</light>;rt="light";if="core.a";obs,</temperature>;rt="temperature-c";obs';


interface Call {
  options: RequestOptions;
  at: number;
  resolve(r: ClientResponse): void;
  reject(e: unknown): void;
}

function rig(overrides: Partial<RdOptions> = {}) {
  const clock = new FakeClock();
  const calls: Call[] = [];
  const logs: string[] = [];
  const rd = new RdRegistration({
    uri: "coap://192.0.2.7:5683",
    request: (options, now) => new Promise((resolve, reject) => calls.push({ options, at: now, resolve, reject })),
    endpoint: "node1",
    links: () => LINKS,
    lifetime: 600,
    backoffInitial: 1000,
    backoffMax: 16_000,
    log: (m) => logs.push(m),
    ...overrides,
  });
  return {
    rd,
    calls,
    logs,
    clock,
    /** runs the clock forward deadline by deadline, letting promise jobs run in between */
    advance: (ms: number) => clock.advance(rd, ms),
    async answer(code: number | "timeout", locationPath: string[] = []): Promise<Call> {
      const call = calls.shift();
      if (!call) throw new Error("no request to answer");
      if (code === "timeout") call.reject(new CoapClientError("timeout"));
      else call.resolve({ code, options: [], payload: new Uint8Array(0), peer: { address: "192.0.2.7", port: 5683 }, locationPath, text: () => "" });
      await settle();
      clock.fire(rd); // the answer is taken in at the tick it asks for (nextDeadline -Infinity); stop()'s DELETE needs none
      await settle();
      return call;
    },
  };
}

function describe(call: Call): string {
  const o = call.options;
  const path = Array.isArray(o.path) ? o.path.join("/") : String(o.path);
  const payload = o.payload === undefined ? "" : typeof o.payload === "string" ? o.payload : utf8Decode(o.payload as Uint8Array);
  return `${o.method} /${path}${o.query?.length ? "?" + o.query.join("&") : ""}${payload ? " " + payload : ""}`;
}

test("rd: registers with POST /rd?ep=NAME&lt=LIFETIME, the link format as payload (ct 40), and keeps the Location-Path", async () => {
  const r = rig({ sector: "home" });
  r.rd.start(r.clock.now);
  assert.equal(r.calls.length, 1);
  const call = r.calls[0];
  assert.equal(describe(call), `POST /rd?ep=node1&d=home&lt=600 ${LINKS}`);
  assert.equal(call.options.contentFormat, 40);
  assert.deepEqual(call.options.peer, { address: "192.0.2.7", port: 5683 });
  await r.answer(Code.CREATED, ["rd", "4521"]);
  assert.equal(r.rd.state, "registered");
  assert.deepEqual(r.rd.location, ["rd", "4521"]);
  ok(r.logs.some((l) => /registered as "node1" at [/]rd[/]4521 \(lifetime 600 s\)/.test(l)), r.logs.join("\n"));
});

test("rd: the update (POST to the location, no payload) goes 93 s before the lifetime ends, again and again", async () => {
  const r = rig();
  assert.equal(r.rd.refreshDelay, 507_000, "600 s - MAX_TRANSMIT_WAIT");
  assert.equal(new RdRegistration({ ...optionsOf(), lifetime: 90_000 }).refreshDelay, 81_000_000, "default lifetime: a tenth before the end");
  assert.equal(new RdRegistration({ ...optionsOf(), lifetime: 60 }).refreshDelay, 30_000, "short lifetime: half-way");
  r.rd.start(r.clock.now);
  await r.answer(Code.CREATED, ["rd", "x"]);
  await r.advance(506_999);
  assert.equal(r.calls.length, 0);
  await r.advance(1);
  assert.equal(r.calls.length, 1);
  assert.equal(describe(r.calls[0]), "POST /rd/x");
  await r.answer(Code.CHANGED);
  await r.advance(507_000);
  assert.equal(r.calls.length, 1, "the next one a refresh period after the last");
  await r.answer(Code.CHANGED);
  assert.equal(r.rd.counters.updates, 2);
  assert.equal(r.logs.filter((l) => /updated/.test(l)).length, 0, "a successful update is not news after a registration");
  r.rd.stop(r.clock.now).catch(() => {});
  await r.answer(Code.DELETED);
});

function optionsOf(): RdOptions {
  return { uri: "coap://192.0.2.7", request: () => Promise.reject(new Error("no")), endpoint: "n", links: () => "" };
}

test("rd: 4.04 on an update (the RD forgot us) -> registers again at once", async () => {
  const r = rig({ refreshInterval: 10_000 });
  r.rd.start(r.clock.now);
  await r.answer(Code.CREATED, ["rd", "a"]);
  await r.advance(10_000);
  await r.answer(Code.NOT_FOUND);
  assert.equal(r.calls.length, 1);
  assert.equal(describe(r.calls[0]), `POST /rd?ep=node1&lt=600 ${LINKS}`);
  await r.answer(Code.CREATED, ["rd", "b"]);
  assert.deepEqual(r.rd.location, ["rd", "b"]);
  assert.equal(r.rd.counters.registrations, 2);
  ok(r.logs.some((l) => /gone \(4\.04\): registering again/.test(l)), r.logs.join("\n"));
  await r.advance(10_000);
  assert.equal(describe(r.calls[0]), "POST /rd/b");
  r.rd.stop(r.clock.now).catch(() => {});
  await r.answer(Code.CHANGED);
  await r.answer(Code.DELETED);
});

test("rd: a failed registration is retried with exponential back-off", async () => {
  const r = rig();
  r.rd.start(r.clock.now);
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const call = await r.answer(i < 3 ? "timeout" : Code.SERVICE_UNAVAILABLE);
    await r.advance(100_000);
    times.push(r.calls[0].at - call.at);
    r.clock.now = r.calls[0].at;
  }
  assert.deepEqual(times, [1000, 2000, 4000, 8000, 16_000, 16_000]);
  assert.equal(r.rd.state, "registering");
  await r.answer(Code.CREATED, ["rd", "z"]);
  assert.equal(r.rd.state, "registered");
  assert.equal(r.rd.counters.failures, 6);
  assert.equal(r.logs.filter((l) => /retrying/.test(l)).length, 2, `one line per change of outcome:\n${r.logs.join("\n")}`);
});

test("rd: updates that keep failing are retried; once the lifetime has run out the node registers anew", async () => {
  const r = rig({ lifetime: 120, backoffInitial: 10_000, backoffMax: 10_000 });
  r.rd.start(r.clock.now);
  await r.answer(Code.CREATED, ["rd", "a"]);
  await r.advance(r.rd.refreshDelay); // 60 s
  for (let i = 0; i < 6 && r.calls.length; i++) {
    const call = await r.answer("timeout");
    await r.advance(10_000);
    if (i < 5) assert.equal(describe(r.calls[0]), "POST /rd/a", `update retry ${i + 1} at ${call.at}`);
  }
  // 60 s + 6 x 10 s = 120 s: the registration is gone at the RD, so register from scratch
  assert.equal(describe(r.calls[0]), `POST /rd?ep=node1&lt=120 ${LINKS}`);
  ok(r.logs.some((l) => /lifetime ran out/.test(l)), r.logs.join("\n"));
});

test("rd: an RD that answers updates with 4.05 (libcoap's coap-rd) keeps the registration", async () => {
  const r = rig({ refreshInterval: 5000 });
  r.rd.start(r.clock.now);
  await r.answer(Code.CREATED, ["rd", "q"]);
  for (let i = 0; i < 3; i++) {
    await r.advance(5000);
    assert.equal(describe(r.calls[0]), "POST /rd/q");
    await r.answer(Code.METHOD_NOT_ALLOWED);
    assert.equal(r.rd.state, "registered");
  }
  assert.equal(r.logs.filter((l) => /4\.05/.test(l)).length, 1, r.logs.join("\n"));
  assert.equal(r.rd.counters.registrations, 1);
});

test("rd: stop() removes the registration with DELETE and resolves true on 2.02, false on a timeout", async () => {
  let r = rig();
  r.rd.start(r.clock.now);
  await r.answer(Code.CREATED, ["rd", "d"]);
  let stopped = r.rd.stop(r.clock.now);
  await settle();
  assert.equal(describe(r.calls[0]), "DELETE /rd/d");
  await r.answer(Code.DELETED);
  assert.equal(await stopped, true);
  assert.equal(r.rd.state, "stopped");
  assert.equal(r.rd.nextDeadline(), undefined);
  await r.advance(1_000_000);
  assert.equal(r.calls.length, 0, "nothing after stop");

  r = rig();
  r.rd.start(r.clock.now);
  await r.answer(Code.CREATED, ["rd", "e"]);
  stopped = r.rd.stop(r.clock.now);
  await settle();
  await r.answer("timeout");
  assert.equal(await stopped, false);
  assert.equal(await r.rd.stop(r.clock.now), false, "a second stop() does nothing");
});

test("rd: stop() during the registration waits for it, then removes what it created", async () => {
  const r = rig();
  r.rd.start(r.clock.now);
  const stopped = r.rd.stop(r.clock.now);
  await settle();
  assert.equal(r.calls.length, 1, "only the registration so far");
  await r.answer(Code.CREATED, ["rd", "late"]);
  await settle();
  assert.equal(describe(r.calls[0]), "DELETE /rd/late");
  await r.answer(Code.DELETED);
  assert.equal(await stopped, true);
});

test("rd: configuration is checked", () => {
  assert.throws(() => new RdRegistration({ ...optionsOf(), endpoint: "a b" }), RangeError);
  assert.throws(() => new RdRegistration({ ...optionsOf(), endpoint: "x".repeat(64) }), RangeError);
  assert.throws(() => new RdRegistration({ ...optionsOf(), endpoint: "a&lt=1" }), RangeError);
  assert.throws(() => new RdRegistration({ ...optionsOf(), uri: "coap://rd.example" }), RangeError, "a host name needs a resolved peer");
  assert.throws(() => new RdRegistration({ ...optionsOf(), lifetime: 0 }), RangeError);
  assert.deepEqual(new RdRegistration({ ...optionsOf(), uri: "coap://rd.example/x/rd", peer: { address: "192.0.2.1", port: 5683 } }).uri.path, ["x", "rd"]);
});
