/*
 * The one pump between a native DTLS session (binding.js) and its owner, shared by
 * the session table (server.ts) and the client (client.ts): after every call into
 * Mbed TLS, what it queued goes out (flush), decrypted records go up (deliver), and
 * the session's state becomes one outcome (settle). Pure: the owner passes its sink
 * (send, onData) and the time of the call it is in, and decides what an outcome
 * means (counters, logs, onOpen/onClose).
 *
 * Why a session ends, as a kind with the binding's or the owner's words beside it
 * (RFC 6347 sec 4.1.1.1 alerts, 4.2.4 handshake timers): "peer-closed" (close_notify),
 * "failed" (a fatal alert or error, handshake or not), "timeout" (the handshake's
 * retransmissions ran out), "closed" (the owner's close()), "idle", "evicted",
 * "reconnected" (the same peer began a new handshake), "deadline" (a handshake took
 * too long), "internal" (the binding threw or reported a state it should not).
 */
import { CLOSED, ESTABLISHED, FAILED, HANDSHAKING, type DTLSSession, type SessionState } from "./binding";

export type DtlsEndKind = "peer-closed" | "failed" | "timeout" | "closed" | "idle" | "evicted" | "reconnected" | "deadline" | "internal";

export interface DtlsEnd {
  kind: DtlsEndKind;
  /** what happened, in words for logs ("close_notify from peer", "bad record mac (wrong key?)") */
  detail: string;
  /** the server's onClose: how many application records the session delivered (0: it carried no data, so its peer left nothing in the application) */
  delivered?: number;
}

/** At most this many records move per call either way: a flood of tiny records cannot pin the loop. */
export const MAX_RECORDS_PER_CALL = 32;

/**
 * Where sessions' records go: one object per owner (the session table, the client),
 * told which of its sessions (`of`) each call is about. Nothing is made per session
 * or per datagram: a closure costs the C3 about 200 bytes.
 */
export interface PumpSink<Of> {
  send(of: Of, record: ArrayBuffer): void;
  /** `now`: the time of the owner's call that decrypted it */
  onData(of: Of, data: Uint8Array, now: number): void;
  /** false once the owner let the session go (an onData handler closed it) */
  current(of: Of): boolean;
  /** send or onData threw */
  error(of: Of, what: "send" | "onData", reason: unknown, now: number): void;
}

/** Sends what the session queued (`queued`: its count when the caller has just read it); returns how many datagrams went. */
export function flush<Of>(session: DTLSSession, sink: PumpSink<Of>, of: Of, now: number, queued = MAX_RECORDS_PER_CALL): number {
  let count = 0;
  const most = queued < MAX_RECORDS_PER_CALL ? queued : MAX_RECORDS_PER_CALL;
  for (; count < most; count++) {
    const out = session.output();
    if (!out) break;
    try {
      sink.send(of, out);
    } catch (reason) {
      sink.error(of, "send", reason, now);
    }
  }
  return count;
}

/** Hands decrypted records to the sink; returns how many. Stops when the sink's owner let the session go. */
export function deliver<Of>(session: DTLSSession, sink: PumpSink<Of>, of: Of, now: number): number {
  let count = 0;
  while (count < MAX_RECORDS_PER_CALL) {
    const plaintext = session.read();
    if (!plaintext) break;
    count++;
    try {
      sink.onData(of, new Uint8Array(plaintext), now);
    } catch (reason) {
      sink.error(of, "onData", reason, now);
    }
    if (!sink.current(of)) break;
  }
  return count;
}

export type Settled = { event: "none" } | { event: "established" } | { event: "ended"; end: DtlsEnd; failure: boolean };

const NONE: Settled = Object.freeze({ event: "none" });
const ESTABLISHED_NOW: Settled = Object.freeze({ event: "established" });

/** What the session's state means now (`state`: what the call just made returned), given whether its owner already saw it established. */
export function settle(session: DTLSSession, established: boolean, state: SessionState = session.state): Settled {
  if (state === ESTABLISHED) return established ? NONE : ESTABLISHED_NOW;
  if (state === HANDSHAKING) return NONE;
  if (state === FAILED) {
    const detail = session.reason ?? "failed";
    // the binding's words: "handshake timed out" (status.c); includes(), not a RegExp literal, which XS compiles on every evaluation
    return { event: "ended", end: { kind: detail.includes("timed out") ? "timeout" : "failed", detail }, failure: true };
  }
  if (state === CLOSED) {
    const detail = session.reason ?? "closed";
    return { event: "ended", end: { kind: detail.includes("close_notify") ? "peer-closed" : "closed", detail }, failure: false };
  }
  return { event: "ended", end: { kind: "internal", detail: "unknown state" }, failure: false };
}
