/*
 * Keeps the light's state across reboots in Moddable's `preference` (NVS on the
 * ESP32-C3: domain and key at most 15 characters; booleans are stored as u8).
 * A stored value that is not a boolean (another type, written by another firmware or
 * corrupted) or that cannot be read is reported once and reads as "nothing stored":
 * the light starts off and the next change overwrites it.
 */
import Preference from "preference";
import type { LightStore } from "./light";

export class PreferenceLightStore implements LightStore {
  readonly #domain: string;
  readonly #key: string;
  readonly #log: (message: string) => void;

  constructor(domain = "light", key = "on", log: (message: string) => void = () => {}) {
    this.#domain = domain;
    this.#key = key;
    this.#log = log;
  }

  load(): boolean | undefined {
    let value: unknown;
    try {
      value = Preference.get(this.#domain, this.#key);
    } catch (error) {
      this.#log(`light: the stored state ${this.#domain}/${this.#key} cannot be read (${String(error)}): starting off`);
      return undefined;
    }
    if (value === undefined || typeof value === "boolean") return value;
    const shown = value instanceof ArrayBuffer ? `a buffer of ${value.byteLength} bytes` : `${typeof value} ${String(value).slice(0, 20)}`;
    this.#log(`light: the stored state ${this.#domain}/${this.#key} is ${shown}, not a boolean: starting off; the next change overwrites it`);
    return undefined;
  }

  save(on: boolean): void {
    Preference.set(this.#domain, this.#key, on);
  }
}
