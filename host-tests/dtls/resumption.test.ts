/*
 * Session resumption on the server: RFC 5077 tickets (stateless: nothing kept per
 * client) and the session-ID cache (RFC 5246 7.4.1.2), judged by other stacks' own
 * words: OpenSSL's s_client prints "Reused" for an abbreviated handshake, gnutls-cli
 * "This is a resumed session". Then the bounds: tickets die with a restart and with
 * their lifetime, the cache keeps at most its entries, both can be turned off; and the
 * native memory a ticket context costs.
 */
import { test, assert, sleep } from "../lib/harness";
import { available, run, scratchDirectory } from "../lib/process";
import { DTLSContext } from "dtls-psk/binding";
import { startFixture, type Fixture } from "./fixture";
import { sClient } from "./s-client";
import { bytesKeptBy, nativeFigures } from "./heap";

const HEX_KEY = "657370333263335f6b6579"; // "esp32c3_key"

async function need(program: string): Promise<void> {
  if (!(await available(program))) throw new Error(`${program} is missing: the test set-up installs it (host-tests/debian-packages.txt)`);
}

/** A full handshake that saves the session, then one that offers it: what the second one was. */
async function resumeWithSClient(port: number, noTicket = false, file = `${scratchDirectory()}/session.pem`): Promise<[string, string]> {
  const first = await sClient(port, { out: file, noTicket });
  const second = await sClient(port, { in: file, noTicket });
  return [first, second];
}

async function withFixture(args: string[], body: (fixture: Fixture) => Promise<void>): Promise<void> {
  const fixture = await startFixture(args);
  try {
    await body(fixture);
  } finally {
    await fixture.stop();
  }
}

/* fixture arguments: address, maxSessions, idle, preferEcdhe, mode, certDir, mutual, suites, ticketLifetimeS, sessionCache */
const resumption = (tickets: string, cache: string): string[] => ["127.0.0.1", "8", "120000", "0", "psk", "", "1", "", tickets, cache];

test("openssl s_client -sess_out, then -sess_in: Reused through a session ticket; the node logs the identity and \"resumed\"", async () => {
  await need("openssl");
  await withFixture(resumption("3600", "0"), async (fixture) => {
    assert.deepEqual(await resumeWithSClient(fixture.port), ["New", "Reused"], fixture.host.stdout);
    const stats = await fixture.stats();
    assert.equal(stats.handshakesCompleted, 2);
    assert.equal(stats.handshakesResumed, 1);
    assert.equal(stats.sessions, 0);
    await fixture.host.waitFor(/established \(TLS-PSK-[^,]*, identity "CoAP", resumed\)/, 2000);
  });
}, { timeout: 30000 });

test("tickets keep nothing per client: after five ticketed clients the native heap is what it was idle", async () => {
  await need("openssl");
  await withFixture(resumption("3600", "0"), async (fixture) => {
    const idle = Number((await fixture.stats()).nativeHeap);
    for (let i = 0; i < 5; i++) assert.equal(await sClient(fixture.port, { out: `${scratchDirectory()}/s${i}.pem` }), "New");
    const stats = await fixture.stats();
    assert.equal(stats.sessions, 0);
    assert.equal(Number(stats.nativeHeap), idle, "no per-client state");
  });
}, { timeout: 30000 });

test("gnutls-cli --resume: \"This is a resumed session\"", async () => {
  await need("gnutls-cli");
  await withFixture(resumption("3600", "4"), async (fixture) => {
    const result = await run(["gnutls-cli", "--udp", "--resume", "-p", String(fixture.port), "--pskusername", "CoAP", "--pskkey", HEX_KEY, "--priority", "NORMAL:+PSK:+ECDHE-PSK", "127.0.0.1"], { timeout: 15000, input: "" });
    assert.match(result.stdout, /This is a resumed session/, `${result.stdout}\n${result.stderr}\n${fixture.host.stdout}`);
    assert.equal((await fixture.stats()).handshakesResumed, 1);
  });
}, { timeout: 30000 });

test("a client without tickets (s_client -no_ticket) resumes from the session-ID cache", async () => {
  await need("openssl");
  await withFixture(resumption("0", "4"), async (fixture) => {
    assert.deepEqual(await resumeWithSClient(fixture.port, true), ["New", "Reused"], fixture.host.stdout);
    assert.equal((await fixture.stats()).handshakesResumed, 1);
  });
}, { timeout: 30000 });

test("both off (tickets 0, cache 0): every handshake is a full one", async () => {
  await need("openssl");
  await withFixture(resumption("0", "0"), async (fixture) => {
    assert.deepEqual(await resumeWithSClient(fixture.port), ["New", "New"]);
    assert.deepEqual(await resumeWithSClient(fixture.port, true), ["New", "New"]);
    assert.equal((await fixture.stats()).handshakesResumed, 0);
  });
}, { timeout: 30000 });

test("a ticket from before a restart is not taken (the ticket key is made at start): a full handshake follows", async () => {
  await need("openssl");
  const file = `${scratchDirectory()}/session.pem`;
  let port = 0;
  await withFixture(resumption("3600", "0"), async (fixture) => {
    port = fixture.port;
    assert.equal(await sClient(fixture.port, { out: file }), "New");
  });
  await withFixture(resumption("3600", "0"), async (fixture) => {
    assert.notEqual(fixture.port, 0);
    assert.equal(await sClient(fixture.port, { in: file }), "New", "the old ticket did not resume");
    const stats = await fixture.stats();
    assert.equal(stats.handshakesCompleted, 1);
    assert.equal(stats.handshakesFailed, 0, "an unusable ticket costs a full handshake, not a failure");
  });
  assert.ok(port > 0);
}, { timeout: 30000 });

test("a ticket older than its lifetime (1 s here) is not taken", async () => {
  await need("openssl");
  await withFixture(resumption("1", "0"), async (fixture) => {
    const file = `${scratchDirectory()}/session.pem`;
    assert.equal(await sClient(fixture.port, { out: file }), "New");
    await sleep(2200);
    assert.equal(await sClient(fixture.port, { in: file }), "New", "the expired ticket did not resume");
    assert.equal((await fixture.stats()).handshakesFailed, 0);
  });
}, { timeout: 30000 });

test("the session-ID cache keeps at most its entries: with 1, the older of two clients no longer resumes", async () => {
  await need("openssl");
  await withFixture(resumption("0", "1"), async (fixture) => {
    const a = `${scratchDirectory()}/a.pem`;
    const b = `${scratchDirectory()}/b.pem`;
    const idle = Number((await fixture.stats()).nativeHeap);
    assert.equal(await sClient(fixture.port, { out: a, noTicket: true }), "New");
    const entry = Number((await fixture.stats()).nativeHeap) - idle;
    trace(`  native heap per session-ID cache entry (PSK session, host): ${entry} B\n`);
    assert.ok(entry > 0 && entry < 1024, `${entry} B kept for one cached session`);
    assert.equal(await sClient(fixture.port, { out: b, noTicket: true }), "New");
    assert.equal(await sClient(fixture.port, { in: b, noTicket: true }), "Reused", "b's session is the one kept");
    assert.equal(await sClient(fixture.port, { in: a, noTicket: true }), "New", "a's session was pushed out by b's");
  });
}, { timeout: 30000 });

test("resumption options are checked; memory: a ticket context and a cache entry (native heap, host)", () => {
  const base = { identity: ArrayBuffer.fromString("CoAP"), key: new Uint8Array(ArrayBuffer.fromString("esp32c3_key")) };
  for (const [options, message] of [
    [{ tickets: -1 }, /invalid tickets/],
    [{ tickets: 604801 }, /invalid tickets/],
    [{ cache: 65 }, /invalid cache/],
  ] as const) {
    assert.throws(() => new DTLSContext({ ...base, ...options }), message);
  }
  nativeFigures();
  let plain: DTLSContext | undefined;
  let ticketed: DTLSContext | undefined;
  const without = bytesKeptBy(() => (plain = new DTLSContext({ ...base, tickets: 0, cache: 0 })));
  const withTickets = bytesKeptBy(() => (ticketed = new DTLSContext({ ...base, tickets: 3600, cache: 0 })));
  plain!.close();
  ticketed!.close();
  const ticketBytes = withTickets - without;
  trace(`  native heap of a server context: ${without} B without tickets, ${withTickets} B with (${ticketBytes} B for the ticket context, two keys)\n`);
  assert.ok(ticketBytes > 0 && ticketBytes < 4096, `${ticketBytes} B for tickets`);
});
