/* Unit tests for daemon/transport.c, daemon/link.c and daemon/dongle.c against a fake dongle on a pseudo-terminal
 * (tests/unit/fake_dongle.c), all on one uv loop: handshake, requests, the window, retransmission answered from the
 * duplicate cache, BUSY, requests that run out of retransmissions, byte faults both ways, garbage between frames,
 * unplug and re-plug, event gaps and restarts, every diagnosis, an image upload that survives an unplug, and one
 * that goes back after a flash error.
 *
 * Time comes from the loop: run_until() turns it until a condition holds, with a bound on loop time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dongle.h"
#include "fake_dongle.h"
#include "link.h"
#include "log.h"
#include "loop_wait.h"
#include "tap.h"
#include "transport.h"

static uv_loop_t loop;
static uv_timer_t guard;
static char dir[64];

/* --- the loop as the clock --- */

static bool run_until(cond_fn cond, void *ctx, uint64_t max_ms)
{
	return loop_run_until(&loop, &guard, cond, ctx, max_ms);
}

static bool never(void *ctx)
{
	(void)ctx;
	return false;
}

/* Lets @ms of loop time pass (to show that something does NOT happen). */
static void run_for(uint64_t ms)
{
	run_until(never, NULL, ms);
}

static bool flag_set(void *ctx)
{
	return *(bool *)ctx;
}

/* --- what the link tells its owner --- */

#define MAX_MARKS 64

struct watch {
	struct link *link;
	enum link_state state;
	uint32_t ups;
	uint32_t changes;
	struct link_diagnosis diag;     /* the last one given with a state change */
	enum link_diag_code codes[MAX_MARKS];
	size_t n_codes;
	uint64_t backoff_at[MAX_MARKS]; /* uv_now() at each entry into BACKOFF */
	size_t n_backoff;
	uint32_t events;
	uint32_t event_mismatch;        /* LOG events whose text is not "event <seq>" */
	uint32_t gaps;
	uint32_t gap_expected, gap_got;
};

static void on_state(void *userdata, enum link_state state, const struct link_diagnosis *diag)
{
	struct watch *w = userdata;

	w->state = state;
	w->changes++;
	if (state == LINK_UP)
		w->ups++;
	if (state == LINK_BACKOFF && w->n_backoff < MAX_MARKS)
		w->backoff_at[w->n_backoff++] = uv_now(&loop);
	if (diag) {
		w->diag = *diag;
		if (w->n_codes < MAX_MARKS)
			w->codes[w->n_codes++] = diag->code;
	}
}

static void on_event(void *userdata, uint32_t seq, const struct msg *m)
{
	struct watch *w = userdata;
	char want[32];

	w->events++;
	if (m->type != MSG_LOG)
		return;
	snprintf(want, sizeof(want), "event %u", seq);
	if (m->u.log.text_len != strlen(want) || memcmp(m->u.log.text, want, m->u.log.text_len) != 0)
		w->event_mismatch++;
}

static void on_gap(void *userdata, uint32_t expected, uint32_t got)
{
	struct watch *w = userdata;

	w->gaps++;
	w->gap_expected = expected;
	w->gap_got = got;
}

static bool is_up(void *ctx)
{
	return ((struct watch *)ctx)->state == LINK_UP;
}

static bool is_failed(void *ctx)
{
	return ((struct watch *)ctx)->state == LINK_FAILED;
}

static bool has_code(const struct watch *w, enum link_diag_code code)
{
	for (size_t i = 0; i < w->n_codes; i++)
		if (w->codes[i] == code)
			return true;
	return false;
}

static struct link_options test_options(const char *path)
{
	return (struct link_options){
		.path = path,
		.kind = TRANSPORT_TERMIOS,
		.request_timeout_ms = 100,
		.slow_timeout_ms = 300,
		.hello_timeout_ms = 100,
		.hello_attempts = 3,
		.reconnect_min_ms = 20,
		.reconnect_max_ms = 160,
	};
}

static struct link *new_link(const struct link_options *o, struct watch *w)
{
	struct link_callbacks cb = { .state = on_state, .event = on_event, .gap = on_gap, .userdata = w };
	struct link *l = NULL;
	int r;

	memset(w, 0, sizeof(*w));
	r = link_new(&loop, o, &cb, &l);
	if (r < 0) {
		printf("# link_new: %s\n", strerror(-r));
		return NULL;
	}
	w->link = l;
	return l;
}

static void on_link_closed(struct link *l, void *userdata)
{
	(void)l;
	*(bool *)userdata = true;
}

static void stop_link(struct link *l)
{
	bool closed = false;

	link_stop(l, on_link_closed, &closed);
	if (!run_until(flag_set, &closed, 2000))
		printf("# link did not close\n");
	link_free(l);
}

static bool fake_closed(void *ctx)
{
	return ((struct fake_dongle *)ctx)->open_handles == 0;
}

static void close_fake(struct fake_dongle *f)
{
	fake_dongle_close(f);
	run_until(fake_closed, f, 1000);
}

static void path_in_dir(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", dir, name);
}

/* --- replies --- */

struct reply {
	int count;                      /* completions: must end at exactly 1 */
	int error;
	uint8_t status;
	uint8_t transmissions;
	uint8_t expect[64];
	size_t expect_len;
	bool data_ok;                   /* ECHO: the bytes came back unchanged */
	uint32_t bytes_written;
};

static void on_reply(void *userdata, const struct link_reply *r)
{
	struct reply *rep = userdata;

	rep->count++;
	rep->error = r->error;
	rep->status = r->status;
	rep->transmissions = r->transmissions;
	if (r->error == 0 && r->type == MSG_ECHO)
		rep->data_ok = r->msg->u.echo.len == rep->expect_len &&
			       memcmp(r->msg->u.echo.data, rep->expect, rep->expect_len) == 0;
}

static bool reply_done(void *ctx)
{
	return ((struct reply *)ctx)->count > 0;
}

static int echo(struct link *l, struct reply *rep, const uint8_t *data, size_t len)
{
	struct msg m = { .type = MSG_ECHO, .kind = FRAME_REQUEST };

	memset(rep, 0, sizeof(*rep));
	if (len <= sizeof(rep->expect)) {
		memcpy(rep->expect, data, len);
		rep->expect_len = len;
	}
	m.u.echo = (struct msg_data){ .data = data, .len = (uint16_t)len };
	return link_request(l, &m, on_reply, rep);
}

struct replies {
	struct reply *r;
	size_t n;
};

static bool all_done(void *ctx)
{
	struct replies *rs = ctx;

	for (size_t i = 0; i < rs->n; i++)
		if (rs->r[i].count == 0)
			return false;
	return true;
}

static bool held_reaches(void *ctx)
{
	struct fake_dongle *f = ctx;

	return f->n_held >= f->o.window;
}

/* --- tests --- */

static void test_handshake_and_requests(void)
{
	static const uint8_t doc_echo[] = { 0x6d, 0x66, 0x00, 0xff };  /* docs/protocol.md §9.3 */
	struct fake_dongle_options fo = { .mode = FAKE_MESHFLEET };
	struct reply rep, many[LINK_MAX_REQUESTS + 1];
	struct replies rs = { many, 0 };
	struct link_options o;
	struct fake_dongle f;
	struct watch w;
	char path[128];
	struct link *l;
	size_t accepted = 0;
	int r;

	path_in_dir(path, sizeof(path), "dongle-basic");
	ok(fake_dongle_init(&f, &loop, path, &fo) == 0, "fake dongle on %s", f.slave_path);
	o = test_options(path);
	l = new_link(&o, &w);
	is_int(link_request(l, &(struct msg){ .type = MSG_ECHO, .kind = FRAME_REQUEST }, on_reply, &rep), -ENOTCONN,
	       "a request before the link is up is refused with -ENOTCONN");
	is_int(link_start(l), 0, "link starts");
	ok(run_until(is_up, &w, 2000), "handshake: the link comes up");
	is_str(link_transport_name(l), "termios", "a pty goes through termios");
	is_int(f.hellos, 1, "one HELLO was enough");
	is_int(link_window(l), 8, "window from HELLO");
	ok(link_hello(l) && link_hello(l)->fw_minor == 1, "firmware version from HELLO");
	is_int(link_counters(l)->handshakes, 1, "one handshake counted");
	is_int(link_counters(l)->attempts, 1, "one attempt");
	is_int(link_start(l), -EALREADY, "starting twice is refused");

	is_int(echo(l, &rep, doc_echo, sizeof(doc_echo)), 0, "ECHO queued");
	ok(run_until(reply_done, &rep, 1000), "ECHO answered");
	is_int(rep.count, 1, "completed once");
	is_int(rep.error, 0, "no error");
	is_int(rep.status, MSG_STATUS_OK, "status OK");
	ok(rep.data_ok, "the bytes came back, 00 and ff included");
	is_int(rep.transmissions, 1, "no retransmission");
	is_int(f.max_id_seen, MSG_HELLO_ID + 1, "the first request after HELLO has id MSG_HELLO_ID + 1");
	ok(link_counters(l)->rtt_samples == 1, "RTT measured");

	/* The window: the dongle sits on its requests; no more than W may be in flight. */
	f.hold = true;
	for (size_t i = 0; i < LINK_MAX_REQUESTS + 1; i++) {
		uint8_t b = (uint8_t)i;

		r = echo(l, &many[i], &b, 1);
		if (r == 0)
			accepted++;
		else
			break;
	}
	is_int(accepted, LINK_MAX_REQUESTS, "link_request accepts LINK_MAX_REQUESTS ...");
	is_int(echo(l, &many[LINK_MAX_REQUESTS], (const uint8_t *)"x", 1), -ENOBUFS, "... then says -ENOBUFS");
	ok(run_until(held_reaches, &f, 1000), "the dongle gets requests");
	run_for(150);
	is_int(f.n_held, 8, "exactly the window (8) is in flight while the dongle holds them");
	ok(link_counters(l)->retransmits > 0, "held requests are retransmitted ...");
	is_int(f.duplicates_answered, 0, "... and never reach the dongle as new requests");
	fake_dongle_release(&f);
	rs.n = accepted;
	ok(run_until(all_done, &rs, 5000), "all %zu queued requests complete", accepted);
	{
		size_t good = 0, once = 0;

		for (size_t i = 0; i < accepted; i++) {
			good += many[i].error == 0 && many[i].data_ok;
			once += many[i].count == 1;
		}
		is_int(good, accepted, "every one with its own bytes");
		is_int(once, accepted, "every one exactly once");
	}
	stop_link(l);
	close_fake(&f);
}

static void test_retransmit_busy_timeout(void)
{
	struct fake_dongle_options fo = { .mode = FAKE_MESHFLEET, .max_frame = 512 };
	struct msg cfg = { .type = MSG_MESH_CONFIG, .kind = FRAME_REQUEST };
	struct reply rep, a, b;
	struct link_options o;
	struct fake_dongle f;
	struct watch w;
	uint8_t big[600];
	char path[128];
	struct link *l;

	path_in_dir(path, sizeof(path), "dongle-retransmit");
	ok(fake_dongle_init(&f, &loop, path, &fo) == 0, "fake dongle");
	o = test_options(path);
	l = new_link(&o, &w);
	link_start(l);
	ok(run_until(is_up, &w, 2000), "up");

	/* A lost response: the request goes again with the retransmission flag and the dongle answers it from its
	 * duplicate cache, without executing it a second time. */
	cfg.u.mesh_config = (struct msg_mesh_config){ .net_key_index = 0, .app_key_index = 0, .iv_index = 0,
						      .seq = 100, .address = 1 };
	f.drop_responses = 1;
	memset(&rep, 0, sizeof(rep));
	is_int(link_request(l, &cfg, on_reply, &rep), 0, "MESH_CONFIG queued");
	ok(run_until(reply_done, &rep, 2000), "MESH_CONFIG answered after its response was lost");
	is_int(rep.error, 0, "no error");
	is_int(rep.status, MSG_STATUS_OK, "status OK");
	is_int(rep.transmissions, 2, "sent twice");
	is_int(f.retransmit_flags, 1, "the second copy carries the retransmission flag");
	is_int(f.executed[MSG_MESH_CONFIG], 1, "executed once");
	is_int(f.duplicates_answered, 1, "answered from the duplicate cache");
	is_int(link_counters(l)->retransmits, 1, "one retransmission counted");
	run_for(300);
	is_int(rep.count, 1, "still exactly one completion after the retransmission timers had time to fire");

	memset(big, 0x55, sizeof(big));
	is_int(echo(l, &rep, big, sizeof(big)), -EMSGSIZE, "a frame over the dongle's max_frame (512) is refused");

	/* BUSY: sent again as a new request, with a new id, after a pause. */
	f.busy_responses = 2;
	is_int(echo(l, &rep, (const uint8_t *)"busy", 4), 0, "ECHO queued");
	ok(run_until(reply_done, &rep, 2000), "answered after two BUSY");
	is_int(rep.status, MSG_STATUS_OK, "finally OK");
	is_int(link_counters(l)->busy_retries, 2, "two BUSY retries counted");
	ok(rep.data_ok, "with its bytes");

	/* A dongle that stops answering: after every retransmission the request fails with -ETIMEDOUT, the one in
	 * flight beside it with -ECONNRESET, and the link says HELLO again. */
	f.ignore_requests = true;
	is_int(echo(l, &a, (const uint8_t *)"a", 1), 0, "request A");
	is_int(echo(l, &b, (const uint8_t *)"b", 1), 0, "request B");
	ok(run_until(reply_done, &a, 3000), "A completes");
	ok(run_until(reply_done, &b, 1000), "B completes");
	is_int(a.error, -ETIMEDOUT, "A: no answer after every retransmission");
	is_int(a.transmissions, 1 + LINK_MAX_RETRANSMITS, "A went 1 + max_retransmits times");
	is_int(b.error, -ECONNRESET, "B: the link went down first");
	is_int(link_counters(l)->timeouts, 1, "one timeout counted");
	ok(has_code(&w, LINK_DIAG_NO_RESPONSE), "diagnosis no_response");
	f.ignore_requests = false;
	ok(run_until(is_up, &w, 2000), "the link is up again after a new HELLO");
	is_int(link_counters(l)->handshakes, 2, "two handshakes");
	is_int(a.count + b.count, 2, "each completed exactly once");
	stop_link(l);
	close_fake(&f);
}

/* Byte faults both ways: 300 ECHOs and a stream of LOG events; nothing corrupted gets through, everything ends. */
struct fault_run {
	struct link *link;
	struct fake_dongle *fake;
	struct reply r[300];
	uint8_t data[300][32];
	size_t submitted;
	size_t completed;
	uv_timer_t tick;
	uint64_t rng;
};

static void fault_tick(uv_timer_t *timer)
{
	struct fault_run *fr = timer->data;
	size_t in_flight = 0;

	for (size_t i = 0; i < fr->submitted; i++)
		in_flight += fr->r[i].count == 0;
	while (fr->submitted < 300 && in_flight < 8) {
		size_t i = fr->submitted, len;
		struct msg m = { .type = MSG_ECHO, .kind = FRAME_REQUEST };

		fr->rng = fr->rng * 6364136223846793005ull + 1442695040888963407ull;
		len = 1 + (size_t)(fr->rng >> 33) % 32;
		for (size_t k = 0; k < len; k++)
			fr->data[i][k] = (uint8_t)(fr->rng >> (k % 8 * 8)) ^ (uint8_t)k;
		memset(&fr->r[i], 0, sizeof(fr->r[i]));
		memcpy(fr->r[i].expect, fr->data[i], len);
		fr->r[i].expect_len = len;
		m.u.echo = (struct msg_data){ .data = fr->data[i], .len = (uint16_t)len };
		if (link_request(fr->link, &m, on_reply, &fr->r[i]) < 0)
			break;          /* not up right now: the next tick tries again */
		fr->submitted++;
		in_flight++;
	}
	{
		char text[32];

		snprintf(text, sizeof(text), "event %u", fr->fake->event_seq);
		fake_dongle_send_log(fr->fake, MSG_LOG_INFO, "test", text, 0);
	}
}

static bool faults_done(void *ctx)
{
	struct fault_run *fr = ctx;
	size_t done = 0;

	for (size_t i = 0; i < fr->submitted; i++)
		done += fr->r[i].count > 0;
	return fr->submitted == 300 && done == 300;
}

static void test_byte_faults(void)
{
	struct fake_dongle_options fo = { .mode = FAKE_MESHFLEET, .seed = 7, .out_corrupt = 1e-3, .out_drop = 1e-3,
					  .out_dup = 1e-3, .in_corrupt = 1e-3, .in_drop = 1e-3, .in_dup = 1e-3 };
	static struct fault_run fr;
	struct link_options o;
	struct fake_dongle f;
	struct watch w;
	char path[128];
	struct link *l;
	size_t good = 0, failed_with_reason = 0, other = 0, twice = 0, corrupted = 0;
	const struct link_counters *c;

	path_in_dir(path, sizeof(path), "dongle-faults");
	ok(fake_dongle_init(&f, &loop, path, &fo) == 0, "fake dongle with 1e-3 corruption, drops and duplicates");
	o = test_options(path);
	l = new_link(&o, &w);
	link_start(l);
	ok(run_until(is_up, &w, 3000), "up despite the faults");
	memset(&fr, 0, sizeof(fr));
	fr.link = l;
	fr.fake = &f;
	fr.rng = 42;
	uv_timer_init(&loop, &fr.tick);
	fr.tick.data = &fr;
	uv_timer_start(&fr.tick, fault_tick, 0, 5);
	ok(run_until(faults_done, &fr, 60000), "all 300 requests completed");
	uv_timer_stop(&fr.tick);
	uv_close((uv_handle_t *)&fr.tick, NULL);
	for (size_t i = 0; i < fr.submitted; i++) {
		struct reply *rep = &fr.r[i];

		twice += rep->count > 1;
		if (rep->error == 0 && rep->status == MSG_STATUS_OK && rep->data_ok)
			good++;
		else if (rep->error == 0)
			corrupted++;
		else if (rep->error == -ETIMEDOUT || rep->error == -ECONNRESET)
			failed_with_reason++;
		else
			other++;
	}
	c = link_counters(l);
	printf("# %zu good, %zu failed with a reason; %llu CRC errors, %llu other bad frames, %llu COBS errors, "
	       "%llu retransmits, %llu handshakes, %u events (%llu gaps)\n", good, failed_with_reason,
	       (unsigned long long)c->crc_errors, (unsigned long long)c->bad_frames,
	       (unsigned long long)c->cobs_errors, (unsigned long long)c->retransmits,
	       (unsigned long long)c->handshakes, w.events, (unsigned long long)c->event_gaps);
	is_int(twice, 0, "no request completed twice");
	is_int(corrupted, 0, "no answer came back with other bytes or status (no corrupted frame accepted)");
	is_int(other, 0, "every failure is -ETIMEDOUT or -ECONNRESET");
	is_int(good + failed_with_reason, 300, "every request either succeeded or failed with a reason");
	/* At 3e-3 faults per byte, a round trip of ~100 bytes fails about one time in four, so all four
	 * transmissions of one request fail about once per run; each such timeout also fails the (at most 8) others
	 * in flight. 200 leaves room for a dozen of them. */
	ok(good >= 200, "most succeed (%zu of 300)", good);
	ok(c->crc_errors + c->bad_frames + c->cobs_errors > 0, "the faults were seen and dropped");
	ok(c->retransmits > 0, "and repaired by retransmission (%llu)", (unsigned long long)c->retransmits);
	ok(w.events > 100, "events arrive (%u)", w.events);
	is_int(w.event_mismatch, 0, "no event with corrupted text was delivered");
	stop_link(l);
	close_fake(&f);
}

static void test_garbage_between_frames(void)
{
	struct fake_dongle_options fo = { .mode = FAKE_MESHFLEET, .seed = 3 };
	struct reply reps[60];
	struct replies rs = { reps, 0 };
	struct link_options o;
	struct fake_dongle f;
	struct watch w;
	char path[128];
	struct link *l;
	size_t good = 0;
	const struct link_counters *c;

	path_in_dir(path, sizeof(path), "dongle-garbage");
	ok(fake_dongle_init(&f, &loop, path, &fo) == 0, "fake dongle that sends garbage before every frame");
	f.garbage_between = true;
	o = test_options(path);
	l = new_link(&o, &w);
	link_start(l);
	ok(run_until(is_up, &w, 2000), "up");
	for (size_t i = 0; i < 60; i++) {
		uint8_t b[3] = { (uint8_t)i, 0, (uint8_t)~i };

		if (echo(l, &reps[i], b, sizeof(b)) == 0)
			rs.n++;
	}
	is_int(rs.n, 60, "60 requests queued");
	ok(run_until(all_done, &rs, 5000), "all answered");
	for (size_t i = 0; i < 60; i++)
		good += reps[i].count == 1 && reps[i].error == 0 && reps[i].data_ok;
	is_int(good, 60, "every one, once, intact: garbage costs no frame");
	c = link_counters(l);
	is_int(c->resyncs, f.garbage_bursts, "one resync per garbage burst");
	is_int(c->crc_errors + c->bad_frames + c->cobs_errors, c->resyncs, "each resync has its cause counted");
	is_int(c->retransmits, 0, "nothing was retransmitted");
	stop_link(l);
	close_fake(&f);
}

static void on_replug(uv_timer_t *timer)
{
	fake_dongle_replug(timer->data);
}

static void test_unplug(void)
{
	struct fake_dongle_options fo = { .mode = FAKE_MESHFLEET };
	struct link_options o;
	struct fake_dongle f;
	struct watch w;
	struct reply rep;
	uv_timer_t replug;
	uint64_t down_at, min_gap = UINT64_MAX;
	uint64_t attempts_before;
	char path[128];
	struct link *l;

	path_in_dir(path, sizeof(path), "dongle-unplug");
	ok(fake_dongle_init(&f, &loop, path, &fo) == 0, "fake dongle");
	o = test_options(path);
	l = new_link(&o, &w);
	link_start(l);
	ok(run_until(is_up, &w, 2000), "up");
	f.hold = true;
	is_int(echo(l, &rep, (const uint8_t *)"x", 1), 0, "a request in flight");
	run_for(20);
	attempts_before = link_counters(l)->attempts;
	uv_update_time(&loop);
	down_at = uv_now(&loop);
	fake_dongle_unplug(&f);
	f.hold = false;
	f.n_held = 0;
	uv_timer_init(&loop, &replug);
	replug.data = &f;
	uv_timer_start(&replug, on_replug, 300, 0);
	ok(run_until(reply_done, &rep, 1000), "the request in flight completes");
	is_int(rep.error, -ECONNRESET, "with -ECONNRESET");
	ok(has_code(&w, LINK_DIAG_PORT_LOST), "diagnosis port_lost");
	ok(run_until(is_up, &w, 3000), "after the re-plug the link is up again");
	ok(has_code(&w, LINK_DIAG_PORT_MISSING), "while unplugged: port_missing");
	is_int(link_counters(l)->reconnects, 1, "one reconnect counted");
	is_int(f.hellos, 2, "re-handshake on the new pty");
	for (size_t i = 1; i < w.n_backoff; i++)
		if (w.backoff_at[i] - w.backoff_at[i - 1] < min_gap)
			min_gap = w.backoff_at[i] - w.backoff_at[i - 1];
	ok(w.n_backoff >= 2, "several attempts while unplugged (%zu)", w.n_backoff);
	ok(link_counters(l)->attempts - attempts_before <= 8,
	   "no busy loop: %llu attempts in %llu ms", (unsigned long long)(link_counters(l)->attempts - attempts_before),
	   (unsigned long long)(uv_now(&loop) - down_at));
	ok(min_gap >= (uint64_t)o.reconnect_min_ms - 1, "attempts at least reconnect_min_ms apart (%llu ms)",
	   (unsigned long long)min_gap);
	is_int(echo(l, &rep, (const uint8_t *)"again", 5), 0, "a request after the re-plug");
	ok(run_until(reply_done, &rep, 1000) && rep.error == 0 && rep.data_ok, "is answered");
	uv_close((uv_handle_t *)&replug, NULL);
	stop_link(l);
	close_fake(&f);
}

static bool events_reach(void *ctx)
{
	struct watch *w = ctx;

	return w->events >= 3;
}

static bool handshakes_reach_2(void *ctx)
{
	struct watch *w = ctx;

	return link_counters(w->link)->handshakes >= 2 && w->state == LINK_UP;
}

static void test_events(void)
{
	struct fake_dongle_options fo = { .mode = FAKE_MESHFLEET };
	struct link_options o;
	struct fake_dongle f;
	struct watch w;
	char path[128];
	struct link *l;

	path_in_dir(path, sizeof(path), "dongle-events");
	ok(fake_dongle_init(&f, &loop, path, &fo) == 0, "fake dongle");
	o = test_options(path);
	l = new_link(&o, &w);
	link_start(l);
	ok(run_until(is_up, &w, 2000), "up");
	fake_dongle_send_log(&f, MSG_LOG_INFO, "test", "event 0", 0);
	fake_dongle_send_log(&f, MSG_LOG_INFO, "test", "event 1", 0);
	fake_dongle_send_log(&f, MSG_LOG_INFO, "test", "event 4", 2);
	ok(run_until(events_reach, &w, 1000), "three events delivered");
	is_int(w.gaps, 1, "one gap reported");
	is_int(w.gap_expected, 2, "expected 2");
	is_int(w.gap_got, 4, "got 4");
	is_int(link_counters(l)->events_missed, 2, "two events missed");
	is_int(w.event_mismatch, 0, "texts intact");

	fake_dongle_reboot(&f, MSG_RESET_WATCHDOG);
	fake_dongle_send_log(&f, MSG_LOG_WARNING, "test", "event 0", 0);
	ok(run_until(handshakes_reach_2, &w, 2000), "the sequence going back makes the link say HELLO again");
	ok(has_code(&w, LINK_DIAG_DONGLE_RESTARTED), "diagnosis dongle_restarted");
	is_int(link_hello(l)->reset_reason, MSG_RESET_WATCHDOG, "HELLO tells why it restarted");
	is_int(w.events, 4, "the first event after the restart was delivered too");
	stop_link(l);
	close_fake(&f);
}

/* --- diagnoses --- */

/* Runs one attempt on @o and returns the diagnosis it ends with. */
static bool diagnose(struct link_options *o, struct watch *w, struct link_diagnosis *ret)
{
	struct link *l;
	bool failed;

	o->max_attempts = 1;
	l = new_link(o, w);
	if (!l)
		return false;
	link_start(l);
	failed = run_until(is_failed, w, 3000);
	*ret = *link_diagnosis(l);
	stop_link(l);
	return failed;
}

static void diag_with_fake(const char *name, const struct fake_dongle_options *fo, enum link_diag_code code,
			   const char *needle1, const char *needle2, struct fake_dongle *ret_fake_copy)
{
	struct link_diagnosis d;
	struct link_options o;
	struct fake_dongle f;
	struct watch w;
	char path[128];

	path_in_dir(path, sizeof(path), name);
	if (fake_dongle_init(&f, &loop, path, fo) < 0) {
		ok(0, "%s: fake dongle", name);
		return;
	}
	o = test_options(path);
	ok(diagnose(&o, &w, &d), "%s: the attempt fails", name);
	is_str(link_diag_code_to_string(d.code), link_diag_code_to_string(code), "%s: diagnosis", name);
	has_str(d.message, needle1, "%s: message names the cause", name);
	has_str(d.message, needle2, "%s: message says what to do", name);
	ok(!strstr(d.message, "Retrying") && !strstr(d.message, "retries"), "%s: one attempt: no promise of a retry",
	   name);
	printf("#   %s\n", d.message);
	if (ret_fake_copy) {
		ret_fake_copy->raw_in_len = f.raw_in_len;
		memcpy(ret_fake_copy->raw_in, f.raw_in, f.raw_in_len);
		ret_fake_copy->nrf5_need = f.nrf5_need;
	}
	close_fake(&f);
}

static int set_dac_override(bool on)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2];
	uint32_t bits = (1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH);

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -errno;
	if (on)
		data[0].effective |= bits & data[0].permitted;
	else
		data[0].effective &= ~bits;
	if (syscall(SYS_capset, &hdr, data) < 0)
		return -errno;
	return 0;
}

static void test_diagnoses(void)
{
	struct fake_dongle_options fo = { .mode = FAKE_MESHFLEET };
	struct link_diagnosis d;
	struct link_options o;
	struct fake_dongle f, seen;
	struct watch w;
	char path[128], pidtext[32], want_group[64], speaks[64];
	struct group *gr;
	int fd;

	/* missing path */
	path_in_dir(path, sizeof(path), "no-such-tty");
	o = test_options(path);
	ok(diagnose(&o, &w, &d), "missing: the attempt fails");
	is_str(link_diag_code_to_string(d.code), "port_missing", "missing: port_missing");
	has_str(d.message, path, "missing: names the path");
	has_str(d.message, "meshfleetctl dongle probe", "missing: says how to find the port");
	is_int(d.error, -ENOENT, "missing: -ENOENT");
	ok(!strstr(d.message, "Retrying"), "missing: one attempt: no promise of a retry");

	/* not a serial port */
	path_in_dir(path, sizeof(path), "plain-file");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	close(fd);
	o = test_options(path);
	ok(diagnose(&o, &w, &d), "plain file: the attempt fails");
	is_str(link_diag_code_to_string(d.code), "not_a_serial_port", "plain file: not_a_serial_port");

	/* permission denied: a device node the daemon's user may not open. As root, drop the capabilities that
	 * bypass file modes for the length of the attempt; the file belongs to root with no owner bits. */
	path_in_dir(path, sizeof(path), "locked-tty");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	close(fd);
	gr = getgrnam("dialout");
	if (geteuid() == 0 && gr)
		(void)chown(path, 0, gr->gr_gid);
	chmod(path, 0060);
	gr = getgrgid(gr && geteuid() == 0 ? gr->gr_gid : getegid());
	snprintf(want_group, sizeof(want_group), "usermod -aG %s", gr ? gr->gr_name : "?");
	o = test_options(path);
	if (geteuid() == 0 && set_dac_override(false) < 0) {
		printf("ok %d # SKIP cannot drop CAP_DAC_OVERRIDE\n", ++tap_run);
	} else {
		bool failed = diagnose(&o, &w, &d);

		if (geteuid() == 0)
			set_dac_override(true);
		ok(failed, "permission: the attempt fails");
		is_str(link_diag_code_to_string(d.code), "permission_denied", "permission: permission_denied");
		has_str(d.message, want_group, "permission: names the group and the command");
		has_str(d.message, "----rw----", "permission: shows the mode");
		is_int(d.error, -EACCES, "permission: -EACCES");
		ok(!strstr(d.message, "Retrying"), "permission: one attempt: no promise of a retry");
	}

	/* busy: this process holds the port's lock */
	path_in_dir(path, sizeof(path), "dongle-busy");
	if (fake_dongle_init(&f, &loop, path, &fo) == 0) {
		fd = open(f.slave_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
		ok(fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0, "busy: the test locks %s", f.slave_path);
		o = test_options(path);
		ok(diagnose(&o, &w, &d), "busy: the attempt fails");
		is_str(link_diag_code_to_string(d.code), "port_busy", "busy: port_busy");
		snprintf(pidtext, sizeof(pidtext), "pid %ld (", (long)getpid());
		has_str(d.message, pidtext, "busy: names the process that holds it");
		ok(!strstr(d.message, "Retrying") && !strstr(d.message, "retries"),
		   "busy: one attempt: no promise of a retry");
		if (fd >= 0)
			close(fd);
		close_fake(&f);
	}

	fo.mode = FAKE_SILENT;
	diag_with_fake("dongle-silent", &fo, LINK_DIAG_NO_BYTES, "no bytes at all", "companion firmware flashed", NULL);

	fo.mode = FAKE_NRF5;
	memset(&seen, 0, sizeof(seen));
	diag_with_fake("dongle-nrf5", &fo, LINK_DIAG_NRF5_MESH, "nRF5 SDK for Mesh serial format (Cmd Rsp to our HELLO)",
		       "Flash the meshfleet firmware", &seen);
	is_int(seen.nrf5_need, -1, "nRF5: our HELLOs end on an nRF5 packet boundary (docs/protocol.md §8)");
	{
		static const uint8_t hello_wire[] = { 0x00, 0x03, 0xb1, 0x01, 0x01, 0x05, 0xb1, 0x4d, 0x46, 0x30, 0x01,
						      0x05, 0x23, 0xbb, 0x3f, 0x57, 0x00 };

		ok(seen.raw_in_len >= sizeof(hello_wire) && memcmp(seen.raw_in, hello_wire, sizeof(hello_wire)) == 0,
		   "nRF5: what we sent is the documented HELLO (§9.1)");
	}

	fo.mode = FAKE_NRF5_STARTED;
	diag_with_fake("dongle-nrf5-started", &fo, LINK_DIAG_NRF5_MESH, "Device Started", "meshfleet firmware", NULL);

	fo.mode = FAKE_GARBAGE;
	memset(&seen, 0, sizeof(seen));
	diag_with_fake("dongle-garbage-only", &fo, LINK_DIAG_NO_VALID_FRAMES, "no valid frame", "wrong baud rate",
		       &seen);
	ok(memmem(seen.raw_in, seen.raw_in_len, "\x05\x02\xaa\xbb\xcc\xdd", 6) != NULL,
	   "garbage: the nRF5 Echo probe was sent to make sure");

	fo.mode = FAKE_MESHFLEET;
	fo.proto_major = 2;
	snprintf(speaks, sizeof(speaks), "speaks 2.0, meshfleetd speaks %d.%d", MSG_VERSION_MAJOR, MSG_VERSION_MINOR);
	diag_with_fake("dongle-v2", &fo, LINK_DIAG_VERSION_MISMATCH, "the dongle on", speaks, NULL);
	fo.proto_major = 0;

	fo.mode = FAKE_OTHER_FORMAT;
	diag_with_fake("dongle-b2", &fo, LINK_DIAG_FRAME_FORMAT, "magic byte 0xb2", "Flash the firmware", NULL);

	/* the recogniser on its own, with the documented answer of an nRF5 device to our HELLO (§8) */
	{
		static const uint8_t cmd_rsp[] = { 0x03, 0x84, 0x00, 0x84, 0x03, 0x84, 0xb1, 0x82, 0x03, 0x84, 0xb1,
						   0x82, 0x03, 0x84, 0x23, 0x82 };
		static const uint8_t echo_rsp[] = { 0x05, 0x82, 0xaa, 0xbb, 0xcc, 0xdd };
		static const uint8_t noise[] = { 0x03, 0x84, 0x55, 0x12, 0x04, 0x81, 0x07, 0x05, 0x82, 0xaa };

		is_str(link_nrf5_signature(cmd_rsp, sizeof(cmd_rsp)), "Cmd Rsp to our HELLO", "recognises Cmd Rsp");
		is_str(link_nrf5_signature(echo_rsp, sizeof(echo_rsp)), "Echo Rsp to the nRF5 Echo command",
		       "recognises Echo Rsp");
		ok(link_nrf5_signature(noise, sizeof(noise)) == NULL, "near misses are not nRF5");
	}
}

/* A diagnosis says whether the link tries again, and when: the first failures of a link that retries end with
 * "Retrying in N s." (its backoff), the last of max_attempts with "Gave up after N attempts.". */
static bool backoffs_reach_2(void *ctx)
{
	return ((struct watch *)ctx)->n_backoff >= 2;
}

static void test_retry_wording(void)
{
	struct link_diagnosis d;
	struct link_options o;
	struct watch w;
	char path[128];
	struct link *l;

	path_in_dir(path, sizeof(path), "no-such-tty");
	o = test_options(path);
	l = new_link(&o, &w);
	link_start(l);
	ok(run_until(backoffs_reach_2, &w, 2000), "retrying: the link keeps trying");
	is_str(link_diag_code_to_string(w.diag.code), "port_missing", "retrying: port_missing");
	has_str(w.diag.message, "plugged in? ", "retrying: the cause and the next step come first");
	has_str(w.diag.message, "stopped (its messages are in the log). Retrying in 0.04 s.",
		"retrying: then when the link tries again (the second backoff)");
	stop_link(l);

	o.max_attempts = 3;
	l = new_link(&o, &w);
	link_start(l);
	ok(run_until(is_failed, &w, 2000), "max_attempts 3: the link gives up");
	d = *link_diagnosis(l);
	has_str(d.message, "in the log). Gave up after 3 attempts.", "max_attempts 3: the last diagnosis says so");
	ok(!strstr(d.message, "Retrying"), "max_attempts 3: and promises no retry");
	stop_link(l);
}

/* --- the typed client and the upload --- */

struct upload_result {
	bool done;
	int error;
	char message[256];
};

static void on_upload_done(void *userdata, int error, const char *message)
{
	struct upload_result *u = userdata;

	u->done = true;
	u->error = error;
	snprintf(u->message, sizeof(u->message), "%s", message);
}

static bool upload_done(void *ctx)
{
	return ((struct upload_result *)ctx)->done;
}

struct dongle_watch {
	enum link_state state;
	uint32_t ups;
};

static void on_dongle_state(void *userdata, enum link_state state, const struct link_diagnosis *diag)
{
	struct dongle_watch *dw = userdata;

	(void)diag;
	dw->state = state;
	dw->ups += state == LINK_UP;
}

static bool dongle_ups_2(void *ctx)
{
	struct dongle_watch *dw = ctx;

	return dw->ups >= 2 && dw->state == LINK_UP;
}

static bool dongle_is_up(void *ctx)
{
	return ((struct dongle_watch *)ctx)->state == LINK_UP;
}

static void on_dongle_closed(struct dongle *d, void *userdata)
{
	(void)d;
	*(bool *)userdata = true;
}

static bool log_lines_2(void *ctx)
{
	return dongle_log_count(ctx) >= 2;
}

static void test_upload(void)
{
	struct fake_dongle_options fo = { .mode = FAKE_MESHFLEET, .unplug_at = 50 * 1024, .replug_after_ms = 150 };
	struct dongle_callbacks cb = { .state = on_dongle_state };
	struct dongle_options dopt = { 0 };
	struct dongle_watch dw = { 0 };
	struct upload_result u = { 0 };
	const struct dongle_upload_progress *p;
	uint8_t want[32], got[32];
	unsigned int len;
	size_t size = 100 * 1024;
	uint8_t *image = malloc(size);
	struct fake_dongle f;
	struct dongle *d = NULL;
	struct reply rep;
	char path[128];
	uint64_t writes_before;
	bool closed = false;
	json_t *j;

	for (size_t i = 0; i < size; i++)
		image[i] = (uint8_t)(i * 2654435761u >> 13);
	EVP_Digest(image, size, want, &len, EVP_sha256(), NULL);
	path_in_dir(path, sizeof(path), "dongle-upload");
	ok(fake_dongle_init(&f, &loop, path, &fo) == 0, "fake dongle that unplugs at 50 KiB");
	dopt.link = test_options(path);
	cb.userdata = &dw;
	is_int(dongle_new(&loop, &dopt, &cb, &d), 0, "dongle client");
	is_int(dongle_upload_start(d, image, size, on_upload_done, &u), 0, "upload accepted before the link is up");
	is_int(dongle_upload_start(d, image, size, on_upload_done, &u), -EBUSY, "a second upload is refused");
	is_int(dongle_start(d), 0, "dongle starts");
	ok(run_until(upload_done, &u, 20000), "the upload ends");
	is_int(u.error, 0, "successfully: %s", u.message);
	p = dongle_upload_progress(d);
	is_int(p->resumes, 1, "resumed once after the unplug");
	ok(p->drops >= 1, "the drop was seen (%u)", p->drops);
	is_int(f.plugs, 2, "the dongle was unplugged and came back");
	is_int(f.slot_begins, 1, "SLOT_BEGIN once: the upload resumed, it did not start over");
	ok(f.slot_bytes_received <= size + 2u * 8 * 1024, "bytes written twice are bounded by the window (%llu)",
	   (unsigned long long)f.slot_bytes_received);
	is_int(f.slot_state, MSG_SLOT_COMMITTED, "the slot is committed");
	EVP_Digest(f.slot, size, got, &len, EVP_sha256(), NULL);
	ok(memcmp(got, want, sizeof(want)) == 0, "the slot's SHA-256 matches the image");
	ok(memcmp(p->sha256, want, sizeof(want)) == 0, "the upload announced that SHA-256");
	is_int(p->acked, size, "every byte acknowledged");
	ok(run_until(dongle_is_up, &dw, 2000), "up");

	/* the same image again: SLOT_INFO says it is there */
	writes_before = f.executed[MSG_SLOT_WRITE];
	memset(&u, 0, sizeof(u));
	is_int(dongle_upload_start(d, image, size, on_upload_done, &u), 0, "the same upload again");
	ok(run_until(upload_done, &u, 2000) && u.error == 0, "ends at once");
	has_str(u.message, "already holds", "because the slot already holds it");
	is_int(f.executed[MSG_SLOT_WRITE], writes_before, "without writing");

	/* flash that goes bad during the upload: the dongle's hash at commit disagrees */
	image[0] ^= 0x80;               /* another image, so that the slot must be written again */
	memset(&u, 0, sizeof(u));
	f.corrupt_slot = true;
	is_int(dongle_upload_start(d, image, size, on_upload_done, &u), 0, "an upload onto bad flash");
	ok(run_until(upload_done, &u, 10000), "ends");
	is_int(u.error, -EBADMSG, "with -EBADMSG");
	has_str(u.message, "computed another SHA-256", "saying the dongle's hash differs");
	is_int(f.slot_state, MSG_SLOT_EMPTY, "the dongle emptied its slot");
	is_int(f.slot_begins, 2, "that upload began afresh (another image)");
	image[0] ^= 0x80;

	/* typed requests */
	memset(&rep, 0, sizeof(rep));
	is_int(dongle_slot_info(d, on_reply, &rep), 0, "SLOT_INFO");
	ok(run_until(reply_done, &rep, 1000) && rep.error == 0, "answered");
	memset(&rep, 0, sizeof(rep));
	is_int(dongle_slot_write(d, 0, image, 16, on_reply, &rep), 0, "SLOT_WRITE on an empty slot");
	ok(run_until(reply_done, &rep, 1000), "answered");
	is_int(rep.status, MSG_STATUS_BAD_STATE, "BAD_STATE");
	is_int(dongle_slot_write(d, 0, image, 0, on_reply, &rep), -EINVAL, "an empty SLOT_WRITE is refused");
	memset(&rep, 0, sizeof(rep));
	is_int(dongle_stats(d, on_reply, &rep), 0, "STATS");
	ok(run_until(reply_done, &rep, 1000) && rep.error == 0 && rep.status == MSG_STATUS_OK, "answered");

	/* forwarded log lines */
	fake_dongle_send_log(&f, MSG_LOG_WARNING, "slot", "erased 102 pages", 0);
	fake_dongle_send_log(&f, MSG_LOG_INFO, "mesh", "bad\nline", 0);
	ok(run_until(log_lines_2, d, 1000), "two log lines kept");
	is_str(dongle_log_line(d, 0)->module, "slot", "module");
	is_str(dongle_log_line(d, 0)->text, "erased 102 pages", "text");
	is_str(dongle_log_line(d, 1)->text, "bad?line", "a line end in a log line is neutralised");
	j = dongle_log_to_json(d, 1);
	ok(j && json_array_size(json_object_get(j, "lines")) == 1, "log JSON honours the limit");
	json_decref(j);
	j = dongle_to_json(d, "sim");
	ok(j != NULL, "dongle JSON");
	is_str(json_string_value(json_object_get(j, "state")), "up", "JSON state");
	is_str(json_string_value(json_object_get(json_object_get(j, "firmware"), "version")), "0.1.0",
	       "JSON firmware version");
	ok(json_integer_value(json_object_get(json_object_get(j, "counters"), "reconnects")) == 1,
	   "JSON counters: one reconnect");
	is_str(json_string_value(json_object_get(json_object_get(j, "upload"), "state")), "failed",
	       "JSON: the last upload failed");
	json_decref(j);

	/* RESET: the dongle answers, restarts, and the link says HELLO again */
	memset(&rep, 0, sizeof(rep));
	is_int(dongle_reset(d, MSG_RESET_MODE_APP, on_reply, &rep), 0, "RESET");
	ok(run_until(reply_done, &rep, 1000) && rep.error == 0, "answered");
	ok(run_until(dongle_ups_2, &dw, 2000), "up again after the reset");
	is_int(dongle_hello(d)->reset_reason, MSG_RESET_HOST, "reset reason HOST");

	dongle_stop(d, on_dongle_closed, &closed);
	ok(run_until(flag_set, &closed, 2000), "dongle stops");
	dongle_free(d);
	close_fake(&f);
	free(image);
}

/* The dongle's flash fails a write: it answers FLASH_ERROR and starts that page again, behind what it had already
 * acknowledged (slot.c, write_failed()). The upload must go back with it and end with the SHA-256 checked at commit;
 * the fake garbles the page, so writing on from anywhere else fails that check. Then the same with the FLASH_ERROR
 * answer lost, and with flash that keeps failing. */
static void test_upload_flash_error(void)
{
	struct fake_dongle_options fo = { .mode = FAKE_MESHFLEET };
	struct dongle_callbacks cb = { .state = on_dongle_state };
	struct dongle_options dopt = { 0 };
	struct dongle_watch dw = { 0 };
	struct upload_result u = { 0 };
	const struct dongle_upload_progress *p;
	uint8_t want[32], got[32];
	unsigned int len;
	size_t size = 64 * 1024;
	uint8_t *image = malloc(size);
	struct fake_dongle f;
	struct dongle *d = NULL;
	char path[128];
	bool closed = false;

	for (size_t i = 0; i < size; i++)
		image[i] = (uint8_t)(i * 2246822519u >> 11);
	path_in_dir(path, sizeof(path), "dongle-flash");
	ok(fake_dongle_init(&f, &loop, path, &fo) == 0, "fake dongle");
	dopt.link = test_options(path);
	dopt.upload_max_flash_errors = 3;
	cb.userdata = &dw;
	is_int(dongle_new(&loop, &dopt, &cb, &d), 0, "dongle client");
	is_int(dongle_start(d), 0, "dongle starts");
	ok(run_until(dongle_is_up, &dw, 2000), "up");

	/* the write at 10 KiB fails: the dongle goes back to the page at 8 KiB */
	f.flash_failures = 1;
	f.flash_fail_at = 10 * 1024 + 100;
	EVP_Digest(image, size, want, &len, EVP_sha256(), NULL);
	is_int(dongle_upload_start(d, image, size, on_upload_done, &u), 0, "an upload onto flash that fails once");
	ok(run_until(upload_done, &u, 10000), "ends");
	is_int(u.error, 0, "successfully: %s", u.message);
	p = dongle_upload_progress(d);
	is_int(f.flash_errors, 1, "the dongle answered FLASH_ERROR once");
	is_int(p->flash_errors, 1, "the upload counted it");
	ok(p->rewinds >= 1, "and went back (%u rewinds)", p->rewinds);
	is_int(f.slot_begins, 1, "without starting over");
	is_int(f.slot_state, MSG_SLOT_COMMITTED, "the dongle committed the slot: its SHA-256 matched");
	EVP_Digest(f.slot, size, got, &len, EVP_sha256(), NULL);
	ok(memcmp(got, want, sizeof(want)) == 0, "the slot holds the image");

	/* the FLASH_ERROR answer is lost: the refusals of the writes behind it say where the dongle went */
	image[0] ^= 0x80;
	EVP_Digest(image, size, want, &len, EVP_sha256(), NULL);
	memset(&u, 0, sizeof(u));
	f.flash_failures = 1;
	f.flash_fail_at = 30 * 1024 + 100;
	f.flash_fail_mute = true;
	is_int(dongle_upload_start(d, image, size, on_upload_done, &u), 0,
	       "an upload whose FLASH_ERROR answer is lost");
	ok(run_until(upload_done, &u, 10000), "ends");
	is_int(u.error, 0, "successfully: %s", u.message);
	is_int(f.flash_errors, 2, "the dongle answered FLASH_ERROR again");
	ok(p->rewinds >= 1 && p->rewinds <= 2, "went back to the page, without a loop of refusals (%u rewinds)",
	   p->rewinds);
	is_int(f.slot_state, MSG_SLOT_COMMITTED, "the slot is committed");
	EVP_Digest(f.slot, size, got, &len, EVP_sha256(), NULL);
	ok(memcmp(got, want, sizeof(want)) == 0, "the slot holds the image");
	f.flash_fail_mute = false;

	/* flash that fails every time: the upload gives up after upload_max_flash_errors */
	image[0] ^= 0x80;
	memset(&u, 0, sizeof(u));
	f.flash_failures = 100;
	f.flash_fail_at = 5 * 1024;
	is_int(dongle_upload_start(d, image, size, on_upload_done, &u), 0, "an upload onto flash that always fails");
	ok(run_until(upload_done, &u, 10000), "ends");
	is_int(u.error, -EIO, "with -EIO");
	has_str(u.message, "Replace the dongle", "saying what to do");
	is_int(dongle_upload_progress(d)->flash_errors, 4, "after the fourth failure (the limit is 3)");
	f.flash_failures = 0;

	dongle_stop(d, on_dongle_closed, &closed);
	ok(run_until(flag_set, &closed, 2000), "dongle stops");
	dongle_free(d);
	close_fake(&f);
	free(image);
}

static void test_transport(void)
{
	struct transport_port_info ports[8];
	char out[256], group[64];
	size_t n = 0;

	int r = transport_probe_list(ports, 8, &n);

	ok(r == 0, "the serial port list can be read (%zu ports)", n);
	ok(!transport_usb_id_is_dongle(0x1915, 0x521f) && transport_usb_id_is_dongle(0x1915, 0x520f) &&
	   transport_usb_id_is_dongle(0x2fe3, 0x0100), "dongle USB ids");
	is_int(transport_kind_for_path("/dev/pts/0"), TRANSPORT_TERMIOS, "ptys go through termios");
	is_int(transport_kind_for_path("/nonexistent/tty"), TRANSPORT_TERMIOS, "so do missing paths");
	is_int(transport_port_access("/dev/null", out, sizeof(out), group, sizeof(group)), 0, "access of /dev/null");
	is_str(out, "crw-rw-rw- root:root", "described like ls -l");
}

/* A real serial port, only when named in MF_TEST_SERIAL_PORT (nothing is written to it): libserialport opens and
 * configures it, the poll handle starts, and it closes again. */
struct serial_probe {
	bool closed;
	int error;
};

static void sp_read(void *userdata, const uint8_t *data, size_t len)
{
	(void)userdata;
	(void)data;
	(void)len;
}

static void sp_error(void *userdata, int error)
{
	((struct serial_probe *)userdata)->error = error;
}

static void sp_writable(void *userdata)
{
	(void)userdata;
}

static void sp_closed(void *userdata)
{
	((struct serial_probe *)userdata)->closed = true;
}

static void test_real_serial_port(void)
{
	const char *port = getenv("MF_TEST_SERIAL_PORT");
	struct serial_probe sp = { 0 };
	struct transport_callbacks cb = { .read = sp_read, .error = sp_error, .writable = sp_writable,
					  .closed = sp_closed, .userdata = &sp };
	struct transport_options to = { .path = port, .kind = TRANSPORT_AUTO };
	struct transport *t = NULL;
	int r;

	if (!port || !*port) {
		printf("ok %d # SKIP set MF_TEST_SERIAL_PORT=/dev/ttyS0 to open a real port\n", ++tap_run);
		return;
	}
	is_int(transport_kind_for_path(port), TRANSPORT_SERIALPORT, "%s goes through libserialport", port);
	is_int(transport_new(&loop, &to, &cb, &t), 0, "transport");
	r = transport_open(t);
	is_int(r, 0, "libserialport opens %s: %s", port, r < 0 ? strerror(-r) : "ok");
	if (r == 0) {
		is_str(transport_name(t), "serialport", "through libserialport");
		is_int(transport_start(t), 0, "reading starts");
		transport_close(t);
		ok(run_until(flag_set, &sp.closed, 1000), "and it closes");
	}
	transport_free(t);
}

int main(void)
{
	int fd = posix_openpt(O_RDWR | O_NOCTTY);

	if (fd < 0) {
		printf("1..0 # SKIP no pseudo-terminals here (%s)\n", strerror(errno));
		return 0;
	}
	close(fd);
	log_set_level(getenv("MF_TEST_DEBUG") ? LOG_DEBUG : LOG_WARNING);
	snprintf(dir, sizeof(dir), "/tmp/mf-test-link-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP no temporary directory\n");
		return 0;
	}
	uv_loop_init(&loop);
	uv_timer_init(&loop, &guard);

	test_transport();
	test_real_serial_port();
	test_handshake_and_requests();
	test_retransmit_busy_timeout();
	test_byte_faults();
	test_garbage_between_frames();
	test_unplug();
	test_events();
	test_diagnoses();
	test_retry_wording();
	test_upload();
	test_upload_flash_error();

	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	is_int(uv_loop_close(&loop), 0, "every handle closed");
	{
		static const char *const names[] = { "plain-file", "locked-tty", "dongle-basic", "dongle-retransmit",
			"dongle-faults", "dongle-garbage", "dongle-unplug", "dongle-events", "dongle-busy", "dongle-silent",
			"dongle-nrf5", "dongle-nrf5-started", "dongle-garbage-only", "dongle-v2", "dongle-b2",
			"dongle-upload", "dongle-flash" };
		char p[128];

		for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			path_in_dir(p, sizeof(p), names[i]);
			unlink(p);
		}
		rmdir(dir);
	}
	return done_testing();
}
