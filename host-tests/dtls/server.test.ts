/*
 * DtlsServer against in-process clients of the binding (client mode), with an
 * injected clock: handshake and data, cookies, failed handshakes, session limit,
 * idle eviction, retransmission, replay, reconnect, memory, and a record-path fuzz.
 */
import { test, assert, seededRandom } from "../lib/harness";
import { CLOSED, ESTABLISHED, FAILED, HANDSHAKING, SUITES } from "dtls-psk/binding";
import { nativeFigures } from "./heap";
import { DEFAULT_SESSION_CACHE, DtlsServer } from "dtls-psk/server";
import { pskFromConfig } from "dtls-psk/credentials";
import { KEY, Loopback } from "./loopback";
import { CONTENT_ALERT, CONTENT_APPLICATION_DATA, clientHello, cookieOf, records } from "./records";


const text = (bytes: Uint8Array): string => String.fromArrayBuffer(bytes.slice().buffer as ArrayBuffer);
const bytesOf = (s: string): Uint8Array => new Uint8Array(ArrayBuffer.fromString(s));

function noKeyIn(logs: string[]): void {
  for (const line of logs) assert.ok(!line.includes("esp32c3_key") && !line.includes("wrong_key"), `key in log: ${line}`);
}

test("a client completes the handshake and application data flows both ways", () => {
  const net = new Loopback();
  try {
    const c = net.connect(40001);
    assert.equal(c.state, ESTABLISHED, net.logs.join("\n"));
    assert.deepEqual(net.server.stats().established, 1);
    c.write("hello");
    assert.equal(net.delivered.length, 1);
    assert.equal(text(net.delivered[0].data), "hello");
    assert.equal(net.delivered[0].peer.port, 40001);
    assert.equal(net.delivered[0].session, net.server.sessionOf(c.peer));
    assert.ok(net.server.write(c.peer, bytesOf("back"), net.clock.now));
    net.pump();
    assert.equal(c.received.length, 1);
    assert.equal(text(c.received[0]), "back");
    assert.equal(net.server.write({ address: "127.0.0.1", port: 1 }, bytesOf("x"), net.clock.now), false, "no session, no write");
  } finally {
    net.dispose();
  }
});

for (const [name, suite] of Object.entries(SUITES)) {
  test(`cipher suite ${name} negotiates; bytes per established session`, () => {
    const net = new Loopback({ suites: [suite] });
    try {
      const c = net.connect(40002);
      assert.equal(c.state, ESTABLISHED, net.logs.join("\n"));
      const log = net.logs.find((line) => line.includes("established")) ?? "";
      assert.match(log, new RegExp(name.replace(/_/g, "-")));
      c.write("ping");
      assert.equal(text(net.delivered[0].data), "ping");
      trace(`  ${name}: ${net.serverBytes} bytes per established server session\n`);
      assert.atLeast(net.serverBytes, 1000, "an established session holds its record buffers");
    } finally {
      net.dispose();
    }
  });
}

test("the first ClientHello gets a HelloVerifyRequest no larger than itself and no session", () => {
  const net = new Loopback();
  try {
    const c = net.client(40003);
    c.start();
    assert.equal(net.serverSent.length, 1);
    const hvr = net.serverSent[0].datagram;
    assert.ok(cookieOf(hvr), "a HelloVerifyRequest");
    assert.ok(hvr.length <= c.sent[0].length, `${hvr.length} > ${c.sent[0].length}`);
    assert.equal(net.server.stats().sessions, 0);
    net.pump();
    assert.equal(c.state, ESTABLISHED);
  } finally {
    net.dispose();
  }
});

test("1,000 ClientHellos without cookies from 1,000 source ports: a small HelloVerifyRequest each, 0 sessions, no memory", () => {
  const net = new Loopback();
  try {
    const before = nativeFigures().bytes;
    const random = seededRandom(1000);
    let largest = 0;
    for (let port = 20000; port < 21000; port++) {
      const hello = clientHello({ sequence: port & 0xffff, random });
      const sent = net.serverSent.length;
      net.server.receive(hello, { address: "192.0.2.7", port }, net.clock.now);
      assert.equal(net.serverSent.length, sent + 1, `an answer for port ${port}`);
      const hvr = net.serverSent[sent].datagram;
      assert.ok(cookieOf(hvr), "a HelloVerifyRequest");
      assert.ok(hvr.length <= hello.length, `HVR ${hvr.length} > ClientHello ${hello.length}`);
      assert.deepEqual(hvr.subarray(5, 11), hello.subarray(5, 11), "the record sequence number of the ClientHello");
      largest = Math.max(largest, hvr.length);
    }
    const stats = net.server.stats();
    assert.equal(stats.sessions, 0);
    assert.equal(stats.helloVerifyRequests, 1000);
    assert.equal(nativeFigures().bytes, before, "no heap held for cookie-less peers");
    trace(`  1000 HelloVerifyRequests of at most ${largest} bytes for ClientHellos of ${clientHello().length}\n`);
  } finally {
    net.dispose();
  }
});

test("forged or misdirected cookies get another HelloVerifyRequest, never a session", () => {
  const net = new Loopback();
  try {
    const peer = { address: "192.0.2.8", port: 5000 };
    net.server.receive(clientHello(), peer, net.clock.now);
    const cookie = cookieOf(net.serverSent[0].datagram)!;
    net.server.receive(clientHello({ cookie }), { address: "192.0.2.8", port: 5001 }, net.clock.now); // another port
    net.server.receive(clientHello({ cookie }), { address: "192.0.2.9", port: 5000 }, net.clock.now); // another address
    const forged = cookie.slice();
    forged[forged.length - 1] ^= 1;
    net.server.receive(clientHello({ cookie: forged }), peer, net.clock.now);
    assert.equal(net.server.stats().sessions, 0);
    assert.equal(net.server.stats().helloVerifyRequests, 4);
    net.server.receive(clientHello({ cookie }), peer, net.clock.now); // the right one starts a handshake
    assert.equal(net.server.stats().handshaking, 1);
  } finally {
    net.dispose();
  }
});

test("datagrams from unknown peers that are not ClientHellos are dropped silently", () => {
  const net = new Loopback();
  try {
    const peer = { address: "192.0.2.10", port: 6000 };
    const junk = [
      new Uint8Array(0),
      Uint8Array.of(23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 1, 0, 4, 1, 2, 3, 4), // application data, epoch 1
      Uint8Array.of(21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 40), // alert
      clientHello().subarray(0, 30), // truncated ClientHello
      Uint8Array.of(0x40, 0x01, 0x12, 0x34), // plain CoAP
    ];
    for (const d of junk) net.server.receive(d, peer, net.clock.now);
    assert.equal(net.serverSent.length, 0);
    assert.equal(net.server.stats().sessions, 0);
    assert.equal(net.server.stats().dropped, junk.length);
  } finally {
    net.dispose();
  }
});

for (const [what, identity, key, reason] of [
  ["a wrong key", "CoAP", bytesOf("wrong_key"), /bad record mac/],
  ["a wrong identity", "Wrong", KEY, /unknown psk identity/],
] as const) {
  test(`${what}: fatal alert, no session left, the next right client succeeds`, () => {
    const net = new Loopback();
    try {
      const bad = net.client(40010, identity, key);
      bad.start();
      net.pump();
      assert.equal(bad.state, FAILED, "the client saw the handshake fail");
      const last = net.serverSent[net.serverSent.length - 1].datagram;
      const header = records(last)[0];
      assert.equal(header.type, CONTENT_ALERT, "the server's last word is an alert");
      if (header.epoch === 0) assert.equal(last[13], 2, "fatal");
      assert.equal(net.server.stats().sessions, 0);
      assert.equal(net.server.stats().handshakesFailed, 1);
      assert.equal(net.closed.length, 1);
      assert.match(net.closed[0].reason, reason);
      assert.ok(net.logs.some((line) => reason.test(line)), net.logs.join("\n"));
      noKeyIn(net.logs);
      const good = net.connect(40011);
      assert.equal(good.state, ESTABLISHED);
    } finally {
      net.dispose();
    }
  });
}

test("session limit: a full table of busy sessions refuses a new peer; a quiet one yields to it", () => {
  const net = new Loopback({ maxSessions: 2, evictQuietMs: 10_000 });
  try {
    const a = net.connect(40020);
    const b = net.connect(40021);
    net.clock.skip(5000);
    b.write("busy");
    const c = net.client(40022);
    c.start();
    net.pump();
    assert.equal(c.state, HANDSHAKING, "refused while both are busy");
    assert.equal(net.server.stats().sessions, 2);
    assert.equal(net.server.stats().refused, 1);
    net.clock.skip(6000); // a quiet for 11 s, b for 6 s
    net.tick(); // c's retransmission timer fires: its ClientHello (valid cookie) comes again
    assert.equal(c.state, ESTABLISHED, net.logs.join("\n"));
    assert.equal(net.server.stats().sessions, 2);
    assert.equal(net.closed.length, 1);
    assert.equal(net.closed[0].peer.port, 40020);
    assert.equal(net.closed[0].reason, "evicted for a new peer");
    assert.equal(net.closed[0].kind, "evicted");
    assert.equal(a.state, CLOSED, "the evicted client got close_notify");
    assert.equal(b.state, ESTABLISHED);
  } finally {
    net.dispose();
  }
});

test("two peers on the same port at different addresses: each datagram reaches its own session, before and after the other ends", () => {
  const net = new Loopback();
  try {
    const a = net.connect(40040);
    const b = net.clientAt("127.0.0.2", 40040); // opened last: the one the server finds by port first
    b.start();
    net.pump();
    assert.equal(net.server.stats().established, 2);
    const from = () => net.delivered.map((d) => `${d.peer.address}:${String.fromArrayBuffer(d.data.slice().buffer as ArrayBuffer)}`);
    a.write("from a");
    b.write("from b");
    assert.deepEqual(from(), ["127.0.0.1:from a", "127.0.0.2:from b"]);
    assert.ok(net.server.write(net.delivered[0].peer, bytesOf("to a"), net.clock.now));
    assert.ok(net.server.write(net.delivered[1].peer, bytesOf("to b"), net.clock.now));
    net.pump();
    assert.deepEqual([a.received.map((r) => String.fromArrayBuffer(r.slice().buffer as ArrayBuffer)), b.received.map((r) => String.fromArrayBuffer(r.slice().buffer as ArrayBuffer))], [["to a"], ["to b"]]);
    net.server.close(b.peer, net.clock.now);
    a.write("a again");
    assert.deepEqual(from().slice(2), ["127.0.0.1:a again"]);
    assert.equal(net.server.stats().established, 1);
  } finally {
    net.dispose();
  }
});

test("idle eviction: a session quiet for idleTimeoutMs is closed with close_notify", () => {
  const net = new Loopback({ idleTimeoutMs: 5000 });
  try {
    const a = net.connect(40030);
    const start = net.clock.now;
    assert.equal(net.server.nextDeadline(), start + 5000);
    net.clock.skip(3000);
    assert.ok(net.server.write(a.peer, bytesOf("notification"), net.clock.now), "a write is activity");
    // nextDeadline() may still name the old deadline (it is worked out again lazily: an earlier wake-up costs a tick that finds nothing)
    assert.ok([start + 5000, start + 8000].includes(net.server.nextDeadline()!), `deadline ${net.server.nextDeadline()! - start}`);
    net.clock.skip(2000);
    net.tick();
    assert.equal(net.server.stats().sessions, 1, "not closed at the old deadline");
    assert.equal(net.server.nextDeadline(), start + 8000);
    net.clock.skip(2999);
    net.tick();
    assert.equal(net.server.stats().sessions, 1);
    net.clock.skip(1);
    net.tick();
    assert.equal(net.server.stats().sessions, 0);
    assert.equal(net.server.nextDeadline(), undefined);
    assert.equal(net.closed[0].reason, "idle");
    assert.equal(net.closed[0].kind, "idle");
    assert.equal(a.state, CLOSED);
  } finally {
    net.dispose();
  }
});

test("a lost flight is retransmitted when the deadline passes", () => {
  const net = new Loopback();
  try {
    let dropped = 0;
    // lose the client's final flight (ClientKeyExchange, ChangeCipherSpec, Finished) once
    net.drop = (datagram) => records(datagram).some((r) => r.epoch === 1) && dropped++ === 0;
    const c = net.connect(40040);
    assert.equal(c.state, HANDSHAKING);
    const deadline = net.server.nextDeadline()!;
    assert.equal(deadline, net.clock.now + 1000, "RFC 6347: 1 s initial timer");
    const sent = net.serverSent.length;
    net.clock.skip(1000);
    net.tick();
    assert.ok(net.serverSent.length > sent, "the server resent its flight");
    assert.equal(c.state, ESTABLISHED, net.logs.join("\n"));
    assert.equal(net.server.stats().established, 1);
  } finally {
    net.dispose();
  }
});

test("nextDeadline(): a handshake that starts after an answer was given adds its own deadlines to it", () => {
  const net = new Loopback({ handshakeTimeoutMs: 5000 });
  try {
    assert.equal(net.server.nextDeadline(), undefined, "no session: nothing due");
    // the client's final flight is lost: the server's flight waits for its retransmission timer
    net.drop = (datagram) => records(datagram).some((r) => r.epoch === 1);
    const c = net.client(40045);
    c.start();
    net.pump();
    assert.equal(net.server.stats().handshaking, 1);
    assert.equal(net.server.nextDeadline(), net.clock.now + 1000, "the retransmission timer, known without a new scan");
    net.clock.skip(1000);
    net.server.tick(net.clock.now);
    assert.equal(net.server.nextDeadline(), net.clock.now + 2000, "after a tick: the doubled timer");
    net.clock.skip(2000);
    net.server.tick(net.clock.now);
    assert.equal(net.server.nextDeadline(), net.clock.now + 2000, "then the handshake's own limit (5 s after its ClientHello)");
    net.clock.skip(2000);
    net.server.tick(net.clock.now);
    assert.equal(net.server.stats().sessions, 0, "freed at its limit");
  } finally {
    net.dispose();
  }
});

test("a peer that vanishes mid-handshake: doubling timer up to 60 s, then freed", () => {
  // Mbed TLS's own give-up: the server's hard handshake deadline (attacks.test.ts) moved out of the way
  const net = new Loopback({ idleTimeoutMs: 10_000_000, handshakeTimeoutMs: 10_000_000 });
  try {
    let helloWithCookie = false;
    net.drop = (datagram) => {
      if (records(datagram).some((r) => r.epoch === 1)) return true;
      if (datagram[13] === 1 && datagram[60] > 0) {
        // the second ClientHello (cookie) passes once; everything after is lost
        if (helloWithCookie) return true;
        helloWithCookie = true;
      }
      return false;
    };
    const c = net.client(40050);
    c.start();
    net.pump();
    assert.equal(net.server.stats().handshaking, 1);
    const intervals: number[] = [];
    for (let i = 0; i < 20 && net.server.stats().sessions > 0; i++) {
      const deadline = net.server.nextDeadline()!;
      intervals.push(deadline - net.clock.now);
      net.clock.now = deadline;
      net.server.tick(net.clock.now);
    }
    trace(`  retransmission intervals: ${intervals.join(", ")} ms\n`);
    assert.deepEqual(intervals.slice(0, 4), [1000, 2000, 4000, 8000]);
    assert.ok(intervals.every((ms) => ms <= 60_000));
    assert.equal(net.server.stats().sessions, 0);
    assert.equal(net.closed[0].reason, "handshake timed out");
    assert.equal(net.closed[0].kind, "timeout");
  } finally {
    net.dispose();
  }
});

test("a replayed application record is dropped and does not reach onData again; a tampered one neither", () => {
  const net = new Loopback();
  try {
    const c = net.connect(40060);
    c.write("once");
    assert.equal(net.delivered.length, 1);
    const record = c.sent[c.sent.length - 1];
    assert.equal(records(record)[0].type, CONTENT_APPLICATION_DATA);
    for (let i = 0; i < 3; i++) net.server.receive(record.slice(), c.peer, net.clock.now);
    assert.equal(net.delivered.length, 1, "replays dropped");
    const tampered = record.slice();
    tampered[tampered.length - 1] ^= 0x80;
    net.server.receive(tampered, c.peer, net.clock.now);
    net.server.receive(record.slice(), { address: "127.0.0.1", port: 40061 }, net.clock.now); // same record, another port
    assert.equal(net.delivered.length, 1);
    assert.equal(net.server.stats().established, 1, "the session survives");
    c.write("twice");
    assert.equal(net.delivered.length, 2);
    assert.equal(text(net.delivered[1].data), "twice");
  } finally {
    net.dispose();
  }
});

test("close_notify both ways", () => {
  const net = new Loopback();
  try {
    const a = net.connect(40070);
    const b = net.connect(40071);
    a.write("one");
    a.write("two");
    a.close();
    assert.equal(net.server.stats().sessions, 1);
    assert.equal(net.closed[0].reason, "close_notify from peer");
    assert.equal(net.closed[0].kind, "peer-closed");
    assert.equal(net.closed[0].delivered, 2, "onClose says how many records the session delivered");
    const answer = net.serverSent[net.serverSent.length - 1];
    assert.equal(answer.peer.port, 40070);
    assert.equal(records(answer.datagram)[0].type, CONTENT_ALERT, "close_notify answered");
    net.server.close(b.peer, net.clock.now);
    net.pump();
    assert.equal(b.state, CLOSED);
    assert.equal(net.closed[1].delivered, 0, "one that carried no data: 0");
    assert.equal(net.server.stats().sessions, 0);
    net.connect(40072);
    net.connect(40073);
    net.server.closeAll(net.clock.now);
    net.pump();
    assert.equal(net.server.stats().sessions, 0);
    assert.equal(net.closed.length, 4);
  } finally {
    net.dispose();
  }
});

test("a new handshake from the same address and port replaces the established session", () => {
  const net = new Loopback();
  try {
    const first = net.connect(40080);
    const id = net.server.sessionOf(first.peer);
    net.clients.delete(40080);
    first.dispose();
    const second = net.connect(40080);
    assert.equal(second.state, ESTABLISHED);
    assert.equal(net.closed.length, 1);
    assert.equal(net.closed[0].session, id);
    assert.equal(net.closed[0].reason, "client reconnected");
    assert.equal(net.closed[0].kind, "reconnected");
    assert.notEqual(net.server.sessionOf(second.peer), id);
    second.write("new");
    assert.equal(net.delivered[0].session, net.server.sessionOf(second.peer));
  } finally {
    net.dispose();
  }
});

test("a new handshake from the address and port of a half-open one replaces it: the old flight is not replayed to the new client", () => {
  // a client that restarts mid-handshake from the same port (a rebooted device, or the kernel giving a
  // closed socket's port to the next one): its cookie-verified ClientHello has another random
  const net = new Loopback();
  try {
    net.halfOpen({ address: "127.0.0.1", port: 40085 }, seededRandom(85));
    assert.equal(net.server.stats().handshaking, 1);
    const opened = net.server.stats().handshakesCompleted;
    const c = net.connect(40085);
    assert.equal(c.state, ESTABLISHED, net.logs.join("\n"));
    assert.equal(net.server.stats().sessions, 1);
    assert.equal(net.server.stats().handshakesCompleted, opened + 1);
    assert.equal(net.server.stats().handshakesFailed, 0, net.logs.join("\n"));
    assert.equal(net.closed.length, 1);
    assert.equal(net.closed[0].kind, "reconnected");
    c.write("after");
    assert.equal(text(net.delivered[0].data), "after");
    // a retransmitted ClientHello (the same random) is no new handshake: the server's flight again, the same session
    const peer = { address: "127.0.0.1", port: 40086 };
    const hello = net.verifiedHello(peer, () => 0.25);
    net.server.receive(hello, peer, net.clock.now);
    const sent = net.serverSent.length;
    const retransmitted = hello.slice();
    retransmitted[10]++; // a retransmission is a new record (its own sequence number), with the same message
    net.server.receive(retransmitted, peer, net.clock.now);
    assert.ok(net.serverSent.length > sent, "the flight is sent again");
    assert.equal(net.server.stats().sessions, 2);
    assert.equal(net.closed.length, 1);
  } finally {
    net.dispose();
  }
});

test("onData's peer is one frozen object per session, with its id; write() to it after its session ended sends nothing", () => {
  const net = new Loopback();
  try {
    const first = net.connect(40081);
    first.write("a");
    first.write("b");
    const [a, b] = net.delivered;
    assert.equal(a.peer, b.peer, "the same object for every datagram of a session");
    assert.ok(Object.isFrozen(a.peer));
    assert.deepEqual({ ...a.peer }, { address: "127.0.0.1", port: 40081, session: a.session });
    assert.ok(net.server.write(a.peer, bytesOf("to the first"), net.clock.now));
    net.clients.delete(40081);
    first.dispose();
    const second = net.connect(40081);
    const sent = net.serverSent.length;
    assert.equal(net.server.write(a.peer, bytesOf("late answer to the first"), net.clock.now), false, "the first session ended: its messages go nowhere");
    assert.equal(net.serverSent.length, sent, "nothing sent to the second session");
    assert.ok(net.server.write({ address: "127.0.0.1", port: 40081 }, bytesOf("to whoever is there"), net.clock.now));
    second.write("c");
    assert.notEqual(net.delivered[2].peer, a.peer);
    assert.equal(net.delivered[2].peer.session, net.server.sessionOf(second.peer));
  } finally {
    net.dispose();
  }
});

test("200 handshakes and closes leave no session and no byte behind but the session-ID cache's entries, at most its bound", () => {
  const net = new Loopback();
  try {
    const baseline = nativeFigures();
    let perSession = 0;
    let cacheFull = 0;
    for (let i = 0; i < 200; i++) {
      if (i === DEFAULT_SESSION_CACHE) cacheFull = nativeFigures().bytes; // the clients take no tickets: each full handshake is cached
      const before = net.serverBytes;
      const c = net.connect(41000 + i);
      assert.equal(c.state, ESTABLISHED);
      c.write("x");
      perSession = net.serverBytes - before;
      if (i % 2) c.close();
      else net.server.close(c.peer, net.clock.now);
      net.pump();
      net.clients.delete(c.peer.port);
      c.dispose();
    }
    const after = nativeFigures();
    assert.equal(net.delivered.length, 200);
    assert.equal(net.server.stats().sessions, 0);
    assert.equal(after.sessions, baseline.sessions, "native sessions");
    assert.equal(after.bytes, cacheFull, "heap bytes: what they were once the cache was full");
    const perEntry = (cacheFull - baseline.bytes) / DEFAULT_SESSION_CACHE;
    assert.ok(perEntry > 0 && perEntry < 512, `${perEntry} B per cached session`);
    trace(`  200 handshakes: ${perSession} bytes per established session, ${after.bytes} bytes held afterwards (server context + RNG + ${DEFAULT_SESSION_CACHE} cached sessions of ${perEntry} B)\n`);
  } finally {
    net.dispose();
  }
});

test("fuzzed datagrams never throw, never leak, and leave an established session working", () => {
  const net = new Loopback({ sessionCache: 0 }); // no cached session: every byte left would be a leak
  try {
    const random = seededRandom(0x5eed);
    const baseline = nativeFigures();
    const c = net.connect(40090);
    c.write("before");
    const samples = [...c.sent, ...net.serverSent.map((s) => s.datagram), clientHello()];
    for (let i = 0; i < 1000; i++) {
      const base = samples[Math.floor(random() * samples.length)].slice();
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) base[Math.floor(random() * base.length)] = Math.floor(random() * 256);
      const cut = random() < 0.2 ? base.subarray(0, Math.floor(random() * base.length)) : base;
      const port = random() < 0.5 ? 40090 : 42000 + Math.floor(random() * 50);
      net.server.receive(cut, { address: "127.0.0.1", port }, net.clock.now);
    }
    // a datagram dropped by an exception (server.ts's catch), not one the reassembly refused
    const thrown = net.logs.filter((line) => line.startsWith("dtls: datagram from"));
    assert.ok(thrown.length === 0, thrown.join("\n"));
    const stats = net.server.stats();
    trace(`  fuzz: ${stats.sessions} sessions, ${stats.helloVerifyRequests} HVRs, ${stats.dropped} dropped\n`);
    if (net.server.sessionOf(c.peer)) {
      c.write("after");
      assert.equal(text(net.delivered[net.delivered.length - 1].data), "after");
    }
    net.server.closeAll(net.clock.now);
    net.pump();
    for (const client of net.clients.values()) client.dispose();
    net.clients.clear();
    assert.equal(nativeFigures().sessions, baseline.sessions, "no native session left");
    assert.equal(nativeFigures().bytes, baseline.bytes, "no bytes left by fuzzed sessions");
  } finally {
    net.dispose();
  }
});

test("credentials: defaults are CoAP / esp32c3_key; bad keys are refused without echoing them", () => {
  const psk = pskFromConfig();
  assert.equal(psk.identity, "CoAP");
  assert.deepEqual(psk.key, KEY);
  assert.deepEqual(pskFromConfig({ keyHex: "0102ff" }).key, Uint8Array.of(1, 2, 255));
  const error = assert.throws(() => pskFromConfig({ key: "a-secret-key-that-is-far-too-long-for-psk" })) as Error;
  assert.ok(!error.message.includes("secret"), "the key is not in the error");
  assert.throws(() => new DtlsServer({ identity: "CoAP", key: new Uint8Array(0), send() {}, onData() {} }), RangeError);
});
