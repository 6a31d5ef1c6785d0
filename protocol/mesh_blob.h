/* mesh_blob: Bluetooth Mesh BLOB Transfer messages (MshMBTv1.0) between a BLOB Transfer Client (the Distributor on the
 * dongle) and a BLOB Transfer Server (every Target, real or simulated), issue 6: opcodes, one struct per message,
 * mb_decode() / mb_encode(), the status, phase, transfer mode and block format enums with their string tables, the
 * UTF-8-like chunk-number list of the encoded Block Status and Partial Block Report, the missing-chunks bitmap both
 * sides keep, and the block/chunk size arithmetic. Byte layouts and rules: docs/mesh-messages.md; the protocol
 * digest: ../shared/reference/mesh-dfu-protocol.md sections 3.1, 3.4, 3.5 and 4.1.
 *
 * Same contract as mesh_access.h (whose enum ma_status, opcode macros and MA_PAYLOAD_MAX it uses): freestanding, no
 * allocation, no state; decoders take a whole access payload, check the opcode and every length as Zephyr's models
 * do (a message of the wrong length is refused, never half-read) and refuse what the specification prohibits;
 * whatever decodes re-encodes to the same bytes; byte strings (chunk data, bitfields, encoded lists) point into the
 * payload (borrowed); ret_* are untouched on failure.
 *
 * Glossary: *BLOB* = the binary large object being sent (here a firmware image); *BLOB ID* = 64-bit random id the
 * higher model (Firmware Update) hands both sides; *block* = 2^block_size_log bytes of the BLOB (the last one
 * shorter), numbered from 0; *chunk* = the piece of a block one Chunk Transfer carries, numbered from 0 within its
 * block; *push* mode = the client sends every chunk and asks with Block Get which ones were lost; *pull* mode = the
 * server asks for chunks with Partial Block Reports (meant for Low Power nodes); *MTU* = the largest access message a
 * side can receive, as Zephyr counts it (its SDU size minus the 4-byte TransMIC); *missing bitmap* = one bit per chunk
 * (or block), bit i in byte i / 8 at position i % 8, set = not yet received.
 */
#ifndef MESHFLEET_PROTOCOL_MESH_BLOB_H
#define MESHFLEET_PROTOCOL_MESH_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh_access.h"

/* --- opcodes (Zephyr subsys/bluetooth/mesh/blob.h) --- */
#define MB_OP_XFER_GET          MA_OP_2(0x83, 0x00)     /* BLOB Transfer Get */
#define MB_OP_XFER_START        MA_OP_2(0x83, 0x01)     /* BLOB Transfer Start */
#define MB_OP_XFER_CANCEL       MA_OP_2(0x83, 0x02)     /* BLOB Transfer Cancel */
#define MB_OP_XFER_STATUS       MA_OP_2(0x83, 0x03)     /* BLOB Transfer Status */
#define MB_OP_BLOCK_START       MA_OP_2(0x83, 0x04)     /* BLOB Block Start */
#define MB_OP_BLOCK_GET         MA_OP_2(0x83, 0x05)     /* BLOB Block Get */
#define MB_OP_INFO_GET          MA_OP_2(0x83, 0x06)     /* BLOB Information Get */
#define MB_OP_INFO_STATUS       MA_OP_2(0x83, 0x07)     /* BLOB Information Status */
#define MB_OP_CHUNK             MA_OP_1(0x66)           /* BLOB Chunk Transfer (unacknowledged) */
#define MB_OP_BLOCK_STATUS      MA_OP_1(0x67)           /* BLOB Block Status */
#define MB_OP_BLOCK_REPORT      MA_OP_1(0x68)           /* BLOB Partial Block Report (pull mode, unsolicited) */

/* --- limits (mesh-dfu-protocol.md 4.1) --- */
#define MB_BLOCK_SIZE_LOG_MIN   0x06    /* 64-byte blocks; smaller values are prohibited */
#define MB_BLOCK_SIZE_LOG_MAX   0x20    /* 4 GiB blocks: one block for any BLOB */
#define MB_CHUNK_SIZE_MIN       8       /* Zephyr's client refuses smaller chunks and servers announcing less */
#define MB_MTU_MIN              0x14    /* Zephyr's client refuses an Information Status with a smaller MTU */
/* Chunk Transfer = 1-byte opcode + 2-byte chunk number + data: the largest chunk filling a 32-segment access
 * payload (the "377" of mesh-dfu-protocol.md 4.1: SDU 384 - 7). */
#define MB_CHUNK_SIZE_MAX       (MA_PAYLOAD_MAX - 3)
/* The most chunks per block a Block Status bitfield can describe in one access payload: 1-byte opcode + 5 bytes,
 * then one bit per chunk = 8 x 374 = 2992 (Zephyr's CONFIG_BT_MESH_BLOB_CHUNK_COUNT_MAX range ends there too). */
#define MB_CHUNK_COUNT_MAX      (8 * (MA_PAYLOAD_MAX - 6))
/* The most blocks a Transfer Status bitfield can describe: 2-byte opcode + 17 bytes, then one bit per block. */
#define MB_BLOCK_COUNT_MAX      (8 * (MA_PAYLOAD_MAX - 19))
#define MB_CHUNK_NUMBER_MAX_SIZE 3      /* bytes of one entry of an encoded list (chunk numbers >= 0x800) */

/* Bytes of a bitmap of @bits bits. */
#define MB_BITMAP_SIZE(bits)    (((size_t)(bits) + 7) / 8)

/* --- enums --- */

/* BLOB status codes (4 bits; Zephyr include/zephyr/bluetooth/mesh/blob.h). Kept raw in the structs: 11..15 are RFU. */
enum mb_status {
	MB_SUCCESS = 0,
	MB_INVALID_BLOCK_NUMBER = 1,
	MB_INVALID_BLOCK_SIZE = 2,
	MB_INVALID_CHUNK_SIZE = 3,
	MB_WRONG_PHASE = 4,
	MB_INVALID_PARAMETER = 5,
	MB_WRONG_BLOB_ID = 6,
	MB_BLOB_TOO_LARGE = 7,
	MB_UNSUPPORTED_TRANSFER_MODE = 8,
	MB_INTERNAL_ERROR = 9,
	MB_INFORMATION_UNAVAILABLE = 10,
};

/* The server's transfer phase (1 byte; 6..255 are prohibited and refused: they leave the Status layout undefined). */
enum mb_phase {
	MB_PHASE_INACTIVE = 0,          /* no BLOB ID armed: Status carries status and phase only */
	MB_PHASE_WAITING_FOR_START = 1, /* armed: Status adds the BLOB ID */
	MB_PHASE_WAITING_FOR_BLOCK = 2, /* from here on Status carries everything */
	MB_PHASE_WAITING_FOR_CHUNK = 3,
	MB_PHASE_COMPLETE = 4,
	MB_PHASE_SUSPENDED = 5,
};

/* Transfer mode (2 bits). Transfer Start must carry PUSH or PULL; BOTH only appears as a capability. */
enum mb_mode {
	MB_MODE_NONE = 0,
	MB_MODE_PUSH = 1,
	MB_MODE_PULL = 2,
	MB_MODE_BOTH = 3,
};

/* Block Status format (2 bits): what follows Block Number and Chunk Size. */
enum mb_format {
	MB_FORMAT_ALL_MISSING = 0,      /* nothing follows */
	MB_FORMAT_NONE_MISSING = 1,     /* nothing follows */
	MB_FORMAT_SOME_MISSING = 2,     /* a missing-chunks bitfield, at least 1 byte */
	MB_FORMAT_ENCODED = 3,          /* an encoded list of missing chunk numbers; empty = none missing (pull mode) */
};

/* Supported Transfer Modes bits of Information Status; bits 2..7 are RFU and kept as received. */
#define MB_MODES_PUSH           (1u << 0)
#define MB_MODES_PULL           (1u << 1)

/* --- messages --- */

/* BLOB Transfer Start (client -> server). */
struct mb_xfer_start {
	uint8_t mode;                   /* enum mb_mode: PUSH or PULL, else refused (Zephyr drops the message) */
	uint8_t rfu;                    /* bits 0..5 of the first byte as received; 0 when sending */
	uint64_t blob_id;
	uint32_t size;                  /* BLOB size in bytes */
	uint8_t block_size_log;         /* MB_BLOCK_SIZE_LOG_MIN..MAX, else refused (prohibited values) */
	uint16_t mtu;                   /* Client MTU Size */
};

/* BLOB Transfer Status (server -> client). Which fields travel depends on @phase:
 *	INACTIVE                status, mode, phase
 *	WAITING_FOR_START       + blob_id
 *	2..5                    + size, block_size_log, mtu and the blocks-not-received bitfield
 * The encoder leaves out what the phase leaves out; the decoder zeroes it. */
struct mb_xfer_status {
	uint8_t status;                 /* enum mb_status, raw (4 bits) */
	uint8_t rfu;                    /* bits 4..5 of the first byte as received; 0 when sending */
	uint8_t mode;                   /* enum mb_mode (2 bits) */
	uint8_t phase;                  /* enum mb_phase */
	uint64_t blob_id;
	uint32_t size;
	uint8_t block_size_log;         /* MB_BLOCK_SIZE_LOG_MIN..MAX when present, else refused */
	uint16_t mtu;                   /* Transfer MTU Size */
	const uint8_t *blocks_missing;  /* borrowed: exactly MB_BITMAP_SIZE(mb_block_count(size, block_size_log)) bytes,
					 * bit b set = block b not received yet */
	size_t blocks_missing_len;
};

/* BLOB Block Start (client -> server). Values are the server's to judge (Invalid Block Number / Chunk Size). */
struct mb_block_start {
	uint16_t block;
	uint16_t chunk_size;
};

/* BLOB Chunk Transfer (client -> server, unacknowledged). */
struct mb_chunk {
	uint16_t chunk;                 /* chunk number within the current block */
	const uint8_t *data;            /* borrowed; 1..MB_CHUNK_SIZE_MAX bytes */
	size_t len;
};

/* BLOB Block Status (server -> client). @missing depends on @format: the bitfield (SOME_MISSING) or the encoded list
 * (ENCODED); nothing otherwise. Turn it into a bitmap with mb_block_status_missing(). */
struct mb_block_status {
	uint8_t status;                 /* enum mb_status, raw (4 bits) */
	uint8_t rfu;                    /* bits 4..5 of the first byte as received; 0 when sending */
	uint8_t format;                 /* enum mb_format */
	uint16_t block;                 /* 0xFFFF: no block started */
	uint16_t chunk_size;            /* 0xFFFF: no block started */
	const uint8_t *missing;         /* borrowed */
	size_t missing_len;
};

/* BLOB Partial Block Report (server -> client, pull mode): the chunks the server wants next; empty = block done. */
struct mb_block_report {
	const uint8_t *missing;         /* borrowed: an encoded list, already checked */
	size_t missing_len;
};

/* BLOB Information Status (server -> client): the server's capabilities. The decoder refuses what Zephyr's client
 * refuses (min log < 6, max log > 32, max < min, no chunks, chunk size < 8, BLOB size 0, MTU < 20). */
struct mb_info_status {
	uint8_t min_block_size_log;
	uint8_t max_block_size_log;
	uint16_t max_chunks;            /* Max Total Chunks per block */
	uint16_t max_chunk_size;
	uint32_t max_size;              /* Max BLOB Size */
	uint16_t mtu;                   /* Server MTU Size */
	uint8_t modes;                  /* MB_MODES_* (raw, RFU bits kept) */
};

/* One BLOB Transfer message. @opcode selects the member of @u:
 *
 *	opcode          member          parameters (bytes)
 *	XFER_GET        -               none
 *	XFER_START      xfer_start      mode (1), BLOB ID (8), size (4), block size log (1), MTU (2)
 *	XFER_CANCEL     blob_id         BLOB ID (8)
 *	XFER_STATUS     xfer_status     status+mode (1), phase (1), then by phase (see struct mb_xfer_status)
 *	BLOCK_START     block_start     block number (2), chunk size (2)
 *	BLOCK_GET       -               none
 *	CHUNK           chunk           chunk number (2), data (1..377)
 *	BLOCK_STATUS    block_status    status+format (1), block number (2), chunk size (2), then by format
 *	BLOCK_REPORT    block_report    encoded list (0..)
 *	INFO_GET        -               none
 *	INFO_STATUS     info_status     13 bytes
 */
struct mb_msg {
	uint32_t opcode;
	union {
		struct mb_xfer_start xfer_start;
		uint64_t blob_id;
		struct mb_xfer_status xfer_status;
		struct mb_block_start block_start;
		struct mb_chunk chunk;
		struct mb_block_status block_status;
		struct mb_block_report block_report;
		struct mb_info_status info_status;
	} u;
};

/* Walks an encoded list of chunk numbers (Block Status format 3, Partial Block Report). */
struct mb_chunk_iter {
	const uint8_t *list;
	size_t len;
	size_t pos;
};

/* --- codec --- */

/* Decodes a whole access payload into *ret. MA_OK; MA_BAD_OPCODE; MA_UNKNOWN_OPCODE (not a BLOB Transfer message:
 * try the next codec); MA_TRUNCATED / MA_TOO_LONG (a length the layout does not allow, an encoded chunk number cut
 * short); MA_BAD_VALUE (a prohibited value: transfer mode, block size log, phase, Information Status limits, a
 * malformed or overlong chunk-number encoding). */
enum ma_status mb_decode(const uint8_t *payload, size_t len, struct mb_msg *ret);

/* Encodes @m into @out. MA_OK and *ret_len; what mb_decode() would refuse gives the same verdict; MA_TOO_LONG past
 * MA_PAYLOAD_MAX; MA_NO_SPACE if @cap is too small (*ret_len untouched). */
enum ma_status mb_encode(const struct mb_msg *m, uint8_t *out, size_t cap, size_t *ret_len);

/* --- chunk-number lists (mesh-dfu-protocol.md 3.4) ---
 *	0x0000..0x007F  0xxxxxxx
 *	0x0080..0x07FF  110xxxxx 10xxxxxx
 *	0x0800..0xFFFF  1110xxxx 10xxxxxx 10xxxxxx
 * Decoding is strict: a continuation byte where a lead byte should be, a lead byte 0xF0..0xFF, a missing 10xxxxxx
 * continuation and an overlong form (a number written with more bytes than it needs, as Zephyr's server does for
 * 0x800..0x7FFF) are MA_BAD_VALUE; a list ending inside an entry is MA_TRUNCATED. The order of the entries is not
 * checked (servers list them ascending; Zephyr's client does not check either). */

/* Writes @chunk to @out (at least MB_CHUNK_NUMBER_MAX_SIZE bytes); returns 1, 2 or 3. */
size_t mb_chunk_number_encode(uint16_t chunk, uint8_t *out);

/* Reads one entry at the start of @p. MA_OK, *ret_chunk and *ret_size (1..3), or MA_TRUNCATED / MA_BAD_VALUE. */
enum ma_status mb_chunk_number_decode(const uint8_t *p, size_t len, uint16_t *ret_chunk, size_t *ret_size);

/* Checks a whole encoded list and counts its entries. */
enum ma_status mb_chunk_list_check(const uint8_t *list, size_t len, size_t *ret_count);

/* Writes the @n chunk numbers of @chunks as a list. MA_NO_SPACE if @cap is too small. */
enum ma_status mb_chunk_list_encode(const uint16_t *chunks, size_t n, uint8_t *out, size_t cap, size_t *ret_len);

/* Writes the first @max_entries missing chunks of @bitmap (@chunk_count bits) as a list, ascending, as a server
 * does for a Partial Block Report or an encoded Block Status (Zephyr: at most PULL_REQ_COUNT = 4 per message). Stops
 * early, without error, when the next entry would not fit in @cap. *ret_entries (may be NULL) = entries written. */
enum ma_status mb_chunk_list_from_bitmap(const uint8_t *bitmap, uint32_t chunk_count, size_t max_entries,
					 uint8_t *out, size_t cap, size_t *ret_len, size_t *ret_entries);

/* A checked list (decoded, or passed mb_chunk_list_check()); the iterator stops at the first bad entry. */
void mb_chunk_iter_init(struct mb_chunk_iter *it, const uint8_t *list, size_t len);
bool mb_chunk_next(struct mb_chunk_iter *it, uint16_t *ret_chunk);

/* --- missing bitmaps: bit i = byte i / 8, bit i % 8 (LSB first), as on the wire --- */

void mb_bitmap_set(uint8_t *bitmap, uint32_t i, bool missing);
bool mb_bitmap_test(const uint8_t *bitmap, uint32_t i);
/* Sets bits 0..@bits-1 and clears the rest of the last byte (the wire's padding bits are 0). */
void mb_bitmap_set_all(uint8_t *bitmap, uint32_t bits);
void mb_bitmap_clear_all(uint8_t *bitmap, uint32_t bits);
/* Bits set among the first @bits. */
uint32_t mb_bitmap_count(const uint8_t *bitmap, uint32_t bits);
/* The first set bit at or after @from, or @bits if none (e.g. the next missing chunk to send). */
uint32_t mb_bitmap_first(const uint8_t *bitmap, uint32_t bits, uint32_t from);

/* Fills @bitmap (MB_BITMAP_SIZE(chunk_count) bytes) with the chunks a decoded Block Status says are missing, for a
 * block of @chunk_count chunks (1..MB_CHUNK_COUNT_MAX). MA_BAD_COUNT if the bitfield is not exactly
 * MB_BITMAP_SIZE(chunk_count) bytes, a bit past the last chunk is set, or a listed chunk is >= @chunk_count (Zephyr's
 * client drops such a Status); @bitmap is untouched then. ENCODED with an empty list = none missing. */
enum ma_status mb_block_status_missing(const struct mb_block_status *s, uint32_t chunk_count, uint8_t *bitmap);

/* The same for a Partial Block Report's list; an empty report clears @bitmap. */
enum ma_status mb_block_report_missing(const struct mb_block_report *r, uint32_t chunk_count, uint8_t *bitmap);

/* --- size arithmetic (Zephyr blob.h, blob_cli.c; mesh-dfu-protocol.md 2.4 and 4.1). Every function takes any value and
 * returns 0 for a block size log outside MB_BLOCK_SIZE_LOG_MIN..MAX or a chunk size of 0. --- */

/* Blocks of a BLOB: ceil(size / 2^log). */
uint32_t mb_block_count(uint32_t size, uint8_t block_size_log);
/* Bytes of block @block: 2^log, the last one the rest; 0 past the end. */
uint32_t mb_block_size(uint32_t size, uint8_t block_size_log, uint32_t block);
/* Chunks of a block of @block_size bytes: ceil(block_size / chunk_size). */
uint32_t mb_chunk_count(uint32_t block_size, uint16_t chunk_size);
/* Bytes of chunk @chunk of a block: chunk_size, the last one the rest; 0 past the end. */
uint32_t mb_chunk_size(uint32_t block_size, uint16_t chunk_size, uint32_t chunk);

/* --- names: the specification's ("Wrong Phase", "Waiting for Next Chunk", "BLOB Block Status"); values this build
 * does not know give "unknown". The codec verdicts are named by ma_status_to_string(). --- */
const char *mb_opcode_to_string(uint32_t opcode);
const char *mb_status_to_string(unsigned status);
const char *mb_phase_to_string(unsigned phase);
const char *mb_mode_to_string(unsigned mode);
const char *mb_format_to_string(unsigned format);

#endif
