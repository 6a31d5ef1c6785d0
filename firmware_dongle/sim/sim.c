/* sim: see sim.h. The loop: run the events that are due (the radio's deliveries and answers, the end of an
 * unplug), finish a pending reset, poll the pty and the signalfd until the next thing is due, move bytes between the
 * pty and the core through the fault injection. --bench runs the same core and fleet in virtual time (run_bench()). */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "core.h"
#include "faults.h"
#include "fleet.h"
#include "fleetdb.h"
#include "fleetstate.h"
#include "flash.h"
#include "pty.h"
#include "scenario.h"
#include "sched.h"
#include "sim.h"

#define OUT_MAX (64 * 1024)             /* bytes waiting for the host */
#define OUT_RESERVE (16 * 1024)         /* input is read only while this much output fits */
#define READ_MAX 4096
#define EVENTS_MAX 65536                /* answers in flight */
#define BENCH_EVENTS_MAX (1024 * 1024)  /* --bench: a group message to thousands of nodes is an event each */
#define BENCH_SPIN_MAX 100000           /* loop turns at one virtual time before --bench calls it stuck */
#define US_PER_MS 1000
#define SEED_STREAM_RANDOM 8            /* rng_seed() streams: radio 0, faults 1 and 2, fleet 3, fleetdb 4-7 */
#define RESET_DRAIN_MS 1000             /* a RESET waits this long at most for the output to drain */

enum event_kind {
	EVENT_FLEET,    /* arg[0..2]: a struct fleet_event's kind, a, b (the radio model) */
	EVENT_TX_DONE,  /* the mesh stack finished sending a message of the core's */
};

struct sim {
	const struct sim_options *opt;
	struct sched sched;
	struct pty pty;
	struct flash flash;
	struct scenario scenario;
	struct cdb *cdb;                /* the --cdb file the fleet came from, or NULL */
	struct fleet fleet;
	struct fleetstate fleet_state;  /* with --fleet-state */
	uint64_t changes_saved;         /* fleet.changes that fleet_state knows of */
	bool save_failing;              /* the last save failed: it was logged once */
	struct faults to_host;
	struct faults from_host;
	struct core_platform platform;
	struct core core;
	struct bench *bench;            /* --bench: the in-process host; NULL otherwise */
	struct rng random;              /* the platform's random source (BLOB IDs), from --seed */
	bool powered;                   /* false while unplugged with --unplug-reboots */
	uint64_t replug_at;             /* virtual time the unplug ends, or SCHED_NEVER */
	bool reset_pending;             /* the core answered RESET; reboot once the output has drained */
	uint64_t reset_at;
	bool quit;
	bool failed;                    /* quit because the simulator cannot go on */
	int sigfd;
	uint8_t out[OUT_MAX];
	size_t out_start;
	size_t out_end;
	/* counters */
	uint64_t out_refused;           /* frames the core could not queue */
	uint64_t answers_dropped;       /* answers lost to a full event queue or a dongle without power */
};

/* --- logging: stderr, "meshfleet-sim: [virtual seconds] LEVEL module: text" --- */

static void log_line(struct sim *s, enum msg_log_level level, const char *module, const char *text)
{
	uint64_t now = sched_now(&s->sched);

	/* syslog priorities: ERROR 3, WARNING 4, INFO 6, DEBUG 7 */
	static const int priority[] = { 7, 3, 4, 6, 7 };

	if (level > s->opt->log_level)
		return;
	if (s->opt->syslog_prefix)
		fprintf(stderr, "<%d>", priority[level <= MSG_LOG_DEBUG ? level : 0]);
	fprintf(stderr, "meshfleet-sim: [%6llu.%03llu] %s %s: %s\n", (unsigned long long)(now / 1000),
		(unsigned long long)(now % 1000), msg_log_level_to_string(level), module, text);
}

/* An error before or outside the simulated clock (start-up, files): one line, with the priority prefix when asked. */
__attribute__((format(printf, 2, 3)))
static void sim_fail(const struct sim *s, const char *fmt, ...)
{
	va_list ap;

	if (s->opt->syslog_prefix)
		fputs("<3>", stderr);
	fputs("meshfleet-sim: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

__attribute__((format(printf, 3, 4)))
static void sim_log(struct sim *s, enum msg_log_level level, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	log_line(s, level, "sim", text);
}

/* --- the platform --- */

static size_t out_used(const struct sim *s)
{
	return s->out_end - s->out_start;
}

static bool plat_send(void *ctx, const uint8_t *wire, size_t len)
{
	static uint8_t faulty[2 * COBS_WIRE_MAX(FRAME_MAX_SIZE)];
	struct sim *s = ctx;
	size_t n;

	if (s->bench) {
		bench_from_dongle(s->bench, wire, len);
		return true;
	}
	if (!pty_is_open(&s->pty) || len > COBS_WIRE_MAX(FRAME_MAX_SIZE)) {
		s->out_refused++;
		return false;
	}
	n = faults_apply(&s->to_host, wire, len, faulty);
	if (n > OUT_MAX - out_used(s)) {
		s->out_refused++;
		return false;
	}
	if (n > OUT_MAX - s->out_end) {
		memmove(s->out, s->out + s->out_start, out_used(s));
		s->out_end -= s->out_start;
		s->out_start = 0;
	}
	memcpy(s->out + s->out_end, faulty, n);
	s->out_end += n;
	return true;
}

static uint64_t plat_now(void *ctx)
{
	return sched_now(&((struct sim *)ctx)->sched);
}

static int plat_erase(void *ctx, uint32_t offset, uint32_t len)
{
	return flash_erase(&((struct sim *)ctx)->flash, offset, len);
}

static int plat_write(void *ctx, uint32_t offset, const uint8_t *data, uint32_t len)
{
	return flash_write(&((struct sim *)ctx)->flash, offset, data, len);
}

static int plat_read(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len)
{
	return flash_read(&((struct sim *)ctx)->flash, offset, buf, len);
}

static int plat_store_read(void *ctx, enum core_record rec, uint8_t *buf, size_t cap)
{
	return flash_store_read(&((struct sim *)ctx)->flash, rec, buf, cap);
}

static int plat_store_write(void *ctx, enum core_record rec, const uint8_t *data, size_t len)
{
	return flash_store_write(&((struct sim *)ctx)->flash, rec, data, len);
}

static int plat_mesh_config(void *ctx, const struct msg_mesh_config *cfg, uint32_t next_seq)
{
	struct sim *s = ctx;

	sim_log(s, MSG_LOG_DEBUG, "mesh stack: address 0x%04x, IV index %u, sequence %u", cfg->address,
		cfg->iv_index, next_seq);
	fleet_configure(&s->fleet, cfg);
	return 0;
}

static void fleet_log_line(void *ctx, enum msg_log_level level, const char *text)
{
	log_line(ctx, level, "fleet", text);
}

/* The fleet's events (radio model) in the simulator's queue. */
static int schedule_fleet(void *ctx, const struct fleet_event *fe)
{
	struct sim *s = ctx;
	struct sched_event ev = { .at = fe->at_ms, .kind = EVENT_FLEET, .arg = { fe->kind, fe->a, fe->b } };

	return sched_add(&s->sched, &ev);
}

static int plat_mesh_send(void *ctx, const struct core_mesh_tx *tx)
{
	struct sim *s = ctx;
	struct radio_tx rtx;
	struct sched_event done = { .kind = EVENT_TX_DONE };
	int err;

	sim_log(s, MSG_LOG_DEBUG, "mesh: %u bytes to 0x%04x, sequence %u+%u", tx->msg->payload_len, tx->msg->dst,
		tx->seq, tx->seq_count);
	err = fleet_send(&s->fleet, tx, sched_now(&s->sched), schedule_fleet, s, &rtx);
	if (err < 0) {
		sim_log(s, MSG_LOG_WARNING, "mesh: the radio refused %u bytes to 0x%04x: %s", tx->msg->payload_len,
			tx->msg->dst, strerror(-err));
		return err;
	}
	if (s->bench)
		bench_note_tx(s->bench, tx->msg->payload, tx->msg->payload_len, &rtx);
	/* Zephyr's "send end": the core may hand over the next message */
	done.at = (rtx.done_us + US_PER_MS - 1) / US_PER_MS;
	if (sched_add(&s->sched, &done) < 0)
		s->answers_dropped++;   /* the core retries on its own (DIST_BUSY_RETRY_MS) */
	return 0;
}

/* Random bytes from --seed: the same seed gives the same BLOB IDs, so a run can be repeated. */
static int plat_random(void *ctx, uint8_t *buf, size_t len)
{
	struct sim *s = ctx;

	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)rng_next(&s->random);
	return 0;
}

static void plat_reset(void *ctx, enum msg_reset_mode mode)
{
	struct sim *s = ctx;

	(void)mode;     /* no bootloader (has_bootloader is false), so the core only asks for a restart */
	s->reset_pending = true;
	s->reset_at = sched_now(&s->sched);
}

static void plat_log(void *ctx, enum msg_log_level level, const char *module, const char *text)
{
	log_line(ctx, level, module, text);
}

static const struct core_platform_ops sim_ops = {
	.send = plat_send,
	.now_ms = plat_now,
	.slot_erase = plat_erase,
	.slot_write = plat_write,
	.slot_read = plat_read,
	.store_read = plat_store_read,
	.store_write = plat_store_write,
	.mesh_config = plat_mesh_config,
	.mesh_send = plat_mesh_send,
	.random = plat_random,
	.reset = plat_reset,
	.log = plat_log,
};

/* --- faults and life cycle --- */

static void boot(struct sim *s, enum msg_reset_reason reason)
{
	struct core_config cfg = {
		.reset_reason = reason,
		.fw_major = s->opt->fw_major,
		.fw_minor = s->opt->fw_minor,
		.fw_patch = s->opt->fw_patch,
		.extra_features = MSG_FEATURE_SIMULATED,
		.forward_level = MSG_LOG_INFO,
	};

	/* what the UART had not sent yet is lost with the CPU */
	s->out_start = s->out_end = 0;
	s->reset_pending = false;
	if (core_init(&s->core, &s->platform, &cfg) != MSG_STATUS_OK)
		sim_log(s, MSG_LOG_ERROR, "the core refused the slot geometry");
}

static void announce(struct sim *s)
{
	/* the parent may have stopped reading: SIGPIPE is ignored, a failed write changes nothing */
	printf("pty: %s\n", s->pty.path);
	fflush(stdout);
	sim_log(s, MSG_LOG_INFO, "listening on %s%s%s", s->pty.path, s->opt->link ? " via " : "",
		s->opt->link ? s->opt->link : "");
}

static void unplug(struct sim *s)
{
	if (!pty_is_open(&s->pty)) {
		sim_log(s, MSG_LOG_INFO, "already unplugged");
		return;
	}
	pty_close(&s->pty);
	s->out_start = s->out_end = 0;
	if (s->opt->unplug_reboots)
		s->powered = false;
	s->replug_at = sched_now(&s->sched) + s->opt->unplug_ms;
	sim_log(s, MSG_LOG_INFO, "unplugged for %u ms%s", s->opt->unplug_ms,
		s->opt->unplug_reboots ? ", power off" : "");
}

static int replug(struct sim *s)
{
	int err;

	s->replug_at = SCHED_NEVER;
	if (!s->powered) {
		s->powered = true;
		boot(s, MSG_RESET_POWER_ON);
	}
	err = pty_open(&s->pty);
	if (err < 0) {
		sim_log(s, MSG_LOG_ERROR, "cannot open a new pseudo-terminal%s%s: %s", s->opt->link ? " for " : "",
			s->opt->link ? s->opt->link : "", strerror(-err));
		return err;
	}
	announce(s);
	return 0;
}

static bool stalled(const struct sim *s, uint64_t now)
{
	uint32_t every = s->opt->stall_every_ms;

	return every > 0 && now >= every && now % every < s->opt->stall_for_ms;
}

/* Virtual time at which stalled() changes next. */
static uint64_t stall_edge(const struct sim *s, uint64_t now)
{
	uint32_t every = s->opt->stall_every_ms;

	if (every == 0)
		return SCHED_NEVER;
	if (stalled(s, now))
		return now - now % every + s->opt->stall_for_ms;
	return (now / every + 1) * every;
}

static void run_event(struct sim *s, const struct sched_event *ev)
{
	uint8_t buf[FLEET_REPLY_MAX];
	struct msg_mesh_recv rx;

	switch ((enum event_kind)ev->kind) {
	case EVENT_FLEET: {
		struct fleet_event fe = { .at_ms = ev->at, .kind = ev->arg[0], .a = ev->arg[1], .b = ev->arg[2] };

		if (!fleet_run_event(&s->fleet, &fe, sched_now(&s->sched), schedule_fleet, s, buf, &rx))
			return;
		if (!s->powered) {
			s->answers_dropped++;
			return;
		}
		core_mesh_recv(&s->core, &rx);
		return;
	}
	case EVENT_TX_DONE:
		if (s->powered && !s->reset_pending)
			core_mesh_tx_done(&s->core);
		return;
	}
}

static void on_signal(struct sim *s)
{
	struct signalfd_siginfo si;

	while (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGUSR1:
			unplug(s);
			break;
		case SIGUSR2:
			sim_log(s, MSG_LOG_INFO, "reboot (%s)", msg_reset_reason_to_string(s->opt->reboot_reason));
			if (s->powered)
				boot(s, s->opt->reboot_reason);
			break;
		default:
			sim_log(s, MSG_LOG_INFO, "%s: stopping", strsignal((int)si.ssi_signo));
			s->quit = true;
			break;
		}
	}
}

static void pty_output(struct sim *s);

static void pty_input(struct sim *s)
{
	static uint8_t buf[READ_MAX], faulty[2 * READ_MAX];
	ssize_t n = read(s->pty.master, buf, sizeof(buf));
	size_t m;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		/* cannot happen while we hold the slave; if it does, a new port is better than a spinning loop */
		sim_log(s, MSG_LOG_WARNING, "reading the pty failed (%s): opening a new one",
			n < 0 ? strerror(errno) : "end of file");
		pty_close(&s->pty);
		if (replug(s) < 0)
			s->quit = s->failed = true;
		return;
	}
	m = faults_apply(&s->from_host, buf, (size_t)n, faulty);
	if (s->powered)
		core_input(&s->core, faulty, m);
	/* The answers leave now, as a dongle's USB stack sends them, not after the next poll(): the host's next
	 * requests wait for them. */
	if (out_used(s) > 0)
		pty_output(s);
}

static void pty_output(struct sim *s)
{
	ssize_t n = write(s->pty.master, s->out + s->out_start, out_used(s));

	if (n < 0) {
		if (errno != EAGAIN && errno != EINTR)
			sim_log(s, MSG_LOG_WARNING, "writing to the pty failed: %s", strerror(errno));
		return;
	}
	s->out_start += (size_t)n;
	if (s->out_start == s->out_end)
		s->out_start = s->out_end = 0;
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Writes the nodes' state to --fleet-state when the debounce says so (@final: now, at the end). A failure is logged
 * once per run of failures; the state stays dirty and the next try waits an interval. Returns 0 or -errno. */
static int save_fleet(struct sim *s, uint64_t now, bool final)
{
	char err[512];
	int e;

	if (!s->opt->fleet_state)
		return 0;
	if (s->fleet.changes != s->changes_saved) {
		s->changes_saved = s->fleet.changes;
		fleetstate_changed(&s->fleet_state, now);
	}
	e = final ? fleetstate_flush(&s->fleet_state, &s->fleet.state, now, err, sizeof(err)) :
		    fleetstate_save(&s->fleet_state, &s->fleet.state, now, err, sizeof(err));
	if (e < 0 && (!s->save_failing || final))
		sim_log(s, final ? MSG_LOG_ERROR : MSG_LOG_WARNING, "fleet state: %s%s", err,
			final ? ": the nodes' latest changes are lost" : "; trying again");
	if (e > 0 && s->save_failing)
		sim_log(s, MSG_LOG_INFO, "fleet state: written to '%s' again", s->opt->fleet_state);
	s->save_failing = e < 0;
	return e < 0 ? e : 0;
}

/* Runs until a stopping signal (returns 0) or a failure that leaves no port to serve (returns 1). */
static int loop(struct sim *s)
{
	while (!s->quit) {
		uint64_t now = sched_now(&s->sched), wake;
		struct pollfd fds[2] = { { .fd = s->sigfd, .events = POLLIN }, { .fd = -1 } };
		struct sched_event ev;
		uint32_t poll_ms = CORE_POLL_IDLE;
		bool link_up;
		int timeout;

		/* before the answers: the first change after a quiet period is in the file before its status leaves */
		save_fleet(s, now, false);
		while (!s->quit && sched_pop_due(&s->sched, now, &ev))
			run_event(s, &ev);
		if (now >= s->replug_at && replug(s) < 0)
			return 1;
		if (s->reset_pending && (out_used(s) == 0 || now - s->reset_at >= RESET_DRAIN_MS)) {
			sim_log(s, MSG_LOG_INFO, "restarting after RESET");
			boot(s, MSG_RESET_HOST);
		}
		if (s->powered && !s->reset_pending)
			poll_ms = core_poll(&s->core);
		if (s->quit)
			break;

		link_up = pty_is_open(&s->pty) && !stalled(s, now);
		if (link_up) {
			fds[1].fd = s->pty.master;
			fds[1].events = (OUT_MAX - out_used(s) >= OUT_RESERVE ? POLLIN : 0) |
					(out_used(s) > 0 ? POLLOUT : 0);
		}
		wake = min_u64(min_u64(sched_next(&s->sched), stall_edge(s, now)), s->replug_at);
		if (poll_ms != CORE_POLL_IDLE)
			wake = min_u64(wake, now + poll_ms);
		if (s->reset_pending)
			wake = min_u64(wake, s->reset_at + RESET_DRAIN_MS);
		if (s->opt->fleet_state)
			wake = min_u64(wake, fleetstate_due(&s->fleet_state));
		timeout = sched_real_delay(&s->sched, wake);
		sched_wait(&s->sched, timeout);
		if (poll(fds, 2, timeout) < 0 && errno != EINTR) {
			sim_log(s, MSG_LOG_ERROR, "poll: %s", strerror(errno));
			return 1;
		}
		sched_turn(&s->sched);  /* before the input: it happens at the time of this turn */
		if (fds[0].revents & POLLIN)
			on_signal(s);
		if (fds[1].fd >= 0 && pty_is_open(&s->pty) && (fds[1].revents & POLLOUT))
			pty_output(s);
		if (fds[1].fd >= 0 && pty_is_open(&s->pty) && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
			pty_input(s);
	}
	if (sched_stalled_ms(&s->sched) >= 1)
		sim_log(s, MSG_LOG_INFO, "the host held the simulator up for %.0f ms in all: not counted as mesh time",
			sched_stalled_ms(&s->sched));
	return s->failed ? 1 : 0;
}

static double wall_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void bench_send(void *ctx, const uint8_t *wire, size_t len)
{
	struct sim *s = ctx;

	core_input(&s->core, wire, len);
}

/* --bench: the whole distribution in virtual time, as fast as the CPU allows: the clock jumps to whatever is due
 * next (an event, the core's deadline, the host's). Returns the exit status. */
static int run_bench(struct sim *s)
{
	const struct sim_options *opt = s->opt;
	double wall_start = wall_seconds();
	uint64_t spin_at = 0;
	unsigned spins = 0;
	char err[256];

	sched_done(&s->sched);
	if (sched_init_virtual(&s->sched, BENCH_EVENTS_MAX) < 0) {
		sim_fail(s, "out of memory");
		return 1;
	}
	s->bench = bench_new(&s->scenario, opt->seed, bench_send, s, err, sizeof(err));
	if (!s->bench) {
		sim_fail(s, "--bench '%s': %s", opt->scenario, err);
		return 2;
	}
	boot(s, MSG_RESET_POWER_ON);
	while (!bench_done(s->bench)) {
		uint64_t now = sched_now(&s->sched), next;
		struct sched_event ev;
		uint32_t poll_ms;

		while (sched_pop_due(&s->sched, now, &ev))
			run_event(s, &ev);
		bench_step(s->bench, now);
		poll_ms = core_poll(&s->core);
		next = min_u64(sched_next(&s->sched), bench_next(s->bench));
		if (poll_ms != CORE_POLL_IDLE)
			next = min_u64(next, now + poll_ms);
		if (bench_done(s->bench))
			break;
		if (next == SCHED_NEVER) {
			sim_fail(s, "--bench: nothing more will happen, yet the distribution has not ended (a bug)");
			return 1;
		}
		spins = next <= now && now == spin_at ? spins + 1 : 0;
		spin_at = now;
		if (spins > BENCH_SPIN_MAX) {
			sim_fail(s, "--bench: the loop keeps running at %llu ms without time passing (a bug)",
				 (unsigned long long)now);
			return 1;
		}
		sched_advance(&s->sched, next);
	}
	if (bench_failed(s->bench)) {
		sim_fail(s, "--bench: %s", bench_failed(s->bench));
		return 1;
	}
	bench_note_radio(s->bench, s->fleet.radio);
	return bench_report(s->bench, stdout, stderr, opt->bench_out, wall_seconds() - wall_start) < 0 ? 1 : 0;
}

static int setup_signals(struct sim *s)
{
	sigset_t mask;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
		return -errno;
	s->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sigfd < 0)
		return -errno;
	if (s->opt->die_with_parent) {
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
			return -errno;
		if (getppid() == 1)
			s->quit = true;         /* the parent is already gone */
	}
	return 0;
}

/* The nodes' state of a previous run, over the fleet's. Returns 0, or the exit status after a message on stderr. */
static int load_fleet_state(struct sim *s)
{
	struct fleetstate_loaded loaded;
	char err[512];
	int e = fleetstate_load(&s->scenario, s->opt->fleet_state, &loaded, err, sizeof(err));

	if (e < 0) {
		sim_fail(s, "fleet state '%s': %s%s", s->opt->fleet_state, err,
			e == -EINVAL ? " (remove the file, or name another with --fleet-state, to start from the "
				       "fleet's own state)" : "");
		return e == -ENOMEM ? 1 : 2;
	}
	if (!loaded.found) {
		sim_log(s, MSG_LOG_INFO, "fleet state: no '%s' yet: the nodes start as the fleet describes them",
			s->opt->fleet_state);
		return 0;
	}
	sim_log(s, MSG_LOG_INFO, "fleet state: %zu nodes restored from '%s'", loaded.restored, s->opt->fleet_state);
	if (loaded.skipped > 0)
		sim_log(s, MSG_LOG_WARNING, "fleet state '%s': %zu nodes of the file skipped (they keep the fleet's own "
			"state, and the file forgets them at its next write): %s", s->opt->fleet_state, loaded.skipped,
			loaded.skipped_text);
	return 0;
}

/* The fleet of --cdb, --generate, --scenario or the built-in one, the state of --fleet-state over it, and its
 * --export-cdb. Returns 0, or the exit status after a message on stderr. */
static int load_fleet(struct sim *s)
{
	const struct sim_options *opt = s->opt;
	json_t *doc = NULL;
	char err[512];
	int e;

	if (opt->cdb) {
		e = cdb_load_file(opt->cdb, &s->cdb, err, sizeof(err));
		if (e == 0)
			e = fleetdb_from_cdb(&s->scenario, s->cdb, opt->seed, opt->loss, err, sizeof(err));
		if (e < 0) {
			/* cdb_load_file() names the file, fleetdb_from_cdb() does not */
			sim_fail(s, "CDB %s%s%s%s", s->cdb ? "'" : "", s->cdb ? opt->cdb : "",
				s->cdb ? "': " : "", err);
			return e == -ENOMEM ? 1 : 2;
		}
	} else if (opt->generate > 0) {
		if ((e = fleetdb_generate(&s->scenario, opt->generate, opt->seed, opt->loss)) < 0) {
			sim_fail(s, "cannot generate %u nodes: %s", opt->generate, strerror(-e));
			return 1;
		}
	} else {
		e = opt->scenario ? scenario_load_file(&s->scenario, opt->scenario, err, sizeof(err)) :
				    scenario_load_builtin(&s->scenario, err, sizeof(err));
		if (e < 0) {
			sim_fail(s, "scenario '%s': %s",
				opt->scenario ? opt->scenario : "(built-in)", err);
			return 2;
		}
	}
	if (opt->fleet_state && (e = load_fleet_state(s)) != 0)
		return e;
	if (!opt->export_cdb)
		return 0;
	/* the export must name the keys the nodes hold: learned keys get theirs now, from the seed */
	fleetdb_fix_keys(&s->scenario, opt->seed);
	e = fleetdb_export(&s->scenario, s->cdb, opt->seed, &doc);
	if (e < 0)
		snprintf(err, sizeof(err), "out of memory");
	else
		e = fleetdb_write(opt->export_cdb, doc, err, sizeof(err));
	json_decref(doc);
	if (e < 0) {
		sim_fail(s, "--export-cdb: %s", err);
		return 1;
	}
	sim_log(s, MSG_LOG_INFO, "the CDB of the %zu nodes is in '%s'", s->scenario.node_count, opt->export_cdb);
	return 0;
}

int sim_run(const struct sim_options *opt)
{
	struct sim *s = calloc(1, sizeof(*s));
	char err[512];
	int rc = 1, e;

	if (!s) {
		fprintf(stderr, "%smeshfleet-sim: out of memory\n", opt->syslog_prefix ? "<3>" : "");
		return 1;
	}
	s->opt = opt;
	s->sigfd = -1;
	s->powered = true;
	s->replug_at = SCHED_NEVER;
	pty_init(&s->pty, opt->link);
	scenario_init(&s->scenario);
	if (sched_init(&s->sched, opt->speed, EVENTS_MAX) < 0) {
		sim_fail(s, "out of memory");
		goto cleanup;
	}
	if ((rc = load_fleet(s)) != 0)
		goto cleanup;
	rc = 1;
	if (opt->export_cdb && !opt->run && !opt->link) {
		rc = 0;
		goto cleanup;
	}
	e = flash_open(&s->flash, opt->slot_size, opt->slot_file, err, sizeof(err));
	if (e < 0) {
		sim_fail(s, "%s", err);
		rc = e == -EINVAL ? 2 : 1;
		goto cleanup;
	}
	rng_seed(&s->random, opt->seed, SEED_STREAM_RANDOM);
	faults_init(&s->to_host, opt->corrupt, opt->drop, opt->dup, opt->seed, 1);
	faults_init(&s->from_host, opt->corrupt, opt->drop, opt->dup, opt->seed, 2);
	if (fleet_init(&s->fleet, &s->scenario, opt->seed) < 0 || fleet_radio_init(&s->fleet, opt->seed) < 0) {
		sim_fail(s, "out of memory for %zu nodes", s->scenario.node_count);
		goto cleanup;
	}
	fleet_set_log(&s->fleet, fleet_log_line, s);
	/* the debounce is in real time (a write costs real I/O), so in virtual ms it scales with --speed */
	fleetstate_init(&s->fleet_state, opt->fleet_state, (uint64_t)ceil(FLEETSTATE_INTERVAL_MS * opt->speed));
	if ((e = setup_signals(s)) < 0) {
		sim_fail(s, "signals: %s", strerror(-e));
		goto cleanup;
	}
	s->platform = (struct core_platform){
		.ops = &sim_ops,
		.ctx = s,
		.slot_size = opt->slot_size,
		.slot_page_size = FLASH_PAGE_SIZE,
		.slot_write_align = FLASH_WRITE_ALIGN,
		.has_bootloader = false,
		.has_mesh_tx_done = true,       /* EVENT_TX_DONE, from the radio's "send end" */
	};
	if (opt->bench) {
		rc = run_bench(s);
		goto cleanup;
	}
	boot(s, MSG_RESET_POWER_ON);
	sim_log(s, MSG_LOG_INFO, "%zu nodes%s, slot of %u bytes%s%s, speed %g, seed %llu", s->scenario.node_count,
		opt->cdb ? " (from the CDB)" : opt->generate ? " (generated)" : opt->scenario ? "" : " (the built-in fleet)",
		opt->slot_size, opt->slot_file ? " in " : "", opt->slot_file ? opt->slot_file : "", opt->speed,
		(unsigned long long)opt->seed);
	if (replug(s) < 0)
		goto cleanup;
	rc = loop(s);
	if (save_fleet(s, sched_now(&s->sched), true) < 0 && rc == 0)
		rc = 1;

cleanup:
	pty_close(&s->pty);
	if (s->sigfd >= 0)
		close(s->sigfd);
	flash_close(&s->flash);
	bench_free(s->bench);
	fleet_done(&s->fleet);
	scenario_done(&s->scenario);
	cdb_free(s->cdb);
	sched_done(&s->sched);
	free(s);
	return rc;
}
