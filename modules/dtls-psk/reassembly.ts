/*
 * ClientHellos that arrive in fragments (RFC 6347 4.2.3), joined before any session
 * exists: Mbed TLS before 4.1 refuses a fragmented ClientHello, and clients at a
 * small MTU (OpenSSL -mtu 256, GnuTLS --mtu 256, Bouncy Castle) send theirs that way.
 * The session table hands Mbed TLS one unfragmented record built from the pieces. Sans-IO.
 *
 * - Nothing is kept before the cookie is verified (RFC 6347 4.2.1): `start()` is only
 *   called for a first fragment (fragment_offset 0) whose cookie the binding's hello()
 *   accepted for this address and port. Later fragments carry no cookie; they are
 *   taken only from that address and port, while its reassembly is pending.
 * - Bounded: at most `maxPending` reassemblies (a new one pushes out the oldest), each
 *   of a message at most `maxBytes` long (a longer claimed length is refused before
 *   anything is kept), at most MAX_RANGES separate pieces, gone after `timeoutMs`.
 * - Fragments must agree with the first: a ClientHello, epoch 0, the same message_seq
 *   and length, inside that length; bytes received twice must be the same. A
 *   fragment that contradicts what is held (a forged overlap) drops the reassembly:
 *   the client's retransmission starts it again.
 */

const RECORD_HEADER = 13;
const HANDSHAKE_HEADER = 12;
const CONTENT_HANDSHAKE = 22;
const CLIENT_HELLO = 1;
/** pieces held apart at once; a client sends its fragments in order, a gap or two comes from loss and reordering */
const MAX_RANGES = 8;

export const DEFAULT_MAX_PENDING_HELLOS = 4;
/** the largest ClientHello joined: Mbed TLS's input buffer on the C3 is 2,048 bytes of record content (sdkconfig) */
export const DEFAULT_MAX_HELLO_BYTES = 1536;
/** a client resends its whole flight after 1 s, then 2 s: a lost fragment comes again well within this */
export const DEFAULT_HELLO_TIMEOUT_MS = 5_000;

export interface ReassemblyLimits {
  maxPending: number;
  maxBytes: number;
  timeoutMs: number;
}

/** One handshake fragment read from a record: RFC 6347 4.2.2's header and where its bytes are. */
interface Fragment {
  length: number;
  messageSeq: number;
  offset: number;
  /** the fragment's bytes: datagram[at, at + size) */
  at: number;
  size: number;
}

/**
 * The ClientHello fragments `datagram` holds, one per record, or undefined when any
 * record is something else (another type or epoch, a header cut short, a length
 * running past the datagram or the message).
 */
export function helloFragments(datagram: Uint8Array): Fragment[] | undefined {
  const n = datagram.length;
  const fragments: Fragment[] = [];
  for (let p = 0; p < n; ) {
    if (n - p < RECORD_HEADER + HANDSHAKE_HEADER) return undefined;
    if (datagram[p] !== CONTENT_HANDSHAKE || datagram[p + 3] !== 0 || datagram[p + 4] !== 0) return undefined;
    const end = p + RECORD_HEADER + ((datagram[p + 11] << 8) | datagram[p + 12]);
    const h = p + RECORD_HEADER;
    if (end > n || datagram[h] !== CLIENT_HELLO) return undefined;
    const length = uint24(datagram, h + 1);
    const offset = uint24(datagram, h + 6);
    const size = uint24(datagram, h + 9);
    if (h + HANDSHAKE_HEADER + size > end || offset + size > length) return undefined;
    fragments.push({ length, messageSeq: (datagram[h + 4] << 8) | datagram[h + 5], offset, at: h + HANDSHAKE_HEADER, size });
    p = end;
  }
  return fragments.length ? fragments : undefined;
}

/** Whether the datagram's first record is part of a ClientHello, not all of it (what Mbed TLS refuses). */
export function isHelloFragment(datagram: Uint8Array): boolean {
  if (datagram.length < RECORD_HEADER + HANDSHAKE_HEADER || datagram[0] !== CONTENT_HANDSHAKE || datagram[RECORD_HEADER] !== CLIENT_HELLO) return false;
  return uint24(datagram, RECORD_HEADER + 9) !== uint24(datagram, RECORD_HEADER + 1);
}

function uint24(d: Uint8Array, at: number): number {
  return (d[at] << 16) | (d[at + 1] << 8) | d[at + 2];
}

function putUint24(d: Uint8Array, at: number, value: number): void {
  d[at] = value >> 16;
  d[at + 1] = (value >> 8) & 0xff;
  d[at + 2] = value & 0xff;
}

/** "more": held, not complete; "dropped": the reassembly was given up (contradiction, too many pieces); a Uint8Array: the whole ClientHello as one record */
export type Joined = Uint8Array | "more" | "dropped";

class Pending {
  /** the first fragment's record header: version and sequence number for the joined record */
  readonly header: Uint8Array;
  readonly messageSeq: number;
  readonly body: Uint8Array;
  /** received ranges, sorted and apart: start, end, start, end, ... */
  readonly ranges: number[] = [];
  readonly opened: number;

  constructor(datagram: Uint8Array, first: Fragment, now: number) {
    this.header = datagram.slice(0, RECORD_HEADER);
    this.messageSeq = first.messageSeq;
    this.body = new Uint8Array(first.length);
    this.opened = now;
  }

  matches(fragments: Fragment[]): boolean {
    for (let i = 0; i < fragments.length; i++) {
      if (fragments[i].length !== this.body.length || fragments[i].messageSeq !== this.messageSeq) return false;
    }
    return true;
  }

  /** Takes the fragments; false when one contradicts the bytes held or the pieces are too many. */
  take(datagram: Uint8Array, fragments: Fragment[]): boolean {
    for (let i = 0; i < fragments.length; i++) {
      const { offset, at, size } = fragments[i];
      if (size === 0) continue;
      if (!this.#agrees(datagram, offset, at, size)) return false;
      this.body.set(datagram.subarray(at, at + size), offset);
      if (!this.#cover(offset, offset + size)) return false;
    }
    return true;
  }

  complete(): boolean {
    return this.ranges.length === 2 && this.ranges[0] === 0 && this.ranges[1] === this.body.length;
  }

  /** The ClientHello as one record of one fragment: the first fragment's record header, fragment_offset 0, fragment_length = length. */
  joined(): Uint8Array {
    const length = this.body.length;
    const out = new Uint8Array(RECORD_HEADER + HANDSHAKE_HEADER + length);
    out.set(this.header);
    out[11] = (HANDSHAKE_HEADER + length) >> 8;
    out[12] = (HANDSHAKE_HEADER + length) & 0xff;
    out[RECORD_HEADER] = CLIENT_HELLO;
    putUint24(out, RECORD_HEADER + 1, length);
    out[RECORD_HEADER + 4] = this.messageSeq >> 8;
    out[RECORD_HEADER + 5] = this.messageSeq & 0xff;
    putUint24(out, RECORD_HEADER + 6, 0);
    putUint24(out, RECORD_HEADER + 9, length);
    out.set(this.body, RECORD_HEADER + HANDSHAKE_HEADER);
    return out;
  }

  /** Bytes already held that the fragment covers again must be the same. */
  #agrees(datagram: Uint8Array, offset: number, at: number, size: number): boolean {
    const ranges = this.ranges;
    const end = offset + size;
    for (let r = 0; r < ranges.length; r += 2) {
      const from = Math.max(offset, ranges[r]);
      const to = Math.min(end, ranges[r + 1]);
      for (let i = from; i < to; i++) if (this.body[i] !== datagram[at + i - offset]) return false;
    }
    return true;
  }

  /** Adds [start, end) to the ranges, joining those it touches; false past MAX_RANGES pieces. */
  #cover(start: number, end: number): boolean {
    const ranges = this.ranges;
    let i = 0;
    while (i < ranges.length && ranges[i + 1] < start) i += 2;
    let j = i;
    while (j < ranges.length && ranges[j] <= end) {
      start = Math.min(start, ranges[j]);
      end = Math.max(end, ranges[j + 1]);
      j += 2;
    }
    ranges.splice(i, j - i, start, end);
    return ranges.length <= 2 * MAX_RANGES;
  }
}

/** The pending reassemblies of a session table, by the peer's transport id. */
export class HelloReassembly {
  readonly #limits: ReassemblyLimits;
  readonly #pending = new Map<string, Pending>();
  /** fragments taken; ClientHellos joined; reassemblies given up (contradiction, too many pieces, pushed out, expired); first fragments refused (too long, or off) */
  readonly counters = { helloFragments: 0, hellosJoined: 0, reassembliesDropped: 0, reassembliesRefused: 0 };

  constructor(limits: ReassemblyLimits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#pending.size;
  }

  has(key: string): boolean {
    return this.#pending.has(key);
  }

  /**
   * A datagram from `key` whose cookie the binding verified, starting with the first
   * fragment of a ClientHello: starts its reassembly (or adds to the one pending for
   * the same message). "refused" when the claimed length is over maxBytes or
   * reassembly is off (maxPending 0): nothing is kept.
   */
  start(key: string, datagram: Uint8Array, now: number): Joined | "refused" {
    const fragments = helloFragments(datagram);
    if (!fragments || fragments[0].offset !== 0 || fragments[0].length > this.#limits.maxBytes || this.#limits.maxPending < 1) {
      this.counters.reassembliesRefused++;
      return "refused";
    }
    let pending = this.#pending.get(key);
    if (!pending || !pending.matches(fragments)) {
      this.#pending.delete(key);
      if (this.#pending.size >= this.#limits.maxPending) this.#dropOldest();
      pending = new Pending(datagram, fragments[0], now);
      this.#pending.set(key, pending);
    }
    return this.#take(key, pending, datagram, fragments);
  }

  /**
   * A datagram from `key` while its reassembly is pending: its fragments when every
   * record is one of that ClientHello; undefined when it is something else (the
   * caller treats it as it would without a reassembly: a new ClientHello with a new
   * cookie, say).
   */
  add(key: string, datagram: Uint8Array): Joined | undefined {
    const pending = this.#pending.get(key);
    if (!pending) return undefined;
    const fragments = helloFragments(datagram);
    if (!fragments || !pending.matches(fragments)) return undefined;
    return this.#take(key, pending, datagram, fragments);
  }

  delete(key: string): void {
    this.#pending.delete(key);
  }

  nextDeadline(): number | undefined {
    let earliest: number | undefined;
    for (const pending of this.#pending.values()) {
      const due = pending.opened + this.#limits.timeoutMs;
      if (earliest === undefined || due < earliest) earliest = due;
    }
    return earliest;
  }

  /** Drops the reassemblies past their deadline at `now`; how many. */
  expire(now: number): number {
    let expired = 0;
    for (const [key, pending] of this.#pending) {
      if (now - pending.opened >= this.#limits.timeoutMs) {
        this.#pending.delete(key);
        this.counters.reassembliesDropped++;
        expired++;
      }
    }
    return expired;
  }

  /** The bytes held for reassemblies now (message buffers), for stats. */
  bytes(): number {
    let total = 0;
    for (const pending of this.#pending.values()) total += pending.body.length;
    return total;
  }

  #take(key: string, pending: Pending, datagram: Uint8Array, fragments: Fragment[]): Joined {
    this.counters.helloFragments += fragments.length;
    if (!pending.take(datagram, fragments)) {
      this.#pending.delete(key);
      this.counters.reassembliesDropped++;
      return "dropped";
    }
    if (!pending.complete()) return "more";
    this.#pending.delete(key);
    this.counters.hellosJoined++;
    return pending.joined();
  }

  #dropOldest(): void {
    let oldestKey: string | undefined;
    let oldest = Infinity;
    for (const [key, pending] of this.#pending) {
      if (pending.opened < oldest) {
        oldest = pending.opened;
        oldestKey = key;
      }
    }
    if (oldestKey !== undefined) {
      this.#pending.delete(oldestKey);
      this.counters.reassembliesDropped++;
    }
  }
}
