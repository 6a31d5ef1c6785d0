/* ctl_http: see ctl_http.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "config_file.h"
#include "ctl_http.h"

#define CTL_HTTP_URL_MAX 2048
#define CTL_HTTP_CONNECT_TIMEOUT_S 10L
#define CTL_HTTP_URL_IN_ERROR_MAX 512           /* bytes of the URL quoted in a message */
#define CTL_HTTP_BODY_IN_ERROR_MAX 200          /* bytes of a non-JSON error body quoted in a message */
#define CTL_HTTP_CONTENT_TYPE_MAX 128           /* bytes of the Content-Type header line */

/* The token of every request: found once, at the first request. */
static struct {
	const struct ctl_http_auth *auth;       /* borrowed; NULL: no token at all */
	bool looked_up;
	int error;                              /* of the lookup: a token source was given but is unusable */
	char error_text[PATH_MAX + 128];
	char token[CTL_HTTP_TOKEN_MAX + 1];     /* "" when none was found */
	char source[PATH_MAX + 32];             /* where it came from, for messages: never the token */
} auth_state;

static const char *ca_file;             /* borrowed; --cacert; NULL: the system's CA store */

void ctl_http_set_ca_file(const char *path)
{
	ca_file = path;
}

void ctl_http_set_auth(const struct ctl_http_auth *auth)
{
	explicit_bzero(auth_state.token, sizeof(auth_state.token));
	auth_state.auth = auth;
	auth_state.looked_up = false;
	auth_state.error = 0;
	auth_state.token[0] = '\0';
	auth_state.source[0] = '\0';
}

int ctl_http_state_dir(const struct ctl_http_auth *auth, char *out, size_t size, char *err, size_t err_size)
{
	const char *config_path = auth ? auth->config_path : NULL;
	struct config_error config_err;
	struct config *cfg;
	int r = 0;

	if (auth && auth->state_dir) {
		if ((size_t)snprintf(out, size, "%s", auth->state_dir) >= size) {
			snprintf(err, err_size, "--state-dir '%s': the path is too long", auth->state_dir);
			return -ENAMETOOLONG;
		}
		return 0;
	}
	/* As meshfleetd: the default configuration file only when it exists. */
	if (!config_path && access(CONFIG_DEFAULT_PATH, F_OK) == 0)
		config_path = CONFIG_DEFAULT_PATH;
	cfg = malloc(sizeof(*cfg));
	if (!cfg) {
		snprintf(err, err_size, "out of memory");
		return -ENOMEM;
	}
	config_init(cfg);
	if (config_path) {
		r = config_load(cfg, config_path, &config_err);
		if (r < 0) {
			snprintf(err, err_size, "cannot read the state directory from the configuration: %s; give it "
				 "with --state-dir", config_err.message);
			goto out;
		}
	}
	if ((size_t)snprintf(out, size, "%s", cfg->state_dir) >= size) {
		snprintf(err, err_size, "the state directory '%s' is too long", cfg->state_dir);
		r = -ENAMETOOLONG;
	}
out:
	free(cfg);
	return r;
}

/* A token goes into a header line: visible ASCII only, so nothing can end the line or hide in it. */
static bool token_text_valid(const char *token)
{
	if (!*token)
		return false;
	for (const char *p = token; *p; p++)
		if (*p < '!' || *p > '~')
			return false;
	return true;
}

/* Reads the token in @path into auth_state.token: one line, surrounding blanks and the newline dropped.
 * Returns 0 or a negative errno, and leaves the cause in auth_state.error_text. */
static int token_read_file(const char *path, const char *what)
{
	char buf[CTL_HTTP_TOKEN_MAX + 2], extra;
	size_t len = 0, start = 0;
	bool too_large = false;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(auth_state.error_text, sizeof(auth_state.error_text), "cannot read %s: %s", what,
			 strerror(-r));
		return r;
	}
	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(auth_state.error_text, sizeof(auth_state.error_text), "cannot read %s: %s", what,
				 strerror(-r));
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	/* A full buffer: one byte more means a file too large to be a token (not a token cut short). */
	if (r == 0 && len == sizeof(buf) - 1) {
		ssize_t n;

		do
			n = read(fd, &extra, 1);
		while (n < 0 && errno == EINTR);
		too_large = n != 0;
	}
	close(fd);
	while (r == 0 && len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
				     buf[len - 1] == '\t'))
		len--;
	while (r == 0 && start < len && (buf[start] == ' ' || buf[start] == '\t'))
		start++;
	buf[len] = '\0';
	if (r == 0 && (too_large || len - start > CTL_HTTP_TOKEN_MAX)) {
		snprintf(auth_state.error_text, sizeof(auth_state.error_text), "%s is larger than %d bytes: not a token "
			 "file", what, CTL_HTTP_TOKEN_MAX);
		r = -EFBIG;
	} else if (r == 0 && !token_text_valid(buf + start)) {
		snprintf(auth_state.error_text, sizeof(auth_state.error_text), "%s %s", what, len == start ?
			 "is empty" : "is not a token: one line of visible ASCII characters expected");
		r = -EINVAL;
	}
	if (r == 0)
		memcpy(auth_state.token, buf + start, len - start + 1);
	explicit_bzero(buf, sizeof(buf));
	return r;
}

static int token_from_text(const char *text, const char *what)
{
	if (strlen(text) > CTL_HTTP_TOKEN_MAX) {
		snprintf(auth_state.error_text, sizeof(auth_state.error_text), "%s is longer than %d bytes: not a token",
			 what, CTL_HTTP_TOKEN_MAX);
		return -EINVAL;
	}
	if (!token_text_valid(text)) {
		snprintf(auth_state.error_text, sizeof(auth_state.error_text), "%s %s", what, *text ? "is not a token: "
			 "visible ASCII characters only (no spaces, no newline)" : "is empty");
		return -EINVAL;
	}
	snprintf(auth_state.token, sizeof(auth_state.token), "%s", text);
	return 0;
}

/* The first source given wins; only the state dir's admin.token is optional (skipped when this user may not read
 * it). A source that is given but unusable is an error, not a reason to try the next one: the user meant it. */
static int token_look_up(void)
{
	const struct ctl_http_auth *auth = auth_state.auth;
	const char *env = getenv(CTL_HTTP_TOKEN_ENV);
	char state_dir[PATH_MAX], path[PATH_MAX + sizeof("/" CTL_HTTP_ADMIN_TOKEN_FILE)], err[PATH_MAX + 256];
	int r;

	if (auth_state.looked_up)
		return auth_state.error;
	auth_state.looked_up = true;
	if (auth && auth->token) {
		snprintf(auth_state.source, sizeof(auth_state.source), "--token");
		r = token_from_text(auth->token, "--token");
	} else if (auth && auth->token_file) {
		snprintf(auth_state.source, sizeof(auth_state.source), "--token-file '%s'", auth->token_file);
		r = token_read_file(auth->token_file, auth_state.source);
	} else if (env && *env) {
		snprintf(auth_state.source, sizeof(auth_state.source), "$" CTL_HTTP_TOKEN_ENV);
		r = token_from_text(env, auth_state.source);
	} else {
		r = ctl_http_state_dir(auth, state_dir, sizeof(state_dir), err, sizeof(err));
		if (r == 0 && (size_t)snprintf(path, sizeof(path), "%s/" CTL_HTTP_ADMIN_TOKEN_FILE, state_dir) <
			      sizeof(path) && access(path, R_OK) == 0) {
			snprintf(auth_state.source, sizeof(auth_state.source), "'%s'", path);
			r = token_read_file(path, auth_state.source);
		} else {
			if (auth && auth->verbose)
				fprintf(stderr, "meshfleetctl: no token given, and %s: sending none\n",
					r < 0 ? err : "the state directory's " CTL_HTTP_ADMIN_TOKEN_FILE " is not readable");
			r = 0;
		}
	}
	if (r < 0) {
		auth_state.source[0] = '\0';
		explicit_bzero(auth_state.token, sizeof(auth_state.token));
		auth_state.token[0] = '\0';
	}
	auth_state.error = r;
	return r;
}

static size_t on_data(char *data, size_t size, size_t n, void *userdata)
{
	struct ctl_http_response *res = userdata;
	size_t len = size * n;
	char *body;

	if (res->body_len + len > CTL_HTTP_RESPONSE_MAX)
		return 0;       /* makes libcurl fail with CURLE_WRITE_ERROR */
	body = realloc(res->body, res->body_len + len + 1);
	if (!body)
		return 0;
	memcpy(body + res->body_len, data, len);
	res->body = body;
	res->body_len += len;
	body[res->body_len] = '\0';
	return len;
}

/* What a request sends: nothing, a buffer, or a file streamed from its current position. */
struct request_body {
	const char *content_type;       /* the Content-Type header's value */
	const char *data;               /* a buffer (NULL: none, or the file) */
	size_t len;
	FILE *file;                     /* borrowed; read by on_read() */
	uint64_t file_size;             /* bytes to send from @file: the Content-Length */
	int read_error;                 /* errno of a failed read of @file, 0 when none */
	/* a response read as it arrives (ctl_http_stream()): a 200's body goes to @stream_fn, others to the response */
	ctl_http_stream_fn stream_fn;
	void *stream_userdata;
	CURL *curl;
	struct ctl_http_response *res;
	bool stopped;                   /* @stream_fn asked to stop: not an error */
};

static size_t on_stream(char *data, size_t size, size_t n, void *userdata)
{
	struct request_body *body = userdata;
	long status = 0;

	curl_easy_getinfo(body->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200)
		return on_data(data, size, n, body->res);
	if (body->stream_fn(body->stream_userdata, data, size * n) != 0) {
		body->stopped = true;
		return 0;
	}
	return size * n;
}

/* libcurl's read callback for a streamed file: a read error aborts the transfer instead of ending the body early. */
static size_t on_read(char *buffer, size_t size, size_t n, void *userdata)
{
	struct request_body *body = userdata;
	size_t got = fread(buffer, 1, size * n, body->file);

	if (got == 0 && ferror(body->file)) {
		body->read_error = errno ? errno : EIO;
		return CURL_READFUNC_ABORT;
	}
	return got;
}

static int perform(const char *base_url, const char *method, const char *path, struct request_body *body,
		   struct ctl_http_response *res)
{
	struct curl_slist *headers = NULL, *more;
	char url[CTL_HTTP_URL_MAX], authorization[sizeof("Authorization: Bearer ") + CTL_HTTP_TOKEN_MAX];
	bool verbose = auth_state.auth && auth_state.auth->verbose;
	char curl_error[CURL_ERROR_SIZE] = "", content_type[CTL_HTTP_CONTENT_TYPE_MAX];
	CURLcode rc;
	CURL *curl;

	*res = (struct ctl_http_response){ 0 };
	if ((size_t)snprintf(url, sizeof(url), "%s%s", base_url, path) >= sizeof(url)) {
		snprintf(res->error, sizeof(res->error), "the URL is too long");
		return -EIO;
	}
	if (token_look_up() < 0) {
		snprintf(res->error, sizeof(res->error), "%s", auth_state.error_text);
		return -EIO;
	}
	if (verbose)
		fprintf(stderr, "meshfleetctl: %s %s%s%s\n", method, url, auth_state.token[0] ? ", with the token from " :
			", without a token", auth_state.source);
	curl = curl_easy_init();
	if (!curl) {
		snprintf(res->error, sizeof(res->error), "cannot initialise libcurl");
		return -EIO;
	}
	/* curl_slist_append() copies: the header line is wiped right after. */
	snprintf(content_type, sizeof(content_type), "Content-Type: %s", body->content_type);
	headers = curl_slist_append(NULL, content_type);
	if (!headers || !curl_slist_append(headers, "Accept: application/json")) {
		curl_slist_free_all(headers);
		headers = NULL;
	}
	if (headers && auth_state.token[0]) {
		snprintf(authorization, sizeof(authorization), "Authorization: Bearer %s", auth_state.token);
		more = curl_slist_append(headers, authorization);
		explicit_bzero(authorization, sizeof(authorization));
		if (!more) {
			curl_slist_free_all(headers);
			headers = NULL;
		}
	}
	if (!headers) {
		curl_easy_cleanup(curl);
		snprintf(res->error, sizeof(res->error), "out of memory");
		return -EIO;
	}
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, res);
	if (body->stream_fn) {
		body->curl = curl;
		body->res = res;
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_stream);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
	}
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_error);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, CTL_HTTP_CONNECT_TIMEOUT_S);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, ca_file);
	if (body->data) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
	} else if (body->file) {
		/* Streamed: libcurl asks for the next piece as it sends, so the file is never in memory whole. */
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(curl, CURLOPT_READDATA, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->file_size);
	}
	rc = curl_easy_perform(curl);
	if (rc == CURLE_WRITE_ERROR && body->stopped)
		rc = CURLE_OK;
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
	else if (rc == CURLE_COULDNT_CONNECT)
		snprintf(res->error, sizeof(res->error), "cannot connect to %s: is meshfleetd running? (give its "
			 "address with --url or MESHFLEET_URL)", base_url);
	else if (rc == CURLE_PEER_FAILED_VERIFICATION)
		snprintf(res->error, sizeof(res->error), "%s: the daemon's certificate is not trusted (%s): give the CA "
			 "certificate that signed it with --cacert FILE", base_url, curl_error[0] ? curl_error :
			 curl_easy_strerror(rc));
	else if (rc == CURLE_ABORTED_BY_CALLBACK && body->read_error)
		snprintf(res->error, sizeof(res->error), "cannot read the file to send: %s", strerror(body->read_error));
	else if (rc == CURLE_SSL_CACERT_BADFILE)
		snprintf(res->error, sizeof(res->error), "cannot read the CA certificates in '%s' (--cacert): %s",
			 ca_file ? ca_file : "(system store)", curl_error[0] ? curl_error : curl_easy_strerror(rc));
	else
		snprintf(res->error, sizeof(res->error), "%s %.*s: %s", method, CTL_HTTP_URL_IN_ERROR_MAX, url,
			 curl_easy_strerror(rc));
	/* The list holds the token: wipe it before it goes back to the allocator. */
	for (more = headers; more; more = more->next)
		explicit_bzero(more->data, strlen(more->data));
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	if (rc != CURLE_OK) {
		ctl_http_response_done(res);
		return -EIO;
	}
	return 0;
}

int ctl_http_request(const char *base_url, const char *method, const char *path, const char *body, size_t body_len,
		     struct ctl_http_response *res)
{
	struct request_body request_body = { .content_type = "application/json", .data = body, .len = body_len };

	return perform(base_url, method, path, &request_body, res);
}

int ctl_http_upload(const char *base_url, const char *path, const char *content_type, FILE *file, uint64_t size,
		    struct ctl_http_response *res)
{
	struct request_body request_body = { .content_type = content_type, .file = file, .file_size = size };

	return perform(base_url, "POST", path, &request_body, res);
}

int ctl_http_stream(const char *base_url, const char *path, ctl_http_stream_fn fn, void *userdata,
		    struct ctl_http_response *res)
{
	struct request_body request_body = { .content_type = "application/json", .stream_fn = fn,
					     .stream_userdata = userdata };

	return perform(base_url, "GET", path, &request_body, res);
}

int ctl_http_expect(const char *base_url, const char *method, const char *path, const char *body, size_t body_len,
		    long expected, struct ctl_http_response *res)
{
	char buf[1024];

	if (ctl_http_request(base_url, method, path, body, body_len, res) < 0) {
		fprintf(stderr, "meshfleetctl: %s\n", res->error);
		return -EIO;
	}
	if (res->status != expected) {
		fprintf(stderr, "meshfleetctl: %s\n", ctl_http_error_message(res, buf, sizeof(buf)));
		ctl_http_response_done(res);
		return -EIO;
	}
	return 0;
}

void ctl_http_response_done(struct ctl_http_response *res)
{
	free(res->body);
	res->body = NULL;
	res->body_len = 0;
}

const char *ctl_http_error_message(const struct ctl_http_response *res, char *buf, size_t size)
{
	json_t *doc = res->body ? json_loads(res->body, 0, NULL) : NULL;
	const char *message = json_string_value(json_object_get(json_object_get(doc, "error"), "message"));
	char what[768];

	if (message)
		snprintf(what, sizeof(what), "%s (HTTP %ld)", message, res->status);
	else if (res->body && res->body_len > 0)
		snprintf(what, sizeof(what), "HTTP %ld: %.*s", res->status, CTL_HTTP_BODY_IN_ERROR_MAX, res->body);
	else
		snprintf(what, sizeof(what), "HTTP %ld", res->status);
	json_decref(doc);
	if ((res->status == 401 || res->status == 403) && auth_state.token[0])
		snprintf(buf, size, "the daemon refused the token from %s: %s; give another with --token, --token-file "
			 "or " CTL_HTTP_TOKEN_ENV, auth_state.source, what);
	else if (res->status == 401)
		snprintf(buf, size, "the daemon wants a token: %s; give one with --token, --token-file or "
			 CTL_HTTP_TOKEN_ENV " (on the gateway, the daemon's user or root can read the first admin token "
			 "in STATE_DIR/" CTL_HTTP_ADMIN_TOKEN_FILE ")", what);
	else
		snprintf(buf, size, "%s", what);
	return buf;
}

int ctl_http_escape_query(const char *text, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
			     *p == '-' || *p == '.' || *p == '_' || *p == '~';

		if (n + (plain ? 1 : 3) >= size)
			return -ENAMETOOLONG;
		if (plain) {
			out[n++] = (char)*p;
		} else {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 0xf];
		}
	}
	out[n] = '\0';
	return 0;
}

int ctl_http_get_all(const char *base_url, const char *path, const char *key, json_t **ret_all)
{
	char page_path[PATH_MAX], cursor[3 * CTL_HTTP_CURSOR_MAX + 1];
	const char *sep = strchr(path, '?') ? "&" : "?";
	json_t *all = json_array(), *doc = NULL;

	if (!all) {
		fprintf(stderr, "meshfleetctl: out of memory\n");
		return -EIO;
	}
	snprintf(page_path, sizeof(page_path), "%s", path);
	for (unsigned page = 0;; page++) {
		struct ctl_http_response res;
		const char *next;
		json_t *items;

		if (page == CTL_HTTP_PAGES_MAX) {
			fprintf(stderr, "meshfleetctl: GET %s: more than %d pages: the daemon's cursor does not end\n", path,
				CTL_HTTP_PAGES_MAX);
			goto fail;
		}
		if (ctl_http_expect(base_url, "GET", page_path, NULL, 0, 200, &res) < 0)
			goto fail;
		doc = json_loads(res.body ? res.body : "", 0, NULL);
		ctl_http_response_done(&res);
		items = json_object_get(doc, key);
		if (!json_is_array(items) || json_array_extend(all, items) < 0) {
			fprintf(stderr, "meshfleetctl: GET %s: the answer has no \"%s\" array\n", path, key);
			goto fail;
		}
		next = json_string_value(json_object_get(doc, "next_cursor"));
		if (!next || !*next)
			break;
		if (strlen(next) > CTL_HTTP_CURSOR_MAX || ctl_http_escape_query(next, cursor, sizeof(cursor)) < 0 ||
		    (size_t)snprintf(page_path, sizeof(page_path), "%s%scursor=%s", path, sep, cursor) >=
			    sizeof(page_path)) {
			fprintf(stderr, "meshfleetctl: GET %s: a next_cursor longer than %d bytes\n", path,
				CTL_HTTP_CURSOR_MAX);
			goto fail;
		}
		json_decref(doc);
		doc = NULL;
	}
	json_decref(doc);
	*ret_all = all;
	return 0;
fail:
	json_decref(doc);
	json_decref(all);
	return -EIO;
}
