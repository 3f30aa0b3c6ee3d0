/*
 * A simulated 1-Wire bus with DS18B20 devices modelled slot by slot, for the
 * simulator hosts and the tests. Every master operation is a time slot on a
 * wired-AND line: each device either drives a bit (0 pulls the line low) or
 * samples it, exactly as on the wire, so ROM search conflicts, Match ROM
 * deselection, a read slot seen as a write-1 by a listening device, and devices
 * talking over each other (Read ROM with two devices) come out as they would.
 *
 * Device model (DS18B20 datasheet; notes/ds18b20.md): ROM = family 0x28, 48-bit
 * serial, CRC-8; ROM commands F0/EC/33/55/CC; function commands 44 (busy reads 0
 * until the conversion time for the resolution has elapsed, then the scratchpad
 * holds the new value), BE (9 bytes, CRC-8), 4E (TH, TL, config; only R1:R0
 * writable), 48, B8, B4; power-on scratchpad 0x0550 (+85), EEPROM TH/TL/config,
 * byte 6 = 0x0C at power-on and 0x10 - (temperature & 0x0F) after a conversion
 * (as genuine parts do); undefined low temperature bits below 12 bit read as 1
 * (so a driver that forgets to mask them is caught); parasite power browns out
 * (power-on reset) when the strong pull-up is not held through the conversion.
 *
 * Deterministic: no randomness; the temperature set is the one converted (rounded
 * to 1/16 degC). Faults: absent device, vanishing after N slots, corrupted
 * scratchpad bytes, power-on state, brown-out, a line stuck low.
 */
import { crc8 } from "sensors/crc8";
import { BusStuckError } from "sensors/errors";
import { BitBus, romFromHex, romToHex, sameRom, ROM_LENGTH } from "sensors/onewire";
import { CONVERSION_MS, configForResolution, FAMILY_DS18B20, isResolution, POWER_ON_BYTE6, POWER_ON_RAW, resolutionFromConfig, type Resolution } from "sensors/ds18b20";

/** 8-byte ROM in wire order: family, 48-bit serial LSB first, CRC-8. */
export function makeRom(serial: number, family = FAMILY_DS18B20): Uint8Array {
  if (!Number.isInteger(serial) || serial < 0 || serial > 0xffff_ffff_ffff) throw new RangeError("serial is 48 bits");
  const rom = new Uint8Array(ROM_LENGTH);
  rom[0] = family;
  let rest = serial;
  for (let i = 1; i <= 6; i++) {
    rom[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  rom[7] = crc8(rom, 0, 7);
  return rom;
}

const EEPROM_DEFAULT = Object.freeze({ th: 0x4b, tl: 0x46, config: 0x7f });
const EEPROM_WRITE_MS = 10;
const RECALL_MS = 1;
const MIN_CELSIUS = -55;
const MAX_CELSIUS = 125;

type Mode =
  | "idle" // not addressed: ignores slots until the next reset
  | "rom-command"
  | "search"
  | "match"
  | "function-command"
  | "send" // transmitting `#out`
  | "receive" // 4E: collecting TH, TL, config
  | "busy" // after 44/48/B8: read slots give 0 until done
  | "released"; // done talking: drives nothing until the next reset

export interface SimulatedDeviceOptions {
  /** the ROM (bytes or 16 hex digits); default: a serial numbered by the bus */
  rom?: Uint8Array | string;
  temperature?: number;
  /** resolution held in EEPROM (what the device powers up with), default 12 */
  resolution?: Resolution;
  /** powered from the data line (B4 reads 0; needs the strong pull-up during conversions) */
  parasite?: boolean;
}

export interface CorruptOptions {
  /** how many scratchpad reads to corrupt (default 1) */
  count?: number;
  /** which scratchpad byte (default 0) */
  byte?: number;
  /** the bits to flip (default 0x01) */
  mask?: number;
}

export class SimulatedDs18b20 {
  readonly rom: Uint8Array;
  readonly parasite: boolean;
  /** false: the device is not on the bus (no presence, drives nothing) */
  present = true;
  #temperature = 21.4375;
  readonly #now: () => number;
  readonly #scratchpad = new Uint8Array(9);
  readonly #eeprom = { ...EEPROM_DEFAULT };
  #mode: Mode = "idle";
  #bits = 0; // bits collected in the current byte or ROM position
  #byte = 0;
  #received: number[] = [];
  #out: number[] = []; // bits to transmit, LSB first
  #afterSend: Mode = "released";
  #searchPhase = 0;
  #searchBit = 0;
  #alarmOnly = false;
  #busyUntil = 0;
  #converting: { ends: number; powered: boolean } | undefined;
  #corrupt: Required<CorruptOptions> = { count: 0, byte: 0, mask: 0 };
  #vanishAfter = -1;
  #brownOut = false;
  /** Convert T commands seen, and conversions completed (for tests) */
  conversions = 0;
  completed = 0;

  constructor(rom: Uint8Array, now: () => number, options: SimulatedDeviceOptions = {}) {
    this.rom = rom;
    this.#now = now;
    this.parasite = options.parasite ?? false;
    if (options.resolution !== undefined) {
      if (!isResolution(options.resolution)) throw new RangeError("resolution is 9..12 bits");
      this.#eeprom.config = configForResolution(options.resolution);
    }
    if (options.temperature !== undefined) this.temperature = options.temperature;
    this.powerOnReset();
  }

  get romHex(): string {
    return romToHex(this.rom);
  }

  /** The temperature the next conversion measures (rounded to 1/16 degC, clamped to -55..+125). */
  get temperature(): number {
    return this.#temperature;
  }

  set temperature(celsius: number) {
    if (typeof celsius !== "number" || !Number.isFinite(celsius)) throw new RangeError("temperature must be a finite number");
    this.#temperature = Math.round(Math.min(MAX_CELSIUS, Math.max(MIN_CELSIUS, celsius)) * 16) / 16;
  }

  /** the resolution in the config register now (what the next conversion uses) */
  get resolution(): Resolution {
    return resolutionFromConfig(this.#scratchpad[4]);
  }

  /** a copy of the scratchpad as the device holds it */
  get scratchpad(): Uint8Array {
    this.#settle();
    return this.#scratchpad.slice();
  }

  get converting(): boolean {
    this.#settle();
    return this.#converting !== undefined;
  }

  /** Power-on state: +85 degC, TH/TL/config recalled from EEPROM, byte 6 = 0x0C. */
  powerOnReset(): void {
    const pad = this.#scratchpad;
    pad[0] = POWER_ON_RAW & 0xff;
    pad[1] = POWER_ON_RAW >> 8;
    pad[2] = this.#eeprom.th;
    pad[3] = this.#eeprom.tl;
    pad[4] = this.#eeprom.config;
    pad[5] = 0xff;
    pad[6] = POWER_ON_BYTE6;
    pad[7] = 0x10;
    pad[8] = crc8(pad, 0, 8);
    this.#converting = undefined;
    this.#busyUntil = 0;
    this.#mode = "idle";
  }

  /** The next `count` scratchpad reads flip `mask` in byte `byte` (CRC left as it was). */
  corrupt(options: CorruptOptions = {}): void {
    this.#corrupt = { count: options.count ?? 1, byte: options.byte ?? 0, mask: options.mask ?? 0x01 };
  }

  /** The device leaves the bus after `slots` more time slots (a wire pulled mid-transfer). */
  vanishAfterSlots(slots: number): void {
    this.#vanishAfter = slots;
  }

  /** The next conversion ends in a power-on reset (a brown-out), leaving +85 in the scratchpad. */
  brownOutNextConversion(): void {
    this.#brownOut = true;
  }

  /* ---- the wire, as the bus drives it ---- */

  /** reset pulse: true when the device answers with a presence pulse */
  reset(): boolean {
    this.#countSlot();
    if (!this.present) return false;
    this.#settle();
    this.#mode = "rom-command";
    this.#bits = 0;
    this.#byte = 0;
    return true;
  }

  /** what the device drives in the coming slot: 0 pulls the line low, 1 leaves it */
  drive(): number {
    if (!this.present) return 1;
    switch (this.#mode) {
      case "send":
        return this.#out[this.#bits] ?? 1;
      case "search":
        if (this.#searchPhase === 2) return 1;
        return this.#romBit(this.#searchBit) ^ this.#searchPhase;
      case "busy":
        this.#settle();
        return this.#now() >= this.#busyUntil && !this.#converting ? 1 : 0;
      default:
        return 1;
    }
  }

  /** the slot happened and the line read `line` (what a listening device samples) */
  commit(line: number): void {
    if (!this.present) return;
    this.#countSlot();
    switch (this.#mode) {
      case "rom-command":
      case "function-command":
      case "receive":
        this.#byte |= line << this.#bits;
        if (++this.#bits === 8) {
          const byte = this.#byte;
          this.#bits = 0;
          this.#byte = 0;
          this.#onByte(byte);
        }
        break;
      case "match":
        if (line !== this.#romBit(this.#bits)) this.#mode = "idle";
        else if (++this.#bits === 64) this.#enterFunction();
        break;
      case "search":
        if (this.#searchPhase < 2) {
          this.#searchPhase++;
        } else if (line !== this.#romBit(this.#searchBit)) {
          this.#mode = "idle";
        } else {
          this.#searchPhase = 0;
          if (++this.#searchBit === 64) this.#enterFunction();
        }
        break;
      case "send":
        if (++this.#bits >= this.#out.length) {
          if (this.#afterSend === "function-command") this.#enterFunction();
          else this.#mode = this.#afterSend;
        }
        break;
      default:
        break;
    }
  }

  /** The strong pull-up changed (`on`) or ended because the master used the bus. */
  pullUp(on: boolean): void {
    const conversion = this.#converting;
    if (!conversion || !this.parasite) return;
    this.#settle();
    if (!this.#converting) return;
    if (on) conversion.powered = true;
    else this.#brownOutNow();
  }

  /* ---- internals ---- */

  #countSlot(): void {
    if (this.#vanishAfter >= 0 && this.#vanishAfter-- === 0) this.present = false;
  }

  #romBit(index: number): number {
    return (this.rom[index >> 3] >> (index & 7)) & 1;
  }

  #enterFunction(): void {
    this.#mode = "function-command";
    this.#bits = 0;
    this.#byte = 0;
  }

  #send(bytes: ArrayLike<number>, then: Mode = "released"): void {
    this.#out = [];
    for (let i = 0; i < bytes.length; i++) for (let b = 0; b < 8; b++) this.#out.push((bytes[i] >> b) & 1);
    this.#mode = "send";
    this.#afterSend = then;
    this.#bits = 0;
  }

  #alarm(): boolean {
    const t = (((this.#scratchpad[1] << 8) | this.#scratchpad[0]) << 16) >> 20; // bits 11:4, signed
    const th = (this.#scratchpad[2] << 24) >> 24;
    const tl = (this.#scratchpad[3] << 24) >> 24;
    return t >= th || t <= tl;
  }

  #onByte(byte: number): void {
    if (this.#mode === "rom-command") {
      switch (byte) {
        case 0xf0:
        case 0xec:
          this.#settle();
          if (byte === 0xec && !this.#alarm()) {
            this.#mode = "idle";
            return;
          }
          this.#mode = "search";
          this.#searchBit = 0;
          this.#searchPhase = 0;
          return;
        case 0x33:
          /* after its 64 ROM bits the device listens for a function command, as after Match ROM */
          this.#send(this.rom, "function-command");
          return;
        case 0x55:
          this.#mode = "match";
          this.#bits = 0;
          return;
        case 0xcc:
          this.#enterFunction();
          return;
        default:
          this.#mode = "idle";
          return;
      }
    }
    if (this.#mode === "receive") {
      this.#received.push(byte);
      if (this.#received.length === 3) {
        const [th, tl, config] = this.#received;
        this.#scratchpad[2] = th;
        this.#scratchpad[3] = tl;
        this.#scratchpad[4] = (config & 0x60) | 0x1f;
        this.#scratchpad[8] = crc8(this.#scratchpad, 0, 8);
        this.#mode = "released";
      }
      return;
    }
    /* function command */
    this.#settle();
    const now = this.#now();
    switch (byte) {
      case 0x44:
        this.conversions++;
        this.#converting = { ends: now + CONVERSION_MS[this.resolution], powered: !this.parasite };
        this.#busyUntil = 0;
        this.#mode = "busy";
        return;
      case 0xbe: {
        const pad = this.#scratchpad.slice();
        if (this.#corrupt.count > 0) {
          this.#corrupt.count--;
          pad[this.#corrupt.byte] ^= this.#corrupt.mask;
        }
        this.#send(pad);
        return;
      }
      case 0x4e:
        this.#received = [];
        this.#mode = "receive";
        return;
      case 0x48:
        this.#eeprom.th = this.#scratchpad[2];
        this.#eeprom.tl = this.#scratchpad[3];
        this.#eeprom.config = this.#scratchpad[4];
        this.#busyUntil = now + EEPROM_WRITE_MS;
        this.#mode = "busy";
        return;
      case 0xb8:
        this.#scratchpad[2] = this.#eeprom.th;
        this.#scratchpad[3] = this.#eeprom.tl;
        this.#scratchpad[4] = this.#eeprom.config;
        this.#scratchpad[8] = crc8(this.#scratchpad, 0, 8);
        this.#busyUntil = now + RECALL_MS;
        this.#mode = "busy";
        return;
      case 0xb4:
        this.#out = [this.parasite ? 0 : 1];
        this.#mode = "send";
        this.#afterSend = "released";
        this.#bits = 0;
        return;
      default:
        this.#mode = "idle";
        return;
    }
  }

  /** Completes a conversion whose time has come. */
  #settle(): void {
    const conversion = this.#converting;
    if (!conversion || this.#now() < conversion.ends) return;
    this.#converting = undefined;
    if (!conversion.powered || this.#brownOut) {
      this.#brownOut = false;
      this.#brownOutNow();
      return;
    }
    this.completed++;
    const bits = this.resolution;
    const undefinedBits = (1 << (12 - bits)) - 1;
    const raw12 = Math.round(this.#temperature * 16);
    const raw = ((raw12 & ~undefinedBits) | undefinedBits) & 0xffff;
    const pad = this.#scratchpad;
    pad[0] = raw & 0xff;
    pad[1] = raw >> 8;
    pad[6] = 0x10 - (raw12 & 0x0f);
    pad[8] = crc8(pad, 0, 8);
  }

  #brownOutNow(): void {
    const mode = this.#mode;
    this.powerOnReset();
    this.#mode = mode === "busy" ? "released" : "idle";
  }
}

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
  addDevice(options: SimulatedDeviceOptions = {}): SimulatedDs18b20 {
    let rom: Uint8Array;
    if (typeof options.rom === "string") rom = romFromHex(options.rom);
    else if (options.rom) rom = options.rom.slice();
    else rom = makeRom(0x0000_1d2c_3b00 + this.#nextSerial++);
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
