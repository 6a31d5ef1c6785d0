/* messages: see messages.h. Every message has a get_*() that reads its layout, a put_*() that writes it, and a
 * check_*() that both call, so the decoder and the encoder cannot disagree about what is valid. */
#include "bytes.h"
#include "messages.h"

/* Payload sizes of version 1.0 (docs/protocol.md has the layouts). */
enum {
	HELLO_RSP_SIZE = 32,
	RESET_REQ_SIZE = 1,
	STATS_RSP_SIZE = 48,
	LOG_HEADER_SIZE = 6,
	MESH_CONFIG_REQ_SIZE = 47,
	MESH_SEND_HEADER_SIZE = 6,
	MESH_RECV_HEADER_SIZE = 9,
	SLOT_INFO_RSP_SIZE = 45,
	SLOT_IMAGE_SIZE = 36,
	SLOT_WRITE_HEADER_SIZE = 4,
	DIST_START_HEADER_SIZE = 55,    /* up to and including the FWID length */
	DIST_INFO_RSP_SIZE = 33,
	DIST_PAGE_REQ_SIZE = 4,
	DIST_ID_REQ_SIZE = 4,
	DIST_TARGETS_HEADER_SIZE = 10,
	DIST_TARGET_EVT_SIZE = 6 + MSG_DIST_TARGET_INFO_SIZE,
	DIST_PROGRESS_EVT_SIZE = 10,
	DIST_STATE_EVT_SIZE = 7,
	DIST_EFFECT_MAX = 31,           /* Additional Information: 5 bits */
};

#define KIND_BIT(kind) (1u << (kind))
#define REQ_RSP (KIND_BIT(FRAME_REQUEST) | KIND_BIT(FRAME_RESPONSE))
#define EVT KIND_BIT(FRAME_EVENT)

/* --- field rules --- */

static bool is_unicast(uint16_t addr)
{
	return addr != MSG_ADDR_UNASSIGNED && addr <= MSG_ADDR_UNICAST_MAX;
}

/* Unicast or group (fixed groups included); virtual addresses would need their label UUID. */
static bool is_unicast_or_group(uint16_t addr)
{
	return is_unicast(addr) || addr >= MSG_ADDR_GROUP_MIN;
}

static bool access_len_valid(size_t len)
{
	return len >= 1 && len <= MSG_ACCESS_MAX;
}

static enum msg_status check_hello(const struct msg_hello *h)
{
	if (h->proto_major != MSG_VERSION_MAJOR)
		return MSG_STATUS_NOT_SUPPORTED;
	if (h->reset_reason > MSG_RESET_DEBUGGER || h->request_window == 0 || h->max_frame < FRAME_MIN_LIMIT ||
	    h->max_frame > FRAME_MAX_SIZE)
		return MSG_STATUS_BAD_PARAM;
	return MSG_STATUS_OK;
}

static enum msg_status check_stats(const struct msg_stats *s)
{
	return s->mesh_seq <= MSG_MESH_SEQ_MAX ? MSG_STATUS_OK : MSG_STATUS_BAD_PARAM;
}

static enum msg_status check_log(const struct msg_log *l)
{
	if (l->module_len < 1 || l->module_len > MSG_LOG_MODULE_MAX || l->text_len > MSG_LOG_TEXT_MAX)
		return MSG_STATUS_BAD_LENGTH;
	if (l->level < MSG_LOG_ERROR || l->level > MSG_LOG_DEBUG)
		return MSG_STATUS_BAD_PARAM;
	for (size_t i = 0; i < l->module_len; i++) {
		unsigned char c = (unsigned char)l->module[i];

		if (c < 0x21 || c > 0x7e)
			return MSG_STATUS_BAD_PARAM;
	}
	if (bytes_contain((const uint8_t *)l->text, l->text_len, 0))
		return MSG_STATUS_BAD_PARAM;
	return MSG_STATUS_OK;
}

static enum msg_status check_mesh_config(const struct msg_mesh_config *c)
{
	if (c->net_key_index > MSG_KEY_INDEX_MAX || c->app_key_index > MSG_KEY_INDEX_MAX || !is_unicast(c->address) ||
	    c->seq > MSG_MESH_SEQ_MAX)
		return MSG_STATUS_BAD_PARAM;
	return MSG_STATUS_OK;
}

static bool ttl_valid(uint8_t ttl);

static enum msg_status check_mesh_send(const struct msg_mesh_send *s)
{
	if (!access_len_valid(s->payload_len))
		return MSG_STATUS_BAD_LENGTH;
	if (!ttl_valid(s->ttl))
		return MSG_STATUS_BAD_PARAM;
	if (!is_unicast_or_group(s->dst) || (s->devkey && !is_unicast(s->dst)) || s->key_index > MSG_KEY_INDEX_MAX)
		return MSG_STATUS_BAD_PARAM;
	return MSG_STATUS_OK;
}

static enum msg_status check_mesh_recv(const struct msg_mesh_recv *r)
{
	if (!access_len_valid(r->payload_len))
		return MSG_STATUS_BAD_LENGTH;
	if (!is_unicast(r->src) || !is_unicast_or_group(r->dst) || r->key_index > MSG_KEY_INDEX_MAX || r->ttl > 127)
		return MSG_STATUS_BAD_PARAM;
	return MSG_STATUS_OK;
}

static enum msg_status check_slot_info(const struct msg_slot_info *s)
{
	if (s->image_size > s->slot_size || s->bytes_written > s->image_size)
		return MSG_STATUS_BAD_PARAM;
	switch (s->state) {
	case MSG_SLOT_EMPTY:
		return s->image_size == 0 ? MSG_STATUS_OK : MSG_STATUS_BAD_PARAM;
	case MSG_SLOT_WRITING:
		return s->image_size > 0 ? MSG_STATUS_OK : MSG_STATUS_BAD_PARAM;
	case MSG_SLOT_COMMITTED:
		return s->image_size > 0 && s->bytes_written == s->image_size ? MSG_STATUS_OK : MSG_STATUS_BAD_PARAM;
	}
	return MSG_STATUS_BAD_PARAM;
}

static enum msg_status check_slot_write(const struct msg_slot_write *s)
{
	if (s->len < 1 || s->len > MSG_SLOT_WRITE_MAX)
		return MSG_STATUS_BAD_LENGTH;
	if (s->offset % 4 != 0 || s->offset > UINT32_MAX - s->len)
		return MSG_STATUS_BAD_PARAM;
	return MSG_STATUS_OK;
}

static bool ttl_valid(uint8_t ttl)
{
	/* TTL 1 is prohibited for sending (Mesh Protocol 3.4.5.4); 0xFF asks for the default. */
	return ttl != 1 && (ttl <= 127 || ttl == MSG_TTL_DEFAULT);
}

static enum msg_status check_dist_start(const struct msg_dist_start *s)
{
	if (s->fwid_len < 1 || s->fwid_len > MSG_DIST_FWID_MAX || s->count < 1)
		return MSG_STATUS_BAD_LENGTH;
	if (s->id == 0 || (s->group != MSG_ADDR_UNASSIGNED && s->group < MSG_ADDR_GROUP_MIN) ||
	    s->app_key_index > MSG_KEY_INDEX_MAX || !ttl_valid(s->ttl) ||
	    (s->mode != MSG_DIST_MODE_PUSH && s->mode != MSG_DIST_MODE_PULL) || s->policy > MSG_DIST_POLICY_APPLY)
		return MSG_STATUS_BAD_PARAM;
	if (s->block_size_log != 0 &&
	    (s->block_size_log < MSG_DIST_BLOCK_SIZE_LOG_MIN || s->block_size_log > MSG_DIST_BLOCK_SIZE_LOG_MAX))
		return MSG_STATUS_BAD_PARAM;
	if (s->chunk_size != 0 && (s->chunk_size < MSG_DIST_CHUNK_SIZE_MIN || s->chunk_size > MSG_DIST_CHUNK_SIZE_MAX))
		return MSG_STATUS_BAD_PARAM;
	if (s->total < 1 || s->first >= s->total || s->count > s->total - s->first)
		return MSG_STATUS_BAD_PARAM;
	for (uint16_t i = 0; i < s->count; i++)
		if (!is_unicast(msg_dist_entry(s, i).address))
			return MSG_STATUS_BAD_PARAM;
	return MSG_STATUS_OK;
}

static enum msg_status check_dist_info(const struct msg_dist_info *d)
{
	if (d->state > MSG_DIST_CANCELLED || d->phase > MSG_DIST_PHASE_DONE || d->reason > MSG_DIST_REASON_LAST ||
	    d->mode > MSG_DIST_MODE_PULL)
		return MSG_STATUS_BAD_PARAM;
	return MSG_STATUS_OK;
}

static enum msg_status check_dist_target_info(const struct msg_dist_target_info *t)
{
	if (!is_unicast(t->address) || t->phase > MSG_DIST_PHASE_DONE || t->result > MSG_DIST_TARGET_CANCELLED ||
	    t->reason > MSG_DIST_REASON_LAST || t->status_source > MSG_DIST_STATUS_BLOB || t->effect > DIST_EFFECT_MAX)
		return MSG_STATUS_BAD_PARAM;
	return MSG_STATUS_OK;
}

static enum msg_status check_dist_targets_header(const struct msg_dist_targets *t)
{
	if (t->count > MSG_DIST_TARGETS_PAGE_MAX)
		return MSG_STATUS_BAD_LENGTH;
	if (t->count > 0 && (t->first >= t->total || t->count > t->total - t->first))
		return MSG_STATUS_BAD_PARAM;
	return MSG_STATUS_OK;
}

static enum msg_status check_dist_progress(const struct msg_dist_progress *p)
{
	return p->blocks_done <= p->blocks ? MSG_STATUS_OK : MSG_STATUS_BAD_PARAM;
}

static enum msg_status check_dist_state(const struct msg_dist_state_evt *e)
{
	if (e->state > MSG_DIST_CANCELLED || e->phase > MSG_DIST_PHASE_DONE || e->reason > MSG_DIST_REASON_LAST)
		return MSG_STATUS_BAD_PARAM;
	return MSG_STATUS_OK;
}

/* --- decoding --- */

static enum msg_status get_empty(const struct reader *r)
{
	return r->len == 0 ? MSG_STATUS_OK : MSG_STATUS_BAD_LENGTH;
}

static enum msg_status get_hello(struct reader *r, struct msg_hello *h)
{
	uint8_t reason;

	/* The version first: a HELLO of another major version may have any length after it. */
	if (r->len >= 2 && r->buf[0] != MSG_VERSION_MAJOR)
		return MSG_STATUS_NOT_SUPPORTED;
	if (r->len < HELLO_RSP_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	h->proto_major = get_u8(r);
	h->proto_minor = get_u8(r);
	/* A later firmware may know reasons this build does not; that is no reason to refuse its HELLO. */
	reason = get_u8(r);
	h->reset_reason = reason <= MSG_RESET_DEBUGGER ? (enum msg_reset_reason)reason : MSG_RESET_UNKNOWN;
	h->request_window = get_u8(r);
	h->max_frame = get_le16(r);
	h->max_targets = get_le16(r);
	h->slot_size = get_le32(r);
	h->features = get_le32(r);
	h->next_event_seq = get_le32(r);
	h->fw_major = get_u8(r);
	h->fw_minor = get_u8(r);
	h->fw_patch = get_le16(r);
	get_bytes(r, h->build_id, sizeof(h->build_id));
	/* bytes after HELLO_RSP_SIZE: fields of a later minor version, ignored */
	return check_hello(h);
}

static enum msg_status get_reset(struct reader *r, struct msg_reset *m)
{
	uint8_t mode;

	if (r->len != RESET_REQ_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	mode = get_u8(r);
	if (mode > MSG_RESET_MODE_BOOTLOADER)
		return MSG_STATUS_BAD_PARAM;
	m->mode = (enum msg_reset_mode)mode;
	return MSG_STATUS_OK;
}

static enum msg_status get_stats(struct reader *r, struct msg_stats *s)
{
	if (r->len < STATS_RSP_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	s->uptime_s = get_le32(r);
	s->rx_frames = get_le32(r);
	s->tx_frames = get_le32(r);
	s->rx_bad_crc = get_le32(r);
	s->rx_bad_frame = get_le32(r);
	s->rx_dropped = get_le32(r);
	s->rx_duplicates = get_le32(r);
	s->events_dropped = get_le32(r);
	s->mesh_tx = get_le32(r);
	s->mesh_tx_failed = get_le32(r);
	s->mesh_rx = get_le32(r);
	s->mesh_seq = get_le32(r);
	/* counters after STATS_RSP_SIZE: a later minor version, ignored */
	return check_stats(s);
}

static enum msg_status get_log(struct reader *r, struct msg_log *l)
{
	size_t text_len;

	if (r->len < LOG_HEADER_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	l->level = (enum msg_log_level)get_u8(r);
	l->module_len = get_u8(r);
	l->uptime_ms = get_le32(r);
	if (l->module_len > r->len - r->pos)
		return MSG_STATUS_BAD_LENGTH;
	l->module = (const char *)r->buf + r->pos;
	r->pos += l->module_len;
	l->text = (const char *)get_rest(r, &text_len);
	if (text_len > MSG_LOG_TEXT_MAX)
		return MSG_STATUS_BAD_LENGTH;
	l->text_len = (uint16_t)text_len;
	return check_log(l);
}

static enum msg_status get_mesh_config(struct reader *r, struct msg_mesh_config *c)
{
	uint8_t flags;

	if (r->len != MESH_CONFIG_REQ_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	get_bytes(r, c->net_key, sizeof(c->net_key));
	get_bytes(r, c->app_key, sizeof(c->app_key));
	c->net_key_index = get_le16(r);
	c->app_key_index = get_le16(r);
	c->iv_index = get_le32(r);
	c->seq = get_le32(r);
	c->address = get_le16(r);
	flags = get_u8(r);
	if (flags & ~MSG_MESH_FLAG_IV_UPDATE)
		return MSG_STATUS_BAD_PARAM;
	c->iv_update = flags & MSG_MESH_FLAG_IV_UPDATE;
	return check_mesh_config(c);
}

/* MESH_CONFIG and SLOT_WRITE responses: one u32. */
static enum msg_status get_u32(struct reader *r, uint32_t *value, uint32_t max)
{
	if (r->len != sizeof(uint32_t))
		return MSG_STATUS_BAD_LENGTH;
	*value = get_le32(r);
	return *value <= max ? MSG_STATUS_OK : MSG_STATUS_BAD_PARAM;
}

static enum msg_status get_mesh_send(struct reader *r, struct msg_mesh_send *s)
{
	uint8_t flags;
	size_t len;

	if (r->len < MESH_SEND_HEADER_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	s->dst = get_le16(r);
	s->key_index = get_le16(r);
	flags = get_u8(r);
	s->ttl = get_u8(r);
	if (flags & ~MSG_MESH_FLAG_DEVKEY)
		return MSG_STATUS_BAD_PARAM;
	s->devkey = flags & MSG_MESH_FLAG_DEVKEY;
	if (s->devkey) {
		if (r->len - r->pos < MSG_KEY_SIZE)
			return MSG_STATUS_BAD_LENGTH;
		get_bytes(r, s->dev_key, sizeof(s->dev_key));
	}
	s->payload = get_rest(r, &len);
	if (!access_len_valid(len))
		return MSG_STATUS_BAD_LENGTH;
	s->payload_len = (uint16_t)len;
	return check_mesh_send(s);
}

static enum msg_status get_mesh_recv(struct reader *r, struct msg_mesh_recv *m)
{
	uint8_t flags;
	size_t len;

	if (r->len < MESH_RECV_HEADER_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	m->src = get_le16(r);
	m->dst = get_le16(r);
	m->key_index = get_le16(r);
	flags = get_u8(r);
	m->ttl = get_u8(r);
	m->rssi = (int8_t)get_u8(r);
	if (flags & ~MSG_MESH_FLAG_DEVKEY)
		return MSG_STATUS_BAD_PARAM;
	m->devkey = flags & MSG_MESH_FLAG_DEVKEY;
	m->payload = get_rest(r, &len);
	if (!access_len_valid(len))
		return MSG_STATUS_BAD_LENGTH;
	m->payload_len = (uint16_t)len;
	return check_mesh_recv(m);
}

static enum msg_status get_slot_info(struct reader *r, struct msg_slot_info *s)
{
	uint8_t state;

	if (r->len != SLOT_INFO_RSP_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	s->slot_size = get_le32(r);
	s->image_size = get_le32(r);
	s->bytes_written = get_le32(r);
	state = get_u8(r);
	if (state > MSG_SLOT_COMMITTED)
		return MSG_STATUS_BAD_PARAM;
	s->state = (enum msg_slot_state)state;
	get_bytes(r, s->sha256, sizeof(s->sha256));
	return check_slot_info(s);
}

static enum msg_status get_slot_image(struct reader *r, struct msg_slot_image *s)
{
	if (r->len != SLOT_IMAGE_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	s->size = get_le32(r);
	get_bytes(r, s->sha256, sizeof(s->sha256));
	return s->size > 0 ? MSG_STATUS_OK : MSG_STATUS_BAD_PARAM;
}

static enum msg_status get_slot_write(struct reader *r, struct msg_slot_write *s)
{
	size_t len;

	if (r->len < SLOT_WRITE_HEADER_SIZE + 1 || r->len > SLOT_WRITE_HEADER_SIZE + MSG_SLOT_WRITE_MAX)
		return MSG_STATUS_BAD_LENGTH;
	s->offset = get_le32(r);
	s->data = get_rest(r, &len);
	s->len = (uint16_t)len;
	return check_slot_write(s);
}

static enum msg_status get_data(struct reader *r, struct msg_data *d)
{
	size_t len;

	d->data = get_rest(r, &len);
	d->len = (uint16_t)len;
	return MSG_STATUS_OK;
}

static enum msg_status get_dist_start(struct reader *r, struct msg_dist_start *s)
{
	if (r->len < DIST_START_HEADER_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	s->id = get_le32(r);
	s->group = get_le16(r);
	s->app_key_index = get_le16(r);
	s->ttl = get_u8(r);
	s->timeout_base = get_le16(r);
	s->mode = get_u8(r);
	s->policy = get_u8(r);
	s->block_size_log = get_u8(r);
	s->chunk_size = get_le16(r);
	get_bytes(r, s->sha256, sizeof(s->sha256));
	s->total = get_le16(r);
	s->first = get_le16(r);
	s->count = get_le16(r);
	s->fwid_len = get_u8(r);
	/* FWID, metadata length, metadata, then exactly count entries */
	if (reader_left(r) < (size_t)s->fwid_len + 1)
		return MSG_STATUS_BAD_LENGTH;
	s->fwid = r->buf + r->pos;
	r->pos += s->fwid_len;
	s->metadata_len = get_u8(r);
	if (reader_left(r) < s->metadata_len)
		return MSG_STATUS_BAD_LENGTH;
	s->metadata = r->buf + r->pos;
	r->pos += s->metadata_len;
	if (reader_left(r) != (size_t)s->count * MSG_DIST_ENTRY_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	s->entries = r->buf + r->pos;
	r->pos = r->len;
	return check_dist_start(s);
}

static enum msg_status get_dist_info(struct reader *r, struct msg_dist_info *d)
{
	if (r->len < DIST_INFO_RSP_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	d->id = get_le32(r);
	d->state = get_u8(r);
	d->phase = get_u8(r);
	d->reason = get_u8(r);
	d->mode = get_u8(r);
	d->group = get_le16(r);
	d->block = get_le16(r);
	d->blocks = get_le16(r);
	d->block_size_log = get_u8(r);
	d->chunk_size = get_le16(r);
	d->total = get_le16(r);
	d->received = get_le16(r);
	d->pending = get_le16(r);
	d->succeeded = get_le16(r);
	d->failed = get_le16(r);
	d->cancelled = get_le16(r);
	d->elapsed_ms = get_le32(r);
	/* fields after DIST_INFO_RSP_SIZE: a later minor version, ignored */
	return check_dist_info(d);
}

static enum msg_status get_dist_page(struct reader *r, struct msg_dist_page *p)
{
	if (r->len != DIST_PAGE_REQ_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	p->first = get_le16(r);
	p->max = get_le16(r);
	return MSG_STATUS_OK;
}

static void read_dist_target_info(struct reader *r, struct msg_dist_target_info *t)
{
	t->address = get_le16(r);
	t->image_index = get_u8(r);
	t->phase = get_u8(r);
	t->result = get_u8(r);
	t->reason = get_u8(r);
	t->status_source = get_u8(r);
	t->status = get_u8(r);
	t->effect = get_u8(r);
	t->blocks_done = get_le16(r);
}

static enum msg_status get_dist_targets(struct reader *r, struct msg_dist_targets *t)
{
	enum msg_status st;

	if (r->len < DIST_TARGETS_HEADER_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	t->id = get_le32(r);
	t->total = get_le16(r);
	t->first = get_le16(r);
	t->count = get_le16(r);
	t->info = NULL;
	if (reader_left(r) != (size_t)t->count * MSG_DIST_TARGET_INFO_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	st = check_dist_targets_header(t);
	if (st != MSG_STATUS_OK)
		return st;
	t->entries = r->buf + r->pos;
	for (uint16_t i = 0; i < t->count; i++) {
		struct msg_dist_target_info info;

		read_dist_target_info(r, &info);
		st = check_dist_target_info(&info);
		if (st != MSG_STATUS_OK)
			return st;
	}
	return MSG_STATUS_OK;
}

static enum msg_status get_dist_target(struct reader *r, struct msg_dist_target_evt *e)
{
	if (r->len != DIST_TARGET_EVT_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	e->id = get_le32(r);
	e->index = get_le16(r);
	read_dist_target_info(r, &e->t);
	return check_dist_target_info(&e->t);
}

static enum msg_status get_dist_progress(struct reader *r, struct msg_dist_progress *p)
{
	if (r->len != DIST_PROGRESS_EVT_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	p->id = get_le32(r);
	p->blocks_done = get_le16(r);
	p->blocks = get_le16(r);
	p->active = get_le16(r);
	return check_dist_progress(p);
}

static enum msg_status get_dist_state(struct reader *r, struct msg_dist_state_evt *e)
{
	if (r->len != DIST_STATE_EVT_SIZE)
		return MSG_STATUS_BAD_LENGTH;
	e->id = get_le32(r);
	e->state = get_u8(r);
	e->phase = get_u8(r);
	e->reason = get_u8(r);
	return check_dist_state(e);
}

enum msg_status msg_decode(const struct frame_header *h, const uint8_t *payload, struct msg *ret)
{
	struct reader r = { .buf = payload, .len = h->payload_len };
	struct msg m = { .kind = h->kind, .status = h->kind == FRAME_RESPONSE ? h->status : 0 };
	bool request = h->kind == FRAME_REQUEST;
	enum msg_status st = MSG_STATUS_UNKNOWN_MESSAGE;

	if (!msg_type_valid(h->type, h->kind))
		return MSG_STATUS_UNKNOWN_MESSAGE;
	if (h->payload_len > FRAME_MAX_PAYLOAD)
		return MSG_STATUS_BAD_LENGTH;
	m.type = (enum msg_type)h->type;
	if (m.kind == FRAME_RESPONSE && m.status != MSG_STATUS_OK && m.type != MSG_SLOT_WRITE) {
		if (h->payload_len != 0)
			return MSG_STATUS_BAD_LENGTH;
		*ret = m;
		return MSG_STATUS_OK;
	}

	switch (m.type) {
	case MSG_HELLO:
		st = request ? get_empty(&r) : get_hello(&r, &m.u.hello);
		break;
	case MSG_ECHO:
		st = get_data(&r, &m.u.echo);
		break;
	case MSG_RESET:
		st = request ? get_reset(&r, &m.u.reset) : get_empty(&r);
		break;
	case MSG_STATS:
		st = request ? get_empty(&r) : get_stats(&r, &m.u.stats);
		break;
	case MSG_LOG:
		st = get_log(&r, &m.u.log);
		break;
	case MSG_MESH_CONFIG:
		st = request ? get_mesh_config(&r, &m.u.mesh_config) : get_u32(&r, &m.u.mesh_seq, MSG_MESH_SEQ_MAX);
		break;
	case MSG_MESH_SEND:
		st = request ? get_mesh_send(&r, &m.u.mesh_send) : get_empty(&r);
		break;
	case MSG_MESH_RECV:
		st = get_mesh_recv(&r, &m.u.mesh_recv);
		break;
	case MSG_SLOT_INFO:
		st = request ? get_empty(&r) : get_slot_info(&r, &m.u.slot_info);
		break;
	case MSG_SLOT_BEGIN:
	case MSG_SLOT_COMMIT:
		st = request ? get_slot_image(&r, &m.u.slot_image) : get_empty(&r);
		break;
	case MSG_SLOT_WRITE:
		st = request ? get_slot_write(&r, &m.u.slot_write) : get_u32(&r, &m.u.bytes_written, UINT32_MAX);
		break;
	case MSG_DIST_START:
		st = request ? get_dist_start(&r, &m.u.dist_start) : get_empty(&r);
		break;
	case MSG_DIST_GET:
		st = request ? get_empty(&r) : get_dist_info(&r, &m.u.dist_info);
		break;
	case MSG_DIST_TARGETS_GET:
		st = request ? get_dist_page(&r, &m.u.dist_page) : get_dist_targets(&r, &m.u.dist_targets);
		break;
	case MSG_DIST_SUSPEND:
	case MSG_DIST_RESUME:
	case MSG_DIST_CANCEL:
	case MSG_DIST_APPLY:
		if (!request)
			st = get_empty(&r);
		else if (r.len != DIST_ID_REQ_SIZE)
			st = MSG_STATUS_BAD_LENGTH;
		else
			st = (m.u.dist_id = get_le32(&r)) != 0 ? MSG_STATUS_OK : MSG_STATUS_BAD_PARAM;
		break;
	case MSG_DIST_TARGET:
		st = get_dist_target(&r, &m.u.dist_target);
		break;
	case MSG_DIST_PROGRESS:
		st = get_dist_progress(&r, &m.u.dist_progress);
		break;
	case MSG_DIST_STATE:
		st = get_dist_state(&r, &m.u.dist_state);
		break;
	}
	if (st == MSG_STATUS_OK)
		*ret = m;
	return st;
}

/* --- encoding --- */

static enum msg_status put_hello(struct writer *w, const struct msg_hello *h)
{
	enum msg_status st = check_hello(h);

	if (st != MSG_STATUS_OK)
		return st == MSG_STATUS_NOT_SUPPORTED ? MSG_STATUS_BAD_PARAM : st;
	put_u8(w, h->proto_major);
	put_u8(w, h->proto_minor);
	put_u8(w, (uint8_t)h->reset_reason);
	put_u8(w, h->request_window);
	put_le16(w, h->max_frame);
	put_le16(w, h->max_targets);
	put_le32(w, h->slot_size);
	put_le32(w, h->features);
	put_le32(w, h->next_event_seq);
	put_u8(w, h->fw_major);
	put_u8(w, h->fw_minor);
	put_le16(w, h->fw_patch);
	put_bytes(w, h->build_id, sizeof(h->build_id));
	return MSG_STATUS_OK;
}

static enum msg_status put_reset(struct writer *w, const struct msg_reset *m)
{
	if (m->mode != MSG_RESET_MODE_APP && m->mode != MSG_RESET_MODE_BOOTLOADER)
		return MSG_STATUS_BAD_PARAM;
	put_u8(w, (uint8_t)m->mode);
	return MSG_STATUS_OK;
}

static enum msg_status put_stats(struct writer *w, const struct msg_stats *s)
{
	enum msg_status st = check_stats(s);

	if (st != MSG_STATUS_OK)
		return st;
	put_le32(w, s->uptime_s);
	put_le32(w, s->rx_frames);
	put_le32(w, s->tx_frames);
	put_le32(w, s->rx_bad_crc);
	put_le32(w, s->rx_bad_frame);
	put_le32(w, s->rx_dropped);
	put_le32(w, s->rx_duplicates);
	put_le32(w, s->events_dropped);
	put_le32(w, s->mesh_tx);
	put_le32(w, s->mesh_tx_failed);
	put_le32(w, s->mesh_rx);
	put_le32(w, s->mesh_seq);
	return MSG_STATUS_OK;
}

static enum msg_status put_log(struct writer *w, const struct msg_log *l)
{
	enum msg_status st = check_log(l);

	if (st != MSG_STATUS_OK)
		return st;
	put_u8(w, (uint8_t)l->level);
	put_u8(w, l->module_len);
	put_le32(w, l->uptime_ms);
	put_bytes(w, (const uint8_t *)l->module, l->module_len);
	put_bytes(w, (const uint8_t *)l->text, l->text_len);
	return MSG_STATUS_OK;
}

static enum msg_status put_mesh_config(struct writer *w, const struct msg_mesh_config *c)
{
	enum msg_status st = check_mesh_config(c);

	if (st != MSG_STATUS_OK)
		return st;
	put_bytes(w, c->net_key, sizeof(c->net_key));
	put_bytes(w, c->app_key, sizeof(c->app_key));
	put_le16(w, c->net_key_index);
	put_le16(w, c->app_key_index);
	put_le32(w, c->iv_index);
	put_le32(w, c->seq);
	put_le16(w, c->address);
	put_u8(w, c->iv_update ? MSG_MESH_FLAG_IV_UPDATE : 0);
	return MSG_STATUS_OK;
}

static enum msg_status put_mesh_send(struct writer *w, const struct msg_mesh_send *s)
{
	enum msg_status st = check_mesh_send(s);

	if (st != MSG_STATUS_OK)
		return st;
	put_le16(w, s->dst);
	put_le16(w, s->key_index);
	put_u8(w, s->devkey ? MSG_MESH_FLAG_DEVKEY : 0);
	put_u8(w, s->ttl);
	if (s->devkey)
		put_bytes(w, s->dev_key, sizeof(s->dev_key));
	put_bytes(w, s->payload, s->payload_len);
	return MSG_STATUS_OK;
}

static enum msg_status put_mesh_recv(struct writer *w, const struct msg_mesh_recv *m)
{
	enum msg_status st = check_mesh_recv(m);

	if (st != MSG_STATUS_OK)
		return st;
	put_le16(w, m->src);
	put_le16(w, m->dst);
	put_le16(w, m->key_index);
	put_u8(w, m->devkey ? MSG_MESH_FLAG_DEVKEY : 0);
	put_u8(w, m->ttl);
	put_u8(w, (uint8_t)m->rssi);
	put_bytes(w, m->payload, m->payload_len);
	return MSG_STATUS_OK;
}

static enum msg_status put_slot_info(struct writer *w, const struct msg_slot_info *s)
{
	enum msg_status st = check_slot_info(s);

	if (st != MSG_STATUS_OK)
		return st;
	put_le32(w, s->slot_size);
	put_le32(w, s->image_size);
	put_le32(w, s->bytes_written);
	put_u8(w, (uint8_t)s->state);
	put_bytes(w, s->sha256, sizeof(s->sha256));
	return MSG_STATUS_OK;
}

static enum msg_status put_slot_image(struct writer *w, const struct msg_slot_image *s)
{
	if (s->size == 0)
		return MSG_STATUS_BAD_PARAM;
	put_le32(w, s->size);
	put_bytes(w, s->sha256, sizeof(s->sha256));
	return MSG_STATUS_OK;
}

static enum msg_status put_slot_write(struct writer *w, const struct msg_slot_write *s)
{
	enum msg_status st = check_slot_write(s);

	if (st != MSG_STATUS_OK)
		return st;
	put_le32(w, s->offset);
	put_bytes(w, s->data, s->len);
	return MSG_STATUS_OK;
}

static enum msg_status put_data(struct writer *w, const struct msg_data *d)
{
	if (d->len > FRAME_MAX_PAYLOAD)
		return MSG_STATUS_BAD_LENGTH;
	put_bytes(w, d->data, d->len);
	return MSG_STATUS_OK;
}

static enum msg_status put_mesh_seq(struct writer *w, uint32_t seq)
{
	if (seq > MSG_MESH_SEQ_MAX)
		return MSG_STATUS_BAD_PARAM;
	put_le32(w, seq);
	return MSG_STATUS_OK;
}

static enum msg_status put_dist_start(struct writer *w, const struct msg_dist_start *s)
{
	enum msg_status st = check_dist_start(s);

	if (st != MSG_STATUS_OK)
		return st;
	put_le32(w, s->id);
	put_le16(w, s->group);
	put_le16(w, s->app_key_index);
	put_u8(w, s->ttl);
	put_le16(w, s->timeout_base);
	put_u8(w, s->mode);
	put_u8(w, s->policy);
	put_u8(w, s->block_size_log);
	put_le16(w, s->chunk_size);
	put_bytes(w, s->sha256, sizeof(s->sha256));
	put_le16(w, s->total);
	put_le16(w, s->first);
	put_le16(w, s->count);
	put_u8(w, s->fwid_len);
	put_bytes(w, s->fwid, s->fwid_len);
	put_u8(w, s->metadata_len);
	put_bytes(w, s->metadata, s->metadata_len);
	put_bytes(w, s->entries, (size_t)s->count * MSG_DIST_ENTRY_SIZE);
	/* a batch the frame cannot hold is the host's to split, not a full buffer */
	if (w->full && msg_dist_start_size(s->fwid_len, s->metadata_len, s->count) > FRAME_MAX_PAYLOAD)
		return MSG_STATUS_BAD_LENGTH;
	return MSG_STATUS_OK;
}

static enum msg_status put_dist_info(struct writer *w, const struct msg_dist_info *d)
{
	enum msg_status st = check_dist_info(d);

	if (st != MSG_STATUS_OK)
		return st;
	put_le32(w, d->id);
	put_u8(w, d->state);
	put_u8(w, d->phase);
	put_u8(w, d->reason);
	put_u8(w, d->mode);
	put_le16(w, d->group);
	put_le16(w, d->block);
	put_le16(w, d->blocks);
	put_u8(w, d->block_size_log);
	put_le16(w, d->chunk_size);
	put_le16(w, d->total);
	put_le16(w, d->received);
	put_le16(w, d->pending);
	put_le16(w, d->succeeded);
	put_le16(w, d->failed);
	put_le16(w, d->cancelled);
	put_le32(w, d->elapsed_ms);
	return MSG_STATUS_OK;
}

static void write_dist_target_info(struct writer *w, const struct msg_dist_target_info *t)
{
	put_le16(w, t->address);
	put_u8(w, t->image_index);
	put_u8(w, t->phase);
	put_u8(w, t->result);
	put_u8(w, t->reason);
	put_u8(w, t->status_source);
	put_u8(w, t->status);
	put_u8(w, t->effect);
	put_le16(w, t->blocks_done);
}

static enum msg_status put_dist_targets(struct writer *w, const struct msg_dist_targets *t)
{
	enum msg_status st = check_dist_targets_header(t);

	if (st != MSG_STATUS_OK)
		return st;
	/* the entries come from @info, or as decoded from @entries (so a decoded response re-encodes) */
	if (t->count > 0 && t->info == NULL && t->entries == NULL)
		return MSG_STATUS_BAD_PARAM;
	for (uint16_t i = 0; i < t->count; i++) {
		struct msg_dist_target_info info = t->info ? t->info[i] : msg_dist_target_at(t, i);

		st = check_dist_target_info(&info);
		if (st != MSG_STATUS_OK)
			return st;
	}
	put_le32(w, t->id);
	put_le16(w, t->total);
	put_le16(w, t->first);
	put_le16(w, t->count);
	for (uint16_t i = 0; i < t->count; i++) {
		struct msg_dist_target_info info = t->info ? t->info[i] : msg_dist_target_at(t, i);

		write_dist_target_info(w, &info);
	}
	return MSG_STATUS_OK;
}

static enum msg_status put_dist_target(struct writer *w, const struct msg_dist_target_evt *e)
{
	enum msg_status st = check_dist_target_info(&e->t);

	if (st != MSG_STATUS_OK)
		return st;
	put_le32(w, e->id);
	put_le16(w, e->index);
	write_dist_target_info(w, &e->t);
	return MSG_STATUS_OK;
}

static enum msg_status put_dist_progress(struct writer *w, const struct msg_dist_progress *p)
{
	enum msg_status st = check_dist_progress(p);

	if (st != MSG_STATUS_OK)
		return st;
	put_le32(w, p->id);
	put_le16(w, p->blocks_done);
	put_le16(w, p->blocks);
	put_le16(w, p->active);
	return MSG_STATUS_OK;
}

static enum msg_status put_dist_state(struct writer *w, const struct msg_dist_state_evt *e)
{
	enum msg_status st = check_dist_state(e);

	if (st != MSG_STATUS_OK)
		return st;
	put_le32(w, e->id);
	put_u8(w, e->state);
	put_u8(w, e->phase);
	put_u8(w, e->reason);
	return MSG_STATUS_OK;
}

enum msg_status msg_encode(const struct msg *m, uint8_t *out, size_t cap, size_t *ret_len)
{
	struct writer w = { .buf = out, .cap = cap };
	bool request = m->kind == FRAME_REQUEST;
	enum msg_status st = MSG_STATUS_UNKNOWN_MESSAGE;

	if (!msg_type_valid(m->type, m->kind))
		return MSG_STATUS_UNKNOWN_MESSAGE;
	if (m->kind == FRAME_RESPONSE && m->status != MSG_STATUS_OK && m->type != MSG_SLOT_WRITE) {
		*ret_len = 0;
		return MSG_STATUS_OK;
	}

	switch (m->type) {
	case MSG_HELLO:
		st = request ? MSG_STATUS_OK : put_hello(&w, &m->u.hello);
		break;
	case MSG_ECHO:
		st = put_data(&w, &m->u.echo);
		break;
	case MSG_RESET:
		st = request ? put_reset(&w, &m->u.reset) : MSG_STATUS_OK;
		break;
	case MSG_STATS:
		st = request ? MSG_STATUS_OK : put_stats(&w, &m->u.stats);
		break;
	case MSG_LOG:
		st = put_log(&w, &m->u.log);
		break;
	case MSG_MESH_CONFIG:
		st = request ? put_mesh_config(&w, &m->u.mesh_config) : put_mesh_seq(&w, m->u.mesh_seq);
		break;
	case MSG_MESH_SEND:
		st = request ? put_mesh_send(&w, &m->u.mesh_send) : MSG_STATUS_OK;
		break;
	case MSG_MESH_RECV:
		st = put_mesh_recv(&w, &m->u.mesh_recv);
		break;
	case MSG_SLOT_INFO:
		st = request ? MSG_STATUS_OK : put_slot_info(&w, &m->u.slot_info);
		break;
	case MSG_SLOT_BEGIN:
	case MSG_SLOT_COMMIT:
		st = request ? put_slot_image(&w, &m->u.slot_image) : MSG_STATUS_OK;
		break;
	case MSG_SLOT_WRITE:
		if (request) {
			st = put_slot_write(&w, &m->u.slot_write);
		} else {
			put_le32(&w, m->u.bytes_written);
			st = MSG_STATUS_OK;
		}
		break;
	case MSG_DIST_START:
		st = request ? put_dist_start(&w, &m->u.dist_start) : MSG_STATUS_OK;
		break;
	case MSG_DIST_GET:
		st = request ? MSG_STATUS_OK : put_dist_info(&w, &m->u.dist_info);
		break;
	case MSG_DIST_TARGETS_GET:
		if (request) {
			put_le16(&w, m->u.dist_page.first);
			put_le16(&w, m->u.dist_page.max);
			st = MSG_STATUS_OK;
		} else {
			st = put_dist_targets(&w, &m->u.dist_targets);
		}
		break;
	case MSG_DIST_SUSPEND:
	case MSG_DIST_RESUME:
	case MSG_DIST_CANCEL:
	case MSG_DIST_APPLY:
		if (request) {
			st = m->u.dist_id != 0 ? MSG_STATUS_OK : MSG_STATUS_BAD_PARAM;
			put_le32(&w, m->u.dist_id);
		} else {
			st = MSG_STATUS_OK;
		}
		break;
	case MSG_DIST_TARGET:
		st = put_dist_target(&w, &m->u.dist_target);
		break;
	case MSG_DIST_PROGRESS:
		st = put_dist_progress(&w, &m->u.dist_progress);
		break;
	case MSG_DIST_STATE:
		st = put_dist_state(&w, &m->u.dist_state);
		break;
	}
	if (st != MSG_STATUS_OK)
		return st;
	if (w.full)
		return MSG_STATUS_NO_MEMORY;
	*ret_len = w.len;
	return MSG_STATUS_OK;
}

enum msg_status msg_encode_frame(const struct msg *m, uint32_t seq, bool retransmit, uint8_t *out, size_t cap,
				 size_t *ret_len)
{
	struct frame_header h = {
		.type = (uint8_t)m->type,
		.kind = m->kind,
		.retransmit = retransmit && m->kind == FRAME_REQUEST && m->type != MSG_HELLO,
		.status = m->kind == FRAME_RESPONSE ? m->status : 0,
		.seq = seq,
	};
	size_t payload_len, len;
	enum msg_status st;

	if (cap < FRAME_OVERHEAD)
		return MSG_STATUS_NO_MEMORY;
	st = msg_encode(m, out + FRAME_HEADER_SIZE, cap - FRAME_OVERHEAD, &payload_len);
	if (st != MSG_STATUS_OK)
		return st;
	/* Every layout stays within FRAME_MAX_PAYLOAD and msg_encode() kept to the room left for the payload, so
	 * frame_encode() cannot fail; the check keeps it that way if a layout grows. */
	h.payload_len = (uint16_t)payload_len;
	len = frame_encode(&h, out + FRAME_HEADER_SIZE, out, cap);
	if (payload_len > FRAME_MAX_PAYLOAD || len == 0)
		return MSG_STATUS_BAD_LENGTH;
	*ret_len = len;
	return MSG_STATUS_OK;
}

bool msg_hello_version(const uint8_t *payload, size_t len, uint8_t *ret_major, uint8_t *ret_minor)
{
	if (len < 2)
		return false;
	*ret_major = payload[0];
	*ret_minor = payload[1];
	return true;
}

static unsigned kinds_of(unsigned type)
{
	switch ((enum msg_type)type) {
	case MSG_HELLO:
	case MSG_ECHO:
	case MSG_RESET:
	case MSG_STATS:
	case MSG_MESH_CONFIG:
	case MSG_MESH_SEND:
	case MSG_SLOT_INFO:
	case MSG_SLOT_BEGIN:
	case MSG_SLOT_WRITE:
	case MSG_SLOT_COMMIT:
	case MSG_DIST_START:
	case MSG_DIST_GET:
	case MSG_DIST_TARGETS_GET:
	case MSG_DIST_SUSPEND:
	case MSG_DIST_RESUME:
	case MSG_DIST_CANCEL:
	case MSG_DIST_APPLY:
		return REQ_RSP;
	case MSG_LOG:
	case MSG_MESH_RECV:
	case MSG_DIST_TARGET:
	case MSG_DIST_PROGRESS:
	case MSG_DIST_STATE:
		return EVT;
	}
	return 0;
}

bool msg_type_valid(unsigned type, enum frame_kind kind)
{
	return kind <= FRAME_EVENT && (kinds_of(type) & KIND_BIT(kind)) != 0;
}

const char *msg_type_to_string(unsigned type)
{
	switch ((enum msg_type)type) {
	case MSG_HELLO:
		return "HELLO";
	case MSG_ECHO:
		return "ECHO";
	case MSG_RESET:
		return "RESET";
	case MSG_STATS:
		return "STATS";
	case MSG_LOG:
		return "LOG";
	case MSG_MESH_CONFIG:
		return "MESH_CONFIG";
	case MSG_MESH_SEND:
		return "MESH_SEND";
	case MSG_MESH_RECV:
		return "MESH_RECV";
	case MSG_SLOT_INFO:
		return "SLOT_INFO";
	case MSG_SLOT_BEGIN:
		return "SLOT_BEGIN";
	case MSG_SLOT_WRITE:
		return "SLOT_WRITE";
	case MSG_SLOT_COMMIT:
		return "SLOT_COMMIT";
	case MSG_DIST_START:
		return "DIST_START";
	case MSG_DIST_GET:
		return "DIST_GET";
	case MSG_DIST_TARGETS_GET:
		return "DIST_TARGETS_GET";
	case MSG_DIST_SUSPEND:
		return "DIST_SUSPEND";
	case MSG_DIST_RESUME:
		return "DIST_RESUME";
	case MSG_DIST_CANCEL:
		return "DIST_CANCEL";
	case MSG_DIST_APPLY:
		return "DIST_APPLY";
	case MSG_DIST_TARGET:
		return "DIST_TARGET";
	case MSG_DIST_PROGRESS:
		return "DIST_PROGRESS";
	case MSG_DIST_STATE:
		return "DIST_STATE";
	}
	return type >= MSG_DIST_FIRST && type <= MSG_DIST_LAST ? "DIST (reserved)" : "unknown";
}

const char *msg_status_to_string(unsigned status)
{
	switch ((enum msg_status)status) {
	case MSG_STATUS_OK:
		return "OK";
	case MSG_STATUS_UNKNOWN_MESSAGE:
		return "UNKNOWN_MESSAGE";
	case MSG_STATUS_BAD_LENGTH:
		return "BAD_LENGTH";
	case MSG_STATUS_BAD_PARAM:
		return "BAD_PARAM";
	case MSG_STATUS_BUSY:
		return "BUSY";
	case MSG_STATUS_NO_MEMORY:
		return "NO_MEMORY";
	case MSG_STATUS_BAD_STATE:
		return "BAD_STATE";
	case MSG_STATUS_NOT_SUPPORTED:
		return "NOT_SUPPORTED";
	case MSG_STATUS_NOT_CONFIGURED:
		return "NOT_CONFIGURED";
	case MSG_STATUS_SLOT_OFFSET:
		return "SLOT_OFFSET";
	case MSG_STATUS_SLOT_TOO_BIG:
		return "SLOT_TOO_BIG";
	case MSG_STATUS_SLOT_HASH_MISMATCH:
		return "SLOT_HASH_MISMATCH";
	case MSG_STATUS_FLASH_ERROR:
		return "FLASH_ERROR";
	case MSG_STATUS_SEQ_EXHAUSTED:
		return "SEQ_EXHAUSTED";
	case MSG_STATUS_INTERNAL:
		return "INTERNAL";
	case MSG_STATUS_DIST_SLOT_MISMATCH:
		return "DIST_SLOT_MISMATCH";
	case MSG_STATUS_DIST_UNKNOWN_ID:
		return "DIST_UNKNOWN_ID";
	}
	return "unknown";
}

const char *msg_reset_reason_to_string(unsigned reason)
{
	switch ((enum msg_reset_reason)reason) {
	case MSG_RESET_UNKNOWN:
		return "UNKNOWN";
	case MSG_RESET_POWER_ON:
		return "POWER_ON";
	case MSG_RESET_PIN:
		return "PIN";
	case MSG_RESET_WATCHDOG:
		return "WATCHDOG";
	case MSG_RESET_SOFTWARE:
		return "SOFTWARE";
	case MSG_RESET_HOST:
		return "HOST";
	case MSG_RESET_FAULT:
		return "FAULT";
	case MSG_RESET_BROWNOUT:
		return "BROWNOUT";
	case MSG_RESET_WAKEUP:
		return "WAKEUP";
	case MSG_RESET_DEBUGGER:
		return "DEBUGGER";
	}
	return "unknown";
}

const char *msg_log_level_to_string(unsigned level)
{
	switch ((enum msg_log_level)level) {
	case MSG_LOG_ERROR:
		return "ERROR";
	case MSG_LOG_WARNING:
		return "WARNING";
	case MSG_LOG_INFO:
		return "INFO";
	case MSG_LOG_DEBUG:
		return "DEBUG";
	}
	return "unknown";
}

const char *msg_slot_state_to_string(unsigned state)
{
	switch ((enum msg_slot_state)state) {
	case MSG_SLOT_EMPTY:
		return "EMPTY";
	case MSG_SLOT_WRITING:
		return "WRITING";
	case MSG_SLOT_COMMITTED:
		return "COMMITTED";
	}
	return "unknown";
}

const char *msg_dist_state_to_string(unsigned state)
{
	switch ((enum msg_dist_state)state) {
	case MSG_DIST_IDLE:
		return "IDLE";
	case MSG_DIST_CONFIGURING:
		return "CONFIGURING";
	case MSG_DIST_RUNNING:
		return "RUNNING";
	case MSG_DIST_SUSPENDED:
		return "SUSPENDED";
	case MSG_DIST_VERIFIED:
		return "VERIFIED";
	case MSG_DIST_COMPLETED:
		return "COMPLETED";
	case MSG_DIST_FAILED:
		return "FAILED";
	case MSG_DIST_CANCELLED:
		return "CANCELLED";
	}
	return "unknown";
}

const char *msg_dist_phase_to_string(unsigned phase)
{
	switch ((enum msg_dist_phase)phase) {
	case MSG_DIST_PHASE_IDLE:
		return "IDLE";
	case MSG_DIST_PHASE_INITIATE:
		return "INITIATE";
	case MSG_DIST_PHASE_CAPABILITIES:
		return "CAPABILITIES";
	case MSG_DIST_PHASE_TRANSFER:
		return "TRANSFER";
	case MSG_DIST_PHASE_BLOCK:
		return "BLOCK";
	case MSG_DIST_PHASE_VERIFY:
		return "VERIFY";
	case MSG_DIST_PHASE_APPLY:
		return "APPLY";
	case MSG_DIST_PHASE_CONFIRM:
		return "CONFIRM";
	case MSG_DIST_PHASE_DONE:
		return "DONE";
	}
	return "unknown";
}

const char *msg_dist_result_to_string(unsigned result)
{
	switch ((enum msg_dist_result)result) {
	case MSG_DIST_PENDING:
		return "pending";
	case MSG_DIST_OK:
		return "ok";
	case MSG_DIST_TARGET_FAILED:
		return "failed";
	case MSG_DIST_TARGET_CANCELLED:
		return "cancelled";
	}
	return "unknown";
}

const char *msg_dist_reason_to_string(unsigned reason)
{
	switch ((enum msg_dist_reason)reason) {
	case MSG_DIST_REASON_NONE:
		return "none";
	case MSG_DIST_REASON_METADATA_REJECTED:
		return "metadata_rejected";
	case MSG_DIST_REASON_START_REJECTED:
		return "start_rejected";
	case MSG_DIST_REASON_BLOB_BUSY:
		return "blob_busy";
	case MSG_DIST_REASON_CAPABILITIES_INCOMPATIBLE:
		return "capabilities_incompatible";
	case MSG_DIST_REASON_TIMEOUT_INITIATE:
		return "timeout_initiate";
	case MSG_DIST_REASON_TIMEOUT_CAPABILITIES:
		return "timeout_capabilities";
	case MSG_DIST_REASON_TIMEOUT_TRANSFER:
		return "timeout_transfer";
	case MSG_DIST_REASON_TIMEOUT_BLOCK:
		return "timeout_block";
	case MSG_DIST_REASON_TIMEOUT_VERIFY:
		return "timeout_verify";
	case MSG_DIST_REASON_TIMEOUT_APPLY:
		return "timeout_apply";
	case MSG_DIST_REASON_TIMEOUT_CONFIRM:
		return "timeout_confirm";
	case MSG_DIST_REASON_VERIFICATION_FAILED:
		return "verification_failed";
	case MSG_DIST_REASON_WRONG_FIRMWARE_AFTER_APPLY:
		return "wrong_firmware_after_apply";
	case MSG_DIST_REASON_CANCELLED:
		return "cancelled";
	case MSG_DIST_REASON_INTERNAL:
		return "internal";
	case MSG_DIST_REASON_TRANSFER_REJECTED:
		return "transfer_rejected";
	case MSG_DIST_REASON_APPLY_REJECTED:
		return "apply_rejected";
	case MSG_DIST_REASON_STILL_PROVISIONED:
		return "still_provisioned";
	case MSG_DIST_REASON_ALL_TARGETS_FAILED:
		return "all_targets_failed";
	}
	return "unknown";
}

struct msg_dist_entry msg_dist_entry(const struct msg_dist_start *s, uint16_t i)
{
	const uint8_t *p = s->entries + (size_t)i * MSG_DIST_ENTRY_SIZE;

	return (struct msg_dist_entry){ .address = bytes_get_le16(p), .image_index = p[2] };
}

struct msg_dist_target_info msg_dist_target_at(const struct msg_dist_targets *t, uint16_t i)
{
	struct reader r = { .buf = t->entries + (size_t)i * MSG_DIST_TARGET_INFO_SIZE,
			    .len = MSG_DIST_TARGET_INFO_SIZE };
	struct msg_dist_target_info info;

	read_dist_target_info(&r, &info);
	return info;
}

size_t msg_dist_start_size(uint8_t fwid_len, uint8_t metadata_len, uint16_t count)
{
	return DIST_START_HEADER_SIZE + (size_t)fwid_len + 1 + metadata_len + (size_t)count * MSG_DIST_ENTRY_SIZE;
}
