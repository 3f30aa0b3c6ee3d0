/*
 * The lossy proxy itself, against an echo socket of this host: mtu= drops what is too
 * long, rule= drops exactly the datagrams it names, reorder and delay lose nothing
 * but change the order, and the counters say so.
 */
import { test, assert, waitFor, sleep } from "../lib/harness";
import { openUDP } from "../lib/net";
import { startProxy, stop } from "./peers";

test("proxy: mtu, rule, reorder and delay do what they say, and count it", async () => {
  const echo = openUDP({
    address: "127.0.0.1",
    onReadable(count) {
      for (let i = 0; i < count; i++) {
        const packet = this.read();
        this.write(packet, packet.address, packet.port);
      }
    },
  });
  const received: number[] = [];
  const client = openUDP({
    address: "127.0.0.1",
    onReadable(count) {
      for (let i = 0; i < count; i++) received.push(new Uint8Array(this.read())[1]);
    },
  });
  // rule: of the client's datagrams, let 2 through and drop the next 2 (numbers 2 and 3)
  const proxy = await startProxy([`server=127.0.0.1:${echo.port}`, "seed=7", "mtu=64", "reorder=30", "delay=20", "maxdelay=50", "rule=c2s:any:2:2", "lifetime=30"]);
  try {
    for (let n = 0; n < 40; n++) {
      // NON (0x50) with the number in byte 1; number 10 is too long for the mtu
      const datagram = new Uint8Array(n === 10 ? 100 : 8);
      datagram[0] = 0x50;
      datagram[1] = n;
      client.socket.write(datagram, "127.0.0.1", proxy.port);
      await sleep(2);
    }
    const expected = Array.from({ length: 40 }, (_, n) => n).filter((n) => n !== 2 && n !== 3 && n !== 10);
    await waitFor(() => new Set(received).size >= expected.length, 3000, "every datagram that should pass");
    await sleep(200);
    const counters = await proxy.stats();
    trace(`  received ${received.join(",")}; ${JSON.stringify(counters)}\n`);
    assert.deepEqual([...new Set(received)].sort((a, b) => a - b), expected, "exactly the datagrams no rule or mtu dropped, each at least once");
    assert.equal(counters.mtuDropped, 1, "the long one");
    assert.equal(counters.ruleDropped, 2, "the two the rule names");
    assert.ok(counters.reordered + counters.delayed > 0, "some held back");
    assert.ok(received.some((n, i) => i > 0 && n < received[i - 1]), `some arrived out of order: ${received}`);
    assert.equal(counters.dropped, 0);
    assert.equal(counters.active, 1, "one client, one upstream socket");
  } finally {
    echo.socket.close();
    client.socket.close();
    await stop(proxy.child);
  }
}, { timeout: 20000 });
