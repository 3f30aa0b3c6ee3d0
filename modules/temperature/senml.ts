/*
 * SenML JSON of temperature readings (application/senml+json, content-format 110):
 * the telemetry packs and the /temperature representation.
 *
 * RFC 8428 sec 4.1 (base name "bn" prepended to each "n"), 4.5.3 (time: a value
 * below 2^28 is relative to the time the pack is read, negative = seconds in the
 * past, absent = now), 5 (JSON representation), 12.1 ("Cel"); RFC 9039 (device
 * URNs: urn:dev:mac:..., urn:dev:ow:... for a 1-Wire device).
 *
 * Form, and why:
 *   [{"bn":"urn:dev:mac:0024befffe804ff1:","n":"temperature","u":"Cel","v":21.4375,"t":-120},
 *    {"n":"temperature","u":"Cel","v":21.5,"t":-60},
 *    {"n":"temperature","u":"Cel","v":21.5625}]
 * - relative time: the node has no wall clock it can trust (no RTC, SNTP may be
 *   missing), but it knows how old each queued reading is; RFC 8428 resolves
 *   "t" = -age against the time the collector receives the pack. The newest
 *   reading of a pack taken "now" carries no "t".
 * - bn once per pack, n/u/v on each record: a record resolves to
 *   "urn:dev:...:temperature" in Cel, whatever the receiver does with base values.
 * - v is the exact DS18B20 value (a multiple of 1/16): JSON prints it exactly.
 * Built by hand (no JSON.stringify of objects) so the field order is fixed and
 * nothing on the device path makes property names out of data.
 */

export const SENML_NAME = "temperature";
export const SENML_UNIT = "Cel";

export interface TimedReading {
  celsius: number;
  /** the clock (ms) the reading was taken at */
  at: number;
}

/** A JSON string literal; the base name comes from configuration, not the network. */
function jsonString(text: string): string {
  return JSON.stringify(text);
}

function jsonNumber(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
  return String(value === 0 ? 0 : value); // no "-0"
}

/** One record; the first of a pack carries the base name. */
export function formatRecord(reading: TimedReading, now: number, baseName?: string): string {
  const age = Math.max(0, Math.round(now - reading.at));
  let out = "{";
  if (baseName !== undefined) out += `"bn":${jsonString(baseName)},`;
  out += `"n":"${SENML_NAME}","u":"${SENML_UNIT}","v":${jsonNumber(reading.celsius)}`;
  if (age > 0) out += `,"t":${jsonNumber(-age / 1000)}`;
  return out + "}";
}

/** The pack for `readings` (oldest first) as sent at `now`. */
export function formatPack(readings: readonly TimedReading[], now: number, baseName: string): string {
  const records: string[] = [];
  for (let i = 0; i < readings.length; i++) records.push(formatRecord(readings[i], now, i === 0 ? baseName : undefined));
  return `[${records.join(",")}]`;
}

/** "urn:dev:mac:0024befffe804ff1:" from a device name; a name that is already a URN is kept. */
export function baseNameFor(name: string): string {
  const urn = name.startsWith("urn:") ? name : `urn:dev:ops:${name}`;
  return urn.endsWith(":") ? urn : `${urn}:`;
}
