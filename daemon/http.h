/* http: libmicrohttpd on the libuv loop, the route table, request bodies under limits, and JSON responses.
 *
 * MHD runs in external-event mode: its epoll fd is watched by a uv_poll_t and its timeouts by a uv_timer_t, so
 * every handler runs on the loop thread (ARCHITECTURE.md principle 3). A handler fills a struct http_response;
 * http queues it, counts it in the metrics and frees it.
 *
 * Glossary: route = method + path pattern ("/api/v1/nodes/{addr}") + handler; param = a {name} segment.
 */
#ifndef MESHFLEET_HTTP_H
#define MESHFLEET_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "config_file.h"
#include "metrics.h"

#define HTTP_MAX_PARAMS 4
#define HTTP_MAX_PARAM_LEN 80           /* a SHA-256 in hex (/api/v1/firmware/{id}) fits */
#define HTTP_CONNECTION_MEMORY 32768    /* per connection: request line, headers and MHD's buffers */
#define HTTP_SHUTDOWN_GRACE_MS 4000     /* in-flight requests get this long after SIGTERM */
#define HTTP_STREAM_KEEPALIVE_MS 15000  /* a stream without data this long gets its keep-alive text */
#define HTTP_STREAM_BLOCK 4096          /* bytes asked of a stream at a time */
#define HTTP_STREAM_CHECK_MS 1000       /* how often waiting streams are checked for a client that left */
#define HTTP_ERROR_CODE_MAX 48          /* an API error code ("unsupported_media_type") */
#define HTTP_PRINCIPAL_NAME_MAX 64      /* a token's name (tokens.h TOKEN_NAME_MAX) */
#define HTTP_ACCESS_PUBLIC 0            /* http_route.role: no token needed */
#define HTTP_AUTH_QUERY_PARAM "access_token"    /* a route listing it in its query takes the token there too */
/* The throttle of wrong tokens: per client address (IPv4, or IPv6 /64), in a table of fixed size (the oldest
 * entry goes); after HTTP_AUTH_FREE_FAILURES wrong tokens less than HTTP_AUTH_WINDOW_MS apart, each further 401
 * is held back, HTTP_AUTH_DELAY_FIRST_MS doubling up to HTTP_AUTH_DELAY_MAX_MS. */
#define HTTP_AUTH_TABLE_SIZE 256
#define HTTP_AUTH_FREE_FAILURES 5
#define HTTP_AUTH_WINDOW_MS 60000
#define HTTP_AUTH_DELAY_FIRST_MS 250
#define HTTP_AUTH_DELAY_MAX_MS 8000

struct http;
struct http_stream;
struct http_deferred;
struct MHD_Connection;

/* A response body produced over time (Server-Sent Events): the connection waits, suspended, while the producer has
 * nothing, until http_stream_wake(). */
struct http_stream_ops {
	/* Copies up to @max bytes of the body into @buf. Returns the count; 0 when nothing is ready (the connection
	 * waits for http_stream_wake()); -1 to drop the connection now. */
	long (*read)(void *userdata, char *buf, size_t max);
	/* The body ended, the client went away, or the server stops: free @userdata. Called exactly once. */
	void (*closed)(void *userdata);
};

/* Who made a request: the bearer token that authenticated it. On a public route without a token: all zero. */
struct http_principal {
	int64_t id;                             /* the token's id; 0 = none */
	unsigned role;                          /* the application's role number; HTTP_ACCESS_PUBLIC = none */
	char name[HTTP_PRINCIPAL_NAME_MAX + 1]; /* the token's name; "" = none */
};

struct http_request {
	struct MHD_Connection *conn;            /* borrowed */
	const char *method;                     /* borrowed */
	const char *path;                       /* borrowed */
	char params[HTTP_MAX_PARAMS][HTTP_MAX_PARAM_LEN];
	size_t n_params;
	const char *body;                       /* borrowed; NUL-terminated; NULL when empty */
	size_t body_len;
	struct http_principal principal;        /* set before the handler runs */
	const char *route;                      /* the matched route's pattern; NULL when none matched */
	char error_code[HTTP_ERROR_CODE_MAX];   /* once answered (on_complete): the error code sent; "" = none */
};

struct http_response {
	unsigned status;
	char *body;                             /* owned (malloc) */
	size_t body_len;
	const char *content_type;               /* static */
	int fd;                                 /* a file to send instead of @body; owned; -1 = none */
	uint64_t fd_size;
	char location[128];                     /* Location header when not empty */
	char allow[64];                         /* Allow header when not empty */
	const char *cache_control;              /* static; NULL = "no-store" */
	struct http_stream *stream;             /* a body produced over time instead of @body; owned */
	bool www_authenticate;                  /* a 401: send WWW-Authenticate: Bearer realm="meshfleet" */
	char error_code[HTTP_ERROR_CODE_MAX];   /* set by http_reply_error(); "" = not an error */
};

typedef void (*http_handler_fn)(void *app, const struct http_request *req, struct http_response *res);

struct http_route {
	const char *method;
	const char *pattern;                    /* segments; "{name}" matches one segment */
	http_handler_fn handler;
	const char *const *query;               /* allowed query parameters, NULL-terminated; NULL = none */
	const char *const *body_types;          /* accepted Content-Types, NULL-terminated; NULL = no body */
	uint32_t max_body;                      /* bytes; 0 = the server's http.max_body_bytes */
	unsigned role;                          /* the least role a token needs; HTTP_ACCESS_PUBLIC = none */
};

struct http_options {
	const char *listen;                     /* ADDR:PORT */
	uint32_t max_body_bytes;
	uint32_t max_connections;
	uint32_t max_connections_per_ip;
	uint32_t connection_timeout_s;
	/* Checks the bearer token @token (borrowed, as the client sent it): returns 0 and fills @ret (role above
	 * HTTP_ACCESS_PUBLIC) for a live token, -EACCES for a wrong one (401), another negative errno when it cannot
	 * tell now (503). NULL: no tokens; every route is public (unit tests of http alone). */
	int (*authenticate)(void *app, const char *token, struct http_principal *ret);
	/* A role's name for the 403 message ("operator"). Returns: static string. Needed with @authenticate. */
	const char *(*role_name)(unsigned role);
	/* Called after each response is queued (the audit log), also for refused ones; NULL = none. */
	void (*on_complete)(void *app, const struct http_request *req, unsigned status);
	/* HTTPS: PEM paths of the certificate chain and its private key, read once here (tls.h); NULL or "" for
	 * plain HTTP. Borrowed; must outlive @http (http_tls_files_changed() looks at them again). */
	const char *tls_cert;
	const char *tls_key;
};

typedef void (*http_closed_fn)(struct http *http, void *userdata);

/* Binds the listener and starts serving @routes (borrowed; must outlive @http) on @loop. On failure *ret_http is
 * untouched and @errbuf says why and what to try. */
int http_new(uv_loop_t *loop, const struct http_options *options, const struct http_route *routes,
	     size_t n_routes, void *app, struct metrics *metrics, struct http **ret_http,
	     char *errbuf, size_t errlen);

/* The port actually bound (useful with port 0). */
uint16_t http_port(const struct http *http);
/* Whether the listener serves HTTPS, and whether its certificate or key file changed on disk since the start (a
 * renewal that needs a restart). */
bool http_tls(const struct http *http);
bool http_tls_files_changed(const struct http *http);

/* Stops accepting, lets in-flight requests finish (at most HTTP_SHUTDOWN_GRACE_MS), closes every handle and
 * then calls @closed_cb; free @http there or later with http_free(). */
void http_shutdown(struct http *http, http_closed_fn closed_cb, void *userdata);
/* Frees an http whose handles are closed (after the closed callback) or that never started; NULL is a no-op. */
struct http *http_free(struct http *http);

/* Response helpers. All replace what @res held. */
/* Takes ownership of @json. A serialisation failure becomes a 500. */
void http_reply_json(struct http_response *res, unsigned status, json_t *json);
__attribute__((format(printf, 4, 5)))
void http_reply_error(struct http_response *res, unsigned status, const char *code, const char *fmt, ...);
/* Takes ownership of @text (malloc'd). */
void http_reply_text(struct http_response *res, unsigned status, const char *content_type, char *text,
		     size_t len);

/* Answers with a body that @ops produces over time; @keepalive (static, may be NULL) is sent after
 * HTTP_STREAM_KEEPALIVE_MS without data, and the body ends when the server shuts down. @ops->closed(@userdata) is
 * called in every case, also when the response never starts. Returns the stream for http_stream_wake(), valid
 * until @ops->closed, or NULL (out of memory: @ops->closed was called and @res is a 500). */
struct http_stream *http_reply_stream(struct http_response *res, unsigned status, const char *content_type,
				      const struct http_stream_ops *ops, void *userdata, const char *keepalive);
/* The producer has data (or wants to end): the connection runs again on the next turn of the loop. */
void http_stream_wake(struct http_stream *stream);

/* Deferred responses: a handler that answers later (work on the libuv thread pool, a throttled 401) calls
 * http_defer() and returns; the connection is suspended (MHD does not poll it) until http_deferred_reply().
 * The request's data — @req itself, its params, body and principal — stays valid until http_deferred_reply()
 * (http keeps the connection's body buffer alive), so the work may read @req->body without copying it.
 * At shutdown http waits for deferred requests like for any in flight (at most HTTP_SHUTDOWN_GRACE_MS), then
 * drops them: the later http_deferred_reply() only frees its response. */
/* Called by a handler that will answer later: the connection is suspended; @res must be left untouched by the
 * handler after this call. Returns NULL when out of memory (the handler then answers normally). */
struct http_deferred *http_defer(const struct http_request *req, struct http_response *res);
/* Answers a deferred request with @res (ownership of its body/fd taken) and resumes the connection. If the client
 * went away or the server is shutting down, the answer is dropped and freed, but http_options.on_complete still
 * gets it (the audit log records what was done; the request's method, path and client address are kept for it), so
 * @http must not be freed before every deferred request was answered (the loop runs every queued work first).
 * Call exactly once, on the loop thread. */
void http_deferred_reply(struct http_deferred *d, struct http_response *res);

/* The value of query parameter @name, or NULL. Borrowed. */
const char *http_query(const struct http_request *req, const char *name);
/* The value of request header @name (any case), or NULL. Borrowed. */
const char *http_header(const struct http_request *req, const char *name);
/* Writes the client's address ("127.0.0.1", "::1") into @buf. Returns 0, or -ENOTCONN / -ENOSPC (@buf
 * holds ""). */
int http_remote_address(const struct http_request *req, char *buf, size_t size);

#endif
