/*
 * `host/meter`: the heap held by Mbed TLS and by the project's native modules, for
 * tests and benchmarks only.
 *
 * Nothing is replaced and nothing in modules/ measures: the host links Mbed TLS
 * statically, and its build renames the `calloc`/`free` references of those archives
 * and of the native modules' objects to the two functions below (objcopy
 * --redefine-sym, host-tests/host/Makefile). The process's own allocator, XS's heap
 * and every other caller are untouched; the same sources go to the device unchanged.
 * A block counts with the allocator's usable size, so a free subtracts exactly what
 * its calloc added.
 */
#include "host.h"
#include <malloc.h>

static size_t gLiveBytes = 0;
static size_t gLiveBlocks = 0;
static size_t gPeakBytes = 0;
static double gAllocations = 0;

void* hostMeterCalloc(size_t count, size_t size)
{
	void* p = calloc(count, size);
	if (p) {
		gLiveBytes += malloc_usable_size(p);
		gLiveBlocks++;
		gAllocations++;
		if (gLiveBytes > gPeakBytes)
			gPeakBytes = gLiveBytes;
	}
	return p;
}

void hostMeterFree(void* p)
{
	if (p) {
		gLiveBytes -= malloc_usable_size(p);
		gLiveBlocks--;
		free(p);
	}
}

/* native() -> { bytes, blocks, peak, allocations }; peak restarts from the live figure on resetPeak() */
void xs_meter_native(xsMachine* the)
{
	xsmcVars(1);
	xsmcSetNewObject(xsResult);
	xsmcSetNumber(xsVar(0), (double)gLiveBytes);
	xsmcSet(xsResult, xsID("bytes"), xsVar(0));
	xsmcSetNumber(xsVar(0), (double)gLiveBlocks);
	xsmcSet(xsResult, xsID("blocks"), xsVar(0));
	xsmcSetNumber(xsVar(0), (double)gPeakBytes);
	xsmcSet(xsResult, xsID("peak"), xsVar(0));
	xsmcSetNumber(xsVar(0), gAllocations);
	xsmcSet(xsResult, xsID("allocations"), xsVar(0));
}

void xs_meter_reset_peak(xsMachine* the)
{
	gPeakBytes = gLiveBytes;
}

/*
 * Instruction counts of a stretch of JavaScript, for benchmarks run under valgrind's
 * callgrind (host-tests/bench/stages.ts): zero the counters, run the stretch, dump
 * them with a label. Outside callgrind (or without valgrind's headers) both do nothing.
 */
#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HOST_CALLGRIND 1
#endif
#endif

void xs_meter_callgrind_zero(xsMachine* the)
{
#ifdef HOST_CALLGRIND
	CALLGRIND_ZERO_STATS;
#endif
}

void xs_meter_callgrind_dump(xsMachine* the)
{
#ifdef HOST_CALLGRIND
	CALLGRIND_DUMP_STATS_AT(xsmcToString(xsArg(0)));
#endif
}

/* under callgrind started with --collect-atstart=no: count only between two toggles */
void xs_meter_callgrind_toggle(xsMachine* the)
{
#ifdef HOST_CALLGRIND
	CALLGRIND_TOGGLE_COLLECT;
#endif
}
