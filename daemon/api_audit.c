/* api_audit: GET /api/v1/audit, and the completion hook that records each mutating call in the audit log. See
 * audit.h for what is recorded and when, api.h for the API's modules. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "audit.h"
#include "util.h"

#define AUDIT_RESPONSE_MAX_BYTES (2u << 20)     /* AUDIT_LIST_MAX rows with every text at its longest fit */
#define AUDIT_ROW_TYPICAL_BYTES 300             /* to size the response buffer once */
#define AUDIT_CURSOR_PREFIX 'a'                 /* cursors are "a" + an id in hex; clients treat them as opaque */
#define AUDIT_CURSOR_MAX_DIGITS 16

void api_audit_complete(void *app, const struct http_request *req, unsigned status)
{
	struct api *api = app;
	char remote[AUDIT_REMOTE_MAX];
	struct audit_entry e;

	if (!api->audit || !audit_method_recorded(req->method))
		return;
	e = (struct audit_entry){
		.token_id = req->principal.id,
		.token_name = req->principal.name[0] ? req->principal.name : NULL,
		.method = req->method,
		.route = req->route,
		.path = req->path,
		.status = status,
		.remote = http_remote_address(req, remote, sizeof(remote)) == 0 ? remote : NULL,
		.outcome = req->error_code[0] ? req->error_code : NULL,
	};
	/* A failure is logged and counted by audit_record(); the client has its answer already. */
	(void)audit_record(api->audit, &e);
}

static void write_text_or_null(struct strbuf *out, const char *s)
{
	if (s)
		strbuf_json_string(out, s);
	else
		strbuf_append(out, "null", 4);
}

#define KEY(s) s, sizeof(s) - 1

struct list_state {
	struct strbuf out;
	int64_t last_id;
	unsigned n;
};

/* The API's audit row is defined here and nowhere else. */
static int list_one(void *userdata, const struct audit_entry *e)
{
	struct list_state *st = userdata;
	char at[21];

	if (st->n++)
		strbuf_append(&st->out, ",", 1);
	strbuf_append(&st->out, KEY("{\"id\":"));
	strbuf_append_uint(&st->out, (uint64_t)e->id);
	time_format_rfc3339(e->at_ms, at);
	strbuf_printf(&st->out, ",\"at\":\"%s\",\"at_ms\":%lld,\"token\":", at, (long long)e->at_ms);
	if (e->token_name) {
		strbuf_append(&st->out, KEY("{\"id\":"));
		strbuf_append_uint(&st->out, (uint64_t)e->token_id);
		strbuf_append(&st->out, KEY(",\"name\":"));
		strbuf_json_string(&st->out, e->token_name);
		strbuf_append(&st->out, "}", 1);
	} else {
		strbuf_append(&st->out, "null", 4);
	}
	strbuf_append(&st->out, KEY(",\"method\":"));
	strbuf_json_string(&st->out, e->method);
	strbuf_append(&st->out, KEY(",\"route\":"));
	write_text_or_null(&st->out, e->route);
	strbuf_append(&st->out, KEY(",\"path\":"));
	strbuf_json_string(&st->out, e->path);
	strbuf_append(&st->out, KEY(",\"status\":"));
	strbuf_append_uint(&st->out, e->status);
	strbuf_append(&st->out, KEY(",\"remote\":"));
	write_text_or_null(&st->out, e->remote);
	strbuf_append(&st->out, KEY(",\"outcome\":"));
	write_text_or_null(&st->out, e->outcome);
	strbuf_append(&st->out, "}", 1);
	st->last_id = e->id;
	return st->out.failed ? -ENOMEM : 0;
}

static int query_time(const struct http_request *req, const char *name, int64_t *ret_ms, struct http_response *res)
{
	const char *text = http_query(req, name);

	if (text && time_parse_rfc3339(text, ret_ms) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "%s='%s': expected an RFC 3339 time from 1970 on, "
				 "such as 2026-11-23T20:00:00Z or 2026-11-23T21:00:00+01:00", name, text);
		return -EINVAL;
	}
	return 0;
}

/* Reads the query into @filter, @limit and @after. Returns 0, or -EINVAL after answering 400. */
static int parse_query(const struct http_request *req, struct audit_filter *filter, uint64_t *limit,
		       int64_t *after, struct http_response *res)
{
	const char *text;

	if (api_query_uint(req, "limit", 1, AUDIT_LIST_MAX, limit, NULL, res) < 0)
		return -EINVAL;
	text = http_query(req, "cursor");
	if (text) {
		size_t n = strlen(text);
		char digits[3 + AUDIT_CURSOR_MAX_DIGITS];
		uint64_t id;

		if (n < 2 || n > 1 + AUDIT_CURSOR_MAX_DIGITS || text[0] != AUDIT_CURSOR_PREFIX ||
		    strspn(text + 1, "0123456789abcdef") != n - 1 ||
		    snprintf(digits, sizeof(digits), "0x%s", text + 1) < 0 ||
		    parse_uint(digits, 1, INT64_MAX, &id) < 0) {
			http_reply_error(res, 400, "invalid_parameter", "cursor='%s' is not a cursor this server "
					 "returned", text);
			return -EINVAL;
		}
		*after = (int64_t)id;
	}
	filter->token_name = http_query(req, "token");
	if (filter->token_name && (strlen(filter->token_name) > AUDIT_NAME_MAX ||
				   strspn(filter->token_name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
					  "0123456789._-") != strlen(filter->token_name))) {
		http_reply_error(res, 400, "invalid_parameter", "token='%s': a token name is 1 to %d characters "
				 "from A-Z a-z 0-9 . _ -", filter->token_name, AUDIT_NAME_MAX);
		return -EINVAL;
	}
	filter->method = http_query(req, "method");
	if (filter->method && !audit_method_recorded(filter->method)) {
		http_reply_error(res, 400, "invalid_parameter", "method='%s': expected POST, PUT, PATCH or DELETE "
				 "(the audit log records only the calls that may change something)", filter->method);
		return -EINVAL;
	}
	if (query_time(req, "since", &filter->since_ms, res) < 0 || query_time(req, "until", &filter->until_ms, res) < 0)
		return -EINVAL;
	/* 0 means "no bound" to audit_list(): 1970-01-01T00:00:00Z as a bound is the same as none for since, and
	 * for until it excludes everything, which no bound at all would not. */
	if (http_query(req, "until") && filter->until_ms == 0)
		filter->until_ms = INT64_MIN;
	if (filter->since_ms && filter->until_ms && filter->until_ms <= filter->since_ms) {
		http_reply_error(res, 400, "invalid_parameter", "until='%s' is not after since='%s'",
				 http_query(req, "until"), http_query(req, "since"));
		return -EINVAL;
	}
	return 0;
}

void api_audit_list(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct list_state st = { 0 };
	struct audit_filter filter = { 0 };
	uint64_t limit = AUDIT_LIST_DEFAULT;
	int64_t after = 0;
	bool more = false;
	size_t len;
	char *text;
	int r;

	if (parse_query(req, &filter, &limit, &after, res) < 0)
		return;
	if (!api->audit) {
		http_reply_error(res, 500, "internal_error", "the audit log is not open: this is a bug");
		return;
	}
	strbuf_init(&st.out, AUDIT_RESPONSE_MAX_BYTES);
	strbuf_reserve_total(&st.out, AUDIT_ROW_TYPICAL_BYTES * (size_t)limit);
	strbuf_append(&st.out, KEY("{\"entries\":["));
	r = audit_list(api->audit, after, (unsigned)limit, &filter, list_one, &st, &more);
	if (r < 0) {
		strbuf_done(&st.out);
		api_reply_list_error(res, r);
		return;
	}
	if (more)
		strbuf_printf(&st.out, "],\"next_cursor\":\"%c%llx\"}", AUDIT_CURSOR_PREFIX,
			      (unsigned long long)st.last_id);
	else
		strbuf_append(&st.out, KEY("],\"next_cursor\":null}"));
	text = strbuf_steal(&st.out, &len);
	if (!text)
		http_reply_error(res, 500, "internal_error", "the response does not fit in %u bytes",
				 AUDIT_RESPONSE_MAX_BYTES);
	else
		http_reply_text(res, 200, "application/json", text, len);
}
