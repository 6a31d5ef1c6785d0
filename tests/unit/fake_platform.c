/* fake_platform: see fake_platform.h. */
#include <stdio.h>
#include <string.h>

#include "cobs.h"
#include "fake_platform.h"

static bool fake_send(void *ctx, const uint8_t *wire, size_t len)
{
	struct fake *f = ctx;

	if (f->refuse_send || len > sizeof(f->out) - f->out_len) {
		f->sends_refused++;
		return false;
	}
	memcpy(f->out + f->out_len, wire, len);
	f->out_len += len;
	return true;
}

static uint64_t fake_now(void *ctx)
{
	return ((struct fake *)ctx)->now;
}

static int fake_erase(void *ctx, uint32_t offset, uint32_t len)
{
	struct fake *f = ctx;

	if (offset % FAKE_PAGE_SIZE || len % FAKE_PAGE_SIZE || offset > FAKE_SLOT_SIZE ||
	    len > FAKE_SLOT_SIZE - offset) {
		f->misaligned++;
		return -22;
	}
	memset(f->slot + offset, 0xff, len);
	f->erases++;
	return 0;
}

static int fake_write(void *ctx, uint32_t offset, const uint8_t *data, uint32_t len)
{
	struct fake *f = ctx;

	if (offset % 4 || len % 4 || offset > FAKE_SLOT_SIZE || len > FAKE_SLOT_SIZE - offset) {
		f->misaligned++;
		return -22;
	}
	if (f->fail_writes > 0) {
		f->fail_writes--;
		/* a failed write may still have programmed some bytes */
		for (uint32_t i = 0; i < len / 2; i++)
			f->slot[offset + i] &= data[i];
		return -5;
	}
	for (uint32_t i = 0; i < len; i++) {
		if (f->slot[offset + i] != 0xff)
			f->overwrites++;
		f->slot[offset + i] &= data[i];
	}
	f->writes++;
	return 0;
}

static int fake_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
	struct fake *f = ctx;

	if (offset > FAKE_SLOT_SIZE || len > FAKE_SLOT_SIZE - offset)
		return -22;
	memcpy(buf, f->slot + offset, len);
	f->reads++;
	return 0;
}

static int fake_store_read(void *ctx, enum core_record rec, uint8_t *buf, size_t cap)
{
	struct fake *f = ctx;

	if (!f->rec[rec].present)
		return -2;
	if (f->rec[rec].len > cap)
		return -27;
	memcpy(buf, f->rec[rec].data, f->rec[rec].len);
	return (int)f->rec[rec].len;
}

static int fake_store_write(void *ctx, enum core_record rec, const uint8_t *data, size_t len)
{
	struct fake *f = ctx;

	if (f->fail_store || len > CORE_RECORD_MAX)
		return -28;
	memcpy(f->rec[rec].data, data, len);
	f->rec[rec].len = len;
	f->rec[rec].present = true;
	f->rec[rec].writes++;
	return 0;
}

static int fake_mesh_config(void *ctx, const struct msg_mesh_config *cfg, uint32_t next_seq)
{
	struct fake *f = ctx;

	(void)cfg;
	f->mesh_configured = true;
	f->mesh_config_seq = next_seq;
	return 0;
}

static int fake_mesh_send(void *ctx, const struct core_mesh_tx *tx)
{
	struct fake *f = ctx;
	struct fake_mesh_tx *t;

	if (f->mesh_fail)
		return -105;
	if (f->mesh_busy > 0) {
		f->mesh_busy--;
		return CORE_MESH_SEND_BUSY;
	}
	t = &f->mesh_tx[f->mesh_tx_count++ % FAKE_MESH_MAX];
	t->src = tx->src;
	t->dst = tx->msg->dst;
	t->key_index = tx->msg->key_index;
	t->devkey = tx->msg->devkey;
	t->ttl = tx->msg->ttl;
	t->seq = tx->seq;
	t->seq_count = tx->seq_count;
	t->iv_index = tx->iv_index;
	t->payload_len = tx->msg->payload_len;
	memcpy(t->payload, tx->msg->payload, tx->msg->payload_len);
	if (f->mesh_hook)
		f->mesh_hook(f->hook_ctx, t);
	return 0;
}

static int fake_random(void *ctx, uint8_t *buf, size_t len)
{
	struct fake *f = ctx;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(++f->random_state * 0x9E3779B97F4A7C15ull >> 56);
	return 0;
}

static void fake_reset(void *ctx, enum msg_reset_mode mode)
{
	struct fake *f = ctx;

	f->resets++;
	f->reset_mode = mode;
}

static void fake_log(void *ctx, enum msg_log_level level, const char *module, const char *text)
{
	struct fake *f = ctx;
	size_t used = strlen(f->all_logs);

	f->log_lines++;
	snprintf(f->last_log, sizeof(f->last_log), "%s %s: %s", msg_log_level_to_string(level), module, text);
	snprintf(f->all_logs + used, sizeof(f->all_logs) - used, "%s\n", f->last_log);
}

static const struct core_platform_ops ops_full = {
	.send = fake_send, .now_ms = fake_now,
	.slot_erase = fake_erase, .slot_write = fake_write, .slot_read = fake_read,
	.store_read = fake_store_read, .store_write = fake_store_write,
	.mesh_config = fake_mesh_config, .mesh_send = fake_mesh_send, .random = fake_random,
	.reset = fake_reset, .log = fake_log,
};
static const struct core_platform_ops ops_no_mesh = {
	.send = fake_send, .now_ms = fake_now,
	.slot_erase = fake_erase, .slot_write = fake_write, .slot_read = fake_read,
	.store_read = fake_store_read, .store_write = fake_store_write,
	.reset = fake_reset, .log = fake_log,
};
static const struct core_platform_ops ops_no_slot = {
	.send = fake_send, .now_ms = fake_now,
	.store_read = fake_store_read, .store_write = fake_store_write,
	.mesh_config = fake_mesh_config, .mesh_send = fake_mesh_send,
	.reset = fake_reset, .log = fake_log,
};

void fake_init(struct fake *f, bool with_mesh, bool with_slot)
{
	memset(f, 0, sizeof(*f));
	memset(f->slot, 0xff, sizeof(f->slot));
	f->platform = (struct core_platform){
		.ops = with_slot ? (with_mesh ? &ops_full : &ops_no_mesh) : &ops_no_slot,
		.ctx = f,
		.slot_size = FAKE_SLOT_SIZE,
		.slot_page_size = FAKE_PAGE_SIZE,
		.slot_write_align = 4,
	};
	f->now = 1000;
}

const struct fake_mesh_tx *fake_mesh_last(const struct fake *f, unsigned back)
{
	return &f->mesh_tx[(f->mesh_tx_count + 2 * FAKE_MESH_MAX - 1 - back) % FAKE_MESH_MAX];
}

size_t fake_next_frame(struct fake *f, uint8_t *frame)
{
	while (f->out_read < f->out_len) {
		const uint8_t *p = f->out + f->out_read;
		const uint8_t *end = memchr(p, 0, f->out_len - f->out_read);
		size_t n, len = 0;

		if (!end)
			return 0;
		n = (size_t)(end - p);
		f->out_read += n + 1;
		if (n == 0)
			continue;       /* the leading delimiter */
		if (cobs_decode(p, n, frame, FRAME_MAX_SIZE, &len) == COBS_OK)
			return len;
		return 0;
	}
	return 0;
}
