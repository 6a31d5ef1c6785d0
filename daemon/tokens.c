/* tokens: see tokens.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "log.h"
#include "tokens.h"
#include "util.h"

#define TOKEN_HASH_HEX 64
#define TOKEN_COLUMNS "id, name, role, created_at, last_used, created_by"

static const char *const role_names[] = {
	[TOKEN_ROLE_VIEWER] = "viewer",
	[TOKEN_ROLE_OPERATOR] = "operator",
	[TOKEN_ROLE_ADMIN] = "admin",
};

const char *token_role_to_string(enum token_role role)
{
	switch (role) {
	case TOKEN_ROLE_VIEWER:
	case TOKEN_ROLE_OPERATOR:
	case TOKEN_ROLE_ADMIN:
		return role_names[role];
	}
	return "unknown";
}

int token_role_from_string(const char *text, enum token_role *ret)
{
	for (int r = TOKEN_ROLE_VIEWER; r <= TOKEN_ROLE_ADMIN; r++) {
		if (strcmp(text, role_names[r]) == 0) {
			*ret = (enum token_role)r;
			return 0;
		}
	}
	return -EINVAL;
}

bool token_name_valid(const char *name)
{
	size_t len = strlen(name);

	return len >= 1 && len <= TOKEN_NAME_MAX &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") == len;
}

/* The SHA-256 of @text in lowercase hex, as stored. */
static int secret_hash(const char *text, char out[TOKEN_HASH_HEX + 1])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (!EVP_Digest(text, strlen(text), digest, &n, EVP_sha256(), NULL) || n * 2 != TOKEN_HASH_HEX)
		return -EIO;
	hex_encode(digest, n, out);
	return 0;
}

/* Whether @secret has a token's shape: the prefix and 64 lowercase hex digits. */
static bool secret_well_formed(const char *secret)
{
	size_t plen = strlen(TOKEN_PREFIX);

	return strncmp(secret, TOKEN_PREFIX, plen) == 0 && strlen(secret) == TOKEN_TEXT_SIZE - 1 &&
	       strspn(secret + plen, "0123456789abcdef") == TOKEN_TEXT_SIZE - 1 - plen;
}

static void read_info(sqlite3_stmt *stmt, struct token_info *info)
{
	const unsigned char *name = sqlite3_column_text(stmt, 1), *by = sqlite3_column_text(stmt, 5);

	memset(info, 0, sizeof(*info));
	info->id = sqlite3_column_int64(stmt, 0);
	snprintf(info->name, sizeof(info->name), "%s", name ? (const char *)name : "");
	info->role = (enum token_role)sqlite3_column_int(stmt, 2);
	info->created_at_ms = sqlite3_column_int64(stmt, 3);
	info->last_used_ms = sqlite3_column_int64(stmt, 4);
	snprintf(info->created_by, sizeof(info->created_by), "%s", by ? (const char *)by : "");
}

int tokens_create(struct db *db, const char *name, enum token_role role, const char *created_by,
		  char secret[TOKEN_TEXT_SIZE], struct token_info *ret_info)
{
	sqlite3_stmt *stmt;
	unsigned char random[TOKEN_RANDOM_BYTES];
	char text[TOKEN_TEXT_SIZE], hash[TOKEN_HASH_HEX + 1];
	struct token_info info = { 0 };
	int r;

	if (!name || !token_name_valid(name) || role < TOKEN_ROLE_VIEWER || role > TOKEN_ROLE_ADMIN || !created_by)
		return -EINVAL;
	if (RAND_bytes(random, sizeof(random)) != 1) {
		log_err("tokens: the random generator failed (OpenSSL RAND_bytes); no token created");
		return -EIO;
	}
	memcpy(text, TOKEN_PREFIX, strlen(TOKEN_PREFIX));
	hex_encode(random, sizeof(random), text + strlen(TOKEN_PREFIX));
	OPENSSL_cleanse(random, sizeof(random));
	r = secret_hash(text, hash);
	if (r < 0)
		goto out;
	stmt = db_stmt(db, "INSERT INTO tokens (name, role, secret_sha256, created_at, created_by) "
		       "VALUES (?1, ?2, ?3, ?4, ?5)");
	if (!stmt) {
		r = -EIO;
		goto out;
	}
	info.created_at_ms = time_now_ms();
	sqlite3_bind_text(stmt, 1, name, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, (int)role);
	sqlite3_bind_text(stmt, 3, hash, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 4, info.created_at_ms);
	sqlite3_bind_text(stmt, 5, created_by, -1, SQLITE_STATIC);
	/* -EEXIST from the UNIQUE name; a hash collision of 256 random bits does not happen. */
	r = db_result(db, sqlite3_step(stmt), "create a token");
	sqlite3_reset(stmt);
	if (r < 0)
		goto out;
	info.id = sqlite3_last_insert_rowid(db_handle(db));
	snprintf(info.name, sizeof(info.name), "%s", name);
	snprintf(info.created_by, sizeof(info.created_by), "%s", created_by);
	info.role = role;
	memcpy(secret, text, TOKEN_TEXT_SIZE);
	if (ret_info)
		*ret_info = info;
out:
	OPENSSL_cleanse(text, sizeof(text));
	return r;
}

/* Writes last_used when the previous record is older than TOKEN_USE_RECORD_MS; a failure costs only the record. */
static void record_use(struct db *db, struct token_info *info)
{
	int64_t now = time_now_ms();
	sqlite3_stmt *stmt;

	if (info->last_used_ms && now - info->last_used_ms < TOKEN_USE_RECORD_MS && now >= info->last_used_ms)
		return;
	stmt = db_stmt(db, "UPDATE tokens SET last_used = ?2 WHERE id = ?1");
	if (!stmt)
		return;
	sqlite3_bind_int64(stmt, 1, info->id);
	sqlite3_bind_int64(stmt, 2, now);
	if (db_result(db, sqlite3_step(stmt), "record a token's use") == 0)
		info->last_used_ms = now;
	sqlite3_reset(stmt);
}

int tokens_authenticate(struct db *db, const char *secret, struct token_info *ret_info)
{
	char hash[TOKEN_HASH_HEX + 1];
	struct token_info info;
	sqlite3_stmt *stmt;
	const void *stored;
	int rc, r;

	if (!secret || !secret_well_formed(secret))
		return -EACCES;
	r = secret_hash(secret, hash);
	if (r < 0)
		return r;
	stmt = db_stmt(db, "SELECT " TOKEN_COLUMNS ", secret_sha256 FROM tokens WHERE secret_sha256 = ?1");
	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, hash, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? -EACCES : db_result(db, rc, "look up a token");
		sqlite3_reset(stmt);
		return r < 0 ? r : -EACCES;
	}
	stored = sqlite3_column_text(stmt, 6);
	if (!stored || sqlite3_column_bytes(stmt, 6) != TOKEN_HASH_HEX ||
	    CRYPTO_memcmp(stored, hash, TOKEN_HASH_HEX) != 0) {
		sqlite3_reset(stmt);
		return -EACCES;
	}
	read_info(stmt, &info);
	sqlite3_reset(stmt);
	record_use(db, &info);
	if (ret_info)
		*ret_info = info;
	return 0;
}

int tokens_list(struct db *db, int64_t after_id, unsigned limit, tokens_list_fn fn, void *userdata,
		bool *ret_more)
{
	sqlite3_stmt *stmt = db_stmt(db, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE id > ?1 ORDER BY id LIMIT ?2");
	struct token_info info;
	bool more = false;
	unsigned seen = 0;
	int rc, r = 0;

	if (!stmt)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, after_id);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)limit + 1);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (seen == limit) {
			more = true;
			break;
		}
		seen++;
		read_info(stmt, &info);
		r = fn(&info, userdata);
		if (r != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = db_result(db, rc, "list tokens");
	sqlite3_reset(stmt);
	if (r == 0)
		*ret_more = more;
	return r;
}

int tokens_delete(struct db *db, int64_t id)
{
	/* One statement: the last admin check and the delete cannot be split by another request. */
	sqlite3_stmt *stmt = db_stmt(db, "DELETE FROM tokens WHERE id = ?1 AND (role < ?2 OR "
				     "(SELECT count(*) FROM tokens WHERE role = ?2) > 1)");
	sqlite3_stmt *exists;
	int r;

	if (!stmt)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int(stmt, 2, TOKEN_ROLE_ADMIN);
	r = db_result(db, sqlite3_step(stmt), "delete a token");
	sqlite3_reset(stmt);
	if (r < 0)
		return r;
	if (sqlite3_changes(db_handle(db)) > 0)
		return 0;
	exists = db_stmt(db, "SELECT 1 FROM tokens WHERE id = ?1");
	if (!exists)
		return -EIO;
	sqlite3_bind_int64(exists, 1, id);
	r = sqlite3_step(exists);
	sqlite3_reset(exists);
	if (r == SQLITE_ROW)
		return -EBUSY;
	return r == SQLITE_DONE ? -ENOENT : db_result(db, r, "look up a token");
}

int tokens_count_admins(struct db *db, unsigned *ret_count)
{
	sqlite3_stmt *stmt = db_stmt(db, "SELECT count(*) FROM tokens WHERE role = ?1");
	int rc;

	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, TOKEN_ROLE_ADMIN);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(stmt);
		return db_result(db, rc, "count admin tokens");
	}
	*ret_count = (unsigned)sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return 0;
}

/* Writes @text and a newline to @path through a temp file that is 0600 from its creation. */
static int write_secret_file(const char *dir, const char *path, const char *text, char *errbuf, size_t errlen)
{
	char tmp[4096];
	size_t len = strlen(text);
	int fd, dfd, r = 0;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp)) {
		snprintf(errbuf, errlen, "the state directory's path is too long: '%s'", dir);
		return -ENAMETOOLONG;
	}
	/* A temp file left by a crash holds a token that was never committed. */
	if (unlink(tmp) < 0 && errno != ENOENT)
		goto sys_fail;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		goto sys_fail;
	if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
		r = -errno;
		close(fd);
		unlink(tmp);
		errno = -r;
		goto sys_fail;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		errno = -r;
		goto sys_fail;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
sys_fail:
	r = -errno;
	snprintf(errbuf, errlen, "cannot write the first admin token to '%s': %s; check the state directory's "
		 "owner and free space", path, strerror(errno));
	return r;
}

int tokens_first_admin(struct db *db, const char *state_dir, bool *ret_created, char *ret_path, size_t path_len,
		       char *errbuf, size_t errlen)
{
	char secret[TOKEN_TEXT_SIZE], name[TOKEN_NAME_MAX + 1], path[4096];
	unsigned admins = 0;
	int r;

	if ((size_t)snprintf(path, sizeof(path), "%s/" TOKEN_FIRST_ADMIN_FILE, state_dir) >= sizeof(path) ||
	    strlen(path) >= path_len) {
		snprintf(errbuf, errlen, "the state directory's path is too long: '%s'", state_dir);
		return -ENAMETOOLONG;
	}
	r = tokens_count_admins(db, &admins);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot read the tokens from the database: %s", strerror(-r));
		return r;
	}
	if (admins > 0) {
		snprintf(ret_path, path_len, "%s", path);
		*ret_created = false;
		return 0;
	}
	r = db_begin(db);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot create the first admin token: %s", strerror(-r));
		return r;
	}
	snprintf(name, sizeof(name), "%s", TOKEN_FIRST_ADMIN_NAME);
	r = tokens_create(db, name, TOKEN_ROLE_ADMIN, "meshfleetd", secret, NULL);
	if (r == -EEXIST) {
		/* A token of a lower role took the name: the new admin's name says when it came. */
		snprintf(name, sizeof(name), "%s-%lld", TOKEN_FIRST_ADMIN_NAME, (long long)time_now_ms());
		r = tokens_create(db, name, TOKEN_ROLE_ADMIN, "meshfleetd", secret, NULL);
	}
	if (r < 0) {
		db_rollback(db);
		snprintf(errbuf, errlen, "cannot create the first admin token: %s", strerror(-r));
		return r;
	}
	r = write_secret_file(state_dir, path, secret, errbuf, errlen);
	OPENSSL_cleanse(secret, sizeof(secret));
	if (r < 0) {
		db_rollback(db);
		return r;
	}
	r = db_commit(db);
	if (r < 0) {
		unlink(path);
		snprintf(errbuf, errlen, "cannot store the first admin token: %s", strerror(-r));
		return r;
	}
	snprintf(ret_path, path_len, "%s", path);
	*ret_created = true;
	return 0;
}
