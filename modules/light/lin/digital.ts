/*
 * The one simulated `embedded:io/digital` (ECMA-419 digital class pattern): the
 * Moddable SDK's desktop simulator (platform lin) has none, so manifest.json maps the
 * specifier here in its lin section, and the simulator host uses this same class
 * (host-tests/host/js/embedded/io/digital.js wires it to its control channel).
 *
 * ESP32-C3 pins 0..21, one owner each, the device's modes and errors. An output keeps
 * its level; each change goes to `wires.onOutput` when something outside listens (the
 * host's "@pin N LEVEL"), else to the log ("digital: pin 8 -> 1", so the light can be
 * followed in xsbug). An input reads what `drive()` put on it from outside, else its
 * pull (1 with InputPullUp, else 0); a driven change fires onReadable on its edges.
 */
const Input = 0, InputPullUp = 1, InputPullDown = 2, InputPullUpDown = 3, Output = 8, OutputOpenDrain = 9;
const Rising = 1, Falling = 2;
const MODES = Object.freeze([Input, InputPullUp, InputPullDown, InputPullUpDown, Output, OutputOpenDrain]);
const PIN_COUNT = 22; // ESP32-C3 GPIO 0..21, so a pin that is wrong on the device is wrong here

interface Owner {
  mode: number;
  edge: number;
  onReadable: ((this: unknown) => void) | undefined;
  target: unknown;
}

/*
 * Per-pin state in plain arrays and objects, not a Map or Set: when this module is
 * preloaded, the SDK's linker makes Maps and Sets created then read-only, while
 * arrays and plain objects stay writable.
 */
const owners: (Owner | undefined)[] = [];
const levels: number[] = [];
const driven: (number | undefined)[] = [];

/** Who hears output changes from outside the program (the simulator host's control channel). */
export const wires: { onOutput: ((pin: number, level: number) => void) | undefined } = { onOutput: undefined };

function isOutput(mode: number): boolean {
  return mode === Output || mode === OutputOpenDrain;
}

function inputLevel(pin: number, mode: number): number {
  return driven[pin] ?? (mode === InputPullUp ? 1 : 0);
}

function checkPin(pin: unknown): number {
  if (!Number.isInteger(pin) || (pin as number) < 0 || (pin as number) >= PIN_COUNT) throw new RangeError("invalid pin");
  return pin as number;
}

/** The level a pin shows now: an output's own, an input's driven or pulled one, else what was driven on it. */
export function levelOf(pin: number): number {
  const owner = owners[checkPin(pin)];
  if (!owner) return driven[pin] ?? levels[pin] ?? 0;
  return isOutput(owner.mode) ? levels[pin] ?? 0 : inputLevel(pin, owner.mode);
}

/** Drives a pin from outside (a button, another chip); an input's onReadable runs on its edges. */
export function drive(pin: number, value: number): void {
  const owner = owners[checkPin(pin)];
  const level = value ? 1 : 0;
  const before = owner && !isOutput(owner.mode) ? inputLevel(pin, owner.mode) : driven[pin];
  driven[pin] = level;
  if (owner && !isOutput(owner.mode) && owner.onReadable && before !== level && owner.edge & (level ? Rising : Falling))
    owner.onReadable.call(owner.target);
}

export interface DigitalOptions {
  pin: number;
  mode: number;
  edge?: number;
  onReadable?: (this: unknown) => void;
  target?: unknown;
}

export default class Digital {
  static readonly Input = Input;
  static readonly InputPullUp = InputPullUp;
  static readonly InputPullDown = InputPullDown;
  static readonly InputPullUpDown = InputPullUpDown;
  static readonly Output = Output;
  static readonly OutputOpenDrain = OutputOpenDrain;
  static readonly Rising = Rising;
  static readonly Falling = Falling;

  #pin: number | undefined;
  #owner: Owner | undefined;
  target: unknown;

  constructor(options: DigitalOptions) {
    const pin = checkPin(options?.pin);
    const { mode } = options;
    if (!MODES.includes(mode)) throw new RangeError("invalid mode");
    if (owners[pin]) throw new Error("in use");
    const owner: Owner = { mode, edge: 0, onReadable: undefined, target: this };
    if (options.onReadable) {
      if (isOutput(mode)) throw new RangeError("onReadable on an output");
      if (!((options.edge ?? 0) & (Rising | Falling))) throw new RangeError("edge required");
      owner.edge = options.edge!;
      owner.onReadable = options.onReadable;
    }
    if (options.target !== undefined) {
      this.target = options.target;
      owner.target = options.target;
    }
    owners[pin] = owner;
    this.#pin = pin;
    this.#owner = owner;
  }

  read(): number {
    const pin = this.#open();
    return isOutput(this.#owner!.mode) ? levels[pin] ?? 0 : inputLevel(pin, this.#owner!.mode);
  }

  write(value: number): void {
    const pin = this.#open();
    if (!isOutput(this.#owner!.mode)) throw new Error("not an output");
    const level = value ? 1 : 0;
    if ((levels[pin] ?? 0) === level) return; // a pin starts low: only changes are reported
    levels[pin] = level;
    if (wires.onOutput) wires.onOutput(pin, level);
    else trace(`digital: pin ${pin} -> ${level}\n`);
  }

  close(): void {
    if (this.#pin === undefined) return;
    owners[this.#pin] = undefined;
    this.#pin = undefined;
    this.#owner = undefined;
  }

  get format(): "number" {
    return "number";
  }

  set format(value: string) {
    if (value !== "number") throw new RangeError("unsupported format");
  }

  #open(): number {
    if (this.#pin === undefined) throw new Error("closed");
    return this.#pin;
  }
}
