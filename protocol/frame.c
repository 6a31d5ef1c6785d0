/* frame: see frame.h. */
#include "bytes.h"
#include "crc32c.h"
#include "frame.h"

enum frame_error frame_decode(const uint8_t *frame, size_t len, struct frame_header *ret_header)
{
	uint8_t flags;

	if (len < FRAME_OVERHEAD)
		return FRAME_ERR_TOO_SHORT;
	if (len > FRAME_MAX_SIZE)
		return FRAME_ERR_TOO_LONG;
	if (crc32c(0, frame, len - FRAME_CRC_SIZE) != bytes_get_le32(frame + len - FRAME_CRC_SIZE))
		return FRAME_ERR_BAD_CRC;
	if ((frame[0] & 0xF0) != FRAME_MAGIC_FAMILY)
		return FRAME_ERR_BAD_MAGIC;
	if (frame[0] != FRAME_MAGIC)
		return FRAME_ERR_BAD_VERSION;
	if (bytes_get_le16(frame + 8) != len - FRAME_OVERHEAD)
		return FRAME_ERR_BAD_LENGTH;
	flags = frame[2];
	if ((flags & FRAME_FLAG_KIND_MASK) > FRAME_EVENT || (flags & FRAME_FLAG_RESERVED) != 0)
		return FRAME_ERR_BAD_KIND;

	*ret_header = (struct frame_header){
		.type = frame[1],
		.kind = (enum frame_kind)(flags & FRAME_FLAG_KIND_MASK),
		.retransmit = (flags & FRAME_FLAG_RETRANSMIT) != 0,
		.status = frame[3],
		.seq = bytes_get_le32(frame + 4),
		.payload_len = (uint16_t)(len - FRAME_OVERHEAD),
	};
	return FRAME_OK;
}

size_t frame_encode(const struct frame_header *h, const uint8_t *payload, uint8_t *out, size_t cap)
{
	size_t len = FRAME_OVERHEAD + (size_t)h->payload_len;

	if (h->payload_len > FRAME_MAX_PAYLOAD || cap < len)
		return 0;
	bytes_copy(out + FRAME_HEADER_SIZE, payload, h->payload_len);
	out[0] = FRAME_MAGIC;
	out[1] = h->type;
	out[2] = (uint8_t)((h->kind & FRAME_FLAG_KIND_MASK) | (h->retransmit ? FRAME_FLAG_RETRANSMIT : 0));
	out[3] = h->status;
	bytes_put_le32(out + 4, h->seq);
	bytes_put_le16(out + 8, h->payload_len);
	bytes_put_le32(out + len - FRAME_CRC_SIZE, crc32c(0, out, len - FRAME_CRC_SIZE));
	return len;
}

const char *frame_error_to_string(enum frame_error err)
{
	switch (err) {
	case FRAME_OK:
		return "ok";
	case FRAME_ERR_TOO_SHORT:
		return "frame too short";
	case FRAME_ERR_TOO_LONG:
		return "frame too long";
	case FRAME_ERR_BAD_CRC:
		return "CRC mismatch";
	case FRAME_ERR_BAD_MAGIC:
		return "not a meshfleet frame";
	case FRAME_ERR_BAD_VERSION:
		return "unsupported frame format";
	case FRAME_ERR_BAD_LENGTH:
		return "length field mismatch";
	case FRAME_ERR_BAD_KIND:
		return "invalid flags";
	}
	return "unknown frame error";
}

const char *frame_kind_to_string(enum frame_kind kind)
{
	switch (kind) {
	case FRAME_REQUEST:
		return "request";
	case FRAME_RESPONSE:
		return "response";
	case FRAME_EVENT:
		return "event";
	}
	return "invalid";
}
