/* daemon/estimate.c: the Distributor's size choice (defaults, the campaign's preferences), each wave's figures equal
 * radio_bound() for the same inputs with the addressing the Distributor's rule picks, and a campaign on a real
 * database: waves with their targets and hops (recorded, unknown counted as 1), the sum over the waves, bad sizes. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "campaigns.h"
#include "db.h"
#include "estimate.h"
#include "nodes.h"
#include "tap.h"
#include "util.h"

#define IMAGE_SIZE (100u * 1024u)

static void test_sizes(void)
{
	struct estimate_caps caps;
	uint16_t chunk = 0;
	uint8_t log = 0;

	estimate_caps_zephyr_default(&caps);
	is_int(caps.mtu, 116, "Zephyr's defaults: MTU 116 (10 segments)");
	is_int(estimate_pick_sizes(&caps, 0, 0, IMAGE_SIZE, &log, &chunk), 0, "defaults fit");
	is_int(log, 12, "4096-byte blocks");
	is_int(chunk, 113, "113-byte chunks (MTU - 3)");
	is_int(estimate_pick_sizes(&caps, 0, 8, IMAGE_SIZE, &log, &chunk), -ERANGE,
	       "chunk_size 8 on targets that take 4096-byte blocks only: 512 chunks, nothing fits");
	caps.min_block_size_log = 8;
	is_int(estimate_pick_sizes(&caps, 0, 8, IMAGE_SIZE, &log, &chunk), 0, "chunk_size 8, blocks from 256 B");
	is_int(chunk, 8, "the campaign's smaller chunk");
	is_int(log, 11, "the block lowered until its 256 chunks fit one Block Status");
	caps.min_block_size_log = 12;
	is_int(estimate_pick_sizes(&caps, 0, 300, IMAGE_SIZE, &log, &chunk), 0, "chunk_size 300");
	is_int(chunk, 113, "no larger than the targets allow");
	is_int(estimate_pick_sizes(&caps, 9, 0, IMAGE_SIZE, &log, &chunk), 0, "block_size_log 9");
	is_int(log, 12, "below the targets' minimum: ignored, as the Distributor does");
	caps.min_block_size_log = 8;
	is_int(estimate_pick_sizes(&caps, 9, 0, IMAGE_SIZE, &log, &chunk), 0, "block_size_log 9, targets from 8");
	is_int(log, 9, "the campaign's block size");
	caps.max_chunk_size = 4;
	is_int(estimate_pick_sizes(&caps, 0, 0, IMAGE_SIZE, &log, &chunk), -ERANGE, "chunks below 8 bytes: -ERANGE");
	estimate_caps_zephyr_default(&caps);
	is_int(estimate_pick_sizes(&caps, 0, 0, (uint64_t)1 << 32, &log, &chunk), -ERANGE,
	       "4 GiB in 4096-byte blocks: too many blocks, -ERANGE");
}

/* estimate_wave() against radio_bound() called directly with @want_mode. */
static void check_wave(const struct radio_params *p, uint32_t targets, unsigned hops, bool pull, uint16_t group,
		       enum radio_bound_mode want_mode, bool want_unicast, const char *what)
{
	struct estimate_wave_input in = {
		.image_size = IMAGE_SIZE, .block_size_log = 12, .chunk_size = 113, .targets = targets, .hops = hops,
		.pull = pull, .group = group,
	};
	struct estimate_wave got;
	struct radio_bound want;
	const char *reason = NULL;

	is_int(estimate_wave(p, &in, &got, &reason), 0, "%s: estimated", what);
	is_int(radio_bound(p, IMAGE_SIZE, 4096, 113, targets, hops, want_mode, &want, &reason), 0,
	       "%s: radio_bound()", what);
	is_int(got.mode, want_mode, "%s: bound mode %s", what, estimate_mode_to_string(want_mode));
	is_int(got.unicast, want_unicast, "%s: addressing", what);
	is_int(got.bound.data_us, want.data_us, "%s: data phase", what);
	is_int(got.bound.control_us, want.control_us, "%s: control rounds", what);
	is_int(got.bound.total_us, want.total_us, "%s: total", what);
	is_int(got.bound.rounds, want.rounds, "%s: rounds", what);
}

static void test_waves(void)
{
	struct radio_params p;
	struct estimate_wave_input in = { .image_size = IMAGE_SIZE, .block_size_log = 12, .chunk_size = 113 };
	struct estimate_wave w;
	const char *reason = NULL;

	radio_params_zephyr_default(&p);
	check_wave(&p, 100, 1, false, 0xC001, RADIO_BOUND_GROUP, false, "100 targets, a group");
	check_wave(&p, 5, 3, false, 0xC001, RADIO_BOUND_GROUP, false, "5 targets 3 hops away, a group");
	check_wave(&p, 2, 1, false, 0xC001, RADIO_BOUND_GROUP, false, "2 targets, a group");
	check_wave(&p, 1, 1, false, 0xC001, RADIO_BOUND_UNICAST, true, "1 target: unicast (below 2)");
	check_wave(&p, 20, 2, false, 0, RADIO_BOUND_UNICAST, true, "20 targets, no group: unicast");
	check_wave(&p, 20, 1, true, 0xC001, RADIO_BOUND_UNICAST, false, "pull mode: chunks by unicast");
	in.targets = 0;
	in.hops = 1;
	is_int(estimate_wave(&p, &in, &w, &reason), -EINVAL, "no targets: -EINVAL");
	in.targets = 1;
	in.hops = 0;
	is_int(estimate_wave(&p, &in, &w, &reason), -EINVAL, "0 hops: -EINVAL");
	in.hops = 128;
	is_int(estimate_wave(&p, &in, &w, &reason), -EINVAL, "128 hops: -EINVAL");
	in.hops = 1;
	in.chunk_size = 377;
	p.seg_max = 6;
	is_int(estimate_wave(&p, &in, &w, &reason), -EMSGSIZE, "a chunk over seg_max segments: -EMSGSIZE");
	ok(reason != NULL, "with radio_bound()'s reason");
	is_int(estimate_client_timeout_ms(7, 10), 120700, "client timeout: 10 s x 12 + 0.7 s");
	is_int(estimate_client_timeout_ms(ESTIMATE_TTL_UNSET, 0), 20700, "TTL 0xFF counts as 7");
}

static void sql(struct db *db, const char *text)
{
	sqlite3_stmt *st = db_stmt(db, text);

	if (!st || sqlite3_step(st) != SQLITE_DONE)
		printf("# %s failed\n", text);
	if (st)
		sqlite3_reset(st);
}

static double wave_seconds(json_t *waves, size_t i, const char *key)
{
	return json_real_value(json_object_get(json_array_get(waves, i), key));
}

static void test_campaign(struct db *db)
{
	struct campaign_selector sel = { .company_id = -1, .product_id = -1 };
	struct campaign_resolved *t = NULL;
	struct radio_params p;
	struct radio_bound b;
	struct campaign c;
	uint8_t fwid[10] = { 0x59, 0, 2 };
	size_t n = 0, n_unknown = 0;
	const char *reason = NULL;
	char why[256];
	json_t *out = NULL, *waves;
	double sum = 0;
	unsigned hops_max = 0, unknown = 0;
	char *text;

	for (uint16_t a = 1; a <= 12; a++) {
		struct node node;
		size_t conflict;

		node_init(&node, a);
		node.company_id = 0x59;
		nodes_insert(db, &node, 1, &conflict);
	}
	sql(db, "UPDATE nodes SET dfu_capable = 1, hops = 1");
	sql(db, "UPDATE nodes SET hops = 3 WHERE address = 5");
	sql(db, "UPDATE nodes SET hops = NULL WHERE address = 6");
	is_int(campaigns_resolve(db, &sel, fwid, sizeof(fwid), false, &t, &n, NULL, 0, &n_unknown), 0, "resolve");
	campaign_init(&c);
	snprintf(c.name, sizeof(c.name), "estimate");
	memset(c.firmware, 'a', 64);
	memcpy(c.fwid, fwid, sizeof(fwid));
	c.fwid_len = sizeof(fwid);
	c.canary = 2;
	c.wave_percent = 100;
	c.success_threshold = 100;
	c.error_threshold = 10;
	c.max_attempts = 1;
	c.ttl = 7;
	c.timeout_base = 10;
	c.group_address = 0xC100;
	snprintf(c.created_by, sizeof(c.created_by), "test");
	is_int(campaigns_create(db, NULL, &c, t, n), 0, "a campaign of 12 nodes: canary 2, then 10");
	free(t);

	radio_params_zephyr_default(&p);
	is_int(estimate_campaign(db, &c, IMAGE_SIZE, &p, &out, why, sizeof(why)), 0, "estimated");
	waves = json_object_get(out, "waves");
	is_int(json_array_size(waves), 2, "two waves");
	for (size_t i = 0; i < json_array_size(waves); i++) {
		json_t *w = json_array_get(waves, i);
		uint32_t targets = (uint32_t)json_integer_value(json_object_get(w, "targets"));
		unsigned hops = (unsigned)json_integer_value(json_object_get(w, "hops"));
		bool unicast = strcmp(json_string_value(json_object_get(w, "mode")), "unicast") == 0;
		struct radio_params dongle = p;

		is_int(targets, i == 0 ? 2 : 10, "wave %zu: its targets", i);
		is_int(unicast, false, "wave %zu: %s", i, i == 0 ? "2 targets go to the group" : "10 go to the group");
		/* the dongle's own SAR settings for group messages: no retransmission */
		dongle.sar_multicast_retrans_count = 0;
		dongle.sar_multicast_retrans_int_step = 0;
		radio_bound(&dongle, IMAGE_SIZE, 4096, 113, targets, hops,
			    unicast ? RADIO_BOUND_UNICAST : RADIO_BOUND_GROUP, &b, &reason);
		is_int((int64_t)(wave_seconds(waves, i, "total_s") * 1e6 + 0.5), (int64_t)b.total_us,
		       "wave %zu: total_s is radio_bound()'s", i);
		is_int((int64_t)(wave_seconds(waves, i, "data_phase_s") * 1e6 + 0.5), (int64_t)b.data_us,
		       "wave %zu: data_phase_s is radio_bound()'s", i);
		is_int((int64_t)(wave_seconds(waves, i, "control_s") * 1e6 + 0.5), (int64_t)b.control_us,
		       "wave %zu: control_s is radio_bound()'s", i);
		sum += wave_seconds(waves, i, "total_s");
		if (hops > hops_max)
			hops_max = hops;
		unknown += (unsigned)json_integer_value(json_object_get(w, "hops_unknown"));
	}
	ok(sum > 0 && json_real_value(json_object_get(out, "total_s")) == sum, "total_s is the sum of the waves");
	is_int(hops_max, 3, "the farthest recorded hop count is in a wave's figures");
	is_int(unknown, 1, "the node without a recorded hop count is counted");
	json_decref(out);

	sql(db, "UPDATE nodes SET hops = 127");
	c.ttl = 5;
	is_int(estimate_campaign(db, &c, IMAGE_SIZE, &p, &out, why, sizeof(why)), 0, "nodes 127 hops away");
	text = json_dumps(json_object_get(out, "assumptions"), 0);
	ok(text && strstr(text, "beyond the campaign's TTL 5") != NULL, "the answer says the TTL does not reach them");
	free(text);
	json_decref(out);
	out = NULL;
	c.chunk_size = 4;
	is_int(estimate_campaign(db, &c, IMAGE_SIZE, &p, &out, why, sizeof(why)), -ERANGE, "a 4-byte chunk: -ERANGE");
	ok(strstr(why, "no block and chunk size") != NULL, "saying why: %s", why);
	ok(out == NULL, "nothing returned");
	campaign_done(&c);
}

int main(void)
{
	char dir[] = "/tmp/test_estimate.XXXXXX", path[PATH_MAX], err[256];
	struct db *db;

	test_sizes();
	test_waves();
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/test.db", dir);
	if (db_open(path, &db, err, sizeof(err)) < 0) {
		printf("# %s\n", err);
		return 1;
	}
	test_campaign(db);
	db_free(db);
	unlink(path);
	snprintf(path, sizeof(path), "%s/test.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/test.db-shm", dir);
	unlink(path);
	rmdir(dir);
	return done_testing();
}
