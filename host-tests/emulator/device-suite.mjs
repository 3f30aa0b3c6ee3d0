/*
 * The device suite of `npm run emulate`: the firmware built for the `qemu` board,
 * booted in QEMU's esp32c3 machine, tested from outside as a user would: libcoap's
 * clients (notls, openssl, gnutls), raw CoAP datagrams from node where a test needs
 * to see options or to send many, QEMU's QMP for the link, SIGKILL for power cuts,
 * and the serial log (boot lines; the `memory:` lines setup/memorylog prints every
 * second on this board).
 *
 * Ends with "N passed, N failed, N skipped" and a table of the memory figures.
 */
import { spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";

const MEMORY = /memory: heap free (\d+) largest (\d+) lowest (\d+); xs chunks (\d+)\/(\d+) slots (\d+)\/(\d+); stack (\d+)\/(\d+) slots \(peak (\d+|\?)\); task stack free (\d+)/g;
const PSK = ["-u", "CoAP", "-k", "esp32c3_key"];
const ROOT = join(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "../..");

/** The XS block the manifest gives the esp32 build (creation.static), in bytes. */
function arenaBytes() {
  const manifest = JSON.parse(readFileSync(join(ROOT, "manifest.json"), "utf8"));
  const value = manifest.platforms?.esp32?.creation?.static;
  if (!Number.isInteger(value)) throw new Error("manifest.json has no platforms.esp32.creation.static");
  return value;
}

/* ------------------------------------------------------------ clients */

/** Runs a libcoap client; resolves with its output, exit status and time. */
function client(flavour, args, { timeoutMs = 30_000 } = {}) {
  return tool(`coap-client-${flavour}`, args, { timeoutMs });
}

/** Runs a command line (stdin closed), its output and how long it took. */
function tool(program, args, { timeoutMs = 30_000 } = {}) {
  return new Promise((resolveRun) => {
    const started = Date.now();
    const child = spawn(program, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (status, signal) => {
      clearTimeout(timer);
      resolveRun({ stdout, stderr, status: status ?? signal, ms: Date.now() - started });
    });
    resolveRun.child = child;
  });
}

/** A client left running (an observer); `stop()` ends it and resolves with its output. */
function background(flavour, args) {
  const child = spawn(`coap-client-${flavour}`, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", () => {});
  const closed = new Promise((resolveClose) => child.on("close", () => resolveClose(stdout)));
  /* SIGINT: libcoap's client ends its sessions properly (close_notify), as after Ctrl-C */
  return { output: () => stdout, stop: () => { child.kill("SIGINT"); return closed; } };
}

/* minimal CoAP (RFC 7252 sec 3): written here so the device is not checked by its own codec */
function encode({ type = 0, code, mid, token = Buffer.alloc(0), options = [], payload }) {
  const parts = [Buffer.from([0x40 | (type << 4) | token.length, code, mid >> 8, mid & 0xff]), token];
  let last = 0;
  for (const [number, value] of [...options].sort((a, b) => a[0] - b[0])) {
    const delta = number - last;
    last = number;
    const nibble = (n) => (n < 13 ? [n, []] : n < 269 ? [13, [n - 13]] : [14, [(n - 269) >> 8, (n - 269) & 0xff]]);
    const [d, dx] = nibble(delta);
    const [l, lx] = nibble(value.length);
    parts.push(Buffer.from([(d << 4) | l, ...dx, ...lx]), value);
  }
  if (payload !== undefined) parts.push(Buffer.from([0xff]), Buffer.from(payload));
  return Buffer.concat(parts);
}

function decode(datagram) {
  const tokenLength = datagram[0] & 0x0f;
  const message = { type: (datagram[0] >> 4) & 3, code: datagram[1], mid: datagram.readUInt16BE(2), token: datagram.subarray(4, 4 + tokenLength), options: [], payload: Buffer.alloc(0) };
  let at = 4 + tokenLength;
  let number = 0;
  while (at < datagram.length) {
    if (datagram[at] === 0xff) {
      message.payload = datagram.subarray(at + 1);
      break;
    }
    let delta = datagram[at] >> 4;
    let length = datagram[at] & 0x0f;
    at++;
    if (delta === 13) delta = 13 + datagram[at++];
    else if (delta === 14) { delta = 269 + datagram.readUInt16BE(at); at += 2; }
    if (length === 13) length = 13 + datagram[at++];
    else if (length === 14) { length = 269 + datagram.readUInt16BE(at); at += 2; }
    number += delta;
    message.options.push([number, datagram.subarray(at, at + length)]);
    at += length;
  }
  return message;
}

const uint = (n) => (n === 0 ? Buffer.alloc(0) : n < 256 ? Buffer.from([n]) : n < 65536 ? Buffer.from([n >> 8, n & 0xff]) : Buffer.from([n >> 16, (n >> 8) & 0xff, n & 0xff]));
const path = (...segments) => segments.map((segment) => [11, Buffer.from(segment)]);
const codeText = (code) => `${code >> 5}.${String(code & 31).padStart(2, "0")}`;

/** A node UDP socket that sends CoAP requests and matches answers by token. */
class RawClient {
  constructor(port) {
    this.port = port;
    this.socket = createSocket("udp4");
    this.waiting = new Map();
    this.notifications = [];
    this.mid = Math.floor(Math.random() * 65536);
    this.socket.on("message", (datagram) => {
      const message = decode(datagram);
      if (message.type === 0) this.socket.send(encode({ type: 2, code: 0, mid: message.mid }), this.port, "127.0.0.1");
      const key = message.token.toString("hex");
      const waiter = this.waiting.get(key);
      if (waiter) {
        this.waiting.delete(key);
        waiter(message);
      } else this.notifications.push(message);
    });
  }
  ready() {
    return new Promise((r) => this.socket.bind(0, "127.0.0.1", r));
  }
  /**
   * Sends a request (CON unless told) and resolves with the answer, or undefined when
   * none came: after `timeoutMs`, the same datagram is sent again up to `retries` times
   * (as a CON is retransmitted, RFC 7252 sec 4.2).
   */
  request({ code = 1, options, payload, type = 0, token = Buffer.from(Math.random().toString(16).slice(2, 10), "hex"), timeoutMs = 3000, retries = 0 }) {
    this.mid = (this.mid + 1) & 0xffff;
    const datagram = encode({ type, code, mid: this.mid, token, options, payload });
    return new Promise((resolveAnswer) => {
      const key = token.toString("hex");
      let left = retries;
      let wait = timeoutMs * (1 + Math.random() / 2); // ACK_RANDOM_FACTOR 1.5, doubled each time (RFC 7252 sec 4.8)
      let timer;
      const arm = () => {
        timer = setTimeout(() => {
          if (left-- > 0) {
            this.socket.send(datagram, this.port, "127.0.0.1");
            wait *= 2;
            arm();
          } else {
            this.waiting.delete(key);
            resolveAnswer(undefined);
          }
        }, wait);
      };
      this.waiting.set(key, (message) => { clearTimeout(timer); resolveAnswer(message); });
      this.socket.send(datagram, this.port, "127.0.0.1");
      arm();
    });
  }
  close() {
    this.socket.close();
  }
}

/* ------------------------------------------------------------ the suite */

export async function runDeviceSuite({ say, Emulator, freePort, makeImage, only, update }) {
  const results = [];
  const memory = [];
  let emulator;
  const ports = { coap: await freePort(), coaps: await freePort() };
  const coap = (resource) => `coap://127.0.0.1:${ports.coap}/${resource}`;
  const coaps = (resource) => `coaps://127.0.0.1:${ports.coaps}/${resource}`;
  let boots = 0;

  async function test(name, body) {
    if (only && !name.startsWith("boots") && !name.includes(only)) return;
    const started = Date.now();
    try {
      const detail = await body();
      if (detail?.skipped) {
        results.push("skipped");
        say(`skip ${name}: ${detail.skipped}`);
        return;
      }
      results.push("passed");
      say(`ok   ${name} (${Date.now() - started} ms)${detail ? `\n       ${String(detail).replace(/\n/g, "\n       ")}` : ""}`);
    } catch (error) {
      results.push("failed");
      say(`FAIL ${name} (${Date.now() - started} ms)\n       ${String(error?.message ?? error).replace(/\n/g, "\n       ")}${await silence()}`);
    }
  }
  /* after a failure: a guest that has stopped writing its memory: lines (one a second) is stuck, whatever the test saw */
  async function silence() {
    if (!emulator) return "";
    const before = emulator.serial().length;
    await new Promise((r) => setTimeout(r, 2500));
    if (emulator.serial().length > before) return "";
    return "\n       the device has written nothing to its serial log for 2.5 s (memory: lines come every second): the guest is stuck, or QEMU is not running."
      + "\n       A QEMU built without host-tests/emulator/qemu/esp32c3-level-interrupts.patch stops like this (README, emulated ESP32-C3).";
  }
  function check(condition, message) {
    if (!condition) throw new Error(message);
  }

  /* boots the image; a boot that does not reach the start-up line in time is retried once (QEMU stalls now and then) */
  async function boot() {
    for (let attempt = 1; ; attempt++) {
      boots++;
      emulator = new Emulator({ ...ports, tag: String(boots) });
      emulator.start();
      try {
        const log = await emulator.booted(60_000);
        const answer = await client("notls", ["-m", "get", "-B", "10", coap("light")], { timeoutMs: 15_000 });
        if (answer.stdout.trim() === "") throw new Error(`no answer to GET /light after the start-up line:\n${answer.stderr.trim()}`);
        return log;
      } catch (error) {
        await emulator.kill();
        if (attempt === 2) throw error;
        say(`note boot ${boots} failed (${error.message.split("\n")[0]}); booting again`);
      }
    }
  }

  /* the next `memory:` line the device prints after now */
  async function memoryNow(label) {
    const seen = [...emulator.serial().matchAll(MEMORY)].length;
    const deadline = Date.now() + 5000;
    for (;;) {
      const lines = [...emulator.serial().matchAll(MEMORY)];
      if (lines.length > seen) {
        const m = lines[lines.length - 1].slice(1).map((value) => (value === "?" ? NaN : Number(value)));
        const sample = { label, heapFree: m[0], heapLargest: m[1], heapLowest: m[2], chunks: m[3], chunksPeak: m[4], slots: m[5], slotsPeak: m[6], stackUsed: m[7], stackSlots: m[8], stackPeak: m[9], taskStackFree: m[10] };
        memory.push(sample);
        return sample;
      }
      check(Date.now() < deadline, "no memory: line in the serial log for 5 s (setup/memorylog, config.memoryLogPeriod)");
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const shown = (m) => `heap free ${m.heapFree} B, largest block ${m.heapLargest} B, lowest ${m.heapLowest} B; XS chunks ${m.chunks} B, slots ${m.slots} B; JS stack peak ${m.stackPeak}/${m.stackSlots} slots`;

  say(`device suite: the qemu board in QEMU's esp32c3 machine; guest udp/5683 -> 127.0.0.1:${ports.coap}, udp/5684 -> 127.0.0.1:${ports.coaps}`);
  makeImage(); // a fresh flash: empty NVS
  try {
    await test("boots: ROM, ESP-IDF, Ethernet address, the firmware's start-up line", async () => {
      const log = await boot();
      const rom = log.split("\n").find((line) => line.startsWith("ESP-ROM:"));
      const idf = log.split("\n").find((line) => /app_init: ESP-IDF:/.test(line));
      const address = log.split("\n").find((line) => /Ethernet: IP address/.test(line));
      const started = log.split("\n").find((line) => /secure-coap-node: started;/.test(line));
      check(rom && idf && address && started, "missing a boot line");
      check(/coap on udp\/5683/.test(started) && /coaps .* on udp\/5684/.test(started), "start-up line without the ports");
      return [rom, idf, address, started].map((line) => line.trim()).join("\n");
    });
    await test("memory after boot", async () => shown(await memoryNow("idle after boot")));

    await test("CoAP GET/PUT /light (coap-client-notls)", async () => {
      const first = await client("notls", ["-m", "get", "-B", "10", coap("light")]);
      check(first.stdout.trim() === "0", `first GET: ${JSON.stringify(first.stdout + first.stderr)} (a fresh flash starts off)`);
      const put = await client("notls", ["-m", "put", "-e", "1", "-B", "10", coap("light")]);
      check(put.status === 0, `PUT: ${put.stderr}`);
      const second = await client("notls", ["-m", "get", "-B", "10", coap("light")]);
      check(second.stdout.trim() === "1", `GET after PUT 1: ${JSON.stringify(second.stdout)}`);
      const json = await client("notls", ["-m", "get", "-A", "50", "-B", "10", coap("light")]);
      check(json.stdout.trim() === '{"on":true}', `GET Accept: application/json: ${JSON.stringify(json.stdout)}`);
      return `GET 0, PUT 1, GET ${second.stdout.trim()}, JSON ${json.stdout.trim()} (${first.ms}/${put.ms}/${second.ms} ms)`;
    });

    await test("CoAPS GET /light with coap-client-openssl and coap-client-gnutls (PSK CoAP)", async () => {
      const out = [];
      for (const flavour of ["openssl", "gnutls"]) {
        const answer = await client(flavour, ["-m", "get", ...PSK, "-B", "20", coaps("light")]);
        check(answer.stdout.trim() === "1", `${flavour}: ${JSON.stringify(answer.stdout + answer.stderr)}`);
        out.push(`${flavour} ${answer.stdout.trim()} in ${answer.ms} ms`);
      }
      return out.join(", ");
    });

    await test("CoAPS with a wrong key is refused (openssl, gnutls)", async () => {
      const mark = emulator.serial().length;
      const seen = [];
      for (const flavour of ["openssl", "gnutls"]) {
        const answer = await client(flavour, ["-m", "get", "-u", "CoAP", "-k", "wrong_key", "-B", "8", coaps("light")], { timeoutMs: 20_000 });
        check(!/^[01]$/m.test(answer.stdout), `${flavour} got /light with a wrong key: ${JSON.stringify(answer.stdout)}`);
        seen.push(`${flavour}: ${(answer.stdout + answer.stderr).split("\n").find((line) => /alert|error|fail/i.test(line))?.replace(/^.*(DTLS|ERR)\s*:?\s*/, "") ?? "no answer"}`);
      }
      /* the client may exit before the node has read its last record: give the log a moment */
      let refused = [];
      for (const deadline = Date.now() + 3000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
        refused = emulator.serial().slice(mark).split("\n").filter((line) => /handshake .* failed/.test(line));
        if (refused.length >= 2) break;
      }
      check(refused.length === 2, `the node logged ${refused.length} failed handshakes, expected 2`);
      return [...seen, ...refused.map((line) => `node: ${line.trim()}`)].join("\n");
    });

    await test("other stacks: fragmented ClientHellos at MTU 256 (openssl s_client, gnutls-cli) and resumption (tickets, the session-ID cache)", async () => {
      const hex = Buffer.from("esp32c3_key").toString("hex");
      const sClient = (...extra) => tool("openssl", ["s_client", "-dtls1_2", "-connect", `127.0.0.1:${ports.coaps}`, "-psk_identity", "CoAP", "-psk", hex, ...extra], { timeoutMs: 30_000 });
      const handshake = (answer) => answer.stdout.match(/^(New|Reused), TLSv1\.2, Cipher is \S+/m)?.[0] ?? `no handshake: ${(answer.stdout + answer.stderr).trim().split("\n").slice(-2).join(" ")}`;
      const out = [];
      const mtu = await sClient("-mtu", "256");
      check(/^New, /.test(handshake(mtu)), `s_client -mtu 256: ${handshake(mtu)}`);
      out.push(`s_client -mtu 256: ${handshake(mtu)} in ${mtu.ms} ms`);
      const gnutls = await tool("gnutls-cli", ["--udp", "--mtu", "256", "--resume", "-p", String(ports.coaps), "--pskusername", "CoAP", "--pskkey", hex, "--priority", "NORMAL:+PSK:+ECDHE-PSK:+DHE-PSK", "127.0.0.1"], { timeoutMs: 40_000 });
      check(/Handshake was completed/.test(gnutls.stdout) && /This is a resumed session/.test(gnutls.stdout), `gnutls-cli --mtu 256 --resume: ${(gnutls.stdout + gnutls.stderr).trim().split("\n").slice(-3).join(" ")}`);
      out.push(`gnutls-cli --mtu 256 --resume: completed, "This is a resumed session", in ${gnutls.ms} ms`);
      for (const [what, extra] of [["ticket", []], ["session-ID cache", ["-no_ticket"]]]) {
        const file = join(tmpdir(), `emu-session-${process.pid}-${extra.length}.pem`);
        const first = await sClient(...extra, "-sess_out", file);
        const second = await sClient(...extra, "-sess_in", file);
        check(/^New, /.test(handshake(first)) && /^Reused, /.test(handshake(second)), `${what}: ${handshake(first)} then ${handshake(second)}`);
        out.push(`${what}: ${handshake(first)} (${first.ms} ms), then ${handshake(second)} (${second.ms} ms)`);
      }
      const joined = emulator.serial().split("\n").filter((line) => /resumed\)/.test(line)).length;
      check(joined >= 3, `the node logged ${joined} resumed sessions, expected at least 3`);
      return out.join("\n");
    });

    await test("discovery: /.well-known/core lists /light (observable) and /temperature", async () => {
      const answer = await client("notls", ["-m", "get", "-B", "10", coap(".well-known/core")]);
      const text = answer.stdout.trim();
      check(/<\/light>[^,]*;obs/.test(text) && /<\/temperature>/.test(text), `got ${JSON.stringify(text)}`);
      return text;
    });

    await test("Block2: /.well-known/core in 16-byte blocks (raw first block, then coap-client -b 16 reassembles it)", async () => {
      const whole = (await client("notls", ["-m", "get", "-B", "10", coap(".well-known/core")])).stdout.trim();
      const raw = new RawClient(ports.coap);
      await raw.ready();
      const first = await raw.request({ options: [...path(".well-known", "core"), [23, uint(0)]] });
      raw.close();
      check(first && first.code === 0x45, `first block: ${first ? codeText(first.code) : "no answer"}`);
      const block = first.options.find(([number]) => number === 23)?.[1];
      check(block && (block[block.length - 1] & 0x08) && (block[block.length - 1] & 7) === 0 && first.payload.length === 16, `Block2 option ${block?.toString("hex")}, ${first.payload.length} bytes`);
      const blocks = await client("notls", ["-m", "get", "-b", "16", "-B", "20", coap(".well-known/core")]);
      check(blocks.stdout.trim() === whole, `reassembled ${JSON.stringify(blocks.stdout.trim())} != ${JSON.stringify(whole)}`);
      return `${whole.length} bytes in ${Math.ceil(whole.length / 16)} blocks; first block option ${block.toString("hex")} (num 0, more, szx 0)`;
    });

    await test("Observe /light over CoAP and CoAPS: both observers see PUTs from another client", async () => {
      const plain = background("notls", ["-m", "get", "-s", "12", "-w", "-B", "14", coap("light")]);
      const secure = background("openssl", ["-m", "get", "-s", "12", "-w", ...PSK, "-B", "14", coaps("light")]);
      await new Promise((r) => setTimeout(r, 4000));
      for (const value of ["0", "1", "0"]) {
        await client("notls", ["-m", "put", "-e", value, "-B", "10", coap("light")]);
        await new Promise((r) => setTimeout(r, 700));
      }
      await new Promise((r) => setTimeout(r, 1500));
      const [a, b] = [(await plain.stop()).split(/\s+/).filter(Boolean), (await secure.stop()).split(/\s+/).filter(Boolean)];
      for (const [name, seen] of [["coap", a], ["coaps", b]]) check(seen.join(",").endsWith("1,0,1,0"), `${name} observer saw ${seen.join(",")} (expected the current 1, then 0, 1, 0)`);
      return `coap observer: ${a.join(",")}; coaps observer: ${b.join(",")}`;
    });

    await test("/temperature without a DS18B20: 5.03 with the bus fault, promptly, and /light still served", async () => {
      const raw = new RawClient(ports.coap);
      await raw.ready();
      const started = Date.now();
      const answer = await raw.request({ options: path("temperature"), timeoutMs: 5000 });
      const ms = Date.now() - started;
      const light = await raw.request({ options: path("light") });
      raw.close();
      check(answer, "no answer within 5 s");
      check(answer.code === 0xa3, `got ${codeText(answer.code)} ${answer.payload}`);
      check(ms < 2000, `took ${ms} ms`);
      check(light && light.code === 0x45, "GET /light after it failed");
      return `5.03 "${answer.payload.toString()}" in ${ms} ms; Max-Age ${answer.options.find(([n]) => n === 14)?.[1].readUIntBE(0, answer.options.find(([n]) => n === 14)[1].length || 1) ?? "none"}`;
    });

    /* the worst case of the node's bounded state, reached step by step and kept: 8 DTLS
       sessions (each observing), 24 more observers over CoAP (32 in all, the bound), then
       10,000 requests from 40 peers (the dedup cache at its bound) with all of it alive */
    const secureObservers = [];
    let eightSessions;
    await test("memory with 1 and with 8 DTLS sessions (each observing /light; openssl and gnutls)", async () => {
      secureObservers.push(background("openssl", ["-m", "get", "-s", "300", "-w", ...PSK, "-B", "310", coaps("light")]));
      await new Promise((r) => setTimeout(r, 4000));
      const one = await memoryNow("1 DTLS session");
      for (let i = 1; i < 8; i++) {
        secureObservers.push(background(i % 2 ? "gnutls" : "openssl", ["-m", "get", "-s", "300", "-w", ...PSK, "-B", "310", coaps("light")]));
        await new Promise((r) => setTimeout(r, 800));
      }
      await new Promise((r) => setTimeout(r, 5000));
      const eight = await memoryNow("8 DTLS sessions");
      eightSessions = eight;
      const answered = secureObservers.filter((observer) => observer.output().trim() !== "").length;
      check(answered === 8, `${answered} of 8 sessions got /light`);
      return `1 session: ${shown(one)}\n8 sessions: ${shown(eight)}\nper extra session: ${Math.round((one.heapFree - eight.heapFree) / 7)} B of heap`;
    });

    const plainObservers = [];
    const plainTokens = [];
    await test("32 observers of /light (the 8 CoAPS ones and 24 over CoAP): registered, all notified of a PUT", async () => {
      for (let i = 0; i < 24; i++) {
        const raw = new RawClient(ports.coap);
        await raw.ready();
        plainObservers.push(raw);
        plainTokens.push(Buffer.from([0x0b, i]));
      }
      /* registering within about a second, as independent clients would (the emulated MAC drops bursts) */
      const answers = await Promise.all(plainObservers.map(async (raw, i) => {
        await new Promise((r) => setTimeout(r, i * 30));
        return raw.request({ options: [[6, uint(0)], ...path("light")], token: plainTokens[i], timeoutMs: 2000, retries: 4 });
      }));
      const registered = answers.filter((answer) => answer?.code === 0x45 && answer.options.some(([n]) => n === 6)).length;
      const held = await memoryNow("32 observers, 8 of them DTLS sessions");
      const before = secureObservers.map((observer) => observer.output().split(/\s+/).filter(Boolean).length);
      await client("notls", ["-m", "put", "-e", "toggle", "-B", "10", coap("light")]);
      await new Promise((r) => setTimeout(r, 4000));
      const notified = plainObservers.filter((raw) => raw.notifications.some((n) => n.code === 0x45)).length;
      const secureNotified = secureObservers.filter((observer, i) => observer.output().split(/\s+/).filter(Boolean).length > before[i]).length;
      check(registered === 24, `${registered} of 24 CoAP observers registered`);
      check(notified === 24 && secureNotified === 8, `notified: ${notified} of 24 over CoAP, ${secureNotified} of 8 over CoAPS`);
      /* live XS heap (after a collection) per CoAP observer: the registry entry, its slim request, its keys (a registration, a GET answered at once, leaves no dedup entry) */
      const perObserver = eightSessions ? Math.round((held.chunks + held.slots - eightSessions.chunks - eightSessions.slots) / 24) : NaN;
      return `24 + 8 registered, 24 + 8 notified; ${shown(held)}\nper CoAP observer: ${perObserver} B of XS heap`;
    });

    await test("10,000 requests with the 32 observers and 8 sessions alive: every one answered, heap flat", async () => {
      const workers = 40; // distinct peers: more than the dedup cache holds in all (64 exchanges, 8 per peer)
      let answered = 0;
      let lost = 0;
      let warm;
      const started = Date.now();
      await Promise.all(Array.from({ length: workers }, async (_, w) => {
        const raw = new RawClient(ports.coap);
        await raw.ready();
        for (let i = w; i < 10_000; i += workers) {
          if (i === 2000) warm = memoryNow("after 2,000 requests (caches full)"); // the first worker to get there takes it
          const resource = i % 10 === 9 ? [...path(".well-known", "core")] : path("light");
          const answer = await raw.request({ options: resource, timeoutMs: 2000, retries: 4 });
          if (answer) answered++;
          else lost++;
        }
        raw.close();
      }));
      const seconds = (Date.now() - started) / 1000;
      const before = await warm;
      await new Promise((r) => setTimeout(r, 3000));
      const after = await memoryNow("after 10,000 requests");
      check(lost === 0, `${lost} requests unanswered`);
      const drift = before.heapFree - after.heapFree;
      const live = after.slots + after.chunks - before.slots - before.chunks;
      check(drift < 1024, `heap free fell by ${drift} B from request 2,000 to 10,000`);
      check(live < 1024, `live XS data grew by ${live} B from request 2,000 to 10,000`);
      return `${answered} answered in ${seconds.toFixed(1)} s (${Math.round(answered / seconds)}/s); from request 2,000 to 10,000: heap free ${before.heapFree} -> ${after.heapFree} B, live XS slots ${before.slots} -> ${after.slots} B, chunks ${before.chunks} -> ${after.chunks} B`;
    });

    await test("the 32 observers end: deregistered over CoAP, sessions closed one at a time", async () => {
      await Promise.all(plainObservers.map((raw, i) => raw.request({ options: [[6, uint(1)], ...path("light")], token: plainTokens[i], timeoutMs: 2000, retries: 4 })));
      plainObservers.forEach((raw) => raw.close());
      const seen = [];
      for (const observer of secureObservers) { // one at a time: the emulated MAC drops a burst of eight close_notify records
        seen.push((await observer.stop()).split(/\s+/).filter(Boolean).length);
        await new Promise((r) => setTimeout(r, 300));
      }
      await new Promise((r) => setTimeout(r, 1500));
      const after = await memoryNow("observers and sessions gone");
      check(seen.every((n) => n >= 2), `CoAPS observers saw ${seen.join(", ")} values`);
      return shown(after);
    });

    await test("link loss: the link is down 30 s (QMP set_link), then CoAP and CoAPS serve again within seconds", async () => {
      const observer = background("openssl", ["-m", "get", "-s", "90", "-w", ...PSK, "-B", "95", coaps("light")]);
      await new Promise((r) => setTimeout(r, 4000));
      const mark = emulator.serial().length;
      await emulator.qmp("set_link", { name: "lan", up: false });
      const during = await client("notls", ["-m", "get", "-B", "3", coap("light")], { timeoutMs: 6000 });
      check(during.stdout.trim() === "", "answered while the link was down");
      await new Promise((r) => setTimeout(r, 27_000));
      await emulator.qmp("set_link", { name: "lan", up: true });
      const back = Date.now();
      let plain;
      while (Date.now() - back < 30_000) {
        plain = await client("notls", ["-m", "get", "-B", "2", coap("light")], { timeoutMs: 4000 });
        if (plain.stdout.trim() !== "") break;
      }
      const plainMs = Date.now() - back;
      check(plain.stdout.trim() !== "", "no CoAP answer 30 s after the link came back");
      const secure = await client("openssl", ["-m", "get", ...PSK, "-B", "20", coaps("light")]);
      const secureMs = Date.now() - back;
      check(secure.stdout.trim() !== "", "no CoAPS answer after the link came back");
      await client("notls", ["-m", "put", "-e", "toggle", "-B", "10", coap("light")]);
      await new Promise((r) => setTimeout(r, 2000));
      const seen = (await observer.stop()).split(/\s+/).filter(Boolean);
      const events = emulator.serial().slice(mark).split("\n").filter((line) => /Ethernet|link/i.test(line)).map((line) => line.trim());
      return `CoAP again ${plainMs} ms after the link came back, CoAPS (new session) ${secureMs} ms; the CoAPS observer from before the loss saw ${seen.join(",")} (${seen.length >= 2 ? "kept: its session and observation survived" : "lost"}); device log: ${events.join(" | ") || "no link events logged"}`;
    });

    await test("NVS: the light state survives a QEMU restart, and a kill right after a 2.04 loses nothing", async () => {
      const out = [];
      for (const value of ["1", "0", "1"]) {
        const put = await client("notls", ["-m", "put", "-e", value, "-B", "10", "-v", "6", coap("light")]);
        check(/2\.04/.test(put.stdout + put.stderr), `PUT ${value}: no 2.04 (${put.stderr.trim().split("\n").slice(-1)[0]})`);
        await emulator.kill(); // at once, as a power cut
        await boot();
        const get = await client("notls", ["-m", "get", "-B", "10", coap("light")]);
        check(get.stdout.trim() === value, `after PUT ${value}, a kill and a new boot: GET says ${JSON.stringify(get.stdout.trim())}`);
        out.push(`PUT ${value} -> 2.04 -> kill -9 -> boot -> GET ${get.stdout.trim()}`);
      }
      return out.join("\n");
    });
    await test("firmware update over CoAPS: 1.0.1 from coap-client-openssl -b 1024 (update identity) is switched to (boot log) and confirms itself; the light identity gets 4.03, a tampered image 4.00; 1.0.2, which cannot start, rolls back", async () => {
      const missing = update?.images.filter((image) => !existsSync(join(update.dir, `app-${image.version}.bin`)));
      if (!update || missing.length) {
        return { skipped: "no update images (npm run emulate builds them; --serve does not)" };
      }
      const sign = (version) => {
        const out = join(update.dir, `app-${version}.img`);
        const signed = spawnSync("bash", [join(ROOT, "certs", "sign-image.sh"), join(update.dir, "update-signing.key.pem"), version, join(update.dir, `app-${version}.bin`), out], { encoding: "utf8" });
        check(signed.status === 0, `sign-image.sh: ${signed.stderr}`);
        return out;
      };
      const updater = ["-u", update.psk.identity, "-k", update.psk.key];
      const put = (file, credentials) => client("openssl", ["-m", "put", "-f", file, "-b", "1024", ...credentials, "-B", "600", coaps("fw")], { timeoutMs: 660_000 });
      const status = async () => {
        const answer = await client("openssl", ["-m", "get", ...PSK, "-B", "20", coaps("fw")]);
        return JSON.parse(answer.stdout.slice(answer.stdout.indexOf("{")));
      };
      /* QEMU runs with -no-reboot: the node's restart ends it; booting the same flash again is the reboot */
      const restarted = async (what) => {
        const timeout = new Promise((r) => setTimeout(() => r("timeout"), 60_000));
        check((await Promise.race([emulator.exited, timeout])) !== "timeout", `no restart after ${what}`);
      };
      const runningSlot = /secure-coap-node 1\.0\.0: booting from (\w+)/.exec(emulator.serial())?.[1];
      check(runningSlot, "no boot line of 1.0.0 in the serial log");
      const good = sign("1.0.1");
      const tampered = `${good}.tampered`;
      const bytes = readFileSync(good);
      bytes[128 + 5000] ^= 1;
      writeFileSync(tampered, bytes);
      const out = [];
      const denied = await put(good, PSK);
      check(/4\.03 PSK identity "CoAP" has no update role/.test(denied.stdout + denied.stderr), `the light identity: ${denied.stderr.trim().split("\n").slice(-1)[0]}`);
      out.push(`light identity: ${(denied.stdout + denied.stderr).trim().split("\n").slice(-1)[0]} (${denied.ms} ms)`);
      const bad = await put(tampered, updater);
      check(/4\.00 .*hash/i.test(bad.stdout + bad.stderr), `tampered: ${(bad.stdout + bad.stderr).trim().split("\n").slice(-1)[0]}`);
      out.push(`tampered 1.0.1: ${(bad.stdout + bad.stderr).trim().split("\n").slice(-1)[0]} (${bad.ms} ms); running ${(await status()).running}`);
      const mark = emulator.serial().length;
      const ok = await put(good, updater);
      check(/1\.0\.1 stored, pending restart/.test(ok.stdout), `1.0.1: ${(ok.stdout + ok.stderr).trim().split("\n").slice(-1)[0]}`);
      out.push(`1.0.1 (${bytes.length} bytes): "${ok.stdout.trim()}" in ${ok.ms} ms (${Math.round(bytes.length / 1024 / (ok.ms / 1000))} KiB/s)`);
      await restarted("1.0.1 was stored");
      out.push(...emulator.serial().slice(mark).split("\n").filter((line) => /^update: /.test(line)).map((line) => `  ${line.trim()}`));
      let log = await boot();
      log = await emulator.waitFor(/self-check: (passed|FAILED)[^\n]*\n/, 30_000);
      const booting = log.split("\n").find((line) => /secure-coap-node .*: booting from/.test(line));
      const slot = /secure-coap-node 1\.0\.1: booting from (ota_\d) \(an update's first boot/.exec(booting ?? "")?.[1];
      check(slot && slot !== runningSlot, `boot line: ${booting} (1.0.0 ran from ${runningSlot})`);
      check(/self-check: passed; this update is confirmed/.test(log), "1.0.1 did not confirm itself");
      const after = await status();
      check(after.running === "1.0.1" && after.state === "idle", `GET /fw: ${JSON.stringify(after)}`);
      out.push(`reboot: ${booting.trim()}`, `  ${log.split("\n").find((line) => /self-check:/.test(line)).trim()}`, `GET /fw: ${JSON.stringify(after)}`);

      const broken = sign("1.0.2");
      const stored = await put(broken, updater);
      check(/1\.0\.2 stored, pending restart/.test(stored.stdout), `1.0.2: ${(stored.stdout + stored.stderr).trim()}`);
      await restarted("1.0.2 was stored");
      boots++;
      emulator = new Emulator({ ...ports, tag: String(boots) });
      emulator.start();
      await restarted("1.0.2 failed");
      const failed = emulator.serial();
      const failedBoot = failed.split("\n").find((line) => /secure-coap-node .*: booting from/.test(line));
      const brokenSlot = /secure-coap-node 1\.0\.2: booting from (ota_\d) \(an update's first boot/.exec(failedBoot ?? "")?.[1];
      check(brokenSlot && brokenSlot !== slot, `1.0.2's boot line: ${failedBoot}`);
      const rolling = failed.split("\n").find((line) => /rolling back/.test(line));
      check(rolling, "1.0.2 did not roll back");
      out.push(`1.0.2 stored; its boot: ${failedBoot.trim()}`, `  ${rolling.trim()}`);
      log = await boot();
      const back = log.split("\n").find((line) => /secure-coap-node .*: booting from/.test(line));
      check(back?.includes(`secure-coap-node 1.0.1: booting from ${slot} (the last update rolled back)`), `after the rollback: ${back}`);
      const rolled = await status();
      check(rolled.running === "1.0.1" && rolled.state === "rolled-back", `GET /fw: ${JSON.stringify(rolled)}`);
      out.push(`next boot: ${back.trim()}`, `GET /fw: ${JSON.stringify(rolled)}`);
      return out.join("\n");
    });
    await test("power cuts during updates: 8 uploads of 1.0.1, each cut (QEMU SIGKILL) at a seeded random moment of the upload, the restart or the first boot (one in each eighth of 12 s); the node always boots a whole image and serves", async () => {
      const app = update && join(update.dir, "app-1.0.1.bin");
      if (!app || !existsSync(app)) return { skipped: "no update images (npm run emulate builds them; --serve does not)" };
      const image = join(update.dir, "cut-1.0.1.img");
      const signed = spawnSync("bash", [join(ROOT, "certs", "sign-image.sh"), join(update.dir, "update-signing.key.pem"), "1.0.1", app, image], { encoding: "utf8" });
      check(signed.status === 0, `sign-image.sh: ${signed.stderr}`);
      const seed = Date.now() % 100000;
      let state = seed;
      const random = () => {
        state = (state + 0x6d2b79f5) | 0;
        let t = Math.imul(state ^ (state >>> 15), 1 | state);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
      const bootOf = (text) => {
        const line = [...text.matchAll(/secure-coap-node (\d+\.\d+\.\d+): booting from (ota_\d)/g)].at(-1);
        return line && { version: line[1], slot: line[2] };
      };
      const out = [`seed ${seed}`];
      const ROUNDS = 8;
      for (let round = 1; round <= ROUNDS; round++) {
        const before = bootOf(emulator.serial());
        check(before, "no boot line");
        const uploader = spawn("coap-client-openssl", ["-m", "put", "-f", image, "-b", "1024", "-u", update.psk.identity, "-k", update.psk.key, "-B", "60", coaps("fw")], { stdio: "ignore" });
        const moment = Math.round(((round - 1 + random()) * 12_000) / ROUNDS); // the upload takes about 5 s, the restart follows 1 s later
        const started = Date.now();
        const restarted = await Promise.race([new Promise((r) => setTimeout(() => r(false), moment)), emulator.exited.then(() => true)]);
        let when = "during the upload or before the restart";
        if (restarted) {
          /* the node restarted into the update before the moment: cut its first boot instead */
          boots++;
          emulator = new Emulator({ ...ports, tag: String(boots) });
          emulator.start();
          await new Promise((r) => setTimeout(r, Math.max(0, moment - (Date.now() - started))));
          when = "during the update's first boot";
        }
        await emulator.kill();
        uploader.kill("SIGKILL");
        await boot();
        const after = bootOf(emulator.serial());
        const fw = await client("openssl", ["-m", "get", ...PSK, "-B", "20", coaps("fw")]);
        const running = JSON.parse(fw.stdout.slice(fw.stdout.indexOf("{")) || "{}").running;
        /* the image before, from its slot, or the whole new one from the other slot: nothing else */
        const old = after?.slot === before.slot && after.version === before.version && running === before.version;
        const fresh = after && after.slot !== before.slot && after.version === "1.0.1" && running === "1.0.1";
        check(old || fresh, `round ${round} (cut at ${moment} ms, ${when}): ${before.version} in ${before.slot} before, then ${JSON.stringify(after)}, GET /fw ${fw.stdout.trim()}`);
        out.push(`round ${round}: cut at ${moment} ms (${when}): boots ${old ? "the image before" : "the new image"} (${before.version} ${before.slot} -> ${after.version} ${after.slot})`);
      }
      return out.join("\n");
    });
    await test("XS arena: the largest live XS heap of the run leaves a quarter of creation.static free", async () => {
      check(memory.length > 3, "too few memory samples");
      const arena = arenaBytes();
      const worst = memory.reduce((a, b) => (a.chunks + a.slots + a.stackSlots * 16 > b.chunks + b.slots + b.stackSlots * 16 ? a : b));
      const used = worst.chunks + worst.slots + worst.stackSlots * 16; // the JS stack comes from the same block
      check(used <= arena * 0.75, `${used} of ${arena} B at "${worst.label}"`);
      return `largest: ${used} B of ${arena} B (${Math.round((100 * used) / arena)}%) at "${worst.label}" (chunks ${worst.chunks} + slots ${worst.slots} + stack ${worst.stackSlots * 16})`;
    });
  } finally {
    if (emulator) await emulator.kill();
  }

  if (memory.length) {
    say("\nmemory on the emulated ESP32-C3 (bytes; JS stack in slots of 16 B):");
    say("  | when | heap free | largest block | lowest since boot | XS chunks | XS slots | JS stack peak | task stack never used |");
    say("  |---|---|---|---|---|---|---|---|");
    for (const m of memory) say(`  | ${m.label} | ${m.heapFree} | ${m.heapLargest} | ${m.heapLowest} | ${m.chunks} | ${m.slots} | ${m.stackPeak}/${m.stackSlots} | ${m.taskStackFree} |`);
  }
  const count = (what) => results.filter((result) => result === what).length;
  const summary = { passed: count("passed"), failed: count("failed"), skipped: count("skipped") };
  say(`\n${summary.passed} passed, ${summary.failed} failed, ${summary.skipped} skipped`);
  return summary;
}
