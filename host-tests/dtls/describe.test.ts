/*
 * describe.ts: how a peer's identity or subject is printed in log lines (quoted,
 * escaped, bounded), whatever bytes the peer chose.
 */
import { printable } from "dtls-psk/describe";
import { test, assert } from "../lib/harness";

const bytes = (...values: number[]): ArrayBuffer => Uint8Array.from(values).buffer as ArrayBuffer;

test("printable(): printable ASCII as it is, quoted; quotes, backslashes, control and non-ASCII bytes escaped; 96 characters at most", () => {
  assert.equal(printable(ArrayBuffer.fromString("CoAP")), '"CoAP"');
  assert.equal(printable(ArrayBuffer.fromString("")), '""');
  assert.equal(printable(bytes(0x61, 0x22, 0x62)), '"a\\x22b"');
  assert.equal(printable(bytes(0x5c, 0x00, 0x0a, 0x7f, 0xff)), '"\\x5c\\x00\\x0a\\x7f\\xff"');
  assert.equal(printable("CN=a\"b"), '"CN=a\\x22b"');
  assert.equal(printable(undefined), "none");
  const long = new Uint8Array(200).fill(0x41);
  assert.equal(printable(long.buffer as ArrayBuffer), `"${"A".repeat(96)}"`);
  long[150] = 0x22; // past the 96 shown: not shown, not escaped
  assert.equal(printable(long.buffer as ArrayBuffer), `"${"A".repeat(96)}"`);
});
