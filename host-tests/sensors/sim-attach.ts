/*
 * Side-effect module: puts the `temp` control command on the shared simulated bus
 * of `sensors/bus`. The host preloads it before main.ts (--preload), so the
 * command exists whatever main.ts does at start-up.
 */
import { simulatedBus } from "sensors/bus";
import { attachTemperatureControl } from "./sim-control";

attachTemperatureControl(simulatedBus());
