/*
 * libcoap's coap-server-openssl as a peer for tests: started on a free port pair
 * (UDP p, DTLS p + 1), for our DTLS client and the CoAPS example.
 */
import UDP from "embedded:io/socket/udp";
import { pid } from "host/runtime";
import { sleep } from "./harness";
import { Child } from "./process";
import { type ClosableUDP } from "./net";

/*
 * A port pair (UDP p, DTLS p + 1) that is free right now. The host's Math.random repeats
 * from run to run, so the process id is mixed in: test runs going on at the same time
 * on this machine must not meet on one port.
 */
function freePortPair(attempt: number): number {
  const offset = (pid() * 7919 + attempt * 104729 + Math.floor(Math.random() * 40000)) % 40000;
  const port = (20000 + offset) & ~1;
  const probes: ClosableUDP[] = [];
  try {
    for (const p of [port, port + 1]) probes.push(new UDP({ address: "127.0.0.1", port: p, onReadable() {} } as ConstructorParameters<typeof UDP>[0]) as ClosableUDP);
    return port;
  } catch {
    return -1;
  } finally {
    for (const probe of probes) probe.close();
  }
}

/** coap-server-openssl with `args` (e.g. ["-k", KEY, "-h", "CoAP"]); `port` is its DTLS port. */
export async function startLibcoapServer(args: string[]): Promise<{ child: Child; port: number }> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const port = freePortPair(attempt);
    if (port < 0) continue;
    const server = new Child(["coap-server-openssl", "-A", "127.0.0.1", "-p", String(port), "-v", "4", ...args]);
    await sleep(300); // no readiness line at this verbosity; a late bind costs one 1 s retransmission at most
    if (!server.finished && !/bind|in use/i.test(server.stderr + server.stdout)) return { child: server, port: port + 1 };
    server.kill();
    await server.wait();
  }
  throw new Error("coap-server-openssl did not start");
}

