/*
 * Codec tests: the RFC 7252 Appendix A messages as byte literals, extended
 * option deltas/lengths, every malformed case with its typed reason, a seeded
 * round-trip property test, and the option value helpers (uint, Block, UTF-8).
 */
import { test, assert, fromHex, toHex, seededRandom } from "../lib/harness";
import { CoapFormatError, decode, encode, type CoapMessage, type FormatErrorReason } from "coap/codec";
import { Code, Option, Type, formatCode, isCritical } from "coap/numbers";
import {
  blockSize,
  decodeBlock,
  decodeUint,
  encodeBlock,
  encodeUint,
  getUriPath,
  setUriPath,
  setUriQuery,
  getUriQuery,
  sizeToSzx,
} from "coap/options";
import { isValidUtf8, utf8Decode, utf8Encode } from "coap/utf8";

// assert.ok is an assertion signature; called through the untyped `assert` object tsc refuses it (TS2775)
const ok: (value: unknown, message?: string) => void = assert.ok;

const ascii = (text: string) => utf8Encode(text);
const hexOf = (text: string) => toHex(ascii(text));

function message(fields: Partial<CoapMessage>): CoapMessage {
  return { type: Type.CON, code: Code.GET, mid: 0, token: new Uint8Array(0), options: [], payload: new Uint8Array(0), ...fields };
}

function uriPath(path: string) {
  const options: CoapMessage["options"] = [];
  setUriPath(options, path);
  return options;
}

// RFC 7252 Appendix A, Figures 16-23: each message and its bytes as drawn there.
const APPENDIX_A: { figure: string; hex: string; message: CoapMessage }[] = [
  {
    figure: "16 request",
    hex: "40017d34bb" + hexOf("temperature"),
    message: message({ mid: 0x7d34, options: uriPath("temperature") }),
  },
  {
    figure: "16 response",
    hex: "60457d34ff" + hexOf("22.3 C"),
    message: message({ type: Type.ACK, code: Code.CONTENT, mid: 0x7d34, payload: ascii("22.3 C") }),
  },
  {
    figure: "17 request",
    hex: "41017d3520bb" + hexOf("temperature"),
    message: message({ mid: 0x7d35, token: fromHex("20"), options: uriPath("temperature") }),
  },
  {
    figure: "17 response",
    hex: "61457d3520ff" + hexOf("22.3 C"),
    message: message({ type: Type.ACK, code: Code.CONTENT, mid: 0x7d35, token: fromHex("20"), payload: ascii("22.3 C") }),
  },
  {
    figure: "18 request",
    hex: "41017d3631bb" + hexOf("temperature"),
    message: message({ mid: 0x7d36, token: fromHex("31"), options: uriPath("temperature") }),
  },
  {
    figure: "20 empty ACK",
    hex: "60007d38",
    message: message({ type: Type.ACK, code: Code.EMPTY, mid: 0x7d38 }),
  },
  {
    figure: "20 separate response",
    hex: "4145ad7b53ff" + hexOf("22.3 C"),
    message: message({ code: Code.CONTENT, mid: 0xad7b, token: fromHex("53"), payload: ascii("22.3 C") }),
  },
  {
    figure: "21 RST",
    hex: "7000ad7c",
    message: message({ type: Type.RST, code: Code.EMPTY, mid: 0xad7c }),
  },
  {
    figure: "22 NON request",
    hex: "51017d4075bb" + hexOf("temperature"),
    message: message({ type: Type.NON, mid: 0x7d40, token: fromHex("75"), options: uriPath("temperature") }),
  },
  {
    figure: "22 NON response",
    hex: "5145ad7d75ff" + hexOf("22.3 C"),
    message: message({ type: Type.NON, code: Code.CONTENT, mid: 0xad7d, token: fromHex("75"), payload: ascii("22.3 C") }),
  },
  {
    figure: "23 4.04 response",
    hex: "5184952a86",
    message: message({ type: Type.NON, code: Code.NOT_FOUND, mid: 0x952a, token: fromHex("86") }),
  },
];

test("codec: RFC 7252 Appendix A messages encode to their bytes and decode back", () => {
  for (const { figure, hex, message: expected } of APPENDIX_A) {
    assert.equal(toHex(encode(expected)), hex, `figure ${figure} encode`);
    assert.deepEqual(decode(fromHex(hex)), expected, `figure ${figure} decode`);
  }
  // the sizes the RFC states
  assert.equal(encode(APPENDIX_A[0].message).length, 16);
  assert.equal(encode(APPENDIX_A[1].message).length, 11);
  assert.equal(encode(APPENDIX_A[2].message).length, 17);
  assert.equal(encode(APPENDIX_A[3].message).length, 12);
});

test("codec: codes print as c.dd and odd options are critical", () => {
  assert.equal(formatCode(Code.CONTENT), "2.05");
  assert.equal(formatCode(Code.BAD_OPTION), "4.02");
  assert.equal(formatCode(Code.UNSUPPORTED_CONTENT_FORMAT), "4.15");
  assert.equal(formatCode(Code.GET), "0.01");
  ok(isCritical(Option.URI_PATH) && isCritical(Option.ACCEPT) && isCritical(Option.BLOCK2));
  ok(!isCritical(Option.OBSERVE) && !isCritical(Option.CONTENT_FORMAT) && !isCritical(Option.ETAG));
});

test("codec: extended option deltas and lengths (13 -> +1 byte, 14 -> +2 bytes)", () => {
  const cases: { number: number; length: number; head: string }[] = [
    { number: 12, length: 12, head: "cc" },
    { number: 13, length: 13, head: "dd0000" },
    { number: 268, length: 268, head: "ddffff" },
    { number: 269, length: 269, head: "ee00000000" },
    { number: 2048, length: 300, head: "ee06f3001f" },
    { number: 65535, length: 0, head: "e0fef2" },
  ];
  for (const { number, length, head } of cases) {
    const value = new Uint8Array(length).fill(0x61);
    const bytes = encode(message({ mid: 1, options: [{ number, value }] }));
    assert.equal(toHex(bytes.subarray(4, 4 + head.length / 2)), head, `option ${number} length ${length}`);
    const back = decode(bytes);
    assert.equal(back.options[0].number, number);
    assert.equal(back.options[0].value.length, length);
  }
  // options are written sorted; repeated ones keep their order
  const bytes = encode(message({ options: [{ number: 15, value: ascii("b=2") }, { number: 11, value: ascii("x") }, { number: 15, value: ascii("a=1") }] }));
  assert.deepEqual(getUriQuery(decode(bytes).options), ["b=2", "a=1"]);
});

const MALFORMED: { name: string; hex: string; reason: FormatErrorReason }[] = [
  { name: "empty datagram", hex: "", reason: "short-header" },
  { name: "3 bytes", hex: "400100", reason: "short-header" },
  { name: "version 0", hex: "00010001", reason: "bad-version" },
  { name: "version 2", hex: "80010001", reason: "bad-version" },
  { name: "version 3", hex: "c0010001", reason: "bad-version" },
  { name: "TKL 9", hex: "4901000111223344556677889900", reason: "bad-token-length" },
  { name: "TKL 15", hex: "4f010001", reason: "bad-token-length" },
  { name: "token shorter than TKL", hex: "44010001aabb", reason: "truncated-token" },
  { name: "Empty with a token", hex: "410000011234", reason: "empty-not-empty" },
  { name: "Empty with a payload", hex: "60000001ff00", reason: "empty-not-empty" },
  { name: "option delta 15", hex: "40010001f1", reason: "reserved-nibble" },
  { name: "option length 15", hex: "400100011f61", reason: "reserved-nibble" },
  { name: "delta 13 without its byte", hex: "40010001d0", reason: "truncated-option" },
  { name: "delta 14 with one byte", hex: "40010001e000", reason: "truncated-option" },
  { name: "length 13 without its byte", hex: "40010001bd", reason: "truncated-option" },
  { name: "length 14 with one byte", hex: "40010001be01", reason: "truncated-option" },
  { name: "value shorter than length", hex: "40010001b3616263".slice(0, -2), reason: "truncated-option" },
  { name: "option numbers past 65535", hex: "40010001e0fef2e00000", reason: "option-number-overflow" },
  { name: "payload marker alone", hex: "40010001ff", reason: "empty-payload" },
  { name: "payload marker after an option", hex: "40010001b161ff", reason: "empty-payload" },
];

test("codec: every malformed datagram is rejected with CoapFormatError and its reason", () => {
  for (const { name, hex, reason } of MALFORMED) {
    const error = assert.throws(() => decode(fromHex(hex)), CoapFormatError, name) as CoapFormatError;
    assert.equal(error.reason, reason, name);
  }
  // the header fields are carried when they could be read, so a CON can be answered with RST
  const error = assert.throws(() => decode(fromHex("4f01abcd")), CoapFormatError) as CoapFormatError;
  assert.equal(error.type, Type.CON);
  assert.equal(error.mid, 0xabcd);
});

test("codec: decode copies, so a reused receive buffer does not change a message", () => {
  const buffer = fromHex("41017d3520bb" + hexOf("temperature"));
  const decoded = decode(buffer);
  buffer.fill(0);
  assert.deepEqual(getUriPath(decoded.options), ["temperature"]);
  assert.equal(toHex(decoded.token), "20");
});

test("codec: encode refuses what cannot be put on the wire", () => {
  assert.throws(() => encode(message({ token: new Uint8Array(9) })), RangeError);
  assert.throws(() => encode(message({ mid: 0x10000 })), RangeError);
  assert.throws(() => encode(message({ code: 256 })), RangeError);
  assert.throws(() => encode(message({ options: [{ number: 0x10000, value: new Uint8Array(0) }] })), RangeError);
  assert.throws(() => encode(message({ code: Code.EMPTY, token: new Uint8Array(1) })), RangeError);
});

function randomBytes(random: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** Lengths drawn so that each nibble form (direct, 13, 14) comes up. */
function randomLength(random: () => number): number {
  const r = random();
  if (r < 0.7) return Math.floor(random() * 13);
  if (r < 0.95) return 13 + Math.floor(random() * 256);
  return 269 + Math.floor(random() * 400);
}

function randomMessage(random: () => number): CoapMessage {
  const code = random() < 0.1 ? Code.EMPTY : 1 + Math.floor(random() * 255);
  const empty = code === Code.EMPTY;
  const options: CoapMessage["options"] = [];
  let number = 0;
  const count = empty ? 0 : Math.floor(random() * 6);
  for (let i = 0; i < count; i++) {
    const r = random();
    number += r < 0.3 ? 0 : r < 0.8 ? 1 + Math.floor(random() * 12) : r < 0.95 ? 13 + Math.floor(random() * 256) : 269 + Math.floor(random() * 3000);
    if (number > 0xffff) break;
    options.push({ number, value: randomBytes(random, randomLength(random)) });
  }
  return {
    type: Math.floor(random() * 4) as Type,
    code,
    mid: Math.floor(random() * 0x10000),
    token: empty ? new Uint8Array(0) : randomBytes(random, Math.floor(random() * 9)),
    options,
    payload: empty || random() < 0.4 ? new Uint8Array(0) : randomBytes(random, 1 + Math.floor(random() * 64)),
  };
}

const ROUND_TRIPS = 10_000;

test(`codec: ${ROUND_TRIPS} random valid messages survive encode -> decode -> encode`, () => {
  const seed = Date.now() >>> 0;
  const random = seededRandom(seed);
  for (let i = 0; i < ROUND_TRIPS; i++) {
    const original = randomMessage(random);
    const bytes = encode(original);
    let decoded: CoapMessage | undefined;
    try {
      decoded = decode(bytes);
    } catch (error) {
      assert.fail(`seed ${seed}, message ${i}: ${error} for <${toHex(bytes)}>`);
    }
    assert.deepEqual(decoded, original, `seed ${seed}, message ${i}`);
    assert.equal(toHex(encode(decoded!)), toHex(bytes), `seed ${seed}, message ${i} re-encoded`);
  }
}, { timeout: 60_000 });

test("options: uint values are minimal big-endian", () => {
  assert.equal(toHex(encodeUint(0)), "");
  assert.equal(toHex(encodeUint(1)), "01");
  assert.equal(toHex(encodeUint(255)), "ff");
  assert.equal(toHex(encodeUint(256)), "0100");
  assert.equal(toHex(encodeUint(0xffffff)), "ffffff");
  assert.equal(toHex(encodeUint(0xffffffff)), "ffffffff");
  assert.equal(decodeUint(fromHex("")), 0);
  assert.equal(decodeUint(fromHex("0100")), 256);
  assert.equal(decodeUint(fromHex("ffffffff")), 0xffffffff);
  assert.throws(() => encodeUint(-1), RangeError);
  assert.throws(() => encodeUint(2 ** 32), RangeError);
});

test("options: Block values (NUM/M/SZX) and sizes 16..1024", () => {
  assert.equal(toHex(encodeBlock({ num: 0, more: false, szx: 0 })), "");
  assert.equal(toHex(encodeBlock({ num: 0, more: true, szx: 2 })), "0a");
  assert.equal(toHex(encodeBlock({ num: 1, more: false, szx: 6 })), "16");
  assert.equal(toHex(encodeBlock({ num: 0xfffff, more: true, szx: 6 })), "fffffe");
  assert.deepEqual(decodeBlock(fromHex("fffffe")), { num: 0xfffff, more: true, szx: 6 });
  assert.deepEqual(decodeBlock(fromHex("")), { num: 0, more: false, szx: 0 });
  assert.equal(blockSize(0), 16);
  assert.equal(blockSize(6), 1024);
  assert.equal(sizeToSzx(64), 2);
  assert.equal(sizeToSzx(100), 2);
  assert.equal(sizeToSzx(5000), 6);
  assert.equal(sizeToSzx(1), 0);
  assert.throws(() => encodeBlock({ num: 0x100000, more: false, szx: 0 }), RangeError);
});

test("options: Uri-Path and Uri-Query round-trip as UTF-8 lists", () => {
  const options: CoapMessage["options"] = [];
  setUriPath(options, "/a/ünïcødé/€");
  setUriQuery(options, ["rt=light", "x=😀"]);
  const back = decode(encode(message({ options }))).options;
  assert.deepEqual(getUriPath(back), ["a", "ünïcødé", "€"]);
  assert.deepEqual(getUriQuery(back), ["rt=light", "x=😀"]);
  // bytes that are not UTF-8 are refused rather than handed to the engine
  assert.equal(getUriPath([{ number: Option.URI_PATH, value: fromHex("c0af") }]), undefined);
});

test("utf8: strict validation", () => {
  const valid = ["", "abc", "é", "€", "😀", "\u{10ffff}"];
  for (const text of valid) {
    ok(isValidUtf8(utf8Encode(text)), JSON.stringify(text));
    assert.equal(utf8Decode(utf8Encode(text)), text);
  }
  const invalid = ["80", "c0af", "c1bf", "e080af", "eda080", "f08080af", "f4908080", "f5808080", "ff", "e282", "00", "6100"];
  for (const hex of invalid) ok(!isValidUtf8(fromHex(hex)), hex);
  // a view into a larger buffer decodes only its own bytes
  const whole = utf8Encode("xxhelloxx");
  assert.equal(utf8Decode(whole.subarray(2, 7)), "hello");
});
