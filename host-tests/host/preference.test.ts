/* The host's `preference`: the esp32 NVS rules, and persistence across a restart of the host process. */
import Preference from "preference";
import { test, assert } from "../lib/harness";
import { fixture, scratchDirectory, startHost } from "../lib/process";

test("values round-trip with their types; missing keys read as undefined", () => {
  Preference.set("test", "flag", true);
  Preference.set("test", "count", -42);
  Preference.set("test", "name", "esp32c3");
  Preference.set("test", "blob", Uint8Array.of(1, 2, 255).buffer);
  assert.equal(Preference.get("test", "flag"), true);
  assert.equal(Preference.get("test", "count"), -42);
  assert.equal(Preference.get("test", "name"), "esp32c3");
  assert.deepEqual(new Uint8Array(Preference.get("test", "blob") as ArrayBuffer), Uint8Array.of(1, 2, 255));
  assert.equal(Preference.get("test", "nothing"), undefined);
  assert.deepEqual(Preference.keys("test").sort(), ["blob", "count", "flag", "name"]);
  Preference.delete("test", "flag");
  Preference.delete("test", "flag");
  assert.equal(Preference.get("test", "flag"), undefined);
});

test("the NVS limits of the device are enforced", () => {
  assert.throws(() => Preference.set("a-domain-too-long", "k", 1), RangeError, "16-character domain");
  assert.throws(() => Preference.set("d", "a-key-that-is-too-long", 1), RangeError, "22-character key");
  Preference.set("exactly15chars_", "exactly15chars_", 1);
  assert.throws(() => Preference.set("d", "float", 1.5), /float unsupported/);
  assert.throws(() => Preference.set("d", "big", 2 ** 31), RangeError);
  assert.throws(() => Preference.set("d", "text", "x".repeat(4000)), RangeError);
  assert.throws(() => Preference.set("d", "buffer", new ArrayBuffer(4001)), RangeError);
  assert.throws(() => Preference.set("d", "object", {} as unknown as string), /unsupported type/);
  Preference.set("d", "buffer", new ArrayBuffer(4000));
});

test("a preference written by one host process is read by the next (same --data folder)", async () => {
  const data = scratchDirectory();
  const writer = startHost(fixture("preferences"), { data, args: ["set", "app", "light", "true"] });
  const written = await writer.wait();
  assert.equal(written.status, 0, written.stderr);
  assert.match(written.stdout, /set app\/light/);
  const reader = startHost(fixture("preferences"), { data, args: ["get", "app", "light"] });
  const read = await reader.wait();
  assert.equal(read.status, 0, read.stderr);
  assert.match(read.stdout, /value true/);
  const other = startHost(fixture("preferences"), { data: scratchDirectory(), args: ["get", "app", "light"] });
  assert.match((await other.wait()).stdout, /value undefined/, "a fresh folder has no value");
});
