/*
 * The short run of the libFuzzer harness of the DTLS binding's record input
 * (host-tests/fuzz/dtls: the binding compiled unchanged against a stand-in xsmc.h,
 * driven as server.ts drives it, under ASan + UBSan). The long run (>= 1,000,000
 * executions) is `npm run fuzz:dtls`. Skipped when clang or its sanitizer/libFuzzer
 * runtime is missing (Debian: clang, libclang-rt-14-dev).
 */
import { test, assert } from "../lib/harness";
import { run } from "../lib/process";
import { cwd } from "host/runtime";

const SCRIPT = `${cwd()}/host-tests/fuzz/dtls/run.sh`;
const SECONDS = 15;
/** far below what the harness does (about 3,800/s on 2 cores), far above a harness that stalls */
const MIN_RUNS = 5_000;

// builds the harness and records the seeds now (a few seconds), so a missing toolchain is a skip
const built = await run(["sh", SCRIPT, "build"], { timeout: 120_000 });
const SKIP = built.status === 77 ? built.stdout.replace(/^fuzz-dtls: SKIP: /, "").trim() : false;

test(`fuzz: ${SECONDS} s of libFuzzer on the DTLS binding's record input under ASan/UBSan: no finding`, async () => {
  assert.equal(built.status, 0, `build failed:\n${built.stdout}\n${built.stderr}`);
  const result = await run(["sh", SCRIPT, "short", String(SECONDS)], { timeout: (SECONDS + 60) * 1000 });
  const output = result.stdout + result.stderr;
  const summary = output.match(/fuzz-dtls: done: runs (\d+), exec\/s (\d+), cov (\d*), ft (\d*), corpus (\d+), new units (\d*), peak RSS (\d*) MB, findings (\d+)/);
  trace(`  ${output.split("\n").filter((line) => line.startsWith("fuzz-dtls:")).join("\n  ")}\n`);
  assert.equal(result.status, 0, `the fuzzer found something or failed:\n${output.slice(-4000)}`);
  assert.ok(summary, `no summary line:\n${output.slice(-2000)}`);
  assert.equal(Number(summary[8]), 0, "findings");
  assert.atLeast(Number(summary[1]), MIN_RUNS, "executions");
  assert.atLeast(Number(summary[3]), 100, "edges covered in the binding (a harness that never reaches a session covers far fewer)");
  // the seeds are recorded handshakes; they must replay to application data, or mutations never get past the cookie and Finished
  const replayed = output.match(/(\d+) recorded conversations, (\d+) of them replay to application data/);
  /* the handshake seeds: five suites and one with a retransmission (the wrong-key and wrong-identity seeds end in an alert) */
  assert.ok(replayed && Number(replayed[2]) >= 6, `seed replay: ${replayed?.[0]}`);
}, { timeout: (SECONDS + 90) * 1000, skip: SKIP });
