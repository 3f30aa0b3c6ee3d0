/* coap:// and coaps:// URI decomposition (RFC 7252 sec 6.4) and the back-off helper. */
import { test, assert } from "../lib/harness";
import { formatCoapUri, parseCoapUri } from "coap/uri";
import { Backoff } from "coap/backoff";

test("uri: scheme, default ports, IPv4 and IPv6 literals, path and query", () => {
  assert.deepEqual(parseCoapUri("coap://127.0.0.1/temperature"), { secure: false, host: "127.0.0.1", literal: true, port: 5683, path: ["temperature"], query: [] });
  assert.deepEqual(parseCoapUri("coaps://[::1]:15684/a/b?x=1&y"), { secure: true, host: "::1", literal: true, port: 15684, path: ["a", "b"], query: ["x=1", "y"] });
  assert.deepEqual(parseCoapUri("COAPS://[2001:db8::1]").port, 5684);
  assert.deepEqual(parseCoapUri("coap://127.0.0.1").path, []);
  assert.deepEqual(parseCoapUri("coap://127.0.0.1/").path, []);
  assert.deepEqual(parseCoapUri("coap://127.0.0.1?rt=x").query, ["rt=x"]);
  assert.deepEqual(parseCoapUri("coap://collector.example/t").literal, false);
});

test("uri: percent-decoding per segment, dot segments, trailing empty segment", () => {
  assert.deepEqual(parseCoapUri("coap://1.2.3.4/a%2Fb/%C3%A9t%C3%A9").path, ["a/b", "été"]);
  assert.deepEqual(parseCoapUri("coap://1.2.3.4/a/./b/../c").path, ["a", "c"]);
  assert.deepEqual(parseCoapUri("coap://1.2.3.4/a/").path, ["a", ""]);
  assert.deepEqual(parseCoapUri("coap://1.2.3.4/x?ep=n%26m").query, ["ep=n&m"]);
});

test("uri: refusals say why", () => {
  for (const bad of ["http://1.2.3.4/", "coap://1.2.3.4/#frag", "coap://1.2.3.4:0/", "coap://1.2.3.4:70000/", "coap://1.2.3.4:x/", "coap://[::1/", "coap:///x", "coap://u@1.2.3.4/", "coap://1.2.3.4/%zz", "coap://1.2.3.4/%ff"]) {
    assert.throws(() => parseCoapUri(bad), RangeError, bad);
  }
});

test("uri: formatted back for logs", () => {
  assert.equal(formatCoapUri(parseCoapUri("coap://127.0.0.1:5683/t?a=1")), "coap://127.0.0.1/t?a=1");
  assert.equal(formatCoapUri(parseCoapUri("coaps://[::1]:6000/t")), "coaps://[::1]:6000/t");
});

test("backoff: doubles from initial, capped at max, reset on success; jitter stays within the cap", () => {
  const b = new Backoff({ initial: 1000, max: 10_000 });
  assert.deepEqual([b.fail(), b.fail(), b.fail(), b.fail(), b.fail(), b.fail()], [1000, 2000, 4000, 8000, 10_000, 10_000]);
  assert.equal(b.failures, 6);
  for (let i = 0; i < 100; i++) b.fail();
  assert.equal(b.fail(), 10_000, "no overflow after a long outage");
  b.reset();
  assert.equal(b.fail(), 1000);
  const j = new Backoff({ initial: 1000, max: 3000, random: () => 0.999 });
  const delays = [j.fail(), j.fail(), j.fail()];
  assert.ok(delays[0] > 1240 && delays[0] < 1250, String(delays));
  assert.equal(delays[2], 3000);
  assert.throws(() => new Backoff({ initial: 0, max: 1 }), RangeError);
});
