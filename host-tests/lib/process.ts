/*
 * Child processes for tests, on top of the host's `host/process`: real peers
 * (coap-client, node) and other simulator hosts running the firmware or a fixture.
 * Output is collected as text; waitFor() resolves when a pattern shows up.
 */
import Process from "host/process";
import Timer from "timer";
import { cwd, hostCommand, readFile, temporaryDirectory } from "host/runtime";

export interface Finished {
  status: number;
  signal: number;
  stdout: string;
  stderr: string;
}

export const SIGKILL = 9;
export const SIGTERM = 15;
export const SIGINT = 2;

function decode(chunk: ArrayBuffer): string {
  try {
    return String.fromArrayBuffer(chunk);
  } catch {
    // not UTF-8 (binary payloads): keep it readable byte by byte
    const bytes = new Uint8Array(chunk);
    let text = "";
    for (let i = 0; i < bytes.length; i++) text += String.fromCharCode(bytes[i]);
    return text;
  }
}

interface Waiter {
  pattern: RegExp;
  stream: "stdout" | "stderr";
  from: number;
  resolve(match: RegExpMatchArray): void;
}

export class Child {
  stdout = "";
  stderr = "";
  finished: Finished | undefined;
  readonly exited: Promise<Finished>;
  readonly argv: string[];
  #process: Process;
  #waiters = new Set<Waiter>();

  constructor(argv: string[], options: { cwd?: string; env?: string[] } = {}) {
    this.argv = argv;
    let settle!: (f: Finished) => void;
    this.exited = new Promise((resolve) => (settle = resolve));
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const child = this;
    this.#process = new Process({
      argv,
      cwd: options.cwd,
      env: options.env,
      onStdout(chunk) {
        child.stdout += decode(chunk);
        child.#check();
      },
      onStderr(chunk) {
        child.stderr += decode(chunk);
        child.#check();
      },
      onExit(status, signal) {
        child.finished = { status, signal, stdout: child.stdout, stderr: child.stderr };
        settle(child.finished);
      },
    });
  }

  get pid(): number {
    return this.#process.pid;
  }

  #check(): void {
    for (const waiter of this.#waiters) {
      const match = this[waiter.stream].slice(waiter.from).match(waiter.pattern);
      if (match) {
        this.#waiters.delete(waiter);
        waiter.resolve(match);
      }
    }
  }

  /** Resolves with the first match of `pattern` in the output from offset `from` (default: all of it). */
  waitFor(pattern: RegExp, timeout = 5000, stream: "stdout" | "stderr" = "stdout", from = 0): Promise<RegExpMatchArray> {
    const already = this[stream].slice(from).match(pattern);
    if (already) return Promise.resolve(already);
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        pattern,
        stream,
        from,
        resolve: (match) => {
          Timer.clear(timer);
          resolve(match);
        },
      };
      const timer = Timer.set(() => {
        this.#waiters.delete(waiter);
        const other = stream === "stdout" ? this.stderr : this.stdout;
        reject(new Error(`timed out after ${timeout} ms waiting for ${pattern} in ${stream} of ${this.argv[0]}; it has:\n${this[stream].slice(-2000)}${other ? `\n(and on the other stream:)\n${other.slice(-1000)}` : ""}${this.finished ? `\n(exited with ${this.finished.status})` : ""}`));
      }, timeout);
      this.#waiters.add(waiter);
      this.exited.then(() => {
        if (this.#waiters.has(waiter)) {
          this.#waiters.delete(waiter);
          Timer.clear(timer);
          reject(new Error(`${this.argv[0]} exited (${this.finished?.status}) before ${pattern} appeared in ${stream}:\n${this[stream].slice(-2000)}\n${this.stderr.slice(-2000)}`));
        }
      });
    });
  }

  /** Like waitFor, but only output that arrives after this call counts. */
  waitForNext(pattern: RegExp, timeout = 5000, stream: "stdout" | "stderr" = "stdout"): Promise<RegExpMatchArray> {
    return this.waitFor(pattern, timeout, stream, this[stream].length);
  }

  send(text: string): void {
    this.#process.write(text);
  }

  closeStdin(): void {
    this.#process.closeStdin();
  }

  kill(signal = SIGTERM): void {
    if (!this.finished) this.#process.kill(signal);
  }

  /** Waits for the exit, killing the child if it takes longer than `timeout` ms. */
  async wait(timeout = 10000): Promise<Finished> {
    const timer = Timer.set(() => this.kill(SIGKILL), timeout);
    const finished = await this.exited;
    Timer.clear(timer);
    return finished;
  }
}

/** Runs a command to completion (killed after `timeout` ms) and returns its output. */
export async function run(argv: string[], options: { timeout?: number; input?: string; cwd?: string } = {}): Promise<Finished> {
  const child = new Child(argv, { cwd: options.cwd });
  if (options.input !== undefined) child.send(options.input);
  child.closeStdin();
  return child.wait(options.timeout ?? 10000);
}

/** Stops a child (SIGTERM) and waits for it. */
export async function stop(child: Child): Promise<void> {
  child.kill();
  await child.wait();
}

/** Runs one libcoap client (coap-client-notls by default) and returns all it printed. */
export async function coapClient(args: string[], program = "coap-client-notls", timeout = 20000): Promise<string> {
  const result = await run([program, ...args], { timeout });
  return result.stdout + result.stderr;
}

/** Path of a compiled fixture module (host-tests/fixtures/NAME.ts). */
/** Whether `command` is on PATH (tests that need a peer skip without it). */
export async function available(command: string): Promise<boolean> {
  return (await run(["sh", "-c", `command -v ${command}`])).status === 0;
}

export function fixture(name: string): string {
  return `${cwd()}/build/ts/host-tests/fixtures/${name}.js`;
}

export interface HostOptions {
  data?: string;
  control?: boolean;
  /** JS stack in slots (default: the host's own, larger than the device's) */
  stack?: number;
  /** mc/config overrides, as mcconfig's KEY=VALUE (strings) */
  config?: Record<string, string | number>;
  /** modules imported before `module` at run time (the simulator's board, e.g. host-tests/sensors/sim-attach) */
  board?: string[];
  /** modules preloaded as the SDK's linker does, beyond the manifest's (which every host gets) */
  preload?: string[];
  args?: string[];
}

/** Starts another simulator host running `module` (a specifier such as "main", or a fixture path). */
export function startHost(module: string, options: HostOptions = {}): Child {
  const argv = hostCommand();
  if (options.data) argv.push("--data", options.data);
  if (options.control) argv.push("--control");
  for (const module of options.preload ?? []) argv.push("--preload", module);
  for (const module of options.board ?? []) argv.push("--board", module);
  if (options.stack) argv.push("--stack", String(options.stack));
  for (const [key, value] of Object.entries(options.config ?? {})) argv.push("--config", `${key}=${value}`);
  argv.push(module, ...(options.args ?? []));
  return new Child(argv);
}

/** The simulated board (host-tests/host/board.ts): "temp ...", "pin ..." and "stats" on the control channel. */
export const SIMULATED_BOARD = ["host-tests/host/board"];

/** The device's JS stack (manifest.json creation.stack), so a call chain too deep for the device fails here too. */
export function deviceStack(): number | undefined {
  const manifest = JSON.parse(readFile(`${cwd()}/manifest.json`) ?? "{}") as { creation?: { stack?: number } };
  return manifest.creation?.stack;
}

/** Starts the firmware (main.ts) as `npm start` does, on a data folder, and waits until it serves. */
export async function startNode(data = scratchDirectory(), config: Record<string, string | number> = {}): Promise<Child> {
  const node = startHost("main", { data, control: true, board: SIMULATED_BOARD, stack: deviceStack(), config });
  await node.waitFor(/started/, 10000);
  return node;
}

export function scratchDirectory(): string {
  return temporaryDirectory();
}
