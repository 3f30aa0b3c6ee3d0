/*
 * The node on UDP 5683 end to end, against libcoap's coap-client-notls (a real peer):
 * GET/PUT /light, Observe across PUTs from another client, discovery, Block2, and
 * deduplication of a repeated CON seen from the wire.
 */
import { test, assert, waitFor, fromHex, toHex, sleep } from "../lib/harness";
import { Child, coapClient, fixture, run, startHost, startNode, stop } from "../lib/process";
import { openUDP, randomPort } from "../lib/net";

const URI = "coap://127.0.0.1/light";

const coap = (...args: string[]) => coapClient(args);

test("GET /light, PUT 1, GET again shows 1 (and the pin follows)", async () => {
  const node = await startNode();
  try {
    assert.equal((await coap("-m", "get", URI)).trim(), "0");
    const pinOn = node.waitForNext(/^@pin 8 1$/m);
    await coap("-m", "put", "-e", "1", URI);
    await pinOn;
    assert.equal((await coap("-m", "get", URI)).trim(), "1");
    assert.equal((await coap("-m", "get", "coap://[::1]/light")).trim(), "1", "over IPv6");
    assert.equal((await coap("-m", "get", "-A", "50", URI)).trim(), '{"on":true}');
    assert.match(await coap("-m", "put", "-e", "dim", URI), /4\.00 unknown command "dim"/);
    assert.equal((await coap("-m", "get", URI)).trim(), "1", "a bad PUT changes nothing");
  } finally {
    await stop(node);
  }
}, { timeout: 30000 });

test("an observer sees all 3 changes made by another client, each with an Observe option", async () => {
  const node = await startNode();
  try {
    const observer = new Child(["coap-client-notls", "-v", "6", "-m", "get", "-s", "8", URI]);
    await observer.waitFor(/c:2\.05.*Observe:\d+.*:: '0'/, 5000);
    for (const value of ["1", "0", "1"]) {
      await coap("-m", "put", "-e", value, URI);
      await sleep(100);
    }
    await observer.waitFor(/(c:2\.05 .*\n?.*){4}/, 5000);
    const notifications = [...observer.stdout.matchAll(/c:2\.05 [^\n]*Observe:(\d+)[^\n]*:: '([01])'/g)];
    assert.deepEqual(notifications.map((m) => m[2]), ["0", "1", "0", "1"], observer.stdout);
    const sequence = notifications.map((m) => Number(m[1]));
    for (let i = 1; i < sequence.length; i++) assert.ok(sequence[i] > sequence[i - 1], `Observe values increase: ${sequence}`);
    observer.kill();
    await observer.wait();
  } finally {
    await stop(node);
  }
}, { timeout: 30000 });

test("GET /.well-known/core lists /light as an observable resource", async () => {
  const node = await startNode();
  try {
    const links = await coap("-m", "get", "coap://127.0.0.1/.well-known/core");
    assert.match(links, /<\/light>;[^,]*rt="light"/);
    assert.match(links, /<\/light>;[^,]*obs/);
    assert.match(await coap("-m", "get", "coap://127.0.0.1/.well-known/core?rt=light"), /<\/light>/);
    assert.equal((await coap("-m", "get", "coap://127.0.0.1/.well-known/core?rt=none")).trim(), "");
  } finally {
    await stop(node);
  }
}, { timeout: 20000 });

test("a 2000-byte resource arrives complete through Block2 with 64-byte blocks", async () => {
  const port = randomPort();
  const server = startHost(fixture("coap-large"), { args: [String(port)] });
  try {
    await server.waitFor(/listening/);
    const result = await run(["coap-client-notls", "-v", "6", "-b", "64", "-m", "get", `coap://127.0.0.1:${port}/large`], { timeout: 15000 });
    // ([/] not \/: XS 13.3 clones a RegExp for matchAll from a source that doubles the backslash)
    // at -v 6 coap-client prints each PDU as a "v:1 t:..." line on stdout, between the payload's pieces
    const blocks = [...result.stdout.matchAll(/c:2\.05 [^\n]*Block2:(\d+)[/]([M_])[/]64/g)];
    assert.deepEqual(blocks.map((m) => Number(m[1])), Array.from({ length: Math.ceil(2000 / 64) }, (_, i) => i), "block numbers");
    assert.equal(blocks.filter((m) => m[2] === "M").length, blocks.length - 1, "M set on all but the last block");
    let expected = "";
    for (let i = 0; expected.length < 2000; i++) expected += `${i % 10}`.repeat(9) + "\n";
    // and ends with a newline of its own
    const payload = result.stdout.replace(/v:1 t:[^\n]*\n/g, "").replace(/\n$/, "");
    assert.equal(payload, expected.slice(0, 2000), "the reassembled payload is the 2000-byte resource");
  } finally {
    server.kill();
    await server.wait();
  }
}, { timeout: 30000 });

test("the same CON sent twice runs the handler once and gets byte-identical responses", async () => {
  const node = await startNode();
  const responses: Uint8Array[] = [];
  const { socket } = openUDP({
    address: "127.0.0.1",
    onReadable(count) {
      for (let i = 0; i < count; i++) responses.push(new Uint8Array(this.read()));
    },
  });
  try {
    // CON PUT, MID 0x1234, token abcd, Uri-Path "light", payload "toggle"
    const request = fromHex("42 03 1234 abcd b5 6c69676874 ff 746f67676c65");
    const pinEvents = () => (node.stdout.match(/^@pin 8 \d$/gm) ?? []).length;
    const before = pinEvents();
    socket.write(request, "127.0.0.1", 5683);
    await waitFor(() => responses.length === 1, 3000, "first response");
    socket.write(request, "127.0.0.1", 5683);
    await waitFor(() => responses.length === 2, 3000, "second response");
    assert.equal(toHex(responses[1]), toHex(responses[0]), "replayed byte for byte");
    assert.equal(toHex(responses[0].subarray(0, 4)), "62441234", "piggybacked ACK 2.04 with the request's MID");
    await sleep(200);
    assert.equal(pinEvents() - before, 1, "the light toggled once");
    assert.equal((await coap("-m", "get", URI)).trim(), "1");
  } finally {
    socket.close();
    await stop(node);
  }
}, { timeout: 20000 });
