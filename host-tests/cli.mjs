#!/usr/bin/env node
/*
 * Set-up, build and launch of the simulator host; what `npm start` and `npm test` run.
 *
 *   node host-tests/cli.mjs build          set up, build the host and compile the TypeScript
 *   node host-tests/cli.mjs start          build, then run main.ts in the host until Ctrl-C
 *   node host-tests/cli.mjs test [FILTER]  build, then run every host-tests/**\/*.test.ts
 *   node host-tests/cli.mjs run MODULE [ARG]...  build, then run MODULE in the host (e.g. the long fuzz run)
 *
 * Set-up installs what is missing: the Debian packages listed in
 * host-tests/debian-packages.txt (apt-get, as root), the npm packages (npm ci), and
 * the XS engine sources of the pinned @agoric/xsnap package (npm pack, integrity
 * checked, unpacked into .cache/ without running the package's own scripts).
 */
import { spawnSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { configModuleSource, preloadsFor } from "./manifest.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const engine = pkg.xsEngine;
const cache = join(root, ".cache");
const xsDir = join(cache, `xsnap-${engine.version}`);
const buildDir = join(root, "build");

function log(message) {
  process.stderr.write(`[host] ${message}\n`);
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: options.capture ? "pipe" : "inherit", encoding: "utf8", ...options });
  if (result.error) throw new Error(`${command}: ${result.error.message}`);
  if (result.status !== 0 && !options.allowFailure) {
    if (options.capture) process.stderr.write((result.stdout ?? "") + (result.stderr ?? ""));
    throw new Error(`${command} ${args.join(" ")} exited with ${result.status}`);
  }
  return result;
}

function debianPackages() {
  const wanted = readFileSync(join(root, "host-tests", "debian-packages.txt"), "utf8")
    .split("\n").map((line) => line.replace(/#.*/, "").trim()).filter(Boolean);
  const missing = wanted.filter((name) => {
    const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", name], { encoding: "utf8" });
    return r.status !== 0 || !r.stdout.includes("install ok installed");
  });
  if (!missing.length) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`missing Debian packages: ${missing.join(" ")}\n  install them with: sudo apt-get update && sudo apt-get install -y ${missing.join(" ")}`);
  }
  log(`installing Debian packages: ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  run("apt-get", ["update", "-q"], { env });
  run("apt-get", ["install", "-y", "-q", "--no-install-recommends", ...missing], { env });
}

function npmPackages() {
  const marker = join(root, "node_modules", ".package-lock.json");
  const lock = join(root, "package-lock.json");
  if (existsSync(marker) && statSync(marker).mtimeMs >= statSync(lock).mtimeMs) return;
  log("installing npm packages (npm ci)");
  run("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
}

/* The XS sources come from the npm package, fetched as a tarball and checked against the pinned integrity. */
function engineSources() {
  if (existsSync(join(xsDir, "moddable", "xs", "sources", "xsAll.c"))) return;
  mkdirSync(cache, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "xsnap-"));
  try {
    log(`fetching XS engine sources from ${engine.package}@${engine.version}`);
    run("npm", ["pack", `${engine.package}@${engine.version}`, "--pack-destination", work, "--loglevel=error"], { capture: true });
    const tarball = readdirSync(work).find((name) => name.endsWith(".tgz"));
    if (!tarball) throw new Error("npm pack produced no tarball");
    const [algorithm, expected] = engine.integrity.split("-", 2);
    const actual = createHash(algorithm).update(readFileSync(join(work, tarball))).digest("base64");
    if (actual !== expected) throw new Error(`integrity mismatch for ${tarball}: ${algorithm}-${actual}`);
    const unpacked = join(work, "unpacked");
    mkdirSync(unpacked);
    run("tar", ["xzf", join(work, tarball), "-C", unpacked, "--strip-components=1"]);
    rmSync(xsDir, { recursive: true, force: true });
    renameSync(unpacked, xsDir);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function walk(dir, predicate, out = []) {
  if (!existsSync(dir)) return out;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) walk(path, predicate, out);
    else if (predicate(path)) out.push(path);
  }
  return out.sort();
}

/* Where native bindings and their JS shims live: the project's modules and the host's test fixtures. */
const nativeFolders = [join(root, "modules"), join(root, "host-tests", "fixtures")];

/*
 * The Mbed TLS the host links, statically so that its heap can be metered (host/meter):
 * Debian's 2.28 by default; MBEDTLS_PREFIX names another build (include/ and lib/, e.g.
 * Mbed TLS 4.0 with TF-PSA-Crypto made by hand), whose host goes to its own folder.
 */
const mbedtlsPrefix = process.env.MBEDTLS_PREFIX || "";
const hostDir = mbedtlsPrefix
  ? join(buildDir, `host-mbedtls-${createHash("sha1").update(mbedtlsPrefix).digest("hex").slice(0, 8)}`)
  : join(buildDir, "host");
const hostBinary = join(hostDir, "xshost");

function mbedtlsArchives() {
  const names = ["libmbedtls.a", "libmbedx509.a"];
  if (mbedtlsPrefix) {
    const lib = join(mbedtlsPrefix, "lib");
    const crypto = ["libtfpsacrypto.a", "libmbedcrypto.a"].find((name) => existsSync(join(lib, name)));
    const archives = [...names, crypto].map((name) => name && join(lib, name));
    const missing = archives.find((path) => !path || !existsSync(path));
    if (missing !== undefined) throw new Error(`MBEDTLS_PREFIX=${mbedtlsPrefix}: no ${missing ?? "libtfpsacrypto.a or libmbedcrypto.a"} (a static build is needed)`);
    return { archives, cflags: [`-I${join(mbedtlsPrefix, "include")}`] };
  }
  const archives = [...names, "libmbedcrypto.a"].map((name) => run("gcc", [`-print-file-name=${name}`], { capture: true }).stdout.trim());
  const missing = archives.find((path) => !path.startsWith("/"));
  if (missing !== undefined) throw new Error(`no static ${missing} (Debian: libmbedtls-dev)`);
  return { archives, cflags: [] };
}

/* C compiled into the host (device-only C lives under an esp32/ folder). */
function nativeSources() {
  return nativeFolders.flatMap((folder) => walk(folder, (p) => p.endsWith(".c") && !p.includes("/esp32/"))).map((p) => relative(root, p));
}

function buildHost() {
  const mbedtls = mbedtlsArchives();
  const args = ["-s", "-C", join(root, "host-tests", "host"), `-j${Math.max(2, (process.env.JOBS | 0) || 2)}`,
    `XS=${join(xsDir, "moddable", "xs")}`, `OUT=${hostDir}`, `NATIVE=${nativeSources().join(" ")}`,
    `MBEDTLS_ARCHIVES=${mbedtls.archives.join(" ")}`, `MBEDTLS_CFLAGS=${mbedtls.cflags.join(" ")}`];
  if (mbedtlsPrefix) log(`linking the Mbed TLS of MBEDTLS_PREFIX=${mbedtlsPrefix} (host in ${relative(root, hostDir)})`);
  if (!existsSync(hostBinary)) log("building the XS simulator host (about a minute the first time)");
  run("make", args);
}

/* mc/config as a Moddable build would give it: the manifest's config, lin platform (the host shim adds --config) */
function generateConfig() {
  const target = join(buildDir, "ts", "mc", "manifest-config.js");
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, configModuleSource(root, "lin"));
}

/* the JS stack of the device build (manifest creation.stack), so a deep call chain fails here as it would there */
export function manifestStack() {
  return JSON.parse(readFileSync(join(root, "manifest.json"), "utf8")).creation?.stack;
}

function compileTypeScript() {
  run(process.execPath, [join(root, "node_modules", "typescript", "bin", "tsc"), "-p", join(root, "tsconfig.json")]);
  /* JavaScript shims with host functions are not TypeScript: place them beside the compiled modules, as mcconfig does */
  for (const file of nativeFolders.flatMap((folder) => walk(folder, (p) => p.endsWith(".js")))) {
    const target = join(buildDir, "ts", relative(root, file));
    mkdirSync(dirname(target), { recursive: true });
    cpSync(file, target);
  }
}

/* module roots, and the modules the manifest preloads: every host runs them as the SDK's linker does */
export function hostArguments() {
  return [
    "-I", join(root, "host-tests", "host", "js"),
    "-I", join(buildDir, "ts", "modules"),
    "-I", join(buildDir, "ts"),
    ...preloadsFor(root, "lin").flatMap((name) => ["--preload", name]),
  ];
}

function build() {
  debianPackages();
  npmPackages();
  engineSources();
  buildHost();
  compileTypeScript();
  generateConfig();
}

const RESTART_STATUS = 75;

/* Runs the host in the foreground; signals go to it, and its status becomes ours. */
function launch(args) {
  return new Promise((resolve) => {
    const child = spawn(hostBinary, args, { cwd: root, stdio: "inherit" });
    const forward = (signal) => child.kill(signal);
    process.on("SIGINT", () => {}); // the terminal sends SIGINT to the host too
    process.on("SIGTERM", () => forward("SIGTERM"));
    child.on("exit", (code, signal) => resolve(code ?? (signal ? 128 + 15 : 1)));
  });
}

async function main() {
  const [command = "test", ...rest] = process.argv.slice(2);
  try {
    build();
  } catch (error) {
    log(`set-up failed: ${error.message}`);
    process.exit(1);
  }
  if (command === "build") return;
  if (command === "start") {
    mkdirSync(join(root, ".data"), { recursive: true });
    const board = ["--board", "host-tests/host/board"];
    const stack = manifestStack() ? ["--stack", String(manifestStack())] : [];
    /* `npm start -- KEY=VALUE ...` overrides mc/config as mcconfig's KEY=VALUE arguments do */
    const config = rest.filter((arg) => arg.includes("=")).flatMap((arg) => ["--config", arg]);
    /* status 75 is the node's restart (after a firmware update, modules/update/lin/flash.c): start it again, as the device reboots */
    for (;;) {
      const status = await launch([...hostArguments(), "--data", join(root, ".data"), "--control", ...board, ...stack, ...config, "main", ...rest.filter((arg) => !arg.includes("="))]);
      if (status !== RESTART_STATUS) process.exit(status);
      log("the node restarts");
    }
  }
  if (command === "run" && rest.length) {
    process.exit(await launch([...hostArguments(), ...rest]));
  }
  if (command === "test") {
    process.exit(await launch([...hostArguments(), "host-tests/runner", ...rest]));
  }
  log(`unknown command ${command}`);
  process.exit(64);
}

main();
