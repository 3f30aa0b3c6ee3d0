/*
 * The CoAP server: routes requests to resources, checks what it cannot serve,
 * runs handlers (synchronous or asynchronous), adds Observe and Block2, and
 * pushes notifications. Sans-IO like the layers below it: datagrams in through
 * receive(), out through the injected send(); time from now(); timed work in
 * tick() at nextDeadline().
 *
 * RFC 7252 sec 5.4.1 (unrecognised critical option in a request: 4.02), 5.4.3 /
 * 5.4.5 (bad length or repetition: treated as unrecognised), 5.7.2 (proxy options:
 * 5.05), 5.8 (methods; an unknown method 4.05), 5.9 (response codes), 5.10.3 /
 * 5.10.4 (4.15 and 4.06), 6.4 (path segments "." and ".." are not allowed: 4.00),
 * 7.2 (/.well-known/core); RFC 7641 sec 3-4 (Observe), RFC 7959 sec 2 (Block2;
 * Block1 transfers are not reassembled: 4.13).
 *
 * Choices: a handler that throws or rejects gets 5.00 (with its message as the
 * diagnostic payload) and is reported through log(); an asynchronous handler
 * that has not settled after limits.asyncHandlerTimeout gets 5.03; a Block2
 * request past the end of the representation gets 4.02.
 */
import { sliceBlock, needsBlockwise } from "./block2";
import type { CoapOption } from "./codec";
import { LimitLog, type LimitName } from "./limitlog";
import { filterLinks, formatLinks, type Link } from "./linkformat";
import { Exchange, MessageLayer, peerKey, type MessageParts, type Peer } from "./messagelayer";
import {
  Code,
  ContentFormat,
  DEFAULT_LIMITS,
  DEFAULT_TRANSPORT,
  Option,
  RESERVED_BLOCK_SZX,
  codeClass,
  formatCode,
  isCritical,
  isResponseCode,
  type Limits,
  type TransportParams,
} from "./numbers";
import { ObserveRegistry, type Observer } from "./observe";
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
  setBlock2,
  setContentFormat,
  setETag,
  setMaxAge,
  setObserve,
  setUint,
  splitPath,
} from "./options";
import {
  DEFAULT_SUCCESS,
  METHOD_BY_CODE,
  handlerFor,
  makeRequest,
  observedRequest,
  type CoapRequest,
  type CoapResponse,
  type Handler,
  type Resource,
} from "./resource";
import { utf8Encode } from "./utf8";

export type { Peer } from "./messagelayer";
export type { CoapRequest, CoapResponse, Resource, Handler, Method } from "./resource";

export interface ServerOptions {
  /** called synchronously whenever a datagram must go out */
  send(datagram: Uint8Array, peer: Peer): void;
  /** monotonic clock, ms */
  now(): number;
  /** [0, 1): Message IDs and retransmission jitter */
  random?(): number;
  log?(message: string): void;
  limits?: Partial<Limits>;
  transport?: Partial<TransportParams>;
}

export interface ServerStats {
  dedup: number;
  dedupBytes: number;
  pending: number;
  trackedNon: number;
  observers: number;
  asyncExchanges: number;
  resources: number;
}

export const WELL_KNOWN_CORE = ".well-known/core";

/** Request options the server acts on; any other critical option gets 4.02. */
const UNDERSTOOD = new Set<number>([
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

const EMPTY = new Uint8Array(0);

/** A stand-in when no random source is injected: xorshift32 seeded from the clock. */
function clockSeededRandom(seed: number): () => number {
  let state = (seed >>> 0) || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
}

interface AsyncExchange {
  exchange: Exchange;
  deadline: number;
  /** the resource's path key: the limit on running handlers is per resource */
  key: string;
}

/** The outcome of checking a request before any handler runs. */
interface Refusal {
  code: number;
  diagnostic: string;
  options?: CoapOption[];
}

export class CoapServer {
  #resources = new Map<string, Resource>();
  #layer: MessageLayer;
  #observe: ObserveRegistry;
  #limits: Limits;
  #now: () => number;
  #log: (message: string) => void;
  #limitLog: LimitLog;
  #async = new Set<AsyncExchange>();
  /** #probing as a value, made once: nextDeadline() hands it to the registry per datagram */
  #probingFn = (observer: Observer): boolean => this.#probing(observer);
  /** asynchronous handlers running per resource path key */
  #asyncPerResource = new Map<string, number>();

  constructor(options: ServerOptions) {
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#now = () => options.now();
    this.#log = options.log ? (m) => options.log!(m) : () => {};
    this.#limitLog = new LimitLog(this.#log, this.#now);
    // a RST to a NON notification must still find its observer: track at least one NON per observer
    this.#limits.maxTrackedNon = Math.max(this.#limits.maxTrackedNon, this.#limits.maxObservers);
    const random = options.random ? () => options.random!() : clockSeededRandom(options.now());
    this.#observe = new ObserveRegistry(this.#limits);
    this.#layer = new MessageLayer({
      send: (datagram, peer) => options.send(datagram, peer),
      now: this.#now,
      random,
      log: this.#log,
      limit: (name, detail) => this.#limitLog.hit(name, detail),
      limits: this.#limits,
      transport: { ...DEFAULT_TRANSPORT, ...options.transport },
      onRequest: (exchange) => this.#handle(exchange),
    });
    this.add(WELL_KNOWN_CORE, {
      hidden: true,
      produces: [ContentFormat.LINK_FORMAT],
      get: (request) => ({ contentFormat: ContentFormat.LINK_FORMAT, payload: this.linkFormat(request.query) }),
    });
  }

  /** Serves `resource` at `path` ("light", "a/b"); replaces any resource there. */
  add(path: string, resource: Resource): void {
    const key = splitPath(path).join("/");
    if (this.#resources.has(key)) this.#observe.removePath(key);
    this.#resources.set(key, resource);
  }

  remove(path: string): void {
    const key = splitPath(path).join("/");
    this.#resources.delete(key);
    this.#observe.removePath(key);
  }

  /** Handles one datagram from `peer`; never throws. */
  receive(datagram: Uint8Array, peer: Peer): void {
    try {
      this.#layer.receive(datagram, peer);
    } catch (error) {
      this.#log(`receive failed: ${error}`);
    }
  }

  /** Absolute time (ms, the now() clock) of the next retransmission or expiry. */
  nextDeadline(): number | undefined {
    let next = this.#layer.nextDeadline();
    for (const pending of this.#async) if (next === undefined || pending.deadline < next) next = pending.deadline;
    const probe = this.#observe.nextProbe(this.#probingFn);
    if (probe !== undefined && (next === undefined || probe < next)) next = probe;
    return next;
  }

  /** Does the work due at now(); never throws. */
  tick(): void {
    try {
      this.#layer.tick();
      const now = this.#now();
      for (const pending of Array.from(this.#async)) {
        if (pending.deadline > now) continue;
        this.#forgetAsync(pending);
        this.#log(`handler timed out for ${peerKey(pending.exchange.peer)}`);
        this.#refuse(pending.exchange, { code: Code.SERVICE_UNAVAILABLE, diagnostic: "handler timed out" });
      }
      for (const observer of this.#observe.all()) {
        if (!this.#probing(observer) && this.#observe.probeDue(observer) <= now) this.#probe(observer);
      }
    } catch (error) {
      this.#log(`tick failed: ${error}`);
    }
  }

  /** The state of the resource at `path` changed: notify its observers. */
  notify(path: string): void {
    try {
      this.#notify(splitPath(path).join("/"));
    } catch (error) {
      this.#log(`notify ${path} failed: ${error}`);
    }
  }

  /** Forgets the observers and exchanges of a peer (its DTLS session closed). */
  dropPeer(peer: Peer): void {
    this.#observe.dropPeer(peerKey(peer));
    this.#layer.dropPeer(peer);
  }

  stats(): ServerStats {
    return {
      ...this.#layer.stats(),
      observers: this.#observe.size,
      asyncExchanges: this.#async.size,
      resources: this.#resources.size,
    };
  }

  /** How often each bounded table overflowed since start (see limitlog.ts). */
  limitHits(): Partial<Record<LimitName, number>> {
    return this.#limitLog.counts();
  }

  /** Whether `peer` (with its DTLS session, if any) observes anything: its session should be kept. */
  hasObservers(peer: Peer): boolean {
    return this.#observe.observes(peerKey(peer));
  }

  /** Number of observers of a resource (for applications and tests). */
  observerCount(path: string): number {
    return this.#observe.sizeOf(splitPath(path).join("/"));
  }

  /** The /.well-known/core document, filtered by query arguments like "rt=light". */
  linkFormat(query: readonly string[] = []): string {
    const links: Link[] = [];
    for (const [path, resource] of this.#resources) {
      if (resource.hidden) continue;
      links.push({
        href: `/${path}`,
        rt: resource.rt,
        if: resource.if,
        ct: resource.ct ?? resource.produces,
        obs: resource.observable === true,
        title: resource.title,
        sz: resource.sz,
      });
    }
    return formatLinks(filterLinks(links, query));
  }

  // ---- requests ----

  #handle(exchange: Exchange): void {
    const message = exchange.request;
    const checked = this.#check(message.options, message.payload.length);
    if ("refusal" in checked) return this.#refuse(exchange, checked.refusal);

    // read only options that passed the checks: a malformed elective counts as absent (sec 5.4.3)
    const options = checked.options;
    const path = getUriPath(options)!;
    const query = getUriQuery(options)!;
    const block2 = getBlock2(options);
    const key = path.join("/");
    const resource = this.#resources.get(key);
    if (!resource) return this.#refuse(exchange, { code: Code.NOT_FOUND, diagnostic: "not found" });
    const method = METHOD_BY_CODE.get(message.code);
    const handler = method && handlerFor(resource, method);
    if (!method || !handler) return this.#refuse(exchange, { code: Code.METHOD_NOT_ALLOWED, diagnostic: "method not allowed" });

    const contentFormat = getContentFormat(options);
    const accept = getAccept(options);
    if ((method === "PUT" || method === "POST") && contentFormat !== undefined && resource.accepts && !resource.accepts.includes(contentFormat))
      return this.#refuse(exchange, { code: Code.UNSUPPORTED_CONTENT_FORMAT, diagnostic: `content format ${contentFormat} not supported` });
    if (accept !== undefined && resource.produces && !resource.produces.includes(accept))
      return this.#refuse(exchange, { code: Code.NOT_ACCEPTABLE, diagnostic: `cannot produce content format ${accept}` });

    const observe = method === "GET" && resource.observable ? getObserve(options) : undefined;
    // deregistration takes effect on receipt; the GET is then answered as usual (RFC 7641 sec 3.6)
    if (observe === 1) this.#observe.deregister(key, exchange.peer, message.token);

    // per resource: a slow resource (a sensor conversion) cannot starve the others
    if ((this.#asyncPerResource.get(key) ?? 0) >= this.#limits.maxAsyncExchanges) {
      this.#limitLog.hit("async-handlers", `${this.#limits.maxAsyncExchanges} asynchronous handlers running for /${key}: its new requests get 5.03`);
      return this.#refuse(exchange, { code: Code.SERVICE_UNAVAILABLE, diagnostic: "busy", options: [maxAgeOption(1)] });
    }

    const request = makeRequest({
      method,
      path,
      query,
      payload: message.payload,
      contentFormat,
      accept,
      observe,
      peer: exchange.peer,
      token: message.token,
      options: message.options,
      notification: false,
    });
    this.#run(handler, request, (response) => this.#respond(exchange, request, key, resource, response, block2), exchange);
  }

  /**
   * Runs a handler and calls `done` with its response, or with a 5.00 one when it
   * throws or rejects. An asynchronous handler answering a request (`exchange`)
   * is tracked so that tick() can answer 5.03 when it takes too long.
   */
  #run(handler: Handler, request: CoapRequest, done: (response: CoapResponse) => void, exchange?: Exchange): void {
    let result: CoapResponse | Promise<CoapResponse>;
    try {
      result = handler(request);
    } catch (error) {
      this.#log(`handler ${request.method} /${request.path.join("/")} threw: ${error}`);
      return done(internalError(error));
    }
    if (!(result instanceof Promise)) return done(result ?? {});
    let pending: AsyncExchange | undefined;
    if (exchange) {
      const key = request.path.join("/");
      pending = { exchange, deadline: this.#now() + this.#limits.asyncHandlerTimeout, key };
      this.#async.add(pending);
      this.#asyncPerResource.set(key, (this.#asyncPerResource.get(key) ?? 0) + 1);
    }
    const settle = (response: CoapResponse) => {
      if (pending && !this.#forgetAsync(pending)) return; // timed out meanwhile: already answered
      try {
        done(response);
      } catch (error) {
        this.#log(`response failed: ${error}`);
      }
    };
    result.then(
      (response) => settle(response ?? {}),
      (error) => {
        this.#log(`handler ${request.method} /${request.path.join("/")} rejected: ${error}`);
        settle(internalError(error));
      },
    );
  }

  /** Forgets a running handler; false when it was already forgotten (timed out). */
  #forgetAsync(pending: AsyncExchange): boolean {
    if (!this.#async.delete(pending)) return false;
    const left = (this.#asyncPerResource.get(pending.key) ?? 1) - 1;
    if (left > 0) this.#asyncPerResource.set(pending.key, left);
    else this.#asyncPerResource.delete(pending.key);
    return true;
  }

  /**
   * What must be refused before routing (options, proxying, bad paths, sizes);
   * otherwise the options that are well-formed and understood.
   */
  #check(options: readonly CoapOption[], payloadLength: number): { refusal: Refusal } | { options: CoapOption[] } {
    const refuse = (code: number, diagnostic: string, extra?: CoapOption[]) => ({ refusal: { code, diagnostic, options: extra } });
    const seen = new Set<number>();
    const usable: CoapOption[] = [];
    for (const option of options) {
      const format = OPTION_FORMATS.get(option.number);
      const valid =
        format !== undefined &&
        UNDERSTOOD.has(option.number) &&
        option.value.length >= format.minLength &&
        option.value.length <= format.maxLength &&
        (format.repeatable || !seen.has(option.number));
      seen.add(option.number);
      if (valid) usable.push(option);
      // an elective option we cannot use is ignored (sec 5.4.1)
      else if (isCritical(option.number)) return refuse(Code.BAD_OPTION, `bad option ${optionName(option.number)}`);
    }
    if (seen.has(Option.PROXY_URI) || seen.has(Option.PROXY_SCHEME)) return refuse(Code.PROXYING_NOT_SUPPORTED, "no proxy");
    const path = getUriPath(usable);
    if (!path) return refuse(Code.BAD_REQUEST, "Uri-Path is not UTF-8");
    if (path.some((segment) => segment === "." || segment === "..")) return refuse(Code.BAD_REQUEST, "dot segment in Uri-Path");
    if (!getUriQuery(usable)) return refuse(Code.BAD_REQUEST, "Uri-Query is not UTF-8");
    const block2 = getBlock2(usable);
    if (block2 && block2.szx === RESERVED_BLOCK_SZX) return refuse(Code.BAD_REQUEST, "Block2 SZX 7");
    const block1 = getBlock1(usable);
    const size1 = [{ number: Option.SIZE1, value: encodeUint(this.#limits.maxRequestPayload) }];
    if (block1 && (block1.num > 0 || block1.more)) return refuse(Code.REQUEST_ENTITY_TOO_LARGE, "no block-wise requests", size1);
    if (payloadLength > this.#limits.maxRequestPayload) return refuse(Code.REQUEST_ENTITY_TOO_LARGE, "payload too large", size1);
    return { options: usable };
  }

  #refuse(exchange: Exchange, refusal: Refusal): void {
    this.#send(exchange, {
      code: refusal.code,
      options: refusal.options ?? [],
      payload: utf8Encode(refusal.diagnostic),
    });
  }

  /** Sends, falling back to a bare 5.00 when the handler's response cannot be encoded. */
  #send(exchange: Exchange, parts: Omit<MessageParts, "token">): void {
    try {
      exchange.respond(parts);
    } catch (error) {
      this.#log(`cannot send response: ${error}`);
      exchange.respond({ code: Code.INTERNAL_SERVER_ERROR, options: [], payload: EMPTY });
    }
  }

  #respond(
    exchange: Exchange,
    request: CoapRequest,
    key: string,
    resource: Resource,
    response: CoapResponse,
    block2: ReturnType<typeof getBlock2>,
  ): void {
    let parts: Omit<MessageParts, "token">;
    try {
      parts = buildParts(response, DEFAULT_SUCCESS[request.method]);
    } catch (error) {
      this.#log(`bad response from /${key}: ${error}`);
      parts = { code: Code.INTERNAL_SERVER_ERROR, options: [], payload: EMPTY };
    }
    const success = codeClass(parts.code) === 2;
    let szx = this.#limits.defaultBlockSzx;

    if (request.observe === 0) {
      if (success && (!block2 || block2.num === 0)) {
        const now = this.#now();
        const kept = observedRequest(request);
        const { result, displaced } = this.#observe.register({
          path: key,
          peer: exchange.peer,
          peerKey: peerKey(exchange.peer),
          token: kept.token,
          request: kept,
          szx: block2 ? Math.min(block2.szx, szx) : szx,
          sinceCon: 0,
          lastCon: now,
          confirmedAt: now,
        }, now);
        if (result !== "full") setObserve(parts.options, this.#observe.nextSequence(key));
        else this.#limitLog.hit("observers", `observer limit reached (${this.#limits.maxObserversPerResource} per resource, ${this.#limits.maxObservers} in all), none silent for ${this.#limits.observerStaleAfter / 1000} s: new registrations are answered without Observe`);
        if (displaced) this.#endDisplaced(displaced);
      } else if (!success) {
        // an error ends an existing observation with this token (RFC 7641 sec 4.2)
        this.#observe.deregister(key, exchange.peer, request.token);
      }
    }
    if (success && needsBlockwise(parts.payload.length, block2, szx)) {
      const slice = sliceBlock(parts.payload, block2, szx);
      if (!slice) return this.#refuse(exchange, { code: Code.BAD_OPTION, diagnostic: "Block2 past the end" });
      if (slice.block.num === 0) setUint(parts.options, Option.SIZE2, parts.payload.length);
      setBlock2(parts.options, slice.block);
      parts.payload = slice.payload;
    }
    this.#send(exchange, parts);
  }

  // ---- notifications ----

  #notify(key: string): void {
    const resource = this.#resources.get(key);
    const observers = this.#observe.observers(key);
    if (!resource?.get || observers.length === 0) return;
    const sequence = this.#observe.nextSequence(key);
    // render once per distinct representation asked for (Accept + query), not per observer
    const groups = new Map<string, Observer[]>();
    for (const observer of observers) {
      const group = `${observer.request.accept}|${observer.request.query.join("&")}`;
      const list = groups.get(group);
      if (list) list.push(observer);
      else groups.set(group, [observer]);
    }
    for (const group of groups.values()) {
      this.#run(resource.get, group[0].request, (response) => {
        for (const observer of group) {
          if (this.#observe.isCurrent(observer)) this.#sendNotification(observer, resource, response, sequence);
        }
      });
    }
  }

  /** Whether a CON notification to this observer is in flight (its answer is the sign of life awaited). */
  #probing(observer: Observer): boolean {
    return observer.pendingMid !== undefined && this.#layer.isPending(observer.peer, observer.pendingMid);
  }

  /** A liveness probe: the current state, confirmable, to an observer silent for observerProbeInterval. */
  #probe(observer: Observer): void {
    const resource = this.#resources.get(observer.path);
    if (!resource?.get) return;
    const sequence = this.#observe.nextSequence(observer.path);
    this.#run(resource.get, observer.request, (response) => {
      if (this.#observe.isCurrent(observer)) this.#sendNotification(observer, resource, response, sequence);
    });
  }

  /** An observer that lost its place to a new registration: told, in case it still listens (RFC 7641 sec 4.2). */
  #endDisplaced(observer: Observer): void {
    this.#limitLog.hit("observers", `observer tables full: a new registration takes the place of one silent for over ${this.#limits.observerStaleAfter / 1000} s`);
    if (this.#probing(observer)) this.#layer.cancel(observer.peer, observer.pendingMid!);
    try {
      this.#layer.sendNonConfirmable({ code: Code.SERVICE_UNAVAILABLE, token: observer.token, options: [], payload: utf8Encode("observation ended") }, observer.peer);
    } catch (error) {
      this.#log(`cannot tell ${observer.peerKey} its observation ended: ${error}`);
    }
  }

  #sendNotification(observer: Observer, resource: Resource, response: CoapResponse, sequence: number): void {
    let parts: MessageParts;
    try {
      parts = { ...buildParts(response, Code.CONTENT), token: observer.token };
    } catch (error) {
      this.#log(`bad notification from /${observer.path}: ${error}`);
      parts = { code: Code.INTERNAL_SERVER_ERROR, options: [], payload: EMPTY, token: observer.token };
    }
    const success = codeClass(parts.code) === 2;
    if (success) {
      setObserve(parts.options, sequence);
      if (needsBlockwise(parts.payload.length, undefined, observer.szx)) {
        // RFC 7959 sec 3.4: the first block; the client GETs the rest
        const slice = sliceBlock(parts.payload, undefined, observer.szx)!;
        setUint(parts.options, Option.SIZE2, parts.payload.length);
        setBlock2(parts.options, slice.block);
        parts.payload = slice.payload;
      }
    } else {
      // an error response ends the observation (RFC 7641 sec 4.2); it carries no Observe
      this.#observe.remove(observer);
    }

    const now = this.#now();
    const inFlight = observer.pendingMid !== undefined && this.#layer.isPending(observer.peer, observer.pendingMid);
    try {
      if (resource.confirmableNotifications || this.#observe.shouldConfirm(observer, now, inFlight)) {
        observer.sinceCon = 0;
        observer.lastCon = now;
        const mid: number = this.#layer.sendConfirmable(parts, observer.peer, {
          supersedes: inFlight ? observer.pendingMid : undefined,
          onDone: (outcome) => {
            if (observer.pendingMid === mid) observer.pendingMid = undefined;
            if (outcome === "ack") observer.confirmedAt = this.#now();
            if (outcome === "reset" || outcome === "timeout" || outcome === "evicted") {
              if (this.#observe.remove(observer)) this.#log(`observer ${observer.peerKey} of /${observer.path} removed: ${outcome}`);
            }
          },
        });
        observer.pendingMid = mid;
      } else {
        observer.sinceCon++;
        this.#layer.sendNonConfirmable(parts, observer.peer, () => {
          this.#observe.remove(observer);
        });
      }
    } catch (error) {
      this.#log(`cannot send notification to ${observer.peerKey}: ${error}`);
      this.#observe.remove(observer);
    }
  }
}

function maxAgeOption(seconds: number): CoapOption {
  return { number: Option.MAX_AGE, value: encodeUint(seconds) };
}

function internalError(error: unknown): CoapResponse {
  const text = error instanceof Error ? error.message : String(error);
  return { code: Code.INTERNAL_SERVER_ERROR, payload: text.slice(0, 64) };
}

/** The message parts of a handler's response; throws RangeError on a value that cannot be encoded. */
function buildParts(response: CoapResponse, defaultCode: number): Omit<MessageParts, "token"> {
  const code = response.code ?? defaultCode;
  if (!isResponseCode(code)) throw new RangeError(`not a response code: ${formatCode(code)}`);
  const options: CoapOption[] = response.options ? response.options.slice() : [];
  if (response.contentFormat !== undefined) setContentFormat(options, response.contentFormat);
  if (response.maxAge !== undefined) setMaxAge(options, response.maxAge);
  if (response.etag !== undefined) setETag(options, response.etag);
  const payload =
    response.payload === undefined ? EMPTY : typeof response.payload === "string" ? utf8Encode(response.payload) : response.payload;
  return { code, options, payload };
}
