/*
 * The CoAP client: requests with tokens, request/response matching, separate
 * responses, timeouts and Block2 reassembly, over the same message layer the
 * server uses (Message IDs, CON retransmission, deduplication). Sans-IO like the
 * server: every entry point is given the time of the call (`now`, ms):
 * request(options, now), receive(datagram, peer, now), tick(now); what a call causes
 * goes out through the injected send() synchronously, during it, and a request's
 * promise settles during the receive() or tick() that decides it. The transport is
 * whatever send() reaches: a UDP socket (endpoint.ts) or a DTLS client session.
 *
 * RFC 7252 sec 4.2 / 4.8 (CON retransmission: the message layer), 5.2.1 /
 * 5.2.2 (piggybacked and separate responses; a separate CON response is
 * acknowledged), 5.3.1 (tokens: random, unique among the client's outstanding
 * requests), 5.3.2 (matching: token and endpoint; for a piggybacked response
 * also the Message ID; a response with an unknown token is rejected with RST),
 * 6.4 (URI -> options, in uri.ts), RFC 7959 sec 2.4 / 3.1 (Block2: the client
 * asks for block NUM+1 until M=0, the size the server chose is kept, an ETag
 * change mid-transfer is an error), sec 2.1 Size2 (a body announced larger than
 * the client will keep is refused before fetching it).
 *
 * Choices: every request is an exchange with one deadline (`timeout`, default
 * EXCHANGE_LIFETIME) covering all its retransmissions, the wait for a separate
 * response and every block; a CON that the message layer gives up on (after
 * MAX_RETRANSMIT) ends the exchange earlier. Each Block2 follow-up gets a new
 * token. State is bounded: `maxExchanges` outstanding requests (more are
 * refused at once with "busy"), `maxBody` bytes per reassembled body.
 */
import type { CoapMessage, CoapOption } from "./codec";
import { LimitLog, type LimitName } from "./limitlog";
import { MessageLayer } from "./messagelayer";
import { peerKey, tokenKey, type ConOutcome, type Peer } from "./exchange";
import { joined, sameBytes, takeBlock, type Reassembly } from "./block2";
import { Code, DEFAULT_LIMITS, DEFAULT_TRANSPORT, Option, codeClass, type TransportParams } from "./numbers";
import { getBlock2, getContentFormat, getOption, getStrings, getUint, setBlock2 } from "./options";
import { METHOD_BY_CODE } from "./resource";
import { requestParts, type RequestOptions, type RequestParts } from "./request";
import { utf8Decode } from "./utf8";

export type { Peer } from "./exchange";
export type { RequestOptions } from "./request";

export const MAX_CLIENT_EXCHANGES = 8;
export const MAX_RESPONSE_BODY = 4096;
/** deduplication entries for separate responses (4-byte ACKs each) */
export const MAX_CLIENT_DEDUP = 16;

export interface ClientLimits {
  /** requests outstanding at once; beyond it request() rejects with "busy" */
  maxExchanges: number;
  /** bytes a Block2 body may reach; beyond it the request rejects with "too-large" */
  maxBody: number;
  /** ms an exchange may take in all (retransmissions, separate response, blocks) */
  timeout: number;
  /** separate responses remembered for deduplication */
  maxDedupEntries: number;
}

export const DEFAULT_CLIENT_LIMITS: Readonly<ClientLimits> = Object.freeze({
  maxExchanges: MAX_CLIENT_EXCHANGES,
  maxBody: MAX_RESPONSE_BODY,
  timeout: DEFAULT_TRANSPORT.exchangeLifetime,
  maxDedupEntries: MAX_CLIENT_DEDUP,
});

export interface ClientOptions {
  /** called synchronously whenever a datagram must go out, with the `now` of the call */
  send(datagram: Uint8Array, peer: Peer, now: number): void;
  /** [0, 1): tokens, Message IDs, retransmission jitter */
  random?(): number;
  log?(message: string): void;
  /** where requests go when they name no peer */
  peer?: Peer;
  limits?: Partial<ClientLimits>;
  transport?: Partial<TransportParams>;
  /** request() may have made an earlier deadline: re-arm the timer (DeadlineScheduler.update) */
  onDeadlineChange?(): void;
}

export interface ClientResponse {
  code: number;
  /** the options of the (last) response */
  options: readonly CoapOption[];
  /** the whole body (Block2 reassembled) */
  payload: Uint8Array;
  peer: Peer;
  contentFormat?: number;
  /** Location-Path segments (2.01 Created) */
  locationPath: string[];
  /** Max-Age in seconds, when given */
  maxAge?: number;
  /** the payload as UTF-8 text, or undefined when it is not valid UTF-8 */
  text(): string | undefined;
}

export type ClientErrorReason =
  | "timeout" // no (complete) response within the exchange's time, or the CON was never acknowledged
  | "reset" // the peer rejected the request with RST
  | "busy" // maxExchanges requests outstanding
  | "too-large" // the Block2 body would pass maxBody
  | "bad-block" // a Block2 response out of sequence, or its ETag changed
  | "cancelled" // cancel(), or the message layer gave the CON up (too many pending)
  | "closed" // close()
  | "invalid"; // the request cannot be encoded

export class CoapClientError extends Error {
  /** a class field, not an assignment: the SDK freezes Error.prototype, so `this.name = ...` throws there */
  override readonly name = "CoapClientError";
  readonly reason: ClientErrorReason;
  constructor(reason: ClientErrorReason, detail?: string) {
    super(detail ? `CoAP request ${reason}: ${detail}` : `CoAP request ${reason}`);
    this.reason = reason;
  }
}

export interface ClientStats {
  exchanges: number;
  pending: number;
  dedup: number;
  /** unexpected or malformed datagrams and full tables since start, by kind (each logged once per episode) */
  limitHits: Partial<Record<LimitName, number>>;
}

const EMPTY = new Uint8Array(0);

interface Outstanding {
  key: string;
  peer: Peer;
  token: Uint8Array;
  code: number;
  options: CoapOption[];
  payload: Uint8Array;
  confirmable: boolean;
  deadline: number;
  /** Message ID of our CON while the message layer retransmits it */
  mid?: number;
  /** Block2 reassembly */
  body: Reassembly;
  resolve(response: ClientResponse): void;
  reject(error: CoapClientError): void;
}

export class CoapClient {
  #options: ClientOptions;
  #limits: ClientLimits;
  #layer: MessageLayer;
  #random: () => number;
  #log: (message: string) => void;
  #limitLog: LimitLog;
  /** by peer + token */
  #exchanges = new Map<string, Outstanding>();
  #closed = false;

  constructor(options: ClientOptions) {
    this.#options = options;
    this.#limits = { ...DEFAULT_CLIENT_LIMITS, ...options.limits };
    this.#log = options.log ? (m) => options.log!(m) : () => {};
    this.#limitLog = new LimitLog(this.#log);
    this.#random = options.random ? () => options.random!() : Math.random;
    const transport = { ...DEFAULT_TRANSPORT, ...options.transport };
    this.#layer = new MessageLayer({
      send: (datagram, peer, now) => options.send(datagram, peer, now),
      random: this.#random,
      log: this.#log,
      limit: (name, detail, now) => this.#limitLog.hit(name, detail, now),
      limits: {
        ...DEFAULT_LIMITS,
        maxDedupEntries: this.#limits.maxDedupEntries,
        maxDedupPerPeer: this.#limits.maxDedupEntries,
        maxDedupBytes: this.#limits.maxDedupEntries * 16,
        maxPendingCon: this.#limits.maxExchanges,
      },
      transport,
      // a client serves nothing: a request that reaches it is answered 4.04
      onRequest: (exchange, now) => exchange.respond({ code: Code.NOT_FOUND, options: [], payload: EMPTY }, now),
      onResponse: (message, peer, now) => this.#separate(message, peer, now),
    });
  }

  /** Sends a request at `now`; resolves with the (reassembled) response, rejects with CoapClientError. */
  request(request: RequestOptions, now: number): Promise<ClientResponse> {
    return new Promise<ClientResponse>((resolve, reject) => {
      const fail = (reason: ClientErrorReason, detail?: string) => reject(new CoapClientError(reason, detail));
      if (this.#closed) return fail("closed");
      const peer = request.peer ?? this.#options.peer;
      if (!peer) return fail("invalid", "no peer");
      let parts: RequestParts;
      try {
        parts = requestParts(request);
      } catch (error) {
        return fail("invalid", String(error));
      }
      if (this.#exchanges.size >= this.#limits.maxExchanges) return fail("busy", `${this.#exchanges.size} requests outstanding`);
      const { code, options, payload } = parts;
      const exchange: Outstanding = {
        key: "",
        peer,
        token: EMPTY,
        code,
        options,
        payload,
        confirmable: request.confirmable !== false,
        deadline: now + (request.timeout ?? this.#limits.timeout),
        body: { chunks: [], received: 0 },
        resolve,
        reject,
      };
      try {
        this.#transmit(exchange, now);
      } catch (error) {
        this.#exchanges.delete(exchange.key);
        return fail("invalid", String(error));
      }
      this.#options.onDeadlineChange?.();
    });
  }

  /** Handles one datagram from the transport, received at `now`; never throws. */
  receive(datagram: Uint8Array, peer: Peer, now: number): void {
    try {
      this.#layer.receive(datagram, peer, now);
    } catch (error) {
      this.#log(`client receive failed: ${error}`);
    }
  }

  nextDeadline(): number | undefined {
    let next = this.#layer.nextDeadline();
    for (const exchange of this.#exchanges.values()) if (next === undefined || exchange.deadline < next) next = exchange.deadline;
    return next;
  }

  /** Retransmissions and timeouts due at `now`; never throws. */
  tick(now: number): void {
    try {
      this.#layer.tick(now);
      const expired: Outstanding[] = [];
      for (const exchange of this.#exchanges.values()) if (exchange.deadline <= now) expired.push(exchange);
      for (const exchange of expired) this.#fail(exchange, now, "timeout", "no response in time");
    } catch (error) {
      this.#log(`client tick failed: ${error}`);
    }
  }

  /** Rejects every outstanding request with `reason` at `now` (e.g. a DTLS session closed). */
  cancelAll(now: number, reason: ClientErrorReason = "cancelled"): void {
    for (const exchange of Array.from(this.#exchanges.values())) this.#fail(exchange, now, reason);
  }

  /** Rejects everything outstanding with "closed" at `now`; later requests reject at once. */
  close(now: number): void {
    this.#closed = true;
    this.cancelAll(now, "closed");
  }

  stats(): ClientStats {
    const layer = this.#layer.stats();
    return { exchanges: this.#exchanges.size, pending: layer.pending, dedup: layer.dedup, limitHits: this.#limitLog.counts() };
  }

  // ---- internals ----

  /** A token no outstanding request to this peer uses (sec 5.3.1: random, 4 bytes). */
  #newToken(peer: Peer): { token: Uint8Array; key: string } {
    const owner = peerKey(peer);
    for (let attempt = 0; ; attempt++) {
      const token = new Uint8Array(4);
      for (let i = 0; i < 4; i++) token[i] = Math.floor(this.#random() * 256) & 0xff;
      // a bad random source must not loop forever: after a few tries make it unique by counting
      if (attempt >= 8) token[3] = (token[3] + attempt) & 0xff;
      const key = tokenKey(owner, token);
      if (!this.#exchanges.has(key) || attempt >= 8 + 256) return { token, key };
    }
  }

  /** Sends the exchange's current request (the first, or the next Block2) under a fresh token. */
  #transmit(exchange: Outstanding, now: number): void {
    if (exchange.key) this.#exchanges.delete(exchange.key);
    const { token, key } = this.#newToken(exchange.peer);
    exchange.token = token;
    exchange.key = key;
    this.#exchanges.set(key, exchange);
    const parts = { code: exchange.code, token, options: exchange.options, payload: exchange.payload };
    if (exchange.confirmable) {
      const mid: number = this.#layer.sendConfirmable(parts, exchange.peer, now, {
        onDone: (outcome, at, reply) => this.#conDone(exchange, mid, outcome, at, reply),
      });
      exchange.mid = mid; // onDone never runs inside sendConfirmable for the CON it sends
    } else {
      exchange.mid = undefined;
      this.#layer.sendNonConfirmable(parts, exchange.peer, now, () => {
        // a RST comes within receive(): its time is the exchange's last; cancel() has nothing to stop for a NON
        if (this.#exchanges.get(key) === exchange) this.#fail(exchange, now, "reset", "NON request rejected");
      });
    }
  }

  #conDone(exchange: Outstanding, mid: number, outcome: ConOutcome, now: number, reply?: CoapMessage): void {
    if (this.#exchanges.get(exchange.key) !== exchange || exchange.mid !== mid) return; // settled meanwhile
    exchange.mid = undefined;
    switch (outcome) {
      case "ack":
        if (reply && reply.code !== Code.EMPTY) {
          // piggybacked: matched by Message ID here, and the token must be ours too (sec 5.3.2)
          if (!sameBytes(reply.token, exchange.token)) {
            this.#limitLog.hit("unexpected", `piggybacked response with a foreign token from ${peerKey(exchange.peer)}: ignored`, now);
            return; // the exchange waits on; a separate response may still come, or the deadline
          }
          this.#response(exchange, reply, now);
        }
        // an Empty ACK: the response comes separately (sec 5.2.2), within the exchange's deadline
        return;
      case "reset":
        return this.#fail(exchange, now, "reset", "request rejected with RST");
      case "timeout":
        return this.#fail(exchange, now, "timeout", "CON not acknowledged");
      case "cancelled":
        return this.#fail(exchange, now, "cancelled");
    }
  }

  /** A CON or NON response from the message layer: ours (true) or unknown (false: RST). */
  #separate(message: CoapMessage, peer: Peer, now: number): boolean {
    const exchange = this.#exchanges.get(tokenKey(peerKey(peer), message.token));
    if (!exchange) {
      this.#limitLog.hit("unexpected", `response ${message.mid} with an unknown token from ${peerKey(peer)}: rejected`, now);
      return false;
    }
    if (exchange.mid !== undefined) {
      // the response overtook the ACK of our request (or the ACK was lost): stop retransmitting
      const mid = exchange.mid;
      exchange.mid = undefined;
      this.#layer.cancel(exchange.peer, mid, now);
    }
    this.#response(exchange, message, now);
    return true;
  }

  #response(exchange: Outstanding, message: CoapMessage, now: number): void {
    const block = codeClass(message.code) === 2 ? getBlock2(message.options) : undefined;
    if (!block) {
      if (exchange.body.received > 0) return this.#fail(exchange, now, "bad-block", "a later block came without Block2");
      return this.#finish(exchange, message, message.payload);
    }
    const step = takeBlock(exchange.body, block, message.options, message.payload, this.#limits.maxBody);
    if ("error" in step) return this.#fail(exchange, now, step.error, step.detail);
    if ("body" in step) return this.#finish(exchange, message, step.body);
    // RFC 7959 sec 2.5 lets the client GET the rest of a POST/PUT answer; we keep the first block
    if (METHOD_BY_CODE.get(exchange.code) !== "GET") return this.#finish(exchange, message, joined(exchange.body));
    // next block: same request, Block2 NUM+1 at the server's size (sec 2.4)
    setBlock2(exchange.options, step.next);
    try {
      this.#transmit(exchange, now);
    } catch (error) {
      this.#fail(exchange, now, "invalid", String(error));
    }
  }

  #finish(exchange: Outstanding, message: CoapMessage, payload: Uint8Array): void {
    this.#exchanges.delete(exchange.key);
    const locationPath = getStrings(message.options, Option.LOCATION_PATH) ?? [];
    const maxAge = getOption(message.options, Option.MAX_AGE) === undefined ? undefined : getUint(message.options, Option.MAX_AGE);
    exchange.resolve({
      code: message.code,
      options: message.options,
      payload,
      peer: exchange.peer,
      contentFormat: getContentFormat(message.options),
      locationPath,
      maxAge,
      text: () => utf8Decode(payload),
    });
  }

  #fail(exchange: Outstanding, now: number, reason: ClientErrorReason, detail?: string): void {
    if (this.#exchanges.get(exchange.key) !== exchange) return;
    this.#exchanges.delete(exchange.key);
    if (exchange.mid !== undefined) {
      const mid = exchange.mid;
      exchange.mid = undefined;
      this.#layer.cancel(exchange.peer, mid, now);
    }
    exchange.reject(new CoapClientError(reason, detail));
  }
}
