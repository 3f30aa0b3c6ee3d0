/*
 * host/meter: heap held by Mbed TLS and the native modules (host-tests/host/src/mod_meter.c).
 * Tests and benchmarks only; nothing under modules/ may import it.
 */
export function native() @ "xs_meter_native";
export function resetPeak() @ "xs_meter_reset_peak";
/* under valgrind's callgrind: zero its counters / dump them with a label (nothing otherwise) */
export function callgrindZero() @ "xs_meter_callgrind_zero";
export function callgrindDump(label) @ "xs_meter_callgrind_dump";
export function callgrindToggle() @ "xs_meter_callgrind_toggle";
