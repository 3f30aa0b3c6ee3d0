/*
 * A light on a plain GPIO (ECMA-419 embedded:io/digital), active high or low.
 * In the simulator host the pin is simulated and its level is visible on the
 * control channel ("@pin N LEVEL").
 */
import Digital from "embedded:io/digital";
import type { LightOutput } from "./light";

export class DigitalLight implements LightOutput {
  readonly #pin: Digital;
  readonly #activeLow: boolean;

  constructor(pin: number, activeLow = false) {
    this.#pin = new Digital({ pin, mode: Digital.Output });
    this.#activeLow = activeLow;
  }

  set(on: boolean): void {
    this.#pin.write(on !== this.#activeLow ? 1 : 0);
  }

  close(): void {
    this.#pin.close();
  }
}
