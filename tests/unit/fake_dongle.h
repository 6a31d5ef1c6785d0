/* fake_dongle: a dongle for the link tests, on the master side of a pseudo-terminal, on the test's own uv loop.
 *
 * It speaks the protocol through the codec (protocol/), keeps a slot and a duplicate cache as docs/protocol.md
 * requires, and can misbehave on demand: corrupt, drop and duplicate bytes in either direction, drop or hold
 * responses, answer BUSY, send garbage between frames, unplug (close the master and remove the link path) and
 * come back, or be some other device entirely (silent, nRF5 SDK for Mesh serial, wrong baud rate, another
 * protocol version or frame format). The link under test opens @link_path, a symlink to the current slave.
 */
#ifndef MESHFLEET_TEST_FAKE_DONGLE_H
#define MESHFLEET_TEST_FAKE_DONGLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cobs.h"
#include "frame.h"
#include "messages.h"

#define FAKE_CACHE 32
#define FAKE_OUT_CAP (256 * 1024)
#define FAKE_PAGE_SIZE 4096     /* the slot's erase unit, as on the nRF52840 */

enum fake_mode {
	FAKE_MESHFLEET,         /* the real thing */
	FAKE_SILENT,            /* reads, never writes */
	FAKE_NRF5,              /* an nRF5 SDK for Mesh serial device: Device Started at first input, Cmd Rsp, Echo Rsp */
	FAKE_NRF5_STARTED,      /* only its Device Started event, then nothing */
	FAKE_GARBAGE,           /* answers every input with bytes of a wrong baud rate */
	FAKE_OTHER_FORMAT,      /* answers HELLO with an intact frame of frame format 2 (magic 0xB2) */
};

struct fake_dongle_options {
	enum fake_mode mode;
	uint8_t proto_major;            /* 0 = MSG_VERSION_MAJOR */
	uint8_t window;                 /* 0 = 8 */
	uint16_t max_frame;             /* 0 = FRAME_MAX_SIZE */
	uint32_t slot_size;             /* 0 = 408 KiB */
	double out_corrupt, out_drop, out_dup;  /* per byte, dongle -> host */
	double in_corrupt, in_drop, in_dup;     /* per byte, host -> dongle */
	uint32_t seed;
	uint32_t unplug_at;             /* unplug once when the slot's bytes_written reaches this (0 = never) */
	uint32_t replug_after_ms;       /* then come back after this long */
	bool dist;                      /* a Distributor (feature DIST, protocol 1.1), scripted by the test: below */
	uint16_t dist_page_max;         /* DIST_TARGETS_GET entries per page; 0 = as many as fit */
};

#define FAKE_DIST_TARGETS 1024

/* The scripted Distributor: it takes DIST_START batches as the real one does (docs/protocol.md §7.13) and answers
 * DIST_GET, DIST_TARGETS_GET and the commands from this record; the test moves targets and the distribution with
 * fake_dongle_dist_target() and fake_dongle_dist_state(), which also send the events. */
struct fake_dist {
	uint32_t id;                    /* 0 = IDLE */
	uint8_t state, phase, reason, policy;
	uint16_t group, total, received;
	uint8_t sha256[MSG_SHA256_SIZE];
	uint8_t fwid[MSG_DIST_FWID_MAX];
	uint8_t fwid_len;
	bool have[FAKE_DIST_TARGETS];
	struct msg_dist_target_info t[FAKE_DIST_TARGETS];
	uint32_t batches;               /* DIST_START requests executed */
	uint32_t max_batch;             /* the most entries one of them carried */
	uint32_t pages;                 /* DIST_TARGETS_GET requests executed */
	uint32_t suspends, resumes, cancels, applies;
};

struct fake_dongle {
	uv_loop_t *loop;
	struct fake_dongle_options o;
	char link_path[256];
	char slave_path[64];
	int master;                     /* -1 while unplugged */
	uv_poll_t poll;
	bool poll_ready;
	uv_timer_t timer;               /* unplug / replug */
	int open_handles;
	bool closing;
	uint64_t rng;

	struct cobs_stream rx;
	uint8_t rx_buf[FRAME_MAX_SIZE];
	uint8_t *out;
	size_t out_len;
	bool want_write;

	/* misbehaviour switches, set by the test */
	uint32_t drop_responses;        /* the next N responses are computed (and cached) but never sent */
	uint32_t busy_responses;        /* the next N requests are answered BUSY */
	bool hold;                      /* collect requests without answering until fake_dongle_release() */
	bool ignore_requests;           /* answer HELLO only */
	bool garbage_between;           /* a burst of non-zero garbage before each frame */
	bool corrupt_slot;              /* flip a bit of the slot's first byte at the next write (flash gone bad) */
	uint32_t flash_failures;        /* the next N SLOT_WRITEs over offset flash_fail_at fail as in the core
					 * (slot.c): FLASH_ERROR, bytes_written back to the start of the page, which
					 * is left garbled ... */
	uint32_t flash_fail_at;
	bool flash_fail_mute;           /* ... and their answers are lost (cached, never sent) */
	uint32_t garbage_bursts;

	/* nRF5 serial bearer state */
	bool nrf5_started_sent;
	int nrf5_need;                  /* bytes still due in the current packet; -1: a length byte comes next */
	uint8_t nrf5_pkt[256];
	int nrf5_len;
	/* raw input as received, for checks on what the host sent (bounded) */
	uint8_t raw_in[4096];
	size_t raw_in_len;

	/* the dongle's state */
	uint32_t event_seq;
	uint8_t reset_reason;
	struct {
		bool used;
		uint32_t id;
		uint8_t type;
		uint8_t status;
		uint8_t payload[4];
		uint16_t len;
	} cache[FAKE_CACHE];
	size_t cache_next;
	uint8_t *slot;
	uint32_t slot_image_size, slot_written;
	uint8_t slot_state;
	uint8_t slot_sha[MSG_SHA256_SIZE];
	bool unplugged_once;
	bool configured;
	uint32_t mesh_seq;

	/* held requests (hold mode) */
	struct {
		struct frame_header h;
		uint8_t payload[FRAME_MAX_PAYLOAD];
	} held[64];
	size_t n_held;

	/* what it saw */
	uint32_t plugs;
	uint32_t hellos;
	uint32_t requests;
	uint32_t retransmit_flags;
	uint32_t duplicates_answered;
	uint32_t bad_frames_in;
	uint32_t executed[256];         /* per type: requests executed (not answered from the cache) */
	uint32_t slot_begins;
	uint32_t flash_errors;          /* SLOT_WRITEs answered FLASH_ERROR */
	uint64_t slot_bytes_received;   /* SLOT_WRITE data accepted */
	uint32_t responses_sent;
	uint32_t max_id_seen;

	struct fake_dist dist;
};

/* Creates the pty and the symlink @link_path. Returns 0 or a negative errno. */
int fake_dongle_init(struct fake_dongle *f, uv_loop_t *loop, const char *link_path,
		     const struct fake_dongle_options *o);
/* Closes the master (the host sees a hang-up) and removes the link path. */
void fake_dongle_unplug(struct fake_dongle *f);
/* A new pty behind the same link path; the dongle's slot and event numbers survive, as on a real re-plug. */
int fake_dongle_replug(struct fake_dongle *f);
/* A restart: events count from 0 again, the cache empties, reset reason @reason. */
void fake_dongle_reboot(struct fake_dongle *f, uint8_t reason);
/* Sends an event; the sequence number advances by 1 + @skip (a skip leaves a gap). */
void fake_dongle_send_log(struct fake_dongle *f, uint8_t level, const char *module, const char *text,
			  uint32_t skip);
/* Answers every held request, in order. */
void fake_dongle_release(struct fake_dongle *f);
/* Target @index of the distribution gets @phase, @result and @reason; a DIST_TARGET event tells the host. */
void fake_dongle_dist_target(struct fake_dongle *f, uint16_t index, uint8_t phase, uint8_t result, uint8_t reason);
/* The distribution's state, phase and reason change; a DIST_STATE event tells the host. */
void fake_dongle_dist_state(struct fake_dongle *f, uint8_t state, uint8_t phase, uint8_t reason);
/* A DIST_PROGRESS event. */
void fake_dongle_dist_progress(struct fake_dongle *f, uint16_t blocks_done, uint16_t blocks, uint16_t active);
/* Closes every handle; the loop then runs dry. */
void fake_dongle_close(struct fake_dongle *f);

#endif
