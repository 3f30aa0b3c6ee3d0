/*
 * ECMA-419 `embedded:io/digital` for the simulator host: simulated ESP32-C3 pins
 * (GPIO 0-21). An output's level changes are reported on the control channel as
 * "@pin N LEVEL"; "pin N" asks a level and "pin N LEVEL" drives an input from
 * outside, firing onReadable on the configured edges.
 */
import Control from "host/control";

const PIN_COUNT = 22;

const Input = 0, InputPullUp = 1, InputPullDown = 2, InputPullUpDown = 3, Output = 8, OutputOpenDrain = 9;
const Rising = 1, Falling = 2;

/* pin -> { level, driven (externally), owner } */
const pins = [];
for (let i = 0; i < PIN_COUNT; i++)
	pins.push({ level: 0, driven: undefined, owner: undefined });

function isOutput(mode) {
	return mode === Output || mode === OutputOpenDrain;
}

function inputLevel(pin, mode) {
	const p = pins[pin];
	if (p.driven !== undefined)
		return p.driven;
	return (mode === InputPullUp) ? 1 : 0;
}

Control.register("pin", (args) => {
	const pin = Number(args[0]);
	if (!Number.isInteger(pin) || pin < 0 || pin >= PIN_COUNT)
		throw new RangeError("invalid pin");
	const p = pins[pin];
	if (args.length > 1) {
		const level = Number(args[1]) ? 1 : 0;
		const owner = p.owner;
		const before = owner && !isOutput(owner.mode) ? inputLevel(pin, owner.mode) : p.driven;
		p.driven = level;
		if (owner && !isOutput(owner.mode) && owner.onReadable && before !== level) {
			const edge = level ? Rising : Falling;
			if (owner.edge & edge)
				owner.onReadable.call(owner.target);
		}
	}
	const owner = p.owner;
	const level = owner ? (isOutput(owner.mode) ? p.level : inputLevel(pin, owner.mode)) : (p.driven ?? p.level);
	return `${pin} ${level}`;
});

class Digital {
	#pin;
	#state;
	constructor(options) {
		const pin = options?.pin;
		if (!Number.isInteger(pin) || pin < 0 || pin >= PIN_COUNT)
			throw new RangeError("invalid pin");
		const mode = options.mode;
		if (![Input, InputPullUp, InputPullDown, InputPullUpDown, Output, OutputOpenDrain].includes(mode))
			throw new RangeError("invalid mode");
		if (pins[pin].owner)
			throw new Error("in use");
		const state = { mode, edge: 0, onReadable: undefined, target: this };
		if (options.onReadable) {
			if (isOutput(mode))
				throw new RangeError("onReadable on an output");
			if (!(options.edge & (Rising | Falling)))
				throw new RangeError("edge required");
			state.edge = options.edge;
			state.onReadable = options.onReadable;
		}
		if (options.target !== undefined)
			this.target = options.target;
		this.#pin = pin;
		this.#state = state;
		pins[pin].owner = state;
	}
	read() {
		if (this.#state === undefined)
			throw new Error("closed");
		const p = pins[this.#pin];
		return isOutput(this.#state.mode) ? p.level : inputLevel(this.#pin, this.#state.mode);
	}
	write(value) {
		if (this.#state === undefined)
			throw new Error("closed");
		if (!isOutput(this.#state.mode))
			throw new Error("not an output");
		const level = value ? 1 : 0;
		const p = pins[this.#pin];
		if (p.level !== level) {
			p.level = level;
			Control.emit(`pin ${this.#pin} ${level}`);
		}
	}
	close() {
		if (this.#state === undefined)
			return;
		pins[this.#pin].owner = undefined;
		this.#state = undefined;
	}
	get format() {
		return "number";
	}
	set format(value) {
		if (value !== "number")
			throw new RangeError("unsupported format");
	}
	static get Input() { return Input; }
	static get InputPullUp() { return InputPullUp; }
	static get InputPullDown() { return InputPullDown; }
	static get InputPullUpDown() { return InputPullUpDown; }
	static get Output() { return Output; }
	static get OutputOpenDrain() { return OutputOpenDrain; }
	static get Rising() { return Rising; }
	static get Falling() { return Falling; }
}
Object.freeze(Digital.prototype);
export default Digital;
