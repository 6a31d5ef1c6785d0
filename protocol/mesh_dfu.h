/* mesh_dfu: Bluetooth Mesh Firmware Update messages (MshDFUv1.0, Firmware Update Client <-> Server) the Distributor on
 * the dongle and every Target (real or simulated) exchange, issue 6: opcodes, one struct per message, md_decode() /
 * md_encode(), the status, update phase and additional-information (effect) enums with their string tables. Firmware
 * Update Information Get/Status keep their one codec in mesh_access.c (issue 4, used by discovery); md_decode() and
 * md_encode() hand those two opcodes to it, so a Target's server and the Distributor's client see every Firmware
 * Update message through one call. Byte layouts: docs/mesh-messages.md; the digest:
 * ../shared/reference/mesh-dfu-protocol.md sections 2.3, 3.2 and 3.5. The BLOB transfer itself is mesh_blob.h.
 *
 * Same contract as mesh_access.h and mesh_blob.h: freestanding, no allocation, no state; lengths checked as Zephyr's
 * models do, everything else refused; encode(decode(p)) == p; metadata points into the payload (borrowed); ret_*
 * untouched on failure.
 *
 * Glossary: *image index* = which of a Target's firmware images (0 = usually the application) an update is for;
 * *metadata* = vendor bytes (0..255) the Target checks before accepting an image (Zephyr/NCS format:
 * mesh-dfu-protocol.md 5.2); *effect* (the specification's *Additional Information*) = what applying the image does
 * to the node's Composition Data, up to needing re-provisioning; *Timeout Base* = the BLOB timeout parameter, in
 * 10-second units on top of a fixed base; *update phase* = where the Target's Firmware Update Server is.
 */
#ifndef MESHFLEET_PROTOCOL_MESH_DFU_H
#define MESHFLEET_PROTOCOL_MESH_DFU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh_access.h"

/* --- opcodes (Zephyr subsys/bluetooth/mesh/dfu.h). Information Get/Status are MA_OP_FW_INFO_GET / _STATUS
 * (0x8308 / 0x8309) from mesh_access.h. --- */
#define MD_OP_METADATA_CHECK    MA_OP_2(0x83, 0x0A)     /* Firmware Update Firmware Metadata Check */
#define MD_OP_METADATA_STATUS   MA_OP_2(0x83, 0x0B)     /* Firmware Update Firmware Metadata Status */
#define MD_OP_UPDATE_GET        MA_OP_2(0x83, 0x0C)     /* Firmware Update Get */
#define MD_OP_UPDATE_START      MA_OP_2(0x83, 0x0D)     /* Firmware Update Start */
#define MD_OP_UPDATE_CANCEL     MA_OP_2(0x83, 0x0E)     /* Firmware Update Cancel */
#define MD_OP_UPDATE_APPLY      MA_OP_2(0x83, 0x0F)     /* Firmware Update Apply */
#define MD_OP_UPDATE_STATUS     MA_OP_2(0x83, 0x10)     /* Firmware Update Status */

#define MD_METADATA_MAX         255     /* Incoming Firmware Metadata: 0..255 bytes */

/* Firmware Update status codes (3 bits; Zephyr include/zephyr/bluetooth/mesh/dfu.h). */
enum md_status {
	MD_SUCCESS = 0,
	MD_INSUFFICIENT_RESOURCES = 1,
	MD_WRONG_PHASE = 2,
	MD_INTERNAL_ERROR = 3,
	MD_WRONG_FIRMWARE_INDEX = 4,
	MD_METADATA_CHECK_FAILED = 5,
	MD_TEMPORARILY_UNAVAILABLE = 6,
	MD_BLOB_TRANSFER_BUSY = 7,
};

/* The Target's update phase. 0..6 travel in the 3-bit field of Update Status; 7..10 exist only in the 4-bit
 * "Retrieved Update Phase" of a Firmware Distribution Receivers List, where the Distributor reports what it saw. */
enum md_phase {
	MD_PHASE_IDLE = 0,                      /* Update Status carries the first byte only */
	MD_PHASE_TRANSFER_ERROR = 1,
	MD_PHASE_TRANSFER_ACTIVE = 2,
	MD_PHASE_VERIFYING = 3,
	MD_PHASE_VERIFICATION_SUCCEEDED = 4,
	MD_PHASE_VERIFICATION_FAILED = 5,
	MD_PHASE_APPLYING = 6,
	MD_PHASE_TRANSFER_CANCELED = 7,         /* Receivers List only */
	MD_PHASE_APPLY_SUCCESS = 8,             /* Receivers List only */
	MD_PHASE_APPLY_FAILED = 9,              /* Receivers List only */
	MD_PHASE_UNKNOWN = 10,                  /* Receivers List only: the Target has not answered yet (Zephyr) */
};

/* Additional Information (5 bits): the effect of applying the image. 4..31 are RFU and kept raw. */
enum md_effect {
	MD_EFFECT_NONE = 0,                     /* Composition Data unchanged */
	MD_EFFECT_COMP_CHANGE_NO_RPR = 1,       /* Composition Data changes; no Remote Provisioning: re-provision */
	MD_EFFECT_COMP_CHANGE_RPR = 2,          /* Composition Data changes; Remote Provisioning keeps the node */
	MD_EFFECT_UNPROVISION = 3,              /* the node is unprovisioned: silence after Apply means success */
};

/* --- messages --- */

/* Firmware Update Firmware Metadata Check (client -> server). */
struct md_metadata_check {
	uint8_t image_index;
	const uint8_t *metadata;        /* borrowed; 0..MD_METADATA_MAX bytes */
	size_t metadata_len;
};

/* Firmware Update Firmware Metadata Status (server -> client). */
struct md_metadata_status {
	uint8_t status;                 /* enum md_status (3 bits) */
	uint8_t effect;                 /* enum md_effect, raw (5 bits) */
	uint8_t image_index;
};

/* Firmware Update Start (client -> server). */
struct md_start {
	uint8_t ttl;                    /* Update TTL: the TTL of the BLOB transfer */
	uint16_t timeout_base;
	uint64_t blob_id;
	uint8_t image_index;
	const uint8_t *metadata;        /* borrowed; 0..MD_METADATA_MAX bytes */
	size_t metadata_len;
};

/* Firmware Update Status (server -> client). Everything after the first byte travels if and only if @phase is not
 * IDLE: Zephyr's server sends it exactly so. The decoder refuses a Status of any other length (1 byte with a phase
 * other than Idle, 14 with Idle) and zeroes the tail of an Idle one; the encoder writes the tail exactly when the phase
 * is not Idle. */
struct md_update_status {
	uint8_t status;                 /* enum md_status (3 bits) */
	uint8_t rfu;                    /* bits 3..4 of the first byte as received; 0 when sending */
	uint8_t phase;                  /* enum md_phase, 0..7 (3 bits; 7 is not defined for this field, kept raw) */
	uint8_t ttl;                    /* --- the tail, phase != IDLE --- */
	uint8_t effect;                 /* enum md_effect, raw (5 bits) */
	uint8_t effect_rfu;             /* bits 5..7 of that byte as received; 0 when sending */
	uint16_t timeout_base;
	uint64_t blob_id;
	uint8_t image_index;
};

/* One Firmware Update message. @opcode selects the member of @u:
 *
 *	opcode                  member          parameters (bytes)
 *	MA_OP_FW_INFO_GET       info_get        first index (1), entries limit (1)                   (mesh_access.c)
 *	MA_OP_FW_INFO_STATUS    info            list count (1), first index (1), entries             (mesh_access.c)
 *	METADATA_CHECK          metadata_check  image index (1), metadata (0..255)
 *	METADATA_STATUS         metadata_status status+effect (1), image index (1)
 *	UPDATE_GET              -               none
 *	UPDATE_START            start           TTL (1), Timeout Base (2), BLOB ID (8), image index (1), metadata (0..255)
 *	UPDATE_CANCEL           -               none
 *	UPDATE_APPLY            -               none
 *	UPDATE_STATUS           status          status+phase (1), then if phase != Idle: TTL (1), effect (1), Timeout
 *	                                        Base (2), BLOB ID (8), image index (1)
 */
struct md_msg {
	uint32_t opcode;
	union {
		struct ma_fw_info_get info_get;
		struct ma_fw_info info;
		struct md_metadata_check metadata_check;
		struct md_metadata_status metadata_status;
		struct md_start start;
		struct md_update_status status;
	} u;
};

/* Decodes a whole access payload into *ret. MA_OK; MA_BAD_OPCODE; MA_UNKNOWN_OPCODE (not a Firmware Update message:
 * try the next codec); MA_TRUNCATED / MA_TOO_LONG (a length the layout does not allow, metadata over 255 bytes);
 * MA_BAD_COUNT (Information Status only, see ma_decode()). */
enum ma_status md_decode(const uint8_t *payload, size_t len, struct md_msg *ret);

/* Encodes @m into @out. MA_OK and *ret_len; what md_decode() would refuse gives the same verdict (MA_BAD_VALUE for a
 * field wider than its bits); MA_NO_SPACE if @cap is too small (*ret_len untouched). Information Status: see also
 * ma_fw_info_status_encode(), which builds one from an array. */
enum ma_status md_encode(const struct md_msg *m, uint8_t *out, size_t cap, size_t *ret_len);

/* Names: the specification's ("Metadata Check Failed", "Verification Succeeded", "Firmware Update Start"); values
 * this build does not know give "unknown". The codec verdicts are named by ma_status_to_string(). */
const char *md_opcode_to_string(uint32_t opcode);
const char *md_status_to_string(unsigned status);
const char *md_phase_to_string(unsigned phase);
const char *md_effect_to_string(unsigned effect);

#endif
