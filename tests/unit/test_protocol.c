/* Unit tests for protocol/: CRC-32C, COBS (one shot and streaming), frames, every message, and the worked examples
 * of docs/protocol.md, which this test reads so that the document and the code cannot drift apart. */
#include <stdlib.h>

#include "cobs.h"
#include "crc32c.h"
#include "frame.h"
#include "messages.h"
#include "tap.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

static uint32_t rng_state = 0x2545F491;

/* xorshift32: the same "random" chunks and payloads on every run. */
static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void hex_line(const char *label, const uint8_t *p, size_t len)
{
	printf("#   %s (%zu bytes):", label, len);
	for (size_t i = 0; i < len; i++)
		printf("%s%02x", i % 32 == 0 ? "\n#     " : " ", p[i]);
	printf("\n");
}

/* Checks two byte strings for equality and prints both when they differ. */
static bool is_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len, const char *what)
{
	bool same = got_len == want_len && (want_len == 0 || memcmp(got, want, want_len) == 0);

	if (!ok(same, "%s", what)) {
		hex_line("got", got, got_len);
		hex_line("expected", want, want_len);
	}
	return same;
}

static const char *srcdir(void)
{
	const char *dir = getenv("MF_SRCDIR");

	return dir && dir[0] ? dir : TOP_SRCDIR;
}

/* Reads a whole file into a new buffer (free() it); NULL if it cannot be read. */
static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, len = 0, n;

	if (!f)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *bigger = realloc(buf, cap = cap * 2 + 8192);

			if (!bigger) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = bigger;
		}
		n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	*ret_len = len;
	return buf;
}

/* ---------------------------------------------------------------- CRC-32C */

static void test_crc32c(void)
{
	uint8_t buf[32];

	is_int(crc32c(0, (const uint8_t *)"123456789", 9), CRC32C_CHECK, "CRC-32C check value of \"123456789\"");
	is_int(crc32c(0, NULL, 0), 0, "CRC of nothing is 0");
	is_int(crc32c(crc32c(0, (const uint8_t *)"1234", 4), (const uint8_t *)"56789", 5), CRC32C_CHECK,
	       "CRC in two pieces equals CRC in one");
	/* RFC 3720 (iSCSI) B.4 test vectors */
	memset(buf, 0, sizeof(buf));
	is_int(crc32c(0, buf, sizeof(buf)), 0x8A9136AA, "32 zero bytes (RFC 3720 B.4)");
	memset(buf, 0xff, sizeof(buf));
	is_int(crc32c(0, buf, sizeof(buf)), 0x62A8AB43, "32 0xFF bytes (RFC 3720 B.4)");
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	is_int(crc32c(0, buf, sizeof(buf)), 0x46DD794E, "bytes 0..31 (RFC 3720 B.4)");
}

/* The CRC one bit at a time, straight from the definition: the reference for the table-driven crc32c(). */
static uint32_t crc32c_bitwise(const uint8_t *p, size_t len)
{
	uint32_t crc = 0xFFFFFFFF;

	for (size_t i = 0; i < len; i++) {
		crc ^= p[i];
		for (int bit = 0; bit < 8; bit++)
			crc = (crc >> 1) ^ (crc & 1 ? 0x82F63B78u : 0);
	}
	return ~crc;
}

/* Every byte value at every position of a block of eight, from every alignment, meets every entry of every
 * slicing table; random data of every length up to a few blocks covers the byte-wise head and tail. */
static void test_crc32c_tables(void)
{
	uint8_t buf[8 + 300];
	uint32_t rng = 12345, got = 0, want = 0;
	size_t mismatches = 0, at_len = 0;

	for (size_t align = 0; align < 8; align++) {
		for (size_t pos = 0; pos < 16; pos++) {
			for (unsigned v = 0; v < 256; v++) {
				uint8_t *p = buf + align;

				memset(buf, 0, sizeof(buf));
				p[pos] = (uint8_t)v;
				if (crc32c(0, p, 24) != crc32c_bitwise(p, 24) && mismatches++ == 0) {
					got = crc32c(0, p, 24);
					want = crc32c_bitwise(p, 24);
					at_len = 24;
				}
			}
		}
	}
	for (size_t i = 0; i < sizeof(buf); i++) {
		rng = rng * 1103515245u + 12345u;
		buf[i] = (uint8_t)(rng >> 16);
	}
	for (size_t align = 0; align < 8; align++) {
		for (size_t len = 0; len + align <= sizeof(buf); len++) {
			if (crc32c(0, buf + align, len) != crc32c_bitwise(buf + align, len) && mismatches++ == 0) {
				got = crc32c(0, buf + align, len);
				want = crc32c_bitwise(buf + align, len);
				at_len = len;
			}
		}
	}
	is_int(mismatches, 0, "table-driven CRC-32C equals the bit-at-a-time CRC (first mismatch: %zu bytes, 0x%08x "
	       "instead of 0x%08x)", at_len, got, want);
}

/* ---------------------------------------------------------------- COBS */

static void test_cobs_known(void)
{
	static const struct {
		const char *what;
		uint8_t in[8];
		size_t in_len;
		uint8_t out[8];
		size_t out_len;
	} cases[] = {
		{ "empty", { 0 }, 0, { 0x01 }, 1 },
		{ "one zero", { 0x00 }, 1, { 0x01, 0x01 }, 2 },
		{ "two zeros", { 0x00, 0x00 }, 2, { 0x01, 0x01, 0x01 }, 3 },
		{ "11 22 00 33", { 0x11, 0x22, 0x00, 0x33 }, 4, { 0x03, 0x11, 0x22, 0x02, 0x33 }, 5 },
		{ "11 22 33 44", { 0x11, 0x22, 0x33, 0x44 }, 4, { 0x05, 0x11, 0x22, 0x33, 0x44 }, 5 },
		{ "11 00 00 00", { 0x11, 0x00, 0x00, 0x00 }, 4, { 0x02, 0x11, 0x01, 0x01, 0x01 }, 5 },
	};
	uint8_t out[600], back[600], in[600];
	size_t n = 0, m = 0;

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		is_int(cobs_encode(cases[i].in, cases[i].in_len, out, sizeof(out), &n), COBS_OK, "encode %s",
		       cases[i].what);
		is_bytes(out, n, cases[i].out, cases[i].out_len, cases[i].what);
		is_int(cobs_decode(cases[i].out, cases[i].out_len, back, sizeof(back), &m), COBS_OK, "decode %s",
		       cases[i].what);
		is_bytes(back, m, cases[i].in, cases[i].in_len, "decodes back");
	}

	/* 254 non-zero bytes fill one block exactly: no empty block after it (canonical form). */
	for (size_t i = 0; i < 255; i++)
		in[i] = (uint8_t)(i + 1);
	cobs_encode(in, 254, out, sizeof(out), &n);
	is_int(n, 255, "254 non-zero bytes encode to 255");
	is_int(out[0], 0xff, "... as one full block");
	cobs_encode(in, 255, out, sizeof(out), &n);
	is_int(n, 257, "255 non-zero bytes encode to 257");
	ok(out[0] == 0xff && out[255] == 0x02 && out[256] == 0xff, "... a full block and a block of one");
	/* The non-canonical form with a trailing empty block decodes to the same bytes. */
	cobs_encode(in, 254, out, sizeof(out), &n);
	out[n++] = 0x01;
	is_int(cobs_decode(out, n, back, sizeof(back), &m), COBS_OK, "trailing empty block accepted");
	is_bytes(back, m, in, 254, "... and adds nothing");
}

/* Pattern of @len bytes: 0 = all zero, 1 = no zero (1..255 repeating), 2 = random with zeros. */
static void fill(uint8_t *p, size_t len, int pattern)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pattern == 0 ? 0 : pattern == 1 ? (uint8_t)(i % 255 + 1) : (uint8_t)(rng() % 4 == 0 ? 0 : rng());
}

static void test_cobs_roundtrip(void)
{
	static const size_t lengths[] = { 0, 1, 2, 253, 254, 255, 256, 507, 508, 509, FRAME_MAX_SIZE };
	static const char *const names[] = { "all-zero", "no-zero", "random" };
	static uint8_t in[FRAME_MAX_SIZE], enc[COBS_WIRE_MAX(FRAME_MAX_SIZE)], dec[FRAME_MAX_SIZE];

	for (size_t l = 0; l < ARRAY_SIZE(lengths); l++) {
		for (int pattern = 0; pattern < 3; pattern++) {
			size_t len = lengths[l], n = 0, m = 0;
			bool fine;

			fill(in, len, pattern);
			fine = cobs_encode(in, len, enc, sizeof(enc), &n) == COBS_OK;
			fine = fine && n <= COBS_ENCODED_MAX(len) && memchr(enc, 0, n) == NULL;
			fine = fine && cobs_decode(enc, n, dec, sizeof(dec), &m) == COBS_OK;
			fine = fine && m == len && memcmp(dec, in, len) == 0;
			/* in place: the decoder never overtakes its input */
			fine = fine && cobs_decode(enc, n, enc, sizeof(enc), &m) == COBS_OK && m == len &&
			       memcmp(enc, in, len) == 0;
			if (!ok(fine, "COBS round trip, %zu %s bytes", len, names[pattern]))
				printf("#   encoded %zu bytes, decoded %zu\n", n, m);
		}
	}
	/* the bound is tight for frames without zeros */
	fill(in, FRAME_MAX_SIZE, 1);
	{
		size_t n = 0;

		cobs_encode(in, FRAME_MAX_SIZE, enc, sizeof(enc), &n);
		is_int(n, FRAME_MAX_SIZE + (FRAME_MAX_SIZE + 253) / 254, "no-zero max frame: one code byte per 254");
	}
}

static void test_cobs_errors(void)
{
	uint8_t out[16], in[16] = { 0x11, 0x22, 0x33 };
	size_t n = 77;

	is_int(cobs_decode((const uint8_t[]){ 0x03, 0x11, 0x00 }, 3, out, sizeof(out), &n), COBS_ERR_MALFORMED,
	       "a zero inside a block is malformed");
	is_int(cobs_decode((const uint8_t[]){ 0x05, 0x11, 0x22 }, 3, out, sizeof(out), &n), COBS_ERR_MALFORMED,
	       "a block cut short is malformed");
	is_int(cobs_decode((const uint8_t[]){ 0x02, 0x11, 0x00, 0x01 }, 4, out, sizeof(out), &n),
	       COBS_ERR_MALFORMED, "a zero code byte is malformed");
	is_int(cobs_decode(in, 0, out, sizeof(out), &n), COBS_ERR_MALFORMED, "no bytes at all is malformed");
	is_int(n, 77, "length untouched on failure");
	is_int(cobs_decode((const uint8_t[]){ 0x04, 0x11, 0x22, 0x33 }, 4, out, 2, &n), COBS_ERR_NO_SPACE,
	       "decode into too small a buffer");
	is_int(cobs_decode((const uint8_t[]){ 0x02, 0x11, 0x01 }, 3, out, 1, &n), COBS_ERR_NO_SPACE,
	       "no room for the implied zero");
	is_int(cobs_encode(in, 3, out, 3, &n), COBS_ERR_NO_SPACE, "encode into too small a buffer");
	is_int(cobs_encode(in, 3, out, 0, &n), COBS_ERR_NO_SPACE, "encode into no buffer");
	is_int(cobs_encode((const uint8_t[]){ 0x11, 0x00 }, 2, out, 2, &n), COBS_ERR_NO_SPACE,
	       "encode: no room for the next code byte");
	is_int(cobs_encode(in, 3, out, 4, &n), COBS_OK, "encode into exactly enough");
	is_int(n, 4, "... 4 bytes");

	is_int(cobs_encode_frame(in, 3, true, out, sizeof(out)), 6, "wire frame with leading delimiter");
	ok(out[0] == 0 && out[1] == 0x04 && out[5] == 0, "... 00 04 11 22 33 00");
	is_int(cobs_encode_frame(in, 3, false, out, sizeof(out)), 5, "wire frame without leading delimiter");
	is_int(cobs_encode_frame(in, 3, true, out, 5), 0, "wire frame: no room for the trailing delimiter");
	is_int(cobs_encode_frame(in, 3, false, out, 4), 0, "wire frame: no room at all");
	is_int(cobs_encode_frame(in, 3, true, out, 0), 0, "wire frame: zero capacity");
	is_int(cobs_encode_frame(in, 3, true, out, 3), 0, "wire frame: no room for the encoding");
}

/* ---------------------------------------------------------------- COBS stream */

struct collected {
	size_t n;
	size_t len[64];
	uint8_t data[64][FRAME_MAX_SIZE];
};

/* Feeds @wire to @s in chunks: chunk 0 = all at once, 1 = byte by byte, 2 = random sizes 1..40. */
static void feed(struct cobs_stream *s, const uint8_t *wire, size_t len, int chunking, struct collected *c)
{
	size_t pos = 0;

	c->n = 0;
	while (pos < len) {
		size_t chunk = chunking == 0 ? len - pos : chunking == 1 ? 1 : 1 + rng() % 40;
		const uint8_t *p = wire + pos;

		if (chunk > len - pos)
			chunk = len - pos;
		pos += chunk;
		while (chunk > 0) {
			size_t frame_len, used = cobs_stream_feed(s, p, chunk, &frame_len);

			if (used == 0 || used > chunk) {
				ok(0, "feed consumed %zu of %zu bytes", used, chunk);
				return;
			}
			p += used;
			chunk -= used;
			if (frame_len > 0 && c->n < ARRAY_SIZE(c->len)) {
				memcpy(c->data[c->n], s->buf, frame_len);
				c->len[c->n++] = frame_len;
			}
		}
	}
}

static size_t append_frame(uint8_t *wire, size_t pos, size_t cap, const uint8_t *frame, size_t len, bool leading)
{
	size_t n = cobs_encode_frame(frame, len, leading, wire + pos, cap - pos);

	if (n == 0)
		ok(0, "wire buffer too small in test");
	return pos + n;
}

static void test_stream(void)
{
	static uint8_t frames[5][FRAME_MAX_SIZE];
	static const size_t sizes[5] = { 14, 1, 254, 700, FRAME_MAX_SIZE };
	static uint8_t wire[8 * COBS_WIRE_MAX(FRAME_MAX_SIZE)];
	static uint8_t buf[FRAME_MAX_SIZE];
	static struct collected got;
	static const char *const how[] = { "in one chunk", "byte by byte", "in random chunks" };
	struct cobs_stream s;
	size_t pos = 0, frame_len;

	for (int i = 0; i < 5; i++) {
		fill(frames[i], sizes[i], i == 4 ? 0 : 2);
		pos = append_frame(wire, pos, sizeof(wire), frames[i], sizes[i], i % 2 == 0);
	}
	for (int chunking = 0; chunking < 3; chunking++) {
		bool same = true;

		cobs_stream_init(&s, buf, sizeof(buf));
		feed(&s, wire, pos, chunking, &got);
		is_int(got.n, 5, "five frames %s", how[chunking]);
		for (size_t i = 0; i < got.n && i < 5; i++)
			same = same && got.len[i] == sizes[i] && memcmp(got.data[i], frames[i], sizes[i]) == 0;
		ok(same, "... each byte for byte %s", how[chunking]);
		ok(s.frames == 5 && s.oversize == 0 && s.malformed == 0, "... counted: %u frames, %u oversize, "
		   "%u malformed", s.frames, s.oversize, s.malformed);
	}

	/* Empty frames are nothing. */
	cobs_stream_init(&s, buf, sizeof(buf));
	is_int(cobs_stream_feed(&s, (const uint8_t[]){ 0, 0, 0, 0 }, 4, &frame_len), 4, "runs of delimiters consumed");
	ok(frame_len == 0 && s.frames == 0 && s.malformed == 0, "... and yield nothing, count nothing");

	/* Malformed COBS and a frame that decodes to nothing are counted and skipped; the next frame is fine. */
	pos = 0;
	wire[pos++] = 0x05;     /* block promises 4 bytes, gets 1 */
	wire[pos++] = 0x11;
	wire[pos++] = 0x00;
	wire[pos++] = 0x01;     /* decodes to zero bytes */
	wire[pos++] = 0x00;
	pos = append_frame(wire, pos, sizeof(wire), frames[0], sizes[0], false);
	cobs_stream_init(&s, buf, sizeof(buf));
	feed(&s, wire, pos, 1, &got);
	ok(got.n == 1 && got.len[0] == sizes[0] && memcmp(got.data[0], frames[0], sizes[0]) == 0,
	   "frame after malformed ones arrives intact");
	is_int(s.malformed, 2, "two malformed frames counted");

	/* Oversize: a frame over the buffer is skipped to the next delimiter, and counted once. */
	{
		static uint8_t big[FRAME_MAX_SIZE + 500];

		fill(big, FRAME_MAX_SIZE + 1, 1);       /* one byte over */
		pos = append_frame(wire, 0, sizeof(wire), big, FRAME_MAX_SIZE + 1, true);
		pos = append_frame(wire, pos, sizeof(wire), frames[2], sizes[2], false);
		fill(big, sizeof(big), 0);      /* far over, all zeros: the overflow happens on an implied zero */
		pos = append_frame(wire, pos, sizeof(wire), big, sizeof(big), true);
		pos = append_frame(wire, pos, sizeof(wire), frames[4], sizes[4], true);
		for (int chunking = 0; chunking < 3; chunking++) {
			cobs_stream_init(&s, buf, sizeof(buf));
			feed(&s, wire, pos, chunking, &got);
			ok(got.n == 2 && got.len[0] == sizes[2] && got.len[1] == sizes[4] &&
			   memcmp(got.data[1], frames[4], sizes[4]) == 0, "oversize frames skipped %s", how[chunking]);
			ok(s.oversize == 2 && s.malformed == 0 && s.frames == 2, "... counted: %u oversize, %u frames",
			   s.oversize, s.frames);
		}
	}

	/* Garbage before and between frames: with a leading delimiter every frame survives. */
	{
		static const uint8_t garbage[] = { 0x05, 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0x41, 0x54, 0x0d, 0x0a };
		int survived = 0;

		pos = 0;
		for (int i = 0; i < 4; i++) {
			memcpy(wire + pos, garbage, sizeof(garbage));
			pos += sizeof(garbage);
			pos = append_frame(wire, pos, sizeof(wire), frames[i], sizes[i], true);
		}
		cobs_stream_init(&s, buf, sizeof(buf));
		feed(&s, wire, pos, 2, &got);
		for (size_t i = 0; i < got.n; i++)
			for (int k = 0; k < 4; k++)
				if (got.len[i] == sizes[k] && memcmp(got.data[i], frames[k], sizes[k]) == 0)
					survived++;
		is_int(survived, 4, "garbage before each frame, leading delimiter: all 4 frames intact");
		is_int(s.frames + s.malformed, 8, "... and the 4 pieces of garbage came out as (bad) frames");

		/* Without the leading delimiter the garbage sticks to the frame: the reason the host sends one. */
		pos = 0;
		memcpy(wire + pos, garbage, sizeof(garbage));
		pos += sizeof(garbage);
		pos = append_frame(wire, pos, sizeof(wire), frames[0], sizes[0], false);
		cobs_stream_init(&s, buf, sizeof(buf));
		feed(&s, wire, pos, 0, &got);
		ok(got.n == 0 || got.len[0] != sizes[0] || memcmp(got.data[0], frames[0], sizes[0]) != 0,
		   "garbage without a delimiter before the frame spoils it");
	}

	/* reset forgets a frame in progress */
	cobs_stream_init(&s, buf, sizeof(buf));
	cobs_stream_feed(&s, (const uint8_t[]){ 0x05, 0x11 }, 2, &frame_len);
	cobs_stream_reset(&s);
	cobs_stream_feed(&s, (const uint8_t[]){ 0x02, 0x22, 0x00 }, 3, &frame_len);
	ok(frame_len == 1 && buf[0] == 0x22, "reset drops the partial frame");
}

/* ---------------------------------------------------------------- frames */

static size_t make_frame(uint8_t *out, uint8_t type, enum frame_kind kind, uint32_t seq, const uint8_t *payload,
			 uint16_t len)
{
	struct frame_header h = { .type = type, .kind = kind, .seq = seq, .payload_len = len };

	return frame_encode(&h, payload, out, FRAME_MAX_SIZE);
}

/* Rewrites the CRC after a test has changed a header byte on purpose. */
static void reseal(uint8_t *frame, size_t len)
{
	uint32_t crc = crc32c(0, frame, len - FRAME_CRC_SIZE);

	for (int i = 0; i < 4; i++)
		frame[len - 4 + i] = (uint8_t)(crc >> (8 * i));
}

static void test_frame(void)
{
	static uint8_t frame[FRAME_MAX_SIZE + 8], payload[FRAME_MAX_PAYLOAD + 1];
	struct frame_header h, sentinel;
	size_t len;
	int flips_caught = 0, flips = 0;

	len = make_frame(frame, 0x22, FRAME_REQUEST, 0xdeadbeef, (const uint8_t *)"abc", 3);
	is_int(len, 17, "frame of a 3-byte payload is 17 bytes");
	is_int(frame_decode(frame, len, &h), FRAME_OK, "it decodes");
	ok(h.type == 0x22 && h.kind == FRAME_REQUEST && !h.retransmit && h.status == 0 && h.seq == 0xdeadbeef &&
	   h.payload_len == 3 && memcmp(frame + FRAME_HEADER_SIZE, "abc", 3) == 0, "header fields round trip");

	h = (struct frame_header){ .type = 0x05, .kind = FRAME_EVENT, .status = 0, .seq = 7, .payload_len = 0 };
	len = frame_encode(&h, NULL, frame, sizeof(frame));
	is_int(len, FRAME_OVERHEAD, "empty payload: header and CRC only");
	h = (struct frame_header){ .type = 0x01, .kind = FRAME_RESPONSE, .retransmit = false, .status = 0x0b };
	len = frame_encode(&h, NULL, frame, sizeof(frame));
	ok(frame_decode(frame, len, &h) == FRAME_OK && h.kind == FRAME_RESPONSE && h.status == 0x0b,
	   "response status round trips");
	h = (struct frame_header){ .type = 0x22, .kind = FRAME_REQUEST, .retransmit = true, .seq = 1 };
	len = frame_encode(&h, NULL, frame, sizeof(frame));
	ok(frame[2] == 0x04 && frame_decode(frame, len, &h) == FRAME_OK && h.retransmit, "retransmission flag");

	fill(payload, FRAME_MAX_PAYLOAD, 2);
	len = make_frame(frame, 0x02, FRAME_REQUEST, 1, payload, FRAME_MAX_PAYLOAD);
	is_int(len, FRAME_MAX_SIZE, "largest payload makes the largest frame");
	is_int(frame_decode(frame, len, &h), FRAME_OK, "... which decodes");
	h = (struct frame_header){ .type = 0x02, .payload_len = FRAME_MAX_PAYLOAD + 1 };
	is_int(frame_encode(&h, payload, frame, sizeof(frame)), 0, "payload over the maximum refused by the encoder");
	h.payload_len = 3;
	is_int(frame_encode(&h, payload, frame, 16), 0, "encoder refuses a buffer one byte short");
	is_int(frame_encode(&h, payload, frame, 17), 17, "... and takes one exactly large enough");

	/* built in place */
	memcpy(frame + FRAME_HEADER_SIZE, "xyz", 3);
	h = (struct frame_header){ .type = 0x02, .payload_len = 3 };
	len = frame_encode(&h, frame + FRAME_HEADER_SIZE, frame, sizeof(frame));
	ok(len == 17 && memcmp(frame + FRAME_HEADER_SIZE, "xyz", 3) == 0, "payload built in place stays put");

	/* errors */
	memset(&sentinel, 0x5a, sizeof(sentinel));
	len = make_frame(frame, 0x02, FRAME_REQUEST, 9, (const uint8_t *)"hello", 5);
	h = sentinel;
	is_int(frame_decode(frame, FRAME_OVERHEAD - 1, &h), FRAME_ERR_TOO_SHORT, "13 bytes: too short");
	ok(memcmp(&h, &sentinel, sizeof(h)) == 0, "header untouched on failure");
	is_int(frame_decode(frame, 0, &h), FRAME_ERR_TOO_SHORT, "0 bytes: too short");
	is_int(frame_decode(frame, FRAME_MAX_SIZE + 1, &h), FRAME_ERR_TOO_LONG, "one byte over the maximum: too long");
	for (size_t bit = 0; bit < len * 8; bit++) {
		frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		flips++;
		flips_caught += frame_decode(frame, len, &h) == FRAME_ERR_BAD_CRC;
		frame[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	is_int(flips_caught, flips, "every single-bit error is a CRC error");
	is_int(frame_decode(frame, len - 1, &h), FRAME_ERR_BAD_CRC, "a lost byte is a CRC error");

	frame[0] = 0x42;
	reseal(frame, len);
	is_int(frame_decode(frame, len, &h), FRAME_ERR_BAD_MAGIC, "magic 0x42: not a meshfleet frame");
	frame[0] = 0xB2;
	reseal(frame, len);
	is_int(frame_decode(frame, len, &h), FRAME_ERR_BAD_VERSION, "magic 0xB2: another frame format");
	frame[0] = FRAME_MAGIC;
	frame[8] = 4;
	reseal(frame, len);
	is_int(frame_decode(frame, len, &h), FRAME_ERR_BAD_LENGTH, "length field 4 for 5 bytes");
	frame[8] = 5;
	frame[2] = 0x03;
	reseal(frame, len);
	is_int(frame_decode(frame, len, &h), FRAME_ERR_BAD_KIND, "kind 3 refused");
	frame[2] = 0x08;
	reseal(frame, len);
	is_int(frame_decode(frame, len, &h), FRAME_ERR_BAD_KIND, "reserved flag bit refused");
	frame[2] = 0x00;
	reseal(frame, len);
	is_int(frame_decode(frame, len, &h), FRAME_OK, "restored frame decodes again");
	h = sentinel;
	frame[3] = 0x07;        /* status in a request: carried, ignored by receivers */
	reseal(frame, len);
	ok(frame_decode(frame, len, &h) == FRAME_OK && h.status == 7, "status of a request is passed up raw");

	for (int e = FRAME_OK; e <= FRAME_ERR_BAD_KIND; e++)
		ok(strcmp(frame_error_to_string((enum frame_error)e), "unknown frame error") != 0, "frame error %d: %s",
		   e, frame_error_to_string((enum frame_error)e));
	is_str(frame_error_to_string((enum frame_error)99), "unknown frame error", "unknown frame error value");
	is_str(frame_kind_to_string(FRAME_EVENT), "event", "kind name");
	is_str(frame_kind_to_string((enum frame_kind)3), "invalid", "kind 3 name");
}

/* ---------------------------------------------------------------- messages */

static const uint8_t key_a[16] = {
	0x7d, 0xd7, 0x36, 0x4c, 0xd8, 0x42, 0xad, 0x18, 0xc1, 0x7c, 0x2b, 0x82, 0x0c, 0x84, 0xc3, 0xd6,
};
static const uint8_t key_b[16] = {
	0x63, 0x96, 0x47, 0x71, 0x73, 0x4f, 0xbd, 0x76, 0xe3, 0xb4, 0x05, 0x19, 0xd1, 0xd9, 0x4a, 0x48,
};
static const uint8_t sha_a[32] = {
	0x12, 0xd5, 0xfd, 0x1f, 0xa7, 0x67, 0xbe, 0x4d, 0x46, 0xa9, 0x27, 0x01, 0x54, 0xd2, 0xe2, 0x22,
	0x6f, 0xaf, 0x33, 0x70, 0xd1, 0x62, 0x90, 0xdc, 0xe2, 0xa2, 0x1f, 0x5f, 0xf3, 0x35, 0xec, 0x07,
};
static const uint8_t access_get[] = { 0x83, 0x08, 0x00 };       /* Firmware Update Information Get, first 0, 1 */
static uint8_t access_max[MSG_ACCESS_MAX];
static uint8_t write_data[MSG_SLOT_WRITE_MAX];
static uint8_t echo_max[FRAME_MAX_PAYLOAD];

static const uint8_t dist_fwid[] = { 0x59, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
static const uint8_t dist_metadata[] = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00 };
static const uint8_t dist_entries[] = { 0x00, 0x01, 0x00, 0x02, 0x01, 0x01 };     /* 0x0100/0, 0x0102/1 */
static const struct msg_dist_start dist_start_example = {
	.id = 7, .group = 0xc100, .app_key_index = 0, .ttl = 5, .timeout_base = 3, .mode = MSG_DIST_MODE_PUSH,
	.policy = MSG_DIST_POLICY_APPLY, .block_size_log = 0, .chunk_size = 0, .total = 2, .first = 0, .count = 2,
	.fwid = dist_fwid, .fwid_len = sizeof(dist_fwid), .metadata = dist_metadata,
	.metadata_len = sizeof(dist_metadata), .entries = dist_entries,
};
static const struct msg_dist_info dist_info_example = {
	.id = 7, .state = MSG_DIST_RUNNING, .phase = MSG_DIST_PHASE_BLOCK, .mode = MSG_DIST_MODE_PUSH,
	.group = 0xc100, .block = 3, .blocks = 25, .block_size_log = 12, .chunk_size = 256, .total = 1000,
	.received = 1000, .pending = 990, .succeeded = 0, .failed = 10, .cancelled = 0, .elapsed_ms = 123456,
};
static const struct msg_dist_target_info dist_target_examples[2] = {
	{ .address = 0x0100, .image_index = 0, .phase = MSG_DIST_PHASE_BLOCK, .result = MSG_DIST_PENDING,
	  .status_source = MSG_DIST_STATUS_BLOB, .status = 0, .effect = 0, .blocks_done = 3 },
	{ .address = 0x7fff, .image_index = 255, .phase = MSG_DIST_PHASE_INITIATE, .result = MSG_DIST_TARGET_FAILED,
	  .reason = MSG_DIST_REASON_METADATA_REJECTED, .status_source = MSG_DIST_STATUS_FU, .status = 5,
	  .effect = 31, .blocks_done = 0 },
};

static struct msg make(enum msg_type type, enum frame_kind kind)
{
	return (struct msg){ .type = type, .kind = kind };
}

static const struct msg_hello hello_example = {
	.proto_major = 1, .proto_minor = 0, .reset_reason = MSG_RESET_POWER_ON, .request_window = 8,
	.max_frame = FRAME_MAX_SIZE, .max_targets = 256, .slot_size = 0x66000,
	.features = MSG_FEATURE_MESH | MSG_FEATURE_SLOT, .next_event_seq = 3, .fw_major = 0, .fw_minor = 1,
	.fw_patch = 0, .build_id = { 0x9c, 0x41, 0xd2, 0x0e, 0x7a, 0x5b, 0x13, 0xf8 },
};

/* One valid message of every type and kind, and the interesting variants; returns false past the last. */
static bool sample(size_t i, struct msg *m)
{
	switch (i) {
	case 0:
		*m = make(MSG_HELLO, FRAME_REQUEST);
		return true;
	case 1:
		*m = make(MSG_HELLO, FRAME_RESPONSE);
		m->u.hello = hello_example;
		return true;
	case 2:
		*m = make(MSG_ECHO, FRAME_REQUEST);
		m->u.echo = (struct msg_data){ .data = (const uint8_t *)"mf\0\xff", .len = 4 };
		return true;
	case 3:
		*m = make(MSG_ECHO, FRAME_RESPONSE);
		m->u.echo = (struct msg_data){ .data = echo_max, .len = FRAME_MAX_PAYLOAD };
		return true;
	case 4:
		*m = make(MSG_ECHO, FRAME_REQUEST);     /* empty echo */
		return true;
	case 5:
		*m = make(MSG_RESET, FRAME_REQUEST);
		m->u.reset.mode = MSG_RESET_MODE_BOOTLOADER;
		return true;
	case 6:
		*m = make(MSG_RESET, FRAME_RESPONSE);
		return true;
	case 7:
		*m = make(MSG_STATS, FRAME_REQUEST);
		return true;
	case 8:
		*m = make(MSG_STATS, FRAME_RESPONSE);
		m->u.stats = (struct msg_stats){ 3600, 1000, 1010, 2, 3, 0, 5, 1, 700, 7, 650, 0x123456 };
		return true;
	case 9:
		*m = make(MSG_LOG, FRAME_EVENT);
		m->u.log = (struct msg_log){ .level = MSG_LOG_INFO, .uptime_ms = 1234, .module = "slot",
					     .module_len = 4, .text = "erased 102 pages", .text_len = 16 };
		return true;
	case 10:
		*m = make(MSG_LOG, FRAME_EVENT);        /* empty text, longest module name */
		m->u.log = (struct msg_log){ .level = MSG_LOG_DEBUG, .module = "abcdefghijklmnopqrstuvwxyz012345",
					     .module_len = 32 };
		return true;
	case 11:
		*m = make(MSG_MESH_CONFIG, FRAME_REQUEST);
		memcpy(m->u.mesh_config.net_key, key_a, 16);
		memcpy(m->u.mesh_config.app_key, key_b, 16);
		m->u.mesh_config.net_key_index = 0;
		m->u.mesh_config.app_key_index = 0xfff;
		m->u.mesh_config.iv_index = 0x12345678;
		m->u.mesh_config.seq = 0xffffff;
		m->u.mesh_config.address = 0x0001;
		m->u.mesh_config.iv_update = true;
		return true;
	case 12:
		*m = make(MSG_MESH_CONFIG, FRAME_RESPONSE);
		m->u.mesh_seq = 0x000400;
		return true;
	case 13:
		*m = make(MSG_MESH_SEND, FRAME_REQUEST);
		m->u.mesh_send = (struct msg_mesh_send){ .dst = 0xc000, .key_index = 1, .ttl = 7,
							 .payload = access_get, .payload_len = sizeof(access_get) };
		return true;
	case 14:
		*m = make(MSG_MESH_SEND, FRAME_REQUEST);        /* device key, longest payload, default TTL */
		m->u.mesh_send = (struct msg_mesh_send){ .dst = 0x7fff, .key_index = 0, .devkey = true,
							 .ttl = MSG_TTL_DEFAULT, .payload = access_max,
							 .payload_len = MSG_ACCESS_MAX };
		memcpy(m->u.mesh_send.dev_key, key_b, 16);
		return true;
	case 15:
		*m = make(MSG_MESH_SEND, FRAME_RESPONSE);
		return true;
	case 16:
		*m = make(MSG_MESH_RECV, FRAME_EVENT);
		m->u.mesh_recv = (struct msg_mesh_recv){ .src = 0x0102, .dst = 0x0001, .key_index = 0, .devkey = true,
							 .ttl = 5, .rssi = -67, .payload = access_get,
							 .payload_len = sizeof(access_get) };
		return true;
	case 17:
		*m = make(MSG_MESH_RECV, FRAME_EVENT);
		m->u.mesh_recv = (struct msg_mesh_recv){ .src = 0x7fff, .dst = 0xffff, .key_index = 0xfff, .ttl = 0,
							 .rssi = 127, .payload = access_max,
							 .payload_len = MSG_ACCESS_MAX };
		return true;
	case 18:
		*m = make(MSG_SLOT_INFO, FRAME_REQUEST);
		return true;
	case 19:
		*m = make(MSG_SLOT_INFO, FRAME_RESPONSE);
		m->u.slot_info = (struct msg_slot_info){ .slot_size = 0x66000, .image_size = 181972,
							 .bytes_written = 181972, .state = MSG_SLOT_COMMITTED };
		memcpy(m->u.slot_info.sha256, sha_a, 32);
		return true;
	case 20:
		*m = make(MSG_SLOT_INFO, FRAME_RESPONSE);
		m->u.slot_info = (struct msg_slot_info){ .slot_size = 0x66000, .state = MSG_SLOT_EMPTY };
		return true;
	case 21:
		*m = make(MSG_SLOT_BEGIN, FRAME_REQUEST);
		m->u.slot_image.size = 181972;
		memcpy(m->u.slot_image.sha256, sha_a, 32);
		return true;
	case 22:
		*m = make(MSG_SLOT_BEGIN, FRAME_RESPONSE);
		return true;
	case 23:
		*m = make(MSG_SLOT_WRITE, FRAME_REQUEST);
		m->u.slot_write = (struct msg_slot_write){ .offset = 0x400, .data = write_data,
							   .len = MSG_SLOT_WRITE_MAX };
		return true;
	case 24:
		*m = make(MSG_SLOT_WRITE, FRAME_RESPONSE);
		m->u.bytes_written = 0x800;
		return true;
	case 25:
		*m = make(MSG_SLOT_WRITE, FRAME_RESPONSE);
		m->status = MSG_STATUS_SLOT_OFFSET;
		m->u.bytes_written = 0x400;
		return true;
	case 26:
		*m = make(MSG_SLOT_COMMIT, FRAME_REQUEST);
		m->u.slot_image.size = 1;
		return true;
	case 27:
		*m = make(MSG_SLOT_COMMIT, FRAME_RESPONSE);
		m->status = MSG_STATUS_SLOT_HASH_MISMATCH;
		return true;
	case 28:
		*m = make(MSG_MESH_SEND, FRAME_RESPONSE);
		m->status = MSG_STATUS_NOT_CONFIGURED;
		return true;
	case 29:
		*m = make(MSG_HELLO, FRAME_RESPONSE);   /* an unknown status of a later version, empty payload */
		m->status = 0x3e;
		return true;
	case 30:
		*m = make(MSG_SLOT_INFO, FRAME_RESPONSE);
		m->u.slot_info = (struct msg_slot_info){ .slot_size = 0x66000, .image_size = 181972,
							 .bytes_written = 0x8000, .state = MSG_SLOT_WRITING };
		memcpy(m->u.slot_info.sha256, sha_a, 32);
		return true;
	case 31:
		*m = make(MSG_DIST_START, FRAME_REQUEST);
		m->u.dist_start = dist_start_example;
		return true;
	case 32:
		*m = make(MSG_DIST_START, FRAME_REQUEST);       /* longest FWID and metadata, unicast, pull, sizes */
		m->u.dist_start = dist_start_example;
		m->u.dist_start.group = 0;
		m->u.dist_start.mode = MSG_DIST_MODE_PULL;
		m->u.dist_start.policy = MSG_DIST_POLICY_VERIFY_ONLY;
		m->u.dist_start.block_size_log = 32;
		m->u.dist_start.chunk_size = 377;
		m->u.dist_start.ttl = MSG_TTL_DEFAULT;
		m->u.dist_start.fwid = echo_max;
		m->u.dist_start.fwid_len = MSG_DIST_FWID_MAX;
		m->u.dist_start.metadata = echo_max;
		m->u.dist_start.metadata_len = MSG_DIST_METADATA_MAX;
		m->u.dist_start.total = 1024;
		m->u.dist_start.first = 1022;
		m->u.dist_start.count = 2;
		return true;
	case 33:
		*m = make(MSG_DIST_START, FRAME_RESPONSE);
		return true;
	case 34:
		*m = make(MSG_DIST_GET, FRAME_REQUEST);
		return true;
	case 35:
		*m = make(MSG_DIST_GET, FRAME_RESPONSE);
		m->u.dist_info = dist_info_example;
		return true;
	case 36:
		*m = make(MSG_DIST_TARGETS_GET, FRAME_REQUEST);
		m->u.dist_page = (struct msg_dist_page){ .first = 90, .max = 0 };
		return true;
	case 37:
		*m = make(MSG_DIST_TARGETS_GET, FRAME_RESPONSE);
		m->u.dist_targets = (struct msg_dist_targets){ .id = 7, .total = 100, .first = 98, .count = 2,
							       .info = dist_target_examples };
		return true;
	case 38:
		*m = make(MSG_DIST_TARGETS_GET, FRAME_RESPONSE);        /* past the end: no entries */
		m->u.dist_targets = (struct msg_dist_targets){ .id = 7, .total = 100, .first = 0, .count = 0 };
		return true;
	case 39:
		*m = make(MSG_DIST_SUSPEND, FRAME_REQUEST);
		m->u.dist_id = 7;
		return true;
	case 40:
		*m = make(MSG_DIST_RESUME, FRAME_REQUEST);
		m->u.dist_id = 0xffffffff;
		return true;
	case 41:
		*m = make(MSG_DIST_CANCEL, FRAME_REQUEST);
		m->u.dist_id = 1;
		return true;
	case 42:
		*m = make(MSG_DIST_APPLY, FRAME_RESPONSE);
		m->status = MSG_STATUS_BAD_STATE;
		return true;
	case 43:
		*m = make(MSG_DIST_TARGET, FRAME_EVENT);
		m->u.dist_target = (struct msg_dist_target_evt){ .id = 7, .index = 99, .t = dist_target_examples[1] };
		return true;
	case 44:
		*m = make(MSG_DIST_PROGRESS, FRAME_EVENT);
		m->u.dist_progress = (struct msg_dist_progress){ .id = 7, .blocks_done = 3, .blocks = 25, .active = 998 };
		return true;
	case 45:
		*m = make(MSG_DIST_STATE, FRAME_EVENT);
		m->u.dist_state = (struct msg_dist_state_evt){ .id = 7, .state = MSG_DIST_FAILED,
							       .phase = MSG_DIST_PHASE_DONE,
							       .reason = MSG_DIST_REASON_ALL_TARGETS_FAILED };
		return true;
	}
	return false;
}

/* Compares two messages by what goes on the wire; prints both on a difference. */
static bool same_msg(const struct msg *a, const struct msg *b, const char *what)
{
	static uint8_t pa[FRAME_MAX_PAYLOAD], pb[FRAME_MAX_PAYLOAD];
	size_t la = 0, lb = 0;
	bool same = a->type == b->type && a->kind == b->kind && a->status == b->status &&
		    msg_encode(a, pa, sizeof(pa), &la) == MSG_STATUS_OK &&
		    msg_encode(b, pb, sizeof(pb), &lb) == MSG_STATUS_OK;

	return is_bytes(pb, lb, pa, la, what) && same;
}

static enum msg_status decode_bytes(uint8_t type, enum frame_kind kind, uint8_t status, const uint8_t *p,
				    size_t len, struct msg *ret)
{
	struct frame_header h = { .type = type, .kind = kind, .status = status, .payload_len = (uint16_t)len };

	return msg_decode(&h, p, ret);
}

static void test_messages_roundtrip(void)
{
	static uint8_t payload[FRAME_MAX_PAYLOAD], frame[FRAME_MAX_SIZE];
	struct msg m, back;
	size_t len, flen;

	fill(access_max, sizeof(access_max), 2);
	fill(write_data, sizeof(write_data), 2);
	fill(echo_max, sizeof(echo_max), 2);
	for (size_t i = 0; sample(i, &m); i++) {
		const char *name = msg_type_to_string(m.type);
		const char *kind = frame_kind_to_string(m.kind);
		struct frame_header h;
		enum msg_status st;

		st = msg_encode(&m, payload, sizeof(payload), &len);
		if (!ok(st == MSG_STATUS_OK, "sample %zu: %s %s (status %s) encodes", i, name, kind,
			msg_status_to_string(m.status))) {
			printf("#   got: %s\n", msg_status_to_string(st));
			continue;
		}
		memset(&back, 0xa5, sizeof(back));
		st = decode_bytes((uint8_t)m.type, m.kind, m.status, payload, len, &back);
		is_int(st, MSG_STATUS_OK, "... and decodes (%zu bytes)", len);
		same_msg(&back, &m, "... to the same message");

		/* through a whole frame, with the retransmission flag on requests */
		st = msg_encode_frame(&m, 0x1000 + (uint32_t)i, true, frame, sizeof(frame), &flen);
		ok(st == MSG_STATUS_OK && frame_decode(frame, flen, &h) == FRAME_OK && h.seq == 0x1000 + i &&
		   h.retransmit == (m.kind == FRAME_REQUEST && m.type != MSG_HELLO) &&
		   msg_decode(&h, frame + FRAME_HEADER_SIZE, &back) == MSG_STATUS_OK, "... and as a frame");
		/* every buffer one byte short is refused cleanly */
		if (len > 0) {
			size_t short_len = 0;

			is_int(msg_encode(&m, payload, len - 1, &short_len), MSG_STATUS_NO_MEMORY,
			       "... encoder refuses %zu bytes of room", len - 1);
		}
		/* every truncation is refused or is itself valid, and nothing is read past the end (ASan) */
		{
			bool fine = true;

			msg_encode(&m, payload, sizeof(payload), &len);
			for (size_t cut = 0; cut < len; cut++) {
				uint8_t *exact = malloc(cut ? cut : 1);

				memcpy(exact, payload, cut);
				st = decode_bytes((uint8_t)m.type, m.kind, m.status, exact, cut, &back);
				if (st == MSG_STATUS_OK)
					fine = fine && (m.type == MSG_ECHO || m.type == MSG_LOG ||
							m.type == MSG_MESH_SEND || m.type == MSG_MESH_RECV ||
							m.type == MSG_SLOT_WRITE);
				free(exact);
			}
			ok(fine, "... every truncation refused unless the layout is variable");
		}
	}
}

/* Decodes @len bytes as a message of @type/@kind/@status and checks that the decoder refuses them with @want and
 * leaves its output alone. */
static void refuse(const char *what, uint8_t type, enum frame_kind kind, uint8_t status, const uint8_t *p, size_t len,
		   enum msg_status want)
{
	struct msg back, sentinel;
	enum msg_status st;

	memset(&sentinel, 0x3c, sizeof(sentinel));
	back = sentinel;
	st = decode_bytes(type, kind, status, p, len, &back);
	if (!ok(st == want && memcmp(&back, &sentinel, sizeof(back)) == 0, "decoder refuses %s: %s", what,
		msg_status_to_string(want)))
		printf("#   got: %s\n", msg_status_to_string(st));
}

/* A copy of @src with byte @off set to @val, valid until the next call. */
static const uint8_t *spoiled(const uint8_t *src, size_t len, size_t off, uint8_t val)
{
	static uint8_t copy[FRAME_MAX_PAYLOAD + 8];

	memcpy(copy, src, len);
	copy[off] = val;
	return copy;
}

/* Encodes sample @i into @p; returns its length. */
static size_t sample_bytes(size_t i, uint8_t *p)
{
	struct msg m;
	size_t len = 0;

	sample(i, &m);
	msg_encode(&m, p, FRAME_MAX_PAYLOAD, &len);
	return len;
}

static void test_messages_refused(void)
{
	static uint8_t hello[64], config[64], send[512], send_dk[512], recv[512], info[64], image[64], write[1100];
	static uint8_t log[400], stats[64], big[FRAME_MAX_PAYLOAD + 1], tmp[512];
	size_t hello_len = sample_bytes(1, hello), config_len = sample_bytes(11, config);
	size_t send_len = sample_bytes(13, send), send_dk_len = sample_bytes(14, send_dk);
	size_t recv_len = sample_bytes(16, recv), info_len = sample_bytes(19, info);
	size_t image_len = sample_bytes(21, image), write_len = sample_bytes(23, write);
	size_t log_len = sample_bytes(9, log), stats_len = sample_bytes(8, stats);
	const uint8_t *p;
	uint8_t major = 0, minor = 0;

	refuse("unknown type 0x7e", 0x7e, FRAME_REQUEST, 0, NULL, 0, MSG_STATUS_UNKNOWN_MESSAGE);
	refuse("unused DIST type 0x7f", MSG_DIST_LAST, FRAME_REQUEST, 0, NULL, 0, MSG_STATUS_UNKNOWN_MESSAGE);
	refuse("type 0", 0x00, FRAME_REQUEST, 0, NULL, 0, MSG_STATUS_UNKNOWN_MESSAGE);
	refuse("LOG as a request", MSG_LOG, FRAME_REQUEST, 0, log, log_len, MSG_STATUS_UNKNOWN_MESSAGE);
	refuse("HELLO as an event", MSG_HELLO, FRAME_EVENT, 0, NULL, 0, MSG_STATUS_UNKNOWN_MESSAGE);
	refuse("MESH_RECV as a response", MSG_MESH_RECV, FRAME_RESPONSE, 0, recv, recv_len,
	       MSG_STATUS_UNKNOWN_MESSAGE);
	refuse("kind 3", MSG_HELLO, (enum frame_kind)3, 0, NULL, 0, MSG_STATUS_UNKNOWN_MESSAGE);
	refuse("HELLO request with a payload", MSG_HELLO, FRAME_REQUEST, 0, hello, 1, MSG_STATUS_BAD_LENGTH);
	refuse("STATS request with a payload", MSG_STATS, FRAME_REQUEST, 0, hello, 2, MSG_STATUS_BAD_LENGTH);
	refuse("SLOT_INFO request with a payload", MSG_SLOT_INFO, FRAME_REQUEST, 0, hello, 4, MSG_STATUS_BAD_LENGTH);
	refuse("RESET response with a payload", MSG_RESET, FRAME_RESPONSE, 0, hello, 1, MSG_STATUS_BAD_LENGTH);
	refuse("an error response with a payload", MSG_SLOT_COMMIT, FRAME_RESPONSE, MSG_STATUS_SLOT_HASH_MISMATCH,
	       image, 4, MSG_STATUS_BAD_LENGTH);
	refuse("a SLOT_WRITE error response without bytes_written", MSG_SLOT_WRITE, FRAME_RESPONSE,
	       MSG_STATUS_SLOT_OFFSET, NULL, 0, MSG_STATUS_BAD_LENGTH);
	refuse("ECHO over the maximum payload", MSG_ECHO, FRAME_REQUEST, 0, big, sizeof(big), MSG_STATUS_BAD_LENGTH);

	refuse("HELLO response of 31 bytes", MSG_HELLO, FRAME_RESPONSE, 0, hello, hello_len - 1,
	       MSG_STATUS_BAD_LENGTH);
	refuse("HELLO response of 1 byte", MSG_HELLO, FRAME_RESPONSE, 0, hello, 1, MSG_STATUS_BAD_LENGTH);
	p = spoiled(hello, hello_len, 0, 2);
	refuse("HELLO response of major version 2", MSG_HELLO, FRAME_RESPONSE, 0, p, 2, MSG_STATUS_NOT_SUPPORTED);
	ok(msg_hello_version(p, 2, &major, &minor) && major == 2 && minor == 0,
	   "msg_hello_version reads 2.0 from a HELLO the decoder refuses");
	ok(!msg_hello_version(p, 1, &major, &minor), "msg_hello_version needs two bytes");
	refuse("HELLO response with window 0", MSG_HELLO, FRAME_RESPONSE, 0, spoiled(hello, hello_len, 3, 0),
	       hello_len, MSG_STATUS_BAD_PARAM);
	memcpy(tmp, hello, hello_len);
	tmp[4] = 0xff, tmp[5] = 0x01;
	refuse("HELLO response with max frame 511", MSG_HELLO, FRAME_RESPONSE, 0, tmp, hello_len,
	       MSG_STATUS_BAD_PARAM);
	tmp[4] = 0x17, tmp[5] = 0x04;
	refuse("HELLO response with max frame 1047", MSG_HELLO, FRAME_RESPONSE, 0, tmp, hello_len,
	       MSG_STATUS_BAD_PARAM);

	refuse("RESET without mode", MSG_RESET, FRAME_REQUEST, 0, NULL, 0, MSG_STATUS_BAD_LENGTH);
	refuse("RESET mode 2", MSG_RESET, FRAME_REQUEST, 0, (const uint8_t[]){ 2 }, 1, MSG_STATUS_BAD_PARAM);
	refuse("RESET with 2 bytes", MSG_RESET, FRAME_REQUEST, 0, (const uint8_t[]){ 0, 0 }, 2, MSG_STATUS_BAD_LENGTH);

	refuse("STATS response of 47 bytes", MSG_STATS, FRAME_RESPONSE, 0, stats, stats_len - 1,
	       MSG_STATUS_BAD_LENGTH);
	refuse("STATS response with mesh seq over 24 bits", MSG_STATS, FRAME_RESPONSE, 0,
	       spoiled(stats, stats_len, 47, 1), stats_len, MSG_STATUS_BAD_PARAM);

	refuse("LOG of 5 bytes", MSG_LOG, FRAME_EVENT, 0, log, 5, MSG_STATUS_BAD_LENGTH);
	refuse("LOG with a module longer than the payload", MSG_LOG, FRAME_EVENT, 0, spoiled(log, log_len, 1, 200),
	       log_len, MSG_STATUS_BAD_LENGTH);
	refuse("LOG with an empty module", MSG_LOG, FRAME_EVENT, 0, spoiled(log, log_len, 1, 0), log_len,
	       MSG_STATUS_BAD_LENGTH);
	memset(tmp, 'm', 6 + 33 + 4);
	tmp[0] = MSG_LOG_INFO, tmp[1] = 33;
	refuse("LOG with a module name of 33", MSG_LOG, FRAME_EVENT, 0, tmp, 6 + 33 + 4, MSG_STATUS_BAD_LENGTH);
	refuse("LOG level 0", MSG_LOG, FRAME_EVENT, 0, spoiled(log, log_len, 0, 0), log_len, MSG_STATUS_BAD_PARAM);
	refuse("LOG level 5", MSG_LOG, FRAME_EVENT, 0, spoiled(log, log_len, 0, 5), log_len, MSG_STATUS_BAD_PARAM);
	refuse("LOG with a space in the module", MSG_LOG, FRAME_EVENT, 0, spoiled(log, log_len, 7, ' '), log_len,
	       MSG_STATUS_BAD_PARAM);
	refuse("LOG with a NUL in the text", MSG_LOG, FRAME_EVENT, 0, spoiled(log, log_len, 12, 0), log_len,
	       MSG_STATUS_BAD_PARAM);
	memset(tmp, 'x', 6 + 4 + 257);
	memcpy(tmp, log, 10);
	refuse("LOG with a text of 257", MSG_LOG, FRAME_EVENT, 0, tmp, 6 + 4 + 257, MSG_STATUS_BAD_LENGTH);

	refuse("MESH_CONFIG of 46 bytes", MSG_MESH_CONFIG, FRAME_REQUEST, 0, config, config_len - 1,
	       MSG_STATUS_BAD_LENGTH);
	refuse("MESH_CONFIG of 48 bytes", MSG_MESH_CONFIG, FRAME_REQUEST, 0, config, config_len + 1,
	       MSG_STATUS_BAD_LENGTH);
	refuse("MESH_CONFIG with net key index 0x1000", MSG_MESH_CONFIG, FRAME_REQUEST, 0,
	       spoiled(config, config_len, 33, 0x10), config_len, MSG_STATUS_BAD_PARAM);
	refuse("MESH_CONFIG with app key index 0x1fff", MSG_MESH_CONFIG, FRAME_REQUEST, 0,
	       spoiled(config, config_len, 35, 0x1f), config_len, MSG_STATUS_BAD_PARAM);
	refuse("MESH_CONFIG with seq over 24 bits", MSG_MESH_CONFIG, FRAME_REQUEST, 0,
	       spoiled(config, config_len, 43, 0x01), config_len, MSG_STATUS_BAD_PARAM);
	memcpy(tmp, config, config_len);
	tmp[44] = 0, tmp[45] = 0;
	refuse("MESH_CONFIG with address 0", MSG_MESH_CONFIG, FRAME_REQUEST, 0, tmp, config_len,
	       MSG_STATUS_BAD_PARAM);
	refuse("MESH_CONFIG with a group address", MSG_MESH_CONFIG, FRAME_REQUEST, 0,
	       spoiled(config, config_len, 45, 0xc0), config_len, MSG_STATUS_BAD_PARAM);
	refuse("MESH_CONFIG with an unknown flag", MSG_MESH_CONFIG, FRAME_REQUEST, 0,
	       spoiled(config, config_len, 46, 0x03), config_len, MSG_STATUS_BAD_PARAM);
	refuse("MESH_CONFIG response of 3 bytes", MSG_MESH_CONFIG, FRAME_RESPONSE, 0, (const uint8_t[]){ 0, 4, 0 }, 3,
	       MSG_STATUS_BAD_LENGTH);
	refuse("MESH_CONFIG response with seq over 24 bits", MSG_MESH_CONFIG, FRAME_RESPONSE, 0,
	       (const uint8_t[]){ 0, 0, 0, 1 }, 4, MSG_STATUS_BAD_PARAM);

	refuse("MESH_SEND of 5 bytes", MSG_MESH_SEND, FRAME_REQUEST, 0, send, 5, MSG_STATUS_BAD_LENGTH);
	refuse("MESH_SEND without access payload", MSG_MESH_SEND, FRAME_REQUEST, 0, send, 6, MSG_STATUS_BAD_LENGTH);
	refuse("MESH_SEND with an access payload of 381", MSG_MESH_SEND, FRAME_REQUEST, 0, send_dk, send_dk_len + 1,
	       MSG_STATUS_BAD_LENGTH);
	refuse("MESH_SEND with its device key cut short", MSG_MESH_SEND, FRAME_REQUEST, 0, send_dk, 6 + 15,
	       MSG_STATUS_BAD_LENGTH);
	refuse("MESH_SEND with a device key and no payload", MSG_MESH_SEND, FRAME_REQUEST, 0, send_dk, 6 + 16,
	       MSG_STATUS_BAD_LENGTH);
	memcpy(tmp, send, send_len);
	tmp[0] = 0, tmp[1] = 0;
	refuse("MESH_SEND to 0x0000", MSG_MESH_SEND, FRAME_REQUEST, 0, tmp, send_len, MSG_STATUS_BAD_PARAM);
	refuse("MESH_SEND to a virtual address", MSG_MESH_SEND, FRAME_REQUEST, 0, spoiled(send, send_len, 1, 0x80),
	       send_len, MSG_STATUS_BAD_PARAM);
	refuse("MESH_SEND with a device key to a group", MSG_MESH_SEND, FRAME_REQUEST, 0,
	       spoiled(send_dk, send_dk_len, 1, 0xc0), send_dk_len, MSG_STATUS_BAD_PARAM);
	refuse("MESH_SEND with key index 0x1000", MSG_MESH_SEND, FRAME_REQUEST, 0, spoiled(send, send_len, 3, 0x10),
	       send_len, MSG_STATUS_BAD_PARAM);
	refuse("MESH_SEND with an unknown flag", MSG_MESH_SEND, FRAME_REQUEST, 0, spoiled(send, send_len, 4, 0x02),
	       send_len, MSG_STATUS_BAD_PARAM);
	refuse("MESH_SEND with TTL 1", MSG_MESH_SEND, FRAME_REQUEST, 0, spoiled(send, send_len, 5, 1), send_len,
	       MSG_STATUS_BAD_PARAM);
	refuse("MESH_SEND with TTL 128", MSG_MESH_SEND, FRAME_REQUEST, 0, spoiled(send, send_len, 5, 128), send_len,
	       MSG_STATUS_BAD_PARAM);

	refuse("MESH_RECV of 8 bytes", MSG_MESH_RECV, FRAME_EVENT, 0, recv, 8, MSG_STATUS_BAD_LENGTH);
	refuse("MESH_RECV without access payload", MSG_MESH_RECV, FRAME_EVENT, 0, recv, 9, MSG_STATUS_BAD_LENGTH);
	refuse("MESH_RECV from a group", MSG_MESH_RECV, FRAME_EVENT, 0, spoiled(recv, recv_len, 1, 0xc0), recv_len,
	       MSG_STATUS_BAD_PARAM);
	refuse("MESH_RECV to a virtual address", MSG_MESH_RECV, FRAME_EVENT, 0, spoiled(recv, recv_len, 3, 0x90),
	       recv_len, MSG_STATUS_BAD_PARAM);
	refuse("MESH_RECV with TTL 128", MSG_MESH_RECV, FRAME_EVENT, 0, spoiled(recv, recv_len, 7, 128), recv_len,
	       MSG_STATUS_BAD_PARAM);
	refuse("MESH_RECV with an unknown flag", MSG_MESH_RECV, FRAME_EVENT, 0, spoiled(recv, recv_len, 6, 0x81),
	       recv_len, MSG_STATUS_BAD_PARAM);

	refuse("SLOT_INFO response of 44 bytes", MSG_SLOT_INFO, FRAME_RESPONSE, 0, info, info_len - 1,
	       MSG_STATUS_BAD_LENGTH);
	refuse("SLOT_INFO response of 46 bytes", MSG_SLOT_INFO, FRAME_RESPONSE, 0, info, info_len + 1,
	       MSG_STATUS_BAD_LENGTH);
	refuse("SLOT_INFO with state 3", MSG_SLOT_INFO, FRAME_RESPONSE, 0, spoiled(info, info_len, 12, 3), info_len,
	       MSG_STATUS_BAD_PARAM);
	refuse("SLOT_INFO committed but incomplete", MSG_SLOT_INFO, FRAME_RESPONSE, 0, spoiled(info, info_len, 8, 0),
	       info_len, MSG_STATUS_BAD_PARAM);
	refuse("SLOT_INFO empty with an image size", MSG_SLOT_INFO, FRAME_RESPONSE, 0,
	       spoiled(info, info_len, 12, 0), info_len, MSG_STATUS_BAD_PARAM);
	refuse("SLOT_INFO with an image larger than the slot", MSG_SLOT_INFO, FRAME_RESPONSE, 0,
	       spoiled(info, info_len, 7, 0x01), info_len, MSG_STATUS_BAD_PARAM);

	refuse("SLOT_BEGIN of 35 bytes", MSG_SLOT_BEGIN, FRAME_REQUEST, 0, image, image_len - 1,
	       MSG_STATUS_BAD_LENGTH);
	refuse("SLOT_COMMIT of 37 bytes", MSG_SLOT_COMMIT, FRAME_REQUEST, 0, image, image_len + 1,
	       MSG_STATUS_BAD_LENGTH);
	memcpy(tmp, image, image_len);
	memset(tmp, 0, 4);
	refuse("SLOT_BEGIN of size 0", MSG_SLOT_BEGIN, FRAME_REQUEST, 0, tmp, image_len, MSG_STATUS_BAD_PARAM);

	refuse("SLOT_WRITE without data", MSG_SLOT_WRITE, FRAME_REQUEST, 0, write, 4, MSG_STATUS_BAD_LENGTH);
	refuse("SLOT_WRITE of 3 bytes", MSG_SLOT_WRITE, FRAME_REQUEST, 0, write, 3, MSG_STATUS_BAD_LENGTH);
	refuse("SLOT_WRITE with 1025 bytes of data", MSG_SLOT_WRITE, FRAME_REQUEST, 0, write, write_len + 1,
	       MSG_STATUS_BAD_LENGTH);
	refuse("SLOT_WRITE at an unaligned offset", MSG_SLOT_WRITE, FRAME_REQUEST, 0, spoiled(write, 8, 0, 2), 8,
	       MSG_STATUS_BAD_PARAM);
	memcpy(tmp, write, 12);
	memset(tmp, 0xff, 4);
	tmp[0] = 0xfc;
	refuse("SLOT_WRITE past 4 GiB", MSG_SLOT_WRITE, FRAME_REQUEST, 0, tmp, 12, MSG_STATUS_BAD_PARAM);
	refuse("SLOT_WRITE response of 5 bytes", MSG_SLOT_WRITE, FRAME_RESPONSE, 0, write, 5, MSG_STATUS_BAD_LENGTH);

	/* A later minor version appends to HELLO and STATS; this version reads its part. */
	{
		static uint8_t longer[128];
		struct msg back;

		memset(longer, 0xee, sizeof(longer));
		memcpy(longer, hello, hello_len);
		longer[1] = 7;
		ok(decode_bytes(MSG_HELLO, FRAME_RESPONSE, 0, longer, hello_len + 20, &back) == MSG_STATUS_OK &&
		   back.u.hello.proto_minor == 7 && back.u.hello.next_event_seq == 3,
		   "HELLO response of 1.7 with 20 more bytes accepted");
		memcpy(longer, stats, stats_len);
		ok(decode_bytes(MSG_STATS, FRAME_RESPONSE, 0, longer, stats_len + 8, &back) == MSG_STATUS_OK &&
		   back.u.stats.mesh_seq == 0x123456, "STATS response with two more counters accepted");
		memcpy(longer, hello, hello_len);
		longer[2] = 200;
		ok(decode_bytes(MSG_HELLO, FRAME_RESPONSE, 0, longer, hello_len, &back) == MSG_STATUS_OK &&
		   back.u.hello.reset_reason == MSG_RESET_UNKNOWN, "an unknown reset reason reads as UNKNOWN");
	}
}

/* Checks that the encoder refuses @m with @want and leaves *ret_len alone. */
static void refuse_encode(const struct msg *m, enum msg_status want, const char *what)
{
	uint8_t out[FRAME_MAX_SIZE];
	size_t len = 4242;
	enum msg_status st = msg_encode(m, out, sizeof(out), &len);

	if (!ok(st == want && len == 4242, "encoder refuses %s: %s", what, msg_status_to_string(want)))
		printf("#   got: %s, length %zu\n", msg_status_to_string(st), len);
}

static void test_encoders_refuse(void)
{
	uint8_t out[64];
	size_t len;
	struct msg m;

	sample(1, &m), m.u.hello.proto_major = 2;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "a HELLO of major 2");
	sample(1, &m), m.u.hello.request_window = 0;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "a HELLO with window 0");
	sample(1, &m), m.u.hello.reset_reason = (enum msg_reset_reason)10;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "a HELLO with reset reason 10");
	sample(1, &m), m.u.hello.max_frame = 2000;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "a HELLO with max frame 2000");
	sample(3, &m), m.u.echo.len = FRAME_MAX_PAYLOAD + 1;
	refuse_encode(&m, MSG_STATUS_BAD_LENGTH, "an ECHO over the maximum");
	sample(5, &m), m.u.reset.mode = (enum msg_reset_mode)7;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "RESET mode 7");
	sample(8, &m), m.u.stats.mesh_seq = 0x1000000;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "STATS with mesh seq 2^24");
	sample(9, &m), m.u.log.level = (enum msg_log_level)9;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "LOG level 9");
	sample(9, &m), m.u.log.text_len = 257;
	refuse_encode(&m, MSG_STATUS_BAD_LENGTH, "a LOG text of 257");
	sample(9, &m), m.u.log.module_len = 0;
	refuse_encode(&m, MSG_STATUS_BAD_LENGTH, "a LOG without module");
	sample(11, &m), m.u.mesh_config.address = 0x8000;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "MESH_CONFIG with address 0x8000");
	sample(12, &m), m.u.mesh_seq = 0x1000000;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "a MESH_CONFIG response with seq 2^24");
	sample(13, &m), m.u.mesh_send.payload_len = 0;
	refuse_encode(&m, MSG_STATUS_BAD_LENGTH, "MESH_SEND without payload");
	sample(13, &m), m.u.mesh_send.payload_len = 381;
	refuse_encode(&m, MSG_STATUS_BAD_LENGTH, "MESH_SEND with 381 bytes");
	sample(13, &m), m.u.mesh_send.ttl = 1;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "MESH_SEND with TTL 1");
	sample(14, &m), m.u.mesh_send.dst = 0xc001;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "MESH_SEND with a device key to a group");
	sample(17, &m), m.u.mesh_recv.src = 0;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "MESH_RECV from 0x0000");
	sample(19, &m), m.u.slot_info.bytes_written = 181973;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "SLOT_INFO with more written than the image");
	sample(19, &m), m.u.slot_info.state = (enum msg_slot_state)9;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "SLOT_INFO state 9");
	sample(30, &m), m.u.slot_info.image_size = 0, m.u.slot_info.bytes_written = 0;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "SLOT_INFO writing an image of size 0");
	sample(17, &m), m.u.mesh_recv.payload_len = 0;
	refuse_encode(&m, MSG_STATUS_BAD_LENGTH, "MESH_RECV without payload");
	sample(21, &m), m.u.slot_image.size = 0;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "SLOT_BEGIN of size 0");
	sample(23, &m), m.u.slot_write.offset = 2;
	refuse_encode(&m, MSG_STATUS_BAD_PARAM, "SLOT_WRITE at offset 2");
	sample(23, &m), m.u.slot_write.len = 1025;
	refuse_encode(&m, MSG_STATUS_BAD_LENGTH, "SLOT_WRITE of 1025 bytes");
	sample(0, &m), m.kind = FRAME_EVENT;
	refuse_encode(&m, MSG_STATUS_UNKNOWN_MESSAGE, "HELLO as an event");
	sample(0, &m), m.type = (enum msg_type)0x99;
	refuse_encode(&m, MSG_STATUS_UNKNOWN_MESSAGE, "type 0x99");

	sample(2, &m);
	is_int(msg_encode_frame(&m, 1, false, out, FRAME_OVERHEAD - 1, &len), MSG_STATUS_NO_MEMORY,
	       "frame encoder refuses a buffer smaller than the overhead");
	is_int(msg_encode_frame(&m, 1, false, out, FRAME_OVERHEAD + 3, &len), MSG_STATUS_NO_MEMORY,
	       "frame encoder refuses a buffer one byte short");
	is_int(msg_encode_frame(&m, 1, false, out, FRAME_OVERHEAD + 4, &len), MSG_STATUS_OK,
	       "frame encoder takes a buffer exactly large enough");
}

static void test_names(void)
{
	static const uint8_t types[] = { MSG_HELLO, MSG_ECHO, MSG_RESET, MSG_STATS, MSG_LOG, MSG_MESH_CONFIG,
					 MSG_MESH_SEND, MSG_MESH_RECV, MSG_SLOT_INFO, MSG_SLOT_BEGIN, MSG_SLOT_WRITE,
					 MSG_SLOT_COMMIT, MSG_DIST_START, MSG_DIST_GET, MSG_DIST_TARGETS_GET,
					 MSG_DIST_SUSPEND, MSG_DIST_RESUME, MSG_DIST_CANCEL, MSG_DIST_APPLY,
					 MSG_DIST_TARGET, MSG_DIST_PROGRESS, MSG_DIST_STATE };
	int named = 0, valid = 0;

	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		named += strcmp(msg_type_to_string(types[i]), "unknown") != 0;
		valid += msg_type_valid(types[i], FRAME_REQUEST) || msg_type_valid(types[i], FRAME_EVENT);
	}
	is_int(named, ARRAY_SIZE(types), "every message type has a name");
	is_int(valid, ARRAY_SIZE(types), "every message type exists in some direction");
	for (unsigned t = 0; t < 256; t++) {
		bool known = false;

		for (size_t i = 0; i < ARRAY_SIZE(types); i++)
			known = known || types[i] == t;
		if (!known && (msg_type_valid((uint8_t)t, FRAME_REQUEST) || msg_type_valid((uint8_t)t, FRAME_EVENT) ||
			       msg_type_valid((uint8_t)t, FRAME_RESPONSE))) {
			ok(0, "type 0x%02x valid but not in the list", t);
			return;
		}
	}
	ok(1, "no other type is valid");
	is_str(msg_type_to_string(MSG_SLOT_WRITE), "SLOT_WRITE", "SLOT_WRITE name");
	is_str(msg_type_to_string(0x4f), "DIST (reserved)", "0x4f is in the DIST range, unused");
	is_str(msg_type_to_string(MSG_DIST_TARGETS_GET), "DIST_TARGETS_GET", "DIST_TARGETS_GET name");
	is_str(msg_type_to_string(0xee), "unknown", "0xee unknown");
	for (unsigned s = 0; s <= MSG_STATUS_INTERNAL; s++)
		ok(strcmp(msg_status_to_string(s), "unknown") != 0, "status 0x%02x is %s", s, msg_status_to_string(s));
	is_str(msg_status_to_string(0x0f), "unknown", "status 0x0f unknown");
	is_str(msg_status_to_string(MSG_STATUS_SLOT_HASH_MISMATCH), "SLOT_HASH_MISMATCH", "status name");
	for (unsigned r = 0; r <= MSG_RESET_DEBUGGER; r++)
		ok(strcmp(msg_reset_reason_to_string(r), "unknown") != 0, "reset reason %u is %s", r,
		   msg_reset_reason_to_string(r));
	is_str(msg_reset_reason_to_string(10), "unknown", "reset reason 10 unknown");
	for (unsigned l = MSG_LOG_ERROR; l <= MSG_LOG_DEBUG; l++)
		ok(strcmp(msg_log_level_to_string(l), "unknown") != 0, "log level %u is %s", l,
		   msg_log_level_to_string(l));
	for (unsigned st = MSG_SLOT_EMPTY; st <= MSG_SLOT_COMMITTED; st++)
		ok(strcmp(msg_slot_state_to_string(st), "unknown") != 0, "slot state %u is %s", st,
		   msg_slot_state_to_string(st));
	is_str(msg_log_level_to_string(MSG_LOG_WARNING), "WARNING", "log level name");
	is_str(msg_log_level_to_string(0), "unknown", "log level 0 unknown");
	is_str(msg_slot_state_to_string(MSG_SLOT_COMMITTED), "COMMITTED", "slot state name");
	is_str(msg_slot_state_to_string(3), "unknown", "slot state 3 unknown");
}

/* ---------------------------------------------------------------- DIST_* field and length checks */

/* Encodes @m's payload into @out (test bug if it fails); returns its length. */
static size_t dist_payload(const struct msg *m, uint8_t *out)
{
	size_t len = 0;

	if (msg_encode(m, out, FRAME_MAX_PAYLOAD, &len) != MSG_STATUS_OK)
		ok(0, "test bug: the %s sample does not encode", msg_type_to_string(m->type));
	return len;
}

/* spoiled() with two bytes changed. */
static const uint8_t *spoiled2(const uint8_t *src, size_t len, size_t off1, uint8_t val1, size_t off2, uint8_t val2)
{
	static uint8_t copy[FRAME_MAX_PAYLOAD + 8];

	memcpy(copy, src, len);
	copy[off1] = val1;
	copy[off2] = val2;
	return copy;
}

static void test_dist_refused(void)
{
	static uint8_t many[3 * 400];
	static uint8_t p[FRAME_MAX_PAYLOAD], big[FRAME_MAX_PAYLOAD + 8];
	struct msg m = make(MSG_DIST_START, FRAME_REQUEST), e;
	size_t len, out_len;

	m.u.dist_start = dist_start_example;
	len = dist_payload(&m, p);
	is_int(len, 55 + 10 + 1 + 8 + 6, "DIST_START example: 80 bytes");
	is_int(msg_dist_start_size(10, 8, 2), 80, "msg_dist_start_size() agrees");
	/* lengths: every field */
	refuse("DIST_START, empty", MSG_DIST_START, FRAME_REQUEST, 0, p, 0, MSG_STATUS_BAD_LENGTH);
	refuse("DIST_START, 54 bytes", MSG_DIST_START, FRAME_REQUEST, 0, p, 54, MSG_STATUS_BAD_LENGTH);
	refuse("DIST_START, one entry byte short", MSG_DIST_START, FRAME_REQUEST, 0, p, len - 1,
	       MSG_STATUS_BAD_LENGTH);
	memcpy(big, p, len);
	big[len] = 0;
	refuse("DIST_START, one byte too many", MSG_DIST_START, FRAME_REQUEST, 0, big, len + 1,
	       MSG_STATUS_BAD_LENGTH);
	refuse("DIST_START, FWID length past the end", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 54, 0xff),
	       len, MSG_STATUS_BAD_LENGTH);
	refuse("DIST_START, FWID length 0", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 54, 0), len,
	       MSG_STATUS_BAD_LENGTH);
	refuse("DIST_START, metadata length past the end", MSG_DIST_START, FRAME_REQUEST, 0,
	       spoiled(p, len, 65, 0xff), len, MSG_STATUS_BAD_LENGTH);
	refuse("DIST_START, count 3 for 2 entries", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 52, 3), len,
	       MSG_STATUS_BAD_LENGTH);
	/* fields */
	refuse("DIST_START, id 0", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 0, 0), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, group 0x8000 (virtual)", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 5, 0x80), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, app key index 0x1000", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 7, 0x10), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, TTL 1", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 8, 1), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, TTL 128", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 8, 128), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, mode 0", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 11, 0), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, mode 3", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 11, 3), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, policy 2", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 12, 2), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, block size log 5", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 13, 5), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, block size log 33", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 13, 33), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, chunk size 7", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 14, 7), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, chunk size 378", MSG_DIST_START, FRAME_REQUEST, 0,
	       spoiled2(p, len, 14, 0x7a, 15, 1), len, MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, total 0", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 48, 0), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, first 1 + count 2 > total 2", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 50, 1),
	       len, MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, a target address 0", MSG_DIST_START, FRAME_REQUEST, 0,
	       spoiled2(p, len, 74, 0, 75, 0), len, MSG_STATUS_BAD_PARAM);
	refuse("DIST_START, a group target address", MSG_DIST_START, FRAME_REQUEST, 0, spoiled(p, len, 75, 0xc0),
	       len, MSG_STATUS_BAD_PARAM);
	/* the encoder refuses the same, and a batch no frame holds */
	e = m;
	e.u.dist_start.fwid_len = MSG_DIST_FWID_MAX + 1;
	is_int(msg_encode(&e, p, sizeof(p), &out_len), MSG_STATUS_BAD_LENGTH, "encoder: FWID of 33 bytes");
	e = m;
	e.u.dist_start.count = 400;
	e.u.dist_start.total = 400;
	for (size_t i = 0; i < sizeof(many); i += 3)
		many[i] = 0x01;                 /* address 0x0001, image index 0 */
	e.u.dist_start.entries = many;
	is_int(msg_encode(&e, p, sizeof(p), &out_len), MSG_STATUS_BAD_LENGTH, "encoder: 400 entries do not fit");
	e.u.dist_start.count = e.u.dist_start.total = (uint16_t)((FRAME_MAX_PAYLOAD - msg_dist_start_size(10, 8, 0)) / 3);
	is_int(msg_encode(&e, p, sizeof(p), &out_len), MSG_STATUS_OK, "encoder: %u entries fit one frame",
	       e.u.dist_start.count);
	ok(e.u.dist_start.count >= 300, "... about 300 (%u)", e.u.dist_start.count);

	/* DIST_GET response */
	m = make(MSG_DIST_GET, FRAME_RESPONSE);
	m.u.dist_info = dist_info_example;
	len = dist_payload(&m, p);
	is_int(len, 33, "DIST_GET response: 33 bytes");
	refuse("DIST_GET response, 32 bytes", MSG_DIST_GET, FRAME_RESPONSE, 0, p, 32, MSG_STATUS_BAD_LENGTH);
	refuse("DIST_GET response, state 8", MSG_DIST_GET, FRAME_RESPONSE, 0, spoiled(p, len, 4, 8), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_GET response, phase 9", MSG_DIST_GET, FRAME_RESPONSE, 0, spoiled(p, len, 5, 9), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_GET response, reason 20", MSG_DIST_GET, FRAME_RESPONSE, 0, spoiled(p, len, 6, 20), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_GET response, mode 3", MSG_DIST_GET, FRAME_RESPONSE, 0, spoiled(p, len, 7, 3), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_GET request with a payload", MSG_DIST_GET, FRAME_REQUEST, 0, p, 1, MSG_STATUS_BAD_LENGTH);
	{
		struct msg back;

		memcpy(big, p, len);
		big[len] = 0xee;
		ok(decode_bytes(MSG_DIST_GET, FRAME_RESPONSE, 0, big, len + 1, &back) == MSG_STATUS_OK &&
		   back.u.dist_info.elapsed_ms == 123456, "DIST_GET response of a later minor version: extra bytes ignored");
	}

	/* DIST_TARGETS_GET */
	refuse("DIST_TARGETS_GET request, 3 bytes", MSG_DIST_TARGETS_GET, FRAME_REQUEST, 0, p, 3,
	       MSG_STATUS_BAD_LENGTH);
	refuse("DIST_TARGETS_GET request, 5 bytes", MSG_DIST_TARGETS_GET, FRAME_REQUEST, 0, p, 5,
	       MSG_STATUS_BAD_LENGTH);
	m = make(MSG_DIST_TARGETS_GET, FRAME_RESPONSE);
	m.u.dist_targets = (struct msg_dist_targets){ .id = 7, .total = 100, .first = 98, .count = 2,
						      .info = dist_target_examples };
	len = dist_payload(&m, p);
	is_int(len, 10 + 2 * 11, "DIST_TARGETS_GET response with 2 entries: 32 bytes");
	refuse("DIST_TARGETS_GET response, 9 bytes", MSG_DIST_TARGETS_GET, FRAME_RESPONSE, 0, p, 9,
	       MSG_STATUS_BAD_LENGTH);
	refuse("DIST_TARGETS_GET response, an entry short", MSG_DIST_TARGETS_GET, FRAME_RESPONSE, 0, p, len - 1,
	       MSG_STATUS_BAD_LENGTH);
	refuse("DIST_TARGETS_GET response, entries past the total", MSG_DIST_TARGETS_GET, FRAME_RESPONSE, 0,
	       spoiled(p, len, 6, 99), len, MSG_STATUS_BAD_PARAM);
	refuse("DIST_TARGETS_GET response, an entry with address 0", MSG_DIST_TARGETS_GET, FRAME_RESPONSE, 0,
	       spoiled2(p, len, 10, 0, 11, 0), len, MSG_STATUS_BAD_PARAM);
	refuse("DIST_TARGETS_GET response, result 4", MSG_DIST_TARGETS_GET, FRAME_RESPONSE, 0,
	       spoiled(p, len, 14, 4), len, MSG_STATUS_BAD_PARAM);
	refuse("DIST_TARGETS_GET response, status source 3", MSG_DIST_TARGETS_GET, FRAME_RESPONSE, 0,
	       spoiled(p, len, 16, 3), len, MSG_STATUS_BAD_PARAM);
	refuse("DIST_TARGETS_GET response, effect 32", MSG_DIST_TARGETS_GET, FRAME_RESPONSE, 0,
	       spoiled(p, len, 18, 32), len, MSG_STATUS_BAD_PARAM);
	e = m;
	e.u.dist_targets.count = MSG_DIST_TARGETS_PAGE_MAX + 1;
	e.u.dist_targets.total = 1000;
	is_int(msg_encode(&e, p, sizeof(p), &out_len), MSG_STATUS_BAD_LENGTH, "encoder: a page of %u entries",
	       MSG_DIST_TARGETS_PAGE_MAX + 1);
	is_int(MSG_DIST_TARGETS_PAGE_MAX, 92, "a page holds 92 entries");

	/* the id requests and the events */
	{
		static const uint8_t types[] = { MSG_DIST_SUSPEND, MSG_DIST_RESUME, MSG_DIST_CANCEL, MSG_DIST_APPLY };
		static const uint8_t zero_id[4] = { 0 }, id7[5] = { 7, 0, 0, 0, 0 };

		for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
			refuse("id request, 3 bytes", types[i], FRAME_REQUEST, 0, id7, 3, MSG_STATUS_BAD_LENGTH);
			refuse("id request, 5 bytes", types[i], FRAME_REQUEST, 0, id7, 5, MSG_STATUS_BAD_LENGTH);
			refuse("id request, id 0", types[i], FRAME_REQUEST, 0, zero_id, 4, MSG_STATUS_BAD_PARAM);
			refuse("id response with a payload", types[i], FRAME_RESPONSE, 0, id7, 1, MSG_STATUS_BAD_LENGTH);
		}
	}
	m = make(MSG_DIST_TARGET, FRAME_EVENT);
	m.u.dist_target = (struct msg_dist_target_evt){ .id = 7, .index = 1, .t = dist_target_examples[0] };
	len = dist_payload(&m, p);
	is_int(len, 17, "DIST_TARGET: 17 bytes");
	refuse("DIST_TARGET, 16 bytes", MSG_DIST_TARGET, FRAME_EVENT, 0, p, 16, MSG_STATUS_BAD_LENGTH);
	refuse("DIST_TARGET, phase 9", MSG_DIST_TARGET, FRAME_EVENT, 0, spoiled(p, len, 9, 9), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_TARGET, reason 20", MSG_DIST_TARGET, FRAME_EVENT, 0, spoiled(p, len, 11, 20), len,
	       MSG_STATUS_BAD_PARAM);
	m = make(MSG_DIST_PROGRESS, FRAME_EVENT);
	m.u.dist_progress = (struct msg_dist_progress){ .id = 7, .blocks_done = 3, .blocks = 25, .active = 9 };
	len = dist_payload(&m, p);
	is_int(len, 10, "DIST_PROGRESS: 10 bytes");
	refuse("DIST_PROGRESS, 11 bytes", MSG_DIST_PROGRESS, FRAME_EVENT, 0, big, 11, MSG_STATUS_BAD_LENGTH);
	refuse("DIST_PROGRESS, more blocks done than blocks", MSG_DIST_PROGRESS, FRAME_EVENT, 0,
	       spoiled(p, len, 4, 26), len, MSG_STATUS_BAD_PARAM);
	m = make(MSG_DIST_STATE, FRAME_EVENT);
	m.u.dist_state = (struct msg_dist_state_evt){ .id = 7, .state = MSG_DIST_RUNNING, .phase = 1 };
	len = dist_payload(&m, p);
	is_int(len, 7, "DIST_STATE: 7 bytes");
	refuse("DIST_STATE, 6 bytes", MSG_DIST_STATE, FRAME_EVENT, 0, p, 6, MSG_STATUS_BAD_LENGTH);
	refuse("DIST_STATE, state 8", MSG_DIST_STATE, FRAME_EVENT, 0, spoiled(p, len, 4, 8), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_STATE, phase 9", MSG_DIST_STATE, FRAME_EVENT, 0, spoiled(p, len, 5, 9), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_STATE, reason 20", MSG_DIST_STATE, FRAME_EVENT, 0, spoiled(p, len, 6, 20), len,
	       MSG_STATUS_BAD_PARAM);
	refuse("DIST_STATE as a request", MSG_DIST_STATE, FRAME_REQUEST, 0, p, len, MSG_STATUS_UNKNOWN_MESSAGE);
	refuse("DIST_START as an event", MSG_DIST_START, FRAME_EVENT, 0, p, len, MSG_STATUS_UNKNOWN_MESSAGE);

	/* names */
	for (unsigned r = 0; r <= MSG_DIST_REASON_LAST; r++)
		ok(strcmp(msg_dist_reason_to_string(r), "unknown") != 0, "reason %u is %s", r,
		   msg_dist_reason_to_string(r));
	is_str(msg_dist_reason_to_string(MSG_DIST_REASON_TIMEOUT_BLOCK), "timeout_block", "reason name");
	is_str(msg_dist_reason_to_string(MSG_DIST_REASON_LAST + 1), "unknown", "reason past the last: unknown");
	for (unsigned st = 0; st <= MSG_DIST_CANCELLED; st++)
		ok(strcmp(msg_dist_state_to_string(st), "unknown") != 0, "state %u is %s", st,
		   msg_dist_state_to_string(st));
	for (unsigned ph = 0; ph <= MSG_DIST_PHASE_DONE; ph++)
		ok(strcmp(msg_dist_phase_to_string(ph), "unknown") != 0, "phase %u is %s", ph,
		   msg_dist_phase_to_string(ph));
	for (unsigned r = 0; r <= MSG_DIST_TARGET_CANCELLED; r++)
		ok(strcmp(msg_dist_result_to_string(r), "unknown") != 0, "result %u is %s", r,
		   msg_dist_result_to_string(r));
	is_str(msg_dist_state_to_string(8), "unknown", "state 8 unknown");
	is_str(msg_status_to_string(MSG_STATUS_DIST_SLOT_MISMATCH), "DIST_SLOT_MISMATCH", "status 0x40 name");
	is_str(msg_status_to_string(MSG_STATUS_DIST_UNKNOWN_ID), "DIST_UNKNOWN_ID", "status 0x41 name");
}

/* ---------------------------------------------------------------- the worked examples of docs/protocol.md */

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

/* Finds "# vector NAME PART" in a ```hex block of @doc and parses the hex bytes after it up to the closing fence;
 * '#' starts a comment. Returns the number of bytes, or -1 if the block is missing or holds something else. */
static long doc_vector(const char *doc, const char *name, const char *part, uint8_t *out, size_t cap)
{
	char marker[128];
	const char *p;
	size_t n = 0;

	snprintf(marker, sizeof(marker), "# vector %s %s\n", name, part);
	p = strstr(doc, marker);
	if (!p)
		return -1;
	p += strlen(marker);
	while (*p && strncmp(p, "```", 3) != 0) {
		const char *eol = strchr(p, '\n');

		if (!eol)
			return -1;
		while (p < eol && *p != '#') {
			int hi, lo;

			if (*p == ' ' || *p == '\t') {
				p++;
				continue;
			}
			hi = hex_digit(p[0]);
			lo = p + 1 < eol ? hex_digit(p[1]) : -1;
			if (hi < 0 || lo < 0 || n >= cap || (p + 2 < eol && p[2] != ' ' && p[2] != '\t'))
				return -1;      /* bytes are written as pairs of hex digits */
			out[n++] = (uint8_t)(hi << 4 | lo);
			p += 2;
		}
		p = eol + 1;
	}
	return *p ? (long)n : -1;
}

static void test_doc_vectors(void)
{
	static const uint8_t slot_data[16] = {
		0x00, 0x00, 0x04, 0x20, 0xc1, 0x0a, 0x00, 0x00, 0x2d, 0x0b, 0x00, 0x00, 0x2f, 0x0b, 0x00, 0x00,
	};
	struct vector {
		const char *name;
		uint32_t seq;
		struct msg m;
	} v[] = {
		{ "hello-req", MSG_HELLO_ID, { .type = MSG_HELLO, .kind = FRAME_REQUEST } },
		{ "hello-rsp", MSG_HELLO_ID, { .type = MSG_HELLO, .kind = FRAME_RESPONSE, .u.hello = hello_example } },
		{ "echo-req", MSG_HELLO_ID + 1, { .type = MSG_ECHO, .kind = FRAME_REQUEST,
						  .u.echo = { (const uint8_t *)"mf\0\xff", 4 } } },
		{ "echo-rsp", MSG_HELLO_ID + 1, { .type = MSG_ECHO, .kind = FRAME_RESPONSE,
						  .u.echo = { (const uint8_t *)"mf\0\xff", 4 } } },
		{ "slot-write-req", MSG_HELLO_ID + 2, { .type = MSG_SLOT_WRITE, .kind = FRAME_REQUEST,
							.u.slot_write = { 0, slot_data, sizeof(slot_data) } } },
		{ "slot-write-rsp", MSG_HELLO_ID + 2, { .type = MSG_SLOT_WRITE, .kind = FRAME_RESPONSE,
							.u.bytes_written = 16 } },
		{ "slot-write-rsp-offset", MSG_HELLO_ID + 3, { .type = MSG_SLOT_WRITE, .kind = FRAME_RESPONSE,
							       .status = MSG_STATUS_SLOT_OFFSET,
							       .u.bytes_written = 16 } },
		{ "log-evt", 3, { .type = MSG_LOG, .kind = FRAME_EVENT,
				  .u.log = { MSG_LOG_INFO, 1234, "slot", 4, "erased 102 pages", 16 } } },
		{ "dist-start-req", 0x30464DC0, { .type = MSG_DIST_START, .kind = FRAME_REQUEST,
						  .u.dist_start = dist_start_example } },
		{ "dist-state-evt", 41, { .type = MSG_DIST_STATE, .kind = FRAME_EVENT,
					  .u.dist_state = { .id = 7, .state = MSG_DIST_COMPLETED,
							    .phase = MSG_DIST_PHASE_DONE } } },
	};
	char path[4096];
	size_t doc_len = 0;
	char *doc;

	snprintf(path, sizeof(path), "%s/docs/protocol.md", srcdir());
	doc = slurp(path, &doc_len);
	if (!ok(doc != NULL, "read %s", path))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		static uint8_t frame[FRAME_MAX_SIZE], wire[COBS_WIRE_MAX(FRAME_MAX_SIZE)], buf[FRAME_MAX_SIZE];
		static uint8_t doc_frame[FRAME_MAX_SIZE], doc_wire[COBS_WIRE_MAX(FRAME_MAX_SIZE)];
		static uint8_t corpus_file[COBS_WIRE_MAX(FRAME_MAX_SIZE)];
		size_t frame_len = 0, wire_len, got_len = 0;
		long doc_frame_len = doc_vector(doc, v[i].name, "decoded", doc_frame, sizeof(doc_frame));
		long doc_wire_len = doc_vector(doc, v[i].name, "wire", doc_wire, sizeof(doc_wire));
		struct cobs_stream s;
		struct frame_header h;
		struct msg back;
		bool decoded;
		char *corpus;

		ok(msg_encode_frame(&v[i].m, v[i].seq, false, frame, sizeof(frame), &frame_len) == MSG_STATUS_OK,
		   "%s: encodes", v[i].name);
		wire_len = cobs_encode_frame(frame, frame_len, true, wire, sizeof(wire));
		ok(doc_frame_len >= 0 && doc_wire_len >= 0, "%s: both blocks found in the document", v[i].name);
		is_bytes(doc_frame, doc_frame_len < 0 ? 0 : (size_t)doc_frame_len, frame, frame_len,
			 "... decoded bytes as documented");
		is_bytes(doc_wire, doc_wire_len < 0 ? 0 : (size_t)doc_wire_len, wire, wire_len,
			 "... wire bytes as documented");

		/* and back: the documented wire bytes through the stream decoder, the frame and the message decoder */
		cobs_stream_init(&s, buf, sizeof(buf));
		if (doc_wire_len > 0)
			cobs_stream_feed(&s, doc_wire, (size_t)doc_wire_len, &got_len);
		decoded = got_len > 0 && frame_decode(buf, got_len, &h) == FRAME_OK && h.seq == v[i].seq &&
			  msg_decode(&h, buf + FRAME_HEADER_SIZE, &back) == MSG_STATUS_OK;
		ok(decoded, "... documented wire bytes decode");
		if (decoded)
			same_msg(&back, &v[i].m, "... to the documented message");
		else
			ok(0, "... to the documented message");

		/* the fuzz corpus holds the same bytes */
		snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/frame/doc-%s", srcdir(), v[i].name);
		corpus = slurp(path, &got_len);
		if (corpus)
			memcpy(corpus_file, corpus, got_len < sizeof(corpus_file) ? got_len : sizeof(corpus_file));
		snprintf(path, sizeof(path), "... tests/fuzz/corpus/frame/doc-%s holds the same bytes", v[i].name);
		is_bytes(corpus_file, corpus ? got_len : 0, wire, wire_len, path);
		free(corpus);
	}
	free(doc);
}

/* ---------------------------------------------------------------- nRF5 SDK for Mesh serial */

/* Reads @wire as an nRF5 SDK for Mesh serial device would (v5.0.0 serial_bearer.c: length byte, then that many
 * bytes of opcode and payload; length 0 is answered with "invalid length" and skipped). Collects the device's
 * replies in @reply. Returns false if an opcode is one the device knows or the bytes end inside a packet. */
static bool nrf5_reads(const uint8_t *wire, size_t len, uint8_t *reply, size_t *reply_len)
{
	size_t i = 0;

	*reply_len = 0;
	while (i < len) {
		unsigned length = wire[i++];
		unsigned opcode;
		uint8_t status;

		if (length == 0) {
			opcode = 0;
			status = 0x84;          /* ERROR_INVALID_LENGTH */
		} else {
			if (length > len - i)
				return false;   /* the device waits for more bytes */
			opcode = wire[i];
			/* Opcodes no handler takes (0x21-0x3F, 0xC0-0xCF, 0xF5-0xFB), or that the mesh handler
			 * answers as unknown (0xB0-0xBF) */
			if (!((opcode >= 0x21 && opcode <= 0x3f) || (opcode >= 0xb0 && opcode <= 0xcf) ||
			      (opcode >= 0xf5 && opcode <= 0xfb)))
				return false;
			status = 0x82;          /* ERROR_CMD_UNKNOWN */
			i += length;
		}
		memcpy(reply + *reply_len, (const uint8_t[]){ 0x03, 0x84, (uint8_t)opcode, status }, 4);
		*reply_len += 4;
	}
	return true;
}

static void test_nrf5(void)
{
	static const uint8_t expected_reply[] = {
		0x03, 0x84, 0x00, 0x84, 0x03, 0x84, 0xb1, 0x82, 0x03, 0x84, 0xb1, 0x82, 0x03, 0x84, 0x23, 0x82,
	};
	static const uint8_t nrf5_packets[][8] = {
		{ 0x04, 0x81, 0x02, 0x00, 0xfe },               /* Device Started, application */
		{ 0x04, 0x81, 0x01, 0x00, 0xfe },               /* Device Started, bootloader */
		{ 0x05, 0x82, 0xaa, 0xbb, 0xcc, 0xdd },         /* Echo Rsp */
		{ 0x03, 0x84, 0x00, 0x84 },                     /* Cmd Rsp: invalid length */
		{ 0x03, 0x84, 0xb1, 0x82 },                     /* Cmd Rsp: unknown command */
	};
	static const size_t nrf5_len[] = { 5, 5, 6, 4, 4 };
	uint8_t frame[64], wire[64], reply[64], stream_buf[FRAME_MAX_SIZE], all[256];
	struct msg hello = { .type = MSG_HELLO, .kind = FRAME_REQUEST };
	struct cobs_stream s;
	struct frame_header h;
	size_t frame_len = 0, wire_len, reply_len, all_len = 0, got;
	int accepted = 0;

	msg_encode_frame(&hello, MSG_HELLO_ID, true, frame, sizeof(frame), &frame_len);
	wire_len = cobs_encode_frame(frame, frame_len, true, wire, sizeof(wire));
	ok(nrf5_reads(wire, wire_len, reply, &reply_len),
	   "HELLO read as nRF5 serial packets: only unknown opcodes, ends on a packet boundary");
	/* the probe twice in a row, as a host retrying would send it */
	memcpy(all, wire, wire_len);
	memcpy(all + wire_len, wire, wire_len);
	ok(nrf5_reads(all, 2 * wire_len, reply, &reply_len), "... also twice in a row");
	nrf5_reads(wire, wire_len, reply, &reply_len);
	is_bytes(reply, reply_len, expected_reply, sizeof(expected_reply),
		 "... the replies an nRF5 SDK for Mesh device gives, as documented");
	ok(frame[2] == 0x00, "HELLO never carries the retransmission flag");

	/* nRF5 traffic into our decoder: nothing gets through as a frame */
	for (size_t i = 0; i < ARRAY_SIZE(nrf5_packets); i++) {
		memcpy(all + all_len, nrf5_packets[i], nrf5_len[i]);
		all_len += nrf5_len[i];
	}
	all[all_len++] = 0x00;
	cobs_stream_init(&s, stream_buf, sizeof(stream_buf));
	for (size_t pos = 0; pos < all_len;) {
		pos += cobs_stream_feed(&s, all + pos, all_len - pos, &got);
		if (got > 0 && frame_decode(stream_buf, got, &h) == FRAME_OK)
			accepted++;
	}
	is_int(accepted, 0, "nRF5 Device Started, Echo Rsp and Cmd Rsp never pass as frames");
	for (size_t i = 0; i < ARRAY_SIZE(nrf5_packets); i++)
		ok(frame_decode(nrf5_packets[i], nrf5_len[i], &h) != FRAME_OK, "nRF5 packet %zu is no frame", i);
}

int main(void)
{
	test_crc32c();
	test_crc32c_tables();
	test_cobs_known();
	test_cobs_roundtrip();
	test_cobs_errors();
	test_stream();
	test_frame();
	test_messages_roundtrip();
	test_messages_refused();
	test_encoders_refuse();
	test_names();
	test_dist_refused();
	test_doc_vectors();
	test_nrf5();
	return done_testing();
}
