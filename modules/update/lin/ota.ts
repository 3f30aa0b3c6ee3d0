/*
 * `ota` in the simulator (lin): the Moddable SDK's esp32 OTA module's API (new OTA(),
 * write(bytes), cancel(), complete()) over a file in config `otaFolder`, for boot.ts to
 * "boot" on the next start. As on the device: the image goes to the slot that is not
 * running; the bytes land as they are written (the slot file is partial until
 * complete()); complete() checks that the slot holds an app image (a stand-in image,
 * where ESP-IDF's esp_ota_end() checks the ESP app image) and only then makes it the
 * next boot's, by one atomic rewrite of otadata.json. A kill at any moment leaves
 * either the old otadata (the running image boots again) or the new one.
 */
import { bootInfo, imageSettings, nextSlot, slotPath, writeOtaData, type Slot } from "update/boot";
import { read, remove, rename, write } from "update/flash";

export default class OTA {
  #slot: Slot | undefined;
  #path: string;

  constructor() {
    const info = bootInfo();
    if (info.state === "pending-verify") throw new Error("begin failed: the running image is not confirmed yet");
    this.#slot = nextSlot();
    this.#path = `${slotPath(this.#slot)}.part`;
    write(this.#path, new ArrayBuffer(0));
  }

  write(bytes: ArrayBufferLike | ArrayBufferView): void {
    if (this.#slot === undefined) throw new Error("bad state");
    write(this.#path, bytes, true);
  }

  cancel(): void {
    if (this.#slot === undefined) return;
    this.#slot = undefined;
    remove(this.#path);
  }

  complete(): void {
    const slot = this.#slot;
    if (slot === undefined) throw new Error("bad state");
    this.#slot = undefined;
    if (imageSettings(read(this.#path)) === undefined) {
      remove(this.#path);
      throw new Error("end failed: not an app image");
    }
    rename(this.#path, slotPath(slot));
    writeOtaData({ boot: slot, state: "new", previous: bootInfo().slot as Slot });
  }
}
