/*
 * The light's output as the build provides it: on the simulators (this file) a GPIO
 * pin; the esp32 build maps `light/output` to esp32/output.ts instead, which adds the
 * DevKitM-1's NeoPixel. main.ts asks for an output by kind and never knows which
 * build it is in.
 */
import { DigitalLight } from "./digital";
import type { LightOutput, LightOutputSettings } from "./light";

export function createLightOutput(settings: LightOutputSettings): LightOutput {
  if (settings.kind !== "digital") throw new RangeError(`light kind "${settings.kind}" is not available in this build (digital only)`);
  return new DigitalLight(settings.pin, settings.activeLow);
}
