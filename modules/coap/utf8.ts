/*
 * UTF-8 for option strings and text payloads (RFC 7252 sec 3.2: string option
 * values are UTF-8 Net-Unicode, RFC 5198).
 *
 * The device has no TextEncoder/TextDecoder; XS offers ArrayBuffer.fromString and
 * String.fromArrayBuffer. The latter copies bytes into an engine string unchecked
 * in some XS versions, so bytes from the network are validated here first:
 * strict RFC 3629 (no overlongs, surrogates or code points past U+10FFFF) and no
 * NUL, which would end an engine string early.
 */

export function isValidUtf8(bytes: Uint8Array): boolean {
  const n = bytes.length;
  let i = 0;
  while (i < n) {
    const b = bytes[i];
    if (b === 0) return false;
    if (b < 0x80) {
      i++;
      continue;
    }
    let follow: number;
    let low = 0x80;
    let high = 0xbf;
    if (b < 0xc2) return false; // continuation byte or overlong 2-byte form
    else if (b < 0xe0) follow = 1;
    else if (b < 0xf0) {
      follow = 2;
      if (b === 0xe0) low = 0xa0; // overlong
      else if (b === 0xed) high = 0x9f; // UTF-16 surrogates
    } else if (b < 0xf5) {
      follow = 3;
      if (b === 0xf0) low = 0x90; // overlong
      else if (b === 0xf4) high = 0x8f; // past U+10FFFF
    } else return false;
    if (i + follow >= n) return false;
    const second = bytes[i + 1];
    if (second < low || second > high) return false;
    for (let k = 2; k <= follow; k++) {
      const c = bytes[i + k];
      if (c < 0x80 || c > 0xbf) return false;
    }
    i += follow + 1;
  }
  return true;
}

/**
 * Whether every byte is ASCII other than NUL. A loop, not a RegExp: on the device a
 * RegExp the SDK preloaded (in flash) leaks system heap on each test() (the emulated
 * C3 lost about 20 KB/s under a GET flood), so none runs per datagram.
 */
export function isPlainAscii(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b === 0 || b > 0x7f) return false;
  }
  return true;
}

/** The string, or undefined when the bytes are not valid UTF-8 (or hold a NUL). */
export function utf8Decode(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0) return "";
  // the usual short ASCII value (a path segment, a query): one check and one native call, no copy of the bytes
  if (bytes.length <= 64 && isPlainAscii(bytes)) return String.fromCharCode.apply(null, bytes as unknown as number[]);
  if (!isValidUtf8(bytes)) return undefined;
  const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
  const buffer = whole ? bytes.buffer : bytes.slice().buffer;
  return String.fromArrayBuffer(buffer);
}

export function utf8Encode(text: string): Uint8Array {
  return new Uint8Array(ArrayBuffer.fromString(text));
}
