/*
 * The 1-Wire bus as the drivers see it, and the ROM-level protocol on top.
 *
 * `OneWireBus` is the contract between a DS18B20 driver and a bus: the device
 * bus (esp32/, open-drain GPIO with microsecond slots) and the simulated bus
 * (sim-bus.ts) both implement it. Its operations are synchronous: a slot lasts
 * about 70 us and a whole scratchpad read under 6 ms, so only the waits measured
 * in milliseconds (a conversion, an EEPROM copy) are asynchronous, and those are
 * the driver's business (with a Timer).
 *
 * Facts implemented (notes/ds18b20.md): reset + presence, bits LSB first, ROM
 * commands F0 Search, 33 Read, 55 Match, CC Skip, EC Alarm Search; the ROM code is
 * 8 bytes in wire order (family code first, CRC-8 last), and that one byte order
 * is used everywhere here: search returns it, match sends it, hex shows it.
 */
import { crc8 } from "sensors/crc8";
import { BusStuckError, CrcError, DeviceVanishedError, NoPresenceError } from "sensors/errors";

export const SEARCH_ROM = 0xf0;
export const READ_ROM = 0x33;
export const MATCH_ROM = 0x55;
export const SKIP_ROM = 0xcc;
export const ALARM_SEARCH = 0xec;

export const ROM_LENGTH = 8;
/** bounds the memory a search can take on a bus with a fault that invents devices */
export const MAX_SEARCH_DEVICES = 64;

export interface OneWireBus {
  /**
   * Reset pulse; true when at least one device answered with a presence pulse.
   * Throws BusStuckError when the line is low before the pulse or stays low after it.
   */
  reset(): boolean;
  /** one write slot (0 or 1) */
  writeBit(bit: number): void;
  /** one read slot: the wired-AND of what the devices drive */
  readBit(): number;
  writeByte(byte: number): void;
  readByte(): number;
  /** bytes in order, each LSB first */
  write(bytes: ArrayLike<number>): void;
  read(count: number): Uint8Array;
  /**
   * Optional: drive the line hard high (strong pull-up) for parasite-powered
   * devices during a conversion or EEPROM copy, until the next bus operation.
   */
  strongPullUp?(on: boolean): void;
  close(): void;
}

/** Byte operations in terms of slots, for buses that only have bits (the simulated bus). */
export abstract class BitBus implements OneWireBus {
  abstract reset(): boolean;
  abstract writeBit(bit: number): void;
  abstract readBit(): number;
  abstract close(): void;

  writeByte(byte: number): void {
    for (let i = 0; i < 8; i++) this.writeBit((byte >> i) & 1);
  }

  readByte(): number {
    let byte = 0;
    for (let i = 0; i < 8; i++) byte |= this.readBit() << i;
    return byte;
  }

  write(bytes: ArrayLike<number>): void {
    for (let i = 0; i < bytes.length; i++) this.writeByte(bytes[i]);
  }

  read(count: number): Uint8Array {
    const out = new Uint8Array(count);
    for (let i = 0; i < count; i++) out[i] = this.readByte();
    return out;
  }
}

export function romToHex(rom: ArrayLike<number>): string {
  let text = "";
  for (let i = 0; i < rom.length; i++) text += (rom[i] < 16 ? "0" : "") + rom[i].toString(16);
  return text;
}

export function romFromHex(hex: string): Uint8Array {
  if (!/^[0-9a-fA-F]{16}$/.test(hex)) throw new RangeError("a ROM is 16 hex digits");
  const rom = new Uint8Array(ROM_LENGTH);
  for (let i = 0; i < ROM_LENGTH; i++) rom[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return rom;
}

export function sameRom(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== ROM_LENGTH || b.length !== ROM_LENGTH) return false;
  for (let i = 0; i < ROM_LENGTH; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A ROM code is valid when its CRC checks and it is not all zeros (what a line held low reads). */
export function checkRom(rom: Uint8Array, what = "rom"): void {
  if (rom.length !== ROM_LENGTH) throw new RangeError(`${what}: a ROM is ${ROM_LENGTH} bytes`);
  let any = 0;
  for (let i = 0; i < ROM_LENGTH; i++) any |= rom[i];
  if (!any) throw new BusStuckError(`${what} reads all zeros: bus stuck low`);
  if (crc8(rom) !== 0) throw new CrcError(what, rom.slice());
}

/**
 * Reset, then address one device (Match ROM with `rom`) or every device (Skip ROM
 * when `rom` is undefined). Throws NoPresenceError when nothing answers.
 */
export function select(bus: OneWireBus, rom?: Uint8Array): void {
  if (!bus.reset()) throw new NoPresenceError();
  if (rom) {
    if (rom.length !== ROM_LENGTH) throw new RangeError(`a ROM is ${ROM_LENGTH} bytes`);
    bus.writeByte(MATCH_ROM);
    bus.write(rom);
  } else {
    bus.writeByte(SKIP_ROM);
  }
}

/** Read ROM (33): only meaningful with a single device on the bus (several answer at once). */
export function readRom(bus: OneWireBus): Uint8Array {
  if (!bus.reset()) throw new NoPresenceError();
  bus.writeByte(READ_ROM);
  const rom = bus.read(ROM_LENGTH);
  checkRom(rom, "read rom");
  return rom;
}

export interface SearchOptions {
  /** EC Alarm Search instead of F0: only devices whose alarm flag is set answer */
  alarm?: boolean;
  /** only this family code (the first ROM byte), e.g. 0x28 for the DS18B20 */
  family?: number;
  /** at most this many devices (MAX_SEARCH_DEVICES by default) */
  limit?: number;
}

/**
 * The ROM search of Maxim application note 187: one pass per device, each pass
 * walking the 64 ROM bits LSB first; at a discrepancy (devices disagree: both the
 * bit and its complement read 0) the pass takes the 0 branch unless it is the last
 * discrepancy of the previous pass, so the order is deterministic: the ROMs in
 * lexicographic order of their bits as sent (byte 0 bit 0 first). Returns []
 * when no device answers the first reset. A ROM that fails its CRC fails the search (CrcError): a noisy bus is a fault,
 * not a device to report.
 */
export function search(bus: OneWireBus, options: SearchOptions = {}): Uint8Array[] {
  const limit = Math.min(options.limit ?? MAX_SEARCH_DEVICES, MAX_SEARCH_DEVICES);
  let passes = 0;
  const found: Uint8Array[] = [];
  const rom = new Uint8Array(ROM_LENGTH);
  /* 1-based index of the bit where the previous pass took 0 at a discrepancy; 0: none */
  let lastDiscrepancy = 0;
  do {
    if (!bus.reset()) {
      if (found.length === 0) return found;
      throw new DeviceVanishedError("no presence pulse in the middle of a ROM search");
    }
    bus.writeByte(options.alarm ? ALARM_SEARCH : SEARCH_ROM);
    let lastZero = 0;
    for (let bitNumber = 1; bitNumber <= 64; bitNumber++) {
      const index = (bitNumber - 1) >> 3;
      const mask = 1 << ((bitNumber - 1) & 7);
      const idBit = bus.readBit();
      const complement = bus.readBit();
      let direction: number;
      if (idBit && complement) {
        /* nobody drove either slot: no device takes part any more */
        if (bitNumber === 1 && found.length === 0) return found; // alarm search with no alarm
        throw new DeviceVanishedError(`no device answered bit ${bitNumber} of a ROM search`);
      } else if (idBit !== complement) {
        direction = idBit;
      } else {
        if (bitNumber < lastDiscrepancy) direction = rom[index] & mask ? 1 : 0;
        else direction = bitNumber === lastDiscrepancy ? 1 : 0;
        if (direction === 0) lastZero = bitNumber;
      }
      if (direction) rom[index] |= mask;
      else rom[index] &= ~mask;
      bus.writeBit(direction);
    }
    lastDiscrepancy = lastZero;
    checkRom(rom, "search rom");
    /* the whole bus is walked and filtered: the order stays the bus order whatever the family */
    if (options.family === undefined || rom[0] === options.family) found.push(rom.slice());
  } while (lastDiscrepancy !== 0 && found.length < limit && ++passes < MAX_SEARCH_DEVICES);
  return found;
}
