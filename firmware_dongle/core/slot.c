/* slot: see slot.h. */
#include "mem.h"
#include "sha256.h"
#include "slot.h"

#define MODULE "slot"

/* CORE_RECORD_SLOT, version 1 */
enum {
	RECORD_MAGIC = 'S',
	RECORD_VERSION = 1,
	RECORD_SIZE = 12 + MSG_SHA256_SIZE,     /* magic, version, state, 0, image_size, durable, sha256 */
};

static uint32_t page_floor(const struct slot *s, uint32_t offset)
{
	return offset - offset % s->platform->slot_page_size;
}

static void set_empty(struct slot *s)
{
	s->state = MSG_SLOT_EMPTY;
	s->image_size = 0;
	s->bytes_written = 0;
	s->durable = 0;
	s->erased_to = 0;
	mem_fill(s->sha256, 0, sizeof(s->sha256));
}

/* Saves the state with @durable as the progress a reset may rely on. */
static int save(struct slot *s, enum msg_slot_state state, uint32_t durable)
{
	const struct core_platform *p = s->platform;
	uint8_t rec[RECORD_SIZE];
	int err;

	rec[0] = RECORD_MAGIC;
	rec[1] = RECORD_VERSION;
	rec[2] = (uint8_t)state;
	rec[3] = 0;
	mem_put_le32(rec + 4, state == MSG_SLOT_EMPTY ? 0 : s->image_size);
	mem_put_le32(rec + 8, durable);
	if (state == MSG_SLOT_EMPTY)
		mem_fill(rec + 12, 0, MSG_SHA256_SIZE);
	else
		mem_copy(rec + 12, s->sha256, MSG_SHA256_SIZE);
	err = p->ops->store_write(p->ctx, CORE_RECORD_SLOT, rec, sizeof(rec));
	if (err != 0)
		logq_printf(s->log, MSG_LOG_ERROR, MODULE, "cannot save the slot record (error %d)", err);
	return err;
}

static bool load(struct slot *s)
{
	const struct core_platform *p = s->platform;
	uint8_t rec[RECORD_SIZE];
	uint32_t size, durable;
	int len = p->ops->store_read(p->ctx, CORE_RECORD_SLOT, rec, sizeof(rec));

	if (len < 0)
		return true;            /* never written: an empty slot */
	if (len != RECORD_SIZE || rec[0] != RECORD_MAGIC || rec[1] != RECORD_VERSION || rec[2] > MSG_SLOT_COMMITTED)
		return false;
	size = mem_get_le32(rec + 4);
	durable = mem_get_le32(rec + 8);
	switch ((enum msg_slot_state)rec[2]) {
	case MSG_SLOT_EMPTY:
		return true;
	case MSG_SLOT_WRITING:
		if (size == 0 || size > p->slot_size || durable > size || durable % p->slot_page_size != 0)
			return false;
		break;
	case MSG_SLOT_COMMITTED:
		if (size == 0 || size > p->slot_size || durable != size)
			return false;
		break;
	}
	s->state = (enum msg_slot_state)rec[2];
	s->image_size = size;
	s->bytes_written = durable;
	s->durable = durable;
	s->erased_to = durable;         /* the page at @durable may hold bytes written after the record: erase it */
	mem_copy(s->sha256, rec + 12, MSG_SHA256_SIZE);
	return true;
}

bool slot_init(struct slot *s, const struct core_platform *platform, struct logq *log)
{
	const struct core_platform_ops *ops = platform->ops;
	uint32_t size = platform->slot_size, page = platform->slot_page_size, align = platform->slot_write_align;

	s->platform = platform;
	s->log = log;
	s->usable = false;
	set_empty(s);
	if (!ops->slot_erase || !ops->slot_write || !ops->slot_read)
		return true;
	if (size == 0 || page == 0 || size % page != 0 || (align != 1 && align != 2 && align != 4) ||
	    page % align != 0) {
		logq_printf(log, MSG_LOG_ERROR, MODULE, "unusable slot geometry: %u bytes, pages of %u, writes of %u",
			    (unsigned)size, (unsigned)page, (unsigned)align);
		return false;
	}
	s->usable = true;
	if (!load(s)) {
		set_empty(s);
		logq_printf(log, MSG_LOG_WARNING, MODULE, "slot record unreadable: the slot is empty");
	}
	return true;
}

bool slot_available(const struct slot *s)
{
	return s->usable;
}

void slot_info(const struct slot *s, struct msg_slot_info *ret)
{
	ret->slot_size = slot_available(s) ? s->platform->slot_size : 0;
	ret->image_size = s->image_size;
	ret->bytes_written = s->bytes_written;
	ret->state = s->state;
	mem_copy(ret->sha256, s->sha256, sizeof(ret->sha256));
}

enum msg_status slot_begin(struct slot *s, const struct msg_slot_image *img)
{
	enum msg_slot_state old = s->state;
	uint32_t old_size = s->image_size;
	uint8_t old_hash[MSG_SHA256_SIZE];

	if (!slot_available(s))
		return MSG_STATUS_NOT_SUPPORTED;
	if (img->size > s->platform->slot_size) {
		logq_printf(s->log, MSG_LOG_WARNING, MODULE, "image of %u bytes does not fit the slot of %u",
			    (unsigned)img->size, (unsigned)s->platform->slot_size);
		return MSG_STATUS_SLOT_TOO_BIG;
	}
	/* The same image again while it is being written: a resumed upload keeps what has arrived. */
	if (s->state == MSG_SLOT_WRITING && s->image_size == img->size &&
	    mem_equal(s->sha256, img->sha256, MSG_SHA256_SIZE)) {
		logq_printf(s->log, MSG_LOG_INFO, MODULE, "resuming the upload of %u bytes at %u",
			    (unsigned)img->size, (unsigned)s->bytes_written);
		return MSG_STATUS_OK;
	}
	mem_copy(old_hash, s->sha256, sizeof(old_hash));
	s->image_size = img->size;
	mem_copy(s->sha256, img->sha256, MSG_SHA256_SIZE);
	if (save(s, MSG_SLOT_WRITING, 0) != 0) {
		s->image_size = old_size;
		mem_copy(s->sha256, old_hash, sizeof(old_hash));
		return MSG_STATUS_FLASH_ERROR;
	}
	s->state = MSG_SLOT_WRITING;
	s->bytes_written = 0;
	s->durable = 0;
	s->erased_to = 0;
	logq_printf(s->log, MSG_LOG_INFO, MODULE, "receiving an image of %u bytes (slot was %s)", (unsigned)img->size,
		    msg_slot_state_to_string(old));
	return MSG_STATUS_OK;
}

/* After a failed write the page under bytes_written may be half programmed: go back to its start, and erase it
 * again before the next write. */
static enum msg_status write_failed(struct slot *s, int err)
{
	s->bytes_written = page_floor(s, s->bytes_written);
	s->erased_to = s->bytes_written;
	logq_printf(s->log, MSG_LOG_ERROR, MODULE, "flash write failed (error %d): continuing at %u", err,
		    (unsigned)s->bytes_written);
	return MSG_STATUS_FLASH_ERROR;
}

enum msg_status slot_write(struct slot *s, const struct msg_slot_write *w)
{
	const struct core_platform *p = s->platform;
	uint32_t align = p->slot_write_align, end, padded_end, body;
	int err;

	if (!slot_available(s))
		return MSG_STATUS_NOT_SUPPORTED;
	if (s->state != MSG_SLOT_WRITING)
		return MSG_STATUS_BAD_STATE;
	if (w->offset != s->bytes_written)
		return MSG_STATUS_SLOT_OFFSET;
	end = w->offset + w->len;       /* the decoder refused offsets that would wrap */
	if (end > s->image_size || (w->len % 4 != 0 && end != s->image_size))
		return MSG_STATUS_BAD_PARAM;

	/* The slot size is a multiple of the page size, which is a multiple of the alignment: no overrun. */
	padded_end = end + (align - end % align) % align;
	while (s->erased_to < padded_end) {
		err = p->ops->slot_erase(p->ctx, s->erased_to, p->slot_page_size);
		if (err != 0) {
			logq_printf(s->log, MSG_LOG_ERROR, MODULE, "erasing the page at %u failed (error %d)",
				    (unsigned)s->erased_to, err);
			return MSG_STATUS_FLASH_ERROR;
		}
		s->erased_to += p->slot_page_size;
	}
	body = w->len - w->len % align;
	err = body > 0 ? p->ops->slot_write(p->ctx, w->offset, w->data, body) : 0;
	if (err == 0 && body < w->len) {
		/* the image's last bytes, padded with the erased value to the write alignment */
		mem_fill(s->buf, 0xff, align);
		mem_copy(s->buf, w->data + body, w->len - body);
		err = p->ops->slot_write(p->ctx, w->offset + body, s->buf, align);
	}
	if (err != 0)
		return write_failed(s, err);
	s->bytes_written = end;
	if (page_floor(s, end) > s->durable && save(s, MSG_SLOT_WRITING, page_floor(s, end)) == 0)
		s->durable = page_floor(s, end);
	return MSG_STATUS_OK;
}

enum msg_status slot_commit(struct slot *s, const struct msg_slot_image *img)
{
	const struct core_platform *p = s->platform;
	uint8_t digest[SHA256_DIGEST_SIZE];
	struct sha256 h;
	bool same = s->image_size == img->size && mem_equal(s->sha256, img->sha256, MSG_SHA256_SIZE);

	if (!slot_available(s))
		return MSG_STATUS_NOT_SUPPORTED;
	if (s->state == MSG_SLOT_COMMITTED && same)
		return MSG_STATUS_OK;
	if (s->state != MSG_SLOT_WRITING)
		return MSG_STATUS_BAD_STATE;
	if (!same)
		return MSG_STATUS_BAD_PARAM;
	if (s->bytes_written < s->image_size)
		return MSG_STATUS_SLOT_OFFSET;

	sha256_init(&h);
	for (uint32_t off = 0; off < s->image_size;) {
		uint32_t n = s->image_size - off < sizeof(s->buf) ? s->image_size - off : (uint32_t)sizeof(s->buf);
		int err = p->ops->slot_read(p->ctx, off, s->buf, n);

		if (err != 0) {
			logq_printf(s->log, MSG_LOG_ERROR, MODULE, "reading the slot at %u failed (error %d)",
				    (unsigned)off, err);
			return MSG_STATUS_FLASH_ERROR;
		}
		sha256_update(&h, s->buf, n);
		off += n;
	}
	sha256_final(&h, digest);

	if (!mem_equal(digest, s->sha256, sizeof(digest))) {
		logq_printf(s->log, MSG_LOG_WARNING, MODULE,
			    "SHA-256 mismatch: the %u bytes hash to %02x%02x%02x%02x..., expected %02x%02x%02x%02x...; "
			    "slot emptied", (unsigned)s->image_size, digest[0], digest[1], digest[2], digest[3],
			    s->sha256[0], s->sha256[1], s->sha256[2], s->sha256[3]);
		set_empty(s);
		save(s, MSG_SLOT_EMPTY, 0);
		return MSG_STATUS_SLOT_HASH_MISMATCH;
	}
	if (save(s, MSG_SLOT_COMMITTED, s->image_size) != 0)
		return MSG_STATUS_FLASH_ERROR;
	s->state = MSG_SLOT_COMMITTED;
	s->durable = s->image_size;
	logq_printf(s->log, MSG_LOG_INFO, MODULE, "image of %u bytes committed, SHA-256 %02x%02x%02x%02x...",
		    (unsigned)s->image_size, digest[0], digest[1], digest[2], digest[3]);
	return MSG_STATUS_OK;
}
