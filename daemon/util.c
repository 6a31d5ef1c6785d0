/* util: see util.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret_value)
{
	unsigned base = 10;
	uint64_t v = 0;

	if (!s || !*s)
		return -EINVAL;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
		if (!*s)
			return -EINVAL;
	}
	for (; *s; s++) {
		int d = base == 16 ? hex_digit(*s) : (*s >= '0' && *s <= '9' ? *s - '0' : -1);

		if (d < 0)
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return -ERANGE;
		v = v * base + (uint64_t)d;
	}
	if (v < min || v > max)
		return -ERANGE;
	*ret_value = v;
	return 0;
}

int parse_unicast(const char *s, uint16_t *ret_address)
{
	uint64_t v;
	int r = parse_uint(s, MESH_UNICAST_MIN, MESH_UNICAST_MAX, &v);

	if (r < 0)
		return r;
	*ret_address = (uint16_t)v;
	return 0;
}

int hex_decode(const char *hex, size_t len, uint8_t *out)
{
	if (len % 2)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 2) {
		int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
	}
	for (size_t i = 0; i < len; i += 2)
		out[i / 2] = (uint8_t)(hex_digit(hex[i]) << 4 | hex_digit(hex[i + 1]));
	return 0;
}

void hex_encode(const uint8_t *data, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 0xf];
	}
	out[2 * len] = '\0';
}

int64_t time_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Howard Hinnant's days_from_civil inverse: no gmtime_r()/strftime(), which cost more than the whole node. */
void time_format_rfc3339(int64_t ms, char out[static 21])
{
	int64_t secs = ms / 1000, days, sod, era, doe, yoe, y, doy, mp, d, m;

	if (ms < 0 || secs > 253402300799)      /* outside 1970..9999 */
		secs = 0;
	days = secs / 86400;
	sod = secs % 86400;
	days += 719468;
	era = days / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	out[0] = (char)('0' + y / 1000);
	out[1] = (char)('0' + y / 100 % 10);
	out[2] = (char)('0' + y / 10 % 10);
	out[3] = (char)('0' + y % 10);
	out[4] = '-';
	out[5] = (char)('0' + m / 10);
	out[6] = (char)('0' + m % 10);
	out[7] = '-';
	out[8] = (char)('0' + d / 10);
	out[9] = (char)('0' + d % 10);
	out[10] = 'T';
	out[11] = (char)('0' + sod / 36000);
	out[12] = (char)('0' + sod / 3600 % 10);
	out[13] = ':';
	out[14] = (char)('0' + sod % 3600 / 600);
	out[15] = (char)('0' + sod % 3600 / 60 % 10);
	out[16] = ':';
	out[17] = (char)('0' + sod % 60 / 10);
	out[18] = (char)('0' + sod % 10);
	out[19] = 'Z';
	out[20] = '\0';
}

/* Reads exactly @n digits. */
static bool read_digits(const char **s, unsigned n, unsigned *ret)
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

int time_parse_rfc3339(const char *s, int64_t *ret_ms)
{
	static const unsigned mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	unsigned y, mo, d, h, mi, sec, ms = 0, oh = 0, om = 0, scale = 100;
	int64_t days, yy;
	int sign = 0;
	bool leap;

	if (!read_digits(&s, 4, &y) || *s++ != '-' || !read_digits(&s, 2, &mo) || *s++ != '-' ||
	    !read_digits(&s, 2, &d) || (*s != 'T' && *s != 't'))
		return -EINVAL;
	s++;
	if (!read_digits(&s, 2, &h) || *s++ != ':' || !read_digits(&s, 2, &mi) || *s++ != ':' ||
	    !read_digits(&s, 2, &sec))
		return -EINVAL;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return -EINVAL;
		for (; *s >= '0' && *s <= '9'; s++) {  /* digits below a millisecond are dropped */
			ms += (unsigned)(*s - '0') * scale;
			scale /= 10;
		}
	}
	if (*s == 'Z' || *s == 'z') {
		s++;
	} else if (*s == '+' || *s == '-') {
		sign = *s++ == '-' ? -1 : 1;
		if (!read_digits(&s, 2, &oh) || *s++ != ':' || !read_digits(&s, 2, &om))
			return -EINVAL;
	} else {
		return -EINVAL;         /* a local time without offset says nothing about when */
	}
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (*s != '\0' || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap) ||
	    h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return -EINVAL;
	/* Howard Hinnant's days_from_civil, as time_format_rfc3339() inverts it. */
	yy = (int64_t)y - (mo <= 2);
	days = yy / 400 * 146097 + (yy % 400) * 365 + (yy % 400) / 4 - (yy % 400) / 100 +
	       (153 * (mo > 2 ? mo - 3 : mo + 9) + 2) / 5 + d - 1 - 719468;
	*ret_ms = (days * 86400 + h * 3600 + mi * 60 + sec - sign * (int64_t)(oh * 3600 + om * 60)) * 1000 + ms;
	return 0;
}

int mkdir_if_missing(const char *path, unsigned mode)
{
	struct stat st;

	if (mkdir(path, (mode_t)mode) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	if (stat(path, &st) < 0)
		return -errno;
	return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int str_copy(char *dst, size_t size, const char *src)
{
	size_t n = strlen(src);

	if (n >= size)
		return -ENAMETOOLONG;
	memcpy(dst, src, n + 1);
	return 0;
}

void strbuf_init(struct strbuf *sb, size_t max)
{
	memset(sb, 0, sizeof(*sb));
	sb->max = max;
}

void strbuf_done(struct strbuf *sb)
{
	free(sb->data);
	memset(sb, 0, sizeof(*sb));
}

static bool strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t need, cap;
	char *p;

	if (sb->failed)
		return false;
	if (extra > sb->max || sb->len + 1 > sb->max - extra) {
		sb->failed = true;
		return false;
	}
	need = sb->len + extra + 1;
	if (need <= sb->cap)
		return true;
	cap = sb->cap ? sb->cap : 256;
	while (cap < need)
		cap *= 2;
	if (cap > sb->max)
		cap = sb->max;
	p = realloc(sb->data, cap);
	if (!p) {
		sb->failed = true;
		return false;
	}
	sb->data = p;
	sb->cap = cap;
	return true;
}

void strbuf_append(struct strbuf *sb, const char *data, size_t len)
{
	if (!strbuf_reserve(sb, len))
		return;
	memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
}

void strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	size_t room = sb->cap > sb->len ? sb->cap - sb->len : 0;
	va_list ap;
	int n;

	if (sb->failed)
		return;
	/* One pass when the text fits in the spare room, which is nearly always. */
	va_start(ap, fmt);
	n = vsnprintf(room ? sb->data + sb->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0) {
		sb->failed = true;
		return;
	}
	if ((size_t)n >= room) {
		if (!strbuf_reserve(sb, (size_t)n)) {
			if (room)
				sb->data[sb->len] = '\0';     /* undo the cut-off first attempt */
			return;
		}
		va_start(ap, fmt);
		vsnprintf(sb->data + sb->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t)n;
}

void strbuf_append_uint(struct strbuf *sb, uint64_t v)
{
	char text[20];
	size_t n = sizeof(text);

	do {
		text[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	strbuf_append(sb, text + n, sizeof(text) - n);
}

char *strbuf_tail(struct strbuf *sb, size_t len)
{
	char *p;

	if (!strbuf_reserve(sb, len))
		return NULL;
	p = sb->data + sb->len;
	sb->len += len;
	sb->data[sb->len] = '\0';
	return p;
}

void strbuf_reserve_total(struct strbuf *sb, size_t len)
{
	if (len > sb->len)
		(void)strbuf_reserve(sb, len - sb->len);
}

void strbuf_json_string(struct strbuf *sb, const char *s)
{
	static const char digits[] = "0123456789abcdef";
	const char *run = s;

	strbuf_append(sb, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[6] = { '\\', 0 };
		size_t n = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		strbuf_append(sb, run, (size_t)(s - run));
		run = s + 1;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = digits[c >> 4];
			esc[5] = digits[c & 0xf];
			n = 6;
			break;
		}
		strbuf_append(sb, esc, n);
	}
	strbuf_append(sb, run, (size_t)(s - run));
	strbuf_append(sb, "\"", 1);
}

char *strbuf_steal(struct strbuf *sb, size_t *ret_len)
{
	char *data;

	if (sb->failed || !strbuf_reserve(sb, 0)) {
		strbuf_done(sb);
		return NULL;
	}
	data = sb->data;
	*ret_len = sb->len;
	sb->data = NULL;
	sb->len = sb->cap = 0;
	return data;
}
