/* Unit tests for daemon/engine.c: the engine's decisions against the fake dongle's scripted Distributor
 * (tests/unit/fake_dongle.c) with the real dongle client, database, campaigns, firmware store and event bus, on one
 * uv loop. Waves go by unicast here (no group client); the test plays the Distributor: it moves the targets with
 * DIST_TARGET events and ends distributions with DIST_STATE.
 *
 * Cases: a campaign of a canary and a wave (image uploaded once, the distribution id written before DIST_START,
 * results recorded in batched commits, the failed target's reason kept, an automatic retry wave, completed); the
 * success and the error threshold pausing with their figures; pause and resume (DIST_SUSPEND, DIST_RESUME);
 * verify-only then POST .../apply (apply_sent_at durable before DIST_APPLY); cancel (DIST_CANCEL, targets
 * cancelled); the reconcile at a restart of the engine with the distribution still running, finished while away,
 * and unknown (the dongle rebooted: the wave is issued again under a new id); an immediate campaign applied by the
 * engine (DIST_APPLY after apply_sent_at), a reboot before and after it; the error threshold crossed mid-wave.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "campaigns.h"
#include "dongle.h"
#include "engine.h"
#include "events.h"
#include "fake_dongle.h"
#include "firmware.h"
#include "log.h"
#include "network.h"
#include "loop_wait.h"
#include "tap.h"
#include "util.h"

#define SAMPLE TOP_SRCDIR "/tests/data/cdb/coral_Sample1_brian_and_mary.json"
#define NODES 8                 /* the sample network's nodes a campaign selects */

static uv_loop_t loop;
static uv_timer_t guard;
static char dir[64] = "/tmp/mf-test-engine-XXXXXX";
static struct db *db;
static struct events *events;
static struct firmware *fw;
static struct fake_dongle f;
static struct dongle *dongle;
static struct engine *engine;
static char image_id[65];
static uint8_t image_fwid[10];
static size_t image_fwid_len;

/* --- the loop as the clock --- */

static bool run_until(cond_fn cond, void *ctx, uint64_t max_ms)
{
	return loop_run_until(&loop, &guard, cond, ctx, max_ms);
}

static bool never(void *ctx)
{
	(void)ctx;
	return false;
}

static void run_for(uint64_t ms)
{
	run_until(never, NULL, ms);
}

static uint64_t events_clock(void *userdata)
{
	return uv_now(userdata);
}

/* --- the database --- */

static int64_t sql_int(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int64_t sql_int(const char *fmt, ...)
{
	char text[512];
	sqlite3_stmt *st;
	int64_t v = -1;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (sqlite3_prepare_v2(db_handle(db), text, -1, &st, NULL) != SQLITE_OK) {
		printf("# %s: %s\n", text, sqlite3_errmsg(db_handle(db)));
		return -1;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static const char *sql_text(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *sql_text(const char *fmt, ...)
{
	static char out[512];
	char text[512];
	sqlite3_stmt *st;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	out[0] = '\0';
	if (sqlite3_prepare_v2(db_handle(db), text, -1, &st, NULL) != SQLITE_OK)
		return out;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		snprintf(out, sizeof(out), "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	return out;
}

static const char *campaign_state(int64_t id)
{
	return sql_text("SELECT state FROM campaigns WHERE id = %lld", (long long)id);
}

/* --- campaigns --- */

struct plan {
	uint32_t canary, percent, success, error, attempts;
	enum campaign_apply_policy policy;
};

static int64_t make_campaign(const char *name, const struct plan *p)
{
	struct campaign_selector sel = { .company_id = -1, .product_id = -1 };
	struct campaign_resolved *t = NULL;
	struct campaign c;
	enum campaign_state st;
	size_t n = 0, n_unknown = 0;
	int64_t id = -1;

	int r = campaigns_resolve(db, &sel, image_fwid, image_fwid_len, false, &t, &n, NULL, 0, &n_unknown);

	if (r < 0) {
		printf("# resolve: %s\n", strerror(-r));
		return -1;
	}
	campaign_init(&c);
	snprintf(c.name, sizeof(c.name), "%s", name);
	memcpy(c.firmware, image_id, 64);
	memcpy(c.fwid, image_fwid, image_fwid_len);
	c.fwid_len = image_fwid_len;
	c.canary = p->canary;
	c.wave_percent = p->percent;
	c.success_threshold = p->success;
	c.error_threshold = p->error;
	c.max_attempts = p->attempts;
	c.apply_policy = p->policy;
	c.ttl = 7;
	c.timeout_base = 0;
	c.group_address = 0xC101;
	snprintf(c.created_by, sizeof(c.created_by), "test");
	r = campaigns_create(db, events, &c, t, n);
	if (r == 0)
		r = campaigns_start(db, events, c.id, time_now_ms(), "test", &st);
	if (r == 0)
		id = c.id;
	else
		printf("# create or start: %s\n", strerror(-r));
	campaign_done(&c);
	free(t);
	engine_kick(engine);
	return id;
}

/* --- playing the Distributor --- */

struct want_dist {
	uint32_t not_id;        /* a distribution other than this one ... */
	uint8_t state;          /* ... in this state */
};

static bool dist_is(void *ctx)
{
	struct want_dist *w = ctx;

	return f.dist.id && f.dist.id != w->not_id && f.dist.state == w->state;
}

/* Waits for a new distribution to run; returns its id (0 = none came). */
static uint32_t next_dist(uint32_t after)
{
	struct want_dist w = { after, MSG_DIST_RUNNING };

	return run_until(dist_is, &w, 5000) ? f.dist.id : 0;
}

/* Every target of the running distribution ends: @fail_index (-1 = none) fails with @reason, the others are ok. */
static void end_dist(int fail_index, uint8_t reason)
{
	uint16_t ok = 0;

	for (uint16_t i = 0; i < f.dist.total; i++) {
		if (i == fail_index) {
			fake_dongle_dist_target(&f, i, MSG_DIST_PHASE_INITIATE, MSG_DIST_TARGET_FAILED, reason);
		} else {
			fake_dongle_dist_target(&f, i, MSG_DIST_PHASE_CONFIRM, MSG_DIST_OK, 0);
			ok++;
		}
	}
	fake_dongle_dist_state(&f, ok ? MSG_DIST_COMPLETED : MSG_DIST_FAILED, MSG_DIST_PHASE_DONE,
			       ok ? 0 : MSG_DIST_REASON_ALL_TARGETS_FAILED);
}

struct want_state {
	int64_t id;
	const char *state;
};

static bool campaign_is(void *ctx)
{
	struct want_state *w = ctx;

	return strcmp(campaign_state(w->id), w->state) == 0;
}

static bool wait_campaign(int64_t id, const char *state)
{
	struct want_state w = { id, state };

	return run_until(campaign_is, &w, 5000);
}

struct want_sql {
	const char *query;
	int64_t value;
};

static bool sql_is(void *ctx)
{
	struct want_sql *w = ctx;

	return sql_int("%s", w->query) == w->value;
}

static bool wait_sql(const char *query, int64_t value)
{
	struct want_sql w = { query, value };

	return run_until(sql_is, &w, 5000);
}

static void on_closed(struct dongle *d, void *userdata)
{
	(void)d;
	*(bool *)userdata = true;
}

static bool flag_set(void *ctx)
{
	return *(bool *)ctx;
}

static bool link_up(void *ctx)
{
	(void)ctx;
	return link_state(dongle_link(dongle)) == LINK_UP;
}

/* A restart of the daemon's engine: the old one goes, a new one reconciles. */
static void restart_engine(void)
{
	engine_close(engine);
	engine = NULL;
	run_for(20);
	is_int(engine_new(&loop, &(struct engine_options){ .flush_ms = 100, .tick_ms = 100 }, db, events, dongle, NULL,
			  NULL, fw, &engine), 0, "a new engine (as at a restart of the daemon)");
}

/* --- the cases --- */

static void test_canary_wave_retry(void)
{
	struct plan p = { .canary = 1, .percent = 100, .success = 50, .error = 50, .attempts = 2,
			  .policy = CAMPAIGN_APPLY_IMMEDIATE };
	uint32_t d1, d2, d3, d4;
	uint64_t commits;
	int64_t id = make_campaign("canary-wave-retry", &p);
	uint16_t failing;

	ok(id > 0, "a campaign of %d nodes: canary 1, then the rest", NODES);
	d1 = next_dist(0);
	ok(d1 != 0, "the canary's distribution runs");
	is_int(f.dist.total, 1, "with the canary's one target");
	is_int((int)f.slot_begins, 1, "after the image went to the slot");
	is_int(sql_int("SELECT distribution_id FROM campaign_waves WHERE campaign_id = %lld AND idx = 0", (long long)id),
	       d1, "the wave holds the distribution id");
	is_str(sql_text("SELECT state FROM campaign_waves WHERE campaign_id = %lld AND idx = 0", (long long)id),
	       "transferring", "wave 0 transferring");
	is_int(sql_int("SELECT count(*) FROM campaign_targets WHERE campaign_id = %lld AND wave = 0 AND attempts = 1 "
		       "AND apply_sent_at IS NULL", (long long)id), 1,
	       "its target's attempt counted, no apply_sent_at yet");
	is_int(f.dist.policy, MSG_DIST_POLICY_VERIFY_ONLY,
	       "an immediate campaign's distribution is verify-only too: the engine sends the apply");
	end_dist(-1, 0);
	d2 = next_dist(d1);
	ok(d2 != 0, "the next wave's distribution runs once the canary ended");
	is_int(f.dist.total, NODES - 1, "with the other %d targets", NODES - 1);
	is_int((int)f.slot_begins, 1, "the slot held the image: no second upload");
	is_str(sql_text("SELECT state FROM campaign_targets WHERE campaign_id = %lld AND wave = 0", (long long)id),
	       "succeeded", "the canary target succeeded (the dongle confirmed the FWID)");
	/* a burst of progress: the results are written in batches */
	commits = db_commit_count(db);
	for (int round = 0; round < 10; round++) {
		for (uint16_t i = 0; i < f.dist.total; i++)
			fake_dongle_dist_target(&f, i, round < 5 ? MSG_DIST_PHASE_BLOCK : MSG_DIST_PHASE_VERIFY,
						MSG_DIST_PENDING, 0);
		fake_dongle_dist_progress(&f, (uint16_t)round, 10, f.dist.total);
		run_for(50);
	}
	run_for(150);
	ok(db_commit_count(db) - commits <= 8, "90 target events in 0.65 s of loop time took %llu commits (batched)",
	   (unsigned long long)(db_commit_count(db) - commits));
	is_int(sql_int("SELECT count(*) FROM campaign_targets WHERE campaign_id = %lld AND state = 'verifying'",
		       (long long)id), NODES - 1, "and every target of the wave is verifying");
	failing = f.dist.t[3].address;
	end_dist(3, MSG_DIST_REASON_METADATA_REJECTED);
	d3 = next_dist(d2);
	ok(d3 != 0, "a retry wave runs at the end for the failed target with attempts left");
	is_int(f.dist.total, 1, "one target");
	is_int(f.dist.t[0].address, failing, "the one that failed");
	is_str(sql_text("SELECT last_result FROM campaign_targets WHERE campaign_id = %lld AND address = %u",
			(long long)id, failing), "metadata_rejected", "its first result is kept as last_result");
	is_str(sql_text("SELECT kind FROM campaign_waves WHERE campaign_id = %lld AND idx = 2", (long long)id), "retry",
	       "wave 2 is a retry wave");
	end_dist(0, MSG_DIST_REASON_METADATA_REJECTED);
	ok(wait_campaign(id, "completed"), "then the campaign completes (attempts used up)");
	is_str(sql_text("SELECT reason FROM campaign_targets WHERE campaign_id = %lld AND address = %u", (long long)id,
			failing), "metadata_rejected", "the failed target keeps the dongle's reason");
	is_int(sql_int("SELECT attempts FROM campaign_targets WHERE campaign_id = %lld AND address = %u",
		       (long long)id, failing), 2, "after 2 attempts");
	is_int(sql_int("SELECT count(*) FROM campaign_targets WHERE campaign_id = %lld AND state = 'succeeded'",
		       (long long)id), NODES - 1, "the others succeeded");
	d4 = f.dist.id;
	run_for(200);
	is_int((int)f.dist.id, (int)d4, "no distribution after the campaign ended");
}

static void test_thresholds(void)
{
	struct plan p = { .canary = 1, .percent = 100, .success = 100, .error = 100, .attempts = 1,
			  .policy = CAMPAIGN_APPLY_IMMEDIATE };
	uint32_t d;
	int64_t id = make_campaign("success-threshold", &p);

	d = next_dist(f.dist.id);
	ok(d != 0, "success threshold 100%%: the canary runs");
	end_dist(0, MSG_DIST_REASON_VERIFICATION_FAILED);
	ok(wait_campaign(id, "paused"), "its only target fails: the campaign pauses by itself");
	has_str(sql_text("SELECT reason FROM campaigns WHERE id = %lld", (long long)id),
		"0 of 1 targets succeeded (0%), below the success threshold of 100%", "the reason has the figures");
	is_int(sql_int("SELECT count(*) FROM campaign_waves WHERE campaign_id = %lld AND state = 'pending'",
		       (long long)id), 1, "the next wave waits");
	campaigns_cancel(db, events, id, "test", &(enum campaign_state){ 0 });

	p = (struct plan){ .canary = 2, .percent = 100, .success = 0, .error = 5, .attempts = 1,
			   .policy = CAMPAIGN_APPLY_IMMEDIATE };
	id = make_campaign("error-threshold", &p);
	d = next_dist(f.dist.id);
	ok(d != 0, "error threshold 5%%: the canary of 2 runs");
	end_dist(1, MSG_DIST_REASON_TIMEOUT_BLOCK);
	ok(wait_campaign(id, "paused"), "1 of %d targets failed (12%%): the campaign pauses by itself", NODES);
	is_str(sql_text("SELECT reason FROM campaigns WHERE id = %lld", (long long)id),
	       "error threshold crossed: 1 of 8 targets failed (12%), above the error threshold of 5%",
	       "the reason names the threshold and the figures");
	is_str(sql_text("SELECT reason FROM campaign_targets WHERE campaign_id = %lld AND state = 'failed'",
			(long long)id), "timeout_block", "the target's reason is the dongle's");
	campaigns_cancel(db, events, id, "test", &(enum campaign_state){ 0 });
	run_for(200);
}

static void test_pause_resume_cancel(void)
{
	struct plan p = { .canary = 0, .percent = 100, .success = 0, .error = 100, .attempts = 1,
			  .policy = CAMPAIGN_APPLY_IMMEDIATE };
	int64_t id = make_campaign("pause-resume-cancel", &p);
	uint32_t d = next_dist(f.dist.id);
	enum campaign_state st;

	ok(d != 0, "one wave of every node runs");
	is_int(f.dist.total, NODES, "%d targets", NODES);
	is_int(campaigns_set_state(db, events, id, CAMPAIGN_RUNNING, CAMPAIGN_PAUSED, "by test", false, NULL), 0,
	       "pause");
	ok(run_until(dist_is, &(struct want_dist){ 0, MSG_DIST_SUSPENDED }, 3000),
	   "the engine suspends the distribution");
	is_int((int)f.dist.suspends, 1, "one DIST_SUSPEND");
	is_int(campaigns_set_state(db, events, id, CAMPAIGN_PAUSED, CAMPAIGN_RUNNING, "resumed", false, NULL), 0,
	       "resume");
	ok(run_until(dist_is, &(struct want_dist){ 0, MSG_DIST_RUNNING }, 3000), "the engine resumes it");
	is_int((int)f.dist.resumes, 1, "one DIST_RESUME");
	fake_dongle_dist_target(&f, 0, MSG_DIST_PHASE_CONFIRM, MSG_DIST_OK, 0);
	run_for(300);
	is_int(campaigns_cancel(db, events, id, "test", &st), 0, "cancel");
	ok(run_until(dist_is, &(struct want_dist){ 0, MSG_DIST_CANCELLED }, 3000), "the engine cancels the distribution");
	is_int((int)f.dist.cancels, 1, "one DIST_CANCEL");
	run_for(300);
	is_int(sql_int("SELECT count(*) FROM campaign_targets WHERE campaign_id = %lld AND state = 'cancelled'",
		       (long long)id), NODES - 1, "the targets not done are cancelled");
	is_int(sql_int("SELECT count(*) FROM campaign_targets WHERE campaign_id = %lld AND state = 'succeeded'",
		       (long long)id), 1, "the one that succeeded before stays so");
}

static void test_verify_only_and_reconcile(void)
{
	struct plan p = { .canary = 0, .percent = 100, .success = 0, .error = 100, .attempts = 1,
			  .policy = CAMPAIGN_APPLY_VERIFY_ONLY };
	int64_t id = make_campaign("verify-only", &p);
	uint32_t d = next_dist(f.dist.id), d2;
	enum campaign_state st;
	size_t released;
	char q[256];

	ok(d != 0, "verify-only: the distribution runs");
	is_int(f.dist.policy, MSG_DIST_POLICY_VERIFY_ONLY, "with policy verify-only");
	is_int(sql_int("SELECT count(*) FROM campaign_targets WHERE campaign_id = %lld AND apply_sent_at IS NOT NULL",
		       (long long)id), 0, "no apply_sent_at yet");

	/* still running at a restart */
	for (uint16_t i = 0; i < f.dist.total; i++)
		fake_dongle_dist_target(&f, i, MSG_DIST_PHASE_BLOCK, MSG_DIST_PENDING, 0);
	run_for(200);
	restart_engine();
	{
		uint32_t pages = f.dist.pages;

		run_for(300);
		ok(f.dist.pages > pages, "the new engine read the targets (DIST_GET, DIST_TARGETS_GET)");
	}
	is_int((int)f.dist.id, (int)d, "and follows the same distribution");

	/* verified, then POST .../apply */
	for (uint16_t i = 0; i < f.dist.total; i++)
		fake_dongle_dist_target(&f, i, MSG_DIST_PHASE_VERIFY, MSG_DIST_PENDING, 0);
	fake_dongle_dist_state(&f, MSG_DIST_VERIFIED, MSG_DIST_PHASE_VERIFY, 0);
	snprintf(q, sizeof(q), "SELECT count(*) FROM campaign_waves WHERE campaign_id = %lld AND state = 'verified'",
		 (long long)id);
	ok(wait_sql(q, 1), "the wave stops in verified");
	is_int(sql_int("SELECT count(*) FROM campaign_targets WHERE campaign_id = %lld AND state = 'verified'",
		       (long long)id), NODES, "with its targets");
	run_for(200);
	is_int((int)f.dist.applies, 0, "nothing is applied without the operator");
	is_int(campaigns_apply(db, events, id, &st, &released), 0, "POST .../apply");
	ok(run_until(dist_is, &(struct want_dist){ 0, MSG_DIST_RUNNING }, 3000), "DIST_APPLY went out");
	is_int((int)f.dist.applies, 1, "once");
	is_int(sql_int("SELECT count(*) FROM campaign_targets WHERE campaign_id = %lld AND state = 'applying' AND "
		       "apply_sent_at IS NOT NULL", (long long)id), NODES, "apply_sent_at written before it");

	/* finished while the engine was away */
	engine_close(engine);
	engine = NULL;
	run_for(20);
	end_dist(2, MSG_DIST_REASON_WRONG_FIRMWARE_AFTER_APPLY);
	run_for(100);
	is_int(engine_new(&loop, &(struct engine_options){ .flush_ms = 100, .tick_ms = 100 }, db, events, dongle, NULL,
			  NULL, fw, &engine), 0, "an engine starts after the distribution ended");
	ok(wait_campaign(id, "completed"), "it collects the results and completes the campaign");
	is_int(sql_int("SELECT count(*) FROM campaign_targets WHERE campaign_id = %lld AND state = 'succeeded'",
		       (long long)id), NODES - 1, "%d succeeded", NODES - 1);
	is_str(sql_text("SELECT reason FROM campaign_targets WHERE campaign_id = %lld AND state = 'failed'",
			(long long)id), "wrong_firmware_after_apply", "one kept its old firmware");

	/* unknown: the dongle rebooted during the transfer */
	id = make_campaign("dongle-reboot", &p);
	d = next_dist(f.dist.id);
	ok(d != 0, "another campaign's distribution runs");
	snprintf(q, sizeof(q), "SELECT count(*) FROM campaigns WHERE id = %lld AND state = 'running' AND "
		 "reason = 'waiting for the dongle'", (long long)id);
	fake_dongle_unplug(&f);
	ok(wait_sql(q, 1), "unplugged: the campaign stays running, its reason 'waiting for the dongle'");
	is_int(fake_dongle_replug(&f), 0, "plugged in again");
	ok(wait_sql(q, 0), "the reason goes once the link is back");
	is_str(campaign_state(id), "running", "still running");
	run_for(200);
	is_int((int)f.dist.id, (int)d, "the distribution kept running on the dongle: the engine follows it");
	fake_dongle_reboot(&f, MSG_RESET_WATCHDOG);
	fake_dongle_send_log(&f, MSG_LOG_INFO, "core", "boot", 0);
	d2 = next_dist(d);
	ok(d2 != 0 && d2 != d, "after the reboot the wave is issued again under a new id");
	is_int(f.dist.total, NODES, "for every target without a result");
	is_int(sql_int("SELECT distribution_id FROM campaign_waves WHERE campaign_id = %lld AND idx = 0", (long long)id),
	       d2, "the wave holds the new id");
	is_int(sql_int("SELECT max(attempts) FROM campaign_targets WHERE campaign_id = %lld", (long long)id), 1,
	       "the same attempt (the dongle lost it, the node did not fail)");
	end_dist(-1, 0);
	ok(wait_campaign(id, "completed"), "the re-issued wave ends and the campaign completes");
	is_int(sql_int("SELECT count(*) FROM campaign_targets WHERE campaign_id = %lld AND state = 'succeeded'",
		       (long long)id), NODES, "every target succeeded");
}

/* Immediate campaigns: the dongle verifies only, the engine applies. A reboot of the dongle while the targets
 * verify (before any apply) re-issues them; once the apply is recorded, a reboot reads back instead. */
static void test_immediate_apply(void)
{
	struct plan p = { .canary = 0, .percent = 100, .success = 0, .error = 100, .attempts = 1,
			  .policy = CAMPAIGN_APPLY_IMMEDIATE };
	int64_t id = make_campaign("immediate", &p);
	uint32_t d = next_dist(f.dist.id), d2, applies = f.dist.applies;
	char q[256];

	ok(d != 0, "immediate: the distribution runs");
	for (uint16_t i = 0; i < f.dist.total; i++)
		fake_dongle_dist_target(&f, i, MSG_DIST_PHASE_VERIFY, MSG_DIST_PENDING, 0);
	run_for(200);
	fake_dongle_reboot(&f, MSG_RESET_WATCHDOG);
	fake_dongle_send_log(&f, MSG_LOG_INFO, "core", "boot", 0);
	d2 = next_dist(d);
	ok(d2 != 0 && d2 != d, "the dongle rebooted while its targets verified: nothing was applied, the wave goes "
	   "again under a new id");
	is_int(f.dist.total, NODES, "with every target");
	is_int(sql_int("SELECT count(*) FROM campaign_targets WHERE campaign_id = %lld AND apply_sent_at IS NOT NULL",
		       (long long)id), 0, "no apply_sent_at");

	for (uint16_t i = 0; i < f.dist.total; i++)
		fake_dongle_dist_target(&f, i, MSG_DIST_PHASE_VERIFY, MSG_DIST_PENDING, 0);
	fake_dongle_dist_state(&f, MSG_DIST_VERIFIED, MSG_DIST_PHASE_VERIFY, 0);
	ok(run_until(dist_is, &(struct want_dist){ 0, MSG_DIST_RUNNING }, 3000),
	   "verified: the engine sends DIST_APPLY by itself");
	is_int((int)(f.dist.applies - applies), 1, "once");
	is_int(sql_int("SELECT count(*) FROM campaign_targets WHERE campaign_id = %lld AND state = 'applying' AND "
		       "apply_sent_at IS NOT NULL", (long long)id), NODES, "every target applying, apply_sent_at written");
	snprintf(q, sizeof(q), "SELECT count(*) FROM campaign_waves WHERE campaign_id = %lld AND state = 'applying'",
		 (long long)id);
	is_int(sql_int("%s", q), 1, "the wave applying");

	fake_dongle_reboot(&f, MSG_RESET_WATCHDOG);
	fake_dongle_send_log(&f, MSG_LOG_INFO, "core", "boot", 0);
	snprintf(q, sizeof(q), "SELECT count(*) FROM campaigns WHERE id = %lld AND reason LIKE 'waiting to read back "
		 "the firmware of %d node(s)%%'", (long long)id, NODES);
	ok(wait_sql(q, 1), "the dongle rebooted during the apply: the engine reads the nodes back first (no mesh "
	   "client here: it says it waits)");
	run_for(300);
	is_int((int)f.dist.id, 0, "and issues nothing again: a node is never applied twice");
	/* the applying wave waits for its read-back, which a cancel leaves alone: this case comes last */
}

/* The error threshold is checked as failures come, not only when a wave ends. */
static void test_error_threshold_mid_wave(void)
{
	struct plan p = { .canary = 0, .percent = 100, .success = 0, .error = 10, .attempts = 2,
			  .policy = CAMPAIGN_APPLY_IMMEDIATE };
	int64_t id = make_campaign("error-threshold-mid-wave", &p);
	uint16_t failed = 0;
	uint32_t retry_wave = 0;
	size_t n = 0;
	uint32_t d = next_dist(f.dist.id), suspends = f.dist.suspends;

	ok(d != 0, "error threshold 10%%: one wave of %d runs", NODES);
	for (uint16_t i = 1; i < f.dist.total; i++)
		fake_dongle_dist_target(&f, i, MSG_DIST_PHASE_BLOCK, MSG_DIST_PENDING, 0);
	fake_dongle_dist_target(&f, 0, MSG_DIST_PHASE_INITIATE, MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_TIMEOUT_BLOCK);
	ok(wait_campaign(id, "paused"), "one target fails mid-wave (1 of 8, 12%%): the campaign pauses at once");
	is_str(sql_text("SELECT reason FROM campaigns WHERE id = %lld", (long long)id),
	       "error threshold crossed: 1 of 8 targets failed (12%), above the error threshold of 10%",
	       "with the figures");
	ok(run_until(dist_is, &(struct want_dist){ 0, MSG_DIST_SUSPENDED }, 3000), "and the distribution is suspended");
	is_int((int)(f.dist.suspends - suspends), 1, "one DIST_SUSPEND");
	failed = f.dist.t[0].address;
	is_int(campaigns_retry(db, events, id, &(enum campaign_state){ 0 }, &n, &retry_wave), 0,
	       "the operator retries the failed target while its wave still runs");
	fake_dongle_dist_target(&f, 0, MSG_DIST_PHASE_INITIATE, MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_TIMEOUT_BLOCK);
	run_for(300);
	is_str(sql_text("SELECT state FROM campaign_targets WHERE campaign_id = %lld AND address = %u", (long long)id,
			failed), "pending", "a late result of the old wave leaves the retried target alone");
	is_int(campaigns_set_state(db, events, id, CAMPAIGN_PAUSED, CAMPAIGN_RUNNING, "resumed", false, NULL), 0,
	       "the operator resumes");
	ok(run_until(dist_is, &(struct want_dist){ 0, MSG_DIST_RUNNING }, 3000), "the distribution resumes");
	run_for(300);
	is_str(campaign_state(id), "running", "the same failure does not pause it again");
	end_dist(-1, 0);
	d = next_dist(d);
	ok(d != 0, "the wave ends without new failures; the retry wave runs");
	is_int(f.dist.total, 1, "with the retried target");
	end_dist(-1, 0);
	ok(wait_campaign(id, "completed"), "the campaign completes");
	is_int(sql_int("SELECT count(*) FROM campaign_targets WHERE campaign_id = %lld AND state = 'succeeded'",
		       (long long)id), NODES, "all %d succeeded", NODES);
}

/* --- setup --- */

static int setup(void)
{
	struct network_import_result res;
	struct firmware_import in = { .format = FIRMWARE_FORMAT_RAW, .company_id = 0x59, .has_version = true,
				      .version = { 2, 0, 0, 0 }, .imported_by = "test" };
	struct fake_dongle_options fo = { .mode = FAKE_MESHFLEET, .dist = true };
	struct dongle_options dopt = { 0 };
	struct firmware_record rec;
	struct firmware_error ferr;
	char path[256], err[512], *text;
	uint8_t image[3000];
	bool created;
	long size;
	FILE *file;

	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/test.db", dir);
	if (db_open(path, &db, err, sizeof(err)) < 0) {
		printf("# %s\n", err);
		return -1;
	}
	if (events_new(db, &(struct events_options){ .clock = events_clock, .clock_userdata = &loop }, &events) < 0)
		return -1;
	file = fopen(SAMPLE, "r");
	if (!file)
		return -1;
	fseek(file, 0, SEEK_END);
	size = ftell(file);
	rewind(file);
	text = malloc((size_t)size);
	if (!text || fread(text, 1, (size_t)size, file) != (size_t)size) {
		fclose(file);
		return -1;
	}
	fclose(file);
	if (network_import(db, text, (size_t)size, false, &res, err, sizeof(err)) < 0) {
		printf("# import: %s\n", err);
		free(text);
		return -1;
	}
	free(text);
	/* the sample's nodes have no DFU models in their composition: say they can be updated */
	if (sqlite3_exec(db_handle(db), "UPDATE nodes SET dfu_capable = 1, firmware_id = NULL", NULL, NULL, NULL) != 0)
		return -1;
	if (firmware_new(&(struct firmware_options){ .state_dir = dir, .db = db }, &fw, err, sizeof(err)) < 0) {
		printf("# %s\n", err);
		return -1;
	}
	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (uint8_t)(i * 7u + 3u);
	if (firmware_import(fw, image, sizeof(image), &in, &rec, &created, &ferr) < 0) {
		printf("# firmware: %s\n", ferr.message);
		return -1;
	}
	memcpy(image_id, rec.id, sizeof(image_id));
	memcpy(image_fwid, rec.firmware_id, rec.firmware_id_len);
	image_fwid_len = rec.firmware_id_len;
	snprintf(path, sizeof(path), "%s/dongle", dir);
	if (fake_dongle_init(&f, &loop, path, &fo) < 0)
		return -1;
	dopt.link = (struct link_options){ .path = path, .kind = TRANSPORT_TERMIOS, .request_timeout_ms = 100,
					   .slow_timeout_ms = 300, .hello_timeout_ms = 100, .hello_attempts = 3,
					   .reconnect_min_ms = 20, .reconnect_max_ms = 160 };
	if (dongle_new(&loop, &dopt, NULL, &dongle) < 0 || dongle_start(dongle) < 0)
		return -1;
	if (!run_until(link_up, NULL, 3000))
		return -1;
	return engine_new(&loop, &(struct engine_options){ .flush_ms = 100, .tick_ms = 100 }, db, events, dongle, NULL,
			  NULL, fw, &engine);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void remove_tree(const char *path)
{
	if (nftw(path, remove_one, 8, FTW_DEPTH | FTW_PHYS) < 0)
		printf("# could not remove %s\n", path);
}

static bool fake_closed(void *ctx)
{
	return ((struct fake_dongle *)ctx)->open_handles == 0;
}

int main(void)
{
	int fd = posix_openpt(O_RDWR | O_NOCTTY);
	bool closed = false;

	if (fd < 0) {
		printf("1..0 # SKIP no pseudo-terminals here (%s)\n", strerror(errno));
		return 0;
	}
	close(fd);
	log_set_level(getenv("MF_TEST_DEBUG") ? LOG_DEBUG : LOG_WARNING);
	uv_loop_init(&loop);
	uv_timer_init(&loop, &guard);
	if (setup() < 0) {
		printf("Bail out! setup failed\n");
		return 1;
	}
	test_canary_wave_retry();
	test_thresholds();
	test_pause_resume_cancel();
	test_verify_only_and_reconcile();
	test_error_threshold_mid_wave();
	test_immediate_apply();

	engine_close(engine);
	dongle_stop(dongle, on_closed, &closed);
	ok(run_until(flag_set, &closed, 2000), "the dongle client stops");
	dongle_free(dongle);
	fake_dongle_close(&f);
	run_until(fake_closed, &f, 1000);
	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	is_int(uv_loop_close(&loop), 0, "every handle closed");
	firmware_free(fw);
	events_free(events);
	db_free(db);
	remove_tree(dir);
	return done_testing();
}
