/* groups: the group subscriptions multicast DFU needs (issue 4, "Group subscriptions for multicast DFU"). Ensures
 * that a set of nodes holds meshfleet's application key, has it bound to the Firmware Update Server and the BLOB
 * Transfer Server, and has both models subscribed to a group address, so that one multicast reaches a whole wave;
 * or removes those subscriptions again. Campaigns build on it; /api/v1/groups/{addr}/members exposes it (api_groups.c).
 *
 * Per node, in order, each step an exchange of mesh_client (device key, to the node's primary address; paced and
 * retried there), each skipped when the database records it as done, each recorded as soon as it is acknowledged:
 *   add:     Config Composition Data Get (only while the composition is unknown) -> Config AppKey Add ->
 *            Config Model App Bind (Firmware Update Server, BLOB Transfer Server) ->
 *            Config Model Subscription Add (the same two models)
 *   remove:  Config Model Subscription Delete (the same two models). The key and the bindings stay: other groups
 *            and campaigns use them.
 * The element configured is the first one that holds both DFU server models (composition page 0). A node with
 * everything recorded gets nothing; a node that fails keeps what it acknowledged, and asking again resumes there.
 * Records: tables node_config (per node) and group_members (per group and node), db.c migration 3; they are
 * forgotten when a node's device key changes (provisioned again) or the network is replaced.
 *
 * Glossary:
 *   job     - one request: a group address, add or remove, a list of nodes; one runs at a time
 *   member  - a row of group_members: one node's record for one group (its state and the reason of a failure)
 *   result  - what a job did with one node: succeeded (sent and acknowledged), unchanged (nothing to send),
 *             failed (a step timed out or was rejected: the reason says which), refused (never sent: the reason
 *             says why, e.g. not DFU capable)
 */
#ifndef MESHFLEET_GROUPS_H
#define MESHFLEET_GROUPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "db.h"
#include "events.h"
#include "mesh_client.h"

#define GROUPS_ADDRESS_MIN 0xC000       /* group addresses; 0xFF00..0xFFFF are the fixed ones */
#define GROUPS_ADDRESS_MAX 0xFEFF
#define GROUPS_NODES_MAX 32767          /* nodes of one job */
#define GROUPS_REASON_MAX 200           /* bytes of a member's reason */
#define GROUPS_MEMBERS_LIST_MAX 1000    /* members in one page of groups_members_list() */

enum groups_action { GROUPS_ADD, GROUPS_REMOVE };

enum groups_job_state {
	GROUPS_IDLE,                    /* no job ran yet */
	GROUPS_RUNNING,
	GROUPS_DONE,
	GROUPS_CANCELLED,               /* shutdown, or the dongle went away for good */
};

enum groups_member_state {
	GROUPS_MEMBER_PENDING,          /* a job is working on it (or one was interrupted: ask again) */
	GROUPS_MEMBER_MEMBER,           /* both models subscribed */
	GROUPS_MEMBER_FAILED,           /* adding failed: the reason says at which step */
	GROUPS_MEMBER_REFUSED,          /* never configured: the reason says why */
	GROUPS_MEMBER_REMOVE_FAILED,    /* removing failed; the flags say which subscriptions remain */
};

struct groups;

struct groups_member {
	uint16_t group;
	uint16_t address;
	int16_t element;                /* index of the configured element; -1 = none (refused) */
	bool fu_subscribed;             /* Firmware Update Server */
	bool blob_subscribed;           /* BLOB Transfer Server */
	enum groups_member_state state;
	char reason[GROUPS_REASON_MAX + 1];     /* "" when none */
	int64_t updated_at;
};

int groups_new(uv_loop_t *loop, struct db *db, struct mesh_client *mesh, struct groups **ret);
/* Cancels a running job (its exchanges end; what was acknowledged stays recorded) and frees. NULL is a no-op. */
void groups_free(struct groups *g);
/* Publishes EVENT_GROUP_JOB on @events (borrowed; NULL = none): "started", "progress" (coalesced per job) and
 * "done" (state done or cancelled), each with groups_job_to_json() and that "phase". */
void groups_set_events(struct groups *g, struct events *events);

static inline bool groups_address_valid(uint32_t address)
{
	return address >= GROUPS_ADDRESS_MIN && address <= GROUPS_ADDRESS_MAX;
}

/* The index in @nodes of the first address that is no node of the inventory, in *ret_index. Returns 0 (all known),
 * -ENOENT (one is unknown) or a database error. */
int groups_find_unknown(struct db *db, const uint16_t *nodes, size_t n, size_t *ret_index);

/* Starts a job on @group for @nodes (borrowed, copied; known nodes, no repeats: check with groups_find_unknown()).
 * For GROUPS_REMOVE, @nodes NULL means every member of the group. Returns 0 (the job may already be done when no
 * node needed a message), -EINVAL (not a group address, or no node for an add), -E2BIG, -EBUSY (a job runs),
 * -ENOTCONN (the mesh is not ready: mesh_client_why_not_ready() says why), -ENOMEM or a database error. */
int groups_start(struct groups *g, enum groups_action action, uint16_t group, const uint16_t *nodes, size_t n);

enum groups_job_state groups_job_state(const struct groups *g);
/* The group of the running or last job; 0 if none ran. */
uint16_t groups_job_group(const struct groups *g);
/* The running or last job. Returns a new reference or NULL (out of memory). */
json_t *groups_job_to_json(const struct groups *g);

/* Calls @fn for up to @limit (<= GROUPS_MEMBERS_LIST_MAX) members of @group with a node address above @after, in
 * address order; *ret_more tells whether more follow. A non-zero return of @fn stops the walk and is returned. */
typedef int (*groups_member_fn)(const struct groups_member *m, void *userdata);
int groups_members_list(struct db *db, uint16_t group, uint16_t after, unsigned limit, groups_member_fn fn,
			void *userdata, bool *ret_more);

const char *groups_action_to_string(enum groups_action action);
const char *groups_job_state_to_string(enum groups_job_state state);
const char *groups_member_state_to_string(enum groups_member_state state);

#endif
