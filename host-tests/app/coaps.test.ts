/*
 * The node on UDP 5684 (CoAP over DTLS 1.2, PSK) end to end, against libcoap's
 * coap-client-openssl and coap-client-gnutls: both transports share one state,
 * observers over DTLS see changes made over either, wrong credentials fail cleanly.
 */
import { test, assert, sleep } from "../lib/harness";
import { Child, SIGTERM, coapClient, startNode, stop } from "../lib/process";
import { nodeStats } from "../reliability/peers";

const PSK = ["-k", "esp32c3_key", "-u", "CoAP"];
const COAPS = "coaps://127.0.0.1/light";

const client = (program: string, ...args: string[]) => coapClient(args, program);
const hex = (text: string) => Array.from(new Uint8Array(ArrayBuffer.fromString(text)), (b) => b.toString(16).padStart(2, "0")).join("");

test("GET over CoAPS with the openssl and gnutls clients, IPv4 and IPv6", async () => {
  const node = await startNode();
  try {
    assert.equal((await client("coap-client-openssl", "-m", "get", ...PSK, COAPS)).trim(), "0");
    assert.equal((await client("coap-client-gnutls", "-m", "get", ...PSK, COAPS)).trim(), "0");
    assert.equal((await client("coap-client-openssl", "-m", "get", ...PSK, "coaps://[::1]/light")).trim(), "0");
    assert.equal((await client("coap-client-gnutls", "-m", "get", ...PSK, "coaps://[::1]/temperature")).trim(), "21.4375");
    await node.waitFor(/established \(TLS-PSK-WITH-AES-128-CCM-8/);
  } finally {
    await stop(node);
  }
}, { timeout: 40000 });

test("a CoAPS session that ends with close_notify takes its observation with it (OpenSSL's s_client registers, then closes)", async () => {
  const node = await startNode();
  try {
    const client = new Child(["openssl", "s_client", "-dtls1_2", "-nocommands", "-connect", "127.0.0.1:5684", "-psk_identity", "CoAP", "-psk", hex("esp32c3_key")]);
    await client.waitFor(/Cipher is/, 10000);
    // GET /light, CON, Message ID 0x1234, token 0x1122, Observe: 0 (register); it never deregisters
    client.send(String.fromCharCode(0x42, 0x01, 0x12, 0x34, 0x11, 0x22, 0x60, 0x55) + "light");
    await client.waitFor(/bE\x12\x34\x11\x22/, 5000); // its ACK, 2.05 with the token
    assert.equal((await nodeStats(node))?.observers, 1);
    const ended = node.waitForNext(/ended: close_notify from peer/, 10000);
    client.closeStdin(); // s_client sends close_notify and leaves
    await ended;
    await client.wait();
    assert.equal((await nodeStats(node))?.observers, 0, "the session's observer went with it");
  } finally {
    await stop(node);
  }
}, { timeout: 30000 });

test("an orderly shutdown (SIGTERM, as before an update's restart) ends each DTLS session with close_notify: OpenSSL's s_client hears it", async () => {
  const node = await startNode();
  // -state: s_client reports the alerts it reads (on stderr); its stdin stays open, so it would stay connected
  const peer = new Child(["openssl", "s_client", "-dtls1_2", "-state", "-nocommands", "-connect", "127.0.0.1:5684", "-psk_identity", "CoAP", "-psk", hex("esp32c3_key")]);
  try {
    await peer.waitFor(/Cipher is/, 10000);
    await node.waitFor(/established/, 5000);
    node.kill(SIGTERM);
    const result = await node.wait(10000);
    assert.equal(result.status, 0, result.stderr);
    assert.match(node.stdout, /ended: closed/);
    await peer.waitFor(/alert read:warning:close notify/, 5000, "stderr");
  } finally {
    peer.kill();
    await peer.wait();
    if (!node.finished) await stop(node);
  }
}, { timeout: 30000 });

test("PUT 1 over CoAPS, then GET over plain CoAP shows 1", async () => {
  const node = await startNode();
  try {
    const pin = node.waitForNext(/^@pin 8 1$/m);
    await client("coap-client-openssl", "-m", "put", "-e", "1", ...PSK, COAPS);
    await pin;
    assert.equal((await client("coap-client-notls", "-m", "get", "coap://127.0.0.1/light")).trim(), "1");
  } finally {
    await stop(node);
  }
}, { timeout: 30000 });

test("a CoAPS observer sees every PUT made over CoAPS and over CoAP; the pin follows each", async () => {
  const node = await startNode();
  try {
    const observer = new Child(["coap-client-openssl", "-v", "6", "-m", "get", "-s", "20", ...PSK, COAPS]);
    await observer.waitFor(/c:2\.05 [^\n]*Observe:\d+[^\n]*:: '0'/, 10000);
    const puts: [string, string][] = [["coap-client-gnutls", "1"], ["coap-client-notls", "0"], ["coap-client-openssl", "1"], ["coap-client-notls", "0"]];
    for (const [program, value] of puts) {
      const pin = node.waitForNext(new RegExp(`^@pin 8 ${value}$`, "m"), 5000);
      const uri = program === "coap-client-notls" ? "coap://127.0.0.1/light" : COAPS;
      await client(program, "-m", "put", "-e", value, ...(program === "coap-client-notls" ? [] : PSK), uri);
      await pin;
      await sleep(100);
    }
    await observer.waitFor(/(c:2\.05 [^\n]*Observe[^\n]*\n[\s\S]*){5}/, 5000);
    const seen = [...observer.stdout.matchAll(/c:2\.05 [^\n]*Observe:\d+[^\n]*:: '([01])'/g)].map((m) => m[1]);
    assert.deepEqual(seen, ["0", "1", "0", "1", "0"], observer.stdout);
    observer.kill();
    await observer.wait();
  } finally {
    await stop(node);
  }
}, { timeout: 60000 });

test("a wrong key or identity fails the handshake with a fatal alert; a correct client right after succeeds", async () => {
  const node = await startNode();
  try {
    const wrongKey = await client("coap-client-openssl", "-m", "get", "-k", "not-the-key", "-u", "CoAP", COAPS);
    assert.match(wrongKey, /alert[^\n]*fatal|fatal[^\n]*alert/i);
    assert.ok(!/^[01]$/m.test(wrongKey), "no payload with a wrong key");
    const wrongIdentity = await client("coap-client-gnutls", "-m", "get", "-k", "esp32c3_key", "-u", "Intruder", COAPS);
    assert.match(wrongIdentity, /alert/i);
    assert.equal((await client("coap-client-openssl", "-m", "get", ...PSK, COAPS)).trim(), "0");
    await node.waitFor(/handshake 127\.0\.0\.1\|\d+#\d+ failed: bad record mac/);
    assert.match(node.stdout, /handshake 127\.0\.0\.1\|\d+#\d+ failed: unknown psk identity \(identity "Intruder"\)/);
    assert.ok(!node.stdout.includes("esp32c3_key") && !node.stderr.includes("esp32c3_key"), "the key never appears in the log");
  } finally {
    await stop(node);
  }
}, { timeout: 40000 });
