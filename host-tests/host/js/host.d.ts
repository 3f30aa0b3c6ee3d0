/*
 * Types of the simulator host's own modules (host-tests/host/js/host/*.js).
 * They exist only in the simulator host: nothing under modules/ imports them.
 */
declare module "host/runtime" {
  export function argv(): string[];
  /** the executable, -I and --preload options that start another host with the same module roots and preloads */
  export function hostCommand(): string[];
  /** the --config KEY=VALUE options given to this host */
  export function configOverrides(): string[];
  export function exit(status: number): void;
  /** monotonic milliseconds */
  export function now(): number;
  /** uncaught exceptions and unhandled rejections reported so far */
  export function errors(): number;
  export function pid(): number;
  export function cwd(): string;
  export function env(name: string): string | undefined;
  export function dataDirectory(): string | undefined;
  export function gc(): void;
  export function heapBytes(): number;
  export function readFile(path: string): string | undefined;
  export function readFileBuffer(path: string): ArrayBuffer | undefined;
  /** runs on SIGINT/SIGTERM; the host then waits up to 3 s for exit() before it leaves */
  export function onShutdown(handler: (() => void) | undefined): void;
  export function writeFileAtomic(path: string, text: string): void;
  export function makeDirectory(path: string): void;
  export function temporaryDirectory(): string;
  export function readdir(path: string): { name: string; directory: boolean }[];
}

declare module "host/meter" {
  export interface NativeHeap {
    /** bytes Mbed TLS and the native modules hold now (the allocator's usable sizes) */
    bytes: number;
    blocks: number;
    /** the most held at once since the host started or since resetPeak() */
    peak: number;
    /** calloc calls so far */
    allocations: number;
  }
  /** the heap of Mbed TLS and the native modules, as the host's link counts it (never the device) */
  export function native(): NativeHeap;
  export function resetPeak(): void;
  /** under valgrind's callgrind: zero its counters (nothing otherwise) */
  export function callgrindZero(): void;
  /** under valgrind's callgrind: dump its counters with `label` (nothing otherwise) */
  export function callgrindDump(label: string): void;
  /** under callgrind run with --collect-atstart=no: counting on, or off again (nothing otherwise) */
  export function callgrindToggle(): void;
}

declare module "host/process" {
  export interface ProcessOptions {
    argv: string[];
    cwd?: string;
    /** "NAME=value" strings; the host's environment when absent */
    env?: string[];
    onStdout?: (this: Process, chunk: ArrayBuffer) => void;
    onStderr?: (this: Process, chunk: ArrayBuffer) => void;
    onExit?: (this: Process, status: number, signal: number) => void;
  }
  export default class Process {
    constructor(options: ProcessOptions);
    write(text: string): void;
    closeStdin(): void;
    kill(signal?: number): void;
    readonly pid: number;
  }
}

declare module "host/control" {
  const Control: {
    readonly enabled: boolean;
    /** handler gets the words after the command; a returned string is emitted as "@command reply" */
    register(command: string, handler: (args: string[]) => string | void): void;
    emit(text: string): void;
  };
  export default Control;
}
