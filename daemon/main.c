/* meshfleetd: options, configuration, wiring of the modules on one libuv loop, signals.
 *
 * Start-up order: configuration → state directory lock → database → HTTP listener. Shutdown runs the other way:
 * SIGTERM/SIGINT stop the listener, in-flight requests finish, the loop runs dry, the database closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <uv.h>

#include "api.h"
#include "audit.h"
#include "discovery.h"
#include "engine.h"
#include "preflight.h"
#include "groups.h"
#include "mesh_client.h"
#include "config_file.h"
#include "firmware.h"
#include "mcuboot.h"
#include "db.h"
#include "dongle.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "tokens.h"
#include "util.h"

#define MAX_OVERRIDES 16
/* A safety net, not a timing: meshfleet-sim says "pty: PATH" within milliseconds; after this the link tries anyway. */
#define SIM_READY_TIMEOUT_MS 30000

/* A setting given on the command line; it wins over the file, also after SIGHUP. */
struct override {
	const char *section;
	const char *key;
	const char *value;      /* borrowed from argv */
};

struct daemon {
	uv_loop_t loop;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t watchdog;            /* pings systemd's watchdog while the loop turns */
	struct config config;
	const char *config_path;        /* NULL: no file */
	struct override overrides[MAX_OVERRIDES];
	size_t n_overrides;
	int lock_fd;
	struct db *db;
	struct metrics *metrics;
	struct events *events;          /* the event bus: after the database, before everything that publishes */
	struct audit *audit;            /* the audit log: after the database, before the HTTP server */
	struct mcuboot_keyring *keys;   /* [firmware] trusted_keys */
	struct firmware *firmware;      /* the firmware store, after the database */
	struct http *http;
	struct dongle *dongle;          /* NULL with dongle = none */
	struct mesh_client *mesh;       /* with a dongle */
	struct discovery *discovery;
	struct preflight *preflight;
	struct engine *engine;          /* with a dongle: runs the campaigns */
	struct groups *groups;          /* with a dongle */
	uv_process_t sim;               /* meshfleet-sim, with dongle = sim */
	uv_pipe_t sim_out;              /* its stdout: "pty: PATH" when its port is ready */
	uv_timer_t sim_ready_timer;     /* SIM_READY_TIMEOUT_MS */
	int sim_handles;                /* of the three, not closed yet */
	bool sim_out_open, sim_timer_open;
	bool sim_running;
	bool sim_ready;                 /* it said "pty: PATH": the link may open the port */
	char sim_buf[512];              /* read from sim_out ... */
	char sim_line[PATH_MAX + 8];    /* ... into lines */
	size_t sim_line_len;
	bool sim_line_long;             /* the line is cut; the rest up to its end is dropped */
	struct api api;
	bool loop_ready;
	bool stopping;
	int closing;                    /* parts (http, dongle) still closing after SIGTERM */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: meshfleetd [OPTION]...\n"
		"Bluetooth Mesh fleet firmware-update daemon: REST API, database and dongle driver.\n\n"
		"  -c, --config FILE       configuration file (default " CONFIG_DEFAULT_PATH ", if present)\n"
		"  -s, --state-dir DIR     database and runtime state (default " LOCALSTATEDIR "/lib/meshfleet)\n"
		"  -l, --listen ADDR:PORT  HTTP listener (default 127.0.0.1:8080; port 0 picks a free one)\n"
		"  -d, --dongle SPEC       none, auto, sim, sim:SCENARIO.json or a device path\n"
		"  -w, --web-root DIR      dashboard files (default " PKGDATADIR "/web)\n"
		"  -L, --log-level LEVEL   err, warning, notice, info or debug (default info)\n"
		"      --list-routes       print the HTTP routes and exit\n"
		"  -V, --version           print the version and exit\n"
		"  -h, --help              print this help and exit\n\n"
		"Settings are described in docs/configuration.md; options override the file.\n");
}

static int apply_overrides(struct daemon *d, struct config *cfg)
{
	struct config_error err;

	for (size_t i = 0; i < d->n_overrides; i++) {
		const struct override *o = &d->overrides[i];

		if (config_set(cfg, o->section, o->key, o->value, &err) < 0) {
			log_err("option --%s: %s", o->key, err.message);
			return -EINVAL;
		}
	}
	return 0;
}

/* Defaults, then the file (if any), then the command line. */
static int config_build(struct daemon *d, struct config *cfg)
{
	struct config_error err;

	config_init(cfg);
	if (d->config_path && config_load(cfg, d->config_path, &err) < 0) {
		log_err("%s", err.message);
		return -EINVAL;
	}
	return apply_overrides(d, cfg);
}

static void on_reload_diff(const char *section, const char *key, const char *old_value, const char *new_value,
			   bool reloadable, void *userdata)
{
	(void)userdata;
	if (reloadable)
		log_notice("reload: %s.%s is now '%s' (was '%s')", section, key, new_value, old_value);
	else
		log_notice("reload: %s.%s changed from '%s' to '%s': ignored until restart", section, key,
			   old_value, new_value);
}

static void reload(struct daemon *d)
{
	struct config next;

	if (!d->config_path) {
		log_notice("reload: no configuration file in use, nothing to reload");
		return;
	}
	if (config_build(d, &next) < 0) {
		log_err("reload: keeping the running configuration");
		return;
	}
	config_diff(&d->config, &next, on_reload_diff, d);
	/* A renewed certificate under the same paths is no change of the configuration, but is not served either. */
	if (d->http && http_tls_files_changed(d->http))
		log_notice("reload: the file of http.tls_cert or http.tls_key changed on disk: ignored until restart "
			   "(restart meshfleetd to serve the new certificate)");
	log_set_level(next.log_level);
	/* Keys that need a restart keep their running values, so a later diff still reports them. */
	d->config.log_level = next.log_level;
	log_info("reload: done");
}

static void on_close_signal(uv_handle_t *handle)
{
	(void)handle;
}

/* The signal handles close last, when every part has stopped; then the loop runs dry. */
static void part_closed(struct daemon *d)
{
	if (--d->closing > 0)
		return;
	uv_close((uv_handle_t *)&d->sig_term, on_close_signal);
	uv_close((uv_handle_t *)&d->sig_int, on_close_signal);
	uv_close((uv_handle_t *)&d->sig_hup, on_close_signal);
	uv_close((uv_handle_t *)&d->watchdog, on_close_signal);
}

static void on_http_closed(struct http *http, void *userdata)
{
	(void)http;
	part_closed(userdata);
}

static void on_dongle_closed(struct dongle *dongle, void *userdata)
{
	struct daemon *d = userdata;

	(void)dongle;
	/* Every request has ended: the mesh client's timers may close (they count with the loop, not as a part). */
	discovery_free(d->discovery);
	d->discovery = NULL;
	d->api.discovery = NULL;
	preflight_free(d->preflight);
	d->preflight = NULL;
	d->api.preflight = NULL;
	engine_close(d->engine);        /* before the groups and the mesh client it uses */
	d->engine = NULL;
	d->api.engine = NULL;
	groups_free(d->groups);
	d->groups = NULL;
	d->api.groups = NULL;
	mesh_client_close(d->mesh);
	d->mesh = NULL;
	d->api.mesh = NULL;
	/* The link is down: now the simulator may go. Its exit callback closes the last part. */
	if (d->sim_running)
		uv_process_kill(&d->sim, SIGTERM);
	part_closed(d);
}

/* The process, its stdout pipe and the readiness timer: the simulator is one part, closed when all three are. */
static void on_sim_closed(uv_handle_t *handle)
{
	struct daemon *d = handle->data;

	if (--d->sim_handles == 0 && d->stopping)
		part_closed(d);
}

static void sim_close_timer(struct daemon *d)
{
	if (!d->sim_timer_open)
		return;
	d->sim_timer_open = false;
	uv_close((uv_handle_t *)&d->sim_ready_timer, on_sim_closed);
}

static void sim_close_out(struct daemon *d)
{
	if (!d->sim_out_open)
		return;
	d->sim_out_open = false;
	uv_close((uv_handle_t *)&d->sim_out, on_sim_closed);
}

/* The link opens the simulator's port only now, so that it never finds the port missing while the simulator
 * starts. */
static void sim_start_link(struct daemon *d)
{
	int r;

	if (!d->dongle || d->stopping || link_state(dongle_link(d->dongle)) != LINK_STOPPED)
		return;
	r = dongle_start(d->dongle);
	if (r < 0)
		log_err("dongle sim: cannot start the link on '%s': %s", link_path(dongle_link(d->dongle)),
			strerror(-r));
}

static void on_sim_exit(uv_process_t *process, int64_t status, int signum)
{
	struct daemon *d = process->data;

	d->sim_running = false;
	sim_close_timer(d);
	sim_close_out(d);
	if (!d->stopping && !d->sim_ready) {
		log_err("meshfleet-sim exited (status %lld, signal %d) before its pseudo-terminal was ready: its "
			"messages are above (a scenario file it refuses, say: `meshfleet-sim --scenario FILE` checks "
			"one); fix the cause and restart meshfleetd", (long long)status, signum);
		/* The link then says "port missing" in GET /api/v1/dongle too, instead of a silent "stopped". */
		sim_start_link(d);
	} else if (!d->stopping) {
		log_err("meshfleet-sim exited (status %lld, signal %d): the dongle link waits for a simulator that "
			"will not come back; its messages are above; restart meshfleetd", (long long)status, signum);
	}
	uv_close((uv_handle_t *)process, on_sim_closed);
}

static void on_sim_ready_timeout(uv_timer_t *timer)
{
	struct daemon *d = timer->data;

	log_err("dongle sim: meshfleet-sim (pid %d) has not said that its pseudo-terminal is ready after %d s: it "
		"may be stuck (its messages are above); the link tries the port anyway. If it does not come up, "
		"restart meshfleetd", d->sim.pid, SIM_READY_TIMEOUT_MS / 1000);
	sim_close_timer(d);
	sim_start_link(d);
}

static void on_sim_line(struct daemon *d, const char *line)
{
	if (strncmp(line, "pty: ", 5) != 0) {
		log_debug("meshfleet-sim: '%s'", line);
		return;
	}
	if (d->sim_ready) {
		log_debug("dongle sim: meshfleet-sim is plugged in again on %s", line + 5);
		return;
	}
	d->sim_ready = true;
	log_info("dongle sim: meshfleet-sim's pseudo-terminal %s is ready", line + 5);
	sim_close_timer(d);
	sim_start_link(d);
}

static void on_sim_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct daemon *d = handle->data;

	(void)suggested;
	*buf = uv_buf_init(d->sim_buf, sizeof(d->sim_buf));
}

static void on_sim_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct daemon *d = stream->data;

	if (nread < 0) {
		if (nread != UV_EOF)
			log_warning("dongle sim: reading meshfleet-sim's output: %s, ignoring", uv_strerror((int)nread));
		/* Its end: the exit callback (or the readiness timer) says what that means. */
		sim_close_out(d);
		return;
	}
	for (ssize_t i = 0; i < nread; i++) {
		char c = buf->base[i];

		if (c == '\n') {
			d->sim_line[d->sim_line_len] = '\0';
			if (!d->sim_line_long)
				on_sim_line(d, d->sim_line);
			d->sim_line_len = 0;
			d->sim_line_long = false;
		} else if (d->sim_line_len + 1 < sizeof(d->sim_line)) {
			d->sim_line[d->sim_line_len++] = c;
		} else {
			d->sim_line_long = true;
		}
	}
}

/* The simulator's program: $MESHFLEET_SIM, else beside meshfleetd (installed), else in the build tree. */
static int sim_program(char *out, size_t size)
{
	const char *env = getenv("MESHFLEET_SIM");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (env && *env)
		return str_copy(out, size, env);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -errno;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return -ENOENT;
	*slash = '\0';
	snprintf(out, size, "%s/meshfleet-sim", self);
	if (access(out, X_OK) == 0)
		return 0;
	snprintf(out, size, "%s/../firmware_dongle/sim/meshfleet-sim", self);
	return access(out, X_OK) == 0 ? 0 : -ENOENT;
}

/* Starts meshfleet-sim as a child; it keeps a symlink @link to its pseudo-terminal, which the link opens like
 * any port once the simulator says "pty: PATH" on its stdout (on_sim_line()). Its warnings go to our stderr, so to
 * the journal. */
/* dongle = sim:FILE takes a scenario file or a network's CDB export (which has a meshUUID); the simulator reads
 * each with its own option, and says what is wrong with a bad one. */
static bool sim_file_is_cdb(const char *path)
{
	json_t *doc = json_load_file(path, 0, NULL);
	bool cdb = json_is_string(json_object_get(doc, "meshUUID"));

	json_decref(doc);
	return cdb;
}

static int start_sim(struct daemon *d, const char *scenario, const char *link)
{
	char program[PATH_MAX], fleet_state[PATH_MAX + 8], slot_file[PATH_MAX + 8];
	char *args[14];
	bool cdb = scenario && sim_file_is_cdb(scenario);
	size_t n = 0;
	uv_stdio_container_t stdio[3] = {
		{ .flags = UV_IGNORE },
		{ .flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE, .data.stream = (uv_stream_t *)&d->sim_out },
		{ .flags = UV_INHERIT_FD, .data.fd = 2 },
	};
	uv_process_options_t options = { 0 };
	int r;

	r = sim_program(program, sizeof(program));
	if (r < 0) {
		log_err("dongle sim: meshfleet-sim not found beside meshfleetd or in the build tree: set MESHFLEET_SIM "
			"to its path");
		return r;
	}
	args[n++] = program;
	args[n++] = (char *)"--link";
	args[n++] = (char *)link;
	args[n++] = (char *)"--die-with-parent";
	args[n++] = (char *)"--quiet";
	args[n++] = (char *)"--syslog-prefix";
	/* Like a real dongle and real nodes, the simulated ones keep their flash (the dongle's sequence number record
	 * and image slot; the nodes' keys, bindings and subscriptions) across our restarts: in the state directory. */
	snprintf(fleet_state, sizeof(fleet_state), "%s.fleet", link);
	snprintf(slot_file, sizeof(slot_file), "%s.slot", link);
	args[n++] = (char *)"--fleet-state";
	args[n++] = fleet_state;
	args[n++] = (char *)"--slot-file";
	args[n++] = slot_file;
	if (scenario) {
		args[n++] = (char *)(cdb ? "--cdb" : "--scenario");
		args[n++] = (char *)scenario;
	}
	args[n] = NULL;
	options.file = program;
	options.args = args;
	options.exit_cb = on_sim_exit;
	options.stdio = stdio;
	options.stdio_count = 3;
	d->sim.data = d->sim_out.data = d->sim_ready_timer.data = d;
	uv_pipe_init(&d->loop, &d->sim_out, 0);
	d->sim_out_open = true;
	d->sim_handles = 2;
	r = uv_spawn(&d->loop, &d->sim, &options);
	if (r < 0) {
		log_err("dongle sim: cannot start '%s': %s", program, uv_strerror(r));
		/* uv_spawn initialised the handle even on failure: it must be closed. */
		uv_close((uv_handle_t *)&d->sim, on_sim_closed);
		sim_close_out(d);
		return r;
	}
	d->sim_running = true;
	r = uv_read_start((uv_stream_t *)&d->sim_out, on_sim_alloc, on_sim_read);
	if (r < 0) {
		/* Without its "pty:" line, the link starts at the timeout: slower, not broken. */
		log_warning("dongle sim: cannot read meshfleet-sim's output: %s, ignoring", uv_strerror(r));
		sim_close_out(d);
	}
	uv_timer_init(&d->loop, &d->sim_ready_timer);
	d->sim_handles++;
	d->sim_timer_open = true;
	uv_timer_start(&d->sim_ready_timer, on_sim_ready_timeout, SIM_READY_TIMEOUT_MS, 0);
	log_info("dongle sim: started %s (pid %d)%s%s", program, d->sim.pid,
		 !scenario ? "" : cdb ? " with the network of " : " with scenario ", scenario ? scenario : "");
	return 0;
}

static void on_watchdog(uv_timer_t *timer)
{
	(void)timer;
	notify_send("WATCHDOG=1");
}

static void on_signal(uv_signal_t *handle, int signum)
{
	struct daemon *d = handle->data;

	if (signum == SIGHUP) {
		log_info("SIGHUP: reloading %s", d->config_path ? d->config_path : "(no file)");
		reload(d);
		return;
	}
	if (d->stopping) {
		log_notice("%s again: already stopping", strsignal(signum));
		return;
	}
	d->stopping = true;
	log_info("%s: stopping", strsignal(signum));
	notify_send("STOPPING=1");
	d->closing = 1 + (d->dongle != NULL) + (d->sim_handles > 0);
	sim_close_timer(d);
	if (d->dongle)
		dongle_stop(d->dongle, on_dongle_closed, d);
	else if (d->sim_running)
		uv_process_kill(&d->sim, SIGTERM);
	http_shutdown(d->http, on_http_closed, d);
}

/* Keeps two daemons off one state directory (and one database). The lock lives as long as the process. */
static int lock_state_dir(struct daemon *d)
{
	char path[PATH_MAX], pid[32], held[32] = "";
	ssize_t n;
	int r;

	r = mkdir_if_missing(d->config.state_dir, 0700);
	if (r < 0) {
		log_err("cannot create state directory '%s': %s: create it or choose another with --state-dir",
			d->config.state_dir, strerror(-r));
		return r;
	}
	if ((size_t)snprintf(path, sizeof(path), "%s/meshfleetd.lock", d->config.state_dir) >= sizeof(path)) {
		log_err("state directory path is too long: '%s'", d->config.state_dir);
		return -ENAMETOOLONG;
	}
	d->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (d->lock_fd < 0) {
		r = -errno;
		log_err("cannot open '%s': %s: is the state directory writable by this user?", path, strerror(-r));
		return r;
	}
	if (flock(d->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		r = -errno;
		n = pread(d->lock_fd, held, sizeof(held) - 1, 0);
		held[n > 0 ? n : 0] = '\0';
		held[strcspn(held, "\n")] = '\0';
		log_err("state directory '%s' is in use by another meshfleetd (pid %s): stop it first, or give this "
			"one its own --state-dir", d->config.state_dir, held[0] ? held : "unknown");
		return r == -EWOULDBLOCK ? -EBUSY : r;
	}
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(d->lock_fd, 0) < 0 || pwrite(d->lock_fd, pid, (size_t)n, 0) != n)
		log_warning("cannot write the pid into '%s': %s, ignoring", path, strerror(errno));
	return 0;
}

/* STATE_DIR/http.port tells scripts and tests which port a "--listen ...:0" daemon got. */
static void write_port_file(struct daemon *d)
{
	char path[PATH_MAX], tmp[PATH_MAX + 8], text[16];
	int fd, n = snprintf(text, sizeof(text), "%u\n", http_port(d->http));

	if ((size_t)snprintf(path, sizeof(path), "%s/http.port", d->config.state_dir) >= sizeof(path))
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd) < 0 || rename(tmp, path) < 0) {
		log_warning("cannot write '%s': %s, ignoring", path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
	}
}

/* Opens the dongle named by the dongle setting. A missing or failing port is not fatal: the link retries, and
 * GET /api/v1/dongle says why it is not up. */
static void on_dongle_state(void *userdata, enum link_state state, const struct link_diagnosis *diag)
{
	struct daemon *d = userdata;

	if (d->mesh)
		mesh_client_link_state(d->mesh, state);
	events_publish(d->events, EVENT_DONGLE, json_pack("{s:s, s:s, s:s}", "state", link_state_to_string(state),
			"diagnosis", diag ? link_diag_code_to_string(diag->code) : "none",
			"message", diag ? diag->message : ""));
}

static void on_mesh_recv(void *userdata, const struct msg_mesh_recv *m)
{
	struct daemon *d = userdata;

	if (d->mesh)
		mesh_client_recv(d->mesh, m);
}

static int start_dongle(struct daemon *d)
{
	const struct dongle_callbacks callbacks = { .state = on_dongle_state, .mesh_recv = on_mesh_recv, .userdata = d };
	const struct mesh_client_options mesh_options = {
		.in_flight = d->config.mesh_in_flight,
		.timeout_ms = d->config.mesh_timeout_ms,
		.attempts = d->config.mesh_attempts,
		.dongle_id = d->config.dongle,
	};
	struct dongle_options options = { .link = { .kind = TRANSPORT_AUTO } };
	const char *spec = d->config.dongle;
	char found[PATH_MAX];
	size_t candidates = 0;
	int r;

	if (strcmp(spec, "none") == 0)
		return 0;
	if (strcmp(spec, "sim") == 0 || strncmp(spec, "sim:", 4) == 0) {
		const char *scenario = spec[3] == ':' ? spec + 4 : NULL;

		if (scenario && access(scenario, R_OK) < 0) {
			log_err("dongle '%s': cannot read the scenario file '%s': %s", spec, scenario, strerror(errno));
			return -errno;
		}
		if ((size_t)snprintf(found, sizeof(found), "%s/dongle-sim", d->config.state_dir) >= sizeof(found))
			return -ENAMETOOLONG;
		r = start_sim(d, scenario, found);
		if (r < 0)
			return r;
		options.link.path = found;
		options.link.kind = TRANSPORT_TERMIOS;
	} else if (strcmp(spec, "auto") == 0) {
		r = transport_find_dongle(found, sizeof(found), &candidates);
		if (r < 0 || candidates == 0) {
			log_warning("dongle auto: no USB serial port with a known dongle id (1915:520f, 2fe3:0100); "
				    "waiting for /dev/meshfleet-dongle (the udev rule's name)");
			snprintf(found, sizeof(found), "/dev/meshfleet-dongle");
		} else if (candidates > 1) {
			log_warning("dongle auto: %zu candidates, using '%s'; name the port with --dongle to choose",
				    candidates, found);
		}
		options.link.path = found;
	} else {
		options.link.path = spec;
	}
	r = dongle_new(&d->loop, &options, &callbacks, &d->dongle);
	if (r < 0) {
		log_err("dongle '%s': %s", options.link.path, strerror(-r));
		return r;
	}
	r = mesh_client_new(&d->loop, d->db, d->dongle, &mesh_options, NULL, NULL, &d->mesh);
	if (r == 0)
		r = discovery_new(&d->loop, d->db, d->mesh, &d->discovery);
	if (r == 0)
		r = groups_new(&d->loop, d->db, d->mesh, &d->groups);
	if (r == 0)
		r = preflight_new(&d->loop, d->db, d->mesh, &d->preflight);
	if (r == 0)
		r = engine_new(&d->loop, NULL, d->db, d->events, d->dongle, d->groups, d->mesh, d->firmware,
			       &d->engine);
	if (r == 0) {
		discovery_set_events(d->discovery, d->events);
		groups_set_events(d->groups, d->events);
		preflight_set_events(d->preflight, d->events);
	}
	if (r < 0) {
		log_err("dongle '%s': %s", options.link.path, strerror(-r));
		return r;
	}
	/* meshfleet-sim: the link starts when the simulator says that its port is ready (on_sim_line()). */
	if (d->sim_running)
		return 0;
	r = dongle_start(d->dongle);
	if (r < 0)
		log_err("dongle '%s': cannot start the link: %s", options.link.path, strerror(-r));
	return r;
}

/* [firmware] trusted_keys: all or nothing, and a bad file stops the start with its name. */
static int load_trusted_keys(struct daemon *d)
{
	const char *cursor = d->config.firmware_trusted_keys;
	char (*paths)[PATH_MAX] = calloc(CONFIG_LIST_MAX, PATH_MAX);
	const char *ptrs[CONFIG_LIST_MAX];
	struct mcuboot_error err = { "" };
	size_t n = 0;
	int r;

	d->keys = mcuboot_keyring_new();
	if (!paths || !d->keys) {
		free(paths);
		log_err("out of memory");
		return -ENOMEM;
	}
	while (n < CONFIG_LIST_MAX && config_list_next(&cursor, paths[n], PATH_MAX)) {
		ptrs[n] = paths[n];
		n++;
	}
	r = mcuboot_keyring_load_files(d->keys, ptrs, n, &err);
	free(paths);
	if (r < 0) {
		log_err("[firmware] trusted_keys: %s", err.message);
		return r;
	}
	if (d->config.firmware_require_signature && n == 0)
		log_notice("firmware: no trusted keys and require_signature on: every firmware import will be "
			   "refused; name the public keys in [firmware] trusted_keys");
	return 0;
}

static uint64_t events_clock(void *userdata)
{
	return uv_now(userdata);
}

/* Before the listener opens: without an admin token nobody could use the API. The file is for the operator who
 * installed the daemon; the secret never goes to the log. */
static int start_first_admin(struct daemon *d)
{
	char path[PATH_MAX], errbuf[PATH_MAX + 256];
	bool created = false;
	int r = tokens_first_admin(d->db, d->config.state_dir, &created, path, sizeof(path), errbuf, sizeof(errbuf));

	if (r < 0) {
		log_err("%s", errbuf);
		return r;
	}
	if (created)
		log_notice("created the first admin token: %s (readable by this user only)", path);
	return 0;
}

static int start(struct daemon *d)
{
	struct http_options http_options = {
		.listen = d->config.listen,
		.max_body_bytes = d->config.max_body_bytes,
		.max_connections = d->config.max_connections,
		.max_connections_per_ip = d->config.max_connections_per_ip,
		.connection_timeout_s = d->config.connection_timeout_s,
		.tls_cert = d->config.tls_cert,
		.tls_key = d->config.tls_key,
		.on_complete = api_audit_complete,
		.authenticate = api_authenticate,
		.role_name = api_role_name,
	};
	char path[PATH_MAX], errbuf[PATH_MAX + 256];
	uint64_t watchdog_ms;
	int r;

	r = load_trusted_keys(d);
	if (r < 0)
		return r;
	r = lock_state_dir(d);
	if (r < 0)
		return r;
	if ((size_t)snprintf(path, sizeof(path), "%s/" DB_FILE_NAME, d->config.state_dir) >= sizeof(path)) {
		log_err("state directory path is too long: '%s'", d->config.state_dir);
		return -ENAMETOOLONG;
	}
	r = db_open(path, &d->db, errbuf, sizeof(errbuf));
	if (r < 0) {
		log_err("%s", errbuf);
		return r;
	}
	log_info("database %s at schema version %d", path, db_schema_version(d->db));
	r = start_first_admin(d);
	if (r < 0)
		return r;
	r = firmware_new(&(struct firmware_options){
				.state_dir = d->config.state_dir,
				.db = d->db,
				.keys = d->keys,
				.require_signature = d->config.firmware_require_signature,
				.allow_downgrade = d->config.firmware_allow_downgrade,
			 }, &d->firmware, errbuf, sizeof(errbuf));
	if (r < 0) {
		log_err("%s", errbuf);
		return r;
	}
	log_info("firmware store %s/" FIRMWARE_DIR_NAME ": %zu trusted keys, require_signature %s",
		 d->config.state_dir, mcuboot_keyring_count(d->keys),
		 d->config.firmware_require_signature ? "on" : "off");
	d->metrics = metrics_new();
	if (!d->metrics) {
		log_err("out of memory");
		return -ENOMEM;
	}
	r = uv_loop_init(&d->loop);
	if (r < 0) {
		log_err("cannot create the event loop: %s", uv_strerror(r));
		return r;
	}
	d->loop_ready = true;
	r = events_new(d->db, &(struct events_options){ .clock = events_clock, .clock_userdata = &d->loop },
		       &d->events);
	if (r < 0) {
		log_err("cannot start the event bus: %s", strerror(-r));
		return r;
	}
	/* The loop's clock only paces the audit's log lines about failed inserts. */
	r = audit_new(d->db, &(struct audit_options){ .clock = events_clock, .clock_userdata = &d->loop },
		      &d->audit);
	if (r < 0) {
		log_err("cannot start the audit log: %s", strerror(-r));
		return r;
	}
	d->api = (struct api){
		.loop = &d->loop,
		.db = d->db,
		.metrics = d->metrics,
		.started_ms = uv_now(&d->loop),
		.web_root = d->config.web_root,
		.dongle_spec = d->config.dongle,
		.events = d->events,
		.firmware = d->firmware,
		.audit = d->audit,
	};
	r = http_new(&d->loop, &http_options, api_routes, api_n_routes, &d->api, d->metrics, &d->http,
		     errbuf, sizeof(errbuf));
	if (r < 0) {
		log_err("%s", errbuf);
		return r;
	}
	uv_signal_init(&d->loop, &d->sig_term);
	uv_signal_init(&d->loop, &d->sig_int);
	uv_signal_init(&d->loop, &d->sig_hup);
	d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
	uv_signal_start(&d->sig_term, on_signal, SIGTERM);
	uv_signal_start(&d->sig_int, on_signal, SIGINT);
	uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
	/* The dongle is optional to serving: when its link cannot even start, the API still runs and says so. */
	if (start_dongle(d) < 0) {
		discovery_free(d->discovery);
		d->discovery = NULL;
		preflight_free(d->preflight);
		d->preflight = NULL;
		engine_close(d->engine);
		d->engine = NULL;
		groups_free(d->groups);
		d->groups = NULL;
		mesh_client_close(d->mesh);
		d->mesh = NULL;
		d->dongle = dongle_free(d->dongle);
	}
	d->api.dongle = d->dongle;
	d->api.mesh = d->mesh;
	d->api.discovery = d->discovery;
	d->api.groups = d->groups;
	d->api.preflight = d->preflight;
	d->api.engine = d->engine;
	uv_timer_init(&d->loop, &d->watchdog);
	watchdog_ms = notify_watchdog_ms();
	if (watchdog_ms)
		uv_timer_start(&d->watchdog, on_watchdog, watchdog_ms / 2, watchdog_ms / 2);
	write_port_file(d);
	log_info("meshfleetd %s listening on %s://%.*s:%u/ (state %s, dongle %s)", PACKAGE_VERSION,
		 http_tls(d->http) ? "https" : "http", (int)(strrchr(d->config.listen, ':') - d->config.listen),
		 d->config.listen, http_port(d->http),
		 d->config.state_dir, d->config.dongle);
	r = notify_send("READY=1");
	if (r < 0)
		log_warning("cannot notify systemd: %s, ignoring", strerror(-r));
	return 0;
}

static int add_override(struct daemon *d, const char *section, const char *key, const char *value)
{
	struct config_error err;
	struct config probe;

	/* Check now, so a bad option is a usage error before anything starts. */
	config_init(&probe);
	if (config_set(&probe, section, key, value, &err) < 0) {
		log_err("%s", err.message);
		return -EINVAL;
	}
	if (d->n_overrides == MAX_OVERRIDES)
		return -E2BIG;
	d->overrides[d->n_overrides++] = (struct override){ section, key, value };
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_LIST_ROUTES = 0x100 };
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "dongle", required_argument, NULL, 'd' },
		{ "web-root", required_argument, NULL, 'w' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "list-routes", no_argument, NULL, OPT_LIST_ROUTES },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon d = { .lock_fd = -1 };
	int c, r = 0, status = 1;

	while ((c = getopt_long(argc, argv, "c:s:l:d:w:L:Vh", options, NULL)) != -1) {
		switch (c) {
		case 'c':
			d.config_path = optarg;
			break;
		case 's':
			r = add_override(&d, "daemon", "state_dir", optarg);
			break;
		case 'l':
			r = add_override(&d, "http", "listen", optarg);
			break;
		case 'd':
			r = add_override(&d, "daemon", "dongle", optarg);
			break;
		case 'w':
			r = add_override(&d, "http", "web_root", optarg);
			break;
		case 'L':
			r = add_override(&d, "daemon", "log_level", optarg);
			break;
		case OPT_LIST_ROUTES:
			for (size_t i = 0; i < api_n_routes; i++)
				printf("%s %s\n", api_routes[i].method, api_routes[i].pattern);
			return 0;
		case 'V':
			printf("meshfleetd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (c != 'c' && r < 0)
			return 2;
	}
	if (optind < argc) {
		log_err("unexpected argument '%s'", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (!d.config_path && access(CONFIG_DEFAULT_PATH, F_OK) == 0)
		d.config_path = CONFIG_DEFAULT_PATH;
	if (config_build(&d, &d.config) < 0)
		return 1;
	log_set_level(d.config.log_level);
	signal(SIGPIPE, SIG_IGN);

	if (start(&d) == 0) {
		/* Runs until the signal handler has closed the listener and the signal handles. */
		uv_run(&d.loop, UV_RUN_DEFAULT);
		status = 0;
	}
	d.http = http_free(d.http);
	d.dongle = dongle_free(d.dongle);
	d.events = events_free(d.events);
	d.audit = audit_free(d.audit);
	d.firmware = firmware_free(d.firmware);
	mcuboot_keyring_free(d.keys);
	d.db = db_free(d.db);
	d.metrics = metrics_free(d.metrics);
	if (d.loop_ready) {
		r = uv_loop_close(&d.loop);
		if (r != 0) {
			log_err("event loop closed with handles still open (%s): this is a bug", uv_strerror(r));
			status = 1;
		}
	}
	if (d.lock_fd >= 0)
		close(d.lock_fd);
	if (status == 0)
		log_info("stopped");
	return status;
}
