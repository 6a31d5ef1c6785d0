/* Fuzz target: the access-message decoders of protocol/mesh_access.c. Each input is an access payload (opcode and
 * parameters, as MESH_RECV carries it), copied to a buffer of exactly its size so ASan sees any read past it, also
 * under the corpus replay of `make check`.
 *
 * Whatever decodes must encode back to the same bytes; Composition Data page 0 and Firmware Update Information
 * Status must also come back byte for byte when rebuilt from what their iterators yield, and the iterators must
 * agree with the counts the decoder reported. The input is also read as raw page 0 data by ma_comp0_parse(). A
 * violation traps. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mesh_access.h"

static void check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

/* Walks @c's elements and models; rebuilds page 0 (with @m's header) and compares when @payload is given. */
static void check_comp0(const struct ma_comp0 *c, const uint8_t *payload, size_t len)
{
	static struct ma_model_id models[MA_PAYLOAD_MAX / 2];
	static struct ma_element_desc elements[MA_PAYLOAD_MAX / 4];
	static uint8_t out[MA_PAYLOAD_MAX];
	struct ma_comp0_iter it;
	struct ma_comp0_element e;
	size_t n_models = 0, n_elements = 0, out_len = 0;
	uint8_t index;

	for (ma_comp0_iter_init(&it, c); ma_comp0_next_element(&it, &e);) {
		struct ma_model_id id;
		unsigned i;

		check(e.index == n_elements && n_elements < sizeof(elements) / sizeof(elements[0]));
		elements[n_elements] = (struct ma_element_desc){ .loc = e.loc, .models = models + n_models };
		for (i = 0; ma_comp0_model(&e, i, &id); i++) {
			check(n_models < sizeof(models) / sizeof(models[0]));
			check(id.vendor == (i >= e.sig_count));
			if (!id.vendor)
				check(ma_comp0_element_has_sig(&e, id.id));
			models[n_models++] = id;
		}
		check(i == (unsigned)e.sig_count + e.vnd_count);
		elements[n_elements++].model_count = i;
	}
	check(n_elements == c->element_count && n_elements >= 1);
	/* the primary element's first SIG model is found there */
	if (elements[0].model_count > 0 && !elements[0].models[0].vendor) {
		uint16_t first = elements[0].models[0].id;

		check(ma_comp0_find_element(c, &first, 1, &index) && index == 0);
	}
	if (!payload)
		return;
	check(ma_comp0_status_encode(c, elements, n_elements, out, sizeof(out), &out_len) == MA_OK);
	check(out_len == len && memcmp(out, payload, len) == 0);
}

static void check_fw_info(const struct ma_fw_info *f, const uint8_t *payload, size_t len)
{
	static struct ma_fw_entry entries[MA_PAYLOAD_MAX / 2];
	static uint8_t out[MA_PAYLOAD_MAX];
	struct ma_fw_iter it;
	size_t n = 0, out_len = 0;

	for (ma_fw_iter_init(&it, f); n < sizeof(entries) / sizeof(entries[0]) && ma_fw_next_entry(&it, &entries[n]);
	     n++)
		check(entries[n].index == f->first_index + n);
	check(n == f->entry_count);
	check(n == 0 || f->first_index + n <= f->list_count);
	check(ma_fw_info_status_encode(f->list_count, f->first_index, entries, n, out, sizeof(out), &out_len) == MA_OK);
	check(out_len == len && memcmp(out, payload, len) == 0);
}

static void check_payload(const uint8_t *p, size_t len)
{
	static uint8_t out[MA_PAYLOAD_MAX];
	struct ma_msg m, back;
	size_t out_len = 0, opcode_len;
	uint32_t opcode = 0;
	enum ma_status st = ma_decode(p, len, &m);

	check(ma_status_to_string(st) != NULL);
	opcode_len = ma_opcode_decode(p, len, &opcode);
	if (opcode_len > 0) {
		uint8_t op[3];

		check(ma_opcode_encode(opcode, op, sizeof(op)) == opcode_len && memcmp(op, p, opcode_len) == 0);
		check(ma_opcode_to_string(opcode) != NULL);
	} else {
		check(st == MA_BAD_OPCODE);
	}
	if (st != MA_OK)
		return;
	check(m.opcode == opcode);
	check(ma_encode(&m, out, sizeof(out), &out_len) == MA_OK);
	check(out_len == len && memcmp(out, p, len) == 0);
	check(ma_decode(out, out_len, &back) == MA_OK && back.opcode == m.opcode);

	switch (m.opcode) {
	case MA_OP_COMP_STATUS:
		if (m.u.comp.page == 0)
			check_comp0(&m.u.comp.page0, p, len);
		break;
	case MA_OP_FW_INFO_STATUS:
		check_fw_info(&m.u.fw_info, p, len);
		break;
	case MA_OP_APPKEY_ADD:
	case MA_OP_APPKEY_STATUS:
		check(m.u.appkey.net_key_index <= MA_KEY_INDEX_MAX && m.u.appkey.app_key_index <= MA_KEY_INDEX_MAX);
		check(ma_cfg_status_to_string(m.u.appkey.status) != NULL);
		break;
	case MA_OP_MODEL_APP_BIND:
		check(m.u.model_app.elem_addr != 0 && m.u.model_app.elem_addr < 0x8000);
		break;
	default:
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);
	struct ma_comp0 c;

	if (!copy)
		return 0;
	if (size)
		memcpy(copy, data, size);
	check_payload(copy, size);
	/* the same bytes as raw page 0 data, after the page byte */
	if (ma_comp0_parse(copy, size, &c) == MA_OK)
		check_comp0(&c, NULL, 0);
	free(copy);
	return 0;
}
