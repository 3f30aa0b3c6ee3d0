/*
 * Hand-built DTLS records for tests: a minimal ClientHello (RFC 6347 4.2.1 layout),
 * raw records an attacker would forge, and helpers to read record headers.
 */

/** A DTLS 1.2 ClientHello record: no session id, `cookie`, the given suites, null compression. */
export function clientHello(options: { cookie?: Uint8Array; suites?: number[]; sequence?: number; random?: () => number } = {}): Uint8Array {
  const cookie = options.cookie ?? new Uint8Array(0);
  const suites = options.suites ?? [0xc0a8, 0xc0a4, 0x00a8, 0x00ae];
  const random = options.random ?? Math.random;
  const bodyLength = 2 + 32 + 1 + 1 + cookie.length + 2 + suites.length * 2 + 2;
  const out = new Uint8Array(13 + 12 + bodyLength);
  let p = 0;
  const put = (...bytes: number[]): void => {
    for (const b of bytes) out[p++] = b & 0xff;
  };
  const sequence = options.sequence ?? 0;
  put(22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, (sequence >> 8) & 0xff, sequence & 0xff); // handshake, DTLS 1.2, epoch 0, seq
  put((12 + bodyLength) >> 8, 12 + bodyLength);
  put(1, 0, bodyLength >> 8, bodyLength, 0, 0, 0, 0, 0, 0, bodyLength >> 8, bodyLength); // client_hello, msg_seq 0, whole
  put(0xfe, 0xfd);
  for (let i = 0; i < 32; i++) put(Math.floor(random() * 256));
  put(0); // session id
  put(cookie.length);
  out.set(cookie, p);
  p += cookie.length;
  put((suites.length * 2) >> 8, suites.length * 2);
  for (const s of suites) put(s >> 8, s);
  put(1, 0); // compression: null
  return out;
}

/** One raw record: 13-byte header (type, DTLS 1.2, epoch, 48-bit sequence, length), then `body`. */
export function record(type: number, epoch: number, sequence: number, body: Uint8Array | number[]): Uint8Array {
  const bytes = body instanceof Uint8Array ? body : Uint8Array.from(body);
  const out = new Uint8Array(13 + bytes.length);
  out.set([type, 0xfe, 0xfd, epoch >> 8, epoch & 0xff, 0, 0, 0, 0, (sequence >> 8) & 0xff, sequence & 0xff, bytes.length >> 8, bytes.length & 0xff]);
  out.set(bytes, 13);
  return out;
}

/** Several records (or any bytes) in one datagram. */
export function datagram(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let p = 0;
  for (const part of parts) {
    out.set(part, p);
    p += part.length;
  }
  return out;
}

/** The 14-byte plaintext epoch-0 "ClientHello" that ended an established session before the fix. */
export const FORGED_EPOCH0 = Uint8Array.of(0x16, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1);

/**
 * The first fragment of a ClientHello (fragment_offset 0, fragment_length shorter than
 * the message), as clients at a small MTU send it; Mbed TLS < 4.1 refuses those.
 */
export function clientHelloFragment(fragment = 20): Uint8Array {
  const whole = clientHello({ random: () => 0.5 });
  const length = (whole[14] << 16) | (whole[15] << 8) | whole[16];
  const out = whole.slice(0, 25 + fragment);
  out[11] = (12 + fragment) >> 8; // record length
  out[12] = (12 + fragment) & 0xff;
  out[14] = length >> 16; // the whole message's length stays
  out[22] = fragment >> 16; // fragment_length
  out[23] = (fragment >> 8) & 0xff;
  out[24] = fragment & 0xff;
  return out;
}

export interface RecordHeader {
  type: number;
  epoch: number;
  length: number;
}

/** The records of one datagram (headers only). */
export function records(datagram: Uint8Array): RecordHeader[] {
  const out: RecordHeader[] = [];
  let p = 0;
  while (p + 13 <= datagram.length) {
    const length = (datagram[p + 11] << 8) | datagram[p + 12];
    out.push({ type: datagram[p], epoch: (datagram[p + 3] << 8) | datagram[p + 4], length });
    p += 13 + length;
  }
  return out;
}

export const CONTENT_ALERT = 21;
export const CONTENT_HANDSHAKE = 22;
export const CONTENT_APPLICATION_DATA = 23;
export const HANDSHAKE_HELLO_VERIFY_REQUEST = 3;

/** The cookie of a HelloVerifyRequest datagram, or undefined when it is none. */
export function cookieOf(datagram: Uint8Array): Uint8Array | undefined {
  if (datagram.length < 28 || datagram[0] !== CONTENT_HANDSHAKE || datagram[13] !== HANDSHAKE_HELLO_VERIFY_REQUEST) return undefined;
  const length = datagram[27];
  return datagram.slice(28, 28 + length);
}
