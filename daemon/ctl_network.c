/* ctl_network: meshfleetctl network import|show|export and meshfleetctl nodes refresh, over the REST API
 * (docs/meshfleetctl.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cdb.h"
#include "ctl_http.h"
#include "ctl_network.h"

#define REFRESH_POLL_MS 500

static int read_file(const char *path, char **ret, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t len = 0, cap = 0;

	if (!f) {
		fprintf(stderr, "meshfleetctl: cannot open '%s': %s\n", path, strerror(errno));
		return -errno;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			char *bigger;

			cap = cap ? 2 * cap : 65536;
			if (cap > CDB_FILE_MAX + 1)
				cap = CDB_FILE_MAX + 1;
			bigger = len == cap ? NULL : realloc(buf, cap);
			if (!bigger) {
				fprintf(stderr, "meshfleetctl: '%s' is larger than %u bytes: not a CDB export\n", path,
					CDB_FILE_MAX);
				free(buf);
				fclose(f);
				return -EFBIG;
			}
			buf = bigger;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		fprintf(stderr, "meshfleetctl: cannot read '%s': %s\n", path, strerror(errno));
		free(buf);
		fclose(f);
		return -EIO;
	}
	fclose(f);
	*ret = buf;
	*ret_len = len;
	return 0;
}

/* Sends the request and prints the API's error when it does not answer @expected (or @expected2). Returns 0 or
 * CTL_EXIT_FAILED. */
static int call(const struct ctl_api *api, const char *method, const char *path, const char *body, size_t len,
		long expected, long expected2, struct ctl_http_response *res)
{
	char buf[1024];

	if (ctl_http_request(api->url, method, path, body, len, res) < 0) {
		fprintf(stderr, "meshfleetctl: %s\n", res->error);
		return CTL_EXIT_FAILED;
	}
	if (res->status != expected && res->status != expected2) {
		fprintf(stderr, "meshfleetctl: %s\n", ctl_http_error_message(res, buf, sizeof(buf)));
		ctl_http_response_done(res);
		return CTL_EXIT_FAILED;
	}
	return 0;
}

static json_t *body_json(const struct ctl_http_response *res)
{
	return res->body ? json_loads(res->body, 0, NULL) : NULL;
}

static int network_import(const struct ctl_api *api, const char *file, bool replace)
{
	struct ctl_http_response res;
	json_t *doc, *imp;
	char *text = NULL;
	size_t len = 0;
	int r;

	if (read_file(file, &text, &len) < 0)
		return CTL_EXIT_FAILED;
	r = call(api, "POST", replace ? "/api/v1/network/import?replace=true" : "/api/v1/network/import", text, len,
		 200, 201, &res);
	explicit_bzero(text, len);
	free(text);
	if (r)
		return r;
	if (api->json) {
		printf("%s\n", res.body);
		ctl_http_response_done(&res);
		return 0;
	}
	doc = body_json(&res);
	imp = json_object_get(doc, "import");
	if (json_is_true(json_object_get(imp, "unchanged")))
		printf("'%s': unchanged (this export was imported already)\n",
		       json_string_value(json_object_get(doc, "name")));
	else
		printf("'%s': %s; %lld nodes added, %lld updated, %lld removed; meshfleet's gateway address 0x%04llx\n",
		       json_string_value(json_object_get(doc, "name")),
		       json_is_true(json_object_get(imp, "created")) ? "imported" :
		       json_is_true(json_object_get(imp, "replaced")) ? "replaced the stored network" : "updated",
		       json_integer_value(json_object_get(imp, "nodes_added")),
		       json_integer_value(json_object_get(imp, "nodes_updated")),
		       json_integer_value(json_object_get(imp, "nodes_removed")),
		       json_integer_value(json_object_get(json_object_get(doc, "provisioner"), "address")));
	json_decref(doc);
	ctl_http_response_done(&res);
	return 0;
}

static int network_show(const struct ctl_api *api)
{
	struct ctl_http_response res;
	json_t *doc;
	int r = call(api, "GET", "/api/v1/network", NULL, 0, 200, 200, &res);

	if (r)
		return r;
	doc = body_json(&res);
	if (api->json || !doc) {
		printf("%s\n", res.body);
	} else {
		json_t *p = json_object_get(doc, "provisioner");

		printf("network       %s (meshUUID %s)\n", json_string_value(json_object_get(doc, "name")),
		       json_string_value(json_object_get(doc, "mesh_uuid")));
		printf("exported at   %s, imported at %s\n", json_string_value(json_object_get(doc, "exported_at")),
		       json_string_value(json_object_get(doc, "imported_at")));
		printf("nodes         %lld\n", json_integer_value(json_object_get(doc, "node_count")));
		printf("keys          network key %lld, application key %lld (values never shown)\n",
		       json_integer_value(json_object_get(doc, "net_key_index")),
		       json_integer_value(json_object_get(doc, "app_key_index")));
		printf("IV index      %lld%s\n", json_integer_value(json_object_get(doc, "iv_index")),
		       json_is_true(json_object_get(doc, "iv_update")) ? " (IV Update in progress)" : "");
		printf("gateway       0x%04llx, provisioner %s\n", json_integer_value(json_object_get(p, "address")),
		       json_string_value(json_object_get(p, "uuid")));
	}
	json_decref(doc);
	ctl_http_response_done(&res);
	return 0;
}

static int network_export(const struct ctl_api *api, const char *file)
{
	struct ctl_http_response res;
	int r = call(api, "GET", "/api/v1/network/export", NULL, 0, 200, 200, &res);
	int fd;

	if (r)
		return r;
	if (!file) {
		fwrite(res.body, 1, res.body_len, stdout);
		putchar('\n');
	} else {
		/* The export holds the network's keys: readable by its owner only. */
		fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0 || write(fd, res.body, res.body_len) != (ssize_t)res.body_len || close(fd) < 0) {
			fprintf(stderr, "meshfleetctl: cannot write '%s': %s\n", file, strerror(errno));
			r = CTL_EXIT_FAILED;
		} else {
			fprintf(stderr, "meshfleetctl: wrote %s (it holds the network's keys: keep it safe)\n", file);
		}
	}
	explicit_bzero(res.body, res.body_len);
	ctl_http_response_done(&res);
	return r;
}

static void print_refresh(const json_t *doc)
{
	printf("%s: %lld of %lld nodes asked; %lld reachable, %lld unreachable, %lld DFU capable, "
	       "%lld firmware IDs read\n", json_string_value(json_object_get(doc, "state")),
	       json_integer_value(json_object_get(doc, "done")), json_integer_value(json_object_get(doc, "total")),
	       json_integer_value(json_object_get(doc, "reachable")),
	       json_integer_value(json_object_get(doc, "unreachable")),
	       json_integer_value(json_object_get(doc, "dfu_capable")),
	       json_integer_value(json_object_get(doc, "firmware_read")));
}

static int nodes_refresh(const struct ctl_api *api, bool wait)
{
	struct ctl_http_response res;
	json_t *doc;
	int r = call(api, "POST", "/api/v1/nodes/refresh", NULL, 0, 202, 202, &res);

	while (r == 0) {
		bool running;

		doc = body_json(&res);
		running = json_is_string(json_object_get(doc, "state")) &&
			  strcmp(json_string_value(json_object_get(doc, "state")), "running") == 0;
		if (!wait || !running) {
			if (api->json)
				printf("%s\n", res.body);
			else
				print_refresh(doc);
			json_decref(doc);
			ctl_http_response_done(&res);
			return 0;
		}
		json_decref(doc);
		ctl_http_response_done(&res);
		nanosleep(&(struct timespec){ .tv_nsec = REFRESH_POLL_MS * 1000000L }, NULL);
		r = call(api, "GET", "/api/v1/nodes/refresh", NULL, 0, 200, 200, &res);
	}
	return r;
}

int ctl_network_main(const struct ctl_api *api, int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : "";

	if (strcmp(cmd, "import") == 0 && argc == 2)
		return network_import(api, argv[1], api->replace);
	if (strcmp(cmd, "show") == 0 && argc == 1)
		return network_show(api);
	if (strcmp(cmd, "export") == 0 && argc <= 2)
		return network_export(api, argc == 2 ? argv[1] : NULL);
	fprintf(stderr, "meshfleetctl: usage: network import FILE [--replace] | network show | network export [FILE]\n");
	return CTL_EXIT_USAGE_ERROR;
}

int ctl_nodes_main(const struct ctl_api *api, int argc, char **argv)
{
	if (argc == 1 && strcmp(argv[0], "refresh") == 0)
		return nodes_refresh(api, api->wait);
	fprintf(stderr, "meshfleetctl: usage: nodes refresh [--wait]\n");
	return CTL_EXIT_USAGE_ERROR;
}
