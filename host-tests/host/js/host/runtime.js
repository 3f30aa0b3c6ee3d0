/*
 * host/runtime: simulator-host services for shims and tests (never for modules/).
 */
export function argv() @ "xs_runtime_argv";
export function hostCommand() @ "xs_runtime_command";
export function configOverrides() @ "xs_runtime_config_overrides";
export function exit(status) @ "xs_runtime_exit";
export function now() @ "xs_runtime_now";
export function errors() @ "xs_runtime_errors";
export function pid() @ "xs_runtime_pid";
export function cwd() @ "xs_runtime_cwd";
export function env(name) @ "xs_runtime_env";
export function dataDirectory() @ "xs_runtime_data_directory";
export function gc() @ "xs_runtime_gc";
export function heapBytes() @ "xs_runtime_heap";
export function readFile(path) @ "xs_runtime_read_file";
export function readFileBuffer(path) @ "xs_runtime_read_file_buffer";
export function onShutdown(handler) @ "xs_runtime_on_shutdown";
export function writeFileAtomic(path, text) @ "xs_runtime_write_file_atomic";
export function makeDirectory(path) @ "xs_runtime_make_directory";
export function temporaryDirectory() @ "xs_runtime_temporary_directory";
export function readdir(path) @ "xs_runtime_readdir";
