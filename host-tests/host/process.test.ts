/* The host as a process: exit status on uncaught errors (with file:line), clean exit on SIGTERM/SIGINT. */
import { test, assert } from "../lib/harness";
import { readdir } from "host/runtime";
import { fixture, run, startHost, SIGINT, SIGTERM } from "../lib/process";

test("an uncaught exception in a module prints its stack with the TypeScript file:line and exits non-zero", async () => {
  const result = await startHost(fixture("throws")).wait();
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /uncaught exception.*Error: fixture exploded/);
  assert.match(result.stderr, /explode \(\S*host-tests\/fixtures\/throws\.ts:5\)/);
});

test("an unhandled rejection is reported and exits non-zero", async () => {
  const result = await startHost(fixture("rejects")).wait();
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /unhandled rejection.*fixture rejected/);
});

for (const [name, signal] of [["SIGTERM", SIGTERM], ["SIGINT", SIGINT]] as const) {
  test(`a running host exits 0 on ${name}`, async () => {
    const host = startHost(fixture("sleeper"));
    await host.waitFor(/sleeping/);
    host.kill(signal);
    const result = await host.wait(5000);
    assert.equal(result.signal, 0, "killed by the signal instead of handling it");
    assert.equal(result.status, 0, result.stderr);
  });
}

test("a missing module is an error with its name", async () => {
  const result = await startHost("no/such/module").wait();
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /no\/such\/module/);
});

test("child processes report output and status", async () => {
  const result = await run(["sh", "-c", "echo out; echo err >&2; exit 3"]);
  assert.equal(result.status, 3);
  assert.equal(result.stdout, "out\n");
  assert.equal(result.stderr, "err\n");
});

test("a host removes the scratch folders it made when it exits, on its own or on SIGTERM", async () => {
  for (const mode of ["exit", "wait"]) {
    const host = startHost(fixture("scratch"), { args: [mode] });
    const [, folder] = await host.waitFor(/scratch (\S+)\n/);
    if (mode === "wait") {
      assert.equal(readdir(folder).length, 1, `${folder} was made with one entry`);
      host.kill(SIGTERM);
    }
    const result = await host.wait(5000);
    assert.equal(result.status, 0, result.stderr);
    assert.throws(() => readdir(folder), /opendir/, `${folder} is still there after the host ${mode === "wait" ? "was stopped" : "exited"}`);
  }
});
