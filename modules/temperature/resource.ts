/*
 * The /temperature CoAP resource over a TemperatureService (modules/sensors, which
 * knows no CoAP): GET answers from the reading cache when it is fresh (piggybacked
 * on the ACK) and after a conversion otherwise (a separate response, RFC 7252 sec
 * 5.2.2); text/plain "21.4375" or SenML JSON (RFC 8428, content-format 110) by
 * Accept (RFC 7252 sec 5.10.4, 4.06 for anything else); Max-Age (sec 5.10.5): a GET
 * answer is fresh for the service's cache time, a notification until the next one
 * comes at the latest (RFC 7641 sec 4.3.1); a sensor fault is a 5.03 with a short
 * diagnostic and a short Max-Age (sec 5.9.3.4). Observable (RFC 7641): the service
 * decides when to notify.
 */
import { Code, ContentFormat } from "coap/numbers";
import type { CoapRequest, CoapResponse, Resource } from "coap/resource";
import { SensorError } from "sensors/errors";
import type { Reading, TemperatureService, Update } from "sensors/service";
import { formatRecord } from "./senml";

/** Max-Age (s) of a 5.03 fault answer: a client retries soon, not after the default 60 s */
export const FAULT_MAX_AGE = 10;
/** diagnostic payloads stay short (RFC 7252 sec 5.5.2: a human-readable diagnostic) */
export const MAX_DIAGNOSTIC_LENGTH = 64;

const PRODUCES: readonly number[] = Object.freeze([ContentFormat.TEXT_PLAIN, ContentFormat.SENML_JSON]);

/** "21.4375", "-0.5", "0": exact, since every DS18B20 value is a multiple of 1/16. */
export function formatText(celsius: number): string {
  return String(celsius === 0 ? 0 : celsius);
}

/** The payload for an accepted content-format, or undefined (the server answers 4.06). */
export function representation(reading: Reading, contentFormat: number = ContentFormat.TEXT_PLAIN): string | undefined {
  if (contentFormat === ContentFormat.TEXT_PLAIN) return formatText(reading.celsius);
  if (contentFormat === ContentFormat.SENML_JSON) return `[${formatRecord({ celsius: reading.celsius, at: 0 }, 0)}]`;
  return undefined;
}

/** Short diagnostic for a 5.03 payload: "sensor fault crc-mismatch: scratchpad crc mismatch". */
export function faultDiagnostic(error: unknown): string {
  const text = error instanceof SensorError ? `sensor fault ${error.code}: ${error.message}` : "sensor fault internal";
  return text.length > MAX_DIAGNOSTIC_LENGTH ? text.slice(0, MAX_DIAGNOSTIC_LENGTH) : text;
}

/** The response for an update, as a GET answer or (notification) as an Observe notification. */
export function temperatureResponse(service: TemperatureService, update: Update, accept: number = ContentFormat.TEXT_PLAIN, notification = false): CoapResponse {
  if (!update.ok) return { code: Code.SERVICE_UNAVAILABLE, payload: faultDiagnostic(update.error), contentFormat: ContentFormat.TEXT_PLAIN, maxAge: FAULT_MAX_AGE };
  const payload = representation(update.reading, accept);
  if (payload === undefined) return { code: Code.NOT_ACCEPTABLE };
  return { code: Code.CONTENT, payload, contentFormat: accept, maxAge: Math.ceil((notification ? service.maxInterval : service.maxAge) / 1000) };
}

function respond(service: TemperatureService, update: Update, request: CoapRequest): CoapResponse {
  return temperatureResponse(service, update, request.accept ?? ContentFormat.TEXT_PLAIN, request.notification);
}

export function temperatureResource(service: TemperatureService): Resource {
  return {
    rt: "temperature-c",
    if: "core.s",
    ct: PRODUCES,
    observable: true,
    produces: PRODUCES,
    get: (request) => {
      const ready = request.notification ? service.latest : service.fresh;
      if (ready) return respond(service, ready, request);
      // the bus work starts from a promise job, not from deep inside the datagram's call chain:
      // the device's JS stack (manifest creation.stack) is small
      return Promise.resolve()
        .then(() => service.update())
        .then((update) => respond(service, update, request));
    },
  };
}
