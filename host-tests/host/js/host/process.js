/*
 * host/process: child processes for tests (peers, other simulator hosts).
 */
class Process @ "xs_process_destructor" {
	constructor(options) @ "xs_process_constructor";
	write(text) @ "xs_process_write";
	closeStdin() @ "xs_process_close_stdin";
	kill(signal) @ "xs_process_kill";
	get pid() @ "xs_process_get_pid";
}
Object.freeze(Process.prototype);
export default Process;
