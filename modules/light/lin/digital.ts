/*
 * `embedded:io/digital` for the Moddable SDK's desktop simulator (platform lin),
 * which has none: manifest.json maps the specifier here in its lin section only.
 * There is no hardware: each pin keeps its level in memory, an output traces every
 * change ("digital: pin 8 -> 1") so the light can be followed in xsbug's log, and
 * an input reads its pull (1 with InputPullUp, else 0). Same constants, options and
 * errors as the SDK's esp32 implementation (ECMA-419 digital class pattern).
 */
const Input = 0, InputPullUp = 1, InputPullDown = 2, InputPullUpDown = 3, Output = 8, OutputOpenDrain = 9;
const Rising = 1, Falling = 2;
const MODES = Object.freeze([Input, InputPullUp, InputPullDown, InputPullUpDown, Output, OutputOpenDrain]);
const PIN_COUNT = 22; // ESP32-C3 GPIO 0..21, so a pin that is wrong on the device is wrong here

/*
 * Per-pin state in plain arrays, not a Map or Set: if this module is preloaded, the
 * SDK's linker makes Maps and Sets created at preload read-only, while arrays stay
 * writable (copied to RAM on the first write).
 */
const owned: boolean[] = [];
const levels: number[] = [];

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
  readonly #mode: number;
  target: unknown;

  constructor(options: DigitalOptions) {
    const { pin, mode } = options;
    if (!Number.isInteger(pin) || pin < 0 || pin >= PIN_COUNT) throw new RangeError("invalid pin");
    if (!MODES.includes(mode)) throw new RangeError("invalid mode");
    if (options.onReadable && (mode === Output || mode === OutputOpenDrain)) throw new RangeError("onReadable on an output");
    if (owned[pin]) throw new Error("in use");
    owned[pin] = true;
    this.#pin = pin;
    this.#mode = mode;
    this.target = options.target;
    if (levels[pin] === undefined) levels[pin] = mode === InputPullUp ? 1 : 0;
  }

  read(): number {
    const pin = this.#open();
    if (this.#mode === Output || this.#mode === OutputOpenDrain) return levels[pin] ?? 0;
    return this.#mode === InputPullUp ? 1 : 0;
  }

  write(value: number): void {
    const pin = this.#open();
    if (this.#mode !== Output && this.#mode !== OutputOpenDrain) throw new Error("not an output");
    const level = value ? 1 : 0;
    if (levels[pin] === level) return;
    levels[pin] = level;
    trace(`digital: pin ${pin} -> ${level}\n`);
  }

  close(): void {
    if (this.#pin === undefined) return;
    owned[this.#pin] = false;
    this.#pin = undefined;
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
