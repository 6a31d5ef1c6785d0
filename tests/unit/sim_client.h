/* sim_client: the tests' host for meshfleet-sim over its pseudo-terminal, written on protocol/ alone: the simulator
 * as a child process (its "pty: PATH" lines, its exit status), and a host that sends requests with retransmission,
 * waits for their responses by id and keeps the events. Shared by test_sim_link.c and test_dist_sim.c; the protocol
 * is docs/protocol.md, the simulator's command line docs/simulator.md.
 *
 * Glossary: a *call* is one request sent, and sent again with the retransmission flag, until its response comes;
 * *pump* reads what the link has and files every frame in it (responses by id, events in a ring and to the hook).
 *
 * The simulator binary: $MESHFLEET_SIM, else $MF_BUILDDIR/firmware_dongle/sim/meshfleet-sim, else SIM_PATH (the
 * test's build defines it). Every wait is bounded (SIM_WAIT_MS of real time), and none is a timing assertion. */
#ifndef MESHFLEET_SIM_CLIENT_H
#define MESHFLEET_SIM_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cobs.h"
#include "frame.h"
#include "messages.h"

#define SIM_WAIT_MS 10000               /* bound of every wait for the simulator; not a timing assertion */
#define SIM_ARGS_MAX 32                 /* command line arguments after the program */
#define HOST_CALL_TIMEOUT_MS 250        /* before a retransmission (a pty answers in well under a millisecond) */
#define HOST_EVENTS_MAX 64              /* events kept in struct host's ring */
#define HOST_PENDING_MAX 32             /* responses arrived and not yet taken */

extern char sim_tmpdir[256];            /* the test's scratch directory, from sim_client_setup() */
extern char sim_path[1024];             /* the simulator binary */

/* Finds the simulator and makes the scratch directory $TMPDIR/meshfleet-@name.XXXXXX; false (after a TAP
 * "Bail out!" line) if either fails. */
bool sim_client_setup(const char *name);
/* Removes the scratch directory (only files the test made), unless $MF_KEEP is set. */
void sim_client_cleanup(void);

/* Test utilities: the monotonic clock in ms, pseudo-random bytes (the same sequence in every run), a text file
 * written or read whole (read_text: a static buffer of 16 KiB, "" if the file cannot be read). */
int64_t now_ms(void);
void fill_random(uint8_t *p, size_t len);
void write_file(const char *path, const char *text);
char *read_text(const char *path);

/* --- the simulator process --- */

/* A meshfleet-sim child process. */
struct sim {
	pid_t pid;
	int out;                /* its stdout */
	char line[512];         /* a partial stdout line */
	size_t line_len;
	char pty[128];          /* from the last "pty:" line */
	char err_path[300];     /* its stderr */
};

/* Starts the simulator with @args (NULL-terminated, after the program); its stderr goes to @s->err_path. */
bool sim_start(struct sim *s, const char *const *args);
/* Waits for the next "pty: PATH" line on the simulator's stdout (into @s->pty). */
bool sim_wait_pty(struct sim *s);
/* Waits (bounded) for the simulator to end; returns its exit status, or -1 (killed). */
int sim_wait(struct sim *s);
/* SIGTERM, then sim_wait(); -1 if it was not running. */
int sim_stop(struct sim *s);
/* Runs the simulator to its end; *ret_err is its stderr (read_text()'s buffer). */
int sim_run_once(const char *const *args, const char **ret_err);

/* --- the host --- */

struct host;
/* @m is the decoded event (borrowed: valid during the call), NULL if it did not decode. */
typedef void (*host_event_fn)(void *ctx, const struct frame_header *hd, const struct msg *m);

/* A response, kept until host_wait() takes it. */
struct reply {
	struct frame_header h;
	struct msg m;                   /* borrowed pointers point into @frame */
	enum msg_status decoded;
	uint8_t frame[FRAME_MAX_SIZE];
};

/* An event frame; @src and @payload for MESH_RECV only. */
struct event {
	uint8_t type;
	uint32_t seq;
	uint16_t src;
	uint8_t payload[MSG_ACCESS_MAX];
	uint16_t len;
};

/* The host end of the link: requests by id with retransmission, responses and events. */
struct host {
	int fd;
	struct cobs_stream rx;
	uint8_t rx_buf[FRAME_MAX_SIZE];
	uint32_t next_id;
	bool link_lost;                 /* EIO or hang-up: unplugged */
	unsigned frames, bad_frames, retransmits;
	struct reply responses[HOST_PENDING_MAX];    /* arrived, not yet taken; oldest replaced first */
	bool response_used[HOST_PENDING_MAX];
	unsigned response_next;
	struct event events[HOST_EVENTS_MAX];  /* the last HOST_EVENTS_MAX events, by event_count */
	unsigned event_count;
	int call_timeout_ms;            /* before a retransmission; HOST_CALL_TIMEOUT_MS from host_open() */
	host_event_fn on_event;         /* optional, kept across host_open(): every event as it arrives */
	void *event_ctx;
};

/* Opens the pty (raw, non-blocking) and drops what the dongle said before. */
bool host_open(struct host *h, const char *path);
void host_close(struct host *h);
/* Sends one request with @id. False if the link is gone. */
bool host_send(struct host *h, struct msg *m, uint32_t id, bool retransmit);
/* Reads what the link has within @timeout_ms and handles every frame in it. */
void host_pump(struct host *h, int timeout_ms);
/* Waits for the response to (@id, @type). Returns 1, 0 after @timeout_ms, -1 when the link is gone. */
int host_wait(struct host *h, uint32_t id, uint8_t type, struct reply *ret, int timeout_ms);
/* One request: sent, and sent again with the retransmission flag after each call timeout, @tries times in all.
 * Returns the response's status, -ETIMEDOUT or -EIO (link gone). HELLO always goes with its own id. @ret may be
 * NULL. */
int host_call_tries(struct host *h, struct msg *req, struct reply *ret, int tries);
int host_call(struct host *h, struct msg *req, struct reply *ret);     /* 3 tries */
/* HELLO (request ids start again after it); *ret the dongle's answer if OK (@ret may be NULL). */
int host_hello(struct host *h, struct msg_hello *ret, int tries);
/* SLOT_BEGIN or SLOT_COMMIT (@type) of an image of @size bytes with SHA-256 @hash. */
int host_slot_image(struct host *h, enum msg_type type, uint32_t size, const uint8_t *hash, int tries);
/* SLOT_INFO; state 99 if it failed. */
struct msg_slot_info host_slot_info(struct host *h);
/* Writes image[from, to) in @chunk-byte writes, each retried up to @tries times; continues where SLOT_OFFSET says.
 * Returns the offset reached (== @to on success). */
uint32_t host_upload(struct host *h, const uint8_t *image, uint32_t from, uint32_t to, uint16_t chunk, int tries);
/* A MESH_CONFIG request with the keys the tests use (net 0x11.., app 0x22.., index 0). */
struct msg host_mesh_config(uint16_t address, uint32_t seq);
/* Pumps until the link is lost (bounded); whether it was. */
bool host_wait_link_lost(struct host *h);

#endif
