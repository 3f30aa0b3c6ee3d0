/*
 * The deduplication cache of the message layer (RFC 7252 sec 4.5): which messages
 * (peer + Message ID) arrived within their lifetime (EXCHANGE_LIFETIME for a CON,
 * NON_LIFETIME for a NON, sec 4.8.2), and the reply to send again for a duplicate
 * CON. Bounded three ways: entries in all, entries per peer, and bytes of cached
 * replies. Pure: keys, bytes and "now" in, verdicts out.
 *
 * Room: a request that must not run twice takes the place of its own peer's oldest
 * entry when that peer's share is full, and of the cache's oldest entry only when
 * that one is past MAX_TRANSMIT_WAIT (after it a conforming client no longer
 * retransmits); otherwise there is "no-room" (the server answers 5.03 with Max-Age).
 * A safe message (a GET, sec 5.1: re-running it is harmless; the message layer
 * remembers only those answered separately) only takes free room, and only while
 * the cache is under half full.
 */
import { Code, maxTransmitWait, type Limits, type TransportParams } from "./numbers";

/** GET and FETCH change nothing on the server: running one twice is harmless (RFC 7252 sec 4.5, RFC 8132). */
export function isSafe(code: number): boolean {
  return code === Code.GET || code === Code.FETCH;
}

interface Entry {
  /** the peer's key (peerKey) */
  peer: string;
  expires: number;
  /** when the message arrived */
  received: number;
  /** the bytes to send again for a duplicate (CON only) */
  reply?: Uint8Array;
  /** a message that is harmless to handle twice (a GET answered separately, a response to our request) */
  safe: boolean;
}

/** What deduplication says about an incoming message. */
export type DedupVerdict = "new" | "duplicate" | "no-room";

export class DedupCache {
  /** key (midKey) -> entry, oldest first (a Map keeps insertion order) */
  #entries = new Map<string, Entry>();
  /** entries per peer key */
  #perPeer = new Map<string, number>();
  #bytes = 0;
  /** entries with `safe` set */
  #safe = 0;
  /** the earliest expiry, once worked out (undefined: work it out again), so that the per-datagram checks are O(1) */
  #earliest: number | undefined;
  #limits: Limits;
  #transport: TransportParams;

  constructor(limits: Limits, transport: TransportParams) {
    this.#limits = limits;
    this.#transport = transport;
  }

  /**
   * A message seen from this peer with this Message ID within its lifetime is a
   * "duplicate" (reply() then has what to send again); anything else is remembered
   * ("new"; an expired entry is forgotten first: the peer may reuse a Message ID)
   * unless there is no room ("no-room").
   */
  check(key: string, owner: string, confirmable: boolean, safe: boolean, now: number): DedupVerdict {
    const seen = this.#entries.get(key);
    if (seen && seen.expires > now) return "duplicate";
    if (seen) this.#forget(key, seen);
    const { maxDedupEntries, maxDedupPerPeer, maxDedupBytes } = this.#limits;
    const owned = this.#perPeer.get(owner) ?? 0;
    if (safe) {
      if (this.#entries.size >= maxDedupEntries / 2 || this.#bytes >= maxDedupBytes / 2 || owned >= maxDedupPerPeer) return "no-room";
    } else if (!this.#makeRoom(owner, owned, now)) return "no-room";
    const { exchangeLifetime, nonLifetime } = this.#transport;
    const expires = now + (confirmable ? exchangeLifetime : nonLifetime);
    this.#entries.set(key, { peer: owner, expires, received: now, safe });
    if (safe) this.#safe++;
    if (this.#entries.size === 1) this.#earliest = expires;
    else if (this.#earliest !== undefined && expires < this.#earliest) this.#earliest = expires;
    this.#perPeer.set(owner, (this.#perPeer.get(owner) ?? 0) + 1); // makeRoom may have taken one of its own
    return "new";
  }

  /** Whether a message seen from this peer with this Message ID is within its lifetime (no entry is made). */
  seen(key: string, now: number): boolean {
    const entry = this.#entries.get(key);
    return entry !== undefined && entry.expires > now;
  }

  /** Whether any entry is a safe one (see check()): until then a safe request need not be looked up. */
  get holdsSafe(): boolean {
    return this.#safe > 0;
  }

  /** The reply kept for a remembered message, if any. */
  reply(key: string): Uint8Array | undefined {
    return this.#entries.get(key)?.reply;
  }

  /** Keeps the first reply to a remembered message, for its duplicates. */
  keep(key: string, bytes: Uint8Array): void {
    const entry = this.#entries.get(key);
    if (!entry || entry.reply) return;
    entry.reply = bytes;
    this.#bytes += bytes.length;
  }

  /** When the oldest entry can be given up for a request that must not run twice (the 5.03's Max-Age). */
  roomAt(now: number): number {
    const oldest = this.#entries.values().next().value;
    return oldest ? oldest.received + maxTransmitWait(this.#transport) : now + 1000;
  }

  nextExpiry(): number | undefined {
    if (this.#entries.size === 0) return undefined;
    if (this.#earliest !== undefined) return this.#earliest;
    let next: number | undefined;
    for (const entry of this.#entries.values()) if (next === undefined || entry.expires < next) next = entry.expires;
    this.#earliest = next;
    return next;
  }

  /** Cheap, per datagram: nothing before the earliest expiry, then only the oldest entries (a NON entry behind a live CON waits for expire()). */
  expireOldest(now: number): void {
    const earliest = this.nextExpiry();
    if (earliest === undefined || now < earliest) return;
    for (const [key, entry] of this.#entries) {
      if (entry.expires > now) break;
      this.#forget(key, entry);
    }
  }

  expire(now: number): void {
    const earliest = this.nextExpiry();
    if (earliest === undefined || now < earliest) return;
    for (const [key, entry] of this.#entries) if (entry.expires <= now) this.#forget(key, entry);
  }

  forgetPeer(owner: string): void {
    if (!this.#perPeer.has(owner)) return; // most peers that go (a DTLS session's end) left nothing here
    for (const [key, entry] of this.#entries) if (entry.peer === owner) this.#forget(key, entry);
  }

  get size(): number {
    return this.#entries.size;
  }

  get peers(): number {
    return this.#perPeer.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Room for one more entry of `owner` (which has `owned`): in its share, giving up its
   * own oldest entry, and in the whole cache, giving up the cache's oldest if that is
   * past MAX_TRANSMIT_WAIT.
   */
  #makeRoom(owner: string, owned: number, now: number): boolean {
    const { maxDedupEntries, maxDedupPerPeer, maxDedupBytes } = this.#limits;
    if (owned >= maxDedupPerPeer) {
      for (const [key, entry] of this.#entries) {
        if (entry.peer !== owner) continue;
        this.#forget(key, entry);
        break;
      }
    }
    const wait = maxTransmitWait(this.#transport);
    while (this.#entries.size >= maxDedupEntries || this.#bytes >= maxDedupBytes) {
      const [key, oldest] = this.#entries.entries().next().value!;
      if (now - oldest.received < wait) return false;
      this.#forget(key, oldest);
    }
    return true;
  }

  #forget(key: string, entry: Entry): void {
    this.#entries.delete(key);
    if (entry.expires === this.#earliest) this.#earliest = undefined;
    if (entry.reply) this.#bytes -= entry.reply.length;
    if (entry.safe) this.#safe--;
    const owned = (this.#perPeer.get(entry.peer) ?? 1) - 1;
    if (owned > 0) this.#perPeer.set(entry.peer, owned);
    else this.#perPeer.delete(entry.peer);
  }
}
