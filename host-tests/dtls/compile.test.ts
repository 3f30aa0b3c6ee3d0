/*
 * The binding's C file compiles cleanly for every place it goes: the host's gcc
 * against Debian's Mbed TLS 2.28 headers with -Wall -Wextra -Werror, and the
 * ESP32-C3 CPU (rv32imc, ilp32) with Debian's riscv64-unknown-elf-gcc and picolibc,
 * compile only, against a minimal configuration of our own (rv32/mbedtls-config.h,
 * PSK only and with certificates) and, when DTLS_PSK_MBEDTLS4 names an Mbed TLS 4.x tree (include/ and
 * tf-psa-crypto/), against the 4.x headers the device uses, and when DTLS_PSK_MBEDTLS3
 * names an Mbed TLS 3.6 tree (include/), against 3.x (the RNG-taking key calls).
 * A missing tool or tree is a SKIP.
 */
import { cwd, env, readdir, temporaryDirectory } from "host/runtime";
import { test, assert } from "../lib/harness";
import { run } from "../lib/process";

const root = cwd();
const source = `${root}/modules/dtls-psk/binding.c`;
/* ESP-IDF's GCC makes these errors; GCC 12 only warns */
const STRICT = ["-Wall", "-Wextra", "-Werror", "-Werror=implicit-function-declaration", "-Werror=incompatible-pointer-types", "-Werror=int-conversion"];

function xsIncludes(): string {
  const cache = `${root}/.cache`;
  const engine = readdir(cache).find((e) => e.directory && e.name.startsWith("xsnap-"));
  if (!engine) throw new Error("no XS engine sources under .cache (npm test sets them up)");
  return `${cache}/${engine.name}/moddable/xs/includes`;
}

async function available(command: string): Promise<boolean> {
  return (await run(["sh", "-c", `command -v ${command}`])).status === 0;
}

function sh(script: string) {
  return run(["sh", "-c", script], { timeout: 30000 });
}

async function compile(argv: string[]): Promise<void> {
  const result = await run(argv, { timeout: 30000 });
  assert.equal(result.status, 0, `${argv.join(" ")}\n${result.stdout}${result.stderr}`);
  assert.equal(result.stderr.trim(), "", "no warnings");
}

const hostGcc = await available("gcc");
const rv32Gcc = (await available("riscv64-unknown-elf-gcc")) && (await sh("riscv64-unknown-elf-gcc --specs=picolibc.specs -print-file-name=picolibc.specs")).status === 0 &&
  (await sh("echo '#include <string.h>' | riscv64-unknown-elf-gcc --specs=picolibc.specs -march=rv32imc -mabi=ilp32 -fsyntax-only -x c -")).status === 0;
const mbedtls4 = env("DTLS_PSK_MBEDTLS4");
const mbedtls3 = env("DTLS_PSK_MBEDTLS3");

test("binding.c: gcc -Wall -Wextra -Werror -fsyntax-only against Debian's Mbed TLS 2.28", async () => {
  await compile(["gcc", ...STRICT, "-fsyntax-only", "-I", xsIncludes(), source]);
}, { skip: !hostGcc && "gcc is not installed" });

test("binding.c: gcc -O2 -Wall -Wextra -Werror object build (the warnings optimization finds)", async () => {
  await compile(["gcc", ...STRICT, "-O2", "-c", "-o", "/dev/null", "-I", xsIncludes(), source]);
}, { skip: !hostGcc && "gcc is not installed" });

/* the cross compiler must not see /usr/include (glibc): only Mbed TLS's folders, through links */
async function mbedtlsOnly(): Promise<string> {
  const dir = `${temporaryDirectory()}/rv32-include`;
  const made = await sh(`mkdir -p ${dir} && ln -sfn /usr/include/mbedtls ${dir}/mbedtls && ln -sfn /usr/include/psa ${dir}/psa`);
  assert.equal(made.status, 0, made.stderr);
  return dir;
}

for (const [what, defines] of [
  ["PSK only", []],
  ["PSK and certificates (ECDHE-ECDSA, X.509)", ["-DDTLS_RV32_CERTIFICATES"]],
] as const) {
  test(`binding.c: rv32imc (ESP32-C3) compile-only against Mbed TLS 2.28 headers and a minimal config: ${what}`, async () => {
    const object = `${temporaryDirectory()}/binding-rv32.o`;
    await compile(["riscv64-unknown-elf-gcc", "--specs=picolibc.specs", "-march=rv32imc", "-mabi=ilp32", "-Os", ...STRICT,
      "-DESP_PLATFORM", ...defines, "-DMBEDTLS_CONFIG_FILE=\"mbedtls-config.h\"", "-I", `${root}/host-tests/dtls/rv32`, "-I", await mbedtlsOnly(),
      "-I", xsIncludes(), "-c", "-o", object, source]);
    const header = await run(["riscv64-unknown-elf-readelf", "-h", object]);
    assert.match(header.stdout, /ELF32/);
    assert.match(header.stdout, /RISC-V/);
    const symbols = await run(["riscv64-unknown-elf-nm", "-u", object]);
    assert.equal(symbols.stdout.includes("mbedtls_x509_crt_parse"), defines.length > 0, "certificate code compiled in exactly when X.509 is configured");
    const size = await run(["riscv64-unknown-elf-size", object]);
    trace(`  ${size.stdout.trim().split("\n").pop()}\n`);
    await run(["rm", "-f", object]);
  }, { skip: !rv32Gcc && "riscv64-unknown-elf-gcc with picolibc is not installed (Debian: gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf)" });
}

test("binding.c: rv32imc compile-only against Mbed TLS 4.x + TF-PSA-Crypto headers (DTLS_PSK_MBEDTLS4)", async () => {
  const tree = mbedtls4!;
  const object = `${temporaryDirectory()}/binding-rv32-mbedtls4.o`;
  for (const memory of [[], ["-DMBEDTLS_PLATFORM_MEMORY"]]) {
    await compile(["riscv64-unknown-elf-gcc", "--specs=picolibc.specs", "-march=rv32imc", "-mabi=ilp32", "-Os", ...STRICT,
      "-DESP_PLATFORM", ...memory, "-I", `${tree}/include`, "-I", `${tree}/tf-psa-crypto/include`, "-I", `${tree}/tf-psa-crypto/drivers/builtin/include`,
      "-I", xsIncludes(), "-c", "-o", object, source]);
    const symbols = await run(["riscv64-unknown-elf-nm", "-u", object]);
    for (const name of ["psa_crypto_init", "mbedtls_pk_parse_key", "mbedtls_x509_crt_parse", "mbedtls_ssl_conf_own_cert"])
      assert.ok(symbols.stdout.includes(name), `${name} referenced (PSA init, certificate mode)`);
    const size = await run(["riscv64-unknown-elf-size", object]);
    trace(`  ${memory.length ? "MBEDTLS_PLATFORM_MEMORY" : "default allocator"}: ${size.stdout.trim().split("\n").pop()}\n`);
  }
  await run(["rm", "-f", object]);
}, { skip: (!rv32Gcc && "riscv64-unknown-elf-gcc with picolibc is not installed") || (!mbedtls4 && "DTLS_PSK_MBEDTLS4 is not set (a folder with Mbed TLS 4.x include/ and tf-psa-crypto/)") });

/* 3.x is the one major where mbedtls_pk_parse_key / mbedtls_pk_check_pair take an RNG: compile that branch too */
test("binding.c: rv32imc compile-only against Mbed TLS 3.6 headers, default config (DTLS_PSK_MBEDTLS3)", async () => {
  const object = `${temporaryDirectory()}/binding-rv32-mbedtls3.o`;
  await compile(["riscv64-unknown-elf-gcc", "--specs=picolibc.specs", "-march=rv32imc", "-mabi=ilp32", "-Os", ...STRICT,
    "-DESP_PLATFORM", "-I", `${mbedtls3}/include`, "-I", xsIncludes(), "-c", "-o", object, source]);
  const symbols = await run(["riscv64-unknown-elf-nm", "-u", object]);
  assert.ok(symbols.stdout.includes("mbedtls_ctr_drbg_random") && symbols.stdout.includes("mbedtls_pk_parse_key"), "the 3.x branch: DRBG and key parsing");
  await run(["rm", "-f", object]);
}, { skip: (!rv32Gcc && "riscv64-unknown-elf-gcc with picolibc is not installed") || (!mbedtls3 && "DTLS_PSK_MBEDTLS3 is not set (a folder with Mbed TLS 3.6 include/)") });
