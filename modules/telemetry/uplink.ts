/*
 * The node's way out for coaps:// (RFC 7252 sec 9): a CoAP client whose datagrams
 * travel in one DTLS client session on a UDP socket of its own, opened on demand
 * (DtlsTransport) and opened again after the collector closes or restarts. PSK or
 * certificates, as the node's own DTLS server. For coap:// the node's own client
 * on its server socket is used instead (so an RD sees the server's address).
 */
import { CoapClient, type ClientOptions } from "coap/client";
import { UdpEndpoint, type DeadlineScheduler } from "coap/endpoint";
import type { Peer } from "coap/messagelayer";
import { DtlsClient, type DtlsClientOptions } from "dtls-psk/client";
import { DtlsTransport } from "./secure";

export interface SecureUplinkOptions {
  /** the server: host address and port of the coaps:// URI */
  peer: Peer;
  /** PSK or certificate credentials of the DTLS client */
  credentials: Pick<DtlsClientOptions, "psk" | "ca" | "cert" | "key" | "serverName">;
  scheduler: DeadlineScheduler;
  now(): number;
  random(): number;
  log(message: string): void;
  /** CoAP transmission parameters (tests shorten them) */
  transport?: ClientOptions["transport"];
}

export function openSecureUplink(options: SecureUplinkOptions): CoapClient {
  const { peer, scheduler, now, random, log } = options;
  const transport = new DtlsTransport();
  const dtls: DtlsClient = new DtlsClient({
    ...options.credentials,
    send: (record) => socket.send(record, peer),
    now,
    onData: (data) => client.receive(data, peer),
    onOpen: () => {
      log(`uplink: dtls session to ${peer.address}:${peer.port} open`);
      transport.opened();
    },
    onClose: (reason) => {
      log(`uplink: dtls session to ${peer.address}:${peer.port} closed: ${reason}`);
      transport.closed();
    },
    log,
  });
  transport.attach(dtls);
  const client: CoapClient = new CoapClient({
    send: (datagram) => transport.send(datagram),
    now,
    random,
    log,
    peer,
    transport: options.transport,
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
  return client;
}
