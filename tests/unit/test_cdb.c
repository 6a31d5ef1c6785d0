/* Unit tests for daemon/cdb.c: the two public sample networks read with their real values, the pre-standard pyaci
 * file refused for what it is, one bad document per rule (each a copy of the sample changed in memory) refused with
 * its JSON path and reason and never a key, syntax and size errors, and round trips: read -> write -> read gives the
 * same struct, for the samples and for a network built by hand (what meshfleet-sim exports). */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cdb.h"
#include "tap.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define SAMPLE1 "coral_Sample1_brian_and_mary.json"
#define SAMPLE2 "coral_Sample2.json"
#define PYACI "nrf5sdk-mesh_pyaci_example_database.json"

static const char *data_path(const char *name)
{
	static char path[4096];
	const char *dir = getenv("MF_SRCDIR");

	snprintf(path, sizeof(path), "%s/tests/data/cdb/%s", dir && dir[0] ? dir : TOP_SRCDIR, name);
	return path;
}

static char *read_text(const char *name, size_t *ret_len)
{
	FILE *f = fopen(data_path(name), "rb");
	char *text = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
		text = malloc((size_t)n + 1);
		if (text && fread(text, 1, (size_t)n, f) == (size_t)n) {
			text[n] = '\0';
			*ret_len = (size_t)n;
		} else {
			free(text);
			text = NULL;
		}
	}
	fclose(f);
	return text;
}

static json_t *load_json(const char *name)
{
	json_error_t e;

	return json_load_file(data_path(name), 0, &e);
}

/* ---------------------------------------------------------------------------------------------------------------
 * Struct equality, naming the first difference
 */

static char diff[256];

#define DIFFER(...) (snprintf(diff, sizeof(diff), __VA_ARGS__), false)
#define SAME_FIELD(a, b, field, what) \
	if ((a)->field != (b)->field) \
		return DIFFER("%s: %s %jd != %jd", what, #field, (intmax_t)(a)->field, (intmax_t)(b)->field)
#define SAME_BYTES(a, b, field, what) \
	if (memcmp((a)->field, (b)->field, sizeof((a)->field)) != 0) \
		return DIFFER("%s: %s differs", what, #field)
/* bytes that mean something only when @flag is set (has_old_key, is_virtual...) */
#define SAME_BYTES_IF(a, b, flag, field, what) \
	if ((a)->flag && memcmp((a)->field, (b)->field, sizeof((a)->field)) != 0) \
		return DIFFER("%s: %s differs", what, #field)
#define SAME_STR(a, b, field, what) \
	if (strcmp((a)->field, (b)->field) != 0) \
		return DIFFER("%s: %s '%s' != '%s'", what, #field, (a)->field, (b)->field)
#define SAME_ARRAY(a, b, n, field, what) \
	if ((a)->n != (b)->n || ((a)->n && memcmp((a)->field, (b)->field, (a)->n * sizeof(*(a)->field)) != 0)) \
		return DIFFER("%s: %s differ (%zu and %zu entries)", what, #field, (a)->n, (b)->n)

static bool ranges_equal(const struct cdb_provisioner *a, const struct cdb_provisioner *b, const char *what)
{
	SAME_ARRAY(a, b, n_unicast, unicast, what);
	SAME_ARRAY(a, b, n_group, group, what);
	SAME_ARRAY(a, b, n_scene, scene, what);
	return true;
}

static bool node_equal(const struct cdb_node *a, const struct cdb_node *b, const char *what)
{
	char where[128];

	SAME_STR(a, b, name, what);
	SAME_BYTES(a, b, uuid, what);
	SAME_FIELD(a, b, address, what);
	SAME_FIELD(a, b, has_device_key, what);
	SAME_BYTES_IF(a, b, has_device_key, device_key, what);
	SAME_FIELD(a, b, secure, what);
	SAME_FIELD(a, b, cid, what);
	SAME_FIELD(a, b, pid, what);
	SAME_FIELD(a, b, vid, what);
	SAME_FIELD(a, b, crpl, what);
	SAME_FIELD(a, b, excluded, what);
	SAME_FIELD(a, b, config_complete, what);
	SAME_FIELD(a, b, features, what);
	SAME_FIELD(a, b, features_supported, what);
	SAME_FIELD(a, b, features_known, what);
	SAME_ARRAY(a, b, n_net_keys, net_keys, what);
	SAME_ARRAY(a, b, n_app_keys, app_keys, what);
	SAME_FIELD(a, b, n_elements, what);
	for (size_t i = 0; i < a->n_elements; i++) {
		const struct cdb_element *ea = &a->elements[i], *eb = &b->elements[i];

		snprintf(where, sizeof(where), "%s element %zu", what, i);
		SAME_FIELD(ea, eb, index, where);
		SAME_FIELD(ea, eb, location, where);
		SAME_FIELD(ea, eb, n_models, where);
		for (size_t j = 0; j < ea->n_models; j++) {
			const struct cdb_model *ma = &ea->models[j], *mb = &eb->models[j];

			snprintf(where, sizeof(where), "%s element %zu model %zu", what, i, j);
			SAME_FIELD(ma, mb, id, where);
			SAME_FIELD(ma, mb, vendor, where);
			SAME_ARRAY(ma, mb, n_bind, bind, where);
			SAME_ARRAY(ma, mb, n_subscribe, subscribe, where);
			SAME_ARRAY(ma, mb, n_subscribe_virtual, subscribe_virtual, where);
		}
	}
	return true;
}

static bool cdb_equal(const struct cdb *a, const struct cdb *b)
{
	char what[64];

	SAME_BYTES(a, b, mesh_uuid, "network");
	SAME_STR(a, b, mesh_name, "network");
	SAME_FIELD(a, b, timestamp_ms, "network");
	SAME_FIELD(a, b, has_iv_index, "network");
	SAME_FIELD(a, b, iv_index, "network");
	SAME_FIELD(a, b, iv_update, "network");
	SAME_FIELD(a, b, partial, "network");
	SAME_FIELD(a, b, n_net_keys, "network");
	for (size_t i = 0; i < a->n_net_keys; i++) {
		const struct cdb_net_key *ka = &a->net_keys[i], *kb = &b->net_keys[i];

		snprintf(what, sizeof(what), "net key %zu", i);
		SAME_STR(ka, kb, name, what);
		SAME_FIELD(ka, kb, index, what);
		SAME_FIELD(ka, kb, phase, what);
		SAME_BYTES(ka, kb, key, what);
		SAME_FIELD(ka, kb, has_old_key, what);
		SAME_BYTES_IF(ka, kb, has_old_key, old_key, what);
		SAME_FIELD(ka, kb, min_security_secure, what);
	}
	SAME_FIELD(a, b, n_app_keys, "network");
	for (size_t i = 0; i < a->n_app_keys; i++) {
		const struct cdb_app_key *ka = &a->app_keys[i], *kb = &b->app_keys[i];

		snprintf(what, sizeof(what), "app key %zu", i);
		SAME_STR(ka, kb, name, what);
		SAME_FIELD(ka, kb, index, what);
		SAME_FIELD(ka, kb, bound_net_key, what);
		SAME_BYTES(ka, kb, key, what);
		SAME_FIELD(ka, kb, has_old_key, what);
		SAME_BYTES_IF(ka, kb, has_old_key, old_key, what);
	}
	SAME_FIELD(a, b, n_provisioners, "network");
	for (size_t i = 0; i < a->n_provisioners; i++) {
		snprintf(what, sizeof(what), "provisioner %zu", i);
		SAME_STR(&a->provisioners[i], &b->provisioners[i], name, what);
		SAME_BYTES(&a->provisioners[i], &b->provisioners[i], uuid, what);
		if (!ranges_equal(&a->provisioners[i], &b->provisioners[i], what))
			return false;
	}
	SAME_FIELD(a, b, n_nodes, "network");
	for (size_t i = 0; i < a->n_nodes; i++) {
		snprintf(what, sizeof(what), "node %zu", i);
		if (!node_equal(&a->nodes[i], &b->nodes[i], what))
			return false;
	}
	SAME_FIELD(a, b, n_groups, "network");
	for (size_t i = 0; i < a->n_groups; i++) {
		const struct cdb_group *ga = &a->groups[i], *gb = &b->groups[i];

		snprintf(what, sizeof(what), "group %zu", i);
		SAME_STR(ga, gb, name, what);
		SAME_FIELD(ga, gb, address, what);
		SAME_FIELD(ga, gb, is_virtual, what);
		SAME_BYTES_IF(ga, gb, is_virtual, label, what);
		SAME_FIELD(ga, gb, parent, what);
		SAME_FIELD(ga, gb, parent_is_virtual, what);
		SAME_BYTES_IF(ga, gb, parent_is_virtual, parent_label, what);
	}
	SAME_FIELD(a, b, n_exclusions, "network");
	for (size_t i = 0; i < a->n_exclusions; i++) {
		snprintf(what, sizeof(what), "exclusion %zu", i);
		SAME_FIELD(&a->exclusions[i], &b->exclusions[i], iv_index, what);
		SAME_ARRAY(&a->exclusions[i], &b->exclusions[i], n_addresses, addresses, what);
	}
	return true;
}

static void is_equal(const struct cdb *a, const struct cdb *b, const char *what)
{
	if (!ok(a && b && cdb_equal(a, b), "%s", what))
		printf("#   first difference: %s\n", a && b ? diff : "a struct is missing");
}

/* Writes @c, dumps it to text and reads that back. */
static struct cdb *round_trip(const struct cdb *c, char *err, size_t err_len, json_t **ret_json)
{
	struct cdb *back = NULL;
	json_t *j = cdb_to_json(c);
	char *text = j ? json_dumps(j, JSON_INDENT(2)) : NULL;

	snprintf(err, err_len, "cdb_to_json() failed");
	if (text && cdb_parse(text, strlen(text), &back, err, err_len) < 0)
		back = NULL;
	free(text);
	if (ret_json)
		*ret_json = j;
	else
		json_decref(j);
	return back;
}

static uint8_t hexbyte(const char *s)
{
	return (uint8_t)strtoul((char[]){ s[0], s[1], '\0' }, NULL, 16);
}

static bool bytes_are(const uint8_t *p, const char *hex)
{
	for (size_t i = 0; hex[2 * i]; i++)
		if (p[i] != hexbyte(hex + 2 * i))
			return false;
	return true;
}

/* ---------------------------------------------------------------------------------------------------------------
 * The samples
 */

static const struct cdb_node *node_named(const struct cdb *c, const char *name)
{
	for (size_t i = 0; i < c->n_nodes; i++)
		if (strcmp(c->nodes[i].name, name) == 0)
			return &c->nodes[i];
	return NULL;
}

static void test_sample1(void)
{
	char err[512] = "";
	struct cdb *c = NULL;
	const struct cdb_net_key *nk;
	const struct cdb_app_key *ak;
	const struct cdb_node *n;
	const struct cdb_model *m;
	int r;

	r = cdb_load_file(data_path(SAMPLE1), &c, err, sizeof(err));
	is_int(r, 0, "Sample1 (Brian and Mary's House) is read: %s", err);
	if (!c)
		return;
	ok(bytes_are(c->mesh_uuid, "72C6BE40444D2081BEAADDAD4E3CC21C"), "meshUUID in dashed upper case");
	is_str(c->mesh_name, "Brian and Mary's House", "meshName");
	is_int(c->timestamp_ms, INT64_C(1670072362000), "timestamp 2022-12-03T20:59:22+08:00 is 12:59:22 UTC");
	ok(!c->partial && !c->has_iv_index, "not partial, no IV index");

	is_int(c->n_net_keys, 2, "2 net keys");
	nk = cdb_net_key(c, 0);
	ok(nk && nk->phase == 0 && !nk->has_old_key && nk->min_security_secure &&
	   bytes_are(nk->key, "5543950C57EDCC38E442964065720A8B") && strcmp(nk->name, "Home Network") == 0,
	   "net key 0: Home Network, phase 0, secure, its key");
	nk = cdb_net_key(c, 1);
	ok(nk && nk->phase == 1 && nk->has_old_key && !nk->min_security_secure &&
	   bytes_are(nk->key, "6D4B5D861F6C7304C039FD846231E84D") &&
	   bytes_are(nk->old_key, "610BB4B4BEC1A5630D6712DE06B95B20"), "net key 1: key refresh phase 1 with its old key");
	ok(!cdb_net_key(c, 2), "no net key 2");

	is_int(c->n_app_keys, 4, "4 app keys");
	ok(c->app_keys[0].index == 0 && c->app_keys[1].index == 2 && c->app_keys[2].index == 3 &&
	   c->app_keys[3].index == 1200, "app key indexes 0, 2, 3, 1200 in document order");
	ak = cdb_app_key(c, 3);
	ok(ak && ak->bound_net_key == 1 && ak->has_old_key && bytes_are(ak->old_key, "C337ACF959314D9D06C8419158F04617") &&
	   strcmp(ak->name, "Cat Flap") == 0, "app key 3 (Cat Flap) bound to net key 1, with its old key");
	ak = cdb_app_key(c, 1200);
	ok(ak && ak->bound_net_key == 0 && !ak->has_old_key && bytes_are(ak->key, "A327BB410CF137455A4F234DF8134C78"),
	   "app key 1200");

	is_int(c->n_provisioners, 2, "2 provisioners");
	if (c->n_provisioners == 2) {
		const struct cdb_provisioner *b = &c->provisioners[0], *m2 = &c->provisioners[1];

		ok(strcmp(b->name, "Brian's Phone") == 0 && bytes_are(b->uuid, "70CF7C9732A345B691494810D2E9CBF4"),
		   "provisioner 0: Brian's Phone and its UUID");
		ok(b->n_unicast == 2 && b->unicast[0].low == 0x0001 && b->unicast[0].high == 0x00FF &&
		   b->unicast[1].low == 0x0301 && b->unicast[1].high == 0x03FF, "... unicast 0001-00FF and 0301-03FF");
		ok(b->n_group == 1 && b->group[0].low == 0xC100 && b->group[0].high == 0xC1FF && b->n_scene == 0,
		   "... group C100-C1FF, no scenes");
		ok(m2->n_unicast == 1 && m2->unicast[0].low == 0x0100 && m2->unicast[0].high == 0x01FF &&
		   m2->n_group == 2 && m2->group[1].low == 0xC200 && m2->group[1].high == 0xC2FF && m2->n_scene == 1 &&
		   m2->scene[0].low == 0x0001 && m2->scene[0].high == 0x0040, "provisioner 1: Mary's ranges and scenes");
	}

	is_int(c->n_nodes, 10, "10 nodes");
	for (size_t i = 1; i < c->n_nodes; i++)
		if (!ok(c->nodes[i - 1].address < c->nodes[i].address, "nodes sorted by address at %zu", i))
			break;
	n = node_named(c, "Bedroom Light");
	ok(n && n->address == 0x0004 && n->n_elements == 3 && cdb_node_elements(n) == 3 && n->cid == 0x0011 &&
	   n->pid == 0x0004 && n->vid == 0x0001 && n->crpl == 0x0020 && n->has_device_key &&
	   bytes_are(n->device_key, "89DDEFD69B45AEC29DFD545E901CEE64") && n->secure && n->config_complete &&
	   !n->excluded, "Bedroom Light: 0x0004, 3 elements, ids, device key");
	ok(n && n->features == (CDB_FEATURE_RELAY | CDB_FEATURE_FRIEND) &&
	   n->features_supported == (CDB_FEATURE_RELAY | CDB_FEATURE_FRIEND) && n->features_known == 0x0F,
	   "... relay and friend enabled, proxy and low power not supported");
	ok(n && n->n_app_keys == 2 && n->app_keys[0] == 0 && n->app_keys[1] == 1200 && n->n_net_keys == 1,
	   "... knows app keys 0 and 1200");
	ok(n && n->elements[0].location == 0x0106 && n->elements[0].n_models == 18 && n->elements[2].index == 2,
	   "... element 0 at location 0x0106 with 18 models (three listed twice)");
	if (n && n->elements[0].n_models == 18) {
		m = &n->elements[0].models[6];
		ok(m->id == 0x1204 && !m->vendor && m->n_bind == 2 && m->bind[1] == 1200 && m->n_subscribe == 1 &&
		   m->subscribe[0] == 0xC023, "... model 1204 (second time): bound to 0 and 1200, subscribed to C023");
	}
	n = node_named(c, "Molly's Access Tag");
	ok(n && n->address == 0x0109 && !n->secure && n->features == 0 && n->features_supported == 0 &&
	   n->n_elements == 1 && n->elements[0].n_models == 3, "Molly's Access Tag: insecure, no features");
	if (n && n->n_elements == 1 && n->elements[0].n_models == 3) {
		m = &n->elements[0].models[2];
		ok(m->vendor && m->id == 0x003F002A && m->n_bind == 1 && m->bind[0] == 3,
		   "... vendor model 0x003F002A bound to app key 3");
	}
	n = node_named(c, "Cat Flap");
	if (ok(n && n->n_elements == 1 && n->elements[0].n_models == 3, "Cat Flap node")) {
		m = &n->elements[0].models[2];
		ok(m->id == 0x0015 && m->n_subscribe == 0 && m->n_subscribe_virtual == 1 &&
		   bytes_are(m->subscribe_virtual[0], "EA57D9F1975D4EBDA78A37D189AC58F4"),
		   "... model 0015 subscribed to the virtual label");
	}

	is_int(c->n_groups, 5, "5 groups");
	if (c->n_groups == 5) {
		ok(c->groups[1].address == 0xC024 && c->groups[1].parent == 0xC023 && !c->groups[1].is_virtual &&
		   strcmp(c->groups[1].name, "Bedside (Brian)") == 0, "group C024 with parent C023");
		ok(c->groups[4].is_virtual && c->groups[4].address == 0 &&
		   bytes_are(c->groups[4].label, "EA57D9F1975D4EBDA78A37D189AC58F4") && c->groups[4].parent == 0 &&
		   !c->groups[4].parent_is_virtual, "group 4 is the virtual label (address not computed: 0)");
	}
	is_int(c->n_exclusions, 0, "networkExclusions is empty");

	ok(cdb_node_by_address(c, 0x0003) == node_named(c, "Bedroom Light Switch"),
	   "lookup 0x0003: the second element of Bedroom Light Switch");
	ok(cdb_node_by_address(c, 0x0006) == node_named(c, "Bedroom Light"), "lookup 0x0006: Bedroom Light's last");
	ok(cdb_node_by_address(c, 0x0001) == node_named(c, "Brian's phone"), "lookup 0x0001: the first node");
	ok(cdb_node_by_address(c, 0x01FF) == node_named(c, "Mary's phone"), "lookup 0x01FF: the last node");
	ok(!cdb_node_by_address(c, 0x0008) && !cdb_node_by_address(c, 0x0000) && !cdb_node_by_address(c, 0x7FFF) &&
	   !cdb_node_by_address(c, 0xC023), "lookups of addresses no node has: NULL");
	ok(json_is_array(json_object_get(c->json, "scenes")), "the document is kept in c->json");
	cdb_free(c);
}

/* The equality helper that the round trips rely on sees a difference anywhere. */
static void test_equality_helper(void)
{
	struct cdb *a = NULL, *b = NULL;
	char err[512] = "";

	cdb_load_file(data_path(SAMPLE1), &a, err, sizeof(err));
	cdb_load_file(data_path(SAMPLE1), &b, err, sizeof(err));
	if (!ok(a && b, "Sample1 read twice"))
		goto out;
	ok(cdb_equal(a, b), "the same file gives equal structs");
	b->nodes[9].elements[0].models[2].id++;
	ok(!cdb_equal(a, b), "a model id changed: not equal (%s)", diff);
	b->nodes[9].elements[0].models[2].id--;
	b->groups[4].label[15] ^= 1;
	ok(!cdb_equal(a, b), "a virtual label changed: not equal (%s)", diff);
	b->groups[4].label[15] ^= 1;
	b->net_keys[1].old_key[0] ^= 1;
	ok(!cdb_equal(a, b), "an old key changed: not equal (%s)", diff);
	b->net_keys[1].old_key[0] ^= 1;
	b->nodes[3].features_known ^= CDB_FEATURE_FRIEND;
	ok(!cdb_equal(a, b), "a feature's presence changed: not equal (%s)", diff);
out:
	cdb_free(a);
	cdb_free(b);
}

static void test_sample2(void)
{
	struct cdb *a = NULL, *b = NULL;
	char err[512] = "";

	is_int(cdb_load_file(data_path(SAMPLE2), &b, err, sizeof(err)), 0, "Sample2 (optional fields left out) is read: %s",
	       err);
	cdb_load_file(data_path(SAMPLE1), &a, err, sizeof(err));
	is_equal(a, b, "... to the same struct as Sample1 (they differ in fields not modelled only)");
	ok(b && json_object_get(b->json, "networkExclusions") == NULL, "... which has no networkExclusions");
	cdb_free(a);
	cdb_free(b);
}

static void test_pyaci(void)
{
	char err[1024] = "";
	struct cdb *c = NULL;
	int r = cdb_load_file(data_path(PYACI), &c, err, sizeof(err));

	is_int(r, -EINVAL, "the nRF5 SDK pyaci database is refused");
	ok(c == NULL, "... nothing returned");
	has_str(err, "nrf5sdk-mesh_pyaci_example_database.json: $: not a Mesh Configuration Database",
		"... the file and why");
	has_str(err, "pre-standard database of the nRF5 SDK for Mesh (interactive_pyaci)", "... names the format");
	has_str(err, "$schema is empty, provisioners have \"name\", not \"provisionerName\", group addresses are integers",
		"... and what gives it away");
	has_str(err, "export the network from nRF Mesh", "... and what to do");
	ok(strstr(err, "18eed9c2") == NULL && strstr(err, "4f68ad85") == NULL, "... without its keys");
}

/* ---------------------------------------------------------------------------------------------------------------
 * Bad documents: Sample1 changed at one place
 */

/* Sets (or with @value NULL deletes) the member at @path ("nodes/3/deviceKey") of @root. Takes @value. */
static int set_at(json_t *root, const char *path, json_t *value)
{
	char buf[256], *save = NULL, *part, *next;
	json_t *at = root;

	snprintf(buf, sizeof(buf), "%s", path);
	for (part = strtok_r(buf, "/", &save); part; part = next) {
		bool is_index = isdigit((unsigned char)part[0]);
		size_t index = strtoul(part, NULL, 10);

		next = strtok_r(NULL, "/", &save);
		if (!next) {
			if (json_is_array(at) && is_index && value && index == json_array_size(at))
				return json_array_append_new(at, value);
			if (json_is_array(at) && is_index)
				return value ? json_array_set_new(at, index, value) : json_array_remove(at, index);
			if (json_is_object(at))
				return value ? json_object_set_new(at, part, value) : json_object_del(at, part);
			json_decref(value);
			return -1;
		}
		at = json_is_array(at) && is_index ? json_array_get(at, index) : json_object_get(at, part);
	}
	json_decref(value);
	return -1;
}

/* Every key of the sample: none may appear in an error message. */
static const char *const sample_keys[] = {
	"5543950C57ED", "6D4B5D861F6C", "610BB4B4BEC1", "3FA985DA6D4C", "20283753615B", "958CED9C76F1", "C337ACF95931",
	"A327BB410CF1", "0FE48D03E41D", "89DDEFD69B45", "AAA4B4CA3AD5", "B619F5BA671A", "C7F91F91AB79", "CA1C7F26BB55",
	"FC846BF0D85A", "31743AFD08DB", "27653BFE0EEE", "CCA28B400D49",
};

static bool no_key_in(const char *err)
{
	char upper[1024];
	size_t i;

	for (i = 0; err[i] && i + 1 < sizeof(upper); i++)
		upper[i] = (char)toupper((unsigned char)err[i]);
	upper[i] = '\0';
	for (i = 0; i < ARRAY_SIZE(sample_keys); i++)
		if (strstr(upper, sample_keys[i]))
			return false;
	return true;
}

static const struct bad {
	const char *path;
	const char *value;              /* JSON text; NULL: delete the member */
	const char *error;
} bad_documents[] = {
	/* missing */
	{ "netKeys", NULL, "$.netKeys: required field missing" },
	{ "netKeys", "[]", "$.netKeys: must hold at least one network key" },
	{ "netKeys/0/key", NULL, "$.netKeys[0].key: required field missing" },
	{ "appKeys/2/key", NULL, "$.appKeys[2].key: required field missing" },
	{ "nodes/3/deviceKey", NULL, "$.nodes[3].deviceKey: required field missing" },
	{ "nodes/2/unicastAddress", NULL, "$.nodes[2].unicastAddress: required field missing" },
	{ "nodes/2/elements", NULL, "$.nodes[2].elements: required field missing" },
	{ "meshUUID", NULL, "$.meshUUID: required field missing" },
	{ "id", NULL, "$.id: required field missing" },
	{ "provisioners/0/allocatedGroupRange", NULL, "$.provisioners[0].allocatedGroupRange: required field missing" },
	{ "netKeys/1/oldKey", NULL, "$.netKeys[1].oldKey: required when phase is 1 (a key refresh is in progress)" },
	/* keys: length and hex, the value never shown */
	{ "nodes/3/deviceKey", "\"B619F5BA671AF2548BA219760294063B00\"", "$.nodes[3].deviceKey: must be 32 hex digits (got 34)" },
	{ "netKeys/0/key", "\"5543950C57EDCC38E442964065720A\"", "$.netKeys[0].key: must be 32 hex digits (got 30)" },
	{ "netKeys/1/oldKey", "\"610BB4B4BEC1A5630D6712DE06B95BZ0\"",
	  "$.netKeys[1].oldKey: must be 32 hex digits (character 31 is not one)" },
	{ "appKeys/0/key", "\"3FA985DA6D4C-A22DA05C7E7A1F11C78\"",
	  "$.appKeys[0].key: must be 32 hex digits (character 13 is not one)" },
	{ "netKeys/0/key", "12345", "$.netKeys[0].key: must be a string of 32 hex digits (got a number)" },
	/* addresses */
	{ "nodes/0/unicastAddress", "\"00G2\"", "$.nodes[0].unicastAddress: must be 4 hex digits (got \"00G2\")" },
	{ "nodes/0/unicastAddress", "\"002\"", "$.nodes[0].unicastAddress: must be 4 hex digits (got \"002\")" },
	{ "nodes/0/unicastAddress", "\"8002\"", "$.nodes[0].unicastAddress: 0x8002 is not a unicast address (0x0001-0x7FFF)" },
	{ "nodes/0/unicastAddress", "\"0000\"", "$.nodes[0].unicastAddress: 0x0000 is not a unicast address (0x0001-0x7FFF)" },
	{ "nodes/1/unicastAddress", "\"7FFE\"",
	  "$.nodes[1].elements: 3 elements from 0x7FFE run past the last unicast address 0x7FFF" },
	{ "groups/0/address", "\"FF01\"", "$.groups[0].address: 0xFF01 is not a group address (0xC000-0xFEFF)" },
	{ "groups/2/parentAddress", "\"0004\"",
	  "$.groups[2].parentAddress: 0x0004 is not a group address (0xC000-0xFEFF, or 0x0000 for none)" },
	{ "nodes/5/elements/0/models/2/subscribe/0", "\"0001\"",
	  "$.nodes[5].elements[0].models[2].subscribe[0]: 0x0001 is not a group address (0xC000-0xFFFF)" },
	{ "provisioners/0/allocatedGroupRange/0/lowAddress", "\"0100\"",
	  "$.provisioners[0].allocatedGroupRange[0].lowAddress: 0x0100 is not a group address (0xC000-0xFEFF)" },
	{ "provisioners/0/allocatedUnicastRange/1/lowAddress", "\"0400\"",
	  "$.provisioners[0].allocatedUnicastRange[1]: lowAddress 0x0400 is above highAddress 0x03FF" },
	/* duplicate addresses, overlapping element ranges */
	{ "nodes/9/unicastAddress", "\"0105\"", "$.nodes[9].unicastAddress: 0x0105 is also the address of $.nodes[3]" },
	{ "nodes/2/unicastAddress", "\"0005\"",
	  "$.nodes[2].unicastAddress: 0x0005 is also the address of $.nodes[1] (elements 0x0004-0x0006)" },
	{ "nodes/0/unicastAddress", "\"0003\"",
	  "$.nodes[1].unicastAddress: 0x0004 is also the address of $.nodes[0] (elements 0x0003-0x0004)" },
	{ "groups/1/address", "\"C023\"", "$.groups[1].address: 0xC023 is also the address of $.groups[0]" },
	{ "groups/0/address", "\"ea57d9f1975d4ebda78a37d189ac58f4\"",
	  "$.groups[4].address: this virtual label is also the address of $.groups[0]" },
	/* overlapping provisioner ranges */
	{ "provisioners/1/allocatedUnicastRange/0/lowAddress", "\"00F0\"",
	  "$.provisioners[1].allocatedUnicastRange[0]: 0x00F0-0x01FF overlaps "
	  "$.provisioners[0].allocatedUnicastRange[0] (0x0001-0x00FF)" },
	{ "provisioners/0/allocatedGroupRange/0/highAddress", "\"C200\"",
	  "$.provisioners[1].allocatedGroupRange[1]: 0xC200-0xC2FF overlaps "
	  "$.provisioners[0].allocatedGroupRange[0] (0xC100-0xC200)" },
	{ "provisioners/0/allocatedSceneRange", "[{\"firstScene\": \"0040\", \"lastScene\": \"0050\"}]",
	  "$.provisioners[1].allocatedSceneRange[0]: 0x0001-0x0040 overlaps "
	  "$.provisioners[0].allocatedSceneRange[0] (0x0040-0x0050)" },
	/* key indexes */
	{ "netKeys/1/index", "0", "$.netKeys[1].index: 0 is also the index of $.netKeys[0]" },
	{ "appKeys/3/index", "2", "$.appKeys[3].index: 2 is also the index of $.appKeys[1]" },
	{ "netKeys/0/index", "4096", "$.netKeys[0].index: must be a key index from 0 to 4095 (got 4096)" },
	{ "appKeys/0/boundNetKey", "5", "$.appKeys[0].boundNetKey: no network key has index 5" },
	{ "nodes/0/netKeys/0/index", "7", "$.nodes[0].netKeys[0].index: no network key has index 7" },
	{ "nodes/0/appKeys/0/index", "1", "$.nodes[0].appKeys[0].index: no application key has index 1" },
	{ "nodes/1/appKeys/1/index", "0", "$.nodes[1].appKeys[1].index: 0 is listed twice (also at appKeys[0])" },
	{ "nodes/0/elements/0/models/2/bind/0", "9",
	  "$.nodes[0].elements[0].models[2].bind[0]: no application key has index 9" },
	/* UUIDs */
	{ "nodes/9/UUID", "\"559b8c97-32a3-45b6-9149-4865d288cbf3\"", "$.nodes[9].UUID: also the UUID of $.nodes[0]" },
	{ "provisioners/1/UUID", "\"70CF7C9732A345B691494810D2E9CBF4\"",
	  "$.provisioners[1].UUID: also the UUID of $.provisioners[0]" },
	{ "nodes/0/UUID", "\"559B8C97-32A3-45B6-9149-4865D288CBF\"",
	  "$.nodes[0].UUID: must be a UUID, 8-4-4-4-12 hex digits with dashes or 32 without "
	  "(got \"559B8C97-32A3-45B6-9149-4865D288CBF\")" },
	{ "meshUUID", "\"72C6BE40444D-2081-BEAA-DDAD4E3CC21C\"",
	  "$.meshUUID: must be a UUID, 8-4-4-4-12 hex digits with dashes or 32 without "
	  "(got \"72C6BE40444D-2081-BEAA-DDAD4E3CC21C\")" },
	/* wrong JSON types */
	{ "nodes/0/unicastAddress", "2", "$.nodes[0].unicastAddress: must be a string of 4 hex digits (got 2)" },
	{ "netKeys/0/index", "\"0\"", "$.netKeys[0].index: must be an integer (got \"0\")" },
	{ "netKeys/0/index", "0.0", "$.netKeys[0].index: must be an integer (got 0)" },
	{ "partial", "\"false\"", "$.partial: must be true or false (got \"false\")" },
	{ "nodes", "{}", "$.nodes: must be an array (got an object)" },
	{ "nodes/4", "[]", "$.nodes[4]: must be an object (got an array)" },
	{ "nodes/4/features", "[]", "$.nodes[4].features: must be an object (got an array)" },
	{ "nodes/4/features/relay", "3",
	  "$.nodes[4].features.relay: must be a feature state (0 disabled, 1 enabled, 2 not supported) from 0 to 2 (got 3)" },
	{ "nodes/4/excluded", "0", "$.nodes[4].excluded: must be true or false (got 0)" },
	{ "groups/0/address", "49187",
	  "$.groups[0].address: must be a string of 4 hex digits (group address) or 32 (virtual label) (got 49187)" },
	{ "nodes/1/elements/0/models/0/publish", "\"C023\"",
	  "$.nodes[1].elements[0].models[0].publish: must be an object (got \"C023\")" },
	{ "meshName", "null", "$.meshName: must be a string (got null)" },
	{ "scenes", "{}", "$.scenes: must be an array (got an object)" },
	{ "networkExclusions/0", "{\"ivIndex\": -1, \"addresses\": []}",
	  "$.networkExclusions[0].ivIndex: must be an IV index from 0 to 4294967295 (got -1)" },
	{ "networkExclusions/0", "{\"ivIndex\": 3, \"addresses\": [\"0001\", \"C000\"]}",
	  "$.networkExclusions[0].addresses[1]: 0xC000 is not a unicast address (0x0001-0x7FFF)" },
	/* other formats and values */
	{ "nodes/0/elements/1/index", "2", "$.nodes[0].elements[1].index: must be 1, the element's position in the list (got 2)" },
	{ "nodes/4/elements/0/models/2/modelId", "\"3F002A\"",
	  "$.nodes[4].elements[0].models[2].modelId: must be 4 hex digits (SIG model) or 8 (vendor model: company id, "
	  "model) (got \"3F002A\")" },
	{ "timestamp", "\"2018-03-09 15:24:56.753238\"",
	  "$.timestamp: must be an ISO-8601 date and time with an offset, like 2024-05-01T12:00:00+02:00 "
	  "(got \"2018-03-09 15:24:56.753238\")" },
	{ "timestamp", "\"2022-12-03T20:59:22\"",
	  "$.timestamp: must be an ISO-8601 date and time with an offset, like 2024-05-01T12:00:00+02:00 "
	  "(got \"2022-12-03T20:59:22\")" },
	{ "netKeys/0/timestamp", "\"2022-02-30T10:00:00Z\"",
	  "$.netKeys[0].timestamp: must be an ISO-8601 date and time with an offset, like 2024-05-01T12:00:00+02:00 "
	  "(got \"2022-02-30T10:00:00Z\")" },
	{ "netKeys/0/phase", "3", "$.netKeys[0].phase: must be a key refresh phase from 0 to 2 (got 3)" },
	{ "netKeys/0/minSecurity", "\"low\"", "$.netKeys[0].minSecurity: must be \"secure\" or \"insecure\" (got \"low\")" },
	{ "nodes/8/security", "\"high\"", "$.nodes[8].security: must be \"secure\" or \"insecure\" (got \"high\")" },
	{ "version", "\"2.0.0\"",
	  "$.version: unsupported version \"2.0.0\": meshfleet reads versions 1.x.y of the Mesh Configuration Database" },
	{ "version", "\"1.0\"",
	  "$.version: unsupported version \"1.0\": meshfleet reads versions 1.x.y of the Mesh Configuration Database" },
	{ "meshName", "\"01234567890123456789012345678901234567890123456789012345678901234\"",
	  "$.meshName: longer than 64 bytes (got 65)" },
	{ "nodes/3/name", "\"a very long name, much longer than the sixty-four bytes we keep of it\"",
	  "$.nodes[3].name: longer than 64 bytes (got 69)" },
	{ "ivIndex", "\"5\"", "$.ivIndex: must be an integer (got \"5\")" },
};

static void test_bad_documents(void)
{
	json_t *sample = load_json(SAMPLE1);

	if (!ok(sample != NULL, "Sample1 loads as JSON"))
		return;
	for (size_t i = 0; i < ARRAY_SIZE(bad_documents); i++) {
		const struct bad *b = &bad_documents[i];
		json_t *doc = json_deep_copy(sample), *value = NULL;
		char err[512] = "", *text;
		struct cdb *c = NULL;
		json_error_t e;
		int r = -1;

		if (b->value)
			value = json_loads(b->value, JSON_DECODE_ANY, &e);
		if (doc && (!b->value || value) && set_at(doc, b->path, value) == 0) {
			text = json_dumps(doc, 0);
			r = text ? cdb_parse(text, strlen(text), &c, err, sizeof(err)) : -ENOMEM;
			free(text);
		} else {
			snprintf(err, sizeof(err), "test setup: cannot set %s", b->path);
		}
		json_decref(doc);
		is_int(r, -EINVAL, "%s = %s: refused", b->path, b->value ? b->value : "(deleted)");
		is_str(err, b->error, "... with its path and reason");
		ok(c == NULL && no_key_in(err), "... nothing returned, no key in the message");
		cdb_free(c);
	}
	json_decref(sample);
}

/* Fields that are optional (or tolerated in old exports) and unknown fields: read. */
static void test_tolerated(void)
{
	static const struct {
		const char *path, *value, *what;
	} cases[] = {
		{ "x-vendor", "{\"anything\": [1, 2]}", "an unknown top-level field" },
		{ "nodes/0/x-note", "\"hello\"", "an unknown node field" },
		{ "groups", NULL, "no groups (an nRF Mesh for Android version left the empty list out)" },
		{ "scenes", NULL, "no scenes (nRF Mesh before CDB 1.0)" },
		{ "partial", NULL, "no partial" },
		{ "meshUUID", "\"72c6be40444d2081beaaddad4e3cc21c\"", "a meshUUID of 32 lower-case hex digits (nRF Mesh iOS < 3.0)" },
		{ "nodes/0/deviceKey", "\"0fe48d03e41d26e5c5ea327a55e8a218\"", "a key in lower case" },
		{ "nodes/0/excluded", NULL, "a node without excluded" },
		{ "nodes/0/features", NULL, "a node without features" },
		{ "nodes/0/features/relay", NULL, "features without relay" },
		{ "nodes/0/cid", NULL, "a node without cid" },
		{ "nodes/0/elements", "[]", "a node whose composition is not known" },
		{ "timestamp", "\"2022-12-03T12:59:22.000Z\"", "a UTC timestamp with fractions" },
	};
	json_t *sample = load_json(SAMPLE1);

	for (size_t i = 0; sample && i < ARRAY_SIZE(cases); i++) {
		json_t *doc = json_deep_copy(sample), *value = cases[i].value ?
			json_loads(cases[i].value, JSON_DECODE_ANY, NULL) : NULL;
		char err[512] = "", *text;
		struct cdb *c = NULL;
		int r = -1;

		if (set_at(doc, cases[i].path, value) == 0) {
			text = json_dumps(doc, 0);
			r = cdb_parse(text, strlen(text), &c, err, sizeof(err));
			free(text);
		}
		is_int(r, 0, "read: %s: %s", cases[i].what, err);
		if (c && strcmp(cases[i].path, "nodes/0/features/relay") == 0) {
			const struct cdb_node *n = node_named(c, "Bedroom Light Switch");

			ok(n && n->features_known == (CDB_FEATURE_PROXY | CDB_FEATURE_FRIEND | CDB_FEATURE_LOW_POWER),
			   "... relay is not known");
		}
		if (c && strcmp(cases[i].path, "timestamp") == 0)
			is_int(c->timestamp_ms, INT64_C(1670072362000), "... the same instant as +08:00");
		if (c && strcmp(cases[i].path, "nodes/0/elements") == 0)
			ok(cdb_node_by_address(c, 0x0003) == NULL && cdb_node_by_address(c, 0x0002) != NULL,
			   "... counts as one element");
		cdb_free(c);
		json_decref(doc);
	}
	json_decref(sample);
}

static json_t *json_node_named(json_t *doc, const char *name)
{
	size_t i;
	json_t *n;

	json_array_foreach(json_object_get(doc, "nodes"), i, n)
		if (json_is_string(json_object_get(n, "name")) &&
		    strcmp(json_string_value(json_object_get(n, "name")), name) == 0)
			return n;
	return NULL;
}

/* A partial export may leave device keys out; a full one may not. The pre-1.0 "blacklisted" means "excluded". */
static void test_partial_and_legacy(void)
{
	json_t *doc = load_json(SAMPLE1);
	char err[512] = "", *text;
	struct cdb *c = NULL, *back;
	const struct cdb_node *n;

	if (!doc)
		return;
	set_at(doc, "partial", json_true());
	set_at(doc, "nodes/3/deviceKey", NULL);
	set_at(doc, "nodes/4/excluded", NULL);
	set_at(doc, "nodes/4/blacklisted", json_true());
	text = json_dumps(doc, 0);
	is_int(cdb_parse(text, strlen(text), &c, err, sizeof(err)), 0, "a partial export without a device key: %s", err);
	n = c ? node_named(c, "Bedside Light (Mary)") : NULL;
	ok(c && c->partial && n && !n->has_device_key, "... partial, and that node has no device key");
	n = c ? node_named(c, "Molly's Access Tag") : NULL;
	ok(n && n->excluded, "\"blacklisted\": true reads as excluded");
	if (c) {
		json_t *j = NULL, *mary, *molly;

		back = round_trip(c, err, sizeof(err), &j);
		is_equal(c, back, "... and survives a round trip");
		mary = json_node_named(j, "Bedside Light (Mary)");
		molly = json_node_named(j, "Molly's Access Tag");
		ok(mary && !json_object_get(mary, "deviceKey"), "... written without the device key");
		ok(molly && json_is_true(json_object_get(molly, "excluded")) && !json_object_get(molly, "blacklisted"),
		   "... and with \"excluded\" in place of \"blacklisted\"");
		json_decref(j);
		cdb_free(back);
	}
	cdb_free(c);
	free(text);
	json_decref(doc);
}

/* ---------------------------------------------------------------------------------------------------------------
 * Syntax, size, files
 */

static void test_syntax(void)
{
	char err[512] = "", path[] = "/tmp/test_cdb.XXXXXX", *text;
	struct cdb *c = NULL;
	size_t len = 0, cut;
	int fd;

	text = read_text(SAMPLE1, &len);
	if (!ok(text != NULL, "Sample1 read as text"))
		return;
	/* cut inside the first key: jansson's message would quote the token, that is, part of the key */
	cut = (size_t)(strstr(text, "5543950C57ED") - text) + 12;
	is_int(cdb_parse(text, cut, &c, err, sizeof(err)), -EINVAL, "a file cut inside a key is refused");
	has_str(err, "not valid JSON: line 12, column", "... with jansson's line and column");
	ok(no_key_in(err), "... and without the part of the key it stopped at: %s", err);
	is_int(cdb_parse(text, len / 2, &c, err, sizeof(err)), -EINVAL, "a file cut in half is refused");
	has_str(err, "not valid JSON: line ", "... %s", err);
	is_int(cdb_parse(text, 0, &c, err, sizeof(err)), -EINVAL, "an empty document is refused");
	is_str(err, "$: empty document: a Mesh Configuration Database is a JSON object", "... saying so");
	is_int(cdb_parse("[]", 2, &c, err, sizeof(err)), -EINVAL, "a JSON array is refused");
	is_str(err, "$: must be an object (got an array)", "... it must be an object");
	is_int(cdb_parse("{\"a\": 1, \"a\": 2}", 16, &c, err, sizeof(err)), -EINVAL, "duplicate members are refused");
	has_str(err, "duplicate object key", "... %s", err);
	is_int(cdb_parse("{} {}", 5, &c, err, sizeof(err)), -EINVAL, "text after the document is refused");
	ok(c == NULL, "nothing returned for any of them");

	/* the limit: checked before anything is read or parsed */
	is_int(cdb_parse(text, CDB_FILE_MAX + 1u, &c, err, sizeof(err)), -EFBIG, "a document above CDB_FILE_MAX: -EFBIG");
	has_str(err, "larger than 16777216 bytes (got 16777217)", "... %s", err);
	fd = mkstemp(path);
	if (ok(fd >= 0, "a temporary file")) {
		ok(write(fd, text, len) == (ssize_t)len, "... holding Sample1");
		is_int(cdb_load_file(path, &c, err, sizeof(err)), 0, "cdb_load_file() reads it: %s", err);
		c = cdb_free(c);
		ok(ftruncate(fd, (off_t)CDB_FILE_MAX + 1) == 0, "... grown to CDB_FILE_MAX + 1 bytes");
		is_int(cdb_load_file(path, &c, err, sizeof(err)), -EFBIG, "a file too large: -EFBIG");
		has_str(err, ": larger than 16777216 bytes", "... %s", err);
		ok(strncmp(err, path, strlen(path)) == 0, "... after the file's name");
		ok(ftruncate(fd, 0) == 0, "... emptied");
		is_int(cdb_load_file(path, &c, err, sizeof(err)), -EINVAL, "an empty file: -EINVAL");
		has_str(err, ": $: empty document", "... %s", err);
		close(fd);
		unlink(path);
	}
	is_int(cdb_load_file("/nonexistent/cdb.json", &c, err, sizeof(err)), -ENOENT, "a missing file: -ENOENT");
	is_str(err, "/nonexistent/cdb.json: No such file or directory", "... with its name");
	is_int(cdb_load_file("/", &c, err, sizeof(err)), -EISDIR, "a directory: -EISDIR");
	ok(c == NULL, "nothing returned");
	ok(cdb_free(NULL) == NULL, "cdb_free(NULL) is a no-op");
	free(text);
}

/* ---------------------------------------------------------------------------------------------------------------
 * Writing
 */

static int by_address(const void *a, const void *b)
{
	return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "unicastAddress")),
		      json_string_value(json_object_get(*(json_t *const *)b, "unicastAddress")));
}

/* The nodes of a document in address order (the struct's, so the written order). */
static void sort_nodes(json_t *doc)
{
	json_t *nodes = json_object_get(doc, "nodes"), *sorted = json_array();
	size_t n = json_array_size(nodes);
	json_t **items = calloc(n ? n : 1, sizeof(*items));

	for (size_t i = 0; i < n; i++)
		items[i] = json_array_get(nodes, i);
	qsort(items, n, sizeof(*items), by_address);
	for (size_t i = 0; i < n; i++)
		json_array_append(sorted, items[i]);
	json_object_set_new(doc, "nodes", sorted);
	free(items);
}

static void test_round_trip_samples(void)
{
	static const char *const files[] = { SAMPLE1, SAMPLE2 };

	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		char err[512] = "";
		struct cdb *c = NULL, *back;
		json_t *written = NULL, *original;

		if (cdb_load_file(data_path(files[i]), &c, err, sizeof(err)) < 0) {
			ok(0, "%s: %s", files[i], err);
			continue;
		}
		back = round_trip(c, err, sizeof(err), &written);
		ok(back != NULL, "%s: written and read back: %s", files[i], back ? "" : err);
		is_equal(c, back, "... to the same struct");
		original = json_deep_copy(c->json);
		sort_nodes(original);
		ok(json_equal(written, original), "... and the same JSON as the file, nodes in address order: every field "
		   "not modelled (publish, scenes, defaultTTL, element names...) survives, timestamps keep their offset");
		json_decref(original);
		json_decref(written);
		cdb_free(back);
		cdb_free(c);
	}
}

/* Changes made to the struct are written; what it does not model stays. */
static void test_write_changes(void)
{
	char err[512] = "";
	struct cdb *c = NULL, *back = NULL;
	struct cdb_node *n;
	json_t *j = NULL, *node;

	if (cdb_load_file(data_path(SAMPLE1), &c, err, sizeof(err)) < 0)
		return;
	n = (struct cdb_node *)node_named(c, "Bedroom Light");
	snprintf(n->name, sizeof(n->name), "Bedroom Light (renamed)");
	n->cid = 0x0059;
	n->pid = CDB_ID_UNKNOWN;
	n->features_known &= (uint8_t)~CDB_FEATURE_LOW_POWER;
	n->elements[0].models[0].n_subscribe = 1;
	n->elements[0].models[0].subscribe = malloc(sizeof(uint16_t));
	n->elements[0].models[0].subscribe[0] = 0xC024;
	c->net_keys[1].phase = 0;
	c->net_keys[1].has_old_key = false;
	c->timestamp_ms += 1000;
	c->has_iv_index = true;
	c->iv_index = 0x12345;
	back = round_trip(c, err, sizeof(err), &j);
	is_equal(c, back, "a changed struct is written and read back equal");
	node = json_array_get(json_object_get(j, "nodes"), 2);
	is_str(json_string_value(json_object_get(node, "name")), "Bedroom Light (renamed)", "... new name");
	is_str(json_string_value(json_object_get(node, "cid")), "0059", "... new cid");
	ok(!json_object_get(node, "pid"), "... unknown pid left out");
	ok(!json_object_get(json_object_get(node, "features"), "lowPower") &&
	   json_integer_value(json_object_get(json_object_get(node, "features"), "relay")) == 1,
	   "... low power left out of features, relay kept");
	is_int(json_integer_value(json_object_get(node, "defaultTTL")), 4, "... defaultTTL (not modelled) kept");
	is_int(json_integer_value(json_object_get(json_object_get(node, "relayRetransmit"), "interval")), 60,
	       "... relayRetransmit (not modelled) kept");
	ok(!json_object_get(json_array_get(json_object_get(j, "netKeys"), 1), "oldKey"), "... oldKey removed");
	is_str(json_string_value(json_object_get(json_array_get(json_object_get(j, "netKeys"), 1), "timestamp")),
	       "2018-10-10T06:22:34-08:00", "... the key's timestamp (not modelled) kept");
	is_str(json_string_value(json_object_get(j, "timestamp")), "2022-12-03T12:59:23+00:00",
	       "... a changed timestamp is written in UTC");
	is_int(json_integer_value(json_object_get(j, "ivIndex")), 0x12345, "... ivIndex added");
	ok(json_is_false(json_object_get(j, "ivUpdate")), "... with ivUpdate");
	is_str(json_string_value(json_object_get(json_array_get(json_object_get(j, "scenes"), 0), "name")), "Go to sleep",
	       "... scenes kept");
	json_decref(j);
	cdb_free(back);
	cdb_free(c);
}

static void fill_uuid(uint8_t *u, uint8_t seed)
{
	for (size_t i = 0; i < CDB_UUID_SIZE; i++)
		u[i] = (uint8_t)(seed * 16 + i);
}

static struct cdb_node *add_node(struct cdb *c, uint16_t address, size_t elements, uint8_t seed)
{
	struct cdb_node *n = &c->nodes[c->n_nodes++];

	snprintf(n->name, sizeof(n->name), "node %04X", address);
	fill_uuid(n->uuid, seed);
	n->address = address;
	n->has_device_key = true;
	memset(n->device_key, seed, CDB_KEY_SIZE);
	n->secure = seed % 2;
	n->cid = 0x0059;
	n->pid = seed;
	n->vid = CDB_ID_UNKNOWN;
	n->crpl = 0x0100;
	n->config_complete = true;
	n->n_net_keys = 1;
	n->net_keys = calloc(1, sizeof(uint16_t));
	n->n_app_keys = 1;
	n->app_keys = calloc(1, sizeof(uint16_t));
	n->app_keys[0] = 5;
	n->n_elements = elements;
	n->elements = calloc(elements ? elements : 1, sizeof(*n->elements));
	for (size_t i = 0; i < elements; i++) {
		n->elements[i].index = (uint8_t)i;
		n->elements[i].location = (uint16_t)(0x0100 + i);
	}
	return n;
}

/* What meshfleet-sim does: a network built in memory, written from scratch. */
static void test_from_scratch(void)
{
	struct cdb *c = calloc(1, sizeof(*c)), *back;
	struct cdb_provisioner *p;
	struct cdb_model *m;
	struct cdb_node *n;
	char err[512] = "";
	json_t *j = NULL, *node, *model;

	fill_uuid(c->mesh_uuid, 0xA);
	snprintf(c->mesh_name, sizeof(c->mesh_name), "simulated fleet");
	c->timestamp_ms = INT64_C(1714564800123);
	c->has_iv_index = true;
	c->iv_index = 7;
	c->iv_update = true;
	c->n_net_keys = 1;
	c->net_keys = calloc(1, sizeof(*c->net_keys));
	snprintf(c->net_keys[0].name, sizeof(c->net_keys[0].name), "primary");
	c->net_keys[0].phase = 2;
	memset(c->net_keys[0].key, 0x11, CDB_KEY_SIZE);
	c->net_keys[0].has_old_key = true;
	memset(c->net_keys[0].old_key, 0x22, CDB_KEY_SIZE);
	c->net_keys[0].min_security_secure = true;
	c->n_app_keys = 1;
	c->app_keys = calloc(1, sizeof(*c->app_keys));
	c->app_keys[0].index = 5;
	memset(c->app_keys[0].key, 0x33, CDB_KEY_SIZE);
	c->n_provisioners = 1;
	p = c->provisioners = calloc(1, sizeof(*c->provisioners));
	snprintf(p->name, sizeof(p->name), "meshfleet-sim");
	fill_uuid(p->uuid, 0xB);
	p->n_unicast = 1;
	p->unicast = calloc(1, sizeof(*p->unicast));
	p->unicast[0] = (struct cdb_range){ 0x0001, 0x7FFF };
	p->n_group = 1;
	p->group = calloc(1, sizeof(*p->group));
	p->group[0] = (struct cdb_range){ 0xC000, 0xFEFF };
	c->nodes = calloc(3, sizeof(*c->nodes));
	add_node(c, 0x0010, 2, 1);
	n = add_node(c, 0x0020, 1, 2);
	n->features = CDB_FEATURE_RELAY;
	n->features_supported = CDB_FEATURE_RELAY | CDB_FEATURE_PROXY;
	n->features_known = CDB_FEATURE_RELAY | CDB_FEATURE_PROXY | CDB_FEATURE_FRIEND;
	n->elements[0].n_models = 2;
	n->elements[0].models = calloc(2, sizeof(*n->elements[0].models));
	m = &n->elements[0].models[0];
	m->id = 0x1402;                 /* Firmware Update Server */
	m->n_bind = 1;
	m->bind = calloc(1, sizeof(uint16_t));
	m->bind[0] = 5;
	m->n_subscribe = 1;
	m->subscribe = calloc(1, sizeof(uint16_t));
	m->subscribe[0] = 0xC001;
	m->n_subscribe_virtual = 1;
	m->subscribe_virtual = calloc(1, sizeof(*m->subscribe_virtual));
	fill_uuid(m->subscribe_virtual[0], 0xC);
	m = &n->elements[0].models[1];
	m->id = 0x0059000A;
	m->vendor = true;
	n = add_node(c, 0x0030, 0, 3);
	n->excluded = true;
	c->n_groups = 2;
	c->groups = calloc(2, sizeof(*c->groups));
	snprintf(c->groups[0].name, sizeof(c->groups[0].name), "DFU");
	c->groups[0].address = 0xC001;
	c->groups[1].is_virtual = true;
	fill_uuid(c->groups[1].label, 0xC);
	c->groups[1].parent = 0xC001;
	c->n_exclusions = 1;
	c->exclusions = calloc(1, sizeof(*c->exclusions));
	c->exclusions[0].iv_index = 5;
	c->exclusions[0].n_addresses = 2;
	c->exclusions[0].addresses = calloc(2, sizeof(uint16_t));
	c->exclusions[0].addresses[0] = 0x0040;
	c->exclusions[0].addresses[1] = 0x0041;

	back = round_trip(c, err, sizeof(err), &j);
	ok(back != NULL, "a network built by hand is written and read back: %s", back ? "" : err);
	is_equal(c, back, "... to the same struct");
	is_str(json_string_value(json_object_get(j, "$schema")), "http://json-schema.org/draft-04/schema#", "... $schema");
	is_str(json_string_value(json_object_get(j, "id")),
	       "https://www.bluetooth.com/specifications/specs/mesh-cdb-1-0-1-schema.json#", "... id of CDB 1.0.1");
	is_str(json_string_value(json_object_get(j, "version")), "1.0.1", "... version");
	is_str(json_string_value(json_object_get(j, "meshUUID")), "A0A1A2A3-A4A5-A6A7-A8A9-AAABACADAEAF",
	       "... meshUUID in the dashed form");
	is_str(json_string_value(json_object_get(j, "timestamp")), "2024-05-01T12:00:00.123+00:00", "... timestamp");
	ok(json_is_array(json_object_get(j, "scenes")) && json_is_array(json_object_get(j, "networkExclusions")) &&
	   json_is_string(json_object_get(json_array_get(json_object_get(j, "netKeys"), 0), "timestamp")),
	   "... and every field the schema requires (scenes, networkExclusions, a key's timestamp)");
	node = json_array_get(json_object_get(j, "nodes"), 1);
	model = json_array_get(json_object_get(json_array_get(json_object_get(node, "elements"), 0), "models"), 1);
	is_str(json_string_value(json_object_get(model, "modelId")), "0059000A", "... a vendor model id in 8 hex digits");
	is_str(json_string_value(json_object_get(node, "UUID")), "20212223-2425-2627-2829-2A2B2C2D2E2F",
	       "... node UUIDs in the dashed form");
	is_str(json_string_value(json_object_get(node, "deviceKey")), "02020202020202020202020202020202",
	       "... device key in hex");
	ok(!json_object_get(node, "vid") && json_is_string(json_object_get(node, "cid")), "... an unknown vid left out");
	json_decref(j);
	cdb_free(back);
	cdb_free(c);
}

static void test_timestamps(void)
{
	static const struct {
		const char *text;
		int64_t ms;
	} good[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "1970-01-01T00:00:37Z", 37000 },
		{ "2021-12-09T10:06:58+01:00", INT64_C(1639040818000) },
		{ "2021-12-09T09:06:58.5z", INT64_C(1639040818500) },
		{ "2021-12-09t04:06:58-0500", INT64_C(1639040818000) },
		{ "2024-02-29T23:59:59.999999+00:00", INT64_C(1709251199999) },
		{ "1969-12-31T23:59:59Z", -1000 },
	};
	static const char *const bad[] = {
		"2021-12-09", "2021-12-09T10:06:58", "2021-12-09T10:06:58+1:00", "2023-02-29T00:00:00Z",
		"2021-13-01T00:00:00Z", "2021-12-09T24:00:00Z", "2021-12-09T10:06:58.Z", "2021-12-09T10:06:58Z ",
		" 2021-12-09T10:06:58Z", "2021-12-09T10:06:58+01:00:00",
	};
	json_t *doc = load_json(SAMPLE1);

	for (size_t i = 0; doc && i < ARRAY_SIZE(good) + ARRAY_SIZE(bad); i++) {
		const char *t = i < ARRAY_SIZE(good) ? good[i].text : bad[i - ARRAY_SIZE(good)];
		char err[512] = "", *text;
		struct cdb *c = NULL;
		int r;

		set_at(doc, "timestamp", json_string(t));
		text = json_dumps(doc, 0);
		r = cdb_parse(text, strlen(text), &c, err, sizeof(err));
		free(text);
		if (i < ARRAY_SIZE(good)) {
			is_int(r, 0, "timestamp %s is read: %s", t, err);
			is_int(c ? c->timestamp_ms : -1, good[i].ms, "... as %" PRId64 " ms", good[i].ms);
		} else {
			is_int(r, -EINVAL, "timestamp \"%s\" is refused", t);
		}
		cdb_free(c);
	}
	json_decref(doc);
}

int main(void)
{
	test_sample1();
	test_equality_helper();
	test_sample2();
	test_pyaci();
	test_bad_documents();
	test_tolerated();
	test_partial_and_legacy();
	test_syntax();
	test_round_trip_samples();
	test_write_changes();
	test_from_scratch();
	test_timestamps();
	return done_testing();
}
