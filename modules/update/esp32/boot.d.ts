/** What this boot runs (the simulator's stand-in, lin/boot.ts, has the same API). */
export interface BootInfo {
  /** the app partition running: "ota_0", "ota_1" (or "factory") */
  slot: string;
  /** "pending-verify": the first boot of an update, which rolls back unless markValid() comes first */
  state: "valid" | "pending-verify";
  /** the last update did not confirm itself: this boot returned to the image before it */
  rolledBack: boolean;
  /** the booted image's settings: empty on the device (an image has its own mc/config) */
  settings: Record<string, unknown>;
}
export function bootInfo(): BootInfo;
/** The running update came up healthy: it stays. */
export function markValid(): void;
/** The running update failed its self-check: the previous image runs after an immediate restart. */
export function rollBack(): never;
export function restart(): never;
