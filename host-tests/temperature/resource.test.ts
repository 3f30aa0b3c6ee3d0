/* The /temperature resource's side: representations, Max-Age, 4.06 and 5.03 (the sensor service knows no CoAP). */
import { Code, ContentFormat } from "coap/numbers";
import { CrcError, NoPresenceError } from "sensors/errors";
import { TemperatureService, type TemperatureSource } from "sensors/service";
import { faultDiagnostic, formatText, representation, temperatureResponse } from "temperature/resource";
import { FakeClock } from "../lib/clock";
import { test, assert } from "../lib/harness";

class FakeSource implements TemperatureSource {
  value: number | Error = 21.4375;
  read(): Promise<number> {
    const value = this.value;
    return value instanceof Error ? Promise.reject(value) : Promise.resolve(value);
  }
}

function setup(options: { maxAge?: number } = {}) {
  const clock = new FakeClock(1_000_000);
  const source = new FakeSource();
  const service = new TemperatureService({ source, now: () => clock.now, ...options });
  return { clock, source, service };
}

test("representations: text, SenML JSON (110), unknown format, fault diagnostic", () => {
  assert.equal(formatText(21.4375), "21.4375");
  assert.equal(formatText(-0.5), "-0.5");
  assert.equal(formatText(-0), "0");
  assert.equal(formatText(-55), "-55");
  assert.equal(representation({ celsius: 21.4375, at: 0 }, ContentFormat.SENML_JSON), '[{"n":"temperature","u":"Cel","v":21.4375}]');
  assert.equal(representation({ celsius: -10.125, at: 0 }, ContentFormat.SENML_JSON), '[{"n":"temperature","u":"Cel","v":-10.125}]');
  const reading = { celsius: 21.4375, at: 0 };
  assert.equal(representation(reading, ContentFormat.TEXT_PLAIN), "21.4375");
  assert.equal(representation(reading), "21.4375");
  assert.equal(representation(reading, ContentFormat.SENML_JSON), '[{"n":"temperature","u":"Cel","v":21.4375}]');
  assert.equal(representation(reading, 50), undefined);
  assert.equal(faultDiagnostic(new NoPresenceError()), "sensor fault no-presence: no presence pulse");
  assert.equal(faultDiagnostic(new CrcError("scratchpad", new Uint8Array(9))), "sensor fault crc-mismatch: scratchpad crc mismatch");
  assert.equal(faultDiagnostic(new TypeError("x")), "sensor fault internal");
  assert.ok(faultDiagnostic(new NoPresenceError("x".repeat(200))).length <= 64);
});

test("temperatureResponse(): 2.05 with payload, content-format and Max-Age for a GET and a notification, 4.06, 5.03 for a fault", async () => {
  const { source, service, clock } = setup({ maxAge: 2000 });
  const update = await service.update();
  assert.deepEqual(temperatureResponse(service, update), { code: Code.CONTENT, payload: "21.4375", contentFormat: ContentFormat.TEXT_PLAIN, maxAge: 2 });
  assert.deepEqual(temperatureResponse(service, update, ContentFormat.SENML_JSON, true), {
    code: Code.CONTENT,
    payload: '[{"n":"temperature","u":"Cel","v":21.4375}]',
    contentFormat: ContentFormat.SENML_JSON,
    maxAge: 60,
  });
  assert.deepEqual(temperatureResponse(service, update, 41), { code: Code.NOT_ACCEPTABLE }, "an unsupported Accept");
  clock.now += 2000;
  source.value = new NoPresenceError();
  const fault = await service.update();
  assert.equal(fault.ok, false);
  assert.deepEqual(temperatureResponse(service, fault, ContentFormat.SENML_JSON), {
    code: Code.SERVICE_UNAVAILABLE,
    payload: "sensor fault no-presence: no presence pulse",
    contentFormat: ContentFormat.TEXT_PLAIN,
    maxAge: 10,
  });
});
