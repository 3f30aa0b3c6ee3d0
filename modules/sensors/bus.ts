/*
 * `sensors/bus` for the simulator hosts (this headless host and the SDK's desktop
 * simulator): the app's 1-Wire bus is a SimulatedBus with one DS18B20 at
 * 21.4375 degC. The esp32 build maps the same specifier to esp32/bus.js (open-drain
 * GPIO), with the same default export, so main.ts never knows which it got
 * (see manifest.json). The simulated bus is one shared instance, so a host-side
 * module (host-tests/sensors/sim-control.ts) can reach it through simulatedBus()
 * and drive the temperature and the faults from the control channel.
 */
import type { OneWireBus } from "sensors/onewire";
import { SimulatedBus } from "sensors/sim-bus";

export interface BusOptions {
  /** the data pin (the device bus uses it; the simulated bus has no pins) */
  pin?: number;
}

let shared: SimulatedBus | undefined;

/** The process-wide simulated bus, created with its one sensor on first use. */
export function simulatedBus(): SimulatedBus {
  if (!shared) {
    shared = new SimulatedBus();
    shared.addDevice({ temperature: 21.4375 });
  }
  return shared;
}

export default function openBus(_options: BusOptions = {}): OneWireBus {
  return simulatedBus();
}
