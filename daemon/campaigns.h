/* campaigns: fleet-wide rollouts as records (tables campaigns, campaign_waves, campaign_targets; db.c migration 8),
 * the three state machines with their checked transition tables, target resolution and the operator's actions.
 * The engine (next step) drives running campaigns through the same functions: every transition is checked against
 * the table and written before the step it allows. Model, tables and rules: docs/campaigns.md.
 *
 * Glossary:
 *   campaign - one firmware image for a set of nodes, in waves, with thresholds and an apply policy
 *   wave     - the targets that get the image in one distribution (one group address, one DIST_START)
 *   target   - one node of a campaign: its wave, state, attempts and the reason of its end
 *   terminal - a state nothing leaves: completed, failed, cancelled (campaign); done, cancelled (wave);
 *              succeeded, skipped, cancelled (target: failed is left only by a retry)
 *   durable  - committed with synchronous=FULL (db_commit_durable()): the transitions that gate *apply*
 */
#ifndef MESHFLEET_CAMPAIGNS_H
#define MESHFLEET_CAMPAIGNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db.h"
#include "events.h"
#include "waves.h"

#define CAMPAIGN_NAME_MAX 64                    /* bytes */
#define CAMPAIGN_REASON_MAX 255                 /* bytes of a campaign's or target's reason */
#define CAMPAIGN_FWID_MAX 32                    /* the dongle's DIST_START carries at most this (messages.h) */
#define CAMPAIGN_SELECTION_MAX (256u << 10)     /* bytes of the target selection kept as given (JSON) */
#define CAMPAIGN_TARGETS_MAX WAVES_TARGETS_MAX
#define CAMPAIGN_CANARY_MAX 1000                /* nodes of a canary wave */
#define CAMPAIGN_ATTEMPTS_MAX 10                /* attempts per node */
#define CAMPAIGN_TTL_MAX 127                    /* Bluetooth Mesh TTL: 0 or 2..127 */
#define CAMPAIGN_BLOCK_SIZE_LOG_MIN 6           /* MBT: BLOB block size log */
#define CAMPAIGN_BLOCK_SIZE_LOG_MAX 32
#define CAMPAIGN_CHUNK_SIZE_MIN 8               /* MBT chunk sizes a segmented access message carries */
#define CAMPAIGN_CHUNK_SIZE_MAX 377
#define CAMPAIGN_TAGS_MAX 16                    /* tags in each of tags_all and tags_any */
#define CAMPAIGN_LIST_MAX 1000                  /* campaigns or targets in one page */
#define CAMPAIGN_EVENT_ADDRESSES_MAX 256        /* addresses in one target event; more make several events */
/* defaults of a campaign body */
#define CAMPAIGN_DEFAULT_CANARY 1
#define CAMPAIGN_DEFAULT_PERCENT 100            /* after the canary, the rest in one wave */
#define CAMPAIGN_DEFAULT_SUCCESS_THRESHOLD 100
#define CAMPAIGN_DEFAULT_ERROR_THRESHOLD 10
#define CAMPAIGN_DEFAULT_ATTEMPTS 3
#define CAMPAIGN_DEFAULT_TTL 7
#define CAMPAIGN_DEFAULT_TIMEOUT_BASE 10        /* Mesh DFU: timeout = 10 s * (base + 2) + 100 ms * TTL */

enum campaign_state {
	CAMPAIGN_DRAFT,                 /* created; nothing happens until start */
	CAMPAIGN_SCHEDULED,             /* started with a scheduled start in the future */
	CAMPAIGN_RUNNING,
	CAMPAIGN_PAUSED,                /* by the operator, or by itself (error threshold, success threshold) */
	CAMPAIGN_COMPLETED,
	CAMPAIGN_FAILED,                /* the engine cannot go on (the image is damaged or gone, ...) */
	CAMPAIGN_CANCELLED,
};
#define CAMPAIGN_STATE_COUNT (CAMPAIGN_CANCELLED + 1)

enum campaign_wave_state {
	CAMPAIGN_WAVE_PENDING,
	CAMPAIGN_WAVE_PREPARING,        /* group subscriptions, image upload to the dongle */
	CAMPAIGN_WAVE_TRANSFERRING,     /* DIST_START sent: Firmware Update Start and the BLOB transfer */
	CAMPAIGN_WAVE_VERIFYING,
	CAMPAIGN_WAVE_VERIFIED,         /* policy verify_only or window: waiting for POST .../apply or the window */
	CAMPAIGN_WAVE_APPLYING,         /* written (durable) before the apply is sent */
	CAMPAIGN_WAVE_CONFIRMING,       /* reading the firmware IDs back */
	CAMPAIGN_WAVE_DONE,             /* every target has a result; the counts say how it went */
	CAMPAIGN_WAVE_CANCELLED,
};
#define CAMPAIGN_WAVE_STATE_COUNT (CAMPAIGN_WAVE_CANCELLED + 1)

enum campaign_wave_kind { CAMPAIGN_WAVE_CANARY, CAMPAIGN_WAVE_NORMAL, CAMPAIGN_WAVE_RETRY };

enum campaign_target_state {
	CAMPAIGN_TARGET_PENDING,
	CAMPAIGN_TARGET_PREPARING,
	CAMPAIGN_TARGET_TRANSFERRING,
	CAMPAIGN_TARGET_VERIFYING,
	CAMPAIGN_TARGET_VERIFIED,
	CAMPAIGN_TARGET_APPLYING,
	CAMPAIGN_TARGET_CONFIRMING,
	CAMPAIGN_TARGET_SUCCEEDED,      /* the firmware ID read back equals the campaign's */
	CAMPAIGN_TARGET_FAILED,         /* the reason says where; a retry may put it back to pending */
	CAMPAIGN_TARGET_SKIPPED,        /* never attempted: up_to_date, not_capable, downgrade, ... */
	CAMPAIGN_TARGET_CANCELLED,
};
#define CAMPAIGN_TARGET_STATE_COUNT (CAMPAIGN_TARGET_CANCELLED + 1)

enum campaign_apply_policy { CAMPAIGN_APPLY_IMMEDIATE, CAMPAIGN_APPLY_VERIFY_ONLY, CAMPAIGN_APPLY_WINDOW };
enum campaign_transfer_mode { CAMPAIGN_TRANSFER_PUSH, CAMPAIGN_TRANSFER_PULL };

struct campaign {
	int64_t id;
	char name[CAMPAIGN_NAME_MAX + 1];
	char firmware[65];                      /* the image's id (SHA-256 hex) */
	uint8_t fwid[CAMPAIGN_FWID_MAX];        /* the image's FWID: what a succeeded target reports */
	size_t fwid_len;
	enum campaign_state state;
	char reason[CAMPAIGN_REASON_MAX + 1];   /* why the last transition happened; "" = none */
	char *selection;                        /* owned: the target selection as given, compact JSON */
	uint32_t canary;
	uint32_t wave_size;                     /* nodes per later wave; 0 = wave_percent */
	uint32_t wave_percent;
	uint32_t success_threshold;             /* percent of a wave's targets that must succeed for the next */
	uint32_t error_threshold;               /* percent of the campaign's targets failed that pauses it */
	uint32_t max_attempts;
	enum campaign_apply_policy apply_policy;
	int64_t window_start, window_end;       /* ms since the epoch; policy window only */
	enum campaign_transfer_mode mode;
	uint8_t ttl;
	uint16_t timeout_base;
	uint16_t group_address;
	bool group_allocated;                   /* chosen by the daemon (else given) */
	uint8_t block_size_log;                 /* 0 = the dongle decides from the targets' capabilities */
	uint16_t chunk_size;                    /* 0 = the dongle decides */
	bool allow_downgrade;
	int64_t scheduled_start;                /* ms since the epoch; 0 = none */
	char created_by[65];
	int64_t created_at, updated_at, started_at, finished_at;      /* ms; 0 = not yet */
};

struct campaign_wave {
	uint32_t index;
	enum campaign_wave_kind kind;
	enum campaign_wave_state state;
	uint32_t distribution_id;               /* the dongle's distribution; 0 = none yet (engine) */
	uint64_t counts[CAMPAIGN_TARGET_STATE_COUNT];
	uint64_t total;
	int64_t started_at, finished_at, updated_at;
};

struct campaign_target {
	uint16_t address;
	int64_t wave;                           /* -1 = none (skipped) */
	enum campaign_target_state state;
	char reason[CAMPAIGN_REASON_MAX + 1];
	uint32_t attempts;                      /* attempts started (the engine counts at pending -> preparing) */
	char last_result[CAMPAIGN_REASON_MAX + 1];
	uint8_t old_fwid[CAMPAIGN_FWID_MAX * 4];/* the node's FWID at resolution; NODE_FWID_MAX fits */
	size_t old_fwid_len;
	int64_t updated_at;
};

/* How the targets are chosen. Explicit @addresses, or a filter (an empty filter selects every node). */
struct campaign_selector {
	const uint16_t *addresses;              /* borrowed; NULL = use the filter */
	size_t n_addresses;
	int32_t company_id;                     /* -1 = any */
	int32_t product_id;
	const uint8_t *fwid_prefix;             /* borrowed; the node's current FWID starts with it; NULL = any */
	size_t fwid_prefix_len;
	const char *const *tags_all;            /* borrowed; the node has every one */
	size_t n_tags_all;
	const char *const *tags_any;            /* borrowed; the node has at least one */
	size_t n_tags_any;
};

/* One node after resolution: to update (pending) or skipped with a reason; plus what the planner needs. */
struct campaign_resolved {
	struct waves_target plan;
	enum campaign_target_state state;       /* PENDING or SKIPPED */
	const char *reason;                     /* static; NULL for pending */
	uint8_t old_fwid[CAMPAIGN_FWID_MAX * 4];
	size_t old_fwid_len;
};

/* --- names and the transition tables ------------------------------------------------------------------- */
const char *campaign_state_to_string(enum campaign_state s);
const char *campaign_wave_state_to_string(enum campaign_wave_state s);
const char *campaign_wave_kind_to_string(enum campaign_wave_kind k);
const char *campaign_target_state_to_string(enum campaign_target_state s);
const char *campaign_apply_policy_to_string(enum campaign_apply_policy p);
const char *campaign_transfer_mode_to_string(enum campaign_transfer_mode m);
/* Return 0 with *ret, or -EINVAL for a name that is none of the states. */
int campaign_state_from_string(const char *s, enum campaign_state *ret);
int campaign_target_state_from_string(const char *s, enum campaign_target_state *ret);
int campaign_wave_state_from_string(const char *s, enum campaign_wave_state *ret);

bool campaign_transition_allowed(enum campaign_state from, enum campaign_state to);
bool campaign_wave_transition_allowed(enum campaign_wave_state from, enum campaign_wave_state to);
bool campaign_target_transition_allowed(enum campaign_target_state from, enum campaign_target_state to);
bool campaign_state_terminal(enum campaign_state s);

/* --- versions -------------------------------------------------------------------------------------------- */
/* Compares two FWIDs in the nRF Connect SDK layout (company id LE, major, minor, revision LE, build LE: 10 bytes)
 * by version. Returns -1/0/1 (@a older/same/newer than @b), or -2 when they cannot be compared (another layout
 * or another company id). */
int campaign_fwid_compare(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len);

/* --- records ----------------------------------------------------------------------------------------------- */
void campaign_init(struct campaign *c);
void campaign_done(struct campaign *c);         /* frees what @c owns */

/* Resolves @sel against the inventory for the image @fwid: every selected node, pending or skipped (up_to_date,
 * not_capable, downgrade unless @allow_downgrade). Unreachable nodes stay pending (docs/campaigns.md). On success
 * *ret_targets (free()) holds *ret_n entries in address order. With explicit addresses that are no node, returns
 * -ENOENT with their number in *ret_n_unknown and the first @unknown_cap of them in @unknown. Returns 0, -ENOENT,
 * -ENOMEM or a database error. */
int campaigns_resolve(struct db *db, const struct campaign_selector *sel, const uint8_t *fwid, size_t fwid_len,
		      bool allow_downgrade, struct campaign_resolved **ret_targets, size_t *ret_n, uint16_t *unknown,
		      size_t unknown_cap, size_t *ret_n_unknown);

/* A free group address of meshfleet's provisioner range (the network's group_low..group_high), not used by a
 * group of /api/v1/groups nor by a campaign that is not terminal. Returns 0, -ENOENT (no network imported),
 * -ENOSPC (the range is used up) or a database error. */
int campaigns_allocate_group(struct db *db, uint16_t *ret_group);
/* Whether a campaign that is not terminal uses @group. Returns 1, 0 or a database error. */
int campaigns_group_in_use(struct db *db, uint16_t group);

/* Writes @c (state draft; id, created_at, updated_at set here) with its targets and the wave plan in one
 * transaction: waves_plan() over the pending targets, seeded by the new id. Publishes the campaign event
 * "created". Returns 0, -EINVAL (no target to update), -E2BIG (too many waves), -ENOMEM or a database error. */
int campaigns_create(struct db *db, struct events *events, struct campaign *c, const struct campaign_resolved *t,
		     size_t n);

/* Reads campaign @id into @ret (campaign_done() it). Returns 0, -ENOENT or a database error. */
int campaigns_get(struct db *db, int64_t id, struct campaign *ret);
/* Deletes a draft with its waves and targets. Returns 0, -ENOENT, -EBUSY (not a draft: *ret_state) or a db error. */
int campaigns_delete(struct db *db, int64_t id, enum campaign_state *ret_state);

/* Campaigns with an id below @before (0 = from the newest), newest first, in @state (-1 = any), at most @limit;
 * *ret_more says whether more follow. @fn's non-zero return stops the walk and is returned. */
typedef int (*campaigns_list_fn)(const struct campaign *c, void *userdata);
int campaigns_list(struct db *db, int state, int64_t before, unsigned limit, campaigns_list_fn fn, void *userdata,
		   bool *ret_more);

/* The waves of campaign @id with their counts, in index order, into *ret (free()). Returns 0 or a db error. */
int campaigns_waves(struct db *db, int64_t id, struct campaign_wave **ret, size_t *ret_n);
/* Target counts per state for the whole campaign. */
int campaigns_target_counts(struct db *db, int64_t id, uint64_t counts[CAMPAIGN_TARGET_STATE_COUNT]);

typedef int (*campaigns_target_fn)(const struct campaign_target *t, void *userdata);
/* Targets of @id with an address above @after, in address order, in @state (-1 = any), at most @limit. */
int campaigns_targets(struct db *db, int64_t id, int state, uint16_t after, unsigned limit, campaigns_target_fn fn,
		      void *userdata, bool *ret_more);

/* The id of a campaign that is not terminal and uses firmware @firmware, in *ret_id (0 = none). */
int campaigns_using_firmware(struct db *db, const char *firmware, int64_t *ret_id);

/* Counts of campaigns per state, of targets (of every campaign) per state: for the metrics. */
int campaigns_count_by_state(struct db *db, uint64_t campaigns[CAMPAIGN_STATE_COUNT],
			     uint64_t targets[CAMPAIGN_TARGET_STATE_COUNT]);

/* --- transitions ----------------------------------------------------------------------------------------- */
/* Each checks the table against the state in the database, writes the new state (and what goes with it:
 * timestamps, reason) in one transaction, durable when @durable, logs "old -> new" and publishes the event.
 * Return 0; -ENOENT; -EPERM when the table refuses it (*ret_current, when not NULL, is the current state); or a
 * database error. @reason may be NULL or "" (none). */
/* @expect_from: -1, or the only state the transition may start from (resume: paused). */
int campaigns_set_state(struct db *db, struct events *events, int64_t id, int expect_from, enum campaign_state to,
			const char *reason, bool durable, enum campaign_state *ret_current);
int campaigns_wave_set_state(struct db *db, struct events *events, int64_t id, uint32_t wave,
			     enum campaign_wave_state to, bool durable, enum campaign_wave_state *ret_current);
int campaigns_target_set_state(struct db *db, struct events *events, int64_t id, uint16_t address,
			       enum campaign_target_state to, const char *reason, bool durable,
			       enum campaign_target_state *ret_current);

/* --- the operator's actions (POST /api/v1/campaigns/{id}/...) -------------------------------------------------- */
/* start: draft -> scheduled (a scheduled start after @now_ms) or running; scheduled -> running (start now). */
int campaigns_start(struct db *db, struct events *events, int64_t id, int64_t now_ms, const char *by,
		    enum campaign_state *ret_state);
/* cancel: the campaign, its waves and targets that are not terminal; a wave or target applying or confirming
 * keeps its state for the engine to confirm (an apply may be on its way). */
int campaigns_cancel(struct db *db, struct events *events, int64_t id, const char *by, enum campaign_state *ret_state);
/* retry: failed targets with attempts left go, pending, into a new retry wave (running or paused only).
 * *ret_n: how many; -ENODATA when none can. */
int campaigns_retry(struct db *db, struct events *events, int64_t id, enum campaign_state *ret_state, size_t *ret_n,
		    uint32_t *ret_wave);
/* apply: waves verified -> applying, durably (policy verify_only or window; running or paused). -ENODATA when no
 * wave is verified; -EPERM (state) or -EINVAL (policy immediate). *ret_n: waves released. */
int campaigns_apply(struct db *db, struct events *events, int64_t id, enum campaign_state *ret_state, size_t *ret_n);

/* JSON of a campaign's settings (the API's campaign object without waves and counts). Returns a new reference. */
json_t *campaign_to_json(const struct campaign *c);

#endif
