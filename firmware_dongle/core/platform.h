/* platform: what the firmware core needs from the board it runs on (firmware_dongle/README.md, "The platform
 * interface"). The Zephyr port implements it on the nRF52840 dongle, meshfleet-sim on Linux, the unit tests with a
 * fake. Freestanding C11: only <stdint.h>, <stddef.h> and <stdbool.h>.
 *
 * Execution model ("poll"): the core is single-threaded and never blocks or sleeps. The port calls, from one thread,
 *   core_input()      with bytes received from the host, in chunks of any size;
 *   core_mesh_recv()  with each access message the mesh stack delivers;
 *   core_mesh_tx_done() when the stack finished sending a message the core handed it (has_mesh_tx_done);
 *   core_poll()       after each of the calls above and after its transmit buffer gained room, and at the latest
 *                     when the delay core_poll() returned last time has passed (CORE_POLL_IDLE: no deadline):
 *                     its result re-arms the one timer (the distribution has deadlines of its own).
 * So a port needs one work item or loop iteration and one one-shot timer, nothing else. Every operation below is
 * synchronous: it has finished (written to flash, queued for transmission) when it returns.
 *
 * Errors: operations return 0 or a negative number in the port's own code space (a negative errno on Zephyr and
 * Linux); the core only logs the number and answers the host with the protocol's status code.
 */
#ifndef MESHFLEET_CORE_PLATFORM_H
#define MESHFLEET_CORE_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "messages.h"

/* Small records the port keeps across resets and power loss (Zephyr: settings or NVS; the simulator: memory or a
 * file next to the slot file). Each is at most CORE_RECORD_MAX bytes and is replaced as a whole: a write either
 * lands completely or leaves the previous record. */
enum core_record {
	CORE_RECORD_MESH = 0,   /* mesh address, IV index, sequence-number high-water mark (mesh.c) */
	CORE_RECORD_SLOT = 1,   /* slot state, image size, durable progress, SHA-256 (slot.c) */
};
#define CORE_RECORD_COUNT 2
#define CORE_RECORD_MAX 64

/* mesh_send(): the stack is busy with an earlier message (not an error: try again after core_mesh_tx_done()). */
#define CORE_MESH_SEND_BUSY 1

/* One access message for the mesh stack. The core chose the sequence numbers: the stack must use exactly the
 * @seq_count numbers from @seq (one per network PDU of a single transmission: 1 unsegmented, else one per segment)
 * and ask for more with core_mesh_seq_alloc() if it retransmits segments. */
struct core_mesh_tx {
	uint16_t src;                   /* the dongle's unicast address (MESH_CONFIG) */
	uint32_t iv_index;
	uint16_t net_key_index;
	uint32_t seq;                   /* first sequence number to use */
	uint32_t seq_count;
	const struct msg_mesh_send *msg;        /* borrowed: dst, key index, DEVKEY + device key, TTL, payload;
						 * TTL MSG_TTL_DEFAULT means the stack's default TTL */
};

struct core_platform_ops {
	/* No op may call back into the core. */

	/* Link to the host. Queues @len bytes of wire data (whole frames) for transmission, all or nothing: returns
	 * true if queued, false if there is no room now (the core then drops the frame and counts it, or keeps a log
	 * line for later). */
	bool (*send)(void *ctx, const uint8_t *wire, size_t len);

	/* Monotonic milliseconds since boot. */
	uint64_t (*now_ms)(void *ctx);

	/* Flash slot, geometry in struct core_platform. @offset and @len of an erase are multiples of the page size;
	 * of a write, multiples of the write alignment. A write only ever targets erased bytes. Reads have no
	 * alignment rule. NULL when the board has no slot: the SLOT feature bit is then clear. */
	int (*slot_erase)(void *ctx, uint32_t offset, uint32_t len);
	int (*slot_write)(void *ctx, uint32_t offset, const uint8_t *data, uint32_t len);
	int (*slot_read)(void *ctx, uint32_t offset, uint8_t *buf, uint32_t len);

	/* Persistent records. store_read() returns the record's length (0..@cap) or a negative number when there is
	 * none or it cannot be read. store_write() returns 0 once the record is durable. */
	int (*store_read)(void *ctx, enum core_record rec, uint8_t *buf, size_t cap);
	int (*store_write)(void *ctx, enum core_record rec, const uint8_t *data, size_t len);

	/* Mesh. mesh_config() sets up the stack after MESH_CONFIG (keys, IV index, own address); mesh_send() hands
	 * one access message to it. Answers come back through core_mesh_recv(). NULL when the board has no mesh
	 * stack: the MESH feature bit is then clear. */
	int (*mesh_config)(void *ctx, const struct msg_mesh_config *cfg, uint32_t next_seq);
	/* May also return CORE_MESH_SEND_BUSY: the stack holds a message already and took nothing; the core tries
	 * again after core_mesh_tx_done() (or a while later without it). */
	int (*mesh_send)(void *ctx, const struct core_mesh_tx *tx);

	/* @len random bytes (the distribution's BLOB ID); 0 on success. NULL: the core derives the BLOB ID from the
	 * clock and the distribution id, unique but guessable. */
	int (*random)(void *ctx, uint8_t *buf, size_t len);

	/* Reset. Called after the response to RESET has been queued: the port lets its transmit buffer drain, then
	 * restarts (MSG_RESET_MODE_APP; the next core_init() gets reset reason HOST) or enters the bootloader
	 * (MSG_RESET_MODE_BOOTLOADER, only if @has_bootloader). It may return and restart once the current core call
	 * has returned; the core ignores input from then on. */
	void (*reset)(void *ctx, enum msg_reset_mode mode);

	/* Log sink for the core's own lines (Zephyr: LOG_*; the simulator: stderr). @module and @text are
	 * NUL-terminated. Lines are also forwarded to the host as LOG events (core.h). May be NULL. */
	void (*log)(void *ctx, enum msg_log_level level, const char *module, const char *text);
};

struct core_platform {
	const struct core_platform_ops *ops;    /* borrowed, outlives the core */
	void *ctx;                              /* passed to every op */
	uint32_t slot_size;                     /* bytes; a multiple of @slot_page_size */
	uint32_t slot_page_size;                /* erase unit */
	uint32_t slot_write_align;              /* 1, 2 or 4 (SLOT_WRITE data come in multiples of 4) */
	bool has_bootloader;                    /* RESET mode 1 possible; else the host gets NOT_SUPPORTED */
	/* The port calls core_mesh_tx_done() each time the stack has finished sending a message the core handed it:
	 * the distribution then keeps exactly one message in the stack. Without it the distribution paces itself
	 * at DIST_PDU_MS per network PDU (dist.h). */
	bool has_mesh_tx_done;
};

#endif
