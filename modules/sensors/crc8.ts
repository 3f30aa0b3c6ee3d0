/*
 * CRC-8 of the Dallas/Maxim 1-Wire devices: polynomial x^8 + x^5 + x^4 + 1
 * (0x31, processed LSB first, so the reflected constant 0x8C), initial value 0.
 * It protects the 64-bit ROM code (over bytes 0-6, CRC in byte 7) and the
 * DS18B20 scratchpad (over bytes 0-7, CRC in byte 8); the CRC over a whole block
 * including its CRC byte is 0. Worked check (Maxim application note 27): ROM
 * 02 1C B8 01 00 00 00 -> A2.
 */

/* table-driven: 256 bytes, built once; the bitwise loop documents what it holds */
const TABLE = new Uint8Array(256);
for (let n = 0; n < 256; n++) {
  let crc = n;
  for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x8c : crc >>> 1;
  TABLE[n] = crc;
}

/** CRC-8 of `bytes[start, end)`, continuing from `crc` (0 for a fresh block). */
export function crc8(bytes: ArrayLike<number>, start = 0, end = bytes.length, crc = 0): number {
  for (let i = start; i < end; i++) crc = TABLE[(crc ^ bytes[i]) & 0xff];
  return crc;
}

/** True when the last byte of `bytes` is the CRC-8 of the ones before it. */
export function crc8Valid(bytes: ArrayLike<number>): boolean {
  return bytes.length > 1 && crc8(bytes) === 0;
}
