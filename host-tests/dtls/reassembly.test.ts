/*
 * Fragmented ClientHellos (RFC 6347 4.2.3), joined by the session table before Mbed TLS
 * sees them (dtls-psk/reassembly.ts): the joiner alone (in order, out of order,
 * overlapping, contradicting, oversized claims, too many pieces, floods, deadlines,
 * its memory), then real Mbed TLS clients whose cookie-bearing ClientHello reaches
 * the server in pieces, then OpenSSL's and GnuTLS's command-line clients at MTU 256.
 */
import { test, assert, seededRandom, toHex } from "../lib/harness";
import { available, run } from "../lib/process";
import { gc, heapBytes } from "host/runtime";
import { HelloReassembly, helloFragments, isHelloFragment } from "dtls-psk/reassembly";
import { Loopback, isEstablished, type TestClient } from "./loopback";
import { clientHello, clientHelloFragment, cookieOf } from "./records";
import { startFixture } from "./fixture";

const LIMITS = { maxPending: 4, maxBytes: 1536, timeoutMs: 5000 };

/** `hello` (one record holding a whole ClientHello) cut into records of the given [offset, size] pieces, record sequence numbers from the hello's own upwards. */
function pieces(hello: Uint8Array, cuts: [number, number][]): Uint8Array[] {
  const length = (hello[14] << 16) | (hello[15] << 8) | hello[16];
  const sequence = (hello[9] << 8) | hello[10];
  return cuts.map(([offset, size], i) => {
    const out = new Uint8Array(25 + size);
    out.set(hello.subarray(0, 25));
    const seq = sequence + i;
    out[9] = (seq >> 8) & 0xff;
    out[10] = seq & 0xff;
    out[11] = (12 + size) >> 8;
    out[12] = (12 + size) & 0xff;
    out.set([offset >> 16, (offset >> 8) & 0xff, offset & 0xff, size >> 16, (size >> 8) & 0xff, size & 0xff], 19);
    out.set(hello.subarray(25 + offset, 25 + offset + size), 25);
    return out;
  });
}

/** [offset, size] pieces of `size` bytes covering a message of `length` */
function even(length: number, size: number): [number, number][] {
  const cuts: [number, number][] = [];
  for (let at = 0; at < length; at += size) cuts.push([at, Math.min(size, length - at)]);
  return cuts;
}

const helloLength = (hello: Uint8Array): number => (hello[14] << 16) | (hello[15] << 8) | hello[16];

/** a first piece of 80 bytes (it holds version, random, session id and a 32-byte cookie: 68 bytes), then pieces of `size` */
function afterCookie(length: number, size: number): [number, number][] {
  const cuts: [number, number][] = [[0, 80]];
  for (let at = 80; at < length; at += size) cuts.push([at, Math.min(size, length - at)]);
  return cuts;
}

/** a ClientHello with a 32-byte cookie and 40 suites: 169 bytes of message */
function bigHello(random = seededRandom(7)): Uint8Array {
  const cookie = Uint8Array.from({ length: 32 }, (_, i) => i * 7);
  const suites = Array.from({ length: 40 }, (_, i) => 0xc000 + i);
  return clientHello({ cookie, suites, sequence: 1, random });
}

/** Feeds the joiner `datagrams` from `key`, the first through start(); what the last call gave. */
function feed(joiner: HelloReassembly, key: string, datagrams: Uint8Array[], now = 0): ReturnType<HelloReassembly["start"]> | undefined {
  let outcome: ReturnType<HelloReassembly["start"]> | undefined = joiner.start(key, datagrams[0], now);
  for (let i = 1; i < datagrams.length; i++) outcome = joiner.add(key, datagrams[i]);
  return outcome;
}

test("reassembly: the pieces in order, out of order and overlapping give back the ClientHello byte for byte", () => {
  const hello = bigHello();
  const n = helloLength(hello);
  const inOrder = even(n, 40);
  const orders: [string, [number, number][]][] = [
    ["in order", inOrder],
    ["first, then the rest reversed", [inOrder[0], ...inOrder.slice(1).reverse()]],
    ["overlapping and repeated", [[0, 50], [30, 50], [0, 20], [60, 70], [120, 10], [100, n - 100]]],
    ["one byte at a time at the end", [[0, n - 3], [n - 1, 1], [n - 3, 1], [n - 2, 1]]],
  ];
  for (const [what, cuts] of orders) {
    const joiner = new HelloReassembly(LIMITS);
    const datagrams = pieces(hello, cuts);
    assert.ok(isHelloFragment(datagrams[0]), `${what}: the first piece is a fragment`);
    const joined = feed(joiner, "a|1", datagrams);
    assert.ok(joined instanceof Uint8Array, `${what}: joined (${String(joined)})`);
    assert.equal(toHex(joined as Uint8Array), toHex(hello), `${what}: the joined record is the whole ClientHello`);
    assert.equal(joiner.size, 0, `${what}: nothing is left pending`);
    assert.equal(joiner.counters.hellosJoined, 1);
    assert.equal(joiner.counters.helloFragments, cuts.length);
  }
  assert.ok(!isHelloFragment(hello), "a whole ClientHello is no fragment");
});

test("reassembly: several fragments in one datagram, and a datagram with anything else in it is not taken", () => {
  const hello = bigHello();
  const n = helloLength(hello);
  const [a, b, c] = pieces(hello, [[0, 60], [60, 60], [120, n - 120]]);
  const both = new Uint8Array(b.length + c.length);
  both.set(b);
  both.set(c, b.length);
  const joiner = new HelloReassembly(LIMITS);
  assert.equal(joiner.start("a|1", a, 0), "more");
  const alert = Uint8Array.of(21, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 9, 0, 2, 1, 0);
  const mixed = new Uint8Array(b.length + alert.length);
  mixed.set(b);
  mixed.set(alert, b.length);
  assert.equal(joiner.add("a|1", mixed), undefined, "an alert record after a fragment: not a piece of this ClientHello");
  assert.equal(joiner.add("b|1", both), undefined, "another peer has nothing pending");
  const joined = joiner.add("a|1", both);
  assert.equal(toHex(joined as Uint8Array), toHex(hello));
});

test("reassembly: lies are not taken: another length, another message_seq, a fragment past the end, a header cut short", () => {
  const hello = bigHello();
  const n = helloLength(hello);
  const [first, second] = pieces(hello, [[0, 60], [60, 60]]);
  const joiner = new HelloReassembly(LIMITS);
  assert.equal(joiner.start("a|1", first, 0), "more");
  const longer = second.slice();
  longer[16] = (n + 1) & 0xff; // the whole message's length, one more
  longer[15] = (n + 1) >> 8;
  assert.equal(joiner.add("a|1", longer), undefined, "a fragment claiming another total length");
  const otherSeq = second.slice();
  otherSeq[18] = 5;
  assert.equal(joiner.add("a|1", otherSeq), undefined, "a fragment of another message");
  const past = second.slice();
  past[19] = 0;
  past[20] = (n - 10) >> 8;
  past[21] = (n - 10) & 0xff; // offset n - 10, 60 bytes: past the end
  assert.equal(helloFragments(past), undefined);
  assert.equal(joiner.add("a|1", past), undefined, "a fragment running past the message");
  assert.equal(joiner.add("a|1", second.subarray(0, 20)), undefined, "a header cut short");
  const overRecord = second.slice();
  overRecord[24] = 61; // fragment_length one more than the record holds
  assert.equal(joiner.add("a|1", overRecord), undefined, "a fragment longer than its record");
  assert.equal(joiner.size, 1, "the reassembly is still pending, untouched");
  const rest = pieces(hello, [[60, n - 60]]);
  assert.equal(toHex(joiner.add("a|1", rest[0]) as Uint8Array), toHex(hello), "and completes with the true pieces");
});

test("reassembly: a fragment that contradicts bytes already held drops the reassembly", () => {
  const hello = bigHello();
  const n = helloLength(hello);
  const joiner = new HelloReassembly(LIMITS);
  const [first, second] = pieces(hello, [[0, 80], [40, n - 40]]);
  assert.equal(joiner.start("a|1", first, 0), "more");
  const forged = second.slice();
  forged[25 + 10] ^= 0xff; // byte 50: held already, now different
  assert.equal(joiner.add("a|1", forged), "dropped");
  assert.equal(joiner.size, 0);
  assert.equal(joiner.counters.reassembliesDropped, 1);
  assert.equal(joiner.add("a|1", second), undefined, "nothing pending any more: the next piece is not taken");
});

test("reassembly: an oversized claim is refused before anything is kept; too many pieces are dropped", () => {
  const joiner = new HelloReassembly({ ...LIMITS, maxBytes: 100 });
  const hello = bigHello();
  assert.equal(joiner.start("a|1", pieces(hello, [[0, 60]])[0], 0), "refused", "169 bytes claimed, 100 allowed");
  assert.equal(joiner.size, 0);
  assert.equal(joiner.counters.reassembliesRefused, 1);

  const roomy = new HelloReassembly(LIMITS);
  const n = helloLength(hello);
  const apart: [number, number][] = [[0, 4]];
  for (let at = 10; apart.length < 9 && at + 2 < n; at += 10) apart.push([at, 2]); // nine separate pieces
  const datagrams = pieces(hello, apart);
  let outcome = roomy.start("a|1", datagrams[0], 0);
  for (let i = 1; i < datagrams.length; i++) outcome = roomy.add("a|1", datagrams[i]) ?? outcome;
  assert.equal(outcome, "dropped", "the ninth separate piece");
  assert.equal(roomy.size, 0);
  const off = new HelloReassembly({ ...LIMITS, maxPending: 0 });
  assert.equal(off.start("a|1", datagrams[0], 0), "refused", "maxPending 0: reassembly off");
});

test("reassembly: a flood of first fragments from 1,000 addresses keeps at most maxPending, the newest, in bounded bytes", () => {
  const joiner = new HelloReassembly(LIMITS);
  const first = pieces(bigHello(), [[0, 60]])[0];
  for (let i = 0; i < 1000; i++) {
    assert.equal(joiner.start(`10.0.${i >> 8}.${i & 0xff}|5684`, first, i), "more");
    assert.ok(joiner.size <= LIMITS.maxPending);
  }
  assert.equal(joiner.size, LIMITS.maxPending);
  assert.ok(joiner.bytes() <= LIMITS.maxPending * LIMITS.maxBytes, `${joiner.bytes()} bytes held`);
  assert.ok(joiner.has("10.0.3.231|5684") && !joiner.has("10.0.3.227|5684"), "the newest four are kept");
  assert.equal(joiner.counters.reassembliesDropped, 1000 - LIMITS.maxPending);
  // a flood of non-first fragments from one address: each rewrites the same bytes, nothing grows
  const rest = pieces(bigHello(), [[60, 20]])[0];
  for (let i = 0; i < 1000; i++) joiner.add("10.0.3.231|5684", rest);
  assert.equal(joiner.size, LIMITS.maxPending);
  assert.equal(joiner.bytes(), LIMITS.maxPending * helloLength(bigHello()));
});

test("reassembly: a reassembly not complete by its deadline is dropped, and says when that is", () => {
  const joiner = new HelloReassembly(LIMITS);
  const first = pieces(bigHello(), [[0, 60]])[0];
  joiner.start("a|1", first, 1000);
  joiner.start("b|1", first, 2000);
  assert.equal(joiner.nextDeadline(), 6000);
  assert.equal(joiner.expire(5999), 0);
  assert.equal(joiner.expire(6000), 1);
  assert.ok(!joiner.has("a|1") && joiner.has("b|1"));
  assert.equal(joiner.nextDeadline(), 7000);
  assert.equal(joiner.expire(7000), 1);
  assert.equal(joiner.nextDeadline(), undefined);
});

test("reassembly: memory per pending reassembly (XS heap, host)", () => {
  const first = pieces(bigHello(), [[0, 60]])[0];
  const full = first.slice();
  full[15] = 1536 >> 8; // claim the largest message allowed
  full[16] = 1536 & 0xff;
  const joiner = new HelloReassembly({ ...LIMITS, maxPending: 64 });
  gc();
  const before = heapBytes();
  for (let i = 0; i < 64; i++) joiner.start(`10.0.0.${i}|1`, full, 0);
  gc();
  const per = (heapBytes() - before) / 64;
  trace(`  XS heap per pending reassembly of a 1,536-byte ClientHello on the host: ${Math.round(per)} B (the message buffer, its header, the ranges); at most ${LIMITS.maxPending} pending by default\n`);
  assert.equal(joiner.size, 64);
  assert.ok(per >= 1536 && per < 2 * 1536, `${per} B per reassembly`);
});

/* ---- through the session table, with Mbed TLS clients ---- */

/**
 * A client whose cookie-bearing ClientHellos (its second flight and any retransmission
 * of it) reach the server as `cut(length)` pieces; everything else goes whole.
 */
function fragmenting(net: Loopback, cut: (length: number) => [number, number][], also?: (piecesOf: Uint8Array[], from: TestClient) => Uint8Array[]): void {
  net.drop = (datagram, from) => {
    if (datagram[0] !== 22 || datagram[13] !== 1 || datagram[3] !== 0 || datagram[4] !== 0) return false;
    const sessionIdLength = datagram[25 + 34];
    if (datagram[25 + 35 + sessionIdLength] === 0) return false; // no cookie yet: the first ClientHello goes whole
    const first = datagram.subarray(0, 13 + ((datagram[11] << 8) | datagram[12]));
    let parts = pieces(first, cut(helloLength(first)));
    if (also) parts = also(parts, from);
    for (const part of parts) net.deliver(part, from.peer);
    if (first.length < datagram.length) net.deliver(datagram.subarray(first.length), from.peer);
    return true;
  };
}

function echoes(net: Loopback, c: TestClient, what: string): void {
  const before = net.delivered.length;
  c.write(`ping ${what}`);
  net.pump();
  assert.ok(net.delivered.length > before, `${what}: the server got application data`);
}

for (const [what, cut] of [
  ["in order, 48-byte pieces", (n: number) => afterCookie(n, 48)],
  ["first piece, then the rest backwards", (n: number) => { const c = afterCookie(n, 30); return [c[0], ...c.slice(1).reverse()]; }],
  ["overlapping and repeated pieces", (n: number) => [[0, 90], [50, 40], [0, 10], [120, 20], [80, n - 80]] as [number, number][]],
] as const) {
  test(`an Mbed TLS client's ClientHello in pieces (${what}): the handshake completes`, () => {
    const net = new Loopback();
    try {
      fragmenting(net, cut);
      const c = net.client(41000);
      c.start();
      net.pump();
      assert.ok(isEstablished(c), `established: ${net.logs.join("\n")}`);
      echoes(net, c, what);
      const stats = net.server.stats();
      assert.equal(stats.hellosJoined, 1);
      assert.equal(stats.handshakesCompleted, 1);
      assert.equal(stats.pendingHellos, 0);
      assert.equal(stats.pendingHelloBytes, 0);
    } finally {
      net.dispose();
    }
  });
}

test("a forged piece that contradicts the held ones drops the reassembly; the client's retransmission gets through", () => {
  const net = new Loopback();
  try {
    let forgedOnce = false;
    fragmenting(net, (n) => afterCookie(n, 16), (parts) => {
      assert.ok(parts.length >= 3, "the forged copy lands before the message is whole");
      if (forgedOnce) return parts;
      forgedOnce = true;
      const forged = parts[1].slice();
      forged[30] ^= 0x55;
      return [parts[0], parts[1], forged, ...parts.slice(2)]; // an attacker's copy of piece 2 from the client's address
    });
    const c = net.client(41010);
    c.start();
    net.pump();
    assert.ok(!isEstablished(c), "the first attempt is spoiled");
    assert.equal(net.server.stats().reassembliesDropped, 1);
    assert.equal(net.server.stats().pendingHellos, 0, "nothing is kept once it is dropped");
    net.clock.skip(1000); // the client's retransmission timer
    net.tick();
    assert.ok(isEstablished(c), `the retransmitted flight completes: ${net.logs.join("\n")}`);
    assert.equal(net.logs.filter((line) => /fragmented ClientHello/.test(line)).length, 1, `one log line:\n${net.logs.join("\n")}`);
  } finally {
    net.dispose();
  }
});

test("without a first fragment holding a valid cookie nothing is kept: later pieces, a cookie-less first piece, one too short to hold the cookie", () => {
  const net = new Loopback();
  try {
    const peer = { address: "127.0.0.1", port: 41020 };
    const hello = net.verifiedHello(peer, seededRandom(3));
    const cuts = even(helloLength(hello), 40);
    const parts = pieces(hello, cuts);
    for (const part of parts.slice(1)) net.server.receive(part, peer, net.clock.now);
    assert.equal(net.server.stats().pendingHellos, 0, "pieces after the first alone");
    const sent = net.serverSent.length;
    net.server.receive(clientHelloFragment(20), peer, net.clock.now); // 20 bytes: the cookie is not in it
    assert.equal(net.serverSent.length, sent, "too short to hold the cookie: no answer (libcoap's server gives none either)");
    const cookieless = pieces(clientHello({ random: seededRandom(4), suites: Array.from({ length: 30 }, (_, i) => 0xc000 + i) }), [[0, 60]])[0];
    net.server.receive(cookieless, peer, net.clock.now);
    assert.equal(net.serverSent.length, sent + 1, "a first piece without a cookie gets a HelloVerifyRequest");
    assert.ok(cookieOf(net.serverSent[sent].datagram));
    const forgedCookie = hello.slice();
    forgedCookie[25 + 36] ^= 1; // a byte of the cookie
    net.server.receive(pieces(forgedCookie, [[0, 80]])[0], peer, net.clock.now);
    const stats = net.server.stats();
    assert.equal(stats.pendingHellos, 0, "a wrong cookie keeps nothing either");
    assert.equal(stats.sessions, 0);
  } finally {
    net.dispose();
  }
});

test("a fragmented ClientHello from an established session's address and port replaces it once whole (RFC 6347 4.2.8)", () => {
  const net = new Loopback();
  try {
    const c = net.connect(41030);
    const id = net.server.sessionOf(c.peer);
    assert.ok(id);
    const hello = net.verifiedHello(c.peer, seededRandom(5));
    c.inbox.length = 0;
    const parts = pieces(hello, afterCookie(helloLength(hello), 30));
    for (const part of parts.slice(0, -1)) net.server.receive(part, c.peer, net.clock.now);
    assert.equal(net.server.sessionOf(c.peer), id, "the old session lives while the new hello is incomplete");
    assert.deepEqual(net.closed, []);
    net.server.receive(parts[parts.length - 1], c.peer, net.clock.now);
    assert.deepEqual(net.closed.map((e) => [e.session, e.reason]), [[id, "client reconnected"]]);
    assert.equal(net.server.stats().handshaking, 1);
  } finally {
    net.dispose();
  }
});

test("maxPendingHellos 0 refuses fragmented ClientHellos (Mbed TLS's own behaviour), logged once", () => {
  const net = new Loopback({ maxPendingHellos: 0 });
  try {
    fragmenting(net, (n) => afterCookie(n, 48));
    const c = net.client(41040);
    c.start();
    net.pump();
    assert.ok(!isEstablished(c));
    const stats = net.server.stats();
    assert.equal(stats.reassembliesRefused, 1);
    assert.equal(stats.sessions, 0);
    assert.equal(net.logs.filter((line) => /fragmented ClientHello from .* refused/.test(line)).length, 1, net.logs.join("\n"));
  } finally {
    net.dispose();
  }
});

test("a reassembly left incomplete is dropped at helloTimeoutMs through tick(), and nextDeadline() names it", () => {
  const net = new Loopback({ helloTimeoutMs: 2000 });
  try {
    const peer = { address: "127.0.0.1", port: 41050 };
    const hello = net.verifiedHello(peer, seededRandom(6));
    net.server.receive(pieces(hello, [[0, 75]])[0], peer, net.clock.now); // of 80: the cookie is in it
    assert.equal(net.server.stats().pendingHellos, 1);
    assert.equal(net.server.nextDeadline(), net.clock.now + 2000);
    net.clock.skip(2000);
    net.server.tick(net.clock.now);
    const stats = net.server.stats();
    assert.equal(stats.pendingHellos, 0);
    assert.equal(stats.reassembliesDropped, 1);
    assert.equal(net.server.nextDeadline(), undefined);
  } finally {
    net.dispose();
  }
});

/* ---- other stacks at a small MTU ---- */

const HEX_KEY = "657370333263335f6b6579"; // "esp32c3_key"

const PEERS: [string, (port: number) => string[], RegExp][] = [
  ["openssl s_client -mtu 256 (default cipher list)", (port) => ["openssl", "s_client", "-dtls1_2", "-mtu", "256", "-connect", `127.0.0.1:${port}`, "-psk_identity", "CoAP", "-psk", HEX_KEY], /New, TLSv1\.2, Cipher is (\S+)/],
  ["gnutls-cli --mtu 256 (PSK priority string)", (port) => ["gnutls-cli", "--udp", "--mtu", "256", "-p", String(port), "--pskusername", "CoAP", "--pskkey", HEX_KEY, "--priority", "NORMAL:+PSK:+ECDHE-PSK:+DHE-PSK", "127.0.0.1"], /Handshake was completed/],
];

for (const [what, argv, completed] of PEERS) {
  const program = argv(0)[0];
  test(`${what} completes its handshake with the node; its ClientHello came in pieces`, async () => {
    if (!(await available(program))) throw new Error(`${program} is missing: the test set-up installs it (host-tests/debian-packages.txt)`);
    const fixture = await startFixture(["127.0.0.1"]);
    try {
      const result = await run(argv(fixture.port), { timeout: 15000, input: "" });
      const output = `${result.stdout}\n${result.stderr}`;
      assert.match(output, completed, `${output}\n${fixture.host.stdout}`);
      const stats = await fixture.stats();
      assert.ok(Number(stats.hellosJoined) >= 1, `the ClientHello was fragmented and joined: ${JSON.stringify(stats)}`);
      assert.equal(stats.handshakesCompleted, 1);
      trace(`  ${what}: ${stats.helloFragments} fragments, ${stats.hellosJoined} ClientHello(s) joined\n`);
    } finally {
      await fixture.stop();
    }
  }, { timeout: 30000 });
}
