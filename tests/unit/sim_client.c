/* sim_client: see sim_client.h. Taken out of test_sim_link.c when test_dist_sim.c needed the same host. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "sim_client.h"

#ifndef SIM_PATH
#define SIM_PATH "firmware_dongle/sim/meshfleet-sim"
#endif

char sim_tmpdir[256];
char sim_path[1024];

bool sim_client_setup(const char *name)
{
	const char *env = getenv("MESHFLEET_SIM"), *build = getenv("MF_BUILDDIR"), *tmp = getenv("TMPDIR");

	if (env && env[0])
		snprintf(sim_path, sizeof(sim_path), "%s", env);
	else if (build && build[0])
		snprintf(sim_path, sizeof(sim_path), "%s/firmware_dongle/sim/meshfleet-sim", build);
	else
		snprintf(sim_path, sizeof(sim_path), "%s", SIM_PATH);
	if (access(sim_path, X_OK) != 0) {
		printf("Bail out! no meshfleet-sim at '%s' (build it, or set MESHFLEET_SIM)\n", sim_path);
		return false;
	}
	snprintf(sim_tmpdir, sizeof(sim_tmpdir), "%s/meshfleet-%s.XXXXXX", tmp && tmp[0] ? tmp : "/tmp", name);
	if (!mkdtemp(sim_tmpdir)) {
		printf("Bail out! mkdtemp '%s': %s\n", sim_tmpdir, strerror(errno));
		return false;
	}
	return true;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

void sim_client_cleanup(void)
{
	if (getenv("MF_KEEP"))
		printf("# kept %s\n", sim_tmpdir);
	else
		nftw(sim_tmpdir, remove_one, 8, FTW_DEPTH | FTW_PHYS);     /* only files this test made */
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t rng_state = 0x12345678;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

void fill_random(uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rng();
}

void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

char *read_text(const char *path)
{
	static char buf[16384];
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = '\0';
	if (f) {
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
	}
	buf[n] = '\0';
	return buf;
}

/* ---------------------------------------------------------------- the simulator process */


/* Starts the simulator with @args (NULL-terminated). */
bool sim_start(struct sim *s, const char *const *args)
{
	static int serial;
	const char *argv[SIM_ARGS_MAX + 2] = { sim_path };
	int pipefd[2];
	size_t n = 1;

	*s = (struct sim){ .pid = -1, .out = -1 };
	snprintf(s->err_path, sizeof(s->err_path), "%s/sim%d.err", sim_tmpdir, ++serial);
	for (; args[n - 1] && n <= SIM_ARGS_MAX; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return false;
	s->pid = fork();
	if (s->pid == 0) {
		int err = open(s->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		dup2(pipefd[1], 1);
		if (err >= 0)
			dup2(err, 2);
		execv(sim_path, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	s->out = pipefd[0];
	fcntl(s->out, F_SETFL, O_NONBLOCK);
	return s->pid > 0;
}

/* Waits for the next "pty: PATH" line on the simulator's stdout. */
bool sim_wait_pty(struct sim *s)
{
	int64_t end = now_ms() + SIM_WAIT_MS;

	while (now_ms() < end) {
		struct pollfd p = { .fd = s->out, .events = POLLIN };
		char *nl;
		ssize_t n;

		if ((nl = memchr(s->line, '\n', s->line_len)) != NULL) {
			size_t len = (size_t)(nl - s->line);
			bool pty = len > 5 && strncmp(s->line, "pty: ", 5) == 0 && len - 5 < sizeof(s->pty);

			if (pty) {
				memcpy(s->pty, s->line + 5, len - 5);
				s->pty[len - 5] = '\0';
			}
			memmove(s->line, nl + 1, s->line_len - len - 1);
			s->line_len -= len + 1;
			if (pty)
				return true;
			continue;
		}
		poll(&p, 1, 100);
		n = read(s->out, s->line + s->line_len, sizeof(s->line) - s->line_len);
		if (n == 0)
			return false;
		if (n > 0)
			s->line_len += (size_t)n;
	}
	return false;
}

/* Waits (bounded) for the simulator to end; returns its exit status, or -1 (killed). */
int sim_wait(struct sim *s)
{
	int64_t end = now_ms() + SIM_WAIT_MS;
	int status;

	while (now_ms() < end) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = -1;
			if (s->out >= 0)
				close(s->out);
			s->out = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		poll(NULL, 0, 10);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &status, 0);
	s->pid = -1;
	return -1;
}

int sim_stop(struct sim *s)
{
	if (s->pid <= 0)
		return -1;
	kill(s->pid, SIGTERM);
	return sim_wait(s);
}

/* Runs the simulator to its end; *ret_err is its stderr. */
int sim_run_once(const char *const *args, const char **ret_err)
{
	struct sim s;
	int status;

	if (!sim_start(&s, args))
		return -1;
	status = sim_wait(&s);
	*ret_err = read_text(s.err_path);
	return status;
}

/* ---------------------------------------------------------------- the host */





bool host_open(struct host *h, const char *path)
{
	struct termios tio;

	host_event_fn on_event = h->on_event;
	void *event_ctx = h->event_ctx;

	memset(h, 0, sizeof(*h));
	h->on_event = on_event;         /* the hook outlives a reopen */
	h->event_ctx = event_ctx;
	h->call_timeout_ms = HOST_CALL_TIMEOUT_MS;
	h->fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (h->fd < 0)
		return false;
	if (tcgetattr(h->fd, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(h->fd, TCSANOW, &tio);
	}
	tcflush(h->fd, TCIFLUSH);       /* what the dongle said before we listened */
	cobs_stream_init(&h->rx, h->rx_buf, sizeof(h->rx_buf));
	h->next_id = MSG_HELLO_ID + 1;
	return true;
}

void host_close(struct host *h)
{
	if (h->fd >= 0)
		close(h->fd);
	h->fd = -1;
}

bool host_send(struct host *h, struct msg *m, uint32_t id, bool retransmit)
{
	static uint8_t frame[FRAME_MAX_SIZE], wire[COBS_WIRE_MAX(FRAME_MAX_SIZE)];
	size_t len = 0, wire_len, off = 0;
	int64_t end = now_ms() + SIM_WAIT_MS;

	m->kind = FRAME_REQUEST;
	if (msg_encode_frame(m, id, retransmit, frame, sizeof(frame), &len) != MSG_STATUS_OK)
		return false;
	wire_len = cobs_encode_frame(frame, len, true, wire, sizeof(wire));
	while (off < wire_len && now_ms() < end) {
		ssize_t n = write(h->fd, wire + off, wire_len - off);

		if (n > 0) {
			off += (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd p = { .fd = h->fd, .events = POLLOUT };

			poll(&p, 1, 50);
		} else {
			h->link_lost = true;
			return false;
		}
	}
	return off == wire_len;
}

static void handle_frame(struct host *h, const uint8_t *frame, size_t len)
{
	struct reply *r = &h->responses[h->response_next];
	struct frame_header hd;

	if (frame_decode(frame, len, &hd) != FRAME_OK) {
		h->bad_frames++;
		return;
	}
	h->frames++;
	if (hd.kind == FRAME_EVENT) {
		struct event *e = &h->events[h->event_count % HOST_EVENTS_MAX];
		struct msg m;
		bool decoded;

		h->event_count++;
		*e = (struct event){ .type = hd.type, .seq = hd.seq };
		decoded = msg_decode(&hd, frame + FRAME_HEADER_SIZE, &m) == MSG_STATUS_OK;
		if (hd.type == MSG_MESH_RECV && decoded) {
			e->src = m.u.mesh_recv.src;
			e->len = m.u.mesh_recv.payload_len;
			memcpy(e->payload, m.u.mesh_recv.payload, e->len);
		}
		if (h->on_event)
			h->on_event(h->event_ctx, &hd, decoded ? &m : NULL);
		return;
	}
	memcpy(r->frame, frame, len);
	r->h = hd;
	r->decoded = msg_decode(&r->h, r->frame + FRAME_HEADER_SIZE, &r->m);
	h->response_used[h->response_next] = true;
	h->response_next = (h->response_next + 1) % HOST_PENDING_MAX;
}

/* Reads what the link has within @timeout_ms and handles every frame in it. */
void host_pump(struct host *h, int timeout_ms)
{
	struct pollfd p = { .fd = h->fd, .events = POLLIN };
	uint8_t buf[4096];
	ssize_t n;

	if (poll(&p, 1, timeout_ms) <= 0)
		return;
	n = read(h->fd, buf, sizeof(buf));
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		h->link_lost = true;
		return;
	}
	for (const uint8_t *q = buf; n > 0;) {
		size_t frame_len, used = cobs_stream_feed(&h->rx, q, (size_t)n, &frame_len);

		q += used;
		n -= (ssize_t)used;
		if (frame_len > 0)
			handle_frame(h, h->rx_buf, frame_len);
	}
}

static bool host_take(struct host *h, uint32_t id, uint8_t type, struct reply *ret)
{
	for (unsigned i = 0; i < HOST_PENDING_MAX; i++) {
		if (h->response_used[i] && h->responses[i].h.seq == id && h->responses[i].h.type == type) {
			h->response_used[i] = false;
			*ret = h->responses[i];
			ret->decoded = msg_decode(&ret->h, ret->frame + FRAME_HEADER_SIZE, &ret->m);
			return true;
		}
	}
	return false;
}

/* Waits for the response to (@id, @type). Returns 1, 0 after @timeout_ms, -1 when the link is gone. */
int host_wait(struct host *h, uint32_t id, uint8_t type, struct reply *ret, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		int64_t left = end - now_ms();

		if (host_take(h, id, type, ret))
			return 1;
		if (h->link_lost)
			return -1;
		if (left <= 0)
			return 0;
		host_pump(h, (int)left);
	}
}

/* One request: sent, and sent again with the retransmission flag after each CALL_TIMEOUT_MS, @tries times in all.
 * Returns the response's status, -ETIMEDOUT or -EIO (link gone). HELLO always goes with its own id. */
int host_call_tries(struct host *h, struct msg *req, struct reply *ret, int tries)
{
	static struct reply scratch;
	uint32_t id = req->type == MSG_HELLO ? MSG_HELLO_ID : h->next_id++;

	if (!ret)
		ret = &scratch;
	for (int i = 0; i < tries; i++) {
		int rc;

		if (i > 0)
			h->retransmits++;
		if (!host_send(h, req, id, i > 0))
			return -EIO;
		rc = host_wait(h, id, (uint8_t)req->type, ret, h->call_timeout_ms);
		if (rc > 0)
			return ret->h.status;
		if (rc < 0)
			return -EIO;
	}
	return -ETIMEDOUT;
}

int host_call(struct host *h, struct msg *req, struct reply *ret)
{
	return host_call_tries(h, req, ret, 3);
}

int host_hello(struct host *h, struct msg_hello *ret, int tries)
{
	struct msg req = { .type = MSG_HELLO };
	struct reply r;
	int st = host_call_tries(h, &req, &r, tries);

	h->next_id = MSG_HELLO_ID + 1;
	if (st == MSG_STATUS_OK && ret)
		*ret = r.decoded == MSG_STATUS_OK ? r.m.u.hello : (struct msg_hello){ 0 };
	return st;
}

int host_slot_image(struct host *h, enum msg_type type, uint32_t size, const uint8_t *hash, int tries)
{
	struct msg req = { .type = type, .u.slot_image = { .size = size } };

	memcpy(req.u.slot_image.sha256, hash, 32);
	return host_call_tries(h, &req, NULL, tries);
}

struct msg_slot_info host_slot_info(struct host *h)
{
	struct msg req = { .type = MSG_SLOT_INFO };
	struct reply r;

	if (host_call_tries(h, &req, &r, 20) != MSG_STATUS_OK || r.decoded != MSG_STATUS_OK)
		return (struct msg_slot_info){ .state = 99 };
	return r.m.u.slot_info;
}

/* Writes image[from, to) in @chunk-byte writes, each retried up to @tries times; continues where SLOT_OFFSET says.
 * Returns the offset reached (== @to on success). */
uint32_t host_upload(struct host *h, const uint8_t *image, uint32_t from, uint32_t to, uint16_t chunk, int tries)
{
	uint32_t off = from;
	int failures = 0;

	while (off < to && failures < 10) {
		uint16_t n = (uint16_t)(to - off < chunk ? to - off : chunk);
		struct msg req = { .type = MSG_SLOT_WRITE,
				   .u.slot_write = { .offset = off, .data = image + off, .len = n } };
		struct reply r;
		int st = host_call_tries(h, &req, &r, tries);

		if (st == MSG_STATUS_OK) {
			off += n;
		} else if (st == MSG_STATUS_SLOT_OFFSET && r.decoded == MSG_STATUS_OK) {
			off = r.m.u.bytes_written;
			failures++;
		} else {
			printf("#   SLOT_WRITE at %u: %d (%s)\n", off, st,
			       st >= 0 ? msg_status_to_string((unsigned)st) : "");
			return off;
		}
	}
	return off;
}

struct msg host_mesh_config(uint16_t address, uint32_t seq)
{
	struct msg m = { .type = MSG_MESH_CONFIG };

	memset(m.u.mesh_config.net_key, 0x11, 16);
	memset(m.u.mesh_config.app_key, 0x22, 16);
	m.u.mesh_config.app_key_index = 0;
	m.u.mesh_config.seq = seq;
	m.u.mesh_config.address = address;
	return m;
}
bool host_wait_link_lost(struct host *h)
{
	int64_t end = now_ms() + SIM_WAIT_MS;

	while (!h->link_lost && now_ms() < end)
		host_pump(h, 100);
	return h->link_lost;
}
