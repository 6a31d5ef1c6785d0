/* api_events: GET /api/v1/events, the event bus (events.h) as Server-Sent Events. See api.h and docs/api.md.
 *
 * A client first gets what it missed (after Last-Event-ID or ?since=), read from the database a page at a time as
 * the connection drains, then the live events. A client whose unsent live events pass API_EVENTS_BACKLOG_BYTES is
 * disconnected: it reconnects with Last-Event-ID and replays from the database at its own pace.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "events.h"
#include "log.h"
#include "util.h"

#define API_EVENTS_TYPES_MAX 8
#define API_EVENTS_REPLAY_PAGE 64
/* Sent first: EventSource waits this long before reconnecting; it also puts the headers on the wire at once. */
#define API_EVENTS_PREAMBLE "retry: 3000\n\n"

struct sse_client {
	struct api *api;                /* weak */
	struct events_sub *sub;
	char types[API_EVENTS_TYPES_MAX][EVENTS_TYPE_MAX];
	size_t n_types;                 /* 0 = every type */
	uint64_t cursor;                /* id of the last event queued */
	bool replaying;                 /* the database still has events for this client */
	bool overflow;                  /* too far behind: drop the connection */
	struct http_stream *stream;     /* weak; NULL until the response is set up */
	char *buf;                      /* owned; unsent text from @off to @len */
	size_t off, len, cap;
};

static bool client_wants(const struct sse_client *c, const char *type)
{
	if (c->n_types == 0)
		return true;
	for (size_t i = 0; i < c->n_types; i++)
		if (strcmp(c->types[i], type) == 0)
			return true;
	return false;
}

/* Queues one event's text; false when the backlog would pass its limit (or out of memory). */
static bool client_queue(struct sse_client *c, const struct event *e)
{
	char head[32 + EVENTS_TYPE_MAX];
	int n = snprintf(head, sizeof(head), "id: %llu\nevent: %s\ndata: ", (unsigned long long)e->id, e->type);
	size_t need;

	if (n < 0 || (size_t)n >= sizeof(head))
		return false;
	need = (size_t)n + e->data_len + 2;
	if (c->len - c->off + need > API_EVENTS_BACKLOG_BYTES)
		return false;
	if (c->off > 0 && c->len + need > c->cap) {
		memmove(c->buf, c->buf + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len + need > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		char *p;

		while (cap < c->len + need)
			cap *= 2;
		p = realloc(c->buf, cap);
		if (!p)
			return false;
		c->buf = p;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, head, (size_t)n);
	memcpy(c->buf + c->len + (size_t)n, e->data, e->data_len);
	memcpy(c->buf + c->len + (size_t)n + e->data_len, "\n\n", 2);
	c->len += need;
	c->cursor = e->id;
	return true;
}

static void on_replayed(void *userdata, const struct event *e)
{
	struct sse_client *c = userdata;

	if (client_wants(c, e->type)) {
		if (!client_queue(c, e))
			c->overflow = true;
	}
	c->cursor = e->id;      /* also past the ones filtered out */
}

static void on_live(void *userdata, const struct event *e)
{
	struct sse_client *c = userdata;

	/* While replaying, the database has it; the replay reaches it. */
	if (c->replaying || c->overflow || e->id <= c->cursor || !client_wants(c, e->type))
		return;
	if (!client_queue(c, e)) {
		c->overflow = true;
		log_notice("events: a stream client fell %u bytes behind, disconnecting it (it can reconnect with "
			   "Last-Event-ID)", API_EVENTS_BACKLOG_BYTES);
	}
	if (c->stream)
		http_stream_wake(c->stream);
}

static long client_read(void *userdata, char *buf, size_t max)
{
	struct sse_client *c = userdata;
	size_t n;

	if (c->off == c->len && c->replaying && !c->overflow) {
		bool more = false;
		int r = events_replay(c->api->events, c->cursor, API_EVENTS_REPLAY_PAGE, on_replayed, c, &more);

		if (r < 0) {
			log_warning("events: cannot replay events to a stream client: %s; disconnecting it",
				    strerror(-r));
			return -1;
		}
		c->replaying = more;
	}
	if (c->overflow)
		return -1;
	n = c->len - c->off;
	if (n > max)
		n = max;
	memcpy(buf, c->buf + c->off, n);
	c->off += n;
	if (c->off == c->len)
		c->off = c->len = 0;
	return (long)n;
}

static void client_closed(void *userdata)
{
	struct sse_client *c = userdata;

	events_unsubscribe(c->api->events, c->sub);
	c->api->n_event_streams--;
	free(c->buf);
	free(c);
}

static const struct http_stream_ops client_ops = { .read = client_read, .closed = client_closed };

/* "a,b": each a known type. Returns false after writing the error. */
static bool parse_types(struct sse_client *c, const char *text, struct http_response *res)
{
	const char *p = text;

	for (;;) {
		size_t n = strcspn(p, ",");

		if (!events_type_known(p, n)) {
			http_reply_error(res, 400, "invalid_parameter", "types: '%.*s' is no event type (refresh, "
					 "group_job, network, dongle)", (int)(n < 64 ? n : 64), p);
			return false;
		}
		if (c->n_types == API_EVENTS_TYPES_MAX) {
			http_reply_error(res, 400, "invalid_parameter", "types: at most %d types",
					 API_EVENTS_TYPES_MAX);
			return false;
		}
		memcpy(c->types[c->n_types], p, n);
		c->types[c->n_types++][n] = '\0';
		if (p[n] == '\0')
			return true;
		p += n + 1;
	}
}

void api_events_stream(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	/* EventSource sends Last-Event-ID when it reconnects to the same URL, ?since= included: the header wins. */
	const char *last = http_header(req, "Last-Event-ID");
	const char *since = http_query(req, "since");
	const char *types = http_query(req, "types");
	const char *from = last ? last : since;
	struct sse_client *c;
	uint64_t after = 0;

	if (!api->events) {
		http_reply_error(res, 500, "internal_error", "the event bus is not running");
		return;
	}
	if (from && parse_uint(from, 0, INT64_MAX, &after) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "%s='%.32s': expected an event id (an integer from 0)",
				 last ? "Last-Event-ID" : "since", from);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	}
	c->api = api;
	if (types && !parse_types(c, types, res)) {
		free(c);
		return;
	}
	if (api->n_event_streams >= API_EVENTS_STREAMS_MAX) {
		free(c);
		http_reply_error(res, 503, "too_many_streams", "%d event streams are open, the most this daemon "
				 "serves; close one or retry later", API_EVENTS_STREAMS_MAX);
		return;
	}
	/* Without a starting point, the stream starts now. */
	c->cursor = from ? after : events_last_id(api->events);
	if (c->cursor > events_last_id(api->events))
		c->cursor = events_last_id(api->events);        /* a newer id than any here: a new database */
	c->replaying = c->cursor < events_last_id(api->events);
	c->buf = malloc(sizeof(API_EVENTS_PREAMBLE));
	if (!c->buf || events_subscribe(api->events, on_live, c, &c->sub) < 0) {
		free(c->buf);
		free(c);
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	}
	memcpy(c->buf, API_EVENTS_PREAMBLE, sizeof(API_EVENTS_PREAMBLE) - 1);
	c->len = sizeof(API_EVENTS_PREAMBLE) - 1;
	c->cap = sizeof(API_EVENTS_PREAMBLE);
	api->n_event_streams++;
	c->stream = http_reply_stream(res, 200, "text/event-stream; charset=utf-8", &client_ops, c, ":\n\n");
}
