/*
 * The simulated board, loaded by the host before main (`--board
 * host-tests/host/board`, as `npm start` and the tests do): a DS18B20 on the
 * simulated 1-Wire bus driven by "temp ..." commands, the GPIO pins ("pin ..."),
 * and "stats", which answers main.ts's cache sizes and sessions as JSON plus the
 * XS heap and the native heap (Mbed TLS and the binding, host/meter) in bytes; on SIGINT/SIGTERM, main.ts's orderly shutdown (leave the RD,
 * stop telemetry) before the host exits. None of this is in the device build.
 */
import Control from "host/control";
import { exit, gc, heapBytes, onShutdown } from "host/runtime";
import { native } from "host/meter";
import "../sensors/sim-attach";

Control.register("stats", () => {
  void import("main").then((app: { stats?: () => object | undefined }) => {
    gc();
    Control.emit(`stats ${JSON.stringify({ ...(app.stats?.() ?? {}), heap: heapBytes(), nativeHeap: native().bytes })}`);
  });
});

onShutdown(() => {
  void import("main")
    .then((app: { shutdown?: () => Promise<void> }) => app.shutdown?.())
    .then(
      () => exit(0),
      (error: unknown) => {
        trace(`shutdown failed: ${String(error)}\n`);
        exit(1);
      },
    );
});
