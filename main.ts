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
 *
 * Settings come from mc/config (manifest.json, certs/manifest.json, and mcconfig's
 * KEY=VALUE arguments, which arrive as strings). The device imports this module
 * once Wi-Fi is up and calls its default export; sockets bound to all addresses
 * keep serving when Wi-Fi reconnects.
 */
import config from "mc/config";
import { CoapServer } from "coap/server";
import { DeadlineScheduler, UdpEndpoint, monotonicNow } from "coap/endpoint";
import { DtlsServer } from "dtls-psk/server";
import { pskFromConfig } from "dtls-psk/credentials";
import { Light, lightResource, type LightOutput } from "light/light";
import { PreferenceLightStore } from "light/store";
import { DigitalLight } from "light/digital";
import openBus from "sensors/bus";
import { Ds18b20 } from "sensors/ds18b20";
import { TemperatureService } from "sensors/service";
import { temperatureResource } from "sensors/resource";

function log(message: string): void {
  trace(`${message}\n`);
}

/* manifest values are numbers and booleans; command-line overrides are strings */
function integer(value: unknown, fallback: number): number {
  const n = Number(value);
  return value !== undefined && value !== "" && Number.isInteger(n) ? n : fallback;
}
function flag(value: unknown): boolean {
  return value === true || value === "true" || value === "1";
}

const settings = {
  coapPort: integer(config.coapPort, 5683),
  coapsPort: integer(config.coapsPort, 5684),
  lightKind: String(config.lightKind ?? "digital"),
  lightPin: integer(config.lightPin, 8),
  lightActiveLow: flag(config.lightActiveLow),
  onewirePin: integer(config.onewirePin, 3),
};

async function lightOutput(): Promise<LightOutput> {
  if (settings.lightKind === "neopixel") {
    const { NeoPixelLight } = await import("light/neopixel"); // in the esp32 build only
    return new NeoPixelLight({ pin: settings.lightPin });
  }
  return new DigitalLight(settings.lightPin, settings.lightActiveLow);
}

let running: { server: CoapServer; dtls: DtlsServer } | undefined;

/** Cache sizes and sessions, for the simulator's control channel and for benchmarks. */
export function stats(): object | undefined {
  return running && { ...running.server.stats(), limitHits: running.server.limitHits(), dtls: running.dtls.stats() };
}

export default async function main(): Promise<void> {
  const psk = pskFromConfig({ identity: config.pskIdentity, key: config.pskKey });
  const light = new Light(await lightOutput(), new PreferenceLightStore());
  const temperature = new TemperatureService({
    source: new Ds18b20({ bus: openBus({ pin: settings.onewirePin }), resolution: 12 }),
    now: monotonicNow,
  });
  const scheduler = new DeadlineScheduler();

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
    port: settings.coapPort,
    onDatagram: (datagram, peer) => server.receive(datagram, peer),
    onIdle: () => scheduler.update(),
    log,
  });
  const coaps = new UdpEndpoint({
    port: settings.coapsPort,
    onDatagram: (datagram, peer) => dtls.receive(datagram, peer),
    onIdle: () => scheduler.update(),
    log,
  });
  running = { server, dtls };

  log(`secure-coap-node: started; coap on udp/${settings.coapPort}, coaps (DTLS 1.2, PSK identity "${psk.identity}") on udp/${settings.coapsPort}, all addresses; light (${settings.lightKind}, GPIO ${settings.lightPin}) is ${light.on ? "on" : "off"}; DS18B20 on GPIO ${settings.onewirePin}`);
}
