/*
 * Who may update the firmware: roles per DTLS identity (the firmware-update issue).
 * Every client the DTLS server lets in (the PSK identity "CoAP", a trusted
 * certificate) may use /light and /temperature; only the identities and certificate
 * subjects named here may also PUT /fw. Plain CoAP never may (4.01 Unauthorized: no
 * credentials at all, RFC 7252 sec 5.9.2.2); a CoAPS client without the update role gets
 * 4.03 Forbidden (sec 5.9.2.4). Sans-IO: what a session proved comes from the DTLS
 * server (identityOf, subjectOf).
 */
import { Code } from "coap/numbers";
import type { CoapRequest, CoapResponse } from "coap/resource";
import type { Peer } from "coap/server";

export interface UpdateRoles {
  /** PSK identities with the update role (each has its own key in the DTLS server) */
  identities: readonly string[];
  /** certificate subjects with the update role, as the DTLS server names them ("CN=updater") */
  subjects: readonly string[];
}

export interface SessionCredentials {
  /** the PSK identity the peer's session proved */
  identityOf(peer: Peer): string | undefined;
  /** the subject of the certificate the peer's session proved */
  subjectOf(peer: Peer): string | undefined;
}

/** Roles from config strings: comma-separated lists, blanks dropped. */
export function parseRoles(identities: string, subjects: string): UpdateRoles {
  const list = (text: string) => text.split(",").map((item) => item.trim()).filter((item) => item !== "");
  return Object.freeze({ identities: Object.freeze(list(identities)), subjects: Object.freeze(list(subjects)) });
}

/** authorise() for firmwareResource: undefined lets the request through, else the refusal. */
export function updateAuthoriser(roles: UpdateRoles, credentials: SessionCredentials): (request: CoapRequest) => CoapResponse | undefined {
  return (request) => {
    const peer = request.peer as Peer;
    if (peer.session === undefined) return { code: Code.UNAUTHORIZED, payload: "firmware updates only over CoAPS" };
    const identity = credentials.identityOf(peer);
    if (identity !== undefined && roles.identities.includes(identity)) return undefined;
    const subject = credentials.subjectOf(peer);
    if (subject !== undefined && roles.subjects.includes(subject)) return undefined;
    const who = identity !== undefined ? `PSK identity "${identity}"` : subject !== undefined ? `certificate "${subject}"` : "this session";
    return { code: Code.FORBIDDEN, payload: `${who} has no update role` };
  };
}
