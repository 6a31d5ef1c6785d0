/* network: the one Bluetooth Mesh network meshfleet works in, as imported from a Configuration Database (CDB)
 * export, and meshfleet's own identity in it.
 *
 * The network row keeps the CDB document as imported (with meshfleet's provisioner and gateway node added to it),
 * which holds the keys; the nodes table holds each node, with what discovery learned on top. An export writes the
 * stored document back with what was learned, so that nRF Mesh or another provisioner can import it.
 *
 * Identity: at the first import meshfleet adds itself as a provisioner with a unicast range and a group range
 * taken from addresses no other provisioner owns, and a node entry for the dongle (the first address of its
 * range), so no other provisioner hands that address out. Re-imports keep them.
 *
 * Sequence numbers (docs/protocol.md §7.6 rule 3): seq_mark is the highest sequence number the daemon has seen the
 * dongle use, from the MESH_CONFIG answer and STATS; seq_dongle names the dongle it came from. A dongle with
 * another name, or an unknown one, is configured from seq_mark + NETWORK_SEQ_MARGIN.
 */
#ifndef MESHFLEET_NETWORK_H
#define MESHFLEET_NETWORK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cdb.h"
#include "db.h"

#define NETWORK_SEQ_MARGIN 65536u
#define NETWORK_DONGLE_ID_MAX 127
#define NETWORK_UNICAST_RANGE 16        /* addresses meshfleet reserves for itself (the dongle, later dongles) */
#define NETWORK_GROUP_RANGE 64          /* group addresses meshfleet allocates to DFU waves */

struct network {
	uint8_t mesh_uuid[CDB_UUID_SIZE];
	char name[CDB_NAME_MAX + 1];
	int64_t exported_at;            /* the CDB's timestamp, ms since the epoch */
	uint32_t iv_index;
	bool iv_update;
	uint16_t net_key_index;         /* the keys the dongle uses */
	uint16_t app_key_index;
	uint8_t net_key[CDB_KEY_SIZE];  /* the key to transmit with in the key's refresh phase */
	uint8_t app_key[CDB_KEY_SIZE];
	uint8_t provisioner_uuid[CDB_UUID_SIZE];
	uint16_t address;               /* the dongle's unicast address */
	struct cdb_range unicast, group;        /* meshfleet's provisioner ranges */
	uint32_t seq_mark;
	char seq_dongle[NETWORK_DONGLE_ID_MAX + 1];
	int64_t imported_at, updated_at;
};

struct network_import_result {
	bool created;                   /* there was no network before */
	bool replaced;                  /* another network was replaced */
	bool unchanged;                 /* the same export was imported again */
	size_t nodes_added, nodes_updated, nodes_removed;
	size_t provisioners_skipped;    /* node entries of provisioners (phones), not fleet nodes */
};

/* Reads the stored network. Returns 0, -ENOENT (none imported yet), -EBADMSG (the stored document no longer
 * parses: logged) or a database error. */
int network_load(struct db *db, struct network *ret);

/* Imports a CDB document, all or nothing. Returns 0 with *res filled, or:
 *   -EINVAL  the document is not a valid CDB (@err: "$.path: reason")
 *   -EEXIST  a different network (another meshUUID) is stored and @replace is false
 *   -ESTALE  the same network, from an export older than the stored one, and @replace is false
 *   -ENOSPC  no free unicast or group range for meshfleet's provisioner
 *   a database error. @err always says what happened and what to do. */
int network_import(struct db *db, const char *text, size_t len, bool replace, struct network_import_result *res,
		   char *err, size_t err_len);

/* The CDB document to export: the stored one with meshfleet's provisioner, the nodes as the database knows them
 * now (composition ids, features, element count learned by discovery) and a fresh timestamp. Returns a new
 * reference, or NULL with *error (-ENOENT: no network; -EBADMSG, -ENOMEM, a database error). */
json_t *network_export(struct db *db, int *error);

/* GET /api/v1/network: everything but the keys. Returns a new reference or NULL (out of memory). */
json_t *network_to_json(const struct network *n, uint64_t node_count);

/* Records that the dongle @dongle_id will use @seq next (never lowers the stored mark of the same dongle).
 * Returns 0 or a database error. */
int network_seq_seen(struct db *db, uint32_t seq, const char *dongle_id);

/* The sequence number to configure the dongle @dongle_id with (the mark, plus the margin when the mark came from
 * another dongle or none), at most MSG_MESH_SEQ_MAX. */
uint32_t network_seq_start(const struct network *n, const char *dongle_id);

/* The device key of the node at @address, for a message sent with it. Returns 0, -ENOENT (no such node, or no
 * key known) or a database error. */
int network_device_key(struct db *db, uint16_t address, uint8_t key[CDB_KEY_SIZE]);

#endif
