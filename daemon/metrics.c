/* metrics: see metrics.h. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

static const double bucket_bounds[METRICS_N_BUCKETS] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
};

struct request_series {
	const char *route;      /* weak */
	const char *method;     /* static */
	unsigned status;
	uint64_t count;
};

struct route_histogram {
	const char *route;      /* weak */
	uint64_t buckets[METRICS_N_BUCKETS];    /* not cumulative; summed when rendered */
	uint64_t count;
	double sum;
};

struct metrics {
	size_t n_series;
	struct request_series series[METRICS_MAX_SERIES];
	uint64_t dropped;       /* requests whose series did not fit */
	size_t n_routes;
	struct route_histogram routes[METRICS_MAX_ROUTES];
	uint64_t auth_failures;         /* wrong bearer tokens */
	uint64_t auth_delayed;          /* ... whose 401 the throttle held back */
};

void metrics_count_auth_failure(struct metrics *m, bool delayed)
{
	m->auth_failures++;
	m->auth_delayed += delayed;
}

struct metrics *metrics_new(void)
{
	return calloc(1, sizeof(struct metrics));
}

struct metrics *metrics_free(struct metrics *m)
{
	free(m);
	return NULL;
}

const char *metrics_method_label(const char *method)
{
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS" };

	for (size_t i = 0; i < ARRAY_SIZE(known); i++)
		if (strcmp(method, known[i]) == 0)
			return known[i];
	return "OTHER";
}

void metrics_observe_request(struct metrics *m, const char *route, const char *method, unsigned status,
			     double seconds)
{
	struct route_histogram *h = NULL;
	struct request_series *s = NULL;
	const char *label = metrics_method_label(method);

	for (size_t i = 0; i < m->n_series; i++) {
		if (m->series[i].status == status && m->series[i].method == label &&
		    strcmp(m->series[i].route, route) == 0) {
			s = &m->series[i];
			break;
		}
	}
	if (!s && m->n_series < METRICS_MAX_SERIES) {
		s = &m->series[m->n_series++];
		*s = (struct request_series){ .route = route, .method = label, .status = status };
	}
	if (s)
		s->count++;
	else
		m->dropped++;

	for (size_t i = 0; i < m->n_routes; i++) {
		if (strcmp(m->routes[i].route, route) == 0) {
			h = &m->routes[i];
			break;
		}
	}
	if (!h && m->n_routes < METRICS_MAX_ROUTES) {
		h = &m->routes[m->n_routes++];
		memset(h, 0, sizeof(*h));
		h->route = route;
	}
	if (!h)
		return;
	for (size_t b = 0; b < METRICS_N_BUCKETS; b++) {
		if (seconds <= bucket_bounds[b]) {
			h->buckets[b]++;
			break;
		}
	}
	h->count++;
	h->sum += seconds;
}

void metrics_render_http(const struct metrics *m, struct strbuf *out)
{
	strbuf_printf(out, "# HELP meshfleet_http_requests_total HTTP requests answered, by route, method and status.\n"
		      "# TYPE meshfleet_http_requests_total counter\n");
	for (size_t i = 0; i < m->n_series; i++) {
		const struct request_series *s = &m->series[i];

		strbuf_printf(out, "meshfleet_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} %llu\n",
			      s->route, s->method, s->status, (unsigned long long)s->count);
	}
	strbuf_printf(out, "# HELP meshfleet_http_requests_unrecorded_total Requests beyond the series limit.\n"
		      "# TYPE meshfleet_http_requests_unrecorded_total counter\n"
		      "meshfleet_http_requests_unrecorded_total %llu\n", (unsigned long long)m->dropped);
	strbuf_printf(out, "# HELP meshfleet_http_auth_failures_total Requests refused for a wrong bearer token.\n"
		      "# TYPE meshfleet_http_auth_failures_total counter\nmeshfleet_http_auth_failures_total %llu\n"
		      "# HELP meshfleet_http_auth_delayed_total Of those, the ones whose 401 was delayed because "
		      "their address failed repeatedly.\n"
		      "# TYPE meshfleet_http_auth_delayed_total counter\nmeshfleet_http_auth_delayed_total %llu\n",
		      (unsigned long long)m->auth_failures, (unsigned long long)m->auth_delayed);
	strbuf_printf(out, "# HELP meshfleet_http_request_duration_seconds Time from request start to response "
		      "completion.\n# TYPE meshfleet_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i < m->n_routes; i++) {
		const struct route_histogram *h = &m->routes[i];
		uint64_t cumulative = 0;

		for (size_t b = 0; b < METRICS_N_BUCKETS; b++) {
			cumulative += h->buckets[b];
			strbuf_printf(out, "meshfleet_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} "
				      "%llu\n", h->route, bucket_bounds[b], (unsigned long long)cumulative);
		}
		strbuf_printf(out, "meshfleet_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n"
			      "meshfleet_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n"
			      "meshfleet_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
			      h->route, (unsigned long long)h->count, h->route, h->sum, h->route,
			      (unsigned long long)h->count);
	}
}
