/* http: see http.h. */
#define _GNU_SOURCE     /* POLLRDHUP */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <microhttpd.h>

#include "http.h"
#include "log.h"
#include "tls.h"
#include "util.h"

#define HTTP_TRIM_AFTER_BYTES (64u << 10)
#define HTTP_IMMEDIATE_RUNS_MAX 16      /* MHD_run() calls in a row without a pause (http_run()) */
#define HTTP_BUSY_PAUSE_MS 1            /* the pause after them */

struct http {
	uv_loop_t *loop;                /* weak */
	uv_poll_t poll;                 /* watches MHD's epoll fd */
	uv_timer_t timer;               /* MHD's next timeout */
	uv_timer_t grace;               /* bounds the wait for in-flight requests at shutdown */
	uv_timer_t stream_tick;         /* keep-alives of the streams */
	uv_timer_t throttle;            /* the next held-back 401 is due */
	int open_handles;
	struct MHD_Daemon *mhd;         /* owned */
	uint16_t port;
	const struct http_route *routes;        /* weak */
	size_t n_routes;
	void *app;                      /* weak */
	struct metrics *metrics;        /* weak */
	uint32_t max_body;
	struct request_ctx *requests;   /* in flight, linked through request_ctx.next */
	struct http_stream *streams;    /* queued stream responses, linked through http_stream.next */
	struct http_deferred *deferred; /* suspended requests, linked through http_deferred.next */
	int (*authenticate)(void *app, const char *token, struct http_principal *ret);
	const char *(*role_name)(unsigned role);
	void (*on_complete)(void *app, const struct http_request *req, unsigned status);
	struct auth_failure *failures;  /* HTTP_AUTH_TABLE_SIZE entries; NULL without @authenticate */
	struct tls_credentials tls;     /* HTTPS: the PEM texts MHD serves; all zero for plain HTTP */
	const char *tls_cert_path;      /* weak; NULL for plain HTTP */
	const char *tls_key_path;       /* weak */
	bool wake_pending;              /* a stream was woken while MHD ran: run it again at once */
	unsigned immediate_runs;        /* MHD_run() calls in a row that asked to run again at once */
	bool shutting_down;
	bool closing;
	bool trim_pending;              /* a large body or response was freed: give the pages back */
	http_closed_fn closed_cb;
	void *closed_userdata;
};

/* One request's state, from MHD's first call of the access handler to its completion callback. */
struct request_ctx {
	struct http *http;              /* weak */
	struct request_ctx *prev, *next;
	const char *route_label;        /* weak: a route pattern or a literal */
	const char *method_label;       /* static */
	const struct http_route *route; /* weak; NULL until matched */
	struct http_request req;
	char *body;                     /* owned */
	size_t body_len;
	size_t body_cap;
	bool too_large;
	bool responded;
	struct http_deferred *deferred; /* while suspended by http_defer() or the throttle */
	uint64_t auth_delay_ms;         /* a wrong token: hold its 401 (@auth_res) this long after the body */
	struct http_response auth_res;
	unsigned status;
	uint64_t start_ns;
	/* Once orphaned (the connection closed while the application still works): MHD has freed the connection
	 * and its copies of the method and path, so the completion hook reads these. */
	char *path_copy;                /* owned */
	char remote[INET6_ADDRSTRLEN];
};

/* A deferred response: from http_defer() (or the throttle) until its answer is queued or dropped. */
struct http_deferred {
	struct http *http;              /* weak; NULL once detached (server closed) */
	struct request_ctx *ctx;        /* weak while attached; owned once orphaned */
	struct http_deferred *prev, *next;
	struct http_response res;       /* the answer, once given */
	uint64_t due_ms;                /* the throttle's own: uv_now() when its 401 goes; 0 = the application's */
	bool answered;                  /* @res holds the answer and the connection was resumed */
	bool orphaned;                  /* the server closed before the answer: @ctx waits here for the reply */
};

/* One client address's wrong tokens (IPv4, or the /64 of an IPv6 address). */
struct auth_failure {
	uint8_t key[9];                 /* family byte, then 4 or 8 address bytes; all zero = free */
	uint32_t count;                 /* wrong tokens, each less than HTTP_AUTH_WINDOW_MS after the previous */
	uint64_t last_ms;
};

/* A stream response: from http_reply_stream() until MHD frees the response (stream_free()). */
struct http_stream {
	struct http *http;              /* weak; NULL until queued */
	struct MHD_Connection *conn;    /* weak; NULL until queued */
	struct http_stream *prev, *next;
	const struct http_stream_ops *ops;
	void *userdata;
	const char *keepalive;          /* static */
	uint64_t last_data_ms;          /* uv_now() when data was last handed to MHD */
	bool suspended;
	bool keepalive_due;
	bool ending;                    /* shutdown: end the body */
};

static void stream_destroy(struct http_stream *s)
{
	if (s->http) {
		if (s->prev)
			s->prev->next = s->next;
		else
			s->http->streams = s->next;
		if (s->next)
			s->next->prev = s->prev;
	}
	s->ops->closed(s->userdata);
	free(s);
}

static void response_init(struct http_response *res)
{
	memset(res, 0, sizeof(*res));
	res->fd = -1;
}

static void response_clear(struct http_response *res)
{
	free(res->body);
	if (res->fd >= 0)
		close(res->fd);
	if (res->stream)
		stream_destroy(res->stream);
	response_init(res);
}

void http_reply_text(struct http_response *res, unsigned status, const char *content_type, char *text, size_t len)
{
	response_clear(res);
	res->status = status;
	res->content_type = content_type;
	res->body = text;
	res->body_len = len;
}

void http_reply_json(struct http_response *res, unsigned status, json_t *json)
{
	char *text = json ? json_dumps(json, JSON_COMPACT) : NULL;

	json_decref(json);
	if (!text) {
		http_reply_error(res, 500, "internal_error", "out of memory while writing the response");
		return;
	}
	http_reply_text(res, status, "application/json", text, strlen(text));
}

void http_reply_error(struct http_response *res, unsigned status, const char *code, const char *fmt, ...)
{
	static const char fallback[] = "{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}";
	char message[512];
	json_t *json;
	char *text;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	json = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
	text = json ? json_dumps(json, JSON_COMPACT) : NULL;
	json_decref(json);
	if (!text) {
		text = strdup(fallback);
		status = 500;
		code = "internal_error";
	}
	http_reply_text(res, status, "application/json", text, text ? strlen(text) : 0);
	snprintf(res->error_code, sizeof(res->error_code), "%s", code);
}

struct http_stream *http_reply_stream(struct http_response *res, unsigned status, const char *content_type,
				      const struct http_stream_ops *ops, void *userdata, const char *keepalive)
{
	struct http_stream *s = calloc(1, sizeof(*s));

	if (!s) {
		ops->closed(userdata);
		http_reply_error(res, 500, "internal_error", "out of memory");
		return NULL;
	}
	s->ops = ops;
	s->userdata = userdata;
	s->keepalive = keepalive;
	http_reply_text(res, status, content_type, NULL, 0);
	res->stream = s;
	return s;
}

static void on_timer(uv_timer_t *timer);
static void on_throttle(uv_timer_t *timer);

void http_stream_wake(struct http_stream *s)
{
	struct http *h = s->http;

	if (!s->suspended || !h || h->closing)
		return;
	s->suspended = false;
	MHD_resume_connection(s->conn);
	/* Called from anywhere, maybe from inside MHD_run(): MHD picks the connection up on its next run. */
	h->wake_pending = true;
	uv_timer_start(&h->timer, on_timer, 0, 0);
}

static void deferred_link(struct http *h, struct request_ctx *ctx, struct http_deferred *d)
{
	d->http = h;
	d->ctx = ctx;
	ctx->deferred = d;
	d->next = h->deferred;
	if (h->deferred)
		h->deferred->prev = d;
	h->deferred = d;
	MHD_suspend_connection(ctx->req.conn);
}

/* Takes @d off the server's list; it then belongs to whoever holds it. */
static void deferred_unlink(struct http_deferred *d)
{
	struct http *h = d->http;

	if (!h)
		return;
	if (d->prev)
		d->prev->next = d->next;
	else
		h->deferred = d->next;
	if (d->next)
		d->next->prev = d->prev;
	d->prev = d->next = NULL;
	d->http = NULL;
}

/* The answer is ready: let MHD run the connection again, which calls on_request(), which queues it. */
static void deferred_resume(struct http_deferred *d)
{
	struct http *h = d->http;

	d->answered = true;
	MHD_resume_connection(d->ctx->req.conn);
	/* Maybe called from inside MHD_run(): MHD picks the connection up on its next run. */
	h->wake_pending = true;
	uv_timer_start(&h->timer, on_timer, 0, 0);
}

static struct request_ctx *request_ctx_of(const struct http_request *req)
{
	return (struct request_ctx *)(void *)((char *)(uintptr_t)req - offsetof(struct request_ctx, req));
}

static void request_ctx_free(struct request_ctx *ctx)
{
	response_clear(&ctx->auth_res);
	free(ctx->body);
	free(ctx->path_copy);
	free(ctx);
}

/* The answer of a deferred request that its client never got: the completion hook (the audit log) still learns
 * what was done. */
static void deferred_complete_undelivered(struct request_ctx *ctx, const struct http_response *res)
{
	struct http *h = ctx->http;

	if (!h->on_complete)
		return;
	snprintf(ctx->req.error_code, sizeof(ctx->req.error_code), "%s", res->error_code);
	h->on_complete(h->app, &ctx->req, res->status ? res->status : 500);
}

struct http_deferred *http_defer(const struct http_request *req, struct http_response *res)
{
	struct request_ctx *ctx = request_ctx_of(req);
	struct http_deferred *d;

	(void)res;
	if (ctx->deferred)
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	response_init(&d->res);
	deferred_link(ctx->http, ctx, d);
	return d;
}

void http_deferred_reply(struct http_deferred *d, struct http_response *res)
{
	if (!d->http || d->http->closing || d->answered) {
		/* The server closed first (or a second reply, a caller's bug): the client gets nothing more. */
		if (!d->http && d->orphaned) {
			deferred_complete_undelivered(d->ctx, res);
			request_ctx_free(d->ctx);
			free(d);
		}
		response_clear(res);
		return;
	}
	response_clear(&d->res);
	d->res = *res;
	response_init(res);
	deferred_resume(d);
}

/* Arms the throttle's timer for the earliest held-back 401. */
static void throttle_arm(struct http *h)
{
	uint64_t now = uv_now(h->loop), first = UINT64_MAX;

	for (const struct http_deferred *d = h->deferred; d; d = d->next)
		if (d->due_ms && !d->answered && d->due_ms < first)
			first = d->due_ms;
	if (first == UINT64_MAX)
		uv_timer_stop(&h->throttle);
	else
		uv_timer_start(&h->throttle, on_throttle, first > now ? first - now : 0, 0);
}

static void on_throttle(uv_timer_t *timer)
{
	struct http *h = timer->data;
	uint64_t now = uv_now(h->loop);

	for (struct http_deferred *d = h->deferred; d; d = d->next)
		if (d->due_ms && !d->answered && (d->due_ms <= now || h->shutting_down))
			deferred_resume(d);
	throttle_arm(h);
}

/* Holds back @ctx's 401 for ctx->auth_delay_ms. Returns false when out of memory: answer at once. */
static bool throttle_defer(struct http *h, struct request_ctx *ctx)
{
	struct http_deferred *d = calloc(1, sizeof(*d));

	if (!d)
		return false;
	d->res = ctx->auth_res;
	response_init(&ctx->auth_res);
	d->due_ms = uv_now(h->loop) + ctx->auth_delay_ms;
	deferred_link(h, ctx, d);
	throttle_arm(h);
	return true;
}

/* Whether the client closed its side. A stream's client sends nothing after its request, and MHD does not watch
 * a suspended connection, so we look at the socket ourselves. POLLRDHUP rather than a peek that reads nothing: over
 * HTTPS a client's close_notify alert comes before its FIN and stays unread, so a peek would see data. */
static bool stream_peer_closed(const struct http_stream *s)
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct pollfd p;

	if (!info)
		return false;
	p = (struct pollfd){ .fd = info->connect_fd, .events = POLLRDHUP };
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct http_stream *s = cls;
	long n;

	(void)pos;
	if (s->ending)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = s->ops->read(s->userdata, buf, max);
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (n == 0 && s->keepalive_due && s->keepalive) {
		n = (long)strlen(s->keepalive);
		if ((size_t)n > max)
			n = (long)max;
		memcpy(buf, s->keepalive, (size_t)n);
	}
	if (n > 0) {
		s->keepalive_due = false;
		s->last_data_ms = uv_now(s->http->loop);
		return (ssize_t)n;
	}
	if (stream_peer_closed(s))
		return MHD_CONTENT_READER_END_WITH_ERROR;
	/* Nothing to send: wait without polling until http_stream_wake(). */
	s->suspended = true;
	MHD_suspend_connection(s->conn);
	return 0;
}

static void stream_free(void *cls)
{
	stream_destroy(cls);
}

static void on_stream_tick(uv_timer_t *timer)
{
	struct http *h = timer->data;
	uint64_t now = uv_now(h->loop);

	for (struct http_stream *s = h->streams; s; s = s->next) {
		if (!s->suspended)
			continue;
		if (now - s->last_data_ms + HTTP_STREAM_CHECK_MS / 2 >= HTTP_STREAM_KEEPALIVE_MS)
			s->keepalive_due = true;
		if (s->keepalive_due || stream_peer_closed(s))
			http_stream_wake(s);
	}
}

/* Ends every stream's body (shutdown); also before MHD_stop_daemon(), which must not find a connection suspended. */
static void streams_end(struct http *h)
{
	for (struct http_stream *s = h->streams; s; s = s->next) {
		s->ending = true;
		if (s->suspended) {
			s->suspended = false;
			MHD_resume_connection(s->conn);
		}
	}
}

const char *http_query(const struct http_request *req, const char *name)
{
	return req->conn ? MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name) : NULL;
}

const char *http_header(const struct http_request *req, const char *name)
{
	return req->conn ? MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name) : NULL;
}

int http_remote_address(const struct http_request *req, char *buf, size_t size)
{
	const union MHD_ConnectionInfo *info;
	const struct sockaddr *sa;
	const void *addr;

	if (size)
		buf[0] = '\0';
	if (!req->conn) {
		/* orphaned: the address was kept when the connection closed */
		const char *kept = request_ctx_of(req)->remote;

		if (!kept[0])
			return -ENOTCONN;
		if ((size_t)snprintf(buf, size, "%s", kept) >= size) {
			if (size)
				buf[0] = '\0';
			return -ENOSPC;
		}
		return 0;
	}
	info = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	sa = info ? info->client_addr : NULL;
	if (sa && sa->sa_family == AF_INET)
		addr = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa && sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		return -ENOTCONN;
	if (!inet_ntop(sa->sa_family, addr, buf, (socklen_t)size)) {
		if (size)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}

uint16_t http_port(const struct http *http)
{
	return http->port;
}

bool http_tls(const struct http *http)
{
	return http->tls_cert_path != NULL;
}

bool http_tls_files_changed(const struct http *http)
{
	return http->tls_cert_path && tls_credentials_changed(&http->tls, http->tls_cert_path, http->tls_key_path);
}

/* Matches @path against @pattern segment by segment, capturing "{name}" segments into @req->params. */
static bool route_match(const char *pattern, const char *path, struct http_request *req)
{
	size_t n_params = 0;

	while (*pattern == '/' && *path == '/') {
		size_t plen, slen;

		pattern++;
		path++;
		plen = strcspn(pattern, "/");
		slen = strcspn(path, "/");
		if (plen > 2 && pattern[0] == '{' && pattern[plen - 1] == '}') {
			if (slen == 0 || n_params == HTTP_MAX_PARAMS)
				return false;
			/* An over-long value still matches, cut and marked with "...", so that the handler
			 * refuses it as a bad value (400), not as an unknown route (404). */
			if (slen < HTTP_MAX_PARAM_LEN) {
				memcpy(req->params[n_params], path, slen);
				req->params[n_params][slen] = '\0';
			} else {
				memcpy(req->params[n_params], path, HTTP_MAX_PARAM_LEN - 4);
				memcpy(req->params[n_params] + HTTP_MAX_PARAM_LEN - 4, "...", 4);
			}
			n_params++;
		} else if (plen != slen || memcmp(pattern, path, plen) != 0) {
			return false;
		}
		pattern += plen;
		path += slen;
	}
	if (*pattern != '\0' || *path != '\0')
		return false;
	req->n_params = n_params;
	return true;
}

/* Finds the route for @method and @path. On a path that matches with another method, fills @allow. */
static const struct http_route *route_find(struct http *h, const char *method, const char *path,
					   struct http_request *req, char *allow, size_t allow_size)
{
	bool head = strcmp(method, "HEAD") == 0;
	size_t used = 0;

	allow[0] = '\0';
	for (size_t i = 0; i < h->n_routes; i++) {
		const struct http_route *r = &h->routes[i];

		if (!route_match(r->pattern, path, req))
			continue;
		if (strcmp(r->method, method) == 0 || (head && strcmp(r->method, "GET") == 0))
			return r;
		if (!strstr(allow, r->method)) {
			int n = snprintf(allow + used, allow_size - used, "%s%s", used ? ", " : "", r->method);

			if (n > 0 && (size_t)n < allow_size - used)
				used += (size_t)n;
		}
		if (strcmp(r->method, "GET") == 0 && !strstr(allow, "HEAD")) {
			int n = snprintf(allow + used, allow_size - used, ", HEAD");

			if (n > 0 && (size_t)n < allow_size - used)
				used += (size_t)n;
		}
	}
	return NULL;
}

struct query_check {
	const struct http_route *route;
	unsigned seen;                  /* bit i: query[i] given */
	char bad_key[64];
	const char *problem;            /* static; NULL when all is well */
};

static enum MHD_Result query_check_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct query_check *qc = cls;
	const char *const *allowed = qc->route->query;
	size_t i;

	(void)kind;
	if (key[0] == '\0' && (!value || !*value))    /* "?&limit=1": an empty pair is harmless */
		return MHD_YES;
	for (i = 0; allowed && allowed[i]; i++)
		if (strcmp(allowed[i], key) == 0)
			break;
	snprintf(qc->bad_key, sizeof(qc->bad_key), "%s", key);
	if (!allowed || !allowed[i]) {
		qc->problem = "unknown_parameter";
		return MHD_NO;
	}
	if (!value || !*value) {
		qc->problem = "needs_value";
		return MHD_NO;
	}
	if (qc->seen & (1u << i)) {
		qc->problem = "repeated";
		return MHD_NO;
	}
	qc->seen |= 1u << i;
	return MHD_YES;
}

static bool content_type_accepted(const struct http_route *route, const char *header)
{
	size_t n;

	if (!header)
		return false;
	n = strcspn(header, "; \t");
	for (const char *const *t = route->body_types; *t; t++)
		if (strlen(*t) == n && strncasecmp(header, *t, n) == 0)
			return true;
	return false;
}

static bool method_has_body(const char *method)
{
	return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0;
}

/* A route may take larger bodies than the server's limit (a network's CDB export, say). */
static uint32_t body_limit(const struct http *h, const struct http_route *route)
{
	return route && route->max_body ? route->max_body : h->max_body;
}

static const char *body_limit_name(const struct http_route *route)
{
	return route && route->max_body ? "the limit of this route" : "http.max_body_bytes";
}

/* The throttle's key for the client of @conn: IPv4, or the /64 of IPv6 (one host's share of a network). Returns
 * false when the address is of another family (then nothing is throttled). */
static bool auth_client_key(struct MHD_Connection *conn, uint8_t key[9])
{
	const union MHD_ConnectionInfo *info = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = info ? info->client_addr : NULL;

	memset(key, 0, 9);
	if (sa && sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		return true;
	}
	if (sa && sa->sa_family == AF_INET6) {
		key[0] = 6;
		memcpy(key + 1, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 8);
		return true;
	}
	return false;
}

/* Counts a wrong token from @conn's address. Returns how long its 401 is to be held back (0 = not at all). */
static uint64_t auth_failure_count(struct http *h, struct MHD_Connection *conn)
{
	uint64_t now = uv_now(h->loop), delay;
	struct auth_failure *f = NULL, *oldest = &h->failures[0];
	uint8_t key[9];
	uint32_t over;

	if (!auth_client_key(conn, key))
		return 0;
	for (size_t i = 0; i < HTTP_AUTH_TABLE_SIZE && !f; i++) {
		struct auth_failure *e = &h->failures[i];

		if (memcmp(e->key, key, sizeof(key)) == 0)
			f = e;
		else if (e->last_ms < oldest->last_ms || (oldest->key[0] && !e->key[0]))
			oldest = e;
	}
	if (!f) {
		f = oldest;
		memcpy(f->key, key, sizeof(key));
		f->count = 0;
	}
	if (f->count > 0 && now - f->last_ms >= HTTP_AUTH_WINDOW_MS)
		f->count = 0;
	f->last_ms = now;
	if (f->count < UINT32_MAX)
		f->count++;
	if (f->count <= HTTP_AUTH_FREE_FAILURES)
		return 0;
	over = f->count - HTTP_AUTH_FREE_FAILURES - 1;
	delay = over < 16 ? (uint64_t)HTTP_AUTH_DELAY_FIRST_MS << over : HTTP_AUTH_DELAY_MAX_MS;
	return delay < HTTP_AUTH_DELAY_MAX_MS ? delay : HTTP_AUTH_DELAY_MAX_MS;
}

static void reply_unauthorized(struct http_response *res, const char *why)
{
	http_reply_error(res, 401, "unauthorized", "%s; send a token as 'Authorization: Bearer mft_...' "
			 "(docs/api.md, \"Authentication\")", why);
	res->www_authenticate = true;
}

static bool route_takes_query_token(const struct http_route *route)
{
	for (const char *const *q = route->query; q && *q; q++)
		if (strcmp(*q, HTTP_AUTH_QUERY_PARAM) == 0)
			return true;
	return false;
}

static enum MHD_Result count_authorization(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	unsigned *n = cls;

	(void)kind;
	(void)value;
	if (strcasecmp(key, MHD_HTTP_HEADER_AUTHORIZATION) == 0)
		(*n)++;
	return MHD_YES;
}

/* Finds who sent the request and whether the route lets them. Returns true when it wrote a response (401, 403,
 * 503) or set ctx->auth_delay_ms (a 401 held back until the body is in). */
static bool request_authorize(struct http *h, struct request_ctx *ctx, struct http_response *res)
{
	const struct http_route *route = ctx->route;
	const char *header, *token = NULL;
	struct http_principal who = { 0 };
	unsigned n_headers = 0;
	int r;

	/* A public route does not look at tokens at all: it costs no database lookup (health is polled often) and
	 * offers no way to guess one. */
	if (!h->authenticate || route->role == HTTP_ACCESS_PUBLIC)
		return false;
	/* Two headers are read differently by different parsers (a proxy in front may check the other one): not a
	 * request we can attribute. (A NUL byte inside the header cannot be seen here: libmicrohttpd 0.9.75 cuts the
	 * value there.) */
	MHD_get_connection_values(ctx->req.conn, MHD_HEADER_KIND, count_authorization, &n_headers);
	if (n_headers > 1) {
		reply_unauthorized(res, "the request has more than one Authorization header; send one");
		return true;
	}
	header = http_header(&ctx->req, MHD_HTTP_HEADER_AUTHORIZATION);
	if (header) {
		if (strncasecmp(header, "Bearer ", 7) != 0) {
			reply_unauthorized(res, "the Authorization header is not 'Bearer TOKEN'");
			return true;
		}
		token = header + 7;
		token += strspn(token, " ");
	} else if (route_takes_query_token(route)) {
		token = http_query(&ctx->req, HTTP_AUTH_QUERY_PARAM);
	}
	if (!token || !*token) {
		reply_unauthorized(res, "this route needs a token");
		return true;
	}
	r = h->authenticate(h->app, token, &who);
	if (r == -EACCES) {
		/* Only a wrong token counts, not a missing one: only a wrong one can be a guess. */
		ctx->auth_delay_ms = auth_failure_count(h, ctx->req.conn);
		metrics_count_auth_failure(h->metrics, ctx->auth_delay_ms > 0);
		reply_unauthorized(res, "the token is not valid (mistyped, deleted, or of another meshfleetd)");
		if (!ctx->auth_delay_ms)
			return true;
		ctx->auth_res = *res;
		response_init(res);
		return true;
	}
	if (r < 0) {
		http_reply_error(res, 503, "database_unavailable", "cannot check the token now: %s; retry in a moment",
				 strerror(-r));
		return true;
	}
	ctx->req.principal = who;
	if (who.role < route->role) {
		const char *has = h->role_name(who.role);

		http_reply_error(res, 403, "forbidden", "%s %s needs the %s role; this token ('%s') is %s %s; ask an "
				 "admin for a token with that role", ctx->req.method, route->pattern,
				 h->role_name(route->role), who.name, strchr("aeiou", has[0]) ? "an" : "a", has);
		return true;
	}
	return false;
}

/* Checks what can be checked before the body arrives. Returns true when it wrote a response. */
static bool request_precheck(struct http *h, struct request_ctx *ctx, const char *url, const char *method,
			     struct http_response *res)
{
	struct MHD_Connection *conn = ctx->req.conn;
	struct query_check qc = { 0 };
	const char *length;
	char allow[64];

	if (h->shutting_down) {
		http_reply_error(res, 503, "shutting_down", "meshfleetd is shutting down; retry in a moment");
		return true;
	}
	ctx->route = route_find(h, method, url, &ctx->req, allow, sizeof(allow));
	if (!ctx->route) {
		if (allow[0]) {
			http_reply_error(res, 405, "method_not_allowed", "%s is not allowed on %s; allowed: %s",
					 method, url, allow);
			snprintf(res->allow, sizeof(res->allow), "%s", allow);
		} else {
			http_reply_error(res, 404, "not_found", "no such route: %s", url);
		}
		return true;
	}
	ctx->route_label = ctx->route->pattern;
	ctx->req.route = ctx->route->pattern;
	if (request_authorize(h, ctx, res))
		return !ctx->auth_delay_ms;
	qc.route = ctx->route;
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, query_check_one, &qc);
	if (qc.problem) {
		if (strcmp(qc.problem, "unknown_parameter") == 0)
			http_reply_error(res, 400, "unknown_parameter", "unknown query parameter '%s' for %s",
					 qc.bad_key, ctx->route->pattern);
		else
			http_reply_error(res, 400, "invalid_parameter", "query parameter '%s' %s", qc.bad_key,
					 strcmp(qc.problem, "repeated") == 0 ? "is given more than once" :
					 "needs a value");
		return true;
	}
	if (!ctx->route->body_types || !method_has_body(method))
		return false;
	length = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (length) {
		uint64_t n;

		if (parse_uint(length, 0, UINT64_MAX, &n) == 0 && n > body_limit(h, ctx->route)) {
			http_reply_error(res, 413, "payload_too_large", "request body of %llu bytes is over the limit "
					 "of %u bytes (%s)", (unsigned long long)n, body_limit(h, ctx->route),
					 body_limit_name(ctx->route));
			return true;
		}
	}
	if (!content_type_accepted(ctx->route,
				   MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		http_reply_error(res, 415, "unsupported_media_type", "%s %s needs Content-Type: %s", method,
				 ctx->route->pattern, ctx->route->body_types[0]);
		return true;
	}
	return false;
}

static void body_append(struct http *h, struct request_ctx *ctx, const char *data, size_t len)
{
	size_t cap;
	char *p;

	if (ctx->too_large || !ctx->route || !ctx->route->body_types || ctx->auth_delay_ms)
		return;
	if (len > body_limit(h, ctx->route) - ctx->body_len) {
		ctx->too_large = true;
		free(ctx->body);
		ctx->body = NULL;
		ctx->body_len = ctx->body_cap = 0;
		return;
	}
	if (ctx->body_len + len + 1 > ctx->body_cap) {
		cap = ctx->body_cap ? ctx->body_cap : 1024;
		while (cap < ctx->body_len + len + 1)
			cap *= 2;
		p = realloc(ctx->body, cap);
		if (!p) {
			ctx->too_large = true;
			return;
		}
		ctx->body = p;
		ctx->body_cap = cap;
	}
	memcpy(ctx->body + ctx->body_len, data, len);
	ctx->body_len += len;
	ctx->body[ctx->body_len] = '\0';
}

static enum MHD_Result add_header(struct MHD_Response *r, const char *name, const char *value)
{
	return MHD_add_response_header(r, name, value);
}

static enum MHD_Result request_respond(struct http *h, struct request_ctx *ctx, struct http_response *res)
{
	unsigned status = res->status ? res->status : 500;
	struct MHD_Response *r;
	enum MHD_Result ok;

	if (res->body_len >= HTTP_TRIM_AFTER_BYTES || ctx->body_cap >= HTTP_TRIM_AFTER_BYTES)
		h->trim_pending = true;
	if (res->stream) {
		r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, stream_read, res->stream,
						      stream_free);
		if (r) {
			struct http_stream *s = res->stream;

			/* MHD owns it now: stream_free() when it is done with the response. */
			res->stream = NULL;
			s->http = h;
			s->conn = ctx->req.conn;
			s->last_data_ms = uv_now(h->loop);
			s->next = h->streams;
			if (h->streams)
				h->streams->prev = s;
			h->streams = s;
		}
	} else if (res->fd >= 0) {
		r = MHD_create_response_from_fd64(res->fd_size, res->fd);
		if (r)
			res->fd = -1;   /* MHD closes it */
	} else if (res->body) {
		r = MHD_create_response_from_buffer(res->body_len, res->body, MHD_RESPMEM_MUST_FREE);
		if (r)
			res->body = NULL;
	} else {
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	}
	if (!r) {
		response_clear(res);
		log_err("http: cannot create a response: out of memory");
		return MHD_NO;
	}
	ok = MHD_YES;
	if (res->content_type)
		ok &= add_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
	ok &= add_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, res->cache_control ? res->cache_control : "no-store");
	ok &= add_header(r, "X-Content-Type-Options", "nosniff");
	if (res->location[0])
		ok &= add_header(r, MHD_HTTP_HEADER_LOCATION, res->location);
	if (res->allow[0])
		ok &= add_header(r, MHD_HTTP_HEADER_ALLOW, res->allow);
	if (h->shutting_down)
		ok &= add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
	if (res->www_authenticate)
		ok &= add_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"meshfleet\"");
	if (ok == MHD_YES)
		ok = MHD_queue_response(ctx->req.conn, status, r);
	MHD_destroy_response(r);
	snprintf(ctx->req.error_code, sizeof(ctx->req.error_code), "%s", res->error_code);
	response_clear(res);
	if (ok == MHD_YES) {
		ctx->responded = true;
		ctx->status = status;
		if (h->on_complete)
			h->on_complete(h->app, &ctx->req, status);
	}
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct http *h = cls;
	struct request_ctx *ctx = *con_cls;
	struct http_response res;

	(void)version;
	response_init(&res);
	if (!ctx) {
		ctx = calloc(1, sizeof(*ctx));
		if (!ctx)
			return MHD_NO;
		ctx->http = h;
		response_init(&ctx->auth_res);  /* fd -1: calloc's 0 would close stdin in on_completed() */
		ctx->start_ns = uv_hrtime();
		ctx->route_label = "unmatched";
		ctx->method_label = metrics_method_label(method);
		ctx->req.conn = conn;
		ctx->req.method = method;
		ctx->req.path = url;
		response_init(&ctx->auth_res);
		*con_cls = ctx;
		ctx->next = h->requests;
		if (h->requests)
			h->requests->prev = ctx;
		h->requests = ctx;
		if (request_precheck(h, ctx, url, method, &res))
			return request_respond(h, ctx, &res);
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		body_append(h, ctx, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (ctx->responded)
		return MHD_YES;
	if (ctx->deferred) {
		struct http_deferred *d = ctx->deferred;

		if (!d->answered)
			return MHD_YES;         /* not for us: still waiting */
		res = d->res;
		response_init(&d->res);
		deferred_unlink(d);
		ctx->deferred = NULL;
		free(d);
		return request_respond(h, ctx, &res);
	}
	if (ctx->auth_delay_ms) {
		if (throttle_defer(h, ctx))
			return MHD_YES;
		res = ctx->auth_res;
		response_init(&ctx->auth_res);
		return request_respond(h, ctx, &res);
	}
	if (ctx->too_large) {
		http_reply_error(&res, 413, "payload_too_large", "request body is over the limit of %u bytes "
				 "(%s)", body_limit(h, ctx->route), body_limit_name(ctx->route));
	} else {
		ctx->req.body = ctx->body;
		ctx->req.body_len = ctx->body_len;
		res.status = 500;
		ctx->route->handler(h->app, &ctx->req, &res);
		if (ctx->deferred) {
			/* http_defer(): the answer comes through http_deferred_reply(); @res is untouched. */
			response_clear(&res);
			return MHD_YES;
		}
	}
	return request_respond(h, ctx, &res);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http *h = cls;
	struct request_ctx *ctx = *con_cls;

	(void)conn;
	if (!ctx)
		return;
	/* 499, as nginx counts it: the client went away (or timed out) before a response was queued. */
	metrics_observe_request(h->metrics, ctx->route_label, ctx->method_label,
				ctx->responded ? ctx->status : 499, (double)(uv_hrtime() - ctx->start_ns) / 1e9);
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && toe != MHD_REQUEST_TERMINATED_DAEMON_SHUTDOWN)
		log_debug("http: %s %s ended early (MHD reason %d)", ctx->method_label, ctx->route_label, (int)toe);
	if (ctx->prev)
		ctx->prev->next = ctx->next;
	else
		h->requests = ctx->next;
	if (ctx->next)
		ctx->next->prev = ctx->prev;
	*con_cls = NULL;
	if (ctx->deferred) {
		struct http_deferred *d = ctx->deferred;

		deferred_unlink(d);
		if (!d->due_ms && !d->answered) {
			/* The application still works on it and may read the request: it frees both when it
			 * replies. MHD frees the connection's memory after this call: keep what the completion
			 * hook reads then (the method is the route's own, static). */
			http_remote_address(&ctx->req, ctx->remote, sizeof(ctx->remote));
			ctx->path_copy = strdup(ctx->req.path);
			ctx->req.path = ctx->path_copy ? ctx->path_copy : ctx->route->pattern;
			ctx->req.method = ctx->route->method;
			ctx->req.conn = NULL;
			d->orphaned = true;
			return;
		}
		/* The application's answer came, but the server closed before it was sent. */
		if (!d->due_ms)
			deferred_complete_undelivered(ctx, &d->res);
		response_clear(&d->res);
		free(d);
	}
	request_ctx_free(ctx);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes the path and query values in place, like MHD's own unescaping, except that "%00" stays as it
 * is: a NUL would cut the C string short, so "/api/v1/nodes/0x10%00junk" would act on node 0x10. Kept literal,
 * it fails validation like any other bad character. */
static size_t on_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	char *out = s;

	(void)cls;
	(void)conn;
	for (const char *in = s; *in; in++) {
		int hi, lo;

		if (in[0] == '%' && (hi = hex_value(in[1])) >= 0 && (lo = hex_value(in[2])) >= 0 && (hi | lo)) {
			*out++ = (char)(hi << 4 | lo);
			in += 2;
		} else {
			*out++ = *in;
		}
	}
	*out = '\0';
	return (size_t)(out - s);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	log_info("http: %s", line);
}

static void on_handle_closed(uv_handle_t *handle)
{
	struct http *h = handle->data;

	if (--h->open_handles == 0 && h->closed_cb)
		h->closed_cb(h, h->closed_userdata);
}

static void http_close(struct http *h)
{
	if (h->closing)
		return;
	h->closing = true;
	/* Stop watching the epoll fd before MHD closes it. */
	uv_close((uv_handle_t *)&h->poll, on_handle_closed);
	streams_end(h);
	/* MHD_stop_daemon() must not find a connection suspended; it then ends each (on_completed()). */
	for (struct http_deferred *d = h->deferred; d; d = d->next) {
		if (!d->answered) {
			d->answered = d->due_ms != 0;
			MHD_resume_connection(d->ctx->req.conn);
		}
	}
	MHD_stop_daemon(h->mhd);
	h->mhd = NULL;
	uv_close((uv_handle_t *)&h->timer, on_handle_closed);
	uv_close((uv_handle_t *)&h->grace, on_handle_closed);
	uv_close((uv_handle_t *)&h->stream_tick, on_handle_closed);
	uv_close((uv_handle_t *)&h->throttle, on_handle_closed);
}

/* Whether a request in flight still waits for an answer we owe. A request whose body is incomplete and whose
 * client has closed its side never will be: libmicrohttpd 0.9.75 in epoll mode can miss that close when it
 * arrives in the same segment as the last data, so at shutdown we look at the socket ourselves. */
static bool request_pending(const struct request_ctx *ctx)
{
	const union MHD_ConnectionInfo *info;
	char byte;

	if (ctx->responded)
		return true;
	info = MHD_get_connection_info(ctx->req.conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	return !info || recv(info->connect_fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) != 0;
}

static unsigned requests_pending(const struct http *h)
{
	unsigned n = 0;

	for (const struct request_ctx *ctx = h->requests; ctx; ctx = ctx->next)
		n += request_pending(ctx);
	return n;
}

/* Lets MHD do its work, then re-arms the timer for its next deadline. */
static void http_run(struct http *h)
{
	MHD_UNSIGNED_LONG_LONG timeout;
	uint64_t next_ms;

	if (h->closing)
		return;
	h->wake_pending = false;
	MHD_run(h->mhd);
	if (h->trim_pending && !h->requests) {
		/* glibc keeps freed heap pages: without this a 1000-node POST leaves ~3 MiB of them resident,
		 * and a gateway's memory is small. Only after large requests, so small ones pay nothing. */
		h->trim_pending = false;
#ifdef __GLIBC__
		malloc_trim(0);
#endif
	}
	if (h->shutting_down && requests_pending(h) == 0) {
		http_close(h);
		return;
	}
	if (h->wake_pending) {
		next_ms = 0;
	} else if (MHD_get_timeout(h->mhd, &timeout) == MHD_YES) {
		next_ms = (uint64_t)timeout;
	} else {
		h->immediate_runs = 0;
		uv_timer_stop(&h->timer);
		return;
	}
	/* libmicrohttpd 0.9.75 in epoll mode leaves a TLS connection whose handshake waits for the rest of a record
	 * (a ClientHello cut short, 11 bytes suffice) on its list of ready connections, so it asks for a run at once,
	 * every time, until the connection times out. A 0 ms timer started from its own callback runs again before
	 * libuv polls for I/O (libuv 1.44), so that would spin at 100% CPU and starve the loop: no signal, no dongle,
	 * no watchdog for connection_timeout_s. After HTTP_IMMEDIATE_RUNS_MAX such runs in a row the next waits
	 * HTTP_BUSY_PAUSE_MS; real work (a resumed connection, a response being written) needs far fewer in a row,
	 * or gets an epoll event that starts the count again. */
	if (next_ms > 0) {
		h->immediate_runs = 0;
	} else if (++h->immediate_runs > HTTP_IMMEDIATE_RUNS_MAX) {
		h->immediate_runs = 0;
		next_ms = HTTP_BUSY_PAUSE_MS;
	}
	uv_timer_start(&h->timer, on_timer, next_ms, 0);
}

static void on_timer(uv_timer_t *timer)
{
	http_run(timer->data);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
	struct http *h = poll->data;

	(void)status;
	(void)events;
	h->immediate_runs = 0;
	http_run(h);
}

static void on_grace_expired(uv_timer_t *timer)
{
	struct http *h = timer->data;

	log_warning("http: %u request(s) still in flight after %d ms, closing them", requests_pending(h),
		    HTTP_SHUTDOWN_GRACE_MS);
	http_close(h);
}

void http_shutdown(struct http *h, http_closed_fn closed_cb, void *userdata)
{
	MHD_socket listener;

	h->closed_cb = closed_cb;
	h->closed_userdata = userdata;
	if (h->shutting_down)
		return;
	h->shutting_down = true;
	/* A stream would hold the daemon for the whole grace period: its client reconnects to the next daemon. */
	streams_end(h);
	/* Nor should a held-back 401: it goes now. */
	for (struct http_deferred *d = h->deferred; d; d = d->next)
		if (d->due_ms && !d->answered)
			deferred_resume(d);
	listener = MHD_quiesce_daemon(h->mhd);
	if (listener != MHD_INVALID_SOCKET)
		close(listener);
	if (requests_pending(h) == 0) {
		http_close(h);
		return;
	}
	log_info("http: waiting for %u request(s) in flight", requests_pending(h));
	uv_timer_start(&h->grace, on_grace_expired, HTTP_SHUTDOWN_GRACE_MS, 0);
	http_run(h);
}

/* Splits "host:port" or "[v6]:port" and binds a non-blocking listening socket. */
static int open_listener(const char *listen_spec, int *ret_fd, uint16_t *ret_port, bool *ret_v6,
			 char *errbuf, size_t errlen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	struct addrinfo *ai = NULL;
	char host[128], port[8];
	const char *colon;
	int fd = -1, one = 1, r, err;

	if (listen_spec[0] == '[') {
		const char *close_bracket = strchr(listen_spec, ']');

		if (!close_bracket || close_bracket[1] != ':' ||
		    (size_t)(close_bracket - listen_spec - 1) >= sizeof(host))
			goto bad_spec;
		snprintf(host, sizeof(host), "%.*s", (int)(close_bracket - listen_spec - 1), listen_spec + 1);
		colon = close_bracket + 1;
	} else {
		colon = strrchr(listen_spec, ':');
		if (!colon || (size_t)(colon - listen_spec) >= sizeof(host))
			goto bad_spec;
		snprintf(host, sizeof(host), "%.*s", (int)(colon - listen_spec), listen_spec);
	}
	if (snprintf(port, sizeof(port), "%s", colon + 1) >= (int)sizeof(port))
		goto bad_spec;
	r = getaddrinfo(host, port, &hints, &ai);
	if (r != 0) {
		snprintf(errbuf, errlen, "cannot listen on %s: '%s' is not an address of this machine (%s)",
			 listen_spec, host, gai_strerror(r));
		return -EADDRNOTAVAIL;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto sys_fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&bound, &bound_len) < 0)
		goto sys_fail;
	*ret_v6 = ai->ai_family == AF_INET6;
	*ret_port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port :
			  ((struct sockaddr_in *)&bound)->sin_port);
	*ret_fd = fd;
	freeaddrinfo(ai);
	return 0;
sys_fail:
	err = errno;
	if (fd >= 0)
		close(fd);
	freeaddrinfo(ai);
	switch (err) {
	case EADDRINUSE:
		snprintf(errbuf, errlen, "cannot listen on %s: the address is already in use — another meshfleetd "
			 "or another program listens there (`ss -ltnp` shows which); stop it or choose another "
			 "address with --listen or http.listen", listen_spec);
		break;
	case EACCES:
		snprintf(errbuf, errlen, "cannot listen on %s: permission denied — ports below 1024 need "
			 "CAP_NET_BIND_SERVICE; choose a port above 1023", listen_spec);
		break;
	case EADDRNOTAVAIL:
		snprintf(errbuf, errlen, "cannot listen on %s: that address is not configured on this machine "
			 "(`ip addr` lists them); use 127.0.0.1 or 0.0.0.0", listen_spec);
		break;
	default:
		snprintf(errbuf, errlen, "cannot listen on %s: %s", listen_spec, strerror(err));
		break;
	}
	return -err;
bad_spec:
	snprintf(errbuf, errlen, "cannot listen on '%s': expected ADDRESS:PORT such as 127.0.0.1:8080 or "
		 "[::1]:8080", listen_spec);
	return -EINVAL;
}

int http_new(uv_loop_t *loop, const struct http_options *options, const struct http_route *routes,
	     size_t n_routes, void *app, struct metrics *metrics, struct http **ret_http,
	     char *errbuf, size_t errlen)
{
	/* MHD_OPTION_ARRAY: filled with the TLS options for HTTPS; for plain HTTP only the END items. */
	struct MHD_OptionItem tls_options[] = {
		{ MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL }, { MHD_OPTION_END, 0, NULL },
		{ MHD_OPTION_END, 0, NULL },
	};
	const union MHD_DaemonInfo *info;
	struct http *h;
	bool v6 = false;
	int fd = -1, r;

	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	h->loop = loop;
	h->routes = routes;
	h->n_routes = n_routes;
	h->app = app;
	h->metrics = metrics;
	h->max_body = options->max_body_bytes;
	h->authenticate = options->authenticate;
	h->role_name = options->role_name;
	h->on_complete = options->on_complete;
	if (h->authenticate) {
		h->failures = calloc(HTTP_AUTH_TABLE_SIZE, sizeof(*h->failures));
		if (!h->failures) {
			snprintf(errbuf, errlen, "out of memory");
			r = -ENOMEM;
			goto fail;
		}
	}
	if (options->tls_cert && options->tls_cert[0]) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			snprintf(errbuf, errlen, "[http] tls_cert and tls_key are set, but this libmicrohttpd is built "
				 "without TLS support (GnuTLS): install one with it (Debian's libmicrohttpd12 has it), or "
				 "remove both keys to serve plain HTTP");
			r = -ENOTSUP;
			goto fail;
		}
		r = tls_credentials_load(&h->tls, options->tls_cert, options->tls_key, errbuf, errlen);
		if (r < 0)
			goto fail;
		h->tls_cert_path = options->tls_cert;
		h->tls_key_path = options->tls_key;
		tls_options[0] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls.cert_pem };
		tls_options[1] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls.key_pem };
		tls_options[2] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)TLS_PRIORITIES };
	}
	r = open_listener(options->listen, &fd, &h->port, &v6, errbuf, errlen);
	if (r < 0)
		goto fail;
	h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
				  (v6 ? MHD_USE_IPv6 : 0) | (h->tls_cert_path ? MHD_USE_TLS : 0),
				  0, NULL, NULL, on_request, h,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
				  MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)options->max_connections,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)options->max_connections_per_ip,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)options->connection_timeout_s,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
				  MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
				  MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, h,
				  MHD_OPTION_ARRAY, tls_options,
				  MHD_OPTION_END);
	if (!h->mhd && h->tls_cert_path) {
		snprintf(errbuf, errlen, "cannot start the HTTPS server on %s: libmicrohttpd (GnuTLS) refused the "
			 "certificate '%s' or the key '%s' (see the lines above); check that tls_cert is the PEM chain "
			 "with the server's certificate first and tls_key its private key", options->listen,
			 options->tls_cert, options->tls_key);
		r = -EIO;
		goto fail;
	}
	if (!h->mhd) {
		snprintf(errbuf, errlen, "cannot start the HTTP server on %s (libmicrohttpd refused its options; "
			 "see the lines above)", options->listen);
		r = -EIO;
		goto fail;
	}
	fd = -1;        /* MHD owns it now */
	info = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		snprintf(errbuf, errlen, "libmicrohttpd has no epoll descriptor");
		r = -EIO;
		goto fail;
	}
	r = uv_poll_init(loop, &h->poll, info->epoll_fd);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot watch the HTTP server: %s", uv_strerror(r));
		goto fail;
	}
	h->poll.data = h;
	h->open_handles++;
	uv_timer_init(loop, &h->timer);
	h->timer.data = h;
	h->open_handles++;
	uv_timer_init(loop, &h->grace);
	h->grace.data = h;
	h->open_handles++;
	uv_timer_init(loop, &h->stream_tick);
	h->stream_tick.data = h;
	h->open_handles++;
	uv_timer_init(loop, &h->throttle);
	h->throttle.data = h;
	h->open_handles++;
	uv_timer_start(&h->stream_tick, on_stream_tick, HTTP_STREAM_CHECK_MS, HTTP_STREAM_CHECK_MS);
	uv_poll_start(&h->poll, UV_READABLE, on_poll);
	http_run(h);
	*ret_http = h;
	return 0;
fail:
	/* Nothing failed after the first libuv handle was initialised, so there is no handle to close here. */
	if (fd >= 0)
		close(fd);
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	tls_credentials_done(&h->tls);
	free(h->failures);
	free(h);
	return r;
}

struct http *http_free(struct http *h)
{
	if (!h)
		return NULL;
	if (h->mhd)
		MHD_stop_daemon(h->mhd);
	tls_credentials_done(&h->tls);
	free(h->failures);
	free(h);
	return NULL;
}
