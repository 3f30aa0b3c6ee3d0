/*
 * The headless simulator host: one XS machine, one poll() run loop over fd watches
 * and timers, signals through a signalfd. Runs a module the way a Moddable device
 * runs its "main" (import it; call its default export when that is a function) and
 * exits when nothing is left to wait for, on SIGINT/SIGTERM, or on request.
 *
 *   xshost [-I root]... [--data DIR] [--control] [--preload MODULE]... [--board MODULE]...
 *          [--config KEY=VALUE]... [--stack SLOTS] MODULE [ARG]...
 *
 * --preload names a module the manifest preloads: it runs first, as the SDK's linker
 * runs it on the build machine (no native code), and what it leaves is frozen as
 * the linker freezes it (sdk_runtime.c).
 * --board imports a module before MODULE at run time: the simulator's "board" (a
 * simulated sensor driven from the control channel, say) without the app knowing of it.
 * --config overrides a key of `mc/config` with a string, as mcconfig's KEY=VALUE does.
 * --stack sets the JS stack in slots (the manifest's creation.stack on the device).
 *
 * Exit status: the requested one, else 1 when an exception or rejection went
 * uncaught, else 0.
 */
#include "host.h"
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <sys/signalfd.h>

xsMachine* hostMachine = NULL;
int hostArgc = 0;
char** hostArgv = NULL;
const char* hostDataDirectory = NULL;
int hostControlEnabled = 0;
char hostExecutable[PATH_MAX];
int hostRootCount = 0;
const char* hostRoots[HOST_MAX_ROOTS];

#define HOST_MAX_CONFIG 32
const char* hostConfigOverrides[HOST_MAX_CONFIG];
int hostConfigOverrideCount = 0;

const char* hostPreloads[HOST_MAX_PRELOADS];
int hostPreloadCount = 0;
#define HOST_MAX_BOARDS 8
static const char* gBoards[HOST_MAX_BOARDS];
static int gBoardCount = 0;

static int gExitRequested = 0;
static int gExitStatus = 0;

/* an orderly shutdown: a JS handler runs on SIGINT/SIGTERM and has this long to call exit() */
#define HOST_SHUTDOWN_GRACE_MS 3000
static int gHasShutdownHandler = 0;
static xsSlot gShutdownHandler;
static double gShutdownDeadline = 0;

void hostSetShutdownHandler(xsMachine* the, xsSlot* handler)
{
	if (gHasShutdownHandler)
		xsForget(gShutdownHandler);
	gHasShutdownHandler = 0;
	if (handler && xsmcIsInstanceOf(*handler, xsFunctionPrototype)) {
		gShutdownHandler = *handler;
		xsRemember(gShutdownHandler);
		gHasShutdownHandler = 1;
	}
}

/* true when the loop must end now; false while a shutdown handler still has time */
static int shutdownDue(void)
{
	xsMachine* the = hostMachine;
	if (!gHasShutdownHandler)
		return 1;
	if (gShutdownDeadline == 0) {
		gShutdownDeadline = hostNow() + HOST_SHUTDOWN_GRACE_MS;
		xsBeginHost(the);
		{
			xsTry {
				xsCallFunction0(gShutdownHandler, xsUndefined);
			}
			xsCatch {
				hostReportException(the, "shutdown handler");
			}
		}
		xsEndHost(the);
		return 0;
	}
	return hostNow() >= gShutdownDeadline;
}

void hostRequestExit(int status)
{
	gExitRequested = 1;
	gExitStatus = status;
}

double hostNow(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec * 1000.0) + ((double)ts.tv_nsec / 1000000.0);
}

/* ---- fd watches ---- */

#define HOST_MAX_WATCHES 1024

typedef struct {
	int fd;
	short events;
	int keepAlive;
	hostWatchCallback callback;
	void* refcon;
} hostWatchRecord;

static hostWatchRecord gWatches[HOST_MAX_WATCHES];
static int gWatchCount = 0;

int hostWatch(int fd, short events, int keepAlive, hostWatchCallback callback, void* refcon)
{
	if (gWatchCount >= HOST_MAX_WATCHES)
		return -1;
	gWatches[gWatchCount].fd = fd;
	gWatches[gWatchCount].events = events;
	gWatches[gWatchCount].keepAlive = keepAlive;
	gWatches[gWatchCount].callback = callback;
	gWatches[gWatchCount].refcon = refcon;
	gWatchCount++;
	return 0;
}

void hostWatchEvents(int fd, short events)
{
	for (int i = 0; i < gWatchCount; i++)
		if (gWatches[i].fd == fd)
			gWatches[i].events = events;
}

void hostUnwatch(int fd)
{
	for (int i = 0; i < gWatchCount; i++) {
		if (gWatches[i].fd == fd) {
			gWatches[i] = gWatches[gWatchCount - 1];
			gWatchCount--;
			return;
		}
	}
}

/* ---- timers: a list sorted by deadline ---- */

struct hostTimerRecord {
	hostTimerRecord* next;
	double when;
	int armed;
	hostTimerCallback callback;
	void* refcon;
};

static hostTimerRecord* gTimers = NULL;

hostTimerRecord* hostTimerNew(hostTimerCallback callback, void* refcon)
{
	hostTimerRecord* timer = calloc(1, sizeof(hostTimerRecord));
	if (timer) {
		timer->callback = callback;
		timer->refcon = refcon;
	}
	return timer;
}

void hostTimerDisarm(hostTimerRecord* timer)
{
	hostTimerRecord** address = &gTimers;
	if (!timer->armed)
		return;
	while (*address) {
		if (*address == timer) {
			*address = timer->next;
			break;
		}
		address = &(*address)->next;
	}
	timer->next = NULL;
	timer->armed = 0;
}

void hostTimerArm(hostTimerRecord* timer, double when)
{
	hostTimerRecord** address = &gTimers;
	hostTimerDisarm(timer);
	timer->when = when;
	/* equal deadlines fire in the order they were armed */
	while (*address && ((*address)->when <= when))
		address = &(*address)->next;
	timer->next = *address;
	*address = timer;
	timer->armed = 1;
}

void hostTimerDelete(hostTimerRecord* timer)
{
	if (timer) {
		hostTimerDisarm(timer);
		free(timer);
	}
}

/* ---- the loop ---- */

static int gSignalFd = -1;
static int gStopSignal = 0;

static void onSignal(void* refcon, short revents)
{
	struct signalfd_siginfo info;
	while (read(gSignalFd, &info, sizeof(info)) == sizeof(info)) {
		if (info.ssi_signo == SIGCHLD)
			hostReapChildren();
		else
			gStopSignal = (int)info.ssi_signo;
	}
}

static int somethingAlive(void)
{
	if (gTimers || hostChildrenAlive())
		return 1;
	for (int i = 0; i < gWatchCount; i++)
		if (gWatches[i].keepAlive)
			return 1;
	return 0;
}

static void runLoop(void)
{
	struct pollfd fds[HOST_MAX_WATCHES];
	hostWatchRecord ready[HOST_MAX_WATCHES];
	for (;;) {
		double now;
		int timeout, count;
		hostDrainJobs();
		if (gExitRequested || (gStopSignal && shutdownDue()))
			return;
		now = hostNow();
		if (gTimers && (gTimers->when <= now)) {
			/* one timer per turn, so promise jobs it queues run before the next one */
			hostTimerRecord* timer = gTimers;
			hostTimerDisarm(timer);
			timer->callback(timer->refcon);
			hostDrainJobs();
			/* what the turn wrote goes out now, not after the turns that follow it (mod_udp.c) */
			hostFlushOutput();
			continue;
		}
		if (!somethingAlive())
			return;
		if (gTimers) {
			double wait = ceil(gTimers->when - now);
			timeout = (wait > 60000) ? 60000 : (int)wait;
		}
		else
			timeout = -1;
		if (gShutdownDeadline > 0) {
			int grace = (int)ceil(gShutdownDeadline - now);
			if ((timeout < 0) || (grace < timeout))
				timeout = (grace < 0) ? 0 : grace;
		}
		for (int i = 0; i < gWatchCount; i++) {
			fds[i].fd = gWatches[i].fd;
			fds[i].events = gWatches[i].events;
			fds[i].revents = 0;
		}
		count = gWatchCount;
		/* anything written outside a turn (the start) goes out before waiting */
		hostFlushOutput();
		if (poll(fds, count, timeout) < 0) {
			if (errno == EINTR)
				continue;
			perror("poll");
			hostRequestExit(70);
			return;
		}
		/* callbacks may add or remove watches: act on a snapshot, re-checking each fd is still watched */
		int readyCount = 0;
		for (int i = 0; i < count; i++) {
			if (fds[i].revents) {
				ready[readyCount] = gWatches[i];
				ready[readyCount].events = fds[i].revents;
				readyCount++;
			}
		}
		for (int i = 0; i < readyCount; i++) {
			int still = 0;
			for (int j = 0; j < gWatchCount; j++)
				if ((gWatches[j].fd == ready[i].fd) && (gWatches[j].refcon == ready[i].refcon))
					still = 1;
			if (still) {
				ready[i].callback(ready[i].refcon, ready[i].events);
				hostDrainJobs();
				hostFlushOutput();
			}
		}
	}
}

/* ---- globals every Moddable app has: trace() ---- */

static void xs_trace(xsMachine* the)
{
	int argc = xsmcArgc;
	for (int i = 0; i < argc; i++) {
		const char* text = xsmcToString(xsArg(i));
		fputs(text, stdout);
	}
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr, "usage: xshost [-I root]... [--data DIR] [--control] [--preload MODULE]... [--board MODULE]... [--config KEY=VALUE]... [--stack SLOTS] MODULE [ARG]...\n");
	exit(64);
}

static void runMain(xsMachine* the, const char* specifier)
{
	xsBeginHost(the);
	{
		xsmcVars(2);
		xsTry {
			xsVar(0) = xsNewHostFunction(xs_trace, 0);
			xsmcSet(xsGlobal, xsID("trace"), xsVar(0));
			hostFreezeBuiltIns(the);
			hostPreload(the, hostPreloads, hostPreloadCount);
			for (int i = 0; i < gBoardCount; i++)
				xsAwaitImport(gBoards[i], 0);
			/* import the module, then call its default export if it is a function */
			xsVar(0) = xsString(specifier);
			xsVar(1) = xsAwaitImport(specifier, XS_IMPORT_DEFAULT);
			if (xsmcTest(xsVar(1)) && xsmcIsInstanceOf(xsVar(1), xsFunctionPrototype))
				xsCallFunction0(xsVar(1), xsUndefined);
		}
		xsCatch {
			hostReportException(the, specifier);
		}
	}
	xsEndHost(the);
}

int main(int argc, char* argv[])
{
	xsCreation creation = {
		4 * 1024 * 1024,	/* initialChunkSize */
		1024 * 1024,		/* incrementalChunkSize */
		256 * 1024,			/* initialHeapCount */
		64 * 1024,			/* incrementalHeapCount */
		8192,				/* stackCount */
		32 * 1024,			/* initialKeyCount */
		8 * 1024,			/* incrementalKeyCount */
		1993,				/* nameModulo */
		127,				/* symbolModulo */
		256 * 1024,			/* parserBufferSize */
		1993,				/* parserTableModulo */
	};
	sigset_t mask;
	int argi = 1;
	const char* specifier;
	int status;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!realpath("/proc/self/exe", hostExecutable))
		snprintf(hostExecutable, sizeof(hostExecutable), "%s", argv[0]);
	while (argi < argc) {
		if (!strcmp(argv[argi], "-I") && (argi + 1 < argc)) {
			if (hostRootCount == HOST_MAX_ROOTS)
				usage();
			hostRoots[hostRootCount++] = argv[argi + 1];
			argi += 2;
		}
		else if (!strcmp(argv[argi], "--data") && (argi + 1 < argc)) {
			hostDataDirectory = argv[argi + 1];
			argi += 2;
		}
		else if (!strcmp(argv[argi], "--preload") && (argi + 1 < argc)) {
			if (hostPreloadCount == HOST_MAX_PRELOADS)
				usage();
			hostPreloads[hostPreloadCount++] = argv[argi + 1];
			argi += 2;
		}
		else if (!strcmp(argv[argi], "--board") && (argi + 1 < argc)) {
			if (gBoardCount == HOST_MAX_BOARDS)
				usage();
			gBoards[gBoardCount++] = argv[argi + 1];
			argi += 2;
		}
		else if (!strcmp(argv[argi], "--config") && (argi + 1 < argc)) {
			if ((hostConfigOverrideCount == HOST_MAX_CONFIG) || !strchr(argv[argi + 1], '='))
				usage();
			hostConfigOverrides[hostConfigOverrideCount++] = argv[argi + 1];
			argi += 2;
		}
		else if (!strcmp(argv[argi], "--stack") && (argi + 1 < argc)) {
			int slots = atoi(argv[argi + 1]);
			if ((slots < 128) || (slots > 65536))
				usage();
			creation.stackCount = slots;
			argi += 2;
		}
		else if (!strcmp(argv[argi], "--control")) {
			hostControlEnabled = 1;
			argi++;
		}
		else if (!strcmp(argv[argi], "--")) {
			argi++;
			break;
		}
		else if (argv[argi][0] == '-')
			usage();
		else
			break;
	}
	if (argi >= argc)
		usage();
	specifier = argv[argi];
	/* a path on the command line is taken from the current folder; anything else is a module specifier */
	if (!strncmp(specifier, "./", 2) || !strncmp(specifier, "../", 3)) {
		static char absolute[PATH_MAX];
		if (!realpath(specifier, absolute)) {
			fprintf(stderr, "xshost: %s: %s\n", specifier, strerror(errno));
			return 66;
		}
		specifier = absolute;
	}
	hostArgc = argc - argi - 1;
	hostArgv = argv + argi + 1;

	/* SIGINT, SIGTERM and SIGCHLD arrive through the loop; children get the default mask back */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	gSignalFd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (gSignalFd < 0) {
		perror("signalfd");
		return 70;
	}
	hostWatch(gSignalFd, POLLIN, 0, onSignal, NULL);

	hostMachine = xsCreateMachine(&creation, "xshost", NULL);
	if (!hostMachine) {
		fprintf(stderr, "xshost: cannot create the XS machine\n");
		return 70;
	}
	if (hostControlEnabled)
		hostControlStart();
	runMain(hostMachine, specifier);
	runLoop();
	/* datagrams written in the last turn */
	hostFlushOutput();

	hostControlStop();
	hostKillChildren();
	hostRemoveTemporaryDirectories();
	/* rejections nobody handled by now are reported before leaving */
	hostCheckRejectionsAtExit();
	status = gExitRequested ? gExitStatus : (hostErrorCount() ? 1 : 0);
	if (!gExitRequested && gStopSignal && !hostErrorCount())
		status = 0;
	xsDeleteMachine(hostMachine);
	fflush(stdout);
	fflush(stderr);
	return status;
}
