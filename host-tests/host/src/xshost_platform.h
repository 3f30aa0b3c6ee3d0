/*
 * Platform header of the headless simulator host (XSPLATFORM): tells the XS engine
 * what machine it runs on (64-bit little-endian Linux) and which platform hooks the
 * host leaves to the engine's defaults. Everything else lives in platform.c.
 */
#ifndef XSHOST_PLATFORM_H
#define XSHOST_PLATFORM_H

#if !defined(__GNUC__) || !defined(__linux__)
	#error the simulator host builds on Linux with gcc or clang
#endif

#undef mxLittleEndian
#define mxLittleEndian 1
#undef mxLinux
#define mxLinux 1
#define mxExport extern
#define mxImport extern
#define XS_FUNCTION_NORETURN __attribute__((noreturn))

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>


/* per-machine state the host keeps inside the XS machine */
#define mxMachinePlatform \
	int promiseJobs; \
	void* host;

#define mxUseDefaultMachinePlatform 0
#define mxUseDefaultBuildKeys 1
#define mxUseDefaultChunkAllocation 1
#define mxUseDefaultSlotAllocation 1
#define mxUseDefaultParseScript 1
#define mxUseDefaultDebug 1
#define mxUseDefaultSharedChunks 1

#if INTPTR_MAX == INT64_MAX
	#define mx32bitID 1
#endif

#endif
