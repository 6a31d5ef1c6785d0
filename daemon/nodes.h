/* nodes: the mesh nodes the daemon knows, as records in the database.
 *
 * A node is identified by its primary element's unicast address. Its firmware ID is the Mesh DFU FWID: a company
 * id (2 bytes, little endian) followed by up to 106 bytes of version information. Tags group nodes for filters
 * and campaigns. Only the loop thread calls these functions.
 */
#ifndef MESHFLEET_NODES_H
#define MESHFLEET_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "mesh_access.h"

#define NODE_NAME_MAX 64        /* bytes of UTF-8 */
#define NODE_FWID_MIN 2
#define NODE_FWID_MAX 108
#define NODE_TAGS_MAX 16
#define NODE_TAG_MAX 32
#define NODE_ID_UNKNOWN (-1)    /* for company, product and version ids not known yet */
#define NODES_LIST_MAX 1000

struct node {
	uint16_t address;
	bool has_uuid;
	uint8_t uuid[16];
	char name[NODE_NAME_MAX + 1];
	int32_t company_id;     /* 0..65535 or NODE_ID_UNKNOWN */
	int32_t product_id;
	int32_t version_id;
	size_t firmware_id_len; /* 0 when unknown */
	uint8_t firmware_id[NODE_FWID_MAX];
	size_t n_tags;
	char tags[NODE_TAGS_MAX][NODE_TAG_MAX + 1];     /* sorted, distinct */
	/* learned from the network import and from discovery; read-only through the API */
	uint8_t elements;       /* 0 = unknown */
	bool provisioned;       /* the device key is known: the daemon can configure the node */
	int8_t dfu_capable;     /* Firmware Update Server and BLOB Transfer Server present: 1, 0, -1 unknown */
	uint8_t hops;           /* hops from the dongle, inferred by the last refresh (discovery.c); 0 = unknown */
	int8_t reachable;       /* answered the last refresh: 1, 0, -1 never asked */
	int64_t last_seen;      /* ms since the epoch, 0 = never */
	int64_t created_at;
	int64_t updated_at;
};

struct node_filter {
	size_t firmware_id_len; /* 0 = any */
	uint8_t firmware_id[NODE_FWID_MAX];
	int32_t company_id;     /* NODE_ID_UNKNOWN = any */
	int32_t product_id;
	const char *tag;        /* borrowed; NULL = any */
};

void node_init(struct node *node, uint16_t address);
void node_filter_init(struct node_filter *filter);

/* A tag is 1..NODE_TAG_MAX characters from [A-Za-z0-9_.:-]. */
bool node_tag_valid(const char *tag);
/* Adds @tag to the node's sorted tag set (a repeat is a no-op). Returns 0, -EINVAL or -E2BIG. */
int node_tag_add(struct node *node, const char *tag);

/* Inserts @n nodes in one transaction, all or none. On -EEXIST (address or UUID already known, or repeated in
 * the batch) *ret_conflict is the index of the first node that collides. Sets created_at and updated_at. */
int nodes_insert(struct db *db, struct node *nodes, size_t n, size_t *ret_conflict);

/* Returns 0, -ENOENT or a database error. */
int nodes_get(struct db *db, uint16_t address, struct node *ret_node);

/* Checks a node's Composition Data page 0 (as received, after the page byte) and finds the element that holds both
 * the Firmware Update Server and the BLOB Transfer Server. Returns 0 with *ret_element, -ENODEV (valid, but the node
 * is not DFU capable) or -EBADMSG (malformed). *ret_comp is set unless -EBADMSG. */
int node_composition_dfu_element(const uint8_t *data, size_t len, struct ma_comp0 *ret_comp, uint8_t *ret_element);

/* Records page 0 and what it says (company, product and version ids, CRPL, features, elements, DFU capable); the
 * node answered, so it is reachable and seen now. Returns 0 or a database error. */
int nodes_set_composition(struct db *db, uint16_t address, const uint8_t *data, size_t len,
			  const struct ma_comp0 *comp, bool dfu_capable);

/* The node's recorded Composition Data page 0 (after the page byte, as nodes_set_composition() stored it) into
 * @out (@cap bytes; MA_PAYLOAD_MAX is always enough). Returns 0 with *ret_len, -ENOENT (no such node), -ENODATA
 * (never read: refresh the node), -EOVERFLOW (larger than @cap) or a database error. */
int nodes_get_composition(struct db *db, uint16_t address, uint8_t *out, size_t cap, size_t *ret_len);

/* One firmware image of a node, as its Firmware Update Information Status listed it (discovery.h). */
struct node_image {
	uint8_t index;
	size_t firmware_id_len;
	uint8_t firmware_id[NODE_FWID_MAX];
	char update_uri[256];           /* "" when none */
};
#define NODE_IMAGES_MAX 16

/* The images known for @address, in index order: up to @max into @out, their number in *ret_n. Returns 0 or a
 * database error. */
int nodes_images(struct db *db, uint16_t address, struct node_image *out, size_t max, size_t *ret_n);
/* Writes every field of @node but created_at (tags are replaced) and sets updated_at.
 * Returns 0, -ENOENT, -EEXIST (UUID taken by another node) or a database error. */
int nodes_update(struct db *db, struct node *node);
int nodes_delete(struct db *db, uint16_t address);
int nodes_count(struct db *db, uint64_t *ret_count);

/* Calls @fn for up to @limit nodes with an address above @after that match @filter, in address order.
 * *ret_more tells whether more matching nodes follow. A non-zero return from @fn stops the walk and is returned. */
typedef int (*nodes_list_fn)(const struct node *node, void *userdata);
int nodes_list(struct db *db, const struct node_filter *filter, uint16_t after, unsigned limit,
	       nodes_list_fn fn, void *userdata, bool *ret_more);

#endif
