/* estimate: see estimate.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "estimate.h"
#include "mesh_blob.h"

#define US_PER_S 1e6
#define MS_PER_S 1e3
#define CLIENT_TIMEOUT_BASE_MS 10000u   /* Zephyr's CLIENT_TIMEOUT_MSEC: 10 s x (Timeout Base + 2) ... */
#define CLIENT_TIMEOUT_TTL_MS 100u      /* ... + 100 ms x TTL */
#define ZEPHYR_BLOCK_LOG 12             /* CONFIG_BT_MESH_BLOB_BLOCK_SIZE_MIN = _MAX = 4096 */
#define ZEPHYR_CHUNK_COUNT 256          /* CONFIG_BT_MESH_BLOB_CHUNK_COUNT_MAX */
#define ZEPHYR_RX_SEGMENTS 10           /* NCS DFU target sample: CONFIG_BT_MESH_RX_SEG_MAX */
#define SEGMENT_BYTES 12                /* upper transport bytes per segment */
#define TRANS_MIC 4

void estimate_caps_zephyr_default(struct estimate_caps *ret)
{
	uint16_t mtu = ZEPHYR_RX_SEGMENTS * SEGMENT_BYTES - TRANS_MIC;

	*ret = (struct estimate_caps){
		.min_block_size_log = ZEPHYR_BLOCK_LOG,
		.max_block_size_log = ZEPHYR_BLOCK_LOG,
		.max_chunks = ZEPHYR_CHUNK_COUNT,
		.max_chunk_size = (uint16_t)(mtu - ESTIMATE_CHUNK_HEADER),
		.mtu = mtu,
	};
}

/* The same steps as dist.c pick_sizes(): a change there must be made here too (tests/unit/test_estimate.c checks
 * the defaults and the preferences against the figures docs/distribution.md gives). */
int estimate_pick_sizes(const struct estimate_caps *c, uint8_t pref_log, uint16_t pref_chunk, uint64_t image_size,
			uint8_t *ret_log, uint16_t *ret_chunk)
{
	uint32_t chunk = c->max_chunk_size;
	uint32_t max_chunks = c->max_chunks < MB_CHUNK_COUNT_MAX ? c->max_chunks : MB_CHUNK_COUNT_MAX;
	unsigned top = c->max_block_size_log;

	if (chunk > MB_CHUNK_SIZE_MAX)
		chunk = MB_CHUNK_SIZE_MAX;
	if (c->mtu >= MB_MTU_MIN && chunk > (uint32_t)c->mtu - ESTIMATE_CHUNK_HEADER)
		chunk = (uint32_t)c->mtu - ESTIMATE_CHUNK_HEADER;
	if (pref_chunk != 0 && pref_chunk < chunk)
		chunk = pref_chunk;
	if (chunk < MB_CHUNK_SIZE_MIN || max_chunks == 0 || c->min_block_size_log > c->max_block_size_log ||
	    c->min_block_size_log < MB_BLOCK_SIZE_LOG_MIN)
		return -ERANGE;
	if (pref_log != 0 && pref_log >= c->min_block_size_log && pref_log < top)
		top = pref_log;
	for (unsigned log = top; log >= c->min_block_size_log; log--) {
		uint64_t block = (uint64_t)1 << log;
		uint64_t chunks = (block + chunk - 1) / chunk;
		uint64_t blocks = (image_size + block - 1) / block;

		if (chunks <= max_chunks && blocks <= MB_BLOCK_COUNT_MAX) {
			*ret_log = (uint8_t)log;
			*ret_chunk = (uint16_t)chunk;
			return 0;
		}
		if (log == MB_BLOCK_SIZE_LOG_MIN)
			break;
	}
	return -ERANGE;
}

const char *estimate_mode_to_string(enum radio_bound_mode mode)
{
	switch (mode) {
	case RADIO_BOUND_GROUP: return "group";
	case RADIO_BOUND_POLL: return "poll";
	case RADIO_BOUND_UNICAST: return "unicast";
	}
	return "unknown";
}

uint64_t estimate_client_timeout_ms(uint8_t ttl, uint16_t timeout_base)
{
	unsigned t = ttl == ESTIMATE_TTL_UNSET ? ESTIMATE_TTL_AS_DEFAULT : ttl;

	return (uint64_t)CLIENT_TIMEOUT_BASE_MS * (timeout_base + 2u) + (uint64_t)CLIENT_TIMEOUT_TTL_MS * t;
}

int estimate_wave(const struct radio_params *p, const struct estimate_wave_input *in, struct estimate_wave *ret,
		  const char **ret_reason)
{
	struct estimate_wave w = { 0 };
	int r;

	if (in->targets == 0 || in->hops == 0 || in->hops > RADIO_HOPS_MAX ||
	    in->block_size_log > ESTIMATE_BOUND_BLOCK_LOG_MAX) {
		*ret_reason = in->targets == 0 ? "a wave without targets" :
			      in->block_size_log > ESTIMATE_BOUND_BLOCK_LOG_MAX ? "blocks over 1 MiB" :
										 "hops must be 1..127";
		return -EINVAL;
	}
	/* docs/distribution.md, "Addressing": a group only from DIST_MULTICAST_MIN_TARGETS targets on; pull mode sends
	 * each target the chunks it asks for, by unicast, and polls the targets */
	w.unicast = in->group == 0 || in->targets < ESTIMATE_MULTICAST_MIN_TARGETS;
	w.mode = w.unicast || in->pull ? RADIO_BOUND_UNICAST : RADIO_BOUND_GROUP;
	r = radio_bound(p, in->image_size, (uint32_t)1 << in->block_size_log, in->chunk_size, in->targets, in->hops,
			w.mode, &w.bound, ret_reason);
	if (r < 0)
		return r;
	*ret = w;
	return 0;
}

/* --- the campaign --- */

/* One wave as the database has it. */
struct wave_row {
	uint32_t index;
	enum campaign_wave_kind kind;
	enum campaign_wave_state state;
	uint32_t targets;               /* not skipped or cancelled */
	unsigned hops;                  /* the farthest known; 0 = none known */
	uint32_t hops_unknown;
};

static json_t *seconds(uint64_t us)
{
	return json_real((double)us / US_PER_S);
}

/* Fills the targets and hops of @rows (indexed by wave) from campaign_targets and nodes. */
static int wave_targets(struct db *db, int64_t id, struct wave_row *rows, size_t n)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT t.wave, count(*), max(n.hops), sum(n.hops IS NULL) "
				   "FROM campaign_targets t LEFT JOIN nodes n ON n.address = t.address "
				   "WHERE t.campaign_id = ?1 AND t.wave IS NOT NULL AND t.state NOT IN ('skipped', "
				   "'cancelled') GROUP BY t.wave");
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t wave = sqlite3_column_int64(st, 0);

		for (size_t i = 0; i < n; i++) {
			if (rows[i].index != wave)
				continue;
			rows[i].targets = (uint32_t)sqlite3_column_int64(st, 1);
			rows[i].hops = (unsigned)sqlite3_column_int(st, 2);
			rows[i].hops_unknown = (uint32_t)sqlite3_column_int64(st, 3);
		}
	}
	sqlite3_reset(st);
	return db_result(db, rc, "read the waves' targets");
}

static void add_assumption(json_t *list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_assumption(json_t *list, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	json_array_append_new(list, json_string(text));
}

int estimate_campaign(struct db *db, const struct campaign *c, uint64_t image_size, const struct radio_params *p0,
		      json_t **ret, char *reason, size_t reason_len)
{
	struct estimate_caps caps;
	struct radio_params p = *p0;
	struct campaign_wave *waves = NULL;
	struct wave_row *rows = NULL;
	json_t *out = NULL, *list = NULL, *assumptions = NULL;
	uint64_t total_us = 0, unknown = 0;
	unsigned hops_max = 0;
	size_t n_waves = 0;
	uint16_t chunk;
	uint8_t log;
	int r;

	estimate_caps_zephyr_default(&caps);
	if (estimate_pick_sizes(&caps, c->block_size_log, c->chunk_size, image_size, &log, &chunk) < 0) {
		snprintf(reason, reason_len, "no block and chunk size of the targets' capabilities fits an image of "
			 "%llu bytes", (unsigned long long)image_size);
		return -ERANGE;
	}
	p.ttl = c->ttl;         /* the campaign's: the TTL of the transfer's messages */
	/* the dongle sends the transfer with its own SAR settings for group messages, as the simulator's does */
	p.sar_multicast_retrans_count = ESTIMATE_SAR_MULTICAST_RETRANS_COUNT;
	p.sar_multicast_retrans_int_step = ESTIMATE_SAR_MULTICAST_RETRANS_INT_STEP;
	r = campaigns_waves(db, c->id, &waves, &n_waves);
	if (r < 0)
		return r;
	rows = calloc(n_waves ? n_waves : 1, sizeof(*rows));
	out = json_object();
	list = json_array();
	assumptions = json_array();
	if (!rows || !out || !list || !assumptions) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; i < n_waves; i++)
		rows[i] = (struct wave_row){ .index = waves[i].index, .kind = waves[i].kind, .state = waves[i].state };
	r = wave_targets(db, c->id, rows, n_waves);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < n_waves; i++) {
		struct wave_row *w = &rows[i];
		struct estimate_wave_input in = {
			.image_size = image_size, .block_size_log = log, .chunk_size = chunk, .targets = w->targets,
			.hops = w->hops ? w->hops : 1, .pull = c->mode == CAMPAIGN_TRANSFER_PULL, .group = c->group_address,
		};
		struct estimate_wave e = { .mode = RADIO_BOUND_GROUP };
		const char *why = NULL;
		json_t *o;

		if (w->targets) {
			r = estimate_wave(&p, &in, &e, &why);
			if (r < 0) {
				snprintf(reason, reason_len, "wave %u: %s", w->index, why ? why : "refused");
				goto fail;
			}
		}
		total_us += e.bound.total_us;
		unknown += w->hops_unknown;
		if (in.hops > hops_max)
			hops_max = in.hops;
		o = json_pack("{s:i, s:s, s:s, s:i, s:i, s:i, s:s, s:s, s:i, s:I, s:i}", "wave", (int)w->index,
			      "kind", campaign_wave_kind_to_string(w->kind), "state",
			      campaign_wave_state_to_string(w->state), "targets", (int)w->targets, "hops", (int)in.hops,
			      "hops_unknown", (int)w->hops_unknown, "mode", estimate_mode_to_string(e.mode),
			      "addressing", e.unicast || !w->targets ? "unicast" : "group", "blocks",
			      (int)e.bound.blocks, "chunks", (json_int_t)e.bound.chunks, "control_rounds",
			      (int)e.bound.rounds);
		if (!o) {
			r = -ENOMEM;
			goto fail;
		}
		if (!w->targets)
			json_object_set_new(o, "addressing", json_null());
		json_object_set_new(o, "data_phase_s", seconds(e.bound.data_us));
		json_object_set_new(o, "control_s", seconds(e.bound.control_us));
		json_object_set_new(o, "total_s", seconds(e.bound.total_us));
		json_array_append_new(list, o);
	}

	add_assumption(assumptions, "no loss and no retries: the radio model's lower bound (radio_bound()); the "
		       "Distributor aims at 1.25 x the bound at 0 %% loss, and a lossy mesh takes longer");
	add_assumption(assumptions, "radio: Zephyr's default knobs (extended advertiser, 3 transmissions per PDU, "
		       "SAR defaults; docs/radio-model.md, \"Knobs\") except the dongle's SAR for group messages (no "
		       "retransmission: docs/distribution.md), TTL %u", c->ttl);
	if (unknown)
		add_assumption(assumptions, "hops: %llu target(s) have no recorded hop count (refresh the nodes: "
			       "discovery infers it from the TTL of their answers): counted as 1 hop",
			       (unsigned long long)unknown);
	else
		add_assumption(assumptions, "hops: each wave's farthest target, as the last refresh inferred it from "
			       "the TTL of the answers (nodes answer with TTL 7)");
	if (c->ttl == 0 ? hops_max > 1 : hops_max > c->ttl)
		add_assumption(assumptions, "a target %u hops away is beyond the campaign's TTL %u: it will not "
			       "receive the transfer", hops_max, c->ttl);
	add_assumption(assumptions, "sizes: the targets' BLOB capabilities are not recorded: Zephyr's defaults "
		       "(blocks of %u B, %u chunks per block, chunks up to %u B), %s", 1u << caps.max_block_size_log,
		       caps.max_chunks, caps.max_chunk_size,
		       c->block_size_log || c->chunk_size ? "narrowed by the campaign's transfer settings" :
							     "the largest the Distributor allows");
	add_assumption(assumptions, "addressing: the Distributor's rule: by unicast below %u targets, else to the "
		       "group address%s", ESTIMATE_MULTICAST_MIN_TARGETS,
		       c->mode == CAMPAIGN_TRANSFER_PULL ? "; pull mode sends chunks by unicast to each target "
							    "(bound mode unicast)" : "");
	add_assumption(assumptions, "waves run one after the other; the time between waves (group subscriptions, "
		       "image upload, thresholds, an apply window) is not counted");

	json_object_set_new(out, "campaign", json_integer((json_int_t)c->id));
	json_object_set_new(out, "total_s", seconds(total_us));
	json_object_set_new(out, "image_size", json_integer((json_int_t)image_size));
	json_object_set_new(out, "block_size", json_integer((json_int_t)1 << log));
	json_object_set_new(out, "chunk_size", json_integer(chunk));
	json_object_set_new(out, "transfer", json_pack("{s:s, s:i, s:i, s:f}", "mode",
		campaign_transfer_mode_to_string(c->mode), "ttl", c->ttl, "timeout_base", c->timeout_base,
		"client_timeout_s", (double)estimate_client_timeout_ms(c->ttl, c->timeout_base) / MS_PER_S));
	json_object_set_new(out, "waves", list);
	json_object_set_new(out, "assumptions", assumptions);
	json_object_set_new(out, "bound", json_string("radio_bound(): total = data phase (every chunk once, no loss) "
		"+ control rounds x round cost; docs/radio-model.md, \"The lower bound\" (radio-model reference "
		"§2.5)"));
	free(rows);
	free(waves);
	*ret = out;
	return 0;

fail:
	json_decref(list);
	json_decref(assumptions);
	json_decref(out);
	free(rows);
	free(waves);
	return r;
}
