/*
 * What a client asks for: a request's method, path, query, payload and options as an
 * application gives them (RequestOptions), and the CoAP code and options they become.
 * Pure: throws a RangeError naming what cannot be encoded.
 *
 * RFC 7252 sec 5.8 (methods), 5.10.1 / 6.4 (Uri-Path, Uri-Query), 5.10.3 / 5.10.4
 * (Content-Format, Accept); RFC 7959 sec 2.4 (a Block2 size asked for in advance).
 */
import type { CoapOption } from "./codec";
import type { Peer } from "./exchange";
import { Code, RESERVED_BLOCK_SZX } from "./numbers";
import { setAccept, setBlock2, setContentFormat, setUriPath, setUriQuery } from "./options";
import type { Method } from "./resource";
import { utf8Encode } from "./utf8";

export interface RequestOptions {
  /** default GET */
  method?: Method;
  /** "a/b", "/a/b" or segments */
  path?: string | readonly string[];
  /** Uri-Query arguments ("ep=node", "lt=60") */
  query?: readonly string[];
  /** a string is sent as UTF-8 */
  payload?: Uint8Array | string;
  contentFormat?: number;
  accept?: number;
  /** default true */
  confirmable?: boolean;
  /** default: the client's peer */
  peer?: Peer;
  /** ms for the whole exchange; default limits.timeout */
  timeout?: number;
  /** SZX (0..6) to ask for in Block2; default: let the server choose */
  blockSzx?: number;
  /** further options, added as given */
  options?: readonly CoapOption[];
}

const METHOD_CODES: ReadonlyMap<Method, number> = new Map<Method, number>([
  ["GET", Code.GET],
  ["POST", Code.POST],
  ["PUT", Code.PUT],
  ["DELETE", Code.DELETE],
]);

const EMPTY = new Uint8Array(0);

/** The parts of a request the client sends (token and Message ID are added per transmission). */
export interface RequestParts {
  code: number;
  options: CoapOption[];
  payload: Uint8Array;
}

/** The code, options and payload of `request`; RangeError when a method or option cannot be encoded. */
export function requestParts(request: RequestOptions): RequestParts {
  const code = METHOD_CODES.get(request.method ?? "GET");
  if (code === undefined) throw new RangeError(`method ${request.method}`);
  const options: CoapOption[] = request.options ? request.options.slice() : [];
  if (request.path !== undefined) setUriPath(options, request.path);
  if (request.query?.length) setUriQuery(options, request.query);
  if (request.contentFormat !== undefined) setContentFormat(options, request.contentFormat);
  if (request.accept !== undefined) setAccept(options, request.accept);
  if (request.blockSzx !== undefined) {
    if (!(request.blockSzx >= 0 && request.blockSzx < RESERVED_BLOCK_SZX)) throw new RangeError(`block SZX ${request.blockSzx}`);
    setBlock2(options, { num: 0, more: false, szx: request.blockSzx });
  }
  const payload = request.payload === undefined ? EMPTY : typeof request.payload === "string" ? utf8Encode(request.payload) : request.payload;
  return { code, options, payload };
}
