/* fleet: the simulated target nodes of a scenario and how they answer the dongle's access messages.
 *
 * For now a node answers one message: Firmware Update Information Get (Mesh DFU opcode 0x8308) with Firmware
 * Update Information Status (0x8309) listing its one image and Firmware ID (../shared/reference/mesh-dfu-protocol.md
 * §3.2). The radio is deliberately simple until the radio model arrives: a message reaches a node if its TTL
 * allows the node's hop count, each exchange is lost with the node's loss rate (seeded), and the answer arrives
 * after 2 x hops x hop_delay_ms + FLEET_PROCESSING_MS of virtual time. docs/simulator.md describes it.
 */
#ifndef MESHFLEET_SIM_FLEET_H
#define MESHFLEET_SIM_FLEET_H

#include <stdbool.h>
#include <stdint.h>

#include "messages.h"
#include "platform.h"
#include "rng.h"
#include "scenario.h"

#define FLEET_DEFAULT_TTL 7             /* the dongle's and the nodes' default TTL */
#define FLEET_PROCESSING_MS 10          /* a node's time to answer */
#define FLEET_OP_INFO_GET 0x8308
#define FLEET_OP_INFO_STATUS 0x8309
/* opcode, list count, first index, FWID length, FWID, URI length */
#define FLEET_REPLY_MAX (2 + 1 + 1 + 1 + SCENARIO_FWID_MAX + 1)

/* An answer on its way back to the dongle. */
struct fleet_answer {
	uint32_t node;                  /* index in the scenario */
	uint32_t delay_ms;              /* virtual time until it arrives */
	uint16_t dst;                   /* the dongle's address when it asked */
	uint16_t key_index;
	bool devkey;
	uint8_t first_index;            /* of the Information Get */
	uint8_t entries_limit;
};

struct fleet {
	const struct scenario *scenario;        /* borrowed */
	struct rng rng;
	/* counters */
	uint64_t messages;              /* access messages from the dongle */
	uint64_t answers;
	uint64_t lost;                  /* exchanges lost to a node's loss rate */
	uint64_t out_of_range;          /* TTL too small for the node's hops */
};

void fleet_init(struct fleet *f, const struct scenario *scenario, uint64_t seed);

/* One access message from the dongle; @answer is called for each answer to schedule. */
void fleet_handle(struct fleet *f, const struct core_mesh_tx *tx,
		  void (*answer)(void *ctx, const struct fleet_answer *a), void *ctx);

/* The MESH_RECV of an answer, its payload in @buf (FLEET_REPLY_MAX bytes). False if the node is gone. */
bool fleet_reply(const struct fleet *f, const struct fleet_answer *a, uint8_t *buf, struct msg_mesh_recv *ret);

#endif
