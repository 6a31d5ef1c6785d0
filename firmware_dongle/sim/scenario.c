/* scenario: see scenario.h. */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mesh_blob.h"
#include "scenario.h"
#include "sha256.h"

#define COMPOSITION_MAX 378     /* page 0 in a Composition Data Status: 380 access bytes - opcode - page */

struct check {
	char *err;
	size_t err_len;
	char path[64];          /* of the value being checked */
};

__attribute__((format(printf, 2, 3)))
static int refuse(struct check *c, const char *fmt, ...)
{
	size_t n;
	va_list ap;

	n = (size_t)snprintf(c->err, c->err_len, "%s: ", c->path);
	if (n < c->err_len) {
		va_start(ap, fmt);
		vsnprintf(c->err + n, c->err_len - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* The value as JSON text, cut to fit a message. */
static const char *shown(const json_t *v, char *buf, size_t len)
{
	char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

	snprintf(buf, len, "%s", text ? text : "?");
	if (text && strlen(text) >= len && len > 4)
		memcpy(buf + len - 4, "...", 4);
	free(text);
	return buf;
}

__attribute__((format(printf, 3, 4)))
static void set_path(struct check *c, const char *base, const char *fmt, ...)
{
	size_t n = (size_t)snprintf(c->path, sizeof(c->path), "%s", base);
	va_list ap;

	if (n >= sizeof(c->path))
		return;
	va_start(ap, fmt);
	vsnprintf(c->path + n, sizeof(c->path) - n, fmt, ap);
	va_end(ap);
}

static int out_of_range(struct check *c, const json_t *v, unsigned long min, unsigned long max, bool hex)
{
	char buf[48];

	if (hex)
		return refuse(c, "must be from 0x%04lx to 0x%04lx, got %s", min, max, shown(v, buf, sizeof(buf)));
	return refuse(c, "must be from %lu to %lu, got %s", min, max, shown(v, buf, sizeof(buf)));
}

/* An integer, as a JSON number or a "0x..." string (addresses and ids are usually written in hex; @hex says to
 * show the range in hex too). */
static int get_uint(struct check *c, const json_t *v, unsigned long min, unsigned long max, bool hex,
		    unsigned long *ret)
{
	char buf[48];
	unsigned long value;

	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		if (i < 0 || (unsigned long long)i > max || (unsigned long)i < min)
			return out_of_range(c, v, min, max, hex);
		*ret = (unsigned long)i;
		return 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		if ((s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) && isxdigit((unsigned char)s[2])) {
			errno = 0;
			value = strtoul(s + 2, &end, 16);
			if (*end != '\0' || errno != 0)
				return refuse(c, "must be an integer or a \"0x...\" hex string, got %s",
					      shown(v, buf, sizeof(buf)));
			if (value < min || value > max)
				return out_of_range(c, v, min, max, hex);
			*ret = value;
			return 0;
		}
	}
	return refuse(c, "must be an integer or a \"0x...\" hex string, got %s", shown(v, buf, sizeof(buf)));
}

/* Hex digits into bytes; '-' is skipped when @dashes (UUIDs are often written 8-4-4-4-12). */
static int get_hex(struct check *c, const json_t *v, bool dashes, size_t min, size_t max, uint8_t *out,
		   size_t *ret_len)
{
	char buf[48];
	const char *s;
	size_t n = 0, digits = 0;
	unsigned hi = 0;

	if (!json_is_string(v))
		return refuse(c, "must be a string of hex digits, got %s", shown(v, buf, sizeof(buf)));
	for (s = json_string_value(v); *s; s++) {
		unsigned d;

		if (dashes && *s == '-')
			continue;
		if (!isxdigit((unsigned char)*s))
			return refuse(c, "must be a string of hex digits, got %s", shown(v, buf, sizeof(buf)));
		d = (unsigned)(isdigit((unsigned char)*s) ? *s - '0' : tolower((unsigned char)*s) - 'a' + 10);
		if (digits++ % 2 == 0) {
			hi = d;
			continue;
		}
		if (n < max)
			out[n] = (uint8_t)(hi << 4 | d);
		n++;
	}
	if (digits % 2 != 0)
		return refuse(c, "has an odd number of hex digits (%zu)", digits);
	if (n < min || n > max) {
		if (min == max)
			return refuse(c, "must be %zu bytes (%zu hex digits), got %zu", min, 2 * min, n);
		return refuse(c, "must be %zu to %zu bytes, got %zu", min, max, n);
	}
	*ret_len = n;
	return 0;
}

static int get_rate(struct check *c, const json_t *v, double *ret)
{
	char buf[48];
	double d;

	if (!json_is_number(v))
		return refuse(c, "must be a number from 0 to 1, got %s", shown(v, buf, sizeof(buf)));
	d = json_number_value(v);
	if (!(d >= 0 && d <= 1))
		return refuse(c, "must be a number from 0 to 1, got %s", shown(v, buf, sizeof(buf)));
	*ret = d;
	return 0;
}

static int get_name(struct check *c, const json_t *v, char *out)
{
	char buf[48];
	const char *s;

	if (!json_is_string(v))
		return refuse(c, "must be a string, got %s", shown(v, buf, sizeof(buf)));
	s = json_string_value(v);
	if (strlen(s) > SCENARIO_NAME_MAX)
		return refuse(c, "must be at most %d bytes, got %zu", SCENARIO_NAME_MAX, strlen(s));
	for (const char *p = s; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return refuse(c, "must not contain control characters");
	memcpy(out, s, strlen(s) + 1);  /* length checked above */
	return 0;
}

static int get_bool(struct check *c, const json_t *v, bool *ret)
{
	char buf[48];

	if (!json_is_boolean(v))
		return refuse(c, "must be true or false, got %s", shown(v, buf, sizeof(buf)));
	*ret = json_is_true(v);
	return 0;
}

/* A model id: a SIG model as an integer or "0x" and up to 4 hex digits, a vendor model as "0x" and exactly 8 hex
 * digits, the company id first (the CDB's modelId). */
static int get_model_id(struct check *c, const json_t *v, uint32_t *ret_id, bool *ret_vendor)
{
	char buf[48];
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	unsigned long u;
	size_t digits;

	if (s && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		digits = strlen(s + 2);
		if (digits == 8 && strspn(s + 2, "0123456789abcdefABCDEF") == 8) {
			*ret_id = (uint32_t)strtoul(s + 2, NULL, 16);
			*ret_vendor = true;
			return 0;
		}
		if (digits > 4)
			goto bad;
	}
	if (json_is_integer(v) || s) {
		if (get_uint(c, v, 0, 0xffff, true, &u) != 0)
			goto bad;
		*ret_id = (uint32_t)u;
		*ret_vendor = false;
		return 0;
	}
bad:
	return refuse(c, "must be a SIG model id (\"0x1402\" or 5122) or a vendor model id of 8 hex digits, company id "
		      "first (\"0x00590001\"), got %s", shown(v, buf, sizeof(buf)));
}

/* Refuses the object at @base for lacking @field. */
static int missing_field(struct check *c, const char *base, const char *field)
{
	set_path(c, base, "%s", "");
	return refuse(c, "\"%s\" is missing", field);
}

static int unknown_field(struct check *c, const char *base, const char *field, const char *known)
{
	set_path(c, base, ".%s", field);
	return refuse(c, "unknown field (known: %s)", known);
}

static void model_name(uint8_t element, uint32_t id, bool vendor, char *buf, size_t len)
{
	snprintf(buf, len, vendor ? "0x%08x on element %u" : "0x%04x on element %u", (unsigned)id, element);
}

/* "element" (default 0) and "model" of an entry of "bindings" or "subscriptions": the model must be on the node. */
static int get_model_ref(struct check *c, const char *base, const json_t *obj, struct scenario_node *n,
			 struct scenario_model **ret)
{
	const json_t *v = json_object_get(obj, "element");
	char what[48], path[64];
	unsigned long element = 0;
	uint32_t id;
	bool vendor;
	int err;

	snprintf(path, sizeof(path), "%s", base);
	if (v) {
		set_path(c, path, ".element");
		if ((err = get_uint(c, v, 0, (unsigned long)n->elements - 1, false, &element)) != 0)
			return err;
	}
	set_path(c, path, ".model");
	if (!(v = json_object_get(obj, "model")))
		return missing_field(c, path, "model");
	if ((err = get_model_id(c, v, &id, &vendor)) != 0)
		return err;
	*ret = scenario_node_model(n, (uint8_t)element, id, vendor);
	if (!*ret) {
		model_name((uint8_t)element, id, vendor, what, sizeof(what));
		return refuse(c, "the node has no model %s", what);
	}
	return 0;
}

static bool has_u16(const uint16_t *list, size_t count, uint16_t value)
{
	for (size_t i = 0; i < count; i++)
		if (list[i] == value)
			return true;
	return false;
}

static const struct scenario_key *node_key(const struct scenario_key *keys, size_t count, uint16_t index)
{
	for (size_t i = 0; i < count; i++)
		if (keys[i].index == index)
			return &keys[i];
	return NULL;
}

/* "composition": the elements, each { "location", "models" }. */
static int get_composition(struct check *c, size_t index, const json_t *arr, struct scenario_node *n)
{
	char what[48];
	const char *key;
	json_t *elem, *v;
	size_t e;
	int err;

	set_path(c, "$.nodes", "[%zu].composition", index);
	if (!json_is_array(arr) || json_array_size(arr) < 1 || json_array_size(arr) > SCENARIO_ELEMENTS_MAX)
		return refuse(c, "must be an array of 1 to %d elements", SCENARIO_ELEMENTS_MAX);
	n->n_models = 0;
	json_array_foreach(arr, e, elem) {
		const json_t *models = NULL;

		set_path(c, "$.nodes", "[%zu].composition[%zu]", index, e);
		if (!json_is_object(elem))
			return refuse(c, "must be an object with \"models\"");
		n->locations[e] = 0;
		json_object_foreach(elem, key, v) {
			unsigned long u;

			set_path(c, "$.nodes", "[%zu].composition[%zu].%s", index, e, key);
			if (strcmp(key, "location") == 0) {
				if ((err = get_uint(c, v, 0, 0xffff, true, &u)) != 0)
					return err;
				n->locations[e] = (uint16_t)u;
			} else if (strcmp(key, "models") == 0) {
				if (!json_is_array(v))
					return refuse(c, "must be an array of model ids");
				models = v;
			} else {
				return refuse(c, "unknown field (known: location, models)");
			}
		}
		if (!models) {
			set_path(c, "$.nodes", "[%zu].composition[%zu]", index, e);
			return refuse(c, "\"models\" is missing");
		}
		for (size_t m = 0; m < json_array_size(models); m++) {
			struct scenario_model *model = &n->models[n->n_models];
			uint32_t id;
			bool vendor;

			set_path(c, "$.nodes", "[%zu].composition[%zu].models[%zu]", index, e, m);
			if ((err = get_model_id(c, json_array_get(models, m), &id, &vendor)) != 0)
				return err;
			if (scenario_node_model(n, (uint8_t)e, id, vendor)) {
				model_name((uint8_t)e, id, vendor, what, sizeof(what));
				return refuse(c, "model %s is listed twice", what);
			}
			if (n->n_models == SCENARIO_MODELS_MAX)
				return refuse(c, "a node has at most %d models", SCENARIO_MODELS_MAX);
			*model = (struct scenario_model){ .id = id, .vendor = vendor, .element = (uint8_t)e };
			n->n_models++;
		}
	}
	set_path(c, "$.nodes", "[%zu].composition", index);
	if (n->elements != 0 && n->elements != json_array_size(arr))
		return refuse(c, "has %zu elements, \"elements\" says %u", json_array_size(arr), n->elements);
	n->elements = (uint8_t)json_array_size(arr);
	if (!scenario_node_model(n, 0, MA_MODEL_CFG_SRV, false))
		return refuse(c, "the primary element must have the Configuration Server (0x0000)");
	if (scenario_composition_size(n) > COMPOSITION_MAX)
		return refuse(c, "takes %zu bytes, more than the %d of a Composition Data Status",
			      scenario_composition_size(n), COMPOSITION_MAX);
	return 0;
}

/* "net_keys" or "app_keys" of a node: indexes of the network's keys. */
static int get_key_list(struct check *c, const char *what, const json_t *arr, const struct scenario_key *net,
			size_t n_net, size_t max, struct scenario_key *out, uint8_t *ret_count)
{
	char path[64];
	size_t i;
	json_t *v;
	int err;

	snprintf(path, sizeof(path), "%s", c->path);
	if (!json_is_array(arr) || json_array_size(arr) > max)
		return refuse(c, "must be an array of at most %zu %s key indexes", max, what);
	json_array_foreach(arr, i, v) {
		const struct scenario_key *k;
		unsigned long u;

		set_path(c, path, "[%zu]", i);
		if ((err = get_uint(c, v, 0, SCENARIO_KEY_INDEX_MAX, false, &u)) != 0)
			return err;
		if (!(k = node_key(net, n_net, (uint16_t)u)))
			return refuse(c, "the scenario has no %s key %lu", what, u);
		if (node_key(out, i, (uint16_t)u))
			return refuse(c, "%s key %lu is listed twice", what, u);
		out[i] = *k;
	}
	*ret_count = (uint8_t)json_array_size(arr);
	return 0;
}

static int get_bindings(struct check *c, size_t index, const json_t *arr, struct scenario_node *n)
{
	char base[64];
	const char *key;
	json_t *obj, *v;
	size_t i;
	int err;

	set_path(c, "$.nodes", "[%zu].bindings", index);
	if (!json_is_array(arr))
		return refuse(c, "must be an array of { \"element\", \"model\", \"app_key\" }");
	json_array_foreach(arr, i, obj) {
		struct scenario_model *m;
		unsigned long u;

		snprintf(base, sizeof(base), "$.nodes[%zu].bindings[%zu]", index, i);
		set_path(c, base, "%s", "");
		if (!json_is_object(obj))
			return refuse(c, "must be an object with \"model\" and \"app_key\"");
		json_object_foreach(obj, key, v)
			if (strcmp(key, "element") != 0 && strcmp(key, "model") != 0 && strcmp(key, "app_key") != 0)
				return unknown_field(c, base, key, "element, model, app_key");
		if ((err = get_model_ref(c, base, obj, n, &m)) != 0)
			return err;
		if (!m->vendor && (m->id == MA_MODEL_CFG_SRV || m->id == MA_MODEL_CFG_CLI))
			return refuse(c, "the configuration models use the device key, they are not bound");
		set_path(c, base, ".app_key");
		if (!(v = json_object_get(obj, "app_key")))
			return missing_field(c, base, "app_key");
		if ((err = get_uint(c, v, 0, SCENARIO_KEY_INDEX_MAX, false, &u)) != 0)
			return err;
		if (!node_key(n->app_keys, n->n_app_keys, (uint16_t)u))
			return refuse(c, "the node does not hold application key %lu (see its \"app_keys\")", u);
		if (has_u16(m->bindings, m->n_bindings, (uint16_t)u))
			return refuse(c, "application key %lu is bound to this model twice", u);
		if (m->n_bindings == SCENARIO_BINDINGS_MAX)
			return refuse(c, "a model has at most %d bound application keys", SCENARIO_BINDINGS_MAX);
		m->bindings[m->n_bindings++] = (uint16_t)u;
	}
	return 0;
}

static int get_subscriptions(struct check *c, size_t index, const json_t *arr, struct scenario_node *n)
{
	char base[64];
	const char *key;
	json_t *obj, *v;
	size_t i;
	int err;

	set_path(c, "$.nodes", "[%zu].subscriptions", index);
	if (!json_is_array(arr))
		return refuse(c, "must be an array of { \"element\", \"model\", \"address\" }");
	json_array_foreach(arr, i, obj) {
		struct scenario_model *m;
		unsigned long u;

		snprintf(base, sizeof(base), "$.nodes[%zu].subscriptions[%zu]", index, i);
		set_path(c, base, "%s", "");
		if (!json_is_object(obj))
			return refuse(c, "must be an object with \"model\" and \"address\"");
		json_object_foreach(obj, key, v)
			if (strcmp(key, "element") != 0 && strcmp(key, "model") != 0 && strcmp(key, "address") != 0)
				return unknown_field(c, base, key, "element, model, address");
		if ((err = get_model_ref(c, base, obj, n, &m)) != 0)
			return err;
		if (!m->vendor && m->id == MA_MODEL_CFG_SRV)
			return refuse(c, "the Configuration Server does not subscribe");
		set_path(c, base, ".address");
		if (!(v = json_object_get(obj, "address")))
			return missing_field(c, base, "address");
		if ((err = get_uint(c, v, 0xc000, 0xfffe, true, &u)) != 0)
			return err;
		if (has_u16(m->subscriptions, m->n_subscriptions, (uint16_t)u))
			return refuse(c, "0x%04lx is in this model's subscription list twice", u);
		if (m->n_subscriptions == SCENARIO_SUBSCRIPTIONS_MAX)
			return refuse(c, "a model subscribes to at most %d addresses", SCENARIO_SUBSCRIPTIONS_MAX);
		m->subscriptions[m->n_subscriptions++] = (uint16_t)u;
	}
	return 0;
}

/* The keys and state of a node once its scalar fields are known, in dependency order: composition, keys,
 * bindings, subscriptions. */
static int get_node_state(struct check *c, size_t index, const json_t *obj, const struct scenario *net,
			  struct scenario_node *n)
{
	const json_t *composition = json_object_get(obj, "composition");
	const json_t *dfu = json_object_get(obj, "dfu");
	const json_t *v;
	bool dfu_capable = true;
	int err;

	if (composition && dfu) {
		set_path(c, "$.nodes", "[%zu].dfu", index);
		return refuse(c, "\"composition\" lists the models: leave \"dfu\" out");
	}
	if (composition) {
		if ((err = get_composition(c, index, composition, n)) != 0)
			return err;
	} else {
		if (n->elements == 0)
			n->elements = 1;
		if (dfu) {
			set_path(c, "$.nodes", "[%zu].dfu", index);
			if ((err = get_bool(c, dfu, &dfu_capable)) != 0)
				return err;
		}
		scenario_default_composition(n, dfu_capable);
	}

	if ((v = json_object_get(obj, "net_keys"))) {
		set_path(c, "$.nodes", "[%zu].net_keys", index);
		if ((err = get_key_list(c, "network", v, net->net_keys, net->n_net_keys, SCENARIO_NODE_NET_KEYS_MAX,
					n->net_keys, &n->n_net_keys)) != 0)
			return err;
		if (n->n_net_keys == 0)
			return refuse(c, "a node holds at least one network key");
	} else if (net->n_net_keys > 0) {
		n->net_keys[0] = net->net_keys[0];
		n->n_net_keys = 1;
	}
	if ((v = json_object_get(obj, "app_keys"))) {
		set_path(c, "$.nodes", "[%zu].app_keys", index);
		if ((err = get_key_list(c, "application", v, net->app_keys, net->n_app_keys,
					SCENARIO_NODE_APP_KEYS_MAX, n->app_keys, &n->n_app_keys)) != 0)
			return err;
		for (size_t i = 0; i < n->n_app_keys; i++) {
			set_path(c, "$.nodes", "[%zu].app_keys[%zu]", index, i);
			if (!node_key(n->net_keys, n->n_net_keys, n->app_keys[i].net_index))
				return refuse(c, "application key %u is bound to network key %u, which the node does "
					      "not hold", n->app_keys[i].index, n->app_keys[i].net_index);
		}
	} else {
		/* every application key of the node's network keys */
		for (size_t k = 0; k < net->n_app_keys; k++) {
			if (!node_key(n->net_keys, n->n_net_keys, net->app_keys[k].net_index))
				continue;
			if (n->n_app_keys == SCENARIO_NODE_APP_KEYS_MAX) {
				set_path(c, "$.nodes", "[%zu]", index);
				return refuse(c, "its network has more than %d application keys: say which it holds "
					      "with \"app_keys\"", SCENARIO_NODE_APP_KEYS_MAX);
			}
			n->app_keys[n->n_app_keys++] = net->app_keys[k];
		}
	}
	if ((v = json_object_get(obj, "bindings"))) {
		if ((err = get_bindings(c, index, v, n)) != 0)
			return err;
	} else {
		scenario_bind_all(n);
	}
	if ((v = json_object_get(obj, "subscriptions")))
		return get_subscriptions(c, index, v, n);
	return 0;
}

/* "target": how the node behaves as an update Target (target.h). */
static int get_target(struct check *c, size_t index, const json_t *obj, struct scenario_node *n)
{
	struct scenario_target *t = &n->target;
	bool have_log_min = false, have_log_max = false;
	unsigned long u;
	const char *key;
	json_t *v;
	size_t len;
	int err;

	set_path(c, "$.nodes", "[%zu].target", index);
	if (!json_is_object(obj))
		return refuse(c, "must be an object (fields: rx_seg_max, block_size_log_min, block_size_log_max, "
			      "chunk_count_max, blob_size_max, modes, processing_ms, verify_ms, reboot_ms, low_power, "
			      "poll_interval_ms, friend_queue, effect, metadata_prefix, newer_only, new_fwid)");
	json_object_foreach((json_t *)obj, key, v) {
		set_path(c, "$.nodes", "[%zu].target.%s", index, key);
		if (strcmp(key, "rx_seg_max") == 0) {
			err = get_uint(c, v, SCENARIO_RX_SEG_MAX_MIN, SCENARIO_RX_SEG_MAX_MAX, false, &u);
			t->rx_seg_max = (uint8_t)u;
		} else if (strcmp(key, "block_size_log_min") == 0) {
			err = get_uint(c, v, MB_BLOCK_SIZE_LOG_MIN, SCENARIO_BLOCK_LOG_MAX, false, &u);
			t->block_size_log_min = (uint8_t)u;
			have_log_min = true;
		} else if (strcmp(key, "block_size_log_max") == 0) {
			err = get_uint(c, v, MB_BLOCK_SIZE_LOG_MIN, SCENARIO_BLOCK_LOG_MAX, false, &u);
			t->block_size_log_max = (uint8_t)u;
			have_log_max = true;
		} else if (strcmp(key, "chunk_count_max") == 0) {
			err = get_uint(c, v, 1, SCENARIO_CHUNK_COUNT_MAX, false, &u);
			t->chunk_count_max = (uint16_t)u;
		} else if (strcmp(key, "blob_size_max") == 0) {
			err = get_uint(c, v, 1, UINT32_MAX, false, &u);
			t->blob_size_max = (uint32_t)u;
		} else if (strcmp(key, "modes") == 0) {
			const char *m = json_is_string(v) ? json_string_value(v) : "";

			t->modes = strcmp(m, "push") == 0 ? MB_MODES_PUSH : strcmp(m, "pull") == 0 ? MB_MODES_PULL :
				   strcmp(m, "both") == 0 ? MB_MODES_PUSH | MB_MODES_PULL : 0;
			err = t->modes ? 0 : refuse(c, "must be \"push\", \"pull\" or \"both\"");
		} else if (strcmp(key, "processing_ms") == 0 || strcmp(key, "verify_ms") == 0 ||
			   strcmp(key, "reboot_ms") == 0) {
			err = get_uint(c, v, 0, SCENARIO_MS_MAX, false, &u);
			*(key[0] == 'p' ? &t->processing_ms : key[0] == 'v' ? &t->verify_ms : &t->reboot_ms) =
				(uint32_t)u;
		} else if (strcmp(key, "low_power") == 0) {
			err = get_bool(c, v, &t->low_power);
		} else if (strcmp(key, "poll_interval_ms") == 0) {
			err = get_uint(c, v, 1, SCENARIO_POLL_INTERVAL_MAX, false, &u);
			t->poll_interval_ms = (uint32_t)u;
		} else if (strcmp(key, "friend_queue") == 0) {
			err = get_uint(c, v, 2, 255, false, &u);
			t->friend_queue = (uint8_t)u;
		} else if (strcmp(key, "effect") == 0) {
			err = get_uint(c, v, 0, 3, false, &u);
			t->effect = (uint8_t)u;
		} else if (strcmp(key, "metadata_prefix") == 0) {
			err = get_hex(c, v, false, 0, SCENARIO_METADATA_PREFIX_MAX, t->metadata_prefix, &len);
			t->metadata_prefix_len = (uint8_t)len;
		} else if (strcmp(key, "newer_only") == 0) {
			err = get_bool(c, v, &t->newer_only);
		} else if (strcmp(key, "new_fwid") == 0) {
			err = get_hex(c, v, false, SCENARIO_FWID_MIN, SCENARIO_FWID_MAX, t->new_fwid, &len);
			t->new_fwid_len = (uint8_t)len;
		} else {
			err = refuse(c, "unknown field (known: rx_seg_max, block_size_log_min, block_size_log_max, "
				     "chunk_count_max, blob_size_max, modes, processing_ms, verify_ms, reboot_ms, low_power, "
				     "poll_interval_ms, friend_queue, effect, metadata_prefix, newer_only, new_fwid)");
		}
		if (err)
			return err;
	}
	/* one of the two given alone moves the other with it, as a Kconfig with MIN = MAX does */
	if (have_log_min && !have_log_max && t->block_size_log_max < t->block_size_log_min)
		t->block_size_log_max = t->block_size_log_min;
	if (have_log_max && !have_log_min && t->block_size_log_min > t->block_size_log_max)
		t->block_size_log_min = t->block_size_log_max;
	if (t->block_size_log_min > t->block_size_log_max) {
		set_path(c, "$.nodes", "[%zu].target.block_size_log_min", index);
		return refuse(c, "%u is above block_size_log_max %u", t->block_size_log_min, t->block_size_log_max);
	}
	if (t->low_power) {
		set_path(c, "$.nodes", "[%zu].target.modes", index);
		if (json_object_get(obj, "modes") && t->modes != MB_MODES_PULL)
			return refuse(c, "a low-power node supports pull mode only: \"pull\" or leave it out");
		t->modes = MB_MODES_PULL;
	}
	if (t->newer_only && n->fwid_len != SCENARIO_FWID_NCS_SIZE) {
		set_path(c, "$.nodes", "[%zu].target.newer_only", index);
		return refuse(c, "needs a \"fwid\" of %d bytes (company id and the 8-byte MCUboot version) to compare "
			      "versions with, the node's has %u", SCENARIO_FWID_NCS_SIZE, n->fwid_len);
	}
	return 0;
}

static int get_percent(struct check *c, const json_t *v, uint8_t *ret)
{
	unsigned long u;
	int err = get_uint(c, v, 0, 100, false, &u);

	if (err == 0)
		*ret = (uint8_t)u;
	return err;
}

/* "faults": what goes wrong at this node during an update. */
static int get_faults(struct check *c, size_t index, const json_t *obj, struct scenario_faults *f)
{
	unsigned long u;
	const char *key;
	json_t *v;
	int err;

	set_path(c, "$.nodes", "[%zu].faults", index);
	if (!json_is_object(obj))
		return refuse(c, "must be an object (fields: rejects_metadata, fails_verification, silent_at, "
			      "reboots_at, keeps_old_firmware, joins_late)");
	json_object_foreach((json_t *)obj, key, v) {
		set_path(c, "$.nodes", "[%zu].faults.%s", index, key);
		if (strcmp(key, "rejects_metadata") == 0) {
			err = get_bool(c, v, &f->rejects_metadata);
		} else if (strcmp(key, "fails_verification") == 0) {
			err = get_bool(c, v, &f->fails_verification);
		} else if (strcmp(key, "keeps_old_firmware") == 0) {
			err = get_bool(c, v, &f->keeps_old_firmware);
		} else if (strcmp(key, "silent_at") == 0) {
			err = get_percent(c, v, &f->silent_at);
		} else if (strcmp(key, "reboots_at") == 0) {
			err = get_percent(c, v, &f->reboots_at);
		} else if (strcmp(key, "joins_late") == 0) {
			err = get_uint(c, v, 0, SCENARIO_MS_MAX, false, &u);
			f->joins_late_ms = (uint32_t)u;
		} else {
			err = refuse(c, "unknown field (known: rejects_metadata, fails_verification, silent_at, "
				     "reboots_at, keeps_old_firmware, joins_late)");
		}
		if (err)
			return err;
	}
	return 0;
}

/* One node; its fields in any order, unknown ones refused (a typo must not silently become a default). */
static int get_node(struct check *c, size_t index, const json_t *obj, const struct scenario *net,
		    struct scenario_node *n)
{
	static const char *const required[] = { "address", "uuid", "fwid" };
	bool have_device_key = false;
	unsigned long u;
	const char *key;
	json_t *v;
	size_t len;
	int err;

	set_path(c, "$.nodes", "[%zu]", index);
	if (!json_is_object(obj))
		return refuse(c, "must be an object");
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (!json_object_get(obj, required[i]))
			return refuse(c, "\"%s\" is missing", required[i]);
	/* elements 0 until known: "composition" may set it */
	memset(n, 0, sizeof(*n));
	n->company_id = SCENARIO_COMPANY_DEFAULT;
	n->hops = 1;
	n->crpl = SCENARIO_CRPL_DEFAULT;
	n->features = SCENARIO_FEATURES_DEFAULT;
	scenario_target_defaults(n);

	json_object_foreach((json_t *)obj, key, v) {
		set_path(c, "$.nodes", "[%zu].%s", index, key);
		if (strcmp(key, "name") == 0) {
			err = get_name(c, v, n->name);
		} else if (strcmp(key, "address") == 0) {
			err = get_uint(c, v, 0x0001, 0x7fff, true, &u);
			n->address = (uint16_t)u;
		} else if (strcmp(key, "elements") == 0) {
			err = get_uint(c, v, 1, 255, false, &u);
			n->elements = (uint8_t)u;
		} else if (strcmp(key, "uuid") == 0) {
			err = get_hex(c, v, true, 16, 16, n->uuid, &len);
		} else if (strcmp(key, "company_id") == 0) {
			err = get_uint(c, v, 0, 0xffff, true, &u);
			n->company_id = (uint16_t)u;
		} else if (strcmp(key, "product_id") == 0) {
			err = get_uint(c, v, 0, 0xffff, true, &u);
			n->product_id = (uint16_t)u;
		} else if (strcmp(key, "version_id") == 0) {
			err = get_uint(c, v, 0, 0xffff, true, &u);
			n->version_id = (uint16_t)u;
		} else if (strcmp(key, "fwid") == 0) {
			err = get_hex(c, v, false, SCENARIO_FWID_MIN, SCENARIO_FWID_MAX, n->fwid, &len);
			n->fwid_len = (uint8_t)len;
		} else if (strcmp(key, "hops") == 0) {
			err = get_uint(c, v, 1, SCENARIO_HOPS_MAX, false, &u);
			n->hops = (uint8_t)u;
		} else if (strcmp(key, "loss_rate") == 0) {
			err = get_rate(c, v, &n->loss_rate);
		} else if (strcmp(key, "device_key") == 0) {
			err = get_hex(c, v, false, SCENARIO_KEY_SIZE, SCENARIO_KEY_SIZE, n->device_key, &len);
			have_device_key = true;
		} else if (strcmp(key, "crpl") == 0) {
			err = get_uint(c, v, 0, 0xffff, true, &u);
			n->crpl = (uint16_t)u;
		} else if (strcmp(key, "features") == 0) {
			err = get_uint(c, v, 0, SCENARIO_FEATURES_MAX, true, &u);
			n->features = (uint16_t)u;
		} else if (strcmp(key, "dfu") == 0 || strcmp(key, "composition") == 0 || strcmp(key, "net_keys") == 0 ||
			   strcmp(key, "app_keys") == 0 || strcmp(key, "bindings") == 0 ||
			   strcmp(key, "subscriptions") == 0 || strcmp(key, "target") == 0 ||
			   strcmp(key, "faults") == 0) {
			err = 0;        /* get_node_state() and below, once the node's other fields are known */
		} else {
			err = refuse(c, "unknown field (known: name, address, elements, uuid, company_id, product_id, "
				     "version_id, fwid, hops, loss_rate, device_key, crpl, features, dfu, composition, "
				     "net_keys, app_keys, bindings, subscriptions, target, faults)");
		}
		if (err)
			return err;
	}
	if (!have_device_key)
		scenario_default_device_key(n->uuid, n->device_key);
	if ((err = get_node_state(c, index, obj, net, n)) != 0)
		return err;
	if ((v = json_object_get(obj, "target")) && (err = get_target(c, index, v, n)) != 0)
		return err;
	if ((v = json_object_get(obj, "faults")) && (err = get_faults(c, index, v, &n->faults)) != 0)
		return err;
	set_path(c, "$.nodes", "[%zu].address", index);
	if ((unsigned)n->address + n->elements - 1 > 0x7fff)
		return refuse(c, "0x%04x with %u elements runs past the last unicast address 0x7fff", n->address,
			      n->elements);
	return 0;
}

/* Two nodes may not share an address or a UUID. */
static int check_unique(struct check *c, const struct scenario_node *nodes, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const struct scenario_node *a = &nodes[i];

		for (size_t j = 0; j < i; j++) {
			const struct scenario_node *b = &nodes[j];

			if (a->address < b->address + b->elements && b->address < a->address + a->elements) {
				set_path(c, "$.nodes", "[%zu].address", i);
				return refuse(c, "0x%04x..0x%04x overlaps $.nodes[%zu] (0x%04x..0x%04x)", a->address,
					      a->address + a->elements - 1, j, b->address,
					      b->address + b->elements - 1);
			}
			if (memcmp(a->uuid, b->uuid, sizeof(a->uuid)) == 0) {
				set_path(c, "$.nodes", "[%zu].uuid", i);
				return refuse(c, "the same UUID as $.nodes[%zu]", j);
			}
		}
	}
	return 0;
}

/* "net_keys" or "app_keys" of the scenario: [{ "index", "key" (, "net_key") }]. */
static int get_network_keys(struct check *c, const char *field, const json_t *arr, struct scenario *next)
{
	bool app = strcmp(field, "app_keys") == 0;
	size_t max = app ? SCENARIO_APP_KEYS_MAX : SCENARIO_NET_KEYS_MAX, i;
	struct scenario_key *keys = app ? next->app_keys : next->net_keys;
	const char *key;
	json_t *obj, *v;
	int err;

	if (!json_is_array(arr) || json_array_size(arr) > max || (!app && json_array_size(arr) == 0))
		return refuse(c, "must be an array of %s to %zu keys", app ? "0" : "1", max);
	json_array_foreach(arr, i, obj) {
		struct scenario_key *k = &keys[i];
		bool have_index = false, have_key = false;
		unsigned long u;
		size_t len;

		set_path(c, "$.", "%s[%zu]", field, i);
		if (!json_is_object(obj))
			return refuse(c, "must be an object with \"index\" and \"key\"");
		k->net_index = app ? next->net_keys[0].index : 0;
		json_object_foreach(obj, key, v) {
			set_path(c, "$.", "%s[%zu].%s", field, i, key);
			if (strcmp(key, "index") == 0) {
				if ((err = get_uint(c, v, 0, SCENARIO_KEY_INDEX_MAX, false, &u)) != 0)
					return err;
				if (node_key(keys, i, (uint16_t)u))
					return refuse(c, "index %lu is used twice", u);
				k->index = (uint16_t)u;
				have_index = true;
			} else if (strcmp(key, "key") == 0) {
				if ((err = get_hex(c, v, false, SCENARIO_KEY_SIZE, SCENARIO_KEY_SIZE, k->key, &len)) != 0)
					return err;
				have_key = true;
			} else if (app && strcmp(key, "net_key") == 0) {
				if ((err = get_uint(c, v, 0, SCENARIO_KEY_INDEX_MAX, false, &u)) != 0)
					return err;
				if (!node_key(next->net_keys, next->n_net_keys, (uint16_t)u))
					return refuse(c, "the scenario has no network key %lu", u);
				k->net_index = (uint16_t)u;
			} else {
				return refuse(c, "unknown field (known: index, key%s)", app ? ", net_key" : "");
			}
		}
		set_path(c, "$.", "%s[%zu]", field, i);
		if (!have_index || !have_key)
			return refuse(c, "\"%s\" is missing", have_index ? "key" : "index");
	}
	if (app)
		next->n_app_keys = json_array_size(arr);
	else
		next->n_net_keys = json_array_size(arr);
	return 0;
}

/* "radio": knobs by name (radio_param_table), then the whole set checked (some rules tie two knobs). */
static int get_radio(struct check *c, const json_t *obj, struct radio_params *ret)
{
	struct radio_params p = *ret;
	char reason[160], buf[48];
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(obj))
		return refuse(c, "must be an object of radio knobs (docs/radio-model.md), got %s", shown(obj, buf, sizeof(buf)));
	json_object_foreach((json_t *)obj, key, v) {
		const struct radio_param_desc *d = radio_param_find(key);

		set_path(c, "$.radio.", "%s", key);
		if (!d)
			return refuse(c, "unknown radio knob (docs/radio-model.md lists them)");
		if (d->type == RADIO_PARAM_BOOL && json_is_boolean(v))
			rc = radio_param_set_number(&p, d, json_is_true(v) ? 1 : 0, reason, sizeof(reason));
		else if (d->type == RADIO_PARAM_ENUM && json_is_string(v))
			rc = radio_param_set_string(&p, d, json_string_value(v), reason, sizeof(reason));
		else if (json_is_integer(v))
			rc = radio_param_set_number(&p, d, json_integer_value(v), reason, sizeof(reason));
		else
			return refuse(c, "must be %s, got %s", d->type == RADIO_PARAM_BOOL ? "true or false" :
				      d->type == RADIO_PARAM_ENUM ? "one of its names or an integer" : "an integer",
				      shown(v, buf, sizeof(buf)));
		if (rc < 0)
			return refuse(c, "%s", reason);
	}
	snprintf(c->path, sizeof(c->path), "$.radio");
	if (radio_params_check(&p, reason, sizeof(reason)) < 0)
		return refuse(c, "%s", reason);
	*ret = p;
	return 0;
}

/* "bench": what meshfleet-sim --bench distributes, and how. */
static int get_bench(struct check *c, const json_t *obj, struct scenario_bench *b)
{
	char buf[48];
	unsigned long u;
	const char *key;
	json_t *v;
	int rc = 0;

	if (!json_is_object(obj))
		return refuse(c, "must be an object, got %s", shown(obj, buf, sizeof(buf)));
	json_object_foreach((json_t *)obj, key, v) {
		set_path(c, "$.bench.", "%s", key);
		if (strcmp(key, "image_size") == 0) {
			rc = get_uint(c, v, 1, SCENARIO_BENCH_IMAGE_MAX, false, &u);
			b->image_size = (uint32_t)u;
		} else if (strcmp(key, "block_size_log") == 0 || strcmp(key, "chunk_size") == 0) {
			bool block = key[0] == 'b';

			if (json_is_string(v) && strcmp(json_string_value(v), "capabilities") == 0)
				u = 0;
			else if (block)
				rc = get_uint(c, v, MB_BLOCK_SIZE_LOG_MIN, MB_BLOCK_SIZE_LOG_MAX, false, &u);
			else
				rc = get_uint(c, v, MB_CHUNK_SIZE_MIN, MB_CHUNK_SIZE_MAX, false, &u);
			if (rc == 0 && block)
				b->block_size_log = (uint8_t)u;
			else if (rc == 0)
				b->chunk_size = (uint16_t)u;
		} else if (strcmp(key, "mode") == 0) {
			const char *m = json_is_string(v) ? json_string_value(v) : "";

			if (strcmp(m, "push") == 0)
				b->mode = SCENARIO_BENCH_PUSH;
			else if (strcmp(m, "pull") == 0)
				b->mode = SCENARIO_BENCH_PULL;
			else
				rc = refuse(c, "must be \"push\" or \"pull\", got %s", shown(v, buf, sizeof(buf)));
		} else if (strcmp(key, "policy") == 0) {
			const char *m = json_is_string(v) ? json_string_value(v) : "";

			if (strcmp(m, "apply") == 0)
				b->policy = SCENARIO_BENCH_APPLY;
			else if (strcmp(m, "verify_only") == 0)
				b->policy = SCENARIO_BENCH_VERIFY_ONLY;
			else
				rc = refuse(c, "must be \"apply\" or \"verify_only\", got %s", shown(v, buf, sizeof(buf)));
		} else if (strcmp(key, "group") == 0) {
			if (json_is_string(v) && strcmp(json_string_value(v), "unicast") == 0)
				u = 0;
			else
				rc = get_uint(c, v, 0xC000, 0xFFFE, true, &u);
			b->group = (uint16_t)u;
		} else if (strcmp(key, "ttl") == 0) {
			rc = get_uint(c, v, 0, RADIO_HOPS_MAX, false, &u);
			if (rc == 0 && u == 1)
				rc = refuse(c, "must be 0 or 2..%d (TTL 1 is never sent), got 1", RADIO_HOPS_MAX);
			b->ttl = (uint8_t)u;
		} else if (strcmp(key, "timeout_base") == 0) {
			rc = get_uint(c, v, 0, 0xFFFF, false, &u);
			b->timeout_base = (uint16_t)u;
		} else if (strcmp(key, "sequential") == 0) {
			rc = get_bool(c, v, &b->sequential);
		} else if (strcmp(key, "targets") == 0) {
			if (json_is_string(v) && strcmp(json_string_value(v), "all") == 0) {
				b->n_targets = 0;
				continue;
			}
			if (!json_is_array(v) || json_array_size(v) == 0)
				return refuse(c, "must be \"all\" or a non-empty array of node addresses, got %s",
					      shown(v, buf, sizeof(buf)));
			if (json_array_size(v) > SCENARIO_NODES_MAX)
				return refuse(c, "must have at most %d addresses", SCENARIO_NODES_MAX);
			for (size_t i = 0; i < json_array_size(v) && rc == 0; i++) {
				set_path(c, "$.bench.targets", "[%zu]", i);
				rc = get_uint(c, json_array_get(v, i), 0x0001, 0x7FFF, true, &u);
				b->targets[i] = (uint16_t)u;
			}
			b->n_targets = json_array_size(v);
		} else {
			return refuse(c, "unknown field (known: image_size, block_size_log, chunk_size, mode, policy, "
				      "group, ttl, timeout_base, sequential, targets)");
		}
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Every "bench" target must be a DFU-capable node of the scenario, each named once. */
static int check_bench_targets(struct check *c, const struct scenario *s)
{
	for (size_t i = 0; i < s->bench.n_targets; i++) {
		const struct scenario_node *n = scenario_find(s, s->bench.targets[i]);

		set_path(c, "$.bench.targets", "[%zu]", i);
		if (!n)
			return refuse(c, "0x%04x is not the primary address of a node", s->bench.targets[i]);
		if (!scenario_node_dfu_capable(n))
			return refuse(c, "node 0x%04x is not DFU capable (no Firmware Update and BLOB Transfer Servers)",
				      n->address);
		for (size_t j = 0; j < i; j++)
			if (s->bench.targets[j] == s->bench.targets[i])
				return refuse(c, "0x%04x is named twice", s->bench.targets[i]);
	}
	return 0;
}

static void bench_defaults(struct scenario_bench *b)
{
	*b = (struct scenario_bench){
		.image_size = SCENARIO_BENCH_IMAGE_DEFAULT,
		.mode = SCENARIO_BENCH_PUSH,
		.policy = SCENARIO_BENCH_APPLY,
		.group = SCENARIO_BENCH_GROUP_DEFAULT,
		.ttl = SCENARIO_BENCH_TTL_DEFAULT,
		.timeout_base = SCENARIO_BENCH_TIMEOUT_BASE_DEFAULT,
	};
}

static int parse(struct scenario *s, const json_t *root, char *err, size_t err_len)
{
	struct check c = { .err = err, .err_len = err_len, .path = "$" };
	struct scenario next = { .hop_delay_ms = SCENARIO_HOP_DELAY_DEFAULT };
	const json_t *nodes = NULL, *net_keys, *app_keys;
	unsigned long u;
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(root))
		return refuse(&c, "must be an object with \"nodes\"");
	radio_params_zephyr_default(&next.radio);
	bench_defaults(&next.bench);
	json_object_foreach((json_t *)root, key, v) {
		set_path(&c, "$.", "%s", key);
		if (strcmp(key, "nodes") == 0) {
			if (!json_is_array(v))
				return refuse(&c, "must be an array");
			if (json_array_size(v) > SCENARIO_NODES_MAX)
				return refuse(&c, "must have at most %d nodes, got %zu", SCENARIO_NODES_MAX,
					      json_array_size(v));
			nodes = v;
		} else if (strcmp(key, "hop_delay_ms") == 0) {
			if ((rc = get_uint(&c, v, 0, SCENARIO_HOP_DELAY_MAX, false, &u)) != 0)
				return rc;
			next.hop_delay_ms = (uint32_t)u;
		} else if (strcmp(key, "description") == 0) {
			if (!json_is_string(v))
				return refuse(&c, "must be a string");
		} else if (strcmp(key, "radio") == 0) {
			if ((rc = get_radio(&c, v, &next.radio)) != 0)
				return rc;
		} else if (strcmp(key, "bench") == 0) {
			if ((rc = get_bench(&c, v, &next.bench)) != 0)
				return rc;
		} else if (strcmp(key, "net_keys") != 0 && strcmp(key, "app_keys") != 0) {
			return refuse(&c, "unknown field (known: description, hop_delay_ms, radio, bench, net_keys, "
				      "app_keys, nodes)");
		}
	}
	/* the keys before the nodes, which name them */
	net_keys = json_object_get(root, "net_keys");
	app_keys = json_object_get(root, "app_keys");
	if (net_keys) {
		set_path(&c, "$.", "net_keys");
		if ((rc = get_network_keys(&c, "net_keys", net_keys, &next)) != 0)
			return rc;
	}
	if (app_keys) {
		set_path(&c, "$.", "app_keys");
		if (!net_keys)
			return refuse(&c, "needs \"net_keys\", the network keys they are bound to");
		if ((rc = get_network_keys(&c, "app_keys", app_keys, &next)) != 0)
			return rc;
	}
	if (!net_keys) {
		/* learned keys: net key 0 and app key 0, values from the first MESH_CONFIG */
		next.learn_keys = true;
		next.n_net_keys = next.n_app_keys = 1;
	}
	if (!nodes) {
		snprintf(c.path, sizeof(c.path), "$");
		return refuse(&c, "\"nodes\" is missing");
	}
	next.node_count = json_array_size(nodes);
	next.nodes = calloc(next.node_count ? next.node_count : 1, sizeof(*next.nodes));
	if (!next.nodes) {
		snprintf(err, err_len, "out of memory for %zu nodes", next.node_count);
		return -ENOMEM;
	}
	for (size_t i = 0; i < next.node_count; i++)
		if ((rc = get_node(&c, i, json_array_get(nodes, i), &next, &next.nodes[i])) != 0)
			goto fail;
	if ((rc = check_unique(&c, next.nodes, next.node_count)) != 0)
		goto fail;
	if ((rc = check_bench_targets(&c, &next)) != 0)
		goto fail;
	scenario_done(s);
	*s = next;
	return 0;

fail:
	free(next.nodes);
	return rc;
}

static int load(struct scenario *s, json_t *root, const json_error_t *jerr, char *err, size_t err_len)
{
	int rc;

	if (!root) {
		snprintf(err, err_len, "line %d, column %d: %s", jerr->line, jerr->column, jerr->text);
		return -EINVAL;
	}
	rc = parse(s, root, err, err_len);
	json_decref(root);
	return rc;
}

/* The fleet of a simulator started without --scenario (meshfleetd's dongle = sim). The same text as
 * example-scenario.json, which tests/unit/test_scenario.c checks. */
static const char BUILTIN[] =
	"{\n"
	"  \"description\": \"Demo fleet: three lamps, a sensor two relays away, a flaky switch\",\n"
	"  \"hop_delay_ms\": 30,\n"
	"  \"nodes\": [\n"
	"    { \"name\": \"lamp-hall\", \"address\": \"0x0100\",\n"
	"      \"uuid\": \"6d657368-666c-6565-7400-000000000100\",\n"
	"      \"company_id\": \"0x0059\", \"product_id\": \"0x0001\", \"version_id\": \"0x0102\",\n"
	"      \"fwid\": \"590001020000\", \"hops\": 1 },\n"
	"    { \"name\": \"lamp-kitchen\", \"address\": \"0x0102\", \"elements\": 2,\n"
	"      \"uuid\": \"6d657368-666c-6565-7400-000000000102\",\n"
	"      \"company_id\": \"0x0059\", \"product_id\": \"0x0001\", \"version_id\": \"0x0102\",\n"
	"      \"fwid\": \"590001020000\", \"hops\": 1 },\n"
	"    { \"name\": \"lamp-garden\", \"address\": \"0x0104\",\n"
	"      \"uuid\": \"6d657368-666c-6565-7400-000000000104\",\n"
	"      \"company_id\": \"0x0059\", \"product_id\": \"0x0001\", \"version_id\": \"0x0101\",\n"
	"      \"fwid\": \"590001010003\", \"hops\": 2 },\n"
	"    { \"name\": \"sensor-attic\", \"address\": \"0x0200\",\n"
	"      \"uuid\": \"6d657368-666c-6565-7400-000000000200\",\n"
	"      \"company_id\": \"0x0059\", \"product_id\": \"0x0002\", \"version_id\": \"0x0200\",\n"
	"      \"fwid\": \"5900020000\", \"hops\": 3 },\n"
	"    { \"name\": \"switch-garage\", \"address\": \"0x0300\",\n"
	"      \"uuid\": \"6d657368-666c-6565-7400-000000000300\",\n"
	"      \"company_id\": \"0x0059\", \"product_id\": \"0x0003\", \"version_id\": \"0x0001\",\n"
	"      \"fwid\": \"59000300\", \"hops\": 2, \"loss_rate\": 0.3 }\n"
	"  ]\n"
	"}\n";

void scenario_init(struct scenario *s)
{
	*s = (struct scenario){ .hop_delay_ms = SCENARIO_HOP_DELAY_DEFAULT };
	radio_params_zephyr_default(&s->radio);
	bench_defaults(&s->bench);
}

int scenario_load_file(struct scenario *s, const char *path, char *err, size_t err_len)
{
	json_error_t jerr;
	FILE *f = fopen(path, "re");
	json_t *root;

	if (!f) {
		int e = errno;

		snprintf(err, err_len, "cannot open: %s", strerror(e));
		return -e;
	}
	root = json_loadf(f, JSON_REJECT_DUPLICATES, &jerr);
	fclose(f);
	return load(s, root, &jerr, err, err_len);
}

int scenario_load_string(struct scenario *s, const char *json, char *err, size_t err_len)
{
	json_error_t jerr;

	return load(s, json_loads(json, JSON_REJECT_DUPLICATES, &jerr), &jerr, err, err_len);
}

int scenario_load_builtin(struct scenario *s, char *err, size_t err_len)
{
	return scenario_load_string(s, BUILTIN, err, err_len);
}

const char *scenario_builtin_json(void)
{
	return BUILTIN;
}

void scenario_done(struct scenario *s)
{
	free(s->nodes);
	scenario_init(s);
}

const struct scenario_node *scenario_find(const struct scenario *s, uint16_t address)
{
	for (size_t i = 0; i < s->node_count; i++)
		if (s->nodes[i].address == address)
			return &s->nodes[i];
	return NULL;
}

void scenario_default_device_key(const uint8_t uuid[16], uint8_t ret[SCENARIO_KEY_SIZE])
{
	static const char LABEL[] = "meshfleet-sim device key";
	uint8_t digest[SHA256_DIGEST_SIZE];
	struct sha256 h;

	sha256_init(&h);
	sha256_update(&h, (const uint8_t *)LABEL, sizeof(LABEL) - 1);
	sha256_update(&h, uuid, 16);
	sha256_final(&h, digest);
	memcpy(ret, digest, SCENARIO_KEY_SIZE);
}

static void add_model(struct scenario_node *n, uint8_t element, uint32_t id)
{
	if (n->n_models < SCENARIO_MODELS_MAX)
		n->models[n->n_models++] = (struct scenario_model){ .id = id, .element = element };
}

void scenario_default_composition(struct scenario_node *n, bool dfu)
{
	n->n_models = 0;
	memset(n->locations, 0, sizeof(n->locations));
	add_model(n, 0, MA_MODEL_CFG_SRV);
	add_model(n, 0, MA_MODEL_HEALTH_SRV);
	if (dfu) {
		add_model(n, 0, MA_MODEL_BLOB_SRV);
		add_model(n, 0, MA_MODEL_DFU_SRV);
	}
	for (unsigned e = 0; e < n->elements; e++)
		add_model(n, (uint8_t)e, SCENARIO_MODEL_ONOFF_SERVER);
}

void scenario_bind_all(struct scenario_node *n)
{
	for (size_t i = 0; i < n->n_models; i++) {
		struct scenario_model *m = &n->models[i];

		m->n_bindings = 0;
		if (!m->vendor && (m->id == MA_MODEL_CFG_SRV || m->id == MA_MODEL_CFG_CLI))
			continue;
		for (size_t k = 0; k < n->n_app_keys && m->n_bindings < SCENARIO_BINDINGS_MAX; k++)
			m->bindings[m->n_bindings++] = n->app_keys[k].index;
	}
}

struct scenario_model *scenario_node_model(struct scenario_node *n, uint8_t element, uint32_t id, bool vendor)
{
	for (size_t i = 0; i < n->n_models; i++)
		if (n->models[i].element == element && n->models[i].id == id && n->models[i].vendor == vendor)
			return &n->models[i];
	return NULL;
}

void scenario_target_defaults(struct scenario_node *n)
{
	n->target = (struct scenario_target){
		.rx_seg_max = SCENARIO_RX_SEG_MAX_DEFAULT,
		.block_size_log_min = SCENARIO_BLOCK_LOG_DEFAULT,
		.block_size_log_max = SCENARIO_BLOCK_LOG_DEFAULT,
		.modes = MB_MODES_PUSH | MB_MODES_PULL,
		.chunk_count_max = SCENARIO_CHUNK_COUNT_DEFAULT,
		.blob_size_max = SCENARIO_BLOB_SIZE_DEFAULT,
		.processing_ms = SCENARIO_PROCESSING_DEFAULT,
		.verify_ms = SCENARIO_VERIFY_DEFAULT,
		.reboot_ms = SCENARIO_REBOOT_DEFAULT,
		.friend_queue = SCENARIO_FRIEND_QUEUE_DEFAULT,
		.poll_interval_ms = SCENARIO_POLL_INTERVAL_DEFAULT,
	};
	n->faults = (struct scenario_faults){ .silent_at = SCENARIO_PERCENT_OFF, .reboots_at = SCENARIO_PERCENT_OFF };
}

bool scenario_node_dfu_capable(const struct scenario_node *n)
{
	bool update = false, blob = false;

	for (size_t i = 0; i < n->n_models; i++) {
		const struct scenario_model *m = &n->models[i];

		update |= m->element == 0 && !m->vendor && m->id == MA_MODEL_DFU_SRV;
		blob |= m->element == 0 && !m->vendor && m->id == MA_MODEL_BLOB_SRV;
	}
	return update && blob;
}

size_t scenario_composition_size(const struct scenario_node *n)
{
	size_t size = 10 + 4u * n->elements;   /* CID, PID, VID, CRPL, features; per element Loc, NumS, NumV */

	for (size_t i = 0; i < n->n_models; i++)
		size += n->models[i].vendor ? 4 : 2;
	return size;
}
