/* engine: runs campaigns on the loop through the dongle's Distributor. Starts scheduled campaigns at their time,
 * queues running campaigns for the one dongle (one distribution at a time, first started first), takes each wave
 * through preparing (group subscriptions, image upload) -> transferring (DIST_START) -> verifying -> verified ->
 * applying -> confirming -> done, records every target's result, applies the thresholds, and reconciles with the
 * dongle after an unplug, a dongle reboot or a daemon restart. The records and the state machines are campaigns.c's;
 * the engine's rules, and what happens at each state, on a crash and on an unplug: docs/campaigns.md, "The engine".
 *
 * Glossary:
 *   job        - the wave that holds the dongle: the one in preparing .. confirming (or verified), else the next
 *                pending wave of the first running campaign
 *   dist id    - the dongle's distribution id for a wave; written to the wave before DIST_START is sent
 *   sync       - DIST_GET (and DIST_TARGETS_GET) after the link came up or the daemon started: follow the
 *                distribution, collect its results, or re-issue the wave when the dongle lost it
 *   read-back  - Firmware Update Information Get to a target whose apply may have been sent, before the wave is
 *                issued again: a node already on the campaign's FWID succeeds without a second apply
 *   flush      - one transaction with the target results gathered since the last one (at most 2 per second while
 *                a distribution runs: EngineFlushMs)
 */
#ifndef MESHFLEET_ENGINE_H
#define MESHFLEET_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "db.h"
#include "dongle.h"
#include "events.h"
#include "firmware.h"
#include "groups.h"
#include "mesh_client.h"

#define ENGINE_FLUSH_MS 500             /* target results are written at most this often: <= 2 commits/s */
#define ENGINE_TICK_MS 1000             /* scheduled starts, maintenance windows, waits */
#define ENGINE_PASSES_MAX 64            /* passes of one engine run before the loop gets its turn */
#define ENGINE_MULTICAST_MIN_TARGETS 2  /* the Distributor's rule (docs/distribution.md): fewer go by unicast */
#define ENGINE_WRITES_MAX 32767         /* target results waiting for the next flush */

struct engine_options {
	uint32_t flush_ms;              /* 0 = ENGINE_FLUSH_MS */
	uint32_t tick_ms;               /* 0 = ENGINE_TICK_MS */
};

struct engine;

/* Creates the engine; every pointer is borrowed and must outlive it. @groups and @mesh may be NULL: waves then go
 * by unicast and read-backs wait. The engine watches the dongle's distribution (dongle_dist_watch()) and the event
 * bus (the operator's actions arrive as campaign and wave events) and starts at once with a reconcile of every
 * running campaign. Returns 0, -ENOMEM or a libuv error; *ret is untouched on failure. */
int engine_new(uv_loop_t *loop, const struct engine_options *o, struct db *db, struct events *events,
	       struct dongle *dongle, struct groups *groups, struct mesh_client *mesh, struct firmware *firmware,
	       struct engine **ret);
/* Stops watching, cancels the read-backs and frees once its handles are closed (the loop must run). Call it after
 * dongle_stop() completed: the dongle's replies refer to the engine. NULL is a no-op. */
void engine_close(struct engine *e);

/* Something changed that the engine should look at now (an action of the API, a test). */
void engine_kick(struct engine *e);

/* The wave that holds the dongle: campaign id (0 = none), wave index and distribution id. */
void engine_job(const struct engine *e, int64_t *ret_campaign, uint32_t *ret_wave, uint32_t *ret_dist_id);

/* The time left in the transfer of the wave that holds the dongle, in ms, from its block rate so far (as the
 * progress events' eta_s); -1 when there is no such wave or no rate yet. NULL is -1. */
int64_t engine_transfer_eta_ms(const struct engine *e);

#endif
