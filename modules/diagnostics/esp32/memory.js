/*
 * `diagnostics/memory` on ESP32: the host functions of memory.c (host functions
 * are not TypeScript; memory.d.ts gives the types).
 */
export function sample(collect) @ "xs_memory_sample";
export function markStack() @ "xs_memory_mark_stack";
