/*
 * Observe tests (RFC 7641): registration, deregistration by Observe=1 and by
 * RST, replacement on re-registration, increasing 24-bit sequence numbers, a
 * CON every N-th notification and every 24 h, removal when a CON notification
 * times out, bounded observer lists, dropPeer.
 */
import { test, assert, fromHex, toHex, seededRandom, sleep } from "../lib/harness";
import { FakeClock } from "../lib/clock";
import { decode, encode, emptyMessage, type CoapMessage, type CoapOption } from "coap/codec";
import { Code, ContentFormat, DEFAULT_LIMITS, Option, Type, formatCode, type Limits } from "coap/numbers";
import { ObserveRegistry } from "coap/observe";
import { encodeUint, getContentFormat, getObserve, setUriPath } from "coap/options";
import { CoapServer, type Peer } from "coap/server";
import { utf8Decode } from "coap/utf8";

const ok: (value: unknown, message?: string) => void = assert.ok; // see codec.test.ts (TS2775)

const ALICE: Peer = { address: "192.0.2.1", port: 40001 };
const BOB: Peer = { address: "192.0.2.2", port: 40002 };
const DAY = 24 * 60 * 60 * 1000;

function rig(limits?: Partial<Limits>) {
  const clock = new FakeClock(1_000);
  const state = { on: 0, renders: 0, fail: false };
  const sent: { message: CoapMessage; peer: Peer }[] = [];
  const server = new CoapServer({
    send: (bytes, peer) => sent.push({ message: decode(bytes), peer }),
    random: seededRandom(3),
    log: () => {},
    limits,
  });
  server.add("light", {
    observable: true,
    produces: [ContentFormat.TEXT_PLAIN, ContentFormat.JSON],
    get: (req) => {
      state.renders++;
      if (state.fail) throw new Error("broken");
      return req.accept === ContentFormat.JSON
        ? { contentFormat: ContentFormat.JSON, payload: `{"on":${state.on}}` }
        : { contentFormat: ContentFormat.TEXT_PLAIN, payload: String(state.on) };
    },
  });
  server.add("plain", { get: () => ({ payload: "not observable" }) });
  let mid = 0x2000;
  const send = (peer: Peer, fields: { token: string; observe?: number; path?: string; accept?: number; type?: Type }) => {
    const options: CoapOption[] = [];
    setUriPath(options, fields.path ?? "light");
    if (fields.observe !== undefined) options.push({ number: Option.OBSERVE, value: encodeUint(fields.observe) });
    if (fields.accept !== undefined) options.push({ number: Option.ACCEPT, value: encodeUint(fields.accept) });
    server.receive(encode({ type: fields.type ?? Type.CON, code: Code.GET, mid: mid++, token: fromHex(fields.token), options, payload: new Uint8Array(0) }), peer, clock.now);
  };
  return {
    server,
    clock,
    state,
    sent,
    /** GET with Observe=0; returns the response */
    register(peer: Peer, token: string, extra: { path?: string; accept?: number } = {}): CoapMessage {
      send(peer, { token, observe: 0, ...extra });
      // the reply to `peer`; an observer displaced by it is told too (a NON 5.03 to someone else)
      const replies = sent.splice(0).filter((s) => s.peer === peer);
      assert.equal(replies.length, 1);
      return replies[0].message;
    },
    deregister(peer: Peer, token: string): CoapMessage {
      send(peer, { token, observe: 1 });
      return sent.splice(0)[0].message;
    },
    /** changes the state and notifies; returns the notifications sent */
    change(): { message: CoapMessage; peer: Peer }[] {
      state.on++;
      server.notify("light", clock.now);
      return sent.splice(0);
    },
    reply(peer: Peer, type: Type, mid: number) {
      server.receive(encode(emptyMessage(type, mid)), peer, clock.now);
    },
    /** runs the fake clock through every deadline up to `until` */
    runUntil(until: number) {
      for (let next = server.nextDeadline(); next !== undefined && next <= until; next = server.nextDeadline()) {
        clock.now = Math.max(clock.now, next); // -Infinity: an asynchronous answer is due at once
        server.tick(clock.now);
      }
      clock.now = until;
    },
  };
}

const observeOf = (m: CoapMessage) => getObserve(m.options);

test("observe: GET with Observe=0 registers; each change is notified with the token and a growing Observe", () => {
  const r = rig();
  const first = r.register(ALICE, "0a0b");
  assert.equal(formatCode(first.code), "2.05");
  const registered = observeOf(first);
  ok(registered !== undefined, "the response carries Observe");
  assert.equal(r.server.observerCount("light"), 1);
  assert.equal(r.server.stats().observers, 1);
  let last = registered!;
  for (let i = 1; i <= 5; i++) {
    const [note] = r.change();
    assert.equal(toHex(note.message.token), "0a0b");
    assert.equal(note.message.type, Type.NON);
    assert.equal(formatCode(note.message.code), "2.05");
    assert.equal(utf8Decode(note.message.payload), String(i));
    assert.deepEqual(note.peer, ALICE);
    const value = observeOf(note.message)!;
    ok(value > last, `Observe ${value} after ${last}`);
    last = value;
  }
});

test("observe: Observe=1 deregisters; the GET is still answered, without Observe", () => {
  const r = rig();
  r.register(ALICE, "01");
  const answer = r.deregister(ALICE, "01");
  assert.equal(formatCode(answer.code), "2.05");
  assert.equal(observeOf(answer), undefined);
  assert.equal(r.server.observerCount("light"), 0);
  assert.deepEqual(r.change(), []);
});

test("observe: a RST to a NON or a CON notification deregisters", () => {
  const r = rig({ notifyConEvery: 2 });
  r.register(ALICE, "01");
  const [non] = r.change();
  assert.equal(non.message.type, Type.NON);
  r.reply(ALICE, Type.RST, non.message.mid);
  assert.equal(r.server.observerCount("light"), 0);

  r.register(ALICE, "02");
  r.change(); // NON
  const [con] = r.change();
  assert.equal(con.message.type, Type.CON);
  r.reply(ALICE, Type.RST, con.message.mid);
  assert.equal(r.server.observerCount("light"), 0);
  assert.equal(r.server.stats().pending, 0);
});

test("observe: a RST matches the NON of its own peer only, and each observer's own Message ID", () => {
  const r = rig();
  r.register(ALICE, "01");
  r.register(ALICE, "02");
  r.register(BOB, "01");
  const notes = r.change();
  assert.equal(notes.length, 3);
  for (const n of notes) assert.equal(n.message.type, Type.NON);
  const tokenOf = (n: { message: CoapMessage }) => Array.from(n.message.token).join(",");
  const alice1 = notes.find((n) => n.peer === ALICE && tokenOf(n) === "1")!;
  const bob = notes.find((n) => n.peer === BOB)!;
  // BOB answering with ALICE's Message IDs ends nothing
  for (const n of notes) if (n.peer === ALICE && n.message.mid !== bob.message.mid) r.reply(BOB, Type.RST, n.message.mid);
  assert.equal(r.server.observerCount("light"), 3);
  // ALICE's RST to one of her two notifications ends that observation only
  r.reply(ALICE, Type.RST, alice1.message.mid);
  assert.equal(r.server.observerCount("light"), 2);
  const next = r.change();
  assert.deepEqual(next.map((n) => [n.peer === ALICE ? "alice" : "bob", tokenOf(n)]).sort(), [["alice", "2"], ["bob", "1"]]);
  r.reply(BOB, Type.RST, next.find((n) => n.peer === BOB)!.message.mid);
  assert.equal(r.server.observerCount("light"), 1);
});

test("observe: re-registration by the same peer and token replaces, others add", () => {
  const r = rig();
  r.register(ALICE, "01");
  const again = r.register(ALICE, "01", { accept: ContentFormat.JSON });
  ok(observeOf(again) !== undefined);
  assert.equal(r.server.observerCount("light"), 1);
  const [note] = r.change();
  assert.equal(getContentFormat(note.message.options), ContentFormat.JSON, "the new registration's Accept applies");
  r.register(ALICE, "02");
  r.register(BOB, "01");
  assert.equal(r.server.observerCount("light"), 3);
  assert.equal(r.change().length, 3);
});

test("observe: sequence numbers increase and wrap at 24 bits", () => {
  const registry = new ObserveRegistry(DEFAULT_LIMITS, 0xfffffd);
  assert.deepEqual([1, 2, 3, 4].map(() => registry.nextSequence("x")), [0xfffffe, 0xffffff, 0, 1]);
  assert.equal(registry.nextSequence("y"), 0xfffffe, "per resource");
  // over the wire: strictly increasing, at most 3 bytes
  const r = rig();
  let last = observeOf(r.register(ALICE, "01"))!;
  for (let i = 0; i < 50; i++) {
    const value = observeOf(r.change()[0].message)!;
    ok(value > last && value <= 0xffffff);
    last = value;
  }
});

test("observe: every N-th notification is CON, and one after 24 h whatever the count", () => {
  const r = rig({ notifyConEvery: 3 });
  r.register(ALICE, "01");
  const types: string[] = [];
  for (let i = 0; i < 6; i++) {
    const [note] = r.change();
    types.push(note.message.type === Type.CON ? "CON" : "NON");
    if (note.message.type === Type.CON) r.reply(ALICE, Type.ACK, note.message.mid);
  }
  assert.deepEqual(types, ["NON", "NON", "CON", "NON", "NON", "CON"]);

  const d = rig({ notifyConEvery: 1000 });
  d.register(ALICE, "01");
  assert.equal(d.change()[0].message.type, Type.NON);
  d.clock.skip(DAY);
  const [daily] = d.change();
  assert.equal(daily.message.type, Type.CON, "24 h since the last CON");
  d.reply(ALICE, Type.ACK, daily.message.mid);
  assert.equal(d.change()[0].message.type, Type.NON);
  assert.equal(d.server.observerCount("light"), 1);
});

test("observe: an observer whose CON notification times out is removed", () => {
  const r = rig({ notifyConEvery: 1, observerProbeInterval: 10 * DAY }); // no liveness probe to Bob meanwhile
  r.register(ALICE, "01");
  r.register(BOB, "01");
  const notes = r.change();
  assert.equal(notes.length, 2);
  const bobs = notes.find((n) => n.peer === BOB)!;
  r.reply(BOB, Type.ACK, bobs.message.mid);
  r.runUntil(r.clock.now + 200_000);
  const retransmissions = r.sent.splice(0);
  assert.equal(retransmissions.length, 4, "MAX_RETRANSMIT retransmissions to Alice");
  ok(retransmissions.every((s) => s.peer === ALICE && s.message.mid === notes[0].message.mid));
  assert.equal(r.server.observerCount("light"), 1, "Alice removed, Bob kept");
  assert.equal(r.change().length, 1);
});

test("observe: a newer notification supersedes a CON still in flight, keeping its retransmission count", () => {
  const r = rig({ notifyConEvery: 1 });
  r.register(ALICE, "01");
  r.change();
  r.runUntil(r.clock.now + 5_000); // at least one retransmission happened
  ok(r.sent.splice(0).length >= 1);
  const [newer] = r.change();
  assert.equal(utf8Decode(newer.message.payload), "2");
  assert.equal(r.server.stats().pending, 1, "only the newest is retransmitted");
  r.sent.splice(0);
  r.runUntil(r.clock.now + 200_000);
  const later = r.sent.splice(0);
  ok(later.length < 4, `fewer than MAX_RETRANSMIT left (${later.length})`);
  ok(later.every((s) => utf8Decode(s.message.payload) === "2"));
  assert.equal(r.server.observerCount("light"), 0, "still times out");
});

test("observe: the number of observers per resource and in all is bounded", () => {
  const r = rig({ maxObserversPerResource: 2, maxObservers: 3 });
  r.register(ALICE, "01");
  r.register(ALICE, "02");
  const refused = r.register(ALICE, "03");
  assert.equal(formatCode(refused.code), "2.05", "still answered");
  assert.equal(observeOf(refused), undefined, "but without Observe: not registered");
  assert.equal(r.server.observerCount("light"), 2);
  r.register(ALICE, "01"); // a replacement is not a new observer
  assert.equal(r.server.observerCount("light"), 2);
  r.server.add("other", { observable: true, get: () => ({ payload: "x" }) });
  ok(observeOf(r.register(BOB, "01", { path: "other" })) !== undefined);
  assert.equal(observeOf(r.register(BOB, "02", { path: "other" })), undefined, "server-wide limit");
  assert.equal(r.server.stats().observers, 3);
});

test("observe: dropPeer removes every observer of that peer", () => {
  const r = rig();
  r.register(ALICE, "01");
  r.register(ALICE, "02");
  r.register(BOB, "01");
  r.register({ ...ALICE, session: "dtls-1" }, "01");
  r.server.dropPeer(ALICE, r.clock.now);
  assert.equal(r.server.observerCount("light"), 2);
  assert.deepEqual(r.change().map((n) => n.peer.address + (n.peer.session ?? "")).sort(), ["192.0.2.1dtls-1", "192.0.2.2"]);
});

test("observe: a failing render ends the observation with 5.00 and no Observe", () => {
  const r = rig();
  r.register(ALICE, "01");
  r.state.fail = true;
  const [note] = r.change();
  assert.equal(formatCode(note.message.code), "5.00");
  assert.equal(observeOf(note.message), undefined);
  assert.equal(r.server.observerCount("light"), 0);
});

test("observe: non-observable resources and failed registrations register nothing", () => {
  const r = rig();
  const plain = r.register(ALICE, "01", { path: "plain" });
  assert.equal(observeOf(plain), undefined);
  const refused = r.register(ALICE, "02", { accept: ContentFormat.SENML_JSON });
  assert.equal(formatCode(refused.code), "4.06");
  assert.equal(observeOf(refused), undefined);
  assert.equal(r.server.stats().observers, 0);
});

test("observe: one render per representation, each observer gets its own format", () => {
  const r = rig();
  r.register(ALICE, "01", { accept: ContentFormat.JSON });
  r.register(BOB, "02", { accept: ContentFormat.JSON });
  r.register(BOB, "03");
  r.state.renders = 0;
  const notes = r.change();
  assert.equal(r.state.renders, 2);
  const byToken = new Map(notes.map((n) => [toHex(n.message.token), utf8Decode(n.message.payload)]));
  assert.equal(byToken.get("01"), '{"on":1}');
  assert.equal(byToken.get("02"), '{"on":1}');
  assert.equal(byToken.get("03"), "1");
});

test("observe: asynchronous renders are notified once they settle", async () => {
  const r = rig();
  let value = 20;
  r.server.add("temperature", { observable: true, get: async () => ({ payload: String(value) }) });
  r.register(ALICE, "05", { path: "temperature" }); // Empty ACK
  await sleep(0);
  r.server.tick(r.clock.now); // the asynchronous handler's answer goes out at the next tick
  const [response] = r.sent.splice(0);
  ok(getObserve(response.message.options) !== undefined);
  r.reply(ALICE, Type.ACK, response.message.mid);
  value = 21;
  r.server.notify("temperature", r.clock.now);
  assert.equal(r.sent.length, 0);
  await sleep(0);
  r.server.tick(r.clock.now); // so does the notification it renders
  const [note] = r.sent.splice(0);
  assert.equal(utf8Decode(note.message.payload), "21");
  assert.equal(toHex(note.message.token), "05");
  ok(getObserve(note.message.options)! > getObserve(response.message.options)!);
});




test("observe: observers that vanish without a RST lose their places: probed after 60 s of silence, removed when the probe times out, displaced by a newcomer after 120 s", () => {
  const r = rig();
  for (let i = 0; i < 10_000; i++) {
    const gone: Peer = { address: `198.51.100.${i % 100}`, port: 30000 + Math.floor(i / 100) };
    r.register(gone, (i & 0xffff).toString(16).padStart(4, "0"));
  }
  assert.equal(r.server.observerCount("light"), DEFAULT_LIMITS.maxObserversPerResource, "the table is full of observers that are gone");
  assert.equal(observeOf(r.register(ALICE, "a1")), undefined, "no place yet: none has been silent for long");

  r.runUntil(r.clock.now + DEFAULT_LIMITS.observerStaleAfter + 1);
  const probes = r.sent.splice(0).filter((s) => s.message.type === Type.CON);
  assert.atLeast(probes.length, DEFAULT_LIMITS.maxObserversPerResource, "each silent observer was probed with a CON notification");
  r.clock.skip(1);
  const answer = r.register(ALICE, "a2");
  ok(observeOf(answer) !== undefined, "the newcomer takes the place of one silent for over 120 s");

  // the legitimate observer acknowledges what it gets; the vanished ones never do
  const until = r.clock.now + 200_000;
  for (let next = r.server.nextDeadline(); next !== undefined && next <= until; next = r.server.nextDeadline()) {
    r.clock.now = Math.max(r.clock.now, next);
    r.server.tick(r.clock.now);
    for (const s of r.sent.splice(0)) if (s.peer === ALICE && s.message.type === Type.CON) r.reply(ALICE, Type.ACK, s.message.mid);
  }
  assert.equal(r.server.observerCount("light"), 1, "only the legitimate observer is left, with nothing changed on the resource");
  const note = r.change();
  assert.equal(note.length, 1);
  assert.equal(note[0].peer, ALICE);
});

test("observe: hasObservers() tells whether a peer (and its DTLS session) observes anything, for the session table's keep()", () => {
  const r = rig();
  const alice = { ...ALICE, session: "s1" };
  assert.equal(r.server.hasObservers(alice), false);
  r.register(alice, "01");
  assert.equal(r.server.hasObservers(alice), true);
  assert.equal(r.server.hasObservers(ALICE), false, "the same address without the session is another peer");
  r.deregister(alice, "01");
  assert.equal(r.server.hasObservers(alice), false);
});

test("observe: a notification renders from a copy of the registration: its own token, the options not given as fields, no payload", () => {
  const seen: { token: string; options: string[]; notification: boolean; payload: number }[] = [];
  const sent: CoapMessage[] = [];
  const clock = new FakeClock(1000);
  const server = new CoapServer({ send: (bytes) => sent.push(decode(bytes)), log: () => {} });
  server.add("echo", {
    observable: true,
    get: (req) => {
      seen.push({ token: toHex(req.token), options: req.options.map((o) => `${o.number}=${toHex(o.value)}`), notification: req.notification, payload: req.payload.length });
      return { payload: "x" };
    },
  });
  const options: CoapOption[] = [{ number: Option.URI_HOST, value: fromHex("6869") }];
  setUriPath(options, "echo");
  options.push({ number: Option.OBSERVE, value: encodeUint(0) }, { number: 65000, value: fromHex("abcd") });
  options.sort((a, b) => a.number - b.number);
  const datagram = encode({ type: Type.CON, code: Code.GET, mid: 7, token: fromHex("0b0c"), options, payload: new Uint8Array(0) });
  server.receive(datagram, ALICE, clock.now);
  datagram.fill(0); // the received buffer is reused or gone: the observer must not depend on it
  server.notify("echo", clock.now);
  assert.equal(seen.length, 2);
  assert.deepEqual(seen[1], { token: "0b0c", options: ["65000=abcd"], notification: true, payload: 0 });
  assert.equal(toHex(sent[sent.length - 1].token), "0b0c");
});

test("observe: a change made by a request's handler is notified when receive() returns, after the request's own answer, not from inside the handler", () => {
  const r = rig();
  r.register(ALICE, "a1");
  let sentDuringHandler = -1;
  r.server.add("switch", {
    put: () => {
      r.state.on++;
      const before = r.sent.length;
      r.server.notify("light", r.clock.now);
      sentDuringHandler = r.sent.length - before;
      return {};
    },
  });
  const options: CoapOption[] = [];
  setUriPath(options, "switch");
  r.server.receive(encode({ type: Type.CON, code: Code.PUT, mid: 0x7000, token: fromHex("b2"), options, payload: new Uint8Array(0) }), BOB, r.clock.now);
  assert.equal(sentDuringHandler, 0, "nothing sent from within the handler");
  const out = r.sent.splice(0);
  assert.deepEqual(out.map((s) => [formatCode(s.message.code), toHex(s.message.token)]), [["2.04", "b2"], ["2.05", "a1"]], "the PUT's answer, then the notification, both during receive()");
  assert.equal(utf8Decode(out[1].message.payload), "1");
  // outside receive() and tick(), notify() sends at once
  r.state.on++;
  r.server.notify("light", r.clock.now);
  assert.equal(r.sent.length, 1);
});
