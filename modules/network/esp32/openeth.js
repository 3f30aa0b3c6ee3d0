/*
 * `network/openeth`: the host function of openeth.c (host functions are not
 * TypeScript; openeth.d.ts gives its types). Used by `setup/ethernet`.
 */
export function start(callback) @ "xs_openeth_start";
