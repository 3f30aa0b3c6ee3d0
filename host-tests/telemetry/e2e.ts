/*
 * Helpers of the telemetry and RD end-to-end tests: the fixture node, libcoap
 * peers, and reading what coap-server-notls received from its debug log (-v 7
 * prints each PDU it receives, the SenML payload as one hex line).
 */
import { cwd } from "host/runtime";
import { Child, startHost } from "../lib/process";
import { fromHex } from "../lib/harness";
import type { TelemetryCounters } from "telemetry/reporter";

/** Starts host-tests/telemetry/node-fixture.ts with key=value arguments; waits until it serves. */
export async function startFixtureNode(args: string[]): Promise<Child> {
  const node = startHost(`${cwd()}/build/ts/host-tests/telemetry/node-fixture.js`, { control: true, args });
  await node.waitFor(/fixture node: coap on udp/, 10000);
  return node;
}

/** Asks the fixture a control command and returns its "@command ..." reply. */
export async function ask(node: Child, command: string, timeout = 5000): Promise<string> {
  const reply = node.waitForNext(new RegExp(`^@${command} (.*)$`, "m"), timeout);
  node.send(`${command}\n`);
  return (await reply)[1];
}

/** The fixture node's reporter counters, read through its control channel ("counters"). */
export async function counters(node: Child): Promise<TelemetryCounters> {
  const text = await ask(node, "counters");
  const out: Record<string, number> = {};
  for (const field of text.split(" ")) {
    const [key, value] = field.split("=");
    out[key] = Number(value);
  }
  return out as unknown as TelemetryCounters;
}

export async function startCollector(port: number): Promise<Child> {
  const server = new Child(["coap-server-notls", "-A", "127.0.0.1", "-p", String(port), "-d", "4", "-v", "7"]);
  await server.waitFor(/created UDP +endpoint/, 5000);
  return server;
}

export interface Received {
  method: string;
  mid: string;
  payload: string;
}

/** Each POST/PUT coap-server-notls received with a payload, in order, duplicates (same Message ID) once. */
export function received(log: string): Received[] {
  const out: Received[] = [];
  const seen = new Set<string>();
  const pattern = /t:(?:CON|NON) c:(POST|PUT) i:([0-9a-f]+) [^\n]*:: binary data length \d+\n<<([0-9a-f]+)>>/g;
  for (const m of log.matchAll(pattern)) {
    if (seen.has(m[2])) continue;
    seen.add(m[2]);
    out.push({ method: m[1], mid: m[2], payload: String.fromArrayBuffer(fromHex(m[3]).buffer as ArrayBuffer) });
  }
  return out;
}

/** The "v" values of SenML packs, in order (the test side may parse JSON: it is not the device). */
export function values(packs: readonly Received[]): number[] {
  const out: number[] = [];
  for (const pack of packs) for (const record of JSON.parse(pack.payload) as { v: number }[]) out.push(record.v);
  return out;
}
