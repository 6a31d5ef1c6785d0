/* Unit tests for daemon/groups.c: the messages each node gets (and does not get again), the records, the element of
 * the DFU models, refusals, timeouts and resuming, a node that lost the key, Key Index Already Stored, late answers,
 * rejections, removal, and what a new device key forgets.
 *
 * The mesh client is a stub (below): it keeps the exchanges groups.c queues, and the test answers them with small
 * simulated Configuration Servers, or lets them time out. The database, the network import and the codec are real. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "groups.h"
#include "mesh_access.h"
#include "network.h"
#include "tap.h"

#define SAMPLE TOP_SRCDIR "/tests/data/cdb/coral_Sample1_brian_and_mary.json"
#define GROUP 0xC123
#define OTHER_GROUP 0xC124

/* --- the stub mesh client --- */

struct mesh_client {
	bool ready;
};

struct queued {
	struct mesh_exchange x;
	uint8_t payload[MA_PAYLOAD_MAX];
};

#define QUEUE_MAX 256
static struct queued queue[QUEUE_MAX];
static size_t n_queue;

bool mesh_client_ready(const struct mesh_client *m)
{
	return m->ready;
}

const char *mesh_client_why_not_ready(const struct mesh_client *m)
{
	return m->ready ? "ready" : "not ready (test)";
}

int mesh_client_exchange(struct mesh_client *m, const struct mesh_exchange *x)
{
	(void)m;
	if (n_queue == QUEUE_MAX || !x->devkey || x->payload_len > MA_PAYLOAD_MAX)
		return -ENOBUFS;
	queue[n_queue].x = *x;
	memcpy(queue[n_queue].payload, x->payload, x->payload_len);
	queue[n_queue].x.payload = queue[n_queue].payload;
	n_queue++;
	return 0;
}

static struct queued take_first(void)
{
	struct queued q = queue[0];

	memmove(&queue[0], &queue[1], (n_queue - 1) * sizeof(queue[0]));
	n_queue--;
	q.x.payload = q.payload;
	return q;
}

void mesh_client_cancel(struct mesh_client *m, void *userdata)
{
	(void)m;
	for (size_t i = 0; i < n_queue;) {
		if (queue[i].x.userdata == userdata) {
			struct mesh_exchange x = queue[i].x;

			memmove(&queue[i], &queue[i + 1], (n_queue - i - 1) * sizeof(queue[0]));
			n_queue--;
			x.done(x.userdata, -ECANCELED, NULL);
		} else {
			i++;
		}
	}
}

/* --- simulated nodes: a Configuration Server each --- */

struct fake_node {
	uint16_t address;
	uint8_t elements;
	uint8_t dfu_element;            /* 0xFF = no DFU models */
	bool has_key;
	uint8_t key[MA_KEY_SIZE];
	bool bound[2];                  /* Firmware Update Server, BLOB Transfer Server */
	uint16_t subs[2][4];            /* group addresses, 0 = free */
	uint8_t comp[MA_PAYLOAD_MAX];   /* the whole Composition Data Status */
	size_t comp_len;
};

static struct fake_node fakes[4];
static size_t n_fakes;

/* Knobs for the next answers. */
static bool silent;                     /* every exchange times out */
static uint32_t silent_opcode = UINT32_MAX;     /* exchanges of this opcode time out (AppKey Add is 0) */
static int force_status = -1;           /* the next status answer carries this status... */
static uint32_t force_opcode;           /* ... if it answers this opcode */
static bool stale_once;                 /* the next Model App/Sub Status names the other DFU model */
static char sent_log[2048];             /* what was sent, "op@elem model; ..." */

static struct fake_node *fake(uint16_t address)
{
	for (size_t i = 0; i < n_fakes; i++)
		if (fakes[i].address == address)
			return &fakes[i];
	return NULL;
}

static int model_slot(uint16_t model)
{
	return model == MA_MODEL_DFU_SRV ? 0 : model == MA_MODEL_BLOB_SRV ? 1 : -1;
}

static void log_sent(const struct ma_msg *m, uint16_t dst)
{
	char item[64];

	switch (m->opcode) {
	case MA_OP_COMP_GET:
		snprintf(item, sizeof(item), "comp %04x; ", dst);
		break;
	case MA_OP_APPKEY_ADD:
		snprintf(item, sizeof(item), "appkey %04x; ", dst);
		break;
	case MA_OP_MODEL_APP_BIND:
		snprintf(item, sizeof(item), "bind %04x %04x; ", m->u.model_app.elem_addr, m->u.model_app.model.id);
		break;
	case MA_OP_MODEL_SUB_ADD:
	case MA_OP_MODEL_SUB_DEL:
		snprintf(item, sizeof(item), "%s %04x %04x %04x; ", m->opcode == MA_OP_MODEL_SUB_ADD ? "sub" : "unsub",
			 m->u.model_sub.elem_addr, m->u.model_sub.model.id, m->u.model_sub.address);
		break;
	default:
		snprintf(item, sizeof(item), "other; ");
		break;
	}
	strncat(sent_log, item, sizeof(sent_log) - strlen(sent_log) - 1);
}

/* What the fake node at the exchange's destination answers; false for no answer. */
static bool serve(const struct queued *q, uint8_t *out, size_t *ret_len)
{
	struct fake_node *n = fake(q->x.dst);
	struct ma_msg m, st = { 0 };
	uint8_t status = MA_CFG_SUCCESS;
	int slot;

	if (ma_decode(q->payload, q->x.payload_len, &m) != MA_OK)
		return false;
	log_sent(&m, q->x.dst);
	if (!n || silent || m.opcode == silent_opcode)
		return false;
	switch (m.opcode) {
	case MA_OP_COMP_GET:
		memcpy(out, n->comp, n->comp_len);
		*ret_len = n->comp_len;
		return true;
	case MA_OP_APPKEY_ADD:
		if (n->has_key && memcmp(n->key, m.u.appkey.key, MA_KEY_SIZE) != 0)
			status = MA_CFG_KEY_INDEX_ALREADY_STORED;
		n->has_key = true;
		memcpy(n->key, m.u.appkey.key, MA_KEY_SIZE);
		st.opcode = MA_OP_APPKEY_STATUS;
		st.u.appkey = m.u.appkey;
		break;
	case MA_OP_MODEL_APP_BIND:
		slot = model_slot(m.u.model_app.model.id);
		if (m.u.model_app.elem_addr != n->address + n->dfu_element || slot < 0)
			status = MA_CFG_INVALID_MODEL;
		else if (!n->has_key)
			status = MA_CFG_INVALID_APPKEY_INDEX;
		else
			n->bound[slot] = true;
		st.opcode = MA_OP_MODEL_APP_STATUS;
		st.u.model_app = m.u.model_app;
		break;
	case MA_OP_MODEL_SUB_ADD:
	case MA_OP_MODEL_SUB_DEL:
		slot = model_slot(m.u.model_sub.model.id);
		if (m.u.model_sub.elem_addr != n->address + n->dfu_element || slot < 0) {
			status = MA_CFG_INVALID_MODEL;
		} else {
			for (int i = 0; i < 4; i++)
				if (n->subs[slot][i] == m.u.model_sub.address)
					n->subs[slot][i] = 0;
			for (int i = 0; i < 4 && m.opcode == MA_OP_MODEL_SUB_ADD; i++)
				if (n->subs[slot][i] == 0) {
					n->subs[slot][i] = m.u.model_sub.address;
					break;
				}
		}
		st.opcode = MA_OP_MODEL_SUB_STATUS;
		st.u.model_sub = m.u.model_sub;
		if (stale_once) {
			stale_once = false;
			st.u.model_sub.model.id = st.u.model_sub.model.id == MA_MODEL_DFU_SRV ? MA_MODEL_BLOB_SRV :
						  MA_MODEL_DFU_SRV;
		}
		break;
	default:
		return false;
	}
	if (force_status >= 0 && m.opcode == force_opcode) {
		status = (uint8_t)force_status;
		force_status = -1;
	}
	if (st.opcode == MA_OP_APPKEY_STATUS)
		st.u.appkey.status = status;
	else if (st.opcode == MA_OP_MODEL_APP_STATUS)
		st.u.model_app.status = status;
	else
		st.u.model_sub.status = status;
	return ma_encode(&st, out, MA_PAYLOAD_MAX, ret_len) == MA_OK;
}

/* Answers (or times out) every exchange until none is left. */
static void run(void)
{
	for (int guard = 0; n_queue > 0 && guard < 1000; guard++) {
		struct queued q = take_first();
		uint8_t out[MA_PAYLOAD_MAX];
		size_t len = 0;

		if (serve(&q, out, &len)) {
			struct msg_mesh_recv r = { .src = q.x.dst, .devkey = true, .payload = out,
						   .payload_len = (uint16_t)len };

			q.x.done(q.x.userdata, 0, &r);
		} else {
			q.x.done(q.x.userdata, -ETIMEDOUT, NULL);
		}
	}
}

/* --- the database --- */

static char dir[] = "/tmp/mf-test-groups-XXXXXX";
static struct db *db;

static void sql(const char *text)
{
	char *msg = NULL;

	if (sqlite3_exec(db_handle(db), text, NULL, NULL, &msg) != SQLITE_OK) {
		printf("Bail out! %s: %s\n", text, msg);
		exit(1);
	}
}

static long long query_int(const char *text)
{
	sqlite3_stmt *stmt;
	long long v = -1;

	if (sqlite3_prepare_v2(db_handle(db), text, -1, &stmt, NULL) != SQLITE_OK)
		return -2;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

static void query_text(const char *text, char *out, size_t len)
{
	sqlite3_stmt *stmt;

	snprintf(out, len, "(none)");
	if (sqlite3_prepare_v2(db_handle(db), text, -1, &stmt, NULL) != SQLITE_OK)
		return;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		snprintf(out, len, "%s", sqlite3_column_text(stmt, 0) ? (const char *)sqlite3_column_text(stmt, 0) :
			 "(null)");
	sqlite3_finalize(stmt);
}

/* A node of the sample network, simulated: @dfu_element 0xFF for none; its composition stored or not. */
static void add_fake(uint16_t address, uint8_t elements, uint8_t dfu_element, bool stored)
{
	static const struct ma_model_id plain[] = { MA_SIG_MODEL(MA_MODEL_CFG_SRV), MA_SIG_MODEL(0x1000) };
	static const struct ma_model_id dfu[] = { MA_SIG_MODEL(0x1000), MA_SIG_MODEL(MA_MODEL_BLOB_SRV),
						  MA_SIG_MODEL(MA_MODEL_DFU_SRV) };
	struct ma_element_desc desc[4];
	struct ma_comp0 hdr = { .cid = 0x0059, .pid = 1, .vid = 2, .crpl = 32, .features = 3 };
	struct fake_node *n = &fakes[n_fakes++];
	sqlite3_stmt *stmt;

	*n = (struct fake_node){ .address = address, .elements = elements, .dfu_element = dfu_element };
	for (uint8_t i = 0; i < elements; i++)
		desc[i] = i == dfu_element ? (struct ma_element_desc){ .models = dfu, .model_count = 3 } :
					     (struct ma_element_desc){ .models = plain, .model_count = 2 };
	if (ma_comp0_status_encode(&hdr, desc, elements, n->comp, sizeof(n->comp), &n->comp_len) != MA_OK) {
		printf("Bail out! composition\n");
		exit(1);
	}
	if (!stored)
		return;
	sqlite3_prepare_v2(db_handle(db), "UPDATE nodes SET composition = ?2 WHERE address = ?1", -1, &stmt, NULL);
	sqlite3_bind_int(stmt, 1, address);
	sqlite3_bind_blob(stmt, 2, n->comp + 2, (int)n->comp_len - 2, SQLITE_STATIC);  /* after opcode and page */
	sqlite3_step(stmt);
	sqlite3_finalize(stmt);
}

static void setup(void)
{
	struct network_import_result res;
	char path[512], err[512], *text;
	FILE *f;
	long size;

	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp\n");
		exit(1);
	}
	snprintf(path, sizeof(path), "%s/groups.db", dir);
	if (db_open(path, &db, err, sizeof(err)) < 0) {
		printf("Bail out! %s\n", err);
		exit(1);
	}
	f = fopen(SAMPLE, "rb");
	if (!f || fseek(f, 0, SEEK_END) < 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) < 0) {
		printf("Bail out! %s\n", SAMPLE);
		exit(1);
	}
	text = calloc(1, (size_t)size + 1);
	if (!text || fread(text, 1, (size_t)size, f) != (size_t)size) {
		printf("Bail out! %s\n", SAMPLE);
		exit(1);
	}
	fclose(f);
	if (network_import(db, text, (size_t)size, false, &res, err, sizeof(err)) < 0) {
		printf("Bail out! import: %s\n", err);
		exit(1);
	}
	free(text);
	/* The sample's nodes, with compositions of our own making. */
	add_fake(0x0004, 3, 1, true);           /* DFU models on its second element */
	add_fake(0x0007, 1, 0, true);
	add_fake(0x0105, 1, 0xFF, true);        /* no DFU */
	add_fake(0x0103, 1, 0, false);          /* composition not known yet */
}

static void reset_log(void)
{
	sent_log[0] = '\0';
}

static json_t *last_job;

static json_t *job(struct groups *g)
{
	json_decref(last_job);
	last_job = groups_job_to_json(g);
	return last_job;
}

static long long job_int(struct groups *g, const char *key)
{
	return json_integer_value(json_object_get(job(g), key));
}

static void member(uint16_t address, uint16_t group, char *state, char *reason, size_t len)
{
	char q[256];

	snprintf(q, sizeof(q), "SELECT state FROM group_members WHERE address = %u AND group_address = %u", address,
		 group);
	query_text(q, state, len);
	snprintf(q, sizeof(q), "SELECT reason FROM group_members WHERE address = %u AND group_address = %u", address,
		 group);
	query_text(q, reason, len);
}

/* --- tests --- */

static void test_add(struct groups *g)
{
	const uint16_t nodes[] = { 0x0004, 0x0105 };
	char state[256], reason[256];

	reset_log();
	is_int(groups_start(g, GROUPS_ADD, GROUP, nodes, 2), 0, "add: starts");
	is_str(groups_job_state_to_string(groups_job_state(g)), "running", "add: running");
	run();
	is_str(sent_log, "appkey 0004; bind 0005 1402; bind 0005 1400; sub 0005 1402 c123; sub 0005 1400 c123; ",
	       "add: AppKey Add, two binds and two subscriptions, on the element with the DFU models, nothing to "
	       "the node without them");
	is_str(groups_job_state_to_string(groups_job_state(g)), "done", "add: done");
	is_int(job_int(g, "succeeded"), 1, "add: 1 succeeded");
	is_int(job_int(g, "refused"), 1, "add: 1 refused");
	is_int(job_int(g, "sent"), 5, "add: 5 messages");
	member(0x0004, GROUP, state, reason, sizeof(state));
	is_str(state, "member", "add: 0x0004 is a member");
	is_int(query_int("SELECT element * 1000 + app_key_added * 100 + fu_bound * 10 + blob_bound FROM node_config "
			 "WHERE address = 4"), 1111, "add: node_config records element 1, key, both bindings");
	is_int(query_int("SELECT element * 100 + fu_subscribed * 10 + blob_subscribed FROM group_members "
			 "WHERE address = 4"), 111, "add: group_members records element 1 and both subscriptions");
	ok(fakes[0].bound[0] && fakes[0].bound[1] && fakes[0].subs[0][0] == GROUP && fakes[0].subs[1][0] == GROUP,
	   "add: the node has the bindings and subscriptions");
	member(0x0105, GROUP, state, reason, sizeof(state));
	is_str(state, "refused", "add: 0x0105 refused");
	is_str(reason, "not_dfu_capable: no Firmware Update Server and BLOB Transfer Server on one element",
	       "add: with the reason");

	reset_log();
	sql("UPDATE group_members SET updated_at = 1; UPDATE node_config SET updated_at = 1");
	is_int(groups_start(g, GROUPS_ADD, GROUP, nodes, 2), 0, "again: starts");
	is_str(groups_job_state_to_string(groups_job_state(g)), "done", "again: done at once");
	is_int(n_queue, 0, "again: nothing queued");
	is_str(sent_log, "", "again: nothing sent");
	is_int(job_int(g, "sent"), 0, "again: the job says 0 messages");
	is_int(job_int(g, "unchanged"), 1, "again: 1 unchanged");
	is_int(job_int(g, "refused"), 1, "again: 1 refused");
	is_int(query_int("SELECT (SELECT count(*) FROM group_members WHERE updated_at != 1) + "
			 "(SELECT count(*) FROM node_config WHERE updated_at != 1)"), 0, "again: no record rewritten");

	/* Another group: the key and the bindings are recorded, only the subscriptions go. */
	reset_log();
	is_int(groups_start(g, GROUPS_ADD, OTHER_GROUP, nodes, 1), 0, "other group: starts");
	run();
	is_str(sent_log, "sub 0005 1402 c124; sub 0005 1400 c124; ", "other group: the two subscriptions only");
}

static void test_unknown_composition(struct groups *g)
{
	const uint16_t nodes[] = { 0x0103 };
	char state[256], reason[256];

	reset_log();
	groups_start(g, GROUPS_ADD, GROUP, nodes, 1);
	run();
	is_str(sent_log, "comp 0103; appkey 0103; bind 0103 1402; bind 0103 1400; sub 0103 1402 c123; "
	       "sub 0103 1400 c123; ", "unknown composition: Composition Data Get first");
	member(0x0103, GROUP, state, reason, sizeof(state));
	is_str(state, "member", "unknown composition: then a member");
	ok(query_int("SELECT length(composition) FROM nodes WHERE address = 0x0103") > 10 &&
	   query_int("SELECT dfu_capable FROM nodes WHERE address = 0x0103") == 1,
	   "unknown composition: recorded in nodes, DFU capable");
}

static void test_timeout_and_resume(struct groups *g)
{
	const uint16_t nodes[] = { 0x0007 };
	char state[256], reason[256];

	reset_log();
	silent_opcode = MA_OP_MODEL_SUB_ADD;
	groups_start(g, GROUPS_ADD, GROUP, nodes, 1);
	run();
	silent_opcode = UINT32_MAX;
	is_str(sent_log, "appkey 0007; bind 0007 1402; bind 0007 1400; sub 0007 1402 c123; ",
	       "timeout: up to the subscription that got no answer");
	member(0x0007, GROUP, state, reason, sizeof(state));
	is_str(state, "failed", "timeout: failed");
	is_str(reason, "unreachable: timed out in Config Model Subscription Add (Firmware Update Server): no answer "
	       "after every retry", "timeout: the reason names the step");
	is_int(job_int(g, "failed"), 1, "timeout: the job counts it");

	reset_log();
	groups_start(g, GROUPS_ADD, GROUP, nodes, 1);
	run();
	is_str(sent_log, "sub 0007 1402 c123; sub 0007 1400 c123; ", "resume: only what was not acknowledged");
	member(0x0007, GROUP, state, reason, sizeof(state));
	is_str(state, "member", "resume: a member");
	is_str(reason, "(null)", "resume: no reason left");
}

static void test_lost_key(struct groups *g)
{
	const uint16_t nodes[] = { 0x0007 };

	/* The node lost the key and its bindings behind meshfleet's back (a reset); the records still say added, and
	 * one binding missing makes a Bind go out, which meets Invalid AppKey Index. */
	fakes[1].has_key = false;
	fakes[1].bound[0] = fakes[1].bound[1] = false;
	sql("UPDATE node_config SET fu_bound = 0 WHERE address = 7");
	reset_log();
	groups_start(g, GROUPS_ADD, OTHER_GROUP, nodes, 1);
	run();
	is_str(sent_log, "bind 0007 1402; appkey 0007; bind 0007 1402; bind 0007 1400; sub 0007 1402 c124; "
	       "sub 0007 1400 c124; ", "lost key: Invalid AppKey Index to a Bind sends AppKey Add again");
	is_int(job_int(g, "succeeded"), 1, "lost key: then it succeeds");
}

static void test_already_stored(struct groups *g)
{
	const uint16_t nodes[] = { 0x0007 };
	char state[256], reason[256];

	sql("UPDATE node_config SET app_key_added = 0 WHERE address = 7");
	force_status = MA_CFG_KEY_INDEX_ALREADY_STORED;
	force_opcode = MA_OP_APPKEY_ADD;
	reset_log();
	groups_start(g, GROUPS_ADD, 0xC200, nodes, 1);
	run();
	member(0x0007, 0xC200, state, reason, sizeof(state));
	is_str(state, "member", "Key Index Already Stored to AppKey Add counts as success");
	is_int(query_int("SELECT app_key_added FROM node_config WHERE address = 7"), 1, "and is recorded");
}

static void test_rejected_and_stale(struct groups *g)
{
	const uint16_t nodes[] = { 0x0007 };
	char state[256], reason[256];

	force_status = MA_CFG_INSUFFICIENT_RESOURCES;
	force_opcode = MA_OP_MODEL_SUB_ADD;
	reset_log();
	groups_start(g, GROUPS_ADD, 0xC201, nodes, 1);
	run();
	member(0x0007, 0xC201, state, reason, sizeof(state));
	is_str(state, "failed", "rejected: failed");
	is_str(reason, "rejected: the node answered Config Model Subscription Add (Firmware Update Server) with "
	       "Insufficient Resources (0x05)", "rejected: the reason names the step and the status");

	stale_once = true;
	reset_log();
	groups_start(g, GROUPS_ADD, 0xC202, nodes, 1);
	run();
	is_str(sent_log, "sub 0007 1402 c202; sub 0007 1402 c202; sub 0007 1400 c202; ",
	       "stale: an answer about the other model is not taken; the step goes again");
	member(0x0007, 0xC202, state, reason, sizeof(state));
	is_str(state, "member", "stale: then a member");
}

static void test_remove(struct groups *g)
{
	const uint16_t nodes[] = { 0x0004, 0x0007 };

	reset_log();
	is_int(groups_start(g, GROUPS_REMOVE, GROUP, nodes, 1), 0, "remove: starts");
	run();
	is_str(sent_log, "unsub 0005 1402 c123; unsub 0005 1400 c123; ", "remove: two Subscription Deletes");
	is_int(query_int("SELECT count(*) FROM group_members WHERE address = 4 AND group_address = 0xC123"), 0,
	       "remove: the member is gone");
	is_int(query_int("SELECT count(*) FROM group_members WHERE address = 4 AND group_address = 0xC124"), 1,
	       "remove: its other group stays");
	is_int(query_int("SELECT fu_bound + blob_bound FROM node_config WHERE address = 4"), 2,
	       "remove: the bindings stay");
	ok(fakes[0].subs[0][0] != GROUP && fakes[0].subs[1][0] != GROUP, "remove: the node lost the subscriptions");

	reset_log();
	groups_start(g, GROUPS_REMOVE, GROUP, nodes, 1);
	run();
	is_str(sent_log, "", "remove again: nothing sent");
	is_int(job_int(g, "unchanged"), 1, "remove again: unchanged");

	/* Without a list: every member of the group, and the refused row goes without a message. */
	reset_log();
	is_int(groups_start(g, GROUPS_REMOVE, GROUP, NULL, 0), 0, "remove all: starts");
	run();
	is_str(sent_log, "unsub 0007 1402 c123; unsub 0103 1402 c123; unsub 0007 1400 c123; unsub 0103 1400 c123; ",
	       "remove all: the members' subscriptions, both nodes at once, each in its order");
	is_int(job_int(g, "total"), 3, "remove all: three rows (one refused)");
	is_int(query_int("SELECT count(*) FROM group_members WHERE group_address = 0xC123"), 0,
	       "remove all: no member left");
	(void)nodes;
}

static void test_refusals(struct groups *g, struct mesh_client *m)
{
	const uint16_t nodes[] = { 0x0007 }, unknown[] = { 0x0007, 0x0300 };
	char state[256], reason[256];
	size_t index = 99;

	is_int(groups_find_unknown(db, unknown, 2, &index), -ENOENT, "an unknown node is found");
	is_int(index, 1, "at its index");
	is_int(groups_start(g, GROUPS_ADD, 0xBFFF, nodes, 1), -EINVAL, "0xBFFF is no group address");
	is_int(groups_start(g, GROUPS_ADD, 0xFF00, nodes, 1), -EINVAL, "0xFF00 is a fixed group address");
	is_int(groups_start(g, GROUPS_ADD, GROUP, NULL, 0), -EINVAL, "add needs nodes");
	m->ready = false;
	is_int(groups_start(g, GROUPS_ADD, GROUP, nodes, 1), -ENOTCONN, "mesh not ready: -ENOTCONN");
	m->ready = true;
	silent = true;
	is_int(groups_start(g, GROUPS_ADD, 0xC300, nodes, 1), 0, "a job runs");
	is_int(groups_start(g, GROUPS_ADD, 0xC301, nodes, 1), -EBUSY, "another one waits: -EBUSY");
	run();
	silent = false;

	/* A node whose device key is not known is refused without a message. */
	sql("UPDATE nodes SET device_key = NULL WHERE address = 0x0105");
	sql("UPDATE nodes SET composition = NULL WHERE address = 0x0105");
	reset_log();
	groups_start(g, GROUPS_ADD, GROUP, (const uint16_t[]){ 0x0105 }, 1);
	run();
	is_str(sent_log, "", "not provisioned: nothing sent");
	member(0x0105, GROUP, state, reason, sizeof(state));
	is_str(state, "refused", "not provisioned: refused");
	has_str(reason, "not_provisioned: ", "not provisioned: the reason says so");
}

static void test_forget(void)
{
	is_int(query_int("SELECT count(*) FROM node_config WHERE address = 7"), 1, "before: node_config of 0x0007");
	sql("UPDATE nodes SET device_key = zeroblob(16) WHERE address = 7");
	is_int(query_int("SELECT count(*) FROM node_config WHERE address = 7"), 0,
	       "a new device key: node_config forgotten");
	is_int(query_int("SELECT count(*) FROM group_members WHERE address = 7"), 0,
	       "a new device key: group_members forgotten");
	sql("DELETE FROM nodes WHERE address = 4");
	is_int(query_int("SELECT count(*) FROM group_members WHERE address = 4") +
	       query_int("SELECT count(*) FROM node_config WHERE address = 4"), 0, "a deleted node: both forgotten");
}

static int list_one(const struct groups_member *m, void *userdata)
{
	(*(int *)userdata)++;
	return m->address ? 0 : -EINVAL;
}

static void test_list(void)
{
	bool more = false;
	int n = 0;

	is_int(groups_members_list(db, OTHER_GROUP, 0, 1, list_one, &n, &more), 0, "list: one page");
	is_int(n, 1, "list: limit 1");
	ok(more, "list: more follow");
}

int main(void)
{
	struct mesh_client m = { .ready = true };
	struct groups *g = NULL;
	uv_loop_t loop;
	char path[600];

	uv_loop_init(&loop);
	setup();
	is_int(groups_new(&loop, db, &m, &g), 0, "groups_new");
	test_add(g);
	test_unknown_composition(g);
	test_timeout_and_resume(g);
	test_lost_key(g);
	test_already_stored(g);
	test_rejected_and_stale(g);
	test_remove(g);
	test_list();
	test_refusals(g, &m);
	test_forget();
	groups_free(g);
	groups_free(NULL);
	json_decref(last_job);
	db_free(db);
	is_int(uv_loop_close(&loop), 0, "the loop closes");
	for (size_t i = 0; i < 3; i++) {
		static const char *const suffix[] = { "", "-wal", "-shm" };

		snprintf(path, sizeof(path), "%s/groups.db%s", dir, suffix[i]);
		unlink(path);
	}
	rmdir(dir);
	return done_testing();
}
