/*
 * The SDK's runtime rules that a plain XS machine does not have, enforced by the
 * simulator host so that code which would fail on the device fails here first
 * (host-tests/host/src/sdk_runtime.c).
 */
import { test, assert } from "../lib/harness";

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
