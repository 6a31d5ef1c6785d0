/* api: the route table, health, metrics, the OpenAPI document and the dashboard's files. See api.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "log.h"
#include "cdb.h"
#include "nodes.h"
#include "tokens.h"
#include "util.h"

#define METRICS_MAX_BYTES (1u << 20)
#define STATIC_MAX_BYTES (16u << 20)

/* daemon/openapi_json.c, generated from daemon/openapi.json by build-aux/embed.sh */
extern const char openapi_json[];
extern const size_t openapi_json_len;

void api_reply_db_error(struct http_response *res, int error)
{
	switch (error) {
	case -EBUSY:
		http_reply_error(res, 503, "database_unavailable", "the database is busy; retry in a moment");
		break;
	case -ENOSPC:
		http_reply_error(res, 503, "database_unavailable", "the database cannot grow: the disk holding "
				 "the state directory is full");
		break;
	case -EROFS:
		http_reply_error(res, 503, "database_unavailable", "the database is read-only: check the state "
				 "directory's permissions and mount");
		break;
	case -EIO:
		http_reply_error(res, 503, "database_unavailable", "the database reported an I/O error; the "
				 "daemon's log has the details");
		break;
	default:
		http_reply_error(res, 500, "internal_error", "database error: %s", strerror(-error));
		break;
	}
}

void api_reply_list_error(struct http_response *res, int error)
{
	if (error == -ENOMEM)
		http_reply_error(res, 500, "internal_error", "out of memory");
	else
		api_reply_db_error(res, error);
}

int api_input_fail(struct api_input_error *err, const char *code, const char *path, const char *fmt, ...)
{
	char reason[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	err->code = code;
	snprintf(err->message, sizeof(err->message), "%s: %s", path, reason);
	return -EINVAL;
}

int api_query_uint(const struct http_request *req, const char *name, uint64_t min, uint64_t max, uint64_t *value,
		   bool *given, struct http_response *res)
{
	const char *text = http_query(req, name);

	if (given)
		*given = text != NULL;
	if (!text)
		return 0;
	if (parse_uint(text, min, max, value) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "%s='%s': expected an integer from %llu to %llu",
				 name, text, (unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	return 0;
}

/* Written with one printf: a jansson tree and json_dumps() cost a third of this request. The strings are ours
 * (state names, the version) except the dongle spec, which goes through the JSON string writer. */
static void api_health(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	const char *state = db_state(api->db);
	struct strbuf out;
	char *text;
	size_t len;

	(void)req;
	strbuf_init(&out, 4096);
	strbuf_printf(&out, "{\"status\":\"%s\",\"version\":\"%s\",\"uptime_s\":%llu,\"database\":{\"state\":\"%s\","
		      "\"schema_version\":%d,\"errors\":%llu},\"dongle\":{\"state\":\"%s\",\"spec\":",
		      strcmp(state, "ok") == 0 ? "ok" : "degraded", PACKAGE_VERSION,
		      (unsigned long long)((uv_now(api->loop) - api->started_ms) / 1000), state,
		      db_schema_version(api->db), (unsigned long long)db_error_count(api->db),
		      api->dongle ? link_state_to_string(link_state(dongle_link(api->dongle))) :
		      strcmp(api->dongle_spec, "none") == 0 ? "not_configured" : "not_started");
	strbuf_json_string(&out, api->dongle_spec);
	strbuf_append(&out, "}}", 2);
	text = strbuf_steal(&out, &len);
	if (!text) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	}
	http_reply_text(res, 200, "application/json", text, len);
}

static void api_dongle(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;

	(void)req;
	if (!api->dongle) {
		http_reply_json(res, 200, json_pack("{s:s,s:s}", "spec", api->dongle_spec, "state",
						    strcmp(api->dongle_spec, "none") == 0 ? "not_configured" :
						    "not_started"));
		return;
	}
	http_reply_json(res, 200, dongle_to_json(api->dongle, api->dongle_spec));
}

static void api_dongle_log(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	const char *text = http_query(req, "limit");
	uint64_t limit = 0;

	if (text && parse_uint(text, 1, DONGLE_LOG_LINES, &limit) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "limit='%s': expected an integer from 1 to %d", text,
				 DONGLE_LOG_LINES);
		return;
	}
	if (!api->dongle) {
		http_reply_json(res, 200, json_pack("{s:[],s:i}", "lines", "total", 0));
		return;
	}
	http_reply_json(res, 200, dongle_log_to_json(api->dongle, (size_t)limit));
}

/* The dongle link's counters, one Prometheus counter each; the table keeps names and fields side by side. */
static void metrics_render_dongle(const struct api *api, struct strbuf *out)
{
	static const struct {
		const char *name, *help;
		size_t offset;
	} counters[] = {
#define C(field, help) { #field, help, offsetof(struct link_counters, field) }
		C(bytes_in, "Bytes read from the dongle's port."),
		C(bytes_out, "Bytes written to the dongle's port."),
		C(frames_in, "Valid frames received from the dongle."),
		C(frames_out, "Frames sent to the dongle, retransmissions included."),
		C(crc_errors, "Frames dropped for a bad CRC."),
		C(bad_frames, "Frames dropped for a bad length, magic, format or flags."),
		C(resyncs, "Times the receiver skipped bytes to the next frame delimiter."),
		C(retransmits, "Requests sent again after a timeout."),
		C(timeouts, "Requests that ran out of retransmissions."),
		C(event_gaps, "Times the dongle's event sequence skipped."),
		C(reconnects, "Times the link came back after it was lost."),
#undef C
	};
	const struct link *link = api->dongle ? dongle_link(api->dongle) : NULL;
	const struct link_counters *c = link ? link_counters(link) : NULL;

	strbuf_printf(out, "# HELP meshfleet_dongle_up Whether the dongle link is up (1) or not (0).\n"
		      "# TYPE meshfleet_dongle_up gauge\nmeshfleet_dongle_up %d\n",
		      link && link_state(link) == LINK_UP);
	if (!c)
		return;
	for (size_t i = 0; i < ARRAY_SIZE(counters); i++)
		strbuf_printf(out, "# HELP meshfleet_dongle_%s_total %s\n# TYPE meshfleet_dongle_%s_total counter\n"
			      "meshfleet_dongle_%s_total %llu\n", counters[i].name, counters[i].help, counters[i].name,
			      counters[i].name,
			      (unsigned long long)*(const uint64_t *)(const void *)((const char *)c +
										counters[i].offset));
}

/* The mesh client: what the daemon asks the nodes (refresh, group configuration). */
static void metrics_render_mesh(const struct api *api, struct strbuf *out)
{
	const struct mesh_client_counters *c;

	if (!api->mesh)
		return;
	c = mesh_client_counters(api->mesh);
	strbuf_printf(out, "# HELP meshfleet_mesh_ready Whether the dongle is configured with the network (1) or not.\n"
		      "# TYPE meshfleet_mesh_ready gauge\nmeshfleet_mesh_ready %d\n"
		      "# HELP meshfleet_mesh_messages_sent_total Access messages sent to nodes, retries included.\n"
		      "# TYPE meshfleet_mesh_messages_sent_total counter\nmeshfleet_mesh_messages_sent_total %llu\n"
		      "# HELP meshfleet_mesh_exchanges_total Exchanges with nodes that ended, by result.\n"
		      "# TYPE meshfleet_mesh_exchanges_total counter\n"
		      "meshfleet_mesh_exchanges_total{result=\"answered\"} %llu\n"
		      "meshfleet_mesh_exchanges_total{result=\"timed_out\"} %llu\n"
		      "# HELP meshfleet_mesh_retries_total Messages sent again for want of an answer.\n"
		      "# TYPE meshfleet_mesh_retries_total counter\nmeshfleet_mesh_retries_total %llu\n"
		      "# HELP meshfleet_mesh_unmatched_total Messages from nodes that answered nothing asked.\n"
		      "# TYPE meshfleet_mesh_unmatched_total counter\nmeshfleet_mesh_unmatched_total %llu\n"
		      "# HELP meshfleet_mesh_queued Exchanges waiting for a free slot.\n"
		      "# TYPE meshfleet_mesh_queued gauge\nmeshfleet_mesh_queued %u\n",
		      mesh_client_ready(api->mesh), (unsigned long long)c->sent, (unsigned long long)c->answered,
		      (unsigned long long)c->timed_out, (unsigned long long)c->retries,
		      (unsigned long long)c->unmatched, c->queued);
}

static void api_metrics(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct strbuf out;
	uint64_t n_nodes = 0;
	char *text;
	size_t len;
	int r;

	(void)req;
	strbuf_init(&out, METRICS_MAX_BYTES);
	metrics_render_http(api->metrics, &out);
	r = nodes_count(api->db, &n_nodes);
	if (r == 0)
		strbuf_printf(&out, "# HELP meshfleet_nodes Nodes in the inventory.\n# TYPE meshfleet_nodes gauge\n"
			      "meshfleet_nodes %llu\n", (unsigned long long)n_nodes);
	strbuf_printf(&out, "# HELP meshfleet_db_errors_total Database operations that failed.\n"
		      "# TYPE meshfleet_db_errors_total counter\nmeshfleet_db_errors_total %llu\n"
		      "# HELP meshfleet_uptime_seconds Seconds since meshfleetd started.\n"
		      "# TYPE meshfleet_uptime_seconds gauge\nmeshfleet_uptime_seconds %llu\n"
		      "# HELP meshfleet_build_info Version of this meshfleetd.\n# TYPE meshfleet_build_info gauge\n"
		      "meshfleet_build_info{version=\"%s\"} 1\n",
		      (unsigned long long)db_error_count(api->db),
		      (unsigned long long)((uv_now(api->loop) - api->started_ms) / 1000), PACKAGE_VERSION);
	strbuf_printf(&out, "# HELP meshfleet_event_streams Open GET /api/v1/events streams.\n"
		      "# TYPE meshfleet_event_streams gauge\nmeshfleet_event_streams %u\n", api->n_event_streams);
	strbuf_printf(&out, "# HELP meshfleet_audit_write_errors_total Mutating API calls the audit log failed to "
		      "record.\n# TYPE meshfleet_audit_write_errors_total counter\nmeshfleet_audit_write_errors_total "
		      "%llu\n", (unsigned long long)audit_write_errors(api->audit));
	api_campaigns_metrics(api, &out);
	metrics_render_dongle(api, &out);
	metrics_render_mesh(api, &out);
	text = strbuf_steal(&out, &len);
	if (!text) {
		http_reply_error(res, 500, "internal_error", "the metrics do not fit in %u bytes", METRICS_MAX_BYTES);
		return;
	}
	http_reply_text(res, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

static void api_openapi(void *app, const struct http_request *req, struct http_response *res)
{
	char *copy = malloc(openapi_json_len);

	(void)app;
	(void)req;
	if (!copy) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	}
	memcpy(copy, openapi_json, openapi_json_len);
	http_reply_text(res, 200, "application/json", copy, openapi_json_len);
}

static const char *static_content_type(const char *name)
{
	static const struct { const char *ext, *type; } types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".json", "application/json" },
	};
	const char *dot = strrchr(name, '.');

	for (size_t i = 0; dot && i < ARRAY_SIZE(types); i++)
		if (strcmp(dot, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

/* Serves one file from the web root. Names are plain (no '/', no leading '.'), so no path escapes the root. */
static void static_serve(struct api *api, const char *name, struct http_response *res)
{
	const char *type = static_content_type(name);
	char path[PATH_MAX];
	struct stat st;
	int fd;

	if (!type || name[0] == '.' ||
	    strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != strlen(name) ||
	    (size_t)snprintf(path, sizeof(path), "%s/%s", api->web_root, name) >= sizeof(path)) {
		http_reply_error(res, 404, "not_found", "no such file: %s", name);
		return;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		http_reply_error(res, 404, "not_found", "no such file: %s", name);
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > STATIC_MAX_BYTES) {
		close(fd);
		http_reply_error(res, 404, "not_found", "no such file: %s", name);
		return;
	}
	http_reply_text(res, 200, type, NULL, 0);
	res->fd = fd;
	res->fd_size = (uint64_t)st.st_size;
	res->cache_control = "no-cache";
}

static void api_static_index(void *app, const struct http_request *req, struct http_response *res)
{
	(void)req;
	static_serve(app, "index.html", res);
}

static void api_static_asset(void *app, const struct http_request *req, struct http_response *res)
{
	static_serve(app, req->params[0], res);
}

static const char *const json_body[] = { "application/json", NULL };
static const char *const patch_body[] = { "application/json", "application/merge-patch+json", NULL };
static const char *const dongle_log_query[] = { "limit", NULL };
static const char *const nodes_query[] = {
	"limit", "cursor", "firmware_id", "company_id", "product_id", "tag", NULL,
};
static const char *const nodes_filter_query[] = { "firmware_id", "company_id", "product_id", "tag", NULL };
static const char *const network_import_query[] = { "replace", NULL };
static const char *const group_members_query[] = { "limit", "cursor", NULL };
/* access_token: EventSource in a browser cannot send an Authorization header (http.c takes the token from it) */
static const char *const events_query[] = { "since", "types", HTTP_AUTH_QUERY_PARAM, NULL };
static const char *const tokens_query[] = { "limit", "cursor", NULL };
static const char *const firmware_body[] = { "application/octet-stream", "multipart/form-data", NULL };
static const char *const firmware_import_query[] = {
	"format", "company_id", "firmware_id", "metadata", "region_start", "version", "core_type", "elements",
	"composition_hash", "composition_from", NULL,
};
static const char *const firmware_list_query[] = { "limit", "cursor", NULL };
static const char *const audit_query[] = { "limit", "cursor", "token", "since", "until", "method", NULL };
static const char *const campaigns_query[] = { "limit", "cursor", "state", NULL };

/* The least role each route needs (tokens.h; docs/api.md, "Authentication"). Public: health (monitoring polls
 * it) and the dashboard's own files, which hold no data: the page must load to ask for a token. */
#define API_PUBLIC HTTP_ACCESS_PUBLIC
#define API_VIEWER TOKEN_ROLE_VIEWER            /* reads */
#define API_OPERATOR TOKEN_ROLE_OPERATOR        /* changes to nodes, groups, firmware, campaigns */
#define API_ADMIN TOKEN_ROLE_ADMIN              /* tokens and the network's keys */

const struct http_route api_routes[] = {
	{ "GET", "/api/v1/health", api_health, NULL, NULL, 0, API_PUBLIC },
	{ "GET", "/api/v1/dongle", api_dongle, NULL, NULL, 0, API_VIEWER },
	{ "GET", "/api/v1/dongle/log", api_dongle_log, dongle_log_query, NULL, 0, API_VIEWER },
	{ "GET", "/api/v1/nodes", api_nodes_list, nodes_query, NULL, 0, API_VIEWER },
	{ "POST", "/api/v1/nodes", api_nodes_create, NULL, json_body, 0, API_OPERATOR },
	{ "POST", "/api/v1/nodes/refresh", api_nodes_refresh_start, nodes_filter_query, NULL, 0, API_OPERATOR },
	{ "GET", "/api/v1/nodes/refresh", api_nodes_refresh_get, NULL, NULL, 0, API_VIEWER },
	{ "DELETE", "/api/v1/nodes/refresh", api_nodes_refresh_cancel, NULL, NULL, 0, API_OPERATOR },
	{ "GET", "/api/v1/nodes/{addr}", api_node_get, NULL, NULL, 0, API_VIEWER },
	{ "PATCH", "/api/v1/nodes/{addr}", api_node_patch, NULL, patch_body, 0, API_OPERATOR },
	{ "DELETE", "/api/v1/nodes/{addr}", api_node_delete, NULL, NULL, 0, API_OPERATOR },
	{ "POST", "/api/v1/groups/{addr}/members", api_group_members_add, NULL, json_body, 0, API_OPERATOR },
	{ "GET", "/api/v1/groups/{addr}/members", api_group_members_get, group_members_query, NULL, 0, API_VIEWER },
	/* a body is optional: without one, every member goes */
	{ "DELETE", "/api/v1/groups/{addr}/members", api_group_members_remove, NULL, json_body, 0, API_OPERATOR },
	{ "GET", "/api/v1/network", api_network_get, NULL, NULL, 0, API_VIEWER },
	{ "POST", "/api/v1/network/import", api_network_import, network_import_query, json_body, CDB_FILE_MAX, API_ADMIN },
	{ "GET", "/api/v1/network/export", api_network_export, NULL, NULL, 0, API_ADMIN },
	{ "GET", "/api/v1/events", api_events_stream, events_query, NULL, 0, API_VIEWER },
	{ "POST", "/api/v1/firmware", api_firmware_import, firmware_import_query, firmware_body, FIRMWARE_UPLOAD_MAX, API_OPERATOR },
	{ "GET", "/api/v1/firmware", api_firmware_list, firmware_list_query, NULL, 0, API_VIEWER },
	{ "GET", "/api/v1/firmware/{id}", api_firmware_get, NULL, NULL, 0, API_VIEWER },
	{ "DELETE", "/api/v1/firmware/{id}", api_firmware_delete, NULL, NULL, 0, API_OPERATOR },
	{ "GET", "/api/v1/audit", api_audit_list, audit_query, NULL, 0, API_ADMIN },
	{ "POST", "/api/v1/campaigns", api_campaigns_create, NULL, json_body, 0, API_OPERATOR },
	{ "GET", "/api/v1/campaigns", api_campaigns_list, campaigns_query, NULL, 0, API_VIEWER },
	{ "GET", "/api/v1/campaigns/{id}", api_campaign_get, NULL, NULL, 0, API_VIEWER },
	{ "DELETE", "/api/v1/campaigns/{id}", api_campaign_delete, NULL, NULL, 0, API_OPERATOR },
	{ "GET", "/api/v1/campaigns/{id}/targets", api_campaign_targets, campaigns_query, NULL, 0, API_VIEWER },
	{ "POST", "/api/v1/campaigns/{id}/start", api_campaign_start, NULL, NULL, 0, API_OPERATOR },
	{ "POST", "/api/v1/campaigns/{id}/pause", api_campaign_pause, NULL, NULL, 0, API_OPERATOR },
	{ "POST", "/api/v1/campaigns/{id}/resume", api_campaign_resume, NULL, NULL, 0, API_OPERATOR },
	{ "POST", "/api/v1/campaigns/{id}/cancel", api_campaign_cancel, NULL, NULL, 0, API_OPERATOR },
	{ "POST", "/api/v1/campaigns/{id}/retry", api_campaign_retry, NULL, NULL, 0, API_OPERATOR },
	{ "POST", "/api/v1/campaigns/{id}/apply", api_campaign_apply, NULL, NULL, 0, API_OPERATOR },
	{ "GET", "/api/v1/campaigns/{id}/estimate", api_campaign_estimate, NULL, NULL, 0, API_VIEWER },
	/* a body is optional: {"skip_rejected": true} */
	{ "POST", "/api/v1/campaigns/{id}/preflight", api_campaign_preflight_start, NULL, json_body, 0, API_OPERATOR },
	{ "GET", "/api/v1/campaigns/{id}/preflight", api_campaign_preflight_get, NULL, NULL, 0, API_VIEWER },
	{ "DELETE", "/api/v1/campaigns/{id}/preflight", api_campaign_preflight_cancel, NULL, NULL, 0, API_OPERATOR },
	{ "POST", "/api/v1/tokens", api_tokens_create, NULL, json_body, 0, API_ADMIN },
	{ "GET", "/api/v1/tokens", api_tokens_list, tokens_query, NULL, 0, API_ADMIN },
	{ "DELETE", "/api/v1/tokens/{id}", api_tokens_delete, NULL, NULL, 0, API_ADMIN },
	{ "GET", "/api/v1/openapi.json", api_openapi, NULL, NULL, 0, API_VIEWER },
	{ "GET", "/metrics", api_metrics, NULL, NULL, 0, API_VIEWER },
	{ "GET", "/", api_static_index, NULL, NULL, 0, API_PUBLIC },
	{ "GET", "/assets/{file}", api_static_asset, NULL, NULL, 0, API_PUBLIC },
};
const size_t api_n_routes = ARRAY_SIZE(api_routes);
