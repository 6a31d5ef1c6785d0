/* metrics: HTTP request counters and latency histograms, rendered in the Prometheus text format.
 *
 * Label values come from fixed sets (route patterns, a closed list of methods, status codes), so an attacker
 * cannot grow the series without bound; the table size is fixed at init.
 */
#ifndef MESHFLEET_METRICS_H
#define MESHFLEET_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

#define METRICS_MAX_SERIES 256
#define METRICS_MAX_ROUTES 64
#define METRICS_N_BUCKETS 12

struct metrics;

struct metrics *metrics_new(void);
struct metrics *metrics_free(struct metrics *m);

/* Counts one finished request. @route is a route pattern or a fixed label such as "unmatched" (borrowed; must
 * outlive @m, e.g. a string literal). */
void metrics_observe_request(struct metrics *m, const char *route, const char *method, unsigned status,
			     double seconds);

/* Counts a request refused for a wrong bearer token; @delayed: its answer was held back (throttle). */
void metrics_count_auth_failure(struct metrics *m, bool delayed);

/* Appends the HTTP series to @out. */
void metrics_render_http(const struct metrics *m, struct strbuf *out);

/* Normalises a request method to one of a fixed set ("GET", ..., "OTHER"). Returns: static string. */
const char *metrics_method_label(const char *method);

#endif
