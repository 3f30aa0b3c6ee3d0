/*
 * coap:// and coaps:// URIs -> the parts a request needs: host, port, Uri-Path
 * segments, Uri-Query arguments.
 *
 * RFC 7252 sec 6.1 / 6.2 (the schemes, default ports 5683 and 5684), 6.4
 * (decomposing a URI into options: percent-decoding per segment, "." and ".."
 * removed, no fragment), RFC 3986 sec 3.2.2 (IPv6 literals in brackets).
 *
 * Written without RegExp on purpose (XS: "\/" in a RegExp misbehaves in
 * matchAll/replaceAll, and the input is configuration text). A host name is
 * returned as is with `literal: false`: the caller resolves it (this module does
 * no I/O).
 */
import { utf8Decode } from "./utf8";

export const COAP_PORT = 5683;
export const COAPS_PORT = 5684;

export interface CoapUri {
  /** coaps: DTLS */
  secure: boolean;
  /** without brackets for IPv6 */
  host: string;
  /** the host is an IPv4 or IPv6 literal (no name to resolve) */
  literal: boolean;
  port: number;
  /** Uri-Path segments, percent-decoded */
  path: string[];
  /** Uri-Query arguments, percent-decoded */
  query: string[];
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

/** Percent-decodes one component (UTF-8); throws RangeError on a bad escape. */
export function percentDecode(text: string): string {
  if (text.indexOf("%") < 0) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 37 /* % */) {
      const high = hexValue(text.charCodeAt(i + 1));
      const low = hexValue(text.charCodeAt(i + 2));
      if (high < 0 || low < 0) throw new RangeError(`bad percent escape in "${text}"`);
      bytes.push(high * 16 + low);
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      // a non-ASCII character written as is: its UTF-8 bytes
      const encoded = new Uint8Array(ArrayBuffer.fromString(text.charAt(i)));
      for (let k = 0; k < encoded.length; k++) bytes.push(encoded[k]);
    }
  }
  const decoded = utf8Decode(Uint8Array.from(bytes));
  if (decoded === undefined) throw new RangeError(`percent escape is not UTF-8 in "${text}"`);
  return decoded;
}

function isIPv4(host: string): boolean {
  const parts = host.split(".");
  if (parts.length !== 4) return false;
  for (const part of parts) {
    if (part.length < 1 || part.length > 3) return false;
    for (let i = 0; i < part.length; i++) {
      const c = part.charCodeAt(i);
      if (c < 48 || c > 57) return false;
    }
    if (Number(part) > 255) return false;
  }
  return true;
}

function parsePort(text: string): number {
  if (text.length < 1 || text.length > 5) throw new RangeError(`bad port "${text}"`);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) throw new RangeError(`bad port "${text}"`);
  }
  const port = Number(text);
  if (port < 1 || port > 65535) throw new RangeError(`bad port "${text}"`);
  return port;
}

/** Parses a coap:// or coaps:// URI; throws RangeError saying what is wrong. */
export function parseCoapUri(uri: string): CoapUri {
  let rest: string;
  let secure: boolean;
  const lower = uri.slice(0, 8).toLowerCase();
  if (lower.startsWith("coap://")) {
    secure = false;
    rest = uri.slice(7);
  } else if (lower.startsWith("coaps://")) {
    secure = true;
    rest = uri.slice(8);
  } else throw new RangeError(`not a coap:// or coaps:// URI: "${uri}"`);
  if (rest.indexOf("#") >= 0) throw new RangeError("a CoAP URI has no fragment (RFC 7252 sec 6.4)");

  let end = rest.length;
  const slash = rest.indexOf("/");
  const question = rest.indexOf("?");
  if (slash >= 0) end = slash;
  if (question >= 0 && question < end) end = question;
  const authority = rest.slice(0, end);
  rest = rest.slice(end);
  if (authority.indexOf("@") >= 0) throw new RangeError("user information is not allowed in a CoAP URI");

  let host: string;
  let portText = "";
  let literal: boolean;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) throw new RangeError(`unterminated IPv6 literal in "${uri}"`);
    host = authority.slice(1, close);
    const after = authority.slice(close + 1);
    if (after.length > 0) {
      if (!after.startsWith(":")) throw new RangeError(`bad authority "${authority}"`);
      portText = after.slice(1);
    }
    if (host.length === 0 || host.indexOf(":") < 0) throw new RangeError(`bad IPv6 literal "${host}"`);
    literal = true;
  } else {
    const colon = authority.indexOf(":");
    host = colon < 0 ? authority : authority.slice(0, colon);
    if (colon >= 0) portText = authority.slice(colon + 1);
    literal = isIPv4(host);
    if (!literal) host = percentDecode(host).toLowerCase();
  }
  if (host.length === 0) throw new RangeError(`no host in "${uri}"`);
  const port = portText.length > 0 ? parsePort(portText) : secure ? COAPS_PORT : COAP_PORT;

  const q = rest.indexOf("?");
  const pathText = q < 0 ? rest : rest.slice(0, q);
  const queryText = q < 0 ? "" : rest.slice(q + 1);
  const path: string[] = [];
  if (pathText.length > 1) {
    // "/a/b" -> ["a", "b"]; "." and ".." resolved as RFC 3986 sec 5.2.4 does
    for (const raw of pathText.slice(1).split("/")) {
      if (raw === ".") continue;
      if (raw === "..") {
        path.pop();
        continue;
      }
      path.push(percentDecode(raw));
    }
  }
  const query: string[] = [];
  if (queryText.length > 0) for (const raw of queryText.split("&")) query.push(percentDecode(raw));
  return { secure, host, literal, port, path, query };
}

/** The URI again, for log lines (not percent-encoded: only for people). */
export function formatCoapUri(uri: CoapUri): string {
  const host = uri.host.indexOf(":") >= 0 ? `[${uri.host}]` : uri.host;
  const defaultPort = uri.secure ? COAPS_PORT : COAP_PORT;
  const port = uri.port === defaultPort ? "" : `:${uri.port}`;
  const query = uri.query.length ? `?${uri.query.join("&")}` : "";
  return `${uri.secure ? "coaps" : "coap"}://${host}${port}/${uri.path.join("/")}${query}`;
}
