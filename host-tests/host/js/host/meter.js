/*
 * host/meter: heap held by Mbed TLS and the native modules (host-tests/host/src/mod_meter.c).
 * Tests and benchmarks only; nothing under modules/ may import it.
 */
export function native() @ "xs_meter_native";
export function resetPeak() @ "xs_meter_reset_peak";
