/*
 * `sensors/bus` on ESP32 (the manifest maps the specifier here): a OneWireBus over
 * one open-drain GPIO, bit-banged in bus.c. The pin comes from the options or from
 * the manifest's config (`config.onewirePin`). A JS file because host functions
 * are not TypeScript; bus.d.ts gives its types.
 */
import config from "mc/config";
import { BusStuckError } from "sensors/errors";

const DEFAULT_PIN = 3;

class OneWireGpio @ "xs_onewire_gpio_destructor" {
	constructor(options) @ "xs_onewire_gpio";
	close() @ "xs_onewire_gpio_close";

	/* -1 stuck low, 0 no presence, 1 presence */
	_reset() @ "xs_onewire_gpio_reset";
	reset() {
		const status = this._reset();
		if (status < 0)
			throw new BusStuckError();
		return status > 0;
	}

	writeBit(bit) @ "xs_onewire_gpio_write_bit";
	readBit() @ "xs_onewire_gpio_read_bit";
	writeByte(byte) @ "xs_onewire_gpio_write_byte";
	readByte() @ "xs_onewire_gpio_read_byte";

	write(bytes) {
		for (let i = 0; i < bytes.length; i++)
			this.writeByte(bytes[i]);
	}

	_read(count) @ "xs_onewire_gpio_read";
	read(count) {
		return new Uint8Array(this._read(count));
	}

	strongPullUp(on) @ "xs_onewire_gpio_strong_pull_up";
}
Object.freeze(OneWireGpio.prototype);

export default function openBus(options = {}) {
	return new OneWireGpio({ pin: options.pin ?? (Number(config.onewirePin) || DEFAULT_PIN) });
}
