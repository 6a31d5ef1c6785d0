/* Unit tests for daemon/db.c: creation, WAL, migrations, refusal of newer or damaged databases. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "tap.h"

static char dir[] = "/tmp/mf-test-db-XXXXXX";
static char path[512];

static void exec_sql(const char *sql)
{
	sqlite3 *h;

	sqlite3_open(path, &h);
	sqlite3_exec(h, sql, NULL, NULL, NULL);
	sqlite3_close(h);
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

static void test_create(void)
{
	struct db *db = NULL;
	char err[512] = "";
	sqlite3_stmt *stmt;

	is_int(db_open(path, &db, err, sizeof(err)), 0, "a new database opens");
	is_str(err, "", "no message");
	is_int(db_schema_version(db), db_schema_latest(), "migrated to the latest schema");
	stmt = db_stmt(db, "PRAGMA journal_mode");
	ok(stmt && sqlite3_step(stmt) == SQLITE_ROW &&
	   strcmp((const char *)sqlite3_column_text(stmt, 0), "wal") == 0, "WAL mode");
	ok(db_stmt(db, "PRAGMA journal_mode") == stmt, "statements are cached by their text's address");
	stmt = db_stmt(db, "PRAGMA foreign_keys");
	ok(stmt && sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) == 1, "foreign keys on");
	ok(db_stmt(db, "SELECT nonsense FROM nowhere") == NULL, "a bad statement is refused");
	is_int(db_error_count(db), 1, "and counted as a database error");
	is_str(db_state(db), "ok", "a prepare failure does not mark the database unusable");
	is_int(db_begin(db), 0, "begin");
	is_int(db_commit(db), 0, "commit");
	db_free(db);
	ok(db_free(NULL) == NULL, "db_free(NULL) is a no-op");

	db = NULL;
	is_int(db_open(path, &db, err, sizeof(err)), 0, "the same database opens again");
	is_int(db_schema_version(db), db_schema_latest(), "and is not migrated twice");
	db_free(db);
}

static void test_newer_schema(void)
{
	struct db *db = NULL;
	char err[512] = "";

	exec_sql("INSERT INTO schema_migrations(version, applied_at) VALUES (999, 0)");
	is_int(db_open(path, &db, err, sizeof(err)), -EPROTO, "a newer schema is refused");
	ok(db == NULL, "no handle returned");
	has_str(err, "schema version 999, newer than this meshfleetd knows", "message says why");
	has_str(err, "restore a backup", "message says what to do");
	exec_sql("DELETE FROM schema_migrations WHERE version = 999");
}

static void test_corrupt(void)
{
	struct db *db = NULL;
	char err[512] = "", junk[4096];
	int fd;

	remove_db();
	is_int(db_open(path, &db, err, sizeof(err)), 0, "fresh database");
	db_free(db);
	exec_sql("PRAGMA wal_checkpoint(TRUNCATE); CREATE TABLE filler(x); "
		 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000) "
		 "INSERT INTO filler SELECT randomblob(100) FROM n; PRAGMA wal_checkpoint(TRUNCATE);");
	/* Overwrite pages in the middle of the file: structure, not just contents. */
	memset(junk, 0xA5, sizeof(junk));
	fd = open(path, O_WRONLY);
	ok(fd >= 0 && pwrite(fd, junk, sizeof(junk), 8192) == (ssize_t)sizeof(junk), "damage pages 3");
	ok(pwrite(fd, junk, sizeof(junk), 4096 * 20) == (ssize_t)sizeof(junk), "damage page 21");
	close(fd);
	db = NULL;
	ok(db_open(path, &db, err, sizeof(err)) < 0, "a damaged database is refused");
	ok(db == NULL, "no handle returned");
	has_str(err, "integrity check", "message names the check");

	remove_db();
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok(fd >= 0 && write(fd, "this is not a database, just text that is long enough to fill a header. "
			    "and more text.", 86) == 86, "write a text file");
	close(fd);
	ok(db_open(path, &db, err, sizeof(err)) < 0, "a file that is not a database is refused");
	ok(strlen(err) > 0, "with a message: %s", err);
	remove_db();
}

static void test_unwritable(void)
{
	struct db *db = NULL;
	char err[512] = "";

	is_int(db_open("/nonexistent-dir/x.db", &db, err, sizeof(err)), -EIO, "missing directory");
	has_str(err, "cannot open database /nonexistent-dir/x.db", "message names the path");
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/test.db", dir);
	test_create();
	test_newer_schema();
	test_corrupt();
	test_unwritable();
	remove_db();
	rmdir(dir);
	return done_testing();
}
