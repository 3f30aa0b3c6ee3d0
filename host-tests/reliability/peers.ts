/*
 * What the reliability tests share: the node and the lossy proxy as child hosts,
 * coap-client runs, and the node's memory seen from outside.
 */
import { cwd, env } from "host/runtime";
import { Child, coapClient, run, startHost, startNode } from "../lib/process";
import { randomPort } from "../lib/net";

export { startNode, stop } from "../lib/process";
import type { ProxyCounters } from "./proxy";

export const NODE_PORT = 5683;

/** Seed of a test: RELIABILITY_SEED when set (to replay a failure), else from the clock. */
export function testSeed(): number {
  const fixed = env("RELIABILITY_SEED");
  return fixed ? Number(fixed) >>> 0 : (Date.now() ^ 0x5eed) >>> 0;
}

export interface Proxy {
  child: Child;
  port: number;
  stats(): Promise<ProxyCounters & { active: number }>;
}

/** Starts host-tests/reliability/proxy.ts in its own host with these arguments. */
export async function startProxy(args: string[]): Promise<Proxy> {
  const child = startHost(`${cwd()}/build/ts/host-tests/reliability/proxy.js`, { args, control: true });
  const match = await child.waitFor(/proxy: listening on udp[/](\d+)/, 10000);
  return {
    child,
    port: Number(match[1]),
    async stats() {
      // the waiter is set before the request goes out, so the reply cannot be missed
      const reply = child.waitForNext(/^@stats (.*)$/m, 5000);
      child.send("stats\n");
      return JSON.parse((await reply)[1]);
    },
  };
}

export function coap(args: string[], timeout = 30000): Promise<string> {
  return coapClient(args, "coap-client-notls", timeout);
}

/**
 * Resident and data-segment size of a process in KiB, from /proc (the node's memory
 * seen from outside; through cat because /proc files report a size of 0 to readFile).
 * XS preallocates its slot and chunk arenas (about 12 MB here) and touches their pages
 * only as it allocates into them, so RSS climbs through them under any steady load
 * until the collector has gone round once; a real leak grows VmData instead.
 */
export async function memoryKiB(pid: number): Promise<{ rss: number; data: number }> {
  const status = (await run(["cat", `/proc/${pid}/status`])).stdout;
  const field = (name: string) => Number((status.match(new RegExp(`${name}:\\s+(\\d+) kB`)) ?? [])[1]);
  return { rss: field("VmRSS"), data: field("VmData") };
}

export async function residentKiB(pid: number): Promise<number> {
  return (await memoryKiB(pid)).rss;
}

/** The node on a free pair of ports (a collision with another test's node is retried). */
export async function startNodeOnFreePorts(config: Record<string, string | number> = {}): Promise<{ node: Child; coapPort: number; coapsPort: number }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const coapPort = randomPort();
    const coapsPort = coapPort + 1;
    try {
      const node = await startNode(undefined, { coapPort, coapsPort, ...config });
      return { node, coapPort, coapsPort };
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

/**
 * The node's own figures through the simulated board's control command `stats`
 * (host-tests/host/board.ts): "@stats {json}"; undefined if the board is not loaded.
 */
export async function nodeStats(node: Child): Promise<Record<string, number> | undefined> {
  const reply = node.waitForNext(/^@(stats (.*)|error unknown command stats)$/m, 5000);
  node.send("stats\n");
  const match = await reply;
  return match[2] ? JSON.parse(match[2]) : undefined;
}
