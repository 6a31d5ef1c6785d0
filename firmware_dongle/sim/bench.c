/* bench: see bench.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench.h"
#include "cobs.h"
#include "dist.h"
#include "frame.h"
#include "mesh_access.h"
#include "mesh_blob.h"
#include "mesh_dfu.h"
#include "messages.h"
#include "rng.h"
#include "sha256.h"

#define DONGLE_ADDRESS 0x0001           /* the bench's dongle in the mesh (below every scenario node's 0x0100 range
					 * only by convention: scenario_find() refuses a clash) */
#define VERSION_SIZE 8                  /* Zephyr-format metadata: major, minor, revision (2), build (4) (§5.2) */
#define BENCH_VERSION_MAJOR 0xFE        /* the image's version: newer than any scenario FWID */
#define FWID_COMPANY_SIZE 2
#define SEED_STREAM_IMAGE 9             /* rng_seed() stream of the image bytes (sim.c lists the others) */
#define US_PER_S 1e6
#define MS_PER_S 1e3
#define US_PER_MS 1000u

/* Keys of a scenario that names none (learned keys): any values do, the nodes take them from MESH_CONFIG. */
static const uint8_t LEARNED_NET_KEY[MSG_KEY_SIZE] = { 0x6d, 0x65, 0x73, 0x68, 0x66, 0x6c, 0x65, 0x65,
						      0x74, 0x2d, 0x62, 0x65, 0x6e, 0x63, 0x68, 0x01 };
static const uint8_t LEARNED_APP_KEY[MSG_KEY_SIZE] = { 0x6d, 0x65, 0x73, 0x68, 0x66, 0x6c, 0x65, 0x65,
						      0x74, 0x2d, 0x62, 0x65, 0x6e, 0x63, 0x68, 0x02 };

enum step {
	STEP_CONFIG,            /* MESH_CONFIG */
	STEP_UPLOAD,            /* SLOT_BEGIN, SLOT_WRITE..., SLOT_COMMIT */
	STEP_START,             /* DIST_START batches of the current run */
	STEP_RUNNING,           /* following events; DIST_GET now and then */
	STEP_RESULTS,           /* DIST_GET, DIST_TARGETS_GET pages */
	STEP_DONE,
};

struct bench {
	const struct scenario *s;               /* borrowed */
	bench_send_fn send;
	void *ctx;
	uint8_t *image;                         /* owned */
	uint32_t image_size;
	uint8_t sha256[MSG_SHA256_SIZE];
	uint8_t fwid[FWID_COMPANY_SIZE + VERSION_SIZE];
	uint8_t metadata[VERSION_SIZE];
	uint16_t *targets;                      /* owned: addresses */
	struct msg_dist_target_info *results;   /* owned: per target, from DIST_TARGETS_GET */
	uint32_t n_targets;
	unsigned hops_max;

	/* the link */
	struct cobs_stream rx;
	uint8_t rx_buf[FRAME_MAX_SIZE];
	uint8_t tx_frame[FRAME_MAX_SIZE];
	uint8_t tx_wire[COBS_WIRE_MAX(FRAME_MAX_SIZE)];
	uint32_t next_id;
	uint32_t waiting_id;                    /* the request whose response is due */
	bool answered;
	uint8_t answer_status;
	struct msg answer;                      /* its decoded response (borrowed pointers: valid until the next) */

	/* where the bench stands */
	enum step step;
	uint64_t now_ms;
	uint32_t run;                           /* current run: 0 .. runs - 1 */
	uint32_t runs;
	uint32_t dist_id;
	bool run_ended;                         /* a DIST_STATE (or DIST_GET) said the run ended */
	uint64_t next_get_ms;
	uint64_t run_started_ms;
	uint64_t virtual_ms;                    /* sum of the runs' elapsed times (the dongle's DIST_GET) */
	struct msg_dist_info info;              /* the last run's DIST_GET */
	char failed[256];

	/* books */
	uint64_t phase_us[BENCH_PHASE_COUNT];   /* virtual time per phase (bench_note_tx()) */
	uint64_t phase_messages[BENCH_PHASE_COUNT];
	enum bench_phase phase;                 /* of the dongle's last message; BENCH_PHASE_COUNT: none yet */
	uint64_t phase_since_us;                /* when that message went out */
	bool block_asked;                       /* a Block Get went out since the last Block Start: chunks repair */
	uint64_t data_us;
	uint64_t data_end_us;
	uint64_t chunk_messages;
	uint64_t dongle_messages;
	uint64_t events;
	uint64_t radio_messages;
	uint64_t radio_pdus;
	uint64_t radio_relayed;
	uint64_t radio_losses;
};

static void phase_close(struct bench *b, uint64_t at_us);

__attribute__((format(printf, 2, 3)))
static void fail(struct bench *b, const char *fmt, ...)
{
	va_list ap;

	if (b->failed[0])
		return;
	va_start(ap, fmt);
	vsnprintf(b->failed, sizeof(b->failed), fmt, ap);
	va_end(ap);
	b->step = STEP_DONE;
}

/* --- the image --- */

static void make_image(struct bench *b, uint64_t seed)
{
	struct rng rng;

	rng_seed(&rng, seed, SEED_STREAM_IMAGE);
	for (uint32_t i = 0; i < b->image_size; i += sizeof(uint64_t)) {
		uint64_t v = rng_next(&rng);
		uint32_t n = b->image_size - i < sizeof(v) ? b->image_size - i : (uint32_t)sizeof(v);

		memcpy(b->image + i, &v, n);
	}
	sha256(b->image, b->image_size, b->sha256);
}

struct bench *bench_new(const struct scenario *s, uint64_t seed, bench_send_fn send, void *ctx, char *err,
			size_t err_len)
{
	const struct scenario_bench *cfg = &s->bench;
	struct bench *b = calloc(1, sizeof(*b));
	uint16_t company = SCENARIO_COMPANY_DEFAULT;

	if (!b)
		goto nomem;
	b->s = s;
	b->send = send;
	b->ctx = ctx;
	b->image_size = cfg->image_size;
	b->image = malloc(cfg->image_size);
	b->targets = calloc(s->node_count ? s->node_count : 1, sizeof(*b->targets));
	b->results = calloc(s->node_count ? s->node_count : 1, sizeof(*b->results));
	if (!b->image || !b->targets || !b->results)
		goto nomem;
	if (cfg->n_targets > 0) {
		memcpy(b->targets, cfg->targets, cfg->n_targets * sizeof(*b->targets));
		b->n_targets = (uint32_t)cfg->n_targets;
	} else {
		for (size_t i = 0; i < s->node_count; i++)
			if (scenario_node_dfu_capable(&s->nodes[i]))
				b->targets[b->n_targets++] = s->nodes[i].address;
	}
	if (b->n_targets == 0) {
		snprintf(err, err_len, "no DFU-capable node to update (give nodes the Firmware Update and BLOB Transfer "
			 "Servers, or name the targets in \"bench\".\"targets\")");
		bench_free(b);
		return NULL;
	}
	if (b->n_targets > UINT16_MAX) {
		snprintf(err, err_len, "%u targets: one distribution takes at most %u", b->n_targets, UINT16_MAX);
		bench_free(b);
		return NULL;
	}
	for (uint32_t i = 0; i < b->n_targets; i++) {
		const struct scenario_node *n = scenario_find(s, b->targets[i]);

		if (n && n->hops > b->hops_max)
			b->hops_max = n->hops;
		if (n && i == 0)
			company = n->company_id;
		b->results[i] = (struct msg_dist_target_info){ .address = b->targets[i], .result = MSG_DIST_PENDING };
	}
	make_image(b, seed);
	/* the new version in Zephyr's metadata; the targets build their FWID from it: company id + version */
	b->metadata[0] = BENCH_VERSION_MAJOR;
	b->fwid[0] = (uint8_t)company;
	b->fwid[1] = (uint8_t)(company >> 8);
	memcpy(&b->fwid[FWID_COMPANY_SIZE], b->metadata, VERSION_SIZE);
	b->runs = cfg->sequential ? b->n_targets : 1;
	b->phase = BENCH_PHASE_COUNT;
	b->next_id = 1;
	cobs_stream_init(&b->rx, b->rx_buf, sizeof(b->rx_buf));
	return b;

nomem:
	snprintf(err, err_len, "out of memory");
	bench_free(b);
	return NULL;
}

void bench_free(struct bench *b)
{
	if (!b)
		return;
	free(b->image);
	free(b->targets);
	free(b->results);
	free(b);
}

bool bench_done(const struct bench *b)
{
	return b->step == STEP_DONE;
}

const char *bench_failed(const struct bench *b)
{
	return b->failed[0] ? b->failed : NULL;
}

uint64_t bench_next(const struct bench *b)
{
	switch (b->step) {
	case STEP_CONFIG:
	case STEP_UPLOAD:
	case STEP_START:
	case STEP_RESULTS:
		return b->now_ms;
	case STEP_RUNNING:
		return b->run_ended ? b->now_ms : b->next_get_ms;
	case STEP_DONE:
		return BENCH_NEVER;
	}
	return BENCH_NEVER;
}

/* --- frames from the dongle --- */

static bool terminal(const struct bench *b, uint8_t state)
{
	return state == MSG_DIST_COMPLETED || state == MSG_DIST_FAILED || state == MSG_DIST_CANCELLED ||
	       (state == MSG_DIST_VERIFIED && b->s->bench.policy == SCENARIO_BENCH_VERIFY_ONLY);
}

/* A target's entry of a DIST_TARGETS_GET page: the run's targets are the bench's from @first on. */
static void take_targets(struct bench *b, const struct msg_dist_targets *t)
{
	uint32_t base = b->s->bench.sequential ? b->run : 0;

	for (uint16_t i = 0; i < t->count; i++) {
		uint32_t at = base + t->first + i;

		if (at < b->n_targets)
			b->results[at] = msg_dist_target_at(t, i);
	}
}

static void on_frame(struct bench *b, const uint8_t *frame, size_t len)
{
	struct frame_header h;
	struct msg m;

	if (frame_decode(frame, len, &h) != FRAME_OK || msg_decode(&h, frame + FRAME_HEADER_SIZE, &m) != MSG_STATUS_OK)
		return;
	if (h.kind == FRAME_RESPONSE) {
		if (h.seq != b->waiting_id)
			return;
		b->answered = true;
		b->answer_status = h.status;
		b->answer = m;
		if (m.type == MSG_DIST_TARGETS_GET && h.status == MSG_STATUS_OK)
			take_targets(b, &m.u.dist_targets);
		return;
	}
	if (h.kind != FRAME_EVENT)
		return;
	b->events++;
	if (m.type == MSG_DIST_STATE && m.u.dist_state.id == b->dist_id && terminal(b, m.u.dist_state.state))
		b->run_ended = true;
}

void bench_from_dongle(struct bench *b, const uint8_t *wire, size_t len)
{
	while (len > 0) {
		size_t frame_len = 0, n = cobs_stream_feed(&b->rx, wire, len, &frame_len);

		wire += n;
		len -= n;
		if (frame_len > 0)
			on_frame(b, b->rx_buf, frame_len);
	}
}

/* --- requests: the dongle answers inside core_input(), so each is a call --- */

/* Sends @m; returns its response status (its payload in b->answer), or -1 when none came (after fail()). */
static int request(struct bench *b, struct msg *m)
{
	size_t len = 0, wire_len;
	enum msg_status st;

	m->kind = FRAME_REQUEST;
	b->waiting_id = b->next_id++;
	b->answered = false;
	st = msg_encode_frame(m, b->waiting_id, false, b->tx_frame, sizeof(b->tx_frame), &len);
	if (st != MSG_STATUS_OK) {
		fail(b, "cannot encode %s: %s", msg_type_to_string(m->type), msg_status_to_string(st));
		return -1;
	}
	wire_len = cobs_encode_frame(b->tx_frame, len, true, b->tx_wire, sizeof(b->tx_wire));
	b->send(b->ctx, b->tx_wire, wire_len);
	if (!b->answered) {
		fail(b, "%s got no response from the dongle", msg_type_to_string(m->type));
		return -1;
	}
	return b->answer_status;
}

/* The request must succeed; false after fail() otherwise. */
static bool request_ok(struct bench *b, struct msg *m, const char *what)
{
	int st = request(b, m);

	if (st < 0)
		return false;
	if (st != MSG_STATUS_OK) {
		fail(b, "%s: the dongle answered %s", what, msg_status_to_string((unsigned)st));
		return false;
	}
	return true;
}

static void do_config(struct bench *b)
{
	const struct scenario *s = b->s;
	struct msg m = { .type = MSG_MESH_CONFIG };
	struct msg_mesh_config *c = &m.u.mesh_config;

	c->address = DONGLE_ADDRESS;
	if (s->learn_keys) {
		memcpy(c->net_key, LEARNED_NET_KEY, MSG_KEY_SIZE);
		memcpy(c->app_key, LEARNED_APP_KEY, MSG_KEY_SIZE);
	} else {
		memcpy(c->net_key, s->net_keys[0].key, MSG_KEY_SIZE);
		c->net_key_index = s->net_keys[0].index;
		if (s->n_app_keys > 0) {
			memcpy(c->app_key, s->app_keys[0].key, MSG_KEY_SIZE);
			c->app_key_index = s->app_keys[0].index;
		}
	}
	if (request_ok(b, &m, "MESH_CONFIG"))
		b->step = STEP_UPLOAD;
}

static void do_upload(struct bench *b)
{
	struct msg m = { .type = MSG_SLOT_BEGIN };

	m.u.slot_image.size = b->image_size;
	memcpy(m.u.slot_image.sha256, b->sha256, MSG_SHA256_SIZE);
	if (!request_ok(b, &m, "SLOT_BEGIN (is the slot large enough? --slot-size)"))
		return;
	for (uint32_t off = 0; off < b->image_size; off += MSG_SLOT_WRITE_MAX) {
		uint32_t n = b->image_size - off < MSG_SLOT_WRITE_MAX ? b->image_size - off : MSG_SLOT_WRITE_MAX;

		m = (struct msg){ .type = MSG_SLOT_WRITE };
		m.u.slot_write = (struct msg_slot_write){ .offset = off, .data = b->image + off, .len = (uint16_t)n };
		if (!request_ok(b, &m, "SLOT_WRITE"))
			return;
	}
	m = (struct msg){ .type = MSG_SLOT_COMMIT };
	m.u.slot_image.size = b->image_size;
	memcpy(m.u.slot_image.sha256, b->sha256, MSG_SHA256_SIZE);
	if (request_ok(b, &m, "SLOT_COMMIT"))
		b->step = STEP_START;
}

static void do_start(struct bench *b)
{
	const struct scenario_bench *cfg = &b->s->bench;
	uint32_t first_target = cfg->sequential ? b->run : 0;
	uint16_t total = (uint16_t)(cfg->sequential ? 1 : b->n_targets);
	uint8_t entries[FRAME_MAX_PAYLOAD];
	uint16_t batch = 1;

	while (batch < total && msg_dist_start_size(sizeof(b->fwid), sizeof(b->metadata), (uint16_t)(batch + 1)) <=
	       FRAME_MAX_PAYLOAD && (size_t)(batch + 1) * MSG_DIST_ENTRY_SIZE <= sizeof(entries))
		batch++;
	b->dist_id = b->run + 1;
	for (uint16_t first = 0; first < total; first = (uint16_t)(first + batch)) {
		uint16_t count = (uint16_t)(total - first < batch ? total - first : batch);
		struct msg m = { .type = MSG_DIST_START };
		struct msg_dist_start *d = &m.u.dist_start;

		for (uint16_t i = 0; i < count; i++) {
			uint16_t a = b->targets[first_target + first + i];

			entries[i * MSG_DIST_ENTRY_SIZE] = (uint8_t)a;
			entries[i * MSG_DIST_ENTRY_SIZE + 1] = (uint8_t)(a >> 8);
			entries[i * MSG_DIST_ENTRY_SIZE + 2] = 0;       /* image index 0: the running application */
		}
		*d = (struct msg_dist_start){
			.id = b->dist_id,
			.group = cfg->sequential ? 0 : cfg->group,
			.app_key_index = b->s->learn_keys || b->s->n_app_keys == 0 ? 0 : b->s->app_keys[0].index,
			.ttl = cfg->ttl,
			.timeout_base = cfg->timeout_base,
			.mode = cfg->mode,
			.policy = cfg->policy,
			.block_size_log = cfg->block_size_log,
			.chunk_size = cfg->chunk_size,
			.total = total,
			.first = first,
			.count = count,
			.fwid = b->fwid,
			.fwid_len = sizeof(b->fwid),
			.metadata = b->metadata,
			.metadata_len = sizeof(b->metadata),
			.entries = entries,
		};
		memcpy(d->sha256, b->sha256, MSG_SHA256_SIZE);
		if (!request_ok(b, &m, "DIST_START"))
			return;
	}
	b->run_ended = false;
	b->run_started_ms = b->now_ms;
	b->next_get_ms = b->now_ms + BENCH_GET_EVERY_MS;
	b->step = STEP_RUNNING;
}

static bool info_get(struct bench *b)
{
	struct msg m = { .type = MSG_DIST_GET };

	if (!request_ok(b, &m, "DIST_GET"))
		return false;
	b->info = b->answer.u.dist_info;
	if (b->info.id == b->dist_id && terminal(b, b->info.state))
		b->run_ended = true;
	return true;
}

static void do_running(struct bench *b)
{
	if (!b->run_ended && b->now_ms >= b->next_get_ms) {
		if (!info_get(b))
			return;
		b->next_get_ms = b->now_ms + BENCH_GET_EVERY_MS;
	}
	if (b->run_ended)
		b->step = STEP_RESULTS;
	else if (b->now_ms - b->run_started_ms > BENCH_VIRTUAL_MAX_MS)
		fail(b, "distribution %u still %s after %llu s of virtual time: stuck", b->dist_id,
		     msg_dist_state_to_string(b->info.state), (unsigned long long)(BENCH_VIRTUAL_MAX_MS / 1000));
}

static void do_results(struct bench *b)
{
	uint16_t total = (uint16_t)(b->s->bench.sequential ? 1 : b->n_targets);

	if (!info_get(b))
		return;
	b->virtual_ms += b->info.elapsed_ms;
	/* the last phase of the run lasts until the run's end; the next run starts its own */
	phase_close(b, (b->run_started_ms + b->info.elapsed_ms) * US_PER_MS);
	b->phase = BENCH_PHASE_COUNT;
	for (uint16_t first = 0; first < total;) {
		struct msg m = { .type = MSG_DIST_TARGETS_GET };

		m.u.dist_page = (struct msg_dist_page){ .first = first, .max = 0 };
		if (!request_ok(b, &m, "DIST_TARGETS_GET"))
			return;
		if (b->answer.u.dist_targets.count == 0) {
			fail(b, "DIST_TARGETS_GET from %u: no entries of %u", first, total);
			return;
		}
		first = (uint16_t)(first + b->answer.u.dist_targets.count);
	}
	if (++b->run < b->runs)
		b->step = STEP_START;
	else
		b->step = STEP_DONE;
}

void bench_step(struct bench *b, uint64_t now_ms)
{
	b->now_ms = now_ms;
	switch (b->step) {
	case STEP_CONFIG:
		do_config(b);
		return;
	case STEP_UPLOAD:
		do_upload(b);
		return;
	case STEP_START:
		do_start(b);
		return;
	case STEP_RUNNING:
		do_running(b);
		return;
	case STEP_RESULTS:
		do_results(b);
		return;
	case STEP_DONE:
		return;
	}
}

/* --- books --- */

static const char *const PHASE_NAMES[BENCH_PHASE_COUNT] = {
	[BENCH_PHASE_INITIATE] = "initiate", [BENCH_PHASE_CAPS] = "caps", [BENCH_PHASE_XFER_START] = "xfer_start",
	[BENCH_PHASE_BLOCK_START] = "block_start", [BENCH_PHASE_CHUNKS] = "chunks",
	[BENCH_PHASE_BLOCK_GET] = "block_get", [BENCH_PHASE_REPAIRS] = "repairs", [BENCH_PHASE_XFER_GET] = "xfer_get",
	[BENCH_PHASE_VERIFY] = "verify", [BENCH_PHASE_APPLY] = "apply", [BENCH_PHASE_CONFIRM] = "confirm",
	[BENCH_PHASE_OTHER] = "other",
};

const char *bench_phase_name(enum bench_phase phase)
{
	return phase < BENCH_PHASE_COUNT ? PHASE_NAMES[phase] : "?";
}

static enum bench_phase phase_of(struct bench *b, const uint8_t *payload, size_t len)
{
	uint32_t op = 0;

	if (ma_opcode_decode(payload, len, &op) == 0)
		return BENCH_PHASE_OTHER;
	switch (op) {
	case MD_OP_UPDATE_START:
		return BENCH_PHASE_INITIATE;
	case MB_OP_INFO_GET:
		return BENCH_PHASE_CAPS;
	case MB_OP_XFER_START:
		return BENCH_PHASE_XFER_START;
	case MB_OP_BLOCK_START:
		b->block_asked = false;
		return BENCH_PHASE_BLOCK_START;
	case MB_OP_CHUNK:
		return b->block_asked ? BENCH_PHASE_REPAIRS : BENCH_PHASE_CHUNKS;
	case MB_OP_BLOCK_GET:
		b->block_asked = true;
		return BENCH_PHASE_BLOCK_GET;
	case MB_OP_XFER_GET:
		return BENCH_PHASE_XFER_GET;
	case MD_OP_UPDATE_GET:
		return BENCH_PHASE_VERIFY;
	case MD_OP_UPDATE_APPLY:
		return BENCH_PHASE_APPLY;
	case MA_OP_FW_INFO_GET:
		return BENCH_PHASE_CONFIRM;
	default:
		return BENCH_PHASE_OTHER;
	}
}

/* Charges the time since the last phase began to it, up to @at_us. */
static void phase_close(struct bench *b, uint64_t at_us)
{
	if (b->phase < BENCH_PHASE_COUNT && at_us > b->phase_since_us)
		b->phase_us[b->phase] += at_us - b->phase_since_us;
	b->phase_since_us = at_us;
}

void bench_note_tx(struct bench *b, const uint8_t *payload, size_t len, const struct radio_tx *tx)
{
	enum bench_phase phase = phase_of(b, payload, len);
	uint64_t from;

	b->dongle_messages++;
	b->phase_messages[phase]++;
	if (phase != b->phase) {
		phase_close(b, tx->start_us);
		b->phase = phase;
	}
	if (phase != BENCH_PHASE_CHUNKS && phase != BENCH_PHASE_REPAIRS)
		return;
	b->chunk_messages++;
	from = tx->start_us > b->data_end_us ? tx->start_us : b->data_end_us;
	if (tx->done_us > from)
		b->data_us += tx->done_us - from;
	if (tx->done_us > b->data_end_us)
		b->data_end_us = tx->done_us;
}

void bench_note_radio(struct bench *b, const struct radio *r)
{
	b->radio_messages = r->messages;
	b->radio_pdus = r->pdus;
	b->radio_relayed = r->pdus_relayed;
	b->radio_losses = r->losses;
}

/* --- the report --- */

/* OK, or (policy verify_only, where the run ends at VERIFIED and results stay pending until DIST_APPLY) verified. */
static bool target_ok(const struct bench *b, const struct msg_dist_target_info *t)
{
	return t->result == MSG_DIST_OK || (b->s->bench.policy == SCENARIO_BENCH_VERIFY_ONLY &&
					    t->result == MSG_DIST_PENDING && t->reason == MSG_DIST_REASON_NONE);
}

static const char *result_name(const struct bench *b, uint8_t result)
{
	return result == MSG_DIST_PENDING && b->s->bench.policy == SCENARIO_BENCH_VERIFY_ONLY ? "verified" :
	       msg_dist_result_to_string(result);
}

struct outcome {
	uint8_t result;
	uint8_t reason;
	uint32_t count;
};

#define OUTCOMES_MAX ((MSG_DIST_TARGET_CANCELLED + 1) * (MSG_DIST_REASON_LAST + 1))

static size_t outcomes(const struct bench *b, struct outcome *out)
{
	size_t n = 0;

	for (uint32_t i = 0; i < b->n_targets; i++) {
		const struct msg_dist_target_info *t = &b->results[i];
		size_t k;

		for (k = 0; k < n; k++)
			if (out[k].result == t->result && out[k].reason == t->reason)
				break;
		if (k == n) {
			if (n == OUTCOMES_MAX)
				continue;
			out[n++] = (struct outcome){ .result = t->result, .reason = t->reason };
		}
		out[k].count++;
	}
	return n;
}

/* The lower bound for this image, block and chunk size, N and hops: the better of group rounds and per-target
 * unicast (RM §2.5), so that a small wave is measured against what unicast could do. False if unknown. */
static bool bound_of(const struct bench *b, struct radio_bound *ret, const char **ret_mode)
{
	static const struct {
		enum radio_bound_mode mode;
		const char *name;
	} modes[] = { { RADIO_BOUND_GROUP, "group" }, { RADIO_BOUND_UNICAST, "unicast" } };
	struct radio_params p = b->s->radio;
	bool have = false;

	/* the dongle's chunks go out with its own SAR Transmitter state (fleet.c), so its bound does too */
	p.sar_multicast_retrans_count = DIST_SAR_MULTICAST_RETRANS_COUNT;
	p.sar_multicast_retrans_int_step = DIST_SAR_MULTICAST_RETRANS_INT_STEP;
	if (b->info.blocks == 0 || b->info.chunk_size == 0 || b->info.block_size_log < MB_BLOCK_SIZE_LOG_MIN ||
	    b->info.block_size_log > MB_BLOCK_SIZE_LOG_MAX)
		return false;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct radio_bound r;
		const char *reason = NULL;

		if (radio_bound(&p, b->image_size, 1u << b->info.block_size_log, b->info.chunk_size,
				b->n_targets, b->hops_max ? b->hops_max : 1, modes[i].mode, &r, &reason) < 0)
			continue;
		if (!have || r.total_us < ret->total_us) {
			*ret = r;
			*ret_mode = modes[i].name;
			have = true;
		}
	}
	return have;
}

static double ratio(double a, double b)
{
	return b > 0 ? a / b : 0;
}

int bench_report(const struct bench *b, FILE *out, FILE *wall_out, const char *json_path, double wall_s)
{
	const struct scenario_bench *cfg = &b->s->bench;
	struct outcome oc[OUTCOMES_MAX];
	size_t n_oc = outcomes(b, oc);
	double total_s = (double)b->virtual_ms / MS_PER_S, data_s = (double)b->data_us / US_PER_S;
	struct radio_bound bound = { 0 };
	const char *bound_mode = "";
	bool have_bound = bound_of(b, &bound, &bound_mode);
	uint32_t ok = 0, failed = 0, listed = 0;
	char group[16];
	json_t *doc = NULL, *arr, *fails;
	int rc = 0;

	snprintf(group, sizeof(group), cfg->group && !cfg->sequential ? "group 0x%04x" : "unicast", cfg->group);
	for (uint32_t i = 0; i < b->n_targets; i++) {
		ok += target_ok(b, &b->results[i]);
		failed += !target_ok(b, &b->results[i]);
	}
	fprintf(out, "targets          %u%s, %s, %s, policy %s, TimeoutBase %u, TTL %s%u, hops up to %u\n",
		b->n_targets, cfg->sequential ? " one at a time (sequential unicast distributions)" : "",
		cfg->mode == SCENARIO_BENCH_PULL ? "pull" : "push", group,
		cfg->policy == SCENARIO_BENCH_APPLY ? "apply" : "verify_only", cfg->timeout_base,
		cfg->ttl == SCENARIO_BENCH_TTL_DEFAULT ? "default " : "",
		cfg->ttl == SCENARIO_BENCH_TTL_DEFAULT ? b->s->radio.ttl : cfg->ttl, b->hops_max);
	fprintf(out, "image            %u bytes, blocks of %u bytes (%u blocks), chunks of %u bytes\n", b->image_size,
		b->info.block_size_log ? 1u << b->info.block_size_log : 0, b->info.blocks, b->info.chunk_size);
	fprintf(out, "virtual time     %.3f s (%.2f min)\n", total_s, total_s / 60);
	fprintf(out, "data phase       %.3f s (%.1f %%), control rounds and the rest %.3f s (%.1f %%)\n", data_s,
		100 * ratio(data_s, total_s), total_s - data_s, 100 * ratio(total_s - data_s, total_s));
	fprintf(out, "goodput          %.1f B/s in the data phase, %.1f B/s overall\n", ratio(b->image_size, data_s),
		ratio(b->image_size, total_s));
	fprintf(out, "outcomes         %u ok, %u not ok:", ok, failed);
	for (size_t i = 0; i < n_oc; i++)
		fprintf(out, "%s %s%s%s %u", i ? "," : "", result_name(b, oc[i].result),
			oc[i].reason ? "/" : "", oc[i].reason ? msg_dist_reason_to_string(oc[i].reason) : "",
			oc[i].count);
	fputc('\n', out);
	for (uint32_t i = 0; i < b->n_targets; i++) {
		const struct msg_dist_target_info *t = &b->results[i];

		if (target_ok(b, t))
			continue;
		if (listed++ == 0)
			fprintf(out, "not ok           ");
		fprintf(out, "%s0x%04x %s in %s", listed > 1 ? ", " : "", t->address, t->reason ?
			msg_dist_reason_to_string(t->reason) : msg_dist_result_to_string(t->result),
			msg_dist_phase_to_string(t->phase));
	}
	if (listed)
		fputc('\n', out);
	fprintf(out, "phases          ");
	for (unsigned i = 0; i < BENCH_PHASE_COUNT; i++)
		if (b->phase_messages[i] || b->phase_us[i])
			fprintf(out, " %s %.1f s (%llu)", PHASE_NAMES[i], (double)b->phase_us[i] / US_PER_S,
				(unsigned long long)b->phase_messages[i]);
	fputc('\n', out);
	if (have_bound)
		fprintf(out, "bound            %.3f s (%s: data %.3f s + %u rounds x %.3f s); ratio %.3f\n",
			(double)bound.total_us / US_PER_S, bound_mode, (double)bound.data_us / US_PER_S, bound.rounds,
			(double)bound.round_us / US_PER_S, ratio(total_s, (double)bound.total_us / US_PER_S));
	else
		fprintf(out, "bound            unknown (no block and chunk size: the transfer never started)\n");
	fprintf(out, "radio            %llu messages from the dongle (%llu chunks), %llu on the air in all, %llu PDUs, "
		"%llu relayed, %llu receptions lost; %llu events\n", (unsigned long long)b->dongle_messages,
		(unsigned long long)b->chunk_messages, (unsigned long long)b->radio_messages,
		(unsigned long long)b->radio_pdus, (unsigned long long)b->radio_relayed,
		(unsigned long long)b->radio_losses, (unsigned long long)b->events);
	fflush(out);
	fprintf(wall_out, "meshfleet-sim: wall time %.3f s, %.0f x real time\n", wall_s, ratio(total_s, wall_s));

	if (!json_path)
		return 0;
	doc = json_pack("{s:i, s:b, s:s, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:f, s:f, s:f, s:f, s:f, s:i, s:i}",
			"targets", (json_int_t)b->n_targets, "sequential", cfg->sequential, "addressing", group,
			"policy", cfg->policy == SCENARIO_BENCH_APPLY ? "apply" : "verify_only",
			"hops_max", (json_int_t)b->hops_max, "image_size", (json_int_t)b->image_size,
			"block_size", (json_int_t)(b->info.block_size_log ? 1u << b->info.block_size_log : 0),
			"blocks", (json_int_t)b->info.blocks, "chunk_size", (json_int_t)b->info.chunk_size,
			"chunk_messages", (json_int_t)b->chunk_messages,
			"virtual_s", total_s, "data_s", data_s, "control_share", ratio(total_s - data_s, total_s),
			"goodput_data", ratio(b->image_size, data_s), "goodput_total", ratio(b->image_size, total_s),
			"ok", (json_int_t)ok, "not_ok", (json_int_t)failed);
	arr = json_array();
	fails = json_array();
	if (!doc || !arr || !fails) {
		json_decref(arr);
		json_decref(fails);
		goto nomem;
	}
	json_object_set_new(doc, "mode", json_string(cfg->mode == SCENARIO_BENCH_PULL ? "pull" : "push"));
	json_object_set_new(doc, "outcomes", arr);
	json_object_set_new(doc, "failed", fails);
	for (size_t i = 0; i < n_oc; i++)
		json_array_append_new(arr, json_pack("{s:s, s:s, s:i}", "result", result_name(b, oc[i].result),
						     "reason",
						     msg_dist_reason_to_string(oc[i].reason), "count",
						     (json_int_t)oc[i].count));
	for (uint32_t i = 0; i < b->n_targets; i++) {
		const struct msg_dist_target_info *t = &b->results[i];
		char addr[8];

		if (target_ok(b, t))
			continue;
		snprintf(addr, sizeof(addr), "0x%04x", t->address);
		json_array_append_new(fails, json_pack("{s:s, s:s, s:s, s:s}", "address", addr, "result",
						       msg_dist_result_to_string(t->result), "reason",
						       msg_dist_reason_to_string(t->reason), "phase",
						       msg_dist_phase_to_string(t->phase)));
	}
	if (have_bound)
		json_object_set_new(doc, "bound", json_pack("{s:s, s:f, s:f, s:i, s:f, s:f}", "mode", bound_mode,
							     "total_s", (double)bound.total_us / US_PER_S,
							     "data_s", (double)bound.data_us / US_PER_S,
							     "rounds", (json_int_t)bound.rounds,
							     "round_s", (double)bound.round_us / US_PER_S,
							     "ratio", ratio(total_s, (double)bound.total_us / US_PER_S)));
	arr = json_object();
	if (!arr)
		goto nomem;
	json_object_set_new(doc, "phases", arr);
	for (unsigned i = 0; i < BENCH_PHASE_COUNT; i++)
		json_object_set_new(arr, PHASE_NAMES[i], json_pack("{s:f, s:i}", "s", (double)b->phase_us[i] / US_PER_S,
								   "messages", (json_int_t)b->phase_messages[i]));
	json_object_set_new(doc, "wall", json_pack("{s:f, s:f}", "seconds", wall_s, "speed", ratio(total_s, wall_s)));
	if (json_dump_file(doc, json_path, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
		rc = -EIO;
		fprintf(wall_out, "meshfleet-sim: cannot write '%s'\n", json_path);
	}
	json_decref(doc);
	return rc;

nomem:
	json_decref(doc);
	fprintf(wall_out, "meshfleet-sim: out of memory for the JSON report\n");
	return -ENOMEM;
}
