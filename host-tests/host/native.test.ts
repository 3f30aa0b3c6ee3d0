/* Native modules compiled into the host: a C function (xsmc.h) bound to a JS shim and called from TypeScript. */
import { fletcher16 } from "../fixtures/native/checksum";
import { test, assert } from "../lib/harness";

test("a native function computes over the bytes TypeScript hands it", () => {
  // Fletcher-16 of "abcde" is 0xC8F0 (the usual published check value)
  assert.equal(fletcher16(ArrayBuffer.fromString("abcde")), 0xc8f0);
  assert.equal(fletcher16(Uint8Array.of()), 0);
  assert.equal(fletcher16(ArrayBuffer.fromString("abcdef")), 0x2057);
});
