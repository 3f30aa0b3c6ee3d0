/*
 * What an application provides to the server: resources with method handlers,
 * and the request / response shapes those handlers see.
 *
 * RFC 7252 sec 5.8 (methods and their default success codes), 5.10.3/5.10.4
 * (Content-Format, Accept), RFC 7641 (observable resources), RFC 6690
 * (discovery attributes). Like aiocoap's resource.py, minus the class hierarchy:
 * a resource is a plain object.
 */
import type { Block1Handler } from "./block1";
import type { CheckedRequest } from "./check";
import { encodeBody, type CoapMessage, type CoapOption } from "./codec";
import type { MessageParts, Peer } from "./exchange";
import type { LinkAttributes } from "./linkformat";
import { Code, Option, formatCode, isResponseCode } from "./numbers";
import { setContentFormat, setETag, setMaxAge } from "./options";
import { utf8Decode, utf8Encode } from "./utf8";

export type Method = "GET" | "POST" | "PUT" | "DELETE";

export const METHOD_BY_CODE: ReadonlyMap<number, Method> = new Map<number, Method>([
  [Code.GET, "GET"],
  [Code.POST, "POST"],
  [Code.PUT, "PUT"],
  [Code.DELETE, "DELETE"],
]);

/** The code a handler's response gets when it names none. */
export const DEFAULT_SUCCESS: Readonly<Record<Method, number>> = Object.freeze({
  GET: Code.CONTENT,
  POST: Code.CHANGED,
  PUT: Code.CHANGED,
  DELETE: Code.DELETED,
});

export interface CoapRequest {
  method: Method;
  /** Uri-Path segments */
  path: readonly string[];
  /** Uri-Query arguments, e.g. "rt=light" */
  query: readonly string[];
  payload: Uint8Array;
  contentFormat?: number;
  accept?: number;
  /** the request's Observe value (0 register, 1 deregister), if any */
  observe?: number;
  peer: Peer;
  token: Uint8Array;
  /**
   * every option as received; in a notification's request, the registration's options
   * other than those given as fields above (see observedRequest)
   */
  options: readonly CoapOption[];
  /** true when the server renders a notification for an observer, not answering a request */
  notification: boolean;
  /** the payload as UTF-8 text, or undefined when it is not valid UTF-8 */
  text(): string | undefined;
}

export interface CoapResponse {
  /** defaults to the method's success code (2.05 GET, 2.04 PUT/POST, 2.02 DELETE) */
  code?: number;
  /** a string is sent as UTF-8 */
  payload?: Uint8Array | string;
  contentFormat?: number;
  /** seconds (Max-Age option) */
  maxAge?: number;
  etag?: Uint8Array;
  /** further options, added as given */
  options?: readonly CoapOption[];
}

export type Handler = (request: CoapRequest) => CoapResponse | Promise<CoapResponse>;

export interface Resource extends Omit<LinkAttributes, "obs"> {
  get?: Handler;
  put?: Handler;
  post?: Handler;
  delete?: Handler;
  /** GET with Observe=0 registers an observer; server.notify(path) then pushes the new state */
  observable?: boolean;
  /** content formats PUT/POST payloads may have; another one gets 4.15 (absent: any) */
  accepts?: readonly number[];
  /** content formats GET can produce; an Accept for another gets 4.06 (absent: any) */
  produces?: readonly number[];
  /** every notification confirmable (otherwise NON, with a CON every N-th and every 24 h); one that finds maxPendingCon CONs in flight goes as NON */
  confirmableNotifications?: boolean;
  /** left out of /.well-known/core */
  hidden?: boolean;
  /** block-wise PUT/POST bodies (RFC 7959 Block1), streamed into an Upload (block1.ts); a request without Block1 goes to put/post */
  block1?: Block1Handler;
}

export function handlerFor(resource: Resource, method: Method): Handler | undefined {
  switch (method) {
    case "GET":
      return resource.get;
    case "PUT":
      return resource.put;
    case "POST":
      return resource.post;
    case "DELETE":
      return resource.delete;
  }
}

/**
 * A request as a handler gets it: the fields the server read once (check.ts), the
 * rest read from the message only when a handler asks (getters and text() on the
 * prototype: no closure and few fields per request).
 */
class ReceivedRequest implements CoapRequest {
  readonly #checked: CheckedRequest;
  readonly #message: CoapMessage;
  constructor(
    readonly method: Method,
    checked: CheckedRequest,
    /** Observe as the server applies it (GETs of observable resources only) */
    readonly observe: number | undefined,
    message: CoapMessage,
    readonly peer: Peer,
  ) {
    this.#checked = checked;
    this.#message = message;
  }

  get path(): readonly string[] {
    return this.#checked.path;
  }

  get query(): readonly string[] {
    return this.#checked.query;
  }

  get contentFormat(): number | undefined {
    return this.#checked.contentFormat;
  }

  get accept(): number | undefined {
    return this.#checked.accept;
  }

  get payload(): Uint8Array {
    return this.#message.payload;
  }

  get token(): Uint8Array {
    return this.#message.token;
  }

  get options(): readonly CoapOption[] {
    return this.#message.options;
  }

  get notification(): boolean {
    return false;
  }

  text(): string | undefined {
    return utf8Decode(this.#message.payload);
  }
}

/** The request a handler gets for a received message, checked (a notification's is observedRequest's). */
export function makeRequest(method: Method, checked: CheckedRequest, observe: number | undefined, message: CoapMessage, peer: Peer): CoapRequest {
  return new ReceivedRequest(method, checked, observe, message, peer);
}

/* options a request already carries as fields, or that only concern its own exchange */
const AS_FIELDS: ReadonlySet<number> = new Set([Option.URI_HOST, Option.URI_PORT, Option.URI_PATH, Option.URI_QUERY, Option.OBSERVE, Option.ACCEPT, Option.CONTENT_FORMAT, Option.BLOCK2, Option.SIZE2]);
const NO_PAYLOAD = new Uint8Array(0);
const NO_OPTIONS: readonly CoapOption[] = Object.freeze([]);
const noText = () => "";

/**
 * The registering GET as an observer keeps it, to render each notification
 * (RFC 7641 sec 4.2: the same representation as the registration asked for). Only
 * what rendering can use, copied out of the datagram: views into it (token, option
 * values, payload) would keep the whole received buffer alive as long as the
 * observation, and a device holds 32 observers.
 */
export function observedRequest(request: CoapRequest): CoapRequest {
  const kept: CoapOption[] = [];
  for (const option of request.options) {
    if (!AS_FIELDS.has(option.number)) kept.push({ number: option.number, value: option.value.slice() });
  }
  return {
    method: request.method,
    path: request.path,
    query: request.query,
    payload: NO_PAYLOAD,
    contentFormat: request.contentFormat,
    accept: request.accept,
    observe: request.observe,
    peer: request.peer,
    token: request.token.slice(),
    options: kept.length > 0 ? kept : NO_OPTIONS,
    notification: true,
    text: noText,
  };
}

/** The message parts of a handler's response; throws RangeError on a value that cannot be encoded. */
export function responseParts(response: CoapResponse, defaultCode: number): Omit<MessageParts, "token"> {
  const code = response.code ?? defaultCode;
  if (!isResponseCode(code)) throw new RangeError(`not a response code: ${formatCode(code)}`);
  const options: CoapOption[] = response.options ? response.options.slice() : [];
  if (response.contentFormat !== undefined) setContentFormat(options, response.contentFormat);
  if (response.maxAge !== undefined) setMaxAge(options, response.maxAge);
  if (response.etag !== undefined) setETag(options, response.etag);
  const payload =
    response.payload === undefined ? NO_PAYLOAD : typeof response.payload === "string" ? utf8Encode(response.payload) : response.payload;
  return { code, options, payload };
}

/** The 5.00 a handler that threw or rejected gets, its message as the diagnostic. */
export function internalError(error: unknown): CoapResponse {
  const text = error instanceof Error ? error.message : String(error);
  return { code: Code.INTERNAL_SERVER_ERROR, payload: text.slice(0, 64) };
}

/**
 * A resource's last plain answer (a code, a text payload, at most a Content-Format:
 * what most GETs return), its options and payload encoded once. The next answer that
 * is the same again reuses the bytes: one encode per resource state, not per request.
 */
export class EncodedAnswer {
  /** the parts to send: the body encoded once, options and payload left empty */
  readonly parts: Omit<MessageParts, "token">;
  /** the response this was encoded from, when frozen (it cannot change): the same object again matches at once */
  readonly #frozen: CoapResponse | undefined;
  readonly #defaultCode: number;

  constructor(
    readonly code: number,
    readonly contentFormat: number | undefined,
    readonly text: string,
    body: Uint8Array,
    /** the payload's length in bytes */
    readonly size: number,
    /** what it was encoded from, and the code that applied when it named none */
    response?: CoapResponse,
    defaultCode = 0,
  ) {
    this.parts = Object.freeze({ code, options: NO_OPTIONS as CoapOption[], payload: NO_PAYLOAD, body });
    this.#frozen = response !== undefined && Object.isFrozen(response) ? response : undefined;
    this.#defaultCode = defaultCode;
  }

  /**
   * Whether `response` is this answer again: the same frozen object (what a handler
   * returns for a state it keeps a constant for) in one step, or the same fields (a
   * string compares in one step).
   */
  matches(response: CoapResponse, defaultCode: number): boolean {
    if (response === this.#frozen && defaultCode === this.#defaultCode) return true;
    return (
      response.payload === this.text &&
      response.contentFormat === this.contentFormat &&
      (response.code ?? defaultCode) === this.code &&
      response.maxAge === undefined &&
      response.etag === undefined &&
      response.options === undefined
    );
  }
}

/** The answer encoded, when it is a plain one (see EncodedAnswer); throws RangeError like responseParts(). */
export function encodeAnswer(response: CoapResponse, defaultCode: number): EncodedAnswer | undefined {
  if (typeof response.payload !== "string" || response.maxAge !== undefined || response.etag !== undefined || response.options !== undefined) return undefined;
  const parts = responseParts(response, defaultCode);
  return new EncodedAnswer(parts.code, response.contentFormat, response.payload, encodeBody(parts.options, parts.payload), parts.payload.length, response, defaultCode);
}
