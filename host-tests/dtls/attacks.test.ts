/*
 * An attacker on the node's network against the DtlsServer, in process with the
 * Loopback's hand-moved clock: forged plaintext records aimed at an established
 * session, half-open handshakes that hold the session table, newcomers that push out
 * an observer, refusals that flood the log, and log lines that say what happened.
 */
import { test, assert, seededRandom } from "../lib/harness";
import { DTLSContext, DTLSSession, ESTABLISHED, HANDSHAKING, SUITES } from "dtls-psk/binding";
import type { Peer } from "dtls-psk/server";
import { IDENTITY, KEY, Loopback, type TestClient } from "./loopback";
import { CONTENT_APPLICATION_DATA, CONTENT_HANDSHAKE, FORGED_EPOCH0, HANDSHAKE_HELLO_VERIFY_REQUEST, clientHello, clientHelloFragment, cookieOf, datagram, record, records } from "./records";

const text = (bytes: Uint8Array): string => String.fromArrayBuffer(bytes.slice().buffer as ArrayBuffer);
const bytesOf = (s: string): Uint8Array => new Uint8Array(ArrayBuffer.fromString(s));
const JUNK_BYTE = Uint8Array.of(0);

/** Every log line names a peer at most once: an entry id ("address|port#n") already holds the address. */
function peerNamedOnce(logs: string[]): void {
  for (const line of logs) {
    const names = line.match(/\d+\.\d+\.\d+\.\d+/g) ?? [];
    assert.ok(names.length <= 1, `a peer named ${names.length} times: ${line}`);
  }
}

/** The established session of `c` is untouched: no onClose, data both ways. */
function stillWorks(net: Loopback, c: TestClient, label: string): void {
  assert.deepEqual(net.closed, [], "no session ended");
  assert.equal(c.state, ESTABLISHED, "the client still has its session");
  const delivered = net.delivered.length;
  c.write(label);
  assert.equal(net.delivered.length, delivered + 1, `${label}: the client's record reaches onData`);
  assert.equal(text(net.delivered[delivered].data), label);
  assert.ok(net.server.write(c.peer, bytesOf(`re:${label}`), net.clock.now), "the server can still write");
  net.pump();
  assert.equal(text(c.received[c.received.length - 1]), `re:${label}`);
}

test("a forged 14-byte epoch-0 record from the victim's address and port leaves its established session working", () => {
  const net = new Loopback();
  try {
    const c = net.connect(40300);
    const sent = net.serverSent.length;
    net.server.receive(FORGED_EPOCH0, c.peer, net.clock.now);
    stillWorks(net, c, "after the forged record");
    assert.equal(net.serverSent.length, sent + 1, "nothing went out but the reply");
    assert.equal(net.server.stats().forged, 1);
    peerNamedOnce(net.logs);
  } finally {
    net.dispose();
  }
});

const random = seededRandom(0xd71);
const junkBody = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(random() * 256));

for (const [what, forged] of [
  ["the first fragment of a ClientHello", () => clientHelloFragment(20)],
  ["a ClientHello cut inside its session id", () => clientHello({ random }).subarray(0, 40)],
  ["an epoch-0 record after a junk epoch-1 record (a sequence number already seen)", () => datagram(record(CONTENT_APPLICATION_DATA, 1, 0, junkBody(29)), FORGED_EPOCH0)],
  ["an epoch-0 handshake record after a junk epoch-2 record", () => datagram(record(CONTENT_HANDSHAKE, 2, 7, junkBody(16)), FORGED_EPOCH0)],
] as const) {
  test(`${what} from the victim's address and port: dropped, counted, the session keeps working`, () => {
    const net = new Loopback();
    try {
      const c = net.connect(40310);
      for (let i = 0; i < 3; i++) net.server.receive(forged(), c.peer, net.clock.now);
      stillWorks(net, c, what);
      assert.equal(net.server.stats().forged, 3);
      assert.ok(net.logs.filter((line) => /forged/.test(line)).length <= 1, `at most one line for the episode:\n${net.logs.join("\n")}`);
      peerNamedOnce(net.logs);
    } finally {
      net.dispose();
    }
  });
}

test("record headers that run past the end of the datagram, from an established peer: dropped before Mbed TLS", () => {
  const net = new Loopback();
  try {
    const c = net.connect(40315);
    const cut = record(CONTENT_APPLICATION_DATA, 1, 9, junkBody(40)).subarray(0, 30); // length says 40, 17 bytes follow
    const trailing = datagram(record(CONTENT_APPLICATION_DATA, 1, 10, junkBody(24)), Uint8Array.of(23, 0xfe, 0xfd)); // a header cut short
    net.server.receive(cut, c.peer, net.clock.now);
    net.server.receive(trailing, c.peer, net.clock.now);
    net.server.receive(FORGED_EPOCH0, c.peer, net.clock.now);
    stillWorks(net, c, "after bad headers");
    assert.equal(net.server.stats().forged, 3);
  } finally {
    net.dispose();
  }
});

test("a retransmitted final flight (epoch-0 ClientKeyExchange and CCS, epoch-1 Finished) still gets the lost Finished again", () => {
  // the server's ChangeCipherSpec + Finished is lost once: the server is established, the client is not
  const net = new Loopback();
  try {
    const c = net.client(40318);
    let lost = 0;
    c.start();
    for (let round = 0; round < 20; round++) {
      let moved = false;
      while (c.inbox.length) {
        const d = c.inbox.shift()!;
        if (records(d).some((r) => r.type === 20) && lost++ === 0) continue; // the server's final flight: (NewSessionTicket,) CCS (epoch 0), Finished (epoch 1)
        c.session.receive(d, net.clock.now);
        c.flush();
        moved = true;
      }
      if (!moved) break;
    }
    assert.equal(lost, 1);
    assert.equal(net.server.stats().established, 1);
    assert.equal(c.state, HANDSHAKING);
    net.clock.skip(1000);
    net.tick(); // the client resends CKE + CCS (epoch 0) and Finished (epoch 1) in one datagram
    assert.equal(c.state, ESTABLISHED, "the server answered the retransmitted flight");
    stillWorks(net, c, "after recovery");
    assert.equal(net.server.stats().forged, 0, "a peer's own retransmission is no forgery");
    net.server.receive(FORGED_EPOCH0, c.peer, net.clock.now); // while a forged record is one
    stillWorks(net, c, "after a forged record");
    assert.equal(net.server.stats().forged, 1);
  } finally {
    net.dispose();
  }
});

test("after forged records, a cookie-verified ClientHello from the same port still replaces the session (RFC 6347 4.2.8)", () => {
  const net = new Loopback();
  try {
    const c = net.connect(40320);
    const id = net.server.sessionOf(c.peer);
    net.server.receive(FORGED_EPOCH0, c.peer, net.clock.now);
    net.server.receive(clientHelloFragment(20), c.peer, net.clock.now);
    assert.deepEqual(net.closed, [], "forged records end nothing");
    const hello = net.verifiedHello(c.peer, random);
    c.inbox.length = 0; // the HelloVerifyRequest went to the old client
    net.server.receive(hello, c.peer, net.clock.now);
    assert.deepEqual(net.closed.map((e) => [e.session, e.reason]), [[id, "client reconnected"]]);
    assert.equal(net.server.stats().handshaking, 1, "the new handshake has the address and port");
    assert.equal(net.server.sessionOf(c.peer), undefined);
  } finally {
    net.dispose();
  }
});

test("a late copy of the ClientHello that opened an established session (the network duplicated it) is no restart", () => {
  const net = new Loopback();
  try {
    const c = net.connect(40325);
    const id = net.server.sessionOf(c.peer);
    const opening = c.sent.find((datagram) => datagram[0] === 22 && datagram[13] === 1 && datagram.length > c.sent[0].length);
    assert.ok(opening, "the client's second ClientHello, with the cookie");
    net.server.receive(opening, c.peer, net.clock.now);
    assert.deepEqual(net.closed, [], "the session lives on");
    assert.equal(net.server.sessionOf(c.peer), id);
    stillWorks(net, c, "after the duplicated ClientHello");
  } finally {
    net.dispose();
  }
});

test("junk does not count as activity: a quiet session still goes idle while junk arrives every second", () => {
  const net = new Loopback({ idleTimeoutMs: 5000 });
  try {
    const c = net.connect(40330);
    const start = net.clock.now;
    for (let s = 1; s <= 5; s++) {
      net.clock.skip(1000);
      net.server.receive(JUNK_BYTE, c.peer, net.clock.now);
      net.server.receive(record(CONTENT_APPLICATION_DATA, 1, 100 + s, junkBody(29)), c.peer, net.clock.now); // fails its MAC
      net.tick();
    }
    assert.equal(net.clock.now - start, 5000);
    assert.deepEqual(net.closed.map((e) => e.reason), ["idle"], "closed 5 s after the last real activity");
  } finally {
    net.dispose();
  }
});

function attackerPeer(port: number): Peer {
  return { address: "192.0.2.66", port };
}

test("maxSessions half-open handshakes kept alive with junk every 5 s: a legitimate client connects in one handshake", () => {
  const net = new Loopback(); // maxSessions 8
  try {
    const attackers = Array.from({ length: 8 }, (_, i) => attackerPeer(30000 + i));
    for (const peer of attackers) net.halfOpen(peer, random);
    assert.equal(net.server.stats().handshaking, 8);
    for (let round = 0; round < 2; round++) {
      net.clock.skip(5000);
      for (const peer of attackers) net.server.receive(JUNK_BYTE, peer, net.clock.now);
      net.tick();
    }
    assert.equal(net.server.stats().handshaking, 8, "still there after 10 s (handshakeTimeoutMs is 15 s)");
    const logged = net.logs.length;
    const c = net.connect(40340); // the clock does not move
    assert.equal(c.state, ESTABLISHED, `refused: ${net.logs.slice(logged).join("\n")}`);
    const stats = net.server.stats();
    assert.equal(stats.established, 1);
    assert.equal(stats.handshaking, 7, "the oldest half-open handshake gave way");
    assert.equal(stats.refused, 0);
    assert.deepEqual(net.closed.map((e) => [e.peer.port, e.reason]), [[30000, "evicted for a new peer"]]);
    net.closed.length = 0;
    stillWorks(net, c, "served");
    peerNamedOnce(net.logs);
  } finally {
    net.dispose();
  }
});

test("a half-open handshake is freed handshakeTimeoutMs after it opened, junk or not; nextDeadline() names that time", () => {
  for (const [options, timeout] of [[{}, 15_000], [{ handshakeTimeoutMs: 10_000 }, 10_000]] as const) {
    const net = new Loopback(options);
    try {
      const peer = attackerPeer(31000);
      net.halfOpen(peer, random);
      const opened = net.clock.now;
      const deadlines: number[] = [];
      for (let i = 0; i < 20 && net.server.stats().sessions > 0; i++) {
        const deadline = net.server.nextDeadline()!;
        deadlines.push(deadline - opened);
        net.clock.now = deadline;
        net.server.receive(JUNK_BYTE, peer, net.clock.now);
        net.server.tick(net.clock.now);
      }
      trace(`  handshakeTimeoutMs ${timeout}: deadlines ${deadlines.join(", ")} ms after the ClientHello\n`);
      assert.equal(net.server.stats().sessions, 0);
      assert.equal(net.clock.now - opened, timeout, "freed at the deadline");
      assert.deepEqual(net.closed.map((e) => e.reason), ["handshake deadline passed"]);
      assert.deepEqual(net.closed.map((e) => e.kind), ["deadline"]);
      assert.equal(net.server.stats().handshakesExpired, 1);
      assert.equal(deadlines[deadlines.length - 1], timeout, "nextDeadline() gave the hard deadline");
      assert.ok(net.logs.every((line) => !/no credentials presented/.test(line)), net.logs.join("\n"));
    } finally {
      net.dispose();
    }
  }
});

test("keep(): a kept quiet observer is never evicted for a newcomer; an unkept quiet session is, then half-open handshakes give way to each other", () => {
  const kept = new Set<string>();
  const net = new Loopback({ maxSessions: 2, evictQuietMs: 10_000, keep: (_peer: Peer, session: string) => kept.has(session) });
  try {
    const observer = net.connect(40400);
    kept.add(net.server.sessionOf(observer.peer)!);
    const plain = net.connect(40401);
    net.clock.skip(20_000); // both quiet; the observer the longer
    for (let i = 0; i < 10; i++) net.halfOpen(attackerPeer(32000 + i), random);
    assert.deepEqual([net.closed[0]?.peer.port, net.closed[0]?.reason], [plain.peer.port, "evicted for a new peer"], "the unkept one gave way first");
    assert.equal(net.closed.length, 10, "then each half-open handshake pushed out the one before");
    assert.ok(net.closed.slice(1).every((e) => e.peer.address === "192.0.2.66"));
    net.closed.length = 0;
    stillWorks(net, observer, "observer");
    const c = net.connect(40402); // the last half-open handshake gives way
    assert.equal(c.state, ESTABLISHED);
    net.closed.length = 0;
    const d = net.client(40403);
    d.start();
    net.pump();
    assert.equal(d.state, HANDSHAKING, "refused: the observer is kept, the other is busy");
    assert.equal(net.server.stats().refused, 1);
    net.clock.skip(11_000);
    net.tick(); // d's ClientHello again: c is quiet now and not kept
    assert.equal(d.state, ESTABLISHED, net.logs.join("\n"));
    assert.deepEqual(net.closed.map((e) => [e.peer.port, e.reason]), [[40402, "evicted for a new peer"]]);
    net.closed.length = 0;
    stillWorks(net, observer, "observer again");
    peerNamedOnce(net.logs);
  } finally {
    net.dispose();
  }
});

test("1,000 refused newcomers log one line; a refusal after 60 quiet seconds starts a new episode with one more", () => {
  const net = new Loopback({ maxSessions: 1, keep: () => true });
  try {
    net.connect(40500);
    const before = net.logs.length;
    for (let i = 0; i < 1000; i++) {
      net.halfOpen(attackerPeer(33000 + i), random);
      if (i >= 500) net.clock.skip(100); // 50 s of refusals, never 60 s apart
    }
    const lines = net.logs.slice(before);
    assert.equal(lines.length, 1, lines.slice(0, 3).join("\n"));
    assert.match(lines[0], /refused/);
    assert.equal(net.server.stats().refused, 1000);
    assert.equal(net.server.stats().handshaking, 0);
    net.clock.skip(60_000);
    net.halfOpen(attackerPeer(34000), random);
    net.halfOpen(attackerPeer(34001), random);
    const after = net.logs.slice(before);
    assert.equal(after.length, 2, after.join("\n"));
    assert.match(after[1], /1000/, "the new episode's line counts the one before");
    peerNamedOnce(net.logs);
  } finally {
    net.dispose();
  }
});

test("no shared cipher suite: the log says so, and does not claim the client presented no credentials; a wrong key names the identity", () => {
  const net = new Loopback({ suites: [SUITES.PSK_WITH_AES_128_CCM_8] });
  try {
    const c = net.client(40600, IDENTITY, KEY, 0, [SUITES.PSK_WITH_AES_128_GCM_SHA256]);
    c.start();
    net.pump();
    assert.equal(net.server.stats().sessions, 0);
    assert.deepEqual(net.closed.map((e) => e.reason), ["no shared cipher suite"]);
    assert.deepEqual(net.closed.map((e) => e.kind), ["failed"]);
    const line = net.logs.find((l) => l.includes("failed:")) ?? "";
    assert.match(line, /failed: no shared cipher suite$/);
    assert.ok(!line.includes("no credentials presented"), line);
    // the credential part where the client did present one
    net.connect(40610, IDENTITY, bytesOf("wrong_key"));
    net.connect(40611);
    assert.match(net.logs.join("\n"), /failed: bad record mac \(wrong key\?\) \(identity "CoAP"\)/);
    assert.match(net.logs.join("\n"), /established \(TLS-PSK-WITH-AES-128-CCM-8, identity "CoAP"\)/);
    assert.ok(!net.logs.some((l) => l.includes("no credentials presented")), net.logs.join("\n"));
    peerNamedOnce(net.logs);
  } finally {
    net.dispose();
  }
});

test("the cookie hello() just accepted spares Mbed TLS's second HMAC only for the peer it was checked for: another peer's session asks again", () => {
  const context = new DTLSContext({ identity: ArrayBuffer.fromString(IDENTITY), key: KEY.slice().buffer as ArrayBuffer });
  const sessions: DTLSSession[] = [];
  /** the handshake type of a session's first datagram out after `hello` */
  const firstAnswer = (peer: string, hello: Uint8Array): number => {
    const session = new DTLSSession(context, peer);
    sessions.push(session);
    session.receive(hello, 0);
    const out = session.output();
    return out ? new Uint8Array(out)[13] : -1;
  };
  try {
    const verify = context.hello(clientHello(), "10.0.0.1|1000");
    assert.ok(verify instanceof ArrayBuffer, "a HelloVerifyRequest");
    const hello = clientHello({ cookie: cookieOf(new Uint8Array(verify)), sequence: 1 });
    assert.equal(context.hello(hello, "10.0.0.1|1000"), true);
    // the same hello from another address and port: the cookie proves 10.0.0.1|1000, not this one
    assert.equal(firstAnswer("10.0.0.2|2000", hello), HANDSHAKE_HELLO_VERIFY_REQUEST, "Mbed TLS checked the cookie for this peer and refused it");
    assert.equal(context.hello(hello, "10.0.0.1|1000"), true);
    assert.equal(firstAnswer("10.0.0.1|1000", hello), 2, "a ServerHello for the peer the cookie was made for");
  } finally {
    for (const session of sessions) session.close();
    context.close();
  }
});
