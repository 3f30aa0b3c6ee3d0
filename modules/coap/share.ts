/*
 * One UDP socket for a server and a client: which side each datagram is for. Lets
 * the node register at a Resource Directory (RFC 9176) from its server port, which
 * the RD takes as the node's address.
 *
 * RFC 7252 sec 4.2 / 4.3 (an Empty ACK or RST matches by Message ID: both sides see
 * it and each ignores one that is not its own), 5.2 (requests go to the server,
 * responses to the client).
 */
import { Code, Type, isResponseCode } from "./numbers";
import type { Peer } from "./exchange";

/** codes 0.01-0.31 are requests (RFC 7252 sec 12.1.1) */
const END_OF_REQUEST_CODES = 0x20;

/** Which side of a socket shared by a server and a client a datagram is for. */
export type DatagramRole = "server" | "client" | "both";

/**
 * Requests and pings go to the server, responses (piggybacked or separate) to
 * the client, and an Empty ACK or RST to both: each matches it by Message ID
 * and ignores one that is not its own. Lets the node register at a Resource
 * Directory from its server port, which the RD takes as the node's address.
 */
export function datagramRole(datagram: Uint8Array): DatagramRole {
  const code = datagram[1];
  if (code > Code.EMPTY && code < END_OF_REQUEST_CODES) return "server"; // a request, the usual case: in one read
  if (datagram.length < 4 || datagram[0] >> 6 !== 1) return "server"; // malformed: the server's layer answers or drops it
  const type = (datagram[0] >> 4) & 3;
  if (code === Code.EMPTY) return type === Type.ACK || type === Type.RST ? "both" : "server";
  return isResponseCode(code) ? "client" : "server";
}

/** Anything that takes datagrams (a server, a client). */
export interface Receiver {
  receive(datagram: Uint8Array, peer: Peer, now: number): void;
}

/** The onDatagram of a socket a server and a client share: each datagram to the side(s) datagramRole() names. */
export function shareSocket(server: Receiver, client: Receiver): (datagram: Uint8Array, peer: Peer, now: number) => void {
  return (datagram, peer, now) => {
    const role = datagramRole(datagram);
    if (role !== "client") server.receive(datagram, peer, now);
    if (role !== "server") client.receive(datagram, peer, now);
  };
}
