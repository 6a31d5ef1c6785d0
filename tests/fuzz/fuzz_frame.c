/* Fuzz target: the dongle link decoders (protocol/cobs.c, frame.c, messages.c). Each input is used twice:
 *
 * 1. as bytes from the serial port: through the COBS stream decoder, fed at once and in uneven chunks (both must
 *    yield the same frames), then every frame through frame_decode() and msg_decode();
 * 2. as a frame whose CRC is already checked: byte 0 = type, byte 1 = kind, byte 2 = status, the rest = payload,
 *    straight into msg_decode(), so the message decoders get fuzzed without the fuzzer having to forge CRCs.
 *
 * Whatever decodes must encode again and decode to the same message; a violation traps. */
#include <string.h>

#include "cobs.h"
#include "crc32c.h"
#include "frame.h"
#include "fuzz.h"
#include "messages.h"

#define MAX_FRAMES 64

struct seen {
	size_t n;
	uint32_t crc[MAX_FRAMES];
	size_t len[MAX_FRAMES];
};

static void check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

/* Encodes @m's payload into @out; traps if the encoder refuses what the decoder accepted. */
static size_t encode_or_trap(const struct msg *m, uint8_t *out)
{
	size_t len = 0;

	check(msg_encode(m, out, FRAME_MAX_PAYLOAD, &len) == MSG_STATUS_OK);
	return len;
}

/* decode(encode(m)) must be m: compared by the bytes each encodes to. */
static void check_message_roundtrip(const struct msg *m)
{
	static uint8_t first[FRAME_MAX_PAYLOAD], second[FRAME_MAX_PAYLOAD];
	struct frame_header h = { .type = (uint8_t)m->type, .kind = m->kind, .status = m->status };
	size_t len = encode_or_trap(m, first), len2;
	struct msg back;

	h.payload_len = (uint16_t)len;
	check(msg_decode(&h, first, &back) == MSG_STATUS_OK);
	check(back.type == m->type && back.kind == m->kind && back.status == m->status);
	len2 = encode_or_trap(&back, second);
	check(len2 == len && memcmp(first, second, len) == 0);
}

static void check_frame(const uint8_t *frame, size_t len)
{
	static uint8_t again[FRAME_MAX_SIZE], wire[COBS_WIRE_MAX(FRAME_MAX_SIZE)], buf[FRAME_MAX_SIZE];
	struct frame_header h, h2;
	struct msg m, m2;
	struct cobs_stream s;
	size_t again_len = 0, wire_len, got;

	/* The frame goes back through COBS unchanged. */
	wire_len = cobs_encode_frame(frame, len, true, wire, sizeof(wire));
	check(wire_len > 0);
	cobs_stream_init(&s, buf, sizeof(buf));
	check(cobs_stream_feed(&s, wire, wire_len, &got) == wire_len && got == len && memcmp(buf, frame, len) == 0);

	if (frame_decode(frame, len, &h) != FRAME_OK)
		return;
	if (msg_decode(&h, frame + FRAME_HEADER_SIZE, &m) != MSG_STATUS_OK)
		return;
	check_message_roundtrip(&m);
	/* and as a whole frame, with the same id and flag */
	check(msg_encode_frame(&m, h.seq, h.retransmit, again, sizeof(again), &again_len) == MSG_STATUS_OK);
	check(frame_decode(again, again_len, &h2) == FRAME_OK && h2.seq == h.seq && h2.type == h.type &&
	      h2.kind == h.kind);
	check(msg_decode(&h2, again + FRAME_HEADER_SIZE, &m2) == MSG_STATUS_OK);
}

/* Feeds @data in chunks of @chunk bytes (0 = all at once); records every frame. */
static void run_stream(const uint8_t *data, size_t size, size_t chunk, struct seen *seen, struct cobs_stream *s,
		       bool check_frames)
{
	size_t pos = 0;

	seen->n = 0;
	while (pos < size) {
		size_t n = chunk == 0 || chunk > size - pos ? size - pos : chunk;

		while (n > 0) {
			size_t frame_len, used = cobs_stream_feed(s, data + pos, n, &frame_len);

			check(used >= 1 && used <= n);
			check((frame_len == 0 && used == n) || (frame_len > 0 && frame_len <= s->cap));
			pos += used;
			n -= used;
			if (frame_len == 0)
				continue;
			if (seen->n < MAX_FRAMES) {
				seen->crc[seen->n] = crc32c(0, s->buf, frame_len);
				seen->len[seen->n++] = frame_len;
			}
			if (check_frames)
				check_frame(s->buf, frame_len);
		}
		chunk = chunk == 0 ? 0 : chunk % 7 + 1;       /* uneven chunks: 3, 4, 5, 6, 7, 1, 2, ... */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t buf_a[FRAME_MAX_SIZE], buf_b[FRAME_MAX_SIZE];
	static struct seen seen_a, seen_b;
	struct cobs_stream a, b;

	cobs_stream_init(&a, buf_a, sizeof(buf_a));
	cobs_stream_init(&b, buf_b, sizeof(buf_b));
	run_stream(data, size, 0, &seen_a, &a, true);
	run_stream(data, size, 3, &seen_b, &b, false);
	check(seen_a.n == seen_b.n && a.frames == b.frames && a.oversize == b.oversize && a.malformed == b.malformed);
	for (size_t i = 0; i < seen_a.n; i++)
		check(seen_a.crc[i] == seen_b.crc[i] && seen_a.len[i] == seen_b.len[i]);

	if (size >= 3) {
		struct frame_header h = {
			.type = data[0],
			.kind = (enum frame_kind)(data[1] & FRAME_FLAG_KIND_MASK),
			.status = data[2],
			.payload_len = (uint16_t)(size - 3 > FRAME_MAX_PAYLOAD + 1 ? FRAME_MAX_PAYLOAD + 1 : size - 3),
		};
		struct msg m;

		if (msg_decode(&h, data + 3, &m) == MSG_STATUS_OK)
			check_message_roundtrip(&m);
	}
	return 0;
}
