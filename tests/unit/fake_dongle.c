/* fake_dongle: see fake_dongle.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "crc32c.h"
#include "fake_dongle.h"

static uint32_t rnd(struct fake_dongle *f)
{
	/* xorshift64*: deterministic per seed, so a failure replays */
	f->rng ^= f->rng >> 12;
	f->rng ^= f->rng << 25;
	f->rng ^= f->rng >> 27;
	return (uint32_t)((f->rng * 2685821657736338717ull) >> 32);
}

static bool chance(struct fake_dongle *f, double p)
{
	return p > 0 && (double)rnd(f) / 4294967296.0 < p;
}

static void on_poll(uv_poll_t *poll, int status, int events);

static void flush(struct fake_dongle *f)
{
	size_t done = 0;

	while (f->master >= 0 && done < f->out_len) {
		ssize_t n = write(f->master, f->out + done, f->out_len - done);

		if (n <= 0)
			break;
		done += (size_t)n;
	}
	memmove(f->out, f->out + done, f->out_len - done);
	f->out_len -= done;
	if (f->master >= 0 && f->poll_ready && (f->out_len > 0) != f->want_write) {
		f->want_write = f->out_len > 0;
		uv_poll_start(&f->poll, UV_READABLE | (f->want_write ? UV_WRITABLE : 0), on_poll);
	}
}

/* Queues bytes towards the host through the output faults. */
static void emit(struct fake_dongle *f, const uint8_t *p, size_t n, bool faults)
{
	if (f->master < 0)
		return;
	for (size_t i = 0; i < n && f->out_len + 2 <= FAKE_OUT_CAP; i++) {
		uint8_t b = p[i];

		if (faults && chance(f, f->o.out_drop))
			continue;
		if (faults && chance(f, f->o.out_corrupt))
			b ^= (uint8_t)(1u << (rnd(f) % 8));
		f->out[f->out_len++] = b;
		if (faults && chance(f, f->o.out_dup))
			f->out[f->out_len++] = b;
	}
	flush(f);
}

static void emit_frame(struct fake_dongle *f, const uint8_t *frame, size_t len)
{
	uint8_t wire[COBS_WIRE_MAX(FRAME_MAX_SIZE)];
	size_t n;

	if (f->garbage_between) {
		uint8_t junk[24];
		size_t k = 1 + rnd(f) % sizeof(junk);

		for (size_t i = 0; i < k; i++)
			junk[i] = (uint8_t)(1 + rnd(f) % 255);     /* non-zero: one burst, one resync */
		emit(f, junk, k, false);
		f->garbage_bursts++;
	}
	n = cobs_encode_frame(frame, len, true, wire, sizeof(wire));
	emit(f, wire, n, true);
}

static void send_msg(struct fake_dongle *f, const struct msg *m, uint32_t seq)
{
	uint8_t frame[FRAME_MAX_SIZE];
	size_t len;

	if (msg_encode_frame(m, seq, false, frame, sizeof(frame), &len) != MSG_STATUS_OK) {
		fprintf(stderr, "# fake: cannot encode %s\n", msg_type_to_string(m->type));
		return;
	}
	emit_frame(f, frame, len);
}

/* A response given as raw header fields and payload (status answers, cached answers). */
static void send_raw_response(struct fake_dongle *f, uint8_t type, uint8_t status, uint32_t id,
			      const uint8_t *payload, uint16_t len)
{
	struct frame_header h = { .type = type, .kind = FRAME_RESPONSE, .status = status, .seq = id,
				  .payload_len = len };
	uint8_t frame[FRAME_OVERHEAD + 4];
	size_t n = frame_encode(&h, payload, frame, sizeof(frame));

	f->responses_sent++;
	emit_frame(f, frame, n);
}

static bool cached_type(uint8_t type)
{
	return type == MSG_RESET || type == MSG_MESH_CONFIG || type == MSG_MESH_SEND || type == MSG_SLOT_BEGIN ||
	       type == MSG_SLOT_WRITE || type == MSG_SLOT_COMMIT;
}

static void cache_store(struct fake_dongle *f, uint32_t id, uint8_t type, uint8_t status, const uint8_t *payload,
			uint16_t len)
{
	f->cache[f->cache_next].used = true;
	f->cache[f->cache_next].id = id;
	f->cache[f->cache_next].type = type;
	f->cache[f->cache_next].status = status;
	f->cache[f->cache_next].len = len;
	if (len)
		memcpy(f->cache[f->cache_next].payload, payload, len);
	f->cache_next = (f->cache_next + 1) % FAKE_CACHE;
}

/* Answers (and caches) a response whose payload is at most 4 bytes. */
static void answer(struct fake_dongle *f, const struct frame_header *rq, uint8_t status, const uint8_t *payload,
		   uint16_t len)
{
	if (cached_type(rq->type) || status == MSG_STATUS_BUSY)
		cache_store(f, rq->seq, rq->type, status, payload, len);
	if (f->drop_responses > 0) {
		f->drop_responses--;
		return;
	}
	send_raw_response(f, rq->type, status, rq->seq, payload, len);
}

static void answer_msg(struct fake_dongle *f, const struct msg *m, uint32_t id)
{
	if (f->drop_responses > 0) {
		f->drop_responses--;
		return;
	}
	f->responses_sent++;
	send_msg(f, m, id);
}

static void slot_write_answer(struct fake_dongle *f, const struct frame_header *rq, uint8_t status)
{
	uint8_t bw[4] = { (uint8_t)f->slot_written, (uint8_t)(f->slot_written >> 8), (uint8_t)(f->slot_written >> 16),
			  (uint8_t)(f->slot_written >> 24) };

	answer(f, rq, status, bw, 4);
}

static void on_timer(uv_timer_t *timer);

/* --- the scripted Distributor --- */

static bool dist_active(const struct fake_dist *d)
{
	return d->id && (d->state == MSG_DIST_CONFIGURING || d->state == MSG_DIST_RUNNING ||
			 d->state == MSG_DIST_SUSPENDED || d->state == MSG_DIST_VERIFIED);
}

static void dist_start(struct fake_dongle *f, const struct frame_header *h, const struct msg_dist_start *s)
{
	struct fake_dist *d = &f->dist;

	if (s->total > FAKE_DIST_TARGETS) {
		answer(f, h, MSG_STATUS_NO_MEMORY, NULL, 0);
		return;
	}
	if (f->slot_state != MSG_SLOT_COMMITTED || memcmp(f->slot_sha, s->sha256, MSG_SHA256_SIZE) != 0) {
		answer(f, h, MSG_STATUS_DIST_SLOT_MISMATCH, NULL, 0);
		return;
	}
	if (d->id != s->id) {
		if (dist_active(d)) {
			answer(f, h, MSG_STATUS_BUSY, NULL, 0);
			return;
		}
		memset(d->have, 0, sizeof(d->have));
		memset(d->t, 0, sizeof(d->t));
		d->id = s->id;
		d->state = MSG_DIST_CONFIGURING;
		d->phase = MSG_DIST_PHASE_IDLE;
		d->reason = 0;
		d->total = s->total;
		d->received = 0;
		d->group = s->group;
		d->policy = s->policy;
		memcpy(d->sha256, s->sha256, MSG_SHA256_SIZE);
		memcpy(d->fwid, s->fwid, s->fwid_len);
		d->fwid_len = s->fwid_len;
	} else if (s->total != d->total || s->policy != d->policy || s->group != d->group) {
		answer(f, h, MSG_STATUS_BAD_PARAM, NULL, 0);
		return;
	}
	d->batches++;
	if (s->count > d->max_batch)
		d->max_batch = s->count;
	for (uint16_t i = 0; i < s->count; i++) {
		struct msg_dist_entry e = msg_dist_entry(s, i);
		uint16_t at = (uint16_t)(s->first + i);

		if (d->have[at] && (d->t[at].address != e.address || d->t[at].image_index != e.image_index)) {
			answer(f, h, MSG_STATUS_BAD_PARAM, NULL, 0);
			return;
		}
		if (!d->have[at]) {
			d->have[at] = true;
			d->received++;
			d->t[at] = (struct msg_dist_target_info){ .address = e.address, .image_index = e.image_index,
								  .phase = MSG_DIST_PHASE_INITIATE };
		}
	}
	if (d->state == MSG_DIST_CONFIGURING && d->received == d->total) {
		d->state = MSG_DIST_RUNNING;
		d->phase = MSG_DIST_PHASE_INITIATE;
	}
	answer(f, h, MSG_STATUS_OK, NULL, 0);
}

static void dist_execute(struct fake_dongle *f, const struct frame_header *h, const struct msg *rq)
{
	struct fake_dist *d = &f->dist;
	struct msg rsp = { .type = rq->type, .kind = FRAME_RESPONSE };

	switch ((unsigned)rq->type) {      /* the DIST_* requests only */
	case MSG_DIST_START:
		dist_start(f, h, &rq->u.dist_start);
		return;
	case MSG_DIST_GET: {
		struct msg_dist_info *i = &rsp.u.dist_info;

		*i = (struct msg_dist_info){ .id = d->id, .state = d->id ? d->state : MSG_DIST_IDLE, .phase = d->phase,
					     .reason = d->reason, .mode = d->id ? MSG_DIST_MODE_PUSH : 0,
					     .group = d->group, .total = d->total, .received = d->received };
		for (uint16_t k = 0; k < d->total; k++) {
			switch (d->t[k].result) {
			case MSG_DIST_PENDING: i->pending++; break;
			case MSG_DIST_OK: i->succeeded++; break;
			case MSG_DIST_TARGET_FAILED: i->failed++; break;
			case MSG_DIST_TARGET_CANCELLED: i->cancelled++; break;
			}
		}
		answer_msg(f, &rsp, h->seq);
		return;
	}
	case MSG_DIST_TARGETS_GET: {
		uint16_t first = rq->u.dist_page.first, max = rq->u.dist_page.max, n = 0;
		static struct msg_dist_target_info page[MSG_DIST_TARGETS_PAGE_MAX];

		if (!d->id) {
			answer(f, h, MSG_STATUS_BAD_STATE, NULL, 0);
			return;
		}
		if (first > d->total) {
			answer(f, h, MSG_STATUS_BAD_PARAM, NULL, 0);
			return;
		}
		d->pages++;
		if (max == 0 || max > MSG_DIST_TARGETS_PAGE_MAX)
			max = MSG_DIST_TARGETS_PAGE_MAX;
		if (f->o.dist_page_max && max > f->o.dist_page_max)
			max = f->o.dist_page_max;
		while (first + n < d->total && n < max && d->have[first + n]) {
			page[n] = d->t[first + n];
			n++;
		}
		rsp.u.dist_targets = (struct msg_dist_targets){ .id = d->id, .total = d->total,
								.first = n ? first : 0, .count = n, .info = page };
		answer_msg(f, &rsp, h->seq);
		return;
	}
	case MSG_DIST_SUSPEND:
	case MSG_DIST_RESUME:
	case MSG_DIST_CANCEL:
	case MSG_DIST_APPLY: {
		static const uint8_t from[] = { [MSG_DIST_SUSPEND - MSG_DIST_SUSPEND] = MSG_DIST_RUNNING,
						[MSG_DIST_RESUME - MSG_DIST_SUSPEND] = MSG_DIST_SUSPENDED,
						[MSG_DIST_APPLY - MSG_DIST_SUSPEND] = MSG_DIST_VERIFIED };

		if (!d->id || rq->u.dist_id != d->id) {
			answer(f, h, MSG_STATUS_DIST_UNKNOWN_ID, NULL, 0);
			return;
		}
		if (rq->type == MSG_DIST_CANCEL ? !dist_active(d) : d->state != from[rq->type - MSG_DIST_SUSPEND]) {
			answer(f, h, MSG_STATUS_BAD_STATE, NULL, 0);
			return;
		}
		answer(f, h, MSG_STATUS_OK, NULL, 0);
		if (rq->type == MSG_DIST_SUSPEND) {
			d->suspends++;
			fake_dongle_dist_state(f, MSG_DIST_SUSPENDED, d->phase, MSG_DIST_REASON_NONE);
		} else if (rq->type == MSG_DIST_RESUME) {
			d->resumes++;
			fake_dongle_dist_state(f, MSG_DIST_RUNNING, d->phase, MSG_DIST_REASON_NONE);
		} else if (rq->type == MSG_DIST_APPLY) {
			d->applies++;
			fake_dongle_dist_state(f, MSG_DIST_RUNNING, MSG_DIST_PHASE_APPLY, MSG_DIST_REASON_NONE);
		} else {
			d->cancels++;
			for (uint16_t k = 0; k < d->total; k++)
				if (d->t[k].result == MSG_DIST_PENDING)
					fake_dongle_dist_target(f, k, d->t[k].phase, MSG_DIST_TARGET_CANCELLED,
								MSG_DIST_REASON_CANCELLED);
			fake_dongle_dist_state(f, MSG_DIST_CANCELLED, MSG_DIST_PHASE_DONE, MSG_DIST_REASON_CANCELLED);
		}
		return;
	}
	default:
		answer(f, h, MSG_STATUS_UNKNOWN_MESSAGE, NULL, 0);
		return;
	}
}

void fake_dongle_dist_target(struct fake_dongle *f, uint16_t index, uint8_t phase, uint8_t result, uint8_t reason)
{
	struct msg m = { .type = MSG_DIST_TARGET, .kind = FRAME_EVENT };
	struct msg_dist_target_info *t = &f->dist.t[index];

	t->phase = phase;
	t->result = result;
	t->reason = reason;
	m.u.dist_target = (struct msg_dist_target_evt){ .id = f->dist.id, .index = index, .t = *t };
	if (f->master >= 0)
		send_msg(f, &m, f->event_seq++);
}

void fake_dongle_dist_state(struct fake_dongle *f, uint8_t state, uint8_t phase, uint8_t reason)
{
	struct msg m = { .type = MSG_DIST_STATE, .kind = FRAME_EVENT };

	f->dist.state = state;
	f->dist.phase = phase;
	f->dist.reason = reason;
	m.u.dist_state = (struct msg_dist_state_evt){ .id = f->dist.id, .state = state, .phase = phase,
						      .reason = reason };
	if (f->master >= 0)
		send_msg(f, &m, f->event_seq++);
}

void fake_dongle_dist_progress(struct fake_dongle *f, uint16_t blocks_done, uint16_t blocks, uint16_t active)
{
	struct msg m = { .type = MSG_DIST_PROGRESS, .kind = FRAME_EVENT };

	m.u.dist_progress = (struct msg_dist_progress){ .id = f->dist.id, .blocks_done = blocks_done,
							.blocks = blocks, .active = active };
	if (f->master >= 0)
		send_msg(f, &m, f->event_seq++);
}

static void execute(struct fake_dongle *f, const struct frame_header *h, const uint8_t *payload)
{
	struct msg rq, rsp = { .kind = FRAME_RESPONSE };
	enum msg_status st;
	uint8_t digest[MSG_SHA256_SIZE];
	unsigned int dlen;

	st = msg_decode(h, payload, &rq);
	if (st != MSG_STATUS_OK) {
		if (h->type == MSG_SLOT_WRITE)
			slot_write_answer(f, h, (uint8_t)st);
		else
			answer(f, h, (uint8_t)st, NULL, 0);
		return;
	}
	f->executed[h->type]++;
	rsp.type = rq.type;
	switch (rq.type) {
	case MSG_ECHO:
		rsp.u.echo = rq.u.echo;
		answer_msg(f, &rsp, h->seq);
		return;
	case MSG_STATS:
		rsp.u.stats = (struct msg_stats){ .rx_frames = f->requests, .tx_frames = f->responses_sent,
						  .rx_duplicates = f->duplicates_answered, .mesh_seq = f->mesh_seq };
		answer_msg(f, &rsp, h->seq);
		return;
	case MSG_RESET:
		answer(f, h, MSG_STATUS_OK, NULL, 0);
		fake_dongle_reboot(f, MSG_RESET_HOST);
		return;
	case MSG_MESH_CONFIG: {
		uint8_t seq[4];

		f->configured = true;
		f->mesh_seq = rq.u.mesh_config.seq;
		seq[0] = (uint8_t)f->mesh_seq;
		seq[1] = (uint8_t)(f->mesh_seq >> 8);
		seq[2] = (uint8_t)(f->mesh_seq >> 16);
		seq[3] = 0;
		answer(f, h, MSG_STATUS_OK, seq, 4);
		return;
	}
	case MSG_MESH_SEND:
		answer(f, h, f->configured ? MSG_STATUS_OK : MSG_STATUS_NOT_CONFIGURED, NULL, 0);
		return;
	case MSG_SLOT_INFO:
		rsp.u.slot_info.slot_size = f->o.slot_size;
		rsp.u.slot_info.image_size = f->slot_state ? f->slot_image_size : 0;
		rsp.u.slot_info.bytes_written = f->slot_state ? f->slot_written : 0;
		rsp.u.slot_info.state = (enum msg_slot_state)f->slot_state;
		if (f->slot_state)
			memcpy(rsp.u.slot_info.sha256, f->slot_sha, MSG_SHA256_SIZE);
		answer_msg(f, &rsp, h->seq);
		return;
	case MSG_SLOT_BEGIN:
		if (rq.u.slot_image.size > f->o.slot_size) {
			answer(f, h, MSG_STATUS_SLOT_TOO_BIG, NULL, 0);
			return;
		}
		f->slot_begins++;
		f->slot_state = MSG_SLOT_WRITING;
		f->slot_image_size = rq.u.slot_image.size;
		f->slot_written = 0;
		memcpy(f->slot_sha, rq.u.slot_image.sha256, MSG_SHA256_SIZE);
		answer(f, h, MSG_STATUS_OK, NULL, 0);
		return;
	case MSG_SLOT_WRITE:
		if (f->slot_state != MSG_SLOT_WRITING) {
			slot_write_answer(f, h, MSG_STATUS_BAD_STATE);
		} else if (rq.u.slot_write.offset != f->slot_written) {
			slot_write_answer(f, h, MSG_STATUS_SLOT_OFFSET);
		} else if ((uint64_t)rq.u.slot_write.offset + rq.u.slot_write.len > f->slot_image_size) {
			slot_write_answer(f, h, MSG_STATUS_BAD_PARAM);
		} else if (f->flash_failures > 0 && f->flash_fail_at >= rq.u.slot_write.offset &&
			   f->flash_fail_at - rq.u.slot_write.offset < rq.u.slot_write.len) {
			/* Half programmed: the page holds garbage up to the end of this write, and the dongle starts it
			 * again. A host that wrote on from anywhere else would fail the SHA-256 at commit. */
			uint32_t page = rq.u.slot_write.offset - rq.u.slot_write.offset % FAKE_PAGE_SIZE;

			f->flash_failures--;
			f->flash_errors++;
			memset(f->slot + page, 0xa5, rq.u.slot_write.offset + rq.u.slot_write.len - page);
			f->slot_written = page;
			if (f->flash_fail_mute)
				f->drop_responses++;
			slot_write_answer(f, h, MSG_STATUS_FLASH_ERROR);
		} else {
			memcpy(f->slot + f->slot_written, rq.u.slot_write.data, rq.u.slot_write.len);
			f->slot_written += rq.u.slot_write.len;
			f->slot_bytes_received += rq.u.slot_write.len;
			if (f->corrupt_slot) {
				f->corrupt_slot = false;
				f->slot[0] ^= 0x01;
			}
			slot_write_answer(f, h, MSG_STATUS_OK);
			if (f->o.unplug_at && !f->unplugged_once && f->slot_written >= f->o.unplug_at) {
				/* Not from inside our own read loop: a 0 ms timer unplugs, another plugs back. */
				f->unplugged_once = true;
				uv_timer_start(&f->timer, on_timer, 0, 0);
			}
		}
		return;
	case MSG_SLOT_COMMIT:
		if (f->slot_state == MSG_SLOT_COMMITTED && rq.u.slot_image.size == f->slot_image_size &&
		    memcmp(rq.u.slot_image.sha256, f->slot_sha, MSG_SHA256_SIZE) == 0) {
			answer(f, h, MSG_STATUS_OK, NULL, 0);
		} else if (f->slot_state != MSG_SLOT_WRITING) {
			answer(f, h, MSG_STATUS_BAD_STATE, NULL, 0);
		} else if (rq.u.slot_image.size != f->slot_image_size ||
			   memcmp(rq.u.slot_image.sha256, f->slot_sha, MSG_SHA256_SIZE) != 0) {
			answer(f, h, MSG_STATUS_BAD_PARAM, NULL, 0);
		} else if (f->slot_written != f->slot_image_size) {
			answer(f, h, MSG_STATUS_SLOT_OFFSET, NULL, 0);
		} else if (EVP_Digest(f->slot, f->slot_image_size, digest, &dlen, EVP_sha256(), NULL) == 1 &&
			   memcmp(digest, f->slot_sha, MSG_SHA256_SIZE) == 0) {
			f->slot_state = MSG_SLOT_COMMITTED;
			answer(f, h, MSG_STATUS_OK, NULL, 0);
		} else {
			f->slot_state = MSG_SLOT_EMPTY;
			answer(f, h, MSG_STATUS_SLOT_HASH_MISMATCH, NULL, 0);
		}
		return;
	case MSG_DIST_START:
	case MSG_DIST_GET:
	case MSG_DIST_TARGETS_GET:
	case MSG_DIST_SUSPEND:
	case MSG_DIST_RESUME:
	case MSG_DIST_CANCEL:
	case MSG_DIST_APPLY:
		if (f->o.dist)
			dist_execute(f, h, &rq);
		else
			answer(f, h, MSG_STATUS_NOT_SUPPORTED, NULL, 0);       /* a fake without the DIST feature */
		return;
	case MSG_HELLO:
		answer(f, h, MSG_STATUS_NOT_SUPPORTED, NULL, 0);
		return;
	case MSG_LOG:
	case MSG_MESH_RECV:
	case MSG_DIST_TARGET:
	case MSG_DIST_PROGRESS:
	case MSG_DIST_STATE:
		answer(f, h, MSG_STATUS_UNKNOWN_MESSAGE, NULL, 0);
		return;
	}
}

static void answer_hello(struct fake_dongle *f, uint32_t id)
{
	struct msg m = { .type = MSG_HELLO, .kind = FRAME_RESPONSE };
	uint8_t frame[FRAME_MAX_SIZE];
	size_t len;

	m.u.hello = (struct msg_hello){
		.proto_major = f->o.proto_major, .proto_minor = f->o.dist ? 1 : 0, .reset_reason = f->reset_reason,
		.request_window = f->o.window, .max_frame = f->o.max_frame, .max_targets = 256,
		.slot_size = f->o.slot_size, .features = MSG_FEATURE_MESH | MSG_FEATURE_SLOT | MSG_FEATURE_SIMULATED |
			(f->o.dist ? MSG_FEATURE_DIST : 0),
		.next_event_seq = f->event_seq, .fw_major = 0, .fw_minor = 1, .fw_patch = 0,
		.build_id = { 0x9c, 0x41, 0xd2, 0x0e, 0x7a, 0x5b, 0x13, 0xf8 },
	};
	if (f->o.proto_major == MSG_VERSION_MAJOR) {
		answer_msg(f, &m, id);
		return;
	}
	/* Another major version: the codec will not encode it, so encode ours and change the version byte. */
	m.u.hello.proto_major = MSG_VERSION_MAJOR;
	if (msg_encode_frame(&m, id, false, frame, sizeof(frame), &len) != MSG_STATUS_OK)
		return;
	frame[FRAME_HEADER_SIZE] = f->o.proto_major;
	{
		struct frame_header h = { .type = MSG_HELLO, .kind = FRAME_RESPONSE, .seq = id,
					  .payload_len = (uint16_t)(len - FRAME_OVERHEAD) };

		frame_encode(&h, frame + FRAME_HEADER_SIZE, frame, sizeof(frame));
	}
	emit_frame(f, frame, len);
}

static void answer_other_format(struct fake_dongle *f, uint32_t id)
{
	struct frame_header h = { .type = MSG_HELLO, .kind = FRAME_RESPONSE, .seq = id, .payload_len = 0 };
	uint8_t frame[FRAME_OVERHEAD];
	size_t n = frame_encode(&h, NULL, frame, sizeof(frame));
	uint32_t crc;

	/* Frame format 2: same layout, magic 0xB2, CRC recomputed over it so that the frame is intact. */
	frame[0] = 0xB2;
	crc = crc32c(0, frame, n - 4);
	frame[n - 4] = (uint8_t)crc;
	frame[n - 3] = (uint8_t)(crc >> 8);
	frame[n - 2] = (uint8_t)(crc >> 16);
	frame[n - 1] = (uint8_t)(crc >> 24);
	emit_frame(f, frame, n);
}

static void handle_request(struct fake_dongle *f, const struct frame_header *h, const uint8_t *payload)
{
	f->requests++;
	if (h->retransmit)
		f->retransmit_flags++;
	if (h->type == MSG_HELLO && h->kind == FRAME_REQUEST) {
		f->hellos++;
		memset(f->cache, 0, sizeof(f->cache));
		if (f->o.mode == FAKE_OTHER_FORMAT)
			answer_other_format(f, h->seq);
		else
			answer_hello(f, h->seq);
		return;
	}
	if (f->ignore_requests || h->kind != FRAME_REQUEST)
		return;
	if (h->seq > f->max_id_seen)
		f->max_id_seen = h->seq;
	for (size_t i = 0; i < FAKE_CACHE; i++) {
		if (f->cache[i].used && f->cache[i].id == h->seq && f->cache[i].type == h->type) {
			/* §4.3: a repeated id is answered from the cache and never executed twice. */
			f->duplicates_answered++;
			send_raw_response(f, h->type, f->cache[i].status, h->seq, f->cache[i].payload, f->cache[i].len);
			return;
		}
	}
	if (f->busy_responses > 0) {
		f->busy_responses--;
		answer(f, h, MSG_STATUS_BUSY, NULL, 0);
		return;
	}
	for (size_t i = 0; f->hold && i < f->n_held; i++)
		if (f->held[i].h.seq == h->seq && f->held[i].h.type == h->type)
			return;         /* §4.3: still being executed: ignored, its one answer comes later */
	if (f->hold && f->n_held < sizeof(f->held) / sizeof(f->held[0])) {
		f->held[f->n_held].h = *h;
		memcpy(f->held[f->n_held].payload, payload, h->payload_len);
		f->n_held++;
		return;
	}
	execute(f, h, payload);
}

void fake_dongle_release(struct fake_dongle *f)
{
	size_t n = f->n_held;

	f->hold = false;
	f->n_held = 0;
	for (size_t i = 0; i < n; i++)
		execute(f, &f->held[i].h, f->held[i].payload);
}

/* The nRF5 SDK for Mesh serial bearer (nrf5-mesh-legacy.md §1): length-prefixed packets, Cmd Rsp 0x84 to every
 * command but Echo, which gets Echo Rsp 0x82; a length of 0 is answered "invalid length". */
static void nrf5_byte(struct fake_dongle *f, uint8_t b)
{
	if (f->nrf5_need < 0) {
		if (b == 0) {
			static const uint8_t invalid_length[] = { 0x03, 0x84, 0x00, 0x84 };

			emit(f, invalid_length, sizeof(invalid_length), false);
			return;
		}
		f->nrf5_need = b;
		f->nrf5_len = 0;
		return;
	}
	f->nrf5_pkt[f->nrf5_len++] = b;
	if (--f->nrf5_need > 0)
		return;
	f->nrf5_need = -1;
	if (f->nrf5_pkt[0] == 0x02) {
		uint8_t rsp[256];

		rsp[0] = (uint8_t)f->nrf5_len;
		rsp[1] = 0x82;
		memcpy(rsp + 2, f->nrf5_pkt + 1, (size_t)f->nrf5_len - 1);
		emit(f, rsp, (size_t)f->nrf5_len + 1, false);
	} else {
		uint8_t unknown[] = { 0x03, 0x84, f->nrf5_pkt[0], 0x82 };

		emit(f, unknown, sizeof(unknown), false);
	}
}

static void on_input(struct fake_dongle *f, const uint8_t *p, size_t n)
{
	static const uint8_t started[] = { 0x04, 0x81, 0x02, 0x00, 0xfe };
	static const uint8_t wrong_baud[] = { 0xf0, 0xf8, 0x80, 0xfe, 0x78, 0xe0, 0x00, 0x1c, 0xff, 0x80, 0x06, 0x9e };

	for (size_t i = 0; i < n && f->raw_in_len < sizeof(f->raw_in); i++)
		f->raw_in[f->raw_in_len++] = p[i];
	switch (f->o.mode) {
	case FAKE_SILENT:
		return;
	case FAKE_NRF5:
	case FAKE_NRF5_STARTED:
		if (!f->nrf5_started_sent) {
			f->nrf5_started_sent = true;
			emit(f, started, sizeof(started), false);
		}
		if (f->o.mode == FAKE_NRF5)
			for (size_t i = 0; i < n; i++)
				nrf5_byte(f, p[i]);
		return;
	case FAKE_GARBAGE:
		emit(f, wrong_baud, sizeof(wrong_baud), false);
		return;
	case FAKE_MESHFLEET:
	case FAKE_OTHER_FORMAT:
		break;
	}
	while (n > 0) {
		size_t len = 0, used = cobs_stream_feed(&f->rx, p, n, &len);
		struct frame_header h;

		p += used;
		n -= used;
		if (len == 0)
			continue;
		if (frame_decode(f->rx_buf, len, &h) != FRAME_OK) {
			f->bad_frames_in++;
			continue;
		}
		if (h.kind == FRAME_REQUEST)
			handle_request(f, &h, f->rx_buf + FRAME_HEADER_SIZE);
		if (f->master < 0)
			return;
	}
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
	struct fake_dongle *f = poll->data;
	uint8_t buf[4096], faulty[8192];

	if (status < 0)
		return;
	if (events & UV_WRITABLE)
		flush(f);
	if (!(events & UV_READABLE) || f->master < 0)
		return;
	for (int round = 0; round < 8 && f->master >= 0; round++) {
		ssize_t n = read(f->master, buf, sizeof(buf));
		size_t m = 0;

		if (n <= 0)
			return;         /* EAGAIN, or EIO while no slave is open: nothing to do */
		for (ssize_t i = 0; i < n; i++) {
			uint8_t b = buf[i];

			if (chance(f, f->o.in_drop))
				continue;
			if (chance(f, f->o.in_corrupt))
				b ^= (uint8_t)(1u << (rnd(f) % 8));
			faulty[m++] = b;
			if (chance(f, f->o.in_dup))
				faulty[m++] = b;
		}
		on_input(f, faulty, m);
	}
}

static void on_handle_closed(uv_handle_t *handle)
{
	struct fake_dongle *f = handle->data;

	f->open_handles--;
}

static void on_poll_closed(uv_handle_t *handle)
{
	on_handle_closed(handle);
}

static int plug(struct fake_dongle *f)
{
	int fd, r;

	fd = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (grantpt(fd) < 0 || unlockpt(fd) < 0 || ptsname_r(fd, f->slave_path, sizeof(f->slave_path)) != 0) {
		r = -errno;
		close(fd);
		return r;
	}
	unlink(f->link_path);
	if (symlink(f->slave_path, f->link_path) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	r = uv_poll_init(f->loop, &f->poll, fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	f->poll.data = f;
	f->poll_ready = true;
	f->open_handles++;
	f->master = fd;
	f->want_write = false;
	f->out_len = 0;
	f->nrf5_started_sent = false;
	f->nrf5_need = -1;
	cobs_stream_reset(&f->rx);
	uv_poll_start(&f->poll, UV_READABLE, on_poll);
	f->plugs++;
	return 0;
}

void fake_dongle_unplug(struct fake_dongle *f)
{
	if (f->master < 0)
		return;
	unlink(f->link_path);
	uv_poll_stop(&f->poll);
	uv_close((uv_handle_t *)&f->poll, on_poll_closed);
	f->poll_ready = false;
	close(f->master);
	f->master = -1;
	f->out_len = 0;
}

int fake_dongle_replug(struct fake_dongle *f)
{
	if (f->master >= 0)
		return -EALREADY;
	return plug(f);
}

static void on_timer(uv_timer_t *timer)
{
	struct fake_dongle *f = timer->data;

	if (f->closing)
		return;
	if (f->master >= 0) {
		fake_dongle_unplug(f);
		uv_timer_start(&f->timer, on_timer, f->o.replug_after_ms, 0);
	} else {
		fake_dongle_replug(f);
	}
}

void fake_dongle_reboot(struct fake_dongle *f, uint8_t reason)
{
	f->event_seq = 0;
	f->reset_reason = reason;
	memset(f->cache, 0, sizeof(f->cache));
	memset(&f->dist, 0, sizeof(f->dist));     /* the distribution lives in RAM (docs/distribution.md) */
}

void fake_dongle_send_log(struct fake_dongle *f, uint8_t level, const char *module, const char *text,
			  uint32_t skip)
{
	struct msg m = { .type = MSG_LOG, .kind = FRAME_EVENT };

	m.u.log = (struct msg_log){ .level = (enum msg_log_level)level, .uptime_ms = 1234, .module = module,
				    .module_len = (uint8_t)strlen(module), .text = text,
				    .text_len = (uint16_t)strlen(text) };
	f->event_seq += skip;
	send_msg(f, &m, f->event_seq++);
}

int fake_dongle_init(struct fake_dongle *f, uv_loop_t *loop, const char *link_path,
		     const struct fake_dongle_options *o)
{
	memset(f, 0, sizeof(*f));
	f->loop = loop;
	f->o = *o;
	if (!f->o.proto_major)
		f->o.proto_major = MSG_VERSION_MAJOR;
	if (!f->o.window)
		f->o.window = 8;
	if (!f->o.max_frame)
		f->o.max_frame = FRAME_MAX_SIZE;
	if (!f->o.slot_size)
		f->o.slot_size = 408 * 1024;
	f->rng = 0x9e3779b97f4a7c15ull ^ o->seed;
	f->master = -1;
	f->reset_reason = MSG_RESET_POWER_ON;
	f->nrf5_need = -1;
	snprintf(f->link_path, sizeof(f->link_path), "%s", link_path);
	f->out = malloc(FAKE_OUT_CAP);
	f->slot = calloc(1, f->o.slot_size);
	if (!f->out || !f->slot)
		return -ENOMEM;
	cobs_stream_init(&f->rx, f->rx_buf, sizeof(f->rx_buf));
	uv_timer_init(loop, &f->timer);
	f->timer.data = f;
	f->open_handles++;
	return plug(f);
}

void fake_dongle_close(struct fake_dongle *f)
{
	if (f->closing)
		return;
	f->closing = true;
	fake_dongle_unplug(f);
	uv_close((uv_handle_t *)&f->timer, on_handle_closed);
	free(f->out);
	f->out = NULL;
	free(f->slot);
	f->slot = NULL;
}
