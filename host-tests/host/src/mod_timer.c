/*
 * Moddable's `timer` module on the host loop: Timer.set/repeat/schedule/clear/delay
 * with the device's semantics (the callback receives the timer; a one-shot timer is
 * spent after it fires unless the callback schedules it again).
 */
#include "host.h"

typedef struct {
	hostTimerRecord* timer;
	xsSlot self;
	xsSlot callback;
	double interval;      /* repeat period in ms, 0 for one-shot */
	int remembered;       /* self and callback are GC roots while the timer is live */
	int rescheduled;      /* the callback called Timer.schedule on its own timer */
} TimerRecord;

static void timerForget(xsMachine* the, TimerRecord* t)
{
	if (t->remembered) {
		xsForget(t->callback);
		xsForget(t->self);
		t->remembered = 0;
	}
}

static void timerFire(void* refcon)
{
	TimerRecord* t = refcon;
	xsMachine* the = hostMachine;
	if (t->interval > 0)
		hostTimerArm(t->timer, hostNow() + t->interval);
	t->rescheduled = 0;
	xsBeginHost(the);
	{
		/* xsVar(0) keeps the timer object, and so this record, alive even if the callback clears it */
		xsmcVars(1);
		xsVar(0) = t->self;
		xsTry {
			xsCallFunction1(t->callback, xsUndefined, xsVar(0));
		}
		xsCatch {
			hostReportException(the, "timer callback");
		}
		/* a spent one-shot: drop the roots so the timer object can be collected */
		if (t->remembered && (t->interval <= 0) && !t->rescheduled)
			timerForget(the, t);
	}
	xsEndHost(the);
}

void xs_timer_destructor(void* data)
{
	TimerRecord* t = data;
	if (t) {
		hostTimerDelete(t->timer);
		free(t);
	}
}

static TimerRecord* timerFrom(xsMachine* the, xsSlot* slot)
{
	TimerRecord* t;
	if (!xsmcIsInstanceOf(*slot, xsObjectPrototype))
		xsTypeError("not a timer");
	t = xsmcGetHostData(*slot);
	return t;
}

static double intervalArgument(xsMachine* the, int index)
{
	double value;
	if ((xsmcArgc <= index) || xsmcTest(xsArg(index)) == 0)
		return 0;
	value = xsmcToNumber(xsArg(index));
	if (!(value >= 0) || isinf(value))
		xsRangeError("bad interval");
	return value;
}

void xs_timer_set(xsMachine* the)
{
	TimerRecord* t;
	double interval = intervalArgument(the, 1);
	double repeat = intervalArgument(the, 2);
	if ((xsmcArgc < 1) || !xsmcIsInstanceOf(xsArg(0), xsFunctionPrototype))
		xsTypeError("callback is not a function");
	t = calloc(1, sizeof(TimerRecord));
	if (!t)
		xsUnknownError("no memory");
	t->timer = hostTimerNew(timerFire, t);
	if (!t->timer) {
		free(t);
		xsUnknownError("no memory");
	}
	t->interval = repeat;
	xsResult = xsNewHostObject(xs_timer_destructor);
	xsmcSetHostData(xsResult, t);
	t->self = xsResult;
	t->callback = xsArg(0);
	xsRemember(t->self);
	xsRemember(t->callback);
	t->remembered = 1;
	hostTimerArm(t->timer, hostNow() + interval);
}

void xs_timer_schedule(xsMachine* the)
{
	TimerRecord* t = timerFrom(the, &xsArg(0));
	if (!t || !t->remembered)
		xsUnknownError("timer was cleared or has fired");
	if (xsmcArgc < 2) {
		/* no interval: unscheduled, still alive until cleared */
		hostTimerDisarm(t->timer);
		t->rescheduled = 1;
		return;
	}
	t->interval = intervalArgument(the, 2);
	t->rescheduled = 1;
	hostTimerArm(t->timer, hostNow() + intervalArgument(the, 1));
}

void xs_timer_clear(xsMachine* the)
{
	TimerRecord* t;
	if ((xsmcArgc < 1) || !xsmcTest(xsArg(0)))
		return;
	t = timerFrom(the, &xsArg(0));
	if (!t)
		return;
	hostTimerDisarm(t->timer);
	t->interval = 0;
	t->rescheduled = 0;
	timerForget(the, t);
}

void xs_timer_delay(xsMachine* the)
{
	double ms = intervalArgument(the, 0);
	struct timespec ts = { (time_t)(ms / 1000), (long)(fmod(ms, 1000) * 1000000) };
	nanosleep(&ts, NULL);
}
