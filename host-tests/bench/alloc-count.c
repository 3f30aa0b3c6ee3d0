/*
 * alloc-count: an LD_PRELOAD heap counter for the benchmarks, to weigh another
 * program's sessions the way our binding's counting allocator weighs ours: live bytes
 * as the allocator reserved them (malloc_usable_size), so frees subtract exactly.
 * A thread rewrites "alloc-count: live N peak N calls N" into the file named by
 * ALLOC_COUNT_FILE every 50 ms (a signal would do, but coap-server's event loop
 * exits when epoll_wait is interrupted).
 *
 *   gcc -O2 -shared -fPIC -o alloc-count.so alloc-count.c -lpthread
 *   ALLOC_COUNT_FILE=/tmp/live LD_PRELOAD=./alloc-count.so coap-server-openssl ...; cat /tmp/live
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

extern void* __libc_malloc(size_t size);
extern void* __libc_calloc(size_t count, size_t size);
extern void* __libc_realloc(void* p, size_t size);
extern void* __libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void* p);

static atomic_long gLive, gPeak, gCalls;

static void add(void* p)
{
	if (p) {
		long live = atomic_fetch_add(&gLive, (long)malloc_usable_size(p)) + (long)malloc_usable_size(p);
		long peak = atomic_load(&gPeak);
		while (live > peak && !atomic_compare_exchange_weak(&gPeak, &peak, live))
			;
		atomic_fetch_add(&gCalls, 1);
	}
}

static void subtract(void* p)
{
	if (p)
		atomic_fetch_sub(&gLive, (long)malloc_usable_size(p));
}

void* malloc(size_t size) { void* p = __libc_malloc(size); add(p); return p; }
void* calloc(size_t count, size_t size) { void* p = __libc_calloc(count, size); add(p); return p; }
void free(void* p) { subtract(p); __libc_free(p); }
void* realloc(void* p, size_t size)
{
	size_t old = p ? malloc_usable_size(p) : 0;
	void* q = __libc_realloc(p, size);
	if (q || !size) {
		atomic_fetch_sub(&gLive, (long)old);
		add(q);
	}
	return q;
}
void* memalign(size_t alignment, size_t size) { void* p = __libc_memalign(alignment, size); add(p); return p; }
void* aligned_alloc(size_t alignment, size_t size) { return memalign(alignment, size); }
int posix_memalign(void** out, size_t alignment, size_t size)
{
	void* p = __libc_memalign(alignment, size);
	if (!p)
		return 12; /* ENOMEM */
	add(p);
	*out = p;
	return 0;
}

static char* decimal(char* at, long value)
{
	char digits[24];
	int n = 0;
	if (value < 0) { *at++ = '-'; value = -value; }
	do { digits[n++] = (char)('0' + value % 10); value /= 10; } while (value);
	while (n) *at++ = digits[--n];
	return at;
}

static void report(int fd)
{
	char line[128], *p = line;
	memcpy(p, "alloc-count: live ", 18); p = decimal(p + 18, atomic_load(&gLive));
	memcpy(p, " peak ", 6); p = decimal(p + 6, atomic_load(&gPeak));
	memcpy(p, " calls ", 7); p = decimal(p + 7, atomic_load(&gCalls));
	*p++ = '\n';
	(void)!pwrite(fd, line, (size_t)(p - line), 0);
	(void)!ftruncate(fd, p - line);
}

static void* reporter(void* path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	struct timespec period = { 0, 50 * 1000 * 1000 };
	if (fd < 0)
		return NULL;
	for (;;) {
		report(fd);
		nanosleep(&period, NULL);
	}
	return NULL;
}

__attribute__((constructor)) static void install(void)
{
	const char* path = getenv("ALLOC_COUNT_FILE");
	pthread_t thread;
	if (path && *path && !pthread_create(&thread, NULL, reporter, (void*)path))
		pthread_detach(thread);
}
