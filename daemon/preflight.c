/* preflight: see preflight.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaigns.h"
#include "log.h"
#include "mesh_access.h"
#include "mesh_dfu.h"
#include "nodes.h"
#include "preflight.h"
#include "util.h"

#define ACTIVE_MAX (2 * MESH_CLIENT_IN_FLIGHT_MAX)      /* nodes in progress: bounds the mesh client's queue */
#define IMAGE_INDEX 0                                   /* the application image: no node records another */

/* A node being asked. */
struct work {
	struct preflight *p;
	bool busy;
	uint16_t address;
};

struct preflight {
	uv_loop_t *loop;
	struct db *db;
	struct mesh_client *mesh;
	struct events *events;          /* weak; NULL = none */
	enum preflight_state state;
	int64_t campaign;               /* of the last one started; 0 = none */
	bool skip_rejected;
	uint8_t metadata[PREFLIGHT_METADATA_MAX];
	size_t metadata_len;
	uint16_t *targets;              /* owned */
	uint32_t n_targets, next, active, finished, skipped;
	uint32_t counts[PREFLIGHT_STATUS_COUNT];
	int64_t started_at, finished_at;
	struct work work[ACTIVE_MAX];
};

static void feed(struct preflight *p);

const char *preflight_state_to_string(enum preflight_state s)
{
	switch (s) {
	case PREFLIGHT_IDLE: return "idle";
	case PREFLIGHT_RUNNING: return "running";
	case PREFLIGHT_DONE: return "done";
	case PREFLIGHT_CANCELLED: return "cancelled";
	}
	return "unknown";
}

const char *preflight_status_to_string(enum preflight_status s)
{
	switch (s) {
	case PREFLIGHT_SUCCESS: return "success";
	case PREFLIGHT_INSUFFICIENT_RESOURCES: return "insufficient_resources";
	case PREFLIGHT_WRONG_PHASE: return "wrong_phase";
	case PREFLIGHT_INTERNAL_ERROR: return "internal_error";
	case PREFLIGHT_WRONG_FIRMWARE_INDEX: return "wrong_firmware_index";
	case PREFLIGHT_METADATA_CHECK_FAILED: return "metadata_check_failed";
	case PREFLIGHT_TEMPORARILY_UNAVAILABLE: return "temporarily_unavailable";
	case PREFLIGHT_BLOB_TRANSFER_BUSY: return "blob_transfer_busy";
	case PREFLIGHT_UNREACHABLE: return "unreachable";
	case PREFLIGHT_NOT_CAPABLE: return "not_capable";
	case PREFLIGHT_MALFORMED_ANSWER: return "malformed_answer";
	}
	return "unknown";
}

const char *preflight_effect_to_string(unsigned effect, char *buf, size_t size)
{
	switch (effect) {
	case MD_EFFECT_NONE: return "no_change";
	case MD_EFFECT_COMP_CHANGE_NO_RPR: return "composition_change";
	case MD_EFFECT_COMP_CHANGE_RPR: return "composition_change_remote_provisioning";
	case MD_EFFECT_UNPROVISION: return "unprovisioned";
	}
	snprintf(buf, size, "rfu_%u", effect);
	return buf;
}

/* Transient refusals (wrong phase: another update is on; temporarily unavailable; BLOB busy; internal error) and
 * unreachable nodes are no verdict on the image: the campaign's attempt will tell. */
bool preflight_status_rejects(enum preflight_status s)
{
	switch (s) {
	case PREFLIGHT_INSUFFICIENT_RESOURCES:
	case PREFLIGHT_WRONG_FIRMWARE_INDEX:
	case PREFLIGHT_METADATA_CHECK_FAILED:
	case PREFLIGHT_NOT_CAPABLE:
		return true;
	case PREFLIGHT_SUCCESS:
	case PREFLIGHT_WRONG_PHASE:
	case PREFLIGHT_INTERNAL_ERROR:
	case PREFLIGHT_TEMPORARILY_UNAVAILABLE:
	case PREFLIGHT_BLOB_TRANSFER_BUSY:
	case PREFLIGHT_UNREACHABLE:
	case PREFLIGHT_MALFORMED_ANSWER:
		return false;
	}
	return false;
}

/* --- results --- */

/* @effect < 0: no answer. */
static void record(struct preflight *p, uint16_t address, enum preflight_status status, int effect)
{
	sqlite3_stmt *st = db_stmt(p->db, "INSERT OR REPLACE INTO campaign_preflight(campaign_id, address, status, "
				   "effect, image_index, checked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
	char rfu[16];
	int r = -EIO;

	p->counts[status]++;
	if (st) {
		sqlite3_bind_int64(st, 1, p->campaign);
		sqlite3_bind_int(st, 2, address);
		sqlite3_bind_text(st, 3, preflight_status_to_string(status), -1, SQLITE_STATIC);
		if (effect >= 0) {
			sqlite3_bind_text(st, 4, preflight_effect_to_string((unsigned)effect, rfu, sizeof(rfu)), -1,
					  SQLITE_TRANSIENT);
			sqlite3_bind_int(st, 5, IMAGE_INDEX);
		}
		sqlite3_bind_int64(st, 6, time_now_ms());
		r = db_result(p->db, sqlite3_step(st), "record a preflight result");
	}
	if (r < 0)
		log_warning("preflight of campaign %" PRId64 ": node 0x%04x: cannot record its result (%s): %s",
			    p->campaign, address, preflight_status_to_string(status), strerror(-r));
	if (status != PREFLIGHT_SUCCESS)
		log_notice("preflight of campaign %" PRId64 ": node 0x%04x: %s", p->campaign, address,
			   preflight_status_to_string(status));
	if (!p->skip_rejected || !preflight_status_rejects(status))
		return;
	r = campaigns_target_set_state(p->db, p->events, p->campaign, address, CAMPAIGN_TARGET_SKIPPED,
				       PREFLIGHT_REJECTED_REASON, false, NULL);
	if (r == 0)
		p->skipped++;
	else if (r == -EPERM)
		log_notice("preflight of campaign %" PRId64 ": node 0x%04x rejects the image but is no longer "
			   "pending: not skipped (its attempt will fail)", p->campaign, address);
	else
		log_warning("preflight of campaign %" PRId64 ": node 0x%04x: cannot skip it: %s", p->campaign,
			    address, strerror(-r));
}

static void check_done(struct preflight *p)
{
	if (p->state != PREFLIGHT_RUNNING || p->finished < p->n_targets)
		return;
	p->state = PREFLIGHT_DONE;
	p->finished_at = time_now_ms();
	log_info("preflight of campaign %" PRId64 ": %u nodes asked, %u accept the image, %u reject it, %u "
		 "unreachable, %u skipped (%.1f s)", p->campaign, p->n_targets, p->counts[PREFLIGHT_SUCCESS],
		 p->counts[PREFLIGHT_METADATA_CHECK_FAILED] + p->counts[PREFLIGHT_WRONG_FIRMWARE_INDEX] +
		 p->counts[PREFLIGHT_INSUFFICIENT_RESOURCES] + p->counts[PREFLIGHT_NOT_CAPABLE],
		 p->counts[PREFLIGHT_UNREACHABLE], p->skipped, (double)(p->finished_at - p->started_at) / 1000.0);
}

/* Records the node's result and frees its slot (without starting the next: feed() may be the caller). */
static void settle(struct work *w, enum preflight_status status, int effect)
{
	struct preflight *p = w->p;

	record(p, w->address, status, effect);
	w->busy = false;
	p->active--;
	p->finished++;
}

static void finish(struct work *w, enum preflight_status status, int effect)
{
	settle(w, status, effect);
	feed(w->p);
}

static void on_answer(void *userdata, int error, const struct msg_mesh_recv *a)
{
	struct work *w = userdata;
	struct md_msg m;

	if (error == -ECANCELED || !w->busy)
		return;
	if (error < 0) {
		finish(w, PREFLIGHT_UNREACHABLE, -1);
		return;
	}
	if (md_decode(a->payload, a->payload_len, &m) != MA_OK || m.opcode != MD_OP_METADATA_STATUS ||
	    m.u.metadata_status.status > MD_BLOB_TRANSFER_BUSY) {
		finish(w, PREFLIGHT_MALFORMED_ANSWER, -1);
		return;
	}
	/* the status codes 0..7 are the first values of enum preflight_status, in order */
	finish(w, (enum preflight_status)m.u.metadata_status.status, m.u.metadata_status.effect);
}

/* The element of the node's Firmware Update Server from its recorded composition: 0 (the primary element, where
 * Zephyr's samples put it) when none is recorded. -ENODEV when the composition has none. */
static int fu_element(struct preflight *p, uint16_t address, uint8_t *ret)
{
	uint8_t comp[MA_PAYLOAD_MAX];
	struct ma_comp0 parsed;
	size_t len = 0;
	int r = nodes_get_composition(p->db, address, comp, sizeof(comp), &len);

	if (r == -ENODATA || r == -ENOENT) {
		*ret = 0;
		return 0;
	}
	if (r < 0)
		return r;
	r = node_composition_dfu_element(comp, len, &parsed, ret);
	if (r == -EBADMSG) {
		*ret = 0;
		return 0;
	}
	return r;
}

static int send_check(struct work *w, uint8_t element)
{
	struct preflight *p = w->p;
	struct md_msg m = { .opcode = MD_OP_METADATA_CHECK };
	uint8_t buf[MA_PAYLOAD_MAX];
	size_t len;
	struct mesh_exchange x = {
		.dst = (uint16_t)(w->address + element),
		.ttl = MSG_TTL_DEFAULT,
		.answer_opcode = MD_OP_METADATA_STATUS,
		.answer_elements = 1,
		.done = on_answer,
		.userdata = w,
	};

	m.u.metadata_check = (struct md_metadata_check){
		.image_index = IMAGE_INDEX, .metadata = p->metadata, .metadata_len = p->metadata_len,
	};
	if (md_encode(&m, buf, sizeof(buf), &len) != MA_OK)
		return -EINVAL;
	x.payload = buf;
	x.payload_len = (uint16_t)len;
	return mesh_client_exchange(p->mesh, &x);
}

/* Keeps a bounded number of nodes in progress: the mesh client paces the messages, this bounds its queue. */
static void feed(struct preflight *p)
{
	for (uint32_t i = 0; i < ACTIVE_MAX; i++) {
		struct work *w = &p->work[i];

		/* a node settled at once (not capable, cannot be asked) leaves its slot to the next one here, without
		 * recursion however many of them follow each other */
		while (!w->busy && p->state == PREFLIGHT_RUNNING && p->next < p->n_targets) {
			uint8_t element = 0;
			int r;

			*w = (struct work){ .p = p, .busy = true, .address = p->targets[p->next++] };
			p->active++;
			r = fu_element(p, w->address, &element);
			if (r == -ENODEV) {
				settle(w, PREFLIGHT_NOT_CAPABLE, -1);
				continue;
			}
			if (r == 0)
				r = send_check(w, element);
			if (r < 0) {
				log_warning("preflight of campaign %" PRId64 ": node 0x%04x: cannot ask it: %s",
					    p->campaign, w->address, strerror(-r));
				settle(w, PREFLIGHT_UNREACHABLE, -1);
			}
		}
	}
	check_done(p);
}

/* --- starting and stopping --- */

static int collect(struct preflight *p, int64_t campaign)
{
	sqlite3_stmt *st = db_stmt(p->db, "SELECT address FROM campaign_targets WHERE campaign_id = ?1 AND "
				   "state = 'pending' ORDER BY address");
	uint32_t cap = 0;
	int rc;

	if (!st)
		return -EIO;
	p->n_targets = 0;
	sqlite3_bind_int64(st, 1, campaign);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (p->n_targets == cap) {
			uint32_t more = cap ? 2 * cap : 256;
			uint16_t *t = more <= CAMPAIGN_TARGETS_MAX ? realloc(p->targets, more * sizeof(*t)) : NULL;

			if (!t) {
				sqlite3_reset(st);
				return -ENOMEM;
			}
			p->targets = t;
			cap = more;
		}
		p->targets[p->n_targets++] = (uint16_t)sqlite3_column_int(st, 0);
	}
	sqlite3_reset(st);
	return db_result(p->db, rc, "list the pending targets");
}

static int clear_results(struct preflight *p, int64_t campaign)
{
	sqlite3_stmt *st = db_stmt(p->db, "DELETE FROM campaign_preflight WHERE campaign_id = ?1 AND address IN "
				   "(SELECT address FROM campaign_targets WHERE campaign_id = ?1 AND state = 'pending')");

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, campaign);
	return db_result(p->db, sqlite3_step(st), "clear earlier preflight results");
}

int preflight_start(struct preflight *p, int64_t campaign, const uint8_t *metadata, size_t metadata_len,
		    bool skip_rejected)
{
	int r;

	if (p->state == PREFLIGHT_RUNNING)
		return -EBUSY;
	if (metadata_len > PREFLIGHT_METADATA_MAX)
		return -EMSGSIZE;
	if (!mesh_client_ready(p->mesh))
		return -ENOTCONN;
	r = collect(p, campaign);
	if (r == 0 && p->n_targets == 0)
		r = -ENOENT;
	if (r == 0)
		r = clear_results(p, campaign);
	if (r < 0) {
		p->n_targets = 0;
		return r;
	}
	if (metadata_len)
		memcpy(p->metadata, metadata, metadata_len);
	p->metadata_len = metadata_len;
	p->campaign = campaign;
	p->skip_rejected = skip_rejected;
	p->next = p->active = p->finished = p->skipped = 0;
	memset(p->counts, 0, sizeof(p->counts));
	p->started_at = time_now_ms();
	p->finished_at = 0;
	p->state = PREFLIGHT_RUNNING;
	log_info("preflight of campaign %" PRId64 ": asking %u nodes whether they accept the image's metadata (%zu "
		 "bytes)%s", campaign, p->n_targets, metadata_len, skip_rejected ? "; those that reject it are skipped" :
		 "");
	feed(p);
	return 0;
}

int preflight_cancel(struct preflight *p, int64_t campaign)
{
	if (p->state != PREFLIGHT_RUNNING || p->campaign != campaign)
		return -ENOENT;
	p->state = PREFLIGHT_CANCELLED;
	p->finished_at = time_now_ms();
	for (uint32_t i = 0; i < ACTIVE_MAX; i++)
		if (p->work[i].busy) {
			p->work[i].busy = false;
			mesh_client_cancel(p->mesh, &p->work[i]);
		}
	p->active = 0;
	log_info("preflight of campaign %" PRId64 ": cancelled after %u of %u nodes", campaign, p->finished,
		 p->n_targets);
	return 0;
}

int64_t preflight_running(const struct preflight *p)
{
	return p->state == PREFLIGHT_RUNNING ? p->campaign : 0;
}

int preflight_new(uv_loop_t *loop, struct db *db, struct mesh_client *mesh, struct preflight **ret)
{
	struct preflight *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->loop = loop;
	p->db = db;
	p->mesh = mesh;
	*ret = p;
	return 0;
}

void preflight_free(struct preflight *p)
{
	if (!p)
		return;
	preflight_cancel(p, p->campaign);
	free(p->targets);
	free(p);
}

void preflight_set_events(struct preflight *p, struct events *events)
{
	p->events = events;
}

/* --- JSON --- */

static json_t *time_json(int64_t ms)
{
	char text[21];

	if (!ms)
		return json_null();
	time_format_rfc3339(ms, text);
	return json_string(text);
}

/* One stored result as the API shows it. */
static json_t *result_json(sqlite3_stmt *st, int first_col, bool with_address)
{
	json_t *o = json_pack("{s:s, s:o, s:o, s:o}", "status", (const char *)sqlite3_column_text(st, first_col),
			      "effect", sqlite3_column_type(st, first_col + 1) == SQLITE_NULL ? json_null() :
			      json_string((const char *)sqlite3_column_text(st, first_col + 1)),
			      "image_index", sqlite3_column_type(st, first_col + 2) == SQLITE_NULL ? json_null() :
			      json_integer(sqlite3_column_int(st, first_col + 2)),
			      "checked_at", time_json(sqlite3_column_int64(st, first_col + 3)));

	if (o && with_address)
		json_object_set_new(o, "address", json_integer(sqlite3_column_int(st, first_col - 1)));
	if (o) {
		enum preflight_status s;
		bool rejects = false;

		for (s = PREFLIGHT_SUCCESS; s < PREFLIGHT_STATUS_COUNT; s++)
			if (strcmp(preflight_status_to_string(s), (const char *)sqlite3_column_text(st, first_col)) == 0)
				rejects = preflight_status_rejects(s);
		json_object_set_new(o, "rejects", json_boolean(rejects));
	}
	return o;
}

int preflight_to_json(const struct preflight *p, struct db *db, int64_t campaign, json_t **ret)
{
	sqlite3_stmt *counts = db_stmt(db, "SELECT status, count(*) FROM campaign_preflight WHERE campaign_id = ?1 "
				       "GROUP BY status");
	sqlite3_stmt *rows;
	bool ours = p && p->campaign == campaign;
	json_t *o, *by_status, *results;
	uint64_t stored = 0;
	int rc, r;

	if (!counts)
		return -EIO;
	o = json_pack("{s:I, s:s, s:b}", "campaign", (json_int_t)campaign, "state",
		      preflight_state_to_string(ours ? p->state : PREFLIGHT_IDLE), "skip_rejected",
		      ours && p->skip_rejected);
	by_status = json_object();
	results = json_array();
	if (!o || !by_status || !results) {
		r = -ENOMEM;
		goto fail;
	}
	json_object_set_new(o, "total", ours ? json_integer(p->n_targets) : json_null());
	json_object_set_new(o, "done", ours ? json_integer(p->finished) : json_null());
	json_object_set_new(o, "skipped", ours ? json_integer(p->skipped) : json_null());
	json_object_set_new(o, "started_at", time_json(ours ? p->started_at : 0));
	json_object_set_new(o, "finished_at", time_json(ours ? p->finished_at : 0));
	sqlite3_bind_int64(counts, 1, campaign);
	while ((rc = sqlite3_step(counts)) == SQLITE_ROW) {
		json_object_set_new(by_status, (const char *)sqlite3_column_text(counts, 0),
				    json_integer(sqlite3_column_int64(counts, 1)));
		stored += (uint64_t)sqlite3_column_int64(counts, 1);
	}
	sqlite3_reset(counts);
	r = db_result(db, rc, "count the preflight results");
	if (r < 0)
		goto fail;
	rows = db_stmt(db, "SELECT address, status, effect, image_index, checked_at FROM campaign_preflight WHERE "
		       "campaign_id = ?1 ORDER BY address LIMIT ?2");
	if (!rows) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_int64(rows, 1, campaign);
	sqlite3_bind_int(rows, 2, PREFLIGHT_RESULTS_MAX);
	while ((rc = sqlite3_step(rows)) == SQLITE_ROW)
		json_array_append_new(results, result_json(rows, 1, true));
	sqlite3_reset(rows);
	r = db_result(db, rc, "read the preflight results");
	if (r < 0)
		goto fail;
	json_object_set_new(o, "results_stored", json_integer((json_int_t)stored));
	json_object_set_new(o, "counts", by_status);
	json_object_set_new(o, "results", results);
	json_object_set_new(o, "results_truncated", json_boolean(stored > PREFLIGHT_RESULTS_MAX));
	*ret = o;
	return 0;

fail:
	json_decref(results);
	json_decref(by_status);
	json_decref(o);
	return r;
}

int preflight_annotate(struct db *db, int64_t campaign, json_t *targets)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT status, effect, image_index, checked_at FROM campaign_preflight "
				   "WHERE campaign_id = ?1 AND address = ?2");
	size_t i;
	json_t *t;

	if (!st)
		return -EIO;
	json_array_foreach(targets, i, t) {
		json_int_t address = json_integer_value(json_object_get(t, "address"));
		int rc;

		sqlite3_bind_int64(st, 1, campaign);
		sqlite3_bind_int64(st, 2, address);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			json_object_set_new(t, "preflight", result_json(st, 0, false));
		else
			json_object_set_new(t, "preflight", json_null());
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return db_result(db, rc, "read a preflight result");
	}
	return 0;
}
