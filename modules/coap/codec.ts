/*
 * The CoAP message format: bytes <-> CoapMessage.
 *
 * RFC 7252 sec 3 (header, token, options, payload marker), 3.1 (option delta and
 * length with the 13 / 14 extended forms, 15 reserved), 4.1 (an Empty message is
 * the header alone). `decode` throws nothing but `CoapFormatError`; `encode`
 * throws RangeError on a message that cannot be put on the wire.
 */
import { MAX_OPTION_LENGTH, MAX_OPTION_NUMBER, MAX_TOKEN_LENGTH, Type } from "./numbers";

export interface CoapOption {
  number: number;
  value: Uint8Array;
}

export interface CoapMessage {
  type: Type;
  code: number;
  /** Message ID, 16 bits */
  mid: number;
  /** 0 to 8 bytes */
  token: Uint8Array;
  /** in wire order (ascending number; repeated options keep their relative order) */
  options: CoapOption[];
  payload: Uint8Array;
}

export type FormatErrorReason =
  | "short-header" // fewer than 4 bytes
  | "bad-version" // Ver is not 1
  | "bad-token-length" // TKL 9..15
  | "truncated-token"
  | "empty-not-empty" // Code 0.00 with a token, options or payload
  | "reserved-nibble" // option delta or length 15 (other than the 0xFF marker)
  | "truncated-option"
  | "option-number-overflow" // the deltas add up past 65535
  | "empty-payload"; // a payload marker followed by nothing

/**
 * A malformed datagram. When the 4-byte header could be read (version 1), `type`
 * and `mid` are set so the message layer can reject a CON with a matching RST.
 */
export class CoapFormatError extends Error {
  /** a class field, not an assignment: the SDK freezes Error.prototype, so `this.name = ...` throws there */
  override readonly name = "CoapFormatError";
  readonly reason: FormatErrorReason;
  readonly type?: Type;
  readonly mid?: number;
  constructor(reason: FormatErrorReason, type?: Type, mid?: number) {
    super(`CoAP format error: ${reason}`);
    this.reason = reason;
    this.type = type;
    this.mid = mid;
  }
}

const EMPTY = new Uint8Array(0);
const PAYLOAD_MARKER = 0xff;
const VERSION = 1;
const HEADER_LENGTH = 4;

export function decode(datagram: Uint8Array): CoapMessage {
  const length = datagram.length;
  if (length < HEADER_LENGTH) throw new CoapFormatError("short-header");
  // one copy, then views into it: the caller may reuse its receive buffer
  const data = datagram.slice();
  const first = data[0];
  if (first >> 6 !== VERSION) throw new CoapFormatError("bad-version");
  const type = ((first >> 4) & 3) as Type;
  const tkl = first & 0x0f;
  const code = data[1];
  const mid = (data[2] << 8) | data[3];

  if (tkl > MAX_TOKEN_LENGTH) throw new CoapFormatError("bad-token-length", type, mid);
  if (HEADER_LENGTH + tkl > length) throw new CoapFormatError("truncated-token", type, mid);
  if (code === 0 && length !== HEADER_LENGTH) throw new CoapFormatError("empty-not-empty", type, mid);
  const token = data.subarray(HEADER_LENGTH, HEADER_LENGTH + tkl);

  const options: CoapOption[] = [];
  let payload = EMPTY;
  let number = 0;
  let pos = HEADER_LENGTH + tkl;
  while (pos < length) {
    const byte = data[pos++];
    if (byte === PAYLOAD_MARKER) {
      if (pos === length) throw new CoapFormatError("empty-payload", type, mid);
      payload = data.subarray(pos);
      break;
    }
    let delta = byte >> 4;
    let size = byte & 0x0f;
    if (delta === 15 || size === 15) throw new CoapFormatError("reserved-nibble", type, mid);
    // extended delta bytes come before extended length bytes (sec 3.1)
    if (delta === 13) {
      if (pos + 1 > length) throw new CoapFormatError("truncated-option", type, mid);
      delta = 13 + data[pos++];
    } else if (delta === 14) {
      if (pos + 2 > length) throw new CoapFormatError("truncated-option", type, mid);
      delta = 269 + ((data[pos] << 8) | data[pos + 1]);
      pos += 2;
    }
    if (size === 13) {
      if (pos + 1 > length) throw new CoapFormatError("truncated-option", type, mid);
      size = 13 + data[pos++];
    } else if (size === 14) {
      if (pos + 2 > length) throw new CoapFormatError("truncated-option", type, mid);
      size = 269 + ((data[pos] << 8) | data[pos + 1]);
      pos += 2;
    }
    number += delta;
    if (number > MAX_OPTION_NUMBER) throw new CoapFormatError("option-number-overflow", type, mid);
    if (pos + size > length) throw new CoapFormatError("truncated-option", type, mid);
    options.push({ number, value: data.subarray(pos, pos + size) });
    pos += size;
  }
  return { type, code, mid, token, options, payload };
}

/** Bytes a delta or length needs beyond its nibble. */
function extension(value: number): number {
  return value < 13 ? 0 : value < 269 ? 1 : 2;
}

function nibble(value: number): number {
  return value < 13 ? value : value < 269 ? 13 : 14;
}

function writeExtension(out: Uint8Array, pos: number, value: number): number {
  if (value >= 269) {
    const v = value - 269;
    out[pos++] = v >> 8;
    out[pos++] = v & 0xff;
  } else if (value >= 13) {
    out[pos++] = value - 13;
  }
  return pos;
}

function checkRange(what: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`${what} out of range: ${value}`);
}

export function encode(message: CoapMessage): Uint8Array {
  return encodeFields(message.type, message.code, message.mid, message.token, message.options, message.payload);
}

/** encode() from the fields themselves: no message object to build (the message layer sends this way). */
export function encodeFields(type: Type, code: number, mid: number, token: Uint8Array, messageOptions: readonly CoapOption[], payload: Uint8Array): Uint8Array {
  checkHeader(type, code, mid, token);
  if (code === 0 && (token.length || messageOptions.length || payload.length))
    throw new RangeError("an Empty message has no token, options or payload");
  const options = sortedOptions(messageOptions);
  const out = new Uint8Array(HEADER_LENGTH + token.length + bodyLength(options, payload));
  writeBody(out, writeHeader(out, type, code, mid, token), options, payload);
  return out;
}

/**
 * The options and payload of a message, encoded once for many messages that differ
 * only in type, Message ID and token (the notifications of one resource state).
 */
export function encodeBody(options: readonly CoapOption[], payload: Uint8Array): Uint8Array {
  const sorted = sortedOptions(options);
  const out = new Uint8Array(bodyLength(sorted, payload));
  writeBody(out, 0, sorted, payload);
  return out;
}

/** A message from its header fields and a body from encodeBody(); written inline, as it runs once per answer. */
export function encodeWithBody(type: Type, code: number, mid: number, token: Uint8Array, body: Uint8Array): Uint8Array {
  const tkl = token.length;
  if ((type & 3) !== type || (code & 0xff) !== code || (mid & 0xffff) !== mid || tkl > MAX_TOKEN_LENGTH) checkHeader(type, code, mid, token);
  if (code === 0) throw new RangeError("an Empty message has no token, options or payload");
  const out = new Uint8Array(HEADER_LENGTH + tkl + body.length);
  out[0] = (VERSION << 6) | (type << 4) | tkl;
  out[1] = code;
  out[2] = mid >> 8;
  out[3] = mid & 0xff;
  if (tkl > 0) out.set(token, HEADER_LENGTH);
  out.set(body, HEADER_LENGTH + tkl);
  return out;
}

/**
 * A copy of `template` (from encodeWithBody) with another Message ID and a token of
 * the same length (not checked): the same message to many peers is encoded once per
 * token length, then only stamped per peer.
 */
export function restamp(template: Uint8Array, mid: number, token: Uint8Array): Uint8Array {
  const out = new Uint8Array(template.length);
  out.set(template);
  out[2] = mid >> 8;
  out[3] = mid & 0xff;
  if (token.length > 0) out.set(token, HEADER_LENGTH);
  return out;
}

/**
 * The piggybacked ACK to `request` with `code` and a body from encodeBody() (RFC 7252
 * sec 5.2.1): the request's Message ID and token copied as they came, not read out
 * and written again. `request` must have a valid header and token (quick.ts found it so).
 */
export function encodeAckTo(request: Uint8Array, code: number, body: Uint8Array): Uint8Array {
  const tkl = request[0] & 0x0f;
  const length = HEADER_LENGTH + tkl + body.length;
  let out: Uint8Array;
  // one copy of the header and token, with whatever follows them up to `length`: the body then overwrites all of that
  if (request.length >= length) out = request.slice(0, length);
  else {
    out = new Uint8Array(length);
    out.set(request);
  }
  out[0] = (VERSION << 6) | (Type.ACK << 4) | tkl;
  out[1] = code;
  out.set(body, HEADER_LENGTH + tkl);
  return out;
}

function checkHeader(type: number, code: number, mid: number, token: Uint8Array): void {
  // one test for the usual case (bitwise: a fraction, NaN or a negative number fails it), the messages only when it fails
  if ((type & 3) === type && (code & 0xff) === code && (mid & 0xffff) === mid && token.length <= MAX_TOKEN_LENGTH) return;
  checkRange("type", type, 3);
  checkRange("code", code, 0xff);
  checkRange("message id", mid, 0xffff);
  checkRange("token length", token.length, MAX_TOKEN_LENGTH);
}

/** Sorted by number, stable: repeated options keep the order the caller gave them; checked. */
function sortedOptions(options: readonly CoapOption[]): readonly CoapOption[] {
  const sorted = options.length > 1 ? options.slice().sort((a, b) => a.number - b.number) : options;
  for (let i = 0; i < sorted.length; i++) {
    const { number } = sorted[i];
    if ((number & MAX_OPTION_NUMBER) === number && sorted[i].value.length <= MAX_OPTION_LENGTH) continue;
    checkRange("option number", number, MAX_OPTION_NUMBER);
    checkRange("option length", sorted[i].value.length, MAX_OPTION_LENGTH);
  }
  return sorted;
}

function bodyLength(options: readonly CoapOption[], payload: Uint8Array): number {
  let size = 0;
  let previous = 0;
  for (let i = 0; i < options.length; i++) {
    const option = options[i];
    size += 1 + extension(option.number - previous) + extension(option.value.length) + option.value.length;
    previous = option.number;
  }
  return payload.length ? size + 1 + payload.length : size;
}

/** Writes the header and token; returns where the body starts. */
function writeHeader(out: Uint8Array, type: number, code: number, mid: number, token: Uint8Array): number {
  out[0] = (VERSION << 6) | (type << 4) | token.length;
  out[1] = code;
  out[2] = mid >> 8;
  out[3] = mid & 0xff;
  out.set(token, HEADER_LENGTH);
  return HEADER_LENGTH + token.length;
}

function writeBody(out: Uint8Array, pos: number, options: readonly CoapOption[], payload: Uint8Array): void {
  let previous = 0;
  for (let i = 0; i < options.length; i++) {
    const option = options[i];
    const delta = option.number - previous;
    const length = option.value.length;
    out[pos++] = (nibble(delta) << 4) | nibble(length);
    pos = writeExtension(out, pos, delta);
    pos = writeExtension(out, pos, length);
    out.set(option.value, pos);
    pos += length;
    previous = option.number;
  }
  if (payload.length) {
    out[pos++] = PAYLOAD_MARKER;
    out.set(payload, pos);
  }
}

/** An Empty message (sec 4.1): the ACK of a separate response, a RST, a ping. */
export function emptyMessage(type: Type, mid: number): CoapMessage {
  return { type, code: 0, mid, token: EMPTY, options: [], payload: EMPTY };
}
