/*
 * The node (main.ts) in the other deployments of issue 9, configured as a user
 * would (mc/config keys): certificate mode on 5684 with libcoap's clients,
 * registration at libcoap's Resource Directory, and SenML telemetry to libcoap's
 * coap-server. Skipped when openssl or libcoap3-bin is missing.
 */
import { test, assert, sleep, waitFor } from "../lib/harness";
import { available, Child, SIGTERM, coapClient, run, scratchDirectory, startNode, stop } from "../lib/process";
import { randomPort } from "../lib/net";
import { makeDirectory } from "host/runtime";
import { makeTestCerts, removeTestCerts, haveOpenssl } from "../dtls/certs";
import { received, startCollector } from "../telemetry/e2e";

const haveLibcoap = (await available("coap-rd-notls")) && (await available("coap-client-openssl")) && (await available("coap-client-gnutls"));
const SKIP = (!haveOpenssl && "openssl is not installed") || (!haveLibcoap && "libcoap3-bin is not installed") || false;

/** A --data folder whose resources hold the node's certificate, key and client CA (DER), as a build's resources would. */
async function dataWithCertificates(folder: string): Promise<string> {
  const data = scratchDirectory();
  makeDirectory(`${data}/resources`);
  for (const file of ["server.der", "server-key.der", "ca.der"]) {
    const copied = await run(["cp", `${folder}/${file}`, `${data}/resources/${file}`]);
    assert.equal(copied.status, 0, copied.stderr);
  }
  return data;
}

const CERTIFICATE_CONFIG = { dtlsCertificate: "server.der", dtlsKey: "server-key.der", dtlsCa: "ca.der" };

function ports(): { coapPort: number; coapsPort: number } {
  const coapPort = randomPort();
  return { coapPort, coapsPort: coapPort + 1 };
}

test("certificate mode: libcoap's clients with the right certificate get /light; another CA, an expired one or none are refused; PSK still works", async () => {
  const certs = await makeTestCerts();
  const data = await dataWithCertificates(certs.dir);
  const config = { ...ports(), ...CERTIFICATE_CONFIG };
  const node = await startNode(data, config);
  const uri = `coaps://127.0.0.1:${config.coapsPort}/light`;
  const withCert = (program: string, name: "client" | "other-client" | "expired-client") =>
    coapClient(["-m", "get", "-c", certs.crt(name), "-j", certs.key(name), "-R", certs.crt("ca"), uri], program);
  try {
    assert.match(node.stdout, /started; .*certificates/);
    assert.equal((await withCert("coap-client-openssl", "client")).trim(), "0");
    await node.waitFor(/established \(TLS-ECDHE-ECDSA-WITH-AES-128-[^,]*, certificate "CN=/);
    assert.match(await withCert("coap-client-openssl", "other-client"), /alert|unknown ca/i);
    await node.waitFor(/failed: (client certificate not trusted|no client certificate)/);
    assert.equal((await withCert("coap-client-openssl", "client")).trim(), "0", "a correct client right after");
    assert.match(await withCert("coap-client-openssl", "expired-client"), /alert|expired/i);
    await node.waitFor(/failed: client certificate expired/);
    assert.match(await coapClient(["-m", "get", "-R", certs.crt("ca"), uri], "coap-client-openssl"), /alert|failure/i);
    await node.waitFor(/failed: no client certificate/);
    assert.equal((await withCert("coap-client-gnutls", "client")).trim(), "0", "gnutls with the same certificates");
    assert.equal((await coapClient(["-m", "get", "-k", "esp32c3_key", "-u", "CoAP", uri], "coap-client-openssl")).trim(), "0", "PSK beside certificates");
    assert.ok(!/PRIVATE KEY/.test(node.stdout + node.stderr), "no key in the log");
  } finally {
    await stop(node);
    await removeTestCerts(certs);
  }
}, { timeout: 60000, skip: SKIP });

test("the node registers /light and /temperature at coap-rd-notls, again after the RD restarts, and sends a DELETE when stopped", async () => {
  const rdPort = randomPort();
  const startRd = async () => {
    const child = new Child(["coap-rd-notls", "-A", "127.0.0.1", "-p", String(rdPort), "-v", "7"]);
    await child.waitFor(/created UDP +endpoint/, 5000);
    return child;
  };
  const lookup = async (): Promise<string[]> => {
    // libcoap's RD has no rd-lookup: its /.well-known/core lists </rd/ID>, GET /rd/ID gives the links
    const index = await coapClient(["-B", "5", "-m", "get", `coap://127.0.0.1:${rdPort}/.well-known/core`]);
    const out: string[] = [];
    for (const m of index.matchAll(/<([/]rd[/][^>]+)>/g)) out.push(await coapClient(["-B", "5", "-m", "get", `coap://127.0.0.1:${rdPort}${m[1]}`]));
    return out;
  };
  let rd = await startRd();
  const config = { ...ports(), rdUri: `coap://127.0.0.1:${rdPort}`, endpointName: "node-under-test", rdLifetime: 20 };
  const node = await startNode(scratchDirectory(), config);
  try {
    await node.waitFor(/rd: registered as "node-under-test"/, 5000);
    let links = await lookup();
    assert.equal(links.length, 1, links.join("\n"));
    assert.match(links[0], /<[/]light>;[^,]*rt="light"/);
    assert.match(links[0], /<[/]temperature>;[^,]*rt="temperature-c"/);
    stop(rd);
    await rd.exited;
    rd = await startRd();
    // lifetime 20 s: the node updates every 10 s; the forgotten registration is renewed then
    await node.waitForNext(/rd: registered as "node-under-test"/, 15000);
    links = await lookup();
    assert.equal(links.length, 1, node.stdout.split("\n").filter((l) => l.startsWith("rd:")).join("\n"));
    assert.match(links[0], /<[/]light>/);
    const bye = rd.waitForNext(/c:DELETE [^\n]*Uri-Path:rd/, 5000);
    node.kill(SIGTERM);
    await bye;
    const finished = await node.wait(6000);
    assert.equal(finished.status, 0, finished.stderr);
  } finally {
    if (!node.finished) await stop(node);
    await stop(rd);
  }
}, { timeout: 60000, skip: SKIP });

test("telemetry: the node POSTs its simulated temperature as SenML to coap-server-notls, and reports a change", async () => {
  const collectorPort = randomPort();
  const collector = await startCollector(collectorPort);
  const config = { ...ports(), telemetryUri: `coap://127.0.0.1:${collectorPort}/telemetry`, telemetryPeriod: 500, endpointName: "node-under-test" };
  const node = await startNode(scratchDirectory(), config);
  try {
    await sleep(1500);
    node.send("temp 30.5\n");
    await collector.waitFor(/30\.5/, 10000).catch(() => undefined);
    await sleep(800);
    const packs = received(collector.stdout);
    assert.ok(packs.length >= 2, `packs received: ${packs.length}`);
    const records = packs.flatMap((p) => JSON.parse(p.payload) as { bn?: string; n: string; u: string; v: number }[]);
    assert.ok(records.every((r) => r.n === "temperature" && r.u === "Cel"), JSON.stringify(records));
    assert.match(packs[0].payload, /"bn":"[^"]*node-under-test/);
    assert.equal(records[0].v, 21.4375, "the simulated sensor's reading");
    assert.ok(records.some((r) => r.v === 30.5), `the change arrives: ${JSON.stringify(records.map((r) => r.v))}`);
  } finally {
    await stop(node);
    await stop(collector);
  }
}, { timeout: 40000, skip: SKIP });

test("telemetry over coaps:// with certificates: the node in certificate mode reports to coap-server-openssl, which checks its client certificate", async () => {
  const certs = await makeTestCerts();
  const data = await dataWithCertificates(certs.dir);
  const collectorPort = randomPort();
  // coap-server-openssl serves DTLS on its -p port + 1 and requires a client certificate signed by -C
  const collector = new Child(["coap-server-openssl", "-A", "127.0.0.1", "-p", String(collectorPort), "-d", "4", "-v", "7",
    "-c", certs.crt("server"), "-j", certs.key("server"), "-C", certs.crt("ca")]);
  const config = {
    ...ports(), ...CERTIFICATE_CONFIG,
    telemetryUri: `coaps://127.0.0.1:${collectorPort + 1}/telemetry`, telemetryPeriod: 400, endpointName: "cert-node",
  };
  let node: Child | undefined;
  try {
    await collector.waitFor(/created DTLS +endpoint/, 5000);
    node = await startNode(data, config);
    await node.waitFor(/coaps: dtls session to 127\.0\.0\.1:\d+ open/, 10000);
    await waitFor(() => received(collector.stdout).length >= 1, 10000, "a SenML pack at the collector");
    const packs = received(collector.stdout);
    assert.match(packs[0].payload, /"bn":"[^"]*cert-node/);
    assert.match(packs[0].payload, /"n":"temperature","u":"Cel","v":21\.4375/);
  } finally {
    if (node) await stop(node);
    await stop(collector);
    await removeTestCerts(certs);
  }
}, { timeout: 40000, skip: SKIP });
