/*
 * `time` for the simulator host: Time.ticks is a monotonic millisecond counter as on
 * the device (it does not jump when the wall clock is set); Time.set is refused
 * because the host's wall clock belongs to the machine.
 */
import { now } from "host/runtime";

const Time = {
	get ticks() {
		return Math.floor(now());
	},
	get microseconds() {
		return Math.floor(now() * 1000);
	},
	delta(start, end) {
		return (end ?? Math.floor(now())) - start;
	},
	set(seconds) {
		throw new Error("Time.set is not available in the simulator host");
	},
	timezone: 0,
	dst: 0,
};
export default Object.freeze(Time);
