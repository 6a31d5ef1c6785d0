/* preflight: POST /api/v1/campaigns/{id}/preflight. Before anything is transferred, asks every pending target of a
 * campaign whether it accepts the image's metadata: Firmware Update Firmware Metadata Check (image index 0) to the
 * node's Firmware Update Server element, with meshfleet's application key, one mesh_client exchange per node
 * (paced and retried by the [mesh] settings). Each answer is written as it comes to campaign_preflight (db.c
 * migration 9); a node that rejects is skipped with reason "preflight_rejected" when the request asked for it.
 * One preflight runs at a time. docs/campaigns.md ("Preflight") has the statuses and the rules.
 *
 * Glossary:
 *   status   - the node's answer (the Firmware Update status: success, metadata_check_failed, ...) or what stood
 *              in for one (unreachable, not_capable, malformed_answer)
 *   effect   - the answer's Additional Information: what applying the image would do to the node
 *   rejected - an answer that says this image will not go on this node: metadata_check_failed,
 *              wrong_firmware_index, insufficient_resources, not_capable (transient refusals are not)
 */
#ifndef MESHFLEET_PREFLIGHT_H
#define MESHFLEET_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "db.h"
#include "events.h"
#include "mesh_client.h"

#define PREFLIGHT_METADATA_MAX 255              /* Metadata Check carries at most this */
#define PREFLIGHT_RESULTS_MAX 1000              /* per-node results in GET .../preflight (the rest: .../targets) */
#define PREFLIGHT_REJECTED_REASON "preflight_rejected"

enum preflight_state {
	PREFLIGHT_IDLE,                 /* none ran since the daemon started */
	PREFLIGHT_RUNNING,
	PREFLIGHT_DONE,
	PREFLIGHT_CANCELLED,
};

enum preflight_status {
	PREFLIGHT_SUCCESS,                      /* Firmware Update status codes 0..7 first, in their order */
	PREFLIGHT_INSUFFICIENT_RESOURCES,
	PREFLIGHT_WRONG_PHASE,
	PREFLIGHT_INTERNAL_ERROR,
	PREFLIGHT_WRONG_FIRMWARE_INDEX,
	PREFLIGHT_METADATA_CHECK_FAILED,
	PREFLIGHT_TEMPORARILY_UNAVAILABLE,
	PREFLIGHT_BLOB_TRANSFER_BUSY,
	PREFLIGHT_UNREACHABLE,                  /* no answer after every attempt */
	PREFLIGHT_NOT_CAPABLE,                  /* its recorded composition has no Firmware Update Server */
	PREFLIGHT_MALFORMED_ANSWER,
};
#define PREFLIGHT_STATUS_COUNT (PREFLIGHT_MALFORMED_ANSWER + 1)

const char *preflight_state_to_string(enum preflight_state s);
const char *preflight_status_to_string(enum preflight_status s);
/* The API's name of an Additional Information value: no_change, composition_change,
 * composition_change_remote_provisioning, unprovisioned, rfu_N. */
const char *preflight_effect_to_string(unsigned effect, char *buf, size_t size);
bool preflight_status_rejects(enum preflight_status s);

struct preflight;

int preflight_new(uv_loop_t *loop, struct db *db, struct mesh_client *mesh, struct preflight **ret);
/* Cancels a running preflight and frees. NULL is a no-op. */
void preflight_free(struct preflight *p);
/* Where the skips' target events go (borrowed; NULL = none). */
void preflight_set_events(struct preflight *p, struct events *events);

/* Starts the preflight of campaign @campaign: every target in state pending, with @metadata (copied; the image's,
 * 0..PREFLIGHT_METADATA_MAX bytes). Earlier results of those targets are cleared. Returns 0, -EBUSY (one is
 * running), -ENOTCONN (the mesh is not ready), -ENOENT (no pending target), -EMSGSIZE (metadata too long), -ENOMEM
 * or a database error. */
int preflight_start(struct preflight *p, int64_t campaign, const uint8_t *metadata, size_t metadata_len,
		    bool skip_rejected);
/* Cancels the running preflight of @campaign. Returns 0 or -ENOENT (none running for it). */
int preflight_cancel(struct preflight *p, int64_t campaign);
/* The campaign of the running preflight, 0 when none runs. */
int64_t preflight_running(const struct preflight *p);

/* GET .../preflight: the job (when the last one started in this daemon was @campaign's; @p may be NULL) and the
 * stored results of @campaign. Returns 0 with a new reference in *ret, -ENOMEM or a database error. */
int preflight_to_json(const struct preflight *p, struct db *db, int64_t campaign, json_t **ret);

/* Adds "preflight" (the stored result, or null) to each object of @targets (an array of objects with "address"):
 * GET .../targets. Returns 0 or a database error. */
int preflight_annotate(struct db *db, int64_t campaign, json_t *targets);

#endif
