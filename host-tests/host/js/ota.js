/* `ota` in the simulator host: the lin stand-in of the SDK's esp32 OTA module (the manifest's lin platform maps it so for mcconfig) */
export { default } from "update/lin/ota";
