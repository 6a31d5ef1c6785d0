/* target: see target.h. The handlers follow Zephyr's subsys/bluetooth/mesh/dfu_srv.c and blob_srv.c in the order of
 * their checks, so each status code comes in the case Zephyr answers it; where this file departs from them, a comment
 * says so and why. */
#include <stdlib.h>
#include <string.h>

#include "target.h"

#define NO_BLOCK 0xFFFF                 /* Block Status block number / chunk size before a Block Start */
#define NO_IMAGE 0xFF                   /* Zephyr's UPDATE_IDX_NONE */
#define SEG_SIZE 12                     /* access bytes per segment (BT_MESH_APP_SEG_SDU_MAX) */
#define TRANS_MIC 4                     /* TransMIC of an access message */
#define MTU_OVERHEAD 4                  /* server MTU = RX SDU - TransMIC (Zephyr MTU_SIZE_MAX) */
#define CHUNK_MSG_OVERHEAD 3            /* Chunk Transfer: 1-byte opcode + 2-byte chunk number */
#define STATUS_BITFIELD_OVERHEAD 6      /* max_chunk_count(): 8 x (MTU - 6) chunks fit a Block Status */
#define SERVER_TIMEOUT_UNIT_MS 10000    /* Receive BLOB Timeout = 10 s x (TimeoutBase + 1) */
#define REPORT_TIMEOUT_MARGIN_MS 1000   /* pull mode: at least T_BPI + 1 s */
#define PERCENT 100
/* MCUboot image header (mcuboot/boot/bootutil/include/bootutil/image.h): ih_magic at 0, ih_ver at 20 */
#define MCUBOOT_MAGIC 0x96f3b83du
#define MCUBOOT_MAGIC_OFFSET 0
#define MCUBOOT_MAGIC_SIZE 4
#define MCUBOOT_VERSION_OFFSET 20
#define MCUBOOT_VERSION_SIZE 8
#define VERSION_SIZE 8                  /* major, minor, revision (LE16), build (LE32): metadata and FWID alike */
#define FWID_COMPANY_SIZE 2

/* One call's output: answers written to @out in order. */
struct sink {
	struct target_reply *out;
	size_t cap;
	size_t n;
};

static const struct scenario_target *cfg(const struct target *t)
{
	return &t->node->target;
}

static const struct scenario_faults *faults(const struct target *t)
{
	return &t->node->faults;
}

/* --- capabilities and sizes --- */

static uint16_t server_mtu(const struct target *t)
{
	return (uint16_t)(SEG_SIZE * cfg(t)->rx_seg_max - MTU_OVERHEAD);
}

static uint16_t server_chunk_size_max(const struct target *t)
{
	return (uint16_t)(server_mtu(t) - CHUNK_MSG_OVERHEAD);
}

void target_caps(const struct target *t, struct mb_info_status *ret)
{
	*ret = (struct mb_info_status){
		.min_block_size_log = cfg(t)->block_size_log_min,
		.max_block_size_log = cfg(t)->block_size_log_max,
		.max_chunks = cfg(t)->chunk_count_max,
		.max_chunk_size = server_chunk_size_max(t),
		.max_size = cfg(t)->blob_size_max,
		.mtu = server_mtu(t),
		.modes = cfg(t)->modes,
	};
}

static uint32_t block_count(const struct target *t)
{
	return mb_block_count(t->flash.size, t->flash.block_size_log);
}

/* Zephyr's max_chunk_size() and max_chunk_count() for the transfer's MTU */
static uint32_t xfer_chunk_size_max(const struct target *t)
{
	uint32_t by_mtu = t->flash.mtu > CHUNK_MSG_OVERHEAD ? t->flash.mtu - CHUNK_MSG_OVERHEAD : 0;

	return by_mtu < server_chunk_size_max(t) ? by_mtu : server_chunk_size_max(t);
}

static uint32_t xfer_chunk_count_max(const struct target *t)
{
	uint32_t by_mtu = t->flash.mtu > STATUS_BITFIELD_OVERHEAD ?
				  8u * (t->flash.mtu - STATUS_BITFIELD_OVERHEAD) : 0;

	return by_mtu < t->chunks_max ? by_mtu : t->chunks_max;
}

static uint32_t missing_chunks(const struct target *t)
{
	return mb_bitmap_count(t->chunks_missing, t->chunk_count);
}

/* Chunks one pull request asks for: PULL_REQ_COUNT, or what a low-power node's Friend queue holds (Zephyr
 * pull_req_max()); at least one, where Zephyr would ask for none (a queue smaller than one chunk's segments). */
static uint32_t pull_req_max(const struct target *t)
{
	uint32_t count = TARGET_PULL_REQ_COUNT, missing = missing_chunks(t);

	if (cfg(t)->low_power && t->chunk_size != NO_BLOCK) {
		uint32_t sdu = t->chunk_size + CHUNK_MSG_OVERHEAD + TRANS_MIC;
		uint32_t segments = (sdu + SEG_SIZE - 1) / SEG_SIZE;
		uint32_t fit = cfg(t)->friend_queue / segments;

		if (fit < count)
			count = fit ? fit : 1;
	}
	return count < missing ? count : missing;
}

static void recount_received(struct target *t)
{
	uint32_t blocks = block_count(t);

	t->received = 0;
	for (uint32_t b = 0; b < blocks && b < t->blocks_max; b++)
		if (!mb_bitmap_test(t->blocks_missing, b))
			t->received += mb_block_size(t->flash.size, t->flash.block_size_log, b);
}

unsigned target_progress(const struct target *t)
{
	if (t->flash.size == 0 || t->blob_phase == MB_PHASE_INACTIVE || t->blob_phase == MB_PHASE_WAITING_FOR_START)
		return 0;
	return (unsigned)((uint64_t)t->received * PERCENT / t->flash.size);
}

uint16_t target_metadata_checksum(const uint8_t *metadata, size_t len)
{
	uint8_t sum0 = 0, sum1 = 0;

	for (size_t i = 0; i < len; i++) {
		sum0 = (uint8_t)(sum0 + metadata[i]);
		sum1 = (uint8_t)(sum1 + sum0);
	}
	return (uint16_t)(sum1 << 8 | sum0);
}

/* --- life cycle --- */

struct target *target_new(const struct scenario_node *node, uint64_t seed)
{
	const struct scenario_target *c = &node->target;
	uint32_t mtu = SEG_SIZE * c->rx_seg_max - MTU_OVERHEAD;
	uint32_t chunks = 8u * (mtu - STATUS_BITFIELD_OVERHEAD);
	uint64_t blocks = ((uint64_t)c->blob_size_max + (1u << c->block_size_log_min) - 1) >> c->block_size_log_min;
	size_t blocks_bytes, chunks_bytes;
	struct target *t;

	if (chunks > c->chunk_count_max)
		chunks = c->chunk_count_max;
	if (blocks > MB_BLOCK_COUNT_MAX)
		blocks = MB_BLOCK_COUNT_MAX;    /* a Transfer Status could not list more */
	blocks_bytes = MB_BITMAP_SIZE(blocks);
	chunks_bytes = MB_BITMAP_SIZE(chunks);
	t = calloc(1, sizeof(*t) + blocks_bytes + chunks_bytes);
	if (!t)
		return NULL;
	t->node = node;
	/* one stream per node, so one node's draws never shift another's */
	rng_seed(&t->rng, seed, 0x7A26000000ull + node->address);
	t->blocks_max = (uint16_t)blocks;
	t->chunks_max = (uint16_t)chunks;
	t->blocks_missing = (uint8_t *)(t + 1);
	t->chunks_missing = t->blocks_missing + blocks_bytes;
	t->flash.phase = MD_PHASE_IDLE;
	t->flash.image_index = NO_IMAGE;
	t->flash.ttl = TARGET_TTL_DEFAULT;
	t->flash.fwid_len = node->fwid_len;
	memcpy(t->flash.fwid, node->fwid, node->fwid_len);
	t->blob_phase = MB_PHASE_INACTIVE;
	t->block = NO_BLOCK;
	t->chunk_size = NO_BLOCK;
	t->rx_timeout_at = t->report_at = t->verify_at = TARGET_NEVER;
	t->down_at = t->awake_at = 0;
	return t;
}

void target_free(struct target *t)
{
	free(t);
}

uint8_t target_phase(const struct target *t)
{
	return t->flash.phase;
}

uint8_t target_blob_phase(const struct target *t)
{
	return t->blob_phase;
}

const uint8_t *target_fwid(const struct target *t, uint8_t *ret_len)
{
	*ret_len = t->flash.fwid_len;
	return t->flash.fwid;
}

static void stop_timers(struct target *t)
{
	t->rx_timeout_at = t->report_at = t->verify_at = TARGET_NEVER;
}

static bool deaf(const struct target *t, uint64_t now)
{
	return now < faults(t)->joins_late_ms || t->silent || t->unprovisioned ||
	       (now >= t->down_at && now < t->awake_at);
}

/* When the node hears a message sent at @now: at once, or a low-power node at its next poll. Simplified: the Friend
 * keeps every message (its queue never overflows) and hands them all over at the poll. */
static uint64_t hear_time(const struct target *t, uint64_t now)
{
	uint64_t start = faults(t)->joins_late_ms, interval = cfg(t)->poll_interval_ms;

	if (!cfg(t)->low_power || interval == 0)
		return now;
	if (now <= start)
		return start;
	return start + (now - start + interval - 1) / interval * interval;
}

/* --- answers --- */

static struct target_reply *reply(struct target *t, struct sink *s, uint64_t at, uint16_t dst)
{
	struct target_reply *r;

	if (s->n >= s->cap)
		return NULL;
	r = &s->out[s->n];
	r->at_ms = at;
	r->src = t->node->address;
	r->dst = dst;
	r->ttl = t->flash.phase != MD_PHASE_IDLE ? t->flash.ttl : TARGET_TTL_DEFAULT;
	r->len = 0;
	return r;
}

static void send_mb(struct target *t, struct sink *s, uint64_t at, uint16_t dst, const struct mb_msg *m)
{
	struct target_reply *r = reply(t, s, at, dst);
	size_t len = 0;

	if (r && mb_encode(m, r->payload, sizeof(r->payload), &len) == MA_OK) {
		r->len = (uint16_t)len;
		s->n++;
	}
}

static void send_md(struct target *t, struct sink *s, uint64_t at, uint16_t dst, const struct md_msg *m)
{
	struct target_reply *r = reply(t, s, at, dst);
	size_t len = 0;

	if (r && md_encode(m, r->payload, sizeof(r->payload), &len) == MA_OK) {
		r->len = (uint16_t)len;
		s->n++;
	}
}

static void xfer_status(struct target *t, struct sink *s, uint64_t at, uint16_t dst, uint8_t status)
{
	struct mb_msg m = { .opcode = MB_OP_XFER_STATUS };
	struct mb_xfer_status *x = &m.u.xfer_status;

	x->status = status;
	x->mode = t->flash.mode;
	x->phase = t->blob_phase;
	x->blob_id = t->flash.blob_id;
	if (t->blob_phase != MB_PHASE_INACTIVE && t->blob_phase != MB_PHASE_WAITING_FOR_START) {
		x->size = t->flash.size;
		x->block_size_log = t->flash.block_size_log;
		x->mtu = t->flash.mtu;
		x->blocks_missing = t->blocks_missing;
		x->blocks_missing_len = MB_BITMAP_SIZE(block_count(t));
	}
	send_mb(t, s, at, dst, &m);
}

static void block_status(struct target *t, struct sink *s, uint64_t at, uint16_t dst, uint8_t status)
{
	struct mb_msg m = { .opcode = MB_OP_BLOCK_STATUS };
	struct mb_block_status *b = &m.u.block_status;
	uint8_t list[TARGET_PULL_REQ_COUNT * MB_CHUNK_NUMBER_MAX_SIZE];
	size_t list_len = 0;
	uint32_t missing;

	if (t->blob_phase == MB_PHASE_INACTIVE || t->blob_phase == MB_PHASE_WAITING_FOR_START)
		missing = t->chunk_count;
	else if (t->blob_phase == MB_PHASE_COMPLETE)
		missing = 0;
	else
		missing = missing_chunks(t);
	b->status = status;
	b->block = t->block;
	b->chunk_size = t->chunk_size;
	if (t->flash.mode == MB_MODE_PULL) {
		b->format = MB_FORMAT_ENCODED;
		if (mb_chunk_list_from_bitmap(t->chunks_missing, t->chunk_count, pull_req_max(t), list, sizeof(list),
					      &list_len, NULL) != MA_OK)
			list_len = 0;
		b->missing = list;
		b->missing_len = list_len;
	} else if (missing == t->chunk_count) {
		b->format = MB_FORMAT_ALL_MISSING;
	} else if (missing == 0) {
		b->format = MB_FORMAT_NONE_MISSING;
	} else {
		b->format = MB_FORMAT_SOME_MISSING;
		b->missing = t->chunks_missing;
		b->missing_len = MB_BITMAP_SIZE(t->chunk_count);
	}
	send_mb(t, s, at, dst, &m);
}

/* Pull mode: the chunks the node wants next; empty when the block is complete. Sent from a timer or after a chunk,
 * so without the access layer's random delay (Zephyr's block_report() builds a fresh context). */
static void block_report(struct target *t, struct sink *s, uint64_t at)
{
	struct mb_msg m = { .opcode = MB_OP_BLOCK_REPORT };
	uint8_t list[TARGET_PULL_REQ_COUNT * MB_CHUNK_NUMBER_MAX_SIZE];
	size_t list_len = 0;

	if (mb_chunk_list_from_bitmap(t->chunks_missing, t->chunk_count, pull_req_max(t), list, sizeof(list),
				      &list_len, NULL) != MA_OK)
		list_len = 0;
	m.u.block_report = (struct mb_block_report){ .missing = list, .missing_len = list_len };
	send_mb(t, s, at, t->flash.client, &m);
}

static void update_status(struct target *t, struct sink *s, uint64_t at, uint16_t dst, uint8_t status)
{
	struct md_msg m = { .opcode = MD_OP_UPDATE_STATUS };

	m.u.status = (struct md_update_status){ .status = status, .phase = t->flash.phase };
	if (t->flash.phase != MD_PHASE_IDLE) {
		m.u.status.ttl = t->flash.ttl;
		m.u.status.effect = t->flash.effect;
		m.u.status.timeout_base = t->flash.timeout_base;
		m.u.status.blob_id = t->flash.blob_id;
		m.u.status.image_index = t->flash.image_index;
	}
	send_md(t, s, at, dst, &m);
}

/* --- BLOB Transfer Server states (Zephyr blob_srv.c) --- */

static uint64_t receive_timeout_ms(const struct target *t)
{
	uint64_t ms = (uint64_t)SERVER_TIMEOUT_UNIT_MS * (1u + t->flash.timeout_base);

	if (t->flash.mode == MB_MODE_PULL && ms < TARGET_REPORT_TIMEOUT_MS + REPORT_TIMEOUT_MARGIN_MS)
		ms = TARGET_REPORT_TIMEOUT_MS + REPORT_TIMEOUT_MARGIN_MS;
	return ms;
}

/* A low-power node asks at its polls (Zephyr's older blob_srv.c sends a report when the LPN has polled); others
 * after T_BPI. */
static uint64_t report_interval_ms(const struct target *t)
{
	return cfg(t)->low_power ? cfg(t)->poll_interval_ms : TARGET_REPORT_TIMEOUT_MS;
}

static void reset_timer(struct target *t, uint64_t now)
{
	t->rx_timeout_at = now + receive_timeout_ms(t);
}

/* The FU Server hears that the BLOB ended (Zephyr dfu_srv.c blob_end()). */
static void blob_failed(struct target *t)
{
	t->flash.phase = MD_PHASE_TRANSFER_ERROR;
}

static void blob_cancel(struct target *t)
{
	t->blob_phase = MB_PHASE_INACTIVE;
	t->flash.mode = MB_MODE_NONE;
	t->flash.ttl = TARGET_TTL_DEFAULT;
	t->flash.blob_stored = false;
	t->block = NO_BLOCK;
	t->chunk_size = NO_BLOCK;
	mb_bitmap_clear_all(t->chunks_missing, t->chunks_max);
	t->rx_timeout_at = t->report_at = TARGET_NEVER;
	blob_failed(t);
}

static void blob_suspend(struct target *t)
{
	t->rx_timeout_at = t->report_at = TARGET_NEVER;
	t->blob_phase = MB_PHASE_SUSPENDED;
	t->flash.phase = MD_PHASE_TRANSFER_ERROR;       /* dfu_srv.c blob_suspended() */
}

/* The whole BLOB is in: Verifying Update for verify_ms (dfu_srv.c verify()); the image check is the caller's fault
 * switch, not the bytes. */
static void blob_complete(struct target *t, uint64_t now)
{
	t->blob_phase = MB_PHASE_COMPLETE;
	t->flash.blob_stored = false;
	t->rx_timeout_at = t->report_at = TARGET_NEVER;
	t->flash.phase = MD_PHASE_VERIFYING;
	t->verify_at = now + cfg(t)->verify_ms;
}

/* --- the image header: where a new FWID comes from (target.h, docs/simulator.md) --- */

static void note_header(struct target *t, uint32_t offset, const uint8_t *data, size_t len)
{
	static const struct { uint32_t from, size, at; } parts[] = {
		{ MCUBOOT_MAGIC_OFFSET, MCUBOOT_MAGIC_SIZE, 0 },
		{ MCUBOOT_VERSION_OFFSET, MCUBOOT_VERSION_SIZE, MCUBOOT_MAGIC_SIZE },
	};
	uint32_t magic;

	for (size_t p = 0; p < sizeof(parts) / sizeof(parts[0]); p++) {
		for (uint32_t i = 0; i < parts[p].size; i++) {
			uint32_t pos = parts[p].from + i;

			if (pos < offset || pos - offset >= len)
				continue;
			t->flash.image_head[parts[p].at + i] = data[pos - offset];
			t->flash.image_head_mask |= (uint16_t)(1u << (parts[p].at + i));
		}
	}
	if (t->flash.image_head_mask != (1u << TARGET_IMAGE_HEAD_SIZE) - 1)
		return;
	magic = (uint32_t)t->flash.image_head[0] | (uint32_t)t->flash.image_head[1] << 8 |
		(uint32_t)t->flash.image_head[2] << 16 | (uint32_t)t->flash.image_head[3] << 24;
	if (magic == MCUBOOT_MAGIC) {
		memcpy(t->flash.incoming_version, &t->flash.image_head[MCUBOOT_MAGIC_SIZE], VERSION_SIZE);
		t->flash.incoming_version_from = TARGET_VERSION_FROM_IMAGE;
	}
}

/* The FWID the node runs after applying: the scenario's new_fwid; else the node's company id and the image's
 * version (MCUboot header, else the metadata's), as an NCS build names its FWID (§5.1); else the old one. */
static void install_new_fwid(struct target *t)
{
	const struct scenario_target *c = cfg(t);

	if (c->new_fwid_len) {
		t->flash.fwid_len = c->new_fwid_len;
		memcpy(t->flash.fwid, c->new_fwid, c->new_fwid_len);
	} else if (t->flash.incoming_version_from != TARGET_VERSION_NONE) {
		t->flash.fwid[0] = (uint8_t)t->node->company_id;
		t->flash.fwid[1] = (uint8_t)(t->node->company_id >> 8);
		memcpy(&t->flash.fwid[FWID_COMPANY_SIZE], t->flash.incoming_version, VERSION_SIZE);
		t->flash.fwid_len = FWID_COMPANY_SIZE + VERSION_SIZE;
	}
}

/* --- reboot, faults --- */

void target_reboot(struct target *t, uint64_t now_ms)
{
	t->down_at = now_ms;
	t->awake_at = now_ms + cfg(t)->reboot_ms;
	stop_timers(t);
	t->block = NO_BLOCK;
	t->chunk_size = NO_BLOCK;
	t->chunk_count = 0;
	mb_bitmap_clear_all(t->chunks_missing, t->chunks_max);
	if (t->applying_reboot)
		return;         /* the flash changes at the end of this reboot: booting the new image */
	/* dfu_srv_settings_set() */
	if (t->flash.phase == MD_PHASE_TRANSFER_ACTIVE)
		t->flash.phase = MD_PHASE_TRANSFER_ERROR;
	else if (t->flash.phase == MD_PHASE_VERIFICATION_SUCCEEDED)
		t->flash.phase = MD_PHASE_VERIFICATION_FAILED;
	/* blob_srv_settings_set() + blob_srv_start(): the FU Server recovers a transfer only in Transfer Error */
	if (t->flash.blob_stored && t->flash.phase == MD_PHASE_TRANSFER_ERROR) {
		t->blob_phase = MB_PHASE_SUSPENDED;
	} else {
		t->blob_phase = MB_PHASE_INACTIVE;
		t->flash.blob_stored = false;
		t->flash.mode = MB_MODE_NONE;
	}
	recount_received(t);
}

/* The end of a reboot. After the apply: the new image runs (or, with keeps_old_firmware, the old one: MCUboot
 * reverted) and the app calls bt_mesh_dfu_srv_applied() (phase Idle); an image of effect 3 leaves the node
 * unprovisioned, gone from the network. */
static void wake(struct target *t)
{
	t->awake_at = 0;
	t->down_at = 0;
	if (!t->applying_reboot)
		return;
	t->applying_reboot = false;
	if (!faults(t)->keeps_old_firmware)
		install_new_fwid(t);
	t->flash.phase = MD_PHASE_IDLE;
	t->blob_phase = MB_PHASE_INACTIVE;
	t->flash.blob_stored = false;
	t->flash.mode = MB_MODE_NONE;
	t->flash.incoming_version_from = TARGET_VERSION_NONE;
	t->flash.image_head_mask = 0;
	t->received = 0;
	if (t->flash.effect == MD_EFFECT_UNPROVISION && !faults(t)->keeps_old_firmware)
		t->unprovisioned = true;
}

/* silent_at and reboots_at, once a transfer has started. */
static void check_progress_faults(struct target *t, uint64_t now)
{
	const struct scenario_faults *f = faults(t);
	unsigned pct;

	if (t->blob_phase == MB_PHASE_INACTIVE || t->blob_phase == MB_PHASE_WAITING_FOR_START)
		return;
	pct = target_progress(t);
	if (f->reboots_at != SCENARIO_PERCENT_OFF && !t->rebooted_by_fault && pct >= f->reboots_at) {
		t->rebooted_by_fault = true;
		target_reboot(t, now);
		return;
	}
	if (f->silent_at != SCENARIO_PERCENT_OFF && pct >= f->silent_at) {
		t->silent = true;
		stop_timers(t);
	}
}

/* --- Firmware Update Server (Zephyr dfu_srv.c) --- */

static bool fu_busy(const struct target *t)
{
	return t->flash.phase != MD_PHASE_IDLE && t->flash.phase != MD_PHASE_TRANSFER_ERROR &&
	       t->flash.phase != MD_PHASE_VERIFICATION_FAILED;
}

static bool blob_busy(const struct target *t)
{
	return t->blob_phase != MB_PHASE_INACTIVE && t->blob_phase != MB_PHASE_SUSPENDED &&
	       t->blob_phase != MB_PHASE_COMPLETE;
}

static int compare_version(const uint8_t *a, const uint8_t *b)
{
	uint32_t build_a = (uint32_t)a[4] | (uint32_t)a[5] << 8 | (uint32_t)a[6] << 16 | (uint32_t)a[7] << 24;
	uint32_t build_b = (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
	unsigned rev_a = (unsigned)a[2] | (unsigned)a[3] << 8, rev_b = (unsigned)b[2] | (unsigned)b[3] << 8;

	if (a[0] != b[0])
		return a[0] < b[0] ? -1 : 1;
	if (a[1] != b[1])
		return a[1] < b[1] ? -1 : 1;
	if (rev_a != rev_b)
		return rev_a < rev_b ? -1 : 1;
	if (build_a != build_b)
		return build_a < build_b ? -1 : 1;
	return 0;
}

/* The node's acceptance of an image (the application's check callback): Success with the effect, or Metadata Check
 * Failed with the reason in t->refusal. */
static uint8_t metadata_check(struct target *t, uint8_t index, const uint8_t *meta, size_t len, uint8_t *ret_effect)
{
	const struct scenario_target *c = cfg(t);

	*ret_effect = MD_EFFECT_NONE;
	if (index >= TARGET_IMAGES) {
		t->refusal = "no such image index";
		return MD_WRONG_FIRMWARE_INDEX;
	}
	if (faults(t)->rejects_metadata) {
		t->refusal = "fault rejects_metadata";
		return MD_METADATA_CHECK_FAILED;
	}
	if (c->metadata_prefix_len && (len < c->metadata_prefix_len ||
				       memcmp(meta, c->metadata_prefix, c->metadata_prefix_len) != 0)) {
		t->refusal = "the metadata does not start with the node's metadata_prefix";
		return MD_METADATA_CHECK_FAILED;
	}
	if (c->newer_only) {
		/* the node's FWID is the company id and its running version (scenario.c checked the length) */
		if (len < VERSION_SIZE) {
			t->refusal = "no version in the metadata";
			return MD_METADATA_CHECK_FAILED;
		}
		if (compare_version(meta, &t->flash.fwid[FWID_COMPANY_SIZE]) <= 0) {
			t->refusal = "the image is not newer than the running firmware";
			return MD_METADATA_CHECK_FAILED;
		}
	}
	t->refusal = NULL;
	*ret_effect = c->effect;
	return MD_SUCCESS;
}

static void handle_info_get(struct target *t, struct sink *s, uint64_t at, uint16_t src,
			    const struct ma_fw_info_get *get)
{
	struct ma_fw_entry image = { .fwid = t->flash.fwid, .fwid_len = t->flash.fwid_len };
	struct target_reply *r;
	size_t len = 0;

	if (t->flash.phase == MD_PHASE_APPLYING)
		return;         /* Zephyr: "Still applying, not responding" */
	r = reply(t, s, at, src);
	if (!r)
		return;
	if (get->first_index < TARGET_IMAGES) {
		if (ma_fw_info_status_encode(TARGET_IMAGES, get->first_index, &image, get->entries_limit ? 1 : 0,
					     r->payload, sizeof(r->payload), &len) != MA_OK)
			return;
	} else {
		/* past the list: the count and the index, no entries (the codec refuses First Index > count) */
		r->payload[0] = (uint8_t)(MA_OP_FW_INFO_STATUS >> 8);
		r->payload[1] = (uint8_t)MA_OP_FW_INFO_STATUS;
		r->payload[2] = TARGET_IMAGES;
		r->payload[3] = get->first_index;
		len = 4;
	}
	r->len = (uint16_t)len;
	s->n++;
}

static void handle_metadata_check(struct target *t, struct sink *s, uint64_t at, uint16_t src,
				  const struct md_metadata_check *req)
{
	struct md_msg m = { .opcode = MD_OP_METADATA_STATUS };
	uint8_t effect;

	m.u.metadata_status.status = metadata_check(t, req->image_index, req->metadata, req->metadata_len, &effect);
	m.u.metadata_status.effect = effect;
	m.u.metadata_status.image_index = req->image_index;
	send_md(t, s, at, src, &m);
}

static void handle_update_start(struct target *t, struct sink *s, uint64_t at, uint16_t src, const struct md_start *req)
{
	uint16_t checksum = target_metadata_checksum(req->metadata, req->metadata_len);
	struct target_flash *f = &t->flash;
	uint8_t status, effect;

	if ((req->metadata_len == 0 || checksum == f->meta_checksum) && f->phase == MD_PHASE_TRANSFER_ERROR &&
	    f->ttl == req->ttl && f->timeout_base == req->timeout_base && f->image_index == req->image_index &&
	    f->blob_id == req->blob_id) {
		f->phase = MD_PHASE_TRANSFER_ACTIVE;    /* resume: the BLOB server resumes at Transfer Start */
		update_status(t, s, at, src, MD_SUCCESS);
		return;
	}
	if (fu_busy(t)) {
		bool same = f->image_index == req->image_index && f->blob_id == req->blob_id && f->ttl == req->ttl &&
			    f->timeout_base == req->timeout_base && f->meta_checksum == checksum;

		update_status(t, s, at, src, same ? MD_SUCCESS : MD_WRONG_PHASE);
		return;
	}
	status = metadata_check(t, req->image_index, req->metadata, req->metadata_len, &effect);
	f->effect = effect;
	if (status != MD_SUCCESS) {
		update_status(t, s, at, src, status);
		return;
	}
	f->ttl = req->ttl;
	f->timeout_base = req->timeout_base;
	f->meta_checksum = checksum;
	if (blob_busy(t)) {
		update_status(t, s, at, src, MD_BLOB_TRANSFER_BUSY);
		return;
	}
	/* bt_mesh_blob_srv_recv(): armed for this BLOB ID; no timer until Transfer Start */
	f->blob_id = req->blob_id;
	f->blob_stored = true;
	t->block = NO_BLOCK;
	t->chunk_size = NO_BLOCK;
	t->blob_phase = MB_PHASE_WAITING_FOR_START;
	f->image_index = req->image_index;
	f->phase = MD_PHASE_TRANSFER_ACTIVE;
	/* a new image: forget the last one's header; Zephyr-format metadata names its version (§5.2) */
	f->image_head_mask = 0;
	f->incoming_version_from = TARGET_VERSION_NONE;
	if (req->metadata_len >= VERSION_SIZE) {
		memcpy(f->incoming_version, req->metadata, VERSION_SIZE);
		f->incoming_version_from = TARGET_VERSION_FROM_METADATA;
	}
	update_status(t, s, at, src, MD_SUCCESS);
}

static void handle_update_cancel(struct target *t, struct sink *s, uint64_t at, uint16_t src)
{
	if (t->flash.image_index != NO_IMAGE) {
		if (blob_busy(t))
			blob_cancel(t);
		t->flash.phase = MD_PHASE_IDLE;
		t->verify_at = TARGET_NEVER;
	}
	update_status(t, s, at, src, MD_SUCCESS);
}

static void handle_update_apply(struct target *t, struct sink *s, uint64_t at, uint16_t src)
{
	if (t->flash.phase == MD_PHASE_APPLYING) {
		update_status(t, s, at, src, MD_SUCCESS);
		return;
	}
	if (t->flash.phase != MD_PHASE_VERIFICATION_SUCCEEDED) {
		update_status(t, s, at, src, MD_WRONG_PHASE);
		return;
	}
	t->flash.phase = MD_PHASE_APPLYING;
	t->applies++;
	update_status(t, s, at, src, MD_SUCCESS);
	/* the app's apply callback runs once the answer is out: the node reboots into the new image */
	t->applying_reboot = true;
	target_reboot(t, at);
}

/* --- BLOB Transfer Server handlers (Zephyr blob_srv.c) --- */

static void handle_xfer_start(struct target *t, struct sink *s, uint64_t now, uint64_t at, uint16_t src,
			      const struct mb_xfer_start *req)
{
	struct target_flash *f = &t->flash;
	uint32_t blocks;
	uint8_t status;

	if (t->blob_phase == MB_PHASE_INACTIVE) {
		status = MB_WRONG_PHASE;
	} else if (f->blob_id != req->blob_id) {
		status = MB_WRONG_BLOB_ID;
	} else if (t->blob_phase != MB_PHASE_WAITING_FOR_START) {
		if (f->mode != req->mode || f->size != req->size || f->block_size_log != req->block_size_log ||
		    f->mtu > req->mtu) {
			status = MB_WRONG_PHASE;
		} else {
			if (t->blob_phase == MB_PHASE_SUSPENDED) {
				t->blob_phase = MB_PHASE_WAITING_FOR_BLOCK;
				reset_timer(t, now);
			}
			status = MB_SUCCESS;    /* a duplicate, or a resume */
		}
	} else if (req->size > cfg(t)->blob_size_max) {
		status = MB_BLOB_TOO_LARGE;
	} else if (req->block_size_log < cfg(t)->block_size_log_min ||
		   req->block_size_log > cfg(t)->block_size_log_max) {
		status = MB_INVALID_BLOCK_SIZE;
	} else if (!(cfg(t)->modes & (req->mode == MB_MODE_PUSH ? MB_MODES_PUSH : MB_MODES_PULL))) {
		/* MshMBTv1.0; Zephyr's server takes both modes and never answers this */
		status = MB_UNSUPPORTED_TRANSFER_MODE;
	} else {
		f->client = src;
		f->mtu = req->mtu < server_mtu(t) ? req->mtu : server_mtu(t);
		f->size = req->size;
		f->mode = req->mode;
		f->block_size_log = req->block_size_log;
		t->chunk_size = NO_BLOCK;
		t->block = NO_BLOCK;
		blocks = block_count(t);
		if (blocks > t->blocks_max) {
			blob_cancel(t);
			status = MB_INVALID_PARAMETER;
		} else {
			mb_bitmap_clear_all(t->blocks_missing, t->blocks_max);
			mb_bitmap_set_all(t->blocks_missing, blocks);
			t->received = 0;
			reset_timer(t, now);
			t->blob_phase = MB_PHASE_WAITING_FOR_BLOCK;
			f->blob_stored = true;
			status = MB_SUCCESS;
		}
	}
	xfer_status(t, s, at, src, status);
}

static void handle_xfer_cancel(struct target *t, struct sink *s, uint64_t at, uint16_t src, uint64_t blob_id)
{
	uint8_t status = MB_SUCCESS;

	if (t->blob_phase != MB_PHASE_INACTIVE) {
		if (t->flash.blob_id != blob_id)
			status = MB_WRONG_BLOB_ID;
		else
			blob_cancel(t);
	}
	xfer_status(t, s, at, src, status);
}

static void handle_block_get(struct target *t, struct sink *s, uint64_t at, uint16_t src)
{
	uint8_t status = MB_INTERNAL_ERROR;

	switch ((enum mb_phase)t->blob_phase) {
	case MB_PHASE_WAITING_FOR_BLOCK:
	case MB_PHASE_WAITING_FOR_CHUNK:
	case MB_PHASE_COMPLETE:
		status = MB_SUCCESS;
		break;
	case MB_PHASE_SUSPENDED:
		status = MB_INFORMATION_UNAVAILABLE;
		break;
	case MB_PHASE_WAITING_FOR_START:
	case MB_PHASE_INACTIVE:
		status = MB_WRONG_PHASE;
		break;
	}
	block_status(t, s, at, src, status);
}

static void handle_block_start(struct target *t, struct sink *s, uint64_t now, uint64_t at, uint16_t src,
			       const struct mb_block_start *req)
{
	uint32_t size, chunks;
	uint8_t status;

	if (t->blob_phase == MB_PHASE_WAITING_FOR_START || t->blob_phase == MB_PHASE_INACTIVE) {
		block_status(t, s, at, src, MB_WRONG_PHASE);
		return;
	}
	reset_timer(t, now);
	if (t->blob_phase == MB_PHASE_WAITING_FOR_CHUNK) {
		status = req->block == t->block && req->chunk_size == t->chunk_size ? MB_SUCCESS : MB_WRONG_PHASE;
		block_status(t, s, at, src, status);
		return;
	}
	if (req->block >= block_count(t)) {
		block_status(t, s, at, src, MB_INVALID_BLOCK_NUMBER);
		return;
	}
	chunks = mb_chunk_count(1u << t->flash.block_size_log, req->chunk_size);
	if (req->chunk_size == 0 || req->chunk_size > xfer_chunk_size_max(t) || chunks > xfer_chunk_count_max(t)) {
		block_status(t, s, at, src, MB_INVALID_CHUNK_SIZE);
		return;
	}
	size = mb_block_size(t->flash.size, t->flash.block_size_log, req->block);
	t->block_size = size;
	t->block = req->block;
	t->chunk_count = (uint16_t)mb_chunk_count(size, req->chunk_size);
	t->chunk_size = req->chunk_size;
	if (t->blob_phase == MB_PHASE_COMPLETE || !mb_bitmap_test(t->blocks_missing, req->block)) {
		mb_bitmap_clear_all(t->chunks_missing, t->chunks_max);
		block_status(t, s, at, src, MB_SUCCESS);
		return;
	}
	/* from Suspended too: a Block Start resumes the transfer (Zephyr) */
	t->blob_phase = MB_PHASE_WAITING_FOR_CHUNK;
	mb_bitmap_clear_all(t->chunks_missing, t->chunks_max);
	mb_bitmap_set_all(t->chunks_missing, t->chunk_count);
	if (t->flash.mode == MB_MODE_PULL)
		t->report_at = now + report_interval_ms(t);
	block_status(t, s, at, src, MB_SUCCESS);
}

/* A chunk: no answer, but in pull mode the last one of a block sends the final (empty) report. Bad chunks are
 * dropped silently, as Zephyr's handler returns -EINVAL. */
static void handle_chunk(struct target *t, struct sink *s, uint64_t now, uint64_t at, const struct mb_chunk *req)
{
	uint32_t expected, offset;

	if (t->blob_phase != MB_PHASE_WAITING_FOR_CHUNK || req->chunk >= t->chunk_count) {
		t->dropped++;
		return;
	}
	expected = mb_chunk_size(t->block_size, t->chunk_size, req->chunk);
	if (req->len != expected) {
		t->dropped++;
		return;
	}
	reset_timer(t, now);
	if (t->flash.mode == MB_MODE_PULL)
		t->report_at = now + report_interval_ms(t);
	if (!mb_bitmap_test(t->chunks_missing, req->chunk))
		return;         /* a duplicate */
	offset = ((uint32_t)t->block << t->flash.block_size_log) + (uint32_t)req->chunk * t->chunk_size;
	note_header(t, offset, req->data, req->len);
	mb_bitmap_set(t->chunks_missing, req->chunk, false);
	t->received += (uint32_t)req->len;
	if (missing_chunks(t) > 0)
		return;
	if (t->flash.mode == MB_MODE_PULL)
		block_report(t, s, at);
	mb_bitmap_set(t->blocks_missing, t->block, false);
	if (mb_bitmap_first(t->blocks_missing, block_count(t), 0) < block_count(t)) {
		t->blob_phase = MB_PHASE_WAITING_FOR_BLOCK;
		return;
	}
	blob_complete(t, now);
}

static void handle_info_get_blob(struct target *t, struct sink *s, uint64_t at, uint16_t src)
{
	struct mb_msg m = { .opcode = MB_OP_INFO_STATUS };

	target_caps(t, &m.u.info_status);
	send_mb(t, s, at, src, &m);
}

/* --- entry points --- */

static uint64_t random_delay(struct target *t, uint16_t dst)
{
	/* a unicast address is 0x0001..0x7FFF; everything else is a group or virtual address */
	uint32_t span = dst >= 1 && dst <= 0x7FFF ? TARGET_DELAY_UNICAST_SPAN : TARGET_DELAY_GROUP_SPAN;

	return TARGET_DELAY_MIN_MS + rng_next(&t->rng) % span;
}

static bool handle_fu(struct target *t, struct sink *s, uint64_t now, uint64_t at, uint16_t src,
		      const uint8_t *access, size_t len)
{
	struct md_msg m;

	if (md_decode(access, len, &m) != MA_OK)
		return false;
	switch (m.opcode) {
	case MA_OP_FW_INFO_GET:
		handle_info_get(t, s, at, src, &m.u.info_get);
		return true;
	case MD_OP_METADATA_CHECK:
		handle_metadata_check(t, s, at, src, &m.u.metadata_check);
		return true;
	case MD_OP_UPDATE_GET:
		update_status(t, s, at, src, MD_SUCCESS);
		return true;
	case MD_OP_UPDATE_START:
		handle_update_start(t, s, at, src, &m.u.start);
		return true;
	case MD_OP_UPDATE_CANCEL:
		handle_update_cancel(t, s, at, src);
		return true;
	case MD_OP_UPDATE_APPLY:
		handle_update_apply(t, s, at, src);
		return true;
	default:
		return false;   /* a status: a server does not take it */
	}
}

static bool handle_blob(struct target *t, struct sink *s, uint64_t now, uint64_t at, uint64_t plain_at, uint16_t src,
			const uint8_t *access, size_t len)
{
	struct mb_msg m;

	if (mb_decode(access, len, &m) != MA_OK)
		return false;
	switch (m.opcode) {
	case MB_OP_XFER_GET:
		xfer_status(t, s, at, src, MB_SUCCESS);
		return true;
	case MB_OP_XFER_START:
		handle_xfer_start(t, s, now, at, src, &m.u.xfer_start);
		return true;
	case MB_OP_XFER_CANCEL:
		handle_xfer_cancel(t, s, at, src, m.u.blob_id);
		return true;
	case MB_OP_BLOCK_START:
		handle_block_start(t, s, now, at, src, &m.u.block_start);
		return true;
	case MB_OP_BLOCK_GET:
		handle_block_get(t, s, at, src);
		return true;
	case MB_OP_CHUNK:
		handle_chunk(t, s, now, plain_at, &m.u.chunk);
		return true;
	case MB_OP_INFO_GET:
		handle_info_get_blob(t, s, at, src);
		return true;
	default:
		return false;
	}
}

size_t target_recv(struct target *t, uint64_t now_ms, uint16_t src, uint16_t dst, const uint8_t *access, size_t len,
		   struct target_reply *out, size_t cap)
{
	struct sink s = { .out = out, .cap = cap };
	uint64_t heard, plain_at, at;

	if (t->awake_at && now_ms >= t->awake_at)
		wake(t);
	if (deaf(t, now_ms)) {
		t->dropped++;
		return 0;
	}
	heard = hear_time(t, now_ms);
	plain_at = heard + cfg(t)->processing_ms;
	at = plain_at + random_delay(t, dst);
	if (!handle_fu(t, &s, heard, at, src, access, len) &&
	    !handle_blob(t, &s, heard, at, plain_at, src, access, len)) {
		t->dropped++;
		return 0;
	}
	t->heard++;
	check_progress_faults(t, heard);
	return s.n;
}

uint64_t target_next_deadline(const struct target *t)
{
	uint64_t next = TARGET_NEVER;

	if (t->silent || t->unprovisioned)
		return TARGET_NEVER;
	if (t->awake_at)
		next = t->awake_at;
	if (t->rx_timeout_at < next)
		next = t->rx_timeout_at;
	if (t->report_at < next)
		next = t->report_at;
	if (t->verify_at < next)
		next = t->verify_at;
	return next;
}

size_t target_tick(struct target *t, uint64_t now_ms, struct target_reply *out, size_t cap)
{
	struct sink s = { .out = out, .cap = cap };

	if (t->silent || t->unprovisioned)
		return 0;
	if (t->awake_at && now_ms >= t->awake_at)
		wake(t);
	if (t->verify_at <= now_ms) {
		t->verify_at = TARGET_NEVER;
		if (t->flash.phase == MD_PHASE_VERIFYING)
			t->flash.phase = faults(t)->fails_verification ? MD_PHASE_VERIFICATION_FAILED :
									  MD_PHASE_VERIFICATION_SUCCEEDED;
	}
	if (t->rx_timeout_at <= now_ms) {
		t->rx_timeout_at = TARGET_NEVER;
		if (t->blob_phase == MB_PHASE_WAITING_FOR_START)
			blob_cancel(t);
		else
			blob_suspend(t);
	}
	if (t->report_at <= now_ms) {
		t->report_at = TARGET_NEVER;
		if (t->blob_phase == MB_PHASE_WAITING_FOR_BLOCK || t->blob_phase == MB_PHASE_WAITING_FOR_CHUNK) {
			block_report(t, &s, now_ms);
			/* report_sent(): the next one T_BPI later, while the receive timer runs */
			if (t->rx_timeout_at != TARGET_NEVER)
				t->report_at = now_ms + report_interval_ms(t);
		}
	}
	return s.n;
}
