/* Unit tests for firmware_dongle/sim/scenario.c: a scenario with every field, the defaults, the example shipped in
 * docs, and one bad value per rule, each refused with its JSON path and reason and leaving the old scenario. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "tap.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static const char GOOD[] =
	"{ \"description\": \"two nodes\", \"hop_delay_ms\": 45, \"nodes\": ["
	"  { \"name\": \"lamp\", \"address\": \"0x0100\", \"elements\": 3,"
	"    \"uuid\": \"00112233-4455-6677-8899-AABBCCDDEEFF\","
	"    \"company_id\": \"0x0059\", \"product_id\": 258, \"version_id\": \"0xBEEF\", \"fwid\": \"5900010203\","
	"    \"hops\": 4, \"loss_rate\": 0.25 },"
	"  { \"address\": 259, \"uuid\": \"ffeeddccbbaa99887766554433221100\", \"fwid\": \"5900\" } ] }";

static void test_good(void)
{
	struct scenario s;
	char err[256] = "";
	const struct scenario_node *n;

	scenario_init(&s);
	is_int(s.node_count, 0, "an empty fleet to start with");
	is_int(scenario_load_string(&s, GOOD, err, sizeof(err)), 0, "a scenario with every field loads");
	is_str(err, "", "... no message");
	is_int(s.hop_delay_ms, 45, "hop_delay_ms");
	is_int(s.node_count, 2, "two nodes");
	n = &s.nodes[0];
	is_str(n->name, "lamp", "name");
	is_int(n->address, 0x0100, "address as a hex string");
	is_int(n->elements, 3, "elements");
	ok(n->uuid[0] == 0x00 && n->uuid[5] == 0x55 && n->uuid[15] == 0xff, "UUID with dashes and capitals");
	is_int(n->company_id, 0x0059, "company_id");
	is_int(n->product_id, 258, "product_id as a number");
	is_int(n->version_id, 0xbeef, "version_id in hex");
	ok(n->fwid_len == 5 && memcmp(n->fwid, "\x59\x00\x01\x02\x03", 5) == 0, "fwid bytes");
	is_int(n->hops, 4, "hops");
	ok(n->loss_rate == 0.25, "loss_rate");
	n = &s.nodes[1];
	ok(n->address == 259 && n->elements == 1 && n->hops == 1 && n->loss_rate == 0 && n->company_id == 0x0059 &&
	   n->name[0] == '\0', "defaults: 1 element, 1 hop, no loss, Nordic's company id, no name");
	ok(scenario_find(&s, 259) == n && scenario_find(&s, 0x0101) == NULL, "scenario_find() by primary address");
	scenario_done(&s);
	is_int(s.node_count, 0, "scenario_done() empties it");
}

/* The fields of a provisioned node: keys, composition, bindings, subscriptions; and their defaults. */
static const char KEYED[] =
	"{ \"net_keys\": [ { \"index\": 0, \"key\": \"00112233445566778899aabbccddeeff\" },"
	"                { \"index\": 2, \"key\": \"0f0e0d0c0b0a09080706050403020100\" } ],"
	"  \"app_keys\": [ { \"index\": 0, \"key\": \"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\" },"
	"                { \"index\": 5, \"key\": \"b0b1b2b3b4b5b6b7b8b9babbbcbdbebf\", \"net_key\": 2 } ],"
	"  \"nodes\": ["
	"  { \"address\": 1, \"uuid\": \"00112233445566778899aabbccddeeff\", \"fwid\": \"5900\","
	"    \"device_key\": \"d0d1d2d3d4d5d6d7d8d9dadbdcdddedf\", \"crpl\": \"0x0010\", \"features\": 8,"
	"    \"net_keys\": [ 0, 2 ], \"app_keys\": [ 5 ],"
	"    \"composition\": [ { \"location\": \"0x0100\", \"models\": [ 0, \"0x1402\", \"0x1400\", \"0x00590001\" ] },"
	"                     { \"models\": [ \"0x1000\" ] } ],"
	"    \"bindings\": [ { \"model\": \"0x1402\", \"app_key\": 5 }, { \"element\": 1, \"model\": 4096, \"app_key\": 5 } ],"
	"    \"subscriptions\": [ { \"model\": \"0x1402\", \"address\": \"0xC000\" },"
	"                       { \"model\": \"0x00590001\", \"address\": \"0xFF01\" } ] },"
	"  { \"address\": 9, \"uuid\": \"00112233445566778899aabbccddee00\", \"fwid\": \"5900\", \"dfu\": false,"
	"    \"elements\": 2 } ] }";

static void test_node_state(void)
{
	struct scenario s;
	char err[256] = "";
	const struct scenario_node *n;
	uint8_t derived[16];

	scenario_init(&s);
	is_int(scenario_load_string(&s, KEYED, err, sizeof(err)), 0, "a scenario with keys and node state loads: %s",
	       err);
	ok(!s.learn_keys && s.n_net_keys == 2 && s.n_app_keys == 2 && s.app_keys[1].net_index == 2 &&
	   s.app_keys[0].net_index == 0, "network and application keys, bound to their network keys");
	n = &s.nodes[0];
	ok(n->device_key[0] == 0xd0 && n->device_key[15] == 0xdf, "device_key");
	ok(n->crpl == 0x10 && n->features == 8, "crpl, features");
	ok(n->n_net_keys == 2 && n->net_keys[1].index == 2 && n->net_keys[1].key[0] == 0x0f, "net_keys: by index, with "
	   "their values");
	ok(n->n_app_keys == 1 && n->app_keys[0].index == 5 && n->app_keys[0].key[0] == 0xb0 &&
	   n->app_keys[0].net_index == 2, "app_keys");
	ok(n->elements == 2 && n->n_models == 5 && n->locations[0] == 0x0100 && n->locations[1] == 0,
	   "composition: 2 elements (so \"elements\" is not needed), 5 models, locations");
	ok(n->models[3].vendor && n->models[3].id == 0x00590001 && n->models[4].element == 1, "... a vendor model, "
	   "a model on the second element");
	ok(scenario_node_dfu_capable(n), "... DFU capable");
	ok(n->models[1].n_bindings == 1 && n->models[1].bindings[0] == 5 && n->models[4].n_bindings == 1 &&
	   n->models[0].n_bindings == 0 && n->models[2].n_bindings == 0, "bindings as given, nothing else bound");
	ok(n->models[1].n_subscriptions == 1 && n->models[1].subscriptions[0] == 0xC000 &&
	   n->models[3].subscriptions[0] == 0xFF01, "subscriptions, a fixed group address too");
	is_int(scenario_composition_size(n), 10 + 2 * 4 + 3 * 2 + 4 + 2, "the size of its Composition Data page 0");

	n = &s.nodes[1];
	scenario_default_device_key(n->uuid, derived);
	ok(memcmp(n->device_key, derived, 16) == 0 && n->crpl == SCENARIO_CRPL_DEFAULT &&
	   n->features == SCENARIO_FEATURES_DEFAULT, "defaults: device key from the UUID, CRPL, features");
	ok(n->n_net_keys == 1 && n->net_keys[0].index == 0 && n->n_app_keys == 1 && n->app_keys[0].index == 0,
	   "defaults: the first network key, the application keys bound to it");
	ok(!scenario_node_dfu_capable(n) && n->n_models == 4, "\"dfu\": false: Config, Health, OnOff + OnOff");
	ok(n->models[0].n_bindings == 0 && n->models[1].n_bindings == 1 && n->models[3].n_bindings == 1 &&
	   n->models[3].element == 1, "default bindings: every model but the Configuration Server");
	scenario_done(&s);

	is_int(scenario_load_builtin(&s, err, sizeof(err)), 0, "the built-in fleet");
	ok(s.learn_keys && s.n_net_keys == 1 && s.n_app_keys == 1, "... names no keys: learned, index 0 each");
	ok(scenario_node_dfu_capable(&s.nodes[0]) && s.nodes[0].models[3].id == MA_MODEL_DFU_SRV &&
	   s.nodes[0].models[3].n_bindings == 1, "... its nodes: DFU capable, the Firmware Update Server bound");
	scenario_done(&s);
}

static void test_example(void)
{
	struct scenario s;
	char err[256] = "", path[1024];
	const char *dir = getenv("MF_SRCDIR");

	snprintf(path, sizeof(path), "%s/firmware_dongle/sim/example-scenario.json", dir && dir[0] ? dir : TOP_SRCDIR);
	scenario_init(&s);
	struct scenario b;
	FILE *f;
	char text[8192];
	size_t n = 0;

	is_int(scenario_load_file(&s, path, err, sizeof(err)), 0, "the example scenario loads: %s", err);
	ok(s.node_count >= 3, "... %zu nodes", s.node_count);
	scenario_init(&b);
	is_int(scenario_load_builtin(&b, err, sizeof(err)), 0, "the built-in fleet loads: %s", err);
	ok(b.node_count == s.node_count && b.hop_delay_ms == s.hop_delay_ms &&
	   memcmp(b.nodes, s.nodes, s.node_count * sizeof(*s.nodes)) == 0, "... and is the example scenario");
	f = fopen(path, "r");
	if (f) {
		n = fread(text, 1, sizeof(text) - 1, f);
		fclose(f);
	}
	text[n] = '\0';
	is_str(scenario_builtin_json(), text, "... word for word (regenerate BUILTIN in scenario.c from the file)");
	scenario_done(&b);
	scenario_done(&s);
	is_int(scenario_load_file(&s, "/nonexistent/x.json", err, sizeof(err)), -ENOENT, "a missing file: -ENOENT");
	has_str(err, "cannot open", "... says so");
}

/* One node with @field replaced, or the whole document when @field is NULL. */
static void refused(const char *doc, const char *want)
{
	struct scenario s;
	char err[512] = "";
	int rc;

	scenario_init(&s);
	scenario_load_string(&s, GOOD, err, sizeof(err));
	rc = scenario_load_string(&s, doc, err, sizeof(err));
	if (!ok(rc == -EINVAL && strstr(err, want), "refused: %s", want))
		printf("#   rc %d, message '%s'\n#   document %s\n", rc, err, doc);
	is_int(s.node_count, 2, "... the scenario loaded before is kept");
	scenario_done(&s);
}

#define NODE(extra) "{ \"nodes\": [ { \"address\": 1, \"uuid\": \"00112233445566778899aabbccddeeff\", " \
		    "\"fwid\": \"5900\"" extra " } ] }"

static void test_bad(void)
{
	static char many[200000];
	size_t n;

	refused("[]", "$: must be an object with \"nodes\"");
	refused("{}", "$: \"nodes\" is missing");
	refused("{ \"nodes\": {} }", "$.nodes: must be an array");
	refused("{ \"nodes\": [], \"speed\": 1 }", "$.speed: unknown field");
	refused("{ \"nodes\": [], \"hop_delay_ms\": -1 }", "$.hop_delay_ms: must be from 0");
	refused("{ \"nodes\": [], \"description\": 5 }", "$.description: must be a string");
	refused("{ \"nodes\": [ 5 ] }", "$.nodes[0]: must be an object");
	refused("{ \"nodes\": [ { \"uuid\": \"00112233445566778899aabbccddeeff\", \"fwid\": \"5900\" } ] }",
		"$.nodes[0]: \"address\" is missing");
	refused(NODE(", \"adress\": 2"), "$.nodes[0].adress: unknown field");
	refused(NODE(", \"hops\": 0"), "$.nodes[0].hops: must be from 1 to 127, got 0");
	refused(NODE(", \"hops\": 128"), "$.nodes[0].hops: must be from 1 to 127, got 128");
	refused(NODE(", \"hops\": 1.5"), "$.nodes[0].hops: must be an integer");
	refused(NODE(", \"elements\": 0"), "$.nodes[0].elements: must be from 1");
	refused(NODE(", \"loss_rate\": 1.5"), "$.nodes[0].loss_rate: must be a number from 0 to 1, got 1.5");
	refused(NODE(", \"loss_rate\": \"0.1\""), "$.nodes[0].loss_rate: must be a number");
	refused(NODE(", \"company_id\": 65536"), "$.nodes[0].company_id: must be from 0x0000 to 0xffff, got 65536");
	refused(NODE(", \"product_id\": \"0x\""), "$.nodes[0].product_id: must be an integer or a \"0x...\"");
	refused(NODE(", \"version_id\": \"12\""), "$.nodes[0].version_id: must be an integer or a \"0x...\"");
	refused(NODE(", \"name\": \"0123456789012345678901234567890123\""),
		"$.nodes[0].name: must be at most 32");
	refused(NODE(", \"name\": \"a\\nb\""), "$.nodes[0].name: must not contain control characters");
	refused("{ \"nodes\": [ { \"address\": 0, \"uuid\": \"00112233445566778899aabbccddeeff\", \"fwid\": \"5900\" "
		"} ] }", "$.nodes[0].address: must be from 0x0001 to 0x7fff, got 0");
	refused("{ \"nodes\": [ { \"address\": \"0x8000\", \"uuid\": \"00112233445566778899aabbccddeeff\", "
		"\"fwid\": \"5900\" } ] }", "$.nodes[0].address: must be from 0x0001 to 0x7fff, got \"0x8000\"");
	refused("{ \"nodes\": [ { \"address\": 32767, \"elements\": 2, \"uuid\": \"00112233445566778899aabbccddeeff\", "
		"\"fwid\": \"5900\" } ] }", "$.nodes[0].address: 0x7fff with 2 elements runs past");
	refused("{ \"nodes\": [ { \"address\": 1, \"uuid\": \"0011\", \"fwid\": \"5900\" } ] }",
		"$.nodes[0].uuid: must be 16 bytes (32 hex digits), got 2");
	refused("{ \"nodes\": [ { \"address\": 1, \"uuid\": \"00112233445566778899aabbccddeefg\", \"fwid\": \"5900\" "
		"} ] }", "$.nodes[0].uuid: must be a string of hex digits");
	refused("{ \"nodes\": [ { \"address\": 1, \"uuid\": \"00112233445566778899aabbccddeeff\", \"fwid\": \"59\" "
		"} ] }", "$.nodes[0].fwid: must be 2 to 108 bytes, got 1");
	refused("{ \"nodes\": [ { \"address\": 1, \"uuid\": \"00112233445566778899aabbccddeeff\", \"fwid\": \"590\" "
		"} ] }", "$.nodes[0].fwid: has an odd number of hex digits");
	refused("{ \"nodes\": [ { \"address\": 1, \"uuid\": \"00112233445566778899aabbccddeeff\", \"fwid\": 5900 "
		"} ] }", "$.nodes[0].fwid: must be a string of hex digits, got 5900");
	refused("{ \"nodes\": [ { \"address\": 1, \"elements\": 4, \"uuid\": \"00112233445566778899aabbccddeeff\", "
		"\"fwid\": \"5900\" }, { \"address\": 4, \"uuid\": \"00112233445566778899aabbccddee00\", "
		"\"fwid\": \"5900\" } ] }", "$.nodes[1].address: 0x0004..0x0004 overlaps $.nodes[0] (0x0001..0x0004)");
	refused("{ \"nodes\": [ { \"address\": 1, \"uuid\": \"00112233445566778899aabbccddeeff\", \"fwid\": \"5900\" },"
		" { \"address\": 9, \"uuid\": \"00112233445566778899AABBCCDDEEFF\", \"fwid\": \"5900\" } ] }",
		"$.nodes[1].uuid: the same UUID as $.nodes[0]");
	refused("{ \"nodes\": [], \"nodes\": [] }", "line 1");

	/* keys */
#define KEYS "\"net_keys\": [ { \"index\": 0, \"key\": \"00112233445566778899aabbccddeeff\" } ], " \
	     "\"app_keys\": [ { \"index\": 0, \"key\": \"00112233445566778899aabbccddeeff\" } ]"
	refused("{ \"nodes\": [], \"net_keys\": [] }", "$.net_keys: must be an array of 1 to 8 keys");
	refused("{ \"nodes\": [], \"app_keys\": [] }", "$.app_keys: needs \"net_keys\"");
	refused("{ \"nodes\": [], \"net_keys\": [ { \"index\": 0 } ] }", "$.net_keys[0]: \"key\" is missing");
	refused("{ \"nodes\": [], \"net_keys\": [ { \"index\": 4096, \"key\": \"00\" } ] }",
		"$.net_keys[0].index: must be from 0 to 4095");
	refused("{ \"nodes\": [], \"net_keys\": [ { \"index\": 0, \"key\": \"0011\" } ] }",
		"$.net_keys[0].key: must be 16 bytes");
	refused("{ \"nodes\": [], \"net_keys\": [ { \"index\": 0, \"key\": \"00112233445566778899aabbccddeeff\" }, "
		"{ \"index\": 0, \"key\": \"00112233445566778899aabbccddeeff\" } ] }", "$.net_keys[1].index: index 0 is "
		"used twice");
	refused("{ \"nodes\": [], \"net_keys\": [ { \"index\": 0, \"key\": \"00112233445566778899aabbccddeeff\" } ],"
		" \"app_keys\": [ { \"index\": 0, \"key\": \"00112233445566778899aabbccddeeff\", \"net_key\": 5 } ] }",
		"$.app_keys[0].net_key: the scenario has no network key 5");
	refused("{ \"nodes\": [], \"net_keys\": [ { \"index\": 0, \"key\": \"00112233445566778899aabbccddeeff\", "
		"\"phase\": 0 } ] }", "$.net_keys[0].phase: unknown field (known: index, key)");

	/* node state */
	refused(NODE(", \"device_key\": \"0011\""), "$.nodes[0].device_key: must be 16 bytes");
	refused(NODE(", \"features\": 16"), "$.nodes[0].features: must be from 0x0000 to 0x000f, got 16");
	refused(NODE(", \"crpl\": -1"), "$.nodes[0].crpl: must be from 0x0000");
	refused(NODE(", \"dfu\": 1"), "$.nodes[0].dfu: must be true or false, got 1");
	refused(NODE(", \"dfu\": true, \"composition\": [ { \"models\": [ 0 ] } ]"),
		"$.nodes[0].dfu: \"composition\" lists the models: leave \"dfu\" out");
	refused(NODE(", \"composition\": []"), "$.nodes[0].composition: must be an array of 1 to 255 elements");
	refused(NODE(", \"composition\": [ { \"models\": [ \"0x1402\" ] } ]"),
		"$.nodes[0].composition: the primary element must have the Configuration Server (0x0000)");
	refused(NODE(", \"composition\": [ { } ]"), "$.nodes[0].composition[0]: \"models\" is missing");
	refused(NODE(", \"composition\": [ { \"models\": [ 0 ], \"loc\": 1 } ]"),
		"$.nodes[0].composition[0].loc: unknown field (known: location, models)");
	refused(NODE(", \"composition\": [ { \"models\": [ 0, \"0x123456\" ] } ]"),
		"$.nodes[0].composition[0].models[1]: must be a SIG model id");
	refused(NODE(", \"composition\": [ { \"models\": [ 0, 65536 ] } ]"),
		"$.nodes[0].composition[0].models[1]: must be a SIG model id");
	refused(NODE(", \"composition\": [ { \"models\": [ 0, \"0x1402\", 5122 ] } ]"),
		"$.nodes[0].composition[0].models[2]: model 0x1402 on element 0 is listed twice");
	refused(NODE(", \"elements\": 3, \"composition\": [ { \"models\": [ 0 ] }, { \"models\": [] } ]"),
		"$.nodes[0].composition: has 2 elements, \"elements\" says 3");
	refused(NODE(", \"composition\": [ { \"models\": [ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, "
		     "18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32 ] } ]"),
		"$.nodes[0].composition[0].models[32]: a node has at most 32 models");
	refused("{ " KEYS ", \"nodes\": [ { \"address\": 1, \"uuid\": \"00112233445566778899aabbccddeeff\", "
		"\"fwid\": \"5900\", \"app_keys\": [ 7 ] } ] }",
		"$.nodes[0].app_keys[0]: the scenario has no application key 7");
	refused("{ " KEYS ", \"nodes\": [ { \"address\": 1, \"uuid\": \"00112233445566778899aabbccddeeff\", "
		"\"fwid\": \"5900\", \"net_keys\": [] } ] }",
		"$.nodes[0].net_keys: a node holds at least one network key");
	refused(NODE(", \"app_keys\": [ 0, 0 ]"), "$.nodes[0].app_keys[1]: application key 0 is listed twice");
	refused(NODE(", \"bindings\": [ { \"model\": \"0x1300\", \"app_key\": 0 } ]"),
		"$.nodes[0].bindings[0].model: the node has no model 0x1300 on element 0");
	refused(NODE(", \"bindings\": [ { \"model\": 0, \"app_key\": 0 } ]"),
		"$.nodes[0].bindings[0].model: the configuration models use the device key, they are not bound");
	refused(NODE(", \"bindings\": [ { \"model\": \"0x1402\", \"app_key\": 1 } ]"),
		"$.nodes[0].bindings[0].app_key: the node does not hold application key 1");
	refused(NODE(", \"bindings\": [ { \"model\": \"0x1402\" } ]"), "$.nodes[0].bindings[0]: \"app_key\" is "
		"missing");
	refused(NODE(", \"bindings\": [ { \"model\": \"0x1402\", \"app_key\": 0, \"key\": 0 } ]"),
		"$.nodes[0].bindings[0].key: unknown field (known: element, model, app_key)");
	refused(NODE(", \"bindings\": [ { \"model\": \"0x1402\", \"app_key\": 0 }, "
		     "{ \"model\": \"0x1402\", \"app_key\": 0 } ]"),
		"$.nodes[0].bindings[1].app_key: application key 0 is bound to this model twice");
	refused(NODE(", \"subscriptions\": [ { \"model\": \"0x1402\", \"address\": \"0x0100\" } ]"),
		"$.nodes[0].subscriptions[0].address: must be from 0xc000 to 0xfffe");
	refused(NODE(", \"subscriptions\": [ { \"model\": \"0x1402\", \"address\": \"0xFFFF\" } ]"),
		"$.nodes[0].subscriptions[0].address: must be from 0xc000 to 0xfffe");
	refused(NODE(", \"subscriptions\": [ { \"element\": 1, \"model\": \"0x1402\", \"address\": \"0xC000\" } ]"),
		"$.nodes[0].subscriptions[0].element: must be from 0 to 0, got 1");
	refused(NODE(", \"subscriptions\": [ { \"model\": 0, \"address\": \"0xC000\" } ]"),
		"$.nodes[0].subscriptions[0].model: the Configuration Server does not subscribe");
	{
		static char doc[4096];
		size_t len = (size_t)snprintf(doc, sizeof(doc), "{ \"nodes\": [ { \"address\": 1, \"uuid\": "
					      "\"00112233445566778899aabbccddeeff\", \"fwid\": \"5900\", "
					      "\"subscriptions\": [");

		for (int i = 0; i <= SCENARIO_SUBSCRIPTIONS_MAX; i++)
			len += (size_t)snprintf(doc + len, sizeof(doc) - len, "%s{ \"model\": \"0x1402\", "
						"\"address\": %d }", i ? ", " : "", 0xC000 + i);
		snprintf(doc + len, sizeof(doc) - len, "] } ] }");
		refused(doc, "$.nodes[0].subscriptions[8].address: a model subscribes to at most 8 addresses");
	}
	refused("{ \"nodes\": [ ", "line 1, column");

	/* one node more than the limit */
	n = (size_t)snprintf(many, sizeof(many), "{ \"nodes\": [");
	for (int i = 0; i <= SCENARIO_NODES_MAX && n < sizeof(many) - 16; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%s{}", i ? "," : "");
	snprintf(many + n, sizeof(many) - n, "] }");
	refused(many, "$.nodes: must have at most 4096 nodes, got 4097");
}

/* "radio" and "bench": the knobs by name with their Zephyr defaults, the bench's fields and defaults; one bad value
 * per rule. */
#define WITH(obj) "{ " obj ", \"nodes\": [ { \"address\": \"0x0100\", " \
		  "\"uuid\": \"00112233445566778899aabbccddeeff\", " \
		  "\"fwid\": \"5900\" }, { \"address\": \"0x0200\", \"uuid\": \"00112233445566778899aabbccddee00\", " \
		  "\"fwid\": \"5900\", \"dfu\": false } ] }"

static void test_radio_bench(void)
{
	struct radio_params zephyr;
	struct scenario s;
	char err[512] = "";
	int rc;

	radio_params_zephyr_default(&zephyr);
	scenario_init(&s);
	ok(memcmp(&s.radio, &zephyr, sizeof(zephyr)) == 0, "an empty scenario has Zephyr's radio defaults");
	rc = scenario_load_string(&s, GOOD, err, sizeof(err));
	is_int(rc, 0, "a scenario without \"radio\" loads (%s)", err);
	ok(memcmp(&s.radio, &zephyr, sizeof(zephyr)) == 0, "... with Zephyr's radio defaults");
	is_int(s.bench.image_size, SCENARIO_BENCH_IMAGE_DEFAULT, "... the bench's image size default");
	is_int(s.bench.mode, SCENARIO_BENCH_PUSH, "... push");
	is_int(s.bench.policy, SCENARIO_BENCH_APPLY, "... apply");
	is_int(s.bench.group, SCENARIO_BENCH_GROUP_DEFAULT, "... group 0xC000");
	is_int(s.bench.block_size_log, 0, "... block size from the capabilities");
	is_int(s.bench.n_targets, 0, "... every DFU-capable node");
	ok(!s.bench.sequential, "... not sequential");

	rc = scenario_load_string(&s, WITH("\"radio\": { \"advertiser\": \"legacy\", \"net_transmit_count\": 0, "
					   "\"collisions\": true, \"sar_seg_int_step\": 15, \"ttl\": 3 }, "
					   "\"bench\": { \"image_size\": 8192, \"block_size_log\": 10, \"chunk_size\": 64, "
					   "\"mode\": \"pull\", \"policy\": \"verify_only\", \"group\": \"unicast\", "
					   "\"ttl\": 0, \"timeout_base\": 5, \"sequential\": true, "
					   "\"targets\": [ \"0x0100\" ] }"), err, sizeof(err));
	is_int(rc, 0, "radio knobs and a bench by name load (%s)", err);
	is_int(s.radio.advertiser, RADIO_ADV_LEGACY, "advertiser legacy");
	is_int(s.radio.net_transmit_count, 0, "net_transmit_count 0");
	is_int(s.radio.collisions, 1, "collisions true");
	is_int(s.radio.sar_seg_int_step, 15, "sar_seg_int_step 15");
	is_int(s.radio.ttl, 3, "ttl 3");
	is_int(s.radio.relay_retransmit_count, zephyr.relay_retransmit_count, "a knob not named keeps its default");
	is_int(s.bench.image_size, 8192, "bench image_size");
	is_int(s.bench.block_size_log, 10, "bench block_size_log");
	is_int(s.bench.chunk_size, 64, "bench chunk_size");
	is_int(s.bench.mode, SCENARIO_BENCH_PULL, "bench mode pull");
	is_int(s.bench.policy, SCENARIO_BENCH_VERIFY_ONLY, "bench policy verify_only");
	is_int(s.bench.group, 0, "bench group unicast");
	is_int(s.bench.ttl, 0, "bench ttl 0");
	is_int(s.bench.timeout_base, 5, "bench timeout_base");
	ok(s.bench.sequential, "bench sequential");
	ok(s.bench.n_targets == 1 && s.bench.targets[0] == 0x0100, "bench targets [0x0100]");
	rc = scenario_load_string(&s, WITH("\"radio\": { \"advertiser\": 0 }, \"bench\": { \"group\": \"0xC123\", "
					   "\"block_size_log\": \"capabilities\", \"chunk_size\": \"capabilities\", "
					   "\"targets\": \"all\" }"), err, sizeof(err));
	is_int(rc, 0, "an enum knob as a number, \"capabilities\" and \"all\" load (%s)", err);
	ok(s.radio.advertiser == RADIO_ADV_LEGACY && s.bench.group == 0xC123 && s.bench.block_size_log == 0 &&
	   s.bench.chunk_size == 0 && s.bench.n_targets == 0, "... as given");
	scenario_done(&s);

	refused(WITH("\"radio\": 5"), "$.radio: must be an object of radio knobs");
	refused(WITH("\"radio\": { \"net_transmit_cnt\": 1 }"), "$.radio.net_transmit_cnt: unknown radio knob");
	refused(WITH("\"radio\": { \"net_transmit_count\": 8 }"), "$.radio.net_transmit_count: net_transmit_count: must");
	refused(WITH("\"radio\": { \"net_transmit_count\": -1 }"), "$.radio.net_transmit_count:");
	refused(WITH("\"radio\": { \"net_transmit_count\": \"2\" }"), "$.radio.net_transmit_count: must be an integer");
	refused(WITH("\"radio\": { \"net_transmit_count\": 1.5 }"), "$.radio.net_transmit_count: must be an integer");
	refused(WITH("\"radio\": { \"advertiser\": \"fast\" }"), "$.radio.advertiser:");
	refused(WITH("\"radio\": { \"collisions\": 2 }"), "$.radio.collisions:");
	refused(WITH("\"radio\": { \"ttl\": 1 }"), "$.radio");
	refused(WITH("\"bench\": []"), "$.bench: must be an object");
	refused(WITH("\"bench\": { \"size\": 1 }"), "$.bench.size: unknown field");
	refused(WITH("\"bench\": { \"image_size\": 0 }"), "$.bench.image_size: must be from 1");
	refused(WITH("\"bench\": { \"image_size\": 16777217 }"), "$.bench.image_size: must be from 1 to 16777216");
	refused(WITH("\"bench\": { \"block_size_log\": 5 }"), "$.bench.block_size_log: must be from 6 to 32");
	refused(WITH("\"bench\": { \"block_size_log\": \"caps\" }"), "$.bench.block_size_log: must be an integer");
	refused(WITH("\"bench\": { \"chunk_size\": 7 }"), "$.bench.chunk_size: must be from 8");
	refused(WITH("\"bench\": { \"mode\": \"poll\" }"), "$.bench.mode: must be \"push\" or \"pull\"");
	refused(WITH("\"bench\": { \"policy\": 1 }"), "$.bench.policy: must be \"apply\" or \"verify_only\"");
	refused(WITH("\"bench\": { \"group\": \"0x0100\" }"), "$.bench.group: must be from 0xc000 to 0xfffe");
	refused(WITH("\"bench\": { \"ttl\": 1 }"), "$.bench.ttl: must be 0 or 2..127");
	refused(WITH("\"bench\": { \"ttl\": 128 }"), "$.bench.ttl: must be from 0 to 127");
	refused(WITH("\"bench\": { \"timeout_base\": 65536 }"), "$.bench.timeout_base: must be from 0 to 65535");
	refused(WITH("\"bench\": { \"sequential\": 1 }"), "$.bench.sequential: must be true or false");
	refused(WITH("\"bench\": { \"targets\": [] }"), "$.bench.targets: must be \"all\" or a non-empty array");
	refused(WITH("\"bench\": { \"targets\": [ \"0x0300\" ] }"),
		"$.bench.targets[0]: 0x0300 is not the primary address of a node");
	refused(WITH("\"bench\": { \"targets\": [ \"0x0200\" ] }"), "$.bench.targets[0]: node 0x0200 is not DFU capable");
	refused(WITH("\"bench\": { \"targets\": [ \"0x0100\", 256 ] }"), "$.bench.targets[1]: 0x0100 is named twice");
	refused(WITH("\"bench\": { \"targets\": [ \"0x8000\" ] }"), "$.bench.targets[0]: must be from 0x0001 to 0x7fff");
}

int main(void)
{
	test_good();
	test_node_state();
	test_example();
	test_bad();
	test_radio_bench();
	return done_testing();
}
