/*
 * The firmware resource (/fw): GET tells the running version and the update's state;
 * a block-wise PUT (RFC 7959 Block1, coap/block1.ts) streams a signed image
 * (image.ts) through its checks into the update slot. Sans-IO: the slot (the SDK's
 * OTA module's shape: write, cancel, complete), the crypto and who may update are
 * injected; nothing here restarts the node.
 *
 * States: "idle"; "receiving" (bytes so far); "verifying" (the last block is in, the
 * payload's hash is compared); "pending-restart" (the slot holds a verified image and
 * is the next boot's: the application restarts when it likes); "rolled-back" (the
 * last boot returned to this firmware: told by the application at start). `error`
 * keeps the last refusal's words.
 *
 * Nothing reaches the slot before the header's signature, chip, version and length are
 * checked; a refused or abandoned upload cancels the slot, so the running firmware and
 * the next boot stay as they were. One upload at a time (Block1's rule: another
 * client gets 5.03); a PUT while an update waits for its restart replaces it.
 */
import type { Upload } from "coap/block1";
import { Code, ContentFormat } from "coap/numbers";
import type { CoapRequest, CoapResponse, Resource } from "coap/resource";
import { EpisodeLog } from "coap/limitlog";
import { ImageCheck, ImageError, formatVersion, type ImageCrypto, type ImagePolicy } from "./image";

/** The update slot: Moddable's OTA module on the device (build/devices/esp32/modules/ota), a file in the simulator host. */
export interface UpdateSlot {
  write(bytes: ArrayBuffer): void;
  cancel(): void;
  /** makes the slot the next boot's */
  complete(): void;
}

export type FirmwareState = "idle" | "receiving" | "verifying" | "pending-restart" | "rolled-back";

export interface FirmwareOptions {
  /** the running firmware's version (image.ts parseVersion) */
  running: number;
  /** the checks every image passes (the running version is added) */
  policy: Omit<ImagePolicy, "running">;
  crypto: ImageCrypto;
  /** a fresh update slot (the SDK's `new OTA()`), opened once an image's header passed */
  openSlot(): UpdateSlot;
  /** who may update: undefined lets the request through, a response refuses it (4.01 without DTLS, 4.03 for a role without updates) */
  authorise(request: CoapRequest): CoapResponse | undefined;
  /** the last boot rolled back to this firmware (ESP-IDF's rollback), told at start */
  rolledBack?: boolean;
  /** a verified image is the next boot's (the application restarts when it likes) */
  onStored?(version: number): void;
  /** the clock (ms): with it, refused callers are logged once per episode (coap/limitlog), not once per request */
  now?(): number;
  log(message: string): void;
}

export interface Firmware {
  resource: Resource;
  state(): { state: FirmwareState; running: string; received: number; pending?: string; error?: string };
}

function refusal(error: ImageError): CoapResponse {
  const [major, minor] = error.code.split(".").map(Number);
  return { code: (major << 5) | minor, payload: error.message };
}

export function firmwareResource(options: FirmwareOptions): Firmware {
  let state: FirmwareState = options.rolledBack ? "rolled-back" : "idle";
  let received = 0;
  let pending: number | undefined;
  let error: string | undefined = options.rolledBack ? "the last update did not come up healthy: rolled back" : undefined;
  const policy: ImagePolicy = { ...options.policy, running: options.running };
  const refusals = new EpisodeLog<"not allowed">(options.log);

  const snapshot = () => ({ state, running: formatVersion(options.running), received, pending: pending === undefined ? undefined : formatVersion(pending), error });

  const fail = (message: string): void => {
    error = message;
    state = "idle";
    options.log(`update: refused: ${message}`);
  };

  const resource: Resource = {
    rt: "firmware",
    title: "firmware update",
    produces: [ContentFormat.JSON],
    get: () => ({ contentFormat: ContentFormat.JSON, payload: JSON.stringify(snapshot()) }),
    block1: {
      maxBody: policy.maxLength + 128,
      begin(request, size1): Upload | CoapResponse {
        const denied = options.authorise(request);
        if (denied) {
          const message = () => `update: ${request.peer.address}|${request.peer.port} not allowed (${typeof denied.payload === "string" ? denied.payload : "refused"})`;
          if (options.now) refusals.note("not allowed", options.now(), message);
          else options.log(message());
          return denied;
        }
        const check = new ImageCheck(policy, options.crypto);
        let slot: UpdateSlot | undefined;
        state = "receiving";
        received = 0;
        error = undefined;
        if (pending !== undefined) options.log(`update: a new upload replaces the pending ${formatVersion(pending)}`);
        pending = undefined;
        options.log(`update: receiving an image${size1 === undefined ? "" : ` of ${size1} bytes`} from ${request.peer.address}|${request.peer.port}`);
        const cancel = (): void => {
          check.close();
          try {
            slot?.cancel();
          } catch {
            // the slot is abandoned either way
          }
          slot = undefined;
        };
        return {
          write(_offset, bytes): CoapResponse | undefined {
            let payload: Uint8Array;
            try {
              payload = check.write(bytes);
            } catch (reason) {
              if (!(reason instanceof ImageError)) throw reason;
              cancel();
              fail(reason.message);
              return refusal(reason);
            }
            received = check.received;
            try {
              if (check.header !== undefined && slot === undefined) {
                slot = options.openSlot();
                options.log(`update: image ${formatVersion(check.header.version)} signed and for this chip: writing ${check.header.length} bytes`);
              }
              if (payload.length > 0) slot!.write(payload.slice().buffer as ArrayBuffer);
            } catch (reason) {
              cancel();
              fail(`the update slot failed: ${(reason as Error).message ?? reason}`);
              return { code: Code.INTERNAL_SERVER_ERROR, payload: error };
            }
            return undefined;
          },
          end(): CoapResponse {
            state = "verifying";
            let version: number;
            try {
              version = check.finish().version;
            } catch (reason) {
              if (!(reason instanceof ImageError)) throw reason;
              cancel();
              fail(reason.message);
              return refusal(reason);
            }
            try {
              slot!.complete();
            } catch (reason) {
              /* ESP-IDF's esp_ota_end() checks the app image itself: a signed image that is no app for this chip */
              slot = undefined;
              check.close();
              fail(`the update slot refused the image: ${(reason as Error).message ?? reason}`);
              return { code: Code.BAD_REQUEST, payload: error };
            }
            slot = undefined;
            pending = version;
            state = "pending-restart";
            options.log(`update: image ${formatVersion(version)} verified and stored; it runs after the next restart`);
            options.onStored?.(version);
            return { code: Code.CHANGED, payload: `${formatVersion(version)} stored, pending restart` };
          },
          abort(reason): void {
            cancel();
            if (state === "receiving" || state === "verifying") fail(`upload ${reason}`);
          },
        };
      },
    },
  };
  return { resource, state: snapshot };
}
