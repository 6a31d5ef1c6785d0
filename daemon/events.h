/* events: the in-process event bus. Modules publish what happened (a refresh's progress, a group job, a network
 * import, the dongle's link state); each event gets the next id, is stored in SQLite (table events, db.c migration
 * 4; the newest EVENTS_KEEP are kept) and is handed to the live subscribers: the SSE streams of GET /api/v1/events
 * (api_events.c), which replay from the table what a reconnecting client missed. ARCHITECTURE.md, "Daemon modules".
 *
 * Glossary:
 *   progress  - a high-rate event of one job, identified by a key ("refresh", "group_job:3"): coalesced to at most
 *               one per EVENTS_COALESCE_MS per key; the final state of the job is always published
 *   subscriber - a callback that sees every event published after it subscribed, in id order
 */
#ifndef MESHFLEET_EVENTS_H
#define MESHFLEET_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "db.h"

#define EVENTS_KEEP 10000               /* events kept in the database, for replay */
#define EVENTS_PRUNE_BATCH 500          /* prune once this many were added beyond EVENTS_KEEP */
#define EVENTS_TYPE_MAX 32              /* bytes of a type name */
#define EVENTS_DATA_MAX 8192            /* bytes of an event's JSON */
#define EVENTS_COALESCE_MS 1000
#define EVENTS_PROGRESS_KEYS 16         /* progress keys followed at once; the oldest is forgotten */
#define EVENTS_KEY_MAX 48

/* The types of event; GET /api/v1/events?types= accepts these. docs/api.md describes their data. */
#define EVENT_REFRESH "refresh"         /* a refresh of the nodes: discovery_to_json() and "phase" */
#define EVENT_GROUP_JOB "group_job"     /* a group job: groups_job_to_json() and "phase" */
#define EVENT_NETWORK "network"         /* a network import that changed something: what, with counts */
#define EVENT_DONGLE "dongle"           /* the dongle's link state and diagnosis */
#define EVENT_FIRMWARE "firmware"       /* an image imported (new bytes) or deleted: "action" and the image */
#define EVENT_CAMPAIGN "campaign"       /* a campaign created or changing state (campaigns.h) */
#define EVENT_WAVE "wave"               /* a campaign's wave changing state */
#define EVENT_TARGET "target"           /* campaign targets changing state: their addresses, from, to, reason */
#define EVENT_CAMPAIGN_PROGRESS "campaign_progress"     /* a running wave's blocks, counts and ETA (engine.c) */

struct events;
struct events_sub;

/* Whether @name (@len bytes) is one of the EVENT_* types. */
bool events_type_known(const char *name, size_t len);

struct event {
	uint64_t id;
	int64_t time;                   /* ms since the epoch */
	const char *type;               /* borrowed */
	const char *data;               /* borrowed; compact JSON, no newline */
	size_t data_len;
};

typedef void (*events_fn)(void *userdata, const struct event *e);
/* The coalescing clock, in ms; any monotonic origin. */
typedef uint64_t (*events_clock_fn)(void *userdata);

struct events_options {
	uint32_t keep;                  /* 0 = EVENTS_KEEP */
	uint32_t prune_batch;           /* 0 = EVENTS_PRUNE_BATCH */
	events_clock_fn clock;          /* required */
	void *clock_userdata;
};

/* Continues the ids after the newest stored event. On failure *ret is untouched. */
int events_new(struct db *db, const struct events_options *options, struct events **ret);
/* Every subscriber must be gone. NULL is a no-op. Returns NULL. */
struct events *events_free(struct events *ev);

/* Publishes @data (takes ownership; an object) as an event of @type (a static string of [a-z_]). Returns the id, or
 * 0 when nothing was published (@ev NULL, out of memory, data too large). A failed insert is logged; the event still
 * reaches the live subscribers. */
uint64_t events_publish(struct events *ev, const char *type, json_t *data);
/* Like events_publish(), coalesced per @key: published when @final, or when the last event of @key is at least
 * EVENTS_COALESCE_MS old; otherwise dropped (a later one carries newer counts). Returns the id or 0. */
uint64_t events_progress(struct events *ev, const char *type, const char *key, json_t *data, bool final);

/* The id of the newest event (0 when none yet). */
uint64_t events_last_id(const struct events *ev);

/* Calls @fn for up to @limit stored events with an id above @after, oldest first; *ret_more says whether more
 * follow. Returns 0 or a database error. */
int events_replay(struct events *ev, uint64_t after, unsigned limit, events_fn fn, void *userdata, bool *ret_more);

/* Adds a live subscriber; *ret is the handle for events_unsubscribe(). Returns 0 or -ENOMEM. A subscriber may
 * unsubscribe itself or another one from its callback. */
int events_subscribe(struct events *ev, events_fn fn, void *userdata, struct events_sub **ret);
void events_unsubscribe(struct events *ev, struct events_sub *sub);

#endif
