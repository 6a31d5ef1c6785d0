/* dongle: see dongle.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "dongle.h"
#include "log.h"
#include "util.h"

struct upload;

/* One SLOT_WRITE in flight: the reply needs to know which bytes, and from which epoch, it answers. */
struct upload_write {
	struct upload *up;              /* weak: the owner */
	uint32_t offset;
	uint32_t len;
	uint32_t epoch;
	bool used;
};

struct upload {
	struct dongle *d;               /* weak */
	struct dongle_upload_progress p;
	const uint8_t *image;           /* borrowed until done */
	uint32_t next;                  /* next offset to send */
	uint32_t epoch;
	uint32_t outstanding;           /* this upload's requests queued in the link */
	uint32_t writes_in_flight;
	uint32_t max_drops;
	uint32_t max_flash_errors;
	bool slot_seen;                 /* a SLOT_INFO was answered: later ones are resumes */
	dongle_upload_done_fn done;
	void *userdata;
	struct upload_write writes[DONGLE_UPLOAD_MAX_WRITES];
};

struct dongle {
	uv_loop_t *loop;                /* weak */
	struct link *link;              /* owned */
	struct dongle_callbacks cb;
	void (*closed_cb)(struct dongle *d, void *userdata);
	void *closed_userdata;
	bool stopping;

	/* RESET: its reply triggers a new handshake, so the dongle holds the caller's callback meanwhile */
	dongle_reply_fn reset_cb;
	void *reset_userdata;

	struct transport_port_info usb;         /* looked up at each handshake */
	bool have_usb;

	struct dongle_log_line *log;            /* owned ring of log_cap lines */
	size_t log_cap, log_count, log_head;    /* head: where the next line goes */
	uint64_t log_number;

	struct upload upload;
	struct dongle_dist_watcher dist_watcher;
};

static const char *const upload_state_names[] = {
	[DONGLE_UPLOAD_IDLE] = "idle",
	[DONGLE_UPLOAD_WAIT_LINK] = "wait_link",
	[DONGLE_UPLOAD_INFO] = "info",
	[DONGLE_UPLOAD_BEGIN] = "begin",
	[DONGLE_UPLOAD_WRITING] = "writing",
	[DONGLE_UPLOAD_COMMIT] = "commit",
	[DONGLE_UPLOAD_DONE] = "done",
	[DONGLE_UPLOAD_FAILED] = "failed",
};

#define UBIT(s) (1u << (s))
/* Every active state may fail or fall back to WAIT_LINK (a drop); DONE and FAILED may start again. */
#define UPLOAD_ANY_ACTIVE (UBIT(DONGLE_UPLOAD_WAIT_LINK) | UBIT(DONGLE_UPLOAD_FAILED))
static const unsigned upload_transitions[] = {
	[DONGLE_UPLOAD_IDLE] = UBIT(DONGLE_UPLOAD_WAIT_LINK) | UBIT(DONGLE_UPLOAD_INFO),
	[DONGLE_UPLOAD_WAIT_LINK] = UPLOAD_ANY_ACTIVE | UBIT(DONGLE_UPLOAD_INFO),
	[DONGLE_UPLOAD_INFO] = UPLOAD_ANY_ACTIVE | UBIT(DONGLE_UPLOAD_BEGIN) | UBIT(DONGLE_UPLOAD_WRITING) |
			       UBIT(DONGLE_UPLOAD_DONE),
	[DONGLE_UPLOAD_BEGIN] = UPLOAD_ANY_ACTIVE | UBIT(DONGLE_UPLOAD_WRITING),
	[DONGLE_UPLOAD_WRITING] = UPLOAD_ANY_ACTIVE | UBIT(DONGLE_UPLOAD_COMMIT),
	[DONGLE_UPLOAD_COMMIT] = UPLOAD_ANY_ACTIVE | UBIT(DONGLE_UPLOAD_DONE),
	[DONGLE_UPLOAD_DONE] = UBIT(DONGLE_UPLOAD_WAIT_LINK) | UBIT(DONGLE_UPLOAD_INFO),
	[DONGLE_UPLOAD_FAILED] = UBIT(DONGLE_UPLOAD_WAIT_LINK) | UBIT(DONGLE_UPLOAD_INFO),
};

const char *dongle_upload_state_to_string(enum dongle_upload_state state)
{
	switch (state) {
	case DONGLE_UPLOAD_IDLE:
	case DONGLE_UPLOAD_WAIT_LINK:
	case DONGLE_UPLOAD_INFO:
	case DONGLE_UPLOAD_BEGIN:
	case DONGLE_UPLOAD_WRITING:
	case DONGLE_UPLOAD_COMMIT:
	case DONGLE_UPLOAD_DONE:
	case DONGLE_UPLOAD_FAILED:
		return upload_state_names[state];
	}
	return "unknown";
}

static bool upload_active(const struct upload *up)
{
	switch (up->p.state) {
	case DONGLE_UPLOAD_WAIT_LINK:
	case DONGLE_UPLOAD_INFO:
	case DONGLE_UPLOAD_BEGIN:
	case DONGLE_UPLOAD_WRITING:
	case DONGLE_UPLOAD_COMMIT:
		return true;
	case DONGLE_UPLOAD_IDLE:
	case DONGLE_UPLOAD_DONE:
	case DONGLE_UPLOAD_FAILED:
		return false;
	}
	return false;
}

static void upload_set_state(struct upload *up, enum dongle_upload_state next)
{
	enum dongle_upload_state old = up->p.state;

	if (old == next)
		return;
	if (!(upload_transitions[old] & UBIT(next))) {
		log_err("dongle upload: refused state change %s -> %s: this is a bug",
			dongle_upload_state_to_string(old), dongle_upload_state_to_string(next));
		return;
	}
	up->p.state = next;
	log_debug("dongle upload: %s -> %s (%u of %u bytes acknowledged)", dongle_upload_state_to_string(old),
		  dongle_upload_state_to_string(next), up->p.acked, up->p.size);
}

/* --- typed requests --- */

static int request(struct dongle *d, const struct msg *m, dongle_reply_fn cb, void *userdata)
{
	if (d->stopping)
		return -ECANCELED;
	return link_request(d->link, m, cb, userdata);
}

int dongle_echo(struct dongle *d, const uint8_t *data, size_t len, dongle_reply_fn cb, void *userdata)
{
	struct msg m = { .type = MSG_ECHO, .kind = FRAME_REQUEST };

	if (len > FRAME_MAX_PAYLOAD)
		return -EMSGSIZE;
	m.u.echo = (struct msg_data){ .data = data, .len = (uint16_t)len };
	return request(d, &m, cb, userdata);
}

static void on_reset_reply(void *userdata, const struct link_reply *reply)
{
	struct dongle *d = userdata;
	dongle_reply_fn cb = d->reset_cb;
	void *cb_userdata = d->reset_userdata;

	d->reset_cb = NULL;
	/* The dongle answers, drains its output and restarts (§7.3): what we knew about it is void. On a timeout the
	 * link says HELLO by itself. */
	if (reply->error == 0 && reply->status == MSG_STATUS_OK)
		link_rehandshake(d->link);
	cb(cb_userdata, reply);
}

int dongle_reset(struct dongle *d, enum msg_reset_mode mode, dongle_reply_fn cb, void *userdata)
{
	struct msg m = { .type = MSG_RESET, .kind = FRAME_REQUEST, .u.reset.mode = mode };
	int r;

	if (d->reset_cb)
		return -EBUSY;
	r = request(d, &m, on_reset_reply, d);
	if (r < 0)
		return r;
	d->reset_cb = cb;
	d->reset_userdata = userdata;
	return 0;
}

int dongle_stats(struct dongle *d, dongle_reply_fn cb, void *userdata)
{
	struct msg m = { .type = MSG_STATS, .kind = FRAME_REQUEST };

	return request(d, &m, cb, userdata);
}

int dongle_mesh_config(struct dongle *d, const struct msg_mesh_config *config, dongle_reply_fn cb, void *userdata)
{
	struct msg m = { .type = MSG_MESH_CONFIG, .kind = FRAME_REQUEST, .u.mesh_config = *config };

	return request(d, &m, cb, userdata);
}

int dongle_mesh_send(struct dongle *d, const struct msg_mesh_send *send, dongle_reply_fn cb, void *userdata)
{
	struct msg m = { .type = MSG_MESH_SEND, .kind = FRAME_REQUEST, .u.mesh_send = *send };

	return request(d, &m, cb, userdata);
}

int dongle_slot_info(struct dongle *d, dongle_reply_fn cb, void *userdata)
{
	struct msg m = { .type = MSG_SLOT_INFO, .kind = FRAME_REQUEST };

	return request(d, &m, cb, userdata);
}

static int slot_image(struct dongle *d, enum msg_type type, uint32_t size, const uint8_t sha256[MSG_SHA256_SIZE],
		      dongle_reply_fn cb, void *userdata)
{
	struct msg m = { .type = type, .kind = FRAME_REQUEST, .u.slot_image.size = size };

	memcpy(m.u.slot_image.sha256, sha256, MSG_SHA256_SIZE);
	return request(d, &m, cb, userdata);
}

int dongle_slot_begin(struct dongle *d, uint32_t size, const uint8_t sha256[MSG_SHA256_SIZE], dongle_reply_fn cb,
		      void *userdata)
{
	return slot_image(d, MSG_SLOT_BEGIN, size, sha256, cb, userdata);
}

int dongle_slot_commit(struct dongle *d, uint32_t size, const uint8_t sha256[MSG_SHA256_SIZE], dongle_reply_fn cb,
		       void *userdata)
{
	return slot_image(d, MSG_SLOT_COMMIT, size, sha256, cb, userdata);
}

int dongle_slot_write(struct dongle *d, uint32_t offset, const uint8_t *data, size_t len, dongle_reply_fn cb,
		      void *userdata)
{
	struct msg m = { .type = MSG_SLOT_WRITE, .kind = FRAME_REQUEST };

	if (len == 0 || len > MSG_SLOT_WRITE_MAX)
		return -EINVAL;
	m.u.slot_write = (struct msg_slot_write){ .offset = offset, .data = data, .len = (uint16_t)len };
	return request(d, &m, cb, userdata);
}

int dongle_reply_errno(const struct link_reply *reply)
{
	if (reply->error)
		return reply->error;
	switch ((enum msg_status)reply->status) {
	case MSG_STATUS_OK:
		return 0;
	case MSG_STATUS_UNKNOWN_MESSAGE:
	case MSG_STATUS_NOT_SUPPORTED:
		return -EOPNOTSUPP;
	case MSG_STATUS_BAD_LENGTH:
		return -EPROTO;
	case MSG_STATUS_BAD_PARAM:
		return -EINVAL;
	case MSG_STATUS_BUSY:
		return -EBUSY;
	case MSG_STATUS_NO_MEMORY:
		return -ENOMEM;
	case MSG_STATUS_BAD_STATE:
		return -EBADFD;
	case MSG_STATUS_NOT_CONFIGURED:
		return -ENOTCONN;
	case MSG_STATUS_SLOT_OFFSET:
		return -ESPIPE;
	case MSG_STATUS_SLOT_TOO_BIG:
		return -EFBIG;
	case MSG_STATUS_SLOT_HASH_MISMATCH:
		return -EBADMSG;
	case MSG_STATUS_FLASH_ERROR:
		return -EIO;
	case MSG_STATUS_SEQ_EXHAUSTED:
		return -EOVERFLOW;
	case MSG_STATUS_INTERNAL:
		return -EREMOTEIO;
	case MSG_STATUS_DIST_SLOT_MISMATCH:     /* the slot does not hold the image DIST_START names */
		return -EBADMSG;
	case MSG_STATUS_DIST_UNKNOWN_ID:
		return -ENOENT;
	}
	return -EREMOTEIO;
}

const char *dongle_reply_describe(const struct link_reply *reply, char *buf, size_t size)
{
	switch (-reply->error) {
	case 0:
		break;
	case ETIMEDOUT:
		return "no answer after every retransmission";
	case ECONNRESET:
		return "the link went down before the answer";
	case ECANCELED:
		return "cancelled";
	case EPROTO:
		return "a malformed answer";
	default:
		snprintf(buf, size, "%s", strerror(-reply->error));
		return buf;
	}
	if (reply->status == MSG_STATUS_OK)
		return "OK";
	if (strcmp(msg_status_to_string(reply->status), "unknown") == 0)
		snprintf(buf, size, "dongle: status 0x%02x", reply->status);
	else
		snprintf(buf, size, "dongle: %s", msg_status_to_string(reply->status));
	return buf;
}

/* --- the distribution --- */

bool dongle_dist_supported(const struct dongle *d)
{
	const struct msg_hello *h = link_hello(d->link);

	return h && (h->features & MSG_FEATURE_DIST) && (h->proto_major > 1 || h->proto_minor >= 1);
}

void dongle_dist_watch(struct dongle *d, const struct dongle_dist_watcher *w)
{
	if (w)
		d->dist_watcher = *w;
	else
		memset(&d->dist_watcher, 0, sizeof(d->dist_watcher));
}

/* One DIST_START in batches: the fields every batch repeats, copied, and the targets still to send. */
struct dist_start_op {
	struct dongle *d;               /* weak */
	struct msg_dist_start s;        /* fwid, metadata and entries point into this object */
	uint8_t fwid[MSG_DIST_FWID_MAX];
	uint8_t metadata[MSG_DIST_METADATA_MAX];
	uint8_t *entries;               /* owned: total entries as on the wire */
	uint16_t per_batch;
	dongle_dist_done_fn cb;
	void *userdata;
};

static int dist_start_send(struct dist_start_op *op);

static void dist_start_finish(struct dist_start_op *op, int error, const char *message)
{
	dongle_dist_done_fn cb = op->cb;
	void *userdata = op->userdata;

	free(op->entries);
	free(op);
	cb(userdata, error, message);
}

static void on_dist_start_reply(void *userdata, const struct link_reply *reply)
{
	struct dist_start_op *op = userdata;
	char buf[64], message[160];
	int r = dongle_reply_errno(reply);

	if (r < 0) {
		snprintf(message, sizeof(message), "DIST_START of distribution %u, targets %u..%u of %u: %s", op->s.id,
			 op->s.first, op->s.first + op->s.count - 1u, op->s.total,
			 dongle_reply_describe(reply, buf, sizeof(buf)));
		dist_start_finish(op, r, message);
		return;
	}
	op->s.first = (uint16_t)(op->s.first + op->s.count);
	if (op->s.first >= op->s.total) {
		snprintf(message, sizeof(message), "distribution %u started with %u targets", op->s.id, op->s.total);
		dist_start_finish(op, 0, message);
		return;
	}
	r = dist_start_send(op);
	if (r < 0) {
		snprintf(message, sizeof(message), "DIST_START of distribution %u stopped at target %u of %u: %s",
			 op->s.id, op->s.first, op->s.total, strerror(-r));
		dist_start_finish(op, r, message);
	}
}

static int dist_start_send(struct dist_start_op *op)
{
	struct msg m = { .type = MSG_DIST_START, .kind = FRAME_REQUEST };
	uint16_t left = (uint16_t)(op->s.total - op->s.first);

	op->s.count = left < op->per_batch ? left : op->per_batch;
	op->s.entries = op->entries + (size_t)op->s.first * MSG_DIST_ENTRY_SIZE;
	m.u.dist_start = op->s;
	return request(op->d, &m, on_dist_start_reply, op);
}

int dongle_dist_start(struct dongle *d, const struct msg_dist_start *start, const struct msg_dist_entry *targets,
		      size_t n, dongle_dist_done_fn cb, void *userdata)
{
	const struct msg_hello *h = link_hello(d->link);
	struct dist_start_op *op;
	size_t max_payload, fixed;
	int r;

	if (n == 0 || n > DONGLE_DIST_TARGETS_MAX || start->id == 0 || start->fwid_len == 0 ||
	    start->fwid_len > MSG_DIST_FWID_MAX || (start->metadata_len && !start->metadata) || !start->fwid)
		return -EINVAL;
	if (!h || link_state(d->link) != LINK_UP)
		return -ENOTCONN;
	if (!dongle_dist_supported(d))
		return -EOPNOTSUPP;
	if (h->max_targets && n > h->max_targets)
		return -EINVAL;
	max_payload = h->max_frame > FRAME_OVERHEAD ? h->max_frame - FRAME_OVERHEAD : 0;
	if (max_payload > FRAME_MAX_PAYLOAD)
		max_payload = FRAME_MAX_PAYLOAD;
	fixed = msg_dist_start_size(start->fwid_len, start->metadata_len, 0);
	if (fixed + MSG_DIST_ENTRY_SIZE > max_payload)
		return -EINVAL;         /* not even one target fits beside this FWID and metadata */
	op = calloc(1, sizeof(*op));
	if (!op)
		return -ENOMEM;
	op->entries = malloc(n * MSG_DIST_ENTRY_SIZE);
	if (!op->entries) {
		free(op);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		op->entries[i * 3] = (uint8_t)targets[i].address;
		op->entries[i * 3 + 1] = (uint8_t)(targets[i].address >> 8);
		op->entries[i * 3 + 2] = targets[i].image_index;
	}
	op->d = d;
	op->s = *start;
	memcpy(op->fwid, start->fwid, start->fwid_len);
	op->s.fwid = op->fwid;
	if (start->metadata_len)
		memcpy(op->metadata, start->metadata, start->metadata_len);
	op->s.metadata = op->metadata;
	op->s.total = (uint16_t)n;
	op->s.first = 0;
	op->per_batch = (uint16_t)((max_payload - fixed) / MSG_DIST_ENTRY_SIZE);
	op->cb = cb;
	op->userdata = userdata;
	r = dist_start_send(op);
	if (r < 0) {
		free(op->entries);
		free(op);
	}
	return r;
}

int dongle_dist_get(struct dongle *d, dongle_reply_fn cb, void *userdata)
{
	struct msg m = { .type = MSG_DIST_GET, .kind = FRAME_REQUEST };

	return request(d, &m, cb, userdata);
}

/* DIST_TARGETS_GET page after page into one array. */
struct dist_targets_op {
	struct dongle *d;               /* weak */
	uint32_t id;
	bool have_id;
	struct msg_dist_target_info *targets;   /* owned */
	size_t n, cap;
	dongle_dist_targets_fn cb;
	void *userdata;
};

static int dist_targets_send(struct dist_targets_op *op);

static void dist_targets_finish(struct dist_targets_op *op, int error)
{
	op->cb(op->userdata, error, op->id, op->targets, error ? 0 : op->n);
	free(op->targets);
	free(op);
}

static void on_dist_targets_reply(void *userdata, const struct link_reply *reply)
{
	struct dist_targets_op *op = userdata;
	const struct msg_dist_targets *t;
	int r = dongle_reply_errno(reply);

	if (r < 0) {
		dist_targets_finish(op, r);
		return;
	}
	t = &reply->msg->u.dist_targets;
	if (op->have_id && t->id != op->id) {
		dist_targets_finish(op, -ESTALE);
		return;
	}
	if (!op->have_id) {
		op->id = t->id;
		op->have_id = true;
		op->cap = t->total;
		op->targets = calloc(op->cap ? op->cap : 1, sizeof(*op->targets));
		if (!op->targets) {
			dist_targets_finish(op, -ENOMEM);
			return;
		}
	}
	if (t->total != op->cap || (t->count && t->first != op->n) || op->n + t->count > op->cap) {
		dist_targets_finish(op, -EPROTO);      /* pages that do not join up */
		return;
	}
	for (uint16_t i = 0; i < t->count; i++)
		op->targets[op->n++] = msg_dist_target_at(t, i);
	/* count 0 before the end: CONFIGURING, the page ends at the first target not received yet */
	if (t->count == 0 || op->n >= op->cap) {
		dist_targets_finish(op, 0);
		return;
	}
	r = dist_targets_send(op);
	if (r < 0)
		dist_targets_finish(op, r);
}

static int dist_targets_send(struct dist_targets_op *op)
{
	struct msg m = { .type = MSG_DIST_TARGETS_GET, .kind = FRAME_REQUEST };

	m.u.dist_page = (struct msg_dist_page){ .first = (uint16_t)op->n, .max = 0 };
	return request(op->d, &m, on_dist_targets_reply, op);
}

int dongle_dist_targets_get(struct dongle *d, dongle_dist_targets_fn cb, void *userdata)
{
	struct dist_targets_op *op = calloc(1, sizeof(*op));
	int r;

	if (!op)
		return -ENOMEM;
	op->d = d;
	op->cb = cb;
	op->userdata = userdata;
	r = dist_targets_send(op);
	if (r < 0)
		free(op);
	return r;
}

static int dist_by_id(struct dongle *d, enum msg_type type, uint32_t id, dongle_reply_fn cb, void *userdata)
{
	struct msg m = { .type = type, .kind = FRAME_REQUEST, .u.dist_id = id };

	if (id == 0)
		return -EINVAL;
	return request(d, &m, cb, userdata);
}

int dongle_dist_suspend(struct dongle *d, uint32_t id, dongle_reply_fn cb, void *userdata)
{
	return dist_by_id(d, MSG_DIST_SUSPEND, id, cb, userdata);
}

int dongle_dist_resume(struct dongle *d, uint32_t id, dongle_reply_fn cb, void *userdata)
{
	return dist_by_id(d, MSG_DIST_RESUME, id, cb, userdata);
}

int dongle_dist_cancel(struct dongle *d, uint32_t id, dongle_reply_fn cb, void *userdata)
{
	return dist_by_id(d, MSG_DIST_CANCEL, id, cb, userdata);
}

int dongle_dist_apply(struct dongle *d, uint32_t id, dongle_reply_fn cb, void *userdata)
{
	return dist_by_id(d, MSG_DIST_APPLY, id, cb, userdata);
}

/* --- upload --- */

static void upload_kick(struct upload *up);

__attribute__((format(printf, 3, 4)))
static void upload_finish(struct upload *up, int error, const char *fmt, ...)
{
	dongle_upload_done_fn done = up->done;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(up->p.message, sizeof(up->p.message), fmt, ap);
	va_end(ap);
	up->p.error = error;
	up->p.finished_ms = uv_now(up->d->loop);
	upload_set_state(up, error ? DONGLE_UPLOAD_FAILED : DONGLE_UPLOAD_DONE);
	if (error)
		log_warning("dongle upload of %u bytes failed: %s", up->p.size, up->p.message);
	else
		log_info("dongle upload: %s", up->p.message);
	up->done = NULL;
	if (done)
		done(up->userdata, error, up->p.message);
}

/* The link dropped (or the dongle's answer needs the slot read again): wait for the link, then SLOT_INFO. */
static void upload_drop(struct upload *up, const char *why)
{
	if (!upload_active(up))
		return;
	if (up->p.state != DONGLE_UPLOAD_WAIT_LINK) {
		up->p.drops++;
		log_info("dongle upload: paused at %u of %u bytes: %s", up->p.acked, up->p.size, why);
		upload_set_state(up, DONGLE_UPLOAD_WAIT_LINK);
	}
	if (up->p.drops > up->max_drops)
		upload_finish(up, -ECONNRESET, "the link dropped %u times (last: %s); %u of %u bytes are in the slot. "
			      "Check the dongle's connection, then upload again: it resumes from there.",
			      up->p.drops, why, up->p.acked, up->p.size);
}

/* The common start of every upload reply: a reply for a phase the upload has left, or one that brought an error
 * instead of an answer, moves the upload on (pausing it for the link in the latter case). Returns true when it
 * handled the reply. */
static bool upload_reply_done(struct upload *up, const struct link_reply *reply, enum dongle_upload_state phase)
{
	char buf[64];

	if (up->p.state != phase) {
		upload_kick(up);
		return true;
	}
	if (reply->error) {
		upload_drop(up, dongle_reply_describe(reply, buf, sizeof(buf)));
		upload_kick(up);
		return true;
	}
	return false;
}

static void on_upload_commit(void *userdata, const struct link_reply *reply)
{
	struct upload *up = userdata;
	char buf[64];

	up->outstanding--;
	if (upload_reply_done(up, reply, DONGLE_UPLOAD_COMMIT))
		return;
	if (reply->status == MSG_STATUS_OK) {
		upload_finish(up, 0, "%u bytes in the dongle's slot, SHA-256 checked by the dongle, %u resume(s)",
			      up->p.size, up->p.resumes);
		return;
	} else if (reply->status == MSG_STATUS_SLOT_HASH_MISMATCH) {
		upload_finish(up, -EBADMSG, "the dongle computed another SHA-256 over the %u bytes of its slot and "
			      "emptied it: the image changed during the upload, or the dongle's flash is failing. Upload "
			      "again; if it fails again, replace the dongle.", up->p.size);
		return;
	} else if (reply->status == MSG_STATUS_SLOT_OFFSET || reply->status == MSG_STATUS_BAD_STATE) {
		upload_drop(up, "the dongle's slot is not complete at commit");
	} else {
		upload_finish(up, dongle_reply_errno(reply), "SLOT_COMMIT refused (%s)",
			      dongle_reply_describe(reply, buf, sizeof(buf)));
		return;
	}
	upload_kick(up);
}

/* A SLOT_WRITE was refused (SLOT_OFFSET) or failed (FLASH_ERROR), and its answer says where the dongle is: go on
 * from there. The dongle answers in the order it executed the writes, so an answer to a write sent once is the
 * newest word on its bytes_written, which may lie behind acked: after a flash error the dongle starts the page again
 * (docs/protocol.md §7.11). An answer after a retransmission may be a replay from the duplicate cache, older than
 * acked, and only moves it forward. Go-back-N: after a lost write the ones behind it are refused too, so only the
 * first answer of this epoch rewinds; the others were sent before the rewind. */
static void upload_rewind(struct upload *up, const struct upload_write *w, const struct link_reply *reply,
			  uint32_t written)
{
	if (written > up->p.size)
		return;
	if (written > up->p.acked || reply->transmissions == 1)
		up->p.acked = written;
	if (w->epoch == up->epoch) {
		up->next = up->p.acked;
		up->epoch++;
		up->p.rewinds++;
	}
}

static void on_upload_write(void *userdata, const struct link_reply *reply)
{
	struct upload_write *w = userdata;
	struct upload *up = w->up;
	uint32_t written;
	char buf[64];

	w->used = false;
	up->writes_in_flight--;
	up->outstanding--;
	if (upload_reply_done(up, reply, DONGLE_UPLOAD_WRITING))
		return;
	written = reply->msg->u.bytes_written;  /* present whatever the status (§7.11) */
	switch (reply->status) {
	case MSG_STATUS_OK:
		if (written > up->p.acked && written <= up->p.size)
			up->p.acked = written;
		break;
	case MSG_STATUS_SLOT_OFFSET:
		upload_rewind(up, w, reply, written);
		break;
	case MSG_STATUS_FLASH_ERROR:
		/* §6: retry, then replace the dongle. The dongle erases the page again before the next write. */
		if (++up->p.flash_errors > up->max_flash_errors) {
			upload_finish(up, -EIO, "the dongle's flash failed %u times (last: SLOT_WRITE of %u bytes at "
				      "offset %u); %u of %u bytes are in the slot. Replace the dongle.",
				      up->p.flash_errors, w->len, w->offset, written, up->p.size);
			return;
		}
		log_warning("dongle upload: the dongle's flash failed writing %u bytes at offset %u; it starts "
			    "again at %u", w->len, w->offset, written);
		upload_rewind(up, w, reply, written);
		break;
	case MSG_STATUS_BAD_STATE:
		upload_drop(up, "the dongle's slot is no longer being written");
		break;
	default:
		upload_finish(up, dongle_reply_errno(reply), "SLOT_WRITE of %u bytes at offset %u refused (%s)", w->len,
			      w->offset, dongle_reply_describe(reply, buf, sizeof(buf)));
		return;
	}
	upload_kick(up);
}

static void on_upload_begin(void *userdata, const struct link_reply *reply)
{
	struct upload *up = userdata;
	char buf[64];

	up->outstanding--;
	if (upload_reply_done(up, reply, DONGLE_UPLOAD_BEGIN))
		return;
	if (reply->status == MSG_STATUS_OK) {
		up->p.acked = up->next = 0;
		up->epoch++;
		upload_set_state(up, DONGLE_UPLOAD_WRITING);
	} else {
		upload_finish(up, dongle_reply_errno(reply), "SLOT_BEGIN for %u bytes refused (%s)", up->p.size,
			      dongle_reply_describe(reply, buf, sizeof(buf)));
		return;
	}
	upload_kick(up);
}

static void on_upload_info(void *userdata, const struct link_reply *reply)
{
	struct upload *up = userdata;
	const struct msg_slot_info *si;
	bool same;
	char buf[64];

	up->outstanding--;
	if (upload_reply_done(up, reply, DONGLE_UPLOAD_INFO))
		return;
	if (reply->status != MSG_STATUS_OK) {
		upload_finish(up, dongle_reply_errno(reply), "SLOT_INFO refused (%s)",
			      dongle_reply_describe(reply, buf, sizeof(buf)));
		return;
	}
	si = &reply->msg->u.slot_info;
	if (si->slot_size < up->p.size) {
		upload_finish(up, -EFBIG, "the image of %u bytes does not fit the dongle's slot of %u bytes",
			      up->p.size, si->slot_size);
		return;
	}
	same = si->image_size == up->p.size && memcmp(si->sha256, up->p.sha256, MSG_SHA256_SIZE) == 0;
	if (same && si->state == MSG_SLOT_COMMITTED) {
		up->p.acked = up->p.size;
		upload_finish(up, 0, "the dongle's slot already holds these %u bytes (SHA-256 checked)", up->p.size);
		return;
	}
	if (same && si->state == MSG_SLOT_WRITING && si->bytes_written <= up->p.size) {
		/* §7.9: the slot holds the first bytes_written bytes of this very image: go on from there. */
		if (up->slot_seen)
			up->p.resumes++;
		up->slot_seen = true;
		up->p.acked = up->next = si->bytes_written;
		up->epoch++;
		log_info("dongle upload: resuming at %u of %u bytes", up->p.acked, up->p.size);
		upload_set_state(up, DONGLE_UPLOAD_WRITING);
		upload_kick(up);
		return;
	}
	up->slot_seen = true;
	upload_set_state(up, DONGLE_UPLOAD_BEGIN);
	{
		int r = dongle_slot_begin(up->d, up->p.size, up->p.sha256, on_upload_begin, up);

		if (r < 0) {
			upload_drop(up, strerror(-r));
			return;
		}
		up->outstanding++;
	}
}

static struct upload_write *free_write(struct upload *up)
{
	for (size_t i = 0; i < ARRAY_SIZE(up->writes); i++)
		if (!up->writes[i].used)
			return &up->writes[i];
	return NULL;
}

/* Keeps the window full of SLOT_WRITEs; when every byte is acknowledged and nothing is in flight, commits. */
static void upload_pump_writes(struct upload *up)
{
	struct link *l = up->d->link;
	uint32_t window = link_window(l), chunk = link_slot_chunk(l);
	int r;

	if (up->p.acked >= up->p.size && up->outstanding == 0) {
		upload_set_state(up, DONGLE_UPLOAD_COMMIT);
		r = dongle_slot_commit(up->d, up->p.size, up->p.sha256, on_upload_commit, up);
		if (r < 0) {
			upload_drop(up, strerror(-r));
			return;
		}
		up->outstanding++;
		return;
	}
	while (up->next < up->p.size && up->writes_in_flight < window) {
		struct upload_write *w = free_write(up);
		uint32_t len = up->p.size - up->next < chunk ? up->p.size - up->next : chunk;

		if (!w)
			return;
		r = dongle_slot_write(up->d, up->next, up->image + up->next, len, on_upload_write, w);
		if (r == -ENOBUFS)
			return;         /* other requests hold the link's slots; the next reply brings us back */
		if (r < 0) {
			upload_drop(up, strerror(-r));
			return;
		}
		*w = (struct upload_write){ .up = up, .offset = up->next, .len = len, .epoch = up->epoch, .used = true };
		up->writes_in_flight++;
		up->outstanding++;
		up->p.writes++;
		up->p.bytes_sent += len;
		up->next += len;
	}
}

/* Decides the upload's next step from its state, its outstanding replies and the link. */
static void upload_kick(struct upload *up)
{
	int r;

	switch (up->p.state) {
	case DONGLE_UPLOAD_WAIT_LINK:
		if (up->outstanding > 0)
			return;
		if (link_state(up->d->link) == LINK_FAILED) {
			upload_finish(up, -ENOTCONN, "the link to the dongle gave up (%s); %u of %u bytes are in the slot",
				      link_diagnosis(up->d->link)->message, up->p.acked, up->p.size);
			return;
		}
		if (link_state(up->d->link) != LINK_UP)
			return;
		upload_set_state(up, DONGLE_UPLOAD_INFO);
		r = dongle_slot_info(up->d, on_upload_info, up);
		if (r < 0) {
			upload_drop(up, strerror(-r));
			return;
		}
		up->outstanding++;
		return;
	case DONGLE_UPLOAD_WRITING:
		upload_pump_writes(up);
		return;
	case DONGLE_UPLOAD_IDLE:
	case DONGLE_UPLOAD_INFO:
	case DONGLE_UPLOAD_BEGIN:
	case DONGLE_UPLOAD_COMMIT:
	case DONGLE_UPLOAD_DONE:
	case DONGLE_UPLOAD_FAILED:
		return;
	}
}

int dongle_upload_start(struct dongle *d, const uint8_t *image, size_t size, dongle_upload_done_fn done,
			void *userdata)
{
	struct upload *up = &d->upload;
	uint8_t sha256[MSG_SHA256_SIZE];
	unsigned int md_len = 0;

	if (d->stopping)
		return -ECANCELED;
	if (upload_active(up) || up->outstanding > 0)
		return -EBUSY;
	if (size == 0)
		return -EINVAL;
	if (size > UINT32_MAX)
		return -EFBIG;
	if (EVP_Digest(image, size, sha256, &md_len, EVP_sha256(), NULL) != 1 || md_len != sizeof(sha256))
		return -EIO;
	memset(&up->p, 0, sizeof(up->p));
	up->p.state = DONGLE_UPLOAD_IDLE;
	up->p.size = (uint32_t)size;
	memcpy(up->p.sha256, sha256, sizeof(sha256));
	up->p.started_ms = uv_now(d->loop);
	up->image = image;
	up->next = 0;
	up->epoch = 0;
	up->writes_in_flight = 0;
	up->slot_seen = false;
	up->done = done;
	up->userdata = userdata;
	upload_set_state(up, DONGLE_UPLOAD_WAIT_LINK);
	upload_kick(up);
	return 0;
}

int dongle_upload_cancel(struct dongle *d)
{
	struct upload *up = &d->upload;

	if (!upload_active(up))
		return -ENOENT;
	upload_finish(up, -ECANCELED, "cancelled at %u of %u bytes", up->p.acked, up->p.size);
	return 0;
}

const struct dongle_upload_progress *dongle_upload_progress(const struct dongle *d)
{
	return &d->upload.p;
}

/* --- events and the link's state --- */

static int log_priority(uint8_t level)
{
	switch ((enum msg_log_level)level) {
	case MSG_LOG_ERROR:
		return LOG_ERR;
	case MSG_LOG_WARNING:
		return LOG_WARNING;
	case MSG_LOG_INFO:
		return LOG_INFO;
	case MSG_LOG_DEBUG:
		return LOG_DEBUG;
	}
	return LOG_INFO;
}

/* Copies @len bytes of outside text, NUL-terminated, with control characters replaced so a line stays one line
 * in the journal. */
static void copy_text(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size)
		len = size - 1;
	for (size_t i = 0; i < len; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? '?' : src[i];
	dst[len] = '\0';
}

static void on_log_event(struct dongle *d, const struct msg_log *m)
{
	struct dongle_log_line *line = &d->log[d->log_head];

	line->number = ++d->log_number;
	line->received_ms = time_now_ms();
	line->uptime_ms = m->uptime_ms;
	line->level = (uint8_t)m->level;
	copy_text(line->module, sizeof(line->module), m->module, m->module_len);
	copy_text(line->text, sizeof(line->text), m->text, m->text_len);
	d->log_head = (d->log_head + 1) % d->log_cap;
	if (d->log_count < d->log_cap)
		d->log_count++;
	log_msg(log_priority(line->level), "dongle %s: %s", line->module, line->text);
}

static void on_link_event(void *userdata, uint32_t seq, const struct msg *m)
{
	struct dongle *d = userdata;

	(void)seq;
	switch (m->type) {
	case MSG_LOG:
		on_log_event(d, &m->u.log);
		return;
	case MSG_MESH_RECV:
		if (d->cb.mesh_recv)
			d->cb.mesh_recv(d->cb.userdata, &m->u.mesh_recv);
		return;
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
		return;         /* not events; the codec never yields them as such */
	case MSG_DIST_TARGET:
		if (d->dist_watcher.target)
			d->dist_watcher.target(d->dist_watcher.userdata, &m->u.dist_target);
		return;
	case MSG_DIST_PROGRESS:
		if (d->dist_watcher.progress)
			d->dist_watcher.progress(d->dist_watcher.userdata, &m->u.dist_progress);
		return;
	case MSG_DIST_STATE:
		if (d->dist_watcher.state)
			d->dist_watcher.state(d->dist_watcher.userdata, &m->u.dist_state);
		return;
	}
}

static void on_link_gap(void *userdata, uint32_t expected, uint32_t got)
{
	struct dongle *d = userdata;

	log_debug("dongle: events %u..%u missing", expected, got - 1);
	if (d->cb.gap)
		d->cb.gap(d->cb.userdata, expected, got);
	if (d->dist_watcher.gap)
		d->dist_watcher.gap(d->dist_watcher.userdata);
}

static void on_link_state(void *userdata, enum link_state state, const struct link_diagnosis *diag)
{
	struct dongle *d = userdata;

	if (state == LINK_UP)
		d->have_usb = transport_port_info(link_path(d->link), &d->usb) == 0;
	if (d->cb.state)
		d->cb.state(d->cb.userdata, state, diag);
	if (d->dist_watcher.link)
		d->dist_watcher.link(d->dist_watcher.userdata, state);
	if (!d->stopping && upload_active(&d->upload)) {
		if (state != LINK_UP && d->upload.p.state != DONGLE_UPLOAD_WAIT_LINK)
			upload_drop(&d->upload, diag ? diag->message : "the link went down");
		upload_kick(&d->upload);
	}
}

/* --- life cycle --- */

int dongle_new(uv_loop_t *loop, const struct dongle_options *o, const struct dongle_callbacks *cb,
	       struct dongle **ret)
{
	struct link_callbacks lcb = {
		.state = on_link_state,
		.event = on_link_event,
		.gap = on_link_gap,
	};
	struct dongle *d;
	int r;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->loop = loop;
	if (cb)
		d->cb = *cb;
	d->log_cap = o->log_lines ? o->log_lines : DONGLE_LOG_LINES;
	r = -EINVAL;
	if (d->log_cap > DONGLE_LOG_LINES_MAX)
		goto fail;
	r = -ENOMEM;
	d->log = calloc(d->log_cap, sizeof(*d->log));
	if (!d->log)
		goto fail;
	d->upload.d = d;
	d->upload.max_drops = o->upload_max_drops ? o->upload_max_drops : DONGLE_UPLOAD_MAX_DROPS;
	d->upload.max_flash_errors = o->upload_max_flash_errors ? o->upload_max_flash_errors :
				     DONGLE_UPLOAD_MAX_FLASH_ERRORS;
	lcb.userdata = d;
	r = link_new(loop, &o->link, &lcb, &d->link);
	if (r < 0)
		goto fail;
	*ret = d;
	return 0;
fail:
	free(d->log);
	free(d);
	return r;
}

int dongle_start(struct dongle *d)
{
	return link_start(d->link);
}

static void on_link_closed(struct link *l, void *userdata)
{
	struct dongle *d = userdata;

	(void)l;
	if (d->closed_cb)
		d->closed_cb(d, d->closed_userdata);
}

void dongle_stop(struct dongle *d, void (*closed_cb)(struct dongle *d, void *userdata), void *userdata)
{
	if (d->stopping)
		return;
	d->closed_cb = closed_cb;
	d->closed_userdata = userdata;
	if (upload_active(&d->upload))
		upload_finish(&d->upload, -ECANCELED, "meshfleetd is stopping; %u of %u bytes are in the slot and the "
			      "next upload resumes from there", d->upload.p.acked, d->upload.p.size);
	d->stopping = true;
	link_stop(d->link, on_link_closed, d);
}

struct dongle *dongle_free(struct dongle *d)
{
	if (!d)
		return NULL;
	link_free(d->link);
	free(d->log);
	free(d);
	return NULL;
}

struct link *dongle_link(const struct dongle *d)
{
	return d->link;
}

const struct msg_hello *dongle_hello(const struct dongle *d)
{
	return link_hello(d->link);
}

size_t dongle_log_count(const struct dongle *d)
{
	return d->log_count;
}

const struct dongle_log_line *dongle_log_line(const struct dongle *d, size_t index)
{
	if (index >= d->log_count)
		return NULL;
	return &d->log[(d->log_head + d->log_cap - d->log_count + index) % d->log_cap];
}

/* --- JSON --- */

static json_t *hello_to_json(const struct msg_hello *h)
{
	static const struct {
		uint32_t bit;
		const char *name;
	} features[] = {
		{ MSG_FEATURE_MESH, "mesh" }, { MSG_FEATURE_SLOT, "slot" }, { MSG_FEATURE_DIST, "dist" },
		{ MSG_FEATURE_SIMULATED, "simulated" },
	};
	char version[32], protocol[16], build[2 * MSG_BUILD_ID_SIZE + 1];
	json_t *list = json_array();

	for (size_t i = 0; list && i < ARRAY_SIZE(features); i++)
		if (h->features & features[i].bit)
			json_array_append_new(list, json_string(features[i].name));
	snprintf(version, sizeof(version), "%u.%u.%u", h->fw_major, h->fw_minor, h->fw_patch);
	snprintf(protocol, sizeof(protocol), "%u.%u", h->proto_major, h->proto_minor);
	hex_encode(h->build_id, sizeof(h->build_id), build);
	return json_pack("{s:s,s:s,s:s,s:s,s:o,s:i,s:i,s:I,s:i}", "version", version, "build_id", build,
			 "protocol", protocol, "reset_reason", msg_reset_reason_to_string(h->reset_reason),
			 "features", list ? list : json_null(), "request_window", (int)h->request_window,
			 "max_frame", (int)h->max_frame, "slot_size", (json_int_t)h->slot_size,
			 "max_targets", (int)h->max_targets);
}

static json_t *usb_to_json(const struct transport_port_info *u)
{
	char vid[8], pid[8];

	if (!u->usb)
		return json_null();
	snprintf(vid, sizeof(vid), "%04x", (unsigned)u->usb_vid & 0xffff);
	snprintf(pid, sizeof(pid), "%04x", (unsigned)u->usb_pid & 0xffff);
	return json_pack("{s:s,s:s,s:s,s:s,s:s}", "vendor_id", vid, "product_id", pid, "serial", u->usb_serial,
			 "manufacturer", u->usb_manufacturer, "product", u->usb_product);
}

static json_t *counters_to_json(const struct link_counters *c)
{
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
			 "bytes_in", (json_int_t)c->bytes_in, "bytes_out", (json_int_t)c->bytes_out,
			 "frames_in", (json_int_t)c->frames_in, "frames_out", (json_int_t)c->frames_out,
			 "crc_errors", (json_int_t)c->crc_errors, "bad_frames", (json_int_t)c->bad_frames,
			 "cobs_errors", (json_int_t)c->cobs_errors, "resyncs", (json_int_t)c->resyncs,
			 "retransmits", (json_int_t)c->retransmits, "timeouts", (json_int_t)c->timeouts,
			 "busy_retries", (json_int_t)c->busy_retries, "unmatched", (json_int_t)c->unmatched,
			 "events", (json_int_t)c->events, "event_gaps", (json_int_t)c->event_gaps,
			 "attempts", (json_int_t)c->attempts, "handshakes", (json_int_t)c->handshakes,
			 "reconnects", (json_int_t)c->reconnects, "events_missed", (json_int_t)c->events_missed);
}

static json_t *upload_to_json(const struct dongle *d, const struct dongle_upload_progress *p)
{
	char sha[2 * MSG_SHA256_SIZE + 1];
	uint64_t end = p->finished_ms ? p->finished_ms : uv_now(d->loop);

	if (p->state == DONGLE_UPLOAD_IDLE)
		return json_null();
	hex_encode(p->sha256, sizeof(p->sha256), sha);
	return json_pack("{s:s,s:I,s:I,s:s,s:i,s:i,s:i,s:I,s:I,s:s?}", "state",
			 dongle_upload_state_to_string(p->state), "size", (json_int_t)p->size, "acked",
			 (json_int_t)p->acked, "sha256", sha, "resumes", (int)p->resumes, "drops", (int)p->drops,
			 "rewinds", (int)p->rewinds, "bytes_sent", (json_int_t)p->bytes_sent, "elapsed_ms",
			 (json_int_t)(end - p->started_ms), "message", p->message[0] ? p->message : NULL);
}

json_t *dongle_to_json(const struct dongle *d, const char *spec)
{
	const struct link *l = d->link;
	const struct link_diagnosis *diag = link_diagnosis(l);
	const struct link_counters *c = link_counters(l);
	const struct msg_hello *h = link_hello(l);
	uint64_t now = uv_now(d->loop);
	json_t *rtt, *diag_json;

	rtt = json_pack("{s:i,s:i,s:f,s:i,s:I}", "last", (int)c->rtt_last_ms, "min", (int)c->rtt_min_ms, "avg",
			c->rtt_samples ? (double)c->rtt_sum_ms / (double)c->rtt_samples : 0.0, "max",
			(int)c->rtt_max_ms, "samples", (json_int_t)c->rtt_samples);
	diag_json = diag->code == LINK_DIAG_NONE ? json_null() :
		json_pack("{s:s,s:s,s:I}", "code", link_diag_code_to_string(diag->code), "message", diag->message,
			  "age_ms", (json_int_t)(now - diag->at_ms));
	return json_pack("{s:s,s:s,s:s,s:o,s:s,s:I,s:o,s:o,s:o,s:o,s:o}",
			 "spec", spec ? spec : "", "port", link_path(l), "transport", link_transport_name(l),
			 "usb", d->have_usb ? usb_to_json(&d->usb) : json_null(),
			 "state", link_state_to_string(link_state(l)),
			 "state_for_ms", (json_int_t)(now - link_state_since(l)),
			 "diagnosis", diag_json ? diag_json : json_null(),
			 "firmware", h ? hello_to_json(h) : json_null(),
			 "counters", counters_to_json(c),
			 "rtt_ms", rtt ? rtt : json_null(),
			 "upload", upload_to_json(d, &d->upload.p));
}

json_t *dongle_log_to_json(const struct dongle *d, size_t limit)
{
	size_t count = d->log_count, first = limit && limit < count ? count - limit : 0;
	json_t *lines = json_array();

	if (!lines)
		return NULL;
	for (size_t i = first; i < count; i++) {
		const struct dongle_log_line *line = dongle_log_line(d, i);
		char when[21];
		json_t *j;

		time_format_rfc3339(line->received_ms, when);
		j = json_pack("{s:I,s:s,s:I,s:s,s:s,s:s}", "number", (json_int_t)line->number, "received", when,
			      "uptime_ms", (json_int_t)line->uptime_ms, "level", msg_log_level_to_string(line->level),
			      "module", line->module, "text", line->text);
		if (!j || json_array_append_new(lines, j) < 0) {
			json_decref(lines);
			return NULL;
		}
	}
	return json_pack("{s:o,s:I}", "lines", lines, "total", (json_int_t)d->log_number);
}
