/*
 * Types of esp32/bus.js: the same default export as modules/sensors/bus.ts, so
 * main.ts type-checks against either.
 */
import type { OneWireBus } from "sensors/onewire";

export interface BusOptions {
  /** GPIO of the 1-Wire data line (default: config.onewirePin, else 3) */
  pin?: number;
}

export default function openBus(options?: BusOptions): OneWireBus;
