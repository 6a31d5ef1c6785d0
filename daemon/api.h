/* api: the REST routes of /api/v1, /metrics and the dashboard's static files, over http.
 *
 * api.c holds the route table and the small routes (health, metrics, OpenAPI, static files); api_nodes.c the
 * node records. Handlers run on the loop thread and use the database directly. docs/api.md describes the API;
 * daemon/openapi.json is its machine-readable form and must list every route of the table.
 */
#ifndef MESHFLEET_API_H
#define MESHFLEET_API_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "audit.h"
#include "db.h"
#include "discovery.h"
#include "dongle.h"
#include "engine.h"
#include "events.h"
#include "firmware.h"
#include "groups.h"
#include "http.h"
#include "metrics.h"
#include "preflight.h"

struct api {
	uv_loop_t *loop;                /* weak */
	struct db *db;                  /* weak */
	struct metrics *metrics;        /* weak */
	uint64_t started_ms;            /* uv_now() at start */
	const char *web_root;           /* weak */
	const char *dongle_spec;        /* weak: the configured dongle setting */
	struct dongle *dongle;          /* weak; NULL when none is configured */
	struct mesh_client *mesh;       /* weak; with the dongle */
	struct discovery *discovery;    /* weak; with the dongle */
	struct groups *groups;          /* weak; with the dongle */
	struct preflight *preflight;    /* weak; with the dongle */
	struct engine *engine;          /* weak; with the dongle: runs the campaigns */
	struct events *events;          /* weak */
	struct firmware *firmware;      /* weak */
	unsigned n_event_streams;       /* open GET /api/v1/events streams */
	struct audit *audit;            /* weak; the audit log */
};

#define API_EVENTS_STREAMS_MAX 16                /* GET /api/v1/events clients at once */
#define API_EVENTS_BACKLOG_BYTES (256u << 10)    /* unsent live events per client before it is dropped */

extern const struct http_route api_routes[];
extern const size_t api_n_routes;

/* Why a request body was refused: an API error code and a message that starts with the field's JSON path. */
struct api_input_error {
	const char *code;
	char message[512];
};

/* Fills @err with @code and "PATH: reason"; returns -EINVAL, for `return api_input_fail(...)`. */
__attribute__((format(printf, 4, 5)))
int api_input_fail(struct api_input_error *err, const char *code, const char *path, const char *fmt, ...);

/* Answers a failed database call: 503 when the database cannot serve now, 500 otherwise. */
void api_reply_db_error(struct http_response *res, int error);
/* The failure of a list walk: -ENOMEM (500) or a database error (api_reply_db_error). */
void api_reply_list_error(struct http_response *res, int error);
/* Reads the query parameter @name as an integer from @min to @max into *@value; *@given (may be NULL) says whether
 * it was there, and *@value is untouched when it was not. Returns 0, or -EINVAL after answering 400. */
int api_query_uint(const struct http_request *req, const char *name, uint64_t min, uint64_t max, uint64_t *value,
		   bool *given, struct http_response *res);

/* api_nodes.c */
void api_nodes_list(void *app, const struct http_request *req, struct http_response *res);
void api_nodes_create(void *app, const struct http_request *req, struct http_response *res);
void api_node_get(void *app, const struct http_request *req, struct http_response *res);
void api_node_patch(void *app, const struct http_request *req, struct http_response *res);
void api_node_delete(void *app, const struct http_request *req, struct http_response *res);
void api_nodes_refresh_start(void *app, const struct http_request *req, struct http_response *res);
void api_nodes_refresh_get(void *app, const struct http_request *req, struct http_response *res);
void api_nodes_refresh_cancel(void *app, const struct http_request *req, struct http_response *res);

/* api_groups.c */
void api_group_members_add(void *app, const struct http_request *req, struct http_response *res);
void api_group_members_remove(void *app, const struct http_request *req, struct http_response *res);
void api_group_members_get(void *app, const struct http_request *req, struct http_response *res);

/* api_events.c */
void api_events_stream(void *app, const struct http_request *req, struct http_response *res);

/* api_firmware.c */
void api_firmware_import(void *app, const struct http_request *req, struct http_response *res);
void api_firmware_list(void *app, const struct http_request *req, struct http_response *res);
void api_firmware_get(void *app, const struct http_request *req, struct http_response *res);
void api_firmware_delete(void *app, const struct http_request *req, struct http_response *res);

/* api_audit.c: GET /api/v1/audit, and http_options.on_complete: records a mutating call in the audit log */
void api_audit_list(void *app, const struct http_request *req, struct http_response *res);
void api_audit_complete(void *app, const struct http_request *req, unsigned status);

/* api_tokens.c: the tokens routes, and http_options.authenticate / role_name */
void api_tokens_create(void *app, const struct http_request *req, struct http_response *res);
void api_tokens_list(void *app, const struct http_request *req, struct http_response *res);
void api_tokens_delete(void *app, const struct http_request *req, struct http_response *res);
int api_authenticate(void *app, const char *token, struct http_principal *ret);
const char *api_role_name(unsigned role);

/* api_campaigns.c */
void api_campaigns_create(void *app, const struct http_request *req, struct http_response *res);
void api_campaigns_list(void *app, const struct http_request *req, struct http_response *res);
void api_campaign_get(void *app, const struct http_request *req, struct http_response *res);
void api_campaign_delete(void *app, const struct http_request *req, struct http_response *res);
void api_campaign_targets(void *app, const struct http_request *req, struct http_response *res);
void api_campaign_start(void *app, const struct http_request *req, struct http_response *res);
void api_campaign_pause(void *app, const struct http_request *req, struct http_response *res);
void api_campaign_resume(void *app, const struct http_request *req, struct http_response *res);
void api_campaign_cancel(void *app, const struct http_request *req, struct http_response *res);
void api_campaign_retry(void *app, const struct http_request *req, struct http_response *res);
void api_campaign_apply(void *app, const struct http_request *req, struct http_response *res);
/* api_preflight.c: a campaign's estimate and preflight */
void api_campaign_estimate(void *app, const struct http_request *req, struct http_response *res);
void api_campaign_preflight_start(void *app, const struct http_request *req, struct http_response *res);
void api_campaign_preflight_get(void *app, const struct http_request *req, struct http_response *res);
void api_campaign_preflight_cancel(void *app, const struct http_request *req, struct http_response *res);
/* The campaigns and targets by state, for GET /metrics. */
void api_campaigns_metrics(struct api *api, struct strbuf *out);

/* api_network.c */
void api_network_get(void *app, const struct http_request *req, struct http_response *res);
void api_network_import(void *app, const struct http_request *req, struct http_response *res);
void api_network_export(void *app, const struct http_request *req, struct http_response *res);

#endif
