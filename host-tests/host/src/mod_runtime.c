/*
 * `host/runtime`: what the simulator host offers beyond the device APIs, for its own
 * shims (preference) and for tests: command-line arguments, exit, a monotonic
 * clock, small file operations (atomic writes), directory listing, the command that
 * starts another host with the same module roots, and the count of uncaught errors.
 * Nothing under modules/ may import it.
 */
#define _GNU_SOURCE 1   /* nftw */
#include "host.h"
#include <limits.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <ftw.h>

void xs_runtime_argv(xsMachine* the)
{
	xsmcVars(1);
	xsResult = xsNewArray(0);
	for (int i = 0; i < hostArgc; i++) {
		xsmcSetString(xsVar(0), hostArgv[i]);
		xsCall1(xsResult, xsID("push"), xsVar(0));
	}
}

void xs_runtime_command(xsMachine* the)
{
	xsmcVars(1);
	xsResult = xsNewArray(0);
	xsmcSetString(xsVar(0), hostExecutable);
	xsCall1(xsResult, xsID("push"), xsVar(0));
	for (int i = 0; i < hostRootCount; i++) {
		char real[PATH_MAX];
		xsmcSetString(xsVar(0), "-I");
		xsCall1(xsResult, xsID("push"), xsVar(0));
		xsmcSetString(xsVar(0), realpath(hostRoots[i], real) ? real : (char*)hostRoots[i]);
		xsCall1(xsResult, xsID("push"), xsVar(0));
	}
	/* another host runs the same firmware image: the same preloaded modules */
	for (int i = 0; i < hostPreloadCount; i++) {
		xsmcSetString(xsVar(0), "--preload");
		xsCall1(xsResult, xsID("push"), xsVar(0));
		xsmcSetString(xsVar(0), (char*)hostPreloads[i]);
		xsCall1(xsResult, xsID("push"), xsVar(0));
	}
}

void xs_runtime_config_overrides(xsMachine* the)
{
	xsmcVars(1);
	xsResult = xsNewArray(0);
	for (int i = 0; i < hostConfigOverrideCount; i++) {
		xsmcSetString(xsVar(0), (char*)hostConfigOverrides[i]);
		xsCall1(xsResult, xsID("push"), xsVar(0));
	}
}

void xs_runtime_exit(xsMachine* the)
{
	hostRequestExit((xsmcArgc > 0) ? xsmcToInteger(xsArg(0)) : 0);
}

void xs_runtime_now(xsMachine* the)
{
	xsmcSetNumber(xsResult, hostNow());
}

void xs_runtime_errors(xsMachine* the)
{
	xsmcSetInteger(xsResult, hostErrorCount());
}

void xs_runtime_pid(xsMachine* the)
{
	xsmcSetInteger(xsResult, getpid());
}

void xs_runtime_cwd(xsMachine* the)
{
	char path[PATH_MAX];
	if (!getcwd(path, sizeof(path)))
		xsUnknownError("getcwd: %s", strerror(errno));
	xsmcSetString(xsResult, path);
}

void xs_runtime_env(xsMachine* the)
{
	const char* value = getenv(xsmcToString(xsArg(0)));
	if (value)
		xsmcSetString(xsResult, (char*)value);
}

void xs_runtime_data_directory(xsMachine* the)
{
	if (hostDataDirectory)
		xsmcSetString(xsResult, (char*)hostDataDirectory);
}

void xs_runtime_gc(xsMachine* the)
{
	xsCollectGarbage();
}

void xs_runtime_heap(xsMachine* the)
{
	/* bytes of chunks and slots in use, as the device's instrumentation reports them */
	xsmcSetNumber(xsResult, hostHeapBytes());
}

/* the whole file in a malloc'ed buffer with a NUL after it; NULL when it does not exist */
static char* readWhole(xsMachine* the, const char* path, long* size)
{
	FILE* file = fopen(path, "rb");
	char* buffer;
	if (!file) {
		if (errno == ENOENT)
			return NULL;
		xsUnknownError("open %s: %s", path, strerror(errno));
	}
	fseek(file, 0, SEEK_END);
	*size = ftell(file);
	fseek(file, 0, SEEK_SET);
	buffer = malloc(*size + 1);
	if (!buffer) {
		fclose(file);
		xsUnknownError("no memory");
	}
	if ((long)fread(buffer, 1, *size, file) != *size) {
		free(buffer);
		fclose(file);
		xsUnknownError("read %s failed", path);
	}
	buffer[*size] = 0;
	fclose(file);
	return buffer;
}

/* readFile(path) -> string, or undefined when the file does not exist */
void xs_runtime_read_file(xsMachine* the)
{
	long size;
	char* buffer = readWhole(the, xsmcToString(xsArg(0)), &size);
	if (buffer) {
		xsResult = xsString(buffer);
		free(buffer);
	}
}

/* readFileBuffer(path) -> ArrayBuffer, or undefined when the file does not exist */
void xs_runtime_read_file_buffer(xsMachine* the)
{
	long size;
	char* buffer = readWhole(the, xsmcToString(xsArg(0)), &size);
	if (buffer) {
		xsmcSetArrayBuffer(xsResult, buffer, (xsIntegerValue)size);
		free(buffer);
	}
}

void xs_runtime_on_shutdown(xsMachine* the)
{
	hostSetShutdownHandler(the, (xsmcArgc > 0) ? &xsArg(0) : NULL);
}

/* writeFileAtomic(path, text): write a temporary file, fsync, rename over, fsync the folder */
void xs_runtime_write_file_atomic(xsMachine* the)
{
	char path[PATH_MAX];
	char temporary[PATH_MAX + 16];
	char folder[PATH_MAX];
	const char* text;
	size_t length;
	int fd, error = 0;
	char* slash;
	snprintf(path, sizeof(path), "%s", xsmcToString(xsArg(0)));
	snprintf(temporary, sizeof(temporary), "%s.tmp%d", path, (int)getpid());
	text = xsmcToString(xsArg(1));
	length = strlen(text);
	fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		xsUnknownError("open %s: %s", temporary, strerror(errno));
	text = xsmcToString(xsArg(1)); /* re-fetch: nothing allocated since, but keep the habit */
	while (length) {
		ssize_t n = write(fd, text, length);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			error = errno;
			break;
		}
		text += n;
		length -= n;
	}
	if (!error && fsync(fd))
		error = errno;
	close(fd);
	if (!error && rename(temporary, path))
		error = errno;
	if (error) {
		unlink(temporary);
		xsUnknownError("write %s: %s", path, strerror(error));
	}
	snprintf(folder, sizeof(folder), "%s", path);
	slash = strrchr(folder, '/');
	if (slash)
		*slash = 0;
	else
		strcpy(folder, ".");
	fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

void xs_runtime_make_directory(xsMachine* the)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s", xsmcToString(xsArg(0)));
	for (char* p = path + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			mkdir(path, 0755);
			*p = '/';
		}
	}
	if (mkdir(path, 0755) && (errno != EEXIST))
		xsUnknownError("mkdir %s: %s", path, strerror(errno));
}

/*
 * Scratch folders belong to the host that made them: each one is removed, with what
 * is in it, when that host exits (hostRemoveTemporaryDirectories, from main). A
 * child started on the folder is killed before that, so nothing still writes there.
 */
typedef struct hostTemporaryRecord {
	struct hostTemporaryRecord* next;
	char path[];
} hostTemporaryRecord;
static hostTemporaryRecord* gTemporaries = NULL;

void xs_runtime_temporary_directory(xsMachine* the)
{
	char path[] = "/tmp/xshost-XXXXXX";
	hostTemporaryRecord* record;
	if (!mkdtemp(path))
		xsUnknownError("mkdtemp: %s", strerror(errno));
	record = malloc(sizeof(hostTemporaryRecord) + sizeof(path));
	if (!record) {
		rmdir(path);
		xsUnknownError("no memory");
	}
	memcpy(record->path, path, sizeof(path));
	record->next = gTemporaries;
	gTemporaries = record;
	xsmcSetString(xsResult, path);
}

static int removeEntry(const char* path, const struct stat* st, int flag, struct FTW* ftw)
{
	if (remove(path))
		fprintf(stderr, "xshost: cannot remove %s: %s\n", path, strerror(errno));
	return 0;
}

void hostRemoveTemporaryDirectories(void)
{
	while (gTemporaries) {
		hostTemporaryRecord* record = gTemporaries;
		gTemporaries = record->next;
		/* depth first, without following links out of the folder */
		nftw(record->path, removeEntry, 16, FTW_DEPTH | FTW_PHYS);
		free(record);
	}
}

/* readdir(path) -> [{name, directory}] in directory order, without "." and ".." */
void xs_runtime_readdir(xsMachine* the)
{
	const char* path = xsmcToString(xsArg(0));
	DIR* dir = opendir(path);
	struct dirent* entry;
	xsmcVars(2);
	if (!dir)
		xsUnknownError("opendir %s: %s", path, strerror(errno));
	xsResult = xsNewArray(0);
	while ((entry = readdir(dir))) {
		int directory;
		if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, ".."))
			continue;
		directory = (entry->d_type == DT_DIR);
		if (entry->d_type == DT_UNKNOWN || entry->d_type == DT_LNK) {
			struct stat st;
			char full[PATH_MAX];
			snprintf(full, sizeof(full), "%s/%s", xsmcToString(xsArg(0)), entry->d_name);
			directory = (stat(full, &st) == 0) && S_ISDIR(st.st_mode);
		}
		xsVar(0) = xsNewObject();
		xsmcSetString(xsVar(1), entry->d_name);
		xsmcSet(xsVar(0), xsID("name"), xsVar(1));
		xsmcSetBoolean(xsVar(1), directory);
		xsmcSet(xsVar(0), xsID("directory"), xsVar(1));
		xsCall1(xsResult, xsID("push"), xsVar(0));
	}
	closedir(dir);
}
