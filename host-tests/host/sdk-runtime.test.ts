/*
 * The SDK's runtime rules that a plain XS machine does not have, enforced by the
 * simulator host so that code which would fail on the device fails here first
 * (host-tests/host/src/sdk_runtime.c).
 */
import { test, assert } from "../lib/harness";
import { fixture, startHost } from "../lib/process";

test("the built-ins are frozen as the SDK's linker freezes them; globalThis is not", () => {
  for (const [name, object] of [
    ["Object.prototype", Object.prototype],
    ["Array.prototype", Array.prototype],
    ["Error.prototype", Error.prototype],
    ["TypeError.prototype", TypeError.prototype],
    ["Function.prototype", Function.prototype],
    ["Promise.prototype", Promise.prototype],
    ["Map.prototype", Map.prototype],
    ["Uint8Array.prototype", Uint8Array.prototype],
    ["Math", Math],
    ["JSON", JSON],
    ["Reflect", Reflect],
  ] as const) {
    assert.ok(Object.isFrozen(object), `${name} is not frozen`);
  }
  assert.ok(!Object.isFrozen(globalThis), "globalThis is frozen");
});

test("assigning an inherited built-in property throws, as `this.name = ...` does in an Error subclass on the device", () => {
  class Named extends Error {
    constructor() {
      super("x");
      (this as { name: string }).name = "Named";
    }
  }
  assert.throws(() => new Named(), TypeError);
  assert.throws(() => {
    (Error.prototype as { name: string }).name = "patched";
  }, TypeError);
  assert.equal(Error.prototype.name, "Error");
  /* the device-safe form: a class field defines an own property */
  class Fielded extends Error {
    override readonly name = "Fielded";
  }
  const error = new Fielded("y");
  assert.equal(error.name, "Fielded");
  assert.equal(String(error), "Fielded: y");
});

/*
 * What a preloaded module's state allows at run time, as the SDK's linker leaves it
 * (xslSlot.c fxPrepareHeap). The expected answers are the ones the same fixture gave
 * in the SDK 8.2.3 desktop simulator, built with mcconfig as a preloaded module.
 */
const DEVICE_ANSWERS = {
  "map.set": "TypeError",
  "set.add": "TypeError",
  "typedArray[0] =": "TypeError",
  "array.push": "ok",
  "object.n =": "ok",
  "object.added =": "ok",
  "let counter++": "ok",
  "let handler = another function": "TypeError",
  "Class.extra =": "TypeError",
  "Class.prototype.extra =": "TypeError",
  "new Class().value =": "ok",
  "new Map().set": "ok",
};

test("a preloaded module's Maps, Sets, buffers, functions and classes are read-only at run time; plain objects, arrays and variables are not", async () => {
  const module = fixture("preloaded");
  const result = await startHost(module, { preload: [module] }).wait(10000);
  assert.equal(result.status, 0, result.stderr);
  const line = /preloaded (\{.*\})/.exec(result.stdout);
  assert.ok(line, result.stdout);
  assert.deepEqual(JSON.parse(line[1]), DEVICE_ANSWERS);
});

test("the same module loaded at run time (not preloaded) is writable throughout", async () => {
  const result = await startHost(fixture("preloaded")).wait(10000);
  assert.equal(result.status, 0, result.stderr);
  const answers = JSON.parse(/preloaded (\{.*\})/.exec(result.stdout)![1]) as Record<string, string>;
  assert.deepEqual(Object.values(answers).filter((answer) => answer !== "ok"), []);
});

/* the SDK's build of the same fixture as a preloaded module stops with "TypeError: link: unavailable function" */
test("a preloaded module's body cannot call native code, as the SDK's linker cannot run it", async () => {
  const module = fixture("preload-native");
  const result = await startHost(module, { preload: [module] }).wait(10000);
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /xs_timer_\w+: native code does not run in a preloaded module's body/);
  const later = await startHost(module).wait(10000);
  assert.equal(later.status, 0, `the same module loaded at run time: ${later.stderr}`);
});
