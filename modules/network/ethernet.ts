/*
 * `setup/ethernet`: the network of the `qemu` board. The SDK runs every preloaded
 * `setup/*` module before the application and calls main once each has called
 * `done` (xsHosts.c modRunMachineSetup), as `setup/network` does for Wi-Fi on the
 * real board. This one starts Ethernet with DHCP and calls `done` when the node has
 * an address, or after `ADDRESS_WAIT_MS` without one (the sockets bind to all
 * addresses, so they serve as soon as DHCP answers later).
 *
 * Link and address changes are logged. Nothing is reopened on a change: the node's
 * UDP sockets are bound to all addresses, and lwIP keeps them across link loss and
 * a new lease (the emulator's link test checks that they serve again).
 */
import Timer from "timer";
import { start, type EthernetEvent } from "network/openeth";

/** how long start-up waits for a DHCP lease before the application runs anyway */
export const ADDRESS_WAIT_MS = 20_000;

export default function setupEthernet(done: () => void): void {
  let waiting: Timer | undefined;
  const proceed = () => {
    if (waiting === undefined) return;
    Timer.clear(waiting);
    waiting = undefined;
    done();
  };
  waiting = Timer.set(() => {
    trace(`Ethernet: no address after ${ADDRESS_WAIT_MS / 1000} s; starting anyway\n`);
    proceed();
  }, ADDRESS_WAIT_MS);
  start((event: EthernetEvent, address?: string) => {
    if (event === "address") {
      trace(`Ethernet: IP address ${address}\n`);
      proceed();
    } else trace(`Ethernet: ${event === "lost" ? "address lost" : `link ${event}`}\n`);
  });
}
