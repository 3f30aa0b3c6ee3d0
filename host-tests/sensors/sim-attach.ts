/*
 * Side-effect module: puts the `temp` control command on the shared simulated bus
 * of `sensors/bus`. The host loads it before main.ts (--board), so the
 * command exists whatever main.ts does at start-up.
 */
import { simulatedBus } from "sensors/bus";
import { attachTemperatureControl } from "./sim-control";

attachTemperatureControl(simulatedBus());
