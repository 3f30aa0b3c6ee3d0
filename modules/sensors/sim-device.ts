/*
 * The device side of a simulated 1-Wire bus, up to the function commands: what
 * every 1-Wire slave does the same way, slot by slot. The bus (sim-bus.ts) asks
 * each device what it drives in a slot (drive) and tells it what the wired-AND
 * line read (commit); this class answers reset with a presence pulse, takes the
 * ROM commands F0 Search, EC Alarm Search, 33 Read, 55 Match and CC Skip, and
 * moves bits in and out LSB first. A device model (sim-ds18b20.ts) extends it with
 * its function commands and memory through the protected hooks below.
 *
 * Follows Maxim application notes 126 (slots) and 187 (the search: each device
 * drives its ROM bit, then its complement, then samples the master's choice and
 * drops out when it differs), and notes/ds18b20.md. A device that is not `present`
 * answers nothing and drives nothing; `vanishAfterSlots()` takes it off mid-transfer.
 */
import { crc8 } from "sensors/crc8";
import { ALARM_SEARCH, MATCH_ROM, READ_ROM, ROM_LENGTH, romToHex, SEARCH_ROM, SKIP_ROM } from "sensors/onewire";
import { FAMILY_DS18B20 } from "sensors/ds18b20";

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

export type DeviceMode =
  | "idle" // not addressed: ignores slots until the next reset
  | "rom-command"
  | "search"
  | "match"
  | "function-command"
  | "send" // transmitting the queued bits
  | "receive" // collecting the bytes a function command takes
  | "busy" // read slots give 0 while busy() says so
  | "released"; // done talking: drives nothing until the next reset

export abstract class SimulatedDevice {
  readonly rom: Uint8Array;
  /** false: the device is not on the bus (no presence, drives nothing) */
  present = true;
  #mode: DeviceMode = "idle";
  #bits = 0; // bits collected in the current byte or ROM position
  #byte = 0;
  #received: number[] = [];
  #expected = 0;
  #out: number[] = []; // bits to transmit, LSB first
  #afterSend: DeviceMode = "released";
  #searchPhase = 0; // 0: drives its ROM bit, 1: its complement, 2: samples the master's choice
  #searchBit = 0;
  #vanishAfter = -1;

  constructor(rom: Uint8Array) {
    this.rom = rom;
  }

  get romHex(): string {
    return romToHex(this.rom);
  }

  /** The device leaves the bus after `slots` more time slots (a wire pulled mid-transfer). */
  vanishAfterSlots(slots: number): void {
    this.#vanishAfter = slots;
  }

  /* ---- the wire, as the bus drives it ---- */

  /** reset pulse: true when the device answers with a presence pulse */
  reset(): boolean {
    this.#countSlot();
    if (!this.present) return false;
    this.settle();
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
        return this.busy() ? 0 : 1;
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

  /* ---- for the device model ---- */

  /** a function command byte, after Match ROM, Skip ROM or Read ROM */
  protected abstract functionCommand(byte: number): void;
  /** the bytes asked for with receive(), all of them */
  protected abstract received(bytes: number[]): void;
  /** in "busy" mode: true while read slots should read 0 */
  protected abstract busy(): boolean;
  /** whether the device answers an Alarm Search */
  protected abstract alarmed(): boolean;

  /** Brings time-driven state up to now (a conversion that has finished); runs at reset and search. */
  protected settle(): void {}

  protected get mode(): DeviceMode {
    return this.#mode;
  }

  /** "idle", "busy" or "released"; the transfers have their own methods */
  protected set mode(mode: DeviceMode) {
    this.#mode = mode;
  }

  /** Transmits `bytes` (LSB first), then takes `then`. */
  protected transmit(bytes: ArrayLike<number>, then: DeviceMode = "released"): void {
    const bits: number[] = [];
    for (let i = 0; i < bytes.length; i++) for (let b = 0; b < 8; b++) bits.push((bytes[i] >> b) & 1);
    this.transmitBits(bits, then);
  }

  protected transmitBits(bits: number[], then: DeviceMode = "released"): void {
    this.#out = bits;
    this.#mode = "send";
    this.#afterSend = then;
    this.#bits = 0;
  }

  /** Collects `count` bytes for received(), then releases the bus. */
  protected receive(count: number): void {
    this.#received = [];
    this.#expected = count;
    this.#mode = "receive";
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

  #onByte(byte: number): void {
    if (this.#mode === "rom-command") this.#romCommand(byte);
    else if (this.#mode === "receive") {
      this.#received.push(byte);
      if (this.#received.length === this.#expected) {
        this.received(this.#received);
        this.#mode = "released";
      }
    } else this.functionCommand(byte);
  }

  #romCommand(byte: number): void {
    switch (byte) {
      case SEARCH_ROM:
      case ALARM_SEARCH:
        this.settle();
        if (byte === ALARM_SEARCH && !this.alarmed()) {
          this.#mode = "idle";
          return;
        }
        this.#mode = "search";
        this.#searchBit = 0;
        this.#searchPhase = 0;
        return;
      case READ_ROM:
        /* after its 64 ROM bits the device listens for a function command, as after Match ROM */
        this.transmit(this.rom, "function-command");
        return;
      case MATCH_ROM:
        this.#mode = "match";
        this.#bits = 0;
        return;
      case SKIP_ROM:
        this.#enterFunction();
        return;
      default:
        this.#mode = "idle";
        return;
    }
  }
}
