/*
 * The smallest CoAP server built from modules/coap alone (its manifest is the only
 * project include): one resource, GET /hello, on UDP 5683 (RFC 7252), with
 * deduplication, piggybacked answers and /.well-known/core (RFC 6690) from the
 * library. The server is sans-IO; UdpEndpoint gives it the socket, the
 * DeadlineScheduler its timer.
 *
 *   coap-client-notls -m get coap://DEVICE/hello
 */
import config from "mc/config";
import { CoapServer } from "coap/server";
import { DeadlineScheduler, UdpEndpoint } from "coap/endpoint";

function log(message: string): void {
  trace(`${message}\n`);
}

export default function main(): void {
  const port = Number(config.coapPort ?? 5683);
  const scheduler = new DeadlineScheduler();
  const server: CoapServer = new CoapServer({
    send: (datagram, peer) => endpoint.send(datagram, peer),
    wake: () => scheduler.update(),
    random: Math.random,
    log,
  });
  let greetings = 0;
  server.add("hello", {
    rt: "greeting",
    get: () => ({ payload: `hello from XS (${++greetings})` }),
  });
  scheduler.add(server);
  const endpoint = new UdpEndpoint({
    port,
    onDatagram: (datagram, peer, now) => server.receive(datagram, peer, now),
    onIdle: () => scheduler.update(),
    log,
  });
  log(`coap-server example: GET coap://<this device>:${port}/hello`);
}
