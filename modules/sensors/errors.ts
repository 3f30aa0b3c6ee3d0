/*
 * Typed sensor faults. A fault is never a number that could pass for a
 * temperature: each is an Error subclass with a stable `code` a caller can
 * switch on and put in a diagnostic (the 5.03 payload of /temperature).
 * Faults named by the DS18B20 notes: no presence pulse, CRC mismatch, the
 * 85 degC power-on value without a completed conversion, a device that vanished
 * mid-read, a bus held low.
 *
 * `name` is a class field, never `this.name = ...`: the SDK freezes Error.prototype,
 * so assigning the inherited `name` throws on the device.
 */

export type SensorFaultCode =
  | "no-presence"
  | "not-found"
  | "crc-mismatch"
  | "power-on-value"
  | "device-vanished"
  | "bus-stuck"
  | "conversion-timeout";

export abstract class SensorError extends Error {
  abstract readonly code: SensorFaultCode;
}

/** Nothing answered the reset pulse: no device on the bus, or the wire is open. */
export class NoPresenceError extends SensorError {
  override readonly name = "NoPresenceError";
  readonly code = "no-presence";
  constructor(message = "no presence pulse") {
    super(message);
  }
}

/** Devices answer, but none with the wanted ROM or family. */
export class SensorNotFoundError extends SensorError {
  override readonly name = "SensorNotFoundError";
  readonly code = "not-found";
  constructor(message = "no DS18B20 on the bus") {
    super(message);
  }
}

/** A ROM code or a scratchpad failed its CRC-8 (after the retry the driver allows). */
export class CrcError extends SensorError {
  override readonly name = "CrcError";
  readonly code = "crc-mismatch";
  /** the bytes as received, for the diagnostic */
  readonly bytes: Uint8Array;
  constructor(what: string, bytes: Uint8Array) {
    super(`${what} crc mismatch`);
    this.bytes = bytes;
  }
}

/** The scratchpad holds the 85 degC power-on value and no conversion completed since. */
export class PowerOnValueError extends SensorError {
  override readonly name = "PowerOnValueError";
  readonly code = "power-on-value";
  constructor(message = "85 C power-on value, no conversion completed") {
    super(message);
  }
}

/** The device answered earlier in the transaction and stopped answering. */
export class DeviceVanishedError extends SensorError {
  override readonly name = "DeviceVanishedError";
  readonly code = "device-vanished";
  constructor(message = "device vanished mid-read") {
    super(message);
  }
}

/** The data line stays low: a short to ground or a device stuck mid-slot. */
export class BusStuckError extends SensorError {
  override readonly name = "BusStuckError";
  readonly code = "bus-stuck";
  constructor(message = "bus stuck low") {
    super(message);
  }
}

/** Convert T still reports busy well past the datasheet maximum (externally powered devices only). */
export class ConversionTimeoutError extends SensorError {
  override readonly name = "ConversionTimeoutError";
  readonly code = "conversion-timeout";
  constructor(message = "conversion did not complete in time") {
    super(message);
  }
}
