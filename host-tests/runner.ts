/*
 * The test runner, run by the simulator host (`npm test`): finds every
 * host-tests/**\/*.test.ts, imports its compiled module, runs its cases in order
 * with their timeouts, prints one line per case (and the error with its stack),
 * and ends with "N passed, N failed, N skipped". Arguments filter files by
 * substring. An uncaught exception or rejection during a case fails that case.
 */
import Timer from "timer";
import { argv, cwd, errors, exit, now, readdir } from "host/runtime";
import { takeRegistered, type TestCase } from "./lib/harness";

function findTests(folder: string, out: string[]): string[] {
  for (const entry of readdir(folder).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const path = `${folder}/${entry.name}`;
    if (entry.directory) findTests(path, out);
    else if (entry.name.endsWith(".test.ts")) out.push(path);
  }
  return out;
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const stack = typeof error.stack === "string" ? error.stack : "";
    const head = `${error.name}: ${error.message}`;
    return stack.includes(error.message) ? stack : `${head}\n${stack}`;
  }
  return String(error);
}

function withTimeout(promise: Promise<void>, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = Timer.set(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      () => { Timer.clear(timer); resolve(); },
      (error) => { Timer.clear(timer); reject(error); },
    );
  });
}

async function runCase(c: TestCase): Promise<"passed" | "failed" | "skipped"> {
  if (c.skip) {
    trace(`SKIP ${c.name} (${c.skip})\n`);
    return "skipped";
  }
  const errorsBefore = errors();
  const start = now();
  try {
    await withTimeout(Promise.resolve().then(c.body), c.timeout);
    if (errors() !== errorsBefore) throw new Error("an exception or rejection went uncaught during this test (see above)");
    trace(`PASS ${c.name} (${Math.round(now() - start)} ms)\n`);
    return "passed";
  } catch (error) {
    trace(`FAIL ${c.name} (${Math.round(now() - start)} ms)\n`);
    trace(`  ${describe(error).split("\n").join("\n  ")}\n`);
    return "failed";
  }
}

export default async function main(): Promise<void> {
  const root = cwd();
  const filters = argv();
  const files = findTests(`${root}/host-tests`, [])
    .map((path) => path.slice(root.length + 1))
    .filter((path) => filters.length === 0 || filters.some((f) => path.includes(f)));
  const counts = { passed: 0, failed: 0, skipped: 0 };
  const started = now();
  for (const file of files) {
    trace(`# ${file}\n`);
    try {
      await import(`${root}/build/ts/${file.replace(/\.ts$/, ".js")}`);
    } catch (error) {
      takeRegistered();
      trace(`FAIL ${file} (could not load)\n  ${describe(error).split("\n").join("\n  ")}\n`);
      counts.failed++;
      continue;
    }
    for (const c of takeRegistered()) counts[await runCase(c)]++;
  }
  if (files.length === 0) trace(`no test files matched ${filters.join(" ")}\n`);
  trace(`# ${files.length} files in ${((now() - started) / 1000).toFixed(1)} s\n`);
  trace(`${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped\n`);
  exit(counts.failed || files.length === 0 ? 1 : 0);
}
