/* upload-bench: the benchmark of issue 3 ("Benchmark"): an image upload of 400 KiB to meshfleet-sim over its
 * pseudo-terminal, as a ratio of the raw pty throughput measured in the same run, and the daemon's CPU time per
 * frame. Figures, not pass/fail: the exit status is 0 whenever the benchmark ran (README.md beside this file).
 *
 * Each round measures, one after the other:
 *   raw one-way   - 400 KiB written to a fresh pty pair (raw mode both sides) and read back on the other side, one
 *                   thread, poll(): the most the pty can move.
 *   raw windowed  - the same 400 KiB as 1 KiB chunks with the simulator's window in flight, each answered with 4
 *                   bytes by a trivial peer process on the other side: the protocol's window and chunk size with
 *                   no protocol work, the fairer ceiling for a windowed protocol.
 *   upload        - dongle_upload_start() of a fresh random 400 KiB image through the daemon's dongle client and
 *                   link (daemon/libmeshfleetd.a) to meshfleet-sim: SLOT_INFO, SLOT_BEGIN, the SLOT_WRITEs,
 *                   SLOT_COMMIT. Wall time, the process's CPU time (getrusage, user + sys: the daemon side only;
 *                   the simulator is another process) and the link's frame counters.
 * The table shows the medians over the rounds.
 *
 * Usage: upload-bench [--rounds N] [--size KIB] [SIM]
 *   SIM: the meshfleet-sim binary (default $MESHFLEET_SIM, else firmware_dongle/sim/meshfleet-sim)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "dongle.h"
#include "link.h"
#include "log.h"

#define GOAL_RATIO 0.80
#define RAW_CHUNK 1024          /* the SLOT_WRITE data of one frame (link_slot_chunk() with the simulator) */
#define RAW_ACK 4
#define WAIT_MS 30000           /* bound of every wait; not a timing assertion */
#define MAX_ROUNDS 99

static size_t image_size = 400 * 1024;
static size_t raw_window;       /* the simulator's request_window (HELLO), set once the link is up */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

static void die(const char *what)
{
	fprintf(stderr, "upload-bench: error: %s\n", what);
	exit(1);
}

static void die_errno(const char *what)
{
	fprintf(stderr, "upload-bench: error: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static void fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		rng_state ^= rng_state << 13;
		rng_state ^= rng_state >> 7;
		rng_state ^= rng_state << 17;
		p[i] = (uint8_t)(rng_state >> 24);
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, (size_t)n * sizeof(*s));
	qsort(s, (size_t)n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/* ---------------------------------------------------------------- raw pty */

static void set_raw(int fd)
{
	struct termios tio;

	if (tcgetattr(fd, &tio) < 0)
		die_errno("tcgetattr");
	cfmakeraw(&tio);
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		die_errno("tcsetattr");
}

/* A raw pty pair: *master, *slave, both non-blocking. The daemon side is the slave (as with meshfleet-sim). */
static void pty_pair(int *master, int *slave)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK), s;

	if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0)
		die_errno("posix_openpt");
	s = open(ptsname(m), O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (s < 0)
		die_errno("open the pty slave");
	set_raw(m);
	set_raw(s);
	*master = m;
	*slave = s;
}

/* @size bytes from the slave to the master, one thread. Returns seconds. */
static double raw_one_way(size_t size)
{
	static uint8_t out[65536], in[65536];
	size_t sent = 0, got = 0;
	int m, s;
	double t0;

	fill_random(out, sizeof(out));
	pty_pair(&m, &s);
	t0 = now_s();
	while (got < size) {
		struct pollfd p[2] = { { .fd = s, .events = sent < size ? POLLOUT : 0 }, { .fd = m, .events = POLLIN } };

		if (poll(p, 2, WAIT_MS) <= 0)
			die("raw one-way: the pty stalled");
		if (p[0].revents & POLLOUT) {
			size_t n = size - sent < sizeof(out) ? size - sent : sizeof(out);
			ssize_t w = write(s, out, n);

			if (w < 0 && errno != EAGAIN)
				die_errno("raw one-way: write");
			sent += w > 0 ? (size_t)w : 0;
		}
		if (p[1].revents & POLLIN) {
			ssize_t r = read(m, in, sizeof(in));

			if (r < 0 && errno != EAGAIN)
				die_errno("raw one-way: read");
			got += r > 0 ? (size_t)r : 0;
		}
	}
	t0 = now_s() - t0;
	close(s);
	close(m);
	return t0;
}

/* The peer of raw_windowed(): reads the master, answers RAW_ACK bytes for every RAW_CHUNK. */
static void echo_peer(int m, size_t size)
{
	static uint8_t in[65536];
	static const uint8_t ack[RAW_ACK] = { 1, 2, 3, 4 };
	size_t got = 0, acked = 0;
	int fl = fcntl(m, F_GETFL);

	fcntl(m, F_SETFL, fl & ~O_NONBLOCK);
	while (acked < size / RAW_CHUNK) {
		ssize_t r = read(m, in, sizeof(in));

		if (r <= 0)
			_exit(1);
		got += (size_t)r;
		while (acked < got / RAW_CHUNK) {
			if (write(m, ack, sizeof(ack)) != (ssize_t)sizeof(ack))
				_exit(1);
			acked++;
		}
	}
	/* Closing the master now could drop answers the other side has not read: wait for it to close the slave. */
	while (read(m, in, sizeof(in)) > 0)
		;
	_exit(0);
}

/* @size bytes (a multiple of RAW_CHUNK) as chunks, raw_window in flight, each acknowledged by the peer. */
static double raw_windowed(size_t size)
{
	static uint8_t out[RAW_CHUNK], in[256];
	size_t chunks = size / RAW_CHUNK, sent = 0, acks = 0, ack_bytes = 0, partial = 0;
	double t;
	pid_t pid;
	int m, s, status;

	fill_random(out, sizeof(out));
	pty_pair(&m, &s);
	pid = fork();
	if (pid < 0)
		die_errno("fork");
	if (pid == 0) {
		close(s);
		echo_peer(m, size);
	}
	close(m);
	t = now_s();
	while (acks < chunks) {
		bool can_send = sent < chunks && sent - acks < raw_window;
		struct pollfd p = { .fd = s, .events = POLLIN | (can_send ? POLLOUT : 0) };

		if (poll(&p, 1, WAIT_MS) <= 0)
			die("raw windowed: the pty stalled");
		if (p.revents & POLLOUT) {
			ssize_t w = write(s, out + partial, RAW_CHUNK - partial);

			if (w < 0 && errno != EAGAIN)
				die_errno("raw windowed: write");
			if (w > 0) {
				partial += (size_t)w;
				if (partial == RAW_CHUNK) {
					partial = 0;
					sent++;
				}
			}
		}
		if (p.revents & POLLIN) {
			ssize_t r = read(s, in, sizeof(in));

			if (r == 0 || (r < 0 && errno != EAGAIN))
				die("raw windowed: the echo peer went away");
			ack_bytes += r > 0 ? (size_t)r : 0;
			acks = ack_bytes / RAW_ACK;
		} else if (p.revents & (POLLHUP | POLLERR)) {
			die("raw windowed: the peer went away");
		}
	}
	t = now_s() - t;
	close(s);
	if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("raw windowed: the echo peer failed");
	return t;
}

/* ---------------------------------------------------------------- the simulator and the dongle client */

static uv_loop_t loop;
static bool timed_out;

static void on_timeout(uv_timer_t *t)
{
	timed_out = true;
}

/* Runs the loop until @done(@ctx) or @ms pass. */
static bool run_until(bool (*done)(void *ctx), void *ctx, uint64_t ms)
{
	uv_timer_t timer;

	timed_out = false;
	uv_timer_init(&loop, &timer);
	uv_timer_start(&timer, on_timeout, ms, 0);
	while (!done(ctx) && !timed_out)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	return done(ctx);
}

struct watch {
	enum link_state state;
};

static void on_state(void *userdata, enum link_state state, const struct link_diagnosis *diag)
{
	((struct watch *)userdata)->state = state;
	if (diag && diag->code != LINK_DIAG_NONE)
		fprintf(stderr, "upload-bench: link: %s\n", diag->message);
}

static bool is_up(void *ctx)
{
	return ((struct watch *)ctx)->state == LINK_UP;
}

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

/* When the upload entered WRITING and COMMIT: checked after every loop iteration. */
struct phases {
	const struct dongle *d;
	double writing, commit;
};

static void on_check(uv_check_t *h)
{
	struct phases *ph = h->data;
	enum dongle_upload_state st = dongle_upload_progress(ph->d)->state;

	if (st == DONGLE_UPLOAD_WRITING && ph->writing == 0)
		ph->writing = now_s();
	if (st == DONGLE_UPLOAD_COMMIT && ph->commit == 0)
		ph->commit = now_s();
}

static bool stopped;

static void on_stopped(struct dongle *d, void *userdata)
{
	stopped = true;
}

static bool is_stopped(void *ctx)
{
	return stopped;
}

static pid_t sim_start(const char *sim, const char *link_path, const char *err_path)
{
	pid_t pid = fork();

	if (pid < 0)
		die_errno("fork");
	if (pid == 0) {
		int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644), null = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 2);
		if (null >= 0)
			dup2(null, 1);
		execl(sim, sim, "--link", link_path, "--die-with-parent", "--quiet", (char *)NULL);
		fprintf(stderr, "exec %s: %s\n", sim, strerror(errno));
		_exit(127);
	}
	return pid;
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *out)
{
	fprintf(out, "Usage: upload-bench [--rounds N] [--size KIB] [SIM]\n"
		     "Image upload to meshfleet-sim over its pty against the raw pty, measured in the same run.\n"
		     "SIM: the meshfleet-sim binary (default $MESHFLEET_SIM, else firmware_dongle/sim/meshfleet-sim).\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rounds", required_argument, NULL, 'r' },
		{ "size", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double one_way[MAX_ROUNDS], windowed[MAX_ROUNDS], up[MAX_ROUNDS], cpu_frame[MAX_ROUNDS];
	double frames_out[MAX_ROUNDS], frames_in[MAX_ROUNDS], cpu_up[MAX_ROUNDS], writing[MAX_ROUNDS];
	double before_ms[MAX_ROUNDS], after_ms[MAX_ROUNDS];
	struct phases ph = { 0 };
	uv_check_t check;
	const char *sim = getenv("MESHFLEET_SIM");
	char tmpdir[] = "/tmp/upload-bench.XXXXXX", link_path[300], err_path[300];
	struct dongle_callbacks cb = { .state = on_state };
	struct dongle_options dopt = { 0 };
	struct watch w = { .state = LINK_STOPPED };
	struct dongle *d = NULL;
	uint8_t *image;
	int rounds = 5, c, status;
	double mb, m_one, m_win, m_up, ratio_one, ratio_win;
	struct stat st;
	pid_t sim_pid;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			rounds = atoi(optarg);
			if (rounds < 1 || rounds > MAX_ROUNDS) {
				fprintf(stderr, "upload-bench: --rounds: 1..%d\n", MAX_ROUNDS);
				return 2;
			}
			break;
		case 's':
			image_size = (size_t)atoi(optarg) * 1024;
			if (image_size < RAW_CHUNK || image_size > 1000 * 1024) {
				fprintf(stderr, "upload-bench: --size: 1..1000 KiB (the simulator's slot is 1 MiB)\n");
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc)
		sim = argv[optind];
	if (!sim || !*sim)
		sim = "firmware_dongle/sim/meshfleet-sim";
	if (access(sim, X_OK) < 0) {
		fprintf(stderr, "upload-bench: error: meshfleet-sim not found at '%s': pass its path or set "
				"MESHFLEET_SIM (make bench-upload does)\n", sim);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	log_set_level(LOG_WARNING);     /* the upload logs a line or two at info: keep the table readable */

	if (!mkdtemp(tmpdir))
		die_errno("mkdtemp");
	snprintf(link_path, sizeof(link_path), "%s/dongle", tmpdir);
	snprintf(err_path, sizeof(err_path), "%s/sim.err", tmpdir);
	sim_pid = sim_start(sim, link_path, err_path);
	for (int i = 0; i < 1000 && lstat(link_path, &st) < 0; i++)
		usleep(10000);
	if (lstat(link_path, &st) < 0)
		die("meshfleet-sim did not make its --link symlink within 10 s");

	if (uv_loop_init(&loop) < 0)
		die("uv_loop_init");
	dopt.link.path = link_path;
	dopt.link.kind = TRANSPORT_TERMIOS;
	cb.userdata = &w;
	if (dongle_new(&loop, &dopt, &cb, &d) < 0 || dongle_start(d) < 0)
		die("the dongle client would not start");
	if (!run_until(is_up, &w, WAIT_MS))
		die("the link to meshfleet-sim did not come up");
	uv_check_init(&loop, &check);
	uv_unref((uv_handle_t *)&check);
	image = malloc(image_size);
	if (!image)
		die("out of memory");

	raw_window = link_window(dongle_link(d));
	printf("upload-bench: %zu KiB, %d round%s; window %u, chunk %u bytes (link); raw windowed: %zu x %d bytes, "
	       "%d-byte answers\n", image_size / 1024, rounds, rounds == 1 ? "" : "s", link_window(dongle_link(d)),
	       link_slot_chunk(dongle_link(d)), raw_window, RAW_CHUNK, RAW_ACK);
	mb = (double)image_size / 1e6;
	for (int r = 0; r < rounds; r++) {
		const struct link_counters *lc = link_counters(dongle_link(d));
		uint64_t fo, fi, rt;
		struct upload_result u = { 0 };
		double t, cpu;

		one_way[r] = mb / raw_one_way(image_size);
		windowed[r] = mb / raw_windowed(image_size / RAW_CHUNK * RAW_CHUNK);

		fill_random(image, image_size);        /* a new image: the slot does not hold it yet */
		fo = lc->frames_out;
		fi = lc->frames_in;
		rt = lc->retransmits;
		ph = (struct phases){ .d = d };
		check.data = &ph;
		uv_check_start(&check, on_check);
		cpu = cpu_s();
		t = now_s();
		if (dongle_upload_start(d, image, image_size, on_upload_done, &u) < 0)
			die("dongle_upload_start");
		if (!run_until(upload_done, &u, WAIT_MS * 4))
			die("the upload did not end");
		cpu = cpu_s() - cpu;
		uv_check_stop(&check);
		if (ph.writing == 0 || ph.commit == 0)
			ph.writing = ph.commit = t;     /* the phases were not seen: count it all as writing */
		before_ms[r] = (ph.writing - t) * 1e3;
		writing[r] = (double)image_size / 1e6 / (ph.commit - ph.writing);
		after_ms[r] = (now_s() - ph.commit) * 1e3;
		t = now_s() - t;
		if (u.error) {
			fprintf(stderr, "upload-bench: error: the upload failed: %s\n", u.message);
			return 1;
		}
		up[r] = mb / t;
		cpu_up[r] = cpu;
		frames_out[r] = (double)(lc->frames_out - fo);
		frames_in[r] = (double)(lc->frames_in - fi);
		cpu_frame[r] = cpu * 1e6 / frames_out[r];
		printf("  round %d: raw one-way %7.2f MB/s, raw windowed %6.2f MB/s, upload %6.2f MB/s in %.1f ms "
		       "(before the writes %.1f ms, writes %.2f MB/s, commit %.1f ms), CPU %.1f ms, %llu frames out, "
		       "%llu in, %llu retransmits\n", r + 1, one_way[r], windowed[r], up[r], t * 1e3, before_ms[r],
		       writing[r], after_ms[r], cpu * 1e3, (unsigned long long)frames_out[r],
		       (unsigned long long)frames_in[r], (unsigned long long)(lc->retransmits - rt));
		fflush(stdout);
	}

	uv_close((uv_handle_t *)&check, NULL);
	dongle_stop(d, on_stopped, NULL);
	run_until(is_stopped, NULL, WAIT_MS);
	d = dongle_free(d);
	uv_run(&loop, UV_RUN_NOWAIT);
	kill(sim_pid, SIGTERM);
	waitpid(sim_pid, &status, 0);
	unlink(err_path);
	unlink(link_path);
	rmdir(tmpdir);
	free(image);

	m_one = median(one_way, rounds);
	m_win = median(windowed, rounds);
	m_up = median(up, rounds);
	ratio_one = m_up / m_one;
	ratio_win = m_up / m_win;
	printf("\n%-44s %10s\n", "measure (median)", "value");
	printf("%-44s %10.2f\n", "raw pty one-way MB/s", m_one);
	printf("%-44s %10.2f\n", "raw pty windowed round-trip MB/s", m_win);
	printf("%-44s %10.2f\n", "upload MB/s", m_up);
	printf("%-44s %10.3f\n", "ratio upload / raw one-way", ratio_one);
	printf("%-44s %10.3f\n", "ratio upload / raw windowed", ratio_win);
	printf("%-44s %10.2f\n", "  of which the SLOT_WRITE phase MB/s", median(writing, rounds));
	printf("%-44s %10.1f\n", "  before the writes (INFO, BEGIN) ms", median(before_ms, rounds));
	printf("%-44s %10.1f\n", "  after the writes (COMMIT) ms", median(after_ms, rounds));
	printf("%-44s %10.1f\n", "daemon CPU us per frame sent", median(cpu_frame, rounds));
	printf("%-44s %10.3f\n", "daemon CPU s per upload", median(cpu_up, rounds));
	printf("%-44s %10.0f\n", "frames sent per upload", median(frames_out, rounds));
	printf("%-44s %10.0f\n", "frames received per upload", median(frames_in, rounds));
	printf("\ngoal: upload >= %.2f of raw pty: %.2f (%s)\n", GOAL_RATIO, ratio_one,
	       ratio_one >= GOAL_RATIO ? "met" : "not met");
	printf("      (against the windowed round-trip ceiling: %.2f)\n", ratio_win);
	return 0;
}
