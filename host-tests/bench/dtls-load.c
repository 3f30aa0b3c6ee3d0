/*
 * dtls-load: a DTLS 1.2 PSK load generator over Mbed TLS (Debian libmbedtls-dev) for
 * the benchmarks (npm run bench), and an Observe fan-out meter over plain CoAP. Each
 * client is its own UDP socket (its own source port) and its own Mbed TLS session
 * offering only TLS_PSK_WITH_AES_128_CCM_8 (RFC 7252's mandatory suite), identity
 * "CoAP", key "esp32c3_key" by default. Non-blocking, one poll() loop, every mode
 * bounded in count and time; loopback IPv4 only. The same generator drives our node
 * and libcoap's coap-server-openssl.
 *
 *   dtls-load -m handshake -p PORT [-c CONCURRENT] [-n MAX] [-t SECONDS]
 *       full handshakes (cookie exchange included) on fresh ports, each ended with
 *       close_notify; handshakes/s and latency from the first ClientHello to Finished;
 *       "flights_us": the median round trip of each of the client's flights, from its
 *       last datagram to the first datagram of the server's answer (HelloVerifyRequest,
 *       ServerHello..., ChangeCipherSpec+Finished): the same client and kernel for
 *       both servers, so what differs between two servers is their own time per flight;
 *       "resent": handshakes that took 0.5 s or more, or were still waiting that long at
 *       the end (a flight lost, sent again on the client's 1-s timer)
 *   dtls-load -m resume -p PORT [-c CONCURRENT] [-n MAX] [-t SECONDS]
 *       the same, each handshake resuming one session saved from a first full one
 *       (its session ticket, or its session ID when the server sends no ticket);
 *       "resumed" counts those the server actually abbreviated; "flights_us" has two
 *       (HelloVerifyRequest, ServerHello...Finished)
 *   dtls-load -m rps -p PORT [-c SESSIONS] [-t SECONDS] [-w WARMUP_MS] [-u PATH]
 *       establishes SESSIONS sessions, then each keeps one CON GET outstanding
 *   dtls-load -m hold -p PORT -c SESSIONS [-t SECONDS]
 *       establishes SESSIONS sessions, prints {"ready":...}, holds them until stdin
 *       closes (or SECONDS), then ends them with close_notify
 *   dtls-load -m observe -p PORT -c OBSERVERS [-u PATH] [-r ROUNDS] [-W]
 *       plain CoAP: registers OBSERVERS observers (GET Observe=0, one socket each), then
 *       1 + ROUNDS times PUTs "1"/"0" and times the last observer's notification
 *       (the first round warms up and is not counted); -W: after the registrations,
 *       prints {"registered":N} and waits for a line on stdin before the rounds, and
 *       after its result line waits for stdin to close before it deregisters (so a
 *       count taken between the two covers the rounds alone)
 *
 * Prints one JSON line.
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

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <mbedtls/timing.h>

#define MAX_CLIENTS 1100
#define MAX_SAMPLES 2000000
#define RETRANSMIT_NS 1000000000LL
/* the server flights a full handshake waits for: HelloVerifyRequest, ServerHello..., Finished */
#define FLIGHTS 3

typedef struct {
	int fd;
	int used;
	int state;                 /* 0 handshaking, 1 established, 2 failed */
	mbedtls_ssl_context ssl;
	mbedtls_timing_delay_context timer;
	int64_t started;           /* handshake start */
	uint16_t mid;
	int outstanding;
	int64_t sent_at, last_send;
	int64_t flight_sent;       /* handshake: the client's last datagram, until the server's answer to it */
	int flight;                /* handshake: the server flights received so far */
} client_t;

static struct sockaddr_in gServer;
static mbedtls_ssl_config gConf;
static mbedtls_ctr_drbg_context gDrbg;
static mbedtls_entropy_context gEntropy;
static client_t gClients[MAX_CLIENTS];
static struct pollfd gFds[MAX_CLIENTS + 1];
static int64_t* gSamples;
static long gSampleCount;
static const char* gPath = "light";
static mbedtls_ssl_session gSaved;     /* -m resume: the session every handshake offers */
static int gResume;
static long gResumed;                  /* handshakes the server abbreviated (no Certificate/KeyExchange flight) */
static int64_t* gFlights[FLIGHTS];     /* round trips of each flight (ns), room for gFlightRoom each */
static long gFlightCount[FLIGHTS], gFlightRoom;

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

static void sample(int64_t ns)
{
	if (gSampleCount < MAX_SAMPLES)
		gSamples[gSampleCount++] = ns;
}

/* the p-th percentile of `count` samples (ns; sorts them), -1 without any */
static int64_t percentile(int64_t* samples, long count, int p)
{
	if (!count)
		return -1;
	qsort(samples, (size_t)count, sizeof(int64_t), compare);
	return samples[(count * p) / 100 - (p == 100)];
}

static long percentile_us(int p)
{
	return gSampleCount ? (long)(percentile(gSamples, gSampleCount, p) / 1000) : -1;
}

static int bio_send(void* ctx, const unsigned char* buf, size_t len)
{
	client_t* c = ctx;
	ssize_t n = send(c->fd, buf, len, 0);
	if (n < 0)
		return (errno == EAGAIN || errno == ECONNREFUSED) ? MBEDTLS_ERR_SSL_WANT_WRITE : MBEDTLS_ERR_NET_SEND_FAILED;
	if (c->state == 0)
		c->flight_sent = now_ns();
	return (int)n;
}

static int bio_recv(void* ctx, unsigned char* buf, size_t len)
{
	client_t* c = ctx;
	ssize_t n = recv(c->fd, buf, len, 0);
	if (n < 0)
		return (errno == EAGAIN || errno == ECONNREFUSED) ? MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_NET_RECV_FAILED;
	/* the first datagram of the answer to the client's last flight (a flight of several datagrams counts once) */
	if (c->state == 0 && c->flight_sent && c->flight < FLIGHTS && gFlights[c->flight]) {
		int k = c->flight++;
		if (gFlightCount[k] < gFlightRoom)
			gFlights[k][gFlightCount[k]++] = now_ns() - c->flight_sent;
		c->flight_sent = 0;
	}
	return (int)n;
}

static int open_socket(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr*)&gServer, sizeof gServer) < 0) {
		perror("dtls-load: socket");
		exit(1);
	}
	return fd;
}

static void client_open(client_t* c)
{
	memset(c, 0, sizeof(*c));
	c->fd = open_socket();
	c->used = 1;
	c->mid = (uint16_t)rand();
	mbedtls_ssl_init(&c->ssl);
	if (mbedtls_ssl_setup(&c->ssl, &gConf)) {
		fprintf(stderr, "dtls-load: ssl_setup failed\n");
		exit(1);
	}
	mbedtls_ssl_set_bio(&c->ssl, c, bio_send, bio_recv, NULL);
	mbedtls_ssl_set_timer_cb(&c->ssl, &c->timer, mbedtls_timing_set_delay, mbedtls_timing_get_delay);
	if (gResume && mbedtls_ssl_set_session(&c->ssl, &gSaved)) {
		fprintf(stderr, "dtls-load: set_session failed\n");
		exit(1);
	}
	c->started = now_ns();
	c->flight_sent = 0;
	c->flight = 0;
}

static void client_close(client_t* c)
{
	if (!c->used)
		return;
	if (c->state == 1)
		mbedtls_ssl_close_notify(&c->ssl);
	mbedtls_ssl_free(&c->ssl);
	close(c->fd);
	c->used = 0;
}

/* one handshake step; returns 1 when it just completed */
static int client_handshake(client_t* c)
{
	int ret = mbedtls_ssl_handshake(&c->ssl);
	if (ret == 0) {
		c->state = 1;
		/* 2.28's client keeps the handshake state's resume flag private; an abbreviated handshake keeps the offered session's master secret */
		if (gResume && !memcmp(c->ssl.session->master, gSaved.master, sizeof(gSaved.master)))
			gResumed++;
		return 1;
	}
	if (ret != MBEDTLS_ERR_SSL_WANT_READ && ret != MBEDTLS_ERR_SSL_WANT_WRITE)
		c->state = 2;
	return 0;
}

static size_t build_request(uint8_t* out, uint8_t code, uint16_t mid, int observe, const char* payload)
{
	size_t n = 0;
	unsigned previous = 0;
	const char* segment = gPath;
	out[n++] = 0x42; /* ver 1, CON, TKL 2 */
	out[n++] = code;
	out[n++] = mid >> 8;
	out[n++] = mid & 0xff;
	out[n++] = mid >> 8;
	out[n++] = mid & 0xff;
	if (observe >= 0) {
		out[n++] = 0x61; /* Observe (6), 1 byte */
		out[n++] = (uint8_t)observe;
		previous = 6;
	}
	while (*segment) {
		const char* end = strchr(segment, '/');
		size_t length = end ? (size_t)(end - segment) : strlen(segment);
		if (length > 12 || n + 1 + length > 200) {
			fprintf(stderr, "dtls-load: path segment too long\n");
			exit(2);
		}
		out[n++] = (uint8_t)(((11 - previous) << 4) | length);
		previous = 11;
		memcpy(out + n, segment, length);
		n += length;
		segment += length;
		if (*segment == '/')
			segment++;
	}
	if (payload && *payload) {
		out[n++] = 0xff;
		memcpy(out + n, payload, strlen(payload));
		n += strlen(payload);
	}
	return n;
}

static void client_get(client_t* c, int64_t t)
{
	uint8_t buffer[256];
	size_t n = build_request(buffer, 1, c->mid, -1, NULL);
	int ret = mbedtls_ssl_write(&c->ssl, buffer, n);
	if (ret < 0 && ret != MBEDTLS_ERR_SSL_WANT_WRITE && ret != MBEDTLS_ERR_SSL_WANT_READ)
		c->state = 2;
	c->last_send = t;
	c->outstanding = 1;
}

/* runs every client once: handshakes forward, responses read; returns handshakes completed */
static int step_all(int count, int64_t t, int64_t measure_from, int readable_only)
{
	int completed = 0;
	for (int i = 0; i < count; i++) {
		client_t* c = &gClients[i];
		if (!c->used || c->state == 2)
			continue;
		int readable = gFds[i].revents & POLLIN;
		if (c->state == 0) {
			if (readable || !readable_only || mbedtls_timing_get_delay(&c->timer) == 2) {
				if (client_handshake(c)) {
					completed++;
					if (t >= measure_from)
						sample(now_ns() - c->started);
				}
			}
			continue;
		}
		if (!readable)
			continue;
		for (int k = 0; k < 16; k++) {
			uint8_t buffer[1500];
			int n = mbedtls_ssl_read(&c->ssl, buffer, sizeof buffer);
			if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
				break;
			if (n <= 0) {
				c->state = 2;
				break;
			}
			uint16_t mid = n >= 4 ? (uint16_t)((buffer[2] << 8) | buffer[3]) : 0;
			if (n >= 4 && ((buffer[0] >> 4) & 3) == 2 && mid == c->mid && c->outstanding) {
				int64_t now = now_ns();
				if (now >= measure_from)
					sample(now - c->sent_at);
				c->outstanding = 0;
				c->mid++;
			}
		}
	}
	return completed;
}

static void poll_all(int count, int timeout_ms, int with_stdin)
{
	for (int i = 0; i < count; i++)
		gFds[i] = (struct pollfd){ .fd = gClients[i].used ? gClients[i].fd : -1, .events = POLLIN };
	gFds[count] = (struct pollfd){ .fd = with_stdin ? 0 : -1, .events = POLLIN };
	if (poll(gFds, (nfds_t)count + 1, timeout_ms) < 0 && errno != EINTR) {
		perror("dtls-load: poll");
		exit(1);
	}
}

/* opens `count` sessions at once and waits until they are established (or the deadline) */
static int establish(int count, int64_t deadline)
{
	int established = 0;
	for (int i = 0; i < count; i++) {
		client_open(&gClients[i]);
		client_handshake(&gClients[i]);
	}
	while (now_ns() < deadline) {
		established = 0;
		int pending = 0;
		for (int i = 0; i < count; i++) {
			established += gClients[i].state == 1;
			pending += gClients[i].state == 0;
		}
		if (!pending)
			break;
		poll_all(count, 5, 0);
		step_all(count, now_ns(), INT64_MAX, 1);
	}
	established = 0;
	for (int i = 0; i < count; i++)
		established += gClients[i].state == 1;
	return established;
}

static int mode_handshake(int concurrent, long max, double seconds)
{
	gFlightRoom = max;   /* one answer per flight and handshake, and at most max handshakes start */
	for (int k = 0; k < FLIGHTS; k++) {
		gFlights[k] = malloc(sizeof(int64_t) * max);
		gFlightCount[k] = 0;
		if (!gFlights[k]) {
			fprintf(stderr, "dtls-load: out of memory\n");
			return 1;
		}
	}
	int64_t start = now_ns(), stop = start + (int64_t)(seconds * 1e9);
	long completed = 0, failed = 0, started = 0;
	for (int i = 0; i < concurrent && started < max; i++, started++) {
		client_open(&gClients[i]);
		client_handshake(&gClients[i]);
	}
	while (now_ns() < stop && completed + failed < max) {
		poll_all(concurrent, 5, 0);
		int64_t t = now_ns();
		step_all(concurrent, t, 0, 1);
		for (int i = 0; i < concurrent; i++) {
			client_t* c = &gClients[i];
			int over = c->used && c->state == 0 && t - c->started > 10000000000LL;   /* 10 s: give up */
			if (!c->used || (c->state == 0 && !over))
				continue;
			if (c->state == 1)
				completed++;
			else
				failed++;
			client_close(c);
			if (started < max) {
				client_open(c);
				client_handshake(c);
				started++;
			}
		}
	}
	int64_t end = now_ns();
	double elapsed = (double)(end - start) / 1e9;
	/* a handshake that took half the retransmission timeout or more waited for a flight to be sent again;
	   so did one still waiting that long when the run ended (in a short run, the usual place of the wait) */
	long resent = 0;
	for (long i = 0; i < gSampleCount; i++)
		resent += gSamples[i] >= RETRANSMIT_NS / 2;
	for (int i = 0; i < concurrent; i++) {
		resent += gClients[i].used && gClients[i].state == 0 && end - gClients[i].started >= RETRANSMIT_NS / 2;
		client_close(&gClients[i]);
	}
	long p50 = percentile_us(50), p99 = percentile_us(99);
	printf("{\"mode\":\"%s\",\"concurrent\":%d,\"completed\":%ld,\"resumed\":%ld,\"failed\":%ld,\"seconds\":%.3f,\"hps\":%.1f,\"p50_us\":%ld,\"p99_us\":%ld,\"resent\":%ld,\"flights_us\":[",
		gResume ? "resume" : "handshake", concurrent, completed, gResumed, failed, elapsed, completed / elapsed, p50, p99, resent);
	for (int k = 0; k < FLIGHTS && gFlightCount[k]; k++)
		printf("%s%.1f", k ? "," : "", percentile(gFlights[k], gFlightCount[k], 50) / 1e3);
	printf("]}\n");
	return completed > 0 ? 0 : 1;
}

static int mode_rps(int count, double seconds, double warmup_ms)
{
	int established = establish(count, now_ns() + 20000000000LL);
	long retransmits = 0, answered_before = 0;
	gSampleCount = 0;
	int64_t start = now_ns(), measure_from = start + (int64_t)(warmup_ms * 1e6), stop = measure_from + (int64_t)(seconds * 1e9);
	for (int i = 0; i < count; i++)
		if (gClients[i].state == 1) {
			gClients[i].sent_at = start;
			client_get(&gClients[i], start);
		}
	while (now_ns() < stop && established > 0) {
		poll_all(count, 10, 0);
		int64_t t = now_ns();
		step_all(count, t, measure_from, 1);
		for (int i = 0; i < count; i++) {
			client_t* c = &gClients[i];
			if (c->state != 1)
				continue;
			if (!c->outstanding) {
				c->sent_at = t;
				client_get(c, t);
			}
			else if (t - c->last_send > RETRANSMIT_NS) {
				retransmits++;
				uint8_t buffer[256];
				size_t n = build_request(buffer, 1, c->mid, -1, NULL);
				mbedtls_ssl_write(&c->ssl, buffer, n);
				c->last_send = t;
			}
		}
	}
	(void)answered_before;
	double window = (double)(now_ns() - measure_from) / 1e9;
	long answered = gSampleCount;
	long p50 = percentile_us(50), p99 = percentile_us(99);
	for (int i = 0; i < count; i++)
		client_close(&gClients[i]);
	printf("{\"mode\":\"rps\",\"sessions\":%d,\"established\":%d,\"requests\":%ld,\"seconds\":%.3f,\"rps\":%.0f,\"p50_us\":%ld,\"p99_us\":%ld,\"retransmits\":%ld}\n",
		count, established, answered, window, window > 0 ? answered / window : 0, p50, p99, retransmits);
	return answered > 0 ? 0 : 1;
}

static int mode_hold(int count, double seconds)
{
	int64_t t0 = now_ns();
	int established = establish(count, now_ns() + 15000000000LL);
	printf("{\"mode\":\"hold\",\"ready\":true,\"sessions\":%d,\"established\":%d,\"setup_ms\":%.0f}\n", count, established, (double)(now_ns() - t0) / 1e6);
	fflush(stdout);
	int64_t stop = now_ns() + (int64_t)(seconds * 1e9);
	while (now_ns() < stop) {
		poll_all(count, 50, 1);
		if (gFds[count].revents)
			break;   /* stdin closed or a line: the benchmark has measured */
		step_all(count, now_ns(), INT64_MAX, 1);
	}
	for (int i = 0; i < count; i++)
		client_close(&gClients[i]);
	return 0;
}

/* ---- Observe fan-out, plain CoAP ---- */

/* whether a CoAP message carries option `wanted` */
static int has_option(const uint8_t* m, size_t n, unsigned wanted)
{
	size_t p = 4 + (m[0] & 0x0f);
	unsigned number = 0;
	while (p < n && m[p] != 0xff) {
		unsigned delta = m[p] >> 4, length = m[p] & 0x0f;
		p++;
		if (delta == 13) delta = 13 + m[p++];
		else if (delta == 14) { delta = 269 + ((m[p] << 8) | m[p + 1]); p += 2; }
		if (length == 13) length = 13 + m[p++];
		else if (length == 14) { length = 269 + ((m[p] << 8) | m[p + 1]); p += 2; }
		if (delta == 15 || length == 15) return 0;
		number += delta;
		if (number == wanted) return 1;
		p += length;
	}
	return 0;
}

static int mode_observe(int count, int rounds, int wait)
{
	int fds[MAX_CLIENTS];
	int registered = 0;
	uint8_t buffer[1500];
	long p_last[64], p_first[64];
	int done_rounds = 0;
	for (int i = 0; i < count; i++) {
		fds[i] = open_socket();
		size_t n = build_request(buffer, 1, (uint16_t)i, 0, NULL);
		send(fds[i], buffer, n, 0);
		if (i % 16 == 15)
			usleep(2000);   /* do not overrun the server's receive queue */
	}
	static int observing[MAX_CLIENTS];
	int64_t deadline = now_ns() + 60000000000LL;   /* 60 s: the instruction count runs the server under callgrind */
	int answered = 0;
	int64_t resend = now_ns() + 1000000000LL;
	while (answered < count && now_ns() < deadline) {
		if (now_ns() >= resend) {
			/* a registration lost in a full receive queue (a slow server, callgrind): the same request again, paced */
			for (int i = 0, sent = 0; i < count; i++) {
				if (observing[i])
					continue;
				size_t n = build_request(buffer, 1, (uint16_t)i, 0, NULL);
				send(fds[i], buffer, n, 0);
				if (++sent % 16 == 0)
					usleep(2000);
			}
			resend = now_ns() + 1000000000LL;
		}
		for (int i = 0; i < count; i++)
			gFds[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		poll(gFds, (nfds_t)count, 10);
		for (int i = 0; i < count; i++) {
			if (!(gFds[i].revents & POLLIN))
				continue;
			ssize_t n = recv(fds[i], buffer, sizeof buffer, 0);
			if (n < 4 || ((buffer[0] >> 4) & 3) != 2 || observing[i])
				continue;
			answered++;
			/* an Observe option (6) in the answer: registered */
			observing[i] = has_option(buffer, (size_t)n, 6) ? 1 : -1;
			registered += observing[i] == 1;
		}
	}
	if (wait) {
		char line[16];
		printf("{\"registered\":%d}\n", registered);
		fflush(stdout);
		if (!fgets(line, sizeof line, stdin))
			return 1;
	}
	int put = open_socket();
	for (int r = 0; r < rounds + 1 && r < 64; r++) {
		static int notified[MAX_CLIENTS];
		memset(notified, 0, sizeof notified);
		size_t n = build_request(buffer, 3, (uint16_t)(0x8000 + r), -1, (r & 1) ? "0" : "1");
		int64_t sent = now_ns(), last = 0, first = 0;
		send(put, buffer, n, 0);
		int got = 0;
		int64_t until = sent + 5000000000LL;
		while (got < registered && now_ns() < until) {
			for (int i = 0; i < count; i++)
				gFds[i] = (struct pollfd){ .fd = observing[i] == 1 ? fds[i] : -1, .events = POLLIN };
			poll(gFds, (nfds_t)count, 10);
			for (int i = 0; i < count; i++) {
				if (!(gFds[i].revents & POLLIN))
					continue;
				ssize_t m;
				while ((m = recv(fds[i], buffer, sizeof buffer, 0)) >= 4) {
					int type = (buffer[0] >> 4) & 3;
					if (type == 0) { /* a CON notification: ACK it */
						uint8_t ack[4] = { 0x60, 0, buffer[2], buffer[3] };
						send(fds[i], ack, 4, 0);
					}
					if (!notified[i] && (type == 0 || type == 1)) {
						notified[i] = 1;
						got++;
						last = now_ns();
						if (!first)
							first = last;
					}
				}
			}
		}
		recv(put, buffer, sizeof buffer, MSG_DONTWAIT);
		p_last[r] = got == registered ? (long)((last - sent) / 1000) : -1;
		p_first[r] = (long)((first - sent) / 1000);
		if (getenv("DTLS_LOAD_DEBUG")) fprintf(stderr, "round %d: %d of %d notified, last after %ld us\n", r, got, registered, (long)((last - sent) / 1000));
		done_rounds++;
		usleep(200000);
	}
	long worst = 0, sum = 0, sum_first = 0;
	int complete = 0;
	for (int r = 1; r < done_rounds; r++) {   /* round 0 warms the server up (its first PUT, first notification) */
		if (p_last[r] < 0)
			continue;
		complete++;
		sum += p_last[r];
		sum_first += p_first[r];
		if (p_last[r] > worst)
			worst = p_last[r];
	}
	done_rounds--;
	printf("{\"mode\":\"observe\",\"observers\":%d,\"registered\":%d,\"rounds\":%d,\"complete\":%d,\"mean_first_us\":%ld,\"mean_last_us\":%ld,\"max_last_us\":%ld}\n",
		count, registered, done_rounds, complete, complete ? sum_first / complete : -1, complete ? sum / complete : -1, complete ? worst : -1);
	if (wait) {
		char line[16];
		fflush(stdout);
		while (fgets(line, sizeof line, stdin))
			;
	}
	/* deregister (GET with Observe=1, the registration's token), so the next run finds free places */
	for (int i = 0; i < count; i++) {
		if (observing[i] != 1)
			continue;
		size_t n = build_request(buffer, 1, (uint16_t)i, 1, NULL);
		buffer[2] = 0x40 | (uint8_t)(i >> 8);   /* a new Message ID, the same token */
		send(fds[i], buffer, n, 0);
		if (i % 16 == 15)
			usleep(2000);
	}
	usleep(300000);
	for (int i = 0; i < count; i++)
		close(fds[i]);
	close(put);
	return registered > 0 ? 0 : 1;
}

int main(int argc, char** argv)
{
	const char* address = "127.0.0.1";
	const char* mode = "rps";
	const char* identity = "CoAP";
	const char* key = "esp32c3_key";
	int port = 5684, count = 1, rounds = 10, wait = 0;
	long max = 100000;
	double seconds = 5, warmup_ms = 300;
	int opt;
	while ((opt = getopt(argc, argv, "m:a:p:c:n:t:w:u:i:k:r:W")) != -1) {
		switch (opt) {
		case 'm': mode = optarg; break;
		case 'a': address = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'c': count = atoi(optarg); break;
		case 'n': max = atol(optarg); break;
		case 't': seconds = atof(optarg); break;
		case 'w': warmup_ms = atof(optarg); break;
		case 'u': gPath = optarg; break;
		case 'i': identity = optarg; break;
		case 'k': key = optarg; break;
		case 'r': rounds = atoi(optarg); break;
		case 'W': wait = 1; break;
		default:
			fprintf(stderr, "usage: dtls-load -m handshake|resume|rps|hold|observe [-a addr] [-p port] [-c n] [-n max] [-t s] [-w ms] [-u path] [-r rounds] [-W]\n");
			return 2;
		}
	}
	gServer = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, address, &gServer.sin_addr) != 1 || (ntohl(gServer.sin_addr.s_addr) >> 24) != 127) {
		fprintf(stderr, "dtls-load: loopback IPv4 addresses only, not %s\n", address);
		return 2;
	}
	if (count < 1 || count > MAX_CLIENTS || seconds <= 0 || seconds > 120 || max < 1 || max > MAX_SAMPLES) {
		fprintf(stderr, "dtls-load: 1-%d clients, 0-120 s, 1-%d handshakes\n", MAX_CLIENTS, MAX_SAMPLES);
		return 2;
	}
	gSamples = malloc(sizeof(int64_t) * MAX_SAMPLES);
	srand((unsigned)now_ns());
	if (!strcmp(mode, "observe"))
		return mode_observe(count, rounds, wait);

	static const int suites[] = { MBEDTLS_TLS_PSK_WITH_AES_128_CCM_8, 0 };
	mbedtls_entropy_init(&gEntropy);
	mbedtls_ctr_drbg_init(&gDrbg);
	mbedtls_ssl_config_init(&gConf);
	if (mbedtls_ctr_drbg_seed(&gDrbg, mbedtls_entropy_func, &gEntropy, (const unsigned char*)"dtls-load", 9) ||
		mbedtls_ssl_config_defaults(&gConf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_DATAGRAM, MBEDTLS_SSL_PRESET_DEFAULT) ||
		mbedtls_ssl_conf_psk(&gConf, (const unsigned char*)key, strlen(key), (const unsigned char*)identity, strlen(identity))) {
		fprintf(stderr, "dtls-load: mbedtls set-up failed\n");
		return 1;
	}
	mbedtls_ssl_conf_rng(&gConf, mbedtls_ctr_drbg_random, &gDrbg);
	mbedtls_ssl_conf_authmode(&gConf, MBEDTLS_SSL_VERIFY_NONE);
	mbedtls_ssl_conf_ciphersuites(&gConf, suites);
	mbedtls_ssl_conf_handshake_timeout(&gConf, 1000, 8000);
	mbedtls_ssl_conf_min_version(&gConf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);

	if (!strcmp(mode, "handshake"))
		return mode_handshake(count, max, seconds);
	if (!strcmp(mode, "resume")) {
		/* one full handshake, its session saved (with the ticket the server sent, if any) */
		mbedtls_ssl_session_init(&gSaved);
		if (establish(1, now_ns() + 10000000000LL) != 1 || mbedtls_ssl_get_session(&gClients[0].ssl, &gSaved)) {
			fprintf(stderr, "dtls-load: no first session to resume\n");
			return 1;
		}
		client_close(&gClients[0]);
		gResume = 1;
		return mode_handshake(count, max, seconds);
	}
	if (!strcmp(mode, "rps"))
		return mode_rps(count, seconds, warmup_ms);
	if (!strcmp(mode, "hold"))
		return mode_hold(count, seconds);
	fprintf(stderr, "dtls-load: unknown mode %s\n", mode);
	return 2;
}
