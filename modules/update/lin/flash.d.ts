/** The whole file, or undefined when there is none. */
export function read(path: string): ArrayBuffer | undefined;
/** Writes (or appends) and syncs to the disk before returning. */
export function write(path: string, bytes: ArrayBufferLike | ArrayBufferView, append?: boolean): void;
/** Atomic rename; the folder is synced. */
export function rename(from: string, to: string): void;
export function remove(path: string): void;
/** Creates the folder if it is missing. */
export function folder(path: string): void;
/** Ends the process with status 75: the simulator's restart (whatever runs it starts it again). */
export function restart(): never;
