/*
 * Reports bounded resources that overflow, and unexpected or malformed datagrams, once
 * per episode, not once per datagram:
 * the first hit of a limit is logged, later hits are only counted, and a limit that
 * has been quiet for LIMIT_QUIET_MS logs again on its next hit (with the count of
 * the episode before). A flood therefore costs one log line, and the counts stay
 * readable in the server's stats(). The limits themselves are in numbers.ts.
 */
export const LIMIT_QUIET_MS = 60_000;

export type LimitName = "dedup" | "pending-con" | "tracked-non" | "observers" | "async-handlers" | "malformed" | "unexpected";

interface Episode {
  hits: number;
  /** hits in the current episode */
  episodeHits: number;
  lastHit: number;
}

export class LimitLog {
  readonly #log: (message: string) => void;
  readonly #episodes = new Map<LimitName, Episode>();

  constructor(log: (message: string) => void) {
    this.#log = log;
  }

  /** A hit of limit `name` at `now` (ms). */
  hit(name: LimitName, detail: string, now: number): void {
    let episode = this.#episodes.get(name);
    if (!episode) {
      episode = { hits: 0, episodeHits: 0, lastHit: -Infinity };
      this.#episodes.set(name, episode);
    }
    if (now - episode.lastHit >= LIMIT_QUIET_MS) {
      const before = episode.episodeHits > 1 ? ` (the previous episode had ${episode.episodeHits})` : "";
      this.#log(`limit ${name}: ${detail}; further hits are counted, not logged${before}`);
      episode.episodeHits = 0;
    }
    episode.hits++;
    episode.episodeHits++;
    episode.lastHit = now;
  }

  /** Hits per limit since start (names of limits never hit are absent). */
  counts(): Partial<Record<LimitName, number>> {
    const out: Partial<Record<LimitName, number>> = {};
    for (const [name, episode] of this.#episodes) out[name] = episode.hits;
    return out;
  }
}
