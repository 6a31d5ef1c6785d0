/* Unit tests for daemon/network.c: importing a CDB export into the database (new, unchanged, newer, older, another
 * network, replace, bad files), meshfleet's identity in it, export and re-import, and the sequence number mark. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "network.h"
#include "nodes.h"
#include "tap.h"

#define SAMPLE TOP_SRCDIR "/tests/data/cdb/coral_Sample1_brian_and_mary.json"

static char dir[] = "/tmp/mf-test-network-XXXXXX";
static int db_counter;

static struct db *fresh_db(void)
{
	struct db *db = NULL;
	char path[512], err[512];

	snprintf(path, sizeof(path), "%s/network-%d.db", dir, db_counter++);
	if (db_open(path, &db, err, sizeof(err)) < 0) {
		printf("Bail out! %s\n", err);
		exit(1);
	}
	return db;
}

static json_t *sample(void)
{
	json_error_t e;
	json_t *doc = json_load_file(SAMPLE, 0, &e);

	if (!doc) {
		printf("Bail out! %s: %s\n", SAMPLE, e.text);
		exit(1);
	}
	return doc;
}

static int import_doc(struct db *db, json_t *doc, bool replace, struct network_import_result *res, char *err,
		      size_t err_len)
{
	char *text = json_dumps(doc, JSON_COMPACT);
	int r = network_import(db, text, strlen(text), replace, res, err, err_len);

	free(text);
	return r;
}

static uint64_t count(struct db *db)
{
	uint64_t n = 0;

	nodes_count(db, &n);
	return n;
}

static const char *key_hex(const uint8_t *k, char *out)
{
	for (int i = 0; i < 16; i++)
		sprintf(out + 2 * i, "%02X", k[i]);
	return out;
}

static void test_first_import(void)
{
	struct db *db = fresh_db();
	struct network_import_result res;
	struct network n;
	struct node node;
	uint8_t key[16];
	char err[512], hex[33];
	json_t *doc = sample();

	is_int(network_load(db, &n), -ENOENT, "no network before the import");
	is_int(import_doc(db, doc, false, &res, err, sizeof(err)), 0, "the sample network imports");
	ok(res.created && !res.replaced && !res.unchanged, "created");
	/* 10 nodes, of which 2 are the provisioners' own (the phones): not fleet nodes */
	is_int(res.nodes_added, 8, "8 fleet nodes added");
	is_int(res.provisioners_skipped, 2, "2 provisioner entries skipped");
	is_int(count(db), 8, "8 nodes stored");
	is_int(network_load(db, &n), 0, "the network reads back");
	is_str(n.name, "Brian and Mary's House", "name");
	is_int(n.net_key_index, 0, "the primary network key");
	is_str(key_hex(n.net_key, hex), "5543950C57EDCC38E442964065720A8B", "its value");
	is_int(n.app_key_index, 0, "the lowest application key bound to it");
	is_str(key_hex(n.app_key, hex), "3FA985DA6D4CA22DA05C7E7A1F11C783", "its value");
	/* The provisioners hold 0x0001-0x00FF, 0x0301-0x03FF and more: meshfleet's block is free of all of them */
	ok(n.unicast.high - n.unicast.low + 1 == NETWORK_UNICAST_RANGE, "a unicast block of %u", NETWORK_UNICAST_RANGE);
	is_int(n.address, n.unicast.low, "the gateway has the block's first address");
	ok(n.group.low >= 0xC000 && n.group.high <= 0xFEFF && n.group.high - n.group.low + 1 == NETWORK_GROUP_RANGE,
	   "a group block of %u", NETWORK_GROUP_RANGE);
	is_int(nodes_get(db, 2, &node), 0, "node 0x0002");
	is_str(node.name, "Bedroom Light Switch", "its name");
	ok(node.provisioned, "provisioned (device key known)");
	is_int(node.elements, 2, "2 elements");
	is_int(node.company_id, 3, "cid");
	is_int(network_device_key(db, 2, key), 0, "its device key");
	is_str(key_hex(key, hex), "0FE48D03E41D26E5C5EA327A55E8A218", "from the file");
	is_int(network_device_key(db, 0x0100, key), -ENOENT, "no key for an unknown node");

	is_int(import_doc(db, doc, false, &res, err, sizeof(err)), 0, "the same file again");
	ok(res.unchanged, "is unchanged");
	is_int(count(db), 8, "no duplicates");
	json_decref(doc);
	db_free(db);
}

static void test_reimport(void)
{
	struct db *db = fresh_db();
	struct network_import_result res;
	struct network before, after;
	struct node node;
	char err[512];
	json_t *doc = sample(), *nodes;
	size_t i;
	json_t *n;

	import_doc(db, doc, false, &res, err, sizeof(err));
	network_load(db, &before);
	/* a user's tag survives a re-import */
	nodes_get(db, 4, &node);
	node_tag_add(&node, "hall-a");
	nodes_update(db, &node);

	/* a newer export: one node removed from the network, one renamed */
	nodes = json_object_get(doc, "nodes");
	json_array_foreach(nodes, i, n) {
		if (strcmp(json_string_value(json_object_get(n, "unicastAddress")), "0002") == 0) {
			json_array_remove(nodes, i);
			break;
		}
	}
	json_object_set_new(doc, "timestamp", json_string("2023-01-01T00:00:00Z"));
	is_int(import_doc(db, doc, false, &res, err, sizeof(err)), 0, "a newer export imports");
	ok(!res.created && !res.unchanged, "as an update");
	is_int(res.nodes_removed, 1, "the node gone from the network is removed");
	is_int(res.nodes_updated, 7, "the others are updated");
	is_int(count(db), 7, "7 nodes");
	is_int(nodes_get(db, 2, &node), -ENOENT, "0x0002 is gone");
	is_int(nodes_get(db, 4, &node), 0, "0x0004 is kept");
	ok(node.n_tags == 1 && strcmp(node.tags[0], "hall-a") == 0, "with its tag");
	network_load(db, &after);
	is_int(after.address, before.address, "the gateway keeps its address");
	ok(memcmp(after.provisioner_uuid, before.provisioner_uuid, 16) == 0, "and meshfleet its provisioner UUID");

	json_object_set_new(doc, "timestamp", json_string("2022-01-01T00:00:00Z"));
	is_int(import_doc(db, doc, false, &res, err, sizeof(err)), -ESTALE, "an older export is refused");
	has_str(err, "older", "saying so");
	is_int(import_doc(db, doc, true, &res, err, sizeof(err)), 0, "unless replace is asked");

	json_object_set_new(doc, "meshUUID", json_string("00000000-1111-2222-3333-444444444444"));
	json_object_set_new(doc, "timestamp", json_string("2024-01-01T00:00:00Z"));
	is_int(import_doc(db, doc, false, &res, err, sizeof(err)), -EEXIST, "another network is refused");
	has_str(err, "replace", "the error says how");
	is_int(count(db), 7, "nothing changed");
	is_int(import_doc(db, doc, true, &res, err, sizeof(err)), 0, "replace takes it");
	ok(res.replaced, "replaced");
	is_int(res.nodes_removed, 7, "the old network's nodes went");
	is_int(res.nodes_added, 7, "the new one's came");
	json_decref(doc);
	db_free(db);
}

/* Removes every application key and every use of one. */
static void strip_app_keys(json_t *doc)
{
	json_t *node, *element, *model;
	size_t i, j, k;

	json_object_set_new(doc, "appKeys", json_array());
	json_array_foreach(json_object_get(doc, "nodes"), i, node) {
		json_object_set_new(node, "appKeys", json_array());
		json_array_foreach(json_object_get(node, "elements"), j, element) {
			json_array_foreach(json_object_get(element, "models"), k, model) {
				json_object_set_new(model, "bind", json_array());
				json_object_del(model, "publish");
			}
		}
	}
}

static void test_bad_files(void)
{
	static const char *const bad[] = {
		"",
		"{",
		"[]",
		"{\"meshUUID\": 5}",
	};
	struct db *db = fresh_db();
	struct network_import_result res;
	struct network n;
	char err[512];
	json_t *doc = sample();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		is_int(network_import(db, bad[i], strlen(bad[i]), false, &res, err, sizeof(err)), -EINVAL,
		       "bad file %zu refused", i);
		ok(err[0] != '\0', "with a reason: %s", err);
	}
	/* no application key bound to the primary network key */
	strip_app_keys(doc);
	is_int(import_doc(db, doc, false, &res, err, sizeof(err)), -EINVAL, "a network without an application key");
	has_str(err, "application key", "is refused with the reason");
	is_int(network_load(db, &n), -ENOENT, "nothing was stored");
	is_int(count(db), 0, "no node either");
	json_decref(doc);
	db_free(db);
}

static void test_no_free_range(void)
{
	struct db *db = fresh_db();
	struct network_import_result res;
	char err[512];
	json_t *doc = sample();
	json_t *p = json_array_get(json_object_get(doc, "provisioners"), 0);

	/* the first provisioner owns every unicast address */
	json_object_set_new(p, "allocatedUnicastRange",
			    json_pack("[{s:s, s:s}]", "lowAddress", "0001", "highAddress", "7FFF"));
	json_object_set_new(json_array_get(json_object_get(doc, "provisioners"), 1), "allocatedUnicastRange",
			    json_array());
	is_int(import_doc(db, doc, false, &res, err, sizeof(err)), -ENOSPC, "no free unicast block");
	has_str(err, "free unicast", "said so");
	is_int(count(db), 0, "nothing stored");
	json_decref(doc);
	db_free(db);
}

static void test_export_round_trip(void)
{
	struct db *db = fresh_db(), *db2 = fresh_db();
	struct network_import_result res;
	struct network a, b;
	struct node node;
	char err[512];
	json_t *doc = sample(), *exported;
	int error = 0;

	is_int(network_export(db, &error) == NULL && error == -ENOENT, 1, "no export without a network");
	import_doc(db, doc, false, &res, err, sizeof(err));
	exported = network_export(db, &error);
	ok(exported != NULL, "export");
	ok(json_array_size(json_object_get(exported, "provisioners")) == 3, "with meshfleet's provisioner added");
	is_int(import_doc(db2, exported, false, &res, err, sizeof(err)), 0, "the export imports elsewhere: %s", err);
	is_int(res.nodes_added, 8, "the same 8 nodes");
	network_load(db, &a);
	network_load(db2, &b);
	ok(memcmp(a.mesh_uuid, b.mesh_uuid, 16) == 0, "same network");
	ok(memcmp(a.net_key, b.net_key, 16) == 0 && memcmp(a.app_key, b.app_key, 16) == 0, "same keys");
	ok(memcmp(a.provisioner_uuid, b.provisioner_uuid, 16) != 0,
	   "another daemon is another provisioner (its own UUID)");
	ok(b.unicast.high < a.unicast.low || b.unicast.low > a.unicast.high,
	   "and takes a block that does not collide with the first daemon's");
	is_int(nodes_get(db2, 4, &node), 0, "node 0x0004 there too");
	is_int(import_doc(db, exported, false, &res, err, sizeof(err)), 0, "the export imports back where it came from");
	is_int(res.nodes_added, 0, "adding nothing");
	network_load(db, &b);
	is_int(b.address, a.address, "keeping the gateway address");
	json_decref(exported);
	json_decref(doc);
	db_free(db);
	db_free(db2);
}

static void test_sequence_mark(void)
{
	struct db *db = fresh_db();
	struct network_import_result res;
	struct network n;
	char err[512];
	json_t *doc = sample();

	import_doc(db, doc, false, &res, err, sizeof(err));
	network_load(db, &n);
	is_int(network_seq_start(&n, "sim"), 0, "a new address starts at 0");
	is_int(network_seq_seen(db, 1000, "sim"), 0, "the dongle said 1000");
	network_load(db, &n);
	is_int(network_seq_start(&n, "sim"), 1000, "the same dongle continues from the mark");
	is_int(network_seq_start(&n, "/dev/ttyACM0"), 1000 + NETWORK_SEQ_MARGIN, "another one gets the margin");
	network_seq_seen(db, 500, "sim");
	network_load(db, &n);
	is_int(n.seq_mark, 1000, "the mark never goes back for one dongle");
	json_decref(doc);
	db_free(db);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_first_import();
	test_reimport();
	test_bad_files();
	test_no_free_range();
	test_export_round_trip();
	test_sequence_mark();
	for (int i = 0; i < db_counter; i++)
		for (const char *suffix = ""; suffix; suffix = *suffix ? (suffix[1] == 'w' ? "-shm" : NULL) : "-wal") {
			char p[600];

			snprintf(p, sizeof(p), "%s/network-%d.db%s", dir, i, suffix);
			unlink(p);
		}
	rmdir(dir);
	return done_testing();
}
