/* audit: the audit log of the REST API. Every call that may change something (POST, PUT, PATCH, DELETE) leaves a
 * row in SQLite (table audit, db.c migration 7): when, which token, method, route pattern and path, the status
 * answered, the client's address and, for an error, the error code. Refused calls are recorded too (401, 403,
 * 404 on an unknown path, 413, 415, ...); GET and HEAD never are. GET /api/v1/audit (api_audit.c) reads it back,
 * newest first. docs/api.md, "GET /api/v1/audit".
 *
 * When the row is written: right after the response is queued, from http's completion hook, not in the
 * transaction of the change. The stronger design (the row committed with the change, or the change rolled back)
 * would put audit code into every handler and would still need the hook for the calls that never reach a handler
 * (401, 404, 413); and the status a handler answers is only known after its transaction. The price of the
 * simpler design: a crash (or a failed insert) between a change's commit and its audit row loses the row, never
 * the change. Writing the row never changes the answer the client got: it is already queued, and a failed insert
 * is only logged (at most once per AUDIT_LOG_INTERVAL_MS) and counted (meshfleet_audit_write_errors_total).
 *
 * Retention: the newest AUDIT_KEEP rows. Older ones are deleted every AUDIT_PRUNE_BATCH inserts, in one
 * statement, so the table holds at most AUDIT_KEEP + AUDIT_PRUNE_BATCH rows and an insert costs no delete.
 *
 * Glossary:
 *   mutating  - the methods recorded: POST, PUT, PATCH, DELETE (audit_method_recorded())
 *   outcome   - the error code of an error response ("not_found", "invalid_field"); NULL for a success
 *   cursor    - the id of the last row of a page: the next page holds the rows with a lower id
 */
#ifndef MESHFLEET_AUDIT_H
#define MESHFLEET_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

#define AUDIT_KEEP 100000               /* rows kept: a busy fleet's few thousand calls a day, for weeks */
#define AUDIT_PRUNE_BATCH 1000          /* prune once this many rows were added since the last prune */
#define AUDIT_LOG_INTERVAL_MS 60000     /* at most one log line about failed inserts per interval */
#define AUDIT_LIST_DEFAULT 100          /* rows per page of GET /api/v1/audit without limit */
#define AUDIT_LIST_MAX 1000             /* rows per page at most */
#define AUDIT_METHOD_MAX 16             /* bytes of a method name stored */
#define AUDIT_PATH_MAX 512              /* bytes of a path stored; a longer one is cut and ends with "..." */
#define AUDIT_OUTCOME_MAX 48            /* bytes of an error code */
#define AUDIT_NAME_MAX 64               /* bytes of a token name (TOKEN_NAME_MAX) */
#define AUDIT_REMOTE_MAX 48             /* an IPv6 address in text (INET6_ADDRSTRLEN) */

struct audit;

/* One call. Every string is borrowed; NULL where the column allows it. */
struct audit_entry {
	int64_t id;                     /* set by audit_list(); ignored by audit_record() */
	int64_t at_ms;                  /* ms since the epoch; 0 in audit_record() = now */
	int64_t token_id;               /* 0 = no token (a 401, or a route without authentication) */
	const char *token_name;         /* NULL = no token */
	const char *method;
	const char *route;              /* the route's pattern, "/api/v1/nodes/{addr}"; NULL when none matched */
	const char *path;               /* the path asked for, "/api/v1/nodes/16"; a token's text in it is masked */
	unsigned status;
	const char *remote;             /* the client's address; NULL when unknown */
	const char *outcome;            /* the error code of an error response; NULL for a success */
};

/* What audit_list() returns. Unset fields (NULL, 0) do not filter. */
struct audit_filter {
	const char *token_name;         /* rows of this token only */
	const char *method;             /* rows of this method only */
	int64_t since_ms;               /* at_ms >= since_ms; 0 = no bound */
	int64_t until_ms;               /* at_ms < until_ms; 0 = no bound */
};

typedef uint64_t (*audit_clock_fn)(void *userdata);

struct audit_options {
	uint32_t keep;                  /* 0 = AUDIT_KEEP; tests inject a small one */
	uint32_t prune_batch;           /* 0 = AUDIT_PRUNE_BATCH */
	audit_clock_fn clock;           /* ms, any monotonic origin: paces the log lines; required */
	void *clock_userdata;
};

/* Whether calls with @method are recorded (POST, PUT, PATCH, DELETE). */
bool audit_method_recorded(const char *method);

/* On failure *ret is untouched. Returns 0, -EINVAL (no clock) or -ENOMEM. */
int audit_new(struct db *db, const struct audit_options *options, struct audit **ret);
/* NULL is a no-op. Returns NULL. */
struct audit *audit_free(struct audit *a);

/* Stores @entry (strings longer than the limits above are cut). Returns 0 or a negative errno; a failure is also
 * counted and logged here (rate-limited), so callers that cannot do anything about it may ignore the result. */
int audit_record(struct audit *a, const struct audit_entry *entry);

typedef int (*audit_fn)(void *userdata, const struct audit_entry *entry);

/* Calls @fn for up to @limit rows with an id below @after_id (0 = from the newest) that match @filter (NULL =
 * all), newest first; the entry's strings are valid during the call only. *ret_more says whether more rows
 * follow. A non-zero return of @fn stops the walk and is returned. Returns 0 or a negative errno. */
int audit_list(struct audit *a, int64_t after_id, unsigned limit, const struct audit_filter *filter, audit_fn fn,
	       void *userdata, bool *ret_more);

/* Inserts that failed since start (for /metrics). */
uint64_t audit_write_errors(const struct audit *a);

#endif
