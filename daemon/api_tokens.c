/* api_tokens: POST/GET/DELETE /api/v1/tokens (admin role) and the http layer's authenticate callback. See
 * tokens.h and docs/api.md, "Authentication". */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "api.h"
#include "jsonbody.h"
#include "log.h"
#include "tokens.h"
#include "util.h"

int api_authenticate(void *app, const char *token, struct http_principal *ret)
{
	struct api *api = app;
	struct token_info info;
	int r = tokens_authenticate(api->db, token, &info);

	if (r < 0)
		return r;
	ret->id = info.id;
	ret->role = (unsigned)info.role;
	snprintf(ret->name, sizeof(ret->name), "%s", info.name);
	return 0;
}

const char *api_role_name(unsigned role)
{
	return token_role_to_string((enum token_role)role);
}

static json_t *token_json(const struct token_info *info)
{
	char created[21], used[21];

	time_format_rfc3339(info->created_at_ms, created);
	time_format_rfc3339(info->last_used_ms, used);
	return json_pack("{s:I,s:s,s:s,s:s,s:s,s:o}", "id", (json_int_t)info->id, "name", info->name,
			 "role", token_role_to_string(info->role), "created_at", created, "created_by",
			 info->created_by, "last_used", info->last_used_ms ? json_string(used) : json_null());
}

/* Reads {"name", "role"}; false after answering 400. */
static bool parse_create(const struct http_request *req, const char **ret_name, enum token_role *ret_role,
			 json_t **ret_body, struct http_response *res)
{
	const char *key, *name = NULL;
	enum token_role role = 0;
	char reason[256];
	json_t *body, *value;

	if (jsonbody_parse(req->body, req->body_len, &body, reason, sizeof(reason)) < 0) {
		http_reply_error(res, 400, "invalid_json", "%s", reason);
		return false;
	}
	if (!json_is_object(body)) {
		http_reply_error(res, 400, "invalid_field", "body: expected an object {\"name\": ..., \"role\": ...}");
		goto fail;
	}
	json_object_foreach(body, key, value) {
		if (strcmp(key, "name") == 0) {
			name = json_string_value(value);
			if (!name || !token_name_valid(name)) {
				http_reply_error(res, 400, "invalid_field", "name: expected a string of 1 to %d letters, "
						 "digits, '.', '_' or '-'", TOKEN_NAME_MAX);
				goto fail;
			}
		} else if (strcmp(key, "role") == 0) {
			if (!json_is_string(value) || token_role_from_string(json_string_value(value), &role) < 0) {
				http_reply_error(res, 400, "invalid_field", "role: expected \"viewer\", \"operator\" or "
						 "\"admin\"");
				goto fail;
			}
		} else {
			http_reply_error(res, 400, "unknown_field", "%.64s: unknown field (known: name, role)", key);
			goto fail;
		}
	}
	if (!name || !role) {
		http_reply_error(res, 400, "invalid_field", "'%s' is required", !name ? "name" : "role");
		goto fail;
	}
	*ret_name = name;
	*ret_role = role;
	*ret_body = body;
	return true;
fail:
	json_decref(body);
	return false;
}

void api_tokens_create(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	char secret[TOKEN_TEXT_SIZE];
	struct token_info info;
	enum token_role role;
	const char *name;
	json_t *body, *out;
	int r;

	if (!parse_create(req, &name, &role, &body, res))
		return;
	r = tokens_create(api->db, name, role, req->principal.name[0] ? req->principal.name : "api", secret, &info);
	if (r == -EEXIST)
		http_reply_error(res, 409, "conflict", "a token named '%s' exists; choose another name or delete it "
				 "first", name);
	json_decref(body);
	if (r == -EEXIST)
		return;
	if (r < 0) {
		api_reply_db_error(res, r);
		return;
	}
	log_notice("tokens: '%s' created token %" PRId64 " '%s' (%s)", info.created_by, info.id, info.name,
		   token_role_to_string(info.role));
	out = token_json(&info);
	if (out && json_object_set_new(out, "token", json_string(secret)) < 0) {
		json_decref(out);
		out = NULL;
	}
	OPENSSL_cleanse(secret, sizeof(secret));
	http_reply_json(res, 201, out);
}

struct list_state {
	json_t *items;
	int64_t last;
};

static int list_one(const struct token_info *info, void *userdata)
{
	struct list_state *st = userdata;

	st->last = info->id;
	return json_array_append_new(st->items, token_json(info)) < 0 ? -ENOMEM : 0;
}

void api_tokens_list(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	const char *cursor = http_query(req, "cursor");
	struct list_state st = { .items = json_array() };
	uint64_t limit = TOKEN_LIST_DEFAULT, after = 0;
	char next[32];
	bool more = false;
	int r;

	if (!st.items) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	}
	if (api_query_uint(req, "limit", 1, TOKEN_LIST_MAX, &limit, NULL, res) < 0)
		goto out;
	/* The cursor is "t" + the last id returned; clients treat it as opaque. */
	if (cursor && (cursor[0] != 't' || parse_uint(cursor + 1, 1, INT64_MAX, &after) < 0)) {
		http_reply_error(res, 400, "invalid_parameter", "cursor='%s' is not a cursor this server returned",
				 cursor);
		goto out;
	}
	r = tokens_list(api->db, (int64_t)after, (unsigned)limit, list_one, &st, &more);
	if (r < 0) {
		api_reply_list_error(res, r);
		goto out;
	}
	snprintf(next, sizeof(next), "t%" PRId64, st.last);
	http_reply_json(res, 200, json_pack("{s:O,s:o}", "tokens", st.items,
					    "next_cursor", more ? json_string(next) : json_null()));
out:
	json_decref(st.items);
}

void api_tokens_delete(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	uint64_t id;
	int r;

	if (parse_uint(req->params[0], 1, INT64_MAX, &id) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "'%s' is not a token id: expected a positive integer "
				 "(GET /api/v1/tokens lists them)", req->params[0]);
		return;
	}
	r = tokens_delete(api->db, (int64_t)id);
	switch (r) {
	case 0:
		log_notice("tokens: '%s' deleted token %llu", req->principal.name, (unsigned long long)id);
		http_reply_text(res, 204, NULL, NULL, 0);
		return;
	case -ENOENT:
		http_reply_error(res, 404, "not_found", "no token with id %llu", (unsigned long long)id);
		return;
	case -EBUSY:
		http_reply_error(res, 409, "conflict", "token %llu is the last admin token: without one nobody could "
				 "manage tokens; create another admin token first", (unsigned long long)id);
		return;
	default:
		api_reply_db_error(res, r);
		return;
	}
}
