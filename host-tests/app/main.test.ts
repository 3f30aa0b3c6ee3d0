/* The application as `npm start` runs it: it starts, says where it serves, and exits 0 on SIGTERM. */
import { test, assert } from "../lib/harness";
import { scratchDirectory, startHost, SIGTERM } from "../lib/process";

test("main starts, logs its endpoints and stays up until SIGTERM, then exits 0", async () => {
  const host = startHost("main", { data: scratchDirectory() });
  await host.waitFor(/started.*udp\/5683/);
  const early = host.finished;
  assert.equal(early, undefined, "main exited on its own");
  host.kill(SIGTERM);
  const result = await host.wait(5000);
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.signal, 0);
});
