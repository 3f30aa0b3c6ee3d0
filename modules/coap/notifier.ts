/*
 * Notifications (RFC 7641): registering an observer from a successful GET, and
 * pushing each new state to the observers of a resource. It owns the grouping
 * (one render per representation asked for: Accept + query), the rendering (the
 * resource's own GET handler, run with the registration's request), the CON/NON
 * choice (observe.ts decides, the message layer sends) and the liveness probes of
 * silent observers. observe.ts keeps the lists; this file talks to the network.
 * Every entry point is given the time of the call (`now`, ms) and sends through the
 * message layer during it; a render by an asynchronous GET handler completes at a
 * later tick(now) of the server (context.run), which passes that call's time on.
 *
 * RFC 7641 sec 3.2 / 4.2 (an error response ends the observation and carries no
 * Observe), 4.4 (sequence numbers), 4.5 (a CON every N-th and every 24 h; an
 * unacknowledged CON removes the observer; a newer notification supersedes one in
 * flight; a CON that finds the pending table full goes as NON and the next one is
 * confirmable); RFC 7959 sec 3.4 (a large notification: its first block, with Size2).
 */
import { sliceBlock, needsBlockwise } from "./block2";
import { encodeBody, type CoapOption } from "./codec";
import type { LimitLog } from "./limitlog";
import { type MessageLayer } from "./messagelayer";
import { peerKey, type MessageParts, type Peer } from "./exchange";
import { Code, Option, codeClass, type Limits } from "./numbers";
import { observerGroup, observerKey, type ObserveRegistry, type Observer } from "./observe";
import { setBlock2, setObserve, setUint, type BlockValue } from "./options";
import { observedRequest, responseParts, type CoapRequest, type CoapResponse, type Handler, type Resource } from "./resource";
import { utf8Encode } from "./utf8";

export interface NotifierContext {
  layer: MessageLayer;
  observe: ObserveRegistry;
  limits: Limits;
  limitLog: LimitLog;
  log(message: string): void;
  /** the resource served at a path key */
  resource(key: string): Resource | undefined;
  /** runs a handler (sync or async) at `now`, then `done` with its response or a 5.00 and the time it completes at */
  run(handler: Handler, request: CoapRequest, now: number, done: (response: CoapResponse, now: number) => void): void;
}

const EMPTY = new Uint8Array(0);
const NO_OPTIONS: CoapOption[] = [];

/** The options (with Observe, and Block2 + Size2 when the representation is larger than a block) and payload of a notification, encoded. */
function notificationBody(parts: Omit<MessageParts, "token">, sequence: number, szx: number): Uint8Array {
  const options = parts.options.slice();
  setObserve(options, sequence);
  let payload = parts.payload;
  if (needsBlockwise(payload.length, undefined, szx)) {
    const slice = sliceBlock(payload, undefined, szx)!;
    setUint(options, Option.SIZE2, payload.length);
    setBlock2(options, slice.block);
    payload = slice.payload;
  }
  return encodeBody(options, payload);
}

export class Notifier {
  #c: NotifierContext;
  /** probing() as a value, made once: the registry's nextProbe() gets it per datagram */
  readonly probingFn = (observer: Observer): boolean => this.probing(observer);
  /** a RST to a NON notification ends that observation: one handler, the observer as its subject */
  readonly #onNonReset = (observer: Observer): void => {
    this.#c.observe.remove(observer);
  };
  /** a notification that could not be sent ends that observation */
  readonly #onSendError = (observer: Observer, error: unknown): void => {
    this.#c.log(`cannot send notification to ${observer.peerKey}: ${error}`);
    this.#c.observe.remove(observer);
  };

  constructor(context: NotifierContext) {
    this.#c = context;
  }

  /**
   * A successful answer to a GET with Observe 0 registers its observer and gets an
   * Observe option (unless the tables are full); an error ends an observation with
   * that token. `parts` is the response about to go out.
   */
  registered(key: string, peer: Peer, request: CoapRequest, block2: BlockValue | undefined, parts: Omit<MessageParts, "token">, now: number): void {
    const c = this.#c;
    const success = codeClass(parts.code) === 2;
    if (!success) {
      c.observe.deregister(key, peer, request.token);
      return;
    }
    if (block2 && block2.num !== 0) return;
    const kept = observedRequest(request);
    const szx = c.limits.defaultBlockSzx;
    const { result, displaced } = c.observe.register({
      path: key,
      peer,
      peerKey: peerKey(peer),
      token: kept.token,
      key: observerKey(peer, kept.token),
      group: observerGroup(kept),
      request: kept,
      szx: block2 ? Math.min(block2.szx, szx) : szx,
      sinceCon: 0,
      lastCon: now,
      confirmedAt: now,
    }, now);
    if (result !== "full") setObserve(parts.options, c.observe.nextSequence(key));
    else c.limitLog.hit("observers", `observer limit reached (${c.limits.maxObserversPerResource} per resource, ${c.limits.maxObservers} in all), none silent for ${c.limits.observerStaleAfter / 1000} s: new registrations are answered without Observe`, now);
    if (displaced) this.#endDisplaced(displaced, now);
  }

  /** The resource at `key` changed at `now`: one render per representation asked for, then a notification to each observer. */
  notify(key: string, now: number): void {
    const c = this.#c;
    const resource = c.resource(key);
    const observers = c.observe.observers(key);
    if (!resource?.get || observers.length === 0) return;
    const sequence = c.observe.nextSequence(key);
    // usually every observer asked for the same representation: one group, and no table made for it
    const first = observers[0].group;
    let i = 1;
    while (i < observers.length && observers[i].group === first) i++;
    if (i === observers.length) {
      c.run(resource.get, observers[0].request, now, (response, at) => this.#sendAll(observers, resource, response, sequence, at));
      return;
    }
    const groups = new Map<string, Observer[]>();
    for (let i = 0; i < observers.length; i++) {
      const observer = observers[i];
      const list = groups.get(observer.group);
      if (list) list.push(observer);
      else groups.set(observer.group, [observer]);
    }
    for (const group of groups.values()) {
      c.run(resource.get, group[0].request, now, (response, at) => this.#sendAll(group, resource, response, sequence, at));
    }
  }

  /**
   * Liveness probes due at `now`: the current state, confirmable, to each observer
   * silent for observerProbeInterval, while the pending table has room (the others
   * are probed once an answer or a timeout frees a place).
   */
  probe(now: number): void {
    const c = this.#c;
    for (const observer of c.observe.all()) {
      if (this.probing(observer) || c.observe.probeDue(observer) > now) continue;
      if (!c.layer.canConfirm()) return;
      const resource = c.resource(observer.path);
      if (!resource?.get) continue;
      const sequence = c.observe.nextSequence(observer.path);
      c.run(resource.get, observer.request, now, (response, at) => this.#sendAll([observer], resource, response, sequence, at));
    }
  }

  /** Whether a CON notification to this observer is in flight (its answer is the sign of life awaited). */
  probing(observer: Observer): boolean {
    return observer.pendingMid !== undefined && this.#c.layer.isPending(observer.peer, observer.pendingMid);
  }

  /** An observer that lost its place to a new registration: told, in case it still listens (RFC 7641 sec 4.2). */
  #endDisplaced(observer: Observer, now: number): void {
    const c = this.#c;
    c.limitLog.hit("observers", `observer tables full: a new registration takes the place of one silent for over ${c.limits.observerStaleAfter / 1000} s`, now);
    if (this.probing(observer)) c.layer.cancel(observer.peer, observer.pendingMid!, now);
    try {
      c.layer.sendNonConfirmable({ code: Code.SERVICE_UNAVAILABLE, token: observer.token, options: [], payload: utf8Encode("observation ended") }, observer.peer, now);
    } catch (error) {
      c.log(`cannot tell ${observer.peerKey} its observation ended: ${error}`);
    }
  }

  /**
   * One rendered state to the observers that asked for this representation: a success
   * is encoded once per block size (options with Observe, payload), the observers due
   * a CON get one each, and the others get their NONs in one call to the message
   * layer, which makes only header and token per observer; an error ends each
   * observation and carries no Observe.
   */
  #sendAll(observers: readonly Observer[], resource: Resource, response: CoapResponse, sequence: number, now: number): void {
    const c = this.#c;
    let parts: Omit<MessageParts, "token">;
    try {
      parts = responseParts(response, Code.CONTENT);
    } catch (error) {
      c.log(`bad notification from /${observers[0].path}: ${error}`);
      parts = { code: Code.INTERNAL_SERVER_ERROR, options: [], payload: EMPTY };
    }
    if (codeClass(parts.code) !== 2) {
      for (let i = 0; i < observers.length; i++) {
        const observer = observers[i];
        if (!c.observe.remove(observer)) continue; // an error ends the observation; it carries no Observe
        this.#send(observer, { code: parts.code, token: observer.token, options: parts.options, payload: parts.payload }, this.#confirmable(observer, resource, now), now);
      }
      return;
    }
    let body: Uint8Array | undefined;
    let bodySzx = -1;
    // the observers getting a NON with `body`, sent together whenever the body changes (another block size) and at the end
    const nons: Observer[] = [];
    for (let i = 0; i < observers.length; i++) {
      const observer = observers[i];
      if (observer.current !== true) continue; // c.observe.isCurrent(observer), without the call
      if (!body || bodySzx !== observer.szx) {
        if (nons.length > 0) this.#sendNons(parts.code, body!, nons, now);
        try {
          body = notificationBody(parts, sequence, observer.szx);
        } catch (error) {
          c.log(`cannot encode the notification of /${observer.path}: ${error}`);
          c.observe.remove(observer);
          body = undefined;
          continue;
        }
        bodySzx = observer.szx;
      }
      if (this.#confirmable(observer, resource, now)) this.#send(observer, { code: parts.code, token: observer.token, options: NO_OPTIONS, payload: EMPTY, body }, true, now);
      else nons.push(observer);
    }
    if (nons.length > 0) this.#sendNons(parts.code, body!, nons, now);
  }

  /**
   * Whether this observer's next notification goes as CON (observe.ts decides when one
   * is due). A CON that would not fit in the pending table goes as NON and the
   * observer's next notification is confirmable again: giving up another observer's
   * CON in flight would end that observation and leave it on an older state (the
   * table is a memory bound, not a sign of a dead client). One in flight is
   * superseded, which frees its place.
   */
  #confirmable(observer: Observer, resource: Resource, now: number): boolean {
    const c = this.#c;
    const inFlight = this.probing(observer);
    const due = resource.confirmableNotifications || c.observe.shouldConfirm(observer, now, inFlight);
    if (due && (inFlight || c.layer.canConfirm())) return true;
    if (!due) observer.sinceCon++;
    else c.limitLog.hit("pending-con", `${c.limits.maxPendingCon} confirmable messages pending: notifications due to be confirmable go as NON until one is answered`, now);
    return false;
  }

  /** A group's NONs, one call; an observer whose NON could not be sent is removed. */
  #sendNons(code: number, body: Uint8Array, nons: Observer[], now: number): void {
    this.#c.layer.sendNonConfirmables(code, body, nons, now, this.#onNonReset, this.#onSendError);
    nons.length = 0;
  }

  /** One notification, CON (`confirm`, from #confirmable) or NON, through the message layer. */
  #send(observer: Observer, parts: MessageParts, confirm: boolean, now: number): void {
    const c = this.#c;
    try {
      if (confirm) {
        const inFlight = this.probing(observer);
        observer.sinceCon = 0;
        observer.lastCon = now;
        const mid: number = c.layer.sendConfirmable(parts, observer.peer, now, {
          supersedes: inFlight ? observer.pendingMid : undefined,
          peerKey: observer.peerKey,
          onDone: (outcome, at) => {
            if (observer.pendingMid === mid) observer.pendingMid = undefined;
            if (outcome === "ack") observer.confirmedAt = at;
            c.observe.touched();
            if (outcome === "reset" || outcome === "timeout" || outcome === "evicted") {
              if (c.observe.remove(observer)) c.log(`observer ${observer.peerKey} of /${observer.path} removed: ${outcome}`);
            }
          },
        });
        observer.pendingMid = mid;
        c.observe.touched();
      } else {
        c.layer.sendNonConfirmable(parts, observer.peer, now, this.#onNonReset, observer, observer.peerKey);
      }
    } catch (error) {
      this.#onSendError(observer, error);
    }
  }
}
