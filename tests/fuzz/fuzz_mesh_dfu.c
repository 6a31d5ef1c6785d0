/* Fuzz target: the BLOB Transfer and Firmware Update decoders of protocol/mesh_blob.c and protocol/mesh_dfu.c. Each
 * input is an access payload (opcode and parameters, as MESH_RECV carries it), copied to a buffer of exactly its size
 * so ASan sees any read past it, also under the corpus replay of `make check`.
 *
 * Whatever decodes must encode back to the same bytes and decode again to the same message. Beyond that: the two
 * codecs never both accept an input; a Transfer Status bitfield has the length its size and block size log imply; an
 * encoded chunk list walks to as many numbers as the checker counted, and re-encoding them gives the same bytes (the
 * decoding is strict, so every list is in its one shortest form); a Block Status or Partial Block Report turns into a
 * bitmap for any chunk count without touching memory past the bitmap, and what it sets agrees with the list. The input
 * is also read as a bare chunk list and as a bitmap. A violation traps. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mesh_blob.h"
#include "mesh_dfu.h"

static void check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

/* A checked list re-encodes to itself; returns its entries in @chunks (room for MA_PAYLOAD_MAX). */
static size_t check_list(const uint8_t *list, size_t len, uint16_t *chunks)
{
	static uint8_t out[MA_PAYLOAD_MAX];
	struct mb_chunk_iter it;
	size_t count = 0, n = 0, out_len = 0;

	check(mb_chunk_list_check(list, len, &count) == MA_OK);
	for (mb_chunk_iter_init(&it, list, len); n < MA_PAYLOAD_MAX && mb_chunk_next(&it, &chunks[n]); n++)
		;
	check(n == count && it.pos == len);
	check(mb_chunk_list_encode(chunks, n, out, sizeof(out), &out_len) == MA_OK);
	check(out_len == len && (len == 0 || memcmp(out, list, len) == 0));
	return n;
}

/* The bitmap a Block Status / Partial Block Report gives for a block of @count chunks, checked against its list. */
static void check_missing(const struct mb_block_status *s, const uint16_t *chunks, size_t n, uint32_t count)
{
	uint8_t *bitmap = malloc(MB_BITMAP_SIZE(count) ? MB_BITMAP_SIZE(count) : 1);   /* exact: ASan sees overruns */
	enum ma_status st;

	if (!bitmap)
		return;
	st = mb_block_status_missing(s, count, bitmap);
	if (st == MA_OK) {
		uint32_t missing = mb_bitmap_count(bitmap, count);

		check(count >= 1 && count <= MB_CHUNK_COUNT_MAX);
		switch ((enum mb_format)s->format) {
		case MB_FORMAT_ALL_MISSING:
			check(missing == count && mb_bitmap_first(bitmap, count, 0) == 0);
			break;
		case MB_FORMAT_NONE_MISSING:
			check(missing == 0 && mb_bitmap_first(bitmap, count, 0) == count);
			break;
		case MB_FORMAT_SOME_MISSING:
			check(s->missing_len == MB_BITMAP_SIZE(count) && memcmp(bitmap, s->missing, s->missing_len) == 0);
			break;
		case MB_FORMAT_ENCODED:
			for (size_t i = 0; i < n; i++)
				check(chunks[i] < count && mb_bitmap_test(bitmap, chunks[i]));
			check(missing <= n);
			break;
		}
		/* the list a server would send back for this bitmap lists the same chunks, ascending */
		{
			uint8_t list[MA_PAYLOAD_MAX];
			size_t len = 0, entries = 0;
			struct mb_chunk_iter it;
			uint16_t c, prev = 0;
			bool first = true;

			check(mb_chunk_list_from_bitmap(bitmap, count, missing, list, sizeof(list), &len, &entries) == MA_OK);
			for (mb_chunk_iter_init(&it, list, len); mb_chunk_next(&it, &c); first = false, prev = c)
				check(mb_bitmap_test(bitmap, c) && (first || c > prev));
		}
	}
	free(bitmap);
}

static void check_blob(const uint8_t *p, size_t len)
{
	static uint8_t out[MA_PAYLOAD_MAX];
	static uint16_t chunks[MA_PAYLOAD_MAX];
	struct mb_msg m, back;
	size_t out_len = 0, n = 0;
	enum ma_status st = mb_decode(p, len, &m);

	check(ma_status_to_string(st) != NULL);
	if (st != MA_OK)
		return;
	check(strcmp(mb_opcode_to_string(m.opcode), "unknown") != 0);
	check(mb_encode(&m, out, sizeof(out), &out_len) == MA_OK);
	check(out_len == len && memcmp(out, p, len) == 0);
	check(mb_decode(out, out_len, &back) == MA_OK && back.opcode == m.opcode);

	switch (m.opcode) {
	case MB_OP_XFER_START:
		check(m.u.xfer_start.mode == MB_MODE_PUSH || m.u.xfer_start.mode == MB_MODE_PULL);
		check(mb_block_count(m.u.xfer_start.size, m.u.xfer_start.block_size_log) > 0 || m.u.xfer_start.size == 0);
		break;
	case MB_OP_XFER_STATUS: {
		const struct mb_xfer_status *s = &m.u.xfer_status;

		check(s->phase <= MB_PHASE_SUSPENDED && strcmp(mb_phase_to_string(s->phase), "unknown") != 0);
		check(mb_status_to_string(s->status) != NULL && mb_mode_to_string(s->mode) != NULL);
		if (s->phase >= MB_PHASE_WAITING_FOR_BLOCK)
			check(s->blocks_missing_len == MB_BITMAP_SIZE(mb_block_count(s->size, s->block_size_log)) &&
			      mb_bitmap_count(s->blocks_missing, (uint32_t)s->blocks_missing_len * 8) <=
			      s->blocks_missing_len * 8);
		else
			check(s->blocks_missing_len == 0 && s->size == 0);
		break;
	}
	case MB_OP_CHUNK:
		check(m.u.chunk.len >= 1 && m.u.chunk.len <= MB_CHUNK_SIZE_MAX && m.u.chunk.data == p + 3);
		break;
	case MB_OP_BLOCK_STATUS: {
		const struct mb_block_status *s = &m.u.block_status;
		static const uint32_t counts[] = { 0, 1, 7, 8, 9, 37, 256, MB_CHUNK_COUNT_MAX, MB_CHUNK_COUNT_MAX + 1 };

		check(strcmp(mb_format_to_string(s->format), "unknown") != 0);
		if (s->format == MB_FORMAT_ENCODED)
			n = check_list(s->missing, s->missing_len, chunks);
		for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
			check_missing(s, chunks, n, counts[i]);
		if (s->format == MB_FORMAT_SOME_MISSING)
			check_missing(s, chunks, n, (uint32_t)s->missing_len * 8);
		/* every listed chunk fits a block of (largest + 1) chunks */
		if (n > 0) {
			uint32_t top = 0;

			for (size_t i = 0; i < n; i++)
				top = chunks[i] > top ? chunks[i] : top;
			if (top < MB_CHUNK_COUNT_MAX) {
				uint8_t bitmap[MB_BITMAP_SIZE(MB_CHUNK_COUNT_MAX)];

				check(mb_block_status_missing(s, top + 1, bitmap) == MA_OK);
			}
		}
		break;
	}
	case MB_OP_BLOCK_REPORT: {
		struct mb_block_status as_status = { .format = MB_FORMAT_ENCODED, .missing = m.u.block_report.missing,
						     .missing_len = m.u.block_report.missing_len };
		uint8_t a[MB_BITMAP_SIZE(MB_CHUNK_COUNT_MAX)], b[MB_BITMAP_SIZE(MB_CHUNK_COUNT_MAX)];
		enum ma_status sa, sb;

		n = check_list(m.u.block_report.missing, m.u.block_report.missing_len, chunks);
		check_missing(&as_status, chunks, n, 37);
		/* a report and an encoded Block Status with the same list give the same bitmap */
		sa = mb_block_report_missing(&m.u.block_report, MB_CHUNK_COUNT_MAX, a);
		sb = mb_block_status_missing(&as_status, MB_CHUNK_COUNT_MAX, b);
		check(sa == sb && (sa != MA_OK || memcmp(a, b, sizeof(a)) == 0));
		break;
	}
	case MB_OP_INFO_STATUS:
		check(m.u.info_status.min_block_size_log >= MB_BLOCK_SIZE_LOG_MIN &&
		      m.u.info_status.max_block_size_log <= MB_BLOCK_SIZE_LOG_MAX &&
		      m.u.info_status.min_block_size_log <= m.u.info_status.max_block_size_log);
		break;
	default:
		break;
	}
}

static void check_dfu(const uint8_t *p, size_t len)
{
	static uint8_t out[MA_PAYLOAD_MAX];
	struct md_msg m, back;
	size_t out_len = 0;
	enum ma_status st = md_decode(p, len, &m);

	check(ma_status_to_string(st) != NULL);
	if (st != MA_OK)
		return;
	check(strcmp(md_opcode_to_string(m.opcode), "unknown") != 0);
	check(md_encode(&m, out, sizeof(out), &out_len) == MA_OK);
	check(out_len == len && memcmp(out, p, len) == 0);
	check(md_decode(out, out_len, &back) == MA_OK && back.opcode == m.opcode);
	switch (m.opcode) {
	case MD_OP_UPDATE_STATUS:
		check(m.u.status.phase <= 7 && strcmp(md_phase_to_string(m.u.status.phase), "unknown") != 0);
		check(strcmp(md_status_to_string(m.u.status.status), "unknown") != 0);
		check(len == (m.u.status.phase == MD_PHASE_IDLE ? 3u : 16u));
		break;
	case MD_OP_METADATA_STATUS:
		check(strcmp(md_status_to_string(m.u.metadata_status.status), "unknown") != 0);
		check(md_effect_to_string(m.u.metadata_status.effect) != NULL);
		break;
	case MD_OP_UPDATE_START:
		check(m.u.start.metadata_len <= MD_METADATA_MAX && m.u.start.metadata == p + 14);
		break;
	case MD_OP_METADATA_CHECK:
		check(m.u.metadata_check.metadata_len <= MD_METADATA_MAX && m.u.metadata_check.metadata == p + 3);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint16_t chunks[MA_PAYLOAD_MAX];
	uint8_t *copy = malloc(size ? size : 1);
	struct mb_msg bm;
	struct md_msg dm;
	size_t count;

	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	check_blob(copy, size);
	check_dfu(copy, size);
	/* no payload belongs to both model families */
	check(!(mb_decode(copy, size, &bm) == MA_OK && md_decode(copy, size, &dm) == MA_OK));
	/* the same bytes as a bare chunk list */
	if (size <= MA_PAYLOAD_MAX && mb_chunk_list_check(copy, size, &count) == MA_OK)
		check(check_list(copy, size, chunks) == count);
	/* and as a bitmap of every length it can hold */
	if (size > 0 && size <= MB_BITMAP_SIZE(MB_CHUNK_COUNT_MAX)) {
		uint32_t bits = (uint32_t)size * 8, total = mb_bitmap_count(copy, bits), seen = 0;

		for (uint32_t i = mb_bitmap_first(copy, bits, 0); i < bits; i = mb_bitmap_first(copy, bits, i + 1)) {
			check(mb_bitmap_test(copy, i));
			seen++;
		}
		check(seen == total);
	}
	free(copy);
	return 0;
}
