/*
 * Certificate mode (ECDHE-ECDSA, P-256) and the DtlsClient, in one process: a
 * DtlsServer and DtlsClients through an in-memory queue with a hand-moved clock.
 * Certificates come from certs/make-test-certs.sh, made at test time (SKIP without
 * openssl) and deleted by the last case.
 */
import { test, assert, seededRandom } from "../lib/harness";
import { CERTIFICATE_SUITES, DTLSContext } from "dtls-psk/binding";
import { nativeFigures } from "./heap";
import { DtlsServer, type ServerCertificateOptions } from "dtls-psk/server";
import { DtlsClient } from "dtls-psk/client";
import { haveOpenssl, makeTestCerts, removeTestCerts, type TestCerts } from "./certs";
import { Pair, bytesOf, text } from "./pair";
import { KEY } from "./loopback";
import { CONTENT_ALERT, records } from "./records";


const skip = !haveOpenssl && "openssl is not installed";
const certs: TestCerts | undefined = haveOpenssl ? await makeTestCerts() : undefined;
const c = (): TestCerts => certs!;

function serverCertificate(extra: Partial<ServerCertificateOptions> = {}): ServerCertificateOptions {
  return { cert: c().pem("server"), key: c().keyPem("server"), ca: c().pem("ca"), ...extra };
}

function clientCertificate(name: "client" | "other-client" | "expired-client" = "client") {
  return { ca: c().pem("ca"), cert: c().pem(name), key: c().keyPem(name), serverName: "localhost" };
}

const PSK = { identity: "CoAP", key: KEY };

function noKeyIn(lines: string[]): void {
  const secrets = ["PRIVATE KEY", "esp32c3_key"];
  for (const line of lines) for (const secret of secrets) assert.ok(!line.includes(secret), `secret in log: ${line}`);
}

test("certificate mode: mutual authentication, ECDHE-ECDSA-AES-128-CCM-8, data both ways; every byte given back", () => {
  const baseline = nativeFigures();
  const pair = new Pair({ certificate: serverCertificate() });
  try {
    const a = pair.connect(50001, clientCertificate());
    const [serverSession, clientSession] = [pair.serverBytes, pair.clientBytes];
    assert.equal(a.client.state, "open", `${a.logs.join("\n")}\n${pair.logs.join("\n")}`);
    assert.equal(a.opened, 1);
    assert.equal(a.client.stats().suite, "TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8");
    assert.match(pair.logs.join("\n"), /established \(TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8, certificate "CN=coap-client"\)/);
    assert.match(a.logs.join("\n"), /established \(TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8, server certificate "CN=127.0.0.1"\)/);
    assert.ok(a.client.write(bytesOf("hello"), pair.clock.now));
    pair.pump();
    assert.equal(text(pair.delivered[0].data), "hello");
    assert.equal(text(a.received[0]), "echo:hello");
    trace(`  ${serverSession} bytes per established server session, ${clientSession} per client session\n`);
  } finally {
    pair.dispose();
  }
  // the first X.509 date check of the process (glibc's time zone set-up) must not skew the count
  assert.deepEqual(nativeFigures(), baseline, "sessions and bytes back to where they were");
}, { skip });

for (const [name, suite] of Object.entries(CERTIFICATE_SUITES)) {
  test(`certificate suite ${name} negotiates with DtlsClient`, () => {
    const pair = new Pair({ certificate: serverCertificate(), suites: [suite] });
    try {
      const a = pair.connect(50002, clientCertificate());
      assert.equal(a.client.state, "open", `${a.logs.join("\n")}\n${pair.logs.join("\n")}`);
      assert.equal(a.client.stats().suite, `TLS-${name.replace(/_/g, "-")}`);
      assert.ok(a.client.write(bytesOf("x"), pair.clock.now));
      pair.pump();
      assert.equal(text(a.received[0]), "echo:x");
    } finally {
      pair.dispose();
    }
  }, { skip });
}

for (const [what, options, serverReason] of [
  ["a certificate from another CA", () => clientCertificate("other-client"), "client certificate not trusted (unknown CA)"],
  ["an expired certificate", () => clientCertificate("expired-client"), "client certificate expired"],
  ["no certificate", () => ({ ca: c().pem("ca"), serverName: "localhost" }), "no client certificate"],
] as const) {
  test(`a DtlsClient with ${what} is refused: fatal alert, reason logged, no session left, a right client follows`, () => {
    const pair = new Pair({ certificate: serverCertificate() });
    try {
      const bad = pair.connect(50010, options());
      assert.equal(bad.client.state, "closed");
      assert.equal(bad.opened, 0);
      assert.deepEqual(bad.closed, ["fatal alert from peer"]);
      assert.equal(bad.client.stats().handshakesFailed, 1);
      const last = pair.serverSent[pair.serverSent.length - 1].datagram;
      const header = records(last)[0];
      assert.equal(header.type, CONTENT_ALERT, "the server's last word is an alert");
      assert.equal(header.epoch, 0);
      assert.equal(last[13], 2, "fatal");
      assert.equal(pair.closed.length, 1);
      assert.equal(pair.closed[0].reason, serverReason);
      assert.ok(pair.logs.some((line) => line.includes(`failed: ${serverReason}`)), pair.logs.join("\n"));
      assert.equal(pair.server.stats().sessions, 0);
      assert.equal(pair.server.stats().handshakesFailed, 1);
      noKeyIn([...pair.logs, ...bad.logs]);
      const good = pair.connect(50011, clientCertificate());
      assert.equal(good.client.state, "open");
      trace(`  node: ${pair.logs.find((line) => line.includes("failed:"))}\n`);
    } finally {
      pair.dispose();
    }
  }, { skip });
}

test("the DtlsClient refuses a server whose certificate is from another CA, or names another host", () => {
  const pair = new Pair({ certificate: serverCertificate() });
  try {
    const wrongCa = pair.connect(50020, { ...clientCertificate(), ca: c().pem("other-ca") });
    assert.deepEqual(wrongCa.closed, ["server certificate not trusted (unknown CA)"]);
    assert.match(wrongCa.logs.join("\n"), /handshake failed: server certificate not trusted \(unknown CA\) \(server certificate "CN=127.0.0.1"\)/);
    const wrongName = pair.connect(50021, { ...clientCertificate(), serverName: "coap.example.org" });
    assert.deepEqual(wrongName.closed, ["server certificate does not name the server"]);
    const anyName = pair.connect(50022, { ...clientCertificate(), serverName: undefined });
    assert.equal(anyName.client.state, "open", "without serverName any certificate the CA signed is accepted");
    assert.equal(pair.closed.filter((e) => /fatal alert from peer/.test(e.reason)).length, 2, "the server saw the client's alerts");
    assert.equal(pair.server.stats().sessions, 1);
  } finally {
    pair.dispose();
  }
}, { skip });

test("serverName: DNS names match on every Mbed TLS; an IP address matches its iPAddress entry only from Mbed TLS 3.x on", () => {
  const pair = new Pair({ certificate: serverCertificate() });
  try {
    const byName = pair.connect(50025, { ...clientCertificate(), serverName: "localhost" });
    assert.equal(byName.client.state, "open");
    const byAddress = pair.connect(50026, { ...clientCertificate(), serverName: "127.0.0.1" });
    trace(`  serverName "127.0.0.1" on this host's Mbed TLS: ${byAddress.client.state === "open" ? "matched" : byAddress.closed.join(", ")}\n`);
    assert.ok(byAddress.client.state === "open" || byAddress.closed[0] === "server certificate does not name the server", byAddress.closed.join(", "));
  } finally {
    pair.dispose();
  }
}, { skip });

test("mutualAuth: false serves clients without a certificate; PSK and certificates share one server", () => {
  const pair = new Pair({ identity: "CoAP", key: KEY, certificate: serverCertificate({ mutualAuth: false }) });
  try {
    const anonymous = pair.connect(50030, { ca: c().pem("ca"), serverName: "localhost" });
    assert.equal(anonymous.client.state, "open", pair.logs.join("\n"));
    const psk = pair.connect(50031, { psk: PSK });
    assert.equal(psk.client.stats().suite, "TLS-PSK-WITH-AES-128-CCM-8");
    const both = pair.connect(50032, { psk: PSK, ...clientCertificate() });
    assert.equal(both.client.state, "open", "a client offering both kinds gets the server's first choice");
    trace(`  ${pair.logs.filter((l) => l.includes("established")).join("\n  ")}\n`);
    assert.match(pair.logs.join("\n"), /established \(TLS-ECDHE-ECDSA-WITH-AES-128-CCM-8, no credentials presented\)/);
    assert.match(pair.logs.join("\n"), /established \(TLS-PSK-WITH-AES-128-CCM-8, identity "CoAP"\)/);
  } finally {
    pair.dispose();
  }
}, { skip });

test("PSK and certificates with mutual authentication: a PSK client is served, a certificate client must still prove itself", () => {
  const pair = new Pair({ identity: "CoAP", key: KEY, certificate: serverCertificate() });
  try {
    assert.equal(pair.connect(50040, { psk: PSK }).client.state, "open");
    assert.equal(pair.connect(50041, clientCertificate()).client.state, "open");
    assert.equal(pair.connect(50042, clientCertificate("other-client")).client.state, "closed");
    assert.equal(pair.connect(50043, { psk: { identity: "CoAP", key: bytesOf("wrong_key") } }).client.state, "closed");
    assert.equal(pair.server.stats().established, 2);
    assert.equal(pair.server.stats().handshakesFailed, 2);
  } finally {
    pair.dispose();
  }
}, { skip });

test("DER credentials (one certificate each, SEC1/PKCS#8 keys) work as well as PEM", async () => {
  const certificate = { cert: await c().der("server"), key: await c().der("server-key"), ca: await c().der("ca") };
  const pair = new Pair({ certificate });
  try {
    const a = pair.connect(50050, { ca: await c().der("ca"), cert: await c().der("client"), key: await c().der("client-key"), serverName: "localhost" });
    assert.equal(a.client.state, "open", `${a.logs.join("\n")}\n${pair.logs.join("\n")}`);
  } finally {
    pair.dispose();
  }
}, { skip });

test("bad credentials are refused when the server or client is made, naming the argument and never its content", () => {
  const make = (certificate: ServerCertificateOptions) => new DtlsServer({ certificate, send() {}, onData() {} });
  const garbage = bytesOf("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
  const cases: [() => unknown, RegExp][] = [
    [() => make(serverCertificate({ cert: garbage })), /invalid certificate/],
    [() => make(serverCertificate({ key: c().keyPem("client") })), /private key does not match the certificate/],
    [() => make(serverCertificate({ key: bytesOf("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n") })), /invalid private key/],
    [() => make(serverCertificate({ ca: garbage })), /invalid ca/],
    [() => make(serverCertificate({ ca: undefined })), /mutual authentication needs certificate.ca/],
    [() => new DtlsServer({ send() {}, onData() {} }), /no credentials/],
    [() => new DtlsClient({ cert: c().pem("client"), key: c().keyPem("client"), send() {}, onData() {} }), /needs ca/],
    [() => new DtlsClient({ send() {}, onData() {} }), /no credentials/],
    [() => new DTLSContext({ certificate: c().pem("server") }), /certificate and private key go together/],
  ];
  for (const [make, message] of cases) {
    const error = assert.throws(make, message) as Error;
    assert.ok(!String(error.message).includes("BEGIN"), `no credential in ${error.message}`);
  }
}, { skip });

test("DtlsClient (PSK): HelloVerifyRequest, write only when open, close_notify both ways, reconnect", () => {
  const pair = new Pair({ identity: "CoAP", key: KEY });
  try {
    const a = pair.client(50060, { psk: PSK });
    assert.equal(a.client.write(bytesOf("early"), pair.clock.now), false, "not open yet");
    a.client.connect(pair.clock.now);
    assert.equal(a.client.state, "handshaking");
    a.client.connect(pair.clock.now); // no second session
    pair.pump();
    assert.equal(a.client.state, "open");
    assert.equal(pair.server.stats().helloVerifyRequests, 1);
    assert.equal(a.client.nextDeadline(), undefined, "no timer while open");
    assert.ok(a.client.write(bytesOf("one"), pair.clock.now));
    pair.pump();
    assert.equal(text(a.received[0]), "echo:one");
    a.client.close(pair.clock.now);
    pair.pump();
    assert.deepEqual(a.closed, ["closed"]);
    assert.equal(pair.closed[0].reason, "close_notify from peer");
    assert.equal(a.client.write(bytesOf("late"), pair.clock.now), false);
    a.client.connect(pair.clock.now);
    pair.pump();
    assert.equal(a.client.state, "open", "connect() after close() starts over");
    pair.server.closeAll(pair.clock.now);
    pair.pump();
    assert.deepEqual(a.closed, ["closed", "close_notify from peer"]);
    assert.equal(a.client.state, "closed");
    const stats = a.client.stats();
    assert.equal(stats.handshakesStarted, 2);
    assert.equal(stats.handshakesCompleted, 2);
    assert.equal(stats.recordsWritten, 1);
    assert.equal(stats.recordsDelivered, 1);
    const dropped = stats.dropped; // the server's answer to our close_notify came after the session ended
    a.client.receive(bytesOf("stray"), pair.clock.now);
    assert.equal(a.client.stats().dropped, dropped + 1, "datagrams without a session are dropped");
  } finally {
    pair.dispose();
  }
});

test("DtlsClient retransmits a lost flight at its deadline, and gives up after 1+2+...+60 s against a silent server", () => {
  const pair = new Pair({ identity: "CoAP", key: KEY });
  try {
    let lost = 0;
    pair.drop = (_datagram, toServer) => !toServer && lost++ === 1; // the server's ServerHello flight, once
    const a = pair.connect(50070, { psk: PSK });
    assert.equal(a.client.state, "handshaking");
    assert.equal(a.client.nextDeadline(), pair.clock.now + 1000, "RFC 6347: 1 s initial timer");
    pair.clock.skip(1000);
    pair.tick();
    assert.equal(a.client.state, "open", a.logs.join("\n"));

    pair.drop = (_datagram, toServer) => toServer; // the server is gone
    const b = pair.connect(50071, { psk: PSK });
    const intervals: number[] = [];
    for (let i = 0; i < 20 && b.client.state === "handshaking"; i++) {
      const deadline = b.client.nextDeadline()!;
      intervals.push(deadline - pair.clock.now);
      pair.clock.now = deadline;
      b.client.tick(pair.clock.now);
    }
    trace(`  client retransmission intervals: ${intervals.join(", ")} ms\n`);
    assert.deepEqual(intervals.slice(0, 4), [1000, 2000, 4000, 8000]);
    assert.deepEqual(b.closed, ["handshake timed out"]);
    assert.atLeast(b.sent.length, 6);
  } finally {
    pair.dispose();
  }
});

test("callbacks may close the client: from onOpen and from onData", () => {
  const pair = new Pair({ identity: "CoAP", key: KEY });
  try {
    const a = pair.client(50080, { psk: PSK, onOpen: (now) => a.client.close(now) });
    a.client.connect(pair.clock.now);
    pair.pump();
    assert.deepEqual(a.closed, ["closed"]);
    const b = pair.client(50081, { psk: PSK, onData: (_data, now) => b.client.close(now) });
    b.client.connect(pair.clock.now);
    pair.pump();
    assert.ok(b.client.write(bytesOf("x"), pair.clock.now));
    pair.pump();
    assert.deepEqual(b.closed, ["closed"]);
    assert.equal(pair.server.stats().sessions, 0);
  } finally {
    pair.dispose();
  }
});

test("100 certificate handshakes and closes leave no session and no byte behind", () => {
  const pair = new Pair({ identity: "CoAP", key: KEY, certificate: serverCertificate(), sessionCache: 0 }); // no cached session: every byte left would be a leak
  try {
    const baseline = nativeFigures();
    let serverBytes = 0;
    let clientBytes = 0;
    for (let i = 0; i < 100; i++) {
      const [server0, client0] = [pair.serverBytes, pair.clientBytes];
      const a = pair.connect(51000 + i, i % 10 === 9 ? clientCertificate("expired-client") : clientCertificate());
      if (i % 10 === 9) {
        assert.equal(a.client.state, "closed");
      } else {
        assert.equal(a.client.state, "open");
        assert.ok(a.client.write(bytesOf("x"), pair.clock.now));
        pair.pump();
        serverBytes = pair.serverBytes - server0;
        clientBytes = pair.clientBytes - client0;
        if (i % 2) a.client.close(pair.clock.now);
        else pair.server.close({ address: "127.0.0.1", port: 51000 + i }, pair.clock.now);
        pair.pump();
      }
      a.client.dispose(pair.clock.now);
      pair.clients.delete(51000 + i);
    }
    const after = nativeFigures();
    assert.equal(pair.server.stats().handshakesCompleted, 90);
    assert.equal(pair.server.stats().handshakesFailed, 10);
    assert.equal(after.sessions, baseline.sessions, "native sessions");
    assert.equal(after.bytes, baseline.bytes, "heap bytes");
    trace(`  100 handshakes: ${serverBytes} bytes per server session, ${clientBytes} per client session; ${after.bytes} bytes held afterwards (server context with certificates + RNG)\n`);
  } finally {
    pair.dispose();
  }
}, { skip, timeout: 30000 });

test("fuzzed certificate-handshake datagrams never throw, never leak, and leave an established session working", () => {
  const pair = new Pair({ identity: "CoAP", key: KEY, certificate: serverCertificate(), sessionCache: 0 }); // no cached session: every byte left would be a leak
  try {
    const random = seededRandom(0xce57);
    const baseline = nativeFigures();
    const a = pair.connect(52000, clientCertificate());
    assert.equal(a.client.state, "open");
    const samples = [...a.sent, ...pair.serverSent.map((s) => s.datagram)];
    for (let i = 0; i < 1000; i++) {
      const base = samples[Math.floor(random() * samples.length)].slice();
      const flips = 1 + Math.floor(random() * 4);
      for (let f = 0; f < flips; f++) base[Math.floor(random() * base.length)] = Math.floor(random() * 256);
      const cut = random() < 0.2 ? base.subarray(0, Math.floor(random() * base.length)) : base;
      pair.server.receive(cut, { address: "127.0.0.1", port: random() < 0.5 ? 52000 : 52100 + Math.floor(random() * 50) }, pair.clock.now);
      if (i % 100 === 0) a.client.receive(cut, pair.clock.now); // the client side too
    }
    pair.pump();
    // a datagram dropped by an exception (server.ts's catch), not one the reassembly refused
    const thrown = pair.logs.filter((line) => line.startsWith("dtls: datagram from"));
    assert.ok(thrown.length === 0, thrown.join("\n"));
    if (a.client.state === "open" && pair.server.sessionOf({ address: "127.0.0.1", port: 52000 })) {
      assert.ok(a.client.write(bytesOf("after"), pair.clock.now));
      pair.pump();
      assert.equal(text(pair.delivered[pair.delivered.length - 1].data), "after");
    }
    const stats = pair.server.stats();
    trace(`  fuzz: ${stats.sessions} sessions, ${stats.helloVerifyRequests} HVRs, ${stats.dropped} dropped, ${stats.handshakesFailed} failed handshakes\n`);
    pair.server.closeAll(pair.clock.now);
    pair.pump();
    a.client.dispose(pair.clock.now);
    pair.clients.clear();
    assert.equal(nativeFigures().sessions, baseline.sessions, "no native session left");
    assert.equal(nativeFigures().bytes, baseline.bytes, "no bytes left by fuzzed sessions");
  } finally {
    pair.dispose();
  }
}, { skip });

test("test keys removed", async () => {
  await removeTestCerts(certs);
}, { skip });
