/*
 * Memory figures of the running device, for the `diagnostics/memory` module: the
 * ESP-IDF heap (free, largest free block, lowest free since boot), the XS machine's
 * own heap (chunks and slots: current, peak; XS takes both from one fixed block, the
 * manifest's creation.static) and its JavaScript stack.
 *
 * The JavaScript stack's high-water mark: XS only tracks it in instrumented builds
 * (txMachine.stackPeak under mxInstrument). markStack() fills the free part of the
 * stack (below the->stack; the stack grows down, the collector only reads what is
 * in use) with a pattern; sample() then counts the slots still holding it from the
 * bottom, so the deepest use since the mark is what the pattern lost.
 */
#include "xsAll.h"
#include "xsmc.h"
#include "xsHost.h"
#include "mc.xs.h"			// xsID_* values

#include <string.h>
#include "esp_heap_caps.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#define kStackPattern 0xA5

static int gStackMarked;

void xs_memory_mark_stack(xsMachine *the)
{
	memset((void *)the->stackBottom, kStackPattern, (char *)the->stack - (char *)the->stackBottom);
	gStackMarked = 1;
}

static int untouchedSlots(xsMachine *the)
{
	const uint8_t *p = (const uint8_t *)the->stackBottom, *end = (const uint8_t *)the->stack;
	while ((p < end) && (*p == kStackPattern))
		p++;
	return (int)((p - (const uint8_t *)the->stackBottom) / sizeof(txSlot));
}

static void set(xsMachine *the, xsIdentifier id, int value)
{
	xsmcSetInteger(xsVar(0), value);
	xsmcSet(xsResult, id, xsVar(0));
}

/* sample(collect): with collect true, a garbage collection first, so chunks and slots are what is alive */
void xs_memory_sample(xsMachine *the)
{
	int stackSlots = (int)(the->stackTop - the->stackBottom);

	if ((xsmcArgc > 0) && xsmcTest(xsArg(0)))
		xsCollectGarbage();
	xsmcVars(1);
	xsmcSetNewObject(xsResult);
	set(the, xsID_heapFree, (int)heap_caps_get_free_size(MALLOC_CAP_8BIT));
	set(the, xsID_heapLargest, (int)heap_caps_get_largest_free_block(MALLOC_CAP_8BIT));
	set(the, xsID_heapLowest, (int)heap_caps_get_minimum_free_size(MALLOC_CAP_8BIT));
	set(the, xsID_chunks, (int)the->currentChunksSize);
	set(the, xsID_chunksPeak, (int)the->peakChunksSize);
	set(the, xsID_slots, (int)(the->currentHeapCount * sizeof(txSlot)));
	set(the, xsID_slotsPeak, (int)(the->peakHeapCount * sizeof(txSlot)));
	set(the, xsID_stackSlots, stackSlots);
	set(the, xsID_stackUsed, (int)(the->stackTop - the->stack));
	if (gStackMarked)
		set(the, xsID_stackPeak, stackSlots - untouchedSlots(the));
	set(the, xsID_taskStackFree, (int)uxTaskGetStackHighWaterMark(NULL));		// bytes: StackType_t is a byte in ESP-IDF
}
