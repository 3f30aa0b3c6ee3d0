/*
 * Types of the update slot module `ota`: the Moddable SDK's esp32 module
 * ($(MODDABLE)/build/devices/esp32/modules/ota, which ships no types) on the device,
 * the stand-in lin/ota.ts in the simulator.
 */
declare module "ota" {
  export default class OTA {
    /** opens the next update partition (esp_ota_begin); throws when there is none, or the running image is not confirmed yet */
    constructor();
    /** appends to the partition (esp_ota_write) */
    write(bytes: ArrayBufferLike | ArrayBufferView): void;
    /** abandons the partition: the next boot stays as it was */
    cancel(): void;
    /** checks the app image (esp_ota_end) and makes it the next boot's (esp_ota_set_boot_partition) */
    complete(): void;
  }
}
