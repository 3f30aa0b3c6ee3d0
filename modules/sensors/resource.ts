/*
 * The /temperature CoAP resource over a TemperatureService: GET answers from the
 * reading cache when it is fresh (piggybacked on the ACK) and after a conversion
 * otherwise (a separate response, RFC 7252 sec 5.2.2); text/plain "21.4375" or
 * SenML JSON (RFC 8428, content-format 110) by Accept (RFC 7252 sec 5.10.4, 4.06
 * for anything else); a sensor fault is a 5.03 with a short diagnostic and Max-Age
 * (sec 5.9.3.4). Observable (RFC 7641): the service decides when to notify.
 */
import { Code } from "coap/numbers";
import type { CoapRequest, CoapResponse, Resource } from "coap/resource";
import { CONTENT_FORMAT_SENML_JSON, CONTENT_FORMAT_TEXT, type TemperatureService, type Update } from "./service";

function respond(service: TemperatureService, update: Update, request: CoapRequest): CoapResponse {
  const rendered = service.render(update, request.accept ?? CONTENT_FORMAT_TEXT, request.notification);
  if (!rendered) return { code: Code.NOT_ACCEPTABLE };
  return {
    code: rendered.fault ? Code.SERVICE_UNAVAILABLE : Code.CONTENT,
    payload: rendered.payload,
    contentFormat: rendered.contentFormat,
    maxAge: rendered.maxAge,
  };
}

export function temperatureResource(service: TemperatureService): Resource {
  return {
    rt: "temperature-c",
    if: "core.s",
    ct: [CONTENT_FORMAT_TEXT, CONTENT_FORMAT_SENML_JSON],
    observable: true,
    produces: [CONTENT_FORMAT_TEXT, CONTENT_FORMAT_SENML_JSON],
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
