/*
 * Block-wise request bodies on the server (RFC 7959 Block1, RFC 9175 Request-Tag;
 * coap/block1.ts): the transfer table alone, then through the CoapServer (2.31 per
 * block, the upload's answer with Block1 at the end, every refusal: 4.00, 4.08, 4.13
 * with Size1, 5.03 with Max-Age, 5.00; the deadline; two uploads that must not mix),
 * then libcoap's coap-client -b against a host module (upload-server.ts).
 */
import { test, assert, fromHex, seededRandom } from "../lib/harness";
import { FakeClock } from "../lib/clock";
import { decode, encode, type CoapMessage, type CoapOption } from "coap/codec";
import { Block1Transfers, type Upload } from "coap/block1";
import { Code, Option, Type, formatCode } from "coap/numbers";
import { decodeBlock, decodeUint, encodeBlock, encodeUint, getOption, setUriPath } from "coap/options";
import { CoapServer, type CoapRequest, type Peer } from "coap/server";
import { utf8Decode } from "coap/utf8";
import { available, run, scratchDirectory, startHost, stop } from "../lib/process";
import { randomPort } from "../lib/net";
import { cwd, writeFileAtomic } from "host/runtime";

const A: Peer = { address: "192.0.2.1", port: 50000 };
const B: Peer = { address: "192.0.2.2", port: 50001 };

/** An upload that keeps what it was given, and what happened to it. */
function recorder() {
  const log: string[] = [];
  const chunks: number[] = [];
  const upload: Upload = {
    write(offset, bytes) {
      log.push(`write ${offset}+${bytes.length}`);
      for (const b of bytes) chunks.push(b);
    },
    end(request) {
      log.push(`end ${request.method}`);
      return { payload: `got ${chunks.length}` };
    },
    abort(reason) {
      log.push(`abort ${reason}`);
    },
  };
  return { upload, log, chunks };
}

function uploadServer(maxBody = 4096, limits: { block1Timeout?: number; defaultBlockSzx?: number } = {}) {
  const clock = new FakeClock(10_000);
  const sent: { bytes: Uint8Array; peer: Peer }[] = [];
  const logs: string[] = [];
  const server = new CoapServer({ send: (bytes, peer) => sent.push({ bytes, peer }), random: seededRandom(3), log: (m) => logs.push(m), limits });
  const uploads: ReturnType<typeof recorder>[] = [];
  const begun: { size1?: number; peer: Peer }[] = [];
  let refuseNext: { code: number; payload: string } | undefined;
  server.add("fw", {
    block1: {
      maxBody,
      begin(request: CoapRequest, size1) {
        begun.push({ size1, peer: request.peer });
        if (refuseNext) return refuseNext;
        const r = recorder();
        uploads.push(r);
        return r.upload;
      },
    },
  });
  server.add("plain", { put: () => ({}) });
  let mid = 0x200;
  const put = (peer: Peer, block: { num: number; more: boolean; szx: number } | undefined, payload: Uint8Array, extra: CoapOption[] = [], path = "fw"): CoapMessage => {
    const options: CoapOption[] = [...extra];
    if (block) options.push({ number: Option.BLOCK1, value: encodeBlock(block) });
    setUriPath(options, path);
    options.sort((x, y) => x.number - y.number);
    server.receive(encode({ type: Type.CON, code: Code.PUT, mid: mid++, token: fromHex("b1"), options, payload }), peer, clock.now);
    const replies = sent.splice(0).map((s) => decode(s.bytes));
    assert.equal(replies.length, 1, "one reply");
    return replies[0];
  };
  return {
    server, clock, logs, uploads, begun, put,
    refuse(next: { code: number; payload: string } | undefined) {
      refuseNext = next;
    },
  };
}

const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
const code = (m: CoapMessage): string => formatCode(m.code);
const block1Of = (m: CoapMessage) => {
  const value = getOption(m.options, Option.BLOCK1);
  return value && decodeBlock(value);
};
const optionUint = (m: CoapMessage, number: number) => {
  const value = getOption(m.options, number);
  return value && decodeUint(value);
};
const tag = (hex: string): CoapOption => ({ number: Option.REQUEST_TAG, value: fromHex(hex) });

/** The body in blocks of 2^(szx+4) bytes, each put from `peer`; the replies. */
function sendAll(s: ReturnType<typeof uploadServer>, peer: Peer, body: Uint8Array, szx: number, extra: CoapOption[] = []): CoapMessage[] {
  const size = 16 << szx;
  const replies: CoapMessage[] = [];
  for (let num = 0; num * size < body.length || (num === 0 && body.length === 0); num++) {
    const chunk = body.subarray(num * size, (num + 1) * size);
    replies.push(s.put(peer, { num, more: (num + 1) * size < body.length, szx }, chunk, extra));
  }
  return replies;
}

test("Block1: a 1,000-byte body in 64-byte blocks: 2.31 Continue for each but the last, then the upload's answer with Block1; written in order, nothing held", () => {
  const s = uploadServer();
  const body = bytes(1000);
  const replies = sendAll(s, A, body, 2);
  assert.equal(replies.length, 16);
  for (let i = 0; i < 15; i++) {
    assert.equal(code(replies[i]), "2.31", `block ${i}`);
    assert.deepEqual(block1Of(replies[i]), { num: i, more: true, szx: 2 });
  }
  assert.equal(code(replies[15]), "2.04");
  assert.deepEqual(block1Of(replies[15]), { num: 15, more: false, szx: 2 });
  assert.equal(utf8Decode(replies[15].payload), "got 1000");
  assert.deepEqual(Uint8Array.from(s.uploads[0].chunks), body, "the body arrived whole, in order");
  assert.equal(s.uploads[0].log.filter((l) => l.startsWith("write")).length, 16);
  assert.equal(s.uploads[0].log[16], "end PUT");
  assert.equal(s.server.stats().uploads, 0, "the transfer is gone once answered");
});

test("Block1: Size1 over maxBody in the first block gets 4.13 with Size1 = maxBody; a body growing past it too, and the upload is told", () => {
  const s = uploadServer(256);
  const first = s.put(A, { num: 0, more: true, szx: 2 }, bytes(64), [{ number: Option.SIZE1, value: encodeUint(1000) }]);
  assert.equal(code(first), "4.13");
  assert.equal(optionUint(first, Option.SIZE1), 256);
  assert.equal(s.begun.length, 0, "begin() is not even asked");
  const replies = sendAll(s, A, bytes(400), 2);
  assert.deepEqual(replies.map(code), ["2.31", "2.31", "2.31", "2.31", "4.13", "4.08", "4.08"], "refused at the block that passes 256 bytes; the transfer is gone after");
  assert.equal(optionUint(replies[4], Option.SIZE1), 256);
  assert.equal(s.uploads[0].log[s.uploads[0].log.length - 1], "abort too large");
  assert.equal(s.server.stats().uploads, 0);
});

test("Block1: a missing block, a block out of order and a block without a transfer get 4.08; the transfer ends", () => {
  const s = uploadServer();
  assert.equal(code(s.put(A, { num: 3, more: true, szx: 2 }, bytes(64))), "4.08", "no transfer");
  assert.equal(code(s.put(A, { num: 0, more: true, szx: 2 }, bytes(64))), "2.31");
  assert.equal(code(s.put(A, { num: 1, more: true, szx: 2 }, bytes(64))), "2.31");
  const gap = s.put(A, { num: 3, more: true, szx: 2 }, bytes(64));
  assert.equal(code(gap), "4.08", "block 2 is missing");
  assert.match(utf8Decode(gap.payload) ?? "", /starts at byte 192, expected 128/);
  assert.equal(s.uploads[0].log[s.uploads[0].log.length - 1], "abort out of order");
  assert.equal(code(s.put(A, { num: 2, more: true, szx: 2 }, bytes(64))), "4.08", "the transfer is gone: start again from block 0");
});

test("Block1: a block that is not the last must be exactly its size (4.00); SZX 7 is 4.00", () => {
  const s = uploadServer();
  assert.equal(code(s.put(A, { num: 0, more: true, szx: 2 }, bytes(63))), "4.00");
  assert.equal(code(s.put(A, { num: 0, more: false, szx: 2 }, bytes(65))), "4.00", "a last block longer than its size");
  assert.equal(code(s.put(A, { num: 0, more: true, szx: 7 }, bytes(64))), "4.00");
  assert.equal(s.begun.length, 0);
});

test("Block1: one upload per resource: another client's first block gets 5.03 with Max-Age until the first would be dropped; the same client may start again", () => {
  const s = uploadServer(4096, { block1Timeout: 20_000 });
  assert.equal(code(s.put(A, { num: 0, more: true, szx: 2 }, bytes(64))), "2.31");
  s.clock.skip(5_000);
  const other = s.put(B, { num: 0, more: true, szx: 2 }, bytes(64, 9));
  assert.equal(code(other), "5.03");
  assert.equal(optionUint(other, Option.MAX_AGE), 15, "seconds until A's upload would be dropped");
  assert.equal(code(s.put(B, { num: 1, more: true, szx: 2 }, bytes(64, 9))), "4.08", "B has no transfer");
  assert.equal(code(s.put(A, { num: 1, more: true, szx: 2 }, bytes(64))), "2.31", "A goes on untouched");
  assert.equal(code(s.put(A, { num: 0, more: true, szx: 2 }, bytes(64, 5))), "2.31", "A starts again");
  assert.equal(s.uploads[0].log[s.uploads[0].log.length - 1], "abort restarted");
  assert.equal(s.uploads.length, 2);
});

test("Block1 with Request-Tag (RFC 9175): two bodies from one client under different tags cannot mix", () => {
  const s = uploadServer();
  assert.equal(code(s.put(A, { num: 0, more: true, szx: 2 }, bytes(64, 1), [tag("01")])), "2.31");
  const second = s.put(A, { num: 0, more: true, szx: 2 }, bytes(64, 2), [tag("02")]);
  assert.equal(code(second), "5.03", "the same peer's other body waits: the tags name two bodies");
  assert.equal(code(s.put(A, { num: 1, more: true, szx: 2 }, bytes(64, 2), [tag("02")])), "4.08", "a block under tag 02 never lands in tag 01's body");
  assert.equal(code(s.put(A, { num: 1, more: false, szx: 2 }, bytes(10, 1), [tag("01")])), "2.04");
  assert.equal(s.uploads[0].chunks.length, 74);
  assert.equal(code(s.put(A, { num: 1, more: true, szx: 2 }, bytes(64, 1))), "4.08", "without a tag it is a third client");
});

test("Block1: a transfer silent past block1Timeout is dropped at tick(); nextDeadline() names the time; a late block gets 4.08", () => {
  const s = uploadServer(4096, { block1Timeout: 10_000 });
  assert.equal(code(s.put(A, { num: 0, more: true, szx: 2 }, bytes(64))), "2.31");
  assert.equal(s.server.nextDeadline(), s.clock.now + 10_000);
  s.clock.skip(10_000);
  s.server.tick(s.clock.now);
  assert.equal(s.server.stats().uploads, 0);
  assert.equal(s.uploads[0].log[s.uploads[0].log.length - 1], "abort stalled");
  assert.ok(s.logs.some((l) => /upload to \/fw dropped: no block for 10000 ms/.test(l)), s.logs.join("\n"));
  assert.equal(code(s.put(A, { num: 1, more: true, szx: 2 }, bytes(64))), "4.08");
  assert.equal(code(s.put(B, { num: 0, more: true, szx: 2 }, bytes(64))), "2.31", "another client may start now");
});

test("Block1: begin() may refuse (4.03), a write that throws gives 5.00, and a resource without block1 answers block-wise requests 4.13 with Size1", () => {
  const s = uploadServer();
  s.refuse({ code: Code.FORBIDDEN, payload: "not authorised" });
  const refused = s.put(A, { num: 0, more: true, szx: 2 }, bytes(64));
  assert.equal(code(refused), "4.03");
  assert.equal(utf8Decode(refused.payload), "not authorised");
  s.refuse(undefined);
  assert.equal(code(s.put(A, { num: 0, more: true, szx: 2 }, bytes(64))), "2.31");
  s.uploads[0].upload.write = () => {
    throw new Error("flash full");
  };
  assert.equal(code(s.put(A, { num: 1, more: true, szx: 2 }, bytes(64))), "5.00");
  assert.equal(s.uploads[0].log[s.uploads[0].log.length - 1], "abort write failed: Error: flash full");
  const plain = s.put(A, { num: 0, more: true, szx: 2 }, bytes(64), [], "plain");
  assert.equal(code(plain), "4.13");
  assert.ok(optionUint(plain, Option.SIZE1)! > 0);
  assert.equal(code(s.put(A, { num: 0, more: false, szx: 2 }, bytes(10), [], "plain")), "2.04", "one whole block is just a payload");
});

test("Block1: a server preferring smaller blocks answers 2.31 with its SZX; the client's next number counts in it", () => {
  const s = uploadServer(4096, { defaultBlockSzx: 4 });
  const first = s.put(A, { num: 0, more: true, szx: 6 }, bytes(1024));
  assert.equal(code(first), "2.31");
  assert.deepEqual(block1Of(first), { num: 0, more: true, szx: 4 });
  assert.equal(code(s.put(A, { num: 4, more: false, szx: 4 }, bytes(100))), "2.04", "block 4 of 256 bytes starts at byte 1024");
  assert.equal(s.uploads[0].chunks.length, 1124);
});

test("Block1Transfers alone: memory is one entry per resource, whatever the number of blocks", () => {
  const transfers = new Block1Transfers({ timeoutMs: 1000, preferredSzx: 6 });
  const r = recorder();
  const handler = { maxBody: 1 << 20, begin: () => r.upload };
  const request = (payload: Uint8Array) => ({ method: "PUT", path: ["fw"], query: [], payload, peer: A, token: new Uint8Array(1), options: [], notification: false, text: () => undefined }) as CoapRequest;
  for (let num = 0; num < 500; num++) {
    const step = transfers.step("fw", handler, request(bytes(64)), { num, more: true, szx: 2 }, undefined, "a", num);
    assert.equal(step.kind, "answer");
    assert.equal(transfers.size, 1);
  }
  assert.equal(transfers.progress("fw")?.received, 500 * 64);
  assert.equal(r.chunks.length, 500 * 64, "the recorder keeps the bytes; the table keeps none");
});

/* ---- libcoap's client ---- */

test("coap-client-notls -m put -f FILE -b 64 (libcoap's own Block1) uploads 5,000 bytes whole; a second file with -b 1024 too", async () => {
  if (!(await available("coap-client-notls"))) throw new Error("coap-client-notls is missing: the test set-up installs libcoap3-bin");
  const port = randomPort();
  const host = startHost(`${cwd()}/build/ts/host-tests/coap/upload-server.js`, { args: [String(port), "65536"] });
  try {
    await host.waitFor(/upload-server port/, 5000);
    for (const [size, blockSize] of [[5000, 64], [3000, 1024]]) {
      const body = Uint8Array.from({ length: size }, (_, i) => 0x21 + ((i * 7 + size) % 94)); // printable: the host writes text
      const file = `${scratchDirectory()}/body-${size}.txt`;
      writeFileAtomic(file, String.fromCharCode(...body));
      let hash = 0x811c9dc5;
      for (const b of body) hash = Math.imul(hash ^ b, 0x01000193);
      const expected = `${size} ${(hash >>> 0).toString(16).padStart(8, "0")}`;
      const result = await run(["coap-client-notls", "-m", "put", "-f", file, "-b", String(blockSize), "-B", "20", `coap://127.0.0.1:${port}/upload`], { timeout: 30000 });
      assert.equal(result.stdout.trim(), expected, `${result.stdout}\n${result.stderr}\n${host.stdout}`);
      await host.waitFor(new RegExp(`upload: end ${size} bytes`), 2000);
    }
  } finally {
    await stop(host);
  }
}, { timeout: 60000 });
