/*
 * `host/control`: the simulator's control channel, enabled with --control. Lines
 * written to the host's stdin are handed to the JS handler set with
 * Control.setHandler(fn); Control.emit(text) writes "@text" as one line on stdout.
 * Tests drive simulated hardware through it (pin levels, sensor values) from
 * outside the process, the way a bench supply or a logic probe would. While the
 * channel is open the host stays up, like a device that never returns from main.
 */
#include "host.h"

#define CONTROL_LINE_MAX 1024

static int gStarted = 0;
static int gHasHandler = 0;
static xsSlot gHandler;
static char gLine[CONTROL_LINE_MAX];
static int gLength = 0;
static int gOverflow = 0;

static void controlDispatch(const char* line)
{
	xsMachine* the = hostMachine;
	if (!gHasHandler) {
		printf("@error no handler for: %s\n", line);
		return;
	}
	xsBeginHost(the);
	{
		xsTry {
			xsCallFunction1(gHandler, xsUndefined, xsString(line));
		}
		xsCatch {
			hostReportException(the, "control handler");
		}
	}
	xsEndHost(the);
}

static void onStdin(void* refcon, short revents)
{
	char buffer[512];
	ssize_t n = read(0, buffer, sizeof(buffer));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		hostControlStop();
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		char c = buffer[i];
		if (c == '\n') {
			gLine[gLength] = 0;
			if (gOverflow)
				printf("@error line too long\n");
			else if (gLength && (gLine[gLength - 1] == '\r'))
				gLine[--gLength] = 0;
			if (!gOverflow && gLength)
				controlDispatch(gLine);
			gLength = 0;
			gOverflow = 0;
		}
		else if (gLength < CONTROL_LINE_MAX - 1)
			gLine[gLength++] = c;
		else
			gOverflow = 1;
	}
	hostDrainJobs();
}

void hostControlStart(void)
{
	/* a controlled simulator lives as long as its controller keeps stdin open */
	if (!gStarted && (hostWatch(0, POLLIN, 1, onStdin, NULL) == 0))
		gStarted = 1;
}

void hostControlStop(void)
{
	if (gStarted) {
		hostUnwatch(0);
		gStarted = 0;
	}
}

void xs_control_set_handler(xsMachine* the)
{
	if (gHasHandler) {
		xsForget(gHandler);
		gHasHandler = 0;
	}
	if ((xsmcArgc > 0) && xsmcIsInstanceOf(xsArg(0), xsFunctionPrototype)) {
		gHandler = xsArg(0);
		xsRemember(gHandler);
		gHasHandler = 1;
	}
}

void xs_control_emit(xsMachine* the)
{
	const char* text = xsmcToString(xsArg(0));
	if (strchr(text, '\n'))
		xsRangeError("one line only");
	printf("@%s\n", text);
	fflush(stdout);
}

void xs_control_enabled(xsMachine* the)
{
	xsmcSetBoolean(xsResult, hostControlEnabled);
}
