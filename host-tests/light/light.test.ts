/* modules/light: commands, persistence before the output changes, the /light resource's answers. */
import { test, assert } from "../lib/harness";
import { Light, lightResource, parseCommand, type LightStore } from "light/light";
import { Code, ContentFormat } from "coap/numbers";
import type { CoapRequest } from "coap/resource";

class MemoryStore implements LightStore {
  value: boolean | undefined;
  failing = false;
  saves = 0;
  load() {
    return this.value;
  }
  save(on: boolean) {
    if (this.failing) throw new Error("flash full");
    this.saves++;
    this.value = on;
  }
}

function request(method: "GET" | "PUT", payload = "", extra: Partial<CoapRequest> = {}): CoapRequest {
  const bytes = new Uint8Array(ArrayBuffer.fromString(payload));
  return {
    method, path: ["light"], query: [], payload: bytes, peer: { address: "127.0.0.1", port: 1 }, token: new Uint8Array(0),
    options: [], notification: false, text: () => payload, ...extra,
  };
}

test("commands: words, JSON, and clear errors", () => {
  for (const [text, on] of [["0", false], ["1", true], [" On\n", true], ["OFF", false], ["true", true]] as const)
    assert.deepEqual(parseCommand(text), { on }, text);
  assert.deepEqual(parseCommand("toggle"), { toggle: true });
  assert.deepEqual(parseCommand('{"on": true}', ContentFormat.JSON), { on: true });
  assert.deepEqual(parseCommand(" false ", ContentFormat.JSON), { on: false });
  assert.ok("error" in parseCommand('{"on": "yes"}', ContentFormat.JSON));
  // JSON read token by token: whitespace anywhere JSON allows it, nothing else
  for (const [text, on] of [['{"on":false}', false], ['\t{ "on" :\r\ntrue }\n', true], ["0", false], [" 1", true], ["true", true]] as const)
    assert.deepEqual(parseCommand(text, ContentFormat.JSON), { on }, text);
  for (const text of ['{"on":true', '{"on":true}}', '{"o n":true}', '{"on":truex}', "{}", "01", "", " ", '{"on":true,"x":1}', "[true]"])
    assert.ok("error" in parseCommand(text, ContentFormat.JSON), text);
  assert.ok("error" in parseCommand("toString"), "no prototype lookups");
  assert.ok("error" in parseCommand("__proto__"));
  assert.match((parseCommand("dim") as { error: string }).error, /unknown command "dim"/);
  assert.ok("error" in parseCommand(""));
  assert.ok("error" in parseCommand(undefined));
});

test("a change is saved before the output moves; a failed save changes nothing and answers 5.00", () => {
  const store = new MemoryStore();
  const outputs: boolean[] = [];
  const light = new Light({ set: (on) => outputs.push(on) }, store);
  assert.deepEqual(outputs, [false], "the restored state is driven at start");
  const resource = lightResource(light);
  assert.deepEqual(resource.put!(request("PUT", "1")), { code: Code.CHANGED });
  assert.equal(store.value, true);
  assert.deepEqual(outputs, [false, true]);
  store.failing = true;
  const answer = resource.put!(request("PUT", "toggle")) as { code: number };
  assert.equal(answer.code, Code.INTERNAL_SERVER_ERROR);
  assert.equal(light.on, true);
  assert.deepEqual(outputs, [false, true], "the output did not move");
  assert.equal((resource.put!(request("PUT", "blink")) as { code: number }).code, Code.BAD_REQUEST);
});

test("the state survives a restart through the store; GET answers text or JSON", () => {
  const store = new MemoryStore();
  store.value = true;
  const light = new Light({ set: () => {} }, store);
  const resource = lightResource(light);
  assert.deepEqual(resource.get!(request("GET")), { payload: "1", contentFormat: ContentFormat.TEXT_PLAIN });
  assert.deepEqual(resource.get!(request("GET", "", { accept: ContentFormat.JSON })), { payload: '{"on":true}', contentFormat: ContentFormat.JSON });
  light.set(true);
  assert.equal(store.saves, 0, "no write when nothing changes");
});
