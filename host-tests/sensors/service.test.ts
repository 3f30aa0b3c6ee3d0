/* TemperatureService: cache, change rules (threshold, faults, at least every 60 s), typed faults. */
import { Ds18b20 } from "sensors/ds18b20";
import { CrcError, NoPresenceError } from "sensors/errors";
import { TemperatureService, type TemperatureSource, type Update } from "sensors/service";
import { SimulatedBus } from "sensors/sim-bus";
import { FakeClock } from "../lib/clock";
import { test, assert, sleep, waitFor } from "../lib/harness";

/* a source the test steers: the value (or fault) it returns and how many reads it served */
class FakeSource implements TemperatureSource {
  value: number | Error = 21.4375;
  reads = 0;
  read(): Promise<number> {
    this.reads++;
    const value = this.value;
    return value instanceof Error ? Promise.reject(value) : Promise.resolve(value);
  }
}

function setup(options: { maxAge?: number; threshold?: number; pollInterval?: number } = {}) {
  const clock = new FakeClock(1_000_000);
  const source = new FakeSource();
  const service = new TemperatureService({ source, now: () => clock.now, ...options });
  const updates: Update[] = [];
  service.onChange((u) => updates.push(u));
  const values = () => updates.map((u) => (u.ok ? u.reading.celsius : (u.error as { code?: string }).code));
  return { clock, source, service, updates, values };
}

test("a burst of reads within maxAge starts one conversion; an older cache starts a new one", async () => {
  const { clock, source, service } = setup({ maxAge: 2000 });
  const burst = await Promise.all([service.read(), service.read(), service.read()]);
  assert.deepEqual(burst.map((r) => r.celsius), [21.4375, 21.4375, 21.4375]);
  assert.equal(source.reads, 1, "concurrent reads share the conversion");
  clock.now += 1999;
  await service.read();
  assert.equal(source.reads, 1, "served from the cache");
  clock.now += 1;
  source.value = 22;
  assert.equal((await service.read()).celsius, 22);
  assert.equal(source.reads, 2);
});

test("faults are cached like readings and rejected with their typed error", async () => {
  const { clock, source, service } = setup({ maxAge: 1000 });
  source.value = new NoPresenceError();
  await assert.rejects(service.read(), NoPresenceError);
  await assert.rejects(service.read(), NoPresenceError);
  assert.equal(source.reads, 1, "a burst of GETs during a fault does not hammer the bus");
  clock.now += 1000;
  source.value = 5;
  assert.equal((await service.read()).celsius, 5);
});

test("observe: notify on a change >= 0.1 degC from the last notified value, not on smaller steps", async () => {
  const { clock, source, service, values } = setup({ maxAge: 0, pollInterval: 1000 });
  await service.poll();
  for (const v of [21.5, 21.4375, 21.5, 21.5625, 21.375, 21.3125, 22]) {
    clock.now += 1000;
    source.value = v;
    await service.poll();
  }
  /* 21.4375 notified; 21.5 (+0.0625) no; 21.5625 (+0.125) yes; 21.375 (-0.1875) yes; 21.3125 no; 22 yes */
  assert.deepEqual(values(), [21.4375, 21.5625, 21.375, 22]);
});

test("observe: the threshold is configurable", async () => {
  const { clock, source, service, values } = setup({ maxAge: 0, threshold: 1, pollInterval: 1000 });
  await service.poll();
  for (const v of [22, 22.4375, 20.4375, 20]) {
    clock.now += 1000;
    source.value = v;
    await service.poll();
  }
  assert.deepEqual(values(), [21.4375, 22.4375, 20.4375]);
});

test("observe: at least every 60 s even when the value does not move", async () => {
  const { clock, service, updates } = setup({ maxAge: 0, pollInterval: 5000 });
  await service.poll();
  const at: number[] = [];
  service.onChange(() => at.push(clock.now));
  const start = clock.now;
  for (let t = 0; t < 180_000; t += 1000) {
    clock.now += 1000;
    await service.poll();
  }
  assert.deepEqual(at.map((t) => t - start), [60_000, 120_000, 180_000]);
  assert.equal(updates.length, 4);
});

test("observe: a fault is notified when it starts, changes and ends; repeated faults are not", async () => {
  const { clock, source, service, values } = setup({ maxAge: 0, pollInterval: 1000 });
  const steps: (number | Error)[] = [20, new NoPresenceError(), new NoPresenceError(), new CrcError("scratchpad", new Uint8Array(9)), 20, 20];
  for (const step of steps) {
    source.value = step;
    await service.poll();
    clock.now += 1000;
  }
  assert.deepEqual(values(), [20, "no-presence", "crc-mismatch", 20]);
  const latest = service.latest;
  assert.ok(latest && latest.ok && latest.reading.celsius === 20);
});

test("a GET that sees a new value notifies observers too", async () => {
  const { clock, source, service, values } = setup({ maxAge: 500 });
  await service.read();
  clock.now += 600;
  source.value = 30;
  await service.read();
  assert.deepEqual(values(), [21.4375, 30]);
});

test("start()/stop() sample on a timer with the real clock over the simulated sensor", async () => {
  const bus = new SimulatedBus();
  const device = bus.addDevice({ temperature: 20 });
  const sensor = Ds18b20.open(bus, { resolution: 9 });
  const service = new TemperatureService({ source: sensor, maxAge: 0, pollInterval: 150 });
  const seen: number[] = [];
  service.onChange((u) => {
    if (u.ok) seen.push(u.reading.celsius);
  });
  service.start();
  try {
    await waitFor(() => seen.length === 1, 2000, "first notification");
    device.temperature = 20.5;
    await waitFor(() => seen.length === 2, 2000, "notification of the change");
    assert.deepEqual(seen, [20, 20.5]);
  } finally {
    service.stop();
  }
  const conversions = device.conversions;
  await sleep(400);
  assert.ok(device.conversions <= conversions + 1, "stop() ends the sampling");
});
