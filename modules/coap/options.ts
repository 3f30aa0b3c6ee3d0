/*
 * Option values: uint / string / opaque encodings and typed accessors for the
 * options the server understands.
 *
 * RFC 7252 sec 3.2 (uint: minimal big-endian, 0 is the empty value; string:
 * UTF-8), 5.4 (repeatable and critical options, length bounds), 5.10 (the option
 * table), RFC 7641 sec 2 (Observe), RFC 7959 sec 2.2 (Block NUM/M/SZX).
 *
 * Accessors take the message's option list; setters change it in place.
 */
import type { CoapOption } from "./codec";
import { MAX_BLOCK_SZX, MIN_BLOCK_SZX, Option } from "./numbers";
import { utf8Decode, utf8Encode } from "./utf8";

const EMPTY = new Uint8Array(0);

/** Minimal big-endian encoding of a non-negative integer below 2^32 (0 -> no bytes). */
export function encodeUint(value: number): Uint8Array {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`uint out of range: ${value}`);
  let length = 0;
  for (let v = value; v > 0; v = Math.floor(v / 256)) length++;
  const out = new Uint8Array(length);
  for (let i = length - 1, v = value; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v % 256;
  return out;
}

/** Reads a uint of any length; callers bound the length first (see OPTION_FORMATS). */
export function decodeUint(bytes: Uint8Array): number {
  let value = 0;
  for (let i = 0; i < bytes.length; i++) value = value * 256 + bytes[i];
  return value;
}

export function getOption(options: readonly CoapOption[], number: number): Uint8Array | undefined {
  for (const option of options) if (option.number === number) return option.value;
  return undefined;
}

export function getOptions(options: readonly CoapOption[], number: number): Uint8Array[] {
  const values: Uint8Array[] = [];
  for (const option of options) if (option.number === number) values.push(option.value);
  return values;
}

export function hasOption(options: readonly CoapOption[], number: number): boolean {
  return getOption(options, number) !== undefined;
}

export function removeOption(options: CoapOption[], number: number): void {
  for (let i = options.length - 1; i >= 0; i--) if (options[i].number === number) options.splice(i, 1);
}

/** Replaces every occurrence of the option by the given value(s). */
export function setOption(options: CoapOption[], number: number, value: Uint8Array | readonly Uint8Array[]): void {
  removeOption(options, number);
  const values = value instanceof Uint8Array ? [value] : value;
  for (const v of values) options.push({ number, value: v });
}

export function getUint(options: readonly CoapOption[], number: number): number | undefined {
  const value = getOption(options, number);
  return value === undefined ? undefined : decodeUint(value);
}

export function setUint(options: CoapOption[], number: number, value: number): void {
  setOption(options, number, encodeUint(value));
}

/** Every occurrence as a string; undefined when one is not valid UTF-8. */
export function getStrings(options: readonly CoapOption[], number: number): string[] | undefined {
  const out: string[] = [];
  for (const value of getOptions(options, number)) {
    const text = utf8Decode(value);
    if (text === undefined) return undefined;
    out.push(text);
  }
  return out;
}

export function setStrings(options: CoapOption[], number: number, values: readonly string[]): void {
  setOption(options, number, values.map(utf8Encode));
}

/** Uri-Path segments; undefined when one is not valid UTF-8. */
export function getUriPath(options: readonly CoapOption[]): string[] | undefined {
  return getStrings(options, Option.URI_PATH);
}

/** Accepts "a/b", "/a/b" or ["a", "b"]. */
export function setUriPath(options: CoapOption[], path: string | readonly string[]): void {
  setStrings(options, Option.URI_PATH, typeof path === "string" ? splitPath(path) : path);
}

export function splitPath(path: string): string[] {
  return path.split("/").filter((segment) => segment.length > 0);
}

/** Uri-Query arguments ("rt=light"); undefined when one is not valid UTF-8. */
export function getUriQuery(options: readonly CoapOption[]): string[] | undefined {
  return getStrings(options, Option.URI_QUERY);
}

export function setUriQuery(options: CoapOption[], query: readonly string[]): void {
  setStrings(options, Option.URI_QUERY, query);
}

export function getContentFormat(options: readonly CoapOption[]): number | undefined {
  return getUint(options, Option.CONTENT_FORMAT);
}

export function setContentFormat(options: CoapOption[], format: number): void {
  setUint(options, Option.CONTENT_FORMAT, format);
}

export function getAccept(options: readonly CoapOption[]): number | undefined {
  return getUint(options, Option.ACCEPT);
}

export function setAccept(options: CoapOption[], format: number): void {
  setUint(options, Option.ACCEPT, format);
}

/** Observe: 0 register / 1 deregister in a request, a 24-bit sequence number in a notification. */
export function getObserve(options: readonly CoapOption[]): number | undefined {
  return getUint(options, Option.OBSERVE);
}

export function setObserve(options: CoapOption[], value: number): void {
  setUint(options, Option.OBSERVE, value & 0xffffff);
}

export function getETag(options: readonly CoapOption[]): Uint8Array | undefined {
  return getOption(options, Option.ETAG);
}

export function setETag(options: CoapOption[], etag: Uint8Array): void {
  if (etag.length < 1 || etag.length > 8) throw new RangeError("an ETag has 1 to 8 bytes");
  setOption(options, Option.ETAG, etag);
}

/** Max-Age in seconds; absent means 60 (RFC 7252 sec 5.10.5). */
export function getMaxAge(options: readonly CoapOption[]): number | undefined {
  return getUint(options, Option.MAX_AGE);
}

export function setMaxAge(options: CoapOption[], seconds: number): void {
  setUint(options, Option.MAX_AGE, seconds);
}

/** A Block1/Block2 value (RFC 7959 sec 2.2): block number, more flag, size exponent. */
export interface BlockValue {
  num: number;
  more: boolean;
  szx: number;
}

export const MAX_BLOCK_NUM = 0xfffff;

export function blockSize(szx: number): number {
  return 16 << szx;
}

/** The SZX of the largest supported block size not above `size` (16..1024). */
export function sizeToSzx(size: number): number {
  let szx = MIN_BLOCK_SZX;
  while (szx < MAX_BLOCK_SZX && blockSize(szx + 1) <= size) szx++;
  return szx;
}

export function encodeBlock(block: BlockValue): Uint8Array {
  if (!Number.isInteger(block.num) || block.num < 0 || block.num > MAX_BLOCK_NUM) throw new RangeError(`block number out of range: ${block.num}`);
  if (!Number.isInteger(block.szx) || block.szx < 0 || block.szx > 7) throw new RangeError(`SZX out of range: ${block.szx}`);
  return encodeUint(block.num * 16 + (block.more ? 8 : 0) + block.szx);
}

/** Decodes a 0-3 byte value; SZX 7 is returned as is (the caller answers 4.00). */
export function decodeBlock(bytes: Uint8Array): BlockValue {
  const value = decodeUint(bytes);
  return { num: Math.floor(value / 16), more: (value & 8) !== 0, szx: value & 7 };
}

export function getBlock2(options: readonly CoapOption[]): BlockValue | undefined {
  const value = getOption(options, Option.BLOCK2);
  return value === undefined ? undefined : decodeBlock(value);
}

export function setBlock2(options: CoapOption[], block: BlockValue): void {
  setOption(options, Option.BLOCK2, encodeBlock(block));
}

export function getBlock1(options: readonly CoapOption[]): BlockValue | undefined {
  const value = getOption(options, Option.BLOCK1);
  return value === undefined ? undefined : decodeBlock(value);
}

/** Value format and bounds of an option (RFC 7252 sec 5.10 table, RFC 7641, RFC 7959, RFC 7967). */
export interface OptionFormat {
  name: string;
  repeatable: boolean;
  minLength: number;
  maxLength: number;
}

function format(name: string, minLength: number, maxLength: number, repeatable = false): OptionFormat {
  return { name, repeatable, minLength, maxLength };
}

export const OPTION_FORMATS: ReadonlyMap<number, OptionFormat> = new Map([
  [Option.IF_MATCH, format("If-Match", 0, 8, true)],
  [Option.URI_HOST, format("Uri-Host", 1, 255)],
  [Option.ETAG, format("ETag", 1, 8, true)],
  [Option.IF_NONE_MATCH, format("If-None-Match", 0, 0)],
  [Option.OBSERVE, format("Observe", 0, 3)],
  [Option.URI_PORT, format("Uri-Port", 0, 2)],
  [Option.LOCATION_PATH, format("Location-Path", 0, 255, true)],
  [Option.URI_PATH, format("Uri-Path", 0, 255, true)],
  [Option.CONTENT_FORMAT, format("Content-Format", 0, 2)],
  [Option.MAX_AGE, format("Max-Age", 0, 4)],
  [Option.URI_QUERY, format("Uri-Query", 0, 255, true)],
  [Option.ACCEPT, format("Accept", 0, 2)],
  [Option.LOCATION_QUERY, format("Location-Query", 0, 255, true)],
  [Option.BLOCK2, format("Block2", 0, 3)],
  [Option.BLOCK1, format("Block1", 0, 3)],
  [Option.SIZE2, format("Size2", 0, 4)],
  [Option.PROXY_URI, format("Proxy-Uri", 1, 1034)],
  [Option.PROXY_SCHEME, format("Proxy-Scheme", 1, 255)],
  [Option.SIZE1, format("Size1", 0, 4)],
  [Option.NO_RESPONSE, format("No-Response", 0, 1)],
  [Option.REQUEST_TAG, format("Request-Tag", 0, 8, true)],
]);

export function optionName(number: number): string {
  return OPTION_FORMATS.get(number)?.name ?? `Option ${number}`;
}

export { EMPTY as EMPTY_BYTES };
