/*
 * Test rig for the CoAP client: a CoapClient on a FakeClock whose datagrams
 * are recorded (decoded) instead of sent, and helpers to answer them.
 */
import { toHex, seededRandom } from "../lib/harness";
import { decode, encode, type CoapMessage, type CoapOption } from "coap/codec";
import { CoapClient, type ClientLimits, type Peer } from "coap/client";
import { Code, Type, type TransportParams } from "coap/numbers";
import { utf8Encode } from "coap/utf8";
import { FakeClock } from "../lib/clock";

export const SERVER: Peer = { address: "192.0.2.10", port: 5683 };

export interface RigOptions {
  random?: () => number;
  limits?: Partial<ClientLimits>;
  transport?: Partial<TransportParams>;
}

export function clientRig(options: RigOptions = {}) {
  const clock = new FakeClock(1_000_000);
  const sent: { message: CoapMessage; bytes: Uint8Array; peer: Peer; at: number }[] = [];
  const logs: string[] = [];
  const client = new CoapClient({
    send: (bytes, peer, now) => sent.push({ message: decode(bytes), bytes, peer, at: now }),
    random: options.random ?? seededRandom(11),
    log: (m) => logs.push(m),
    peer: SERVER,
    limits: options.limits,
    transport: options.transport,
  });
  return {
    client,
    sent,
    logs,
    clock,
    /** moves the clock and runs what is due, deadline by deadline (as the scheduler would) */
    advance(ms: number): Promise<void> {
      return clock.advance(client, ms);
    },
    take(): CoapMessage[] {
      return sent.splice(0).map((s) => s.message);
    },
    /** the last request sent */
    last(): CoapMessage {
      const s = sent[sent.length - 1];
      if (!s) throw new Error("nothing sent");
      return s.message;
    },
    receive(message: Partial<CoapMessage> & { type: Type; mid: number }, peer: Peer = SERVER) {
      client.receive(encode({ code: Code.EMPTY, token: new Uint8Array(0), options: [], payload: new Uint8Array(0), ...message }), peer, clock.now);
    },
  };
}

export { settle } from "../lib/clock";

export function text(value: string): Uint8Array {
  return utf8Encode(value);
}

export function hex(message: CoapMessage): string {
  return toHex(encode(message));
}

export function option(number: number, value: Uint8Array): CoapOption {
  return { number, value };
}
