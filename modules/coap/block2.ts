/*
 * Block-wise transfer of responses: cutting a representation into Block2 blocks
 * (the server), and putting a body together from them (the client).
 *
 * RFC 7959 sec 2.2 (NUM/M/SZX, sizes 16..1024), 2.4 (Block2 in a request: the
 * client's size is honoured unless larger than ours, in which case the offset is
 * kept and the block number recomputed for our size), 3.4 (a notification too
 * large for one block carries block 0; the client fetches the rest with GET).
 * The server is stateless between blocks: each block request renders again.
 * The client (sec 2.4, 3.1) asks for block NUM+1 at the size the server chose until
 * M=0, and refuses a block out of sequence, a changed ETag, or a body (Size2, or what
 * arrives) larger than it keeps.
 */
import type { CoapOption } from "./codec";
import { MAX_BLOCK_SZX, Option, RESERVED_BLOCK_SZX } from "./numbers";
import { blockSize, getETag, getUint, type BlockValue } from "./options";

export interface BlockSlice {
  /** the bytes of the block */
  payload: Uint8Array;
  /** the Block2 value to send with it */
  block: BlockValue;
}

/** The size exponent to use: the client's when it asked for one no larger than ours. */
export function negotiateSzx(requested: BlockValue | undefined, ourSzx: number): number {
  const limit = Math.min(ourSzx, MAX_BLOCK_SZX);
  return requested === undefined ? limit : Math.min(requested.szx, limit);
}

/**
 * Block `requested` of `representation` in blocks of 16 << ourSzx at most, or
 * undefined when the block starts past the end (the caller answers 4.02).
 */
export function sliceBlock(representation: Uint8Array, requested: BlockValue | undefined, ourSzx: number): BlockSlice | undefined {
  const szx = negotiateSzx(requested, ourSzx);
  const size = blockSize(szx);
  // the byte offset the client asked for, in its own block size
  const offset = requested === undefined ? 0 : requested.num * blockSize(requested.szx);
  if (offset % size !== 0) return undefined; // cannot happen when szx <= the client's, kept for safety
  if (offset > 0 && offset >= representation.length) return undefined;
  const end = Math.min(offset + size, representation.length);
  return {
    payload: representation.subarray(offset, end),
    block: { num: offset / size, more: end < representation.length, szx },
  };
}

/** Whether a response needs Block2: it is larger than a block, or the client asked for blocks. */
export function needsBlockwise(representationLength: number, requested: BlockValue | undefined, ourSzx: number): boolean {
  return requested !== undefined || representationLength > blockSize(negotiateSzx(undefined, ourSzx));
}

/** A body a client is putting together from Block2 responses. */
export interface Reassembly {
  chunks: Uint8Array[];
  /** bytes so far */
  received: number;
  /** the ETag of block 0: every later block must carry the same */
  etag?: Uint8Array;
}

/** What one block means: the whole body, the block to ask for next, or why the transfer fails. */
export type BlockStep =
  | { body: Uint8Array }
  | { next: BlockValue }
  | { error: "bad-block" | "too-large"; detail: string };

/** Takes one Block2 response (its Block2 value, options and payload) into `body`, keeping at most `maxBody` bytes. */
export function takeBlock(body: Reassembly, block: BlockValue, options: readonly CoapOption[], payload: Uint8Array, maxBody: number): BlockStep {
  if (block.szx === RESERVED_BLOCK_SZX) return { error: "bad-block", detail: "Block2 SZX 7" };
  const size = blockSize(block.szx);
  if (block.num * size !== body.received) return { error: "bad-block", detail: `block ${block.num} at offset ${block.num * size}, expected offset ${body.received}` };
  if (block.more && payload.length !== size) return { error: "bad-block", detail: `block ${block.num} has ${payload.length} bytes, not ${size}` };
  const etag = getETag(options);
  if (body.received === 0) {
    body.etag = etag;
    const size2 = getUint(options, Option.SIZE2);
    if (size2 !== undefined && size2 > maxBody) return { error: "too-large", detail: `Size2 ${size2} > ${maxBody}` };
  } else if (!sameBytes(etag, body.etag)) {
    return { error: "bad-block", detail: "the representation changed during the transfer (ETag)" };
  }
  if (body.received + payload.length > maxBody) return { error: "too-large", detail: `body passes ${maxBody} bytes` };
  body.chunks.push(payload);
  body.received += payload.length;
  if (!block.more) return { body: joined(body) };
  return { next: { num: block.num + 1, more: false, szx: block.szx } };
}

/** The bytes so far, in one array. */
export function joined(body: Reassembly): Uint8Array {
  const { chunks, received } = body;
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(received);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

export function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
