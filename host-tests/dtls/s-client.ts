/*
 * OpenSSL's s_client as a DTLS 1.2 PSK peer for resumption tests: one handshake, and
 * what it was in s_client's own words ("New" or "Reused"), saving and/or offering a
 * session file.
 */
import { run } from "../lib/process";

const hex = (text: string): string => Array.from(new Uint8Array(ArrayBuffer.fromString(text)), (b) => b.toString(16).padStart(2, "0")).join("");

export interface SClientOptions {
  /** PSK identity and key (text), CoAP / esp32c3_key by default */
  identity?: string;
  key?: string;
  /** -sess_out: where to save the session */
  out?: string;
  /** -sess_in: the session to offer */
  in?: string;
  /** -no_ticket: ask for no session ticket (the session-ID cache then) */
  noTicket?: boolean;
}

/** "New" or "Reused", or what went wrong. */
export async function sClient(port: number, options: SClientOptions = {}): Promise<string> {
  const argv = ["openssl", "s_client", "-dtls1_2", "-connect", `127.0.0.1:${port}`, "-psk_identity", options.identity ?? "CoAP", "-psk", hex(options.key ?? "esp32c3_key")];
  if (options.noTicket) argv.push("-no_ticket");
  if (options.out) argv.push("-sess_out", options.out);
  if (options.in) argv.push("-sess_in", options.in);
  const result = await run(argv, { timeout: 15000, input: "" });
  const line = result.stdout.match(/^(New|Reused), TLSv1\.2, Cipher is \S+/m);
  return line ? line[1] : `no handshake:\n${result.stdout}\n${result.stderr}`;
}
