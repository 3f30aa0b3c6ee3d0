/*
 * Telemetry: pushes temperature readings as SenML JSON to a collector with
 * CoAP POST (or PUT), every `period` and on a significant change, keeping a
 * bounded queue while the collector is unreachable. Sans-IO: requests go
 * through an injected request(options, now) (a CoapClient over UDP or DTLS); every
 * entry point is given the time of the call (start(now), tick(now), offer(celsius,
 * at)), and requests are sent only from tick(now), at nextDeadline(). What settles
 * later (a reading, a collector's answer) is queued: onDeadlineChange() is called,
 * nextDeadline() says -Infinity (at once), and the next tick(now) acts on it.
 *
 * RFC 7252 sec 5.8.2 / 5.8.3 (POST, PUT), 5.9 (2.xx success, 4.xx the client's
 * fault: sending the same again cannot help, 5.xx the server's: retry),
 * 5.10.5 (Max-Age on a 5.03: the earliest sensible retry); RFC 8428 (temperature/senml.ts).
 *
 * Rules:
 * - a reading is queued every `period` ms (read() is called), and when offer()
 *   sees the value move by >= `threshold` since the last queued one (wire it to
 *   TemperatureService.onChange); either restarts the period.
 * - one request at a time, oldest readings first, up to `maxBatch` per pack;
 *   2.xx: they are sent; 4.xx: they are rejected (counted, not retried);
 *   5.xx, timeout, RST: they go back to the head of the queue and the next try
 *   waits an exponential back-off (capped at `backoffMax`).
 * - the queue holds at most `maxQueue` readings; a newer one pushes out the
 *   oldest, which is counted as dropped.
 * - the outcome (delivered / 4.xx code / 5.xx code / no response) is logged
 *   when it changes, not on every request.
 * Counters: recorded = sent + rejected + dropped + queued, at any time.
 */
import { Backoff } from "coap/backoff";
import type { ClientResponse, Peer, RequestOptions } from "coap/client";
import { ContentFormat, MAX_TRANSMIT_WAIT, codeClass, formatCode } from "coap/numbers";
import { whenSettled, type Outcome } from "coap/outcome";
import { formatCoapUri, parseCoapUri, type CoapUri } from "coap/uri";
import { formatPack, type TimedReading } from "temperature/senml";

export const TELEMETRY_PERIOD = 60_000;
export const TELEMETRY_THRESHOLD = 0.5;
export const TELEMETRY_MAX_QUEUE = 32;
export const TELEMETRY_MAX_BATCH = 8;
export const TELEMETRY_MAX_PAYLOAD = 1024;
export const TELEMETRY_BACKOFF_INITIAL = 4_000;
export const TELEMETRY_BACKOFF_MAX = 300_000;
/** ms per request, all retransmissions included (RFC 7252 MAX_TRANSMIT_WAIT is 93 s) */
export const TELEMETRY_REQUEST_TIMEOUT = MAX_TRANSMIT_WAIT;

export interface TelemetryOptions {
  /** the collector, coap://host[:port]/path[?query] or coaps://... */
  uri: string;
  /** sends a request at `now` (a CoapClient's request, bound) */
  request(options: RequestOptions, now: number): Promise<ClientResponse>;
  /**
   * A fresh reading for the periodic report (a number is taken as measured at the
   * tick that takes it in); a rejection is a sensor fault (nothing is queued). A reading whose
   * `at` is not newer than the last one queued is the same sample, not queued twice.
   */
  read(): Promise<number | TimedReading>;
  /** SenML base name, e.g. "urn:dev:mac:0024befffe804ff1:" */
  baseName: string;
  /** default POST */
  method?: "POST" | "PUT";
  /** ms between periodic readings (default 60 000) */
  period?: number;
  /** degC change that offer() reports at once (default 0.5) */
  threshold?: number;
  maxQueue?: number;
  maxBatch?: number;
  /** bytes a pack may have (no Block1): a batch shrinks to fit */
  maxPayload?: number;
  backoffInitial?: number;
  backoffMax?: number;
  /** ms per request (default 93 000) */
  requestTimeout?: number;
  /** default true */
  confirmable?: boolean;
  /** the collector's address when the URI names a host the caller resolved */
  peer?: Peer;
  random?: () => number;
  log?(message: string): void;
  /** a deadline may have moved outside tick() (DeadlineScheduler.update) */
  onDeadlineChange?(): void;
}

export interface TelemetryCounters {
  /** readings taken into the queue */
  recorded: number;
  /** readings the collector acknowledged with 2.xx */
  sent: number;
  /** readings the collector refused with 4.xx */
  rejected: number;
  /** readings pushed out of a full queue */
  dropped: number;
  /** readings waiting or in flight */
  queued: number;
  /** requests that did not get a 2.xx (4.xx, 5.xx, no response) */
  failed: number;
  /** requests sent */
  requests: number;
  /** periodic reads that failed (sensor faults) */
  faults: number;
}

export class TelemetryReporter {
  readonly uri: CoapUri;
  readonly period: number;
  readonly threshold: number;
  #options: TelemetryOptions;
  #label: string;
  #peer: Peer;
  #maxQueue: number;
  #maxBatch: number;
  #maxPayload: number;
  #backoff: Backoff;
  #log: (message: string) => void;
  #queue: TimedReading[] = [];
  #inflight: TimedReading[] | undefined;
  #lastQueued: number | undefined;
  #lastAt = -Infinity;
  #running = false;
  #sampling = false;
  #nextSample = 0;
  #retryAt = 0;
  #outcome = "";
  #dropping = false;
  #counters = { recorded: 0, sent: 0, rejected: 0, dropped: 0, failed: 0, requests: 0, faults: 0 };
  #idle: (() => void)[] = [];
  /** what the last read() gave, waiting for tick(now) */
  #read: Outcome<number | TimedReading> | undefined;
  /** the collector's answer to the request in flight, waiting for tick(now) */
  #answer: Outcome<ClientResponse> | undefined;

  constructor(options: TelemetryOptions) {
    this.#options = options;
    this.uri = parseCoapUri(options.uri);
    this.#label = `${options.method ?? "POST"} ${formatCoapUri(this.uri)}`;
    if (!options.peer && !this.uri.literal) throw new RangeError(`telemetry: ${this.uri.host} is a name: resolve it and pass peer`);
    this.#peer = options.peer ?? { address: this.uri.host, port: this.uri.port };
    this.period = options.period ?? TELEMETRY_PERIOD;
    this.threshold = options.threshold ?? TELEMETRY_THRESHOLD;
    this.#maxQueue = options.maxQueue ?? TELEMETRY_MAX_QUEUE;
    this.#maxBatch = options.maxBatch ?? TELEMETRY_MAX_BATCH;
    this.#maxPayload = options.maxPayload ?? TELEMETRY_MAX_PAYLOAD;
    if (!(this.period > 0 && this.threshold >= 0 && this.#maxQueue >= 1 && this.#maxBatch >= 1 && this.#maxPayload >= 64))
      throw new RangeError("telemetry: bad period, threshold, queue, batch or payload size");
    this.#backoff = new Backoff({
      initial: options.backoffInitial ?? TELEMETRY_BACKOFF_INITIAL,
      max: options.backoffMax ?? TELEMETRY_BACKOFF_MAX,
      random: options.random,
    });
    this.#log = options.log ? (m) => options.log!(m) : () => {};
  }

  get counters(): TelemetryCounters {
    return { ...this.#counters, queued: this.#queue.length + (this.#inflight?.length ?? 0) };
  }

  /** consecutive failed requests (the back-off step) */
  get failures(): number {
    return this.#backoff.failures;
  }

  /** Starts the periodic readings at `now`; the first is taken at once. */
  start(now: number): void {
    if (this.#running) return;
    this.#running = true;
    this.#nextSample = now;
    this.#changed();
  }

  /**
   * Stops reading and sending. Resolves when no request is in flight any more, at
   * the tick that takes in its answer (readings still queued stay counted as queued).
   */
  stop(): Promise<void> {
    this.#running = false;
    this.#changed();
    if (!this.#inflight) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** A new value from the sensor (TemperatureService.onChange), measured at `at`: queued when it moved by >= threshold. */
  offer(celsius: number, at: number): void {
    if (!this.#running || at <= this.#lastAt) return;
    if (this.#lastQueued !== undefined && Math.abs(celsius - this.#lastQueued) < this.threshold - 1e-9) return;
    this.record(celsius, at);
    this.#nextSample = at + this.period;
  }

  /** Queues a reading measured at `at` whatever its value; it goes out at the next tick(now). */
  record(celsius: number, at: number): void {
    if (!Number.isFinite(celsius)) return;
    this.#queue.push({ celsius, at });
    this.#lastQueued = celsius;
    if (at > this.#lastAt) this.#lastAt = at;
    this.#counters.recorded++;
    this.#trim();
    this.#changed();
  }

  nextDeadline(): number | undefined {
    if (this.#read || this.#answer) return -Infinity;
    let next: number | undefined;
    if (this.#running && !this.#sampling) next = this.#nextSample;
    if (this.#running && !this.#inflight && this.#queue.length > 0 && (next === undefined || this.#retryAt < next)) next = this.#retryAt;
    return next;
  }

  /** Takes in what settled (a reading, an answer), then reads and sends what is due at `now`. */
  tick(now: number): void {
    const read = this.#read;
    this.#read = undefined;
    if (read) this.#takeReading(read, now);
    const answer = this.#answer;
    this.#answer = undefined;
    if (answer && this.#inflight) this.#settled(this.#inflight, "value" in answer ? answer.value : undefined, "error" in answer ? answer.error : undefined, now);
    if (!this.#running) return;
    if (!this.#sampling && now >= this.#nextSample) this.#sample(now);
    this.#pump(now);
  }

  // ---- internals ----

  #changed(): void {
    this.#options.onDeadlineChange?.();
  }

  #sample(now: number): void {
    this.#sampling = true;
    this.#nextSample = now + this.period;
    whenSettled(() => this.#options.read(), (read) => {
      this.#read = read;
      this.#changed();
    });
  }

  #takeReading(read: Outcome<number | TimedReading>, now: number): void {
    this.#sampling = false;
    if ("error" in read) {
      this.#counters.faults++;
      this.#log(`telemetry: no reading: ${read.error instanceof Error ? read.error.message : String(read.error)}`);
      return;
    }
    const reading = typeof read.value === "number" ? { celsius: read.value, at: now } : read.value;
    if (this.#running && reading.at > this.#lastAt) this.record(reading.celsius, reading.at);
  }

  /** Drops the oldest waiting readings beyond maxQueue (the in-flight batch is not in #queue). */
  #trim(): void {
    let dropped = 0;
    while (this.#queue.length > this.#maxQueue) {
      this.#queue.shift();
      dropped++;
    }
    if (dropped === 0) return;
    this.#counters.dropped += dropped;
    if (!this.#dropping) {
      this.#dropping = true;
      this.#log(`telemetry: queue full (${this.#maxQueue}): dropping the oldest readings`);
    }
  }

  /** The largest batch from the head of the queue whose pack fits maxPayload. */
  #batch(now: number): { readings: TimedReading[]; payload: string } {
    let count = Math.min(this.#maxBatch, this.#queue.length);
    for (;;) {
      const readings = this.#queue.slice(0, count);
      const payload = formatPack(readings, now, this.#options.baseName);
      if (payload.length <= this.#maxPayload || count === 1) return { readings, payload };
      count = Math.max(1, count >> 1);
    }
  }

  #pump(now: number): void {
    if (!this.#running || this.#inflight || this.#queue.length === 0) return;
    if (now < this.#retryAt) return;
    const { readings, payload } = this.#batch(now);
    this.#queue.splice(0, readings.length);
    this.#inflight = readings;
    this.#counters.requests++;
    const request: RequestOptions = {
      method: this.#options.method ?? "POST",
      peer: this.#peer,
      path: this.uri.path,
      query: this.uri.query,
      payload,
      contentFormat: ContentFormat.SENML_JSON,
      confirmable: this.#options.confirmable !== false,
      timeout: this.#options.requestTimeout ?? TELEMETRY_REQUEST_TIMEOUT,
    };
    whenSettled(() => this.#options.request(request, now), (answer) => {
      this.#answer = answer;
      this.#changed();
    });
  }

  #settled(readings: TimedReading[], response: ClientResponse | undefined, error: unknown, now: number): void {
    this.#inflight = undefined;
    const kind = response ? codeClass(response.code) : 0;
    if (response && kind === 2) {
      this.#counters.sent += readings.length;
      this.#backoff.reset();
      this.#retryAt = 0;
      this.#dropping = false;
      this.#report("delivered", `${formatCode(response.code)}: delivering`);
    } else if (response && kind === 4) {
      // the collector refuses this data: sending it again cannot help
      this.#counters.failed++;
      this.#counters.rejected += readings.length;
      this.#backoff.reset();
      this.#retryAt = 0;
      this.#report(formatCode(response.code), `${formatCode(response.code)}: readings rejected${diagnostic(response)}`);
    } else {
      this.#counters.failed++;
      this.#queue = readings.concat(this.#queue);
      this.#trim();
      let delay = this.#backoff.fail();
      const maxAge = response?.maxAge;
      // a 5.03 with Max-Age says when to come back (RFC 7252 sec 5.9.3.4); still within the cap
      if (maxAge !== undefined) delay = Math.min(this.#backoff.max, Math.max(delay, maxAge * 1000));
      this.#retryAt = now + delay;
      const what = response ? `${formatCode(response.code)}${diagnostic(response)}` : `no response (${error instanceof Error ? error.message : String(error)})`;
      this.#report(response ? formatCode(response.code) : "no response", `${what}; keeping ${this.#queue.length} readings, retrying with back-off`);
    }
    if (this.#running) this.#pump(now);
    if (!this.#inflight) for (const resolve of this.#idle.splice(0)) resolve();
    this.#changed();
  }

  #report(key: string, message: string): void {
    if (key === this.#outcome) return;
    this.#outcome = key;
    this.#log(`telemetry: ${this.#label}: ${message}`);
  }
}

function diagnostic(response: ClientResponse): string {
  if (response.payload.length === 0 || response.payload.length > 64) return "";
  const text = response.text();
  return text ? ` "${text}"` : "";
}
