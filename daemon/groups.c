/* groups: see groups.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "groups.h"
#include "log.h"
#include "mesh_access.h"
#include "network.h"
#include "nodes.h"
#include "util.h"

#define ACTIVE_MAX (2 * MESH_CLIENT_IN_FLIGHT_MAX)      /* nodes in progress: bounds the mesh client's queue */
#define STALE_MAX 3             /* answers that do not match the request before a node is given up */

#define REASON_NOT_DFU_CAPABLE "not_dfu_capable: no Firmware Update Server and BLOB Transfer Server on one element"
#define REASON_NOT_PROVISIONED "not_provisioned: no device key is known for this node: import the network from " \
	"its provisioner (meshfleetctl network import FILE)"

/* The steps of one node, in the order they are taken; next_step() skips what is recorded as done. */
enum step {
	STEP_COMP,
	STEP_APPKEY,
	STEP_BIND_FU,
	STEP_BIND_BLOB,
	STEP_SUB_FU,
	STEP_SUB_BLOB,
	STEP_UNSUB_FU,
	STEP_UNSUB_BLOB,
	STEP_DONE,
};

enum result { RESULT_SUCCEEDED, RESULT_UNCHANGED, RESULT_FAILED, RESULT_REFUSED };

/* What the database says of a node, as read when its turn comes. */
struct record {
	bool provisioned;
	uint16_t comp_len;              /* 0 = composition unknown */
	uint8_t comp[MA_PAYLOAD_MAX];   /* page 0 as received, after the page byte */
	int32_t cfg_key_index;          /* node_config: -1 = no row */
	int32_t cfg_element;
	bool app_key_added, fu_bound, blob_bound;
	bool member_row;                /* group_members */
	int32_t member_element;         /* -1 = none */
	bool fu_subscribed, blob_subscribed;
	enum groups_member_state member_state;
	char member_reason[GROUPS_REASON_MAX + 1];
};

/* A node being configured. */
struct work {
	struct groups *g;
	bool busy;
	uint16_t address;
	enum step step;
	struct record rec;
	bool have_element;
	uint8_t element;                /* index of the element with both DFU server models */
	/* what the node has, as recorded and as acknowledged since */
	bool app_key_added, fu_bound, blob_bound, fu_subscribed, blob_subscribed;
	bool answered;                  /* anything came back */
	bool appkey_again;              /* AppKey Add sent again after a Bind said the key is missing */
	uint8_t stale;
	uint32_t sent;
};

struct groups {
	uv_loop_t *loop;
	struct db *db;
	struct mesh_client *mesh;
	struct events *events;          /* weak; NULL = none */
	struct network net;             /* keys for AppKey Add; while running */
	/* the running or last job; in memory only: the records are what persists */
	enum groups_job_state state;
	enum groups_action action;
	uint16_t group;
	uint32_t id;
	uint16_t *targets;              /* owned */
	uint32_t n_targets, cap_targets, next, active, finished;
	uint32_t succeeded, unchanged, failed, refused;
	uint64_t sent;
	int64_t started_at, finished_at;
	bool feeding;
	struct work work[ACTIVE_MAX];
};

static void advance(struct work *t);
static void feed(struct groups *g);

const char *groups_action_to_string(enum groups_action action)
{
	switch (action) {
	case GROUPS_ADD: return "add";
	case GROUPS_REMOVE: return "remove";
	}
	return "unknown";
}

const char *groups_job_state_to_string(enum groups_job_state state)
{
	switch (state) {
	case GROUPS_IDLE: return "idle";
	case GROUPS_RUNNING: return "running";
	case GROUPS_DONE: return "done";
	case GROUPS_CANCELLED: return "cancelled";
	}
	return "unknown";
}

const char *groups_member_state_to_string(enum groups_member_state state)
{
	switch (state) {
	case GROUPS_MEMBER_PENDING: return "pending";
	case GROUPS_MEMBER_MEMBER: return "member";
	case GROUPS_MEMBER_FAILED: return "failed";
	case GROUPS_MEMBER_REFUSED: return "refused";
	case GROUPS_MEMBER_REMOVE_FAILED: return "remove_failed";
	}
	return "unknown";
}

static enum groups_member_state member_state_from_string(const char *s)
{
	static const enum groups_member_state all[] = {
		GROUPS_MEMBER_PENDING, GROUPS_MEMBER_MEMBER, GROUPS_MEMBER_FAILED, GROUPS_MEMBER_REFUSED,
		GROUPS_MEMBER_REMOVE_FAILED,
	};

	for (size_t i = 0; s && i < ARRAY_SIZE(all); i++)
		if (strcmp(s, groups_member_state_to_string(all[i])) == 0)
			return all[i];
	return GROUPS_MEMBER_PENDING;   /* the table's CHECK allows no other value */
}

void groups_set_events(struct groups *g, struct events *events)
{
	g->events = events;
}

static void publish(struct groups *g, const char *phase)
{
	char key[EVENTS_KEY_MAX];
	json_t *o;

	if (!g->events)
		return;
	o = groups_job_to_json(g);
	if (o)
		json_object_set_new(o, "phase", json_string(phase));
	snprintf(key, sizeof(key), "group_job:%u", g->id);
	events_progress(g->events, EVENT_GROUP_JOB, key, o, strcmp(phase, "progress") != 0);
}

/* The job's one state machine: idle or finished -> running -> done or cancelled. */
static void job_set_state(struct groups *g, enum groups_job_state state)
{
	bool allowed = false;

	switch (state) {
	case GROUPS_IDLE:
		break;
	case GROUPS_RUNNING:
		allowed = g->state != GROUPS_RUNNING;
		break;
	case GROUPS_DONE:
	case GROUPS_CANCELLED:
		allowed = g->state == GROUPS_RUNNING;
		break;
	}
	if (!allowed) {
		log_err("groups: job %u: %s -> %s is not a transition; ignored", g->id,
			groups_job_state_to_string(g->state), groups_job_state_to_string(state));
		return;
	}
	log_debug("groups: job %u: %s -> %s", g->id, groups_job_state_to_string(g->state),
		  groups_job_state_to_string(state));
	g->state = state;
}

/* "Config Model App Bind (BLOB Transfer Server)": for reasons and logs. */
static const char *step_name(enum step step, char *buf, size_t len)
{
	uint32_t opcode = 0;
	uint16_t model = 0;

	switch (step) {
	case STEP_COMP: opcode = MA_OP_COMP_GET; break;
	case STEP_APPKEY: opcode = MA_OP_APPKEY_ADD; break;
	case STEP_BIND_FU: opcode = MA_OP_MODEL_APP_BIND; model = MA_MODEL_DFU_SRV; break;
	case STEP_BIND_BLOB: opcode = MA_OP_MODEL_APP_BIND; model = MA_MODEL_BLOB_SRV; break;
	case STEP_SUB_FU: opcode = MA_OP_MODEL_SUB_ADD; model = MA_MODEL_DFU_SRV; break;
	case STEP_SUB_BLOB: opcode = MA_OP_MODEL_SUB_ADD; model = MA_MODEL_BLOB_SRV; break;
	case STEP_UNSUB_FU: opcode = MA_OP_MODEL_SUB_DEL; model = MA_MODEL_DFU_SRV; break;
	case STEP_UNSUB_BLOB: opcode = MA_OP_MODEL_SUB_DEL; model = MA_MODEL_BLOB_SRV; break;
	case STEP_DONE: snprintf(buf, len, "nothing"); return buf;
	}
	if (model)
		snprintf(buf, len, "%s (%s)", ma_opcode_to_string(opcode), ma_model_to_string(model));
	else
		snprintf(buf, len, "%s", ma_opcode_to_string(opcode));
	return buf;
}

static uint16_t step_model(enum step step)
{
	switch (step) {
	case STEP_BIND_FU:
	case STEP_SUB_FU:
	case STEP_UNSUB_FU:
		return MA_MODEL_DFU_SRV;
	case STEP_BIND_BLOB:
	case STEP_SUB_BLOB:
	case STEP_UNSUB_BLOB:
		return MA_MODEL_BLOB_SRV;
	case STEP_COMP:
	case STEP_APPKEY:
	case STEP_DONE:
		break;
	}
	return 0;
}

/* --- the records --- */

static int load_record(struct groups *g, uint16_t address, struct record *rec)
{
	sqlite3_stmt *stmt = db_stmt(g->db,
		"SELECT n.composition, n.device_key IS NOT NULL, c.app_key_index, c.element, c.app_key_added, "
		"  c.fu_bound, c.blob_bound, m.address IS NOT NULL, m.element, m.fu_subscribed, m.blob_subscribed, "
		"  m.state, m.reason "
		"FROM nodes n LEFT JOIN node_config c ON c.address = n.address "
		"  LEFT JOIN group_members m ON m.group_address = ?2 AND m.address = n.address "
		"WHERE n.address = ?1");
	int rc, len;

	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, address);
	sqlite3_bind_int(stmt, 2, g->group);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return db_result(g->db, rc, "read a node's configuration");
	*rec = (struct record){ .cfg_key_index = -1, .cfg_element = -1, .member_element = -1 };
	len = sqlite3_column_bytes(stmt, 0);
	if (sqlite3_column_type(stmt, 0) == SQLITE_BLOB && len > 0 && (size_t)len <= sizeof(rec->comp)) {
		memcpy(rec->comp, sqlite3_column_blob(stmt, 0), (size_t)len);
		rec->comp_len = (uint16_t)len;
	}
	rec->provisioned = sqlite3_column_int(stmt, 1);
	if (sqlite3_column_type(stmt, 2) != SQLITE_NULL) {
		rec->cfg_key_index = sqlite3_column_int(stmt, 2);
		rec->cfg_element = sqlite3_column_int(stmt, 3);
		rec->app_key_added = sqlite3_column_int(stmt, 4);
		rec->fu_bound = sqlite3_column_int(stmt, 5);
		rec->blob_bound = sqlite3_column_int(stmt, 6);
	}
	rec->member_row = sqlite3_column_int(stmt, 7);
	if (rec->member_row) {
		if (sqlite3_column_type(stmt, 8) != SQLITE_NULL)
			rec->member_element = sqlite3_column_int(stmt, 8);
		rec->fu_subscribed = sqlite3_column_int(stmt, 9);
		rec->blob_subscribed = sqlite3_column_int(stmt, 10);
		rec->member_state = member_state_from_string((const char *)sqlite3_column_text(stmt, 11));
		if (sqlite3_column_type(stmt, 12) == SQLITE_TEXT)
			snprintf(rec->member_reason, sizeof(rec->member_reason), "%s",
				 (const char *)sqlite3_column_text(stmt, 12));
	}
	sqlite3_reset(stmt);
	return 0;
}

static int record_config(struct work *t)
{
	struct groups *g = t->g;
	sqlite3_stmt *stmt = db_stmt(g->db,
		"INSERT INTO node_config(address, app_key_index, element, app_key_added, fu_bound, blob_bound, "
		"  updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
		"ON CONFLICT(address) DO UPDATE SET app_key_index = ?2, element = ?3, app_key_added = ?4, "
		"  fu_bound = ?5, blob_bound = ?6, updated_at = ?7");

	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, t->address);
	sqlite3_bind_int(stmt, 2, g->net.app_key_index);
	sqlite3_bind_int(stmt, 3, t->element);
	sqlite3_bind_int(stmt, 4, t->app_key_added);
	sqlite3_bind_int(stmt, 5, t->fu_bound);
	sqlite3_bind_int(stmt, 6, t->blob_bound);
	sqlite3_bind_int64(stmt, 7, time_now_ms());
	return db_result(g->db, sqlite3_step(stmt), "record a node's configuration");
}

static int record_member(struct work *t, enum groups_member_state state, const char *reason)
{
	struct groups *g = t->g;
	sqlite3_stmt *stmt = db_stmt(g->db,
		"INSERT INTO group_members(group_address, address, element, fu_subscribed, blob_subscribed, state, "
		"  reason, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
		"ON CONFLICT(group_address, address) DO UPDATE SET element = ?3, fu_subscribed = ?4, "
		"  blob_subscribed = ?5, state = ?6, reason = ?7, updated_at = ?8");

	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, g->group);
	sqlite3_bind_int(stmt, 2, t->address);
	if (t->have_element)
		sqlite3_bind_int(stmt, 3, t->element);
	sqlite3_bind_int(stmt, 4, t->fu_subscribed);
	sqlite3_bind_int(stmt, 5, t->blob_subscribed);
	sqlite3_bind_text(stmt, 6, groups_member_state_to_string(state), -1, SQLITE_STATIC);
	if (reason)
		sqlite3_bind_text(stmt, 7, reason, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 8, time_now_ms());
	t->rec.member_row = true;
	t->rec.member_state = state;
	return db_result(g->db, sqlite3_step(stmt), "record a group member");
}

static int forget_member(struct work *t)
{
	struct groups *g = t->g;
	sqlite3_stmt *stmt = db_stmt(g->db, "DELETE FROM group_members WHERE group_address = ?1 AND address = ?2");

	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, g->group);
	sqlite3_bind_int(stmt, 2, t->address);
	t->rec.member_row = false;
	return db_result(g->db, sqlite3_step(stmt), "forget a group member");
}

static int record_seen(struct work *t)
{
	sqlite3_stmt *stmt = db_stmt(t->g->db, "UPDATE nodes SET reachable = 1, last_seen = ?2 WHERE address = ?1");

	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, t->address);
	sqlite3_bind_int64(stmt, 2, time_now_ms());
	return db_result(t->g->db, sqlite3_step(stmt), "record that a node answered");
}

/* Whether the member row already says @state and @reason, so that a request that sent nothing changes nothing. */
static bool member_says(const struct work *t, enum groups_member_state state, const char *reason)
{
	return t->rec.member_row && !t->sent && t->rec.member_state == state &&
	       strcmp(t->rec.member_reason, reason ? reason : "") == 0;
}

/* The end of one node: its member row and whether it answered, in one transaction. */
static int record_result(struct work *t, enum result result, const char *reason)
{
	struct groups *g = t->g;
	bool add = g->action == GROUPS_ADD;
	enum groups_member_state state;
	int r;

	r = db_begin(g->db);
	if (r < 0)
		return r;
	switch (result) {
	case RESULT_SUCCEEDED:
	case RESULT_UNCHANGED:
		if (!add)
			r = t->rec.member_row ? forget_member(t) : 0;
		else if (!member_says(t, GROUPS_MEMBER_MEMBER, NULL))
			r = record_member(t, GROUPS_MEMBER_MEMBER, NULL);
		break;
	case RESULT_FAILED:
	case RESULT_REFUSED:
		state = !add ? GROUPS_MEMBER_REMOVE_FAILED :
			result == RESULT_FAILED ? GROUPS_MEMBER_FAILED : GROUPS_MEMBER_REFUSED;
		if ((add || t->rec.member_row) && !member_says(t, state, reason))
			r = record_member(t, state, reason);
		break;
	}
	if (r == 0 && t->answered)
		r = record_seen(t);
	if (r == 0)
		r = db_commit(g->db);
	if (r < 0)
		db_rollback(g->db);
	return r;
}

/* --- one node --- */

static void check_done(struct groups *g)
{
	if (g->state != GROUPS_RUNNING || g->finished < g->n_targets)
		return;
	job_set_state(g, GROUPS_DONE);
	g->finished_at = time_now_ms();
	explicit_bzero(&g->net, sizeof(g->net));
	publish(g, "done");
	log_info("groups: job %u, %s 0x%04x: %u nodes, %u succeeded, %u unchanged, %u failed, %u refused, "
		 "%llu messages (%.1f s)", g->id, groups_action_to_string(g->action), g->group, g->n_targets,
		 g->succeeded, g->unchanged, g->failed, g->refused, (unsigned long long)g->sent,
		 (double)(g->finished_at - g->started_at) / 1000.0);
}

__attribute__((format(printf, 3, 4)))
static void finish(struct work *t, enum result result, const char *fmt, ...)
{
	struct groups *g = t->g;
	char reason[GROUPS_REASON_MAX + 1] = "";
	int r;

	if (fmt) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
	}
	t->step = STEP_DONE;
	r = record_result(t, result, fmt ? reason : NULL);
	if (r < 0)
		log_warning("groups: node 0x%04x: cannot record the result for group 0x%04x: %s", t->address,
			    g->group, strerror(-r));
	switch (result) {
	case RESULT_SUCCEEDED:
		g->succeeded++;
		break;
	case RESULT_UNCHANGED:
		g->unchanged++;
		break;
	case RESULT_FAILED:
		g->failed++;
		log_notice("groups: node 0x%04x, %s 0x%04x: %s", t->address, groups_action_to_string(g->action),
			   g->group, reason);
		break;
	case RESULT_REFUSED:
		g->refused++;
		log_notice("groups: node 0x%04x, %s 0x%04x: refused: %s", t->address,
			   groups_action_to_string(g->action), g->group, reason);
		break;
	}
	t->busy = false;
	g->active--;
	g->finished++;
	feed(g);
	if (g->state == GROUPS_RUNNING)
		publish(g, "progress");
}

static enum step next_step(const struct work *t)
{
	if (t->g->action == GROUPS_REMOVE)
		return t->fu_subscribed ? STEP_UNSUB_FU : t->blob_subscribed ? STEP_UNSUB_BLOB : STEP_DONE;
	if (!t->have_element)
		return STEP_COMP;
	if (!t->app_key_added)
		return STEP_APPKEY;
	if (!t->fu_bound)
		return STEP_BIND_FU;
	if (!t->blob_bound)
		return STEP_BIND_BLOB;
	if (!t->fu_subscribed)
		return STEP_SUB_FU;
	if (!t->blob_subscribed)
		return STEP_SUB_BLOB;
	return STEP_DONE;
}

/* The element to configure is known: what the records say holds only for the same key and element. */
static void take_element(struct work *t, uint8_t element)
{
	const struct record *rec = &t->rec;
	bool same_key = rec->cfg_key_index == t->g->net.app_key_index;
	bool same_element = same_key && rec->cfg_element == element;

	t->have_element = true;
	t->element = element;
	t->app_key_added = same_key && rec->app_key_added;
	t->fu_bound = same_element && rec->fu_bound;
	t->blob_bound = same_element && rec->blob_bound;
	t->fu_subscribed = rec->member_element == element && rec->fu_subscribed;
	t->blob_subscribed = rec->member_element == element && rec->blob_subscribed;
}

static void on_answer(void *userdata, int error, const struct msg_mesh_recv *answer);

static int send_step(struct work *t)
{
	struct groups *g = t->g;
	uint16_t elem_addr = (uint16_t)(t->address + t->element);
	struct ma_msg m = { 0 };
	struct mesh_exchange x = {
		.dst = t->address,
		.devkey = true,
		.ttl = MSG_TTL_DEFAULT,
		.answer_elements = 1,           /* the Configuration Server is on the primary element */
		.done = on_answer,
		.userdata = t,
	};
	uint8_t buf[MA_PAYLOAD_MAX];
	size_t len;
	int r;

	switch (t->step) {
	case STEP_COMP:
		m.opcode = MA_OP_COMP_GET;
		m.u.comp_page = 0;
		x.answer_opcode = MA_OP_COMP_STATUS;
		break;
	case STEP_APPKEY:
		m.opcode = MA_OP_APPKEY_ADD;
		m.u.appkey.net_key_index = g->net.net_key_index;
		m.u.appkey.app_key_index = g->net.app_key_index;
		memcpy(m.u.appkey.key, g->net.app_key, MA_KEY_SIZE);
		x.answer_opcode = MA_OP_APPKEY_STATUS;
		break;
	case STEP_BIND_FU:
	case STEP_BIND_BLOB:
		m.opcode = MA_OP_MODEL_APP_BIND;
		m.u.model_app = (struct ma_model_app){
			.elem_addr = elem_addr,
			.app_key_index = g->net.app_key_index,
			.model = MA_SIG_MODEL(step_model(t->step)),
		};
		x.answer_opcode = MA_OP_MODEL_APP_STATUS;
		break;
	case STEP_SUB_FU:
	case STEP_SUB_BLOB:
	case STEP_UNSUB_FU:
	case STEP_UNSUB_BLOB:
		m.opcode = t->step == STEP_SUB_FU || t->step == STEP_SUB_BLOB ? MA_OP_MODEL_SUB_ADD : MA_OP_MODEL_SUB_DEL;
		m.u.model_sub = (struct ma_model_sub){
			.elem_addr = elem_addr,
			.address = g->group,
			.model = MA_SIG_MODEL(step_model(t->step)),
		};
		x.answer_opcode = MA_OP_MODEL_SUB_STATUS;
		break;
	case STEP_DONE:
		return -EINVAL;
	}
	if (ma_encode(&m, buf, sizeof(buf), &len) != MA_OK) {
		explicit_bzero(&m, sizeof(m));
		return -EINVAL;
	}
	explicit_bzero(&m, sizeof(m));
	x.payload = buf;
	x.payload_len = (uint16_t)len;
	/* Counted first: the exchange may end before mesh_client_exchange() returns (no device key). */
	t->sent++;
	g->sent++;
	r = mesh_client_exchange(g->mesh, &x);
	explicit_bzero(buf, sizeof(buf));
	if (r < 0) {
		t->sent--;
		g->sent--;
	}
	return r;
}

/* Sends the node's next step, or ends it when none is left. */
static void advance(struct work *t)
{
	char what[96];
	int r;

	t->step = next_step(t);
	if (t->step == STEP_DONE) {
		finish(t, t->sent ? RESULT_SUCCEEDED : RESULT_UNCHANGED, NULL);
		return;
	}
	r = send_step(t);
	if (r < 0)
		finish(t, RESULT_FAILED, "internal: cannot queue %s: %s", step_name(t->step, what, sizeof(what)),
		       strerror(-r));
	/* else @t may already be finished: do not touch it */
}

/* Whether a status answers the request of the current step (a late answer to an earlier attempt of another step
 * has the same opcode and source). */
static bool answer_matches(const struct work *t, const struct ma_msg *m)
{
	const struct groups *g = t->g;
	uint16_t elem_addr = (uint16_t)(t->address + t->element);
	uint16_t model = step_model(t->step);

	switch (t->step) {
	case STEP_COMP:
		return m->opcode == MA_OP_COMP_STATUS && m->u.comp.page == 0;
	case STEP_APPKEY:
		return m->opcode == MA_OP_APPKEY_STATUS && m->u.appkey.net_key_index == g->net.net_key_index &&
		       m->u.appkey.app_key_index == g->net.app_key_index;
	case STEP_BIND_FU:
	case STEP_BIND_BLOB:
		return m->opcode == MA_OP_MODEL_APP_STATUS && m->u.model_app.elem_addr == elem_addr &&
		       m->u.model_app.app_key_index == g->net.app_key_index && !m->u.model_app.model.vendor &&
		       m->u.model_app.model.id == model;
	case STEP_SUB_FU:
	case STEP_SUB_BLOB:
	case STEP_UNSUB_FU:
	case STEP_UNSUB_BLOB:
		return m->opcode == MA_OP_MODEL_SUB_STATUS && m->u.model_sub.elem_addr == elem_addr &&
		       m->u.model_sub.address == g->group && !m->u.model_sub.model.vendor &&
		       m->u.model_sub.model.id == model;
	case STEP_DONE:
		break;
	}
	return false;
}

/* The status code of a matching answer, and what the node keeps if it is a success. */
static uint8_t take_status(struct work *t, const struct ma_msg *m, int *ret_record)
{
	uint8_t status;

	*ret_record = 0;
	switch (t->step) {
	case STEP_APPKEY:
		status = m->u.appkey.status;
		/* The same key again is Success (Mesh Protocol 4.4.1.2.8); some stacks answer Key Index Already Stored
		 * to it. Were it another key under the index, the Firmware Update Server would not hear meshfleet:
		 * a refresh or a campaign then says so. */
		if (status == MA_CFG_KEY_INDEX_ALREADY_STORED) {
			log_notice("groups: node 0x%04x answered Key Index Already Stored to AppKey Add of key index %u: "
				   "taken as the same key", t->address, t->g->net.app_key_index);
			status = MA_CFG_SUCCESS;
		}
		if (status == MA_CFG_SUCCESS) {
			t->app_key_added = true;
			*ret_record = record_config(t);
		}
		return status;
	case STEP_BIND_FU:
	case STEP_BIND_BLOB:
		status = m->u.model_app.status;
		if (status == MA_CFG_INVALID_APPKEY_INDEX && !t->appkey_again) {
			/* The node lost the key (a reset, another provisioner): add it again, then bind. */
			t->appkey_again = true;
			t->app_key_added = t->fu_bound = t->blob_bound = false;
			*ret_record = record_config(t);
			return MA_CFG_SUCCESS;
		}
		if (status == MA_CFG_SUCCESS) {
			if (t->step == STEP_BIND_FU)
				t->fu_bound = true;
			else
				t->blob_bound = true;
			*ret_record = record_config(t);
		}
		return status;
	case STEP_SUB_FU:
	case STEP_SUB_BLOB:
	case STEP_UNSUB_FU:
	case STEP_UNSUB_BLOB:
		status = m->u.model_sub.status;
		if (status == MA_CFG_SUCCESS) {
			bool on = t->step == STEP_SUB_FU || t->step == STEP_SUB_BLOB;

			if (t->step == STEP_SUB_FU || t->step == STEP_UNSUB_FU)
				t->fu_subscribed = on;
			else
				t->blob_subscribed = on;
			*ret_record = record_member(t, GROUPS_MEMBER_PENDING, NULL);
		}
		return status;
	case STEP_COMP:
	case STEP_DONE:
		break;
	}
	return MA_CFG_UNSPECIFIED_ERROR;
}

static void take_composition(struct work *t, const struct ma_msg *m)
{
	struct ma_comp0 comp;
	uint8_t element = 0;
	int found, r;

	if (m->u.comp.data_len > sizeof(t->rec.comp)) {
		finish(t, RESULT_FAILED, "malformed: the node's composition data is too long");
		return;
	}
	found = node_composition_dfu_element(m->u.comp.data, m->u.comp.data_len, &comp, &element);
	if (found == -EBADMSG) {
		finish(t, RESULT_FAILED, "malformed: the node's composition data (page 0) does not parse");
		return;
	}
	r = nodes_set_composition(t->g->db, t->address, m->u.comp.data, m->u.comp.data_len, &comp, found == 0);
	if (r < 0) {
		finish(t, RESULT_FAILED, "internal: cannot record the composition: %s", strerror(-r));
		return;
	}
	if (found < 0) {
		finish(t, RESULT_REFUSED, REASON_NOT_DFU_CAPABLE);
		return;
	}
	take_element(t, element);
	advance(t);
}

static void on_answer(void *userdata, int error, const struct msg_mesh_recv *a)
{
	struct work *t = userdata;
	char what[96];
	struct ma_msg m;
	uint8_t status;
	int r;

	if (error == -ECANCELED)
		return;
	step_name(t->step, what, sizeof(what));
	if (error == -ETIMEDOUT) {
		finish(t, RESULT_FAILED, "unreachable: timed out in %s: no answer after every retry", what);
		return;
	}
	if (error == -ENOENT) {
		finish(t, RESULT_REFUSED, REASON_NOT_PROVISIONED);
		return;
	}
	if (error < 0) {
		finish(t, RESULT_FAILED, "internal: %s: %s", what, strerror(-error));
		return;
	}
	t->answered = true;
	if (ma_decode(a->payload, a->payload_len, &m) != MA_OK || !answer_matches(t, &m)) {
		if (++t->stale >= STALE_MAX) {
			finish(t, RESULT_FAILED, "unexpected: %d answers to %s did not match the request", STALE_MAX,
			       what);
			return;
		}
		log_debug("groups: node 0x%04x: an answer that does not match %s (late, or malformed): asking again",
			  t->address, what);
		advance(t);
		return;
	}
	if (t->step == STEP_COMP) {
		take_composition(t, &m);
		return;
	}
	status = take_status(t, &m, &r);
	if (r < 0) {
		finish(t, RESULT_FAILED, "internal: cannot record %s: %s", what, strerror(-r));
		return;
	}
	if (status != MA_CFG_SUCCESS) {
		finish(t, RESULT_FAILED, "rejected: the node answered %s with %s (0x%02x)", what,
		       ma_cfg_status_to_string(status), status);
		return;
	}
	advance(t);
}

static void start_target(struct groups *g, struct work *t, uint16_t address)
{
	struct ma_comp0 comp;
	uint8_t element = 0;
	int r;

	*t = (struct work){ .g = g, .busy = true, .address = address };
	g->active++;
	r = load_record(g, address, &t->rec);
	if (r == -ENOENT) {
		finish(t, RESULT_REFUSED, "unknown_node: no node has this address (deleted while the job ran)");
		return;
	}
	if (r < 0) {
		finish(t, RESULT_FAILED, "internal: cannot read the node's records: %s", strerror(-r));
		return;
	}
	if (g->action == GROUPS_REMOVE) {
		t->have_element = t->rec.member_element >= 0;
		t->element = t->have_element ? (uint8_t)t->rec.member_element : 0;
		t->fu_subscribed = t->have_element && t->rec.fu_subscribed;
		t->blob_subscribed = t->have_element && t->rec.blob_subscribed;
	} else if (t->rec.comp_len > 0) {
		r = node_composition_dfu_element(t->rec.comp, t->rec.comp_len, &comp, &element);
		if (r == -ENODEV) {
			finish(t, RESULT_REFUSED, REASON_NOT_DFU_CAPABLE);
			return;
		}
		if (r == 0)
			take_element(t, element);
		/* else the stored composition does not parse: ask again */
	}
	if (next_step(t) != STEP_DONE && !t->rec.provisioned) {
		finish(t, RESULT_REFUSED, REASON_NOT_PROVISIONED);
		return;
	}
	advance(t);
}

/* Keeps a bounded number of nodes in progress: the mesh client paces the messages, this bounds its queue. Nodes
 * that need no message end at once; the outer loop takes their places instead of recursing. */
static void feed(struct groups *g)
{
	bool started = true;

	if (g->feeding)
		return;
	g->feeding = true;
	while (started) {
		started = false;
		for (uint32_t i = 0; i < ACTIVE_MAX && g->state == GROUPS_RUNNING && g->next < g->n_targets; i++) {
			if (g->work[i].busy)
				continue;
			start_target(g, &g->work[i], g->targets[g->next++]);
			started = true;
		}
	}
	g->feeding = false;
	check_done(g);
}

/* --- jobs --- */

static int add_target(struct groups *g, uint16_t address)
{
	if (g->n_targets == GROUPS_NODES_MAX)
		return -E2BIG;
	if (g->n_targets == g->cap_targets) {
		uint32_t cap = g->cap_targets ? 2 * g->cap_targets : 256;
		uint16_t *t = realloc(g->targets, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		g->targets = t;
		g->cap_targets = cap;
	}
	g->targets[g->n_targets++] = address;
	return 0;
}

static int collect_members(struct groups *g, uint16_t group)
{
	sqlite3_stmt *stmt = db_stmt(g->db, "SELECT address FROM group_members WHERE group_address = ?1 "
				     "ORDER BY address");
	int rc, r = 0;

	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, group);
	while (r == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
		r = add_target(g, (uint16_t)sqlite3_column_int(stmt, 0));
	if (r == 0 && rc != SQLITE_DONE)
		r = db_result(g->db, rc, "list a group's members");
	sqlite3_reset(stmt);
	return r;
}

int groups_find_unknown(struct db *db, const uint16_t *nodes, size_t n, size_t *ret_index)
{
	sqlite3_stmt *stmt;
	int rc;

	for (size_t i = 0; i < n; i++) {
		stmt = db_stmt(db, "SELECT 1 FROM nodes WHERE address = ?1");
		if (!stmt)
			return -EIO;
		sqlite3_bind_int(stmt, 1, nodes[i]);
		rc = sqlite3_step(stmt);
		sqlite3_reset(stmt);
		if (rc == SQLITE_DONE) {
			*ret_index = i;
			return -ENOENT;
		}
		if (rc != SQLITE_ROW)
			return db_result(db, rc, "look a node up");
	}
	return 0;
}

int groups_start(struct groups *g, enum groups_action action, uint16_t group, const uint16_t *nodes, size_t n)
{
	int r = 0;

	if (!groups_address_valid(group) || (action == GROUPS_ADD && (!nodes || n == 0)))
		return -EINVAL;
	if (n > GROUPS_NODES_MAX)
		return -E2BIG;
	if (g->state == GROUPS_RUNNING)
		return -EBUSY;
	if (!mesh_client_ready(g->mesh))
		return -ENOTCONN;
	r = network_load(g->db, &g->net);
	if (r < 0)
		return r == -ENOENT ? -ENOTCONN : r;
	g->n_targets = 0;
	if (nodes) {
		for (size_t i = 0; r == 0 && i < n; i++)
			r = add_target(g, nodes[i]);
	} else {
		r = collect_members(g, group);
	}
	if (r < 0) {
		g->n_targets = 0;
		explicit_bzero(&g->net, sizeof(g->net));
		return r;
	}
	g->id++;
	g->action = action;
	g->group = group;
	g->next = g->active = g->finished = 0;
	g->succeeded = g->unchanged = g->failed = g->refused = 0;
	g->sent = 0;
	g->started_at = time_now_ms();
	g->finished_at = 0;
	job_set_state(g, GROUPS_RUNNING);
	log_info("groups: job %u: %s %u nodes %s group 0x%04x", g->id, groups_action_to_string(action), g->n_targets,
		 action == GROUPS_ADD ? "to" : "from", group);
	publish(g, "started");
	feed(g);
	return 0;
}

static void cancel(struct groups *g)
{
	if (g->state != GROUPS_RUNNING)
		return;
	job_set_state(g, GROUPS_CANCELLED);
	g->finished_at = time_now_ms();
	for (uint32_t i = 0; i < ACTIVE_MAX; i++)
		if (g->work[i].busy) {
			g->work[i].busy = false;
			mesh_client_cancel(g->mesh, &g->work[i]);
		}
	g->active = 0;
	explicit_bzero(&g->net, sizeof(g->net));
	publish(g, "done");
	log_info("groups: job %u cancelled after %u of %u nodes; what was acknowledged is recorded", g->id,
		 g->finished, g->n_targets);
}

enum groups_job_state groups_job_state(const struct groups *g)
{
	return g->state;
}

uint16_t groups_job_group(const struct groups *g)
{
	return g->state == GROUPS_IDLE ? 0 : g->group;
}

json_t *groups_job_to_json(const struct groups *g)
{
	char started[21] = "", finished[21] = "";
	json_t *o;

	if (g->started_at)
		time_format_rfc3339(g->started_at, started);
	if (g->finished_at)
		time_format_rfc3339(g->finished_at, finished);
	o = json_pack("{s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:I}", "id", (json_int_t)g->id,
		      "state", groups_job_state_to_string(g->state), "total", g->n_targets, "done", g->finished,
		      "succeeded", g->succeeded, "unchanged", g->unchanged, "failed", g->failed,
		      "refused", g->refused, "in_progress", g->active, "sent", (json_int_t)g->sent);
	if (!o)
		return NULL;
	json_object_set_new(o, "group", g->state == GROUPS_IDLE ? json_null() : json_integer(g->group));
	json_object_set_new(o, "action", g->state == GROUPS_IDLE ? json_null() :
			    json_string(groups_action_to_string(g->action)));
	json_object_set_new(o, "started_at", g->started_at ? json_string(started) : json_null());
	json_object_set_new(o, "finished_at", g->finished_at ? json_string(finished) : json_null());
	return o;
}

int groups_members_list(struct db *db, uint16_t group, uint16_t after, unsigned limit, groups_member_fn fn,
			void *userdata, bool *ret_more)
{
	sqlite3_stmt *stmt = db_stmt(db,
		"SELECT address, element, fu_subscribed, blob_subscribed, state, reason, updated_at "
		"FROM group_members WHERE group_address = ?1 AND address > ?2 ORDER BY address LIMIT ?3");
	struct groups_member m;
	unsigned n = 0;
	bool more = false;
	int rc, r = 0;

	if (!stmt)
		return -EIO;
	if (limit > GROUPS_MEMBERS_LIST_MAX)
		limit = GROUPS_MEMBERS_LIST_MAX;
	sqlite3_bind_int(stmt, 1, group);
	sqlite3_bind_int(stmt, 2, after);
	sqlite3_bind_int(stmt, 3, (int)limit + 1);
	while (r == 0 && (rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		const char *reason = (const char *)sqlite3_column_text(stmt, 5);

		if (n++ == limit) {
			more = true;
			break;
		}
		m = (struct groups_member){
			.group = group,
			.address = (uint16_t)sqlite3_column_int(stmt, 0),
			.element = sqlite3_column_type(stmt, 1) == SQLITE_NULL ? -1 :
				   (int16_t)sqlite3_column_int(stmt, 1),
			.fu_subscribed = sqlite3_column_int(stmt, 2),
			.blob_subscribed = sqlite3_column_int(stmt, 3),
			.state = member_state_from_string((const char *)sqlite3_column_text(stmt, 4)),
			.updated_at = sqlite3_column_int64(stmt, 6),
		};
		snprintf(m.reason, sizeof(m.reason), "%s", reason ? reason : "");
		r = fn(&m, userdata);
	}
	if (r == 0 && !more && rc != SQLITE_DONE)
		r = db_result(db, rc, "list a group's members");
	sqlite3_reset(stmt);
	if (r == 0)
		*ret_more = more;
	return r;
}

int groups_new(uv_loop_t *loop, struct db *db, struct mesh_client *mesh, struct groups **ret)
{
	struct groups *g;
	sqlite3_stmt *stmt;
	int r;

	/* A job the daemon did not finish left its nodes pending: say so until they are asked again. */
	stmt = db_stmt(db, "UPDATE group_members SET reason = 'interrupted: meshfleetd stopped before the job ended; "
		       "ask again' WHERE state = 'pending' AND reason IS NULL");
	if (!stmt)
		return -EIO;
	r = db_result(db, sqlite3_step(stmt), "mark interrupted group members");
	if (r < 0)
		return r;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->loop = loop;
	g->db = db;
	g->mesh = mesh;
	*ret = g;
	return 0;
}

void groups_free(struct groups *g)
{
	if (!g)
		return;
	cancel(g);
	free(g->targets);
	explicit_bzero(&g->net, sizeof(g->net));
	free(g);
}
