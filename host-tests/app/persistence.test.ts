/*
 * The light's state survives a reset: it is written to `preference` (an atomic file in
 * the simulator host, NVS on the device) before the PUT is acknowledged, so a kill -9
 * at any moment never loses an acknowledged change.
 */
import { test, assert, fromHex, seededRandom, sleep, waitFor } from "../lib/harness";
import { Child, SIGKILL, coapClient, scratchDirectory, startNode } from "../lib/process";
import { openUDP, randomPort } from "../lib/net";
import { now, writeFileAtomic } from "host/runtime";

const PSK = ["-k", "esp32c3_key", "-u", "CoAP"];

function ports(): { coapPort: number; coapsPort: number } {
  const coapPort = randomPort();
  return { coapPort, coapsPort: coapPort + 1 };
}

async function kill9(node: Child): Promise<void> {
  node.kill(SIGKILL);
  await node.wait();
}

test("PUT /light 1 over CoAPS, kill -9, restart: GET returns 1", async () => {
  const data = scratchDirectory();
  const config = ports();
  let node = await startNode(data, config);
  await coapClient(["-m", "put", "-e", "1", ...PSK, `coaps://127.0.0.1:${config.coapsPort}/light`], "coap-client-openssl");
  await node.waitFor(/^@pin 8 1$/m);
  await kill9(node);
  node = await startNode(data, config);
  try {
    assert.equal((await coapClient(["-m", "get", ...PSK, `coaps://127.0.0.1:${config.coapsPort}/light`], "coap-client-openssl")).trim(), "1");
    assert.equal((await coapClient(["-m", "get", `coap://127.0.0.1:${config.coapPort}/light`])).trim(), "1");
  } finally {
    node.kill();
    await node.wait();
  }
}, { timeout: 30000 });

test("100 PUTs alternating 0/1, each followed by a kill -9 at a random moment: no acknowledged change is ever lost", async () => {
  const seed = Date.now() >>> 0;
  const random = seededRandom(seed);
  const data = scratchDirectory();
  const config = ports();
  let acknowledged = "0"; // a node that never had a PUT is off
  let inFlight: string | undefined; // the last PUT, when the kill came before its 2.04
  const counts = { acknowledged: 0, unacknowledged: 0 };
  for (let round = 0; round <= 100; round++) {
    const node = await startNode(data, config);
    const replies: Uint8Array[] = [];
    const { socket } = openUDP({
      address: "127.0.0.1",
      onReadable(count) {
        for (let k = 0; k < count; k++) replies.push(new Uint8Array(this.read()));
      },
    });
    try {
      // the state restored at boot: the last acknowledged value, or the one in flight at the kill
      socket.write(fromHex("42 01 0001 aa01 b5 6c69676874"), "127.0.0.1", config.coapPort); // CON GET /light
      await waitFor(() => replies.length === 1, 3000, "the GET's answer");
      const restored = String.fromCharCode(replies[0][replies[0].length - 1]);
      if (inFlight === undefined) assert.equal(restored, acknowledged, `seed ${seed}, round ${round}: the acknowledged state was lost`);
      else assert.ok(restored === acknowledged || restored === inFlight, `seed ${seed}, round ${round}: restored ${restored}`);
      acknowledged = restored; // after a boot, the restored state is what the next PUT changes
      inFlight = undefined;
      if (round === 100) break;
      // PUT the other value and kill -9 at a random moment: before, during or after the 2.04
      const value = restored === "1" ? "0" : "1";
      const mid = (0x100 + round).toString(16).padStart(4, "0");
      socket.write(fromHex(`42 03 ${mid} bb01 b5 6c69676874 ff ${value === "1" ? "31" : "30"}`), "127.0.0.1", config.coapPort);
      await sleep(random() * 8);
      await kill9(node);
      const ack = replies.some((r) => r[1] === 0x44 && r[2] === parseInt(mid.slice(0, 2), 16) && r[3] === parseInt(mid.slice(2), 16));
      if (ack) {
        acknowledged = value;
        counts.acknowledged++;
      } else {
        inFlight = value;
        counts.unacknowledged++;
      }
    } finally {
      socket.close();
      if (!node.finished) await kill9(node);
    }
  }
  trace(`  seed ${seed}: ${counts.acknowledged} PUTs acknowledged before the kill, ${counts.unacknowledged} killed before their 2.04\n`);
  assert.ok(counts.acknowledged > 0, "some kills came after the acknowledgement");
}, { timeout: 180000 });

/* what a corrupted or foreign stored state looks like to the node: the simulator's preference file, or a value of another type */
const CORRUPTIONS: [string, string, RegExp][] = [
  ["truncated", '{"light":{"on":{"t":"b","v":tr', /preference: .* is not a store of domains/],
  ["garbage", "\u0000\u00ff garbage", /preference: .* is not a store of domains/],
  ["null", "null", /preference: .* is not a store of domains/],
  ["an array", "[true]", /preference: .* is not a store of domains/],
  ["an integer where a boolean belongs", '{"light":{"on":{"t":"i","v":7}}}', /light: the stored state light\/on is number 7, not a boolean: starting off/],
  ["a string where a boolean belongs", '{"light":{"on":{"t":"s","v":"on"}}}', /light: the stored state light\/on is string on, not a boolean/],
];

for (const [what, contents, logged] of CORRUPTIONS) {
  test(`a stored state that is ${what}: the node starts, says so, serves the default, and the next PUT is persisted`, async () => {
    const data = scratchDirectory();
    writeFileAtomic(`${data}/preferences.json`, contents);
    const config = ports();
    let node = await startNode(data, config);
    try {
      assert.match(node.stdout, logged);
      assert.equal((await coapClient(["-m", "get", `coap://127.0.0.1:${config.coapPort}/light`])).trim(), "0", "the default state");
      const put = await coapClient(["-m", "put", "-e", "1", "-v", "6", `coap://127.0.0.1:${config.coapPort}/light`]);
      assert.match(put, /2\.04/);
    } finally {
      await kill9(node);
    }
    node = await startNode(data, config);
    try {
      assert.equal((await coapClient(["-m", "get", `coap://127.0.0.1:${config.coapPort}/light`])).trim(), "1", "the PUT acknowledged after the corruption survived a restart");
      assert.ok(!logged.test(node.stdout), "and the store is sound again");
    } finally {
      node.kill();
      await node.wait();
    }
  }, { timeout: 30000 });
}
