/*
 * A CoAPS client built from modules/coap and modules/dtls-psk alone: one GET of
 * config.uri over DTLS 1.2 with a pre-shared key (RFC 7252 sec 9.1.3.1), the answer
 * traced. openCoapsClient() gives a CoapClient (CON, retransmission, Block2) whose
 * datagrams travel in one DtlsClient session, opened on demand; the
 * DeadlineScheduler runs both timers.
 *
 *   mcconfig -m uri="coaps://192.0.2.10/light" pskKey="..." (on esp32 also ssid/password)
 */
import config from "mc/config";
import { DeadlineScheduler } from "coap/endpoint";
import { formatCode } from "coap/numbers";
import { parseCoapUri } from "coap/uri";
import { openCoapsClient } from "dtls-psk/coaps";
import { pskFromConfig } from "dtls-psk/credentials";

function log(message: string): void {
  trace(`${message}\n`);
}

export default function main(): void {
  const uri = parseCoapUri(String(config.uri ?? "coaps://127.0.0.1/"));
  if (!uri.secure) throw new RangeError(`not a coaps:// URI: ${config.uri}`);
  const psk = pskFromConfig({ identity: config.pskIdentity, key: config.pskKey });
  const client = openCoapsClient({
    peer: { address: uri.host, port: uri.port },
    credentials: { psk },
    scheduler: new DeadlineScheduler(),
    random: Math.random,
    log,
  });
  log(`coaps-client: GET ${config.uri} (PSK identity "${psk.identity}")`);
  client.request({ path: uri.path, query: uri.query }).then(
    (response) => log(`coaps-client: ${formatCode(response.code)} ${response.text() ?? `(${response.payload.length} bytes)`}`),
    (error) => log(`coaps-client: request failed: ${error}`),
  ).finally(() => client.close());
}
