/*
 * ECMA-419 UDP socket for the simulator host (embedded:io/socket/udp).
 */
class UDP @ "xs_udp_destructor" {
	constructor(options) @ "xs_udp_constructor";
	close() @ "xs_udp_close";
	read() @ "xs_udp_read";
	write(buffer, address, port) @ "xs_udp_write";
	get format() @ "xs_udp_get_format";
	set format(value) @ "xs_udp_set_format";
}
Object.freeze(UDP.prototype);
export default UDP;
