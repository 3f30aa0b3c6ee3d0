/*
 * The message layer: Message IDs, ACK/RST, deduplication and CON retransmission.
 * Sans-IO: datagrams come in through receive(datagram, peer, now), go out through the
 * injected send() synchronously, during the call that caused them (never later, never
 * from a timer of its own); time is the `now` (ms, monotonic) each call is given, and
 * timed work is done in tick(now) at the deadline nextDeadline() names. (aiocoap's
 * messagemanager.py is the model.)
 *
 * RFC 7252 sec 4.2 (CON, ACK, reject with RST), 4.3 (NON), 4.4 (Message IDs),
 * 4.5 (deduplication for EXCHANGE_LIFETIME / NON_LIFETIME), 4.8 (retransmission
 * timing), 5.2.1 / 5.2.2 (piggybacked and separate responses), 4.3 (ping: an
 * Empty CON is answered by RST).
 *
 * Choices:
 * - A malformed CON whose header is readable is rejected with RST (sec 4.2:
 *   "message format error" is one of the cases to reject); anything else
 *   malformed is dropped silently (sec 3: unknown version is ignored).
 * - A response (2.xx-5.xx) arriving as CON or NON is rejected with RST when
 *   no onResponse is given (a server never sends requests, so its token is
 *   unknown, sec 5.3.2); a client (client.ts) gives one, and a response it
 *   knows is deduplicated and acknowledged like a request.
 * - Piggybacked or separate responses: exchange.ts.
 * - A duplicate CON of a remembered request gets the bytes cached for it
 *   (piggybacked response or Empty ACK) again, unchanged; a duplicate NON is
 *   dropped. Such a handler never runs twice.
 * - Deduplication within bounded memory, exact where it matters (dedup.ts has the
 *   rules): a request that must not run twice is remembered for its lifetime in its
 *   peer's share, so a flood from other peers cannot take its room; when the cache
 *   has no room for one it is not run and gets 5.03 with a Max-Age saying when room
 *   frees up (sec 4.5's conservative answer). GET and FETCH, harmless to run again
 *   (sec 4.5 relaxes the rule for them), are not remembered when answered at once: a
 *   duplicate is answered by running them again, and the common GET costs no cache
 *   work. One answered separately is remembered (its Empty ACK), while the cache is
 *   under half full. Responses to our requests are remembered the same way.
 * - Message IDs (sec 4.4) are unpredictable to other peers: each peer gets its own
 *   sequence from a random start (at most MAX_MID_PEERS, or maxObservers when larger,
 *   remembered, oldest first), so
 *   a co-observer that learns its own IDs cannot forge a RST for someone else's. A
 *   sequence also numbers its peer, and our tracked NONs are filed under that number
 *   (tracked.ts): a peer whose sequence is forgotten takes them along, and a RST to
 *   one of them is ignored, as one to a NON past NON_LIFETIME.
 * - The same NON to many peers (an Observe fan-out) goes in one call,
 *   sendNonConfirmables(): encoded once per token length, stamped per peer.
 */
import { DedupCache, isSafe, type DedupVerdict } from "./dedup";
import type { LimitName } from "./limitlog";
import { CoapFormatError, decode, emptyMessage, encode, encodeWithBody, restamp, type CoapMessage, type CoapOption } from "./codec";
import { Code, Type, isResponseCode, maxTransmitWait, type Limits, type TransportParams } from "./numbers";
import { setMaxAge } from "./options";
import { TrackedNons, nonKey, type ResetHandler } from "./tracked";
import { Exchange, encodeParts, midKey, peerKey, type ConOutcome, type ExchangeLink, type MessageParts, type Peer, type SendConOptions } from "./exchange";

/** codes 0.01-0.31 are requests (RFC 7252 sec 12.1): 1.00 is the first past them */
const FIRST_RESPONSE_CODE = 0x20;

/** peers whose Message ID sequence is remembered; a peer beyond it gets a fresh random start */
export const MAX_MID_PEERS = 64;

const EMPTY_PAYLOAD = new Uint8Array(0);

export interface MessageLayerOptions {
  /** called synchronously, with the `now` of the call that sends */
  send(datagram: Uint8Array, peer: Peer, now: number): void;
  random(): number;
  log(message: string): void;
  /** a bounded table overflowed (the server logs it once per episode); log() when absent */
  limit?(name: LimitName, detail: string, now: number): void;
  limits: Limits;
  transport: TransportParams;
  /** a request (CON or NON) that is not a duplicate, received at `now` */
  onRequest(exchange: Exchange, now: number): void;
  /**
   * A response (2.xx-5.xx) that came as CON or NON and is not a duplicate: a
   * client's separate response (sec 5.2.2). Returns whether its token was known:
   * a known one is acknowledged (CON), an unknown one rejected with RST (sec
   * 5.3.2). Without this callback every such response is rejected (a server).
   */
  onResponse?(response: CoapMessage, peer: Peer, now: number): boolean;
}

/** Who a NON of a group goes to (sendNonConfirmables): an observer is one. */
export interface NonTarget {
  readonly peer: Peer;
  /** peerKey(peer), kept by the caller */
  readonly peerKey: string;
  readonly token: Uint8Array;
}

/** A peer's Message ID sequence, and the number its tracked NONs are filed under (nonKey). */
interface MidSequence {
  next: number;
  readonly peer: number;
}

interface PendingCon {
  peer: Peer;
  peerKey: string;
  mid: number;
  bytes: Uint8Array;
  retransmissions: number;
  timeout: number;
  deadline: number;
  onDone?(outcome: ConOutcome, now: number, reply?: CoapMessage): void;
}

export class MessageLayer {
  #options: MessageLayerOptions;
  /** the next Message ID per peer key, oldest peer first (a record each: one lookup per message, no Map.set) */
  #nextMids = new Map<string, MidSequence>();
  /** the number the next new sequence gets */
  #peerNumbers = 0;
  /** peer + Message ID of requests received, and the replies to send again */
  #dedup: DedupCache;
  /** our CONs awaiting ACK/RST, keyed by peer + Message ID, oldest first */
  #pending = new Map<string, PendingCon>();
  /** our recent NONs, so that a RST to one reaches whoever sent it */
  #trackedNon: TrackedNons;
  /** peers whose Message ID sequence is remembered: MAX_MID_PEERS, or every observer when there may be more */
  #midPeers: number;

  #limit: (name: LimitName, detail: string, now: number) => void;

  #link: ExchangeLink;

  constructor(options: MessageLayerOptions) {
    this.#options = options;
    this.#dedup = new DedupCache(options.limits, options.transport);
    this.#trackedNon = new TrackedNons(options.limits.maxTrackedNon);
    this.#midPeers = Math.max(MAX_MID_PEERS, options.limits.maxObservers);
    this.#limit = options.limit ? (name, detail, now) => options.limit!(name, detail, now) : (_name, detail) => options.log(detail);
    this.#link = {
      reply: (dedupKey, bytes, peer, now) => this.#reply(dedupKey, bytes, peer, now),
      sendConfirmable: (parts, peer, now, sendOptions) => this.sendConfirmable(parts, peer, now, sendOptions),
      sendNonConfirmable: (parts, peer, now) => this.sendNonConfirmable(parts, peer, now),
      log: (message) => options.log(message),
    };
  }

  /** One datagram from `peer`, received at `now`. */
  receive(datagram: Uint8Array, peer: Peer, now: number): void {
    let message: CoapMessage;
    try {
      message = decode(datagram);
    } catch (error) {
      if (error instanceof CoapFormatError) {
        if (error.type === Type.CON && error.mid !== undefined) this.#reset(error.mid, peer, now);
        this.#limit("malformed", `dropped a malformed datagram from ${peerKey(peer)} (${error.reason})`, now);
        return;
      }
      throw error;
    }
    this.#expireOldest(now);
    switch (message.type) {
      case Type.ACK:
      case Type.RST:
        this.#receiveAckOrReset(message, peer, now);
        return;
      default:
        this.#receiveConOrNon(message, peer, now);
    }
  }

  /** A request already decoded (the server's common GET, quick.ts), received at `now`: handled as receive() would. */
  receiveRequest(message: CoapMessage, peer: Peer, now: number): void {
    this.#receiveRequest(message, peer, message.type === Type.CON, now);
  }

  #receiveAckOrReset(message: CoapMessage, peer: Peer, now: number): void {
    // a RST must be Empty; an ACK from a client carries nothing we asked for
    if (message.type === Type.RST && message.code !== Code.EMPTY) return;
    const from = peerKey(peer);
    const key = midKey(from, message.mid);
    const pending = this.#pending.get(key);
    if (pending) {
      this.#pending.delete(key);
      pending.onDone?.(message.type === Type.ACK ? "ack" : "reset", now, message);
      return;
    }
    if (message.type === Type.RST) {
      const sequence = this.#nextMids.get(from);
      if (sequence) this.#trackedNon.reset(nonKey(sequence.peer, message.mid));
    }
  }

  #receiveConOrNon(message: CoapMessage, peer: Peer, now: number): void {
    const confirmable = message.type === Type.CON;
    const code = message.code;
    if (code > Code.EMPTY && code < FIRST_RESPONSE_CODE) this.#receiveRequest(message, peer, confirmable, now);
    else if (isResponseCode(code) && this.#options.onResponse) this.#receiveResponse(message, peer, now);
    else {
      // ping, reserved class or a response we never asked for: reject a CON,
      // and a NON response too (sec 5.3.2); other NONs are ignored
      if (confirmable || isResponseCode(code)) this.#reset(message.mid, peer, now);
    }
  }

  /**
   * A request (class 0.xx, not Empty). A GET or FETCH answered at once is not
   * remembered: a duplicate runs it again (sec 4.5 allows it for safe requests), so
   * the common GET makes no keys. One answered separately is remembered with its
   * Empty ACK, so that a retransmission does not start a second slow handler; safe
   * requests are looked up only while the cache holds one of those.
   */
  #receiveRequest(message: CoapMessage, peer: Peer, confirmable: boolean, now: number): void {
    const safe = isSafe(message.code);
    let key: string | undefined;
    if (!safe) {
      key = midKey(peerKey(peer), message.mid);
      const verdict = this.#deduplicate(key, peer, confirmable, false, now);
      if (verdict === "duplicate") return;
      if (verdict === "no-room") {
        this.#refuseNoRoom(message, peer, now);
        return;
      }
    } else if (this.#dedup.holdsSafe) {
      key = midKey(peerKey(peer), message.mid);
      if (this.#dedup.seen(key, now)) {
        this.#deduplicate(key, peer, confirmable, true, now); // sends the Empty ACK again
        return;
      }
    }

    const exchange = new Exchange(this.#link, message, peer, safe ? undefined : key);
    try {
      this.#options.onRequest(exchange, now);
    } catch (error) {
      this.#options.log(`request handler failed: ${error}`);
    }
    exchange.handedUp();
    if (!exchange.answered && confirmable) {
      // separate response (sec 5.2.2): acknowledge now so the client stops retransmitting
      if (safe) {
        key ??= midKey(peerKey(peer), message.mid);
        if (this.#deduplicate(key, peer, true, true, now) !== "new") key = undefined;
      }
      this.#reply(key, encode(emptyMessage(Type.ACK, message.mid)), peer, now);
    }
  }

  /** No room to remember a request that must not run twice: 5.03 until the cache's oldest entry can be given up. */
  #refuseNoRoom(message: CoapMessage, peer: Peer, now: number): void {
    const key = peerKey(peer);
    const expires = this.#dedup.roomAt(now);
    const seconds = Math.max(1, Math.ceil((expires - now) / 1000));
    const options: CoapOption[] = [];
    setMaxAge(options, seconds);
    const confirmable = message.type === Type.CON;
    const mid = confirmable ? message.mid : this.#allocateMid(this.#sequence(key));
    this.#options.send(encode({ type: confirmable ? Type.ACK : Type.NON, code: Code.SERVICE_UNAVAILABLE, mid, token: message.token, options, payload: EMPTY_PAYLOAD }), peer, now);
  }

  /** A separate response to a request of ours: deduplicated, then acknowledged or rejected. */
  #receiveResponse(message: CoapMessage, peer: Peer, now: number): void {
    const confirmable = message.type === Type.CON;
    const key = midKey(peerKey(peer), message.mid);
    // a duplicate means our ACK (or RST) was lost: the same answer again, not handed up twice
    const verdict = this.#deduplicate(key, peer, confirmable, true, now);
    if (verdict === "duplicate") return;
    let accepted = false;
    try {
      accepted = this.#options.onResponse!(message, peer, now);
    } catch (error) {
      this.#options.log(`response handler failed: ${error}`);
    }
    const remembered = verdict === "new" ? key : undefined;
    if (accepted && confirmable) this.#reply(remembered, encode(emptyMessage(Type.ACK, message.mid)), peer, now);
    else if (!accepted) this.#reply(remembered, encode(emptyMessage(Type.RST, message.mid)), peer, now);
  }

  /** Deduplication (RFC 7252 sec 4.5, dedup.ts); a duplicate gets the reply kept for it again. */
  #deduplicate(key: string, peer: Peer, confirmable: boolean, safe: boolean, now: number): DedupVerdict {
    const verdict = this.#dedup.check(key, peerKey(peer), confirmable, safe, now);
    if (verdict === "duplicate") {
      const reply = this.#dedup.reply(key);
      if (reply) this.#options.send(reply, peer, now);
    } else if (verdict === "no-room" && !safe) {
      const { maxDedupEntries, maxDedupBytes } = this.#options.limits;
      this.#limit("dedup", `deduplication cache full (${maxDedupEntries} entries, ${maxDedupBytes} bytes, none older than ${maxTransmitWait(this.#options.transport) / 1000} s): requests that must not run twice get 5.03`, now);
    }
    return verdict;
  }

  /** Sends a reply to a CON and keeps it for duplicates when the exchange is remembered. */
  #reply(dedupKey: string | undefined, bytes: Uint8Array, peer: Peer, now: number): void {
    if (dedupKey !== undefined) this.#dedup.keep(dedupKey, bytes);
    this.#options.send(bytes, peer, now);
  }

  #reset(mid: number, peer: Peer, now: number): void {
    this.#options.send(encode(emptyMessage(Type.RST, mid)), peer, now);
  }

  /** A peer's Message ID sequence: from a random start the first time (the oldest peer's is forgotten beyond #midPeers). */
  #sequence(key: string): MidSequence {
    let sequence = this.#nextMids.get(key);
    if (sequence) return sequence;
    if (this.#nextMids.size >= this.#midPeers) this.#nextMids.delete(this.#nextMids.keys().next().value!);
    sequence = { next: Math.floor(this.#options.random() * 0x10000) & 0xffff, peer: this.#peerNumbers++ };
    this.#nextMids.set(key, sequence);
    return sequence;
  }

  /** The next Message ID of a sequence. */
  #allocateMid(sequence: MidSequence): number {
    const mid = sequence.next;
    sequence.next = (mid + 1) & 0xffff;
    return mid;
  }

  /** Sends a CON at `now` and retransmits it until ACK, RST or MAX_RETRANSMIT; returns its Message ID. */
  sendConfirmable(parts: MessageParts, peer: Peer, now: number, options: SendConOptions = {}): number {
    const { ackTimeout, ackRandomFactor } = this.#options.transport;
    const key = options.peerKey ?? peerKey(peer);
    const mid = this.#allocateMid(this.#sequence(key));
    const bytes = encodeParts(Type.CON, mid, parts.token, parts);
    let retransmissions = 0;
    let timeout = ackTimeout * (1 + this.#options.random() * (ackRandomFactor - 1));
    let deadline = now + timeout;
    if (options.supersedes !== undefined) {
      const older = this.#pending.get(midKey(key, options.supersedes));
      if (older) {
        // the older one's schedule goes on: notifications faster than its timeout must not keep a vanished peer alive
        this.#pending.delete(midKey(key, options.supersedes));
        retransmissions = older.retransmissions;
        timeout = older.timeout;
        deadline = older.deadline;
      }
    }
    while (this.#pending.size >= this.#options.limits.maxPendingCon) {
      const [oldestKey, oldest] = this.#pending.entries().next().value!;
      this.#pending.delete(oldestKey);
      this.#limit("pending-con", `${this.#options.limits.maxPendingCon} confirmable messages pending: the oldest are given up`, now);
      oldest.onDone?.("evicted", now);
    }
    this.#pending.set(midKey(key, mid), {
      peer,
      peerKey: key,
      mid,
      bytes,
      retransmissions,
      timeout,
      deadline,
      onDone: options.onDone,
    });
    this.#options.send(bytes, peer, now);
    return mid;
  }

  /**
   * Sends a NON at `now`; onReset(subject) runs if the peer rejects it with RST within
   * NON_LIFETIME (one handler for many NONs, each with its subject: no closure per message).
   * `key`: peerKey(peer), when the caller keeps it (an observer does): not made again.
   */
  sendNonConfirmable<T>(parts: MessageParts, peer: Peer, now: number, onReset?: ResetHandler<T>, subject?: T, key: string = peerKey(peer)): number {
    const sequence = this.#sequence(key);
    const mid = this.#allocateMid(sequence);
    const bytes = encodeParts(Type.NON, mid, parts.token, parts);
    if (onReset && this.#trackedNon.add(nonKey(sequence.peer, mid), now + this.#options.transport.nonLifetime, now, onReset as ResetHandler, subject)) this.#trackedNonFull(now);
    this.#options.send(bytes, peer, now);
    return mid;
  }

  /**
   * The same NON (`code`, and `body` from codec's encodeBody()) to each target at
   * `now`, with its own Message ID and token: the message is encoded once per token
   * length and only stamped per target. onReset(target) runs if one rejects its NON
   * with RST within NON_LIFETIME; onError(target, error) if one could not be sent (the
   * others still are).
   */
  sendNonConfirmables<T extends NonTarget>(code: number, body: Uint8Array, targets: readonly T[], now: number, onReset: ResetHandler<T>, onError: (target: T, error: unknown) => void): void {
    const count = targets.length;
    const expires = now + this.#options.transport.nonLifetime;
    const tracked = this.#trackedNon;
    // the message encoded once per token length (0-8), then stamped with each Message ID and token
    const templates: (Uint8Array | undefined)[] = [];
    let forgot = false;
    let i = 0;
    // one try for the group, entered again only after a target whose send threw
    while (i < count) {
      try {
        for (; i < count; i++) {
          const target = targets[i];
          const token = target.token;
          const sequence = this.#sequence(target.peerKey);
          const mid = this.#allocateMid(sequence);
          const template = templates[token.length];
          const bytes = template ? restamp(template, mid, token) : (templates[token.length] = encodeWithBody(Type.NON, code, mid, token, body));
          if (tracked.add(nonKey(sequence.peer, mid), expires, now, onReset as ResetHandler, target)) forgot = true;
          this.#options.send(bytes, target.peer, now);
        }
      } catch (error) {
        onError(targets[i], error);
        i++;
      }
    }
    if (forgot) this.#trackedNonFull(now);
  }

  /** Tracking a NON forgot unexpired ones: counted, and logged once per episode. */
  #trackedNonFull(now: number): void {
    this.#limit("tracked-non", `${this.#options.limits.maxTrackedNon} NON messages tracked for RST: the oldest are forgotten`, now);
  }

  /** Stops retransmitting a CON we sent (its onDone gets "cancelled", with `now`). */
  cancel(peer: Peer, mid: number, now: number): void {
    const key = midKey(peerKey(peer), mid);
    const pending = this.#pending.get(key);
    if (!pending) return;
    this.#pending.delete(key);
    pending.onDone?.("cancelled", now);
  }

  /** Whether a new CON fits in the pending table (maxPendingCon) without giving up an older one. */
  canConfirm(): boolean {
    return this.#pending.size < this.#options.limits.maxPendingCon;
  }

  isPending(peer: Peer, mid: number): boolean {
    return this.#pending.has(midKey(peerKey(peer), mid));
  }

  /** The earliest retransmission or expiry; no closure or iterator when there is nothing pending (it runs per datagram batch). */
  nextDeadline(): number | undefined {
    let next = this.#dedup.nextExpiry();
    const nonExpiry = this.#trackedNon.nextExpiry();
    if (nonExpiry !== undefined && (next === undefined || nonExpiry < next)) next = nonExpiry;
    if (this.#pending.size > 0) for (const pending of this.#pending.values()) if (next === undefined || pending.deadline < next) next = pending.deadline;
    return next;
  }

  /** Retransmissions and expiries due at `now`. */
  tick(now: number): void {
    const { maxRetransmit } = this.#options.transport;
    const due: PendingCon[] = [];
    for (const pending of this.#pending.values()) if (pending.deadline <= now) due.push(pending);
    for (const pending of due) {
      const key = midKey(pending.peerKey, pending.mid);
      if (this.#pending.get(key) !== pending) continue; // settled by an earlier callback
      if (pending.retransmissions < maxRetransmit) {
        pending.retransmissions++;
        pending.timeout *= 2;
        pending.deadline = now + pending.timeout;
        this.#options.send(pending.bytes, pending.peer, now);
      } else {
        this.#pending.delete(key);
        pending.onDone?.("timeout", now);
      }
    }
    this.#expire(now);
  }

  /** Cheap per-datagram purge: only the oldest entries (NON entries behind a live CON wait for tick). */
  #expireOldest(now: number): void {
    this.#dedup.expireOldest(now);
    this.#trackedNon.expire(now);
  }

  #expire(now: number): void {
    this.#dedup.expire(now);
    this.#trackedNon.expire(now);
  }

  /** Forgets everything about a peer: its session is gone (its pending CONs end "cancelled" at `now`). */
  dropPeer(peer: Peer, now: number): void {
    const key = peerKey(peer);
    const sequence = this.#nextMids.get(key);
    if (sequence) this.#trackedNon.forgetPeer(sequence.peer);
    this.#nextMids.delete(key);
    this.#dedup.forgetPeer(key);
    if (this.#pending.size === 0) return;
    const dropped: PendingCon[] = [];
    for (const [k, pending] of this.#pending) {
      if (pending.peerKey === key) {
        this.#pending.delete(k);
        dropped.push(pending);
      }
    }
    for (const pending of dropped) pending.onDone?.("cancelled", now);
  }

  /** Whether a safe request is remembered now (one answered separately): a GET must then come through receiveRequest(). */
  get remembersSafe(): boolean {
    return this.#dedup.holdsSafe;
  }

  stats(): { dedup: number; dedupPeers: number; dedupBytes: number; pending: number; trackedNon: number } {
    return {
      dedup: this.#dedup.size,
      dedupPeers: this.#dedup.peers,
      dedupBytes: this.#dedup.bytes,
      pending: this.#pending.size,
      trackedNon: this.#trackedNon.size,
    };
  }
}
