/*
 * ECMA-419 `embedded:io/socket/udp` on the host loop, as the Moddable SDK has it on
 * esp32 (lwip) and lin: new UDP({port, address, onReadable, onError}), read() ->
 * ArrayBuffer with `address` and `port`, write(buffer, address, port), close().
 * IPv4 and IPv6: without an address the socket is dual-stack and IPv4 peers show
 * as dotted quads. Datagrams wait in a bounded queue (like lwip's receive mailbox);
 * while it is full the socket is not read, so the kernel drops the excess.
 *
 * Received datagrams are read together: one recvmmsg() takes what the queue has room
 * for (not a recvfrom() each, then one more that finds nothing). A turn's first
 * written datagram goes at once (an answer is not held behind the work that follows
 * it in the turn); the others are sent together: write() checks and copies one, and
 * the socket's batch goes out in one sendmmsg() when it holds UDP_SEND_BATCH, at the
 * end of the turn that wrote it (main.c: after a timer's or a watch's callback and
 * its promise jobs), on close and at exit. A turn that notifies a thousand observers
 * then makes 17 system calls, not a thousand (a sendto() costs 3-5 us on these
 * machines, a datagram of a sendmmsg() about 1; lwip on the device makes no system
 * call at all). A full or unreachable path drops the datagram, as before; any other
 * error is printed, since the write has returned.
 */
#define _GNU_SOURCE 1   /* sendmmsg, recvmmsg */
#include "host.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define UDP_QUEUE_MAX 32          /* datagrams waiting for read() */
#define UDP_MAX_DATAGRAM 1472     /* what fits an Ethernet frame without IP fragmentation */
#define UDP_SEND_BATCH 64         /* datagrams written in a turn, sent together (sendmmsg) */

typedef struct {
	struct sockaddr_storage to;
	socklen_t toLength;
	int length;
	unsigned char data[UDP_MAX_DATAGRAM];
} UDPOut;

typedef struct UDPPacket {
	struct UDPPacket* next;
	struct sockaddr_storage from;
	int length;
	unsigned char data[];
} UDPPacket;

typedef struct UDPRecord {
	int fd;
	int family;
	xsSlot self;
	xsSlot onReadable;
	xsSlot onError;
	int hasReadable;
	int hasError;
	UDPPacket* first;
	UDPPacket* last;
	int queued;
	unsigned dropped;
	UDPOut* out;              /* written datagrams not sent yet (UDP_SEND_BATCH, allocated on the first write) */
	int outCount;
	int pending;              /* in gPending's list */
	struct UDPRecord* nextPending;
	unsigned sentAtOnce;      /* the turn (gTurn) whose first datagram went at once */
} UDPRecord;

/* the sockets with written datagrams, for hostFlushOutput() */
static UDPRecord* gPending = NULL;
/* counts turns (hostFlushOutput() ends one) */
static unsigned gTurn = 1;

static void udpFlush(UDPRecord* u)
{
	struct mmsghdr messages[UDP_SEND_BATCH];
	struct iovec vectors[UDP_SEND_BATCH];
	int i, sent = 0;
	for (i = 0; i < u->outCount; i++) {
		vectors[i].iov_base = u->out[i].data;
		vectors[i].iov_len = u->out[i].length;
		memset(&messages[i], 0, sizeof(messages[i]));
		messages[i].msg_hdr.msg_name = &u->out[i].to;
		messages[i].msg_hdr.msg_namelen = u->out[i].toLength;
		messages[i].msg_hdr.msg_iov = &vectors[i];
		messages[i].msg_hdr.msg_iovlen = 1;
	}
	while (sent < u->outCount) {
		int n = sendmmsg(u->fd, messages + sent, u->outCount - sent, 0);
		if (n < 0) {
			int error = errno;
			/* like lwip: a full or unreachable path drops the datagram; UDP promises nothing */
			if ((error != EAGAIN) && (error != ENOBUFS) && (error != ECONNREFUSED) && (error != ENETUNREACH) && (error != EINTR))
				fprintf(stderr, "udp: write: %s\n", strerror(error));
			if (error != EINTR)
				sent++;
			continue;
		}
		sent += n;
	}
	u->outCount = 0;
}

/* the main loop's call at the end of a turn and before it waits: every socket's written datagrams go out */
void hostFlushOutput(void)
{
	gTurn++;
	while (gPending) {
		UDPRecord* u = gPending;
		gPending = u->nextPending;
		u->nextPending = NULL;
		u->pending = 0;
		udpFlush(u);
	}
}

static void udpRelease(xsMachine* the, UDPRecord* u, int forget)
{
	if (u->outCount && u->fd >= 0)
		udpFlush(u);
	if (u->pending) {
		UDPRecord** link = &gPending;
		while (*link != u)
			link = &(*link)->nextPending;
		*link = u->nextPending;
		u->pending = 0;
	}
	free(u->out);
	u->out = NULL;
	while (u->first) {
		UDPPacket* p = u->first;
		u->first = p->next;
		free(p);
	}
	u->last = NULL;
	u->queued = 0;
	if (u->fd >= 0) {
		hostUnwatch(u->fd);
		close(u->fd);
		u->fd = -1;
		if (forget) {
			if (u->hasReadable)
				xsForget(u->onReadable);
			if (u->hasError)
				xsForget(u->onError);
			xsForget(u->self);
		}
	}
}

void xs_udp_destructor(void* data)
{
	UDPRecord* u = data;
	if (u) {
		udpRelease(NULL, u, 0);
		free(u);
	}
}

static void udpCall(UDPRecord* u, xsSlot* callback, int count, const char* where)
{
	xsMachine* the = hostMachine;
	xsBeginHost(the);
	{
		xsTry {
			if (count >= 0)
				xsCallFunction1(*callback, u->self, xsInteger(count));
			else
				xsCallFunction0(*callback, u->self);
		}
		xsCatch {
			hostReportException(the, where);
		}
	}
	xsEndHost(the);
}

static void udpOnPoll(void* refcon, short revents)
{
	UDPRecord* u = refcon;
	int received = 0;
	if (revents & (POLLERR | POLLNVAL)) {
		int error = 0;
		socklen_t length = sizeof(error);
		getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &error, &length);
		/* ICMP port unreachable from a previous write is not fatal for a server socket */
		if (!(revents & POLLIN) && u->hasError && (error != ECONNREFUSED)) {
			udpCall(u, &u->onError, -1, "udp onError");
			return;
		}
	}
	/* what the queue has room for, in one recvmmsg() (the kernel stops at the last datagram waiting) */
	while (u->queued < UDP_QUEUE_MAX) {
		static unsigned char buffers[UDP_QUEUE_MAX][UDP_MAX_DATAGRAM];
		static struct sockaddr_storage froms[UDP_QUEUE_MAX];
		static struct iovec vectors[UDP_QUEUE_MAX];
		static struct mmsghdr messages[UDP_QUEUE_MAX];
		static int laidOut = 0;
		int room = UDP_QUEUE_MAX - u->queued;
		if (!laidOut) {
			for (int i = 0; i < UDP_QUEUE_MAX; i++) {
				vectors[i].iov_base = buffers[i];
				vectors[i].iov_len = UDP_MAX_DATAGRAM;
				messages[i].msg_hdr.msg_name = &froms[i];
				messages[i].msg_hdr.msg_iov = &vectors[i];
				messages[i].msg_hdr.msg_iovlen = 1;
			}
			laidOut = 1;
		}
		/* the one field the kernel changes that it also reads (the flags it only writes) */
		for (int i = 0; i < room; i++)
			messages[i].msg_hdr.msg_namelen = sizeof(froms[i]);
		int count = recvmmsg(u->fd, messages, (unsigned)room, MSG_DONTWAIT, NULL);
		if (count < 0) {
			if ((errno == ECONNREFUSED) || (errno == EINTR))
				continue;
			break; /* EAGAIN: nothing more */
		}
		for (int i = 0; i < count; i++) {
			/* longer than UDP_MAX_DATAGRAM: cut by the kernel, dropped here */
			if (messages[i].msg_hdr.msg_flags & MSG_TRUNC) {
				u->dropped++;
				continue;
			}
			int n = (int)messages[i].msg_len;
			UDPPacket* p = malloc(sizeof(UDPPacket) + n);
			if (!p) {
				u->dropped++;
				continue;
			}
			p->next = NULL;
			p->from = froms[i];
			p->length = n;
			memcpy(p->data, buffers[i], n);
			if (u->last)
				u->last->next = p;
			else
				u->first = p;
			u->last = p;
			u->queued++;
			received++;
		}
		if (count < room)
			break;
	}
	if (u->queued >= UDP_QUEUE_MAX)
		hostWatchEvents(u->fd, 0);
	if (received && u->hasReadable)
		udpCall(u, &u->onReadable, u->queued, "udp onReadable");
}

static UDPRecord* udpFrom(xsMachine* the)
{
	UDPRecord* u = xsmcGetHostData(xsThis);
	if (!u || (u->fd < 0))
		xsUnknownError("closed");
	return u;
}

void xs_udp_constructor(xsMachine* the)
{
	UDPRecord* u;
	int port = 0;
	char address[INET6_ADDRSTRLEN] = "";
	struct sockaddr_storage bound;
	socklen_t boundLength;
	int fd, family, one = 1, zero = 0;
	xsmcVars(1);
	if ((xsmcArgc < 1) || !xsmcIsInstanceOf(xsArg(0), xsObjectPrototype))
		xsTypeError("options required");
	if (xsmcHas(xsArg(0), xsID("port"))) {
		xsmcGet(xsVar(0), xsArg(0), xsID("port"));
		if (xsmcTest(xsVar(0))) {
			port = xsmcToInteger(xsVar(0));
			if ((port < 0) || (port > 65535))
				xsRangeError("invalid port");
		}
	}
	if (xsmcHas(xsArg(0), xsID("address"))) {
		xsmcGet(xsVar(0), xsArg(0), xsID("address"));
		if (xsmcTest(xsVar(0))) {
			const char* text = xsmcToString(xsVar(0));
			if (strlen(text) >= sizeof(address))
				xsRangeError("invalid address");
			strcpy(address, text);
		}
	}
	if (xsmcHas(xsArg(0), xsID("format"))) {
		xsmcGet(xsVar(0), xsArg(0), xsID("format"));
		if (xsmcTest(xsVar(0)) && strcmp(xsmcToString(xsVar(0)), "buffer"))
			xsRangeError("unsupported format");
	}
	memset(&bound, 0, sizeof(bound));
	if (address[0] && strchr(address, ':') == NULL) {
		struct sockaddr_in* sin = (struct sockaddr_in*)&bound;
		family = AF_INET;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		if (inet_pton(AF_INET, address, &sin->sin_addr) != 1)
			xsRangeError("invalid address");
		boundLength = sizeof(*sin);
	}
	else {
		struct sockaddr_in6* sin6 = (struct sockaddr_in6*)&bound;
		family = AF_INET6;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		if (address[0] && (inet_pton(AF_INET6, address, &sin6->sin6_addr) != 1))
			xsRangeError("invalid address");
		if (!address[0])
			sin6->sin6_addr = in6addr_any;
		boundLength = sizeof(*sin6);
	}
	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		xsUnknownError("socket: %s", strerror(errno));
	if (family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, address[0] ? &one : &zero, sizeof(int));
	if (bind(fd, (struct sockaddr*)&bound, boundLength) < 0) {
		int error = errno;
		close(fd);
		xsUnknownError("bind port %d: %s", port, strerror(error));
	}
	u = calloc(1, sizeof(UDPRecord));
	if (!u) {
		close(fd);
		xsUnknownError("no memory");
	}
	u->fd = fd;
	u->family = family;
	xsmcSetHostData(xsThis, u);
	u->self = xsThis;
	xsRemember(u->self);
	xsmcGet(xsVar(0), xsArg(0), xsID("onReadable"));
	if (xsmcIsInstanceOf(xsVar(0), xsFunctionPrototype)) {
		u->onReadable = xsVar(0);
		xsRemember(u->onReadable);
		u->hasReadable = 1;
	}
	xsmcGet(xsVar(0), xsArg(0), xsID("onError"));
	if (xsmcIsInstanceOf(xsVar(0), xsFunctionPrototype)) {
		u->onError = xsVar(0);
		xsRemember(u->onError);
		u->hasError = 1;
	}
	if (hostWatch(fd, POLLIN, 1, udpOnPoll, u) < 0) {
		udpRelease(the, u, 1);
		xsUnknownError("too many sockets");
	}
}

void xs_udp_close(xsMachine* the)
{
	UDPRecord* u = xsmcGetHostData(xsThis);
	if (u && (u->fd >= 0))
		udpRelease(the, u, 1);
}

/* dotted quad by hand: glibc's inet_ntop goes through sprintf, a few thousand instructions a datagram (lwIP's ipaddr_ntoa on the device is a loop like this) */
static void formatIPv4(const unsigned char* a, char* text)
{
	int i;
	for (i = 0; i < 4; i++) {
		unsigned v = a[i];
		if (v >= 100)
			*text++ = (char)('0' + v / 100);
		if (v >= 10)
			*text++ = (char)('0' + (v / 10) % 10);
		*text++ = (char)('0' + v % 10);
		*text++ = (i < 3) ? '.' : 0;
	}
}

static void formatAddress(struct sockaddr_storage* from, char* text, int* port)
{
	if (from->ss_family == AF_INET) {
		struct sockaddr_in* sin = (struct sockaddr_in*)from;
		formatIPv4((const unsigned char*)&sin->sin_addr, text);
		*port = ntohs(sin->sin_port);
	}
	else {
		struct sockaddr_in6* sin6 = (struct sockaddr_in6*)from;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			formatIPv4(&sin6->sin6_addr.s6_addr[12], text);
		else
			inet_ntop(AF_INET6, &sin6->sin6_addr, text, INET6_ADDRSTRLEN);
		*port = ntohs(sin6->sin6_port);
	}
}

void xs_udp_read(xsMachine* the)
{
	UDPRecord* u = udpFrom(the);
	UDPPacket* p = u->first;
	char text[INET6_ADDRSTRLEN];
	int port;
	if (!p)
		return;
	u->first = p->next;
	if (!u->first)
		u->last = NULL;
	if (u->queued-- == UDP_QUEUE_MAX)
		hostWatchEvents(u->fd, POLLIN);
	xsmcVars(1);
	xsmcSetArrayBuffer(xsResult, p->data, p->length);
	formatAddress(&p->from, text, &port);
	free(p);
	xsmcSetString(xsVar(0), text);
	xsmcSet(xsResult, xsID("address"), xsVar(0));
	xsmcSetInteger(xsVar(0), port);
	xsmcSet(xsResult, xsID("port"), xsVar(0));
}

void xs_udp_write(xsMachine* the)
{
	UDPRecord* u = udpFrom(the);
	struct sockaddr_storage to;
	socklen_t toLength;
	const char* address;
	int port;
	void* data;
	xsUnsignedValue length;
	if (xsmcArgc < 3)
		xsTypeError("write(buffer, address, port)");
	port = xsmcToInteger(xsArg(2));
	if ((port <= 0) || (port > 65535))
		xsRangeError("invalid port");
	address = xsmcToString(xsArg(1));
	memset(&to, 0, sizeof(to));
	if (u->family == AF_INET) {
		struct sockaddr_in* sin = (struct sockaddr_in*)&to;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		if (inet_pton(AF_INET, address, &sin->sin_addr) != 1)
			xsRangeError("invalid address");
		toLength = sizeof(*sin);
	}
	else {
		struct sockaddr_in6* sin6 = (struct sockaddr_in6*)&to;
		struct in_addr v4;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		if (inet_pton(AF_INET, address, &v4) == 1) {
			sin6->sin6_addr.s6_addr[10] = 0xff;
			sin6->sin6_addr.s6_addr[11] = 0xff;
			memcpy(&sin6->sin6_addr.s6_addr[12], &v4, 4);
		}
		else if (inet_pton(AF_INET6, address, &sin6->sin6_addr) != 1)
			xsRangeError("invalid address");
		toLength = sizeof(*sin6);
	}
	xsmcGetBufferReadable(xsArg(0), &data, &length);
	if (length > UDP_MAX_DATAGRAM)
		xsRangeError("datagram too large");
	if (!u->out) {
		u->out = malloc(sizeof(UDPOut) * UDP_SEND_BATCH);
		if (!u->out)
			xsUnknownError("no memory");
	}
	UDPOut* o = &u->out[u->outCount++];
	o->to = to;
	o->toLength = toLength;
	o->length = (int)length;
	memcpy(o->data, data, length);
	if (!u->pending) {
		u->pending = 1;
		u->nextPending = gPending;
		gPending = u;
	}
	/* a turn's first datagram goes at once, as lwip sends it: an answer does not wait for the rest of the turn's work */
	if ((u->outCount == 1) && (u->sentAtOnce != gTurn)) {
		u->sentAtOnce = gTurn;
		udpFlush(u);
	}
	else if (u->outCount == UDP_SEND_BATCH)
		udpFlush(u);
}

void xs_udp_get_format(xsMachine* the)
{
	xsmcSetString(xsResult, "buffer");
}

void xs_udp_set_format(xsMachine* the)
{
	if (strcmp(xsmcToString(xsArg(0)), "buffer"))
		xsRangeError("unsupported format");
}
