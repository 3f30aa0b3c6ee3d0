/*
 * Exponential back-off for an application retrying a CoAP peer (telemetry, RD
 * registration): initial, 2x, 4x ... capped at max, with optional jitter so that
 * many nodes that lost the same server do not come back in step.
 *
 * RFC 7252 sec 4.8 / 4.2 do the same for one CON (ACK_TIMEOUT doubling); this
 * spaces whole exchanges once those have given up. Pure: no clock, no timer.
 */

export interface BackoffOptions {
  /** ms after the first failure */
  initial: number;
  /** ms the delay never passes */
  max: number;
  /** [0, 1): each delay is stretched by up to `jitter` (default 0.25) of itself */
  random?: () => number;
  jitter?: number;
}

export class Backoff {
  readonly initial: number;
  readonly max: number;
  #random?: () => number;
  #jitter: number;
  #failures = 0;

  constructor(options: BackoffOptions) {
    if (!(options.initial > 0 && options.max >= options.initial)) throw new RangeError("back-off needs 0 < initial <= max");
    this.initial = options.initial;
    this.max = options.max;
    this.#random = options.random;
    this.#jitter = options.jitter ?? 0.25;
  }

  /** consecutive failures so far */
  get failures(): number {
    return this.#failures;
  }

  /** Counts a failure and returns the delay (ms) before the next attempt. */
  fail(): number {
    // the exponent is bounded so the number stays finite however long the outage
    const exponent = Math.min(this.#failures, 30);
    this.#failures++;
    let delay = Math.min(this.max, this.initial * 2 ** exponent);
    if (this.#random) delay = Math.min(this.max, delay * (1 + this.#random() * this.#jitter));
    return delay;
  }

  reset(): void {
    this.#failures = 0;
  }
}
