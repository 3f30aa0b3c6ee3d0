/*
 * Telemetry reporter unit tests on a fake clock and a scripted collector: the
 * SenML pack, the period and change rules, the bounded queue and its drop
 * count, exponential back-off, 4.xx vs 5.xx, and the outcome logged once per
 * change. Also the wiring to TemperatureService.onChange.
 */
import { test, assert } from "../lib/harness";
import { CoapClientError, type ClientResponse, type RequestOptions } from "coap/client";
import { Code } from "coap/numbers";
import { utf8Decode, utf8Encode } from "coap/utf8";
import { TemperatureService } from "sensors/service";
import { TelemetryReporter, type TelemetryOptions } from "../../modules/telemetry/reporter";
import { formatPack, baseNameFor } from "temperature/senml";
import { offerChanges, readFrom } from "../../modules/telemetry/connect";
import { FakeClock, settle } from "../lib/clock";

const ok: (value: unknown, message?: string) => void = assert.ok;
const BN = "urn:dev:ops:test-node:";


function response(code: number, extra: Partial<ClientResponse> = {}): ClientResponse {
  const payload = extra.payload ?? new Uint8Array(0);
  return { code, options: [], payload, peer: { address: "127.0.0.1", port: 5683 }, locationPath: [], text: () => utf8Decode(payload), ...extra };
}

interface Call {
  options: RequestOptions;
  at: number;
  resolve(r: ClientResponse): void;
  reject(e: unknown): void;
}

/** A reporter on a fake clock with a collector the test answers by hand. */
function rig(overrides: Partial<TelemetryOptions> = {}, clock = new FakeClock(1_000_000)) {
  const calls: Call[] = [];
  const logs: string[] = [];
  let value = 20;
  const reporter = new TelemetryReporter({
    uri: "coap://192.0.2.5:5683/telemetry/node1?k=v",
    request: (options, now) => new Promise((resolve, reject) => calls.push({ options, at: now, resolve, reject })),
    read: () => Promise.resolve((value += 0.0625)),
    baseName: BN,
    period: 10_000,
    backoffInitial: 1000,
    backoffMax: 8000,
    log: (m) => logs.push(m),
    ...overrides,
  });
  return {
    reporter,
    calls,
    logs,
    clock,
    /** runs the clock forward deadline by deadline, letting promise jobs run in between */
    advance: (ms: number) => clock.advance(reporter, ms),
    /** answers the oldest unanswered request; the reporter takes the answer in at the tick it asks for (at once) */
    async answer(code: number | "timeout", extra: Partial<ClientResponse> = {}) {
      const call = calls.shift();
      if (!call) throw new Error("no request to answer");
      if (code === "timeout") call.reject(new CoapClientError("timeout", "CON not acknowledged"));
      else call.resolve(response(code, extra));
      await settle();
      assert.equal(reporter.nextDeadline(), -Infinity, "an answer waits for the next tick");
      clock.fire(reporter);
      await settle();
      return call;
    },
    /** offer() at the clock's time, then the tick it asks for */
    offer(celsius: number) {
      reporter.offer(celsius, clock.now);
      clock.fire(reporter);
    },
    values(call: Call): number[] {
      const text = utf8Decode(call.options.payload as Uint8Array) ?? (call.options.payload as string);
      return [...String(text).matchAll(/"v":(-?[0-9.]+)/g)].map((m) => Number(m[1]));
    },
  };
}

function payloadOf(call: Call): string {
  const p = call.options.payload;
  return typeof p === "string" ? p : utf8Decode(p as Uint8Array)!;
}

/** stop(), answering whatever is still in flight */
async function finish(r: ReturnType<typeof rig>): Promise<void> {
  const stopped = r.reporter.stop();
  while (r.calls.length) await r.answer(Code.CHANGED);
  await stopped;
}

function invariant(r: ReturnType<typeof rig>): void {
  const c = r.reporter.counters;
  assert.equal(c.recorded, c.sent + c.rejected + c.dropped + c.queued, `recorded = sent + rejected + dropped + queued: ${JSON.stringify(c)}`);
}

test("senml: a pack with bn once, n/u/v on every record, relative time for older readings", () => {
  const now = 100_000;
  const text = formatPack([{ celsius: 21.4375, at: now - 120_000 }, { celsius: -0.5, at: now - 1500 }, { celsius: -0, at: now }], now, BN);
  assert.equal(
    text,
    '[{"bn":"urn:dev:ops:test-node:","n":"temperature","u":"Cel","v":21.4375,"t":-120},{"n":"temperature","u":"Cel","v":-0.5,"t":-1.5},{"n":"temperature","u":"Cel","v":0}]',
  );
  const parsed = JSON.parse(text) as { v: number }[]; // test side only: the device never parses this
  assert.deepEqual(parsed.map((r) => r.v), [21.4375, -0.5, 0]);
  assert.equal(baseNameFor("urn:dev:mac:0024befffe804ff1"), "urn:dev:mac:0024befffe804ff1:");
  assert.equal(baseNameFor("node1"), "urn:dev:ops:node1:");
});

test("telemetry: a reading at start and every period, POSTed as SenML JSON (content-format 110) to the URI's path and query", async () => {
  const r = rig();
  r.reporter.start(r.clock.now);
  await r.advance(0);
  assert.equal(r.calls.length, 1);
  const call = await r.answer(Code.CHANGED);
  assert.equal(call.options.method, "POST");
  assert.deepEqual(call.options.path, ["telemetry", "node1"]);
  assert.deepEqual(call.options.query, ["k=v"]);
  assert.equal(call.options.contentFormat, 110);
  assert.deepEqual(call.options.peer, { address: "192.0.2.5", port: 5683 });
  assert.equal(payloadOf(call), '[{"bn":"urn:dev:ops:test-node:","n":"temperature","u":"Cel","v":20.0625}]');
  await r.advance(9_999);
  assert.equal(r.calls.length, 0, "nothing before the period");
  await r.advance(1);
  assert.equal(r.calls.length, 1);
  assert.deepEqual(r.values(await r.answer(Code.CHANGED)), [20.125]);
  assert.equal(r.reporter.counters.sent, 2);
  invariant(r);
  await finish(r);
});

test("telemetry: PUT when configured", async () => {
  const r = rig({ method: "PUT" });
  r.reporter.start(r.clock.now);
  await r.advance(0);
  assert.equal((await r.answer(Code.CHANGED)).options.method, "PUT");
  await finish(r);
});

test("telemetry: offer() queues a change of at least the threshold at once, and restarts the period", async () => {
  const r = rig({ threshold: 0.5 });
  r.reporter.start(r.clock.now);
  await r.advance(0);
  await r.answer(Code.CHANGED); // 20.0625 at start
  await r.advance(5000);
  r.offer(20.25);
  assert.equal(r.calls.length, 0, "0.1875 is below the threshold");
  r.offer(20.5625);
  assert.equal(r.calls.length, 1, "0.5 is significant: sent at once");
  assert.deepEqual(r.values(await r.answer(Code.CHANGED)), [20.5625]);
  await r.advance(9_999);
  assert.equal(r.calls.length, 0, "the period restarted at the change");
  await r.advance(1);
  assert.equal(r.calls.length, 1);
  await r.answer(Code.CHANGED);
  await finish(r);
});

test("telemetry: while the collector is unreachable the queue keeps the newest maxQueue readings; the drops are counted", async () => {
  const r = rig({ maxQueue: 4, maxBatch: 2, period: 1000, backoffInitial: 60_000, backoffMax: 60_000 });
  r.reporter.start(r.clock.now);
  await r.advance(0);
  await r.answer("timeout"); // the first reading goes back to the queue; back-off 60 s
  await r.advance(9000); // 9 more readings: 10 in all, 4 kept
  assert.equal(r.calls.length, 0, "no request during the back-off");
  let c = r.reporter.counters;
  assert.equal(c.recorded, 10);
  assert.equal(c.queued, 4);
  assert.equal(c.dropped, 6);
  invariant(r);
  ok(r.logs.filter((l) => /queue full/.test(l)).length === 1, r.logs.join("\n"));
  // the collector is back: the oldest kept readings go first, in batches of 2
  await r.advance(51_000); // the retry is due 60 s after the failure
  // readings keep coming in the meantime and push out older ones
  const sent: number[] = [];
  for (let i = 0; i < 20 && r.calls.length; i++) sent.push(...r.values(await r.answer(Code.CHANGED)));
  c = r.reporter.counters;
  invariant(r);
  for (let i = 1; i < sent.length; i++) ok(sent[i] > sent[i - 1], `in order: ${sent}`);
  assert.equal(sent[sent.length - 1], 20 + 0.0625 * c.recorded, "the newest reading was delivered");
  assert.equal(c.sent + c.dropped, c.recorded - c.queued);
  await finish(r);
});

test("telemetry: back-off doubles after each failed request up to its cap, and resets after a success", async () => {
  const r = rig({ period: 1_000_000 });
  r.reporter.start(r.clock.now);
  await r.advance(0);
  const times: number[] = [];
  let last = r.clock.now;
  for (let i = 0; i < 6; i++) {
    await r.answer(i % 2 ? Code.SERVICE_UNAVAILABLE : "timeout");
    const failedAt = r.clock.now;
    await r.advance(20_000);
    assert.equal(r.calls.length, 1, `a retry after failure ${i + 1}`);
    times.push(r.calls[0].at - failedAt);
    last = r.calls[0].at;
    r.clock.now = last;
  }
  assert.deepEqual(times, [1000, 2000, 4000, 8000, 8000, 8000], "1 s doubling, capped at 8 s");
  assert.equal(r.reporter.failures, 6);
  await r.answer(Code.CHANGED);
  assert.equal(r.reporter.failures, 0);
  assert.equal(r.reporter.counters.failed, 6);
  assert.equal(r.reporter.counters.sent, 1, "one reading, delivered at the 7th try");
  invariant(r);
  await finish(r);
});

test("telemetry: 4.xx rejects the readings (counted, not retried, no back-off); 5.03 Max-Age sets the retry", async () => {
  const r = rig({ period: 1000, backoffMax: 60_000 });
  r.reporter.start(r.clock.now);
  await r.advance(0);
  await r.answer(Code.BAD_REQUEST, { payload: utf8Encode("bad senml") });
  assert.equal(r.reporter.counters.rejected, 1);
  assert.equal(r.reporter.failures, 0);
  await r.advance(1000);
  assert.equal(r.calls.length, 1, "the next reading goes at its time");
  const failed = await r.answer(Code.SERVICE_UNAVAILABLE, { maxAge: 30 });
  await r.advance(29_999);
  const retry = r.calls[0];
  ok(retry === undefined || retry.at - failed.at >= 30_000, "no retry before Max-Age");
  await r.advance(1);
  assert.equal(r.calls.length, 1);
  assert.equal(r.calls[0].at - failed.at, 30_000, "retried when Max-Age ran out");
  const values = r.values(await r.answer(Code.CHANGED));
  assert.equal(values.length, 8, "the backlog goes in one batch of maxBatch");
  invariant(r);
  ok(r.logs.some((l) => /4\.00: readings rejected "bad senml"/.test(l)), r.logs.join("\n"));
  await finish(r);
});

test("telemetry: the outcome is logged once per change, not per request", async () => {
  const r = rig({ period: 1000, backoffInitial: 1000, backoffMax: 1000 });
  r.reporter.start(r.clock.now);
  await r.advance(0);
  const script: (number | "timeout")[] = [Code.CHANGED, Code.CHANGED, Code.CREATED, Code.SERVICE_UNAVAILABLE, Code.SERVICE_UNAVAILABLE, "timeout", "timeout", "timeout", Code.CHANGED, Code.CHANGED, Code.NOT_FOUND, Code.NOT_FOUND, Code.CHANGED];
  for (const step of script) {
    if (!r.calls.length) await r.advance(1000);
    await r.answer(step);
  }
  const outcomes = r.logs.filter((l) => /^telemetry: POST/.test(l));
  assert.deepEqual(
    outcomes.map((l) => l.replace(/^telemetry: POST coap:[/][/]192\.0\.2\.5[/]telemetry[/]node1\?k=v: /, "").replace(/[;(].*$/, "").trim()),
    ["2.04: delivering", "5.03", "no response", "2.04: delivering", "4.04: readings rejected", "2.04: delivering"],
    outcomes.join("\n"),
  );
  await finish(r);
});

test("telemetry: a batch shrinks to fit maxPayload; a sensor fault queues nothing", async () => {
  let fail = false;
  let value = 0;
  const r = rig({
    period: 1000,
    maxPayload: 200,
    read: () => (fail ? Promise.reject(new Error("sensor fault no-presence")) : Promise.resolve((value += 1.5))),
  });
  r.reporter.start(r.clock.now);
  await r.advance(0);
  await r.answer("timeout");
  await r.advance(1000 * 6);
  await r.answer(Code.CHANGED);
  const call = r.calls[0];
  ok(call === undefined || payloadOf(call).length <= 200, "fits");
  while (r.calls.length) {
    ok(payloadOf(r.calls[0]).length <= 200, payloadOf(r.calls[0]));
    await r.answer(Code.CHANGED);
  }
  fail = true;
  const before = r.reporter.counters.recorded;
  await r.advance(3000);
  assert.equal(r.reporter.counters.recorded, before);
  assert.equal(r.reporter.counters.faults, 3);
  ok(r.logs.some((l) => /no reading: sensor fault/.test(l)));
  invariant(r);
  await finish(r);
});

test("telemetry: stop() waits for the request in flight, then nothing more is sent", async () => {
  const r = rig({ period: 1000 });
  r.reporter.start(r.clock.now);
  await r.advance(0);
  let stopped = false;
  r.reporter.stop().then(() => (stopped = true));
  await settle();
  assert.equal(stopped, false);
  await r.answer(Code.CHANGED);
  assert.equal(stopped, true);
  await r.advance(10_000);
  assert.equal(r.calls.length, 0);
  assert.equal(r.reporter.nextDeadline(), undefined);
});

test("telemetry: wired to TemperatureService, a significant change is reported at once", async () => {
  const clock = new FakeClock();
  let celsius = 21.4375;
  const service = new TemperatureService({ source: { read: () => Promise.resolve(celsius) }, now: () => clock.now, maxAge: 0, threshold: 0.1 });
  // both on the same clock, as main.ts has them (monotonicNow)
  const r = rig({ read: readFrom(service), threshold: 0.5, period: 60_000 }, clock);
  const unsubscribe = offerChanges(service, r.reporter);
  r.reporter.start(r.clock.now);
  await r.advance(0);
  assert.deepEqual(r.values(await r.answer(Code.CHANGED)), [21.4375]);
  celsius = 21.75;
  r.clock.now += 5000;
  await service.poll();
  await settle();
  r.clock.fire(r.reporter);
  assert.equal(r.calls.length, 0, "0.3125 degC: below the reporter's 0.5");
  celsius = 22.0;
  r.clock.now += 5000;
  await service.poll();
  await settle();
  r.clock.fire(r.reporter);
  assert.equal(r.calls.length, 1, "0.5625 degC since the last report: at once (the tick it asks for)");
  assert.deepEqual(r.values(await r.answer(Code.CHANGED)), [22]);
  unsubscribe();
  await finish(r);
});
