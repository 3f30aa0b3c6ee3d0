/*
 * The two example apps (examples/), built from the modules' own manifests, run in
 * the simulator host against libcoap: the CoAP server answers coap-client-notls, the
 * CoAPS client GETs /.well-known/core from coap-server-openssl with the PSK.
 */
import { test, assert } from "../lib/harness";
import { available, coapClient, startHost, stop } from "../lib/process";
import { startLibcoapServer } from "../lib/libcoap";
import { randomPort } from "../lib/net";

test("examples/coap-server answers GET /hello and lists it in /.well-known/core", async () => {
  const port = randomPort();
  const app = startHost("examples/coap-server/main", { config: { coapPort: port } });
  try {
    await app.waitFor(/coap-server example: GET/, 10000);
    assert.equal((await coapClient(["-m", "get", "-B", "5", `coap://127.0.0.1:${port}/hello`])).trim(), "hello from XS (1)");
    assert.equal((await coapClient(["-m", "get", "-B", "5", `coap://127.0.0.1:${port}/hello`])).trim(), "hello from XS (2)");
    assert.match(await coapClient(["-m", "get", "-B", "5", `coap://127.0.0.1:${port}/.well-known/core`]), /<\/hello>;rt="greeting"/);
  } finally {
    await stop(app);
  }
}, { timeout: 30000 });

const noServer = !(await available("coap-server-openssl")) && "coap-server-openssl is not installed (Debian: libcoap3-bin)";

test("examples/coaps-client GETs /.well-known/core from coap-server-openssl over DTLS with the PSK, then closes", async () => {
  const { child, port } = await startLibcoapServer(["-k", "esp32c3_key", "-h", "CoAP"]);
  const app = startHost("examples/coaps-client/main", { config: { uri: `coaps://127.0.0.1:${port}/.well-known/core`, pskIdentity: "CoAP", pskKey: "esp32c3_key" } });
  try {
    await app.waitFor(/coaps-client: 2\.05 .*<\/>/, 15000);
    await app.waitFor(/coaps: dtls session to 127\.0\.0\.1:\d+ closed: closed\n/, 5000);
    assert.match(app.stdout, /coaps: dtls session to 127\.0\.0\.1:\d+ open/);
  } finally {
    await stop(app);
    child.kill();
    await child.wait();
  }
}, { timeout: 30000, skip: noServer });
