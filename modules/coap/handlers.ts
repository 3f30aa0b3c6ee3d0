/*
 * Running resource handlers for the server: a synchronous answer at once, a throw or
 * a rejection as 5.00 (reported through log), and an asynchronous answer queued for
 * the server's next tick(now), never sent from a promise job. An asynchronous handler
 * answering a request is tracked: at most maxAsyncExchanges per resource (the server
 * answers the rest 5.03), and past asyncHandlerTimeout its request is handed back to
 * the server (which answers 5.03) and its late answer dropped. Pure: times come in as
 * `now`, nothing reads a clock or sets a timer.
 *
 * RFC 7252 sec 5.2.2 (a separate response, later), 5.9.2.1 (5.00), 5.9.3.4 (5.03).
 */
import type { Limits } from "./numbers";
import { internalError, type CoapRequest, type CoapResponse, type Handler } from "./resource";

/** Where a handler's response goes, with the time of the call that delivers it. */
export type Done = (response: CoapResponse, now: number) => void;

/** An asynchronous handler answering a request; `subject` is the server's (its exchange). */
interface Running<T> {
  subject: T;
  deadline: number;
  /** the resource's path key: the limit is per resource */
  key: string;
}

/** An asynchronous handler's answer, waiting for the next tick(now). */
interface Settled {
  done: Done;
  response: CoapResponse;
}

export class Handlers<T> {
  readonly #limits: Limits;
  readonly #log: (message: string) => void;
  readonly #wake: () => void;
  readonly #running = new Set<Running<T>>();
  /** asynchronous handlers running per resource path key */
  readonly #perResource = new Map<string, number>();
  /** answers of asynchronous handlers, oldest first */
  #settled: Settled[] = [];

  constructor(limits: Limits, log: (message: string) => void, wake: () => void) {
    this.#limits = limits;
    this.#log = log;
    this.#wake = wake;
  }

  /** Asynchronous handlers answering requests, running now. */
  get running(): number {
    return this.#running.size;
  }

  /** Whether answers wait for the next tick(now). */
  get waiting(): boolean {
    return this.#settled.length > 0;
  }

  /** Whether the resource at `key` has as many asynchronous handlers running as it may. */
  full(key: string): boolean {
    return this.#perResource.size > 0 && (this.#perResource.get(key) ?? 0) >= this.#limits.maxAsyncExchanges;
  }

  /** The handler's answer, a promise of one, or a 5.00 when it throws. */
  call(handler: Handler, request: CoapRequest): CoapResponse | Promise<CoapResponse> {
    try {
      return handler(request) ?? {};
    } catch (error) {
      this.#log(`handler ${request.method} /${request.path.join("/")} threw: ${error}`);
      return internalError(error);
    }
  }

  /** Runs a handler (a notification's render): `done` at once when it is synchronous, at the tick after it settles otherwise. */
  run(handler: Handler, request: CoapRequest, now: number, done: Done): void {
    const result = this.call(handler, request);
    if (result instanceof Promise) this.await(result, request, now, done);
    else done(result, now);
  }

  /**
   * An asynchronous answer, to `done` at the tick(now) after it settles (or a 5.00 when
   * it rejects). One answering a request (`subject`) is tracked for the time limit.
   */
  await(result: Promise<CoapResponse>, request: CoapRequest, now: number, done: Done, subject?: T): void {
    let running: Running<T> | undefined;
    if (subject !== undefined) {
      const key = request.path.join("/");
      running = { subject, deadline: now + this.#limits.asyncHandlerTimeout, key };
      this.#running.add(running);
      this.#perResource.set(key, (this.#perResource.get(key) ?? 0) + 1);
    }
    const settle = (response: CoapResponse) => {
      if (running && !this.#forget(running)) return; // timed out meanwhile: already answered
      this.#settled.push({ done, response });
      if (this.#settled.length === 1) this.#wake();
    };
    result.then(
      (response) => settle(response ?? {}),
      (error) => {
        this.#log(`handler ${request.method} /${request.path.join("/")} rejected: ${error}`);
        settle(internalError(error));
      },
    );
  }

  /** The earliest time limit of a running handler. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    if (this.#running.size > 0) for (const running of this.#running) if (next === undefined || running.deadline < next) next = running.deadline;
    return next;
  }

  /** Delivers the answers that settled since the last tick, then hands `timedOut` each request whose handler is past its limit at `now`. */
  tick(now: number, timedOut: (subject: T, now: number) => void): void {
    const settled = this.#settled;
    if (settled.length > 0) {
      this.#settled = [];
      for (const { done, response } of settled) {
        try {
          done(response, now);
        } catch (error) {
          this.#log(`response failed: ${error}`);
        }
      }
    }
    if (this.#running.size === 0) return;
    for (const running of Array.from(this.#running)) {
      if (running.deadline > now) continue;
      this.#forget(running);
      timedOut(running.subject, now);
    }
  }

  /** Forgets a running handler; false when it was already forgotten (timed out). */
  #forget(running: Running<T>): boolean {
    if (!this.#running.delete(running)) return false;
    const left = (this.#perResource.get(running.key) ?? 1) - 1;
    if (left > 0) this.#perResource.set(running.key, left);
    else this.#perResource.delete(running.key);
    return true;
  }
}
