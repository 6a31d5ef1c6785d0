/* db: the SQLite connection, its numbered migrations and a cache of prepared statements.
 *
 * The database is the daemon's truth (ARCHITECTURE.md, "Persistence"): WAL mode, synchronous=NORMAL except for
 * the commits that gate an irreversible step, a quick_check at every start, and a refusal to open a schema newer
 * than this binary knows. Only the loop thread uses it.
 */
#ifndef MESHFLEET_DB_H
#define MESHFLEET_DB_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#define DB_FILE_NAME "meshfleet.db"
#define DB_MAX_CACHED_STATEMENTS 128

struct db;

/* Opens (creating if needed) the database at @path, checks it and migrates it. On failure *ret_db is untouched
 * and @errbuf says why and what to do. Returns 0 or a negative errno. */
int db_open(const char *path, struct db **ret_db, char *errbuf, size_t errlen);
/* Finalizes every statement and closes the connection; NULL is a no-op. Returns NULL. */
struct db *db_free(struct db *db);

/* The schema version this binary migrates to, and the one the open database is at. */
int db_schema_latest(void);
int db_schema_version(const struct db *db);

/* Returns the cached statement for @sql (which must be a string literal: the cache is keyed by its address),
 * reset and with its bindings cleared, or NULL after logging why. Borrowed: never finalize it. */
sqlite3_stmt *db_stmt(struct db *db, const char *sql);

/* The connection, for sqlite3_changes() and the like. Borrowed. */
sqlite3 *db_handle(struct db *db);

/* BEGIN IMMEDIATE / COMMIT / ROLLBACK. Return 0 or a negative errno. */
int db_begin(struct db *db);
int db_commit(struct db *db);
/* BEGIN IMMEDIATE with synchronous=FULL (SQLite takes the level only outside a transaction) for a transaction whose
 * commit gates an irreversible step (an apply); db_commit() or db_rollback() set NORMAL again. */
int db_begin_durable(struct db *db);
void db_rollback(struct db *db);

/* Maps a SQLite result code to a negative errno and counts it as a database error, unless it is a constraint
 * failure (bad input, -EEXIST) or not an error at all (0). Logs the error with @what once. */
int db_result(struct db *db, int rc, const char *what);

/* Transactions committed since start, a single statement's own (autocommit) included (for /metrics:
 * meshfleet_db_commits_total). */
uint64_t db_commit_count(const struct db *db);
/* Database errors seen since start (for /metrics and /health). */
uint64_t db_error_count(const struct db *db);
/* Whether the last statement failed for a reason that makes the database unusable right now (disk full, I/O). */
const char *db_state(const struct db *db);

#endif
