/*
 * Not a test: a host module for checking the binding by hand under valgrind. It runs
 * N certificate handshakes (DtlsClient -> DtlsServer, mutual authentication, every
 * tenth with an expired client certificate so failures are covered too), writes a
 * record each way, closes, and disposes everything.
 *
 *   sh certs/make-test-certs.sh /tmp/dtls-certs
 *   valgrind --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
 *     build/host/xshost -I host-tests/host/js -I build/ts/modules -I build/ts \
 *     $PWD/build/ts/host-tests/dtls/valgrind-handshakes.js /tmp/dtls-certs 100
 */
import { argv, readFile } from "host/runtime";
import { nativeFigures } from "./heap";
import { Pair, bytesOf } from "./pair";
import { KEY } from "./loopback";

const [dir = "/tmp/dtls-certs", count = "100"] = argv();
const pem = (name: string): Uint8Array => new Uint8Array(ArrayBuffer.fromString(readFile(`${dir}/${name}`) ?? ""));

const pair = new Pair({ identity: "CoAP", key: KEY, certificate: { cert: pem("server.crt"), key: pem("server.key"), ca: pem("ca.crt") } });
let opened = 0;
let refused = 0;
for (let i = 0; i < Number(count); i++) {
  const name = i % 10 === 9 ? "expired-client" : "client";
  const port = 40000 + i;
  const a = pair.connect(port, { ca: pem("ca.crt"), cert: pem(`${name}.crt`), key: pem(`${name}.key`), serverName: "localhost" });
  if (a.client.state === "open") {
    opened++;
    a.client.write(bytesOf("ping"), pair.clock.now);
    pair.pump();
    if (i % 2) a.client.close(pair.clock.now);
    else pair.server.close({ address: "127.0.0.1", port }, pair.clock.now);
    pair.pump();
  } else refused++;
  a.client.dispose(pair.clock.now);
  pair.clients.delete(port);
}
pair.dispose();
const { sessions, bytes } = nativeFigures();
trace(`valgrind-handshakes: ${opened} established, ${refused} refused (expired), ${sessions} native sessions left, ${bytes} bytes counted\n`);
