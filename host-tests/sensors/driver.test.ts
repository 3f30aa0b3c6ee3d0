/* Ds18b20 over the simulated bus: exact readings, resolution, timer-based conversion wait. */
import Timer from "timer";
import { CONVERSION_MS, Ds18b20 } from "sensors/ds18b20";
import { romToHex } from "sensors/onewire";
import { CrcError, NoPresenceError } from "sensors/errors";
import { SimulatedBus } from "sensors/sim-bus";
import { makeRom } from "sensors/sim-device";
import { now } from "host/runtime";
import { test, assert } from "../lib/harness";

function oneSensor(temperature: number, resolution: 9 | 10 | 11 | 12 = 9) {
  const bus = new SimulatedBus();
  const device = bus.addDevice({ temperature });
  const sensor = Ds18b20.open(bus, { resolution });
  return { bus, device, sensor };
}

test("set 21.4375, read exactly 21.4375 back (12 bit)", async () => {
  const { sensor, device } = oneSensor(21.4375, 12);
  assert.equal(await sensor.read(), 21.4375);
  assert.equal(device.resolution, 12);
  assert.equal(device.completed, 1);
});

test("negative and extreme values through the whole path at 11 bit and 9 bit", async () => {
  const { sensor, device } = oneSensor(0, 11);
  for (const [set, expected] of [[-10.125, -10.125], [-55, -55], [125, 125], [-0.5, -0.5], [25.0625, 25.0], [-25.0625, -25.125]] as const) {
    device.temperature = set;
    assert.equal(await sensor.read(), expected, `${set} at 11 bit`);
  }
  sensor.setResolution(9);
  device.temperature = -10.125;
  assert.equal(await sensor.read(), -10.5, "9 bit: the step is 0.5, the undefined bits (ones in the model) masked");
  assert.equal(device.resolution, 9);
  device.temperature = 10.125;
  assert.equal(await sensor.read(), 10.0);
});

test("the resolution is written to the config register, TH/TL kept", async () => {
  const { sensor, device } = oneSensor(20, 10);
  await sensor.read();
  const pad = device.scratchpad;
  assert.equal(pad[4], 0x3f);
  assert.equal(pad[2], 0x4b, "TH kept");
  assert.equal(pad[3], 0x46, "TL kept");
  assert.throws(() => sensor.setResolution(13), RangeError);
  assert.throws(() => sensor.setResolution(8), RangeError);
});

test("the conversion wait is a timer, per resolution: never before the datasheet maximum", async () => {
  const { sensor, device } = oneSensor(18.5, 9);
  for (const bits of [9, 10, 11] as const) {
    sensor.setResolution(bits);
    await sensor.read(); // writes the configuration
    const start = now();
    const value = await sensor.read();
    const took = now() - start;
    assert.atLeast(took, CONVERSION_MS[bits], `${bits} bit`);
    assert.less(took, CONVERSION_MS[bits] + 150, `${bits} bit took too long`);
    assert.equal(value, 18.5);
  }
  assert.equal(device.conversions, device.completed, "no read before a conversion completed");
});

test("the event loop stays free during a 750 ms conversion: a 10 ms timer fires in it", async () => {
  const { sensor } = oneSensor(22.0625, 12);
  const start = now();
  const ticks: number[] = [];
  const timer = Timer.repeat(() => ticks.push(now() - start), 10);
  const value = await sensor.read();
  Timer.clear(timer);
  const took = now() - start;
  assert.equal(value, 22.0625);
  assert.atLeast(took, 750);
  assert.ok(ticks.length >= 30, `only ${ticks.length} ticks of a 10 ms timer during ${took} ms`);
  assert.less(ticks[0], 60, "the first tick came late: something blocked");
});

test("concurrent reads share one conversion", async () => {
  const { sensor, device } = oneSensor(30, 9);
  const values = await Promise.all([sensor.read(), sensor.read(), sensor.read()]);
  assert.deepEqual(values, [30, 30, 30]);
  assert.equal(device.conversions, 1);
});

test("several sensors on one bus, each selected by ROM", async () => {
  const bus = new SimulatedBus();
  const temps = [-12.5, 0.0625, 48.25];
  for (let i = 0; i < temps.length; i++) bus.addDevice({ rom: makeRom(0x100 + i), temperature: temps[i] });
  const roms = Ds18b20.discover(bus);
  assert.equal(roms.length, 3);
  const sensors = roms.map((rom) => new Ds18b20({ bus, rom, resolution: 12 }));
  const values = await Promise.all(sensors.map((s) => s.read()));
  for (let i = 0; i < roms.length; i++) {
    const device = bus.device(roms[i])!;
    assert.equal(values[i], device.temperature, romToHex(roms[i]));
  }
  const second = Ds18b20.open(bus, { rom: bus.devices[1].rom, resolution: 9 });
  assert.equal(await second.read(), 0);
});

test("a parasite-powered sensor converts under the strong pull-up", async () => {
  const bus = new SimulatedBus();
  const device = bus.addDevice({ temperature: -3.25, parasite: true });
  const sensor = Ds18b20.open(bus, { resolution: 10 });
  assert.equal(await sensor.read(), -3.25);
  assert.equal(sensor.parasite, true);
  assert.equal(device.completed, 1);
});

test("the constructor refuses a ROM that is not a valid DS18B20 ROM", () => {
  const bus = new SimulatedBus();
  assert.throws(() => new Ds18b20({ bus, rom: makeRom(5, 0x10) }), RangeError);
  const bad = makeRom(5);
  bad[7] ^= 1;
  assert.throws(() => new Ds18b20({ bus, rom: bad }), /crc/);
});

test("without a ROM (Skip ROM): works with one sensor, even one plugged in after start", async () => {
  const bus = new SimulatedBus();
  const sensor = new Ds18b20({ bus, resolution: 9 });
  await assert.rejects(sensor.read(), NoPresenceError, "nothing on the bus yet");
  const device = bus.addDevice({ temperature: -1.5 });
  assert.equal(await sensor.read(), -1.5);
  assert.equal(sensor.rom, undefined);
  /* a second sensor makes Skip ROM reads collide: a CRC error, not a blend of two values */
  bus.addDevice({ temperature: 60 });
  await assert.rejects(sensor.read(), CrcError);
  bus.removeDevice(bus.devices[1]);
  assert.equal(await sensor.read(), device.temperature);
});
