/*
 * Block-wise request bodies on the server (RFC 7959 sec 2.3, 2.5, 2.9.1-2.9.3) with
 * Request-Tag (RFC 9175 sec 3): a PUT or POST whose body comes in Block1 blocks is
 * streamed, block by block, into the resource's Upload; the server never holds more
 * than the block in hand. Sans-IO: step() takes one request and says what to answer.
 *
 * - One transfer per resource at a time. Another client's (another peer, or the same
 *   peer's other Request-Tag) first block gets 5.03 with Max-Age: the seconds until the
 *   transfer in progress would be dropped for silence. The same client starting again
 *   (block 0 again) replaces its own transfer.
 * - Blocks must come in order: a block that is not the next one, or that belongs to no
 *   transfer of this client, gets 4.08 (Request Entity Incomplete) and ends the
 *   transfer (the client starts again from block 0).
 * - Size1 in the first block over the resource's maxBody, or a body growing past it,
 *   gets 4.13 with Size1 = maxBody (sec 2.9.3).
 * - Every block but the last carries exactly its size's bytes (sec 2.3): else 4.00.
 * - A transfer silent for `timeoutMs` is dropped (its Upload is told why).
 * - The answer to a block that is not the last is 2.31 Continue with Block1 (the
 *   client's number, the more flag, our preferred size when smaller: sec 2.5); the
 *   last block's answer is the Upload's own, with Block1 added.
 */
import type { CoapOption } from "./codec";
import { Code, Option, formatCode } from "./numbers";
import { blockSize, encodeBlock, encodeUint, type BlockValue } from "./options";
import type { CoapRequest, CoapResponse } from "./resource";

/** Where a block-wise body goes: one per transfer, made by the resource's begin(). */
export interface Upload {
  /**
   * The next block's bytes, which start at `offset` of the body (in order, each once).
   * A response returned ends the transfer with that answer (a 4.xx for a body found
   * wrong on the way); a throw ends it with 5.00.
   */
  write(offset: number, bytes: Uint8Array): void | CoapResponse;
  /** The last block has been written: the answer to the whole request (sync or async). */
  end(request: CoapRequest): CoapResponse | Promise<CoapResponse>;
  /** The transfer ended before end(): why, in words for a log ("stalled", "out of order", "too large", "restarted"). */
  abort(reason: string): void;
}

/** What a resource that takes block-wise PUT/POST bodies provides (Resource.block1). */
export interface Block1Handler {
  /** the largest body accepted, in bytes */
  maxBody: number;
  /**
   * The first block (number 0) of a transfer from a new client: an Upload takes the
   * body; a response refuses it as it is (4.01, 4.03, 5.03 ...). `size1` is the
   * client's announced body size (Size1), when it sent one.
   */
  begin(request: CoapRequest, size1: number | undefined): Upload | CoapResponse;
}

export interface Block1Limits {
  /** ms of silence after which a transfer is dropped */
  timeoutMs: number;
  /** the block size exponent the server prefers (it answers with this SZX when the client's is larger) */
  preferredSzx: number;
}

interface Transfer {
  /** the client: its peer key and Request-Tag */
  client: string;
  upload: Upload;
  /** bytes written so far: the next block must start here */
  received: number;
  maxBody: number;
  /** when it is dropped unless a block comes */
  deadline: number;
}

/** What to do with one block-wise request. */
export type Block1Step =
  /** answer this at once (2.31, or a refusal: 4.00, 4.08, 4.13, 5.00, 5.03, or begin()'s own answer) */
  | { kind: "answer"; response: CoapResponse }
  /** the body is complete: answer with upload.end(request), `block` added to it (withBlock1) */
  | { kind: "end"; upload: Upload; block: BlockValue };

/** A response carrying a Block1 option (the block it answers). */
export function withBlock1(response: CoapResponse, block: BlockValue): CoapResponse {
  const options: CoapOption[] = response.options ? response.options.slice() : [];
  options.push({ number: Option.BLOCK1, value: encodeBlock(block) });
  return { ...response, options };
}

function refusal(code: number, diagnostic: string, options?: CoapOption[]): Block1Step {
  return { kind: "answer", response: { code, payload: diagnostic, options } };
}

function size1Option(maxBody: number): CoapOption[] {
  return [{ number: Option.SIZE1, value: encodeUint(maxBody) }];
}

/** The transfers in progress, one per resource key. */
export class Block1Transfers {
  readonly #limits: Block1Limits;
  readonly #transfers = new Map<string, Transfer>();
  /** transfers completed, and ended early (any reason) */
  readonly counters = { completed: 0, aborted: 0 };

  constructor(limits: Block1Limits) {
    this.#limits = limits;
  }

  get size(): number {
    return this.#transfers.size;
  }

  /**
   * One request with a Block1 option for the resource at `key`: `client` names its
   * sender (peer key and Request-Tag), `size1` is its Size1 option if any.
   */
  step(key: string, handler: Block1Handler, request: CoapRequest, block: BlockValue, size1: number | undefined, client: string, now: number): Block1Step {
    const size = blockSize(block.szx);
    const payload = request.payload;
    if (block.szx > 6) return refusal(Code.BAD_REQUEST, "Block1 SZX 7");
    if (block.more ? payload.length !== size : payload.length > size) return refusal(Code.BAD_REQUEST, `Block1 block of ${payload.length} bytes for size ${size}`);
    const offset = block.num * size;
    let transfer = this.#transfers.get(key);
    if (transfer !== undefined && now >= transfer.deadline) {
      this.#abort(key, transfer, "stalled");
      transfer = undefined;
    }
    if (block.num === 0) {
      if (transfer !== undefined && transfer.client !== client) {
        const seconds = Math.max(1, Math.ceil((transfer.deadline - now) / 1000));
        return refusal(Code.SERVICE_UNAVAILABLE, "another upload is in progress", [{ number: Option.MAX_AGE, value: encodeUint(seconds) }]);
      }
      if (transfer !== undefined) this.#abort(key, transfer, "restarted");
      if (size1 !== undefined && size1 > handler.maxBody) return refusal(Code.REQUEST_ENTITY_TOO_LARGE, `body of ${size1} bytes, at most ${handler.maxBody}`, size1Option(handler.maxBody));
      const begun = handler.begin(request, size1);
      if (!isUpload(begun)) return { kind: "answer", response: begun };
      transfer = { client, upload: begun, received: 0, maxBody: handler.maxBody, deadline: now + this.#limits.timeoutMs };
      this.#transfers.set(key, transfer);
    } else if (transfer === undefined || transfer.client !== client) {
      return refusal(Code.REQUEST_ENTITY_INCOMPLETE, `no upload in progress for Block1 block ${block.num}`);
    } else if (offset !== transfer.received) {
      this.#abort(key, transfer, "out of order");
      return refusal(Code.REQUEST_ENTITY_INCOMPLETE, `Block1 block ${block.num} starts at byte ${offset}, expected ${transfer.received}`);
    }
    if (offset + payload.length > transfer.maxBody) {
      this.#abort(key, transfer, "too large");
      return refusal(Code.REQUEST_ENTITY_TOO_LARGE, `body over ${transfer.maxBody} bytes`, size1Option(transfer.maxBody));
    }
    let refused: void | CoapResponse;
    try {
      refused = transfer.upload.write(offset, payload);
    } catch (error) {
      this.#abort(key, transfer, `write failed: ${error}`);
      return refusal(Code.INTERNAL_SERVER_ERROR, "upload failed");
    }
    if (refused) {
      this.#abort(key, transfer, `refused: ${typeof refused.payload === "string" ? refused.payload : formatCode(refused.code ?? Code.BAD_REQUEST)}`);
      return { kind: "answer", response: refused };
    }
    transfer.received = offset + payload.length;
    transfer.deadline = now + this.#limits.timeoutMs;
    if (!block.more) {
      this.#transfers.delete(key);
      this.counters.completed++;
      return { kind: "end", upload: transfer.upload, block: { num: block.num, more: false, szx: block.szx } };
    }
    // 2.31 with the client's number; our preferred size when smaller (the client's next number counts in it)
    const szx = Math.min(block.szx, this.#limits.preferredSzx);
    return { kind: "answer", response: { code: Code.CONTINUE, options: [{ number: Option.BLOCK1, value: encodeBlock({ num: block.num, more: true, szx }) }] } };
  }

  /** The transfer in progress at `key`: who sends it and how many bytes came so far (for a status resource). */
  progress(key: string): { client: string; received: number } | undefined {
    const transfer = this.#transfers.get(key);
    return transfer && { client: transfer.client, received: transfer.received };
  }

  nextDeadline(): number | undefined {
    let earliest: number | undefined;
    for (const transfer of this.#transfers.values()) if (earliest === undefined || transfer.deadline < earliest) earliest = transfer.deadline;
    return earliest;
  }

  /** Drops the transfers silent past their deadline at `now`; the keys of those dropped. */
  expire(now: number): string[] {
    const dropped: string[] = [];
    for (const [key, transfer] of this.#transfers) {
      if (now >= transfer.deadline) {
        this.#abort(key, transfer, "stalled");
        dropped.push(key);
      }
    }
    return dropped;
  }

  /** Ends every transfer (the server stops, or the resource goes away). */
  abortAll(reason: string): void {
    for (const [key, transfer] of this.#transfers) this.#abort(key, transfer, reason);
  }

  #abort(key: string, transfer: Transfer, reason: string): void {
    this.#transfers.delete(key);
    this.counters.aborted++;
    try {
      transfer.upload.abort(reason);
    } catch {
      // the upload's own trouble: the transfer is gone either way
    }
  }
}

function isUpload(value: Upload | CoapResponse): value is Upload {
  return typeof (value as Upload).write === "function" && typeof (value as Upload).end === "function";
}
