/*
 * The light as the ESP32-C3-DevKitM-1's on-board RGB LED: one WS2812-type pixel
 * ("NeoPixel") on GPIO 8, written through the Moddable SDK's `neopixel` module
 * (RMT on esp32). Device-only: manifest.json maps `light/neopixel` here in its
 * esp32 section alone, and sets config.led.rainbow to false so that the esp32c3
 * target's set-up does not animate the same pixel from its own timer.
 *
 * Imports go through bare specifiers ("light/light"), not "./light": this file
 * lives in esp32/ but is the module `light/neopixel`.
 */
// @ts-ignore -- the SDK's typings/neopixel.d.ts types this module in mcconfig's build; npm's @moddable/typings 5.6.0 has none, so the project's tsc sees `any` here and the `Pixel` interface below takes over
import NeoPixel from "neopixel";
import type { LightOutput } from "light/light";

/** The part of the SDK's NeoPixel class (modules/drivers/neopixel/neopixel.js) this light uses. */
interface Pixel {
  brightness: number;
  makeRGB(red: number, green: number, blue: number): number;
  setPixel(index: number, color: number): void;
  update(): void;
  close(): void;
}

export type Rgb = readonly [red: number, green: number, blue: number];

export interface NeoPixelLightOptions {
  /** data pin of the pixel; the DevKitM-1 wires it to GPIO 8 */
  pin?: number;
  /** 0..255, the driver's global scale; 32 is the esp32c3 target's own default (full white dazzles) */
  brightness?: number;
  /** colour when on, each channel 0..255; white by default */
  color?: Rgb;
  /** byte order on the wire; the DevKitM-1's pixel is GRB */
  order?: string;
}

const DEFAULT_PIN = 8;
const DEFAULT_BRIGHTNESS = 32;
const WHITE: Rgb = [255, 255, 255];

function byte(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 255) throw new RangeError(`${what} must be an integer 0..255`);
  return value;
}

export class NeoPixelLight implements LightOutput {
  #pixel: Pixel | undefined;
  readonly #onColor: number;
  readonly #offColor: number;

  constructor(options: NeoPixelLightOptions = {}) {
    const pin = options.pin ?? DEFAULT_PIN;
    if (!Number.isInteger(pin) || pin < 0) throw new RangeError("pin must be a GPIO number");
    const brightness = byte(options.brightness ?? DEFAULT_BRIGHTNESS, "brightness");
    const [red, green, blue] = options.color ?? WHITE;
    const pixel: Pixel = new NeoPixel({ pin, length: 1, order: options.order ?? "GRB" });
    pixel.brightness = brightness;
    this.#onColor = pixel.makeRGB(byte(red, "red"), byte(green, "green"), byte(blue, "blue"));
    this.#offColor = pixel.makeRGB(0, 0, 0);
    this.#pixel = pixel;
  }

  set(on: boolean): void {
    const pixel = this.#pixel;
    if (!pixel) throw new Error("closed");
    pixel.setPixel(0, on ? this.#onColor : this.#offColor);
    pixel.update();
  }

  close(): void {
    this.#pixel?.close();
    this.#pixel = undefined;
  }
}
