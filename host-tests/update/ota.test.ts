/*
 * The firmware update end to end in the simulator host: the node (main.ts) takes a
 * signed image from libcoap's coap-client-openssl (its own Block1) over CoAPS, from the
 * update identity only; the stand-in OTA module (modules/update/lin) stores it in the
 * data folder; the node restarts (status 75) and boots it; the first boot confirms
 * itself after the self-check, or rolls back. Then 50 uploads killed at seeded random
 * moments: the node always comes back on the old or the new version.
 *
 * A stand-in image's payload is JSON {"app": "secure-coap-node", "settings": {...}}:
 * the settings stand for the mc/config a device image is built with.
 */
import { test, assert, seededRandom, sleep } from "../lib/harness";
import { Child, SIGKILL, SIMULATED_BOARD, deviceStack, run, scratchDirectory, startHost } from "../lib/process";
import { randomPort } from "../lib/net";
import { cwd, makeDirectory, readFile, readFileBuffer, writeFileAtomic } from "host/runtime";
import { makeTestCerts, removeTestCerts } from "../dtls/certs";

const RESTART = 75;
const LIGHT = ["-u", "CoAP", "-k", "esp32c3_key"];
const UPDATER = ["-u", "update", "-k", "update-secret-9"];

async function sh(command: string): Promise<string> {
  const result = await run(["bash", "-c", command], { timeout: 30000 });
  assert.equal(result.status, 0, `${command}\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/** A signing key pair, once per folder: the public key as hex (what the firmware is built with). */
async function signingKey(dir: string): Promise<string> {
  await sh(`test -f ${dir}/update-signing.key.pem || bash ${cwd()}/certs/make-update-key.sh ${dir} >/dev/null`);
  return readFile(`${dir}/update-signing.pub.hex`)!.trim();
}

/** A signed stand-in image: `settings` become the booted node's; padded to about `size` bytes. */
async function image(dir: string, version: string, settings: Record<string, unknown> = {}, size = 20_000, chip = 5): Promise<string> {
  const app = `${dir}/app-${version}-${chip}.json`;
  let padding = "";
  while (padding.length < size) padding += "0123456789abcdef";
  writeFileAtomic(app, JSON.stringify({ app: "secure-coap-node", settings: { firmwareVersion: version, ...settings }, padding }));
  await sh(`bash ${cwd()}/certs/sign-image.sh ${dir}/update-signing.key.pem ${version} ${app} ${app}.img ${chip} >/dev/null`);
  return `${app}.img`;
}

interface Node {
  data: string;
  coapPort: number;
  coapsPort: number;
  config: Record<string, string | number>;
}

function newNode(publicKey: string, extra: Record<string, string | number> = {}): Node {
  const coapPort = randomPort();
  const coapsPort = coapPort + 1;
  return {
    data: scratchDirectory(),
    coapPort,
    coapsPort,
    config: { coapPort, coapsPort, updateIdentity: "update", updateKey: "update-secret-9", updatePublicKey: publicKey, updateRestartDelay: 100, ...extra },
  };
}

function boot(node: Node): Child {
  return startHost("main", { data: node.data, control: true, board: SIMULATED_BOARD, stack: deviceStack(), config: node.config });
}

async function started(node: Node): Promise<Child> {
  const child = boot(node);
  await child.waitFor(/self-check: passed/, 10000);
  return child;
}

/** coap-client-openssl's words and whether it ended well */
async function client(args: string[], node: Node, path = "fw", timeout = 30000): Promise<string> {
  const result = await run(["coap-client-openssl", "-B", "20", ...args, `coaps://127.0.0.1:${node.coapsPort}/${path}`], { timeout });
  return `${result.stdout}${result.stderr}`;
}

async function firmware(node: Node): Promise<{ state: string; running: string; error?: string; pending?: string }> {
  const text = await client(["-m", "get", ...LIGHT], node);
  return JSON.parse(text.slice(text.indexOf("{")));
}

async function kill9(child: Child): Promise<void> {
  child.kill(SIGKILL);
  await child.wait();
}

test("acceptance: coap-client-openssl -m put -f image -b 1024 with the update identity answers 2.04, the node restarts on it; other identities, plain CoAP and bad images are refused and change nothing", async () => {
  const dir = scratchDirectory();
  const publicKey = await signingKey(dir);
  const node = newNode(publicKey);
  const good = await image(dir, "1.0.1", {}, 200_000);
  const tampered = `${good}.tampered`;
  const bytes = new Uint8Array(readFileBuffer(good)!);
  await sh(`cp ${good} ${tampered} && printf '\\x${((bytes[5000] ^ 1) & 255).toString(16).padStart(2, "0")}' | dd of=${tampered} bs=1 seek=5000 conv=notrunc status=none`);
  const wrongChip = await image(dir, "1.0.1", {}, 20_000, 9);
  const truncated = `${good}.truncated`;
  await sh(`head -c 100000 ${good} > ${truncated}`);

  let child = await started(node);
  try {
    /* plain CoAP: 4.01; the light's identity: 4.03 */
    const plain = await run(["coap-client-notls", "-m", "put", "-f", good, "-b", "1024", "-B", "20", `coap://127.0.0.1:${node.coapPort}/fw`], { timeout: 30000 });
    assert.match(plain.stdout + plain.stderr, /4\.01 firmware updates only over CoAPS/);
    assert.match(await client(["-m", "put", "-f", good, "-b", "1024", ...LIGHT], node), /4\.03 PSK identity "CoAP" has no update role/);
    /* bad images from the update identity: each refused with its reason */
    assert.match(await client(["-m", "put", "-f", tampered, "-b", "1024", ...UPDATER], node), /4\.00 .*hash/i);
    assert.match(await client(["-m", "put", "-f", wrongChip, "-b", "1024", ...UPDATER], node), /4\.00 .*chip/i);
    assert.match(await client(["-m", "put", "-f", truncated, "-b", "1024", ...UPDATER], node), /4\.00 .*(truncated|shorter)/i);
    const after = await firmware(node);
    assert.equal(after.running, "1.0.0");
    assert.equal(after.state, "idle");
    assert.equal(readFile(`${node.data}/ota/otadata.json`), undefined, "a refused image switched nothing");
    assert.equal(child.finished, undefined, "no refusal restarted the node");

    /* the update identity with a good image: 2.04, then the restart into it */
    assert.match(await client(["-m", "put", "-f", good, "-b", "1024", ...UPDATER], node), /1\.0\.1 stored, pending restart/);
    assert.equal((await child.wait(10000)).status, RESTART);
    assert.match(child.stdout, /update: image 1\.0\.1 verified and stored/);
    child = await started(node);
    assert.match(child.stdout, /secure-coap-node 1\.0\.1: booting from ota_0 \(an update's first boot/);
    assert.match(child.stdout, /self-check: passed; this update is confirmed/);
    const now = await firmware(node);
    assert.equal(now.running, "1.0.1");
    assert.equal(now.state, "idle");
    /* an older image is refused now */
    const older = await image(dir, "1.0.0");
    assert.match(await client(["-m", "put", "-f", older, "-b", "1024", ...UPDATER], node), /4\.00 .*older/i);
  } finally {
    await kill9(child);
  }
}, { timeout: 120000 });

test("certificate mode: the subjects in updateSubjects may update (CN=coap-client: 2.04), another subject's certificate gets 4.03", async () => {
  const dir = scratchDirectory();
  const publicKey = await signingKey(dir);
  const certs = await makeTestCerts();
  const file = await image(dir, "1.0.1");
  try {
    for (const subjects of ["CN=coap-client", "CN=updater"]) {
      const node = newNode(publicKey, { dtlsCertificate: "server.der", dtlsKey: "server-key.der", dtlsCa: "ca.der", updateSubjects: subjects });
      makeDirectory(`${node.data}/resources`);
      await sh(`cp ${certs.dir}/server.der ${certs.dir}/server-key.der ${certs.dir}/ca.der ${node.data}/resources/`);
      const child = await started(node);
      try {
        const answer = await client(["-m", "put", "-f", file, "-b", "1024", "-c", certs.crt("client"), "-j", certs.key("client"), "-R", certs.crt("ca")], node);
        if (subjects === "CN=coap-client") assert.match(answer, /1\.0\.1 stored, pending restart/);
        else assert.match(answer, /4\.03 certificate "CN=coap-client" has no update role/);
      } finally {
        await kill9(child);
      }
    }
  } finally {
    await removeTestCerts(certs);
  }
}, { timeout: 60000 });

test("rollback: an update that cannot start rolls back to the image before it on the next boot; GET /fw says rolled-back", async () => {
  const dir = scratchDirectory();
  const publicKey = await signingKey(dir);
  const node = newNode(publicKey);
  let child = await started(node);
  assert.match(await client(["-m", "put", "-f", await image(dir, "1.0.1"), "-b", "1024", ...UPDATER], node), /1\.0\.1 stored/);
  assert.equal((await child.wait(10000)).status, RESTART);
  child = await started(node);
  /* 1.0.2 is built with both endpoints on one port: its start throws */
  assert.match(await client(["-m", "put", "-f", await image(dir, "1.0.2", { coapsPort: node.coapPort }), "-b", "1024", ...UPDATER], node), /1\.0\.2 stored/);
  assert.equal((await child.wait(10000)).status, RESTART);
  child = boot(node);
  const failed = await child.wait(10000);
  assert.equal(failed.status, RESTART, `the failed update restarts at once:\n${failed.stdout}`);
  assert.match(failed.stdout, /secure-coap-node 1\.0\.2: booting from ota_1 \(an update's first boot/);
  assert.match(failed.stdout, /the update in ota_1 failed to start .*rolling back to the previous image/);
  child = await started(node);
  try {
    assert.match(child.stdout, /secure-coap-node 1\.0\.1: booting from ota_0 \(the last update rolled back\)/);
    const state = await firmware(node);
    assert.equal(state.running, "1.0.1");
    assert.equal(state.state, "rolled-back");
  } finally {
    await kill9(child);
  }
  /* a reset before the first boot confirmed itself (the boot left pending-verify) rolls back too */
  writeFileAtomic(`${node.data}/ota/otadata.json`, JSON.stringify({ boot: "ota_1", state: "pending-verify", previous: "ota_0" }));
  child = await started(node);
  try {
    assert.match(child.stdout, /secure-coap-node 1\.0\.1: booting from ota_0 \(the last update rolled back\)/);
    assert.equal(JSON.parse(readFile(`${node.data}/ota/otadata.json`)!).boot, "ota_0");
  } finally {
    await kill9(child);
  }
}, { timeout: 90000 });

test("50 uploads, each killed (kill -9) at a seeded random moment of the upload, the restart or the first boot: the node always comes back on the old or the new version", async () => {
  const seed = (Date.now() >>> 0) % 100000;
  const random = seededRandom(seed);
  const dir = scratchDirectory();
  const publicKey = await signingKey(dir);
  const node = newNode(publicKey, { updateRestartDelay: 20 });
  let running = "1.0.0";
  const outcomes = { old: 0, new: 0 };
  for (let round = 1; round <= 50; round++) {
    const version = `1.${round}.0`;
    const file = await image(dir, version, {}, 60_000);
    let child = await started(node);
    const upload = run(["coap-client-openssl", "-B", "5", "-m", "put", "-f", file, "-b", "1024", ...UPDATER, `coaps://127.0.0.1:${node.coapsPort}/fw`], { timeout: 20000 });
    /* the upload takes about 100 ms here, the restart 20 ms after it: kill anywhere in 0..300 ms, or in the next boot */
    const moment = random() * 120;
    await sleep(moment);
    if (child.finished?.status === RESTART) {
      child = boot(node); // the restart happened: kill during the next boot instead
      await sleep(random() * 60);
    }
    await kill9(child);
    await upload;
    child = await started(node);
    try {
      const now = (await firmware(node)).running;
      assert.ok(now === running || now === version, `seed ${seed}, round ${round}: came back on ${now}, expected ${running} or ${version}`);
      if (now === version) outcomes.new++;
      else outcomes.old++;
      running = now;
    } finally {
      await kill9(child);
    }
  }
  trace(`seed ${seed}: ${outcomes.old} rounds came back on the old version, ${outcomes.new} on the new\n`);
  assert.ok(outcomes.old > 0 && outcomes.new > 0, `seed ${seed}: the kills should hit before and after the switch (${JSON.stringify(outcomes)})`);
}, { timeout: 400000 });
