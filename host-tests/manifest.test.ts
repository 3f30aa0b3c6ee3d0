/*
 * manifest.json as mcconfig reads it: checked by host-tests/manifest.mjs (node, no SDK),
 * which these cases run as a child process and judge by its output and status.
 */
import { test, assert } from "./lib/harness";
import { run } from "./lib/process";
import { makeDirectory, temporaryDirectory, writeFileAtomic } from "host/runtime";

const SCRIPT = "host-tests/manifest.mjs";

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
