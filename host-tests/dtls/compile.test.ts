/*
 * The binding's C files (modules/dtls-psk/*.c, sharing dtls.h) compile cleanly for
 * every place they go, and replace no allocator anywhere (heap figures are the
 * simulator host's business, host/meter). Every build below compiles each file on its
 * own, as mcconfig and the simulator host do, checks each object, and joins the objects
 * with a relocatable link (-r) to check what the binding as a whole needs from outside:
 * - the host's gcc against Debian's Mbed TLS 2.28 headers with -Wall -Wextra -Werror;
 * - the ESP32-C3 CPU (rv32imc, ilp32) with Debian's riscv64-unknown-elf-gcc and
 *   picolibc, compile only, against 2.28 headers and a minimal configuration of our
 *   own (rv32/mbedtls-config.h, PSK only and with certificates);
 * - when DTLS_PSK_MBEDTLS4 names an Mbed TLS 4.x tree (include/, tf-psa-crypto/):
 *   against the 4.x headers with the project's 4.0 configuration (mbed4/: the
 *   MBEDTLS_CONFIG_FILE + TF_PSA_CRYPTO_CONFIG_FILE pair, checked by the library's
 *   own configuration units), PSK only and with certificates;
 * - when IDF_PATH names ESP-IDF v6 and DTLS_PSK_SDKCONFIG_DIR a folder with the
 *   sdkconfig.h of a build of this firmware: device mode, as Moddable's esp32 build
 *   compiles app C (ESP_PLATFORM, ESP-IDF's mbedtls/esp_config.h);
 * - when DTLS_PSK_MBEDTLS3 names an Mbed TLS 3.6 tree (include/): against 3.x (the
 *   RNG-taking key calls).
 * A missing tool or tree is a SKIP with its reason.
 */
import { cwd, env, readdir, readFile, temporaryDirectory } from "host/runtime";
import { test, assert } from "../lib/harness";
import { available, run } from "../lib/process";

const root = cwd();
const folder = `${root}/modules/dtls-psk`;
/* the binding's C files, every one compiled by every test below */
const sources = readdir(folder).filter((entry) => !entry.directory && entry.name.endsWith(".c")).map((entry) => `${folder}/${entry.name}`).sort();
const baseName = (path: string) => path.slice(path.lastIndexOf("/") + 1, -".c".length);
/* ESP-IDF's GCC makes these errors; GCC 12 only warns */
const STRICT = ["-Wall", "-Wextra", "-Werror", "-Werror=implicit-function-declaration", "-Werror=incompatible-pointer-types", "-Werror=int-conversion"];
const RV32 = ["riscv64-unknown-elf-gcc", "--specs=picolibc.specs", "-march=rv32imc", "-mabi=ilp32", "-Os", ...STRICT];
/* the relocatable link of the rv32 objects */
const RV32_LINK = ["riscv64-unknown-elf-gcc", "-march=rv32imc", "-mabi=ilp32"];

function xsIncludes(): string {
  const cache = `${root}/.cache`;
  const engine = readdir(cache).find((e) => e.directory && e.name.startsWith("xsnap-"));
  if (!engine) throw new Error("no XS engine sources under .cache (npm test sets them up)");
  return `${cache}/${engine.name}/moddable/xs/includes`;
}

function sh(script: string) {
  return run(["sh", "-c", script], { timeout: 30000 });
}

async function compile(argv: string[]): Promise<void> {
  const result = await run(argv, { timeout: 60000 });
  assert.equal(result.status, 0, `${argv.join(" ")}\n${result.stdout}${result.stderr}`);
  assert.equal(result.stderr.trim(), "", "no warnings");
}

/*
 * What the device build must never do: define the C library's allocator functions
 * (interposing every caller's calloc/free, Wi-Fi's crypto included) or swap Mbed TLS's
 * allocator for everyone (mbedtls_platform_set_calloc_free).
 */
async function replacesNoAllocator(nm: string, object: string): Promise<void> {
  const defined = await run([nm, "--defined-only", object]);
  assert.equal(defined.status, 0, defined.stderr);
  const own = defined.stdout.split("\n").map((line) => line.trim().split(/\s+/).pop()).filter((name) => /^(calloc|malloc|realloc|free)$/.test(name ?? ""));
  assert.deepEqual(own, [], `${object} defines allocator functions`);
  const undefinedSymbols = await run([nm, "-u", object]);
  assert.ok(!undefinedSymbols.stdout.includes("mbedtls_platform_set_calloc_free"), `${object} swaps Mbed TLS's allocator`);
}

/*
 * Compiles each of the binding's C files to its own object with `argv` (the compiler
 * and its flags): each without an error or a warning, each replacing no allocator.
 * Then links them into one relocatable object with `link` (the same driver with -r):
 * no name twice, and none that the files share (dtls..., gDtls...) left undefined.
 * Returns that object: what the binding needs from outside is its `nm -u`.
 */
async function compileBinding(argv: string[], nm: string, link: string[], tag: string): Promise<string> {
  assert.ok(sources.length > 1 && sources.some((path) => path.endsWith("/versions.c")), `the binding's C files: ${sources.join(" ")}`);
  const objects: string[] = [];
  for (const source of sources) {
    const object = `${temporaryDirectory()}/${tag}-${baseName(source)}.o`;
    await compile([...argv, "-c", "-o", object, source]);
    await replacesNoAllocator(nm, object);
    objects.push(object);
  }
  const combined = `${temporaryDirectory()}/${tag}.o`;
  await compile([...link, "-r", "-nostdlib", "-o", combined, ...objects]);
  const undefinedSymbols = await run([nm, "-u", combined]);
  const internal = undefinedSymbols.stdout.split("\n").map((line) => line.trim().split(/\s+/).pop() ?? "").filter((name) => /^(dtls[A-Z]|gDtls)/.test(name));
  assert.deepEqual(internal, [], "every name the binding's files share is defined in one of them");
  await replacesNoAllocator(nm, combined);
  return combined;
}

const hostGcc = await available("gcc");
const rv32Gcc = (await available("riscv64-unknown-elf-gcc")) && (await sh("riscv64-unknown-elf-gcc --specs=picolibc.specs -print-file-name=picolibc.specs")).status === 0 &&
  (await sh("echo '#include <string.h>' | riscv64-unknown-elf-gcc --specs=picolibc.specs -march=rv32imc -mabi=ilp32 -fsyntax-only -x c -")).status === 0;
const mbedtls4 = env("DTLS_PSK_MBEDTLS4");
const mbedtls3 = env("DTLS_PSK_MBEDTLS3");

test("binding (every .c): gcc -Wall -Wextra -Werror -fsyntax-only against Debian's Mbed TLS 2.28", async () => {
  for (const source of sources)
    await compile(["gcc", ...STRICT, "-fsyntax-only", "-I", xsIncludes(), source]);
}, { skip: !hostGcc && "gcc is not installed" });

test("binding (every .c): gcc -O2 -Wall -Wextra -Werror object builds (the warnings optimization finds), linked with -r; no allocator replaced", async () => {
  const combined = await compileBinding(["gcc", ...STRICT, "-O2", "-I", xsIncludes()], "nm", ["gcc"], "binding-host");
  const symbols = await run(["nm", "-u", combined]);
  assert.ok(symbols.stdout.includes("mbedtls_ctr_drbg_random") && !symbols.stdout.includes("psa_crypto_init"), "the 2.28 branch: a DRBG of our own, no PSA init");
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
  test(`binding (every .c): rv32imc (ESP32-C3) compile-only against Mbed TLS 2.28 headers and a minimal config (MBEDTLS_PLATFORM_MEMORY, as ESP-IDF): ${what}; no allocator replaced`, async () => {
    const object = await compileBinding([...RV32, "-DESP_PLATFORM", ...defines, "-DMBEDTLS_CONFIG_FILE=\"mbedtls-config.h\"", "-I", `${root}/host-tests/dtls/rv32`, "-I", await mbedtlsOnly(),
      "-I", xsIncludes()], "riscv64-unknown-elf-nm", RV32_LINK, `binding-rv32-${defines.length ? "certificates" : "psk"}`);
    const header = await run(["riscv64-unknown-elf-readelf", "-h", object]);
    assert.match(header.stdout, /ELF32/);
    assert.match(header.stdout, /RISC-V/);
    const symbols = await run(["riscv64-unknown-elf-nm", "-u", object]);
    assert.equal(symbols.stdout.includes("mbedtls_x509_crt_parse"), defines.length > 0, "certificate code compiled in exactly when X.509 is configured");
    const size = await run(["riscv64-unknown-elf-size", object]);
    trace(`  ${size.stdout.trim().split("\n").pop()}\n`);
  }, { skip: !rv32Gcc && "riscv64-unknown-elf-gcc with picolibc is not installed (Debian: gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf)" });
}

const MBED4_CONFIG = [`-I${root}/host-tests/dtls/mbed4`, "-DMBEDTLS_CONFIG_FILE=\"mbedtls-config.h\"", "-DTF_PSA_CRYPTO_CONFIG_FILE=\"crypto-config.h\""];
const mbed4Includes = (tree: string): string[] => ["-I", `${tree}/include`, "-I", `${tree}/tf-psa-crypto/include`, "-I", `${tree}/tf-psa-crypto/drivers/builtin/include`];
const mbed4Skip = (!rv32Gcc && "riscv64-unknown-elf-gcc with picolibc is not installed") || (!mbedtls4 && "DTLS_PSK_MBEDTLS4 is not set (a folder with Mbed TLS 4.x include/ and tf-psa-crypto/, e.g. ../shared/tools/mbed4's layout)");

test("the project's Mbed TLS 4.0 configuration (host-tests/dtls/mbed4) passes the library's own checks (DTLS_PSK_MBEDTLS4)", async () => {
  const tree = mbedtls4!;
  const units = ["library/mbedtls_config.c", "tf-psa-crypto/core/tf_psa_crypto_config.c", "library/ssl_cookie.c"];
  const internal = ["-I", `${tree}/library`, "-I", `${tree}/tf-psa-crypto/core`, "-I", `${tree}/tf-psa-crypto/drivers/builtin/src`];
  for (const variant of [[], ["-DDTLS_MBED4_PSK_ONLY"]]) {
    for (const unit of units) {
      await compile([...RV32, ...MBED4_CONFIG, ...variant, ...mbed4Includes(tree), ...internal, "-c", "-o", `${temporaryDirectory()}/unit.o`, `${tree}/${unit}`]);
    }
  }
}, { skip: mbed4Skip });

for (const [what, variant, certificates] of [
  ["PSK only", ["-DDTLS_MBED4_PSK_ONLY"], false],
  ["PSK and certificates", [], true],
] as const) {
  test(`binding (every .c): rv32imc compile-only against Mbed TLS 4.x + TF-PSA-Crypto with the project's 4.0 configuration: ${what}; no allocator replaced (DTLS_PSK_MBEDTLS4)`, async () => {
    /* ESP_PLATFORM as a Moddable esp32 build defines it; the configuration named here takes precedence over esp_config.h */
    const object = await compileBinding([...RV32, "-DESP_PLATFORM", ...MBED4_CONFIG, ...variant, ...mbed4Includes(mbedtls4!), "-I", xsIncludes()],
      "riscv64-unknown-elf-nm", RV32_LINK, `binding-rv32-mbedtls4-${certificates ? "certificates" : "psk"}`);
    const symbols = await run(["riscv64-unknown-elf-nm", "-u", object]);
    assert.ok(symbols.stdout.includes("psa_crypto_init"), "the 4.x branch: PSA init");
    assert.ok(!symbols.stdout.includes("mbedtls_ctr_drbg"), "no DRBG of our own on 4.x");
    for (const name of ["mbedtls_pk_parse_key", "mbedtls_x509_crt_parse", "mbedtls_ssl_conf_own_cert"])
      assert.equal(symbols.stdout.includes(name), certificates, `${name} referenced exactly in certificate mode`);
    const size = await run(["riscv64-unknown-elf-size", object]);
    trace(`  ${size.stdout.trim().split("\n").pop()}\n`);
  }, { skip: mbed4Skip });
}

/* device mode: what mcconfig -p esp32/esp32c3 compiles, ESP-IDF's own configuration through mbedtls/esp_config.h */
const idf = env("IDF_PATH");
const sdkconfigDir = env("DTLS_PSK_SDKCONFIG_DIR");
test("binding (every .c, and update/verify.c): rv32imc compile-only in device mode, ESP-IDF's mbedtls/esp_config.h and this firmware's sdkconfig.h; no allocator replaced (IDF_PATH, DTLS_PSK_SDKCONFIG_DIR)", async () => {
  const components = `${idf}/components`;
  const includes = [`${components}/mbedtls/port/include`, `${components}/mbedtls/port/psa_driver/include`,
    `${components}/mbedtls/mbedtls/tf-psa-crypto/include`, `${components}/mbedtls/mbedtls/tf-psa-crypto/drivers/builtin/include`,
    `${components}/mbedtls/mbedtls/include`, `${components}/soc/esp32c3/include`, `${components}/soc/include`,
    `${components}/esp_common/include`, sdkconfigDir!, xsIncludes(), `${root}/host-tests/dtls/rv32-pthread`].flatMap((dir) => ["-I", dir]);
  const object = await compileBinding([...RV32, "-std=gnu17", "-DESP_PLATFORM", ...includes], "riscv64-unknown-elf-nm", RV32_LINK, "binding-rv32-idf");
  const symbols = await run(["riscv64-unknown-elf-nm", "-u", object]);
  assert.ok(symbols.stdout.includes("psa_crypto_init") && symbols.stdout.includes("mbedtls_ssl_cookie_setup"), "the 4.x branch with cookies");
  assert.ok(symbols.stdout.includes("mbedtls_ssl_ticket_setup") && symbols.stdout.includes("mbedtls_ssl_cache_get"), "session tickets and the session-ID cache on the device");
  // the firmware-update binding (modules/update/verify.c) over the same PSA Crypto
  const verify = `${temporaryDirectory()}/update-verify-rv32.o`;
  await compile([...RV32, "-std=gnu17", "-DESP_PLATFORM", ...includes, "-c", "-o", verify, `${root}/modules/update/verify.c`]);
  assert.match((await run(["riscv64-unknown-elf-nm", "-u", verify])).stdout, /psa_verify_hash/);
  const cid = /#define CONFIG_MBEDTLS_SSL_DTLS_CONNECTION_ID 1/.test(readFile(`${sdkconfigDir}/sdkconfig.h`) ?? "");
  assert.equal(symbols.stdout.includes("mbedtls_ssl_set_cid"), cid, "connection IDs compiled in exactly when the build's sdkconfig has them (this project's turns them on)");
  const size = await run(["riscv64-unknown-elf-size", object]);
  trace(`  ${size.stdout.trim().split("\n").pop()}\n`);
}, {
  skip: (!rv32Gcc && "riscv64-unknown-elf-gcc with picolibc is not installed") ||
    (!idf && "IDF_PATH is not set (ESP-IDF v6.0, e.g. ../shared/tools/esp32c3-emu)") ||
    (!sdkconfigDir && "DTLS_PSK_SDKCONFIG_DIR is not set (the folder of sdkconfig.h from an esp32/esp32c3 build of this firmware)"),
});

/* 3.x is the one major where mbedtls_pk_parse_key / mbedtls_pk_check_pair take an RNG: compile that branch too */
test("binding (every .c): rv32imc compile-only against Mbed TLS 3.6 headers, default config; no allocator replaced (DTLS_PSK_MBEDTLS3)", async () => {
  const object = await compileBinding([...RV32, "-I", `${mbedtls3}/include`, "-I", xsIncludes()], "riscv64-unknown-elf-nm", RV32_LINK, "binding-rv32-mbedtls3");
  const symbols = await run(["riscv64-unknown-elf-nm", "-u", object]);
  assert.ok(symbols.stdout.includes("mbedtls_ctr_drbg_random") && symbols.stdout.includes("mbedtls_pk_parse_key"), "the 3.x branch: DRBG and key parsing");
}, { skip: (!rv32Gcc && "riscv64-unknown-elf-gcc with picolibc is not installed") || (!mbedtls3 && "DTLS_PSK_MBEDTLS3 is not set (a folder with Mbed TLS 3.6 include/)") });
