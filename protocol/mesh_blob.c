/* mesh_blob: see mesh_blob.h. As in mesh_access.c, each message has a get_*() that checks the length and reads the
 * fields and a put_*() that writes them, and every rule both sides must agree on (which fields a phase or format
 * carries, what a chunk-number list may hold, the prohibited values) is one check_*() function that both call. */
#include "bytes.h"
#include "mesh_blob.h"

enum {
	XFER_START_SIZE = 16,
	XFER_CANCEL_SIZE = 8,
	XFER_STATUS_HEAD = 2,           /* status+mode, phase */
	XFER_STATUS_ID_END = 10,        /* + BLOB ID */
	XFER_STATUS_FULL_HEAD = 17,     /* + size, block size log, MTU; then the blocks bitfield */
	BLOCK_START_SIZE = 4,
	CHUNK_HEAD = 2,                 /* chunk number; then at least one byte of data */
	BLOCK_STATUS_HEAD = 5,          /* status+format, block number, chunk size */
	INFO_STATUS_SIZE = 13,
	OPCODE_1 = 1,
	OPCODE_2 = 2,
	MODE_SHIFT = 6,                 /* transfer mode / block format: bits 6..7 of the first byte */
	STATUS_MASK = 0x0F,             /* BLOB status: bits 0..3 */
	RFU_SHIFT = 4,                  /* bits 4..5 RFU in Transfer Status and Block Status */
	RFU_MASK = 0x03,
	START_RFU_MASK = 0x3F,          /* bits 0..5 RFU in Transfer Start */
	TWO_BITS = 0x03,
};

/* --- field rules --- */

static enum ma_status exact_len(size_t have, size_t want)
{
	if (have < want)
		return MA_TRUNCATED;
	return have > want ? MA_TOO_LONG : MA_OK;
}

static bool block_size_log_valid(uint8_t log)
{
	return log >= MB_BLOCK_SIZE_LOG_MIN && log <= MB_BLOCK_SIZE_LOG_MAX;
}

/* --- chunk-number lists --- */

size_t mb_chunk_number_encode(uint16_t chunk, uint8_t *out)
{
	if (chunk < 0x80) {
		out[0] = (uint8_t)chunk;
		return 1;
	}
	if (chunk < 0x800) {
		out[0] = (uint8_t)(0xC0 | (chunk >> 6));
		out[1] = (uint8_t)(0x80 | (chunk & 0x3F));
		return 2;
	}
	out[0] = (uint8_t)(0xE0 | (chunk >> 12));
	out[1] = (uint8_t)(0x80 | ((chunk >> 6) & 0x3F));
	out[2] = (uint8_t)(0x80 | (chunk & 0x3F));
	return 3;
}

static bool is_continuation(uint8_t b)
{
	return (b & 0xC0) == 0x80;
}

enum ma_status mb_chunk_number_decode(const uint8_t *p, size_t len, uint16_t *ret_chunk, size_t *ret_size)
{
	uint32_t v;
	size_t n;

	if (len == 0)
		return MA_TRUNCATED;
	if (p[0] < 0x80) {
		*ret_chunk = p[0];
		*ret_size = 1;
		return MA_OK;
	}
	if ((p[0] & 0xE0) == 0xC0)
		n = 2;
	else if ((p[0] & 0xF0) == 0xE0)
		n = 3;
	else
		return MA_BAD_VALUE;    /* a continuation byte, or the lead of a 4-byte form (> 0xFFFF) */
	if (len < n)
		return MA_TRUNCATED;
	for (size_t i = 1; i < n; i++)
		if (!is_continuation(p[i]))
			return MA_BAD_VALUE;
	if (n == 2)
		v = ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
	else
		v = ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
	/* overlong: the shortest form is the only valid one */
	if ((n == 2 && v < 0x80) || (n == 3 && v < 0x800))
		return MA_BAD_VALUE;
	*ret_chunk = (uint16_t)v;
	*ret_size = n;
	return MA_OK;
}

enum ma_status mb_chunk_list_check(const uint8_t *list, size_t len, size_t *ret_count)
{
	size_t pos = 0, count = 0;

	while (pos < len) {
		uint16_t chunk;
		size_t n;
		enum ma_status st = mb_chunk_number_decode(list + pos, len - pos, &chunk, &n);

		if (st != MA_OK)
			return st;
		pos += n;
		count++;
	}
	*ret_count = count;
	return MA_OK;
}

enum ma_status mb_chunk_list_encode(const uint16_t *chunks, size_t n, uint8_t *out, size_t cap, size_t *ret_len)
{
	struct writer w = { out, cap, 0, false };

	for (size_t i = 0; i < n; i++) {
		uint8_t tmp[MB_CHUNK_NUMBER_MAX_SIZE];

		put_bytes(&w, tmp, mb_chunk_number_encode(chunks[i], tmp));
	}
	if (w.full)
		return MA_NO_SPACE;
	*ret_len = w.len;
	return MA_OK;
}

enum ma_status mb_chunk_list_from_bitmap(const uint8_t *bitmap, uint32_t chunk_count, size_t max_entries,
					 uint8_t *out, size_t cap, size_t *ret_len, size_t *ret_entries)
{
	size_t len = 0, entries = 0;

	if (chunk_count > MB_CHUNK_COUNT_MAX)
		return MA_BAD_COUNT;
	for (uint32_t i = mb_bitmap_first(bitmap, chunk_count, 0); i < chunk_count && entries < max_entries;
	     i = mb_bitmap_first(bitmap, chunk_count, i + 1)) {
		uint8_t tmp[MB_CHUNK_NUMBER_MAX_SIZE];
		size_t n = mb_chunk_number_encode((uint16_t)i, tmp);

		if (n > cap - len)
			break;
		bytes_copy(out + len, tmp, n);
		len += n;
		entries++;
	}
	*ret_len = len;
	if (ret_entries)
		*ret_entries = entries;
	return MA_OK;
}

void mb_chunk_iter_init(struct mb_chunk_iter *it, const uint8_t *list, size_t len)
{
	it->list = list;
	it->len = len;
	it->pos = 0;
}

bool mb_chunk_next(struct mb_chunk_iter *it, uint16_t *ret_chunk)
{
	size_t n;

	if (it->pos >= it->len ||
	    mb_chunk_number_decode(it->list + it->pos, it->len - it->pos, ret_chunk, &n) != MA_OK)
		return false;
	it->pos += n;
	return true;
}

/* --- bitmaps --- */

void mb_bitmap_set(uint8_t *bitmap, uint32_t i, bool missing)
{
	uint8_t bit = (uint8_t)(1u << (i % 8));

	if (missing)
		bitmap[i / 8] |= bit;
	else
		bitmap[i / 8] &= (uint8_t)~bit;
}

bool mb_bitmap_test(const uint8_t *bitmap, uint32_t i)
{
	return (bitmap[i / 8] >> (i % 8)) & 1u;
}

void mb_bitmap_set_all(uint8_t *bitmap, uint32_t bits)
{
	size_t n = MB_BITMAP_SIZE(bits);

	for (size_t i = 0; i < n; i++)
		bitmap[i] = 0xFF;
	if (bits % 8)
		bitmap[n - 1] = (uint8_t)((1u << (bits % 8)) - 1);
}

void mb_bitmap_clear_all(uint8_t *bitmap, uint32_t bits)
{
	for (size_t i = 0; i < MB_BITMAP_SIZE(bits); i++)
		bitmap[i] = 0;
}

uint32_t mb_bitmap_count(const uint8_t *bitmap, uint32_t bits)
{
	uint32_t count = 0;

	for (uint32_t i = 0; i < bits; i++)
		count += mb_bitmap_test(bitmap, i);
	return count;
}

uint32_t mb_bitmap_first(const uint8_t *bitmap, uint32_t bits, uint32_t from)
{
	for (uint32_t i = from; i < bits; i++) {
		if (i % 8 == 0 && bitmap[i / 8] == 0) {
			i += 7;         /* a whole byte without a set bit */
			continue;
		}
		if (mb_bitmap_test(bitmap, i))
			return i;
	}
	return bits;
}

/* The bits of the last byte past @bits must be 0 on the wire. */
static bool bitmap_padding_clear(const uint8_t *bitmap, uint32_t bits)
{
	return bits % 8 == 0 || (bitmap[bits / 8] >> (bits % 8)) == 0;
}

static enum ma_status list_to_bitmap(const uint8_t *list, size_t len, uint32_t chunk_count, uint8_t *bitmap)
{
	struct mb_chunk_iter it;
	uint16_t chunk;
	size_t entries;
	enum ma_status st;

	if (chunk_count == 0 || chunk_count > MB_CHUNK_COUNT_MAX)
		return MA_BAD_COUNT;
	st = mb_chunk_list_check(list, len, &entries);
	if (st != MA_OK)
		return st;
	/* check every entry before touching @bitmap */
	for (mb_chunk_iter_init(&it, list, len); mb_chunk_next(&it, &chunk);)
		if (chunk >= chunk_count)
			return MA_BAD_COUNT;
	mb_bitmap_clear_all(bitmap, chunk_count);
	for (mb_chunk_iter_init(&it, list, len); mb_chunk_next(&it, &chunk);)
		mb_bitmap_set(bitmap, chunk, true);
	return MA_OK;
}

enum ma_status mb_block_status_missing(const struct mb_block_status *s, uint32_t chunk_count, uint8_t *bitmap)
{
	if (chunk_count == 0 || chunk_count > MB_CHUNK_COUNT_MAX)
		return MA_BAD_COUNT;
	switch ((enum mb_format)s->format) {
	case MB_FORMAT_ALL_MISSING:
		mb_bitmap_set_all(bitmap, chunk_count);
		return MA_OK;
	case MB_FORMAT_NONE_MISSING:
		mb_bitmap_clear_all(bitmap, chunk_count);
		return MA_OK;
	case MB_FORMAT_SOME_MISSING:
		if (s->missing_len != MB_BITMAP_SIZE(chunk_count) || !bitmap_padding_clear(s->missing, chunk_count))
			return MA_BAD_COUNT;
		bytes_copy(bitmap, s->missing, s->missing_len);
		return MA_OK;
	case MB_FORMAT_ENCODED:
		return list_to_bitmap(s->missing, s->missing_len, chunk_count, bitmap);
	}
	return MA_BAD_VALUE;
}

enum ma_status mb_block_report_missing(const struct mb_block_report *r, uint32_t chunk_count, uint8_t *bitmap)
{
	return list_to_bitmap(r->missing, r->missing_len, chunk_count, bitmap);
}

/* --- size arithmetic --- */

uint32_t mb_block_count(uint32_t size, uint8_t block_size_log)
{
	uint64_t block;

	if (!block_size_log_valid(block_size_log))
		return 0;
	block = (uint64_t)1 << block_size_log;
	return (uint32_t)(((uint64_t)size + block - 1) / block);
}

uint32_t mb_block_size(uint32_t size, uint8_t block_size_log, uint32_t block)
{
	uint32_t count = mb_block_count(size, block_size_log);
	uint64_t offset;

	if (block >= count)
		return 0;
	offset = (uint64_t)block << block_size_log;
	if (block == count - 1)
		return (uint32_t)(size - offset);
	return (uint32_t)((uint64_t)1 << block_size_log);
}

uint32_t mb_chunk_count(uint32_t block_size, uint16_t chunk_size)
{
	if (chunk_size == 0)
		return 0;
	return (uint32_t)(((uint64_t)block_size + chunk_size - 1) / chunk_size);
}

uint32_t mb_chunk_size(uint32_t block_size, uint16_t chunk_size, uint32_t chunk)
{
	uint32_t count = mb_chunk_count(block_size, chunk_size);

	if (chunk >= count)
		return 0;
	if (chunk == count - 1)
		return block_size - chunk * (uint32_t)chunk_size;
	return chunk_size;
}

/* --- message rules shared by the decoder and the encoder --- */

static enum ma_status check_xfer_start(const struct mb_xfer_start *s)
{
	if (s->mode != MB_MODE_PUSH && s->mode != MB_MODE_PULL)
		return MA_BAD_VALUE;
	if (s->rfu > START_RFU_MASK || !block_size_log_valid(s->block_size_log))
		return MA_BAD_VALUE;
	return MA_OK;
}

/* The fixed fields of a Transfer Status; the bitfield's length is checked against what they imply. */
static enum ma_status check_xfer_status_head(const struct mb_xfer_status *s)
{
	if (s->status > STATUS_MASK || s->rfu > RFU_MASK || s->mode > TWO_BITS || s->phase > MB_PHASE_SUSPENDED)
		return MA_BAD_VALUE;
	if (s->phase >= MB_PHASE_WAITING_FOR_BLOCK && !block_size_log_valid(s->block_size_log))
		return MA_BAD_VALUE;
	return MA_OK;
}

static size_t xfer_status_bitfield_len(const struct mb_xfer_status *s)
{
	return MB_BITMAP_SIZE(mb_block_count(s->size, s->block_size_log));
}

/* What follows Block Number and Chunk Size, by format. */
static enum ma_status check_block_missing(uint8_t format, const uint8_t *missing, size_t len)
{
	size_t entries;

	switch ((enum mb_format)format) {
	case MB_FORMAT_ALL_MISSING:
	case MB_FORMAT_NONE_MISSING:
		return len == 0 ? MA_OK : MA_TOO_LONG;
	case MB_FORMAT_SOME_MISSING:
		return len == 0 ? MA_TRUNCATED : MA_OK;
	case MB_FORMAT_ENCODED:
		return mb_chunk_list_check(missing, len, &entries);
	}
	return MA_BAD_VALUE;
}

static enum ma_status check_block_status_head(const struct mb_block_status *s)
{
	return s->status > STATUS_MASK || s->rfu > RFU_MASK || s->format > TWO_BITS ? MA_BAD_VALUE : MA_OK;
}

/* Zephyr's client drops an Information Status breaking any of these (blob_cli.c, handle_info_status). */
static enum ma_status check_info_status(const struct mb_info_status *i)
{
	if (i->min_block_size_log < MB_BLOCK_SIZE_LOG_MIN || i->max_block_size_log > MB_BLOCK_SIZE_LOG_MAX ||
	    i->max_block_size_log < i->min_block_size_log || i->max_chunks == 0 ||
	    i->max_chunk_size < MB_CHUNK_SIZE_MIN || i->max_size == 0 || i->mtu < MB_MTU_MIN)
		return MA_BAD_VALUE;
	return MA_OK;
}

/* --- get_*(): r holds the parameters (opcode excluded) --- */

static enum ma_status get_xfer_start(struct reader *r, struct mb_msg *m)
{
	struct mb_xfer_start *s = &m->u.xfer_start;
	enum ma_status st = exact_len(reader_left(r), XFER_START_SIZE);
	uint8_t b0;

	if (st != MA_OK)
		return st;
	b0 = get_u8(r);
	s->mode = (uint8_t)(b0 >> MODE_SHIFT);
	s->rfu = b0 & START_RFU_MASK;
	s->blob_id = get_le64(r);
	s->size = get_le32(r);
	s->block_size_log = get_u8(r);
	s->mtu = get_le16(r);
	return check_xfer_start(s);
}

static enum ma_status get_xfer_status(struct reader *r, struct mb_msg *m)
{
	struct mb_xfer_status *s = &m->u.xfer_status;
	size_t want;
	uint8_t b0;
	enum ma_status st;

	if (reader_left(r) < XFER_STATUS_HEAD)
		return MA_TRUNCATED;
	b0 = get_u8(r);
	s->status = b0 & STATUS_MASK;
	s->rfu = (b0 >> RFU_SHIFT) & RFU_MASK;
	s->mode = (uint8_t)(b0 >> MODE_SHIFT);
	s->phase = get_u8(r);
	if (s->phase > MB_PHASE_SUSPENDED)
		return MA_BAD_VALUE;
	if (s->phase == MB_PHASE_INACTIVE)
		return exact_len(r->len, XFER_STATUS_HEAD);
	if (s->phase == MB_PHASE_WAITING_FOR_START) {
		st = exact_len(r->len, XFER_STATUS_ID_END);
		if (st == MA_OK)
			s->blob_id = get_le64(r);
		return st;
	}
	if (r->len < XFER_STATUS_FULL_HEAD)
		return MA_TRUNCATED;
	s->blob_id = get_le64(r);
	s->size = get_le32(r);
	s->block_size_log = get_u8(r);
	s->mtu = get_le16(r);
	st = check_xfer_status_head(s);
	if (st != MA_OK)
		return st;
	want = xfer_status_bitfield_len(s);
	st = exact_len(reader_left(r), want);
	if (st != MA_OK)
		return st;
	s->blocks_missing = get_rest(r, &s->blocks_missing_len);
	return MA_OK;
}

static enum ma_status get_block_status(struct reader *r, struct mb_msg *m)
{
	struct mb_block_status *s = &m->u.block_status;
	uint8_t b0;

	if (reader_left(r) < BLOCK_STATUS_HEAD)
		return MA_TRUNCATED;
	b0 = get_u8(r);
	s->status = b0 & STATUS_MASK;
	s->rfu = (b0 >> RFU_SHIFT) & RFU_MASK;
	s->format = (uint8_t)(b0 >> MODE_SHIFT);
	s->block = get_le16(r);
	s->chunk_size = get_le16(r);
	s->missing = get_rest(r, &s->missing_len);
	return check_block_missing(s->format, s->missing, s->missing_len);
}

static enum ma_status get_info_status(struct reader *r, struct mb_msg *m)
{
	struct mb_info_status *i = &m->u.info_status;
	enum ma_status st = exact_len(reader_left(r), INFO_STATUS_SIZE);

	if (st != MA_OK)
		return st;
	i->min_block_size_log = get_u8(r);
	i->max_block_size_log = get_u8(r);
	i->max_chunks = get_le16(r);
	i->max_chunk_size = get_le16(r);
	i->max_size = get_le32(r);
	i->mtu = get_le16(r);
	i->modes = get_u8(r);
	return check_info_status(i);
}

enum ma_status mb_decode(const uint8_t *payload, size_t len, struct mb_msg *ret)
{
	uint32_t opcode = 0;
	size_t n = ma_opcode_decode(payload, len, &opcode);
	struct reader r;
	struct mb_msg m = { .opcode = opcode };     /* zeroed: fields a message lacks read as 0 */
	enum ma_status st;

	if (n == 0)
		return MA_BAD_OPCODE;
	if (len > MA_PAYLOAD_MAX)
		return MA_TOO_LONG;
	r = (struct reader){ payload + n, len - n, 0 };
	switch (opcode) {
	case MB_OP_XFER_GET:
	case MB_OP_BLOCK_GET:
	case MB_OP_INFO_GET:
		st = exact_len(reader_left(&r), 0);
		break;
	case MB_OP_XFER_START:
		st = get_xfer_start(&r, &m);
		break;
	case MB_OP_XFER_CANCEL:
		st = exact_len(reader_left(&r), XFER_CANCEL_SIZE);
		if (st == MA_OK)
			m.u.blob_id = get_le64(&r);
		break;
	case MB_OP_XFER_STATUS:
		st = get_xfer_status(&r, &m);
		break;
	case MB_OP_BLOCK_START:
		st = exact_len(reader_left(&r), BLOCK_START_SIZE);
		if (st == MA_OK) {
			m.u.block_start.block = get_le16(&r);
			m.u.block_start.chunk_size = get_le16(&r);
		}
		break;
	case MB_OP_CHUNK:
		/* Zephyr's server takes >= 2 bytes, then drops a chunk whose data is not exactly the expected size, which is
		 * never 0 */
		st = reader_left(&r) > CHUNK_HEAD ? MA_OK : MA_TRUNCATED;
		if (st == MA_OK) {
			m.u.chunk.chunk = get_le16(&r);
			m.u.chunk.data = get_rest(&r, &m.u.chunk.len);
		}
		break;
	case MB_OP_BLOCK_STATUS:
		st = get_block_status(&r, &m);
		break;
	case MB_OP_BLOCK_REPORT:
		m.u.block_report.missing = get_rest(&r, &m.u.block_report.missing_len);
		st = check_block_missing(MB_FORMAT_ENCODED, m.u.block_report.missing, m.u.block_report.missing_len);
		break;
	case MB_OP_INFO_STATUS:
		st = get_info_status(&r, &m);
		break;
	default:
		return MA_UNKNOWN_OPCODE;
	}
	if (st == MA_OK)
		*ret = m;
	return st;
}

/* --- put_*(): check, then write the parameters; the caller checks the writer --- */

static enum ma_status put_xfer_start(struct writer *w, const struct mb_xfer_start *s)
{
	enum ma_status st = check_xfer_start(s);

	if (st != MA_OK)
		return st;
	put_u8(w, (uint8_t)((s->mode << MODE_SHIFT) | s->rfu));
	put_le64(w, s->blob_id);
	put_le32(w, s->size);
	put_u8(w, s->block_size_log);
	put_le16(w, s->mtu);
	return MA_OK;
}

static enum ma_status put_xfer_status(struct writer *w, const struct mb_xfer_status *s)
{
	enum ma_status st = check_xfer_status_head(s);

	if (st != MA_OK)
		return st;
	if (s->phase >= MB_PHASE_WAITING_FOR_BLOCK) {
		st = exact_len(s->blocks_missing_len, xfer_status_bitfield_len(s));
		if (st != MA_OK)
			return st;
		if (OPCODE_2 + XFER_STATUS_FULL_HEAD + s->blocks_missing_len > MA_PAYLOAD_MAX)
			return MA_TOO_LONG;
	}
	put_u8(w, (uint8_t)(s->status | (s->rfu << RFU_SHIFT) | (s->mode << MODE_SHIFT)));
	put_u8(w, s->phase);
	if (s->phase == MB_PHASE_INACTIVE)
		return MA_OK;
	put_le64(w, s->blob_id);
	if (s->phase == MB_PHASE_WAITING_FOR_START)
		return MA_OK;
	put_le32(w, s->size);
	put_u8(w, s->block_size_log);
	put_le16(w, s->mtu);
	put_bytes(w, s->blocks_missing, s->blocks_missing_len);
	return MA_OK;
}

static enum ma_status put_chunk(struct writer *w, const struct mb_chunk *c)
{
	if (c->len == 0)
		return MA_TRUNCATED;
	if (c->len > MB_CHUNK_SIZE_MAX)
		return MA_TOO_LONG;
	put_le16(w, c->chunk);
	put_bytes(w, c->data, c->len);
	return MA_OK;
}

static enum ma_status put_block_status(struct writer *w, const struct mb_block_status *s)
{
	enum ma_status st = check_block_status_head(s);

	if (st == MA_OK)
		st = check_block_missing(s->format, s->missing, s->missing_len);
	if (st != MA_OK)
		return st;
	if (OPCODE_1 + BLOCK_STATUS_HEAD + s->missing_len > MA_PAYLOAD_MAX)
		return MA_TOO_LONG;
	put_u8(w, (uint8_t)(s->status | (s->rfu << RFU_SHIFT) | (s->format << MODE_SHIFT)));
	put_le16(w, s->block);
	put_le16(w, s->chunk_size);
	put_bytes(w, s->missing, s->missing_len);
	return MA_OK;
}

static enum ma_status put_block_report(struct writer *w, const struct mb_block_report *r)
{
	enum ma_status st = check_block_missing(MB_FORMAT_ENCODED, r->missing, r->missing_len);

	if (st != MA_OK)
		return st;
	if (OPCODE_1 + r->missing_len > MA_PAYLOAD_MAX)
		return MA_TOO_LONG;
	put_bytes(w, r->missing, r->missing_len);
	return MA_OK;
}

static enum ma_status put_info_status(struct writer *w, const struct mb_info_status *i)
{
	enum ma_status st = check_info_status(i);

	if (st != MA_OK)
		return st;
	put_u8(w, i->min_block_size_log);
	put_u8(w, i->max_block_size_log);
	put_le16(w, i->max_chunks);
	put_le16(w, i->max_chunk_size);
	put_le32(w, i->max_size);
	put_le16(w, i->mtu);
	put_u8(w, i->modes);
	return MA_OK;
}

enum ma_status mb_encode(const struct mb_msg *m, uint8_t *out, size_t cap, size_t *ret_len)
{
	struct writer w = { out, cap, 0, false };
	uint8_t op[3];
	size_t op_len = ma_opcode_encode(m->opcode, op, sizeof(op));
	enum ma_status st;

	if (op_len == 0)
		return MA_BAD_OPCODE;
	put_bytes(&w, op, op_len);
	switch (m->opcode) {
	case MB_OP_XFER_GET:
	case MB_OP_BLOCK_GET:
	case MB_OP_INFO_GET:
		st = MA_OK;
		break;
	case MB_OP_XFER_START:
		st = put_xfer_start(&w, &m->u.xfer_start);
		break;
	case MB_OP_XFER_CANCEL:
		put_le64(&w, m->u.blob_id);
		st = MA_OK;
		break;
	case MB_OP_XFER_STATUS:
		st = put_xfer_status(&w, &m->u.xfer_status);
		break;
	case MB_OP_BLOCK_START:
		put_le16(&w, m->u.block_start.block);
		put_le16(&w, m->u.block_start.chunk_size);
		st = MA_OK;
		break;
	case MB_OP_CHUNK:
		st = put_chunk(&w, &m->u.chunk);
		break;
	case MB_OP_BLOCK_STATUS:
		st = put_block_status(&w, &m->u.block_status);
		break;
	case MB_OP_BLOCK_REPORT:
		st = put_block_report(&w, &m->u.block_report);
		break;
	case MB_OP_INFO_STATUS:
		st = put_info_status(&w, &m->u.info_status);
		break;
	default:
		return MA_UNKNOWN_OPCODE;
	}
	if (st != MA_OK)
		return st;
	if (w.full)
		return MA_NO_SPACE;
	*ret_len = w.len;
	return MA_OK;
}

/* --- names --- */

const char *mb_opcode_to_string(uint32_t opcode)
{
	switch (opcode) {
	case MB_OP_XFER_GET:
		return "BLOB Transfer Get";
	case MB_OP_XFER_START:
		return "BLOB Transfer Start";
	case MB_OP_XFER_CANCEL:
		return "BLOB Transfer Cancel";
	case MB_OP_XFER_STATUS:
		return "BLOB Transfer Status";
	case MB_OP_BLOCK_START:
		return "BLOB Block Start";
	case MB_OP_BLOCK_GET:
		return "BLOB Block Get";
	case MB_OP_INFO_GET:
		return "BLOB Information Get";
	case MB_OP_INFO_STATUS:
		return "BLOB Information Status";
	case MB_OP_CHUNK:
		return "BLOB Chunk Transfer";
	case MB_OP_BLOCK_STATUS:
		return "BLOB Block Status";
	case MB_OP_BLOCK_REPORT:
		return "BLOB Partial Block Report";
	default:
		return "unknown";
	}
}

const char *mb_status_to_string(unsigned status)
{
	switch ((enum mb_status)status) {
	case MB_SUCCESS:
		return "Success";
	case MB_INVALID_BLOCK_NUMBER:
		return "Invalid Block Number";
	case MB_INVALID_BLOCK_SIZE:
		return "Invalid Block Size";
	case MB_INVALID_CHUNK_SIZE:
		return "Invalid Chunk Size";
	case MB_WRONG_PHASE:
		return "Wrong Phase";
	case MB_INVALID_PARAMETER:
		return "Invalid Parameter";
	case MB_WRONG_BLOB_ID:
		return "Wrong BLOB ID";
	case MB_BLOB_TOO_LARGE:
		return "BLOB Too Large";
	case MB_UNSUPPORTED_TRANSFER_MODE:
		return "Unsupported Transfer Mode";
	case MB_INTERNAL_ERROR:
		return "Internal Error";
	case MB_INFORMATION_UNAVAILABLE:
		return "Information Unavailable";
	}
	return "unknown";
}

const char *mb_phase_to_string(unsigned phase)
{
	switch ((enum mb_phase)phase) {
	case MB_PHASE_INACTIVE:
		return "Inactive";
	case MB_PHASE_WAITING_FOR_START:
		return "Waiting for Transfer Start";
	case MB_PHASE_WAITING_FOR_BLOCK:
		return "Waiting for Next Block";
	case MB_PHASE_WAITING_FOR_CHUNK:
		return "Waiting for Next Chunk";
	case MB_PHASE_COMPLETE:
		return "Complete";
	case MB_PHASE_SUSPENDED:
		return "Suspended";
	}
	return "unknown";
}

const char *mb_mode_to_string(unsigned mode)
{
	switch ((enum mb_mode)mode) {
	case MB_MODE_NONE:
		return "none";
	case MB_MODE_PUSH:
		return "Push";
	case MB_MODE_PULL:
		return "Pull";
	case MB_MODE_BOTH:
		return "Push and Pull";
	}
	return "unknown";
}

const char *mb_format_to_string(unsigned format)
{
	switch ((enum mb_format)format) {
	case MB_FORMAT_ALL_MISSING:
		return "All Chunks Missing";
	case MB_FORMAT_NONE_MISSING:
		return "No Missing Chunks";
	case MB_FORMAT_SOME_MISSING:
		return "Some Chunks Missing";
	case MB_FORMAT_ENCODED:
		return "Encoded Missing Chunks";
	}
	return "unknown";
}
