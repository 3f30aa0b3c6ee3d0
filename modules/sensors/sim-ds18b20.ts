/*
 * A DS18B20 as the simulated bus sees it: its memory and function commands on top
 * of the 1-Wire device of sim-device.ts, for the simulator hosts and the tests.
 *
 * Model (DS18B20 datasheet "Memory", "Configuration Register", "Function Commands";
 * notes/ds18b20.md): ROM family 0x28; 44 Convert T (busy reads 0 until the
 * conversion time for the resolution has elapsed, then the scratchpad holds the new
 * value), BE Read Scratchpad (9 bytes, CRC-8), 4E Write Scratchpad (TH, TL, config;
 * only R1:R0 writable), 48 Copy Scratchpad, B8 Recall E2, B4 Read Power Supply;
 * power-on scratchpad 0x0550 (+85), TH/TL/config from EEPROM, byte 6 = 0x0C at
 * power-on and 0x10 - (temperature & 0x0F) after a conversion (as genuine parts
 * do); undefined low temperature bits below 12 bit read as 1 (so a driver that
 * forgets to mask them is caught); parasite power browns out (power-on reset) when
 * the strong pull-up is not held through the conversion.
 *
 * Deterministic: no randomness; the temperature set is the one converted (rounded
 * to 1/16 degC). Faults of the device itself: corrupted scratchpad reads, the
 * power-on state, a brown-out (absence and vanishing are sim-device.ts's).
 */
import { crc8 } from "sensors/crc8";
import {
  CONVERSION_MS,
  CONVERT_T,
  COPY_SCRATCHPAD,
  configForResolution,
  isResolution,
  POWER_ON_BYTE6,
  POWER_ON_RAW,
  READ_POWER_SUPPLY,
  READ_SCRATCHPAD,
  RECALL_E2,
  resolutionFromConfig,
  SCRATCHPAD_LENGTH,
  WRITE_SCRATCHPAD,
  type Resolution,
} from "sensors/ds18b20";
import { SimulatedDevice } from "sensors/sim-device";

const EEPROM_DEFAULT = Object.freeze({ th: 0x4b, tl: 0x46, config: 0x7f });
const EEPROM_WRITE_MS = 10;
const RECALL_MS = 1;
const MIN_CELSIUS = -55;
const MAX_CELSIUS = 125;

export interface SimulatedDs18b20Options {
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

export class SimulatedDs18b20 extends SimulatedDevice {
  readonly parasite: boolean;
  #temperature = 21.4375;
  readonly #now: () => number;
  readonly #scratchpad = new Uint8Array(SCRATCHPAD_LENGTH);
  readonly #eeprom = { ...EEPROM_DEFAULT };
  #busyUntil = 0;
  #converting: { ends: number; powered: boolean } | undefined;
  #corrupt: Required<CorruptOptions> = { count: 0, byte: 0, mask: 0 };
  #brownOut = false;
  /** Convert T commands seen, and conversions completed (for tests) */
  conversions = 0;
  completed = 0;

  constructor(rom: Uint8Array, now: () => number, options: SimulatedDs18b20Options = {}) {
    super(rom);
    this.#now = now;
    this.parasite = options.parasite ?? false;
    if (options.resolution !== undefined) {
      if (!isResolution(options.resolution)) throw new RangeError("resolution is 9..12 bits");
      this.#eeprom.config = configForResolution(options.resolution);
    }
    if (options.temperature !== undefined) this.temperature = options.temperature;
    this.powerOnReset();
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
    this.settle();
    return this.#scratchpad.slice();
  }

  get converting(): boolean {
    this.settle();
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
    this.mode = "idle";
  }

  /** The next `count` scratchpad reads flip `mask` in byte `byte` (CRC left as it was). */
  corrupt(options: CorruptOptions = {}): void {
    this.#corrupt = { count: options.count ?? 1, byte: options.byte ?? 0, mask: options.mask ?? 0x01 };
  }

  /** The next conversion ends in a power-on reset (a brown-out), leaving +85 in the scratchpad. */
  brownOutNextConversion(): void {
    this.#brownOut = true;
  }

  /** The strong pull-up changed (`on`) or ended because the master used the bus. */
  pullUp(on: boolean): void {
    const conversion = this.#converting;
    if (!conversion || !this.parasite) return;
    this.settle();
    if (!this.#converting) return;
    if (on) conversion.powered = true;
    else this.#brownOutNow();
  }

  /* ---- the function layer (hooks of SimulatedDevice) ---- */

  protected functionCommand(byte: number): void {
    this.settle();
    const now = this.#now();
    switch (byte) {
      case CONVERT_T:
        this.conversions++;
        this.#converting = { ends: now + CONVERSION_MS[this.resolution], powered: !this.parasite };
        this.#busyUntil = 0;
        this.mode = "busy";
        return;
      case READ_SCRATCHPAD: {
        const pad = this.#scratchpad.slice();
        if (this.#corrupt.count > 0) {
          this.#corrupt.count--;
          pad[this.#corrupt.byte] ^= this.#corrupt.mask;
        }
        this.transmit(pad);
        return;
      }
      case WRITE_SCRATCHPAD:
        this.receive(3);
        return;
      case COPY_SCRATCHPAD:
        this.#eeprom.th = this.#scratchpad[2];
        this.#eeprom.tl = this.#scratchpad[3];
        this.#eeprom.config = this.#scratchpad[4];
        this.#busyUntil = now + EEPROM_WRITE_MS;
        this.mode = "busy";
        return;
      case RECALL_E2:
        this.#scratchpad[2] = this.#eeprom.th;
        this.#scratchpad[3] = this.#eeprom.tl;
        this.#scratchpad[4] = this.#eeprom.config;
        this.#scratchpad[8] = crc8(this.#scratchpad, 0, 8);
        this.#busyUntil = now + RECALL_MS;
        this.mode = "busy";
        return;
      case READ_POWER_SUPPLY:
        this.transmitBits([this.parasite ? 0 : 1]);
        return;
      default:
        this.mode = "idle";
        return;
    }
  }

  /** Write Scratchpad's TH, TL, config: only R1:R0 of the config register are writable. */
  protected received([th, tl, config]: number[]): void {
    this.#scratchpad[2] = th;
    this.#scratchpad[3] = tl;
    this.#scratchpad[4] = (config & 0x60) | 0x1f;
    this.#scratchpad[8] = crc8(this.#scratchpad, 0, 8);
  }

  protected busy(): boolean {
    this.settle();
    return this.#now() < this.#busyUntil || this.#converting !== undefined;
  }

  /** the alarm flag: the temperature's integer part (bits 11:4, signed) at or beyond TH or TL */
  protected alarmed(): boolean {
    const t = (((this.#scratchpad[1] << 8) | this.#scratchpad[0]) << 16) >> 20;
    const th = (this.#scratchpad[2] << 24) >> 24;
    const tl = (this.#scratchpad[3] << 24) >> 24;
    return t >= th || t <= tl;
  }

  /** Completes a conversion whose time has come. */
  protected override settle(): void {
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
    const wasBusy = this.mode === "busy";
    this.powerOnReset();
    this.mode = wasBusy ? "released" : "idle";
  }
}
