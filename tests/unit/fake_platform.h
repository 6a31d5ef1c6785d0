/* fake_platform: a firmware_dongle/core platform in memory, for tests/unit/test_core.c and tests/fuzz/fuzz_core.c.
 * Flash behaves like NOR flash (an erase sets 0xff, a write can only clear bits) and counts writes to bytes that
 * were not erased; records survive a "reset" (a new core_init() on the same fake); everything the core sends is
 * collected in @out, and can be refused to simulate a full transmit buffer. */
#ifndef MESHFLEET_TESTS_FAKE_PLATFORM_H
#define MESHFLEET_TESTS_FAKE_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform.h"

#define FAKE_SLOT_SIZE (64 * 1024)
#define FAKE_PAGE_SIZE 4096
#define FAKE_OUT_MAX (256 * 1024)
#define FAKE_MESH_MAX 32

struct fake_mesh_tx {
	uint16_t src, dst, key_index;
	bool devkey;
	uint8_t ttl;
	uint32_t seq, seq_count, iv_index;
	uint8_t payload[MSG_ACCESS_MAX];
	uint16_t payload_len;
};

struct fake {
	struct core_platform platform;
	uint64_t now;
	/* flash */
	uint8_t slot[FAKE_SLOT_SIZE];
	unsigned erases, writes, reads;
	unsigned overwrites;            /* writes to bytes that were not 0xff: a bug in the core */
	unsigned misaligned;            /* erases or writes that break the geometry: a bug in the core */
	int fail_writes;                /* > 0: that many slot writes fail (-5, EIO) */
	/* records */
	struct {
		bool present;
		uint8_t data[CORE_RECORD_MAX];
		size_t len;
		unsigned writes;
	} rec[CORE_RECORD_COUNT];
	bool fail_store;
	/* link */
	uint8_t out[FAKE_OUT_MAX];
	size_t out_len;
	size_t out_read;                /* fake_next_frame() reads from here */
	bool refuse_send;               /* the transmit buffer is "full" */
	unsigned sends_refused;
	/* mesh */
	bool mesh_configured;
	uint32_t mesh_config_seq;
	struct fake_mesh_tx mesh_tx[FAKE_MESH_MAX];     /* the last FAKE_MESH_MAX, by count % FAKE_MESH_MAX */
	unsigned mesh_tx_count;
	bool mesh_fail;                 /* the stack refuses messages (-105, ENOBUFS) */
	unsigned mesh_busy;             /* > 0: that many sends answer CORE_MESH_SEND_BUSY */
	/* test_dist: sees every message the stack takes (the ring above keeps only the last FAKE_MESH_MAX) */
	void (*mesh_hook)(void *hook_ctx, const struct fake_mesh_tx *tx);
	void *hook_ctx;
	uint64_t random_state;          /* the random op: a counter, so runs repeat */
	/* reset and log */
	unsigned resets;
	enum msg_reset_mode reset_mode;
	unsigned log_lines;
	char last_log[160];
	char all_logs[8192];            /* every line since fake_init(), one per line, as long as it fits */
};

/* Erased flash, no records, an empty link; @with_mesh and @with_slot select the ops. */
void fake_init(struct fake *f, bool with_mesh, bool with_slot);

/* The @back-th last message handed to the mesh stack (0 = the last one). */
const struct fake_mesh_tx *fake_mesh_last(const struct fake *f, unsigned back);

/* The next complete frame the core sent since the last call, decoded into @frame (FRAME_MAX_SIZE bytes);
 * returns its length, or 0 when there is none. Garbage and broken frames count as none (they must not happen). */
size_t fake_next_frame(struct fake *f, uint8_t *frame);

#endif
