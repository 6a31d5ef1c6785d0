/* Unit tests for daemon/ihex.c: the four nRF5 SDK for Mesh HEX files read with the segments, sizes, gap, start
 * address and vector table that SOURCES.md §4 gives for them; the one linked at 0x0 refused against the S140 7.2.0
 * application region 0x27000 with the addresses and the cause; one bad file per rule, each refused with its line and
 * reason; and files written by a small Intel HEX writer below (gaps, segments, both kinds of base record, 64 KiB
 * boundaries, addresses near 4 GiB, limits), since no ARM toolchain is assumed on the build machine. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ihex.h"
#include "tap.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

#define BLINKY_S140_720 "blinky_nrf52840_xxAA_s140_7.2.0.hex"
#define BLINKY_S132_720 "blinky_nrf52832_xxAA_s132_7.2.0.hex"
#define BLINKY_S140_611 "blinky_nrf52840_xxAA_s140_6.1.1.hex"
#define APP_GREEN "app_green_s132.hex"

static char *read_data_file(const char *name, size_t *ret_len)
{
	char path[4096];
	const char *dir = getenv("MF_SRCDIR");
	FILE *f;
	char *text = NULL;
	long n;

	snprintf(path, sizeof(path), "%s/tests/data/nrf5-sdk-mesh/%s", dir && dir[0] ? dir : TOP_SRCDIR, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		text = malloc((size_t)n + 1);
		if (text && fread(text, 1, (size_t)n, f) == (size_t)n) {
			text[n] = '\0';
			*ret_len = (size_t)n;
		} else {
			free(text);
			text = NULL;
		}
	}
	fclose(f);
	return text;
}

/* --- a small Intel HEX writer: records with correct checksums, unless a test breaks one on purpose --- */

struct hexbuf {
	char text[1 << 16];
	size_t len;
	const char *eol;
	uint32_t upper;                 /* last type 04 value written, or UINT32_MAX */
};

static void hb_init(struct hexbuf *hb)
{
	hb->len = 0;
	hb->text[0] = '\0';
	hb->eol = "\n";
	hb->upper = UINT32_MAX;
}

__attribute__((format(printf, 2, 3)))
static void hb_raw(struct hexbuf *hb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(hb->text + hb->len, sizeof(hb->text) - hb->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(hb->text) - hb->len)
		abort();
	hb->len += (size_t)n;
}

static void hb_record(struct hexbuf *hb, uint8_t type, uint16_t offset, const uint8_t *data, size_t n)
{
	uint8_t sum = (uint8_t)(n + (offset >> 8) + (offset & 0xFF) + type);

	hb_raw(hb, ":%02X%04X%02X", (unsigned)n, offset, type);
	for (size_t i = 0; i < n; i++) {
		hb_raw(hb, "%02X", data[i]);
		sum = (uint8_t)(sum + data[i]);
	}
	hb_raw(hb, "%02X%s", (uint8_t)-sum, hb->eol);
}

static void hb_base16(struct hexbuf *hb, uint8_t type, uint16_t value)
{
	uint8_t d[2] = { (uint8_t)(value >> 8), (uint8_t)value };

	hb_record(hb, type, 0, d, 2);
}

/* Data at a 32-bit address, as objcopy writes it: 16 bytes a record, a type 04 whenever the upper half changes,
 * and a split at every 64 KiB boundary. */
static void hb_data(struct hexbuf *hb, uint32_t address, const uint8_t *data, size_t n)
{
	while (n > 0) {
		size_t chunk = n < 16 ? n : 16;
		uint32_t to_boundary = 0x10000 - (address & 0xFFFF);

		if (chunk > to_boundary)
			chunk = to_boundary;
		if (address >> 16 != hb->upper) {
			hb->upper = address >> 16;
			hb_base16(hb, 0x04, (uint16_t)hb->upper);
		}
		hb_record(hb, 0x00, (uint16_t)address, data, chunk);
		address += (uint32_t)chunk;
		data += chunk;
		n -= chunk;
	}
}

static void hb_fill(struct hexbuf *hb, uint32_t address, size_t n, uint8_t seed)
{
	uint8_t bytes[4096];

	for (size_t i = 0; i < n && i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)(seed + i * 7);
	hb_data(hb, address, bytes, n < sizeof(bytes) ? n : sizeof(bytes));
}

static void hb_eof(struct hexbuf *hb)
{
	hb_record(hb, 0x01, 0, NULL, 0);
}

/* --- helpers --- */

static int parse(const char *text, size_t len, const struct ihex_limits *limits, struct ihex_image *image,
		 struct ihex_error *err)
{
	ihex_image_init(image);
	memset(err, 0, sizeof(*err));
	return ihex_parse(text, len, limits, image, err);
}

static int parse_str(const char *text, struct ihex_image *image, struct ihex_error *err)
{
	return parse(text, strlen(text), NULL, image, err);
}

/* Parses a file that must be refused, and checks the code, the line and a piece of the reason. */
static void refused(const char *what, const char *text, size_t len, const struct ihex_limits *limits, int code,
		    unsigned line, const char *reason)
{
	struct ihex_image image, empty;
	struct ihex_error err;
	int r = parse(text, len, limits, &image, &err);

	ihex_image_init(&empty);
	is_int(r, code, "%s: refused", what);
	is_int(err.line, line, "%s: on line %u", what, line);
	has_str(err.message, reason, "%s: reason", what);
	if (line > 0) {
		char prefix[32];

		snprintf(prefix, sizeof(prefix), "line %u: ", line);
		ok(strncmp(err.message, prefix, strlen(prefix)) == 0, "%s: message starts with '%s' ('%s')", what,
		   prefix, err.message);
	}
	ok(memcmp(&image, &empty, sizeof(image)) == 0, "%s: output untouched", what);
	ihex_image_done(&image);
}

static void refused_str(const char *what, const char *text, int code, unsigned line, const char *reason)
{
	refused(what, text, strlen(text), NULL, code, line, reason);
}

static uint32_t byte_at(const struct ihex_image *image, uint32_t address)
{
	if (address < image->base || address > image->last)
		return 0x100;   /* outside: cannot equal a byte */
	return image->data[address - image->base];
}

/* --- the real files --- */

static void test_blinky_linked_at_zero(void)
{
	size_t len = 0;
	char *text = read_data_file(BLINKY_S140_720, &len);
	struct ihex_image image;
	struct ihex_error err;
	char note[256];

	ok(text != NULL, "read %s", BLINKY_S140_720);
	if (!text)
		return;
	is_int(len, 4956, "%s: size as in SOURCES.md", BLINKY_S140_720);
	is_int(parse(text, len, NULL, &image, &err), 0, "%s: parses (%s)", BLINKY_S140_720, err.message);
	is_int(image.base, 0x0, "linked at 0x0: lowest address");
	is_int(image.last, 0x6F7, "highest address 0x6F7");
	is_int(image.size, 1784, "1784 bytes");
	is_int(image.data_bytes, 1784, "all of them data");
	is_int(image.gap_bytes, 0, "no gap");
	is_int(image.n_segments, 1, "one segment");
	is_int(image.start_kind, IHEX_START_SEGMENT, "start segment address record (type 03)");
	is_int(image.start_cs, 0x0000, "CS 0000");
	is_int(image.start_ip, 0x02B5, "IP 02B5");
	is_int(image.start_address, 0x2B5, "start address 0x2B5");
	ok(image.has_vectors, "vector table read");
	is_int(image.initial_sp, 0x20040000, "initial SP 0x20040000 (top of the nRF52840's 256 KiB RAM)");
	is_int(image.reset_vector, 0x2B5, "reset vector 0x2B5");
	ok(image.sp_in_ram && image.reset_in_image && !image.mcuboot_header, "vector table plausible");
	ihex_vectors_note(&image, note, sizeof(note));
	is_str(note, "vector table: initial SP 0x20040000 (RAM), reset 0x000002B5 (inside the image)", "note");

	/* the legacy tool's crash (nrf5-mesh-legacy.md §4.1) becomes a refusal that says what is wrong */
	is_int(ihex_check_region(&image, 0x27000, 0, &err), -ERANGE, "refused against the S140 7.2.0 region 0x27000");
	is_int(err.line, 0, "about the whole file, no line");
	has_str(err.message, "the image starts at 0x00000000 but the application region starts at 0x00027000: it "
		"was linked for a chip without SoftDevice/bootloader, or is a full-chip image (SoftDevice + app); link "
		"it for the application region or give the right region start", "message names addresses and cause");
	has_str(err.message, "0x00000000-0x000006F7", "message gives the image's range");
	is_int(ihex_check_region(&image, 0x0, 0, &err), 0, "fits a region that starts at 0x0");
	is_int(ihex_check_region(&image, 0x0, 0x1000, &err), 0, "fits a 4 KiB region at 0x0");
	is_int(ihex_check_region(&image, 0x0, 0x6F7, &err), -ERANGE, "does not fit 0x6F7 bytes");
	has_str(err.message, "the image ends at 0x000006F7, past the end of the application region "
		"0x00000000-0x000006F6", "too-small region: message");
	ihex_image_done(&image);
	ihex_image_done(&image);        /* twice is harmless */
	free(text);
}

static void test_blinky_s132(void)
{
	size_t len = 0;
	char *text = read_data_file(BLINKY_S132_720, &len);
	struct ihex_image image;
	struct ihex_error err;

	ok(text != NULL, "read %s", BLINKY_S132_720);
	if (!text)
		return;
	is_int(len, 6716, "%s: size as in SOURCES.md", BLINKY_S132_720);
	ok(strncmp(text, ":020000022000DC\n", 16) == 0, "starts with a type 02 record, base 0x20000");
	is_int(parse(text, len, NULL, &image, &err), 0, "%s: parses (%s)", BLINKY_S132_720, err.message);
	is_int(image.base, 0x26000, "lowest address 0x26000 (the S132 application region)");
	is_int(image.last, 0x2696F, "highest address 0x2696F");
	is_int(image.size, 2416, "2416 bytes");
	is_int(image.n_segments, 1, "one segment");
	is_int(image.segments[0].start, 0x26000, "segment start");
	is_int(image.segments[0].last, 0x2696F, "segment end");
	is_int(image.segments[0].line, 2, "segment's first record on line 2");
	is_int(image.start_kind, IHEX_START_SEGMENT, "type 03");
	is_int(image.start_cs, 0x2000, "CS 2000");
	is_int(image.start_ip, 0x62B5, "IP 62B5");
	is_int(image.start_address, 0x262B5, "start address 0x262B5");
	is_int(image.initial_sp, 0x20010000, "initial SP 0x20010000 (top of the nRF52832's 64 KiB RAM)");
	is_int(image.reset_vector, 0x262B5, "reset vector 0x262B5");
	ok(image.sp_in_ram && image.reset_in_image, "vector table plausible");
	is_int(image.lines, 156, "156 lines, the last the end-of-file record");
	is_int(ihex_check_region(&image, 0x26000, 0, &err), 0, "fits the S132 region 0x26000");
	is_int(ihex_check_region(&image, 0x27000, 0, &err), -ERANGE, "not the S140 7.x region 0x27000");
	has_str(err.message, "the image starts at 0x00026000 but the application region starts at 0x00027000",
		"below: message");
	is_int(ihex_check_region(&image, 0x25000, 0, &err), -ERANGE, "not a region that starts lower");
	has_str(err.message, "the image starts at 0x00026000, above the application region start 0x00025000",
		"above: message");
	ihex_image_done(&image);

	/* the same file with CRLF line ends gives the same image */
	{
		char *crlf = malloc(len * 2);
		size_t n = 0;
		struct ihex_image again;

		if (!crlf)
			abort();
		for (size_t i = 0; i < len; i++) {
			if (text[i] == '\n')
				crlf[n++] = '\r';
			crlf[n++] = text[i];
		}
		is_int(parse(text, len, NULL, &image, &err), 0, "LF again");
		is_int(parse(crlf, n, NULL, &again, &err), 0, "CRLF parses (%s)", err.message);
		ok(again.size == image.size && again.base == image.base &&
		   memcmp(again.data, image.data, image.size) == 0, "CRLF: same image");
		ihex_image_done(&again);
		/* and without the final line end */
		is_int(parse(crlf, n - 2, NULL, &again, &err), 0, "no final line end (%s)", err.message);
		is_int(again.size, image.size, "same size");
		ihex_image_done(&again);
		ihex_image_done(&image);
		free(crlf);
	}
	free(text);
}

static void test_blinky_gap(void)
{
	size_t len = 0;
	char *text = read_data_file(BLINKY_S140_611, &len);
	struct ihex_image image;
	struct ihex_error err;

	ok(text != NULL, "read %s", BLINKY_S140_611);
	if (!text)
		return;
	is_int(len, 4812, "%s: size as in SOURCES.md", BLINKY_S140_611);
	is_int(parse(text, len, NULL, &image, &err), 0, "%s: parses (%s)", BLINKY_S140_611, err.message);
	is_int(image.base, 0x26000, "lowest address 0x26000");
	is_int(image.last, 0x266BB, "highest address 0x266BB");
	is_int(image.n_segments, 2, "two segments");
	if (image.n_segments == 2) {
		is_int(image.segments[0].start, 0x26000, "segment 1 start");
		is_int(image.segments[0].last, 0x266B5, "segment 1 end");
		is_int(image.segments[0].size, 1718, "segment 1 size");
		is_int(image.segments[0].gap_before, 0, "nothing before segment 1");
		is_int(image.segments[1].start, 0x266B8, "segment 2 start");
		is_int(image.segments[1].last, 0x266BB, "segment 2 end");
		is_int(image.segments[1].size, 4, "segment 2 size");
		is_int(image.segments[1].gap_before, 2, "2-byte gap before segment 2");
		is_int(image.segments[1].line, 111, "segment 2 from line 111");
	}
	is_int(image.data_bytes, 1722, "1722 data bytes");
	is_int(image.gap_bytes, 2, "2 gap bytes");
	is_int(image.size, 1724, "1724-byte image");
	is_int(byte_at(&image, 0x266B6), 0xFF, "gap byte 1 is 0xFF");
	is_int(byte_at(&image, 0x266B7), 0xFF, "gap byte 2 is 0xFF");
	is_int(byte_at(&image, 0x266B4), 0x70, "last bytes of segment 1 (:0266B40070472D)");
	is_int(byte_at(&image, 0x266B5), 0x47, "...");
	is_int(byte_at(&image, 0x266B8), 0x00, "segment 2 (:0466B8000090D0037B)");
	is_int(byte_at(&image, 0x266BB), 0x03, "...");
	is_int(image.start_kind, IHEX_START_SEGMENT, "type 03");
	is_int(image.start_address, 0x26375, "start address 0x26375");
	is_int(image.reset_vector, 0x26375, "reset vector 0x26375");
	ok(image.sp_in_ram && image.reset_in_image, "vector table plausible");
	is_int(ihex_check_region(&image, 0x26000, 0, &err), 0, "fits 0x26000");
	ihex_image_done(&image);
	free(text);
}

static void test_app_green(void)
{
	size_t len = 0;
	char *text = read_data_file(APP_GREEN, &len);
	struct ihex_image image;
	struct ihex_error err;

	ok(text != NULL, "read %s", APP_GREEN);
	if (!text)
		return;
	is_int(len, 7072, "%s: size as in SOURCES.md", APP_GREEN);
	is_int(parse(text, len, NULL, &image, &err), 0, "%s: parses (%s)", APP_GREEN, err.message);
	is_int(image.base, 0x1F000, "lowest address 0x1F000 (type 02 base 0x10000)");
	is_int(image.last, 0x1F9F7, "highest address 0x1F9F7");
	is_int(image.size, 2552, "2552 bytes");
	is_int(image.n_segments, 1, "one segment");
	is_int(image.start_cs, 0x1000, "CS 1000");
	is_int(image.start_ip, 0xF5B1, "IP F5B1");
	is_int(image.start_address, 0x1F5B1, "start address 0x1F5B1");
	is_int(image.reset_vector, 0x1F5B1, "reset vector 0x1F5B1");
	ok(image.sp_in_ram && image.reset_in_image, "vector table plausible");
	ihex_image_done(&image);
	free(text);
}

/* --- refusals, each on its line --- */

static void test_bad_records(void)
{
	refused_str("bad checksum", ":0400000001020304F2\n:0400040001020304F3\n:00000001FF\n", -EINVAL, 2,
		    "bad checksum 0xF3, the record's bytes need 0xEE");
	refused_str("odd length", ":0400000001020304F2\n:040004000102030\n:00000001FF\n", -EINVAL, 2,
		    "odd number of hex digits (15)");
	refused_str("non-hex digit", ":0400000001020304F2\n:04000400010G0304EE\n:00000001FF\n", -EINVAL, 2,
		    "'G' at column 13 is not a hex digit");
	refused_str("control byte", ":04000000010\x01" "0304F2\n:00000001FF\n", -EINVAL, 1,
		    "byte 0x01 at column 13 is not a hex digit");
	refused_str("short record", ":0400000001020304F2\n:00000001\n", -EINVAL, 2,
		    "record of 4 bytes is too short: it needs at least 5");
	refused_str("byte count larger than the data", ":0500000001020304F1\n:00000001FF\n", -EINVAL, 1,
		    "byte count 0x05 says 5 data bytes but the record holds 4");
	refused_str("byte count smaller than the data", ":0300000001020304F3\n:00000001FF\n", -EINVAL, 1,
		    "byte count 0x03 says 3 data bytes but the record holds 4");
	refused_str("no colon", "0400000001020304F2\n:00000001FF\n", -EINVAL, 1,
		    "a record starts with ':', this line starts with '0'");
	refused_str("leading space", ":0400000001020304F2\n :00000001FF\n", -EINVAL, 2,
		    "a record starts with ':', this line starts with ' '");
	refused_str("trailing space", ":0400000001020304F2 \n:00000001FF\n", -EINVAL, 1,
		    "' ' at column 20 is not a hex digit");
	refused_str("bare CR line ends", ":0400000001020304F2\r:00000001FF\r", -EINVAL, 1,
		    "carriage return inside the line at column 20");
	refused_str("data after EOF", ":0400000001020304F2\n:00000001FF\n\n:0400040001020304EE\n", -EINVAL, 4,
		    "data after the end-of-file record of line 2");
	refused_str("second EOF", ":0400000001020304F2\n:00000001FF\n:00000001FF\n", -EINVAL, 3,
		    "data after the end-of-file record of line 2");
	refused_str("no EOF", ":0400000001020304F2\n:0400040001020304EE\n", -EINVAL, 2,
		    "no end-of-file record (:00000001FF): the file is truncated");
	refused_str("empty file", "", -EINVAL, 0, "no end-of-file record");
	refused_str("only EOF", ":00000001FF\n", -EINVAL, 1, "no data records: the file holds no firmware");
	refused_str("EOF with data", ":0100000100FE\n", -EINVAL, 1,
		    "end-of-file record (type 01) must hold 0 data bytes, not 1");
	refused_str("type 04 with 3 bytes", ":03000004000100F8\n:00000001FF\n", -EINVAL, 1,
		    "extended linear address record (type 04) must hold 2 data bytes, not 3");
	refused_str("type 02 with 1 byte", ":0100000220DD\n:00000001FF\n", -EINVAL, 1,
		    "extended segment address record (type 02) must hold 2 data bytes, not 1");
	refused_str("type 05 with 2 bytes", ":020000050001F8\n:00000001FF\n", -EINVAL, 1,
		    "start linear address record (type 05) must hold 4 data bytes, not 2");
	refused_str("unknown type", ":0400000601020304EC\n:00000001FF\n", -EINVAL, 1,
		    "unknown record type 0x06 (Intel HEX has 00 to 05)");
	refused_str("two start records", ":0400000001020304F2\n:04000003000002B542\n:0400000500000000F7\n"
		    ":00000001FF\n", -EINVAL, 3, "a second start address record (the first is on line 2)");
	{
		char line[600];

		memset(line, '0', sizeof(line));
		line[0] = ':';
		memcpy(line + 550, "\n:00000001FF\n", 14);
		refused_str("overlong line", line, -EINVAL, 1, "line of 550 characters, longer than the longest record");
	}
}

static void test_overlaps(void)
{
	struct hexbuf hb;
	uint8_t four[4] = { 1, 2, 3, 4 };

	hb_init(&hb);
	hb_data(&hb, 0x1000, four, 4);          /* line 1: 04, line 2: data */
	hb_data(&hb, 0x1002, four, 4);          /* line 3 */
	hb_eof(&hb);
	refused("overlapping records", hb.text, hb.len, NULL, -EINVAL, 3,
		"data at 0x00001002-0x00001005 overlaps the data from line 2 (0x00001000-0x00001003) at "
		"0x00001002-0x00001003");

	hb_init(&hb);
	hb_data(&hb, 0x1000, four, 4);
	hb_data(&hb, 0x1000, four, 4);
	hb_eof(&hb);
	refused("identical bytes twice", hb.text, hb.len, NULL, -EINVAL, 3, "refused even when the bytes agree");

	/* out of order: a later run reaching into an earlier one from below, and one growing into a later one */
	hb_init(&hb);
	hb_fill(&hb, 0x2000, 32, 0);            /* lines 1-3 */
	hb_fill(&hb, 0x1FF0, 17, 0);            /* lines 4-5: 0x1FF0-0x2000 */
	hb_eof(&hb);
	refused("out of order, overlapping the next run", hb.text, hb.len, NULL, -EINVAL, 5,
		"overlaps the data from line 2 (0x00002000-0x0000201F)");

	hb_init(&hb);
	hb_fill(&hb, 0x2000, 32, 0);            /* lines 1-3 */
	hb_fill(&hb, 0x1FE0, 32, 0);            /* lines 4-5: touches 0x2000 without overlap */
	hb_fill(&hb, 0x2000, 1, 0);             /* line 6: extends the run into the first */
	hb_eof(&hb);
	refused("extending a run into the next", hb.text, hb.len, NULL, -EINVAL, 6, "overlaps the data from line 2");

	hb_init(&hb);
	hb_fill(&hb, 0x2010, 16, 0);
	hb_fill(&hb, 0x2000, 16, 0);
	hb_fill(&hb, 0x2020, 16, 0);
	hb_eof(&hb);
	{
		struct ihex_image image;
		struct ihex_error err;

		is_int(parse(hb.text, hb.len, NULL, &image, &err), 0, "touching runs out of order: accepted (%s)",
		       err.message);
		is_int(image.n_segments, 1, "joined into one segment");
		is_int(image.size, 48, "48 bytes");
		is_int(image.base, 0x2000, "from 0x2000");
		is_int(image.segments[0].line, 3, "the segment's lowest record is on line 3");
		ihex_image_done(&image);
	}
}

static void test_addressing(void)
{
	struct hexbuf hb;
	struct ihex_image image;
	struct ihex_error err;
	uint8_t one = 0xA5;

	/* type 02 and 04 mixed: whichever came last sets the base */
	hb_init(&hb);
	hb_base16(&hb, 0x02, 0x2000);                           /* base 0x20000 */
	hb_record(&hb, 0x00, 0x0010, &one, 1);                  /* 0x20010 */
	hb_base16(&hb, 0x04, 0x0003);                           /* base 0x30000 */
	hb_record(&hb, 0x00, 0x0010, &one, 1);                  /* 0x30010 */
	hb_base16(&hb, 0x02, 0x3001);                           /* base 0x30010 */
	hb_record(&hb, 0x00, 0x0001, &one, 1);                  /* 0x30011 */
	hb_base16(&hb, 0x02, 0xFFFF);                           /* base 0xFFFF0: segment bases reach past 1 MiB */
	hb_record(&hb, 0x00, 0xFFFF, &one, 1);                  /* 0x10FFEF */
	hb_base16(&hb, 0x04, 0x0000);
	hb_record(&hb, 0x00, 0x0000, &one, 1);                  /* 0x0 */
	hb_eof(&hb);
	is_int(parse(hb.text, hb.len, NULL, &image, &err), 0, "types 02 and 04 mixed (%s)", err.message);
	is_int(image.n_segments, 4, "four segments");
	if (image.n_segments == 4) {
		is_int(image.segments[0].start, 0x0, "04 0000 -> 0x0");
		is_int(image.segments[1].start, 0x20010, "02 2000 -> 0x20010");
		is_int(image.segments[2].start, 0x30010, "04 0003 -> 0x30010, then 02 3001 -> 0x30011, joined");
		is_int(image.segments[2].size, 2, "two bytes");
		is_int(image.segments[3].start, 0x10FFEF, "02 FFFF + FFFF -> 0x10FFEF");
		is_int(image.segments[1].gap_before, 0x2000F, "gap before 0x20010");
	}
	is_int(image.data_bytes, 5, "5 data bytes");
	is_int(image.gap_bytes, 0x10FFF0 - 5, "the rest is gap");
	is_int(byte_at(&image, 0x30011), 0xA5, "byte at 0x30011");
	is_int(byte_at(&image, 0x30012), 0xFF, "0xFF after it");
	ok(!image.sp_in_ram, "no vector table: not fatal");
	{
		char note[256];

		ihex_vectors_note(&image, note, sizeof(note));
		has_str(note, "do not look like a Cortex-M vector table", "note says so");
	}
	ihex_image_done(&image);

	/* a record that would wrap at 64 KiB, in either base mode */
	refused_str("wrap at 64 KiB (type 04)", ":020000040001F9\n:10FFF8000102030405060708090A0B0C0D0E0F1071\n"
		    ":00000001FF\n", -EINVAL, 2, "record at offset 0xFFF8 with 16 bytes runs past the 64 KiB boundary");
	refused_str("wrap at 64 KiB (type 02)", ":020000022000DC\n:02FFFF00AABB9B\n:00000001FF\n", -EINVAL, 2,
		    "offset 0xFFFF with 2 bytes runs past the 64 KiB boundary");
	/* ending exactly at the boundary is fine, and so is the last byte of the address space */
	is_int(parse_str(":020000040001F9\n:08FFF8000102030405060708DD\n:00000001FF\n", &image, &err), 0,
	       "ending at 0x1FFFF (%s)", err.message);
	is_int(image.last, 0x1FFFF, "last byte 0x1FFFF");
	ihex_image_done(&image);
	is_int(parse_str(":02000004FFFFFC\n:04FFFC00DEADBEEFC9\n:00000001FF\n", &image, &err), 0,
	       "data up to 0xFFFFFFFF (%s)", err.message);
	is_int(image.base, 0xFFFFFFFC, "base 0xFFFFFFFC");
	is_int(image.last, 0xFFFFFFFF, "last 0xFFFFFFFF");
	is_int(image.segments[0].last, 0xFFFFFFFF, "segment ends at 0xFFFFFFFF");
	is_int(ihex_check_region(&image, 0xFFFFFFFC, 4, &err), 0, "region at the very top");
	is_int(ihex_check_region(&image, 0xFFFFFFFC, 3, &err), -ERANGE, "region one byte too small");
	ihex_image_done(&image);

	/* huge addresses: a span beyond the image limit, with the UICR hint when the far data sits there */
	hb_init(&hb);
	hb_fill(&hb, 0x27000, 64, 1);
	hb_fill(&hb, 0x10001014, 4, 2);
	hb_eof(&hb);
	refused("UICR data after the application", hb.text, hb.len, NULL, -EFBIG, 7,
		"the image would span 0x00027000-0x10001017 (268279832 bytes, limit 16777216): the data at "
		"0x10001014 is in the nRF UICR/FICR area");
	hb_init(&hb);
	hb_fill(&hb, 0x0, 16, 1);
	hb_fill(&hb, 0xFFFFFFF0, 16, 2);
	hb_eof(&hb);
	refused("data at 0 and near 4 GiB", hb.text, hb.len, NULL, -EFBIG, 4,
		"the image would span 0x00000000-0xFFFFFFFF (4294967296 bytes with the gaps filled), more than the "
		"limit of 16777216 bytes; the data from line 4 is far from the rest");

	/* start linear address (type 05) */
	hb_init(&hb);
	hb_fill(&hb, 0x8000, 8, 0);
	{
		uint8_t eip[4] = { 0x00, 0x00, 0x80, 0x05 };

		hb_record(&hb, 0x05, 0, eip, 4);
	}
	hb_eof(&hb);
	is_int(parse(hb.text, hb.len, NULL, &image, &err), 0, "type 05 (%s)", err.message);
	is_int(image.start_kind, IHEX_START_LINEAR, "start linear address");
	is_int(image.start_address, 0x8005, "EIP 0x8005");
	ihex_image_done(&image);
}

static void test_gaps_and_vectors(void)
{
	struct hexbuf hb;
	struct ihex_image image;
	struct ihex_error err;
	char note[256];
	/* an image as a linker lays it out for S140 7.x: vectors at 0x27000, code, then .rodata after an alignment
	 * gap, then a lone word at a page boundary (e.g. a settings marker) */
	uint8_t vectors[8] = { 0x00, 0x00, 0x04, 0x20, 0x01, 0x71, 0x02, 0x00 };  /* SP 0x20040000, reset 0x27101 */

	hb_init(&hb);
	hb.eol = "\r\n";
	hb_data(&hb, 0x27000, vectors, 8);
	hb_fill(&hb, 0x27008, 0x1F8, 3);                /* to 0x271FF */
	hb_fill(&hb, 0x27204, 0x3C, 4);                 /* 4-byte gap, to 0x2723F */
	hb_fill(&hb, 0x28000, 4, 5);                    /* 0xDC0 gap */
	hb_eof(&hb);
	is_int(parse(hb.text, hb.len, NULL, &image, &err), 0, "generated CRLF image (%s)", err.message);
	is_int(image.n_segments, 3, "three segments");
	if (image.n_segments == 3) {
		is_int(image.segments[0].last, 0x271FF, "segment 1 end");
		is_int(image.segments[1].start, 0x27204, "segment 2 start");
		is_int(image.segments[1].gap_before, 4, "4-byte gap");
		is_int(image.segments[2].start, 0x28000, "segment 3 start");
		is_int(image.segments[2].gap_before, 0x28000 - 0x27240, "0xDC0-byte gap");
	}
	is_int(image.size, 0x1004, "image 0x27000-0x28003");
	is_int(image.data_bytes, 0x200 + 0x3C + 4, "data bytes");
	is_int(image.gap_bytes, 4 + 0xDC0, "gap bytes");
	is_int(byte_at(&image, 0x27200), 0xFF, "gap filled with 0xFF");
	is_int(byte_at(&image, 0x27FFF), 0xFF, "gap filled with 0xFF up to the last segment");
	ok(image.sp_in_ram && image.reset_in_image, "vector table plausible");
	ihex_vectors_note(&image, note, sizeof(note));
	is_str(note, "vector table: initial SP 0x20040000 (RAM), reset 0x00027101 (inside the image)", "note");
	is_int(ihex_check_region(&image, 0x27000, 0xD9000, &err), 0, "fits S140's application region");
	is_int(image.start_kind, IHEX_START_NONE, "no start record");
	ihex_image_done(&image);

	/* a reset vector without the Thumb bit, or outside the image: a hint, not an error */
	vectors[4] = 0x00;
	hb_init(&hb);
	hb_data(&hb, 0x27000, vectors, 8);
	hb_eof(&hb);
	is_int(parse(hb.text, hb.len, NULL, &image, &err), 0, "odd vector table still parses");
	ok(image.sp_in_ram && !image.reset_in_image, "reset vector 0x27100 is not a Thumb address in the image");
	ihex_vectors_note(&image, note, sizeof(note));
	has_str(note, "reset 0x00027100 (expected an odd Thumb address inside the image)", "note");
	ihex_image_done(&image);

	/* an nRF Connect SDK signed image starts with the MCUboot header */
	{
		uint8_t header[8] = { 0x3d, 0xb8, 0xf3, 0x96, 0, 0, 0, 0 };

		hb_init(&hb);
		hb_data(&hb, 0xC000, header, 8);
		hb_eof(&hb);
		is_int(parse(hb.text, hb.len, NULL, &image, &err), 0, "MCUboot image");
		ok(image.mcuboot_header, "MCUboot magic seen");
		ihex_vectors_note(&image, note, sizeof(note));
		has_str(note, "begins with an MCUboot header", "note");
		ihex_image_done(&image);
	}

	hb_init(&hb);
	hb_data(&hb, 0x1000, vectors, 4);
	hb_eof(&hb);
	is_int(parse(hb.text, hb.len, NULL, &image, &err), 0, "4-byte image");
	ok(!image.has_vectors, "too short for a vector table");
	ihex_vectors_note(&image, note, sizeof(note));
	has_str(note, "too short to hold a vector table", "note");
	ihex_image_done(&image);

	/* lowercase hex, empty lines and zero-length data records are accepted */
	is_int(parse_str("\n:04000000deadbeefc4\n\n:00001000F0\n:00000001ff\n\n", &image, &err), 0,
	       "lowercase, empty lines (%s)", err.message);
	is_int(image.size, 4, "4 bytes");
	is_int(image.lines, 5, "end-of-file record on line 5");
	ihex_image_done(&image);
}

static void test_limits(void)
{
	struct hexbuf hb;
	struct ihex_limits limits;
	struct ihex_image image;
	struct ihex_error err;

	ihex_limits_default(&limits);
	is_int(limits.max_data, 16u << 20, "default: 16 MiB of data");
	is_int(limits.max_image, 16u << 20, "default: 16 MiB image");
	is_int(limits.max_runs, 4096, "default: 4096 runs");

	hb_init(&hb);
	hb_fill(&hb, 0x0, 256, 0);      /* lines 1-17 */
	hb_eof(&hb);
	limits.max_data = 256;
	is_int(parse(hb.text, hb.len, &limits, &image, &err), 0, "exactly max_data bytes");
	ihex_image_done(&image);
	limits.max_data = 255;
	refused("one byte over max_data", hb.text, hb.len, &limits, -EFBIG, 17, "more than 255 bytes of data");

	ihex_limits_default(&limits);
	hb_init(&hb);
	hb_fill(&hb, 0x0, 16, 0);
	hb_fill(&hb, 0x100, 16, 0);
	hb_eof(&hb);
	limits.max_image = 0x110;
	is_int(parse(hb.text, hb.len, &limits, &image, &err), 0, "exactly max_image bytes");
	ihex_image_done(&image);
	limits.max_image = 0x10F;
	refused("one byte over max_image", hb.text, hb.len, &limits, -EFBIG, 3,
		"(272 bytes with the gaps filled), more than the limit of 271 bytes");

	ihex_limits_default(&limits);
	hb_init(&hb);
	for (uint32_t i = 0; i < 5; i++)
		hb_fill(&hb, 0x100 * (5 - i), 4, 0);    /* five runs, written top down: lines 1-6 */
	hb_eof(&hb);
	limits.max_runs = 5;
	is_int(parse(hb.text, hb.len, &limits, &image, &err), 0, "exactly max_runs runs");
	is_int(image.n_segments, 5, "five segments");
	is_int(image.segments[0].start, 0x100, "sorted: lowest first");
	is_int(image.segments[0].line, 6, "lowest from line 6");
	ihex_image_done(&image);
	limits.max_runs = 4;
	refused("one run over max_runs", hb.text, hb.len, &limits, -EFBIG, 6, "more than 4 runs of consecutive "
		"addresses");

	/* 16 MiB with the default limits: one long run, 64 KiB at a time */
	{
		size_t cap = (16u << 20) / 16 * 44 + 4096 * 16;
		char *text = malloc(cap);
		size_t n = 0;
		uint8_t sum;

		if (!text)
			abort();
		for (uint32_t address = 0; address < (16u << 20); address += 16) {
			if ((address & 0xFFFF) == 0) {
				sum = (uint8_t)(2 + 4 + (address >> 24) + (address >> 16));
				n += (size_t)snprintf(text + n, cap - n, ":02000004%04X%02X\n", address >> 16,
						      (uint8_t)-sum);
			}
			sum = (uint8_t)(16 + (address >> 8) + address);
			n += (size_t)snprintf(text + n, cap - n, ":10%04X00", address & 0xFFFF);
			for (int i = 0; i < 16; i++) {
				n += (size_t)snprintf(text + n, cap - n, "%02X", (uint8_t)(address + i));
				sum = (uint8_t)(sum + (uint8_t)(address + i));
			}
			n += (size_t)snprintf(text + n, cap - n, "%02X\n", (uint8_t)-sum);
		}
		n += (size_t)snprintf(text + n, cap - n, ":00000001FF\n");
		is_int(parse(text, n, NULL, &image, &err), 0, "16 MiB image (%s)", err.message);
		is_int(image.size, 16u << 20, "16 MiB");
		is_int(image.n_segments, 1, "one segment");
		is_int(byte_at(&image, 0xFFFFFF), 0xFF, "last byte (0xFFFFF0 + 15)");
		ihex_image_done(&image);
		/* one more byte is refused */
		n -= strlen(":00000001FF\n");
		n += (size_t)snprintf(text + n, cap - n, ":020000040100F9\n:0100000042BD\n:00000001FF\n");
		refused("16 MiB + 1 byte", text, n, NULL, -EFBIG, 1048834, "more than 16777216 bytes of data");
		free(text);
	}
}

int main(void)
{
	test_blinky_linked_at_zero();
	test_blinky_s132();
	test_blinky_gap();
	test_app_green();
	test_bad_records();
	test_overlaps();
	test_addressing();
	test_gaps_and_vectors();
	test_limits();
	return done_testing();
}
