/*
 * How a peer is named in log lines: its PSK identity or the subject of its
 * certificate, printable and bounded. Never a key.
 */
import type { DTLSSession } from "./binding";

/** Printable, quoted form of a PSK identity or certificate subject (public data). */
export function printable(value: ArrayBuffer | string | undefined): string {
  if (value === undefined) return "none";
  const view = typeof value === "string" ? undefined : new Uint8Array(value);
  const length = view ? view.length : (value as string).length;
  let text = "";
  for (let i = 0; i < length && i < 96; i++) {
    const c = view ? view[i] : (value as string).charCodeAt(i);
    text += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : `\\x${(c < 16 ? "0" : "") + c.toString(16)}`;
  }
  return `"${text}"`;
}

/** `identity "CoAP"`, `certificate "CN=coap-client"` or `no credentials presented`. */
export function credentialOf(native: DTLSSession): string {
  const identity = native.identity;
  if (identity) return `identity ${printable(identity)}`;
  const subject = native.peerCertificate;
  if (subject !== undefined) return `certificate ${printable(subject)}`;
  return "no credentials presented";
}
