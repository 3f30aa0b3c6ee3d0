/*
 * Block2 tests (RFC 7959): a 2000-byte representation fetched block by block
 * reassembles exactly, the client's SZX is honoured (or reduced to ours with
 * the offset kept), Size2 is announced, out-of-range blocks are refused, and a
 * large notification carries its first block.
 */
import { test, assert, fromHex, seededRandom, toHex } from "../lib/harness";
import { FakeClock } from "../lib/clock";
import { sliceBlock, negotiateSzx } from "coap/block2";
import { decode, encode, type CoapMessage, type CoapOption } from "coap/codec";
import { Code, Option, Type, formatCode, type Limits } from "coap/numbers";
import { blockSize, encodeBlock, encodeUint, getBlock2, getObserve, getOption, decodeUint, setUriPath, type BlockValue } from "coap/options";
import { CoapServer, type Peer } from "coap/server";

const ok: (value: unknown, message?: string) => void = assert.ok; // see codec.test.ts (TS2775)

const CLIENT: Peer = { address: "192.0.2.9", port: 5555 };
const BIG = 2000;

function representation(length: number): Uint8Array {
  const out = new Uint8Array(length);
  const random = seededRandom(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

function rig(limits?: Partial<Limits>) {
  const sent: CoapMessage[] = [];
  const clock = new FakeClock(0);
  const server = new CoapServer({ send: (bytes) => sent.push(decode(bytes)), random: seededRandom(5), limits });
  const body = representation(BIG);
  let renders = 0;
  server.add("big", { observable: true, get: () => (renders++, { payload: body }) });
  server.add("small", { get: () => ({ payload: "tiny" }) });
  let mid = 1;
  const get = (path: string, block?: BlockValue, extra: CoapOption[] = []): CoapMessage => {
    const options = extra.slice();
    setUriPath(options, path);
    if (block) options.push({ number: Option.BLOCK2, value: encodeBlock(block) });
    server.receive(encode({ type: Type.CON, code: Code.GET, mid: mid++, token: fromHex("b2"), options, payload: new Uint8Array(0) }), CLIENT, clock.now);
    assert.equal(sent.length, 1);
    return sent.pop()!;
  };
  return { server, clock, body, get, sent, renders: () => renders };
}

/** Fetches every block as a client would, with the size it asks for. */
function fetchAll(get: (path: string, block?: BlockValue) => CoapMessage, szx: number | undefined) {
  const chunks: Uint8Array[] = [];
  const blocks: BlockValue[] = [];
  let size2: number | undefined;
  let num = 0;
  for (;;) {
    const reply = get("big", szx === undefined && num === 0 ? undefined : { num, more: false, szx: szx ?? 6 });
    assert.equal(formatCode(reply.code), "2.05");
    const block = getBlock2(reply.options)!;
    ok(block, "Block2 in the response");
    if (num === 0) size2 = decodeUint(getOption(reply.options, Option.SIZE2) ?? new Uint8Array(0));
    blocks.push(block);
    chunks.push(reply.payload);
    if (!block.more) break;
    ok(reply.payload.length === blockSize(block.szx), "every block but the last is full");
    num = block.num + 1;
    ok(num < 1000, "terminates");
  }
  const whole = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) (whole.set(c, at), (at += c.length));
  return { whole, blocks, size2 };
}

test("block2: a 2000-byte resource fetched in 64-byte blocks reassembles exactly", () => {
  const r = rig();
  const { whole, blocks, size2 } = fetchAll(r.get, 2);
  assert.equal(blocks.length, Math.ceil(BIG / 64));
  ok(blocks.every((b, i) => b.num === i && b.szx === 2));
  assert.equal(size2, BIG, "Size2 announces the total");
  assert.equal(toHex(whole), toHex(r.body));
});

test("block2: every block size 16..1024 the client asks for is honoured", () => {
  for (let szx = 0; szx <= 6; szx++) {
    const r = rig();
    const { whole, blocks } = fetchAll(r.get, szx);
    assert.equal(blocks.length, Math.ceil(BIG / blockSize(szx)), `SZX ${szx}`);
    assert.equal(toHex(whole), toHex(r.body), `SZX ${szx}`);
  }
});

test("block2: without Block2 the server splits at 1024 bytes by default; small bodies are not split", () => {
  const r = rig();
  const first = r.get("big");
  assert.deepEqual(getBlock2(first.options), { num: 0, more: true, szx: 6 });
  assert.equal(first.payload.length, 1024);
  const { whole } = fetchAll(r.get, undefined);
  assert.equal(toHex(whole), toHex(r.body));
  const small = r.get("small");
  assert.equal(getBlock2(small.options), undefined);
  // a client that asks for blocks gets one even when it all fits
  const asked = r.get("small", { num: 0, more: false, szx: 2 });
  assert.deepEqual(getBlock2(asked.options), { num: 0, more: false, szx: 2 });
  assert.equal(asked.payload.length, 4);
});

test("block2: a client asking for more than our block size gets ours, at the same offset", () => {
  const r = rig({ defaultBlockSzx: 4 }); // 256 bytes
  const reply = r.get("big", { num: 1, more: false, szx: 6 }); // bytes 1024..2047 in 1024-byte blocks
  assert.deepEqual(getBlock2(reply.options), { num: 4, more: true, szx: 4 });
  assert.equal(toHex(reply.payload), toHex(r.body.subarray(1024, 1280)));
  assert.equal(negotiateSzx({ num: 0, more: false, szx: 2 }, 4), 2);
  assert.equal(negotiateSzx(undefined, 4), 4);
});

test("block2: a block past the end is refused with 4.02; SZX 7 with 4.00", () => {
  const r = rig();
  assert.equal(formatCode(r.get("big", { num: 2, more: false, szx: 6 }).code), "4.02");
  assert.equal(formatCode(r.get("big", { num: 125, more: false, szx: 0 }).code), "4.02", "2000 / 16 = 125 blocks: 0..124");
  assert.equal(formatCode(r.get("big", { num: 124, more: false, szx: 0 }).code), "2.05");
  assert.equal(formatCode(r.get("big", { num: 0, more: false, szx: 7 }).code), "4.00");
});

test("block2: sliceBlock edges", () => {
  const body = representation(64);
  assert.deepEqual(sliceBlock(body, { num: 0, more: false, szx: 2 }, 6)?.block, { num: 0, more: false, szx: 2 }, "exactly one block");
  assert.deepEqual(sliceBlock(body, { num: 1, more: false, szx: 1 }, 6)?.block, { num: 1, more: false, szx: 1 });
  assert.equal(sliceBlock(body, { num: 2, more: false, szx: 1 }, 6), undefined);
  const empty = sliceBlock(new Uint8Array(0), { num: 0, more: false, szx: 0 }, 6)!;
  assert.equal(empty.payload.length, 0);
  assert.equal(empty.block.more, false);
});

test("block2: a notification too large for one block carries block 0 with Observe", () => {
  const r = rig();
  const registration = r.get("big", { num: 0, more: false, szx: 3 }, [{ number: Option.OBSERVE, value: encodeUint(0) }]);
  ok(getObserve(registration.options) !== undefined);
  assert.deepEqual(getBlock2(registration.options), { num: 0, more: true, szx: 3 });
  r.server.notify("big", r.clock.now);
  const note = r.sent.pop()!;
  ok(getObserve(note.options)! > getObserve(registration.options)!);
  assert.deepEqual(getBlock2(note.options), { num: 0, more: true, szx: 3 }, "the observer's block size");
  assert.equal(decodeUint(getOption(note.options, Option.SIZE2)!), BIG);
  assert.equal(toHex(note.payload), toHex(r.body.subarray(0, 128)));
  // the client then fetches the rest without Observe
  const next = r.get("big", { num: 1, more: false, szx: 3 });
  assert.equal(getObserve(next.options), undefined);
  assert.equal(toHex(next.payload), toHex(r.body.subarray(128, 256)));
});
