/*
 * Fixture host module: a stand-in for the node with the CoAP client, telemetry
 * and RD registration wired the way main.ts is meant to wire them (see the
 * README of modules/telemetry), pointed at the test's ports. One UDP socket is
 * shared by the server (/light, /temperature) and the client, so an RD sees the
 * node's server address as the source of its registration.
 *
 * Arguments, key=value (all optional but port):
 *   port=N            the node's CoAP port
 *   telemetry=URI     collector (coap:// or coaps://, psk=IDENTITY:KEY);
 *                     method=POST|PUT; period=ms; queue=N; batch=N;
 *                     backoff=INITIAL:MAX (ms); threshold=degC
 *   rd=URI            Resource Directory; ep=NAME; lt=SECONDS; refresh=ms
 *   ack=ms retransmit=N timeout=ms   CoAP transmission parameters of the client
 *   ramp=START:STEP   the simulated temperature: each read returns the next value
 * Control channel (--control): "counters" -> "@counters recorded=.. sent=.. ...",
 * "rd" -> "@rd STATE LOCATION", "stop" -> "@stop removed=BOOL" once the RD
 * registration is removed and telemetry has stopped.
 */
import Control from "host/control";
import { argv } from "host/runtime";
import { CoapServer } from "coap/server";
import { CoapClient, type ClientResponse, type RequestOptions } from "coap/client";
import { shareSocket } from "coap/share";
import { DeadlineScheduler, UdpEndpoint } from "coap/endpoint";
import { TelemetryReporter } from "telemetry/reporter";
import { baseNameFor } from "temperature/senml";
import { RdRegistration } from "rd/registration";
import { openCoapsClient } from "dtls-psk/coaps";
import { parseCoapUri } from "coap/uri";

const config = new Map<string, string>();
for (const arg of argv()) {
  const eq = arg.indexOf("=");
  if (eq > 0) config.set(arg.slice(0, eq), arg.slice(eq + 1));
}
const num = (key: string, fallback: number): number => (config.has(key) ? Number(config.get(key)) : fallback);
const pair = (key: string, fallback: [number, number]): [number, number] => {
  const text = config.get(key);
  if (!text) return fallback;
  const [a, b] = text.split(":").map(Number);
  return [a, b];
};

function log(message: string): void {
  trace(`${message}\n`);
}

const port = num("port", 5683);
const [rampStart, rampStep] = pair("ramp", [20, 0.0625]);
let reads = 0;
let light = false;

const scheduler = new DeadlineScheduler();
const server: CoapServer = new CoapServer({ send: (d, p) => endpoint.send(d, p), wake: () => scheduler.update(), random: Math.random, log });
server.add("light", {
  rt: "light",
  if: "core.a",
  observable: true,
  get: () => ({ payload: light ? "1" : "0" }),
  put: (request) => {
    light = request.text() === "1";
    server.notify("light", scheduler.now());
    return {};
  },
});
server.add("temperature", { rt: "temperature-c", observable: true, get: () => ({ payload: String(rampStart + reads * rampStep) }) });

const client: CoapClient = new CoapClient({
  send: (d, p) => endpoint.send(d, p),
  random: Math.random,
  log,
  transport: { ackTimeout: num("ack", 2000), maxRetransmit: num("retransmit", 4) },
  onDeadlineChange: () => scheduler.update(),
});
/* a request at the scheduler's clock (the reporter and the registration still take (options) => Promise) */
const request = (options: RequestOptions, now: number): Promise<ClientResponse> => client.request(options, now);

const endpoint: UdpEndpoint = new UdpEndpoint({
  port,
  onDatagram: shareSocket(server, client),
  onIdle: () => scheduler.update(),
  log,
});
scheduler.add(server);
scheduler.add(client);

/* coaps:// telemetry: the node's secure uplink (psk=IDENTITY:KEY, default CoAP:esp32c3_key) */
let telemetryRequest = request;
const target = config.get("telemetry");
if (target && parseCoapUri(target).secure) {
  const uri = parseCoapUri(target);
  const [identity, key] = (config.get("psk") ?? "CoAP:esp32c3_key").split(":");
  const secureClient = openCoapsClient({
    peer: { address: uri.host, port: uri.port },
    credentials: { psk: { identity, key: new Uint8Array(ArrayBuffer.fromString(key)) } },
    scheduler,
    random: Math.random,
    log,
    transport: { ackTimeout: num("ack", 2000), maxRetransmit: num("retransmit", 4) },
  });
  telemetryRequest = secureClient.request.bind(secureClient);
}

let telemetry: TelemetryReporter | undefined;
if (config.has("telemetry")) {
  const [initial, max] = pair("backoff", [4000, 300_000]);
  telemetry = new TelemetryReporter({
    uri: config.get("telemetry")!,
    method: config.get("method") === "PUT" ? "PUT" : "POST",
    request: telemetryRequest,
    // the ramp: every periodic read is the next value, so arrival order is checkable
    read: () => Promise.resolve(rampStart + ++reads * rampStep),
    baseName: baseNameFor(config.get("ep") ?? "fixture-node"),
    period: num("period", 60_000),
    threshold: num("threshold", 0.5),
    maxQueue: num("queue", 32),
    maxBatch: num("batch", 8),
    backoffInitial: initial,
    backoffMax: max,
    requestTimeout: num("timeout", 93_000),
    random: Math.random,
    log,
    onDeadlineChange: () => scheduler.update(),
  });
  scheduler.add(telemetry);
  telemetry.start(scheduler.now());
}

let rd: RdRegistration | undefined;
if (config.has("rd")) {
  rd = new RdRegistration({
    uri: config.get("rd")!,
    request,
    endpoint: config.get("ep") ?? "fixture-node",
    links: () => server.linkFormat(),
    lifetime: num("lt", 90_000),
    refreshInterval: config.has("refresh") ? num("refresh", 0) : undefined,
    backoffInitial: 500,
    backoffMax: 2000,
    requestTimeout: num("timeout", 93_000),
    deregisterTimeout: num("timeout", 10_000),
    random: Math.random,
    log,
    onDeadlineChange: () => scheduler.update(),
  });
  scheduler.add(rd);
  rd.start(scheduler.now());
}

Control.register("counters", () => {
  const c = telemetry?.counters;
  if (!c) return "none";
  return `recorded=${c.recorded} sent=${c.sent} rejected=${c.rejected} dropped=${c.dropped} queued=${c.queued} failed=${c.failed} requests=${c.requests}`;
});
Control.register("rd", () => `${rd?.state ?? "none"} ${rd?.location?.join("/") ?? "-"}`);
Control.register("stop", () => {
  Promise.all([rd ? rd.stop(scheduler.now()) : Promise.resolve(false), telemetry ? telemetry.stop() : Promise.resolve()]).then(([removed]) => {
    Control.emit(`stop removed=${removed}`);
  });
  scheduler.update();
});

log(`fixture node: coap on udp/${port}${telemetry ? `, telemetry to ${config.get("telemetry")}` : ""}${rd ? `, rd at ${config.get("rd")}` : ""}`);
