/*
 * Fixture host module: a CoapServer on a UDP socket with one resource, /upload, that
 * takes block-wise PUT/POST bodies (Block1, coap/block1.ts) into a running FNV-1a hash
 * and answers the whole body's length and hash, for tests with libcoap's coap-client.
 *
 *   xshost .../upload-server.js PORT MAXBODY
 *
 * Prints "upload-server port N" once listening and "upload: ..." lines as blocks come.
 */
import { argv } from "host/runtime";
import { CoapServer } from "coap/server";
import { DeadlineScheduler, UdpEndpoint } from "coap/endpoint";
import type { Upload } from "coap/block1";

const [portText = "5683", maxText = "65536"] = argv();
const log = (message: string): void => trace(`${message}\n`);

function fnvHex(hash: number): string {
  return (hash >>> 0).toString(16).padStart(8, "0");
}

const scheduler = new DeadlineScheduler();
const server: CoapServer = new CoapServer({
  send: (datagram, peer) => endpoint.send(datagram, peer),
  wake: () => scheduler.update(),
  random: Math.random,
  log,
});
server.add("upload", {
  rt: "upload",
  block1: {
    maxBody: Number(maxText),
    begin(request, size1): Upload {
      let hash = 0x811c9dc5;
      let length = 0;
      log(`upload: begin ${request.method} size1 ${size1 ?? "none"}`);
      return {
        write(offset, bytes) {
          for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193);
          length = offset + bytes.length;
        },
        end() {
          log(`upload: end ${length} bytes fnv ${fnvHex(hash)}`);
          return { payload: `${length} ${fnvHex(hash)}` };
        },
        abort(reason) {
          log(`upload: aborted after ${length} bytes: ${reason}`);
        },
      };
    },
  },
});
scheduler.add(server);
const endpoint = new UdpEndpoint({
  port: Number(portText),
  address: "127.0.0.1",
  onDatagram: (datagram, peer, now) => server.receive(datagram, peer, now),
  onIdle: () => scheduler.update(),
  log,
});
log(`upload-server port ${portText}`);
