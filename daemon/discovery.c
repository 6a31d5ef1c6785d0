/* discovery: see discovery.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "discovery.h"
#include "log.h"
#include "mesh_access.h"
#include "network.h"
#include "util.h"

enum step { STEP_COMP, STEP_BIND, STEP_APPKEY, STEP_INFO, STEP_DONE };

/* The TTL a node's answers start with: Zephyr's CONFIG_BT_MESH_DEFAULT_TTL, which a node's Configuration Server
 * keeps unless a provisioner set another (Config Default TTL Set). Each relay takes one off, so an answer received
 * with TTL t crossed ANSWER_TTL - t + 1 hops. An answer with a larger TTL comes from a node configured otherwise:
 * its hops stay unknown. TTL 0 is never relayed: one hop. */
#define ANSWER_TTL 7

/* A node to ask, as listed at the start. */
struct target {
	uint16_t address;
	uint8_t elements;               /* 0 = unknown */
	bool provisioned;
	int8_t dfu_capable;
};

/* A node being asked. */
struct work {
	struct discovery *d;
	bool busy;
	uint16_t address;
	uint8_t elements;
	bool provisioned;
	enum step step;
	bool answered;                  /* anything came back */
	bool appkey_added;
	bool bind_sent;                 /* App Bind was sent in this refresh */
	uint8_t fu_element;             /* index of the element with the Firmware Update Server */
	int8_t dfu_capable;             /* -1 unknown */
	uint8_t comp[MA_PAYLOAD_MAX];   /* page 0, as received (after the page byte) */
	uint16_t comp_len;
	uint8_t info[MA_PAYLOAD_MAX];   /* Firmware Update Information Status, whole */
	uint16_t info_len;
	uint8_t hops;                   /* inferred from the answers' TTL (ANSWER_TTL); 0 = unknown */
};

#define ACTIVE_MAX (2 * MESH_CLIENT_IN_FLIGHT_MAX)      /* nodes in progress: bounds the mesh client's queue */

struct discovery {
	uv_loop_t *loop;
	struct db *db;
	struct mesh_client *mesh;
	struct events *events;          /* weak; NULL = none */
	enum discovery_state state;
	struct network net;             /* keys for AppKey Add; while running */
	struct target *targets;         /* owned */
	uint32_t n_targets, cap_targets, next, active, finished;
	uint32_t reachable, unreachable, dfu_capable, firmware_read, bound, problems;
	int64_t started_at, finished_at;
	struct work work[ACTIVE_MAX];
};

static void advance(struct work *t);
static void publish(struct discovery *d, const char *phase);

const char *discovery_state_to_string(enum discovery_state state)
{
	switch (state) {
	case DISCOVERY_IDLE: return "idle";
	case DISCOVERY_RUNNING: return "running";
	case DISCOVERY_DONE: return "done";
	case DISCOVERY_CANCELLED: return "cancelled";
	case DISCOVERY_FAILED: return "failed";
	}
	return "unknown";
}

enum discovery_state discovery_state(const struct discovery *d)
{
	return d->state;
}

/* --- recording --- */

/* Composition and firmware of one node, in one transaction. */
static int record(struct discovery *d, struct work *t, const struct ma_comp0 *comp, bool have_comp,
		  const struct ma_fw_info *info, bool have_info)
{
	struct db *db = d->db;
	int64_t now = time_now_ms();
	sqlite3_stmt *stmt;
	int r;

	r = db_begin(db);
	if (r < 0)
		return r;
	stmt = db_stmt(db, "UPDATE nodes SET reachable = ?2, last_seen = CASE WHEN ?2 THEN ?3 ELSE last_seen END, "
		       "updated_at = ?3 WHERE address = ?1");
	if (!stmt) {
		r = -EIO;
		goto fail;
	}
	sqlite3_bind_int(stmt, 1, t->address);
	sqlite3_bind_int(stmt, 2, t->answered);
	sqlite3_bind_int64(stmt, 3, now);
	r = db_result(db, sqlite3_step(stmt), "record reachability");
	if (r == 0 && t->hops) {
		stmt = db_stmt(db, "UPDATE nodes SET hops = ?2 WHERE address = ?1");
		if (!stmt) {
			r = -EIO;
			goto fail;
		}
		sqlite3_bind_int(stmt, 1, t->address);
		sqlite3_bind_int(stmt, 2, t->hops);
		r = db_result(db, sqlite3_step(stmt), "record hops");
	}
	if (r == 0 && have_comp)
		r = nodes_set_composition(db, t->address, t->comp, t->comp_len, comp, t->dfu_capable > 0);
	if (r == 0 && have_info) {
		struct ma_fw_iter it;
		struct ma_fw_entry e;

		stmt = db_stmt(db, "DELETE FROM node_images WHERE address = ?1");
		if (!stmt) {
			r = -EIO;
			goto fail;
		}
		sqlite3_bind_int(stmt, 1, t->address);
		r = db_result(db, sqlite3_step(stmt), "clear images");
		for (ma_fw_iter_init(&it, info); r == 0 && ma_fw_next_entry(&it, &e);) {
			if (e.fwid_len < NODE_FWID_MIN || e.fwid_len > NODE_FWID_MAX)
				continue;
			stmt = db_stmt(db, "INSERT INTO node_images(address, image_index, firmware_id, update_uri) "
				       "VALUES (?1, ?2, ?3, ?4)");
			if (!stmt) {
				r = -EIO;
				goto fail;
			}
			sqlite3_bind_int(stmt, 1, t->address);
			sqlite3_bind_int(stmt, 2, e.index);
			sqlite3_bind_blob(stmt, 3, e.fwid, e.fwid_len, SQLITE_STATIC);
			if (e.uri_len)
				sqlite3_bind_text(stmt, 4, e.uri, e.uri_len, SQLITE_STATIC);
			r = db_result(db, sqlite3_step(stmt), "record image");
			if (r == 0 && e.index == 0) {
				stmt = db_stmt(db, "UPDATE nodes SET firmware_id = ?2 WHERE address = ?1");
				if (!stmt) {
					r = -EIO;
					goto fail;
				}
				sqlite3_bind_int(stmt, 1, t->address);
				sqlite3_bind_blob(stmt, 2, e.fwid, e.fwid_len, SQLITE_STATIC);
				r = db_result(db, sqlite3_step(stmt), "record firmware id");
			}
		}
	}
	if (r == 0)
		r = db_commit(db);
	if (r == 0)
		return 0;
fail:
	db_rollback(db);
	return r;
}

static void finish_target(struct work *t)
{
	struct discovery *d = t->d;
	struct ma_comp0 comp;
	struct ma_fw_info info = { 0 };
	struct ma_msg msg;
	bool have_comp = t->comp_len > 0 && ma_comp0_parse(t->comp, t->comp_len, &comp) == MA_OK;
	bool have_info = t->info_len > 0 && ma_decode(t->info, t->info_len, &msg) == MA_OK;
	int r;

	if (have_info)
		info = msg.u.fw_info;
	t->step = STEP_DONE;
	r = record(d, t, &comp, have_comp, &info, have_info);
	if (r < 0)
		log_warning("refresh: node 0x%04x: cannot record the answers: %s", t->address, strerror(-r));
	if (t->answered)
		d->reachable++;
	else
		d->unreachable++;
	d->dfu_capable += t->dfu_capable > 0;
	d->firmware_read += have_info;
	t->busy = false;
	d->active--;
	d->finished++;
}

/* --- the steps of one node --- */

static void on_answer(void *userdata, int error, const struct msg_mesh_recv *answer);

/* The binding of meshfleet's application key to the node's Firmware Update Server, as node_config (groups.h) has
 * it: a refresh does not send App Bind again when the node confirmed it before. */
static bool binding_recorded(const struct work *t)
{
	struct discovery *d = t->d;
	sqlite3_stmt *stmt = db_stmt(d->db, "SELECT 1 FROM node_config WHERE address = ?1 AND app_key_index = ?2 "
				     "AND element = ?3 AND app_key_added AND fu_bound");
	bool found;

	if (!stmt)
		return false;
	sqlite3_bind_int(stmt, 1, t->address);
	sqlite3_bind_int(stmt, 2, d->net.app_key_index);
	sqlite3_bind_int(stmt, 3, t->fu_element);
	found = sqlite3_step(stmt) == SQLITE_ROW;
	sqlite3_reset(stmt);
	return found;
}

static void record_binding(const struct work *t)
{
	struct discovery *d = t->d;
	sqlite3_stmt *stmt = db_stmt(d->db,
		"INSERT INTO node_config(address, app_key_index, element, app_key_added, fu_bound, blob_bound, "
		"  updated_at) VALUES (?1, ?2, ?3, 1, 1, 0, ?4) "
		"ON CONFLICT(address) DO UPDATE SET app_key_added = 1, fu_bound = 1, updated_at = ?4, "
		"  blob_bound = CASE WHEN app_key_index = ?2 AND element = ?3 THEN blob_bound ELSE 0 END, "
		"  app_key_index = ?2, element = ?3");

	if (!stmt)
		return;
	sqlite3_bind_int(stmt, 1, t->address);
	sqlite3_bind_int(stmt, 2, d->net.app_key_index);
	sqlite3_bind_int(stmt, 3, t->fu_element);
	sqlite3_bind_int64(stmt, 4, time_now_ms());
	db_result(d->db, sqlite3_step(stmt), "record a node's binding");
}

static int send_step(struct work *t)
{
	struct discovery *d = t->d;
	struct ma_msg m = { 0 };
	struct mesh_exchange x = {
		.dst = t->address,
		.ttl = MSG_TTL_DEFAULT,
		.answer_elements = t->elements ? t->elements : 1,
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
		x.devkey = true;
		x.answer_opcode = MA_OP_COMP_STATUS;
		break;
	case STEP_BIND:
		m.opcode = MA_OP_MODEL_APP_BIND;
		m.u.model_app = (struct ma_model_app){
			.elem_addr = (uint16_t)(t->address + t->fu_element),
			.app_key_index = d->net.app_key_index,
			.model = MA_SIG_MODEL(MA_MODEL_DFU_SRV),
		};
		x.devkey = true;
		x.answer_opcode = MA_OP_MODEL_APP_STATUS;
		break;
	case STEP_APPKEY:
		m.opcode = MA_OP_APPKEY_ADD;
		m.u.appkey.net_key_index = d->net.net_key_index;
		m.u.appkey.app_key_index = d->net.app_key_index;
		memcpy(m.u.appkey.key, d->net.app_key, MA_KEY_SIZE);
		x.devkey = true;
		x.answer_opcode = MA_OP_APPKEY_STATUS;
		break;
	case STEP_INFO:
		m.opcode = MA_OP_FW_INFO_GET;
		m.u.fw_info_get = (struct ma_fw_info_get){ .first_index = 0, .entries_limit = DISCOVERY_IMAGES_MAX };
		x.answer_opcode = MA_OP_FW_INFO_STATUS;
		break;
	case STEP_DONE:
		return 0;
	}
	if (ma_encode(&m, buf, sizeof(buf), &len) != MA_OK)
		return -EINVAL;
	explicit_bzero(&m, sizeof(m));
	x.payload = buf;
	x.payload_len = (uint16_t)len;
	r = mesh_client_exchange(d->mesh, &x);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

static void problem(struct work *t, const char *what)
{
	t->d->problems++;
	log_notice("refresh: node 0x%04x: %s", t->address, what);
}

/* The composition tells whether the node can be updated, and on which element its Firmware Update Server is. */
static void take_composition(struct work *t, const struct msg_mesh_recv *a)
{
	struct ma_msg m;
	enum ma_status st = ma_decode(a->payload, a->payload_len, &m);

	if (st != MA_OK || m.u.comp.page != 0 || m.u.comp.data_len > sizeof(t->comp)) {
		problem(t, "malformed composition data, ignored");
		return;
	}
	memcpy(t->comp, m.u.comp.data, m.u.comp.data_len);
	t->comp_len = (uint16_t)m.u.comp.data_len;
	t->elements = m.u.comp.page0.element_count;
	t->dfu_capable = node_composition_dfu_element(t->comp, t->comp_len, &m.u.comp.page0, &t->fu_element) == 0;
}

/* The fewest hops any answer of this refresh crossed (a relay path may be longer than the best one). */
static void take_hops(struct work *t, uint8_t ttl)
{
	unsigned hops;

	if (ttl > ANSWER_TTL)
		return;
	hops = ttl == 0 ? 1 : ANSWER_TTL - ttl + 1u;
	if (t->hops == 0 || hops < t->hops)
		t->hops = (uint8_t)hops;
}

static void on_answer(void *userdata, int error, const struct msg_mesh_recv *a)
{
	struct work *t = userdata;
	struct discovery *d = t->d;
	struct ma_msg m;

	if (error == -ECANCELED)
		return;
	if (error == 0) {
		t->answered = true;
		take_hops(t, a->ttl);
	}
	switch (t->step) {
	case STEP_COMP:
		if (error == 0)
			take_composition(t, a);
		if (error != 0)
			t->step = STEP_DONE;    /* it does not answer its configuration server: nothing more to ask */
		else if (t->dfu_capable > 0)
			t->step = binding_recorded(t) ? STEP_INFO : STEP_BIND;
		else
			t->step = STEP_DONE;
		break;
	case STEP_BIND:
		if (error == 0 && ma_decode(a->payload, a->payload_len, &m) == MA_OK &&
		    m.u.model_app.status == MA_CFG_INVALID_APPKEY_INDEX && !t->appkey_added) {
			t->step = STEP_APPKEY;
			break;
		}
		if (error == 0 && ma_decode(a->payload, a->payload_len, &m) == MA_OK &&
		    m.u.model_app.status != MA_CFG_SUCCESS) {
			char what[128];

			snprintf(what, sizeof(what), "binding the Firmware Update Server to application key %u: %s",
				 d->net.app_key_index, ma_cfg_status_to_string(m.u.model_app.status));
			problem(t, what);
		} else if (error == 0) {
			d->bound++;
			record_binding(t);
		}
		t->bind_sent = true;
		t->step = STEP_INFO;
		break;
	case STEP_APPKEY:
		t->appkey_added = true;
		if (error == 0 && ma_decode(a->payload, a->payload_len, &m) == MA_OK &&
		    (m.u.appkey.status == MA_CFG_SUCCESS || m.u.appkey.status == MA_CFG_KEY_INDEX_ALREADY_STORED)) {
			t->step = STEP_BIND;
		} else {
			if (error == 0)
				problem(t, "the node refused meshfleet's application key");
			t->step = STEP_INFO;
		}
		break;
	case STEP_INFO:
		if (error == 0 && a->payload_len <= sizeof(t->info) &&
		    ma_decode(a->payload, a->payload_len, &m) == MA_OK) {
			memcpy(t->info, a->payload, a->payload_len);
			t->info_len = a->payload_len;
		} else if (error == 0) {
			problem(t, "malformed Firmware Update Information Status, ignored");
		} else if (error == -ETIMEDOUT && t->dfu_capable > 0 && !t->bind_sent) {
			/* The binding on record may be gone (a node reset to its defaults): bind, then ask again. */
			t->step = STEP_BIND;
			break;
		}
		t->step = STEP_DONE;
		break;
	case STEP_DONE:
		break;
	}
	advance(t);
}

static void feed(struct discovery *d);

static void check_done(struct discovery *d)
{
	if (d->state != DISCOVERY_RUNNING || d->finished < d->n_targets)
		return;
	d->state = DISCOVERY_DONE;
	d->finished_at = time_now_ms();
	explicit_bzero(&d->net, sizeof(d->net));
	publish(d, "done");
	log_info("refresh: %u nodes asked, %u reachable, %u unreachable, %u DFU capable, %u firmware IDs read "
		 "(%.1f s)", d->n_targets, d->reachable, d->unreachable, d->dfu_capable, d->firmware_read,
		 (double)(d->finished_at - d->started_at) / 1000.0);
}

/* Sends the target's current step, or records it when it has none left. */
static void advance(struct work *t)
{
	struct discovery *d = t->d;

	while (t->step != STEP_DONE) {
		int r = send_step(t);

		if (r == 0)
			return;
		log_warning("refresh: node 0x%04x: cannot queue a message: %s", t->address, strerror(-r));
		t->step = STEP_DONE;
	}
	finish_target(t);
	feed(d);
	check_done(d);
	if (d->state == DISCOVERY_RUNNING)
		publish(d, "progress");
}

/* Keeps a bounded number of nodes in progress: the mesh client paces the messages, this bounds its queue. */
static void feed(struct discovery *d)
{
	for (uint32_t i = 0; i < ACTIVE_MAX && d->state == DISCOVERY_RUNNING && d->next < d->n_targets; i++) {
		struct work *w = &d->work[i];
		const struct target *t;

		if (w->busy)
			continue;
		t = &d->targets[d->next++];
		*w = (struct work){
			.d = d,
			.busy = true,
			.address = t->address,
			.elements = t->elements,
			.provisioned = t->provisioned,
			.dfu_capable = t->dfu_capable,
			.step = t->provisioned ? STEP_COMP : STEP_INFO,
		};
		d->active++;
		advance(w);
	}
}

/* --- starting and stopping --- */

static int collect_one(const struct node *node, void *userdata)
{
	struct discovery *d = userdata;

	if (d->n_targets == DISCOVERY_TARGETS_MAX)
		return -E2BIG;
	if (d->n_targets == d->cap_targets) {
		uint32_t cap = d->cap_targets ? 2 * d->cap_targets : 256;
		struct target *t = realloc(d->targets, cap * sizeof(*t));

		if (!t)
			return -ENOMEM;
		d->targets = t;
		d->cap_targets = cap;
	}
	d->targets[d->n_targets++] = (struct target){
		.address = node->address,
		.elements = node->elements,
		.provisioned = node->provisioned,
		.dfu_capable = node->dfu_capable,
	};
	return 0;
}

int discovery_start(struct discovery *d, const struct node_filter *filter)
{
	bool more = true;
	int r;

	if (d->state == DISCOVERY_RUNNING)
		return -EBUSY;
	if (!mesh_client_ready(d->mesh))
		return -ENOTCONN;
	r = network_load(d->db, &d->net);
	if (r < 0)
		return r == -ENOENT ? -ENOTCONN : r;
	d->n_targets = 0;
	while (more && r == 0)
		r = nodes_list(d->db, filter, d->n_targets ? d->targets[d->n_targets - 1].address : 0, NODES_LIST_MAX,
			       collect_one, d, &more);
	if (r == 0 && d->n_targets == 0)
		r = -ENOENT;
	if (r < 0) {
		d->n_targets = 0;
		explicit_bzero(&d->net, sizeof(d->net));
		return r;
	}
	d->next = d->active = d->finished = 0;
	d->reachable = d->unreachable = d->dfu_capable = d->firmware_read = d->bound = d->problems = 0;
	d->started_at = time_now_ms();
	d->finished_at = 0;
	d->state = DISCOVERY_RUNNING;
	log_info("refresh: asking %u nodes", d->n_targets);
	publish(d, "started");
	feed(d);
	return 0;
}

int discovery_cancel(struct discovery *d)
{
	if (d->state != DISCOVERY_RUNNING)
		return -ENOENT;
	d->state = DISCOVERY_CANCELLED;
	d->finished_at = time_now_ms();
	for (uint32_t i = 0; i < ACTIVE_MAX; i++)
		if (d->work[i].busy) {
			d->work[i].busy = false;
			mesh_client_cancel(d->mesh, &d->work[i]);
		}
	d->active = 0;
	explicit_bzero(&d->net, sizeof(d->net));
	publish(d, "done");
	log_info("refresh: cancelled after %u of %u nodes", d->finished, d->n_targets);
	return 0;
}

int discovery_new(uv_loop_t *loop, struct db *db, struct mesh_client *mesh, struct discovery **ret)
{
	struct discovery *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	d->loop = loop;
	d->db = db;
	d->mesh = mesh;
	*ret = d;
	return 0;
}

void discovery_free(struct discovery *d)
{
	if (!d)
		return;
	discovery_cancel(d);
	free(d->targets);
	free(d);
}

void discovery_set_events(struct discovery *d, struct events *events)
{
	d->events = events;
}

static void publish(struct discovery *d, const char *phase)
{
	json_t *o;

	if (!d->events)
		return;
	o = discovery_to_json(d);
	if (o)
		json_object_set_new(o, "phase", json_string(phase));
	events_progress(d->events, EVENT_REFRESH, "refresh", o, strcmp(phase, "progress") != 0);
}

json_t *discovery_to_json(const struct discovery *d)
{
	char started[21] = "", finished[21] = "";
	json_t *o;

	if (d->started_at)
		time_format_rfc3339(d->started_at, started);
	if (d->finished_at)
		time_format_rfc3339(d->finished_at, finished);
	o = json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i}", "state", discovery_state_to_string(d->state),
		      "total", d->n_targets, "done", d->finished, "reachable", d->reachable,
		      "unreachable", d->unreachable, "dfu_capable", d->dfu_capable, "firmware_read", d->firmware_read,
		      "bound", d->bound, "problems", d->problems);
	if (!o)
		return NULL;
	json_object_set_new(o, "started_at", d->started_at ? json_string(started) : json_null());
	json_object_set_new(o, "finished_at", d->finished_at ? json_string(finished) : json_null());
	return o;
}
