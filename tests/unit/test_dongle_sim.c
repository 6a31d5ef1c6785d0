/* The daemon's own dongle client and link (daemon/dongle.c, link.c, transport.c) against the real firmware core in
 * meshfleet-sim, over its pseudo-terminal. test_link.c runs the link against a fake dongle written for the tests and
 * test_sim_link.c runs the simulator against a small host written for the tests; this test joins the two real
 * halves for the link tests of issue 3:
 *   - 1e-3 corruption, 1e-3 dropped and 1e-3 duplicated bytes in both directions: every request completes exactly
 *     once, intact or failed with a reason, and no corrupted frame is accepted;
 *   - an unplug (SIGUSR1) and replug during an image upload, the dongle powered through it or not: the link
 *     reconnects, the upload resumes where the dongle says it stands, and the slot's SHA-256 matches the image;
 *   - a closed link leaves the simulator's pty open to the next user (no exclusive mode left behind).
 *
 * The simulator binary: $MESHFLEET_SIM, else $MF_BUILDDIR/firmware_dongle/sim/meshfleet-sim. Time comes from the
 * loop; every wait has a generous bound that is not a timing assertion.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "dongle.h"
#include "link.h"
#include "log.h"
#include "loop_wait.h"
#include "tap.h"

#define WAIT_MS 60000           /* bound of every wait; not a timing assertion */
#define ECHOES 300
#define ECHO_WINDOW 8           /* ECHOs kept in flight */

static uv_loop_t loop;
static uv_timer_t guard;
static char tmpdir[256];
static char sim_path[1024];

/* --- the loop as the clock --- */

static bool run_until(cond_fn cond, void *ctx, uint64_t max_ms)
{
	return loop_run_until(&loop, &guard, cond, ctx, max_ms);
}

static bool flag_set(void *ctx)
{
	return *(bool *)ctx;
}

/* --- the simulator, a child on the loop; its "pty: PATH" lines counted --- */

struct sim {
	uv_process_t proc;
	uv_pipe_t out;
	char buf[256];
	char line[512];
	size_t line_len;
	unsigned ptys;                  /* "pty:" lines: 1 at start, one more after each replug */
	bool exited;
	int64_t status;
	int handles;
};

static void on_sim_handle_closed(uv_handle_t *h)
{
	((struct sim *)h->data)->handles--;
}

static void on_sim_exit(uv_process_t *p, int64_t status, int signum)
{
	struct sim *s = p->data;

	s->exited = true;
	s->status = signum ? -signum : status;
}

static void on_sim_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct sim *s = h->data;

	(void)suggested;
	*buf = uv_buf_init(s->buf, sizeof(s->buf));
}

static void on_sim_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
	struct sim *s = stream->data;

	if (n < 0) {
		uv_read_stop(stream);
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		if (buf->base[i] != '\n') {
			if (s->line_len < sizeof(s->line))
				s->line[s->line_len++] = buf->base[i];
			continue;
		}
		if (s->line_len > 5 && memcmp(s->line, "pty: ", 5) == 0)
			s->ptys++;
		s->line_len = 0;
	}
}

static bool sim_has_pty(void *ctx)
{
	struct sim *s = ctx;

	return s->ptys > 0 || s->exited;
}

/* Starts meshfleet-sim with @args (NULL-terminated, after the program) and waits for its first "pty:" line. */
static bool sim_start(struct sim *s, const char *const *args)
{
	char *argv[32] = { sim_path };
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_IGNORE },
		{ .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&s->out },
		{ .flags = UV_INHERIT_FD, .data.fd = 2 },
	};
	uv_process_options_t o = { .file = sim_path, .args = argv, .exit_cb = on_sim_exit, .stdio = stdio,
				   .stdio_count = 3 };
	size_t n = 1;
	int r;

	memset(s, 0, sizeof(*s));
	for (; args[n - 1] && n < sizeof(argv) / sizeof(argv[0]) - 1; n++)
		argv[n] = (char *)args[n - 1];
	uv_pipe_init(&loop, &s->out, 0);
	s->out.data = s->proc.data = s;
	s->handles = 2;
	r = uv_spawn(&loop, &s->proc, &o);
	if (r < 0) {
		printf("# cannot start %s: %s\n", sim_path, uv_strerror(r));
		s->exited = true;
	} else {
		uv_read_start((uv_stream_t *)&s->out, on_sim_alloc, on_sim_read);
	}
	return run_until(sim_has_pty, s, WAIT_MS) && s->ptys > 0;
}

static bool sim_gone(void *ctx)
{
	struct sim *s = ctx;

	return s->handles == 0;
}

/* Stops the simulator; returns its exit status (0 after SIGTERM), or -1 when it had to be killed. */
static int64_t sim_stop(struct sim *s)
{
	if (!s->exited)
		uv_process_kill(&s->proc, SIGTERM);
	uv_close((uv_handle_t *)&s->out, on_sim_handle_closed);
	if (!run_until(flag_set, &s->exited, WAIT_MS)) {
		uv_process_kill(&s->proc, SIGKILL);
		run_until(flag_set, &s->exited, WAIT_MS);
		s->status = -1;
	}
	uv_close((uv_handle_t *)&s->proc, on_sim_handle_closed);
	run_until(sim_gone, s, WAIT_MS);
	return s->status;
}

/* --- the dongle client --- */

struct watch {
	enum link_state state;
	uint32_t ups;
	bool lost, missing;             /* diagnoses seen: port_lost, port_missing */
};

static void on_state(void *userdata, enum link_state state, const struct link_diagnosis *diag)
{
	struct watch *w = userdata;

	w->state = state;
	w->ups += state == LINK_UP;
	if (diag) {
		w->lost |= diag->code == LINK_DIAG_PORT_LOST;
		w->missing |= diag->code == LINK_DIAG_PORT_MISSING;
	}
}

static bool is_up(void *ctx)
{
	return ((struct watch *)ctx)->state == LINK_UP;
}

static struct dongle *new_dongle(const char *path, struct watch *w)
{
	struct dongle_options o = {
		.link = {
			.path = path,
			.kind = TRANSPORT_TERMIOS,
			/* A pty answers in well under a millisecond: short timeouts keep the fault test brief. */
			.request_timeout_ms = 100,
			.hello_timeout_ms = 100,
			.reconnect_min_ms = 20,
			.reconnect_max_ms = 200,
		},
	};
	struct dongle_callbacks cb = { .state = on_state, .userdata = w };
	struct dongle *d = NULL;

	memset(w, 0, sizeof(*w));
	if (dongle_new(&loop, &o, &cb, &d) < 0 || dongle_start(d) < 0) {
		dongle_free(d);
		return NULL;
	}
	return d;
}

static void on_dongle_closed(struct dongle *d, void *userdata)
{
	(void)d;
	*(bool *)userdata = true;
}

static void stop_dongle(struct dongle *d)
{
	bool closed = false;

	dongle_stop(d, on_dongle_closed, &closed);
	ok(run_until(flag_set, &closed, WAIT_MS), "the dongle client stops");
	dongle_free(d);
}

/* --- faults --- */

struct echo {
	int count;                      /* completions: must end at exactly 1 */
	int error;
	uint8_t status;
	bool intact;                    /* the bytes came back unchanged */
	uint8_t data[48];
	size_t len;
};

struct echo_run {
	struct dongle *d;
	struct echo e[ECHOES];
	size_t submitted, completed, in_flight;
	uint64_t rng;
};

static void on_echo(void *userdata, const struct link_reply *r)
{
	struct echo *e = userdata;

	e->count++;
	e->error = r->error;
	e->status = r->status;
	e->intact = r->error == 0 && r->msg && r->msg->u.echo.len == e->len &&
		    memcmp(r->msg->u.echo.data, e->data, e->len) == 0;
}

/* Keeps ECHO_WINDOW ECHOs in flight while the link is up; the condition of run_until(), so checked every turn. */
static bool echoes_done(void *ctx)
{
	struct echo_run *er = ctx;
	size_t completed = 0;

	for (size_t i = 0; i < er->submitted; i++)
		completed += er->e[i].count > 0;
	while (er->submitted < ECHOES && er->submitted - completed < ECHO_WINDOW) {
		struct echo *e = &er->e[er->submitted];

		er->rng = er->rng * 6364136223846793005ull + 1442695040888963407ull;
		e->len = 1 + (size_t)(er->rng >> 33) % sizeof(e->data);
		for (size_t k = 0; k < e->len; k++)
			e->data[k] = (uint8_t)(er->rng >> (k % 8 * 8)) ^ (uint8_t)k;
		if (dongle_echo(er->d, e->data, e->len, on_echo, e) < 0)
			break;          /* not up right now: the next turn tries again */
		er->submitted++;
	}
	return er->submitted == ECHOES && completed == ECHOES;
}

static void test_faults(void)
{
	static struct echo_run er;
	char link_path[300];
	size_t good = 0, with_reason = 0, corrupted = 0, other = 0, twice = 0;
	const struct link_counters *c;
	struct watch w;
	struct sim s;
	struct dongle *d;

	snprintf(link_path, sizeof(link_path), "%s/noisy", tmpdir);
	if (!ok(sim_start(&s, (const char *const[]){ "--link", link_path, "--corrupt", "1e-3", "--drop", "1e-3",
						      "--dup", "1e-3", "--seed", "11", "--quiet", "--die-with-parent",
						      NULL }),
		"meshfleet-sim --corrupt 1e-3 --drop 1e-3 --dup 1e-3 is ready")) {
		sim_stop(&s);
		return;
	}
	d = new_dongle(link_path, &w);
	if (!ok(d != NULL, "the dongle client starts")) {
		sim_stop(&s);
		return;
	}
	ok(run_until(is_up, &w, WAIT_MS), "the link comes up despite the faults");
	memset(&er, 0, sizeof(er));
	er.d = d;
	er.rng = 5;
	ok(run_until(echoes_done, &er, WAIT_MS), "all %d ECHOs completed", ECHOES);
	for (size_t i = 0; i < er.submitted; i++) {
		const struct echo *e = &er.e[i];

		twice += e->count > 1;
		if (e->error == 0 && e->status == MSG_STATUS_OK && e->intact)
			good++;
		else if (e->error == 0)
			corrupted++;
		else if (e->error == -ETIMEDOUT || e->error == -ECONNRESET)
			with_reason++;
		else
			other++;
	}
	c = link_counters(dongle_link(d));
	printf("# %zu good, %zu failed with a reason; %llu CRC errors, %llu other bad frames, %llu COBS errors, "
	       "%llu retransmits, %llu timeouts, %llu handshakes\n", good, with_reason,
	       (unsigned long long)c->crc_errors, (unsigned long long)c->bad_frames,
	       (unsigned long long)c->cobs_errors, (unsigned long long)c->retransmits,
	       (unsigned long long)c->timeouts, (unsigned long long)c->handshakes);
	is_int(twice, 0, "no request completed twice");
	is_int(corrupted, 0, "no answer came back with other bytes or status (no corrupted frame accepted)");
	is_int(other, 0, "every failure is -ETIMEDOUT or -ECONNRESET");
	is_int(good + with_reason, ECHOES, "every request either succeeded or failed with a reason");
	/* About 100 bytes per round trip at 3e-3 faults per byte: a quarter of the transmissions fail, and all four
	 * of one request about once in 200; each such timeout also fails the others in flight. */
	ok(good >= ECHOES * 2 / 3, "most succeed (%zu of %d)", good, ECHOES);
	ok(c->crc_errors + c->bad_frames + c->cobs_errors > 0, "the faults were seen and dropped");
	ok(c->retransmits > 0, "and repaired by retransmission (%llu)", (unsigned long long)c->retransmits);
	stop_dongle(d);
	is_int(sim_stop(&s), 0, "meshfleet-sim exits 0");
}

/* --- unplug and replug during an upload --- */

struct unplug_run {
	struct dongle *d;
	struct sim *s;
	size_t unplug_at;
	bool unplugged;
	bool done;
	int error;
	char message[256];
};

static void on_upload_done(void *userdata, int error, const char *message)
{
	struct unplug_run *ur = userdata;

	ur->done = true;
	ur->error = error;
	snprintf(ur->message, sizeof(ur->message), "%s", message);
}

/* Pulls the plug once the dongle has acknowledged @unplug_at bytes; checked every turn of the loop. */
static bool upload_ends(void *ctx)
{
	struct unplug_run *ur = ctx;

	if (!ur->unplugged && dongle_upload_progress(ur->d)->acked >= ur->unplug_at) {
		ur->unplugged = true;
		uv_process_kill(&ur->s->proc, SIGUSR1);
	}
	return ur->done;
}

struct slot_info {
	bool done;
	int error;
	struct msg_slot_info info;
};

static void on_slot_info(void *userdata, const struct link_reply *r)
{
	struct slot_info *si = userdata;

	si->done = true;
	si->error = dongle_reply_errno(r);
	if (si->error == 0)
		si->info = r->msg->u.slot_info;
}

static bool slot_file_sha256(const char *path, size_t size, uint8_t out[32])
{
	uint8_t *buf = malloc(size);
	unsigned int len = 0;
	bool good = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (buf && fd >= 0 && pread(fd, buf, size, 0) == (ssize_t)size)
		good = EVP_Digest(buf, size, out, &len, EVP_sha256(), NULL) == 1 && len == 32;
	if (fd >= 0)
		close(fd);
	free(buf);
	return good;
}

static void test_unplug_during_upload(bool reboots)
{
	const char *what = reboots ? "unplug with a power cut" : "unplug";
	size_t size = 256 * 1024;
	uint8_t *image = malloc(size), want[32], got[32];
	char link_path[300], slot_path[300];
	/* --unplug-reboots: the unplug also cuts the power; the slot and its records survive in flash */
	const char *args[] = { "--link", link_path, "--slot-file", slot_path, "--unplug-ms", "300", "--quiet",
			       "--die-with-parent", reboots ? "--unplug-reboots" : NULL, NULL };
	const struct dongle_upload_progress *p;
	struct unplug_run ur = { .unplug_at = 64 * 1024 };
	struct slot_info si = { 0 };
	unsigned int len;
	struct watch w;
	struct sim s;
	struct dongle *d;
	uint64_t seed = reboots ? 77 : 7;

	if (!image)
		return;
	for (size_t i = 0; i < size; i++) {
		seed = seed * 6364136223846793005ull + 1442695040888963407ull;
		image[i] = (uint8_t)(seed >> 33);
	}
	EVP_Digest(image, size, want, &len, EVP_sha256(), NULL);
	snprintf(link_path, sizeof(link_path), "%s/dongle-%s", tmpdir, reboots ? "reboots" : "powered");
	snprintf(slot_path, sizeof(slot_path), "%s/slot-%s", tmpdir, reboots ? "reboots" : "powered");
	if (!ok(sim_start(&s, args), "%s: meshfleet-sim is ready", what)) {
		sim_stop(&s);
		free(image);
		return;
	}
	d = new_dongle(link_path, &w);
	if (!ok(d != NULL, "%s: the dongle client starts", what)) {
		sim_stop(&s);
		free(image);
		return;
	}
	ur.d = d;
	ur.s = &s;
	is_int(dongle_upload_start(d, image, size, on_upload_done, &ur), 0, "%s: upload of 256 KiB starts", what);
	ok(run_until(upload_ends, &ur, WAIT_MS), "%s: the upload ends", what);
	ok(ur.unplugged, "%s: the dongle was unplugged after 64 KiB", what);
	is_int(ur.error, 0, "%s: the upload succeeds: %s", what, ur.message);
	p = dongle_upload_progress(d);
	ok(p->drops >= 1, "%s: the upload saw the link drop (%u)", what, p->drops);
	ok(p->resumes >= 1, "%s: and resumed (%u)", what, p->resumes);
	ok(p->bytes_sent < 2 * size, "%s: it did not start over (%llu bytes sent for %zu)", what,
	   (unsigned long long)p->bytes_sent, size);
	is_int(p->acked, size, "%s: every byte acknowledged", what);
	ok(w.lost, "%s: the link diagnosed port_lost", what);
	ok(w.ups >= 2 && link_counters(dongle_link(d))->reconnects >= 1, "%s: and reconnected (%u ups)", what, w.ups);
	is_int(s.ptys, 2, "%s: meshfleet-sim came back on a new pty", what);
	ok(slot_file_sha256(slot_path, size, got) && memcmp(got, want, sizeof(want)) == 0,
	   "%s: the slot file's SHA-256 matches the image", what);
	ok(memcmp(p->sha256, want, sizeof(want)) == 0, "%s: the upload committed that SHA-256", what);
	if (dongle_slot_info(d, on_slot_info, &si) == 0)
		run_until(flag_set, &si.done, WAIT_MS);
	is_int(si.error, 0, "%s: SLOT_INFO answered", what);
	is_int(si.info.state, MSG_SLOT_COMMITTED, "%s: the slot is committed", what);
	is_int(si.info.image_size, size, "%s: with the image's size", what);
	ok(memcmp(si.info.sha256, want, sizeof(want)) == 0, "%s: and its SHA-256", what);
	stop_dongle(d);
	if (!reboots) {
		/* The simulator holds its slave open, so the tty outlives our descriptor, and so would its exclusive
		 * mode (TIOCEXCL): a non-root probe or daemon after us would find the port "busy". Root ignores the
		 * mode when it opens, so the test asks for it. */
		int fd = open(link_path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC), excl = -1;

		ok(fd >= 0 && ioctl(fd, TIOCGEXCL, &excl) == 0, "%s: the pty opens after the link closed", what);
		is_int(excl, 0, "%s: and the link left no exclusive mode on it", what);
		if (fd >= 0)
			close(fd);
	}
	is_int(sim_stop(&s), 0, "%s: meshfleet-sim exits 0", what);
	free(image);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

int main(void)
{
	const char *env = getenv("MESHFLEET_SIM"), *build = getenv("MF_BUILDDIR");

	if (env && env[0])
		snprintf(sim_path, sizeof(sim_path), "%s", env);
	else
		snprintf(sim_path, sizeof(sim_path), "%s/firmware_dongle/sim/meshfleet-sim", build ? build : ".");
	if (access(sim_path, X_OK) != 0) {
		printf("Bail out! no meshfleet-sim at '%s' (build it, or set MESHFLEET_SIM)\n", sim_path);
		return 1;
	}
	snprintf(tmpdir, sizeof(tmpdir), "%s/mf-test-dongle-sim.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(tmpdir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	log_set_level(getenv("MF_TEST_DEBUG") ? LOG_DEBUG : LOG_WARNING);
	uv_loop_init(&loop);
	uv_timer_init(&loop, &guard);

	test_faults();
	test_unplug_during_upload(false);
	test_unplug_during_upload(true);

	uv_close((uv_handle_t *)&guard, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	is_int(uv_loop_close(&loop), 0, "every handle closed");
	if (getenv("MF_KEEP"))
		printf("# kept %s\n", tmpdir);
	else
		nftw(tmpdir, remove_one, 8, FTW_DEPTH | FTW_PHYS);     /* only files this test made */
	return done_testing();
}
