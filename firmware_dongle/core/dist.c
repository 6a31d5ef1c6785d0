/* dist: see dist.h. The flow of one distribution (mesh-dfu-protocol.md 2.3, 2.4):
 *
 *	UPDATE_START -> INFO_GET -> XFER_START -> per block: BLOCK_START, chunks, BLOCK_GET (repairs) ->
 *	XFER_GET (phase Complete) -> UPDATE_GET (verify) -> [VERIFIED: DIST_APPLY] -> APPLY -> CONFIRM -> done
 *
 * Every arrow is an acked round (round_begin() .. round_done()); run() sends what is due, one message at a time
 * (paced by core_mesh_tx_done(), or DIST_PDU_MS per PDU without it). */
#include "dist.h"
#include "mem.h"
#include "mesh_access.h"
#include "mesh_dfu.h"

#define MODULE "dist"

#define NO_DEADLINE UINT32_MAX
#define TTL_ZEPHYR_DEFAULT 7            /* BT_MESH_DEFAULT_TTL: what 0xFF means for the client timeout */
#define CHUNK_HEADER_SIZE 3             /* Chunk Transfer: opcode (1) + chunk number (2) */
#define FW_INFO_ALL 255                 /* Information Get: entries limit */

static uint64_t now_ms(const struct dist *d)
{
	return d->platform->ops->now_ms(d->platform->ctx);
}

static uint32_t since_start(const struct dist *d)
{
	return (uint32_t)(now_ms(d) - d->started_ms);
}

uint32_t dist_client_timeout_ms(uint16_t timeout_base, uint8_t ttl)
{
	uint32_t t = ttl == MSG_TTL_DEFAULT ? TTL_ZEPHYR_DEFAULT : ttl;

	return 10000u * ((uint32_t)timeout_base + 2) + 100u * t;
}

static uint32_t retry_interval_ms(const struct dist *d)
{
	return dist_client_timeout_ms(d->timeout_base, d->ttl) / DIST_ATTEMPTS;
}

bool dist_unicast_reask(uint32_t active, uint32_t silent)
{
	uint64_t group_us = (uint64_t)active * DIST_GROUP_REPLY_US;

	if (group_us < (uint64_t)DIST_GROUP_ROUND_MIN_MS * 1000)
		group_us = (uint64_t)DIST_GROUP_ROUND_MIN_MS * 1000;
	return (uint64_t)silent * DIST_UNICAST_ASK_MS * 1000 < group_us;
}

static enum msg_dist_reason timeout_reason(enum msg_dist_phase phase)
{
	switch (phase) {
	case MSG_DIST_PHASE_INITIATE:
		return MSG_DIST_REASON_TIMEOUT_INITIATE;
	case MSG_DIST_PHASE_CAPABILITIES:
		return MSG_DIST_REASON_TIMEOUT_CAPABILITIES;
	case MSG_DIST_PHASE_TRANSFER:
		return MSG_DIST_REASON_TIMEOUT_TRANSFER;
	case MSG_DIST_PHASE_BLOCK:
		return MSG_DIST_REASON_TIMEOUT_BLOCK;
	case MSG_DIST_PHASE_VERIFY:
		return MSG_DIST_REASON_TIMEOUT_VERIFY;
	case MSG_DIST_PHASE_APPLY:
		return MSG_DIST_REASON_TIMEOUT_APPLY;
	case MSG_DIST_PHASE_CONFIRM:
		return MSG_DIST_REASON_TIMEOUT_CONFIRM;
	case MSG_DIST_PHASE_IDLE:
	case MSG_DIST_PHASE_DONE:
		return MSG_DIST_REASON_INTERNAL;
	}
	return MSG_DIST_REASON_INTERNAL;
}

/* --- events --- */

static void mark_event(struct dist *d, struct dist_target *t)
{
	if (!(t->flags & DIST_TF_EVENT)) {
		t->flags |= DIST_TF_EVENT;
		d->events_pending++;
	}
}

/* The distribution's state machine (docs/protocol.md 7.14, 7.16). */
static bool transition_allowed(enum msg_dist_state from, enum msg_dist_state to)
{
	switch (from) {
	case MSG_DIST_IDLE:
		return to == MSG_DIST_CONFIGURING;
	case MSG_DIST_CONFIGURING:
		return to == MSG_DIST_RUNNING || to == MSG_DIST_CANCELLED;
	case MSG_DIST_RUNNING:
		return to == MSG_DIST_SUSPENDED || to == MSG_DIST_VERIFIED || to == MSG_DIST_COMPLETED ||
		       to == MSG_DIST_FAILED || to == MSG_DIST_CANCELLED;
	case MSG_DIST_SUSPENDED:
	case MSG_DIST_VERIFIED:
		return to == MSG_DIST_RUNNING || to == MSG_DIST_CANCELLED;
	case MSG_DIST_COMPLETED:
	case MSG_DIST_FAILED:
	case MSG_DIST_CANCELLED:
		return to == MSG_DIST_CONFIGURING;      /* a new distribution replaces a finished one */
	}
	return false;
}

static void set_state(struct dist *d, enum msg_dist_state state, enum msg_dist_reason reason)
{
	if (d->state != state && !transition_allowed(d->state, state)) {
		logq_printf(d->log, MSG_LOG_ERROR, MODULE, "bug: distribution %u cannot go from %s to %s; it stays",
			    (unsigned)d->id, msg_dist_state_to_string(d->state), msg_dist_state_to_string(state));
		return;
	}
	if (d->state != state)
		logq_printf(d->log, MSG_LOG_INFO, MODULE, "distribution %u: %s -> %s%s%s", (unsigned)d->id,
			    msg_dist_state_to_string(d->state), msg_dist_state_to_string(state),
			    reason != MSG_DIST_REASON_NONE ? ", " : "",
			    reason != MSG_DIST_REASON_NONE ? msg_dist_reason_to_string(reason) : "");
	d->state = state;
	d->reason = reason;
	d->state_event = true;
}

static void set_phase(struct dist *d, enum msg_dist_phase phase)
{
	if (d->phase != phase)
		d->state_event = true;
	d->phase = phase;
}

static void target_phase(struct dist *d, struct dist_target *t, enum msg_dist_phase phase)
{
	if (t->phase != phase) {
		t->phase = phase;
		mark_event(d, t);
	}
}

static void unask(struct dist *d, struct dist_target *t)
{
	if (t->flags & DIST_TF_ASKED) {
		t->flags &= (uint8_t)~DIST_TF_ASKED;
		d->asked--;
	}
}

static void target_result(struct dist *d, struct dist_target *t, enum msg_dist_result result,
			  enum msg_dist_reason reason)
{
	if (t->result == MSG_DIST_PENDING && result != MSG_DIST_PENDING)
		d->active--;
	t->result = result;
	t->reason = reason;
	unask(d, t);
	mark_event(d, t);
	if (result == MSG_DIST_TARGET_FAILED)
		logq_printf(d->log, MSG_LOG_WARNING, MODULE, "distribution %u: target 0x%04x failed in %s: %s",
			    (unsigned)d->id, t->address, msg_dist_phase_to_string(t->phase),
			    msg_dist_reason_to_string(reason));
}

static void target_fail(struct dist *d, struct dist_target *t, enum msg_dist_reason reason, uint8_t source,
			uint8_t status)
{
	if (source != MSG_DIST_STATUS_NONE) {
		t->status_source = source;
		t->status = status;
	}
	target_result(d, t, MSG_DIST_TARGET_FAILED, reason);
}

static void note_status(struct dist_target *t, uint8_t source, uint8_t status)
{
	t->status_source = source;
	t->status = status;
}

/* --- sending --- */

/* Suspends the distribution because the dongle itself cannot go on (the stack refuses messages, the slot cannot
 * be read): the targets are not to blame, and the host can DIST_RESUME once it has fixed the cause. */
static void suspend_internal(struct dist *d, const char *what, int code)
{
	logq_printf(d->log, MSG_LOG_ERROR, MODULE,
		    "distribution %u suspended: %s (%d); fix the cause, then DIST_RESUME or DIST_CANCEL",
		    (unsigned)d->id, what, code);
	set_state(d, MSG_DIST_SUSPENDED, MSG_DIST_REASON_INTERNAL);
}

/* Hands one access message to the stack. False when it cannot go now (paced, busy) or failed (then the
 * distribution is suspended). */
static bool send_access(struct dist *d, uint16_t dst, const uint8_t *payload, size_t len)
{
	struct msg_mesh_send s = {
		.dst = dst,
		.key_index = d->app_key_index,
		.ttl = d->ttl,
		.payload = payload,
		.payload_len = (uint16_t)len,
	};
	uint64_t now = now_ms(d);
	enum msg_status st;

	if (d->tx_busy || now < d->tx_ready_at)
		return false;
	st = mesh_send(d->mesh, &s);
	if (st == MSG_STATUS_OK) {
		d->tx_failures = 0;
		d->counters.sent++;
		if (dst >= MSG_ADDR_GROUP_MIN)
			d->counters.sent_group++;
		if (d->platform->has_mesh_tx_done)
			d->tx_busy = true;
		else
			d->tx_ready_at = now + (uint64_t)mesh_pdu_count((uint16_t)len) * DIST_PDU_MS;
		return true;
	}
	if (st == MSG_STATUS_BUSY && d->mesh->last_busy) {
		d->counters.busy++;
		d->tx_ready_at = now + DIST_BUSY_RETRY_MS;
		return false;
	}
	/* refused (mesh.c logged the stack's code): a few times may be a passing shortage, more is a fault */
	d->tx_ready_at = now + DIST_BUSY_RETRY_MS;
	if (st == MSG_STATUS_BUSY && ++d->tx_failures < DIST_STACK_FAILURES_MAX)
		return false;
	d->tx_failures = 0;
	suspend_internal(d, st == MSG_STATUS_BUSY ? "the mesh stack keeps refusing messages" :
			 msg_status_to_string(st), (int)st);
	return false;
}

/* Builds the message of the current round for @t (NULL: the group message). Returns its length, 0 on a bug. */
static size_t build_round(struct dist *d, const struct dist_target *t)
{
	struct md_msg md = { 0 };
	struct mb_msg mb = { 0 };
	struct ma_msg ma = { 0 };
	enum ma_status st = MA_BAD_VALUE;
	size_t len = 0;

	switch (d->round) {
	case DIST_ROUND_UPDATE_START:
		md.opcode = MD_OP_UPDATE_START;
		md.u.start = (struct md_start){
			.ttl = d->ttl,
			.timeout_base = d->timeout_base,
			.blob_id = d->blob_id,
			/* the group message is sent only when every target has the same image index */
			.image_index = t ? t->image_index : d->targets[0].image_index,
			.metadata = d->metadata,
			.metadata_len = d->metadata_len,
		};
		st = md_encode(&md, d->tx_buf, sizeof(d->tx_buf), &len);
		break;
	case DIST_ROUND_UPDATE_GET:
		md.opcode = MD_OP_UPDATE_GET;
		st = md_encode(&md, d->tx_buf, sizeof(d->tx_buf), &len);
		break;
	case DIST_ROUND_APPLY:
		md.opcode = MD_OP_UPDATE_APPLY;
		st = md_encode(&md, d->tx_buf, sizeof(d->tx_buf), &len);
		break;
	case DIST_ROUND_CANCEL:
		md.opcode = MD_OP_UPDATE_CANCEL;
		st = md_encode(&md, d->tx_buf, sizeof(d->tx_buf), &len);
		break;
	case DIST_ROUND_INFO_GET:
		mb.opcode = MB_OP_INFO_GET;
		st = mb_encode(&mb, d->tx_buf, sizeof(d->tx_buf), &len);
		break;
	case DIST_ROUND_XFER_START:
		mb.opcode = MB_OP_XFER_START;
		mb.u.xfer_start = (struct mb_xfer_start){
			.mode = d->mode,
			.blob_id = d->blob_id,
			.size = d->image_size,
			.block_size_log = d->block_size_log,
			.mtu = MSG_ACCESS_MAX,
		};
		st = mb_encode(&mb, d->tx_buf, sizeof(d->tx_buf), &len);
		break;
	case DIST_ROUND_BLOCK_START:
		mb.opcode = MB_OP_BLOCK_START;
		mb.u.block_start = (struct mb_block_start){ .block = d->block, .chunk_size = d->chunk_size };
		st = mb_encode(&mb, d->tx_buf, sizeof(d->tx_buf), &len);
		break;
	case DIST_ROUND_BLOCK_GET:
		mb.opcode = MB_OP_BLOCK_GET;
		st = mb_encode(&mb, d->tx_buf, sizeof(d->tx_buf), &len);
		break;
	case DIST_ROUND_XFER_GET:
		mb.opcode = MB_OP_XFER_GET;
		st = mb_encode(&mb, d->tx_buf, sizeof(d->tx_buf), &len);
		break;
	case DIST_ROUND_CONFIRM:
		ma.opcode = MA_OP_FW_INFO_GET;
		ma.u.fw_info_get = (struct ma_fw_info_get){ .first_index = 0, .entries_limit = FW_INFO_ALL };
		st = ma_encode(&ma, d->tx_buf, sizeof(d->tx_buf), &len);
		break;
	case DIST_ROUND_NONE:
		break;
	}
	if (st != MA_OK) {
		logq_printf(d->log, MSG_LOG_ERROR, MODULE, "cannot encode the message of round %u: %s",
			    (unsigned)d->round, ma_status_to_string(st));
		return 0;
	}
	return len;
}

/* The next message of the current round's attempt; false when there is none to send now. */
static bool send_round(struct dist *d)
{
	size_t len;

	if (d->retry_at != 0)
		return false;           /* this attempt is out: waiting for answers or the retry timer */
	if (!d->round_unicast) {
		len = build_round(d, NULL);
		if (len == 0 || !send_access(d, d->group, d->tx_buf, len))
			return false;
		d->retry_at = now_ms(d) + retry_interval_ms(d);
		return true;
	}
	while (d->cursor < d->total && !(d->targets[d->cursor].flags & DIST_TF_ASKED))
		d->cursor++;
	if (d->cursor >= d->total) {
		d->retry_at = now_ms(d) + retry_interval_ms(d);
		return false;
	}
	len = build_round(d, &d->targets[d->cursor]);
	if (len == 0 || !send_access(d, d->targets[d->cursor].address, d->tx_buf, len))
		return false;
	d->cursor++;
	return true;
}

static bool send_chunk_to(struct dist *d, uint16_t dst, uint16_t chunk)
{
	const struct core_platform *p = d->platform;
	uint32_t block_bytes = mb_block_size(d->image_size, d->block_size_log, d->block);
	uint32_t len = mb_chunk_size(block_bytes, d->chunk_size, chunk);
	uint32_t offset = ((uint32_t)d->block << d->block_size_log) + (uint32_t)chunk * d->chunk_size;
	struct mb_msg m = { .opcode = MB_OP_CHUNK };
	size_t out_len;
	int err;

	if (d->tx_busy || now_ms(d) < d->tx_ready_at)
		return false;
	err = p->ops->slot_read(p->ctx, offset, d->chunk_data, len);
	if (err != 0) {
		suspend_internal(d, "cannot read the slot", err);
		return false;
	}
	m.u.chunk = (struct mb_chunk){ .chunk = chunk, .data = d->chunk_data, .len = len };
	if (mb_encode(&m, d->tx_buf, sizeof(d->tx_buf), &out_len) != MA_OK) {
		suspend_internal(d, "cannot encode a chunk", (int)chunk);
		return false;
	}
	if (!send_access(d, dst, d->tx_buf, out_len))
		return false;
	d->counters.chunks++;
	return true;
}

/* --- rounds --- */

static void round_done(struct dist *d);

static bool round_selects(const struct dist *d, const struct dist_target *t)
{
	if (d->round == DIST_ROUND_CANCEL)
		return t->flags & DIST_TF_CANCEL;
	if (t->result != MSG_DIST_PENDING)
		return false;
	if (d->round == DIST_ROUND_BLOCK_GET)
		return !(t->flags & DIST_TF_BLOCK_DONE);
	return true;
}

static bool image_index_uniform(const struct dist *d)
{
	for (uint16_t i = 1; i < d->total; i++)
		if (d->targets[i].image_index != d->targets[0].image_index)
			return false;
	return true;
}

static void round_begin(struct dist *d, enum dist_round round, enum msg_dist_phase phase)
{
	d->round = round;
	d->step = DIST_STEP_ROUND;
	d->attempt = 0;
	d->cursor = 0;
	d->retry_at = 0;
	d->asked = 0;
	d->counters.rounds++;
	if (round != DIST_ROUND_CANCEL)
		set_phase(d, phase);
	for (uint16_t i = 0; i < d->total; i++) {
		struct dist_target *t = &d->targets[i];

		t->flags &= (uint8_t)~DIST_TF_ASKED;
		if (!round_selects(d, t))
			continue;
		t->flags |= DIST_TF_ASKED;
		d->asked++;
		if (round != DIST_ROUND_CANCEL)
			target_phase(d, t, phase);
	}
	/* Zephyr sends Update Start to the group only if every target takes the same image index */
	d->round_unicast = d->unicast || (round == DIST_ROUND_UPDATE_START && !image_index_uniform(d));
	if (d->asked == 0)
		round_done(d);
}

/* Every attempt of the round went unanswered by the targets still asked. */
static void round_timeout(struct dist *d)
{
	enum msg_dist_reason reason = timeout_reason(d->phase);

	for (uint16_t i = 0; i < d->total && d->asked > 0; i++) {
		struct dist_target *t = &d->targets[i];

		if (!(t->flags & DIST_TF_ASKED))
			continue;
		if (d->round == DIST_ROUND_CANCEL) {
			unask(d, t);
		} else if (d->round == DIST_ROUND_APPLY &&
			   (t->effect == MD_EFFECT_UNPROVISION || (t->flags & DIST_TF_APPLYING))) {
			/* an unprovisioned node is silent: expected (mesh-dfu-protocol.md 2.3); one that said
			 * Applying may still be rebooting: its FWID in the confirm round decides */
			unask(d, t);
		} else if (t->effect == MD_EFFECT_UNPROVISION && d->round == DIST_ROUND_CONFIRM) {
			target_result(d, t, MSG_DIST_OK, MSG_DIST_REASON_NONE);
		} else {
			target_fail(d, t, reason, MSG_DIST_STATUS_NONE, 0);
		}
	}
	round_done(d);
}

static void round_retry(struct dist *d)
{
	d->attempt++;
	if (d->attempt >= DIST_ATTEMPTS) {
		round_timeout(d);
		return;
	}
	d->counters.retries++;
	d->cursor = 0;
	d->retry_at = 0;
	d->round_unicast = d->unicast || (d->round == DIST_ROUND_UPDATE_START && !image_index_uniform(d));
	if (!d->round_unicast && dist_unicast_reask(d->active, d->asked)) {
		d->round_unicast = true;
		d->counters.unicast_reasks++;
	}
}

static void answered(struct dist *d, struct dist_target *t)
{
	unask(d, t);
}

/* After an answer: the round is over when nobody is asked any more. */
static void settle(struct dist *d)
{
	if (d->step == DIST_STEP_ROUND && d->asked == 0)
		round_done(d);
}

/* --- the transfer --- */

/* The block size log and chunk size for an image of @size bytes under the capabilities @c, the host's preferences
 * where they fit (Zephyr's caps_adjust: the largest chunk, then the largest block whose chunks one Block Status can
 * describe). False if nothing fits. */
static bool pick_sizes(const struct mb_info_status *c, uint8_t pref_log, uint16_t pref_chunk, uint32_t size,
		       uint8_t *ret_log, uint16_t *ret_chunk)
{
	uint32_t chunk = c->max_chunk_size;
	uint32_t max_chunks = c->max_chunks < MB_CHUNK_COUNT_MAX ? c->max_chunks : MB_CHUNK_COUNT_MAX;
	unsigned top = c->max_block_size_log;

	if (chunk > MB_CHUNK_SIZE_MAX)
		chunk = MB_CHUNK_SIZE_MAX;
	if (c->mtu >= MB_MTU_MIN && chunk > (uint32_t)c->mtu - CHUNK_HEADER_SIZE)
		chunk = (uint32_t)c->mtu - CHUNK_HEADER_SIZE;
	if (pref_chunk != 0 && pref_chunk < chunk)
		chunk = pref_chunk;
	if (chunk < MB_CHUNK_SIZE_MIN || max_chunks == 0 || c->min_block_size_log > c->max_block_size_log)
		return false;
	if (pref_log != 0 && pref_log >= c->min_block_size_log && pref_log < top)
		top = pref_log;
	for (unsigned log = top; log >= c->min_block_size_log; log--) {
		uint64_t block = (uint64_t)1 << log;
		uint64_t chunks = (block + chunk - 1) / chunk;
		uint64_t blocks = ((uint64_t)size + block - 1) / block;

		if (chunks <= max_chunks && blocks <= MB_BLOCK_COUNT_MAX) {
			*ret_log = (uint8_t)log;
			*ret_chunk = (uint16_t)chunk;
			return true;
		}
		if (log == MB_BLOCK_SIZE_LOG_MIN)
			break;
	}
	return false;
}

static uint8_t mode_bit(uint8_t mode)
{
	return mode == MSG_DIST_MODE_PULL ? MB_MODES_PULL : MB_MODES_PUSH;
}

/* Takes one target's capabilities into the intersection; false if the target cannot be served with the others. */
static bool caps_take(struct dist *d, const struct mb_info_status *s)
{
	struct mb_info_status c = *s;
	uint8_t log;
	uint16_t chunk;

	if (!(s->modes & mode_bit(d->mode)) || s->max_size < d->image_size)
		return false;
	if (d->have_caps) {
		const struct mb_info_status *o = &d->caps;

		if (o->min_block_size_log > c.min_block_size_log)
			c.min_block_size_log = o->min_block_size_log;
		if (o->max_block_size_log < c.max_block_size_log)
			c.max_block_size_log = o->max_block_size_log;
		if (o->max_chunks < c.max_chunks)
			c.max_chunks = o->max_chunks;
		if (o->max_chunk_size < c.max_chunk_size)
			c.max_chunk_size = o->max_chunk_size;
		if (o->max_size < c.max_size)
			c.max_size = o->max_size;
		if (o->mtu < c.mtu)
			c.mtu = o->mtu;
		c.modes &= o->modes;
	}
	if (!pick_sizes(&c, d->pref_block_size_log, d->pref_chunk_size, d->image_size, &log, &chunk))
		return false;
	d->caps = c;
	d->have_caps = true;
	return true;
}

static void begin_block(struct dist *d, uint16_t block)
{
	d->block = block;
	d->chunk_count = (uint16_t)mb_chunk_count(mb_block_size(d->image_size, d->block_size_log, block),
						   d->chunk_size);
	d->repairs = 0;
	mb_bitmap_clear_all(d->collect, d->chunk_count);
	for (uint16_t i = 0; i < d->total; i++)
		d->targets[i].flags &= (uint8_t)~DIST_TF_BLOCK_DONE;
	for (unsigned i = 0; i < DIST_PULL_SLOTS; i++)
		d->pull[i].target = DIST_TARGETS_MAX;
	round_begin(d, DIST_ROUND_BLOCK_START, MSG_DIST_PHASE_BLOCK);
}

/* After the last block, or straight after Transfer Start when resuming past it. */
static void after_blocks(struct dist *d)
{
	round_begin(d, DIST_ROUND_XFER_GET, MSG_DIST_PHASE_TRANSFER);
}

static void next_block(struct dist *d)
{
	d->progress_event = true;
	logq_printf(d->log, MSG_LOG_DEBUG, MODULE, "distribution %u: block %u of %u done, %u targets active",
		    (unsigned)d->id, (unsigned)d->block + 1, (unsigned)d->blocks, (unsigned)d->active);
	if (d->active == 0) {
		round_done(d);  /* finishes */
		return;
	}
	if (d->block + 1u < d->blocks)
		begin_block(d, (uint16_t)(d->block + 1));
	else {
		d->block = d->blocks;
		after_blocks(d);
	}
}

static bool block_complete(const struct dist *d)
{
	for (uint16_t i = 0; i < d->total; i++) {
		const struct dist_target *t = &d->targets[i];

		if (t->result == MSG_DIST_PENDING && !(t->flags & DIST_TF_BLOCK_DONE))
			return false;
	}
	return true;
}

static void start_chunks(struct dist *d)
{
	mem_copy(d->missing, d->collect, MB_BITMAP_SIZE(d->chunk_count));
	mb_bitmap_clear_all(d->collect, d->chunk_count);
	d->chunk_cursor = 0;
	d->cursor = 0;
	d->step = DIST_STEP_CHUNKS;
}

static void start_pull(struct dist *d)
{
	uint32_t wait = dist_client_timeout_ms(d->timeout_base, d->ttl);

	if (wait < DIST_PULL_REPORT_WAIT_MS)
		wait = DIST_PULL_REPORT_WAIT_MS;
	for (uint16_t i = 0; i < d->total; i++)
		d->targets[i].pull_deadline = since_start(d) + wait;
	d->step = DIST_STEP_PULL;
	d->cursor = 0;
}

static void finish(struct dist *d)
{
	uint16_t ok = 0;

	for (uint16_t i = 0; i < d->total; i++) {
		struct dist_target *t = &d->targets[i];

		t->flags &= (uint8_t)~DIST_TF_ASKED;
		if (t->result == MSG_DIST_OK) {
			ok++;
			target_phase(d, t, MSG_DIST_PHASE_DONE);
		}
	}
	d->step = DIST_STEP_IDLE;
	d->round = DIST_ROUND_NONE;
	d->elapsed_ms = since_start(d);
	set_phase(d, MSG_DIST_PHASE_DONE);
	if (ok > 0)
		set_state(d, MSG_DIST_COMPLETED, MSG_DIST_REASON_NONE);
	else
		set_state(d, MSG_DIST_FAILED, MSG_DIST_REASON_ALL_TARGETS_FAILED);
	logq_printf(d->log, MSG_LOG_INFO, MODULE, "distribution %u: %u of %u targets updated in %u ms",
		    (unsigned)d->id, (unsigned)ok, (unsigned)d->total, (unsigned)d->elapsed_ms);
}

static void round_done(struct dist *d)
{
	enum dist_round round = d->round;

	d->retry_at = 0;
	d->step = DIST_STEP_IDLE;
	if (round == DIST_ROUND_CANCEL) {
		d->cancelling = false;
		d->round = DIST_ROUND_NONE;
		return;
	}
	if (d->active == 0) {
		finish(d);
		return;
	}
	switch (round) {
	case DIST_ROUND_UPDATE_START:
		/* a resume keeps the sizes it had; the targets resume on an identical Transfer Start */
		if (d->blocks > 0)
			round_begin(d, DIST_ROUND_XFER_START, MSG_DIST_PHASE_TRANSFER);
		else
			round_begin(d, DIST_ROUND_INFO_GET, MSG_DIST_PHASE_CAPABILITIES);
		return;
	case DIST_ROUND_INFO_GET:
		if (!d->have_caps || !pick_sizes(&d->caps, d->pref_block_size_log, d->pref_chunk_size,
						 d->image_size, &d->block_size_log, &d->chunk_size)) {
			/* every target that answered was dropped as incompatible, so none is active: not reached */
			finish(d);
			return;
		}
		d->blocks = (uint16_t)mb_block_count(d->image_size, d->block_size_log);
		logq_printf(d->log, MSG_LOG_INFO, MODULE,
			    "distribution %u: %u blocks of %u bytes, chunks of %u bytes, %s, %s", (unsigned)d->id,
			    (unsigned)d->blocks, 1u << d->block_size_log, (unsigned)d->chunk_size,
			    d->mode == MSG_DIST_MODE_PULL ? "pull" : "push", d->unicast ? "unicast" : "group");
		round_begin(d, DIST_ROUND_XFER_START, MSG_DIST_PHASE_TRANSFER);
		return;
	case DIST_ROUND_XFER_START:
		d->resuming = false;
		if (d->block < d->blocks)
			begin_block(d, d->block);
		else
			after_blocks(d);
		return;
	case DIST_ROUND_BLOCK_START:
		if (block_complete(d)) {
			next_block(d);
			return;
		}
		if (d->mode == MSG_DIST_MODE_PULL)
			start_pull(d);
		else
			start_chunks(d);
		return;
	case DIST_ROUND_BLOCK_GET:
		if (block_complete(d)) {
			next_block(d);
			return;
		}
		if (++d->repairs >= DIST_REPAIR_ROUNDS_MAX) {
			for (uint16_t i = 0; i < d->total; i++) {
				struct dist_target *t = &d->targets[i];

				if (t->result == MSG_DIST_PENDING && !(t->flags & DIST_TF_BLOCK_DONE))
					target_fail(d, t, MSG_DIST_REASON_TIMEOUT_BLOCK, MSG_DIST_STATUS_NONE, 0);
			}
			next_block(d);
			return;
		}
		start_chunks(d);
		return;
	case DIST_ROUND_XFER_GET:
		round_begin(d, DIST_ROUND_UPDATE_GET, MSG_DIST_PHASE_VERIFY);
		return;
	case DIST_ROUND_UPDATE_GET:
		if (d->policy == MSG_DIST_POLICY_APPLY) {
			round_begin(d, DIST_ROUND_APPLY, MSG_DIST_PHASE_APPLY);
		} else {
			d->round = DIST_ROUND_NONE;
			set_state(d, MSG_DIST_VERIFIED, MSG_DIST_REASON_NONE);
		}
		return;
	case DIST_ROUND_APPLY:
		round_begin(d, DIST_ROUND_CONFIRM, MSG_DIST_PHASE_CONFIRM);
		return;
	case DIST_ROUND_CONFIRM:
		finish(d);
		return;
	case DIST_ROUND_NONE:
	case DIST_ROUND_CANCEL:
		return;
	}
}

/* Push: the next chunk of the union, to the group or to each target still missing the block. */
static bool send_chunks(struct dist *d)
{
	uint32_t c = mb_bitmap_first(d->missing, d->chunk_count, d->chunk_cursor);

	if (c >= d->chunk_count) {
		round_begin(d, DIST_ROUND_BLOCK_GET, MSG_DIST_PHASE_BLOCK);
		return true;
	}
	if (!d->unicast) {
		if (!send_chunk_to(d, d->group, (uint16_t)c))
			return false;
		d->chunk_cursor = (uint16_t)(c + 1);
		return true;
	}
	while (d->cursor < d->total) {
		const struct dist_target *t = &d->targets[d->cursor];

		if (t->result == MSG_DIST_PENDING && !(t->flags & DIST_TF_BLOCK_DONE))
			break;
		d->cursor++;
	}
	if (d->cursor >= d->total) {
		d->cursor = 0;
		d->chunk_cursor = (uint16_t)(c + 1);
		return true;
	}
	if (!send_chunk_to(d, d->targets[d->cursor].address, (uint16_t)c))
		return false;
	d->cursor++;
	return true;
}

/* Pull: the next chunk a served target asked for, round robin over the slots. */
static bool send_pull(struct dist *d)
{
	for (unsigned n = 0; n < DIST_PULL_SLOTS; n++) {
		unsigned i = (d->cursor + n) % DIST_PULL_SLOTS;
		struct dist_pull_slot *s = &d->pull[i];

		if (s->target >= DIST_TARGETS_MAX || s->next >= s->count)
			continue;
		if (!send_chunk_to(d, d->targets[s->target].address, s->chunks[s->next]))
			return false;
		s->next++;
		d->cursor = (uint16_t)((i + 1) % DIST_PULL_SLOTS);
		return true;
	}
	return false;
}

static bool sending_allowed(const struct dist *d)
{
	return d->state == MSG_DIST_RUNNING || d->cancelling;
}

/* The first stray waiting for its Cancel gets it. Returns whether it went out (false: the pacing). */
static bool send_stray_cancel(struct dist *d)
{
	struct md_msg md = { .opcode = MD_OP_UPDATE_CANCEL };
	uint8_t buf[4];         /* the opcode alone */
	size_t len = 0;

	if (md_encode(&md, buf, sizeof(buf), &len) != MA_OK)
		return false;
	if (!send_access(d, d->strays[0], buf, len))
		return false;
	logq_printf(d->log, MSG_LOG_WARNING, MODULE, "distribution %u: node 0x%04x is not a target but joined the "
		    "transfer through group 0x%04x: Firmware Update Cancel", (unsigned)d->id, d->strays[0], d->group);
	d->counters.strays++;
	d->n_strays--;
	for (uint8_t i = 0; i < d->n_strays; i++)
		d->strays[i] = d->strays[i + 1];
	return true;
}

/* Sends whatever is due, one message per call of send_*() (each stops at the pacing). */
static void run(struct dist *d)
{
	/* bounded: every iteration sends a message or changes step, and the pacing stops the sending */
	for (unsigned guard = 0; guard < 4u * DIST_TARGETS_MAX + MB_CHUNK_COUNT_MAX && sending_allowed(d); guard++) {
		bool more = false;

		if (d->n_strays) {
			if (!send_stray_cancel(d))
				return;
			continue;
		}
		switch (d->step) {
		case DIST_STEP_IDLE:
			return;
		case DIST_STEP_ROUND:
			more = send_round(d);
			break;
		case DIST_STEP_CHUNKS:
			more = send_chunks(d);
			break;
		case DIST_STEP_PULL:
			more = send_pull(d);
			break;
		}
		if (!more)
			return;
	}
}

/* --- answers --- */

static struct dist_target *find_target(struct dist *d, uint16_t address)
{
	uint16_t lo = 0, hi = d->total;

	while (lo < hi) {
		uint16_t mid = (uint16_t)(lo + (hi - lo) / 2);
		struct dist_target *t = &d->targets[d->by_address[mid]];

		if (t->address == address)
			return t;
		if (t->address < address)
			lo = (uint16_t)(mid + 1);
		else
			hi = mid;
	}
	return NULL;
}

static void take_update_status(struct dist *d, struct dist_target *t, const struct md_update_status *s)
{
	bool asked = t->flags & DIST_TF_ASKED;

	if (!asked) {
		d->counters.ignored++;
		return;
	}
	note_status(t, MSG_DIST_STATUS_FU, s->status);
	switch (d->round) {
	case DIST_ROUND_UPDATE_START:
		if (s->status == MD_METADATA_CHECK_FAILED)
			target_fail(d, t, MSG_DIST_REASON_METADATA_REJECTED, MSG_DIST_STATUS_FU, s->status);
		else if (s->status == MD_BLOB_TRANSFER_BUSY)
			target_fail(d, t, MSG_DIST_REASON_BLOB_BUSY, MSG_DIST_STATUS_FU, s->status);
		else if (s->status == MD_SUCCESS && s->phase == MD_PHASE_IDLE)
			/* not the answer to our Start (a Start that took says Transfer Active): a late answer to
			 * something else, e.g. the Cancel of an earlier distribution to the same group. Asked again. */
			d->counters.ignored++;
		else if (s->status != MD_SUCCESS)
			target_fail(d, t, MSG_DIST_REASON_START_REJECTED, MSG_DIST_STATUS_FU, s->status);
		else if (s->blob_id != d->blob_id)
			target_fail(d, t, MSG_DIST_REASON_BLOB_BUSY, MSG_DIST_STATUS_FU, s->status);
		else {
			t->effect = s->effect;
			answered(d, t);
		}
		return;
	case DIST_ROUND_UPDATE_GET:
		switch (s->phase) {
		case MD_PHASE_VERIFICATION_SUCCEEDED:
		case MD_PHASE_APPLYING:
			answered(d, t);
			return;
		case MD_PHASE_VERIFYING:
		case MD_PHASE_TRANSFER_ACTIVE:
			return;         /* still at it: asked again at the next retry */
		default:
			target_fail(d, t, MSG_DIST_REASON_VERIFICATION_FAILED, MSG_DIST_STATUS_FU, s->status);
			return;
		}
	case DIST_ROUND_APPLY:
		/* Zephyr repeats Apply while the target says Applying; Idle (Success or Wrong Phase) means it
		 * rebooted into the new image, so the Confirm that follows reads the new FWID (Z#118517). */
		if (s->phase == MD_PHASE_IDLE && (s->status == MD_SUCCESS || s->status == MD_WRONG_PHASE))
			answered(d, t);
		else if (s->status == MD_SUCCESS && s->phase == MD_PHASE_APPLYING)
			t->flags |= DIST_TF_APPLYING;
		else if (s->status != MD_SUCCESS)
			target_fail(d, t, MSG_DIST_REASON_APPLY_REJECTED, MSG_DIST_STATUS_FU, s->status);
		return;
	case DIST_ROUND_CANCEL:
		answered(d, t);
		return;
	case DIST_ROUND_NONE:
	case DIST_ROUND_INFO_GET:
	case DIST_ROUND_XFER_START:
	case DIST_ROUND_BLOCK_START:
	case DIST_ROUND_BLOCK_GET:
	case DIST_ROUND_XFER_GET:
	case DIST_ROUND_CONFIRM:
		d->counters.ignored++;
		return;
	}
}

static void take_block_status(struct dist *d, struct dist_target *t, const struct mb_block_status *s)
{
	if (!(t->flags & DIST_TF_ASKED) ||
	    (d->round != DIST_ROUND_BLOCK_START && d->round != DIST_ROUND_BLOCK_GET)) {
		d->counters.ignored++;
		return;
	}
	/* a late answer about another block (a previous round's, delayed by SAR retransmissions) says nothing about
	 * this block, whatever its status: Zephyr's client checks the block number first too */
	if (s->block != d->block) {
		d->counters.ignored++;
		return;
	}
	if (s->status != MB_SUCCESS) {
		target_fail(d, t, MSG_DIST_REASON_TRANSFER_REJECTED, MSG_DIST_STATUS_BLOB, s->status);
		return;
	}
	if (mb_block_status_missing(s, d->chunk_count, d->scratch) != MA_OK) {
		d->counters.ignored++;  /* stale, or a bitmap that does not fit the block: asked again */
		return;
	}
	note_status(t, MSG_DIST_STATUS_BLOB, s->status);
	if (mb_bitmap_count(d->scratch, d->chunk_count) == 0) {
		t->flags |= DIST_TF_BLOCK_DONE;
		t->blocks_done = (uint16_t)(d->block + 1);
	} else if (d->mode == MSG_DIST_MODE_PUSH) {
		for (size_t i = 0; i < MB_BITMAP_SIZE(d->chunk_count); i++)
			d->collect[i] |= d->scratch[i];
	}
	answered(d, t);
}

static void take_block_report(struct dist *d, struct dist_target *t, uint16_t index, const struct mb_block_report *r)
{
	struct dist_pull_slot *slot = NULL;
	struct mb_chunk_iter it;
	uint16_t chunk;

	if (d->mode != MSG_DIST_MODE_PULL || d->phase != MSG_DIST_PHASE_BLOCK || t->result != MSG_DIST_PENDING ||
	    (t->flags & DIST_TF_BLOCK_DONE)) {
		d->counters.ignored++;
		return;
	}
	t->pull_deadline = since_start(d) + (dist_client_timeout_ms(d->timeout_base, d->ttl) >
					     DIST_PULL_REPORT_WAIT_MS ?
					     dist_client_timeout_ms(d->timeout_base, d->ttl) : DIST_PULL_REPORT_WAIT_MS);
	for (unsigned i = 0; i < DIST_PULL_SLOTS; i++)
		if (d->pull[i].target == index)
			slot = &d->pull[i];
	if (r->missing_len == 0) {
		t->flags |= DIST_TF_BLOCK_DONE;
		t->blocks_done = (uint16_t)(d->block + 1);
		if (slot)
			slot->target = DIST_TARGETS_MAX;
		if (d->step == DIST_STEP_PULL && block_complete(d))
			next_block(d);
		return;
	}
	for (unsigned i = 0; i < DIST_PULL_SLOTS && !slot; i++)
		if (d->pull[i].target >= DIST_TARGETS_MAX)
			slot = &d->pull[i];
	if (!slot) {
		d->counters.ignored++;  /* every slot busy: the target asks again at its next report */
		return;
	}
	slot->target = index;
	slot->count = 0;
	slot->next = 0;
	mb_chunk_iter_init(&it, r->missing, r->missing_len);
	while (slot->count < DIST_PULL_REQ_MAX && mb_chunk_next(&it, &chunk))
		if (chunk < d->chunk_count)
			slot->chunks[slot->count++] = chunk;
}

static void take_info_status(struct dist *d, struct dist_target *t, const struct mb_info_status *s)
{
	if (!(t->flags & DIST_TF_ASKED) || d->round != DIST_ROUND_INFO_GET) {
		d->counters.ignored++;
		return;
	}
	if (!caps_take(d, s)) {
		logq_printf(d->log, MSG_LOG_WARNING, MODULE,
			    "target 0x%04x cannot take this image with the others (blocks 2^%u..2^%u, %u chunks of "
			    "<= %u bytes, <= %u bytes, modes 0x%x)",
			    t->address, s->min_block_size_log, s->max_block_size_log, s->max_chunks,
			    s->max_chunk_size, (unsigned)s->max_size, s->modes);
		target_fail(d, t, MSG_DIST_REASON_CAPABILITIES_INCOMPATIBLE, MSG_DIST_STATUS_NONE, 0);
		return;
	}
	answered(d, t);
}

static void take_xfer_status(struct dist *d, struct dist_target *t, const struct mb_xfer_status *s)
{
	if (!(t->flags & DIST_TF_ASKED) || (d->round != DIST_ROUND_XFER_START && d->round != DIST_ROUND_XFER_GET)) {
		d->counters.ignored++;
		return;
	}
	note_status(t, MSG_DIST_STATUS_BLOB, s->status);
	if (s->status != MB_SUCCESS || (s->phase != MB_PHASE_INACTIVE && s->blob_id != d->blob_id)) {
		target_fail(d, t, MSG_DIST_REASON_TRANSFER_REJECTED, MSG_DIST_STATUS_BLOB,
			    s->status != MB_SUCCESS ? s->status : MB_WRONG_BLOB_ID);
		return;
	}
	if (d->round == DIST_ROUND_XFER_GET && s->phase != MB_PHASE_COMPLETE)
		return;         /* not complete yet: asked again at the next retry */
	answered(d, t);
}

static void take_fw_info(struct dist *d, struct dist_target *t, const struct ma_fw_info *info)
{
	struct ma_fw_iter it;
	struct ma_fw_entry e;

	if (t->effect == MD_EFFECT_UNPROVISION) {
		/* the image was to unprovision the node: an answer means it did not (mesh-dfu-protocol.md 2.3) */
		target_fail(d, t, MSG_DIST_REASON_STILL_PROVISIONED, MSG_DIST_STATUS_NONE, 0);
		return;
	}
	for (ma_fw_iter_init(&it, info); ma_fw_next_entry(&it, &e);) {
		if (e.fwid_len == d->fwid_len && mem_equal(e.fwid, d->fwid, d->fwid_len)) {
			target_result(d, t, MSG_DIST_OK, MSG_DIST_REASON_NONE);
			return;
		}
	}
	target_fail(d, t, MSG_DIST_REASON_WRONG_FIRMWARE_AFTER_APPLY, MSG_DIST_STATUS_NONE, 0);
}

static bool distribution_live(const struct dist *d)
{
	switch (d->state) {
	case MSG_DIST_RUNNING:
	case MSG_DIST_SUSPENDED:
	case MSG_DIST_VERIFIED:
		return true;
	case MSG_DIST_CANCELLED:
		return d->cancelling;
	case MSG_DIST_IDLE:
	case MSG_DIST_CONFIGURING:
	case MSG_DIST_COMPLETED:
	case MSG_DIST_FAILED:
		return false;
	}
	return false;
}

/* An Update Status from a node outside the target list: one in a phase of this transfer (its BLOB ID) joined it
 * through the group; it is queued for a Cancel (send_stray_cancel()). */
static void note_stray(struct dist *d, const struct msg_mesh_recv *rx)
{
	struct md_msg md;

	if (d->state != MSG_DIST_RUNNING || md_decode(rx->payload, rx->payload_len, &md) != MA_OK ||
	    md.u.status.phase == MD_PHASE_IDLE || md.u.status.blob_id != d->blob_id || d->n_strays == DIST_STRAYS_MAX)
		return;
	for (uint8_t i = 0; i < d->n_strays; i++)
		if (d->strays[i] == rx->src)
			return;
	d->strays[d->n_strays++] = rx->src;
	run(d);
}

bool dist_recv(struct dist *d, const struct msg_mesh_recv *rx)
{
	struct dist_target *t;
	uint32_t opcode;
	struct md_msg md;
	struct mb_msg mb;
	struct ma_msg ma;

	if (!distribution_live(d) || ma_opcode_decode(rx->payload, rx->payload_len, &opcode) == 0)
		return false;
	switch (opcode) {
	case MB_OP_XFER_STATUS:
	case MB_OP_BLOCK_STATUS:
	case MB_OP_BLOCK_REPORT:
	case MB_OP_INFO_STATUS:
	case MD_OP_UPDATE_STATUS:
		break;
	case MA_OP_FW_INFO_STATUS:
		/* the host reads versions with the same message: only the confirm round's answers are ours */
		if (d->round != DIST_ROUND_CONFIRM || d->step != DIST_STEP_ROUND)
			return false;
		break;
	default:
		return false;
	}
	t = find_target(d, rx->src);
	if (!t) {
		if (opcode == MD_OP_UPDATE_STATUS)
			note_stray(d, rx);
		return false;
	}
	d->counters.received++;
	if (d->state == MSG_DIST_SUSPENDED) {
		d->counters.ignored++;
		return true;
	}
	switch (opcode) {
	case MD_OP_UPDATE_STATUS:
		if (md_decode(rx->payload, rx->payload_len, &md) != MA_OK)
			break;
		take_update_status(d, t, &md.u.status);
		settle(d);
		run(d);
		return true;
	case MA_OP_FW_INFO_STATUS:
		if (ma_decode(rx->payload, rx->payload_len, &ma) != MA_OK)
			break;
		if (!(t->flags & DIST_TF_ASKED)) {
			d->counters.ignored++;
			return true;
		}
		take_fw_info(d, t, &ma.u.fw_info);
		settle(d);
		run(d);
		return true;
	default:
		if (mb_decode(rx->payload, rx->payload_len, &mb) != MA_OK)
			break;
		if (opcode == MB_OP_XFER_STATUS)
			take_xfer_status(d, t, &mb.u.xfer_status);
		else if (opcode == MB_OP_BLOCK_STATUS)
			take_block_status(d, t, &mb.u.block_status);
		else if (opcode == MB_OP_BLOCK_REPORT)
			take_block_report(d, t, (uint16_t)(t - d->targets), &mb.u.block_report);
		else
			take_info_status(d, t, &mb.u.info_status);
		settle(d);
		run(d);
		return true;
	}
	d->counters.ignored++;  /* malformed: as a Zephyr model, dropped */
	logq_printf(d->log, MSG_LOG_DEBUG, MODULE, "dropped a malformed answer from 0x%04x", rx->src);
	return true;
}

void dist_tx_done(struct dist *d)
{
	d->tx_busy = false;
	d->tx_ready_at = 0;
	run(d);
}

/* --- timers --- */

static void pull_deadlines(struct dist *d)
{
	uint32_t now = since_start(d);
	bool dropped = false;

	for (uint16_t i = 0; i < d->total; i++) {
		struct dist_target *t = &d->targets[i];

		if (t->result == MSG_DIST_PENDING && !(t->flags & DIST_TF_BLOCK_DONE) && now >= t->pull_deadline) {
			target_fail(d, t, MSG_DIST_REASON_TIMEOUT_BLOCK, MSG_DIST_STATUS_NONE, 0);
			for (unsigned s = 0; s < DIST_PULL_SLOTS; s++)
				if (d->pull[s].target == i)
					d->pull[s].target = DIST_TARGETS_MAX;
			dropped = true;
		}
	}
	if (dropped && block_complete(d))
		next_block(d);
}

static bool pull_sending(const struct dist *d)
{
	for (unsigned i = 0; i < DIST_PULL_SLOTS; i++)
		if (d->pull[i].target < DIST_TARGETS_MAX && d->pull[i].next < d->pull[i].count)
			return true;
	return false;
}

static void earliest(uint64_t *deadline, uint64_t at)
{
	if (at != 0 && at < *deadline)
		*deadline = at;
}

uint32_t dist_poll(struct dist *d)
{
	uint64_t now, deadline = UINT64_MAX;
	bool want_tx = false;

	if (d->state == MSG_DIST_RUNNING && d->step == DIST_STEP_PULL)
		pull_deadlines(d);
	if (sending_allowed(d) && d->step == DIST_STEP_ROUND && d->retry_at != 0 && now_ms(d) >= d->retry_at)
		round_retry(d);
	run(d);
	if (!sending_allowed(d))
		return NO_DEADLINE;
	now = now_ms(d);
	switch (d->step) {
	case DIST_STEP_IDLE:
		break;
	case DIST_STEP_ROUND:
		if (d->retry_at != 0)
			earliest(&deadline, d->retry_at);
		else
			want_tx = true;
		break;
	case DIST_STEP_CHUNKS:
		want_tx = true;
		break;
	case DIST_STEP_PULL:
		want_tx = pull_sending(d);
		for (uint16_t i = 0; i < d->total; i++) {
			const struct dist_target *t = &d->targets[i];

			if (t->result == MSG_DIST_PENDING && !(t->flags & DIST_TF_BLOCK_DONE))
				earliest(&deadline, d->started_ms + t->pull_deadline);
		}
		break;
	}
	/* waiting for core_mesh_tx_done() needs no timer; a paced or refused send does */
	if (want_tx && !d->tx_busy)
		earliest(&deadline, d->tx_ready_at > now ? d->tx_ready_at : now + 1);
	if (deadline == UINT64_MAX)
		return NO_DEADLINE;
	if (deadline <= now)
		return 1;
	return deadline - now >= NO_DEADLINE ? NO_DEADLINE - 1 : (uint32_t)(deadline - now);
}

/* --- requests --- */

void dist_init(struct dist *d, const struct core_platform *platform, struct logq *log, struct mesh *mesh,
	       const struct slot *slot)
{
	/* the target table is large: only the header is cleared here, each distribution clears its own targets */
	d->platform = platform;
	d->log = log;
	d->mesh = mesh;
	d->slot = slot;
	d->id = 0;
	d->state = MSG_DIST_IDLE;
	d->phase = MSG_DIST_PHASE_IDLE;
	d->reason = MSG_DIST_REASON_NONE;
	d->step = DIST_STEP_IDLE;
	d->round = DIST_ROUND_NONE;
	d->total = 0;
	d->received = 0;
	d->active = 0;
	d->asked = 0;
	d->cancelling = false;
	d->tx_busy = false;
	d->tx_ready_at = 0;
	d->state_event = false;
	d->progress_event = false;
	d->events_pending = 0;
	d->event_cursor = 0;
	d->counters = (struct dist_counters){ 0 };
}

bool dist_active(const struct dist *d)
{
	switch (d->state) {
	case MSG_DIST_CONFIGURING:
	case MSG_DIST_RUNNING:
	case MSG_DIST_SUSPENDED:
	case MSG_DIST_VERIFIED:
		return true;
	case MSG_DIST_IDLE:
	case MSG_DIST_COMPLETED:
	case MSG_DIST_FAILED:
	case MSG_DIST_CANCELLED:
		return false;
	}
	return false;
}

static bool same_parameters(const struct dist *d, const struct msg_dist_start *r)
{
	return d->group == r->group && d->app_key_index == r->app_key_index && d->ttl == r->ttl &&
	       d->timeout_base == r->timeout_base && d->mode == r->mode && d->policy == r->policy &&
	       d->pref_block_size_log == r->block_size_log && d->pref_chunk_size == r->chunk_size &&
	       mem_equal(d->sha256, r->sha256, sizeof(d->sha256)) && d->total == r->total &&
	       d->fwid_len == r->fwid_len && mem_equal(d->fwid, r->fwid, r->fwid_len) &&
	       d->metadata_len == r->metadata_len && mem_equal(d->metadata, r->metadata, r->metadata_len);
}

/* Checks the batch against what is loaded, then loads the new entries. */
static enum msg_status load_batch(struct dist *d, const struct msg_dist_start *r)
{
	for (uint16_t i = 0; i < r->count; i++) {
		struct msg_dist_entry e = msg_dist_entry(r, i);
		const struct dist_target *t = &d->targets[r->first + i];

		if ((t->flags & DIST_TF_LOADED) && (t->address != e.address || t->image_index != e.image_index)) {
			logq_printf(d->log, MSG_LOG_WARNING, MODULE,
				    "DIST_START %u: target %u is 0x%04x/%u, this batch says 0x%04x/%u: refused",
				    (unsigned)r->id, (unsigned)(r->first + i), t->address, t->image_index, e.address,
				    e.image_index);
			return MSG_STATUS_BAD_PARAM;
		}
	}
	for (uint16_t i = 0; i < r->count; i++) {
		struct msg_dist_entry e = msg_dist_entry(r, i);
		struct dist_target *t = &d->targets[r->first + i];

		if (t->flags & DIST_TF_LOADED)
			continue;
		*t = (struct dist_target){ .address = e.address, .image_index = e.image_index, .flags = DIST_TF_LOADED };
		d->received++;
	}
	return MSG_STATUS_OK;
}

/* Sorts the address index (insertion sort: once per distribution, 0.5 M steps at 1024) and finds duplicates. */
static bool index_addresses(struct dist *d)
{
	for (uint16_t i = 0; i < d->total; i++) {
		uint16_t v = i, j = i;

		while (j > 0 && d->targets[d->by_address[j - 1]].address > d->targets[v].address) {
			d->by_address[j] = d->by_address[j - 1];
			j--;
		}
		d->by_address[j] = v;
	}
	for (uint16_t i = 1; i < d->total; i++) {
		if (d->targets[d->by_address[i]].address == d->targets[d->by_address[i - 1]].address) {
			logq_printf(d->log, MSG_LOG_WARNING, MODULE,
				    "DIST_START %u: target 0x%04x is listed twice (indices %u and %u): start again "
				    "with each target once", (unsigned)d->id, d->targets[d->by_address[i]].address,
				    d->by_address[i - 1], d->by_address[i]);
			return false;
		}
	}
	return true;
}

static uint64_t blob_id(struct dist *d)
{
	const struct core_platform *p = d->platform;
	uint8_t b[8];
	uint64_t id = 0;

	if (p->ops->random && p->ops->random(p->ctx, b, sizeof(b)) == 0) {
		for (unsigned i = 0; i < sizeof(b); i++)
			id = id << 8 | b[i];
		return id;
	}
	/* no random source: unique per distribution and boot is all the BLOB ID has to be */
	logq_printf(d->log, MSG_LOG_WARNING, MODULE, "no random source: the BLOB ID is derived from the clock");
	return (uint64_t)d->id << 32 ^ now_ms(d) ^ 0x6d65736866ull;
}

static void begin(struct dist *d)
{
	d->image_size = d->slot->image_size;
	d->started_ms = now_ms(d);
	d->elapsed_ms = 0;
	d->blob_id = blob_id(d);
	d->unicast = d->group == MSG_ADDR_UNASSIGNED || d->total < DIST_MULTICAST_MIN_TARGETS;
	d->active = d->total;
	d->have_caps = false;
	d->blocks = 0;
	d->block = 0;
	d->chunk_size = 0;
	d->block_size_log = 0;
	d->resuming = false;
	d->cancelling = false;
	d->tx_busy = false;
	d->tx_ready_at = 0;
	d->n_strays = 0;
	d->counters = (struct dist_counters){ 0 };
	logq_printf(d->log, MSG_LOG_INFO, MODULE, "distribution %u: %u targets, image of %u bytes, %s to 0x%04x",
		    (unsigned)d->id, (unsigned)d->total, (unsigned)d->image_size,
		    d->mode == MSG_DIST_MODE_PULL ? "pull" : "push", d->unicast ? 0 : d->group);
	set_state(d, MSG_DIST_RUNNING, MSG_DIST_REASON_NONE);
	round_begin(d, DIST_ROUND_UPDATE_START, MSG_DIST_PHASE_INITIATE);
}

enum msg_status dist_start(struct dist *d, const struct msg_dist_start *r)
{
	enum msg_status st;

	if (!mesh_available(d->mesh) || !slot_available(d->slot))
		return MSG_STATUS_NOT_SUPPORTED;
	if (!d->mesh->configured)
		return MSG_STATUS_NOT_CONFIGURED;
	if (d->id == r->id && d->state != MSG_DIST_IDLE) {
		if (!same_parameters(d, r)) {
			logq_printf(d->log, MSG_LOG_WARNING, MODULE,
				    "DIST_START %u: the parameters differ from the first batch of this id: refused",
				    (unsigned)r->id);
			return MSG_STATUS_BAD_PARAM;
		}
		if (d->state != MSG_DIST_CONFIGURING) {
			/* a repeat after the start: OK if it says what it said, no effect either way */
			for (uint16_t i = 0; i < r->count; i++) {
				struct msg_dist_entry e = msg_dist_entry(r, i);
				const struct dist_target *t = &d->targets[r->first + i];

				if (t->address != e.address || t->image_index != e.image_index)
					return MSG_STATUS_BAD_PARAM;
			}
			return MSG_STATUS_OK;
		}
	} else {
		if (dist_active(d)) {
			logq_printf(d->log, MSG_LOG_WARNING, MODULE,
				    "DIST_START %u refused: distribution %u is %s; cancel it first",
				    (unsigned)r->id, (unsigned)d->id, msg_dist_state_to_string(d->state));
			return MSG_STATUS_BUSY;
		}
		if (d->slot->state != MSG_SLOT_COMMITTED || !mem_equal(d->slot->sha256, r->sha256, MSG_SHA256_SIZE)) {
			logq_printf(d->log, MSG_LOG_WARNING, MODULE,
				    "DIST_START %u refused: the slot is %s%s; upload and commit the image first",
				    (unsigned)r->id, msg_slot_state_to_string(d->slot->state),
				    d->slot->state == MSG_SLOT_COMMITTED ? " with another SHA-256" : "");
			return MSG_STATUS_DIST_SLOT_MISMATCH;
		}
		if (r->app_key_index != d->mesh->app_key_index) {
			logq_printf(d->log, MSG_LOG_WARNING, MODULE,
				    "DIST_START %u refused: application key index %u, MESH_CONFIG set %u",
				    (unsigned)r->id, r->app_key_index, d->mesh->app_key_index);
			return MSG_STATUS_BAD_PARAM;
		}
		if (r->total > DIST_TARGETS_MAX) {
			logq_printf(d->log, MSG_LOG_WARNING, MODULE,
				    "DIST_START %u refused: %u targets, this dongle takes %u per distribution",
				    (unsigned)r->id, (unsigned)r->total, (unsigned)DIST_TARGETS_MAX);
			return MSG_STATUS_NO_MEMORY;
		}
		d->id = r->id;
		d->group = r->group;
		d->app_key_index = r->app_key_index;
		d->ttl = r->ttl;
		d->timeout_base = r->timeout_base;
		d->mode = r->mode;
		d->policy = r->policy;
		d->pref_block_size_log = r->block_size_log;
		d->pref_chunk_size = r->chunk_size;
		mem_copy(d->sha256, r->sha256, sizeof(d->sha256));
		d->fwid_len = r->fwid_len;
		mem_copy(d->fwid, r->fwid, r->fwid_len);
		d->metadata_len = r->metadata_len;
		mem_copy(d->metadata, r->metadata, r->metadata_len);
		d->total = r->total;
		d->received = 0;
		d->phase = MSG_DIST_PHASE_IDLE;
		d->step = DIST_STEP_IDLE;
		d->round = DIST_ROUND_NONE;
		d->cancelling = false;
		d->events_pending = 0;
		d->event_cursor = 0;
		d->progress_event = false;
		mem_fill(d->targets, 0, sizeof(d->targets[0]) * d->total);
		set_state(d, MSG_DIST_CONFIGURING, MSG_DIST_REASON_NONE);
	}
	st = load_batch(d, r);
	if (st != MSG_STATUS_OK || d->received < d->total)
		return st;
	if (!index_addresses(d)) {
		d->state = MSG_DIST_IDLE;
		d->id = 0;
		d->state_event = false;
		return MSG_STATUS_BAD_PARAM;
	}
	begin(d);
	run(d);
	return MSG_STATUS_OK;
}

void dist_get(const struct dist *d, struct msg_dist_info *ret)
{
	uint16_t n[MSG_DIST_TARGET_CANCELLED + 1] = { 0 };

	if (d->state != MSG_DIST_CONFIGURING && d->state != MSG_DIST_IDLE)
		for (uint16_t i = 0; i < d->total; i++)
			n[d->targets[i].result <= MSG_DIST_TARGET_CANCELLED ? d->targets[i].result : 0]++;
	*ret = (struct msg_dist_info){
		.id = d->state == MSG_DIST_IDLE ? 0 : d->id,
		.state = (uint8_t)d->state,
		.phase = (uint8_t)d->phase,
		.reason = (uint8_t)d->reason,
		.mode = d->state == MSG_DIST_IDLE ? 0 : d->mode,
		.group = d->unicast ? 0 : d->group,
		.block = d->block,
		.blocks = d->blocks,
		.block_size_log = d->block_size_log,
		.chunk_size = d->chunk_size,
		.total = d->total,
		.received = d->received,
		.pending = n[MSG_DIST_PENDING],
		.succeeded = n[MSG_DIST_OK],
		.failed = n[MSG_DIST_TARGET_FAILED],
		.cancelled = n[MSG_DIST_TARGET_CANCELLED],
	};
	if (d->state == MSG_DIST_RUNNING || d->state == MSG_DIST_SUSPENDED || d->state == MSG_DIST_VERIFIED)
		ret->elapsed_ms = since_start(d);
	else if (d->state != MSG_DIST_CONFIGURING && d->state != MSG_DIST_IDLE)
		ret->elapsed_ms = d->elapsed_ms;
}

static struct msg_dist_target_info target_info(const struct dist_target *t)
{
	return (struct msg_dist_target_info){
		.address = t->address,
		.image_index = t->image_index,
		.phase = t->phase,
		.result = t->result,
		.reason = t->reason,
		.status_source = t->status_source,
		.status = t->status,
		.effect = t->effect <= 31 ? t->effect : 0,
		.blocks_done = t->blocks_done,
	};
}

enum msg_status dist_targets_get(struct dist *d, const struct msg_dist_page *req, struct msg_dist_targets *ret)
{
	uint16_t max = req->max == 0 || req->max > MSG_DIST_TARGETS_PAGE_MAX ? MSG_DIST_TARGETS_PAGE_MAX : req->max;
	uint16_t count = 0;

	if (d->state == MSG_DIST_IDLE)
		return MSG_STATUS_BAD_STATE;
	if (req->first > d->total)
		return MSG_STATUS_BAD_PARAM;
	/* the targets not loaded yet (CONFIGURING) have no address to report: the page stops before them */
	while (count < max && req->first + count < d->total &&
	       (d->targets[req->first + count].flags & DIST_TF_LOADED)) {
		d->page[count] = target_info(&d->targets[req->first + count]);
		count++;
	}
	*ret = (struct msg_dist_targets){ .id = d->id, .total = d->total, .first = count ? req->first : 0,
					  .count = count, .info = d->page };
	return MSG_STATUS_OK;
}

static enum msg_status check_id(const struct dist *d, uint32_t id)
{
	return d->state != MSG_DIST_IDLE && d->id == id ? MSG_STATUS_OK : MSG_STATUS_DIST_UNKNOWN_ID;
}

enum msg_status dist_suspend(struct dist *d, uint32_t id)
{
	enum msg_status st = check_id(d, id);

	if (st != MSG_STATUS_OK)
		return st;
	if (d->state != MSG_DIST_RUNNING)
		return MSG_STATUS_BAD_STATE;
	set_state(d, MSG_DIST_SUSPENDED, MSG_DIST_REASON_NONE);
	return MSG_STATUS_OK;
}

enum msg_status dist_resume(struct dist *d, uint32_t id)
{
	enum msg_status st = check_id(d, id);

	if (st != MSG_STATUS_OK)
		return st;
	if (d->state != MSG_DIST_SUSPENDED)
		return MSG_STATUS_BAD_STATE;
	set_state(d, MSG_DIST_RUNNING, MSG_DIST_REASON_NONE);
	d->tx_busy = false;
	d->tx_ready_at = 0;
	switch (d->phase) {
	case MSG_DIST_PHASE_VERIFY:
		round_begin(d, DIST_ROUND_UPDATE_GET, MSG_DIST_PHASE_VERIFY);
		break;
	case MSG_DIST_PHASE_APPLY:
		round_begin(d, DIST_ROUND_APPLY, MSG_DIST_PHASE_APPLY);
		break;
	case MSG_DIST_PHASE_CONFIRM:
		round_begin(d, DIST_ROUND_CONFIRM, MSG_DIST_PHASE_CONFIRM);
		break;
	case MSG_DIST_PHASE_IDLE:
	case MSG_DIST_PHASE_INITIATE:
	case MSG_DIST_PHASE_CAPABILITIES:
	case MSG_DIST_PHASE_TRANSFER:
	case MSG_DIST_PHASE_BLOCK:
	case MSG_DIST_PHASE_DONE:
		/* The targets' BLOB servers suspended themselves when their timer ran out; an identical Update Start
		 * resumes their Firmware Update Server, an identical Transfer Start their BLOB server, and the
		 * transfer goes on at the current block (mesh-dfu-protocol.md 2.5). */
		d->resuming = true;
		round_begin(d, DIST_ROUND_UPDATE_START, MSG_DIST_PHASE_INITIATE);
		break;
	}
	run(d);
	return MSG_STATUS_OK;
}

enum msg_status dist_cancel(struct dist *d, uint32_t id)
{
	enum msg_status st = check_id(d, id);
	bool sent_anything = d->state != MSG_DIST_CONFIGURING;

	if (st != MSG_STATUS_OK)
		return st;
	if (!dist_active(d))
		return MSG_STATUS_BAD_STATE;
	for (uint16_t i = 0; i < d->total; i++) {
		struct dist_target *t = &d->targets[i];

		t->flags &= (uint8_t)~(DIST_TF_ASKED | DIST_TF_CANCEL);
		if (t->result == MSG_DIST_PENDING && (t->flags & DIST_TF_LOADED)) {
			target_result(d, t, MSG_DIST_TARGET_CANCELLED, MSG_DIST_REASON_CANCELLED);
			t->flags |= DIST_TF_CANCEL;
		}
	}
	d->asked = 0;
	d->elapsed_ms = sent_anything ? since_start(d) : 0;
	set_state(d, MSG_DIST_CANCELLED, MSG_DIST_REASON_CANCELLED);
	d->step = DIST_STEP_IDLE;
	d->tx_busy = false;
	d->tx_ready_at = 0;
	if (sent_anything) {
		d->cancelling = true;
		round_begin(d, DIST_ROUND_CANCEL, d->phase);
		run(d);
	}
	return MSG_STATUS_OK;
}

enum msg_status dist_apply(struct dist *d, uint32_t id)
{
	enum msg_status st = check_id(d, id);

	if (st != MSG_STATUS_OK)
		return st;
	if (d->state != MSG_DIST_VERIFIED)
		return MSG_STATUS_BAD_STATE;
	set_state(d, MSG_DIST_RUNNING, MSG_DIST_REASON_NONE);
	round_begin(d, DIST_ROUND_APPLY, MSG_DIST_PHASE_APPLY);
	run(d);
	return MSG_STATUS_OK;
}

/* --- events --- */

bool dist_next_event(struct dist *d, struct msg *ret)
{
	*ret = (struct msg){ .kind = FRAME_EVENT };
	if (d->state_event) {
		ret->type = MSG_DIST_STATE;
		ret->u.dist_state = (struct msg_dist_state_evt){ .id = d->id, .state = (uint8_t)d->state,
								  .phase = (uint8_t)d->phase,
								  .reason = (uint8_t)d->reason };
		return true;
	}
	if (d->progress_event) {
		/* built after next_block() moved on: the current block number is the count of blocks done */
		uint16_t done = d->block < d->blocks ? d->block : d->blocks;

		ret->type = MSG_DIST_PROGRESS;
		ret->u.dist_progress = (struct msg_dist_progress){ .id = d->id, .blocks_done = done,
								    .blocks = d->blocks, .active = d->active };
		return true;
	}
	if (d->events_pending == 0)
		return false;
	for (uint16_t n = 0; n < d->total; n++) {
		uint16_t i = (uint16_t)((d->event_cursor + n) % d->total);

		if (d->targets[i].flags & DIST_TF_EVENT) {
			ret->type = MSG_DIST_TARGET;
			ret->u.dist_target = (struct msg_dist_target_evt){ .id = d->id, .index = i,
									    .t = target_info(&d->targets[i]) };
			return true;
		}
	}
	d->events_pending = 0;  /* the count was wrong: a bug, but the flags are the truth */
	return false;
}

void dist_event_sent(struct dist *d, const struct msg *m)
{
	uint16_t i = m->u.dist_target.index;

	if (m->type == MSG_DIST_STATE) {
		d->state_event = false;
	} else if (m->type == MSG_DIST_PROGRESS) {
		d->progress_event = false;
	} else if (m->type == MSG_DIST_TARGET && i < d->total) {
		if (d->targets[i].flags & DIST_TF_EVENT) {
			d->targets[i].flags &= (uint8_t)~DIST_TF_EVENT;
			d->events_pending--;
		}
		d->event_cursor = (uint16_t)(i + 1);
	}
}
