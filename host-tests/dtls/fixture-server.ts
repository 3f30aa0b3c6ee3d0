/*
 * Fixture host module: a DtlsServer on a real UDP socket, answering every decrypted
 * CoAP request with a fixed piggybacked 2.05 "dtls-ok" (hand-built bytes; the real
 * CoAP server is wired in main.ts). For tests with real peers (libcoap's coap-client).
 *
 *   xshost .../fixture-server.js [address] [maxSessions] [idleTimeoutMs] [preferEcdhe] [mode] [certDir] [mutual] [suites] [ticketLifetimeS] [sessionCache] [psks]
 *
 * mode: "psk" (default: identity CoAP, key esp32c3_key), "cert" (certDir's server.crt,
 * server.key and ca.crt from certs/make-test-certs.sh; mutual "0" turns client
 * certificates off) or "both" (one context offering PSK and certificate suites);
 * suites: IANA numbers, comma-separated ("0xc02b"), to narrow what the node offers;
 * ticketLifetimeS and sessionCache: resumption (DtlsServer's defaults when left out);
 * psks: further PSK identities, "identity:key,identity:key".
 *
 * Prints "dtls-fixture port N" once listening; log lines start with "dtls:". The
 * control channel (--control) answers `stats` (JSON, with the native heap of host/meter), `advance MS` (moves the
 * server's clock forward and ticks) and `closeall`.
 */
import UDP from "embedded:io/socket/udp";
import Timer from "timer";
import Control from "host/control";
import { argv, now as hostNow, readFile } from "host/runtime";
import { native } from "host/meter";
import { DtlsServer, type Peer } from "dtls-psk/server";
import type { DtlsEnd } from "dtls-psk/pump";
import { pskFromConfig } from "dtls-psk/credentials";
import { openUDP } from "../lib/net";

type Datagram = ArrayBuffer & { address: string; port: number };

const [address = "127.0.0.1", maxSessions = "8", idleTimeoutMs = "120000", preferEcdhe = "0", mode = "psk", certDir = "", mutual = "1", suites = "", tickets = "", cache = "", psks = ""] = argv();
let offset = 0;
let requests = 0;
const now = (): number => hostNow() + offset;

function coapResponse(request: Uint8Array): Uint8Array | undefined {
  if (request.length < 4 || request[0] >> 6 !== 1) return undefined;
  const type = (request[0] >> 4) & 3;
  const tkl = request[0] & 0x0f;
  if (tkl > 8 || request.length < 4 + tkl || request[1] === 0) return undefined; // empty message: nothing to answer
  const payload = ArrayBuffer.fromString("dtls-ok");
  const out = new Uint8Array(4 + tkl + 1 + payload.byteLength);
  out[0] = 0x40 | ((type === 0 ? 2 : 1) << 4) | tkl; // ACK for CON, NON for NON
  out[1] = 0x45; // 2.05 Content
  out[2] = request[2];
  out[3] = request[3];
  out.set(request.subarray(4, 4 + tkl), 4);
  out[4 + tkl] = 0xff;
  out.set(new Uint8Array(payload), 5 + tkl);
  return out;
}

let timer: ReturnType<typeof Timer.set> | undefined;
function schedule(): void {
  if (timer) Timer.clear(timer);
  timer = undefined;
  const deadline = server.nextDeadline();
  if (deadline === undefined) return;
  timer = Timer.set(() => {
    timer = undefined;
    server.tick(now());
    schedule();
  }, Math.max(0, Math.ceil(deadline - now())));
}

const { socket, port } = openUDP({
  address,
  onReadable(this: UDP, count: number) {
    const at = now(); // once per batch, as coap/endpoint's UdpEndpoint does
    for (let i = 0; i < count; i++) {
      const datagram = this.read() as Datagram;
      server.receive(new Uint8Array(datagram), { address: datagram.address, port: datagram.port }, at);
    }
    schedule();
  },
});

function pem(name: string): Uint8Array {
  const text = readFile(`${certDir}/${name}`);
  if (text === undefined) throw new Error(`fixture: no ${certDir}/${name}`);
  return new Uint8Array(ArrayBuffer.fromString(text));
}

const credentials = mode === "cert" ? {} : pskFromConfig({ identity: "CoAP", key: "esp32c3_key" });
const certificate = mode === "psk" ? undefined : { cert: pem("server.crt"), key: pem("server.key"), ca: pem("ca.crt"), mutualAuth: mutual !== "0" };
const server: DtlsServer = new DtlsServer({
  ...credentials,
  certificate,
  suites: suites ? suites.split(",").map(Number) : undefined,
  maxSessions: Number(maxSessions),
  idleTimeoutMs: Number(idleTimeoutMs),
  preferEcdhe: preferEcdhe === "1",
  ticketLifetimeS: tickets ? Number(tickets) : undefined,
  sessionCache: cache ? Number(cache) : undefined,
  morePsks: psks ? psks.split(",").map((pair) => pskFromConfig({ identity: pair.split(":")[0], key: pair.split(":")[1] })) : undefined,
  send(record: ArrayBuffer, peer: Peer) {
    socket.write(record, peer.address, peer.port);
  },
  onData(data: Uint8Array, peer: Peer, session: string, at: number) {
    requests++;
    trace(`request ${requests} from ${session} (${data.length} bytes)\n`);
    const response = coapResponse(data);
    if (response) server.write(peer, response, at);
  },
  onClose(_peer: Peer, session: string, end: DtlsEnd) {
    trace(`closed ${session}: ${end.detail} (${end.kind})\n`);
  },
  log(message: string) {
    trace(`${message}\n`);
  },
});

Control.register("stats", () => JSON.stringify({ ...server.stats(), requests, nativeHeap: native().bytes }));
Control.register("advance", (args) => {
  offset += Number(args[0]);
  server.tick(now());
  schedule();
  return "done";
});
Control.register("closeall", () => {
  server.closeAll(now());
  schedule();
  return "done";
});

trace(`dtls-fixture port ${port}\n`);
