/* The host's ECMA-419 UDP socket: IPv4 and IPv6 loopback, and a node dgram peer in another process. */
import UDP from "embedded:io/socket/udp";
import { test, assert, waitFor } from "../lib/harness";
import { Child } from "../lib/process";
import { openUDP } from "../lib/net";

type Datagram = ArrayBuffer & { address: string; port: number };

function collect(): { received: Datagram[]; onReadable: (this: UDP, count: number) => void } {
  const received: Datagram[] = [];
  return {
    received,
    onReadable(count) {
      for (let i = 0; i < count; i++) received.push(this.read() as Datagram);
    },
  };
}

for (const address of ["127.0.0.1", "::1"]) {
  test(`two sockets exchange datagrams over ${address}`, async () => {
    const a = collect();
    const b = collect();
    const { socket: sa, port: pa } = openUDP({ address, onReadable: a.onReadable });
    const { socket: sb, port: pb } = openUDP({ address, onReadable: b.onReadable });
    try {
      sa.write(Uint8Array.of(1, 2, 3).buffer, address, pb);
      await waitFor(() => b.received.length === 1, 2000, "datagram at b");
      const got = b.received[0];
      assert.deepEqual(new Uint8Array(got), Uint8Array.of(1, 2, 3));
      assert.equal(got.address, address);
      assert.equal(got.port, pa);
      sb.write(ArrayBuffer.fromString("pong"), got.address, got.port);
      await waitFor(() => a.received.length === 1, 2000, "reply at a");
      assert.equal(String.fromArrayBuffer(a.received[0]), "pong");
    } finally {
      sa.close();
      sb.close();
    }
  });
}

test("a dual-stack socket (no address) talks to IPv4 and IPv6 peers", async () => {
  const server = collect();
  const client = collect();
  const { socket: s, port } = openUDP({ onReadable: server.onReadable });
  const { socket: c4 } = openUDP({ address: "127.0.0.1", onReadable: client.onReadable });
  const { socket: c6 } = openUDP({ address: "::1", onReadable: client.onReadable });
  try {
    c4.write(ArrayBuffer.fromString("v4"), "127.0.0.1", port);
    c6.write(ArrayBuffer.fromString("v6"), "::1", port);
    await waitFor(() => server.received.length === 2, 2000, "both datagrams");
    const byText = new Map(server.received.map((d) => [String.fromArrayBuffer(d), d.address]));
    assert.equal(byText.get("v4"), "127.0.0.1");
    assert.equal(byText.get("v6"), "::1");
  } finally {
    s.close();
    c4.close();
    c6.close();
  }
});

test("datagrams written in one turn (sent together) all arrive, in order, the last one written just before close", async () => {
  const b = collect();
  const { socket: sa } = openUDP({ address: "127.0.0.1" });
  const { socket: sb, port: pb } = openUDP({ address: "127.0.0.1", onReadable: b.onReadable });
  const COUNT = 201; // more than three of the host's send batches
  try {
    for (let i = 0; i < COUNT; i++) sa.write(Uint16Array.of(i).buffer, "127.0.0.1", pb);
    sa.close();
    await waitFor(() => b.received.length === COUNT, 3000, `${COUNT} datagrams (got ${b.received.length})`);
    assert.deepEqual(b.received.map((d) => new Uint16Array(d)[0]), Array.from({ length: COUNT }, (_, i) => i));
  } finally {
    sb.close();
  }
});

test("round trip with a node dgram peer in another process", async () => {
  const script = `
    const dgram = require("node:dgram");
    const s = dgram.createSocket("udp4");
    s.on("message", (m, r) => s.send(Buffer.from(m.toString("hex")), r.port, r.address));
    s.bind(0, "127.0.0.1", () => console.log("port " + s.address().port));
    setTimeout(() => process.exit(0), 20000);`;
  const peer = new Child(["node", "-e", script]);
  const mine = collect();
  const { socket } = openUDP({ address: "127.0.0.1", onReadable: mine.onReadable });
  try {
    const port = Number((await peer.waitFor(/port (\d+)/, 5000))[1]);
    socket.write(Uint8Array.of(0xde, 0xad, 0xbe, 0xef).buffer, "127.0.0.1", port);
    await waitFor(() => mine.received.length === 1, 3000, "echo from node");
    assert.equal(String.fromArrayBuffer(mine.received[0]), "deadbeef");
    assert.equal(mine.received[0].port, port);
  } finally {
    socket.close();
    peer.kill();
    await peer.wait();
  }
});

test("writes after close throw; a second close is harmless", () => {
  const { socket } = openUDP({ address: "127.0.0.1" });
  socket.close();
  socket.close();
  assert.throws(() => socket.write(new ArrayBuffer(1), "127.0.0.1", 9), /closed/);
});

test("invalid options and addresses are rejected", () => {
  assert.throws(() => new UDP({ port: 70000 }), RangeError);
  assert.throws(() => new UDP({ address: "not-an-address" }), RangeError);
  const { socket } = openUDP({ address: "127.0.0.1" });
  try {
    assert.throws(() => socket.write(new ArrayBuffer(1), "300.1.1.1", 5683), RangeError);
    assert.throws(() => socket.write(new ArrayBuffer(2000), "127.0.0.1", 5683), /too large/);
  } finally {
    socket.close();
  }
});
