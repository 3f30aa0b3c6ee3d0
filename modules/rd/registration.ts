/*
 * Resource Directory registration (RFC 9176): the node registers the links of
 * its resources at an RD, keeps the registration alive, registers again when
 * the RD has forgotten it, and removes it on an orderly shutdown. Sans-IO:
 * requests through an injected request(options, now) (a CoapClient); every entry
 * point is given the time of the call (start(now), tick(now), stop(now)). An RD's
 * answer is queued when it settles: onDeadlineChange() is called, nextDeadline()
 * says -Infinity (at once), and the next tick(now) acts on it.
 *
 * RFC 9176 sec 5.3 (registration: POST {+rd}?ep=NAME&lt=LIFETIME[&d=][&base=]
 * with the link format as payload, content-format 40; 2.01 Created with the
 * registration resource in Location-Path), 5.3.1 (update: POST to the location
 * with no payload, 2.04; 4.04 means the RD lost the registration and the node
 * registers again), 5.3.2 (removal: DELETE the location, 2.02), sec 9.3 (lt
 * defaults to 90 000 s); RFC 6690 (link format).
 *
 * Timing: an update is sent `refreshLead` before the lifetime ends (default:
 * a tenth of the lifetime, at least MAX_TRANSMIT_WAIT 93 s, at most half the
 * lifetime), or every `refreshInterval` ms when that is given. A failed
 * registration or update is retried with exponential back-off; once the
 * lifetime has run out without a successful update the node registers anew.
 *
 * libcoap's coap-rd (4.3.1, Debian 12) answers an update with 4.05 (it does not
 * implement it) but keeps registrations without expiry: 4.05 and 5.01 are taken
 * to mean "registration still there" (logged once). Its DELETE handler frees the
 * registration twice and the RD aborts: a DELETE we sent is still our orderly
 * removal, the crash is the RD's.
 */
import { Backoff } from "coap/backoff";
import type { ClientResponse, Peer, RequestOptions } from "coap/client";
import { Code, ContentFormat, MAX_TRANSMIT_WAIT, codeClass, formatCode } from "coap/numbers";
import { whenSettled, type Outcome } from "coap/outcome";
import { formatCoapUri, parseCoapUri, type CoapUri } from "coap/uri";

/** RFC 9176 sec 9.3: the lifetime when none is given, seconds */
export const RD_DEFAULT_LIFETIME = 90_000;
/** RFC 7252 MAX_TRANSMIT_WAIT, ms: an update must have time to be retransmitted before the end */
export const RD_MIN_REFRESH_LEAD = MAX_TRANSMIT_WAIT;
export const RD_BACKOFF_INITIAL = 4_000;
export const RD_BACKOFF_MAX = 600_000;
export const RD_REQUEST_TIMEOUT = MAX_TRANSMIT_WAIT;
export const RD_DEREGISTER_TIMEOUT = 10_000;
/** link-format payloads go in one message (no Block1) */
export const RD_MAX_PAYLOAD = 1024;

export type RdState = "stopped" | "registering" | "registered" | "stopping";

/** What to do with the RD's answer (or the error instead), taken in at `now`. */
type Done = (response: ClientResponse | undefined, error: unknown, now: number) => void;

export interface RdOptions {
  /** the RD, e.g. "coap://[2001:db8::1]" (registration interface "rd" when the URI has no path) */
  uri: string;
  /** sends a request at `now` (a CoapClient's request, bound) */
  request(options: RequestOptions, now: number): Promise<ClientResponse>;
  /** endpoint name (ep), at most 63 bytes (RFC 9176 sec 9.3) */
  endpoint: string;
  /** the node's links, e.g. () => server.linkFormat() */
  links(): string;
  /** seconds (lt), default 90 000 */
  lifetime?: number;
  /** sector (d) */
  sector?: string;
  /** base URI of the links when the RD cannot take it from the source address */
  base?: string;
  /** ms between updates, overriding the lifetime rule (tests, short lifetimes) */
  refreshInterval?: number;
  backoffInitial?: number;
  backoffMax?: number;
  requestTimeout?: number;
  deregisterTimeout?: number;
  /** the RD's address when the URI names a host the caller resolved */
  peer?: Peer;
  random?: () => number;
  log?(message: string): void;
  onDeadlineChange?(): void;
}

export interface RdCounters {
  registrations: number;
  updates: number;
  failures: number;
}

function check(text: string, what: string, max: number): void {
  if (text.length === 0 || text.length > max) throw new RangeError(`rd: ${what} must have 1 to ${max} characters`);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x26 /* & */) throw new RangeError(`rd: ${what} has a character it cannot carry: ${JSON.stringify(text)}`);
  }
}

export class RdRegistration {
  readonly uri: CoapUri;
  readonly lifetime: number;
  readonly refreshDelay: number;
  #options: RdOptions;
  #peer: Peer;
  #path: string[];
  #backoff: Backoff;
  #log: (message: string) => void;
  #state: RdState = "stopped";
  #location: string[] | undefined;
  /** when the last successful registration or update expires at the RD (ms) */
  #validUntil = 0;
  #nextAt = 0;
  #inflight = false;
  /** stop() waiting for the request in flight: told the time of the tick that ends it */
  #idle: ((now: number) => void)[] = [];
  /** the RD's answer to the request in flight, waiting for tick(now) */
  #answer: { outcome: Outcome<ClientResponse>; done: Done } | undefined;
  #noUpdates = false;
  #outcome = "";
  #counters: RdCounters = { registrations: 0, updates: 0, failures: 0 };

  constructor(options: RdOptions) {
    this.#options = options;
    this.uri = parseCoapUri(options.uri);
    this.#path = this.uri.path.length ? this.uri.path : ["rd"];
    if (!options.peer && !this.uri.literal) throw new RangeError(`rd: ${this.uri.host} is a name: resolve it and pass peer`);
    this.#peer = options.peer ?? { address: this.uri.host, port: this.uri.port };
    check(options.endpoint, "endpoint name", 63);
    if (options.sector !== undefined) check(options.sector, "sector", 63);
    this.lifetime = options.lifetime ?? RD_DEFAULT_LIFETIME;
    if (!(Number.isInteger(this.lifetime) && this.lifetime >= 1 && this.lifetime <= 0xffffffff)) throw new RangeError("rd: lifetime must be 1 to 2^32-1 seconds");
    const lifetimeMs = this.lifetime * 1000;
    const lead = Math.min(lifetimeMs / 2, Math.max(lifetimeMs / 10, RD_MIN_REFRESH_LEAD));
    this.refreshDelay = options.refreshInterval ?? lifetimeMs - lead;
    if (!(this.refreshDelay > 0)) throw new RangeError("rd: bad refresh interval");
    this.#backoff = new Backoff({
      initial: options.backoffInitial ?? RD_BACKOFF_INITIAL,
      max: options.backoffMax ?? RD_BACKOFF_MAX,
      random: options.random,
    });
    this.#log = options.log ? (m) => options.log!(m) : () => {};
  }

  get state(): RdState {
    return this.#state;
  }

  /** Location-Path of the registration resource while registered */
  get location(): readonly string[] | undefined {
    return this.#location;
  }

  get counters(): RdCounters {
    return { ...this.#counters };
  }

  /** Registers at once (`now`), then keeps the registration alive until stop(). */
  start(now: number): void {
    if (this.#state !== "stopped") return;
    this.#state = "registering";
    this.#nextAt = now;
    this.#step(now);
  }

  /**
   * Stops updating and removes the registration (DELETE). Resolves true when the
   * RD confirmed the removal, false otherwise (not registered, error, timeout).
   */
  async stop(now: number): Promise<boolean> {
    if (this.#state === "stopped" || this.#state === "stopping") return false;
    this.#state = "stopping";
    this.#changed();
    // a request in flight first; its answer comes in at a tick, whose time the DELETE is sent at
    if (this.#inflight) now = await new Promise<number>((resolve) => this.#idle.push(resolve));
    const location = this.#location;
    this.#location = undefined;
    this.#state = "stopped";
    if (!location) return false;
    let removed = false;
    try {
      const response = await this.#options.request({
        method: "DELETE",
        peer: this.#peer,
        path: location,
        timeout: this.#options.deregisterTimeout ?? RD_DEREGISTER_TIMEOUT,
      }, now);
      removed = codeClass(response.code) === 2;
      this.#log(`rd: removal of /${location.join("/")}: ${formatCode(response.code)}`);
    } catch (error) {
      this.#log(`rd: removal of /${location.join("/")} failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    this.#changed();
    return removed;
  }

  nextDeadline(): number | undefined {
    if (this.#answer) return -Infinity;
    if ((this.#state === "registering" || this.#state === "registered") && !this.#inflight) return this.#nextAt;
    return undefined;
  }

  /** Takes in the RD's answer, if one came, then sends what is due at `now`. */
  tick(now: number): void {
    const answer = this.#answer;
    if (answer) {
      this.#answer = undefined;
      const { outcome, done } = answer;
      this.#settle("value" in outcome ? outcome.value : undefined, "error" in outcome ? outcome.error : undefined, done, now);
    }
    this.#step(now);
  }

  // ---- internals ----

  #changed(): void {
    this.#options.onDeadlineChange?.();
  }

  #step(now: number): void {
    if (this.#inflight || (this.#state !== "registering" && this.#state !== "registered")) return;
    if (now < this.#nextAt) return;
    if (this.#state === "registered" && now >= this.#validUntil) {
      this.#log("rd: registration lifetime ran out without an update; registering again");
      this.#state = "registering";
      this.#location = undefined;
    }
    if (this.#state === "registering") this.#register(now);
    else this.#update(now);
    this.#changed();
  }

  #query(): string[] {
    const query = [`ep=${this.#options.endpoint}`];
    if (this.#options.sector !== undefined) query.push(`d=${this.#options.sector}`);
    query.push(`lt=${this.lifetime}`);
    if (this.#options.base !== undefined) query.push(`base=${this.#options.base}`);
    return query;
  }

  #send(request: RequestOptions, now: number, done: Done): void {
    this.#inflight = true;
    const sent: RequestOptions = { ...request, peer: this.#peer, timeout: this.#options.requestTimeout ?? RD_REQUEST_TIMEOUT };
    whenSettled(() => this.#options.request(sent, now), (outcome) => {
      this.#answer = { outcome, done };
      this.#changed();
    });
  }

  #settle(response: ClientResponse | undefined, error: unknown, done: Done, now: number): void {
    this.#inflight = false;
    if (this.#state === "registering" || this.#state === "registered") done(response, error, now);
    else if (response && codeClass(response.code) === 2 && response.locationPath.length) this.#location = response.locationPath; // stop() removes it
    for (const resolve of this.#idle.splice(0)) resolve(now);
    this.#changed();
  }

  #register(at: number): void {
    const links = this.#options.links();
    if (links.length > RD_MAX_PAYLOAD) this.#log(`rd: ${links.length} bytes of links is more than one message carries; the RD may refuse it`);
    this.#send(
      { method: "POST", path: this.#path, query: this.#query(), payload: links, contentFormat: ContentFormat.LINK_FORMAT },
      at,
      (response, error, now) => {
        if (response && codeClass(response.code) === 2 && response.locationPath.length > 0) {
          this.#counters.registrations++;
          this.#location = response.locationPath;
          this.#registered(at);
          this.#outcome = "alive";
          this.#log(`rd: registered as "${this.#options.endpoint}" at ${this.#where()} (lifetime ${this.lifetime} s)`);
          return;
        }
        const what = response
          ? codeClass(response.code) === 2
            ? `${formatCode(response.code)} without Location-Path`
            : formatCode(response.code)
          : `no response (${error instanceof Error ? error.message : String(error)})`;
        this.#failed(`registration at ${formatCoapUri({ ...this.uri, path: this.#path, query: [] })}: ${what}`, response ? formatCode(response.code) : "no response", now);
      },
    );
  }

  #update(at: number): void {
    this.#send({ method: "POST", path: this.#location! }, at, (response, error, now) => {
      if (response && codeClass(response.code) === 2) {
        this.#counters.updates++;
        this.#registered(at);
        this.#report("alive", `registration ${this.#where()} updated`);
        return;
      }
      if (response && (response.code === Code.METHOD_NOT_ALLOWED || response.code === Code.NOT_IMPLEMENTED)) {
        // an RD without the update interface (libcoap's coap-rd): it answered, so the registration is there
        if (!this.#noUpdates) this.#log(`rd: the RD answers updates with ${formatCode(response.code)}: taking the registration as alive`);
        this.#noUpdates = true;
        this.#registered(at);
        return;
      }
      if (response && codeClass(response.code) === 4) {
        // 4.04: the RD forgot us (restarted, or the lifetime ran out); any other refusal: start over too
        this.#report(formatCode(response.code), `registration ${this.#where()} gone (${formatCode(response.code)}): registering again`);
        this.#state = "registering";
        this.#location = undefined;
        this.#nextAt = now;
        this.#step(now);
        return;
      }
      const what = response ? formatCode(response.code) : `no response (${error instanceof Error ? error.message : String(error)})`;
      this.#failed(`update of ${this.#where()}: ${what}`, response ? formatCode(response.code) : "no response", now);
    });
  }

  #registered(at: number): void {
    this.#state = "registered";
    this.#backoff.reset();
    this.#validUntil = at + this.lifetime * 1000;
    this.#nextAt = at + this.refreshDelay;
  }

  #failed(message: string, key: string, now: number): void {
    this.#counters.failures++;
    const delay = this.#backoff.fail();
    this.#nextAt = now + delay;
    this.#report(key, `${message}; retrying with back-off`);
  }

  #where(): string {
    return `/${(this.#location ?? []).join("/")}`;
  }

  /** Logs when the outcome changes, not on every request. */
  #report(key: string, message: string): void {
    if (key === this.#outcome) return;
    this.#outcome = key;
    this.#log(`rd: ${message}`);
  }
}
