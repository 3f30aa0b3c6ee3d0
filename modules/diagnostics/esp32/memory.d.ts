/* Types of esp32/memory.js. Sizes are bytes unless named slots. */
export interface MemorySample {
  /** ESP-IDF heap: free now, the largest block one allocation can get, the lowest free since boot */
  heapFree: number;
  heapLargest: number;
  heapLowest: number;
  /** XS heap: chunks (strings, buffers, byte code) and slots (objects), now and at their peak */
  chunks: number;
  chunksPeak: number;
  slots: number;
  slotsPeak: number;
  /** JavaScript stack in slots: its size, in use now, the deepest since markStack() (absent before) */
  stackSlots: number;
  stackUsed: number;
  stackPeak?: number;
  /** the XS task's native stack never used so far (FreeRTOS high-water mark) */
  taskStackFree: number;
}

/** With `collect`, a garbage collection runs first: chunks and slots are then the live data. */
export function sample(collect?: boolean): MemorySample;
/** Starts the JavaScript stack's high-water mark from now. */
export function markStack(): void;
