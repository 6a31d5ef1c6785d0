/* Unit tests for protocol/mesh_blob.c: every BLOB Transfer message with a vector worked out by hand from the tables of
 * ../shared/reference/mesh-dfu-protocol.md (3.1, 3.4, 3.5; each derivation is in the comment above its bytes), round
 * trips, every cut and padded length, the prohibited values and limits (block size log 6..32, 32-segment payloads,
 * chunk and block counts), the chunk-number list at the encoding's boundaries and malformed, the missing bitmaps and
 * the size arithmetic of 4.1.
 *
 * Every decode of a cut or padded payload runs on an exactly-sized heap copy, so ASan reports any read past it. */
#include <stdlib.h>

#include "mesh_blob.h"
#include "mesh_vectors.h"
#include "tap.h"

/* mb_decode() on an exact heap copy, freed on return: only for the verdict and copied fields. */
static enum ma_status decode_copy(const uint8_t *p, size_t len, struct mb_msg *ret)
{
	uint8_t *copy = exact_copy(p, len);
	enum ma_status st = mb_decode(copy, len, ret);

	free(copy);
	return st;
}

/* ---------------------------------------------------------------- the vectors */

/* BLOB Transfer Get: opcode 0x8300 -> 83 00, no parameters. */
static const uint8_t xfer_get[] = { 0x83, 0x00 };

/* BLOB Transfer Start: opcode 0x8301 -> 83 01;
 *   byte 0: mode Push (1) in bits 6..7, RFU 0 -> 0x40;
 *   BLOB ID 0x0123456789ABCDEF LE -> ef cd ab 89 67 45 23 01;
 *   BLOB Size 300000 = 0x000493E0 -> e0 93 04 00;
 *   Block Size Log 12 (4096-byte blocks) -> 0c;
 *   Client MTU 376 = 0x0178 -> 78 01.  2 + 16 = 18 bytes. */
static const uint8_t xfer_start[] = {
	0x83, 0x01, 0x40, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, 0xe0, 0x93, 0x04, 0x00, 0x0c, 0x78, 0x01,
};

/* BLOB Transfer Cancel: opcode 0x8302; BLOB ID as above. */
static const uint8_t xfer_cancel[] = { 0x83, 0x02, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01 };

/* BLOB Transfer Status, phase Inactive: opcode 0x8303; status Success (0), RFU 0, mode none (0) -> 00; phase 0 -> 00.
 * Nothing else: Inactive has no BLOB ID. */
static const uint8_t xfer_status_inactive[] = { 0x83, 0x03, 0x00, 0x00 };

/* BLOB Transfer Status, phase Waiting for Transfer Start (1): status 0, mode 0 -> 00; phase 01; then the expected
 * BLOB ID only. 2 + 10 bytes. */
static const uint8_t xfer_status_wait_start[] = {
	0x83, 0x03, 0x00, 0x01, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
};

/* BLOB Transfer Status, phase Waiting for Next Block (2): status 0 | mode Push << 6 -> 40; phase 02; BLOB ID;
 * size 10000 = 0x2710 -> 10 27 00 00; log 12 -> 0c; MTU 116 = 0x74 -> 74 00;
 * blocks = ceil(10000 / 4096) = 3 -> 1 byte; none received: bits 0..2 -> 07.  2 + 17 + 1 = 20 bytes. */
static const uint8_t xfer_status_wait_block[] = {
	0x83, 0x03, 0x40, 0x02, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
	0x10, 0x27, 0x00, 0x00, 0x0c, 0x74, 0x00, 0x07,
};

/* BLOB Transfer Status, Wrong Phase (4) in pull mode (2 << 6) -> 84; phase Suspended (5) -> 05; BLOB ID;
 * size 65536 = 0x00010000 -> 00 00 01 00; log 10 (1024) -> 0a; MTU 20 = 0x14 -> 14 00;
 * 64 blocks -> 8 bytes; blocks 0..9 received, 10..63 not: byte 0 = 00, byte 1 = bits 2..7 = fc, bytes 2..7 = ff. */
static const uint8_t xfer_status_suspended[] = {
	0x83, 0x03, 0x84, 0x05, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01,
	0x00, 0x00, 0x01, 0x00, 0x0a, 0x14, 0x00,
	0x00, 0xfc, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
};

/* BLOB Block Start: opcode 0x8304; block 2 -> 02 00; chunk size 113 = 0x71 -> 71 00. */
static const uint8_t block_start[] = { 0x83, 0x04, 0x02, 0x00, 0x71, 0x00 };

/* BLOB Block Get: opcode 0x8305. */
static const uint8_t block_get[] = { 0x83, 0x05 };

/* BLOB Chunk Transfer: 1-byte opcode 0x66; chunk 36 = 0x24 -> 24 00; 4 bytes of data. */
static const uint8_t chunk[] = { 0x66, 0x24, 0x00, 0xde, 0xad, 0xbe, 0xef };

/* BLOB Block Status, all chunks missing: opcode 0x67; status 0 | format 0 -> 00; block 0 -> 00 00; chunk size 113 ->
 * 71 00. Nothing follows. */
static const uint8_t block_status_all[] = { 0x67, 0x00, 0x00, 0x00, 0x71, 0x00 };

/* BLOB Block Status, none missing: format 1 << 6 -> 40; block 1 -> 01 00; chunk size 113. */
static const uint8_t block_status_none[] = { 0x67, 0x40, 0x01, 0x00, 0x71, 0x00 };

/* BLOB Block Status, some missing: format 2 << 6 -> 80; block 2; chunk size 113. A 4096-byte block in 113-byte
 * chunks has 37 chunks -> 5 bytes; chunks 3, 9 and 36 missing: byte 0 bit 3 = 08, byte 1 bit 1 = 02, byte 4 bit 4 =
 * 10. */
static const uint8_t block_status_some[] = { 0x67, 0x80, 0x02, 0x00, 0x71, 0x00, 0x08, 0x02, 0x00, 0x00, 0x10 };

/* BLOB Block Status, encoded: format 3 << 6 -> c0; block 0; chunk size 8 -> 08 00; missing chunks at the encoding's
 * boundaries: 0x007F -> 7f; 0x0080 -> 110 00010, 10 000000 = c2 80; 0x07FF -> 110 11111, 10 111111 = df bf;
 * 0x0800 -> 1110 0000, 10 100000, 10 000000 = e0 a0 80; 0xFFFF -> 1110 1111, 10 111111, 10 111111 = ef bf bf. */
static const uint8_t block_status_encoded[] = {
	0x67, 0xc0, 0x00, 0x00, 0x08, 0x00,
	0x7f, 0xc2, 0x80, 0xdf, 0xbf, 0xe0, 0xa0, 0x80, 0xef, 0xbf, 0xbf,
};

/* BLOB Block Status, encoded with an empty list (pull mode, block complete): Invalid Chunk Size (3) | 3 << 6 = c3,
 * block 5 -> 05 00, chunk size 0xFFFF -> ff ff. */
static const uint8_t block_status_encoded_empty[] = { 0x67, 0xc3, 0x05, 0x00, 0xff, 0xff };

/* BLOB Partial Block Report: opcode 0x68; chunks 0 -> 00, 5 -> 05, 200 = 0xC8 -> 110 00011, 10 001000 = c3 88. */
static const uint8_t block_report[] = { 0x68, 0x00, 0x05, 0xc3, 0x88 };

/* BLOB Partial Block Report, empty: nothing missing any more. */
static const uint8_t block_report_empty[] = { 0x68 };

/* BLOB Information Get: opcode 0x8306. */
static const uint8_t info_get[] = { 0x83, 0x06 };

/* BLOB Information Status: opcode 0x8307; NCS target sample (mesh-dfu-protocol.md 4.1): min log 12 -> 0c, max log 12
 * -> 0c, max chunks 256 = 0x0100 -> 00 01, max chunk size 113 -> 71 00, max BLOB size 524288 = 0x00080000 ->
 * 00 00 08 00, MTU 116 -> 74 00, modes Push|Pull -> 03.  2 + 13 = 15 bytes. */
static const uint8_t info_status[] = {
	0x83, 0x07, 0x0c, 0x0c, 0x00, 0x01, 0x71, 0x00, 0x00, 0x00, 0x08, 0x00, 0x74, 0x00, 0x03,
};

/* How a sample answers to being cut or padded. */
enum shape {
	FIXED,          /* exact length: shorter TRUNCATED, longer TOO_LONG */
	OPEN_END,       /* a byte string at the end: any cut after @min_len bytes decodes, one byte more too */
	LIST_END,       /* an encoded list at the end: cuts at entry boundaries decode, inside an entry TRUNCATED */
};

struct sample {
	const char *name;
	const uint8_t *bytes;
	size_t len;
	uint32_t opcode;
	enum shape shape;
	size_t min_len;         /* OPEN_END / LIST_END: the shortest payload that decodes */
};

#define SAMPLE(v, op, shape, min) { #v, v, sizeof(v), op, shape, min }

static const struct sample samples[] = {
	SAMPLE(xfer_get, MB_OP_XFER_GET, FIXED, 0),
	SAMPLE(xfer_start, MB_OP_XFER_START, FIXED, 0),
	SAMPLE(xfer_cancel, MB_OP_XFER_CANCEL, FIXED, 0),
	SAMPLE(xfer_status_inactive, MB_OP_XFER_STATUS, FIXED, 0),
	SAMPLE(xfer_status_wait_start, MB_OP_XFER_STATUS, FIXED, 0),
	SAMPLE(xfer_status_wait_block, MB_OP_XFER_STATUS, FIXED, 0),
	SAMPLE(xfer_status_suspended, MB_OP_XFER_STATUS, FIXED, 0),
	SAMPLE(block_start, MB_OP_BLOCK_START, FIXED, 0),
	SAMPLE(block_get, MB_OP_BLOCK_GET, FIXED, 0),
	SAMPLE(chunk, MB_OP_CHUNK, OPEN_END, 4),
	SAMPLE(block_status_all, MB_OP_BLOCK_STATUS, FIXED, 0),
	SAMPLE(block_status_none, MB_OP_BLOCK_STATUS, FIXED, 0),
	SAMPLE(block_status_some, MB_OP_BLOCK_STATUS, OPEN_END, 7),
	SAMPLE(block_status_encoded, MB_OP_BLOCK_STATUS, LIST_END, 6),
	SAMPLE(block_status_encoded_empty, MB_OP_BLOCK_STATUS, LIST_END, 6),
	SAMPLE(block_report, MB_OP_BLOCK_REPORT, LIST_END, 1),
	SAMPLE(block_report_empty, MB_OP_BLOCK_REPORT, LIST_END, 1),
	SAMPLE(info_get, MB_OP_INFO_GET, FIXED, 0),
	SAMPLE(info_status, MB_OP_INFO_STATUS, FIXED, 0),
};

/* ---------------------------------------------------------------- every sample */

/* True if @cut falls between two entries of the list at the end of @s (for LIST_END cuts). */
static bool at_entry_boundary(const struct sample *s, size_t cut)
{
	size_t pos = s->min_len;        /* the list starts there: everything before it is fixed */

	while (pos < cut) {
		uint8_t b = s->bytes[pos];

		pos += b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : 3;
	}
	return pos == cut;
}

static void check_sample(const struct sample *s)
{
	struct mb_msg m, m2;
	uint8_t out[MA_PAYLOAD_MAX + 8], longer[MA_PAYLOAD_MAX + 8];
	size_t len = 0, opcode_len;
	uint32_t op;
	enum ma_status st = mb_decode(s->bytes, s->len, &m);

	opcode_len = ma_opcode_decode(s->bytes, s->len, &op);
	is_status(st, MA_OK, "%s: decodes", s->name);
	is_int(m.opcode, s->opcode, "%s: opcode", s->name);
	is_str(mb_opcode_to_string(m.opcode), mb_opcode_to_string(s->opcode), "%s: named", s->name);
	is_status(mb_encode(&m, out, sizeof(out), &len), MA_OK, "%s: encodes", s->name);
	is_bytes(out, len, s->bytes, s->len, s->name);
	is_status(mb_decode(out, len, &m2), MA_OK, "%s: decodes its own encoding", s->name);

	for (size_t cap = 0; cap < s->len; cap++) {
		size_t untouched = 12345;

		if (mb_encode(&m, out, cap, &untouched) != MA_NO_SPACE || untouched != 12345) {
			ok(0, "%s: encoding into %zu bytes gives NO_SPACE", s->name, cap);
			return;
		}
	}
	ok(1, "%s: encoding into every smaller buffer gives NO_SPACE, ret_len untouched", s->name);

	for (size_t cut = 0; cut < s->len; cut++) {
		enum ma_status want;

		if (cut < opcode_len)
			want = MA_BAD_OPCODE;
		else if (s->shape == FIXED || cut < s->min_len)
			want = MA_TRUNCATED;
		else if (s->shape == OPEN_END)
			want = MA_OK;
		else
			want = at_entry_boundary(s, cut) ? MA_OK : MA_TRUNCATED;
		m2.opcode = 0xdead;
		st = decode_copy(s->bytes, cut, &m2);
		is_status(st, want, "%s cut to %zu bytes", s->name, cut);
		if (st != MA_OK)
			is_int(m2.opcode, 0xdead, "%s cut to %zu bytes: ret untouched", s->name, cut);
	}
	memcpy(longer, s->bytes, s->len);
	longer[s->len] = 0x00;      /* for a list: chunk 0 */
	is_status(decode_copy(longer, s->len + 1, &m2), s->shape == FIXED ? MA_TOO_LONG : MA_OK, "%s + 1 byte",
		  s->name);
}

static void test_samples(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++)
		check_sample(&samples[i]);
}

/* ---------------------------------------------------------------- fields */

static void test_fields(void)
{
	struct mb_msg m;

	mb_decode(xfer_start, sizeof(xfer_start), &m);
	ok(m.u.xfer_start.mode == MB_MODE_PUSH && m.u.xfer_start.rfu == 0 &&
	   m.u.xfer_start.blob_id == 0x0123456789ABCDEFull && m.u.xfer_start.size == 300000 &&
	   m.u.xfer_start.block_size_log == 12 && m.u.xfer_start.mtu == 376, "Transfer Start fields");

	mb_decode(xfer_cancel, sizeof(xfer_cancel), &m);
	ok(m.u.blob_id == 0x0123456789ABCDEFull, "Transfer Cancel BLOB ID");

	mb_decode(xfer_status_inactive, sizeof(xfer_status_inactive), &m);
	ok(m.u.xfer_status.status == MB_SUCCESS && m.u.xfer_status.phase == MB_PHASE_INACTIVE &&
	   m.u.xfer_status.blob_id == 0 && m.u.xfer_status.blocks_missing_len == 0, "Status Inactive: no BLOB ID");

	mb_decode(xfer_status_wait_start, sizeof(xfer_status_wait_start), &m);
	ok(m.u.xfer_status.phase == MB_PHASE_WAITING_FOR_START && m.u.xfer_status.blob_id == 0x0123456789ABCDEFull &&
	   m.u.xfer_status.size == 0 && m.u.xfer_status.blocks_missing_len == 0, "Status Waiting for Start: BLOB ID only");

	mb_decode(xfer_status_wait_block, sizeof(xfer_status_wait_block), &m);
	ok(m.u.xfer_status.mode == MB_MODE_PUSH && m.u.xfer_status.phase == MB_PHASE_WAITING_FOR_BLOCK &&
	   m.u.xfer_status.size == 10000 && m.u.xfer_status.block_size_log == 12 && m.u.xfer_status.mtu == 116 &&
	   m.u.xfer_status.blocks_missing_len == 1 && m.u.xfer_status.blocks_missing[0] == 0x07,
	   "Status Waiting for Block fields");
	is_int(mb_bitmap_count(m.u.xfer_status.blocks_missing, mb_block_count(10000, 12)), 3, "3 blocks missing");

	mb_decode(xfer_status_suspended, sizeof(xfer_status_suspended), &m);
	ok(m.u.xfer_status.status == MB_WRONG_PHASE && m.u.xfer_status.mode == MB_MODE_PULL &&
	   m.u.xfer_status.phase == MB_PHASE_SUSPENDED && m.u.xfer_status.blocks_missing_len == 8, "Status Suspended");
	is_int(mb_bitmap_first(m.u.xfer_status.blocks_missing, 64, 0), 10, "first block not received: 10");
	is_int(mb_bitmap_count(m.u.xfer_status.blocks_missing, 64), 54, "54 blocks not received");

	mb_decode(block_start, sizeof(block_start), &m);
	ok(m.u.block_start.block == 2 && m.u.block_start.chunk_size == 113, "Block Start fields");

	mb_decode(chunk, sizeof(chunk), &m);
	ok(m.u.chunk.chunk == 36 && m.u.chunk.len == 4 && m.u.chunk.data == chunk + 3, "Chunk fields, data borrowed");

	mb_decode(block_status_some, sizeof(block_status_some), &m);
	ok(m.u.block_status.format == MB_FORMAT_SOME_MISSING && m.u.block_status.block == 2 &&
	   m.u.block_status.chunk_size == 113 && m.u.block_status.missing_len == 5, "Block Status (some) fields");

	mb_decode(block_status_encoded_empty, sizeof(block_status_encoded_empty), &m);
	ok(m.u.block_status.status == MB_INVALID_CHUNK_SIZE && m.u.block_status.format == MB_FORMAT_ENCODED &&
	   m.u.block_status.block == 5 && m.u.block_status.chunk_size == 0xffff, "Block Status (encoded, empty)");

	mb_decode(info_status, sizeof(info_status), &m);
	ok(m.u.info_status.min_block_size_log == 12 && m.u.info_status.max_block_size_log == 12 &&
	   m.u.info_status.max_chunks == 256 && m.u.info_status.max_chunk_size == 113 &&
	   m.u.info_status.max_size == 524288 && m.u.info_status.mtu == 116 &&
	   m.u.info_status.modes == (MB_MODES_PUSH | MB_MODES_PULL), "Information Status fields");

	/* the encoded list walks back to the numbers */
	{
		static const uint16_t want[] = { 0x7f, 0x80, 0x7ff, 0x800, 0xffff };
		struct mb_chunk_iter it;
		uint16_t c;
		size_t n = 0;
		bool same = true;

		mb_decode(block_status_encoded, sizeof(block_status_encoded), &m);
		for (mb_chunk_iter_init(&it, m.u.block_status.missing, m.u.block_status.missing_len);
		     mb_chunk_next(&it, &c); n++)
			same = same && n < ARRAY_SIZE(want) && c == want[n];
		ok(same && n == ARRAY_SIZE(want), "encoded list: 0x7f 0x80 0x7ff 0x800 0xffff");
	}
}

/* ---------------------------------------------------------------- values and limits */

static void test_values(void)
{
	struct mb_msg m;
	uint8_t buf[MA_PAYLOAD_MAX + 8], out[MA_PAYLOAD_MAX + 8];
	size_t len;

	/* Transfer Start: mode must be Push or Pull; the RFU bits are kept */
	memcpy(buf, xfer_start, sizeof(xfer_start));
	for (unsigned mode = 0; mode < 4; mode++) {
		buf[2] = (uint8_t)(mode << 6);
		is_status(decode_copy(buf, sizeof(xfer_start), &m), mode == 1 || mode == 2 ? MA_OK : MA_BAD_VALUE,
			  "Transfer Start mode %u", mode);
	}
	buf[2] = 0x80 | 0x15;
	is_status(mb_decode(buf, sizeof(xfer_start), &m), MA_OK, "Transfer Start with RFU bits");
	is_int(m.u.xfer_start.rfu, 0x15, "RFU bits kept");
	mb_encode(&m, out, sizeof(out), &len);
	is_bytes(out, len, buf, sizeof(xfer_start), "RFU bits re-encoded");
	m.u.xfer_start.rfu = 0x40;
	is_status(mb_encode(&m, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: RFU wider than 6 bits");

	/* block size log: 6..32 (0x06..0x20) only */
	memcpy(buf, xfer_start, sizeof(xfer_start));
	{
		static const struct {
			uint8_t log;
			enum ma_status want;
		} logs[] = { { 0, MA_BAD_VALUE }, { 5, MA_BAD_VALUE }, { 6, MA_OK }, { 12, MA_OK }, { 20, MA_OK },
			     { 32, MA_OK }, { 33, MA_BAD_VALUE }, { 255, MA_BAD_VALUE } };

		for (size_t i = 0; i < ARRAY_SIZE(logs); i++) {
			buf[15] = logs[i].log;
			is_status(decode_copy(buf, sizeof(xfer_start), &m), logs[i].want, "Transfer Start block size log %u",
				  logs[i].log);
		}
	}
	{
		struct mb_msg s = { .opcode = MB_OP_XFER_START,
				    .u.xfer_start = { .mode = MB_MODE_PULL, .blob_id = 1, .size = 1, .block_size_log = 5 } };

		is_status(mb_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: block size log 5");
		s.u.xfer_start.block_size_log = 6;
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_OK, "encoder: block size log 6");
		s.u.xfer_start.mode = MB_MODE_BOTH;
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: mode Push and Pull in a Start");
	}

	/* Transfer Status: phases 6..255 are prohibited; the log rule holds where the log travels */
	memcpy(buf, xfer_status_inactive, sizeof(xfer_status_inactive));
	buf[3] = 6;
	is_status(decode_copy(buf, sizeof(xfer_status_inactive), &m), MA_BAD_VALUE, "Transfer Status phase 6");
	buf[3] = 0xff;
	is_status(decode_copy(buf, sizeof(xfer_status_inactive), &m), MA_BAD_VALUE, "Transfer Status phase 255");
	memcpy(buf, xfer_status_wait_block, sizeof(xfer_status_wait_block));
	buf[16] = 33;
	is_status(decode_copy(buf, sizeof(xfer_status_wait_block), &m), MA_BAD_VALUE, "Transfer Status log 33");
	/* log 32: one block for any size -> 1 byte; size 0: no block -> no byte */
	buf[16] = 32;
	buf[12] = buf[13] = buf[14] = buf[15] = 0xff;
	buf[19] = 0x01;
	is_status(decode_copy(buf, 20, &m), MA_OK, "Transfer Status log 32, size 0xFFFFFFFF: 1 block");
	buf[12] = buf[13] = buf[14] = buf[15] = 0;
	is_status(decode_copy(buf, 19, &m), MA_OK, "Transfer Status size 0: no bitfield");
	is_status(decode_copy(buf, 20, &m), MA_TOO_LONG, "Transfer Status size 0 with a bitfield byte");

	/* the largest Transfer Status: MB_BLOCK_COUNT_MAX blocks of 64 bytes -> 361 bytes of bitfield -> 380 bytes */
	{
		uint32_t size = MB_BLOCK_COUNT_MAX * 64u;
		struct mb_msg s = { .opcode = MB_OP_XFER_STATUS,
				    .u.xfer_status = { .mode = MB_MODE_PUSH, .phase = MB_PHASE_WAITING_FOR_BLOCK,
						       .size = size, .block_size_log = 6, .mtu = 376,
						       .blocks_missing = buf, .blocks_missing_len = MB_BITMAP_SIZE(2888) } };

		is_int(MB_BLOCK_COUNT_MAX, 2888, "MB_BLOCK_COUNT_MAX");
		memset(buf, 0xff, sizeof(buf));
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_OK, "Transfer Status with 2888 blocks");
		is_int(len, MA_PAYLOAD_MAX, "fills 380 bytes");
		is_status(decode_copy(out, len, &m), MA_OK, "and decodes");
		s.u.xfer_status.size = size + 1;
		s.u.xfer_status.blocks_missing_len = MB_BITMAP_SIZE(2889);
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_TOO_LONG, "2889 blocks do not fit");
		s.u.xfer_status.blocks_missing_len = MB_BITMAP_SIZE(2888);
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_TRUNCATED, "encoder: bitfield shorter than the blocks");
		s.u.xfer_status.size = size - 64 * 8;
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_TOO_LONG, "encoder: bitfield longer than the blocks");
	}
	{
		struct mb_msg s = { .opcode = MB_OP_XFER_STATUS, .u.xfer_status = { .status = 16 } };

		is_status(mb_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: status wider than 4 bits");
		s.u.xfer_status.status = MB_INFORMATION_UNAVAILABLE;
		s.u.xfer_status.phase = 6;
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: phase 6");
		s.u.xfer_status.phase = MB_PHASE_INACTIVE;
		s.u.xfer_status.blob_id = 77;       /* not sent in Inactive */
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_OK, "encoder: Inactive");
		is_int(len, 4, "Inactive: status and phase only");
	}

	/* Chunk Transfer: 1..377 bytes of data; 377 fills a 32-segment payload (12 x 32 - 4 = 380) */
	is_int(MA_PAYLOAD_MAX, 12 * 32 - 4, "access payload of 32 segments");
	is_int(MB_CHUNK_SIZE_MAX, 377, "largest chunk");
	{
		static uint8_t data[MB_CHUNK_SIZE_MAX + 1];
		struct mb_msg c = { .opcode = MB_OP_CHUNK, .u.chunk = { .chunk = 0xffff, .data = data,
									 .len = MB_CHUNK_SIZE_MAX } };

		is_status(mb_encode(&c, out, sizeof(out), &len), MA_OK, "377-byte chunk");
		is_int(len, MA_PAYLOAD_MAX, "380 bytes");
		is_status(decode_copy(out, len, &m), MA_OK, "decodes");
		out[len] = 0;
		is_status(decode_copy(out, len + 1, &m), MA_TOO_LONG, "381-byte payload");
		c.u.chunk.len = MB_CHUNK_SIZE_MAX + 1;
		is_status(mb_encode(&c, out, sizeof(out), &len), MA_TOO_LONG, "378-byte chunk");
		c.u.chunk.len = 0;
		is_status(mb_encode(&c, out, sizeof(out), &len), MA_TRUNCATED, "empty chunk");
	}

	/* Block Status: the largest bitfield (MB_CHUNK_COUNT_MAX chunks) fills the payload */
	is_int(MB_CHUNK_COUNT_MAX, 2992, "most chunks a Block Status describes");
	{
		struct mb_msg s = { .opcode = MB_OP_BLOCK_STATUS,
				    .u.block_status = { .format = MB_FORMAT_SOME_MISSING, .block = 0, .chunk_size = 8,
							.missing = buf, .missing_len = MB_BITMAP_SIZE(2992) } };
		uint8_t bitmap[MB_BITMAP_SIZE(2992)];

		memset(buf, 0x55, sizeof(buf));
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_OK, "Block Status with 2992 chunks");
		is_int(len, MA_PAYLOAD_MAX, "380 bytes");
		is_status(mb_decode(out, len, &m), MA_OK, "decodes");
		is_status(mb_block_status_missing(&m.u.block_status, 2992, bitmap), MA_OK, "bitmap of 2992 chunks");
		is_int(mb_bitmap_count(bitmap, 2992), 1496, "every other chunk missing");
		is_status(mb_block_status_missing(&m.u.block_status, 2993, bitmap), MA_BAD_COUNT, "2993 chunks");
		s.u.block_status.missing_len++;
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_TOO_LONG, "one bitfield byte more");
		s.u.block_status.missing_len = 0;
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_TRUNCATED, "encoder: some missing without bitfield");
		s.u.block_status.format = MB_FORMAT_NONE_MISSING;
		s.u.block_status.missing_len = 1;
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_TOO_LONG, "encoder: none missing with a bitfield");
		s.u.block_status.format = 4;
		s.u.block_status.missing_len = 0;
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: format 4");
		s.u.block_status.format = MB_FORMAT_ENCODED;
		s.u.block_status.missing = (const uint8_t *)"\xc0\x80";
		s.u.block_status.missing_len = 2;
		is_status(mb_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: overlong list entry");
	}

	/* Information Status: what Zephyr's client refuses; each rule patched into the vector (offsets after the opcode
	 * 83 07: 2 min log, 3 max log, 4 max chunks, 6 max chunk size, 8 max BLOB size, 12 MTU) */
	{
		static const struct {
			size_t off, len;
			uint32_t value;
			enum ma_status want;
			const char *what;
		} rules[] = {
			{ 2, 1, 5, MA_BAD_VALUE, "min log 5" },
			{ 2, 1, 6, MA_OK, "min log 6" },
			{ 3, 1, 32, MA_OK, "max log 32" },
			{ 3, 1, 33, MA_BAD_VALUE, "max log 33" },
			{ 3, 1, 11, MA_BAD_VALUE, "max log below min log" },
			{ 4, 2, 0, MA_BAD_VALUE, "max chunks 0" },
			{ 4, 2, 1, MA_OK, "max chunks 1" },
			{ 6, 2, 7, MA_BAD_VALUE, "max chunk size 7" },
			{ 6, 2, 8, MA_OK, "max chunk size 8" },
			{ 8, 4, 0, MA_BAD_VALUE, "max BLOB size 0" },
			{ 8, 4, 1, MA_OK, "max BLOB size 1" },
			{ 12, 2, 19, MA_BAD_VALUE, "MTU 19" },
			{ 12, 2, 20, MA_OK, "MTU 20" },
			{ 14, 1, 0, MA_OK, "no mode (the client then finds no common mode)" },
		};

		for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
			memcpy(buf, info_status, sizeof(info_status));
			for (size_t j = 0; j < rules[i].len; j++)
				buf[rules[i].off + j] = (uint8_t)(rules[i].value >> (8 * j));
			is_status(decode_copy(buf, sizeof(info_status), &m), rules[i].want, "Info Status: %s", rules[i].what);
		}
		mb_decode(info_status, sizeof(info_status), &m);
		m.u.info_status.mtu = 19;
		is_status(mb_encode(&m, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: Info Status MTU 19");
		m.u.info_status.mtu = 20;
		m.u.info_status.modes = 0xff;       /* RFU bits kept */
		is_status(mb_encode(&m, out, sizeof(out), &len), MA_OK, "encoder: modes with RFU bits");
	}

	/* opcodes this codec does not handle */
	{
		static const uint8_t fw_get[] = { 0x83, 0x0c }, rfu[] = { 0x7f }, cfg[] = { 0x80, 0x08, 0x00 };

		m.opcode = 0xdead;
		is_status(mb_decode(fw_get, sizeof(fw_get), &m), MA_UNKNOWN_OPCODE, "Firmware Update Get is not BLOB");
		is_status(mb_decode(cfg, sizeof(cfg), &m), MA_UNKNOWN_OPCODE, "Composition Data Get is not BLOB");
		is_status(mb_decode(rfu, sizeof(rfu), &m), MA_BAD_OPCODE, "RFU opcode");
		is_int(m.opcode, 0xdead, "ret untouched");
		m.opcode = MA_OP_COMP_GET;
		is_status(mb_encode(&m, out, sizeof(out), &len), MA_UNKNOWN_OPCODE, "encoder: not a BLOB opcode");
		m.opcode = 0x7f;
		is_status(mb_encode(&m, out, sizeof(out), &len), MA_BAD_OPCODE, "encoder: opcode without wire form");
	}
}

/* ---------------------------------------------------------------- chunk-number lists */

static void test_chunk_numbers(void)
{
	static const struct {
		uint16_t chunk;
		uint8_t bytes[3];
		size_t len;
	} good[] = {
		{ 0x0000, { 0x00 }, 1 },
		{ 0x007f, { 0x7f }, 1 },
		{ 0x0080, { 0xc2, 0x80 }, 2 },
		{ 0x07ff, { 0xdf, 0xbf }, 2 },
		{ 0x0800, { 0xe0, 0xa0, 0x80 }, 3 },
		{ 0x0bb0, { 0xe0, 0xae, 0xb0 }, 3 },    /* 2992 = 0000 101110 110000 */
		{ 0xffff, { 0xef, 0xbf, 0xbf }, 3 },
	};
	static const struct {
		uint8_t bytes[4];
		size_t len;
		enum ma_status want;
		const char *what;
	} bad[] = {
		{ { 0xc1, 0xbf }, 2, MA_BAD_VALUE, "overlong 0x7f in 2 bytes" },
		{ { 0xc0, 0x80 }, 2, MA_BAD_VALUE, "overlong 0 in 2 bytes (Zephyr's server form of 0x1000)" },
		{ { 0xe0, 0x9f, 0xbf }, 3, MA_BAD_VALUE, "overlong 0x7ff in 3 bytes" },
		{ { 0xe0, 0x80, 0x80 }, 3, MA_BAD_VALUE, "overlong 0 in 3 bytes" },
		{ { 0xc2 }, 1, MA_TRUNCATED, "2-byte entry cut after its lead" },
		{ { 0xe0, 0xa0 }, 2, MA_TRUNCATED, "3-byte entry cut after 2 bytes (Zephyr's server form of 0x800)" },
		{ { 0xef }, 1, MA_TRUNCATED, "3-byte entry cut after its lead" },
		{ { 0x80 }, 1, MA_BAD_VALUE, "a continuation byte as lead" },
		{ { 0xbf, 0x00 }, 2, MA_BAD_VALUE, "0xbf as lead" },
		{ { 0xf0, 0x90, 0x80, 0x80 }, 4, MA_BAD_VALUE, "4-byte form (> 0xffff)" },
		{ { 0xff }, 1, MA_BAD_VALUE, "0xff" },
		{ { 0xc2, 0x00 }, 2, MA_BAD_VALUE, "2-byte entry with an ASCII continuation" },
		{ { 0xc2, 0xc2 }, 2, MA_BAD_VALUE, "2-byte entry with a lead as continuation" },
		{ { 0xe0, 0xa0, 0x7f }, 3, MA_BAD_VALUE, "3-byte entry with a bad third byte" },
	};
	uint8_t out[3];
	size_t n, count = 0;
	uint16_t c;

	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		memset(out, 0, sizeof(out));
		n = mb_chunk_number_encode(good[i].chunk, out);
		is_bytes(out, n, good[i].bytes, good[i].len, "chunk number encodes");
		c = 0;
		is_status(mb_chunk_number_decode(good[i].bytes, good[i].len, &c, &n), MA_OK, "0x%04x decodes",
			  good[i].chunk);
		ok(c == good[i].chunk && n == good[i].len, "0x%04x: value and size", good[i].chunk);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		uint16_t untouched = 0x1234;
		size_t size = 99;

		is_status(mb_chunk_number_decode(bad[i].bytes, bad[i].len, &untouched, &size), bad[i].want, "%s",
			  bad[i].what);
		ok(untouched == 0x1234 && size == 99, "%s: ret untouched", bad[i].what);
		is_status(mb_chunk_list_check(bad[i].bytes, bad[i].len, &count), bad[i].want, "list: %s", bad[i].what);
	}
	is_status(mb_chunk_number_decode(out, 0, &c, &n), MA_TRUNCATED, "empty input");

	/* every number round-trips in its shortest form */
	for (uint32_t v = 0; v <= 0xffff; v++) {
		uint16_t back = 0;

		n = mb_chunk_number_encode((uint16_t)v, out);
		if (n != (v < 0x80 ? 1u : v < 0x800 ? 2u : 3u) || mb_chunk_number_decode(out, n, &back, &n) != MA_OK ||
		    back != v) {
			ok(0, "chunk number 0x%04x round trip", v);
			break;
		}
		if (v == 0xffff)
			ok(1, "every chunk number 0..0xffff round-trips in its shortest form");
	}

	/* a list */
	{
		static const uint16_t chunks[] = { 0, 0x7f, 0x80, 0x7ff, 0x800, 0xffff };
		static const uint8_t want[] = { 0x00, 0x7f, 0xc2, 0x80, 0xdf, 0xbf, 0xe0, 0xa0, 0x80, 0xef, 0xbf, 0xbf };
		uint8_t list[32];
		size_t len = 0, untouched = 77;

		is_status(mb_chunk_list_encode(chunks, ARRAY_SIZE(chunks), list, sizeof(list), &len), MA_OK, "list");
		is_bytes(list, len, want, sizeof(want), "list bytes");
		is_status(mb_chunk_list_check(list, len, &count), MA_OK, "list checks");
		is_int(count, ARRAY_SIZE(chunks), "6 entries");
		is_status(mb_chunk_list_encode(chunks, ARRAY_SIZE(chunks), list, sizeof(want) - 1, &untouched),
			  MA_NO_SPACE, "list into a buffer 1 byte short");
		is_int(untouched, 77, "ret_len untouched");
		is_status(mb_chunk_list_check(list, 0, &count), MA_OK, "empty list");
		is_int(count, 0, "no entry");
	}
}

/* ---------------------------------------------------------------- bitmaps */

static void test_bitmaps(void)
{
	uint8_t b[MB_BITMAP_SIZE(37)], list[16];
	size_t len, entries;

	is_int(MB_BITMAP_SIZE(0), 0, "0 bits: 0 bytes");
	is_int(MB_BITMAP_SIZE(1), 1, "1 bit: 1 byte");
	is_int(MB_BITMAP_SIZE(8), 1, "8 bits: 1 byte");
	is_int(MB_BITMAP_SIZE(9), 2, "9 bits: 2 bytes");
	is_int(MB_BITMAP_SIZE(2992), 374, "2992 bits: 374 bytes");

	memset(b, 0xaa, sizeof(b));
	mb_bitmap_set_all(b, 37);
	ok(b[0] == 0xff && b[3] == 0xff && b[4] == 0x1f, "set_all: 37 bits, padding cleared");
	is_int(mb_bitmap_count(b, 37), 37, "count 37");
	is_int(mb_bitmap_first(b, 37, 0), 0, "first 0");
	mb_bitmap_clear_all(b, 37);
	ok(b[0] == 0 && b[4] == 0, "clear_all");
	is_int(mb_bitmap_count(b, 37), 0, "count 0");
	is_int(mb_bitmap_first(b, 37, 0), 37, "first: none -> 37");
	mb_bitmap_set(b, 3, true);
	mb_bitmap_set(b, 9, true);
	mb_bitmap_set(b, 36, true);
	ok(b[0] == 0x08 && b[1] == 0x02 && b[2] == 0 && b[3] == 0 && b[4] == 0x10, "bits 3, 9, 36 as on the wire");
	ok(mb_bitmap_test(b, 3) && mb_bitmap_test(b, 9) && mb_bitmap_test(b, 36) && !mb_bitmap_test(b, 4), "test");
	is_int(mb_bitmap_count(b, 37), 3, "count 3");
	is_int(mb_bitmap_first(b, 37, 0), 3, "first 3");
	is_int(mb_bitmap_first(b, 37, 4), 9, "next after 3: 9");
	is_int(mb_bitmap_first(b, 37, 10), 36, "next after 9: 36 (over two empty bytes)");
	is_int(mb_bitmap_first(b, 36, 10), 36, "bit 36 past 36 bits: none");
	is_int(mb_bitmap_count(b, 36), 2, "count of the first 36 bits");
	mb_bitmap_set(b, 9, false);
	is_int(mb_bitmap_count(b, 37), 2, "cleared 9");

	/* the list a server sends for these, with the entry limit and the buffer limit */
	mb_bitmap_set(b, 9, true);
	is_status(mb_chunk_list_from_bitmap(b, 37, 4, list, sizeof(list), &len, &entries), MA_OK, "list from bitmap");
	is_bytes(list, len, (const uint8_t *)"\x03\x09\x24", 3, "03 09 24");
	is_int(entries, 3, "3 entries");
	is_status(mb_chunk_list_from_bitmap(b, 37, 2, list, sizeof(list), &len, NULL), MA_OK, "limit 2 entries");
	is_bytes(list, len, (const uint8_t *)"\x03\x09", 2, "03 09");
	is_status(mb_chunk_list_from_bitmap(b, 37, 4, list, 1, &len, &entries), MA_OK, "1-byte buffer");
	ok(len == 1 && entries == 1 && list[0] == 0x03, "03 only");
	{
		uint8_t big[MB_BITMAP_SIZE(2992)] = { 0 };

		mb_bitmap_set(big, 0x7f, true);
		mb_bitmap_set(big, 0x80, true);
		mb_bitmap_set(big, 0x7ff, true);
		mb_bitmap_set(big, 0x800, true);
		is_status(mb_chunk_list_from_bitmap(big, 2992, 10, list, 7, &len, &entries), MA_OK, "list into 7 bytes");
		is_bytes(list, len, (const uint8_t *)"\x7f\xc2\x80\xdf\xbf", 5, "stops before the 3-byte entry");
		is_int(entries, 3, "3 entries");
		is_status(mb_chunk_list_from_bitmap(big, 2993, 10, list, sizeof(list), &len, &entries), MA_BAD_COUNT,
			  "more chunks than a block can have");
	}

	/* Block Status -> bitmap, for a 37-chunk block */
	{
		struct mb_msg m;
		uint8_t got[MB_BITMAP_SIZE(37)], bits[5];

		mb_decode(block_status_all, sizeof(block_status_all), &m);
		is_status(mb_block_status_missing(&m.u.block_status, 37, got), MA_OK, "all missing");
		is_int(mb_bitmap_count(got, 37), 37, "37 missing");
		ok(got[4] == 0x1f, "padding clear");
		mb_decode(block_status_none, sizeof(block_status_none), &m);
		is_status(mb_block_status_missing(&m.u.block_status, 37, got), MA_OK, "none missing");
		is_int(mb_bitmap_count(got, 37), 0, "0 missing");
		mb_decode(block_status_some, sizeof(block_status_some), &m);
		is_status(mb_block_status_missing(&m.u.block_status, 37, got), MA_OK, "some missing");
		is_bytes(got, 5, b, 5, "3, 9, 36");
		memset(got, 0xee, sizeof(got));
		is_status(mb_block_status_missing(&m.u.block_status, 36, got), MA_BAD_COUNT, "bit 36 in a 36-chunk block");
		is_status(mb_block_status_missing(&m.u.block_status, 41, got), MA_BAD_COUNT, "5 bytes for 41 chunks");
		is_status(mb_block_status_missing(&m.u.block_status, 32, got), MA_BAD_COUNT, "5 bytes for 32 chunks");
		is_status(mb_block_status_missing(&m.u.block_status, 0, got), MA_BAD_COUNT, "0 chunks");
		ok(got[0] == 0xee && got[4] == 0xee, "bitmap untouched on failure");

		/* encoded: chunks 3 and 36 */
		{
			static const uint8_t enc[] = { 0x67, 0xc0, 0x00, 0x00, 0x71, 0x00, 0x03, 0x24 };

			mb_decode(enc, sizeof(enc), &m);
			is_status(mb_block_status_missing(&m.u.block_status, 37, got), MA_OK, "encoded");
			memset(bits, 0, sizeof(bits));
			mb_bitmap_set(bits, 3, true);
			mb_bitmap_set(bits, 36, true);
			is_bytes(got, 5, bits, 5, "3 and 36");
			memset(got, 0xee, sizeof(got));
			is_status(mb_block_status_missing(&m.u.block_status, 36, got), MA_BAD_COUNT, "chunk 36 of 36");
			ok(got[0] == 0xee, "bitmap untouched");
		}
		mb_decode(block_status_encoded_empty, sizeof(block_status_encoded_empty), &m);
		is_status(mb_block_status_missing(&m.u.block_status, 37, got), MA_OK, "encoded, empty");
		is_int(mb_bitmap_count(got, 37), 0, "empty list: none missing");

	}
	{
		struct mb_msg m;
		uint8_t got[MB_BITMAP_SIZE(201)];

		mb_decode(block_report, sizeof(block_report), &m);
		memset(got, 0xee, sizeof(got));
		is_status(mb_block_report_missing(&m.u.block_report, 200, got), MA_BAD_COUNT, "chunk 200 of 200");
		ok(got[0] == 0xee, "untouched");
		is_status(mb_block_report_missing(&m.u.block_report, 201, got), MA_OK, "report of 201 chunks");
		ok(mb_bitmap_count(got, 201) == 3 && mb_bitmap_test(got, 0) && mb_bitmap_test(got, 5) &&
		   mb_bitmap_test(got, 200), "0, 5, 200");
		mb_decode(block_report_empty, sizeof(block_report_empty), &m);
		is_status(mb_block_report_missing(&m.u.block_report, 201, got), MA_OK, "empty report");
		is_int(mb_bitmap_count(got, 201), 0, "nothing missing");
	}
}

/* ---------------------------------------------------------------- size arithmetic */

static void test_sizes(void)
{
	/* mesh-dfu-protocol.md 4.1's worked example: 300 KB-ish image, 4096-byte blocks, 113-byte chunks */
	is_int(mb_block_count(300000, 12), 74, "300000 bytes in 4096-byte blocks: 74");
	is_int(mb_block_size(300000, 12, 0), 4096, "block 0: 4096");
	is_int(mb_block_size(300000, 12, 73), 300000 - 73 * 4096, "last block: 992");
	is_int(mb_block_size(300000, 12, 74), 0, "past the end: 0");
	is_int(mb_chunk_count(4096, 113), 37, "4096 / 113: 37 chunks");
	is_int(mb_chunk_size(4096, 113, 0), 113, "chunk 0: 113");
	is_int(mb_chunk_size(4096, 113, 36), 28, "last chunk: 28");
	is_int(mb_chunk_size(4096, 113, 37), 0, "past the end: 0");
	is_int(mb_chunk_count(992, 113), 9, "last block: 9 chunks");
	is_int(mb_chunk_size(992, 113, 8), 992 - 8 * 113, "its last chunk: 88");
	is_int(mb_block_count(8192, 12), 2, "exact multiple: no extra block");
	is_int(mb_block_size(8192, 12, 1), 4096, "exact multiple: last block full");
	is_int(mb_chunk_size(4096, 128, 31), 128, "exact multiple: last chunk full");
	is_int(mb_block_count(0, 12), 0, "empty BLOB: no block");
	is_int(mb_block_count(0xffffffffu, 32), 1, "log 32: one block");
	is_int(mb_block_size(0xffffffffu, 32, 0), 0xffffffffu, "log 32: the whole BLOB");
	is_int(mb_block_count(0xffffffffu, 6), 67108864, "log 6: 2^26 blocks");
	is_int(mb_block_count(1000, 5), 0, "log 5: invalid");
	is_int(mb_block_count(1000, 33), 0, "log 33: invalid");
	is_int(mb_chunk_count(1000, 0), 0, "chunk size 0: invalid");
	is_int(mb_chunk_count(0, 8), 0, "empty block: no chunk");
	is_int(mb_chunk_count(0xffffffffu, 1), 0xffffffffu, "no overflow");
}

/* ---------------------------------------------------------------- names */

static void test_names(void)
{
	is_str(mb_status_to_string(MB_SUCCESS), "Success", "status 0");
	is_str(mb_status_to_string(MB_WRONG_PHASE), "Wrong Phase", "status 4");
	is_str(mb_status_to_string(MB_INFORMATION_UNAVAILABLE), "Information Unavailable", "status 10");
	is_str(mb_status_to_string(11), "unknown", "status 11");
	for (unsigned i = 0; i <= MB_INFORMATION_UNAVAILABLE; i++)
		ok(strcmp(mb_status_to_string(i), "unknown") != 0, "status %u named", i);
	is_str(mb_phase_to_string(MB_PHASE_INACTIVE), "Inactive", "phase 0");
	is_str(mb_phase_to_string(MB_PHASE_WAITING_FOR_CHUNK), "Waiting for Next Chunk", "phase 3");
	is_str(mb_phase_to_string(MB_PHASE_SUSPENDED), "Suspended", "phase 5");
	is_str(mb_phase_to_string(6), "unknown", "phase 6");
	is_str(mb_mode_to_string(MB_MODE_PUSH), "Push", "mode 1");
	is_str(mb_mode_to_string(MB_MODE_PULL), "Pull", "mode 2");
	is_str(mb_mode_to_string(4), "unknown", "mode 4");
	is_str(mb_format_to_string(MB_FORMAT_ENCODED), "Encoded Missing Chunks", "format 3");
	is_str(mb_format_to_string(MB_FORMAT_ALL_MISSING), "All Chunks Missing", "format 0");
	is_str(mb_format_to_string(4), "unknown", "format 4");
	is_str(mb_opcode_to_string(MB_OP_BLOCK_REPORT), "BLOB Partial Block Report", "0x68");
	is_str(mb_opcode_to_string(MB_OP_XFER_START), "BLOB Transfer Start", "0x8301");
	is_str(mb_opcode_to_string(0x8310), "unknown", "0x8310");
}

int main(void)
{
	test_samples();
	test_fields();
	test_values();
	test_chunk_numbers();
	test_bitmaps();
	test_sizes();
	test_names();
	return done_testing();
}
