/*
 * XS platform hooks of the simulator host: module resolution the way a Moddable
 * manifest maps specifiers (bare names searched in the module roots given with -I,
 * relative names against the importing module), loading with Moddable's
 * `@ "xs_name"` host-function syntax bound to the C functions linked into this
 * executable, source maps so stacks name the TypeScript file and line, and
 * reporting of uncaught exceptions and unhandled rejections.
 */
#include "xsAll.h"
#include "xsScript.h"
#include <poll.h>

/* this file sees the engine's internals (xsAll.h), so it declares the few host.h pieces it needs */
extern txMachine* hostMachine;
extern int hostRootCount;
extern const char* hostRoots[];
extern void hostKillChildren(void);
extern void hostRemoveTemporaryDirectories(void);
extern int hostIsPreloading(void);
extern void hostPreloadGuard(txMachine* the);
extern void hostGuardPreloadedHosts(txMachine* the, txSlot* array, const txCallback* callbacks, const char* const* names, int count);
#include <dlfcn.h>
#include <sys/stat.h>

static int gErrorCount = 0;

void fxCreateMachinePlatform(txMachine* the)
{
	the->promiseJobs = 0;
	the->host = NULL;
}

void fxDeleteMachinePlatform(txMachine* the)
{
}

void fxQueuePromiseJobs(txMachine* the)
{
	the->promiseJobs = 1;
}

void hostDrainJobs(void)
{
	txMachine* the = hostMachine;
	do {
		while (the->promiseJobs) {
			the->promiseJobs = 0;
			fxRunPromiseJobs(the);
		}
		fxEndJob(the);
	} while (the->promiseJobs);
}

void hostCheckRejectionsAtExit(void)
{
	txMachine* the = hostMachine;
	fxBeginHost(the);
	fxCheckUnhandledRejections(the, 1);
	fxEndHost(the);
}

double hostHeapBytes(void)
{
	txMachine* the = hostMachine;
	return (double)the->currentChunksSize + (double)the->currentHeapCount * sizeof(txSlot);
}

int hostErrorCount(void)
{
	return gErrorCount;
}

/* Prints a thrown value: its stack when it has one (file:line of each frame), else its string. */
static void hostPrintThrown(txMachine* the, const char* label, txSlot* thrown)
{
	mxTry(the) {
		txString text;
		mxPushSlot(thrown);
		if (mxIsReference(the->stack)) {
			mxDub();
			fxGetID(the, mxID(_stack));
			if (the->stack->kind == XS_STRING_KIND || the->stack->kind == XS_STRING_X_KIND) {
				text = the->stack->value.string;
				fprintf(stderr, "%s: %s\n", label, text);
				mxPop();
				mxPop();
				fflush(stderr);
				goto done;
			}
			mxPop();
		}
		text = fxToString(the, the->stack);
		fprintf(stderr, "%s: %s\n", label, text);
		mxPop();
	done:;
	}
	mxCatch(the) {
		fprintf(stderr, "%s: (unprintable value)\n", label);
	}
	fflush(stderr);
}

void hostReportException(txMachine* the, const char* where)
{
	txSlot thrown = mxException;
	char label[128];
	mxException = mxUndefined;
	gErrorCount++;
	snprintf(label, sizeof(label), "uncaught exception%s%s", where ? " in " : "", where ? where : "");
	hostPrintThrown(the, label, &thrown);
}

void fxAbort(txMachine* the, int status)
{
	switch (status) {
	case XS_UNHANDLED_EXCEPTION_EXIT: {
		txSlot thrown = mxException;
		mxException = mxUndefined;
		gErrorCount++;
		hostPrintThrown(the, "uncaught exception", &thrown);
		return;
	}
	case XS_UNHANDLED_REJECTION_EXIT: {
		txSlot thrown = mxException;
		mxException = mxUndefined;
		gErrorCount++;
		hostPrintThrown(the, "unhandled rejection", &thrown);
		return;
	}
	case XS_STACK_OVERFLOW_EXIT: {
		/* the device aborts here too (its stack is the manifest's creation.stack): show where it was */
		int depth = 0;
		fprintf(stderr, "fatal: JavaScript stack overflow (%d slots); innermost frames:\n", (int)(the->stackTop - the->stackBottom));
		for (txSlot* frame = the->frame; frame && (depth < 40); frame = frame->next, depth++) {
			txSlot* environment = mxFrameToEnvironment(frame);
			if (environment->ID != XS_NO_ID)
				fprintf(stderr, "  at %s:%d\n", fxGetKeyName(the, environment->ID), (int)environment->value.environment.line);
		}
		break;
	}
	case XS_NOT_ENOUGH_MEMORY_EXIT:
		fprintf(stderr, "fatal: not enough memory\n");
		break;
	case XS_NO_MORE_KEYS_EXIT:
		fprintf(stderr, "fatal: not enough keys\n");
		break;
	default:
		fprintf(stderr, "fatal: abort %d\n", status);
		break;
	}
	fflush(stderr);
	hostKillChildren();
	hostRemoveTemporaryDirectories();
	_exit(70);
}

/* ---- module resolution ---- */

static int isFile(const char* path)
{
	struct stat st;
	return (stat(path, &st) == 0) && S_ISREG(st.st_mode);
}

static int hasExtension(const char* path)
{
	const char* slash = strrchr(path, '/');
	const char* dot = strrchr(slash ? slash : path, '.');
	return dot && (!strcmp(dot, ".js") || !strcmp(dot, ".mjs"));
}

/* candidate -> real path of the file it names (with ".js" added when it has no extension) */
static int resolveFile(const char* candidate, char* real)
{
	char path[C_PATH_MAX];
	if (hasExtension(candidate)) {
		if (snprintf(path, sizeof(path), "%s", candidate) >= (int)sizeof(path))
			return 0;
	}
	else if (snprintf(path, sizeof(path), "%s.js", candidate) >= (int)sizeof(path))
		return 0;
	if (!isFile(path))
		return 0;
	return realpath(path, real) != NULL;
}

txID fxFindModule(txMachine* the, txSlot* realm, txID moduleID, txSlot* slot)
{
	char name[C_PATH_MAX];
	char candidate[C_PATH_MAX];
	char real[C_PATH_MAX];
	fxToStringBuffer(the, slot, name, sizeof(name));
	if (!strncmp(name, "./", 2) || !strncmp(name, "../", 3)) {
		char* slash;
		if (moduleID == XS_NO_ID)
			return XS_NO_ID;
		snprintf(candidate, sizeof(candidate), "%s", fxGetKeyName(the, moduleID));
		slash = strrchr(candidate, '/');
		if (!slash)
			return XS_NO_ID;
		slash[1] = 0;
		if (strlen(candidate) + strlen(name) >= sizeof(candidate))
			return XS_NO_ID;
		strcat(candidate, name);
		if (resolveFile(candidate, real))
			return fxNewNameC(the, real);
		return XS_NO_ID;
	}
	if (name[0] == '/') {
		if (resolveFile(name, real))
			return fxNewNameC(the, real);
		return XS_NO_ID;
	}
	/* bare specifier: "embedded:io/socket/udp" is looked up as embedded/io/socket/udp */
	for (char* c = name; *c; c++)
		if (*c == ':')
			*c = '/';
	for (int i = 0; i < hostRootCount; i++) {
		if (snprintf(candidate, sizeof(candidate), "%s/%s", hostRoots[i], name) >= (int)sizeof(candidate))
			continue;
		if (resolveFile(candidate, real))
			return fxNewNameC(the, real);
	}
	return XS_NO_ID;
}

/* ---- loading, with host functions bound by name ---- */

static txScript* gLoadingScript = NULL;

/*
 * Called by the engine when the module's code starts: builds the host functions its
 * `@` names ask for. While the manifest's modules are preloaded, each is built with
 * hostPreloadGuard in place of its C function (sdk_runtime.c), except the
 * simulator's own services (host/runtime, host/control, host/process, host/meter):
 * they stand for the build machine and the test harness, which the device never
 * runs (mc/config reads the --config overrides through them, as mcconfig bakes
 * KEY=VALUE in at build time).
 */
static int hostServiceFunction(const char* name)
{
	static const char* const prefixes[] = { "xs_runtime_", "xs_control_", "xs_process_", "xs_meter_" };
	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (!strncmp(name, prefixes[i], strlen(prefixes[i])))
			return 1;
	return 0;
}

static void hostBuildHosts(txMachine* the)
{
	txScript* script = gLoadingScript;
	txByte* p;
	txID count, i;
	txHostFunctionBuilder* builders;
	txCallback* callbacks;
	const char** names;
	if (!script || !script->hostsBuffer)
		return;
	p = (txByte*)script->hostsBuffer;
	mxDecodeID(p, count);
	builders = c_calloc(count ? count : 1, sizeof(txHostFunctionBuilder));
	callbacks = c_calloc(count ? count : 1, sizeof(txCallback));
	names = c_calloc(count ? count : 1, sizeof(char*));
	if (!builders || !callbacks || !names) {
		c_free(builders);
		c_free(callbacks);
		c_free(names);
		fxAbort(the, XS_NOT_ENOUGH_MEMORY_EXIT);
	}
	for (i = 0; i < count; i++) {
		txS1 length = *p++;
		txID id;
		const char* name;
		void* symbol;
		mxDecodeID(p, id);
		name = (const char*)p;
		p += strlen(name) + 1;
		symbol = dlsym(RTLD_DEFAULT, name);
		if (!symbol) {
			c_free(builders);
			c_free(callbacks);
			c_free(names);
			mxReferenceError("host function %s not linked into the simulator host (%s)", name, script->path);
		}
		builders[i].callback = (txCallback)symbol;
		if ((length >= 0) && hostIsPreloading() && !hostServiceFunction(name)) {
			callbacks[i] = (txCallback)symbol;
			builders[i].callback = hostPreloadGuard;
		}
		names[i] = name;
		builders[i].length = length;
		builders[i].id = (id == XS_NO_ID) ? XS_NO_ID : fxID(the, fxGetKeyName(the, id));
	}
	fxBuildHosts(the, count, builders);
	if (hostIsPreloading())
		hostGuardPreloadedHosts(the, the->stack, callbacks, names, count);
	c_free(builders);
	c_free(callbacks);
	c_free(names);
	mxPullSlot(mxResult); /* the engine expects the array of host functions as the result */
}

static txScript* hostParseFile(txMachine* the, const char* path)
{
	txParser _parser;
	txParser* parser = &_parser;
	txParserJump jump;
	FILE* volatile file = NULL;
	txString mapName = NULL;
	char mapPath[C_PATH_MAX];
	txScript* volatile script = NULL;
	txUnsigned flags = mxCFlag | mxDebugFlag;
	fxInitializeParser(parser, the, the->parserBufferSize, the->parserTableModulo);
	parser->firstJump = &jump;
	file = fopen(path, "r");
	if (c_setjmp(jump.jmp_buf) == 0) {
		mxParserThrowElse(file);
		parser->path = fxNewParserSymbol(parser, (txString)path);
		fxParserTree(parser, file, (txGetter)fgetc, flags, &mapName);
		fclose(file);
		file = NULL;
		if (mapName && (parser->errorCount == 0)) {
			/* a TypeScript source map: stacks then show the .ts file and line */
			char joined[C_PATH_MAX];
			const char* slash = strrchr(path, '/');
			snprintf(joined, sizeof(joined), "%.*s/%s", (int)(slash - path), path, mapName);
			if (realpath(joined, mapPath)) {
				file = fopen(mapPath, "r");
				if (file) {
					txString sourceName = NULL;
					parser->path = fxNewParserSymbol(parser, mapPath);
					fxParserSourceMap(parser, file, (txGetter)fgetc, flags, &sourceName);
					fclose(file);
					file = NULL;
					if ((parser->errorCount == 0) && sourceName) {
						char source[C_PATH_MAX];
						slash = strrchr(mapPath, '/');
						snprintf(joined, sizeof(joined), "%.*s/%s", (int)(slash - mapPath), mapPath, sourceName);
						parser->path = fxNewParserSymbol(parser, realpath(joined, source) ? source : joined);
					}
				}
			}
		}
		if (parser->errorCount == 0) {
			fxParserHoist(parser);
			fxParserBind(parser);
			script = fxParserCode(parser);
		}
	}
	if (file)
		fclose(file);
	if (!script)
		fprintf(stderr, "%s: syntax error (%d error%s)\n", path, (int)parser->errorCount, parser->errorCount == 1 ? "" : "s");
	fxTerminateParser(parser);
	return script;
}

void fxLoadModule(txMachine* the, txSlot* module, txID moduleID)
{
	const char* path = fxGetKeyName(the, moduleID);
	txScript* script = hostParseFile(the, path);
	txScript* previous = gLoadingScript;
	if (!script)
		return;
	if (script->hostsBuffer)
		script->callback = hostBuildHosts;
	/* the engine runs the script and frees it, also when it throws */
	gLoadingScript = script;
	mxTry(the) {
		fxResolveModule(the, module, moduleID, script, C_NULL, C_NULL);
	}
	mxCatch(the) {
		gLoadingScript = previous;
		fxJump(the);
	}
	gLoadingScript = previous;
}
