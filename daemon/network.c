/* network: see network.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "log.h"
#include "mesh_access.h"
#include "messages.h"
#include "network.h"
#include "nodes.h"
#include "util.h"

#define PROVISIONER_NAME "meshfleet"
#define GATEWAY_NAME "meshfleet gateway"
#define UNICAST_MIN 0x0001
#define UNICAST_MAX 0x7FFF
#define GROUP_MIN 0xC000
#define GROUP_MAX 0xFEFF        /* 0xFF00.. are the fixed group addresses */
#define TIMESTAMP_LEN 20        /* "2026-11-23T20:00:00Z" */

static int random_bytes(uint8_t *out, size_t len)
{
	while (len > 0) {
		ssize_t n = getrandom(out, len, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		out += n;
		len -= (size_t)n;
	}
	return 0;
}

/* "70CF7C97-32A3-45B6-9149-4810D2E9CBF4" as the CDB writes UUIDs */
static void uuid_format(const uint8_t uuid[CDB_UUID_SIZE], char out[37])
{
	char hex[33];
	size_t o = 0;

	hex_encode(uuid, CDB_UUID_SIZE, hex);
	for (size_t i = 0; i < 32; i++) {
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[o++] = '-';
		out[o++] = (char)(hex[i] >= 'a' ? hex[i] - 'a' + 'A' : hex[i]);
	}
	out[o] = '\0';
}

static void key_format(const uint8_t key[CDB_KEY_SIZE], char out[33])
{
	hex_encode(key, CDB_KEY_SIZE, out);
	for (size_t i = 0; i < 32; i++)
		if (out[i] >= 'a')
			out[i] = (char)(out[i] - 'a' + 'A');
}

static json_t *json_hex16(uint16_t v)
{
	char text[5];

	snprintf(text, sizeof(text), "%04X", v);
	return json_string(text);
}

/* --- choosing the keys and meshfleet's addresses --- */

/* The primary network key (index 0) when the network has it, else the lowest index; and the lowest application
 * key bound to it. */
static int choose_keys(const struct cdb *c, const struct cdb_net_key **ret_net, const struct cdb_app_key **ret_app,
		       char *err, size_t err_len)
{
	const struct cdb_net_key *net = NULL;
	const struct cdb_app_key *app = NULL;

	for (size_t i = 0; i < c->n_net_keys; i++)
		if (!net || c->net_keys[i].index < net->index)
			net = &c->net_keys[i];
	if (!net) {
		snprintf(err, err_len, "$.netKeys: the network has no network key");
		return -EINVAL;
	}
	for (size_t i = 0; i < c->n_app_keys; i++)
		if (c->app_keys[i].bound_net_key == net->index && (!app || c->app_keys[i].index < app->index))
			app = &c->app_keys[i];
	if (!app) {
		snprintf(err, err_len, "$.appKeys: no application key is bound to network key %u: the firmware "
			 "update models need one (add an application key in the provisioning app and export again)",
			 net->index);
		return -EINVAL;
	}
	*ret_net = net;
	*ret_app = app;
	return 0;
}

/* Key Refresh: in phase 1 nodes still transmit with the old key (Mesh Profile 3.10.4). */
static const uint8_t *net_key_for_tx(const struct cdb_net_key *k)
{
	return k->phase == 1 && k->has_old_key ? k->old_key : k->key;
}

static bool ranges_overlap(uint16_t low, uint16_t high, const struct cdb_range *r)
{
	return low <= r->high && r->low <= high;
}

static bool unicast_block_free(const struct cdb *c, const uint8_t *own_uuid, uint16_t low, uint16_t high)
{
	for (size_t i = 0; i < c->n_provisioners; i++) {
		const struct cdb_provisioner *p = &c->provisioners[i];

		if (memcmp(p->uuid, own_uuid, CDB_UUID_SIZE) == 0)
			continue;
		for (size_t j = 0; j < p->n_unicast; j++)
			if (ranges_overlap(low, high, &p->unicast[j]))
				return false;
	}
	for (size_t i = 0; i < c->n_nodes; i++) {
		const struct cdb_node *n = &c->nodes[i];
		struct cdb_range r = { n->address, (uint16_t)(n->address + cdb_node_elements(n) - 1) };

		if (memcmp(n->uuid, own_uuid, CDB_UUID_SIZE) != 0 && ranges_overlap(low, high, &r))
			return false;
	}
	/* Addresses of removed nodes stay excluded until the IV index moves on (Mesh CDB networkExclusions). */
	for (size_t i = 0; i < c->n_exclusions; i++)
		for (size_t j = 0; j < c->exclusions[i].n_addresses; j++)
			if (c->exclusions[i].addresses[j] >= low && c->exclusions[i].addresses[j] <= high)
				return false;
	return true;
}

static bool group_block_free(const struct cdb *c, const uint8_t *own_uuid, uint16_t low, uint16_t high)
{
	for (size_t i = 0; i < c->n_provisioners; i++) {
		const struct cdb_provisioner *p = &c->provisioners[i];

		if (memcmp(p->uuid, own_uuid, CDB_UUID_SIZE) == 0)
			continue;
		for (size_t j = 0; j < p->n_group; j++)
			if (ranges_overlap(low, high, &p->group[j]))
				return false;
	}
	for (size_t i = 0; i < c->n_groups; i++)
		if (!c->groups[i].is_virtual && c->groups[i].address >= low && c->groups[i].address <= high)
			return false;
	return true;
}

/* The highest free aligned block of @size addresses in [min, max], searching down: provisioning apps allocate
 * from the bottom, so the top is where a block stays free longest. */
static int find_block(const struct cdb *c, const uint8_t *own_uuid, bool group, uint16_t min, uint16_t max,
		      uint16_t size, struct cdb_range *ret)
{
	for (uint32_t high = max; high >= (uint32_t)min + size - 1; high -= size) {
		uint16_t low = (uint16_t)(high - size + 1);

		if (group ? group_block_free(c, own_uuid, low, (uint16_t)high) :
			    unicast_block_free(c, own_uuid, low, (uint16_t)high)) {
			*ret = (struct cdb_range){ low, (uint16_t)high };
			return 0;
		}
	}
	return -ENOSPC;
}

struct identity {
	uint8_t uuid[CDB_UUID_SIZE];
	struct cdb_range unicast, group;
	uint16_t address;
	bool in_document;               /* the export already lists meshfleet's provisioner and gateway node */
};

/* meshfleet's provisioner in @c: found by its UUID (an export that went through another app and back), else
 * allocated, keeping @prev's ranges when they are still free. */
static int choose_identity(const struct cdb *c, const struct network *prev, struct identity *id, char *err,
			   size_t err_len)
{
	const struct cdb_node *gateway;
	int r;

	if (prev)
		memcpy(id->uuid, prev->provisioner_uuid, CDB_UUID_SIZE);
	else if ((r = random_bytes(id->uuid, CDB_UUID_SIZE)) < 0) {
		snprintf(err, err_len, "cannot draw a random UUID: %s", strerror(-r));
		return r;
	} else {
		id->uuid[6] = (uint8_t)((id->uuid[6] & 0x0F) | 0x40);  /* version 4 */
		id->uuid[8] = (uint8_t)((id->uuid[8] & 0x3F) | 0x80);  /* RFC 4122 variant */
	}
	id->in_document = false;
	for (size_t i = 0; i < c->n_provisioners; i++) {
		const struct cdb_provisioner *p = &c->provisioners[i];

		if (memcmp(p->uuid, id->uuid, CDB_UUID_SIZE) != 0 || p->n_unicast == 0 || p->n_group == 0)
			continue;
		gateway = NULL;
		for (size_t j = 0; j < c->n_nodes; j++)
			if (memcmp(c->nodes[j].uuid, id->uuid, CDB_UUID_SIZE) == 0)
				gateway = &c->nodes[j];
		if (!gateway)
			break;
		id->unicast = p->unicast[0];
		id->group = p->group[0];
		id->address = gateway->address;
		id->in_document = true;
		return 0;
	}
	if (prev && unicast_block_free(c, id->uuid, prev->unicast.low, prev->unicast.high) &&
	    group_block_free(c, id->uuid, prev->group.low, prev->group.high)) {
		id->unicast = prev->unicast;
		id->group = prev->group;
	} else if (find_block(c, id->uuid, false, UNICAST_MIN, UNICAST_MAX, NETWORK_UNICAST_RANGE, &id->unicast) < 0) {
		snprintf(err, err_len, "no %u free unicast addresses for meshfleet's provisioner: every block is "
			 "allocated to another provisioner or used by a node; free a range in the provisioning app",
			 NETWORK_UNICAST_RANGE);
		return -ENOSPC;
	} else if (find_block(c, id->uuid, true, GROUP_MIN, GROUP_MAX, NETWORK_GROUP_RANGE, &id->group) < 0) {
		snprintf(err, err_len, "no %u free group addresses for meshfleet's provisioner: free a group range "
			 "in the provisioning app", NETWORK_GROUP_RANGE);
		return -ENOSPC;
	}
	id->address = id->unicast.low;
	return 0;
}

/* Adds meshfleet's provisioner and its gateway node (the dongle) to the document. */
static int add_identity(json_t *doc, const struct identity *id, const struct cdb_net_key *net,
			const struct cdb_app_key *app)
{
	json_t *provisioners = json_object_get(doc, "provisioners");
	json_t *nodes = json_object_get(doc, "nodes");
	json_t *p, *n, *element;
	uint8_t device_key[CDB_KEY_SIZE];
	char uuid[37], key[33];
	int r;

	r = random_bytes(device_key, sizeof(device_key));
	if (r < 0)
		return r;
	if (!json_is_array(provisioners)) {
		provisioners = json_array();
		json_object_set_new(doc, "provisioners", provisioners);
	}
	if (!json_is_array(nodes)) {
		nodes = json_array();
		json_object_set_new(doc, "nodes", nodes);
	}
	uuid_format(id->uuid, uuid);
	key_format(device_key, key);
	explicit_bzero(device_key, sizeof(device_key));
	p = json_pack("{s:s, s:s, s:[{s:o, s:o}], s:[{s:o, s:o}], s:[]}",
		      "provisionerName", PROVISIONER_NAME, "UUID", uuid,
		      "allocatedUnicastRange", "lowAddress", json_hex16(id->unicast.low),
		      "highAddress", json_hex16(id->unicast.high),
		      "allocatedGroupRange", "lowAddress", json_hex16(id->group.low),
		      "highAddress", json_hex16(id->group.high),
		      "allocatedSceneRange");
	element = json_pack("{s:s, s:i, s:s, s:[]}", "name", "Primary Element", "index", 0, "location", "0000",
			    "models");
	n = json_pack("{s:s, s:s, s:s, s:o, s:s, s:[{s:i, s:b}], s:[{s:i, s:b}], s:b, s:b, s:[o], s:{s:i, s:i, "
		      "s:i, s:i}}",
		      "UUID", uuid, "name", GATEWAY_NAME, "deviceKey", key, "unicastAddress", json_hex16(id->address),
		      "security", "secure", "netKeys", "index", net->index, "updated", 0,
		      "appKeys", "index", app->index, "updated", 0, "configComplete", 1, "excluded", 0,
		      "elements", element, "features", "relay", 2, "proxy", 2, "friend", 2, "lowPower", 2);
	explicit_bzero(key, sizeof(key));
	if (!p || !n || json_array_append_new(provisioners, p) < 0 || json_array_append_new(nodes, n) < 0)
		return -ENOMEM;
	return 0;
}

/* The string member @key of @object, or "" when it is absent or not a string. */
static const char *member_text(const json_t *object, const char *key)
{
	const char *text = json_string_value(json_object_get(object, key));

	return text ? text : "";
}

/* The same entries from the stored document, when it has them with the same addresses: an export that did not go
 * through meshfleet lacks them, and drawing a new device key for the gateway would make every import a change. */
static int copy_identity(json_t *doc, const char *stored_text, const struct identity *id)
{
	json_t *stored = json_loads(stored_text, 0, NULL);
	json_t *p = NULL, *n = NULL, *v;
	char uuid[37];
	size_t i;
	int r = -ENOENT;

	uuid_format(id->uuid, uuid);
	json_array_foreach(json_object_get(stored, "provisioners"), i, v)
		if (strcasecmp(member_text(v, "UUID"), uuid) == 0)
			p = v;
	json_array_foreach(json_object_get(stored, "nodes"), i, v)
		if (strcasecmp(member_text(v, "UUID"), uuid) == 0)
			n = v;
	if (p && n && strtoul(member_text(n, "unicastAddress"), NULL, 16) ==
		      id->address &&
	    json_is_array(json_object_get(doc, "provisioners")) && json_is_array(json_object_get(doc, "nodes"))) {
		json_t *ranges = json_pack("[{s:o, s:o}]", "lowAddress", json_hex16(id->unicast.low),
					   "highAddress", json_hex16(id->unicast.high));
		json_t *groups = json_pack("[{s:o, s:o}]", "lowAddress", json_hex16(id->group.low),
					   "highAddress", json_hex16(id->group.high));

		r = -ENOMEM;
		if (ranges && groups && json_equal(json_object_get(p, "allocatedUnicastRange"), ranges) &&
		    json_equal(json_object_get(p, "allocatedGroupRange"), groups) &&
		    json_array_append(json_object_get(doc, "provisioners"), p) == 0 &&
		    json_array_append(json_object_get(doc, "nodes"), n) == 0)
			r = 0;
		else if (ranges && groups)
			r = -ENOENT;
		json_decref(ranges);
		json_decref(groups);
	}
	json_decref(stored);
	return r;
}

/* --- storing --- */

static bool is_provisioner(const struct cdb *c, const struct cdb_node *n)
{
	for (size_t i = 0; i < c->n_provisioners; i++)
		if (memcmp(c->provisioners[i].uuid, n->uuid, CDB_UUID_SIZE) == 0)
			return true;
	return false;
}

/* 1 when the node's composition, as the CDB lists it, has both DFU server models on one element; 0 when it has
 * not; -1 when the CDB does not list the node's elements. */
static int cdb_dfu_capable(const struct cdb_node *n)
{
	if (n->n_elements == 0)
		return -1;
	for (size_t e = 0; e < n->n_elements; e++) {
		bool fu = false, blob = false;

		for (size_t m = 0; m < n->elements[e].n_models; m++) {
			const struct cdb_model *model = &n->elements[e].models[m];

			fu |= !model->vendor && model->id == MA_MODEL_DFU_SRV;
			blob |= !model->vendor && model->id == MA_MODEL_BLOB_SRV;
		}
		if (fu && blob)
			return 1;
	}
	return 0;
}

static void bind_id(sqlite3_stmt *stmt, int index, int32_t v)
{
	if (v == CDB_ID_UNKNOWN)
		sqlite3_bind_null(stmt, index);
	else
		sqlite3_bind_int(stmt, index, v);
}

/* One node of the CDB into the nodes table. A row with the same UUID at another address is the same device
 * provisioned again: it goes. A row at this address keeps its tags and learned firmware (unless it was another
 * device) and its name (unless it had none). */
static int store_node(struct db *db, const struct cdb_node *n, int64_t now, struct network_import_result *res)
{
	sqlite3_stmt *stmt;
	int dfu = cdb_dfu_capable(n);
	int r, rc;

	stmt = db_stmt(db, "DELETE FROM nodes WHERE uuid = ?1 AND address != ?2");
	if (!stmt)
		return -EIO;
	sqlite3_bind_blob(stmt, 1, n->uuid, CDB_UUID_SIZE, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 2, n->address);
	r = db_result(db, sqlite3_step(stmt), "delete a re-provisioned node");
	if (r < 0)
		return r;
	res->nodes_removed += (size_t)sqlite3_changes(db_handle(db));

	stmt = db_stmt(db,
		"INSERT INTO nodes(address, uuid, name, company_id, product_id, version_id, elements, device_key, crpl, "
		"  dfu_capable, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) "
		"ON CONFLICT(address) DO UPDATE SET "
		"  firmware_id = CASE WHEN uuid IS ?2 THEN firmware_id END, "
		"  reachable = CASE WHEN uuid IS ?2 THEN reachable END, "
		"  composition = CASE WHEN uuid IS ?2 THEN composition END, "
		"  uuid = ?2, name = CASE WHEN name = '' THEN ?3 ELSE name END, "
		"  company_id = coalesce(?4, company_id), product_id = coalesce(?5, product_id), "
		"  version_id = coalesce(?6, version_id), elements = coalesce(?7, elements), "
		"  device_key = coalesce(?8, device_key), "
		"  crpl = coalesce(?9, crpl), dfu_capable = coalesce(?10, dfu_capable), updated_at = ?11 "
		"RETURNING created_at = updated_at");
	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, n->address);
	sqlite3_bind_blob(stmt, 2, n->uuid, CDB_UUID_SIZE, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 3, n->name, -1, SQLITE_STATIC);
	bind_id(stmt, 4, n->cid);
	bind_id(stmt, 5, n->pid);
	bind_id(stmt, 6, n->vid);
	if (n->n_elements > 0)
		sqlite3_bind_int(stmt, 7, (int)cdb_node_elements(n));
	if (n->has_device_key)  /* a partial export may leave it out */
		sqlite3_bind_blob(stmt, 8, n->device_key, CDB_KEY_SIZE, SQLITE_STATIC);
	bind_id(stmt, 9, n->crpl);
	if (dfu >= 0)
		sqlite3_bind_int(stmt, 10, dfu);
	sqlite3_bind_int64(stmt, 11, now);
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW)
		return db_result(db, rc, "store node");
	if (sqlite3_column_int(stmt, 0))
		res->nodes_added++;
	else
		res->nodes_updated++;
	sqlite3_reset(stmt);
	return 0;
}

/* Nodes imported before (they have a device key) that the network no longer lists were removed from it. */
static int remove_gone_nodes(struct db *db, const struct cdb *c, const uint8_t *own_uuid,
			     struct network_import_result *res)
{
	sqlite3_stmt *list = db_stmt(db, "SELECT address FROM nodes WHERE device_key IS NOT NULL ORDER BY address");
	uint16_t gone[256];
	size_t n_gone;
	int rc = SQLITE_DONE, r;

	if (!list)
		return -EIO;
	do {    /* in batches, since rows cannot be deleted under the cursor's feet */
		n_gone = 0;
		while (n_gone < ARRAY_SIZE(gone) && (rc = sqlite3_step(list)) == SQLITE_ROW) {
			uint16_t address = (uint16_t)sqlite3_column_int(list, 0);
			const struct cdb_node *n = cdb_node_by_address(c, address);

			if (!n || n->address != address || is_provisioner(c, n) ||
			    memcmp(n->uuid, own_uuid, CDB_UUID_SIZE) == 0)
				gone[n_gone++] = address;
		}
		if (n_gone < ARRAY_SIZE(gone) && rc != SQLITE_DONE)
			return db_result(db, rc, "list imported nodes");
		sqlite3_reset(list);
		for (size_t i = 0; i < n_gone; i++) {
			r = nodes_delete(db, gone[i]);
			if (r < 0)
				return r;
			res->nodes_removed++;
		}
	} while (n_gone == ARRAY_SIZE(gone));
	return 0;
}

static int store_network(struct db *db, const struct cdb *c, const char *text, const struct identity *id,
			 const struct cdb_net_key *net, const struct cdb_app_key *app, const struct network *prev,
			 int64_t now)
{
	sqlite3_stmt *stmt = db_stmt(db,
		"INSERT INTO network(id, mesh_uuid, name, exported_at, cdb, iv_index, iv_update, net_key_index, "
		"  app_key_index, provisioner_uuid, address, unicast_low, unicast_high, group_low, group_high, "
		"  seq_mark, seq_dongle, imported_at, updated_at) "
		"VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?17) "
		"ON CONFLICT(id) DO UPDATE SET mesh_uuid = ?1, name = ?2, exported_at = ?3, cdb = ?4, iv_index = ?5, "
		"  iv_update = ?6, net_key_index = ?7, app_key_index = ?8, provisioner_uuid = ?9, address = ?10, "
		"  unicast_low = ?11, unicast_high = ?12, group_low = ?13, group_high = ?14, seq_mark = ?15, "
		"  seq_dongle = ?16, imported_at = ?17, updated_at = ?17");
	uint32_t iv_index = c->has_iv_index ? c->iv_index : prev ? prev->iv_index : 0;
	bool same = prev && memcmp(prev->mesh_uuid, c->mesh_uuid, CDB_UUID_SIZE) == 0;

	if (!stmt)
		return -EIO;
	/* The IV index never goes back: an export that does not carry it, or an older one, keeps ours. */
	if (same && prev->iv_index > iv_index)
		iv_index = prev->iv_index;
	sqlite3_bind_blob(stmt, 1, c->mesh_uuid, CDB_UUID_SIZE, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 2, c->mesh_name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, c->timestamp_ms);
	sqlite3_bind_text(stmt, 4, text, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, iv_index);
	sqlite3_bind_int(stmt, 6, c->has_iv_index ? c->iv_update : same && prev->iv_update);
	sqlite3_bind_int(stmt, 7, net->index);
	sqlite3_bind_int(stmt, 8, app->index);
	sqlite3_bind_blob(stmt, 9, id->uuid, CDB_UUID_SIZE, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 10, id->address);
	sqlite3_bind_int(stmt, 11, id->unicast.low);
	sqlite3_bind_int(stmt, 12, id->unicast.high);
	sqlite3_bind_int(stmt, 13, id->group.low);
	sqlite3_bind_int(stmt, 14, id->group.high);
	/* A new address starts a new sequence (docs/protocol.md §7.6 rule 2); the same one keeps its mark. */
	sqlite3_bind_int64(stmt, 15, same && prev->address == id->address ? prev->seq_mark : 0);
	sqlite3_bind_text(stmt, 16, same && prev->address == id->address ? prev->seq_dongle : "", -1,
			  SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 17, now);
	return db_result(db, sqlite3_step(stmt), "store network");
}

static char *stored_document(struct db *db)
{
	sqlite3_stmt *stmt = db_stmt(db, "SELECT cdb FROM network WHERE id = 1");
	char *text = NULL;

	if (stmt && sqlite3_step(stmt) == SQLITE_ROW)
		text = strdup((const char *)sqlite3_column_text(stmt, 0));
	if (stmt)
		sqlite3_reset(stmt);
	return text;
}

int network_import(struct db *db, const char *text, size_t len, bool replace, struct network_import_result *res,
		   char *err, size_t err_len)
{
	struct network prev_storage, *prev = &prev_storage;
	const struct cdb_net_key *net;
	const struct cdb_app_key *app;
	struct cdb *c = NULL, *final = NULL;
	struct identity id;
	char *doc_text = NULL, *old_text = NULL;
	int64_t now = time_now_ms();
	bool same;
	int r;

	*res = (struct network_import_result){ 0 };
	r = cdb_parse(text, len, &c, err, err_len);
	if (r < 0)
		return r;
	r = network_load(db, prev);
	if (r == -ENOENT || r == -EBADMSG)
		prev = NULL;
	else if (r < 0) {
		snprintf(err, err_len, "cannot read the stored network: %s", strerror(-r));
		goto out;
	}
	same = prev && memcmp(prev->mesh_uuid, c->mesh_uuid, CDB_UUID_SIZE) == 0;
	if (prev && !same && !replace) {
		char uuid[37];

		uuid_format(prev->mesh_uuid, uuid);
		snprintf(err, err_len, "this file is another network ('%s') than the one stored ('%s', meshUUID %s): "
			 "import it with replace to drop the stored network and its nodes", c->mesh_name, prev->name,
			 uuid);
		r = -EEXIST;
		goto out;
	}
	if (same && c->timestamp_ms < prev->exported_at && !replace) {
		char then[TIMESTAMP_LEN + 1], stored[TIMESTAMP_LEN + 1];

		time_format_rfc3339(c->timestamp_ms, then);
		time_format_rfc3339(prev->exported_at, stored);
		snprintf(err, err_len, "this export (%s) is older than the one stored (%s): export the network again "
			 "from the provisioning app, or import with replace to go back to it", then, stored);
		r = -ESTALE;
		goto out;
	}
	r = choose_keys(c, &net, &app, err, err_len);
	if (r == 0)
		r = choose_identity(c, same ? prev : NULL, &id, err, err_len);
	if (r < 0)
		goto out;
	old_text = same ? stored_document(db) : NULL;
	if (!id.in_document && (!old_text || copy_identity(c->json, old_text, &id) != 0)) {
		r = add_identity(c->json, &id, net, app);
		if (r < 0) {
			snprintf(err, err_len, "cannot add meshfleet's provisioner: %s", strerror(-r));
			goto out;
		}
	}
	doc_text = json_dumps(c->json, JSON_COMPACT | JSON_SORT_KEYS);
	if (!doc_text) {
		r = -ENOMEM;
		snprintf(err, err_len, "out of memory");
		goto out;
	}
	/* What is stored must read back: check the document with meshfleet's entries as a whole. */
	r = cdb_parse(doc_text, strlen(doc_text), &final, err, err_len);
	if (r < 0) {
		log_err("network import: the document with meshfleet's provisioner does not check: %s", err);
		goto out;
	}
	if (old_text && strcmp(old_text, doc_text) == 0) {
		res->unchanged = true;
		goto out;
	}
	res->created = !prev;
	res->replaced = prev && !same;
	r = db_begin(db);
	if (r < 0)
		goto db_fail;
	if (res->replaced) {
		sqlite3_stmt *stmt = db_stmt(db, "DELETE FROM nodes WHERE device_key IS NOT NULL");

		r = stmt ? db_result(db, sqlite3_step(stmt), "drop the old network's nodes") : -EIO;
		if (r == 0)
			res->nodes_removed += (size_t)sqlite3_changes(db_handle(db));
	}
	if (r == 0)
		r = store_network(db, final, doc_text, &id, net, app, same ? prev : NULL, now);
	for (size_t i = 0; r == 0 && i < final->n_nodes; i++) {
		const struct cdb_node *n = &final->nodes[i];

		if (memcmp(n->uuid, id.uuid, CDB_UUID_SIZE) == 0)
			continue;
		if (is_provisioner(final, n)) {
			res->provisioners_skipped++;
			continue;
		}
		if (n->excluded)
			continue;
		r = store_node(db, n, now, res);
	}
	if (r == 0)
		r = remove_gone_nodes(db, final, id.uuid, res);
	if (r == 0)
		r = db_commit(db);
	if (r < 0) {
		db_rollback(db);
db_fail:
		*res = (struct network_import_result){ 0 };
		snprintf(err, err_len, "the database refused the network: %s", strerror(-r));
	}
out:
	free(old_text);
	free(doc_text);
	cdb_free(final);
	cdb_free(c);
	return r;
}

/* --- reading --- */

int network_load(struct db *db, struct network *ret)
{
	sqlite3_stmt *stmt = db_stmt(db,
		"SELECT mesh_uuid, name, exported_at, cdb, iv_index, iv_update, net_key_index, app_key_index, "
		"  provisioner_uuid, address, unicast_low, unicast_high, group_low, group_high, seq_mark, seq_dongle, "
		"  imported_at, updated_at FROM network WHERE id = 1");
	const struct cdb_net_key *net;
	const struct cdb_app_key *app;
	struct network n = { 0 };
	struct cdb *c;
	char err[256];
	int rc, r;

	if (!stmt)
		return -EIO;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return db_result(db, rc, "read network");
	memcpy(n.mesh_uuid, sqlite3_column_blob(stmt, 0), CDB_UUID_SIZE);
	snprintf(n.name, sizeof(n.name), "%s", (const char *)sqlite3_column_text(stmt, 1));
	n.exported_at = sqlite3_column_int64(stmt, 2);
	r = cdb_parse((const char *)sqlite3_column_text(stmt, 3), (size_t)sqlite3_column_bytes(stmt, 3), &c, err,
		      sizeof(err));
	n.iv_index = (uint32_t)sqlite3_column_int64(stmt, 4);
	n.iv_update = sqlite3_column_int(stmt, 5) != 0;
	n.net_key_index = (uint16_t)sqlite3_column_int(stmt, 6);
	n.app_key_index = (uint16_t)sqlite3_column_int(stmt, 7);
	memcpy(n.provisioner_uuid, sqlite3_column_blob(stmt, 8), CDB_UUID_SIZE);
	n.address = (uint16_t)sqlite3_column_int(stmt, 9);
	n.unicast = (struct cdb_range){ (uint16_t)sqlite3_column_int(stmt, 10), (uint16_t)sqlite3_column_int(stmt, 11) };
	n.group = (struct cdb_range){ (uint16_t)sqlite3_column_int(stmt, 12), (uint16_t)sqlite3_column_int(stmt, 13) };
	n.seq_mark = (uint32_t)sqlite3_column_int64(stmt, 14);
	snprintf(n.seq_dongle, sizeof(n.seq_dongle), "%s", (const char *)sqlite3_column_text(stmt, 15));
	n.imported_at = sqlite3_column_int64(stmt, 16);
	n.updated_at = sqlite3_column_int64(stmt, 17);
	sqlite3_reset(stmt);
	if (r < 0) {
		log_err("the stored network document does not read back (%s): import the network again", err);
		return -EBADMSG;
	}
	net = cdb_net_key(c, n.net_key_index);
	app = cdb_app_key(c, n.app_key_index);
	if (!net || !app) {
		log_err("the stored network lacks key index %u or %u: import the network again", n.net_key_index,
			n.app_key_index);
		cdb_free(c);
		return -EBADMSG;
	}
	memcpy(n.net_key, net_key_for_tx(net), CDB_KEY_SIZE);
	memcpy(n.app_key, app->has_old_key && net->phase == 1 ? app->old_key : app->key, CDB_KEY_SIZE);
	cdb_free(c);
	*ret = n;
	explicit_bzero(&n, sizeof(n));
	return 0;
}

int network_device_key(struct db *db, uint16_t address, uint8_t key[CDB_KEY_SIZE])
{
	sqlite3_stmt *stmt = db_stmt(db, "SELECT device_key FROM nodes WHERE address = ?1 AND device_key IS NOT NULL");
	int rc;

	if (!stmt)
		return -EIO;
	sqlite3_bind_int(stmt, 1, address);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return db_result(db, rc, "read device key");
	memcpy(key, sqlite3_column_blob(stmt, 0), CDB_KEY_SIZE);
	sqlite3_reset(stmt);
	return 0;
}

int network_seq_seen(struct db *db, uint32_t seq, const char *dongle_id)
{
	sqlite3_stmt *stmt = db_stmt(db,
		"UPDATE network SET seq_mark = CASE WHEN seq_dongle = ?2 THEN max(seq_mark, ?1) ELSE ?1 END, "
		"  seq_dongle = ?2, updated_at = ?3 WHERE id = 1");

	if (!stmt)
		return -EIO;
	sqlite3_bind_int64(stmt, 1, seq > MSG_MESH_SEQ_MAX ? MSG_MESH_SEQ_MAX : seq);
	sqlite3_bind_text(stmt, 2, dongle_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, time_now_ms());
	return db_result(db, sqlite3_step(stmt), "store the sequence number mark");
}

uint32_t network_seq_start(const struct network *n, const char *dongle_id)
{
	uint64_t seq = n->seq_mark;

	if (n->seq_dongle[0] == '\0' && seq == 0)
		return 0;       /* a new address: nothing was ever sent from it */
	if (strcmp(n->seq_dongle, dongle_id) != 0)
		seq += NETWORK_SEQ_MARGIN;
	return seq > MSG_MESH_SEQ_MAX ? MSG_MESH_SEQ_MAX : (uint32_t)seq;
}

/* --- writing --- */

static json_t *find_node_object(json_t *nodes, uint16_t address)
{
	size_t i;
	json_t *n;

	json_array_foreach(nodes, i, n) {
		const char *a = json_string_value(json_object_get(n, "unicastAddress"));

		if (a && strtoul(a, NULL, 16) == address)
			return n;
	}
	return NULL;
}

static int export_learned(struct db *db, json_t *nodes)
{
	sqlite3_stmt *stmt = db_stmt(db, "SELECT address, company_id, product_id, version_id, crpl FROM nodes "
				     "WHERE device_key IS NOT NULL ORDER BY address");
	static const char *const ids[] = { "cid", "pid", "vid", "crpl" };
	int rc;

	if (!stmt)
		return -EIO;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		json_t *n = find_node_object(nodes, (uint16_t)sqlite3_column_int(stmt, 0));

		for (int i = 0; n && i < 4; i++)
			if (sqlite3_column_type(stmt, i + 1) != SQLITE_NULL)
				json_object_set_new(n, ids[i], json_hex16((uint16_t)sqlite3_column_int(stmt, i + 1)));
	}
	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? 0 : db_result(db, rc, "export nodes");
}

json_t *network_export(struct db *db, int *error)
{
	char *text = stored_document(db);
	char stamp[TIMESTAMP_LEN + 1];
	json_error_t jerr;
	json_t *doc;
	int r;

	if (!text) {
		*error = -ENOENT;
		return NULL;
	}
	doc = json_loads(text, 0, &jerr);
	free(text);
	if (!doc) {
		*error = -EBADMSG;
		return NULL;
	}
	r = export_learned(db, json_object_get(doc, "nodes"));
	time_format_rfc3339(time_now_ms(), stamp);
	if (r == 0 && json_object_set_new(doc, "timestamp", json_string(stamp)) < 0)
		r = -ENOMEM;
	if (r < 0) {
		json_decref(doc);
		*error = r;
		return NULL;
	}
	return doc;
}

json_t *network_to_json(const struct network *n, uint64_t node_count)
{
	char uuid[37], provisioner[37], exported[TIMESTAMP_LEN + 1], imported[TIMESTAMP_LEN + 1];

	uuid_format(n->mesh_uuid, uuid);
	uuid_format(n->provisioner_uuid, provisioner);
	time_format_rfc3339(n->exported_at, exported);
	time_format_rfc3339(n->imported_at, imported);
	return json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:i, s:i, s:s, s:{s:s, s:i, s:{s:i, s:i}, s:{s:i, s:i}}, "
			 "s:I, s:I}",
			 "mesh_uuid", uuid, "name", n->name, "exported_at", exported, "imported_at", imported,
			 "iv_index", (json_int_t)n->iv_index, "iv_update", n->iv_update,
			 "net_key_index", n->net_key_index, "app_key_index", n->app_key_index, "keys", "redacted",
			 "provisioner", "uuid", provisioner, "address", n->address,
			 "unicast_range", "low", n->unicast.low, "high", n->unicast.high,
			 "group_range", "low", n->group.low, "high", n->group.high,
			 "seq_mark", (json_int_t)n->seq_mark, "node_count", (json_int_t)node_count);
}
