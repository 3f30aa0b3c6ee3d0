/*
 * Block-wise transfer of responses: cutting a representation into Block2 blocks.
 *
 * RFC 7959 sec 2.2 (NUM/M/SZX, sizes 16..1024), 2.4 (Block2 in a request: the
 * client's size is honoured unless larger than ours, in which case the offset is
 * kept and the block number recomputed for our size), 3.4 (a notification too
 * large for one block carries block 0; the client fetches the rest with GET).
 * The server is stateless between blocks: each block request renders again.
 */
import { MAX_BLOCK_SZX } from "./numbers";
import { blockSize, type BlockValue } from "./options";

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
