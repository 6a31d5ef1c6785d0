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

#include "scenario.h"

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

/* One node; its fields in any order, unknown ones refused (a typo must not silently become a default). */
static int get_node(struct check *c, size_t index, const json_t *obj, struct scenario_node *n)
{
	static const char *const required[] = { "address", "uuid", "fwid" };
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
	*n = (struct scenario_node){ .elements = 1, .company_id = SCENARIO_COMPANY_DEFAULT, .hops = 1 };

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
		} else {
			err = refuse(c, "unknown field (known: name, address, elements, uuid, company_id, product_id, "
				     "version_id, fwid, hops, loss_rate)");
		}
		if (err)
			return err;
	}
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

static int parse(struct scenario *s, const json_t *root, char *err, size_t err_len)
{
	struct check c = { .err = err, .err_len = err_len, .path = "$" };
	struct scenario next = { .hop_delay_ms = SCENARIO_HOP_DELAY_DEFAULT };
	const json_t *nodes = NULL;
	unsigned long u;
	const char *key;
	json_t *v;
	int rc;

	if (!json_is_object(root))
		return refuse(&c, "must be an object with \"nodes\"");
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
		} else {
			return refuse(&c, "unknown field (known: description, hop_delay_ms, nodes)");
		}
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
		if ((rc = get_node(&c, i, json_array_get(nodes, i), &next.nodes[i])) != 0)
			goto fail;
	if ((rc = check_unique(&c, next.nodes, next.node_count)) != 0)
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
