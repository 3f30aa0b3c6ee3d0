/*
 * Wires a TelemetryReporter to the TemperatureService (modules/sensors): the
 * periodic report reads through the service (its cache, its fault handling), and
 * every update the service gives its observers is offered to the reporter, which
 * queues it when it moved by the reporter's threshold. A sample reaches the
 * reporter once even when it comes both ways (same `at`). Both must run on
 * the same clock (monotonicNow in main.ts). Faults are not data: they
 * are never queued (the service logs them; the reporter counts failed reads).
 */
import type { TemperatureService } from "sensors/service";
import type { TelemetryReporter } from "./reporter";
import type { TimedReading } from "temperature/senml";

/** The read() option for a reporter fed by `service`. */
export function readFrom(service: TemperatureService): () => Promise<TimedReading> {
  return () => service.read().then((reading) => ({ celsius: reading.celsius, at: reading.at }));
}

/** Offers each good update of `service` to `reporter`; returns the unsubscribe function. */
export function offerChanges(service: TemperatureService, reporter: TelemetryReporter): () => void {
  return service.onChange((update) => {
    if (update.ok) reporter.offer(update.reading.celsius, update.reading.at);
  });
}
