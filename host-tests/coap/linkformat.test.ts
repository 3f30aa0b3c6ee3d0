/*
 * Link format tests (RFC 6690): the /.well-known/core document built from the
 * resources' attributes, its content format, and query filtering.
 */
import { test, assert, fromHex, seededRandom } from "../lib/harness";
import { FakeClock } from "../lib/clock";
import { decode, encode, type CoapMessage, type CoapOption } from "coap/codec";
import { Code, ContentFormat, Option, Type, formatCode } from "coap/numbers";
import { filterLinks, formatLink, formatLinks, type Link } from "coap/linkformat";
import { encodeUint, getContentFormat, setUriPath, setUriQuery } from "coap/options";
import { CoapServer } from "coap/server";
import { utf8Decode } from "coap/utf8";

function node() {
  const sent: CoapMessage[] = [];
  const clock = new FakeClock(0);
  const server = new CoapServer({ send: (bytes) => sent.push(decode(bytes)), random: seededRandom(1) });
  server.add("light", { rt: "light", if: "core.a", observable: true, get: () => ({ payload: "0" }) });
  server.add("temperature", { rt: "temperature-c", observable: true, get: () => ({ payload: "21.5" }) });
  server.add("config/name", { rt: ["name", "core.p"], title: 'the "name"', ct: 0, get: () => ({ payload: "node" }) });
  server.add("secret", { hidden: true, get: () => ({ payload: "x" }) });
  let mid = 1;
  const discover = (query: string[] = [], extra: CoapOption[] = []): CoapMessage => {
    const options = extra.slice();
    setUriPath(options, ".well-known/core");
    setUriQuery(options, query);
    server.receive(encode({ type: Type.CON, code: Code.GET, mid: mid++, token: fromHex("4c"), options, payload: new Uint8Array(0) }), { address: "192.0.2.7", port: 1 }, clock.now);
    return sent.pop()!;
  };
  return { server, discover };
}

test("link format: /.well-known/core lists every visible resource with rt, if, ct, obs (content format 40)", () => {
  const { discover } = node();
  const reply = discover();
  assert.equal(formatCode(reply.code), "2.05");
  assert.equal(getContentFormat(reply.options), ContentFormat.LINK_FORMAT);
  assert.equal(
    utf8Decode(reply.payload),
    '</light>;rt="light";if="core.a";obs,</temperature>;rt="temperature-c";obs,</config/name>;rt="name core.p";ct=0;title="the \\"name\\""',
  );
});

test("link format: ?rt= filters, with a trailing * as a prefix match", () => {
  const { discover } = node();
  const text = (query: string[]) => utf8Decode(discover(query).payload) ?? "<not UTF-8>";
  assert.equal(text(["rt=light"]), '</light>;rt="light";if="core.a";obs');
  assert.equal(text(["rt=temperature-c"]), '</temperature>;rt="temperature-c";obs');
  assert.equal(text(["rt=temp*"]), '</temperature>;rt="temperature-c";obs');
  assert.equal(text(["rt=core.p"]), '</config/name>;rt="name core.p";ct=0;title="the \\"name\\""', "any of several rt values");
  assert.equal(text(["rt=nothing"]), "");
  assert.equal(text(["href=/light"]), '</light>;rt="light";if="core.a";obs');
  assert.equal(text(["href=/config*"]).startsWith("</config/name>"), true);
  assert.equal(text(["if=core.a"]), '</light>;rt="light";if="core.a";obs');
  assert.equal(text(["obs"]).split(",").length, 2);
  assert.equal(text(["ct=0"]).startsWith("</config/name>"), true);
  assert.equal(text(["unknown=1"]), "");
});

test("link format: an Accept other than link-format gets 4.06", () => {
  const { discover } = node();
  const reply = discover([], [{ number: Option.ACCEPT, value: encodeUint(ContentFormat.JSON) }]);
  assert.equal(formatCode(reply.code), "4.06");
  assert.equal(formatCode(discover([], [{ number: Option.ACCEPT, value: encodeUint(ContentFormat.LINK_FORMAT) }]).code), "2.05");
});

test("link format: formatting and filtering on their own", () => {
  const links: Link[] = [
    { href: "/a", rt: "x", ct: [0, 50], sz: 2000 },
    { href: "/b", if: ["core.s", "core.rp"] },
  ];
  assert.equal(formatLink(links[0]), '</a>;rt="x";ct="0 50";sz=2000');
  assert.equal(formatLinks(links), '</a>;rt="x";ct="0 50";sz=2000,</b>;if="core.s core.rp"');
  assert.deepEqual(filterLinks(links, ["ct=50"]).map((l) => l.href), ["/a"]);
  assert.deepEqual(filterLinks(links, ["if=core.rp"]).map((l) => l.href), ["/b"]);
  assert.deepEqual(filterLinks(links, []).map((l) => l.href), ["/a", "/b"]);
  assert.deepEqual(filterLinks(links, ["rt=x", "ct=0"]).map((l) => l.href), ["/a"], "several arguments: all must match");
});
