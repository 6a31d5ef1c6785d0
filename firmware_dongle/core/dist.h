/* dist: the Distributor on the dongle: Firmware Update Client + BLOB Transfer Client driving one distribution of
 * the COMMITTED slot image to up to DIST_TARGETS_MAX Target nodes (docs/protocol.md 7.13-7.22 for the DIST_*
 * messages, docs/distribution.md for the design, the rules and the RAM budget; the protocol digest is
 * ../shared/reference/mesh-dfu-protocol.md sections 2.3-2.5 and 4).
 *
 * Poll model like the rest of the core: nothing blocks, no timers of its own. The core hands it requests, the
 * targets' answers (dist_recv()), the stack's "sent" notification (dist_tx_done()) and polls it (dist_poll()),
 * which returns the delay until its next deadline. Events wait in flags (dist_next_event()) until the host link
 * takes them, so a burst of results at N = 1000 is never dropped, only coalesced.
 *
 * Glossary: *round* = one acknowledged exchange with every active target (Zephyr's "broadcast"): sent to the
 * group, or to each target by unicast, retried every client timeout / DIST_ATTEMPTS until every target asked has
 * answered, then the silent ones are dropped with timeout_<phase>; *active* target = result still pending;
 * *asked* = a target the current round still waits for; *union* = the chunks of the current block that at least
 * one active target misses (push mode sends exactly those); *served* target = one whose pull-mode request for
 * chunks is being answered (a bounded table of DIST_PULL_SLOTS); *client timeout* = 10000 x (TimeoutBase + 2)
 * + 100 x TTL ms (Zephyr's CLIENT_TIMEOUT_MSEC).
 */
#ifndef MESHFLEET_CORE_DIST_H
#define MESHFLEET_CORE_DIST_H

#include <stdbool.h>
#include <stdint.h>

#include "logq.h"
#include "mesh.h"
#include "mesh_blob.h"
#include "messages.h"
#include "platform.h"
#include "slot.h"

/* Targets one distribution can address (HELLO max_targets). 1024 for the simulator and the tests; the nRF52840
 * build keeps the same figure: 1024 x 16 bytes = 16 KiB of its 256 KiB (docs/distribution.md, RAM budget). */
#ifndef DIST_TARGETS_MAX
#define DIST_TARGETS_MAX 1024
#endif
#define DIST_ATTEMPTS 5                 /* sends of one acked message: Zephyr's BLOB_CLI_BLOCK_RETRIES */
#define DIST_REPAIR_ROUNDS_MAX 32       /* chunk resend + Block Get rounds per block before the missing are dropped */
#define DIST_PULL_SLOTS 8               /* targets served at once in pull mode */
#define DIST_PULL_REQ_MAX 8             /* chunk numbers remembered per served target (Zephyr's servers ask 4) */
#define DIST_PULL_REPORT_WAIT_MS 67000  /* pull: no Partial Block Report for this long = target lost (Zephyr
					 * BLOCK_REPORT_TIME_MSEC: 2 x T_MBPI (30 s) + 7 s); the client timeout when
					 * that is longer */

/* Group or unicast (radio-model.md 2.3 and 2.5; docs/distribution.md "Addressing"):
 * - a wave of one target goes by unicast even when a group is given. With Zephyr's default SAR settings a
 *   segmented chunk to a group costs 3 SAR rounds + 2 x 250 ms (1.55 s for 65 B with ext adv) against 0.35 s by
 *   unicast, 4.4 x more, and multicast paid from 5 targets on; with the dongle's own settings for group messages
 *   (DIST_SAR_MULTICAST_*: one pass, no retransmission) a group chunk costs no more than one unicast chunk, which
 *   waits for its segment ack, so the group pays from 2 targets on (a 182 KB image to 3 targets: 2,943 s by
 *   unicast, about 1,000 s to the group, radio_bound());
 * - in a group round, the targets that have not answered after a retry are asked again by unicast when that is
 *   cheaper than the group: k unicast asks cost k x DIST_UNICAST_ASK_MS (2 PDU times + wait), a group ask
 *   max(DIST_GROUP_ROUND_MIN_MS, N x DIST_GROUP_REPLY_US) because every one of the N active targets answers again
 *   (3 transmissions x 1.5 ms each). At N = 1000: unicast below 45 silent targets. */
#define DIST_MULTICAST_MIN_TARGETS 2
#define DIST_UNICAST_ASK_MS 100
#define DIST_GROUP_ROUND_MIN_MS 300
#define DIST_GROUP_REPLY_US 4500

/* The dongle's own SAR Transmitter state for group destinations, which the port sets on its node at boot (Zephyr:
 * CONFIG_BT_MESH_SAR_TX_MULTICAST_RETRANS_COUNT / _INT, or its SAR Configuration Server state). radio-model.md
 * 2.3: re-sending every segmented group message 3 times with 250 ms gaps is the largest penalty at the defaults,
 * and BLOB repairs lost chunks per block anyway (Block Get + the union of the missing chunks). With no
 * retransmission the interval only delays the end of the transaction (Zephyr ends it from that timer), so it is the
 * shortest step: 25 ms. The measured effect is in docs/distribution.md ("Measured"). */
#ifndef DIST_SAR_MULTICAST_RETRANS_COUNT
#define DIST_SAR_MULTICAST_RETRANS_COUNT 0
#endif
#ifndef DIST_SAR_MULTICAST_RETRANS_INT_STEP
#define DIST_SAR_MULTICAST_RETRANS_INT_STEP 0
#endif

/* A node subscribed to the group but not a target hears the group's Update Start and would take the image, and
 * apply it at the group's Apply (a node of an earlier wave applying again). One that answers with this transfer's
 * BLOB ID gets a Firmware Update Cancel by unicast, before the next message of the round; this many wait at once
 * (more are cancelled when they answer again). */
#define DIST_STRAYS_MAX 16

/* Pacing without core_mesh_tx_done() (struct core_platform.has_mesh_tx_done false): one network PDU per
 * DIST_PDU_MS (Zephyr's default ext advertiser: 3 transmissions spread over ~50 ms). A stack that says busy is
 * tried again after core_mesh_tx_done() or, at the latest, DIST_BUSY_RETRY_MS. */
#define DIST_PDU_MS 50
#define DIST_BUSY_RETRY_MS 1000
#define DIST_STACK_FAILURES_MAX 3       /* refusals in a row (not "busy") before the distribution suspends */

/* Target flags */
#define DIST_TF_LOADED      0x01        /* its DIST_START entry arrived */
#define DIST_TF_ASKED       0x02        /* the current round waits for its answer */
#define DIST_TF_BLOCK_DONE  0x04        /* has every chunk of the current block */
#define DIST_TF_EVENT       0x08        /* a DIST_TARGET event is due */
#define DIST_TF_CANCEL      0x10        /* gets a Firmware Update Cancel */
#define DIST_TF_APPLYING    0x20        /* answered Apply with Applying: confirmed by its FWID, not dropped in apply */

/* One target: at most 64 bytes (issue 6), 16 in fact. */
struct dist_target {
	uint16_t address;
	uint8_t image_index;
	uint8_t phase;                  /* enum msg_dist_phase */
	uint8_t result;                 /* enum msg_dist_result */
	uint8_t reason;                 /* enum msg_dist_reason */
	uint8_t status_source;          /* enum msg_dist_status_source */
	uint8_t status;
	uint8_t effect;                 /* enum md_effect from its Update Status */
	uint8_t flags;                  /* DIST_TF_* */
	uint16_t blocks_done;
	uint32_t pull_deadline;         /* pull mode: ms since the distribution started */
};
_Static_assert(sizeof(struct dist_target) <= 64, "per-target state must stay within 64 bytes (issue 6)");

/* A served target in pull mode: the chunks it asked for, sent by unicast one after the other. */
struct dist_pull_slot {
	uint16_t target;                /* index; DIST_TARGETS_MAX = free */
	uint8_t count;
	uint8_t next;
	uint16_t chunks[DIST_PULL_REQ_MAX];
};

/* What an acked round sends and waits for (the phase says which model). */
enum dist_round {
	DIST_ROUND_NONE = 0,
	DIST_ROUND_UPDATE_START,
	DIST_ROUND_INFO_GET,
	DIST_ROUND_XFER_START,
	DIST_ROUND_BLOCK_START,
	DIST_ROUND_BLOCK_GET,
	DIST_ROUND_XFER_GET,
	DIST_ROUND_UPDATE_GET,
	DIST_ROUND_APPLY,
	DIST_ROUND_CONFIRM,
	DIST_ROUND_CANCEL,
};

/* What the distributor does between rounds. */
enum dist_step {
	DIST_STEP_IDLE = 0,             /* nothing to send */
	DIST_STEP_ROUND,                /* an acked round */
	DIST_STEP_CHUNKS,               /* push: the union of the missing chunks */
	DIST_STEP_PULL,                 /* pull: serving Partial Block Reports */
};

struct dist_counters {
	uint32_t sent;                  /* access messages handed to the stack */
	uint32_t sent_group;            /* ... of them to the group */
	uint32_t chunks;                /* Chunk Transfers */
	uint32_t rounds;                /* acked rounds */
	uint32_t retries;               /* round attempts after the first */
	uint32_t unicast_reasks;        /* retries that asked the silent targets by unicast instead of the group */
	uint32_t busy;                  /* the stack said busy */
	uint32_t received;              /* target answers taken */
	uint32_t ignored;               /* target answers that did not fit the round (late, duplicate, malformed) */
	uint32_t strays;                /* nodes outside the target list that joined the transfer: sent a Cancel */
};

struct dist {
	const struct core_platform *platform;   /* borrowed */
	struct logq *log;                       /* borrowed */
	struct mesh *mesh;                      /* borrowed */
	const struct slot *slot;                /* borrowed */

	/* DIST_START parameters */
	uint32_t id;
	uint16_t group;
	uint16_t app_key_index;
	uint8_t ttl;
	uint16_t timeout_base;
	uint8_t mode;                           /* enum msg_dist_mode */
	uint8_t policy;                         /* enum msg_dist_policy */
	uint8_t pref_block_size_log;
	uint16_t pref_chunk_size;
	uint8_t sha256[MSG_SHA256_SIZE];
	uint8_t fwid[MSG_DIST_FWID_MAX];
	uint8_t fwid_len;
	uint8_t metadata[MSG_DIST_METADATA_MAX];
	uint8_t metadata_len;
	uint16_t total;
	uint16_t received;

	/* state */
	enum msg_dist_state state;
	enum msg_dist_phase phase;
	enum msg_dist_reason reason;
	enum dist_step step;
	bool unicast;                           /* every round and chunk by unicast (no group, or a small wave) */
	bool resuming;                          /* after DIST_RESUME: Update Start, Transfer Start, current block */
	bool cancelling;                        /* Firmware Update Cancel round after DIST_CANCEL */
	uint64_t blob_id;
	uint32_t image_size;
	uint64_t started_ms;
	uint32_t elapsed_ms;                    /* frozen when the distribution ends */

	/* capabilities intersected over the targets (BLOB Information Status) */
	bool have_caps;
	struct mb_info_status caps;

	/* the transfer */
	uint8_t block_size_log;
	uint16_t chunk_size;
	uint16_t blocks;
	uint16_t block;                         /* current block */
	uint16_t chunk_count;                   /* chunks of the current block */
	uint8_t repairs;                        /* Block Get rounds of the current block */
	uint16_t active;                        /* targets with result PENDING */
	uint16_t asked;                         /* targets with DIST_TF_ASKED */

	/* the current round */
	enum dist_round round;
	uint8_t attempt;                        /* 0 .. DIST_ATTEMPTS-1 */
	bool round_unicast;                     /* this attempt asks each target */
	bool round_sent;                        /* this attempt's group message is out */
	uint16_t cursor;                        /* next target (unicast attempts, unicast chunks) */
	uint16_t chunk_cursor;                  /* next chunk (push) */
	uint64_t retry_at;                      /* 0 while the attempt is being sent */

	/* nodes outside the target list that answered with this transfer's BLOB ID, waiting for a Cancel */
	uint16_t strays[DIST_STRAYS_MAX];
	uint8_t n_strays;

	/* transmission */
	bool tx_busy;                           /* a message of ours is in the stack (has_mesh_tx_done) */
	uint64_t tx_ready_at;                   /* without tx done, or after busy: not before */
	uint8_t tx_failures;                    /* the stack's refusals in a row */

	/* events */
	bool state_event;
	bool progress_event;
	uint16_t event_cursor;
	uint16_t events_pending;                /* targets with DIST_TF_EVENT */

	uint8_t missing[MB_BITMAP_SIZE(MB_CHUNK_COUNT_MAX)];    /* push: what is being sent */
	uint8_t collect[MB_BITMAP_SIZE(MB_CHUNK_COUNT_MAX)];    /* the union the Block Status answers build */
	uint8_t scratch[MB_BITMAP_SIZE(MB_CHUNK_COUNT_MAX)];
	struct dist_pull_slot pull[DIST_PULL_SLOTS];
	uint8_t tx_buf[MSG_ACCESS_MAX];
	uint8_t chunk_data[MB_CHUNK_SIZE_MAX];
	struct msg_dist_target_info page[MSG_DIST_TARGETS_PAGE_MAX];    /* DIST_TARGETS_GET response */
	struct dist_counters counters;
	struct dist_target targets[DIST_TARGETS_MAX];
	uint16_t by_address[DIST_TARGETS_MAX];  /* target indices sorted by address (answers are looked up) */
};

void dist_init(struct dist *d, const struct core_platform *platform, struct logq *log, struct mesh *mesh,
	       const struct slot *slot);

/* True while a distribution holds the slot (CONFIGURING .. VERIFIED): the core refuses SLOT_BEGIN/WRITE. */
bool dist_active(const struct dist *d);

/* The request handlers; each returns the status of the response. */
enum msg_status dist_start(struct dist *d, const struct msg_dist_start *req);
void dist_get(const struct dist *d, struct msg_dist_info *ret);
/* Fills *ret from d->page (valid until the next call). */
enum msg_status dist_targets_get(struct dist *d, const struct msg_dist_page *req, struct msg_dist_targets *ret);
enum msg_status dist_suspend(struct dist *d, uint32_t id);
enum msg_status dist_resume(struct dist *d, uint32_t id);
enum msg_status dist_cancel(struct dist *d, uint32_t id);
enum msg_status dist_apply(struct dist *d, uint32_t id);

/* An access message from the mesh: true if it was a target's answer to the distribution (consumed; the core does
 * not forward it), false for everything else. */
bool dist_recv(struct dist *d, const struct msg_mesh_recv *rx);

/* The stack finished sending the distributor's last message. */
void dist_tx_done(struct dist *d);

/* Sends what is due and handles expired timers; returns the milliseconds until the next deadline, or
 * CORE_POLL_IDLE (core.h) as UINT32_MAX. */
uint32_t dist_poll(struct dist *d);

/* The next due event, in *ret (borrowed pointers none); false if none. dist_event_sent() consumes it once the
 * link took it. */
bool dist_next_event(struct dist *d, struct msg *ret);
void dist_event_sent(struct dist *d, const struct msg *m);

/* True if, in a group round of @active targets, asking the @silent ones by unicast is cheaper (rule above). */
bool dist_unicast_reask(uint32_t active, uint32_t silent);

/* Client timeout (ms) for a TimeoutBase and TTL (TTL 0xFF counts as Zephyr's default 7). */
uint32_t dist_client_timeout_ms(uint16_t timeout_base, uint8_t ttl);

#endif
