/* The host's `timer` module: order, timeliness, repeat, schedule, clear. */
import Timer from "timer";
import { now } from "host/runtime";
import { test, assert, sleep } from "../lib/harness";

/* generous: CI machines are shared; what matters is order and "not early" */
const LATE_TOLERANCE_MS = 150;

test("timers fire in deadline order, equal deadlines in the order they were set", async () => {
  const fired: string[] = [];
  const start = now();
  const at: Record<string, number> = {};
  for (const [name, ms] of [["c", 60], ["a", 20], ["b", 40], ["a2", 20]] as const) {
    Timer.set(() => {
      fired.push(name);
      at[name] = now() - start;
    }, ms);
  }
  await sleep(120);
  assert.deepEqual(fired, ["a", "a2", "b", "c"]);
  for (const [name, ms] of [["a", 20], ["b", 40], ["c", 60]] as const) {
    assert.atLeast(at[name], ms - 1, `${name} fired early`);
    assert.less(at[name], ms + LATE_TOLERANCE_MS, `${name} fired late`);
  }
});

test("a timer's callback receives the timer; a one-shot does not fire twice", async () => {
  let calls = 0;
  let received: unknown;
  const timer = Timer.set((t) => {
    calls++;
    received = t;
  }, 5);
  await sleep(60);
  assert.equal(calls, 1);
  assert.equal(received, timer);
});

test("Timer.repeat fires periodically until cleared", async () => {
  const times: number[] = [];
  const start = now();
  Timer.repeat((t) => {
    times.push(now() - start);
    if (times.length === 5) Timer.clear(t);
  }, 15);
  await sleep(200);
  assert.equal(times.length, 5);
  for (let i = 0; i < times.length; i++) assert.atLeast(times[i], 15 * (i + 1) - 1, `tick ${i} early`);
});

test("Timer.set with a repeat interval fires first after the interval, then every repeat", async () => {
  const times: number[] = [];
  const start = now();
  Timer.set((t) => {
    times.push(now() - start);
    if (times.length === 3) Timer.clear(t);
  }, 50, 10);
  await sleep(150);
  assert.equal(times.length, 3);
  assert.atLeast(times[0], 49);
  assert.less(times[0], 50 + LATE_TOLERANCE_MS);
});

test("Timer.clear before the deadline: the callback never runs", async () => {
  let fired = false;
  const timer = Timer.set(() => (fired = true), 20);
  Timer.clear(timer);
  Timer.clear(undefined);
  await sleep(60);
  assert.equal(fired, false);
});

test("Timer.schedule moves a pending timer and re-arms a spent one from its callback", async () => {
  const start = now();
  let firedAt = 0;
  const timer = Timer.set(() => (firedAt = now() - start), 10);
  Timer.schedule(timer, 60);
  await sleep(30);
  assert.equal(firedAt, 0, "fired at the old deadline");
  await sleep(80);
  assert.atLeast(firedAt, 59);

  let count = 0;
  Timer.set((t) => {
    if (++count < 3) Timer.schedule(t, 5);
  }, 5);
  await sleep(80);
  assert.equal(count, 3);
});

test("bad arguments throw", () => {
  assert.throws(() => Timer.set(undefined as unknown as () => void, 10), TypeError);
  assert.throws(() => Timer.set(() => {}, -1), RangeError);
});
