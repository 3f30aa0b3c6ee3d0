/*
 * DTLS record headers as the session table reads them before any session state is
 * touched (RFC 6347 4.1): type(1) version(2) epoch(2) sequence_number(6) length(2),
 * then `length` bytes; a datagram may carry several records. Only headers (and a
 * ClientHello's random, RFC 5246 7.4.1.2): the binding and Mbed TLS read the rest.
 */
export const RECORD_HEADER = 13;
const CONTENT_HANDSHAKE = 22;
/** RFC 9146 4: a record with a connection ID after its sequence number, then its length */
export const CONTENT_TLS12_CID = 25;
const HANDSHAKE_CLIENT_HELLO = 1;

/** An epoch-0 DTLS ClientHello at the start of a datagram (the binding checks the rest). */
export function isClientHello(datagram: Uint8Array): boolean {
  return (
    datagram.length >= 25 &&
    datagram[0] === CONTENT_HANDSHAKE &&
    datagram[1] === 0xfe &&
    datagram[3] === 0 &&
    datagram[4] === 0 &&
    datagram[13] === HANDSHAKE_CLIENT_HELLO
  );
}

/** A handshake record first: what a new peer must send (anything else from a stranger is noise). */
export function startsWithHandshake(datagram: Uint8Array): boolean {
  return datagram.length > 0 && datagram[0] === CONTENT_HANDSHAKE;
}

/**
 * What an established session may be handed of `datagram`: only records that can
 * authenticate for it, i.e. of epoch 1 or later (an epoch-0 record is plaintext:
 * anyone can forge it from the peer's address, and Mbed TLS's client-reconnect check
 * turns a malformed one into an error after which its context is unusable).
 *
 * - every record epoch >= 1: the datagram itself;
 * - a leading run of epoch-0 records, then only epoch >= 1: the part after the run.
 *   That is a peer's retransmitted final flight (ClientKeyExchange and
 *   ChangeCipherSpec in epoch 0, Finished in epoch 1) after our Finished was lost; its
 *   Finished is what makes Mbed TLS send ours again;
 * - otherwise undefined: no record of epoch >= 1, an epoch-0 record after one (the
 *   attacker's "junk epoch-1, then epoch 0"), or headers that do not tile the datagram
 *   (a length running past its end, a header cut short).
 *
 * A record of type tls12_cid (RFC 9146) has `cidLength` more header bytes before its
 * length. One pass over the headers, at most datagram.length / 13 steps; no copy.
 */
export function authenticatable(datagram: Uint8Array, cidLength = 0): Uint8Array | undefined {
  const n = datagram.length;
  // the usual datagram, one record of epoch 1 or later that fills it, in four reads (the loop below says the same of it)
  if (cidLength === 0 && n >= RECORD_HEADER && (datagram[3] !== 0 || datagram[4] !== 0) && ((datagram[11] << 8) | datagram[12]) === n - RECORD_HEADER) return datagram;
  let first = -1;
  for (let p = 0; p < n; ) {
    const header = cidLength !== 0 && datagram[p] === CONTENT_TLS12_CID ? RECORD_HEADER + cidLength : RECORD_HEADER;
    if (n - p < header) return undefined;
    const epoch = (datagram[p + 3] << 8) | datagram[p + 4];
    const end = p + header + ((datagram[p + header - 2] << 8) | datagram[p + header - 1]);
    if (end > n) return undefined;
    if (epoch !== 0) {
      if (first < 0) first = p;
    } else if (first >= 0) return undefined;
    p = end;
  }
  if (first < 0) return undefined;
  return first === 0 ? datagram : datagram.subarray(first);
}

/* ClientHello.random (RFC 6347 4.2.2, RFC 5246 7.4.1.2): after the record header, the handshake header (12) and client_version (2) */
const HANDSHAKE_HEADER = 12;
const RANDOM_OFFSET = RECORD_HEADER + HANDSHAKE_HEADER + 2;
const RANDOM_LENGTH = 32;

/** A copy of the ClientHello's random: it names the hello that opened a session. */
export function helloRandom(hello: Uint8Array): Uint8Array {
  return hello.slice(RANDOM_OFFSET, RANDOM_OFFSET + RANDOM_LENGTH);
}

/** Whether `hello` carries `random` (a late copy of the hello that opened the session). */
export function sameRandom(random: Uint8Array, hello: Uint8Array): boolean {
  if (random.length !== RANDOM_LENGTH || hello.length < RANDOM_OFFSET + RANDOM_LENGTH) return false;
  for (let i = 0; i < RANDOM_LENGTH; i++) if (hello[RANDOM_OFFSET + i] !== random[i]) return false;
  return true;
}

/**
 * The connection ID of a datagram's first record (RFC 9146 4: `cidLength` bytes after
 * the sequence number) as a string of char codes, the session table's key; undefined
 * when that record carries none.
 */
export function connectionIdOf(datagram: Uint8Array, cidLength: number): string | undefined {
  if (cidLength === 0 || datagram[0] !== CONTENT_TLS12_CID || datagram.length < RECORD_HEADER + cidLength) return undefined;
  return cidKey(datagram.subarray(11, 11 + cidLength));
}

/** The table's key for a connection ID. */
export function cidKey(cid: Uint8Array): string {
  let key = "";
  for (let i = 0; i < cid.length; i++) key += String.fromCharCode(cid[i]);
  return key;
}

/**
 * The highest (epoch, sequence number) among a datagram's records as one number
 * (epoch times 2^48 plus the 48-bit sequence number; exact while epoch < 32, and
 * this server never renegotiates: epoch 1). -1 for headers that do not tile.
 */
export function newestRecord(datagram: Uint8Array, cidLength: number): number {
  const n = datagram.length;
  let newest = -1;
  for (let p = 0; p < n; ) {
    const header = datagram[p] === CONTENT_TLS12_CID ? RECORD_HEADER + cidLength : RECORD_HEADER;
    if (n - p < header) return -1;
    let number = (datagram[p + 3] << 8) | datagram[p + 4];
    for (let i = 5; i < 11; i++) number = number * 256 + datagram[p + i];
    if (number > newest) newest = number;
    p += header + ((datagram[p + header - 2] << 8) | datagram[p + header - 1]);
    if (p > n) return -1;
  }
  return newest;
}
