/* target: one simulated update Target, the Firmware Update Server and the BLOB Transfer Server of a node as Zephyr /
 * NCS implement them (issue 6; ../shared/reference/mesh-dfu-protocol.md §2.3-2.5, §3.1-3.5, §4.2, §4.6, §5; the user's
 * view in docs/simulator.md, "Update targets"). It reads FU and BLOB access messages with protocol/mesh_dfu.h and
 * protocol/mesh_blob.h and writes its answers with them, and applies the node's scenario "target" settings and
 * "faults" (scenario.h).
 *
 * Driven by calls, not by a loop: target_recv() for each message the node hears, target_tick() when
 * target_next_deadline() has come; each returns the messages the node sends, with the virtual time at which it sends
 * them. Who hears what (keys, subscriptions, TTL, loss) and how long the radio takes is the caller's (fleet.c, radio.c);
 * the target never sees another node, allocates only in target_new(), and holds no pointer but its node (borrowed).
 *
 * Glossary:
 *   flash      - what survives a reboot (struct target_flash): the FU state, the BLOB transfer and its received
 *                blocks, the running FWID; a reboot rebuilds the rest from it as Zephyr's settings handlers do (§2.5)
 *   progress   - bytes of the image received (whole blocks and chunks of the current block), as a percent of the
 *                BLOB size: what the faults silent_at and reboots_at count
 *   deaf       - the node hears nothing: before joins_late, while it reboots, once silent, once unprovisioned
 *   poll       - a low-power node hears only at its Friend Polls, every poll_interval_ms from joins_late on
 */
#ifndef MESHFLEET_SIM_TARGET_H
#define MESHFLEET_SIM_TARGET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh_access.h"
#include "mesh_blob.h"
#include "mesh_dfu.h"
#include "rng.h"
#include "scenario.h"

#define TARGET_NEVER UINT64_MAX
#define TARGET_REPLIES_MAX 2            /* messages one target_recv() or target_tick() can send */
#define TARGET_TTL_DEFAULT 0xFF         /* the node's default TTL (no Update TTL yet) */
#define TARGET_IMAGES 1                 /* firmware images of a simulated node: index 0, the running application */
#define TARGET_REPORT_TIMEOUT_MS 10000  /* CONFIG_BT_MESH_BLOB_REPORT_TIMEOUT (T_BPI) */
#define TARGET_PULL_REQ_COUNT 4         /* CONFIG_BT_MESH_BLOB_SRV_PULL_REQ_COUNT */
/* The access layer's random delay before an answer (Zephyr subsys/bluetooth/mesh/delayable_msg.c,
 * bt_mesh_delayable_msg_manage(): 20 + rand % (unicast destination ? 30 : 480) ms; Mesh Protocol 3.7.3.1). */
#define TARGET_DELAY_MIN_MS 20
#define TARGET_DELAY_UNICAST_SPAN 30
#define TARGET_DELAY_GROUP_SPAN 480
#define TARGET_FWID_MAX SCENARIO_FWID_MAX

#define TARGET_IMAGE_HEAD_SIZE 12       /* the MCUboot header bytes kept: ih_magic (4) and ih_ver (8) */

/* Where the version of the image being received comes from (the new FWID after apply). */
enum target_version_from {
	TARGET_VERSION_NONE = 0,
	TARGET_VERSION_FROM_METADATA = 1,       /* bytes 0..7 of Zephyr-format metadata (§5.2) */
	TARGET_VERSION_FROM_IMAGE = 2,          /* ih_ver of the image's MCUboot header (§5.1) */
};

/* One message the node sends: the access payload, from @src to @dst, at @at_ms of virtual time. */
struct target_reply {
	uint64_t at_ms;
	uint16_t src;                   /* the node's primary address */
	uint16_t dst;                   /* the client that asked (a Partial Block Report: the transfer's client) */
	uint8_t ttl;                    /* the Update TTL while an update is under way, else TARGET_TTL_DEFAULT */
	uint16_t len;
	uint8_t payload[MA_PAYLOAD_MAX];
};

/* What a reboot keeps (see the glossary). */
struct target_flash {
	/* Firmware Update Server (Zephyr struct bt_mesh_dfu_srv.update) */
	uint8_t phase;                  /* enum md_phase */
	uint8_t image_index;            /* 0xFF: no update yet */
	uint8_t ttl;
	uint8_t effect;
	uint16_t timeout_base;
	uint16_t meta_checksum;         /* Fletcher-16 of the metadata of the Update Start (Zephyr dfu.h) */
	/* BLOB Transfer Server (struct bt_mesh_blob_srv_state); blocks_missing is in the target's bitmap pool */
	bool blob_stored;               /* a BLOB transfer was armed and not ended: comes back Suspended */
	uint8_t mode;                   /* enum mb_mode */
	uint8_t block_size_log;
	uint16_t mtu;                   /* min(client MTU, the server's) */
	uint16_t client;                /* the address of the Transfer Start's sender */
	uint64_t blob_id;
	uint32_t size;
	/* the image being received: its MCUboot header, as far as it came, and its version */
	uint16_t image_head_mask;               /* bit i: image_head[i] received */
	uint8_t image_head[TARGET_IMAGE_HEAD_SIZE];
	uint8_t incoming_version_from;          /* enum target_version_from */
	uint8_t incoming_version[8];
	/* the running image */
	uint8_t fwid_len;
	uint8_t fwid[TARGET_FWID_MAX];
};

struct target {
	const struct scenario_node *node;       /* borrowed: address, FWID at start, "target", "faults" */
	struct rng rng;                         /* the access layer's random delays */
	struct target_flash flash;
	uint8_t blob_phase;                     /* enum mb_phase */
	bool silent;                            /* fault silent_at reached: deaf for good */
	bool rebooted_by_fault;                 /* fault reboots_at: once */
	bool unprovisioned;                     /* applied an image of effect 3: gone from the network */
	bool applying_reboot;                   /* the reboot under way is the apply */
	const char *refusal;                    /* why the last metadata was refused (static text), for logs */
	/* the current block (RAM only: a reboot forgets it) */
	uint16_t block;                         /* 0xFFFF: none */
	uint16_t chunk_size;                    /* 0xFFFF: none */
	uint16_t chunk_count;
	uint32_t block_size;
	uint32_t received;                      /* bytes of the image received (progress) */
	/* timers: TARGET_NEVER when off */
	uint64_t rx_timeout_at;                 /* Receive BLOB Timeout: 10 x (TimeoutBase + 1) s */
	uint64_t report_at;                     /* pull mode: the next Partial Block Report */
	uint64_t verify_at;                     /* Verifying Update ends */
	uint64_t down_at;                       /* a reboot starts (the apply: once its answer is out) */
	uint64_t awake_at;                      /* ... and ends; deaf in between. 0: no reboot */
	/* bitmaps, in the allocation after the struct */
	uint16_t blocks_max;                    /* blocks of the largest BLOB the node takes */
	uint16_t chunks_max;                    /* chunks of one block, at most */
	uint8_t *blocks_missing;                /* MB_BITMAP_SIZE(blocks_max) bytes, bit set = block not received */
	uint8_t *chunks_missing;                /* MB_BITMAP_SIZE(chunks_max) bytes, the current block's */
	/* counters */
	uint64_t heard;                         /* messages handled */
	uint64_t dropped;                       /* messages while deaf, malformed ones, chunks Zephyr drops */
	uint32_t applies;                       /* Firmware Update Applies accepted (Verification Succeeded ->
						 * Applying) since the simulator started: the caller logs each one */
};

/* A target for @node (borrowed: it must outlive the target), its random delays drawn from @seed. Returns NULL when out
 * of memory. Its FU Server starts Idle with the node's FWID; its BLOB server Inactive. */
struct target *target_new(const struct scenario_node *node, uint64_t seed);
void target_free(struct target *t);

/* One access message the node hears at @now_ms from @src to @dst (its address, or a group it subscribes to; the
 * caller checked keys and subscriptions). Handles every Firmware Update and BLOB Transfer message as Zephyr's servers
 * do; other opcodes, malformed messages and anything heard while deaf get nothing. Writes at most @cap (>=
 * TARGET_REPLIES_MAX) answers to @out, each at its time of sending: the time the node hears the message (a low-power
 * node: its next poll) + processing_ms, + the access layer's random delay for answers to a request (20..49 ms to a
 * unicast address, 20..499 to a group). Returns how many. */
size_t target_recv(struct target *t, uint64_t now_ms, uint16_t src, uint16_t dst, const uint8_t *access, size_t len,
		   struct target_reply *out, size_t cap);

/* When target_tick() has something to do, or TARGET_NEVER. */
uint64_t target_next_deadline(const struct target *t);

/* Runs the timers due at @now_ms: the receive-BLOB timeout, pull-mode reports, the end of Verifying, the end of a
 * reboot. Writes the messages they send to @out (cap >= TARGET_REPLIES_MAX); returns how many. */
size_t target_tick(struct target *t, uint64_t now_ms, struct target_reply *out, size_t cap);

/* The node loses power at @now_ms and boots again (reboot_ms later): RAM is lost, the flash kept (§2.5: Transfer
 * Active comes back Transfer Error, Verification Succeeded comes back Verification Failed, a stored BLOB transfer
 * Suspended). What the fault reboots_at does; also for a simulator that stops and starts again. */
void target_reboot(struct target *t, uint64_t now_ms);

/* The Firmware Update phase (enum md_phase), the BLOB phase (enum mb_phase) and the progress in percent. */
uint8_t target_phase(const struct target *t);
uint8_t target_blob_phase(const struct target *t);
unsigned target_progress(const struct target *t);

/* The running image's FWID (what Information Status reports): *ret_len bytes. */
const uint8_t *target_fwid(const struct target *t, uint8_t *ret_len);

/* The node's capabilities, as its BLOB Information Status says. */
void target_caps(const struct target *t, struct mb_info_status *ret);

/* Fletcher-16 of the metadata, as Zephyr's dfu_metadata_checksum() (subsys/bluetooth/mesh/dfu.h) computes it to tell
 * a repeated Update Start from another one: two running sums modulo 256. */
uint16_t target_metadata_checksum(const uint8_t *metadata, size_t len);

#endif
