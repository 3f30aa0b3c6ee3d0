/* ROM search (F0) over the simulated bus: 1, 2 and 5 devices, deterministic order; match/skip/read ROM. */
import { Ds18b20 } from "sensors/ds18b20";
import { CrcError, NoPresenceError } from "sensors/errors";
import { readRom, romToHex, search, select, MATCH_ROM } from "sensors/onewire";
import { SimulatedBus } from "sensors/sim-bus";
import { makeRom } from "sensors/sim-device";
import { crc8 } from "sensors/crc8";
import { test, assert, sleep } from "../lib/harness";

/*
 * the search order: each pass takes the 0 branch at a new discrepancy, so ROMs come
 * out in lexicographic order of their bits as sent (byte 0 bit 0 first)
 */
function bitOrder(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 8; i++) {
    for (let bit = 0; bit < 8; bit++) {
      const x = (a[i] >> bit) & 1;
      const y = (b[i] >> bit) & 1;
      if (x !== y) return x - y;
    }
  }
  return 0;
}

function busWith(roms: Uint8Array[]): SimulatedBus {
  const bus = new SimulatedBus();
  for (const rom of roms) bus.addDevice({ rom });
  return bus;
}

test("makeRom builds family + serial + valid CRC, in wire order", () => {
  const rom = makeRom(0x0000_0000_0102);
  assert.equal(romToHex(rom).slice(0, 14), "28020100000000");
  assert.equal(crc8(rom), 0);
  assert.throws(() => new SimulatedBus().addDevice({ rom: "28020100000000ff" }), RangeError);
});

for (const count of [1, 2, 5]) {
  test(`search finds ${count} simulated device(s) with the right ROMs, in a deterministic order`, () => {
    /* serials chosen so ROMs share long prefixes and differ late: every discrepancy path is taken */
    const serials = [0x1122_3344_5566, 0x1122_3344_5567, 0x0000_0000_0001, 0xffff_ffff_fffe, 0x1122_3344_d566];
    const roms = serials.slice(0, count).map((s) => makeRom(s));
    const bus = busWith(roms);
    const found = search(bus);
    const expected = roms.slice().sort(bitOrder).map(romToHex);
    assert.deepEqual(found.map(romToHex), expected);
    /* the same bus built in the opposite order gives the same order */
    assert.deepEqual(search(busWith(roms.slice().reverse())).map(romToHex), expected);
    assert.deepEqual(Ds18b20.discover(bus).map(romToHex), expected);
  });
}

test("search over 20 devices and a family filter", () => {
  const bus = new SimulatedBus();
  const roms: string[] = [];
  for (let i = 0; i < 20; i++) roms.push(romToHex(bus.addDevice({ rom: makeRom(i * 7919 + 3, i % 4 === 0 ? 0x10 : 0x28) }).rom));
  const all = search(bus).map(romToHex);
  assert.equal(all.length, 20);
  assert.deepEqual(all.slice().sort(), roms.slice().sort());
  const ds18b20 = search(bus, { family: 0x28 }).map(romToHex);
  assert.deepEqual(ds18b20, all.filter((r) => r.startsWith("28")), "filtered, same relative order");
  assert.equal(search(bus, { limit: 3 }).length, 3);
});

test("an empty bus: search returns [], select and discover throw NoPresenceError", () => {
  const bus = new SimulatedBus();
  assert.deepEqual(search(bus), []);
  assert.throws(() => select(bus), NoPresenceError);
  assert.throws(() => Ds18b20.discover(bus), NoPresenceError);
});

test("Match ROM addresses one device; the others drop out at the first differing bit", () => {
  const bus = busWith([makeRom(1), makeRom(2), makeRom(3)]);
  const target = bus.devices[1];
  select(bus, target.rom);
  bus.writeByte(0xbe);
  const pad = bus.read(9);
  assert.equal(crc8(pad), 0, "only the matched device talks: the scratchpad checks");
  assert.deepEqual(pad, target.scratchpad);
  /* a ROM nobody has: every device drops out, reads are all ones */
  bus.reset();
  bus.writeByte(MATCH_ROM);
  bus.write(makeRom(99));
  bus.writeByte(0xbe);
  assert.deepEqual(bus.read(9), new Uint8Array(9).fill(0xff));
});

test("Read ROM works with one device and collides (CRC error) with two; Skip ROM talks to all", () => {
  const one = busWith([makeRom(0x123456)]);
  assert.equal(romToHex(readRom(one)), romToHex(makeRom(0x123456)));
  const two = busWith([makeRom(0x01), makeRom(0x1002)]);
  assert.throws(() => readRom(two), CrcError, "two devices answer at once: wired-AND of both ROMs");
  select(one);
  one.writeByte(0xbe);
  assert.equal(crc8(one.read(9)), 0);
});

test("alarm search (EC) finds only devices whose temperature is outside TL..TH", async () => {
  const bus = busWith([makeRom(1), makeRom(2), makeRom(3)]);
  const [cold, mild, hot] = bus.devices;
  cold.temperature = -30;
  mild.temperature = 20;
  hot.temperature = 90;
  /* TH 75 stays; TL from 70 (EEPROM default) to -10, 9 bit: 20 degC is normal */
  select(bus);
  bus.write([0x4e, 75, -10 & 0xff, 0x1f]);
  assert.deepEqual(search(bus, { alarm: true }).map(romToHex).sort(), bus.devices.map((d) => romToHex(d.rom)).sort(), "85 > TH: all alarm before converting");
  select(bus);
  bus.writeByte(0x44);
  await sleep(100);
  const alarmed = search(bus, { alarm: true }).map(romToHex);
  assert.deepEqual(alarmed.sort(), [romToHex(cold.rom), romToHex(hot.rom)].sort());
  hot.temperature = 30;
  cold.temperature = 0;
  select(bus);
  bus.writeByte(0x44);
  await sleep(100);
  assert.deepEqual(search(bus, { alarm: true }), [], "no device answers an alarm search");
});
