/* DtlsTransport: a CoAP client's datagrams over a DTLS session opened on demand (fake session). */
import { test, assert } from "../lib/harness";
import { DtlsTransport, type DtlsSessionLike } from "dtls-psk/coaps";

function fakeSession() {
  const written: number[] = [];
  const session = {
    state: "closed" as DtlsSessionLike["state"],
    connects: 0,
    connect() {
      this.connects++;
      this.state = "handshaking";
    },
    write(data: Uint8Array) {
      if (this.state !== "open") return false;
      written.push(data[0]);
      return true;
    },
  };
  return { session, written };
}

test("dtls transport: the first send opens the session; datagrams wait (bounded) and go out on open, oldest first", () => {
  const { session, written } = fakeSession();
  const transport = new DtlsTransport(3);
  transport.attach(session);
  for (let i = 1; i <= 5; i++) transport.send(Uint8Array.of(i));
  assert.equal(session.connects, 1, "one handshake");
  assert.deepEqual(transport.stats, { waiting: 3, dropped: 2 });
  session.state = "open";
  transport.opened();
  assert.deepEqual(written, [3, 4, 5]);
  transport.send(Uint8Array.of(6));
  assert.deepEqual(written, [3, 4, 5, 6], "open: straight through");
});

test("dtls transport: a closed session drops what waits; the next send reconnects", () => {
  const { session, written } = fakeSession();
  const transport = new DtlsTransport();
  transport.attach(session);
  transport.send(Uint8Array.of(1));
  session.state = "closed";
  transport.closed();
  assert.deepEqual(transport.stats, { waiting: 0, dropped: 1 });
  transport.send(Uint8Array.of(2));
  assert.equal(session.connects, 2);
  session.state = "open";
  transport.opened();
  assert.deepEqual(written, [2]);
});
