/* CRC-8 (Dallas/Maxim, reflected 0x8C): the application-note vector and the block property. */
import { crc8, crc8Valid } from "sensors/crc8";
import { test, assert, fromHex, seededRandom } from "../lib/harness";

/* the definition, bit by bit (x^8 + x^5 + x^4 + 1, LSB first), to check the table against */
function reference(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    let b = byte;
    for (let i = 0; i < 8; i++) {
      const mix = (crc ^ b) & 1;
      crc >>= 1;
      if (mix) crc ^= 0x8c;
      b >>= 1;
    }
  }
  return crc;
}

test("application note 27 example: ROM 02 1C B8 01 00 00 00 has CRC A2", () => {
  assert.equal(crc8(fromHex("021cb801000000")), 0xa2);
  assert.equal(crc8(fromHex("021cb801000000a2")), 0, "CRC over the whole ROM including its CRC is 0");
  assert.ok(crc8Valid(fromHex("021cb801000000a2")));
  assert.ok(!crc8Valid(fromHex("021cb801000000a3")));
});

test("power-on scratchpad 50 05 4B 46 7F FF 0C 10 has CRC 1C", () => {
  assert.equal(crc8(fromHex("5005 4b46 7fff 0c10")), 0x1c);
  assert.ok(crc8Valid(fromHex("50054b467fff0c101c")));
});

test("empty and zero blocks, ranges and continuation", () => {
  assert.equal(crc8(new Uint8Array(0)), 0);
  assert.equal(crc8(new Uint8Array(9)), 0, "all zeros has a valid CRC: why the driver checks for a stuck line separately");
  const rom = fromHex("021cb801000000");
  assert.equal(crc8(fromHex("ff021cb801000000ff"), 1, 8), 0xa2);
  assert.equal(crc8(rom, 3, 7, crc8(rom, 0, 3)), 0xa2);
  assert.ok(!crc8Valid([0]) && !crc8Valid([]), "a block needs data and a CRC byte");
});

test("the table agrees with the bitwise definition on 500 random blocks (seed 6)", () => {
  const random = seededRandom(6);
  for (let n = 0; n < 500; n++) {
    const block = new Uint8Array(1 + Math.floor(random() * 16));
    for (let i = 0; i < block.length; i++) block[i] = Math.floor(random() * 256);
    assert.equal(crc8(block), reference(block), `block ${n}`);
  }
});
