/* Unit tests for firmware_dongle/core: the core driven through a fake platform (fake_platform.c), byte streams in,
 * frames out, decoded with the protocol codec. Every request type; duplicates answered from the cache and never
 * executed twice; the slot (resume after a link drop and after a reset, SHA-256 refused, out-of-order writes, flash
 * errors); sequence numbers that never go back; garbage, corrupted frames, log forwarding and event numbers. */
#include <stdlib.h>

#include "cobs.h"
#include "core.h"
#include "fake_platform.h"
#include "sha256.h"
#include "tap.h"

#define MAX_RX 128

struct rx {
	struct frame_header h;
	struct msg m;                   /* borrowed pointers point into @frame */
	enum msg_status decoded;
	uint8_t frame[FRAME_MAX_SIZE];
};

static struct fake F;
static struct core C;
static struct rx RX[MAX_RX];
static unsigned rx_count;
static uint32_t next_id;

static const uint8_t NET_KEY[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

/* --- harness --- */

static void boot(enum msg_reset_reason reason, enum msg_log_level forward)
{
	struct core_config cfg = {
		.reset_reason = reason,
		.fw_major = 0, .fw_minor = 1, .fw_patch = 2,
		.build_id = { 0x9c, 0x41, 0xd2, 0x0e, 0x7a, 0x5b, 0x13, 0xf8 },
		.extra_features = MSG_FEATURE_SIMULATED,
		.forward_level = forward,
	};

	is_int(core_init(&C, &F.platform, &cfg), MSG_STATUS_OK, "core_init (%s)", msg_reset_reason_to_string(reason));
	next_id = MSG_HELLO_ID + 1;
}

static void fresh(bool mesh, bool slot)
{
	fake_init(&F, mesh, slot);
	boot(MSG_RESET_POWER_ON, 0);
}

/* Moves every frame the core sent into RX[] (from index 0). */
static void collect(void)
{
	rx_count = 0;
	while (rx_count < MAX_RX) {
		struct rx *r = &RX[rx_count];
		size_t len = fake_next_frame(&F, r->frame);

		if (len == 0)
			break;
		if (frame_decode(r->frame, len, &r->h) != FRAME_OK) {
			ok(0, "the core sent a frame that does not decode");
			continue;
		}
		r->decoded = msg_decode(&r->h, r->frame + FRAME_HEADER_SIZE, &r->m);
		rx_count++;
	}
}

static void feed(const uint8_t *p, size_t len)
{
	core_input(&C, p, len);
}

/* Sends @req (type and kind set here) with request id @id; @chunk > 0 feeds the wire bytes in chunks. */
static void send_as(struct msg *req, uint32_t id, bool retransmit, size_t chunk)
{
	static uint8_t frame[FRAME_MAX_SIZE], wire[COBS_WIRE_MAX(FRAME_MAX_SIZE)];
	size_t len = 0, wire_len;

	req->kind = FRAME_REQUEST;
	if (msg_encode_frame(req, id, retransmit, frame, sizeof(frame), &len) != MSG_STATUS_OK) {
		ok(0, "test bug: cannot encode a %s request", msg_type_to_string(req->type));
		return;
	}
	wire_len = cobs_encode_frame(frame, len, true, wire, sizeof(wire));
	if (chunk == 0)
		chunk = wire_len;
	for (size_t off = 0; off < wire_len; off += chunk)
		feed(wire + off, wire_len - off < chunk ? wire_len - off : chunk);
}

/* The responses among RX[], and the one for @id. */
static unsigned count_kind(enum frame_kind kind)
{
	unsigned n = 0;

	for (unsigned i = 0; i < rx_count; i++)
		n += RX[i].h.kind == kind;
	return n;
}

static struct rx *response_for(uint32_t id)
{
	for (unsigned i = 0; i < rx_count; i++)
		if (RX[i].h.kind == FRAME_RESPONSE && RX[i].h.seq == id)
			return &RX[i];
	return NULL;
}

/* Sends a request with the next id, collects the output, and returns the one response (NULL, and a failed test,
 * if there is not exactly one). */
static struct rx *call_id(struct msg *req, uint32_t id)
{
	struct rx *r;

	send_as(req, id, false, 0);
	collect();
	r = response_for(id);
	if (!r || count_kind(FRAME_RESPONSE) != 1) {
		ok(0, "exactly one response to %s id %#x (got %u)", msg_type_to_string(req->type), id,
		   count_kind(FRAME_RESPONSE));
		return NULL;
	}
	if (r->h.type != req->type)
		ok(0, "response type %#x for a %s request", r->h.type, msg_type_to_string(req->type));
	return r;
}

static struct rx *call(struct msg *req)
{
	return call_id(req, next_id++);
}

/* Status of the response to @req, or -1. */
static int status_of(struct msg *req)
{
	struct rx *r = call(req);

	return r ? r->h.status : -1;
}

static struct msg_hello hello(void)
{
	struct msg req = { .type = MSG_HELLO };
	struct rx *r;

	send_as(&req, MSG_HELLO_ID, false, 0);
	collect();
	next_id = MSG_HELLO_ID + 1;
	r = response_for(MSG_HELLO_ID);
	if (!r || r->h.status != MSG_STATUS_OK || r->decoded != MSG_STATUS_OK) {
		ok(0, "HELLO answered");
		return (struct msg_hello){ 0 };
	}
	return r->m.u.hello;
}

static struct msg_stats stats(void)
{
	struct msg req = { .type = MSG_STATS };
	struct rx *r = call(&req);

	return r && r->decoded == MSG_STATUS_OK ? r->m.u.stats : (struct msg_stats){ 0 };
}

static struct msg_slot_info slot_info_get(void)
{
	struct msg req = { .type = MSG_SLOT_INFO };
	struct rx *r = call(&req);

	return r && r->decoded == MSG_STATUS_OK ? r->m.u.slot_info : (struct msg_slot_info){ 0 };
}

static int slot_image_req(enum msg_type type, uint32_t size, const uint8_t *hash)
{
	struct msg req = { .type = type, .u.slot_image = { .size = size } };

	memcpy(req.u.slot_image.sha256, hash, MSG_SHA256_SIZE);
	return status_of(&req);
}

/* SLOT_WRITE; *ret_written gets the response's bytes_written. */
static int slot_write_req(uint32_t offset, const uint8_t *data, uint16_t len, uint32_t *ret_written)
{
	struct msg req = { .type = MSG_SLOT_WRITE, .u.slot_write = { .offset = offset, .data = data, .len = len } };
	struct rx *r = call(&req);

	if (!r)
		return -1;
	if (r->h.payload_len != 4)
		ok(0, "SLOT_WRITE response carries bytes_written (payload %u bytes)", r->h.payload_len);
	*ret_written = r->h.payload_len == 4 ? r->m.u.bytes_written : 0xdeadbeef;
	return r->h.status;
}

/* Writes image[from, to) in chunks of 1024; returns the number of writes that were not OK. */
static int upload(const uint8_t *image, uint32_t from, uint32_t to)
{
	int bad = 0;
	uint32_t written;

	for (uint32_t off = from; off < to; off += 1024) {
		uint16_t n = (uint16_t)(to - off < 1024 ? to - off : 1024);

		if (slot_write_req(off, image + off, n, &written) != MSG_STATUS_OK || written != off + n)
			bad++;
	}
	return bad;
}

static void make_image(uint8_t *image, size_t len, uint8_t *ret_hash, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		image[i] = (uint8_t)((i * 31 + seed) ^ (i >> 8));
	sha256(image, len, ret_hash);
}

static struct msg mesh_config_msg(uint16_t address, uint32_t iv_index, uint32_t seq)
{
	struct msg m = { .type = MSG_MESH_CONFIG };

	memcpy(m.u.mesh_config.net_key, NET_KEY, 16);
	memcpy(m.u.mesh_config.app_key, NET_KEY, 16);
	m.u.mesh_config.net_key_index = 0;
	m.u.mesh_config.app_key_index = 1;
	m.u.mesh_config.iv_index = iv_index;
	m.u.mesh_config.seq = seq;
	m.u.mesh_config.address = address;
	return m;
}

/* MESH_CONFIG; returns the response's sequence number, or -status. */
static int64_t mesh_config(uint16_t address, uint32_t iv_index, uint32_t seq)
{
	struct msg req = mesh_config_msg(address, iv_index, seq);
	struct rx *r = call(&req);

	if (!r)
		return -1000;
	return r->h.status == MSG_STATUS_OK ? (int64_t)r->m.u.mesh_seq : -(int64_t)r->h.status;
}

static struct msg mesh_send_msg(uint16_t dst, const uint8_t *payload, uint16_t len)
{
	return (struct msg){ .type = MSG_MESH_SEND,
			     .u.mesh_send = { .dst = dst, .key_index = 1, .ttl = MSG_TTL_DEFAULT, .payload = payload,
					      .payload_len = len } };
}

/* --- tests --- */

static void test_hello_and_boot_log(void)
{
	struct msg_hello h;

	fresh(true, true);
	h = hello();
	is_int(h.proto_major, 1, "HELLO: protocol major 1");
	is_int(h.proto_minor, MSG_VERSION_MINOR, "HELLO: protocol minor %d", MSG_VERSION_MINOR);
	is_int(h.reset_reason, MSG_RESET_POWER_ON, "HELLO: reset reason as booted");
	is_int(h.request_window, CORE_REQUEST_WINDOW, "HELLO: request window");
	is_int(h.max_frame, FRAME_MAX_SIZE, "HELLO: max frame");
	is_int(h.max_targets, CORE_MAX_TARGETS, "HELLO: max targets (one distribution's)");
	is_int(h.slot_size, FAKE_SLOT_SIZE, "HELLO: slot size from the platform");
	is_int(h.features, MSG_FEATURE_MESH | MSG_FEATURE_SLOT | MSG_FEATURE_DIST | MSG_FEATURE_SIMULATED,
	       "HELLO: features MESH | SLOT | DIST | the port's SIMULATED");
	is_int(h.next_event_seq, 0, "HELLO: no event sent before");
	ok(h.fw_minor == 1 && h.fw_patch == 2 && h.build_id[0] == 0x9c && h.build_id[7] == 0xf8,
	   "HELLO: firmware version and build id from the config");
	/* the boot line, queued at core_init(), went out after the response with number 0 */
	is_int(count_kind(FRAME_EVENT), 1, "one event after HELLO: the boot log line");
	ok(rx_count == 2 && RX[0].h.kind == FRAME_RESPONSE && RX[1].h.kind == FRAME_EVENT,
	   "the response comes before the queued event");
	if (rx_count == 2) {
		is_int(RX[1].h.type, MSG_LOG, "the event is a LOG");
		is_int(RX[1].h.seq, 0, "... numbered 0");
		is_int(RX[1].decoded, MSG_STATUS_OK, "... and decodes");
		is_int(RX[1].m.u.log.level, MSG_LOG_INFO, "... level INFO");
		ok(RX[1].m.u.log.module_len == 4 && memcmp(RX[1].m.u.log.module, "core", 4) == 0, "... module core");
		ok(RX[1].m.u.log.text_len > 5 && memcmp(RX[1].m.u.log.text, "boot (POWER_ON)", 15) == 0,
		   "... text starts with 'boot (POWER_ON)': '%.*s'", RX[1].m.u.log.text_len, RX[1].m.u.log.text);
		is_int(RX[1].m.u.log.uptime_ms, 1000, "... uptime from the platform clock");
	}
	h = hello();
	is_int(h.next_event_seq, 1, "a second HELLO: next event number 1");
	is_int(rx_count, 1, "... and no event this time");
}

static void test_echo(void)
{
	static uint8_t big[FRAME_MAX_PAYLOAD];
	struct msg req = { .type = MSG_ECHO, .u.echo = { .data = (const uint8_t *)"mf\0\xff", .len = 4 } };
	struct rx *r;

	fresh(true, true);
	hello();
	r = call(&req);
	ok(r && r->h.status == MSG_STATUS_OK && r->m.u.echo.len == 4 && memcmp(r->m.u.echo.data, "mf\0\xff", 4) == 0,
	   "ECHO: the same 4 bytes back");
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	req.u.echo = (struct msg_data){ .data = big, .len = sizeof(big) };
	r = call(&req);
	ok(r && r->m.u.echo.len == sizeof(big) && memcmp(r->m.u.echo.data, big, sizeof(big)) == 0,
	   "ECHO: %zu bytes (the largest frame) back", sizeof(big));
	req.u.echo = (struct msg_data){ 0 };
	r = call(&req);
	ok(r && r->h.status == MSG_STATUS_OK && r->h.payload_len == 0, "ECHO: empty");
	/* byte by byte */
	req.u.echo = (struct msg_data){ .data = big, .len = 300 };
	send_as(&req, next_id, false, 1);
	collect();
	r = response_for(next_id++);
	ok(r && r->m.u.echo.len == 300 && count_kind(FRAME_RESPONSE) == 1, "ECHO fed one byte at a time: one answer");
}

static void test_unknown_and_bad_requests(void)
{
	static uint8_t frame[64], wire[80];
	struct frame_header h = { .type = 0x30, .kind = FRAME_REQUEST, .seq = 0x1234 };
	struct msg req;
	size_t len, wire_len;
	struct rx *r;

	fresh(true, true);
	hello();
	/* an unknown type, and LOG (an event) sent as a request */
	for (int i = 0; i < 3; i++) {
		static const uint8_t types[] = { 0x30, MSG_LOG, MSG_DIST_LAST };     /* unused, an event, unused */

		h.type = types[i];
		h.seq = 0x1234 + (uint32_t)i;
		len = frame_encode(&h, NULL, frame, sizeof(frame));
		wire_len = cobs_encode_frame(frame, len, true, wire, sizeof(wire));
		feed(wire, wire_len);
		collect();
		r = response_for(h.seq);
		ok(r && r->h.type == types[i] && r->h.status == MSG_STATUS_UNKNOWN_MESSAGE && r->h.payload_len == 0,
		   "type %#x: UNKNOWN_MESSAGE, same type and id, empty payload", types[i]);
	}
	/* payloads that fail the decoder's checks: its verdict is the answer */
	h = (struct frame_header){ .type = MSG_STATS, .kind = FRAME_REQUEST, .seq = 77, .payload_len = 2 };
	len = frame_encode(&h, (const uint8_t *)"xx", frame, sizeof(frame));
	feed(wire, cobs_encode_frame(frame, len, true, wire, sizeof(wire)));
	collect();
	r = response_for(77);
	ok(r && r->h.status == MSG_STATUS_BAD_LENGTH && r->h.payload_len == 0, "STATS with a payload: BAD_LENGTH");
	h = (struct frame_header){ .type = MSG_RESET, .kind = FRAME_REQUEST, .seq = 78, .payload_len = 1 };
	len = frame_encode(&h, (const uint8_t *)"\x02", frame, sizeof(frame));
	feed(wire, cobs_encode_frame(frame, len, true, wire, sizeof(wire)));
	collect();
	r = response_for(78);
	ok(r && r->h.status == MSG_STATUS_BAD_PARAM, "RESET mode 2: BAD_PARAM");
	is_int(F.resets, 0, "... and no reset");
	h = (struct frame_header){ .type = MSG_SLOT_WRITE, .kind = FRAME_REQUEST, .seq = 79, .payload_len = 4 };
	len = frame_encode(&h, (const uint8_t *)"\0\0\0\0", frame, sizeof(frame));
	feed(wire, cobs_encode_frame(frame, len, true, wire, sizeof(wire)));
	collect();
	r = response_for(79);
	ok(r && r->h.status == MSG_STATUS_BAD_LENGTH && r->h.payload_len == 4,
	   "SLOT_WRITE without data: BAD_LENGTH, still with bytes_written");
	/* frames that are not requests are dropped and counted */
	h = (struct frame_header){ .type = MSG_ECHO, .kind = FRAME_RESPONSE, .seq = 80 };
	len = frame_encode(&h, NULL, frame, sizeof(frame));
	feed(wire, cobs_encode_frame(frame, len, true, wire, sizeof(wire)));
	h = (struct frame_header){ .type = MSG_LOG, .kind = FRAME_EVENT, .seq = 81 };
	len = frame_encode(&h, NULL, frame, sizeof(frame));
	feed(wire, cobs_encode_frame(frame, len, true, wire, sizeof(wire)));
	collect();
	is_int(rx_count, 0, "a response and an event sent to the dongle: no answer");
	is_int(stats().rx_bad_frame, 2, "... counted in rx_bad_frame");
	(void)req;
}

static void test_stats(void)
{
	struct msg_stats s;
	struct msg echo = { .type = MSG_ECHO };

	fresh(true, true);
	F.now = 12345;
	hello();
	call(&echo);
	s = stats();
	is_int(s.uptime_s, 12, "STATS: uptime in seconds from the platform clock");
	is_int(s.rx_frames, 3, "STATS: 3 valid frames received (HELLO, ECHO, STATS)");
	is_int(s.tx_frames, 3, "STATS: 3 frames sent before this response (2 responses, the boot log)");
	is_int(s.rx_bad_crc + s.rx_bad_frame + s.rx_dropped + s.rx_duplicates + s.events_dropped, 0,
	       "STATS: no errors");
	is_int(s.mesh_seq, 0, "STATS: mesh sequence 0 without a record");
}

static void test_reset(void)
{
	struct msg req = { .type = MSG_RESET, .u.reset = { .mode = MSG_RESET_MODE_BOOTLOADER } };
	struct msg echo = { .type = MSG_ECHO };
	struct msg_hello h;

	fresh(true, true);
	hello();
	is_int(status_of(&req), MSG_STATUS_NOT_SUPPORTED, "RESET into a bootloader the board lacks: NOT_SUPPORTED");
	is_int(F.resets, 0, "... no reset");
	req.u.reset.mode = MSG_RESET_MODE_APP;
	is_int(status_of(&req), MSG_STATUS_OK, "RESET mode 0: OK");
	is_int(F.resets, 1, "... the platform was asked to reset once");
	is_int(F.reset_mode, MSG_RESET_MODE_APP, "... into the application");
	ok(core_reset_requested(&C), "core_reset_requested()");
	send_as(&echo, next_id++, false, 0);
	collect();
	is_int(rx_count, 0, "input after RESET is ignored");
	boot(MSG_RESET_HOST, 0);
	h = hello();
	is_int(h.reset_reason, MSG_RESET_HOST, "after the restart HELLO says HOST");

	F.platform.has_bootloader = true;
	req.u.reset.mode = MSG_RESET_MODE_BOOTLOADER;
	is_int(status_of(&req), MSG_STATUS_OK, "RESET mode 1 with a bootloader: OK");
	is_int(F.reset_mode, MSG_RESET_MODE_BOOTLOADER, "... into the bootloader");
}

static void test_duplicates(void)
{
	static uint8_t image[8192];
	uint8_t hash[32];
	struct msg w = { .type = MSG_SLOT_WRITE, .u.slot_write = { .offset = 0, .data = image, .len = 1024 } };
	uint8_t payload[] = { 0x83, 0x08, 0x00, 0xff };
	struct msg send = mesh_send_msg(0x0100, payload, sizeof(payload));
	struct msg echo = { .type = MSG_ECHO, .u.echo = { .data = payload, .len = 2 } };
	struct rx *r;
	uint32_t id, writes, written;

	fresh(true, true);
	hello();
	make_image(image, sizeof(image), hash, 1);
	slot_image_req(MSG_SLOT_BEGIN, sizeof(image), hash);
	id = next_id++;
	r = call_id(&w, id);
	ok(r && r->h.status == MSG_STATUS_OK && r->m.u.bytes_written == 1024, "SLOT_WRITE 1024 bytes: OK");
	writes = F.writes;
	/* the host timed out and sends it again, with the retransmission flag */
	send_as(&w, id, true, 0);
	collect();
	r = response_for(id);
	ok(r && r->h.status == MSG_STATUS_OK && r->m.u.bytes_written == 1024 && rx_count == 1,
	   "retransmitted SLOT_WRITE: the same answer again");
	is_int(F.writes, writes, "... and flash was not written a second time");
	is_int(C.slot.bytes_written, 1024, "... bytes_written counted once");
	send_as(&w, id, false, 0);
	collect();
	ok(response_for(id) && rx_count == 1, "a third copy without the flag: answered from the cache too");
	is_int(stats().rx_duplicates, 2, "STATS: 2 duplicates");
	is_int(C.counters.rx_retransmits, 1, "one retransmission flag seen");

	/* same id, another type: not a duplicate */
	is_int(slot_write_req(1024, image + 1024, 1024, &written), MSG_STATUS_OK, "the next write executes");
	struct msg info = { .type = MSG_SLOT_INFO };
	r = call_id(&info, id);
	ok(r && r->h.type == MSG_SLOT_INFO && r->m.u.slot_info.bytes_written == 2048,
	   "the id of a cached SLOT_WRITE with type SLOT_INFO executes SLOT_INFO");

	/* MESH_SEND: sent to the mesh once */
	mesh_config(0x0001, 0, 0);
	id = next_id++;
	call_id(&send, id);
	send_as(&send, id, true, 0);
	collect();
	ok(response_for(id) && response_for(id)->h.status == MSG_STATUS_OK, "retransmitted MESH_SEND: OK again");
	is_int(F.mesh_tx_count, 1, "... the message went to the mesh once");

	/* idempotent requests are executed again */
	id = next_id++;
	call_id(&echo, id);
	send_as(&echo, id, true, 0);
	collect();
	ok(response_for(id) && response_for(id)->m.u.echo.len == 2, "retransmitted ECHO: executed again");

	/* a cached error is replayed as it was */
	id = next_id++;
	w.u.slot_write.offset = 4096;
	r = call_id(&w, id);
	ok(r && r->h.status == MSG_STATUS_SLOT_OFFSET, "SLOT_WRITE ahead of bytes_written: SLOT_OFFSET");
	send_as(&w, id, true, 0);
	collect();
	r = response_for(id);
	ok(r && r->h.status == MSG_STATUS_SLOT_OFFSET && r->m.u.bytes_written == 2048, "... replayed with its payload");

	/* the cache holds the last CORE_DUP_CACHE_SIZE cached responses */
	unsigned sent;
	uint32_t first = next_id;
	for (int i = 0; i < CORE_DUP_CACHE_SIZE; i++)
		call(&send);
	sent = F.mesh_tx_count;
	send_as(&send, first, true, 0);
	collect();
	ok(response_for(first) && F.mesh_tx_count == sent, "the oldest of %d cached requests: still answered from the "
	   "cache", CORE_DUP_CACHE_SIZE);
	call(&send);
	send_as(&send, first, true, 0);
	collect();
	ok(response_for(first) && F.mesh_tx_count == sent + 2, "one more, and it has left the cache: executed again");

	/* HELLO empties the cache: ids start again */
	id = next_id;
	w.u.slot_write.offset = 2048;
	w.u.slot_write.data = image + 2048;
	call_id(&w, id);
	writes = F.writes;
	hello();
	send_as(&w, id, false, 0);
	collect();
	r = response_for(id);
	ok(r && r->h.status == MSG_STATUS_SLOT_OFFSET && r->m.u.bytes_written == 3072,
	   "after HELLO the same id is a new request (executed: SLOT_OFFSET at 3072)");
	is_int(F.writes, writes, "... which wrote nothing");
}

static void test_slot_upload(void)
{
	enum { SIZE = 10001 };
	static uint8_t image[SIZE + 1024];      /* room for a write past the end */
	uint8_t hash[32], other[32];
	struct msg_slot_info info;
	uint32_t written = 0;

	fresh(true, true);
	hello();
	make_image(image, SIZE, hash, 7);
	memcpy(other, hash, 32);
	other[5] ^= 1;

	info = slot_info_get();
	ok(info.state == MSG_SLOT_EMPTY && info.slot_size == FAKE_SLOT_SIZE && info.image_size == 0 &&
	   info.bytes_written == 0, "SLOT_INFO: empty slot of %d bytes", FAKE_SLOT_SIZE);
	is_int(slot_write_req(0, image, 1024, &written), MSG_STATUS_BAD_STATE,
	       "SLOT_WRITE before SLOT_BEGIN: BAD_STATE");
	is_int(written, 0, "... bytes_written 0");
	is_int(slot_image_req(MSG_SLOT_COMMIT, SIZE, hash), MSG_STATUS_BAD_STATE,
	       "SLOT_COMMIT before SLOT_BEGIN: BAD_STATE");
	is_int(slot_image_req(MSG_SLOT_BEGIN, FAKE_SLOT_SIZE + 1, hash), MSG_STATUS_SLOT_TOO_BIG,
	       "SLOT_BEGIN one byte larger than the slot: SLOT_TOO_BIG");
	is_int(slot_image_req(MSG_SLOT_BEGIN, SIZE, hash), MSG_STATUS_OK, "SLOT_BEGIN %d bytes: OK", SIZE);
	is_int(F.erases, 0, "... erases nothing yet (lazy erase)");
	info = slot_info_get();
	ok(info.state == MSG_SLOT_WRITING && info.image_size == SIZE && info.bytes_written == 0 &&
	   memcmp(info.sha256, hash, 32) == 0, "SLOT_INFO: WRITING, size and hash as announced");

	is_int(upload(image, 0, 3072), 0, "3 writes of 1024 bytes: OK");
	is_int(slot_write_req(4096, image + 4096, 1024, &written), MSG_STATUS_SLOT_OFFSET,
	       "a write that skips ahead: SLOT_OFFSET");
	is_int(written, 3072, "... with bytes_written 3072");
	is_int(slot_write_req(2048, image + 2048, 1024, &written), MSG_STATUS_SLOT_OFFSET,
	       "a write that goes back: SLOT_OFFSET");
	is_int(slot_write_req(3072, image + 3072, 6, &written), MSG_STATUS_BAD_PARAM,
	       "6 bytes in the middle of the image: BAD_PARAM");
	is_int(slot_image_req(MSG_SLOT_COMMIT, SIZE, hash), MSG_STATUS_SLOT_OFFSET,
	       "SLOT_COMMIT before all bytes are written: SLOT_OFFSET");
	is_int(upload(image, 3072, 9216), 0, "writes up to 9216: OK");
	is_int(slot_write_req(9216, image + 9216, 1024, &written), MSG_STATUS_BAD_PARAM,
	       "a write past the image size: BAD_PARAM");
	is_int(slot_write_req(9216, image + 9216, 785, &written), MSG_STATUS_OK,
	       "the last 785 bytes (not a multiple of 4)");
	is_int(written, SIZE, "... bytes_written = image size");
	is_int(slot_image_req(MSG_SLOT_COMMIT, SIZE, other), MSG_STATUS_BAD_PARAM,
	       "SLOT_COMMIT with another hash than SLOT_BEGIN's: BAD_PARAM");
	is_int(slot_image_req(MSG_SLOT_COMMIT, SIZE, hash), MSG_STATUS_OK, "SLOT_COMMIT: OK");
	info = slot_info_get();
	ok(info.state == MSG_SLOT_COMMITTED && info.bytes_written == SIZE && memcmp(info.sha256, hash, 32) == 0,
	   "SLOT_INFO: COMMITTED with the verified hash");
	is_int(slot_image_req(MSG_SLOT_COMMIT, SIZE, hash), MSG_STATUS_OK, "committing again: OK");
	is_int(slot_write_req(0, image, 4, &written), MSG_STATUS_BAD_STATE, "SLOT_WRITE after the commit: BAD_STATE");
	ok(memcmp(F.slot, image, SIZE) == 0, "the flash holds the image");
	is_int(F.slot[SIZE], 0xff, "... padded with erased bytes");
	is_int(F.erases, 3, "3 pages erased for 10001 bytes");
	is_int(F.overwrites + F.misaligned, 0, "no write to unerased flash, no misaligned access");
}

static void test_slot_hash_mismatch(void)
{
	static uint8_t image[5000];
	uint8_t hash[32];

	fresh(true, true);
	hello();
	make_image(image, sizeof(image), hash, 3);
	hash[31] ^= 0x80;       /* the host announces a hash the bytes do not have */
	slot_image_req(MSG_SLOT_BEGIN, sizeof(image), hash);
	is_int(upload(image, 0, sizeof(image)), 0, "all bytes written");
	is_int(slot_image_req(MSG_SLOT_COMMIT, sizeof(image), hash), MSG_STATUS_SLOT_HASH_MISMATCH,
	       "SLOT_COMMIT of bytes with another SHA-256: SLOT_HASH_MISMATCH");
	is_int(slot_info_get().state, MSG_SLOT_EMPTY, "... the slot is empty");
	has_str(F.last_log, "SHA-256 mismatch", "... and the log says why");
	boot(MSG_RESET_PIN, 0);
	hello();
	is_int(slot_info_get().state, MSG_SLOT_EMPTY, "... also after a reset");
}

static void test_slot_resume_link_drop(void)
{
	static uint8_t image[12000];
	static const uint8_t garbage[] = { 0x03, 0xb1, 0x22, 0x01, 0x06, 0x99, 0x41 };
	uint8_t hash[32];
	struct msg_slot_info info;

	fresh(true, true);
	hello();
	make_image(image, sizeof(image), hash, 5);
	slot_image_req(MSG_SLOT_BEGIN, sizeof(image), hash);
	is_int(upload(image, 0, 5120), 0, "5 KiB written");
	/* the link drops in the middle of a frame; the host reconnects and starts with HELLO */
	feed(garbage, sizeof(garbage));
	hello();
	info = slot_info_get();
	ok(info.state == MSG_SLOT_WRITING && info.bytes_written == 5120, "after the drop: WRITING at 5120");
	is_int(slot_image_req(MSG_SLOT_BEGIN, sizeof(image), hash), MSG_STATUS_OK,
	       "SLOT_BEGIN with the same size and hash: OK");
	is_int(slot_info_get().bytes_written, 5120, "... keeps bytes_written (resume)");
	is_int(upload(image, 5120, sizeof(image)), 0, "the rest written from 5120");
	is_int(slot_image_req(MSG_SLOT_COMMIT, sizeof(image), hash), MSG_STATUS_OK, "SLOT_COMMIT: OK");
	hash[0] ^= 1;
	is_int(slot_image_req(MSG_SLOT_BEGIN, sizeof(image), hash), MSG_STATUS_OK, "SLOT_BEGIN of another image");
	is_int(slot_info_get().bytes_written, 0, "... starts at 0");
}

static void test_slot_resume_after_reset(void)
{
	static uint8_t image[20000];
	uint8_t hash[32];
	struct msg_slot_info info;
	unsigned rec_writes;

	fresh(true, true);
	hello();
	make_image(image, sizeof(image), hash, 9);
	slot_image_req(MSG_SLOT_BEGIN, sizeof(image), hash);
	is_int(upload(image, 0, 6144), 0, "6 KiB written");
	rec_writes = F.rec[CORE_RECORD_SLOT].writes;
	is_int(rec_writes, 2, "slot record saved twice: at SLOT_BEGIN and when the first page was full");
	boot(MSG_RESET_WATCHDOG, 0);
	is_int(hello().reset_reason, MSG_RESET_WATCHDOG, "after the reset HELLO says WATCHDOG");
	info = slot_info_get();
	ok(info.state == MSG_SLOT_WRITING && info.image_size == sizeof(image) && memcmp(info.sha256, hash, 32) == 0,
	   "SLOT_INFO: still WRITING the same image");
	is_int(info.bytes_written, 4096, "... at the last durable page boundary");
	is_int(upload(image, 4096, sizeof(image)), 0, "the rest written from 4096");
	is_int(slot_image_req(MSG_SLOT_COMMIT, sizeof(image), hash), MSG_STATUS_OK, "SLOT_COMMIT after the reset: OK");
	is_int(F.overwrites + F.misaligned, 0, "the half-written page was erased again before the writes");
	boot(MSG_RESET_POWER_ON, 0);
	hello();
	info = slot_info_get();
	ok(info.state == MSG_SLOT_COMMITTED && info.bytes_written == sizeof(image), "COMMITTED survives a reset");
}

static void test_slot_flash_error(void)
{
	static uint8_t image[9000];
	uint8_t hash[32];
	uint32_t written;

	fresh(true, true);
	hello();
	make_image(image, sizeof(image), hash, 11);
	slot_image_req(MSG_SLOT_BEGIN, sizeof(image), hash);
	upload(image, 0, 6144);
	F.fail_writes = 1;
	is_int(slot_write_req(6144, image + 6144, 1024, &written), MSG_STATUS_FLASH_ERROR,
	       "a write the flash refuses: FLASH_ERROR");
	is_int(written, 4096, "... bytes_written back to the start of the page");
	is_int(upload(image, 4096, sizeof(image)), 0, "the host continues from there");
	is_int(slot_image_req(MSG_SLOT_COMMIT, sizeof(image), hash), MSG_STATUS_OK, "SLOT_COMMIT: OK");
	is_int(F.overwrites, 0, "the page was erased again");
	F.fail_store = true;
	hash[0] ^= 1;
	is_int(slot_image_req(MSG_SLOT_BEGIN, 100, hash), MSG_STATUS_FLASH_ERROR,
	       "SLOT_BEGIN when the record cannot be saved: FLASH_ERROR");
	is_int(slot_info_get().state, MSG_SLOT_COMMITTED, "... the committed image stays");
}

static void test_mesh(void)
{
	static const uint8_t info_get[] = { 0x83, 0x08, 0x00, 0xff };
	uint8_t long_payload[40] = { 0x83, 0x0a };
	struct msg send = mesh_send_msg(0x0100, info_get, sizeof(info_get));
	struct msg_mesh_recv in = { .src = 0x0100, .dst = 0x0001, .key_index = 1, .ttl = 5, .rssi = -60,
				    .payload = (const uint8_t *)"\x83\x09\x01\x00\x02\x59\x00\x00", .payload_len = 8 };
	struct msg_stats s;
	struct rx *r;

	fresh(true, true);
	hello();
	is_int(status_of(&send), MSG_STATUS_NOT_CONFIGURED, "MESH_SEND before MESH_CONFIG: NOT_CONFIGURED");
	core_mesh_recv(&C, &in);
	collect();
	is_int(rx_count, 0, "a message received before MESH_CONFIG is not forwarded");
	is_int(mesh_config(0x0001, 0, 100), 100, "MESH_CONFIG seq 100 on a new dongle: 100");
	ok(F.mesh_configured && F.mesh_config_seq == 100, "the platform's stack got the configuration");
	is_int(F.rec[CORE_RECORD_MESH].writes, 1, "the high-water mark was saved before any use");
	is_int(status_of(&send), MSG_STATUS_OK, "MESH_SEND: OK");
	ok(F.mesh_tx_count == 1 && F.mesh_tx[0].seq == 100 && F.mesh_tx[0].seq_count == 1 &&
	   F.mesh_tx[0].src == 0x0001 && F.mesh_tx[0].dst == 0x0100 && F.mesh_tx[0].payload_len == 4 &&
	   memcmp(F.mesh_tx[0].payload, info_get, 4) == 0, "the stack got dst, src, payload, sequence 100 (1 PDU)");
	send.u.mesh_send.payload = long_payload;
	send.u.mesh_send.payload_len = sizeof(long_payload);
	is_int(status_of(&send), MSG_STATUS_OK, "MESH_SEND of 40 bytes: OK");
	ok(F.mesh_tx[1].seq == 101 && F.mesh_tx[1].seq_count == 4, "... 4 segments, sequence 101..104 (got %u+%u)",
	   F.mesh_tx[1].seq, F.mesh_tx[1].seq_count);
	send.u.mesh_send.key_index = 2;
	is_int(status_of(&send), MSG_STATUS_BAD_PARAM, "MESH_SEND with an application key index the dongle lacks");
	send.u.mesh_send.key_index = 0;
	send.u.mesh_send.devkey = true;
	is_int(status_of(&send), MSG_STATUS_OK, "MESH_SEND with a device key and the net key index: OK");
	ok(F.mesh_tx[2].devkey, "... DEVKEY passed to the stack");
	s = stats();
	is_int(s.mesh_seq, 109, "STATS: mesh_seq 109 (1 + 4 + 4 numbers from 100)");
	F.mesh_fail = true;
	is_int(status_of(&send), MSG_STATUS_BUSY, "MESH_SEND the stack refuses: BUSY");
	F.mesh_fail = false;
	is_int(stats().mesh_tx_failed, 1, "STATS: mesh_tx_failed 1");
	is_int(s.mesh_tx, 3, "STATS: mesh_tx 3");

	core_mesh_recv(&C, &in);
	core_mesh_recv(&C, &in);
	collect();
	is_int(count_kind(FRAME_EVENT), 2, "two messages from the mesh: two events");
	ok(rx_count == 2 && RX[0].h.type == MSG_MESH_RECV && RX[1].h.seq == RX[0].h.seq + 1,
	   "MESH_RECV events with consecutive numbers");
	ok(rx_count == 2 && RX[0].decoded == MSG_STATUS_OK && RX[0].m.u.mesh_recv.src == 0x0100 &&
	   RX[0].m.u.mesh_recv.rssi == -60 && RX[0].m.u.mesh_recv.payload_len == 8, "... with src, rssi, payload");
	is_int(stats().mesh_rx, 2, "STATS: mesh_rx 2");
	r = NULL;
	(void)r;
}

static void test_mesh_seq_never_goes_back(void)
{
	static const uint8_t p[] = { 0x82, 0x01 };
	struct msg send = mesh_send_msg(0xffff, p, sizeof(p));
	uint32_t before;
	int bad = 0;

	fresh(true, true);
	hello();
	mesh_config(0x0001, 5, 0);
	for (int i = 0; i < 300; i++)
		bad += status_of(&send) != MSG_STATUS_OK;
	is_int(bad, 0, "300 messages sent");
	before = C.mesh.next;
	is_int(before, 300, "... using sequence numbers 0..299");
	is_int(F.rec[CORE_RECORD_MESH].writes, 3, "the high-water mark was written 3 times, not 300");
	boot(MSG_RESET_FAULT, 0);
	hello();
	ok(stats().mesh_seq >= before, "after a reset STATS mesh_seq %u >= %u", stats().mesh_seq, before);
	is_int(status_of(&send), MSG_STATUS_NOT_CONFIGURED, "mesh requests wait for MESH_CONFIG after the reset");
	ok(mesh_config(0x0001, 5, 0) >= before, "MESH_CONFIG with seq 0 for the same address and IV index: >= %u",
	   before);
	status_of(&send);
	ok(fake_mesh_last(&F, 0)->seq >= before, "the next message uses %u, not a number used before the reset",
	   fake_mesh_last(&F, 0)->seq);
	ok(mesh_config(0x0001, 5, 1000000) == 1000000, "a host mark above the dongle's is taken");
	is_int(mesh_config(0x0001, 4, 0), -MSG_STATUS_BAD_PARAM, "an IV index going back: BAD_PARAM");
	is_int(mesh_config(0x0001, 6, 0), 0, "the next IV index: starts at the host's seq");
	is_int(mesh_config(0x0002, 6, 42), 42, "another address: the host's seq");
	/* a second reset right after configuring: still no number below the mark */
	boot(MSG_RESET_PIN, 0);
	hello();
	ok(mesh_config(0x0002, 6, 0) >= 42, "after another reset: >= 42");
	/* the record cannot be written: nothing is sent */
	F.fail_store = true;
	is_int(mesh_config(0x0003, 6, 0), -MSG_STATUS_FLASH_ERROR, "MESH_CONFIG when the mark cannot be saved: "
	       "FLASH_ERROR");
	is_int(status_of(&send), MSG_STATUS_NOT_CONFIGURED, "... and the dongle stays unconfigured");
	F.fail_store = false;
	/* exhaustion */
	is_int(mesh_config(0x0004, 7, 0xfffffe), 0xfffffe, "MESH_CONFIG seq 0xFFFFFE");
	is_int(status_of(&send), MSG_STATUS_OK, "one message left");
	is_int(status_of(&send), MSG_STATUS_SEQ_EXHAUSTED, "then SEQ_EXHAUSTED");
	is_int(stats().mesh_seq, 0xffffff, "STATS mesh_seq stays at 0xFFFFFF");
}

static void test_garbage_and_corruption(void)
{
	static uint8_t frame[64], wire[96];
	struct msg echo = { .type = MSG_ECHO, .u.echo = { .data = (const uint8_t *)"abcd", .len = 4 } };
	static const uint8_t text[] = "AT+GMR\r\nOK\r\n";
	size_t len = 0, wire_len;
	struct msg_stats s;
	struct rx *r;

	fresh(true, true);
	hello();
	/* text from another firmware, an nRF5 packet, then a frame without a leading delimiter of its own */
	feed(text, sizeof(text) - 1);
	feed((const uint8_t[]){ 0x03, 0x84, 0x00, 0x84 }, 4);
	echo.kind = FRAME_REQUEST;
	msg_encode_frame(&echo, 0x500, false, frame, sizeof(frame), &len);
	wire_len = cobs_encode_frame(frame, len, false, wire, sizeof(wire));
	feed(wire, wire_len);
	collect();
	is_int(rx_count, 0, "garbage glued to a frame: the frame is lost");
	s = stats();
	is_int(s.rx_bad_frame + s.rx_bad_crc, 2, "... counted: the text up to the nRF5 packet's 00, and the frame");
	/* the same frame with its leading delimiter */
	wire_len = cobs_encode_frame(frame, len, true, wire, sizeof(wire));
	feed(text, sizeof(text) - 1);
	feed(wire, wire_len);
	collect();
	r = response_for(0x500);
	ok(r && r->m.u.echo.len == 4, "garbage, then 00 and a frame: the frame is answered");
	/* every byte of the wire frame corrupted in turn (never into a 00) */
	int answered = 0;
	uint32_t crc_before = stats().rx_bad_crc, other_before = stats().rx_bad_frame;
	for (size_t i = 1; i + 1 < wire_len; i++) {
		uint8_t bad[96];

		memcpy(bad, wire, wire_len);
		bad[i] ^= bad[i] == 0x5a ? 0x01 : 0x5a;
		feed(bad, wire_len);
		collect();
		answered += rx_count;
	}
	is_int(answered, 0, "each of %zu single-byte corruptions: no answer", wire_len - 2);
	s = stats();
	is_int((s.rx_bad_crc - crc_before) + (s.rx_bad_frame - other_before), wire_len - 2,
	       "... each counted (CRC or framing)");
	ok(s.rx_bad_crc - crc_before >= (wire_len - 2) / 2, "... mostly as CRC errors (%u)", s.rx_bad_crc - crc_before);
	/* a frame longer than the largest is dropped up to the next 00, and the next frame is answered */
	static uint8_t junk[1200];
	memset(junk, 0x11, sizeof(junk));
	feed(junk, sizeof(junk));
	feed(wire, wire_len);
	collect();
	ok(response_for(0x500) && rx_count == 1, "after 1200 bytes without a 00: the next frame is answered");
	ok(stats().rx_bad_frame > s.rx_bad_frame, "... the oversize frame counted");
}

static void test_log_queue(void)
{
	struct msg_stats s;
	unsigned logs = 0, gaps = 0;
	uint32_t expect, first;

	fake_init(&F, true, true);
	boot(MSG_RESET_POWER_ON, MSG_LOG_DEBUG);
	hello();
	expect = hello().next_event_seq;
	/* the host stops reading: the transmit buffer is full */
	F.refuse_send = true;
	for (int i = 0; i < LOGQ_DEPTH + 4; i++)
		core_logf(&C, i == 2 ? MSG_LOG_DEBUG : MSG_LOG_INFO, "test", "line %d of %s", i, "many");
	core_poll(&C);
	is_int(C.log.count, LOGQ_DEPTH, "the queue holds %d lines", LOGQ_DEPTH);
	is_int(C.log.dropped, 4, "4 lines dropped");
	F.refuse_send = false;
	is_int(core_poll(&C), CORE_POLL_IDLE, "core_poll(): no deadline");
	collect();
	for (unsigned i = 0; i < rx_count; i++) {
		if (RX[i].h.type != MSG_LOG)
			continue;
		logs++;
		if (RX[i].h.seq != expect)
			gaps++;
		expect = RX[i].h.seq + 1;
	}
	is_int(logs, LOGQ_DEPTH, "%d LOG events once the host reads again", LOGQ_DEPTH);
	is_int(gaps, 1, "one gap in the event numbers");
	ok(rx_count > 0 && RX[0].m.u.log.text_len > 0 && memcmp(RX[0].m.u.log.text, "line 4 of many", 14) == 0,
	   "the DEBUG line went first, then the oldest: the first line sent is 'line 4' ('%.*s')",
	   rx_count ? RX[0].m.u.log.text_len : 0, rx_count ? RX[0].m.u.log.text : "");
	first = rx_count ? RX[0].h.seq : 0;
	is_int(first, hello().next_event_seq - LOGQ_DEPTH, "the gap is at the front");
	s = stats();
	is_int(s.events_dropped, 4, "STATS: events_dropped 4");

	/* a MESH_RECV the platform has no room for uses its number too */
	mesh_config(0x0001, 0, 0);
	collect();
	expect = hello().next_event_seq;
	F.refuse_send = true;
	core_mesh_recv(&C, &(struct msg_mesh_recv){ .src = 2, .dst = 1, .payload = (const uint8_t *)"\x01",
						    .payload_len = 1 });
	F.refuse_send = false;
	core_mesh_recv(&C, &(struct msg_mesh_recv){ .src = 2, .dst = 1, .payload = (const uint8_t *)"\x02",
						    .payload_len = 1 });
	collect();
	ok(rx_count == 1 && RX[0].h.seq == expect + 1, "a MESH_RECV lost to a full buffer leaves a gap (%u -> %u)",
	   expect, rx_count ? RX[0].h.seq : 0);

	/* the formatter */
	core_logf(&C, MSG_LOG_WARNING, "bad module name", "%05d|%3s|%x|%X|%c|%u|%.2s|%%|%d", -42, "ab", 0xbeefu,
		  0xbeefu, 'z', 4000000000u, "xyz", -2147483647 - 1);
	is_str(F.last_log, "WARNING bad_module_name: -0042| ab|beef|BEEF|z|4000000000|xy|%|-2147483648",
	       "the formatter: sign, zero pad, width, hex, char, unsigned, precision, %%, INT_MIN");
	core_logf(&C, MSG_LOG_INFO, "", "line\r\nbreak");
	is_str(F.last_log, "INFO ?: line  break", "control characters become spaces; an empty module '?'");
}

static void test_without_mesh_or_slot(void)
{
	struct msg_hello h;
	struct msg cfg = mesh_config_msg(1, 0, 0);
	uint8_t hash[32] = { 0 };

	fake_init(&F, false, true);
	boot(MSG_RESET_POWER_ON, 0);
	h = hello();
	is_int(h.features & (MSG_FEATURE_MESH | MSG_FEATURE_SLOT), MSG_FEATURE_SLOT, "no mesh stack: no MESH feature");
	is_int(status_of(&cfg), MSG_STATUS_NOT_SUPPORTED, "... MESH_CONFIG: NOT_SUPPORTED");
	fake_init(&F, true, false);
	boot(MSG_RESET_POWER_ON, 0);
	h = hello();
	is_int(h.features & (MSG_FEATURE_MESH | MSG_FEATURE_SLOT), MSG_FEATURE_MESH, "no slot: no SLOT feature");
	is_int(h.slot_size, 0, "... slot size 0");
	is_int(slot_image_req(MSG_SLOT_BEGIN, 10, hash), MSG_STATUS_NOT_SUPPORTED, "... SLOT_BEGIN: NOT_SUPPORTED");
	/* a slot geometry the core cannot use */
	struct core_config config = { .reset_reason = MSG_RESET_POWER_ON };
	fake_init(&F, true, true);
	F.platform.slot_write_align = 8;
	is_int(core_init(&C, &F.platform, &config), MSG_STATUS_BAD_PARAM, "a write alignment of 8: core_init says so");
	has_str(F.all_logs, "unusable slot geometry", "... logs it");
	is_int(hello().features & MSG_FEATURE_SLOT, 0, "... and runs without the slot");
}

int main(void)
{
	test_hello_and_boot_log();
	test_echo();
	test_unknown_and_bad_requests();
	test_stats();
	test_reset();
	test_duplicates();
	test_slot_upload();
	test_slot_hash_mismatch();
	test_slot_resume_link_drop();
	test_slot_resume_after_reset();
	test_slot_flash_error();
	test_mesh();
	test_mesh_seq_never_goes_back();
	test_garbage_and_corruption();
	test_log_queue();
	test_without_mesh_or_slot();
	return done_testing();
}
