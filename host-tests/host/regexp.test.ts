/*
 * A device fact the host cannot reproduce: on the ESP32-C3 a RegExp that the SDK
 * preloaded (a module-level literal, kept in flash) leaks system heap each time it
 * runs. The emulated C3 lost about 20 KB/s of heap under a GET flood when utf8.ts
 * tested one per datagram, and died of it. So no module keeps a RegExp at module
 * level: validation at set-up builds its RegExp when it runs, per-datagram code uses
 * loops.
 */
import { test, assert } from "../lib/harness";
import { readFile, readdir } from "host/runtime";

/** Every .ts file under `folder`. */
function typescriptFiles(folder: string): string[] {
  const out: string[] = [];
  for (const entry of readdir(folder)) {
    const path = `${folder}/${entry.name}`;
    if (entry.directory) out.push(...typescriptFiles(path));
    else if (entry.name.endsWith(".ts")) out.push(path);
  }
  return out;
}

test("no module keeps a RegExp at module level (a preloaded RegExp leaks system heap on the device)", () => {
  const found: string[] = [];
  const files = typescriptFiles("modules");
  assert.ok(files.length > 40, `the modules' sources are read (${files.length})`);
  for (const file of files) {
    const lines = (readFile(file) ?? "").split("\n");
    lines.forEach((line, i) => {
      // a top-level declaration whose value is a RegExp literal or constructor
      if (/^(export\s+)?(const|let|var)\s+\w+(\s*:\s*RegExp)?\s*=\s*(\/(?![/*])|new RegExp)/.test(line)) found.push(`${file}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, [], "module-level RegExps");
});
