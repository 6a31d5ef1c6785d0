/* discovery: POST /api/v1/nodes/refresh. Asks every known node (or those a filter selects) what it is and what it
 * runs, through the dongle, and records the answers: reachable or not, last seen, composition (company, product,
 * version ids, element count, DFU capable) and the firmware ID of each image.
 *
 * Every answer's TTL also tells how many hops away the node is (ANSWER_TTL in discovery.c: nodes answer with
 * Zephyr's default TTL 7, each relay takes one off); the fewest seen is recorded as the node's hop count, which wave
 * planning and the campaign estimate use.
 *
 * Per node, in order, each an exchange of mesh_client (paced, retried):
 *   1. Config Composition Data Get, page 0 (device key): reachable, composition, DFU capable. Skipped for a node
 *      without a device key (registered by hand).
 *   2. Config Model App Bind of meshfleet's application key to the Firmware Update Server, on DFU capable nodes:
 *      Firmware Update Information Get travels with that key, and a node drops messages on a key its model is not
 *      bound to. A node that has the binding answers Success and nothing changes; one that lacks the key gets
 *      Config AppKey Add first. A binding the node confirmed before (node_config, shared with groups.h) is not
 *      sent again, unless step 3 then gets no answer: the node may have been reset, so bind and ask once more.
 *   3. Firmware Update Information Get (application key): the firmware ID of every image.
 * A node that answers nothing is marked unreachable, never deleted. One refresh runs at a time.
 */
#ifndef MESHFLEET_DISCOVERY_H
#define MESHFLEET_DISCOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "db.h"
#include "events.h"
#include "mesh_client.h"
#include "nodes.h"

#define DISCOVERY_TARGETS_MAX 32767
#define DISCOVERY_IMAGES_MAX 8          /* firmware entries asked for per node */

enum discovery_state {
	DISCOVERY_IDLE,                 /* never ran */
	DISCOVERY_RUNNING,
	DISCOVERY_DONE,
	DISCOVERY_CANCELLED,
	DISCOVERY_FAILED,               /* could not list the nodes */
};

struct discovery;

int discovery_new(uv_loop_t *loop, struct db *db, struct mesh_client *mesh, struct discovery **ret);
/* Cancels a running refresh (its exchanges end) and frees. NULL is a no-op. */
void discovery_free(struct discovery *d);
/* Publishes EVENT_REFRESH on @events (borrowed; NULL = none): "started", "progress" (coalesced) and "done" (state
 * done or cancelled), each with discovery_to_json() and that "phase". */
void discovery_set_events(struct discovery *d, struct events *events);

/* Starts a refresh of the nodes @filter selects. Returns 0, -EBUSY (one is running), -ENOTCONN (the mesh is not
 * ready: mesh_client_why_not_ready() says why), -ENOENT (no node matches), -ENOMEM or a database error. */
int discovery_start(struct discovery *d, const struct node_filter *filter);
/* Returns 0 or -ENOENT (none running). */
int discovery_cancel(struct discovery *d);

enum discovery_state discovery_state(const struct discovery *d);
const char *discovery_state_to_string(enum discovery_state state);
/* GET /api/v1/nodes/refresh. Returns a new reference or NULL (out of memory). */
json_t *discovery_to_json(const struct discovery *d);

#endif
