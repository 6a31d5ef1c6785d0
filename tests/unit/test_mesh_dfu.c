/* Unit tests for protocol/mesh_dfu.c: every Firmware Update message with a vector worked out by hand from the tables
 * of ../shared/reference/mesh-dfu-protocol.md (3.2, 3.5, 5.2; each derivation is in the comment above its bytes),
 * round trips, every cut and padded length, Firmware Update Status's optional tail by phase, the metadata limit, the
 * Information messages handed to mesh_access.c, and the string tables.
 *
 * Every decode of a cut or padded payload runs on an exactly-sized heap copy, so ASan reports any read past it. */
#include <stdlib.h>

#include "mesh_blob.h"
#include "mesh_dfu.h"
#include "mesh_vectors.h"
#include "tap.h"

static enum ma_status decode_copy(const uint8_t *p, size_t len, struct md_msg *ret)
{
	uint8_t *copy = exact_copy(p, len);
	enum ma_status st = md_decode(copy, len, ret);

	free(copy);
	return st;
}

/* ---------------------------------------------------------------- the vectors */

/* Firmware Update Information Get (mesh_access.c's codec): opcode 0x8308 -> 83 08; First Index 0; Entries Limit 1. */
static const uint8_t info_get[] = { 0x83, 0x08, 0x00, 0x01 };

/* Firmware Update Information Status: opcode 0x8309; List Count 1; First Index 0; FWID length 3, FWID 59 00 01; no
 * URI -> 00. */
static const uint8_t info_status[] = { 0x83, 0x09, 0x01, 0x00, 0x03, 0x59, 0x00, 0x01, 0x00 };

/* Metadata in the Zephyr/NCS format (mesh-dfu-protocol.md 5.2), built from the table:
 *   major 2 -> 02, minor 1 -> 01, revision 3 -> 03 00, build 7 -> 07 00 00 00,
 *   size 241236 = 0x03AE54 (24-bit LE) -> 54 ae 03, core type: application -> 01,
 *   Composition Data hash 0x71F3267C -> 7c 26 f3 71, elements 1 -> 01 00.  18 bytes. */
#define METADATA 0x02, 0x01, 0x03, 0x00, 0x07, 0x00, 0x00, 0x00, 0x54, 0xae, 0x03, 0x01, 0x7c, 0x26, 0xf3, 0x71, \
	0x01, 0x00
#define BLOB_ID_LE 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01      /* 0x0123456789ABCDEF */

/* Firmware Update Firmware Metadata Check: opcode 0x830A -> 83 0a; image index 0; the 18 bytes of metadata. */
static const uint8_t metadata_check[] = { 0x83, 0x0a, 0x00, METADATA };

/* The same without metadata (0 bytes is allowed): image index 1. */
static const uint8_t metadata_check_empty[] = { 0x83, 0x0a, 0x01 };

/* Firmware Update Firmware Metadata Status: opcode 0x830B; status Success (0) in bits 0..2, Additional Information
 * 3 (Unprovision) in bits 3..7 -> 3 << 3 = 18; image index 0 -> 00. */
static const uint8_t metadata_status[] = { 0x83, 0x0b, 0x18, 0x00 };

/* Metadata Status: Wrong Firmware Index (4), effect 0 -> 04; image index 5. */
static const uint8_t metadata_status_bad_index[] = { 0x83, 0x0b, 0x04, 0x05 };

/* Firmware Update Get / Cancel / Apply: opcodes 0x830C, 0x830E, 0x830F, no parameters. */
static const uint8_t update_get[] = { 0x83, 0x0c };
static const uint8_t update_cancel[] = { 0x83, 0x0e };
static const uint8_t update_apply[] = { 0x83, 0x0f };

/* Firmware Update Start: opcode 0x830D; Update TTL 7 -> 07; Timeout Base 10 -> 0a 00; BLOB ID -> ef cd ab 89 67 45
 * 23 01; image index 0 -> 00; the metadata.  2 + 12 + 18 = 32 bytes. */
static const uint8_t update_start[] = { 0x83, 0x0d, 0x07, 0x0a, 0x00, BLOB_ID_LE, 0x00, METADATA };

/* Firmware Update Start without metadata: TTL 0 (0x00 is a valid TTL), Timeout Base 0xFFFF -> ff ff, image 2. */
static const uint8_t update_start_empty[] = { 0x83, 0x0d, 0x00, 0xff, 0xff, BLOB_ID_LE, 0x02 };

/* Firmware Update Status, phase Idle: opcode 0x8310; status Success (0), phase Idle (0) in bits 5..7 -> 00. Idle:
 * nothing else. */
static const uint8_t status_idle[] = { 0x83, 0x10, 0x00 };

/* Firmware Update Status, Wrong Phase (2) + Idle: what a Target answers to Apply after it rebooted -> 02. */
static const uint8_t status_wrong_phase_idle[] = { 0x83, 0x10, 0x02 };

/* Firmware Update Status, Transfer Active: status 0 | phase 2 << 5 = 40; TTL 7; effect None -> 00; Timeout Base 10
 * -> 0a 00; BLOB ID; image index 0.  2 + 14 = 16 bytes. */
static const uint8_t status_active[] = { 0x83, 0x10, 0x40, 0x07, 0x00, 0x0a, 0x00, BLOB_ID_LE, 0x00 };

/* Firmware Update Status, Applying: status 0 | phase 6 << 5 = c0; TTL 5; effect Unprovision -> 03; TB 0; image 1. */
static const uint8_t status_applying[] = { 0x83, 0x10, 0xc0, 0x05, 0x03, 0x00, 0x00, BLOB_ID_LE, 0x01 };

/* Firmware Update Status, BLOB Transfer Busy (7) | Transfer Error (1) << 5 = 27; TTL 0x7f; effect 2; TB 0x0102 ->
 * 02 01; image 0. */
static const uint8_t status_busy[] = { 0x83, 0x10, 0x27, 0x7f, 0x02, 0x02, 0x01, BLOB_ID_LE, 0x00 };

struct sample {
	const char *name;
	const uint8_t *bytes;
	size_t len;
	uint32_t opcode;
	size_t min_len;         /* 0: fixed length; else the message ends in a byte string and decodes from here on */
};

#define SAMPLE(v, op, min) { #v, v, sizeof(v), op, min }

static const struct sample samples[] = {
	SAMPLE(info_get, MA_OP_FW_INFO_GET, 0),
	SAMPLE(metadata_check, MD_OP_METADATA_CHECK, 3),
	SAMPLE(metadata_check_empty, MD_OP_METADATA_CHECK, 3),
	SAMPLE(metadata_status, MD_OP_METADATA_STATUS, 0),
	SAMPLE(metadata_status_bad_index, MD_OP_METADATA_STATUS, 0),
	SAMPLE(update_get, MD_OP_UPDATE_GET, 0),
	SAMPLE(update_cancel, MD_OP_UPDATE_CANCEL, 0),
	SAMPLE(update_apply, MD_OP_UPDATE_APPLY, 0),
	SAMPLE(update_start, MD_OP_UPDATE_START, 14),
	SAMPLE(update_start_empty, MD_OP_UPDATE_START, 14),
	SAMPLE(status_idle, MD_OP_UPDATE_STATUS, 0),
	SAMPLE(status_wrong_phase_idle, MD_OP_UPDATE_STATUS, 0),
	SAMPLE(status_active, MD_OP_UPDATE_STATUS, 0),
	SAMPLE(status_applying, MD_OP_UPDATE_STATUS, 0),
	SAMPLE(status_busy, MD_OP_UPDATE_STATUS, 0),
};

/* ---------------------------------------------------------------- every sample */

static void check_sample(const struct sample *s)
{
	struct md_msg m, m2;
	uint8_t out[MA_PAYLOAD_MAX + 8], longer[MA_PAYLOAD_MAX + 8];
	size_t len = 0;
	enum ma_status st = md_decode(s->bytes, s->len, &m);

	is_status(st, MA_OK, "%s: decodes", s->name);
	is_int(m.opcode, s->opcode, "%s: opcode", s->name);
	ok(strcmp(md_opcode_to_string(m.opcode), "unknown") != 0, "%s: named", s->name);
	is_status(md_encode(&m, out, sizeof(out), &len), MA_OK, "%s: encodes", s->name);
	is_bytes(out, len, s->bytes, s->len, s->name);
	is_status(md_decode(out, len, &m2), MA_OK, "%s: decodes its own encoding", s->name);

	for (size_t cap = 0; cap < s->len; cap++) {
		size_t untouched = 12345;

		if (md_encode(&m, out, cap, &untouched) != MA_NO_SPACE || untouched != 12345) {
			ok(0, "%s: encoding into %zu bytes gives NO_SPACE", s->name, cap);
			return;
		}
	}
	ok(1, "%s: encoding into every smaller buffer gives NO_SPACE, ret_len untouched", s->name);

	for (size_t cut = 0; cut < s->len; cut++) {
		enum ma_status want = cut < 2 ? MA_BAD_OPCODE : s->min_len && cut >= s->min_len ? MA_OK : MA_TRUNCATED;

		m2.opcode = 0xdead;
		st = decode_copy(s->bytes, cut, &m2);
		is_status(st, want, "%s cut to %zu bytes", s->name, cut);
		if (st != MA_OK)
			is_int(m2.opcode, 0xdead, "%s cut to %zu bytes: ret untouched", s->name, cut);
	}
	memcpy(longer, s->bytes, s->len);
	longer[s->len] = 0x00;
	is_status(decode_copy(longer, s->len + 1, &m2), s->min_len ? MA_OK : MA_TOO_LONG, "%s + 1 byte", s->name);
}

static void test_samples(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(samples); i++)
		check_sample(&samples[i]);
}

/* ---------------------------------------------------------------- fields */

static void test_fields(void)
{
	static const uint8_t metadata[] = { METADATA };
	struct md_msg m;

	md_decode(metadata_check, sizeof(metadata_check), &m);
	ok(m.u.metadata_check.image_index == 0 && m.u.metadata_check.metadata_len == sizeof(metadata) &&
	   m.u.metadata_check.metadata == metadata_check + 3, "Metadata Check: index, metadata borrowed");
	is_bytes(m.u.metadata_check.metadata, m.u.metadata_check.metadata_len, metadata, sizeof(metadata), "metadata");

	md_decode(metadata_status, sizeof(metadata_status), &m);
	ok(m.u.metadata_status.status == MD_SUCCESS && m.u.metadata_status.effect == MD_EFFECT_UNPROVISION &&
	   m.u.metadata_status.image_index == 0, "Metadata Status: Success, Unprovision, image 0");
	md_decode(metadata_status_bad_index, sizeof(metadata_status_bad_index), &m);
	ok(m.u.metadata_status.status == MD_WRONG_FIRMWARE_INDEX && m.u.metadata_status.effect == MD_EFFECT_NONE &&
	   m.u.metadata_status.image_index == 5, "Metadata Status: Wrong Firmware Index");

	md_decode(update_start, sizeof(update_start), &m);
	ok(m.u.start.ttl == 7 && m.u.start.timeout_base == 10 && m.u.start.blob_id == 0x0123456789ABCDEFull &&
	   m.u.start.image_index == 0 && m.u.start.metadata_len == 18 && m.u.start.metadata == update_start + 14,
	   "Start fields");
	md_decode(update_start_empty, sizeof(update_start_empty), &m);
	ok(m.u.start.ttl == 0 && m.u.start.timeout_base == 0xffff && m.u.start.image_index == 2 &&
	   m.u.start.metadata_len == 0, "Start without metadata");

	md_decode(status_idle, sizeof(status_idle), &m);
	ok(m.u.status.status == MD_SUCCESS && m.u.status.phase == MD_PHASE_IDLE && m.u.status.ttl == 0 &&
	   m.u.status.blob_id == 0, "Status Idle: no tail");
	md_decode(status_wrong_phase_idle, sizeof(status_wrong_phase_idle), &m);
	ok(m.u.status.status == MD_WRONG_PHASE && m.u.status.phase == MD_PHASE_IDLE, "Status Wrong Phase + Idle");
	md_decode(status_active, sizeof(status_active), &m);
	ok(m.u.status.status == MD_SUCCESS && m.u.status.phase == MD_PHASE_TRANSFER_ACTIVE && m.u.status.ttl == 7 &&
	   m.u.status.effect == MD_EFFECT_NONE && m.u.status.timeout_base == 10 &&
	   m.u.status.blob_id == 0x0123456789ABCDEFull && m.u.status.image_index == 0, "Status Transfer Active");
	md_decode(status_applying, sizeof(status_applying), &m);
	ok(m.u.status.phase == MD_PHASE_APPLYING && m.u.status.effect == MD_EFFECT_UNPROVISION &&
	   m.u.status.image_index == 1, "Status Applying, Unprovision");
	md_decode(status_busy, sizeof(status_busy), &m);
	ok(m.u.status.status == MD_BLOB_TRANSFER_BUSY && m.u.status.phase == MD_PHASE_TRANSFER_ERROR &&
	   m.u.status.ttl == 0x7f && m.u.status.effect == MD_EFFECT_COMP_CHANGE_RPR && m.u.status.timeout_base == 0x0102,
	   "Status BLOB Transfer Busy, Transfer Error");

	/* Information Get/Status go through mesh_access.c: the same structs, the same verdicts */
	md_decode(info_get, sizeof(info_get), &m);
	ok(m.u.info_get.first_index == 0 && m.u.info_get.entries_limit == 1, "Information Get via mesh_access");
	is_status(md_decode(info_status, sizeof(info_status), &m), MA_OK, "Information Status via mesh_access");
	{
		struct ma_fw_iter it;
		struct ma_fw_entry e;
		uint8_t out[64];
		size_t len = 0;

		ok(m.u.info.list_count == 1 && m.u.info.entry_count == 1, "one entry");
		ma_fw_iter_init(&it, &m.u.info);
		ok(ma_fw_next_entry(&it, &e) && e.fwid_len == 3 && memcmp(e.fwid, "\x59\x00\x01", 3) == 0 && e.uri_len == 0,
		   "its FWID");
		is_status(md_encode(&m, out, sizeof(out), &len), MA_OK, "re-encodes");
		is_bytes(out, len, info_status, sizeof(info_status), "Information Status bytes");
		is_status(decode_copy(info_status, sizeof(info_status) - 1, &m), MA_TRUNCATED, "entry cut short");
	}
	{
		/* List Count 0 with an entry: mesh_access.c's own refusal comes through */
		static const uint8_t bad[] = { 0x83, 0x09, 0x00, 0x00, 0x03, 0x59, 0x00, 0x01, 0x00 };

		is_status(decode_copy(bad, sizeof(bad), &m), MA_BAD_COUNT, "Information Status with too many entries");
	}
}

/* ---------------------------------------------------------------- rules */

static void test_rules(void)
{
	static uint8_t meta[MD_METADATA_MAX + 1];
	uint8_t buf[MA_PAYLOAD_MAX], out[MA_PAYLOAD_MAX];
	struct md_msg m;
	size_t len;

	/* Update Status: the tail travels exactly when the phase is not Idle */
	memcpy(buf, status_active, sizeof(status_active));
	buf[2] = 0x00;                                  /* Idle with a 13-byte tail */
	is_status(decode_copy(buf, sizeof(status_active), &m), MA_TOO_LONG, "Idle Status with a tail");
	for (unsigned phase = 1; phase < 8; phase++) {
		buf[2] = (uint8_t)(phase << 5);
		is_status(decode_copy(buf, 3, &m), MA_TRUNCATED, "phase %u without the tail", phase);
		is_status(decode_copy(buf, sizeof(status_active), &m), MA_OK, "phase %u with the tail", phase);
	}
	buf[2] = 0x18 | 0x40;                           /* RFU bits 3..4 set: kept */
	buf[4] = 0xe1;                                  /* effect 1, RFU bits 5..7 set: kept */
	is_status(md_decode(buf, sizeof(status_active), &m), MA_OK, "Status with RFU bits");
	ok(m.u.status.rfu == 3 && m.u.status.effect == 1 && m.u.status.effect_rfu == 7, "RFU bits kept apart");
	md_encode(&m, out, sizeof(out), &len);
	is_bytes(out, len, buf, sizeof(status_active), "and re-encoded");

	{
		struct md_msg s = { .opcode = MD_OP_UPDATE_STATUS, .u.status = { .status = MD_SUCCESS,
									     .phase = MD_PHASE_IDLE, .ttl = 9,
									     .blob_id = 5 } };

		is_status(md_encode(&s, out, sizeof(out), &len), MA_OK, "encoder: Idle");
		is_bytes(out, len, status_idle, sizeof(status_idle), "Idle: the tail left out");
		s.u.status.phase = MD_PHASE_VERIFYING;
		is_status(md_encode(&s, out, sizeof(out), &len), MA_OK, "encoder: Verifying");
		is_int(len, 16, "Verifying: 16 bytes");
		s.u.status.phase = MD_PHASE_APPLY_SUCCESS;     /* a Receivers List value: no room in 3 bits */
		is_status(md_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: phase 8");
		s.u.status.phase = MD_PHASE_APPLYING;
		s.u.status.status = 8;
		is_status(md_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: status 8");
		s.u.status.status = MD_SUCCESS;
		s.u.status.effect = 32;
		is_status(md_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: effect 32");
		s.u.status.effect = 31;
		s.u.status.effect_rfu = 8;
		is_status(md_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: effect RFU wider than 3 bits");
		s.u.status.effect_rfu = 0;
		s.u.status.rfu = 4;
		is_status(md_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: RFU wider than 2 bits");
	}
	{
		struct md_msg s = { .opcode = MD_OP_METADATA_STATUS, .u.metadata_status = { .status = 8 } };

		is_status(md_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: Metadata Status status 8");
		s.u.metadata_status.status = MD_METADATA_CHECK_FAILED;
		s.u.metadata_status.effect = 32;
		is_status(md_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: effect 32");
		s.u.metadata_status.effect = 31;                /* RFU values are the node's business: kept */
		is_status(md_encode(&s, out, sizeof(out), &len), MA_OK, "encoder: effect 31");
		is_int(out[2], 0xfd, "5 | 31 << 3");
	}

	/* metadata: 0..255 bytes in Metadata Check and Start */
	{
		struct md_msg c = { .opcode = MD_OP_METADATA_CHECK,
				    .u.metadata_check = { .image_index = 0, .metadata = meta, .metadata_len = 255 } };
		struct md_msg s = { .opcode = MD_OP_UPDATE_START,
				    .u.start = { .ttl = 3, .blob_id = 1, .metadata = meta, .metadata_len = 255 } };

		is_status(md_encode(&c, out, sizeof(out), &len), MA_OK, "Metadata Check with 255 bytes");
		is_int(len, 2 + 1 + 255, "258 bytes");
		is_status(decode_copy(out, len, &m), MA_OK, "decodes");
		out[len] = 0;
		is_status(decode_copy(out, len + 1, &m), MA_TOO_LONG, "256 bytes of metadata");
		c.u.metadata_check.metadata_len = 256;
		is_status(md_encode(&c, out, sizeof(out), &len), MA_TOO_LONG, "encoder: 256 bytes");
		is_status(md_encode(&s, out, sizeof(out), &len), MA_OK, "Start with 255 bytes");
		is_int(len, 2 + 12 + 255, "269 bytes");
		is_status(decode_copy(out, len, &m), MA_OK, "decodes");
		out[len] = 0;
		is_status(decode_copy(out, len + 1, &m), MA_TOO_LONG, "Start with 256 bytes");
		s.u.start.metadata_len = 256;
		is_status(md_encode(&s, out, sizeof(out), &len), MA_TOO_LONG, "encoder: 256 bytes");
	}
	{
		static uint8_t big[MA_PAYLOAD_MAX + 1];

		big[0] = 0x83;
		big[1] = 0x0c;
		is_status(decode_copy(big, sizeof(big), &m), MA_TOO_LONG, "381-byte payload");
	}

	/* opcodes this codec does not handle, both ways */
	{
		static const uint8_t blob_get[] = { 0x83, 0x00 }, dist_get[] = { 0x83, 0x18 }, empty[] = { 0 };
		uint8_t op_len_1[] = { 0x66, 0x00, 0x00, 0x01 };

		m.opcode = 0xdead;
		is_status(md_decode(blob_get, sizeof(blob_get), &m), MA_UNKNOWN_OPCODE, "BLOB Transfer Get is not FU");
		is_status(md_decode(dist_get, sizeof(dist_get), &m), MA_UNKNOWN_OPCODE, "Distribution Get is not FU");
		is_status(md_decode(op_len_1, sizeof(op_len_1), &m), MA_UNKNOWN_OPCODE, "a chunk is not FU");
		is_status(md_decode(empty, 0, &m), MA_BAD_OPCODE, "empty payload");
		is_status(md_decode(blob_get, 1, &m), MA_BAD_OPCODE, "opcode cut short");
		is_int(m.opcode, 0xdead, "ret untouched");
		m.opcode = MB_OP_XFER_GET;
		is_status(md_encode(&m, out, sizeof(out), &len), MA_UNKNOWN_OPCODE, "encoder: BLOB opcode");
		m.opcode = 0x7f;
		is_status(md_encode(&m, out, sizeof(out), &len), MA_BAD_OPCODE, "encoder: RFU opcode");
		/* a BLOB message decoded by md_decode() and a FU one by mb_decode() are both refused: a caller tries one
		 * codec after the other */
		{
			struct mb_msg b;

			is_status(mb_decode(status_active, sizeof(status_active), &b), MA_UNKNOWN_OPCODE,
				  "mb_decode(Firmware Update Status)");
			is_status(mb_decode(info_status, sizeof(info_status), &b), MA_UNKNOWN_OPCODE,
				  "mb_decode(Information Status)");
		}
	}
}

/* ---------------------------------------------------------------- names */

static void test_names(void)
{
	is_str(md_status_to_string(MD_SUCCESS), "Success", "status 0");
	is_str(md_status_to_string(MD_METADATA_CHECK_FAILED), "Metadata Check Failed", "status 5");
	is_str(md_status_to_string(MD_BLOB_TRANSFER_BUSY), "BLOB Transfer Busy", "status 7");
	is_str(md_status_to_string(8), "unknown", "status 8");
	for (unsigned i = 0; i <= MD_PHASE_UNKNOWN; i++)
		ok(strcmp(md_phase_to_string(i), "unknown") != 0, "phase %u named", i);
	is_str(md_phase_to_string(MD_PHASE_IDLE), "Idle", "phase 0");
	is_str(md_phase_to_string(MD_PHASE_VERIFICATION_SUCCEEDED), "Verification Succeeded", "phase 4");
	is_str(md_phase_to_string(MD_PHASE_APPLYING), "Applying Update", "phase 6");
	is_str(md_phase_to_string(MD_PHASE_UNKNOWN), "Unknown", "phase 10 (Receivers List)");
	is_str(md_phase_to_string(11), "unknown", "phase 11");
	is_str(md_effect_to_string(MD_EFFECT_NONE), "No Change", "effect 0");
	is_str(md_effect_to_string(MD_EFFECT_UNPROVISION), "Unprovisioned", "effect 3");
	is_str(md_effect_to_string(4), "unknown", "effect 4");
	is_str(md_opcode_to_string(MD_OP_UPDATE_START), "Firmware Update Start", "0x830D");
	is_str(md_opcode_to_string(MA_OP_FW_INFO_STATUS), "Firmware Update Information Status", "0x8309");
	is_str(md_opcode_to_string(MB_OP_XFER_GET), "unknown", "0x8300");
}

int main(void)
{
	test_samples();
	test_fields();
	test_rules();
	test_names();
	return done_testing();
}
