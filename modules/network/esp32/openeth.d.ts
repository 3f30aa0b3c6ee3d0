/* Types of esp32/openeth.js. */

/** What the Ethernet interface did: link "up"/"down", an IPv4 "address" got (with it) or "lost". */
export type EthernetEvent = "up" | "down" | "address" | "lost";

/** Starts the driver and DHCP once; `callback` then runs on the JavaScript task for each event. */
export function start(callback: (event: EthernetEvent, address?: string) => void): void;
