/* fleetstate: see fleetstate.h. The file is JSON, one node per line, so that it reads and diffs well:
 *
 *   {"format":"meshfleet-sim fleet state","version":1,"net_keys":[...],"app_keys":[...],"nodes":[
 *   {"address":"0x0100","uuid":"...","net_keys":[...],"app_keys":[...],"models":[...]},
 *   ...
 *   ]}
 */
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

#include <jansson.h>

#include "fleetstate.h"
#include "mesh_access.h"

#define GROUP_FIRST 0xC000
#define ALL_NODES 0xFFFF
#define UNICAST_MAX 0x7FFF

/* --- writing --- */

static void put_hex(FILE *out, const uint8_t *data, size_t len)
{
	for (size_t i = 0; i < len; i++)
		fprintf(out, "%02x", data[i]);
}

static void put_keys(FILE *out, const struct scenario_key *keys, size_t count, bool app)
{
	fputc('[', out);
	for (size_t i = 0; i < count; i++) {
		fprintf(out, "%s{\"index\":%u,", i ? "," : "", keys[i].index);
		if (app)
			fprintf(out, "\"net_key\":%u,", keys[i].net_index);
		fputs("\"key\":\"", out);
		put_hex(out, keys[i].key, SCENARIO_KEY_SIZE);
		fputs("\"}", out);
	}
	fputc(']', out);
}

static void put_model(FILE *out, const struct scenario_model *m, bool first)
{
	fprintf(out, m->vendor ? "%s{\"element\":%u,\"model\":\"0x%08x\",\"bindings\":[" :
				 "%s{\"element\":%u,\"model\":\"0x%04x\",\"bindings\":[", first ? "" : ",", m->element,
		(unsigned)m->id);
	for (size_t i = 0; i < m->n_bindings; i++)
		fprintf(out, "%s%u", i ? "," : "", m->bindings[i]);
	fputs("],\"subscriptions\":[", out);
	for (size_t i = 0; i < m->n_subscriptions; i++)
		fprintf(out, "%s\"0x%04x\"", i ? "," : "", m->subscriptions[i]);
	fputs("]}", out);
}

static void put_node(FILE *out, const struct scenario_node *n)
{
	bool first = true;

	fprintf(out, "{\"address\":\"0x%04x\",\"uuid\":\"", n->address);
	put_hex(out, n->uuid, sizeof(n->uuid));
	fputs("\",\"net_keys\":", out);
	put_keys(out, n->net_keys, n->n_net_keys, false);
	fputs(",\"app_keys\":", out);
	put_keys(out, n->app_keys, n->n_app_keys, true);
	fputs(",\"models\":[", out);
	/* a model with neither bindings nor subscriptions is left out: absent means empty */
	for (size_t i = 0; i < n->n_models; i++) {
		if (n->models[i].n_bindings == 0 && n->models[i].n_subscriptions == 0)
			continue;
		put_model(out, &n->models[i], first);
		first = false;
	}
	fputs("]}", out);
}

/* The whole file in a new buffer (*ret, *ret_len). */
static int render(const struct scenario *s, char **ret, size_t *ret_len)
{
	FILE *out = open_memstream(ret, ret_len);

	if (!out)
		return -ENOMEM;
	fprintf(out, "{\"format\":\"%s\",\"version\":%d,\"net_keys\":", FLEETSTATE_FORMAT, FLEETSTATE_VERSION);
	put_keys(out, s->net_keys, s->n_net_keys, false);
	fputs(",\"app_keys\":", out);
	put_keys(out, s->app_keys, s->n_app_keys, true);
	fputs(",\"nodes\":[\n", out);
	for (size_t i = 0; i < s->node_count; i++) {
		put_node(out, &s->nodes[i]);
		fputs(i + 1 < s->node_count ? ",\n" : "\n", out);
	}
	fputs("]}\n", out);
	if (ferror(out)) {
		fclose(out);
		free(*ret);
		*ret = NULL;
		return -ENOMEM;
	}
	return fclose(out) == 0 ? 0 : -ENOMEM;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int sync_dir(const char *path)
{
	char *copy = strdup(path);
	int fd, e = 0;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		e = -errno;
	if (fd >= 0)
		close(fd);
	free(copy);
	return e;
}

int fleetstate_write(const struct scenario *s, const char *path, char *err, size_t err_len)
{
	char *text = NULL, *tmp = NULL;
	size_t len = 0;
	int fd = -1, e;

	if (s->learn_keys)
		return 0;       /* no MESH_CONFIG yet: nothing can have changed, and the keys have no values */
	e = render(s, &text, &len);
	if (e == 0 && asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		e = -ENOMEM;
	}
	if (e < 0) {
		snprintf(err, err_len, "out of memory");
		free(text);
		return e;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		e = -errno;
	if (e == 0)
		e = write_all(fd, text, len);
	if (e == 0 && fsync(fd) < 0)
		e = -errno;
	if (fd >= 0 && close(fd) < 0 && e == 0)
		e = -errno;
	if (e == 0 && rename(tmp, path) < 0)
		e = -errno;
	if (e < 0) {
		snprintf(err, err_len, "cannot write '%s': %s", fd < 0 ? tmp : path, strerror(-e));
		if (fd >= 0)
			unlink(tmp);
	} else if ((e = sync_dir(path)) < 0) {
		snprintf(err, err_len, "cannot sync the directory of '%s': %s", path, strerror(-e));
	}
	free(tmp);
	free(text);
	return e;
}

/* --- reading --- */

struct check {
	char *err;
	size_t err_len;
	char path[80];          /* of the value being checked */
};

__attribute__((format(printf, 2, 3)))
static int refuse(struct check *c, const char *fmt, ...)
{
	size_t n = (size_t)snprintf(c->err, c->err_len, "%s: ", c->path);
	va_list ap;

	if (n < c->err_len) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->err_len - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

__attribute__((format(printf, 2, 3)))
static void at(struct check *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->path, sizeof(c->path), fmt, ap);
	va_end(ap);
}

/* Refuses a member of @obj that is not in @known (NULL-terminated), or a missing one; @base is @obj's path. */
static int check_fields(struct check *c, const char *base, const json_t *obj, const char *const *known)
{
	const char *key;
	json_t *value;

	if (!json_is_object(obj)) {
		at(c, "%s", base);
		return refuse(c, "must be an object");
	}
	json_object_foreach((json_t *)obj, key, value) {
		size_t i = 0;

		while (known[i] && strcmp(known[i], key) != 0)
			i++;
		if (!known[i]) {
			at(c, "%s.%s", base, key);
			return refuse(c, "unknown field");
		}
	}
	for (size_t i = 0; known[i]; i++) {
		if (!json_object_get(obj, known[i])) {
			at(c, "%s", base);
			return refuse(c, "\"%s\" is missing", known[i]);
		}
	}
	return 0;
}

/* An integer as a JSON number or a "0x..." string. */
static int get_uint(struct check *c, const json_t *v, unsigned long min, unsigned long max, unsigned long *ret)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	unsigned long value = 0;
	char *end;

	if (json_is_integer(v) && json_integer_value(v) >= 0) {
		value = (unsigned long)json_integer_value(v);
	} else if (s && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isxdigit((unsigned char)s[2]) &&
		   strlen(s) <= 10) {
		value = strtoul(s + 2, &end, 16);
		if (*end != '\0')
			return refuse(c, "must be an integer or a \"0x...\" hex string");
	} else {
		return refuse(c, "must be an integer or a \"0x...\" hex string");
	}
	if (value < min || value > max)
		return refuse(c, "must be from 0x%04lx to 0x%04lx, got 0x%04lx", min, max, value);
	*ret = value;
	return 0;
}

/* Exactly @len bytes as hex digits; dashes are allowed (UUIDs). */
static int get_hex(struct check *c, const json_t *v, uint8_t *out, size_t len)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	size_t digits = 0;

	if (!s)
		return refuse(c, "must be a string of %zu hex digits", 2 * len);
	for (; *s; s++) {
		unsigned d;

		if (*s == '-')
			continue;
		if (!isxdigit((unsigned char)*s) || digits == 2 * len)
			return refuse(c, "must be %zu hex digits", 2 * len);
		d = (unsigned)(isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10);
		out[digits / 2] = (uint8_t)(digits % 2 ? out[digits / 2] | d : d << 4);
		digits++;
	}
	if (digits != 2 * len)
		return refuse(c, "must be %zu hex digits, got %zu", 2 * len, digits);
	return 0;
}

/* A model id as scenario files write it: SIG "0x1402" (or 5122), vendor "0x00590001". */
static int get_model_id(struct check *c, const json_t *v, uint32_t *ret_id, bool *ret_vendor)
{
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	unsigned long u;

	if (s && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && strlen(s + 2) == 8 &&
	    strspn(s + 2, "0123456789abcdefABCDEF") == 8) {
		*ret_id = (uint32_t)strtoul(s + 2, NULL, 16);
		*ret_vendor = true;
		return 0;
	}
	if ((s && strlen(s) > 6) || get_uint(c, v, 0, 0xFFFF, &u) < 0)
		return refuse(c, "must be a SIG model id (\"0x1402\") or a vendor model id of 8 hex digits "
			      "(\"0x00590001\")");
	*ret_id = (uint32_t)u;
	*ret_vendor = false;
	return 0;
}

static int get_array(struct check *c, const json_t *v, size_t max)
{
	if (!json_is_array(v))
		return refuse(c, "must be an array");
	if (json_array_size(v) > max)
		return refuse(c, "has %zu entries; at most %zu", json_array_size(v), max);
	return 0;
}

static const struct scenario_key *key_at(const struct scenario_key *keys, size_t count, uint16_t index)
{
	for (size_t i = 0; i < count; i++)
		if (keys[i].index == index)
			return &keys[i];
	return NULL;
}

/* An array of keys ({"index", "key"}, and "net_key" for application keys), indexes unique; an application key's
 * network key must be in @net (when not NULL). */
static int get_keys(struct check *c, const char *base, const json_t *arr, bool app, size_t max,
		    const struct scenario_key *net, size_t n_net, struct scenario_key *out, size_t *ret_count)
{
	static const char *const net_fields[] = { "index", "key", NULL };
	static const char *const app_fields[] = { "index", "net_key", "key", NULL };
	size_t i;
	json_t *v;
	int e;

	at(c, "%s", base);
	if ((e = get_array(c, arr, max)) < 0)
		return e;
	json_array_foreach(arr, i, v) {
		char path[80];
		unsigned long u;

		snprintf(path, sizeof(path), "%s[%zu]", base, i);
		if ((e = check_fields(c, path, v, app ? app_fields : net_fields)) < 0)
			return e;
		at(c, "%s.index", path);
		if ((e = get_uint(c, json_object_get(v, "index"), 0, SCENARIO_KEY_INDEX_MAX, &u)) < 0)
			return e;
		out[i] = (struct scenario_key){ .index = (uint16_t)u };
		if (key_at(out, i, out[i].index))
			return refuse(c, "index %lu appears twice", u);
		at(c, "%s.key", path);
		if ((e = get_hex(c, json_object_get(v, "key"), out[i].key, SCENARIO_KEY_SIZE)) < 0)
			return e;
		if (!app)
			continue;
		at(c, "%s.net_key", path);
		if ((e = get_uint(c, json_object_get(v, "net_key"), 0, SCENARIO_KEY_INDEX_MAX, &u)) < 0)
			return e;
		out[i].net_index = (uint16_t)u;
		if (net && !key_at(net, n_net, out[i].net_index))
			return refuse(c, "network key %lu is not one the node holds", u);
	}
	*ret_count = json_array_size(arr);
	return 0;
}

/* One node of the file, checked on its own. */
struct saved_node {
	uint16_t address;
	uint8_t uuid[16];
	size_t n_net_keys;
	size_t n_app_keys;
	size_t n_models;
	struct scenario_key net_keys[SCENARIO_NODE_NET_KEYS_MAX];
	struct scenario_key app_keys[SCENARIO_NODE_APP_KEYS_MAX];
	struct scenario_model models[SCENARIO_MODELS_MAX];
};

static int get_u16_list(struct check *c, const char *base, const json_t *arr, size_t max, unsigned long min,
			unsigned long top, uint16_t *out, uint8_t *ret_count)
{
	size_t i;
	json_t *v;
	int e;

	at(c, "%s", base);
	if ((e = get_array(c, arr, max)) < 0)
		return e;
	json_array_foreach(arr, i, v) {
		unsigned long u;

		at(c, "%s[%zu]", base, i);
		if ((e = get_uint(c, v, min, top, &u)) < 0)
			return e;
		for (size_t k = 0; k < i; k++)
			if (out[k] == u)
				return refuse(c, "0x%04lx appears twice", u);
		out[i] = (uint16_t)u;
	}
	*ret_count = (uint8_t)json_array_size(arr);
	return 0;
}

static int get_model(struct check *c, const char *base, const json_t *obj, const struct saved_node *n,
		     struct scenario_model *m)
{
	static const char *const fields[] = { "element", "model", "bindings", "subscriptions", NULL };
	char path[80];
	unsigned long u;
	int e;

	if ((e = check_fields(c, base, obj, fields)) < 0)
		return e;
	*m = (struct scenario_model){ 0 };
	at(c, "%s.element", base);
	if ((e = get_uint(c, json_object_get(obj, "element"), 0, SCENARIO_ELEMENTS_MAX - 1, &u)) < 0)
		return e;
	m->element = (uint8_t)u;
	at(c, "%s.model", base);
	if ((e = get_model_id(c, json_object_get(obj, "model"), &m->id, &m->vendor)) < 0)
		return e;
	snprintf(path, sizeof(path), "%s.bindings", base);
	if ((e = get_u16_list(c, path, json_object_get(obj, "bindings"), SCENARIO_BINDINGS_MAX, 0,
			      SCENARIO_KEY_INDEX_MAX, m->bindings, &m->n_bindings)) < 0)
		return e;
	for (size_t i = 0; i < m->n_bindings; i++) {
		at(c, "%s[%zu]", path, i);
		if (!key_at(n->app_keys, n->n_app_keys, m->bindings[i]))
			return refuse(c, "application key %u is not one the node holds", m->bindings[i]);
	}
	snprintf(path, sizeof(path), "%s.subscriptions", base);
	if ((e = get_u16_list(c, path, json_object_get(obj, "subscriptions"), SCENARIO_SUBSCRIPTIONS_MAX,
			      GROUP_FIRST, ALL_NODES - 1, m->subscriptions, &m->n_subscriptions)) < 0)
		return e;
	at(c, "%s", base);
	if (!m->vendor && (m->id == MA_MODEL_CFG_SRV || m->id == MA_MODEL_CFG_CLI) &&
	    (m->n_bindings > 0 || m->n_subscriptions > 0))
		return refuse(c, "the configuration models are neither bound nor subscribed");
	return 0;
}

static int get_node(struct check *c, size_t index, const json_t *obj, struct saved_node *n)
{
	static const char *const fields[] = { "address", "uuid", "net_keys", "app_keys", "models", NULL };
	const json_t *models = json_object_get(obj, "models");
	char base[80], path[80];
	unsigned long u;
	size_t i;
	json_t *v;
	int e;

	*n = (struct saved_node){ 0 };
	snprintf(base, sizeof(base), "$.nodes[%zu]", index);
	if ((e = check_fields(c, base, obj, fields)) < 0)
		return e;
	at(c, "%s.address", base);
	if ((e = get_uint(c, json_object_get(obj, "address"), 1, UNICAST_MAX, &u)) < 0)
		return e;
	n->address = (uint16_t)u;
	at(c, "%s.uuid", base);
	if ((e = get_hex(c, json_object_get(obj, "uuid"), n->uuid, sizeof(n->uuid))) < 0)
		return e;
	snprintf(path, sizeof(path), "%s.net_keys", base);
	if ((e = get_keys(c, path, json_object_get(obj, "net_keys"), false, SCENARIO_NODE_NET_KEYS_MAX, NULL, 0,
			  n->net_keys, &n->n_net_keys)) < 0)
		return e;
	snprintf(path, sizeof(path), "%s.app_keys", base);
	if ((e = get_keys(c, path, json_object_get(obj, "app_keys"), true, SCENARIO_NODE_APP_KEYS_MAX, n->net_keys,
			  n->n_net_keys, n->app_keys, &n->n_app_keys)) < 0)
		return e;
	at(c, "%s.models", base);
	if ((e = get_array(c, models, SCENARIO_MODELS_MAX)) < 0)
		return e;
	json_array_foreach(models, i, v) {
		snprintf(path, sizeof(path), "%s.models[%zu]", base, i);
		if ((e = get_model(c, path, v, n, &n->models[i])) < 0)
			return e;
		for (size_t k = 0; k < i; k++) {
			if (n->models[k].element == n->models[i].element && n->models[k].id == n->models[i].id &&
			    n->models[k].vendor == n->models[i].vendor) {
				at(c, "%s", path);
				return refuse(c, "the same model as $.nodes[%zu].models[%zu]", index, k);
			}
		}
	}
	n->n_models = json_array_size(models);
	return 0;
}

static void note_skipped(struct fleetstate_loaded *r, uint16_t address, const char *why)
{
	size_t len = strlen(r->skipped_text);

	if (r->skipped++ < FLEETSTATE_SKIPPED_SHOWN)
		snprintf(r->skipped_text + len, sizeof(r->skipped_text) - len, "%s0x%04x (%s)", len ? ", " : "",
			 address, why);
	else if (r->skipped == FLEETSTATE_SKIPPED_SHOWN + 1)
		snprintf(r->skipped_text + len, sizeof(r->skipped_text) - len, ", ...");
}

/* Gives node @n the state of @saved, or returns false (and leaves @n alone) when @saved names a model @n lacks. */
static bool restore_node(struct scenario_node *n, const struct saved_node *saved, char *why, size_t why_len)
{
	for (size_t i = 0; i < saved->n_models; i++) {
		const struct scenario_model *m = &saved->models[i];

		if (!scenario_node_model(n, m->element, m->id, m->vendor)) {
			snprintf(why, why_len, m->vendor ? "no model 0x%08x on element %u" :
							   "no model 0x%04x on element %u", (unsigned)m->id, m->element);
			return false;
		}
	}
	n->n_net_keys = (uint8_t)saved->n_net_keys;
	memcpy(n->net_keys, saved->net_keys, sizeof(n->net_keys));
	n->n_app_keys = (uint8_t)saved->n_app_keys;
	memcpy(n->app_keys, saved->app_keys, sizeof(n->app_keys));
	for (size_t i = 0; i < n->n_models; i++)
		n->models[i].n_bindings = n->models[i].n_subscriptions = 0;
	for (size_t i = 0; i < saved->n_models; i++) {
		const struct scenario_model *m = &saved->models[i];
		struct scenario_model *to = scenario_node_model(n, m->element, m->id, m->vendor);

		to->n_bindings = m->n_bindings;
		memcpy(to->bindings, m->bindings, sizeof(to->bindings));
		to->n_subscriptions = m->n_subscriptions;
		memcpy(to->subscriptions, m->subscriptions, sizeof(to->subscriptions));
	}
	return true;
}

/* The file's network keys against the fleet's: the same indexes with the same values, or (learned keys) the same
 * indexes, whose values the fleet then takes. */
static int match_network(struct check *c, struct scenario *next, const struct scenario_key *net, size_t n_net,
			 const struct scenario_key *app, size_t n_app)
{
	at(c, "$.net_keys");
	for (size_t i = 0; i < next->n_net_keys; i++) {
		const struct scenario_key *k = key_at(net, n_net, next->net_keys[i].index);

		if (!k)
			return refuse(c, "another network's state: it has no network key %u",
				      next->net_keys[i].index);
		if (!next->learn_keys && memcmp(k->key, next->net_keys[i].key, SCENARIO_KEY_SIZE) != 0)
			return refuse(c, "another network's state: its network key %u is not the fleet's", k->index);
		memcpy(next->net_keys[i].key, k->key, SCENARIO_KEY_SIZE);
	}
	if (n_net != next->n_net_keys)
		return refuse(c, "another network's state: %zu network keys, the fleet has %zu", n_net,
			      next->n_net_keys);
	if (!next->learn_keys)
		return 0;
	at(c, "$.app_keys");
	for (size_t i = 0; i < next->n_app_keys; i++) {
		const struct scenario_key *k = key_at(app, n_app, next->app_keys[i].index);

		if (!k)
			return refuse(c, "another network's state: it has no application key %u",
				      next->app_keys[i].index);
		memcpy(next->app_keys[i].key, k->key, SCENARIO_KEY_SIZE);
	}
	return 0;
}

/* The keys of every node that the network's learned keys now have values for (as fleet_configure() does). */
static void learn_all(struct scenario *next, struct scenario_node *nodes)
{
	for (size_t i = 0; i < next->node_count; i++) {
		struct scenario_node *n = &nodes[i];

		for (size_t k = 0; k < n->n_net_keys; k++) {
			const struct scenario_key *v = key_at(next->net_keys, next->n_net_keys, n->net_keys[k].index);

			if (v)
				memcpy(n->net_keys[k].key, v->key, SCENARIO_KEY_SIZE);
		}
		for (size_t k = 0; k < n->n_app_keys; k++) {
			const struct scenario_key *v = key_at(next->app_keys, next->n_app_keys, n->app_keys[k].index);

			if (v)
				memcpy(n->app_keys[k].key, v->key, SCENARIO_KEY_SIZE);
		}
	}
	next->learn_keys = false;
}

static int parse(struct scenario *s, const json_t *root, struct fleetstate_loaded *r, char *err, size_t err_len)
{
	static const char *const fields[] = { "format", "version", "net_keys", "app_keys", "nodes", NULL };
	struct check c = { .err = err, .err_len = err_len };
	struct scenario_key net[SCENARIO_NET_KEYS_MAX], app[SCENARIO_APP_KEYS_MAX];
	const json_t *format = json_object_get(root, "format"), *version = json_object_get(root, "version");
	const json_t *nodes = json_object_get(root, "nodes");
	struct scenario next = *s;
	struct saved_node *saved = NULL;
	uint8_t *seen = NULL;
	size_t n_net = 0, n_app = 0, i;
	json_t *v;
	int e;

	/* a file that is not a fleet state at all gets the most useful message first */
	at(&c, "$.format");
	if (!json_is_object(root) || !json_is_string(format) || strcmp(json_string_value(format), FLEETSTATE_FORMAT))
		return refuse(&c, "not a meshfleet-sim fleet state (\"format\": \"%s\" expected)", FLEETSTATE_FORMAT);
	at(&c, "$.version");
	if (!json_is_integer(version) || json_integer_value(version) != FLEETSTATE_VERSION)
		return refuse(&c, "version %d is the one this simulator reads", FLEETSTATE_VERSION);
	if ((e = check_fields(&c, "$", root, fields)) < 0)
		return e;
	if ((e = get_keys(&c, "$.net_keys", json_object_get(root, "net_keys"), false, SCENARIO_NET_KEYS_MAX, NULL, 0,
			  net, &n_net)) < 0)
		return e;
	if ((e = get_keys(&c, "$.app_keys", json_object_get(root, "app_keys"), true, SCENARIO_APP_KEYS_MAX, net,
			  n_net, app, &n_app)) < 0)
		return e;
	at(&c, "$.nodes");
	if ((e = get_array(&c, nodes, SCENARIO_NODES_MAX)) < 0)
		return e;
	if ((e = match_network(&c, &next, net, n_net, app, n_app)) < 0)
		return e;
	next.nodes = malloc((s->node_count ? s->node_count : 1) * sizeof(*next.nodes));
	saved = malloc(sizeof(*saved));
	seen = calloc(UNICAST_MAX + 1, 1);
	if (!next.nodes || !saved || !seen) {
		snprintf(err, err_len, "out of memory");
		e = -ENOMEM;
		goto out;
	}
	memcpy(next.nodes, s->nodes, s->node_count * sizeof(*next.nodes));
	if (s->learn_keys)
		learn_all(&next, next.nodes);
	json_array_foreach(nodes, i, v) {
		struct scenario_node *n = NULL;
		char why[64];

		if ((e = get_node(&c, i, v, saved)) < 0)
			goto out;
		if (seen[saved->address]++) {
			at(&c, "$.nodes[%zu].address", i);
			e = refuse(&c, "0x%04x appears twice", saved->address);
			goto out;
		}
		for (size_t k = 0; k < next.node_count && !n; k++)
			if (next.nodes[k].address == saved->address)
				n = &next.nodes[k];
		if (!n)
			note_skipped(r, saved->address, "not in the fleet");
		else if (memcmp(n->uuid, saved->uuid, sizeof(n->uuid)) != 0)
			note_skipped(r, saved->address, "another UUID");
		else if (!restore_node(n, saved, why, sizeof(why)))
			note_skipped(r, saved->address, why);
		else
			r->restored++;
	}
	free(s->nodes);
	*s = next;
	next.nodes = NULL;
	e = 0;
out:
	free(next.nodes);
	free(saved);
	free(seen);
	return e;
}

int fleetstate_load(struct scenario *s, const char *path, struct fleetstate_loaded *ret, char *err, size_t err_len)
{
	struct fleetstate_loaded r = { .found = true };
	json_error_t jerr;
	json_t *root;
	/* buffered: json_loadfd() reads one byte per system call */
	FILE *in = fopen(path, "re");
	int e;

	if (!in && errno == ENOENT) {
		*ret = (struct fleetstate_loaded){ .found = false };
		return 0;
	}
	if (!in) {
		e = -errno;
		snprintf(err, err_len, "cannot open it: %s", strerror(-e));
		return e;
	}
	root = json_loadf(in, JSON_REJECT_DUPLICATES, &jerr);
	fclose(in);
	if (!root) {
		snprintf(err, err_len, "line %d, column %d: %s", jerr.line, jerr.column, jerr.text);
		return -EINVAL;
	}
	e = parse(s, root, &r, err, err_len);
	json_decref(root);
	if (e == 0)
		*ret = r;
	return e;
}

/* --- when to write --- */

void fleetstate_init(struct fleetstate *fs, const char *path, uint64_t interval)
{
	*fs = (struct fleetstate){ .path = path, .interval = interval };
}

void fleetstate_changed(struct fleetstate *fs, uint64_t now)
{
	if (fs->dirty)
		return;
	fs->dirty = true;
	fs->dirty_at = now;
}

uint64_t fleetstate_due(const struct fleetstate *fs)
{
	uint64_t next;

	if (!fs->dirty)
		return FLEETSTATE_NEVER;
	if (!fs->written)
		return fs->dirty_at;
	next = fs->written_at > FLEETSTATE_NEVER - fs->interval ? FLEETSTATE_NEVER : fs->written_at + fs->interval;
	return next > fs->dirty_at ? next : fs->dirty_at;
}

int fleetstate_flush(struct fleetstate *fs, const struct scenario *s, uint64_t now, char *err, size_t err_len)
{
	int e;

	if (!fs->dirty || s->learn_keys)
		return 0;
	e = fleetstate_write(s, fs->path, err, err_len);
	fs->written = true;
	fs->written_at = now;
	if (e < 0) {
		fs->failures++;
		return e;
	}
	fs->dirty = false;
	fs->writes++;
	return 1;
}

int fleetstate_save(struct fleetstate *fs, const struct scenario *s, uint64_t now, char *err, size_t err_len)
{
	if (fleetstate_due(fs) > now)
		return 0;
	return fleetstate_flush(fs, s, now, err, err_len);
}
