/*
 * Hand-built DTLS records for tests: a minimal ClientHello (RFC 6347 4.2.1 layout)
 * and helpers to read record headers.
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
