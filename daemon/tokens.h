/* tokens: the API's bearer tokens and their roles, in the `tokens` table (migration 6). docs/api.md,
 * "Authentication", describes them for users.
 *
 * A token is TOKEN_PREFIX and 64 lowercase hex digits: 256 bits from RAND_bytes(). It is shown once, when created;
 * the table keeps only the SHA-256 of its whole text. Authentication hashes the presented text, finds the row by
 * that hash (an index) and compares the stored hash with CRYPTO_memcmp(). The index lookup leaks nothing worth
 * having: its timing can at most tell an attacker how much of the *hash* of their guess matches a stored hash,
 * and since the secret has 256 random bits and SHA-256 is preimage-resistant, knowing a prefix of a stored hash
 * brings them no closer to a token that hashes to it. The constant-time compare is a second line that costs
 * nothing. A database copy alone does not let anyone in either: hashes cannot be presented.
 *
 * Glossary: secret = the token's text (mft_...); principal = the token a request came with; role = what a token
 * may do: viewer (read), operator (nodes, groups, firmware, campaigns), admin (tokens, network keys); a higher
 * role includes the lower ones.
 */
#ifndef MESHFLEET_TOKENS_H
#define MESHFLEET_TOKENS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

#define TOKEN_PREFIX "mft_"                 /* then 64 lowercase hex digits = 256 random bits (RAND_bytes) */
#define TOKEN_RANDOM_BYTES 32
#define TOKEN_TEXT_SIZE 69                  /* prefix + 64 + NUL */
#define TOKEN_NAME_MAX 64                   /* name: 1..64 of [A-Za-z0-9._-] ; unique among live tokens */
#define TOKEN_USE_RECORD_MS 60000           /* last_used_ms is written at most this often per token */
#define TOKEN_LIST_DEFAULT 100
#define TOKEN_LIST_MAX 1000
#define TOKEN_FIRST_ADMIN_NAME "admin"      /* the token a daemon without any admin token creates */

enum token_role { TOKEN_ROLE_VIEWER = 1, TOKEN_ROLE_OPERATOR = 2, TOKEN_ROLE_ADMIN = 3 };  /* ordered: higher includes lower */

const char *token_role_to_string(enum token_role role);           /* "viewer" "operator" "admin" */
int token_role_from_string(const char *text, enum token_role *ret); /* 0 or -EINVAL */
bool token_name_valid(const char *name);

struct token_info {
	int64_t id;
	char name[TOKEN_NAME_MAX + 1];
	enum token_role role;
	int64_t created_at_ms;
	int64_t last_used_ms;               /* 0 = never */
	char created_by[TOKEN_NAME_MAX + 1];  /* the creating token's name, or "meshfleetd" / "meshfleetctl" */
};

/* Creates a token; @secret receives the text shown once. Returns 0, -EEXIST (name taken), -EINVAL, or a db error. */
int tokens_create(struct db *db, const char *name, enum token_role role, const char *created_by,
		  char secret[TOKEN_TEXT_SIZE], struct token_info *ret_info);

/* Returns 0 and fills @ret_info when @secret is a live token; -EACCES otherwise (malformed or unknown); db error.
 * Records the use (last_used_ms) at most once per TOKEN_USE_RECORD_MS per token. */
int tokens_authenticate(struct db *db, const char *secret, struct token_info *ret_info);

/* Calls @fn for up to @limit tokens with an id above @after_id (0 = from the start), in id order; *ret_more says
 * whether more follow. A non-zero return of @fn stops the walk and is returned. */
typedef int (*tokens_list_fn)(const struct token_info *info, void *userdata);
int tokens_list(struct db *db, int64_t after_id, unsigned limit, tokens_list_fn fn, void *userdata,
		bool *ret_more);

/* Returns 0, -ENOENT, or -EBUSY when @id is the last admin token (without one nobody could manage tokens). */
int tokens_delete(struct db *db, int64_t id);   /* 0, -ENOENT */

/* The number of admin tokens. Returns 0 or a db error. */
int tokens_count_admins(struct db *db, unsigned *ret_count);

/* First start (or a database restored without one): when no admin token exists, creates one named
 * TOKEN_FIRST_ADMIN_NAME and writes its text to STATE_DIR/TOKEN_FIRST_ADMIN_FILE, mode 0600 from creation
 * (temp file → fsync → rename → fsync the directory, so an older file is replaced whole). The token is committed
 * only once the file is written. *ret_created says whether it did; @ret_path receives the file's path.
 * Returns 0 or a negative errno with the reason in @errbuf. */
#define TOKEN_FIRST_ADMIN_FILE "admin.token"
int tokens_first_admin(struct db *db, const char *state_dir, bool *ret_created, char *ret_path, size_t path_len,
		       char *errbuf, size_t errlen);

#endif
