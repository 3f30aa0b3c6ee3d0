/*
 * JS shim of the device's update/boot (boot.c): ESP-IDF's app rollback. Types: boot.d.ts.
 */
function info() @ "xs_update_boot_info";
export function markValid() @ "xs_update_boot_mark_valid";
export function rollBack() @ "xs_update_boot_roll_back";
export function restart() @ "xs_update_boot_restart";

let booted;
export function bootInfo() {
	if (!booted) {
		const [slot, pending, rolledBack] = info();
		booted = Object.freeze({ slot, state: pending ? "pending-verify" : "valid", rolledBack, settings: Object.freeze({}) });
	}
	return booted;
}
