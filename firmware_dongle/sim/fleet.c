/* fleet: see fleet.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "fleet.h"

#define ALL_NODES 0xFFFF
#define COMPOSITION_MAX (MA_PAYLOAD_MAX - 2)    /* page 0 after the 1-byte opcode and the page number */

__attribute__((format(printf, 3, 4)))
static void fleet_log(const struct fleet *f, enum msg_log_level level, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	if (!f->log)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	f->log(f->log_ctx, level, text);
}

int fleet_init(struct fleet *f, const struct scenario *scenario, uint64_t seed)
{
	*f = (struct fleet){ .state = *scenario };
	f->state.nodes = calloc(scenario->node_count ? scenario->node_count : 1, sizeof(*f->state.nodes));
	f->pending = calloc(FLEET_ANSWERS_MAX, sizeof(*f->pending));
	if (!f->state.nodes || !f->pending) {
		fleet_done(f);
		return -ENOMEM;
	}
	if (scenario->node_count)
		memcpy(f->state.nodes, scenario->nodes, scenario->node_count * sizeof(*f->state.nodes));
	for (uint32_t i = 0; i < FLEET_ANSWERS_MAX; i++)
		f->pending[i].next_free = i + 1;
	f->free_head = 0;
	rng_seed(&f->rng, seed, 3);
	return 0;
}

void fleet_done(struct fleet *f)
{
	if (f->targets)
		for (size_t i = 0; i < f->state.node_count; i++)
			target_free(f->targets[i]);
	free(f->targets);
	free(f->tick_at);
	free(f->msgs);
	free(f->raw);
	if (f->radio)
		radio_done(f->radio);
	free(f->radio);
	f->targets = NULL;
	f->tick_at = NULL;
	f->msgs = NULL;
	f->raw = NULL;
	f->radio = NULL;
	free(f->state.nodes);
	free(f->pending);
	f->state.nodes = NULL;
	f->state.node_count = 0;
	f->pending = NULL;
}

void fleet_set_log(struct fleet *f, void (*log)(void *ctx, enum msg_log_level level, const char *text), void *ctx)
{
	f->log = log;
	f->log_ctx = ctx;
}

static void learn(struct scenario_key *keys, size_t count, uint16_t index, const uint8_t *value)
{
	for (size_t i = 0; i < count; i++)
		if (keys[i].index == index)
			memcpy(keys[i].key, value, SCENARIO_KEY_SIZE);
}

void fleet_configure(struct fleet *f, const struct msg_mesh_config *cfg)
{
	struct scenario *s = &f->state;

	memcpy(f->net_key, cfg->net_key, sizeof(f->net_key));
	memcpy(f->app_key, cfg->app_key, sizeof(f->app_key));
	f->app_key_index = cfg->app_key_index;
	f->configured = true;
	if (!s->learn_keys)
		return;
	/* nothing can have changed the nodes' keys before the first MESH_CONFIG: every message needs one */
	learn(s->net_keys, s->n_net_keys, 0, cfg->net_key);
	learn(s->app_keys, s->n_app_keys, 0, cfg->app_key);
	for (size_t i = 0; i < s->node_count; i++) {
		learn(s->nodes[i].net_keys, s->nodes[i].n_net_keys, 0, cfg->net_key);
		learn(s->nodes[i].app_keys, s->nodes[i].n_app_keys, 0, cfg->app_key);
	}
	s->learn_keys = false;
	f->changes++;
	fleet_log(f, MSG_LOG_INFO, "the scenario names no keys: the nodes take the dongle's network key and "
		  "application key as their network key 0 and application key 0");
}

/* --- the answers in flight --- */

static struct fleet_pending *pending_new_from(struct fleet *f, uint32_t node, uint16_t src,
					      const struct msg_mesh_send *m, enum fleet_reply_kind kind, uint32_t *ret_id)
{
	struct fleet_pending *p;

	if (f->free_head >= FLEET_ANSWERS_MAX) {
		f->answers_full++;
		return NULL;
	}
	*ret_id = f->free_head;
	p = &f->pending[f->free_head];
	f->free_head = p->next_free;
	*p = (struct fleet_pending){
		.used = true,
		.kind = (uint8_t)kind,
		.dst = src,
		.key_index = m->key_index,
		.devkey = m->devkey,
		.node = node,
		.ttl = TARGET_TTL_DEFAULT,
	};
	return p;
}

static struct fleet_pending *pending_new(struct fleet *f, uint32_t node, const struct core_mesh_tx *tx,
					 enum fleet_reply_kind kind, uint32_t *ret_id)
{
	return pending_new_from(f, node, tx->src, tx->msg, kind, ret_id);
}

static void raw_free(struct fleet *f, uint32_t id)
{
	if (!f->raw || id >= FLEET_RAW_MAX)
		return;
	f->raw[id].next_free = f->raw_free;
	f->raw_free = id;
}

static void pending_free(struct fleet *f, uint32_t id)
{
	if (f->pending[id].kind == FLEET_REPLY_TARGET)
		raw_free(f, f->pending[id].raw);
	f->pending[id].used = false;
	f->pending[id].next_free = f->free_head;
	f->free_head = id;
}

void fleet_cancel(struct fleet *f, uint32_t id)
{
	if (id < FLEET_ANSWERS_MAX && f->pending[id].used)
		pending_free(f, id);
}

/* --- a node's keys and models --- */

static bool reachable(uint8_t ttl, uint8_t hops)
{
	/* TTL 0 is never relayed; TTL t >= 2 is relayed until it reaches 1, so it covers t hops */
	return hops <= (ttl == 0 ? 1 : ttl);
}

static struct scenario_key *find_key(struct scenario_key *keys, size_t count, uint16_t index)
{
	for (size_t i = 0; i < count; i++)
		if (keys[i].index == index)
			return &keys[i];
	return NULL;
}

static const struct scenario_key *key_by_value(const struct scenario_key *keys, size_t count, const uint8_t *value)
{
	for (size_t i = 0; i < count; i++)
		if (memcmp(keys[i].key, value, SCENARIO_KEY_SIZE) == 0)
			return &keys[i];
	return NULL;
}

static bool has_u16(const uint16_t *list, size_t count, uint16_t value)
{
	for (size_t i = 0; i < count; i++)
		if (list[i] == value)
			return true;
	return false;
}

static bool subscribed(const struct scenario_node *n, uint16_t group)
{
	for (size_t i = 0; i < n->n_models; i++)
		if (has_u16(n->models[i].subscriptions, n->models[i].n_subscriptions, group))
			return true;
	return false;
}

static bool is_config_model(const struct scenario_model *m)
{
	return !m->vendor && (m->id == MA_MODEL_CFG_SRV || m->id == MA_MODEL_CFG_CLI);
}

/* The model a Config message names, or NULL with the status to answer in *ret_status. */
static struct scenario_model *config_model(struct scenario_node *n, uint16_t elem_addr, const struct ma_model_id *id,
					   uint8_t *ret_status)
{
	struct scenario_model *m;

	if (elem_addr < n->address || elem_addr - n->address >= n->elements) {
		*ret_status = MA_CFG_INVALID_ADDRESS;
		return NULL;
	}
	m = scenario_node_model(n, (uint8_t)(elem_addr - n->address),
				id->vendor ? (uint32_t)id->company << 16 | id->id : id->id, id->vendor);
	if (!m)
		*ret_status = MA_CFG_INVALID_MODEL;
	return m;
}

/* --- the Configuration Server; each returns the status to answer, in the order of Zephyr's checks --- */

static uint8_t appkey_add(struct scenario_node *n, const struct ma_appkey *req)
{
	struct scenario_key *k = find_key(n->app_keys, n->n_app_keys, req->app_key_index);

	if (!find_key(n->net_keys, n->n_net_keys, req->net_key_index))
		return MA_CFG_INVALID_NETKEY_INDEX;
	if (k) {
		if (k->net_index != req->net_key_index)
			return MA_CFG_INVALID_NETKEY_INDEX;
		/* the same key again is how a client retries: Success */
		return memcmp(k->key, req->key, MA_KEY_SIZE) == 0 ? MA_CFG_SUCCESS : MA_CFG_KEY_INDEX_ALREADY_STORED;
	}
	if (n->n_app_keys == SCENARIO_NODE_APP_KEYS_MAX)
		return MA_CFG_INSUFFICIENT_RESOURCES;
	k = &n->app_keys[n->n_app_keys++];
	k->index = req->app_key_index;
	k->net_index = req->net_key_index;
	memcpy(k->key, req->key, MA_KEY_SIZE);
	return MA_CFG_SUCCESS;
}

static uint8_t model_app_bind(struct scenario_node *n, const struct ma_model_app *req)
{
	uint8_t status = MA_CFG_SUCCESS;
	struct scenario_model *m = config_model(n, req->elem_addr, &req->model, &status);

	if (!m)
		return status;
	if (is_config_model(m))
		return MA_CFG_CANNOT_BIND;      /* they only ever use the device key */
	if (!find_key(n->app_keys, n->n_app_keys, req->app_key_index))
		return MA_CFG_INVALID_APPKEY_INDEX;
	if (has_u16(m->bindings, m->n_bindings, req->app_key_index))
		return MA_CFG_SUCCESS;
	if (m->n_bindings == SCENARIO_BINDINGS_MAX)
		return MA_CFG_INSUFFICIENT_RESOURCES;
	m->bindings[m->n_bindings++] = req->app_key_index;
	return MA_CFG_SUCCESS;
}

static uint8_t model_sub(struct scenario_node *n, const struct ma_model_sub *req, bool add)
{
	uint8_t status = MA_CFG_SUCCESS;
	struct scenario_model *m = config_model(n, req->elem_addr, &req->model, &status);

	if (!m)
		return status;
	/* group addresses and the fixed ones but all-nodes (Zephyr's BT_MESH_ADDR_IS_GROUP / _FIXED_GROUP) */
	if (req->address < 0xC000 || req->address == ALL_NODES)
		return MA_CFG_INVALID_ADDRESS;
	if (!m->vendor && m->id == MA_MODEL_CFG_SRV)
		return MA_CFG_NOT_A_SUBSCRIBE_MODEL;
	for (size_t i = 0; i < m->n_subscriptions; i++) {
		if (m->subscriptions[i] != req->address)
			continue;
		if (!add) {
			memmove(&m->subscriptions[i], &m->subscriptions[i + 1],
				(m->n_subscriptions - i - 1) * sizeof(m->subscriptions[0]));
			m->n_subscriptions--;
		}
		return MA_CFG_SUCCESS;
	}
	if (!add)
		return MA_CFG_SUCCESS;  /* deleting what is not there leaves the list as asked */
	if (m->n_subscriptions == SCENARIO_SUBSCRIPTIONS_MAX)
		return MA_CFG_INSUFFICIENT_RESOURCES;
	m->subscriptions[m->n_subscriptions++] = req->address;
	return MA_CFG_SUCCESS;
}

/* --- one message at one node --- */

static const char *node_label(const struct scenario_node *n, char *buf, size_t len)
{
	snprintf(buf, len, n->name[0] ? "node 0x%04x '%s'" : "node 0x%04x%s", n->address, n->name);
	return buf;
}

/* The node's target accepted a Firmware Update Apply (its count went up): one info line with the version it boots
 * into and how many applies the node accepted so far, so that a test can count the applies of each node
 * (tests/integration/campaign_crash.sh: never twice for one campaign). The version is the incoming one of target.h:
 * major, minor, revision (LE16), build (LE32). */
static void log_apply(const struct fleet *f, const struct scenario_node *n, const struct target *t)
{
	const uint8_t *v = t->flash.incoming_version;
	char who[64], version[48] = "its scenario's new FWID or its old one";

	if (t->flash.incoming_version_from != TARGET_VERSION_NONE)
		snprintf(version, sizeof(version), "version %u.%u.%u+%lu", v[0], v[1], (unsigned)(v[2] | v[3] << 8),
			 (unsigned long)((uint32_t)v[4] | (uint32_t)v[5] << 8 | (uint32_t)v[6] << 16 |
					 (uint32_t)v[7] << 24));
	fleet_log(f, MSG_LOG_INFO, "%s: Firmware Update Apply accepted: applying %s (apply %u)",
		  node_label(n, who, sizeof(who)), version, t->applies);
}

/* What the node does with a message it could decrypt with its device key. Returns the answer's kind and fills
 * @data and *ret_len (STATUS), or -1 for no answer. */
static int config_server(struct fleet *f, struct scenario_node *n, const struct ma_msg *req, uint8_t *data,
			 uint8_t *ret_len)
{
	struct scenario_node before;
	struct ma_msg st = { 0 };
	uint8_t status;
	size_t len = 0;
	char who[64];

	/* whatever a Config message changes is counted for the node's flash (fleetstate.h); a retry changes nothing */
	memcpy(&before, n, sizeof(before));
	switch (req->opcode) {
	case MA_OP_COMP_GET:
		/* a node with page 0 only answers any page with page 0 */
		if (scenario_composition_size(n) > COMPOSITION_MAX) {
			fleet_log(f, MSG_LOG_DEBUG, "%s: Composition Data does not fit one message: no answer",
				  node_label(n, who, sizeof(who)));
			f->ignored++;
			return -1;
		}
		return FLEET_REPLY_COMPOSITION;
	case MA_OP_APPKEY_ADD:
		status = appkey_add(n, &req->u.appkey);
		st.opcode = MA_OP_APPKEY_STATUS;
		st.u.appkey = (struct ma_appkey){ .status = status, .net_key_index = req->u.appkey.net_key_index,
						  .app_key_index = req->u.appkey.app_key_index };
		break;
	case MA_OP_MODEL_APP_BIND:
		status = model_app_bind(n, &req->u.model_app);
		st.opcode = MA_OP_MODEL_APP_STATUS;
		st.u.model_app = req->u.model_app;
		st.u.model_app.status = status;
		break;
	case MA_OP_MODEL_SUB_ADD:
	case MA_OP_MODEL_SUB_DEL:
		status = model_sub(n, &req->u.model_sub, req->opcode == MA_OP_MODEL_SUB_ADD);
		st.opcode = MA_OP_MODEL_SUB_STATUS;
		st.u.model_sub = req->u.model_sub;
		st.u.model_sub.status = status;
		break;
	default:
		fleet_log(f, MSG_LOG_DEBUG, "%s: %s with the device key: not a Configuration Server message, ignored",
			  node_label(n, who, sizeof(who)), ma_opcode_to_string(req->opcode));
		f->ignored++;
		return -1;
	}
	if (memcmp(&before, n, sizeof(before)) != 0)
		f->changes++;
	if (ma_encode(&st, data, FLEET_STATUS_MAX, &len) != MA_OK) {
		f->ignored++;
		return -1;
	}
	*ret_len = (uint8_t)len;
	fleet_log(f, MSG_LOG_DEBUG, "%s: %s: %s", node_label(n, who, sizeof(who)), ma_opcode_to_string(req->opcode),
		  ma_cfg_status_to_string(status));
	return FLEET_REPLY_STATUS;
}

/* What the node does with an application-key message; @app_index is the node's index of the key. */
static int app_models(struct fleet *f, struct scenario_node *n, uint16_t dst, uint16_t app_index,
		      const struct ma_msg *req, uint8_t *data, uint8_t *ret_len)
{
	struct scenario_model *server = scenario_node_model(n, 0, MA_MODEL_DFU_SRV, false);
	char who[64];

	if (req->opcode != MA_OP_FW_INFO_GET || !server) {
		f->ignored++;
		return -1;
	}
	if (dst != n->address && dst != ALL_NODES && !has_u16(server->subscriptions, server->n_subscriptions, dst))
		return -1;      /* another model's group */
	if (!has_u16(server->bindings, server->n_bindings, app_index)) {
		fleet_log(f, MSG_LOG_DEBUG, "%s: application key %u is not bound to the Firmware Update Server: "
			  "Information Get dropped", node_label(n, who, sizeof(who)), app_index);
		f->wrong_app_key++;
		return -1;
	}
	data[0] = req->u.fw_info_get.first_index;
	data[1] = req->u.fw_info_get.entries_limit;
	*ret_len = 2;
	return FLEET_REPLY_FW_INFO;
}

/* What node @index does with message @m from @src that it could decode as @req, once it got it: the key checks, then
 * the Configuration Server or the application models. Returns the answer's kind, with @data and *ret_len for
 * FLEET_REPLY_STATUS / _FW_INFO, or -1 for no answer. */
static int node_act(struct fleet *f, uint32_t index, const struct msg_mesh_send *m, const struct ma_msg *req,
		    uint8_t *data, uint8_t *ret_len)
{
	struct scenario_node *n = &f->state.nodes[index];
	char who[64];

	if (!key_by_value(n->net_keys, n->n_net_keys, f->net_key)) {
		fleet_log(f, MSG_LOG_DEBUG, "%s: the dongle's network key is not one the node holds: message dropped",
			  node_label(n, who, sizeof(who)));
		f->wrong_net_key++;
		return -1;
	}
	if (m->devkey) {
		if (memcmp(m->dev_key, n->device_key, SCENARIO_KEY_SIZE) != 0) {
			fleet_log(f, MSG_LOG_DEBUG, "%s: not its device key: message dropped",
				  node_label(n, who, sizeof(who)));
			f->wrong_device_key++;
			return -1;
		}
		if (m->dst != n->address) {
			f->ignored++;   /* the Configuration Server answers its unicast address only */
			return -1;
		}
		return config_server(f, n, req, data, ret_len);
	} else {
		const struct scenario_key *k = key_by_value(n->app_keys, n->n_app_keys, f->app_key);

		if (!k) {
			fleet_log(f, MSG_LOG_DEBUG, "%s: the dongle's application key is not one the node holds: "
				  "message dropped", node_label(n, who, sizeof(who)));
			f->wrong_app_key++;
			return -1;
		}
		return app_models(f, n, m->dst, k->index, req, data, ret_len);
	}
}

static void deliver(struct fleet *f, uint32_t index, const struct core_mesh_tx *tx, const struct ma_msg *req,
		    void (*answer)(void *ctx, const struct fleet_answer *a), void *ctx)
{
	struct scenario_node *n = &f->state.nodes[index];
	const struct msg_mesh_send *m = tx->msg;
	uint8_t ttl = m->ttl == MSG_TTL_DEFAULT ? FLEET_DEFAULT_TTL : m->ttl;
	uint8_t data[FLEET_STATUS_MAX], len = 0;
	bool answer_lost = false;
	struct fleet_pending *p;
	struct fleet_answer a;
	int kind;

	if (!reachable(ttl, n->hops) || !reachable(FLEET_DEFAULT_TTL, n->hops)) {
		f->out_of_range++;
		return;
	}
	if (n->loss_rate > 0) {
		double u = rng_uniform(&f->rng);

		if (u < n->loss_rate / 2) {
			f->lost++;
			return;
		}
		answer_lost = u < n->loss_rate;
	}
	kind = node_act(f, index, m, req, data, &len);
	if (kind < 0)
		return;
	if (answer_lost) {
		f->lost++;
		return;
	}
	p = pending_new(f, index, tx, (enum fleet_reply_kind)kind, &a.id);
	if (!p)
		return;
	memcpy(p->data, data, len);
	p->len = len;
	a.delay_ms = 2u * n->hops * f->state.hop_delay_ms + FLEET_PROCESSING_MS;
	f->answers++;
	answer(ctx, &a);
}

void fleet_handle(struct fleet *f, const struct core_mesh_tx *tx,
		  void (*answer)(void *ctx, const struct fleet_answer *a), void *ctx)
{
	const struct msg_mesh_send *m = tx->msg;
	const struct scenario *s = &f->state;
	struct ma_msg req;
	enum ma_status st;

	f->messages++;
	/* a message no node model could parse (Zephyr drops other lengths) reaches nobody */
	st = ma_decode(m->payload, m->payload_len, &req);
	if (st != MA_OK) {
		f->ignored++;
		fleet_log(f, MSG_LOG_DEBUG, "message to 0x%04x not understood (%s): dropped", m->dst,
			  ma_status_to_string(st));
		return;
	}
	for (uint32_t i = 0; i < s->node_count; i++) {
		const struct scenario_node *n = &s->nodes[i];

		if (m->dst == ALL_NODES || m->dst == n->address || (m->dst >= 0xC000 && subscribed(n, m->dst)))
			deliver(f, i, tx, &req, answer, ctx);
	}
}

/* --- answers --- */

static size_t encode_composition(const struct scenario_node *n, uint8_t *buf)
{
	struct ma_element_desc elements[SCENARIO_ELEMENTS_MAX];
	struct ma_model_id models[SCENARIO_MODELS_MAX];
	struct ma_comp0 hdr = {
		.cid = n->company_id, .pid = n->product_id, .vid = n->version_id, .crpl = n->crpl,
		.features = n->features,
	};
	size_t len = 0, m = 0;

	/* the models are kept by element (scenario.h), so each element's are consecutive */
	for (unsigned e = 0; e < n->elements; e++) {
		elements[e] = (struct ma_element_desc){ .loc = n->locations[e], .models = &models[m] };
		for (; m < n->n_models && n->models[m].element == e; m++) {
			const struct scenario_model *sm = &n->models[m];

			models[m] = sm->vendor ? MA_VND_MODEL((uint16_t)(sm->id >> 16), (uint16_t)sm->id) :
						 MA_SIG_MODEL((uint16_t)sm->id);
			elements[e].model_count++;
		}
	}
	if (ma_comp0_status_encode(&hdr, elements, n->elements, buf, FLEET_REPLY_MAX, &len) != MA_OK)
		return 0;
	return len;
}

static size_t encode_fw_info(const struct scenario_node *n, uint8_t first_index, uint8_t limit, uint8_t *buf)
{
	struct ma_fw_entry image = { .fwid = n->fwid, .fwid_len = n->fwid_len };
	size_t len = 0;

	/* one image; a First Index past it gets no entries */
	if (ma_fw_info_status_encode(1, first_index, &image, first_index == 0 && limit > 0 ? 1 : 0, buf,
				     FLEET_REPLY_MAX, &len) != MA_OK)
		return 0;
	return len;
}

/* The access payload of answer @p into @buf (FLEET_REPLY_MAX bytes); its length, 0 when it cannot be encoded. */
static size_t encode_reply(const struct fleet *f, const struct fleet_pending *p, uint8_t *buf)
{
	const struct scenario_node *n = &f->state.nodes[p->node];

	switch ((enum fleet_reply_kind)p->kind) {
	case FLEET_REPLY_STATUS:
		memcpy(buf, p->data, p->len);
		return p->len;
	case FLEET_REPLY_COMPOSITION:
		return encode_composition(n, buf);
	case FLEET_REPLY_FW_INFO:
		return encode_fw_info(n, p->data[0], p->data[1], buf);
	case FLEET_REPLY_TARGET:
		memcpy(buf, f->raw[p->raw].payload, f->raw[p->raw].len);
		return f->raw[p->raw].len;
	}
	return 0;
}

bool fleet_reply(struct fleet *f, uint32_t id, uint8_t *buf, struct msg_mesh_recv *ret)
{
	const struct scenario_node *n;
	struct fleet_pending p;
	size_t len = 0;

	if (id >= FLEET_ANSWERS_MAX || !f->pending[id].used)
		return false;
	p = f->pending[id];
	if (p.node < f->state.node_count)
		len = encode_reply(f, &p, buf);
	pending_free(f, id);
	if (len == 0)
		return false;
	n = &f->state.nodes[p.node];
	*ret = (struct msg_mesh_recv){
		.src = n->address,
		.dst = p.dst,
		.key_index = p.key_index,
		.devkey = p.devkey,
		.ttl = (uint8_t)(FLEET_DEFAULT_TTL - (n->hops - 1)),
		.rssi = (int8_t)(-40 - 6 * (n->hops - 1 > 9 ? 9 : n->hops - 1)),
		.payload = buf,
		.payload_len = (uint16_t)len,
	};
	return true;
}

/* --- the radio model --- */

#define RADIO_DONGLE 0                  /* the dongle's radio index */
#define US_PER_MS 1000

static uint32_t radio_index(uint32_t node)
{
	return node + 1;
}

static uint64_t us_to_ms_up(uint64_t us)
{
	return (us + US_PER_MS - 1) / US_PER_MS;
}

int fleet_radio_init(struct fleet *f, uint64_t seed)
{
	size_t count = f->state.node_count;
	int err;

	f->radio = calloc(1, sizeof(*f->radio));
	f->targets = calloc(count ? count : 1, sizeof(*f->targets));
	f->tick_at = calloc(count ? count : 1, sizeof(*f->tick_at));
	f->msgs = calloc(FLEET_MSGS_MAX, sizeof(*f->msgs));
	f->raw = calloc(FLEET_RAW_MAX, sizeof(*f->raw));
	if (!f->radio || !f->targets || !f->tick_at || !f->msgs || !f->raw)
		goto nomem;
	/* the dongle, the nodes, and nobody (a message addressed to no node still goes on the air) */
	err = radio_init(f->radio, &f->state.radio, (uint32_t)count + 2, seed);
	if (err < 0) {
		free(f->radio);
		f->radio = NULL;
		return err;
	}
	for (size_t i = 0; i < count; i++) {
		const struct scenario_node *n = &f->state.nodes[i];

		radio_node_set(f->radio, radio_index((uint32_t)i), n->hops, n->loss_rate);
		f->tick_at[i] = TARGET_NEVER;
		if (!scenario_node_dfu_capable(n))
			continue;
		f->targets[i] = target_new(n, seed);    /* each target takes a stream of its own (target.c) */
		if (!f->targets[i])
			goto nomem;
	}
	radio_node_set(f->radio, (uint32_t)count + 1, 1, 0);
	/* the dongle's own SAR Transmitter state is the Distributor's choice, not the network's (dist.h) */
	radio_node_set_sar_multicast(f->radio, RADIO_DONGLE, DIST_SAR_MULTICAST_RETRANS_COUNT,
				     DIST_SAR_MULTICAST_RETRANS_INT_STEP);
	for (uint32_t i = 0; i < FLEET_MSGS_MAX; i++)
		f->msgs[i].next_free = i + 1;
	for (uint32_t i = 0; i < FLEET_RAW_MAX; i++)
		f->raw[i].next_free = i + 1;
	f->msgs_free = 0;
	f->raw_free = 0;
	return 0;

nomem:
	/* fleet_done() frees the rest; the radio is not initialised yet */
	free(f->radio);
	f->radio = NULL;
	return -ENOMEM;
}

const struct target *fleet_target(const struct fleet *f, uint32_t index)
{
	return f->targets && index < f->state.node_count ? f->targets[index] : NULL;
}

static bool is_dfu_opcode(uint32_t op)
{
	return op == MA_OP_FW_INFO_GET || (op >= MD_OP_METADATA_CHECK && op <= MD_OP_UPDATE_STATUS);
}

static bool is_blob_opcode(uint32_t op)
{
	return (op >= MB_OP_XFER_GET && op <= MB_OP_INFO_STATUS) || op == MB_OP_CHUNK || op == MB_OP_BLOCK_STATUS ||
	       op == MB_OP_BLOCK_REPORT;
}

static bool addressed(const struct scenario_node *n, uint16_t dst)
{
	return dst == ALL_NODES || dst == n->address || (dst >= 0xC000 && subscribed(n, dst));
}

int fleet_send(struct fleet *f, const struct core_mesh_tx *tx, uint64_t now_ms, fleet_schedule_fn schedule,
	       void *ctx, struct radio_tx *ret_tx)
{
	const struct msg_mesh_send *m = tx->msg;
	const struct scenario *s = &f->state;
	uint32_t *to = NULL, n_to = 0, id;
	uint64_t *at = NULL;
	struct radio_msg rm = {
		.now_us = now_ms * US_PER_MS,
		.len = m->payload_len,
		.unicast = m->dst < 0x8000,
		.ttl = m->ttl == MSG_TTL_DEFAULT ? RADIO_TTL_DEFAULT : m->ttl,
	};
	uint32_t nobody = (uint32_t)s->node_count + 1;
	int err;

	f->messages++;
	to = malloc((s->node_count + 1) * sizeof(*to));
	at = malloc((s->node_count + 1) * sizeof(*at));
	if (!to || !at) {
		err = -ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < s->node_count; i++)
		if (addressed(&s->nodes[i], m->dst) && (!rm.unicast || n_to == 0))
			to[n_to++] = radio_index(i);
	if (n_to == 0)
		to[n_to++] = nobody;
	err = radio_send(f->radio, &rm, to, n_to, at, ret_tx);
	if (err < 0)
		goto out;
	if (to[0] == nobody)
		goto out;
	if (f->msgs_free >= FLEET_MSGS_MAX) {
		f->answers_full++;      /* the deliveries are lost: count them like answers that found no room */
		goto out;
	}
	id = f->msgs_free;
	f->msgs_free = f->msgs[id].next_free;
	f->msgs[id].refs = 0;
	f->msgs[id].m = *m;
	f->msgs[id].src = tx->src;
	memcpy(f->msgs[id].payload, m->payload, m->payload_len);
	f->msgs[id].m.payload = f->msgs[id].payload;
	for (uint32_t i = 0; i < n_to; i++) {
		struct fleet_event ev = { .kind = FLEET_EVENT_DELIVER, .a = id, .b = to[i] - 1 };

		if (at[i] == RADIO_LOST) {
			f->radio_lost++;
			continue;
		}
		ev.at_ms = us_to_ms_up(at[i]);
		if (schedule(ctx, &ev) < 0) {
			f->events_dropped++;
			continue;
		}
		f->msgs[id].refs++;
	}
	if (f->msgs[id].refs == 0) {
		f->msgs[id].next_free = f->msgs_free;
		f->msgs_free = id;
	}
out:
	free(to);
	free(at);
	return err;
}

static void msg_release(struct fleet *f, uint32_t id)
{
	if (--f->msgs[id].refs > 0)
		return;
	f->msgs[id].next_free = f->msgs_free;
	f->msgs_free = id;
}

/* Schedules the sending of answer @id at @at_ms; frees it when that fails. */
static void schedule_send(struct fleet *f, uint32_t id, uint64_t at_ms, fleet_schedule_fn schedule, void *ctx)
{
	struct fleet_event ev = { .at_ms = at_ms, .kind = FLEET_EVENT_SEND, .a = id };

	if (schedule(ctx, &ev) < 0) {
		f->events_dropped++;
		pending_free(f, id);
		return;
	}
	f->answers++;
}

/* The target's next timer as a FLEET_EVENT_TICK, unless one is scheduled already for that time or earlier. */
static void schedule_tick(struct fleet *f, uint32_t node, fleet_schedule_fn schedule, void *ctx)
{
	uint64_t due = target_next_deadline(f->targets[node]);
	struct fleet_event ev = { .at_ms = due, .kind = FLEET_EVENT_TICK, .b = node };

	if (due == TARGET_NEVER || due >= f->tick_at[node])
		return;
	if (schedule(ctx, &ev) < 0) {
		f->events_dropped++;
		return;
	}
	f->tick_at[node] = due;
}

/* A target's answers: each held as an answer and sent at its time. */
static void target_answers(struct fleet *f, uint32_t node, const struct target_reply *out, size_t count,
			   uint16_t key_index, fleet_schedule_fn schedule, void *ctx)
{
	for (size_t i = 0; i < count; i++) {
		struct msg_mesh_send key = { .key_index = key_index };
		struct fleet_pending *p;
		uint32_t id, raw;

		if (f->raw_free >= FLEET_RAW_MAX) {
			f->answers_full++;
			continue;
		}
		p = pending_new_from(f, node, out[i].dst, &key, FLEET_REPLY_TARGET, &id);
		if (!p)
			continue;
		raw = f->raw_free;
		f->raw_free = f->raw[raw].next_free;
		f->raw[raw].len = out[i].len;
		memcpy(f->raw[raw].payload, out[i].payload, out[i].len);
		p->raw = raw;
		p->ttl = out[i].ttl;
		schedule_send(f, id, out[i].at_ms, schedule, ctx);
	}
}

/* Which of the node's DFU models message @op is for, and whether the node takes it: it holds the application key,
 * has it bound to that model, and the destination is the node, all nodes or a group that model subscribes to. */
static bool target_takes(struct fleet *f, struct scenario_node *n, const struct msg_mesh_send *m, uint32_t op,
			 uint16_t *ret_key_index)
{
	struct scenario_model *model = scenario_node_model(n, 0, is_dfu_opcode(op) ? MA_MODEL_DFU_SRV :
							   MA_MODEL_BLOB_SRV, false);
	const struct scenario_key *k = key_by_value(n->app_keys, n->n_app_keys, f->app_key);
	char who[64];

	if (!key_by_value(n->net_keys, n->n_net_keys, f->net_key)) {
		f->wrong_net_key++;
		return false;
	}
	if (m->devkey || !model) {
		f->ignored++;
		return false;
	}
	if (!k || !has_u16(model->bindings, model->n_bindings, k->index)) {
		fleet_log(f, MSG_LOG_DEBUG, "%s: the dongle's application key is not bound to its %s Server: %s "
			  "dropped", node_label(n, who, sizeof(who)), is_dfu_opcode(op) ? "Firmware Update" : "BLOB "
			  "Transfer", ma_opcode_to_string(op));
		f->wrong_app_key++;
		return false;
	}
	if (m->dst != n->address && m->dst != ALL_NODES &&
	    !has_u16(model->subscriptions, model->n_subscriptions, m->dst))
		return false;   /* another model's group */
	*ret_key_index = m->key_index;
	return true;
}

static void radio_deliver(struct fleet *f, uint32_t id, uint32_t node, uint64_t now, fleet_schedule_fn schedule,
			  void *ctx)
{
	struct fleet_msg *fm = &f->msgs[id];
	const struct msg_mesh_send *m = &fm->m;
	struct scenario_node *n = &f->state.nodes[node];
	uint8_t data[FLEET_STATUS_MAX], len = 0;
	uint32_t op = 0, answer;
	uint16_t key_index = 0;
	struct ma_msg req;
	int kind;

	if (ma_opcode_decode(m->payload, m->payload_len, &op) > 0 && f->targets[node] &&
	    (is_dfu_opcode(op) || is_blob_opcode(op))) {
		struct target_reply out[TARGET_REPLIES_MAX];
		size_t count;

		if (target_takes(f, n, m, op, &key_index)) {
			uint32_t applies = f->targets[node]->applies;

			count = target_recv(f->targets[node], now, fm->src, m->dst, m->payload, m->payload_len, out,
					    TARGET_REPLIES_MAX);
			if (f->targets[node]->applies != applies)
				log_apply(f, n, f->targets[node]);
			f->target_messages++;
			target_answers(f, node, out, count, key_index, schedule, ctx);
			schedule_tick(f, node, schedule, ctx);
		}
		msg_release(f, id);
		return;
	}
	if (ma_decode(m->payload, m->payload_len, &req) != MA_OK) {
		f->ignored++;
		msg_release(f, id);
		return;
	}
	kind = node_act(f, node, m, &req, data, &len);
	if (kind >= 0) {
		struct fleet_pending *p = pending_new_from(f, node, fm->src, m, (enum fleet_reply_kind)kind, &answer);

		if (p) {
			memcpy(p->data, data, len);
			p->len = len;
			schedule_send(f, answer, now + FLEET_PROCESSING_MS, schedule, ctx);
		}
	}
	msg_release(f, id);
}

/* The node sends answer @id now: over the radio to the dongle, from its own advertiser, with its own loss. */
static void radio_answer(struct fleet *f, uint32_t id, uint64_t now, fleet_schedule_fn schedule, void *ctx)
{
	struct fleet_pending *p = &f->pending[id];
	const struct scenario_node *n = &f->state.nodes[p->node];
	uint8_t buf[FLEET_REPLY_MAX];
	uint32_t to = RADIO_DONGLE;
	uint64_t at = RADIO_LOST;
	struct radio_tx tx;
	struct radio_msg rm = {
		.from = radio_index(p->node),
		.now_us = now * US_PER_MS,
		.unicast = true,
		.ttl = p->ttl == TARGET_TTL_DEFAULT ? RADIO_TTL_DEFAULT : p->ttl,
	};
	struct fleet_event ev = { .kind = FLEET_EVENT_ARRIVE, .a = id };

	rm.len = p->node < f->state.node_count ? encode_reply(f, p, buf) : 0;
	if (rm.len == 0) {
		pending_free(f, id);
		return;
	}
	/* a link's loss is the node's, both ways: the dongle hears the node as the node hears the dongle */
	radio_node_set(f->radio, RADIO_DONGLE, 0, n->loss_rate);
	if (radio_send(f->radio, &rm, &to, 1, &at, &tx) < 0 || at == RADIO_LOST) {
		f->radio_lost++;
		pending_free(f, id);
		return;
	}
	ev.at_ms = us_to_ms_up(at);
	if (schedule(ctx, &ev) < 0) {
		f->events_dropped++;
		pending_free(f, id);
	}
}

bool fleet_run_event(struct fleet *f, const struct fleet_event *ev, uint64_t now_ms, fleet_schedule_fn schedule,
		     void *ctx, uint8_t *buf, struct msg_mesh_recv *ret)
{
	switch ((enum fleet_event_kind)ev->kind) {
	case FLEET_EVENT_DELIVER:
		if (ev->a < FLEET_MSGS_MAX && ev->b < f->state.node_count && f->msgs[ev->a].refs > 0)
			radio_deliver(f, ev->a, ev->b, now_ms, schedule, ctx);
		return false;
	case FLEET_EVENT_SEND:
		if (ev->a < FLEET_ANSWERS_MAX && f->pending[ev->a].used)
			radio_answer(f, ev->a, now_ms, schedule, ctx);
		return false;
	case FLEET_EVENT_ARRIVE:
		return fleet_reply(f, ev->a, buf, ret);
	case FLEET_EVENT_TICK: {
		struct target_reply out[TARGET_REPLIES_MAX];
		uint32_t node = ev->b;
		size_t count;

		if (node >= f->state.node_count || !f->targets[node] || f->tick_at[node] != ev->at_ms)
			return false;   /* superseded by an earlier one */
		f->tick_at[node] = TARGET_NEVER;
		count = target_tick(f->targets[node], now_ms, out, TARGET_REPLIES_MAX);
		target_answers(f, node, out, count, f->app_key_index, schedule, ctx);
		schedule_tick(f, node, schedule, ctx);
		return false;
	}
	}
	return false;
}
