/* frame: the decoded frame of the dongle link, a fixed header, the payload and a CRC-32C (docs/protocol.md, "Frame").
 *
 *	offset  size  field
 *	0       1     magic 0xB1: high nibble 0xB = meshfleet, low nibble = frame format (1)
 *	1       1     message type (messages.h)
 *	2       1     flags: bits 0-1 kind (request, response, event), bit 2 retransmission, bits 3-7 zero
 *	3       1     status: the outcome in a response (enum msg_status), 0 in requests and events
 *	4       4     sequence: request id (requests and their responses) or event sequence number (events), LE
 *	8       2     payload length, LE
 *	10      n     payload
 *	10+n    4     CRC-32C of bytes 0 .. 9+n, LE
 */
#ifndef MESHFLEET_PROTOCOL_FRAME_H
#define MESHFLEET_PROTOCOL_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_MAGIC             0xB1
#define FRAME_MAGIC_FAMILY      0xB0    /* high nibble shared by every frame format */
#define FRAME_FORMAT            1       /* low nibble of the magic */
#define FRAME_HEADER_SIZE       10
#define FRAME_CRC_SIZE          4
#define FRAME_OVERHEAD          (FRAME_HEADER_SIZE + FRAME_CRC_SIZE)
/* Largest payload of protocol version 1: 1 KiB of data plus an 8-byte message prefix (SLOT_WRITE's offset). */
#define FRAME_MAX_PAYLOAD       1032
#define FRAME_MAX_SIZE          (FRAME_OVERHEAD + FRAME_MAX_PAYLOAD)    /* 1046 */
/* Every peer accepts frames of at least this size; HELLO announces the dongle's real limit. */
#define FRAME_MIN_LIMIT         512

#define FRAME_FLAG_KIND_MASK    0x03
#define FRAME_FLAG_RETRANSMIT   0x04
#define FRAME_FLAG_RESERVED     0xF8

enum frame_kind {
	FRAME_REQUEST = 0,      /* host to dongle; answered by exactly one response with the same id */
	FRAME_RESPONSE = 1,     /* dongle to host */
	FRAME_EVENT = 2,        /* dongle to host, unsolicited, numbered */
};

struct frame_header {
	uint8_t type;           /* enum msg_type; kept raw so that unknown types reach the dispatcher */
	enum frame_kind kind;
	bool retransmit;        /* a request sent again after a timeout; informative, never changes the meaning */
	uint8_t status;         /* enum msg_status in responses; 0 otherwise */
	uint32_t seq;           /* request id or event sequence number */
	uint16_t payload_len;
};

/* Why a decoded frame was refused; checked in this order, so BAD_MAGIC and BAD_VERSION are only reported for
 * frames whose CRC is right, that is for a real peer speaking something else. */
enum frame_error {
	FRAME_OK = 0,
	FRAME_ERR_TOO_SHORT,    /* shorter than header + CRC */
	FRAME_ERR_TOO_LONG,     /* longer than FRAME_MAX_SIZE */
	FRAME_ERR_BAD_CRC,
	FRAME_ERR_BAD_MAGIC,    /* first byte not 0xB?: not a meshfleet frame */
	FRAME_ERR_BAD_VERSION,  /* 0xB? but not 0xB1: a meshfleet frame of another frame format */
	FRAME_ERR_BAD_LENGTH,   /* the length field disagrees with the frame's size */
	FRAME_ERR_BAD_KIND,     /* kind 3, or reserved flag bits set */
};

/* Checks a decoded frame of @len bytes and fills *ret_header; the payload starts at frame + FRAME_HEADER_SIZE.
 * *ret_header is untouched on failure. Never reads outside frame[0 .. len-1]. */
enum frame_error frame_decode(const uint8_t *frame, size_t len, struct frame_header *ret_header);

/* Writes header, payload and CRC to @out and returns the frame's size, or 0 if @cap is too small or
 * h->payload_len exceeds FRAME_MAX_PAYLOAD. h->payload_len bytes are taken from @payload, which is either a
 * separate buffer or exactly out + FRAME_HEADER_SIZE (payload built in place). */
size_t frame_encode(const struct frame_header *h, const uint8_t *payload, uint8_t *out, size_t cap);

const char *frame_error_to_string(enum frame_error err);
const char *frame_kind_to_string(enum frame_kind kind);

#endif
