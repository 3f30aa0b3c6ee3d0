/*
 * The simulator's "flash" for the update stand-in (lin only; ota.ts, boot.ts): whole
 * files read, written or appended and flushed to the disk (fsync) before the call
 * returns, renamed, removed; and a restart, which in the simulator is the process
 * ending with status 75, for whatever runs it to start it again (`npm start` does).
 * Paths come from the caller (config `otaFolder`); nothing is logged.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "xsmc.h"

#define RESTART_STATUS 75

static const char* pathOf(xsMachine* the, int argument)
{
	const char* path = xsmcToString(xsArg(argument));
	if (!path[0] || strlen(path) > 1024)
		xsRangeError("bad path");
	return path;
}

void xs_update_flash_read(xsMachine* the)
{
	int fd = open(pathOf(the, 0), O_RDONLY);
	struct stat info;
	if (fd < 0) {
		if (errno == ENOENT)
			return;
		xsUnknownError("read failed: %s", strerror(errno));
	}
	if (fstat(fd, &info) || info.st_size > 64 * 1024 * 1024) {
		close(fd);
		xsUnknownError("read failed");
	}
	xsmcSetArrayBuffer(xsResult, NULL, (xsUnsignedValue)info.st_size);
	{
		size_t done = 0, size = (size_t)info.st_size;
		while (done < size) {
			ssize_t n = read(fd, (char*)xsmcToArrayBuffer(xsResult) + done, size - done);
			if (n <= 0) {
				close(fd);
				xsUnknownError("read failed");
			}
			done += (size_t)n;
		}
	}
	close(fd);
}

/* write(path, bytes, append): the bytes are on the disk when it returns */
void xs_update_flash_write(xsMachine* the)
{
	const char* path = pathOf(the, 0);
	int append = xsmcArgc > 2 && xsmcToBoolean(xsArg(2));
	void* data;
	xsUnsignedValue length, done = 0;
	int fd;
	xsmcGetBufferReadable(xsArg(1), &data, &length);
	fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0600);
	if (fd < 0)
		xsUnknownError("write failed: %s", strerror(errno));
	while (done < length) {
		ssize_t n = write(fd, (char*)data + done, length - done);
		if (n <= 0) {
			close(fd);
			xsUnknownError("write failed: %s", strerror(errno));
		}
		done += (xsUnsignedValue)n;
	}
	if (fsync(fd) || close(fd))
		xsUnknownError("write failed: %s", strerror(errno));
}

/* rename(from, to): atomic on one file system; the folder is synced so the new name survives a power cut */
void xs_update_flash_rename(xsMachine* the)
{
	const char* from = pathOf(the, 0);
	const char* to = pathOf(the, 1);
	char folder[1100];
	const char* slash = strrchr(to, '/');
	if (rename(from, to))
		xsUnknownError("rename failed: %s", strerror(errno));
	if (slash && (size_t)(slash - to) < sizeof(folder)) {
		int fd;
		memcpy(folder, to, slash - to);
		folder[slash > to ? slash - to : 1] = 0;
		fd = open(folder, O_RDONLY | O_DIRECTORY);
		if (fd >= 0) {
			fsync(fd);
			close(fd);
		}
	}
}

void xs_update_flash_remove(xsMachine* the)
{
	if (unlink(pathOf(the, 0)) && errno != ENOENT)
		xsUnknownError("remove failed: %s", strerror(errno));
}

void xs_update_flash_folder(xsMachine* the)
{
	if (mkdir(pathOf(the, 0), 0700) && errno != EEXIST)
		xsUnknownError("folder failed: %s", strerror(errno));
}

void xs_update_flash_restart(xsMachine* the)
{
	fflush(NULL);
	exit(RESTART_STATUS);
}
