/*
 * Wire numbers and tuning constants of CoAP, kept apart from the code that uses
 * them (like aiocoap's numbers/ package).
 *
 * RFC 7252 sec 3 (message types), 4.8 (transmission parameters), 5.4.6 (option
 * number classes), 12.1 (codes), 12.2 (options), 12.3 (content formats);
 * RFC 7641 sec 2 (Observe), RFC 7959 sec 2.1 (Block1/Block2/Size1/Size2).
 * Every resource bound the library keeps is a named limit in `DEFAULT_LIMITS`.
 */

/** Message types (RFC 7252 sec 3, the T field). */
export const Type = Object.freeze({ CON: 0, NON: 1, ACK: 2, RST: 3 } as const);
export type Type = (typeof Type)[keyof typeof Type];

const TYPE_NAMES = Object.freeze(["CON", "NON", "ACK", "RST"]);
export function formatType(type: number): string {
  return TYPE_NAMES[type] ?? `type ${type}`;
}

/** Builds a code byte from its class and detail: code(2, 5) is 2.05. */
export function code(codeClass: number, detail: number): number {
  return (codeClass << 5) | detail;
}

/** Codes as numbers (RFC 7252 sec 12.1); `formatCode` prints them as "2.05". */
export const Code = Object.freeze({
  EMPTY: 0,
  // requests (0.xx)
  GET: 1,
  POST: 2,
  PUT: 3,
  DELETE: 4,
  FETCH: 5,
  PATCH: 6,
  IPATCH: 7,
  // success (2.xx)
  CREATED: code(2, 1),
  DELETED: code(2, 2),
  VALID: code(2, 3),
  CHANGED: code(2, 4),
  CONTENT: code(2, 5),
  CONTINUE: code(2, 31),
  // client errors (4.xx)
  BAD_REQUEST: code(4, 0),
  UNAUTHORIZED: code(4, 1),
  BAD_OPTION: code(4, 2),
  FORBIDDEN: code(4, 3),
  NOT_FOUND: code(4, 4),
  METHOD_NOT_ALLOWED: code(4, 5),
  NOT_ACCEPTABLE: code(4, 6),
  REQUEST_ENTITY_INCOMPLETE: code(4, 8),
  PRECONDITION_FAILED: code(4, 12),
  REQUEST_ENTITY_TOO_LARGE: code(4, 13),
  UNSUPPORTED_CONTENT_FORMAT: code(4, 15),
  // server errors (5.xx)
  INTERNAL_SERVER_ERROR: code(5, 0),
  NOT_IMPLEMENTED: code(5, 1),
  BAD_GATEWAY: code(5, 2),
  SERVICE_UNAVAILABLE: code(5, 3),
  GATEWAY_TIMEOUT: code(5, 4),
  PROXYING_NOT_SUPPORTED: code(5, 5),
} as const);

export function codeClass(c: number): number {
  return c >> 5;
}

export function codeDetail(c: number): number {
  return c & 0x1f;
}

/** "2.05" style, as the RFC and every CoAP tool print codes. */
export function formatCode(c: number): string {
  const detail = codeDetail(c);
  return `${codeClass(c)}.${detail < 10 ? "0" : ""}${detail}`;
}

export function isRequestCode(c: number): boolean {
  return c !== Code.EMPTY && codeClass(c) === 0;
}

export function isResponseCode(c: number): boolean {
  const k = codeClass(c);
  return k >= 2 && k <= 5;
}

/** Classes 1, 6 and 7 are reserved: a CON carrying one is rejected (RFC 7252 sec 4.2). */
export function isReservedCodeClass(c: number): boolean {
  const k = codeClass(c);
  return k === 1 || k >= 6;
}

/** Option numbers (RFC 7252 sec 12.2, RFC 7641, RFC 7959, RFC 7967). */
export const Option = Object.freeze({
  IF_MATCH: 1,
  URI_HOST: 3,
  ETAG: 4,
  IF_NONE_MATCH: 5,
  OBSERVE: 6,
  URI_PORT: 7,
  LOCATION_PATH: 8,
  URI_PATH: 11,
  CONTENT_FORMAT: 12,
  MAX_AGE: 14,
  URI_QUERY: 15,
  ACCEPT: 17,
  LOCATION_QUERY: 20,
  BLOCK2: 23,
  BLOCK1: 27,
  SIZE2: 28,
  PROXY_URI: 35,
  PROXY_SCHEME: 39,
  SIZE1: 60,
  NO_RESPONSE: 258,
  /** RFC 9175 sec 3: which body a Block1 block belongs to (elective, repeatable, 0-8 bytes) */
  REQUEST_TAG: 292,
} as const);

/** Odd option numbers are critical: a recipient that does not understand one must reject (sec 5.4.1). */
export function isCritical(option: number): boolean {
  return (option & 1) === 1;
}

/** Unsafe-to-forward bit (sec 5.4.6); only proxies care, kept for completeness. */
export function isUnsafe(option: number): boolean {
  return (option & 2) === 2;
}

/** Content formats the node uses (RFC 7252 sec 12.3, RFC 8428 for SenML). */
export const ContentFormat = Object.freeze({
  TEXT_PLAIN: 0,
  LINK_FORMAT: 40,
  OCTET_STREAM: 42,
  JSON: 50,
  SENML_JSON: 110,
} as const);

/** Transmission parameters (RFC 7252 sec 4.8 and 4.8.2); milliseconds. */
export interface TransportParams {
  ackTimeout: number;
  ackRandomFactor: number;
  maxRetransmit: number;
  /** how long a CON's Message ID must be remembered for deduplication */
  exchangeLifetime: number;
  /** the same for a NON */
  nonLifetime: number;
}

export const ACK_TIMEOUT = 2000;
export const ACK_RANDOM_FACTOR = 1.5;
export const MAX_RETRANSMIT = 4;
export const EXCHANGE_LIFETIME = 247_000;
export const NON_LIFETIME = 145_000;

export const DEFAULT_TRANSPORT: Readonly<TransportParams> = Object.freeze({
  ackTimeout: ACK_TIMEOUT,
  ackRandomFactor: ACK_RANDOM_FACTOR,
  maxRetransmit: MAX_RETRANSMIT,
  exchangeLifetime: EXCHANGE_LIFETIME,
  nonLifetime: NON_LIFETIME,
});

/** MAX_TRANSMIT_WAIT (sec 4.8.2): after it, a conforming client no longer retransmits a CON. */
export function maxTransmitWait(transport: TransportParams): number {
  const { ackTimeout, ackRandomFactor, maxRetransmit } = transport;
  return ackTimeout * (2 ** (maxRetransmit + 1) - 1) * ackRandomFactor;
}

/** MAX_TRANSMIT_WAIT with the default parameters: 93 s. */
export const MAX_TRANSMIT_WAIT = maxTransmitWait(DEFAULT_TRANSPORT);

/** Token length bounds (sec 3: TKL 9-15 are reserved). */
export const MAX_TOKEN_LENGTH = 8;

/** Largest option value the extended length can describe: 14 -> 269 + 65535. */
export const MAX_OPTION_LENGTH = 269 + 0xffff;

/** Largest option number: option numbers are 16-bit (sec 12.2). */
export const MAX_OPTION_NUMBER = 0xffff;

/** Observe sequence numbers are 24-bit (RFC 7641 sec 3.4). */
export const OBSERVE_SEQUENCE_MASK = 0xffffff;

/** Block sizes (RFC 7959 sec 2.2): 16 << SZX, SZX 0..6 (7 is reserved). */
export const MIN_BLOCK_SZX = 0;
export const MAX_BLOCK_SZX = 6;
export const RESERVED_BLOCK_SZX = 7;

/** Bounds on everything the server remembers; each has a conservative default for an ESP32-C3. */
export interface Limits {
  /**
   * deduplication entries (peer + Message ID) kept for their whole lifetime (RFC 7252
   * sec 4.5), all peers together; none is forgotten early (see messagelayer.ts)
   */
  maxDedupEntries: number;
  /** deduplication entries of one peer, so that other peers cannot take its room (its own oldest gives way) */
  maxDedupPerPeer: number;
  /** bytes of cached responses in the deduplication cache (exceeded by at most one response) */
  maxDedupBytes: number;
  /** outstanding CON messages we retransmit; oldest given up first */
  maxPendingCon: number;
  /** recently sent NON notifications remembered so a RST to one can cancel its observation */
  maxTrackedNon: number;
  /** observers of one resource; a registration beyond it is served without Observe */
  maxObserversPerResource: number;
  /** observers over all resources */
  maxObservers: number;
  /** handlers of one resource still working on a request (asynchronous); beyond it that resource's requests get 5.03 */
  maxAsyncExchanges: number;
  /** ms an asynchronous handler may take before the request is answered 5.03 */
  asyncHandlerTimeout: number;
  /** request payload bytes accepted in one message; more gets 4.13 (a resource with block1 takes bodies in blocks) */
  maxRequestPayload: number;
  /** ms of silence after which a Block1 upload in progress is dropped */
  block1Timeout: number;
  /** block size exponent used when the client asks for none (6 = 1024 bytes) */
  defaultBlockSzx: number;
  /** every N-th notification to an observer is sent CON (RFC 7641 sec 4.5) */
  notifyConEvery: number;
  /** ms after which a notification is sent CON whatever the count (RFC 7641 sec 4.5: 24 h) */
  notifyConInterval: number;
  /**
   * ms without a sign of life (registration, ACK of a CON notification) after which an
   * observer gets a confirmable notification of the current state, a liveness probe, even
   * when nothing changed: an observer that is gone then times out and is removed
   */
  observerProbeInterval: number;
  /**
   * ms without a sign of life after which an observer gives its place to a new
   * registration when the resource's or the server's table is full (it has left a
   * probe unanswered for this long minus observerProbeInterval)
   */
  observerStaleAfter: number;
}

export const MAX_DEDUP_ENTRIES = 64;
export const MAX_DEDUP_PER_PEER = 8;
export const MAX_DEDUP_BYTES = 16 * 1024;
export const MAX_PENDING_CON = 16;
export const MAX_TRACKED_NON = 32;
export const MAX_OBSERVERS_PER_RESOURCE = 8;
export const MAX_OBSERVERS = 32;
export const MAX_ASYNC_EXCHANGES = 8;
export const ASYNC_HANDLER_TIMEOUT = 30_000;
/** a client retransmits a lost block within MAX_TRANSMIT_WAIT (93 s); most do far sooner */
export const BLOCK1_TIMEOUT = 60_000;
export const MAX_REQUEST_PAYLOAD = 1024;
export const DEFAULT_BLOCK_SZX = MAX_BLOCK_SZX;
export const NOTIFY_CON_EVERY = 20;
export const NOTIFY_CON_INTERVAL = 24 * 60 * 60 * 1000;
/* a probe's CON gives up after MAX_TRANSMIT_WAIT (93 s): a dead observer is gone 60 + 93 s after its last sign of life */
export const OBSERVER_PROBE_INTERVAL = 60_000;
/* 60 s more than the probe interval: by then the probe went out 4 times (2, 6, 14, 30 s) unanswered */
export const OBSERVER_STALE_AFTER = 120_000;

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxDedupEntries: MAX_DEDUP_ENTRIES,
  maxDedupPerPeer: MAX_DEDUP_PER_PEER,
  maxDedupBytes: MAX_DEDUP_BYTES,
  maxPendingCon: MAX_PENDING_CON,
  maxTrackedNon: MAX_TRACKED_NON,
  maxObserversPerResource: MAX_OBSERVERS_PER_RESOURCE,
  maxObservers: MAX_OBSERVERS,
  maxAsyncExchanges: MAX_ASYNC_EXCHANGES,
  asyncHandlerTimeout: ASYNC_HANDLER_TIMEOUT,
  maxRequestPayload: MAX_REQUEST_PAYLOAD,
  block1Timeout: BLOCK1_TIMEOUT,
  defaultBlockSzx: DEFAULT_BLOCK_SZX,
  notifyConEvery: NOTIFY_CON_EVERY,
  notifyConInterval: NOTIFY_CON_INTERVAL,
  observerProbeInterval: OBSERVER_PROBE_INTERVAL,
  observerStaleAfter: OBSERVER_STALE_AFTER,
});
