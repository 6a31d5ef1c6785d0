/* link: see link.h. */
#include <errno.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cobs.h"
#include "frame.h"
#include "link.h"
#include "log.h"
#include "util.h"

/* The nRF5 SDK for Mesh serial Echo command and its answer (docs/protocol.md §8; nrf5-mesh-legacy.md §1.3). */
static const uint8_t nrf5_echo[] = { 0x05, 0x02, 0xaa, 0xbb, 0xcc, 0xdd };

struct link_req {
	struct link_req *next;
	link_reply_fn cb;
	void *userdata;
	uint8_t type;
	uint32_t id;                    /* assigned when first sent, and again after BUSY */
	uint64_t first_sent_ms;
	uint64_t deadline_ms;           /* in flight: when to retransmit or give up */
	uint64_t not_before_ms;         /* pending after BUSY: not sent before this */
	uint8_t transmissions;          /* of the current id */
	uint8_t busy_retries;
	bool retransmit_due;            /* timed out; waits for room in the write buffer */
	uint16_t frame_len;
	uint8_t frame[FRAME_MAX_SIZE];  /* the decoded frame; header re-stamped at each transmission */
};

struct req_queue {
	struct link_req *head, *tail;
	uint32_t n;
};

struct link {
	uv_loop_t *loop;                /* weak */
	struct transport *transport;    /* owned */
	uv_timer_t request_timer;       /* earliest request deadline, BUSY delay, or a deferred write error */
	uv_timer_t attempt_timer;       /* HELLO timeouts and the reconnect backoff */
	bool timers_ready;
	int open_handles;               /* the timers, and the transport's poll handle while the port is open */
	struct link_callbacks cb;
	struct link_options o;          /* defaults applied; o.path points to path */
	char path[256];

	enum link_state state;
	uint64_t state_since;
	struct link_diagnosis diag;
	size_t diag_body_len;           /* diag.message without the sentence on retrying (diag_note_retry()) */
	enum link_diag_code logged_diag;        /* the last diagnosis logged as a warning; repeats go to debug */
	bool port_open;                 /* opened, closed callback not yet seen */
	bool stopping;
	void (*closed_cb)(struct link *l, void *userdata);
	void *closed_userdata;
	uint32_t epoch;                 /* bumped whenever the byte stream is abandoned (port closed, HELLO again) */
	int write_error;                /* a write failed inside pump(); handled from the request timer */

	/* the attempt in progress, for its diagnosis */
	uint32_t hellos_sent;
	bool echo_probe_sent;
	uint64_t attempt_started_ms;
	uint64_t attempt_bytes;
	uint64_t attempt_frames;
	uint64_t attempt_other_format;
	uint8_t other_magic;
	uint8_t sniff[LINK_SNIFF_BYTES];
	size_t sniff_len;
	uint32_t failures;              /* attempts failed in a row, for max_attempts */
	uint32_t backoff_ms;
	bool ever_up;

	/* the dongle, from HELLO */
	struct msg_hello hello;
	bool have_hello;
	uint32_t window;
	uint32_t max_frame;
	uint32_t next_id;
	bool events_synced;
	uint32_t next_event_seq;

	/* requests */
	struct link_req *reqs;          /* owned: o.max_requests of them */
	struct req_queue free_reqs, pending, inflight;

	/* receiving */
	struct cobs_stream rx;
	uint32_t rx_errors_seen;        /* rx.malformed + rx.oversize already counted */
	uint8_t rx_buf[FRAME_MAX_SIZE];

	/* sending: wire bytes not yet taken by the port */
	uint8_t *out;                   /* owned */
	size_t out_cap, out_start, out_len;
	bool want_writable;
	bool in_read;                   /* in on_transport_read(): its end writes what the frames' callbacks queued */

	struct link_counters counters;
};

static const char *const state_names[] = {
	[LINK_STOPPED] = "stopped",
	[LINK_HANDSHAKE] = "handshake",
	[LINK_UP] = "up",
	[LINK_CLOSING] = "closing",
	[LINK_BACKOFF] = "backoff",
	[LINK_FAILED] = "failed",
	[LINK_STOPPING] = "stopping",
};

#define BIT(s) (1u << (s))
static const unsigned transitions[] = {
	[LINK_STOPPED] = BIT(LINK_HANDSHAKE) | BIT(LINK_BACKOFF) | BIT(LINK_FAILED) | BIT(LINK_STOPPING),
	[LINK_HANDSHAKE] = BIT(LINK_UP) | BIT(LINK_CLOSING) | BIT(LINK_STOPPING),
	[LINK_UP] = BIT(LINK_HANDSHAKE) | BIT(LINK_CLOSING) | BIT(LINK_STOPPING),
	[LINK_CLOSING] = BIT(LINK_BACKOFF) | BIT(LINK_FAILED) | BIT(LINK_STOPPING),
	[LINK_BACKOFF] = BIT(LINK_HANDSHAKE) | BIT(LINK_BACKOFF) | BIT(LINK_FAILED) | BIT(LINK_STOPPING),
	[LINK_FAILED] = BIT(LINK_HANDSHAKE) | BIT(LINK_BACKOFF) | BIT(LINK_FAILED) | BIT(LINK_STOPPING),
	[LINK_STOPPING] = BIT(LINK_STOPPED),
};

const char *link_state_to_string(enum link_state state)
{
	switch (state) {
	case LINK_STOPPED:
	case LINK_HANDSHAKE:
	case LINK_UP:
	case LINK_CLOSING:
	case LINK_BACKOFF:
	case LINK_FAILED:
	case LINK_STOPPING:
		return state_names[state];
	}
	return "unknown";
}

const char *link_diag_code_to_string(enum link_diag_code code)
{
	switch (code) {
	case LINK_DIAG_NONE:
		return "none";
	case LINK_DIAG_PORT_MISSING:
		return "port_missing";
	case LINK_DIAG_PORT_BUSY:
		return "port_busy";
	case LINK_DIAG_PERMISSION:
		return "permission_denied";
	case LINK_DIAG_NOT_A_PORT:
		return "not_a_serial_port";
	case LINK_DIAG_OPEN_FAILED:
		return "open_failed";
	case LINK_DIAG_NO_BYTES:
		return "no_bytes";
	case LINK_DIAG_NO_VALID_FRAMES:
		return "no_valid_frames";
	case LINK_DIAG_NRF5_MESH:
		return "nrf5_sdk_mesh_firmware";
	case LINK_DIAG_FRAME_FORMAT:
		return "other_frame_format";
	case LINK_DIAG_VERSION_MISMATCH:
		return "protocol_version_mismatch";
	case LINK_DIAG_BAD_HELLO:
		return "bad_hello";
	case LINK_DIAG_PORT_LOST:
		return "port_lost";
	case LINK_DIAG_NO_RESPONSE:
		return "no_response";
	case LINK_DIAG_DONGLE_RESTARTED:
		return "dongle_restarted";
	}
	return "unknown";
}

static void on_request_timer(uv_timer_t *timer);

/* --- small helpers --- */

static void queue_push(struct req_queue *q, struct link_req *r)
{
	r->next = NULL;
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
	q->n++;
}

static void queue_push_front(struct req_queue *q, struct link_req *r)
{
	r->next = q->head;
	q->head = r;
	if (!q->tail)
		q->tail = r;
	q->n++;
}

static struct link_req *queue_pop(struct req_queue *q)
{
	struct link_req *r = q->head;

	if (!r)
		return NULL;
	q->head = r->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	r->next = NULL;
	return r;
}

static void queue_remove(struct req_queue *q, struct link_req *r)
{
	struct link_req *prev = NULL;

	for (struct link_req *it = q->head; it; prev = it, it = it->next) {
		if (it != r)
			continue;
		if (prev)
			prev->next = r->next;
		else
			q->head = r->next;
		if (q->tail == r)
			q->tail = prev;
		q->n--;
		r->next = NULL;
		return;
	}
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static uint64_t now_ms(const struct link *l)
{
	return uv_now(l->loop);
}

__attribute__((format(printf, 4, 5)))
static void diag_set(struct link *l, enum link_diag_code code, int error, const char *fmt, ...)
{
	va_list ap;

	l->diag.code = code;
	l->diag.error = error;
	l->diag.at_ms = now_ms(l);
	va_start(ap, fmt);
	vsnprintf(l->diag.message, sizeof(l->diag.message), fmt, ap);
	va_end(ap);
	l->diag_body_len = strlen(l->diag.message);
}

/* Ends the diagnosis of a failed attempt with what the link does next, so that no message promises a retry that
 * will not come (max_attempts = 1: meshfleetctl dongle probe). Call it before the failure is reported; the counts it
 * reads change only in schedule_attempt(). */
static void diag_note_retry(struct link *l)
{
	size_t len = l->diag_body_len, size = sizeof(l->diag.message);

	l->diag.message[len] = '\0';
	if (!l->o.max_attempts || l->failures + 1 < l->o.max_attempts)
		snprintf(l->diag.message + len, size - len, " Retrying in %g s.", (double)l->backoff_ms / 1000.0);
	else if (l->o.max_attempts > 1)
		snprintf(l->diag.message + len, size - len, " Gave up after %u attempts.", l->o.max_attempts);
}

/* The one place the state changes: checks the transition, logs it and tells the owner. A failure's diagnosis is
 * logged as a warning the first time it occurs in a row, so a dongle that stays unplugged for a day is one line. */
static void set_state(struct link *l, enum link_state next, const struct link_diagnosis *diag)
{
	enum link_state old = l->state;

	if (!(transitions[old] & BIT(next))) {
		log_err("dongle link %s: refused state change %s -> %s: this is a bug", l->path,
			link_state_to_string(old), link_state_to_string(next));
		return;
	}
	l->state = next;
	l->state_since = now_ms(l);
	/* Every diagnosis names the port itself. */
	if (diag && diag->code != l->logged_diag) {
		log_warning("dongle: %s", diag->message);
		l->logged_diag = diag->code;
	} else if (diag) {
		log_debug("dongle: %s", diag->message);
	}
	/* Leaving UP, giving up and stopping matter to the operator; the churn of a port that keeps failing the same
	 * way does not. */
	if (old != next && (old == LINK_UP || next == LINK_FAILED || next == LINK_STOPPED))
		log_info("dongle link %s: %s -> %s", l->path, link_state_to_string(old), link_state_to_string(next));
	else if (old != next)
		log_debug("dongle link %s: %s -> %s", l->path, link_state_to_string(old), link_state_to_string(next));
	if (l->cb.state)
		l->cb.state(l->cb.userdata, next, diag);
}

/* --- requests --- */

static uint32_t base_timeout(const struct link *l, uint8_t type)
{
	return type == MSG_SLOT_BEGIN || type == MSG_SLOT_COMMIT ? l->o.slow_timeout_ms : l->o.request_timeout_ms;
}

/* Completes @r exactly once: releases its slot first, so the callback may queue a new request in it. */
static void complete(struct link *l, struct link_req *r, int error, const struct frame_header *h,
		     const struct msg *m)
{
	struct link_reply reply = {
		.error = error,
		.type = r->type,
		.status = h ? h->status : 0,
		.msg = error ? NULL : m,
		.rtt_ms = r->transmissions ? (uint32_t)(now_ms(l) - r->first_sent_ms) : 0,
		.transmissions = r->transmissions,
	};
	link_reply_fn cb = r->cb;
	void *userdata = r->userdata;

	r->cb = NULL;
	queue_push(&l->free_reqs, r);
	cb(userdata, &reply);
}

/* Fails every pending and in-flight request. The state has already left UP, so callbacks cannot queue new ones. */
static void fail_all(struct link *l, int error)
{
	struct link_req *r;

	while ((r = queue_pop(&l->inflight)) || (r = queue_pop(&l->pending)))
		complete(l, r, error, NULL, NULL);
}

/* Room for @need more bytes at the end of the write buffer, compacting it if that helps. */
static bool out_room(struct link *l, size_t need)
{
	if (l->out_cap - l->out_start - l->out_len >= need)
		return true;
	if (l->out_cap - l->out_len < need)
		return false;
	memmove(l->out, l->out + l->out_start, l->out_len);
	l->out_start = 0;
	return true;
}

static void out_reset(struct link *l)
{
	l->out_start = l->out_len = 0;
}

/* Writes what the port takes now; the rest waits for the writable callback. A write error is handled later, from
 * the request timer, so that it never fails requests inside a caller's link_request(). */
static void flush(struct link *l)
{
	bool want;

	/* The answers in one read usually release as many requests: one write() for all of them, not one each.
	 * A pty wakes the other side (a kernel work item and a context switch) per write, not per byte. */
	if (l->in_read)
		return;
	while (l->out_len > 0 && l->port_open && !l->write_error) {
		size_t n = 0;
		int r = transport_write(l->transport, l->out + l->out_start, l->out_len, &n);

		if (r < 0) {
			l->write_error = r;
			uv_timer_start(&l->request_timer, on_request_timer, 0, 0);
			return;
		}
		if (n == 0)
			break;
		l->counters.bytes_out += n;
		l->out_start += n;
		l->out_len -= n;
	}
	if (l->out_len == 0)
		l->out_start = 0;
	want = l->out_len > 0;
	if (l->port_open && want != l->want_writable && transport_want_writable(l->transport, want) == 0)
		l->want_writable = want;
}

/* Appends @len raw bytes (the nRF5 Echo probe) or the wire form of a frame to the write buffer. */
static bool append_wire(struct link *l, const uint8_t *frame, size_t len, bool raw)
{
	size_t n;

	if (!out_room(l, raw ? len : COBS_WIRE_MAX(len)))
		return false;
	if (raw) {
		memcpy(l->out + l->out_start + l->out_len, frame, len);
		n = len;
	} else {
		/* The host puts a 00 in front of every frame: it ends whatever garbage the dongle may hold. */
		n = cobs_encode_frame(frame, len, true, l->out + l->out_start + l->out_len,
				      l->out_cap - l->out_start - l->out_len);
		if (n == 0)
			return false;
		l->counters.frames_out++;
	}
	l->out_len += n;
	return true;
}

/* Stamps @r with its id and the retransmission flag (header and CRC rewritten in place) and queues its bytes. */
static bool transmit(struct link *l, struct link_req *r)
{
	struct frame_header h = {
		.type = r->type,
		.kind = FRAME_REQUEST,
		.retransmit = r->transmissions > 0,
		.seq = r->id,
		.payload_len = (uint16_t)(r->frame_len - FRAME_OVERHEAD),
	};
	uint64_t now = now_ms(l);
	uint32_t timeout;

	if (!out_room(l, COBS_WIRE_MAX(r->frame_len)))
		return false;
	frame_encode(&h, r->frame + FRAME_HEADER_SIZE, r->frame, sizeof(r->frame));
	if (!append_wire(l, r->frame, r->frame_len, false))
		return false;
	if (r->transmissions == 0)
		r->first_sent_ms = now;
	else
		l->counters.retransmits++;
	r->transmissions++;
	r->retransmit_due = false;
	/* Backoff: each retransmission waits longer (x1, x2, x4, then x4), so a dongle that is slow for a moment
	 * (erasing flash, say) is not flooded with copies. */
	timeout = base_timeout(l, r->type) << min_u32(r->transmissions - 1u, 2u);
	r->deadline_ms = now + timeout;
	return true;
}

static void arm_request_timer(struct link *l);

/* Sends what may be sent: due retransmissions first, then pending requests while the window and the write buffer
 * allow; then writes and re-arms the timer. */
static void pump(struct link *l)
{
	uint64_t now = now_ms(l);
	bool room = true;

	if (l->state != LINK_UP || l->stopping)
		return;
	for (struct link_req *r = l->inflight.head; r && room; r = r->next)
		if (r->retransmit_due)
			room = transmit(l, r);
	while (room && l->pending.head) {
		struct link_req *r = l->pending.head;

		if (r->not_before_ms > now)
			break;
		if (l->inflight.head && l->next_id - l->inflight.head->id >= l->window)
			break;
		if (!out_room(l, COBS_WIRE_MAX(r->frame_len)))
			break;
		queue_pop(&l->pending);
		r->id = l->next_id++;
		r->transmissions = 0;
		queue_push(&l->inflight, r);
		room = transmit(l, r);
	}
	flush(l);
	arm_request_timer(l);
}

static void arm_request_timer(struct link *l)
{
	uint64_t now = now_ms(l), next = UINT64_MAX;

	if (!l->timers_ready || l->stopping)
		return;
	if (l->write_error) {
		uv_timer_start(&l->request_timer, on_request_timer, 0, 0);
		return;
	}
	for (struct link_req *r = l->inflight.head; r; r = r->next)
		if (!r->retransmit_due && r->deadline_ms < next)
			next = r->deadline_ms;
	if (l->pending.head && l->pending.head->not_before_ms > now && l->pending.head->not_before_ms < next)
		next = l->pending.head->not_before_ms;
	if (next == UINT64_MAX)
		uv_timer_stop(&l->request_timer);
	else
		uv_timer_start(&l->request_timer, on_request_timer, next > now ? next - now : 0, 0);
}

int link_request(struct link *l, const struct msg *m, link_reply_fn cb, void *userdata)
{
	struct link_req *r;
	size_t len = 0;
	enum msg_status st;

	if (l->state != LINK_UP || l->stopping)
		return -ENOTCONN;
	if (m->kind != FRAME_REQUEST || m->type == MSG_HELLO || !cb)
		return -EINVAL;
	r = l->free_reqs.head;
	if (!r)
		return -ENOBUFS;
	/* The payload only: header and CRC are written by transmit(), when the window lets the request go and it
	 * gets its id. */
	st = msg_encode(m, r->frame + FRAME_HEADER_SIZE, sizeof(r->frame) - FRAME_OVERHEAD, &len);
	if (st != MSG_STATUS_OK)
		return st == MSG_STATUS_NO_MEMORY ? -EMSGSIZE : -EINVAL;
	len += FRAME_OVERHEAD;
	if (len > l->max_frame)
		return -EMSGSIZE;
	queue_pop(&l->free_reqs);
	r->cb = cb;
	r->userdata = userdata;
	r->type = (uint8_t)m->type;
	r->frame_len = (uint16_t)len;
	r->transmissions = 0;
	r->busy_retries = 0;
	r->not_before_ms = 0;
	r->retransmit_due = false;
	queue_push(&l->pending, r);
	pump(l);
	return 0;
}

/* --- attempts, handshake, failures --- */

static void on_attempt_timer(uv_timer_t *timer);
static void begin_handshake(struct link *l, const struct link_diagnosis *diag);

/* After a failed attempt, with the port closed: wait, or give up after max_attempts. */
static void schedule_attempt(struct link *l, const struct link_diagnosis *diag)
{
	l->failures++;
	if (l->o.max_attempts && l->failures >= l->o.max_attempts) {
		set_state(l, LINK_FAILED, &l->diag);
		return;
	}
	set_state(l, LINK_BACKOFF, diag);
	if (l->stopping || l->state != LINK_BACKOFF)
		return;
	uv_timer_start(&l->attempt_timer, on_attempt_timer, l->backoff_ms, 0);
	l->backoff_ms = min_u32(l->backoff_ms * 2, l->o.reconnect_max_ms);
}

/* Abandons the port: fails the requests, closes it; schedule_attempt() follows from the closed callback. */
static void abandon_port(struct link *l)
{
	l->epoch++;
	uv_timer_stop(&l->attempt_timer);
	uv_timer_stop(&l->request_timer);
	diag_note_retry(l);
	set_state(l, LINK_CLOSING, &l->diag);
	fail_all(l, -ECONNRESET);
	out_reset(l);
	l->write_error = 0;
	if (l->port_open && !l->stopping)
		transport_close(l->transport);
}

static const char *user_name(char *buf, size_t size)
{
	char pwbuf[1024];
	struct passwd pw, *pwp = NULL;

	if (getpwuid_r(geteuid(), &pw, pwbuf, sizeof(pwbuf), &pwp) == 0 && pwp)
		snprintf(buf, size, "%s", pwp->pw_name);
	else
		snprintf(buf, size, "%u", (unsigned)geteuid());
	return buf;
}

/* Names the cause of a failed open and the next step. */
static void diagnose_open(struct link *l, int error)
{
	char access[128] = "", group[64] = "", user[64], holders[256];
	const char *p = l->path;

	switch (-error) {
	case ENOENT:
		diag_set(l, LINK_DIAG_PORT_MISSING, error, "port missing: %s does not exist. Is the dongle plugged in? "
			 "`ls -l /dev/serial/by-id/` shows the serial ports, `meshfleetctl dongle probe` lists them with "
			 "their USB ids and says which answers; with dongle = sim, meshfleet-sim is unplugged or has "
			 "stopped (its messages are in the log).", p);
		break;
	case ENODEV:
	case ENXIO:
		diag_set(l, LINK_DIAG_PORT_MISSING, error, "port missing: %s exists but no device answers behind it "
			 "(%s): the dongle was unplugged or its driver is gone. Plug it in again; `dmesg` says what the "
			 "kernel saw.", p,
			 strerror(-error));
		break;
	case EACCES:
	case EPERM:
		if (transport_port_access(p, access, sizeof(access), group, sizeof(group)) < 0)
			diag_set(l, LINK_DIAG_PERMISSION, error, "permission denied: user '%s' may not reach %s (a "
				 "directory on the way is closed to it). Fix the directory's permissions or choose "
				 "another path.", user_name(user, sizeof(user)), p);
		else
			diag_set(l, LINK_DIAG_PERMISSION, error, "permission denied: user '%s' may not open %s (%s). "
				 "Add the user to the group that owns it: `sudo usermod -aG %s %s`, then log in again "
				 "(or restart the service); or install the udev rule 70-meshfleet-dongle.rules, which "
				 "gives the dongle to group dialout.", user_name(user, sizeof(user)), p, access, group,
				 user);
		break;
	case EBUSY:
		if (transport_port_holders(p, holders, sizeof(holders)) > 0)
			diag_set(l, LINK_DIAG_PORT_BUSY, error, "port busy: %s is in use by %s. Stop that program "
				 "(ModemManager: install the udev rule 70-meshfleet-dongle.rules, which tells it to "
				 "leave the dongle alone).", p, holders);
		else
			diag_set(l, LINK_DIAG_PORT_BUSY, error, "port busy: another process holds %s, one this user "
				 "cannot see (`sudo fuser -v %s` names it). Stop it.", p, p);
		break;
	case ENOTTY:
		diag_set(l, LINK_DIAG_NOT_A_PORT, error, "%s is not a serial port. Set dongle = to the dongle's tty "
			 "(for example /dev/ttyACM0 or /dev/meshfleet-dongle); `meshfleetctl dongle probe` lists the "
			 "serial ports.", p);
		break;
	case EINVAL:
		diag_set(l, LINK_DIAG_OPEN_FAILED, error, "cannot configure %s for %u baud 8N1: choose a standard "
			 "baud rate (115200).", p, l->o.baud);
		break;
	default:
		diag_set(l, LINK_DIAG_OPEN_FAILED, error, "cannot open %s: %s. `dmesg` may say why; "
			 "`meshfleetctl dongle probe` lists the serial ports.", p, strerror(-error));
		break;
	}
}

/* Names the cause of a handshake that got no usable HELLO answer, from what the attempt saw. */
static void diagnose_handshake(struct link *l)
{
	double seconds = (double)(now_ms(l) - l->attempt_started_ms) / 1000.0;
	const char *nrf5 = link_nrf5_signature(l->sniff, l->sniff_len);
	char holders[256], also[320] = "";
	const char *p = l->path;

	if (transport_port_holders(p, holders, sizeof(holders)) > 1)
		snprintf(also, sizeof(also), " Other programs have the port open too (%s, and this one): they may be "
			 "taking the bytes.", holders);
	if (l->attempt_bytes == 0) {
		diag_set(l, LINK_DIAG_NO_BYTES, -ETIMEDOUT, "no bytes at all from %s: %u HELLO(s) in %.1f s at %u "
			 "baud got no answer. Is the meshfleet companion firmware flashed on the dongle? Is this the "
			 "right port? `meshfleetctl dongle probe` lists the serial ports and says which answers.%s",
			 p, l->hellos_sent, seconds, l->o.baud, also);
	} else if (nrf5) {
		diag_set(l, LINK_DIAG_NRF5_MESH, -EPROTONOSUPPORT, "%s answers in the nRF5 SDK for Mesh serial "
			 "format (%s): this is not the meshfleet companion firmware. Flash the meshfleet firmware onto "
			 "the dongle (firmware_dongle/README.md), or set dongle = to the port of the meshfleet dongle.",
			 p, nrf5);
	} else if (l->attempt_other_format > 0) {
		diag_set(l, LINK_DIAG_FRAME_FORMAT, -EPROTONOSUPPORT, "%s sends meshfleet frames of another frame "
			 "format (magic byte 0x%02x, this meshfleetd speaks 0x%02x): the companion firmware belongs to "
			 "an incompatible release. Flash the firmware that comes with this meshfleetd.", p,
			 l->other_magic, FRAME_MAGIC);
	} else if (l->attempt_frames > 0) {
		diag_set(l, LINK_DIAG_BAD_HELLO, -EPROTO, "%s sends valid frames but did not answer HELLO in %.1f s: "
			 "the firmware is stuck or too busy. Reset the dongle (unplug it and plug it in again).", p,
			 seconds);
	} else {
		diag_set(l, LINK_DIAG_NO_VALID_FRAMES, -EBADMSG, "%s sends bytes (%llu in %.1f s) but no valid "
			 "frame: a wrong baud rate (%u configured; a UART must match it, USB dongles ignore it) or "
			 "another firmware on the device. Check both; `meshfleetctl dongle probe` says which port "
			 "answers.%s", p, (unsigned long long)l->attempt_bytes, seconds, l->o.baud, also);
	}
}

static void send_hello(struct link *l)
{
	struct msg m = { .type = MSG_HELLO, .kind = FRAME_REQUEST };
	uint8_t frame[FRAME_OVERHEAD];
	size_t len = 0;

	/* HELLO never carries the retransmission flag (docs/protocol.md §8): a resend is the same 17 bytes. */
	if (msg_encode_frame(&m, MSG_HELLO_ID, false, frame, sizeof(frame), &len) == MSG_STATUS_OK &&
	    append_wire(l, frame, len, false))
		l->hellos_sent++;
	flush(l);
	uv_timer_start(&l->attempt_timer, on_attempt_timer, l->o.hello_timeout_ms, 0);
}

/* Starts a handshake on the open port: forget the stream so far, say HELLO. */
static void begin_handshake(struct link *l, const struct link_diagnosis *diag)
{
	l->epoch++;
	cobs_stream_reset(&l->rx);
	out_reset(l);
	l->write_error = 0;
	l->hellos_sent = 0;
	l->echo_probe_sent = false;
	l->attempt_started_ms = now_ms(l);
	l->attempt_bytes = l->attempt_frames = l->attempt_other_format = 0;
	l->sniff_len = 0;
	l->events_synced = false;
	l->window = 0;
	uv_timer_stop(&l->request_timer);
	set_state(l, LINK_HANDSHAKE, diag);
	if (l->stopping || l->state != LINK_HANDSHAKE)
		return;
	send_hello(l);
}

/* From UP: the dongle stopped answering or restarted. Say HELLO again on the same port; requests in flight may
 * or may not have run, so they fail and their owners read the state again (docs/protocol.md §4.2). */
static void rehandshake(struct link *l, struct link_req *timed_out)
{
	struct link_diagnosis diag = l->diag;

	begin_handshake(l, &diag);
	if (timed_out)
		complete(l, timed_out, -ETIMEDOUT, NULL, NULL);
	fail_all(l, -ECONNRESET);
}

static void attempt(struct link *l)
{
	int r;

	l->counters.attempts++;
	r = transport_open(l->transport);
	if (r < 0) {
		diagnose_open(l, r);
		diag_note_retry(l);
		schedule_attempt(l, &l->diag);
		return;
	}
	l->port_open = true;
	l->open_handles++;
	l->want_writable = false;
	r = transport_start(l->transport);
	if (r < 0) {
		diag_set(l, LINK_DIAG_OPEN_FAILED, r, "cannot watch %s for input: %s. If this repeats, restart "
			 "meshfleetd.", l->path, strerror(-r));
		set_state(l, LINK_HANDSHAKE, NULL);
		abandon_port(l);
		return;
	}
	begin_handshake(l, NULL);
}

static void handshake_answer(struct link *l, const struct frame_header *h, const uint8_t *payload)
{
	uint8_t major = 0, minor = 0;
	struct msg m;
	enum msg_status st;

	st = msg_decode(h, payload, &m);
	if (h->status != MSG_STATUS_OK) {
		diag_set(l, LINK_DIAG_BAD_HELLO, -EPROTO, "%s answered HELLO with status %s (0x%02x): the firmware "
			 "refuses the handshake. Read the dongle's log; reflash the firmware that comes with this "
			 "meshfleetd.", l->path, msg_status_to_string(h->status), h->status);
	} else if (st == MSG_STATUS_NOT_SUPPORTED && msg_hello_version(payload, h->payload_len, &major, &minor)) {
		diag_set(l, LINK_DIAG_VERSION_MISMATCH, -EPROTONOSUPPORT, "protocol version mismatch: the dongle on %s "
			 "speaks %u.%u, meshfleetd speaks %u.%u. Flash the companion firmware that comes with this "
			 "meshfleetd (firmware_dongle/README.md), or use a meshfleetd of the firmware's release.",
			 l->path, major, minor, MSG_VERSION_MAJOR, MSG_VERSION_MINOR);
	} else if (st != MSG_STATUS_OK) {
		diag_set(l, LINK_DIAG_BAD_HELLO, -EPROTO, "%s answered HELLO with a payload this meshfleetd refuses "
			 "(%s, %u bytes): reflash the firmware that comes with this meshfleetd.", l->path,
			 msg_status_to_string(st), h->payload_len);
	} else {
		l->hello = m.u.hello;
		l->have_hello = true;
		l->window = min_u32(m.u.hello.request_window, l->o.max_window);
		l->max_frame = m.u.hello.max_frame;
		l->next_id = MSG_HELLO_ID + 1;
		l->next_event_seq = m.u.hello.next_event_seq;
		l->events_synced = true;
		l->failures = 0;
		l->backoff_ms = l->o.reconnect_min_ms;
		l->counters.handshakes++;
		if (l->ever_up)
			l->counters.reconnects++;
		l->ever_up = true;
		l->logged_diag = LINK_DIAG_NONE;
		uv_timer_stop(&l->attempt_timer);
		log_info("dongle link %s up: firmware %u.%u.%u, protocol %u.%u, window %u, frames up to %u bytes, "
			 "reset reason %s", l->path, l->hello.fw_major, l->hello.fw_minor, l->hello.fw_patch,
			 l->hello.proto_major, l->hello.proto_minor, l->window, l->max_frame,
			 msg_reset_reason_to_string(l->hello.reset_reason));
		if (l->hello.reset_reason == MSG_RESET_WATCHDOG || l->hello.reset_reason == MSG_RESET_FAULT)
			log_warning("dongle link %s: the dongle restarted after a %s: its log may say why", l->path,
				    msg_reset_reason_to_string(l->hello.reset_reason));
		set_state(l, LINK_UP, NULL);
		pump(l);
		return;
	}
	abandon_port(l);
}

/* The request timer: a deferred write error, retransmissions, requests out of retransmissions, BUSY delays. */
static void on_request_timer(uv_timer_t *timer)
{
	struct link *l = timer->data;
	struct link_req *expired = NULL;
	uint64_t now = now_ms(l);

	if (l->write_error) {
		int err = l->write_error;

		l->write_error = 0;
		if (l->state == LINK_UP || l->state == LINK_HANDSHAKE) {
			diag_set(l, LINK_DIAG_PORT_LOST, err, "lost %s: writing failed (%s). The dongle was unplugged or "
				 "reset: check that it is plugged in.", l->path, strerror(-err));
			abandon_port(l);
		}
		return;
	}
	if (l->state != LINK_UP)
		return;
	for (struct link_req *r = l->inflight.head; r; r = r->next) {
		if (r->retransmit_due || r->deadline_ms > now)
			continue;
		/* RESET is never sent twice: a dongle that has reset cannot know whether it ran it (§7.3). */
		if (r->type == MSG_RESET || r->transmissions > l->o.max_retransmits) {
			expired = r;
			break;
		}
		r->retransmit_due = true;
	}
	if (expired) {
		queue_remove(&l->inflight, expired);
		l->counters.timeouts++;
		diag_set(l, LINK_DIAG_NO_RESPONSE, -ETIMEDOUT, "%s did not answer %s (request 0x%08x) in %llu ms and "
			 "%u transmission(s): saying HELLO again.", l->path, msg_type_to_string(expired->type),
			 expired->id, (unsigned long long)(now - expired->first_sent_ms), expired->transmissions);
		rehandshake(l, expired);
		return;
	}
	pump(l);
}

static void on_attempt_timer(uv_timer_t *timer)
{
	struct link *l = timer->data;

	switch (l->state) {
	case LINK_BACKOFF:
		attempt(l);
		return;
	case LINK_HANDSHAKE:
		if (l->hellos_sent < l->o.hello_attempts) {
			send_hello(l);
			return;
		}
		/* Bytes came but nothing we know: one nRF5 Echo tells an nRF5 SDK for Mesh device for sure. Our own
		 * firmware drops it as garbage at the next 00. */
		if (!l->o.no_nrf5_echo && !l->echo_probe_sent && l->attempt_bytes > 0 && l->attempt_frames == 0 &&
		    !link_nrf5_signature(l->sniff, l->sniff_len)) {
			l->echo_probe_sent = true;
			append_wire(l, nrf5_echo, sizeof(nrf5_echo), true);
			flush(l);
			uv_timer_start(&l->attempt_timer, on_attempt_timer, l->o.hello_timeout_ms, 0);
			return;
		}
		diagnose_handshake(l);
		abandon_port(l);
		return;
	case LINK_STOPPED:
	case LINK_UP:
	case LINK_CLOSING:
	case LINK_FAILED:
	case LINK_STOPPING:
		return;
	}
}

/* --- receiving --- */

static void handle_event(struct link *l, const struct frame_header *h, const uint8_t *payload)
{
	struct msg m;
	enum msg_status st = msg_decode(h, payload, &m);

	l->counters.events++;
	if (l->state == LINK_UP && l->events_synced && h->seq != l->next_event_seq) {
		int32_t ahead = (int32_t)(h->seq - l->next_event_seq);

		if (ahead > 0) {
			l->counters.event_gaps++;
			l->counters.events_missed += (uint32_t)ahead;
			if (l->cb.gap)
				l->cb.gap(l->cb.userdata, l->next_event_seq, h->seq);
			if (l->state != LINK_UP || l->stopping)
				return;
		} else {
			/* Numbers only go back when the dongle started again at 0 (§4.4): deliver, then HELLO. */
			l->next_event_seq = h->seq + 1;
			if (st == MSG_STATUS_OK && l->cb.event)
				l->cb.event(l->cb.userdata, h->seq, &m);
			if (l->state != LINK_UP || l->stopping)
				return;
			diag_set(l, LINK_DIAG_DONGLE_RESTARTED, -ECONNRESET, "the dongle on %s restarted (its event sequence "
				 "went back to %u): saying HELLO again.", l->path, h->seq);
			rehandshake(l, NULL);
			return;
		}
	}
	if (l->events_synced)
		l->next_event_seq = h->seq + 1;
	if (st != MSG_STATUS_OK) {
		l->counters.unexpected++;
		log_debug("dongle link %s: event %s refused: %s", l->path, msg_type_to_string(h->type),
			  msg_status_to_string(st));
		return;
	}
	if (l->cb.event)
		l->cb.event(l->cb.userdata, h->seq, &m);
}

static void handle_response(struct link *l, const struct frame_header *h, const uint8_t *payload)
{
	struct link_req *r;
	enum msg_status st;
	struct msg m;

	if (h->type == MSG_HELLO && h->seq == MSG_HELLO_ID) {
		if (l->state == LINK_HANDSHAKE)
			handshake_answer(l, h, payload);
		else
			l->counters.unmatched++;        /* an answer to a HELLO we sent again: already handled */
		return;
	}
	if (l->state != LINK_UP) {
		l->counters.unmatched++;
		return;
	}
	for (r = l->inflight.head; r && r->id != h->seq; r = r->next)
		;
	if (!r) {
		l->counters.unmatched++;
		return;
	}
	if (r->type != h->type) {
		l->counters.unexpected++;
		return;
	}
	queue_remove(&l->inflight, r);
	if (h->status == MSG_STATUS_BUSY && r->busy_retries < LINK_MAX_BUSY_RETRIES) {
		/* §4.2: after BUSY the request goes again as a new one, with a new id, after a pause. */
		uint32_t delay = min_u32((uint32_t)LINK_BUSY_DELAY_MS << r->busy_retries, LINK_BUSY_DELAY_MAX_MS);

		r->busy_retries++;
		l->counters.busy_retries++;
		r->not_before_ms = now_ms(l) + delay;
		queue_push_front(&l->pending, r);
		pump(l);
		return;
	}
	st = msg_decode(h, payload, &m);
	if (r->transmissions == 1) {
		uint32_t rtt = (uint32_t)(now_ms(l) - r->first_sent_ms);

		/* Only answers to a first transmission: with a retransmission in between, the answer may belong to
		 * either copy (Karn's rule). */
		l->counters.rtt_last_ms = rtt;
		if (l->counters.rtt_samples == 0 || rtt < l->counters.rtt_min_ms)
			l->counters.rtt_min_ms = rtt;
		if (rtt > l->counters.rtt_max_ms)
			l->counters.rtt_max_ms = rtt;
		l->counters.rtt_sum_ms += rtt;
		l->counters.rtt_samples++;
	}
	if (st != MSG_STATUS_OK) {
		l->counters.unexpected++;
		log_debug("dongle link %s: answer to %s refused: %s", l->path, msg_type_to_string(h->type),
			  msg_status_to_string(st));
		complete(l, r, -EPROTO, h, NULL);
	} else {
		complete(l, r, 0, h, &m);
	}
	pump(l);
}

static void handle_frame(struct link *l, size_t len)
{
	struct frame_header h;
	enum frame_error fe = frame_decode(l->rx_buf, len, &h);

	if (fe != FRAME_OK) {
		l->counters.resyncs++;
		if (fe == FRAME_ERR_BAD_CRC) {
			l->counters.crc_errors++;
		} else {
			l->counters.bad_frames++;
			if (fe == FRAME_ERR_BAD_VERSION) {
				l->attempt_other_format++;
				l->other_magic = l->rx_buf[0];
			}
		}
		return;
	}
	l->counters.frames_in++;
	l->attempt_frames++;
	switch (h.kind) {
	case FRAME_REQUEST:
		l->counters.unexpected++;
		return;
	case FRAME_EVENT:
		handle_event(l, &h, l->rx_buf + FRAME_HEADER_SIZE);
		return;
	case FRAME_RESPONSE:
		handle_response(l, &h, l->rx_buf + FRAME_HEADER_SIZE);
		return;
	}
}

static void on_transport_read(void *userdata, const uint8_t *data, size_t len)
{
	struct link *l = userdata;
	uint32_t epoch = l->epoch;

	l->counters.bytes_in += len;
	l->attempt_bytes += len;
	if (l->state == LINK_HANDSHAKE && l->sniff_len < sizeof(l->sniff)) {
		size_t n = min_u32((uint32_t)len, (uint32_t)(sizeof(l->sniff) - l->sniff_len));

		memcpy(l->sniff + l->sniff_len, data, n);
		l->sniff_len += n;
	}
	l->in_read = true;
	while (len > 0) {
		size_t frame_len = 0, n = cobs_stream_feed(&l->rx, data, len, &frame_len);
		uint32_t errors = l->rx.malformed + l->rx.oversize;

		data += n;
		len -= n;
		if (errors != l->rx_errors_seen) {
			l->counters.cobs_errors += errors - l->rx_errors_seen;
			l->counters.resyncs += errors - l->rx_errors_seen;
			l->rx_errors_seen = errors;
		}
		if (frame_len > 0)
			handle_frame(l, frame_len);
		/* A frame's callbacks may have abandoned this stream (HELLO again, port closed, link stopped). */
		if (l->epoch != epoch || l->stopping)
			break;
	}
	l->in_read = false;
	if (l->stopping)
		return;
	/* What the frames' callbacks queued leaves in one write; then pump() queues what found no room in the write
	 * buffer meanwhile (when the link is up). */
	flush(l);
	pump(l);
}

static void on_transport_error(void *userdata, int error)
{
	struct link *l = userdata;

	if (l->state != LINK_UP && l->state != LINK_HANDSHAKE)
		return;
	diag_set(l, LINK_DIAG_PORT_LOST, error, "lost %s (%s): the dongle was unplugged or reset, or the simulator "
		 "stopped. Check that it is plugged in.", l->path, error == -EPIPE ? "hang-up" : strerror(-error));
	abandon_port(l);
}

static void on_transport_writable(void *userdata)
{
	struct link *l = userdata;

	flush(l);
	pump(l);
}

static void maybe_closed(struct link *l)
{
	if (!l->stopping || l->open_handles > 0)
		return;
	set_state(l, LINK_STOPPED, NULL);
	if (l->closed_cb)
		l->closed_cb(l, l->closed_userdata);
}

static void on_transport_closed(void *userdata)
{
	struct link *l = userdata;

	l->port_open = false;
	l->want_writable = false;
	l->open_handles--;
	if (l->stopping) {
		maybe_closed(l);
		return;
	}
	if (l->state == LINK_CLOSING)
		schedule_attempt(l, NULL);
}

/* --- life cycle --- */

int link_new(uv_loop_t *loop, const struct link_options *o, const struct link_callbacks *cb, struct link **ret)
{
	struct transport_callbacks tcb = {
		.read = on_transport_read,
		.error = on_transport_error,
		.writable = on_transport_writable,
		.closed = on_transport_closed,
	};
	struct transport_options to;
	struct link *l;
	int r;

	if (!o->path || !o->path[0])
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	r = str_copy(l->path, sizeof(l->path), o->path);
	if (r < 0)
		goto fail;
	l->loop = loop;
	l->cb = *cb;
	l->o = *o;
	l->o.path = l->path;
	l->o.baud = o->baud ? o->baud : TRANSPORT_DEFAULT_BAUD;
	l->o.request_timeout_ms = o->request_timeout_ms ? o->request_timeout_ms : LINK_REQUEST_TIMEOUT_MS;
	l->o.slow_timeout_ms = o->slow_timeout_ms ? o->slow_timeout_ms : LINK_SLOW_TIMEOUT_MS;
	l->o.max_retransmits = o->max_retransmits ? o->max_retransmits : LINK_MAX_RETRANSMITS;
	l->o.hello_timeout_ms = o->hello_timeout_ms ? o->hello_timeout_ms : LINK_HELLO_TIMEOUT_MS;
	l->o.hello_attempts = o->hello_attempts ? o->hello_attempts : LINK_HELLO_ATTEMPTS;
	l->o.reconnect_min_ms = o->reconnect_min_ms ? o->reconnect_min_ms : LINK_RECONNECT_MIN_MS;
	l->o.reconnect_max_ms = o->reconnect_max_ms ? o->reconnect_max_ms : LINK_RECONNECT_MAX_MS;
	l->o.max_requests = o->max_requests ? o->max_requests : LINK_MAX_REQUESTS;
	l->o.max_window = min_u32(o->max_window ? o->max_window : LINK_MAX_WINDOW, 255);
	l->o.write_buffer = o->write_buffer ? o->write_buffer : LINK_WRITE_BUFFER;
	r = -EINVAL;
	if (l->o.reconnect_max_ms < l->o.reconnect_min_ms || l->o.max_retransmits > 16 || l->o.max_requests > 4096 ||
	    l->o.write_buffer < COBS_WIRE_MAX(FRAME_MAX_SIZE) || l->o.hello_attempts > 100)
		goto fail;
	l->backoff_ms = l->o.reconnect_min_ms;
	l->out_cap = l->o.write_buffer;
	l->out = malloc(l->out_cap);
	l->reqs = calloc(l->o.max_requests, sizeof(*l->reqs));
	r = -ENOMEM;
	if (!l->out || !l->reqs)
		goto fail;
	for (uint32_t i = 0; i < l->o.max_requests; i++)
		queue_push(&l->free_reqs, &l->reqs[i]);
	cobs_stream_init(&l->rx, l->rx_buf, sizeof(l->rx_buf));
	to = (struct transport_options){ .path = l->path, .kind = o->kind, .baud = l->o.baud, .flow = o->flow };
	tcb.userdata = l;
	r = transport_new(loop, &to, &tcb, &l->transport);
	if (r < 0)
		goto fail;
	l->state = LINK_STOPPED;
	*ret = l;
	return 0;
fail:
	free(l->reqs);
	free(l->out);
	free(l);
	return r;
}

int link_start(struct link *l)
{
	if (l->stopping || (l->state != LINK_STOPPED && l->state != LINK_FAILED))
		return -EALREADY;
	if (!l->timers_ready) {
		uv_timer_init(l->loop, &l->request_timer);
		uv_timer_init(l->loop, &l->attempt_timer);
		l->request_timer.data = l->attempt_timer.data = l;
		l->open_handles += 2;
		l->timers_ready = true;
	}
	l->failures = 0;
	l->backoff_ms = l->o.reconnect_min_ms;
	attempt(l);
	return 0;
}

static void on_timer_closed(uv_handle_t *handle)
{
	struct link *l = handle->data;

	l->open_handles--;
	maybe_closed(l);
}

void link_stop(struct link *l, void (*closed_cb)(struct link *l, void *userdata), void *userdata)
{
	if (l->stopping)
		return;
	l->closed_cb = closed_cb;
	l->closed_userdata = userdata;
	set_state(l, LINK_STOPPING, NULL);
	l->stopping = true;
	l->epoch++;
	fail_all(l, -ECANCELED);
	if (l->port_open)
		transport_close(l->transport);
	if (l->timers_ready) {
		uv_close((uv_handle_t *)&l->request_timer, on_timer_closed);
		uv_close((uv_handle_t *)&l->attempt_timer, on_timer_closed);
		l->timers_ready = false;
	}
	maybe_closed(l);
}

struct link *link_free(struct link *l)
{
	if (!l)
		return NULL;
	if (l->open_handles > 0) {
		log_err("dongle link %s: freed with %d handle(s) open: this is a bug", l->path, l->open_handles);
		return NULL;
	}
	transport_free(l->transport);
	free(l->reqs);
	free(l->out);
	free(l);
	return NULL;
}

/* --- accessors --- */

enum link_state link_state(const struct link *l)
{
	return l->state;
}

const struct link_diagnosis *link_diagnosis(const struct link *l)
{
	return &l->diag;
}

const struct msg_hello *link_hello(const struct link *l)
{
	return l->have_hello ? &l->hello : NULL;
}

const struct link_counters *link_counters(const struct link *l)
{
	return &l->counters;
}

uint32_t link_window(const struct link *l)
{
	return l->state == LINK_UP ? l->window : 0;
}

uint32_t link_free_slots(const struct link *l)
{
	return l->free_reqs.n;
}

uint32_t link_slot_chunk(const struct link *l)
{
	uint32_t max_frame = l->have_hello ? l->max_frame : FRAME_MIN_LIMIT;

	return min_u32(MSG_SLOT_WRITE_MAX, max_frame - FRAME_OVERHEAD - 4) & ~3u;
}

const char *link_path(const struct link *l)
{
	return l->path;
}

const char *link_transport_name(const struct link *l)
{
	return transport_name(l->transport);
}

int link_rehandshake(struct link *l)
{
	if (l->state != LINK_UP || l->stopping)
		return -ENOTCONN;
	begin_handshake(l, NULL);
	if (!l->stopping)
		fail_all(l, -ECONNRESET);
	return 0;
}

uint64_t link_state_since(const struct link *l)
{
	return l->state_since;
}

const char *link_nrf5_signature(const uint8_t *p, size_t n)
{
	/* In order of evidence: an answer to what we sent beats an event the device sends anyway. */
	for (size_t i = 0; i + 4 <= n; i++) {
		/* Cmd Rsp (0x84) to the pieces of our HELLO: length 0 -> ERROR_INVALID_LENGTH, opcodes 0xB1 and 0x23
		 * -> ERROR_CMD_UNKNOWN (docs/protocol.md §8). */
		if (p[i] == 0x03 && p[i + 1] == 0x84 &&
		    ((p[i + 2] == 0x00 && p[i + 3] == 0x84) ||
		     ((p[i + 2] == 0xb1 || p[i + 2] == 0x23) && p[i + 3] == 0x82)))
			return "Cmd Rsp to our HELLO";
	}
	for (size_t i = 0; i + 6 <= n; i++)
		if (p[i] == 0x05 && p[i + 1] == 0x82 && memcmp(p + i + 2, nrf5_echo + 2, 4) == 0)
			return "Echo Rsp to the nRF5 Echo command";
	/* Device Started (0x81): operating mode 0 test, 1 bootloader, 2 application. */
	for (size_t i = 0; i + 5 <= n; i++)
		if (p[i] == 0x04 && p[i + 1] == 0x81 && p[i + 2] <= 2)
			return "its Device Started event";
	return NULL;
}
