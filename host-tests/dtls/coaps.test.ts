/* DtlsTransport: a CoAP client's datagrams over a DTLS session opened on demand (fake session). */
import { test, assert } from "../lib/harness";
import { DtlsTransport, type DtlsSessionLike } from "dtls-psk/coaps";
import { FakeClock } from "../lib/clock";

function fakeSession() {
  const written: number[] = [];
  /** the `now` of each connect() and successful write(), in order */
  const times: number[] = [];
  const session = {
    state: "closed" as DtlsSessionLike["state"],
    connects: 0,
    connect(now: number) {
      this.connects++;
      times.push(now);
      this.state = "handshaking";
    },
    write(data: Uint8Array, now: number) {
      if (this.state !== "open") return false;
      written.push(data[0]);
      times.push(now);
      return true;
    },
  };
  return { session, written, times };
}

test("dtls transport: the first send opens the session; datagrams wait (bounded) and go out on open, oldest first", () => {
  const clock = new FakeClock(1000);
  const { session, written, times } = fakeSession();
  const transport = new DtlsTransport(3);
  transport.attach(session);
  for (let i = 1; i <= 5; i++) transport.send(Uint8Array.of(i), clock.now);
  assert.equal(session.connects, 1, "one handshake");
  assert.deepEqual(transport.stats, { waiting: 3, dropped: 2 });
  clock.skip(50);
  session.state = "open";
  transport.opened(clock.now);
  assert.deepEqual(written, [3, 4, 5]);
  clock.skip(50);
  transport.send(Uint8Array.of(6), clock.now);
  assert.deepEqual(written, [3, 4, 5, 6], "open: straight through");
  assert.deepEqual(times, [1000, 1050, 1050, 1050, 1100], "each call's now reaches the session");
});

test("dtls transport: a closed session drops what waits; the next send reconnects", () => {
  const clock = new FakeClock(1000);
  const { session, written } = fakeSession();
  const transport = new DtlsTransport();
  transport.attach(session);
  transport.send(Uint8Array.of(1), clock.now);
  session.state = "closed";
  transport.closed();
  assert.deepEqual(transport.stats, { waiting: 0, dropped: 1 });
  transport.send(Uint8Array.of(2), clock.now);
  assert.equal(session.connects, 2);
  session.state = "open";
  transport.opened(clock.now);
  assert.deepEqual(written, [2]);
});
