/* Unit tests for firmware_dongle/sim/target.c: simulated update Targets driven with encoded Firmware Update and BLOB
 * Transfer messages, no radio: the whole push and pull paths, every status code of the servers, every fault, the
 * timers, the state a reboot keeps, capabilities from the scenario, and the scenario's refusals of bad "target" and
 * "faults" fields. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh_blob.h"
#include "mesh_dfu.h"
#include "scenario.h"
#include "tap.h"
#include "target.h"

#define CLIENT 0x0001           /* the dongle */
#define NODE 0x0100
#define GROUP 0xC010
#define BLOB_ID 0x1122334455667788ull
#define IMAGE_SIZE 5000         /* 2 blocks of 4096: 37 + 8 chunks of 113 bytes */
#define CHUNK 113
#define CLIENT_MTU 376          /* a 32-segment client */
#define TTL 5
#define SEED 7

static uint8_t image[IMAGE_SIZE];
static struct scenario scen;

/* A node with the FWID 59 00 | 1.0.0+0 and @extra fields (target, faults). */
static const struct scenario_node *load(const char *extra)
{
	char json[2048], err[256] = "";

	snprintf(json, sizeof(json), "{ \"nodes\": [ { \"address\": \"0x0100\", \"uuid\": "
		 "\"00112233445566778899aabbccddeeff\", \"fwid\": \"59000100000000000000\"%s%s } ] }",
		 extra[0] ? ", " : "", extra);
	if (scenario_load_string(&scen, json, err, sizeof(err)) != 0) {
		printf("# scenario refused: %s\n", err);
		return NULL;
	}
	return &scen.nodes[0];
}

static void make_image(void)
{
	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (uint8_t)(i * 7 + 3);
	/* MCUboot header: magic 0x96f3b83d (LE), ih_ver 2.1.3+4 at offset 20 */
	memcpy(image, "\x3d\xb8\xf3\x96", 4);
	memcpy(image + 20, "\x02\x01\x03\x00\x04\x00\x00\x00", 8);
}

/* --- sending --- */

static struct target_reply out[TARGET_REPLIES_MAX];

static size_t send_raw(struct target *t, uint64_t now, uint16_t dst, const uint8_t *p, size_t len)
{
	memset(out, 0, sizeof(out));
	return target_recv(t, now, CLIENT, dst, p, len, out, TARGET_REPLIES_MAX);
}

static size_t send_mb(struct target *t, uint64_t now, uint16_t dst, const struct mb_msg *m)
{
	uint8_t buf[MA_PAYLOAD_MAX];
	size_t len = 0;

	if (mb_encode(m, buf, sizeof(buf), &len) != MA_OK)
		return 99;
	return send_raw(t, now, dst, buf, len);
}

static size_t send_md(struct target *t, uint64_t now, uint16_t dst, const struct md_msg *m)
{
	uint8_t buf[MA_PAYLOAD_MAX];
	size_t len = 0;

	if (md_encode(m, buf, sizeof(buf), &len) != MA_OK)
		return 99;
	return send_raw(t, now, dst, buf, len);
}

/* the Update Status in out[0]; phase 0xFF if it is none */
static struct md_update_status fu_status(size_t n)
{
	struct md_msg m;

	if (n < 1 || md_decode(out[0].payload, out[0].len, &m) != MA_OK || m.opcode != MD_OP_UPDATE_STATUS)
		return (struct md_update_status){ .status = 0xFF, .phase = 0xFF };
	return m.u.status;
}

static struct mb_msg blob_reply(size_t n, size_t i)
{
	struct mb_msg m = { 0 };

	if (n <= i || mb_decode(out[i].payload, out[i].len, &m) != MA_OK)
		m.opcode = 0;
	return m;
}

static size_t update_start(struct target *t, uint64_t now, uint16_t dst, uint64_t blob_id, const uint8_t *meta,
			   size_t meta_len)
{
	struct md_msg m = { .opcode = MD_OP_UPDATE_START };

	m.u.start = (struct md_start){ .ttl = TTL, .timeout_base = 0, .blob_id = blob_id, .image_index = 0,
				       .metadata = meta, .metadata_len = meta_len };
	return send_md(t, now, dst, &m);
}

static size_t fu_simple(struct target *t, uint64_t now, uint32_t opcode)
{
	struct md_msg m = { .opcode = opcode };

	return send_md(t, now, NODE, &m);
}

static size_t xfer_start(struct target *t, uint64_t now, uint8_t mode, uint64_t id, uint32_t size, uint8_t log,
			 uint16_t mtu)
{
	struct mb_msg m = { .opcode = MB_OP_XFER_START };

	m.u.xfer_start = (struct mb_xfer_start){ .mode = mode, .blob_id = id, .size = size, .block_size_log = log,
						 .mtu = mtu };
	return send_mb(t, now, NODE, &m);
}

static size_t block_start(struct target *t, uint64_t now, uint16_t block, uint16_t chunk_size)
{
	struct mb_msg m = { .opcode = MB_OP_BLOCK_START };

	m.u.block_start = (struct mb_block_start){ .block = block, .chunk_size = chunk_size };
	return send_mb(t, now, NODE, &m);
}

static size_t blob_simple(struct target *t, uint64_t now, uint32_t opcode)
{
	struct mb_msg m = { .opcode = opcode };

	return send_mb(t, now, NODE, &m);
}

/* chunk @c of block @b of the test image (block size 4096) */
static size_t chunk(struct target *t, uint64_t now, uint16_t dst, uint32_t b, uint16_t c)
{
	struct mb_msg m = { .opcode = MB_OP_CHUNK };
	uint32_t block_size = mb_block_size(IMAGE_SIZE, 12, b);
	uint32_t off = (b << 12) + (uint32_t)c * CHUNK;

	m.u.chunk = (struct mb_chunk){ .chunk = c, .data = image + off, .len = mb_chunk_size(block_size, CHUNK, c) };
	return send_mb(t, now, dst, &m);
}

static uint32_t chunks_of(uint32_t b)
{
	return mb_chunk_count(mb_block_size(IMAGE_SIZE, 12, b), CHUNK);
}

/* Update Start + Transfer Start in @mode; returns the time after. */
static uint64_t start_transfer(struct target *t, uint64_t now, uint8_t mode)
{
	update_start(t, now, NODE, BLOB_ID, NULL, 0);
	xfer_start(t, now + 100, mode, BLOB_ID, IMAGE_SIZE, 12, CLIENT_MTU);
	return now + 200;
}

/* every chunk of block @b in push mode */
static uint64_t push_block(struct target *t, uint64_t now, uint32_t b)
{
	block_start(t, now, (uint16_t)b, CHUNK);
	for (uint32_t c = 0; c < chunks_of(b); c++)
		chunk(t, now + 1 + c, GROUP, b, (uint16_t)c);
	return now + 100;
}

/* run the timers until @until */
static size_t tick_until(struct target *t, uint64_t until)
{
	size_t sent = 0;

	for (uint64_t d; (d = target_next_deadline(t)) <= until;)
		sent += target_tick(t, d, out, TARGET_REPLIES_MAX);
	return sent;
}

/* --- the paths --- */

static void test_caps_and_info(void)
{
	const struct scenario_node *n = load("");
	struct target *t = n ? target_new(n, SEED) : NULL;
	struct mb_info_status caps;
	struct mb_msg m;
	struct md_msg d;
	struct ma_fw_iter it;
	struct ma_fw_entry e;
	size_t k;

	ok(t != NULL, "a target for a node with defaults");
	if (!t)
		return;
	target_caps(t, &caps);
	ok(caps.min_block_size_log == 12 && caps.max_block_size_log == 12 && caps.max_chunks == 256 &&
	   caps.max_chunk_size == 113 && caps.max_size == 524288 && caps.mtu == 116 && caps.modes == 3,
	   "NCS target defaults: blocks 4096, 256 chunks of <= 113 bytes, MTU 116 (RX_SEG_MAX 10), 512 KiB, both modes");
	k = blob_simple(t, 1000, MB_OP_INFO_GET);
	m = blob_reply(k, 0);
	ok(k == 1 && m.opcode == MB_OP_INFO_STATUS && memcmp(&m.u.info_status, &caps, sizeof(caps)) == 0,
	   "BLOB Information Get answers the capabilities");
	ok(out[0].at_ms >= 1000 + 10 + 20 && out[0].at_ms < 1000 + 10 + 50 && out[0].src == NODE && out[0].dst == CLIENT,
	   "a unicast request is answered after processing + 20..49 ms (got %llu)", (unsigned long long)out[0].at_ms);
	ok(out[0].ttl == TARGET_TTL_DEFAULT, "no update: the node's default TTL");
	k = send_raw(t, 2000, NODE, (const uint8_t *)"\x83\x08\x00\x05", 4);
	ok(k == 1 && md_decode(out[0].payload, out[0].len, &d) == MA_OK && d.opcode == MA_OP_FW_INFO_STATUS,
	   "Information Get answered");
	ma_fw_iter_init(&it, &d.u.info);
	ok(d.u.info.list_count == 1 && ma_fw_next_entry(&it, &e) && e.fwid_len == 10 &&
	   memcmp(e.fwid, n->fwid, 10) == 0, "one image, the node's FWID");
	k = send_raw(t, 2000, NODE, (const uint8_t *)"\x83\x08\x03\x05", 4);
	ok(k == 1 && md_decode(out[0].payload, out[0].len, &d) == MA_OK && d.u.info.entry_count == 0 &&
	   d.u.info.first_index == 3, "First Index past the list: count and index, no entries");
	/* group: 20..499 ms; draw many to see the span */
	{
		uint64_t lo = UINT64_MAX, hi = 0;

		for (int i = 0; i < 400; i++) {
			struct mb_msg g = { .opcode = MB_OP_INFO_GET };

			if (send_mb(t, 0, GROUP, &g) != 1)
				break;
			lo = out[0].at_ms < lo ? out[0].at_ms : lo;
			hi = out[0].at_ms > hi ? out[0].at_ms : hi;
		}
		ok(lo >= 30 && hi < 10 + 500 && hi > 10 + 50, "group requests: processing + 20..499 ms (saw %llu..%llu)",
		   (unsigned long long)lo, (unsigned long long)hi);
	}
	ok(send_raw(t, 3000, NODE, (const uint8_t *)"\x82\x01", 2) == 0, "another model's message: nothing");
	ok(send_raw(t, 3000, NODE, (const uint8_t *)"\x83\x06\x00", 3) == 0, "a malformed BLOB message: nothing");
	ok(sizeof(struct target) <= 320, "a target's state is small: %zu bytes + bitmaps", sizeof(struct target));
	target_free(t);
	target_free(NULL);
}

static void test_push_path(void)
{
	const struct scenario_node *n = load("\"target\": { \"verify_ms\": 700, \"reboot_ms\": 3000 }");
	struct target *t = n ? target_new(n, SEED) : NULL;
	struct md_update_status st;
	struct mb_msg m;
	uint8_t missing[MB_BITMAP_SIZE(37)];
	const uint8_t *fwid;
	uint8_t fwid_len;
	uint64_t now = 1000;
	size_t k;

	if (!ok(t != NULL, "push: a target"))
		return;
	k = update_start(t, now, GROUP, BLOB_ID, (const uint8_t *)"\x02\x00\x00\x00\x00\x00\x00\x00", 8);
	st = fu_status(k);
	ok(st.status == MD_SUCCESS && st.phase == MD_PHASE_TRANSFER_ACTIVE && st.blob_id == BLOB_ID && st.ttl == TTL,
	   "Update Start: Success, Transfer Active, the BLOB ID and TTL");
	ok(out[0].ttl == TTL, "answers now use the Update TTL");
	is_int(target_blob_phase(t), MB_PHASE_WAITING_FOR_START, "the BLOB server waits for Transfer Start");
	k = xfer_start(t, now += 100, MB_MODE_PUSH, BLOB_ID, IMAGE_SIZE, 12, CLIENT_MTU);
	m = blob_reply(k, 0);
	ok(m.opcode == MB_OP_XFER_STATUS && m.u.xfer_status.status == MB_SUCCESS &&
	   m.u.xfer_status.phase == MB_PHASE_WAITING_FOR_BLOCK && m.u.xfer_status.mtu == 116 &&
	   m.u.xfer_status.blocks_missing_len == 1 && m.u.xfer_status.blocks_missing[0] == 0x03,
	   "Transfer Start: Waiting for Next Block, MTU min(376, 116), both blocks missing");
	k = block_start(t, now += 100, 0, CHUNK);
	m = blob_reply(k, 0);
	ok(m.opcode == MB_OP_BLOCK_STATUS && m.u.block_status.status == MB_SUCCESS &&
	   m.u.block_status.format == MB_FORMAT_ALL_MISSING, "Block Start: all chunks missing");
	for (uint16_t c = 0; c < 37; c++)
		if (c != 5 && c != 36)
			ok(chunk(t, now + c, GROUP, 0, c) == 0, "chunk %u: no answer", c);
	k = blob_simple(t, now += 100, MB_OP_BLOCK_GET);
	m = blob_reply(k, 0);
	ok(m.u.block_status.format == MB_FORMAT_SOME_MISSING &&
	   mb_block_status_missing(&m.u.block_status, 37, missing) == MA_OK && mb_bitmap_count(missing, 37) == 2 &&
	   mb_bitmap_test(missing, 5) && mb_bitmap_test(missing, 36), "Block Get: chunks 5 and 36 missing");
	is_int(target_progress(t), 35 * CHUNK * 100 / IMAGE_SIZE, "progress counts the chunks received");
	chunk(t, now, GROUP, 0, 5);
	chunk(t, now, GROUP, 0, 5);
	chunk(t, now, GROUP, 0, 36);
	is_int(target_blob_phase(t), MB_PHASE_WAITING_FOR_BLOCK, "block 0 complete: Waiting for Next Block");
	k = block_start(t, now += 100, 0, CHUNK);
	m = blob_reply(k, 0);
	ok(m.u.block_status.status == MB_SUCCESS && m.u.block_status.format == MB_FORMAT_NONE_MISSING,
	   "Block Start of a block already received: Success, none missing");
	now = push_block(t, now + 100, 1);
	k = blob_simple(t, now, MB_OP_XFER_GET);
	m = blob_reply(k, 0);
	ok(m.u.xfer_status.phase == MB_PHASE_COMPLETE && m.u.xfer_status.blocks_missing[0] == 0,
	   "Transfer Get: Complete, no block missing");
	st = fu_status(fu_simple(t, now, MD_OP_UPDATE_GET));
	is_int(st.phase, MD_PHASE_VERIFYING, "Firmware Update Get: Verifying Update");
	is_int(target_next_deadline(t), now - 100 + 8 + 700, "the verify timer is due verify_ms after the last chunk");
	tick_until(t, now + 700);
	st = fu_status(fu_simple(t, now += 700, MD_OP_UPDATE_GET));
	is_int(st.phase, MD_PHASE_VERIFICATION_SUCCEEDED, "verify_ms later: Verification Succeeded");
	k = fu_simple(t, now += 10, MD_OP_UPDATE_APPLY);
	st = fu_status(k);
	ok(st.status == MD_SUCCESS && st.phase == MD_PHASE_APPLYING, "Apply: Success, Applying Update");
	ok(fu_simple(t, out[0].at_ms + 1, MD_OP_UPDATE_GET) == 0, "rebooting: deaf");
	ok(target_next_deadline(t) != TARGET_NEVER, "the reboot's end is a deadline");
	tick_until(t, now + 3000 + 100);
	now += 3200;
	fwid = target_fwid(t, &fwid_len);
	ok(fwid_len == 10 && memcmp(fwid, "\x59\x00\x02\x01\x03\x00\x04\x00\x00\x00", 10) == 0,
	   "after the reboot: the company id and the MCUboot version of the image as FWID");
	st = fu_status(fu_simple(t, now, MD_OP_UPDATE_APPLY));
	ok(st.status == MD_WRONG_PHASE && st.phase == MD_PHASE_IDLE, "Apply again: Wrong Phase, Idle (apply done)");
	target_free(t);
}

static void test_pull_path(void)
{
	const struct scenario_node *n = load("\"target\": { \"verify_ms\": 0, \"new_fwid\": \"5900aa\" }");
	struct target *t = n ? target_new(n, SEED) : NULL;
	struct mb_msg m;
	uint64_t now = 0;
	size_t k, reports = 0;
	uint16_t asked[8], na = 0, c;
	struct mb_chunk_iter it;
	const uint8_t *fwid;
	uint8_t fwid_len;

	if (!ok(t != NULL, "pull: a target"))
		return;
	now = start_transfer(t, now, MB_MODE_PULL);
	is_int(target_blob_phase(t), MB_PHASE_WAITING_FOR_BLOCK, "pull transfer started");
	for (uint32_t b = 0; b < 2; b++) {
		k = block_start(t, now += 10, (uint16_t)b, CHUNK);
		m = blob_reply(k, 0);
		ok(m.u.block_status.format == MB_FORMAT_ENCODED, "pull: Block Status is always an encoded list");
		na = 0;
		mb_chunk_iter_init(&it, m.u.block_status.missing, m.u.block_status.missing_len);
		while (na < 8 && mb_chunk_next(&it, &c))
			asked[na++] = c;
		is_int(na, 4, "block %u: the first PULL_REQ_COUNT chunks asked for", b);
		for (;;) {
			bool last = false;

			for (uint16_t i = 0; i < na; i++) {
				k = chunk(t, now += 5, NODE, b, asked[i]);
				if (k == 1) {
					m = blob_reply(k, 0);
					last = m.opcode == MB_OP_BLOCK_REPORT && m.u.block_report.missing_len == 0;
				}
			}
			if (last)
				break;
			/* nothing more until T_BPI after the last chunk */
			if (!ok(target_next_deadline(t) == now + TARGET_REPORT_TIMEOUT_MS, "the report timer re-armed"))
				break;
			now += TARGET_REPORT_TIMEOUT_MS;
			k = target_tick(t, now, out, TARGET_REPLIES_MAX);
			m = blob_reply(k, 0);
			if (!ok(m.opcode == MB_OP_BLOCK_REPORT && out[0].dst == CLIENT, "a Partial Block Report to the client"))
				break;
			reports++;
			na = 0;
			mb_chunk_iter_init(&it, m.u.block_report.missing, m.u.block_report.missing_len);
			while (na < 8 && mb_chunk_next(&it, &c))
				asked[na++] = c;
			if (!ok(na > 0 && na <= 4, "it asks for 1..4 chunks"))
				break;
		}
	}
	ok(reports >= 9, "the blocks needed Partial Block Reports (%zu)", reports);
	k = blob_simple(t, now += 10, MB_OP_XFER_GET);
	ok(blob_reply(k, 0).u.xfer_status.phase == MB_PHASE_COMPLETE, "pull: Complete");
	tick_until(t, now);
	is_int(target_phase(t), MD_PHASE_VERIFICATION_SUCCEEDED, "verified");
	fu_simple(t, now += 10, MD_OP_UPDATE_APPLY);
	tick_until(t, now + 10000);
	fwid = target_fwid(t, &fwid_len);
	ok(fwid_len == 3 && memcmp(fwid, "\x59\x00\xaa", 3) == 0, "the scenario's new_fwid wins over the image's");
	target_free(t);
}

static void test_low_power(void)
{
	const struct scenario_node *n = load("\"target\": { \"low_power\": true, \"poll_interval_ms\": 2000 }");
	struct target *t = n ? target_new(n, SEED) : NULL;
	struct mb_msg m;
	struct mb_info_status caps;
	size_t k, count = 0;

	if (!ok(t != NULL, "LPN: a target"))
		return;
	target_caps(t, &caps);
	is_int(caps.modes, MB_MODES_PULL, "a low-power node announces pull mode only");
	k = update_start(t, 2500, NODE, BLOB_ID, NULL, 0);
	ok(k == 1 && out[0].at_ms >= 4000 + 10 + 20 && out[0].at_ms < 4000 + 10 + 50,
	   "heard at its next poll (4000), answered after it (%llu)", (unsigned long long)out[0].at_ms);
	k = xfer_start(t, 4000, MB_MODE_PUSH, BLOB_ID, IMAGE_SIZE, 12, CLIENT_MTU);
	is_int(blob_reply(k, 0).u.xfer_status.status, MB_UNSUPPORTED_TRANSFER_MODE, "push: Unsupported Transfer Mode");
	k = xfer_start(t, 4000, MB_MODE_PULL, BLOB_ID, IMAGE_SIZE, 12, CLIENT_MTU);
	is_int(blob_reply(k, 0).u.xfer_status.status, MB_SUCCESS, "pull: Success");
	k = block_start(t, 4000, 0, CHUNK);
	m = blob_reply(k, 0);
	ok(mb_chunk_list_check(m.u.block_status.missing, m.u.block_status.missing_len, &count) == MA_OK && count == 1,
	   "a Friend queue of 16 PDUs holds one 10-segment chunk: one chunk asked");
	chunk(t, 4000, NODE, 0, 0);
	ok(target_next_deadline(t) == 4000 + 2000, "the next report at the next poll");
	target_free(t);
}

/* --- every status code --- */

static void test_fu_statuses(void)
{
	const struct scenario_node *n = load("\"target\": { \"metadata_prefix\": \"5900\", \"effect\": 2 }");
	struct target *t = n ? target_new(n, SEED) : NULL;
	struct md_update_status st;
	struct md_msg m = { .opcode = MD_OP_METADATA_CHECK }, r;
	size_t k;

	if (!ok(t != NULL, "FU statuses: a target"))
		return;
	m.u.metadata_check = (struct md_metadata_check){ .image_index = 0, .metadata = (const uint8_t *)"\x59\x00\x01",
							  .metadata_len = 3 };
	k = send_md(t, 10, NODE, &m);
	ok(k == 1 && md_decode(out[0].payload, out[0].len, &r) == MA_OK && r.u.metadata_status.status == MD_SUCCESS &&
	   r.u.metadata_status.effect == 2, "Metadata Check accepted: Success and the node's effect");
	m.u.metadata_check.image_index = 1;
	k = send_md(t, 10, NODE, &m);
	ok(k == 1 && md_decode(out[0].payload, out[0].len, &r) == MA_OK &&
	   r.u.metadata_status.status == MD_WRONG_FIRMWARE_INDEX && r.u.metadata_status.image_index == 1,
	   "image index 1: Wrong Firmware Index");
	m.u.metadata_check = (struct md_metadata_check){ .image_index = 0, .metadata = (const uint8_t *)"\x60\x00",
							  .metadata_len = 2 };
	k = send_md(t, 10, NODE, &m);
	ok(k == 1 && md_decode(out[0].payload, out[0].len, &r) == MA_OK &&
	   r.u.metadata_status.status == MD_METADATA_CHECK_FAILED && r.u.metadata_status.effect == 0,
	   "another prefix: Metadata Check Failed, effect 0");
	has_str(t->refusal, "metadata_prefix", "the reason names the rule");
	st = fu_status(update_start(t, 20, NODE, BLOB_ID, (const uint8_t *)"\x60", 1));
	ok(st.status == MD_METADATA_CHECK_FAILED && st.phase == MD_PHASE_IDLE, "Update Start refused the same way");
	st = fu_status(fu_simple(t, 30, MD_OP_UPDATE_APPLY));
	ok(st.status == MD_WRONG_PHASE && st.phase == MD_PHASE_IDLE, "Apply while Idle: Wrong Phase");
	st = fu_status(fu_simple(t, 30, MD_OP_UPDATE_CANCEL));
	ok(st.status == MD_SUCCESS && st.phase == MD_PHASE_IDLE, "Cancel with nothing to cancel: Success");
	st = fu_status(update_start(t, 40, NODE, BLOB_ID, (const uint8_t *)"\x59\x00", 2));
	ok(st.status == MD_SUCCESS && st.phase == MD_PHASE_TRANSFER_ACTIVE && st.effect == 2, "Update Start: Success");
	st = fu_status(update_start(t, 50, NODE, BLOB_ID, (const uint8_t *)"\x59\x00", 2));
	ok(st.status == MD_SUCCESS && st.phase == MD_PHASE_TRANSFER_ACTIVE, "the same Update Start again: Success");
	st = fu_status(update_start(t, 50, NODE, BLOB_ID + 1, (const uint8_t *)"\x59\x00", 2));
	ok(st.status == MD_WRONG_PHASE && st.blob_id == BLOB_ID, "another BLOB ID while busy: Wrong Phase");
	st = fu_status(update_start(t, 50, NODE, BLOB_ID, (const uint8_t *)"\x59\x00\x01", 3));
	is_int(st.status, MD_WRONG_PHASE, "other metadata while busy: Wrong Phase");
	st = fu_status(fu_simple(t, 60, MD_OP_UPDATE_CANCEL));
	ok(st.status == MD_SUCCESS && st.phase == MD_PHASE_IDLE, "Cancel: Success, Idle");
	is_int(target_blob_phase(t), MB_PHASE_INACTIVE, "... and the BLOB server is Inactive");
	target_free(t);
}

static void test_blob_statuses(void)
{
	const struct scenario_node *n = load("\"target\": { \"blob_size_max\": 8192 }");
	struct target *t = n ? target_new(n, SEED) : NULL;
	struct mb_msg m;
	size_t k;

	if (!ok(t != NULL, "BLOB statuses: a target"))
		return;
	k = xfer_start(t, 0, MB_MODE_PUSH, BLOB_ID, IMAGE_SIZE, 12, CLIENT_MTU);
	m = blob_reply(k, 0);
	ok(m.u.xfer_status.status == MB_WRONG_PHASE && m.u.xfer_status.phase == MB_PHASE_INACTIVE,
	   "Transfer Start while Inactive (no Update Start): Wrong Phase");
	is_int(blob_reply(blob_simple(t, 0, MB_OP_BLOCK_GET), 0).u.block_status.status, MB_WRONG_PHASE,
	       "Block Get while Inactive: Wrong Phase");
	is_int(blob_reply(block_start(t, 0, 0, CHUNK), 0).u.block_status.status, MB_WRONG_PHASE,
	       "Block Start while Inactive: Wrong Phase");
	{
		struct mb_msg c = { .opcode = MB_OP_XFER_CANCEL, .u.blob_id = 42 };

		is_int(blob_reply(send_mb(t, 0, NODE, &c), 0).u.xfer_status.status, MB_SUCCESS,
		       "Transfer Cancel while Inactive: Success");
	}
	update_start(t, 10, NODE, BLOB_ID, NULL, 0);
	is_int(blob_reply(xfer_start(t, 20, MB_MODE_PUSH, BLOB_ID + 1, IMAGE_SIZE, 12, CLIENT_MTU), 0)
		       .u.xfer_status.status, MB_WRONG_BLOB_ID, "another BLOB ID: Wrong BLOB ID");
	is_int(blob_reply(xfer_start(t, 20, MB_MODE_PUSH, BLOB_ID, 9000, 12, CLIENT_MTU), 0).u.xfer_status.status,
	       MB_BLOB_TOO_LARGE, "larger than blob_size_max: BLOB Too Large");
	is_int(blob_reply(xfer_start(t, 20, MB_MODE_PUSH, BLOB_ID, IMAGE_SIZE, 11, CLIENT_MTU), 0).u.xfer_status.status,
	       MB_INVALID_BLOCK_SIZE, "block size log 11 outside 12..12: Invalid Block Size");
	is_int(blob_reply(block_start(t, 20, 0, CHUNK), 0).u.block_status.status, MB_WRONG_PHASE,
	       "Block Start while Waiting for Start: Wrong Phase");
	is_int(blob_reply(xfer_start(t, 30, MB_MODE_PUSH, BLOB_ID, IMAGE_SIZE, 12, CLIENT_MTU), 0).u.xfer_status.status,
	       MB_SUCCESS, "Transfer Start: Success");
	is_int(blob_reply(xfer_start(t, 31, MB_MODE_PUSH, BLOB_ID, IMAGE_SIZE, 12, CLIENT_MTU), 0).u.xfer_status.status,
	       MB_SUCCESS, "the same Transfer Start again: Success (a duplicate)");
	is_int(blob_reply(xfer_start(t, 31, MB_MODE_PUSH, BLOB_ID, IMAGE_SIZE, 12, 100), 0).u.xfer_status.status,
	       MB_WRONG_PHASE, "a smaller client MTU than the one agreed: Wrong Phase");
	is_int(blob_reply(xfer_start(t, 31, MB_MODE_PULL, BLOB_ID, IMAGE_SIZE, 12, CLIENT_MTU), 0).u.xfer_status.status,
	       MB_WRONG_PHASE, "another mode once started: Wrong Phase");
	is_int(blob_reply(block_start(t, 40, 2, CHUNK), 0).u.block_status.status, MB_INVALID_BLOCK_NUMBER,
	       "block 2 of 2: Invalid Block Number");
	is_int(blob_reply(block_start(t, 40, 0, 114), 0).u.block_status.status, MB_INVALID_CHUNK_SIZE,
	       "chunk size 114 > 113: Invalid Chunk Size");
	is_int(blob_reply(block_start(t, 40, 0, 0), 0).u.block_status.status, MB_INVALID_CHUNK_SIZE,
	       "chunk size 0: Invalid Chunk Size");
	is_int(blob_reply(block_start(t, 40, 0, 15), 0).u.block_status.status, MB_INVALID_CHUNK_SIZE,
	       "chunk size 15: 274 chunks > 256: Invalid Chunk Size");
	is_int(blob_reply(block_start(t, 50, 0, CHUNK), 0).u.block_status.status, MB_SUCCESS, "Block Start: Success");
	is_int(blob_reply(block_start(t, 51, 0, CHUNK), 0).u.block_status.status, MB_SUCCESS,
	       "the same Block Start again: Success");
	is_int(blob_reply(block_start(t, 51, 1, CHUNK), 0).u.block_status.status, MB_WRONG_PHASE,
	       "another block while Waiting for Chunk: Wrong Phase");
	{
		struct mb_msg c = { .opcode = MB_OP_CHUNK };
		uint8_t data[CHUNK] = { 0 };

		c.u.chunk = (struct mb_chunk){ .chunk = 0, .data = data, .len = 100 };
		ok(send_mb(t, 60, NODE, &c) == 0 && t->dropped > 0, "a chunk of the wrong size: dropped silently");
		c.u.chunk = (struct mb_chunk){ .chunk = 37, .data = data, .len = CHUNK };
		ok(send_mb(t, 60, NODE, &c) == 0 && target_progress(t) == 0, "chunk 37 of 37: dropped silently");
	}
	{
		struct mb_msg c = { .opcode = MB_OP_XFER_CANCEL, .u.blob_id = BLOB_ID + 1 };

		is_int(blob_reply(send_mb(t, 70, NODE, &c), 0).u.xfer_status.status, MB_WRONG_BLOB_ID,
		       "Transfer Cancel of another BLOB: Wrong BLOB ID");
		c.u.blob_id = BLOB_ID;
		m = blob_reply(send_mb(t, 70, NODE, &c), 0);
		ok(m.u.xfer_status.status == MB_SUCCESS && m.u.xfer_status.phase == MB_PHASE_INACTIVE,
		   "Transfer Cancel: Success, Inactive");
		is_int(target_phase(t), MD_PHASE_TRANSFER_ERROR, "... and the FU Server is in Transfer Error");
	}
	/* a too long BLOB for the node's block bitmap: Invalid Parameter (Zephyr's BLOCKS_MAX) */
	target_free(t);
	n = load("\"target\": { \"blob_size_max\": 4096000, \"block_size_log_min\": 6, \"block_size_log_max\": 12 }");
	t = n ? target_new(n, SEED) : NULL;
	if (!ok(t != NULL, "a target with small blocks"))
		return;
	update_start(t, 10, NODE, BLOB_ID, NULL, 0);
	is_int(blob_reply(xfer_start(t, 20, MB_MODE_PUSH, BLOB_ID, 4096000, 6, CLIENT_MTU), 0).u.xfer_status.status,
	       MB_INVALID_PARAMETER, "more blocks than a Transfer Status can list: Invalid Parameter");
	is_int(target_blob_phase(t), MB_PHASE_INACTIVE, "... and the transfer is cancelled");
	target_free(t);
}

/* --- timers and reboots --- */

static void test_timeout_resume(void)
{
	const struct scenario_node *n = load("");
	struct target *t = n ? target_new(n, SEED) : NULL;
	struct md_update_status st;
	struct mb_msg m;
	uint64_t now;

	if (!ok(t != NULL, "timeout: a target"))
		return;
	now = start_transfer(t, 0, MB_MODE_PUSH);
	now = push_block(t, now, 0);
	block_start(t, now, 1, CHUNK);
	chunk(t, now, NODE, 1, 0);
	is_int(target_next_deadline(t), now + 10000, "the receive timer: 10 x (TimeoutBase 0 + 1) s after the last chunk");
	tick_until(t, now + 9999);
	is_int(target_blob_phase(t), MB_PHASE_WAITING_FOR_CHUNK, "not before");
	tick_until(t, now + 10000);
	is_int(target_blob_phase(t), MB_PHASE_SUSPENDED, "then the BLOB server is Suspended");
	is_int(target_phase(t), MD_PHASE_TRANSFER_ERROR, "... and the FU Server in Transfer Error");
	is_int(blob_reply(blob_simple(t, now + 20000, MB_OP_BLOCK_GET), 0).u.block_status.status,
	       MB_INFORMATION_UNAVAILABLE, "Block Get while Suspended: Information Unavailable");
	st = fu_status(update_start(t, now + 20000, NODE, BLOB_ID + 1, NULL, 0));
	ok(st.status == MD_SUCCESS && st.phase == MD_PHASE_TRANSFER_ACTIVE && st.blob_id == BLOB_ID + 1,
	   "a different Update Start after the error starts over");
	target_free(t);

	/* resume by the identical Update Start */
	t = target_new(n, SEED);
	if (!t)
		return;
	now = start_transfer(t, 0, MB_MODE_PUSH);
	now = push_block(t, now, 0);
	tick_until(t, now + 20000);
	is_int(target_phase(t), MD_PHASE_TRANSFER_ERROR, "timed out");
	st = fu_status(update_start(t, now += 20000, NODE, BLOB_ID, NULL, 0));
	ok(st.status == MD_SUCCESS && st.phase == MD_PHASE_TRANSFER_ACTIVE, "identical Update Start: resumed");
	m = blob_reply(xfer_start(t, now, MB_MODE_PUSH, BLOB_ID, IMAGE_SIZE, 12, CLIENT_MTU), 0);
	ok(m.u.xfer_status.status == MB_SUCCESS && m.u.xfer_status.phase == MB_PHASE_WAITING_FOR_BLOCK &&
	   m.u.xfer_status.blocks_missing[0] == 0x02, "Transfer Start resumes: block 0 kept, block 1 missing");
	now = push_block(t, now, 1);
	is_int(target_blob_phase(t), MB_PHASE_COMPLETE, "and completes");
	target_free(t);

	/* Waiting for Start: the timer of an earlier transfer cancels */
	t = target_new(n, SEED);
	if (!t)
		return;
	update_start(t, 0, NODE, BLOB_ID, NULL, 0);
	is_int(target_next_deadline(t), TARGET_NEVER, "no timer while Waiting for Start (Zephyr arms it at Transfer Start)");
	target_free(t);
}

static void test_reboot_persistence(void)
{
	const struct scenario_node *n = load("\"target\": { \"verify_ms\": 10, \"reboot_ms\": 500 }");
	struct target *t = n ? target_new(n, SEED) : NULL;
	struct mb_msg m;
	uint64_t now;

	if (!ok(t != NULL, "reboot: a target"))
		return;
	now = start_transfer(t, 0, MB_MODE_PUSH);
	now = push_block(t, now, 0);
	block_start(t, now, 1, CHUNK);
	chunk(t, now, NODE, 1, 0);
	target_reboot(t, now);
	ok(blob_simple(t, now + 499, MB_OP_XFER_GET) == 0, "deaf while rebooting");
	tick_until(t, now + 500);
	is_int(target_phase(t), MD_PHASE_TRANSFER_ERROR, "Transfer Active comes back Transfer Error");
	m = blob_reply(blob_simple(t, now + 600, MB_OP_XFER_GET), 0);
	ok(m.u.xfer_status.phase == MB_PHASE_SUSPENDED && m.u.xfer_status.blocks_missing[0] == 0x02,
	   "the BLOB server comes back Suspended with the blocks received");
	is_int(target_progress(t), 4096 * 100 / IMAGE_SIZE, "the chunks of the unfinished block are lost");
	update_start(t, now + 700, NODE, BLOB_ID, NULL, 0);
	xfer_start(t, now + 700, MB_MODE_PUSH, BLOB_ID, IMAGE_SIZE, 12, CLIENT_MTU);
	now = push_block(t, now + 800, 1);
	tick_until(t, now + 10);
	is_int(target_phase(t), MD_PHASE_VERIFICATION_SUCCEEDED, "resumed, completed and verified");
	target_reboot(t, now + 20);
	tick_until(t, now + 600);
	is_int(target_phase(t), MD_PHASE_VERIFICATION_FAILED, "Verification Succeeded comes back Verification Failed");
	is_int(fu_status(fu_simple(t, now + 700, MD_OP_UPDATE_APPLY)).status, MD_WRONG_PHASE,
	       "... and cannot be applied");
	target_free(t);
}

/* --- faults --- */

static struct target *faulty(const char *faults_json, const char *target_json)
{
	char extra[512];
	const struct scenario_node *n;

	snprintf(extra, sizeof(extra), "\"faults\": %s%s%s", faults_json, target_json[0] ? ", " : "", target_json);
	n = load(extra);
	return n ? target_new(n, SEED) : NULL;
}

/* the whole push path: returns the FU phase it ended in */
static uint8_t run_update(struct target *t, uint64_t *ret_now)
{
	uint64_t now = start_transfer(t, 1000, MB_MODE_PUSH);

	now = push_block(t, now, 0);
	now = push_block(t, now, 1);
	tick_until(t, now + 2000);
	now += 2000;
	fu_simple(t, now, MD_OP_UPDATE_APPLY);
	tick_until(t, now + 10000);
	*ret_now = now + 10000;
	return target_phase(t);
}

static void test_faults(void)
{
	struct target *t;
	struct md_update_status st;
	const uint8_t *fwid;
	uint8_t fwid_len;
	uint64_t now;

	t = faulty("{ \"rejects_metadata\": true }", "");
	if (t) {
		struct md_msg m = { .opcode = MD_OP_METADATA_CHECK }, r;

		m.u.metadata_check = (struct md_metadata_check){ .image_index = 0 };
		ok(send_md(t, 0, NODE, &m) == 1 && md_decode(out[0].payload, out[0].len, &r) == MA_OK &&
		   r.u.metadata_status.status == MD_METADATA_CHECK_FAILED, "rejects_metadata: Metadata Check Failed");
		st = fu_status(update_start(t, 0, NODE, BLOB_ID, NULL, 0));
		ok(st.status == MD_METADATA_CHECK_FAILED && st.phase == MD_PHASE_IDLE,
		   "rejects_metadata: Update Start refused, Idle");
		has_str(t->refusal, "rejects_metadata", "the reason says which fault");
		target_free(t);
	}
	t = faulty("{ \"fails_verification\": true }", "\"target\": { \"verify_ms\": 50 }");
	if (t) {
		now = start_transfer(t, 0, MB_MODE_PUSH);
		now = push_block(t, now, 0);
		now = push_block(t, now, 1);
		tick_until(t, now + 50);
		is_int(target_phase(t), MD_PHASE_VERIFICATION_FAILED, "fails_verification: Verification Failed");
		is_int(fu_status(fu_simple(t, now + 60, MD_OP_UPDATE_APPLY)).status, MD_WRONG_PHASE,
		       "fails_verification: Apply refused");
		target_free(t);
	}
	t = faulty("{ \"silent_at\": 50 }", "");
	if (t) {
		now = start_transfer(t, 0, MB_MODE_PUSH);
		now = push_block(t, now, 0);
		is_int(blob_simple(t, now, MB_OP_XFER_GET), 0, "silent_at 50: silent once 82%% is in");
		ok(t->silent && target_next_deadline(t) == TARGET_NEVER, "... for good, no timers");
		target_free(t);
	}
	t = faulty("{ \"silent_at\": 0 }", "");
	if (t) {
		ok(update_start(t, 0, NODE, BLOB_ID, NULL, 0) == 1, "silent_at 0: Update Start still answered");
		ok(xfer_start(t, 10, MB_MODE_PUSH, BLOB_ID, IMAGE_SIZE, 12, CLIENT_MTU) == 1,
		   "silent_at 0: Transfer Start answered");
		is_int(block_start(t, 20, 0, CHUNK), 0, "silent_at 0: then nothing");
		target_free(t);
	}
	t = faulty("{ \"reboots_at\": 40 }", "\"target\": { \"reboot_ms\": 2000 }");
	if (t) {
		now = start_transfer(t, 0, MB_MODE_PUSH);
		now = push_block(t, now, 0);
		ok(t->rebooted_by_fault && blob_simple(t, now, MB_OP_XFER_GET) == 0,
		   "reboots_at 40: rebooting from the chunk that reached 40%%");
		tick_until(t, now + 2000);
		is_int(target_blob_phase(t), MB_PHASE_SUSPENDED, "reboots_at: back Suspended, its state kept");
		update_start(t, now + 2100, NODE, BLOB_ID, NULL, 0);
		xfer_start(t, now + 2100, MB_MODE_PUSH, BLOB_ID, IMAGE_SIZE, 12, CLIENT_MTU);
		is_int(target_progress(t), 0, "reboots_at: block 0 was not complete at 40%%: its chunks are lost");
		push_block(t, push_block(t, now + 2200, 0), 1);
		is_int(target_blob_phase(t), MB_PHASE_COMPLETE, "reboots_at: only once; the transfer completes");
		target_free(t);
	}
	t = faulty("{ \"keeps_old_firmware\": true }", "");
	if (t) {
		is_int(run_update(t, &now), MD_PHASE_IDLE, "keeps_old_firmware: the apply \"succeeds\" (Idle)");
		fwid = target_fwid(t, &fwid_len);
		ok(fwid_len == 10 && memcmp(fwid, "\x59\x00\x01\x00\x00\x00\x00\x00\x00\x00", 10) == 0,
		   "keeps_old_firmware: the old FWID");
		target_free(t);
	}
	t = faulty("{ \"joins_late\": 60000 }", "");
	if (t) {
		is_int(update_start(t, 59999, NODE, BLOB_ID, NULL, 0), 0, "joins_late: deaf before 60 s");
		is_int(update_start(t, 60000, NODE, BLOB_ID, NULL, 0), 1, "joins_late: hears from then on");
		target_free(t);
	}
	t = faulty("{}", "\"target\": { \"effect\": 3 }");
	if (t) {
		is_int(run_update(t, &now), MD_PHASE_IDLE, "effect 3: applied");
		is_int(fu_simple(t, now, MD_OP_UPDATE_GET), 0, "effect 3: unprovisioned, it answers nothing");
		target_free(t);
	}
	/* newer_only: Zephyr-format metadata with the version */
	t = faulty("{}", "\"target\": { \"newer_only\": true }");
	if (t) {
		st = fu_status(update_start(t, 0, NODE, BLOB_ID, (const uint8_t *)"\x01\x00\x00\x00\x00\x00\x00\x00", 8));
		is_int(st.status, MD_METADATA_CHECK_FAILED, "newer_only: the same version is refused");
		has_str(t->refusal, "not newer", "... because it is not newer");
		st = fu_status(update_start(t, 0, NODE, BLOB_ID, (const uint8_t *)"\x01\x00\x00\x00\x01\x00\x00\x00", 8));
		is_int(st.status, MD_SUCCESS, "newer_only: a newer build is accepted");
		target_free(t);
	}
}

/* --- the scenario's fields --- */

static void test_scenario_fields(void)
{
	static const struct { const char *extra, *want; } bad[] = {
		{ "\"target\": 3", "$.nodes[0].target: must be an object" },
		{ "\"target\": { \"rx_seg_max\": 1 }", "$.nodes[0].target.rx_seg_max: must be from 2 to 32" },
		{ "\"target\": { \"rx_seg_max\": \"ten\" }", "$.nodes[0].target.rx_seg_max: must be an integer" },
		{ "\"target\": { \"block_size_log_min\": 5 }", "$.nodes[0].target.block_size_log_min: must be from 6 to 20" },
		{ "\"target\": { \"block_size_log_min\": 13, \"block_size_log_max\": 12 }",
		  "$.nodes[0].target.block_size_log_min: 13 is above block_size_log_max 12" },
		{ "\"target\": { \"chunk_count_max\": 0 }", "$.nodes[0].target.chunk_count_max: must be from 1 to 2992" },
		{ "\"target\": { \"blob_size_max\": 0 }", "$.nodes[0].target.blob_size_max: must be from 1" },
		{ "\"target\": { \"modes\": \"all\" }", "$.nodes[0].target.modes: must be \"push\", \"pull\" or \"both\"" },
		{ "\"target\": { \"verify_ms\": -1 }", "$.nodes[0].target.verify_ms: must be from 0 to 3600000" },
		{ "\"target\": { \"low_power\": 1 }", "$.nodes[0].target.low_power: must be true or false" },
		{ "\"target\": { \"low_power\": true, \"modes\": \"push\" }", "a low-power node supports pull mode only" },
		{ "\"target\": { \"poll_interval_ms\": 30001 }", "$.nodes[0].target.poll_interval_ms: must be from 1 to 30000" },
		{ "\"target\": { \"effect\": 4 }", "$.nodes[0].target.effect: must be from 0 to 3" },
		{ "\"target\": { \"metadata_prefix\": \"123\" }", "$.nodes[0].target.metadata_prefix: has an odd number" },
		{ "\"target\": { \"new_fwid\": \"59\" }", "$.nodes[0].target.new_fwid: must be 2 to 108 bytes" },
		{ "\"target\": { \"frobnicate\": 1 }", "$.nodes[0].target.frobnicate: unknown field" },
		{ "\"faults\": []", "$.nodes[0].faults: must be an object" },
		{ "\"faults\": { \"silent_at\": 101 }", "$.nodes[0].faults.silent_at: must be from 0 to 100" },
		{ "\"faults\": { \"reboots_at\": \"half\" }", "$.nodes[0].faults.reboots_at: must be an integer" },
		{ "\"faults\": { \"joins_late\": 3600001 }", "$.nodes[0].faults.joins_late: must be from 0 to 3600000" },
		{ "\"faults\": { \"rejects_metadata\": \"yes\" }", "$.nodes[0].faults.rejects_metadata: must be true or false" },
		{ "\"faults\": { \"silently\": 1 }", "$.nodes[0].faults.silently: unknown field" },
	};
	char json[1024], err[256];
	const struct scenario_node *n;
	struct scenario s;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		scenario_init(&s);
		snprintf(json, sizeof(json), "{ \"nodes\": [ { \"address\": 1, \"uuid\": "
			 "\"00112233445566778899aabbccddeeff\", \"fwid\": \"5900\", %s } ] }", bad[i].extra);
		err[0] = '\0';
		is_int(scenario_load_string(&s, json, err, sizeof(err)), -EINVAL, "refused: %s", bad[i].extra);
		has_str(err, bad[i].want, "... with its path and reason");
		scenario_done(&s);
	}
	scenario_init(&s);
	snprintf(json, sizeof(json), "{ \"nodes\": [ { \"address\": 1, \"uuid\": \"00112233445566778899aabbccddeeff\", "
		 "\"fwid\": \"5900\", \"target\": { \"newer_only\": true } } ] }");
	is_int(scenario_load_string(&s, json, err, sizeof(err)), -EINVAL, "newer_only with a 2-byte FWID is refused");
	has_str(err, "$.nodes[0].target.newer_only: needs a \"fwid\" of 10 bytes", "... saying why");
	scenario_done(&s);

	n = load("\"target\": { \"rx_seg_max\": 4, \"block_size_log_min\": 8, \"block_size_log_max\": 10, "
		 "\"chunk_count_max\": 64, \"blob_size_max\": 100000, \"modes\": \"push\" }, "
		 "\"faults\": { \"silent_at\": 0, \"joins_late\": 5 }");
	if (ok(n != NULL, "a node with every capability field")) {
		struct target *t = target_new(n, SEED);
		struct mb_info_status caps;

		if (t) {
			target_caps(t, &caps);
			ok(caps.mtu == 44 && caps.max_chunk_size == 41 && caps.min_block_size_log == 8 &&
			   caps.max_block_size_log == 10 && caps.max_chunks == 64 && caps.max_size == 100000 &&
			   caps.modes == MB_MODES_PUSH, "capabilities from the scenario: MTU 12 x 4 - 4, chunks 41 bytes");
			is_int(t->chunks_max, 64, "the chunk bitmap is sized by chunk_count_max");
			target_free(t);
		}
		ok(n->faults.silent_at == 0 && n->faults.reboots_at == SCENARIO_PERCENT_OFF &&
		   n->faults.joins_late_ms == 5, "faults read, the others off");
	}
	n = load("\"target\": { \"block_size_log_min\": 14 }");
	ok(n && n->target.block_size_log_max == 14, "block_size_log_min alone moves the max with it");
	n = load("\"target\": { \"low_power\": true }");
	ok(n && n->target.modes == MB_MODES_PULL && n->target.poll_interval_ms == 1000,
	   "low_power: pull only, polls every second by default");
}

int main(void)
{
	scenario_init(&scen);
	make_image();
	test_caps_and_info();
	test_push_path();
	test_pull_path();
	test_low_power();
	test_fu_statuses();
	test_blob_statuses();
	test_timeout_resume();
	test_reboot_persistence();
	test_faults();
	test_scenario_fields();
	scenario_done(&scen);
	return done_testing();
}
