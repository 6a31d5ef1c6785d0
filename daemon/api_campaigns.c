/* api_campaigns: /api/v1/campaigns: create (validated field by field), list, one campaign with its waves and
 * counts, its targets, the operator's actions and DELETE of a draft; and the campaign series of /metrics.
 * See api.h, docs/api.md ("Campaigns") and docs/campaigns.md. The state machines live in campaigns.c: an action
 * the transition table refuses is 409 invalid_state with the campaign's current state.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "campaigns.h"
#include "estimate.h"
#include "jsonbody.h"
#include "log.h"
#include "nodes.h"
#include "preflight.h"
#include "util.h"

#define CAMPAIGNS_LIST_DEFAULT 100
#define TARGETS_LIST_DEFAULT 1000
#define UNKNOWN_NAMED_MAX 8                     /* unknown node addresses named in an error message */
#define RESPONSE_MAX_BYTES (4u << 20)

/* What a body says, beyond struct campaign. Borrowed strings point into the request's JSON. */
struct create_input {
	struct campaign c;
	bool have_name, have_firmware, have_targets, have_group, have_downgrade;
	struct campaign_selector sel;
	uint16_t *addresses;                    /* owned */
	const char *tags_all[CAMPAIGN_TAGS_MAX], *tags_any[CAMPAIGN_TAGS_MAX];
	uint8_t fwid_prefix[NODE_FWID_MAX];
};

/* An unsigned integer in @min..@max, given as a JSON integer (not a string, a real or a boolean). */
static int get_uint(json_t *v, const char *path, uint64_t min, uint64_t max, uint64_t *ret, struct api_input_error *err)
{
	json_int_t n;

	if (!json_is_integer(v))
		return api_input_fail(err, "invalid_field", path, "expected an integer from %llu to %llu",
				      (unsigned long long)min, (unsigned long long)max);
	n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max)
		return api_input_fail(err, "invalid_field", path, "%lld is out of range %llu..%llu", (long long)n,
				      (unsigned long long)min, (unsigned long long)max);
	*ret = (uint64_t)n;
	return 0;
}

/* A 16-bit value given as an integer or as a decimal / "0x" string (ids and addresses, as elsewhere in the API). */
static int get_id(json_t *v, const char *path, uint64_t min, uint64_t max, uint64_t *ret, struct api_input_error *err)
{
	if (json_is_string(v)) {
		if (parse_uint(json_string_value(v), min, max, ret) < 0)
			return api_input_fail(err, "invalid_field", path, "'%s' is not a number from 0x%llx to 0x%llx",
					      json_string_value(v), (unsigned long long)min, (unsigned long long)max);
		return 0;
	}
	return get_uint(v, path, min, max, ret, err);
}

static int get_time(json_t *v, const char *path, int64_t *ret, struct api_input_error *err)
{
	if (!json_is_string(v) || time_parse_rfc3339(json_string_value(v), ret) < 0)
		return api_input_fail(err, "invalid_field", path, "expected an RFC 3339 time such as "
				      "\"2026-11-23T20:00:00Z\"");
	return 0;
}

static int parse_tags(json_t *v, const char *path, const char **out, size_t *ret_n, struct api_input_error *err)
{
	size_t i;
	json_t *tag;

	if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > CAMPAIGN_TAGS_MAX)
		return api_input_fail(err, "invalid_field", path, "expected an array of 1 to %d tags", CAMPAIGN_TAGS_MAX);
	json_array_foreach(v, i, tag) {
		if (!json_is_string(tag) || !node_tag_valid(json_string_value(tag)))
			return api_input_fail(err, "invalid_field", path, "element %zu: a tag is 1 to %d characters from "
					      "A-Z a-z 0-9 _ . : -", i, NODE_TAG_MAX);
		out[i] = json_string_value(tag);
	}
	*ret_n = json_array_size(v);
	return 0;
}

static int parse_filter(json_t *obj, struct create_input *in, struct api_input_error *err)
{
	const char *key;
	json_t *v;
	char path[96];

	if (!json_is_object(obj))
		return api_input_fail(err, "invalid_field", "targets.filter", "expected an object (empty: every node)");
	json_object_foreach(obj, key, v) {
		uint64_t n;
		int r = 0;

		snprintf(path, sizeof(path), "targets.filter.%.40s", key);
		if (strcmp(key, "company_id") == 0 || strcmp(key, "product_id") == 0) {
			r = get_id(v, path, 0, 0xffff, &n, err);
			if (r == 0 && key[0] == 'c')
				in->sel.company_id = (int32_t)n;
			else if (r == 0)
				in->sel.product_id = (int32_t)n;
		} else if (strcmp(key, "firmware_id") == 0) {
			const char *s = json_is_string(v) ? json_string_value(v) : NULL;
			size_t len = s ? strlen(s) : 0;

			if (!s || len == 0 || len % 2 || len > 2 * NODE_FWID_MAX || hex_decode(s, len, in->fwid_prefix) < 0)
				r = api_input_fail(err, "invalid_field", path, "expected 2 to %d hex digits: the node's "
						   "firmware ID or its beginning", 2 * NODE_FWID_MAX);
			else {
				in->sel.fwid_prefix = in->fwid_prefix;
				in->sel.fwid_prefix_len = len / 2;
			}
		} else if (strcmp(key, "tags_all") == 0) {
			r = parse_tags(v, path, in->tags_all, &in->sel.n_tags_all, err);
			in->sel.tags_all = in->tags_all;
		} else if (strcmp(key, "tags_any") == 0) {
			r = parse_tags(v, path, in->tags_any, &in->sel.n_tags_any, err);
			in->sel.tags_any = in->tags_any;
		} else {
			r = api_input_fail(err, "unknown_field", path, "unknown field (known: company_id, product_id, "
					   "firmware_id, tags_all, tags_any)");
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_targets(json_t *obj, struct create_input *in, struct api_input_error *err)
{
	json_t *nodes = json_object_get(obj, "nodes"), *filter = json_object_get(obj, "filter"), *v;
	const char *key;
	uint8_t *seen;
	size_t i;

	if (!json_is_object(obj))
		return api_input_fail(err, "invalid_field", "targets", "expected {\"nodes\": [...]} or {\"filter\": {...}}");
	json_object_foreach(obj, key, v)
		if (strcmp(key, "nodes") != 0 && strcmp(key, "filter") != 0)
			return api_input_fail(err, "unknown_field", "targets", "unknown field '%.40s' (known: nodes, "
					      "filter)", key);
	if (nodes && filter)
		return api_input_fail(err, "invalid_field", "targets", "give nodes or filter, not both");
	if (!nodes && !filter)
		return api_input_fail(err, "missing_field", "targets", "give nodes (a list of addresses) or filter");
	in->sel.company_id = NODE_ID_UNKNOWN;
	in->sel.product_id = NODE_ID_UNKNOWN;
	if (filter)
		return parse_filter(filter, in, err);
	if (!json_is_array(nodes) || json_array_size(nodes) == 0 || json_array_size(nodes) > CAMPAIGN_TARGETS_MAX)
		return api_input_fail(err, "invalid_field", "targets.nodes", "expected an array of 1 to %d node "
				      "addresses", CAMPAIGN_TARGETS_MAX);
	in->addresses = calloc(json_array_size(nodes), sizeof(*in->addresses));
	seen = calloc(MESH_UNICAST_MAX + 1, 1);
	if (!in->addresses || !seen) {
		free(seen);
		err->code = "internal_error";
		snprintf(err->message, sizeof(err->message), "out of memory");
		return -ENOMEM;
	}
	json_array_foreach(nodes, i, v) {
		char path[48];
		uint64_t a;

		snprintf(path, sizeof(path), "targets.nodes[%zu]", i);
		if (get_id(v, path, MESH_UNICAST_MIN, MESH_UNICAST_MAX, &a, err) < 0 ||
		    (seen[a]++ && api_input_fail(err, "invalid_field", path, "0x%04llx is given twice",
						 (unsigned long long)a) < 0)) {
			free(seen);
			return -EINVAL;
		}
		in->addresses[i] = (uint16_t)a;
	}
	free(seen);
	in->sel.addresses = in->addresses;
	in->sel.n_addresses = json_array_size(nodes);
	return 0;
}

static int parse_plan(json_t *obj, struct campaign *c, struct api_input_error *err)
{
	const char *key;
	json_t *v;
	char path[64];
	bool size = false, percent = false;

	if (!json_is_object(obj))
		return api_input_fail(err, "invalid_field", "plan", "expected {\"canary\": K, \"size\": N} or "
				      "{\"canary\": K, \"percent\": P}");
	json_object_foreach(obj, key, v) {
		uint64_t n;
		int r;

		snprintf(path, sizeof(path), "plan.%.40s", key);
		if (strcmp(key, "canary") == 0) {
			r = get_uint(v, path, 0, CAMPAIGN_CANARY_MAX, &n, err);
			c->canary = (uint32_t)n;
		} else if (strcmp(key, "size") == 0) {
			r = get_uint(v, path, 1, CAMPAIGN_TARGETS_MAX, &n, err);
			c->wave_size = (uint32_t)n;
			size = true;
		} else if (strcmp(key, "percent") == 0) {
			r = get_uint(v, path, 1, 100, &n, err);
			c->wave_percent = (uint32_t)n;
			percent = true;
		} else {
			r = api_input_fail(err, "unknown_field", path, "unknown field (known: canary, size, percent)");
		}
		if (r < 0)
			return r;
	}
	if (size && percent)
		return api_input_fail(err, "invalid_field", "plan", "give size or percent, not both");
	if (size)
		c->wave_percent = 0;
	return 0;
}

static int parse_apply(json_t *obj, struct campaign *c, int64_t now, struct api_input_error *err)
{
	json_t *policy = json_object_get(obj, "policy"), *window = json_object_get(obj, "window"), *v;
	const char *key, *p;

	if (!json_is_object(obj))
		return api_input_fail(err, "invalid_field", "apply", "expected {\"policy\": \"immediate\" | "
				      "\"verify_only\" | \"window\", \"window\": {\"start\": ..., \"end\": ...}}");
	json_object_foreach(obj, key, v)
		if (strcmp(key, "policy") != 0 && strcmp(key, "window") != 0)
			return api_input_fail(err, "unknown_field", "apply", "unknown field '%.40s' (known: policy, "
					      "window)", key);
	p = json_is_string(policy) ? json_string_value(policy) : NULL;
	if (!policy)
		return api_input_fail(err, "missing_field", "apply.policy", "required: immediate, verify_only or window");
	if (p && strcmp(p, "immediate") == 0)
		c->apply_policy = CAMPAIGN_APPLY_IMMEDIATE;
	else if (p && strcmp(p, "verify_only") == 0)
		c->apply_policy = CAMPAIGN_APPLY_VERIFY_ONLY;
	else if (p && strcmp(p, "window") == 0)
		c->apply_policy = CAMPAIGN_APPLY_WINDOW;
	else
		return api_input_fail(err, "invalid_field", "apply.policy", "expected immediate, verify_only or window");
	if (c->apply_policy != CAMPAIGN_APPLY_WINDOW) {
		if (window)
			return api_input_fail(err, "invalid_field", "apply.window", "only with policy window");
		return 0;
	}
	if (!json_is_object(window))
		return api_input_fail(err, json_is_null(window) || !window ? "missing_field" : "invalid_field",
				      "apply.window", "policy window needs {\"start\": TIME, \"end\": TIME}");
	json_object_foreach(window, key, v) {
		int r;

		if (strcmp(key, "start") == 0)
			r = get_time(v, "apply.window.start", &c->window_start, err);
		else if (strcmp(key, "end") == 0)
			r = get_time(v, "apply.window.end", &c->window_end, err);
		else
			r = api_input_fail(err, "unknown_field", "apply.window", "unknown field '%.40s' (known: start, "
					   "end)", key);
		if (r < 0)
			return r;
	}
	if (!c->window_start || !c->window_end)
		return api_input_fail(err, "missing_field", "apply.window", "both start and end are required");
	if (c->window_end <= c->window_start)
		return api_input_fail(err, "invalid_field", "apply.window", "end must be after start");
	if (c->window_end <= now)
		return api_input_fail(err, "invalid_field", "apply.window.end", "is in the past");
	return 0;
}

static int parse_transfer(json_t *obj, struct create_input *in, struct api_input_error *err)
{
	struct campaign *c = &in->c;
	const char *key;
	json_t *v;
	char path[64];

	if (!json_is_object(obj))
		return api_input_fail(err, "invalid_field", "transfer", "expected an object (mode, ttl, timeout_base, "
				      "group_address, block_size_log, chunk_size)");
	json_object_foreach(obj, key, v) {
		uint64_t n = 0;
		int r;

		snprintf(path, sizeof(path), "transfer.%.40s", key);
		if (strcmp(key, "mode") == 0) {
			const char *s = json_is_string(v) ? json_string_value(v) : "";

			r = 0;
			if (strcmp(s, "push") == 0)
				c->mode = CAMPAIGN_TRANSFER_PUSH;
			else if (strcmp(s, "pull") == 0)
				c->mode = CAMPAIGN_TRANSFER_PULL;
			else
				r = api_input_fail(err, "invalid_field", path, "expected push or pull");
		} else if (strcmp(key, "ttl") == 0) {
			r = get_uint(v, path, 0, CAMPAIGN_TTL_MAX, &n, err);
			if (r == 0 && n == 1)
				r = api_input_fail(err, "invalid_field", path, "1 is not a valid TTL (0, or 2 to %d)",
						   CAMPAIGN_TTL_MAX);
			c->ttl = (uint8_t)n;
		} else if (strcmp(key, "timeout_base") == 0) {
			r = get_uint(v, path, 0, UINT16_MAX, &n, err);
			c->timeout_base = (uint16_t)n;
		} else if (strcmp(key, "group_address") == 0) {
			r = json_is_null(v) ? 0 : get_id(v, path, GROUPS_ADDRESS_MIN, GROUPS_ADDRESS_MAX, &n, err);
			c->group_address = (uint16_t)n;
			in->have_group = n != 0;
		} else if (strcmp(key, "block_size_log") == 0) {
			r = json_is_null(v) ? 0 : get_uint(v, path, CAMPAIGN_BLOCK_SIZE_LOG_MIN,
							   CAMPAIGN_BLOCK_SIZE_LOG_MAX, &n, err);
			c->block_size_log = (uint8_t)n;
		} else if (strcmp(key, "chunk_size") == 0) {
			r = json_is_null(v) ? 0 : get_uint(v, path, CAMPAIGN_CHUNK_SIZE_MIN, CAMPAIGN_CHUNK_SIZE_MAX,
							   &n, err);
			c->chunk_size = (uint16_t)n;
		} else if (strcmp(key, "group_allocated") == 0) {
			r = api_input_fail(err, "invalid_field", path, "is read-only: the daemon sets it");
		} else {
			r = api_input_fail(err, "unknown_field", path, "unknown field (known: mode, ttl, timeout_base, "
					   "group_address, block_size_log, chunk_size)");
		}
		if (r < 0)
			return r;
	}
	return 0;
}

static bool has_control_char(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* Reads the body into @in. Returns 0 or -EINVAL/-ENOMEM with @err set. */
static int parse_create(json_t *root, struct create_input *in, int64_t now, struct api_input_error *err)
{
	struct campaign *c = &in->c;
	const char *key;
	json_t *v;

	if (!json_is_object(root))
		return api_input_fail(err, "invalid_field", "body", "expected a campaign object");
	json_object_foreach(root, key, v) {
		uint64_t n;
		int r = 0;

		if (strcmp(key, "name") == 0) {
			const char *s = json_is_string(v) ? json_string_value(v) : NULL;

			if (!s || !*s || strlen(s) > CAMPAIGN_NAME_MAX || has_control_char(s))
				r = api_input_fail(err, "invalid_field", "name", "expected 1 to %d bytes of text without "
						   "control characters", CAMPAIGN_NAME_MAX);
			else
				snprintf(c->name, sizeof(c->name), "%s", s);
			in->have_name = true;
		} else if (strcmp(key, "firmware") == 0) {
			if (!json_is_string(v) || !firmware_id_valid(json_string_value(v)))
				r = api_input_fail(err, "invalid_field", "firmware", "expected an image id: 64 lowercase hex "
						   "digits (GET /api/v1/firmware lists them)");
			else
				snprintf(c->firmware, sizeof(c->firmware), "%s", json_string_value(v));
			in->have_firmware = true;
		} else if (strcmp(key, "targets") == 0) {
			r = parse_targets(v, in, err);
			in->have_targets = true;
		} else if (strcmp(key, "plan") == 0) {
			r = parse_plan(v, c, err);
		} else if (strcmp(key, "success_threshold") == 0) {
			r = get_uint(v, key, 0, 100, &n, err);
			c->success_threshold = (uint32_t)n;
		} else if (strcmp(key, "error_threshold") == 0) {
			r = get_uint(v, key, 0, 100, &n, err);
			c->error_threshold = (uint32_t)n;
		} else if (strcmp(key, "max_attempts") == 0) {
			r = get_uint(v, key, 1, CAMPAIGN_ATTEMPTS_MAX, &n, err);
			c->max_attempts = (uint32_t)n;
		} else if (strcmp(key, "apply") == 0) {
			r = parse_apply(v, c, now, err);
		} else if (strcmp(key, "transfer") == 0) {
			r = parse_transfer(v, in, err);
		} else if (strcmp(key, "allow_downgrade") == 0) {
			if (!json_is_boolean(v))
				r = api_input_fail(err, "invalid_field", key, "expected true or false");
			c->allow_downgrade = json_is_true(v);
			in->have_downgrade = true;
		} else if (strcmp(key, "scheduled_start") == 0) {
			c->scheduled_start = 0;
			if (!json_is_null(v)) {
				r = get_time(v, key, &c->scheduled_start, err);
				if (r == 0 && c->scheduled_start <= now)
					r = api_input_fail(err, "invalid_field", key, "is in the past: leave it out to start "
							   "with POST .../start");
			}
		} else if (strcmp(key, "id") == 0 || strcmp(key, "state") == 0 || strcmp(key, "reason") == 0 ||
			   strcmp(key, "created_by") == 0 || strcmp(key, "created_at") == 0 ||
			   strcmp(key, "updated_at") == 0 || strcmp(key, "started_at") == 0 ||
			   strcmp(key, "finished_at") == 0 || strcmp(key, "firmware_id") == 0) {
			r = api_input_fail(err, "invalid_field", key, "is read-only: the daemon sets it");
		} else {
			r = api_input_fail(err, "unknown_field", key, "unknown field (known: name, firmware, targets, plan, "
					   "success_threshold, error_threshold, max_attempts, apply, transfer, "
					   "allow_downgrade, scheduled_start)");
		}
		if (r < 0)
			return r;
	}
	if (!in->have_name)
		return api_input_fail(err, "missing_field", "name", "required: a name for people");
	if (!in->have_firmware)
		return api_input_fail(err, "missing_field", "firmware", "required: the image's id");
	if (!in->have_targets)
		return api_input_fail(err, "missing_field", "targets", "required: {\"nodes\": [...]} or "
				      "{\"filter\": {...}}");
	if (c->apply_policy == CAMPAIGN_APPLY_WINDOW && c->scheduled_start && c->scheduled_start >= c->window_end)
		return api_input_fail(err, "invalid_field", "apply.window", "ends before the scheduled start");
	return 0;
}

static void create_input_done(struct create_input *in)
{
	campaign_done(&in->c);
	free(in->addresses);
}

/* --- replies ------------------------------------------------------------------------------------------------- */

static void reply_invalid_state(struct http_response *res, const char *action, enum campaign_state state,
				const char *hint)
{
	char message[384];

	snprintf(message, sizeof(message), "cannot %s a campaign that is %s%s%s", action,
		 campaign_state_to_string(state), hint ? ": " : "", hint ? hint : "");
	http_reply_error(res, 409, "invalid_state", "%s", message);
	/* the same error with the current state beside the message, for programs */
	http_reply_json(res, 409, json_pack("{s:{s:s, s:s, s:s}}", "error", "code", "invalid_state", "message",
					    message, "state", campaign_state_to_string(state)));
	snprintf(res->error_code, sizeof(res->error_code), "invalid_state");
}

static json_t *counts_json(const uint64_t counts[CAMPAIGN_TARGET_STATE_COUNT], uint64_t *ret_total)
{
	json_t *o = json_object();
	uint64_t total = 0;

	for (int s = 0; o && s < CAMPAIGN_TARGET_STATE_COUNT; s++) {
		json_object_set_new(o, campaign_target_state_to_string((enum campaign_target_state)s),
				    json_integer((json_int_t)counts[s]));
		total += counts[s];
	}
	if (ret_total)
		*ret_total = total;
	return o;
}

static json_t *time_json(int64_t ms)
{
	char text[21];

	if (!ms)
		return json_null();
	time_format_rfc3339(ms, text);
	return json_string(text);
}

/* The radio model's bound of each wave in ms (estimate_campaign()), by wave index into @bound_ms (n_waves
 * entries, 0 = none). Returns 0, or a negative errno when there is no estimate (the image is gone, no sizes fit). */
static int wave_bounds(struct api *api, const struct campaign *c, int64_t *bound_ms, size_t n_waves)
{
	struct firmware_record image;
	struct radio_params params;
	char reason[256];
	json_t *est = NULL, *w;
	size_t i;
	int r;

	r = firmware_get(api->firmware, c->firmware, &image);
	if (r < 0)
		return r;
	radio_params_zephyr_default(&params);
	r = estimate_campaign(api->db, c, image.size, &params, &est, reason, sizeof(reason));
	if (r < 0)
		return r;
	json_array_foreach(json_object_get(est, "waves"), i, w) {
		json_int_t index = json_integer_value(json_object_get(w, "wave"));

		if (index >= 0 && (size_t)index < n_waves)
			bound_ms[index] = (int64_t)(json_number_value(json_object_get(w, "total_s")) * 1000.0);
	}
	json_decref(est);
	return 0;
}

/* The campaign's ETA: the wave on the dongle from its block rate (the engine's progress), else from its bound;
 * the waves still pending from their bound. Both bounds are scaled by how the campaign's finished waves went
 * against theirs (measured / bound), once one has finished. null for a campaign that has ended or not started,
 * or when neither the engine nor the radio model can say. */
static json_t *eta_json(struct api *api, const struct campaign *c, const struct campaign_wave *waves, size_t n_waves)
{
	int64_t *bound_ms, measured = 0, bounded = 0, wave_ms = -1, later_ms = 0, now = time_now_ms();
	int64_t job_campaign = 0, progress_ms = engine_transfer_eta_ms(api->engine);
	uint32_t job_wave = 0, job_dist = 0;
	double scale = 1.0;
	const struct campaign_wave *current = NULL;
	char at[21];
	json_t *o;

	if ((c->state != CAMPAIGN_RUNNING && c->state != CAMPAIGN_PAUSED) || n_waves == 0)
		return json_null();
	bound_ms = calloc(n_waves, sizeof(*bound_ms));
	if (!bound_ms)
		return json_null();
	if (wave_bounds(api, c, bound_ms, n_waves) < 0 && progress_ms < 0) {
		free(bound_ms);
		return json_null();
	}
	for (size_t i = 0; i < n_waves; i++) {
		const struct campaign_wave *w = &waves[i];

		if (w->state == CAMPAIGN_WAVE_DONE && w->started_at && w->finished_at > w->started_at &&
		    w->index < n_waves && bound_ms[w->index] > 0) {
			measured += w->finished_at - w->started_at;
			bounded += bound_ms[w->index];
		}
	}
	if (bounded)
		scale = (double)measured / (double)bounded;
	if (api->engine)
		engine_job(api->engine, &job_campaign, &job_wave, &job_dist);
	for (size_t i = 0; i < n_waves; i++) {
		const struct campaign_wave *w = &waves[i];
		int64_t scaled = w->index < n_waves ? (int64_t)(bound_ms[w->index] * scale) : 0;

		if (w->state == CAMPAIGN_WAVE_PENDING && !(job_campaign == c->id && job_wave == w->index)) {
			later_ms += scaled;
		} else if (w->state != CAMPAIGN_WAVE_DONE && w->state != CAMPAIGN_WAVE_CANCELLED && !current) {
			current = w;
			if (job_campaign == c->id && job_wave == w->index && progress_ms >= 0)
				wave_ms = progress_ms;
			else
				wave_ms = scaled - (w->started_at ? now - w->started_at : 0);
			if (wave_ms < 0)
				wave_ms = 0;
		}
	}
	free(bound_ms);
	o = json_pack("{s:I, s:o, s:o, s:I, s:o, s:s}", "s", (json_int_t)((later_ms + (wave_ms > 0 ? wave_ms : 0)) /
		      1000), "wave", current ? json_integer(current->index) : json_null(), "wave_s",
		      wave_ms >= 0 ? json_integer(wave_ms / 1000) : json_null(), "later_waves_s",
		      (json_int_t)(later_ms / 1000), "scale", bounded ? json_real(scale) : json_null(), "wave_from",
		      wave_ms < 0 ? "none" : current && job_campaign == c->id && job_wave == current->index &&
		      progress_ms >= 0 ? "progress" : "estimate");
	if (o && c->state == CAMPAIGN_RUNNING) {
		time_format_rfc3339(now + later_ms + (wave_ms > 0 ? wave_ms : 0), at);
		json_object_set_new(o, "at", json_string(at));
	}
	return o ? o : json_null();
}

/* The campaign object with its counts; @detail adds the waves. Returns a new reference or NULL. */
static json_t *campaign_json(struct api *api, const struct campaign *c, bool detail, int *ret_error)
{
	uint64_t counts[CAMPAIGN_TARGET_STATE_COUNT], total = 0;
	struct campaign_wave *waves = NULL;
	size_t n_waves = 0;
	json_t *o = campaign_to_json(c), *list;
	int r;

	*ret_error = -ENOMEM;
	if (!o)
		return NULL;
	r = campaigns_target_counts(api->db, c->id, counts);
	if (r == 0 && detail)
		r = campaigns_waves(api->db, c->id, &waves, &n_waves);
	if (r < 0) {
		*ret_error = r;
		json_decref(o);
		return NULL;
	}
	json_object_set_new(o, "counts", counts_json(counts, &total));
	json_object_set_new(o, "total", json_integer((json_int_t)total));
	if (detail) {
		list = json_array();
		for (size_t i = 0; list && i < n_waves; i++)
			json_array_append_new(list, json_pack("{s:i, s:s, s:s, s:I, s:o, s:o, s:o}", "index",
				(int)waves[i].index, "kind", campaign_wave_kind_to_string(waves[i].kind), "state",
				campaign_wave_state_to_string(waves[i].state), "total", (json_int_t)waves[i].total,
				"counts", counts_json(waves[i].counts, NULL), "started_at",
				time_json(waves[i].started_at), "finished_at", time_json(waves[i].finished_at)));
		json_object_set_new(o, "waves", list ? list : json_null());
		json_object_set_new(o, "eta", eta_json(api, c, waves, n_waves));
		free(waves);
	}
	*ret_error = 0;
	return o;
}

static void reply_campaign(struct api *api, struct http_response *res, int64_t id, unsigned status)
{
	struct campaign c;
	json_t *o;
	int r = campaigns_get(api->db, id, &c);

	if (r == -ENOENT) {
		http_reply_error(res, 404, "not_found", "no campaign with id %" PRId64, id);
		return;
	}
	if (r < 0) {
		api_reply_db_error(res, r);
		return;
	}
	o = campaign_json(api, &c, true, &r);
	campaign_done(&c);
	if (!o) {
		if (r == -ENOMEM)
			http_reply_error(res, 500, "internal_error", "out of memory");
		else
			api_reply_db_error(res, r);
		return;
	}
	http_reply_json(res, status, o);
}

static int id_param(const struct http_request *req, int64_t *ret, struct http_response *res)
{
	uint64_t id;

	if (parse_uint(req->params[0], 1, INT64_MAX, &id) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "'%s' is not a campaign id: expected a positive "
				 "integer (GET /api/v1/campaigns lists them)", req->params[0]);
		return -EINVAL;
	}
	*ret = (int64_t)id;
	return 0;
}

static const char *who(const struct http_request *req)
{
	return req->principal.name[0] ? req->principal.name : "api";
}

/* --- POST /api/v1/campaigns ------------------------------------------------------------------------------------ */

/* The skipped reasons of a resolution, for the message of an empty target set. */
static void describe_skipped(const struct campaign_resolved *t, size_t n, char *out, size_t size)
{
	static const char *const reasons[] = { "up_to_date", "not_capable", "downgrade" };
	size_t used = 0;

	out[0] = '\0';
	for (size_t k = 0; k < ARRAY_SIZE(reasons); k++) {
		size_t count = 0;

		for (size_t i = 0; i < n; i++)
			count += t[i].reason && strcmp(t[i].reason, reasons[k]) == 0;
		if (count && used < size)
			used += (size_t)snprintf(out + used, size - used, "%s%zu %s", used ? ", " : "", count,
						 reasons[k]);
	}
}

static void reply_unknown_nodes(struct http_response *res, const uint16_t *unknown, size_t n)
{
	char list[UNKNOWN_NAMED_MAX * 8 + 32];
	size_t used = 0;

	list[0] = '\0';
	for (size_t i = 0; i < n && i < UNKNOWN_NAMED_MAX; i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s0x%04x", i ? ", " : "", unknown[i]);
	if (n > UNKNOWN_NAMED_MAX)
		snprintf(list + used, sizeof(list) - used, " and %zu more", n - UNKNOWN_NAMED_MAX);
	http_reply_error(res, 400, "unknown_nodes", "targets.nodes: no node with address %s: register the nodes "
			 "(POST /api/v1/nodes, or import the network) or leave them out", list);
}

void api_campaigns_create(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct create_input in = { 0 };
	struct api_input_error err = { 0 };
	struct firmware_record *fw = NULL;
	struct campaign_resolved *targets = NULL;
	uint16_t unknown[UNKNOWN_NAMED_MAX];
	size_t n_targets = 0, n_unknown = 0, n_pending = 0;
	struct waves_params params;
	int64_t now = time_now_ms();
	char reason[256], skipped[160];
	json_t *root = NULL, *selection;
	int r;

	if (jsonbody_parse(req->body, req->body_len, &root, reason, sizeof(reason)) < 0) {
		http_reply_error(res, 400, "invalid_json", "%s", reason);
		return;
	}
	campaign_init(&in.c);
	in.c.canary = CAMPAIGN_DEFAULT_CANARY;
	in.c.wave_percent = CAMPAIGN_DEFAULT_PERCENT;
	in.c.success_threshold = CAMPAIGN_DEFAULT_SUCCESS_THRESHOLD;
	in.c.error_threshold = CAMPAIGN_DEFAULT_ERROR_THRESHOLD;
	in.c.max_attempts = CAMPAIGN_DEFAULT_ATTEMPTS;
	in.c.ttl = CAMPAIGN_DEFAULT_TTL;
	in.c.timeout_base = CAMPAIGN_DEFAULT_TIMEOUT_BASE;
	in.c.allow_downgrade = firmware_allow_downgrade(api->firmware);
	r = parse_create(root, &in, now, &err);
	if (r < 0) {
		http_reply_error(res, r == -ENOMEM ? 500 : 400, err.code, "%s", err.message);
		goto out;
	}
	selection = json_object_get(root, "targets");
	in.c.selection = json_dumps(selection, JSON_COMPACT | JSON_SORT_KEYS);
	if (!in.c.selection || strlen(in.c.selection) > CAMPAIGN_SELECTION_MAX) {
		http_reply_error(res, 500, "internal_error", "the target selection cannot be kept");
		goto out;
	}
	snprintf(in.c.created_by, sizeof(in.c.created_by), "%s", who(req));

	fw = malloc(sizeof(*fw));
	if (!fw) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		goto out;
	}
	r = firmware_get(api->firmware, in.c.firmware, fw);
	if (r == -ENOENT) {
		http_reply_error(res, 400, "unknown_firmware", "firmware: no image %s: import it first (POST "
				 "/api/v1/firmware; GET /api/v1/firmware lists the stored ones)", in.c.firmware);
		goto out;
	}
	if (r < 0) {
		api_reply_db_error(res, r);
		goto out;
	}
	if (fw->firmware_id_len > CAMPAIGN_FWID_MAX) {
		http_reply_error(res, 400, "invalid_field", "firmware: its firmware ID is %zu bytes; a distribution "
				 "carries at most %d", fw->firmware_id_len, CAMPAIGN_FWID_MAX);
		goto out;
	}
	memcpy(in.c.fwid, fw->firmware_id, fw->firmware_id_len);
	in.c.fwid_len = fw->firmware_id_len;

	r = campaigns_resolve(api->db, &in.sel, in.c.fwid, in.c.fwid_len, in.c.allow_downgrade, &targets, &n_targets,
			      unknown, ARRAY_SIZE(unknown), &n_unknown);
	if (r == -ENOENT) {
		reply_unknown_nodes(res, unknown, n_unknown);
		goto out;
	}
	if (r < 0) {
		if (r == -ENOMEM)
			http_reply_error(res, 500, "internal_error", "out of memory");
		else
			api_reply_db_error(res, r);
		goto out;
	}
	for (size_t i = 0; i < n_targets; i++)
		n_pending += targets[i].state == CAMPAIGN_TARGET_PENDING;
	if (n_pending == 0) {
		describe_skipped(targets, n_targets, skipped, sizeof(skipped));
		if (n_targets == 0)
			http_reply_error(res, 400, "no_targets", "targets: no node matches the selection");
		else
			http_reply_error(res, 400, "no_targets", "targets: none of the %zu selected nodes needs the "
					 "image (%s)%s", n_targets, skipped,
					 strstr(skipped, "downgrade") ? "; set allow_downgrade to install an older "
					 "version" : "");
		goto out;
	}
	params = (struct waves_params){ in.c.canary, in.c.wave_size, in.c.wave_percent, 0 };
	if (waves_count(n_pending, &params) > WAVES_MAX) {
		http_reply_error(res, 400, "invalid_field", "plan: %zu nodes make %u waves, more than %d: raise size or "
				 "percent", n_pending, waves_count(n_pending, &params), WAVES_MAX);
		goto out;
	}
	if (in.have_group) {
		r = campaigns_group_in_use(api->db, in.c.group_address);
		if (r < 0) {
			api_reply_db_error(res, r);
			goto out;
		}
		if (r > 0) {
			http_reply_error(res, 409, "group_in_use", "transfer.group_address: 0x%04x is the group of "
					 "another campaign that is not finished: give another one, or leave it out and "
					 "the daemon picks a free one", in.c.group_address);
			goto out;
		}
	} else {
		r = campaigns_allocate_group(api->db, &in.c.group_address);
		if (r == -ENOENT) {
			http_reply_error(res, 409, "no_network", "transfer.group_address: no network is imported, so "
					 "the daemon has no group range to pick from: import the network (POST "
					 "/api/v1/network/import) or give a group address");
			goto out;
		}
		if (r == -ENOSPC) {
			http_reply_error(res, 409, "no_free_group", "transfer.group_address: every group address of "
					 "meshfleet's range is in use (groups and unfinished campaigns): finish or "
					 "cancel a campaign, remove a group, or give an address");
			goto out;
		}
		if (r < 0) {
			api_reply_db_error(res, r);
			goto out;
		}
		in.c.group_allocated = true;
	}
	r = campaigns_create(api->db, api->events, &in.c, targets, n_targets);
	if (r < 0) {
		if (r == -ENOMEM)
			http_reply_error(res, 500, "internal_error", "out of memory");
		else
			api_reply_db_error(res, r);
		goto out;
	}
	reply_campaign(api, res, in.c.id, 201);
	snprintf(res->location, sizeof(res->location), "/api/v1/campaigns/%" PRId64, in.c.id);
out:
	free(targets);
	free(fw);
	create_input_done(&in);
	json_decref(root);
}

/* --- GET /api/v1/campaigns, GET/DELETE /api/v1/campaigns/{id}, GET .../targets ------------------------------------ */

struct list_state {
	struct api *api;
	json_t *items;
	int64_t last_id;
	uint16_t last_address;
	int error;
};

static int list_one(const struct campaign *c, void *userdata)
{
	struct list_state *st = userdata;
	json_t *o = campaign_json(st->api, c, false, &st->error);

	if (!o)
		return st->error ? st->error : -ENOMEM;
	json_array_append_new(st->items, o);
	st->last_id = c->id;
	return 0;
}

void api_campaigns_list(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct list_state st = { .api = api };
	const char *state_text = http_query(req, "state"), *cursor = http_query(req, "cursor");
	enum campaign_state state;
	uint64_t limit, before = 0;
	bool more = false;
	int r;

	limit = CAMPAIGNS_LIST_DEFAULT;
	if (api_query_uint(req, "limit", 1, CAMPAIGN_LIST_MAX, &limit, NULL, res) < 0)
		return;
	if (state_text && campaign_state_from_string(state_text, &state) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "state='%s': expected draft, scheduled, running, "
				 "paused, completed, failed or cancelled", state_text);
		return;
	}
	/* The cursor is "c" + the last id returned; clients treat it as opaque. */
	if (cursor && (cursor[0] != 'c' || parse_uint(cursor + 1, 1, INT64_MAX, &before) < 0)) {
		http_reply_error(res, 400, "invalid_parameter", "cursor='%s' is not a cursor this server returned",
				 cursor);
		return;
	}
	st.items = json_array();
	if (!st.items) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	}
	r = campaigns_list(api->db, state_text ? (int)state : -1, (int64_t)before, (unsigned)limit, list_one, &st,
			   &more);
	if (r < 0) {
		json_decref(st.items);
		if (r == -ENOMEM)
			http_reply_error(res, 500, "internal_error", "out of memory");
		else
			api_reply_db_error(res, r);
		return;
	}
	if (more) {
		char next[32];

		snprintf(next, sizeof(next), "c%" PRId64, st.last_id);
		http_reply_json(res, 200, json_pack("{s:o, s:s}", "campaigns", st.items, "next_cursor", next));
	} else {
		http_reply_json(res, 200, json_pack("{s:o, s:n}", "campaigns", st.items, "next_cursor"));
	}
}

void api_campaign_get(void *app, const struct http_request *req, struct http_response *res)
{
	int64_t id;

	if (id_param(req, &id, res) == 0)
		reply_campaign(app, res, id, 200);
}

void api_campaign_delete(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	enum campaign_state state;
	int64_t id;
	int r;

	if (id_param(req, &id, res) < 0)
		return;
	r = campaigns_delete(api->db, id, &state);
	if (r == 0) {
		if (api->events)
			events_publish(api->events, EVENT_CAMPAIGN, json_pack("{s:I, s:s, s:s, s:s}", "campaign",
					(json_int_t)id, "action", "deleted", "from", "draft", "state", "draft"));
		http_reply_text(res, 204, NULL, NULL, 0);
	} else if (r == -ENOENT) {
		http_reply_error(res, 404, "not_found", "no campaign with id %" PRId64, id);
	} else if (r == -EBUSY) {
		reply_invalid_state(res, "delete", state, "only a draft is deleted; cancel it instead (its record "
				    "stays as history)");
	} else {
		api_reply_db_error(res, r);
	}
}

static int target_one(const struct campaign_target *t, void *userdata)
{
	struct list_state *st = userdata;
	char fwid[2 * sizeof(t->old_fwid) + 1];
	json_t *o;

	hex_encode(t->old_fwid, t->old_fwid_len, fwid);
	fwid[2 * t->old_fwid_len] = '\0';
	o = json_pack("{s:i, s:o, s:s, s:s?, s:i, s:s?, s:s?, s:o}", "address", (int)t->address, "wave",
		      t->wave < 0 ? json_null() : json_integer((json_int_t)t->wave), "state",
		      campaign_target_state_to_string(t->state), "reason", t->reason[0] ? t->reason : NULL,
		      "attempts", (int)t->attempts, "last_result", t->last_result[0] ? t->last_result : NULL,
		      "old_firmware_id", t->old_fwid_len ? fwid : NULL, "updated_at", time_json(t->updated_at));
	if (!o)
		return -ENOMEM;
	json_array_append_new(st->items, o);
	st->last_address = t->address;
	return 0;
}

void api_campaign_targets(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct list_state st = { .api = api };
	const char *state_text = http_query(req, "state"), *cursor = http_query(req, "cursor");
	enum campaign_target_state state;
	struct campaign c;
	uint64_t limit;
	uint8_t raw[2];
	uint16_t after = 0;
	bool more = false;
	int64_t id;
	int r;

	limit = TARGETS_LIST_DEFAULT;
	if (id_param(req, &id, res) < 0 || api_query_uint(req, "limit", 1, CAMPAIGN_LIST_MAX, &limit, NULL, res) < 0)
		return;
	if (state_text && campaign_target_state_from_string(state_text, &state) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "state='%s': expected pending, preparing, "
				 "transferring, verifying, verified, applying, confirming, succeeded, failed, skipped "
				 "or cancelled", state_text);
		return;
	}
	/* The cursor is "t" + the last address returned, in hex. */
	if (cursor) {
		if (strlen(cursor) != 5 || cursor[0] != 't' || hex_decode(cursor + 1, 4, raw) < 0) {
			http_reply_error(res, 400, "invalid_parameter", "cursor='%s' is not a cursor this server "
					 "returned", cursor);
			return;
		}
		after = (uint16_t)(raw[0] << 8 | raw[1]);
	}
	r = campaigns_get(api->db, id, &c);
	if (r == -ENOENT) {
		http_reply_error(res, 404, "not_found", "no campaign with id %" PRId64, id);
		return;
	}
	if (r < 0) {
		api_reply_db_error(res, r);
		return;
	}
	campaign_done(&c);
	st.items = json_array();
	if (!st.items) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	}
	r = campaigns_targets(api->db, id, state_text ? (int)state : -1, after, (unsigned)limit, target_one, &st,
			      &more);
	if (r == 0)
		r = preflight_annotate(api->db, id, st.items);     /* each target's preflight answer (preflight.h) */
	if (r < 0) {
		json_decref(st.items);
		if (r == -ENOMEM)
			http_reply_error(res, 500, "internal_error", "out of memory");
		else
			api_reply_db_error(res, r);
		return;
	}
	if (more) {
		char next[8];

		snprintf(next, sizeof(next), "t%04x", st.last_address);
		http_reply_json(res, 200, json_pack("{s:I, s:o, s:s}", "campaign", (json_int_t)id, "targets", st.items,
						    "next_cursor", next));
	} else {
		http_reply_json(res, 200, json_pack("{s:I, s:o, s:n}", "campaign", (json_int_t)id, "targets",
						    st.items, "next_cursor"));
	}
}

/* --- actions --------------------------------------------------------------------------------------------------- */

/* Answers a failed action: 404, 409 invalid_state (with the state), or a database error. */
static void reply_action_error(struct http_response *res, int r, int64_t id, const char *action,
			       enum campaign_state state, const char *hint)
{
	if (r == -ENOENT)
		http_reply_error(res, 404, "not_found", "no campaign with id %" PRId64, id);
	else if (r == -EPERM)
		reply_invalid_state(res, action, state, hint);
	else if (r == -ENOMEM)
		http_reply_error(res, 500, "internal_error", "out of memory");
	else
		api_reply_db_error(res, r);
}

void api_campaign_start(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	enum campaign_state state = CAMPAIGN_DRAFT;
	int64_t id;
	int r;

	if (id_param(req, &id, res) < 0)
		return;
	r = campaigns_start(api->db, api->events, id, time_now_ms(), who(req), &state);
	if (r < 0)
		reply_action_error(res, r, id, "start", state, "start takes a draft or a scheduled campaign");
	else
		reply_campaign(api, res, id, 200);
}

/* pause and resume: one checked transition of the campaign, the reason naming who asked. */
static void reply_pause_resume(struct api *api, const struct http_request *req, struct http_response *res,
			       enum campaign_state from, enum campaign_state to, const char *action, const char *done,
			       const char *hint)
{
	enum campaign_state state = CAMPAIGN_DRAFT;
	char reason[CAMPAIGN_REASON_MAX + 1];
	int64_t id;
	int r;

	if (id_param(req, &id, res) < 0)
		return;
	snprintf(reason, sizeof(reason), "%s by '%s'", done, who(req));
	r = campaigns_set_state(api->db, api->events, id, from, to, reason, false, &state);
	if (r < 0)
		reply_action_error(res, r, id, action, state, hint);
	else
		reply_campaign(api, res, id, 200);
}

void api_campaign_pause(void *app, const struct http_request *req, struct http_response *res)
{
	reply_pause_resume(app, req, res, CAMPAIGN_RUNNING, CAMPAIGN_PAUSED, "pause", "paused",
			   "only a running campaign pauses");
}

void api_campaign_resume(void *app, const struct http_request *req, struct http_response *res)
{
	reply_pause_resume(app, req, res, CAMPAIGN_PAUSED, CAMPAIGN_RUNNING, "resume", "resumed",
			   "only a paused campaign resumes");
}

void api_campaign_cancel(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	enum campaign_state state = CAMPAIGN_DRAFT;
	int64_t id;
	int r;

	if (id_param(req, &id, res) < 0)
		return;
	r = campaigns_cancel(api->db, api->events, id, who(req), &state);
	if (r < 0)
		reply_action_error(res, r, id, "cancel", state, "it has ended already");
	else
		reply_campaign(api, res, id, 200);
}

void api_campaign_retry(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	enum campaign_state state = CAMPAIGN_DRAFT;
	uint32_t wave = 0;
	size_t n = 0;
	int64_t id;
	int r;

	if (id_param(req, &id, res) < 0)
		return;
	r = campaigns_retry(api->db, api->events, id, &state, &n, &wave);
	if (r == -ENODATA) {
		http_reply_error(res, 409, "nothing_to_retry", "campaign %" PRId64 " has no failed target with "
				 "attempts left", id);
		return;
	}
	if (r == -E2BIG) {
		http_reply_error(res, 409, "too_many_waves", "campaign %" PRId64 " has %d waves already", id,
				 WAVES_MAX);
		return;
	}
	if (r < 0)
		reply_action_error(res, r, id, "retry", state, "retry takes a running or paused campaign; for one "
				   "that ended, create a new campaign: nodes already updated are skipped");
	else
		reply_campaign(api, res, id, 200);
}

void api_campaign_apply(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	enum campaign_state state = CAMPAIGN_DRAFT;
	size_t n = 0;
	int64_t id;
	int r;

	if (id_param(req, &id, res) < 0)
		return;
	r = campaigns_apply(api->db, api->events, id, &state, &n);
	if (r == -EINVAL) {
		http_reply_error(res, 409, "apply_not_needed", "campaign %" PRId64 " has apply policy immediate: its "
				 "waves apply by themselves", id);
		return;
	}
	if (r == -ENODATA) {
		http_reply_error(res, 409, "nothing_to_apply", "campaign %" PRId64 " has no wave verified and "
				 "waiting for apply; try again when a wave is in state verified", id);
		return;
	}
	if (r < 0)
		reply_action_error(res, r, id, "apply", state, "apply takes a running or paused campaign");
	else
		reply_campaign(api, res, id, 200);
}

/* --- /metrics ------------------------------------------------------------------------------------------------------ */

void api_campaigns_metrics(struct api *api, struct strbuf *out)
{
	uint64_t campaigns[CAMPAIGN_STATE_COUNT], targets[CAMPAIGN_TARGET_STATE_COUNT];

	if (campaigns_count_by_state(api->db, campaigns, targets) < 0)
		return;
	strbuf_printf(out, "# HELP meshfleet_campaigns Campaigns by state.\n# TYPE meshfleet_campaigns gauge\n");
	for (int s = 0; s < CAMPAIGN_STATE_COUNT; s++)
		strbuf_printf(out, "meshfleet_campaigns{state=\"%s\"} %llu\n",
			      campaign_state_to_string((enum campaign_state)s), (unsigned long long)campaigns[s]);
	strbuf_printf(out, "# HELP meshfleet_campaign_targets Campaign targets (of every campaign) by state.\n"
		      "# TYPE meshfleet_campaign_targets gauge\n");
	for (int s = 0; s < CAMPAIGN_TARGET_STATE_COUNT; s++)
		strbuf_printf(out, "meshfleet_campaign_targets{state=\"%s\"} %llu\n",
			      campaign_target_state_to_string((enum campaign_target_state)s),
			      (unsigned long long)targets[s]);
	strbuf_printf(out, "# HELP meshfleet_db_commits_total SQLite transactions committed.\n"
		      "# TYPE meshfleet_db_commits_total counter\nmeshfleet_db_commits_total %llu\n",
		      (unsigned long long)db_commit_count(api->db));
}
