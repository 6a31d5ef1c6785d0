/* cobs: Consistent Overhead Byte Stuffing, the byte-stream framing of the dongle link (docs/protocol.md, "Framing").
 *
 * COBS rewrites a frame so it contains no 0x00 byte, at a cost of one byte per 254; 0x00 then delimits frames on the
 * wire: `[00] COBS(frame) 00`. A receiver that joins mid-stream, or loses bytes, is back in step at the next 00.
 *
 * Glossary: *decoded* = the frame as the layer above sees it; *encoded* = its COBS form, no delimiter;
 * *wire* = encoded plus delimiters. *block* = a code byte n (1..255) and the n-1 data bytes that follow it; a block
 * with n < 255 stands for its data followed by one 0x00, except the last block of a frame.
 */
#ifndef MESHFLEET_PROTOCOL_COBS_H
#define MESHFLEET_PROTOCOL_COBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COBS_DELIMITER 0x00

/* Upper bound of the encoded size of @n decoded bytes (one code byte per started 254, at least one). */
#define COBS_ENCODED_MAX(n) ((n) + (n) / 254 + 1)
/* Upper bound on the wire: the encoded frame between a leading and a trailing delimiter. */
#define COBS_WIRE_MAX(n) (COBS_ENCODED_MAX(n) + 2)

enum cobs_error {
	COBS_OK = 0,
	COBS_ERR_NO_SPACE,      /* the output buffer is too small */
	COBS_ERR_MALFORMED,     /* a 0x00 inside the encoded bytes, or a block cut short */
};

/* Encodes @len bytes of @in into @out (no delimiter). Returns COBS_OK and sets *ret_len, or COBS_ERR_NO_SPACE.
 * The encoding is canonical: a frame whose last block holds exactly 254 bytes gets no empty block after it. */
enum cobs_error cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *ret_len);

/* Decodes @len encoded bytes (no delimiter) of @in into @out. Returns COBS_OK and sets *ret_len,
 * COBS_ERR_MALFORMED or COBS_ERR_NO_SPACE. @out may equal @in: decoding never writes ahead of reading. */
enum cobs_error cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *ret_len);

/* Writes the wire form of @in: an optional leading delimiter, the encoding, the trailing delimiter.
 * Returns the number of bytes written, or 0 if @cap is too small (the wire form is at least 2 bytes). */
size_t cobs_encode_frame(const uint8_t *in, size_t len, bool leading_delimiter, uint8_t *out, size_t cap);

/* Incremental decoder for a byte stream: takes chunks of any size (as read() returns them) and yields one decoded
 * frame at a time. A frame that would not fit the buffer, or is malformed, is counted and skipped up to the next
 * delimiter. Empty frames (two delimiters in a row) are no frames at all, so a leading 00 costs nothing. */
struct cobs_stream {
	uint8_t *buf;           /* borrowed: receives the decoded frame */
	size_t cap;
	size_t len;             /* decoded bytes of the frame in progress */
	uint8_t block_left;     /* data bytes still due in the current block; 0 = a code byte comes next */
	bool zero_pending;      /* the last block ended below 255: a 0x00 follows unless the frame ends here */
	bool started;           /* at least one byte of the frame in progress has arrived */
	bool skipping;          /* the frame in progress was refused: drop bytes up to the next delimiter */
	/* counters, for the link's statistics; the owner may reset them */
	uint32_t frames;        /* frames yielded */
	uint32_t oversize;      /* frames longer than @cap, skipped */
	uint32_t malformed;     /* frames with broken COBS or that decode to nothing, skipped */
};

void cobs_stream_init(struct cobs_stream *s, uint8_t *buf, size_t cap);

/* Forgets the frame in progress (after a reconnect, say); counters are kept. */
void cobs_stream_reset(struct cobs_stream *s);

/* Consumes bytes of @in up to and including the delimiter that completes a frame, and returns how many it consumed.
 * When a frame completed, *ret_len is its length (at least 1) and the frame is in s->buf until the next call;
 * otherwise *ret_len is 0 and all of @in was consumed. Call again with the rest until @len bytes are used up:
 *
 *	while (len > 0) {
 *		size_t n = cobs_stream_feed(&s, p, len, &frame_len);
 *		p += n, len -= n;
 *		if (frame_len > 0)
 *			handle(s.buf, frame_len);
 *	}
 */
size_t cobs_stream_feed(struct cobs_stream *s, const uint8_t *in, size_t len, size_t *ret_len);

#endif
