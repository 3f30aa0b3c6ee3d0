/*
 * Several PSK identities on one server (roles: the node's "CoAP" identity and an update
 * identity with its own key): each completes with its own key only, identityOf() says
 * which one a session proved, an unknown identity or a key of the other identity fails,
 * and resumption is off (a resumed handshake would prove no identity again).
 */
import { test, assert } from "../lib/harness";
import { DTLSContext } from "dtls-psk/binding";
import { Loopback, isEstablished } from "./loopback";

const bytes = (s: string): Uint8Array => new Uint8Array(ArrayBuffer.fromString(s));

test("two identities, each with its own key: identityOf() names the one a session proved; crossed keys and unknown identities fail", () => {
  const net = new Loopback({ morePsks: [{ identity: "update", key: bytes("update_key_123") }] });
  try {
    const light = net.connect(44000);
    const update = net.connect(44001, "update", bytes("update_key_123"));
    assert.ok(isEstablished(light) && isEstablished(update), net.logs.join("\n"));
    assert.equal(net.server.identityOf(light.peer), "CoAP");
    assert.equal(net.server.identityOf(update.peer), "update");
    update.write("hello");
    const delivered = net.delivered[net.delivered.length - 1];
    assert.equal(net.server.identityOf(delivered.peer), "update", "the SessionPeer a request comes with names it too");
    const crossed = net.connect(44002, "update", bytes("esp32c3_key"));
    assert.ok(!isEstablished(crossed), "the CoAP key does not open the update identity");
    const unknown = net.connect(44003, "admin", bytes("update_key_123"));
    assert.ok(!isEstablished(unknown));
    assert.ok(net.logs.some((l) => /unknown psk identity \(identity "admin"\)/.test(l)), net.logs.join("\n"));
    assert.equal(net.server.identityOf({ address: "127.0.0.1", port: 44002 }), undefined);
    net.server.close(update.peer, net.clock.now);
    assert.equal(net.server.identityOf(delivered.peer), undefined, "a session gone names nobody");
  } finally {
    net.dispose();
  }
});

test("further identities are bounded (3) and checked; with any, tickets and the cache are off", () => {
  const base = { identity: ArrayBuffer.fromString("CoAP"), key: bytes("esp32c3_key"), tickets: 3600, cache: 4 };
  const four = ["a", "k", "b", "k", "c", "k", "d", "k"].map((s) => ArrayBuffer.fromString(s));
  assert.throws(() => new DTLSContext({ ...base, psks: four }), /invalid psks/);
  assert.throws(() => new DTLSContext({ ...base, psks: [ArrayBuffer.fromString("odd")] }), /invalid psks/);
  assert.throws(() => new DTLSContext({ ...base, psks: [ArrayBuffer.fromString("a"), new ArrayBuffer(0)] }), /invalid key/);
  const net = new Loopback({ morePsks: [{ identity: "update", key: bytes("k2") }] });
  try {
    const c = net.connect(44010);
    assert.ok(isEstablished(c));
    assert.equal(net.server.stats().handshakesResumed, 0);
  } finally {
    net.dispose();
  }
});
