/* dongle: the typed client of the companion dongle, over link: one call per request with its reply, the dongle's
 * forwarded log lines (into the daemon's log, and a bounded ring for GET /api/v1/dongle/log), MESH_RECV events,
 * the image upload to the dongle's slot, and the JSON of GET /api/v1/dongle (ARCHITECTURE.md, "Dongle link").
 *
 * Glossary:
 *   slot    - the dongle's flash area for one image (docs/protocol.md §7.9-7.12)
 *   acked   - bytes_written as the dongle last confirmed it: contiguous from 0, durable
 *   epoch   - bumped at every rewind of the upload, so that the SLOT_OFFSET answers to writes sent before it do
 *             not rewind it again
 *   rewind  - continuing at the bytes_written a refused or failed SLOT_WRITE reports: back after a lost write, and
 *             back behind acked after a flash error, when the dongle starts the failed page again
 *   resume  - after a link drop: SLOT_INFO, then continue at bytes_written if the slot holds this image's
 *             size and SHA-256
 */
#ifndef MESHFLEET_DONGLE_H
#define MESHFLEET_DONGLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "link.h"
#include "messages.h"

#define DONGLE_LOG_LINES 256                    /* default size of the log ring */
#define DONGLE_LOG_LINES_MAX 4096
#define DONGLE_UPLOAD_MAX_DROPS 16              /* link drops one upload survives */
#define DONGLE_UPLOAD_MAX_FLASH_ERRORS 8        /* SLOT_WRITEs the dongle's flash fails in one upload */
#define DONGLE_UPLOAD_MAX_WRITES LINK_MAX_WINDOW /* SLOT_WRITEs of one upload in flight */

struct dongle_options {
	struct link_options link;
	uint32_t log_lines;                     /* 0 = DONGLE_LOG_LINES */
	uint32_t upload_max_drops;              /* 0 = DONGLE_UPLOAD_MAX_DROPS */
	uint32_t upload_max_flash_errors;       /* 0 = DONGLE_UPLOAD_MAX_FLASH_ERRORS */
};

struct dongle_callbacks {
	/* The link's state changed (link.h); @diag says why when it failed. The link has logged it already. */
	void (*state)(void *userdata, enum link_state state, const struct link_diagnosis *diag);
	/* An access message from the mesh; borrowed for the call. */
	void (*mesh_recv)(void *userdata, const struct msg_mesh_recv *m);
	/* Events went missing: re-read what depends on them. */
	void (*gap)(void *userdata, uint32_t expected, uint32_t got);
	void *userdata;
};

/* One forwarded log line, NUL-terminated copies; control characters replaced by '?'. */
struct dongle_log_line {
	uint64_t number;                        /* counts from 1 since the daemon started */
	int64_t received_ms;                    /* wall clock, for display */
	uint32_t uptime_ms;                     /* the dongle's clock */
	uint8_t level;                          /* enum msg_log_level */
	char module[MSG_LOG_MODULE_MAX + 1];
	char text[MSG_LOG_TEXT_MAX + 1];
};

enum dongle_upload_state {
	DONGLE_UPLOAD_IDLE,                     /* never started */
	DONGLE_UPLOAD_WAIT_LINK,                /* the link is down, or replies of the last round are outstanding */
	DONGLE_UPLOAD_INFO,                     /* SLOT_INFO sent: what does the slot hold? */
	DONGLE_UPLOAD_BEGIN,                    /* SLOT_BEGIN sent */
	DONGLE_UPLOAD_WRITING,                  /* SLOT_WRITEs in flight */
	DONGLE_UPLOAD_COMMIT,                   /* SLOT_COMMIT sent: the dongle hashes the slot */
	DONGLE_UPLOAD_DONE,
	DONGLE_UPLOAD_FAILED,
};

struct dongle_upload_progress {
	enum dongle_upload_state state;
	uint32_t size;
	uint32_t acked;
	uint32_t resumes;                       /* SLOT_INFOs after a drop that found the upload's bytes in the slot */
	uint32_t drops;                         /* link drops (and refusals that need a re-read) during the upload */
	uint32_t rewinds;                       /* SLOT_OFFSET and FLASH_ERROR answers that moved the next offset */
	uint32_t flash_errors;                  /* SLOT_WRITEs the dongle's flash failed (it then starts the page
						 * again: docs/protocol.md §7.11) */
	uint64_t writes;                        /* SLOT_WRITE requests queued, resent ones too */
	uint64_t bytes_sent;                    /* SLOT_WRITE data bytes queued, resent ones too */
	uint64_t started_ms, finished_ms;       /* uv_now() */
	int error;
	char message[256];
	uint8_t sha256[MSG_SHA256_SIZE];
};

struct dongle;

/* The answer to a typed request: see struct link_reply. reply->msg->u holds the typed response. */
typedef link_reply_fn dongle_reply_fn;
/* Called once when an upload ends: 0 (the slot holds the image, SHA-256 checked by the dongle) or a negative
 * errno with @message naming the cause and the next step. */
typedef void (*dongle_upload_done_fn)(void *userdata, int error, const char *message);

/* Creates the client and its link (nothing opens until dongle_start()). Returns 0, -EINVAL or -ENOMEM; *ret is
 * untouched on failure. */
int dongle_new(uv_loop_t *loop, const struct dongle_options *o, const struct dongle_callbacks *cb,
	       struct dongle **ret);
int dongle_start(struct dongle *d);
/* Cancels the upload, stops the link (every request completes with -ECANCELED), then calls @closed_cb. */
void dongle_stop(struct dongle *d, void (*closed_cb)(struct dongle *d, void *userdata), void *userdata);
/* Frees a dongle that was stopped (or never started). NULL is a no-op. Returns NULL. */
struct dongle *dongle_free(struct dongle *d);

/* Borrowed. */
struct link *dongle_link(const struct dongle *d);
/* The last HELLO answer: versions, capabilities. NULL before the first handshake. */
const struct msg_hello *dongle_hello(const struct dongle *d);

/* Typed requests. Each returns 0 (@cb follows exactly once) or a negative errno from link_request() (-ENOTCONN,
 * -ENOBUFS, -EMSGSIZE, -EINVAL); borrowed bytes are copied before it returns. */
int dongle_echo(struct dongle *d, const uint8_t *data, size_t len, dongle_reply_fn cb, void *userdata);
/* After the dongle answers OK, the link says HELLO again: the dongle is restarting. */
int dongle_reset(struct dongle *d, enum msg_reset_mode mode, dongle_reply_fn cb, void *userdata);
int dongle_stats(struct dongle *d, dongle_reply_fn cb, void *userdata);
int dongle_mesh_config(struct dongle *d, const struct msg_mesh_config *config, dongle_reply_fn cb,
		       void *userdata);
int dongle_mesh_send(struct dongle *d, const struct msg_mesh_send *send, dongle_reply_fn cb, void *userdata);
int dongle_slot_info(struct dongle *d, dongle_reply_fn cb, void *userdata);
int dongle_slot_begin(struct dongle *d, uint32_t size, const uint8_t sha256[MSG_SHA256_SIZE], dongle_reply_fn cb,
		      void *userdata);
int dongle_slot_write(struct dongle *d, uint32_t offset, const uint8_t *data, size_t len, dongle_reply_fn cb,
		      void *userdata);
int dongle_slot_commit(struct dongle *d, uint32_t size, const uint8_t sha256[MSG_SHA256_SIZE], dongle_reply_fn cb,
		       void *userdata);

/* 0 when the dongle answered OK; else the link's error, or the dongle's status as a negative errno
 * (BUSY -EBUSY, NO_MEMORY -ENOMEM, BAD_PARAM -EINVAL, SLOT_TOO_BIG -EFBIG, SLOT_HASH_MISMATCH -EBADMSG,
 * NOT_CONFIGURED -ENOTCONN ... and -EREMOTEIO for a code this build does not know). */
int dongle_reply_errno(const struct link_reply *reply);
/* "OK", "no answer after every retransmission", "dongle: SLOT_OFFSET", "dongle: status 0x2a". */
const char *dongle_reply_describe(const struct link_reply *reply, char *buf, size_t size);

/* Uploads @image (borrowed: it must stay unchanged until @done) to the dongle's slot. One upload at a time:
 * -EBUSY while another runs or its replies are outstanding; -EINVAL for an empty image, -EFBIG over 4 GiB. Works
 * whether or not the link is up; a drop pauses it and the next handshake resumes it. */
int dongle_upload_start(struct dongle *d, const uint8_t *image, size_t size, dongle_upload_done_fn done,
			void *userdata);
/* Ends a running upload with -ECANCELED. Returns 0 or -ENOENT (none running). */
int dongle_upload_cancel(struct dongle *d);
const struct dongle_upload_progress *dongle_upload_progress(const struct dongle *d);
const char *dongle_upload_state_to_string(enum dongle_upload_state state);

/* --- the distribution (DIST_*, protocol 1.1: docs/protocol.md §7.13-7.20, docs/distribution.md) ---
 *
 * The dongle's Distributor sends the slot's image to up to max_targets (HELLO) nodes; one distribution at a time.
 * The calls below complete through @cb exactly once, like the typed requests, except that DIST_START and
 * DIST_TARGETS_GET may take several requests. */

#define DONGLE_DIST_TARGETS_MAX 32767           /* targets of one DIST_START: unicast addresses */

/* Whether the dongle has the Distributor: HELLO's DIST feature and protocol 1.1 or later. */
bool dongle_dist_supported(const struct dongle *d);

/* The end of a DIST_START: 0 when every batch was answered OK, else the first failure as dongle_reply_errno()
 * gives it, with @message saying which batch and what the dongle answered. */
typedef void (*dongle_dist_done_fn)(void *userdata, int error, const char *message);
/* Starts distribution @start->id with @n targets (borrowed, copied). @start gives the fields every batch repeats
 * (id, group, app_key_index, ttl, timeout_base, mode, policy, block_size_log, chunk_size, sha256, fwid, metadata;
 * borrowed, copied); total, first, count and entries are set here. The targets go in batches as large as one frame
 * of this dongle holds (msg_dist_start_size() against HELLO's max_frame), one batch at a time: the distribution
 * starts when the dongle has the last one. Resending the same id is harmless (the dongle answers a batch it has with
 * OK). Returns 0 (@cb follows), -EINVAL (no target, too many, a FWID or metadata that does not fit, id 0),
 * -ENOTCONN (the link is down), -EOPNOTSUPP (no DIST feature), -ENOMEM. */
int dongle_dist_start(struct dongle *d, const struct msg_dist_start *start, const struct msg_dist_entry *targets,
		      size_t n, dongle_dist_done_fn cb, void *userdata);
/* DIST_GET: reply->msg->u.dist_info. */
int dongle_dist_get(struct dongle *d, dongle_reply_fn cb, void *userdata);
/* Every target of the dongle's distribution, read page after page with DIST_TARGETS_GET. @targets (borrowed for
 * the call) holds @n entries in the distribution's order; @id is the distribution they belong to (a page of another
 * id ends the walk with -ESTALE: the dongle started another one meanwhile). @error as dongle_reply_errno(); BAD_STATE
 * (-EBADFD) means the dongle has no distribution (IDLE). */
typedef void (*dongle_dist_targets_fn)(void *userdata, int error, uint32_t id,
				       const struct msg_dist_target_info *targets, size_t n);
int dongle_dist_targets_get(struct dongle *d, dongle_dist_targets_fn cb, void *userdata);
/* DIST_SUSPEND, DIST_RESUME, DIST_CANCEL, DIST_APPLY of distribution @id: empty replies; DIST_UNKNOWN_ID is
 * -ENOENT, BAD_STATE -EBADFD. */
int dongle_dist_suspend(struct dongle *d, uint32_t id, dongle_reply_fn cb, void *userdata);
int dongle_dist_resume(struct dongle *d, uint32_t id, dongle_reply_fn cb, void *userdata);
int dongle_dist_cancel(struct dongle *d, uint32_t id, dongle_reply_fn cb, void *userdata);
int dongle_dist_apply(struct dongle *d, uint32_t id, dongle_reply_fn cb, void *userdata);

/* Who follows the distribution (the campaign engine): its events, and the link's state and event gaps (after
 * which DIST_GET and DIST_TARGETS_GET say what was missed). One watcher; NULL fields are not called. */
struct dongle_dist_watcher {
	void (*target)(void *userdata, const struct msg_dist_target_evt *e);
	void (*progress)(void *userdata, const struct msg_dist_progress *e);
	void (*state)(void *userdata, const struct msg_dist_state_evt *e);
	void (*link)(void *userdata, enum link_state state);
	void (*gap)(void *userdata);
	void *userdata;
};
/* Sets (or with NULL clears) the watcher; copied. */
void dongle_dist_watch(struct dongle *d, const struct dongle_dist_watcher *w);

/* The log ring: @index 0 is the oldest line kept. Borrowed; valid until the next event. */
size_t dongle_log_count(const struct dongle *d);
const struct dongle_log_line *dongle_log_line(const struct dongle *d, size_t index);

/* GET /api/v1/dongle: port, USB ids, firmware, link state and diagnosis, counters, RTT, upload. @spec is the
 * configured value (borrowed). Returns: new reference, or NULL when out of memory. */
json_t *dongle_to_json(const struct dongle *d, const char *spec);
/* GET /api/v1/dongle/log: the last @limit lines (0 = all kept), oldest first. Returns: new reference or NULL. */
json_t *dongle_log_to_json(const struct dongle *d, size_t limit);

#endif
