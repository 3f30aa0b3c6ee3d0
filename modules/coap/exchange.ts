/*
 * Who a peer is, the keys the message layer and the layers above it file things
 * under, and one incoming request answered exactly once (Exchange). The message
 * layer (messagelayer.ts) makes the exchanges; the server answers them.
 *
 * RFC 7252 sec 4.5 (a message is its peer's and its Message ID's: midKey), 5.3.2 (an
 * exchange is its peer's and its token's: tokenKey; RFC 7641 sec 3.1 for an
 * observation), 5.2.1 / 5.2.2 (an answer ready while the request is handed up is
 * piggybacked on the ACK; a later one is a separate response: a CON for a CON
 * request, a NON for a NON).
 */
import { encodeFields, encodeWithBody, type CoapMessage, type CoapOption } from "./codec";
import { Type } from "./numbers";

export interface Peer {
  address: string;
  port: number;
  /** a transport session (DTLS) the peer talks through; part of its identity */
  session?: string;
}

export function peerKey(peer: Peer): string {
  return peer.session === undefined ? `${peer.address}|${peer.port}` : `${peer.address}|${peer.port}|${peer.session}`;
}

/** A token as text (lowercase hex), for keys. */
export function tokenHex(token: Uint8Array): string {
  let out = "";
  for (let i = 0; i < token.length; i++) out += (token[i] < 16 ? "0" : "") + token[i].toString(16);
  return out;
}

/** The key of one message of a peer (peerKey): dedup entries, pending CONs, tracked NONs (RFC 7252 sec 4.5). */
export function midKey(peer: string, mid: number): string {
  return `${peer}#${mid}`;
}

/** The key of one exchange or observation of a peer (peerKey) by token (RFC 7252 sec 5.3.2, RFC 7641 sec 3.1). */
export function tokenKey(peer: string, token: Uint8Array): string {
  return `${peer}#${tokenHex(token)}`;
}

/** What became of a CON we sent. */
/** "evicted": given up to make room under maxPendingCon, which for an observer means the same as a timeout */
export type ConOutcome = "ack" | "reset" | "timeout" | "cancelled" | "evicted";

/** The parts of a message the layers above choose; type and Message ID are ours. */
export interface MessageParts {
  code: number;
  token: Uint8Array;
  options: CoapOption[];
  payload: Uint8Array;
  /** options and payload already encoded (codec's encodeBody(): once for many notifications, or for a resource's repeated answer); options and payload are then ignored */
  body?: Uint8Array;
}

/** A message of ours from its parts: a body encoded once (a notification, a resource's unchanged answer) is only prefixed, otherwise everything is encoded. */
export function encodeParts(type: Type, mid: number, token: Uint8Array, parts: Omit<MessageParts, "token">): Uint8Array {
  return parts.body ? encodeWithBody(type, parts.code, mid, token, parts.body) : encodeFields(type, parts.code, mid, token, parts.options, parts.payload);
}

export interface SendConOptions {
  /** `now`: the time of the call that settled it; `reply`: the ACK (a piggybacked response, or Empty) or the RST */
  onDone?(outcome: ConOutcome, now: number, reply?: CoapMessage): void;
  /**
   * Message ID of an earlier CON to the same peer that this one supersedes (a newer
   * notification, RFC 7641 sec 4.5.2): it stops being retransmitted, and this one
   * carries on with its retransmission count, timeout and next retransmission time,
   * so a peer that is gone still times out MAX_TRANSMIT_WAIT after the first one,
   * however often the state changes.
   */
  supersedes?: number;
  /** peerKey(peer), when the caller keeps it (an observer does): not made again */
  peerKey?: string;
}

/** What an Exchange may do with its message layer (the layer makes one link, and the exchanges). */
export interface ExchangeLink {
  /** sends a reply to a CON and keeps it for duplicates when the exchange is remembered */
  reply(dedupKey: string | undefined, bytes: Uint8Array, peer: Peer, now: number): void;
  sendConfirmable(parts: MessageParts, peer: Peer, now: number, options?: SendConOptions): number;
  sendNonConfirmable(parts: MessageParts, peer: Peer, now: number): number;
  log(message: string): void;
}

const HANDING_UP = 0;
const HANDED_UP = 1;
const ANSWERED = 2;

/** One incoming request and the means to answer it exactly once. */
export class Exchange {
  readonly request: CoapMessage;
  readonly peer: Peer;
  #link: ExchangeLink;
  /** undefined when the exchange is not remembered (a safe request, run again for a duplicate) */
  #dedupKey: string | undefined;
  /** HANDING_UP while the message layer is still handing the request up (an answer then is piggybacked on the ACK), then HANDED_UP, then ANSWERED */
  #state = HANDING_UP;

  constructor(link: ExchangeLink, request: CoapMessage, peer: Peer, dedupKey: string | undefined) {
    this.#link = link;
    this.request = request;
    this.peer = peer;
    this.#dedupKey = dedupKey;
  }

  /** For the message layer: the request has been handed up; a later answer is a separate response. */
  handedUp(): void {
    if (this.#state === HANDING_UP) this.#state = HANDED_UP;
  }

  get answered(): boolean {
    return this.#state === ANSWERED;
  }

  get confirmable(): boolean {
    return this.request.type === Type.CON;
  }

  /** Sends the response (token copied from the request) at `now`. Throws RangeError if it cannot be encoded. */
  respond(response: Omit<MessageParts, "token">, now: number): void {
    if (this.#state === ANSWERED) return;
    if (this.#state === HANDING_UP && this.request.type === Type.CON) {
      // piggybacked (the common case): encoded from the parts, no message object
      const bytes = encodeParts(Type.ACK, this.request.mid, this.request.token, response);
      this.#state = ANSWERED;
      this.#link.reply(this.#dedupKey, bytes, this.peer, now);
      return;
    }
    const parts: MessageParts = { ...response, token: this.request.token };
    if (this.confirmable) {
      const mid = this.#link.sendConfirmable(parts, this.peer, now, {
        onDone: (outcome) => {
          if (outcome !== "ack") this.#link.log(`separate response ${mid} to ${peerKey(this.peer)}: ${outcome}`);
        },
      });
      this.#state = ANSWERED;
    } else {
      this.#link.sendNonConfirmable(parts, this.peer, now);
      this.#state = ANSWERED;
    }
  }
}
