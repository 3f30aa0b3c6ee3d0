/*
 * Resource Directory end to end against libcoap's coap-rd-notls (4.3.1). That RD
 * has no rd-lookup interface: it lists each registration as </rd/ID> in its
 * /.well-known/core and serves the registered links at GET /rd/ID, so that is
 * the lookup used here. It answers updates with 4.05 (the node then keeps its
 * registration), forgets everything when restarted (the node's next update gets
 * 4.04 and it registers again), and aborts on DELETE of a registration (a
 * double free in its handler): the test checks that the DELETE reached it.
 * Skipped when libcoap3-bin is missing.
 */
import { test, assert, sleep, waitFor } from "../lib/harness";
import { available, Child, run, SIGTERM } from "../lib/process";
import { randomPort } from "../lib/net";
import { now } from "host/runtime";
import { ask, startFixtureNode } from "./e2e";

const ok: (value: unknown, message?: string) => void = assert.ok;
const REFRESH_MS = 1500;
const SKIP = (!(await available("coap-rd-notls")) || !(await available("coap-client-notls"))) && "coap-rd-notls / coap-client-notls not installed (Debian package libcoap3-bin)";

async function startRd(port: number): Promise<Child> {
  const rd = new Child(["coap-rd-notls", "-A", "127.0.0.1", "-p", String(port), "-v", "7"]);
  await rd.waitFor(/created UDP +endpoint/, 5000);
  return rd;
}

async function coap(...args: string[]): Promise<string> {
  return (await run(["coap-client-notls", "-B", "5", ...args], { timeout: 10000 })).stdout.trim();
}

/** The links registered at the RD, registration by registration (its lookup interface). */
async function lookup(rdPort: number): Promise<string[]> {
  const index = await coap("-m", "get", `coap://127.0.0.1:${rdPort}/.well-known/core`);
  const out: string[] = [];
  for (const m of index.matchAll(/<([/]rd[/][^>]+)>/g)) out.push(await coap("-m", "get", `coap://127.0.0.1:${rdPort}${m[1]}`));
  return out;
}

async function stop(child: Child | undefined): Promise<void> {
  if (!child) return;
  child.kill(SIGTERM);
  await child.wait();
}

test("rd: the node registers /light and /temperature at coap-rd-notls from its server port, again after the RD restarts, and removes itself on stop", async () => {
  const rdPort = randomPort();
  const nodePort = randomPort();
  let rd: Child | undefined = await startRd(rdPort);
  let node: Child | undefined;
  try {
    node = await startFixtureNode([`port=${nodePort}`, `rd=coap://127.0.0.1:${rdPort}`, "ep=rdnode", "lt=60", `refresh=${REFRESH_MS}`, "ack=300", "retransmit=2", "timeout=3000"]);
    await node.waitFor(/rd: registered as "rdnode" at [/]rd[/]/, 5000);
    let links = await lookup(rdPort);
    assert.equal(links.length, 1, links.join("\n"));
    ok(/<[/]light>;[^,]*rt="light"/.test(links[0]) && /<[/]temperature>;[^,]*rt="temperature-c"/.test(links[0]), links[0]);
    ok(new RegExp(`127\\.0\\.0\\.1:${rdPort} <-> 127\\.0\\.0\\.1:${nodePort} [^\\n]*received[^]*?c:POST [^\\n]*Uri-Path:rd, Content-Format:application[/]link-format, Uri-Query:ep=rdnode, Uri-Query:lt=60`).test(rd.stdout),
      "the RD saw the registration come from the node's CoAP server port, with ep and lt");
    // updates: libcoap answers 4.05, the node keeps its registration and does not register twice
    await sleep(REFRESH_MS * 2 + 200);
    assert.equal((await lookup(rdPort)).length, 1, "still one registration after updates");
    ok(/answers updates with 4\.05/.test(node.stdout), node.stdout);

    // the RD restarts and forgets everything; the node's next update finds out
    rd.kill(SIGTERM);
    await rd.wait();
    rd = await startRd(rdPort);
    const restarted = now();
    await node.waitForNext(/rd: registered as "rdnode"/, REFRESH_MS + 5000);
    const listedAfter = now() - restarted;
    links = await lookup(rdPort);
    assert.equal(links.length, 1);
    ok(/<[/]light>/.test(links[0]) && /<[/]temperature>/.test(links[0]), links[0]);
    ok(listedAfter <= REFRESH_MS + 1000, `listed again ${Math.round(listedAfter)} ms after the restart (refresh period ${REFRESH_MS} ms)`);
    ok(/gone \(4\.04\): registering again/.test(node.stdout), node.stdout);

    // orderly shutdown: DELETE of the location
    const location = (await ask(node, "rd")).split(" ")[1];
    const stopped = await ask(node, "stop", 10000);
    ok(new RegExp(`c:DELETE [^\\n]*Uri-Path:${location.split("/").join(", Uri-Path:")} `).test(rd.stdout), `the RD received DELETE /${location}:\n${rd.stdout.slice(-1500)}`);
    await sleep(200);
    const crashed = rd.finished !== undefined || /double free/.test(rd.stderr + rd.stdout);
    if (crashed) ok(stopped === "removed=false", "no answer from the crashed RD: the removal is reported unconfirmed");
    else assert.equal(stopped, "removed=true");
    trace(`  listed again ${Math.round(listedAfter)} ms after the RD restart; stop: ${stopped}${crashed ? " (coap-rd-notls 4.3.1 aborted in its DELETE handler)" : ""}\n`);
  } finally {
    await stop(node);
    await stop(rd);
  }
}, { timeout: 40000, skip: SKIP });
