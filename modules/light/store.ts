/*
 * Keeps the light's state across reboots in Moddable's `preference` (NVS on the
 * ESP32-C3: domain and key at most 15 characters; booleans are stored as u8).
 */
import Preference from "preference";
import type { LightStore } from "./light";

export class PreferenceLightStore implements LightStore {
  readonly #domain: string;
  readonly #key: string;

  constructor(domain = "light", key = "on") {
    this.#domain = domain;
    this.#key = key;
  }

  load(): boolean | undefined {
    const value = Preference.get(this.#domain, this.#key);
    return typeof value === "boolean" ? value : undefined;
  }

  save(on: boolean): void {
    Preference.set(this.#domain, this.#key, on);
  }
}
