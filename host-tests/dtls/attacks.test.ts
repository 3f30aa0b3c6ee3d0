/*
 * An attacker on the node's network against the DtlsServer, in process with the
 * Loopback's hand-moved clock: forged plaintext records aimed at an established
 * session.
 */
import { test, assert, seededRandom } from "../lib/harness";
import { ESTABLISHED, HANDSHAKING } from "dtls-psk/binding";
import { Loopback, type TestClient } from "./loopback";
import { CONTENT_APPLICATION_DATA, CONTENT_HANDSHAKE, FORGED_EPOCH0, clientHello, clientHelloFragment, datagram, record } from "./records";

const text = (bytes: Uint8Array): string => String.fromArrayBuffer(bytes.slice().buffer as ArrayBuffer);
const bytesOf = (s: string): Uint8Array => new Uint8Array(ArrayBuffer.fromString(s));

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
  assert.ok(net.server.write(c.peer, bytesOf(`re:${label}`)), "the server can still write");
  net.pump();
  assert.equal(text(c.received[c.received.length - 1]), `re:${label}`);
}

test("a forged 14-byte epoch-0 record from the victim's address and port leaves its established session working", () => {
  const net = new Loopback();
  try {
    const c = net.connect(40300);
    const sent = net.serverSent.length;
    net.server.receive(FORGED_EPOCH0, c.peer);
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
      for (let i = 0; i < 3; i++) net.server.receive(forged(), c.peer);
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
    net.server.receive(cut, c.peer);
    net.server.receive(trailing, c.peer);
    net.server.receive(FORGED_EPOCH0, c.peer);
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
        if (d[0] === 20 && lost++ === 0) continue; // the server's CCS (epoch 0) + Finished (epoch 1)
        c.session.receive(d, net.clock.ms);
        c.flush();
        moved = true;
      }
      if (!moved) break;
    }
    assert.equal(lost, 1);
    assert.equal(net.server.stats().established, 1);
    assert.equal(c.state, HANDSHAKING);
    net.clock.advance(1000);
    net.tick(); // the client resends CKE + CCS (epoch 0) and Finished (epoch 1) in one datagram
    assert.equal(c.state, ESTABLISHED, "the server answered the retransmitted flight");
    stillWorks(net, c, "after recovery");
    assert.equal(net.server.stats().forged, 0, "a peer's own retransmission is no forgery");
    net.server.receive(FORGED_EPOCH0, c.peer); // while a forged record is one
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
    net.server.receive(FORGED_EPOCH0, c.peer);
    net.server.receive(clientHelloFragment(20), c.peer);
    assert.deepEqual(net.closed, [], "forged records end nothing");
    const hello = net.verifiedHello(c.peer, random);
    c.inbox.length = 0; // the HelloVerifyRequest went to the old client
    net.server.receive(hello, c.peer);
    assert.deepEqual(net.closed.map((e) => [e.session, e.reason]), [[id, "client reconnected"]]);
    assert.equal(net.server.stats().handshaking, 1, "the new handshake has the address and port");
    assert.equal(net.server.sessionOf(c.peer), undefined);
  } finally {
    net.dispose();
  }
});
