/* ctl_http: meshfleetctl's client of the daemon's REST API, over libcurl. One blocking request at a time: the
 * command line has nothing else to do meanwhile.
 *
 * Every request carries "Authorization: Bearer TOKEN" when a token is found (docs/meshfleetctl.md,
 * "Authentication"); this module is the one place that finds it, sends it and explains a 401 or 403. The token
 * itself is never printed, neither in errors nor with --verbose: messages name where it came from.
 *
 * Glossary:
 *   token source - where the token was found: --token, --token-file FILE, $MESHFLEET_TOKEN, STATE_DIR/admin.token
 *   state dir    - the daemon's state directory, found as meshfleetd finds it: --state-dir, else state_dir of the
 *                  configuration file (--config, else CONFIG_DEFAULT_PATH when it exists), else the default
 */
#ifndef MESHFLEET_CTL_HTTP_H
#define MESHFLEET_CTL_HTTP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#define CTL_HTTP_DEFAULT_URL "http://127.0.0.1:8080"
#define CTL_HTTP_RESPONSE_MAX (64u << 20)
#define CTL_HTTP_TOKEN_MAX 256                  /* bytes of a token, whatever its source */
#define CTL_HTTP_TOKEN_ENV "MESHFLEET_TOKEN"
#define CTL_HTTP_ADMIN_TOKEN_FILE "admin.token" /* in the state dir: the first admin token, written by meshfleetd */

struct ctl_http_response {
	long status;                    /* HTTP status; 0 when no answer came */
	char *body;                     /* owned, NUL-terminated; NULL when none */
	size_t body_len;
	char error[PATH_MAX + 512];     /* when status is 0: why ("connection refused: is meshfleetd running ...") */
};

/* Where the token and the state dir come from; the first token source given wins. */
struct ctl_http_auth {
	const char *token;              /* --token TOKEN; NULL when not given */
	const char *token_file;         /* --token-file FILE; NULL when not given */
	const char *state_dir;          /* --state-dir DIR; NULL: from the configuration */
	const char *config_path;        /* --config FILE; NULL: CONFIG_DEFAULT_PATH when it exists */
	bool verbose;                   /* print each request and the token's source (never the token) on stderr */
};

/* Sets where the following requests find their token. @auth is borrowed and must stay valid until the last
 * request; the token is looked up at the first request, so commands that never call the daemon never read it. */
void ctl_http_set_auth(const struct ctl_http_auth *auth);

/* HTTPS: trust the CA certificates in the PEM file @path (--cacert; a daemon with a self-signed certificate)
 * instead of the system's store; NULL: the system's. Borrowed; must stay valid until the last request. */
void ctl_http_set_ca_file(const char *path);

/* Sends @method @base_url@path with @body (NULL for none) as application/json, with the token. Returns 0 when an
 * answer came (whatever its status), or -EIO with res->error set (no answer, or the token could not be read). */
int ctl_http_request(const char *base_url, const char *method, const char *path, const char *body, size_t body_len,
		     struct ctl_http_response *res);
void ctl_http_response_done(struct ctl_http_response *res);

/* GETs @base_url@path and hands the body of a 200 to @fn as it arrives (Server-Sent Events); @fn returns non-zero to
 * stop (not an error). Any other status collects its body in @res as ctl_http_request() does. Returns as
 * ctl_http_request(); res->status is set when an answer came. */
typedef int (*ctl_http_stream_fn)(void *userdata, const char *data, size_t len);
int ctl_http_stream(const char *base_url, const char *path, ctl_http_stream_fn fn, void *userdata,
		    struct ctl_http_response *res);

/* POSTs @size bytes of @file (borrowed; from its current position) to @base_url@path as @content_type, streamed:
 * libcurl reads the file as it sends it. Returns as ctl_http_request(); a read error of @file is -EIO with
 * res->error saying so. */
int ctl_http_upload(const char *base_url, const char *path, const char *content_type, FILE *file, uint64_t size,
		    struct ctl_http_response *res);

/* ctl_http_request(), then "meshfleetctl: WHY" on stderr unless the answer has status @expected. Returns 0 (and
 * a response to ctl_http_response_done()) or -EIO (nothing to free). */
int ctl_http_expect(const char *base_url, const char *method, const char *path, const char *body, size_t body_len,
		    long expected, struct ctl_http_response *res);

/* @text percent-encoded for a query value into @out (RFC 3986: unreserved characters stay, the rest is %XX).
 * Returns 0, or -ENAMETOOLONG when @size bytes are not enough. */
int ctl_http_escape_query(const char *text, char *out, size_t size);

/* GETs @path (which may hold a query already) page after page, following each answer's next_cursor, and appends the
 * members of every page's @key array to *@ret_all (a new array; json_decref() it). Returns 0, or -EIO after saying
 * why on stderr. */
#define CTL_HTTP_PAGES_MAX 10000                /* pages followed before the cursor counts as not ending */
#define CTL_HTTP_CURSOR_MAX 256                 /* bytes of a next_cursor, before escaping */
int ctl_http_get_all(const char *base_url, const char *path, const char *key, json_t **ret_all);

/* The "message" of an API error body, or the body itself, or the status line: for "meshfleetctl: ...". A 401 or
 * 403 says that the daemon refused the token (naming its source) and how to give another. */
const char *ctl_http_error_message(const struct ctl_http_response *res, char *buf, size_t size);

/* The state dir (see the glossary) into @out (@size bytes). Returns 0, or a negative errno with @err saying why
 * (the configuration file cannot be read or is invalid, the path is too long). */
int ctl_http_state_dir(const struct ctl_http_auth *auth, char *out, size_t size, char *err, size_t err_size);

#endif
