/*
 * manifest.json as mcconfig reads it: checked by host-tests/manifest.mjs (node, no SDK),
 * which these cases run as a child process and judge by its output and status.
 */
import { test, assert } from "./lib/harness";
import { run } from "./lib/process";
import { makeDirectory, readFile, temporaryDirectory, writeFileAtomic } from "host/runtime";

const SCRIPT = "host-tests/manifest.mjs";

function readFileString(path: string): string {
  const text = readFile(path);
  if (text === undefined) throw new Error(`${path} not found`);
  return text;
}

async function node(args: string[]) {
  return run(["node", SCRIPT, ...args], { timeout: 20000 });
}

test("manifest.json passes the manifest check (module paths, twins, platforms, config, sdkconfig)", async () => {
  const result = await node(["--check"]);
  assert.equal(result.status, 0, `node ${SCRIPT} --check found problems:\n${result.stdout}${result.stderr}`);
  assert.match(result.stdout, /^manifest: OK/m);
});

/* the host type-checks the lin module map (tsconfig.json); the device maps some specifiers to other files */
test("the firmware type-checks with the esp32 module map too (tsconfig.esp32.json: light/output, light/neopixel, sensors/bus)", async () => {
  const result = await run(["node", "node_modules/typescript/bin/tsc", "-p", "tsconfig.esp32.json"], { timeout: 120000 });
  assert.equal(result.status, 0, `tsc -p tsconfig.esp32.json:\n${result.stdout}${result.stderr}`);
}, { timeout: 130000 });

test("the check reports what mcconfig would only warn about or silently ignore", async () => {
  const root = temporaryDirectory();
  for (const folder of ["modules", "modules/a", "sdkconfig"]) makeDirectory(`${root}/${folder}`);
  for (const file of ["main.ts", "modules/a/x.ts", "modules/a/x.js", "modules/a/y.ts"]) writeFileAtomic(`${root}/${file}`, "");
  writeFileAtomic(`${root}/sdkconfig/sdkconfig.defaults`, "# CONFIG_MBEDTLS_SSL_PROTO_DTLS is not set\n");
  writeFileAtomic(`${root}/manifest.json`, JSON.stringify({
    config: { lightKind: "neopixel", lightPin: 8, lightActiveLow: false, onewirePin: 8, pskIdentity: "CoAP", pskKey: "k", coapPort: 5683, coapsPort: 5684 },
    modules: { "*": ["./main", "./mian"], "a/*": "./modules/a/*" },
    platforms: {
      esp32: { build: { SDKCONFIGPATH: "./sdkconfig", C_FLAGS: "-O2" }, dependency: [{ idf: "mbedtls" }] },
    },
  }));
  const result = await node(["--check", "--root", root]);
  assert.equal(result.status, 1, result.stdout + result.stderr);
  const expected = [
    /platforms\["lin"\] is missing/,
    /platforms\["\.\.\."\] must have an "error"/,
    /"\.\/mian" matches no file/,
    /module "a\/x" has twins modules\/a\/x\.js and modules\/a\/x\.ts/,
    /C_FLAGS replaces every compiler flag/,
    /"# CONFIG_MBEDTLS_SSL_PROTO_DTLS is not set" changes nothing/,
    /must set CONFIG_MBEDTLS_PSK_MODES=y/,
    /config\.led\.rainbow must be false/,
    /onewirePin and lightPin are both GPIO 8/,
  ];
  for (const pattern of expected) assert.match(result.stdout, pattern);
  assert.ok(!/"k"/.test(result.stdout), "a problem message printed the PSK key");
});

test("configFor: the device drives the on-board NeoPixel with the rainbow off, the simulator a digital pin", async () => {
  const device = await node(["--config", "esp32/esp32c3"]);
  assert.equal(device.status, 0, device.stderr);
  const esp32 = JSON.parse(device.stdout) as Record<string, unknown>;
  assert.deepEqual(
    { kind: esp32.lightKind, pin: esp32.lightPin, led: esp32.led },
    { kind: "neopixel", pin: 8, led: { rainbow: false } },
  );
  const simulator = await node(["--config", "lin"]);
  assert.equal(simulator.status, 0, simulator.stderr);
  const lin = JSON.parse(simulator.stdout) as Record<string, unknown>;
  assert.equal(lin.lightKind, "digital");
  for (const config of [esp32, lin]) {
    assert.deepEqual(
      [config.pskIdentity, config.pskKey, config.coapPort, config.coapsPort],
      ["CoAP", "esp32c3_key", 5683, 5684],
    );
  }
});

test("configFor: key=value arguments replace top-level keys with strings, as on mcconfig's command line", async () => {
  const result = await node(["--config", "lin", "lightPin=5", "pskKey=a=b"]);
  assert.equal(result.status, 0, result.stderr);
  const config = JSON.parse(result.stdout) as Record<string, unknown>;
  assert.equal(config.lightPin, "5");
  assert.equal(config.pskKey, "a=b");
  assert.equal(config.coapPort, 5683);
});

test("the qemu board (COAP_BOARD=qemu): Ethernet set-up, a plain GPIO light, the memory log, the emulator's sdkconfig", async () => {
  const result = await node(["--config", "esp32/esp32c3", "--board", "qemu"]);
  assert.equal(result.status, 0, result.stderr);
  const qemu = JSON.parse(result.stdout) as Record<string, unknown>;
  assert.deepEqual(
    { kind: qemu.lightKind, led: qemu.led, memoryLogPeriod: qemu.memoryLogPeriod, identity: qemu.pskIdentity },
    { kind: "digital", led: { rainbow: false }, memoryLogPeriod: 1000, identity: "CoAP" },
  );
  const board = JSON.parse(readFileString("sdkconfig/qemu/manifest.json")) as {
    build: Record<string, string>;
    include: string[];
    modules: Record<string, unknown>;
    preload: string[];
  };
  assert.equal(board.build.SDKCONFIGPATH, "./", "the board's own sdkconfig folder");
  assert.ok(!board.include.some((path) => /manifest_net|modules\/io\/manifest|neopixel/.test(path)), `Wi-Fi and NeoPixel stay out: ${board.include}`);
  assert.ok(board.include.includes("../../modules/network/manifest.json"), `the board includes modules/network: ${board.include}`);
  const preloads = await node(["--preloads", "esp32/esp32c3", "--board", "qemu"]);
  const qemuPreloads = JSON.parse(preloads.stdout) as string[];
  for (const name of ["setup/ethernet", "network/openeth", "embedded:io/socket/udp", "diagnostics/memory", "setup/memorylog"]) assert.ok(qemuPreloads.includes(name), `${name} preloaded: ${qemuPreloads}`);
  const devkitPreloads = JSON.parse((await node(["--preloads", "esp32/esp32c3", "--board", "devkitm-1"])).stdout) as string[];
  assert.ok(!devkitPreloads.includes("setup/ethernet") && devkitPreloads.includes("light/neopixel"), `the device board: ${devkitPreloads}`);
  const linPreloads = JSON.parse((await node(["--preloads", "lin"])).stdout) as string[];
  assert.ok(linPreloads.includes("embedded:io/digital") && !linPreloads.includes("diagnostics/memory"), `lin: ${linPreloads}`);
  /* release builds read sdkconfig.defaults (the device's own, through a link) and then sdkconfig.defaults.release */
  const device = readFileString("sdkconfig/sdkconfig.defaults");
  assert.equal(readFileString("sdkconfig/qemu/sdkconfig.defaults"), device);
  const release = readFileString("sdkconfig/qemu/sdkconfig.defaults.release");
  for (const line of ["CONFIG_ETH_USE_OPENETH=y", "CONFIG_APP_NO_BLOBS=y", "CONFIG_ESP_CONSOLE_UART_DEFAULT=y"]) assert.match(release, new RegExp(`^${line}$`, "m"));
  /* the device itself never gets the emulator's Ethernet */
  const devkit = await node(["--config", "esp32/esp32c3", "--board", "devkitm-1"]);
  assert.equal((JSON.parse(devkit.stdout) as Record<string, unknown>).lightKind, "neopixel");
  assert.ok(!/openeth|setup\/ethernet/.test(readFileString("sdkconfig/devkitm-1/manifest.json")), "the device board has no emulator Ethernet");
});

test("npm run emulate without the SDK, ESP-IDF or QEMU says what is missing and exits 2", async () => {
  const result = await run(["env", "-i", "PATH=/usr/bin:/bin", "HOME=/tmp", "node", "host-tests/emulator/emulate.mjs"], { timeout: 30000 });
  assert.equal(result.status, 2, result.stdout + result.stderr);
  for (const what of [/MISSING Moddable SDK \(MODDABLE\)/, /MISSING ESP-IDF v6\.0 \(IDF_PATH\)/, /MISSING qemu-system-riscv32 with -machine esp32c3/, /cannot run: \d+ tools missing/])
    assert.match(result.stdout, what);
});

test("npm run emulate tells a QEMU built with the level-interrupt patch from one without it, and says when it cannot tell", async () => {
  const folder = temporaryDirectory();
  const binaries: Record<string, string> = {
    present: "\x7fELF ... esp32c3_intmatrix_realize ... esp32c3_intmatrix_recheck ...",
    absent: "\x7fELF ... esp32c3_intmatrix_realize ... esp32c3_intmatrix_write ...",
    unknown: "\x7fELF ... (stripped) ...",
  };
  for (const [name, text] of Object.entries(binaries)) writeFileAtomic(`${folder}/${name}`, text);
  const script = `import("./host-tests/emulator/emulate.mjs").then((m) => console.log(["present", "absent", "unknown", "missing"].map((name) => m.qemuLevelFix("${folder}/" + name)).join(" ")))`;
  const result = await run(["node", "-e", script], { timeout: 30000 });
  assert.equal(result.stdout.trim(), "present absent unknown unknown", result.stderr);
});
