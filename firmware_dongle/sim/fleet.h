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
 * Two ways to carry messages:
 *   - the radio model (radio.h; meshfleet-sim always, after fleet_radio_init()): fleet_send() puts the dongle's message
 *     on the air with radio_send() to every node it is addressed to; each node that gets it handles it at its
 *     reception time (an event, FLEET_EVENT_DELIVER); its answers leave at the time the node sends them
 *     (FLEET_EVENT_SEND), cross the radio back from the node's own advertiser and hop count, and reach the dongle
 *     (FLEET_EVENT_ARRIVE) or are lost. DFU-capable nodes have an update Target (target.h) that takes every
 *     Firmware Update and BLOB Transfer message, with its own timers (FLEET_EVENT_TICK). The simulator runs the
 *     events with fleet_run_event(), in time order;
 *   - the simple model (fleet_handle(), the unit tests of the node logic): a message reaches a node if its TTL allows
 *     the node's hop count; each exchange is lost with the node's loss rate (one seeded draw: in its first half the
 *     request is lost, in its second half the answer, after the node has acted); the answer arrives after
 *     2 x hops x hop_delay_ms + FLEET_PROCESSING_MS of virtual time. No targets.
 *
 * Glossary: *answer* = a reply on its way back, held in the fleet's table (at most FLEET_ANSWERS_MAX) from
 * fleet_handle() until fleet_reply() or fleet_cancel(); *radio index* = a node's index in the radio model: 0 the
 * dongle, node i at i + 1, and one more that no node is (where a message addressed to nobody goes).
 */
#ifndef MESHFLEET_SIM_FLEET_H
#define MESHFLEET_SIM_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include "mesh_access.h"
#include "messages.h"
#include "platform.h"
#include "radio.h"
#include "rng.h"
#include "scenario.h"
#include "target.h"

#define FLEET_DEFAULT_TTL 7             /* the dongle's and the nodes' default TTL */
#define FLEET_PROCESSING_MS 10          /* a node's time to answer */
#define FLEET_REPLY_MAX MA_PAYLOAD_MAX  /* bytes of one answer's access payload */
#define FLEET_ANSWERS_MAX 16384         /* answers in flight; more are dropped and counted */
#define FLEET_STATUS_MAX 16             /* a Config status message, encoded when the node acts */
#define FLEET_MSGS_MAX 4096             /* the dongle's messages on their way to the nodes (radio model) */
#define FLEET_RAW_MAX 8192              /* targets' answers on their way back (radio model) */

/* What the simulator schedules for the fleet (radio model); fleet_run_event() runs it. */
enum fleet_event_kind {
	FLEET_EVENT_DELIVER = 1,        /* @a: message, @b: node: the node has heard the message */
	FLEET_EVENT_SEND,               /* @a: answer: its node sends it now */
	FLEET_EVENT_ARRIVE,             /* @a: answer: the dongle has heard it */
	FLEET_EVENT_TICK,               /* @b: node: its target's timers */
};

struct fleet_event {
	uint64_t at_ms;
	uint32_t kind;                  /* enum fleet_event_kind */
	uint32_t a;
	uint32_t b;
};

/* Schedules @ev; returns 0, or a negative errno when it cannot (the fleet then drops what it carried). */
typedef int (*fleet_schedule_fn)(void *ctx, const struct fleet_event *ev);

/* A message of the dongle on its way to the nodes, shared by their deliveries. */
struct fleet_msg {
	uint32_t refs;                  /* deliveries still to run; 0 = free */
	uint32_t next_free;
	struct msg_mesh_send m;         /* m.payload points to @payload */
	uint16_t src;
	uint8_t payload[MA_PAYLOAD_MAX];
};

/* A target's answer on its way back. */
struct fleet_raw {
	uint32_t next_free;
	uint16_t len;
	uint8_t payload[MA_PAYLOAD_MAX];
};

/* An answer to schedule: fleet_reply(@id) once @delay_ms of virtual time have passed. */
struct fleet_answer {
	uint32_t id;
	uint32_t delay_ms;
};

enum fleet_reply_kind {
	FLEET_REPLY_STATUS,             /* @data holds the encoded Config status */
	FLEET_REPLY_COMPOSITION,        /* page 0, encoded at delivery */
	FLEET_REPLY_FW_INFO,            /* @data holds First Index and Entries Limit of the Get */
	FLEET_REPLY_TARGET,             /* @raw: a target's answer (radio model) */
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
	uint32_t raw;                   /* FLEET_REPLY_TARGET: index in fleet.raw */
	uint8_t ttl;                    /* radio model: the TTL it is sent with */
	uint8_t data[FLEET_STATUS_MAX];
};

struct fleet {
	struct scenario state;                  /* owned: the nodes as they are now */
	struct rng rng;
	bool configured;                        /* a MESH_CONFIG was seen */
	uint8_t net_key[MSG_KEY_SIZE];          /* the dongle's keys, from its last MESH_CONFIG */
	uint8_t app_key[MSG_KEY_SIZE];
	uint16_t app_key_index;                 /* the dongle's, for answers that are not to a request (targets) */
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
	/* the radio model (NULL / unused in the simple model) */
	struct radio *radio;                    /* owned */
	struct target **targets;                /* owned, per node; NULL for a node that is not DFU capable */
	uint64_t *tick_at;                      /* per node: the FLEET_EVENT_TICK scheduled, or TARGET_NEVER */
	struct fleet_msg *msgs;                 /* owned, FLEET_MSGS_MAX */
	uint32_t msgs_free;
	struct fleet_raw *raw;                  /* owned, FLEET_RAW_MAX */
	uint32_t raw_free;
	uint64_t radio_lost;                    /* deliveries and answers the radio lost */
	uint64_t target_messages;               /* Firmware Update and BLOB messages a target handled */
	uint64_t events_dropped;                /* the simulator could not schedule them */
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

/* --- the radio model --- */

/* Puts the fleet on the radio model with the scenario's "radio" knobs, and gives each DFU-capable node its update
 * Target; losses and the targets' delays draw from @seed. Returns 0, -ENOMEM, or -EINVAL (bad knobs: the scenario
 * parser checks them first). */
int fleet_radio_init(struct fleet *f, uint64_t seed);

/* One access message from the dongle at @now_ms, on the air to every node it is addressed to; their deliveries go
 * through @schedule. *ret_tx says what the dongle's advertiser and transport did (done_us: Zephyr's "send end").
 * Returns 0, or a negative errno (the radio refused it: too long); nothing is scheduled then. */
int fleet_send(struct fleet *f, const struct core_mesh_tx *tx, uint64_t now_ms, fleet_schedule_fn schedule,
	       void *ctx, struct radio_tx *ret_tx);

/* Runs one scheduled event at @now_ms. True when an answer reached the dongle: *ret is its MESH_RECV, the payload
 * in @buf (FLEET_REPLY_MAX bytes). */
bool fleet_run_event(struct fleet *f, const struct fleet_event *ev, uint64_t now_ms, fleet_schedule_fn schedule,
		     void *ctx, uint8_t *buf, struct msg_mesh_recv *ret);

/* The update target of node @index, or NULL (not DFU capable, or the simple model). */
const struct target *fleet_target(const struct fleet *f, uint32_t index);

#endif
