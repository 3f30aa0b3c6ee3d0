/*
 * The firmware resource (modules/update/firmware.ts) behind the CoAP server: a signed
 * image uploaded with Block1 lands in the update slot and the slot is completed only
 * once the whole payload hashed right; every refusal cancels the slot (or never opens
 * it) and leaves the node as it was; GET /fw tells the state. Then libcoap's own
 * Block1 client uploads a signed image, and a tampered one.
 */
import { test, assert, fromHex, seededRandom } from "../lib/harness";
import { FakeClock } from "../lib/clock";
import { decode, encode, type CoapMessage, type CoapOption } from "coap/codec";
import { Code, Option, Type, formatCode } from "coap/numbers";
import { encodeBlock, setUriPath } from "coap/options";
import { CoapServer, type Peer } from "coap/server";
import { utf8Decode } from "coap/utf8";
import { firmwareResource, type UpdateSlot } from "update/firmware";
import { CHIP_ESP32C3, parseVersion } from "update/image";
import { Sha256, verifyP256 } from "update/verify";
import { run, scratchDirectory, startHost, stop } from "../lib/process";
import { randomPort } from "../lib/net";
import { cwd, readFile, readFileBuffer } from "host/runtime";

const SECURE: Peer = { address: "192.0.2.7", port: 40000, session: "192.0.2.7|40000#1" } as Peer;
const PLAIN: Peer = { address: "192.0.2.8", port: 40001 };

async function sh(command: string): Promise<string> {
  const result = await run(["bash", "-c", command], { timeout: 20000 });
  assert.equal(result.status, 0, `${command}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

async function signedImage(version: string, size: number, dir: string, chip = CHIP_ESP32C3) {
  await sh(`test -f ${dir}/update-signing.key.pem || bash ${cwd()}/certs/make-update-key.sh ${dir} >/dev/null`);
  await sh(`head -c ${size} /dev/urandom > ${dir}/app-${version}.bin && bash ${cwd()}/certs/sign-image.sh ${dir}/update-signing.key.pem ${version} ${dir}/app-${version}.bin ${dir}/app-${version}-${chip}.img ${chip} >/dev/null`);
  return { image: new Uint8Array(readFileBuffer(`${dir}/app-${version}-${chip}.img`)!), file: `${dir}/app-${version}-${chip}.img`, publicKey: fromHex(readFile(`${dir}/update-signing.pub.hex`)!.trim()) };
}

function node(publicKey: Uint8Array) {
  const clock = new FakeClock(1000);
  const sent: Uint8Array[] = [];
  const logs: string[] = [];
  const slots: { bytes: number; state: string }[] = [];
  const server = new CoapServer({ send: (bytes) => sent.push(bytes), random: seededRandom(5), log: (m) => logs.push(m) });
  const firmware = firmwareResource({
    running: parseVersion("1.0.0")!,
    policy: { publicKey, chip: CHIP_ESP32C3, maxLength: 64 * 1024 },
    crypto: { sha256: () => new Sha256(), verifyP256: (key, hash, signature) => verifyP256(key, hash, signature) },
    openSlot(): UpdateSlot {
      const slot = { bytes: 0, state: "open" };
      slots.push(slot);
      return { write: (b) => void (slot.bytes += b.byteLength), cancel: () => void (slot.state = "cancelled"), complete: () => void (slot.state = "complete") };
    },
    authorise: (request) => ((request.peer as { session?: string }).session === undefined ? { code: Code.UNAUTHORIZED, payload: "updates only over CoAPS" } : undefined),
    log: (m) => logs.push(m),
  });
  server.add("fw", firmware.resource);
  let mid = 1;
  const ask = (peer: Peer, code: number, options: CoapOption[], payload: Uint8Array = new Uint8Array(0)): CoapMessage => {
    setUriPath(options, "fw");
    options.sort((a, b) => a.number - b.number);
    server.receive(encode({ type: Type.CON, code, mid: mid++, token: fromHex("f1"), options, payload }), peer, clock.now);
    assert.equal(sent.length, 1);
    return decode(sent.pop()!);
  };
  /** PUTs `image` in blocks of 2^(szx+4) bytes until a reply other than 2.31; every reply's code */
  const upload = (peer: Peer, image: Uint8Array, szx = 6, stopAfter = Infinity): string[] => {
    const size = 16 << szx;
    const codes: string[] = [];
    for (let num = 0; num * size < image.length && num < stopAfter; num++) {
      const reply = ask(peer, Code.PUT, [{ number: Option.BLOCK1, value: encodeBlock({ num, more: (num + 1) * size < image.length, szx }) }], image.subarray(num * size, (num + 1) * size));
      codes.push(`${formatCode(reply.code)}${reply.code === Code.CONTINUE ? "" : ` ${utf8Decode(reply.payload)}`}`);
      if (reply.code !== Code.CONTINUE) break;
    }
    return codes;
  };
  const status = () => JSON.parse(utf8Decode(ask(SECURE, Code.GET, []).payload)!);
  return { server, clock, logs, slots, firmware, upload, status };
}

test("/fw: a signed image over CoAPS lands in the slot, which is completed only after the payload hashed right; GET tells pending-restart", async () => {
  const dir = scratchDirectory();
  const { image, publicKey } = await signedImage("1.1.0", 6000, dir);
  const n = node(publicKey);
  assert.deepEqual(n.status(), { state: "idle", running: "1.0.0", received: 0 });
  const codes = n.upload(SECURE, image);
  assert.equal(codes.length, 6, "6,128 bytes in 1,024-byte blocks");
  assert.equal(codes[5], "2.04 1.1.0 stored, pending restart");
  assert.deepEqual(n.slots, [{ bytes: 6000, state: "complete" }]);
  assert.deepEqual(n.status(), { state: "pending-restart", running: "1.0.0", received: 6128, pending: "1.1.0" });
});

test("/fw: refusals leave the node as it was: not over CoAPS (4.01), bad signature (4.03, no slot opened), tampered payload (4.00 at the end, slot cancelled), wrong chip, older version", async () => {
  const dir = scratchDirectory();
  const { image, publicKey } = await signedImage("1.1.0", 3000, dir);
  const n = node(publicKey);
  assert.match(n.upload(PLAIN, image)[0], /^4\.01 updates only over CoAPS/);
  const forged = image.slice();
  forged[10] ^= 1; // the signed version
  assert.match(n.upload(SECURE, forged)[0], /^4\.03 bad signature/);
  assert.equal(n.slots.length, 0, "no slot is opened for an image whose header fails");
  const tampered = image.slice();
  tampered[2000] ^= 0x40;
  const codes = n.upload(SECURE, tampered);
  assert.match(codes[codes.length - 1], /^4\.00 payload does not match the signed hash/);
  assert.deepEqual(n.slots, [{ bytes: 3000, state: "cancelled" }]);
  assert.equal(n.status().state, "idle");
  assert.match(n.status().error, /does not match/);
  const other = await signedImage("1.1.0", 500, dir, 9);
  assert.match(n.upload(SECURE, other.image)[0], /^4\.00 image for chip 9/);
  const older = await signedImage("0.9.0", 500, dir);
  assert.match(n.upload(SECURE, older.image)[0], /^4\.00 version 0\.9\.0 is older than the running 1\.0\.0/);
  assert.equal(n.slots.length, 1, "still only the tampered upload's slot, cancelled");
  assert.ok(n.logs.some((l) => /update: refused: payload does not match/.test(l)), n.logs.join("\n"));
});

test("/fw: an upload that stops half-way is dropped at the Block1 deadline and its slot cancelled", async () => {
  const dir = scratchDirectory();
  const { image, publicKey } = await signedImage("1.1.0", 5000, dir);
  const n = node(publicKey);
  assert.deepEqual(n.upload(SECURE, image, 6, 2), ["2.31", "2.31"], "two blocks, then the client goes quiet");
  n.clock.skip(60_000);
  n.server.tick(n.clock.now);
  assert.deepEqual(n.slots.map((s) => s.state), ["cancelled"]);
  assert.equal(n.status().state, "idle");
  assert.match(n.status().error, /stalled/);
  // an upload whose last block comes too early: a truncated image, refused at the end
  const codes = n.upload(SECURE, image.subarray(0, 2049));
  assert.match(codes[codes.length - 1], /^4\.00 image truncated: 1921 of 5000 bytes of payload/);
  assert.deepEqual(n.slots.map((s) => s.state), ["cancelled", "cancelled"]);
});

test("coap-client-notls -m put -f image -b 1024 (libcoap's Block1) updates /fw; a tampered image is refused with its reason", async () => {
  const dir = scratchDirectory();
  const good = await signedImage("1.2.0", 20000, dir);
  const port = randomPort();
  const host = startHost(`${cwd()}/build/ts/host-tests/coap/upload-server.js`, { args: [String(port), "65536", readFile(`${dir}/update-signing.pub.hex`)!.trim()] });
  try {
    await host.waitFor(/upload-server port/, 5000);
    const put = await run(["coap-client-notls", "-m", "put", "-f", good.file, "-b", "1024", "-B", "20", `coap://127.0.0.1:${port}/fw`], { timeout: 30000 });
    assert.equal(put.stdout.trim(), "1.2.0 stored, pending restart", `${put.stdout}\n${put.stderr}\n${host.stdout}`);
    await host.waitFor(/slot: complete, 20000 bytes/, 2000);
    const get = await run(["coap-client-notls", "-m", "get", "-B", "5", `coap://127.0.0.1:${port}/fw`], { timeout: 10000 });
    assert.match(get.stdout, /"state":"pending-restart"/);
    await sh(`cp ${good.file} ${dir}/bad.img && printf 'X' | dd of=${dir}/bad.img bs=1 seek=9000 conv=notrunc 2>/dev/null`);
    const bad = await run(["coap-client-notls", "-m", "put", "-f", `${dir}/bad.img`, "-b", "1024", "-B", "20", `coap://127.0.0.1:${port}/fw`], { timeout: 30000 });
    assert.match(bad.stdout + bad.stderr, /payload does not match the signed hash|4\.00/, `${bad.stdout}\n${bad.stderr}`);
    await host.waitFor(/slot: cancelled after 20000 bytes/, 2000);
  } finally {
    await stop(host);
  }
}, { timeout: 60000 });
