/*
 * `embedded:io/digital` in the simulator host: the project's one simulated Digital
 * (modules/light/lin/digital.ts, also the SDK desktop simulator's), wired to the
 * host's control channel: every output change is reported as "@pin N LEVEL"; "pin N"
 * asks a level, "pin N LEVEL" drives a pin from outside (an input's onReadable fires
 * on its edges).
 */
import Control from "host/control";
import Digital, { drive, levelOf, wires } from "light/lin/digital";

wires.onOutput = (pin, level) => Control.emit(`pin ${pin} ${level}`);

Control.register("pin", (args) => {
	const pin = Number(args[0]);
	if (args.length > 1)
		drive(pin, Number(args[1]));
	return `${pin} ${levelOf(pin)}`;
});

export default Digital;
