/* `update/boot` in the simulator host: the lin stand-in (the manifest's lin platform maps it so for mcconfig) */
export * from "update/lin/boot";
