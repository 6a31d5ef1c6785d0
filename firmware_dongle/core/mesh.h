/* mesh: the dongle's identity in the mesh and the pass-through of access messages (docs/protocol.md,
 * "MESH_CONFIG", "MESH_SEND", "MESH_RECV"), with the rule that a sequence number is never used twice.
 *
 * Glossary: *next* = the sequence number the next network PDU gets; *reserved* (R) = the high-water mark in the
 * CORE_RECORD_MESH record: no number >= R is used before a record with a higher R is durable. R moves in steps of
 * MESH_SEQ_BLOCK, so a reset skips at most that many numbers and never repeats one.
 */
#ifndef MESHFLEET_CORE_MESH_H
#define MESHFLEET_CORE_MESH_H

#include <stdbool.h>
#include <stdint.h>

#include "logq.h"
#include "messages.h"
#include "platform.h"

#define MESH_SEQ_BLOCK 128      /* B in docs/protocol.md: numbers reserved by one record write */

struct mesh {
	const struct core_platform *platform;   /* borrowed */
	struct logq *log;                       /* borrowed */
	bool configured;                        /* MESH_CONFIG accepted since boot */
	bool have_record;                       /* @address, @iv_index and @reserved come from a record */
	uint16_t address;
	uint32_t iv_index;
	uint16_t net_key_index;
	uint16_t app_key_index;
	uint32_t next;
	uint32_t reserved;
	/* counters for STATS */
	uint32_t tx;
	uint32_t tx_failed;
	uint32_t rx;
	uint32_t rx_ignored;                    /* received before MESH_CONFIG */
	bool last_busy;                         /* the last mesh_send() was refused with CORE_MESH_SEND_BUSY */
};

/* Reads the record: after a reset the sequence numbers continue at the stored high-water mark. */
void mesh_init(struct mesh *m, const struct core_platform *platform, struct logq *log);

/* True if the platform has a mesh stack (the MESH feature). */
bool mesh_available(const struct mesh *m);

/* MESH_CONFIG. On success *ret_seq is the sequence number the dongle will use next. */
enum msg_status mesh_configure(struct mesh *m, const struct msg_mesh_config *cfg, uint32_t *ret_seq);

/* MESH_SEND: one access message to the platform's stack. MSG_STATUS_BUSY when the stack refused it, or said
 * CORE_MESH_SEND_BUSY (then its sequence numbers are given back: nothing was sent with them). */
enum msg_status mesh_send(struct mesh *m, const struct msg_mesh_send *s);

/* Takes @count consecutive sequence numbers, saving a new high-water mark first when they reach it. */
enum msg_status mesh_seq_alloc(struct mesh *m, uint32_t count, uint32_t *ret_first);

/* Counts a received access message; false if it must not be forwarded (no MESH_CONFIG yet). */
bool mesh_accept(struct mesh *m, const struct msg_mesh_recv *r);

/* Network PDUs of one transmission of an access payload of @len bytes with a 4-byte TransMIC: 1 up to 11 bytes
 * (unsegmented), else one per 12-byte segment. */
uint32_t mesh_pdu_count(uint16_t len);

#endif
