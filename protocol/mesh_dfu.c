/* mesh_dfu: see mesh_dfu.h. The same shape as mesh_access.c and mesh_blob.c: get_*() checks the length and reads,
 * put_*() checks the fields and writes, one check_*() per rule for both; Information Get/Status go to ma_decode() /
 * ma_encode() so that codec stays the only one. */
#include "bytes.h"
#include "mesh_dfu.h"

enum {
	METADATA_CHECK_HEAD = 1,        /* image index; then the metadata */
	METADATA_STATUS_SIZE = 2,
	START_HEAD = 12,                /* TTL, Timeout Base, BLOB ID, image index; then the metadata */
	STATUS_HEAD = 1,
	STATUS_FULL = 14,               /* + TTL, effect, Timeout Base, BLOB ID, image index */
	STATUS_MASK = 0x07,             /* status: bits 0..2 of the first byte (both Status messages) */
	EFFECT_SHIFT = 3,               /* Metadata Status: effect in bits 3..7 */
	EFFECT_MASK = 0x1F,
	RFU_SHIFT = 3,                  /* Update Status: bits 3..4 RFU */
	RFU_MASK = 0x03,
	PHASE_SHIFT = 5,                /* Update Status: phase in bits 5..7 */
	PHASE_MASK = 0x07,
	EFFECT_RFU_SHIFT = 5,           /* Update Status: effect byte, bits 5..7 RFU */
	EFFECT_RFU_MASK = 0x07,
};

static enum ma_status exact_len(size_t have, size_t want)
{
	if (have < want)
		return MA_TRUNCATED;
	return have > want ? MA_TOO_LONG : MA_OK;
}

/* --- rules shared by the decoder and the encoder --- */

static enum ma_status check_metadata(size_t len)
{
	return len > MD_METADATA_MAX ? MA_TOO_LONG : MA_OK;
}

static enum ma_status check_metadata_status(const struct md_metadata_status *s)
{
	return s->status > STATUS_MASK || s->effect > EFFECT_MASK ? MA_BAD_VALUE : MA_OK;
}

static enum ma_status check_update_status(const struct md_update_status *s)
{
	if (s->status > STATUS_MASK || s->rfu > RFU_MASK || s->phase > PHASE_MASK)
		return MA_BAD_VALUE;
	if (s->phase != MD_PHASE_IDLE && (s->effect > EFFECT_MASK || s->effect_rfu > EFFECT_RFU_MASK))
		return MA_BAD_VALUE;
	return MA_OK;
}

/* --- get_*(): r holds the parameters (opcode excluded) --- */

static enum ma_status get_metadata_check(struct reader *r, struct md_msg *m)
{
	struct md_metadata_check *c = &m->u.metadata_check;

	if (reader_left(r) < METADATA_CHECK_HEAD)
		return MA_TRUNCATED;
	c->image_index = get_u8(r);
	c->metadata = get_rest(r, &c->metadata_len);
	return check_metadata(c->metadata_len);
}

static enum ma_status get_metadata_status(struct reader *r, struct md_msg *m)
{
	struct md_metadata_status *s = &m->u.metadata_status;
	enum ma_status st = exact_len(reader_left(r), METADATA_STATUS_SIZE);
	uint8_t b0;

	if (st != MA_OK)
		return st;
	b0 = get_u8(r);
	s->status = b0 & STATUS_MASK;
	s->effect = (uint8_t)(b0 >> EFFECT_SHIFT);
	s->image_index = get_u8(r);
	return MA_OK;
}

static enum ma_status get_start(struct reader *r, struct md_msg *m)
{
	struct md_start *s = &m->u.start;

	if (reader_left(r) < START_HEAD)
		return MA_TRUNCATED;
	s->ttl = get_u8(r);
	s->timeout_base = get_le16(r);
	s->blob_id = get_le64(r);
	s->image_index = get_u8(r);
	s->metadata = get_rest(r, &s->metadata_len);
	return check_metadata(s->metadata_len);
}

static enum ma_status get_update_status(struct reader *r, struct md_msg *m)
{
	struct md_update_status *s = &m->u.status;
	uint8_t b0;
	enum ma_status st;

	if (reader_left(r) < STATUS_HEAD)
		return MA_TRUNCATED;
	b0 = get_u8(r);
	s->status = b0 & STATUS_MASK;
	s->rfu = (b0 >> RFU_SHIFT) & RFU_MASK;
	s->phase = (uint8_t)(b0 >> PHASE_SHIFT);
	st = exact_len(r->len, s->phase == MD_PHASE_IDLE ? STATUS_HEAD : STATUS_FULL);
	if (st != MA_OK || s->phase == MD_PHASE_IDLE)
		return st;
	s->ttl = get_u8(r);
	b0 = get_u8(r);
	s->effect = b0 & EFFECT_MASK;
	s->effect_rfu = (uint8_t)(b0 >> EFFECT_RFU_SHIFT);
	s->timeout_base = get_le16(r);
	s->blob_id = get_le64(r);
	s->image_index = get_u8(r);
	return MA_OK;
}

/* Information Get/Status through mesh_access.c. */
static enum ma_status get_info(const uint8_t *payload, size_t len, struct md_msg *m)
{
	struct ma_msg am;
	enum ma_status st = ma_decode(payload, len, &am);

	if (st != MA_OK)
		return st;
	if (am.opcode == MA_OP_FW_INFO_GET)
		m->u.info_get = am.u.fw_info_get;
	else
		m->u.info = am.u.fw_info;
	return MA_OK;
}

enum ma_status md_decode(const uint8_t *payload, size_t len, struct md_msg *ret)
{
	uint32_t opcode = 0;
	size_t n = ma_opcode_decode(payload, len, &opcode);
	struct reader r;
	struct md_msg m = { .opcode = opcode };     /* zeroed: fields a message lacks read as 0 */
	enum ma_status st;

	if (n == 0)
		return MA_BAD_OPCODE;
	if (len > MA_PAYLOAD_MAX)
		return MA_TOO_LONG;
	r = (struct reader){ payload + n, len - n, 0 };
	switch (opcode) {
	case MA_OP_FW_INFO_GET:
	case MA_OP_FW_INFO_STATUS:
		st = get_info(payload, len, &m);
		break;
	case MD_OP_METADATA_CHECK:
		st = get_metadata_check(&r, &m);
		break;
	case MD_OP_METADATA_STATUS:
		st = get_metadata_status(&r, &m);
		break;
	case MD_OP_UPDATE_GET:
	case MD_OP_UPDATE_CANCEL:
	case MD_OP_UPDATE_APPLY:
		st = exact_len(reader_left(&r), 0);
		break;
	case MD_OP_UPDATE_START:
		st = get_start(&r, &m);
		break;
	case MD_OP_UPDATE_STATUS:
		st = get_update_status(&r, &m);
		break;
	default:
		return MA_UNKNOWN_OPCODE;
	}
	if (st == MA_OK)
		*ret = m;
	return st;
}

/* --- put_*(): check, then write the parameters; the caller checks the writer --- */

static enum ma_status put_metadata_check(struct writer *w, const struct md_metadata_check *c)
{
	enum ma_status st = check_metadata(c->metadata_len);

	if (st != MA_OK)
		return st;
	put_u8(w, c->image_index);
	put_bytes(w, c->metadata, c->metadata_len);
	return MA_OK;
}

static enum ma_status put_metadata_status(struct writer *w, const struct md_metadata_status *s)
{
	enum ma_status st = check_metadata_status(s);

	if (st != MA_OK)
		return st;
	put_u8(w, (uint8_t)(s->status | (s->effect << EFFECT_SHIFT)));
	put_u8(w, s->image_index);
	return MA_OK;
}

static enum ma_status put_start(struct writer *w, const struct md_start *s)
{
	enum ma_status st = check_metadata(s->metadata_len);

	if (st != MA_OK)
		return st;
	put_u8(w, s->ttl);
	put_le16(w, s->timeout_base);
	put_le64(w, s->blob_id);
	put_u8(w, s->image_index);
	put_bytes(w, s->metadata, s->metadata_len);
	return MA_OK;
}

static enum ma_status put_update_status(struct writer *w, const struct md_update_status *s)
{
	enum ma_status st = check_update_status(s);

	if (st != MA_OK)
		return st;
	put_u8(w, (uint8_t)(s->status | (s->rfu << RFU_SHIFT) | (s->phase << PHASE_SHIFT)));
	if (s->phase == MD_PHASE_IDLE)
		return MA_OK;
	put_u8(w, s->ttl);
	put_u8(w, (uint8_t)(s->effect | (s->effect_rfu << EFFECT_RFU_SHIFT)));
	put_le16(w, s->timeout_base);
	put_le64(w, s->blob_id);
	put_u8(w, s->image_index);
	return MA_OK;
}

static enum ma_status put_info(const struct md_msg *m, uint8_t *out, size_t cap, size_t *ret_len)
{
	struct ma_msg am = { .opcode = m->opcode };

	if (m->opcode == MA_OP_FW_INFO_GET)
		am.u.fw_info_get = m->u.info_get;
	else
		am.u.fw_info = m->u.info;
	return ma_encode(&am, out, cap, ret_len);
}

enum ma_status md_encode(const struct md_msg *m, uint8_t *out, size_t cap, size_t *ret_len)
{
	struct writer w = { out, cap, 0, false };
	uint8_t op[3];
	size_t op_len = ma_opcode_encode(m->opcode, op, sizeof(op));
	enum ma_status st;

	if (op_len == 0)
		return MA_BAD_OPCODE;
	put_bytes(&w, op, op_len);
	switch (m->opcode) {
	case MA_OP_FW_INFO_GET:
	case MA_OP_FW_INFO_STATUS:
		return put_info(m, out, cap, ret_len);
	case MD_OP_METADATA_CHECK:
		st = put_metadata_check(&w, &m->u.metadata_check);
		break;
	case MD_OP_METADATA_STATUS:
		st = put_metadata_status(&w, &m->u.metadata_status);
		break;
	case MD_OP_UPDATE_GET:
	case MD_OP_UPDATE_CANCEL:
	case MD_OP_UPDATE_APPLY:
		st = MA_OK;
		break;
	case MD_OP_UPDATE_START:
		st = put_start(&w, &m->u.start);
		break;
	case MD_OP_UPDATE_STATUS:
		st = put_update_status(&w, &m->u.status);
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

const char *md_opcode_to_string(uint32_t opcode)
{
	switch (opcode) {
	case MA_OP_FW_INFO_GET:
	case MA_OP_FW_INFO_STATUS:
		return ma_opcode_to_string(opcode);
	case MD_OP_METADATA_CHECK:
		return "Firmware Update Firmware Metadata Check";
	case MD_OP_METADATA_STATUS:
		return "Firmware Update Firmware Metadata Status";
	case MD_OP_UPDATE_GET:
		return "Firmware Update Get";
	case MD_OP_UPDATE_START:
		return "Firmware Update Start";
	case MD_OP_UPDATE_CANCEL:
		return "Firmware Update Cancel";
	case MD_OP_UPDATE_APPLY:
		return "Firmware Update Apply";
	case MD_OP_UPDATE_STATUS:
		return "Firmware Update Status";
	default:
		return "unknown";
	}
}

const char *md_status_to_string(unsigned status)
{
	switch ((enum md_status)status) {
	case MD_SUCCESS:
		return "Success";
	case MD_INSUFFICIENT_RESOURCES:
		return "Insufficient Resources";
	case MD_WRONG_PHASE:
		return "Wrong Phase";
	case MD_INTERNAL_ERROR:
		return "Internal Error";
	case MD_WRONG_FIRMWARE_INDEX:
		return "Wrong Firmware Index";
	case MD_METADATA_CHECK_FAILED:
		return "Metadata Check Failed";
	case MD_TEMPORARILY_UNAVAILABLE:
		return "Temporarily Unavailable";
	case MD_BLOB_TRANSFER_BUSY:
		return "BLOB Transfer Busy";
	}
	return "unknown";
}

const char *md_phase_to_string(unsigned phase)
{
	switch ((enum md_phase)phase) {
	case MD_PHASE_IDLE:
		return "Idle";
	case MD_PHASE_TRANSFER_ERROR:
		return "Transfer Error";
	case MD_PHASE_TRANSFER_ACTIVE:
		return "Transfer Active";
	case MD_PHASE_VERIFYING:
		return "Verifying Update";
	case MD_PHASE_VERIFICATION_SUCCEEDED:
		return "Verification Succeeded";
	case MD_PHASE_VERIFICATION_FAILED:
		return "Verification Failed";
	case MD_PHASE_APPLYING:
		return "Applying Update";
	case MD_PHASE_TRANSFER_CANCELED:
		return "Transfer Canceled";
	case MD_PHASE_APPLY_SUCCESS:
		return "Apply Success";
	case MD_PHASE_APPLY_FAILED:
		return "Apply Failed";
	case MD_PHASE_UNKNOWN:
		return "Unknown";
	}
	return "unknown";
}

const char *md_effect_to_string(unsigned effect)
{
	switch ((enum md_effect)effect) {
	case MD_EFFECT_NONE:
		return "No Change";
	case MD_EFFECT_COMP_CHANGE_NO_RPR:
		return "Composition Data Change, No Remote Provisioning";
	case MD_EFFECT_COMP_CHANGE_RPR:
		return "Composition Data Change, Remote Provisioning";
	case MD_EFFECT_UNPROVISION:
		return "Unprovisioned";
	}
	return "unknown";
}
