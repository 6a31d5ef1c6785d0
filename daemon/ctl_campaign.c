/* ctl_campaign: see ctl_campaign.h.
 *
 * `create` builds the POST body from options, or sends a JSON file as it is; the daemon checks every field, so
 * this file only checks what it must turn into JSON (numbers). `watch` reads GET /api/v1/events (campaign, wave
 * and target events), and after each event of its campaign asks GET /api/v1/campaigns/{id} for the counts.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_campaign.h"
#include "ctl_http.h"
#include "util.h"

#define CAMPAIGN_FILE_MAX (1u << 20)            /* bytes of a --file body */
#define CAMPAIGN_PATH_MAX 256
#define CAMPAIGN_STATE_TEXT_MAX 32               /* bytes of a --state value */
#define CAMPAIGN_BAR_WIDTH 30                   /* characters of the progress bar */
#define CAMPAIGN_SSE_LINE_MAX 16384             /* bytes of one event-stream line */
#define CAMPAIGN_TAGS_MAX 16

struct create_options {
	const char *file, *name, *firmware, *nodes, *apply, *window_start, *window_end, *mode, *scheduled_start;
	const char *company_id, *product_id, *firmware_id, *canary, *size, *percent, *success_threshold;
	const char *error_threshold, *max_attempts, *ttl, *timeout_base, *group;
	const char *tags_all[CAMPAIGN_TAGS_MAX], *tags_any[CAMPAIGN_TAGS_MAX];
	size_t n_tags_all, n_tags_any;
	bool allow_downgrade, no_downgrade;
};

static int usage_error(const char *why)
{
	if (why)
		fprintf(stderr, "meshfleetctl: %s\n", why);
	fprintf(stderr, "meshfleetctl: usage: campaign create (--file FILE | --name NAME --firmware ID [OPTIONS]) | "
		"campaign list [--state STATE] | campaign show|start|pause|resume|cancel|retry|apply|watch ID "
		"(meshfleetctl --help, docs/meshfleetctl.md)\n");
	return CTL_EXIT_USAGE_ERROR;
}

/* An integer option for the JSON body; the daemon checks its range. */
static int add_integer(json_t *obj, const char *key, const char *option, const char *text)
{
	long long v;
	char *end;

	if (!text)
		return 0;
	errno = 0;
	v = strtoll(text, &end, 0);
	if (errno || end == text || *end) {
		fprintf(stderr, "meshfleetctl: --%s '%s': expected an integer\n", option, text);
		return -EINVAL;
	}
	json_object_set_new(obj, key, json_integer(v));
	return 0;
}

static int add_string(json_t *obj, const char *key, const char *text)
{
	if (text)
		json_object_set_new(obj, key, json_string(text));
	return 0;
}

/* "1,2,0x10": the addresses as the API takes them (integers, or "0x..." strings). */
static json_t *nodes_array(const char *text)
{
	json_t *list = json_array();
	char *copy = strdup(text), *save = NULL;

	if (!list || !copy) {
		json_decref(list);
		free(copy);
		return NULL;
	}
	for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *end;
		long v = strtol(tok, &end, 0);

		json_array_append_new(list, *end || end == tok ? json_string(tok) : json_integer(v));
	}
	free(copy);
	return list;
}

static json_t *build_body(const struct create_options *o)
{
	json_t *body = json_object(), *targets = json_object(), *plan = json_object(), *transfer = json_object();
	json_t *filter = json_object(), *apply = json_object();
	int r = 0;

	if (!body || !targets || !plan || !transfer || !filter || !apply)
		goto fail;
	add_string(body, "name", o->name);
	add_string(body, "firmware", o->firmware);
	if (o->nodes) {
		json_object_set_new(targets, "nodes", nodes_array(o->nodes));
	} else {
		r |= add_integer(filter, "company_id", "company-id", o->company_id);
		r |= add_integer(filter, "product_id", "product-id", o->product_id);
		add_string(filter, "firmware_id", o->firmware_id);
		if (o->n_tags_all) {
			json_t *a = json_array();

			for (size_t i = 0; a && i < o->n_tags_all; i++)
				json_array_append_new(a, json_string(o->tags_all[i]));
			json_object_set_new(filter, "tags_all", a);
		}
		if (o->n_tags_any) {
			json_t *a = json_array();

			for (size_t i = 0; a && i < o->n_tags_any; i++)
				json_array_append_new(a, json_string(o->tags_any[i]));
			json_object_set_new(filter, "tags_any", a);
		}
		json_object_set(targets, "filter", filter);
	}
	json_object_set(body, "targets", targets);
	r |= add_integer(plan, "canary", "canary", o->canary);
	r |= add_integer(plan, "size", "size", o->size);
	r |= add_integer(plan, "percent", "percent", o->percent);
	if (json_object_size(plan))
		json_object_set(body, "plan", plan);
	r |= add_integer(body, "success_threshold", "success-threshold", o->success_threshold);
	r |= add_integer(body, "error_threshold", "error-threshold", o->error_threshold);
	r |= add_integer(body, "max_attempts", "max-attempts", o->max_attempts);
	if (o->apply || o->window_start || o->window_end) {
		add_string(apply, "policy", o->apply ? o->apply : "window");
		if (o->window_start || o->window_end) {
			json_t *w = json_object();

			add_string(w, "start", o->window_start);
			add_string(w, "end", o->window_end);
			json_object_set_new(apply, "window", w);
		}
		json_object_set(body, "apply", apply);
	}
	add_string(transfer, "mode", o->mode);
	r |= add_integer(transfer, "ttl", "ttl", o->ttl);
	r |= add_integer(transfer, "timeout_base", "timeout-base", o->timeout_base);
	if (o->group)
		json_object_set_new(transfer, "group_address", json_string(o->group));
	if (json_object_size(transfer))
		json_object_set(body, "transfer", transfer);
	if (o->allow_downgrade || o->no_downgrade)
		json_object_set_new(body, "allow_downgrade", json_boolean(o->allow_downgrade));
	add_string(body, "scheduled_start", o->scheduled_start);
	if (r)
		goto fail;
	json_decref(targets);
	json_decref(plan);
	json_decref(transfer);
	json_decref(filter);
	json_decref(apply);
	return body;
fail:
	json_decref(body);
	json_decref(targets);
	json_decref(plan);
	json_decref(transfer);
	json_decref(filter);
	json_decref(apply);
	return NULL;
}

static int read_body_file(const char *path, char **ret, size_t *ret_len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf;
	size_t n;

	if (!f) {
		fprintf(stderr, "meshfleetctl: cannot open '%s': %s\n", path, strerror(errno));
		return -errno;
	}
	buf = malloc(CAMPAIGN_FILE_MAX + 1);
	n = buf ? fread(buf, 1, CAMPAIGN_FILE_MAX + 1, f) : 0;
	if (f != stdin)
		fclose(f);
	if (!buf || n > CAMPAIGN_FILE_MAX) {
		fprintf(stderr, "meshfleetctl: '%s': %s\n", path, buf ? "larger than 1 MiB" : "out of memory");
		free(buf);
		return -EFBIG;
	}
	buf[n] = '\0';
	*ret = buf;
	*ret_len = n;
	return 0;
}

/* --- printing --------------------------------------------------------------------------------------------------- */

static long long count_of(json_t *c, const char *state)
{
	return (long long)json_integer_value(json_object_get(json_object_get(c, "counts"), state));
}

static void print_line(json_t *c)
{
	long long total = json_integer_value(json_object_get(c, "total"));

	printf("%-5lld %-10s %-24s %.12s  %lld/%lld succeeded, %lld failed, %lld skipped\n",
	       (long long)json_integer_value(json_object_get(c, "id")),
	       json_string_value(json_object_get(c, "state")), json_string_value(json_object_get(c, "name")),
	       json_string_value(json_object_get(c, "firmware")), count_of(c, "succeeded"),
	       total - count_of(c, "skipped"), count_of(c, "failed"), count_of(c, "skipped"));
}

/* "1h02m", "12m30s", "45s": a duration for people. */
static void format_duration(long long s, char *out, size_t size)
{
	if (s >= 3600)
		snprintf(out, size, "%lldh%02lldm", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		snprintf(out, size, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(out, size, "%llds", s);
}

/* The campaign's ETA as "ETA 12m30s" (empty when the daemon gives none). */
static void format_eta(json_t *c, char *out, size_t size)
{
	json_t *eta = json_object_get(c, "eta");
	char d[32];

	out[0] = '\0';
	if (!json_is_object(eta) || !json_is_integer(json_object_get(eta, "s")))
		return;
	format_duration(json_integer_value(json_object_get(eta, "s")), d, sizeof(d));
	snprintf(out, size, "ETA %s", d);
}

static void print_detail(json_t *c)
{
	json_t *eta = json_object_get(c, "eta");
	char text[64];

	json_t *waves = json_object_get(c, "waves"), *w, *counts = json_object_get(c, "counts"), *v;
	const char *reason = json_string_value(json_object_get(c, "reason")), *key;
	size_t i;

	printf("campaign %lld '%s': %s%s%s%s\n", (long long)json_integer_value(json_object_get(c, "id")),
	       json_string_value(json_object_get(c, "name")), json_string_value(json_object_get(c, "state")),
	       reason ? " (" : "", reason ? reason : "", reason ? ")" : "");
	printf("firmware %s (FWID %s)\n", json_string_value(json_object_get(c, "firmware")),
	       json_string_value(json_object_get(c, "firmware_id")));
	printf("targets:");
	json_object_foreach(counts, key, v)
		if (json_integer_value(v))
			printf(" %s %lld", key, (long long)json_integer_value(v));
	printf(" (total %lld)\n", (long long)json_integer_value(json_object_get(c, "total")));
	json_array_foreach(waves, i, w)
		printf("wave %lld (%s): %s, %lld targets, %lld succeeded, %lld failed\n",
		       (long long)json_integer_value(json_object_get(w, "index")),
		       json_string_value(json_object_get(w, "kind")), json_string_value(json_object_get(w, "state")),
		       (long long)json_integer_value(json_object_get(w, "total")), count_of(w, "succeeded"),
		       count_of(w, "failed"));
	format_eta(c, text, sizeof(text));
	if (text[0]) {
		const char *at = json_string_value(json_object_get(eta, "at"));

		printf("%s%s%s (%s)\n", text, at ? ", at " : "", at ? at : "",
		       json_is_real(json_object_get(eta, "scale")) ? "from this campaign's waves so far" :
		       "from the radio model, until a wave has finished");
	}
}

/* Prints the response's campaign (or the whole JSON with --json). */
static int print_campaign(const struct ctl_api *api, const struct ctl_http_response *res, bool detail)
{
	json_t *c = json_loads(res->body ? res->body : "", 0, NULL);

	if (!c) {
		fprintf(stderr, "meshfleetctl: the daemon's answer is not JSON\n");
		return CTL_EXIT_FAILED;
	}
	if (api->json)
		printf("%s\n", res->body);
	else if (detail)
		print_detail(c);
	else
		print_line(c);
	json_decref(c);
	return 0;
}

/* --- commands --------------------------------------------------------------------------------------------------- */

static int cmd_create(const struct ctl_api *api, const struct create_options *o)
{
	struct ctl_http_response res;
	char *text = NULL;
	size_t len = 0;
	json_t *body;
	int status;

	if (o->file) {
		if (o->name || o->firmware || o->nodes)
			return usage_error("campaign create: --file holds the whole campaign; leave out the other options");
		if (read_body_file(o->file, &text, &len) < 0)
			return CTL_EXIT_FAILED;
	} else {
		if (!o->name || !o->firmware)
			return usage_error("campaign create: --name and --firmware are required (or --file)");
		if (o->nodes && (o->company_id || o->product_id || o->firmware_id || o->n_tags_all || o->n_tags_any))
			return usage_error("campaign create: --nodes or a filter (--company-id, --product-id, "
					   "--firmware-id, --tag-all, --tag-any), not both");
		body = build_body(o);
		if (!body)
			return CTL_EXIT_USAGE_ERROR;
		text = json_dumps(body, JSON_COMPACT);
		json_decref(body);
		if (!text)
			return CTL_EXIT_FAILED;
		len = strlen(text);
	}
	if (ctl_http_expect(api->url, "POST", "/api/v1/campaigns", text, len, 201, &res) < 0) {
		free(text);
		return CTL_EXIT_FAILED;
	}
	free(text);
	status = print_campaign(api, &res, true);
	ctl_http_response_done(&res);
	return status;
}

static int cmd_list(const struct ctl_api *api, const char *state)
{
	char path[CAMPAIGN_PATH_MAX], escaped[3 * CAMPAIGN_STATE_TEXT_MAX + 1];
	json_t *all = NULL, *c;
	size_t i;

	if (state && ctl_http_escape_query(state, escaped, sizeof(escaped)) < 0) {
		fprintf(stderr, "meshfleetctl: campaign list --state '%s': not a campaign state\n", state);
		return CTL_EXIT_USAGE_ERROR;
	}
	snprintf(path, sizeof(path), "/api/v1/campaigns?limit=1000%s%s", state ? "&state=" : "", state ? escaped : "");
	if (ctl_http_get_all(api->url, path, "campaigns", &all) < 0)
		return CTL_EXIT_FAILED;
	json_array_foreach(all, i, c) {
		if (api->json) {
			char *line = json_dumps(c, JSON_COMPACT);

			printf("%s\n", line ? line : "null");
			free(line);
		} else {
			print_line(c);
		}
	}
	json_decref(all);
	return 0;
}

static int parse_id(const char *text, uint64_t *ret)
{
	if (!text || parse_uint(text, 1, INT64_MAX, ret) < 0) {
		fprintf(stderr, "meshfleetctl: '%s' is not a campaign id (meshfleetctl campaign list shows them)\n",
			text ? text : "");
		return -EINVAL;
	}
	return 0;
}

static int cmd_simple(const struct ctl_api *api, const char *method, uint64_t id, const char *action, long expected)
{
	struct ctl_http_response res;
	char path[CAMPAIGN_PATH_MAX];
	int status;

	snprintf(path, sizeof(path), "/api/v1/campaigns/%" PRIu64 "%s%s", id, action ? "/" : "", action ? action : "");
	if (ctl_http_expect(api->url, method, path, NULL, 0, expected, &res) < 0)
		return CTL_EXIT_FAILED;
	status = print_campaign(api, &res, true);
	ctl_http_response_done(&res);
	return status;
}

/* --- watch ------------------------------------------------------------------------------------------------------ */

struct watch {
	const struct ctl_api *api;
	uint64_t id;
	bool tty;
	char line[CAMPAIGN_SSE_LINE_MAX];
	size_t len;
	bool ours;                      /* the event being read concerns our campaign */
	bool ended;
	int status;
};

static bool terminal_state(const char *s)
{
	return s && (strcmp(s, "completed") == 0 || strcmp(s, "failed") == 0 || strcmp(s, "cancelled") == 0);
}

/* Asks for the campaign and shows where it is; sets w->ended when it has ended. */
static void watch_show(struct watch *w)
{
	struct ctl_http_response res;
	char path[CAMPAIGN_PATH_MAX];
	long long total, done, ok;
	const char *state;
	char eta[64];
	json_t *c;

	snprintf(path, sizeof(path), "/api/v1/campaigns/%" PRIu64, w->id);
	if (ctl_http_expect(w->api->url, "GET", path, NULL, 0, 200, &res) < 0) {
		w->ended = true;
		w->status = CTL_EXIT_FAILED;
		return;
	}
	c = json_loads(res.body ? res.body : "", 0, NULL);
	state = json_string_value(json_object_get(c, "state"));
	total = json_integer_value(json_object_get(c, "total")) - count_of(c, "skipped");
	ok = count_of(c, "succeeded");
	done = ok + count_of(c, "failed") + count_of(c, "cancelled");
	format_eta(c, eta, sizeof(eta));
	if (w->api->json) {
		printf("%s\n", res.body);
	} else if (w->tty) {
		int filled = total > 0 ? (int)(done * CAMPAIGN_BAR_WIDTH / total) : 0;

		printf("\r%-10s [", state ? state : "?");
		for (int i = 0; i < CAMPAIGN_BAR_WIDTH; i++)
			putchar(i < filled ? '#' : '.');
		printf("] %lld/%lld done, %lld succeeded, %lld failed%s%s  ", done, total, ok, count_of(c, "failed"),
		       eta[0] ? ", " : "", eta);
	} else {
		printf("campaign %" PRIu64 ": %s, %lld/%lld done, %lld succeeded, %lld failed%s%s\n", w->id,
		       state ? state : "?", done, total, ok, count_of(c, "failed"), eta[0] ? ", " : "", eta);
	}
	fflush(stdout);
	if (terminal_state(state)) {
		w->ended = true;
		w->status = strcmp(state, "completed") == 0 ? 0 : CTL_EXIT_FAILED;
		if (w->tty && !w->api->json)
			printf("\n");
	}
	json_decref(c);
	ctl_http_response_done(&res);
}

/* One line of the stream: "data: {...}" tells whether the event is ours; a blank line ends the event. */
static void watch_line(struct watch *w)
{
	if (w->len == 0) {
		if (w->ours)
			watch_show(w);
		w->ours = false;
		return;
	}
	if (w->len > 6 && strncmp(w->line, "data: ", 6) == 0) {
		json_t *data = json_loads(w->line + 6, 0, NULL);

		w->ours = (uint64_t)json_integer_value(json_object_get(data, "campaign")) == w->id;
		json_decref(data);
	}
}

static int watch_data(void *userdata, const char *data, size_t len)
{
	struct watch *w = userdata;

	for (size_t i = 0; i < len && !w->ended; i++) {
		if (data[i] == '\n') {
			w->line[w->len] = '\0';
			watch_line(w);
			w->len = 0;
		} else if (data[i] != '\r' && w->len + 1 < sizeof(w->line)) {
			w->line[w->len++] = data[i];
		}
	}
	return w->ended;
}

static int cmd_watch(const struct ctl_api *api, uint64_t id)
{
	struct watch *w = calloc(1, sizeof(*w));
	struct ctl_http_response res;
	char buf[1024];
	int status;

	if (!w)
		return CTL_EXIT_FAILED;
	w->api = api;
	w->id = id;
	w->tty = isatty(STDOUT_FILENO);
	watch_show(w);
	while (!w->ended) {
		if (ctl_http_stream(api->url, "/api/v1/events?types=campaign,wave,target", watch_data, w, &res) < 0) {
			fprintf(stderr, "meshfleetctl: %s\n", res.error);
			w->status = CTL_EXIT_FAILED;
			break;
		}
		if (res.status != 200) {
			fprintf(stderr, "meshfleetctl: %s\n", ctl_http_error_message(&res, buf, sizeof(buf)));
			ctl_http_response_done(&res);
			w->status = CTL_EXIT_FAILED;
			break;
		}
		ctl_http_response_done(&res);
		/* the daemon ended the stream (restart, shutdown): look again, then follow anew */
		if (!w->ended)
			watch_show(w);
	}
	status = w->status;
	free(w);
	return status;
}

int ctl_campaign_main(const struct ctl_api *parent, int argc, char **argv)
{
	enum {
		O_FILE = 0x100, O_NAME, O_FIRMWARE, O_NODES, O_COMPANY, O_PRODUCT, O_FWID, O_TAG_ALL, O_TAG_ANY, O_CANARY,
		O_SIZE, O_PERCENT, O_SUCCESS, O_ERROR, O_ATTEMPTS, O_APPLY, O_WSTART, O_WEND, O_MODE, O_TTL, O_TIMEOUT,
		O_GROUP, O_DOWNGRADE, O_NO_DOWNGRADE, O_SCHEDULED, O_STATE, O_JSON, O_URL,
	};
	static const struct option options[] = {
		{ "file", required_argument, NULL, O_FILE }, { "name", required_argument, NULL, O_NAME },
		{ "firmware", required_argument, NULL, O_FIRMWARE }, { "nodes", required_argument, NULL, O_NODES },
		{ "company-id", required_argument, NULL, O_COMPANY }, { "product-id", required_argument, NULL, O_PRODUCT },
		{ "firmware-id", required_argument, NULL, O_FWID }, { "tag-all", required_argument, NULL, O_TAG_ALL },
		{ "tag-any", required_argument, NULL, O_TAG_ANY }, { "canary", required_argument, NULL, O_CANARY },
		{ "size", required_argument, NULL, O_SIZE }, { "percent", required_argument, NULL, O_PERCENT },
		{ "success-threshold", required_argument, NULL, O_SUCCESS },
		{ "error-threshold", required_argument, NULL, O_ERROR },
		{ "max-attempts", required_argument, NULL, O_ATTEMPTS }, { "apply", required_argument, NULL, O_APPLY },
		{ "window-start", required_argument, NULL, O_WSTART }, { "window-end", required_argument, NULL, O_WEND },
		{ "mode", required_argument, NULL, O_MODE }, { "ttl", required_argument, NULL, O_TTL },
		{ "timeout-base", required_argument, NULL, O_TIMEOUT }, { "group", required_argument, NULL, O_GROUP },
		{ "allow-downgrade", no_argument, NULL, O_DOWNGRADE },
		{ "no-allow-downgrade", no_argument, NULL, O_NO_DOWNGRADE },
		{ "scheduled-start", required_argument, NULL, O_SCHEDULED },
		{ "state", required_argument, NULL, O_STATE }, { "json", no_argument, NULL, O_JSON },
		{ "url", required_argument, NULL, O_URL },
		{ NULL, 0, NULL, 0 },
	};
	struct create_options o = { 0 };
	struct ctl_api api = *parent;
	const char *state = NULL, *sub;
	uint64_t id = 0;
	int c;

	optind = 0;     /* GNU getopt: start over on this argv */
	while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (c) {
		case O_FILE: o.file = optarg; break;
		case O_NAME: o.name = optarg; break;
		case O_FIRMWARE: o.firmware = optarg; break;
		case O_NODES: o.nodes = optarg; break;
		case O_COMPANY: o.company_id = optarg; break;
		case O_PRODUCT: o.product_id = optarg; break;
		case O_FWID: o.firmware_id = optarg; break;
		case O_TAG_ALL:
		case O_TAG_ANY:
			if ((c == O_TAG_ALL ? o.n_tags_all : o.n_tags_any) == CAMPAIGN_TAGS_MAX)
				return usage_error("at most 16 --tag-all and 16 --tag-any");
			if (c == O_TAG_ALL)
				o.tags_all[o.n_tags_all++] = optarg;
			else
				o.tags_any[o.n_tags_any++] = optarg;
			break;
		case O_CANARY: o.canary = optarg; break;
		case O_SIZE: o.size = optarg; break;
		case O_PERCENT: o.percent = optarg; break;
		case O_SUCCESS: o.success_threshold = optarg; break;
		case O_ERROR: o.error_threshold = optarg; break;
		case O_ATTEMPTS: o.max_attempts = optarg; break;
		case O_APPLY: o.apply = optarg; break;
		case O_WSTART: o.window_start = optarg; break;
		case O_WEND: o.window_end = optarg; break;
		case O_MODE: o.mode = optarg; break;
		case O_TTL: o.ttl = optarg; break;
		case O_TIMEOUT: o.timeout_base = optarg; break;
		case O_GROUP: o.group = optarg; break;
		case O_DOWNGRADE: o.allow_downgrade = true; break;
		case O_NO_DOWNGRADE: o.no_downgrade = true; break;
		case O_SCHEDULED: o.scheduled_start = optarg; break;
		case O_STATE: state = optarg; break;
		case O_JSON: api.json = true; break;
		case O_URL: api.url = optarg; break;
		default:
			return usage_error(NULL);
		}
	}
	if (optind >= argc)
		return usage_error("campaign: which command? create, list, show, start, pause, resume, cancel, retry, "
				   "apply or watch");
	sub = argv[optind];
	if (strcmp(sub, "create") == 0)
		return optind + 1 == argc ? cmd_create(&api, &o) : usage_error("campaign create takes no argument");
	if (strcmp(sub, "list") == 0)
		return optind + 1 == argc ? cmd_list(&api, state) : usage_error("campaign list takes no argument");
	if (optind + 2 != argc)
		return usage_error("that campaign command takes one campaign id");
	if (parse_id(argv[optind + 1], &id) < 0)
		return CTL_EXIT_USAGE_ERROR;
	if (strcmp(sub, "show") == 0)
		return cmd_simple(&api, "GET", id, NULL, 200);
	if (strcmp(sub, "watch") == 0)
		return cmd_watch(&api, id);
	if (strcmp(sub, "start") == 0 || strcmp(sub, "pause") == 0 || strcmp(sub, "resume") == 0 ||
	    strcmp(sub, "cancel") == 0 || strcmp(sub, "retry") == 0 || strcmp(sub, "apply") == 0)
		return cmd_simple(&api, "POST", id, sub, 200);
	fprintf(stderr, "meshfleetctl: unknown campaign command '%s'\n", sub);
	return usage_error(NULL);
}
