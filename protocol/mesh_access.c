/* mesh_access: see mesh_access.h. Each message has a get_*() that checks the length and reads the fields and a
 * put_*() that checks the fields and writes them; the variable-length ones (composition data, firmware entries) are
 * checked by one walker that both sides call, so the decoder and the encoder cannot disagree about what is valid. */
#include "bytes.h"
#include "mesh_access.h"

enum {
	COMP0_HEADER_SIZE = 10,         /* CID, PID, VID, CRPL, Features */
	COMP0_ELEMENT_HEADER_SIZE = 4,  /* Loc, NumS, NumV */
	COMP0_DATA_MAX = MA_PAYLOAD_MAX - 2,    /* after the 1-byte opcode and the page byte */
	APPKEY_ADD_SIZE = 3 + MA_KEY_SIZE,
	APPKEY_STATUS_SIZE = 1 + 3,
	MODEL_APP_PREFIX = 4,           /* element, app key index; then the model id */
	MODEL_SUB_PREFIX = 4,           /* element, address; then the model id */
	FW_INFO_GET_SIZE = 2,
	FW_INFO_HEADER_SIZE = 2,        /* list count, first index */
	FW_INFO_PARAMS_MAX = MA_PAYLOAD_MAX - 2,        /* after the 2-byte opcode */
};

/* --- field rules --- */

static bool is_unicast(uint16_t addr)
{
	return addr != 0x0000 && addr <= 0x7FFF;
}

/* Exactly @want bytes of parameters. */
static enum ma_status exact_len(size_t have, size_t want)
{
	if (have < want)
		return MA_TRUNCATED;
	return have > want ? MA_TOO_LONG : MA_OK;
}

/* @prefix fixed bytes, then a model id of 2 (SIG) or 4 (vendor) bytes: Zephyr's Configuration Server accepts exactly
 * these two lengths. 3 bytes of model id is a vendor id cut short. */
static enum ma_status model_tail_len(size_t have, size_t prefix, bool *ret_vendor)
{
	if (have < prefix + 2 || have == prefix + 3)
		return MA_TRUNCATED;
	if (have > prefix + 4)
		return MA_TOO_LONG;
	*ret_vendor = have == prefix + 4;
	return MA_OK;
}

static struct ma_model_id get_model_id(struct reader *r, bool vendor)
{
	struct ma_model_id m = { .vendor = vendor };

	if (vendor)
		m.company = get_le16(r);
	m.id = get_le16(r);
	return m;
}

static void put_model_id(struct writer *w, const struct ma_model_id *m)
{
	if (m->vendor)
		put_le16(w, m->company);
	put_le16(w, m->id);
}

/* NetKeyIndex and AppKeyIndex in 3 bytes (Mesh Protocol 4.3.1.1): the first index in the low 12 bits of a LE 24-bit
 * value, the second in the high 12. */
static void get_key_pair(struct reader *r, uint16_t *ret_first, uint16_t *ret_second)
{
	uint8_t b0 = get_u8(r), b1 = get_u8(r), b2 = get_u8(r);

	*ret_first = (uint16_t)(b0 | ((b1 & 0x0F) << 8));
	*ret_second = (uint16_t)((b1 >> 4) | (b2 << 4));
}

static void put_key_pair(struct writer *w, uint16_t first, uint16_t second)
{
	put_u8(w, (uint8_t)first);
	put_u8(w, (uint8_t)(((first >> 8) & 0x0F) | ((second & 0x0F) << 4)));
	put_u8(w, (uint8_t)(second >> 4));
}

/* --- opcodes --- */

static size_t opcode_size(uint32_t opcode)
{
	if (opcode < 0x7F)
		return 1;
	if (opcode >= 0x8000 && opcode <= 0xBFFF)
		return 2;
	if (opcode >= 0xC00000 && opcode <= 0xFFFFFF)
		return 3;
	return 0;
}

size_t ma_opcode_decode(const uint8_t *payload, size_t len, uint32_t *ret_opcode)
{
	uint8_t b0;

	if (len == 0)
		return 0;
	b0 = payload[0];
	if (b0 < 0x7F) {
		*ret_opcode = MA_OP_1(b0);
		return 1;
	}
	if (b0 == 0x7F)
		return 0;
	if (b0 < 0xC0) {
		if (len < 2)
			return 0;
		*ret_opcode = MA_OP_2(b0, payload[1]);
		return 2;
	}
	if (len < 3)
		return 0;
	*ret_opcode = ((uint32_t)b0 << 16) | bytes_get_le16(payload + 1);
	return 3;
}

size_t ma_opcode_encode(uint32_t opcode, uint8_t *out, size_t cap)
{
	size_t n = opcode_size(opcode);

	if (n == 0 || n > cap)
		return 0;
	switch (n) {
	case 1:
		out[0] = (uint8_t)opcode;
		break;
	case 2:
		out[0] = (uint8_t)(opcode >> 8);
		out[1] = (uint8_t)opcode;
		break;
	default:
		out[0] = (uint8_t)(opcode >> 16);
		bytes_put_le16(out + 1, (uint16_t)opcode);
		break;
	}
	return n;
}

static void put_opcode(struct writer *w, uint32_t opcode)
{
	uint8_t op[3];
	size_t n = ma_opcode_encode(opcode, op, sizeof(op));

	put_bytes(w, op, n);
}

/* --- Composition Data page 0 --- */

/* Walks the element records of page 0 (after the 10-byte header); every record must be whole. */
static enum ma_status comp0_walk_elements(const uint8_t *p, size_t len, uint8_t *ret_count)
{
	size_t pos = 0;
	unsigned count = 0;

	while (pos < len) {
		size_t need;

		if (len - pos < COMP0_ELEMENT_HEADER_SIZE)
			return MA_TRUNCATED;
		need = COMP0_ELEMENT_HEADER_SIZE + 2u * p[pos + 2] + 4u * p[pos + 3];
		if (len - pos < need)
			return MA_TRUNCATED;
		pos += need;
		count++;
	}
	/* at most (COMP0_DATA_MAX - 10) / 4 = 92 elements, so the count fits */
	if (count == 0)
		return MA_BAD_COUNT;
	*ret_count = (uint8_t)count;
	return MA_OK;
}

enum ma_status ma_comp0_parse(const uint8_t *data, size_t len, struct ma_comp0 *ret)
{
	struct reader r = { data, len, 0 };
	struct ma_comp0 c;
	enum ma_status st;

	if (len < COMP0_HEADER_SIZE)
		return MA_TRUNCATED;
	if (len > COMP0_DATA_MAX)
		return MA_TOO_LONG;
	c.cid = get_le16(&r);
	c.pid = get_le16(&r);
	c.vid = get_le16(&r);
	c.crpl = get_le16(&r);
	c.features = get_le16(&r);
	c.elements = data + COMP0_HEADER_SIZE;
	c.elements_len = len - COMP0_HEADER_SIZE;
	st = comp0_walk_elements(c.elements, c.elements_len, &c.element_count);
	if (st != MA_OK)
		return st;
	*ret = c;
	return MA_OK;
}

void ma_comp0_iter_init(struct ma_comp0_iter *it, const struct ma_comp0 *comp)
{
	it->comp = comp;
	it->pos = 0;
	it->index = 0;
}

bool ma_comp0_next_element(struct ma_comp0_iter *it, struct ma_comp0_element *ret)
{
	const uint8_t *p = it->comp->elements;
	size_t len = it->comp->elements_len, need;
	struct ma_comp0_element e;

	/* ma_comp0_parse() checked the records; these checks only keep a hand-made struct ma_comp0 in bounds */
	if (it->pos >= len || len - it->pos < COMP0_ELEMENT_HEADER_SIZE)
		return false;
	p += it->pos;
	e.index = it->index;
	e.loc = bytes_get_le16(p);
	e.sig_count = p[2];
	e.vnd_count = p[3];
	need = COMP0_ELEMENT_HEADER_SIZE + 2u * e.sig_count + 4u * e.vnd_count;
	if (len - it->pos < need)
		return false;
	e.sig = p + COMP0_ELEMENT_HEADER_SIZE;
	e.vnd = e.sig + 2u * e.sig_count;
	it->pos += need;
	it->index++;
	*ret = e;
	return true;
}

bool ma_comp0_model(const struct ma_comp0_element *e, unsigned i, struct ma_model_id *ret)
{
	if (i < e->sig_count) {
		*ret = MA_SIG_MODEL(bytes_get_le16(e->sig + 2u * i));
		return true;
	}
	i -= e->sig_count;
	if (i < e->vnd_count) {
		*ret = MA_VND_MODEL(bytes_get_le16(e->vnd + 4u * i), bytes_get_le16(e->vnd + 4u * i + 2));
		return true;
	}
	return false;
}

bool ma_comp0_element_has_sig(const struct ma_comp0_element *e, uint16_t id)
{
	for (unsigned i = 0; i < e->sig_count; i++)
		if (bytes_get_le16(e->sig + 2u * i) == id)
			return true;
	return false;
}

bool ma_comp0_find_element(const struct ma_comp0 *comp, const uint16_t *ids, size_t n, uint8_t *ret_index)
{
	struct ma_comp0_iter it;
	struct ma_comp0_element e;

	if (n == 0)
		return false;
	for (ma_comp0_iter_init(&it, comp); ma_comp0_next_element(&it, &e);) {
		size_t i = 0;

		while (i < n && ma_comp0_element_has_sig(&e, ids[i]))
			i++;
		if (i == n) {
			*ret_index = e.index;
			return true;
		}
	}
	return false;
}

enum ma_status ma_comp0_status_encode(const struct ma_comp0 *hdr, const struct ma_element_desc *elements, size_t n,
				      uint8_t *out, size_t cap, size_t *ret_len)
{
	struct writer w = { out, cap, 0, false };
	size_t total = 1 + 1 + COMP0_HEADER_SIZE;

	if (n == 0)
		return MA_BAD_COUNT;
	for (size_t i = 0; i < n; i++) {
		size_t sig = 0, vnd = 0;

		for (size_t j = 0; j < elements[i].model_count; j++) {
			if (elements[i].models[j].vendor)
				vnd++;
			else
				sig++;
		}
		if (sig > 255 || vnd > 255)
			return MA_BAD_COUNT;
		total += COMP0_ELEMENT_HEADER_SIZE + 2 * sig + 4 * vnd;
		if (total > MA_PAYLOAD_MAX)
			return MA_TOO_LONG;
	}
	put_opcode(&w, MA_OP_COMP_STATUS);
	put_u8(&w, 0);
	put_le16(&w, hdr->cid);
	put_le16(&w, hdr->pid);
	put_le16(&w, hdr->vid);
	put_le16(&w, hdr->crpl);
	put_le16(&w, hdr->features);
	for (size_t i = 0; i < n; i++) {
		const struct ma_element_desc *e = &elements[i];
		unsigned sig = 0, vnd = 0;

		for (size_t j = 0; j < e->model_count; j++) {
			if (e->models[j].vendor)
				vnd++;
			else
				sig++;
		}
		put_le16(&w, e->loc);
		put_u8(&w, (uint8_t)sig);
		put_u8(&w, (uint8_t)vnd);
		for (size_t j = 0; j < e->model_count; j++)
			if (!e->models[j].vendor)
				put_model_id(&w, &e->models[j]);
		for (size_t j = 0; j < e->model_count; j++)
			if (e->models[j].vendor)
				put_model_id(&w, &e->models[j]);
	}
	if (w.full)
		return MA_NO_SPACE;
	*ret_len = w.len;
	return MA_OK;
}

/* --- Firmware Update Information --- */

/* Walks the entries of an Information Status (after list count and first index); every entry must be whole. */
static enum ma_status fw_walk_entries(const uint8_t *p, size_t len, uint8_t *ret_count)
{
	size_t pos = 0;
	unsigned count = 0;

	while (pos < len) {
		size_t fwid_len = p[pos], uri_len;

		/* FWID length byte, FWID, URI length byte */
		if (len - pos < 1 + fwid_len + 1)
			return MA_TRUNCATED;
		uri_len = p[pos + 1 + fwid_len];
		if (len - pos < 2 + fwid_len + uri_len)
			return MA_TRUNCATED;
		pos += 2 + fwid_len + uri_len;
		count++;
	}
	/* entries take 2 bytes or more, and len <= FW_INFO_PARAMS_MAX - 2, so the count fits */
	*ret_count = (uint8_t)count;
	return MA_OK;
}

static enum ma_status fw_check_count(uint8_t list_count, uint8_t first_index, size_t entries)
{
	return entries == 0 || first_index + entries <= list_count ? MA_OK : MA_BAD_COUNT;
}

void ma_fw_iter_init(struct ma_fw_iter *it, const struct ma_fw_info *info)
{
	it->info = info;
	it->pos = 0;
	it->n = 0;
}

bool ma_fw_next_entry(struct ma_fw_iter *it, struct ma_fw_entry *ret)
{
	const uint8_t *p = it->info->entries;
	size_t len = it->info->entries_len, left;
	struct ma_fw_entry e;

	/* fw_walk_entries() checked the records; these checks only keep a hand-made struct ma_fw_info in bounds */
	if (it->pos >= len)
		return false;
	p += it->pos;
	left = len - it->pos;
	e.fwid_len = p[0];
	if (left < 2u + e.fwid_len)
		return false;
	e.uri_len = p[1 + e.fwid_len];
	if (left < 2u + e.fwid_len + e.uri_len)
		return false;
	e.index = (uint8_t)(it->info->first_index + it->n);
	e.fwid = p + 1;
	e.uri = (const char *)(p + 2 + e.fwid_len);
	it->pos += 2u + e.fwid_len + e.uri_len;
	it->n++;
	*ret = e;
	return true;
}

enum ma_status ma_fw_info_status_encode(uint8_t list_count, uint8_t first_index, const struct ma_fw_entry *entries,
					size_t n, uint8_t *out, size_t cap, size_t *ret_len)
{
	struct writer w = { out, cap, 0, false };
	size_t total = 2 + FW_INFO_HEADER_SIZE;

	if (fw_check_count(list_count, first_index, n) != MA_OK)
		return MA_BAD_COUNT;
	for (size_t i = 0; i < n; i++) {
		total += 2u + entries[i].fwid_len + entries[i].uri_len;
		if (total > MA_PAYLOAD_MAX)
			return MA_TOO_LONG;
	}
	put_opcode(&w, MA_OP_FW_INFO_STATUS);
	put_u8(&w, list_count);
	put_u8(&w, first_index);
	for (size_t i = 0; i < n; i++) {
		put_u8(&w, entries[i].fwid_len);
		put_bytes(&w, entries[i].fwid, entries[i].fwid_len);
		put_u8(&w, entries[i].uri_len);
		put_bytes(&w, (const uint8_t *)entries[i].uri, entries[i].uri_len);
	}
	if (w.full)
		return MA_NO_SPACE;
	*ret_len = w.len;
	return MA_OK;
}

/* --- messages: get_*() read the parameters (r holds them, opcode excluded), put_*() write them --- */

static enum ma_status get_comp_get(struct reader *r, struct ma_msg *m)
{
	enum ma_status st = exact_len(reader_left(r), 1);

	if (st == MA_OK)
		m->u.comp_page = get_u8(r);
	return st;
}

static enum ma_status get_comp_status(struct reader *r, struct ma_msg *m)
{
	struct ma_comp_status *c = &m->u.comp;

	if (reader_left(r) < 1)
		return MA_TRUNCATED;
	c->page = get_u8(r);
	c->data = r->buf + r->pos;
	c->data_len = reader_left(r);
	if (c->page != 0)
		return MA_OK;
	return ma_comp0_parse(c->data, c->data_len, &c->page0);
}

static enum ma_status put_comp_status(struct writer *w, const struct ma_comp_status *c)
{
	struct ma_comp0 page0;

	if (c->page == 0) {
		enum ma_status st = ma_comp0_parse(c->data, c->data_len, &page0);

		if (st != MA_OK)
			return st;
	}
	if (c->data_len > MA_PAYLOAD_MAX - 2)
		return MA_TOO_LONG;
	put_u8(w, c->page);
	put_bytes(w, c->data, c->data_len);
	return MA_OK;
}

static enum ma_status get_appkey(struct reader *r, struct ma_msg *m)
{
	bool add = m->opcode == MA_OP_APPKEY_ADD;
	struct ma_appkey *a = &m->u.appkey;
	enum ma_status st = exact_len(reader_left(r), add ? APPKEY_ADD_SIZE : APPKEY_STATUS_SIZE);

	if (st != MA_OK)
		return st;
	if (!add)
		a->status = get_u8(r);
	get_key_pair(r, &a->net_key_index, &a->app_key_index);
	if (add)
		get_bytes(r, a->key, MA_KEY_SIZE);
	return MA_OK;
}

static enum ma_status put_appkey(struct writer *w, uint32_t opcode, const struct ma_appkey *a)
{
	if (a->net_key_index > MA_KEY_INDEX_MAX || a->app_key_index > MA_KEY_INDEX_MAX)
		return MA_BAD_VALUE;
	if (opcode == MA_OP_APPKEY_STATUS)
		put_u8(w, a->status);
	put_key_pair(w, a->net_key_index, a->app_key_index);
	if (opcode == MA_OP_APPKEY_ADD)
		put_bytes(w, a->key, MA_KEY_SIZE);
	return MA_OK;
}

static enum ma_status check_model_app(uint32_t opcode, const struct ma_model_app *a)
{
	if (a->app_key_index > MA_KEY_INDEX_MAX)
		return MA_BAD_VALUE;
	/* Zephyr drops a Bind to a non-unicast element without a reply; the Status echoes what was asked */
	if (opcode == MA_OP_MODEL_APP_BIND && !is_unicast(a->elem_addr))
		return MA_BAD_VALUE;
	return MA_OK;
}

static enum ma_status get_model_app(struct reader *r, struct ma_msg *m)
{
	bool status = m->opcode == MA_OP_MODEL_APP_STATUS, vendor;
	struct ma_model_app *a = &m->u.model_app;
	enum ma_status st = model_tail_len(reader_left(r), MODEL_APP_PREFIX + status, &vendor);

	if (st != MA_OK)
		return st;
	if (status)
		a->status = get_u8(r);
	a->elem_addr = get_le16(r);
	a->app_key_index = get_le16(r);
	a->model = get_model_id(r, vendor);
	return check_model_app(m->opcode, a);
}

static enum ma_status put_model_app(struct writer *w, uint32_t opcode, const struct ma_model_app *a)
{
	enum ma_status st = check_model_app(opcode, a);

	if (st != MA_OK)
		return st;
	if (opcode == MA_OP_MODEL_APP_STATUS)
		put_u8(w, a->status);
	put_le16(w, a->elem_addr);
	put_le16(w, a->app_key_index);
	put_model_id(w, &a->model);
	return MA_OK;
}

static enum ma_status check_model_sub(uint32_t opcode, const struct ma_model_sub *s)
{
	if (opcode != MA_OP_MODEL_SUB_STATUS && !is_unicast(s->elem_addr))
		return MA_BAD_VALUE;
	return MA_OK;
}

static enum ma_status get_model_sub(struct reader *r, struct ma_msg *m)
{
	bool status = m->opcode == MA_OP_MODEL_SUB_STATUS, vendor;
	struct ma_model_sub *s = &m->u.model_sub;
	enum ma_status st = model_tail_len(reader_left(r), MODEL_SUB_PREFIX + status, &vendor);

	if (st != MA_OK)
		return st;
	if (status)
		s->status = get_u8(r);
	s->elem_addr = get_le16(r);
	s->address = get_le16(r);
	s->model = get_model_id(r, vendor);
	return check_model_sub(m->opcode, s);
}

static enum ma_status put_model_sub(struct writer *w, uint32_t opcode, const struct ma_model_sub *s)
{
	enum ma_status st = check_model_sub(opcode, s);

	if (st != MA_OK)
		return st;
	if (opcode == MA_OP_MODEL_SUB_STATUS)
		put_u8(w, s->status);
	put_le16(w, s->elem_addr);
	put_le16(w, s->address);
	put_model_id(w, &s->model);
	return MA_OK;
}

static enum ma_status get_fw_info_get(struct reader *r, struct ma_msg *m)
{
	enum ma_status st = exact_len(reader_left(r), FW_INFO_GET_SIZE);

	if (st != MA_OK)
		return st;
	m->u.fw_info_get.first_index = get_u8(r);
	m->u.fw_info_get.entries_limit = get_u8(r);
	return MA_OK;
}

static enum ma_status get_fw_info(struct reader *r, struct ma_msg *m)
{
	struct ma_fw_info *f = &m->u.fw_info;
	enum ma_status st;

	if (reader_left(r) < FW_INFO_HEADER_SIZE)
		return MA_TRUNCATED;
	f->list_count = get_u8(r);
	f->first_index = get_u8(r);
	f->entries = r->buf + r->pos;
	f->entries_len = reader_left(r);
	st = fw_walk_entries(f->entries, f->entries_len, &f->entry_count);
	if (st != MA_OK)
		return st;
	return fw_check_count(f->list_count, f->first_index, f->entry_count);
}

static enum ma_status put_fw_info(struct writer *w, const struct ma_fw_info *f)
{
	uint8_t count;
	enum ma_status st;

	if (f->entries_len > FW_INFO_PARAMS_MAX - FW_INFO_HEADER_SIZE)
		return MA_TOO_LONG;
	st = fw_walk_entries(f->entries, f->entries_len, &count);
	if (st == MA_OK)
		st = fw_check_count(f->list_count, f->first_index, count);
	if (st != MA_OK)
		return st;
	put_u8(w, f->list_count);
	put_u8(w, f->first_index);
	put_bytes(w, f->entries, f->entries_len);
	return MA_OK;
}

enum ma_status ma_decode(const uint8_t *payload, size_t len, struct ma_msg *ret)
{
	uint32_t opcode = 0;
	size_t n = ma_opcode_decode(payload, len, &opcode);
	struct reader r;
	struct ma_msg m = { .opcode = opcode };     /* zeroed: fields a message lacks read as 0 */
	enum ma_status st;

	if (n == 0)
		return MA_BAD_OPCODE;
	if (len > MA_PAYLOAD_MAX)
		return MA_TOO_LONG;
	r = (struct reader){ payload + n, len - n, 0 };
	switch (opcode) {
	case MA_OP_COMP_GET:
		st = get_comp_get(&r, &m);
		break;
	case MA_OP_COMP_STATUS:
		st = get_comp_status(&r, &m);
		break;
	case MA_OP_APPKEY_ADD:
	case MA_OP_APPKEY_STATUS:
		st = get_appkey(&r, &m);
		break;
	case MA_OP_MODEL_APP_BIND:
	case MA_OP_MODEL_APP_STATUS:
		st = get_model_app(&r, &m);
		break;
	case MA_OP_MODEL_SUB_ADD:
	case MA_OP_MODEL_SUB_DEL:
	case MA_OP_MODEL_SUB_STATUS:
		st = get_model_sub(&r, &m);
		break;
	case MA_OP_FW_INFO_GET:
		st = get_fw_info_get(&r, &m);
		break;
	case MA_OP_FW_INFO_STATUS:
		st = get_fw_info(&r, &m);
		break;
	default:
		return MA_UNKNOWN_OPCODE;
	}
	if (st == MA_OK)
		*ret = m;
	return st;
}

enum ma_status ma_encode(const struct ma_msg *m, uint8_t *out, size_t cap, size_t *ret_len)
{
	struct writer w = { out, cap, 0, false };
	enum ma_status st;

	if (opcode_size(m->opcode) == 0)
		return MA_BAD_OPCODE;
	put_opcode(&w, m->opcode);
	switch (m->opcode) {
	case MA_OP_COMP_GET:
		put_u8(&w, m->u.comp_page);
		st = MA_OK;
		break;
	case MA_OP_COMP_STATUS:
		st = put_comp_status(&w, &m->u.comp);
		break;
	case MA_OP_APPKEY_ADD:
	case MA_OP_APPKEY_STATUS:
		st = put_appkey(&w, m->opcode, &m->u.appkey);
		break;
	case MA_OP_MODEL_APP_BIND:
	case MA_OP_MODEL_APP_STATUS:
		st = put_model_app(&w, m->opcode, &m->u.model_app);
		break;
	case MA_OP_MODEL_SUB_ADD:
	case MA_OP_MODEL_SUB_DEL:
	case MA_OP_MODEL_SUB_STATUS:
		st = put_model_sub(&w, m->opcode, &m->u.model_sub);
		break;
	case MA_OP_FW_INFO_GET:
		put_u8(&w, m->u.fw_info_get.first_index);
		put_u8(&w, m->u.fw_info_get.entries_limit);
		st = MA_OK;
		break;
	case MA_OP_FW_INFO_STATUS:
		st = put_fw_info(&w, &m->u.fw_info);
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

const char *ma_status_to_string(unsigned status)
{
	switch ((enum ma_status)status) {
	case MA_OK:
		return "OK";
	case MA_BAD_OPCODE:
		return "BAD_OPCODE";
	case MA_UNKNOWN_OPCODE:
		return "UNKNOWN_OPCODE";
	case MA_TRUNCATED:
		return "TRUNCATED";
	case MA_TOO_LONG:
		return "TOO_LONG";
	case MA_BAD_VALUE:
		return "BAD_VALUE";
	case MA_BAD_COUNT:
		return "BAD_COUNT";
	case MA_NO_SPACE:
		return "NO_SPACE";
	}
	return "unknown";
}

const char *ma_cfg_status_to_string(unsigned status)
{
	switch ((enum ma_cfg_status)status) {
	case MA_CFG_SUCCESS:
		return "Success";
	case MA_CFG_INVALID_ADDRESS:
		return "Invalid Address";
	case MA_CFG_INVALID_MODEL:
		return "Invalid Model";
	case MA_CFG_INVALID_APPKEY_INDEX:
		return "Invalid AppKey Index";
	case MA_CFG_INVALID_NETKEY_INDEX:
		return "Invalid NetKey Index";
	case MA_CFG_INSUFFICIENT_RESOURCES:
		return "Insufficient Resources";
	case MA_CFG_KEY_INDEX_ALREADY_STORED:
		return "Key Index Already Stored";
	case MA_CFG_INVALID_PUBLISH_PARAMETERS:
		return "Invalid Publish Parameters";
	case MA_CFG_NOT_A_SUBSCRIBE_MODEL:
		return "Not a Subscribe Model";
	case MA_CFG_STORAGE_FAILURE:
		return "Storage Failure";
	case MA_CFG_FEATURE_NOT_SUPPORTED:
		return "Feature Not Supported";
	case MA_CFG_CANNOT_UPDATE:
		return "Cannot Update";
	case MA_CFG_CANNOT_REMOVE:
		return "Cannot Remove";
	case MA_CFG_CANNOT_BIND:
		return "Cannot Bind";
	case MA_CFG_TEMPORARILY_UNABLE_TO_CHANGE_STATE:
		return "Temporarily Unable to Change State";
	case MA_CFG_CANNOT_SET:
		return "Cannot Set";
	case MA_CFG_UNSPECIFIED_ERROR:
		return "Unspecified Error";
	case MA_CFG_INVALID_BINDING:
		return "Invalid Binding";
	}
	return "unknown";
}

const char *ma_opcode_to_string(uint32_t opcode)
{
	switch (opcode) {
	case MA_OP_COMP_GET:
		return "Config Composition Data Get";
	case MA_OP_COMP_STATUS:
		return "Config Composition Data Status";
	case MA_OP_APPKEY_ADD:
		return "Config AppKey Add";
	case MA_OP_APPKEY_STATUS:
		return "Config AppKey Status";
	case MA_OP_MODEL_APP_BIND:
		return "Config Model App Bind";
	case MA_OP_MODEL_APP_STATUS:
		return "Config Model App Status";
	case MA_OP_MODEL_SUB_ADD:
		return "Config Model Subscription Add";
	case MA_OP_MODEL_SUB_DEL:
		return "Config Model Subscription Delete";
	case MA_OP_MODEL_SUB_STATUS:
		return "Config Model Subscription Status";
	case MA_OP_FW_INFO_GET:
		return "Firmware Update Information Get";
	case MA_OP_FW_INFO_STATUS:
		return "Firmware Update Information Status";
	default:
		return "unknown";
	}
}

const char *ma_model_to_string(uint16_t sig_model_id)
{
	switch (sig_model_id) {
	case MA_MODEL_CFG_SRV:
		return "Configuration Server";
	case MA_MODEL_CFG_CLI:
		return "Configuration Client";
	case MA_MODEL_HEALTH_SRV:
		return "Health Server";
	case MA_MODEL_HEALTH_CLI:
		return "Health Client";
	case MA_MODEL_BLOB_SRV:
		return "BLOB Transfer Server";
	case MA_MODEL_BLOB_CLI:
		return "BLOB Transfer Client";
	case MA_MODEL_DFU_SRV:
		return "Firmware Update Server";
	case MA_MODEL_DFU_CLI:
		return "Firmware Update Client";
	case MA_MODEL_DFD_SRV:
		return "Firmware Distribution Server";
	case MA_MODEL_DFD_CLI:
		return "Firmware Distribution Client";
	default:
		return "unknown";
	}
}
