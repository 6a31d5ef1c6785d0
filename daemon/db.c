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
	bool durable;           /* a transaction of db_begin_durable() is open: synchronous=FULL until it ends */
	uint64_t commits;       /* transactions committed, explicit and autocommit (commit_hook) */
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
	/* 2: the mesh network (issue "Fleet inventory"): what a node's provisioning and discovery tell */
	"ALTER TABLE nodes ADD COLUMN elements INTEGER CHECK (elements IS NULL OR elements BETWEEN 1 AND 255);"
	"ALTER TABLE nodes ADD COLUMN device_key BLOB CHECK (device_key IS NULL OR length(device_key) = 16);"
	"ALTER TABLE nodes ADD COLUMN crpl INTEGER CHECK (crpl IS NULL OR crpl BETWEEN 0 AND 65535);"
	"ALTER TABLE nodes ADD COLUMN features INTEGER CHECK (features IS NULL OR features BETWEEN 0 AND 65535);"
	"ALTER TABLE nodes ADD COLUMN composition BLOB CHECK (composition IS NULL OR length(composition) <= 380);"
	"ALTER TABLE nodes ADD COLUMN dfu_capable INTEGER CHECK (dfu_capable IS NULL OR dfu_capable IN (0, 1));"
	"ALTER TABLE nodes ADD COLUMN reachable INTEGER CHECK (reachable IS NULL OR reachable IN (0, 1));"
	"CREATE TABLE node_images ("
	"  address INTEGER NOT NULL REFERENCES nodes(address) ON DELETE CASCADE,"
	"  image_index INTEGER NOT NULL CHECK (image_index BETWEEN 0 AND 255),"
	"  firmware_id BLOB NOT NULL CHECK (length(firmware_id) BETWEEN 2 AND 108),"
	"  update_uri TEXT,"
	"  PRIMARY KEY (address, image_index)"
	") STRICT, WITHOUT ROWID;"
	"CREATE TABLE network ("
	"  id INTEGER PRIMARY KEY CHECK (id = 1),"
	"  mesh_uuid BLOB NOT NULL CHECK (length(mesh_uuid) = 16),"
	"  name TEXT NOT NULL,"
	"  exported_at INTEGER NOT NULL,"      /* the CDB's timestamp, ms */
	"  cdb TEXT NOT NULL,"                 /* the document as last imported: it holds the keys */
	"  iv_index INTEGER NOT NULL CHECK (iv_index BETWEEN 0 AND 4294967295),"
	"  iv_update INTEGER NOT NULL CHECK (iv_update IN (0, 1)),"
	"  net_key_index INTEGER NOT NULL CHECK (net_key_index BETWEEN 0 AND 4095),"
	"  app_key_index INTEGER NOT NULL CHECK (app_key_index BETWEEN 0 AND 4095),"
	"  provisioner_uuid BLOB NOT NULL CHECK (length(provisioner_uuid) = 16),"
	"  address INTEGER NOT NULL CHECK (address BETWEEN 1 AND 32767),"
	"  unicast_low INTEGER NOT NULL, unicast_high INTEGER NOT NULL,"   /* meshfleet's provisioner ranges */
	"  group_low INTEGER NOT NULL, group_high INTEGER NOT NULL,"
	"  seq_mark INTEGER NOT NULL DEFAULT 0 CHECK (seq_mark BETWEEN 0 AND 16777215),"
	"  seq_dongle TEXT NOT NULL DEFAULT '',"  /* the dongle seq_mark was read from */
	"  imported_at INTEGER NOT NULL,"
	"  updated_at INTEGER NOT NULL"
	") STRICT;",
	/* 3: group subscriptions for multicast DFU (groups.c): what each node acknowledged */
	"CREATE TABLE node_config ("
	"  address INTEGER PRIMARY KEY REFERENCES nodes(address) ON DELETE CASCADE,"
	"  app_key_index INTEGER NOT NULL CHECK (app_key_index BETWEEN 0 AND 4095),"
	"  element INTEGER NOT NULL CHECK (element BETWEEN 0 AND 254),"   /* the one with both DFU servers */
	"  app_key_added INTEGER NOT NULL CHECK (app_key_added IN (0, 1)),"
	"  fu_bound INTEGER NOT NULL CHECK (fu_bound IN (0, 1)),"
	"  blob_bound INTEGER NOT NULL CHECK (blob_bound IN (0, 1)),"
	"  updated_at INTEGER NOT NULL"
	") STRICT;"
	"CREATE TABLE group_members ("
	"  group_address INTEGER NOT NULL CHECK (group_address BETWEEN 49152 AND 65279),"   /* 0xC000..0xFEFF */
	"  address INTEGER NOT NULL REFERENCES nodes(address) ON DELETE CASCADE,"
	"  element INTEGER CHECK (element IS NULL OR element BETWEEN 0 AND 254),"
	"  fu_subscribed INTEGER NOT NULL CHECK (fu_subscribed IN (0, 1)),"
	"  blob_subscribed INTEGER NOT NULL CHECK (blob_subscribed IN (0, 1)),"
	"  state TEXT NOT NULL CHECK (state IN ('pending', 'member', 'failed', 'refused', 'remove_failed')),"
	"  reason TEXT,"
	"  updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (group_address, address)"
	") STRICT, WITHOUT ROWID;"
	"CREATE INDEX group_members_address ON group_members(address);"
	/* A node provisioned again (another device key) or another network: what was acknowledged no longer holds. */
	"CREATE TRIGGER node_config_forget_node AFTER UPDATE OF device_key ON nodes "
	"  WHEN OLD.device_key IS NOT NEW.device_key BEGIN"
	"  DELETE FROM node_config WHERE address = NEW.address;"
	"  DELETE FROM group_members WHERE address = NEW.address;"
	"END;"
	"CREATE TRIGGER node_config_forget_network AFTER UPDATE OF mesh_uuid, app_key_index ON network "
	"  WHEN OLD.mesh_uuid IS NOT NEW.mesh_uuid OR OLD.app_key_index IS NOT NEW.app_key_index BEGIN"
	"  DELETE FROM node_config;"
	"  DELETE FROM group_members WHERE OLD.mesh_uuid IS NOT NEW.mesh_uuid;"
	"END;",
	/* 4: the event bus (events.c): the newest events, replayed to SSE clients that reconnect */
	"CREATE TABLE events ("
	"  id INTEGER PRIMARY KEY,"
	"  time INTEGER NOT NULL,"              /* ms since the epoch */
	"  type TEXT NOT NULL,"
	"  data TEXT NOT NULL"                  /* compact JSON */
	") STRICT;",
	/* 5: the firmware store (firmware.c): one row per stored file STATE_DIR/firmware/<id> */
	"CREATE TABLE firmware ("
	"  id TEXT PRIMARY KEY CHECK (length(id) = 64 AND id NOT GLOB '*[^0-9a-f]*'),"   /* SHA-256 of the file */
	"  size INTEGER NOT NULL CHECK (size > 0),"
	"  kind TEXT NOT NULL CHECK (kind IN ('mcuboot', 'hex', 'raw')),"
	"  version_major INTEGER NOT NULL CHECK (version_major BETWEEN 0 AND 255),"
	"  version_minor INTEGER NOT NULL CHECK (version_minor BETWEEN 0 AND 255),"
	"  version_revision INTEGER NOT NULL CHECK (version_revision BETWEEN 0 AND 65535),"
	"  version_build INTEGER NOT NULL CHECK (version_build BETWEEN 0 AND 4294967295),"
	"  firmware_id BLOB NOT NULL CHECK (length(firmware_id) BETWEEN 2 AND 108),"      /* Mesh DFU FWID */
	"  metadata BLOB CHECK (metadata IS NULL OR length(metadata) <= 255),"
	"  signature_key TEXT,"                 /* the trusted key that verified it; NULL: unsigned */
	"  imported_at INTEGER NOT NULL,"       /* ms since the epoch */
	"  imported_by TEXT NOT NULL"
	") STRICT;"
	"CREATE INDEX firmware_imported ON firmware(imported_at, id);",
	/* 6: API bearer tokens (tokens.c): only the SHA-256 of each token's text, hex, looked up by that hash */
	"CREATE TABLE tokens ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64 AND name NOT GLOB '*[^A-Za-z0-9._-]*'),"
	"  role INTEGER NOT NULL CHECK (role BETWEEN 1 AND 3),"   /* 1 viewer, 2 operator, 3 admin */
	"  secret_sha256 TEXT NOT NULL UNIQUE CHECK (length(secret_sha256) = 64 AND "
	"    secret_sha256 NOT GLOB '*[^0-9a-f]*'),"
	"  created_at INTEGER NOT NULL,"        /* ms since the epoch */
	"  created_by TEXT NOT NULL,"
	"  last_used INTEGER"                   /* ms since the epoch; NULL = never */
	") STRICT;",
	/* 7: the audit log (audit.c): every mutating API call, newest AUDIT_KEEP kept. No index but the id: lists
	 * walk it newest first and stop at a page's end; token_id is not a foreign key, rows outlive their token. */
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY,"
	"  at_ms INTEGER NOT NULL,"             /* ms since the epoch */
	"  token_id INTEGER,"                   /* NULL: no token (401, or a route without one) */
	"  token_name TEXT,"
	"  method TEXT NOT NULL,"
	"  route TEXT,"                         /* the route's pattern; NULL when no route matched */
	"  path TEXT NOT NULL,"
	"  status INTEGER NOT NULL CHECK (status BETWEEN 100 AND 599),"
	"  remote TEXT,"                        /* the client's address */
	"  outcome TEXT"                        /* the error code of an error response */
	") STRICT;",
	/* 8: campaigns (campaigns.c, docs/campaigns.md): a campaign, its waves and its targets. No foreign key to the
	 * nodes or the firmware: a campaign's history outlives both (firmware_delete() refuses an image in use). */
	"CREATE TABLE campaigns ("
	"  id INTEGER PRIMARY KEY,"
	"  name TEXT NOT NULL CHECK (length(CAST(name AS BLOB)) BETWEEN 1 AND 64),"
	"  firmware_id TEXT NOT NULL CHECK (length(firmware_id) = 64),"
	"  fwid BLOB NOT NULL CHECK (length(fwid) BETWEEN 2 AND 32),"
	"  state TEXT NOT NULL CHECK (state IN ('draft', 'scheduled', 'running', 'paused', 'completed', 'failed',"
	"    'cancelled')),"
	"  reason TEXT,"
	"  selection TEXT NOT NULL,"            /* the target selection as given (JSON) */
	"  canary INTEGER NOT NULL CHECK (canary >= 0),"
	"  wave_size INTEGER NOT NULL CHECK (wave_size >= 0),"
	"  wave_percent INTEGER NOT NULL CHECK (wave_percent BETWEEN 0 AND 100),"
	"  success_threshold INTEGER NOT NULL CHECK (success_threshold BETWEEN 0 AND 100),"
	"  error_threshold INTEGER NOT NULL CHECK (error_threshold BETWEEN 0 AND 100),"
	"  max_attempts INTEGER NOT NULL CHECK (max_attempts >= 1),"
	"  apply_policy TEXT NOT NULL CHECK (apply_policy IN ('immediate', 'verify_only', 'window')),"
	"  window_start INTEGER, window_end INTEGER,"   /* ms since the epoch; policy window */
	"  mode TEXT NOT NULL CHECK (mode IN ('push', 'pull')),"
	"  ttl INTEGER NOT NULL CHECK (ttl = 0 OR ttl BETWEEN 2 AND 127),"
	"  timeout_base INTEGER NOT NULL CHECK (timeout_base BETWEEN 0 AND 65535),"
	"  group_address INTEGER NOT NULL CHECK (group_address BETWEEN 49152 AND 65279),"
	"  group_allocated INTEGER NOT NULL CHECK (group_allocated IN (0, 1)),"
	"  block_size_log INTEGER NOT NULL CHECK (block_size_log = 0 OR block_size_log BETWEEN 6 AND 32),"
	"  chunk_size INTEGER NOT NULL CHECK (chunk_size = 0 OR chunk_size BETWEEN 8 AND 377),"
	"  allow_downgrade INTEGER NOT NULL CHECK (allow_downgrade IN (0, 1)),"
	"  scheduled_start INTEGER,"            /* ms since the epoch */
	"  created_by TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  started_at INTEGER, finished_at INTEGER"
	") STRICT;"
	"CREATE INDEX campaigns_state ON campaigns(state, id);"
	"CREATE INDEX campaigns_firmware ON campaigns(firmware_id);"
	"CREATE TABLE campaign_waves ("
	"  campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,"
	"  idx INTEGER NOT NULL CHECK (idx >= 0),"
	"  kind TEXT NOT NULL CHECK (kind IN ('canary', 'normal', 'retry')),"
	"  state TEXT NOT NULL CHECK (state IN ('pending', 'preparing', 'transferring', 'verifying', 'verified',"
	"    'applying', 'confirming', 'done', 'cancelled')),"
	"  distribution_id INTEGER,"            /* the dongle's distribution (engine) */
	"  started_at INTEGER, finished_at INTEGER, updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (campaign_id, idx)"
	") STRICT, WITHOUT ROWID;"
	"CREATE TABLE campaign_targets ("
	"  campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,"
	"  address INTEGER NOT NULL CHECK (address BETWEEN 1 AND 32767),"
	"  wave INTEGER,"                       /* NULL: skipped at resolution */
	"  state TEXT NOT NULL CHECK (state IN ('pending', 'preparing', 'transferring', 'verifying', 'verified',"
	"    'applying', 'confirming', 'succeeded', 'failed', 'skipped', 'cancelled')),"
	"  reason TEXT,"
	"  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),"
	"  last_result TEXT,"
	"  old_fwid BLOB,"
	"  apply_sent_at INTEGER,"              /* set before an apply reaches the dongle: never apply twice */
	"  updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (campaign_id, address)"
	") STRICT, WITHOUT ROWID;"
	"CREATE INDEX campaign_targets_wave ON campaign_targets(campaign_id, wave, state);",
	/* 9: a node's hop count (inferred by discovery from the TTL of its answers), and the preflight of a campaign
	 * (preflight.c): each target's answer to Firmware Update Firmware Metadata Check. */
	"ALTER TABLE nodes ADD COLUMN hops INTEGER CHECK (hops IS NULL OR hops BETWEEN 1 AND 127);"
	"CREATE TABLE campaign_preflight ("
	"  campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,"
	"  address INTEGER NOT NULL CHECK (address BETWEEN 1 AND 32767),"
	"  status TEXT NOT NULL,"               /* preflight_status_to_string() */
	"  effect TEXT,"                        /* the node's Additional Information; NULL without an answer */
	"  image_index INTEGER CHECK (image_index IS NULL OR image_index BETWEEN 0 AND 255),"
	"  checked_at INTEGER NOT NULL,"
	"  PRIMARY KEY (campaign_id, address)"
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
	int r = exec_stmt(db, "COMMIT", "commit");

	/* SQLite refuses to change the safety level inside a transaction: back to NORMAL once it is over */
	if (r == 0 && db->durable) {
		(void)exec_stmt(db, "PRAGMA synchronous=NORMAL", "switch back to synchronous=NORMAL");
		db->durable = false;
	}
	return r;
}

/* SQLite calls it for every commit, a statement's own (autocommit) included; 0 lets the commit go on. */
static int count_commit(void *userdata)
{
	((struct db *)userdata)->commits++;
	return 0;
}

uint64_t db_commit_count(const struct db *db)
{
	return db->commits;
}

int db_begin_durable(struct db *db)
{
	int r = exec_stmt(db, "PRAGMA synchronous=FULL", "switch to synchronous=FULL");

	if (r < 0)
		return r;
	db->durable = true;
	r = db_begin(db);
	if (r < 0) {
		(void)exec_stmt(db, "PRAGMA synchronous=NORMAL", "switch back to synchronous=NORMAL");
		db->durable = false;
	}
	return r;
}

void db_rollback(struct db *db)
{
	if (!sqlite3_get_autocommit(db->handle))
		(void)exec_stmt(db, "ROLLBACK", "rollback");
	if (db->durable) {
		(void)exec_stmt(db, "PRAGMA synchronous=NORMAL", "switch back to synchronous=NORMAL");
		db->durable = false;
	}
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
	sqlite3_commit_hook(db->handle, count_commit, db);
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
