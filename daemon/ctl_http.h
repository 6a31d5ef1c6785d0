/* ctl_http: meshfleetctl's client of the daemon's REST API, over libcurl. One blocking request at a time: the
 * command line has nothing else to do meanwhile. */
#ifndef MESHFLEET_CTL_HTTP_H
#define MESHFLEET_CTL_HTTP_H

#include <stddef.h>

#include <jansson.h>

#define CTL_HTTP_DEFAULT_URL "http://127.0.0.1:8080"
#define CTL_HTTP_RESPONSE_MAX (64u << 20)

struct ctl_http_response {
	long status;                    /* HTTP status; 0 when no answer came */
	char *body;                     /* owned, NUL-terminated; NULL when none */
	size_t body_len;
	char error[256];                /* when status is 0: why ("connection refused: is meshfleetd running ...") */
};

/* Sends @method @base_url@path with @body (NULL for none) as application/json. Returns 0 when an answer came
 * (whatever its status), or -EIO with res->error set. */
int ctl_http_request(const char *base_url, const char *method, const char *path, const char *body, size_t body_len,
		     struct ctl_http_response *res);
void ctl_http_response_done(struct ctl_http_response *res);

/* The "message" of an API error body, or the body itself, or the status line: for "meshfleetctl: ...". */
const char *ctl_http_error_message(const struct ctl_http_response *res, char *buf, size_t size);

#endif
