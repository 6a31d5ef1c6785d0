/* fleetdb: see fleetdb.h. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleetdb.h"
#include "rng.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define GROUP_FIRST 0xC000
#define GROUP_LAST 0xFEFF

/* Random streams of one seed (rng.h); 1 to 3 are the link's faults and the fleet's losses. */
enum {
	STREAM_GENERATE = 4,
	STREAM_HOPS = 5,
	STREAM_KEYS = 6,
	STREAM_NETWORK = 7,
};

/* --- small things --- */

static void random_bytes(struct rng *r, uint8_t *out, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (i % 8 == 0)
			v = rng_next(r);
		out[i] = (uint8_t)(v >> (8 * (i % 8)));
	}
}

static void random_uuid(struct rng *r, uint8_t out[16])
{
	random_bytes(r, out, 16);
	out[6] = (uint8_t)((out[6] & 0x0f) | 0x40);     /* version 4 */
	out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);     /* RFC 4122 variant */
}

uint8_t fleetdb_hops(uint64_t seed, uint16_t address)
{
	struct rng r;

	rng_seed(&r, seed ^ (uint64_t)address << 32, STREAM_HOPS);
	return (uint8_t)(1 + rng_next(&r) % FLEETDB_HOPS_MAX);
}

void fleetdb_fwid(uint16_t cid, uint16_t pid, uint16_t vid, uint8_t ret[FLEETDB_FWID_SIZE])
{
	ret[0] = (uint8_t)cid;
	ret[1] = (uint8_t)(cid >> 8);
	ret[2] = (uint8_t)(pid >> 8);
	ret[3] = (uint8_t)pid;
	ret[4] = (uint8_t)(vid >> 8);
	ret[5] = (uint8_t)vid;
}

/* A CDB name cut to SCENARIO_NAME_MAX bytes at a UTF-8 boundary, control characters shown as '?': the simulator
 * only logs it (an export keeps the CDB's own). */
static void copy_name(char out[SCENARIO_NAME_MAX + 1], const char *name)
{
	size_t n = strlen(name);

	if (n > SCENARIO_NAME_MAX) {
		n = SCENARIO_NAME_MAX;
		while (n > 0 && ((unsigned char)name[n] & 0xC0) == 0x80)
			n--;
	}
	for (size_t i = 0; i < n; i++)
		out[i] = (unsigned char)name[i] < 0x20 || name[i] == 0x7f ? '?' : name[i];
	out[n] = '\0';
}

static const struct scenario_key *find_key(const struct scenario_key *keys, size_t count, uint16_t index)
{
	for (size_t i = 0; i < count; i++)
		if (keys[i].index == index)
			return &keys[i];
	return NULL;
}

/* --- from a CDB --- */

static bool is_provisioner(const struct cdb *c, const uint8_t uuid[CDB_UUID_SIZE])
{
	for (size_t i = 0; i < c->n_provisioners; i++)
		if (memcmp(c->provisioners[i].uuid, uuid, CDB_UUID_SIZE) == 0)
			return true;
	return false;
}

/* "$.nodes[i]" of the node in the file (c->nodes is sorted by address, the file need not be). */
static void node_path(const struct cdb *c, const struct cdb_node *cn, char *buf, size_t len)
{
	const json_t *nodes = c->json ? json_object_get(c->json, "nodes") : NULL;
	char want[33];

	for (size_t i = 0; i < CDB_UUID_SIZE; i++)
		snprintf(want + 2 * i, 3, "%02x", cn->uuid[i]);
	for (size_t i = 0; i < json_array_size(nodes); i++) {
		const char *s = json_string_value(json_object_get(json_array_get(nodes, i), "UUID"));
		char got[33];
		size_t n = 0;

		for (; s && *s && n < 32; s++)
			if (*s != '-')
				got[n++] = (char)tolower((unsigned char)*s);
		got[n] = '\0';
		if (strcmp(got, want) == 0) {
			snprintf(buf, len, "$.nodes[%zu]", i);
			return;
		}
	}
	snprintf(buf, len, "the node at 0x%04x", cn->address);
}

__attribute__((format(printf, 5, 6)))
static int too_many(const struct cdb *c, const struct cdb_node *cn, char *err, size_t err_len, const char *fmt, ...)
{
	char path[48];
	size_t n;
	va_list ap;

	node_path(c, cn, path, sizeof(path));
	n = (size_t)snprintf(err, err_len, "%s: ", path);
	if (n < err_len) {
		va_start(ap, fmt);
		vsnprintf(err + n, err_len - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int node_from_cdb(struct scenario_node *n, const struct cdb *c, const struct cdb_node *cn,
			 const struct scenario *net, uint64_t seed, double loss, char *err, size_t err_len)
{
	memset(n, 0, sizeof(*n));
	scenario_target_defaults(n);
	copy_name(n->name, cn->name);
	n->address = cn->address;
	n->elements = (uint8_t)cdb_node_elements(cn);
	memcpy(n->uuid, cn->uuid, sizeof(n->uuid));
	if (cn->has_device_key)
		memcpy(n->device_key, cn->device_key, sizeof(n->device_key));
	else
		scenario_default_device_key(n->uuid, n->device_key);
	n->company_id = cn->cid >= 0 ? (uint16_t)cn->cid : SCENARIO_COMPANY_DEFAULT;
	n->product_id = cn->pid >= 0 ? (uint16_t)cn->pid : 0;
	n->version_id = cn->vid >= 0 ? (uint16_t)cn->vid : 0;
	n->crpl = cn->crpl >= 0 ? (uint16_t)cn->crpl : SCENARIO_CRPL_DEFAULT;
	n->features = cn->features_known ? cn->features_supported : SCENARIO_FEATURES_DEFAULT;
	fleetdb_fwid(n->company_id, n->product_id, n->version_id, n->fwid);
	n->fwid_len = FLEETDB_FWID_SIZE;
	n->hops = fleetdb_hops(seed, n->address);
	n->loss_rate = loss;

	if (cn->n_net_keys > SCENARIO_NODE_NET_KEYS_MAX)
		return too_many(c, cn, err, err_len, "holds %zu network keys; a simulated node holds at most %d",
				cn->n_net_keys, SCENARIO_NODE_NET_KEYS_MAX);
	/* cdb_parse() checked that the node's keys are the network's */
	for (size_t i = 0; i < cn->n_net_keys; i++) {
		const struct scenario_key *k = find_key(net->net_keys, net->n_net_keys, cn->net_keys[i]);

		if (k)
			n->net_keys[n->n_net_keys++] = *k;
	}
	if (cn->n_app_keys > SCENARIO_NODE_APP_KEYS_MAX)
		return too_many(c, cn, err, err_len, "holds %zu application keys; a simulated node holds at most %d",
				cn->n_app_keys, SCENARIO_NODE_APP_KEYS_MAX);
	for (size_t i = 0; i < cn->n_app_keys; i++) {
		const struct scenario_key *k = find_key(net->app_keys, net->n_app_keys, cn->app_keys[i]);

		if (k)
			n->app_keys[n->n_app_keys++] = *k;
	}

	if (cn->n_elements == 0) {
		/* composition not known yet: a DFU-capable node, nothing bound */
		scenario_default_composition(n, true);
		return 0;
	}
	for (size_t e = 0; e < cn->n_elements; e++) {
		const struct cdb_element *ce = &cn->elements[e];

		n->locations[ce->index] = ce->location;
		for (size_t j = 0; j < ce->n_models; j++) {
			const struct cdb_model *cm = &ce->models[j];
			struct scenario_model *m = &n->models[n->n_models];

			if (n->n_models == SCENARIO_MODELS_MAX)
				return too_many(c, cn, err, err_len, "has more than %d models; a simulated node has at "
						"most %d", SCENARIO_MODELS_MAX, SCENARIO_MODELS_MAX);
			if (cm->n_bind > SCENARIO_BINDINGS_MAX || cm->n_subscribe > SCENARIO_SUBSCRIPTIONS_MAX)
				return too_many(c, cn, err, err_len, ".elements[%zu].models[%zu]: %zu bindings and %zu "
						"subscriptions; a simulated model has at most %d and %d", e, j,
						cm->n_bind, cm->n_subscribe, SCENARIO_BINDINGS_MAX,
						SCENARIO_SUBSCRIPTIONS_MAX);
			*m = (struct scenario_model){ .id = cm->id, .vendor = cm->vendor, .element = ce->index,
						      .n_bindings = (uint8_t)cm->n_bind,
						      .n_subscriptions = (uint8_t)cm->n_subscribe };
			for (size_t k = 0; k < cm->n_bind; k++)
				m->bindings[k] = cm->bind[k];
			for (size_t k = 0; k < cm->n_subscribe; k++)
				m->subscriptions[k] = cm->subscribe[k];
			n->n_models++;
		}
	}
	return 0;
}

int fleetdb_from_cdb(struct scenario *ret, const struct cdb *c, uint64_t seed, double loss, char *err,
		     size_t err_len)
{
	struct scenario next;
	size_t count = 0;
	int rc;

	scenario_init(&next);
	if (c->n_net_keys > SCENARIO_NET_KEYS_MAX || c->n_app_keys > SCENARIO_APP_KEYS_MAX) {
		snprintf(err, err_len, "%s: %zu keys; meshfleet-sim simulates at most %d",
			 c->n_net_keys > SCENARIO_NET_KEYS_MAX ? "$.netKeys" : "$.appKeys",
			 c->n_net_keys > SCENARIO_NET_KEYS_MAX ? c->n_net_keys : c->n_app_keys,
			 c->n_net_keys > SCENARIO_NET_KEYS_MAX ? SCENARIO_NET_KEYS_MAX : SCENARIO_APP_KEYS_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_net_keys; i++) {
		next.net_keys[i] = (struct scenario_key){ .index = c->net_keys[i].index };
		memcpy(next.net_keys[i].key, c->net_keys[i].key, SCENARIO_KEY_SIZE);
	}
	for (size_t i = 0; i < c->n_app_keys; i++) {
		next.app_keys[i] = (struct scenario_key){ .index = c->app_keys[i].index,
							  .net_index = c->app_keys[i].bound_net_key };
		memcpy(next.app_keys[i].key, c->app_keys[i].key, SCENARIO_KEY_SIZE);
	}
	next.n_net_keys = c->n_net_keys;
	next.n_app_keys = c->n_app_keys;

	for (size_t i = 0; i < c->n_nodes; i++)
		count += !c->nodes[i].excluded && !is_provisioner(c, c->nodes[i].uuid);
	if (count > SCENARIO_NODES_MAX) {
		snprintf(err, err_len, "$.nodes: %zu nodes; meshfleet-sim simulates at most %d", count,
			 SCENARIO_NODES_MAX);
		return -EINVAL;
	}
	next.nodes = calloc(count ? count : 1, sizeof(*next.nodes));
	if (!next.nodes) {
		snprintf(err, err_len, "out of memory for %zu nodes", count);
		return -ENOMEM;
	}
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct cdb_node *cn = &c->nodes[i];

		if (cn->excluded || is_provisioner(c, cn->uuid))
			continue;
		rc = node_from_cdb(&next.nodes[next.node_count], c, cn, &next, seed, loss, err, err_len);
		if (rc < 0) {
			scenario_done(&next);
			return rc;
		}
		next.node_count++;
	}
	scenario_done(ret);
	*ret = next;
	return 0;
}

/* --- a generated fleet --- */

enum kind { LIGHT, SENSOR, SWITCH };

struct product {
	enum kind kind;
	uint16_t pid;
	uint8_t elements;
	uint16_t features;
	uint16_t crpl;
	uint8_t weight;                 /* among the products of its kind */
	uint16_t versions[3];           /* version ids it ships with, major << 8 | minor; 0 = none */
	uint8_t version_weights[3];
};

/* Nordic's company id; product ids and versions are the generator's own. */
static const struct product PRODUCTS[] = {
	{ LIGHT, 0x0101, 1, MA_FEAT_RELAY | MA_FEAT_PROXY | MA_FEAT_FRIEND, 0x0040, 50,
	  { 0x0102, 0x0103, 0x0200 }, { 30, 50, 20 } },
	{ LIGHT, 0x0102, 2, MA_FEAT_RELAY | MA_FEAT_PROXY | MA_FEAT_FRIEND, 0x0040, 30,
	  { 0x0104, 0x0105, 0 }, { 60, 40, 0 } },
	{ LIGHT, 0x0103, 3, MA_FEAT_RELAY | MA_FEAT_PROXY, 0x0040, 20, { 0x0300, 0x0301, 0 }, { 50, 50, 0 } },
	{ SENSOR, 0x0201, 1, MA_FEAT_RELAY | MA_FEAT_PROXY, 0x0020, 100, { 0x0101, 0x0102, 0 }, { 40, 60, 0 } },
	{ SWITCH, 0x0301, 1, MA_FEAT_LOW_POWER, 0x0010, 100, { 0x0100, 0, 0 }, { 100, 0, 0 } },
};

#define MODEL_GENERIC_LEVEL_SERVER 0x1002
#define MODEL_GENERIC_ONOFF_CLIENT 0x1001
#define MODEL_LIGHTNESS_SERVER 0x1300
#define MODEL_HSL_SERVER 0x1307
#define VENDOR_NORDIC_SIMPLE_ONOFF ((uint32_t)SCENARIO_COMPANY_DEFAULT << 16 | 0x0000)

static void add(struct scenario_node *n, uint8_t element, uint32_t id, bool vendor)
{
	n->models[n->n_models++] = (struct scenario_model){ .id = id, .vendor = vendor, .element = element };
}

static void compose(struct scenario_node *n, const struct product *p)
{
	n->n_models = 0;
	add(n, 0, MA_MODEL_CFG_SRV, false);
	add(n, 0, MA_MODEL_HEALTH_SRV, false);
	if (p->kind != SWITCH) {
		add(n, 0, MA_MODEL_BLOB_SRV, false);
		add(n, 0, MA_MODEL_DFU_SRV, false);
	}
	switch (p->kind) {
	case LIGHT:
		add(n, 0, SCENARIO_MODEL_ONOFF_SERVER, false);
		add(n, 0, p->elements == 3 ? MODEL_HSL_SERVER : MODEL_LIGHTNESS_SERVER, false);
		add(n, 0, VENDOR_NORDIC_SIMPLE_ONOFF, true);
		for (uint8_t e = 1; e < p->elements; e++)
			add(n, e, p->elements == 3 ? MODEL_GENERIC_LEVEL_SERVER : SCENARIO_MODEL_ONOFF_SERVER, false);
		break;
	case SENSOR:
		add(n, 0, SCENARIO_MODEL_SENSOR_SERVER, false);
		add(n, 0, SCENARIO_MODEL_SENSOR_SETUP_SERVER, false);
		break;
	case SWITCH:
		add(n, 0, MODEL_GENERIC_ONOFF_CLIENT, false);
		break;
	}
	/* the application key on the application models, as a provisioning app leaves a node; the DFU models and
	 * Health stay unbound: binding them is meshfleet's work */
	for (size_t i = 0; i < n->n_models; i++) {
		struct scenario_model *m = &n->models[i];

		if (m->vendor || (m->id != MA_MODEL_CFG_SRV && m->id != MA_MODEL_HEALTH_SRV && m->id != MA_MODEL_BLOB_SRV &&
				  m->id != MA_MODEL_DFU_SRV))
			m->bindings[m->n_bindings++] = n->app_keys[0].index;
	}
}

static unsigned pick(struct rng *r, const uint8_t *weights, size_t n)
{
	unsigned total = 0, x;

	for (size_t i = 0; i < n; i++)
		total += weights[i];
	x = (unsigned)(rng_next(r) % total);
	for (size_t i = 0; i < n; i++) {
		if (x < weights[i])
			return (unsigned)i;
		x -= weights[i];
	}
	return 0;
}

static const struct product *pick_product(struct rng *r, enum kind kind)
{
	uint8_t weights[ARRAY_SIZE(PRODUCTS)];

	for (size_t i = 0; i < ARRAY_SIZE(PRODUCTS); i++)
		weights[i] = PRODUCTS[i].kind == kind ? PRODUCTS[i].weight : 0;
	return &PRODUCTS[pick(r, weights, ARRAY_SIZE(PRODUCTS))];
}

int fleetdb_generate(struct scenario *ret, unsigned count, uint64_t seed, double loss)
{
	static const char *const kind_names[] = { "light", "sensor", "switch" };
	unsigned switches = count < 2 ? 0 : count < 20 ? 1 : 2 + count / 100;
	unsigned sensors = count / 6, numbers[3] = { 0, 0, 0 };
	uint16_t address = FLEETDB_FIRST_ADDRESS;
	struct scenario next;
	enum kind *kinds;
	struct rng r;

	if (count < 1 || count > SCENARIO_NODES_MAX)
		return -EINVAL;
	scenario_init(&next);
	next.nodes = calloc(count, sizeof(*next.nodes));
	kinds = calloc(count, sizeof(*kinds));
	if (!next.nodes || !kinds) {
		free(kinds);
		scenario_done(&next);
		return -ENOMEM;
	}
	rng_seed(&r, seed, STREAM_GENERATE);
	next.n_net_keys = next.n_app_keys = 1;
	random_bytes(&r, next.net_keys[0].key, SCENARIO_KEY_SIZE);
	random_bytes(&r, next.app_keys[0].key, SCENARIO_KEY_SIZE);

	/* the kinds in a shuffled order (Fisher-Yates), so the switches and sensors are anywhere */
	for (unsigned i = 0; i < count; i++)
		kinds[i] = i < switches ? SWITCH : i < switches + sensors ? SENSOR : LIGHT;
	for (unsigned i = count - 1; i > 0; i--) {
		unsigned j = (unsigned)(rng_next(&r) % (i + 1));
		enum kind k = kinds[i];

		kinds[i] = kinds[j];
		kinds[j] = k;
	}
	for (unsigned i = 0; i < count; i++) {
		struct scenario_node *n = &next.nodes[i];
		const struct product *p = pick_product(&r, kinds[i]);
		uint16_t vid = p->versions[pick(&r, p->version_weights, ARRAY_SIZE(p->version_weights))];

		snprintf(n->name, sizeof(n->name), "%s-%03u", kind_names[kinds[i]], ++numbers[kinds[i]]);
		n->address = address;
		n->elements = p->elements;
		address = (uint16_t)(address + p->elements);
		random_uuid(&r, n->uuid);
		random_bytes(&r, n->device_key, SCENARIO_KEY_SIZE);
		n->company_id = SCENARIO_COMPANY_DEFAULT;
		n->product_id = p->pid;
		n->version_id = vid;
		n->crpl = p->crpl;
		n->features = p->features;
		fleetdb_fwid(n->company_id, n->product_id, n->version_id, n->fwid);
		n->fwid_len = FLEETDB_FWID_SIZE;
		n->hops = fleetdb_hops(seed, n->address);
		n->loss_rate = loss;
		scenario_target_defaults(n);
		n->net_keys[0] = next.net_keys[0];
		n->app_keys[0] = next.app_keys[0];
		n->n_net_keys = n->n_app_keys = 1;
		compose(n, p);
	}
	next.node_count = count;
	free(kinds);
	scenario_done(ret);
	*ret = next;
	return 0;
}

void fleetdb_fix_keys(struct scenario *s, uint64_t seed)
{
	struct rng r;

	if (!s->learn_keys)
		return;
	rng_seed(&r, seed, STREAM_KEYS);
	random_bytes(&r, s->net_keys[0].key, SCENARIO_KEY_SIZE);
	random_bytes(&r, s->app_keys[0].key, SCENARIO_KEY_SIZE);
	for (size_t i = 0; i < s->node_count; i++) {
		struct scenario_node *n = &s->nodes[i];

		for (size_t k = 0; k < n->n_net_keys; k++)
			if (n->net_keys[k].index == s->net_keys[0].index)
				memcpy(n->net_keys[k].key, s->net_keys[0].key, SCENARIO_KEY_SIZE);
		for (size_t k = 0; k < n->n_app_keys; k++)
			if (n->app_keys[k].index == s->app_keys[0].index)
				memcpy(n->app_keys[k].key, s->app_keys[0].key, SCENARIO_KEY_SIZE);
	}
	s->learn_keys = false;
}

/* --- export --- */

static int set_list(uint16_t **list, size_t *count, const uint16_t *values, size_t n)
{
	uint16_t *p = NULL;

	if (n > 0) {
		p = calloc(n, sizeof(*p));
		if (!p)
			return -ENOMEM;
		memcpy(p, values, n * sizeof(*p));
	}
	free(*list);
	*list = p;
	*count = n;
	return 0;
}

/* The model's bindings that name an application key of the network (a key added by AppKey Add with an index the
 * network does not have cannot be written to a valid CDB). */
static int set_bindings(const struct cdb *c, struct cdb_model *cm, const struct scenario_model *m)
{
	uint16_t known[SCENARIO_BINDINGS_MAX];
	size_t n = 0;

	for (size_t i = 0; i < m->n_bindings; i++)
		if (cdb_app_key(c, m->bindings[i]))
			known[n++] = m->bindings[i];
	return set_list(&cm->bind, &cm->n_bind, known, n);
}

/* A node whose CDB entry has no composition gets the simulated one, models with their bindings and subscriptions. */
static int new_elements(const struct cdb *c, struct cdb_node *cn, const struct scenario_node *n)
{
	cn->elements = calloc(n->elements, sizeof(*cn->elements));
	if (!cn->elements)
		return -ENOMEM;
	cn->n_elements = n->elements;
	for (unsigned e = 0; e < n->elements; e++) {
		struct cdb_element *ce = &cn->elements[e];
		size_t count = 0;

		ce->index = (uint8_t)e;
		ce->location = n->locations[e];
		for (size_t i = 0; i < n->n_models; i++)
			count += n->models[i].element == e;
		if (count == 0)
			continue;
		ce->models = calloc(count, sizeof(*ce->models));
		if (!ce->models)
			return -ENOMEM;
		for (size_t i = 0; i < n->n_models; i++) {
			const struct scenario_model *m = &n->models[i];
			struct cdb_model *cm = &ce->models[ce->n_models];

			if (m->element != e)
				continue;
			ce->n_models++;
			cm->id = m->id;
			cm->vendor = m->vendor;
			if (set_bindings(c, cm, m) < 0 ||
			    set_list(&cm->subscribe, &cm->n_subscribe, m->subscriptions, m->n_subscriptions) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static int update_node(const struct cdb *c, struct cdb_node *cn, const struct scenario_node *n)
{
	uint16_t keys[SCENARIO_NODE_APP_KEYS_MAX];
	size_t count = 0;
	int err;

	for (size_t i = 0; i < n->n_app_keys; i++)
		if (cdb_app_key(c, n->app_keys[i].index))
			keys[count++] = n->app_keys[i].index;
	if ((err = set_list(&cn->app_keys, &cn->n_app_keys, keys, count)) < 0)
		return err;
	if (cn->n_elements == 0)
		return new_elements(c, cn, n);
	for (size_t e = 0; e < cn->n_elements; e++) {
		struct cdb_element *ce = &cn->elements[e];

		for (size_t j = 0; j < ce->n_models; j++) {
			struct cdb_model *cm = &ce->models[j];
			const struct scenario_model *m = NULL;

			for (size_t i = 0; i < n->n_models && !m; i++)
				if (n->models[i].element == ce->index && n->models[i].id == cm->id &&
				    n->models[i].vendor == cm->vendor)
					m = &n->models[i];
			if (!m)
				continue;
			if (set_bindings(c, cm, m) < 0 ||
			    set_list(&cm->subscribe, &cm->n_subscribe, m->subscriptions, m->n_subscriptions) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

/* Every group address a node subscribes to is a group of the CDB ("Group C000"), added in address order. */
static int add_groups(struct cdb *c, const struct scenario *s)
{
	static uint8_t used[(GROUP_LAST - GROUP_FIRST + 1 + 7) / 8];
	struct cdb_group *groups;
	size_t extra = 0;

	memset(used, 0, sizeof(used));
	for (size_t i = 0; i < s->node_count; i++) {
		const struct scenario_node *n = &s->nodes[i];

		for (size_t m = 0; m < n->n_models; m++) {
			for (size_t k = 0; k < n->models[m].n_subscriptions; k++) {
				unsigned a = n->models[m].subscriptions[k];

				if (a >= GROUP_FIRST && a <= GROUP_LAST)
					used[(a - GROUP_FIRST) / 8] |= (uint8_t)(1u << (a - GROUP_FIRST) % 8);
			}
		}
	}
	for (size_t g = 0; g < c->n_groups; g++) {
		unsigned a = c->groups[g].address;

		if (!c->groups[g].is_virtual && a >= GROUP_FIRST && a <= GROUP_LAST)
			used[(a - GROUP_FIRST) / 8] &= (uint8_t)~(1u << (a - GROUP_FIRST) % 8);
	}
	for (unsigned a = GROUP_FIRST; a <= GROUP_LAST; a++)
		extra += (used[(a - GROUP_FIRST) / 8] >> (a - GROUP_FIRST) % 8) & 1;
	if (extra == 0)
		return 0;
	groups = realloc(c->groups, (c->n_groups + extra) * sizeof(*groups));
	if (!groups)
		return -ENOMEM;
	c->groups = groups;
	for (unsigned a = GROUP_FIRST; a <= GROUP_LAST; a++) {
		if (!((used[(a - GROUP_FIRST) / 8] >> (a - GROUP_FIRST) % 8) & 1))
			continue;
		c->groups[c->n_groups] = (struct cdb_group){ .address = (uint16_t)a };
		snprintf(c->groups[c->n_groups].name, sizeof(c->groups[0].name), "Group %04X", a);
		c->n_groups++;
	}
	return 0;
}

static int address_cmp(const void *a, const void *b)
{
	const struct cdb_node *x = a, *y = b;

	return (x->address > y->address) - (x->address < y->address);
}

/* A CDB for a fleet that did not come from one: the keys, one provisioner, the nodes without their state (which
 * update_node() writes). */
static int new_network(const struct scenario *s, uint64_t seed, struct cdb **ret)
{
	struct cdb *c = calloc(1, sizeof(*c));
	struct cdb_provisioner *p;
	struct rng r;

	if (!c)
		return -ENOMEM;
	rng_seed(&r, seed, STREAM_NETWORK);
	random_uuid(&r, c->mesh_uuid);
	snprintf(c->mesh_name, sizeof(c->mesh_name), "meshfleet-sim fleet (seed %llu)", (unsigned long long)seed);
	c->timestamp_ms = FLEETDB_TIMESTAMP_MS;
	c->net_keys = calloc(s->n_net_keys ? s->n_net_keys : 1, sizeof(*c->net_keys));
	c->app_keys = calloc(s->n_app_keys ? s->n_app_keys : 1, sizeof(*c->app_keys));
	c->provisioners = calloc(1, sizeof(*c->provisioners));
	c->nodes = calloc(s->node_count ? s->node_count : 1, sizeof(*c->nodes));
	if (!c->net_keys || !c->app_keys || !c->provisioners || !c->nodes)
		goto oom;
	for (size_t i = 0; i < s->n_net_keys; i++) {
		struct cdb_net_key *k = &c->net_keys[c->n_net_keys++];

		snprintf(k->name, sizeof(k->name), "Network key %u", s->net_keys[i].index);
		k->index = s->net_keys[i].index;
		memcpy(k->key, s->net_keys[i].key, CDB_KEY_SIZE);
		k->min_security_secure = true;
	}
	for (size_t i = 0; i < s->n_app_keys; i++) {
		struct cdb_app_key *k = &c->app_keys[c->n_app_keys++];

		snprintf(k->name, sizeof(k->name), "Application key %u", s->app_keys[i].index);
		k->index = s->app_keys[i].index;
		k->bound_net_key = s->app_keys[i].net_index;
		memcpy(k->key, s->app_keys[i].key, CDB_KEY_SIZE);
	}
	p = &c->provisioners[c->n_provisioners++];
	snprintf(p->name, sizeof(p->name), "meshfleet-sim");
	random_uuid(&r, p->uuid);
	p->unicast = calloc(1, sizeof(*p->unicast));
	p->group = calloc(1, sizeof(*p->group));
	p->scene = calloc(1, sizeof(*p->scene));
	if (!p->unicast || !p->group || !p->scene)
		goto oom;
	p->unicast[p->n_unicast++] = (struct cdb_range){ 0x0001, 0x3FFF };
	p->group[p->n_group++] = (struct cdb_range){ 0xC000, 0xC0FF };
	p->scene[p->n_scene++] = (struct cdb_range){ 0x0001, 0x00FF };

	for (size_t i = 0; i < s->node_count; i++) {
		const struct scenario_node *n = &s->nodes[i];
		struct cdb_node *cn = &c->nodes[c->n_nodes++];

		if (n->name[0])
			snprintf(cn->name, sizeof(cn->name), "%s", n->name);
		else
			snprintf(cn->name, sizeof(cn->name), "node-%04x", n->address);
		memcpy(cn->uuid, n->uuid, CDB_UUID_SIZE);
		cn->address = n->address;
		cn->has_device_key = true;
		memcpy(cn->device_key, n->device_key, CDB_KEY_SIZE);
		cn->secure = true;
		cn->cid = n->company_id;
		cn->pid = n->product_id;
		cn->vid = n->version_id;
		cn->crpl = n->crpl;
		cn->features_known = MA_FEAT_RELAY | MA_FEAT_PROXY | MA_FEAT_FRIEND | MA_FEAT_LOW_POWER;
		cn->features_supported = cn->features = (uint8_t)(n->features & cn->features_known);
		if (n->n_net_keys > 0) {
			cn->net_keys = calloc(n->n_net_keys, sizeof(*cn->net_keys));
			if (!cn->net_keys)
				goto oom;
			for (size_t k = 0; k < n->n_net_keys; k++)
				cn->net_keys[cn->n_net_keys++] = n->net_keys[k].index;
		}
	}
	qsort(c->nodes, c->n_nodes, sizeof(*c->nodes), address_cmp);
	*ret = c;
	return 0;

oom:
	cdb_free(c);
	return -ENOMEM;
}

int fleetdb_export(const struct scenario *s, struct cdb *base, uint64_t seed, json_t **ret)
{
	struct cdb *fresh = NULL, *c = base;
	json_t *doc = NULL;
	int err = 0;

	if (!c) {
		if ((err = new_network(s, seed, &fresh)) < 0)
			return err;
		c = fresh;
	}
	for (size_t i = 0; i < c->n_nodes && err == 0; i++) {
		struct cdb_node *cn = &c->nodes[i];
		const struct scenario_node *n = scenario_find(s, cn->address);

		if (n && !cn->excluded && memcmp(n->uuid, cn->uuid, CDB_UUID_SIZE) == 0)
			err = update_node(c, cn, n);
	}
	if (err == 0)
		err = add_groups(c, s);
	if (err == 0 && !(doc = cdb_to_json(c)))
		err = -ENOMEM;
	cdb_free(fresh);
	if (err == 0)
		*ret = doc;
	return err;
}

int fleetdb_write(const char *path, const json_t *doc, char *err, size_t err_len)
{
	char *text = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	char tmp[4096], dir[4096];
	size_t len, done = 0;
	int fd = -1, e = 0, dfd;

	if (!text) {
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		free(text);
		snprintf(err, err_len, "path too long");
		return -ENAMETOOLONG;
	}
	len = strlen(text);
	text[len++] = '\n';     /* over the NUL: @text is written by length from here on */
	/* the file holds every key of the network: for the owner only */
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		e = errno;
	while (e == 0 && done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			e = errno;
		else
			done += (size_t)n;
	}
	if (e == 0 && fsync(fd) < 0)
		e = errno;
	if (fd >= 0 && close(fd) < 0 && e == 0)
		e = errno;
	if (e == 0 && rename(tmp, path) < 0)
		e = errno;
	free(text);
	if (e != 0) {
		if (fd >= 0)
			unlink(tmp);
		snprintf(err, err_len, "cannot write '%s': %s", path, strerror(e));
		return -e;
	}
	snprintf(dir, sizeof(dir), "%s", path);
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}
