/* audit: see audit.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "log.h"
#include "tokens.h"
#include "util.h"

struct audit {
	struct db *db;                  /* weak */
	uint32_t keep, prune_batch;
	audit_clock_fn clock;
	void *clock_userdata;
	uint32_t since_prune;           /* inserts since the last prune */
	uint64_t write_errors;
	uint64_t unlogged_errors;       /* failures since the last log line */
	uint64_t last_log_ms;           /* clock of the last log line */
	bool logged;                    /* a log line was written at all */
};

bool audit_method_recorded(const char *method)
{
	static const char *const methods[] = { "POST", "PUT", "PATCH", "DELETE" };

	for (size_t i = 0; method && i < ARRAY_SIZE(methods); i++)
		if (strcmp(method, methods[i]) == 0)
			return true;
	return false;
}

int audit_new(struct db *db, const struct audit_options *options, struct audit **ret)
{
	struct audit *a;

	if (!options->clock)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->db = db;
	a->keep = options->keep ? options->keep : AUDIT_KEEP;
	a->prune_batch = options->prune_batch ? options->prune_batch : AUDIT_PRUNE_BATCH;
	a->clock = options->clock;
	a->clock_userdata = options->clock_userdata;
	/* Rows beyond the limit may be left from before a crash or from a larger limit: the first insert prunes. */
	a->since_prune = a->prune_batch;
	*ret = a;
	return 0;
}

struct audit *audit_free(struct audit *a)
{
	free(a);
	return NULL;
}

uint64_t audit_write_errors(const struct audit *a)
{
	return a ? a->write_errors : 0;
}

/* Copies @s into @out (@size bytes) as printable ASCII: other bytes (control characters, UTF-8 that may be
 * invalid, from a percent-decoded path) become "%XX", so that the row reads back as valid JSON text. Too long a
 * text is cut and ends with "...". Returns @out, or NULL for NULL. */
static const char *clean_text(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	if (!s)
		return NULL;
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		size_t need = c >= 0x20 && c < 0x7f ? 1 : 3;

		if (n + need + 1 > size) {
			n = n > size - 4 ? size - 4 : n;
			memcpy(out + n, "...", 3);
			n += 3;
			break;
		}
		if (need == 1) {
			out[n++] = (char)c;
		} else {
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 0xf];
		}
	}
	out[n] = '\0';
	return out;
}

/* Masks the text of anything in @text that looks like a token (TOKEN_PREFIX and letters or digits): a client
 * that puts a token in a path ("DELETE /api/v1/tokens/mft_..." for its id) must not leave it readable in the log,
 * nor in the database copies and backups that hold the log. The length stays, so a row still shows what was sent. */
static void mask_secrets(char *text)
{
	const size_t plen = strlen(TOKEN_PREFIX);

	for (char *p = strstr(text, TOKEN_PREFIX); p; p = strstr(p, TOKEN_PREFIX)) {
		p += plen;
		for (; (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'); p++)
			*p = '*';
	}
}

/* A full disk or a locked database fails every insert in a row: one line per interval says how many. */
static void write_failed(struct audit *a, int rc, const char *method, const char *path)
{
	uint64_t now = a->clock(a->clock_userdata);

	a->write_errors++;
	a->unlogged_errors++;
	if (a->logged && now - a->last_log_ms < AUDIT_LOG_INTERVAL_MS)
		return;
	log_err("audit: cannot record %s '%s': %s (%d); %llu call(s) unrecorded since the last such message. The "
		"calls themselves were answered; check the disk holding the state directory and /api/v1/health",
		method, path, sqlite3_errstr(rc), rc, (unsigned long long)a->unlogged_errors);
	a->logged = true;
	a->last_log_ms = now;
	a->unlogged_errors = 0;
}

static void prune(struct audit *a)
{
	sqlite3_stmt *st;
	int rc;

	/* The (keep+1)-th newest row and everything older go. */
	st = db_stmt(a->db, "DELETE FROM audit WHERE id <= (SELECT id FROM audit ORDER BY id DESC LIMIT 1 OFFSET ?)");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, a->keep);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		db_result(a->db, rc, "pruning the audit log");
}

int audit_record(struct audit *a, const struct audit_entry *e)
{
	char method[AUDIT_METHOD_MAX], path[AUDIT_PATH_MAX], name[AUDIT_NAME_MAX + 1], route[AUDIT_PATH_MAX];
	char remote[AUDIT_REMOTE_MAX], outcome[AUDIT_OUTCOME_MAX];
	sqlite3_stmt *st;
	int rc;

	clean_text(e->path ? e->path : "", path, sizeof(path));
	mask_secrets(path);
	st = db_stmt(a->db, "INSERT INTO audit(at_ms, token_id, token_name, method, route, path, status, remote, "
		     "outcome) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)");
	if (!st) {
		write_failed(a, SQLITE_ERROR, e->method ? e->method : "?", path);
		return -EIO;
	}
	sqlite3_bind_int64(st, 1, e->at_ms ? e->at_ms : time_now_ms());
	if (e->token_id)
		sqlite3_bind_int64(st, 2, e->token_id);
	else
		sqlite3_bind_null(st, 2);
	sqlite3_bind_text(st, 3, clean_text(e->token_name, name, sizeof(name)), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, clean_text(e->method ? e->method : "", method, sizeof(method)), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, clean_text(e->route, route, sizeof(route)), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, path, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, e->status);
	sqlite3_bind_text(st, 8, clean_text(e->remote, remote, sizeof(remote)), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, clean_text(e->outcome, outcome, sizeof(outcome)), -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);     /* the bound texts live on this stack */
	if (rc != SQLITE_DONE) {
		write_failed(a, rc, method, path);
		return rc == SQLITE_FULL ? -ENOSPC : rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? -EBUSY : -EIO;
	}
	if (++a->since_prune >= a->prune_batch) {
		a->since_prune = 0;
		prune(a);
	}
	return 0;
}

static const char *column_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

int audit_list(struct audit *a, int64_t after_id, unsigned limit, const struct audit_filter *filter, audit_fn fn,
	       void *userdata, bool *ret_more)
{
	static const struct audit_filter none = { 0 };
	sqlite3_stmt *st;
	unsigned n = 0;
	int rc, r;

	if (!filter)
		filter = &none;
	/* "?N IS NULL OR": one cached statement for every combination of filters; the walk is by id, newest
	 * first, and stops after limit + 1 matches. */
	st = db_stmt(a->db, "SELECT id, at_ms, token_id, token_name, method, route, path, status, remote, outcome "
		     "FROM audit WHERE id < ?1 AND (?2 IS NULL OR token_name = ?2) AND (?3 IS NULL OR method = ?3) "
		     "AND at_ms >= ?4 AND at_ms < ?5 ORDER BY id DESC LIMIT ?6");
	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, after_id > 0 ? after_id : INT64_MAX);
	sqlite3_bind_text(st, 2, filter->token_name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, filter->method, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, filter->since_ms ? filter->since_ms : INT64_MIN);
	sqlite3_bind_int64(st, 5, filter->until_ms ? filter->until_ms : INT64_MAX);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)limit + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct audit_entry e;

		if (n == limit) {
			sqlite3_reset(st);
			*ret_more = true;
			return 0;
		}
		e = (struct audit_entry){
			.id = sqlite3_column_int64(st, 0),
			.at_ms = sqlite3_column_int64(st, 1),
			.token_id = sqlite3_column_int64(st, 2),
			.token_name = column_text(st, 3),
			.method = column_text(st, 4),
			.route = column_text(st, 5),
			.path = column_text(st, 6),
			.status = (unsigned)sqlite3_column_int64(st, 7),
			.remote = column_text(st, 8),
			.outcome = column_text(st, 9),
		};
		if (!e.method || !e.path) {     /* NOT NULL columns: NULL here means out of memory */
			sqlite3_reset(st);
			return -ENOMEM;
		}
		r = fn(userdata, &e);
		if (r != 0) {
			sqlite3_reset(st);
			return r;
		}
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_result(a->db, rc, "reading the audit log");
	*ret_more = false;
	return 0;
}
