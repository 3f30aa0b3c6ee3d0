/*
 * Certificate mode and the DTLS client against real peers:
 * - libcoap's coap-client-openssl and coap-client-gnutls with certificates from
 *   certs/make-test-certs.sh against the fixture host (fixture-server.ts) running
 *   DtlsServer in certificate mode, and in PSK + certificate mode;
 * - our DtlsClient against libcoap's coap-server-openssl (PSK and certificates),
 *   GETting /.well-known/core.
 * coap-client exits 0 even when the handshake fails: its output is what counts.
 * A missing tool makes the cases SKIP.
 */
import { test, assert } from "../lib/harness";
import { now as hostNow } from "host/runtime";
import { available, run } from "../lib/process";
import { startLibcoapServer } from "../lib/libcoap";
import { haveOpenssl, makeTestCerts, removeTestCerts, type TestCerts } from "./certs";
import { KEY } from "./loopback";
import { startFixture, type Fixture } from "./fixture";
import { CERTIFICATE_SUITES } from "dtls-psk/binding";
import { coapGet, readCoap, udpDtlsClient } from "./udp-client";

const CLIENTS = ["coap-client-openssl", "coap-client-gnutls"] as const;
const haveClients = (await available(CLIENTS[0])) && (await available(CLIENTS[1]));
const haveServer = await available("coap-server-openssl");
const certs: TestCerts | undefined = haveOpenssl ? await makeTestCerts() : undefined;
const c = (): TestCerts => certs!;

const skipClients = (!haveOpenssl && "openssl is not installed") || (!haveClients && "coap-client-openssl / coap-client-gnutls are not installed (Debian: libcoap3-bin)");
const skipServer = (!haveOpenssl && "openssl is not installed") || (!haveServer && "coap-server-openssl is not installed (Debian: libcoap3-bin)");

/* the fixture in certificate mode ("cert") or with PSK beside it ("both") */
function startCertificateFixture(mode: "cert" | "both", mutual = true, suites: number[] = []): Promise<Fixture> {
  return startFixture(["127.0.0.1", "8", "120000", "0", mode, c().dir, mutual ? "1" : "0", suites.join(",")]);
}

type Credential = "client" | "other-client" | "expired-client" | "none";

function coapClient(client: string, port: number, credential: Credential, extra: string[] = []) {
  const pki = credential === "none" ? [] : ["-c", c().crt(credential), "-j", c().key(credential)];
  return run([client, "-m", "get", "-B", "5", ...pki, "-R", c().crt("ca"), ...extra, `coaps://127.0.0.1:${port}/light`], { timeout: 10000 });
}

for (const client of CLIENTS) {
  test(`${client} -c client.crt -j client.key -R ca.crt GETs from the node in certificate mode`, async () => {
    const fixture = await startCertificateFixture("cert");
    try {
      const result = await coapClient(client, fixture.port, "client");
      assert.match(result.stdout, /dtls-ok/, `${result.stdout}\n${result.stderr}\n${fixture.host.stdout}`);
      const established = await fixture.host.waitFor(/established \((TLS-ECDHE-ECDSA-[^,]*), certificate "CN=coap-client"\)/, 2000);
      await fixture.host.waitFor(/ended: close_notify from peer/, 2000);
      trace(`  ${client}: ${established[1]}\n`);
      const stats = await fixture.stats();
      assert.equal(stats.sessions, 0);
      assert.equal(stats.requests, 1);
    } finally {
      await fixture.stop();
    }
  }, { skip: skipClients });
}

test("both clients negotiate TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256 when the node offers only it", async () => {
  const fixture = await startCertificateFixture("cert", true, [CERTIFICATE_SUITES.ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]);
  try {
    for (const client of CLIENTS) {
      const result = await coapClient(client, fixture.port, "client");
      assert.match(result.stdout, /dtls-ok/, `${client}: ${result.stderr}\n${fixture.host.stdout}`);
    }
    const established = fixture.host.stdout.match(/established \(TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256, certificate "CN=coap-client"\)/g) ?? [];
    assert.equal(established.length, 2, fixture.host.stdout);
  } finally {
    await fixture.stop();
  }
}, { skip: skipClients });

/*
 * GnuTLS picks its certificate by the CA names of the server's CertificateRequest: a
 * certificate from another CA is not sent at all, so the node sees no certificate.
 * OpenSSL sends it anyway and gets unknown_ca.
 */
const refusals: { credential: Credential; what: string; reason: Record<(typeof CLIENTS)[number], RegExp>; alert: RegExp }[] = [
  {
    credential: "other-client",
    what: "a certificate from another CA",
    reason: {
      "coap-client-openssl": /failed: client certificate not trusted \(unknown CA\) \(certificate "CN=coap-client"\)/,
      "coap-client-gnutls": /failed: no client certificate \(no credentials presented\)/,
    },
    alert: /unknown CA|Alert '40': Handshake failed/i,
  },
  {
    credential: "expired-client",
    what: "an expired certificate",
    reason: {
      "coap-client-openssl": /failed: client certificate expired \(certificate "CN=expired-client"\)/,
      "coap-client-gnutls": /failed: client certificate expired \(certificate "CN=expired-client"\)/,
    },
    alert: /certificate expired|Alert '45'/i,
  },
  {
    credential: "none",
    what: "no certificate",
    reason: {
      "coap-client-openssl": /failed: no client certificate \(no credentials presented\)/,
      "coap-client-gnutls": /failed: no client certificate \(no credentials presented\)/,
    },
    alert: /handshake failure|Alert '40'/i,
  },
];

for (const { credential, what, reason, alert } of refusals) {
  test(`a client with ${what} is refused with a fatal alert and a logged reason; a right client follows`, async () => {
    const fixture = await startCertificateFixture("cert");
    try {
      for (const client of CLIENTS) {
        const before = fixture.host.stdout.length;
        const bad = await coapClient(client, fixture.port, credential);
        const output = bad.stdout + bad.stderr;
        assert.ok(!/dtls-ok/.test(output), `${client} got through with ${credential}`);
        assert.match(output, alert, `${client} output: ${output}`);
        const logged = await fixture.host.waitFor(reason[client], 2000, "stdout", before);
        trace(`  ${client}: ${output.split("\n").find((line) => alert.test(line))?.replace(/^.*DTLS: /, "")}; node: ${logged[0]}\n`);
        const stats = await fixture.stats();
        assert.equal(stats.sessions, 0, "no session left behind");
        const good = await coapClient(client, fixture.port, "client");
        assert.match(good.stdout, /dtls-ok/, `${client} right after: ${good.stderr}`);
      }
      assert.ok(!fixture.host.stdout.includes("PRIVATE KEY"), "no key in the log");
      const stats = await fixture.stats();
      assert.equal(stats.handshakesFailed, 2);
      assert.equal(stats.handshakesCompleted, 2);
    } finally {
      await fixture.stop();
    }
  }, { skip: skipClients, timeout: 20000 });
}

test("PSK and certificates on one port: PSK clients and certificate clients of both libraries", async () => {
  const fixture = await startCertificateFixture("both");
  try {
    for (const client of CLIENTS) {
      const psk = await run([client, "-m", "get", "-B", "5", "-k", "esp32c3_key", "-u", "CoAP", `coaps://127.0.0.1:${fixture.port}/light`], { timeout: 10000 });
      assert.match(psk.stdout, /dtls-ok/, `${client} PSK: ${psk.stderr}`);
      const pki = await coapClient(client, fixture.port, "client");
      assert.match(pki.stdout, /dtls-ok/, `${client} certificate: ${pki.stderr}`);
    }
    const established = fixture.host.stdout.match(/established \([^)]*\)/g) ?? [];
    trace(`  ${established.join("\n  ")}\n`);
    assert.equal(established.filter((l) => /TLS-PSK-.*identity "CoAP"/.test(l)).length, 2);
    assert.equal(established.filter((l) => /TLS-ECDHE-ECDSA-.*certificate "CN=coap-client"/.test(l)).length, 2);
    const bad = await coapClient("coap-client-openssl", fixture.port, "other-client");
    assert.ok(!/dtls-ok/.test(bad.stdout), "mutual authentication still holds with PSK on");
  } finally {
    await fixture.stop();
  }
}, { skip: skipClients, timeout: 20000 });

test("mutualAuth: false: a client without a certificate is served", async () => {
  const fixture = await startCertificateFixture("cert", false);
  try {
    const result = await coapClient("coap-client-openssl", fixture.port, "none");
    assert.match(result.stdout, /dtls-ok/, `${result.stderr}\n${fixture.host.stdout}`);
    await fixture.host.waitFor(/established \(TLS-ECDHE-ECDSA-[^,]*, no credentials presented\)/, 2000);
  } finally {
    await fixture.stop();
  }
}, { skip: skipClients });

/* ---- our DtlsClient against libcoap's coap-server-openssl (DTLS on port + 1) ---- */

async function getWellKnownCore(port: number, options: Parameters<typeof udpDtlsClient>[1]): Promise<{ payload: string; suite: string | undefined; logs: string[] }> {
  const client = udpDtlsClient(port, options);
  try {
    await client.open();
    const suite = client.client.stats().suite;
    const response = readCoap(await client.request(coapGet("/.well-known/core")));
    assert.equal(response.code, "2.05", JSON.stringify(response));
    assert.equal(response.type, 2, "piggybacked ACK");
    client.client.close(hostNow());
    assert.deepEqual(client.closed, ["closed"]);
    return { payload: response.payload, suite, logs: client.logs };
  } finally {
    client.dispose();
  }
}

test("DtlsClient (PSK) GETs /.well-known/core from coap-server-openssl", async () => {
  const { child, port } = await startLibcoapServer(["-k", "esp32c3_key", "-h", "CoAP"]);
  try {
    const { payload, suite } = await getWellKnownCore(port, { psk: { identity: "CoAP", key: KEY } });
    assert.match(payload, /<\/time>/);
    trace(`  ${suite}: ${payload.slice(0, 60)}...\n`);
  } finally {
    child.kill();
    await child.wait();
  }
}, { skip: skipServer });

test("DtlsClient (certificates, mutual) GETs /.well-known/core from coap-server-openssl", async () => {
  const { child, port } = await startLibcoapServer(["-c", c().crt("server"), "-j", c().key("server"), "-C", c().crt("ca")]);
  try {
    const { payload, suite, logs } = await getWellKnownCore(port, {
      ca: c().pem("ca"),
      cert: c().pem("client"),
      key: c().keyPem("client"),
      serverName: "localhost",
    });
    assert.match(payload, /<\/time>/);
    assert.match(logs.join("\n"), /server certificate "CN=127.0.0.1"/);
    trace(`  ${suite}\n`);
  } finally {
    child.kill();
    await child.wait();
  }
}, { skip: skipServer });

test("DtlsClient refuses coap-server-openssl when its certificate is from another CA", async () => {
  const { child, port } = await startLibcoapServer(["-c", c().crt("server"), "-j", c().key("server"), "-C", c().crt("ca")]);
  const client = udpDtlsClient(port, { ca: c().pem("other-ca"), cert: c().pem("client"), key: c().keyPem("client") });
  try {
    await assert.rejects(client.open(), /server certificate not trusted \(unknown CA\)/);
    assert.equal(client.client.stats().handshakesFailed, 1);
  } finally {
    client.dispose();
    child.kill();
    await child.wait();
  }
}, { skip: skipServer });

test("test keys removed", async () => {
  await removeTestCerts(certs);
}, { skip: !haveOpenssl && "openssl is not installed" });
