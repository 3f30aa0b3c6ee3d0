#!/usr/bin/env node
/*
 * npm run bench: plain CoAP GET requests per second with N = 1, 16, 64 concurrent
 * clients, against our node (main.ts in the simulator host, on free ports given
 * with --config) and against libcoap's coap-server-openssl, measured in
 * the same run with the same load generator (coap-load.c, built here with gcc).
 * Prints a table with ratios. Loopback only; every run bounded in time; children are
 * stopped by their pid. Run after `node host-tests/cli.mjs build`.
 *
 *   node host-tests/bench/bench.mjs [--seconds S] [--clients 1,16,64]
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const buildDir = join(root, "build");
const host = join(buildDir, "host", "xshost");
const loadGenerator = join(buildDir, "bench", "coap-load");
const TOTAL_LIMIT_MS = 9 * 60 * 1000;

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
};
const seconds = Number(option("seconds", "5"));
const clientCounts = option("clients", "1,16,64").split(",").map(Number);

const children = new Set();
function stopAll() {
  for (const child of children) if (child.exitCode === null) child.kill("SIGTERM");
}
const watchdog = setTimeout(() => {
  process.stderr.write(`bench: over ${TOTAL_LIMIT_MS / 60000} minutes, stopping\n`);
  stopAll();
  process.exit(1);
}, TOTAL_LIMIT_MS);
process.on("SIGINT", () => { stopAll(); process.exit(130); });

function buildLoadGenerator() {
  mkdirSync(dirname(loadGenerator), { recursive: true });
  const result = spawnSync("gcc", ["-O2", "-Wall", "-Wextra", "-o", loadGenerator, join(root, "host-tests", "bench", "coap-load.c")], { stdio: "inherit" });
  if (result.status !== 0) throw new Error("could not build coap-load");
}

function freePort() {
  return 20000 + Math.floor(Math.random() * 40000);
}

/** Starts a server and resolves once `ready` shows in its output (or after `settle` ms when no pattern). */
function startServer(argv, ready, settle = 300) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let output = "";
    const timer = setTimeout(() => reject(new Error(`${argv[0]} did not start:\n${output}`)), 10000);
    const check = () => {
      if (ready && ready.test(output)) { clearTimeout(timer); resolve(child); }
    };
    child.stdout.on("data", (chunk) => { output += chunk; check(); });
    child.stderr.on("data", (chunk) => { output += chunk; check(); });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`${argv[0]} exited (${code}):\n${output}`)); });
    if (!ready) setTimeout(() => { clearTimeout(timer); resolve(child); }, settle);
  });
}

async function stopServer(child) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
  await exited;
  clearTimeout(timer);
  children.delete(child);
}

/** Peak and current resident set (KiB) of a process. */
function memory(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name) => Number((status.match(new RegExp(`${name}:\\s+(\\d+) kB`)) ?? [])[1]);
    return { rss: field("VmRSS"), peak: field("VmHWM") };
  } catch {
    return { rss: NaN, peak: NaN };
  }
}

function load(port, path, clients) {
  const result = spawnSync(loadGenerator, ["-a", "127.0.0.1", "-p", String(port), "-u", path, "-c", String(clients), "-t", String(seconds), "-w", "300"], {
    encoding: "utf8",
    timeout: (seconds + 10) * 1000,
  });
  if (result.status !== 0) throw new Error(`coap-load failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split("\n").pop());
}

function coapClient(argv) {
  return spawnSync("coap-client-notls", argv, { encoding: "utf8", timeout: 10000 }).stdout;
}

async function measure(name, start, path) {
  const rows = new Map();
  const server = await start();
  try {
    for (const clients of clientCounts) rows.set(clients, load(server.port, path, clients));
    rows.memory = memory(server.child.pid);
  } finally {
    await stopServer(server.child);
  }
  process.stderr.write(`bench: ${name} done\n`);
  return rows;
}

async function ours() {
  const port = freePort();
  const data = mkdtempSync(join(tmpdir(), "bench-node-"));
  // the firmware itself (main.ts with the simulated board), on ports no test uses
  const child = await startServer([host, "-I", join(root, "host-tests", "host", "js"), "-I", join(buildDir, "ts", "modules"), "-I", join(buildDir, "ts"),
    "--data", data, "--preload", "host-tests/host/board", "--config", `coapPort=${port}`, "--config", `coapsPort=${freePort()}`, "main"], /started/);
  child.once("exit", () => rmSync(data, { recursive: true, force: true }));
  return { child, port };
}

async function libcoap() {
  const port = freePort();
  const child = await startServer(["coap-server-openssl", "-A", "127.0.0.1", "-p", String(port), "-v", "0"], undefined, 500);
  // /example_data holds what is PUT: a 1-byte representation, like /light
  coapClient(["-m", "put", "-e", "0", `coap://127.0.0.1:${port}/example_data`]);
  const check = coapClient(["-m", "get", `coap://127.0.0.1:${port}/example_data`]).trim();
  if (check !== "0") throw new Error(`coap-server-openssl answers ${JSON.stringify(check)}`);
  return { child, port };
}

function pad(text, width) {
  return String(text).padStart(width);
}

async function main() {
  buildLoadGenerator();
  const libcoapVersion = (spawnSync("dpkg-query", ["-W", "-f=${Version}", "libcoap3-bin"], { encoding: "utf8" }).stdout || "?").trim();
  const started = Date.now();
  const a = await measure("our node", ours, "light");
  const b = await measure("coap-server-openssl", libcoap, "example_data");
  clearTimeout(watchdog);
  const cpu = cpus()[0]?.model ?? "?";
  console.log(`\nplain CoAP GET, closed loop (1 outstanding CON per client), ${seconds} s per row, loopback`);
  console.log(`${new Date().toISOString().slice(0, 10)}, ${cpus().length} x ${cpu}; libcoap ${libcoapVersion}\n`);
  console.log("| clients | ours req/s | libcoap req/s | ratio | ours p50/p99 us | libcoap p50/p99 us | retransmits ours/libcoap |");
  console.log("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const clients of clientCounts) {
    const x = a.get(clients);
    const y = b.get(clients);
    console.log(`| ${clients} | ${pad(x.rps, 6)} | ${pad(y.rps, 6)} | ${(x.rps / y.rps).toFixed(2)} | ${x.p50_us}/${x.p99_us} | ${y.p50_us}/${y.p99_us} | ${x.retransmits}/${y.retransmits} |`);
  }
  console.log(`\nresident memory after the runs: ours ${a.memory.rss} KiB (peak ${a.memory.peak}), libcoap ${b.memory.rss} KiB (peak ${b.memory.peak})`);
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

main().catch((error) => {
  process.stderr.write(`bench: ${error.stack ?? error}\n`);
  stopAll();
  process.exit(1);
});
