/*
 * The application: a secure CoAP node. It wires modules together and holds no
 * protocol code: CoAP lives in modules/coap, DTLS in modules/dtls-psk, the light in
 * modules/light, the DS18B20 in modules/sensors and its /temperature resource in
 * modules/temperature.
 *
 *   udp/5683 -> UdpEndpoint ---------------------------> CoapServer -> /light
 *   udp/5684 -> UdpEndpoint -> DtlsServer (PSK, certs) /              /temperature
 *                                                                    /.well-known/core
 *   udp/5683 <- CoapClient -> Resource Directory (rdUri), telemetry (telemetryUri coap://)
 *   udp/any  <- CoapClient -> DtlsClient -> telemetry (telemetryUri coaps://; dtls-psk/coaps)
 *
 * One CoapServer serves both transports: a peer that came through DTLS carries its
 * session id, so its observers end with its session.
 *
 * Settings come from mc/config (manifest.json, certs/manifest.json, and mcconfig's
 * KEY=VALUE arguments, which arrive as strings). The device imports this module
 * once the network is up (Wi-Fi; Ethernet on the qemu board) and calls its default
 * export; sockets bound to all addresses keep serving when the link comes back.
 */
import buildConfig from "mc/config";
import Resource from "Resource";
import Timer from "timer";
import OTA from "ota";
import { CoapServer } from "coap/server";
import { Code, DEFAULT_LIMITS, formatCode } from "coap/numbers";
import { utf8Decode } from "coap/utf8";
import { CoapClient } from "coap/client";
import { shareSocket } from "coap/share";
import { parseCoapUri } from "coap/uri";
import { DeadlineScheduler, UdpEndpoint, monotonicNow } from "coap/endpoint";
import { DEFAULT_MAX_SESSIONS, DEFAULT_SESSION_CACHE, DEFAULT_TICKET_LIFETIME_S, DtlsServer } from "dtls-psk/server";
import { pskFromConfig } from "dtls-psk/credentials";
import { Light, lightResource } from "light/light";
import { createLightOutput } from "light/output";
import { PreferenceLightStore } from "light/store";
import openBus from "sensors/bus";
import { Ds18b20 } from "sensors/ds18b20";
import { TemperatureService } from "sensors/service";
import { temperatureResource } from "temperature/resource";
import { TelemetryReporter, type TelemetryOptions } from "telemetry/reporter";
import { baseNameFor } from "temperature/senml";
import { offerChanges, readFrom } from "telemetry/connect";
import { openCoapsClient } from "dtls-psk/coaps";
import { RdRegistration } from "rd/registration";
import { bootInfo, markValid, restart, rollBack } from "update/boot";
import { firmwareResource } from "update/firmware";
import { confirmWhenHealthy } from "update/health";
import { CHIP_ESP32C3, formatVersion, parsePublicKey, parseVersion } from "update/image";
import { parseRoles, updateAuthoriser } from "update/roles";
import { Sha256, verifyP256 } from "update/verify";

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
function text(value: unknown): string {
  return value === undefined || value === null ? "" : String(value);
}

/* a credential from the build's resources (manifest "resources"; DATA/resources in the simulator host) */
function resource(name: string): ArrayBuffer | undefined {
  return name && Resource.exists(name) ? (new Resource(name) as unknown as ArrayBuffer) : undefined;
}

/* settings from mc/config and, in the simulator, from the booted stand-in image (update/boot) */
function readSettings(config: Record<string, any>) {
  return Object.freeze({
    coapPort: integer(config.coapPort, 5683),
    coapsPort: integer(config.coapsPort, 5684),
    lightKind: text(config.lightKind) || "digital",
    lightPin: integer(config.lightPin, 8),
    lightActiveLow: flag(config.lightActiveLow),
    onewirePin: integer(config.onewirePin, 3),
    endpointName: text(config.endpointName) || "esp32c3-node",
    telemetryUri: text(config.telemetryUri),
    rdUri: text(config.rdUri),
    /* certificate mode: resource names of the node's certificate, its key, and the CA of its clients */
    dtlsCertificate: text(config.dtlsCertificate),
    dtlsKey: text(config.dtlsKey),
    dtlsCa: text(config.dtlsCa),
    /* bounds; the defaults fit the ESP32-C3 (raise them in the simulator and for benchmarks only) */
    dtlsMaxSessions: integer(config.dtlsMaxSessions, DEFAULT_MAX_SESSIONS),
    /* resumption: session ticket lifetime in seconds (0: no tickets), session-ID cache entries (0: none) */
    dtlsTicketLifetime: integer(config.dtlsTicketLifetime, DEFAULT_TICKET_LIFETIME_S),
    dtlsSessionCache: integer(config.dtlsSessionCache, DEFAULT_SESSION_CACHE),
    maxObservers: integer(config.maxObservers, DEFAULT_LIMITS.maxObservers),
    maxObserversPerResource: integer(config.maxObserversPerResource, DEFAULT_LIMITS.maxObserversPerResource),
    /* firmware update (modules/update): the version this image was built as, the key its successors are signed with */
    firmwareVersion: text(config.firmwareVersion) || "0.0.0",
    updatePublicKey: text(config.updatePublicKey),
    updateIdentity: text(config.updateIdentity),
    updateKey: text(config.updateKey),
    updateSubjects: text(config.updateSubjects),
    updateAllowOlder: flag(config.updateAllowOlder),
    updateMaxLength: integer(config.updateMaxLength, 0x1F0000),
    /* ms after a stored update before the restart into it (0: restart by hand); ms the first boot of an update has to prove itself */
    updateRestartDelay: integer(config.updateRestartDelay, 2000),
    updateHealthDeadline: integer(config.updateHealthDeadline, 60_000),
    config,
  });
}

let running: { server: CoapServer; dtls: DtlsServer; telemetry?: TelemetryReporter; rd?: RdRegistration; scheduler: DeadlineScheduler } | undefined;

/** Cache sizes and sessions, for the simulator's control channel and for benchmarks. */
export function stats(): object | undefined {
  return running && {
    ...running.server.stats(),
    limitHits: running.server.limitHits(),
    dtls: running.dtls.stats(),
    telemetry: running.telemetry?.counters,
    rd: running.rd && { state: running.rd.state, ...running.rd.counters },
  };
}

/** An orderly shutdown: leave the Resource Directory, stop telemetry, then end every DTLS session with close_notify. */
export async function shutdown(): Promise<void> {
  await Promise.all([running?.rd?.stop(running.scheduler.now()), running?.telemetry?.stop()]);
  running?.dtls.closeAll(running.scheduler.now());
}

/*
 * Starts the node. The first boot of an update (update/boot: pending-verify) confirms
 * itself once the node answers a CoAP GET through its own socket; a start that throws,
 * or a check that fails or hangs, rolls back to the image before.
 */
export default function main(): void {
  const boot = bootInfo();
  try {
    start(boot);
  } catch (error) {
    if (boot.state !== "pending-verify") throw error;
    log(`secure-coap-node: the update in ${boot.slot} failed to start (${error}): rolling back to the previous image`);
    rollBack();
  }
}

function start(boot: ReturnType<typeof bootInfo>): void {
  const settings = readSettings({ ...buildConfig, ...boot.settings });
  const config = settings.config;
  log(`secure-coap-node ${settings.firmwareVersion}: booting from ${boot.slot}${boot.state === "pending-verify" ? " (an update's first boot: confirmed once healthy)" : ""}${boot.rolledBack ? " (the last update rolled back)" : ""}`);
  const psk = pskFromConfig({ identity: config.pskIdentity, key: config.pskKey });
  const updatePsk = settings.updateIdentity && settings.updateKey ? pskFromConfig({ identity: settings.updateIdentity, key: settings.updateKey }) : undefined;
  if (updatePsk && updatePsk.identity === psk.identity) throw new RangeError("updateIdentity must differ from pskIdentity");
  const certificate = resource(settings.dtlsCertificate);
  const certificateMode = certificate && {
    cert: certificate,
    key: resource(settings.dtlsKey) ?? new Uint8Array(0),
    ca: resource(settings.dtlsCa),
  };
  const light = new Light(
    createLightOutput({ kind: settings.lightKind, pin: settings.lightPin, activeLow: settings.lightActiveLow }),
    new PreferenceLightStore("light", "on", log),
  );
  const temperature = new TemperatureService({
    source: new Ds18b20({ bus: openBus({ pin: settings.onewirePin }), resolution: 12 }),
    now: monotonicNow,
  });
  const scheduler = new DeadlineScheduler();

  const server: CoapServer = new CoapServer({
    send: (datagram, peer, now) => {
      if (peer.session === undefined) coap.send(datagram, peer);
      else dtls.write(peer, datagram, now); // false when its session has ended: a closed session's messages go nowhere
    },
    wake: () => scheduler.update(),
    random: Math.random,
    log,
    limits: { maxObservers: settings.maxObservers, maxObserversPerResource: settings.maxObserversPerResource },
  });
  server.add("light", lightResource(light, log));
  server.add("temperature", temperatureResource(temperature));
  scheduler.add(server);

  /* whether a batch of DTLS datagrams reached the CoAP server (a handshake's do not): whose deadlines to ask */
  let coapReached = false;
  const dtls: DtlsServer = new DtlsServer({
    identity: psk.identity,
    key: psk.key,
    certificate: certificateMode || undefined,
    maxSessions: settings.dtlsMaxSessions,
    ticketLifetimeS: settings.dtlsTicketLifetime,
    sessionCache: settings.dtlsSessionCache,
    morePsks: updatePsk ? [updatePsk] : undefined,
    send: (record, peer) => coaps.send(record, peer),
    onData: (data, peer, _session, now) => {
      coapReached = true;
      server.receive(data, peer, now); // peer: one object per session, with its id
    },
    onClose: (peer, _session, end, now) => {
      if (!end.delivered) return; // no request came over it: the CoAP server holds nothing of this peer
      coapReached = true;
      server.dropPeer(peer, now);
    },
    /* a session with observers is never evicted for a newcomer: its notifications would stop silently */
    keep: (peer) => server.hasObservers(peer),
    log,
  });
  scheduler.add(dtls);

  /* /fw: a signed image, over CoAPS, from an identity with the update role (modules/update) */
  const version = parseVersion(settings.firmwareVersion);
  if (version === undefined) throw new RangeError(`firmwareVersion "${settings.firmwareVersion}" is not major.minor.patch`);
  const publicKey = parsePublicKey(settings.updatePublicKey);
  if (settings.updatePublicKey && !publicKey) throw new RangeError("updatePublicKey must be 130 hex digits (update-signing.pub.hex)");
  const mayUpdate = updateAuthoriser(parseRoles(updatePsk?.identity ?? "", settings.updateSubjects), dtls);
  const firmware = firmwareResource({
    running: version,
    policy: { publicKey: publicKey ?? new Uint8Array(65), chip: CHIP_ESP32C3, allowOlder: settings.updateAllowOlder, maxLength: settings.updateMaxLength },
    crypto: { sha256: () => new Sha256(), verifyP256 },
    openSlot: () => new OTA(),
    authorise: (request) => (publicKey ? mayUpdate(request) : { code: Code.NOT_IMPLEMENTED, payload: "built without an update key (updatePublicKey)" }),
    rolledBack: boot.rolledBack,
    now: monotonicNow,
    onStored(stored) {
      if (settings.updateRestartDelay <= 0) return;
      log(`update: restarting into ${formatVersion(stored)} in ${settings.updateRestartDelay} ms`);
      Timer.set(() => {
        /* leave the Resource Directory first, for a few seconds at most */
        Timer.set(() => restart(), 3000);
        shutdown().then(() => restart(), () => restart());
      }, settings.updateRestartDelay);
    },
    log,
  });
  server.add("fw", firmware.resource);

  light.onChange((on) => {
    log(`light: ${on ? "on" : "off"}`);
    server.notify("light", scheduler.now());
    scheduler.update();
  });
  temperature.onChange((update) => {
    if (!update.ok) log(`temperature: ${update.error.message}`);
    server.notify("temperature", scheduler.now());
    scheduler.update();
  });
  temperature.start();

  /* the node's CoAP client shares the server's socket, so an RD sees the server's address */
  const client: CoapClient = new CoapClient({
    send: (datagram, peer) => coap.send(datagram, peer),
    random: Math.random,
    log,
    onDeadlineChange: () => scheduler.update(),
  });
  scheduler.add(client);

  /* after a batch, the deadlines of what its datagrams reach (DeadlineScheduler) */
  const coap = new UdpEndpoint({
    port: settings.coapPort,
    onDatagram: shareSocket(server, client),
    onIdle: () => scheduler.update(server, client),
    log,
  });
  const coaps = new UdpEndpoint({
    port: settings.coapsPort,
    onDatagram: (datagram, peer, now) => dtls.receive(datagram, peer, now),
    onIdle: () => {
      scheduler.update(dtls, coapReached ? server : undefined);
      coapReached = false;
    },
    log,
  });

  let telemetry: TelemetryReporter | undefined;
  if (settings.telemetryUri) {
    const uri = parseCoapUri(settings.telemetryUri);
    /* over DTLS: a client session of its own; plain: the server's socket, as the RD sees it */
    const request: TelemetryOptions["request"] = uri.secure
      ? openCoapsClient({
          peer: { address: uri.host, port: uri.port },
          credentials: certificateMode ? { cert: certificateMode.cert, key: certificateMode.key, ca: certificateMode.ca } : { psk },
          scheduler,
          random: Math.random,
          log,
        }).request
      : (options, now) => client.request(options, now);
    telemetry = new TelemetryReporter({
      uri: settings.telemetryUri,
      method: text(config.telemetryMethod).toUpperCase() === "PUT" ? "PUT" : "POST",
      request,
      read: readFrom(temperature),
      baseName: baseNameFor(settings.endpointName),
      period: integer(config.telemetryPeriod, 60_000),
      threshold: Number(config.telemetryThreshold ?? 0.5),
      maxQueue: integer(config.telemetryQueue, 32),
      random: Math.random,
      log,
      onDeadlineChange: () => scheduler.update(),
    });
    offerChanges(temperature, telemetry);
    scheduler.add(telemetry);
    telemetry.start(scheduler.now());
  }

  let rd: RdRegistration | undefined;
  if (settings.rdUri) {
    rd = new RdRegistration({
      uri: settings.rdUri,
      request: (options, now) => client.request(options, now),
      endpoint: settings.endpointName,
      links: () => server.linkFormat(),
      lifetime: integer(config.rdLifetime, 90_000),
      random: Math.random,
      log,
      onDeadlineChange: () => scheduler.update(),
    });
    scheduler.add(rd);
    rd.start(scheduler.now());
  }

  running = { server, dtls, telemetry, rd, scheduler };

  log(`secure-coap-node: started; coap on udp/${settings.coapPort}, coaps (DTLS 1.2, PSK identity "${psk.identity}"${certificateMode ? ", certificates" : ""}) on udp/${settings.coapsPort}, all addresses; light (${settings.lightKind}, GPIO ${settings.lightPin}) is ${light.on ? "on" : "off"}; DS18B20 on GPIO ${settings.onewirePin}${telemetry ? `; telemetry to ${settings.telemetryUri}` : ""}${rd ? `; registering at ${settings.rdUri} as ${settings.endpointName}` : ""}`);

  /* the self-check: the node answers a CoAP GET through its own socket and lists /fw (an update's first boot confirms itself on it) */
  void confirmWhenHealthy({
    state: boot.state,
    check: () =>
      client.request({ peer: { address: "127.0.0.1", port: settings.coapPort }, path: ".well-known/core", timeout: 10_000 }, scheduler.now()).then((response) => {
        if (response.code !== Code.CONTENT) throw new Error(`GET /.well-known/core answered ${formatCode(response.code)}`);
        if (!(utf8Decode(response.payload) ?? "").includes("</fw>")) throw new Error("GET /.well-known/core does not list /fw");
      }),
    markValid,
    rollBack,
    deadlineMs: settings.updateHealthDeadline,
    after: (ms, callback) => {
      const timer = Timer.set(callback, ms);
      return () => Timer.clear(timer);
    },
    log,
  });
}
