/* Unit tests for daemon/campaigns.c and daemon/waves.c: the three transition tables pair by pair against a list
 * written out here, the wave planner's properties over many generated fleets, target resolution (filters,
 * up_to_date, not_capable, downgrade, unknown addresses) and the actions on a real database. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "campaigns.h"
#include "nodes.h"
#include "tap.h"
#include "util.h"
#include "waves.h"

static char dir[] = "/tmp/mf-test-campaigns-XXXXXX";

static void sql(struct db *db, const char *text)
{
	char *err = NULL;

	if (sqlite3_exec(db_handle(db), text, NULL, NULL, &err) != SQLITE_OK)
		printf("# SQL '%s' failed: %s\n", text, err ? err : "?");
	sqlite3_free(err);
}

static int64_t sql_int(struct db *db, const char *text)
{
	sqlite3_stmt *stmt;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db_handle(db), text, -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

/* --- transition tables: every pair, against the list of docs/campaigns.md --- */

static bool listed(const char *const *allowed, const char *from, const char *to)
{
	char pair[64];

	snprintf(pair, sizeof(pair), "%s>%s", from, to);
	for (size_t i = 0; allowed[i]; i++)
		if (strcmp(allowed[i], pair) == 0)
			return true;
	return false;
}

static void test_campaign_table(void)
{
	static const char *const allowed[] = {
		"draft>scheduled", "draft>running", "draft>cancelled", "scheduled>running", "scheduled>cancelled",
		"running>paused", "running>completed", "running>failed", "running>cancelled", "paused>running",
		"paused>failed", "paused>cancelled", NULL,
	};
	int wrong = 0, n = 0;

	for (int a = 0; a < CAMPAIGN_STATE_COUNT; a++) {
		for (int b = 0; b < CAMPAIGN_STATE_COUNT; b++) {
			const char *from = campaign_state_to_string((enum campaign_state)a);
			const char *to = campaign_state_to_string((enum campaign_state)b);
			bool want = listed(allowed, from, to), got = campaign_transition_allowed(a, b);

			n += want;
			if (want != got) {
				printf("# campaign %s -> %s: table says %d, expected %d\n", from, to, got, want);
				wrong++;
			}
		}
	}
	is_int(wrong, 0, "campaign: all %d pairs as documented", CAMPAIGN_STATE_COUNT * CAMPAIGN_STATE_COUNT);
	is_int(n, 12, "campaign: 12 allowed transitions listed");
	ok(!campaign_transition_allowed(CAMPAIGN_STATE_COUNT, CAMPAIGN_DRAFT), "campaign: an unknown state is refused");
	for (int a = CAMPAIGN_COMPLETED; a <= CAMPAIGN_CANCELLED; a++) {
		bool any = false;

		for (int b = 0; b < CAMPAIGN_STATE_COUNT; b++)
			any |= campaign_transition_allowed(a, b);
		ok(!any && campaign_state_terminal(a), "campaign: %s is terminal, nothing leaves it",
		   campaign_state_to_string(a));
	}
}

static void test_wave_table(void)
{
	static const char *const allowed[] = {
		"pending>preparing", "pending>done", "pending>cancelled",
		"preparing>transferring", "preparing>done", "preparing>cancelled",
		"transferring>verifying", "transferring>preparing", "transferring>done", "transferring>cancelled",
		"verifying>verified", "verifying>applying", "verifying>preparing", "verifying>done", "verifying>cancelled",
		"verified>applying", "verified>done", "verified>cancelled",
		"applying>confirming", "applying>done", "confirming>done", NULL,
	};
	int wrong = 0;

	for (int a = 0; a < CAMPAIGN_WAVE_STATE_COUNT; a++) {
		for (int b = 0; b < CAMPAIGN_WAVE_STATE_COUNT; b++) {
			const char *from = campaign_wave_state_to_string(a), *to = campaign_wave_state_to_string(b);
			bool want = listed(allowed, from, to), got = campaign_wave_transition_allowed(a, b);

			if (want != got) {
				printf("# wave %s -> %s: table says %d, expected %d\n", from, to, got, want);
				wrong++;
			}
		}
	}
	is_int(wrong, 0, "wave: all %d pairs as documented", CAMPAIGN_WAVE_STATE_COUNT * CAMPAIGN_WAVE_STATE_COUNT);
	ok(!campaign_wave_transition_allowed(CAMPAIGN_WAVE_APPLYING, CAMPAIGN_WAVE_CANCELLED),
	   "wave: no cancel once an apply may be on its way");
}

static void test_target_table(void)
{
	static const char *const allowed[] = {
		"pending>preparing", "pending>skipped", "pending>failed", "pending>cancelled",
		"preparing>transferring", "preparing>failed", "preparing>cancelled",
		"transferring>verifying", "transferring>preparing", "transferring>failed", "transferring>cancelled",
		"verifying>verified", "verifying>applying", "verifying>preparing", "verifying>failed",
		"verifying>cancelled", "verified>applying", "verified>failed", "verified>cancelled",
		"applying>confirming", "applying>failed", "confirming>succeeded", "confirming>failed",
		"failed>pending", NULL,
	};
	int wrong = 0;

	for (int a = 0; a < CAMPAIGN_TARGET_STATE_COUNT; a++) {
		for (int b = 0; b < CAMPAIGN_TARGET_STATE_COUNT; b++) {
			const char *from = campaign_target_state_to_string(a), *to = campaign_target_state_to_string(b);
			bool want = listed(allowed, from, to), got = campaign_target_transition_allowed(a, b);

			if (want != got) {
				printf("# target %s -> %s: table says %d, expected %d\n", from, to, got, want);
				wrong++;
			}
		}
	}
	is_int(wrong, 0, "target: all %d pairs as documented",
	       CAMPAIGN_TARGET_STATE_COUNT * CAMPAIGN_TARGET_STATE_COUNT);
}

static void test_names(void)
{
	int wrong = 0;

	for (int s = 0; s < CAMPAIGN_STATE_COUNT; s++) {
		enum campaign_state back;

		wrong += campaign_state_from_string(campaign_state_to_string(s), &back) < 0 || (int)back != s;
	}
	for (int s = 0; s < CAMPAIGN_TARGET_STATE_COUNT; s++) {
		enum campaign_target_state back;

		wrong += campaign_target_state_from_string(campaign_target_state_to_string(s), &back) < 0 ||
			 (int)back != s;
	}
	for (int s = 0; s < CAMPAIGN_WAVE_STATE_COUNT; s++) {
		enum campaign_wave_state back;

		wrong += campaign_wave_state_from_string(campaign_wave_state_to_string(s), &back) < 0 || (int)back != s;
	}
	is_int(wrong, 0, "every state name reads back as its state");
	enum campaign_state s;
	is_int(campaign_state_from_string("runnning", &s), -EINVAL, "a misspelt state is refused");
}

/* --- planning --- */

static uint64_t rng_state = 0x1234567;

static uint32_t rnd(uint32_t n)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)((rng_state >> 33) % n);
}

/* A fleet of @n nodes in address order, with @hops hop classes and @variants variants, grouped in runs (as a
 * fleet registered room by room): insertion order would give a canary of one kind. */
static void make_fleet(struct waves_target *t, size_t n, int hops, int variants)
{
	for (size_t i = 0; i < n; i++) {
		int v = (int)(i * (size_t)variants / n);

		t[i] = (struct waves_target){ (uint16_t)(i + 1), (int16_t)(hops ? (int)(i * (size_t)hops / n) : -1),
					       0x59, 0x100 + v, v % 3, };
	}
}

static void test_plan_properties(void)
{
	int bad_once = 0, bad_cover = 0, bad_sizes = 0, bad_determinism = 0, runs = 0;
	static struct waves_target t[2000];
	static uint32_t wave[2000], again[2000], other[2000];

	for (int round = 0; round < 200; round++) {
		size_t n = 1 + rnd(1999);
		int hops = (int)rnd(6), variants = 1 + (int)rnd(8);
		struct waves_params p = { rnd(12), 0, 0, 1 + rnd(1000) };
		uint32_t n_waves = 0, n_again = 0, n_other = 0;
		uint32_t *per_wave;
		bool hop_in[8] = { 0 }, variant_in[8] = { 0 };
		int n_hop_classes = 0, n_variants = 0;

		if (rnd(2))
			p.size = 1 + rnd(400);
		else
			p.percent = 1 + rnd(100);
		make_fleet(t, n, hops, variants);
		if (waves_count(n, &p) > WAVES_MAX)
			continue;
		runs++;
		if (waves_plan(t, n, &p, wave, &n_waves) < 0) {
			bad_once++;
			continue;
		}
		per_wave = calloc(n_waves, sizeof(*per_wave));
		for (size_t i = 0; per_wave && i < n; i++) {
			if (wave[i] >= n_waves)
				bad_once++;
			else
				per_wave[wave[i]]++;
		}
		/* every wave holds someone; the canary K (or n); later waves at most the size */
		for (uint32_t w = 0; per_wave && w < n_waves; w++) {
			uint32_t size = p.size ? p.size : (uint32_t)((n * p.percent + 99) / 100);

			if (per_wave[w] == 0 || (w == 0 && p.canary && per_wave[0] != (p.canary < n ? p.canary : n)) ||
			    ((w > 0 || !p.canary) && per_wave[w] > size))
				bad_sizes++;
		}
		free(per_wave);
		/* coverage: with K at least hop classes + variants, every class and variant is in the canary */
		for (size_t i = 0; i < n; i++) {
			int h = t[i].hops + 1, v = t[i].product_id - 0x100;

			if (!hop_in[h]) {
				hop_in[h] = true;
				n_hop_classes++;
			}
			if (!variant_in[v]) {
				variant_in[v] = true;
				n_variants++;
			}
		}
		if (p.canary >= (uint32_t)(n_hop_classes + n_variants) && p.canary > 0) {
			bool hop_c[8] = { 0 }, var_c[8] = { 0 };
			int hc = 0, vc = 0;

			for (size_t i = 0; i < n; i++) {
				if (wave[i] != 0)
					continue;
				hc += !hop_c[t[i].hops + 1];
				vc += !var_c[t[i].product_id - 0x100];
				hop_c[t[i].hops + 1] = var_c[t[i].product_id - 0x100] = true;
			}
			if (hc != n_hop_classes || vc != n_variants) {
				printf("# round %d: canary %u covers %d/%d hop classes, %d/%d variants\n", round,
				       p.canary, hc, n_hop_classes, vc, n_variants);
				bad_cover++;
			}
		}
		/* deterministic: the same seed, the same plan */
		if (waves_plan(t, n, &p, again, &n_again) < 0 || n_again != n_waves ||
		    memcmp(wave, again, n * sizeof(*wave)) != 0)
			bad_determinism++;
		p.seed++;
		(void)waves_plan(t, n, &p, other, &n_other);
	}
	ok(runs > 150, "%d generated fleets planned", runs);
	is_int(bad_once, 0, "every target is in exactly one wave, numbered without gaps");
	is_int(bad_sizes, 0, "no wave is empty; the canary has K nodes; later waves at most their size");
	is_int(bad_cover, 0, "the canary covers every hop class and variant when K allows");
	is_int(bad_determinism, 0, "the same seed gives the same plan");
}

static void test_plan_examples(void)
{
	static struct waves_target t[100];
	uint32_t wave[100], other[100], n_waves = 0, n_other = 0;
	struct waves_params p = { 4, 0, 25, 7 };
	size_t differ = 0, first_k = 0;

	make_fleet(t, 100, 0, 4);      /* four variants of 25 in a row */
	is_int(waves_plan(t, 100, &p, wave, &n_waves), 0, "100 nodes, canary 4, 25%%");
	is_int(n_waves, 1 + 4, "a canary and four waves of 25 (the last one 21)");
	for (size_t i = 0; i < 4; i++)
		first_k += wave[i] == 0;
	ok(first_k < 4, "the canary is not the first four inserted (%zu of them in it)", first_k);
	p.seed = 8;
	is_int(waves_plan(t, 100, &p, other, &n_other), 0, "another seed");
	for (size_t i = 0; i < 100; i++)
		differ += wave[i] != other[i];
	ok(differ > 0, "another campaign id shuffles differently (%zu nodes moved)", differ);
	is_int(waves_count(100, &(struct waves_params){ 0, 1, 0, 0 }), 100, "size 1: 100 waves");
	is_int(waves_count(5000, &(struct waves_params){ 0, 1, 0, 0 }), 5000, "waves_count tells before planning");
	is_int(waves_plan(t, 0, &p, wave, &n_waves), -EINVAL, "no target: -EINVAL");
	is_int(waves_plan(t, 10, &(struct waves_params){ 1, 0, 0, 1 }, wave, &n_waves), -EINVAL,
	       "neither size nor percent: -EINVAL");
	is_int(waves_plan(t, 10, &(struct waves_params){ 20, 1, 0, 1 }, wave, &n_waves), 0, "K above n: all in it");
	is_int(n_waves, 1, "one wave, the canary");
}

/* --- versions --- */

static void test_fwid_compare(void)
{
	const uint8_t v1[10] = { 0x59, 0, 1, 2, 3, 0, 0, 0, 0, 0 }, v2[10] = { 0x59, 0, 1, 3, 0, 0, 0, 0, 0, 0 };
	const uint8_t other_cid[10] = { 0x5a, 0, 9, 0, 0, 0, 0, 0, 0, 0 }, short_id[6] = { 0x59, 0, 1, 2, 3, 4 };
	uint8_t build1[10], build2[10];

	is_int(campaign_fwid_compare(v1, 10, v2, 10), -1, "1.2.3 is older than 1.3.0");
	is_int(campaign_fwid_compare(v2, 10, v1, 10), 1, "1.3.0 is newer than 1.2.3");
	is_int(campaign_fwid_compare(v1, 10, v1, 10), 0, "the same version");
	memcpy(build1, v1, 10);
	memcpy(build2, v1, 10);
	build1[6] = 1;
	build2[9] = 1;          /* build 0x01000000 */
	is_int(campaign_fwid_compare(build2, 10, build1, 10), 1, "the build number counts, little endian");
	is_int(campaign_fwid_compare(v1, 10, other_cid, 10), -2, "another company id: cannot compare");
	is_int(campaign_fwid_compare(short_id, 6, v1, 10), -2, "not the NCS layout: cannot compare");
}

/* --- resolution and the actions on a database --- */

static void add_node(struct db *db, uint16_t address, int pid, const char *fwid_hex, int capable, const char *tag)
{
	struct node node;
	size_t conflict;
	char text[160];

	node_init(&node, address);
	node.company_id = 0x59;
	node.product_id = pid;
	node.version_id = 1;
	if (fwid_hex) {
		node.firmware_id_len = strlen(fwid_hex) / 2;
		hex_decode(fwid_hex, strlen(fwid_hex), node.firmware_id);
	}
	if (tag)
		node_tag_add(&node, tag);
	if (nodes_insert(db, &node, 1, &conflict) < 0)
		printf("# cannot insert node %u\n", address);
	snprintf(text, sizeof(text), "UPDATE nodes SET dfu_capable = %d WHERE address = %u", capable, address);
	if (capable >= 0)
		sql(db, text);
}

static const struct campaign_resolved *find(const struct campaign_resolved *t, size_t n, uint16_t address)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].plan.address == address)
			return &t[i];
	return NULL;
}

#define IMAGE_FWID "59000103000000000000"    /* 1.3.0+0 */

static void test_resolve(struct db *db)
{
	uint8_t fwid[10];
	struct campaign_resolved *t = NULL;
	struct campaign_selector sel = { .company_id = -1, .product_id = -1 };
	uint16_t unknown[4], list[] = { 1, 2, 999, 3, 1000 };
	const char *tags_any[] = { "roof", "cellar" }, *tags_all[] = { "roof" };
	size_t n = 0, n_unknown = 0;
	uint8_t prefix[3] = { 0x59, 0x00, 0x01 };

	hex_decode(IMAGE_FWID, 20, fwid);
	add_node(db, 1, 1, "59000102000000000000", 1, "roof");      /* older: to update */
	add_node(db, 2, 1, IMAGE_FWID, 1, "roof");                  /* up to date */
	add_node(db, 3, 2, "59000104000000000000", 1, "cellar");    /* newer: a downgrade */
	add_node(db, 4, 2, "59000102000000000000", 0, NULL);        /* not capable */
	add_node(db, 5, 3, NULL, -1, "cellar");                     /* never refreshed: kept */
	add_node(db, 6, 3, "5a00aabb", 1, NULL);                    /* another layout: not comparable, kept */
	sql(db, "UPDATE nodes SET reachable = 0 WHERE address = 1");

	is_int(campaigns_resolve(db, &sel, fwid, 10, false, &t, &n, unknown, 4, &n_unknown), 0, "an empty filter");
	is_int(n, 6, "selects every node");
	ok(find(t, n, 1) && find(t, n, 1)->state == CAMPAIGN_TARGET_PENDING, "an older node is pending (unreachable "
	   "nodes are kept)");
	ok(find(t, n, 2) && find(t, n, 2)->state == CAMPAIGN_TARGET_SKIPPED, "the node on the image is skipped");
	is_str(find(t, n, 2) ? find(t, n, 2)->reason : NULL, "up_to_date", "as up_to_date");
	is_str(find(t, n, 3) ? find(t, n, 3)->reason : NULL, "downgrade", "a newer node: downgrade");
	is_str(find(t, n, 4) ? find(t, n, 4)->reason : NULL, "not_capable", "no DFU models: not_capable");
	ok(find(t, n, 5) && find(t, n, 5)->state == CAMPAIGN_TARGET_PENDING, "unknown firmware and capability: kept");
	ok(find(t, n, 6) && find(t, n, 6)->state == CAMPAIGN_TARGET_PENDING, "an FWID of another layout: kept");
	is_int(find(t, n, 1) ? (int)find(t, n, 1)->old_fwid_len : -1, 10, "the old FWID is kept");
	free(t);

	is_int(campaigns_resolve(db, &sel, fwid, 10, true, &t, &n, unknown, 4, &n_unknown), 0, "allow_downgrade");
	ok(find(t, n, 3) && find(t, n, 3)->state == CAMPAIGN_TARGET_PENDING, "the newer node is pending then");
	free(t);

	sel.product_id = 2;
	is_int(campaigns_resolve(db, &sel, fwid, 10, false, &t, &n, unknown, 4, &n_unknown), 0, "product_id 2");
	is_int(n, 2, "selects nodes 3 and 4");
	free(t);
	sel.product_id = -1;
	sel.tags_any = tags_any;
	sel.n_tags_any = 2;
	is_int(campaigns_resolve(db, &sel, fwid, 10, false, &t, &n, unknown, 4, &n_unknown), 0, "tags_any");
	is_int(n, 4, "roof or cellar: 1, 2, 3, 5");
	free(t);
	sel.tags_all = tags_all;
	sel.n_tags_all = 1;
	is_int(campaigns_resolve(db, &sel, fwid, 10, false, &t, &n, unknown, 4, &n_unknown), 0, "tags_all too");
	is_int(n, 2, "roof (and roof or cellar): 1, 2");
	free(t);
	sel = (struct campaign_selector){ .company_id = -1, .product_id = -1, .fwid_prefix = prefix,
					  .fwid_prefix_len = 3 };
	is_int(campaigns_resolve(db, &sel, fwid, 10, false, &t, &n, unknown, 4, &n_unknown), 0, "an FWID prefix");
	is_int(n, 4, "590001...: 1, 2, 3, 4");
	free(t);
	sel = (struct campaign_selector){ .addresses = list, .n_addresses = 5, .company_id = -1, .product_id = -1 };
	t = NULL;
	is_int(campaigns_resolve(db, &sel, fwid, 10, false, &t, &n, unknown, 4, &n_unknown), -ENOENT,
	       "explicit addresses with unknown ones");
	is_int(n_unknown, 2, "two unknown");
	is_int(unknown[0], 999, "the first named");
	is_int(unknown[1], 1000, "the second named");
	ok(t == NULL, "and no result");
	sel.n_addresses = 2;
	is_int(campaigns_resolve(db, &sel, fwid, 10, false, &t, &n, unknown, 4, &n_unknown), 0, "known addresses");
	is_int(n, 2, "just them");
	free(t);
}

static void init_campaign(struct campaign *c, const char *name, const char *fwid_hex)
{
	campaign_init(c);
	snprintf(c->name, sizeof(c->name), "%s", name);
	memset(c->firmware, 'a', 64);
	c->fwid_len = strlen(fwid_hex) / 2;
	hex_decode(fwid_hex, strlen(fwid_hex), c->fwid);
	c->canary = 1;
	c->wave_percent = 100;
	c->success_threshold = 100;
	c->error_threshold = 10;
	c->max_attempts = 2;
	c->apply_policy = CAMPAIGN_APPLY_VERIFY_ONLY;
	c->ttl = 7;
	c->group_address = 0xC100;
	snprintf(c->created_by, sizeof(c->created_by), "test");
}

static void test_actions(struct db *db)
{
	struct campaign c, got;
	struct campaign_resolved *t = NULL;
	struct campaign_selector sel = { .company_id = -1, .product_id = -1 };
	enum campaign_state state;
	enum campaign_target_state ts;
	enum campaign_wave_state ws;
	uint8_t fwid[10];
	size_t n = 0, n_unknown = 0, count = 0;
	uint32_t wave = 0;
	uint16_t group = 0;

	hex_decode(IMAGE_FWID, 20, fwid);
	is_int(campaigns_resolve(db, &sel, fwid, 10, false, &t, &n, NULL, 0, &n_unknown), 0, "resolve the fleet");
	init_campaign(&c, "spring", IMAGE_FWID);
	is_int(campaigns_create(db, NULL, &c, t, n), 0, "create");
	ok(c.id > 0, "with an id");
	is_int(sql_int(db, "SELECT count(*) FROM campaign_waves"), 2, "a canary and one wave for 3 pending nodes");
	is_int(sql_int(db, "SELECT count(*) FROM campaign_targets WHERE state = 'skipped' AND wave IS NULL"), 3,
	       "skipped targets are in no wave");
	is_int(campaigns_get(db, c.id, &got), 0, "read it back");
	is_str(got.name, "spring", "its name");
	is_int(got.state, CAMPAIGN_DRAFT, "a draft");
	campaign_done(&got);

	is_int(campaigns_set_state(db, NULL, c.id, CAMPAIGN_PAUSED, CAMPAIGN_RUNNING, "x", false, &state), -EPERM,
	       "resume a draft: refused");
	is_int(state, CAMPAIGN_DRAFT, "saying it is a draft");
	is_int(campaigns_retry(db, NULL, c.id, &state, &count, &wave), -EPERM, "retry a draft: refused");
	is_int(campaigns_start(db, NULL, c.id, time_now_ms(), "test", &state), 0, "start");
	is_int(state, CAMPAIGN_RUNNING, "running");
	is_int(campaigns_start(db, NULL, c.id, time_now_ms(), "test", &state), -EPERM, "start again: refused");
	is_int(state, CAMPAIGN_RUNNING, "saying it runs");
	ok(sql_int(db, "SELECT started_at FROM campaigns") > 0, "started_at is set");

	/* the engine's path for one node, through the checked functions */
	is_int(campaigns_target_set_state(db, NULL, c.id, 1, CAMPAIGN_TARGET_SUCCEEDED, NULL, false, &ts), -EPERM,
	       "pending -> succeeded: refused");
	is_int(ts, CAMPAIGN_TARGET_PENDING, "it is pending");
	is_int(campaigns_target_set_state(db, NULL, c.id, 1, CAMPAIGN_TARGET_PREPARING, NULL, false, NULL), 0,
	       "pending -> preparing");
	is_int(sql_int(db, "SELECT attempts FROM campaign_targets WHERE address = 1"), 1, "counts an attempt");
	is_int(campaigns_target_set_state(db, NULL, c.id, 1, CAMPAIGN_TARGET_FAILED, "metadata_rejected", false, NULL),
	       0, "preparing -> failed");
	is_int(campaigns_target_set_state(db, NULL, c.id, 7777, CAMPAIGN_TARGET_FAILED, NULL, false, NULL), -ENOENT,
	       "an unknown target: -ENOENT");
	is_int(campaigns_retry(db, NULL, c.id, &state, &count, &wave), 0, "retry");
	is_int(count, 1, "one failed node");
	is_int(wave, 2, "into wave 2");
	is_int(sql_int(db, "SELECT count(*) FROM campaign_waves WHERE kind = 'retry' AND state = 'pending'"), 1,
	       "a retry wave");
	is_int(sql_int(db, "SELECT wave FROM campaign_targets WHERE address = 1 AND state = 'pending'"), 2,
	       "the node is pending in it");
	is_int(campaigns_target_set_state(db, NULL, c.id, 1, CAMPAIGN_TARGET_PREPARING, NULL, false, NULL), 0,
	       "a second attempt");
	is_int(campaigns_target_set_state(db, NULL, c.id, 1, CAMPAIGN_TARGET_FAILED, "timeout", false, NULL), 0,
	       "fails again");
	is_int(campaigns_retry(db, NULL, c.id, &state, &count, &wave), -ENODATA,
	       "no attempt left (max 2): nothing to retry");

	is_int(campaigns_apply(db, NULL, c.id, &state, &count), -ENODATA, "apply with no verified wave");
	is_int(campaigns_wave_set_state(db, NULL, c.id, 0, CAMPAIGN_WAVE_VERIFIED, false, &ws), -EPERM,
	       "wave pending -> verified: refused");
	is_int(campaigns_wave_set_state(db, NULL, c.id, 0, CAMPAIGN_WAVE_PREPARING, false, NULL), 0, "preparing");
	is_int(campaigns_wave_set_state(db, NULL, c.id, 0, CAMPAIGN_WAVE_TRANSFERRING, false, NULL), 0, "transferring");
	is_int(campaigns_wave_set_state(db, NULL, c.id, 0, CAMPAIGN_WAVE_VERIFYING, false, NULL), 0, "verifying");
	is_int(campaigns_wave_set_state(db, NULL, c.id, 0, CAMPAIGN_WAVE_VERIFIED, false, NULL), 0, "verified");
	is_int(campaigns_apply(db, NULL, c.id, &state, &count), 0, "apply");
	is_int(count, 1, "releases the verified wave");
	is_int(sql_int(db, "SELECT count(*) FROM campaign_waves WHERE state = 'applying'"), 1, "now applying");
	is_int(sql_int(db, "PRAGMA synchronous"), 1, "synchronous is back to NORMAL after the durable commit");

	is_int(campaigns_set_state(db, NULL, c.id, CAMPAIGN_RUNNING, CAMPAIGN_PAUSED, "test", false, &state), 0,
	       "pause");
	is_int(campaigns_delete(db, c.id, &state), -EBUSY, "delete a paused campaign: refused");
	is_int(state, CAMPAIGN_PAUSED, "saying it is paused");
	is_int(campaigns_group_in_use(db, 0xC100), 1, "its group is in use");
	is_int(campaigns_cancel(db, NULL, c.id, "test", &state), 0, "cancel");
	is_int(sql_int(db, "SELECT count(*) FROM campaign_waves WHERE state = 'applying'"), 1,
	       "a wave applying keeps its state");
	is_int(sql_int(db, "SELECT count(*) FROM campaign_targets WHERE state = 'cancelled'"), 2,
	       "pending targets are cancelled");
	is_int(sql_int(db, "SELECT count(*) FROM campaign_waves WHERE state = 'cancelled'"), 2,
	       "so are the waves not applying (wave 1 and the retry wave)");
	is_int(campaigns_cancel(db, NULL, c.id, "test", &state), -EPERM, "cancel twice: refused");
	is_int(state, CAMPAIGN_CANCELLED, "it is cancelled");
	ok(sql_int(db, "SELECT finished_at FROM campaigns") > 0, "finished_at is set");
	is_int(campaigns_group_in_use(db, 0xC100), 0, "a cancelled campaign frees its group");

	is_int(campaigns_allocate_group(db, &group), -ENOENT, "no network: no group range");
	sql(db, "INSERT INTO network (id, mesh_uuid, name, exported_at, cdb, iv_index, iv_update, net_key_index, "
	    "app_key_index, provisioner_uuid, address, unicast_low, unicast_high, group_low, group_high, imported_at, "
	    "updated_at) VALUES (1, zeroblob(16), 'n', 0, '{}', 0, 0, 0, 0, zeroblob(16), 1, 1, 10, 49152, 49153, 0, 0)");
	is_int(campaigns_allocate_group(db, &group), 0, "a group from the range");
	is_int(group, 0xC000, "the first one");
	sql(db, "INSERT INTO group_members VALUES (49152, 1, 0, 1, 1, 'member', NULL, 0)");
	is_int(campaigns_allocate_group(db, &group), 0, "0xC000 is used by a group");
	is_int(group, 0xC001, "the next one");
	init_campaign(&c, "second", IMAGE_FWID);
	c.group_address = 0xC001;
	is_int(campaigns_create(db, NULL, &c, t, n), 0, "a campaign on 0xC001");
	is_int(campaigns_allocate_group(db, &group), -ENOSPC, "the range is used up");
	is_int(campaigns_delete(db, c.id, &state), 0, "delete the draft");
	is_int(sql_int(db, "SELECT count(*) FROM campaign_targets WHERE campaign_id = 2"), 0, "with its targets");
	is_int(campaigns_delete(db, c.id, &state), -ENOENT, "delete it again: -ENOENT");
	for (size_t i = 0; i < n; i++)
		if (t[i].state == CAMPAIGN_TARGET_PENDING)
			t[i].state = CAMPAIGN_TARGET_SKIPPED;
	is_int(campaigns_create(db, NULL, &c, t, n), -EINVAL, "nothing pending: -EINVAL");
	free(t);
}

int main(void)
{
	struct db *db = NULL;
	char path[sizeof(dir) + 32], err[512];

	test_campaign_table();
	test_wave_table();
	test_target_table();
	test_names();
	test_plan_properties();
	test_plan_examples();
	test_fwid_compare();
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/test.db", dir);
	if (db_open(path, &db, err, sizeof(err)) < 0) {
		printf("# %s\n", err);
		return 1;
	}
	test_resolve(db);
	test_actions(db);
	db_free(db);
	unlink(path);
	snprintf(path, sizeof(path), "%s/test.db-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/test.db-shm", dir);
	unlink(path);
	rmdir(dir);
	return done_testing();
}
