/* ctl_token: see ctl_token.h.
 *
 * Offline creation checks, in this order, so each mistake gets its own message: the arguments, the state dir
 * (exists, is a directory), the database file (exists, this user may write it and the directory), that it is a
 * meshfleet database (a SQLite file with schema_migrations), and only then db_open(), which migrates it like
 * meshfleetd at its start. Run as root on a state dir that belongs to the daemon's user, it first becomes that user,
 * so no file of the state dir (the WAL, its index) ever ends up owned by root where the daemon cannot open it.
 */
#define _GNU_SOURCE     /* setgroups() */
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "ctl_network.h"
#include "ctl_token.h"
#include "db.h"
#include "log.h"
#include "tokens.h"

#define CTL_TOKEN_CREATED_BY "meshfleetctl"     /* created_by of a token made offline: no token made the call */

static int usage_error(const char *why)
{
	if (why)
		fprintf(stderr, "meshfleetctl: %s\n", why);
	fprintf(stderr, "meshfleetctl: usage: token create --role viewer|operator|admin --name NAME [--state-dir DIR | "
		"--config FILE | --url URL] | token list | token delete ID\n");
	return CTL_EXIT_USAGE_ERROR;
}

/* --role and --name, checked before anything is opened. */
static int check_arguments(const struct ctl_token_options *options, enum token_role *ret_role)
{
	enum token_role role;

	if (!options->role)
		return usage_error("token create: --role is missing (viewer, operator or admin)");
	if (!options->name)
		return usage_error("token create: --name is missing");
	if (token_role_from_string(options->role, &role) < 0) {
		fprintf(stderr, "meshfleetctl: --role '%s': expected viewer, operator or admin\n", options->role);
		return CTL_EXIT_USAGE_ERROR;
	}
	if (!token_name_valid(options->name)) {
		fprintf(stderr, "meshfleetctl: --name '%s': expected 1 to %d characters of A-Z a-z 0-9 . _ -\n",
			options->name, TOKEN_NAME_MAX);
		return CTL_EXIT_USAGE_ERROR;
	}
	*ret_role = role;
	return 0;
}

/* The token alone on stdout (so TOKEN=$(meshfleetctl token create ...) works), or one JSON object; the note that
 * it is shown once on stderr. */
static int print_created(const struct ctl_token_options *options, int64_t id, const char *name, const char *role,
			 const char *secret, const char *where)
{
	json_t *o;
	int r = 0;

	if (options->json) {
		o = json_pack("{s:I, s:s, s:s, s:s}", "id", (json_int_t)id, "name", name, "role", role, "token", secret);
		if (!o || json_dumpf(o, stdout, JSON_COMPACT) < 0 || putchar('\n') == EOF)
			r = -EIO;
		/* jansson keeps its own copy of the secret: wipe it before the object is freed. */
		if (o && json_is_string(json_object_get(o, "token")))
			explicit_bzero((char *)json_string_value(json_object_get(o, "token")), strlen(secret));
		json_decref(o);
	} else if (printf("%s\n", secret) < 0) {
		r = -EIO;
	}
	if (fflush(stdout) != 0)
		r = -EIO;
	if (r < 0) {
		fprintf(stderr, "meshfleetctl: created token '%s' (id %" PRId64 ") %s, but could not print it: %s; "
			"delete it (meshfleetctl token delete %" PRId64 ") and create another\n", name, id, where,
			strerror(errno ? errno : EIO), id);
		return CTL_EXIT_FAILED;
	}
	fprintf(stderr, "meshfleetctl: created token '%s' (id %" PRId64 ", role %s) %s; it is shown this once: "
		"store it now\n", name, id, role, where);
	return 0;
}

/* --- token create, offline --- */

static void describe_owner(const struct stat *st, char *out, size_t size)
{
	struct passwd *pw = getpwuid(st->st_uid);

	if (pw)
		snprintf(out, size, "'%s' (uid %u)", pw->pw_name, (unsigned)st->st_uid);
	else
		snprintf(out, size, "uid %u", (unsigned)st->st_uid);
}

static int permission_denied(const char *path, const struct stat *st)
{
	char owner[128];
	struct passwd *pw = getpwuid(st->st_uid);

	describe_owner(st, owner, sizeof(owner));
	fprintf(stderr, "meshfleetctl: permission denied: '%s' belongs to %s and this user may not write it; run "
		"this as that user (sudo -u %s meshfleetctl token create ...) or as root\n", path, owner,
		pw ? pw->pw_name : "USER");
	return CTL_EXIT_FAILED;
}

/* Root becomes the owner of the database, so that SQLite creates its WAL files as the daemon would. */
static int become_owner(const char *db_path, const struct stat *st, bool verbose)
{
	char owner[128];

	if (geteuid() != 0 || st->st_uid == 0)
		return 0;
	describe_owner(st, owner, sizeof(owner));
	if (setgroups(0, NULL) < 0 || setgid(st->st_gid) < 0 || setuid(st->st_uid) < 0) {
		fprintf(stderr, "meshfleetctl: cannot switch to %s, the owner of '%s': %s\n", owner, db_path,
			strerror(errno));
		return CTL_EXIT_FAILED;
	}
	if (verbose)
		fprintf(stderr, "meshfleetctl: running as %s, gid %u, the owner of '%s'\n", owner, (unsigned)st->st_gid,
			db_path);
	return 0;
}

/* A SQLite file with meshfleet's schema_migrations table, opened read-only so nothing is written to anything
 * else. Sets *ret_version to its schema version. */
static int check_meshfleet_db(const char *db_path, int *ret_version)
{
	sqlite3 *handle = NULL;
	sqlite3_stmt *stmt = NULL;
	int rc, status = CTL_EXIT_FAILED;

	rc = sqlite3_open_v2(db_path, &handle, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(handle, 2000);
		rc = sqlite3_prepare_v2(handle, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
					"name = 'schema_migrations'", -1, &stmt, NULL);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		fprintf(stderr, "meshfleetctl: '%s' is not a meshfleet database: %s\n", db_path,
			handle ? sqlite3_errmsg(handle) : sqlite3_errstr(rc));
		goto out;
	}
	if (sqlite3_column_int(stmt, 0) != 1) {
		fprintf(stderr, "meshfleetctl: '%s' is a SQLite database, but not meshfleet's (it has no "
			"schema_migrations table): is this the daemon's state directory?\n", db_path);
		goto out;
	}
	sqlite3_finalize(stmt);
	stmt = NULL;
	rc = sqlite3_prepare_v2(handle, "SELECT coalesce(max(version), 0) FROM schema_migrations", -1, &stmt, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW) {
		fprintf(stderr, "meshfleetctl: '%s': cannot read the schema version: %s\n", db_path,
			sqlite3_errmsg(handle));
		goto out;
	}
	*ret_version = sqlite3_column_int(stmt, 0);
	status = 0;
out:
	sqlite3_finalize(stmt);
	sqlite3_close(handle);
	return status;
}

static int open_state_db(const struct ctl_token_options *options, char *db_path, size_t db_path_size,
			 struct db **ret_db)
{
	char state_dir[PATH_MAX], err[PATH_MAX + 512];
	struct stat st;
	int r, version = 0;

	r = ctl_http_state_dir(options->auth, state_dir, sizeof(state_dir), err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "meshfleetctl: %s\n", err);
		return CTL_EXIT_FAILED;
	}
	if (stat(state_dir, &st) < 0) {
		if (errno == ENOENT)
			fprintf(stderr, "meshfleetctl: the state directory '%s' does not exist: give the daemon's with "
				"--state-dir or --config (meshfleetd creates it at its first start)\n", state_dir);
		else
			fprintf(stderr, "meshfleetctl: the state directory '%s': %s%s\n", state_dir, strerror(errno),
				errno == EACCES ? ": run this as the daemon's user or as root" : "");
		return CTL_EXIT_FAILED;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "meshfleetctl: the state directory '%s' is not a directory\n", state_dir);
		return CTL_EXIT_FAILED;
	}
	if ((size_t)snprintf(db_path, db_path_size, "%s/" DB_FILE_NAME, state_dir) >= db_path_size) {
		fprintf(stderr, "meshfleetctl: the state directory '%s' is too long\n", state_dir);
		return CTL_EXIT_FAILED;
	}
	/* A missing database is not created: a mistyped directory must not get a meshfleet.db of its own. */
	if (stat(db_path, &st) < 0) {
		if (errno == ENOENT)
			fprintf(stderr, "meshfleetctl: no meshfleet database in '%s' (no " DB_FILE_NAME "): is it the "
				"daemon's state directory? meshfleetd creates the database at its first start\n",
				state_dir);
		else
			fprintf(stderr, "meshfleetctl: '%s': %s%s\n", db_path, strerror(errno),
				errno == EACCES ? ": run this as the daemon's user or as root" : "");
		return CTL_EXIT_FAILED;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "meshfleetctl: '%s' is not a meshfleet database: not a regular file\n", db_path);
		return CTL_EXIT_FAILED;
	}
	r = become_owner(db_path, &st, options->auth && options->auth->verbose);
	if (r)
		return r;
	/* SQLite opens a file it may not write read-only without a word; WAL needs the directory too. */
	if (access(db_path, R_OK | W_OK) < 0 || access(state_dir, W_OK | X_OK) < 0) {
		struct stat dir_st;

		if (errno == EROFS) {
			fprintf(stderr, "meshfleetctl: '%s' is on a read-only file system\n", db_path);
			return CTL_EXIT_FAILED;
		}
		if (access(db_path, R_OK | W_OK) < 0 || stat(state_dir, &dir_st) < 0)
			return permission_denied(db_path, &st);
		return permission_denied(state_dir, &dir_st);
	}
	r = check_meshfleet_db(db_path, &version);
	if (r)
		return r;
	if (version < db_schema_latest())
		fprintf(stderr, "meshfleetctl: migrating '%s' from schema version %d to %d, as meshfleetd %s does at its "
			"start\n", db_path, version, db_schema_latest(), PACKAGE_VERSION);
	r = db_open(db_path, ret_db, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "meshfleetctl: %s\n", err);
		return CTL_EXIT_FAILED;
	}
	return 0;
}

static int token_create_offline(const struct ctl_token_options *options, enum token_role role)
{
	char db_path[PATH_MAX + sizeof("/" DB_FILE_NAME)], secret[TOKEN_TEXT_SIZE], where[sizeof(db_path) + 8];
	struct token_info info;
	struct db *db = NULL;
	int r, status;

	/* db.c and tokens.c log their errors; the message printed here says what to do. */
	log_set_level(options->auth && options->auth->verbose ? LOG_DEBUG : LOG_ERR);
	status = open_state_db(options, db_path, sizeof(db_path), &db);
	if (status)
		return status;
	r = tokens_create(db, options->name, role, CTL_TOKEN_CREATED_BY, secret, &info);
	switch (r) {
	case 0:
		snprintf(where, sizeof(where), "in '%s'", db_path);
		status = print_created(options, info.id, info.name, token_role_to_string(info.role), secret, where);
		break;
	case -EEXIST:
		fprintf(stderr, "meshfleetctl: a token named '%s' exists already: pick another name, or delete that one "
			"first (meshfleetctl token list, token delete ID)\n", options->name);
		status = CTL_EXIT_FAILED;
		break;
	case -EBUSY:
		fprintf(stderr, "meshfleetctl: '%s' stayed busy (the daemon is writing): try again\n", db_path);
		status = CTL_EXIT_FAILED;
		break;
	case -EROFS:
	case -EACCES:
	case -EPERM:
		fprintf(stderr, "meshfleetctl: cannot write '%s': %s: run this as the daemon's user or as root\n",
			db_path, strerror(-r));
		status = CTL_EXIT_FAILED;
		break;
	default:
		fprintf(stderr, "meshfleetctl: cannot create the token in '%s': %s\n", db_path, strerror(-r));
		status = CTL_EXIT_FAILED;
		break;
	}
	explicit_bzero(secret, sizeof(secret));
	db_free(db);
	return status;
}

/* --- token create, list, delete over the REST API --- */

static int token_create_api(const struct ctl_token_options *options, enum token_role role)
{
	struct ctl_http_response res;
	json_t *request, *doc;
	const char *secret, *name, *role_text;
	char *body, where[64];
	json_int_t id;
	int status;

	request = json_pack("{s:s, s:s}", "name", options->name, "role", token_role_to_string(role));
	body = request ? json_dumps(request, JSON_COMPACT) : NULL;
	json_decref(request);
	if (!body) {
		fprintf(stderr, "meshfleetctl: out of memory\n");
		return CTL_EXIT_FAILED;
	}
	status = ctl_http_expect(options->url, "POST", "/api/v1/tokens", body, strlen(body), 201, &res) < 0 ?
		 CTL_EXIT_FAILED : 0;
	free(body);
	if (status)
		return status;
	doc = json_loads(res.body, 0, NULL);
	secret = json_string_value(json_object_get(doc, "token"));
	name = json_string_value(json_object_get(doc, "name"));
	role_text = json_string_value(json_object_get(doc, "role"));
	id = json_integer_value(json_object_get(doc, "id"));
	if (!secret || !name || !role_text || !json_is_integer(json_object_get(doc, "id"))) {
		fprintf(stderr, "meshfleetctl: the daemon answered 201 Created, but %s; list the tokens and delete the "
			"new one (meshfleetctl token list, token delete ID)\n",
			doc ? "without the id, name, role or token of the new token" : "not in JSON");
		status = CTL_EXIT_FAILED;
	} else {
		snprintf(where, sizeof(where), "through the daemon's API");
		status = print_created(options, id, name, role_text, secret, where);
		explicit_bzero((char *)secret, strlen(secret));
	}
	json_decref(doc);
	explicit_bzero(res.body, res.body_len);
	ctl_http_response_done(&res);
	return status;
}

/* A time of the API: milliseconds since the epoch (0 or null: never) or already text. */
static void format_time(const json_t *value, char *out, size_t size)
{
	struct tm tm;
	time_t t;

	if (json_is_string(value)) {
		snprintf(out, size, "%s", json_string_value(value));
		return;
	}
	if (!json_is_integer(value) || json_integer_value(value) <= 0) {
		snprintf(out, size, "never");
		return;
	}
	t = (time_t)(json_integer_value(value) / 1000);
	if (!localtime_r(&t, &tm) || strftime(out, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		snprintf(out, size, "%lld", (long long)json_integer_value(value));
}

/* The first of @names that @o has. */
static json_t *field(const json_t *o, const char *const *names)
{
	for (; *names; names++) {
		json_t *v = json_object_get(o, *names);

		if (v)
			return v;
	}
	return NULL;
}

static void print_token_lines(const json_t *tokens)
{
	static const char *const created_names[] = { "created_at", "created_at_ms", NULL };
	static const char *const used_names[] = { "last_used_at", "last_used", "last_used_ms", NULL };
	char created[32], used[32];
	size_t i;
	json_t *t;

	printf("%-6s %-24s %-9s %-20s %-20s %s\n", "ID", "NAME", "ROLE", "CREATED", "LAST USED", "CREATED BY");
	json_array_foreach(tokens, i, t) {
		const char *by = json_string_value(json_object_get(t, "created_by"));

		format_time(field(t, created_names), created, sizeof(created));
		format_time(field(t, used_names), used, sizeof(used));
		printf("%-6lld %-24s %-9s %-20s %-20s %s\n", (long long)json_integer_value(json_object_get(t, "id")),
		       json_string_value(json_object_get(t, "name")) ? json_string_value(json_object_get(t, "name")) : "?",
		       json_string_value(json_object_get(t, "role")) ? json_string_value(json_object_get(t, "role")) : "?",
		       created, used, by && *by ? by : "-");
	}
}

/* Every page of GET /api/v1/tokens into one array. */
static int token_list(const struct ctl_token_options *options)
{
	json_t *all = NULL;
	int status = CTL_EXIT_FAILED;

	if (ctl_http_get_all(options->url, "/api/v1/tokens", "tokens", &all) < 0)
		return CTL_EXIT_FAILED;
	if (options->json) {
		json_t *o = json_pack("{s:O}", "tokens", all);

		if (!o || json_dumpf(o, stdout, JSON_COMPACT) < 0) {
			json_decref(o);
			fprintf(stderr, "meshfleetctl: cannot print the JSON\n");
			goto out;
		}
		putchar('\n');
		json_decref(o);
	} else {
		print_token_lines(all);
	}
	status = 0;
out:
	json_decref(all);
	return status;
}

static int token_delete(const struct ctl_token_options *options, const char *id_text)
{
	struct ctl_http_response res;
	char path[64], *end;
	long long id;

	errno = 0;
	id = strtoll(id_text, &end, 10);
	if (errno || end == id_text || *end || id <= 0 || id_text[0] == '+') {
		fprintf(stderr, "meshfleetctl: token delete '%s': expected the token's id, a positive number (meshfleetctl "
			"token list shows them)\n", id_text);
		return CTL_EXIT_USAGE_ERROR;
	}
	snprintf(path, sizeof(path), "/api/v1/tokens/%lld", id);
	if (ctl_http_expect(options->url, "DELETE", path, NULL, 0, 204, &res) < 0)
		return CTL_EXIT_FAILED;
	ctl_http_response_done(&res);
	if (options->json)
		printf("{\"id\":%lld,\"deleted\":true}\n", id);
	else
		printf("deleted token %lld\n", id);
	return 0;
}

int ctl_token_main(const struct ctl_token_options *options, int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : "";
	enum token_role role = TOKEN_ROLE_VIEWER;
	int r;

	if (strcmp(cmd, "create") == 0 && argc == 1) {
		r = check_arguments(options, &role);
		if (r)
			return r;
		if (options->url_given)
			return token_create_api(options, role);
		return token_create_offline(options, role);
	}
	if (strcmp(cmd, "list") == 0 && argc == 1)
		return token_list(options);
	if (strcmp(cmd, "delete") == 0 && argc == 2)
		return token_delete(options, argv[1]);
	return usage_error(NULL);
}
