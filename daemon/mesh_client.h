/* mesh_client: the daemon's side of the mesh, over the dongle. It configures the dongle with the stored network
 * at every handshake (MESH_CONFIG, sequence number mark: network.h), sends access messages and matches the
 * answers that come back as MESH_RECV events, with a timeout, retries and a limit on exchanges in flight so that
 * the mesh is not flooded. Discovery and group configuration are built on it.
 *
 * Glossary:
 *   exchange - one message and the status that answers it: same node (any of its elements), the expected opcode
 *   ready    - the link is up and the dongle took MESH_CONFIG: exchanges go out
 */
#ifndef MESHFLEET_MESH_CLIENT_H
#define MESHFLEET_MESH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "db.h"
#include "dongle.h"
#include "messages.h"

#define MESH_CLIENT_IN_FLIGHT 4         /* default exchanges at once */
#define MESH_CLIENT_IN_FLIGHT_MAX 32
#define MESH_CLIENT_TIMEOUT_MS 2000     /* default wait for an answer, per attempt */
#define MESH_CLIENT_ATTEMPTS 3
#define MESH_CLIENT_QUEUE_MAX 8192      /* exchanges waiting */
#define MESH_CLIENT_PAYLOAD_MAX 380

struct mesh_client;

struct mesh_client_options {
	uint32_t in_flight;             /* 0 = MESH_CLIENT_IN_FLIGHT */
	uint32_t timeout_ms;            /* 0 = MESH_CLIENT_TIMEOUT_MS */
	uint32_t attempts;              /* 0 = MESH_CLIENT_ATTEMPTS */
	const char *dongle_id;          /* names the dongle for the sequence number mark; borrowed */
};

/* The end of one exchange: 0 with the answer (borrowed for the call), or -ETIMEDOUT (no answer after every
 * attempt), -ECANCELED (mesh_client_cancel_all, or shutdown), -ENOENT (no device key for a devkey exchange). */
typedef void (*mesh_client_done_fn)(void *userdata, int error, const struct msg_mesh_recv *answer);

struct mesh_exchange {
	uint16_t dst;                   /* unicast */
	bool devkey;                    /* sent with the node's device key (configuration), else the app key */
	uint8_t ttl;                    /* MSG_TTL_DEFAULT for the dongle's default */
	uint32_t answer_opcode;         /* the status that completes it */
	uint16_t answer_elements;       /* the answer may come from dst .. dst + answer_elements - 1; 0 = 1 */
	const uint8_t *payload;         /* copied */
	uint16_t payload_len;
	mesh_client_done_fn done;
	void *userdata;
};

/* State changes for whoever waits on the mesh (discovery resumes when it is ready again). */
typedef void (*mesh_client_ready_fn)(void *userdata, bool ready);

int mesh_client_new(uv_loop_t *loop, struct db *db, struct dongle *dongle, const struct mesh_client_options *o,
		    mesh_client_ready_fn ready, void *userdata, struct mesh_client **ret);
/* Cancels every exchange (their callbacks run with -ECANCELED), closes the timers and frees @m once they are
 * closed (the loop must run). Call it after dongle_stop(): the dongle's answers refer to @m. NULL is a no-op. */
void mesh_client_close(struct mesh_client *m);

/* Feed from the dongle's callbacks. */
void mesh_client_link_state(struct mesh_client *m, enum link_state state);
void mesh_client_recv(struct mesh_client *m, const struct msg_mesh_recv *r);

/* The network changed (an import): configure the dongle again. */
void mesh_client_network_changed(struct mesh_client *m);

bool mesh_client_ready(const struct mesh_client *m);
/* Why not ready, for errors: "no network imported", "the dongle is not connected", ... */
const char *mesh_client_why_not_ready(const struct mesh_client *m);

/* Queues an exchange; it goes out when ready and a slot is free, in order. Returns 0 (@done follows exactly
 * once), -EINVAL (bad exchange), -ENOBUFS (queue full). */
int mesh_client_exchange(struct mesh_client *m, const struct mesh_exchange *x);
/* Ends every queued and running exchange whose userdata is @userdata with -ECANCELED. */
void mesh_client_cancel(struct mesh_client *m, void *userdata);

struct mesh_client_counters {
	uint64_t sent, answered, timed_out, retries, unmatched;
	uint32_t queued, in_flight;
};
const struct mesh_client_counters *mesh_client_counters(const struct mesh_client *m);

#endif
