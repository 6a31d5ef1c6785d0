/* ihex: Intel HEX text -> contiguous binary image; see ihex.h and docs/firmware.md "Intel HEX".
 *
 * Data is collected in file order into runs (records at consecutive addresses), kept in an array sorted by
 * address so that every record is checked against its neighbours when it arrives: an overlap is reported on the
 * line that causes it, and the usual objcopy file (one long run per section) costs one comparison per record.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ihex.h"

#define RECORD_MAX_BYTES (1 + 2 + 1 + 255 + 1)          /* count, offset, type, data, checksum */
#define LINE_MAX_CHARS (1 + 2 * RECORD_MAX_BYTES)       /* ':' and the hex digits, without the line end */
#define ADDRESS_SPACE (UINT64_C(1) << 32)
#define MCUBOOT_MAGIC 0x96f3b83du
#define SRAM_START 0x20000000u
#define SRAM_END 0x40000000u
/* nRF5 FICR (0x10000000) and UICR (0x10001000): configuration registers that a hex may carry, not program flash. */
#define NRF_FICR_START 0x10000000u
#define NRF_UICR_END 0x10002000u

enum record_type {
	RECORD_DATA = 0x00,
	RECORD_EOF = 0x01,
	RECORD_SEGMENT_BASE = 0x02,
	RECORD_SEGMENT_START = 0x03,
	RECORD_LINEAR_BASE = 0x04,
	RECORD_LINEAR_START = 0x05,
};

struct run {
	uint64_t start;
	uint64_t end;                   /* exclusive */
	size_t offset;                  /* of its bytes in parser.data */
	unsigned line;                  /* of its first record */
};

struct parser {
	const struct ihex_limits *limits;
	struct ihex_error *err;
	unsigned line;

	uint64_t base;
	struct run *runs;               /* sorted by start, never overlapping */
	size_t n_runs;
	size_t cap_runs;
	size_t current;                 /* index in runs of the run the last data record went to */
	bool has_current;

	uint8_t *data;
	size_t data_len;
	size_t data_cap;

	enum ihex_start_kind start_kind;
	uint32_t start_address;
	uint16_t start_cs, start_ip;
	unsigned start_line;
};

__attribute__((format(printf, 4, 5)))
static int fail(struct ihex_error *err, unsigned line, int code, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!err)
		return code;
	err->line = line;
	if (line > 0)
		n = snprintf(err->message, sizeof(err->message), "line %u: ", line);
	if (n < 0 || (size_t)n >= sizeof(err->message))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(err->message + n, sizeof(err->message) - (size_t)n, fmt, ap);
	va_end(ap);
	return code;
}

void ihex_limits_default(struct ihex_limits *limits)
{
	limits->max_data = IHEX_DEFAULT_MAX_DATA;
	limits->max_image = IHEX_DEFAULT_MAX_IMAGE;
	limits->max_runs = IHEX_DEFAULT_MAX_RUNS;
}

void ihex_image_init(struct ihex_image *image)
{
	memset(image, 0, sizeof(*image));
}

void ihex_image_done(struct ihex_image *image)
{
	if (!image)
		return;
	free(image->data);
	free(image->segments);
	ihex_image_init(image);
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static uint32_t be16(const uint8_t *p)
{
	return (uint32_t)p[0] << 8 | p[1];
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Decodes one record line (without its line end) into @bytes; returns the number of bytes or a negative errno. */
static int decode_line(struct parser *p, const char *s, size_t n, uint8_t *bytes)
{
	size_t digits, count;
	uint8_t sum = 0;

	if (s[0] != ':') {
		unsigned char c = (unsigned char)s[0];

		if (c >= 0x20 && c < 0x7f)
			return fail(p->err, p->line, -EINVAL, "a record starts with ':', this line starts with '%c'", c);
		return fail(p->err, p->line, -EINVAL, "a record starts with ':', this line starts with byte 0x%02X", c);
	}
	if (n > LINE_MAX_CHARS)
		return fail(p->err, p->line, -EINVAL, "line of %zu characters, longer than the longest record (%d)",
			    n, LINE_MAX_CHARS);
	for (size_t i = 1; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (hex_value((char)c) >= 0)
			continue;
		if (c == '\r')
			return fail(p->err, p->line, -EINVAL, "carriage return inside the line at column %zu "
				    "(line ends must be LF or CRLF)", i + 1);
		if (c >= 0x20 && c < 0x7f)
			return fail(p->err, p->line, -EINVAL, "'%c' at column %zu is not a hex digit", c, i + 1);
		return fail(p->err, p->line, -EINVAL, "byte 0x%02X at column %zu is not a hex digit", c, i + 1);
	}
	digits = n - 1;
	if (digits % 2 != 0)
		return fail(p->err, p->line, -EINVAL, "odd number of hex digits (%zu): a byte is cut in half", digits);
	if (digits / 2 < 5)
		return fail(p->err, p->line, -EINVAL, "record of %zu bytes is too short: it needs at least 5 "
			    "(byte count, address, type, checksum)", digits / 2);
	for (size_t i = 0; i < digits / 2; i++)
		bytes[i] = (uint8_t)(hex_value(s[1 + 2 * i]) << 4 | hex_value(s[2 + 2 * i]));
	count = bytes[0];
	if (count != digits / 2 - 5)
		return fail(p->err, p->line, -EINVAL, "byte count 0x%02zX says %zu data bytes but the record holds %zu",
			    count, count, digits / 2 - 5);
	for (size_t i = 0; i < digits / 2; i++)
		sum = (uint8_t)(sum + bytes[i]);
	if (sum != 0) {
		uint8_t want = (uint8_t)(bytes[digits / 2 - 1] - sum);

		return fail(p->err, p->line, -EINVAL, "bad checksum 0x%02X, the record's bytes need 0x%02X",
			    bytes[digits / 2 - 1], want);
	}
	return (int)(digits / 2);
}

static int grow_data(struct parser *p, size_t more)
{
	size_t cap;
	uint8_t *data;

	if (p->data_len + more <= p->data_cap)
		return 0;
	cap = p->data_cap ? p->data_cap : 4096;
	while (cap < p->data_len + more)
		cap *= 2;
	if (cap > p->limits->max_data)
		cap = p->limits->max_data;
	data = realloc(p->data, cap);
	if (!data)
		return fail(p->err, p->line, -ENOMEM, "out of memory for %zu bytes of data", cap);
	p->data = data;
	p->data_cap = cap;
	return 0;
}

/* Index of the first run whose start is above @address. */
static size_t runs_upper_bound(const struct parser *p, uint64_t address)
{
	size_t lo = 0, hi = p->n_runs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->runs[mid].start <= address)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int overlap_error(struct parser *p, uint64_t start, uint64_t end, const struct run *other)
{
	uint64_t from = start > other->start ? start : other->start;
	uint64_t to = end < other->end ? end : other->end;

	return fail(p->err, p->line, -EINVAL, "data at 0x%08llX-0x%08llX overlaps the data from line %u "
		    "(0x%08llX-0x%08llX) at 0x%08llX-0x%08llX; overlapping records are refused even when the bytes "
		    "agree (two images merged?)", (unsigned long long)start, (unsigned long long)(end - 1),
		    other->line, (unsigned long long)other->start, (unsigned long long)(other->end - 1),
		    (unsigned long long)from, (unsigned long long)(to - 1));
}

static int add_data(struct parser *p, uint32_t offset, const uint8_t *bytes, size_t count)
{
	uint64_t start, end;
	size_t at;
	int r;

	if (count == 0)
		return 0;       /* a data record with no data changes nothing */
	if (offset + count > 0x10000)
		return fail(p->err, p->line, -EINVAL, "record at offset 0x%04X with %zu bytes runs past the 64 KiB "
			    "boundary (0x%04X + %zu > 0x10000); tools disagree on whether it wraps, so split the record",
			    (unsigned)offset, count, (unsigned)offset, count);
	start = p->base + offset;
	end = start + count;
	if (end > ADDRESS_SPACE)
		return fail(p->err, p->line, -EINVAL, "data at 0x%llX-0x%llX lies beyond the 4 GiB address space",
			    (unsigned long long)start, (unsigned long long)(end - 1));
	if (p->data_len + count > p->limits->max_data)
		return fail(p->err, p->line, -EFBIG, "more than %zu bytes of data", p->limits->max_data);

	if (p->has_current && p->runs[p->current].end == start) {
		struct run *next = p->current + 1 < p->n_runs ? &p->runs[p->current + 1] : NULL;

		if (next && end > next->start)
			return overlap_error(p, start, end, next);
		if ((r = grow_data(p, count)) < 0)
			return r;
		memcpy(p->data + p->data_len, bytes, count);
		p->data_len += count;
		p->runs[p->current].end = end;
		return 0;
	}

	at = runs_upper_bound(p, start);
	if (at > 0 && p->runs[at - 1].end > start)
		return overlap_error(p, start, end, &p->runs[at - 1]);
	if (at < p->n_runs && end > p->runs[at].start)
		return overlap_error(p, start, end, &p->runs[at]);
	if (p->n_runs >= p->limits->max_runs)
		return fail(p->err, p->line, -EFBIG, "more than %zu runs of consecutive addresses (each jump of the "
			    "address starts one)", p->limits->max_runs);
	if (p->n_runs == p->cap_runs) {
		size_t cap = p->cap_runs ? p->cap_runs * 2 : 16;
		struct run *runs;

		if (cap > p->limits->max_runs)
			cap = p->limits->max_runs;
		runs = realloc(p->runs, cap * sizeof(*runs));
		if (!runs)
			return fail(p->err, p->line, -ENOMEM, "out of memory for %zu runs", cap);
		p->runs = runs;
		p->cap_runs = cap;
	}
	if ((r = grow_data(p, count)) < 0)
		return r;
	memmove(&p->runs[at + 1], &p->runs[at], (p->n_runs - at) * sizeof(*p->runs));
	p->runs[at] = (struct run){ .start = start, .end = end, .offset = p->data_len, .line = p->line };
	p->n_runs++;
	p->current = at;
	p->has_current = true;
	memcpy(p->data + p->data_len, bytes, count);
	p->data_len += count;
	return 0;
}

static int set_start(struct parser *p, enum ihex_start_kind kind, const uint8_t *d)
{
	if (p->start_kind != IHEX_START_NONE)
		return fail(p->err, p->line, -EINVAL, "a second start address record (the first is on line %u)",
			    p->start_line);
	p->start_kind = kind;
	p->start_line = p->line;
	if (kind == IHEX_START_SEGMENT) {
		p->start_cs = (uint16_t)be16(d);
		p->start_ip = (uint16_t)be16(d + 2);
		p->start_address = (uint32_t)p->start_cs * 16 + p->start_ip;
	} else {
		p->start_address = be16(d) << 16 | be16(d + 2);
	}
	return 0;
}

/* Handles one decoded record; returns 1 for the end-of-file record, 0 or a negative errno. */
static int handle_record(struct parser *p, const uint8_t *rec)
{
	size_t count = rec[0];
	uint32_t offset = be16(rec + 1);
	uint8_t type = rec[3];
	const uint8_t *d = rec + 4;
	const char *name = NULL;
	size_t want = 0;

	switch ((enum record_type)type) {
	case RECORD_DATA:
		return add_data(p, offset, d, count);
	case RECORD_EOF:
		name = "end-of-file";
		want = 0;
		break;
	case RECORD_SEGMENT_BASE:
		name = "extended segment address";
		want = 2;
		break;
	case RECORD_LINEAR_BASE:
		name = "extended linear address";
		want = 2;
		break;
	case RECORD_SEGMENT_START:
		name = "start segment address";
		want = 4;
		break;
	case RECORD_LINEAR_START:
		name = "start linear address";
		want = 4;
		break;
	}
	if (!name)
		return fail(p->err, p->line, -EINVAL, "unknown record type 0x%02X (Intel HEX has 00 to 05)", type);
	if (count != want)
		return fail(p->err, p->line, -EINVAL, "%s record (type %02X) must hold %zu data bytes, not %zu",
			    name, type, want, count);
	switch ((enum record_type)type) {
	case RECORD_DATA:
		break;
	case RECORD_EOF:
		return 1;
	case RECORD_SEGMENT_BASE:
		p->base = (uint64_t)be16(d) << 4;
		return 0;
	case RECORD_LINEAR_BASE:
		p->base = (uint64_t)be16(d) << 16;
		return 0;
	case RECORD_SEGMENT_START:
		return set_start(p, IHEX_START_SEGMENT, d);
	case RECORD_LINEAR_START:
		return set_start(p, IHEX_START_LINEAR, d);
	}
	return 0;
}

static void find_vectors(struct ihex_image *image)
{
	uint32_t reset;

	if (image->size < 8)
		return;
	image->has_vectors = true;
	image->initial_sp = le32(image->data);
	image->reset_vector = le32(image->data + 4);
	image->mcuboot_header = image->initial_sp == MCUBOOT_MAGIC;
	image->sp_in_ram = image->initial_sp > SRAM_START && image->initial_sp <= SRAM_END &&
			   image->initial_sp % 4 == 0;
	reset = image->reset_vector & ~1u;
	image->reset_in_image = (image->reset_vector & 1u) && reset >= image->base && reset <= image->last;
}

/* Builds the image from the sorted runs; fills @image, which owns the new buffers on success. */
static int build_image(struct parser *p, unsigned eof_line, struct ihex_image *image)
{
	const struct run *low, *high;
	uint64_t span;
	size_t n_segments = 1;
	struct ihex_segment *segments;
	uint8_t *data;

	if (p->n_runs == 0)
		return fail(p->err, eof_line, -EINVAL, "no data records: the file holds no firmware");
	low = &p->runs[0];
	high = &p->runs[p->n_runs - 1];
	span = high->end - low->start;
	if (span > p->limits->max_image) {
		if (high->start >= NRF_FICR_START && high->start < NRF_UICR_END && low->start < NRF_FICR_START)
			return fail(p->err, high->line, -EFBIG, "the image would span 0x%08llX-0x%08llX (%llu bytes, "
				    "limit %zu): the data at 0x%08llX is in the nRF UICR/FICR area, not in program "
				    "flash; remove it from the hex (e.g. objcopy -R .uicr*)",
				    (unsigned long long)low->start, (unsigned long long)(high->end - 1),
				    (unsigned long long)span, p->limits->max_image, (unsigned long long)high->start);
		return fail(p->err, high->line, -EFBIG, "the image would span 0x%08llX-0x%08llX (%llu bytes with the "
			    "gaps filled), more than the limit of %zu bytes; the data from line %u is far from the rest",
			    (unsigned long long)low->start, (unsigned long long)(high->end - 1),
			    (unsigned long long)span, p->limits->max_image, high->line);
	}
	for (size_t i = 1; i < p->n_runs; i++)
		if (p->runs[i].start != p->runs[i - 1].end)
			n_segments++;
	data = malloc((size_t)span);
	segments = calloc(n_segments, sizeof(*segments));
	if (!data || !segments) {
		free(data);
		free(segments);
		return fail(p->err, 0, -ENOMEM, "out of memory for an image of %llu bytes", (unsigned long long)span);
	}
	memset(data, IHEX_FILL, (size_t)span);

	n_segments = 0;
	for (size_t i = 0; i < p->n_runs; i++) {
		const struct run *r = &p->runs[i];
		struct ihex_segment *s;

		memcpy(data + (r->start - low->start), p->data + r->offset, (size_t)(r->end - r->start));
		if (i == 0 || r->start != p->runs[i - 1].end) {
			s = &segments[n_segments++];
			s->start = (uint32_t)r->start;
			s->line = r->line;
			s->gap_before = i == 0 ? 0 : (uint32_t)(r->start - p->runs[i - 1].end);
		} else {
			s = &segments[n_segments - 1];
		}
		s->last = (uint32_t)(r->end - 1);
		s->size = s->last - s->start + 1;
	}

	image->data = data;
	image->size = (size_t)span;
	image->base = (uint32_t)low->start;
	image->last = (uint32_t)(high->end - 1);
	image->data_bytes = p->data_len;
	image->gap_bytes = (size_t)span - p->data_len;
	image->segments = segments;
	image->n_segments = n_segments;
	image->lines = eof_line;
	image->start_kind = p->start_kind;
	image->start_address = p->start_address;
	image->start_cs = p->start_cs;
	image->start_ip = p->start_ip;
	find_vectors(image);
	return 0;
}

int ihex_parse(const char *text, size_t len, const struct ihex_limits *limits, struct ihex_image *ret_image,
	       struct ihex_error *ret_err)
{
	struct ihex_limits defaults;
	struct parser p = { .err = ret_err };
	struct ihex_image image;
	uint8_t rec[RECORD_MAX_BYTES];
	unsigned eof_line = 0;
	size_t pos = 0;
	int r = 0;

	if (!limits) {
		ihex_limits_default(&defaults);
		limits = &defaults;
	}
	p.limits = limits;
	ihex_image_init(&image);

	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t line_end = nl ? (size_t)(nl - text) : len;
		size_t content_end = line_end;

		p.line++;
		if (content_end > pos && text[content_end - 1] == '\r')
			content_end--;
		if (content_end == pos) {
			/* empty lines are tolerated anywhere, as most tools write or accept them */
		} else if (eof_line) {
			r = fail(ret_err, p.line, -EINVAL, "data after the end-of-file record of line %u", eof_line);
			goto out;
		} else {
			if ((r = decode_line(&p, text + pos, content_end - pos, rec)) < 0)
				goto out;
			if ((r = handle_record(&p, rec)) < 0)
				goto out;
			if (r == 1)
				eof_line = p.line;
		}
		pos = nl ? line_end + 1 : len;
	}
	if (!eof_line) {
		r = fail(ret_err, p.line, -EINVAL, "no end-of-file record (:00000001FF): the file is truncated");
		goto out;
	}
	if ((r = build_image(&p, eof_line, &image)) < 0)
		goto out;
	*ret_image = image;
	r = 0;
out:
	free(p.runs);
	free(p.data);
	return r;
}

int ihex_check_region(const struct ihex_image *image, uint32_t region_start, uint32_t region_size,
		      struct ihex_error *ret_err)
{
	if (image->base < region_start)
		return fail(ret_err, 0, -ERANGE, "the image starts at 0x%08X but the application region starts at "
			    "0x%08X: it was linked for a chip without SoftDevice/bootloader, or is a full-chip image "
			    "(SoftDevice + app); link it for the application region or give the right region start "
			    "(image 0x%08X-0x%08X)", image->base, region_start, image->base, image->last);
	if (image->base > region_start)
		return fail(ret_err, 0, -ERANGE, "the image starts at 0x%08X, above the application region start "
			    "0x%08X: the bootloader starts the application from the vector table (or MCUboot header) at "
			    "the region start, where this image has nothing; link it for 0x%08X or give the right "
			    "region start", image->base, region_start, region_start);
	if (region_size != 0 && (uint64_t)image->last >= (uint64_t)region_start + region_size)
		return fail(ret_err, 0, -ERANGE, "the image ends at 0x%08X, past the end of the application region "
			    "0x%08X-0x%08llX (%u bytes): it is too large for the region, or holds data above it "
			    "(bootloader, settings pages, UICR)", image->last, region_start,
			    (unsigned long long)region_start + region_size - 1, region_size);
	return 0;
}

void ihex_vectors_note(const struct ihex_image *image, char *buf, size_t size)
{
	if (size == 0)
		return;
	buf[0] = '\0';
	if (!image->data)
		return;
	if (!image->has_vectors) {
		snprintf(buf, size, "the image (%zu bytes) is too short to hold a vector table", image->size);
	} else if (image->mcuboot_header) {
		snprintf(buf, size, "the image begins with an MCUboot header (magic 0x%08X), not a vector table",
			 MCUBOOT_MAGIC);
	} else if (image->sp_in_ram && image->reset_in_image) {
		snprintf(buf, size, "vector table: initial SP 0x%08X (RAM), reset 0x%08X (inside the image)",
			 image->initial_sp, image->reset_vector);
	} else {
		snprintf(buf, size, "the first words do not look like a Cortex-M vector table: initial SP 0x%08X%s, "
			 "reset 0x%08X%s", image->initial_sp,
			 image->sp_in_ram ? " (RAM)" : " (expected a word-aligned address in RAM above 0x20000000)",
			 image->reset_vector,
			 image->reset_in_image ? " (inside the image)" : " (expected an odd Thumb address inside the image)");
	}
}
