/* ctl_http: see ctl_http.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "ctl_http.h"

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

int ctl_http_request(const char *base_url, const char *method, const char *path, const char *body, size_t body_len,
		     struct ctl_http_response *res)
{
	struct curl_slist *headers = NULL;
	char url[2048];
	CURLcode rc;
	CURL *curl;

	*res = (struct ctl_http_response){ 0 };
	if ((size_t)snprintf(url, sizeof(url), "%s%s", base_url, path) >= sizeof(url)) {
		snprintf(res->error, sizeof(res->error), "the URL is too long");
		return -EIO;
	}
	curl = curl_easy_init();
	if (!curl) {
		snprintf(res->error, sizeof(res->error), "cannot initialise libcurl");
		return -EIO;
	}
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Accept: application/json");
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, res);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (body) {
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	}
	rc = curl_easy_perform(curl);
	if (rc == CURLE_OK)
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &res->status);
	else if (rc == CURLE_COULDNT_CONNECT)
		snprintf(res->error, sizeof(res->error), "cannot connect to %s: is meshfleetd running? (give its "
			 "address with --url or MESHFLEET_URL)", base_url);
	else
		snprintf(res->error, sizeof(res->error), "%s %s: %s", method, url, curl_easy_strerror(rc));
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);
	if (rc != CURLE_OK) {
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

	if (message)
		snprintf(buf, size, "%s (HTTP %ld)", message, res->status);
	else if (res->body && res->body_len > 0)
		snprintf(buf, size, "HTTP %ld: %.200s", res->status, res->body);
	else
		snprintf(buf, size, "HTTP %ld", res->status);
	json_decref(doc);
	return buf;
}
