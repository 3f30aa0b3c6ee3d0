/*
 * Socket helpers for tests: ECMA-419 sockets have no way to ask the bound port, so
 * tests bind to a random high port and retry on collision.
 */
import UDP from "embedded:io/socket/udp";
import { pid } from "host/runtime";

type UDPOptions = ConstructorParameters<typeof UDP>[0];

/** ECMA-419 sockets have close(); @moddable/typings 5.6.0 leaves it out. */
export type ClosableUDP = UDP & { close(): void };

/* the engine's Math.random starts from the same seed in every process: the process id spreads concurrent runs apart */
const spread = (pid() * 7919) % 40000;

export function randomPort(): number {
  return 20000 + ((Math.floor(Math.random() * 40000) + spread) % 40000);
}

export function openUDP(options: Omit<UDPOptions, "port">): { socket: ClosableUDP; port: number } {
  let lastError: unknown;
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = randomPort();
    try {
      return { socket: new UDP({ ...options, port } as UDPOptions) as ClosableUDP, port };
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}
