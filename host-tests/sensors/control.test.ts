/* The simulated sensor of a running node, driven from outside through the control channel. */
import { cwd } from "host/runtime";
import { SimulatedBus } from "sensors/sim-bus";
import { test, assert } from "../lib/harness";
import { startHost } from "../lib/process";
import { temperatureCommand } from "./sim-control";

test("temp commands parse and act on the simulated bus", () => {
  const bus = new SimulatedBus();
  const a = bus.addDevice();
  assert.equal(temperatureCommand(bus, []), "21.4375");
  assert.equal(temperatureCommand(bus, ["-3.3"]), "-3.3125", "rounded to 1/16 degC like the device");
  assert.equal(temperatureCommand(bus, ["200"]), "125");
  const b = bus.addDevice();
  assert.equal(temperatureCommand(bus, [b.romHex, "7.5"]), "7.5");
  assert.equal(a.temperature, 125);
  assert.equal(temperatureCommand(bus, []), `${a.romHex}=125 ${b.romHex}=7.5`);
  assert.equal(temperatureCommand(bus, ["stuck"]), "stuck");
  assert.ok(bus.stuckLow);
  assert.throws(() => temperatureCommand(bus, ["warm"]), /not a temperature/);
  assert.throws(() => temperatureCommand(bus, ["28ffffffffffffff", "1"]), /no sensor/);
});

test("a running node: temp 23.5 changes the reading, absent gives a fault, present recovers", async () => {
  const host = startHost(`${cwd()}/build/ts/host-tests/sensors/sim-node.js`, { control: true });
  try {
    await host.waitFor(/sensor node ready/);
    await host.waitFor(/^temperature 21\.0$|^temperature 21$/m, 3000); // 21.4375 at 9 bit
    let next = host.waitForNext(/^temperature 23\.5$/m, 3000);
    host.send("temp 23.5\n");
    await host.waitFor(/^@temp 23\.5$/m);
    await next;
    next = host.waitForNext(/^fault sensor fault no-presence/m, 3000);
    host.send("temp absent\n");
    await next;
    next = host.waitForNext(/^temperature 23\.5$/m, 3000);
    host.send("temp present\n");
    await next;
    next = host.waitForNext(/^fault sensor fault power-on-value/m, 3000);
    host.send("temp brownout\n");
    await next;
    next = host.waitForNext(/^temperature -10\.5$/m, 3000);
    host.send("temp -10.125\n");
    await next;
  } finally {
    host.kill();
    const result = await host.wait();
    assert.equal(result.status, 0, result.stderr);
  }
});
