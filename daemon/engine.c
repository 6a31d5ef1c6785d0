/* engine: see engine.h; the rules are in docs/campaigns.md, "The engine".
 *
 * The engine is level-triggered: engine_run() looks at the database (the campaigns' states as the operator and the
 * engine left them) and at what it knows of the dongle, and takes the next step of the job. Every asynchronous step
 * (a dongle request, the upload, a group job, a read-back) sets `busy`; its completion clears it and kicks the
 * engine again. So a restart, an unplug and an operator's action all take the same path: look, then act.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "campaigns.h"
#include "engine.h"
#include "log.h"
#include "mesh_access.h"
#include "mesh_dfu.h"
#include "network.h"
#include "util.h"

#define ENGINE_READBACK_IMAGES 8        /* firmware entries asked for in a read-back, as discovery does */
#define ENGINE_IMAGE_INDEX 0            /* the image a target updates: its first (nRF Connect SDK has one) */

/* What the job waits for, beyond the wave's state in the database. */
enum job_step {
	STEP_NONE,              /* nothing outstanding: engine_run() decides */
	STEP_SYNC,              /* DIST_GET / DIST_TARGETS_GET after the link came up or the job was loaded */
	STEP_UNSUBSCRIBE,       /* a group job unsubscribing the group's other members */
	STEP_SUBSCRIBE,         /* a group job subscribing the wave's targets */
	STEP_SLOT,              /* SLOT_INFO: does the slot hold the image? */
	STEP_UPLOAD,            /* the image goes to the slot */
	STEP_START,             /* DIST_START batches */
	STEP_FOLLOW,            /* the distribution runs: events */
	STEP_COLLECT,           /* the final DIST_TARGETS_GET */
	STEP_COMMAND,           /* DIST_SUSPEND, _RESUME, _CANCEL or _APPLY */
	STEP_READBACK,          /* reading FWIDs back before the wave is issued again */
};

/* One target result waiting for the next flush. */
struct write {
	uint16_t address;
	enum campaign_target_state to;
	char reason[48];
	bool restart;           /* a step back to preparing (the wave is issued again) */
	bool apply_sent;        /* set apply_sent_at: an apply may reach the node from now on */
};

struct node_ref {
	uint16_t address;       /* the node's primary address (campaign_targets) */
	uint16_t element;       /* the address of its Firmware Update Server: what the dongle lists */
};

struct engine {
	uv_loop_t *loop;
	struct engine_options o;
	struct db *db;
	struct events *events;
	struct dongle *dongle;
	struct groups *groups;
	struct mesh_client *mesh;
	struct firmware *firmware;
	struct events_sub *sub;
	uv_timer_t tick, kick;
	int open_handles;
	unsigned outstanding;   /* dongle requests and the upload, whose callbacks refer to the engine */
	bool closing;
	bool link_up;
	bool running;           /* inside engine_run(): kicks only set again */
	bool again;
	bool waited;            /* this pass of run_once() set a waiting reason */
	bool publishing_reason; /* set_waiting() publishes: its own event does not run the engine again */

	struct {
		bool active;
		int64_t campaign;
		uint32_t wave;
		uint32_t dist_id;
		enum job_step step;
		bool synced;                    /* the dongle's view is known since the link came up */
		uint8_t dist_state, dist_phase, dist_reason;
		bool others_removed;            /* the group's members outside this wave were unsubscribed */
		bool subscribed;                /* the group job of this wave ended */
		uint16_t group;                 /* the group of this wave's distribution; 0 = unicast */
		bool collected;                 /* the final DIST_TARGETS_GET of a finished distribution is in */
		bool readback_done;             /* the targets whose apply may have been sent were read back */
		bool cancel_done;               /* the targets to issue again were sent Firmware Update Cancel */
		uint32_t failed_at_start;       /* the campaign's failed targets when the wave began, or when the
						 * error threshold last paused it */
		bool new_failures;              /* a flush wrote failures the error threshold has not seen */
		bool slot_ok;                   /* the slot holds the image */
		bool need_upload;               /* SLOT_INFO said it does not */
		struct node_ref *nodes;         /* owned: the wave's targets, by address */
		size_t n_nodes;
		uint8_t *image;                 /* owned while uploading */
		uint64_t first_progress_ms;
		uint16_t blocks_done, blocks, targets_active;
		char waiting[CAMPAIGN_REASON_MAX + 1];  /* the reason the engine wrote while waiting; "" = none */
		/* read-back */
		uint16_t *readback;             /* owned: node addresses to ask ... */
		uint8_t *readback_late;         /* owned: ... and whether each was verifying or later */
		size_t n_readback, readback_next;
		uint8_t fwid[CAMPAIGN_FWID_MAX];
		size_t fwid_len;
	} job;

	struct write *writes;           /* owned: ENGINE_WRITES_MAX */
	size_t n_writes;
	uint64_t last_flush_ms;
};

static void engine_run(struct engine *e);
static void on_kick(uv_timer_t *t);
static void job_clear(struct engine *e);

/* --- small helpers ------------------------------------------------------------------------------------------ */

static void engine_free(struct engine *e);

/* At the start of every dongle callback: false when the engine is closing (it is freed with the last one). */
static bool reply_enter(struct engine *e)
{
	e->outstanding--;
	if (!e->closing)
		return true;
	if (e->outstanding == 0 && e->open_handles == 0)
		engine_free(e);
	return false;
}

static void schedule(struct engine *e)
{
	if (e->closing)
		return;
	if (e->running) {
		e->again = true;
		return;
	}
	uv_timer_start(&e->kick, on_kick, 0, 0);
}

void engine_kick(struct engine *e)
{
	if (e)
		schedule(e);
}

void engine_job(const struct engine *e, int64_t *ret_campaign, uint32_t *ret_wave, uint32_t *ret_dist_id)
{
	*ret_campaign = e->job.active ? e->job.campaign : 0;
	*ret_wave = e->job.wave;
	*ret_dist_id = e->job.dist_id;
}

/* Order of the target states along an attempt; results move forward only (an event may arrive late). */
static int target_rank(enum campaign_target_state s)
{
	switch (s) {
	case CAMPAIGN_TARGET_PENDING:
		return 0;
	case CAMPAIGN_TARGET_PREPARING:
		return 1;
	case CAMPAIGN_TARGET_TRANSFERRING:
		return 2;
	case CAMPAIGN_TARGET_VERIFYING:
		return 3;
	case CAMPAIGN_TARGET_VERIFIED:
		return 4;
	case CAMPAIGN_TARGET_APPLYING:
		return 5;
	case CAMPAIGN_TARGET_CONFIRMING:
		return 6;
	case CAMPAIGN_TARGET_SUCCEEDED:
	case CAMPAIGN_TARGET_FAILED:
	case CAMPAIGN_TARGET_SKIPPED:
	case CAMPAIGN_TARGET_CANCELLED:
		return 7;
	}
	return 7;
}

static int wave_rank(enum campaign_wave_state s)
{
	switch (s) {
	case CAMPAIGN_WAVE_PENDING:
		return 0;
	case CAMPAIGN_WAVE_PREPARING:
		return 1;
	case CAMPAIGN_WAVE_TRANSFERRING:
		return 2;
	case CAMPAIGN_WAVE_VERIFYING:
		return 3;
	case CAMPAIGN_WAVE_VERIFIED:
		return 4;
	case CAMPAIGN_WAVE_APPLYING:
		return 5;
	case CAMPAIGN_WAVE_CONFIRMING:
		return 6;
	case CAMPAIGN_WAVE_DONE:
	case CAMPAIGN_WAVE_CANCELLED:
		return 7;
	}
	return 7;
}

/* Whether the target table leads from @from to @to by forward steps (so an event that skipped the states between,
 * e.g. transferring -> succeeded, is written as the table allows it). */
static bool target_reachable(enum campaign_target_state from, enum campaign_target_state to)
{
	bool seen[CAMPAIGN_TARGET_STATE_COUNT] = { false };
	enum campaign_target_state queue[CAMPAIGN_TARGET_STATE_COUNT];
	size_t head = 0, tail = 0;

	if (target_rank(to) <= target_rank(from))
		return false;
	queue[tail++] = from;
	seen[from] = true;
	while (head < tail) {
		enum campaign_target_state s = queue[head++];

		for (int n = 0; n < CAMPAIGN_TARGET_STATE_COUNT; n++) {
			enum campaign_target_state next = (enum campaign_target_state)n;

			if (seen[n] || target_rank(next) <= target_rank(s) || !campaign_target_transition_allowed(s, next))
				continue;
			if (next == to)
				return true;
			seen[n] = true;
			queue[tail++] = next;
		}
	}
	return false;
}

static int read_wave(struct engine *e, int64_t campaign, uint32_t wave, enum campaign_wave_state *ret_state,
		     uint32_t *ret_dist_id)
{
	sqlite3_stmt *st = db_stmt(e->db, "SELECT state, coalesce(distribution_id, 0) FROM campaign_waves "
				   "WHERE campaign_id = ?1 AND idx = ?2");
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, campaign);
	sqlite3_bind_int64(st, 2, wave);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? -ENOENT : db_result(e->db, rc, "read a wave");
	}
	if (campaign_wave_state_from_string((const char *)sqlite3_column_text(st, 0), ret_state) < 0) {
		sqlite3_reset(st);
		return -EBADMSG;
	}
	if (ret_dist_id)
		*ret_dist_id = (uint32_t)sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return 0;
}

/* Moves wave @wave forward to @to through the states the table allows (each step a checked transition of
 * campaigns.c, logged and published). Returns 0 (also when it is there already) or the error of the step. */
static int wave_advance(struct engine *e, int64_t campaign, uint32_t wave, enum campaign_wave_state to, bool durable)
{
	for (int guard = 0; guard < CAMPAIGN_WAVE_STATE_COUNT; guard++) {
		enum campaign_wave_state cur, next = to;
		int r = read_wave(e, campaign, wave, &cur, NULL);

		if (r < 0)
			return r;
		if (cur == to)
			return 0;
		if (!campaign_wave_transition_allowed(cur, to)) {
			/* the first forward state from which @to can go on */
			next = cur;
			for (int n = wave_rank(cur) + 1; n <= wave_rank(to); n++)
				for (int s = 0; s < CAMPAIGN_WAVE_STATE_COUNT; s++)
					if (wave_rank((enum campaign_wave_state)s) == n && next == cur &&
					    campaign_wave_transition_allowed(cur, (enum campaign_wave_state)s) &&
					    (enum campaign_wave_state)s != CAMPAIGN_WAVE_VERIFIED)
						next = (enum campaign_wave_state)s;
			if (next == cur)
				return -EPERM;
		}
		r = campaigns_wave_set_state(e->db, e->events, campaign, wave, next, durable, NULL);
		if (r < 0)
			return r;
	}
	return -ELOOP;
}

/* Sets the campaign's reason without a change of state (waiting for the dongle, and back). */
static void set_waiting(struct engine *e, const char *why)
{
	sqlite3_stmt *st;
	json_t *o;

	if (*why)
		e->waited = true;
	if (!e->job.active || strcmp(e->job.waiting, why) == 0)
		return;
	st = db_stmt(e->db, "UPDATE campaigns SET reason = ?2, updated_at = ?3 WHERE id = ?1 AND state = 'running'");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, e->job.campaign);
	if (*why)
		sqlite3_bind_text(st, 2, why, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, time_now_ms());
	if (db_result(e->db, sqlite3_step(st), "write a campaign's reason") < 0)
		return;
	snprintf(e->job.waiting, sizeof(e->job.waiting), "%s", why);
	if (*why)
		log_notice("campaign %" PRId64 ": %s", e->job.campaign, why);
	o = json_pack("{s:I, s:s, s:s, s:s?}", "campaign", (json_int_t)e->job.campaign, "action", "reason", "state",
		      "running", "reason", *why ? why : NULL);
	e->publishing_reason = true;
	if (o)
		events_publish(e->events, EVENT_CAMPAIGN, o);
	e->publishing_reason = false;
}

/* --- batched target results ------------------------------------------------------------------------------------ */

static void queue_write(struct engine *e, uint16_t address, enum campaign_target_state to, const char *reason,
			bool restart, bool apply_sent)
{
	struct write *w;

	for (size_t i = 0; i < e->n_writes; i++)
		if (e->writes[i].address == address && !e->writes[i].restart && !restart) {
			w = &e->writes[i];      /* a later result of the same target replaces the earlier one */
			goto fill;
		}
	if (e->n_writes >= ENGINE_WRITES_MAX)
		return;                 /* cannot happen: one entry per target, and a wave holds at most that many */
	w = &e->writes[e->n_writes++];
	memset(w, 0, sizeof(*w));
fill:
	w->address = address;
	w->to = to;
	snprintf(w->reason, sizeof(w->reason), "%s", reason ? reason : "");
	w->restart = restart;
	w->apply_sent = apply_sent || w->apply_sent;
}

/* One target event per group of targets that made the same transition, as campaigns.c publishes them. */
static void publish_group(struct engine *e, const uint16_t *addresses, size_t n, enum campaign_target_state from,
			  enum campaign_target_state to, const char *reason)
{
	json_t *list = json_array(), *o;

	for (size_t i = 0; list && i < n; i++)
		json_array_append_new(list, json_integer(addresses[i]));
	o = json_pack("{s:I, s:o, s:s, s:s, s:s?}", "campaign", (json_int_t)e->job.campaign, "addresses",
		      list ? list : json_null(), "from", campaign_target_state_to_string(from), "state",
		      campaign_target_state_to_string(to), "reason", reason && *reason ? reason : NULL);
	if (o)
		events_publish(e->events, EVENT_TARGET, o);
}

/* Writes the queued results in one transaction (durable when @durable). A result the table does not lead to from
 * the target's current state (a late event, a target the operator cancelled meanwhile) is dropped. */
static int flush(struct engine *e, bool durable)
{
	/* only the job's wave: a target that POST .../retry moved to a retry wave meanwhile is not the one this
	 * result is about */
	sqlite3_stmt *get = db_stmt(e->db, "SELECT state FROM campaign_targets WHERE campaign_id = ?1 AND address = ?2 "
				    "AND wave = ?3");
	sqlite3_stmt *set = db_stmt(e->db, "UPDATE campaign_targets SET state = ?3, reason = ?4, updated_at = ?5, "
				    "attempts = attempts + (?3 = 'preparing' AND state = 'pending'), "
				    "apply_sent_at = CASE WHEN ?6 THEN coalesce(apply_sent_at, ?5) ELSE apply_sent_at END "
				    "WHERE campaign_id = ?1 AND address = ?2 AND wave = ?7");
	struct { uint16_t address; enum campaign_target_state from, to; const char *reason; } *done = NULL;
	size_t n_done = 0;
	int64_t now = time_now_ms();
	int r;

	e->last_flush_ms = uv_now(e->loop);
	if (e->n_writes == 0)
		return 0;
	if (!get || !set)
		return -EIO;
	done = calloc(e->n_writes, sizeof(*done));
	if (!done)
		return -ENOMEM;
	r = durable ? db_begin_durable(e->db) : db_begin(e->db);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < e->n_writes; i++) {
		struct write *w = &e->writes[i];
		enum campaign_target_state from;
		int rc;

		sqlite3_reset(get);
		sqlite3_bind_int64(get, 1, e->job.campaign);
		sqlite3_bind_int(get, 2, w->address);
		sqlite3_bind_int64(get, 3, e->job.wave);
		rc = sqlite3_step(get);
		if (rc != SQLITE_ROW) {
			sqlite3_reset(get);
			if (rc == SQLITE_DONE)
				continue;
			r = db_result(e->db, rc, "read a target's state");
			goto fail;
		}
		r = campaign_target_state_from_string((const char *)sqlite3_column_text(get, 0), &from);
		sqlite3_reset(get);
		if (r < 0)
			goto fail;
		if (from == w->to && !w->apply_sent)
			continue;
		if (from != w->to && !(w->restart ? campaign_target_transition_allowed(from, w->to) :
				       target_reachable(from, w->to)))
			continue;
		sqlite3_reset(set);
		sqlite3_bind_int64(set, 1, e->job.campaign);
		sqlite3_bind_int(set, 2, w->address);
		sqlite3_bind_text(set, 3, campaign_target_state_to_string(w->to), -1, SQLITE_STATIC);
		if (w->reason[0])
			sqlite3_bind_text(set, 4, w->reason, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(set, 4);
		sqlite3_bind_int64(set, 5, now);
		sqlite3_bind_int(set, 6, w->apply_sent);
		sqlite3_bind_int64(set, 7, e->job.wave);
		r = db_result(e->db, sqlite3_step(set), "write a target's result");
		if (r < 0)
			goto fail;
		if (from != w->to)
			done[n_done++] = (typeof(*done)){ w->address, from, w->to, w->reason };
	}
	r = db_commit(e->db);
	if (r < 0)
		goto fail;
	for (size_t i = 0; i < n_done; i++)
		e->job.new_failures |= done[i].to == CAMPAIGN_TARGET_FAILED;
	/* log and publish, one event per run of the same transition */
	for (size_t i = 0; i < n_done;) {
		uint16_t addresses[CAMPAIGN_EVENT_ADDRESSES_MAX];
		size_t n = 0, j = i;

		while (j < n_done && n < CAMPAIGN_EVENT_ADDRESSES_MAX && done[j].from == done[i].from &&
		       done[j].to == done[i].to && strcmp(done[j].reason, done[i].reason) == 0)
			addresses[n++] = done[j++].address;
		log_debug("campaign %" PRId64 ": %zu target(s) %s -> %s%s%s", e->job.campaign, n,
			  campaign_target_state_to_string(done[i].from), campaign_target_state_to_string(done[i].to),
			  *done[i].reason ? ": " : "", done[i].reason);
		publish_group(e, addresses, n, done[i].from, done[i].to, done[i].reason);
		i = j;
	}
	e->n_writes = 0;
	goto out;
fail:
	db_rollback(e->db);
	log_err("campaign %" PRId64 ": writing %zu target results failed (%s); they are written again with the next "
		"ones", e->job.campaign, e->n_writes, strerror(-r));
out:
	free(done);
	return r;
}

static void flush_if_due(struct engine *e)
{
	if (e->n_writes && uv_now(e->loop) - e->last_flush_ms >= e->o.flush_ms)
		flush(e, false);
}

/* --- the job's targets -------------------------------------------------------------------------------------- */

static int load_nodes(struct engine *e)
{
	sqlite3_stmt *st = db_stmt(e->db, "SELECT t.address, coalesce(c.element, 0) FROM campaign_targets t "
				   "LEFT JOIN node_config c ON c.address = t.address "
				   "WHERE t.campaign_id = ?1 AND t.wave = ?2 ORDER BY t.address");
	struct node_ref *nodes;
	size_t n = 0;
	int rc;

	if (!st)
		return -EIO;
	nodes = calloc(CAMPAIGN_TARGETS_MAX, sizeof(*nodes));
	if (!nodes)
		return -ENOMEM;
	sqlite3_bind_int64(st, 1, e->job.campaign);
	sqlite3_bind_int64(st, 2, e->job.wave);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < CAMPAIGN_TARGETS_MAX) {
		nodes[n].address = (uint16_t)sqlite3_column_int(st, 0);
		nodes[n].element = (uint16_t)(nodes[n].address + sqlite3_column_int(st, 1));
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		free(nodes);
		return db_result(e->db, rc, "list a wave's targets");
	}
	free(e->job.nodes);
	e->job.nodes = nodes;
	e->job.n_nodes = n;
	return 0;
}

/* The node whose Firmware Update Server has @element (the dongle's address of a target); 0 = none of the wave. */
static uint16_t node_of(const struct engine *e, uint16_t element)
{
	for (size_t i = 0; i < e->job.n_nodes; i++)
		if (e->job.nodes[i].element == element)
			return e->job.nodes[i].address;
	return 0;
}

/* The wave's targets in @state (by address) into @out (CAMPAIGN_TARGETS_MAX entries). */
static int targets_in(struct engine *e, enum campaign_target_state state, uint16_t *out, size_t *ret_n)
{
	sqlite3_stmt *st = db_stmt(e->db, "SELECT address FROM campaign_targets WHERE campaign_id = ?1 AND wave = ?2 "
				   "AND state = ?3 ORDER BY address");
	size_t n = 0;
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, e->job.campaign);
	sqlite3_bind_int64(st, 2, e->job.wave);
	sqlite3_bind_text(st, 3, campaign_target_state_to_string(state), -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < CAMPAIGN_TARGETS_MAX)
		out[n++] = (uint16_t)sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	*ret_n = n;
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_result(e->db, rc, "list a wave's targets by state");
}

/* The result of one target as the dongle reports it (a DIST_TARGET event or a DIST_TARGETS_GET entry). */
static void take_target(struct engine *e, const struct msg_dist_target_info *t, bool final)
{
	uint16_t node = node_of(e, t->address);
	enum campaign_target_state to;

	if (!node)
		return;
	switch ((enum msg_dist_result)t->result) {
	case MSG_DIST_OK:
		/* ok = the dongle read the campaign's FWID back after the apply (DIST_START carries it) */
		queue_write(e, node, CAMPAIGN_TARGET_SUCCEEDED, NULL, false, false);
		return;
	case MSG_DIST_TARGET_FAILED:
		queue_write(e, node, CAMPAIGN_TARGET_FAILED, msg_dist_reason_to_string(t->reason), false, false);
		return;
	case MSG_DIST_TARGET_CANCELLED:
		queue_write(e, node, CAMPAIGN_TARGET_CANCELLED, "cancelled", false, false);
		return;
	case MSG_DIST_PENDING:
		break;
	}
	switch ((enum msg_dist_phase)t->phase) {
	case MSG_DIST_PHASE_IDLE:
	case MSG_DIST_PHASE_DONE:
		return;
	case MSG_DIST_PHASE_INITIATE:
	case MSG_DIST_PHASE_CAPABILITIES:
	case MSG_DIST_PHASE_TRANSFER:
	case MSG_DIST_PHASE_BLOCK:
		to = CAMPAIGN_TARGET_TRANSFERRING;
		break;
	case MSG_DIST_PHASE_VERIFY:
		to = CAMPAIGN_TARGET_VERIFYING;
		break;
	case MSG_DIST_PHASE_APPLY:
		to = CAMPAIGN_TARGET_APPLYING;
		break;
	case MSG_DIST_PHASE_CONFIRM:
		to = CAMPAIGN_TARGET_CONFIRMING;
		break;
	default:
		return;         /* a phase of a newer dongle: its result will tell */
	}
	/* a distribution that ended with the target still pending (it never answered the last round) */
	if (final)
		queue_write(e, node, CAMPAIGN_TARGET_FAILED, "no_result", false, false);
	else
		queue_write(e, node, to, NULL, false, false);
}

/* --- progress ----------------------------------------------------------------------------------------------- */

int64_t engine_transfer_eta_ms(const struct engine *e)
{
	uint64_t elapsed;

	if (!e || !e->job.active || !e->job.blocks || !e->job.blocks_done || e->job.blocks_done > e->job.blocks ||
	    !e->job.first_progress_ms)
		return -1;
	elapsed = uv_now(e->loop) - e->job.first_progress_ms;
	return (int64_t)((double)elapsed / e->job.blocks_done * (e->job.blocks - e->job.blocks_done));
}

static void publish_progress(struct engine *e, bool final)
{
	uint64_t counts[CAMPAIGN_TARGET_STATE_COUNT];
	int64_t eta_ms;
	char key[EVENTS_KEY_MAX];
	json_t *o, *eta = json_null();

	if (campaigns_target_counts(e->db, e->job.campaign, counts) < 0)
		return;
	eta_ms = engine_transfer_eta_ms(e);
	if (eta_ms >= 0) {
		json_decref(eta);
		eta = json_integer((json_int_t)(eta_ms / 1000));
	}
	o = json_pack("{s:I, s:I, s:I, s:i, s:i, s:i, s:I, s:I, s:I, s:o}", "campaign", (json_int_t)e->job.campaign,
		      "wave", (json_int_t)e->job.wave, "distribution_id", (json_int_t)e->job.dist_id, "blocks_done",
		      (int)e->job.blocks_done, "blocks", (int)e->job.blocks, "active", (int)e->job.targets_active,
		      "succeeded", (json_int_t)counts[CAMPAIGN_TARGET_SUCCEEDED], "failed",
		      (json_int_t)counts[CAMPAIGN_TARGET_FAILED], "pending",
		      (json_int_t)(counts[CAMPAIGN_TARGET_PENDING] + counts[CAMPAIGN_TARGET_PREPARING] +
				   counts[CAMPAIGN_TARGET_TRANSFERRING] + counts[CAMPAIGN_TARGET_VERIFYING] +
				   counts[CAMPAIGN_TARGET_VERIFIED] + counts[CAMPAIGN_TARGET_APPLYING] +
				   counts[CAMPAIGN_TARGET_CONFIRMING]),
		      "eta_s", eta);
	snprintf(key, sizeof(key), "campaign:%" PRId64, e->job.campaign);
	if (o)
		events_progress(e->events, EVENT_CAMPAIGN_PROGRESS, key, o, final);
}

/* --- the dongle's events ------------------------------------------------------------------------------------- */

static void on_dist_target(void *userdata, const struct msg_dist_target_evt *ev)
{
	struct engine *e = userdata;

	if (!e->job.active || ev->id != e->job.dist_id)
		return;
	take_target(e, &ev->t, false);
	flush_if_due(e);
}

static void on_dist_progress(void *userdata, const struct msg_dist_progress *ev)
{
	struct engine *e = userdata;

	if (!e->job.active || ev->id != e->job.dist_id)
		return;
	if (!e->job.first_progress_ms)
		e->job.first_progress_ms = uv_now(e->loop);
	e->job.blocks_done = ev->blocks_done;
	e->job.blocks = ev->blocks;
	e->job.targets_active = ev->active;
	flush_if_due(e);
	publish_progress(e, false);
}

static void on_dist_state(void *userdata, const struct msg_dist_state_evt *ev)
{
	struct engine *e = userdata;

	if (!e->job.active || ev->id != e->job.dist_id)
		return;
	e->job.dist_state = ev->state;
	e->job.dist_phase = ev->phase;
	e->job.dist_reason = ev->reason;
	schedule(e);
}

static void on_dist_link(void *userdata, enum link_state state)
{
	struct engine *e = userdata;
	bool up = state == LINK_UP;

	if (up == e->link_up)
		return;
	e->link_up = up;
	e->job.synced = false;          /* after a drop, the dongle may have rebooted: ask it */
	schedule(e);
}

static void on_dist_gap(void *userdata)
{
	struct engine *e = userdata;

	e->job.synced = false;          /* events went missing: DIST_GET and DIST_TARGETS_GET say what they were */
	schedule(e);
}

static void on_bus(void *userdata, const struct event *ev)
{
	struct engine *e = userdata;

	/* the operator's actions (start, pause, resume, cancel, retry, apply) and the end of a group job; not the
	 * waiting reasons the engine writes itself (a reason set and cleared would run it again and again) */
	if (e->publishing_reason)
		return;
	if (strcmp(ev->type, EVENT_CAMPAIGN) == 0 || strcmp(ev->type, EVENT_WAVE) == 0 ||
	    strcmp(ev->type, EVENT_GROUP_JOB) == 0)
		schedule(e);
}

/* --- asynchronous steps ----------------------------------------------------------------------------------------- */

/* Pauses the campaign by itself with @reason (a threshold, or a step that needs the operator). */
static void pause_campaign(struct engine *e, int64_t campaign, const char *reason)
{
	int r = campaigns_set_state(e->db, e->events, campaign, CAMPAIGN_RUNNING, CAMPAIGN_PAUSED, reason, false, NULL);

	if (r < 0 && r != -EPERM)
		log_err("campaign %" PRId64 ": cannot pause it (%s): %s", campaign, strerror(-r), reason);
}

static void fail_campaign(struct engine *e, int64_t campaign, const char *reason)
{
	int r = campaigns_set_state(e->db, e->events, campaign, -1, CAMPAIGN_FAILED, reason, false, NULL);

	if (r < 0)
		log_err("campaign %" PRId64 ": cannot mark it failed (%s): %s", campaign, strerror(-r), reason);
}

static void on_command_reply(void *userdata, const struct link_reply *reply)
{
	struct engine *e = userdata;
	char buf[64];
	int r = dongle_reply_errno(reply);

	if (!reply_enter(e))
		return;
	if (r < 0 && r != -EBADFD)
		log_warning("campaign %" PRId64 " wave %u: %s of distribution %u: %s", e->job.campaign, e->job.wave,
			    msg_type_to_string(reply->type), e->job.dist_id, dongle_reply_describe(reply, buf, sizeof(buf)));
	if (r == -ENOENT || r == -EBADFD)
		e->job.synced = false;  /* the dongle sees it otherwise: ask it again */
	e->job.step = STEP_NONE;
	schedule(e);
}

/* @type: MSG_DIST_SUSPEND, _RESUME, _CANCEL or _APPLY. */
static void send_command(struct engine *e, enum msg_type type)
{
	int r;

	switch ((unsigned)type) {       /* the four commands only */
	case MSG_DIST_SUSPEND:
		r = dongle_dist_suspend(e->dongle, e->job.dist_id, on_command_reply, e);
		break;
	case MSG_DIST_RESUME:
		r = dongle_dist_resume(e->dongle, e->job.dist_id, on_command_reply, e);
		break;
	case MSG_DIST_CANCEL:
		r = dongle_dist_cancel(e->dongle, e->job.dist_id, on_command_reply, e);
		break;
	case MSG_DIST_APPLY:
		r = dongle_dist_apply(e->dongle, e->job.dist_id, on_command_reply, e);
		break;
	default:
		return;
	}
	if (r == 0) {
		e->outstanding++;
		e->job.step = STEP_COMMAND;
		log_info("campaign %" PRId64 " wave %u: %s of distribution %u", e->job.campaign, e->job.wave,
			 msg_type_to_string(type), e->job.dist_id);
	}
}

/* The last DIST_TARGETS_GET of a finished distribution: every target's result, then the wave is done. */
static void on_collect(void *userdata, int error, uint32_t id, const struct msg_dist_target_info *t, size_t n)
{
	struct engine *e = userdata;

	if (!reply_enter(e))
		return;
	e->job.step = STEP_NONE;
	if (error < 0 || id != e->job.dist_id) {
		log_warning("campaign %" PRId64 " wave %u: reading the results of distribution %u failed (%s); "
			    "asking again", e->job.campaign, e->job.wave, e->job.dist_id,
			    error < 0 ? strerror(-error) : "the dongle holds another distribution");
		e->job.synced = false;
		schedule(e);
		return;
	}
	for (size_t i = 0; i < n; i++)
		take_target(e, &t[i], true);
	e->job.collected = true;                        /* finish_wave() next */
	schedule(e);
}

/* --- sync: what does the dongle know of the job's distribution? ------------------------------------------------- */

static void reissue(struct engine *e);

static void on_sync_targets(void *userdata, int error, uint32_t id, const struct msg_dist_target_info *t, size_t n)
{
	struct engine *e = userdata;

	if (!reply_enter(e))
		return;
	e->job.step = STEP_NONE;
	if (error < 0 || id != e->job.dist_id) {
		schedule(e);            /* not synced: asked again at the next run */
		return;
	}
	for (size_t i = 0; i < n; i++)
		take_target(e, &t[i], false);
	flush(e, false);
	e->job.synced = true;
	e->job.step = STEP_FOLLOW;
	schedule(e);
}

static void on_sync_get(void *userdata, const struct link_reply *reply)
{
	struct engine *e = userdata;
	const struct msg_dist_info *i;
	int r;

	if (!reply_enter(e))
		return;
	e->job.step = STEP_NONE;
	if (dongle_reply_errno(reply) < 0) {
		schedule(e);
		return;
	}
	i = &reply->msg->u.dist_info;
	if (i->id == e->job.dist_id && e->job.dist_id && i->state != MSG_DIST_IDLE && i->state != MSG_DIST_CONFIGURING) {
		/* still running, or finished while we were away: its targets say where each one stands */
		e->job.dist_state = i->state;
		e->job.dist_phase = i->phase;
		e->job.dist_reason = i->reason;
		log_info("campaign %" PRId64 " wave %u: the dongle's distribution %u is %s (%s)", e->job.campaign,
			 e->job.wave, i->id, msg_dist_state_to_string(i->state), msg_dist_phase_to_string(i->phase));
		r = dongle_dist_targets_get(e->dongle, on_sync_targets, e);
		if (r == 0) {
			e->outstanding++;
			e->job.step = STEP_SYNC;
		}
		else
			schedule(e);
		return;
	}
	if (i->id && (i->state == MSG_DIST_CONFIGURING || i->state == MSG_DIST_RUNNING ||
		      i->state == MSG_DIST_SUSPENDED || i->state == MSG_DIST_VERIFIED)) {
		/* another distribution holds the dongle (one of ours that never got all its batches, or a stale one):
		 * only one runs at a time, and no wave follows it any more */
		log_notice("campaign %" PRId64 " wave %u: the dongle runs distribution %u, which no wave follows: "
			   "cancelling it", e->job.campaign, e->job.wave, i->id);
		r = dongle_dist_cancel(e->dongle, i->id, on_command_reply, e);
		if (r == 0) {
			e->outstanding++;
			e->job.step = STEP_COMMAND;
		}
		else
			schedule(e);
		return;
	}
	/* the dongle does not know the wave's distribution: it rebooted (or DIST_START never reached it) */
	e->job.synced = true;
	reissue(e);
}

static void sync_dongle(struct engine *e)
{
	int r = dongle_dist_get(e->dongle, on_sync_get, e);

	if (r == 0) {
		e->outstanding++;
		e->job.step = STEP_SYNC;
	}
}

/* --- read-back: which targets are on the new FWID already? ---------------------------------------------------- */

static void readback_next(struct engine *e);

static bool has_fwid(const struct engine *e, const struct msg_mesh_recv *a)
{
	struct ma_msg m;
	struct ma_fw_iter it;
	struct ma_fw_entry entry;

	if (ma_decode(a->payload, a->payload_len, &m) != MA_OK || m.opcode != MA_OP_FW_INFO_STATUS)
		return false;
	ma_fw_iter_init(&it, &m.u.fw_info);
	while (ma_fw_next_entry(&it, &entry))
		if (entry.fwid_len == e->job.fwid_len && memcmp(entry.fwid, e->job.fwid, entry.fwid_len) == 0)
			return true;
	return false;
}

static void on_readback(void *userdata, int error, const struct msg_mesh_recv *a)
{
	struct engine *e = userdata;
	uint16_t node;

	if (error == -ECANCELED || e->closing)
		return;
	node = e->job.readback[e->job.readback_next++];
	if (error == 0 && has_fwid(e, a)) {
		log_info("campaign %" PRId64 ": node 0x%04x already runs the campaign's firmware: succeeded without a "
			 "second apply", e->job.campaign, node);
		queue_write(e, node, CAMPAIGN_TARGET_SUCCEEDED, NULL, false, false);
	} else if (e->job.readback_late[e->job.readback_next - 1]) {
		/* it had verified the image, so an apply may have reached it: never a second one. It failed, and the
		 * reason says what we know. */
		queue_write(e, node, CAMPAIGN_TARGET_FAILED, error == 0 ? "wrong_firmware_after_apply" :
			    "no_answer_after_apply", false, false);
	}       /* else: it was still receiving the image; the wave is issued again for it */
	readback_next(e);
}

static void readback_next(struct engine *e)
{
	uint8_t buf[16];
	size_t len;
	struct ma_msg m = { .opcode = MA_OP_FW_INFO_GET };
	struct mesh_exchange x = { .ttl = MSG_TTL_DEFAULT, .answer_opcode = MA_OP_FW_INFO_STATUS, .done = on_readback,
				   .userdata = e };
	uint16_t node;
	int r;

	if (e->job.readback_next >= e->job.n_readback) {
		flush(e, false);
		free(e->job.readback);
		free(e->job.readback_late);
		e->job.readback = NULL;
		e->job.readback_late = NULL;
		e->job.n_readback = e->job.readback_next = 0;
		e->job.readback_done = true;
		e->job.step = STEP_NONE;
		reissue(e);
		return;
	}
	node = e->job.readback[e->job.readback_next];
	m.u.fw_info_get = (struct ma_fw_info_get){ .first_index = 0, .entries_limit = ENGINE_READBACK_IMAGES };
	if (ma_encode(&m, buf, sizeof(buf), &len) != MA_OK)
		len = 0;
	x.dst = node;
	for (size_t i = 0; i < e->job.n_nodes; i++)
		if (e->job.nodes[i].address == node)
			x.dst = e->job.nodes[i].element;
	x.payload = buf;
	x.payload_len = (uint16_t)len;
	r = len ? mesh_client_exchange(e->mesh, &x) : -EINVAL;
	if (r < 0) {
		log_warning("campaign %" PRId64 ": cannot ask node 0x%04x for its firmware (%s)", e->job.campaign,
			    node, strerror(-r));
		if (e->job.readback_late[e->job.readback_next])
			queue_write(e, node, CAMPAIGN_TARGET_FAILED, "no_answer_after_apply", false, false);
		e->job.readback_next++;
		readback_next(e);
	}
}

/* --- re-issue: the dongle lost the wave's distribution ------------------------------------------------------- */

/* Starts the read-back of the wave's targets whose apply may have been sent. Returns 1 when it started, 0 when
 * there is none, or a negative errno. */
static int readback_start(struct engine *e)
{
	sqlite3_stmt *st = db_stmt(e->db, "SELECT address, state FROM campaign_targets WHERE campaign_id = ?1 AND "
				   "wave = ?2 AND apply_sent_at IS NOT NULL AND state IN ('preparing', 'transferring', "
				   "'verifying', 'verified', 'applying', 'confirming') ORDER BY address");
	size_t n = 0;
	int rc;

	if (!st)
		return -EIO;
	free(e->job.readback);
	free(e->job.readback_late);
	e->job.readback = calloc(CAMPAIGN_TARGETS_MAX, sizeof(*e->job.readback));
	e->job.readback_late = calloc(CAMPAIGN_TARGETS_MAX, 1);
	if (!e->job.readback || !e->job.readback_late)
		return -ENOMEM;
	sqlite3_bind_int64(st, 1, e->job.campaign);
	sqlite3_bind_int64(st, 2, e->job.wave);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < CAMPAIGN_TARGETS_MAX) {
		enum campaign_target_state ts = CAMPAIGN_TARGET_TRANSFERRING;

		campaign_target_state_from_string((const char *)sqlite3_column_text(st, 1), &ts);
		e->job.readback[n] = (uint16_t)sqlite3_column_int(st, 0);
		e->job.readback_late[n++] = target_rank(ts) >= target_rank(CAMPAIGN_TARGET_VERIFYING);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_result(e->db, rc, "list the targets to read back");
	if (n == 0)
		return 0;
	if (!e->mesh || !mesh_client_ready(e->mesh)) {
		char why[CAMPAIGN_REASON_MAX + 1];

		snprintf(why, sizeof(why), "waiting to read back the firmware of %zu node(s) before the wave goes again "
			 "(%s)", n, e->mesh ? mesh_client_why_not_ready(e->mesh) : "no mesh client");
		set_waiting(e, why);
		return -EAGAIN;
	}
	log_info("campaign %" PRId64 " wave %u: the dongle lost distribution %u; reading back the firmware of %zu "
		 "node(s) whose apply may have been sent", e->job.campaign, e->job.wave, e->job.dist_id, n);
	e->job.n_readback = n;
	e->job.readback_next = 0;
	e->job.step = STEP_READBACK;
	readback_next(e);
	return 1;
}

/* Before a wave goes again after the dongle lost its distribution, its targets still hold that distribution's
 * Firmware Update Start (its BLOB ID): they would refuse the new one (Wrong Phase, start_rejected) until their own
 * timeout. Firmware Update Cancel puts them back to Idle; one target at a time, through the mesh client. */
static void cancel_round_next(struct engine *e);

static void on_cancel_answer(void *userdata, int error, const struct msg_mesh_recv *a)
{
	struct engine *e = userdata;

	(void)a;
	if (error == -ECANCELED || e->closing)
		return;
	e->job.readback_next++;         /* no answer: the new DIST_START tells how the target is */
	cancel_round_next(e);
}

static void cancel_round_next(struct engine *e)
{
	struct md_msg m = { .opcode = MD_OP_UPDATE_CANCEL };
	struct mesh_exchange x = { .ttl = MSG_TTL_DEFAULT, .answer_opcode = MD_OP_UPDATE_STATUS,
				   .done = on_cancel_answer, .userdata = e };
	uint8_t buf[8];
	size_t len;

	while (e->job.readback_next < e->job.n_readback) {
		uint16_t node = e->job.readback[e->job.readback_next];

		x.dst = node;
		for (size_t i = 0; i < e->job.n_nodes; i++)
			if (e->job.nodes[i].address == node)
				x.dst = e->job.nodes[i].element;
		if (md_encode(&m, buf, sizeof(buf), &len) == MA_OK) {
			x.payload = buf;
			x.payload_len = (uint16_t)len;
			if (mesh_client_exchange(e->mesh, &x) == 0)
				return;
		}
		e->job.readback_next++;
	}
	free(e->job.readback);
	free(e->job.readback_late);
	e->job.readback = NULL;
	e->job.readback_late = NULL;
	e->job.n_readback = e->job.readback_next = 0;
	e->job.cancel_done = true;
	e->job.step = STEP_NONE;
	reissue(e);
}

/* Starts the cancel round for the wave's targets without a result. Returns 1 when it started, else 0. */
static int cancel_round_start(struct engine *e)
{
	size_t n = 0, k;

	if (!e->mesh || !mesh_client_ready(e->mesh))
		return 0;       /* the targets' own timeout does it, later */
	free(e->job.readback);
	free(e->job.readback_late);
	e->job.readback = calloc(CAMPAIGN_TARGETS_MAX, sizeof(*e->job.readback));
	e->job.readback_late = NULL;
	if (!e->job.readback)
		return 0;
	for (int st = CAMPAIGN_TARGET_PREPARING; st <= CAMPAIGN_TARGET_VERIFYING; st++) {
		if (targets_in(e, (enum campaign_target_state)st, e->job.readback + n, &k) < 0)
			break;
		n += k;
	}
	if (n == 0)
		return 0;
	log_info("campaign %" PRId64 " wave %u: cancelling the lost distribution's update on %zu node(s) before the "
		 "wave goes again", e->job.campaign, e->job.wave, n);
	e->job.n_readback = n;
	e->job.readback_next = 0;
	e->job.step = STEP_READBACK;
	cancel_round_next(e);
	return 1;
}

static int clear_dist_id(struct engine *e)
{
	sqlite3_stmt *st = db_stmt(e->db, "UPDATE campaign_waves SET distribution_id = NULL, updated_at = ?3 "
				   "WHERE campaign_id = ?1 AND idx = ?2");

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, e->job.campaign);
	sqlite3_bind_int64(st, 2, e->job.wave);
	sqlite3_bind_int64(st, 3, time_now_ms());
	return db_result(e->db, sqlite3_step(st), "clear a wave's distribution");
}

static void finish_wave(struct engine *e);

/* The dongle does not know the wave's distribution any more (it rebooted, or DIST_START never reached it). First
 * the read-back of the nodes whose apply may have been sent; then the targets without a result go again, in a new
 * distribution of the same wave (back to preparing: the slot is checked and the image uploaded again if needed). A
 * wave that had verified loses its distribution's verified state: its targets fail with distribution_lost, and a
 * retry wave takes them again. */
static void reissue(struct engine *e)
{
	enum campaign_wave_state ws;
	uint16_t *list;
	size_t n;
	int r;

	flush(e, false);
	if (!e->job.readback_done) {
		r = readback_start(e);
		if (r != 0)
			return;         /* started (it calls back here), waiting for the mesh, or an error logged */
		e->job.readback_done = true;
	}
	if (read_wave(e, e->job.campaign, e->job.wave, &ws, NULL) < 0)
		return;
	list = calloc(CAMPAIGN_TARGETS_MAX, sizeof(*list));
	if (!list)
		return;
	if (wave_rank(ws) >= wave_rank(CAMPAIGN_WAVE_VERIFIED)) {
		static const enum campaign_target_state lost[] = {
			CAMPAIGN_TARGET_PREPARING, CAMPAIGN_TARGET_TRANSFERRING, CAMPAIGN_TARGET_VERIFYING,
			CAMPAIGN_TARGET_VERIFIED, CAMPAIGN_TARGET_APPLYING, CAMPAIGN_TARGET_CONFIRMING,
		};

		for (size_t k = 0; k < ARRAY_SIZE(lost); k++)
			if (targets_in(e, lost[k], list, &n) == 0)
				for (size_t i = 0; i < n; i++)
					queue_write(e, list[i], CAMPAIGN_TARGET_FAILED, "distribution_lost", false, false);
		free(list);
		e->job.collected = true;
		finish_wave(e);
		return;
	}
	if (!e->job.cancel_done) {
		free(list);
		if (cancel_round_start(e))
			return;
		e->job.cancel_done = true;
		list = calloc(CAMPAIGN_TARGETS_MAX, sizeof(*list));
		if (!list)
			return;
	}
	log_info("campaign %" PRId64 " wave %u: the dongle lost distribution %u: the targets without a result go "
		 "again", e->job.campaign, e->job.wave, e->job.dist_id);
	for (int k = CAMPAIGN_TARGET_PREPARING; k <= CAMPAIGN_TARGET_VERIFYING; k++)
		if (targets_in(e, (enum campaign_target_state)k, list, &n) == 0)
			for (size_t i = 0; i < n; i++)
				queue_write(e, list[i], CAMPAIGN_TARGET_PREPARING, NULL, true, false);
	free(list);
	flush(e, false);
	clear_dist_id(e);
	if (ws != CAMPAIGN_WAVE_PREPARING)
		campaigns_wave_set_state(e->db, e->events, e->job.campaign, e->job.wave, CAMPAIGN_WAVE_PREPARING, false,
					 NULL);
	e->job.dist_id = 0;
	e->job.dist_state = MSG_DIST_IDLE;
	e->job.slot_ok = false;
	e->job.readback_done = false;
	e->job.cancel_done = false;
	e->job.collected = false;
	e->job.step = STEP_NONE;
	schedule(e);
}

/* --- preparing: subscriptions, the slot, DIST_START ------------------------------------------------------------ */

struct members {
	uint8_t *flags;         /* WAVES_TARGETS_MAX + 1 flags by address */
	bool any_state;         /* every recorded row, else the members (both models subscribed) only */
};

static int member_one(const struct groups_member *m, void *userdata)
{
	struct members *ms = userdata;

	if ((ms->any_state || m->state == GROUPS_MEMBER_MEMBER) && m->address <= WAVES_TARGETS_MAX)
		ms->flags[m->address] = 1;
	return 0;
}

/* The nodes recorded in @group (any_state: in any state, else members) as flags by address. */
static int collect_members(struct engine *e, uint16_t group, bool any_state, uint8_t *flags)
{
	struct members ms = { flags, any_state };
	uint16_t after = 0;
	bool more = true;

	while (more) {
		uint16_t last = after;

		if (groups_members_list(e->db, group, after, GROUPS_MEMBERS_LIST_MAX, member_one, &ms, &more) < 0)
			return -EIO;
		for (uint32_t a = after + 1u; a <= WAVES_TARGETS_MAX; a++)
			if (flags[a])
				last = (uint16_t)a;
		if (last == after)
			break;
		after = last;
	}
	return 0;
}

/* Before a wave subscribes its targets, every other node recorded in the group is unsubscribed: the nodes of the
 * campaign's earlier waves, and those an ended campaign with the same group left. A subscriber outside the target
 * list would take part in the group's transfer (it accepts the group's Update Start) and apply the image again.
 * Returns 1 when a job started, 0 when there is none to remove, or a negative errno (-EBUSY: another job runs). */
static int remove_others(struct engine *e, const uint16_t *wave, size_t n)
{
	uint8_t *flags = calloc(WAVES_TARGETS_MAX + 1, 1);
	uint16_t *others = calloc(WAVES_TARGETS_MAX, sizeof(*others));
	size_t n_others = 0;
	int r;

	r = !flags || !others ? -ENOMEM : collect_members(e, e->job.group, true, flags);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		flags[wave[i]] = 0;
	for (uint32_t a = 1; a <= WAVES_TARGETS_MAX; a++)
		if (flags[a])
			others[n_others++] = (uint16_t)a;
	r = 0;
	if (n_others == 0)
		goto out;
	r = groups_start(e->groups, GROUPS_REMOVE, e->job.group, others, n_others);
	if (r == 0) {
		log_info("campaign %" PRId64 " wave %u: unsubscribing %zu node(s) outside the wave from group 0x%04x",
			 e->job.campaign, e->job.wave, n_others, e->job.group);
		r = 1;
	}
out:
	free(flags);
	free(others);
	return r;
}

/* The group job ended: targets that are not members cannot hear the group's messages and fail this attempt. */
static void subscribe_done(struct engine *e)
{
	uint8_t *is_member = calloc(WAVES_TARGETS_MAX + 1, 1);
	uint16_t *list = calloc(CAMPAIGN_TARGETS_MAX, sizeof(*list));
	size_t n = 0, failed = 0;

	if (!is_member || !list || collect_members(e, e->job.group, false, is_member) < 0)
		goto out;
	if (targets_in(e, CAMPAIGN_TARGET_PREPARING, list, &n) < 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		if (!is_member[list[i]]) {
			queue_write(e, list[i], CAMPAIGN_TARGET_FAILED, "subscription_failed", false, false);
			failed++;
		}
	flush(e, false);
	if (failed)
		log_warning("campaign %" PRId64 " wave %u: %zu of %zu node(s) could not be subscribed to group 0x%04x "
			    "(GET /api/v1/groups/%u/members says why); they fail this attempt", e->job.campaign,
			    e->job.wave, failed, n, e->job.group, e->job.group);
	e->job.subscribed = true;
out:
	free(is_member);
	free(list);
}

static void on_upload_done(void *userdata, int error, const char *message)
{
	struct engine *e = userdata;

	free(e->job.image);
	e->job.image = NULL;
	if (!reply_enter(e))
		return;
	e->job.step = STEP_NONE;
	if (error == 0) {
		e->job.slot_ok = true;
	} else if (error != -ECANCELED) {
		char reason[CAMPAIGN_REASON_MAX + 1];

		snprintf(reason, sizeof(reason), "the image upload to the dongle failed: %s", message);
		pause_campaign(e, e->job.campaign, reason);
	}
	schedule(e);
}

static void upload(struct engine *e, const struct campaign *c)
{
	char reason[CAMPAIGN_REASON_MAX + 1];
	uint64_t size = 0, got = 0;
	int fd = -1, r;

	r = firmware_open_verified(e->firmware, c->firmware, &fd, &size);
	if (r == -ENOENT || r == -EBADMSG) {
		snprintf(reason, sizeof(reason), "the image %.12s... is %s: import it again and create a new campaign",
			 c->firmware, r == -ENOENT ? "gone from the firmware store" : "damaged (its SHA-256 changed)");
		fail_campaign(e, c->id, reason);
		return;
	}
	if (r < 0 || size == 0 || size > FIRMWARE_IMAGE_MAX) {
		snprintf(reason, sizeof(reason), "the image %.12s... cannot be read (%s); resume when the firmware "
			 "store is readable", c->firmware, strerror(r < 0 ? -r : EFBIG));
		pause_campaign(e, c->id, reason);
		if (fd >= 0)
			close(fd);
		return;
	}
	free(e->job.image);
	e->job.image = malloc(size);
	while (e->job.image && got < size) {
		ssize_t k = read(fd, e->job.image + got, size - got);

		if (k <= 0)
			break;
		got += (uint64_t)k;
	}
	close(fd);
	if (!e->job.image || got != size) {
		free(e->job.image);
		e->job.image = NULL;
		snprintf(reason, sizeof(reason), "reading the image %.12s... failed; resume to try again", c->firmware);
		pause_campaign(e, c->id, reason);
		return;
	}
	r = dongle_upload_start(e->dongle, e->job.image, size, on_upload_done, e);
	if (r < 0) {
		free(e->job.image);
		e->job.image = NULL;
		if (r != -EBUSY)
			log_warning("campaign %" PRId64 ": cannot start the image upload (%s)", c->id, strerror(-r));
		return;         /* -EBUSY: another upload runs; the tick asks again */
	}
	e->outstanding++;
	log_info("campaign %" PRId64 " wave %u: uploading the image (%" PRIu64 " bytes) to the dongle's slot", c->id,
		 e->job.wave, size);
	e->job.step = STEP_UPLOAD;
}

struct slot_check {
	struct engine *e;
	uint8_t sha256[MSG_SHA256_SIZE];
};

static void on_slot_info(void *userdata, const struct link_reply *reply)
{
	struct slot_check *sc = userdata;
	struct engine *e = sc->e;
	const struct msg_slot_info *si;

	if (!reply_enter(e)) {
		free(sc);
		return;
	}
	e->job.step = STEP_NONE;
	if (dongle_reply_errno(reply) == 0) {
		si = &reply->msg->u.slot_info;
		if (si->state == MSG_SLOT_COMMITTED && memcmp(si->sha256, sc->sha256, MSG_SHA256_SIZE) == 0) {
			e->job.slot_ok = true;
			log_info("campaign %" PRId64 " wave %u: the dongle's slot holds the image already: no upload",
				 e->job.campaign, e->job.wave);
		} else {
			e->job.need_upload = true;      /* engine_run() starts it */
			e->job.slot_ok = false;
		}
	}
	free(sc);
	schedule(e);
}

static void on_start_done(void *userdata, int error, const char *message)
{
	struct engine *e = userdata;
	char reason[CAMPAIGN_REASON_MAX + 1];

	if (!reply_enter(e))
		return;
	e->job.step = STEP_NONE;
	if (error == 0) {
		log_info("campaign %" PRId64 " wave %u: %s", e->job.campaign, e->job.wave, message);
		e->job.step = STEP_FOLLOW;
		e->job.synced = true;
		if (e->job.dist_state == MSG_DIST_IDLE)
			e->job.dist_state = MSG_DIST_RUNNING;
	} else if (error == -EBADMSG || error == -EBUSY || error == -ETIMEDOUT || error == -ECONNRESET ||
		   error == -ENOTCONN) {
		/* the slot changed, another distribution holds the dongle, or the link dropped: DIST_GET decides */
		log_notice("campaign %" PRId64 " wave %u: %s; asking the dongle where it stands", e->job.campaign,
			   e->job.wave, message);
		e->job.synced = false;
		e->job.slot_ok = false;
	} else if (error != -ECANCELED) {
		snprintf(reason, sizeof(reason), "the dongle refused the wave's distribution: %s", message);
		pause_campaign(e, e->job.campaign, reason);
		e->job.synced = false;
	}
	schedule(e);
}

static uint32_t new_dist_id(void)
{
	uint32_t id = 0;

	while (id == 0)
		if (getrandom(&id, sizeof(id), 0) != sizeof(id))
			id = (uint32_t)time_now_ms() ^ (uint32_t)getpid();
	return id;
}

static int write_dist_id(struct engine *e, uint32_t id)
{
	sqlite3_stmt *st = db_stmt(e->db, "UPDATE campaign_waves SET distribution_id = ?3, updated_at = ?4 "
				   "WHERE campaign_id = ?1 AND idx = ?2");

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, e->job.campaign);
	sqlite3_bind_int64(st, 2, e->job.wave);
	sqlite3_bind_int64(st, 3, id);
	sqlite3_bind_int64(st, 4, time_now_ms());
	return db_result(e->db, sqlite3_step(st), "write a wave's distribution id");
}

/* DIST_START for the wave's targets in preparing. The distribution id is written to the wave, and the wave and its
 * targets moved to transferring, BEFORE it is sent: after a crash, the reconcile finds the id. Every distribution
 * is verify-only, whatever the campaign's apply policy: the dongle never applies by itself, the engine sends
 * DIST_APPLY once apply_sent_at is durable (follow()). With the dongle's policy apply, a reboot between a target's
 * apply and the event reporting it would leave no record, and the re-issue could apply that node a second time. */
static void start_distribution(struct engine *e, const struct campaign *c)
{
	struct msg_dist_start s = { 0 };
	struct firmware_record rec;
	struct network net;
	struct msg_dist_entry *entries = NULL;
	uint16_t *list = NULL;
	char reason[CAMPAIGN_REASON_MAX + 1];
	size_t n = 0;
	int r;

	r = network_load(e->db, &net);
	if (r < 0) {
		set_waiting(e, "waiting for a network: import one (POST /api/v1/network)");
		return;
	}
	r = firmware_get(e->firmware, c->firmware, &rec);
	if (r < 0) {
		snprintf(reason, sizeof(reason), "the image %.12s... is gone from the firmware store", c->firmware);
		fail_campaign(e, c->id, reason);
		return;
	}
	list = calloc(CAMPAIGN_TARGETS_MAX, sizeof(*list));
	entries = calloc(CAMPAIGN_TARGETS_MAX, sizeof(*entries));
	if (!list || !entries || targets_in(e, CAMPAIGN_TARGET_PREPARING, list, &n) < 0)
		goto out;
	if (n == 0) {
		e->job.collected = true;        /* every target ended before the transfer (subscription) */
		finish_wave(e);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		uint16_t element = list[i];

		for (size_t k = 0; k < e->job.n_nodes; k++)
			if (e->job.nodes[k].address == list[i])
				element = e->job.nodes[k].element;
		entries[i] = (struct msg_dist_entry){ element, ENGINE_IMAGE_INDEX };
		queue_write(e, list[i], CAMPAIGN_TARGET_TRANSFERRING, NULL, false, false);
	}
	e->job.dist_id = new_dist_id();
	r = write_dist_id(e, e->job.dist_id);
	if (r == 0)
		r = campaigns_wave_set_state(e->db, e->events, c->id, e->job.wave, CAMPAIGN_WAVE_TRANSFERRING, false,
					     NULL);
	if (r == 0)
		r = flush(e, false);
	if (r < 0) {
		log_err("campaign %" PRId64 " wave %u: cannot record the distribution (%s); it is not started",
			c->id, e->job.wave, strerror(-r));
		goto out;
	}
	s = (struct msg_dist_start){
		.id = e->job.dist_id, .group = e->job.group, .app_key_index = net.app_key_index,
		.ttl = c->ttl, .timeout_base = c->timeout_base,
		.mode = c->mode == CAMPAIGN_TRANSFER_PULL ? MSG_DIST_MODE_PULL : MSG_DIST_MODE_PUSH,
		.policy = MSG_DIST_POLICY_VERIFY_ONLY,
		.block_size_log = c->block_size_log, .chunk_size = c->chunk_size,
		.fwid = c->fwid, .fwid_len = (uint8_t)c->fwid_len,
		.metadata = rec.has_metadata ? rec.metadata : NULL, .metadata_len = (uint8_t)rec.metadata_len,
	};
	hex_decode(c->firmware, 2 * MSG_SHA256_SIZE, s.sha256);
	e->job.dist_state = MSG_DIST_IDLE;
	e->job.collected = false;
	e->job.first_progress_ms = 0;
	e->job.blocks_done = e->job.blocks = 0;
	r = dongle_dist_start(e->dongle, &s, entries, n, on_start_done, e);
	if (r < 0) {
		log_warning("campaign %" PRId64 " wave %u: DIST_START of distribution %u not sent (%s); the dongle is "
			    "asked where it stands", c->id, e->job.wave, e->job.dist_id, strerror(-r));
		e->job.synced = false;
		goto out;
	}
	e->outstanding++;
	log_info("campaign %" PRId64 " wave %u: distribution %u of %zu target(s) %s, apply %s", c->id, e->job.wave,
		 e->job.dist_id, n, e->job.group ? "to the group" : "by unicast",
		 campaign_apply_policy_to_string(c->apply_policy));
	e->job.step = STEP_START;
out:
	free(list);
	free(entries);
}

static void prepare(struct engine *e, const struct campaign *c)
{
	uint16_t *list = calloc(CAMPAIGN_TARGETS_MAX, sizeof(*list));
	size_t n = 0;
	int r;

	if (!list)
		return;
	/* an attempt starts: pending -> preparing counts it */
	if (targets_in(e, CAMPAIGN_TARGET_PENDING, list, &n) == 0 && n) {
		for (size_t i = 0; i < n; i++)
			queue_write(e, list[i], CAMPAIGN_TARGET_PREPARING, NULL, false, false);
		flush(e, false);
	}
	r = targets_in(e, CAMPAIGN_TARGET_PREPARING, list, &n);
	if (r < 0)
		goto out;
	e->job.group = e->groups && n >= ENGINE_MULTICAST_MIN_TARGETS ? c->group_address : 0;
	if (e->job.group && !e->job.others_removed) {
		r = remove_others(e, list, n);
		if (r == 1) {
			e->job.step = STEP_UNSUBSCRIBE;
			goto out;
		}
		if (r == -EBUSY)
			goto out;       /* another group job runs: the tick asks again */
		if (r == -ENOTCONN) {
			char why[CAMPAIGN_REASON_MAX + 1];

			snprintf(why, sizeof(why), "waiting for the mesh to unsubscribe the group's other nodes: %s",
				 mesh_client_why_not_ready(e->mesh));
			set_waiting(e, why);
			goto out;
		}
		if (r < 0)
			log_warning("campaign %" PRId64 " wave %u: the other nodes of group 0x%04x are not unsubscribed "
				    "(%s): they may take part in the wave's transfer", c->id, e->job.wave, e->job.group,
				    strerror(-r));
		e->job.others_removed = true;
	}
	if (e->job.group && !e->job.subscribed) {
		r = groups_start(e->groups, GROUPS_ADD, e->job.group, list, n);
		if (r == 0) {
			e->job.step = STEP_SUBSCRIBE;
			log_info("campaign %" PRId64 " wave %u: subscribing %zu node(s) to group 0x%04x", c->id,
				 e->job.wave, n, e->job.group);
		} else if (r == -ENOTCONN) {
			char why[CAMPAIGN_REASON_MAX + 1];

			snprintf(why, sizeof(why), "waiting for the mesh to subscribe the wave's nodes: %s",
				 mesh_client_why_not_ready(e->mesh));
			set_waiting(e, why);
		} else if (r != -EBUSY) {       /* -EBUSY: another group job runs; the tick asks again */
			log_warning("campaign %" PRId64 " wave %u: the group job does not start (%s); the wave goes by "
				    "unicast", c->id, e->job.wave, strerror(-r));
			e->job.group = 0;
			e->job.subscribed = true;
		}
		goto out;
	}
	if (!e->job.slot_ok) {
		if (e->job.need_upload) {
			e->job.need_upload = false;
			upload(e, c);
			goto out;
		}
		struct slot_check *sc = calloc(1, sizeof(*sc));

		if (!sc)
			goto out;
		sc->e = e;
		hex_decode(c->firmware, 2 * MSG_SHA256_SIZE, sc->sha256);
		if (dongle_slot_info(e->dongle, on_slot_info, sc) == 0) {
			e->outstanding++;
			e->job.step = STEP_SLOT;
		} else {
			free(sc);
		}
		goto out;
	}
	start_distribution(e, c);
out:
	free(list);
}

/* --- following the distribution ---------------------------------------------------------------------------- */

/* The error threshold, campaign-wide: when the failed targets are more than error_threshold percent of the
 * campaign's targets that are not skipped, and there are more of them than @failed_before (this wave added
 * failures, or some came since the threshold last paused the campaign), the campaign pauses by itself. Checked
 * after each flush that wrote a failure and when a wave ends. Returns true when it paused the campaign. */
static bool error_threshold_pause(struct engine *e, const struct campaign *c, uint32_t failed_before)
{
	uint64_t counts[CAMPAIGN_TARGET_STATE_COUNT], total = 0, failed;
	char reason[CAMPAIGN_REASON_MAX + 1];

	if (c->error_threshold >= 100 || campaigns_target_counts(e->db, c->id, counts) < 0)
		return false;
	failed = counts[CAMPAIGN_TARGET_FAILED];
	for (int s = 0; s < CAMPAIGN_TARGET_STATE_COUNT; s++)
		if (s != CAMPAIGN_TARGET_SKIPPED)
			total += counts[s];
	if (!total || failed * 100 <= (uint64_t)c->error_threshold * total || failed <= failed_before)
		return false;
	snprintf(reason, sizeof(reason), "error threshold crossed: %" PRIu64 " of %" PRIu64 " targets failed (%" PRIu64
		 "%%), above the error threshold of %u%%", failed, total, failed * 100 / total, c->error_threshold);
	pause_campaign(e, c->id, reason);
	if (e->job.active && e->job.campaign == c->id)
		e->job.failed_at_start = (uint32_t)failed;     /* a resume is not paused again by the same failures */
	return true;
}

static bool dist_active(uint8_t state)
{
	return state == MSG_DIST_CONFIGURING || state == MSG_DIST_RUNNING || state == MSG_DIST_SUSPENDED ||
	       state == MSG_DIST_VERIFIED;
}

static bool dist_ended(uint8_t state)
{
	return state == MSG_DIST_COMPLETED || state == MSG_DIST_FAILED || state == MSG_DIST_CANCELLED;
}

/* Targets not terminal in the wave move to @to (verified, applying), with @apply_sent. */
static int move_open_targets(struct engine *e, enum campaign_target_state from, enum campaign_target_state to,
			     bool apply_sent)
{
	uint16_t *list = calloc(CAMPAIGN_TARGETS_MAX, sizeof(*list));
	size_t n = 0;
	int r;

	if (!list)
		return -ENOMEM;
	r = targets_in(e, from, list, &n);
	for (size_t i = 0; r == 0 && i < n; i++)
		queue_write(e, list[i], to, NULL, false, apply_sent);
	free(list);
	return r;
}

static void follow(struct engine *e, const struct campaign *c, enum campaign_wave_state ws)
{
	int64_t now = time_now_ms();

	if (e->job.collected) {
		finish_wave(e);
		return;
	}
	if (dist_ended(e->job.dist_state)) {
		flush(e, false);
		if (dongle_dist_targets_get(e->dongle, on_collect, e) == 0) {
			e->outstanding++;
			e->job.step = STEP_COLLECT;
		}
		return;
	}
	if (e->job.new_failures && c->state == CAMPAIGN_RUNNING) {
		e->job.new_failures = false;
		if (error_threshold_pause(e, c, e->job.failed_at_start))
			return;         /* the next run sees the campaign paused and suspends the distribution */
	}
	if (ws == CAMPAIGN_WAVE_CANCELLED) {
		/* the operator cancelled the campaign before the apply: the dongle's targets become cancelled */
		if (dist_active(e->job.dist_state))
			send_command(e, MSG_DIST_CANCEL);
		return;
	}
	if (c->state == CAMPAIGN_PAUSED && e->job.dist_state == MSG_DIST_RUNNING) {
		send_command(e, MSG_DIST_SUSPEND);
		return;
	}
	if (c->state == CAMPAIGN_RUNNING && e->job.dist_state == MSG_DIST_SUSPENDED) {
		send_command(e, MSG_DIST_RESUME);       /* after a pause, or a fault of the dongle (reason internal) */
		return;
	}
	if (e->job.dist_state == MSG_DIST_VERIFIED) {
		if (wave_rank(ws) < wave_rank(CAMPAIGN_WAVE_VERIFIED)) {
			flush(e, false);        /* results first: a queued failure is not overwritten below */
			move_open_targets(e, CAMPAIGN_TARGET_TRANSFERRING, CAMPAIGN_TARGET_VERIFIED, false);
			move_open_targets(e, CAMPAIGN_TARGET_VERIFYING, CAMPAIGN_TARGET_VERIFIED, false);
			flush(e, false);
			wave_advance(e, c->id, e->job.wave, CAMPAIGN_WAVE_VERIFIED, false);
			return;
		}
		if (ws == CAMPAIGN_WAVE_VERIFIED && c->state == CAMPAIGN_RUNNING &&
		    c->apply_policy == CAMPAIGN_APPLY_IMMEDIATE) {
			wave_advance(e, c->id, e->job.wave, CAMPAIGN_WAVE_APPLYING, true);
			return;
		}
		if (ws == CAMPAIGN_WAVE_VERIFIED && c->apply_policy == CAMPAIGN_APPLY_WINDOW && c->state ==
		    CAMPAIGN_RUNNING && now >= c->window_start && now < c->window_end) {
			enum campaign_state cs;
			size_t released;

			log_info("campaign %" PRId64 ": the maintenance window is open: applying", c->id);
			campaigns_apply(e->db, e->events, c->id, &cs, &released);      /* verified -> applying, durable */
			return;
		}
		if (ws == CAMPAIGN_WAVE_APPLYING) {
			/* applying is committed (POST .../apply or the window): mark the targets, durably, then apply */
			if (move_open_targets(e, CAMPAIGN_TARGET_VERIFIED, CAMPAIGN_TARGET_APPLYING, true) < 0 ||
			    flush(e, true) < 0)
				return;
			send_command(e, MSG_DIST_APPLY);
		}
		return;
	}
	if (e->job.dist_state == MSG_DIST_RUNNING) {
		switch ((enum msg_dist_phase)e->job.dist_phase) {
		case MSG_DIST_PHASE_VERIFY:
			if (wave_rank(ws) < wave_rank(CAMPAIGN_WAVE_VERIFYING))
				wave_advance(e, c->id, e->job.wave, CAMPAIGN_WAVE_VERIFYING, false);
			break;
		case MSG_DIST_PHASE_CONFIRM:
			if (wave_rank(ws) < wave_rank(CAMPAIGN_WAVE_CONFIRMING))
				wave_advance(e, c->id, e->job.wave, CAMPAIGN_WAVE_CONFIRMING, true);
			break;
		case MSG_DIST_PHASE_APPLY:      /* after our DIST_APPLY: the wave is applying already */
		case MSG_DIST_PHASE_IDLE:
		case MSG_DIST_PHASE_INITIATE:
		case MSG_DIST_PHASE_CAPABILITIES:
		case MSG_DIST_PHASE_TRANSFER:
		case MSG_DIST_PHASE_BLOCK:
		case MSG_DIST_PHASE_DONE:
			break;
		}
	}
}

/* The wave's distribution ended and its results are in (or it can go no further): targets without a result fail,
 * the wave is done, and the thresholds decide what follows. */
static void finish_wave(struct engine *e)
{
	static const enum campaign_target_state open[] = {
		CAMPAIGN_TARGET_PENDING, CAMPAIGN_TARGET_PREPARING, CAMPAIGN_TARGET_TRANSFERRING,
		CAMPAIGN_TARGET_VERIFYING, CAMPAIGN_TARGET_VERIFIED, CAMPAIGN_TARGET_APPLYING, CAMPAIGN_TARGET_CONFIRMING,
	};
	struct campaign_wave *waves = NULL;
	struct campaign c;
	char reason[CAMPAIGN_REASON_MAX + 1];
	uint16_t *list = calloc(CAMPAIGN_TARGETS_MAX, sizeof(*list));
	size_t n = 0, n_waves = 0;
	int64_t id = e->job.campaign;
	uint32_t wave = e->job.wave, failed_at_start = e->job.failed_at_start;

	if (!list)
		return;
	flush(e, false);
	for (size_t k = 0; k < ARRAY_SIZE(open); k++)
		if (targets_in(e, open[k], list, &n) == 0)
			for (size_t i = 0; i < n; i++)
				queue_write(e, list[i], CAMPAIGN_TARGET_FAILED, "no_result", false, false);
	free(list);
	flush(e, false);
	publish_progress(e, true);
	wave_advance(e, id, wave, CAMPAIGN_WAVE_DONE, false);
	job_clear(e);
	schedule(e);
	if (campaigns_get(e->db, id, &c) < 0)
		return;
	if (c.state != CAMPAIGN_RUNNING || error_threshold_pause(e, &c, failed_at_start) ||
	    campaigns_waves(e->db, id, &waves, &n_waves) < 0)
		goto out;
	for (size_t i = 0; i < n_waves; i++) {
		const struct campaign_wave *w = &waves[i];
		uint64_t ok = w->counts[CAMPAIGN_TARGET_SUCCEEDED];

		if (w->index != wave || w->kind == CAMPAIGN_WAVE_RETRY || !w->total)
			continue;
		if (ok * 100 < (uint64_t)c.success_threshold * w->total) {
			snprintf(reason, sizeof(reason), "wave %u (%s): %" PRIu64 " of %" PRIu64 " targets succeeded "
				 "(%" PRIu64 "%%), below the success threshold of %u%%", wave,
				 campaign_wave_kind_to_string(w->kind), ok, w->total, ok * 100 / w->total,
				 c.success_threshold);
			pause_campaign(e, id, reason);
		}
	}
out:
	free(waves);
	campaign_done(&c);
}

/* --- choosing the job ------------------------------------------------------------------------------------------- */

static void job_clear(struct engine *e)
{
	free(e->job.nodes);
	free(e->job.readback);
	free(e->job.readback_late);
	/* the image stays with the upload until its callback */
	memset(&e->job, 0, offsetof(typeof(e->job), image));
	memset(&e->job.first_progress_ms, 0, sizeof(e->job) - offsetof(typeof(e->job), first_progress_ms));
}

static int job_load(struct engine *e, int64_t campaign, uint32_t wave)
{
	enum campaign_wave_state ws;
	uint64_t counts[CAMPAIGN_TARGET_STATE_COUNT];
	struct campaign c;
	int r;

	job_clear(e);
	r = campaigns_get(e->db, campaign, &c);
	if (r < 0)
		return r;
	e->job.active = true;
	e->job.campaign = campaign;
	e->job.wave = wave;
	memcpy(e->job.fwid, c.fwid, c.fwid_len);
	e->job.fwid_len = c.fwid_len;
	if (strncmp(c.reason, "waiting", 7) == 0)     /* written before a restart: cleared when the wait ends */
		snprintf(e->job.waiting, sizeof(e->job.waiting), "%s", c.reason);
	campaign_done(&c);
	r = read_wave(e, campaign, wave, &ws, &e->job.dist_id);
	if (r == 0)
		r = load_nodes(e);
	if (r == 0 && campaigns_target_counts(e->db, campaign, counts) == 0)
		e->job.failed_at_start = (uint32_t)counts[CAMPAIGN_TARGET_FAILED];
	if (r < 0) {
		job_clear(e);
		return r;
	}
	/* a wave past preparing follows a distribution the dongle may know: sync first */
	e->job.synced = ws == CAMPAIGN_WAVE_PREPARING;
	e->job.subscribed = e->job.others_removed = false;
	return 1;
}

/* An ended campaign leaves its last wave's targets subscribed to its group, and Zephyr's models hold one group
 * subscription by default (CONFIG_BT_MESH_MODEL_GROUP_COUNT): the next campaign, with another group, could not
 * subscribe them. When the engine has nothing else to do, the targets of an ended campaign that are recorded in
 * its group are unsubscribed, unless an unfinished campaign uses the group; one group job at a time. A node whose
 * removal failed stays recorded (remove_failed) and is not asked again here: the next wave that uses the group
 * asks it (remove_others()). */
static void cleanup_groups(struct engine *e)
{
	sqlite3_stmt *st = db_stmt(e->db,
		"SELECT c.group_address, m.address FROM campaigns c "
		"JOIN campaign_targets t ON t.campaign_id = c.id "
		"JOIN group_members m ON m.group_address = c.group_address AND m.address = t.address "
		"JOIN nodes n ON n.address = m.address "
		"WHERE c.state IN ('completed', 'failed', 'cancelled') AND m.state NOT IN ('remove_failed', 'refused') "
		"AND NOT EXISTS (SELECT 1 FROM campaigns u WHERE u.group_address = c.group_address AND "
		"u.state NOT IN ('completed', 'failed', 'cancelled')) "
		"GROUP BY c.group_address, m.address ORDER BY c.group_address, m.address LIMIT ?1");
	uint16_t *list, group = 0;
	size_t n = 0;
	int rc, r;

	if (!e->groups || !e->mesh || !st || groups_job_state(e->groups) == GROUPS_RUNNING ||
	    !mesh_client_ready(e->mesh))
		return;
	list = calloc(GROUPS_MEMBERS_LIST_MAX, sizeof(*list));
	if (!list)
		return;
	sqlite3_bind_int(st, 1, GROUPS_MEMBERS_LIST_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint16_t g = (uint16_t)sqlite3_column_int(st, 0);

		if (group && g != group)
			break;
		group = g;
		list[n++] = (uint16_t)sqlite3_column_int(st, 1);
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		db_result(e->db, rc, "list the nodes that ended campaigns left in their groups");
	else if (n) {
		r = groups_start(e->groups, GROUPS_REMOVE, group, list, n);
		if (r == 0)
			log_info("campaigns: unsubscribing %zu node(s) of ended campaigns from group 0x%04x", n, group);
		else if (r != -EBUSY && r != -ENOTCONN)
			log_warning("campaigns: cannot unsubscribe the nodes of ended campaigns from group 0x%04x: %s",
				    group, strerror(-r));
	}
	free(list);
}

/* The wave that holds the dongle, whatever its campaign's state (a paused one keeps it suspended; a cancelled one
 * keeps it until its applying wave is confirmed). Returns 1 (loaded), 0 (none) or an error. */
static int load_active(struct engine *e)
{
	sqlite3_stmt *st = db_stmt(e->db, "SELECT w.campaign_id, w.idx FROM campaign_waves w JOIN campaigns c ON "
				   "c.id = w.campaign_id WHERE w.state IN ('preparing', 'transferring', 'verifying', "
				   "'verified', 'applying', 'confirming') ORDER BY coalesce(c.started_at, 0), c.id, w.idx "
				   "LIMIT 1");
	int64_t campaign;
	uint32_t wave;
	int rc;

	if (!st)
		return -EIO;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return rc == SQLITE_DONE ? 0 : db_result(e->db, rc, "find the active wave");
	}
	campaign = sqlite3_column_int64(st, 0);
	wave = (uint32_t)sqlite3_column_int64(st, 1);
	sqlite3_reset(st);
	return job_load(e, campaign, wave);
}

static void start_scheduled(struct engine *e)
{
	sqlite3_stmt *st = db_stmt(e->db, "SELECT id FROM campaigns WHERE state = 'scheduled' AND scheduled_start <= ?1 "
				   "ORDER BY scheduled_start, id LIMIT 16");
	int64_t ids[16];
	size_t n = 0;

	if (!st)
		return;
	sqlite3_bind_int64(st, 1, time_now_ms());
	while (sqlite3_step(st) == SQLITE_ROW && n < ARRAY_SIZE(ids))
		ids[n++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++)
		campaigns_set_state(e->db, e->events, ids[i], CAMPAIGN_SCHEDULED, CAMPAIGN_RUNNING,
				    "its scheduled start came", false, NULL);
}

static int next_pending_wave(struct engine *e, int64_t campaign, uint32_t *ret_wave)
{
	sqlite3_stmt *st = db_stmt(e->db, "SELECT idx FROM campaign_waves WHERE campaign_id = ?1 AND state = 'pending' "
				   "ORDER BY idx LIMIT 1");
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, campaign);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*ret_wave = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : db_result(e->db, rc, "find the next wave");
}

/* The first running campaign (by start) with a pending wave: that wave starts preparing. A running campaign
 * without one gets a retry wave for its failed targets with attempts left, or completes. */
static int pick_next(struct engine *e)
{
	sqlite3_stmt *st = db_stmt(e->db, "SELECT id FROM campaigns WHERE state = 'running' "
				   "ORDER BY coalesce(started_at, 0), id LIMIT 64");
	int64_t ids[64];
	size_t n = 0;

	if (!st)
		return -EIO;
	while (sqlite3_step(st) == SQLITE_ROW && n < ARRAY_SIZE(ids))
		ids[n++] = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	for (size_t i = 0; i < n; i++) {
		uint32_t wave;
		int r = next_pending_wave(e, ids[i], &wave);

		if (r == 0) {
			enum campaign_state cs;
			size_t retried;

			r = campaigns_retry(e->db, e->events, ids[i], &cs, &retried, &wave);
			if (r == 0) {
				log_info("campaign %" PRId64 ": retry wave %u for %zu failed target(s) with attempts left",
					 ids[i], wave, retried);
				r = 1;
			} else if (r == -ENODATA) {
				campaigns_set_state(e->db, e->events, ids[i], CAMPAIGN_RUNNING, CAMPAIGN_COMPLETED,
						    "every wave is done", false, NULL);
				continue;
			}
		}
		if (r < 0)
			return r;
		r = campaigns_wave_set_state(e->db, e->events, ids[i], wave, CAMPAIGN_WAVE_PREPARING, false, NULL);
		if (r < 0)
			return r;
		return job_load(e, ids[i], wave);
	}
	return 0;
}

/* --- the loop --------------------------------------------------------------------------------------------------- */

static bool busy(const struct engine *e)
{
	switch (e->job.step) {
	case STEP_NONE:
	case STEP_FOLLOW:
		return false;
	case STEP_SYNC:
	case STEP_UNSUBSCRIBE:
	case STEP_SUBSCRIBE:
	case STEP_SLOT:
	case STEP_UPLOAD:
	case STEP_START:
	case STEP_COLLECT:
	case STEP_COMMAND:
	case STEP_READBACK:
		return true;
	}
	return true;
}

static void run_once(struct engine *e)
{
	enum campaign_wave_state ws;
	struct campaign c;
	int r;

	e->waited = false;
	flush_if_due(e);
	start_scheduled(e);
	if (e->job.step == STEP_UNSUBSCRIBE && e->groups && groups_job_state(e->groups) != GROUPS_RUNNING) {
		e->job.step = STEP_NONE;
		e->job.others_removed = true;   /* what could not be removed is recorded (remove_failed) */
	}
	if (e->job.step == STEP_SUBSCRIBE && e->groups && groups_job_state(e->groups) != GROUPS_RUNNING) {
		e->job.step = STEP_NONE;
		subscribe_done(e);
	}
	if (busy(e))
		return;
	if (!e->job.active) {
		r = load_active(e);
		if (r == 0)
			r = pick_next(e);
		if (r == 0)
			cleanup_groups(e);
		if (r <= 0)
			return;
	}
	if (campaigns_get(e->db, e->job.campaign, &c) < 0 || read_wave(e, e->job.campaign, e->job.wave, &ws, NULL) < 0) {
		job_clear(e);
		return;
	}
	if (!e->link_up || !dongle_dist_supported(e->dongle)) {
		if (c.state == CAMPAIGN_RUNNING)
			set_waiting(e, e->link_up ? "waiting for a dongle with the Distributor (protocol 1.1, feature DIST)"
				    : "waiting for the dongle");
		goto out;
	}
	switch (ws) {
	case CAMPAIGN_WAVE_PENDING:
		if (c.state == CAMPAIGN_RUNNING)
			campaigns_wave_set_state(e->db, e->events, c.id, e->job.wave, CAMPAIGN_WAVE_PREPARING, false,
						 NULL);
		break;
	case CAMPAIGN_WAVE_PREPARING:
		if (c.state == CAMPAIGN_RUNNING)
			prepare(e, &c);
		break;
	case CAMPAIGN_WAVE_TRANSFERRING:
	case CAMPAIGN_WAVE_VERIFYING:
	case CAMPAIGN_WAVE_VERIFIED:
	case CAMPAIGN_WAVE_APPLYING:
	case CAMPAIGN_WAVE_CONFIRMING:
		if (!e->job.synced)
			sync_dongle(e);
		else
			follow(e, &c, ws);
		break;
	case CAMPAIGN_WAVE_CANCELLED:
		if (e->job.dist_id && dist_active(e->job.dist_state) && e->job.synced)
			follow(e, &c, ws);
		else
			job_clear(e);
		break;
	case CAMPAIGN_WAVE_DONE:
		job_clear(e);
		schedule(e);
		break;
	}
out:
	/* a wait that this pass did not find again has ended (cleared once, at the end: never set and cleared in
	 * the same pass) */
	if (!e->waited && strncmp(e->job.waiting, "waiting for", 11) == 0)
		set_waiting(e, "");
	campaign_done(&c);
}

static void engine_run(struct engine *e)
{
	if (e->closing)
		return;
	e->running = true;
	for (unsigned pass = 1;; pass++) {
		e->again = false;
		run_once(e);
		if (!e->again || e->closing)
			break;
		if (pass == ENGINE_PASSES_MAX) {
			/* a bug that keeps asking for another pass must not starve the loop (the dongle's replies,
			 * HTTP, signals): the rest waits for the next turn of the loop */
			log_warning("engine: %u passes in a row; going on at the next turn of the loop", pass);
			uv_timer_start(&e->kick, on_kick, 0, 0);
			break;
		}
	}
	e->running = false;
}

static void on_kick(uv_timer_t *t)
{
	engine_run(t->data);
}

static void on_tick(uv_timer_t *t)
{
	struct engine *e = t->data;

	flush_if_due(e);
	engine_run(e);
}

/* --- life cycle ------------------------------------------------------------------------------------------------- */

int engine_new(uv_loop_t *loop, const struct engine_options *o, struct db *db, struct events *events,
	       struct dongle *dongle, struct groups *groups, struct mesh_client *mesh, struct firmware *firmware,
	       struct engine **ret)
{
	struct dongle_dist_watcher w = {
		.target = on_dist_target, .progress = on_dist_progress, .state = on_dist_state, .link = on_dist_link,
		.gap = on_dist_gap,
	};
	struct engine *e = calloc(1, sizeof(*e));
	int r;

	if (!e)
		return -ENOMEM;
	e->writes = calloc(ENGINE_WRITES_MAX, sizeof(*e->writes));
	if (!e->writes) {
		free(e);
		return -ENOMEM;
	}
	e->loop = loop;
	e->o.flush_ms = o && o->flush_ms ? o->flush_ms : ENGINE_FLUSH_MS;
	e->o.tick_ms = o && o->tick_ms ? o->tick_ms : ENGINE_TICK_MS;
	e->db = db;
	e->events = events;
	e->dongle = dongle;
	e->groups = groups;
	e->mesh = mesh;
	e->firmware = firmware;
	r = events_subscribe(events, on_bus, e, &e->sub);
	if (r < 0) {
		free(e->writes);
		free(e);
		return r;
	}
	uv_timer_init(loop, &e->tick);
	uv_timer_init(loop, &e->kick);
	e->tick.data = e->kick.data = e;
	e->open_handles = 2;
	w.userdata = e;
	dongle_dist_watch(dongle, &w);
	e->link_up = link_state(dongle_link(dongle)) == LINK_UP;
	uv_timer_start(&e->tick, on_tick, e->o.tick_ms, e->o.tick_ms);
	uv_timer_start(&e->kick, on_kick, 0, 0);
	*ret = e;
	return 0;
}

static void engine_free(struct engine *e)
{
	job_clear(e);
	free(e->job.image);
	free(e->writes);
	free(e);
}

static void on_closed(uv_handle_t *h)
{
	struct engine *e = h->data;

	if (--e->open_handles > 0 || e->outstanding > 0)
		return;         /* the last reply frees it (reply_enter()) */
	engine_free(e);
}

void engine_close(struct engine *e)
{
	if (!e || e->closing)
		return;
	if (e->n_writes)
		flush(e, false);        /* what the dongle reported is kept */
	if (e->job.image)
		dongle_upload_cancel(e->dongle);        /* its callback runs now, and frees the image */
	e->closing = true;
	dongle_dist_watch(e->dongle, NULL);
	events_unsubscribe(e->events, e->sub);
	if (e->mesh)
		mesh_client_cancel(e->mesh, e);
	uv_close((uv_handle_t *)&e->tick, on_closed);
	uv_close((uv_handle_t *)&e->kick, on_closed);
}
