/* api_network: GET /api/v1/network, POST /api/v1/network/import, GET /api/v1/network/export. See network.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "log.h"
#include "network.h"
#include "nodes.h"

static json_t *network_json(struct api *api, int *error)
{
	struct network n;
	uint64_t count = 0;
	json_t *o;

	*error = network_load(api->db, &n);
	if (*error < 0)
		return NULL;
	*error = nodes_count(api->db, &count);
	o = *error == 0 ? network_to_json(&n, count) : NULL;
	explicit_bzero(&n, sizeof(n));
	if (!o && *error == 0)
		*error = -ENOMEM;
	return o;
}

static void reply_network_error(struct http_response *res, int error)
{
	if (error == -ENOENT)
		http_reply_error(res, 404, "not_found", "no network imported yet: POST the provisioner's CDB export "
				 "to /api/v1/network/import (meshfleetctl network import FILE)");
	else if (error == -EBADMSG)
		http_reply_error(res, 500, "internal_error", "the stored network does not read back: import it again");
	else if (error == -ENOMEM)
		http_reply_error(res, 500, "internal_error", "out of memory");
	else
		api_reply_db_error(res, error);
}

void api_network_get(void *app, const struct http_request *req, struct http_response *res)
{
	int error;
	json_t *o = network_json(app, &error);

	(void)req;
	if (!o)
		reply_network_error(res, error);
	else
		http_reply_json(res, 200, o);
}

void api_network_import(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct network_import_result result;
	const char *replace = http_query(req, "replace");
	char err[512];
	json_t *o;
	int r;

	if (replace && strcmp(replace, "true") != 0 && strcmp(replace, "false") != 0) {
		http_reply_error(res, 400, "invalid_parameter", "replace='%s': expected true or false", replace);
		return;
	}
	r = network_import(api->db, req->body ? req->body : "", req->body_len, replace && strcmp(replace, "true") == 0, &result,
			   err, sizeof(err));
	switch (r) {
	case 0:
		break;
	case -EINVAL:
		http_reply_error(res, 400, "invalid_cdb", "%s", err);
		return;
	case -EEXIST:
		http_reply_error(res, 409, "other_network", "%s", err);
		return;
	case -ESTALE:
		http_reply_error(res, 409, "stale_export", "%s", err);
		return;
	case -ENOSPC:
		http_reply_error(res, 409, "no_free_range", "%s", err);
		return;
	case -ENOMEM:
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	default:
		log_err("network import: %s", err);
		api_reply_db_error(res, r);
		return;
	}
	if (!result.unchanged) {
		log_info("network import: %s; %zu nodes added, %zu updated, %zu removed, %zu provisioner entries "
			 "skipped", result.created ? "new network" : result.replaced ? "network replaced" : "updated",
			 result.nodes_added, result.nodes_updated, result.nodes_removed, result.provisioners_skipped);
		if (api->mesh)
			mesh_client_network_changed(api->mesh);
		/* What changed, in counts: never a key. */
		events_publish(api->events, EVENT_NETWORK, json_pack("{s:s, s:I, s:I, s:I}",
			"action", result.created ? "imported" : result.replaced ? "replaced" : "updated",
			"nodes_added", (json_int_t)result.nodes_added, "nodes_updated", (json_int_t)result.nodes_updated,
			"nodes_removed", (json_int_t)result.nodes_removed));
	}
	o = network_json(api, &r);
	if (!o) {
		reply_network_error(res, r);
		return;
	}
	json_object_set_new(o, "import", json_pack("{s:b, s:b, s:b, s:I, s:I, s:I, s:I}",
		"created", result.created, "replaced", result.replaced, "unchanged", result.unchanged,
		"nodes_added", (json_int_t)result.nodes_added, "nodes_updated", (json_int_t)result.nodes_updated,
		"nodes_removed", (json_int_t)result.nodes_removed,
		"provisioners_skipped", (json_int_t)result.provisioners_skipped));
	http_reply_json(res, result.created || result.replaced ? 201 : 200, o);
}

void api_network_export(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	int error = 0;
	json_t *doc = network_export(api->db, &error);

	(void)req;
	if (!doc) {
		reply_network_error(res, error);
		return;
	}
	http_reply_json(res, 200, doc);
}
