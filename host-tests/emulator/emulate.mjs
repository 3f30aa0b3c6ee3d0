#!/usr/bin/env node
/*
 * `npm run emulate`: the real esp32/esp32c3 firmware in QEMU's emulated ESP32-C3.
 *
 *   npm run emulate                 build (COAP_BOARD=qemu), make the flash image, boot it, run the device suite
 *   npm run emulate -- --serve      build, boot, and keep it running on 127.0.0.1 udp/5683 and udp/5684 until Ctrl-C
 *                                   (its flash, and so the light's state, lasts until the next build)
 *   npm run emulate -- --no-build   use the last build (build/emulator)
 *   npm run emulate -- --check      only say which tools are found and which are missing, and
 *                                   whether QEMU carries the level-interrupt fix (qemu/*.patch)
 *   npm run emulate -- --only TEXT  run only the suite's tests whose names contain TEXT (after the boot)
 *
 * Tools come from the environment, never fetched: the Moddable SDK (MODDABLE, its
 * mcconfig on PATH), ESP-IDF v6.0 (IDF_PATH; its python with esptool on PATH),
 * Espressif's QEMU (qemu-system-riscv32 with the esp32c3 machine on PATH), and
 * libcoap's clients. Sourcing ESP-IDF's export.sh, or an emulation set-up's env.sh,
 * gives all but libcoap. When something is missing this says what and exits 2.
 *
 * The suite (device-suite.mjs) talks to the device only through the forwarded UDP
 * ports, QEMU's QMP socket (link on/off) and the serial log. It ends with the line
 * "N passed, N failed, N skipped".
 */
import { spawn, spawnSync } from "node:child_process";
import { createSocket } from "node:dgram";
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runDeviceSuite } from "./device-suite.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const OUT = join(ROOT, "build", "emulator");
export const BOARD = "qemu";
const NAME = JSON.parse(readFileSync(join(ROOT, "sdkconfig", BOARD, "manifest.json"), "utf8")).build.NAME;
const PROJECT = join(OUT, "tmp", "esp32", "esp32c3", "release", NAME, "xsProj-esp32c3", "build");
const IMAGE = join(OUT, "flash.bin");
/* --serve's own image: its NVS (the light's state) lasts from one --serve to the next, until a new build */
const SERVE_IMAGE = join(OUT, "serve-flash.bin");
const STARTED = /secure-coap-node: started;/;

function which(command, env = process.env) {
  for (const directory of (env.PATH ?? "").split(delimiter)) {
    if (directory && existsSync(join(directory, command))) return join(directory, command);
  }
  return undefined;
}

/** What the emulation needs, found or not: [{ what, found, hint }] */
export function findTools(env = process.env) {
  const moddable = env.MODDABLE;
  const mcconfig = which("mcconfig", env) ?? (moddable && ["lin", "mac"].map((os) => join(moddable, "build", "bin", os, "release", "mcconfig")).find(existsSync));
  const python = which("python", env) ?? which("python3", env);
  const esptool = python && spawnSync(python, ["-m", "esptool", "version"], { encoding: "utf8", env }).status === 0;
  const qemu = which("qemu-system-riscv32", env);
  const machine = qemu && /esp32c3/.test(spawnSync(qemu, ["-machine", "help"], { encoding: "utf8" }).stdout ?? "");
  const tools = [
    { what: "Moddable SDK (MODDABLE)", found: moddable && existsSync(join(moddable, "tools", "mcconfig.js")) ? moddable : undefined, hint: "build the SDK's Linux tools and export MODDABLE (Moddable's documentation, or `npx xs-dev setup`)" },
    { what: "mcconfig", found: mcconfig, hint: "put $MODDABLE/build/bin/lin/release on PATH" },
    { what: "ESP-IDF v6.0 (IDF_PATH)", found: env.IDF_PATH && existsSync(join(env.IDF_PATH, "tools", "idf.py")) ? env.IDF_PATH : undefined, hint: "install ESP-IDF v6.0 and source its export.sh (`npx xs-dev setup --device esp32` does both)" },
    { what: "riscv32-esp-elf-gcc", found: which("riscv32-esp-elf-gcc", env), hint: "ESP-IDF's toolchain: `idf_tools.py install` then export.sh" },
    { what: "python with esptool", found: esptool ? python : undefined, hint: "ESP-IDF's python environment (export.sh puts it on PATH)" },
    { what: "qemu-system-riscv32 with -machine esp32c3", found: machine ? qemu : undefined, hint: "Espressif's QEMU: `idf_tools.py install qemu-riscv32`, then export.sh" },
    { what: "tsc (npm install)", found: existsSync(join(ROOT, "node_modules", ".bin", "tsc")) ? join(ROOT, "node_modules", ".bin", "tsc") : undefined, hint: "npm ci" },
  ];
  for (const flavour of ["notls", "openssl", "gnutls"]) {
    tools.push({ what: `coap-client-${flavour}`, found: which(`coap-client-${flavour}`, env), hint: "apt-get install libcoap3-bin" });
  }
  return tools;
}

/*
 * Whether the QEMU binary carries qemu/esp32c3-level-interrupts.patch (README): the
 * patch adds esp32c3_intmatrix_recheck(), and the binary keeps its functions' names
 * as strings (the matrix's, even after strip). "present", "absent" (other
 * esp32c3_intmatrix_ names but not that one), or "unknown" (none of those names, or
 * no file to read).
 */
export function qemuLevelFix(qemu) {
  let binary;
  try {
    binary = readFileSync(qemu);
  } catch {
    return "unknown";
  }
  if (binary.includes("esp32c3_intmatrix_recheck")) return "present";
  return binary.includes("esp32c3_intmatrix_") ? "absent" : "unknown";
}

function buildEnv() {
  return { ...process.env, COAP_BOARD: BOARD, PATH: [join(ROOT, "node_modules", ".bin"), process.env.PATH].join(delimiter) };
}

function run(command, args, options) {
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 1 << 28, ...options });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ""}${result.stderr ?? ""}`.trim().split("\n").slice(-40).join("\n");
    throw new Error(`${command} ${args.join(" ")} failed (${result.status ?? result.signal}):\n${output}`);
  }
  return result;
}

/*
 * The firmware update's test material (device suite, "firmware update"): a signing key
 * made here with openssl (certs/make-update-key.sh), and the update identity's PSK,
 * both for the emulator only. Every image built here accepts updates signed with it.
 */
export const UPDATE_DIR = join(OUT, "update");
export const UPDATE_PSK = { identity: "update", key: "emu-update-key" };
function updateConfig() {
  if (!existsSync(join(UPDATE_DIR, "update-signing.pub.hex"))) run("bash", [join(ROOT, "certs", "make-update-key.sh"), UPDATE_DIR]);
  const publicKey = readFileSync(join(UPDATE_DIR, "update-signing.pub.hex"), "utf8").trim();
  return [`updateIdentity=${UPDATE_PSK.identity}`, `updateKey=${UPDATE_PSK.key}`, `updatePublicKey=${publicKey}`, "updateRestartDelay=1000"];
}
/*
 * The images the suite updates to, built before the one it boots (each build replaces
 * the last in build/emulator): 1.0.1, a healthy successor, and 1.0.2, built with both
 * endpoints on udp/5683 so that its start fails and it rolls back.
 */
export const UPDATES = [
  { version: "1.0.1", config: [] },
  { version: "1.0.2", config: ["coapsPort=5683"] },
];

/** mcconfig for the qemu board (release): the update images (unless `withUpdates` is false), then the image the suite boots. */
export function build(log, { withUpdates = true } = {}) {
  mkdirSync(OUT, { recursive: true });
  const update = updateConfig();
  const images = withUpdates ? UPDATES : [];
  for (const image of [...images, { version: "1.0.0", config: [] }]) {
    const started = Date.now();
    const config = [...update, `firmwareVersion=${image.version}`, ...image.config];
    log(`building ${image.version}: COAP_BOARD=${BOARD} mcconfig -m -t build -p esp32/esp32c3 -o build/emulator ${config.filter((c) => !/Key=/.test(c)).join(" ")} (update keys)`);
    const result = run("mcconfig", ["-m", "-t", "build", "-p", "esp32/esp32c3", "-o", OUT, ...config], { cwd: ROOT, env: buildEnv() });
    const size = /xs_esp32\.bin binary size (0x[0-9a-f]+) bytes\. Smallest app partition is (0x[0-9a-f]+) bytes\. (0x[0-9a-f]+) bytes \((\d+)%\) free/.exec(result.stdout);
    log(`built ${image.version} in ${((Date.now() - started) / 1000).toFixed(0)} s${size ? `: app ${Number(size[1])} bytes in a ${Number(size[2])}-byte partition (${size[4]}% free)` : ""}`);
    if (image.version !== "1.0.0") copyFileSync(join(PROJECT, "xs_esp32.bin"), join(UPDATE_DIR, `app-${image.version}.bin`));
  }
}

/** One 4 MB flash image of bootloader, partition table and app, erased elsewhere (an empty NVS). */
export function makeImage(image = IMAGE) {
  const flashArgs = readFileSync(join(PROJECT, "flash_args"), "utf8").split(/\s+/).filter(Boolean);
  run("python", ["-m", "esptool", "--chip", "esp32c3", "merge-bin", "--fill-flash-size", "4MB", "-o", image, ...flashArgs], { cwd: PROJECT, env: buildEnv() });
}

/** A UDP port on 127.0.0.1 that nothing uses now. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const socket = createSocket("udp4");
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => {
      const { port } = socket.address();
      socket.close(() => resolvePort(port));
    });
  });
}

/* QEMU never outlives this script, whichever way it ends */
const running = new Set();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});
let serving = false; // Ctrl-C is how --serve ends: a normal end
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(signal, () => process.exit(serving ? 0 : signal === "SIGINT" ? 130 : 143));

/**
 * One boot of the image in QEMU: serial to a file, UDP 5683/5684 of the guest
 * forwarded to `ports` on 127.0.0.1, QMP on a unix socket.
 */
export class Emulator {
  constructor({ coap, coaps, tag, image = IMAGE }) {
    this.ports = { coap, coaps };
    this.image = image;
    this.serialPath = join(OUT, `serial-${tag}.log`);
    this.qmpPath = join(tmpdir(), `emulate-qmp-${process.pid}-${tag}.sock`);
    this.process = undefined;
  }
  start() {
    rmSync(this.serialPath, { force: true });
    rmSync(this.qmpPath, { force: true });
    const forward = `hostfwd=udp:127.0.0.1:${this.ports.coap}-:5683,hostfwd=udp:127.0.0.1:${this.ports.coaps}-:5684`;
    const stdio = openSync(join(OUT, "qemu.out"), "a");
    this.process = spawn("qemu-system-riscv32", [
      "-machine", "esp32c3", "-display", "none", "-no-reboot",
      "-drive", `file=${this.image},if=mtd,format=raw`,
      "-nic", `user,id=lan,model=open_eth,${forward}`,
      "-serial", `file:${this.serialPath}`,
      "-qmp", `unix:${this.qmpPath},server=on,wait=off`,
    ], { stdio: ["ignore", stdio, stdio] });
    closeSync(stdio);
    const child = this.process;
    running.add(child);
    this.exited = new Promise((resolveExit) => child.once("exit", (code, signal) => {
      running.delete(child);
      resolveExit(signal ?? code);
    }));
  }
  serial() {
    try {
      return readFileSync(this.serialPath, "latin1");
    } catch {
      return "";
    }
  }
  /** Resolves with the serial log once `pattern` is in it, or rejects after `ms`. */
  async waitFor(pattern, ms) {
    const deadline = Date.now() + ms;
    for (;;) {
      const text = this.serial();
      if (pattern.test(text)) return text;
      if (Date.now() > deadline) throw new Error(`no ${pattern} in the serial log after ${ms} ms`);
      if (this.process.exitCode !== null || this.process.signalCode !== null) throw new Error(`QEMU exited (${this.process.exitCode ?? this.process.signalCode}) before ${pattern}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  async booted(ms = 90_000) {
    return this.waitFor(STARTED, ms);
  }
  /** One QMP command ({ execute, arguments }); resolves with its "return". */
  qmp(execute, args) {
    return new Promise((resolveCommand, reject) => {
      import("node:net").then(({ createConnection }) => {
        const socket = createConnection(this.qmpPath);
        let buffer = "";
        let step = 0;
        const timer = setTimeout(() => { socket.destroy(); reject(new Error(`QMP ${execute}: no answer`)); }, 5000);
        socket.on("error", (error) => { clearTimeout(timer); reject(error); });
        socket.on("data", (chunk) => {
          buffer += chunk;
          let newline;
          while ((newline = buffer.indexOf("\n")) >= 0) {
            const message = JSON.parse(buffer.slice(0, newline));
            buffer = buffer.slice(newline + 1);
            if ("QMP" in message) socket.write(`${JSON.stringify({ execute: "qmp_capabilities" })}\n`);
            else if ("return" in message || "error" in message) {
              if (step++ === 0) socket.write(`${JSON.stringify({ execute, arguments: args })}\n`);
              else {
                clearTimeout(timer);
                socket.end();
                if ("error" in message) reject(new Error(`QMP ${execute}: ${message.error.desc}`));
                else resolveCommand(message.return);
              }
            }
          }
        });
      }, reject);
    });
  }
  /** Ends QEMU at once (SIGKILL: the flash file holds what the guest wrote, as after a power cut). */
  async kill() {
    if (!this.process || this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill("SIGKILL");
    await this.exited;
    rmSync(this.qmpPath, { force: true });
  }
}

function say(line) {
  process.stdout.write(`${line}\n`);
}

async function main(argv) {
  const flags = new Set();
  let only;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--only") only = argv[++i];
    else if (["--serve", "--no-build", "--check"].includes(argv[i])) flags.add(argv[i]);
    else {
      say(`emulate: unknown argument ${argv[i]}\nusage: npm run emulate [-- --serve | --no-build | --check | --only TEXT]`);
      return 64;
    }
  }
  const tools = findTools();
  const missing = tools.filter((tool) => !tool.found);
  if (flags.has("--check") || missing.length) {
    for (const tool of tools) say(`emulate: ${tool.found ? "found  " : "MISSING"} ${tool.what}${tool.found ? `: ${tool.found}` : ` (${tool.hint})`}`);
    if (missing.length) {
      say(`emulate: cannot run: ${missing.length} tool${missing.length === 1 ? "" : "s"} missing (see README, "Run the firmware in an emulated ESP32-C3")`);
      return 2;
    }
  }
  const qemu = tools.find((tool) => tool.what.startsWith("qemu-system-riscv32"))?.found;
  const fix = qemuLevelFix(qemu);
  if (fix !== "present") {
    say(fix === "absent"
      ? `emulate: WARNING: ${qemu} lacks the level-interrupt fix (no esp32c3_intmatrix_recheck): the guest will freeze now and then. Apply host-tests/emulator/qemu/esp32c3-level-interrupts.patch in QEMU's source and rebuild qemu-system-riscv32 (README, "QEMU needs one fix")`
      : `emulate: cannot tell whether ${qemu} has the level-interrupt fix (no esp32c3_intmatrix_ names in it); without host-tests/emulator/qemu/esp32c3-level-interrupts.patch the guest freezes now and then`);
  }
  if (flags.has("--check")) {
    if (fix === "present") say(`emulate: found   the level-interrupt fix in ${qemu}`);
    return 0;
  }
  if (!flags.has("--no-build")) build(say, { withUpdates: !flags.has("--serve") });

  if (flags.has("--serve")) {
    const app = join(PROJECT, "xs_esp32.bin");
    if (!existsSync(SERVE_IMAGE) || statSync(app).mtimeMs > statSync(SERVE_IMAGE).mtimeMs) makeImage(SERVE_IMAGE);
    const emulator = new Emulator({ coap: 5683, coaps: 5684, tag: "serve", image: SERVE_IMAGE });
    serving = true;
    emulator.start();
    const log = await emulator.booted().catch((error) => { say(`emulate: ${error.message}`); return undefined; });
    if (!log) {
      await emulator.kill();
      return 1;
    }
    /* the board's once-a-second memory lines stay in the log file */
    const quiet = (text) => text.split(/(?<=\n)/).filter((line) => !line.startsWith("memory: ")).join("");
    process.stdout.write(quiet(log));
    say(`emulate: the emulated ESP32-C3 serves coap://127.0.0.1/ and coaps://127.0.0.1/ (serial log with memory lines: ${emulator.serialPath}); Ctrl-C stops it`);
    let shown = log.length;
    const follow = setInterval(() => {
      const text = emulator.serial();
      const end = text.lastIndexOf("\n") + 1;
      if (end > shown) process.stdout.write(quiet(text.slice(shown, end)));
      shown = Math.max(shown, end);
    }, 250);
    const result = await emulator.exited;
    clearInterval(follow);
    say(`emulate: QEMU ended (${result})`);
    return 0;
  }
  const { failed } = await runDeviceSuite({ say, Emulator, freePort, makeImage, only, update: { dir: UPDATE_DIR, psk: UPDATE_PSK, images: UPDATES } });
  return failed === 0 ? 0 : 1;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (error) => {
    process.stderr.write(`emulate: ${error.stack ?? error}\n`);
    process.exit(1);
  });
}
