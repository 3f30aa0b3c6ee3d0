/*
 * Temperature readings as a service, with no CoAP in it: a reading cache, the
 * rules for when a change is worth telling (onChange), and typed faults
 * (SensorError) instead of values when the sensor fails. temperature/resource.ts
 * turns it into /temperature (representations, Max-Age, 5.03); telemetry reads it.
 *
 * Rules (issue 6): a reading is served from the cache while younger than
 * `maxAge` ms, so a burst of GETs starts one conversion (concurrent reads share
 * it, faults are cached the same way); observers are notified when the value
 * moved by >= `threshold` degC (default 0.1) since the last notification, when a
 * fault starts, changes or ends, and at least every `maxInterval` ms (default
 * 60 s, the default Max-Age, so an observer's copy never goes stale).
 * Time comes from `now` (injectable); start() samples every `pollInterval` ms.
 */
import Timer from "timer";
import { SensorError } from "sensors/errors";

export interface TemperatureSource {
  /** degrees C; rejects with a SensorError on a fault (Ds18b20 is one) */
  read(): Promise<number>;
}

export interface Reading {
  celsius: number;
  /** the service clock (ms) when the value was measured */
  at: number;
}

export type Update = { ok: true; reading: Reading } | { ok: false; error: Error; at: number };

export interface TemperatureServiceOptions {
  source: TemperatureSource;
  /** ms a reading (or a fault) is served from the cache; default 2000 */
  maxAge?: number;
  /** degC change that triggers a notification; default 0.1 */
  threshold?: number;
  /** ms: observers hear at least this often; default 60 000 */
  maxInterval?: number;
  /** ms between samples while started; default 5000 (at most maxInterval) */
  pollInterval?: number;
  /** ms clock; default Date.now */
  now?: () => number;
}

type Outcome = { at: number; reading: Reading; error?: undefined } | { at: number; error: Error; reading?: undefined };

export class TemperatureService {
  readonly maxAge: number;
  readonly threshold: number;
  readonly maxInterval: number;
  readonly pollInterval: number;
  readonly #source: TemperatureSource;
  readonly #now: () => number;
  #last: Outcome | undefined;
  #inflight: Promise<Reading> | undefined;
  #notified: { at: number; celsius?: number; code?: string } | undefined;
  readonly #listeners = new Set<(update: Update) => void>();
  #timer: ReturnType<typeof Timer.set> | undefined;
  #running = false;

  constructor(options: TemperatureServiceOptions) {
    this.#source = options.source;
    this.#now = options.now ?? (() => Date.now());
    this.maxAge = options.maxAge ?? 2000;
    this.threshold = options.threshold ?? 0.1;
    this.maxInterval = options.maxInterval ?? 60_000;
    this.pollInterval = Math.min(options.pollInterval ?? 5000, this.maxInterval);
    if (!(this.maxAge >= 0 && this.threshold >= 0 && this.maxInterval > 0 && this.pollInterval > 0))
      throw new RangeError("bad temperature service timing");
  }

  /** The latest sample or fault, however old (undefined before the first). */
  get latest(): Update | undefined {
    const last = this.#last;
    if (!last) return undefined;
    return last.reading ? { ok: true, reading: last.reading } : { ok: false, error: last.error, at: last.at };
  }

  /** The latest sample or fault when it is younger than maxAge (what read() would give at once). */
  get fresh(): Update | undefined {
    const last = this.#last;
    return last && this.#now() - last.at < this.maxAge ? this.latest : undefined;
  }

  /** A reading no older than maxAge; starts (or joins) a conversion otherwise. */
  read(): Promise<Reading> {
    const last = this.#last;
    if (last && this.#now() - last.at < this.maxAge) return last.reading ? Promise.resolve(last.reading) : Promise.reject(last.error);
    return this.#sample();
  }

  /** read() as an Update: never rejects */
  async update(): Promise<Update> {
    try {
      return { ok: true, reading: await this.read() };
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error : new Error(String(error)), at: this.#now() };
    }
  }

  /** Calls `listener` with each update observers should get; returns the unsubscribe function. */
  onChange(listener: (update: Update) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * One step of the observe loop: notifies when the 60 s rule is due, and samples
   * when the last sample is older than pollInterval. start() calls it on a timer;
   * tests call it with their own clock.
   */
  async poll(): Promise<void> {
    this.#decide();
    const last = this.#last;
    if (!last || this.#now() - last.at >= this.pollInterval) {
      try {
        await this.#sample();
      } catch {
        // a fault is an update like a reading: #decide() already handled it
      }
    }
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    const step = (): void => {
      this.#timer = undefined;
      this.poll().then(() => {
        if (this.#running) this.#timer = Timer.set(step, this.#nextWake());
      });
    };
    this.#timer = Timer.set(step, 0);
  }

  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) Timer.clear(this.#timer);
    this.#timer = undefined;
  }

  /* ms until the next sample or the next forced notification, whichever comes first */
  #nextWake(): number {
    const now = this.#now();
    let wake = this.#last ? this.#last.at + this.pollInterval - now : 0;
    if (this.#notified) wake = Math.min(wake, this.#notified.at + this.maxInterval - now);
    return Math.max(1, Math.ceil(wake));
  }

  #sample(): Promise<Reading> {
    if (!this.#inflight) {
      const inflight = this.#source.read().then(
        (celsius) => {
          const at = this.#now();
          const reading = { celsius, at };
          this.#last = { at, reading };
          this.#decide();
          return reading;
        },
        (error: unknown) => {
          const at = this.#now();
          this.#last = { at, error: error instanceof Error ? error : new Error(String(error)) };
          this.#decide();
          throw this.#last.error;
        },
      );
      this.#inflight = inflight;
      const clear = () => {
        if (this.#inflight === inflight) this.#inflight = undefined;
      };
      inflight.then(clear, clear);
    }
    return this.#inflight;
  }

  /* applies the notification rules to the latest outcome */
  #decide(): void {
    const last = this.#last;
    if (!last) return;
    const now = this.#now();
    const told = this.#notified;
    let due = !told || now - told.at >= this.maxInterval;
    if (told && !due) {
      if (last.reading) {
        /* 1e-9: the threshold is decimal, the values are binary sixteenths */
        due = told.celsius === undefined || Math.abs(last.reading.celsius - told.celsius) >= this.threshold - 1e-9;
      } else {
        due = told.code !== codeOf(last.error);
      }
    }
    if (!due) return;
    const update: Update = last.reading ? { ok: true, reading: last.reading } : { ok: false, error: last.error, at: last.at };
    this.#notified = last.reading ? { at: now, celsius: last.reading.celsius } : { at: now, code: codeOf(last.error) };
    for (const listener of this.#listeners) {
      try {
        listener(update);
      } catch (error) {
        trace(`temperature listener failed: ${error}\n`);
      }
    }
  }
}

function codeOf(error: Error): string {
  return error instanceof SensorError ? error.code : "internal";
}
