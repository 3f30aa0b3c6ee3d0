/*
 * A simulated 1-Wire bus of DS18B20s, slot by slot, for the simulator hosts
 * (sensors/bus) and the tests. Every master operation is a time slot on a
 * wired-AND line: each device (sim-ds18b20.ts) either drives a bit (0 pulls the
 * line low) or samples it, exactly as on the wire, so ROM search conflicts, Match
 * ROM deselection, a read slot seen as a write-1 by a listening device, and
 * devices talking over each other (Read ROM with two devices) come out as they
 * would (Maxim application note 126; notes/ds18b20.md).
 *
 * The bus's own faults: `stuckLow` (a short to ground: the reset throws
 * BusStuckError, every slot reads 0), and the strong pull-up for parasite-powered
 * devices, which ends with the next bus operation as on the device bus.
 */
import { crc8 } from "sensors/crc8";
import { BusStuckError } from "sensors/errors";
import { BitBus, romFromHex, sameRom } from "sensors/onewire";
import { makeRom } from "sensors/sim-device";
import { SimulatedDs18b20, type SimulatedDs18b20Options } from "sensors/sim-ds18b20";

/** the serials addDevice() gives devices without a ROM: this, plus 1, 2, 3 ... */
const FIRST_SERIAL = 0x0000_1d2c_3b00;

export interface SimulatedBusOptions {
  /** milliseconds clock the devices convert against (default Date.now) */
  now?: () => number;
}

export class SimulatedBus extends BitBus {
  readonly devices: SimulatedDs18b20[] = [];
  /** the line is held low (a short to ground) */
  stuckLow = false;
  /** counters for tests: reset pulses and slots since creation */
  resets = 0;
  slots = 0;
  readonly #now: () => number;
  #nextSerial = 1;
  #pulledUp = false;
  #closed = false;

  constructor(options: SimulatedBusOptions = {}) {
    super();
    this.#now = options.now ?? (() => Date.now());
  }

  /** Adds a DS18B20; returns its model for the test or the control channel to drive. */
  addDevice(options: SimulatedDs18b20Options = {}): SimulatedDs18b20 {
    let rom: Uint8Array;
    if (typeof options.rom === "string") rom = romFromHex(options.rom);
    else if (options.rom) rom = options.rom.slice();
    else rom = makeRom(FIRST_SERIAL + this.#nextSerial++);
    if (crc8(rom) !== 0) throw new RangeError("ROM CRC does not check");
    if (this.device(rom)) throw new RangeError("a device with that ROM is already on the bus");
    const device = new SimulatedDs18b20(rom, this.#now, options);
    this.devices.push(device);
    return device;
  }

  removeDevice(device: SimulatedDs18b20): void {
    const index = this.devices.indexOf(device);
    if (index >= 0) this.devices.splice(index, 1);
  }

  device(rom: Uint8Array | string): SimulatedDs18b20 | undefined {
    const bytes = typeof rom === "string" ? romFromHex(rom) : rom;
    return this.devices.find((d) => sameRom(d.rom, bytes));
  }

  reset(): boolean {
    this.#check();
    this.#endPullUp();
    this.resets++;
    if (this.stuckLow) throw new BusStuckError("line low before the reset pulse");
    let presence = false;
    for (const device of this.devices) if (device.reset()) presence = true;
    return presence;
  }

  writeBit(bit: number): void {
    this.#slot(bit ? 1 : 0);
  }

  readBit(): number {
    return this.#slot(1);
  }

  strongPullUp(on: boolean): void {
    this.#check();
    if (on === this.#pulledUp) return;
    this.#pulledUp = on;
    for (const device of this.devices) device.pullUp(on);
  }

  close(): void {
    this.#closed = true;
  }

  #check(): void {
    if (this.#closed) throw new Error("bus closed");
  }

  #endPullUp(): void {
    if (this.#pulledUp) this.strongPullUp(false);
  }

  /* one time slot: the master releases (1) or holds (0) the line; devices drive or sample */
  #slot(master: number): number {
    this.#check();
    this.#endPullUp();
    this.slots++;
    let line = this.stuckLow ? 0 : master;
    for (const device of this.devices) line &= device.drive();
    for (const device of this.devices) device.commit(line);
    return line;
  }
}
