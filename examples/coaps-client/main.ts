/*
 * A CoAPS client built from modules/coap and modules/dtls-psk alone: one GET of
 * config.uri over DTLS 1.2 with a pre-shared key (RFC 7252 sec 9.1.3.1), the answer
 * traced, then the session closed with close_notify. CoapClient does the CoAP
 * (CON, retransmission, Block2), DtlsClient the records; both are sans-IO and get
 * their datagrams and deadlines from here.
 *
 *   mcconfig -m uri="coaps://192.0.2.10/light" pskKey="..." (on esp32 also ssid/password)
 */
import config from "mc/config";
import { CoapClient } from "coap/client";
import { DeadlineScheduler, UdpEndpoint, monotonicNow } from "coap/endpoint";
import { formatCode } from "coap/numbers";
import { parseCoapUri } from "coap/uri";
import { DtlsClient } from "dtls-psk/client";
import { pskFromConfig } from "dtls-psk/credentials";

function log(message: string): void {
  trace(`${message}\n`);
}

export default function main(): void {
  const uri = parseCoapUri(String(config.uri ?? "coaps://127.0.0.1/"));
  if (!uri.secure) throw new RangeError(`not a coaps:// URI: ${config.uri}`);
  const peer = { address: uri.host, port: uri.port };
  const psk = pskFromConfig({ identity: config.pskIdentity, key: config.pskKey });
  const scheduler = new DeadlineScheduler();

  const dtls: DtlsClient = new DtlsClient({
    psk,
    send: (record) => socket.send(record, peer),
    now: monotonicNow,
    onData: (data) => client.receive(data, peer),
    onOpen: () => {
      log(`coaps-client: session to ${peer.address}:${peer.port} open`);
      client.request({ path: uri.path, query: uri.query }).then(
        (response) => log(`coaps-client: ${formatCode(response.code)} ${response.text() ?? `(${response.payload.length} bytes)`}`),
        (error) => log(`coaps-client: request failed: ${error}`),
      ).finally(() => dtls.close());
    },
    onClose: (reason) => log(`coaps-client: session closed: ${reason}`),
    log,
  });
  const client: CoapClient = new CoapClient({
    send: (datagram) => dtls.write(datagram),
    now: monotonicNow,
    random: Math.random,
    log,
    peer,
    onDeadlineChange: () => scheduler.update(),
  });
  const socket = new UdpEndpoint({
    port: 0,
    onDatagram: (datagram, from) => {
      if (from.port === peer.port) dtls.receive(datagram);
    },
    onIdle: () => scheduler.update(),
    log,
  });
  scheduler.add(dtls);
  scheduler.add(client);
  log(`coaps-client: GET ${config.uri} (PSK identity "${psk.identity}")`);
  dtls.connect();
}
