/*
 * libFuzzer harness for the record input of the DTLS binding (the C files of modules/dtls-psk),
 * server side, under AddressSanitizer and UndefinedBehaviorSanitizer.
 *
 * The binding's C files are compiled unchanged beside this one (run.sh), against the
 * stand-in xsmc.h beside it, and driven exactly as modules/dtls-psk/server.ts drives it: a
 * datagram from a peer without a session goes to DTLSContext.hello(); a valid cookie
 * opens a DTLSSession that then gets receive(); after every call output() and read()
 * are drained and the state settles (a failed or closed session is freed).
 *
 * One fuzz input is one peer's conversation: a sequence of operations
 *     [op][length: 2 bytes, big-endian][payload: length bytes]
 *   op % 4 == 0  a datagram from the peer (any length up to 4096)
 *   op % 4 == 1  time passes: payload[0..1] * 10 ms; then the server's tick()
 *                (handshake retransmission or timeout, idle close)
 *   op % 4 == 2  the server writes payload as one application record
 *   op % 4 == 3  the server ends the session with close_notify
 *
 * Deterministic by construction, so a recorded handshake replays byte for byte and
 * the fuzzer can mutate past the cookie and the Finished messages: the entropy source
 * is fixed, the DRBG is reseeded before every input, and time() is fixed (cookies
 * carry it, ServerHello.random starts with it). The seed corpus is made by the same
 * file built with -DFUZZ_MAKE_SEEDS: a DTLS client of the binding (its own RNG) talks
 * to the server and the client's datagrams are recorded (make-seeds: see run.sh).
 *
 * Checked on every input, beyond the sanitizers: no answer to a session-less peer is
 * larger than what it sent (no amplification), no datagram is larger than the MTU,
 * nothing is left allocated by the binding once the session is closed (sessions 0).
 */
/*
 * The binding's records, limits and host functions. Its DRBG (versions.c) seeds from
 * fuzzEntropy below: run.sh compiles the binding with -Dmbedtls_entropy_func=fuzzEntropy.
 */
#include "../../../modules/dtls-psk/dtls.h"

#include <stdio.h>
#include <time.h>

#define FUZZ_TIME 1700000000
#define FUZZ_MAX_DATAGRAM 4096
#define FUZZ_MAX_OPS 64
#define FUZZ_MAX_DRAIN 32             /* server.ts: MAX_RECORDS_PER_CALL */
#define FUZZ_IDLE_MS 120000.0         /* server.ts: DEFAULT_IDLE_TIMEOUT_MS */

static const char kTransportId[] = "192.0.2.7|5684";
static const char kIdentity[] = "CoAP";
static const char kKey[] = "esp32c3_key";

/* ---- Determinism ---- */

int fuzzEntropy(void* data, unsigned char* output, size_t length)
{
	size_t i;
	(void)data;
	for (i = 0; i < length; i++)
		output[i] = (unsigned char)(0x5a ^ (i * 29));
	return 0;
}

/* cookies carry the time and ServerHello.random starts with it: one fixed second */
time_t time(time_t* t)
{
	if (t)
		*t = FUZZ_TIME;
	return FUZZ_TIME;
}

static void reseed(void)
{
	dtlsRngStop();
	if (dtlsRngStart()) {
		fprintf(stderr, "fuzz-dtls: rng failed\n");
		abort();
	}
}

/* ---- Calling the binding as XS would ---- */

static xsMachine gMachine;
static xsMachine* const the = &gMachine;
static xsSlot gContext;

static int invoke(void (*function)(xsMachine*), xsSlot* self, xsSlot* args, int argc)
{
	jmp_buf jump;
	shimClear(&the->result);
	the->args = args;
	the->argc = argc;
	the->thisSlot = self;
	the->error[0] = 0;
	the->jump = &jump;
	if (setjmp(jump)) {
		the->jump = NULL;
		return -1;
	}
	function(the);
	the->jump = NULL;
	return 0;
}

static void failure(const char* what)
{
	fprintf(stderr, "fuzz-dtls: %s\n", what);
	abort();
}

static xsSlot hostObject(void (*destructor)(void*))
{
	xsSlot slot;
	memset(&slot, 0, sizeof(slot));
	slot.kind = shimHost;
	slot.destructor = (void*)destructor;
	return slot;
}

static void bufferSlot(xsSlot* slot, const unsigned char* data, size_t length)
{
	memset(slot, 0, sizeof(*slot));
	shimSetBuffer(the, slot, data, length);
}

static void stringSlot(xsSlot* slot, const char* text)
{
	memset(slot, 0, sizeof(*slot));
	shimSetString(the, slot, text);
}

static void numberSlot(xsSlot* slot, double number)
{
	memset(slot, 0, sizeof(*slot));
	shimSetNumber(slot, number);
}

static void makeContext(xsSlot* context, const char* identity, const char* key, int flags, const int* suites, int suiteCount)
{
	xsSlot options, value;
	int i;
	*context = hostObject(xs_dtls_context_destructor);
	memset(&options, 0, sizeof(options));
	memset(&value, 0, sizeof(value));
	shimSetNewObject(the, &options);   /* { identity, key, flags, suites, tickets, cache }, as options.ts builds it */
	bufferSlot(&value, (const unsigned char*)identity, strlen(identity));
	shimSet(the, &options, shimID("identity"), &value);
	shimClear(&value);
	bufferSlot(&value, (const unsigned char*)key, strlen(key));
	shimSet(the, &options, shimID("key"), &value);
	shimClear(&value);
	shimSetInteger(&value, flags);
	shimSet(the, &options, shimID("flags"), &value);
	if (!(flags & kFlagClient)) {
		/* a server as server.ts makes it by default: tickets and the session-ID cache on (a fuzzed ticket goes through ticket parsing) */
		shimClear(&value);
		shimSetInteger(&value, 3600);
		shimSet(the, &options, shimID("tickets"), &value);
		shimClear(&value);
		shimSetInteger(&value, 4);
		shimSet(the, &options, shimID("cache"), &value);
	}
	if (suiteCount) {
		xsSlot item;
		memset(&item, 0, sizeof(item));
		shimClear(&value);
		shimSetNewArray(the, &value, 0);
		for (i = 0; i < suiteCount; i++) {
			shimSetInteger(&item, suites[i]);
			shimSetIndex(the, &value, i, &item);
		}
		shimSet(the, &options, shimID("suites"), &value);
	}
	shimClear(&value);
	if (invoke(xs_dtls_context_constructor, context, &options, 1))
		failure(the->error);
	shimClear(&options);
}

/* ---- The server, as server.ts drives the binding ---- */

typedef void (*Sink)(const unsigned char* data, size_t length);

typedef struct {
	xsSlot object;        /* the DTLSSession host object; host == NULL when none */
	int established;
	double lastActive;
	Sink sink;            /* where output() goes (the recording client, when making seeds) */
	int delivered;        /* application records read() */
} Server;

static double gNow;

static int isClientHello(const unsigned char* d, size_t n)
{
	return (n >= 25) && (d[0] == 22) && (d[1] == 0xfe) && (d[3] == 0) && (d[4] == 0) && (d[13] == 1);
}

static int stateOf(xsSlot* session)
{
	if (invoke(xs_dtls_session_get_state, session, NULL, 0))
		failure(the->error);
	return shimToInteger(the, &the->result);
}

/* every getter once, as logs and stats do */
static void inspect(xsSlot* session)
{
	void (*getters[])(xsMachine*) = {
		xs_dtls_session_get_deadline, xs_dtls_session_get_reason, xs_dtls_session_get_error,
		xs_dtls_session_get_suite, xs_dtls_session_get_identity, xs_dtls_session_get_peer_certificate,
	};
	size_t i;
	for (i = 0; i < sizeof(getters) / sizeof(getters[0]); i++) {
		if (invoke(getters[i], session, NULL, 0))
			failure(the->error);
	}
	shimClear(&the->result);
}

static void flush(Server* server)
{
	int i;
	for (i = 0; i < FUZZ_MAX_DRAIN; i++) {
		if (invoke(xs_dtls_session_output, &server->object, NULL, 0))
			failure(the->error);
		if (the->result.kind == shimUndefined)
			return;
		if (the->result.kind != shimBuffer)
			failure("output() is no ArrayBuffer");
		if (the->result.length > DTLS_MTU)
			failure("a datagram larger than the MTU");
		if (server->sink)
			server->sink(the->result.data, the->result.length);
		shimClear(&the->result);
	}
}

static void deliver(Server* server)
{
	int i;
	for (i = 0; i < FUZZ_MAX_DRAIN; i++) {
		if (invoke(xs_dtls_session_read, &server->object, NULL, 0))
			failure(the->error);
		if (the->result.kind == shimUndefined)
			return;
		if (the->result.kind != shimBuffer)
			failure("read() is no ArrayBuffer");
		server->delivered++;
		shimClear(&the->result);
	}
}

static void removeSession(Server* server)
{
	if (!server->object.host)
		return;
	if (invoke(xs_dtls_session_close, &server->object, NULL, 0))
		failure(the->error);
	if (server->object.host)
		failure("close() left host data");
	server->established = 0;
}

static void settle(Server* server)
{
	int state;
	if (!server->object.host)
		return;
	inspect(&server->object);
	state = stateOf(&server->object);
	if ((state == kStateEstablished) && !server->established)
		server->established = 1;
	else if ((state == kStateFailed) || (state == kStateClosed))
		removeSession(server);
	else if ((state != kStateHandshaking) && (state != kStateEstablished))
		failure("unknown state");
}

static void feed(Server* server, const unsigned char* data, size_t length)
{
	xsSlot args[2];
	server->lastActive = gNow;
	bufferSlot(&args[0], data, length);
	numberSlot(&args[1], gNow);
	if (invoke(xs_dtls_session_receive, &server->object, args, 2))
		failure(the->error);
	shimClear(&args[0]);
	flush(server);
	deliver(server);
	settle(server);
}

static void openSession(Server* server, const unsigned char* hello, size_t length)
{
	xsSlot args[2];
	server->object = hostObject(xs_dtls_session_destructor);
	server->established = 0;
	args[0] = gContext;
	stringSlot(&args[1], kTransportId);
	if (invoke(xs_dtls_session_constructor, &server->object, args, 2)) {
		shimClear(&args[1]);
		if (server->object.host)
			failure("a constructor that threw kept its session");
		return;   /* "no memory": the datagram is dropped */
	}
	shimClear(&args[1]);
	feed(server, hello, length);
}

/* server.ts receive() */
static void serverReceive(Server* server, const unsigned char* data, size_t length)
{
	xsSlot args[2];
	int hello = isClientHello(data, length);
	int verdict;
	if (server->object.host && !hello) {
		feed(server, data, length);
		return;
	}
	if (!server->object.host && ((length == 0) || (data[0] != 22)))
		return;
	bufferSlot(&args[0], data, length);
	stringSlot(&args[1], kTransportId);
	if (invoke(xs_dtls_context_hello, &gContext, args, 2))
		failure(the->error);
	shimClear(&args[0]);
	shimClear(&args[1]);
	if (the->result.kind == shimBuffer) {
		const unsigned char* hvr = the->result.data;
		if (the->result.length > length)
			failure("a HelloVerifyRequest larger than the ClientHello (amplification)");
		if ((the->result.length < 28) || (hvr[0] != 22) || (hvr[13] != 3))
			failure("hello() answered something other than a HelloVerifyRequest");
		if (server->sink)
			server->sink(hvr, the->result.length);
		shimClear(&the->result);
		return;
	}
	if (the->result.kind != shimBoolean)
		failure("hello() answered neither a buffer nor a boolean");
	verdict = the->result.boolean;
	shimClear(&the->result);
	if (!verdict) {
		if (server->object.host)
			feed(server, data, length);
		return;
	}
	if (server->object.host) {
		if (!server->established) {
			feed(server, data, length);
			return;
		}
		removeSession(server);   /* RFC 6347 4.2.8: the old session goes */
	}
	openSession(server, data, length);
}

static void closeNotify(Server* server)
{
	xsSlot args[1];
	if (!server->object.host)
		return;
	numberSlot(&args[0], gNow);
	if (invoke(xs_dtls_session_close_notify, &server->object, args, 1))
		failure(the->error);
	flush(server);
	removeSession(server);
}

/* server.ts tick() */
static void serverTick(Server* server)
{
	xsSlot args[1];
	double deadline;
	if (!server->object.host)
		return;
	if (gNow - server->lastActive >= FUZZ_IDLE_MS) {
		closeNotify(server);
		return;
	}
	if (invoke(xs_dtls_session_get_deadline, &server->object, NULL, 0))
		failure(the->error);
	deadline = shimToNumber(the, &the->result);
	if ((deadline >= 0) && (gNow >= deadline)) {
		numberSlot(&args[0], gNow);
		if (invoke(xs_dtls_session_tick, &server->object, args, 1))
			failure(the->error);
		flush(server);
		settle(server);
	}
}

static void serverWrite(Server* server, const unsigned char* data, size_t length)
{
	xsSlot args[2];
	if (!server->object.host || !server->established)
		return;
	server->lastActive = gNow;
	bufferSlot(&args[0], data, length);
	numberSlot(&args[1], gNow);
	if (invoke(xs_dtls_session_write, &server->object, args, 2))
		failure(the->error);
	shimClear(&args[0]);
	flush(server);
	settle(server);
}

static void checkNothingLeft(void)
{
	xsSlot self;
	memset(&self, 0, sizeof(self));
	if (invoke(xs_dtls_stats, &self, NULL, 0))
		failure(the->error);
	if (shimToInteger(the, &the->result.items[0]) != 0)
		failure("a session is left after its close");
	shimClear(&the->result);
}

/* ---- One input ---- */

static void setUp(void)
{
	static int done = 0;
	if (done)
		return;
	makeContext(&gContext, kIdentity, kKey, 0, NULL, 0);
	done = 1;
}

static void runOperation(Server* server, int op, const unsigned char* payload, size_t length)
{
	switch (op & 3) {
	case 0:
		serverReceive(server, payload, length);
		break;
	case 1:
		gNow += 10.0 * (double)((length > 0 ? payload[0] << 8 : 0) | (length > 1 ? payload[1] : 0));
		serverTick(server);
		break;
	case 2:
		serverWrite(server, payload, length);
		break;
	case 3:
		closeNotify(server);
		break;
	}
}

static int runInput(const uint8_t* data, size_t size, Server* server)
{
	size_t at = 0;
	int ops = 0;
	setUp();
	reseed();
	gNow = 1000.0;
	while ((at + 3 <= size) && (ops++ < FUZZ_MAX_OPS)) {
		int op = data[at];
		size_t length = ((size_t)data[at + 1] << 8) | data[at + 2];
		at += 3;
		if (length > size - at)
			length = size - at;
		if (length > FUZZ_MAX_DATAGRAM)
			length = FUZZ_MAX_DATAGRAM;
		runOperation(server, op, data + at, length);
		at += length;
	}
	return ops;
}

#ifndef FUZZ_MAKE_SEEDS

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
	Server server;
	memset(&server, 0, sizeof(server));
	runInput(data, size, &server);
	removeSession(&server);
	checkNothingLeft();
	return 0;
}

#else /* FUZZ_MAKE_SEEDS: the seed corpus, recorded from the binding's own client */

static unsigned char gRecord[65536];
static size_t gRecordLength;
static xsSlot gClient;
static Server gServer;
static unsigned char gToClient[FUZZ_MAX_DRAIN][DTLS_MTU + 64];
static size_t gToClientLength[FUZZ_MAX_DRAIN];
static int gToClientCount;
static uint32_t gClientRandomState;

static int clientRandom(void* data, unsigned char* output, size_t length)
{
	size_t i;
	(void)data;
	for (i = 0; i < length; i++) {
		gClientRandomState = gClientRandomState * 1103515245u + 12345u;
		output[i] = (unsigned char)(gClientRandomState >> 16);
	}
	return 0;
}

static void record(int op, const unsigned char* payload, size_t length)
{
	if (gRecordLength + 3 + length > sizeof(gRecord))
		failure("seed too long");
	gRecord[gRecordLength++] = (unsigned char)op;
	gRecord[gRecordLength++] = (unsigned char)(length >> 8);
	gRecord[gRecordLength++] = (unsigned char)length;
	memcpy(gRecord + gRecordLength, payload, length);
	gRecordLength += length;
}

static void toClient(const unsigned char* data, size_t length)
{
	if (gToClientCount < FUZZ_MAX_DRAIN) {
		memcpy(gToClient[gToClientCount], data, length);
		gToClientLength[gToClientCount++] = length;
	}
}

/* sends the client's pending datagrams to the server (recorded); returns how many */
static int clientFlush(void)
{
	int n = 0;
	for (;;) {
		if (invoke(xs_dtls_session_output, &gClient, NULL, 0))
			failure(the->error);
		if (the->result.kind == shimUndefined)
			return n;
		{
			unsigned char datagram[FUZZ_MAX_DATAGRAM];
			size_t length = the->result.length;
			memcpy(datagram, the->result.data, length);
			shimClear(&the->result);
			record(0, datagram, length);
			serverReceive(&gServer, datagram, length);
			n++;
		}
	}
}

static void clientReceiveAll(void)
{
	int i, count = gToClientCount;
	gToClientCount = 0;
	for (i = 0; i < count; i++) {
		xsSlot args[2];
		bufferSlot(&args[0], gToClient[i], gToClientLength[i]);
		numberSlot(&args[1], gNow);
		if (invoke(xs_dtls_session_receive, &gClient, args, 2))
			failure(the->error);
		shimClear(&args[0]);
	}
}

static int clientState(void)
{
	return stateOf(&gClient);
}

static void clientWrite(const unsigned char* data, size_t length)
{
	xsSlot args[2];
	bufferSlot(&args[0], data, length);
	numberSlot(&args[1], gNow);
	if (invoke(xs_dtls_session_write, &gClient, args, 2))
		failure(the->error);
	shimClear(&args[0]);
	clientFlush();
}

typedef struct {
	const char* name;
	const char* identity;
	const char* key;
	int suite;              /* 0: the client's default list */
	int stallAfter;         /* > 0: after that many server flights, time passes 1.5 s (retransmission) */
	int talk;               /* after the handshake: a GET, an answer, close_notify */
} Scenario;

static void makeSeed(const char* directory, const Scenario* scenario)
{
	static const unsigned char get[] = { 0x44, 0x01, 0x12, 0x34, 0x7a, 0x11, 0x22, 0x33, 0xb5, 'l', 'i', 'g', 'h', 't' };
	static const unsigned char answer[] = { 0x64, 0x45, 0x12, 0x34, 0x7a, 0x11, 0x22, 0x33, 0xff, '0' };
	xsSlot clientContext, args[2];
	int suites[1];
	int flights = 0, round;
	char path[512];
	FILE* file;
	Server replayed;

	gClientRandomState = 0x1234567u;
	suites[0] = scenario->suite;
	makeContext(&clientContext, scenario->identity, scenario->key, kFlagClient, suites, scenario->suite ? 1 : 0);
	mbedtls_ssl_conf_rng(&((DTLSContext)clientContext.host)->conf, clientRandom, NULL);   /* the server's DRBG stays the server's */

	gRecordLength = 0;
	gToClientCount = 0;
	memset(&gServer, 0, sizeof(gServer));
	gServer.sink = toClient;
	reseed();
	gNow = 1000.0;

	gClient = hostObject(xs_dtls_session_destructor);
	args[0] = clientContext;
	memset(&args[1], 0, sizeof(args[1]));
	if (invoke(xs_dtls_session_constructor, &gClient, args, 2))
		failure(the->error);
	args[0] = (xsSlot){ 0 };
	numberSlot(&args[0], gNow);
	if (invoke(xs_dtls_session_start, &gClient, args, 1))
		failure(the->error);
	clientFlush();
	for (round = 0; (round < 16) && (gToClientCount > 0); round++) {
		if (scenario->stallAfter && (++flights == scenario->stallAfter)) {
			/* the server's flight is lost: time passes, the server retransmits it */
			unsigned char delta[2] = { 0, 150 };
			gToClientCount = 0;
			record(1, delta, 2);
			runOperation(&gServer, 1, delta, 2);
			if (!gToClientCount)
				failure("no retransmission");
		}
		clientReceiveAll();
		if (!clientFlush() && !gToClientCount)
			break;
	}
	if (scenario->talk) {
		if ((clientState() != kStateEstablished) || !gServer.established)
			failure("the seed's handshake did not complete");
		clientWrite(get, sizeof(get));
		record(2, answer, sizeof(answer));
		runOperation(&gServer, 2, answer, sizeof(answer));
		clientReceiveAll();
		numberSlot(&args[0], gNow);
		if (invoke(xs_dtls_session_close_notify, &gClient, args, 1))
			failure(the->error);
		clientFlush();
	}
	removeSession(&gServer);
	invoke(xs_dtls_session_close, &gClient, NULL, 0);
	xs_dtls_context_destructor(clientContext.host);

	snprintf(path, sizeof(path), "%s/%s", directory, scenario->name);
	file = fopen(path, "wb");
	if (!file || (fwrite(gRecord, 1, gRecordLength, file) != gRecordLength) || fclose(file))
		failure("cannot write the seed");

	/* the recording must replay: the same server reaches the same point from the file alone */
	memset(&replayed, 0, sizeof(replayed));
	runInput(gRecord, gRecordLength, &replayed);
	printf("%-24s %5zu bytes; replay: %s, %d application record(s) read\n", scenario->name, gRecordLength,
		replayed.established ? "established" : (replayed.object.host ? "handshaking" : "no session"), replayed.delivered);
	if (scenario->talk && !replayed.delivered)
		failure("the seed does not replay (is the binding's RNG still seeded from mbedtls_entropy_func?)");
	removeSession(&replayed);
	checkNothingLeft();
}

int main(int argc, char** argv)
{
	static const Scenario scenarios[] = {
		{ "psk-ccm8", "CoAP", "esp32c3_key", 0, 0, 1 },
		{ "psk-ccm", "CoAP", "esp32c3_key", 0xc0a4, 0, 1 },
		{ "psk-gcm", "CoAP", "esp32c3_key", 0x00a8, 0, 1 },
		{ "psk-cbc", "CoAP", "esp32c3_key", 0x00ae, 0, 1 },
		{ "ecdhe-psk-cbc", "CoAP", "esp32c3_key", 0xc037, 0, 1 },
		{ "psk-ccm8-retransmit", "CoAP", "esp32c3_key", 0, 2, 1 },
		{ "wrong-key", "CoAP", "not-the-key", 0, 0, 0 },
		{ "wrong-identity", "Intruder", "esp32c3_key", 0, 0, 0 },
	};
	size_t i;
	if (argc != 2) {
		fprintf(stderr, "usage: make-seeds DIRECTORY\n");
		return 2;
	}
	setUp();
	for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		makeSeed(argv[1], &scenarios[i]);
	return 0;
}

#endif
