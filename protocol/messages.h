/* messages: typed payloads of the dongle link, one struct per message, encoded and decoded field by field
 * (docs/protocol.md, "Messages", holds the byte layouts, the rules and the worked examples).
 *
 * Decoders check every length and field and read nothing outside the payload; what they accept, the encoders
 * accept, and what the encoders refuse is never sent. Both return an enum msg_status, so a dongle can answer a
 * malformed request with the decoder's verdict as it is. Decoded byte strings (ECHO data, log text, access
 * payloads, image data) point into the payload buffer (borrowed): copy them before that buffer is reused.
 *
 * Glossary: *request id* and *event sequence number* share the header's seq field; *access payload* = a Bluetooth
 * Mesh access message (opcode + parameters), at most 380 bytes; *slot* = the dongle's flash area for one image.
 */
#ifndef MESHFLEET_PROTOCOL_MESSAGES_H
#define MESHFLEET_PROTOCOL_MESSAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "frame.h"

#define MSG_VERSION_MAJOR 1
#define MSG_VERSION_MINOR 1     /* 1.1: the distribution messages (DIST_*, feature DIST) */

/* The request id of every HELLO (bytes b1 4d 46 30, "\xb1MF0"). Read by an nRF5 SDK for Mesh serial device as its
 * own length-prefixed packets, this HELLO holds only opcodes that device does not know, and it ends on a packet
 * boundary, so the device answers "unknown command" and is ready for the next probe (docs/protocol.md, "Telling an
 * nRF5 SDK for Mesh device apart"). That holds only without the retransmission flag: HELLO never carries it. */
#define MSG_HELLO_ID 0x30464DB1u

#define MSG_KEY_SIZE            16
#define MSG_SHA256_SIZE         32
#define MSG_BUILD_ID_SIZE       8
#define MSG_ACCESS_MAX          380     /* largest access payload: 32 segments x 12 bytes - 4-byte TransMIC */
#define MSG_SLOT_WRITE_MAX      1024    /* largest SLOT_WRITE data */
#define MSG_LOG_MODULE_MAX      32
#define MSG_LOG_TEXT_MAX        256
#define MSG_KEY_INDEX_MAX       0x0FFF
#define MSG_MESH_SEQ_MAX        0x00FFFFFF
#define MSG_TTL_DEFAULT         0xFF    /* MESH_SEND: the dongle's default TTL */

/* Bluetooth Mesh address ranges. */
#define MSG_ADDR_UNASSIGNED     0x0000
#define MSG_ADDR_UNICAST_MAX    0x7FFF
#define MSG_ADDR_VIRTUAL_MIN    0x8000
#define MSG_ADDR_GROUP_MIN      0xC000

enum msg_type {
	MSG_HELLO = 0x01,
	MSG_ECHO = 0x02,
	MSG_RESET = 0x03,
	MSG_STATS = 0x04,
	MSG_LOG = 0x05,
	MSG_MESH_CONFIG = 0x10,
	MSG_MESH_SEND = 0x11,
	MSG_MESH_RECV = 0x12,
	MSG_SLOT_INFO = 0x20,
	MSG_SLOT_BEGIN = 0x21,
	MSG_SLOT_WRITE = 0x22,
	MSG_SLOT_COMMIT = 0x23,
	/* the distribution (protocol 1.1, feature DIST; docs/protocol.md 7.13-7.22) */
	MSG_DIST_START = 0x40,
	MSG_DIST_GET = 0x41,
	MSG_DIST_TARGETS_GET = 0x42,
	MSG_DIST_SUSPEND = 0x43,
	MSG_DIST_RESUME = 0x44,
	MSG_DIST_CANCEL = 0x45,
	MSG_DIST_APPLY = 0x46,
	MSG_DIST_TARGET = 0x50,         /* event */
	MSG_DIST_PROGRESS = 0x51,       /* event */
	MSG_DIST_STATE = 0x52,          /* event */
};

/* Types 0x40..0x7F belong to the distribution messages (DIST_*); 0xF0..0xFF to test builds. */
#define MSG_DIST_FIRST 0x40
#define MSG_DIST_LAST  0x7F

/* The header's status byte in a response. Codes 0x0F..0x3F are for later minor versions, 0x40..0x7F for DIST_*;
 * a host treats a code it does not know as a failure and shows its number. */
enum msg_status {
	MSG_STATUS_OK = 0x00,
	MSG_STATUS_UNKNOWN_MESSAGE = 0x01,
	MSG_STATUS_BAD_LENGTH = 0x02,
	MSG_STATUS_BAD_PARAM = 0x03,
	MSG_STATUS_BUSY = 0x04,
	MSG_STATUS_NO_MEMORY = 0x05,
	MSG_STATUS_BAD_STATE = 0x06,
	MSG_STATUS_NOT_SUPPORTED = 0x07,
	MSG_STATUS_NOT_CONFIGURED = 0x08,
	MSG_STATUS_SLOT_OFFSET = 0x09,
	MSG_STATUS_SLOT_TOO_BIG = 0x0A,
	MSG_STATUS_SLOT_HASH_MISMATCH = 0x0B,
	MSG_STATUS_FLASH_ERROR = 0x0C,
	MSG_STATUS_SEQ_EXHAUSTED = 0x0D,
	MSG_STATUS_INTERNAL = 0x0E,
	/* DIST_* only */
	MSG_STATUS_DIST_SLOT_MISMATCH = 0x40,   /* the slot is not COMMITTED with the SHA-256 DIST_START names */
	MSG_STATUS_DIST_UNKNOWN_ID = 0x41,      /* no distribution with that id (the dongle knows the last one only) */
};

enum msg_reset_reason {
	MSG_RESET_UNKNOWN = 0,
	MSG_RESET_POWER_ON = 1,
	MSG_RESET_PIN = 2,
	MSG_RESET_WATCHDOG = 3,
	MSG_RESET_SOFTWARE = 4,         /* the firmware's own decision (fatal error handler, after an update) */
	MSG_RESET_HOST = 5,             /* a RESET request */
	MSG_RESET_FAULT = 6,            /* CPU lockup or hard fault */
	MSG_RESET_BROWNOUT = 7,
	MSG_RESET_WAKEUP = 8,           /* wake-up from system off */
	MSG_RESET_DEBUGGER = 9,
};

enum msg_reset_mode {
	MSG_RESET_MODE_APP = 0,         /* restart the companion firmware */
	MSG_RESET_MODE_BOOTLOADER = 1,  /* restart into the USB bootloader, to be reflashed */
};

/* Zephyr's numbering, so the port maps log levels one to one. */
enum msg_log_level {
	MSG_LOG_ERROR = 1,
	MSG_LOG_WARNING = 2,
	MSG_LOG_INFO = 3,
	MSG_LOG_DEBUG = 4,
};

enum msg_slot_state {
	MSG_SLOT_EMPTY = 0,
	MSG_SLOT_WRITING = 1,
	MSG_SLOT_COMMITTED = 2,
};

/* HELLO feature bits; a host ignores bits it does not know. */
#define MSG_FEATURE_MESH        (1u << 0)       /* MESH_CONFIG, MESH_SEND, MESH_RECV */
#define MSG_FEATURE_SLOT        (1u << 1)       /* SLOT_* */
#define MSG_FEATURE_DIST        (1u << 2)       /* DIST_* (protocol 1.1) */
#define MSG_FEATURE_SIMULATED   (1u << 3)       /* the radio and the nodes are simulated (meshfleet-sim) */

/* MESH_SEND / MESH_RECV flags */
#define MSG_MESH_FLAG_DEVKEY    0x01    /* device key (key index = net key index) instead of an application key */
/* MESH_CONFIG flags */
#define MSG_MESH_FLAG_IV_UPDATE 0x01    /* IV Update procedure in progress */

/* HELLO response (request: empty). 32 bytes in version 1.0; later minor versions append fields. */
struct msg_hello {
	uint8_t proto_major;
	uint8_t proto_minor;
	enum msg_reset_reason reset_reason;
	uint8_t request_window;         /* requests the host may have in flight, >= 1 */
	uint16_t max_frame;             /* largest decoded frame the dongle accepts and sends */
	uint16_t max_targets;           /* targets one distribution can address */
	uint32_t slot_size;             /* bytes */
	uint32_t features;              /* MSG_FEATURE_* */
	uint32_t next_event_seq;        /* sequence number of the next event after this response */
	uint8_t fw_major;
	uint8_t fw_minor;
	uint16_t fw_patch;
	uint8_t build_id[MSG_BUILD_ID_SIZE];    /* first 8 bytes of the firmware's git commit */
};

/* ECHO request and response. */
struct msg_data {
	const uint8_t *data;    /* borrowed */
	uint16_t len;
};

/* RESET request (response: empty). */
struct msg_reset {
	enum msg_reset_mode mode;
};

/* STATS response (request: empty). 48 bytes in version 1.0; later minor versions append counters. */
struct msg_stats {
	uint32_t uptime_s;
	uint32_t rx_frames;             /* valid frames received */
	uint32_t tx_frames;
	uint32_t rx_bad_crc;
	uint32_t rx_bad_frame;          /* COBS errors, oversize, bad magic/format/length/flags */
	uint32_t rx_dropped;            /* valid frames dropped for lack of a buffer */
	uint32_t rx_duplicates;         /* requests answered from the duplicate cache */
	uint32_t events_dropped;        /* events not sent; each left a gap in the sequence */
	uint32_t mesh_tx;               /* access messages sent */
	uint32_t mesh_tx_failed;
	uint32_t mesh_rx;               /* access messages received and forwarded */
	uint32_t mesh_seq;              /* next Bluetooth Mesh sequence number, <= MSG_MESH_SEQ_MAX */
};

/* LOG event. Module: 1..32 printable ASCII characters without space; text: 0..256 bytes of UTF-8 without NUL.
 * Neither is NUL-terminated. */
struct msg_log {
	enum msg_log_level level;
	uint32_t uptime_ms;             /* dongle clock when the line was logged; wraps after 49 days */
	const char *module;             /* borrowed */
	uint8_t module_len;
	const char *text;               /* borrowed */
	uint16_t text_len;
};

/* MESH_CONFIG request. */
struct msg_mesh_config {
	uint8_t net_key[MSG_KEY_SIZE];
	uint8_t app_key[MSG_KEY_SIZE];
	uint16_t net_key_index;
	uint16_t app_key_index;
	uint32_t iv_index;
	uint32_t seq;                   /* lowest sequence number the dongle may use (see the high-water-mark rule) */
	uint16_t address;               /* the dongle's own unicast address */
	bool iv_update;
};

/* MESH_SEND request (response: empty). */
struct msg_mesh_send {
	uint16_t dst;                   /* unicast or group; never virtual */
	uint16_t key_index;             /* app key index, or net key index with @devkey */
	bool devkey;
	uint8_t ttl;                    /* 0, 2..127, or MSG_TTL_DEFAULT */
	uint8_t dev_key[MSG_KEY_SIZE];  /* the destination's device key; on the wire only with @devkey */
	const uint8_t *payload;         /* borrowed; 1..380 bytes */
	uint16_t payload_len;
};

/* MESH_RECV event. */
struct msg_mesh_recv {
	uint16_t src;
	uint16_t dst;
	uint16_t key_index;
	bool devkey;
	uint8_t ttl;                    /* as received, 0..127 */
	int8_t rssi;                    /* dBm */
	const uint8_t *payload;         /* borrowed; 1..380 bytes */
	uint16_t payload_len;
};

/* SLOT_INFO response (request: empty). */
struct msg_slot_info {
	uint32_t slot_size;
	uint32_t image_size;            /* announced by SLOT_BEGIN; 0 when empty */
	uint32_t bytes_written;         /* contiguous from offset 0 */
	enum msg_slot_state state;
	uint8_t sha256[MSG_SHA256_SIZE];        /* WRITING: as announced; COMMITTED: as verified; EMPTY: zeros */
};

/* SLOT_BEGIN and SLOT_COMMIT requests (responses: empty). */
struct msg_slot_image {
	uint32_t size;                  /* >= 1 */
	uint8_t sha256[MSG_SHA256_SIZE];
};

/* SLOT_WRITE request. */
struct msg_slot_write {
	uint32_t offset;                /* multiple of 4 */
	const uint8_t *data;            /* borrowed; 1..MSG_SLOT_WRITE_MAX bytes */
	uint16_t len;
};

/* --- the distribution (DIST_*) --- */

#define MSG_DIST_FWID_MAX       32      /* Firmware ID bytes (Zephyr's BT_MESH_DFU_FWID_MAXLEN default is 16) */
#define MSG_DIST_METADATA_MAX   255     /* Firmware Update Start metadata */
#define MSG_DIST_ENTRY_SIZE     3       /* a DIST_START target entry: address (2), image index (1) */
#define MSG_DIST_TARGET_INFO_SIZE 11    /* a DIST_TARGETS_GET entry */
/* The most DIST_TARGETS_GET entries one response holds: (FRAME_MAX_PAYLOAD - 10-byte header) / 11. */
#define MSG_DIST_TARGETS_PAGE_MAX ((FRAME_MAX_PAYLOAD - 10) / MSG_DIST_TARGET_INFO_SIZE)
#define MSG_DIST_BLOCK_SIZE_LOG_MIN 6   /* mesh_blob.h MB_BLOCK_SIZE_LOG_MIN..MAX */
#define MSG_DIST_BLOCK_SIZE_LOG_MAX 32
#define MSG_DIST_CHUNK_SIZE_MIN 8       /* mesh_blob.h MB_CHUNK_SIZE_MIN..MAX */
#define MSG_DIST_CHUNK_SIZE_MAX 377

enum msg_dist_mode {
	MSG_DIST_MODE_PUSH = 1,         /* the dongle sends every chunk; Block Get finds the losses (= MB_MODE_PUSH) */
	MSG_DIST_MODE_PULL = 2,         /* the targets ask for chunks (low-power nodes; = MB_MODE_PULL) */
};

enum msg_dist_policy {
	MSG_DIST_POLICY_VERIFY_ONLY = 0,        /* stop in VERIFIED; DIST_APPLY applies */
	MSG_DIST_POLICY_APPLY = 1,              /* apply and confirm as soon as the targets verified the image */
};

enum msg_dist_state {
	MSG_DIST_IDLE = 0,              /* no distribution since boot */
	MSG_DIST_CONFIGURING = 1,       /* DIST_START batches arriving */
	MSG_DIST_RUNNING = 2,
	MSG_DIST_SUSPENDED = 3,
	MSG_DIST_VERIFIED = 4,          /* policy verify-only: the targets hold the verified image; DIST_APPLY next */
	MSG_DIST_COMPLETED = 5,         /* every target has a result, at least one OK */
	MSG_DIST_FAILED = 6,            /* every target failed */
	MSG_DIST_CANCELLED = 7,
};

/* Where a target (or the distribution) is. */
enum msg_dist_phase {
	MSG_DIST_PHASE_IDLE = 0,
	MSG_DIST_PHASE_INITIATE = 1,    /* Firmware Update Start */
	MSG_DIST_PHASE_CAPABILITIES = 2,/* BLOB Information Get */
	MSG_DIST_PHASE_TRANSFER = 3,    /* BLOB Transfer Start, and Transfer Get after the last block */
	MSG_DIST_PHASE_BLOCK = 4,       /* Block Start, chunks, Block Get (the block number is in DIST_GET) */
	MSG_DIST_PHASE_VERIFY = 5,      /* Firmware Update Get until Verification Succeeded */
	MSG_DIST_PHASE_APPLY = 6,       /* Firmware Update Apply */
	MSG_DIST_PHASE_CONFIRM = 7,     /* Firmware Update Information Get: the new FWID? */
	MSG_DIST_PHASE_DONE = 8,
};

enum msg_dist_result {
	MSG_DIST_PENDING = 0,
	MSG_DIST_OK = 1,
	MSG_DIST_TARGET_FAILED = 2,
	MSG_DIST_TARGET_CANCELLED = 3,
};

/* Why a target (or the distribution) ended as it did. Stable numbers: hosts store them. */
enum msg_dist_reason {
	MSG_DIST_REASON_NONE = 0,
	MSG_DIST_REASON_METADATA_REJECTED = 1,          /* Update Start: Metadata Check Failed (status) */
	MSG_DIST_REASON_START_REJECTED = 2,             /* Update Start: another error status */
	MSG_DIST_REASON_BLOB_BUSY = 3,                  /* Update Start: Busy, or a BLOB ID that is not ours */
	MSG_DIST_REASON_CAPABILITIES_INCOMPATIBLE = 4,  /* BLOB Information Status: cannot take this image or mode */
	MSG_DIST_REASON_TIMEOUT_INITIATE = 5,           /* no answer in phase X after every retry */
	MSG_DIST_REASON_TIMEOUT_CAPABILITIES = 6,
	MSG_DIST_REASON_TIMEOUT_TRANSFER = 7,
	MSG_DIST_REASON_TIMEOUT_BLOCK = 8,
	MSG_DIST_REASON_TIMEOUT_VERIFY = 9,
	MSG_DIST_REASON_TIMEOUT_APPLY = 10,
	MSG_DIST_REASON_TIMEOUT_CONFIRM = 11,
	MSG_DIST_REASON_VERIFICATION_FAILED = 12,
	MSG_DIST_REASON_WRONG_FIRMWARE_AFTER_APPLY = 13,/* Information Status without the distribution's FWID */
	MSG_DIST_REASON_CANCELLED = 14,
	MSG_DIST_REASON_INTERNAL = 15,
	MSG_DIST_REASON_TRANSFER_REJECTED = 16,         /* a BLOB Transfer message answered with an error (status) */
	MSG_DIST_REASON_APPLY_REJECTED = 17,            /* Update Apply answered with an error (status) */
	MSG_DIST_REASON_STILL_PROVISIONED = 18,         /* effect Unprovision, but the node still answers */
	MSG_DIST_REASON_ALL_TARGETS_FAILED = 19,        /* DIST_STATE FAILED */
};
#define MSG_DIST_REASON_LAST MSG_DIST_REASON_ALL_TARGETS_FAILED

/* Which model the status byte of a target came from. */
enum msg_dist_status_source {
	MSG_DIST_STATUS_NONE = 0,
	MSG_DIST_STATUS_FU = 1,         /* Firmware Update status (mesh_dfu.h enum md_status) */
	MSG_DIST_STATUS_BLOB = 2,       /* BLOB Transfer status (mesh_blob.h enum mb_status) */
};

/* One target of a DIST_START batch. */
struct msg_dist_entry {
	uint16_t address;               /* unicast */
	uint8_t image_index;
};

/* DIST_START request (response: empty). Every field but the batch (@first, @count, @entries) must be the same in
 * every request of one distribution id. */
struct msg_dist_start {
	uint32_t id;                    /* chosen by the host, != 0 */
	uint16_t group;                 /* 0 = unicast to each target, else a group address */
	uint16_t app_key_index;
	uint8_t ttl;                    /* 0, 2..127, or MSG_TTL_DEFAULT */
	uint16_t timeout_base;
	uint8_t mode;                   /* enum msg_dist_mode */
	uint8_t policy;                 /* enum msg_dist_policy */
	uint8_t block_size_log;         /* 0 = from the targets' capabilities, else 6..32 */
	uint16_t chunk_size;            /* 0 = from the targets' capabilities, else 8..377 */
	uint8_t sha256[MSG_SHA256_SIZE];/* the COMMITTED slot's */
	uint16_t total;                 /* targets of the distribution, >= 1 */
	uint16_t first;                 /* index of @entries[0]; first + count <= total */
	uint16_t count;                 /* >= 1 */
	const uint8_t *fwid;            /* borrowed; 1..MSG_DIST_FWID_MAX bytes */
	uint8_t fwid_len;
	const uint8_t *metadata;        /* borrowed; 0..MSG_DIST_METADATA_MAX bytes */
	uint8_t metadata_len;
	const uint8_t *entries;         /* borrowed: @count entries of MSG_DIST_ENTRY_SIZE bytes; msg_dist_entry() */
};

/* DIST_GET response (request: empty). */
struct msg_dist_info {
	uint32_t id;                    /* 0 in IDLE */
	uint8_t state;                  /* enum msg_dist_state */
	uint8_t phase;                  /* enum msg_dist_phase */
	uint8_t reason;                 /* enum msg_dist_reason: FAILED, CANCELLED */
	uint8_t mode;                   /* enum msg_dist_mode */
	uint16_t group;                 /* the address the group rounds go to; 0 = unicast to each target */
	uint16_t block;                 /* the current block (BLOCK), blocks done otherwise */
	uint16_t blocks;                /* 0 until the capabilities are known */
	uint8_t block_size_log;
	uint16_t chunk_size;
	uint16_t total;
	uint16_t received;              /* targets received (CONFIGURING) */
	uint16_t pending;               /* targets by result */
	uint16_t succeeded;
	uint16_t failed;
	uint16_t cancelled;
	uint32_t elapsed_ms;            /* since the last batch arrived */
};

/* DIST_TARGETS_GET request. */
struct msg_dist_page {
	uint16_t first;
	uint16_t max;                   /* 0 = as many as fit (MSG_DIST_TARGETS_PAGE_MAX) */
};

/* One target's state: a DIST_TARGETS_GET entry and the body of a DIST_TARGET event. */
struct msg_dist_target_info {
	uint16_t address;
	uint8_t image_index;
	uint8_t phase;                  /* enum msg_dist_phase: where the target is, or where it ended */
	uint8_t result;                 /* enum msg_dist_result */
	uint8_t reason;                 /* enum msg_dist_reason */
	uint8_t status_source;          /* enum msg_dist_status_source */
	uint8_t status;                 /* the target's last status of that model, raw */
	uint8_t effect;                 /* mesh_dfu.h enum md_effect, as the target announced it */
	uint16_t blocks_done;
};

/* DIST_TARGETS_GET response: @count entries from @first; walk them with msg_dist_target_at(). */
struct msg_dist_targets {
	uint32_t id;
	uint16_t total;
	uint16_t first;
	uint16_t count;
	const uint8_t *entries;         /* borrowed: the entries as on the wire (decoded) */
	const struct msg_dist_target_info *info;        /* or these, @count of them (the encoder prefers them) */
};

/* DIST_TARGET event. */
struct msg_dist_target_evt {
	uint32_t id;
	uint16_t index;                 /* position in the distribution's target list */
	struct msg_dist_target_info t;
};

/* DIST_PROGRESS event: at most one per block. */
struct msg_dist_progress {
	uint32_t id;
	uint16_t blocks_done;
	uint16_t blocks;
	uint16_t active;                /* targets still pending */
};

/* DIST_STATE event. */
struct msg_dist_state_evt {
	uint32_t id;
	uint8_t state;
	uint8_t phase;
	uint8_t reason;
};

/* One message. @type and @kind select the member of @u:
 *
 *	type          request        response (status OK)     event
 *	HELLO         -              hello                    
 *	ECHO          echo           echo
 *	RESET         reset          -
 *	STATS         -              stats
 *	LOG                                                   log
 *	MESH_CONFIG   mesh_config    mesh_seq
 *	MESH_SEND     mesh_send      -
 *	MESH_RECV                                             mesh_recv
 *	SLOT_INFO     -              slot_info
 *	SLOT_BEGIN    slot_image     -
 *	SLOT_WRITE    slot_write     bytes_written (also when status is not OK)
 *	SLOT_COMMIT   slot_image     -
 *	DIST_START    dist_start     -
 *	DIST_GET      -              dist_info
 *	DIST_TARGETS_GET dist_page   dist_targets
 *	DIST_SUSPEND, DIST_RESUME, DIST_CANCEL, DIST_APPLY
 *	              dist_id        -
 *	DIST_TARGET                                           dist_target
 *	DIST_PROGRESS                                         dist_progress
 *	DIST_STATE                                            dist_state
 *
 * "-" is an empty payload; a blank cell is a combination that does not exist. A response whose status is not OK
 * has an empty payload, except SLOT_WRITE's. */
struct msg {
	enum msg_type type;
	enum frame_kind kind;
	uint8_t status;                 /* responses: enum msg_status, kept raw (a newer dongle may send new codes) */
	union {
		struct msg_hello hello;
		struct msg_data echo;
		struct msg_reset reset;
		struct msg_stats stats;
		struct msg_log log;
		struct msg_mesh_config mesh_config;
		uint32_t mesh_seq;      /* MESH_CONFIG response: the sequence number the dongle will use next */
		struct msg_mesh_send mesh_send;
		struct msg_mesh_recv mesh_recv;
		struct msg_slot_info slot_info;
		struct msg_slot_image slot_image;
		struct msg_slot_write slot_write;
		uint32_t bytes_written; /* SLOT_WRITE response */
		struct msg_dist_start dist_start;
		struct msg_dist_info dist_info;
		struct msg_dist_page dist_page;
		struct msg_dist_targets dist_targets;
		uint32_t dist_id;       /* DIST_SUSPEND, _RESUME, _CANCEL, _APPLY requests */
		struct msg_dist_target_evt dist_target;
		struct msg_dist_progress dist_progress;
		struct msg_dist_state_evt dist_state;
	} u;
};

/* Decodes the payload of a frame whose header is @h (type, kind, status and payload_len are used) into *ret.
 * Returns MSG_STATUS_OK, or UNKNOWN_MESSAGE (type unknown, or not valid in that direction), BAD_LENGTH,
 * BAD_PARAM, or NOT_SUPPORTED (a HELLO response of another major version: read its version with
 * msg_hello_version()). *ret is untouched on failure. */
enum msg_status msg_decode(const struct frame_header *h, const uint8_t *payload, struct msg *ret);

/* Encodes the payload of @m into @out. Returns MSG_STATUS_OK and sets *ret_len, UNKNOWN_MESSAGE or BAD_PARAM if
 * @m is not something msg_decode() would accept, or NO_MEMORY if @cap is too small. */
enum msg_status msg_encode(const struct msg *m, uint8_t *out, size_t cap, size_t *ret_len);

/* Encodes @m as a whole decoded frame (header, payload, CRC) with the given request id or event sequence number.
 * @retransmit sets the retransmission flag, on requests other than HELLO only. Same results as msg_encode();
 * *ret_len is the frame's size. */
enum msg_status msg_encode_frame(const struct msg *m, uint32_t seq, bool retransmit, uint8_t *out, size_t cap,
				 size_t *ret_len);

/* Reads the protocol version from a HELLO response payload of any major version (its first two bytes never
 * move). Returns false if the payload is too short to hold it. */
bool msg_hello_version(const uint8_t *payload, size_t len, uint8_t *ret_major, uint8_t *ret_minor);

/* True if a message of @type exists with @kind (the table above). */
bool msg_type_valid(unsigned type, enum frame_kind kind);

/* Names as the specification writes them ("SLOT_WRITE", "SLOT_HASH_MISMATCH", "POWER_ON", ...); values this build
 * does not know give "unknown". */
const char *msg_type_to_string(unsigned type);
const char *msg_status_to_string(unsigned status);
const char *msg_reset_reason_to_string(unsigned reason);
const char *msg_log_level_to_string(unsigned level);
const char *msg_slot_state_to_string(unsigned state);
/* The distribution's names, as docs/protocol.md writes them: "RUNNING", "BLOCK", "timeout_block", ... */
const char *msg_dist_state_to_string(unsigned state);
const char *msg_dist_phase_to_string(unsigned phase);
const char *msg_dist_result_to_string(unsigned result);
const char *msg_dist_reason_to_string(unsigned reason);

/* Entry @i (< count) of a decoded DIST_START batch. */
struct msg_dist_entry msg_dist_entry(const struct msg_dist_start *s, uint16_t i);

/* Entry @i (< count) of a decoded DIST_TARGETS_GET response. */
struct msg_dist_target_info msg_dist_target_at(const struct msg_dist_targets *t, uint16_t i);

/* Bytes of a DIST_START request with those lengths (to size batches: at most FRAME_MAX_PAYLOAD). */
size_t msg_dist_start_size(uint8_t fwid_len, uint8_t metadata_len, uint16_t count);

#endif
