/*
 * What a peer can cause once per datagram, logged once per episode, not once per
 * datagram: the first event of a kind is logged, later ones are only counted, and a
 * kind that has been quiet for LIMIT_QUIET_MS logs again on its next event (with the
 * count of the episode before). A flood therefore costs one log line, and the counts
 * stay readable (stats()). EpisodeLog is the rule for any set of kinds (the DTLS
 * server's refusals and forged records use it too); LimitLog names the CoAP layers'
 * bounded tables and unexpected datagrams (the limits themselves are in numbers.ts).
 */
export const LIMIT_QUIET_MS = 60_000;

export type LimitName = "dedup" | "pending-con" | "tracked-non" | "observers" | "async-handlers" | "malformed" | "unexpected";

interface Episode {
  hits: number;
  /** hits in the current episode */
  episodeHits: number;
  lastHit: number;
}

export class EpisodeLog<Kind extends string> {
  readonly #log: (message: string) => void;
  readonly #episodes = new Map<Kind, Episode>();

  constructor(log: (message: string) => void) {
    this.#log = log;
  }

  /** Counts one event of `kind` at `now` (ms); logs `message()` when it opens an episode. */
  note(kind: Kind, now: number, message: () => string): void {
    let episode = this.#episodes.get(kind);
    if (!episode) {
      episode = { hits: 0, episodeHits: 0, lastHit: -Infinity };
      this.#episodes.set(kind, episode);
    }
    if (now - episode.lastHit >= LIMIT_QUIET_MS) {
      const before = episode.episodeHits > 1 ? `; the previous episode had ${episode.episodeHits}` : "";
      this.#log(`${message()} (further ones are counted, not logged, until ${LIMIT_QUIET_MS / 1000} s pass without one${before})`);
      episode.episodeHits = 0;
    }
    episode.hits++;
    episode.episodeHits++;
    episode.lastHit = now;
  }

  /** Events per kind since start (kinds never seen are absent). */
  counts(): Partial<Record<Kind, number>> {
    const out: Partial<Record<Kind, number>> = {};
    for (const [kind, episode] of this.#episodes) out[kind] = episode.hits;
    return out;
  }
}

/** The CoAP layers' limits: hit() at `now` with what overflowed. */
export class LimitLog extends EpisodeLog<LimitName> {
  hit(name: LimitName, detail: string, now: number): void {
    this.note(name, now, () => `limit ${name}: ${detail}`);
  }
}
