/*
 * DTLS 1.2 server (PSK, certificates, or both on one port): a session table over the
 * native binding, sans-IO (README.md, Behaviour). Every entry point is given the time
 * of the call (`now`, ms): receive(datagram, peer, now), write(peer, data, now),
 * tick(now), close(peer, now). Records go out through the injected send()
 * synchronously, during the call that made them; onData and onClose run during it,
 * with its `now`. No socket, timer or clock here (the caller ticks at nextDeadline()).
 *
 * - Cookies first (RFC 6347 4.2.1): a peer without a session gets a HelloVerifyRequest
 *   built statelessly by the binding; only a ClientHello whose cookie proves the
 *   peer's address creates a session. Nothing is kept for the others.
 * - An established session is touched only by records that can authenticate for it
 *   (epoch 1 and later): a plaintext epoch-0 record from its address and port is either
 *   a cookie-verified ClientHello, which replaces the session (RFC 6347 4.2.8), or the
 *   datagram is dropped before Mbed TLS and counted as `forged` (records.ts says why).
 * - A session's activity time moves on authenticated progress only: a handshake step
 *   (the binding's state or output changed because of the datagram), application data
 *   delivered, a write. Junk keeps nothing alive.
 * - One session per peer address+port; at most `maxSessions` (handshaking ones
 *   included). A handshake not established `handshakeTimeoutMs` after its ClientHello
 *   is freed. When the table is full, a cookie-verified newcomer takes the place of
 *   the oldest handshake (a real client retransmits its flight and gets back in; a
 *   half-open one never completes), else of the established session quiet longest
 *   (at least `evictQuietMs`) that `keep()` does not hold; else it is refused.
 * - A session quiet for `idleTimeoutMs` is closed with close_notify.
 * - A failed handshake is freed at once after its fatal alert went out; the reason is
 *   logged, never a key.
 * - What a peer can cause once per datagram is logged once per episode (coap/limitlog)
 *   and counted; datagrams from unknown peers that are not ClientHellos are dropped.
 */
import { DTLSContext, DTLSSession, ESTABLISHED, FEATURE_CID, HANDSHAKING, features, type SessionState } from "./binding";
import { credentialOf } from "./describe";
import { EpisodeLog } from "coap/limitlog";
import { DEFAULT_CONNECTION_ID_LENGTH, DEFAULT_EVICT_QUIET_MS, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_SESSIONS, serverContext, type DtlsServerOptions, type DtlsServerStats, type Peer, type SessionPeer } from "./options";
import { CONTENT_TLS12_CID, authenticatable, cidKey, connectionIdOf, helloRandom, isClientHello, newestRecord, sameRandom, startsWithHandshake } from "./records";
import { deliver, flush, settle, type DtlsEnd, type DtlsEndKind, type PumpSink } from "./pump";
import { DEFAULT_HELLO_TIMEOUT_MS, DEFAULT_MAX_HELLO_BYTES, DEFAULT_MAX_PENDING_HELLOS, HelloReassembly, isHelloFragment, type Joined } from "./reassembly";

export type { DtlsServerOptions, DtlsServerStats, Peer, ServerCertificateOptions, SessionPeer } from "./options";
export { DEFAULT_EVICT_QUIET_MS, DEFAULT_HANDSHAKE_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_MAX_SESSIONS, DEFAULT_SESSION_CACHE, DEFAULT_TICKET_LIFETIME_S, serverContext } from "./options";
export { isClientHello } from "./records";

interface Entry {
  /** its transport id: the table's key (changes when a connection ID moves it) */
  key: string;
  id: string;
  /** address, port and session id: one frozen object per address the session has had (no object per datagram) */
  peer: SessionPeer;
  /** the peer objects of the addresses it moved from (connection IDs): they still name it in write() */
  formerPeers?: SessionPeer[];
  /** its connection ID (RFC 9146) once the peer agreed to one, as connectionIdOf() keys it */
  cid?: string;
  /** the newest record (epoch and sequence number, records.ts) that brought authenticated data: a move needs a newer one */
  newest: number;
  native: DTLSSession;
  /** when its ClientHello opened it: the handshake deadline and "oldest handshake" count from here */
  opened: number;
  /** the last authenticated progress: a handshake step, application data in, a write out */
  lastActive: number;
  established: boolean;
  /** ClientHello.random of the hello that opened it: a copy of that hello arriving late is no restart */
  helloRandom: Uint8Array;
  /** in the table: false once removed (what a callback that ran meanwhile checks) */
  live: boolean;
  /** application records it delivered, for onClose (end.delivered) */
  delivered: number;
}

/** the old addresses a moved session still answers to in write() (observers registered there hold their peer objects) */
const MAX_FORMER_PEERS = 4;

export function peerTransportId(peer: Peer): string {
  return `${peer.address}|${peer.port}`;
}

/** reassembly: a fragmented ClientHello refused or given up; refused: a newcomer found no room; forged: a record that cannot authenticate for an established session; expired: a handshake past its deadline; error: a datagram or callback threw */
type EpisodeKind = "refused" | "forged" | "expired" | "error" | "reassembly";

export class DtlsServer {
  readonly #options: DtlsServerOptions;
  readonly #context: DTLSContext;
  readonly #sessions = new Map<string, Entry>();
  /** the same entries by their frozen peer object: write() to what onData gave needs no key built */
  readonly #byPeer = new Map<SessionPeer, Entry>();
  /**
   * The entry last opened or moved to each port: a datagram finds its session by its
   * port and the entry's address, with no key made; another address on the same port
   * finds its own by key
   */
  readonly #byPort = new Map<number, Entry>();
  /** nextDeadline()'s answer, no later than every deadline (an earlier one only makes a tick that finds nothing); undefined: scan again */
  #due: number | undefined;
  #dueKnown = false;
  readonly #maxSessions: number;
  readonly #idleTimeoutMs: number;
  readonly #evictQuietMs: number;
  readonly #handshakeTimeoutMs: number;
  readonly #episodes: EpisodeLog<EpisodeKind>;
  /** established sessions by connection ID (RFC 9146): a record may come from a new address */
  readonly #byCid = new Map<string, Entry>();
  /** our connection IDs' length; 0: none (the library has none, or the options said so) */
  readonly #cidLength: number;
  /** fragmented ClientHellos being joined, by transport id (reassembly.ts) */
  readonly #hellos: HelloReassembly;
  readonly #maxHelloBytes: number;
  readonly #helloTimeoutMs: number;
  #serial = 0;
  #closed = false;
  readonly #counters = {
    helloVerifyRequests: 0,
    handshakesCompleted: 0,
    handshakesResumed: 0,
    handshakesFailed: 0,
    handshakesExpired: 0,
    refused: 0,
    evicted: 0,
    dropped: 0,
    forged: 0,
    moved: 0,
    errors: 0,
  };

  constructor(options: DtlsServerOptions) {
    this.#options = options;
    this.#maxSessions = Math.max(1, Math.floor(options.maxSessions ?? DEFAULT_MAX_SESSIONS));
    this.#idleTimeoutMs = Math.max(1, options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    this.#evictQuietMs = Math.max(0, options.evictQuietMs ?? DEFAULT_EVICT_QUIET_MS);
    this.#handshakeTimeoutMs = Math.max(1, options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS);
    this.#episodes = new EpisodeLog<EpisodeKind>((message) => this.#log(message));
    this.#helloTimeoutMs = Math.max(1, options.helloTimeoutMs ?? DEFAULT_HELLO_TIMEOUT_MS);
    this.#maxHelloBytes = Math.max(0, Math.floor(options.maxHelloBytes ?? DEFAULT_MAX_HELLO_BYTES));
    this.#hellos = new HelloReassembly({
      maxPending: Math.max(0, Math.floor(options.maxPendingHellos ?? DEFAULT_MAX_PENDING_HELLOS)),
      maxBytes: this.#maxHelloBytes,
      timeoutMs: this.#helloTimeoutMs,
    });
    this.#cidLength = options.connectionIdLength ?? ((features() & FEATURE_CID) !== 0 ? DEFAULT_CONNECTION_ID_LENGTH : 0);
    this.#context = serverContext({ ...options, connectionIdLength: this.#cidLength });
  }

  /** Hands in one datagram received from `peer` at `now`. Never throws. */
  receive(datagram: Uint8Array, peer: Peer, now: number): void {
    if (this.#closed) return;
    let key: string | undefined;
    try {
      let entry = this.#byPort.get(peer.port);
      if (entry === undefined || entry.peer.address !== peer.address) entry = this.#sessions.get((key = peerTransportId(peer)));
      if (entry !== undefined && entry.established && entry.cid === undefined) {
        // an established session gets only the records that can authenticate for it; the usual datagram's
        // first record is of epoch 1 or later (so no ClientHello), known from this one check
        const records = authenticatable(datagram);
        if (records === datagram || !isClientHello(datagram)) {
          if (records) this.#feed(entry, records, now);
          else this.#forged(entry, now);
          return;
        }
      } else if (entry && !isClientHello(datagram)) {
        if (!entry.established) this.#feed(entry, datagram, now);
        else this.#feedWithCid(entry, datagram, entry.key, peer, now);
        return;
      }
      key ??= peerTransportId(peer);
      if (!entry && this.#cidLength !== 0 && datagram[0] === CONTENT_TLS12_CID) {
        // RFC 9146: a record with one of our connection IDs belongs to that session, whatever its address
        const cid = connectionIdOf(datagram, this.#cidLength);
        const owner = cid === undefined ? undefined : this.#byCid.get(cid);
        if (owner !== undefined) {
          this.#feedMoved(owner, datagram, key, peer, now);
          return;
        }
      }
      if (!entry && !startsWithHandshake(datagram)) {
        this.#counters.dropped++;
        return;
      }
      // the rest of a fragmented ClientHello whose first fragment proved this address (reassembly.ts)
      if (this.#hellos.size > 0) {
        const joined = this.#hellos.add(key, datagram);
        if (joined !== undefined) {
          this.#joined(key, joined, entry, peer, now);
          return;
        }
      }
      const verdict = this.#context.hello(datagram, key);
      if (verdict instanceof ArrayBuffer) {
        // no valid cookie: prove the address first; an existing session is left alone
        this.#counters.helloVerifyRequests++;
        this.#options.send(verdict, peer);
        return;
      }
      if (!verdict) {
        // malformed or fragmented: a handshake in progress lets Mbed TLS decide; an established session never sees it
        if (!entry) this.#counters.dropped++;
        else if (entry.established) this.#forged(entry, now);
        else this.#feed(entry, datagram, now);
        return;
      }
      if (entry && !entry.established && sameRandom(entry.helloRandom, datagram)) {
        this.#feed(entry, datagram, now); // a retransmitted ClientHello of this handshake
        return;
      }
      if (isHelloFragment(datagram)) {
        // its first fragment holds a valid cookie: keep the pieces until the ClientHello is whole
        const joined = this.#hellos.start(key, datagram, now);
        this.#dueKnown = false;
        if (joined === "refused") this.#episodes.note("reassembly", now, () => `dtls: fragmented ClientHello from ${key} refused: longer than ${this.#maxHelloBytes} bytes, or reassembly is off`);
        else this.#joined(key, joined, entry, peer, now);
        return;
      }
      this.#hello(key, datagram, entry, peer, now);
    } catch (error) {
      this.#error(now, () => `dtls: datagram from ${peerTransportId(peer)} dropped: ${error}`);
    }
  }

  /** What a reassembly gave: the whole ClientHello goes on as if it had come in one piece. */
  #joined(key: string, joined: Joined, entry: Entry | undefined, peer: Peer, now: number): void {
    if (joined === "dropped") this.#episodes.note("reassembly", now, () => `dtls: fragmented ClientHello from ${key} dropped: a fragment contradicted the others, or too many pieces`);
    else if (joined !== "more") this.#hello(key, joined, entry, peer, now);
  }

  /**
   * A cookie-verified, whole ClientHello from a peer without a session, with an
   * established one, or with a handshake that another ClientHello began.
   */
  #hello(key: string, hello: Uint8Array, entry: Entry | undefined, peer: Peer, now: number): void {
    if (entry) {
      // a late copy of the hello that opened this session (the network duplicated it) is no restart
      if (sameRandom(entry.helloRandom, hello)) {
        if (entry.established) this.#forged(entry, now);
        else this.#feed(entry, hello, now); // a fragmented retransmission, whole again
        return;
      }
      // RFC 6347 4.2.8: a new handshake from the same address+port replaces the old session, or the
      // half-open handshake (a client that restarted from the same port): Mbed TLS would answer that
      // handshake's flight, with the old random, to the new client, whose Finished would then fail
      this.#end(entry, "reconnected", "client reconnected", false, now);
    }
    this.#open(key, hello, peer, now);
  }

  /**
   * Encrypts `data` as one record for `peer` and sends it at `now`; false without an
   * established session, or when `peer` names a session (a SessionPeer) that has ended
   * since: a closed session's messages go nowhere, not into its successor.
   */
  write(peer: Peer | SessionPeer, data: Uint8Array, now: number): boolean {
    const entry = this.#established(peer);
    if (entry === undefined) return false;
    try {
      const written = entry.native.write(data, now);
      entry.lastActive = now;
      flush(entry.native, this.#sink, entry, now); // pump.ts, called directly on this path
      // a write that went (0 or more bytes) leaves the session as it was: established
      if (written < 0 && entry.native.state !== ESTABLISHED) {
        this.#settle(entry, now);
        return false;
      }
      return written === data.length;
    } catch (error) {
      this.#error(now, () => `dtls: write to ${entry.id} failed: ${error}`);
      return false;
    }
  }

  /**
   * The PSK identity `peer`'s established session proved (the peer a CoAP request came
   * from: a SessionPeer), as text; undefined without one (no session, a certificate,
   * the session gone). What roles are decided from (the firmware update's, say).
   */
  identityOf(peer: Peer | SessionPeer): string | undefined {
    const identity = this.#established(peer)?.native.identity;
    return identity === undefined ? undefined : String.fromArrayBuffer(identity);
  }

  /** The subject of the certificate `peer`'s established session proved ("CN=updater"), if any. */
  subjectOf(peer: Peer | SessionPeer): string | undefined {
    return this.#established(peer)?.native.peerCertificate;
  }

  /** `peer`'s established session: its own SessionPeer, or by address (and session id, when it names one) */
  #established(peer: Peer | SessionPeer): Entry | undefined {
    let entry = this.#byPeer.get(peer as SessionPeer);
    if (entry === undefined) {
      entry = this.#sessions.get(peerTransportId(peer));
      if (!entry || ("session" in peer && peer.session !== undefined && peer.session !== entry.id)) return undefined;
    }
    return entry.established ? entry : undefined;
  }

  /** The session id of `peer`'s established session, if it has one. */
  sessionOf(peer: Peer): string | undefined {
    const entry = this.#sessions.get(peerTransportId(peer));
    return entry && entry.established ? entry.id : undefined;
  }

  /**
   * The earliest deadline: a handshake's, a session's idle time, a retransmission, a
   * ClientHello's reassembly. Scanned again only after a tick or a reassembly; a
   * handshake's step or a new session adds its own deadline to the answer, and an
   * established session's traffic only moves its idle deadline later (Mbed TLS arms
   * no retransmission timer once the handshake is over). The answer may be earlier
   * than every deadline left (a session's that moved on, or ended): a tick then finds
   * nothing due, and the scan starts over.
   */
  nextDeadline(): number | undefined {
    if (this.#dueKnown) return this.#due;
    let earliest = this.#hellos.size > 0 ? this.#hellos.nextDeadline() : undefined;
    for (const entry of this.#sessions.values()) {
      const due = this.#dueOf(entry);
      if (earliest === undefined || due < earliest) earliest = due;
    }
    this.#due = earliest;
    this.#dueKnown = true;
    return earliest;
  }

  /** One session's earliest deadline: its idle time, its handshake's limit, Mbed TLS's retransmission. */
  #dueOf(entry: Entry): number {
    let due = entry.lastActive + this.#idleTimeoutMs;
    if (!entry.established) due = Math.min(due, entry.opened + this.#handshakeTimeoutMs);
    const retransmit = entry.native.deadline;
    return retransmit >= 0 && retransmit < due ? retransmit : due;
  }

  /** After a step of `entry` (or its opening): a known answer takes in its deadline, without a scan of every session. */
  #stepped(entry: Entry): void {
    if (!this.#dueKnown) return;
    const due = this.#dueOf(entry);
    if (this.#due === undefined || due < this.#due) this.#due = due;
  }

  /** At `now`: frees handshakes past their deadline, closes idle sessions, retransmits flights whose timer expired. */
  tick(now: number): void {
    this.#dueKnown = false;
    if (this.#hellos.size > 0 && this.#hellos.expire(now) > 0) {
      this.#episodes.note("reassembly", now, () => `dtls: fragmented ClientHello not complete ${this.#helloTimeoutMs} ms after its first fragment, dropped`);
    }
    for (const entry of [...this.#sessions.values()]) {
      try {
        if (!entry.established && now - entry.opened >= this.#handshakeTimeoutMs) {
          this.#counters.handshakesExpired++;
          this.#episodes.note("expired", now, () => `dtls: handshake ${entry.id} not established ${this.#handshakeTimeoutMs} ms after its ClientHello, freed`);
          this.#remove(entry, { kind: "deadline", detail: "handshake deadline passed" }, now);
          continue;
        }
        if (now - entry.lastActive >= this.#idleTimeoutMs) {
          this.#counters.evicted++;
          this.#end(entry, "idle", "idle", true, now);
          continue;
        }
        const deadline = entry.native.deadline;
        if (deadline >= 0 && now >= deadline) {
          entry.native.tick(now);
          this.#flush(entry, now);
          this.#settle(entry, now);
        }
      } catch (error) {
        this.#error(now, () => `dtls: tick of ${entry.id} failed: ${error}`);
        this.#remove(entry, { kind: "internal", detail: "internal error" }, now);
      }
    }
  }

  /** Ends `peer`'s session with close_notify at `now`. */
  close(peer: Peer, now: number): void {
    const entry = this.#sessions.get(peerTransportId(peer));
    if (entry) this.#end(entry, "closed", "closed", true, now);
  }

  /** Ends every session with close_notify at `now`. The server keeps accepting new ones. */
  closeAll(now: number): void {
    for (const entry of [...this.#sessions.values()]) this.#end(entry, "closed", "closed", true, now);
  }

  /** closeAll(now), then frees the shared state; receive() ignores everything afterwards. */
  dispose(now: number): void {
    this.closeAll(now);
    this.#closed = true;
    this.#context.close();
  }

  stats(): DtlsServerStats {
    let handshaking = 0;
    for (const entry of this.#sessions.values()) if (!entry.established) handshaking++;
    return {
      sessions: this.#sessions.size,
      handshaking,
      established: this.#sessions.size - handshaking,
      ...this.#counters,
      ...this.#hellos.counters,
      pendingHellos: this.#hellos.size,
      pendingHelloBytes: this.#hellos.bytes(),
    };
  }

  #open(key: string, hello: Uint8Array, peer: Peer, now: number): void {
    if (!this.#makeRoom(now)) {
      this.#counters.refused++;
      this.#episodes.note("refused", now, () => `dtls: new peer ${key} refused: ${this.#sessions.size} sessions, none may give way (handshaking: none; established: kept, or active in the last ${this.#evictQuietMs} ms)`);
      return;
    }
    const id = `${key}#${++this.#serial}`;
    const entry: Entry = {
      key,
      id,
      peer: Object.freeze({ address: peer.address, port: peer.port, session: id }),
      native: new DTLSSession(this.#context, key),
      opened: now,
      lastActive: now,
      established: false,
      helloRandom: helloRandom(hello),
      newest: -1,
      live: true,
      delivered: 0,
    };
    this.#index(entry);
    this.#stepped(entry); // its handshake's limit; #feed adds the retransmission timer
    if (this.#hellos.size > 0) this.#hellos.delete(key);
    this.#feed(entry, hello, now);
  }

  /**
   * Room for a cookie-verified newcomer in a full table: the oldest handshake gives way
   * (a real client retransmits and gets back in; a half-open one would never finish),
   * else the established session quiet longest, for at least evictQuietMs, that keep()
   * does not hold. False when none may. At most maxSessions steps and keep() calls.
   */
  #makeRoom(now: number): boolean {
    if (this.#sessions.size < this.#maxSessions) return true;
    let victim: Entry | undefined;
    for (const entry of this.#sessions.values()) {
      if (!entry.established && (!victim || entry.opened < victim.opened)) victim = entry;
    }
    if (!victim) {
      for (const entry of this.#sessions.values()) {
        if (now - entry.lastActive < this.#evictQuietMs || (victim && entry.lastActive >= victim.lastActive)) continue;
        if (!this.#kept(entry, now)) victim = entry;
      }
    }
    if (!victim) return false;
    this.#counters.evicted++;
    this.#end(victim, "evicted", "evicted for a new peer", true, now);
    return true;
  }

  #kept(entry: Entry, now: number): boolean {
    const keep = this.#options.keep;
    if (!keep) return false;
    try {
      return keep(entry.peer, entry.id) === true;
    } catch (error) {
      this.#error(now, () => `dtls: keep() of ${entry.id} threw: ${error}`);
      return true; // when in doubt, the session the application cares about stays
    }
  }

  /**
   * An established session with a connection ID gets only the records that can
   * authenticate for it (as one without, in receive()), and notes the newest record
   * that brought data (a move must beat it). A datagram carrying another session's
   * CID goes to that session (it moved here: the address now belongs to it).
   */
  #feedWithCid(entry: Entry, datagram: Uint8Array, key: string, peer: Peer, now: number): void {
    const cid = connectionIdOf(datagram, this.#cidLength);
    const owner = cid === undefined || cid === entry.cid ? undefined : this.#byCid.get(cid);
    if (owner !== undefined) {
      this.#feedMoved(owner, datagram, key, peer, now);
      return;
    }
    const records = authenticatable(datagram, this.#cidLength);
    if (!records) {
      this.#forged(entry, now);
      return;
    }
    const newest = newestRecord(records, this.#cidLength);
    if (this.#feed(entry, records, now) > 0 && newest > entry.newest) entry.newest = newest;
  }

  /**
   * RFC 9146 6: a datagram with `entry`'s connection ID from another address. Mbed TLS
   * decrypts it first; only if it authenticated data, in a record newer than any that
   * did before, does the session move to the new address (a replayed or forged record
   * moves nothing). Its answers then go there; the old peer object still names it.
   */
  #feedMoved(entry: Entry, datagram: Uint8Array, key: string, peer: Peer, now: number): void {
    const records = authenticatable(datagram, this.#cidLength);
    const newest = records ? newestRecord(records, this.#cidLength) : -1;
    if (!records || newest <= entry.newest) {
      this.#forged(entry, now);
      return;
    }
    const waiting = entry.native.readable; // records an earlier call left (a capped delivery) are not this datagram's
    entry.native.receive(records, now);
    if (entry.native.readable <= waiting) {
      this.#flush(entry, now);
      this.#settle(entry, now);
      this.#forged(entry, now);
      return;
    }
    this.#move(entry, key, peer, now);
    entry.newest = newest;
    entry.lastActive = now;
    this.#flush(entry, now);
    entry.delivered += this.#deliver(entry, now);
    this.#settle(entry, now);
  }

  #move(entry: Entry, key: string, peer: Peer, now: number): void {
    const other = this.#sessions.get(key);
    if (other !== undefined) this.#end(other, "evicted", "its address and port now belong to a session that moved there (connection ID)", false, now);
    this.#unindexAddress(entry);
    const formerPeers = entry.formerPeers ?? (entry.formerPeers = []);
    formerPeers.push(entry.peer);
    if (formerPeers.length > MAX_FORMER_PEERS) this.#byPeer.delete(formerPeers.shift()!);
    this.#log(`dtls: ${entry.id} moved from ${entry.key} to ${key} (connection ID)`);
    entry.key = key;
    entry.peer = Object.freeze({ address: peer.address, port: peer.port, session: entry.id });
    this.#index(entry);
    this.#counters.moved++;
  }

  /** Files an entry by its key, its peer object and its port (whose newest entry it becomes). */
  #index(entry: Entry): void {
    this.#sessions.set(entry.key, entry);
    this.#byPeer.set(entry.peer, entry);
    this.#byPort.set(entry.peer.port, entry);
  }

  /** Takes an entry off its address (key and port); its peer objects stay filed until #remove (a moved session still answers to them). */
  #unindexAddress(entry: Entry): void {
    this.#sessions.delete(entry.key);
    if (this.#byPort.get(entry.peer.port) === entry) this.#byPort.delete(entry.peer.port);
  }

  #forged(entry: Entry, now: number): void {
    this.#counters.forged++;
    this.#episodes.note("forged", now, () => `dtls: ${entry.id}: a datagram with plaintext (epoch 0) or malformed records ignored, the session is unchanged`);
  }

  /** Hands records to the session; how many application records it delivered. */
  #feed(entry: Entry, datagram: Uint8Array, now: number): number {
    const native = entry.native;
    // an established entry's session is established: #settle() removes one that is not
    const before = entry.established ? ESTABLISHED : native.state;
    const state = native.receive(datagram, now);
    // most datagrams queue nothing to send (a GET's record): one property read instead of a flush that finds nothing
    const queued = native.queued;
    const sent = queued > 0 ? flush(native, this.#sink, entry, now, queued) : 0; // pump.ts, called directly on this path
    // a session still handshaking has decrypted no application data (the binding reads records once established)
    const delivered = state === HANDSHAKING ? 0 : deliver(native, this.#sink, entry, now);
    // progress that only the peer (or a retransmission Mbed TLS accepted) can cause; junk changes none of it
    if (delivered > 0) {
      entry.delivered += delivered;
      entry.lastActive = now;
    } else if (sent > 0 || state !== before) entry.lastActive = now;
    // an established session that stays so has nothing to settle (write() settles what onData's answers changed)
    if (entry.established && state === ESTABLISHED) return delivered;
    // no onData ran: the state receive() returned is still the session's
    this.#settle(entry, now, delivered === 0 ? state : undefined);
    // a handshake's step may arm Mbed TLS's retransmission timer
    if (entry.live) this.#stepped(entry);
    return delivered;
  }

  /** where every session's records go (pump.ts): one object for the table */
  #sink: PumpSink<Entry> = {
    send: (entry, record) => this.#options.send(record, entry.peer),
    onData: (entry, data, now) => this.#options.onData(data, entry.peer, entry.id, now),
    current: (entry) => entry.live,
    error: (entry, what, error, now) => this.#error(now, () => (what === "send" ? `dtls: send to ${entry.id} failed: ${error}` : `dtls: onData of ${entry.id} threw: ${error}`)),
  };

  /** Sends what the binding queued; how many datagrams went. */
  #flush(entry: Entry, now: number): number {
    return flush(entry.native, this.#sink, entry, now);
  }

  /** Hands decrypted records to onData; how many. */
  #deliver(entry: Entry, now: number): number {
    return deliver(entry.native, this.#sink, entry, now);
  }

  /** Acts on the state the binding reports after a call at `now` (`state`: what that call returned, if nothing ran since). */
  #settle(entry: Entry, now: number, state?: SessionState): void {
    if (!entry.live) return;
    const settled = settle(entry.native, entry.established, state);
    if (settled.event === "established") {
      entry.established = true;
      this.#counters.handshakesCompleted++;
      const resumed = entry.native.resumed;
      if (resumed) this.#counters.handshakesResumed++;
      const cid = this.#cidLength > 0 ? entry.native.cid : undefined;
      if (cid !== undefined) {
        entry.cid = cidKey(new Uint8Array(cid));
        this.#byCid.set(entry.cid, entry);
      }
      this.#log(`dtls: ${entry.id} established (${entry.native.suite}, ${credentialOf(entry.native) ?? "no credentials presented"}${resumed ? ", resumed" : ""})`);
    } else if (settled.event === "ended") {
      const { end, failure } = settled;
      if (failure && !entry.established) {
        this.#counters.handshakesFailed++;
        const credential = credentialOf(entry.native);
        this.#log(`dtls: handshake ${entry.id} failed: ${end.detail}${credential ? ` (${credential})` : ""}`);
      } else if (failure) this.#log(`dtls: ${entry.id} failed: ${end.detail}`);
      this.#remove(entry, end, now, failure);
    }
  }

  /** Ends a session for a reason of ours: close_notify when asked and established, then frees it. */
  #end(entry: Entry, kind: DtlsEndKind, detail: string, notify: boolean, now: number): void {
    try {
      if (notify) {
        entry.native.closeNotify(now);
        this.#flush(entry, now);
      }
    } catch (error) {
      this.#error(now, () => `dtls: close of ${entry.id} failed: ${error}`);
    }
    this.#remove(entry, { kind, detail }, now);
  }

  /** Frees a session and runs onClose; `logged`: its end is in the log already. */
  #remove(entry: Entry, end: DtlsEnd, now: number, logged = false): void {
    if (!entry.live) return;
    entry.live = false;
    this.#unindexAddress(entry);
    this.#byPeer.delete(entry.peer);
    if (entry.formerPeers !== undefined) for (const former of entry.formerPeers) this.#byPeer.delete(former);
    if (entry.cid !== undefined) this.#byCid.delete(entry.cid);
    try {
      entry.native.close();
    } catch {
      // already freed
    }
    if (entry.established && !logged) this.#log(`dtls: ${entry.id} ended: ${end.detail}`);
    end.delivered = entry.delivered;
    try {
      this.#options.onClose?.(entry.peer, entry.id, end, now);
    } catch (error) {
      this.#error(now, () => `dtls: onClose of ${entry.id} threw: ${error}`);
    }
  }

  #error(now: number, message: () => string): void {
    this.#counters.errors++;
    this.#episodes.note("error", now, message);
  }

  #log(message: string): void {
    try {
      this.#options.log?.(message);
    } catch {
      // logging must never break the server
    }
  }
}
