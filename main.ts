/*
 * The application: a secure CoAP node (CoAP on UDP 5683, CoAP over DTLS-PSK on
 * 5684, /light and /temperature). It only wires modules together: the protocol
 * lives in modules/coap and modules/dtls-psk, the sensors in modules/sensors.
 *
 * Foundation stage: the protocol layers are not wired yet; the app announces the
 * endpoints it will serve and stays up like firmware does.
 */
import Timer from "timer";

const COAP_PORT = 5683;
const COAPS_PORT = 5684;
const KEEPALIVE_MS = 60_000;

trace(`secure-coap-node: started; will serve coap on udp/${COAP_PORT} and coaps on udp/${COAPS_PORT} (all addresses)\n`);

/* firmware never returns from main: a slow timer keeps the run loop alive */
Timer.repeat(() => {}, KEEPALIVE_MS);
