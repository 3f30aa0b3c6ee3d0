/*
 * Request checking: what the server refuses before any routing, and for what it
 * accepts, the request's options parsed once (path, query, Block2, Observe,
 * Accept, Content-Format), so no later step re-reads or second-guesses them.
 *
 * RFC 7252 sec 5.4.1 (an unrecognised critical option: 4.02; an unusable elective
 * one is ignored), 5.4.3 / 5.4.5 (a bad length or a repeated non-repeatable option
 * counts as unrecognised), 5.7.2 (Proxy-Uri / Proxy-Scheme: 5.05), 6.4 ("." and ".."
 * segments: 4.00), 5.9.2.9 (4.13 with Size1); RFC 7959 sec 2.2 (Block2 SZX 7 is
 * reserved), 2.9.3 (a payload over the limit without Block1: 4.13 with Size1). Block1,
 * Size1 and Request-Tag (RFC 9175 sec 3) are read for the server's uploads (block1.ts).
 */
import type { CoapMessage, CoapOption } from "./codec";
import { Code, Option, RESERVED_BLOCK_SZX, isCritical, type Limits } from "./numbers";
import { OPTION_FORMATS, decodeBlock, decodeUint, encodeUint, optionName, type BlockValue } from "./options";
import { utf8Decode } from "./utf8";

/** Request options the server acts on; any other critical option gets 4.02. */
const UNDERSTOOD: ReadonlySet<number> = new Set<number>([
  Option.URI_HOST, // one host: any value names it
  Option.URI_PORT,
  Option.URI_PATH,
  Option.URI_QUERY,
  Option.ACCEPT,
  Option.CONTENT_FORMAT,
  Option.OBSERVE,
  Option.BLOCK2,
  Option.BLOCK1,
  Option.SIZE2,
  Option.SIZE1,
  Option.PROXY_URI, // understood in order to answer 5.05
  Option.PROXY_SCHEME,
  Option.REQUEST_TAG,
]);

/** Why a request is answered without running a handler. */
export interface Refusal {
  code: number;
  diagnostic: string;
  options?: CoapOption[];
}

/** A request that passed the checks, its options read once. */
export interface CheckedRequest {
  /** Uri-Path segments, and the same joined with "/" (the resource's key) */
  path: string[];
  key: string;
  query: readonly string[];
  block2?: BlockValue;
  /** Observe as sent (the server applies it to GETs of observable resources only) */
  observe?: number;
  accept?: number;
  contentFormat?: number;
  /** Block1 (RFC 7959), Size1, and the Request-Tag values as one string ("" when none): uploads only */
  block1?: BlockValue;
  size1?: number;
  requestTag?: string;
}

/** The refusal of a request; Size1 tells a client how much payload the server takes. */
function refuse(code: number, diagnostic: string, options?: CoapOption[]): Refusal {
  return { code, diagnostic, options };
}

/** What checkRequest() returned is a refusal. */
export function isRefusal(checked: CheckedRequest | Refusal): checked is Refusal {
  return "diagnostic" in checked;
}

/** Uri-Path's longest value (RFC 7252 sec 5.10) */
const MAX_PATH_SEGMENT = 255;

/** The query of most requests: none (shared, frozen). */
const NO_QUERY: readonly string[] = Object.freeze([]);

function byNumber(a: CoapOption, b: CoapOption): number {
  return a.number - b.number;
}

/**
 * One pass over the options (decode() gives them in number order; anything else is
 * sorted first, stably), then the refusals in their order of precedence: a bad
 * critical option (4.02), proxying (5.05), Uri-Path and Uri-Query (4.00), Block2
 * (4.00), Block1 and the payload size (4.13).
 */
export function checkRequest(message: CoapMessage, limits: Limits): CheckedRequest | Refusal {
  let options = message.options;
  for (let i = 1; i < options.length; i++) {
    if (options[i].number < options[i - 1].number) {
      options = options.slice().sort(byNumber);
      break;
    }
  }
  const path: string[] = [];
  let query: string[] | undefined;
  let pathText = true;
  let queryText = true;
  let proxy = false;
  let block1: BlockValue | undefined;
  let block2: BlockValue | undefined;
  let observe: number | undefined;
  let accept: number | undefined;
  let contentFormat: number | undefined;
  let size1: number | undefined;
  let requestTag: string | undefined;
  let previous = -1;
  for (let i = 0; i < options.length; i++) {
    const option = options[i];
    const number = option.number;
    const repeated = number === previous;
    previous = number;
    if (number === Option.URI_PATH && option.value.length <= MAX_PATH_SEGMENT) {
      // the option every request has, repeatable: no table to consult (a longer one is a bad critical option, below)
      const text = utf8Decode(option.value);
      if (text === undefined) pathText = false;
      else path.push(text);
      continue;
    }
    const format = OPTION_FORMATS.get(number);
    const length = option.value.length;
    if (format === undefined || !UNDERSTOOD.has(number) || length < format.minLength || length > format.maxLength || (repeated && !format.repeatable)) {
      // a malformed elective option counts as absent (sec 5.4.3)
      if (isCritical(number)) return refuse(Code.BAD_OPTION, `bad option ${optionName(number)}`);
      continue;
    }
    switch (number) {
      case Option.URI_QUERY: {
        const text = utf8Decode(option.value);
        if (text === undefined) queryText = false;
        else (query ??= []).push(text);
        break;
      }
      case Option.PROXY_URI:
      case Option.PROXY_SCHEME:
        proxy = true;
        break;
      case Option.BLOCK1:
        block1 = decodeBlock(option.value);
        break;
      case Option.BLOCK2:
        block2 = decodeBlock(option.value);
        break;
      case Option.OBSERVE:
        observe = decodeUint(option.value);
        break;
      case Option.ACCEPT:
        accept = decodeUint(option.value);
        break;
      case Option.CONTENT_FORMAT:
        contentFormat = decodeUint(option.value);
        break;
      case Option.SIZE1:
        size1 = decodeUint(option.value);
        break;
      case Option.REQUEST_TAG:
        requestTag = (requestTag === undefined ? "" : `${requestTag},`) + hex(option.value);
        break;
    }
  }
  if (proxy) return refuse(Code.PROXYING_NOT_SUPPORTED, "no proxy");
  if (!pathText) return refuse(Code.BAD_REQUEST, "Uri-Path is not UTF-8");
  for (let i = 0; i < path.length; i++) if (path[i] === "." || path[i] === "..") return refuse(Code.BAD_REQUEST, "dot segment in Uri-Path");
  if (!queryText) return refuse(Code.BAD_REQUEST, "Uri-Query is not UTF-8");
  if (block2 && block2.szx === RESERVED_BLOCK_SZX) return refuse(Code.BAD_REQUEST, "Block2 SZX 7");
  if (block1 && block1.szx === RESERVED_BLOCK_SZX) return refuse(Code.BAD_REQUEST, "Block1 SZX 7");
  if (message.payload.length > limits.maxRequestPayload && block1 === undefined) {
    return refuse(Code.REQUEST_ENTITY_TOO_LARGE, "payload too large", [{ number: Option.SIZE1, value: encodeUint(limits.maxRequestPayload) }]);
  }
  const checked: CheckedRequest = { path, key: path.length === 1 ? path[0] : path.join("/"), query: query ?? NO_QUERY, block2, observe, accept, contentFormat };
  if (block1 !== undefined) {
    checked.block1 = block1;
    checked.size1 = size1;
    checked.requestTag = requestTag ?? "";
  }
  return checked;
}

function hex(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i++) text += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16);
  return text;
}
