/*
 * What the reliability tests share: the node and the lossy proxy as child hosts,
 * coap-client runs, and the node's memory seen from outside.
 */
import { cwd, env } from "host/runtime";
import { Child, coapClient, run, startHost } from "../lib/process";

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
 * Resident set size of a process in KiB, from /proc (the node's memory seen from
 * outside); through cat because /proc files report a size of 0 to readFile.
 */
export async function residentKiB(pid: number): Promise<number> {
  const status = (await run(["cat", `/proc/${pid}/status`])).stdout;
  const match = status.match(/VmRSS:\s+(\d+) kB/);
  return match ? Number(match[1]) : NaN;
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
