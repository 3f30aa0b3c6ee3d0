/*
 * `update/boot` in the simulator (lin): what ESP-IDF's bootloader and otadata do on the
 * device (esp32/boot.c), over files in config `otaFolder` (the simulator host's --data
 * folder). Slots `ota_0` and `ota_1` hold images written by the stand-in `ota` module
 * (ota.ts); the built-in firmware is `factory`. `otadata.json` says which slot boots
 * and in what state, rewritten atomically:
 *
 *   new            -> this boot runs it, as pending-verify
 *   pending-verify -> it never confirmed itself (markValid) before the next boot: it is
 *                     aborted and its previous slot runs ("rolled back")
 *   valid          -> it runs
 *
 * A slot whose file is missing or is not a stand-in image is aborted the same way.
 * A stand-in image is JSON: {"app": "secure-coap-node", "settings": {...}}; its
 * settings stand for the mc/config a device image is built with (firmwareVersion...).
 */
import config from "mc/config";
import { folder, read, rename, restart as restartProcess, write } from "update/flash";

export type Slot = "factory" | "ota_0" | "ota_1";
export type OtaState = "new" | "pending-verify" | "valid" | "invalid";

interface OtaData {
  boot: Slot;
  state: OtaState;
  previous: Slot;
  /** the slot that last failed to confirm itself, until the next update completes */
  rolledBackFrom?: Slot;
}

export interface BootInfo {
  /** the app slot running: "factory", "ota_0" or "ota_1" */
  slot: string;
  /** "pending-verify": the first boot of an update, which rolls back unless markValid() comes first */
  state: "valid" | "pending-verify";
  /** the last update did not confirm itself: this boot returned to the image before it */
  rolledBack: boolean;
  /** the booted image's settings: a stand-in image carries them; the factory image has none */
  settings: Record<string, unknown>;
}

export const APP_NAME = "secure-coap-node";

let madeFolder: string | undefined;

/** config.otaFolder, made the first time it is asked for */
export function otaFolder(): string {
  if (madeFolder !== undefined) return madeFolder;
  const value = (config as Record<string, unknown>).otaFolder;
  const path = typeof value === "string" && value ? value : "/tmp/secure-coap-node-ota";
  folder(path);
  madeFolder = path;
  return path;
}

export function slotPath(slot: Slot): string {
  return `${otaFolder()}/${slot}.bin`;
}

function utf8(buffer: ArrayBuffer): string {
  return String.fromArrayBuffer(buffer);
}

/** The settings of a stand-in image, or undefined when `bytes` is not one. */
export function imageSettings(bytes: ArrayBuffer | undefined): Record<string, unknown> | undefined {
  if (bytes === undefined) return undefined;
  try {
    const image = JSON.parse(utf8(bytes)) as { app?: unknown; settings?: unknown };
    if (image === null || typeof image !== "object" || image.app !== APP_NAME) return undefined;
    const settings = image.settings ?? {};
    return typeof settings === "object" && settings !== null && !Array.isArray(settings) ? (settings as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

const SLOTS: readonly Slot[] = Object.freeze(["factory", "ota_0", "ota_1"]);
const STATES: readonly OtaState[] = Object.freeze(["new", "pending-verify", "valid", "invalid"]);

export function readOtaData(): OtaData | undefined {
  const bytes = read(`${otaFolder()}/otadata.json`);
  if (bytes === undefined) return undefined;
  try {
    const data = JSON.parse(utf8(bytes)) as OtaData;
    if (SLOTS.includes(data.boot) && STATES.includes(data.state) && SLOTS.includes(data.previous)) return data;
  } catch {
    // a torn or foreign file reads as none: the factory image runs (ESP-IDF does the same with a bad otadata)
  }
  return undefined;
}

export function writeOtaData(data: OtaData): void {
  const path = `${otaFolder()}/otadata.json`;
  write(`${path}.new`, ArrayBuffer.fromString(JSON.stringify(data)));
  rename(`${path}.new`, path);
}

let booted: BootInfo | undefined;

/** What this boot runs, decided once, as the bootloader would. */
export function bootInfo(): BootInfo {
  if (booted) return booted;
  const data = readOtaData();
  let slot: Slot = "factory";
  let state: BootInfo["state"] = "valid";
  let settings: Record<string, unknown> = {};
  let rolledBackFrom = data?.rolledBackFrom;
  if (data && data.boot !== "factory") {
    const image = imageSettings(read(slotPath(data.boot)));
    if (image && (data.state === "new" || data.state === "valid")) {
      slot = data.boot;
      settings = image;
      if (data.state === "new") {
        state = "pending-verify";
        writeOtaData({ ...data, state: "pending-verify" });
      }
    } else {
      /* pending-verify at boot: the last boot of it never confirmed itself; or its image is gone */
      const previous = data.previous === "factory" ? {} : imageSettings(read(slotPath(data.previous)));
      slot = previous ? data.previous : "factory";
      settings = previous ?? {};
      rolledBackFrom = data.boot;
      writeOtaData({ boot: slot, state: "valid", previous: slot, rolledBackFrom });
    }
  }
  booted = Object.freeze({ slot, state, rolledBack: rolledBackFrom !== undefined, settings: Object.freeze(settings) });
  return booted;
}

/** The running update came up healthy: it stays (ESP-IDF: esp_ota_mark_app_valid_cancel_rollback). */
export function markValid(): void {
  const info = bootInfo();
  if (info.state !== "pending-verify") return;
  const data = readOtaData();
  if (data && data.boot === info.slot) writeOtaData({ boot: data.boot, state: "valid", previous: data.previous });
  booted = Object.freeze({ ...info, state: "valid", rolledBack: false });
}

/** The running update failed its self-check: the previous image runs after an immediate restart. */
export function rollBack(): never {
  const info = bootInfo();
  const data = readOtaData();
  if (info.slot === "factory" || !data || data.boot !== info.slot) throw new Error("no previous image to roll back to");
  writeOtaData({ boot: data.previous, state: "valid", previous: data.previous, rolledBackFrom: info.slot });
  return restartProcess();
}

export function restart(): never {
  return restartProcess();
}

/** Used by the stand-in ota module: the slot an update is written to, never the running one. */
export function nextSlot(): Slot {
  return bootInfo().slot === "ota_0" ? "ota_1" : "ota_0";
}
