/*
 * A DtlsClient on a real UDP socket with a host timer, for tests against real servers
 * (libcoap's coap-server-openssl, our fixture), plus a hand-built CoAP GET and a
 * minimal response reader (the project's CoAP client lives in modules/coap).
 */
import UDP from "embedded:io/socket/udp";
import Timer from "timer";
import { now as hostNow } from "host/runtime";
import { DtlsClient, type DtlsClientOptions } from "dtls-psk/client";
import { waitFor } from "../lib/harness";
import { openUDP, type ClosableUDP } from "../lib/net";

type Datagram = ArrayBuffer & { address: string; port: number };

export interface UdpDtlsClient {
  client: DtlsClient;
  received: Uint8Array[];
  closed: string[];
  logs: string[];
  /** resolves when open, rejects with the close reason (or after `timeout` ms) */
  open(timeout?: number): Promise<void>;
  /** sends one CoAP message and waits for the next datagram from the server */
  request(message: Uint8Array, timeout?: number): Promise<Uint8Array>;
  dispose(): void;
}

export function udpDtlsClient(port: number, options: Partial<DtlsClientOptions>, address = "127.0.0.1"): UdpDtlsClient {
  const received: Uint8Array[] = [];
  const closed: string[] = [];
  const logs: string[] = [];
  let timer: ReturnType<typeof Timer.set> | undefined;
  let opened = false;
  const box: { socket?: ClosableUDP } = {};

  const client: DtlsClient = new DtlsClient({
    send: (record) => box.socket?.write(record, address, port),
    onData: (data) => received.push(data),
    onOpen: () => (opened = true),
    onClose: (end) => closed.push(end.detail),
    log: (message) => logs.push(message),
    ...options,
  });

  function schedule(): void {
    if (timer) Timer.clear(timer);
    timer = undefined;
    const deadline = client.nextDeadline();
    if (deadline === undefined) return;
    timer = Timer.set(() => {
      timer = undefined;
      client.tick(hostNow());
      schedule();
    }, Math.max(0, Math.ceil(deadline - hostNow())));
  }

  box.socket = openUDP({
    address: address.includes(":") ? "::" : "127.0.0.1",
    onReadable(this: UDP, count: number) {
      const now = hostNow(); // once per batch, as coap/endpoint's UdpEndpoint does
      for (let i = 0; i < count; i++) {
        const datagram = this.read() as Datagram;
        if (datagram.port === port) client.receive(new Uint8Array(datagram), now);
      }
      schedule();
    },
  }).socket;

  return {
    client,
    received,
    closed,
    logs,
    async open(timeout = 8000) {
      client.connect(hostNow());
      schedule();
      await waitFor(() => opened || closed.length > 0, timeout, `DTLS handshake with ${address}:${port}\n${logs.join("\n")}`);
      if (!opened) throw new Error(`handshake refused: ${closed.join(", ")}\n${logs.join("\n")}`);
    },
    async request(message, timeout = 5000) {
      const before = received.length;
      if (!client.write(message, hostNow())) throw new Error(`write refused in state ${client.state}`);
      await waitFor(() => received.length > before, timeout, "a CoAP response");
      return received[before];
    },
    dispose() {
      if (timer) Timer.clear(timer);
      client.dispose(hostNow());
      box.socket?.close();
    },
  };
}

/** A confirmable CoAP GET for `path` ("/.well-known/core"), token 0x7a 0x11 0x22 0x33. */
export function coapGet(path: string, messageId = 0x1234): Uint8Array {
  const bytes: number[] = [0x44, 0x01, (messageId >> 8) & 0xff, messageId & 0xff, 0x7a, 0x11, 0x22, 0x33];
  let previous = 0;
  for (const segment of path.split("/").filter((s) => s.length > 0)) {
    const value = new Uint8Array(ArrayBuffer.fromString(segment));
    if (value.length > 12) throw new RangeError("segment too long for this helper");
    bytes.push(((11 - previous) << 4) | value.length, ...value); // Uri-Path (11)
    previous = 11;
  }
  return Uint8Array.from(bytes);
}

export interface CoapResponse {
  type: number;
  code: string;
  messageId: number;
  token: Uint8Array;
  payload: string;
}

/** Reads a CoAP message far enough for the tests: header, token, options skipped, payload. */
export function readCoap(message: Uint8Array): CoapResponse {
  const tkl = message[0] & 0x0f;
  let p = 4 + tkl;
  while (p < message.length && message[p] !== 0xff) {
    const delta = message[p] >> 4;
    let length = message[p] & 0x0f;
    p++;
    if (delta === 13) p += 1;
    else if (delta === 14) p += 2;
    if (length === 13) length = message[p++] + 13;
    else if (length === 14) {
      length = ((message[p] << 8) | message[p + 1]) + 269;
      p += 2;
    }
    p += length;
  }
  const payload = p < message.length ? message.slice(p + 1) : new Uint8Array(0);
  return {
    type: (message[0] >> 4) & 3,
    code: `${message[1] >> 5}.${(message[1] & 0x1f).toString().padStart(2, "0")}`,
    messageId: (message[2] << 8) | message[3],
    token: message.slice(4, 4 + tkl),
    payload: String.fromArrayBuffer(payload.buffer as ArrayBuffer),
  };
}
