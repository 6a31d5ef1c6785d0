/* cdb: see cdb.h. Reading walks the document once, field by field, with the JSON path of the field at hand kept
 * in struct ctx so that every refusal names it; cross-field checks (duplicates, overlaps) run on sorted copies so
 * that a fleet of 32767 nodes costs n log n, not n². Writing (cdb_to_json) starts from a copy of the document that
 * was read and replaces only what the struct models. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cdb.h"

/* What a document built from scratch declares: the 1.0.1 schema, as nRF Mesh 4.x exports it. */
#define CDB_SCHEMA "http://json-schema.org/draft-04/schema#"
#define CDB_ID "https://www.bluetooth.com/specifications/specs/mesh-cdb-1-0-1-schema.json#"
#define CDB_VERSION "1.0.1"

#define CTX_PATH_MAX 160                /* "$.nodes[32766].elements[254].models[509].subscribe[4095]" fits */
#define SHOWN_MAX 40                    /* characters of a bad value quoted in an error */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------------------------------
 * Errors: the path of the field being read, and "path: reason" when it is refused
 */

struct ctx {
	char path[CTX_PATH_MAX];
	size_t len;
	char *err;
	size_t err_len;
};

__attribute__((format(printf, 2, 3)))
static size_t enter(struct ctx *x, const char *fmt, ...)
{
	size_t mark = x->len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(x->path + x->len, sizeof(x->path) - x->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		x->len = x->len + (size_t)n < sizeof(x->path) ? x->len + (size_t)n : sizeof(x->path) - 1;
	return mark;
}

static void leave(struct ctx *x, size_t mark)
{
	x->len = mark;
	x->path[mark] = '\0';
}

__attribute__((format(printf, 2, 3)))
static int refuse(struct ctx *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!x->err || x->err_len == 0)
		return -EINVAL;
	n = snprintf(x->err, x->err_len, "%s: ", x->path);
	if (n >= 0 && (size_t)n < x->err_len) {
		va_start(ap, fmt);
		vsnprintf(x->err + n, x->err_len - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static int out_of_memory(struct ctx *x)
{
	if (x->err && x->err_len)
		snprintf(x->err, x->err_len, "out of memory");
	return -ENOMEM;
}

/* A bad value as an error quotes it: strings escaped to ASCII and cut, containers by their kind. A secret (a key)
 * is described by its type and length only. */
struct shown {
	char text[SHOWN_MAX + 16];
};

static const char *show(const json_t *v, bool secret, struct shown *buf)
{
	char *dump;
	size_t n;

	if (!v)
		return "nothing";
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_NULL:
		return "null";
	case JSON_TRUE:
		return "true";
	case JSON_FALSE:
		return "false";
	case JSON_INTEGER:
		if (secret)
			return "a number";
		snprintf(buf->text, sizeof(buf->text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf->text;
	case JSON_REAL:
		if (secret)
			return "a number";
		snprintf(buf->text, sizeof(buf->text), "%g", json_real_value(v));
		return buf->text;
	case JSON_STRING:
		if (secret) {
			snprintf(buf->text, sizeof(buf->text), "a string of %zu characters", json_string_length(v));
			return buf->text;
		}
		/* ASCII only, so that cutting it never splits a UTF-8 sequence */
		dump = json_dumps(v, JSON_ENCODE_ANY | JSON_ENSURE_ASCII);
		if (!dump)
			return "a string";
		n = strlen(dump);
		if (n > SHOWN_MAX)
			snprintf(buf->text, sizeof(buf->text), "%.*s...\"", SHOWN_MAX - 4, dump);
		else
			snprintf(buf->text, sizeof(buf->text), "%s", dump);
		free(dump);
		return buf->text;
	}
	return "a value";
}

/* ---------------------------------------------------------------------------------------------------------------
 * Text forms: hex, UUIDs, timestamps
 */

static int hex_value(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Exactly 2 * @n hex digits and nothing after them. */
static bool hex_decode(const char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_value(s[2 * i]), lo = hi < 0 ? -1 : hex_value(s[2 * i + 1]);

		if (lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return s[2 * n] == '\0';
}

static bool hex16_decode(const char *s, uint16_t *ret)
{
	uint8_t b[2];

	if (!hex_decode(s, 2, b))
		return false;
	*ret = (uint16_t)(b[0] << 8 | b[1]);
	return true;
}

/* The RFC 4122 form 8-4-4-4-12, or 32 hex digits without dashes (what nRF Mesh for iOS wrote before its 3.0). */
static bool uuid_decode(const char *s, uint8_t out[CDB_UUID_SIZE])
{
	static const size_t dashes[] = { 8, 13, 18, 23 };
	char plain[2 * CDB_UUID_SIZE + 1];
	size_t len = strlen(s), j = 0;

	if (len == 2 * CDB_UUID_SIZE)
		return hex_decode(s, CDB_UUID_SIZE, out);
	if (len != 2 * CDB_UUID_SIZE + ARRAY_SIZE(dashes))
		return false;
	for (size_t i = 0, d = 0; i < len; i++) {
		if (d < ARRAY_SIZE(dashes) && i == dashes[d]) {
			if (s[i] != '-')
				return false;
			d++;
		} else {
			plain[j++] = s[i];
		}
	}
	plain[j] = '\0';
	return hex_decode(plain, CDB_UUID_SIZE, out);
}

static void hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char digits[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0x0f];
	}
	out[2 * n] = '\0';
}

static void uuid_encode(const uint8_t u[CDB_UUID_SIZE], char out[37])
{
	char plain[2 * CDB_UUID_SIZE + 1];

	hex_encode(u, CDB_UUID_SIZE, plain);
	snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", plain, plain + 8, plain + 12, plain + 16, plain + 20);
}

static bool is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar: count in 400-year eras starting on March 1st,
 * so that the leap day is the last day of a year. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* Reads exactly @n digits. */
static bool digits(const char **s, unsigned n, unsigned *ret)
{
	unsigned v = 0;

	for (unsigned i = 0; i < n; i++) {
		if ((*s)[i] < '0' || (*s)[i] > '9')
			return false;
		v = v * 10 + (unsigned)((*s)[i] - '0');
	}
	*s += n;
	*ret = v;
	return true;
}

/* ISO-8601 / RFC 3339 date-time with an offset: 2022-12-03T20:59:22+08:00, ...22.123Z, ...22+0800. */
static bool timestamp_decode(const char *s, int64_t *ret_ms)
{
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h, mi, sec, ms = 0, oh = 0, om = 0, scale = 100;
	int sign = 0;

	if (!digits(&s, 4, &y) || *s++ != '-' || !digits(&s, 2, &mo) || *s++ != '-' || !digits(&s, 2, &d))
		return false;
	if (*s != 'T' && *s != 't')
		return false;
	s++;
	if (!digits(&s, 2, &h) || *s++ != ':' || !digits(&s, 2, &mi) || *s++ != ':' || !digits(&s, 2, &sec))
		return false;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return false;
		for (; *s >= '0' && *s <= '9'; s++) {
			ms += (unsigned)(*s - '0') * scale;
			scale /= 10;
		}
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '-' ? -1 : 1;
		if (!digits(&s, 2, &oh))
			return false;
		if (*s == ':')
			s++;
		if (!digits(&s, 2, &om))
			return false;
	} else {
		return false;   /* a local time without offset says nothing about when */
	}
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return false;
	if (d > mdays[mo - 1] + (mo == 2 && is_leap(y)))
		return false;
	*ret_ms = ((days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec) -
		   sign * (int64_t)(oh * 3600 + om * 60)) * 1000 + ms;
	return true;
}

static bool timestamp_encode(int64_t ms, char *out, size_t len)
{
	time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
	int frac = (int)(ms - (int64_t)t * 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm))
		return false;
	if (frac)
		snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
	else
		snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d+00:00", tm.tm_year + 1900, tm.tm_mon + 1,
			 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	return true;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Values: each parser runs with the path of the value entered and checks the JSON type first
 */

static int wrong_type(struct ctx *x, const json_t *v, const char *want, bool secret)
{
	struct shown s;

	return refuse(x, "must be %s (got %s)", want, show(v, secret, &s));
}

static int parse_string(struct ctx *x, const json_t *v, const char **ret)
{
	if (!json_is_string(v))
		return wrong_type(x, v, "a string", false);
	*ret = json_string_value(v);
	return 0;
}

static int parse_name(struct ctx *x, const json_t *v, char out[CDB_NAME_MAX + 1])
{
	size_t n;

	if (!json_is_string(v))
		return wrong_type(x, v, "a string", false);
	n = json_string_length(v);
	if (n > CDB_NAME_MAX)
		return refuse(x, "longer than %d bytes (got %zu)", CDB_NAME_MAX, n);
	memcpy(out, json_string_value(v), n + 1);
	return 0;
}

static int parse_bool(struct ctx *x, const json_t *v, bool *ret)
{
	if (!json_is_boolean(v))
		return wrong_type(x, v, "true or false", false);
	*ret = json_is_true(v);
	return 0;
}

static int parse_int(struct ctx *x, const json_t *v, json_int_t min, json_int_t max, const char *what,
		     json_int_t *ret)
{
	json_int_t i;

	if (!json_is_integer(v))
		return wrong_type(x, v, "an integer", false);
	i = json_integer_value(v);
	if (i < min || i > max)
		return refuse(x, "must be %s from %" JSON_INTEGER_FORMAT " to %" JSON_INTEGER_FORMAT " (got %"
			      JSON_INTEGER_FORMAT ")", what, min, max, i);
	*ret = i;
	return 0;
}

static int parse_key_index(struct ctx *x, const json_t *v, uint16_t *ret)
{
	json_int_t i;
	int r = parse_int(x, v, 0, CDB_KEY_INDEX_MAX, "a key index", &i);

	if (r == 0)
		*ret = (uint16_t)i;
	return r;
}

/* 4 hex digits in [@min, @max]; @what names the range ("a unicast address"). */
static int parse_hex16(struct ctx *x, const json_t *v, unsigned min, unsigned max, const char *what, uint16_t *ret)
{
	struct shown s;
	uint16_t u;

	if (!json_is_string(v))
		return wrong_type(x, v, "a string of 4 hex digits", false);
	if (!hex16_decode(json_string_value(v), &u))
		return refuse(x, "must be 4 hex digits (got %s)", show(v, false, &s));
	if (u < min || u > max)
		return refuse(x, "0x%04X is not %s (0x%04X-0x%04X)", u, what, min, max);
	*ret = u;
	return 0;
}

/* A key is a secret: the reason names its length or the position of the bad character, never its value. */
static int parse_key(struct ctx *x, const json_t *v, uint8_t out[CDB_KEY_SIZE])
{
	const char *s;
	size_t n;

	if (!json_is_string(v))
		return wrong_type(x, v, "a string of 32 hex digits", true);
	s = json_string_value(v);
	n = json_string_length(v);
	if (n != 2 * CDB_KEY_SIZE)
		return refuse(x, "must be 32 hex digits (got %zu)", n);
	for (size_t i = 0; i < n; i++)
		if (hex_value(s[i]) < 0)
			return refuse(x, "must be 32 hex digits (character %zu is not one)", i + 1);
	hex_decode(s, CDB_KEY_SIZE, out);
	return 0;
}

static int parse_uuid(struct ctx *x, const json_t *v, uint8_t out[CDB_UUID_SIZE])
{
	struct shown s;

	if (!json_is_string(v))
		return wrong_type(x, v, "a UUID string", false);
	if (!uuid_decode(json_string_value(v), out))
		return refuse(x, "must be a UUID, 8-4-4-4-12 hex digits with dashes or 32 without (got %s)",
			      show(v, false, &s));
	return 0;
}

static int parse_timestamp(struct ctx *x, const json_t *v, int64_t *ret)
{
	struct shown s;

	if (!json_is_string(v))
		return wrong_type(x, v, "an ISO-8601 date-time string", false);
	if (!timestamp_decode(json_string_value(v), ret))
		return refuse(x, "must be an ISO-8601 date and time with an offset, like 2024-05-01T12:00:00+02:00 "
			      "(got %s)", show(v, false, &s));
	return 0;
}

/* A group address (0xC000..@max), a virtual label (32 hex digits), or 0x0000 when @allow_none. */
static int parse_group_address(struct ctx *x, const json_t *v, bool allow_none, unsigned max, uint16_t *ret_address,
			       bool *ret_virtual, uint8_t ret_label[CDB_UUID_SIZE])
{
	struct shown s;
	const char *str;
	uint16_t u;

	if (!json_is_string(v))
		return wrong_type(x, v, "a string of 4 hex digits (group address) or 32 (virtual label)", false);
	str = json_string_value(v);
	if (json_string_length(v) == 2 * CDB_UUID_SIZE && hex_decode(str, CDB_UUID_SIZE, ret_label)) {
		*ret_address = 0;
		*ret_virtual = true;
		return 0;
	}
	if (!hex16_decode(str, &u))
		return refuse(x, "must be 4 hex digits (group address) or 32 (virtual label) (got %s)",
			      show(v, false, &s));
	if ((u < 0xC000 || u > max) && !(allow_none && u == 0))
		return refuse(x, "0x%04X is not a group address (0xC000-0x%04X%s)", u, max,
			      allow_none ? ", or 0x0000 for none" : "");
	*ret_address = u;
	*ret_virtual = false;
	return 0;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Fields: look a member up, enter its path, parse it. A missing optional field leaves *ret untouched.
 */

enum {
	OPTIONAL = 0,
	REQUIRED = 1,
};

static const json_t *enter_field(struct ctx *x, const json_t *obj, const char *name, size_t *mark)
{
	*mark = enter(x, ".%s", name);
	return json_object_get(obj, name);
}

static int missing(struct ctx *x)
{
	return refuse(x, "required field missing");
}

static void set_present(bool *present, bool value)
{
	if (present)
		*present = value;
}

/* Runs @parse on the member @name when it is present (the expression sees it as `v`), with the member's path entered;
 * refuses a missing @required one. A macro because each field has its own parse call; a GNU statement expression
 * (the build is gnu11) so that it yields the result. */
#define WITH_FIELD(x, obj, name, required, present, parse) ({ \
	size_t mark_; \
	const json_t *v = enter_field((x), (obj), (name), &mark_); \
	int r_ = v ? (parse) : (required) ? missing(x) : 0; \
	set_present((present), v != NULL); \
	leave((x), mark_); \
	r_; \
})

static int get_name(struct ctx *x, const json_t *obj, const char *name, int required, char out[CDB_NAME_MAX + 1])
{
	return WITH_FIELD(x, obj, name, required, NULL, parse_name(x, v, out));
}

static int get_bool(struct ctx *x, const json_t *obj, const char *name, int required, bool *ret, bool *present)
{
	return WITH_FIELD(x, obj, name, required, present, parse_bool(x, v, ret));
}

static int get_key_index(struct ctx *x, const json_t *obj, const char *name, uint16_t *ret)
{
	return WITH_FIELD(x, obj, name, REQUIRED, NULL, parse_key_index(x, v, ret));
}

static int get_hex16(struct ctx *x, const json_t *obj, const char *name, int required, unsigned min, unsigned max,
		     const char *what, uint16_t *ret, bool *present)
{
	return WITH_FIELD(x, obj, name, required, present, parse_hex16(x, v, min, max, what, ret));
}

static int get_key(struct ctx *x, const json_t *obj, const char *name, int required, uint8_t out[CDB_KEY_SIZE],
		   bool *present)
{
	return WITH_FIELD(x, obj, name, required, present, parse_key(x, v, out));
}

static int get_uuid(struct ctx *x, const json_t *obj, const char *name, uint8_t out[CDB_UUID_SIZE])
{
	return WITH_FIELD(x, obj, name, REQUIRED, NULL, parse_uuid(x, v, out));
}

static int get_timestamp(struct ctx *x, const json_t *obj, const char *name, int required, int64_t *ret)
{
	return WITH_FIELD(x, obj, name, required, NULL, parse_timestamp(x, v, ret));
}

/* "secure" or "insecure" */
static int parse_security(struct ctx *x, const json_t *v, bool *ret)
{
	struct shown s;
	const char *str;

	if (!json_is_string(v))
		return wrong_type(x, v, "\"secure\" or \"insecure\"", false);
	str = json_string_value(v);
	if (strcmp(str, "secure") != 0 && strcmp(str, "insecure") != 0)
		return refuse(x, "must be \"secure\" or \"insecure\" (got %s)", show(v, false, &s));
	*ret = str[0] == 's';
	return 0;
}

static int get_security(struct ctx *x, const json_t *obj, const char *name, bool *ret)
{
	return WITH_FIELD(x, obj, name, OPTIONAL, NULL, parse_security(x, v, ret));
}

static int parse_array(struct ctx *x, const json_t *v, size_t max, const json_t **ret)
{
	if (!json_is_array(v))
		return wrong_type(x, v, "an array", false);
	if (json_array_size(v) > max)
		return refuse(x, "more than %zu entries (got %zu)", max, json_array_size(v));
	*ret = v;
	return 0;
}

/* *ret is NULL when the array is absent and optional. */
static int get_array(struct ctx *x, const json_t *obj, const char *name, int required, size_t max,
		     const json_t **ret)
{
	*ret = NULL;
	return WITH_FIELD(x, obj, name, required, NULL, parse_array(x, v, max, ret));
}

static int check_object(struct ctx *x, const json_t *v)
{
	return json_is_object(v) ? 0 : wrong_type(x, v, "an object", false);
}

/* calloc() that is not asked for zero bytes: NULL for an empty array is not a failure. */
static void *new_array(size_t n, size_t size, bool *failed)
{
	void *p;

	if (n == 0)
		return NULL;
	p = calloc(n, size);
	if (!p)
		*failed = true;
	return p;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Cross checks on sorted copies
 */

#define IDENT_SIZE 20

/* An identity (a key index, an address, a UUID...) and where it was found. */
struct ident {
	uint8_t key[IDENT_SIZE];
	size_t pos;
};

static int ident_cmp(const void *a, const void *b)
{
	const struct ident *p = a, *q = b;
	int d = memcmp(p->key, q->key, IDENT_SIZE);

	if (d)
		return d;
	return p->pos < q->pos ? -1 : p->pos > q->pos;
}

static void ident_u16(struct ident *id, uint8_t tag, uint16_t v, size_t pos)
{
	memset(id->key, 0, IDENT_SIZE);
	id->key[0] = tag;
	id->key[1] = (uint8_t)(v >> 8);
	id->key[2] = (uint8_t)v;
	id->pos = pos;
}

static void ident_bytes(struct ident *id, uint8_t tag, const uint8_t *p, size_t n, size_t pos)
{
	memset(id->key, 0, IDENT_SIZE);
	id->key[0] = tag;
	memcpy(id->key + 1, p, n);
	id->pos = pos;
}

/* Sorts @ids; returns true and the first duplicate in document order: the entry at *ret_second has the same
 * identity as the earlier one at *ret_first. */
static bool find_duplicate(struct ident *ids, size_t n, size_t *ret_first, size_t *ret_second)
{
	bool found = false;

	qsort(ids, n, sizeof(*ids), ident_cmp);
	for (size_t i = 0; i + 1 < n; i++) {
		if (memcmp(ids[i].key, ids[i + 1].key, IDENT_SIZE) != 0)
			continue;
		if (!found || ids[i + 1].pos < *ret_second) {
			*ret_first = ids[i].pos;
			*ret_second = ids[i + 1].pos;
			found = true;
		}
		while (i + 1 < n && memcmp(ids[i].key, ids[i + 1].key, IDENT_SIZE) == 0)
			i++;
	}
	return found;
}

/* A range of addresses and where it was found (owner: provisioner or node; pos: range index). */
struct span {
	uint32_t low, high;
	size_t owner, pos;
};

static int span_cmp(const void *a, const void *b)
{
	const struct span *p = a, *q = b;

	if (p->low != q->low)
		return p->low < q->low ? -1 : 1;
	if (p->owner != q->owner)
		return p->owner < q->owner ? -1 : 1;
	return p->pos < q->pos ? -1 : p->pos > q->pos;
}

/* Sorts @spans; returns the index i of the first pair (i, i + 1) that overlaps, or @n. Sorted by start, two ranges
 * overlap somewhere exactly when two neighbours do. */
static size_t find_overlap(struct span *spans, size_t n)
{
	qsort(spans, n, sizeof(*spans), span_cmp);
	for (size_t i = 0; i + 1 < n; i++)
		if (spans[i + 1].low <= spans[i].high)
			return i;
	return n;
}

/* ---------------------------------------------------------------------------------------------------------------
 * The document
 */

static int parse_net_key(struct ctx *x, const json_t *o, struct cdb_net_key *k)
{
	json_int_t phase = 0;
	int64_t ts;
	int r;

	if ((r = check_object(x, o)) ||
	    (r = get_name(x, o, "name", OPTIONAL, k->name)) ||
	    (r = get_key_index(x, o, "index", &k->index)) ||
	    (r = get_key(x, o, "key", REQUIRED, k->key, NULL)) ||
	    (r = get_key(x, o, "oldKey", OPTIONAL, k->old_key, &k->has_old_key)) ||
	    (r = WITH_FIELD(x, o, "phase", OPTIONAL, NULL, parse_int(x, v, 0, 2, "a key refresh phase", &phase))) ||
	    (r = get_security(x, o, "minSecurity", &k->min_security_secure)) ||
	    (r = get_timestamp(x, o, "timestamp", OPTIONAL, &ts)))
		return r;
	k->phase = (uint8_t)phase;
	if (k->phase != 0 && !k->has_old_key) {
		size_t mark = enter(x, ".oldKey");

		r = refuse(x, "required when phase is %u (a key refresh is in progress)", k->phase);
		leave(x, mark);
	}
	return r;
}

static int parse_app_key(struct ctx *x, const json_t *o, const struct cdb *c, struct cdb_app_key *k)
{
	int r;

	if ((r = check_object(x, o)) ||
	    (r = get_name(x, o, "name", OPTIONAL, k->name)) ||
	    (r = get_key_index(x, o, "index", &k->index)) ||
	    (r = get_key_index(x, o, "boundNetKey", &k->bound_net_key)) ||
	    (r = get_key(x, o, "key", REQUIRED, k->key, NULL)) ||
	    (r = get_key(x, o, "oldKey", OPTIONAL, k->old_key, &k->has_old_key)))
		return r;
	if (!cdb_net_key(c, k->bound_net_key)) {
		size_t mark = enter(x, ".boundNetKey");

		r = refuse(x, "no network key has index %u", k->bound_net_key);
		leave(x, mark);
	}
	return r;
}

/* The key indexes of $.netKeys / $.appKeys (@top_level) or of a node's lists must differ. */
static int check_unique_indexes(struct ctx *x, const char *array, const uint16_t *indexes, size_t n,
				bool top_level)
{
	struct ident *ids;
	size_t first, second;
	int r = 0;

	if (n < 2)
		return 0;
	ids = calloc(n, sizeof(*ids));
	if (!ids)
		return out_of_memory(x);
	for (size_t i = 0; i < n; i++)
		ident_u16(&ids[i], 0, indexes[i], i);
	if (find_duplicate(ids, n, &first, &second)) {
		size_t mark = enter(x, ".%s[%zu].index", array, second);

		if (top_level)
			r = refuse(x, "%u is also the index of $.%s[%zu]", indexes[second], array, first);
		else
			r = refuse(x, "%u is listed twice (also at %s[%zu])", indexes[second], array, first);
		leave(x, mark);
	}
	free(ids);
	return r;
}

static int parse_keys(struct ctx *x, const json_t *root, struct cdb *c)
{
	const json_t *nets, *apps;
	bool failed = false;
	uint16_t *indexes;
	size_t mark;
	int r;

	if ((r = get_array(x, root, "netKeys", REQUIRED, CDB_LIST_MAX, &nets)) ||
	    (r = get_array(x, root, "appKeys", REQUIRED, CDB_LIST_MAX, &apps)))
		return r;
	if (json_array_size(nets) == 0) {
		mark = enter(x, ".netKeys");
		r = refuse(x, "must hold at least one network key");
		leave(x, mark);
		return r;
	}
	c->net_keys = new_array(json_array_size(nets), sizeof(*c->net_keys), &failed);
	c->app_keys = new_array(json_array_size(apps), sizeof(*c->app_keys), &failed);
	indexes = new_array(json_array_size(nets) + json_array_size(apps), sizeof(*indexes), &failed);
	if (failed) {
		free(indexes);
		return out_of_memory(x);
	}
	for (size_t i = 0; i < json_array_size(nets) && r == 0; i++) {
		mark = enter(x, ".netKeys[%zu]", i);
		r = parse_net_key(x, json_array_get(nets, i), &c->net_keys[i]);
		leave(x, mark);
		c->n_net_keys = i + 1;
		indexes[i] = c->net_keys[i].index;
	}
	if (r == 0)
		r = check_unique_indexes(x, "netKeys", indexes, c->n_net_keys, true);
	for (size_t i = 0; i < json_array_size(apps) && r == 0; i++) {
		mark = enter(x, ".appKeys[%zu]", i);
		r = parse_app_key(x, json_array_get(apps, i), c, &c->app_keys[i]);
		leave(x, mark);
		c->n_app_keys = i + 1;
		indexes[i] = c->app_keys[i].index;
	}
	if (r == 0)
		r = check_unique_indexes(x, "appKeys", indexes, c->n_app_keys, true);
	free(indexes);
	return r;
}

enum range_kind {
	RANGE_UNICAST,
	RANGE_GROUP,
	RANGE_SCENE,
};

static const struct range_spec {
	const char *array, *low, *high, *what;
	unsigned min, max;
} range_specs[] = {
	[RANGE_UNICAST] = { "allocatedUnicastRange", "lowAddress", "highAddress", "a unicast address", 0x0001, 0x7FFF },
	[RANGE_GROUP] = { "allocatedGroupRange", "lowAddress", "highAddress", "a group address", 0xC000, 0xFEFF },
	[RANGE_SCENE] = { "allocatedSceneRange", "firstScene", "lastScene", "a scene number", 0x0001, 0xFFFF },
};

static int parse_ranges(struct ctx *x, const json_t *o, enum range_kind kind, int required,
			struct cdb_range **ret, size_t *ret_n)
{
	const struct range_spec *spec = &range_specs[kind];
	const json_t *arr;
	bool failed = false;
	size_t mark;
	int r;

	if ((r = get_array(x, o, spec->array, required, CDB_LIST_MAX, &arr)) || !arr)
		return r;
	*ret = new_array(json_array_size(arr), sizeof(**ret), &failed);
	if (failed)
		return out_of_memory(x);
	*ret_n = json_array_size(arr);
	for (size_t i = 0; i < *ret_n && r == 0; i++) {
		const json_t *item = json_array_get(arr, i);
		struct cdb_range *range = &(*ret)[i];

		mark = enter(x, ".%s[%zu]", spec->array, i);
		if ((r = check_object(x, item)) == 0 &&
		    (r = get_hex16(x, item, spec->low, REQUIRED, spec->min, spec->max, spec->what, &range->low,
				   NULL)) == 0 &&
		    (r = get_hex16(x, item, spec->high, REQUIRED, spec->min, spec->max, spec->what, &range->high,
				   NULL)) == 0 &&
		    range->low > range->high)
			r = refuse(x, "%s 0x%04X is above %s 0x%04X", spec->low, range->low, spec->high, range->high);
		leave(x, mark);
	}
	return r;
}

static int check_range_overlaps(struct ctx *x, const struct cdb *c, enum range_kind kind)
{
	const struct range_spec *spec = &range_specs[kind];
	struct span *spans;
	size_t n = 0, k = 0, i;
	int r = 0;

	for (i = 0; i < c->n_provisioners; i++)
		n += kind == RANGE_UNICAST ? c->provisioners[i].n_unicast :
		     kind == RANGE_GROUP ? c->provisioners[i].n_group : c->provisioners[i].n_scene;
	if (n < 2)
		return 0;
	spans = calloc(n, sizeof(*spans));
	if (!spans)
		return out_of_memory(x);
	for (i = 0; i < c->n_provisioners; i++) {
		const struct cdb_provisioner *p = &c->provisioners[i];
		const struct cdb_range *ranges = kind == RANGE_UNICAST ? p->unicast : kind == RANGE_GROUP ? p->group :
						 p->scene;
		size_t count = kind == RANGE_UNICAST ? p->n_unicast : kind == RANGE_GROUP ? p->n_group : p->n_scene;

		for (size_t j = 0; j < count; j++)
			spans[k++] = (struct span){ ranges[j].low, ranges[j].high, i, j };
	}
	i = find_overlap(spans, n);
	if (i < n) {
		/* name the one that comes later in the document */
		const struct span *a = &spans[i], *b = &spans[i + 1];
		size_t mark;

		if (span_cmp(&(struct span){ 0, 0, a->owner, a->pos }, &(struct span){ 0, 0, b->owner, b->pos }) > 0) {
			const struct span *t = a;

			a = b;
			b = t;
		}
		mark = enter(x, ".provisioners[%zu].%s[%zu]", b->owner, spec->array, b->pos);
		r = refuse(x, "0x%04X-0x%04X overlaps $.provisioners[%zu].%s[%zu] (0x%04X-0x%04X)", (unsigned)b->low,
			   (unsigned)b->high, a->owner, spec->array, a->pos, (unsigned)a->low, (unsigned)a->high);
		leave(x, mark);
	}
	free(spans);
	return r;
}

static int parse_provisioners(struct ctx *x, const json_t *root, struct cdb *c)
{
	const json_t *arr;
	struct ident *ids;
	bool failed = false;
	size_t mark, first, second;
	int r;

	if ((r = get_array(x, root, "provisioners", REQUIRED, CDB_LIST_MAX, &arr)))
		return r;
	c->provisioners = new_array(json_array_size(arr), sizeof(*c->provisioners), &failed);
	if (failed)
		return out_of_memory(x);
	for (size_t i = 0; i < json_array_size(arr) && r == 0; i++) {
		const json_t *o = json_array_get(arr, i);
		struct cdb_provisioner *p = &c->provisioners[i];

		c->n_provisioners = i + 1;
		mark = enter(x, ".provisioners[%zu]", i);
		if ((r = check_object(x, o)) == 0 &&
		    (r = get_name(x, o, "provisionerName", REQUIRED, p->name)) == 0 &&
		    (r = get_uuid(x, o, "UUID", p->uuid)) == 0 &&
		    (r = parse_ranges(x, o, RANGE_UNICAST, REQUIRED, &p->unicast, &p->n_unicast)) == 0 &&
		    (r = parse_ranges(x, o, RANGE_GROUP, REQUIRED, &p->group, &p->n_group)) == 0)
			r = parse_ranges(x, o, RANGE_SCENE, OPTIONAL, &p->scene, &p->n_scene);
		leave(x, mark);
	}
	if (r || (r = check_range_overlaps(x, c, RANGE_UNICAST)) || (r = check_range_overlaps(x, c, RANGE_GROUP)) ||
	    (r = check_range_overlaps(x, c, RANGE_SCENE)) || c->n_provisioners < 2)
		return r;
	ids = calloc(c->n_provisioners, sizeof(*ids));
	if (!ids)
		return out_of_memory(x);
	for (size_t i = 0; i < c->n_provisioners; i++)
		ident_bytes(&ids[i], 0, c->provisioners[i].uuid, CDB_UUID_SIZE, i);
	if (find_duplicate(ids, c->n_provisioners, &first, &second)) {
		mark = enter(x, ".provisioners[%zu].UUID", second);
		r = refuse(x, "also the UUID of $.provisioners[%zu]", first);
		leave(x, mark);
	}
	free(ids);
	return r;
}

/* The node's netKeys / appKeys: [{ "index": n, "updated": bool }], each naming a key of the network. */
static int parse_node_keys(struct ctx *x, const json_t *node, const char *name, const struct cdb *c, bool net,
			   uint16_t **ret, size_t *ret_n)
{
	const json_t *arr;
	bool failed = false, updated;
	size_t mark;
	int r;

	if ((r = get_array(x, node, name, REQUIRED, CDB_LIST_MAX, &arr)))
		return r;
	*ret = new_array(json_array_size(arr), sizeof(**ret), &failed);
	if (failed)
		return out_of_memory(x);
	*ret_n = json_array_size(arr);
	for (size_t i = 0; i < *ret_n && r == 0; i++) {
		const json_t *o = json_array_get(arr, i);

		mark = enter(x, ".%s[%zu]", name, i);
		if ((r = check_object(x, o)) == 0 && (r = get_key_index(x, o, "index", &(*ret)[i])) == 0 &&
		    (r = get_bool(x, o, "updated", OPTIONAL, &updated, NULL)) == 0 &&
		    (net ? !cdb_net_key(c, (*ret)[i]) : !cdb_app_key(c, (*ret)[i]))) {
			size_t m2 = enter(x, ".index");

			r = refuse(x, "no %s key has index %u", net ? "network" : "application", (*ret)[i]);
			leave(x, m2);
		}
		leave(x, mark);
	}
	return r ? r : check_unique_indexes(x, name, *ret, *ret_n, false);
}

static int parse_model_id(struct ctx *x, const json_t *v, struct cdb_model *m)
{
	struct shown s;
	uint8_t b[4];
	const char *str;

	if (!json_is_string(v))
		return wrong_type(x, v, "a string of 4 hex digits (SIG model) or 8 (vendor model)", false);
	str = json_string_value(v);
	if (json_string_length(v) == 4 && hex_decode(str, 2, b)) {
		m->id = (uint32_t)b[0] << 8 | b[1];
		m->vendor = false;
	} else if (json_string_length(v) == 8 && hex_decode(str, 4, b)) {
		m->id = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
		m->vendor = true;
	} else {
		return refuse(x, "must be 4 hex digits (SIG model) or 8 (vendor model: company id, model) (got %s)",
			      show(v, false, &s));
	}
	return 0;
}

static int parse_model(struct ctx *x, const json_t *o, const struct cdb *c, struct cdb_model *m)
{
	const json_t *bind, *sub, *publish;
	bool failed = false;
	size_t mark;
	int r;

	if ((r = check_object(x, o)) ||
	    (r = WITH_FIELD(x, o, "modelId", REQUIRED, NULL, parse_model_id(x, v, m))) ||
	    (r = get_array(x, o, "bind", OPTIONAL, CDB_LIST_MAX, &bind)) ||
	    (r = get_array(x, o, "subscribe", OPTIONAL, CDB_LIST_MAX, &sub)))
		return r;
	/* publish is not modelled: kept in c->json, but it must be an object */
	publish = enter_field(x, o, "publish", &mark);
	if (publish && !json_is_object(publish))
		r = wrong_type(x, publish, "an object", false);
	leave(x, mark);
	if (r)
		return r;
	m->bind = new_array(json_array_size(bind), sizeof(*m->bind), &failed);
	m->subscribe = new_array(json_array_size(sub), sizeof(*m->subscribe), &failed);
	m->subscribe_virtual = new_array(json_array_size(sub), sizeof(*m->subscribe_virtual), &failed);
	if (failed)
		return out_of_memory(x);
	for (size_t i = 0; i < json_array_size(bind) && r == 0; i++) {
		mark = enter(x, ".bind[%zu]", i);
		r = parse_key_index(x, json_array_get(bind, i), &m->bind[i]);
		if (r == 0 && !cdb_app_key(c, m->bind[i]))
			r = refuse(x, "no application key has index %u", m->bind[i]);
		leave(x, mark);
		m->n_bind = i + 1;
	}
	for (size_t i = 0; i < json_array_size(sub) && r == 0; i++) {
		uint16_t address;
		bool is_virtual;

		mark = enter(x, ".subscribe[%zu]", i);
		r = parse_group_address(x, json_array_get(sub, i), false, 0xFFFF, &address, &is_virtual,
					m->subscribe_virtual[m->n_subscribe_virtual]);
		leave(x, mark);
		if (r == 0 && is_virtual)
			m->n_subscribe_virtual++;
		else if (r == 0)
			m->subscribe[m->n_subscribe++] = address;
	}
	return r;
}

static int parse_element(struct ctx *x, const json_t *o, size_t position, const struct cdb *c,
			 struct cdb_element *e)
{
	const json_t *models;
	char name[CDB_NAME_MAX + 1];
	json_int_t index;
	bool failed = false;
	size_t mark;
	int r;

	if ((r = check_object(x, o)) ||
	    (r = WITH_FIELD(x, o, "index", REQUIRED, NULL, parse_int(x, v, 0, CDB_ELEMENTS_MAX - 1,
								       "an element index", &index))) ||
	    (r = get_hex16(x, o, "location", OPTIONAL, 0, 0xFFFF, "", &e->location, NULL)) ||
	    (r = get_name(x, o, "name", OPTIONAL, name)) ||
	    (r = get_array(x, o, "models", REQUIRED, CDB_MODELS_MAX, &models)))
		return r;
	if ((size_t)index != position) {
		mark = enter(x, ".index");
		r = refuse(x, "must be %zu, the element's position in the list (got %" JSON_INTEGER_FORMAT ")",
			   position, index);
		leave(x, mark);
		return r;
	}
	e->index = (uint8_t)index;
	e->models = new_array(json_array_size(models), sizeof(*e->models), &failed);
	if (failed)
		return out_of_memory(x);
	for (size_t i = 0; i < json_array_size(models) && r == 0; i++) {
		mark = enter(x, ".models[%zu]", i);
		r = parse_model(x, json_array_get(models, i), c, &e->models[i]);
		leave(x, mark);
		e->n_models = i + 1;
	}
	return r;
}

static const struct feature_spec {
	const char *name;
	uint8_t bit;
} feature_specs[] = {
	{ "relay", CDB_FEATURE_RELAY },
	{ "proxy", CDB_FEATURE_PROXY },
	{ "friend", CDB_FEATURE_FRIEND },
	{ "lowPower", CDB_FEATURE_LOW_POWER },
};

static int parse_features(struct ctx *x, const json_t *o, struct cdb_node *n)
{
	int r;

	if ((r = check_object(x, o)))
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(feature_specs); i++) {
		json_int_t state;
		bool present;

		r = WITH_FIELD(x, o, feature_specs[i].name, OPTIONAL, &present,
			       parse_int(x, v, 0, 2, "a feature state (0 disabled, 1 enabled, 2 not supported)",
					 &state));
		if (r)
			return r;
		if (!present)
			continue;
		n->features_known |= feature_specs[i].bit;
		if (state != 2)
			n->features_supported |= feature_specs[i].bit;
		if (state == 1)
			n->features |= feature_specs[i].bit;
	}
	return 0;
}

static int parse_node(struct ctx *x, const json_t *o, const struct cdb *c, struct cdb_node *n)
{
	static const char *const ids[] = { "cid", "pid", "vid", "crpl" };
	int32_t *id_fields[] = { &n->cid, &n->pid, &n->vid, &n->crpl };
	const json_t *elements;
	bool failed = false, present;
	size_t mark;
	int r;

	if ((r = check_object(x, o)) ||
	    (r = get_uuid(x, o, "UUID", n->uuid)) ||
	    (r = get_name(x, o, "name", OPTIONAL, n->name)) ||
	    (r = get_key(x, o, "deviceKey", c->partial ? OPTIONAL : REQUIRED, n->device_key, &n->has_device_key)) ||
	    (r = get_hex16(x, o, "unicastAddress", REQUIRED, 0x0001, 0x7FFF, "a unicast address", &n->address,
			   NULL)) ||
	    (r = get_security(x, o, "security", &n->secure)) ||
	    (r = get_bool(x, o, "configComplete", OPTIONAL, &n->config_complete, NULL)) ||
	    (r = get_bool(x, o, "excluded", OPTIONAL, &n->excluded, &present)))
		return r;
	/* "blacklisted" is the pre-1.0 name of "excluded" (nRF Mesh until 2020) */
	if (!present && (r = get_bool(x, o, "blacklisted", OPTIONAL, &n->excluded, NULL)))
		return r;
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		uint16_t u;

		*id_fields[i] = CDB_ID_UNKNOWN;
		if ((r = get_hex16(x, o, ids[i], OPTIONAL, 0, 0xFFFF, "", &u, &present)))
			return r;
		if (present)
			*id_fields[i] = u;
	}
	if ((r = WITH_FIELD(x, o, "features", OPTIONAL, NULL, parse_features(x, v, n))) ||
	    (r = parse_node_keys(x, o, "netKeys", c, true, &n->net_keys, &n->n_net_keys)) ||
	    (r = parse_node_keys(x, o, "appKeys", c, false, &n->app_keys, &n->n_app_keys)) ||
	    (r = get_array(x, o, "elements", REQUIRED, CDB_ELEMENTS_MAX, &elements)))
		return r;
	n->elements = new_array(json_array_size(elements), sizeof(*n->elements), &failed);
	if (failed)
		return out_of_memory(x);
	for (size_t i = 0; i < json_array_size(elements) && r == 0; i++) {
		mark = enter(x, ".elements[%zu]", i);
		r = parse_element(x, json_array_get(elements, i), i, c, &n->elements[i]);
		leave(x, mark);
		n->n_elements = i + 1;
	}
	if (r == 0 && (unsigned)n->address + cdb_node_elements(n) - 1 > 0x7FFF) {
		mark = enter(x, ".elements");
		r = refuse(x, "%u elements from 0x%04X run past the last unicast address 0x7FFF", cdb_node_elements(n),
			   n->address);
		leave(x, mark);
	}
	return r;
}

/* Element ranges must not overlap, UUIDs must differ; then the nodes are sorted by address. */
static int check_and_sort_nodes(struct ctx *x, struct cdb *c)
{
	struct cdb_node *sorted = NULL;
	struct span *spans = NULL;
	struct ident *ids = NULL;
	size_t n = c->n_nodes, first, second, mark, i;
	int r = 0;

	if (n < 2)
		return 0;
	spans = calloc(n, sizeof(*spans));
	ids = calloc(n, sizeof(*ids));
	sorted = calloc(n, sizeof(*sorted));
	if (!spans || !ids || !sorted) {
		r = out_of_memory(x);
		goto out;
	}
	for (i = 0; i < n; i++) {
		spans[i] = (struct span){ c->nodes[i].address, c->nodes[i].address + cdb_node_elements(&c->nodes[i]) - 1,
					  i, 0 };
		ident_bytes(&ids[i], 0, c->nodes[i].uuid, CDB_UUID_SIZE, i);
	}
	i = find_overlap(spans, n);
	if (i < n) {
		const struct span *a = &spans[i], *b = &spans[i + 1];

		mark = enter(x, ".nodes[%zu].unicastAddress", b->owner);
		if (a->low == a->high)
			r = refuse(x, "0x%04X is also the address of $.nodes[%zu]", (unsigned)b->low, a->owner);
		else
			r = refuse(x, "0x%04X is also the address of $.nodes[%zu] (elements 0x%04X-0x%04X)",
				   (unsigned)b->low, a->owner, (unsigned)a->low, (unsigned)a->high);
		leave(x, mark);
		goto out;
	}
	if (find_duplicate(ids, n, &first, &second)) {
		mark = enter(x, ".nodes[%zu].UUID", second);
		r = refuse(x, "also the UUID of $.nodes[%zu]", first);
		leave(x, mark);
		goto out;
	}
	for (i = 0; i < n; i++)
		sorted[i] = c->nodes[spans[i].owner];
	free(c->nodes);
	c->nodes = sorted;
	sorted = NULL;
out:
	free(sorted);
	free(ids);
	free(spans);
	return r;
}

static int parse_nodes(struct ctx *x, const json_t *root, struct cdb *c)
{
	const json_t *arr;
	bool failed = false;
	size_t mark;
	int r;

	if ((r = get_array(x, root, "nodes", REQUIRED, CDB_NODES_MAX, &arr)))
		return r;
	c->nodes = new_array(json_array_size(arr), sizeof(*c->nodes), &failed);
	if (failed)
		return out_of_memory(x);
	for (size_t i = 0; i < json_array_size(arr) && r == 0; i++) {
		mark = enter(x, ".nodes[%zu]", i);
		r = parse_node(x, json_array_get(arr, i), c, &c->nodes[i]);
		leave(x, mark);
		c->n_nodes = i + 1;
	}
	return r ? r : check_and_sort_nodes(x, c);
}

static void group_ident(struct ident *id, bool is_virtual, uint16_t address, const uint8_t label[CDB_UUID_SIZE],
			size_t pos)
{
	if (is_virtual)
		ident_bytes(id, 1, label, CDB_UUID_SIZE, pos);
	else
		ident_u16(id, 0, address, pos);
}

static int parse_groups(struct ctx *x, const json_t *root, struct cdb *c)
{
	const json_t *arr;
	struct ident *ids;
	bool failed = false;
	size_t mark, first, second;
	int r;

	/* Required by the schema, but one version of nRF Mesh for Android left out an empty list. */
	if ((r = get_array(x, root, "groups", OPTIONAL, CDB_GROUPS_MAX, &arr)) || !arr)
		return r;
	c->groups = new_array(json_array_size(arr), sizeof(*c->groups), &failed);
	if (failed)
		return out_of_memory(x);
	for (size_t i = 0; i < json_array_size(arr) && r == 0; i++) {
		const json_t *o = json_array_get(arr, i);
		struct cdb_group *g = &c->groups[i];

		c->n_groups = i + 1;
		mark = enter(x, ".groups[%zu]", i);
		if ((r = check_object(x, o)) == 0 && (r = get_name(x, o, "name", OPTIONAL, g->name)) == 0 &&
		    (r = WITH_FIELD(x, o, "address", REQUIRED, NULL,
				    parse_group_address(x, v, false, 0xFEFF, &g->address, &g->is_virtual, g->label))) == 0)
			r = WITH_FIELD(x, o, "parentAddress", OPTIONAL, NULL,
				       parse_group_address(x, v, true, 0xFEFF, &g->parent, &g->parent_is_virtual,
							   g->parent_label));
		leave(x, mark);
	}
	if (r || c->n_groups < 2)
		return r;
	ids = calloc(c->n_groups, sizeof(*ids));
	if (!ids)
		return out_of_memory(x);
	for (size_t i = 0; i < c->n_groups; i++)
		group_ident(&ids[i], c->groups[i].is_virtual, c->groups[i].address, c->groups[i].label, i);
	if (find_duplicate(ids, c->n_groups, &first, &second)) {
		mark = enter(x, ".groups[%zu].address", second);
		if (c->groups[second].is_virtual)
			r = refuse(x, "this virtual label is also the address of $.groups[%zu]", first);
		else
			r = refuse(x, "0x%04X is also the address of $.groups[%zu]", c->groups[second].address, first);
		leave(x, mark);
	}
	free(ids);
	return r;
}

static int parse_exclusions(struct ctx *x, const json_t *root, struct cdb *c)
{
	const json_t *arr, *addresses;
	bool failed = false;
	size_t mark;
	int r;

	if ((r = get_array(x, root, "networkExclusions", OPTIONAL, CDB_LIST_MAX, &arr)) || !arr)
		return r;
	c->exclusions = new_array(json_array_size(arr), sizeof(*c->exclusions), &failed);
	if (failed)
		return out_of_memory(x);
	for (size_t i = 0; i < json_array_size(arr) && r == 0; i++) {
		const json_t *o = json_array_get(arr, i);
		struct cdb_exclusion *e = &c->exclusions[i];
		json_int_t iv;

		c->n_exclusions = i + 1;
		mark = enter(x, ".networkExclusions[%zu]", i);
		if ((r = check_object(x, o)) == 0 &&
		    (r = WITH_FIELD(x, o, "ivIndex", REQUIRED, NULL,
				    parse_int(x, v, 0, UINT32_MAX, "an IV index", &iv))) == 0 &&
		    (r = get_array(x, o, "addresses", REQUIRED, CDB_NODES_MAX, &addresses)) == 0) {
			e->iv_index = (uint32_t)iv;
			e->addresses = new_array(json_array_size(addresses), sizeof(*e->addresses), &failed);
			if (failed)
				r = out_of_memory(x);
			for (size_t j = 0; j < json_array_size(addresses) && r == 0; j++) {
				size_t m2 = enter(x, ".addresses[%zu]", j);

				r = parse_hex16(x, json_array_get(addresses, j), 0x0001, 0x7FFF, "a unicast address",
						&e->addresses[j]);
				leave(x, m2);
				e->n_addresses = j + 1;
			}
		}
		leave(x, mark);
	}
	return r;
}

/* The database of the nRF5 SDK for Mesh's interactive_pyaci predates the standard and looks much like it; name
 * what gives it away so that the user knows which tool wrote the file. */
static void add_trait(char *traits, size_t len, const char *trait)
{
	size_t n = strlen(traits);

	snprintf(traits + n, len - n, "%s%s", n ? ", " : "", trait);
}

static bool looks_like_pyaci(const json_t *root, char *traits, size_t len)
{
	const json_t *schema = json_object_get(root, "$schema"), *v;
	size_t i;

	traits[0] = '\0';
	if (json_object_get(root, "id") && json_object_get(root, "version"))
		return false;
	if (json_is_string(schema) && json_string_length(schema) == 0)
		add_trait(traits, len, "$schema is empty");
	json_array_foreach(json_object_get(root, "provisioners"), i, v) {
		if (json_object_get(v, "name") && !json_object_get(v, "provisionerName")) {
			add_trait(traits, len, "provisioners have \"name\", not \"provisionerName\"");
			break;
		}
	}
	json_array_foreach(json_object_get(root, "groups"), i, v) {
		if (json_is_integer(json_object_get(v, "address"))) {
			add_trait(traits, len, "group addresses are integers");
			break;
		}
	}
	return traits[0] != '\0';
}

/* "1.0.1": three numbers, nothing else; returns the first. */
static bool version_decode(const char *s, unsigned long *ret_major)
{
	for (int part = 0; part < 3; part++) {
		char *end;

		if (*s < '0' || *s > '9')
			return false;
		errno = 0;
		if (part == 0)
			*ret_major = strtoul(s, &end, 10);
		else
			strtoul(s, &end, 10);
		if (errno || *end != (part < 2 ? '.' : '\0'))
			return false;
		s = end + (part < 2);
	}
	return true;
}

static int parse_root(struct ctx *x, const json_t *root, struct cdb *c)
{
	const json_t *scenes;
	const char *schema = "", *id = "", *version = "";
	unsigned long major;
	char traits[160];
	json_int_t iv;
	int r;

	if (!json_is_object(root))
		return wrong_type(x, root, "an object", false);
	if (looks_like_pyaci(root, traits, sizeof(traits)))
		return refuse(x, "not a Mesh Configuration Database: no \"id\" and \"version\", and %s. This looks like "
			      "the pre-standard database of the nRF5 SDK for Mesh (interactive_pyaci), which meshfleet "
			      "does not read; export the network from nRF Mesh or another provisioner that writes "
			      "the Mesh Configuration Database Profile 1.0 format", traits);
	if ((r = WITH_FIELD(x, root, "$schema", REQUIRED, NULL, parse_string(x, v, &schema))) ||
	    (r = WITH_FIELD(x, root, "id", REQUIRED, NULL, parse_string(x, v, &id))) ||
	    (r = WITH_FIELD(x, root, "version", REQUIRED, NULL, parse_string(x, v, &version))))
		return r;
	if (!version_decode(version, &major) || major != 1) {
		size_t mark = enter(x, ".version");
		struct shown s;

		r = refuse(x, "unsupported version %s: meshfleet reads versions 1.x.y of the Mesh Configuration "
			   "Database", show(json_object_get(root, "version"), false, &s));
		leave(x, mark);
		return r;
	}
	if ((r = get_uuid(x, root, "meshUUID", c->mesh_uuid)) ||
	    (r = get_name(x, root, "meshName", REQUIRED, c->mesh_name)) ||
	    (r = get_timestamp(x, root, "timestamp", REQUIRED, &c->timestamp_ms)) ||
	    (r = get_bool(x, root, "partial", OPTIONAL, &c->partial, NULL)) ||
	    (r = WITH_FIELD(x, root, "ivIndex", OPTIONAL, &c->has_iv_index,
			    parse_int(x, v, 0, UINT32_MAX, "an IV index", &iv))) ||
	    (r = get_bool(x, root, "ivUpdate", OPTIONAL, &c->iv_update, NULL)))
		return r;
	if (c->has_iv_index)
		c->iv_index = (uint32_t)iv;
	if ((r = parse_keys(x, root, c)) || (r = parse_provisioners(x, root, c)) || (r = parse_nodes(x, root, c)) ||
	    (r = parse_groups(x, root, c)) || (r = parse_exclusions(x, root, c)))
		return r;
	/* scenes are not modelled (kept in c->json); required by the schema, absent from old nRF Mesh exports */
	return WITH_FIELD(x, root, "scenes", OPTIONAL, NULL, parse_array(x, v, CDB_LIST_MAX, &scenes));
}

int cdb_parse(const char *text, size_t len, struct cdb **ret, char *err, size_t err_len)
{
	struct ctx x = { .path = "$", .len = 1, .err = err, .err_len = err_len };
	json_error_t jerr;
	struct cdb *c;
	char *near;
	int r;

	if (err && err_len)
		err[0] = '\0';
	if (len > CDB_FILE_MAX) {
		if (err && err_len)
			snprintf(err, err_len, "larger than %u bytes (got %zu): not a Mesh Configuration Database",
				 CDB_FILE_MAX, len);
		return -EFBIG;
	}
	if (len == 0)
		return refuse(&x, "empty document: a Mesh Configuration Database is a JSON object");
	c = calloc(1, sizeof(*c));
	if (!c)
		return out_of_memory(&x);
	c->json = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!c->json) {
		/* jansson quotes the token it stopped at ("near '...'"): that could be part of a key */
		near = strstr(jerr.text, " near '");
		if (near)
			*near = '\0';
		if (err && err_len)
			snprintf(err, err_len, "not valid JSON: line %d, column %d: %s", jerr.line, jerr.column,
				 jerr.text);
		free(c);
		return -EINVAL;
	}
	r = parse_root(&x, c->json, c);
	if (r) {
		cdb_free(c);
		return r;
	}
	*ret = c;
	return 0;
}

int cdb_load_file(const char *path, struct cdb **ret, char *err, size_t err_len)
{
	char *text = NULL, inner[512];
	size_t len = 0, cap = 0;
	struct stat st;
	int fd, r = 0;

	if (err && err_len)
		err[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (S_ISREG(st.st_mode) && st.st_size > (off_t)CDB_FILE_MAX) {
		r = -EFBIG;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			size_t next = cap ? cap * 2 : S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536;
			char *grown;

			if (next > CDB_FILE_MAX + 1)
				next = CDB_FILE_MAX + 1;
			if (next <= cap) {      /* a pipe or a file that grew past the limit */
				r = -EFBIG;
				goto out;
			}
			grown = realloc(text, next);
			if (!grown) {
				r = -ENOMEM;
				goto out;
			}
			text = grown;
			cap = next;
		}
		n = read(fd, text + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > CDB_FILE_MAX) {
		r = -EFBIG;
		goto out;
	}
	r = cdb_parse(text ? text : "", len, ret, inner, sizeof(inner));
	if (r < 0 && err && err_len)
		snprintf(err, err_len, "%s: %s", path, inner);
	free(text);
	close(fd);
	return r;
out:
	if (err && err_len) {
		if (r == -EFBIG)
			snprintf(err, err_len, "%s: larger than %u bytes: not a Mesh Configuration Database", path,
				 CDB_FILE_MAX);
		else
			snprintf(err, err_len, "%s: %s", path, strerror(-r));
	}
	free(text);
	if (fd >= 0)
		close(fd);
	return r;
}

static void model_done(struct cdb_model *m)
{
	free(m->bind);
	free(m->subscribe);
	free(m->subscribe_virtual);
}

static void node_done(struct cdb_node *n)
{
	for (size_t i = 0; i < n->n_elements; i++) {
		for (size_t j = 0; j < n->elements[i].n_models; j++)
			model_done(&n->elements[i].models[j]);
		free(n->elements[i].models);
	}
	free(n->elements);
	free(n->net_keys);
	free(n->app_keys);
}

struct cdb *cdb_free(struct cdb *c)
{
	if (!c)
		return NULL;
	for (size_t i = 0; i < c->n_provisioners; i++) {
		free(c->provisioners[i].unicast);
		free(c->provisioners[i].group);
		free(c->provisioners[i].scene);
	}
	for (size_t i = 0; i < c->n_nodes; i++)
		node_done(&c->nodes[i]);
	for (size_t i = 0; i < c->n_exclusions; i++)
		free(c->exclusions[i].addresses);
	free(c->net_keys);
	free(c->app_keys);
	free(c->provisioners);
	free(c->nodes);
	free(c->groups);
	free(c->exclusions);
	json_decref(c->json);
	free(c);
	return NULL;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Lookups
 */

unsigned cdb_node_elements(const struct cdb_node *n)
{
	return n->n_elements ? (unsigned)n->n_elements : 1;
}

const struct cdb_node *cdb_node_by_address(const struct cdb *c, uint16_t address)
{
	size_t lo = 0, hi = c->n_nodes;

	/* the last node whose primary address is <= address */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->nodes[mid].address <= address)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	if ((unsigned)(address - c->nodes[lo - 1].address) < cdb_node_elements(&c->nodes[lo - 1]))
		return &c->nodes[lo - 1];
	return NULL;
}

const struct cdb_net_key *cdb_net_key(const struct cdb *c, uint16_t index)
{
	for (size_t i = 0; i < c->n_net_keys; i++)
		if (c->net_keys[i].index == index)
			return &c->net_keys[i];
	return NULL;
}

const struct cdb_app_key *cdb_app_key(const struct cdb *c, uint16_t index)
{
	for (size_t i = 0; i < c->n_app_keys; i++)
		if (c->app_keys[i].index == index)
			return &c->app_keys[i];
	return NULL;
}

/* ---------------------------------------------------------------------------------------------------------------
 * Writing: the copy of the document read, with what the struct models written over it
 */

struct out {
	bool failed;                    /* out of memory somewhere: the whole result is dropped */
};

/* Takes ownership of @value (NULL: a failed allocation). */
static void put(struct out *o, json_t *obj, const char *key, json_t *value)
{
	if (!value || json_object_set_new(obj, key, value) < 0)
		o->failed = true;
}

static void append(struct out *o, json_t *arr, json_t *value)
{
	if (!value || json_array_append_new(arr, value) < 0)
		o->failed = true;
}

static json_t *hex16_json(unsigned v)
{
	char text[8];

	snprintf(text, sizeof(text), "%04X", v & 0xFFFF);
	return json_string(text);
}

static json_t *bytes_json(const uint8_t *p, size_t n)
{
	char text[2 * CDB_UUID_SIZE + 1];

	hex_encode(p, n, text);
	return json_string(text);
}

static json_t *uuid_json(const uint8_t u[CDB_UUID_SIZE])
{
	char text[37];

	uuid_encode(u, text);
	return json_string(text);
}

static json_t *timestamp_json(int64_t ms)
{
	char text[64];

	return timestamp_encode(ms, text, sizeof(text)) ? json_string(text) : NULL;
}

/* An existing timestamp that says the same instant is kept as written (with its offset). */
static void put_timestamp(struct out *o, json_t *obj, const char *key, int64_t ms)
{
	const json_t *old = json_object_get(obj, key);
	int64_t old_ms;

	if (json_is_string(old) && timestamp_decode(json_string_value(old), &old_ms) && old_ms == ms)
		return;
	put(o, obj, key, timestamp_json(ms));
}

/* Objects of an old array, found again by identity so that the fields this module does not model survive: a node
 * by its UUID, a key by its index... Two entries with the same identity pair up in order (a model id may appear
 * twice in an element): the last two bytes of an identity count its earlier occurrences. */
typedef bool (*ident_fn)(const json_t *item, struct ident *id);

struct matcher {
	json_t *old;                    /* borrowed */
	struct ident *ids;              /* sorted */
	size_t n;
	bool *taken;                    /* by position in @old */
};

static void set_occurrence(struct ident *id, size_t occurrence)
{
	id->key[IDENT_SIZE - 2] = (uint8_t)(occurrence >> 8);
	id->key[IDENT_SIZE - 1] = (uint8_t)occurrence;
}

static void matcher_init(struct out *o, struct matcher *m, json_t *old, ident_fn fn)
{
	size_t n = json_is_array(old) ? json_array_size(old) : 0, k = 0;

	*m = (struct matcher){ .old = old };
	if (n == 0)
		return;
	m->ids = calloc(n, sizeof(*m->ids));
	m->taken = calloc(n, sizeof(*m->taken));
	if (!m->ids || !m->taken) {
		o->failed = true;
		return;
	}
	for (size_t i = 0; i < n; i++)
		if (fn(json_array_get(old, i), &m->ids[k]))
			m->ids[k++].pos = i;
	qsort(m->ids, k, sizeof(*m->ids), ident_cmp);
	for (size_t i = 1, run = 0; i < k; i++) {
		run = memcmp(m->ids[i].key, m->ids[i - 1].key, IDENT_SIZE - 2) == 0 ? run + 1 : 0;
		set_occurrence(&m->ids[i], run);
	}
	m->n = k;
}

static int ident_key_cmp(const void *key, const void *item)
{
	return memcmp(key, ((const struct ident *)item)->key, IDENT_SIZE);
}

/* Returns a new reference: the old object with identity @id, a copy of it when it was taken already, or a new
 * empty object. */
static json_t *matcher_take(struct matcher *m, const struct ident *id)
{
	const struct ident *found = m->n ? bsearch(id->key, m->ids, m->n, sizeof(*m->ids), ident_key_cmp) : NULL;
	json_t *obj;

	if (!found)
		return json_object();
	obj = json_array_get(m->old, found->pos);
	if (m->taken[found->pos])
		return json_deep_copy(obj);
	m->taken[found->pos] = true;
	return json_incref(obj);
}

static void matcher_done(struct matcher *m)
{
	free(m->ids);
	free(m->taken);
}

static bool ident_of_index(const json_t *item, struct ident *id)
{
	const json_t *v = json_object_get(item, "index");

	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 0xFFFF)
		return false;
	ident_u16(id, 0, (uint16_t)json_integer_value(v), 0);
	return true;
}

static bool ident_of_uuid(const json_t *item, struct ident *id)
{
	const json_t *v = json_object_get(item, "UUID");
	uint8_t uuid[CDB_UUID_SIZE];

	if (!json_is_string(v) || !uuid_decode(json_string_value(v), uuid))
		return false;
	ident_bytes(id, 0, uuid, CDB_UUID_SIZE, 0);
	return true;
}

static bool ident_of_group(const json_t *item, struct ident *id)
{
	const json_t *v = json_object_get(item, "address");
	uint8_t label[CDB_UUID_SIZE];
	uint16_t address;

	if (!json_is_string(v))
		return false;
	if (json_string_length(v) == 2 * CDB_UUID_SIZE && hex_decode(json_string_value(v), CDB_UUID_SIZE, label))
		group_ident(id, true, 0, label, 0);
	else if (hex16_decode(json_string_value(v), &address))
		group_ident(id, false, address, NULL, 0);
	else
		return false;
	return true;
}

static void model_ident(struct ident *id, bool vendor, uint32_t model)
{
	uint8_t b[4] = { (uint8_t)(model >> 24), (uint8_t)(model >> 16), (uint8_t)(model >> 8), (uint8_t)model };

	ident_bytes(id, vendor, b, sizeof(b), 0);
}

static bool ident_of_model(const json_t *item, struct ident *id)
{
	struct ctx quiet = { .path = "" };
	struct cdb_model m;
	const json_t *v = json_object_get(item, "modelId");

	if (!v || parse_model_id(&quiet, v, &m) < 0)
		return false;
	model_ident(id, m.vendor, m.id);
	return true;
}

static json_t *net_keys_json(struct out *o, const struct cdb *c, json_t *old)
{
	json_t *arr = json_array();
	struct matcher m;

	matcher_init(o, &m, old, ident_of_index);
	for (size_t i = 0; arr && i < c->n_net_keys; i++) {
		const struct cdb_net_key *k = &c->net_keys[i];
		struct ident id;
		json_t *obj;

		ident_u16(&id, 0, k->index, 0);
		obj = matcher_take(&m, &id);
		if (!obj) {
			o->failed = true;
			break;
		}
		put(o, obj, "name", json_string(k->name));
		put(o, obj, "index", json_integer(k->index));
		put(o, obj, "key", bytes_json(k->key, CDB_KEY_SIZE));
		if (k->has_old_key)
			put(o, obj, "oldKey", bytes_json(k->old_key, CDB_KEY_SIZE));
		else
			json_object_del(obj, "oldKey");
		put(o, obj, "phase", json_integer(k->phase));
		put(o, obj, "minSecurity", json_string(k->min_security_secure ? "secure" : "insecure"));
		if (!json_object_get(obj, "timestamp"))
			put(o, obj, "timestamp", timestamp_json(c->timestamp_ms));
		append(o, arr, obj);
	}
	matcher_done(&m);
	return arr;
}

static json_t *app_keys_json(struct out *o, const struct cdb *c, json_t *old)
{
	json_t *arr = json_array();
	struct matcher m;

	matcher_init(o, &m, old, ident_of_index);
	for (size_t i = 0; arr && i < c->n_app_keys; i++) {
		const struct cdb_app_key *k = &c->app_keys[i];
		struct ident id;
		json_t *obj;

		ident_u16(&id, 0, k->index, 0);
		obj = matcher_take(&m, &id);
		if (!obj) {
			o->failed = true;
			break;
		}
		put(o, obj, "name", json_string(k->name));
		put(o, obj, "index", json_integer(k->index));
		put(o, obj, "boundNetKey", json_integer(k->bound_net_key));
		put(o, obj, "key", bytes_json(k->key, CDB_KEY_SIZE));
		if (k->has_old_key)
			put(o, obj, "oldKey", bytes_json(k->old_key, CDB_KEY_SIZE));
		else
			json_object_del(obj, "oldKey");
		append(o, arr, obj);
	}
	matcher_done(&m);
	return arr;
}

static json_t *ranges_json(struct out *o, enum range_kind kind, const struct cdb_range *ranges, size_t n)
{
	const struct range_spec *spec = &range_specs[kind];
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++) {
		json_t *obj = json_object();

		if (obj) {
			put(o, obj, spec->low, hex16_json(ranges[i].low));
			put(o, obj, spec->high, hex16_json(ranges[i].high));
		}
		append(o, arr, obj);
	}
	return arr;
}

static json_t *provisioners_json(struct out *o, const struct cdb *c, json_t *old)
{
	json_t *arr = json_array();
	struct matcher m;

	matcher_init(o, &m, old, ident_of_uuid);
	for (size_t i = 0; arr && i < c->n_provisioners; i++) {
		const struct cdb_provisioner *p = &c->provisioners[i];
		struct ident id;
		json_t *obj;

		ident_bytes(&id, 0, p->uuid, CDB_UUID_SIZE, 0);
		obj = matcher_take(&m, &id);
		if (!obj) {
			o->failed = true;
			break;
		}
		put(o, obj, "provisionerName", json_string(p->name));
		put(o, obj, "UUID", uuid_json(p->uuid));
		put(o, obj, range_specs[RANGE_UNICAST].array, ranges_json(o, RANGE_UNICAST, p->unicast, p->n_unicast));
		put(o, obj, range_specs[RANGE_GROUP].array, ranges_json(o, RANGE_GROUP, p->group, p->n_group));
		put(o, obj, range_specs[RANGE_SCENE].array, ranges_json(o, RANGE_SCENE, p->scene, p->n_scene));
		append(o, arr, obj);
	}
	matcher_done(&m);
	return arr;
}

/* A node's netKeys / appKeys: "updated" (key refresh) is kept from the old entry, false for a new one. */
static json_t *node_keys_json(struct out *o, const uint16_t *indexes, size_t n, json_t *old)
{
	json_t *arr = json_array();
	struct matcher m;

	matcher_init(o, &m, old, ident_of_index);
	for (size_t i = 0; arr && i < n; i++) {
		struct ident id;
		json_t *obj;

		ident_u16(&id, 0, indexes[i], 0);
		obj = matcher_take(&m, &id);
		if (!obj) {
			o->failed = true;
			break;
		}
		put(o, obj, "index", json_integer(indexes[i]));
		if (!json_is_boolean(json_object_get(obj, "updated")))
			put(o, obj, "updated", json_false());
		append(o, arr, obj);
	}
	matcher_done(&m);
	return arr;
}

static json_t *model_json(struct out *o, const struct cdb_model *md, json_t *obj)
{
	json_t *sub = json_array(), *bind = json_array();

	put(o, obj, "modelId", md->vendor ? json_sprintf("%08" PRIX32, md->id) : hex16_json(md->id));
	for (size_t i = 0; sub && i < md->n_subscribe; i++)
		append(o, sub, hex16_json(md->subscribe[i]));
	for (size_t i = 0; sub && i < md->n_subscribe_virtual; i++)
		append(o, sub, bytes_json(md->subscribe_virtual[i], CDB_UUID_SIZE));
	for (size_t i = 0; bind && i < md->n_bind; i++)
		append(o, bind, json_integer(md->bind[i]));
	put(o, obj, "subscribe", sub);
	put(o, obj, "bind", bind);
	return obj;
}

static json_t *elements_json(struct out *o, const struct cdb_node *n, json_t *old)
{
	json_t *arr = json_array();
	struct matcher m;

	matcher_init(o, &m, old, ident_of_index);
	for (size_t i = 0; arr && i < n->n_elements; i++) {
		const struct cdb_element *e = &n->elements[i];
		json_t *obj, *models;
		struct matcher mm;
		struct ident id;

		ident_u16(&id, 0, e->index, 0);
		obj = matcher_take(&m, &id);
		if (!obj) {
			o->failed = true;
			break;
		}
		put(o, obj, "index", json_integer(e->index));
		put(o, obj, "location", hex16_json(e->location));
		models = json_array();
		matcher_init(o, &mm, json_object_get(obj, "models"), ident_of_model);
		for (size_t j = 0; models && j < e->n_models; j++) {
			const struct cdb_model *md = &e->models[j];
			size_t occurrence = 0;
			json_t *mobj;

			for (size_t k = 0; k < j; k++)
				occurrence += e->models[k].id == md->id && e->models[k].vendor == md->vendor;
			model_ident(&id, md->vendor, md->id);
			set_occurrence(&id, occurrence);
			mobj = matcher_take(&mm, &id);
			append(o, models, mobj ? model_json(o, md, mobj) : NULL);
		}
		matcher_done(&mm);
		put(o, obj, "models", models);
		append(o, arr, obj);
	}
	matcher_done(&m);
	return arr;
}

static void features_json(struct out *o, const struct cdb_node *n, json_t *obj)
{
	json_t *f = json_object_get(obj, "features");

	if (!n->features_known && !f)
		return;
	if (!json_is_object(f)) {
		f = json_object();
		put(o, obj, "features", f);
		if (o->failed)
			return;
	}
	/* f is borrowed from obj from here on */
	for (size_t i = 0; i < ARRAY_SIZE(feature_specs); i++) {
		uint8_t bit = feature_specs[i].bit;

		if (n->features_known & bit)
			put(o, f, feature_specs[i].name,
			    json_integer(n->features & bit ? 1 : n->features_supported & bit ? 0 : 2));
		else
			json_object_del(f, feature_specs[i].name);
	}
}

static json_t *nodes_json(struct out *o, const struct cdb *c, json_t *old)
{
	static const char *const ids[] = { "cid", "pid", "vid", "crpl" };
	json_t *arr = json_array();
	struct matcher m;

	matcher_init(o, &m, old, ident_of_uuid);
	for (size_t i = 0; arr && i < c->n_nodes; i++) {
		const struct cdb_node *n = &c->nodes[i];
		const int32_t id_values[] = { n->cid, n->pid, n->vid, n->crpl };
		struct ident id;
		json_t *obj;

		ident_bytes(&id, 0, n->uuid, CDB_UUID_SIZE, 0);
		obj = matcher_take(&m, &id);
		if (!obj) {
			o->failed = true;
			break;
		}
		put(o, obj, "UUID", uuid_json(n->uuid));
		put(o, obj, "name", json_string(n->name));
		if (n->has_device_key)
			put(o, obj, "deviceKey", bytes_json(n->device_key, CDB_KEY_SIZE));
		else
			json_object_del(obj, "deviceKey");
		put(o, obj, "unicastAddress", hex16_json(n->address));
		put(o, obj, "security", json_string(n->secure ? "secure" : "insecure"));
		put(o, obj, "configComplete", json_boolean(n->config_complete));
		for (size_t k = 0; k < ARRAY_SIZE(ids); k++) {
			if (id_values[k] >= 0 && id_values[k] <= 0xFFFF)
				put(o, obj, ids[k], hex16_json((unsigned)id_values[k]));
			else
				json_object_del(obj, ids[k]);
		}
		features_json(o, n, obj);
		put(o, obj, "netKeys", node_keys_json(o, n->net_keys, n->n_net_keys, json_object_get(obj, "netKeys")));
		put(o, obj, "appKeys", node_keys_json(o, n->app_keys, n->n_app_keys, json_object_get(obj, "appKeys")));
		put(o, obj, "elements", elements_json(o, n, json_object_get(obj, "elements")));
		put(o, obj, "excluded", json_boolean(n->excluded));
		json_object_del(obj, "blacklisted");
		append(o, arr, obj);
	}
	matcher_done(&m);
	return arr;
}

static json_t *group_address_json(bool is_virtual, uint16_t address, const uint8_t label[CDB_UUID_SIZE])
{
	return is_virtual ? bytes_json(label, CDB_UUID_SIZE) : hex16_json(address);
}

static json_t *groups_json(struct out *o, const struct cdb *c, json_t *old)
{
	json_t *arr = json_array();
	struct matcher m;

	matcher_init(o, &m, old, ident_of_group);
	for (size_t i = 0; arr && i < c->n_groups; i++) {
		const struct cdb_group *g = &c->groups[i];
		struct ident id;
		json_t *obj;

		group_ident(&id, g->is_virtual, g->address, g->label, 0);
		obj = matcher_take(&m, &id);
		if (!obj) {
			o->failed = true;
			break;
		}
		put(o, obj, "name", json_string(g->name));
		put(o, obj, "address", group_address_json(g->is_virtual, g->address, g->label));
		put(o, obj, "parentAddress", group_address_json(g->parent_is_virtual, g->parent, g->parent_label));
		append(o, arr, obj);
	}
	matcher_done(&m);
	return arr;
}

static json_t *exclusions_json(struct out *o, const struct cdb *c)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < c->n_exclusions; i++) {
		const struct cdb_exclusion *e = &c->exclusions[i];
		json_t *obj = json_object(), *addresses = json_array();

		for (size_t j = 0; addresses && j < e->n_addresses; j++)
			append(o, addresses, hex16_json(e->addresses[j]));
		if (obj) {
			put(o, obj, "ivIndex", json_integer(e->iv_index));
			put(o, obj, "addresses", addresses);
		} else {
			json_decref(addresses);
		}
		append(o, arr, obj);
	}
	return arr;
}

json_t *cdb_to_json(const struct cdb *c)
{
	json_t *root = c->json ? json_deep_copy(c->json) : json_object();
	struct out o = { .failed = false };

	if (!json_is_object(root)) {
		json_decref(root);
		return NULL;
	}
	if (!c->json) {
		put(&o, root, "$schema", json_string(CDB_SCHEMA));
		put(&o, root, "id", json_string(CDB_ID));
		put(&o, root, "version", json_string(CDB_VERSION));
	}
	put(&o, root, "meshUUID", uuid_json(c->mesh_uuid));
	put(&o, root, "meshName", json_string(c->mesh_name));
	put_timestamp(&o, root, "timestamp", c->timestamp_ms);
	put(&o, root, "partial", json_boolean(c->partial));
	put(&o, root, "netKeys", net_keys_json(&o, c, json_object_get(root, "netKeys")));
	put(&o, root, "appKeys", app_keys_json(&o, c, json_object_get(root, "appKeys")));
	put(&o, root, "provisioners", provisioners_json(&o, c, json_object_get(root, "provisioners")));
	put(&o, root, "nodes", nodes_json(&o, c, json_object_get(root, "nodes")));
	put(&o, root, "groups", groups_json(&o, c, json_object_get(root, "groups")));
	if (!json_object_get(root, "scenes"))
		put(&o, root, "scenes", json_array());
	if (!c->json || c->n_exclusions || json_object_get(root, "networkExclusions"))
		put(&o, root, "networkExclusions", exclusions_json(&o, c));
	if (c->has_iv_index) {
		put(&o, root, "ivIndex", json_integer(c->iv_index));
		put(&o, root, "ivUpdate", json_boolean(c->iv_update));
	} else {
		json_object_del(root, "ivIndex");
		json_object_del(root, "ivUpdate");
	}
	if (o.failed) {
		json_decref(root);
		return NULL;
	}
	return root;
}
