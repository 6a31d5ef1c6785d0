/* api_preflight: the two looks at a campaign before it runs. GET /api/v1/campaigns/{id}/estimate (estimate.h: the
 * expected duration from the radio model) and POST/GET/DELETE /api/v1/campaigns/{id}/preflight (preflight.h: every
 * pending target asked whether it accepts the image's metadata, as a job). See docs/api.md ("Campaigns") and
 * docs/campaigns.md ("Estimate", "Preflight").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "campaigns.h"
#include "estimate.h"
#include "jsonbody.h"
#include "preflight.h"
#include "radio.h"
#include "util.h"

/* The campaign of the route's {id} into @ret (campaign_done() it). Returns 0, or -1 after answering. */
static int load_campaign(struct api *api, const struct http_request *req, struct campaign *ret,
			 struct http_response *res)
{
	uint64_t id;
	int r;

	if (parse_uint(req->params[0], 1, INT64_MAX, &id) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "'%s' is not a campaign id: expected a positive "
				 "integer (GET /api/v1/campaigns lists them)", req->params[0]);
		return -1;
	}
	r = campaigns_get(api->db, (int64_t)id, ret);
	if (r == -ENOENT) {
		http_reply_error(res, 404, "not_found", "no campaign with id %" PRIu64, id);
		return -1;
	}
	if (r < 0) {
		api_reply_db_error(res, r);
		return -1;
	}
	return 0;
}

/* The campaign's image record. Returns 0, or -1 after answering. */
static int load_image(struct api *api, const struct campaign *c, struct firmware_record *ret,
		      struct http_response *res)
{
	int r = api->firmware ? firmware_get(api->firmware, c->firmware, ret) : -ENOENT;

	if (r == -ENOENT) {
		http_reply_error(res, 409, "firmware_missing", "campaign %" PRId64 ": its image %s is no longer in the "
				 "firmware store: create a new campaign with an image that is", c->id, c->firmware);
		return -1;
	}
	if (r < 0) {
		api_reply_db_error(res, r);
		return -1;
	}
	return 0;
}

/* --- GET /api/v1/campaigns/{id}/estimate --- */

void api_campaign_estimate(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct firmware_record image;
	struct radio_params params;
	struct campaign c;
	char reason[256] = "";
	json_t *out = NULL;
	int r;

	if (load_campaign(api, req, &c, res) < 0)
		return;
	if (load_image(api, &c, &image, res) < 0)
		goto out;
	radio_params_zephyr_default(&params);
	r = estimate_campaign(api->db, &c, image.size, &params, &out, reason, sizeof(reason));
	switch (r) {
	case 0:
		http_reply_json(res, 200, out);
		break;
	case -ERANGE:
	case -EINVAL:
	case -EMSGSIZE:
		http_reply_error(res, 409, "no_estimate", "campaign %" PRId64 ": the radio model cannot estimate it: %s",
				 c.id, reason);
		break;
	case -ENOMEM:
		http_reply_error(res, 500, "internal_error", "out of memory");
		break;
	default:
		api_reply_db_error(res, r);
		break;
	}
out:
	campaign_done(&c);
}

/* --- POST/GET/DELETE /api/v1/campaigns/{id}/preflight --- */

/* The optional body {"skip_rejected": bool}. Returns 0, or -EINVAL after answering 400. */
static int parse_body(const struct http_request *req, bool *ret_skip, struct http_response *res)
{
	const char *key;
	json_t *json, *value;
	char reason[256];
	int r = -EINVAL;

	*ret_skip = false;
	if (req->body_len == 0)
		return 0;
	if (jsonbody_parse(req->body, req->body_len, &json, reason, sizeof(reason)) < 0) {
		http_reply_error(res, 400, "invalid_json", "%s", reason);
		return -EINVAL;
	}
	if (!json_is_object(json)) {
		http_reply_error(res, 400, "invalid_field", "body: expected an object ({\"skip_rejected\": true} or {})");
		goto out;
	}
	json_object_foreach(json, key, value) {
		if (strcmp(key, "skip_rejected") != 0) {
			http_reply_error(res, 400, "unknown_field", "%.40s: unknown field (known: skip_rejected)", key);
			goto out;
		}
		if (!json_is_boolean(value)) {
			http_reply_error(res, 400, "invalid_field", "skip_rejected: expected true or false");
			goto out;
		}
		*ret_skip = json_is_true(value);
	}
	r = 0;
out:
	json_decref(json);
	return r;
}

static void reply_job(struct api *api, int64_t id, unsigned status, struct http_response *res)
{
	json_t *out = NULL;
	int r = preflight_to_json(api->preflight, api->db, id, &out);

	if (r == -ENOMEM)
		http_reply_error(res, 500, "internal_error", "out of memory");
	else if (r < 0)
		api_reply_db_error(res, r);
	else
		http_reply_json(res, status, out);
}

void api_campaign_preflight_start(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct firmware_record image;
	struct campaign c;
	bool skip;
	int r;

	if (load_campaign(api, req, &c, res) < 0)
		return;
	if (parse_body(req, &skip, res) < 0)
		goto out;
	if (campaign_state_terminal(c.state)) {
		char message[256];

		snprintf(message, sizeof(message), "campaign %" PRId64 " is %s: a preflight is for a campaign that "
			 "has not ended", c.id, campaign_state_to_string(c.state));
		/* as api_campaigns.c answers an action in the wrong state: the current state beside the message */
		http_reply_json(res, 409, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "invalid_state", "message",
						    message, "state", campaign_state_to_string(c.state)));
		snprintf(res->error_code, sizeof(res->error_code), "invalid_state");
		goto out;
	}
	if (!api->preflight) {
		http_reply_error(res, 503, "dongle_unavailable", "no dongle is configured: nodes can only be asked "
				 "through one (set 'dongle' in the configuration)");
		goto out;
	}
	if (load_image(api, &c, &image, res) < 0)
		goto out;
	r = preflight_start(api->preflight, c.id, image.has_metadata ? image.metadata : NULL,
			    image.has_metadata ? image.metadata_len : 0, skip);
	switch (r) {
	case 0:
		reply_job(api, c.id, 202, res);
		if (res->status == 202)         /* a reply replaces the whole response: the header goes after it */
			snprintf(res->location, sizeof(res->location), "/api/v1/campaigns/%" PRId64 "/preflight", c.id);
		break;
	case -EBUSY:
		http_reply_error(res, 409, "preflight_running", "the preflight of campaign %" PRId64 " is running: "
				 "follow it with GET /api/v1/campaigns/%" PRId64 "/preflight and ask again when it is "
				 "done", preflight_running(api->preflight), preflight_running(api->preflight));
		break;
	case -ENOTCONN:
		http_reply_error(res, 503, "mesh_unavailable", "the mesh cannot be reached now: %s",
				 mesh_client_why_not_ready(api->mesh));
		break;
	case -ENOENT:
		http_reply_error(res, 409, "no_pending_targets", "campaign %" PRId64 " has no pending target to ask",
				 c.id);
		break;
	case -EMSGSIZE:
		http_reply_error(res, 409, "metadata_too_long", "the image's metadata has %zu bytes; a Metadata Check "
				 "carries at most %d", image.metadata_len, PREFLIGHT_METADATA_MAX);
		break;
	case -ENOMEM:
		http_reply_error(res, 500, "internal_error", "out of memory");
		break;
	default:
		api_reply_db_error(res, r);
		break;
	}
out:
	campaign_done(&c);
}

void api_campaign_preflight_get(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct campaign c;

	if (load_campaign(api, req, &c, res) < 0)
		return;
	reply_job(api, c.id, 200, res);
	campaign_done(&c);
}

void api_campaign_preflight_cancel(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct campaign c;

	if (load_campaign(api, req, &c, res) < 0)
		return;
	if (!api->preflight || preflight_cancel(api->preflight, c.id) < 0)
		http_reply_error(res, 404, "not_found", "no preflight of campaign %" PRId64 " is running", c.id);
	else
		reply_job(api, c.id, 200, res);
	campaign_done(&c);
}
