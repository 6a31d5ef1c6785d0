/* core: the companion firmware's portable core: reads frames from the host, answers each request exactly once,
 * numbers and sends events, and drives the slot, the mesh pass-through and the log forwarding
 * (docs/protocol.md is the contract; firmware_dongle/README.md the design; platform.h the execution model).
 *
 * All memory is in struct core, which the port provides (static on the dongle); nothing is allocated.
 *
 * Glossary: *duplicate cache* = the responses to the last CORE_DUP_CACHE_SIZE requests of the cached types, by
 * (request id, type), so that a retransmitted request is answered again and never executed twice; *window* = the
 * requests the host may have in flight (HELLO's request_window).
 */
#ifndef MESHFLEET_CORE_CORE_H
#define MESHFLEET_CORE_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cobs.h"
#include "dist.h"
#include "frame.h"
#include "logq.h"
#include "mesh.h"
#include "messages.h"
#include "platform.h"
#include "slot.h"

/* The window announced in HELLO, as large as meshfleetd takes (LINK_MAX_WINDOW). With 8, an image upload spent
 * most of its time waiting for answers; 32 keeps 32 KiB of SLOT_WRITEs in flight. Its RAM cost is the duplicate
 * cache, CORE_DUP_CACHE_SIZE entries of 12 bytes: 384 bytes (192 more than with 8) of the nRF52840's 256 KiB.
 * Nothing else grows with it: requests are executed as they arrive and never queue inside the core. The port's
 * receive buffer depends on its line rate and flash stalls, not on the window (USB CDC ACM holds the host back
 * with NAKs when it is full). */
#define CORE_REQUEST_WINDOW 32
#define CORE_DUP_CACHE_SIZE 32          /* >= the window (docs/protocol.md, "Duplicates") */
#define CORE_DUP_PAYLOAD_MAX 4          /* the largest response payload of a cached type */
#define CORE_MAX_TARGETS DIST_TARGETS_MAX       /* HELLO max_targets: one distribution's */
#define CORE_MAX_FRAME FRAME_MAX_SIZE   /* announced in HELLO: the core takes and sends frames of any size */
#define CORE_POLL_IDLE UINT32_MAX       /* core_poll(): no deadline */

_Static_assert(CORE_DUP_CACHE_SIZE >= CORE_REQUEST_WINDOW, "the duplicate cache must cover the window");

struct core_config {
	enum msg_reset_reason reset_reason;     /* why this boot happened (HELLO) */
	uint8_t fw_major;
	uint8_t fw_minor;
	uint16_t fw_patch;
	uint8_t build_id[MSG_BUILD_ID_SIZE];
	uint32_t extra_features;                /* feature bits the port adds, e.g. MSG_FEATURE_SIMULATED */
	enum msg_log_level forward_level;       /* log lines forwarded to the host; 0 = INFO */
};

struct core_dup {
	bool used;
	uint8_t type;
	uint8_t status;
	uint8_t payload_len;
	uint32_t id;
	uint8_t payload[CORE_DUP_PAYLOAD_MAX];
};

/* Counters since boot: the STATS fields the core owns, and a few more for the port's diagnostics. */
struct core_counters {
	uint32_t rx_frames;             /* valid frames */
	uint32_t tx_frames;             /* frames the platform took */
	uint32_t rx_bad_crc;
	uint32_t rx_bad_frame;          /* frame errors other than the CRC, and frames that are not requests */
	uint32_t rx_duplicates;         /* answered from the duplicate cache */
	uint32_t rx_retransmits;        /* requests with the retransmission flag */
	uint32_t events_dropped;        /* event numbers used without an event reaching the platform */
	uint32_t tx_dropped;            /* responses and events the platform had no room for */
};

struct core {
	const struct core_platform *platform;   /* borrowed */
	struct core_config config;
	struct logq log;
	struct slot slot;
	struct mesh mesh;
	struct dist dist;                       /* the distribution (DIST_*), about 21 KiB with 1024 targets */
	struct cobs_stream rx;
	uint8_t rx_buf[CORE_MAX_FRAME];
	uint8_t tx_frame[CORE_MAX_FRAME];
	uint8_t tx_wire[COBS_WIRE_MAX(CORE_MAX_FRAME)];
	struct core_dup dup[CORE_DUP_CACHE_SIZE];
	unsigned dup_next;                      /* the entry replaced next (oldest first) */
	uint32_t next_event_seq;
	uint32_t log_dropped_seen;              /* logq.dropped already given an event number */
	bool reset_requested;
	struct core_counters counters;
};

/* Boots the core: reads the slot and mesh records, queues a boot log line. Returns MSG_STATUS_OK, or
 * MSG_STATUS_BAD_PARAM if the platform's slot geometry is unusable (the core then runs without the slot). */
enum msg_status core_init(struct core *c, const struct core_platform *platform, const struct core_config *config);

/* Bytes from the host, in chunks of any size. Requests are executed and answered before this returns. */
void core_input(struct core *c, const uint8_t *data, size_t len);

/* Sends queued events; returns the milliseconds until the core wants to be polled again, or CORE_POLL_IDLE. */
uint32_t core_poll(struct core *c);

/* One access message from the mesh stack (borrowed for the call): a target's answer to the distribution goes to it,
 * everything else to the host as MESH_RECV. */
void core_mesh_recv(struct core *c, const struct msg_mesh_recv *rx);

/* The stack finished sending the last message the core handed it (struct core_platform.has_mesh_tx_done). */
void core_mesh_tx_done(struct core *c);

/* More sequence numbers for a stack that retransmits segments (platform.h, struct core_mesh_tx). */
enum msg_status core_mesh_seq_alloc(struct core *c, uint32_t count, uint32_t *ret_first);

/* A RESET was answered: the port is restarting, input is ignored. */
bool core_reset_requested(const struct core *c);

void core_stats(const struct core *c, struct msg_stats *ret);

/* Logs through the core: to the platform's sink and, at or above the forwarding level, to the host. */
__attribute__((format(printf, 4, 5)))
void core_logf(struct core *c, enum msg_log_level level, const char *module, const char *fmt, ...);

#endif
