/*
 * The CoAP server: routes requests to resources and runs their handlers
 * (handlers.ts: synchronous or asynchronous, with a time limit), answers what it
 * cannot serve, adds Block2. What is refused before routing, and the request's
 * options read once, are check.ts's; the common GET is read in one pass by quick.ts,
 * and a CON one whose resource answers what it answered last is answered on the spot
 * (no exchange: RFC 7252 sec 4.5 lets a safe request answered at once be forgotten);
 * notifications (registration, rendering, CON/NON, probes) are notifier.ts's. A
 * resource's last plain answer is kept encoded (resource.ts EncodedAnswer), and
 * notify() from within a handler waits until receive() or tick() returns (a shallow
 * stack on the device).
 *
 * Sans-IO like the layers below it: every entry point is given the time of the call
 * (`now`, ms, monotonic): receive(datagram, peer, now), tick(now), notify(path, now).
 * What a call causes goes out through the injected send() synchronously, during that
 * call. What an asynchronous handler answers later is queued: the server calls
 * wake(), nextDeadline() says it is due at once, and the next tick(now) sends it.
 * Nothing here reads a clock or sets a timer.
 *
 * RFC 7252 sec 5.4.1 (unrecognised critical option in a request: 4.02), 5.4.3 /
 * 5.4.5 (bad length or repetition: treated as unrecognised), 5.7.2 (proxy options:
 * 5.05), 5.8 (methods; an unknown method 4.05), 5.9 (response codes), 5.10.3 /
 * 5.10.4 (4.15 and 4.06), 6.4 (path segments "." and ".." are not allowed: 4.00),
 * 7.2 (/.well-known/core); RFC 7641 sec 3-4 (Observe), RFC 7959 sec 2 (Block2, and
 * Block1 bodies streamed into a resource's Upload: block1.ts; a resource without
 * block1 answers a block-wise request 4.13).
 *
 * Choices: a handler that throws or rejects gets 5.00 (with its message as the
 * diagnostic payload) and is reported through log(); an asynchronous handler
 * that has not settled after limits.asyncHandlerTimeout gets 5.03; a Block2
 * request past the end of the representation gets 4.02.
 */
import { Block1Transfers, withBlock1, type Block1Handler } from "./block1";
import { sliceBlock, needsBlockwise } from "./block2";
import { checkRequest, isRefusal, type CheckedRequest, type Refusal } from "./check";
import { encodeAckTo, type CoapMessage, type CoapOption } from "./codec";
import { Handlers } from "./handlers";
import { LimitLog, type LimitName } from "./limitlog";
import { filterLinks, formatLinks, type Link } from "./linkformat";
import { MessageLayer } from "./messagelayer";
import { Exchange, peerKey, type MessageParts, type Peer } from "./exchange";
import { Code, ContentFormat, DEFAULT_LIMITS, DEFAULT_TRANSPORT, Option, Type, codeClass, type Limits, type TransportParams } from "./numbers";
import { Notifier } from "./notifier";
import { ObserveRegistry } from "./observe";
import { QuickGet, recogniseGet } from "./quick";
import { encodeUint, setBlock2, setUint, splitPath, type BlockValue } from "./options";
import {
  DEFAULT_SUCCESS,
  METHOD_BY_CODE,
  encodeAnswer,
  handlerFor,
  makeRequest,
  responseParts,
  type CoapRequest,
  type CoapResponse,
  type EncodedAnswer,
  type Resource,
} from "./resource";
import { utf8Encode } from "./utf8";

export type { Peer } from "./exchange";
export type { CoapRequest, CoapResponse, Resource, Handler, Method } from "./resource";

export interface ServerOptions {
  /** called synchronously whenever a datagram must go out, with the `now` of the call */
  send(datagram: Uint8Array, peer: Peer, now: number): void;
  /** an asynchronous handler settled: its answer waits for the next tick(now) (DeadlineScheduler.update) */
  wake?(): void;
  /** [0, 1): Message IDs and retransmission jitter; default Math.random */
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
  /** Block1 uploads in progress (at most one per resource) */
  uploads: number;
}

export const WELL_KNOWN_CORE = ".well-known/core";

const EMPTY = new Uint8Array(0);

/** A resource where it is served, with its last plain answer encoded (resource.ts EncodedAnswer). */
interface Route {
  resource: Resource;
  answer?: EncodedAnswer;
}

export class CoapServer {
  #resources = new Map<string, Route>();
  #layer: MessageLayer;
  #observe: ObserveRegistry;
  #limits: Limits;
  #log: (message: string) => void;
  #limitLog: LimitLog;
  /** handlers run, and the asynchronous ones tracked (handlers.ts) */
  #handlers: Handlers<Exchange>;
  #notifier: Notifier;
  /** Block1 uploads in progress, one per resource (block1.ts) */
  #uploads: Block1Transfers;
  /** receive() or tick() calls in progress: notify() from within them waits until they return */
  #busy = 0;
  /** resource keys whose notifications wait for the outermost receive() or tick() to return */
  #changed: string[] = [];
  /** what #answerAtOnce() started but leaves to the general path (an asynchronous answer, or another one than the last) */
  #started: { get: QuickGet; result: CoapResponse | Promise<CoapResponse> } | undefined;
  readonly #send: (datagram: Uint8Array, peer: Peer, now: number) => void;
  /**
   * nextDeadline()'s last answer, kept while nothing it depends on can have moved: every
   * call that may move a deadline (receive(), tick(), notify(), dropPeer(), remove(), an
   * asynchronous handler settling) forgets it, but a GET answered at once, which leaves
   * no state behind. It is asked after every batch of datagrams.
   */
  #due: number | undefined;
  #dueKnown = false;

  constructor(options: ServerOptions) {
    this.#limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#log = options.log ? (m) => options.log!(m) : () => {};
    this.#limitLog = new LimitLog(this.#log);
    const wake = options.wake;
    this.#handlers = new Handlers<Exchange>(this.#limits, this.#log, () => {
      this.#dueKnown = false; // an answer waits: due at once
      wake?.();
    });
    // a RST to a NON notification must still find its observer: track at least one NON per observer
    this.#limits.maxTrackedNon = Math.max(this.#limits.maxTrackedNon, this.#limits.maxObservers);
    const random = options.random ? () => options.random!() : Math.random;
    this.#observe = new ObserveRegistry(this.#limits);
    this.#uploads = new Block1Transfers({ timeoutMs: this.#limits.block1Timeout, preferredSzx: this.#limits.defaultBlockSzx });
    this.#send = (datagram, peer, now) => options.send(datagram, peer, now);
    this.#layer = new MessageLayer({
      send: this.#send,
      random,
      log: this.#log,
      limit: (name, detail, now) => this.#limitLog.hit(name, detail, now),
      limits: this.#limits,
      transport: { ...DEFAULT_TRANSPORT, ...options.transport },
      onRequest: (exchange, now) => this.#handle(exchange, now),
    });
    this.#notifier = new Notifier({
      layer: this.#layer,
      observe: this.#observe,
      limits: this.#limits,
      limitLog: this.#limitLog,
      log: this.#log,
      resource: (key) => this.#resources.get(key)?.resource,
      run: (handler, request, now, done) => this.#handlers.run(handler, request, now, done),
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
    this.#resources.set(key, { resource });
    this.#dueKnown = false;
  }

  remove(path: string): void {
    const key = splitPath(path).join("/");
    this.#resources.delete(key);
    this.#observe.removePath(key);
    this.#dueKnown = false;
  }

  /**
   * Handles one datagram from `peer`, received at `now`; never throws. The datagram is
   * handed over: the caller does not change it afterwards (a GET's request may read its
   * token from it later, quick.ts). The endpoints and the DTLS server give each one a
   * buffer of its own.
   */
  receive(datagram: Uint8Array, peer: Peer, now: number): void {
    this.#busy++;
    let answered = false;
    try {
      // the common GET read in one pass (quick.ts); everything else decoded and checked in full
      const quick = recogniseGet(datagram);
      if (quick === undefined) this.#layer.receive(datagram, peer, now);
      else if (quick.type !== Type.CON || !(answered = this.#answerAtOnce(quick, datagram, peer, now))) {
        quick.keep(); // an exchange keeps it past this call
        this.#layer.receiveRequest(quick, peer, now);
      }
    } catch (error) {
      this.#log(`receive failed: ${error}`);
    }
    if (!answered) this.#dueKnown = false;
    this.#started = undefined;
    this.#busy--;
    if (this.#changed.length > 0 && this.#busy === 0) this.#notifyChanged(now);
  }

  /** Absolute time (ms, the callers' clock) of the next retransmission or expiry; -Infinity while answers wait to go out. */
  nextDeadline(): number | undefined {
    if (this.#dueKnown) return this.#due;
    this.#due = this.#deadline();
    this.#dueKnown = true;
    return this.#due;
  }

  #deadline(): number | undefined {
    // what is idle (no handler running, no upload, no observer) costs one read
    const handlers = this.#handlers;
    if (handlers.waiting) return -Infinity;
    let next = this.#layer.nextDeadline();
    if (handlers.running > 0) {
      const handler = handlers.nextDeadline();
      if (handler !== undefined && (next === undefined || handler < next)) next = handler;
    }
    if (this.#uploads.size > 0) {
      const upload = this.#uploads.nextDeadline();
      if (upload !== undefined && (next === undefined || upload < next)) next = upload;
    }
    // a probe waits while the pending table is full: an answer or a timeout (the layer's deadline) frees a place
    if (this.#observe.size > 0 && this.#layer.canConfirm()) {
      const probe = this.#observe.nextProbe(this.#notifier.probingFn);
      if (probe !== undefined && (next === undefined || probe < next)) next = probe;
    }
    return next;
  }

  /** Sends what asynchronous handlers answered, then does the work due at `now`; never throws. */
  tick(now: number): void {
    this.#busy++;
    try {
      this.#handlers.tick(now, (exchange, at) => {
        this.#log(`handler timed out for ${peerKey(exchange.peer)}`);
        this.#refuse(exchange, { code: Code.SERVICE_UNAVAILABLE, diagnostic: "handler timed out" }, at);
      });
      this.#layer.tick(now);
      this.#notifier.probe(now);
      if (this.#uploads.size > 0) for (const key of this.#uploads.expire(now)) this.#log(`upload to /${key} dropped: no block for ${this.#limits.block1Timeout} ms`);
    } catch (error) {
      this.#log(`tick failed: ${error}`);
    }
    this.#dueKnown = false;
    this.#busy--;
    if (this.#changed.length > 0 && this.#busy === 0) this.#notifyChanged(now);
  }

  /**
   * The state of the resource at `path` changed at `now`: notify its observers. Called
   * from a handler (a PUT that changed the state), the notifications go out when the
   * server's receive() or tick() returns to its caller, still within that call, rather
   * than from the depths of the handler: on the device the JavaScript stack is small.
   */
  notify(path: string, now: number): void {
    const key = splitPath(path).join("/");
    if (this.#busy > 0) {
      if (!this.#changed.includes(key)) this.#changed.push(key);
      return;
    }
    try {
      this.#notifier.notify(key, now);
    } catch (error) {
      this.#log(`notify ${path} failed: ${error}`);
    }
    this.#dueKnown = false; // (a change noted while busy is notified here too, from #notifyChanged)
  }

  /** The notifications that changes made during receive() or tick() asked for. */
  #notifyChanged(now: number): void {
    const changed = this.#changed;
    this.#changed = [];
    for (let i = 0; i < changed.length; i++) this.notify(changed[i], now);
  }

  /** Forgets the observers and exchanges of a peer (its DTLS session closed at `now`). */
  dropPeer(peer: Peer, now: number): void {
    this.#observe.dropPeer(peerKey(peer));
    this.#layer.dropPeer(peer, now);
    this.#dueKnown = false;
  }

  stats(): ServerStats {
    return {
      ...this.#layer.stats(),
      observers: this.#observe.size,
      asyncExchanges: this.#handlers.running,
      resources: this.#resources.size,
      uploads: this.#uploads.size,
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
    for (const [path, { resource }] of this.#resources) {
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

  #handle(exchange: Exchange, now: number): void {
    const message = exchange.request;
    if (message instanceof QuickGet) return this.#handleGet(exchange, message, now);
    const checked = checkRequest(message, this.#limits);
    if (isRefusal(checked)) return this.#refuse(exchange, checked, now);
    const block1 = checked.block1;
    const { key, block2, accept, contentFormat } = checked;
    const route = this.#resources.get(key);
    if (!route) return this.#refuse(exchange, { code: Code.NOT_FOUND, diagnostic: "not found" }, now);
    const resource = route.resource;
    const method = METHOD_BY_CODE.get(message.code);
    const handler = method && handlerFor(resource, method);
    const uploads = block1 !== undefined && (method === "PUT" || method === "POST") ? resource.block1 : undefined;
    if (!method || (!handler && !uploads)) return this.#refuse(exchange, { code: Code.METHOD_NOT_ALLOWED, diagnostic: "method not allowed" }, now);

    if ((method === "PUT" || method === "POST") && contentFormat !== undefined && resource.accepts && !resource.accepts.includes(contentFormat))
      return this.#refuse(exchange, { code: Code.UNSUPPORTED_CONTENT_FORMAT, diagnostic: `content format ${contentFormat} not supported` }, now);
    if (accept !== undefined && resource.produces && !resource.produces.includes(accept))
      return this.#refuse(exchange, { code: Code.NOT_ACCEPTABLE, diagnostic: `cannot produce content format ${accept}` }, now);

    if (uploads !== undefined) return this.#upload(exchange, key, uploads, method as "PUT" | "POST", checked as CheckedRequest, message, now);
    if (block1 !== undefined && (block1.num > 0 || block1.more || message.payload.length > this.#limits.maxRequestPayload)) {
      return this.#refuse(exchange, { code: Code.REQUEST_ENTITY_TOO_LARGE, diagnostic: "no block-wise requests", options: [{ number: Option.SIZE1, value: encodeUint(this.#limits.maxRequestPayload) }] }, now);
    }
    if (!handler) return this.#refuse(exchange, { code: Code.METHOD_NOT_ALLOWED, diagnostic: "method not allowed" }, now);

    const observe = method === "GET" && resource.observable ? checked.observe : undefined;
    // deregistration takes effect on receipt; the GET is then answered as usual (RFC 7641 sec 3.6)
    if (observe === 1) this.#observe.deregister(key, exchange.peer, message.token);

    // per resource: a slow resource (a sensor conversion) cannot starve the others
    if (this.#handlers.full(key)) return this.#refuseBusy(exchange, key, now);

    const request = makeRequest(method, checked, observe, message, exchange.peer);
    const result = this.#handlers.call(handler, request);
    // a synchronous answer (the common case) goes out at once, without a callback made for it
    if (!(result instanceof Promise)) return this.#respond(exchange, request, route, key, result, block2, now);
    this.#handlers.await(result, request, now, (response, at) => this.#respond(exchange, request, route, key, response, block2, at), exchange);
  }

  /**
   * The common CON GET answered on the spot, piggybacked, when its resource answers
   * synchronously what it answered last (the route's encoded answer): no exchange, no
   * message layer, which would keep nothing for it (a safe request answered at once
   * is not remembered, RFC 7252 sec 4.5) unless it remembers a safe request now.
   * False: the general path takes it, with the handler's result if it already ran.
   */
  #answerAtOnce(get: QuickGet, datagram: Uint8Array, peer: Peer, now: number): boolean {
    if (this.#layer.remembersSafe) return false;
    const key = get.key;
    const route = this.#resources.get(key);
    const answer = route?.answer;
    const handler = route?.resource.get;
    if (answer === undefined || handler === undefined || this.#handlers.full(key)) return false;
    get.peer = peer;
    const result = this.#handlers.call(handler, get);
    if (result instanceof Promise || !answer.matches(result, Code.CONTENT)) {
      this.#started = { get, result };
      return false;
    }
    this.#send(encodeAckTo(datagram, answer.code, answer.parts.body!), peer, now);
    return true;
  }

  /**
   * The common GET (quick.ts): the general path's steps that can apply to it and no
   * others, since it has no options but its path (no Accept, Observe, Block or
   * Content-Format to weigh).
   */
  #handleGet(exchange: Exchange, get: QuickGet, now: number): void {
    const key = get.key;
    const route = this.#resources.get(key);
    if (!route) return this.#refuse(exchange, { code: Code.NOT_FOUND, diagnostic: "not found" }, now);
    const handler = route.resource.get;
    if (!handler) return this.#refuse(exchange, { code: Code.METHOD_NOT_ALLOWED, diagnostic: "method not allowed" }, now);
    if (this.#handlers.full(key)) return this.#refuseBusy(exchange, key, now);
    const started = this.#started?.get === get ? this.#started : undefined;
    get.peer = exchange.peer;
    const result = started ? started.result : this.#handlers.call(handler, get);
    if (!(result instanceof Promise)) return this.#respond(exchange, get, route, key, result, undefined, now);
    this.#handlers.await(result, get, now, (response, at) => this.#respond(exchange, get, route, key, response, undefined, at), exchange);
  }

  /** A resource with its limit of asynchronous handlers running: its new requests get 5.03 (logged once per episode). */
  #refuseBusy(exchange: Exchange, key: string, now: number): void {
    this.#limitLog.hit("async-handlers", `${this.#limits.maxAsyncExchanges} asynchronous handlers running for /${key}: its new requests get 5.03`, now);
    this.#refuse(exchange, { code: Code.SERVICE_UNAVAILABLE, diagnostic: "busy", options: [maxAgeOption(1)] }, now);
  }

  /** One block of a block-wise PUT/POST body (block1.ts): 2.31, a refusal, or the upload's own answer once the body is whole. */
  #upload(exchange: Exchange, key: string, uploads: Block1Handler, method: "PUT" | "POST", checked: CheckedRequest, message: CoapMessage, now: number): void {
    const request = makeRequest(method, checked, undefined, message, exchange.peer);
    let step;
    try {
      step = this.#uploads.step(key, uploads, request, checked.block1!, checked.size1, `${peerKey(exchange.peer)}#${checked.requestTag ?? ""}`, now);
    } catch (error) {
      this.#log(`upload to /${key} failed: ${error}`);
      return this.#refuse(exchange, { code: Code.INTERNAL_SERVER_ERROR, diagnostic: "upload failed" }, now);
    }
    const defaultCode = DEFAULT_SUCCESS[method];
    if (step.kind === "answer") return this.#sendResponse(exchange, key, step.response, defaultCode, now);
    const { upload, block } = step;
    const result = this.#handlers.call((whole) => upload.end(whole), request);
    if (!(result instanceof Promise)) return this.#sendResponse(exchange, key, withBlock1(result, block), defaultCode, now);
    this.#handlers.await(result, request, now, (response, at) => this.#sendResponse(exchange, key, withBlock1(response, block), defaultCode, at), exchange);
  }

  #sendResponse(exchange: Exchange, key: string, response: CoapResponse, defaultCode: number, now: number): void {
    this.#sendParts(exchange, this.#partsOf(key, response, defaultCode), now);
  }

  /** A handler's response as message parts; a bare 5.00 (logged) when it cannot be encoded. */
  #partsOf(key: string, response: CoapResponse, defaultCode: number): Omit<MessageParts, "token"> {
    try {
      return responseParts(response, defaultCode);
    } catch (error) {
      this.#log(`bad response from /${key}: ${error}`);
      return { code: Code.INTERNAL_SERVER_ERROR, options: [], payload: EMPTY };
    }
  }

  #refuse(exchange: Exchange, refusal: Refusal, now: number): void {
    this.#sendParts(exchange, {
      code: refusal.code,
      options: refusal.options ?? [],
      payload: utf8Encode(refusal.diagnostic),
    }, now);
  }

  /** Sends, falling back to a bare 5.00 when the handler's response cannot be encoded. */
  #sendParts(exchange: Exchange, parts: Omit<MessageParts, "token">, now: number): void {
    try {
      exchange.respond(parts, now);
    } catch (error) {
      this.#log(`cannot send response: ${error}`);
      exchange.respond({ code: Code.INTERNAL_SERVER_ERROR, options: [], payload: EMPTY }, now);
    }
  }

  #respond(exchange: Exchange, request: CoapRequest, route: Route, key: string, response: CoapResponse, block2: BlockValue | undefined, now: number): void {
    const defaultCode = DEFAULT_SUCCESS[request.method];
    // the common case, a plain answer that is not a registration's nor a block: the last one's bytes, or new ones kept for next time
    if (request.observe !== 0 && block2 === undefined) {
      const answer = route.answer !== undefined && route.answer.matches(response, defaultCode) ? route.answer : this.#encodeAnswer(route, response, defaultCode);
      if (answer) return this.#sendParts(exchange, answer.parts, now);
    }
    const parts = this.#partsOf(key, response, defaultCode);
    if (request.observe === 0) this.#notifier.registered(key, exchange.peer, request, block2, parts, now);
    const szx = this.#limits.defaultBlockSzx;
    if (codeClass(parts.code) === 2 && needsBlockwise(parts.payload.length, block2, szx)) {
      const slice = sliceBlock(parts.payload, block2, szx);
      if (!slice) return this.#refuse(exchange, { code: Code.BAD_OPTION, diagnostic: "Block2 past the end" }, now);
      if (slice.block.num === 0) setUint(parts.options, Option.SIZE2, parts.payload.length);
      setBlock2(parts.options, slice.block);
      parts.payload = slice.payload;
    }
    this.#sendParts(exchange, parts, now);
  }

  /** A plain answer small enough for one message, encoded and kept as the route's last; undefined for any other (or a bad one: #respond says why). */
  #encodeAnswer(route: Route, response: CoapResponse, defaultCode: number): EncodedAnswer | undefined {
    let answer: EncodedAnswer | undefined;
    try {
      answer = encodeAnswer(response, defaultCode);
    } catch {
      return undefined;
    }
    if (answer === undefined || needsBlockwise(answer.size, undefined, this.#limits.defaultBlockSzx)) return undefined;
    route.answer = answer;
    return answer;
  }
}

function maxAgeOption(seconds: number): CoapOption {
  return { number: Option.MAX_AGE, value: encodeUint(seconds) };
}
