#define _GNU_SOURCE
/*
 * `host/process`: child processes for tests (peers such as coap-client, node, or
 * another simulator host). new Process({argv, cwd, env, onStdout, onStderr, onExit}):
 * output arrives as ArrayBuffer chunks;
 * write(text), closeStdin(), kill(signal), pid. onExit(status, signal) runs after
 * the child's output has been delivered. Children are killed when the host exits.
 */
#include "host.h"
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

extern char** environ;

typedef struct ProcessRecord {
	struct ProcessRecord* next;
	pid_t pid;
	int in, out, err;          /* our ends of the pipes, -1 when closed */
	int exited;
	int status;
	int signal;
	int reported;
	xsSlot self;
	xsSlot onStdout, onStderr, onExit;
} ProcessRecord;

static ProcessRecord* gProcesses = NULL;

static void closeFd(int* fd)
{
	if (*fd >= 0) {
		hostUnwatch(*fd);
		close(*fd);
		*fd = -1;
	}
}

static void processFinish(ProcessRecord* p)
{
	xsMachine* the = hostMachine;
	ProcessRecord** address;
	if (p->reported || !p->exited || (p->out >= 0) || (p->err >= 0))
		return;
	p->reported = 1;
	closeFd(&p->in);
	for (address = &gProcesses; *address; address = &(*address)->next) {
		if (*address == p) {
			*address = p->next;
			break;
		}
	}
	xsBeginHost(the);
	{
		xsTry {
			if (xsmcTest(p->onExit))
				xsCallFunction2(p->onExit, p->self, xsInteger(p->status), xsInteger(p->signal));
		}
		xsCatch {
			hostReportException(the, "process onExit");
		}
		xsForget(p->onStdout);
		xsForget(p->onStderr);
		xsForget(p->onExit);
		xsForget(p->self);
	}
	xsEndHost(the);
}

static void processOnOutput(ProcessRecord* p, int* fd, xsSlot* callback, const char* where)
{
	xsMachine* the = hostMachine;
	char buffer[8192];
	ssize_t n = read(*fd, buffer, sizeof(buffer));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		closeFd(fd);
		processFinish(p);
		return;
	}
	xsBeginHost(the);
	{
		xsTry {
			if (xsmcTest(*callback)) {
				xsmcVars(1);
				xsmcSetArrayBuffer(xsVar(0), buffer, (xsIntegerValue)n);
				xsCallFunction1(*callback, p->self, xsVar(0));
			}
		}
		xsCatch {
			hostReportException(the, where);
		}
	}
	xsEndHost(the);
}

static void onStdout(void* refcon, short revents)
{
	ProcessRecord* p = refcon;
	processOnOutput(p, &p->out, &p->onStdout, "process onStdout");
}

static void onStderr(void* refcon, short revents)
{
	ProcessRecord* p = refcon;
	processOnOutput(p, &p->err, &p->onStderr, "process onStderr");
}

void hostReapChildren(void)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0)
			return;
		for (ProcessRecord* p = gProcesses; p; p = p->next) {
			if (p->pid == pid) {
				p->exited = 1;
				p->status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
				p->signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
				processFinish(p);
				break;
			}
		}
	}
}

int hostChildrenAlive(void)
{
	return gProcesses != NULL;
}

/* at exit: every child killed and waited for, so none still writes into a scratch folder being removed */
void hostKillChildren(void)
{
	for (ProcessRecord* p = gProcesses; p; p = p->next)
		if (!p->exited)
			kill(p->pid, SIGKILL);
	for (ProcessRecord* p = gProcesses; p; p = p->next) {
		if (!p->exited) {
			while ((waitpid(p->pid, NULL, 0) < 0) && (errno == EINTR))
				;
			p->exited = 1;
		}
	}
}

void xs_process_destructor(void* data)
{
	ProcessRecord* p = data;
	if (p) {
		if (!p->exited)
			kill(p->pid, SIGKILL);
		free(p);
	}
}

/* strings of a JS array, NULL-terminated, in one allocation freed by the caller */
static char** stringArray(xsMachine* the, xsSlot* array, int required)
{
	int count, size = 0, i;
	char** result;
	char* cursor;
	xsmcVars(2);
	xsmcGet(xsVar(0), *array, xsID("length"));
	count = xsmcToInteger(xsVar(0));
	if (required && count < 1)
		xsRangeError("argv is empty");
	for (i = 0; i < count; i++) {
		xsmcGetIndex(xsVar(1), *array, i);
		size += strlen(xsmcToString(xsVar(1))) + 1;
	}
	result = malloc((count + 1) * sizeof(char*) + size);
	if (!result)
		xsUnknownError("no memory");
	cursor = (char*)(result + count + 1);
	for (i = 0; i < count; i++) {
		xsmcGetIndex(xsVar(1), *array, i);
		strcpy(cursor, xsmcToString(xsVar(1)));
		result[i] = cursor;
		cursor += strlen(cursor) + 1;
	}
	result[count] = NULL;
	return result;
}

void xs_process_constructor(xsMachine* the)
{
	ProcessRecord* p;
	char** argv;
	char** env = NULL;
	char cwd[1024] = "";
	int in[2], out[2], err[2];
	sigset_t mask;
	pid_t pid;
	xsmcVars(3);
	if ((xsmcArgc < 1) || !xsmcIsInstanceOf(xsArg(0), xsObjectPrototype))
		xsTypeError("options required");
	xsmcGet(xsVar(2), xsArg(0), xsID("argv"));
	argv = stringArray(the, &xsVar(2), 1);
	xsmcGet(xsVar(2), xsArg(0), xsID("env"));
	if (xsmcTest(xsVar(2)))
		env = stringArray(the, &xsVar(2), 0);
	xsmcGet(xsVar(2), xsArg(0), xsID("cwd"));
	if (xsmcTest(xsVar(2)))
		snprintf(cwd, sizeof(cwd), "%s", xsmcToString(xsVar(2)));
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
		free(argv);
		free(env);
		xsUnknownError("pipe: %s", strerror(errno));
	}
	pid = fork();
	if (pid == 0) {
		/* a peer must not outlive the test host that started it, even after a kill -9 */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		sigemptyset(&mask);
		sigprocmask(SIG_SETMASK, &mask, NULL);
		signal(SIGPIPE, SIG_DFL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		if (cwd[0] && chdir(cwd))
			_exit(126);
		if (env)
			environ = env;
		execvp(argv[0], argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	free(argv);
	free(env);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (pid < 0) {
		close(in[1]);
		close(out[0]);
		close(err[0]);
		xsUnknownError("fork: %s", strerror(errno));
	}
	p = calloc(1, sizeof(ProcessRecord));
	if (!p) {
		kill(pid, SIGKILL);
		xsUnknownError("no memory");
	}
	p->pid = pid;
	p->in = in[1];
	p->out = out[0];
	p->err = err[0];
	fcntl(p->in, F_SETFL, O_NONBLOCK);
	fcntl(p->out, F_SETFL, O_NONBLOCK);
	fcntl(p->err, F_SETFL, O_NONBLOCK);
	xsmcSetHostData(xsThis, p);
	p->self = xsThis;
	xsmcGet(p->onStdout, xsArg(0), xsID("onStdout"));
	xsmcGet(p->onStderr, xsArg(0), xsID("onStderr"));
	xsmcGet(p->onExit, xsArg(0), xsID("onExit"));
	xsRemember(p->self);
	xsRemember(p->onStdout);
	xsRemember(p->onStderr);
	xsRemember(p->onExit);
	p->next = gProcesses;
	gProcesses = p;
	hostWatch(p->out, POLLIN, 0, onStdout, p);
	hostWatch(p->err, POLLIN, 0, onStderr, p);
}

static ProcessRecord* processFrom(xsMachine* the)
{
	ProcessRecord* p = xsmcGetHostData(xsThis);
	if (!p)
		xsUnknownError("no process");
	return p;
}

void xs_process_write(xsMachine* the)
{
	ProcessRecord* p = processFrom(the);
	const char* text = xsmcToString(xsArg(0));
	size_t length = strlen(text);
	if (p->in < 0)
		xsUnknownError("stdin closed");
	/* test input is small: write it all, waiting briefly if the pipe is full */
	while (length) {
		ssize_t n = write(p->in, text, length);
		if (n < 0) {
			if (errno == EAGAIN) {
				struct pollfd fd = { p->in, POLLOUT, 0 };
				poll(&fd, 1, 1000);
				text = xsmcToString(xsArg(0)) + (strlen(xsmcToString(xsArg(0))) - length);
				continue;
			}
			xsUnknownError("write: %s", strerror(errno));
		}
		text += n;
		length -= n;
	}
}

void xs_process_close_stdin(xsMachine* the)
{
	ProcessRecord* p = processFrom(the);
	if (p->in >= 0) {
		close(p->in);
		p->in = -1;
	}
}

void xs_process_kill(xsMachine* the)
{
	ProcessRecord* p = processFrom(the);
	int sig = (xsmcArgc > 0) ? xsmcToInteger(xsArg(0)) : SIGTERM;
	if (!p->exited)
		kill(p->pid, sig);
}

void xs_process_get_pid(xsMachine* the)
{
	ProcessRecord* p = processFrom(the);
	xsmcSetInteger(xsResult, p->pid);
}
