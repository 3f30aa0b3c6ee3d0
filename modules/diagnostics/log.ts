/*
 * `setup/memorylog`: when `config.memoryLogPeriod` (ms) is set, logs the device's
 * memory figures (diagnostics/memory) at that period, after a garbage collection (so
 * the XS figures are live data, and a leak shows as growth), one line each:
 *
 *   memory: heap free 201812 largest 114688 lowest 124908; xs chunks 23456/31234 slots 45678/50000; stack 120/768 slots (peak 301); task stack free 3120
 *
 * Off (0) by default; the `qemu` board turns it on for the emulator's measurements.
 * A `setup/*` module: the SDK runs it before the application (see network/ethernet.ts).
 */
import config from "mc/config";
import Timer from "timer";
import { markStack, sample, type MemorySample } from "diagnostics/memory";

export function memoryLine(m: MemorySample): string {
  return `memory: heap free ${m.heapFree} largest ${m.heapLargest} lowest ${m.heapLowest}; xs chunks ${m.chunks}/${m.chunksPeak} slots ${m.slots}/${m.slotsPeak}; stack ${m.stackUsed}/${m.stackSlots} slots (peak ${m.stackPeak ?? "?"}); task stack free ${m.taskStackFree}`;
}

export default function setupMemoryLog(done: () => void): void {
  const period = Number(config.memoryLogPeriod ?? 0);
  if (Number.isInteger(period) && period > 0) {
    markStack();
    Timer.repeat(() => trace(`${memoryLine(sample(true))}\n`), period);
  }
  done();
}
