/*
 * The native figures the DTLS tests compare: live sessions and contexts (the
 * binding's stats()) and the heap bytes Mbed TLS and the binding hold (the host's
 * meter, host/meter), read after a collection so that contexts dropped by earlier
 * tests are freed first.
 */
import { stats } from "dtls-psk/binding";
import { native } from "host/meter";
import { gc } from "host/runtime";

export interface NativeFigures {
  sessions: number;
  contexts: number;
  bytes: number;
}

export function nativeFigures(): NativeFigures {
  gc();
  const [sessions, contexts] = stats();
  return { sessions, contexts, bytes: native().bytes };
}

/** Runs fn and returns the native heap bytes it kept (negative when it gave some back). */
export function bytesKeptBy(fn: () => void): number {
  const before = native().bytes;
  fn();
  return native().bytes - before;
}
