/*
 * host/control: the control channel (stdin lines in, "@" lines out) with a command
 * table, so each simulated device registers the commands it answers.
 */
function setHandler(handler) @ "xs_control_set_handler";
function emitLine(text) @ "xs_control_emit";
function enabled() @ "xs_control_enabled";

/* a plain object, not a Map: preloaded with the device stand-ins that use it, a Map would be read-only */
const commands = Object.create(null);

function dispatch(line) {
	const words = line.trim().split(/\s+/);
	const handler = commands[words[0]];
	if (!handler) {
		emitLine(`error unknown command ${words[0]}`);
		return;
	}
	try {
		const reply = handler(words.slice(1));
		if (reply !== undefined)
			emitLine(`${words[0]} ${reply}`);
	}
	catch (error) {
		emitLine(`error ${words[0]}: ${error.message}`);
	}
}

const Control = Object.freeze({
	get enabled() {
		return enabled();
	},
	register(command, handler) {
		if (Object.keys(commands).length === 0)
			setHandler(dispatch);
		commands[command] = handler;
	},
	emit(text) {
		if (enabled())
			emitLine(text);
	},
});
export default Control;
