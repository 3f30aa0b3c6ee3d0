/* Temperature decoding: sign extension, 1/16 degC, undefined low bits masked below 12 bit. */
import { configForResolution, decodeTemperature, encodeTemperature, parseScratchpad, resolutionFromConfig, type Resolution } from "sensors/ds18b20";
import { crc8 } from "sensors/crc8";
import { test, assert } from "../lib/harness";

/* datasheet table 1 (plus -0.5, +0.5 and the negative mirror values) */
const TABLE: [number, number][] = [
  [0x07d0, 125],
  [0x0550, 85],
  [0x0191, 25.0625],
  [0x00a2, 10.125],
  [0x0008, 0.5],
  [0x0000, 0],
  [0xfff8, -0.5],
  [0xff5e, -10.125],
  [0xfe6f, -25.0625],
  [0xfc90, -55],
];

test("12-bit decoding of +125, +85, +25.0625, +10.125, +0.5, 0, -0.5, -10.125, -25.0625, -55", () => {
  for (const [raw, celsius] of TABLE) {
    const value = decodeTemperature(raw & 0xff, raw >> 8, 12);
    assert.ok(Object.is(value, celsius), `0x${raw.toString(16)}: expected ${celsius}, got ${value}`);
    assert.deepEqual(encodeTemperature(celsius, 12), [raw & 0xff, raw >> 8], `encode ${celsius}`);
  }
});

test("9/10/11-bit: the undefined low bits are masked, whatever the device left in them", () => {
  /* [raw with garbage in the low bits, resolution, expected] */
  const cases: [number, Resolution, number][] = [
    [0x0191 | 0x7, 9, 25.0], // 25.0625 -> 9-bit step 0.5: 25.0
    [0x0199, 9, 25.5],
    [0x019f, 10, 25.75],
    [0x019f, 11, 25.875],
    [0x019f, 12, 25.9375],
    [0xfff8 | 0x7, 9, -0.5],
    [0xfff8 | 0x3, 10, -0.5],
    [0xfff8 | 0x1, 11, -0.5],
    [0xff5e | 0x7, 9, -10.5], // -10.125 truncated toward -inf at 9 bit
    [0xff5f, 10, -10.25],
    [0xff5f, 11, -10.125],
    [0xfc97, 9, -55],
    [0x07d7, 9, 125],
    [0x0007, 9, 0],
    [0x0003, 10, 0],
    [0x0001, 11, 0],
    [0x0001, 12, 0.0625],
  ];
  for (const [raw, bits, expected] of cases) {
    const value = decodeTemperature(raw & 0xff, raw >> 8, bits);
    assert.ok(Object.is(value, expected), `0x${raw.toString(16)} at ${bits} bit: expected ${expected}, got ${value}`);
  }
});

test("config register <-> resolution (R1:R0 in bits 6:5)", () => {
  assert.equal(configForResolution(9), 0x1f);
  assert.equal(configForResolution(10), 0x3f);
  assert.equal(configForResolution(11), 0x5f);
  assert.equal(configForResolution(12), 0x7f);
  for (const bits of [9, 10, 11, 12] as const) assert.equal(resolutionFromConfig(configForResolution(bits)), bits);
});

test("parseScratchpad decodes with the resolution the scratchpad reports", () => {
  const pad = new Uint8Array([0x5f, 0xff, 0x4b, 0x46, 0x3f, 0xff, 0x01, 0x10, 0]);
  pad[8] = crc8(pad, 0, 8);
  const parsed = parseScratchpad(pad);
  assert.equal(parsed.resolution, 10);
  assert.equal(parsed.celsius, -10.25);
  assert.equal(parsed.th, 0x4b);
  assert.equal(parsed.tl, 0x46);
  assert.equal(parsed.raw, 0xff5f);
});
