/*
 * coap-load: a closed-loop CoAP GET load generator for the benchmarks (npm run bench).
 * N clients, each its own UDP socket (its own source port, as N devices would be),
 * each with one CON GET outstanding at a time (NSTART = 1, RFC 7252 sec 4.7): send,
 * wait for the piggybacked ACK with the same Message ID, send the next. A request
 * unanswered after 1 s is sent again with the same Message ID (counted). Bounded in
 * count and time; loopback only. Raw sockets, no library, so the same generator
 * drives our node and libcoap's coap-server alike.
 *
 *   coap-load [-a 127.0.0.1] [-p 5683] [-u light] [-c CLIENTS] [-n MAX_REQUESTS]
 *             [-t SECONDS] [-w WARMUP_MS]
 *
 * Prints one JSON line: clients, requests answered in the measured window, seconds,
 * rps, latency p50/p99 in microseconds, retransmissions, stray datagrams.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 1024
#define MAX_SAMPLES 4000000
#define RETRANSMIT_NS 1000000000LL

typedef struct {
	int fd;
	uint16_t mid;
	int64_t sent_at;     /* first transmission of the outstanding request */
	int64_t last_send;   /* last (re)transmission */
	int outstanding;
} client_t;

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int compare(const void* a, const void* b)
{
	int64_t x = *(const int64_t*)a, y = *(const int64_t*)b;
	return (x > y) - (x < y);
}

static size_t build_get(uint8_t* out, uint16_t mid, uint16_t token, const char* path)
{
	size_t n = 0;
	out[n++] = 0x42; /* ver 1, CON, TKL 2 */
	out[n++] = 0x01; /* GET */
	out[n++] = mid >> 8;
	out[n++] = mid & 0xff;
	out[n++] = token >> 8;
	out[n++] = token & 0xff;
	unsigned previous = 0;
	const char* segment = path;
	while (*segment) {
		const char* end = strchr(segment, '/');
		size_t length = end ? (size_t)(end - segment) : strlen(segment);
		if (length > 12 || n + 1 + length > 200) { fprintf(stderr, "coap-load: path segment too long\n"); exit(2); }
		out[n++] = (uint8_t)(((11 - previous) << 4) | length);
		previous = 11;
		memcpy(out + n, segment, length);
		n += length;
		segment += length;
		if (*segment == '/') segment++;
	}
	return n;
}

static void transmit(client_t* c, const char* path, int64_t t)
{
	uint8_t buffer[256];
	size_t n = build_get(buffer, c->mid, c->mid, path);
	if (send(c->fd, buffer, n, 0) < 0 && errno != EAGAIN && errno != ECONNREFUSED) {
		perror("coap-load: send");
		exit(1);
	}
	c->last_send = t;
}

int main(int argc, char** argv)
{
	const char* address = "127.0.0.1";
	int port = 5683, clients = 1;
	long max_requests = 1000000;
	double seconds = 5, warmup_ms = 300;
	const char* path = "light";
	int opt;
	while ((opt = getopt(argc, argv, "a:p:u:c:n:t:w:")) != -1) {
		switch (opt) {
		case 'a': address = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'u': path = optarg; break;
		case 'c': clients = atoi(optarg); break;
		case 'n': max_requests = atol(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 'w': warmup_ms = atof(optarg); break;
		default:
			fprintf(stderr, "usage: coap-load [-a addr] [-p port] [-u path] [-c clients] [-n max] [-t seconds] [-w warmup_ms]\n");
			return 2;
		}
	}
	struct sockaddr_in server = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, address, &server.sin_addr) != 1 || (ntohl(server.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "coap-load: loopback IPv4 addresses only, not %s\n", address);
		return 2;
	}
	if (clients < 1 || clients > MAX_CLIENTS || seconds <= 0 || seconds > 120 || max_requests < 1 || max_requests > MAX_SAMPLES) {
		fprintf(stderr, "coap-load: 1-%d clients, 0-120 s, 1-%d requests\n", MAX_CLIENTS, MAX_SAMPLES);
		return 2;
	}
	static client_t pool[MAX_CLIENTS];
	static struct pollfd fds[MAX_CLIENTS];
	int64_t* samples = malloc(sizeof(int64_t) * (size_t)max_requests);
	if (!samples) { perror("coap-load: malloc"); return 1; }
	srand((unsigned)now_ns());
	for (int i = 0; i < clients; i++) {
		int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 || connect(fd, (struct sockaddr*)&server, sizeof server) < 0) { perror("coap-load: socket"); return 1; }
		pool[i] = (client_t){ .fd = fd, .mid = (uint16_t)rand() };
		fds[i] = (struct pollfd){ .fd = fd, .events = POLLIN };
	}
	int64_t start = now_ns();
	int64_t measure_from = start + (int64_t)(warmup_ms * 1e6);
	int64_t stop = measure_from + (int64_t)(seconds * 1e9);
	long answered = 0, retransmits = 0, stray = 0;
	for (int i = 0; i < clients; i++) {
		pool[i].sent_at = now_ns();
		pool[i].outstanding = 1;
		transmit(&pool[i], path, pool[i].sent_at);
	}
	for (;;) {
		int64_t t = now_ns();
		if (t >= stop || answered >= max_requests) break;
		int ready = poll(fds, (nfds_t)clients, 10);
		if (ready < 0 && errno != EINTR) { perror("coap-load: poll"); return 1; }
		t = now_ns();
		for (int i = 0; ready > 0 && i < clients; i++) {
			if (!(fds[i].revents & POLLIN)) continue;
			uint8_t buffer[1500];
			ssize_t n;
			while ((n = recv(pool[i].fd, buffer, sizeof buffer, 0)) >= 0) {
				client_t* c = &pool[i];
				uint16_t mid = n >= 4 ? (uint16_t)((buffer[2] << 8) | buffer[3]) : 0;
				if (n < 4 || ((buffer[0] >> 4) & 3) != 2 || mid != c->mid || !c->outstanding) { stray++; continue; }
				if (t >= measure_from && answered < max_requests) samples[answered++] = t - c->sent_at;
				c->mid++;
				c->sent_at = t;
				transmit(c, path, t);
			}
		}
		for (int i = 0; i < clients; i++) {
			if (pool[i].outstanding && t - pool[i].last_send > RETRANSMIT_NS) {
				retransmits++;
				transmit(&pool[i], path, t);
			}
		}
	}
	int64_t end = now_ns();
	double window = (double)((end < stop ? end : stop) - measure_from) / 1e9;
	qsort(samples, (size_t)answered, sizeof(int64_t), compare);
	long p50 = answered ? (long)(samples[answered / 2] / 1000) : -1;
	long p99 = answered ? (long)(samples[(answered * 99) / 100] / 1000) : -1;
	printf("{\"clients\":%d,\"requests\":%ld,\"seconds\":%.3f,\"rps\":%.0f,\"p50_us\":%ld,\"p99_us\":%ld,\"retransmits\":%ld,\"stray\":%ld}\n",
		clients, answered, window, window > 0 ? answered / window : 0, p50, p99, retransmits, stray);
	for (int i = 0; i < clients; i++) close(pool[i].fd);
	free(samples);
	return answered > 0 ? 0 : 1;
}
