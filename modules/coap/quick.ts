/*
 * The common GET recognised in one pass over its bytes: a CON or NON GET whose only
 * options are short ASCII Uri-Path segments and that has no payload ("GET /light").
 * It becomes a message and the checked request at once, instead of decode() making
 * option objects and checkRequest() reading them again. Anything else, including
 * every malformed datagram, is not recognised and takes the general path, which
 * decides on it as before: this file refuses nothing and answers nothing itself.
 * host-tests/coap/quick.test.ts holds it to what decode() and checkRequest() say.
 *
 * RFC 7252 sec 3 (header, token, option delta and length nibbles, payload marker),
 * 5.10.1 (Uri-Path), 6.4 ("." and ".." segments go to the general path, which
 * refuses them).
 */
import type { CheckedRequest } from "./check";
import type { CoapMessage, CoapOption } from "./codec";
import type { Peer } from "./exchange";
import type { CoapRequest } from "./resource";
import { Code, Option, Type } from "./numbers";
import { utf8Encode } from "./utf8";

const EMPTY = new Uint8Array(0);
const NO_QUERY: readonly string[] = Object.freeze([]);
/** first byte: version 1, CON or NON, any token length up to 8 */
const VERSION_1 = 0x40;
/** a Uri-Path option needing no extended delta or length: delta and length below 13 */
const SHORT = 13;

/**
 * A recognised GET: the message, its checked request and the request its handler gets,
 * in one object (the server sets `peer` before the handler runs). Its path is strings
 * of its own; its options, only Uri-Path segments of ASCII, are made again from the path
 * if a handler asks. Its token is copied out of the datagram the first time it is read
 * (keep()), and not at all for the GET answered on the spot (its ACK copies the token
 * with the header): until then it holds the datagram, which the server's caller hands
 * over and does not change (server.ts receive()).
 *
 * Its fields are assigned, not declared with initialisers or as parameter properties:
 * in XS that makes one of these in about two thirds of the instructions.
 */
export class QuickGet implements CoapMessage, CheckedRequest, CoapRequest {
  declare readonly type: Type;
  declare readonly mid: number;
  declare readonly path: string[];
  declare readonly key: string;
  /** who asked: set by the server before the handler runs */
  declare peer: Peer;
  /** the datagram, until keep() copied the token out of it; then undefined */
  declare private datagram: Uint8Array | undefined;
  declare private copied: Uint8Array;

  constructor(type: Type, mid: number, datagram: Uint8Array, path: string[], key: string) {
    this.type = type;
    this.mid = mid;
    this.datagram = datagram;
    this.path = path;
    this.key = key;
  }

  get token(): Uint8Array {
    return this.datagram === undefined ? this.copied : this.keep();
  }

  /** Copies the token out of the datagram (once) and lets the datagram go: before anything keeps this request past the call that received it. */
  keep(): Uint8Array {
    const datagram = this.datagram;
    if (datagram === undefined) return this.copied;
    const tkl = datagram[0] & 0x0f;
    this.copied = tkl > 0 ? datagram.slice(4, 4 + tkl) : EMPTY;
    this.datagram = undefined;
    return this.copied;
  }

  get method(): "GET" {
    return "GET";
  }

  get notification(): boolean {
    return false;
  }

  text(): string {
    return "";
  }

  get code(): number {
    return Code.GET;
  }

  get payload(): Uint8Array {
    return EMPTY;
  }

  /** the Uri-Path options as received (the same bytes: ASCII segments encode as they came) */
  get options(): CoapOption[] {
    const options: CoapOption[] = [];
    for (let i = 0; i < this.path.length; i++) options.push({ number: Option.URI_PATH, value: utf8Encode(this.path[i]) });
    return options;
  }

  get query(): readonly string[] {
    return NO_QUERY;
  }

  get block2(): undefined {
    return undefined;
  }

  get observe(): undefined {
    return undefined;
  }

  get accept(): undefined {
    return undefined;
  }

  get contentFormat(): undefined {
    return undefined;
  }
}

/** The datagram as a QuickGet, or undefined when it is anything but the common GET. */
export function recogniseGet(datagram: Uint8Array): QuickGet | undefined {
  const length = datagram.length;
  if (length < 4 || datagram[1] !== Code.GET) return undefined;
  const first = datagram[0];
  const tkl = first & 0x0f;
  if ((first & 0xe0) !== VERSION_1 || tkl > 8) return undefined; // version 1, CON (0x40) or NON (0x50)
  let pos = 4 + tkl;
  if (pos > length) return undefined;
  const buffer = datagram.buffer as ArrayBuffer;
  const offset = datagram.byteOffset;
  let number = 0;
  // the path as its one segment (the usual case, no array grown) or, from the second on, an array
  let only: string | undefined;
  let segments: string[] | undefined;
  while (pos < length) {
    const byte = datagram[pos++];
    const size = byte & 0x0f;
    number += byte >> 4;
    if (number !== Option.URI_PATH || size >= SHORT || pos + size > length) return undefined;
    // ASCII without NUL: one native call makes the string, and its length tells (a NUL ends an XS string, a
    // multi-byte UTF-8 sequence makes one character of two or more bytes, invalid UTF-8 throws)
    let segment: string;
    try {
      segment = String.fromArrayBuffer(buffer.slice(offset + pos, offset + pos + size));
    } catch {
      return undefined;
    }
    if (segment.length !== size || (size <= 2 && (segment === "." || segment === ".."))) return undefined;
    if (only === undefined) only = segment;
    else if (segments === undefined) segments = [only, segment];
    else segments.push(segment);
    pos += size;
  }
  const path = segments ?? (only === undefined ? [] : [only]);
  const key = segments === undefined ? (only ?? "") : segments.join("/");
  return new QuickGet(((first >> 4) & 3) as Type, (datagram[2] << 8) | datagram[3], datagram, path, key);
}
