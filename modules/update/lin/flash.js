/*
 * JS shim of the simulator's update "flash" (flash.c, lin only). Types: flash.d.ts.
 */
export function read(path) @ "xs_update_flash_read";
export function write(path, bytes, append) @ "xs_update_flash_write";
export function rename(from, to) @ "xs_update_flash_rename";
export function remove(path) @ "xs_update_flash_remove";
export function folder(path) @ "xs_update_flash_folder";
export function restart() @ "xs_update_flash_restart";
