/*
 * The CoAP server: routes requests to resources and runs their handlers
 * (synchronous or asynchronous, with a time limit), answers what it cannot serve,
 * adds Block2. What is refused before routing, and the request's options read once,
 * are check.ts's; notifications (registration, rendering, CON/NON, probes) are
 * notifier.ts's. Sans-IO like the layers below it: datagrams in through receive(),
 * out through the injected send(); time from now(); timed work in tick() at
 * nextDeadline().
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
import { checkRequest, type Refusal } from "./check";
import type { CoapOption } from "./codec";
import { LimitLog, type LimitName } from "./limitlog";
import { filterLinks, formatLinks, type Link } from "./linkformat";
import { Exchange, MessageLayer, peerKey, type MessageParts, type Peer } from "./messagelayer";
import { Code, ContentFormat, DEFAULT_LIMITS, DEFAULT_TRANSPORT, Option, codeClass, type Limits, type TransportParams } from "./numbers";
import { Notifier } from "./notifier";
import { ObserveRegistry } from "./observe";
import { encodeUint, setBlock2, setUint, splitPath, type BlockValue } from "./options";
import {
  DEFAULT_SUCCESS,
  METHOD_BY_CODE,
  handlerFor,
  internalError,
  makeRequest,
  responseParts,
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

export class CoapServer {
  #resources = new Map<string, Resource>();
  #layer: MessageLayer;
  #observe: ObserveRegistry;
  #limits: Limits;
  #now: () => number;
  #log: (message: string) => void;
  #limitLog: LimitLog;
  #async = new Set<AsyncExchange>();
  #notifier: Notifier;
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
    this.#notifier = new Notifier({
      layer: this.#layer,
      observe: this.#observe,
      limits: this.#limits,
      limitLog: this.#limitLog,
      now: this.#now,
      log: this.#log,
      resource: (key) => this.#resources.get(key),
      run: (handler, request, done) => this.#run(handler, request, done),
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
    const probe = this.#observe.nextProbe(this.#notifier.probingFn);
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
      this.#notifier.probe(now);
    } catch (error) {
      this.#log(`tick failed: ${error}`);
    }
  }

  /** The state of the resource at `path` changed: notify its observers. */
  notify(path: string): void {
    try {
      this.#notifier.notify(splitPath(path).join("/"));
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
    const checked = checkRequest(message, this.#limits);
    if ("refusal" in checked) return this.#refuse(exchange, checked.refusal);
    const { path, key, query, block2, accept, contentFormat } = checked.request;
    const resource = this.#resources.get(key);
    if (!resource) return this.#refuse(exchange, { code: Code.NOT_FOUND, diagnostic: "not found" });
    const method = METHOD_BY_CODE.get(message.code);
    const handler = method && handlerFor(resource, method);
    if (!method || !handler) return this.#refuse(exchange, { code: Code.METHOD_NOT_ALLOWED, diagnostic: "method not allowed" });

    if ((method === "PUT" || method === "POST") && contentFormat !== undefined && resource.accepts && !resource.accepts.includes(contentFormat))
      return this.#refuse(exchange, { code: Code.UNSUPPORTED_CONTENT_FORMAT, diagnostic: `content format ${contentFormat} not supported` });
    if (accept !== undefined && resource.produces && !resource.produces.includes(accept))
      return this.#refuse(exchange, { code: Code.NOT_ACCEPTABLE, diagnostic: `cannot produce content format ${accept}` });

    const observe = method === "GET" && resource.observable ? checked.request.observe : undefined;
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
    this.#run(handler, request, (response) => this.#respond(exchange, request, key, response, block2), exchange);
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

  #respond(exchange: Exchange, request: CoapRequest, key: string, response: CoapResponse, block2: BlockValue | undefined): void {
    let parts: Omit<MessageParts, "token">;
    try {
      parts = responseParts(response, DEFAULT_SUCCESS[request.method]);
    } catch (error) {
      this.#log(`bad response from /${key}: ${error}`);
      parts = { code: Code.INTERNAL_SERVER_ERROR, options: [], payload: EMPTY };
    }
    if (request.observe === 0) this.#notifier.registered(key, exchange.peer, request, block2, parts);
    const szx = this.#limits.defaultBlockSzx;
    if (codeClass(parts.code) === 2 && needsBlockwise(parts.payload.length, block2, szx)) {
      const slice = sliceBlock(parts.payload, block2, szx);
      if (!slice) return this.#refuse(exchange, { code: Code.BAD_OPTION, diagnostic: "Block2 past the end" });
      if (slice.block.num === 0) setUint(parts.options, Option.SIZE2, parts.payload.length);
      setBlock2(parts.options, slice.block);
      parts.payload = slice.payload;
    }
    this.#send(exchange, parts);
  }
}

function maxAgeOption(seconds: number): CoapOption {
  return { number: Option.MAX_AGE, value: encodeUint(seconds) };
}
