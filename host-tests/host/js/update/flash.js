/* `update/flash` in the simulator host: the lin stand-in's files (the manifest's lin platform maps it so for mcconfig) */
export * from "update/lin/flash";
