/* db: see db.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"
#include "util.h"

struct cached_stmt {
	const char *sql;        /* weak: a string literal */
	sqlite3_stmt *stmt;     /* owned */
};

struct db {
	sqlite3 *handle;
	int schema_version;
	uint64_t errors;
	int last_error;         /* SQLite code of the last failure, 0 after a success of db_commit */
	size_t n_cached;
	struct cached_stmt cache[DB_MAX_CACHED_STATEMENTS];
};

/* Migration N brings the schema from version N-1 to N. Append only: a released migration never changes. */
static const char *const migrations[] = {
	/* 1: nodes and their tags */
	"CREATE TABLE nodes ("
	"  address INTEGER PRIMARY KEY CHECK (address BETWEEN 1 AND 32767),"
	"  uuid BLOB UNIQUE CHECK (uuid IS NULL OR length(uuid) = 16),"
	"  name TEXT NOT NULL DEFAULT '' CHECK (length(CAST(name AS BLOB)) <= 64),"
	"  company_id INTEGER CHECK (company_id BETWEEN 0 AND 65535),"
	"  product_id INTEGER CHECK (product_id BETWEEN 0 AND 65535),"
	"  version_id INTEGER CHECK (version_id BETWEEN 0 AND 65535),"
	"  firmware_id BLOB CHECK (firmware_id IS NULL OR length(firmware_id) BETWEEN 2 AND 108),"
	"  last_seen INTEGER,"
	"  created_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE node_tags ("
	"  address INTEGER NOT NULL REFERENCES nodes(address) ON DELETE CASCADE,"
	"  tag TEXT NOT NULL,"
	"  PRIMARY KEY (address, tag)"
	") STRICT, WITHOUT ROWID;",
};

int db_schema_latest(void)
{
	return (int)ARRAY_SIZE(migrations);
}

sqlite3 *db_handle(struct db *db)
{
	return db->handle;
}

int db_schema_version(const struct db *db)
{
	return db->schema_version;
}

uint64_t db_error_count(const struct db *db)
{
	return db->errors;
}

const char *db_state(const struct db *db)
{
	switch (db->last_error) {
	case SQLITE_FULL:
		return "disk_full";
	case SQLITE_IOERR:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return "io_error";
	case SQLITE_READONLY:
		return "read_only";
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return "busy";
	default:
		return "ok";
	}
}

int db_result(struct db *db, int rc, const char *what)
{
	int primary = rc & 0xff;

	switch (primary) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		db->last_error = 0;
		return 0;
	case SQLITE_CONSTRAINT:
		return -EEXIST;
	default:
		break;
	}
	db->errors++;
	db->last_error = primary;
	log_err("database: %s: %s (%d)", what, sqlite3_errstr(rc), rc);
	switch (primary) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	case SQLITE_READONLY:
		return -EROFS;
	case SQLITE_TOOBIG:
		return -E2BIG;
	default:
		return -EIO;
	}
}

sqlite3_stmt *db_stmt(struct db *db, const char *sql)
{
	sqlite3_stmt *stmt;
	int rc;

	for (size_t i = 0; i < db->n_cached; i++) {
		if (db->cache[i].sql == sql) {
			stmt = db->cache[i].stmt;
			sqlite3_reset(stmt);
			sqlite3_clear_bindings(stmt);
			return stmt;
		}
	}
	if (db->n_cached == ARRAY_SIZE(db->cache)) {
		log_err("database: statement cache full (%d): raise DB_MAX_CACHED_STATEMENTS",
			DB_MAX_CACHED_STATEMENTS);
		db->errors++;
		return NULL;
	}
	rc = sqlite3_prepare_v3(db->handle, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
	if (rc != SQLITE_OK) {
		log_err("database: cannot prepare '%s': %s", sql, sqlite3_errmsg(db->handle));
		db->errors++;
		return NULL;
	}
	db->cache[db->n_cached].sql = sql;
	db->cache[db->n_cached].stmt = stmt;
	db->n_cached++;
	return stmt;
}

static int exec_stmt(struct db *db, const char *sql, const char *what)
{
	sqlite3_stmt *stmt = db_stmt(db, sql);

	if (!stmt)
		return -EIO;
	return db_result(db, sqlite3_step(stmt), what);
}

int db_begin(struct db *db)
{
	return exec_stmt(db, "BEGIN IMMEDIATE", "begin transaction");
}

int db_commit(struct db *db)
{
	return exec_stmt(db, "COMMIT", "commit");
}

void db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->handle))
		(void)exec_stmt(db, "ROLLBACK", "rollback");
}

/* Runs a pragma or query and copies the first column of its first row into @out. */
static int query_text(sqlite3 *h, const char *sql, char *out, size_t size)
{
	sqlite3_stmt *stmt;
	int rc = sqlite3_prepare_v2(h, sql, -1, &stmt, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(stmt, 0);

		snprintf(out, size, "%s", t ? (const char *)t : "");
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		out[0] = '\0';
		rc = SQLITE_OK;
	}
	sqlite3_finalize(stmt);
	return rc;
}

static int migrate(struct db *db, const char *path, char *errbuf, size_t errlen)
{
	char text[64], *msg = NULL;
	int rc, version;

	rc = sqlite3_exec(db->handle,
			  "CREATE TABLE IF NOT EXISTS schema_migrations ("
			  "  version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT",
			  NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		goto fail;
	rc = query_text(db->handle, "SELECT coalesce(max(version), 0) FROM schema_migrations", text, sizeof(text));
	if (rc != SQLITE_OK)
		goto fail;
	version = (int)strtol(text, NULL, 10);
	if (version > db_schema_latest()) {
		snprintf(errbuf, errlen,
			 "database %s has schema version %d, newer than this meshfleetd knows (%d): "
			 "run the meshfleetd that wrote it, or restore a backup made before the upgrade",
			 path, version, db_schema_latest());
		return -EPROTO;
	}
	for (; version < db_schema_latest(); version++) {
		char record[128];

		rc = sqlite3_exec(db->handle, "BEGIN IMMEDIATE", NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db->handle, migrations[version], NULL, NULL, &msg);
		snprintf(record, sizeof(record),
			 "INSERT INTO schema_migrations(version, applied_at) VALUES (%d, %lld)",
			 version + 1, (long long)time_now_ms());
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db->handle, record, NULL, NULL, &msg);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(db->handle, "COMMIT", NULL, NULL, &msg);
		if (rc != SQLITE_OK) {
			sqlite3_exec(db->handle, "ROLLBACK", NULL, NULL, NULL);
			snprintf(errbuf, errlen, "database %s: migration to schema version %d failed: %s",
				 path, version + 1, msg ? msg : sqlite3_errstr(rc));
			sqlite3_free(msg);
			return -EIO;
		}
		log_info("database: migrated %s to schema version %d", path, version + 1);
	}
	db->schema_version = version;
	return 0;
fail:
	snprintf(errbuf, errlen, "database %s: cannot read the schema version: %s", path,
		 msg ? msg : sqlite3_errmsg(db->handle));
	sqlite3_free(msg);
	return -EIO;
}

int db_open(const char *path, struct db **ret_db, char *errbuf, size_t errlen)
{
	struct db *db;
	char text[256];
	int rc, r;

	db = calloc(1, sizeof(*db));
	if (!db) {
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = sqlite3_open_v2(path, &db->handle,
			     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
			     NULL);
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errlen, "cannot open database %s: %s: check that the state directory is "
			 "writable by this user", path, db->handle ? sqlite3_errmsg(db->handle) : sqlite3_errstr(rc));
		r = -EIO;
		goto fail;
	}
	sqlite3_busy_timeout(db->handle, 2000);
	rc = query_text(db->handle, "PRAGMA quick_check", text, sizeof(text));
	if (rc != SQLITE_OK || strcmp(text, "ok") != 0) {
		snprintf(errbuf, errlen, "database %s failed its integrity check (%s): stop here, keep a copy of "
			 "the file, and restore a backup or move it away to start empty", path,
			 rc != SQLITE_OK ? sqlite3_errmsg(db->handle) : text);
		r = -EIO;
		goto fail;
	}
	rc = query_text(db->handle, "PRAGMA journal_mode=WAL", text, sizeof(text));
	if (rc != SQLITE_OK || strcmp(text, "wal") != 0) {
		snprintf(errbuf, errlen, "database %s: cannot switch to WAL mode (%s)", path,
			 rc != SQLITE_OK ? sqlite3_errmsg(db->handle) : text);
		r = -EIO;
		goto fail;
	}
	/* NORMAL is durable in WAL mode up to the last checkpointed commit; commits that gate an irreversible
	 * step switch to FULL around themselves. A small page cache keeps the daemon's RSS low on a Pi. */
	rc = sqlite3_exec(db->handle,
			  "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-512;"
			  "PRAGMA temp_store=MEMORY; PRAGMA trusted_schema=OFF",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		snprintf(errbuf, errlen, "database %s: %s", path, sqlite3_errmsg(db->handle));
		r = -EIO;
		goto fail;
	}
	r = migrate(db, path, errbuf, errlen);
	if (r < 0)
		goto fail;
	*ret_db = db;
	return 0;
fail:
	db_free(db);
	return r;
}

struct db *db_free(struct db *db)
{
	if (!db)
		return NULL;
	for (size_t i = 0; i < db->n_cached; i++)
		sqlite3_finalize(db->cache[i].stmt);
	if (db->handle && sqlite3_close(db->handle) != SQLITE_OK)
		log_err("database: close failed: %s", sqlite3_errmsg(db->handle));
	free(db);
	return NULL;
}
