/*
 * Connection IDs (RFC 9146): a client whose address changes (a NAT rebinding) keeps its
 * session; a record moves a session only when it authenticates and is newer than any
 * before it (RFC 9146 6), so a replayed, forged or older record moves nothing. Mbed
 * TLS and the binding's client on both ends. Debian's Mbed TLS 2.28 has no RFC 9146
 * form (features()): there only the gating is tested and the rest is skipped; run
 * them with a host linked to Mbed TLS 3.x/4.x built with MBEDTLS_SSL_DTLS_CONNECTION_ID:
 * MBEDTLS_PREFIX=<its install prefix> node host-tests/cli.mjs test host-tests/dtls/cid
 */
import { test, assert } from "../lib/harness";
import { FEATURE_CID, features } from "dtls-psk/binding";
import { DtlsServer } from "dtls-psk/server";
import { Loopback, isEstablished, type TestClient } from "./loopback";
import { CONTENT_APPLICATION_DATA } from "./records";

const hasCid = (features() & FEATURE_CID) !== 0;
const skip = !hasCid && "this build's Mbed TLS has no RFC 9146 connection IDs (Debian's 2.28; run with MBEDTLS_PREFIX=<a 3.x/4.x build with MBEDTLS_SSL_DTLS_CONNECTION_ID>)";

const noop = (): void => undefined;

test("connection IDs are offered exactly where the library has them; asking for one elsewhere throws", () => {
  const options = { identity: "CoAP", key: new Uint8Array(ArrayBuffer.fromString("esp32c3_key")), send: noop, onData: noop };
  if (hasCid) {
    const server = new DtlsServer({ ...options, connectionIdLength: 8 });
    server.dispose(0);
  } else {
    assert.throws(() => new DtlsServer({ ...options, connectionIdLength: 4 }), /no connection IDs/);
    const server = new DtlsServer(options); // the default: none, no error
    server.dispose(0);
  }
});

/** A client with a 4-byte CID of its own, established, that has said "before" from port 43000. */
function established(net: Loopback, port = 43000, cid = 4): TestClient {
  const c = net.client(port, undefined, undefined, 0, undefined, cid);
  c.start();
  net.pump();
  assert.ok(isEstablished(c), `established: ${net.logs.join("\n")}`);
  c.write("before");
  net.pump();
  return c;
}

/** The client's datagrams come from `port` from now on (its server-bound traffic and the server's answers). */
function rebind(net: Loopback, c: TestClient, port: number): void {
  net.clients.delete(c.peer.port);
  c.peer = { address: c.peer.address, port };
  net.clients.set(port, c);
}

const text = (bytes: Uint8Array): string => String.fromArrayBuffer(bytes.slice().buffer as ArrayBuffer);

test("a client whose port changes keeps its session: the first authenticated record from the new port moves it, answers follow", () => {
  const net = new Loopback();
  try {
    const c = established(net);
    const oldPeer = net.delivered[0].peer;
    assert.equal(oldPeer.port, 43000);
    assert.equal(c.sent[c.sent.length - 1][0], 25, "the client's records carry our connection ID (tls12_cid)");
    rebind(net, c, 43999);
    c.write("after");
    net.pump();
    const last = net.delivered[net.delivered.length - 1];
    assert.equal(text(last.data), "after");
    assert.equal(last.peer.port, 43999, "onData names the new address");
    assert.equal(last.session, net.delivered[0].session, "the same session");
    const stats = net.server.stats();
    assert.equal(stats.moved, 1);
    assert.equal(stats.handshakesCompleted, 1, "no new handshake");
    assert.equal(net.server.sessionOf({ address: "127.0.0.1", port: 43000 }), undefined);
    assert.equal(net.server.sessionOf({ address: "127.0.0.1", port: 43999 }), last.session);
    // an observer registered before the move holds the old peer object: it still reaches the client, at its new port
    const sent = net.serverSent.length;
    assert.ok(net.server.write(oldPeer, new Uint8Array(ArrayBuffer.fromString("notification")), net.clock.now));
    assert.equal(net.serverSent[sent].peer.port, 43999);
    net.pump();
    assert.equal(text(c.received[c.received.length - 1]), "notification");
    assert.ok(net.logs.some((line) => /moved from 127\.0\.0\.1\|43000 to 127\.0\.0\.1\|43999 \(connection ID\)/.test(line)), net.logs.join("\n"));
  } finally {
    net.dispose();
  }
}, { skip });

test("a replayed record with the session's CID from another address moves nothing", () => {
  const net = new Loopback();
  try {
    const c = established(net);
    const captured = c.sent[c.sent.length - 1]; // "before", already delivered
    net.deliver(captured, { address: "10.9.9.9", port: 5000 });
    const stats = net.server.stats();
    assert.equal(stats.moved, 0);
    assert.equal(stats.forged, 1);
    assert.ok(net.server.sessionOf(c.peer), "the session stays where it was");
    c.write("still");
    net.pump();
    assert.equal(net.delivered[net.delivered.length - 1].peer.port, 43000);
  } finally {
    net.dispose();
  }
}, { skip });

test("a forged record with the session's CID (junk ciphertext) from another address moves nothing", () => {
  const net = new Loopback();
  try {
    const c = established(net);
    const forged = c.sent[c.sent.length - 1].slice();
    forged[10] += 5; // a sequence number never seen: it passes the newest check, then fails authentication
    forged[forged.length - 3] ^= 0xff;
    net.deliver(forged, { address: "10.9.9.9", port: 5000 });
    assert.equal(net.server.stats().moved, 0);
    assert.ok(net.server.sessionOf(c.peer));
    c.write("still");
    net.pump();
    assert.equal(net.delivered[net.delivered.length - 1].peer.port, 43000);
  } finally {
    net.dispose();
  }
}, { skip });

test("an authentic record older than the newest one seen moves nothing (RFC 9146 6), though its data is new", () => {
  const net = new Loopback();
  try {
    const c = established(net);
    net.drop = () => true; // hold the client's next two records
    c.write("older");
    c.write("newer");
    net.drop = () => false;
    const [older, newer] = c.sent.slice(-2);
    assert.equal(older[0], 25);
    net.deliver(newer, c.peer); // from the session's own address: now the newest
    net.deliver(older, { address: "10.9.9.9", port: 5000 });
    assert.equal(net.server.stats().moved, 0);
    assert.ok(net.server.sessionOf(c.peer));
    assert.equal(text(net.delivered[net.delivered.length - 1].data), "newer");
  } finally {
    net.dispose();
  }
}, { skip });

test("with connection IDs off (connectionIdLength 0) a new port is a stranger, as before", () => {
  const net = new Loopback({ connectionIdLength: 0 });
  try {
    const c = established(net, 43200);
    assert.equal(c.sent[c.sent.length - 1][0], CONTENT_APPLICATION_DATA, "no CID in the client's records");
    rebind(net, c, 43201);
    c.write("lost");
    net.pump();
    assert.equal(text(net.delivered[net.delivered.length - 1].data), "before");
    assert.equal(net.server.stats().dropped, 1);
  } finally {
    net.dispose();
  }
}, { skip });
