/* Unit tests for firmware_dongle/sim/scenario.c: a scenario with every field, the defaults, the example shipped in
 * docs, and one bad value per rule, each refused with its JSON path and reason and leaving the old scenario. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

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
	refused("{ \"nodes\": [ ", "line 1, column");

	/* one node more than the limit */
	n = (size_t)snprintf(many, sizeof(many), "{ \"nodes\": [");
	for (int i = 0; i <= SCENARIO_NODES_MAX && n < sizeof(many) - 16; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, "%s{}", i ? "," : "");
	snprintf(many + n, sizeof(many) - n, "] }");
	refused(many, "$.nodes: must have at most 4096 nodes, got 4097");
}

int main(void)
{
	test_good();
	test_example();
	test_bad();
	return done_testing();
}
