/* Unit tests for protocol/mesh_access.c: access opcodes, the Configuration messages of fleet inventory, Composition
 * Data page 0 and Firmware Update Information, with vectors worked out by hand from the specification tables (each
 * derivation is in the comment above its bytes), round trips, and every way a payload can be malformed.
 *
 * Every decode of a cut or padded payload runs on an exactly-sized heap copy, so ASan reports any read past it. */
#include <stdlib.h>

#include "mesh_access.h"
#include "mesh_vectors.h"
#include "tap.h"

/* ma_decode() on an exact heap copy of @p[0..len), freed on return: only for the verdict and the copied fields,
 * never for borrowed pointers. */
static enum ma_status decode_copy(const uint8_t *p, size_t len, struct ma_msg *ret)
{
	uint8_t *copy = exact_copy(p, len);
	enum ma_status st = ma_decode(copy, len, ret);

	free(copy);
	return st;
}

/* ---------------------------------------------------------------- the vectors */

/* Config Composition Data Get (Mesh Protocol 4.3.4.1): opcode 0x8008 is 2 bytes, sent 80 08; Page = 0. */
static const uint8_t comp_get[] = { 0x80, 0x08, 0x00 };

/* Config Composition Data Status, page 0 (Mesh Protocol 4.2.2.1):
 *   opcode 0x02 (1 byte), Page 00,
 *   CID 0x0059 -> 59 00, PID 0x1234 -> 34 12, VID 0x0102 -> 02 01, CRPL 40 = 0x0028 -> 28 00,
 *   Features Relay|Proxy|Friend = 0x0007 -> 07 00,
 *   element 0: Loc 0x0000, NumS 4, NumV 1 -> 00 00 04 01,
 *              SIG 0x0000 (Config Server), 0x0002 (Health Server), 0x1400 (BLOB Transfer Server),
 *              0x1402 (Firmware Update Server) -> 00 00 02 00 00 14 02 14,
 *              vendor company 0x0059 model 0x000A -> 59 00 0a 00,
 *   element 1: Loc 0x0001, NumS 1, NumV 0 -> 01 00 01 00, SIG 0x1000 (Generic OnOff Server) -> 00 10.
 * 2 + 10 + 16 + 6 = 34 bytes; element 0 ends at byte 28. */
static const uint8_t comp_status[] = {
	0x02, 0x00,
	0x59, 0x00, 0x34, 0x12, 0x02, 0x01, 0x28, 0x00, 0x07, 0x00,
	0x00, 0x00, 0x04, 0x01, 0x00, 0x00, 0x02, 0x00, 0x00, 0x14, 0x02, 0x14, 0x59, 0x00, 0x0a, 0x00,
	0x01, 0x00, 0x01, 0x00, 0x00, 0x10,
};

/* Config AppKey Add (Mesh Protocol 4.3.2.37): opcode 0x00; NetKeyIndex 0x123 and AppKeyIndex 0x456 packed in 3
 * bytes (4.3.1.1: the first index in the low 12 bits of a 24-bit LE value): 0x456123 -> 23 61 45; then the key. */
static const uint8_t appkey_add[] = {
	0x00, 0x23, 0x61, 0x45,
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
};

/* Config AppKey Status (4.3.2.40): opcode 0x8003 -> 80 03; Status 0x06 Key Index Already Stored; the same packed
 * indexes. */
static const uint8_t appkey_status[] = { 0x80, 0x03, 0x06, 0x23, 0x61, 0x45 };

/* Config Model App Bind (4.3.2.46): opcode 0x803D -> 80 3d; ElementAddress 0x0102 -> 02 01; AppKeyIndex 0x001 ->
 * 01 00; ModelIdentifier SIG 0x1402 (Firmware Update Server) -> 02 14. */
static const uint8_t app_bind[] = { 0x80, 0x3d, 0x02, 0x01, 0x01, 0x00, 0x02, 0x14 };

/* The same for the vendor model company 0x0059, id 0x000A: company first -> 59 00 0a 00. */
static const uint8_t app_bind_vnd[] = { 0x80, 0x3d, 0x02, 0x01, 0x01, 0x00, 0x59, 0x00, 0x0a, 0x00 };

/* Config Model App Status (4.3.2.48): opcode 0x803E -> 80 3e; Status 0x02 Invalid Model; then as in the Bind. */
static const uint8_t app_status[] = { 0x80, 0x3e, 0x02, 0x02, 0x01, 0x01, 0x00, 0x02, 0x14 };

/* Config Model Subscription Add (4.3.2.19): opcode 0x801B -> 80 1b; ElementAddress 0x0102 -> 02 01; Address group
 * 0xC001 -> 01 c0; ModelIdentifier 0x1400 (BLOB Transfer Server) -> 00 14. */
static const uint8_t sub_add[] = { 0x80, 0x1b, 0x02, 0x01, 0x01, 0xc0, 0x00, 0x14 };

/* Config Model Subscription Delete (4.3.2.21): opcode 0x801C, vendor model company 0x0059 id 0x000A. */
static const uint8_t sub_del_vnd[] = { 0x80, 0x1c, 0x02, 0x01, 0x01, 0xc0, 0x59, 0x00, 0x0a, 0x00 };

/* Config Model Subscription Status (4.3.2.26): opcode 0x801F -> 80 1f; Status 0x00; then as in the Add. */
static const uint8_t sub_status[] = { 0x80, 0x1f, 0x00, 0x02, 0x01, 0x01, 0xc0, 0x00, 0x14 };

/* Firmware Update Information Get (MshDFUv1.0 8.4.1.1; mesh-dfu-protocol.md 3.2): opcode 0x8308 -> 83 08; First
 * Index 0; Entries Limit 255 (what Zephyr's client sends in Confirm). */
static const uint8_t fw_get[] = { 0x83, 0x08, 0x00, 0xff };

/* Firmware Update Information Status (8.4.1.2): opcode 0x8309 -> 83 09; List Count 2; First Index 0;
 *   entry 0: FWID = CID 0x0059 + 2.0.0+0 (NCS's 10-byte form, mesh-dfu-protocol.md 5.1) -> 0a 59 00 02 00 00 00 00
 *            00 00 00; no Update URI -> 00;
 *   entry 1: FWID 59 00 01 -> 03 59 00 01; URI "https://x.io/f" (14 bytes) -> 0e 68 74 74 70 73 3a 2f 2f 78 2e 69 6f
 *            2f 66.
 * 4 + 12 + 19 = 35 bytes; entry 0 ends at byte 16. */
static const uint8_t fw_status[] = {
	0x83, 0x09, 0x02, 0x00,
	0x0a, 0x59, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x03, 0x59, 0x00, 0x01, 0x0e, 'h', 't', 't', 'p', 's', ':', '/', '/', 'x', '.', 'i', 'o', '/', 'f',
};

struct sample {
	const char *name;
	const uint8_t *bytes;
	size_t len;
	uint32_t opcode;
};

#define SAMPLE(v, op) { #v, v, sizeof(v), op }

static const struct sample samples[] = {
	SAMPLE(comp_get, MA_OP_COMP_GET),
	SAMPLE(comp_status, MA_OP_COMP_STATUS),
	SAMPLE(appkey_add, MA_OP_APPKEY_ADD),
	SAMPLE(appkey_status, MA_OP_APPKEY_STATUS),
	SAMPLE(app_bind, MA_OP_MODEL_APP_BIND),
	SAMPLE(app_bind_vnd, MA_OP_MODEL_APP_BIND),
	SAMPLE(app_status, MA_OP_MODEL_APP_STATUS),
	SAMPLE(sub_add, MA_OP_MODEL_SUB_ADD),
	SAMPLE(sub_del_vnd, MA_OP_MODEL_SUB_DEL),
	SAMPLE(sub_status, MA_OP_MODEL_SUB_STATUS),
	SAMPLE(fw_get, MA_OP_FW_INFO_GET),
	SAMPLE(fw_status, MA_OP_FW_INFO_STATUS),
};

/* ---------------------------------------------------------------- opcodes */

static void test_opcodes(void)
{
	static const struct {
		uint8_t bytes[3];
		size_t len;
		size_t want_len;
		uint32_t want;
	} cases[] = {
		{ { 0x00 }, 1, 1, 0x00 },
		{ { 0x7e }, 1, 1, 0x7e },
		{ { 0x7f }, 1, 0, 0 },                  /* RFU */
		{ { 0x7f, 0x00, 0x00 }, 3, 0, 0 },      /* RFU, whatever follows */
		{ { 0x80, 0x08 }, 2, 2, 0x8008 },
		{ { 0x80 }, 1, 0, 0 },                  /* 2-byte opcode cut short */
		{ { 0xbf, 0xff }, 2, 2, 0xbfff },
		{ { 0xc1, 0x59, 0x00 }, 3, 3, 0xc10059 },       /* vendor opcode 0x01 of company 0x0059 */
		{ { 0xc1, 0x59 }, 2, 0, 0 },            /* 3-byte opcode cut short */
		{ { 0xff, 0xff, 0xff }, 3, 3, 0xffffff },
		{ { 0 }, 0, 0, 0 },                     /* empty */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		uint32_t op = 0xdeadbeef;
		size_t n = ma_opcode_decode(cases[i].bytes, cases[i].len, &op);

		is_int(n, cases[i].want_len, "opcode case %zu: length", i);
		is_int(op, n ? cases[i].want : 0xdeadbeef, "opcode case %zu: value (untouched on failure)", i);
	}
	is_int(MA_OP_3(0xc1, 0x0059), 0xc10059, "MA_OP_3 keeps the company id in the low 16 bits");

	/* every first byte: decode then encode gives the same bytes back */
	for (unsigned b0 = 0; b0 < 256; b0++) {
		const uint8_t in[3] = { (uint8_t)b0, 0x34, 0x12 };
		uint8_t out[3] = { 0 };
		uint32_t op = 0;
		size_t n = ma_opcode_decode(in, sizeof(in), &op), m = n ? ma_opcode_encode(op, out, sizeof(out)) : 0;
		size_t want = b0 < 0x7f ? 1 : b0 == 0x7f ? 0 : b0 < 0xc0 ? 2 : 3;

		if (n != want || m != n || memcmp(in, out, n) != 0) {
			ok(0, "opcode round trip for first byte 0x%02x (decoded %zu, encoded %zu bytes)", b0, n, m);
			return;
		}
	}
	ok(1, "opcode round trip for every first byte");

	{
		static const uint32_t bad[] = { 0x7f, 0x80, 0x7fff, 0xc000, 0xbfffff, 0x1000000, 0xffffffff };
		uint8_t out[3];

		for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
			is_int(ma_opcode_encode(bad[i], out, sizeof(out)), 0, "opcode 0x%x has no wire form", bad[i]);
		is_int(ma_opcode_encode(0x8008, out, 1), 0, "2-byte opcode into 1 byte");
		is_int(ma_opcode_encode(0xc10059, out, 2), 0, "3-byte opcode into 2 bytes");
		is_int(ma_opcode_encode(0x02, out, 0), 0, "1-byte opcode into 0 bytes");
	}
}

/* ---------------------------------------------------------------- every sample */

/* Round trip, then every shorter prefix and one byte more, each on an exact heap copy. @cut_status[i] is the verdict
 * expected for the first i bytes; NULL: BAD_OPCODE while the opcode is incomplete, TRUNCATED after. */
static void check_sample(const struct sample *s, const enum ma_status *cut_status)
{
	struct ma_msg m, m2;
	uint8_t out[MA_PAYLOAD_MAX + 8], longer[MA_PAYLOAD_MAX + 8];
	size_t len = 0, opcode_len;
	uint32_t op;
	enum ma_status st = ma_decode(s->bytes, s->len, &m);       /* m borrows from s->bytes */

	opcode_len = ma_opcode_decode(s->bytes, s->len, &op);
	is_status(st, MA_OK, "%s: decodes", s->name);
	is_int(m.opcode, s->opcode, "%s: opcode", s->name);
	is_status(ma_encode(&m, out, sizeof(out), &len), MA_OK, "%s: encodes", s->name);
	is_bytes(out, len, s->bytes, s->len, s->name);

	/* encode(decode()) once more, from the re-encoded bytes */
	is_status(ma_decode(out, len, &m2), MA_OK, "%s: decodes its own encoding", s->name);

	for (size_t cap = 0; cap < s->len; cap++) {
		size_t untouched = 12345;

		if (ma_encode(&m, out, cap, &untouched) != MA_NO_SPACE || untouched != 12345) {
			ok(0, "%s: encoding into %zu bytes gives NO_SPACE", s->name, cap);
			return;
		}
	}
	ok(1, "%s: encoding into every smaller buffer gives NO_SPACE", s->name);

	for (size_t cut = 0; cut < s->len; cut++) {
		enum ma_status want = cut_status ? cut_status[cut] : cut < opcode_len ? MA_BAD_OPCODE : MA_TRUNCATED;

		is_status(decode_copy(s->bytes, cut, &m2), want, "%s cut to %zu bytes", s->name, cut);
	}
	memcpy(longer, s->bytes, s->len);
	longer[s->len] = 0x00;
	st = decode_copy(longer, s->len + 1, &m2);
	if (s->opcode == MA_OP_COMP_STATUS || s->opcode == MA_OP_FW_INFO_STATUS)
		is_status(st, MA_TRUNCATED, "%s + 1 byte: the start of a record cut short", s->name);
	else if (s->opcode != MA_OP_MODEL_APP_BIND && s->opcode != MA_OP_MODEL_APP_STATUS &&
		 s->opcode != MA_OP_MODEL_SUB_ADD && s->opcode != MA_OP_MODEL_SUB_DEL &&
		 s->opcode != MA_OP_MODEL_SUB_STATUS)
		is_status(st, MA_TOO_LONG, "%s + 1 byte", s->name);
	else if (s->len == 8u + (s->opcode == MA_OP_MODEL_APP_STATUS || s->opcode == MA_OP_MODEL_SUB_STATUS))
		is_status(st, MA_TRUNCATED, "%s + 1 byte: a vendor model id cut short", s->name);
	else
		is_status(st, MA_TOO_LONG, "%s + 1 byte", s->name);
	longer[s->len + 1] = 0x00;
	longer[s->len + 2] = 0x00;
	if (s->opcode != MA_OP_COMP_STATUS && s->opcode != MA_OP_FW_INFO_STATUS)
		is_status(decode_copy(longer, s->len + 3, &m2), MA_TOO_LONG, "%s + 3 bytes", s->name);
}

static void test_samples(void)
{
	/* Composition Data Status: cut before the page byte or the 10-byte header -> TRUNCATED; header alone -> no
	 * element; inside element 0 -> TRUNCATED; element 0 whole (28 bytes) -> a valid one-element page 0. */
	enum ma_status comp_cuts[sizeof(comp_status)];
	/* Information Status: header alone (4 bytes) -> valid, no entries; entry 0 whole (16 bytes) -> valid. */
	enum ma_status fw_cuts[sizeof(fw_status)];
	/* a vendor model id cut after 2 of its 4 bytes reads as a whole SIG model id: the message length is the only
	 * thing that tells them apart (Zephyr's get_model() does the same) */
	enum ma_status bind_vnd_cuts[sizeof(app_bind_vnd)], del_vnd_cuts[sizeof(sub_del_vnd)];

	for (size_t i = 0; i < sizeof(comp_status); i++)
		comp_cuts[i] = i == 0 ? MA_BAD_OPCODE : i == 12 ? MA_BAD_COUNT : i == 28 ? MA_OK : MA_TRUNCATED;
	for (size_t i = 0; i < sizeof(fw_status); i++)
		fw_cuts[i] = i < 2 ? MA_BAD_OPCODE : i == 4 || i == 16 ? MA_OK : MA_TRUNCATED;
	for (size_t i = 0; i < sizeof(app_bind_vnd); i++)
		bind_vnd_cuts[i] = i < 2 ? MA_BAD_OPCODE : i == 8 ? MA_OK : MA_TRUNCATED;
	for (size_t i = 0; i < sizeof(sub_del_vnd); i++)
		del_vnd_cuts[i] = i < 2 ? MA_BAD_OPCODE : i == 8 ? MA_OK : MA_TRUNCATED;

	for (size_t i = 0; i < ARRAY_SIZE(samples); i++) {
		const struct sample *s = &samples[i];
		const enum ma_status *cuts = NULL;

		if (s->bytes == comp_status)
			cuts = comp_cuts;
		else if (s->bytes == fw_status)
			cuts = fw_cuts;
		else if (s->bytes == app_bind_vnd)
			cuts = bind_vnd_cuts;
		else if (s->bytes == sub_del_vnd)
			cuts = del_vnd_cuts;
		check_sample(s, cuts);
	}
}

/* ---------------------------------------------------------------- fields of each message */

static void test_config_fields(void)
{
	struct ma_msg m;
	uint8_t out[64];
	size_t len;

	is_status(ma_decode(comp_get, sizeof(comp_get), &m), MA_OK, "Composition Data Get");
	is_int(m.u.comp_page, 0, "page 0");

	is_status(ma_decode(appkey_add, sizeof(appkey_add), &m), MA_OK, "AppKey Add");
	is_int(m.u.appkey.net_key_index, 0x123, "NetKeyIndex from the low 12 bits");
	is_int(m.u.appkey.app_key_index, 0x456, "AppKeyIndex from the high 12 bits");
	is_bytes(m.u.appkey.key, MA_KEY_SIZE, appkey_add + 4, MA_KEY_SIZE, "AppKey");

	/* the extremes of the packing: 0x000/0x000 -> 00 00 00, 0xFFF/0xFFF -> ff ff ff, 0xFFF/0x000 -> ff 0f 00 */
	{
		static const struct {
			uint16_t net, app;
			uint8_t packed[3];
		} pairs[] = {
			{ 0x000, 0x000, { 0x00, 0x00, 0x00 } },
			{ 0xfff, 0xfff, { 0xff, 0xff, 0xff } },
			{ 0xfff, 0x000, { 0xff, 0x0f, 0x00 } },
			{ 0x000, 0xfff, { 0x00, 0xf0, 0xff } },
		};

		for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
			struct ma_msg k = { .opcode = MA_OP_APPKEY_STATUS,
					    .u.appkey = { .status = 0, .net_key_index = pairs[i].net,
							  .app_key_index = pairs[i].app } };

			ma_encode(&k, out, sizeof(out), &len);
			is_bytes(out + 3, len - 3, pairs[i].packed, 3, "key index packing");
			is_status(ma_decode(out, len, &m), MA_OK, "packed pair decodes");
			ok(m.u.appkey.net_key_index == pairs[i].net && m.u.appkey.app_key_index == pairs[i].app,
			   "packed pair 0x%03x/0x%03x comes back", pairs[i].net, pairs[i].app);
		}
	}

	is_status(ma_decode(appkey_status, sizeof(appkey_status), &m), MA_OK, "AppKey Status");
	is_int(m.u.appkey.status, MA_CFG_KEY_INDEX_ALREADY_STORED, "status");
	ok(m.u.appkey.net_key_index == 0x123 && m.u.appkey.app_key_index == 0x456, "indexes");

	is_status(ma_decode(app_bind, sizeof(app_bind), &m), MA_OK, "Model App Bind");
	ok(m.u.model_app.elem_addr == 0x0102 && m.u.model_app.app_key_index == 1 && !m.u.model_app.model.vendor &&
	   m.u.model_app.model.id == MA_MODEL_DFU_SRV && m.u.model_app.model.company == 0, "Bind fields");
	is_status(ma_decode(app_bind_vnd, sizeof(app_bind_vnd), &m), MA_OK, "Model App Bind, vendor model");
	ok(m.u.model_app.model.vendor && m.u.model_app.model.company == 0x0059 && m.u.model_app.model.id == 0x000a,
	   "vendor model id: company then model");
	is_status(ma_decode(app_status, sizeof(app_status), &m), MA_OK, "Model App Status");
	ok(m.u.model_app.status == MA_CFG_INVALID_MODEL && m.u.model_app.elem_addr == 0x0102 &&
	   m.u.model_app.model.id == MA_MODEL_DFU_SRV, "App Status fields");

	is_status(ma_decode(sub_add, sizeof(sub_add), &m), MA_OK, "Model Subscription Add");
	ok(m.u.model_sub.elem_addr == 0x0102 && m.u.model_sub.address == 0xc001 &&
	   m.u.model_sub.model.id == MA_MODEL_BLOB_SRV && !m.u.model_sub.model.vendor, "Sub Add fields");
	is_status(ma_decode(sub_del_vnd, sizeof(sub_del_vnd), &m), MA_OK, "Model Subscription Delete");
	is_int(m.opcode, MA_OP_MODEL_SUB_DEL, "Delete opcode");
	is_status(ma_decode(sub_status, sizeof(sub_status), &m), MA_OK, "Model Subscription Status");
	ok(m.u.model_sub.status == MA_CFG_SUCCESS && m.u.model_sub.address == 0xc001, "Sub Status fields");

	/* a server builds its reply from the decoded request: same fields, a status, the Status opcode */
	ma_decode(sub_add, sizeof(sub_add), &m);
	m.opcode = MA_OP_MODEL_SUB_STATUS;
	m.u.model_sub.status = MA_CFG_SUCCESS;
	ma_encode(&m, out, sizeof(out), &len);
	is_bytes(out, len, sub_status, sizeof(sub_status), "Sub Status built from the decoded Sub Add");

	/* a SIG model's company is ignored by the encoder */
	{
		struct ma_msg b = { .opcode = MA_OP_MODEL_APP_BIND,
				    .u.model_app = { .elem_addr = 0x0102, .app_key_index = 1,
						     .model = { .company = 0x1234, .id = MA_MODEL_DFU_SRV } } };

		is_status(ma_encode(&b, out, sizeof(out), &len), MA_OK, "SIG model with a company set encodes");
		is_bytes(out, len, app_bind, sizeof(app_bind), "... and the company is not written");
	}
}

static void test_config_refusals(void)
{
	struct ma_msg m, untouched;
	uint8_t buf[16];
	uint8_t out[64];
	size_t len;

	/* element addresses must be unicast in requests (Zephyr drops the message): 0x0000, 0x8000 virtual, 0xC000
	 * group, 0xFFFF all-nodes */
	static const uint16_t not_unicast[] = { 0x0000, 0x8000, 0xc000, 0xffff };

	for (size_t i = 0; i < ARRAY_SIZE(not_unicast); i++) {
		memcpy(buf, app_bind, sizeof(app_bind));
		buf[2] = (uint8_t)not_unicast[i];
		buf[3] = (uint8_t)(not_unicast[i] >> 8);
		memset(&untouched, 0xa5, sizeof(untouched));
		memcpy(&m, &untouched, sizeof(m));
		is_status(decode_copy(buf, sizeof(app_bind), &m), MA_BAD_VALUE, "Bind to element 0x%04x",
			  not_unicast[i]);
		ok(memcmp(&m, &untouched, sizeof(m)) == 0, "ret untouched on failure");
		memcpy(buf, sub_add, sizeof(sub_add));
		buf[2] = (uint8_t)not_unicast[i];
		buf[3] = (uint8_t)(not_unicast[i] >> 8);
		is_status(decode_copy(buf, sizeof(sub_add), &m), MA_BAD_VALUE, "Sub Add on element 0x%04x",
			  not_unicast[i]);
		buf[1] = 0x1c;
		is_status(decode_copy(buf, sizeof(sub_add), &m), MA_BAD_VALUE, "Sub Delete on element 0x%04x",
			  not_unicast[i]);
	}
	/* the element 0x7FFF, the highest unicast address, is fine */
	memcpy(buf, app_bind, sizeof(app_bind));
	buf[2] = 0xff;
	buf[3] = 0x7f;
	is_status(decode_copy(buf, sizeof(app_bind), &m), MA_OK, "Bind to element 0x7FFF");

	/* a Status echoes what was asked: its element address is not checked */
	memcpy(buf, sub_status, sizeof(sub_status));
	buf[3] = 0x00;
	buf[4] = 0xc0;
	is_status(decode_copy(buf, sizeof(sub_status), &m), MA_OK, "Sub Status for element 0xC000 decodes");

	/* the subscription address is the server's to judge (it answers Invalid Address) */
	memcpy(buf, sub_add, sizeof(sub_add));
	buf[4] = 0x05;
	buf[5] = 0x00;
	is_status(decode_copy(buf, sizeof(sub_add), &m), MA_OK, "Sub Add of unicast 0x0005 decodes");
	is_int(m.u.model_sub.address, 0x0005, "... with that address");

	/* AppKeyIndex above 0x0FFF in the 16-bit fields of Bind / App Status */
	memcpy(buf, app_bind, sizeof(app_bind));
	buf[5] = 0x10;
	is_status(decode_copy(buf, sizeof(app_bind), &m), MA_BAD_VALUE, "Bind with AppKeyIndex 0x1001");
	memcpy(buf, app_status, sizeof(app_status));
	buf[6] = 0xf0;
	is_status(decode_copy(buf, sizeof(app_status), &m), MA_BAD_VALUE, "App Status with AppKeyIndex 0xF001");

	/* encoders refuse the same */
	{
		struct ma_msg b = { .opcode = MA_OP_MODEL_APP_BIND,
				    .u.model_app = { .elem_addr = 0xc000, .app_key_index = 1,
						     .model = MA_SIG_MODEL(MA_MODEL_DFU_SRV) } };
		struct ma_msg s = { .opcode = MA_OP_MODEL_SUB_ADD,
				    .u.model_sub = { .elem_addr = 0, .address = 0xc001,
						     .model = MA_SIG_MODEL(MA_MODEL_BLOB_SRV) } };
		struct ma_msg k = { .opcode = MA_OP_APPKEY_ADD,
				    .u.appkey = { .net_key_index = 0x1000, .app_key_index = 0 } };

		len = 999;
		is_status(ma_encode(&b, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: Bind to a group element");
		is_int(len, 999, "ret_len untouched");
		b.u.model_app.elem_addr = 0x0102;
		b.u.model_app.app_key_index = 0x1000;
		is_status(ma_encode(&b, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: AppKeyIndex 0x1000");
		is_status(ma_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: Sub Add on element 0");
		s.opcode = MA_OP_MODEL_SUB_DEL;
		is_status(ma_encode(&s, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: Sub Delete on element 0");
		is_status(ma_encode(&k, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: NetKeyIndex 0x1000");
		k.u.appkey.net_key_index = 0;
		k.u.appkey.app_key_index = 0x1000;
		is_status(ma_encode(&k, out, sizeof(out), &len), MA_BAD_VALUE, "encoder: AppKeyIndex 0x1000");
	}
}

static void test_opcode_refusals(void)
{
	static const uint8_t rfu[] = { 0x7f, 0x00 };
	static const uint8_t appkey_delete[] = { 0x80, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t vendor[] = { 0xc1, 0x59, 0x00, 0x01 };
	static const uint8_t blob_chunk[] = { 0x66, 0x00, 0x00, 0xaa };
	struct ma_msg m;
	uint8_t out[16];
	size_t len;

	is_status(decode_copy(rfu, sizeof(rfu), &m), MA_BAD_OPCODE, "RFU opcode 0x7F");
	is_status(decode_copy(rfu, 0, &m), MA_BAD_OPCODE, "empty payload");
	is_status(decode_copy(appkey_delete, sizeof(appkey_delete), &m), MA_UNKNOWN_OPCODE,
		  "Config AppKey Delete is not handled");
	is_status(decode_copy(vendor, sizeof(vendor), &m), MA_UNKNOWN_OPCODE, "vendor opcode");
	is_status(decode_copy(blob_chunk, sizeof(blob_chunk), &m), MA_UNKNOWN_OPCODE, "BLOB Chunk Transfer");

	m.opcode = 0x7f;
	is_status(ma_encode(&m, out, sizeof(out), &len), MA_BAD_OPCODE, "encoder: opcode 0x7F");
	m.opcode = 0x1234;
	is_status(ma_encode(&m, out, sizeof(out), &len), MA_BAD_OPCODE, "encoder: opcode 0x1234");
	m.opcode = 0x8000;
	is_status(ma_encode(&m, out, sizeof(out), &len), MA_UNKNOWN_OPCODE, "encoder: opcode 0x8000");

	/* more than an access message can hold, whatever the opcode */
	{
		static uint8_t big[MA_PAYLOAD_MAX + 1];

		big[0] = 0x80;
		big[1] = 0x08;
		is_status(decode_copy(big, sizeof(big), &m), MA_TOO_LONG, "381-byte payload");
	}
}

/* ---------------------------------------------------------------- Composition Data page 0 */

static void test_comp0(void)
{
	struct ma_msg m;
	struct ma_comp0 c;
	struct ma_comp0_iter it;
	struct ma_comp0_element e;
	struct ma_model_id id;
	uint8_t idx = 99;

	is_status(ma_decode(comp_status, sizeof(comp_status), &m), MA_OK, "Composition Data Status");
	is_int(m.u.comp.page, 0, "page");
	is_int(m.u.comp.data_len, sizeof(comp_status) - 2, "data after the page byte");
	c = m.u.comp.page0;
	is_int(c.cid, 0x0059, "CID");
	is_int(c.pid, 0x1234, "PID");
	is_int(c.vid, 0x0102, "VID");
	is_int(c.crpl, 40, "CRPL");
	is_int(c.features, MA_FEAT_RELAY | MA_FEAT_PROXY | MA_FEAT_FRIEND, "Features");
	is_int(c.element_count, 2, "two elements");

	{
		struct ma_comp0 again;

		is_status(ma_comp0_parse(m.u.comp.data, m.u.comp.data_len, &again), MA_OK, "ma_comp0_parse alone");
		is_int(again.element_count, 2, "... finds the same elements");
	}

	ma_comp0_iter_init(&it, &c);
	ok(ma_comp0_next_element(&it, &e), "element 0");
	ok(e.index == 0 && e.loc == 0 && e.sig_count == 4 && e.vnd_count == 1, "element 0 header");
	{
		static const uint16_t want_sig[] = { MA_MODEL_CFG_SRV, MA_MODEL_HEALTH_SRV, MA_MODEL_BLOB_SRV,
						     MA_MODEL_DFU_SRV };
		unsigned i;

		for (i = 0; i < 4; i++) {
			ok(ma_comp0_model(&e, i, &id), "model %u", i);
			ok(!id.vendor && id.id == want_sig[i] && id.company == 0, "model %u is SIG 0x%04x", i,
			   want_sig[i]);
		}
		ok(ma_comp0_model(&e, 4, &id), "model 4");
		ok(id.vendor && id.company == 0x0059 && id.id == 0x000a, "model 4 is vendor 0x0059:0x000A");
		id = MA_SIG_MODEL(0x4242);
		ok(!ma_comp0_model(&e, 5, &id) && id.id == 0x4242, "no model 5, ret untouched");
	}
	ok(ma_comp0_element_has_sig(&e, MA_MODEL_DFU_SRV), "element 0 has the Firmware Update Server");
	ok(!ma_comp0_element_has_sig(&e, 0x000a), "a vendor model id is not a SIG one");
	ok(ma_comp0_next_element(&it, &e), "element 1");
	ok(e.index == 1 && e.loc == 1 && e.sig_count == 1 && e.vnd_count == 0, "element 1 header");
	ok(ma_comp0_model(&e, 0, &id) && id.id == 0x1000 && !id.vendor, "element 1: Generic OnOff Server");
	ok(!ma_comp0_next_element(&it, &e), "no element 2");
	ok(!ma_comp0_next_element(&it, &e), "still none");

	{
		static const uint16_t dfu[] = { MA_MODEL_DFU_SRV, MA_MODEL_BLOB_SRV };
		static const uint16_t onoff[] = { 0x1000 };
		static const uint16_t split[] = { MA_MODEL_DFU_SRV, 0x1000 };

		ok(ma_comp0_find_element(&c, dfu, 2, &idx) && idx == 0, "DFU servers share element 0");
		ok(ma_comp0_find_element(&c, onoff, 1, &idx) && idx == 1, "OnOff on element 1");
		idx = 99;
		ok(!ma_comp0_find_element(&c, split, 2, &idx) && idx == 99, "no element has both, ret untouched");
		ok(!ma_comp0_find_element(&c, dfu, 0, &idx), "no models asked: false");
	}

	/* other pages pass through unparsed */
	{
		static const uint8_t page1[] = { 0x02, 0x01, 0xaa, 0xbb };
		static const uint8_t page2_empty[] = { 0x02, 0x02 };
		uint8_t out[8];
		size_t len;

		is_status(ma_decode(page1, sizeof(page1), &m), MA_OK, "page 1");
		ok(m.u.comp.page == 1 && m.u.comp.data_len == 2 && m.u.comp.data[0] == 0xaa, "page 1 data");
		ma_encode(&m, out, sizeof(out), &len);
		is_bytes(out, len, page1, sizeof(page1), "page 1 round trip");
		is_status(decode_copy(page2_empty, sizeof(page2_empty), &m), MA_OK, "page 2 without data");
	}
}

static void test_comp0_malformed(void)
{
	uint8_t buf[64];
	struct ma_msg m;
	size_t n;

	/* four zero bytes more: a third element with no models, which is valid */
	memcpy(buf, comp_status, sizeof(comp_status));
	memset(buf + sizeof(comp_status), 0, 4);
	is_status(decode_copy(buf, sizeof(comp_status) + 4, &m), MA_OK, "+ an empty element");
	is_int(m.u.comp.page0.element_count, 3, "three elements");

	/* counts that overrun: element 1 says 2 SIG models and holds 1, or 1 vendor model and holds none */
	memcpy(buf, comp_status, sizeof(comp_status));
	buf[30] = 2;
	is_status(decode_copy(buf, sizeof(comp_status), &m), MA_TRUNCATED, "NumS 2 with one SIG id");
	buf[30] = 1;
	buf[31] = 1;
	is_status(decode_copy(buf, sizeof(comp_status), &m), MA_TRUNCATED, "NumV 1 with no vendor id");
	buf[31] = 255;
	is_status(decode_copy(buf, sizeof(comp_status), &m), MA_TRUNCATED, "NumV 255");
	/* element 0 claims one SIG model fewer: its last SIG id is read as the next element's Loc... and the records
	 * no longer line up with the end */
	memcpy(buf, comp_status, sizeof(comp_status));
	buf[14] = 3;
	is_status(decode_copy(buf, sizeof(comp_status), &m), MA_TRUNCATED, "NumS one too small");

	/* header only */
	n = 12;
	is_status(decode_copy(comp_status, n, &m), MA_BAD_COUNT, "page 0 without elements");
	is_status(ma_comp0_parse(comp_status + 2, 10, &(struct ma_comp0){ 0 }), MA_BAD_COUNT,
		  "ma_comp0_parse without elements");
	is_status(ma_comp0_parse(comp_status + 2, 9, &(struct ma_comp0){ 0 }), MA_TRUNCATED,
		  "ma_comp0_parse of 9 bytes");
	{
		static uint8_t big[MA_PAYLOAD_MAX];

		is_status(ma_comp0_parse(big, MA_PAYLOAD_MAX - 1, &(struct ma_comp0){ 0 }), MA_TOO_LONG,
			  "ma_comp0_parse of more than an access message holds");
		/* 378 bytes: header + 92 empty elements; 380 in all with opcode and page */
		is_status(ma_comp0_parse(big, MA_PAYLOAD_MAX - 2, &(struct ma_comp0){ 0 }), MA_OK,
			  "ma_comp0_parse of 378 bytes (92 elements)");
	}
	/* the encoder refuses malformed raw page 0 too */
	{
		struct ma_msg bad = { .opcode = MA_OP_COMP_STATUS,
				      .u.comp = { .page = 0, .data = comp_status + 2, .data_len = 10 } };
		uint8_t out[64];
		size_t len;

		is_status(ma_encode(&bad, out, sizeof(out), &len), MA_BAD_COUNT, "encoder: raw page 0 without elements");
		bad.u.comp.data_len = 15;
		is_status(ma_encode(&bad, out, sizeof(out), &len), MA_TRUNCATED, "encoder: raw page 0 cut short");
		bad.u.comp.page = 1;
		is_status(ma_encode(&bad, out, sizeof(out), &len), MA_OK, "encoder: other pages are raw");
	}
}

static void test_comp0_encode(void)
{
	/* the vector's two elements, element 0's vendor model listed first: the encoder puts SIG models first */
	static const struct ma_model_id e0[] = {
		MA_VND_MODEL(0x0059, 0x000a),
		MA_SIG_MODEL(MA_MODEL_CFG_SRV), MA_SIG_MODEL(MA_MODEL_HEALTH_SRV),
		MA_SIG_MODEL(MA_MODEL_BLOB_SRV), MA_SIG_MODEL(MA_MODEL_DFU_SRV),
	};
	static const struct ma_model_id e1[] = { MA_SIG_MODEL(0x1000) };
	const struct ma_element_desc elements[] = {
		{ .loc = 0x0000, .models = e0, .model_count = ARRAY_SIZE(e0) },
		{ .loc = 0x0001, .models = e1, .model_count = ARRAY_SIZE(e1) },
	};
	const struct ma_comp0 hdr = { .cid = 0x0059, .pid = 0x1234, .vid = 0x0102, .crpl = 40,
				      .features = MA_FEAT_RELAY | MA_FEAT_PROXY | MA_FEAT_FRIEND };
	uint8_t out[MA_PAYLOAD_MAX + 16];
	size_t len = 0;

	is_status(ma_comp0_status_encode(&hdr, elements, 2, out, sizeof(out), &len), MA_OK, "page 0 from arrays");
	is_bytes(out, len, comp_status, sizeof(comp_status), "page 0 from arrays = the hand-made vector");
	for (size_t cap = 0; cap < len; cap++) {
		size_t untouched = 777;

		if (ma_comp0_status_encode(&hdr, elements, 2, out, cap, &untouched) != MA_NO_SPACE ||
		    untouched != 777) {
			ok(0, "page 0 into %zu bytes gives NO_SPACE", cap);
			break;
		}
		if (cap == len - 1)
			ok(1, "page 0 into every smaller buffer gives NO_SPACE");
	}
	is_status(ma_comp0_status_encode(&hdr, elements, 0, out, sizeof(out), &len), MA_BAD_COUNT, "no element");

	/* one element with 182 SIG models fills 380 bytes: 2 + 10 + 4 + 364; 183 is one too many */
	{
		static struct ma_model_id many[256];
		struct ma_element_desc one = { .loc = 0, .models = many, .model_count = 182 };
		struct ma_msg m;

		for (size_t i = 0; i < ARRAY_SIZE(many); i++)
			many[i] = MA_SIG_MODEL((uint16_t)(0x1000 + i));
		is_status(ma_comp0_status_encode(&hdr, &one, 1, out, sizeof(out), &len), MA_OK, "182 SIG models");
		is_int(len, MA_PAYLOAD_MAX, "fill an access message");
		is_status(ma_decode(out, len, &m), MA_OK, "... and decode");
		one.model_count = 183;
		is_status(ma_comp0_status_encode(&hdr, &one, 1, out, sizeof(out), &len), MA_TOO_LONG, "183 SIG models");
		one.model_count = 256;
		is_status(ma_comp0_status_encode(&hdr, &one, 1, out, sizeof(out), &len), MA_BAD_COUNT,
			  "256 SIG models in one element");
	}
}

/* ---------------------------------------------------------------- Firmware Update Information */

static void test_fw_info(void)
{
	struct ma_msg m;
	struct ma_fw_iter it;
	struct ma_fw_entry e;
	uint8_t out[MA_PAYLOAD_MAX + 16];
	size_t len;

	is_status(ma_decode(fw_get, sizeof(fw_get), &m), MA_OK, "Information Get");
	ok(m.u.fw_info_get.first_index == 0 && m.u.fw_info_get.entries_limit == 255, "Get fields");

	is_status(ma_decode(fw_status, sizeof(fw_status), &m), MA_OK, "Information Status");
	ok(m.u.fw_info.list_count == 2 && m.u.fw_info.first_index == 0 && m.u.fw_info.entry_count == 2,
	   "Status header");
	ma_fw_iter_init(&it, &m.u.fw_info);
	ok(ma_fw_next_entry(&it, &e), "entry 0");
	is_int(e.index, 0, "index 0");
	is_bytes(e.fwid, e.fwid_len, fw_status + 5, 10, "FWID 0");
	is_int(e.uri_len, 0, "no URI");
	ok(ma_fw_next_entry(&it, &e), "entry 1");
	is_int(e.index, 1, "index 1");
	is_bytes(e.fwid, e.fwid_len, (const uint8_t *)"\x59\x00\x01", 3, "FWID 1");
	is_bytes((const uint8_t *)e.uri, e.uri_len, (const uint8_t *)"https://x.io/f", 14, "URI 1");
	ok(!ma_fw_next_entry(&it, &e), "no entry 2");

	/* from an array: the same bytes */
	{
		const struct ma_fw_entry entries[] = {
			{ .fwid = fw_status + 5, .fwid_len = 10 },
			{ .fwid = (const uint8_t *)"\x59\x00\x01", .fwid_len = 3, .uri = "https://x.io/f", .uri_len = 14 },
		};
		size_t untouched = 5;

		is_status(ma_fw_info_status_encode(2, 0, entries, 2, out, sizeof(out), &len), MA_OK, "Status from array");
		is_bytes(out, len, fw_status, sizeof(fw_status), "Status from array = the hand-made vector");
		is_status(ma_fw_info_status_encode(1, 0, entries, 2, out, sizeof(out), &untouched), MA_BAD_COUNT,
			  "two entries, List Count 1");
		is_status(ma_fw_info_status_encode(2, 1, entries, 2, out, sizeof(out), &untouched), MA_BAD_COUNT,
			  "two entries from index 1, List Count 2");
		is_status(ma_fw_info_status_encode(2, 1, entries, 1, out, sizeof(out), &len), MA_OK,
			  "one entry from index 1, List Count 2");
		is_status(ma_fw_info_status_encode(2, 0, entries, 2, out, 34, &untouched), MA_NO_SPACE,
			  "one byte short");
		is_int(untouched, 5, "ret_len untouched");
		is_status(ma_fw_info_status_encode(0, 7, NULL, 0, out, sizeof(out), &len), MA_OK,
			  "no entries, First Index past the list");
		is_bytes(out, len, (const uint8_t *)"\x83\x09\x00\x07", 4, "... is 83 09 00 07");
	}

	/* First Index past the list with no entries is what a server answers (Zephyr's does) */
	{
		static const uint8_t past[] = { 0x83, 0x09, 0x01, 0x05 };

		is_status(decode_copy(past, sizeof(past), &m), MA_OK, "First Index 5 of 1, no entries");
		is_int(m.u.fw_info.entry_count, 0, "no entries");
	}
}

static void test_fw_info_malformed(void)
{
	uint8_t buf[MA_PAYLOAD_MAX + 8];
	struct ma_msg m;

	/* two more zero bytes: a third (empty) entry, more than List Count 2 - First Index 0 */
	memcpy(buf, fw_status, sizeof(fw_status));
	buf[sizeof(fw_status)] = 0;
	buf[sizeof(fw_status) + 1] = 0;
	is_status(decode_copy(buf, sizeof(fw_status) + 2, &m), MA_BAD_COUNT, "three entries, List Count 2");
	buf[2] = 3;
	is_status(decode_copy(buf, sizeof(fw_status) + 2, &m), MA_OK, "three entries, List Count 3");
	buf[3] = 1;
	is_status(decode_copy(buf, sizeof(fw_status) + 2, &m), MA_BAD_COUNT, "three entries from index 1 of 3");

	/* List Count 1 with two entries */
	memcpy(buf, fw_status, sizeof(fw_status));
	buf[2] = 1;
	is_status(decode_copy(buf, sizeof(fw_status), &m), MA_BAD_COUNT, "two entries, List Count 1");
	buf[2] = 0;
	is_status(decode_copy(buf, sizeof(fw_status), &m), MA_BAD_COUNT, "two entries, List Count 0");

	/* lengths that overrun */
	memcpy(buf, fw_status, sizeof(fw_status));
	buf[4] = 0xff;
	is_status(decode_copy(buf, sizeof(fw_status), &m), MA_TRUNCATED, "FWID length 255");
	memcpy(buf, fw_status, sizeof(fw_status));
	buf[20] = 15;
	is_status(decode_copy(buf, sizeof(fw_status), &m), MA_TRUNCATED, "URI length one too many");
	buf[20] = 13;
	is_status(decode_copy(buf, sizeof(fw_status), &m), MA_TRUNCATED,
		  "URI length one too few: the last byte starts an entry cut short");

	/* the largest: one entry of FWID 255 bytes and URI 119 bytes makes 4 + 2 + 255 + 119 = 380 */
	{
		static uint8_t fwid[255];
		static char uri[120];
		struct ma_fw_entry e = { .fwid = fwid, .fwid_len = 255, .uri = uri, .uri_len = 119 };
		size_t len;

		memset(uri, 'u', sizeof(uri));
		is_status(ma_fw_info_status_encode(1, 0, &e, 1, buf, sizeof(buf), &len), MA_OK, "380-byte Status");
		is_int(len, MA_PAYLOAD_MAX, "380 bytes");
		is_status(decode_copy(buf, len, &m), MA_OK, "decodes");
		e.uri_len = 120;
		is_status(ma_fw_info_status_encode(1, 0, &e, 1, buf, sizeof(buf), &len), MA_TOO_LONG,
			  "381-byte Status");
	}

	/* the encoder refuses malformed raw entries too */
	{
		struct ma_msg bad = { .opcode = MA_OP_FW_INFO_STATUS,
				      .u.fw_info = { .list_count = 2, .first_index = 0, .entries = fw_status + 4,
						     .entries_len = 5 } };
		size_t len;

		is_status(ma_encode(&bad, buf, sizeof(buf), &len), MA_TRUNCATED, "encoder: raw entry cut short");
		bad.u.fw_info.entries_len = sizeof(fw_status) - 4;
		bad.u.fw_info.list_count = 1;
		is_status(ma_encode(&bad, buf, sizeof(buf), &len), MA_BAD_COUNT, "encoder: raw entries overrun");
		bad.u.fw_info.list_count = 2;
		bad.u.fw_info.entry_count = 77;         /* ignored: the encoder counts */
		is_status(ma_encode(&bad, buf, sizeof(buf), &len), MA_OK, "encoder: raw entries");
		is_bytes(buf, len, fw_status, sizeof(fw_status), "raw entries round trip");
	}
}

/* ---------------------------------------------------------------- names */

static void test_names(void)
{
	is_str(ma_status_to_string(MA_OK), "OK", "MA_OK");
	is_str(ma_status_to_string(MA_TRUNCATED), "TRUNCATED", "MA_TRUNCATED");
	is_str(ma_status_to_string(MA_NO_SPACE), "NO_SPACE", "MA_NO_SPACE");
	is_str(ma_status_to_string(99), "unknown", "status 99");
	for (unsigned s = MA_OK; s <= MA_NO_SPACE; s++)
		ok(strcmp(ma_status_to_string(s), "unknown") != 0, "ma_status %u has a name", s);

	is_str(ma_cfg_status_to_string(0x00), "Success", "0x00");
	is_str(ma_cfg_status_to_string(0x05), "Insufficient Resources", "0x05");
	is_str(ma_cfg_status_to_string(0x06), "Key Index Already Stored", "0x06");
	is_str(ma_cfg_status_to_string(0x0e), "Temporarily Unable to Change State", "0x0E");
	is_str(ma_cfg_status_to_string(0x11), "Invalid Binding", "0x11");
	is_str(ma_cfg_status_to_string(0x12), "unknown", "0x12");
	for (unsigned s = 0; s <= 0x11; s++)
		ok(strcmp(ma_cfg_status_to_string(s), "unknown") != 0, "foundation status 0x%02x has a name", s);

	for (size_t i = 0; i < ARRAY_SIZE(samples); i++)
		ok(strcmp(ma_opcode_to_string(samples[i].opcode), "unknown") != 0, "%s opcode has a name",
		   samples[i].name);
	is_str(ma_opcode_to_string(MA_OP_MODEL_APP_BIND), "Config Model App Bind", "0x803D");
	is_str(ma_opcode_to_string(MA_OP_FW_INFO_STATUS), "Firmware Update Information Status", "0x8309");
	is_str(ma_opcode_to_string(0x8000), "unknown", "0x8000");
	is_str(ma_model_to_string(MA_MODEL_DFU_SRV), "Firmware Update Server", "0x1402");
	is_str(ma_model_to_string(MA_MODEL_BLOB_SRV), "BLOB Transfer Server", "0x1400");
	is_str(ma_model_to_string(0x1000), "unknown", "0x1000");
}

int main(void)
{
	test_opcodes();
	test_samples();
	test_config_fields();
	test_config_refusals();
	test_opcode_refusals();
	test_comp0();
	test_comp0_malformed();
	test_comp0_encode();
	test_fw_info();
	test_fw_info_malformed();
	test_names();
	return done_testing();
}
