/*
 * The DTLS server against real peers: libcoap's coap-client-openssl and
 * coap-client-gnutls talk to a fixture host (fixture-server.ts) that runs DtlsServer
 * on a UDP socket and answers every decrypted request with "dtls-ok". coap-client
 * exits 0 even when the handshake fails, so its output is what the tests assert on.
 */
import UDP from "embedded:io/socket/udp";
import { test, assert, waitFor } from "../lib/harness";
import { run } from "../lib/process";
import { startFixture } from "./fixture";
import { openUDP, type ClosableUDP } from "../lib/net";
import { clientHello, cookieOf, records, CONTENT_APPLICATION_DATA } from "./records";

type Datagram = ArrayBuffer & { address: string; port: number };

const CLIENTS = ["coap-client-openssl", "coap-client-gnutls"] as const;

function coapClient(client: string, url: string, options: { key?: string; identity?: string; extra?: string[] } = {}) {
  return run([client, "-m", "get", "-B", "5", ...(options.extra ?? []), "-k", options.key ?? "esp32c3_key", "-u", options.identity ?? "CoAP", url], { timeout: 10000 });
}

for (const client of CLIENTS) {
  test(`${client} GETs over DTLS-PSK (IPv4 and IPv6)`, async () => {
    for (const [address, host] of [["127.0.0.1", "127.0.0.1"], ["::1", "[::1]"]]) {
      const fixture = await startFixture([address]);
      try {
        const result = await coapClient(client, `coaps://${host}:${fixture.port}/light`);
        assert.match(result.stdout, /dtls-ok/, `${result.stdout}\n${result.stderr}\n${fixture.host.stdout}`);
        await fixture.host.waitFor(/established \(TLS-PSK-WITH-AES-128-CCM-8, identity "CoAP"\)/, 2000);
        await fixture.host.waitFor(/ended: close_notify from peer/, 2000);
        const stats = await fixture.stats();
        assert.equal(stats.sessions, 0, "the client's close_notify ended the session");
        assert.equal(stats.requests, 1);
      } finally {
        await fixture.stop();
      }
    }
  });
}

test("ECDHE-PSK is negotiated with both clients when the server prefers it", async () => {
  const fixture = await startFixture(["127.0.0.1", "8", "120000", "1"]);
  try {
    for (const client of CLIENTS) {
      const result = await coapClient(client, `coaps://127.0.0.1:${fixture.port}/light`);
      assert.match(result.stdout, /dtls-ok/, `${client}: ${result.stderr}`);
    }
    const established = fixture.host.stdout.match(/established \(TLS-ECDHE-PSK-[^,]*/g) ?? [];
    assert.equal(established.length, 2, fixture.host.stdout);
    trace(`  ${established.join("; ")}\n`);
  } finally {
    await fixture.stop();
  }
});

for (const [what, key, identity, serverReason] of [
  ["wrong key", "wrong_key", "CoAP", /failed: bad record mac/],
  ["wrong identity", "esp32c3_key", "Wrong", /failed: unknown psk identity \(identity "Wrong"\)/],
] as const) {
  test(`${what}: both clients see a fatal alert, no session is left, a right client follows`, async () => {
    const fixture = await startFixture();
    try {
      for (const client of CLIENTS) {
        const bad = await coapClient(client, `coaps://127.0.0.1:${fixture.port}/light`, { key, identity });
        const output = bad.stdout + bad.stderr;
        assert.ok(!/dtls-ok/.test(output), `${client} got through with a ${what}`);
        assert.match(output, /alert/i, `${client} output: ${output}`);
        trace(`  ${client}: ${output.split("\n").find((line) => /alert/i.test(line))?.replace(/^.*DTLS: /, "")}\n`);
        const stats = await fixture.stats();
        assert.equal(stats.sessions, 0, "no session left behind");
        const good = await coapClient(client, `coaps://127.0.0.1:${fixture.port}/light`);
        assert.match(good.stdout, /dtls-ok/, `${client} after the failure: ${good.stderr}`);
      }
      assert.match(fixture.host.stdout, serverReason);
      assert.ok(!fixture.host.stdout.includes("wrong_key") && !fixture.host.stdout.includes("esp32c3_key"), "no key in the log");
      const stats = await fixture.stats();
      assert.equal(stats.handshakesFailed, 2);
      assert.equal(stats.handshakesCompleted, 2);
    } finally {
      await fixture.stop();
    }
  });
}

test("1,000 ClientHellos without cookies from 1,000 UDP source ports: HelloVerifyRequests no larger, 0 sessions", async () => {
  const fixture = await startFixture();
  const answers: { size: number; sent: number; cookie: boolean }[] = [];
  try {
    const batch = 50;
    for (let start = 0; start < 1000; start += batch) {
      const sockets: ClosableUDP[] = [];
      let answered = 0;
      try {
        for (let i = 0; i < batch; i++) {
          const hello = clientHello();
          const { socket } = openUDP({
            address: "127.0.0.1",
            onReadable(this: UDP, count: number) {
              for (let k = 0; k < count; k++) {
                const d = new Uint8Array(this.read() as Datagram);
                answers.push({ size: d.length, sent: hello.length, cookie: cookieOf(d) !== undefined });
                answered++;
              }
            },
          });
          sockets.push(socket);
          socket.write(hello.buffer as ArrayBuffer, "127.0.0.1", fixture.port);
        }
        await waitFor(() => answered >= batch, 5000, `HelloVerifyRequests for ports ${start}..${start + batch}`);
      } finally {
        for (const s of sockets) s.close();
      }
    }
    assert.equal(answers.length, 1000);
    assert.ok(answers.every((a) => a.cookie && a.size <= a.sent), "every answer a HelloVerifyRequest no larger than the ClientHello");
    const stats = await fixture.stats();
    assert.equal(stats.sessions, 0);
    assert.equal(stats.helloVerifyRequests, 1000);
    trace(`  1000 HelloVerifyRequests of ${answers[0].size} bytes for ClientHellos of ${answers[0].sent}; Mbed TLS and the binding hold ${stats.nativeHeap} bytes (the context)\n`);
  } finally {
    await fixture.stop();
  }
});

test("through a proxy that replays every application record, each request reaches the server once", async () => {
  const fixture = await startFixture();
  let client: { address: string; port: number } | undefined;
  let replayed = 0;
  // the proxy: coap-client -> front -> back -> fixture, and back
  const back: { socket?: ClosableUDP } = {};
  const { socket: front, port: frontPort } = openUDP({
    address: "127.0.0.1",
    onReadable(this: UDP, count: number) {
      for (let k = 0; k < count; k++) {
        const d = this.read() as Datagram;
        client = { address: d.address, port: d.port };
        back.socket!.write(d, "127.0.0.1", fixture.port);
        if (records(new Uint8Array(d)).some((r) => r.type === CONTENT_APPLICATION_DATA)) {
          back.socket!.write(d.slice(0), "127.0.0.1", fixture.port);
          replayed++;
        }
      }
    },
  });
  back.socket = openUDP({
    address: "127.0.0.1",
    onReadable(this: UDP, count: number) {
      for (let k = 0; k < count; k++) {
        const d = this.read() as Datagram;
        if (client) front.write(d, client.address, client.port);
      }
    },
  }).socket;
  try {
    for (const name of CLIENTS) {
      const result = await coapClient(name, `coaps://127.0.0.1:${frontPort}/light`);
      assert.match(result.stdout, /dtls-ok/, `${name}: ${result.stderr}`);
    }
    assert.atLeast(replayed, 2);
    const stats = await fixture.stats();
    assert.equal(stats.requests, 2, `${replayed} replayed records reached onData:\n${fixture.host.stdout}`);
  } finally {
    front.close();
    back.socket.close();
    await fixture.stop();
  }
});
