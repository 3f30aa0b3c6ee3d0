/*
 * The DTLS fixture host (fixture-server.ts) as the peer tests start it: its port, its
 * DtlsServer's stats through the control channel, and its stop.
 */
import { cwd } from "host/runtime";
import { startHost, type Child } from "../lib/process";

export interface Fixture {
  host: Child;
  port: number;
  stats(): Promise<Record<string, number | boolean>>;
  stop(): Promise<void>;
}

/** Starts fixture-server.ts with its positional arguments (see its header). */
export async function startFixture(args: string[] = []): Promise<Fixture> {
  const host = startHost(`${cwd()}/build/ts/host-tests/dtls/fixture-server.js`, { control: true, args });
  const port = Number((await host.waitFor(/dtls-fixture port (\d+)/, 5000))[1]);
  return {
    host,
    port,
    async stats() {
      const reply = host.waitForNext(/^@stats (\{.*\})$/m);
      host.send("stats\n");
      return JSON.parse((await reply)[1]);
    },
    async stop() {
      host.kill();
      await host.wait();
    },
  };
}
