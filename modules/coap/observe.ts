/*
 * The observer list of each resource and the bookkeeping of notifications.
 * Sending is the server's job; this file decides who observes what, which
 * sequence number comes next and whether a notification must be confirmable.
 *
 * RFC 7641 sec 3.1 / 4.1 (an observer is identified by endpoint + token; a new
 * registration with the same pair replaces the old one), 3.4 / 4.4 (24-bit
 * sequence numbers, increasing), 3.6 / 4.2 (deregistration), 4.5 (a CON at
 * least every 24 hours; an observer that does not acknowledge one is removed),
 * 4.5.2 (a newer notification supersedes one still in flight).
 *
 * Liveness: an observer that vanished without a RST would keep its place forever if
 * nothing changed. Each observer remembers its last sign of life (the registration,
 * an ACK to a CON notification); after observerProbeInterval without one it gets a
 * CON notification of the current state (the server's tick), which removes it when
 * unanswered; and when a table is full, a new registration takes the place of the
 * observer silent for longest, if that is more than observerStaleAfter.
 */
import type { Peer } from "./exchange";
import { peerKey, tokenKey } from "./exchange";
import { OBSERVE_SEQUENCE_MASK, type Limits } from "./numbers";
import type { CoapRequest } from "./resource";

export interface Observer {
  path: string;
  peer: Peer;
  peerKey: string;
  token: Uint8Array;
  /** observerKey(peer, token), made once: the key it is filed under */
  key: string;
  /** the representation it asked for (Accept and query): observers with the same one share a render */
  group: string;
  /** the registering GET, used again to render each notification (Accept, query) */
  request: CoapRequest;
  /** block size exponent for notifications too large for one datagram */
  szx: number;
  /** NON notifications sent since the last CON */
  sinceCon: number;
  /** when the last CON notification (or the registration) was sent */
  lastCon: number;
  /** Message ID of the CON notification in flight, if any */
  pendingMid?: number;
  /** the last sign of life: the registration, or an ACK to a CON notification */
  confirmedAt: number;
  /** set by the registry while this record is the registered one (isCurrent() without a lookup) */
  current?: boolean;
}

/** "displaced": added in the place of a stale observer (returned by register()'s `displaced`) */
export type RegisterResult = "added" | "replaced" | "displaced" | "full";

export function observerKey(peer: Peer, token: Uint8Array): string {
  return tokenKey(peerKey(peer), token);
}

/** The representation a registration asked for: its Accept and its query. */
export function observerGroup(request: CoapRequest): string {
  return `${request.accept}|${request.query.join("&")}`;
}

export class ObserveRegistry {
  #limits: Limits;
  /** path -> observer key -> observer */
  #byPath = new Map<string, Map<string, Observer>>();
  #count = 0;
  /** path -> last sequence number handed out */
  #sequence = new Map<string, number>();
  #initialSequence: number;
  /** nextProbe()'s answer until something it depends on changes (undefined: work it out again) */
  #nextProbe: { at: number | undefined } | undefined;

  /**
   * `initialSequence`: where sequence numbers start for each resource, e.g. a value
   * kept across a reboot so that new notifications look fresher than old ones.
   */
  constructor(limits: Limits, initialSequence = 0) {
    this.#limits = limits;
    this.#initialSequence = initialSequence & OBSERVE_SEQUENCE_MASK;
  }

  get size(): number {
    return this.#count;
  }

  sizeOf(path: string): number {
    return this.#byPath.get(path)?.size ?? 0;
  }

  /**
   * Adds or replaces the observer of (peer, token) on `path`. When the resource or
   * the server is full the registration is refused: the client then gets a plain
   * response without Observe (RFC 7641 sec 4.1), and observers already registered
   * keep their notifications.
   */
  register(observer: Observer, now: number): { result: RegisterResult; displaced?: Observer } {
    const key = observer.key;
    this.#nextProbe = undefined;
    let observers = this.#byPath.get(observer.path);
    const old = observers?.get(key);
    if (observers && old) {
      old.current = false;
      observer.current = true;
      observers.set(key, observer);
      return { result: "replaced" };
    }
    let displaced: Observer | undefined;
    const pathFull = (observers?.size ?? 0) >= this.#limits.maxObserversPerResource;
    if (pathFull || this.#count >= this.#limits.maxObservers) {
      displaced = this.#stalest(pathFull ? observer.path : undefined, now);
      if (!displaced) return { result: "full" };
      this.remove(displaced);
      observers = this.#byPath.get(observer.path);
    }
    if (!observers) {
      observers = new Map();
      this.#byPath.set(observer.path, observers);
    }
    observers.set(key, observer);
    observer.current = true;
    this.#count++;
    return displaced ? { result: "displaced", displaced } : { result: "added" };
  }

  /** The observer (of `path`, or of any path) silent for longest, if longer than observerStaleAfter. */
  #stalest(path: string | undefined, now: number): Observer | undefined {
    let stalest: Observer | undefined;
    for (const [p, observers] of this.#byPath) {
      if (path !== undefined && p !== path) continue;
      for (const observer of observers.values()) if (!stalest || observer.confirmedAt < stalest.confirmedAt) stalest = observer;
    }
    return stalest && now - stalest.confirmedAt > this.#limits.observerStaleAfter ? stalest : undefined;
  }

  /** Every observer, for the liveness probes. */
  all(): Observer[] {
    const out: Observer[] = [];
    for (const observers of this.#byPath.values()) for (const observer of observers.values()) out.push(observer);
    return out;
  }

  /** When this observer is due for a liveness probe (silent for observerProbeInterval). */
  probeDue(observer: Observer): number {
    return observer.confirmedAt + this.#limits.observerProbeInterval;
  }

  /**
   * An observer's sign of life or its CON in flight changed (a notification sent, an
   * ACK, a timeout): nextProbe() works its answer out again.
   */
  touched(): void {
    this.#nextProbe = undefined;
  }

  /**
   * The earliest probe due among observers `probing` says have none in flight. It runs
   * per datagram: worked out once, then kept until an observer changes (register,
   * remove, touched()).
   */
  nextProbe(probing: (observer: Observer) => boolean): number | undefined {
    if (this.#nextProbe) return this.#nextProbe.at;
    let next: number | undefined;
    for (const observers of this.#byPath.values()) {
      for (const observer of observers.values()) {
        if (probing(observer)) continue;
        const due = this.probeDue(observer);
        if (next === undefined || due < next) next = due;
      }
    }
    this.#nextProbe = { at: next };
    return next;
  }

  /** Whether the peer with this key observes anything. */
  observes(key: string): boolean {
    for (const observers of this.#byPath.values()) for (const observer of observers.values()) if (observer.peerKey === key) return true;
    return false;
  }

  find(path: string, peer: Peer, token: Uint8Array): Observer | undefined {
    return this.#byPath.get(path)?.get(observerKey(peer, token));
  }

  /** Whether this very observer (not a replacement) is still registered. */
  isCurrent(observer: Observer): boolean {
    return observer.current === true;
  }

  deregister(path: string, peer: Peer, token: Uint8Array): boolean {
    return this.#deregister(path, observerKey(peer, token));
  }

  #deregister(path: string, key: string): boolean {
    const observers = this.#byPath.get(path);
    const observer = observers?.get(key);
    if (!observers || !observer) return false;
    observers.delete(key);
    observer.current = false;
    this.#nextProbe = undefined;
    this.#count--;
    if (observers.size === 0) this.#byPath.delete(path);
    return true;
  }

  /** Removes the observer if it is still the registered one. */
  remove(observer: Observer): boolean {
    return this.isCurrent(observer) && this.#deregister(observer.path, observer.key);
  }

  observers(path: string): Observer[] {
    const observers = this.#byPath.get(path);
    return observers ? Array.from(observers.values()) : [];
  }

  removePath(path: string): void {
    const observers = this.#byPath.get(path);
    if (!observers) return;
    for (const observer of observers.values()) observer.current = false;
    this.#count -= observers.size;
    this.#byPath.delete(path);
    this.#nextProbe = undefined;
  }

  /** Removes every observer of the peer; returns them. */
  dropPeer(key: string): Observer[] {
    const dropped: Observer[] = [];
    if (this.#count === 0) return dropped;
    for (const [path, observers] of this.#byPath) {
      for (const [k, observer] of observers) {
        if (observer.peerKey === key) {
          observers.delete(k);
          observer.current = false;
          dropped.push(observer);
        }
      }
      if (observers.size === 0) this.#byPath.delete(path);
    }
    this.#count -= dropped.length;
    this.#nextProbe = undefined;
    return dropped;
  }

  /** The next Observe value for a resource: increases by one per state (mod 2^24). */
  nextSequence(path: string): number {
    const next = ((this.#sequence.get(path) ?? this.#initialSequence) + 1) & OBSERVE_SEQUENCE_MASK;
    this.#sequence.set(path, next);
    return next;
  }

  /**
   * Whether the next notification to this observer must be confirmable: every
   * N-th one, once the last CON is older than the interval (24 h), or while a CON
   * is still in flight (the new one supersedes it and keeps its retransmissions).
   */
  shouldConfirm(observer: Observer, now: number, inFlight: boolean): boolean {
    return (
      inFlight ||
      observer.sinceCon + 1 >= this.#limits.notifyConEvery ||
      now - observer.lastCon >= this.#limits.notifyConInterval ||
      now - observer.confirmedAt >= this.#limits.observerProbeInterval
    );
  }
}
