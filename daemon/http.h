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

struct http;
struct http_stream;
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

struct http_request {
	struct MHD_Connection *conn;            /* borrowed */
	const char *method;                     /* borrowed */
	const char *path;                       /* borrowed */
	char params[HTTP_MAX_PARAMS][HTTP_MAX_PARAM_LEN];
	size_t n_params;
	const char *body;                       /* borrowed; NUL-terminated; NULL when empty */
	size_t body_len;
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
};

typedef void (*http_handler_fn)(void *app, const struct http_request *req, struct http_response *res);

struct http_route {
	const char *method;
	const char *pattern;                    /* segments; "{name}" matches one segment */
	http_handler_fn handler;
	const char *const *query;               /* allowed query parameters, NULL-terminated; NULL = none */
	const char *const *body_types;          /* accepted Content-Types, NULL-terminated; NULL = no body */
	uint32_t max_body;                      /* bytes; 0 = the server's http.max_body_bytes */
};

struct http_options {
	const char *listen;                     /* ADDR:PORT */
	uint32_t max_body_bytes;
	uint32_t max_connections;
	uint32_t max_connections_per_ip;
	uint32_t connection_timeout_s;
};

typedef void (*http_closed_fn)(struct http *http, void *userdata);

/* Binds the listener and starts serving @routes (borrowed; must outlive @http) on @loop. On failure *ret_http is
 * untouched and @errbuf says why and what to try. */
int http_new(uv_loop_t *loop, const struct http_options *options, const struct http_route *routes,
	     size_t n_routes, void *app, struct metrics *metrics, struct http **ret_http,
	     char *errbuf, size_t errlen);

/* The port actually bound (useful with port 0). */
uint16_t http_port(const struct http *http);

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

/* The value of query parameter @name, or NULL. Borrowed. */
const char *http_query(const struct http_request *req, const char *name);
/* The value of request header @name (any case), or NULL. Borrowed. */
const char *http_header(const struct http_request *req, const char *name);

#endif
