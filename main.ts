/*
 * The application: a secure CoAP node. It wires modules together and holds no
 * protocol code: CoAP lives in modules/coap, DTLS in modules/dtls-psk, the light in
 * modules/light, the DS18B20 and its /temperature resource in modules/sensors.
 *
 *   udp/5683 -> UdpEndpoint ---------------------------> CoapServer -> /light
 *   udp/5684 -> UdpEndpoint -> DtlsServer (PSK) ------/              /temperature
 *                                                                    /.well-known/core
 * One CoapServer serves both transports: a peer that came through DTLS carries its
 * session id, so its observers end with its session.
 */
import { CoapServer } from "coap/server";
import { DeadlineScheduler, UdpEndpoint, monotonicNow } from "coap/endpoint";
import { Light, lightResource } from "light/light";
import { PreferenceLightStore } from "light/store";
import { DigitalLight } from "light/digital";
import { DtlsServer } from "dtls-psk/server";
import { pskFromConfig } from "dtls-psk/credentials";
import openBus from "sensors/bus";
import { Ds18b20 } from "sensors/ds18b20";
import { TemperatureService } from "sensors/service";
import { temperatureResource } from "sensors/resource";

const COAP_PORT = 5683;
const COAPS_PORT = 5684;
const LIGHT_PIN = 8;

function log(message: string): void {
  trace(`${message}\n`);
}

const light = new Light(new DigitalLight(LIGHT_PIN), new PreferenceLightStore());
const temperature = new TemperatureService({ source: new Ds18b20({ bus: openBus(), resolution: 12 }), now: monotonicNow });
const scheduler = new DeadlineScheduler();

const psk = pskFromConfig();

const server: CoapServer = new CoapServer({
  send: (datagram, peer) => {
    if (peer.session === undefined) coap.send(datagram, peer);
    else if (dtls.sessionOf(peer) === peer.session) dtls.write(peer, datagram); // a closed session's messages go nowhere
  },
  now: monotonicNow,
  random: Math.random,
  log,
});
server.add("light", lightResource(light, log));
server.add("temperature", temperatureResource(temperature));
scheduler.add(server);

const dtls: DtlsServer = new DtlsServer({
  identity: psk.identity,
  key: psk.key,
  send: (record, peer) => coaps.send(record, peer),
  now: monotonicNow,
  onData: (data, peer, session) => server.receive(data, { ...peer, session }),
  onClose: (peer, session) => server.dropPeer({ ...peer, session }),
  log,
});
scheduler.add(dtls);

light.onChange((on) => {
  log(`light: ${on ? "on" : "off"}`);
  server.notify("light");
  scheduler.update();
});

temperature.onChange((update) => {
  if (!update.ok) log(`temperature: ${update.error.message}`);
  server.notify("temperature");
  scheduler.update();
});
temperature.start();

const coap = new UdpEndpoint({
  port: COAP_PORT,
  onDatagram: (datagram, peer) => server.receive(datagram, peer),
  onIdle: () => scheduler.update(),
  log,
});

const coaps = new UdpEndpoint({
  port: COAPS_PORT,
  onDatagram: (datagram, peer) => dtls.receive(datagram, peer),
  onIdle: () => scheduler.update(),
  log,
});

log(`secure-coap-node: started; coap on udp/${COAP_PORT}, coaps (DTLS 1.2, PSK identity "${psk.identity}") on udp/${COAPS_PORT}, all addresses; light on GPIO ${LIGHT_PIN} is ${light.on ? "on" : "off"}`);
