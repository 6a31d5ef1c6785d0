/* Unit tests for the distribution calls of daemon/dongle.c (DIST_*, docs/protocol.md §7.13-7.20) against the fake
 * dongle's scripted Distributor (tests/unit/fake_dongle.c), on one uv loop: the feature check, bad arguments,
 * DIST_START in batches sized by the dongle's max_frame (and resent harmlessly), the slot check, DIST_GET,
 * DIST_TARGETS_GET paged through every target, the four commands with their refusals, the three events delivered
 * to the watcher, and a dongle that rebooted and lost its distribution.
 *
 * Time comes from the loop: run_until() turns it until a condition holds, with a bound on loop time.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dongle.h"
#include "fake_dongle.h"
#include "log.h"
#include "loop_wait.h"
#include "tap.h"

#define TARGETS 200             /* more than one DIST_START batch at max_frame 512 */
#define PAGE 30                 /* DIST_TARGETS_GET entries the fake gives per page */

static uv_loop_t loop;
static uv_timer_t guard;
static char dir[64];

static bool run_until(cond_fn cond, void *ctx, uint64_t max_ms)
{
	return loop_run_until(&loop, &guard, cond, ctx, max_ms);
}

static bool flag_set(void *ctx)
{
	return *(bool *)ctx;
}

static bool never(void *ctx)
{
	(void)ctx;
	return false;
}

/* Lets @ms of loop time pass, for events on their way. */
static void run_for(uint64_t ms)
{
	run_until(never, NULL, ms);
}

/* --- what the client reports --- */

struct seen {
	enum link_state link;
	uint32_t ups;
	uint32_t targets, progresses, states, gaps;
	struct msg_dist_target_evt last_target;
	struct msg_dist_progress last_progress;
	struct msg_dist_state_evt last_state;
};

static void on_target(void *userdata, const struct msg_dist_target_evt *e)
{
	struct seen *s = userdata;

	s->targets++;
	s->last_target = *e;
}

static void on_progress(void *userdata, const struct msg_dist_progress *e)
{
	struct seen *s = userdata;

	s->progresses++;
	s->last_progress = *e;
}

static void on_state(void *userdata, const struct msg_dist_state_evt *e)
{
	struct seen *s = userdata;

	s->states++;
	s->last_state = *e;
}

static void on_link(void *userdata, enum link_state state)
{
	struct seen *s = userdata;

	s->link = state;
	if (state == LINK_UP)
		s->ups++;
}

static void on_gap(void *userdata)
{
	((struct seen *)userdata)->gaps++;
}

static bool is_up(void *ctx)
{
	return ((struct seen *)ctx)->link == LINK_UP;
}

struct done {
	bool done;
	int error;
	char message[200];
	struct msg_dist_info info;              /* DIST_GET */
	uint32_t id;                            /* DIST_TARGETS_GET */
	struct msg_dist_target_info targets[TARGETS];
	size_t n;
};

static void on_start_done(void *userdata, int error, const char *message)
{
	struct done *d = userdata;

	d->done = true;
	d->error = error;
	snprintf(d->message, sizeof(d->message), "%s", message);
}

static void on_reply(void *userdata, const struct link_reply *reply)
{
	struct done *d = userdata;

	d->done = true;
	d->error = dongle_reply_errno(reply);
	if (d->error == 0 && reply->type == MSG_DIST_GET)
		d->info = reply->msg->u.dist_info;
}

static void on_targets(void *userdata, int error, uint32_t id, const struct msg_dist_target_info *t, size_t n)
{
	struct done *d = userdata;

	d->done = true;
	d->error = error;
	d->id = id;
	d->n = n;
	if (n && n <= TARGETS)
		memcpy(d->targets, t, n * sizeof(*t));
}

static void on_upload_done(void *userdata, int error, const char *message)
{
	struct done *d = userdata;

	d->done = true;
	d->error = error;
	snprintf(d->message, sizeof(d->message), "%s", message);
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

static void on_closed(struct dongle *d, void *userdata)
{
	(void)d;
	*(bool *)userdata = true;
}

static struct link_options test_options(const char *path)
{
	return (struct link_options){
		.path = path, .kind = TRANSPORT_TERMIOS, .request_timeout_ms = 100, .slow_timeout_ms = 300,
		.hello_timeout_ms = 100, .hello_attempts = 3, .reconnect_min_ms = 20, .reconnect_max_ms = 160,
	};
}

static const uint8_t fwid[10] = { 0x59, 0x00, 2, 0, 0, 0, 0, 0, 0, 0 };
static const uint8_t metadata[18] = { 2 };

static struct msg_dist_start start_params(uint32_t id, const uint8_t sha256[32])
{
	struct msg_dist_start s = {
		.id = id, .group = 0xC100, .ttl = 5, .timeout_base = 3, .mode = MSG_DIST_MODE_PUSH,
		.policy = MSG_DIST_POLICY_VERIFY_ONLY, .fwid = fwid, .fwid_len = sizeof(fwid), .metadata = metadata,
		.metadata_len = sizeof(metadata),
	};

	memcpy(s.sha256, sha256, 32);
	return s;
}

/* Runs one call to its end. */
#define WAIT(d) run_until(flag_set, &(d).done, 5000)

static void test_without_feature(void)
{
	struct fake_dongle_options fo = { .mode = FAKE_MESHFLEET };
	struct dongle_options dopt = { 0 };
	struct dongle_dist_watcher w = { .link = on_link };
	struct msg_dist_entry e = { 0x0100, 0 };
	struct msg_dist_start s = start_params(1, (uint8_t[32]){ 0 });
	struct seen seen = { 0 };
	struct fake_dongle f;
	struct dongle *d = NULL;
	struct done r = { 0 };
	bool closed = false;
	char path[128];

	snprintf(path, sizeof(path), "%s/no-dist", dir);
	ok(fake_dongle_init(&f, &loop, path, &fo) == 0, "a fake dongle without the DIST feature");
	dopt.link = test_options(path);
	is_int(dongle_new(&loop, &dopt, NULL, &d), 0, "dongle client");
	w.userdata = &seen;
	dongle_dist_watch(d, &w);
	is_int(dongle_dist_start(d, &s, &e, 1, on_start_done, &r), -ENOTCONN, "DIST_START before the link is up");
	is_int(dongle_start(d), 0, "dongle starts");
	ok(run_until(is_up, &seen, 3000), "the link comes up");
	ok(!dongle_dist_supported(d), "no Distributor without the feature bit");
	is_int(dongle_dist_start(d, &s, &e, 1, on_start_done, &r), -EOPNOTSUPP, "DIST_START refused locally");
	is_int(dongle_dist_get(d, on_reply, &r), 0, "DIST_GET goes out anyway ...");
	ok(WAIT(r), "... and is answered");
	is_int(r.error, -EOPNOTSUPP, "NOT_SUPPORTED");
	dongle_stop(d, on_closed, &closed);
	ok(run_until(flag_set, &closed, 2000), "the dongle client stops");
	dongle_free(d);
	close_fake(&f);
	unlink(path);
}

static void test_distribution(void)
{
	struct fake_dongle_options fo = { .mode = FAKE_MESHFLEET, .dist = true, .dist_page_max = PAGE,
					  .max_frame = 512 };
	struct dongle_options dopt = { 0 };
	struct dongle_dist_watcher w = { .target = on_target, .progress = on_progress, .state = on_state,
					 .link = on_link, .gap = on_gap };
	struct msg_dist_entry targets[TARGETS], dup[2] = { { 0x0100, 0 }, { 0x0101, 1 } };
	uint8_t image[4096], sha[32];
	unsigned int len;
	struct msg_dist_start s;
	struct seen seen = { 0 };
	struct fake_dongle f;
	struct dongle *d = NULL;
	struct done r = { 0 };
	bool closed = false, ordered = true;
	char path[128];
	size_t per_batch;

	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (uint8_t)(i * 31u);
	EVP_Digest(image, sizeof(image), sha, &len, EVP_sha256(), NULL);
	for (size_t i = 0; i < TARGETS; i++)
		targets[i] = (struct msg_dist_entry){ (uint16_t)(0x0100 + i), (uint8_t)(i % 2) };
	s = start_params(7, sha);
	snprintf(path, sizeof(path), "%s/dist", dir);
	ok(fake_dongle_init(&f, &loop, path, &fo) == 0, "a fake dongle with a Distributor and 512-byte frames");
	dopt.link = test_options(path);
	is_int(dongle_new(&loop, &dopt, NULL, &d), 0, "dongle client");
	w.userdata = &seen;
	dongle_dist_watch(d, &w);
	is_int(dongle_start(d), 0, "dongle starts");
	ok(run_until(is_up, &seen, 3000), "the watcher hears the link come up");
	ok(dongle_dist_supported(d), "HELLO announces the Distributor");

	/* bad arguments never reach the dongle */
	is_int(dongle_dist_start(d, &s, targets, 0, on_start_done, &r), -EINVAL, "no target");
	is_int(dongle_dist_start(d, &s, targets, 257, on_start_done, &r), -EINVAL, "more than max_targets (256)");
	s.id = 0;
	is_int(dongle_dist_start(d, &s, targets, 1, on_start_done, &r), -EINVAL, "distribution id 0");
	s.id = 7;
	s.fwid_len = 0;
	is_int(dongle_dist_start(d, &s, targets, 1, on_start_done, &r), -EINVAL, "an empty FWID");
	s.fwid_len = MSG_DIST_FWID_MAX + 1;
	is_int(dongle_dist_start(d, &s, targets, 1, on_start_done, &r), -EINVAL, "a FWID over 32 bytes");
	s.fwid_len = sizeof(fwid);
	is_int(dongle_dist_suspend(d, 0, on_reply, &r), -EINVAL, "DIST_SUSPEND of id 0");
	is_int((int)f.dist.batches, 0, "nothing was sent");

	/* the slot must hold the image first */
	is_int(dongle_dist_start(d, &s, targets, TARGETS, on_start_done, &r), 0, "DIST_START before the upload");
	ok(WAIT(r), "answered");
	is_int(r.error, -EBADMSG, "DIST_SLOT_MISMATCH: %s", r.message);
	has_str(r.message, "targets 0..", "the message names the batch");
	memset(&r, 0, sizeof(r));
	is_int(dongle_upload_start(d, image, sizeof(image), on_upload_done, &r), 0, "upload the image");
	ok(WAIT(r), "upload ends");
	is_int(r.error, 0, "uploaded: %s", r.message);

	/* batches */
	memset(&r, 0, sizeof(r));
	is_int(dongle_dist_start(d, &s, targets, TARGETS, on_start_done, &r), 0, "DIST_START of %d targets", TARGETS);
	ok(WAIT(r), "answered");
	is_int(r.error, 0, "started: %s", r.message);
	per_batch = (512 - FRAME_OVERHEAD - msg_dist_start_size(sizeof(fwid), sizeof(metadata), 0)) / 3;
	is_int((int)f.dist.max_batch, (int)per_batch, "each batch as large as a 512-byte frame holds");
	is_int((int)f.dist.batches, (int)((TARGETS + per_batch - 1) / per_batch), "so %d targets take that many",
	       TARGETS);
	is_int(f.dist.state, MSG_DIST_RUNNING, "the distribution runs once the last batch arrived");
	is_int(f.dist.t[TARGETS - 1].address, 0x0100 + TARGETS - 1, "the last target is where it belongs");
	is_int(f.dist.t[1].image_index, 1, "with its image index");
	memset(&r, 0, sizeof(r));
	is_int(dongle_dist_start(d, &s, targets, TARGETS, on_start_done, &r), 0, "the same DIST_START again");
	ok(WAIT(r), "answered");
	is_int(r.error, 0, "is harmless (idempotent by id)");
	memset(&r, 0, sizeof(r));
	s.id = 8;
	is_int(dongle_dist_start(d, &s, dup, 2, on_start_done, &r), 0, "another id while one runs");
	ok(WAIT(r), "answered");
	is_int(r.error, -EBUSY, "BUSY");
	s.id = 7;

	/* DIST_GET and the paged targets */
	memset(&r, 0, sizeof(r));
	is_int(dongle_dist_get(d, on_reply, &r), 0, "DIST_GET");
	ok(WAIT(r), "answered");
	is_int(r.error, 0, "OK");
	is_int((int)r.info.id, 7, "id");
	is_int(r.info.state, MSG_DIST_RUNNING, "RUNNING");
	is_int(r.info.total, TARGETS, "total");
	is_int(r.info.pending, TARGETS, "every target pending");
	fake_dongle_dist_target(&f, 5, MSG_DIST_PHASE_INITIATE, MSG_DIST_TARGET_FAILED,
				MSG_DIST_REASON_METADATA_REJECTED);
	memset(&r, 0, sizeof(r));
	is_int(dongle_dist_targets_get(d, on_targets, &r), 0, "DIST_TARGETS_GET of every target");
	ok(WAIT(r), "answered");
	is_int(r.error, 0, "OK");
	is_int((int)r.id, 7, "of distribution 7");
	is_int((int)r.n, TARGETS, "every target");
	is_int((int)f.dist.pages, (TARGETS + PAGE - 1) / PAGE, "in pages of %d", PAGE);
	for (size_t i = 0; i < r.n; i++)
		if (r.targets[i].address != 0x0100 + i)
			ordered = false;
	ok(ordered, "in the distribution's order");
	is_int(r.targets[5].result, MSG_DIST_TARGET_FAILED, "a target's result");
	is_int(r.targets[5].reason, MSG_DIST_REASON_METADATA_REJECTED, "and its reason");

	/* events */
	run_for(50);
	is_int((int)seen.targets, 1, "one DIST_TARGET event");
	is_int(seen.last_target.index, 5, "for target index 5");
	is_int(seen.last_target.t.address, 0x0105, "address 0x0105");
	is_int(seen.last_target.t.reason, MSG_DIST_REASON_METADATA_REJECTED, "metadata_rejected");
	fake_dongle_dist_progress(&f, 3, 10, 199);
	run_for(50);
	is_int((int)seen.progresses, 1, "one DIST_PROGRESS event");
	is_int(seen.last_progress.blocks_done, 3, "3 blocks done");
	is_int(seen.last_progress.blocks, 10, "of 10");

	/* commands */
	memset(&r, 0, sizeof(r));
	is_int(dongle_dist_apply(d, 7, on_reply, &r), 0, "DIST_APPLY while running");
	ok(WAIT(r), "answered");
	is_int(r.error, -EBADFD, "BAD_STATE");
	memset(&r, 0, sizeof(r));
	is_int(dongle_dist_suspend(d, 9, on_reply, &r), 0, "DIST_SUSPEND of another id");
	ok(WAIT(r), "answered");
	is_int(r.error, -ENOENT, "DIST_UNKNOWN_ID");
	memset(&r, 0, sizeof(r));
	is_int(dongle_dist_suspend(d, 7, on_reply, &r), 0, "DIST_SUSPEND");
	ok(WAIT(r), "answered");
	is_int(r.error, 0, "OK");
	run_for(50);
	is_int(seen.last_state.state, MSG_DIST_SUSPENDED, "DIST_STATE SUSPENDED reached the watcher");
	memset(&r, 0, sizeof(r));
	is_int(dongle_dist_suspend(d, 7, on_reply, &r), 0, "DIST_SUSPEND again");
	ok(WAIT(r), "answered");
	is_int(r.error, -EBADFD, "BAD_STATE");
	memset(&r, 0, sizeof(r));
	is_int(dongle_dist_resume(d, 7, on_reply, &r), 0, "DIST_RESUME");
	ok(WAIT(r), "answered");
	is_int(r.error, 0, "OK");
	memset(&r, 0, sizeof(r));
	is_int(dongle_dist_cancel(d, 7, on_reply, &r), 0, "DIST_CANCEL");
	ok(WAIT(r), "answered");
	is_int(r.error, 0, "OK");
	run_for(100);
	is_int(seen.last_state.state, MSG_DIST_CANCELLED, "DIST_STATE CANCELLED");
	is_int((int)f.dist.cancels, 1, "the fake saw one cancel");

	/* a reboot loses it */
	fake_dongle_reboot(&f, MSG_RESET_WATCHDOG);
	fake_dongle_send_log(&f, MSG_LOG_INFO, "core", "boot", 0);
	run_for(300);    /* the link notices the restart (the event sequence went back) */
	ok(run_until(is_up, &seen, 3000), "the link is up again");
	memset(&r, 0, sizeof(r));
	is_int(dongle_dist_get(d, on_reply, &r), 0, "DIST_GET after the reboot");
	ok(WAIT(r), "answered");
	is_int(r.info.state, MSG_DIST_IDLE, "IDLE: the distribution is gone");
	memset(&r, 0, sizeof(r));
	is_int(dongle_dist_targets_get(d, on_targets, &r), 0, "DIST_TARGETS_GET after the reboot");
	ok(WAIT(r), "answered");
	is_int(r.error, -EBADFD, "BAD_STATE: no distribution");

	dongle_dist_watch(d, NULL);
	dongle_stop(d, on_closed, &closed);
	ok(run_until(flag_set, &closed, 2000), "the dongle client stops");
	dongle_free(d);
	close_fake(&f);
	unlink(path);
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
	snprintf(dir, sizeof(dir), "/tmp/mf-test-dist-XXXXXX");
	if (!mkdtemp(dir)) {
		printf("1..0 # SKIP no temporary directory\n");
		return 0;
	}
	uv_loop_init(&loop);
	uv_timer_init(&loop, &guard);

	test_without_feature();
	test_distribution();

	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	is_int(uv_loop_close(&loop), 0, "every handle closed");
	rmdir(dir);
	return done_testing();
}
