#!/usr/bin/env node
/*
 * npm run bench: plain CoAP GET requests per second with N = 1, 16, 64 concurrent
 * clients, against our node (main.ts in the simulator host, on free ports given
 * with --config) and against libcoap's coap-server-openssl, measured in
 * the same run with the same load generator (coap-load.c, built here with gcc).
 * Then the DTLS-PSK rows (dtls-load.c over Mbed TLS, TLS_PSK_WITH_AES_128_CCM_8):
 * GET req/s over established sessions, full handshakes per second and their latency
 * (and each server flight's round trip: the same client, so their difference is the
 * servers' own time),
 * heap per established session (ours: the host's meter of Mbed TLS and the binding,
 * host/meter, through the board's "stats" command, with the idle node's figure
 * subtracted; libcoap: alloc-count.so preloaded) and RSS with 8 and 64
 * sessions, and Observe fan-out (PUT to the last observer's notification, plain CoAP).
 * Prints tables with ratios. Then, unless --no-instructions, instruction counts per
 * request under valgrind's callgrind, ours and libcoap's (instructions.mjs): times on
 * a shared machine are noise, instruction counts are not. Loopback only; every run
 * bounded in time; children are stopped by their pid. Run after
 * `node host-tests/cli.mjs build`.
 *
 *   node host-tests/bench/bench.mjs [--seconds S] [--clients 1,16,64] [--no-dtls] [--no-instructions | --instructions-only]
 */
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir, cpus } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { preloadsFor } from "../manifest.mjs";
import { callgrindMissing, instructionRows, instructionTable, underCallgrind } from "./instructions.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const buildDir = join(root, "build");
const host = process.env.XSHOST || join(buildDir, "host", "xshost");
const loadGenerator = join(buildDir, "bench", "coap-load");
const dtlsLoad = join(buildDir, "bench", "dtls-load");
const allocCount = join(buildDir, "bench", "alloc-count.so");
const TOTAL_LIMIT_MS = 20 * 60 * 1000;
/* the module roots and the manifest's preloads, as host-tests/cli.mjs gives them to every host */
const hostRoots = ["-I", join(root, "host-tests", "host", "js"), "-I", join(buildDir, "ts", "modules"), "-I", join(buildDir, "ts"),
  ...preloadsFor(root, "lin").flatMap((name) => ["--preload", name])];

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
  const bench = (name) => join(root, "host-tests", "bench", name);
  const builds = [
    ["-O2", "-Wall", "-Wextra", "-o", loadGenerator, bench("coap-load.c")],
    ["-O2", "-Wall", "-Wextra", "-o", dtlsLoad, bench("dtls-load.c"), "-lmbedtls", "-lmbedx509", "-lmbedcrypto"],
    ["-O2", "-Wall", "-Wextra", "-shared", "-fPIC", "-o", allocCount, bench("alloc-count.c"), "-lpthread"],
  ];
  for (const args of builds) {
    const result = spawnSync("gcc", args, { stdio: "inherit" });
    if (result.status !== 0) throw new Error(`could not build ${args[args.indexOf("-o") + 1]}`);
  }
}

function freePort() {
  return 20000 + Math.floor(Math.random() * 40000);
}

/**
 * Starts a server; resolves once its output matches `ready` (or after `settle` ms). Its
 * output goes to a file that is read here by polling, not to a pipe: a pipe woke this
 * process on every log line (ours logs each PUT, libcoap with -v 0 nothing), and on two
 * cores that took CPU from the node and its load generator in the middle of a fan-out
 * (5-8 ms of a round). child.readOutput() returns it so far.
 */
function startServer(argv, ready, settle = 300, options = {}) {
  return new Promise((resolve, reject) => {
    const logFile = join(mkdtempSync(join(tmpdir(), "bench-log-")), "output");
    const fd = openSync(logFile, "w");
    const child = spawn(argv[0], argv.slice(1), { cwd: root, stdio: [options.stdin ? "pipe" : "ignore", fd, fd], env: options.env ?? process.env });
    closeSync(fd);
    child.readOutput = () => readFileSync(logFile, "utf8");
    children.add(child);
    let poll;
    const timer = setTimeout(() => {
      clearInterval(poll);
      reject(new Error(`${argv[0]} did not start:\n${child.readOutput()}`));
    }, options.timeout ?? 10000);
    if (ready) {
      poll = setInterval(() => {
        if (!ready.test(child.readOutput())) return;
        clearInterval(poll);
        clearTimeout(timer);
        resolve(child);
      }, 20);
    } else setTimeout(() => { clearTimeout(timer); resolve(child); }, settle);
    child.on("exit", (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      const output = child.readOutput();
      rmSync(dirname(logFile), { recursive: true, force: true });
      reject(new Error(`${argv[0]} exited (${code}):\n${output}`));
    });
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
  const child = await startServer([host, ...hostRoots,
    "--data", data, "--board", "host-tests/host/board", "--config", `coapPort=${port}`, "--config", `coapsPort=${freePort()}`, "main"], /started/);
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


/* ---- DTLS-PSK and Observe rows ---- */

/** Runs dtls-load to completion and returns its JSON line (asynchronously: the servers' output is polled meanwhile). */
function dtlsRun(args, timeoutSeconds) {
  return new Promise((resolve, reject) => {
    const child = spawn(dtlsLoad, args, { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutSeconds * 1000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      children.delete(child);
      const line = stdout.trim().split("\n").pop();
      if (!line || line[0] !== "{") reject(new Error(`dtls-load ${args.join(" ")} failed (${code}): ${stderr}`));
      else resolve(JSON.parse(line));
    });
  });
}

/** Starts dtls-load -m hold, waits for its ready line, runs `measure`, then lets it close its sessions. */
async function holdSessions(port, sessions, measure) {
  const child = spawn(dtlsLoad, ["-m", "hold", "-p", String(port), "-c", String(sessions), "-t", "60"], { stdio: ["pipe", "pipe", "pipe"] });
  children.add(child);
  let output = "";
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dtls-load hold ${sessions}: no ready line`)), 30000);
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const line = output.split("\n").find((l) => l.includes("\"ready\""));
      if (line) { clearTimeout(timer); resolve(JSON.parse(line)); }
    });
    child.on("exit", (code) => { clearTimeout(timer); reject(new Error(`dtls-load hold exited (${code}): ${output}`)); });
  });
  const measured = await measure(ready);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.stdin.end();
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
  children.delete(child);
  await new Promise((resolve) => setTimeout(resolve, 300)); // the server frees the sessions it was told to close
  return { ...ready, ...measured };
}

/** The node's figures through the simulated board's control command (needs --control). */
function nodeStats(child) {
  return new Promise((resolve, reject) => {
    const from = child.readOutput().length;
    const poll = setInterval(() => {
      const match = child.readOutput().slice(from).match(/^@stats (.*)$/m);
      if (match) { clearTimeout(timer); clearInterval(poll); resolve(JSON.parse(match[1])); }
    }, 20);
    const timer = setTimeout(() => { clearInterval(poll); reject(new Error("no @stats answer")); }, 5000);
    child.stdin.write("stats\n");
  });
}

/** libcoap's live heap from alloc-count.so's report file (rewritten every 50 ms). */
async function liveHeap(file) {
  await pause(150);
  const match = readFileSync(file, "utf8").match(/alloc-count: live (\d+) peak (\d+)/);
  if (!match) throw new Error(`no alloc-count figures in ${file}`);
  return Number(match[1]);
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Our node for the DTLS rows: { child, coapPort, coapsPort }. */
async function startOurs() {
  const coapPort = freePort();
  const coapsPort = coapPort + 1;
  const data = mkdtempSync(join(tmpdir(), "bench-node-"));
  const child = await startServer([host, ...hostRoots,
    "--data", data, "--control", "--board", "host-tests/host/board", "--config", `coapPort=${coapPort}`, "--config", `coapsPort=${coapsPort}`,
    // raised limits for the 64-session and 1000-observer rows
    "--config", "dtlsMaxSessions=64", "--config", "maxObservers=1000", "--config", "maxObserversPerResource=1000", "main"], /started/, 0, { stdin: true });
  child.once("exit", () => rmSync(data, { recursive: true, force: true }));
  return { child, coapPort, coapsPort };
}

/** libcoap's server for the DTLS rows: { child, port, dtlsPort }. */
async function startLibcoap(env = process.env) {
  const port = freePort();
  const child = await startServer(["coap-server-openssl", "-N", "-A", "127.0.0.1", "-p", String(port), "-k", "esp32c3_key", "-h", "CoAP", "-v", "0"], undefined, 500, { env });
  return { child, port, dtlsPort: port + 1 };
}

const HANDSHAKE_ROUNDS = 9;

/**
 * Full and resumed handshakes, one at a time, against both servers started together:
 * HANDSHAKE_ROUNDS rounds of seconds / HANDSHAKE_ROUNDS each, ours and libcoap in
 * turn (who goes first alternates). Measured one after the other, minutes apart, the
 * two met different phases of this shared machine (a run's rate moved by 1.6x
 * between them); interleaved, both meet the same ones. Per server: handshakes over
 * time summed, and the median round's latencies.
 */
async function handshakeRounds() {
  const ours = await startOurs();
  let libcoap;
  const runs = { ours: { handshake: [], resume: [] }, libcoap: { handshake: [], resume: [] } };
  try {
    libcoap = await startLibcoap();
    const ports = { ours: ours.coapsPort, libcoap: libcoap.dtlsPort };
    const slice = seconds / HANDSHAKE_ROUNDS;
    for (let round = 0; round < HANDSHAKE_ROUNDS; round++) {
      for (const mode of ["handshake", "resume"]) {
        for (const name of round % 2 === 0 ? ["ours", "libcoap"] : ["libcoap", "ours"]) {
          runs[name][mode].push(await dtlsRun(["-m", mode, "-p", String(ports[name]), "-c", "1", "-t", String(slice)], slice + 20));
        }
      }
    }
  } finally {
    await stopServer(ours.child);
    if (libcoap) await stopServer(libcoap.child);
  }
  const merged = (list) => {
    const sum = (key) => list.reduce((n, run) => n + run[key], 0);
    const median = (key) => list.map((run) => run[key]).sort((x, y) => x - y)[Math.floor(list.length / 2)];
    const elapsed = sum("seconds");
    /* each server flight's round trip: the median over the rounds of each round's median */
    const flights = (list[0]?.flights_us ?? []).map((_, k) => list.map((run) => run.flights_us?.[k] ?? NaN).sort((x, y) => x - y)[Math.floor(list.length / 2)]);
    return { completed: sum("completed"), resumed: sum("resumed"), failed: sum("failed"), resent: sum("resent"), seconds: elapsed, hps: Math.round((10 * sum("completed")) / elapsed) / 10, p50_us: median("p50_us"), p99_us: median("p99_us"), flights };
  };
  /* each round's ratio ours/libcoap (both met the same phase of the machine): their median and range */
  const rounds = (mode) => {
    const ratios = runs.ours[mode].map((run, i) => run.hps / runs.libcoap[mode][i].hps).sort((x, y) => x - y);
    return { median: ratios[Math.floor(ratios.length / 2)], low: ratios[0], high: ratios[ratios.length - 1] };
  };
  process.stderr.write("bench: handshakes, both servers in turn, done\n");
  return {
    ours: { handshake: merged(runs.ours.handshake), resume: merged(runs.ours.resume) },
    libcoap: { handshake: merged(runs.libcoap.handshake), resume: merged(runs.libcoap.resume) },
    rounds: { handshake: rounds("handshake"), resume: rounds("resume") },
  };
}

async function dtlsOurs() {
  const { child, coapPort, coapsPort } = await startOurs();
  const rows = {};
  try {
    rows.rps = await dtlsRun(["-m", "rps", "-p", String(coapsPort), "-c", "8", "-t", String(seconds), "-u", "light"], seconds + 40);
    const idle = await nodeStats(child);
    rows.idle = idle;
    for (const sessions of [8, 64]) {
      rows[`hold${sessions}`] = await holdSessions(coapsPort, sessions, async () => {
        await pause(200);
        const stats = await nodeStats(child);
        return { stats, memory: memory(child.pid), perSession: stats.dtls.established ? (stats.nativeHeap - idle.nativeHeap) / stats.dtls.established : NaN, xsHeapDelta: stats.heap - idle.heap };
      });
      await pause(300);
    }
    rows.observe8 = await dtlsRun(["-m", "observe", "-p", String(coapPort), "-c", "8", "-u", "light", "-r", "5"], 60);
    rows.observe = await dtlsRun(["-m", "observe", "-p", String(coapPort), "-c", "1000", "-u", "light", "-r", "5"], 60);
    rows.memory = memory(child.pid);
  } finally {
    await stopServer(child);
  }
  process.stderr.write("bench: our node (DTLS, Observe) done\n");
  return rows;
}

async function dtlsLibcoap() {
  const rows = {};
  let server = await startLibcoap();
  try {
    rows.rps = await dtlsRun(["-m", "rps", "-p", String(server.dtlsPort), "-c", "8", "-t", String(seconds), "-u", "example_data"], seconds + 40);
    coapClient(["-m", "put", "-e", "0", `coap://127.0.0.1:${server.port}/example_data`]);
    rows.observe8 = await dtlsRun(["-m", "observe", "-p", String(server.port), "-c", "8", "-u", "example_data", "-r", "5"], 60);
    rows.observe = await dtlsRun(["-m", "observe", "-p", String(server.port), "-c", "1000", "-u", "example_data", "-r", "5"], 60);
  } finally {
    await stopServer(server.child);
  }
  // a fresh server with the heap counter preloaded for the memory rows
  const liveFile = join(mkdtempSync(join(tmpdir(), "bench-alloc-")), "live");
  server = await startLibcoap({ ...process.env, LD_PRELOAD: allocCount, ALLOC_COUNT_FILE: liveFile });
  try {
    await pause(200);
    for (const sessions of [8, 64]) {
      const before = await liveHeap(liveFile);
      rows[`hold${sessions}`] = await holdSessions(server.dtlsPort, sessions, async (ready) => {
        await pause(200);
        const live = await liveHeap(liveFile);
        return { memory: memory(server.child.pid), perSession: ready.established ? (live - before) / ready.established : NaN };
      });
    }
  } finally {
    await stopServer(server.child);
    rmSync(dirname(liveFile), { recursive: true, force: true });
  }
  process.stderr.write("bench: coap-server-openssl (DTLS, Observe) done\n");
  return rows;
}

function dtlsTable(a, b, rounds) {
  const ratio = (x, y) => (Number.isFinite(x) && Number.isFinite(y) && y ? (x / y).toFixed(2) : "n/a");
  const fanout = (r) => (r.complete ? `${(r.mean_last_us / 1000).toFixed(1)} ms mean, ${(r.max_last_us / 1000).toFixed(1)} max (${r.registered} registered)` : `n/a (${r.registered} registered)`);
  console.log(`\nDTLS 1.2 PSK (TLS_PSK_WITH_AES_128_CCM_8, dtls-load over Mbed TLS), ${seconds} s per row; Observe over plain CoAP (libcoap with -N: NON notifications, as ours)\n`);
  console.log("| measure | ours | libcoap | ratio ours/libcoap |");
  console.log("| --- | ---: | ---: | ---: |");
  console.log(`| GET req/s over 8 established sessions (p50/p99 us) | ${a.rps.rps} (${a.rps.p50_us}/${a.rps.p99_us}) | ${b.rps.rps} (${b.rps.p50_us}/${b.rps.p99_us}) | ${ratio(a.rps.rps, b.rps.rps)} |`);
  const perRound = (r) => (r ? ` (rounds: median ${r.median.toFixed(2)}, ${r.low.toFixed(2)}-${r.high.toFixed(2)})` : "");
  const resent = (r) => ` (${r.resent} of ${r.completed} waited >= 0.5 s for a resent flight)`;
  console.log(`| full handshakes/s, one at a time (${HANDSHAKE_ROUNDS} rounds, in turn with libcoap's) | ${a.handshake.hps}${resent(a.handshake)} | ${b.handshake.hps}${resent(b.handshake)} | ${ratio(a.handshake.hps, b.handshake.hps)}${perRound(rounds?.handshake)} |`);
  console.log(`| resumed handshakes/s (session ticket), one at a time, in turn | ${a.resume.hps} (${a.resume.resumed} of ${a.resume.completed} resumed, ${a.resume.resent} resent) | ${b.resume.hps} (${b.resume.resumed} of ${b.resume.completed} resumed, ${b.resume.resent} resent) | ${ratio(a.resume.hps, b.resume.hps)}${perRound(rounds?.resume)} |`);
  console.log(`| handshake latency median / p99 (ms; the median round's) | ${(a.handshake.p50_us / 1000).toFixed(2)} / ${(a.handshake.p99_us / 1000).toFixed(2)} | ${(b.handshake.p50_us / 1000).toFixed(2)} / ${(b.handshake.p99_us / 1000).toFixed(2)} | ${ratio(a.handshake.p50_us, b.handshake.p50_us)} / ${ratio(a.handshake.p99_us, b.handshake.p99_us)} |`);
  // the same client and kernel on both sides: a flight's round trip differs between the servers by their own time for it
  const flights = (x, y, names) => `| handshake flights, round trip from the client's flight to the server's answer (us, median round): ${names} | ${x.flights.map((v) => v.toFixed(1)).join(" / ")} | ${y.flights.map((v) => v.toFixed(1)).join(" / ")} | ${x.flights.map((v, k) => ratio(v, y.flights[k])).join(" / ")} |`;
  if (a.handshake.flights.length === 3 && b.handshake.flights.length === 3) console.log(flights(a.handshake, b.handshake, "HelloVerifyRequest / ServerHello..Done / ChangeCipherSpec..Finished"));
  if (a.resume.flights.length === 2 && b.resume.flights.length === 2) console.log(flights(a.resume, b.resume, "resumed: HelloVerifyRequest / ServerHello..Finished"));
  console.log(`| heap bytes per established session (8 sessions) | ${Math.round(a.hold8.perSession)} | ${Math.round(b.hold8.perSession)} | ${ratio(a.hold8.perSession, b.hold8.perSession)} |`);
  const held = (r, n) => (r.established === n ? "" : ` (${r.established} of ${n} established: session limit)`);
  console.log(`| heap bytes per established session (64 sessions) | ${Math.round(a.hold64.perSession)}${held(a.hold64, 64)} | ${Math.round(b.hold64.perSession)}${held(b.hold64, 64)} | ${ratio(a.hold64.perSession, b.hold64.perSession)} |`);
  console.log(`| RSS with 8 sessions, KiB (peak) | ${a.hold8.memory.rss} (${a.hold8.memory.peak}) | ${b.hold8.memory.rss} (${b.hold8.memory.peak}) | ${ratio(a.hold8.memory.rss, b.hold8.memory.rss)} |`);
  console.log(`| RSS with 64 sessions, KiB (peak) | ${a.hold64.memory.rss} (${a.hold64.memory.peak})${held(a.hold64, 64)} | ${b.hold64.memory.rss} (${b.hold64.memory.peak}) | ${a.hold64.established === 64 ? ratio(a.hold64.memory.rss, b.hold64.memory.rss) : "n/a"} |`);
  console.log(`| Observe fan-out, 8 observers: PUT -> last notification | ${fanout(a.observe8)} | ${fanout(b.observe8)} | ${ratio(a.observe8.mean_last_us, b.observe8.mean_last_us)} |`);
  console.log(`| Observe fan-out, 1000 observers asked | ${fanout(a.observe)} | ${fanout(b.observe)} | ${a.observe.registered === b.observe.registered ? ratio(a.observe.mean_last_us, b.observe.mean_last_us) : `n/a: ours registers ${a.observe.registered} (limit)`} |`);
  console.log(`\nours: ${a.hold8.established} of 8 and ${a.hold64.established} of 64 sessions held; Mbed TLS and the binding ${a.hold8.stats.nativeHeap} B in all (${a.hold8.stats.nativeHeap - a.idle.nativeHeap} B in sessions, ${a.idle.nativeHeap} B idle: contexts and RNG/PSA state), XS heap +${a.hold8.xsHeapDelta} B with them; libcoap held ${b.hold8.established} and ${b.hold64.established}`);
  console.log("(ratios: > 1 is better for ours in req/s and handshakes/s, < 1 is better for ours in latency, bytes and times)");
}

/* ---- instruction counts (instructions.mjs) ---- */

function instructionKit(which) {
  const get = (port, path, clients, count) => {
    const result = spawnSync(loadGenerator, ["-a", "127.0.0.1", "-p", String(port), "-u", path, "-c", String(clients), "-n", String(count), "-t", "120", "-w", "0"], { encoding: "utf8", timeout: 150_000 });
    if (result.status !== 0) throw new Error(`coap-load failed (${result.status}): ${result.stderr}`);
    return JSON.parse(result.stdout.trim().split("\n").pop());
  };
  const start = async (folder) => {
    const port = freePort();
    if (which === "ours") {
      const data = mkdtempSync(join(tmpdir(), "bench-node-"));
      const child = await startServer(underCallgrind([host, ...hostRoots, "--data", data, "--board", "host-tests/host/board",
        "--config", `coapPort=${port}`, "--config", `coapsPort=${port + 1}`, "--config", "dtlsMaxSessions=64",
        "--config", "maxObservers=1000", "--config", "maxObserversPerResource=1000", "main"], folder), /started/, 0, { timeout: 120_000 });
      child.once("exit", () => rmSync(data, { recursive: true, force: true }));
      return { child, port, dtlsPort: port + 1 };
    }
    const child = await startServer(underCallgrind(["coap-server-openssl", "-N", "-A", "127.0.0.1", "-p", String(port), "-k", "esp32c3_key", "-h", "CoAP", "-v", "0"], folder), undefined, 4000);
    coapClient(["-m", "put", "-e", "0", `coap://127.0.0.1:${port}/example_data`]);
    return { child, port, dtlsPort: port + 1 };
  };
  process.stderr.write(`bench: counting instructions of ${which === "ours" ? "our node" : "coap-server-openssl"} under callgrind\n`);
  const observe = (port, path, observers, rounds) => {
    const child = spawn(dtlsLoad, ["-m", "observe", "-p", String(port), "-c", String(observers), "-u", path, "-r", String(rounds), "-W"], { stdio: ["pipe", "pipe", "pipe"] });
    children.add(child);
    let output = "";
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    const registered = new Promise((resolve, reject) => {
      child.stdout.on("data", (chunk) => {
        output += chunk;
        const match = output.match(/\{"registered":(\d+)\}/);
        if (match) resolve(Number(match[1]));
      });
      child.once("exit", (code) => reject(new Error(`dtls-load observe exited (${code}) before registering: ${output}`)));
    });
    /* the rounds: resolves with the result line, before dtls-load deregisters (finish() lets it) */
    const run = () => new Promise((resolve, reject) => {
      const look = () => {
        const line = output.split("\n").find((text) => text.startsWith("{\"mode\""));
        if (line) {
          child.stdout.off("data", look);
          resolve(JSON.parse(line));
        }
      };
      child.stdout.on("data", look);
      child.once("exit", () => reject(new Error(`dtls-load observe: ${output}`)));
      child.stdin.write("go\n");
    });
    const finish = async () => {
      child.stdin.end();
      await exited;
      clearTimeout(timer);
      children.delete(child);
    };
    return { registered, run, finish };
  };
  return { start, stop: stopServer, get, dtls: dtlsRun, observe, path: which === "ours" ? "light" : "example_data", gets: 2000, handshakes: 20, dtlsSeconds: 3 };
}

function pad(text, width) {
  return String(text).padStart(width);
}

async function main() {
  buildLoadGenerator();
  const libcoapVersion = (spawnSync("dpkg-query", ["-W", "-f=${Version}", "libcoap3-bin"], { encoding: "utf8" }).stdout || "?").trim();
  const started = Date.now();
  if (args.includes("--instructions-only")) {
    const missing = callgrindMissing();
    if (missing) throw new Error(`instruction counts need ${missing}`);
    instructionTable(await instructionRows(instructionKit("ours")), await instructionRows(instructionKit("libcoap")));
    clearTimeout(watchdog);
    console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
    return;
  }
  const a = await measure("our node", ours, "light");
  const b = await measure("coap-server-openssl", libcoap, "example_data");
  const withDtls = !args.includes("--no-dtls");
  const handshakes = withDtls ? await handshakeRounds() : undefined;
  const dtlsA = withDtls ? { ...(await dtlsOurs()), ...handshakes.ours } : undefined;
  const dtlsB = withDtls ? { ...(await dtlsLibcoap()), ...handshakes.libcoap } : undefined;
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
  if (dtlsA && dtlsB) dtlsTable(dtlsA, dtlsB, handshakes.rounds);
  if (!args.includes("--no-instructions")) {
    const missing = callgrindMissing();
    if (missing) console.log(`\ninstruction counts: not measured, ${missing} is missing`);
    else instructionTable(await instructionRows(instructionKit("ours")), await instructionRows(instructionKit("libcoap")));
  }
  console.log(`(${((Date.now() - started) / 1000).toFixed(0)} s)`);
}

main().catch((error) => {
  process.stderr.write(`bench: ${error.stack ?? error}\n`);
  stopAll();
  process.exit(1);
});
