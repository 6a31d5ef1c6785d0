/* multipart: see multipart.h.
 *
 * libmicrohttpd's post processor is fed the whole buffered body in one call: it needs nothing but the connection's
 * Content-Type header and the bytes, so a body that http.c collected first reads as well as one fed while it
 * arrives. It delivers each part's value in pieces (the iterator's @off is the piece's offset in the value); a new
 * part begins with offset 0. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "multipart.h"

#define FILE_GROW_FIRST (64u << 10)     /* the file buffer's first size; it doubles up to the limit */

struct parse {
	const struct multipart_limits *limits;
	struct multipart_form *form;
	struct multipart_error *err;
	size_t file_cap;
	bool in_file;                   /* the part being read is the file part */
	struct multipart_field *field;  /* the text field being read, else NULL */
	int error;                      /* set when the iterator stops the parse */
};

__attribute__((format(printf, 3, 4)))
static int refuse(struct multipart_error *err, const char *reason, const char *fmt, ...)
{
	va_list ap;

	err->reason = reason;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

bool multipart_is_form(const char *content_type)
{
	static const char type[] = "multipart/form-data";

	return content_type && strncasecmp(content_type, type, sizeof(type) - 1) == 0 &&
	       strchr("; \t", content_type[sizeof(type) - 1]) != NULL;
}

/* The boundary parameter's presence: MHD refuses to create a post processor without it, and says no more. */
static bool has_boundary(const char *content_type)
{
	const char *p = content_type;

	while ((p = strchr(p, ';')) != NULL) {
		p++;
		p += strspn(p, " \t");
		if (strncasecmp(p, "boundary=", 9) == 0 && p[9] != '\0' && p[9] != ';')
			return true;
	}
	return false;
}

/* Whether a parameter follows the boundary ("boundary=x; charset=utf-8"): libmicrohttpd 0.9.75 takes everything
 * after "boundary=" as the boundary, so such a body would be refused as having no file part, which misleads. */
static bool boundary_not_last(const char *content_type)
{
	const char *v = strstr(content_type, "boundary=");

	if (!v)
		return false;
	v += strlen("boundary=");
	if (*v == '"') {
		const char *end = strchr(v + 1, '"');

		return end && end[1 + strspn(end + 1, " \t")] != '\0';
	}
	return strchr(v, ';') != NULL;
}

static bool field_allowed(const struct multipart_limits *limits, const char *name)
{
	for (const char *const *f = limits->fields; f && *f; f++)
		if (strcmp(*f, name) == 0)
			return true;
	return false;
}

static int file_append(struct parse *p, const char *data, uint64_t off, size_t size)
{
	struct multipart_form *form = p->form;
	uint8_t *grown;
	size_t cap;

	if (off != form->file_len)
		return refuse(p->err, "malformed", "the file part arrived out of order (offset %llu, %zu bytes read)",
			      (unsigned long long)off, form->file_len);
	if (size > p->limits->file_max - form->file_len) {
		refuse(p->err, "file_too_large", "the file part is larger than %zu bytes", p->limits->file_max);
		return -EFBIG;
	}
	if (form->file_len + size > p->file_cap) {
		cap = p->file_cap ? p->file_cap : FILE_GROW_FIRST;
		while (cap < form->file_len + size)
			cap *= 2;
		if (cap > p->limits->file_max)
			cap = p->limits->file_max;
		grown = realloc(form->file, cap);
		if (!grown)
			return -ENOMEM;
		form->file = grown;
		p->file_cap = cap;
	}
	memcpy(form->file + form->file_len, data, size);
	form->file_len += size;
	return 0;
}

/* The start of a part (@off == 0): which one it is, and whether it may come. */
static int part_begin(struct parse *p, const char *key, const char *filename, const char *transfer_encoding)
{
	struct multipart_form *form = p->form;

	p->in_file = false;
	p->field = NULL;
	/* Browsers and curl send the bytes as they are; base64 or quoted-printable would need decoding. */
	if (transfer_encoding && *transfer_encoding && strcasecmp(transfer_encoding, "binary") != 0 &&
	    strcasecmp(transfer_encoding, "7bit") != 0 && strcasecmp(transfer_encoding, "8bit") != 0)
		return refuse(p->err, "transfer_encoding", "part '%s' has Content-Transfer-Encoding '%s': send it as "
			      "binary (what curl -F and browsers do)", key, transfer_encoding);
	if (strcmp(key, p->limits->file_field) == 0) {
		if (form->has_file)
			return refuse(p->err, "two_files", "two '%s' parts: send one file per request",
				      p->limits->file_field);
		form->has_file = true;
		p->in_file = true;
		if (filename)
			snprintf(form->filename, sizeof(form->filename), "%s", filename);
		return 0;
	}
	if (!field_allowed(p->limits, key)) {
		if (filename)
			return refuse(p->err, "unknown_field", "file part '%s' ('%s'): the file goes in a part named "
				      "'%s'", key, filename, p->limits->file_field);
		return refuse(p->err, "unknown_field", "unknown form field '%s'", key);
	}
	for (size_t i = 0; i < form->n_fields; i++)
		if (strcmp(form->fields[i].name, key) == 0)
			return refuse(p->err, "repeated_field", "form field '%s' is given more than once", key);
	if (form->n_fields == MULTIPART_FIELDS_MAX)
		return refuse(p->err, "too_many_fields", "more than %d form fields", MULTIPART_FIELDS_MAX);
	p->field = &form->fields[form->n_fields++];
	snprintf(p->field->name, sizeof(p->field->name), "%s", key);
	return 0;
}

static enum MHD_Result on_part(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
			       const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
			       size_t size)
{
	struct parse *p = cls;
	struct multipart_field *f;
	int r = 0;

	(void)kind;
	(void)content_type;
	if (!key)
		key = "";
	if (off == 0 && !(p->field && p->field->len == 0 && strcmp(p->field->name, key) == 0) &&
	    !(p->in_file && p->form->file_len == 0 && strcmp(key, p->limits->file_field) == 0))
		r = part_begin(p, key, filename, transfer_encoding);
	if (r == 0 && p->in_file)
		r = size ? file_append(p, data, off, size) : 0;
	else if (r == 0 && p->field) {
		f = p->field;
		if (off != f->len)
			r = refuse(p->err, "malformed", "form field '%s' arrived out of order", f->name);
		else if (size > MULTIPART_VALUE_MAX - f->len)
			r = refuse(p->err, "field_too_long", "form field '%s' is longer than %d bytes", f->name,
				   MULTIPART_VALUE_MAX);
		else {
			memcpy(f->value + f->len, data, size);
			f->len += size;
			f->value[f->len] = '\0';
		}
	}
	if (r < 0) {
		p->error = r;
		return MHD_NO;
	}
	return MHD_YES;
}

int multipart_parse(struct MHD_Connection *conn, const char *body, size_t len, const struct multipart_limits *limits,
		    struct multipart_form *ret, struct multipart_error *err)
{
	const char *type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	struct multipart_form *form = calloc(1, sizeof(*form));
	struct parse p = { .limits = limits, .form = form, .err = err };
	struct MHD_PostProcessor *pp = NULL;
	bool ok;
	int r;

	memset(err, 0, sizeof(*err));
	if (!form)
		return -ENOMEM;
	if (!multipart_is_form(type) || !has_boundary(type)) {
		r = refuse(err, "no_boundary", "Content-Type multipart/form-data needs a boundary parameter "
			   "(multipart/form-data; boundary=...): let the client (curl -F, a browser form) set it");
		goto fail;
	}
	if (boundary_not_last(type)) {
		r = refuse(err, "no_boundary", "the Content-Type's boundary must be its last parameter: '%s'", type);
		goto fail;
	}
	pp = MHD_create_post_processor(conn, MULTIPART_PP_BUFFER, on_part, &p);
	if (!pp) {
		r = refuse(err, "no_boundary", "the Content-Type's boundary cannot be used: '%s'", type);
		goto fail;
	}
	ok = len == 0 || MHD_post_process(pp, body, len) == MHD_YES;
	/* MHD_destroy_post_processor() says whether the body ended where a form ends (the closing boundary). */
	ok = MHD_destroy_post_processor(pp) == MHD_YES && ok;
	if (p.error < 0) {
		r = p.error;
		goto fail;
	}
	if (!ok) {
		r = refuse(err, "malformed", "the body is not a complete multipart/form-data form (cut short, or a "
			   "part without its headers or closing boundary)");
		goto fail;
	}
	if (!form->has_file) {
		r = refuse(err, "no_file", "no part named '%s': send the image as a file part (curl -F %s=@image.bin)",
			   limits->file_field, limits->file_field);
		goto fail;
	}
	*ret = *form;
	free(form);
	return 0;
fail:
	free(form->file);
	free(form);
	return r;
}

void multipart_form_done(struct multipart_form *form)
{
	free(form->file);
	form->file = NULL;
	form->file_len = 0;
}

const char *multipart_field(const struct multipart_form *form, const char *name)
{
	for (size_t i = 0; i < form->n_fields; i++)
		if (strcmp(form->fields[i].name, name) == 0)
			return form->fields[i].value;
	return NULL;
}
