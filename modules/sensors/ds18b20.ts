/*
 * DS18B20 driver over any OneWireBus: discovery (family 0x28), selection by ROM,
 * resolution 9..12 bit, Convert T with the datasheet wait done by a Timer (the
 * event loop keeps running during the up to 750 ms), scratchpad read with CRC-8
 * check (one retry), and decoding of the signed 1/16 degC value.
 *
 * Facts implemented (notes/ds18b20.md, DS18B20 datasheet "Operation", "Memory",
 * "Configuration Register", "ROM/Function Commands"):
 * - commands 44 Convert T, BE Read Scratchpad, 4E Write Scratchpad (TH, TL,
 *   config), B4 Read Power Supply; config bits 6:5 = R1:R0 select 9..12 bit;
 * - conversion time max 93.75 / 187.5 / 375 / 750 ms; parasite power needs the
 *   strong pull-up during the conversion;
 * - temperature: 16-bit two's complement, 1/16 degC per LSB, low bits undefined
 *   below 12 bit (masked here, by the resolution the device reports it used);
 * - power-on value 0x0550 (+85 degC): reported as PowerOnValueError when the
 *   scratchpad shows no completed conversion since a reset: byte 6 holds its
 *   power-on 0x0C (genuine parts rewrite it at each conversion) or the config
 *   register lost the resolution this driver wrote (volatile until Copy Scratchpad).
 * Faults are typed errors (errors.ts), never temperatures.
 */
import Timer from "timer";
import { crc8 } from "sensors/crc8";
import {
  BusStuckError,
  ConversionTimeoutError,
  CrcError,
  DeviceVanishedError,
  NoPresenceError,
  PowerOnValueError,
  SensorNotFoundError,
} from "sensors/errors";
import { checkRom, ROM_LENGTH, search, select, type OneWireBus } from "sensors/onewire";

export const FAMILY_DS18B20 = 0x28;

export const CONVERT_T = 0x44;
export const READ_SCRATCHPAD = 0xbe;
export const WRITE_SCRATCHPAD = 0x4e;
export const COPY_SCRATCHPAD = 0x48;
export const RECALL_E2 = 0xb8;
export const READ_POWER_SUPPLY = 0xb4;

export const SCRATCHPAD_LENGTH = 9;
export const POWER_ON_RAW = 0x0550;
/** byte 6 (reserved) of a genuine DS18B20 after power-on; a conversion rewrites it */
export const POWER_ON_BYTE6 = 0x0c;

export type Resolution = 9 | 10 | 11 | 12;

/** datasheet maximum conversion time per resolution, in milliseconds */
export const CONVERSION_MS: Readonly<Record<Resolution, number>> = Object.freeze({ 9: 93.75, 10: 187.5, 11: 375, 12: 750 });

/** a device still busy after the wait is polled this often, up to the 12-bit maximum plus the grace */
const BUSY_POLL_MS = 10;
const BUSY_GRACE_MS = 50;

export function isResolution(bits: number): bits is Resolution {
  return bits === 9 || bits === 10 || bits === 11 || bits === 12;
}

/** config register value for a resolution: R1:R0 in bits 6:5, bits 4:0 read as 1, bit 7 as 0 */
export function configForResolution(bits: Resolution): number {
  return ((bits - 9) << 5) | 0x1f;
}

export function resolutionFromConfig(config: number): Resolution {
  return (9 + ((config >> 5) & 3)) as Resolution;
}

/**
 * Degrees C from the two temperature bytes: sign-extended 16-bit two's complement,
 * 1/16 degC per LSB, the low (12 - resolution) bits cleared because the device
 * leaves them undefined below 12 bit.
 */
export function decodeTemperature(lsb: number, msb: number, resolution: Resolution = 12): number {
  const raw = (((msb & 0xff) << 8) | (lsb & 0xff)) << 16 >> 16;
  const masked = raw & ~((1 << (12 - resolution)) - 1);
  return masked / 16;
}

/** The two temperature bytes for a value (what a device at `resolution` would hold, undefined bits 0). */
export function encodeTemperature(celsius: number, resolution: Resolution = 12): [lsb: number, msb: number] {
  const raw = Math.round(celsius * 16) & ~((1 << (12 - resolution)) - 1) & 0xffff;
  return [raw & 0xff, raw >> 8];
}

export interface Scratchpad {
  bytes: Uint8Array;
  raw: number;
  th: number;
  tl: number;
  config: number;
  resolution: Resolution;
  celsius: number;
}

export function parseScratchpad(bytes: Uint8Array): Scratchpad {
  const resolution = resolutionFromConfig(bytes[4]);
  return {
    bytes,
    raw: (bytes[1] << 8) | bytes[0],
    th: bytes[2],
    tl: bytes[3],
    config: bytes[4],
    resolution,
    celsius: decodeTemperature(bytes[0], bytes[1], resolution),
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => Timer.set(() => resolve(), ms));
}

function allBytes(bytes: Uint8Array, value: number): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== value) return false;
  return true;
}

export interface Ds18b20Options {
  bus: OneWireBus;
  /** the device's ROM (wire order); absent: Skip ROM, for a bus with this one device only */
  rom?: Uint8Array;
  /** 9..12 (default 12) */
  resolution?: Resolution;
}

export class Ds18b20 {
  static readonly FAMILY = FAMILY_DS18B20;

  /**
   * ROMs of the DS18B20s on the bus, in search order. NoPresenceError when nothing
   * answers the reset; BusStuckError when the line is held low.
   */
  static discover(bus: OneWireBus): Uint8Array[] {
    if (!bus.reset()) throw new NoPresenceError();
    return search(bus, { family: FAMILY_DS18B20 });
  }

  /** The device with `rom`, or the first DS18B20 found when no ROM is given. */
  static open(bus: OneWireBus, options: { rom?: Uint8Array; resolution?: Resolution } = {}): Ds18b20 {
    const roms = Ds18b20.discover(bus);
    const wanted = options.rom;
    const rom = wanted ? roms.find((r) => r.every((b, i) => b === wanted[i])) : roms[0];
    if (!rom) throw new SensorNotFoundError(wanted ? "no DS18B20 with that ROM on the bus" : "no DS18B20 on the bus");
    return new Ds18b20({ bus, rom, resolution: options.resolution });
  }

  readonly bus: OneWireBus;
  readonly rom: Uint8Array | undefined;
  #resolution: Resolution;
  /** the config register this driver last wrote; undefined until written */
  #written: number | undefined;
  #th = 0x4b;
  #tl = 0x46;
  #parasite: boolean | undefined;
  #pending: Promise<number> | undefined;
  #closed = false;

  constructor(options: Ds18b20Options) {
    this.bus = options.bus;
    if (options.rom) {
      checkRom(options.rom);
      if (options.rom[0] !== FAMILY_DS18B20) throw new RangeError("not a DS18B20 ROM (family 0x28)");
      this.rom = options.rom.slice(0, ROM_LENGTH);
    }
    const resolution = options.resolution ?? 12;
    if (!isResolution(resolution)) throw new RangeError("resolution is 9..12 bits");
    this.#resolution = resolution;
  }

  get resolution(): Resolution {
    return this.#resolution;
  }

  /** Takes effect from the next read (written to the scratchpad, not to EEPROM). */
  setResolution(bits: number): void {
    if (!isResolution(bits)) throw new RangeError("resolution is 9..12 bits");
    this.#resolution = bits;
    this.#written = undefined;
  }

  /** milliseconds a conversion at the current resolution may take */
  get conversionTime(): number {
    return CONVERSION_MS[this.#resolution];
  }

  /** true when the device draws its power from the data line (B4 reads 0) */
  get parasite(): boolean | undefined {
    return this.#parasite;
  }

  /**
   * Converts and reads the temperature in degC. Concurrent calls share one
   * conversion. Rejects with a SensorError subclass on any fault.
   */
  read(): Promise<number> {
    if (this.#closed) return Promise.reject(new Error("closed"));
    if (!this.#pending) {
      this.#pending = this.#readOnce();
      const clear = () => (this.#pending = undefined);
      this.#pending.then(clear, clear);
    }
    return this.#pending;
  }

  close(): void {
    this.#closed = true;
  }

  /**
   * Reads and CRC-checks the scratchpad (one retry on a CRC mismatch). With
   * `afterConversion`, a missing presence pulse is DeviceVanishedError.
   */
  readScratchpad(afterConversion = false): Scratchpad {
    let bytes = this.#transferScratchpad(afterConversion);
    if (crc8(bytes) !== 0 || allBytes(bytes, 0)) bytes = this.#transferScratchpad(afterConversion);
    if (allBytes(bytes, 0xff)) throw new DeviceVanishedError("device stopped answering: scratchpad reads all ones");
    /* all zeros has a valid CRC: it is what a line held low reads */
    if (allBytes(bytes, 0)) throw new BusStuckError("scratchpad reads all zeros: bus stuck low");
    if (crc8(bytes) !== 0) throw new CrcError("scratchpad", bytes);
    return parseScratchpad(bytes);
  }

  async #readOnce(): Promise<number> {
    this.#configure();
    this.#address(false);
    this.bus.writeByte(CONVERT_T);
    const pullUp = this.#parasite && this.bus.strongPullUp ? this.bus : undefined;
    pullUp?.strongPullUp!(true);
    try {
      await delay(Math.ceil(this.conversionTime) + 1);
    } finally {
      pullUp?.strongPullUp!(false);
    }
    if (this.#closed) throw new Error("closed");
    /*
     * externally powered devices answer read slots with 0 while converting. One that
     * reset since we configured it converts at its EEPROM resolution (up to 12 bit):
     * poll until the 12-bit maximum before calling it a timeout.
     */
    if (!this.#parasite) {
      let waited = Math.ceil(this.conversionTime) + 1;
      while (!this.bus.readBit()) {
        if (waited > CONVERSION_MS[12] + BUSY_GRACE_MS) {
          this.bus.reset(); // a line held low shows here as BusStuckError
          throw new ConversionTimeoutError();
        }
        await delay(BUSY_POLL_MS);
        waited += BUSY_POLL_MS;
      }
    }
    const pad = this.readScratchpad(true);
    const expected = this.#written;
    if (pad.config !== expected) this.#written = undefined; // the device reset: write it again next time
    if (pad.raw === POWER_ON_RAW && (pad.bytes[6] === POWER_ON_BYTE6 || pad.config !== expected))
      throw new PowerOnValueError();
    return pad.celsius;
  }

  /** Reset + Match ROM (or Skip ROM). After a conversion started, no presence means the device left. */
  #address(started: boolean): void {
    try {
      select(this.bus, this.rom);
    } catch (error) {
      if (started && error instanceof NoPresenceError) throw new DeviceVanishedError("no presence pulse after the conversion started");
      throw error;
    }
  }

  #transferScratchpad(afterConversion: boolean): Uint8Array {
    this.#address(afterConversion);
    this.bus.writeByte(READ_SCRATCHPAD);
    return this.bus.read(SCRATCHPAD_LENGTH);
  }

  /** Writes the wanted resolution once (and after the device lost it), keeping TH/TL. */
  #configure(): void {
    const config = configForResolution(this.#resolution);
    if (this.#written === config) return;
    this.#address(false);
    this.bus.writeByte(READ_POWER_SUPPLY);
    this.#parasite = this.bus.readBit() === 0;
    const pad = this.readScratchpad();
    this.#th = pad.th;
    this.#tl = pad.tl;
    this.#address(false);
    this.bus.write([WRITE_SCRATCHPAD, this.#th, this.#tl, config]);
    this.#written = config;
  }
}
