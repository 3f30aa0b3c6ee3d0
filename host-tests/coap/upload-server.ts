/*
 * Fixture host module: a CoapServer on a UDP socket with one resource, /upload, that
 * takes block-wise PUT/POST bodies (Block1, coap/block1.ts) into a running FNV-1a hash
 * and answers the whole body's length and hash, for tests with libcoap's coap-client.
 *
 *   xshost .../upload-server.js PORT MAXBODY [PUBLICKEYHEX]
 *
 * With PUBLICKEYHEX it also serves /fw (modules/update/firmware.ts) checking images
 * signed with that key into an update slot kept in memory (running version 1.0.0).
 * Prints "upload-server port N" once listening and "upload: ..." lines as blocks come.
 */
import { argv } from "host/runtime";
import { CoapServer } from "coap/server";
import { DeadlineScheduler, UdpEndpoint } from "coap/endpoint";
import type { Upload } from "coap/block1";
import { firmwareResource } from "update/firmware";
import { CHIP_ESP32C3, parseVersion } from "update/image";
import { Sha256, verifyP256 } from "update/verify";

const [portText = "5683", maxText = "65536", publicKeyHex = ""] = argv();
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
if (publicKeyHex) {
  const publicKey = new Uint8Array(publicKeyHex.length / 2).map((_, i) => parseInt(publicKeyHex.slice(2 * i, 2 * i + 2), 16));
  let slotBytes = 0;
  const firmware = firmwareResource({
    running: parseVersion("1.0.0")!,
    policy: { publicKey, chip: CHIP_ESP32C3, maxLength: 1 << 20 },
    crypto: { sha256: () => new Sha256(), verifyP256: (key, hash, signature) => verifyP256(key, hash, signature) },
    openSlot: () => {
      slotBytes = 0;
      return {
        write: (bytes) => void (slotBytes += bytes.byteLength),
        cancel: () => log(`slot: cancelled after ${slotBytes} bytes`),
        complete: () => log(`slot: complete, ${slotBytes} bytes`),
      };
    },
    authorise: () => undefined,
    log,
  });
  server.add("fw", firmware.resource);
}
scheduler.add(server);
const endpoint = new UdpEndpoint({
  port: Number(portText),
  address: "127.0.0.1",
  onDatagram: (datagram, peer, now) => server.receive(datagram, peer, now),
  onIdle: () => scheduler.update(),
  log,
});
log(`upload-server port ${portText}`);
