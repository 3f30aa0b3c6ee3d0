/*
 * Host-side hook: drives a SimulatedBus from the simulator host's control channel
 * (`--control`, stdin lines), so a running node shows a changing /temperature and
 * its faults. Lives outside modules/ because it imports the host-only `host/control`.
 *
 *   temp                  -> "@temp 21.4375" (every sensor: "@temp ROM=VALUE ...")
 *   temp 23.5             set every sensor (rounded to 1/16 degC, clamped to -55..125)
 *   temp ROM 23.5         set the sensor with that ROM (16 hex digits, wire order)
 *   temp absent|present   take the sensors off the bus / put them back
 *   temp stuck|unstuck    hold the line low / release it
 *   temp corrupt [N]      corrupt the next N scratchpad reads (default 2: past the retry)
 *   temp brownout         the next conversion ends in a power-on reset (85 degC value)
 *   temp list             the ROMs on the bus
 */
import Control from "host/control";
import { romToHex } from "sensors/onewire";
import type { SimulatedBus } from "sensors/sim-bus";
import type { SimulatedDs18b20 } from "sensors/sim-ds18b20";

function parseCelsius(word: string): number {
  const value = Number(word);
  if (word === "" || !Number.isFinite(value)) throw new Error(`not a temperature: ${word}`);
  return value;
}

export function temperatureCommand(bus: SimulatedBus, args: string[]): string {
  const all = bus.devices;
  const show = (devices: SimulatedDs18b20[]) =>
    devices.length === 1 ? String(devices[0].temperature) : devices.map((d) => `${romToHex(d.rom)}=${d.temperature}`).join(" ");
  const [first, second] = args;
  switch (first) {
    case undefined:
      return show(all);
    case "list":
      return all.map((d) => romToHex(d.rom)).join(" ");
    case "absent":
    case "present":
      for (const d of all) d.present = first === "present";
      return first;
    case "stuck":
    case "unstuck":
      bus.stuckLow = first === "stuck";
      return first;
    case "corrupt": {
      const count = second === undefined ? 2 : Number(second);
      if (!Number.isInteger(count) || count < 0) throw new Error("corrupt takes a count");
      for (const d of all) d.corrupt({ count });
      return `corrupt ${count}`;
    }
    case "brownout":
      for (const d of all) d.brownOutNextConversion();
      return "brownout";
    default:
      break;
  }
  if (/^[0-9a-fA-F]{16}$/.test(first)) {
    const device = bus.device(first);
    if (!device) throw new Error(`no sensor ${first}`);
    if (second === undefined) return show([device]);
    device.temperature = parseCelsius(second);
    return show([device]);
  }
  const celsius = parseCelsius(first);
  for (const d of all) d.temperature = celsius;
  return show(all);
}

/** Registers the `temp` command for `bus` on the control channel (a no-op without --control). */
export function attachTemperatureControl(bus: SimulatedBus): void {
  Control.register("temp", (args) => temperatureCommand(bus, args));
}
