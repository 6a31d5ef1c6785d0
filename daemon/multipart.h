/* multipart: a multipart/form-data request body (what `curl -F` and a browser form send) that http.c has already
 * buffered, read with libmicrohttpd's post processor under limits: at most one file part and a few short text
 * fields, all named in advance. Used by POST /api/v1/firmware (docs/api.md); only the loop thread calls it, inside
 * a route handler (the post processor reads the request's Content-Type from the connection).
 *
 * Glossary:
 *   part      - one section of the body between two boundary lines, with its own headers
 *   file part - the part named by multipart_limits.file_field; its filename is kept as a hint
 *   field     - any other part: a short text value
 */
#ifndef MESHFLEET_MULTIPART_H
#define MESHFLEET_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct MHD_Connection;

#define MULTIPART_FIELDS_MAX 16         /* text fields in one body */
#define MULTIPART_NAME_MAX 32           /* bytes of a field name */
#define MULTIPART_VALUE_MAX 512         /* bytes of a field value: the longest parameter is 255 bytes in hex */
#define MULTIPART_FILENAME_MAX 255      /* bytes of the file part's filename kept (longer ones are cut) */
#define MULTIPART_PP_BUFFER 65536       /* the post processor's buffer: MHD suggests 32 or 64 KiB for speed */

struct multipart_limits {
	const char *file_field;                 /* the file part's name ("file") */
	size_t file_max;                        /* bytes of the file part */
	const char *const *fields;              /* the text fields allowed, NULL-terminated */
};

struct multipart_field {
	char name[MULTIPART_NAME_MAX + 1];
	char value[MULTIPART_VALUE_MAX + 1];    /* NUL-terminated */
	size_t len;
};

struct multipart_form {
	bool has_file;
	uint8_t *file;                          /* owned; NULL when the file part is empty */
	size_t file_len;
	char filename[MULTIPART_FILENAME_MAX + 1];      /* "" when the part gave none */
	struct multipart_field fields[MULTIPART_FIELDS_MAX];
	size_t n_fields;
};

/* Why a body was refused: a stable token and a sentence. */
struct multipart_error {
	const char *reason;     /* static: "no_boundary", "no_file", "two_files", "unknown_field", "repeated_field",
				 * "field_too_long", "too_many_fields", "file_too_large", "transfer_encoding",
				 * "malformed" (includes a truncated body) */
	char message[256];
};

/* Reads @len bytes of @body (borrowed), the body of the request on @conn whose Content-Type is
 * multipart/form-data. Returns 0 with *ret filled (release with multipart_form_done()); -EBADMSG with @err set
 * (-EFBIG for file_too_large); -ENOMEM. On failure *ret is untouched. */
int multipart_parse(struct MHD_Connection *conn, const char *body, size_t len, const struct multipart_limits *limits,
		    struct multipart_form *ret, struct multipart_error *err);
void multipart_form_done(struct multipart_form *form);  /* a zeroed form is fine */

/* The value of field @name, or NULL. Borrowed from @form. */
const char *multipart_field(const struct multipart_form *form, const char *name);

/* Whether @content_type (a request header, may be NULL) is multipart/form-data. */
bool multipart_is_form(const char *content_type);

#endif
