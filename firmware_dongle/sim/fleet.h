/* fleet: the simulated target nodes and how they answer the dongle's access messages (docs/simulator.md, "What the
 * nodes do"). Every message is read and every answer written with protocol/mesh_access.h.
 *
 * A node holds what a provisioned node holds (struct scenario_node: device key, composition, keys, bindings,
 * subscriptions); the fleet owns a copy of the scenario's nodes and changes it as the Configuration Server does, so
 * the state belongs to the nodes: it survives the dongle's reboots and unplugs, and with --fleet-state (fleetstate.h,
 * which saves what @changes counts) the end of the process.
 *
 * Messages a node handles:
 *   with its device key:  Config Composition Data Get, AppKey Add, Model App Bind, Model Subscription Add / Delete
 *                         (to its primary address)
 *   with an application key the node holds and has bound to its Firmware Update Server:
 *                         Firmware Update Information Get (to its primary address, 0xFFFF, or a group address the
 *                         Firmware Update Server subscribes to)
 * A message the node cannot decrypt (another network key, another device key, an application key it does not hold
 * or has not bound to the model) is dropped without an answer, counted, and logged at debug, as a real node stays
 * silent. Keys are compared by value: the simulator knows the dongle's keys from MESH_CONFIG (fleet_configure()).
 *
 * The radio is deliberately simple until the radio model arrives: a message reaches a node if its TTL allows the
 * node's hop count; each exchange is lost with the node's loss rate (one seeded draw: in its first half the request
 * is lost, in its second half the answer, after the node has acted); the answer arrives after
 * 2 x hops x hop_delay_ms + FLEET_PROCESSING_MS of virtual time.
 *
 * Glossary: *answer* = a reply on its way back, held in the fleet's table (at most FLEET_ANSWERS_MAX) from
 * fleet_handle() until fleet_reply() or fleet_cancel().
 */
#ifndef MESHFLEET_SIM_FLEET_H
#define MESHFLEET_SIM_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include "mesh_access.h"
#include "messages.h"
#include "platform.h"
#include "rng.h"
#include "scenario.h"

#define FLEET_DEFAULT_TTL 7             /* the dongle's and the nodes' default TTL */
#define FLEET_PROCESSING_MS 10          /* a node's time to answer */
#define FLEET_REPLY_MAX MA_PAYLOAD_MAX  /* bytes of one answer's access payload */
#define FLEET_ANSWERS_MAX 16384         /* answers in flight; more are dropped and counted */
#define FLEET_STATUS_MAX 16             /* a Config status message, encoded when the node acts */

/* An answer to schedule: fleet_reply(@id) once @delay_ms of virtual time have passed. */
struct fleet_answer {
	uint32_t id;
	uint32_t delay_ms;
};

enum fleet_reply_kind {
	FLEET_REPLY_STATUS,             /* @data holds the encoded Config status */
	FLEET_REPLY_COMPOSITION,        /* page 0, encoded at delivery */
	FLEET_REPLY_FW_INFO,            /* @data holds First Index and Entries Limit of the Get */
};

struct fleet_pending {
	bool used;
	uint8_t kind;                   /* enum fleet_reply_kind */
	uint8_t len;
	uint16_t dst;                   /* the dongle's address when it asked */
	uint16_t key_index;             /* of the request, as is the DEVKEY flag */
	bool devkey;
	uint32_t node;                  /* index in fleet.state */
	uint32_t next_free;
	uint8_t data[FLEET_STATUS_MAX];
};

struct fleet {
	struct scenario state;                  /* owned: the nodes as they are now */
	struct rng rng;
	bool configured;                        /* a MESH_CONFIG was seen */
	uint8_t net_key[MSG_KEY_SIZE];          /* the dongle's keys, from its last MESH_CONFIG */
	uint8_t app_key[MSG_KEY_SIZE];
	struct fleet_pending *pending;          /* owned, FLEET_ANSWERS_MAX */
	uint32_t free_head;                     /* first free entry of @pending, FLEET_ANSWERS_MAX when full */
	void (*log)(void *ctx, enum msg_log_level level, const char *text);      /* may be NULL */
	void *log_ctx;
	/* counters */
	uint64_t messages;              /* access messages from the dongle */
	uint64_t answers;
	uint64_t lost;                  /* exchanges lost to a node's loss rate */
	uint64_t out_of_range;          /* TTL too small for the node's hops */
	uint64_t wrong_net_key;         /* per node: the dongle's network key is not one the node holds */
	uint64_t wrong_device_key;      /* per node: DEVKEY with another device key */
	uint64_t wrong_app_key;         /* per node: an application key it does not hold or has not bound */
	uint64_t ignored;               /* per node: malformed, unknown opcode, wrong kind of key or element */
	uint64_t answers_full;          /* the table of answers in flight was full */
	uint64_t changes;               /* messages (and learned keys) that changed a node's state: to save */
};

/* Copies @scenario's nodes. Returns 0 or -ENOMEM. */
int fleet_init(struct fleet *f, const struct scenario *scenario, uint64_t seed);
void fleet_done(struct fleet *f);

/* Where the fleet's debug and info lines go (the simulator's log). */
void fleet_set_log(struct fleet *f, void (*log)(void *ctx, enum msg_log_level level, const char *text), void *ctx);

/* The dongle's MESH_CONFIG: its keys, compared by value with the nodes'. In a scenario with learned keys the first
 * one also gives the network key 0 and application key 0 their values, for the network and every node. */
void fleet_configure(struct fleet *f, const struct msg_mesh_config *cfg);

/* One access message from the dongle; @answer is called for each answer to schedule. */
void fleet_handle(struct fleet *f, const struct core_mesh_tx *tx,
		  void (*answer)(void *ctx, const struct fleet_answer *a), void *ctx);

/* The MESH_RECV of answer @id, its payload in @buf (FLEET_REPLY_MAX bytes), and frees the answer. False if there is
 * no such answer. */
bool fleet_reply(struct fleet *f, uint32_t id, uint8_t *buf, struct msg_mesh_recv *ret);

/* Frees answer @id without delivering it (it could not be scheduled). */
void fleet_cancel(struct fleet *f, uint32_t id);

#endif
