/* Every fault surfaces as its typed error, never as a temperature. */
import { Ds18b20 } from "sensors/ds18b20";
import {
  BusStuckError,
  CrcError,
  DeviceVanishedError,
  NoPresenceError,
  PowerOnValueError,
  SensorError,
  SensorNotFoundError,
} from "sensors/errors";
import { search, type OneWireBus } from "sensors/onewire";
import { SimulatedBus } from "sensors/sim-bus";
import { makeRom } from "sensors/sim-device";
import { test, assert, sleep } from "../lib/harness";

function oneSensor(temperature = 19.75) {
  const bus = new SimulatedBus();
  const device = bus.addDevice({ temperature });
  const sensor = Ds18b20.open(bus, { resolution: 9 });
  return { bus, device, sensor };
}

async function rejectsWith<T extends SensorError>(promise: Promise<unknown>, type: abstract new (...args: never[]) => T, code: string): Promise<T> {
  const error = await assert.rejects(promise, type);
  assert.ok(error instanceof SensorError, "a SensorError");
  assert.equal((error as SensorError).code, code);
  return error as T;
}

test("no presence pulse: NoPresenceError (code no-presence), on open and on read", async () => {
  const bus = new SimulatedBus();
  assert.throws(() => Ds18b20.open(bus), NoPresenceError);
  const { bus: bus2, device, sensor } = oneSensor();
  assert.equal(await sensor.read(), 19.5);
  device.present = false;
  await rejectsWith(sensor.read(), NoPresenceError, "no-presence");
  device.present = true;
  assert.equal(await sensor.read(), 19.5, "recovers when the sensor is back");
  bus2.removeDevice(device);
  await rejectsWith(sensor.read(), NoPresenceError, "no-presence");
});

test("devices but no DS18B20, or not the one asked for: SensorNotFoundError", () => {
  const bus = new SimulatedBus();
  bus.addDevice({ rom: makeRom(7, 0x10) });
  const error = assert.throws(() => Ds18b20.open(bus), SensorNotFoundError) as SensorNotFoundError;
  assert.equal(error.code, "not-found");
  bus.addDevice({ rom: makeRom(8) });
  assert.throws(() => Ds18b20.open(bus, { rom: makeRom(9) }), SensorNotFoundError);
});

test("CRC mismatch once: retried, the right value; twice: CrcError with the bytes", async () => {
  const { device, sensor } = oneSensor(-7.5);
  await sensor.read();
  device.corrupt({ count: 1, byte: 0, mask: 0x10 });
  assert.equal(await sensor.read(), -7.5, "one retry recovers");
  device.corrupt({ count: 2, byte: 1, mask: 0x80 });
  const error = await rejectsWith(sensor.read(), CrcError, "crc-mismatch");
  assert.equal(error.bytes.length, 9);
  device.corrupt({ count: 2, byte: 8, mask: 0x01 });
  await rejectsWith(sensor.read(), CrcError, "crc-mismatch");
  assert.equal(await sensor.read(), -7.5, "fine again afterwards");
});

test("85 degC power-on value without a completed conversion: PowerOnValueError; a real 85 is data", async () => {
  const { device, sensor } = oneSensor(40);
  assert.equal(await sensor.read(), 40);
  device.brownOutNextConversion();
  await rejectsWith(sensor.read(), PowerOnValueError, "power-on-value");
  assert.equal(await sensor.read(), 40, "reconfigures and reads again");
  assert.equal(device.resolution, 9, "the lost resolution was written again");
  device.temperature = 85;
  assert.equal(await sensor.read(), 85, "85 from a completed conversion is a temperature");
  /* the device reset between our configuration and the conversion: config back at its EEPROM 12 bit */
  device.powerOnReset();
  device.brownOutNextConversion();
  await rejectsWith(sensor.read(), PowerOnValueError, "power-on-value");
});

test("a parasite-powered sensor without the strong pull-up browns out: PowerOnValueError", async () => {
  const bus = new SimulatedBus();
  bus.addDevice({ temperature: 12, parasite: true });
  /* the same bus seen through an interface without the strong pull-up operation */
  const weak: OneWireBus = {
    reset: () => bus.reset(),
    writeBit: (bit) => bus.writeBit(bit),
    readBit: () => bus.readBit(),
    writeByte: (byte) => bus.writeByte(byte),
    readByte: () => bus.readByte(),
    write: (bytes) => bus.write(bytes),
    read: (count) => bus.read(count),
    close: () => bus.close(),
  };
  const sensor = Ds18b20.open(weak, { resolution: 9 });
  await rejectsWith(sensor.read(), PowerOnValueError, "power-on-value");
});

test("device vanished mid-read: DeviceVanishedError", async () => {
  const { bus, device, sensor } = oneSensor();
  await sensor.read();
  /* gone during the conversion: no presence when the scratchpad is fetched */
  const reading = sensor.read();
  await sleep(30);
  device.present = false;
  await rejectsWith(reading, DeviceVanishedError, "device-vanished");
  device.present = true;
  await sensor.read();
  /* gone in the middle of the scratchpad transfer: it stops driving, the rest reads ones */
  const again = sensor.read();
  await sleep(30);
  /* busy poll 1, reset 1, Match ROM 8 + 64, Read Scratchpad 8, then 20 of the 72 data slots */
  device.vanishAfterSlots(1 + 1 + 8 + 64 + 8 + 20);
  await rejectsWith(again, DeviceVanishedError, "device-vanished");
  /* with other sensors still on the bus: presence, but nobody matches the ROM */
  device.present = true;
  const other = bus.addDevice({ rom: makeRom(42), temperature: 1 });
  await sensor.read();
  const third = sensor.read();
  await sleep(30);
  bus.removeDevice(device);
  await rejectsWith(third, DeviceVanishedError, "device-vanished");
  assert.ok(other.present);
});

test("bus stuck low: BusStuckError from reset, search and read", async () => {
  const { bus, sensor } = oneSensor();
  await sensor.read();
  bus.stuckLow = true;
  await rejectsWith(sensor.read(), BusStuckError, "bus-stuck");
  assert.throws(() => search(bus), BusStuckError);
  assert.throws(() => Ds18b20.discover(bus), BusStuckError);
  /* stuck during the conversion */
  bus.stuckLow = false;
  const reading = sensor.read();
  await sleep(30);
  bus.stuckLow = true;
  await rejectsWith(reading, BusStuckError, "bus-stuck");
  bus.stuckLow = false;
  assert.equal(await sensor.read(), 19.5);
});

test("a fault never resolves as a number: every error above is a SensorError with a code", async () => {
  const { bus, device, sensor } = oneSensor();
  const faults: (() => void)[] = [
    () => (device.present = false),
    () => device.corrupt({ count: 2 }),
    () => device.brownOutNextConversion(),
    () => (bus.stuckLow = true),
  ];
  const codes: string[] = [];
  for (const inject of faults) {
    device.present = true;
    bus.stuckLow = false;
    await sensor.read();
    inject();
    try {
      const value = await sensor.read();
      assert.fail(`resolved with ${value}`);
    } catch (error) {
      assert.ok(error instanceof SensorError, String(error));
      codes.push(error.code);
    }
  }
  assert.deepEqual(codes, ["no-presence", "crc-mismatch", "power-on-value", "bus-stuck"]);
});
