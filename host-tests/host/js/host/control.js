/*
 * host/control: the control channel (stdin lines in, "@" lines out) with a command
 * table, so each simulated device registers the commands it answers.
 */
function setHandler(handler) @ "xs_control_set_handler";
function emitLine(text) @ "xs_control_emit";
function enabled() @ "xs_control_enabled";

const commands = new Map();

function dispatch(line) {
	const words = line.trim().split(/\s+/);
	const handler = commands.get(words[0]);
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
		if (commands.size === 0)
			setHandler(dispatch);
		commands.set(command, handler);
	},
	emit(text) {
		if (enabled())
			emitLine(text);
	},
});
export default Control;
