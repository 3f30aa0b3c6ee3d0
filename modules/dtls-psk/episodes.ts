/*
 * Log lines that a peer can cause once per datagram, written once per episode: the
 * first event of a kind is logged, later ones are only counted (the server's stats()
 * has the totals), and a kind that has been quiet for EPISODE_QUIET_MS logs again on
 * its next event, with the count of the episode before. A flood of forged records or
 * refused handshakes therefore costs one line, not one per datagram. The same rule
 * as coap/limitlog; a copy, because the two modules are separate libraries.
 */
export const EPISODE_QUIET_MS = 60_000;

/** refused: a newcomer found no room; forged: a record that cannot authenticate for an established session; expired: a handshake past its deadline; error: a datagram or callback threw */
export type EpisodeKind = "refused" | "forged" | "expired" | "error";

interface Episode {
  /** events in the current episode */
  count: number;
  last: number;
}

export class EpisodeLog {
  readonly #log: (message: string) => void;
  readonly #episodes = new Map<EpisodeKind, Episode>();

  constructor(log: (message: string) => void) {
    this.#log = log;
  }

  /** Counts one event at `now`; logs `message` when it opens an episode. */
  note(kind: EpisodeKind, now: number, message: () => string): void {
    let episode = this.#episodes.get(kind);
    if (!episode) {
      episode = { count: 0, last: -Infinity };
      this.#episodes.set(kind, episode);
    }
    if (now - episode.last >= EPISODE_QUIET_MS) {
      const before = episode.count > 1 ? `; the previous episode had ${episode.count}` : "";
      this.#log(`${message()} (further ones are counted, not logged, until ${EPISODE_QUIET_MS / 1000} s pass without one${before})`);
      episode.count = 0;
    }
    episode.count++;
    episode.last = now;
  }
}
