/*
 * Our recent NON messages, by peer and Message ID, so that a RST to one reaches
 * whoever sent it (RFC 7252 sec 4.3: a NON may be rejected with RST; RFC 7641 sec
 * 3.6: a RST to a notification ends the observation). Kept for NON_LIFETIME (sec
 * 4.8.2), at most `max` entries. An entry's key is a number, nonKey(peer number,
 * Message ID): the message layer numbers its peers, so a fan-out makes no strings.
 *
 * Two generations, so that every step is O(1) whatever the fan-out: new entries go
 * into the young one; when it holds half the bound it becomes the old one and the
 * previous old one is forgotten whole. A generation is dropped when its newest entry
 * has expired, so an entry may be kept a little past its lifetime, never past the
 * bound. Pure: keys, times and callbacks in, callbacks out.
 */
/** What a RST to a tracked NON runs: onReset(subject), one function for many NONs (no closure per message). */
export type ResetHandler<T = unknown> = (subject: T) => void;

/** The key of a NON of ours: the peer's number (the message layer's) and the Message ID. */
export function nonKey(peer: number, mid: number): number {
  return peer * 0x10000 + mid;
}

interface Entry {
  onReset: ResetHandler;
  subject: unknown;
}

class Generation {
  readonly entries = new Map<number, Entry>();
  /** when its newest entry expires */
  newest = -Infinity;
}

export class TrackedNons {
  readonly #half: number;
  #young = new Generation();
  #old = new Generation();

  /** at most `max` entries (at least 2) */
  constructor(max: number) {
    this.#half = Math.max(1, Math.floor(max / 2));
  }

  get size(): number {
    return this.#young.entries.size + this.#old.entries.size;
  }

  /** Tracks a NON until `expires`; true when room was made by forgetting unexpired ones (a full table). */
  add(key: number, expires: number, now: number, onReset: ResetHandler, subject: unknown): boolean {
    let forgotUnexpired = false;
    let young = this.#young;
    if (young.entries.size >= this.#half) {
      forgotUnexpired = this.#old.entries.size > 0 && this.#old.newest > now;
      this.#old = young;
      young = this.#young = new Generation();
    }
    young.entries.set(key, { onReset, subject });
    if (expires > young.newest) young.newest = expires;
    return forgotUnexpired;
  }

  /** The RST's NON: forgotten, and its onReset(subject) run; false when it was not tracked. */
  reset(key: number): boolean {
    for (const generation of [this.#young, this.#old]) {
      const entry = generation.entries.get(key);
      if (entry) {
        generation.entries.delete(key);
        entry.onReset(entry.subject);
        return true;
      }
    }
    return false;
  }

  /** Drops the generations whose newest entry has expired at `now`. */
  expire(now: number): void {
    if (this.#old.entries.size > 0 && this.#old.newest <= now) this.#old = new Generation();
    if (this.#old.entries.size === 0 && this.#young.entries.size > 0 && this.#young.newest <= now) this.#young = new Generation();
  }

  /** When expire() next has something to drop. */
  nextExpiry(): number | undefined {
    if (this.#old.entries.size > 0) return this.#old.newest;
    return this.#young.entries.size > 0 ? this.#young.newest : undefined;
  }

  /** Forgets the entries of a peer, by its number (its session ended). */
  forgetPeer(peer: number): void {
    const from = nonKey(peer, 0);
    const to = nonKey(peer + 1, 0);
    for (const generation of [this.#young, this.#old]) {
      for (const key of generation.entries.keys()) if (key >= from && key < to) generation.entries.delete(key);
    }
  }
}
