/*
 * The host's heap meter (host/meter, src/mod_meter.c): it counts what Mbed TLS and
 * the native modules allocate by renaming their calloc/free at link time, and
 * leaves the process's allocator alone.
 */
import { test, assert } from "../lib/harness";
import { native } from "host/meter";
import { gc, hostCommand } from "host/runtime";
import { fixture, run, startHost } from "../lib/process";
import { DTLSContext } from "dtls-psk/binding";

test("the host defines no allocator of its own: calloc and free are the C library's", async () => {
  const [executable] = hostCommand();
  const defined = await run(["nm", "--defined-only", executable], { timeout: 30000 });
  assert.equal(defined.status, 0, defined.stderr);
  const names = new Set(defined.stdout.split("\n").map((line) => line.trim().split(/\s+/).pop()));
  for (const name of ["calloc", "malloc", "realloc", "free"]) assert.ok(!names.has(name), `the host defines ${name}`);
  assert.ok(names.has("hostMeterCalloc") && names.has("hostMeterFree"), "the meter is linked");
});

test("the meter sees a DTLS context's allocations and their release, and nothing of XS's", () => {
  const keep = new DTLSContext({ identity: ArrayBuffer.fromString("CoAP"), key: ArrayBuffer.fromString("esp32c3_key") });
  try {
    gc();
    const before = native();
    const context = new DTLSContext({ identity: ArrayBuffer.fromString("CoAP"), key: ArrayBuffer.fromString("esp32c3_key") });
    const held = native();
    assert.atLeast(held.bytes - before.bytes, 1000, "a server context holds its ssl config and cookie key");
    assert.less(held.bytes - before.bytes, 64 * 1024, "and not much more");
    assert.atLeast(held.allocations, before.allocations + 1);
    const garbage: number[][] = [];
    for (let i = 0; i < 1000; i++) garbage.push([i, i, i]);
    assert.equal(native().bytes, held.bytes, "XS allocations are not counted");
    context.close();
    gc();
    assert.equal(native().bytes, before.bytes, "closing gives back every byte");
    assert.equal(native().blocks, before.blocks);
  } finally {
    keep.close();
  }
});

test("a fresh process: the first DTLS context's bytes, and the library's shared state apart", async () => {
  const result = await startHost(fixture("dtls-heap")).wait(10000);
  assert.equal(result.status, 0, result.stderr);
  const figures = JSON.parse(/dtls-heap (\{.*\})/.exec(result.stdout)![1]) as { empty: number; context: number; shared: number };
  trace(`  server context (PSK) ${figures.context} B; shared library state left after it closed ${figures.shared} B\n`);
  assert.equal(figures.empty, 0, "nothing of Mbed TLS is allocated before the first context");
  assert.atLeast(figures.context, 1000);
  assert.atLeast(figures.shared, 0);
});
