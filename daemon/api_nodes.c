/* api_nodes: /api/v1/nodes and /api/v1/nodes/{addr}: JSON in and out of struct node. See api.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "jsonbody.h"
#include "nodes.h"
#include "util.h"

#define NODES_LIST_DEFAULT 100
#define RESPONSE_MAX_BYTES (4u << 20)     /* 1000 nodes with every field at its longest fit */

static void write_optional_id(struct strbuf *out, const char *key, size_t key_len, int32_t v)
{
	strbuf_append(out, key, key_len);
	if (v == NODE_ID_UNKNOWN)
		strbuf_append(out, "null", 4);
	else
		strbuf_append_uint(out, (uint64_t)v);
}

static void write_optional_time(struct strbuf *out, const char *key, size_t key_len, int64_t ms)
{
	char *p;

	strbuf_append(out, key, key_len);
	if (!ms) {
		strbuf_append(out, "null", 4);
		return;
	}
	p = strbuf_tail(out, 22);
	if (!p)
		return;
	p[0] = '"';
	time_format_rfc3339(ms, p + 1);
	p[21] = '"';
}

static void write_tristate(struct strbuf *out, const char *key, size_t key_len, int8_t v)
{
	strbuf_append(out, key, key_len);
	if (v < 0)
		strbuf_append(out, "null", 4);
	else if (v)
		strbuf_append(out, "true", 4);
	else
		strbuf_append(out, "false", 5);
}

static void write_hex(struct strbuf *out, const uint8_t *data, size_t len)
{
	char *p = strbuf_tail(out, 2 * len + 2);

	if (!p)
		return;
	p[0] = '"';
	hex_encode(data, len, p + 1);
	p[2 * len + 1] = '"';
}

#define KEY(s) s, sizeof(s) - 1

/* Writes @node as a JSON object. The API's node representation is defined here and nowhere else. Lists of
 * thousands of nodes are written straight into the response buffer, without a JSON tree in between. */
static void node_write_json(struct strbuf *out, const struct node *node, const struct node_image *images,
			    size_t n_images)
{
	strbuf_append(out, KEY("{\"address\":"));
	strbuf_append_uint(out, node->address);
	strbuf_append(out, KEY(",\"uuid\":"));
	if (node->has_uuid)
		write_hex(out, node->uuid, sizeof(node->uuid));
	else
		strbuf_append(out, "null", 4);
	strbuf_append(out, ",\"name\":", 8);
	strbuf_json_string(out, node->name);
	write_optional_id(out, KEY(",\"company_id\":"), node->company_id);
	write_optional_id(out, KEY(",\"product_id\":"), node->product_id);
	write_optional_id(out, KEY(",\"version_id\":"), node->version_id);
	strbuf_append(out, KEY(",\"firmware_id\":"));
	if (node->firmware_id_len)
		write_hex(out, node->firmware_id, node->firmware_id_len);
	else
		strbuf_append(out, "null", 4);
	strbuf_append(out, ",\"tags\":[", 9);
	for (size_t i = 0; i < node->n_tags; i++) {
		if (i)
			strbuf_append(out, ",", 1);
		strbuf_json_string(out, node->tags[i]);
	}
	strbuf_append(out, "]", 1);
	strbuf_append(out, KEY(",\"elements\":"));
	if (node->elements)
		strbuf_append_uint(out, node->elements);
	else
		strbuf_append(out, "null", 4);
	strbuf_append(out, KEY(",\"provisioned\":"));
	strbuf_append(out, node->provisioned ? "true" : "false", node->provisioned ? 4 : 5);
	write_tristate(out, KEY(",\"dfu_capable\":"), node->dfu_capable);
	write_tristate(out, KEY(",\"reachable\":"), node->reachable);
	strbuf_append(out, KEY(",\"hops\":"));
	if (node->hops)
		strbuf_append_uint(out, node->hops);
	else
		strbuf_append(out, "null", 4);
	write_optional_time(out, KEY(",\"last_seen\":"), node->last_seen);
	write_optional_time(out, KEY(",\"created_at\":"), node->created_at);
	write_optional_time(out, KEY(",\"updated_at\":"), node->updated_at);
	if (images) {   /* a single node's details */
		strbuf_append(out, KEY(",\"images\":["));
		for (size_t i = 0; i < n_images; i++) {
			strbuf_append(out, i ? ",{\"index\":" : "{\"index\":", i ? 10 : 9);
			strbuf_append_uint(out, images[i].index);
			strbuf_append(out, KEY(",\"firmware_id\":"));
			write_hex(out, images[i].firmware_id, images[i].firmware_id_len);
			strbuf_append(out, KEY(",\"update_uri\":"));
			if (images[i].update_uri[0])
				strbuf_json_string(out, images[i].update_uri);
			else
				strbuf_append(out, "null", 4);
			strbuf_append(out, "}", 1);
		}
		strbuf_append(out, "]", 1);
	}
	strbuf_append(out, "}", 1);
}

/* Sends what @out holds (taking it over) as a JSON response. */
static void reply_buffer(struct http_response *res, unsigned status, struct strbuf *out)
{
	size_t len;
	char *text = strbuf_steal(out, &len);

	if (!text)
		http_reply_error(res, 500, "internal_error", "the response does not fit in memory");
	else
		http_reply_text(res, status, "application/json", text, len);
}

/* A 16-bit id given as a JSON integer or as a "0x..." / decimal string. */
static int parse_id(json_t *value, const char *path, uint64_t min, uint64_t max, uint64_t *ret,
		    struct api_input_error *err)
{
	if (json_is_integer(value)) {
		json_int_t v = json_integer_value(value);

		if (v < (json_int_t)min || v > (json_int_t)max)
			return api_input_fail(err, "invalid_field", path, "%lld is out of range %llu..%llu",
					      (long long)v, (unsigned long long)min, (unsigned long long)max);
		*ret = (uint64_t)v;
		return 0;
	}
	if (json_is_string(value)) {
		int r = parse_uint(json_string_value(value), min, max, ret);

		if (r == -ERANGE)
			return api_input_fail(err, "invalid_field", path, "'%s' is out of range %llu..%llu",
					      json_string_value(value), (unsigned long long)min, (unsigned long long)max);
		if (r < 0)
			return api_input_fail(err, "invalid_field", path, "'%s' is not a number (decimal or 0x-hex)",
					      json_string_value(value));
		return 0;
	}
	return api_input_fail(err, "invalid_field", path, "expected an integer");
}

/* UUIDs come as 32 hex digits, or in the 8-4-4-4-12 form with dashes. */
static int parse_uuid(const char *text, uint8_t out[16])
{
	char plain[33];
	size_t n = 0;

	for (const char *p = text; *p; p++) {
		size_t at = (size_t)(p - text);

		if (*p == '-' && strlen(text) == 36 && (at == 8 || at == 13 || at == 18 || at == 23))
			continue;
		if (n == 32)
			return -EINVAL;
		plain[n++] = *p;
	}
	if (n != 32)
		return -EINVAL;
	return hex_decode(plain, 32, out);
}

static int set_optional_id(json_t *value, const char *path, int32_t *field, struct api_input_error *err)
{
	uint64_t v;
	int r;

	if (json_is_null(value)) {
		*field = NODE_ID_UNKNOWN;
		return 0;
	}
	r = parse_id(value, path, 0, 0xffff, &v, err);
	if (r == 0)
		*field = (int32_t)v;
	return r;
}

/* Applies the members of @obj to @node. @create: the body of a POST (address allowed and required). */
static int node_apply_json(json_t *obj, const char *prefix, bool create, struct node *node, struct api_input_error *err)
{
	bool have_address = false;
	const char *key;
	json_t *value;
	char path[96];

	if (!json_is_object(obj))
		return api_input_fail(err, "invalid_field", prefix[0] ? prefix : "body", "expected a node object");
	json_object_foreach(obj, key, value) {
		int r = 0;

		snprintf(path, sizeof(path), "%s%s%.40s", prefix, prefix[0] ? "." : "", key);
		if (strcmp(key, "address") == 0) {
			uint64_t v;

			if (!create)
				return api_input_fail(err, "invalid_field", path, "is read-only (delete and register the "
						      "node again to change it)");
			r = parse_id(value, path, MESH_UNICAST_MIN, MESH_UNICAST_MAX, &v, err);
			if (r == 0) {
				node->address = (uint16_t)v;
				have_address = true;
			}
		} else if (strcmp(key, "uuid") == 0) {
			if (json_is_null(value))
				node->has_uuid = false;
			else if (!json_is_string(value) || parse_uuid(json_string_value(value), node->uuid) < 0)
				r = api_input_fail(err, "invalid_field", path, "expected 32 hex digits (dashes allowed in "
						   "the 8-4-4-4-12 form) or null");
			else
				node->has_uuid = true;
		} else if (strcmp(key, "name") == 0) {
			const char *s = json_is_string(value) ? json_string_value(value) : "";

			if (!json_is_string(value) && !json_is_null(value))
				r = api_input_fail(err, "invalid_field", path, "expected a string or null");
			else if (strlen(s) > NODE_NAME_MAX)
				r = api_input_fail(err, "invalid_field", path, "longer than %d bytes", NODE_NAME_MAX);
			else if (strpbrk(s, "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11"
					    "\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\x7f"))
				r = api_input_fail(err, "invalid_field", path, "contains a control character");
			else
				snprintf(node->name, sizeof(node->name), "%s", s);
		} else if (strcmp(key, "company_id") == 0) {
			r = set_optional_id(value, path, &node->company_id, err);
		} else if (strcmp(key, "product_id") == 0) {
			r = set_optional_id(value, path, &node->product_id, err);
		} else if (strcmp(key, "version_id") == 0) {
			r = set_optional_id(value, path, &node->version_id, err);
		} else if (strcmp(key, "firmware_id") == 0) {
			const char *s = json_is_string(value) ? json_string_value(value) : NULL;
			size_t n = s ? strlen(s) : 0;

			if (json_is_null(value))
				node->firmware_id_len = 0;
			else if (!s || n % 2 || n < 2 * NODE_FWID_MIN || n > 2 * NODE_FWID_MAX ||
				 hex_decode(s, n, node->firmware_id) < 0)
				r = api_input_fail(err, "invalid_field", path, "expected %d to %d hex digits (company id "
						   "and version information) or null", 2 * NODE_FWID_MIN,
						   2 * NODE_FWID_MAX);
			else
				node->firmware_id_len = n / 2;
		} else if (strcmp(key, "tags") == 0) {
			size_t i;
			json_t *tag;

			if (!json_is_array(value))
				return api_input_fail(err, "invalid_field", path, "expected an array of strings");
			node->n_tags = 0;
			json_array_foreach(value, i, tag) {
				int t = json_is_string(tag) ? node_tag_add(node, json_string_value(tag)) : -EINVAL;

				if (t == -E2BIG)
					return api_input_fail(err, "invalid_field", path, "more than %d tags",
							      NODE_TAGS_MAX);
				if (t < 0)
					return api_input_fail(err, "invalid_field", path, "element %zu: a tag is 1 to %d "
							      "characters from A-Z a-z 0-9 _ . : -", i, NODE_TAG_MAX);
			}
		} else if (strcmp(key, "last_seen") == 0 || strcmp(key, "created_at") == 0 ||
			   strcmp(key, "updated_at") == 0 || strcmp(key, "elements") == 0 ||
			   strcmp(key, "provisioned") == 0 || strcmp(key, "dfu_capable") == 0 ||
			   strcmp(key, "reachable") == 0 || strcmp(key, "hops") == 0) {
			r = api_input_fail(err, "invalid_field", path, "is read-only: the daemon sets it");
		} else {
			r = api_input_fail(err, "unknown_field", path, "unknown field (known: address, uuid, name, "
					   "company_id, product_id, version_id, firmware_id, tags)");
		}
		if (r < 0)
			return r;
	}
	if (create && !have_address)
		return api_input_fail(err, "missing_field", prefix[0] ? prefix : "body",
				      "'address' is required (the node's primary unicast address, 1..32767)");
	return 0;
}

static int parse_body(const struct http_request *req, json_t **ret_json, struct http_response *res)
{
	char reason[256];

	if (jsonbody_parse(req->body, req->body_len, ret_json, reason, sizeof(reason)) < 0) {
		http_reply_error(res, 400, "invalid_json", "%s", reason);
		return -EINVAL;
	}
	return 0;
}

static int address_param(const struct http_request *req, uint16_t *ret, struct http_response *res)
{
	if (parse_unicast(req->params[0], ret) < 0) {
		http_reply_error(res, 400, "invalid_address", "'%s' is not a unicast address: expected 1..32767 "
				 "in decimal or 0x0001..0x7fff in hex", req->params[0]);
		return -EINVAL;
	}
	return 0;
}

struct list_state {
	struct strbuf out;
	uint16_t last;
	unsigned n;
};

static int list_one(const struct node *node, void *userdata)
{
	struct list_state *st = userdata;

	if (st->n++)
		strbuf_append(&st->out, ",", 1);
	node_write_json(&st->out, node, NULL, 0);
	st->last = node->address;
	return st->out.failed ? -ENOMEM : 0;
}

/* The filter query parameters shared by the list and the refresh. Returns 0, or -EINVAL after answering 400. */
static int query_filter(const struct http_request *req, struct node_filter *filter, struct http_response *res)
{
	const char *text;
	uint64_t v;
	bool given;

	node_filter_init(filter);
	if (api_query_uint(req, "company_id", 0, 0xffff, &v, &given, res) < 0)
		return -EINVAL;
	if (given)
		filter->company_id = (int32_t)v;
	if (api_query_uint(req, "product_id", 0, 0xffff, &v, &given, res) < 0)
		return -EINVAL;
	if (given)
		filter->product_id = (int32_t)v;
	text = http_query(req, "firmware_id");
	if (text) {
		size_t n = strlen(text);

		if (n % 2 || n < 2 * NODE_FWID_MIN || n > 2 * NODE_FWID_MAX ||
		    hex_decode(text, n, filter->firmware_id) < 0) {
			http_reply_error(res, 400, "invalid_parameter", "firmware_id='%s': expected %d to %d hex "
					 "digits", text, 2 * NODE_FWID_MIN, 2 * NODE_FWID_MAX);
			return -EINVAL;
		}
		filter->firmware_id_len = n / 2;
	}
	filter->tag = http_query(req, "tag");
	if (filter->tag && !node_tag_valid(filter->tag)) {
		http_reply_error(res, 400, "invalid_parameter", "tag='%s': a tag is 1 to %d characters from "
				 "A-Z a-z 0-9 _ . : -", filter->tag, NODE_TAG_MAX);
		return -EINVAL;
	}
	return 0;
}

void api_nodes_list(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct list_state st = { 0 };
	struct node_filter filter;
	uint64_t limit = NODES_LIST_DEFAULT;
	const char *text;
	uint16_t after = 0;
	bool given, more;
	int r;

	if (api_query_uint(req, "limit", 1, NODES_LIST_MAX, &limit, &given, res) < 0)
		return;
	if (query_filter(req, &filter, res) < 0)
		return;
	text = http_query(req, "cursor");
	if (text) {
		/* The cursor is "n" + the last address returned, in hex; clients treat it as opaque. */
		uint8_t raw[2];

		if (strlen(text) != 5 || text[0] != 'n' || hex_decode(text + 1, 4, raw) < 0) {
			http_reply_error(res, 400, "invalid_parameter", "cursor='%s' is not a cursor this server "
					 "returned", text);
			return;
		}
		after = (uint16_t)(raw[0] << 8 | raw[1]);
	}
	strbuf_init(&st.out, RESPONSE_MAX_BYTES);
	strbuf_reserve_total(&st.out, 320 * (size_t)limit);     /* a typical node is 250..300 bytes */
	strbuf_append(&st.out, "{\"nodes\":[", 10);
	r = nodes_list(api->db, &filter, after, (unsigned)limit, list_one, &st, &more);
	if (r < 0) {
		strbuf_done(&st.out);
		api_reply_list_error(res, r);
		return;
	}
	if (more)
		strbuf_printf(&st.out, "],\"next_cursor\":\"n%04x\"}", st.last);
	else
		strbuf_append(&st.out, "],\"next_cursor\":null}", 21);
	reply_buffer(res, 200, &st.out);
}

/* Finds the first repeated address or UUID inside a batch. Returns its index or -1. */
static long batch_duplicate(const struct node *nodes, size_t n, const char **ret_what)
{
	uint8_t *seen = calloc(MESH_UNICAST_MAX + 1, 1);
	long found = -1;

	if (!seen)
		return -1;
	for (size_t i = 0; i < n && found < 0; i++) {
		if (seen[nodes[i].address]++) {
			*ret_what = "address";
			found = (long)i;
		}
		for (size_t j = 0; j < i && found < 0 && nodes[i].has_uuid; j++) {
			if (nodes[j].has_uuid && memcmp(nodes[i].uuid, nodes[j].uuid, 16) == 0) {
				*ret_what = "uuid";
				found = (long)i;
			}
		}
	}
	free(seen);
	return found;
}

static void reply_conflict(struct api *api, const struct node *node, const char *path, struct http_response *res)
{
	struct node existing;

	if (nodes_get(api->db, node->address, &existing) == 0)
		http_reply_error(res, 409, "conflict", "%s: a node with address 0x%04x already exists", path,
				 node->address);
	else
		http_reply_error(res, 409, "conflict", "%s: another node already has this uuid", path);
}

void api_nodes_create(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct api_input_error err = { 0 };
	struct node *nodes = NULL;
	const char *what = NULL;
	size_t n, conflict = 0;
	struct strbuf out;
	json_t *json;
	bool batch;
	long dup;
	int r;

	if (parse_body(req, &json, res) < 0)
		return;
	batch = json_is_array(json);
	n = batch ? json_array_size(json) : 1;
	if (batch && (n == 0 || n > NODES_LIST_MAX)) {
		http_reply_error(res, 400, "invalid_field", "body: expected 1 to %d nodes, got %zu", NODES_LIST_MAX, n);
		goto out;
	}
	nodes = calloc(n, sizeof(*nodes));
	if (!nodes) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		char prefix[16] = "";

		if (batch)
			snprintf(prefix, sizeof(prefix), "nodes[%zu]", i);
		node_init(&nodes[i], 0);
		if (node_apply_json(batch ? json_array_get(json, i) : json, prefix, true, &nodes[i], &err) < 0) {
			http_reply_error(res, 400, err.code, "%s", err.message);
			goto out;
		}
	}
	dup = batch_duplicate(nodes, n, &what);
	if (dup >= 0) {
		http_reply_error(res, 409, "conflict", "nodes[%ld].%s: repeats an earlier node of the same request",
				 dup, what);
		goto out;
	}
	r = nodes_insert(api->db, nodes, n, &conflict);
	if (r == -EEXIST) {
		char path[24] = "body";

		if (batch)
			snprintf(path, sizeof(path), "nodes[%zu]", conflict);
		reply_conflict(api, &nodes[conflict], path, res);
		goto out;
	}
	if (r < 0) {
		api_reply_db_error(res, r);
		goto out;
	}
	strbuf_init(&out, RESPONSE_MAX_BYTES);
	strbuf_append(&out, "{\"nodes\":[", 10);
	for (size_t i = 0; i < n; i++) {
		if (i)
			strbuf_append(&out, ",", 1);
		node_write_json(&out, &nodes[i], NULL, 0);
	}
	strbuf_append(&out, "]}", 2);
	reply_buffer(res, 201, &out);
	if (!batch)
		snprintf(res->location, sizeof(res->location), "/api/v1/nodes/%u", nodes[0].address);
out:
	free(nodes);
	json_decref(json);
}

/* Answers a failed read or write of the node at @address. */
static void reply_node_error(struct http_response *res, int error, uint16_t address)
{
	if (error == -ENOENT)
		http_reply_error(res, 404, "not_found", "no node with address 0x%04x", address);
	else if (error == -EEXIST)
		http_reply_error(res, 409, "conflict", "uuid: another node already has this uuid");
	else
		api_reply_db_error(res, error);
}

/* GET and PATCH of one node answer the node with its details: the firmware images it reported. */
static void reply_node_detail(struct api *api, struct http_response *res, const struct node *node)
{
	struct node_image images[NODE_IMAGES_MAX];
	size_t n_images = 0;
	struct strbuf out;
	int r = nodes_images(api->db, node->address, images, NODE_IMAGES_MAX, &n_images);

	if (r < 0) {
		reply_node_error(res, r, node->address);
		return;
	}
	strbuf_init(&out, RESPONSE_MAX_BYTES);
	node_write_json(&out, node, images, n_images);
	reply_buffer(res, 200, &out);
}

void api_node_get(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct node node;
	uint16_t address;
	int r;

	if (address_param(req, &address, res) < 0)
		return;
	r = nodes_get(api->db, address, &node);
	if (r < 0)
		reply_node_error(res, r, address);
	else
		reply_node_detail(api, res, &node);
}

void api_node_patch(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct api_input_error err = { 0 };
	struct node node;
	uint16_t address;
	json_t *json;
	int r;

	if (address_param(req, &address, res) < 0)
		return;
	if (parse_body(req, &json, res) < 0)
		return;
	r = nodes_get(api->db, address, &node);
	if (r < 0) {
		reply_node_error(res, r, address);
		goto out;
	}
	if (node_apply_json(json, "", false, &node, &err) < 0) {
		http_reply_error(res, 400, err.code, "%s", err.message);
		goto out;
	}
	/* An empty patch changes nothing, not even updated_at. */
	r = json_object_size(json) > 0 ? nodes_update(api->db, &node) : 0;
	if (r < 0)
		reply_node_error(res, r, address);
	else
		reply_node_detail(api, res, &node);
out:
	json_decref(json);
}

void api_node_delete(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	uint16_t address;
	int r;

	if (address_param(req, &address, res) < 0)
		return;
	r = nodes_delete(api->db, address);
	if (r < 0)
		reply_node_error(res, r, address);
	else
		http_reply_text(res, 204, NULL, NULL, 0);
}

/* --- POST/GET/DELETE /api/v1/nodes/refresh --- */

void api_nodes_refresh_start(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct node_filter filter;
	int r;

	if (query_filter(req, &filter, res) < 0)
		return;
	if (!api->discovery) {
		http_reply_error(res, 503, "dongle_unavailable", "no dongle is configured: nodes can only be asked "
				 "through one (set 'dongle' in the configuration)");
		return;
	}
	r = discovery_start(api->discovery, &filter);
	switch (r) {
	case 0:
		http_reply_json(res, 202, discovery_to_json(api->discovery));
		snprintf(res->location, sizeof(res->location), "/api/v1/nodes/refresh");
		break;
	case -EBUSY:
		http_reply_error(res, 409, "refresh_running", "a refresh is running: follow it with GET "
				 "/api/v1/nodes/refresh, or stop it with DELETE");
		break;
	case -ENOTCONN:
		http_reply_error(res, 503, "mesh_unavailable", "the mesh cannot be reached now: %s",
				 mesh_client_why_not_ready(api->mesh));
		break;
	case -ENOENT:
		http_reply_error(res, 404, "not_found", "no node matches the filter");
		break;
	case -ENOMEM:
		http_reply_error(res, 500, "internal_error", "out of memory");
		break;
	default:
		api_reply_db_error(res, r);
		break;
	}
}

void api_nodes_refresh_get(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;

	(void)req;
	if (!api->discovery) {
		http_reply_error(res, 503, "dongle_unavailable", "no dongle is configured");
		return;
	}
	http_reply_json(res, 200, discovery_to_json(api->discovery));
}

void api_nodes_refresh_cancel(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;

	(void)req;
	if (!api->discovery || discovery_cancel(api->discovery) < 0) {
		http_reply_error(res, 404, "not_found", "no refresh is running");
		return;
	}
	http_reply_json(res, 200, discovery_to_json(api->discovery));
}
