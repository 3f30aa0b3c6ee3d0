/* The ESP32-C3 1-Wire bus (device only) compiles: host gcc with -Werror, then rv32imc with the RISC-V cross compiler. */
import { test, assert } from "../lib/harness";
import { run } from "../lib/process";

const hasCross = async () => (await run(["sh", "-c", "command -v riscv64-unknown-elf-gcc"])).status === 0;

test("modules/sensors/esp32/bus.c compiles for the host's syntax check and for rv32imc", async () => {
  const result = await run(["sh", "host-tests/sensors/esp32-check/check.sh"], { timeout: 60000 });
  assert.equal(result.status, 0, result.stdout + result.stderr);
  assert.match(result.stdout, /gcc -fsyntax-only: ok/);
  if (await hasCross()) assert.match(result.stdout, /rv32imc -mabi=ilp32 -c: ok/);
  else assert.fail("riscv64-unknown-elf-gcc is missing: it is in host-tests/debian-packages.txt");
}, { timeout: 60000 });
