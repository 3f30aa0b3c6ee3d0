/*
 * npm run bench's instruction counts: each server runs under valgrind's callgrind,
 * its counters are zeroed (callgrind_control -z) after its set-up and a warm-up, a
 * fixed amount of live work is sent by the same load generators the req/s rows use,
 * and the counters are dumped (callgrind_control -d): user-space instructions per
 * plain GET, per DTLS GET over established sessions, per full PSK handshake (cookie
 * exchange included) and per Observe fan-out round to 1,000 observers (a PUT and
 * its 1,000 notifications). Ours (main.ts in the simulator host) and libcoap's
 * coap-server-openssl, in the same run. Instruction counts do not move with the load
 * of a shared machine; times do. Loopback only; every step bounded.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What is missing to count instructions ("" when nothing is). */
export function callgrindMissing() {
  const found = (command, args) => spawnSync(command, args, { encoding: "utf8" }).status === 0;
  if (!found("valgrind", ["--version"])) return "valgrind (apt-get install valgrind)";
  if (!found("callgrind_control", ["--help"]) && !found("which", ["callgrind_control"])) return "callgrind_control (Debian's valgrind package)";
  return "";
}

/** A command line run under callgrind, its dumps in `folder`. */
export function underCallgrind(argv, folder) {
  return ["valgrind", "--tool=callgrind", `--callgrind-out-file=${join(folder, "cg.%p")}`, "--dump-instr=no", "--compress-strings=no", ...argv];
}

/** The server's pid under valgrind is the child's own (valgrind execs the tool in place). */
function control(pid, command) {
  const result = spawnSync("callgrind_control", [command, String(pid)], { encoding: "utf8", timeout: 60_000 });
  if (result.status !== 0) throw new Error(`callgrind_control ${command} ${pid}: ${result.stderr || result.stdout}`);
}

/**
 * Calls to XS's allocators in a dump (callgrind counts calls even without
 * --dump-instr): slots (fxNewSlot) and chunks (fxNewChunk, fxNewGrowableChunk) made
 * by the engine. Zero for a process without XS (libcoap).
 */
export function allocations(text) {
  const calls = { slots: 0, chunks: 0 };
  let callee;
  for (const line of text.split("\n")) {
    if (line.startsWith("cfn=")) callee = line.slice(4).trim().split(" ").pop();
    else if (line.startsWith("calls=") && callee) {
      const count = Number(line.slice(6).split(" ")[0]);
      if (callee === "fxNewSlot") calls.slots += count;
      else if (callee === "fxNewChunk" || callee === "fxNewGrowableChunk") calls.chunks += count;
      callee = undefined;
    }
  }
  return calls;
}

/** Instructions the process runs during `work` (zeroed before, dumped after), and the XS allocations in them. */
export async function instructionsDuring(child, folder, work) {
  control(child.pid, "-z");
  const result = await work();
  const before = new Set(readdirSync(folder));
  control(child.pid, "-d");
  for (let i = 0; i < 100; i++) {
    const dump = readdirSync(folder).find((name) => !before.has(name) && name.startsWith(`cg.${child.pid}.`));
    if (dump) {
      const text = readFileSync(join(folder, dump), "utf8");
      const summary = text.match(/^summary: (\d+)/m) ?? text.match(/^totals: (\d+)/m);
      if (summary) return { instructions: Number(summary[1]), result, ...allocations(text) };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`no callgrind dump from ${child.pid} in ${folder}`);
}

/**
 * The rows for one server. `kit` has the bench's helpers: start(folder) -> { child,
 * port, dtlsPort } (a server under callgrind, its resource `path`), stop(child),
 * get(port, path, clients, count) (coap-load with a fixed count), dtls(args, seconds)
 * (dtls-load's JSON line), observe(port, path, observers, rounds) (dtls-load -W: its
 * `registered` promise, then run() for the rounds, then finish() to deregister), and the sizes of each sample.
 */
export async function instructionRows(kit) {
  const folder = mkdtempSync(join(tmpdir(), "bench-callgrind-"));
  const rows = {};
  try {
    let server = await kit.start(folder);
    try {
      kit.get(server.port, kit.path, 16, 200); // warm-up: caches full, code paths taken once
      const plain = await instructionsDuring(server.child, folder, () => kit.get(server.port, kit.path, 16, kit.gets));
      rows.get = plain.instructions / plain.result.requests;
      rows.getSlots = plain.slots / plain.result.requests;
      rows.getChunks = plain.chunks / plain.result.requests;

      await kit.dtls(["-m", "handshake", "-p", String(server.dtlsPort), "-c", "1", "-n", "3", "-t", "60"], 90);
      const handshakes = await instructionsDuring(server.child, folder, () =>
        kit.dtls(["-m", "handshake", "-p", String(server.dtlsPort), "-c", "1", "-n", String(kit.handshakes), "-t", "120"], 150));
      rows.handshake = handshakes.instructions / handshakes.result.completed;
      // resumed: two runs (each a full handshake first, then n resumed ones), n and 2n; their difference is resumed handshakes alone
      const resume = (n) => instructionsDuring(server.child, folder, () =>
        kit.dtls(["-m", "resume", "-p", String(server.dtlsPort), "-c", "1", "-n", String(n), "-t", "120"], 150));
      const fewer = await resume(kit.handshakes);
      const more = await resume(2 * kit.handshakes);
      rows.resume = (more.instructions - fewer.instructions) / (more.result.completed - fewer.result.completed);
      rows.resumedOf = `${more.result.resumed} of ${more.result.completed}`;

      // DTLS GET: two runs over 8 fresh sessions, one twice as long; their difference is requests alone
      const rps = (duration) => kit.dtls(["-m", "rps", "-p", String(server.dtlsPort), "-c", "8", "-t", String(duration), "-w", "0", "-u", kit.path], duration + 60);
      await rps(1);
      const short = await instructionsDuring(server.child, folder, () => rps(kit.dtlsSeconds));
      const long = await instructionsDuring(server.child, folder, () => rps(2 * kit.dtlsSeconds));
      const requests = long.result.requests - short.result.requests;
      rows.dtlsGet = (long.instructions - short.instructions) / requests;
      rows.dtlsGetSlots = (long.slots - short.slots) / requests;
      rows.dtlsGetChunks = (long.chunks - short.chunks) / requests;
    } finally {
      await kit.stop(server.child);
    }

    // fan-out: 1,000 observers registered, then the counters zeroed and 1 + 3 rounds (a PUT, 1,000 notifications each)
    const fresh = await kit.start(folder);
    try {
      const observe = kit.observe(fresh.port, kit.path, 1000, 3);
      const registered = await observe.registered;
      const rounds = await instructionsDuring(fresh.child, folder, () => observe.run());
      await observe.finish(); // the deregistrations come after the count
      rows.fanout = rounds.instructions / 4;
      rows.fanoutSlots = rounds.slots / 4;
      rows.fanoutRegistered = registered;
      rows.fanoutComplete = rounds.result.complete;
    } finally {
      await kit.stop(fresh.child);
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
  return rows;
}

const thousands = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "n/a");

/** The table, ours beside libcoap's. */
export function instructionTable(a, b) {
  const ratio = (x, y) => (Number.isFinite(x) && Number.isFinite(y) && y > 0 ? (x / y).toFixed(1) : "n/a");
  const lines = [
    "\nuser-space instructions (valgrind --tool=callgrind; counters zeroed after set-up and warm-up)\n",
    "| per | ours | libcoap | ratio ours/libcoap |",
    "| --- | ---: | ---: | ---: |",
    `| plain GET (16 clients) | ${thousands(a.get)} | ${thousands(b.get)} | ${ratio(a.get, b.get)} |`,
    `| DTLS GET (8 sessions) | ${thousands(a.dtlsGet)} | ${thousands(b.dtlsGet)} | ${ratio(a.dtlsGet, b.dtlsGet)} |`,
    `| full PSK handshake, cookie exchange included | ${thousands(a.handshake)} | ${thousands(b.handshake)} | ${ratio(a.handshake, b.handshake)} |`,
    `| resumed PSK handshake (session ticket; one full handshake first) | ${thousands(a.resume)} (${a.resumedOf} resumed) | ${thousands(b.resume)} (${b.resumedOf} resumed) | ${ratio(a.resume, b.resume)} |`,
    `| Observe fan-out round to 1,000 observers (PUT, 1,000 notifications) | ${thousands(a.fanout)} (${a.fanoutRegistered} registered) | ${thousands(b.fanout)} (${b.fanoutRegistered} registered) | ${ratio(a.fanout, b.fanout)} |`,
    "(< 1 is better for ours)",
    "",
    "XS allocations (calls to fxNewSlot / fxNewChunk in the same windows; libcoap has no engine)",
    "",
    "| per | slots | chunks |",
    "| --- | ---: | ---: |",
    `| plain GET | ${a.getSlots?.toFixed(1) ?? "n/a"} | ${a.getChunks?.toFixed(1) ?? "n/a"} |`,
    `| DTLS GET | ${a.dtlsGetSlots?.toFixed(1) ?? "n/a"} | ${a.dtlsGetChunks?.toFixed(1) ?? "n/a"} |`,
    `| fan-out round to 1,000 observers | ${thousands(a.fanoutSlots)} | |`,
  ];
  console.log(lines.join("\n"));
}
