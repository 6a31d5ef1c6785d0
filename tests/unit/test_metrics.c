/* Unit tests for daemon/metrics.c: series, histogram and bounded labels. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "tap.h"

static char *render(struct metrics *m)
{
	struct strbuf sb;
	size_t len;

	strbuf_init(&sb, 1 << 20);
	metrics_render_http(m, &sb);
	return strbuf_steal(&sb, &len);
}

int main(void)
{
	struct metrics *m = metrics_new();
	char *text, expect[96];

	ok(m != NULL, "metrics_new");
	metrics_observe_request(m, "/api/v1/nodes", "GET", 200, 0.0007);
	metrics_observe_request(m, "/api/v1/nodes", "GET", 200, 0.003);
	metrics_observe_request(m, "/api/v1/nodes", "POST", 400, 5.0);
	metrics_observe_request(m, "unmatched", "BREW", 404, 0.0001);
	text = render(m);
	has_str(text, "meshfleet_http_requests_total{route=\"/api/v1/nodes\",method=\"GET\",status=\"200\"} 2\n",
		"GET 200 counted twice");
	has_str(text, "{route=\"/api/v1/nodes\",method=\"POST\",status=\"400\"} 1\n", "POST 400 counted");
	has_str(text, "{route=\"unmatched\",method=\"OTHER\",status=\"404\"} 1\n", "unknown method becomes OTHER");
	has_str(text, "_bucket{route=\"/api/v1/nodes\",le=\"0.0005\"} 0\n", "bucket below the fastest is 0");
	has_str(text, "_bucket{route=\"/api/v1/nodes\",le=\"0.001\"} 1\n", "0.7 ms lands in le=0.001");
	has_str(text, "_bucket{route=\"/api/v1/nodes\",le=\"0.005\"} 2\n", "buckets are cumulative");
	has_str(text, "_bucket{route=\"/api/v1/nodes\",le=\"2.5\"} 2\n", "5 s is above the last bound");
	has_str(text, "_bucket{route=\"/api/v1/nodes\",le=\"+Inf\"} 3\n", "+Inf holds every request");
	has_str(text, "_count{route=\"/api/v1/nodes\"} 3\n", "count");
	has_str(text, "_sum{route=\"/api/v1/nodes\"} 5.003700\n", "sum");
	free(text);

	/* Statuses are the only open label; the table is bounded and overflow is counted, not stored. */
	for (unsigned s = 0; s < METRICS_MAX_SERIES + 10; s++)
		metrics_observe_request(m, "unmatched", "GET", 1000 + s, 0.001);
	text = render(m);
	/* 3 series existed, so 13 of the new ones did not fit. */
	snprintf(expect, sizeof(expect), "meshfleet_http_requests_unrecorded_total %d\n", 13);
	has_str(text, expect, "series beyond the limit are counted as unrecorded");
	free(text);
	is_str(metrics_method_label("PATCH"), "PATCH", "known method kept");
	is_str(metrics_method_label("get"), "OTHER", "methods are case-sensitive");
	metrics_free(m);
	ok(metrics_free(NULL) == NULL, "metrics_free(NULL) is a no-op");
	return done_testing();
}
