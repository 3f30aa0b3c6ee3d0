/*
 * The simulator host's internal interface: the poll() run loop with its fd watches
 * and timers, the one XS machine, and error reporting. Host modules (mod_*.c) are
 * written against xsmc.h like a Moddable native module and use only this on top.
 */
#ifndef XSHOST_HOST_H
#define XSHOST_HOST_H

#include "xsmc.h"
#include <poll.h>

/* the machine and its life */
extern xsMachine* hostMachine;
void hostDrainJobs(void);                      /* promise jobs, then end-of-job checks */
void hostReportException(xsMachine* the, const char* where); /* prints xsException with its stack */
int hostErrorCount(void);                      /* uncaught exceptions and rejections so far */
void hostRequestExit(int status);              /* leave the loop after this turn */
void hostSetShutdownHandler(xsMachine* the, xsSlot* handler); /* called on SIGINT/SIGTERM; NULL clears */
void hostCheckRejectionsAtExit(void);          /* reports rejections nobody handled */
double hostHeapBytes(void);                    /* chunk and slot bytes in use by the machine */
void hostFreezeBuiltIns(xsMachine* the);       /* the built-ins frozen as the SDK's linker freezes them */
void hostPreload(xsMachine* the, const char** specifiers, int count); /* the manifest's preloads, as the linker runs and freezes them */

/* monotonic milliseconds (fractional) */
double hostNow(void);

/* fd watches: the callback runs outside any JS frame; call hostDrainJobs() is done by the loop */
typedef void (*hostWatchCallback)(void* refcon, short revents);
int hostWatch(int fd, short events, int keepAlive, hostWatchCallback callback, void* refcon);
void hostWatchEvents(int fd, short events);
void hostUnwatch(int fd);
/* sends the datagrams the sockets were given since the last call (mod_udp.c batches them) */
void hostFlushOutput(void);

/* one-shot timers of the loop; a module re-arms them as it needs */
typedef struct hostTimerRecord hostTimerRecord;
typedef void (*hostTimerCallback)(void* refcon);
hostTimerRecord* hostTimerNew(hostTimerCallback callback, void* refcon);
void hostTimerArm(hostTimerRecord* timer, double when);
void hostTimerDisarm(hostTimerRecord* timer);
void hostTimerDelete(hostTimerRecord* timer);

/* children (host/process): signalled by SIGCHLD through the loop */
void hostReapChildren(void);
int hostChildrenAlive(void);
void hostKillChildren(void);

/* command line pieces the runtime module hands to JS */
extern int hostArgc;
extern char** hostArgv;
extern const char* hostDataDirectory;
extern int hostControlEnabled;
extern const char* hostConfigOverrides[];
extern int hostConfigOverrideCount;
extern char hostExecutable[];
extern int hostRootCount;
extern const char* hostRoots[];
extern int hostPreloadCount;
extern const char* hostPreloads[];

/* scratch folders made by host/runtime's temporaryDirectory(), removed at exit */
void hostRemoveTemporaryDirectories(void);

/* control channel (stdin lines in, "@..." lines out) */
void hostControlStart(void);
void hostControlStop(void);

#define HOST_MAX_ROOTS 16
#define HOST_MAX_PRELOADS 128

#endif
