/*
 * `timer` for the simulator host (same API as the Moddable SDK's timer module).
 */
class Timer {
	static set(callback, interval, repeat) @ "xs_timer_set";
	static repeat(callback, interval) {
		return Timer.set(callback, interval, interval);
	}
	static schedule(timer, interval, repeat) @ "xs_timer_schedule";
	static clear(timer) @ "xs_timer_clear";
	static delay(ms) @ "xs_timer_delay";
}
Object.freeze(Timer.prototype);
export default Timer;
