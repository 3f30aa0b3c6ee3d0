/*
 * The node on UDP 5683 behind the lossy proxy (proxy.ts), against libcoap's
 * coap-client-notls: requests and Observe survive loss, duplication and delay.
 * Seeds come from the clock (RELIABILITY_SEED replays one) and are in every failure.
 */
import { test, assert, seededRandom, sleep } from "../lib/harness";
import { Child } from "../lib/process";
import { NODE_PORT, coap, startNode, startProxy, stop, testSeed } from "./peers";

const OPERATIONS = 30;
/* a CON exchange may take all of MAX_TRANSMIT_WAIT (93 s, RFC 7252 4.8.2) when the proxy loses several transmissions in a row */
const EXCHANGE_MS = 100_000;

test(`${OPERATIONS} GETs and PUTs through drop=5 duplicate=5 delay=5 all complete with the right state`, async () => {
  const seed = testSeed();
  const node = await startNode();
  const proxy = await startProxy([`seed=${seed}`, "drop=5", "duplicate=5", "delay=5", "lifetime=230"]);
  const uri = `coap://127.0.0.1:${proxy.port}/light`;
  const choose = seededRandom(seed ^ 0xc0a9);
  try {
    let expected = false;
    const log: string[] = [];
    for (let i = 0; i < OPERATIONS; i++) {
      const r = choose();
      // toggles make a handler that ran twice (a duplicate that escaped deduplication) visible
      const command = r < 0.35 ? "toggle" : r < 0.5 ? "1" : r < 0.65 ? "0" : "get";
      if (command === "get") {
        const got = (await coap(["-m", "get", uri], EXCHANGE_MS)).trim();
        log.push(`get ${got}`);
        assert.equal(got, expected ? "1" : "0", `GET ${i} (seed ${seed}; ${log.join(", ")})`);
      } else {
        const answer = await coap(["-m", "put", "-e", command, uri], EXCHANGE_MS);
        log.push(`put ${command}`);
        assert.ok(!/\d\.\d\d/.test(answer), `PUT ${command} ${i} answered ${answer} (seed ${seed})`);
        expected = command === "toggle" ? !expected : command === "1";
      }
    }
    assert.equal((await coap(["-m", "get", `coap://127.0.0.1:${NODE_PORT}/light`])).trim(), expected ? "1" : "0", `final state, seen directly (seed ${seed})`);
    const counters = await proxy.stats();
    trace(`  seed ${seed}: proxy counters ${JSON.stringify(counters)}\n`);
    assert.ok(counters.dropped + counters.duplicated + counters.delayed > 0, `the proxy damaged some traffic (seed ${seed})`);
  } finally {
    await stop(proxy.child);
    await stop(node);
  }
}, { timeout: 240_000 });

test("a lost CON notification is retransmitted and the observer sees the final state", async () => {
  const seed = testSeed();
  const node = await startNode();
  // the 20th notification of an observation is CON (NOTIFY_CON_EVERY); the proxy loses its
  // first transmission, on top of random damage
  const proxy = await startProxy([`seed=${seed}`, "drop=5", "duplicate=5", "delay=5", "rule=s2c:CON:1", "lifetime=80"]);
  const observer = new Child(["coap-client-notls", "-v", "6", "-m", "get", "-s", "40", `coap://127.0.0.1:${proxy.port}/light`]);
  try {
    const registered = await observer.waitFor(/t:ACK c:2\.05 [^\n]*Observe:(\d+)[^\n]*:: '0'/, 15000);
    const first = Number(registered[1]);
    let on = false;
    for (let i = 0; i < 20; i++) {
      on = !on;
      // straight to the node: only the observer's path is lossy
      await coap(["-m", "put", "-e", on ? "1" : "0", `coap://127.0.0.1:${NODE_PORT}/light`]);
      await sleep(20);
    }
    // 20 changes, 20 numbers; a registration the proxy duplicated is a GET run again (RFC 7252 sec 4.5), whose answer takes one more
    const final = new RegExp(`t:CON c:2\\.05 [^\\n]*Observe:(\\d+)[^\\n]*:: '${on ? 1 : 0}'`);
    const started = Date.now();
    const last = Number((await observer.waitFor(final, 15000))[1]);
    assert.ok(last >= first + 20 && last <= first + 22, `the CON carries the 20th change's number (${last}, registration ${first})`);
    const counters = await proxy.stats();
    trace(`  seed ${seed}: the final notification arrived ${Date.now() - started} ms after the last PUT; proxy ${JSON.stringify(counters)}\n`);
    assert.equal(counters.ruleDropped, 1, "the first CON notification was lost");
    // the node keeps the observer: its ACK came after the retransmission
    await sleep(200);
    assert.ok(!/observer .* removed/.test(node.stdout), node.stdout);
    const notifications = [...observer.stdout.matchAll(/c:2\.05 [^\n]*Observe:(\d+)/g)].map((m) => Number(m[1]));
    assert.equal(Math.max(...notifications), last, `the newest notification is the last change: ${notifications}`);
  } finally {
    observer.kill();
    await observer.wait();
    await stop(proxy.child);
    await stop(node);
  }
}, { timeout: 60000 });
