/* logq: see logq.h. */
#include "logq.h"

struct out {
	char *buf;
	unsigned cap;           /* including the NUL */
	unsigned len;
};

static void put_char(struct out *o, char c)
{
	if (o->len + 1 < o->cap)
		o->buf[o->len++] = c;
}

static void put_padded(struct out *o, const char *s, unsigned len, unsigned width, char pad)
{
	for (unsigned i = len; i < width; i++)
		put_char(o, pad);
	for (unsigned i = 0; i < len; i++)
		put_char(o, s[i]);
}

static void put_number(struct out *o, uint32_t value, bool negative, unsigned base, bool upper, unsigned width,
		       char pad)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char tmp[12];
	unsigned n = 0;

	do {
		tmp[sizeof(tmp) - 1 - n++] = digits[value % base];
		value /= base;
	} while (value > 0);
	if (negative) {
		if (pad == '0') {
			put_char(o, '-');
			width = width > 0 ? width - 1 : 0;
		} else {
			tmp[sizeof(tmp) - 1 - n++] = '-';
		}
	}
	put_padded(o, tmp + sizeof(tmp) - n, n, width, pad);
}

unsigned logq_vformat(char *buf, unsigned cap, const char *fmt, va_list ap)
{
	struct out o = { .buf = buf, .cap = cap };

	if (cap == 0)
		return 0;
	for (const char *p = fmt; *p; p++) {
		unsigned width = 0, precision = ~0u;
		char pad = ' ';

		if (*p != '%') {
			put_char(&o, *p);
			continue;
		}
		p++;
		if (*p == '0') {
			pad = '0';
			p++;
		}
		while (*p >= '0' && *p <= '9')
			width = width * 10 + (unsigned)(*p++ - '0');
		if (*p == '.') {
			p++;
			if (*p == '*') {
				int n = va_arg(ap, int);

				precision = n < 0 ? 0 : (unsigned)n;
				p++;
			} else {
				precision = 0;
				while (*p >= '0' && *p <= '9')
					precision = precision * 10 + (unsigned)(*p++ - '0');
			}
		}
		switch (*p) {
		case 'd':
		case 'i': {
			int v = va_arg(ap, int);

			put_number(&o, v < 0 ? 0u - (uint32_t)v : (uint32_t)v, v < 0, 10, false, width, pad);
			break;
		}
		case 'u':
			put_number(&o, va_arg(ap, unsigned), false, 10, false, width, pad);
			break;
		case 'x':
		case 'X':
			put_number(&o, va_arg(ap, unsigned), false, 16, *p == 'X', width, pad);
			break;
		case 'c':
			put_char(&o, (char)va_arg(ap, int));
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			unsigned len = 0;

			if (!s)
				s = "(null)";
			while (len < precision && s[len])
				len++;
			put_padded(&o, s, len, width, ' ');
			break;
		}
		case '%':
			put_char(&o, '%');
			break;
		case '\0':
			p--;            /* a lone '%' at the end */
			break;
		default:                /* not supported: shown as is, so the mistake is visible */
			put_char(&o, '%');
			put_char(&o, *p);
			break;
		}
	}
	o.buf[o.len] = '\0';
	return o.len;
}

/* The protocol wants module names of printable ASCII without space, and text without NUL or line ends. */
static unsigned clean_copy(char *dst, const char *src, unsigned max, bool module)
{
	unsigned n = 0;

	for (; n < max && src[n]; n++) {
		unsigned char c = (unsigned char)src[n];

		if (module)
			dst[n] = c < 0x21 || c > 0x7e ? '_' : (char)c;
		else
			dst[n] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
	}
	if (module && n == 0)
		dst[n++] = '?';
	dst[n] = '\0';
	return n;
}

void logq_init(struct logq *q, const struct core_platform *platform, enum msg_log_level forward_level)
{
	q->platform = platform;
	q->forward_level = forward_level;
	q->head = 0;
	q->count = 0;
	q->dropped = 0;
}

/* Makes room for one line: the oldest DEBUG line goes, or else the oldest line. */
static void drop_one(struct logq *q)
{
	unsigned victim = 0;

	for (unsigned i = 0; i < q->count; i++) {
		if (q->lines[(q->head + i) % LOGQ_DEPTH].level == MSG_LOG_DEBUG) {
			victim = i;
			break;
		}
	}
	/* close the gap: lines after the victim move one place towards the head */
	for (unsigned i = victim; i + 1 < q->count; i++)
		q->lines[(q->head + i) % LOGQ_DEPTH] = q->lines[(q->head + i + 1) % LOGQ_DEPTH];
	q->count--;
	q->dropped++;
}

void logq_vprintf(struct logq *q, enum msg_log_level level, const char *module, const char *fmt, va_list ap)
{
	const struct core_platform *p = q->platform;
	struct logq_line line;

	line.level = level;
	line.uptime_ms = (uint32_t)p->ops->now_ms(p->ctx);
	line.module_len = (uint8_t)clean_copy(line.module, module, LOGQ_MODULE_MAX, true);
	logq_vformat(line.text, sizeof(line.text), fmt, ap);
	line.text_len = (uint8_t)clean_copy(line.text, line.text, LOGQ_TEXT_MAX, false);

	if (p->ops->log)
		p->ops->log(p->ctx, level, line.module, line.text);
	if (level > q->forward_level)
		return;
	if (q->count == LOGQ_DEPTH)
		drop_one(q);
	q->lines[(q->head + q->count) % LOGQ_DEPTH] = line;
	q->count++;
}

void logq_printf(struct logq *q, enum msg_log_level level, const char *module, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	logq_vprintf(q, level, module, fmt, ap);
	va_end(ap);
}

const struct logq_line *logq_peek(const struct logq *q)
{
	return q->count > 0 ? &q->lines[q->head] : NULL;
}

void logq_pop(struct logq *q)
{
	if (q->count == 0)
		return;
	q->head = (q->head + 1) % LOGQ_DEPTH;
	q->count--;
}
