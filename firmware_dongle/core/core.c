/* core: see core.h. The flow of one request: core_input() -> COBS stream -> frame_decode() -> handle_frame():
 * duplicate cache, msg_decode(), dispatch() to the handler, respond() -> the cache -> send_frame(). */
#include "core.h"
#include "mem.h"

#define MODULE "core"

static bool is_cached_type(uint8_t type)
{
	switch ((enum msg_type)type) {
	case MSG_RESET:
	case MSG_MESH_CONFIG:
	case MSG_MESH_SEND:
	case MSG_SLOT_BEGIN:
	case MSG_SLOT_WRITE:
	case MSG_SLOT_COMMIT:
	case MSG_DIST_START:    /* idempotent anyway; the cache spares the log lines and the checks */
	case MSG_DIST_SUSPEND:
	case MSG_DIST_RESUME:
	case MSG_DIST_CANCEL:
	case MSG_DIST_APPLY:
		return true;
	case MSG_DIST_GET:
	case MSG_DIST_TARGETS_GET:
	case MSG_DIST_TARGET:
	case MSG_DIST_PROGRESS:
	case MSG_DIST_STATE:
	case MSG_HELLO:         /* idempotent, or not a request at all */
	case MSG_ECHO:
	case MSG_STATS:
	case MSG_SLOT_INFO:
	case MSG_LOG:
	case MSG_MESH_RECV:
		return false;
	}
	return false;
}

/* --- output --- */

/* Hands one frame of @len bytes in c->tx_frame to the platform; false if it had no room. */
static bool send_frame(struct core *c, size_t len)
{
	const struct core_platform *p = c->platform;
	/* Always a leading delimiter: it ends whatever garbage the host holds, for one byte per frame. */
	size_t wire_len = cobs_encode_frame(c->tx_frame, len, true, c->tx_wire, sizeof(c->tx_wire));

	if (wire_len > 0 && p->ops->send(p->ctx, c->tx_wire, wire_len)) {
		c->counters.tx_frames++;
		return true;
	}
	c->counters.tx_dropped++;
	return false;
}

/* Log lines the queue dropped used up their event numbers: the host sees the gap. */
static void account_log_drops(struct core *c)
{
	uint32_t lost = c->log.dropped - c->log_dropped_seen;

	c->log_dropped_seen = c->log.dropped;
	c->next_event_seq += lost;
	c->counters.events_dropped += lost;
}

static bool encode_event(struct core *c, const struct msg *m, size_t *ret_len)
{
	return msg_encode_frame(m, c->next_event_seq, false, c->tx_frame, sizeof(c->tx_frame), ret_len) ==
	       MSG_STATUS_OK;
}

/* Sends queued log lines while the platform takes them. A line the platform has no room for stays queued, with
 * its number still unused. */
static void flush_log(struct core *c)
{
	const struct logq_line *line;

	account_log_drops(c);
	while ((line = logq_peek(&c->log)) != NULL) {
		struct msg m = {
			.type = MSG_LOG,
			.kind = FRAME_EVENT,
			.u.log = {
				.level = line->level,
				.uptime_ms = line->uptime_ms,
				.module = line->module,
				.module_len = line->module_len,
				.text = line->text,
				.text_len = line->text_len,
			},
		};
		size_t len;

		if (encode_event(c, &m, &len)) {
			if (!send_frame(c, len))
				return;
		} else {
			c->counters.events_dropped++;   /* a bug: logq makes lines the codec accepts */
		}
		c->next_event_seq++;
		logq_pop(&c->log);
	}
}

/* Sends the distribution's due events while the platform takes them; the rest wait in the distributor's flags
 * (coalesced, never dropped). */
static void flush_dist(struct core *c)
{
	struct msg m;
	size_t len;

	account_log_drops(c);
	while (dist_next_event(&c->dist, &m)) {
		if (encode_event(c, &m, &len)) {
			if (!send_frame(c, len))
				return;
		} else {
			c->counters.events_dropped++;   /* a bug: the distributor builds events the codec accepts */
		}
		c->next_event_seq++;
		dist_event_sent(&c->dist, &m);
	}
}

/* --- the duplicate cache --- */

static const struct core_dup *dup_find(const struct core *c, uint32_t id, uint8_t type)
{
	for (unsigned i = 0; i < CORE_DUP_CACHE_SIZE; i++) {
		const struct core_dup *d = &c->dup[i];

		if (d->used && d->id == id && d->type == type)
			return d;
	}
	return NULL;
}

static void dup_store(struct core *c, const struct frame_header *h, const uint8_t *payload)
{
	struct core_dup *d = &c->dup[c->dup_next];

	if (h->payload_len > CORE_DUP_PAYLOAD_MAX)
		return;         /* no cached type has a larger response; never reached */
	d->used = true;
	d->id = h->seq;
	d->type = h->type;
	d->status = h->status;
	d->payload_len = (uint8_t)h->payload_len;
	mem_copy(d->payload, payload, h->payload_len);
	c->dup_next = (c->dup_next + 1) % CORE_DUP_CACHE_SIZE;
}

static void dup_clear(struct core *c)
{
	for (unsigned i = 0; i < CORE_DUP_CACHE_SIZE; i++)
		c->dup[i].used = false;
	c->dup_next = 0;
}

static void dup_replay(struct core *c, const struct core_dup *d)
{
	struct frame_header h = {
		.type = d->type,
		.kind = FRAME_RESPONSE,
		.status = d->status,
		.seq = d->id,
		.payload_len = d->payload_len,
	};
	size_t len = frame_encode(&h, d->payload, c->tx_frame, sizeof(c->tx_frame));

	if (len > 0)
		send_frame(c, len);
}

/* --- responses --- */

/* Sends the one response to request @req: @rsp's payload if the type is known, else an empty one. Caches it for
 * the cached types. */
static void respond(struct core *c, const struct frame_header *req, enum msg_status status, struct msg *rsp)
{
	struct frame_header h = { .type = req->type, .kind = FRAME_RESPONSE, .status = (uint8_t)status,
				  .seq = req->seq };
	size_t len = 0;

	if (msg_type_valid(req->type, FRAME_RESPONSE)) {
		rsp->type = (enum msg_type)req->type;
		rsp->kind = FRAME_RESPONSE;
		rsp->status = (uint8_t)status;
		if (msg_encode_frame(rsp, req->seq, false, c->tx_frame, sizeof(c->tx_frame), &len) != MSG_STATUS_OK) {
			/* a handler filled in something the codec refuses: a bug, said as such */
			core_logf(c, MSG_LOG_ERROR, MODULE, "cannot encode the %s response",
				  msg_type_to_string(req->type));
			h.status = MSG_STATUS_INTERNAL;
			len = 0;
		}
	}
	if (len == 0)
		len = frame_encode(&h, NULL, c->tx_frame, sizeof(c->tx_frame));
	if (len == 0)
		return;
	if (is_cached_type(req->type)) {
		struct frame_header sent;

		if (frame_decode(c->tx_frame, len, &sent) == FRAME_OK)
			dup_store(c, &sent, c->tx_frame + FRAME_HEADER_SIZE);
	}
	send_frame(c, len);
}

/* --- the handlers: each fills *rsp (zeroed) and returns the response's status --- */

static uint32_t features(const struct core *c)
{
	uint32_t f = c->config.extra_features;

	if (mesh_available(&c->mesh))
		f |= MSG_FEATURE_MESH;
	if (slot_available(&c->slot))
		f |= MSG_FEATURE_SLOT;
	if (mesh_available(&c->mesh) && slot_available(&c->slot))
		f |= MSG_FEATURE_DIST;
	return f;
}

static enum msg_status handle_hello(struct core *c, struct msg *rsp)
{
	struct msg_hello *h = &rsp->u.hello;

	account_log_drops(c);
	dup_clear(c);           /* the host numbers its requests from MSG_HELLO_ID again */
	h->proto_major = MSG_VERSION_MAJOR;
	h->proto_minor = MSG_VERSION_MINOR;
	h->reset_reason = c->config.reset_reason;
	h->request_window = CORE_REQUEST_WINDOW;
	h->max_frame = CORE_MAX_FRAME;
	h->max_targets = CORE_MAX_TARGETS;
	h->slot_size = slot_available(&c->slot) ? c->platform->slot_size : 0;
	h->features = features(c);
	h->next_event_seq = c->next_event_seq;
	h->fw_major = c->config.fw_major;
	h->fw_minor = c->config.fw_minor;
	h->fw_patch = c->config.fw_patch;
	mem_copy(h->build_id, c->config.build_id, sizeof(h->build_id));
	return MSG_STATUS_OK;
}

static enum msg_status handle_reset(struct core *c, const struct msg_reset *req)
{
	if (!c->platform->ops->reset)
		return MSG_STATUS_NOT_SUPPORTED;
	switch (req->mode) {
	case MSG_RESET_MODE_APP:
		return MSG_STATUS_OK;
	case MSG_RESET_MODE_BOOTLOADER:
		return c->platform->has_bootloader ? MSG_STATUS_OK : MSG_STATUS_NOT_SUPPORTED;
	}
	return MSG_STATUS_BAD_PARAM;
}

static enum msg_status handle_slot_write(struct core *c, const struct msg_slot_write *req, struct msg *rsp)
{
	enum msg_status st = slot_write(&c->slot, req);

	rsp->u.bytes_written = c->slot.bytes_written;
	return st;
}

static enum msg_status handle_dist_targets(struct core *c, const struct msg_dist_page *req, struct msg *rsp)
{
	return dist_targets_get(&c->dist, req, &rsp->u.dist_targets);
}

/* The slot holds the image a distribution sends: it stays as it is until the distribution ends. */
static bool slot_locked(struct core *c)
{
	if (!dist_active(&c->dist))
		return false;
	core_logf(c, MSG_LOG_WARNING, MODULE, "the slot is in use by distribution %u: cancel it or wait for its end",
		  (unsigned)c->dist.id);
	return true;
}

/* Executes a request that decoded cleanly. */
static enum msg_status dispatch(struct core *c, const struct msg *req, struct msg *rsp)
{
	switch (req->type) {
	case MSG_HELLO:
		return handle_hello(c, rsp);
	case MSG_ECHO:
		rsp->u.echo = req->u.echo;      /* points into rx_buf, which outlives the response */
		return MSG_STATUS_OK;
	case MSG_RESET:
		return handle_reset(c, &req->u.reset);
	case MSG_STATS:
		core_stats(c, &rsp->u.stats);
		return MSG_STATUS_OK;
	case MSG_MESH_CONFIG:
		return mesh_configure(&c->mesh, &req->u.mesh_config, &rsp->u.mesh_seq);
	case MSG_MESH_SEND:
		return mesh_send(&c->mesh, &req->u.mesh_send);
	case MSG_SLOT_INFO:
		slot_info(&c->slot, &rsp->u.slot_info);
		return MSG_STATUS_OK;
	case MSG_SLOT_BEGIN:
		return slot_locked(c) ? MSG_STATUS_BUSY : slot_begin(&c->slot, &req->u.slot_image);
	case MSG_SLOT_WRITE:
		if (slot_locked(c)) {
			rsp->u.bytes_written = c->slot.bytes_written;
			return MSG_STATUS_BUSY;
		}
		return handle_slot_write(c, &req->u.slot_write, rsp);
	case MSG_SLOT_COMMIT:
		return slot_locked(c) ? MSG_STATUS_BUSY : slot_commit(&c->slot, &req->u.slot_image);
	case MSG_DIST_START:
		return dist_start(&c->dist, &req->u.dist_start);
	case MSG_DIST_GET:
		dist_get(&c->dist, &rsp->u.dist_info);
		return MSG_STATUS_OK;
	case MSG_DIST_TARGETS_GET:
		return handle_dist_targets(c, &req->u.dist_page, rsp);
	case MSG_DIST_SUSPEND:
		return dist_suspend(&c->dist, req->u.dist_id);
	case MSG_DIST_RESUME:
		return dist_resume(&c->dist, req->u.dist_id);
	case MSG_DIST_CANCEL:
		return dist_cancel(&c->dist, req->u.dist_id);
	case MSG_DIST_APPLY:
		return dist_apply(&c->dist, req->u.dist_id);
	case MSG_LOG:           /* events: msg_decode() never yields them as requests */
	case MSG_MESH_RECV:
	case MSG_DIST_TARGET:
	case MSG_DIST_PROGRESS:
	case MSG_DIST_STATE:
		return MSG_STATUS_UNKNOWN_MESSAGE;
	}
	return MSG_STATUS_UNKNOWN_MESSAGE;
}

static void handle_frame(struct core *c, const uint8_t *frame, size_t len)
{
	struct frame_header h;
	struct msg req, rsp = { 0 };
	enum frame_error fe = frame_decode(frame, len, &h);
	const struct core_dup *d;
	enum msg_status st;

	if (fe != FRAME_OK) {
		/* no answer: the id of a damaged frame cannot be trusted; the host retransmits */
		if (fe == FRAME_ERR_BAD_CRC)
			c->counters.rx_bad_crc++;
		else
			c->counters.rx_bad_frame++;
		return;
	}
	c->counters.rx_frames++;
	if (h.kind != FRAME_REQUEST) {
		c->counters.rx_bad_frame++;
		return;
	}
	if (h.retransmit)
		c->counters.rx_retransmits++;
	if (is_cached_type(h.type) && (d = dup_find(c, h.seq, h.type)) != NULL) {
		c->counters.rx_duplicates++;
		dup_replay(c, d);
		return;
	}
	st = msg_decode(&h, frame + FRAME_HEADER_SIZE, &req);
	if (st == MSG_STATUS_OK)
		st = dispatch(c, &req, &rsp);
	else if (h.type == MSG_SLOT_WRITE)
		rsp.u.bytes_written = c->slot.bytes_written;
	respond(c, &h, st, &rsp);

	if (h.type == MSG_RESET && st == MSG_STATUS_OK) {
		c->reset_requested = true;
		core_logf(c, MSG_LOG_INFO, MODULE, "reset requested by the host (%s)",
			  req.u.reset.mode == MSG_RESET_MODE_BOOTLOADER ? "bootloader" : "restart");
		flush_log(c);
		c->platform->ops->reset(c->platform->ctx, req.u.reset.mode);
	}
}

/* --- the public functions --- */

enum msg_status core_init(struct core *c, const struct core_platform *platform, const struct core_config *config)
{
	struct msg_slot_info info;
	bool slot_ok;

	*c = (struct core){ .platform = platform, .config = *config };
	if (c->config.forward_level == 0)
		c->config.forward_level = MSG_LOG_INFO;
	logq_init(&c->log, platform, c->config.forward_level);
	cobs_stream_init(&c->rx, c->rx_buf, sizeof(c->rx_buf));
	slot_ok = slot_init(&c->slot, platform, &c->log);
	mesh_init(&c->mesh, platform, &c->log);
	dist_init(&c->dist, platform, &c->log, &c->mesh, &c->slot);
	slot_info(&c->slot, &info);
	core_logf(c, MSG_LOG_INFO, MODULE, "boot (%s), firmware %u.%u.%u; slot %s, %u of %u bytes; mesh sequence %u",
		  msg_reset_reason_to_string(c->config.reset_reason), c->config.fw_major, c->config.fw_minor,
		  c->config.fw_patch, msg_slot_state_to_string(info.state), (unsigned)info.bytes_written,
		  (unsigned)info.image_size, (unsigned)c->mesh.next);
	return slot_ok ? MSG_STATUS_OK : MSG_STATUS_BAD_PARAM;
}

void core_input(struct core *c, const uint8_t *data, size_t len)
{
	while (len > 0 && !c->reset_requested) {
		size_t frame_len, used = cobs_stream_feed(&c->rx, data, len, &frame_len);

		data += used;
		len -= used;
		if (frame_len > 0)
			handle_frame(c, c->rx_buf, frame_len);
	}
	flush_dist(c);
	flush_log(c);
}

uint32_t core_poll(struct core *c)
{
	uint32_t delay;

	if (c->reset_requested)
		return CORE_POLL_IDLE;
	delay = dist_poll(&c->dist);
	flush_dist(c);
	flush_log(c);
	return delay;
}

void core_mesh_tx_done(struct core *c)
{
	if (c->reset_requested)
		return;
	dist_tx_done(&c->dist);
	flush_dist(c);
	flush_log(c);
}

void core_mesh_recv(struct core *c, const struct msg_mesh_recv *rx)
{
	struct msg m = { .type = MSG_MESH_RECV, .kind = FRAME_EVENT, .u.mesh_recv = *rx };
	size_t len;

	if (c->reset_requested || !mesh_accept(&c->mesh, rx))
		return;
	if (dist_recv(&c->dist, rx)) {
		/* the distributor's own traffic is not forwarded: at N = 1000 it would flood the link */
		flush_dist(c);
		flush_log(c);
		return;
	}
	account_log_drops(c);
	/* An event that cannot be sent still uses its number: the gap tells the host to ask again. */
	if (!encode_event(c, &m, &len) || !send_frame(c, len))
		c->counters.events_dropped++;
	c->next_event_seq++;
	flush_log(c);
}

enum msg_status core_mesh_seq_alloc(struct core *c, uint32_t count, uint32_t *ret_first)
{
	return mesh_seq_alloc(&c->mesh, count, ret_first);
}

bool core_reset_requested(const struct core *c)
{
	return c->reset_requested;
}

void core_stats(const struct core *c, struct msg_stats *ret)
{
	const struct core_counters *n = &c->counters;

	*ret = (struct msg_stats){
		.uptime_s = (uint32_t)(c->platform->ops->now_ms(c->platform->ctx) / 1000),
		.rx_frames = n->rx_frames,
		.tx_frames = n->tx_frames,
		.rx_bad_crc = n->rx_bad_crc,
		.rx_bad_frame = n->rx_bad_frame + c->rx.oversize + c->rx.malformed,
		.rx_dropped = 0,        /* every frame is handled as it completes: none waits for a buffer */
		.rx_duplicates = n->rx_duplicates,
		.events_dropped = n->events_dropped + (c->log.dropped - c->log_dropped_seen),
		.mesh_tx = c->mesh.tx,
		.mesh_tx_failed = c->mesh.tx_failed,
		.mesh_rx = c->mesh.rx,
		.mesh_seq = c->mesh.next,
	};
}

void core_logf(struct core *c, enum msg_log_level level, const char *module, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	logq_vprintf(&c->log, level, module, fmt, ap);
	va_end(ap);
}
