/*
 * Signed firmware images (modules/update): certs/make-update-key.sh and
 * certs/sign-image.sh make them with openssl; ImageCheck, with the binding's SHA-256
 * and ECDSA P-256 (verify.c over PSA Crypto), takes them as an upload streams in.
 * Every refusal the firmware-update issue names: a bad signature, another key, a
 * tampered header or payload, the wrong chip, an older version, a truncated image, a
 * longer one, one too large for the slot.
 */
import { test, assert, fromHex, toHex } from "../lib/harness";
import { run, scratchDirectory } from "../lib/process";
import { cwd, readFile, readFileBuffer } from "host/runtime";
import { CHIP_ESP32C3, HEADER_SIZE, ImageCheck, ImageError, formatVersion, parseVersion, type ImageCrypto, type ImagePolicy } from "update/image";
import { Sha256, verifyP256 } from "update/verify";

const crypto: ImageCrypto = {
  sha256: () => new Sha256(),
  verifyP256: (key, hash, signature) => verifyP256(key, hash, signature),
};

async function sh(command: string): Promise<void> {
  const result = await run(["bash", "-c", command], { timeout: 20000 });
  assert.equal(result.status, 0, `${command}\n${result.stdout}\n${result.stderr}`);
}

/** a key pair, and a payload of `size` random bytes signed as `version` for `chip` */
async function signed(version = "1.2.3", size = 5000, chip = CHIP_ESP32C3, dir = scratchDirectory()) {
  await sh(`test -f ${dir}/update-signing.key.pem || bash ${cwd()}/certs/make-update-key.sh ${dir} >/dev/null`);
  await sh(`head -c ${size} /dev/urandom > ${dir}/app.bin && bash ${cwd()}/certs/sign-image.sh ${dir}/update-signing.key.pem ${version} ${dir}/app.bin ${dir}/app.img ${chip} >/dev/null`);
  const image = new Uint8Array(readFileBuffer(`${dir}/app.img`)!);
  const publicKey = fromHex(readFile(`${dir}/update-signing.pub.hex`)!.trim());
  return { image, publicKey, dir };
}

const policy = (publicKey: Uint8Array, extra: Partial<ImagePolicy> = {}): ImagePolicy => ({ publicKey, chip: CHIP_ESP32C3, running: parseVersion("1.0.0")!, maxLength: 1 << 20, ...extra });

/** streams `image` through a check in pieces of `piece` bytes; what finish() gave, or the first ImageError */
function check(image: Uint8Array, rules: ImagePolicy, piece = 1024): { version?: string; error?: ImageError; payload: number } {
  const checker = new ImageCheck(rules, crypto);
  let payload = 0;
  try {
    for (let at = 0; at < image.length; at += piece) payload += checker.write(image.subarray(at, at + piece)).length;
    return { version: formatVersion(checker.finish().version), payload };
  } catch (error) {
    checker.close();
    if (!(error instanceof ImageError)) throw error;
    return { error, payload };
  }
}

test("update: SHA-256 (FIPS 180-4 'abc') and ECDSA P-256 through PSA Crypto; a malformed signature is false, a malformed key throws", () => {
  const h = new Sha256();
  h.update(new Uint8Array([0x61, 0x62]));
  h.update(new Uint8Array([0x63]));
  assert.equal(toHex(new Uint8Array(h.digest())), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert.throws(() => h.update(new Uint8Array(1)), /closed/);
  const key = new Uint8Array(65);
  key[0] = 4;
  assert.throws(() => verifyP256(new Uint8Array(64), new Uint8Array(32), new Uint8Array(70)), /65 bytes/);
  assert.equal(verifyP256(key, new Uint8Array(32), new Uint8Array([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01])), false, "a DER cut short");
});

test("update: an image signed with openssl's key passes, streamed in any piece size; the payload is handed on whole", async () => {
  const { image, publicKey } = await signed("1.2.3", 5000);
  assert.equal(image.length, HEADER_SIZE + 5000);
  for (const piece of [1, 64, 100, 1024, 6000]) {
    const result = check(image, policy(publicKey), piece);
    assert.equal(result.version, "1.2.3", `${piece}-byte pieces: ${result.error?.message}`);
    assert.equal(result.payload, 5000);
  }
});

test("update: refused with a 4.xx and words for each: tampered payload, tampered header, another key, wrong chip, older version, truncated, longer, too large", async () => {
  const dir = scratchDirectory();
  const { image, publicKey } = await signed("1.2.3", 3000, CHIP_ESP32C3, dir);
  const cases: [string, Uint8Array, Partial<ImagePolicy>, string, RegExp][] = [];
  const payloadFlip = image.slice();
  payloadFlip[HEADER_SIZE + 1500] ^= 1;
  cases.push(["a payload byte flipped", payloadFlip, {}, "4.00", /does not match the signed hash/]);
  const headerFlip = image.slice();
  headerFlip[11] ^= 1; // the version
  cases.push(["the version changed after signing", headerFlip, {}, "4.03", /bad signature/]);
  const other = await signed("1.2.3", 100);
  cases.push(["signed with another key", image, { publicKey: other.publicKey }, "4.03", /bad signature/]);
  const wrongChip = await signed("1.2.3", 100, 9, scratchDirectory());
  cases.push(["for another chip", wrongChip.image, { publicKey: wrongChip.publicKey }, "4.00", /for chip 9, this node is chip 5/]);
  cases.push(["older than the running one", image, { running: parseVersion("1.3.0")! }, "4.00", /1\.2\.3 is older than the running 1\.3\.0/]);
  cases.push(["truncated", image.subarray(0, image.length - 10), {}, "4.00", /truncated: 2990 of 3000/]);
  cases.push(["only part of a header", image.subarray(0, 100), {}, "4.00", /no complete header/]);
  const longer = new Uint8Array(image.length + 1);
  longer.set(image);
  cases.push(["longer than its header says", longer, {}, "4.00", /longer than its header says/]);
  cases.push(["too large for the slot", image, { maxLength: 2000 }, "4.13", /the update slot takes 2000/]);
  const notImage = image.slice();
  notImage[0] = 0x7f;
  cases.push(["not an image", notImage, {}, "4.00", /bad magic/]);
  for (const [what, bytes, rules, code, words] of cases) {
    const result = check(bytes, policy(publicKey, rules));
    assert.ok(result.error, `${what}: accepted`);
    assert.equal(result.error!.code, code, `${what}: ${result.error!.message}`);
    assert.match(result.error!.message, words, what);
  }
  assert.equal(check(image, policy(publicKey, { running: parseVersion("1.3.0")!, allowOlder: true })).version, "1.2.3", "an older image when allowed");
});

test("update: versions read and print as major.minor.patch", () => {
  assert.equal(parseVersion("1.2.3"), 0x010203);
  assert.equal(formatVersion(0x0a0b0c), "10.11.12");
  for (const bad of ["1.2", "1.2.3.4", "a.b.c", "1.256.0", "-1.0.0"]) assert.equal(parseVersion(bad), undefined, bad);
});
