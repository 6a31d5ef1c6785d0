/* Unit tests for daemon/tokens.c on a real database: the token's shape, hashing at rest, roles, bad input,
 * last_used at most once a minute, pagination, the last admin, and the first admin's file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tap.h"
#include "tokens.h"
#include "util.h"

static char dir[] = "/tmp/mf-test-tokens-XXXXXX";

static void sql(struct db *db, const char *text)
{
	char *err = NULL;

	if (sqlite3_exec(db_handle(db), text, NULL, NULL, &err) != SQLITE_OK)
		printf("# SQL '%s' failed: %s\n", text, err ? err : "?");
	sqlite3_free(err);
}

static int64_t sql_int(struct db *db, const char *text)
{
	sqlite3_stmt *stmt;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db_handle(db), text, -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		v = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
	return v;
}

static void sha256_hex(const char *text, char out[65])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	EVP_Digest(text, strlen(text), digest, &n, EVP_sha256(), NULL);
	hex_encode(digest, n, out);
}

static void test_names_and_roles(void)
{
	enum token_role role = 0;
	char long_name[TOKEN_NAME_MAX + 2];

	is_str(token_role_to_string(TOKEN_ROLE_VIEWER), "viewer", "viewer's name");
	is_str(token_role_to_string(TOKEN_ROLE_OPERATOR), "operator", "operator's name");
	is_str(token_role_to_string(TOKEN_ROLE_ADMIN), "admin", "admin's name");
	is_int(token_role_from_string("operator", &role), 0, "operator parses");
	is_int(role, TOKEN_ROLE_OPERATOR, "to the operator role");
	is_int(token_role_from_string("Admin", &role), -EINVAL, "role names are case-sensitive");
	is_int(token_role_from_string("", &role), -EINVAL, "an empty role is refused");
	is_int(token_role_from_string("root", &role), -EINVAL, "an unknown role is refused");
	ok(TOKEN_ROLE_VIEWER < TOKEN_ROLE_OPERATOR && TOKEN_ROLE_OPERATOR < TOKEN_ROLE_ADMIN, "roles are ordered");
	ok(token_name_valid("ci-bot_1.prod"), "letters, digits, '.', '_' and '-' make a name");
	ok(!token_name_valid(""), "an empty name is refused");
	ok(!token_name_valid("a b"), "a space is refused");
	ok(!token_name_valid("caf\xc3\xa9"), "non-ASCII is refused");
	ok(!token_name_valid("a/b"), "a slash is refused");
	memset(long_name, 'x', sizeof(long_name) - 1);
	long_name[TOKEN_NAME_MAX] = '\0';
	ok(token_name_valid(long_name), "a name of TOKEN_NAME_MAX characters is accepted");
	long_name[TOKEN_NAME_MAX] = 'x';
	long_name[TOKEN_NAME_MAX + 1] = '\0';
	ok(!token_name_valid(long_name), "one more is refused");
}

static void test_create_and_authenticate(struct db *db)
{
	char secret[TOKEN_TEXT_SIZE], other[TOKEN_TEXT_SIZE], hash[65], wrong[TOKEN_TEXT_SIZE];
	struct token_info info, found;

	is_int(tokens_create(db, "viewer1", TOKEN_ROLE_VIEWER, "test", secret, &info), 0, "a viewer token is created");
	is_int((int)strlen(secret), TOKEN_TEXT_SIZE - 1, "the secret has %d characters", TOKEN_TEXT_SIZE - 1);
	ok(strncmp(secret, TOKEN_PREFIX, strlen(TOKEN_PREFIX)) == 0, "it starts with " TOKEN_PREFIX);
	is_int((int)strspn(secret + 4, "0123456789abcdef"), 64, "then 64 lowercase hex digits");
	ok(info.id > 0, "it has an id");
	is_str(info.name, "viewer1", "its name");
	is_str(info.created_by, "test", "its creator");
	is_int(info.last_used_ms, 0, "never used");
	is_int(tokens_create(db, "viewer2", TOKEN_ROLE_VIEWER, "test", other, NULL), 0, "another token");
	ok(strcmp(secret, other) != 0, "two tokens differ");

	sha256_hex(secret, hash);
	is_int(sql_int(db, "SELECT count(*) FROM tokens WHERE name = 'viewer1'"), 1, "one row");
	{
		sqlite3_stmt *stmt;
		const char *stored = NULL;
		char copy[65] = "";

		sqlite3_prepare_v2(db_handle(db), "SELECT secret_sha256 FROM tokens WHERE name = 'viewer1'", -1, &stmt,
				   NULL);
		if (sqlite3_step(stmt) == SQLITE_ROW)
			stored = (const char *)sqlite3_column_text(stmt, 0);
		snprintf(copy, sizeof(copy), "%s", stored ? stored : "");
		sqlite3_finalize(stmt);
		is_str(copy, hash, "the table holds the SHA-256 of the token's text");
	}
	is_int(sql_int(db, "SELECT count(*) FROM tokens WHERE instr(name || created_by || secret_sha256, "
			   "'mft_') > 0"), 0, "no column holds the token itself");

	is_int(tokens_authenticate(db, secret, &found), 0, "the token authenticates");
	is_int(found.id, info.id, "as itself");
	is_int(found.role, TOKEN_ROLE_VIEWER, "with its role");
	ok(found.last_used_ms > 0, "its use is recorded");

	snprintf(wrong, sizeof(wrong), "%s", secret);
	wrong[TOKEN_TEXT_SIZE - 2] = wrong[TOKEN_TEXT_SIZE - 2] == '0' ? '1' : '0';
	is_int(tokens_authenticate(db, wrong, &found), -EACCES, "one digit changed: refused");
	is_int(tokens_authenticate(db, "mft_0000000000000000000000000000000000000000000000000000000000000000", &found),
	       -EACCES, "an unknown token of the right shape: refused");
	snprintf(wrong, sizeof(wrong), "%s", secret);
	for (char *c = wrong; *c; c++)
		if (*c >= 'a' && *c <= 'f')
			*c = (char)(*c - 'a' + 'A');
	is_int(tokens_authenticate(db, wrong, &found), -EACCES, "upper-case hex: refused (malformed)");
	is_int(tokens_authenticate(db, secret + 4, &found), -EACCES, "without the prefix: refused");
	is_int(tokens_authenticate(db, "", &found), -EACCES, "empty: refused");
	is_int(tokens_authenticate(db, NULL, &found), -EACCES, "NULL: refused");
	snprintf(wrong, sizeof(wrong), "%.*s", TOKEN_TEXT_SIZE - 2, secret);
	is_int(tokens_authenticate(db, wrong, &found), -EACCES, "one character short: refused");

	is_int(tokens_create(db, "viewer1", TOKEN_ROLE_ADMIN, "test", other, NULL), -EEXIST, "a taken name: -EEXIST");
	is_int(tokens_create(db, "bad name", TOKEN_ROLE_ADMIN, "test", other, NULL), -EINVAL, "a bad name: -EINVAL");
	is_int(tokens_create(db, "x", 0, "test", other, NULL), -EINVAL, "role 0: -EINVAL");
	is_int(tokens_create(db, "x", 4, "test", other, NULL), -EINVAL, "role 4: -EINVAL");
}

static void test_last_used(struct db *db)
{
	char secret[TOKEN_TEXT_SIZE], text[160];
	struct token_info info, found;
	int64_t recent = time_now_ms() - TOKEN_USE_RECORD_MS / 2, old = time_now_ms() - 2 * TOKEN_USE_RECORD_MS;

	is_int(tokens_create(db, "used", TOKEN_ROLE_OPERATOR, "test", secret, &info), 0, "a token to use");
	snprintf(text, sizeof(text), "UPDATE tokens SET last_used = %lld WHERE id = %lld", (long long)recent,
		 (long long)info.id);
	sql(db, text);
	is_int(tokens_authenticate(db, secret, &found), 0, "used again");
	snprintf(text, sizeof(text), "SELECT last_used FROM tokens WHERE id = %lld", (long long)info.id);
	is_int(sql_int(db, text), recent, "within a minute of the last record: no write");
	snprintf(text, sizeof(text), "UPDATE tokens SET last_used = %lld WHERE id = %lld", (long long)old,
		 (long long)info.id);
	sql(db, text);
	is_int(tokens_authenticate(db, secret, &found), 0, "used later");
	snprintf(text, sizeof(text), "SELECT last_used FROM tokens WHERE id = %lld", (long long)info.id);
	ok(sql_int(db, text) > old, "a minute after the last record: recorded again");
}

struct collected {
	int n;
	int64_t ids[8];
};

static int collect(const struct token_info *info, void *userdata)
{
	struct collected *c = userdata;

	if (c->n < 8)
		c->ids[c->n] = info->id;
	c->n++;
	return 0;
}

static void test_list_and_delete(struct db *db)
{
	char secret[TOKEN_TEXT_SIZE];
	struct token_info admin1, admin2, viewer;
	struct collected c = { 0 };
	unsigned admins = 99;
	bool more = false;

	sql(db, "DELETE FROM tokens");
	is_int(tokens_count_admins(db, &admins), 0, "admins counted");
	is_int(admins, 0, "none");
	tokens_create(db, "a1", TOKEN_ROLE_ADMIN, "test", secret, &admin1);
	tokens_create(db, "a2", TOKEN_ROLE_ADMIN, "test", secret, &admin2);
	tokens_create(db, "v", TOKEN_ROLE_VIEWER, "test", secret, &viewer);
	is_int(tokens_list(db, 0, 2, collect, &c, &more), 0, "the first page");
	is_int(c.n, 2, "of 2");
	ok(more, "more follow");
	is_int(c.ids[0], admin1.id, "in id order");
	c.n = 0;
	is_int(tokens_list(db, admin2.id, 2, collect, &c, &more), 0, "the page after the second");
	is_int(c.n, 1, "holds one");
	ok(!more, "and is the last");
	is_int(c.ids[0], viewer.id, "the viewer");

	is_int(tokens_delete(db, 999999), -ENOENT, "an unknown id: -ENOENT");
	is_int(tokens_delete(db, viewer.id), 0, "a viewer is deleted");
	is_int(tokens_delete(db, viewer.id), -ENOENT, "once");
	is_int(tokens_delete(db, admin1.id), 0, "one of two admins is deleted");
	is_int(tokens_delete(db, admin2.id), -EBUSY, "the last admin is not: -EBUSY");
	is_int(tokens_count_admins(db, &admins), 0, "admins counted");
	is_int(admins, 1, "one left");
}

static void test_first_admin(struct db *db)
{
	char path[512], want[600], text[128] = "", errbuf[256] = "";
	struct token_info found;
	bool created = false;
	struct stat st;
	ssize_t n;
	int fd;

	sql(db, "DELETE FROM tokens");
	is_int(tokens_first_admin(db, dir, &created, path, sizeof(path), errbuf, sizeof(errbuf)), 0,
	       "no admin: the first admin token is made");
	ok(created, "created");
	snprintf(want, sizeof(want), "%s/" TOKEN_FIRST_ADMIN_FILE, dir);
	is_str(path, want, "in STATE_DIR/" TOKEN_FIRST_ADMIN_FILE);
	memset(&st, 0, sizeof(st));
	is_int(stat(path, &st), 0, "the file exists");
	ok((st.st_mode & 0777) == 0600, "mode 0600 (got %o)", (unsigned)(st.st_mode & 0777));
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	if (fd >= 0)
		close(fd);
	is_int((int)n, TOKEN_TEXT_SIZE, "the token and a newline");
	if (n > 0)
		text[n - 1] = '\0';
	is_int(tokens_authenticate(db, text, &found), 0, "the file's token authenticates");
	is_int(found.role, TOKEN_ROLE_ADMIN, "as an admin");
	is_str(found.name, TOKEN_FIRST_ADMIN_NAME, "named " TOKEN_FIRST_ADMIN_NAME);

	created = true;
	is_int(tokens_first_admin(db, dir, &created, path, sizeof(path), errbuf, sizeof(errbuf)), 0, "again");
	ok(!created, "with an admin: nothing made");

	/* A database restored without the admin: a new token replaces the file; a viewer holds the name. */
	sql(db, "DELETE FROM tokens");
	{
		char secret[TOKEN_TEXT_SIZE];

		tokens_create(db, TOKEN_FIRST_ADMIN_NAME, TOKEN_ROLE_VIEWER, "test", secret, NULL);
	}
	snprintf(want, sizeof(want), "%s/" TOKEN_FIRST_ADMIN_FILE ".tmp", dir);
	fd = open(want, O_WRONLY | O_CREAT, 0644);      /* left by a crash */
	if (fd >= 0)
		close(fd);
	is_int(tokens_first_admin(db, dir, &created, path, sizeof(path), errbuf, sizeof(errbuf)), 0,
	       "restored without an admin: made again (%s)", errbuf);
	ok(created, "created");
	ok(access(want, F_OK) < 0, "the stale temp file is gone");
	fd = open(path, O_RDONLY);
	n = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n > 0)
		text[n - 1] = '\0';
	is_int(tokens_authenticate(db, text, &found), 0, "the replaced file's token authenticates");
	is_int(found.role, TOKEN_ROLE_ADMIN, "as an admin");
	ok(strncmp(found.name, TOKEN_FIRST_ADMIN_NAME "-", strlen(TOKEN_FIRST_ADMIN_NAME) + 1) == 0,
	   "under another name, the viewer keeps '" TOKEN_FIRST_ADMIN_NAME "' (got '%s')", found.name);
	unlink(path);

	is_int(tokens_first_admin(db, "/nonexistent/dir", &created, path, sizeof(path), errbuf, sizeof(errbuf)), 0,
	       "an admin exists: the directory is not even looked at");
	sql(db, "DELETE FROM tokens WHERE role = 3");
	ok(tokens_first_admin(db, "/nonexistent/dir", &created, path, sizeof(path), errbuf, sizeof(errbuf)) < 0,
	   "an unwritable directory: an error");
	has_str(errbuf, "cannot write the first admin token", "that says what failed");
	is_int(sql_int(db, "SELECT count(*) FROM tokens WHERE role = 3"), 0, "and no admin token is left behind");
}

int main(void)
{
	char path[600], errbuf[512] = "";
	struct db *db = NULL;

	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/" DB_FILE_NAME, dir);
	is_int(db_open(path, &db, errbuf, sizeof(errbuf)), 0, "the database opens (%s)", errbuf);
	if (!db)
		return done_testing();
	test_names_and_roles();
	test_create_and_authenticate(db);
	test_last_used(db);
	test_list_and_delete(db);
	test_first_admin(db);
	db_free(db);
	unlink(path);
	snprintf(path, sizeof(path), "%s/" DB_FILE_NAME "-wal", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/" DB_FILE_NAME "-shm", dir);
	unlink(path);
	rmdir(dir);
	return done_testing();
}
