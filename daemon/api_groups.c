/* api_groups: POST, DELETE and GET /api/v1/groups/{addr}/members: the group subscriptions of groups.h. See api.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "groups.h"
#include "jsonbody.h"
#include "nodes.h"
#include "util.h"

#define MEMBERS_LIST_DEFAULT 1000

/* The nodes a request names: owned addresses, or every member of the group (DELETE without a body). */
struct selection {
	uint16_t *nodes;
	size_t n, cap;
	bool all;
};

static int group_param(const struct http_request *req, uint16_t *ret, struct http_response *res)
{
	uint64_t v;

	if (parse_uint(req->params[0], GROUPS_ADDRESS_MIN, GROUPS_ADDRESS_MAX, &v) < 0) {
		http_reply_error(res, 400, "invalid_address", "'%s' is not a group address: expected 0xC000..0xFEFF "
				 "(49152..65279)", req->params[0]);
		return -EINVAL;
	}
	*ret = (uint16_t)v;
	return 0;
}

static int selection_add(struct selection *sel, uint16_t address)
{
	if (sel->n == sel->cap) {
		size_t cap = sel->cap ? 2 * sel->cap : 64;
		uint16_t *p = realloc(sel->nodes, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		sel->nodes = p;
		sel->cap = cap;
	}
	sel->nodes[sel->n++] = address;
	return 0;
}

/* An address, or a 16-bit id, given as a JSON integer or as a decimal or "0x..." string. */
static int json_uint(json_t *value, uint64_t min, uint64_t max, uint64_t *ret)
{
	if (json_is_integer(value)) {
		json_int_t v = json_integer_value(value);

		if (v < (json_int_t)min || v > (json_int_t)max)
			return -ERANGE;
		*ret = (uint64_t)v;
		return 0;
	}
	if (json_is_string(value))
		return parse_uint(json_string_value(value), min, max, ret);
	return -EINVAL;
}

static int parse_nodes(json_t *list, struct selection *sel, struct http_response *res)
{
	uint8_t seen[(MESH_UNICAST_MAX + 1) / 8] = { 0 };
	json_t *value;
	size_t i;

	if (!json_is_array(list) || json_array_size(list) == 0 || json_array_size(list) > GROUPS_NODES_MAX) {
		http_reply_error(res, 400, "invalid_field", "nodes: expected an array of 1 to %d node addresses",
				 GROUPS_NODES_MAX);
		return -EINVAL;
	}
	json_array_foreach(list, i, value) {
		uint64_t v;

		if (json_uint(value, MESH_UNICAST_MIN, MESH_UNICAST_MAX, &v) < 0) {
			http_reply_error(res, 400, "invalid_field", "nodes[%zu]: expected a unicast address 1..32767 "
					 "(an integer, or a decimal or 0x-hex string)", i);
			return -EINVAL;
		}
		if (seen[v / 8] & (1u << (v % 8))) {
			http_reply_error(res, 400, "invalid_field", "nodes[%zu]: 0x%04x repeats an earlier entry", i,
					 (unsigned)v);
			return -EINVAL;
		}
		seen[v / 8] |= (uint8_t)(1u << (v % 8));
		if (selection_add(sel, (uint16_t)v) < 0) {
			http_reply_error(res, 500, "internal_error", "out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}

/* The filter of GET /api/v1/nodes, as a JSON object. @filter borrows strings of @obj. */
static int parse_filter(json_t *obj, struct node_filter *filter, struct http_response *res)
{
	const char *key;
	json_t *value;

	node_filter_init(filter);
	if (!json_is_object(obj)) {
		http_reply_error(res, 400, "invalid_field", "filter: expected an object (firmware_id, company_id, "
				 "product_id, tag)");
		return -EINVAL;
	}
	json_object_foreach(obj, key, value) {
		uint64_t v;

		if (strcmp(key, "company_id") == 0 || strcmp(key, "product_id") == 0) {
			if (json_uint(value, 0, 0xffff, &v) < 0) {
				http_reply_error(res, 400, "invalid_field", "filter.%s: expected an integer 0..65535 "
						 "(or a decimal or 0x-hex string)", key);
				return -EINVAL;
			}
			if (key[0] == 'c')
				filter->company_id = (int32_t)v;
			else
				filter->product_id = (int32_t)v;
		} else if (strcmp(key, "firmware_id") == 0) {
			const char *s = json_is_string(value) ? json_string_value(value) : NULL;
			size_t n = s ? strlen(s) : 0;

			if (!s || n % 2 || n < 2 * NODE_FWID_MIN || n > 2 * NODE_FWID_MAX ||
			    hex_decode(s, n, filter->firmware_id) < 0) {
				http_reply_error(res, 400, "invalid_field", "filter.firmware_id: expected %d to %d hex "
						 "digits", 2 * NODE_FWID_MIN, 2 * NODE_FWID_MAX);
				return -EINVAL;
			}
			filter->firmware_id_len = n / 2;
		} else if (strcmp(key, "tag") == 0) {
			if (!json_is_string(value) || !node_tag_valid(json_string_value(value))) {
				http_reply_error(res, 400, "invalid_field", "filter.tag: a tag is 1 to %d characters from "
						 "A-Z a-z 0-9 _ . : -", NODE_TAG_MAX);
				return -EINVAL;
			}
			filter->tag = json_string_value(value);
		} else {
			http_reply_error(res, 400, "unknown_field", "filter.%.40s: unknown field (known: firmware_id, "
					 "company_id, product_id, tag)", key);
			return -EINVAL;
		}
	}
	return 0;
}

static int collect_one(const struct node *node, void *userdata)
{
	struct selection *sel = userdata;

	if (sel->n == GROUPS_NODES_MAX)
		return -E2BIG;
	return selection_add(sel, node->address);
}

static int select_by_filter(struct api *api, const struct node_filter *filter, struct selection *sel,
			    struct http_response *res)
{
	bool more = true;
	int r = 0;

	while (more && r == 0)
		r = nodes_list(api->db, filter, sel->n ? sel->nodes[sel->n - 1] : 0, NODES_LIST_MAX, collect_one, sel,
			       &more);
	if (r == -ENOMEM)
		http_reply_error(res, 500, "internal_error", "out of memory");
	else if (r < 0)
		api_reply_db_error(res, r);
	else if (sel->n == 0)
		http_reply_error(res, 404, "not_found", "filter: no node matches it");
	return r < 0 ? r : sel->n == 0 ? -ENOENT : 0;
}

/* Reads {"nodes": [...]} or {"filter": {...}}; without a body (allowed for DELETE), every member. Answers an
 * error itself and returns < 0 when the request goes no further. */
static int parse_selection(struct api *api, const struct http_request *req, bool body_optional,
			   struct selection *sel, struct http_response *res)
{
	struct node_filter filter;
	json_t *json, *nodes, *filter_json;
	const char *key;
	json_t *value;
	char reason[256];
	int r = -EINVAL;

	if (req->body_len == 0) {
		if (body_optional) {
			sel->all = true;
			return 0;
		}
		http_reply_error(res, 400, "missing_field", "body: expected {\"nodes\": [addresses]} or "
				 "{\"filter\": {...}}");
		return -EINVAL;
	}
	if (jsonbody_parse(req->body, req->body_len, &json, reason, sizeof(reason)) < 0) {
		http_reply_error(res, 400, "invalid_json", "%s", reason);
		return -EINVAL;
	}
	if (!json_is_object(json)) {
		http_reply_error(res, 400, "invalid_field", "body: expected an object with \"nodes\" or \"filter\"");
		goto out;
	}
	json_object_foreach(json, key, value) {
		if (strcmp(key, "nodes") != 0 && strcmp(key, "filter") != 0) {
			http_reply_error(res, 400, "unknown_field", "%.40s: unknown field (known: nodes, filter)", key);
			goto out;
		}
	}
	nodes = json_object_get(json, "nodes");
	filter_json = json_object_get(json, "filter");
	if (nodes && filter_json) {
		http_reply_error(res, 400, "invalid_field", "body: give \"nodes\" or \"filter\", not both");
		goto out;
	}
	if (!nodes && !filter_json) {
		http_reply_error(res, 400, "missing_field", "body: \"nodes\" (an array of node addresses) or "
				 "\"filter\" (an object) is required");
		goto out;
	}
	if (nodes) {
		r = parse_nodes(nodes, sel, res);
	} else {
		r = parse_filter(filter_json, &filter, res);
		if (r == 0)
			r = select_by_filter(api, &filter, sel, res);
	}
out:
	json_decref(json);
	return r;
}

static void start(struct api *api, enum groups_action action, const struct http_request *req,
		  struct http_response *res)
{
	struct selection sel = { 0 };
	size_t unknown = 0;
	uint16_t group;
	int r;

	if (group_param(req, &group, res) < 0)
		return;
	if (parse_selection(api, req, action == GROUPS_REMOVE, &sel, res) < 0)
		goto out;
	if (!api->groups) {
		http_reply_error(res, 503, "dongle_unavailable", "no dongle is configured: nodes can only be "
				 "configured through one (set 'dongle' in the configuration)");
		goto out;
	}
	/* Before the nodes: without a network there are none, and "no network imported" is the useful answer. */
	if (!mesh_client_ready(api->mesh)) {
		http_reply_error(res, 503, "mesh_unavailable", "the mesh cannot be reached now: %s",
				 mesh_client_why_not_ready(api->mesh));
		goto out;
	}
	r = groups_find_unknown(api->db, sel.nodes, sel.n, &unknown);
	if (r == -ENOENT) {
		http_reply_error(res, 404, "not_found", "nodes[%zu]: no node with address 0x%04x", unknown,
				 sel.nodes[unknown]);
		goto out;
	}
	if (r < 0) {
		api_reply_db_error(res, r);
		goto out;
	}
	r = groups_start(api->groups, action, group, sel.all ? NULL : sel.nodes, sel.n);
	switch (r) {
	case 0:
		http_reply_json(res, 202, groups_job_to_json(api->groups));
		if (res->status == 202)         /* a reply replaces the whole response: the header goes after it */
			snprintf(res->location, sizeof(res->location), "/api/v1/groups/0x%04x/members", group);
		break;
	case -EBUSY:
		http_reply_error(res, 409, "group_job_running", "a group job is running on 0x%04x: follow it with "
				 "GET /api/v1/groups/0x%04x/members and ask again when it is done",
				 groups_job_group(api->groups), groups_job_group(api->groups));
		break;
	case -ENOTCONN:
		http_reply_error(res, 503, "mesh_unavailable", "the mesh cannot be reached now: %s",
				 mesh_client_why_not_ready(api->mesh));
		break;
	case -E2BIG:
		http_reply_error(res, 400, "invalid_field", "nodes: more than %d nodes", GROUPS_NODES_MAX);
		break;
	case -ENOMEM:
		http_reply_error(res, 500, "internal_error", "out of memory");
		break;
	default:
		api_reply_db_error(res, r);
		break;
	}
out:
	free(sel.nodes);
}

void api_group_members_add(void *app, const struct http_request *req, struct http_response *res)
{
	start(app, GROUPS_ADD, req, res);
}

void api_group_members_remove(void *app, const struct http_request *req, struct http_response *res)
{
	start(app, GROUPS_REMOVE, req, res);
}

static int member_json(const struct groups_member *m, void *userdata)
{
	json_t *list = userdata;
	char updated[21];
	json_t *o;

	time_format_rfc3339(m->updated_at, updated);
	o = json_pack("{s:i, s:s, s:{s:b, s:b}, s:s}", "address", m->address,
		      "state", groups_member_state_to_string(m->state),
		      "subscribed", "firmware_update_server", m->fu_subscribed, "blob_transfer_server",
		      m->blob_subscribed, "updated_at", updated);
	if (!o)
		return -ENOMEM;
	json_object_set_new(o, "element", m->element < 0 ? json_null() : json_integer(m->element));
	json_object_set_new(o, "reason", m->reason[0] ? json_string(m->reason) : json_null());
	return json_array_append_new(list, o) == 0 ? 0 : -ENOMEM;
}

void api_group_members_get(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	const char *cursor = http_query(req, "cursor");
	uint64_t limit = MEMBERS_LIST_DEFAULT;
	uint16_t group, after = 0, last = 0;
	json_t *o, *list;
	bool more = false;
	int r;

	if (group_param(req, &group, res) < 0)
		return;
	if (api_query_uint(req, "limit", 1, GROUPS_MEMBERS_LIST_MAX, &limit, NULL, res) < 0)
		return;
	if (cursor) {
		/* "m" + the last address returned, in hex; clients treat it as opaque */
		uint8_t raw[2];

		if (strlen(cursor) != 5 || cursor[0] != 'm' || hex_decode(cursor + 1, 4, raw) < 0) {
			http_reply_error(res, 400, "invalid_parameter", "cursor='%s' is not a cursor this server "
					 "returned", cursor);
			return;
		}
		after = (uint16_t)(raw[0] << 8 | raw[1]);
	}
	list = json_array();
	if (!list) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	}
	r = groups_members_list(api->db, group, after, (unsigned)limit, member_json, list, &more);
	if (r < 0) {
		json_decref(list);
		api_reply_list_error(res, r);
		return;
	}
	if (more)
		last = (uint16_t)json_integer_value(json_object_get(json_array_get(list, json_array_size(list) - 1),
								    "address"));
	o = json_pack("{s:i, s:o}", "group", group, "members", list);
	if (!o) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	}
	if (more) {
		char next[8];

		snprintf(next, sizeof(next), "m%04x", last);
		json_object_set_new(o, "next_cursor", json_string(next));
	} else {
		json_object_set_new(o, "next_cursor", json_null());
	}
	/* The running or last job, when it was about this group. */
	json_object_set_new(o, "job", api->groups && groups_job_group(api->groups) == group ?
			    groups_job_to_json(api->groups) : json_null());
	http_reply_json(res, 200, o);
}
