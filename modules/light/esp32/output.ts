/*
 * `light/output` in the esp32 build (manifest.json maps it here): the
 * ESP32-C3-DevKitM-1's on-board NeoPixel, or a plain GPIO for an LED of your own.
 */
import { DigitalLight } from "light/digital";
import type { LightOutput, LightOutputSettings } from "light/light";
import { NeoPixelLight } from "light/neopixel";

export function createLightOutput(settings: LightOutputSettings): LightOutput {
  if (settings.kind === "neopixel") return new NeoPixelLight({ pin: settings.pin });
  if (settings.kind === "digital") return new DigitalLight(settings.pin, settings.activeLow);
  throw new RangeError(`unknown light kind "${settings.kind}" (neopixel or digital)`);
}
