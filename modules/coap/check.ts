/*
 * Request checking: what the server refuses before any routing, and for what it
 * accepts, the request's options parsed once (path, query, Block2, Observe,
 * Accept, Content-Format), so no later step re-reads or second-guesses them.
 *
 * RFC 7252 sec 5.4.1 (an unrecognised critical option: 4.02; an unusable elective
 * one is ignored), 5.4.3 / 5.4.5 (a bad length or a repeated non-repeatable option
 * counts as unrecognised), 5.7.2 (Proxy-Uri / Proxy-Scheme: 5.05), 6.4 ("." and ".."
 * segments: 4.00), 5.9.2.9 (4.13 with Size1); RFC 7959 sec 2.2 (Block2 SZX 7 is
 * reserved), 2.9.3 (Block1 transfers are not reassembled: 4.13).
 */
import type { CoapMessage, CoapOption } from "./codec";
import { Code, Option, RESERVED_BLOCK_SZX, isCritical, type Limits } from "./numbers";
import {
  OPTION_FORMATS,
  encodeUint,
  getAccept,
  getBlock1,
  getBlock2,
  getContentFormat,
  getObserve,
  getUriPath,
  getUriQuery,
  optionName,
  type BlockValue,
} from "./options";

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
  query: string[];
  block2?: BlockValue;
  /** Observe as sent (the server applies it to GETs of observable resources only) */
  observe?: number;
  accept?: number;
  contentFormat?: number;
}

export function checkRequest(message: CoapMessage, limits: Limits): { refusal: Refusal } | { request: CheckedRequest } {
  const refuse = (code: number, diagnostic: string, extra?: CoapOption[]) => ({ refusal: { code, diagnostic, options: extra } });
  const seen = new Set<number>();
  const usable: CoapOption[] = [];
  for (const option of message.options) {
    const format = OPTION_FORMATS.get(option.number);
    const valid =
      format !== undefined &&
      UNDERSTOOD.has(option.number) &&
      option.value.length >= format.minLength &&
      option.value.length <= format.maxLength &&
      (format.repeatable || !seen.has(option.number));
    seen.add(option.number);
    if (valid) usable.push(option);
    else if (isCritical(option.number)) return refuse(Code.BAD_OPTION, `bad option ${optionName(option.number)}`);
  }
  if (seen.has(Option.PROXY_URI) || seen.has(Option.PROXY_SCHEME)) return refuse(Code.PROXYING_NOT_SUPPORTED, "no proxy");
  const path = getUriPath(usable);
  if (!path) return refuse(Code.BAD_REQUEST, "Uri-Path is not UTF-8");
  if (path.some((segment) => segment === "." || segment === "..")) return refuse(Code.BAD_REQUEST, "dot segment in Uri-Path");
  const query = getUriQuery(usable);
  if (!query) return refuse(Code.BAD_REQUEST, "Uri-Query is not UTF-8");
  const block2 = getBlock2(usable);
  if (block2 && block2.szx === RESERVED_BLOCK_SZX) return refuse(Code.BAD_REQUEST, "Block2 SZX 7");
  const block1 = getBlock1(usable);
  const size1 = [{ number: Option.SIZE1, value: encodeUint(limits.maxRequestPayload) }];
  if (block1 && (block1.num > 0 || block1.more)) return refuse(Code.REQUEST_ENTITY_TOO_LARGE, "no block-wise requests", size1);
  if (message.payload.length > limits.maxRequestPayload) return refuse(Code.REQUEST_ENTITY_TOO_LARGE, "payload too large", size1);
  // only options that passed: a malformed elective one counts as absent (sec 5.4.3)
  return {
    request: {
      path,
      key: path.join("/"),
      query,
      block2,
      observe: getObserve(usable),
      accept: getAccept(usable),
      contentFormat: getContentFormat(usable),
    },
  };
}
