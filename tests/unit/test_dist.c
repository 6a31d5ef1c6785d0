/* Unit tests for firmware_dongle/core/dist.c: the Distributor driven through the whole core and the fake platform
 * (fake_platform.c), with scripted Target nodes written here with the message codecs (protocol/mesh_dfu.h,
 * mesh_blob.h, mesh_access.h). Each target answers what a Zephyr Firmware Update Server + BLOB Transfer Server
 * answers, and can be given a fault: rejects the metadata, never answers, goes silent in a block, misses chunks,
 * fails verification, keeps its old FWID after apply, answers only after N retries, is unprovisioned by the
 * update, announces incompatible capabilities; or be subscribed to the group without being a target (the
 * Distributor must cancel it). Time is the fake clock: the harness jumps to the core's next
 * deadline, so 1,000 targets and their timeouts run in moments. */
#include <stdlib.h>
#include <string.h>

#include "cobs.h"
#include "core.h"
#include "fake_platform.h"
#include "mesh_access.h"
#include "mesh_blob.h"
#include "mesh_dfu.h"
#include "sha256.h"
#include "tap.h"

#define IMAGE_SIZE 10000        /* 3 blocks of 4096 (the last 1808) with the default capabilities */
#define DONGLE 0x0001
#define GROUP 0xC100
#define APP_KEY_INDEX 0
#define MAX_TARGETS 1024
#define MAX_ANSWERS 4096
#define ANSWER_MAX 64
#define MAX_RX 256

static const uint8_t NEW_FWID[] = { 0x59, 0x00, 2, 0, 0, 0, 0, 0, 0, 0 };
static const uint8_t OLD_FWID[] = { 0x59, 0x00, 1, 0, 0, 0, 0, 0, 0, 0 };
static const uint8_t METADATA[] = { 2, 0, 0, 0, 0, 0, 0, 0, 0x10, 0x27, 0, 1 };

/* --- scripted targets --- */

enum fault {
	FAULT_NONE = 0,
	FAULT_REJECT_METADATA,
	FAULT_SILENT,                   /* never answers */
	FAULT_SILENT_IN_BLOCK,          /* stops answering at block 1 */
	FAULT_MISS_CHUNKS,              /* loses the first copy of every third chunk */
	FAULT_FAIL_VERIFY,
	FAULT_KEEP_OLD_FWID,
	FAULT_LATE,                     /* answers each acked message only at its (late + 1)-th copy */
	FAULT_UNPROVISION,              /* effect 3: silent after apply */
	FAULT_INCOMPATIBLE,             /* a BLOB size limit below the image */
	FAULT_BLOB_BUSY,
	FAULT_STALE_IDLE,               /* before its answer to Update Start, a late Success + Idle (e.g. of a Cancel) */
	FAULT_STALE_STATUS,             /* at each Block Start from block 1, first a late refusal about the block before */
};

struct target {
	uint16_t addr;
	uint8_t image_index;
	enum fault fault;
	unsigned late;
	bool subscribed;
	/* Firmware Update Server */
	uint8_t fu_phase;
	uint64_t blob_id;
	uint8_t ttl;
	uint16_t timeout_base;
	unsigned verify_polls;          /* Verifying answers before the verdict */
	unsigned reboot_polls;          /* Applying answers before the "reboot" (at its next message) */
	bool updated;
	/* BLOB Transfer Server */
	uint8_t blob_phase;
	uint32_t size;
	uint8_t log;
	uint16_t block;
	uint16_t chunk_size;
	uint16_t chunk_count;
	uint8_t got[MB_BITMAP_SIZE(MB_CHUNK_COUNT_MAX)];        /* chunks of the current block (set = missing) */
	uint8_t dropped[MB_BITMAP_SIZE(MB_CHUNK_COUNT_MAX)];    /* MISS_CHUNKS: already lost once */
	uint8_t blocks_missing[MB_BITMAP_SIZE(MB_BLOCK_COUNT_MAX)];
	bool pull;
	/* late answers */
	uint32_t last_op;
	unsigned copies;
	/* observations */
	unsigned chunks_rx, bad_chunks, cancels, update_starts;
};

struct answer {
	uint16_t src;
	uint8_t payload[ANSWER_MAX];
	uint8_t len;
};

static struct fake F;
static struct core C;
static struct target T[MAX_TARGETS];
static unsigned n_targets;
static struct answer Q[MAX_ANSWERS];
static unsigned q_head, q_tail;
static bool tx_pending;
static uint8_t IMAGE[IMAGE_SIZE];
static uint8_t IMAGE_SHA[32];
static struct mb_info_status CAPS = {
	.min_block_size_log = 6, .max_block_size_log = 12, .max_chunks = 64, .max_chunk_size = 256,
	.max_size = 65536, .mtu = 380, .modes = MB_MODES_PUSH | MB_MODES_PULL,
};

/* what the host saw */
struct rx {
	struct frame_header h;
	struct msg m;
	enum msg_status decoded;
	uint8_t frame[FRAME_MAX_SIZE];
};
static struct rx RX[MAX_RX];
static unsigned rx_count;
static uint32_t next_id = MSG_HELLO_ID + 1;
static unsigned ev_target, ev_progress, ev_state, ev_bad;
static struct msg_dist_state_evt last_state;
static uint32_t last_event_seq;
static bool event_gap;

static void queue_answer(const struct target *t, const uint8_t *p, size_t len)
{
	struct answer *a;

	if (q_tail - q_head >= MAX_ANSWERS || len > ANSWER_MAX) {
		ok(0, "test bug: answer queue full or answer too long (%zu)", len);
		return;
	}
	a = &Q[q_tail++ % MAX_ANSWERS];
	a->src = t->addr;
	memcpy(a->payload, p, len);
	a->len = (uint8_t)len;
}

static void answer_md(const struct target *t, const struct md_msg *m)
{
	uint8_t buf[ANSWER_MAX];
	size_t len;

	if (md_encode(m, buf, sizeof(buf), &len) == MA_OK)
		queue_answer(t, buf, len);
	else
		ok(0, "test bug: md_encode");
}

static void answer_mb(const struct target *t, const struct mb_msg *m)
{
	uint8_t buf[ANSWER_MAX];
	size_t len;

	if (mb_encode(m, buf, sizeof(buf), &len) == MA_OK)
		queue_answer(t, buf, len);
	else
		ok(0, "test bug: mb_encode %s", mb_opcode_to_string(m->opcode));
}

static void update_status(const struct target *t, uint8_t status)
{
	struct md_msg m = { .opcode = MD_OP_UPDATE_STATUS };

	m.u.status = (struct md_update_status){
		.status = status, .phase = t->fu_phase, .ttl = t->ttl,
		.effect = t->fault == FAULT_UNPROVISION ? MD_EFFECT_UNPROVISION : MD_EFFECT_NONE,
		.timeout_base = t->timeout_base, .blob_id = t->blob_id, .image_index = t->image_index,
	};
	answer_md(t, &m);
}

static void xfer_status(const struct target *t, uint8_t status)
{
	struct mb_msg m = { .opcode = MB_OP_XFER_STATUS };
	uint32_t blocks = mb_block_count(t->size, t->log);

	m.u.xfer_status = (struct mb_xfer_status){
		.status = status, .mode = t->pull ? MB_MODE_PULL : MB_MODE_PUSH, .phase = t->blob_phase,
		.blob_id = t->blob_id, .size = t->size, .block_size_log = t->log, .mtu = 380,
		.blocks_missing = t->blocks_missing, .blocks_missing_len = MB_BITMAP_SIZE(blocks),
	};
	if (t->blob_phase < MB_PHASE_WAITING_FOR_BLOCK)
		m.u.xfer_status.blocks_missing_len = 0;
	answer_mb(t, &m);
}

static void block_status(const struct target *t, uint8_t status)
{
	struct mb_msg m = { .opcode = MB_OP_BLOCK_STATUS };
	uint32_t missing = mb_bitmap_count(t->got, t->chunk_count);

	m.u.block_status = (struct mb_block_status){ .status = status, .block = t->block,
						     .chunk_size = t->chunk_size };
	if (missing == 0)
		m.u.block_status.format = MB_FORMAT_NONE_MISSING;
	else if (missing == t->chunk_count)
		m.u.block_status.format = MB_FORMAT_ALL_MISSING;
	else {
		m.u.block_status.format = MB_FORMAT_SOME_MISSING;
		m.u.block_status.missing = t->got;
		m.u.block_status.missing_len = MB_BITMAP_SIZE(t->chunk_count);
	}
	answer_mb(t, &m);
}

/* Pull mode: a Partial Block Report with up to 4 missing chunks (empty = block done). */
static void block_report(const struct target *t)
{
	struct mb_msg m = { .opcode = MB_OP_BLOCK_REPORT };
	uint8_t list[16];
	size_t len = 0;

	mb_chunk_list_from_bitmap(t->got, t->chunk_count, 4, list, sizeof(list), &len, NULL);
	m.u.block_report = (struct mb_block_report){ .missing = list, .missing_len = len };
	answer_mb(t, &m);
}

static bool block_received(const struct target *t, uint16_t b)
{
	return !mb_bitmap_test(t->blocks_missing, b);
}

static bool all_blocks(const struct target *t)
{
	return t->size > 0 && mb_bitmap_count(t->blocks_missing, mb_block_count(t->size, t->log)) == 0;
}

static void target_chunk(struct target *t, const struct mb_chunk *c)
{
	uint32_t bsize = mb_block_size(t->size, t->log, t->block);
	uint32_t off = ((uint32_t)t->block << t->log) + (uint32_t)c->chunk * t->chunk_size;
	bool was_missing;

	if (t->blob_phase != MB_PHASE_WAITING_FOR_CHUNK || c->chunk >= t->chunk_count)
		return;
	if (t->fault == FAULT_MISS_CHUNKS && c->chunk % 3 == 0 && !mb_bitmap_test(t->dropped, c->chunk)) {
		mb_bitmap_set(t->dropped, c->chunk, true);
		return;
	}
	if (c->len != mb_chunk_size(bsize, t->chunk_size, c->chunk) || off + c->len > IMAGE_SIZE ||
	    memcmp(c->data, IMAGE + off, c->len) != 0) {
		t->bad_chunks++;
		return;
	}
	t->chunks_rx++;
	was_missing = mb_bitmap_test(t->got, c->chunk);
	mb_bitmap_set(t->got, c->chunk, false);
	if (mb_bitmap_count(t->got, t->chunk_count) == 0) {
		mb_bitmap_set(t->blocks_missing, t->block, false);
		t->blob_phase = all_blocks(t) ? MB_PHASE_COMPLETE : MB_PHASE_WAITING_FOR_BLOCK;
		if (t->blob_phase == MB_PHASE_COMPLETE)
			t->fu_phase = MD_PHASE_VERIFYING;
		if (t->pull && was_missing)
			block_report(t);
	} else if (t->pull && was_missing) {
		/* asks for more once the chunks it asked for are in */
		uint32_t first = mb_bitmap_first(t->got, t->chunk_count, 0);

		if (first > c->chunk)
			block_report(t);
	}
}

/* Acked messages: a LATE target drops the first @late copies of each. */
static bool drop_late(struct target *t, uint32_t op)
{
	if (t->fault != FAULT_LATE)
		return false;
	if (op != t->last_op) {
		t->last_op = op;
		t->copies = 0;
	}
	return t->copies++ < t->late;
}

static void target_rx(struct target *t, const uint8_t *p, size_t len)
{
	struct md_msg md;
	struct mb_msg mb;
	struct ma_msg ma;
	uint32_t op;

	if (ma_opcode_decode(p, len, &op) == 0)
		return;
	if (t->fault == FAULT_SILENT)
		return;
	if (t->fault == FAULT_SILENT_IN_BLOCK && t->blob_phase >= MB_PHASE_WAITING_FOR_BLOCK && t->block >= 1)
		return;
	if (t->fault == FAULT_UNPROVISION && t->updated)
		return;
	if (t->fu_phase == MD_PHASE_APPLYING && t->reboot_polls == 0) {
		/* "rebooted" into the new image (or kept the old one) */
		t->fu_phase = MD_PHASE_IDLE;
		t->blob_phase = MB_PHASE_INACTIVE;
		t->updated = true;
		if (t->fault == FAULT_UNPROVISION)
			return;
	}
	if (op != MB_OP_CHUNK && drop_late(t, op))
		return;
	if (md_decode(p, len, &md) == MA_OK) {
		switch (md.opcode) {
		case MD_OP_UPDATE_START:
			t->update_starts++;
			if (t->fault == FAULT_STALE_IDLE && t->update_starts == 1) {
				uint8_t phase = t->fu_phase;

				t->fu_phase = MD_PHASE_IDLE;
				update_status(t, MD_SUCCESS);
				t->fu_phase = phase;
			}
			if (t->fault == FAULT_REJECT_METADATA) {
				t->fu_phase = MD_PHASE_IDLE;
				update_status(t, MD_METADATA_CHECK_FAILED);
				return;
			}
			if (t->fault == FAULT_BLOB_BUSY) {
				t->fu_phase = MD_PHASE_IDLE;
				update_status(t, MD_BLOB_TRANSFER_BUSY);
				return;
			}
			if (t->fu_phase == MD_PHASE_IDLE || t->fu_phase == MD_PHASE_TRANSFER_ERROR ||
			    (t->fu_phase == MD_PHASE_TRANSFER_ACTIVE && t->blob_id == md.u.start.blob_id)) {
				if (t->blob_id != md.u.start.blob_id)
					t->size = 0;
				t->fu_phase = MD_PHASE_TRANSFER_ACTIVE;
				t->blob_id = md.u.start.blob_id;
				t->ttl = md.u.start.ttl;
				t->timeout_base = md.u.start.timeout_base;
				if (t->blob_phase == MB_PHASE_INACTIVE)
					t->blob_phase = MB_PHASE_WAITING_FOR_START;
				else if (t->blob_phase != MB_PHASE_WAITING_FOR_START)
					t->blob_phase = MB_PHASE_SUSPENDED;
			}
			update_status(t, MD_SUCCESS);
			return;
		case MD_OP_UPDATE_GET:
			if (t->fu_phase == MD_PHASE_VERIFYING) {
				if (t->verify_polls > 0)
					t->verify_polls--;
				else
					t->fu_phase = t->fault == FAULT_FAIL_VERIFY ? MD_PHASE_VERIFICATION_FAILED :
						      MD_PHASE_VERIFICATION_SUCCEEDED;
			}
			update_status(t, MD_SUCCESS);
			return;
		case MD_OP_UPDATE_APPLY:
			if (t->fu_phase == MD_PHASE_VERIFICATION_SUCCEEDED) {
				t->fu_phase = MD_PHASE_APPLYING;
				update_status(t, MD_SUCCESS);
			} else if (t->fu_phase == MD_PHASE_APPLYING) {
				t->reboot_polls--;      /* > 0: checked above */
				update_status(t, MD_SUCCESS);
			} else {
				update_status(t, MD_WRONG_PHASE);
			}
			return;
		case MD_OP_UPDATE_CANCEL:
			t->cancels++;
			t->fu_phase = MD_PHASE_IDLE;
			t->blob_phase = MB_PHASE_INACTIVE;
			update_status(t, MD_SUCCESS);
			return;
		default:
			break;
		}
	}
	if (ma_decode(p, len, &ma) == MA_OK && ma.opcode == MA_OP_FW_INFO_GET) {
		struct ma_fw_entry e = { .fwid = t->updated && t->fault != FAULT_KEEP_OLD_FWID ? NEW_FWID : OLD_FWID,
					 .fwid_len = sizeof(NEW_FWID) };
		uint8_t buf[ANSWER_MAX];
		size_t n;

		if (ma_fw_info_status_encode(1, 0, &e, 1, buf, sizeof(buf), &n) == MA_OK)
			queue_answer(t, buf, n);
		return;
	}
	if (mb_decode(p, len, &mb) != MA_OK)
		return;
	switch (mb.opcode) {
	case MB_OP_INFO_GET: {
		struct mb_msg m = { .opcode = MB_OP_INFO_STATUS, .u.info_status = CAPS };

		if (t->fault == FAULT_INCOMPATIBLE)
			m.u.info_status.max_size = IMAGE_SIZE - 1;
		answer_mb(t, &m);
		return;
	}
	case MB_OP_XFER_START:
		if (t->blob_phase == MB_PHASE_INACTIVE) {
			xfer_status(t, MB_WRONG_PHASE);
			return;
		}
		if (mb.u.xfer_start.blob_id != t->blob_id) {
			xfer_status(t, MB_WRONG_BLOB_ID);
			return;
		}
		if (t->blob_phase == MB_PHASE_WAITING_FOR_START || t->size == 0) {
			t->size = mb.u.xfer_start.size;
			t->log = mb.u.xfer_start.block_size_log;
			mb_bitmap_set_all(t->blocks_missing, mb_block_count(t->size, t->log));
		}
		t->pull = mb.u.xfer_start.mode == MB_MODE_PULL;
		if (t->blob_phase == MB_PHASE_WAITING_FOR_START || t->blob_phase == MB_PHASE_SUSPENDED)
			t->blob_phase = all_blocks(t) ? MB_PHASE_COMPLETE : MB_PHASE_WAITING_FOR_BLOCK;
		xfer_status(t, MB_SUCCESS);
		return;
	case MB_OP_BLOCK_START:
		if (t->fault == FAULT_STALE_STATUS && mb.u.block_start.block >= 1) {
			/* an answer of the previous round that SAR retransmissions delayed: about another block, and
			 * (unlike the answers that counted) not a success */
			struct mb_msg stale = { .opcode = MB_OP_BLOCK_STATUS };

			stale.u.block_status = (struct mb_block_status){ .status = MB_WRONG_PHASE,
									 .block = (uint16_t)(mb.u.block_start.block - 1),
									 .chunk_size = mb.u.block_start.chunk_size,
									 .format = MB_FORMAT_NONE_MISSING };
			answer_mb(t, &stale);
		}
		if (t->blob_phase < MB_PHASE_WAITING_FOR_BLOCK || t->blob_phase == MB_PHASE_SUSPENDED) {
			block_status(t, MB_WRONG_PHASE);
			return;
		}
		t->block = mb.u.block_start.block;
		t->chunk_size = mb.u.block_start.chunk_size;
		t->chunk_count = (uint16_t)mb_chunk_count(mb_block_size(t->size, t->log, t->block), t->chunk_size);
		if (block_received(t, t->block)) {
			mb_bitmap_clear_all(t->got, t->chunk_count);
		} else {
			mb_bitmap_set_all(t->got, t->chunk_count);
			if (t->blob_phase != MB_PHASE_COMPLETE)
				t->blob_phase = MB_PHASE_WAITING_FOR_CHUNK;
		}
		block_status(t, MB_SUCCESS);
		if (t->pull && !block_received(t, t->block))
			block_report(t);
		return;
	case MB_OP_CHUNK:
		target_chunk(t, &mb.u.chunk);
		return;
	case MB_OP_BLOCK_GET:
		block_status(t, MB_SUCCESS);
		return;
	case MB_OP_XFER_GET:
		xfer_status(t, MB_SUCCESS);
		return;
	default:
		return;
	}
}

/* The stack "transmits": every target the destination reaches gets the message now; answers wait in Q. */
static void mesh_hook(void *ctx, const struct fake_mesh_tx *tx)
{
	(void)ctx;
	tx_pending = true;
	for (unsigned i = 0; i < n_targets; i++)
		if (tx->dst == T[i].addr || (tx->dst == GROUP && T[i].subscribed))
			target_rx(&T[i], tx->payload, tx->payload_len);
}

/* --- the host side --- */

static void on_event(const struct rx *r)
{
	if (r->decoded != MSG_STATUS_OK) {
		ev_bad++;
		return;
	}
	if (r->h.seq != last_event_seq + 1 && last_event_seq != 0)
		event_gap = true;
	last_event_seq = r->h.seq;
	switch (r->h.type) {
	case MSG_DIST_TARGET:
		ev_target++;
		break;
	case MSG_DIST_PROGRESS:
		ev_progress++;
		break;
	case MSG_DIST_STATE:
		ev_state++;
		last_state = r->m.u.dist_state;
		break;
	default:
		break;
	}
}

/* Reads everything the core sent: responses into RX[], events counted. */
static void collect(void)
{
	static struct rx ev;

	rx_count = 0;
	for (;;) {
		struct rx *r = rx_count < MAX_RX ? &RX[rx_count] : &ev;
		size_t len = fake_next_frame(&F, r->frame);

		if (len == 0)
			break;
		if (frame_decode(r->frame, len, &r->h) != FRAME_OK) {
			ok(0, "the core sent a frame that does not decode");
			continue;
		}
		r->decoded = msg_decode(&r->h, r->frame + FRAME_HEADER_SIZE, &r->m);
		if (r->h.kind == FRAME_EVENT) {
			on_event(r);
			continue;
		}
		if (r != &ev)
			rx_count++;
	}
	if (F.out_read == F.out_len)
		F.out_read = F.out_len = 0;
}

static struct rx *call(struct msg *req)
{
	static uint8_t frame[FRAME_MAX_SIZE], wire[COBS_WIRE_MAX(FRAME_MAX_SIZE)];
	uint32_t id = next_id++;
	size_t len = 0, wire_len;

	req->kind = FRAME_REQUEST;
	if (msg_encode_frame(req, id, false, frame, sizeof(frame), &len) != MSG_STATUS_OK) {
		ok(0, "test bug: cannot encode a %s request", msg_type_to_string(req->type));
		return NULL;
	}
	wire_len = cobs_encode_frame(frame, len, true, wire, sizeof(wire));
	core_input(&C, wire, wire_len);
	collect();
	for (unsigned i = 0; i < rx_count; i++)
		if (RX[i].h.kind == FRAME_RESPONSE && RX[i].h.seq == id)
			return &RX[i];
	ok(0, "no response to %s", msg_type_to_string(req->type));
	return NULL;
}

static int status_of(struct msg *req)
{
	struct rx *r = call(req);

	return r ? r->h.status : -1;
}

/* Runs the mesh and the clock until the core has nothing left to do, @limit_ms of fake time passed, or @stop
 * (may be NULL) says so. */
static void run_until(uint64_t limit_ms, bool (*stop)(void))
{
	uint64_t end = F.now + limit_ms;

	while (F.now <= end) {
		uint32_t delay;

		if (stop && stop())
			break;
		while (q_head != q_tail) {
			struct answer *a = &Q[q_head++ % MAX_ANSWERS];
			struct msg_mesh_recv rx = { .src = a->src, .dst = DONGLE, .key_index = APP_KEY_INDEX, .ttl = 5,
						    .rssi = -50, .payload = a->payload, .payload_len = a->len };

			core_mesh_recv(&C, &rx);
		}
		if (tx_pending) {
			tx_pending = false;
			core_mesh_tx_done(&C);
			continue;
		}
		delay = core_poll(&C);
		collect();
		if (q_head != q_tail || tx_pending)
			continue;
		if (delay == CORE_POLL_IDLE)
			break;
		F.now += delay;
	}
	collect();
}

static void run_for(uint64_t limit_ms)
{
	run_until(limit_ms, NULL);
}

static void run(void)
{
	run_for(UINT32_MAX);
}

static bool in_block_1(void)
{
	return C.dist.phase == MSG_DIST_PHASE_BLOCK && C.dist.block == 1;
}

static bool in_block_0(void)
{
	return C.dist.phase == MSG_DIST_PHASE_BLOCK;
}

static struct msg_dist_info host_dist_get(void)
{
	struct msg req = { .type = MSG_DIST_GET };
	struct rx *r = call(&req);

	if (!r || r->h.status != MSG_STATUS_OK || r->decoded != MSG_STATUS_OK) {
		ok(0, "DIST_GET answered");
		return (struct msg_dist_info){ 0 };
	}
	return r->m.u.dist_info;
}

static int dist_id_req(enum msg_type type, uint32_t id)
{
	struct msg req = { .type = type, .u.dist_id = id };

	return status_of(&req);
}

/* Every target's info through DIST_TARGETS_GET pages of @page entries; returns the count read. */
static unsigned targets_get(struct msg_dist_target_info *out, unsigned cap, uint16_t page)
{
	unsigned n = 0;

	while (n < cap) {
		struct msg req = { .type = MSG_DIST_TARGETS_GET, .u.dist_page = { .first = (uint16_t)n, .max = page } };
		struct rx *r = call(&req);

		if (!r || r->h.status != MSG_STATUS_OK || r->decoded != MSG_STATUS_OK) {
			ok(0, "DIST_TARGETS_GET from %u answered", n);
			break;
		}
		if (r->m.u.dist_targets.count == 0)
			break;
		for (uint16_t i = 0; i < r->m.u.dist_targets.count && n < cap; i++)
			out[n++] = msg_dist_target_at(&r->m.u.dist_targets, i);
	}
	return n;
}

/* --- setup --- */

static void make_image(void)
{
	uint32_t x = 0x12345678;

	for (unsigned i = 0; i < IMAGE_SIZE; i++) {
		x = x * 1103515245u + 12345u;
		IMAGE[i] = (uint8_t)(x >> 16);
	}
	sha256(IMAGE, IMAGE_SIZE, IMAGE_SHA);
}

static void upload_image(void)
{
	struct msg req = { .type = MSG_SLOT_BEGIN, .u.slot_image = { .size = IMAGE_SIZE } };

	memcpy(req.u.slot_image.sha256, IMAGE_SHA, 32);
	is_int(status_of(&req), MSG_STATUS_OK, "SLOT_BEGIN");
	for (uint32_t off = 0; off < IMAGE_SIZE; off += 1024) {
		uint16_t n = (uint16_t)(IMAGE_SIZE - off < 1024 ? IMAGE_SIZE - off : 1024);
		struct msg w = { .type = MSG_SLOT_WRITE, .u.slot_write = { .offset = off, .data = IMAGE + off,
									     .len = n } };

		if (status_of(&w) != MSG_STATUS_OK)
			ok(0, "SLOT_WRITE at %u", (unsigned)off);
	}
	req.type = MSG_SLOT_COMMIT;
	is_int(status_of(&req), MSG_STATUS_OK, "SLOT_COMMIT");
}

/* A booted core with MESH_CONFIG done and the image committed, and @n healthy targets. */
static void fresh(unsigned n, bool tx_done)
{
	struct core_config cfg = { .reset_reason = MSG_RESET_POWER_ON, .fw_minor = 1 };
	struct msg mc = { .type = MSG_MESH_CONFIG, .u.mesh_config = { .app_key_index = APP_KEY_INDEX,
								       .address = DONGLE, .iv_index = 1 } };

	fake_init(&F, true, true);
	F.platform.has_mesh_tx_done = tx_done;
	F.mesh_hook = mesh_hook;
	core_init(&C, &F.platform, &cfg);
	memset(T, 0, sizeof(T));
	n_targets = n;
	for (unsigned i = 0; i < n; i++) {
		T[i].addr = (uint16_t)(0x0100 + i * 2);
		T[i].subscribed = true;
		T[i].verify_polls = 1;
		T[i].reboot_polls = 1;
	}
	q_head = q_tail = 0;
	tx_pending = false;
	ev_target = ev_progress = ev_state = ev_bad = 0;
	last_event_seq = 0;
	event_gap = false;
	last_state = (struct msg_dist_state_evt){ 0 };
	collect();
	is_int(status_of(&mc), MSG_STATUS_OK, "MESH_CONFIG");
	upload_image();
}

struct start_opts {
	uint32_t id;
	uint16_t group;
	uint8_t mode;
	uint8_t policy;
	uint16_t batch;                 /* entries per DIST_START; 0 = all at once (up to 300) */
	uint16_t timeout_base;
};

static uint8_t ENTRIES[MAX_TARGETS * MSG_DIST_ENTRY_SIZE];

static struct msg start_msg(const struct start_opts *o, uint16_t first, uint16_t count)
{
	struct msg m = { .type = MSG_DIST_START };

	for (unsigned i = 0; i < n_targets; i++) {
		ENTRIES[i * 3] = (uint8_t)T[i].addr;
		ENTRIES[i * 3 + 1] = (uint8_t)(T[i].addr >> 8);
		ENTRIES[i * 3 + 2] = T[i].image_index;
	}
	m.u.dist_start = (struct msg_dist_start){
		.id = o->id ? o->id : 7, .group = o->group, .app_key_index = APP_KEY_INDEX, .ttl = 5,
		.timeout_base = o->timeout_base, .mode = o->mode ? o->mode : MSG_DIST_MODE_PUSH,
		.policy = o->policy, .total = (uint16_t)n_targets, .first = first, .count = count,
		.fwid = NEW_FWID, .fwid_len = sizeof(NEW_FWID), .metadata = METADATA,
		.metadata_len = sizeof(METADATA), .entries = ENTRIES + first * 3,
	};
	memcpy(m.u.dist_start.sha256, IMAGE_SHA, 32);
	return m;
}

/* Sends every batch; returns the status of the last. */
static int start(const struct start_opts *o)
{
	uint16_t batch = o->batch ? o->batch : 300;
	int st = -1;

	for (unsigned first = 0; first < n_targets; first += batch) {
		uint16_t count = (uint16_t)(n_targets - first < batch ? n_targets - first : batch);
		struct msg m = start_msg(o, (uint16_t)first, count);

		st = status_of(&m);
		if (st != MSG_STATUS_OK)
			return st;
	}
	return st;
}

/* Checks one target's result and reason through DIST_TARGETS_GET. */
static struct msg_dist_target_info INFO[MAX_TARGETS];

static void expect_target(unsigned i, uint8_t result, uint8_t reason, const char *what)
{
	ok(INFO[i].result == result && INFO[i].reason == reason, "%s: target 0x%04x %s/%s (want %s/%s)", what,
	   T[i].addr, msg_dist_result_to_string(INFO[i].result), msg_dist_reason_to_string(INFO[i].reason),
	   msg_dist_result_to_string(result), msg_dist_reason_to_string(reason));
}

/* --- tests --- */

static void test_healthy_group(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_APPLY };
	struct msg_dist_info info;
	unsigned n;

	fresh(8, true);
	is_int(start(&o), MSG_STATUS_OK, "DIST_START of 8 targets: OK");
	run();
	info = host_dist_get();
	is_int(info.state, MSG_DIST_COMPLETED, "8 healthy targets: COMPLETED");
	is_int(info.succeeded, 8, "... all 8 succeeded");
	is_int(info.blocks, 3, "... 3 blocks of 4096 for 10000 bytes");
	is_int(info.block_size_log, 12, "... block size from the capabilities");
	is_int(info.chunk_size, 256, "... the largest chunk the targets take");
	is_int(info.group, GROUP, "... by group");
	n = targets_get(INFO, MAX_TARGETS, 0);
	is_int(n, 8, "DIST_TARGETS_GET: 8 entries");
	for (unsigned i = 0; i < n; i++)
		expect_target(i, MSG_DIST_OK, MSG_DIST_REASON_NONE, "healthy");
	ok(INFO[0].phase == MSG_DIST_PHASE_DONE && INFO[0].blocks_done == 3, "target 0: phase DONE, 3 blocks done");
	for (unsigned i = 0; i < 8; i++)
		if (T[i].bad_chunks || !T[i].updated)
			ok(0, "target %u: %u bad chunks, updated %d", i, T[i].bad_chunks, T[i].updated);
	is_int(T[0].chunks_rx, 16 + 16 + 8, "each target got each chunk once (40)");
	ok(C.dist.counters.sent_group > 0 && C.dist.counters.sent_group == C.dist.counters.sent,
	   "every message went to the group (%u of %u)", (unsigned)C.dist.counters.sent_group,
	   (unsigned)C.dist.counters.sent);
	ok(ev_state >= 2 && last_state.state == MSG_DIST_COMPLETED, "DIST_STATE events, the last COMPLETED (%u)",
	   ev_state);
	is_int(ev_progress, 3, "one DIST_PROGRESS per block");
	ok(ev_target >= 8, "DIST_TARGET events (%u)", ev_target);
	ok(!event_gap && ev_bad == 0, "events numbered without gaps, all decode");
	is_int(C.counters.tx_dropped, 0, "nothing dropped on the link");
}

/* A node subscribed to the group but not in the target list hears the group's Update Start: it joins the transfer
 * and would apply the image at the group's Apply. The Distributor cancels it as soon as it answers. */
static void test_stray_subscriber(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_APPLY };
	struct msg_dist_info info;
	struct msg m;

	fresh(9, true);
	m = start_msg(&o, 0, 8);
	m.u.dist_start.total = 8;       /* the 9th node is subscribed to the group but not a target */
	is_int(status_of(&m), MSG_STATUS_OK, "DIST_START of 8 targets, a 9th node subscribed to the group");
	run();
	info = host_dist_get();
	is_int(info.state, MSG_DIST_COMPLETED, "the 8 targets: COMPLETED");
	is_int(info.succeeded, 8, "... all 8 succeeded");
	printf("# stray: %u Update Start(s), phase %u, chunks %u\n", T[8].update_starts, T[8].fu_phase, T[8].chunks_rx);
	ok(!T[8].updated, "the stray did not apply the image");
	is_int(T[8].fu_phase, MD_PHASE_IDLE, "it is Idle (cancelled)");
	is_int(C.dist.counters.strays, 1, "one Firmware Update Cancel to it");
}

static void test_faults(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_APPLY };
	static const struct {
		enum fault fault;
		uint8_t result, reason;
		const char *name;
	} cases[] = {
		{ FAULT_NONE, MSG_DIST_OK, MSG_DIST_REASON_NONE, "healthy" },
		{ FAULT_REJECT_METADATA, MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_METADATA_REJECTED, "rejects metadata" },
		{ FAULT_SILENT, MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_TIMEOUT_INITIATE, "never answers" },
		{ FAULT_SILENT_IN_BLOCK, MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_TIMEOUT_BLOCK, "silent from block 1" },
		{ FAULT_MISS_CHUNKS, MSG_DIST_OK, MSG_DIST_REASON_NONE, "misses chunks (repaired)" },
		{ FAULT_FAIL_VERIFY, MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_VERIFICATION_FAILED, "fails verification" },
		{ FAULT_KEEP_OLD_FWID, MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_WRONG_FIRMWARE_AFTER_APPLY, "old FWID" },
		{ FAULT_LATE, MSG_DIST_OK, MSG_DIST_REASON_NONE, "answers after 3 retries" },
		{ FAULT_UNPROVISION, MSG_DIST_OK, MSG_DIST_REASON_NONE, "unprovisioned (effect 3): silence = ok" },
		{ FAULT_INCOMPATIBLE, MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_CAPABILITIES_INCOMPATIBLE, "too small" },
		{ FAULT_BLOB_BUSY, MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_BLOB_BUSY, "BLOB busy" },
		{ FAULT_STALE_IDLE, MSG_DIST_OK, MSG_DIST_REASON_NONE, "a late Success + Idle before its Start answer" },
		{ FAULT_STALE_STATUS, MSG_DIST_OK, MSG_DIST_REASON_NONE, "a late refusal about the previous block: ignored" },
	};
	unsigned n = sizeof(cases) / sizeof(cases[0]);
	struct msg_dist_info info;

	fresh(n, true);
	for (unsigned i = 0; i < n; i++) {
		T[i].fault = cases[i].fault;
		T[i].late = 3;
	}
	/* the late one verifies and reboots at once: each of its exchanges is one acked message */
	T[7].verify_polls = T[7].reboot_polls = 0;
	is_int(start(&o), MSG_STATUS_OK, "DIST_START, one target per fault");
	run();
	info = host_dist_get();
	is_int(info.state, MSG_DIST_COMPLETED, "faults: COMPLETED (some targets succeeded)");
	is_int(targets_get(INFO, MAX_TARGETS, 5), n, "DIST_TARGETS_GET in pages of 5");
	for (unsigned i = 0; i < n; i++)
		expect_target(i, cases[i].result, cases[i].reason, cases[i].name);
	is_int(INFO[1].status_source, MSG_DIST_STATUS_FU, "metadata rejected: the status is a Firmware Update one");
	is_int(INFO[1].status, MD_METADATA_CHECK_FAILED, "... Metadata Check Failed");
	is_int(INFO[8].effect, MD_EFFECT_UNPROVISION, "the unprovisioned target announced effect 3");
	is_int(INFO[3].blocks_done, 1, "silent from block 1: 1 block done");
	ok(T[4].chunks_rx == 40 && T[4].bad_chunks == 0, "the target that misses chunks got all 40 in the end (%u)",
	   T[4].chunks_rx);
	ok(C.dist.counters.unicast_reasks > 0, "the silent few were asked again by unicast (%u times)",
	   (unsigned)C.dist.counters.unicast_reasks);
}

static void test_late_beyond_retries(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_APPLY };

	fresh(6, true);
	T[2].fault = FAULT_LATE;
	T[2].late = DIST_ATTEMPTS;              /* would answer the 6th copy: one too late */
	T[3].fault = FAULT_LATE;
	T[3].late = DIST_ATTEMPTS - 1;          /* answers the 5th, the last */
	T[2].verify_polls = T[2].reboot_polls = T[3].verify_polls = T[3].reboot_polls = 0;
	is_int(start(&o), MSG_STATUS_OK, "DIST_START");
	run();
	targets_get(INFO, MAX_TARGETS, 0);
	expect_target(2, MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_TIMEOUT_INITIATE, "answers after 5 retries");
	expect_target(3, MSG_DIST_OK, MSG_DIST_REASON_NONE, "answers at the last retry");
}

static void test_all_fail(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_APPLY };
	struct msg_dist_info info;
	uint64_t t0;

	fresh(5, true);
	for (unsigned i = 0; i < 5; i++)
		T[i].fault = FAULT_SILENT;
	t0 = F.now;
	is_int(start(&o), MSG_STATUS_OK, "DIST_START to 5 silent targets");
	run();
	info = host_dist_get();
	is_int(info.state, MSG_DIST_FAILED, "all silent: FAILED");
	is_int(info.reason, MSG_DIST_REASON_ALL_TARGETS_FAILED, "... all_targets_failed");
	is_int(info.failed, 5, "... 5 failed");
	/* 5 attempts, one every client timeout / 5: the whole client timeout, 20000 + 500 ms at TB 0, TTL 5 */
	ok(F.now - t0 >= dist_client_timeout_ms(0, 5) && F.now - t0 < dist_client_timeout_ms(0, 5) + 1000,
	   "dropped after the client timeout (%u ms)", (unsigned)(F.now - t0));
	is_int(dist_client_timeout_ms(0, 5), 20500, "client timeout TB 0, TTL 5: 20500 ms");
	is_int(dist_client_timeout_ms(3, MSG_TTL_DEFAULT), 50700, "client timeout TB 3, TTL default (7): 50700 ms");
}

static void test_unicast_and_small_wave(void)
{
	struct start_opts o = { .group = 0, .policy = MSG_DIST_POLICY_APPLY };
	struct msg_dist_info info;

	fresh(3, true);
	T[1].fault = FAULT_MISS_CHUNKS;
	is_int(start(&o), MSG_STATUS_OK, "DIST_START with group 0");
	run();
	info = host_dist_get();
	ok(info.state == MSG_DIST_COMPLETED && info.succeeded == 3, "unicast: 3 of 3 (%s, %u)",
	   msg_dist_state_to_string(info.state), info.succeeded);
	is_int(info.group, 0, "DIST_GET: group 0 (unicast)");
	is_int(C.dist.counters.sent_group, 0, "nothing went to a group");

	fresh(DIST_MULTICAST_MIN_TARGETS - 1, true);
	o.group = GROUP;
	is_int(start(&o), MSG_STATUS_OK, "DIST_START of a small wave with a group");
	run();
	info = host_dist_get();
	ok(info.state == MSG_DIST_COMPLETED && info.group == 0 && C.dist.counters.sent_group == 0,
	   "%u targets: unicast although a group was given", DIST_MULTICAST_MIN_TARGETS - 1);

	/* different image indices: Update Start by unicast, the rest by group */
	fresh(6, true);
	T[5].image_index = 1;
	is_int(start(&o), MSG_STATUS_OK, "DIST_START with two image indices");
	run();
	info = host_dist_get();
	ok(info.state == MSG_DIST_COMPLETED && info.succeeded == 6, "mixed image indices: 6 of 6");
	ok(C.dist.counters.sent_group > 0 && C.dist.counters.sent_group < C.dist.counters.sent,
	   "... some messages by unicast (Update Start), the rest to the group");
}

static void test_no_tx_done(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_APPLY };
	struct msg_dist_info info;

	fresh(6, false);
	F.mesh_busy = 3;
	is_int(start(&o), MSG_STATUS_OK, "DIST_START on a port without tx done, a busy stack at first");
	run();
	info = host_dist_get();
	ok(info.state == MSG_DIST_COMPLETED && info.succeeded == 6, "paced by the clock: 6 of 6 (%s)",
	   msg_dist_state_to_string(info.state));
	is_int(C.dist.counters.busy, 3, "the busy stack was tried again");
}

static void test_pull(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_APPLY, .mode = MSG_DIST_MODE_PULL };
	struct msg_dist_info info;

	fresh(6, true);
	T[2].fault = FAULT_SILENT_IN_BLOCK;
	is_int(start(&o), MSG_STATUS_OK, "DIST_START in pull mode");
	run();
	info = host_dist_get();
	is_int(info.mode, MSG_DIST_MODE_PULL, "pull mode");
	is_int(info.succeeded, 5, "pull: 5 of 6");
	targets_get(INFO, MAX_TARGETS, 0);
	expect_target(2, MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_TIMEOUT_BLOCK, "pull, silent in block 1");
	for (unsigned i = 0; i < 6; i++)
		if (i != 2 && (T[i].chunks_rx != 40 || T[i].bad_chunks != 0))
			ok(0, "pull: target %u got %u chunks, %u bad", i, T[i].chunks_rx, T[i].bad_chunks);
}

static void test_verify_only_and_apply(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_VERIFY_ONLY };
	struct msg_dist_info info;

	fresh(6, true);
	is_int(start(&o), MSG_STATUS_OK, "DIST_START verify-only");
	run();
	info = host_dist_get();
	is_int(info.state, MSG_DIST_VERIFIED, "verify-only: VERIFIED");
	is_int(info.pending, 6, "... the targets wait for apply");
	ok(!T[0].updated && T[0].fu_phase == MD_PHASE_VERIFICATION_SUCCEEDED, "... targets verified, not applied");
	is_int(dist_id_req(MSG_DIST_SUSPEND, 7), MSG_STATUS_BAD_STATE, "DIST_SUSPEND in VERIFIED: BAD_STATE");
	is_int(dist_id_req(MSG_DIST_APPLY, 8), MSG_STATUS_DIST_UNKNOWN_ID, "DIST_APPLY with another id");
	is_int(dist_id_req(MSG_DIST_APPLY, 7), MSG_STATUS_OK, "DIST_APPLY: OK");
	is_int(dist_id_req(MSG_DIST_APPLY, 7), MSG_STATUS_BAD_STATE, "DIST_APPLY again (another request id)");
	run();
	info = host_dist_get();
	ok(info.state == MSG_DIST_COMPLETED && info.succeeded == 6, "after DIST_APPLY: COMPLETED, 6 of 6");
	is_int(dist_id_req(MSG_DIST_CANCEL, 7), MSG_STATUS_BAD_STATE, "DIST_CANCEL of a finished one: BAD_STATE");
	is_int(dist_id_req(MSG_DIST_RESUME, 7), MSG_STATUS_BAD_STATE, "DIST_RESUME of a finished one: BAD_STATE");
}

static void test_suspend_resume_cancel(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_APPLY };
	struct msg_dist_info info;
	unsigned sent;

	fresh(6, true);
	is_int(dist_id_req(MSG_DIST_SUSPEND, 7), MSG_STATUS_DIST_UNKNOWN_ID, "DIST_SUSPEND without a distribution");
	is_int(start(&o), MSG_STATUS_OK, "DIST_START");
	run_until(UINT32_MAX, in_block_1);
	ok(in_block_1(), "transferring block 1");
	is_int(dist_id_req(MSG_DIST_RESUME, 7), MSG_STATUS_BAD_STATE, "DIST_RESUME while RUNNING: BAD_STATE");
	is_int(dist_id_req(MSG_DIST_SUSPEND, 7), MSG_STATUS_OK, "DIST_SUSPEND in block 1");
	is_int(host_dist_get().state, MSG_DIST_SUSPENDED, "SUSPENDED");
	sent = (unsigned)C.dist.counters.sent;
	run_for(10 * 60 * 1000);
	is_int(C.dist.counters.sent, sent, "nothing sent while suspended (10 minutes)");
	/* the targets' BLOB servers suspended themselves meanwhile */
	for (unsigned i = 0; i < 6; i++) {
		T[i].blob_phase = MB_PHASE_SUSPENDED;
		T[i].fu_phase = MD_PHASE_TRANSFER_ERROR;
	}
	is_int(dist_id_req(MSG_DIST_RESUME, 7), MSG_STATUS_OK, "DIST_RESUME");
	run();
	info = host_dist_get();
	ok(info.state == MSG_DIST_COMPLETED && info.succeeded == 6, "resumed: COMPLETED, 6 of 6 (%s, %u)",
	   msg_dist_state_to_string(info.state), info.succeeded);
	is_int(T[0].update_starts, 2, "resume sent Update Start again");
	is_int(T[0].chunks_rx, 40, "... and no block twice: 40 chunks in all");

	fresh(6, true);
	is_int(start(&o), MSG_STATUS_OK, "DIST_START");
	run_until(UINT32_MAX, in_block_0);
	ok(in_block_0(), "transferring block 0");
	is_int(dist_id_req(MSG_DIST_CANCEL, 9), MSG_STATUS_DIST_UNKNOWN_ID, "DIST_CANCEL with another id");
	is_int(dist_id_req(MSG_DIST_CANCEL, 7), MSG_STATUS_OK, "DIST_CANCEL while transferring");
	run();
	info = host_dist_get();
	ok(info.state == MSG_DIST_CANCELLED && info.cancelled == 6, "CANCELLED, 6 cancelled");
	targets_get(INFO, MAX_TARGETS, 0);
	expect_target(0, MSG_DIST_TARGET_CANCELLED, MSG_DIST_REASON_CANCELLED, "cancelled");
	is_int(T[0].cancels, 1, "the targets got Firmware Update Cancel");
	ok(T[0].fu_phase == MD_PHASE_IDLE, "... and are idle again");
	is_int(dist_id_req(MSG_DIST_CANCEL, 7), MSG_STATUS_BAD_STATE, "DIST_CANCEL again: BAD_STATE");
	/* a finished distribution is replaced by a new one */
	o.id = 8;
	is_int(start(&o), MSG_STATUS_OK, "a new DIST_START after the cancelled one");
	run();
	ok(host_dist_get().state == MSG_DIST_COMPLETED && host_dist_get().id == 8, "distribution 8 COMPLETED");
}

static void test_stack_refuses(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_APPLY };
	struct msg_dist_info info;

	fresh(6, true);
	is_int(start(&o), MSG_STATUS_OK, "DIST_START");
	run_until(UINT32_MAX, in_block_1);
	F.mesh_fail = true;     /* the stack refuses everything from now on */
	run();
	info = host_dist_get();
	ok(info.state == MSG_DIST_SUSPENDED && info.reason == MSG_DIST_REASON_INTERNAL,
	   "the stack refuses: SUSPENDED, reason internal (%s, %s)", msg_dist_state_to_string(info.state),
	   msg_dist_reason_to_string(info.reason));
	is_int(info.pending, 6, "... no target blamed");
	has_str(F.all_logs, "DIST_RESUME", "... the log says what to do");
	F.mesh_fail = false;
	is_int(dist_id_req(MSG_DIST_RESUME, 7), MSG_STATUS_OK, "DIST_RESUME once the stack works");
	run();
	info = host_dist_get();
	ok(info.state == MSG_DIST_COMPLETED && info.succeeded == 6, "... COMPLETED, 6 of 6");
	ok(strstr(F.all_logs, "bug:") == NULL, "no state transition outside the table");
}

static void test_start_rules(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_APPLY, .batch = 4 };
	struct msg m;
	struct msg_dist_info info;

	fresh(10, true);
	info = host_dist_get();
	ok(info.state == MSG_DIST_IDLE && info.id == 0, "DIST_GET after boot: IDLE, id 0");
	{
		struct msg req = { .type = MSG_DIST_TARGETS_GET };

		is_int(status_of(&req), MSG_STATUS_BAD_STATE, "DIST_TARGETS_GET without a distribution: BAD_STATE");
	}
	/* first batch only */
	m = start_msg(&o, 0, 4);
	is_int(status_of(&m), MSG_STATUS_OK, "batch 0..3: OK");
	info = host_dist_get();
	ok(info.state == MSG_DIST_CONFIGURING && info.received == 4 && info.total == 10,
	   "CONFIGURING, 4 of 10 received");
	is_int(targets_get(INFO, MAX_TARGETS, 0), 4, "DIST_TARGETS_GET while configuring: the 4 received");
	is_int(status_of(&m), MSG_STATUS_OK, "the same batch again: OK");
	is_int(host_dist_get().received, 4, "... no effect");
	m = start_msg(&o, 0, 4);
	m.u.dist_start.ttl = 6;
	is_int(status_of(&m), MSG_STATUS_BAD_PARAM, "same id, another TTL: BAD_PARAM");
	{
		static uint8_t changed[12];

		m = start_msg(&o, 0, 4);
		memcpy(changed, m.u.dist_start.entries, sizeof(changed));
		changed[3] ^= 0x02;     /* target 1's address */
		m.u.dist_start.entries = changed;
	}
	is_int(status_of(&m), MSG_STATUS_BAD_PARAM, "same id, a different target in a batch: BAD_PARAM");
	o.id = 99;
	m = start_msg(&o, 4, 4);
	is_int(status_of(&m), MSG_STATUS_BUSY, "another id while one is configuring: BUSY");
	o.id = 0;
	m = start_msg(&o, 4, 4);
	is_int(status_of(&m), MSG_STATUS_OK, "batch 4..7");
	m = start_msg(&o, 8, 2);
	is_int(status_of(&m), MSG_STATUS_OK, "batch 8..9, the last");
	info = host_dist_get();
	ok(info.state == MSG_DIST_RUNNING && info.received == 10, "RUNNING once the last batch is in");
	is_int(status_of(&m), MSG_STATUS_OK, "the last batch again while running: OK, no effect");
	{
		struct msg up = { .type = MSG_SLOT_BEGIN, .u.slot_image = { .size = 100 } };

		is_int(status_of(&up), MSG_STATUS_BUSY, "SLOT_BEGIN while distributing: BUSY");
	}
	o.id = 99;
	m = start_msg(&o, 0, 4);
	is_int(status_of(&m), MSG_STATUS_BUSY, "another distribution while one runs: BUSY");
	run();
	is_int(host_dist_get().state, MSG_DIST_COMPLETED, "COMPLETED");
	o.id = 0;
	m = start_msg(&o, 0, 4);
	is_int(status_of(&m), MSG_STATUS_OK, "DIST_START of the finished id again: OK, no effect");
	is_int(host_dist_get().state, MSG_DIST_COMPLETED, "... still COMPLETED");

	/* refusals */
	fresh(3, true);
	o = (struct start_opts){ .group = GROUP };
	m = start_msg(&o, 0, 3);
	m.u.dist_start.sha256[0] ^= 1;
	is_int(status_of(&m), MSG_STATUS_DIST_SLOT_MISMATCH, "another SHA-256 than the slot's: DIST_SLOT_MISMATCH");
	m = start_msg(&o, 0, 3);
	m.u.dist_start.app_key_index = 5;
	is_int(status_of(&m), MSG_STATUS_BAD_PARAM, "an app key index MESH_CONFIG did not set: BAD_PARAM");
	T[2].addr = T[0].addr;
	m = start_msg(&o, 0, 3);
	is_int(status_of(&m), MSG_STATUS_BAD_PARAM, "a target listed twice: BAD_PARAM");
	is_int(host_dist_get().state, MSG_DIST_IDLE, "... and nothing started");
	{
		struct msg big = start_msg(&o, 0, 1);

		big.u.dist_start.total = DIST_TARGETS_MAX + 1;
		is_int(status_of(&big), MSG_STATUS_NO_MEMORY, "%u targets: NO_MEMORY", DIST_TARGETS_MAX + 1);
	}
	{
		struct msg up = { .type = MSG_SLOT_BEGIN, .u.slot_image = { .size = 100 } };

		memset(up.u.slot_image.sha256, 1, 32);
		is_int(status_of(&up), MSG_STATUS_OK, "SLOT_BEGIN of another image (the slot is WRITING)");
		T[2].addr = 0x0200;
		m = start_msg(&o, 0, 3);
		is_int(status_of(&m), MSG_STATUS_DIST_SLOT_MISMATCH, "DIST_START with the slot not COMMITTED");
	}
	/* no mesh configuration */
	{
		struct core_config cfg = { .reset_reason = MSG_RESET_POWER_ON };

		fake_init(&F, true, true);
		core_init(&C, &F.platform, &cfg);
		collect();
		m = start_msg(&o, 0, 3);
		is_int(status_of(&m), MSG_STATUS_NOT_CONFIGURED, "DIST_START before MESH_CONFIG: NOT_CONFIGURED");
		fake_init(&F, false, true);
		core_init(&C, &F.platform, &cfg);
		collect();
		is_int(status_of(&m), MSG_STATUS_NOT_SUPPORTED, "DIST_START without a mesh stack: NOT_SUPPORTED");
	}
}

static void test_host_traffic(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_APPLY };
	uint8_t other[] = { 0x82, 0x04, 1 };    /* Generic OnOff Status: not the distribution's */
	struct msg_mesh_recv rx = { .src = 0x0100, .dst = DONGLE, .key_index = APP_KEY_INDEX, .ttl = 5,
				    .payload = other, .payload_len = sizeof(other) };
	unsigned forwarded = 0;

	fresh(6, true);
	is_int(start(&o), MSG_STATUS_OK, "DIST_START");
	core_mesh_recv(&C, &rx);
	collect();
	forwarded = (unsigned)C.counters.tx_frames;
	run();
	ok(forwarded > 0, "a target's other traffic still goes to the host");
	is_int(C.mesh.rx, C.dist.counters.received + 1, "every other answer was the distributor's (not forwarded)");
}

static void test_reask_rule(void)
{
	/* radio-model.md 2.5: a group ask costs max(0.3 s, N x 4.5 ms), a unicast ask 0.1 s */
	ok(dist_unicast_reask(1000, 44), "1000 active, 44 silent: unicast (4.4 s < 4.5 s)");
	ok(!dist_unicast_reask(1000, 45), "1000 active, 45 silent: group (4.5 s)");
	ok(dist_unicast_reask(10, 2), "10 active, 2 silent: unicast (0.2 s < 0.3 s)");
	ok(!dist_unicast_reask(10, 3), "10 active, 3 silent: group");
}

static void test_memory(void)
{
	ok(sizeof(struct dist_target) <= 64, "per-target state %zu bytes <= 64", sizeof(struct dist_target));
	ok(DIST_TARGETS_MAX >= 1000, "DIST_TARGETS_MAX %u >= 1000", DIST_TARGETS_MAX);
	ok(sizeof(struct dist) < 24 * 1024, "struct dist %zu bytes (< 24 KiB)", sizeof(struct dist));
	ok(sizeof(struct core) < 40 * 1024, "struct core %zu bytes (< 40 KiB of the nRF52840's 256)",
	   sizeof(struct core));
}

static void test_thousand(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_APPLY, .batch = 300 };
	struct msg_dist_info info;
	unsigned n;

	fresh(1000, true);
	for (unsigned i = 0; i < 1000; i += 100)
		T[i].fault = FAULT_SILENT_IN_BLOCK;     /* 10 go silent */
	for (unsigned i = 50; i < 1000; i += 100)
		T[i].fault = FAULT_MISS_CHUNKS;
	is_int(start(&o), MSG_STATUS_OK, "DIST_START of 1000 targets in 4 batches");
	run();
	info = host_dist_get();
	is_int(info.state, MSG_DIST_COMPLETED, "1000 targets: COMPLETED");
	is_int(info.succeeded, 990, "... 990 succeeded");
	is_int(info.failed, 10, "... 10 failed");
	n = targets_get(INFO, MAX_TARGETS, 0);
	is_int(n, 1000, "DIST_TARGETS_GET pages: 1000 entries");
	expect_target(100, MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_TIMEOUT_BLOCK, "1000: silent one");
	expect_target(150, MSG_DIST_OK, MSG_DIST_REASON_NONE, "1000: missing chunks, repaired");
	ok(C.dist.counters.unicast_reasks > 0, "the 10 silent ones were asked again by unicast, not the group");
	ok(C.dist.counters.sent < 400, "status collection by group rounds: %u messages for 1000 targets",
	   (unsigned)C.dist.counters.sent);
	ok(!event_gap && ev_bad == 0 && C.counters.tx_dropped == 0, "every event reached the host (%u)", ev_target);
}

static void test_link_full_events_wait(void)
{
	struct start_opts o = { .group = GROUP, .policy = MSG_DIST_POLICY_APPLY };

	fresh(50, true);
	is_int(start(&o), MSG_STATUS_OK, "DIST_START of 50");
	F.refuse_send = true;   /* the host link is full for the whole distribution */
	run();
	F.refuse_send = false;
	ev_target = ev_state = 0;
	core_poll(&C);
	collect();
	is_int(ev_target, 50, "the targets' events waited, coalesced, and came once the link had room");
	is_int(ev_state, 1, "... and one DIST_STATE with the final state");
	is_int(last_state.state, MSG_DIST_COMPLETED, "... COMPLETED");
	is_int(host_dist_get().succeeded, 50, "50 of 50");
}

int main(void)
{
	make_image();
	test_memory();
	test_reask_rule();
	test_healthy_group();
	test_stray_subscriber();
	test_faults();
	test_late_beyond_retries();
	test_all_fail();
	test_unicast_and_small_wave();
	test_no_tx_done();
	test_pull();
	test_verify_only_and_apply();
	test_suspend_resume_cancel();
	test_stack_refuses();
	test_start_rules();
	test_host_traffic();
	test_thousand();
	test_link_full_events_wait();
	return done_testing();
}
