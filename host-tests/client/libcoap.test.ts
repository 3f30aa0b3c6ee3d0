/*
 * The CoAP client end to end against a real peer, libcoap's coap-server-notls on
 * loopback: piggybacked GET, Block2 reassembly of /.well-known/core in 32-byte
 * blocks (compared with what coap-client-notls gets), a separate response from
 * libcoap's /async resource (Empty ACK first, then a CON the client ACKs),
 * POST creating a dynamic resource (2.01 + Location-Path), 4.04, and a timeout
 * against a port where nobody listens. Skipped when libcoap3-bin is missing.
 */
import { test, assert, sleep } from "../lib/harness";
import { available, Child, run } from "../lib/process";
import { randomPort } from "../lib/net";
import { decode } from "coap/codec";
import { CoapClient, CoapClientError, type ClientResponse, type RequestOptions } from "coap/client";
import { DeadlineScheduler, UdpEndpoint, monotonicNow } from "coap/endpoint";
import { Code, Type } from "coap/numbers";

const ok: (value: unknown, message?: string) => void = assert.ok;

const missing = !(await available("coap-server-notls")) || !(await available("coap-client-notls"));
const SKIP = missing && "coap-server-notls / coap-client-notls not installed (Debian package libcoap3-bin)";

/** A client on an ephemeral UDP port, with its scheduler; records the types and codes it sends. */
function udpClient(port: number, transport = {}) {
  const scheduler = new DeadlineScheduler();
  const sent: { type: number; code: number }[] = [];
  const client: CoapClient = new CoapClient({
    send: (d, p) => {
      const m = decode(d);
      sent.push({ type: m.type, code: m.code });
      endpoint.send(d, p);
    },
    random: Math.random,
    peer: { address: "127.0.0.1", port },
    transport,
    onDeadlineChange: () => scheduler.update(),
  });
  const endpoint = new UdpEndpoint({ port: 0, address: "127.0.0.1", onDatagram: (d, p, now) => client.receive(d, p, now), onIdle: () => scheduler.update() });
  scheduler.add(client);
  return {
    client,
    sent,
    /** a request at the scheduler's clock */
    request: (options: RequestOptions) => client.request(options, scheduler.now()),
    close() {
      client.close(scheduler.now());
      scheduler.stop();
      endpoint.close();
    },
  };
}

async function startServer(port: number): Promise<Child> {
  const server = new Child(["coap-server-notls", "-A", "127.0.0.1", "-p", String(port), "-d", "4", "-v", "7"]);
  await server.waitFor(/created UDP +endpoint/, 5000);
  return server;
}

test("client vs coap-server-notls: GET, Block2 in 32-byte blocks, separate response, POST 2.01 + Location-Path, 4.04", async () => {
  const port = randomPort();
  const server = await startServer(port);
  const c = udpClient(port);
  try {
    const time = await c.request({ path: "time" });
    assert.equal(time.code, Code.CONTENT);

    const reference = (await run(["coap-client-notls", "-m", "get", `coap://127.0.0.1:${port}/.well-known/core`], { timeout: 10000 })).stdout.trim();
    const core = await c.request({ path: ".well-known/core", blockSzx: 1 });
    assert.equal(core.code, Code.CONTENT);
    assert.equal(core.contentFormat, 40);
    assert.equal(core.text(), reference, "the reassembled body is what coap-client gets");
    ok(core.payload.length > 64, `several blocks (${core.payload.length} bytes)`);
    ok(/c:GET [^\n]*Block2:2\/\w\/32/.test(server.stdout), "libcoap saw a request for block 2 of 32 bytes");

    c.sent.length = 0;
    const started = monotonicNow();
    const delayed = await c.request({ path: "async", query: ["1"] });
    assert.equal(delayed.code, Code.CONTENT);
    ok(monotonicNow() - started >= 900, "libcoap answered after its 1 s delay");
    ok(c.sent.some((s) => s.type === Type.ACK && s.code === Code.EMPTY), "the separate CON response was acknowledged by the client");

    const created = await c.request({ method: "POST", path: "telemetry", payload: '[{"v":1}]', contentFormat: 110 });
    assert.equal(created.code, Code.CREATED);
    assert.deepEqual(created.locationPath, ["telemetry"]);
    const stored = await c.request({ path: "telemetry" });
    assert.equal(stored.text(), '[{"v":1}]');

    const missingPath = await c.request({ path: "no/such/thing" });
    assert.equal(missingPath.code, Code.NOT_FOUND);
    assert.equal(c.client.stats().exchanges, 0);
  } finally {
    c.close();
    server.kill();
    await server.wait();
  }
}, { timeout: 20000, skip: SKIP });

test("client: a CON to a port where nobody answers is retransmitted, then rejected with 'timeout'", async () => {
  const port = randomPort();
  const c = udpClient(port, { ackTimeout: 100, maxRetransmit: 2 });
  try {
    const started = monotonicNow();
    const error = await c.request({ path: "x" }).then(
      (r: ClientResponse) => r,
      (e: unknown) => e,
    );
    ok(error instanceof CoapClientError && error.reason === "timeout", String(error));
    const elapsed = monotonicNow() - started;
    ok(elapsed >= 700 && elapsed < 1500, `gave up after 100+200+400 ms (x1..1.5): ${elapsed} ms`);
    assert.equal(c.sent.length, 3, "the request and 2 retransmissions");
  } finally {
    c.close();
    await sleep(0);
  }
}, { timeout: 10000 });
