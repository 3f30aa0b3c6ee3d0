/*
 * Types of `ota`, the Moddable SDK's esp32 OTA module
 * ($(MODDABLE)/build/devices/esp32/modules/ota, which ships none); the manifest maps the
 * module name here for mcconfig's tsc. The simulator's stand-in is lin/ota.ts.
 */
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
