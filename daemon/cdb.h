/* cdb: the Bluetooth Mesh Configuration Database (CDB) JSON format, the file nRF Mesh and other provisioners
 * export (Mesh Configuration Database Profile 1.0 / 1.0.1). Reads a file into struct cdb, checked field by field,
 * and writes one back. No database, no I/O beyond cdb_load_file(): the daemon stores what it reads (network.c),
 * meshfleet-sim builds its fleet from it. Depends on libc and jansson only. What is read, what is refused and why:
 * docs/network.md.
 *
 * Errors name the JSON path of the bad field and the reason:
 *   "$.nodes[3].deviceKey: must be 32 hex digits (got 30)"
 *   "$.nodes[7].unicastAddress: 0x0012 is also the address of $.nodes[2] (elements 0x0010-0x0013)"
 * Key values (net, app, device keys) never appear in an error.
 *
 * Glossary:
 *   element range - a node owns unicast addresses address .. address + elements - 1
 *   phase         - key refresh phase of a network key (0 normal, 1 and 2 in progress: old_key is set)
 *   vendor model  - 32-bit model id (company id << 16 | model); SIG models are 16-bit
 *   virtual label - a 128-bit label UUID used as a group address; its 16-bit virtual address is a hash of the
 *                   label (AES-CMAC) that this module does not compute
 *   partial       - an export of part of a network; only then may a node come without its device key
 */
#ifndef MESHFLEET_CDB_H
#define MESHFLEET_CDB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define CDB_KEY_SIZE 16
#define CDB_UUID_SIZE 16
#define CDB_NAME_MAX 64                 /* bytes of UTF-8 kept; longer names are refused */
#define CDB_FILE_MAX (16u << 20)        /* bytes */
#define CDB_KEY_INDEX_MAX 0x0FFF
#define CDB_NODES_MAX 32767
#define CDB_ELEMENTS_MAX 255
#define CDB_MODELS_MAX 510              /* per element: 255 SIG + 255 vendor models, as composition data allows */
#define CDB_GROUPS_MAX 32768
#define CDB_LIST_MAX 4096               /* any other list: keys, provisioners, ranges, binds, subscriptions... */
#define CDB_ID_UNKNOWN (-1)             /* cid, pid, vid, crpl not given */

/* bits of cdb_node.features, .features_supported and .features_known */
#define CDB_FEATURE_RELAY 0x01
#define CDB_FEATURE_PROXY 0x02
#define CDB_FEATURE_FRIEND 0x04
#define CDB_FEATURE_LOW_POWER 0x08

/* Every array below is malloc()ed and freed by cdb_free() with free(); a struct built by hand (meshfleet-sim) does
 * the same, starting from calloc(1, sizeof(struct cdb)). */

struct cdb_range {
	uint16_t low, high;             /* inclusive */
};

struct cdb_net_key {
	char name[CDB_NAME_MAX + 1];
	uint16_t index;
	uint8_t phase;                  /* 0..2 */
	uint8_t key[CDB_KEY_SIZE];
	bool has_old_key;               /* always when phase is 1 or 2 */
	uint8_t old_key[CDB_KEY_SIZE];
	bool min_security_secure;
};

struct cdb_app_key {
	char name[CDB_NAME_MAX + 1];
	uint16_t index;
	uint16_t bound_net_key;
	uint8_t key[CDB_KEY_SIZE];
	bool has_old_key;
	uint8_t old_key[CDB_KEY_SIZE];
};

struct cdb_provisioner {
	char name[CDB_NAME_MAX + 1];
	uint8_t uuid[CDB_UUID_SIZE];
	size_t n_unicast, n_group, n_scene;
	struct cdb_range *unicast, *group, *scene;      /* owned */
};

struct cdb_model {
	uint32_t id;                    /* SIG: 0x0000..0xFFFF; vendor: cid << 16 | id */
	bool vendor;
	size_t n_bind, n_subscribe, n_subscribe_virtual;
	uint16_t *bind;                 /* app key indexes, owned */
	uint16_t *subscribe;            /* group addresses, owned */
	uint8_t (*subscribe_virtual)[CDB_UUID_SIZE];    /* virtual labels subscribed to, owned */
};

struct cdb_element {
	uint8_t index;                  /* its position in the node: element address = node address + index */
	uint16_t location;
	size_t n_models;
	struct cdb_model *models;       /* owned; a model id may appear twice (the spec's own example does) */
};

struct cdb_node {
	char name[CDB_NAME_MAX + 1];
	uint8_t uuid[CDB_UUID_SIZE];
	uint16_t address;               /* primary element */
	bool has_device_key;            /* false only in a partial export */
	uint8_t device_key[CDB_KEY_SIZE];
	bool secure;                    /* "security": "secure" (provisioned with OOB), else "insecure" */
	int32_t cid, pid, vid, crpl;    /* 0..0xFFFF or CDB_ID_UNKNOWN */
	bool excluded;
	bool config_complete;
	uint8_t features;               /* CDB_FEATURE_* bits of the features that are "1" (enabled) */
	uint8_t features_supported;     /* ... that are "0" or "1" (so not "2", not supported) */
	uint8_t features_known;         /* ... that the export gives at all */
	size_t n_net_keys, n_app_keys;
	uint16_t *net_keys, *app_keys;  /* indexes the node knows, owned */
	size_t n_elements;
	struct cdb_element *elements;   /* owned; may be 0 when the composition is not known yet */
};

struct cdb_group {
	char name[CDB_NAME_MAX + 1];
	uint16_t address;               /* 0xC000..0xFEFF; 0 when is_virtual (the virtual address is not computed) */
	bool is_virtual;
	uint8_t label[CDB_UUID_SIZE];   /* when is_virtual */
	uint16_t parent;                /* 0x0000 = none */
	bool parent_is_virtual;         /* the parent is a virtual label (parent is then 0) */
	uint8_t parent_label[CDB_UUID_SIZE];
};

/* Unicast addresses of removed nodes that must not be given to a new node before the IV index passes
 * iv_index + 2 (networkExclusions). */
struct cdb_exclusion {
	uint32_t iv_index;
	size_t n_addresses;
	uint16_t *addresses;            /* owned */
};

struct cdb {
	uint8_t mesh_uuid[CDB_UUID_SIZE];
	char mesh_name[CDB_NAME_MAX + 1];
	int64_t timestamp_ms;           /* ms since the epoch, from the ISO-8601 timestamp and its offset */
	bool has_iv_index;              /* not in the 1.0 schema; some exports add ivIndex / ivUpdate */
	uint32_t iv_index;
	bool iv_update;
	bool partial;
	size_t n_net_keys, n_app_keys, n_provisioners, n_nodes, n_groups, n_exclusions;
	struct cdb_net_key *net_keys;           /* owned, each array */
	struct cdb_app_key *app_keys;
	struct cdb_provisioner *provisioners;
	struct cdb_node *nodes;                 /* sorted by address */
	struct cdb_group *groups;
	struct cdb_exclusion *exclusions;
	json_t *json;                   /* the whole document as read, for fields this struct does not model; owned */
};

/* Parses and checks a CDB document. Returns 0 and a new *ret (free with cdb_free()), or -EINVAL with the path and
 * reason in @err (nothing allocated), -EFBIG when @len exceeds CDB_FILE_MAX, or -ENOMEM. Checks, beyond the types
 * and formats of every field used: key lengths, index ranges, unique key indexes, app keys bound to a known net
 * key, node key lists and model bindings naming known keys, unicast element ranges that do not overlap, provisioner
 * ranges that do not overlap each other, unique group addresses, unique node and provisioner UUIDs. Unknown extra
 * fields are allowed (the schema allows them); a known field of the wrong JSON type is not. The pre-standard
 * database of the nRF5 SDK for Mesh (interactive_pyaci) is refused with a reason that says so. */
int cdb_parse(const char *text, size_t len, struct cdb **ret, char *err, size_t err_len);
/* The same from a file of at most CDB_FILE_MAX bytes; -errno of the file (-EFBIG when larger) or of cdb_parse(),
 * with "PATH: reason" in @err. */
int cdb_load_file(const char *path, struct cdb **ret, char *err, size_t err_len);
struct cdb *cdb_free(struct cdb *c);

/* The CDB document for @c: the JSON it was read from (c->json; built from scratch when NULL) with every field
 * this struct models written from the struct, so that changes made to the struct are exported and unknown fields
 * survive (matched by node and provisioner UUID, key index, group address, element index, model id). Built from
 * scratch it is a complete 1.0.1 document ($schema, id, version, every required field). The struct is not checked:
 * cdb_parse() of the result does that. Returns a new reference, or NULL when out of memory. */
json_t *cdb_to_json(const struct cdb *c);

/* Lookups, NULL when absent. */
const struct cdb_node *cdb_node_by_address(const struct cdb *c, uint16_t address);     /* any element's address */
const struct cdb_net_key *cdb_net_key(const struct cdb *c, uint16_t index);
const struct cdb_app_key *cdb_app_key(const struct cdb *c, uint16_t index);

/* Number of elements the node has, at least 1 (a node without its composition counts as one element). */
unsigned cdb_node_elements(const struct cdb_node *n);

#endif
