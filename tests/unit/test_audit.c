/* Unit tests for daemon/audit.c on a real database: record and list, pagination, filters, the text clean-up,
 * retention with a small limit, failed inserts (counted, logged once per interval on a fake clock), and the RFC 3339
 * parser GET /api/v1/audit reads since/until with (util.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "tap.h"
#include "util.h"

static char dir[] = "/tmp/mf-test-audit-XXXXXX";
static char path[512];
static uint64_t fake_now;

static uint64_t fake_clock(void *userdata)
{
	(void)userdata;
	return fake_now;
}

#define MAX_SEEN 64

struct seen {
	int64_t ids[MAX_SEEN];
	char text[MAX_SEEN][640];       /* the row as one line, for is_str() */
	size_t n;
};

static int on_entry(void *userdata, const struct audit_entry *e)
{
	struct seen *s = userdata;

	if (s->n < MAX_SEEN) {
		s->ids[s->n] = e->id;
		snprintf(s->text[s->n], sizeof(s->text[0]), "%lld %lld %s %s %s %s %u %s %s", (long long)e->at_ms,
			 (long long)e->token_id, e->token_name ? e->token_name : "-", e->method,
			 e->route ? e->route : "-", e->path, e->status, e->remote ? e->remote : "-",
			 e->outcome ? e->outcome : "-");
	}
	s->n++;
	return 0;
}

static void remove_db(void)
{
	char p[600];

	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

static struct audit *open_audit(struct db **ret_db, uint32_t keep, uint32_t batch)
{
	struct audit_options o = { .keep = keep, .prune_batch = batch, .clock = fake_clock };
	struct audit *a = NULL;
	char err[512] = "";
	int r;

	remove_db();
	r = db_open(path, ret_db, err, sizeof(err));
	if (r < 0) {
		printf("# db_open: %s\n", err);
		return NULL;
	}
	r = audit_new(*ret_db, &o, &a);
	is_int(r, 0, "audit_new");
	return a;
}

static int64_t count_rows(struct db *db)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM audit");
	int64_t n = -1;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

static int record(struct audit *a, int64_t at_ms, const char *token, const char *method, const char *path_,
		  unsigned status)
{
	struct audit_entry e = {
		.at_ms = at_ms,
		.token_id = token ? 7 : 0,
		.token_name = token,
		.method = method,
		.route = strcmp(path_, "/nowhere") == 0 ? NULL : "/api/v1/nodes/{addr}",
		.path = path_,
		.status = status,
		.remote = "127.0.0.1",
		.outcome = status >= 400 ? "some_error" : NULL,
	};

	return audit_record(a, &e);
}

static void test_methods(void)
{
	ok(audit_method_recorded("POST"), "POST is recorded");
	ok(audit_method_recorded("PUT"), "PUT is recorded");
	ok(audit_method_recorded("PATCH"), "PATCH is recorded");
	ok(audit_method_recorded("DELETE"), "DELETE is recorded");
	ok(!audit_method_recorded("GET"), "GET is not");
	ok(!audit_method_recorded("HEAD"), "HEAD is not");
	ok(!audit_method_recorded("post"), "method names are case-sensitive (RFC 9110)");
	ok(!audit_method_recorded(NULL), "NULL is not");
	{
		struct audit_options o = { 0 };
		struct audit *a = NULL;

		is_int(audit_new(NULL, &o, &a), -EINVAL, "audit_new without a clock: -EINVAL");
		ok(a == NULL, "... and *ret untouched");
	}
}

static void test_record_and_list(void)
{
	struct db *db = NULL;
	struct audit *a = open_audit(&db, 0, 0);
	struct seen s = { 0 };
	bool more = true;

	if (!a)
		return;
	is_int(audit_list(a, 0, 10, NULL, on_entry, &s, &more), 0, "list an empty log");
	is_int(s.n, 0, "... nothing");
	ok(!more, "... and no more");
	is_int(record(a, 1000, "admin", "POST", "/api/v1/nodes/1", 201), 0, "record a POST");
	is_int(record(a, 2000, NULL, "DELETE", "/nowhere", 404), 0, "record an unrouted DELETE without token");
	{
		struct audit_entry e = { .method = "PATCH", .path = "/api/v1/nodes/2", .status = 200 };
		int64_t before = time_now_ms();

		is_int(audit_record(a, &e), 0, "record with at_ms 0 and only the required fields");
		is_int(audit_list(a, 0, 1, NULL, on_entry, &s, &more), 0, "list the newest");
		is_int(s.n, 1, "... one row");
		ok(more, "... more follow");
		ok(atoll(s.text[0]) >= before && atoll(s.text[0]) <= time_now_ms(), "at_ms 0 is now (%s)",
		   s.text[0]);
		has_str(s.text[0], " 0 - PATCH - /api/v1/nodes/2 200 - -", "NULL columns read back as NULL");
	}
	s.n = 0;
	is_int(audit_list(a, 0, 10, NULL, on_entry, &s, &more), 0, "list all");
	is_int(s.n, 3, "... three rows");
	ok(!more, "... and no more");
	is_int(s.ids[0], 3, "newest first: id 3");
	is_int(s.ids[2], 1, "... id 1 last");
	is_str(s.text[1], "2000 0 - DELETE - /nowhere 404 127.0.0.1 some_error", "the unrouted DELETE row");
	is_str(s.text[2], "1000 7 admin POST /api/v1/nodes/{addr} /api/v1/nodes/1 201 127.0.0.1 -", "the POST row");
	is_int(audit_write_errors(a), 0, "no write error");
	audit_free(a);
	db_free(db);
}

static void test_pagination_and_filters(void)
{
	struct db *db = NULL;
	struct audit *a = open_audit(&db, 0, 0);
	struct audit_filter f;
	struct seen s = { 0 };
	int64_t cursor = 0;
	bool more = true;
	size_t total = 0;
	int pages = 0;

	if (!a)
		return;
	/* ids 1..12; at_ms = id * 1000; tokens alternate; methods cycle */
	for (int i = 1; i <= 12; i++) {
		static const char *const methods[] = { "POST", "PATCH", "DELETE", "PUT" };

		record(a, i * 1000, i % 2 ? "alice" : "bob", methods[i % 4], "/api/v1/nodes/1", 200);
	}
	while (more && pages < 10) {
		s.n = 0;
		is_int(audit_list(a, cursor, 5, NULL, on_entry, &s, &more), 0, "page %d", pages + 1);
		total += s.n;
		if (s.n)
			cursor = s.ids[s.n - 1];
		pages++;
	}
	is_int(pages, 3, "12 rows in pages of 5: 3 pages");
	is_int(total, 12, "... every row once");
	is_int(cursor, 1, "... ending with id 1");

	s.n = 0;
	is_int(audit_list(a, 12, 5, NULL, on_entry, &s, &more), 0, "after id 12");
	is_int(s.ids[0], 11, "... starts at 11");

	f = (struct audit_filter){ .token_name = "bob" };
	s.n = 0;
	is_int(audit_list(a, 0, 100, &f, on_entry, &s, &more), 0, "filter token=bob");
	is_int(s.n, 6, "... 6 rows");
	ok(strstr(s.text[0], " bob ") && strstr(s.text[5], " bob "), "... all bob's");

	f = (struct audit_filter){ .method = "DELETE" };
	s.n = 0;
	is_int(audit_list(a, 0, 100, &f, on_entry, &s, &more), 0, "filter method=DELETE");
	is_int(s.n, 3, "... 3 rows (ids 2, 6, 10)");
	is_int(s.ids[0], 10, "... newest id 10");

	f = (struct audit_filter){ .since_ms = 3000, .until_ms = 7000 };
	s.n = 0;
	is_int(audit_list(a, 0, 100, &f, on_entry, &s, &more), 0, "filter since 3 s until 7 s");
	is_int(s.n, 4, "... 4 rows: since inclusive, until exclusive");
	is_int(s.ids[0], 6, "... newest id 6");
	is_int(s.ids[3], 3, "... oldest id 3");

	f = (struct audit_filter){ .token_name = "alice", .method = "PATCH", .since_ms = 2000 };
	s.n = 0;
	is_int(audit_list(a, 0, 100, &f, on_entry, &s, &more), 0, "filters combined");
	is_int(s.n, 2, "... alice's PATCHes from 2 s on: ids 9 and 5");
	is_int(s.ids[0], 9, "... newest id 9");
	s.n = 0;
	is_int(audit_list(a, 0, 1, &f, on_entry, &s, &more), 0, "filters combined, one per page");
	is_int(s.n, 1, "... one row");
	ok(more, "... more follow");

	f = (struct audit_filter){ .token_name = "nobody" };
	s.n = 0;
	is_int(audit_list(a, 0, 100, &f, on_entry, &s, &more), 0, "a token without rows");
	is_int(s.n, 0, "... nothing");
	ok(!more, "... and no more");
	audit_free(a);
	db_free(db);
}

static int stop_at_two(void *userdata, const struct audit_entry *e)
{
	int *n = userdata;

	(void)e;
	return ++*n == 2 ? -ECANCELED : 0;
}

static void test_callback_stops(void)
{
	struct db *db = NULL;
	struct audit *a = open_audit(&db, 0, 0);
	bool more = false;
	int n = 0;

	if (!a)
		return;
	for (int i = 0; i < 4; i++)
		record(a, 1000, "x", "POST", "/p", 200);
	is_int(audit_list(a, 0, 10, NULL, stop_at_two, &n, &more), -ECANCELED, "a callback's error stops the walk");
	is_int(n, 2, "... after two rows");
	audit_free(a);
	db_free(db);
}

static void test_clean_text(void)
{
	struct db *db = NULL;
	struct audit *a = open_audit(&db, 0, 0);
	char long_path[AUDIT_PATH_MAX * 2];
	struct seen s = { 0 };
	bool more;

	if (!a)
		return;
	record(a, 1000, NULL, "POST", "/api/v1/nodes/\x01\xff\xc3\xa9x\"", 404);
	is_int(audit_list(a, 0, 1, NULL, on_entry, &s, &more), 0, "list");
	has_str(s.text[0], " /api/v1/nodes/%01%FF%C3%A9x\" 404", "control and non-ASCII bytes become %%XX");

	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	record(a, 1000, NULL, "POST", long_path, 404);
	{
		sqlite3_stmt *st = db_stmt(db, "SELECT length(path), substr(path, -4) FROM audit ORDER BY id DESC LIMIT 1");

		ok(st && sqlite3_step(st) == SQLITE_ROW, "read the long path back");
		is_int(sqlite3_column_int64(st, 0), AUDIT_PATH_MAX - 1, "a long path is cut to AUDIT_PATH_MAX - 1 bytes");
		is_str((const char *)sqlite3_column_text(st, 1), "a...", "... ending with '...'");
		sqlite3_reset(st);
	}
	/* an escape that does not fit whole is not split */
	memset(long_path, 'a', AUDIT_PATH_MAX - 3);
	long_path[AUDIT_PATH_MAX - 3] = '\x01';
	long_path[AUDIT_PATH_MAX - 2] = '\0';
	record(a, 1000, NULL, "POST", long_path, 404);
	{
		sqlite3_stmt *st = db_stmt(db, "SELECT length(path), substr(path, -4) FROM audit ORDER BY id DESC LIMIT 1");

		ok(st && sqlite3_step(st) == SQLITE_ROW, "read the path back");
		is_int(sqlite3_column_int64(st, 0), AUDIT_PATH_MAX - 1, "cut to AUDIT_PATH_MAX - 1 bytes");
		is_str((const char *)sqlite3_column_text(st, 1), "a...", "... the escape is dropped whole");
		sqlite3_reset(st);
	}
	audit_free(a);
	db_free(db);
}

/* A token in a path (a client that sent its token where an id goes) is never stored. */
static void test_mask_secrets(void)
{
	static const char secret[] = "mft_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct db *db = NULL;
	struct audit *a = open_audit(&db, 0, 0);
	char in[256], want[256], stars[65];
	struct seen s = { 0 };
	bool more;

	if (!a)
		return;
	memset(stars, '*', 64);
	stars[64] = '\0';
	snprintf(in, sizeof(in), "/api/v1/tokens/%s/x%s/mft_AB12", secret, secret);
	snprintf(want, sizeof(want), " /api/v1/tokens/mft_%s/xmft_%s/mft_**** 400", stars, stars);
	record(a, 1000, NULL, "DELETE", in, 400);
	is_int(audit_list(a, 0, 1, NULL, on_entry, &s, &more), 0, "list");
	has_str(s.text[0], want, "the text of a token in the path is masked, its length kept");
	ok(strstr(s.text[0], secret + 4) == NULL, "the secret is not in the row");
	audit_free(a);
	db_free(db);
}

static void test_retention(void)
{
	struct db *db = NULL;
	struct audit *a = open_audit(&db, 10, 4);
	struct seen s = { 0 };
	bool more;

	if (!a)
		return;
	/* The first insert prunes (nothing to prune yet); then every 4th. */
	for (int i = 1; i <= 10; i++)
		record(a, i, NULL, "POST", "/p", 200);
	is_int(count_rows(db), 10, "10 rows with keep = 10");
	record(a, 11, NULL, "POST", "/p", 200);
	record(a, 12, NULL, "POST", "/p", 200);
	is_int(count_rows(db), 12, "12 rows: no prune on every insert");
	record(a, 13, NULL, "POST", "/p", 200);
	is_int(count_rows(db), 10, "the 4th insert after the last prune prunes back to 10");
	is_int(audit_list(a, 0, 100, NULL, on_entry, &s, &more), 0, "list");
	is_int(s.ids[0], 13, "the newest is kept");
	is_int(s.ids[9], 4, "the oldest kept is id 4: ids 1..3 are gone");
	for (int i = 14; i <= 40; i++)
		record(a, i, NULL, "POST", "/p", 200);
	ok(count_rows(db) >= 10 && count_rows(db) <= 10 + 4, "never more than keep + batch rows (%lld)",
	   (long long)count_rows(db));
	audit_free(a);

	/* A restart (a new audit on the same database) prunes at its first insert, also with a smaller keep. */
	{
		struct audit_options o = { .keep = 5, .prune_batch = 100, .clock = fake_clock };

		is_int(audit_new(db, &o, &a), 0, "audit_new again, keep = 5");
		record(a, 41, NULL, "POST", "/p", 200);
		is_int(count_rows(db), 5, "the first insert after start prunes to 5");
		audit_free(a);
	}
	db_free(db);
}

/* Runs @fn with stderr sent to a file; returns how many lines of it hold @needle. */
static int count_log_lines(void (*fn)(struct audit *), struct audit *a, const char *needle)
{
	char logpath[600], line[1024];
	int saved, fd, n = 0;
	FILE *f;

	snprintf(logpath, sizeof(logpath), "%s/stderr.log", dir);
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (saved < 0 || fd < 0)
		return -1;
	dup2(fd, STDERR_FILENO);
	close(fd);
	fn(a);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	f = fopen(logpath, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, needle))
			n++;
		else
			printf("# other log line: %s", line);
	}
	fclose(f);
	unlink(logpath);
	return n;
}

static void fail_four_times(struct audit *a)
{
	fake_now = 100000;
	for (int i = 0; i < 3; i++)
		is_int(record(a, 1, NULL, "POST", "/p", 200), -EIO, "a failed insert returns -EIO (%d)", i + 1);
	fake_now += AUDIT_LOG_INTERVAL_MS - 1;
	record(a, 1, NULL, "POST", "/p", 200);
	fake_now += 1;
	record(a, 1, NULL, "POST", "/p", 200);
}

static void test_write_failure(void)
{
	struct db *db = NULL;
	struct audit *a = open_audit(&db, 0, 0);
	int lines;

	if (!a)
		return;
	is_int(record(a, 1, NULL, "POST", "/p", 200), 0, "an insert that works");
	/* RAISE(ABORT) makes the insert fail the way a full disk does, without filling one. */
	is_int(sqlite3_exec(db_handle(db), "CREATE TEMP TRIGGER audit_fail BEFORE INSERT ON audit "
			    "BEGIN SELECT RAISE(ABORT, 'no room'); END", NULL, NULL, NULL), SQLITE_OK,
	       "make inserts fail");
	lines = count_log_lines(fail_four_times, a, "<3>meshfleetd: audit: cannot record POST '/p'");
	is_int(audit_write_errors(a), 5, "five failures counted");
	is_int(lines, 2, "logged twice: once at first, once after AUDIT_LOG_INTERVAL_MS");
	sqlite3_exec(db_handle(db), "DROP TRIGGER audit_fail", NULL, NULL, NULL);
	is_int(record(a, 1, NULL, "POST", "/p", 200), 0, "inserts work again");
	is_int(count_rows(db), 2, "two rows: the failed ones left nothing");
	is_int(audit_write_errors(a), 5, "the count stays");
	audit_free(a);
	db_free(db);
}

static void test_parse_time(void)
{
	static const struct {
		const char *text;
		int64_t ms;             /* INT64_MIN = refused */
	} cases[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2026-11-23T20:00:00Z", 1795464000000 },
		{ "2026-11-23t20:00:00z", 1795464000000 },
		{ "2026-11-23T21:00:00+01:00", 1795464000000 },
		{ "2026-11-23T19:30:00-00:30", 1795464000000 },
		{ "2026-11-23T20:00:00.25Z", 1795464000250 },
		{ "2026-11-23T20:00:00.123456Z", 1795464000123 },
		{ "2024-02-29T00:00:00Z", 1709164800000 },
		{ "2000-03-01T00:00:00Z", 951868800000 },
		{ "2023-02-29T00:00:00Z", INT64_MIN },
		{ "2026-13-01T00:00:00Z", INT64_MIN },
		{ "2026-11-23T24:00:00Z", INT64_MIN },
		{ "2026-11-23T20:00:00", INT64_MIN },
		{ "2026-11-23 20:00:00Z", INT64_MIN },
		{ "2026-11-23T20:00:00.Z", INT64_MIN },
		{ "2026-11-23T20:00:00+0100", INT64_MIN },
		{ "2026-11-23T20:00:00Zjunk", INT64_MIN },
		{ "1969-12-31T23:59:59Z", INT64_MIN },
		{ "1795464000000", INT64_MIN },
		{ "", INT64_MIN },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		int64_t ms = 42;
		int r = time_parse_rfc3339(cases[i].text, &ms);

		if (cases[i].ms == INT64_MIN) {
			is_int(r, -EINVAL, "'%s' is refused", cases[i].text);
			is_int(ms, 42, "... output untouched");
		} else {
			is_int(r, 0, "'%s' parses", cases[i].text);
			is_int(ms, cases[i].ms, "... to %lld", (long long)cases[i].ms);
		}
	}
	{
		char text[21];
		int64_t ms = 0;

		time_format_rfc3339(1795464001000, text);
		is_int(time_parse_rfc3339(text, &ms), 0, "time_format_rfc3339's output parses");
		is_int(ms, 1795464001000, "... to the same time");
	}
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/test.db", dir);
	test_methods();
	test_record_and_list();
	test_pagination_and_filters();
	test_callback_stops();
	test_clean_text();
	test_mask_secrets();
	test_retention();
	test_write_failure();
	test_parse_time();
	remove_db();
	rmdir(dir);
	return done_testing();
}
