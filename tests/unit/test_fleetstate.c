/* Unit tests for firmware_dongle/sim/fleetstate.c, the nodes' state file of --fleet-state: what Config messages
 * change in a fleet is written and read back into a fresh copy of the fleet (also the keys learned from MESH_CONFIG);
 * the debounce writes a burst of changes a few times, not once per change (counted with the module's write counter,
 * on a clock the test turns by hand); malformed files and files of another network are refused with their JSON path,
 * the fleet unchanged; nodes the fleet lacks, or has with another UUID or composition, are skipped and named. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fleet.h"
#include "fleetstate.h"
#include "tap.h"

#define NET_KEY "00112233445566778899aabbccddeeff"
#define APP_KEY "0f0e0d0c0b0a09080706050403020100"
#define APP_KEY_2 "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
#define DEV_A "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0"
#define DONGLE 0x0001

static const char SCENARIO[] =
	"{ \"net_keys\": [ { \"index\": 0, \"key\": \"" NET_KEY "\" } ],"
	"  \"app_keys\": [ { \"index\": 0, \"key\": \"" APP_KEY "\" }, { \"index\": 1, \"key\": \"" APP_KEY_2 "\" } ],"
	"  \"nodes\": ["
	"    { \"name\": \"lamp\", \"address\": \"0x0100\", \"elements\": 2, \"uuid\": \"00112233445566778899aabbccddee00\","
	"      \"fwid\": \"590001020304\", \"device_key\": \"" DEV_A "\", \"app_keys\": [ 0 ], \"bindings\": [] },"
	"    { \"name\": \"switch\", \"address\": \"0x0200\", \"dfu\": false,"
	"      \"uuid\": \"00112233445566778899aabbccddee01\", \"fwid\": \"59000300\" },"
	"    { \"address\": \"0x0300\", \"uuid\": \"00112233445566778899aabbccddee02\", \"fwid\": \"5900aa\","
	"      \"composition\": [ { \"models\": [ \"0x0000\", \"0x1400\", \"0x1402\", \"0x00590001\" ] } ],"
	"      \"bindings\": [ { \"model\": \"0x00590001\", \"app_key\": 0 } ] }"
	"  ] }";

static char dir[64];
static char path[128];
static uint8_t dev_a[16];

static void hex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void no_answer_wanted(void *ctx, const struct fleet_answer *a)
{
	struct fleet *f = ctx;

	fleet_cancel(f, a->id);         /* the state changed when the request arrived; the answer does not matter */
}

/* A Config message with the lamp's device key. */
static void config(struct fleet *f, const struct ma_msg *m)
{
	uint8_t payload[MA_PAYLOAD_MAX];
	struct msg_mesh_send s = { .dst = 0x0100, .devkey = true, .ttl = MSG_TTL_DEFAULT, .payload = payload };
	struct core_mesh_tx tx = { .src = DONGLE, .msg = &s };
	size_t len = 0;

	if (ma_encode(m, payload, sizeof(payload), &len) != MA_OK)
		return;
	s.payload_len = (uint16_t)len;
	memcpy(s.dev_key, dev_a, 16);
	fleet_handle(f, &tx, no_answer_wanted, f);
}

static void configure(struct fleet *f, const char *net_key, const char *app_key)
{
	struct msg_mesh_config cfg = { .address = DONGLE };

	hex(net_key, cfg.net_key, 16);
	hex(app_key, cfg.app_key, 16);
	fleet_configure(f, &cfg);
}

static void appkey_add(struct fleet *f, uint16_t app, const char *key)
{
	struct ma_msg m = { .opcode = MA_OP_APPKEY_ADD, .u.appkey = { .net_key_index = 0, .app_key_index = app } };

	hex(key, m.u.appkey.key, 16);
	config(f, &m);
}

static void bind(struct fleet *f, uint16_t elem, uint16_t app, uint16_t model)
{
	struct ma_msg m = { .opcode = MA_OP_MODEL_APP_BIND,
			    .u.model_app = { .elem_addr = elem, .app_key_index = app, .model = MA_SIG_MODEL(model) } };

	config(f, &m);
}

static void subscribe(struct fleet *f, uint32_t opcode, uint16_t elem, uint16_t group, uint16_t model)
{
	struct ma_msg m = { .opcode = opcode,
			    .u.model_sub = { .elem_addr = elem, .address = group, .model = MA_SIG_MODEL(model) } };

	config(f, &m);
}

static const struct scenario_model *model_of(const struct scenario *s, uint16_t node, uint8_t element, uint32_t id)
{
	for (size_t i = 0; i < s->node_count; i++) {
		const struct scenario_node *n = &s->nodes[i];

		for (size_t k = 0; n->address == node && k < n->n_models; k++)
			if (n->models[k].element == element && n->models[k].id == id)
				return &n->models[k];
	}
	return NULL;
}

static char *slurp(const char *file)
{
	FILE *in = fopen(file, "r");
	char *text = NULL;
	size_t len = 0;

	if (!in)
		return NULL;
	if (getdelim(&text, &len, '\0', in) < 0) {
		free(text);
		text = NULL;
	}
	fclose(in);
	return text;
}

static void spew(const char *file, const char *text)
{
	FILE *out = fopen(file, "w");

	if (out) {
		fputs(text, out);
		fclose(out);
	}
}

static void load_scenario(struct scenario *s, const char *json)
{
	char err[256] = "";

	scenario_init(s);
	if (scenario_load_string(s, json, err, sizeof(err)) < 0)
		printf("# the test scenario does not load: %s\n", err);
}

/* --- tests --- */

static void test_round_trip(void)
{
	struct scenario s, again;
	struct fleetstate_loaded loaded;
	const struct scenario_model *m;
	struct fleet f;
	char err[256] = "", path2[160];
	char *first, *second;
	struct stat st;
	uint64_t changes;

	load_scenario(&s, SCENARIO);
	is_int(fleet_init(&f, &s, 1), 0, "fleet_init()");
	configure(&f, NET_KEY, APP_KEY);
	is_int(f.changes, 0, "a MESH_CONFIG with keys the scenario names changes nothing");
	appkey_add(&f, 1, APP_KEY_2);
	is_int(f.changes, 1, "AppKey Add: one change");
	appkey_add(&f, 1, APP_KEY_2);
	is_int(f.changes, 1, "... the same again (a retry): none");
	bind(&f, 0x0100, 1, MA_MODEL_DFU_SRV);
	bind(&f, 0x0100, 0, MA_MODEL_DFU_SRV);
	bind(&f, 0x0101, 1, 0x1000);
	subscribe(&f, MA_OP_MODEL_SUB_ADD, 0x0100, 0xC001, MA_MODEL_DFU_SRV);
	subscribe(&f, MA_OP_MODEL_SUB_ADD, 0x0100, 0xC002, MA_MODEL_DFU_SRV);
	subscribe(&f, MA_OP_MODEL_SUB_DEL, 0x0100, 0xC001, MA_MODEL_DFU_SRV);
	is_int(f.changes, 7, "three binds, two Subscription Adds and a Delete: seven changes");
	changes = f.changes;
	bind(&f, 0x0100, 0, MA_MODEL_CFG_SRV);
	subscribe(&f, MA_OP_MODEL_SUB_DEL, 0x0100, 0xC001, MA_MODEL_DFU_SRV);
	is_int(f.changes, changes, "refused or idle Config messages change nothing");

	is_int(fleetstate_write(&f.state, path, err, sizeof(err)), 0, "fleetstate_write(): %s", err);
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the file is for its owner only (it holds keys)");
	snprintf(path2, sizeof(path2), "%s.tmp", path);
	ok(access(path2, F_OK) != 0, "no temporary file is left");

	load_scenario(&again, SCENARIO);
	is_int(fleetstate_load(&again, path, &loaded, err, sizeof(err)), 0, "the file loads over a fresh fleet: %s",
	       err);
	ok(loaded.found, "... found");
	is_int(loaded.restored, 3, "... three nodes restored");
	is_int(loaded.skipped, 0, "... none skipped");
	is_int(again.nodes[0].n_app_keys, 2, "the lamp holds two application keys again");
	ok(again.nodes[0].n_app_keys == 2 && again.nodes[0].app_keys[1].index == 1 &&
	   memcmp(again.nodes[0].app_keys[1].key, f.state.nodes[0].app_keys[1].key, 16) == 0,
	   "... key 1 with its value");
	m = model_of(&again, 0x0100, 0, MA_MODEL_DFU_SRV);
	ok(m && m->n_bindings == 2 && m->bindings[0] == 1 && m->bindings[1] == 0,
	   "its Firmware Update Server is bound to keys 1 and 0, in that order");
	ok(m && m->n_subscriptions == 1 && m->subscriptions[0] == 0xC002, "... and subscribes to 0xC002 only");
	m = model_of(&again, 0x0100, 1, 0x1000);
	ok(m && m->n_bindings == 1 && m->bindings[0] == 1, "the OnOff Server of its second element is bound to key 1");
	m = model_of(&again, 0x0300, 0, 0x00590001);
	ok(m && m->vendor && m->n_bindings == 1, "the sensor's vendor model keeps its binding");
	m = model_of(&again, 0x0200, 0, 0x1000);
	ok(m && m->n_bindings == 2, "the switch keeps its default bindings (both keys)");

	snprintf(path2, sizeof(path2), "%s/again.json", dir);
	is_int(fleetstate_write(&again, path2, err, sizeof(err)), 0, "the loaded fleet is written again");
	first = slurp(path);
	second = slurp(path2);
	ok(first && second && strcmp(first, second) == 0, "... the same bytes: every node is as the fleet had it");
	has_str(first, "{\"format\":\"meshfleet-sim fleet state\",\"version\":1,", "the file names its format");
	has_str(first, "\n{\"address\":\"0x0100\",\"uuid\":\"00112233445566778899aabbccddee00\",",
		"one node per line, by address and UUID");
	has_str(first, "{\"element\":0,\"model\":\"0x1402\",\"bindings\":[1,0],\"subscriptions\":[\"0xc002\"]}",
		"a model with its bindings and subscriptions");
	free(first);
	free(second);
	unlink(path2);
	scenario_done(&again);

	/* no file: nothing changes */
	load_scenario(&again, SCENARIO);
	snprintf(path2, sizeof(path2), "%s/none.json", dir);
	is_int(fleetstate_load(&again, path2, &loaded, err, sizeof(err)), 0, "no file: 0");
	ok(!loaded.found, "... not found");
	ok(memcmp(again.nodes, s.nodes, 3 * sizeof(*again.nodes)) == 0, "... the fleet as the scenario says");
	scenario_done(&again);
	fleet_done(&f);
	scenario_done(&s);
}

static void test_debounce(void)
{
	struct scenario s;
	struct fleetstate fs;
	char err[256] = "", bad[160];
	uint64_t t, writes_before;
	int e, failed = 0;

	load_scenario(&s, SCENARIO);
	unlink(path);
	fleetstate_init(&fs, path, 200);
	is_int(fleetstate_due(&fs), FLEETSTATE_NEVER, "nothing changed: nothing due");
	is_int(fleetstate_save(&fs, &s, 0, err, sizeof(err)), 0, "... and nothing written");
	ok(access(path, F_OK) != 0, "... no file");

	/* a burst: a change every ms for a second of the clock, a save attempt after each */
	for (t = 0; t < 1000; t++) {
		fleetstate_changed(&fs, t);
		if (fleetstate_save(&fs, &s, t, err, sizeof(err)) < 0)
			failed++;
	}
	is_int(failed, 0, "no write failed: %s", err);
	is_int(fs.writes, 5, "1000 changes in 1000 ms: written at 0, 200, 400, 600 and 800 ms only");
	ok(fs.dirty, "... the changes after 800 ms are not written yet");
	is_int(fleetstate_due(&fs), 1000, "... they are due at 1000 ms");
	is_int(fleetstate_flush(&fs, &s, 999, err, sizeof(err)), 1, "fleetstate_flush() writes them at once");
	is_int(fs.writes, 6, "... six writes in all");
	is_int(fleetstate_flush(&fs, &s, 999, err, sizeof(err)), 0, "a second flush has nothing to write");
	is_int(fs.writes, 6, "... still six");

	/* after a quiet period, a change is written at once */
	fleetstate_changed(&fs, 5000);
	is_int(fleetstate_due(&fs), 5000, "a change after a quiet period is due at once");
	is_int(fleetstate_save(&fs, &s, 5000, err, sizeof(err)), 1, "... and written");

	/* a directory that is not there: the write fails, the state stays dirty, the retry waits an interval */
	snprintf(bad, sizeof(bad), "%s/missing/state.json", dir);
	fleetstate_init(&fs, bad, 200);
	fleetstate_changed(&fs, 10);
	e = fleetstate_save(&fs, &s, 10, err, sizeof(err));
	is_int(e, -ENOENT, "a file in a missing directory: -ENOENT");
	has_str(err, "cannot write", "... with the reason");
	ok(fs.dirty && fs.failures == 1 && fs.writes == 0, "... still dirty, one failure, no write");
	is_int(fleetstate_due(&fs), 210, "... the next try waits an interval");
	writes_before = fs.writes;
	is_int(fleetstate_save(&fs, &s, 100, err, sizeof(err)), 0, "... nothing tried before that");
	is_int(fs.writes + fs.failures, writes_before + 1, "... (no second attempt)");
	scenario_done(&s);
}

/* fleetstate_load() on @text must refuse with a message holding @want, and leave the fleet alone. */
static void refused(const char *text, const char *want, const char *what)
{
	struct scenario s, pristine;
	struct fleetstate_loaded loaded;
	char err[512] = "";

	load_scenario(&s, SCENARIO);
	load_scenario(&pristine, SCENARIO);
	spew(path, text);
	is_int(fleetstate_load(&s, path, &loaded, err, sizeof(err)), -EINVAL, "%s: refused", what);
	has_str(err, want, "... %s", want);
	ok(memcmp(s.nodes, pristine.nodes, 3 * sizeof(*s.nodes)) == 0, "... the fleet unchanged");
	scenario_done(&pristine);
	scenario_done(&s);
}

#define HEAD "{\"format\":\"meshfleet-sim fleet state\",\"version\":1,\"net_keys\":[{\"index\":0,\"key\":\"" NET_KEY \
	"\"}],\"app_keys\":[],\"nodes\":["
#define NODE(addr, uuid, models) \
	"{\"address\":\"" addr "\",\"uuid\":\"" uuid "\",\"net_keys\":[{\"index\":0,\"key\":\"" NET_KEY "\"}]," \
	"\"app_keys\":[{\"index\":0,\"net_key\":0,\"key\":\"" APP_KEY "\"}],\"models\":[" models "]}"
#define LAMP_UUID "00112233445566778899aabbccddee00"

static void test_malformed(void)
{
	refused("{\"format\": ", "line 1", "not JSON");
	refused("[]", "$.format: not a meshfleet-sim fleet state", "an array");
	refused("{\"nodes\": []}", "$.format: not a meshfleet-sim fleet state", "a scenario file");
	refused("{\"format\":\"meshfleet-sim fleet state\",\"version\":2}", "$.version", "another version");
	refused(HEAD "]", "line 1", "no closing brace");
	refused(HEAD "], \"extra\": 1}", "$.extra: unknown field", "an unknown field");
	refused(HEAD "], \"nodes\": []}", "duplicate", "a duplicate key");
	refused(HEAD NODE("0x0100", "0011", "") "]}", "$.nodes[0].uuid: must be 32 hex digits", "a short UUID");
	refused(HEAD NODE("0x9000", LAMP_UUID, "") "]}", "$.nodes[0].address: must be from 0x0001 to 0x7fff",
		"a group address as a node's");
	refused(HEAD NODE("0x0100", LAMP_UUID, "{\"element\":0,\"model\":\"0x1402\",\"bindings\":[3],"
		"\"subscriptions\":[]}") "]}", "$.nodes[0].models[0].bindings[0]: application key 3 is not one the node",
		"a binding to a key the node does not hold");
	refused(HEAD NODE("0x0100", LAMP_UUID, "{\"element\":0,\"model\":\"0x1402\",\"bindings\":[],"
		"\"subscriptions\":[\"0x0005\"]}") "]}", "$.nodes[0].models[0].subscriptions[0]: must be from 0xc000",
		"a unicast subscription");
	refused(HEAD NODE("0x0100", LAMP_UUID, "{\"element\":0,\"model\":\"0x0000\",\"bindings\":[0],"
		"\"subscriptions\":[]}") "]}", "the configuration models", "a bound Configuration Server");
	refused(HEAD NODE("0x0100", LAMP_UUID, "{\"element\":0,\"model\":\"0x1402\",\"bindings\":[0,1,2,3,4],"
		"\"subscriptions\":[]}") "]}", "$.nodes[0].models[0].bindings: has 5 entries; at most 4",
		"five bindings");
}

static void test_foreign(void)
{
	struct scenario s;
	struct fleetstate_loaded loaded;
	const struct scenario_model *m;
	char err[512] = "";

	refused("{\"format\":\"meshfleet-sim fleet state\",\"version\":1,\"net_keys\":[{\"index\":0,\"key\":"
		"\"ffffffffffffffffffffffffffffffff\"}],\"app_keys\":[],\"nodes\":[]}",
		"$.net_keys: another network's state: its network key 0 is not the fleet's", "another network key");
	refused("{\"format\":\"meshfleet-sim fleet state\",\"version\":1,\"net_keys\":[{\"index\":1,\"key\":\""
		NET_KEY "\"}],\"app_keys\":[],\"nodes\":[]}", "another network's state: it has no network key 0",
		"a network without the fleet's key index");
	refused(HEAD NODE("0x0100", LAMP_UUID, "") "," NODE("0x0100", LAMP_UUID, "") "]}",
		"$.nodes[1].address: 0x0100 appears twice", "a node twice");

	/* a node the fleet lacks, one with another UUID, one with a model the node has not: skipped, named */
	load_scenario(&s, SCENARIO);
	spew(path, HEAD NODE("0x0100", LAMP_UUID, "{\"element\":0,\"model\":\"0x1402\",\"bindings\":[0],"
			     "\"subscriptions\":[\"0xc005\"]}") ","
		   NODE("0x0200", "ffffffffffffffffffffffffffffffff", "") ","
		   NODE("0x0300", "00112233445566778899aabbccddee02", "{\"element\":1,\"model\":\"0x1000\","
			"\"bindings\":[0],\"subscriptions\":[]}") ","
		   NODE("0x0700", "00112233445566778899aabbccddee07", "") "]}");
	is_int(fleetstate_load(&s, path, &loaded, err, sizeof(err)), 0, "a file with strangers loads: %s", err);
	is_int(loaded.restored, 1, "... one node restored");
	is_int(loaded.skipped, 3, "... three skipped");
	is_str(loaded.skipped_text, "0x0200 (another UUID), 0x0300 (no model 0x1000 on element 1), "
	       "0x0700 (not in the fleet)", "... and named, with the reason");
	m = model_of(&s, 0x0100, 0, MA_MODEL_DFU_SRV);
	ok(m && m->n_bindings == 1 && m->n_subscriptions == 1 && m->subscriptions[0] == 0xC005,
	   "the lamp has the file's state");
	m = model_of(&s, 0x0200, 0, 0x1000);
	ok(m && m->n_bindings == 2, "the switch keeps the fleet's state (both keys bound)");
	m = model_of(&s, 0x0300, 0, 0x00590001);
	ok(m && m->n_bindings == 1, "the sensor keeps the fleet's (its vendor model's binding)");
	scenario_done(&s);
}

static void test_learned_keys(void)
{
	struct scenario s, again;
	struct fleetstate_loaded loaded;
	struct fleet f;
	char err[512] = "";
	uint8_t key[16];

	scenario_init(&s);
	is_int(scenario_load_builtin(&s, err, sizeof(err)), 0, "the built-in fleet (learned keys) loads");
	is_int(fleet_init(&f, &s, 1), 0, "fleet_init()");
	unlink(path);
	is_int(fleetstate_write(&f.state, path, err, sizeof(err)), 0, "before MESH_CONFIG: nothing to write");
	ok(access(path, F_OK) != 0, "... no file");
	configure(&f, "11111111111111111111111111111111", "22222222222222222222222222222222");
	is_int(f.changes, 1, "the first MESH_CONFIG gives the keys: a change to save");
	is_int(fleetstate_write(&f.state, path, err, sizeof(err)), 0, "written: %s", err);

	scenario_init(&again);
	scenario_load_builtin(&again, err, sizeof(err));
	is_int(fleetstate_load(&again, path, &loaded, err, sizeof(err)), 0, "loaded into a fresh built-in fleet: %s",
	       err);
	ok(!again.learn_keys, "... the keys are known now");
	hex("22222222222222222222222222222222", key, 16);
	ok(memcmp(again.app_keys[0].key, key, 16) == 0 && memcmp(again.nodes[4].app_keys[0].key, key, 16) == 0,
	   "... the learned application key, in the network and in the nodes");
	is_int(loaded.restored, 5, "... five nodes restored");
	scenario_done(&again);

	/* a learned fleet's file is another network's for a fleet whose keys the scenario names */
	load_scenario(&again, SCENARIO);
	is_int(fleetstate_load(&again, path, &loaded, err, sizeof(err)), -EINVAL,
	       "the learned fleet's file over a fleet with other keys: refused");
	has_str(err, "another network's state", "... as another network's");
	scenario_done(&again);
	fleet_done(&f);
	scenario_done(&s);
}

int main(void)
{
	snprintf(dir, sizeof(dir), "%s", "/tmp/test_fleetstate.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/fleet.json", dir);
	hex(DEV_A, dev_a, 16);
	test_round_trip();
	test_debounce();
	test_malformed();
	test_foreign();
	test_learned_keys();
	unlink(path);
	rmdir(dir);
	return done_testing();
}
