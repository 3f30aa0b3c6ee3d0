/*
 * Fixture (not a test): the sensor half of the node in a host started with
 * --control. The app's bus from `sensors/bus` (simulated here), the control hook,
 * a DS18B20 and a TemperatureService; every update is printed, as an observer of
 * /temperature would see it. control.test.ts drives it; it is also the shape
 * main.ts follows on the simulator host.
 */
import openBus, { simulatedBus } from "sensors/bus";
import { Ds18b20 } from "sensors/ds18b20";
import { TemperatureService } from "sensors/service";
import { faultDiagnostic, formatText } from "temperature/resource";
import { attachTemperatureControl } from "./sim-control";

attachTemperatureControl(simulatedBus());
const sensor = Ds18b20.open(openBus(), { resolution: 9 });
const service = new TemperatureService({ source: sensor, maxAge: 0, pollInterval: 100 });
service.onChange((update) => {
  trace(update.ok ? `temperature ${formatText(update.reading.celsius)}\n` : `fault ${faultDiagnostic(update.error)}\n`);
});
service.start();
trace("sensor node ready\n");
