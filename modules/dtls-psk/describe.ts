/*
 * How a peer is named in log lines: its PSK identity or the subject of its
 * certificate, printable and bounded. Never a key.
 */
import { CREDENTIAL_CERTIFICATE, CREDENTIAL_IDENTITY, CREDENTIAL_NONE, type DTLSSession } from "./binding";

/** Printable, quoted form of a PSK identity or certificate subject (public data). */
export function printable(value: ArrayBuffer | string | undefined): string {
  if (value === undefined) return "none";
  const view = typeof value === "string" ? undefined : new Uint8Array(value);
  const length = view ? view.length : (value as string).length;
  if (view !== undefined && length <= 96) {
    // the usual identity: printable ASCII, made a string in one call
    let i = 0;
    for (; i < length; i++) {
      const c = view[i];
      if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) break;
    }
    if (i === length) return `"${String.fromArrayBuffer(value as ArrayBuffer)}"`;
  }
  let text = "";
  for (let i = 0; i < length && i < 96; i++) {
    const c = view ? view[i] : (value as string).charCodeAt(i);
    text += c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c ? String.fromCharCode(c) : `\\x${(c < 16 ? "0" : "") + c.toString(16)}`;
  }
  return `"${text}"`;
}

/**
 * `identity "CoAP"`, `certificate "CN=coap-client"`, `no credentials presented` (the
 * client sent none: an empty Certificate, or a handshake that asked for none), or
 * undefined when the handshake ended before the client had to present anything (no
 * shared cipher suite, a lost flight): then there is nothing true to say about it.
 */
export function credentialOf(native: DTLSSession): string | undefined {
  switch (native.credential) {
    case CREDENTIAL_IDENTITY:
      return `identity ${printable(native.identity)}`;
    case CREDENTIAL_CERTIFICATE: {
      const subject = native.peerCertificate;
      return subject !== undefined ? `certificate ${printable(subject)}` : "a certificate that could not be parsed";
    }
    case CREDENTIAL_NONE:
      return "no credentials presented";
    default:
      return undefined;
  }
}
