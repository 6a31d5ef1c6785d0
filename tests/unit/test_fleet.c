/* Unit tests for firmware_dongle/sim/fleet.c and fleetdb.c: the simulated nodes' Configuration Server (every status
 * code it answers), the key checks (a wrong network, device or application key gets no answer), group subscriptions,
 * state that outlives a dongle reboot, learned keys, and the CDB side: a generated fleet, its export, the export read
 * back, and a CDB the simulator refuses; through the radio model: deliveries and answers as events in time order,
 * the targets, hops, a silent group, loss and determinism. Messages are built and read with protocol/mesh_access.h,
 * as the daemon does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fleet.h"
#include "fleetdb.h"
#include "tap.h"

#define NET_KEY "00112233445566778899aabbccddeeff"
#define APP_KEY "0f0e0d0c0b0a09080706050403020100"
#define APP_KEY_2 "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
#define DEV_A "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0"
#define DONGLE 0x0001

static const char SCENARIO[] =
	"{ \"hop_delay_ms\": 20,"
	"  \"net_keys\": [ { \"index\": 0, \"key\": \"" NET_KEY "\" } ],"
	"  \"app_keys\": [ { \"index\": 0, \"key\": \"" APP_KEY "\" }, { \"index\": 1, \"key\": \"" APP_KEY_2 "\" } ],"
	"  \"nodes\": ["
	/* a DFU-capable lamp with two elements, application key 0, nothing bound */
	"    { \"name\": \"lamp\", \"address\": \"0x0100\", \"elements\": 2, \"product_id\": 7, \"version_id\": \"0x0102\","
	"      \"uuid\": \"00112233445566778899aabbccddee00\", \"fwid\": \"590001020304\", \"device_key\": \"" DEV_A "\","
	"      \"crpl\": 16, \"features\": 7, \"app_keys\": [ 0 ], \"bindings\": [] },"
	/* a switch without DFU, everything bound (the default), its device key derived from its UUID */
	"    { \"name\": \"switch\", \"address\": \"0x0200\", \"dfu\": false,"
	"      \"uuid\": \"00112233445566778899aabbccddee01\", \"fwid\": \"59000300\", \"hops\": 2 },"
	/* a sensor with its own composition and a vendor model, DFU bound and subscribed to 0xC001 */
	"    { \"address\": \"0x0300\", \"uuid\": \"00112233445566778899aabbccddee02\", \"fwid\": \"5900aa\","
	"      \"composition\": [ { \"location\": \"0x0100\", \"models\": [ \"0x0000\", \"0x1400\", 5122, \"0x1100\","
	"        \"0x00590001\" ] } ],"
	"      \"bindings\": [ { \"model\": \"0x1402\", \"app_key\": 0 }, { \"model\": \"0x1400\", \"app_key\": 0 } ],"
	"      \"subscriptions\": [ { \"model\": \"0x1402\", \"address\": \"0xC001\" } ] }"
	"  ] }";

/* --- a dongle in front of the fleet --- */

#define MAX_ANSWERS 64

static struct fleet_answer answers[MAX_ANSWERS];
static unsigned n_answers;

static void on_answer(void *ctx, const struct fleet_answer *a)
{
	(void)ctx;
	if (n_answers < MAX_ANSWERS)
		answers[n_answers++] = *a;
}

static void hex(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		sscanf(s + 2 * i, "%2x", &v);
		out[i] = (uint8_t)v;
	}
}

static void configure(struct fleet *f, const char *net_key, const char *app_key)
{
	struct msg_mesh_config cfg = { .address = DONGLE };

	hex(net_key, cfg.net_key, 16);
	hex(app_key, cfg.app_key, 16);
	fleet_configure(f, &cfg);
}

/* Sends @m to @dst (with @dev_key as the device key, or an application key when NULL); returns the number of answers,
 * the first decoded into *ret (its source in *ret_src). */
static unsigned send(struct fleet *f, uint16_t dst, const uint8_t *dev_key, const struct ma_msg *m, struct ma_msg *ret,
		     uint16_t *ret_src)
{
	static uint8_t reply[FLEET_REPLY_MAX];
	uint8_t payload[MA_PAYLOAD_MAX];
	struct msg_mesh_send s = { .dst = dst, .devkey = dev_key != NULL, .ttl = MSG_TTL_DEFAULT, .payload = payload };
	struct core_mesh_tx tx = { .src = DONGLE, .msg = &s };
	size_t len = 0;
	unsigned n;

	if (ma_encode(m, payload, sizeof(payload), &len) != MA_OK)
		return 999;
	s.payload_len = (uint16_t)len;
	if (dev_key)
		memcpy(s.dev_key, dev_key, 16);
	n_answers = 0;
	fleet_handle(f, &tx, on_answer, NULL);
	n = n_answers;
	for (unsigned i = 0; i < n; i++) {
		struct msg_mesh_recv rx;

		if (!fleet_reply(f, answers[i].id, reply, &rx))
			return 998;
		if (i == 0) {
			if (ret && ma_decode(rx.payload, rx.payload_len, ret) != MA_OK)
				return 997;
			if (ret_src)
				*ret_src = rx.src;
			if (rx.dst != DONGLE || rx.devkey != (dev_key != NULL))
				return 996;
		}
	}
	return n;
}

static uint8_t dev_a[16];

static unsigned bind(struct fleet *f, uint16_t elem, uint16_t app, struct ma_model_id model, struct ma_msg *ret)
{
	struct ma_msg m = { .opcode = MA_OP_MODEL_APP_BIND,
			    .u.model_app = { .elem_addr = elem, .app_key_index = app, .model = model } };

	return send(f, 0x0100, dev_a, &m, ret, NULL);
}

static unsigned sub(struct fleet *f, uint32_t opcode, uint16_t elem, uint16_t group, struct ma_model_id model,
		    struct ma_msg *ret)
{
	struct ma_msg m = { .opcode = opcode, .u.model_sub = { .elem_addr = elem, .address = group, .model = model } };

	return send(f, 0x0100, dev_a, &m, ret, NULL);
}

static unsigned appkey_add(struct fleet *f, uint16_t net, uint16_t app, const char *key, struct ma_msg *ret)
{
	struct ma_msg m = { .opcode = MA_OP_APPKEY_ADD, .u.appkey = { .net_key_index = net, .app_key_index = app } };

	hex(key, m.u.appkey.key, 16);
	return send(f, 0x0100, dev_a, &m, ret, NULL);
}

static unsigned info_get(struct fleet *f, uint16_t dst, struct ma_msg *ret, uint16_t *ret_src)
{
	struct ma_msg m = { .opcode = MA_OP_FW_INFO_GET, .u.fw_info_get = { .first_index = 0, .entries_limit = 1 } };

	return send(f, dst, NULL, &m, ret, ret_src);
}

static const struct scenario_model *model_of(const struct fleet *f, uint16_t node, uint8_t element, uint16_t id)
{
	for (size_t i = 0; i < f->state.node_count; i++) {
		const struct scenario_node *n = &f->state.nodes[i];

		for (size_t k = 0; n->address == node && k < n->n_models; k++)
			if (n->models[k].element == element && n->models[k].id == id && !n->models[k].vendor)
				return &n->models[k];
	}
	return NULL;
}

/* --- tests --- */

static void test_scenario_fields(const struct scenario *s)
{
	const struct scenario_node *lamp = &s->nodes[0], *sw = &s->nodes[1], *sensor = &s->nodes[2];
	uint8_t derived[16];

	ok(!s->learn_keys && s->n_net_keys == 1 && s->n_app_keys == 2, "the scenario's keys: 1 network, 2 application");
	ok(memcmp(lamp->device_key, dev_a, 16) == 0, "device_key as given");
	scenario_default_device_key(sw->uuid, derived);
	ok(memcmp(sw->device_key, derived, 16) == 0, "no device_key: derived from the UUID");
	ok(scenario_node_dfu_capable(lamp) && !scenario_node_dfu_capable(sw) && scenario_node_dfu_capable(sensor),
	   "DFU capable: the lamp and the sensor, not the switch (\"dfu\": false)");
	is_int(lamp->n_models, 6, "the lamp's default composition: Config, Health, BLOB, DFU, OnOff + OnOff");
	is_int(lamp->crpl, 16, "crpl");
	is_int(lamp->features, 7, "features");
	is_int(lamp->n_app_keys, 1, "the lamp holds application key 0 only");
	{
		unsigned bound = 0;

		for (size_t i = 0; i < lamp->n_models; i++)
			bound += lamp->models[i].n_bindings;
		is_int(bound, 0, "the lamp: \"bindings\": [] binds nothing");
	}
	is_int(sw->n_app_keys, 2, "the switch holds every application key of its network key (the default)");
	ok(sw->models[1].n_bindings == 2 && sw->models[0].n_bindings == 0,
	   "the switch: every model but the Configuration Server bound to both (the default)");
	ok(sensor->n_models == 5 && sensor->models[4].vendor && sensor->models[4].id == 0x00590001 &&
	   sensor->locations[0] == 0x0100, "the sensor's composition, with a vendor model and a location");
	ok(sensor->models[2].n_bindings == 1 && sensor->models[2].n_subscriptions == 1 &&
	   sensor->models[2].subscriptions[0] == 0xC001, "the sensor's bindings and subscription");
}

static void test_config_server(struct fleet *f)
{
	const struct ma_model_id dfu = MA_SIG_MODEL(MA_MODEL_DFU_SRV), blob = MA_SIG_MODEL(MA_MODEL_BLOB_SRV);
	struct ma_msg r, comp_get = { .opcode = MA_OP_COMP_GET, .u.comp_page = 0xFF };
	uint8_t wrong[16];
	uint16_t src = 0;
	struct ma_comp0_iter it;
	struct ma_comp0_element e;
	unsigned elements = 0;
	uint64_t before;

	/* Composition Data */
	is_int(send(f, 0x0100, dev_a, &comp_get, &r, &src), 1, "Composition Data Get (page 0xFF) with the device key: "
	       "one answer");
	ok(r.opcode == MA_OP_COMP_STATUS && r.u.comp.page == 0 && src == 0x0100, "... page 0, from the primary element");
	ok(r.u.comp.page0.cid == 0x0059 && r.u.comp.page0.pid == 7 && r.u.comp.page0.vid == 0x0102 &&
	   r.u.comp.page0.crpl == 16 && r.u.comp.page0.features == 7, "... CID, PID, VID, CRPL, features");
	for (ma_comp0_iter_init(&it, &r.u.comp.page0); ma_comp0_next_element(&it, &e);)
		elements++;
	is_int(elements, 2, "... two elements");
	ok(ma_comp0_find_element(&r.u.comp.page0, (const uint16_t[]){ MA_MODEL_DFU_SRV, MA_MODEL_BLOB_SRV }, 2,
				 &(uint8_t){ 0 }), "... the DFU models on one element");

	/* the wrong device key: silent */
	memcpy(wrong, dev_a, 16);
	wrong[15] ^= 1;
	before = f->wrong_device_key;
	is_int(send(f, 0x0100, wrong, &comp_get, &r, NULL), 0, "another device key: no answer");
	is_int(f->wrong_device_key - before, 1, "... counted");
	before = f->ignored;
	is_int(send(f, 0x0101, dev_a, &comp_get, &r, NULL), 0, "to the second element: no answer (Config Server is on "
	       "the primary)");
	is_int(info_get(f, 0x0100, &r, NULL), 0, "Information Get with the application key, not bound: no answer");

	/* Model App Bind */
	is_int(bind(f, 0x0102, 0, dfu, &r), 1, "bind on 0x0102, past the node's elements: an answer");
	ok(r.opcode == MA_OP_MODEL_APP_STATUS && r.u.model_app.status == MA_CFG_INVALID_ADDRESS &&
	   r.u.model_app.elem_addr == 0x0102, "... Invalid Address, the request's fields echoed");
	bind(f, 0x0101, 0, dfu, &r);
	is_int(r.u.model_app.status, MA_CFG_INVALID_MODEL, "the DFU server on the second element: Invalid Model");
	bind(f, 0x0100, 0, MA_VND_MODEL(0x0059, 0x0001), &r);
	is_int(r.u.model_app.status, MA_CFG_INVALID_MODEL, "a vendor model the node lacks: Invalid Model");
	bind(f, 0x0100, 1, dfu, &r);
	is_int(r.u.model_app.status, MA_CFG_INVALID_APPKEY_INDEX, "application key 1, not on the node: Invalid AppKey "
	       "Index");
	bind(f, 0x0100, 0, MA_SIG_MODEL(MA_MODEL_CFG_SRV), &r);
	is_int(r.u.model_app.status, MA_CFG_CANNOT_BIND, "the Configuration Server: Cannot Bind");
	bind(f, 0x0100, 0, dfu, &r);
	is_int(r.u.model_app.status, MA_CFG_SUCCESS, "the DFU server with key 0: Success");
	bind(f, 0x0100, 0, dfu, &r);
	is_int(r.u.model_app.status, MA_CFG_SUCCESS, "... again: Success");
	is_int(model_of(f, 0x0100, 0, MA_MODEL_DFU_SRV)->n_bindings, 1, "... bound once");
	bind(f, 0x0100, 0, blob, &r);
	is_int(r.u.model_app.status, MA_CFG_SUCCESS, "the BLOB server: Success");

	/* Information Get once bound */
	is_int(info_get(f, 0x0100, &r, &src), 1, "Information Get, now bound: an answer");
	ok(r.opcode == MA_OP_FW_INFO_STATUS && r.u.fw_info.list_count == 1 && r.u.fw_info.entry_count == 1 &&
	   src == 0x0100, "... Firmware Update Information Status, one image");
	{
		struct ma_fw_iter fi;
		struct ma_fw_entry fe;

		ma_fw_iter_init(&fi, &r.u.fw_info);
		ok(ma_fw_next_entry(&fi, &fe) && fe.fwid_len == 6 && memcmp(fe.fwid, "\x59\x00\x01\x02\x03\x04", 6) == 0 &&
		   fe.uri_len == 0, "... its FWID, no URI");
	}
	is_int(send(f, 0x0100, dev_a, &(struct ma_msg){ .opcode = MA_OP_FW_INFO_GET, .u.fw_info_get = { 0, 1 } }, &r,
		    NULL), 0, "Information Get with the device key: no answer");

	/* AppKey Add */
	appkey_add(f, 0, 1, APP_KEY_2, &r);
	ok(r.opcode == MA_OP_APPKEY_STATUS && r.u.appkey.status == MA_CFG_SUCCESS && r.u.appkey.app_key_index == 1 &&
	   r.u.appkey.net_key_index == 0, "AppKey Add of key 1: Success, indexes echoed");
	appkey_add(f, 0, 1, APP_KEY_2, &r);
	is_int(r.u.appkey.status, MA_CFG_SUCCESS, "... the same key again: Success");
	appkey_add(f, 0, 1, APP_KEY, &r);
	is_int(r.u.appkey.status, MA_CFG_KEY_INDEX_ALREADY_STORED, "... index 1 with another key: Key Index Already "
	       "Stored");
	appkey_add(f, 3, 2, APP_KEY, &r);
	is_int(r.u.appkey.status, MA_CFG_INVALID_NETKEY_INDEX, "bound to network key 3, unknown: Invalid NetKey Index");
	for (uint16_t i = 2; i < SCENARIO_NODE_APP_KEYS_MAX; i++)
		appkey_add(f, 0, (uint16_t)(100 + i), APP_KEY, &r);
	is_int(r.u.appkey.status, MA_CFG_SUCCESS, "keys up to the node's %d: Success", SCENARIO_NODE_APP_KEYS_MAX);
	appkey_add(f, 0, 200, APP_KEY, &r);
	is_int(r.u.appkey.status, MA_CFG_INSUFFICIENT_RESOURCES, "one more: Insufficient Resources");
	bind(f, 0x0100, 1, dfu, &r);
	is_int(r.u.model_app.status, MA_CFG_SUCCESS, "key 1 now binds: Success");

	/* Model Subscription Add / Delete */
	sub(f, MA_OP_MODEL_SUB_ADD, 0x0100, 0xC000, dfu, &r);
	ok(r.opcode == MA_OP_MODEL_SUB_STATUS && r.u.model_sub.status == MA_CFG_SUCCESS &&
	   r.u.model_sub.address == 0xC000, "Subscription Add 0xC000 to the DFU server: Success");
	sub(f, MA_OP_MODEL_SUB_ADD, 0x0100, 0xC000, dfu, &r);
	is_int(r.u.model_sub.status, MA_CFG_SUCCESS, "... again: Success");
	is_int(model_of(f, 0x0100, 0, MA_MODEL_DFU_SRV)->n_subscriptions, 1, "... listed once");
	sub(f, MA_OP_MODEL_SUB_ADD, 0x0100, 0x0005, dfu, &r);
	is_int(r.u.model_sub.status, MA_CFG_INVALID_ADDRESS, "a unicast address: Invalid Address");
	sub(f, MA_OP_MODEL_SUB_ADD, 0x0100, 0xFFFF, dfu, &r);
	is_int(r.u.model_sub.status, MA_CFG_INVALID_ADDRESS, "all-nodes: Invalid Address");
	sub(f, MA_OP_MODEL_SUB_ADD, 0x0105, 0xC000, dfu, &r);
	is_int(r.u.model_sub.status, MA_CFG_INVALID_ADDRESS, "an element the node does not have: Invalid Address");
	sub(f, MA_OP_MODEL_SUB_ADD, 0x0100, 0xC000, MA_SIG_MODEL(0x1300), &r);
	is_int(r.u.model_sub.status, MA_CFG_INVALID_MODEL, "a model the node lacks: Invalid Model");
	sub(f, MA_OP_MODEL_SUB_ADD, 0x0100, 0xC000, MA_SIG_MODEL(MA_MODEL_CFG_SRV), &r);
	is_int(r.u.model_sub.status, MA_CFG_NOT_A_SUBSCRIBE_MODEL, "the Configuration Server: Not a Subscribe Model");
	for (uint16_t g = 1; g < SCENARIO_SUBSCRIPTIONS_MAX; g++)
		sub(f, MA_OP_MODEL_SUB_ADD, 0x0100, (uint16_t)(0xC100 + g), dfu, &r);
	is_int(r.u.model_sub.status, MA_CFG_SUCCESS, "groups up to the list's %d: Success", SCENARIO_SUBSCRIPTIONS_MAX);
	sub(f, MA_OP_MODEL_SUB_ADD, 0x0100, 0xC200, dfu, &r);
	is_int(r.u.model_sub.status, MA_CFG_INSUFFICIENT_RESOURCES, "one more: Insufficient Resources");
	sub(f, MA_OP_MODEL_SUB_DEL, 0x0100, 0xC101, dfu, &r);
	is_int(r.u.model_sub.status, MA_CFG_SUCCESS, "Subscription Delete: Success");
	is_int(model_of(f, 0x0100, 0, MA_MODEL_DFU_SRV)->n_subscriptions, SCENARIO_SUBSCRIPTIONS_MAX - 1,
	       "... one fewer");
	sub(f, MA_OP_MODEL_SUB_DEL, 0x0100, 0xC101, dfu, &r);
	is_int(r.u.model_sub.status, MA_CFG_SUCCESS, "... again, not there any more: Success");
	sub(f, MA_OP_MODEL_SUB_DEL, 0x0100, 0xC000, MA_SIG_MODEL(MA_MODEL_CFG_SRV), &r);
	is_int(r.u.model_sub.status, MA_CFG_NOT_A_SUBSCRIBE_MODEL, "Delete on the Configuration Server: Not a "
	       "Subscribe Model");
	(void)before;
}

static void test_groups_and_keys(struct fleet *f)
{
	struct ma_msg r;
	uint16_t src = 0;
	uint64_t before;

	is_int(info_get(f, 0xC000, &r, &src), 1, "Information Get to 0xC000: the lamp answers");
	is_int(src, 0x0100, "... from 0x0100");
	is_int(info_get(f, 0xC001, &r, &src), 1, "to 0xC001: the sensor answers");
	is_int(src, 0x0300, "... from 0x0300");
	is_int(info_get(f, 0xC002, &r, &src), 0, "to 0xC002, nobody's: no answer");
	is_int(info_get(f, 0xFFFF, &r, &src), 2, "to all nodes: the lamp and the sensor (the switch has no DFU server)");

	/* keys by value: the dongle reconfigured with another application key */
	configure(f, NET_KEY, APP_KEY_2);
	is_int(info_get(f, 0x0300, &r, NULL), 0, "the dongle with application key 2, which the sensor lacks: no answer");
	is_int(info_get(f, 0x0100, &r, NULL), 1, "... the lamp holds it (AppKey Add) and has it bound: an answer");
	configure(f, APP_KEY, APP_KEY);
	before = f->wrong_net_key;
	is_int(info_get(f, 0xFFFF, &r, NULL), 0, "another network key: nobody answers");
	is_int(f->wrong_net_key - before, 3, "... counted per node");
	configure(f, NET_KEY, APP_KEY);
}

static void test_reboot(struct fleet *f)
{
	struct ma_msg r;

	/* what the dongle does after a reboot: MESH_CONFIG again; the nodes are not the dongle */
	configure(f, NET_KEY, APP_KEY);
	is_int(model_of(f, 0x0100, 0, MA_MODEL_DFU_SRV)->n_bindings, 2, "after the dongle's reboot: the bindings stay");
	is_int(model_of(f, 0x0100, 0, MA_MODEL_DFU_SRV)->n_subscriptions, SCENARIO_SUBSCRIPTIONS_MAX - 1,
	       "... and the subscriptions");
	is_int(info_get(f, 0xC000, &r, NULL), 1, "... the group still answers");
}

static void test_learned_keys(void)
{
	struct scenario s;
	struct fleet f;
	char err[256] = "";
	struct ma_msg r;

	scenario_init(&s);
	is_int(scenario_load_builtin(&s, err, sizeof(err)), 0, "the built-in fleet loads");
	ok(s.learn_keys, "... it names no keys: learned");
	is_int(fleet_init(&f, &s, 1), 0, "fleet_init()");
	configure(&f, "11111111111111111111111111111111", "22222222222222222222222222222222");
	ok(!f.state.learn_keys, "the first MESH_CONFIG gives the keys");
	is_int(info_get(&f, 0x0100, &r, NULL), 1, "Information Get to 0x0100: an answer (bound by default)");
	configure(&f, "11111111111111111111111111111111", "33333333333333333333333333333333");
	is_int(info_get(&f, 0x0100, &r, NULL), 0, "another application key after that: no answer");
	fleet_done(&f);
	scenario_done(&s);
}

static void test_lost_answers(void)
{
	struct scenario s;
	struct fleet f;
	char err[256] = "";
	struct ma_msg r;
	unsigned answered = 0;

	scenario_init(&s);
	scenario_load_string(&s, "{ \"nodes\": [ { \"address\": 1, \"uuid\": \"00112233445566778899aabbccddeeff\", "
			     "\"fwid\": \"5900\", \"loss_rate\": 1, \"bindings\": [] } ] }", err, sizeof(err));
	fleet_init(&f, &s, 7);
	configure(&f, NET_KEY, APP_KEY);
	memcpy(dev_a, f.state.nodes[0].device_key, 16);
	for (int i = 0; i < 40; i++) {
		struct ma_msg m = { .opcode = MA_OP_MODEL_APP_BIND,
				    .u.model_app = { .elem_addr = 1, .app_key_index = 0,
						     .model = MA_SIG_MODEL(MA_MODEL_DFU_SRV) } };

		answered += send(&f, 1, dev_a, &m, &r, NULL);
		if (f.state.nodes[0].models[3].n_bindings > 0)
			break;
	}
	is_int(answered, 0, "a node with loss rate 1 never answers");
	is_int(f.state.nodes[0].models[3].n_bindings, 1, "... yet a request that reached it bound the key (the answer "
	       "was lost)");
	fleet_done(&f);
	scenario_done(&s);
	hex(DEV_A, dev_a, 16);
}

static unsigned counted;
static uint32_t last_id;

static void count_answer(void *ctx, const struct fleet_answer *a)
{
	(void)ctx;
	counted++;
	last_id = a->id;
}

/* More answers in flight than FLEET_ANSWERS_MAX: the rest are dropped and counted, and a delivered one makes room. */
static void test_answers_full(void)
{
	static const uint8_t get[] = { 0x83, 0x08, 0x00, 0x01 };
	struct msg_mesh_send m = { .dst = 0xFFFF, .ttl = MSG_TTL_DEFAULT, .payload = get, .payload_len = sizeof(get) };
	struct core_mesh_tx tx = { .src = DONGLE, .msg = &m };
	struct msg_mesh_config cfg = { .address = DONGLE };
	static uint8_t buf[FLEET_REPLY_MAX];
	struct msg_mesh_recv rx;
	struct scenario s;
	struct fleet f;
	unsigned dfu = 0, rounds;

	scenario_init(&s);
	fleetdb_generate(&s, SCENARIO_NODES_MAX, 11, 0);
	for (size_t i = 0; i < s.node_count; i++) {
		scenario_bind_all(&s.nodes[i]);
		dfu += scenario_node_dfu_capable(&s.nodes[i]);
	}
	fleet_init(&f, &s, 1);
	memcpy(cfg.net_key, s.net_keys[0].key, 16);
	memcpy(cfg.app_key, s.app_keys[0].key, 16);
	fleet_configure(&f, &cfg);
	counted = 0;
	rounds = FLEET_ANSWERS_MAX / dfu + 1;
	for (unsigned i = 0; i < rounds; i++)
		fleet_handle(&f, &tx, count_answer, NULL);
	is_int(counted, FLEET_ANSWERS_MAX, "%u Information Gets to %u DFU nodes: %d answers in flight, the limit",
	       rounds, dfu, FLEET_ANSWERS_MAX);
	is_int(f.answers_full, rounds * dfu - FLEET_ANSWERS_MAX, "... the others dropped and counted");
	ok(fleet_reply(&f, last_id, buf, &rx) && rx.payload_len > 4, "one delivered");
	ok(!fleet_reply(&f, last_id, buf, &rx), "... only once");
	counted = 0;
	fleet_handle(&f, &tx, count_answer, NULL);
	is_int(counted, 1, "... its room is used again");
	fleet_cancel(&f, last_id);
	ok(!fleet_reply(&f, last_id, buf, &rx), "a cancelled answer is not delivered");
	fleet_done(&f);
	scenario_done(&s);
}

/* --- fleetdb --- */

static char *dump(json_t *doc)
{
	char *text = json_dumps(doc, JSON_INDENT(2));

	json_decref(doc);
	return text;
}

static char *export_text(const struct scenario *s, struct cdb *base, uint64_t seed)
{
	json_t *doc = NULL;

	if (fleetdb_export(s, base, seed, &doc) != 0)
		return NULL;
	return dump(doc);
}

static void test_generate(void)
{
	struct scenario a, b;
	struct cdb *c = NULL;
	char *ta, *tb, *tc, err[256] = "";
	unsigned lights = 0, sensors = 0, switches = 0, dfu = 0, hops[FLEETDB_HOPS_MAX + 1] = { 0 };
	uint16_t next = FLEETDB_FIRST_ADDRESS;
	const char *wrong = NULL;

	scenario_init(&a);
	scenario_init(&b);
	is_int(fleetdb_generate(&a, 50, 1, 0.1), 0, "--generate 50 --seed 1");
	is_int(a.node_count, 50, "... 50 nodes");
	for (size_t i = 0; i < a.node_count; i++) {
		const struct scenario_node *n = &a.nodes[i];

		lights += strncmp(n->name, "light-", 6) == 0;
		sensors += strncmp(n->name, "sensor-", 7) == 0;
		switches += strncmp(n->name, "switch-", 7) == 0;
		dfu += scenario_node_dfu_capable(n);
		hops[n->hops]++;
		if (n->address != next)
			wrong = "an address";
		if (n->n_app_keys != 1 || n->loss_rate != 0.1)
			wrong = "keys or loss";
		next = (uint16_t)(next + n->elements);
		for (size_t m = 0; m < n->n_models; m++)
			if (!n->models[m].vendor && (n->models[m].id == MA_MODEL_DFU_SRV ||
						     n->models[m].id == MA_MODEL_BLOB_SRV) &&
			    (n->models[m].n_bindings || n->models[m].n_subscriptions))
				wrong = "a DFU model bound or subscribed";
	}
	is_str(wrong, NULL, "addresses contiguous, the application key on every node, the DFU models unbound and "
	       "unsubscribed");
	ok(next > FLEETDB_FIRST_ADDRESS + 50, "... some nodes have several elements (next address 0x%04x)", next);
	ok(lights >= 35 && sensors >= 5 && switches == 2, "a mix: %u lights, %u sensors, %u switches", lights, sensors,
	   switches);
	is_int(dfu, 48, "... all DFU capable but the switches");
	ok(hops[1] && hops[2] && hops[3] && hops[4], "hops spread over 1..4 (%u %u %u %u)", hops[1], hops[2], hops[3],
	   hops[4]);

	fleetdb_generate(&b, 50, 1, 0.1);
	ta = export_text(&a, NULL, 1);
	tb = export_text(&b, NULL, 1);
	ok(ta && tb && strcmp(ta, tb) == 0, "the same seed: the same export, byte for byte");
	fleetdb_generate(&b, 50, 2, 0.1);
	tc = export_text(&b, NULL, 2);
	ok(tc && strcmp(ta, tc) != 0, "another seed: another fleet");
	free(tc);

	/* export -> --cdb -> export */
	is_int(cdb_parse(ta, strlen(ta), &c, err, sizeof(err)), 0, "the export is a valid CDB: %s", err);
	is_int(fleetdb_from_cdb(&b, c, 1, 0.1, err, sizeof(err)), 0, "... the simulator reads it back: %s", err);
	ok(b.node_count == a.node_count && memcmp(b.nodes, a.nodes, a.node_count * sizeof(*a.nodes)) == 0 &&
	   memcmp(b.net_keys, a.net_keys, sizeof(a.net_keys)) == 0 && memcmp(b.app_keys, a.app_keys,
									  sizeof(a.app_keys)) == 0,
	   "... the same fleet: keys, FWIDs, hops, compositions, bindings");
	tc = export_text(&b, c, 1);
	ok(tc && strcmp(ta, tc) == 0, "... and the same export");
	free(tc);

	/* the export follows the nodes' state */
	{
		struct fleet f;
		json_t *doc = NULL;
		char *td;

		struct msg_mesh_config cfg = { .address = DONGLE };

		fleet_init(&f, &b, 1);
		memcpy(cfg.net_key, f.state.net_keys[0].key, 16);
		memcpy(cfg.app_key, f.state.app_keys[0].key, 16);
		fleet_configure(&f, &cfg);
		for (size_t i = 0; i < f.state.node_count; i++) {
			if (!scenario_node_dfu_capable(&f.state.nodes[i]) || f.state.nodes[i].hops > 1)
				continue;
			memcpy(dev_a, f.state.nodes[i].device_key, 16);
			f.state.nodes[i].loss_rate = 0;
			struct ma_msg m = { .opcode = MA_OP_MODEL_SUB_ADD,
					    .u.model_sub = { .elem_addr = f.state.nodes[i].address, .address = 0xC123,
							     .model = MA_SIG_MODEL(MA_MODEL_DFU_SRV) } }, r;

			is_int(send(&f, f.state.nodes[i].address, dev_a, &m, &r, NULL), 1,
			       "subscribe %s to 0xC123", f.state.nodes[i].name);
			break;
		}
		is_int(fleetdb_export(&f.state, c, 1, &doc), 0, "export after the change");
		td = dump(doc);
		ok(td && strstr(td, "\"C123\"") && strstr(td, "\"Group C123\""),
		   "... the subscription is in the export, and its group");
		free(td);
		fleet_done(&f);
		hex(DEV_A, dev_a, 16);
	}
	free(ta);
	free(tb);
	cdb_free(c);
	scenario_done(&a);
	scenario_done(&b);
}

static void test_scenario_export(void)
{
	struct scenario s, back;
	struct cdb *c = NULL;
	char err[256] = "", *text, *again;

	scenario_init(&s);
	scenario_init(&back);
	scenario_load_string(&s, SCENARIO, err, sizeof(err));
	text = export_text(&s, NULL, 5);
	is_int(cdb_parse(text, strlen(text), &c, err, sizeof(err)), 0, "a scenario's export is a valid CDB: %s", err);
	is_int(fleetdb_from_cdb(&back, c, 5, 0, err, sizeof(err)), 0, "... read back: %s", err);
	ok(back.node_count == 3 && back.nodes[2].n_models == 5 && back.nodes[2].models[4].vendor &&
	   back.nodes[2].models[2].subscriptions[0] == 0xC001 && back.nodes[2].locations[0] == 0x0100 &&
	   memcmp(back.nodes[0].device_key, s.nodes[0].device_key, 16) == 0,
	   "... compositions, vendor models, subscriptions, locations and device keys survive");
	again = export_text(&back, c, 5);
	ok(again && strcmp(text, again) == 0, "... and export the same");
	free(again);
	free(text);
	cdb_free(c);

	/* learned keys get values from the seed, for an export */
	scenario_load_builtin(&s, err, sizeof(err));
	fleetdb_fix_keys(&s, 5);
	ok(!s.learn_keys && memcmp(s.nodes[0].app_keys[0].key, s.app_keys[0].key, 16) == 0 &&
	   memcmp(s.app_keys[0].key, (uint8_t[16]){ 0 }, 16) != 0, "fleetdb_fix_keys(): the nodes hold the new keys");
	scenario_done(&s);
	scenario_done(&back);
}

static void test_bad_cdb(void)
{
	struct scenario s;
	struct cdb *c = NULL;
	char err[256] = "", *text;

	scenario_init(&s);
	fleetdb_generate(&s, 3, 9, 0);
	text = export_text(&s, NULL, 9);
	/* a node with 6 network keys: a CDB can hold them, a simulated node cannot */
	{
		json_t *doc = json_loads(text, 0, NULL), *keys = json_array(), *node;

		free(text);
		for (int i = 0; i < 5; i++) {
			json_t *k = json_object(), *nk = json_object();
			char hexkey[33];

			snprintf(hexkey, sizeof(hexkey), "%032d", i + 1);
			json_object_set_new(k, "name", json_string("k"));
			json_object_set_new(k, "index", json_integer(i + 1));
			json_object_set_new(k, "key", json_string(hexkey));
			json_object_set_new(k, "phase", json_integer(0));
			json_object_set_new(k, "minSecurity", json_string("secure"));
			json_object_set_new(k, "timestamp", json_string("2024-01-01T00:00:00Z"));
			json_array_append_new(json_object_get(doc, "netKeys"), k);
			json_object_set_new(nk, "index", json_integer(i + 1));
			json_object_set_new(nk, "updated", json_false());
			json_array_append_new(keys, nk);
		}
		node = json_array_get(json_object_get(doc, "nodes"), 1);
		json_array_extend(json_object_get(node, "netKeys"), keys);
		json_decref(keys);
		text = json_dumps(doc, 0);
		json_decref(doc);
	}
	is_int(cdb_parse(text, strlen(text), &c, err, sizeof(err)), 0, "a CDB whose second node holds 6 network keys "
	       "parses: %s", err);
	is_int(fleetdb_from_cdb(&s, c, 1, 0, err, sizeof(err)), -EINVAL, "... the simulator refuses it");
	has_str(err, "$.nodes[1]: holds 6 network keys; a simulated node holds at most 4", "... with the node's path");
	is_int(s.node_count, 3, "... the fleet loaded before is kept");
	free(text);
	cdb_free(c);
	scenario_done(&s);
}

/* --- the radio model: fleet_send() and the events, run here in time order --- */

#define QUEUE_MAX 256

static struct fleet_event queue[QUEUE_MAX];
static unsigned queued;

static int enqueue(void *ctx, const struct fleet_event *ev)
{
	(void)ctx;
	if (queued == QUEUE_MAX)
		return -ENOSPC;
	queue[queued++] = *ev;
	return 0;
}

struct arrival {
	uint64_t at;
	uint16_t src;
	uint16_t len;
	uint8_t payload[FLEET_REPLY_MAX];
};

/* Sends @payload from the dongle at @now and runs every event to the end; the answers that reached the dongle go to
 * @out (at most @cap); returns how many. */
static unsigned radio_exchange(struct fleet *f, uint64_t now, uint16_t dst, const uint8_t *dev_key,
			       const struct ma_msg *m, struct radio_tx *ret_tx, struct arrival *out, unsigned cap)
{
	uint8_t payload[MA_PAYLOAD_MAX], buf[FLEET_REPLY_MAX];
	struct msg_mesh_send ms = { .dst = dst, .devkey = dev_key != NULL, .ttl = MSG_TTL_DEFAULT, .payload = payload };
	struct core_mesh_tx tx = { .src = DONGLE, .msg = &ms };
	size_t len = 0;
	unsigned n = 0;

	if (ma_encode(m, payload, sizeof(payload), &len) != MA_OK)
		return 999;
	ms.payload_len = (uint16_t)len;
	if (dev_key)
		memcpy(ms.dev_key, dev_key, 16);
	queued = 0;
	if (fleet_send(f, &tx, now, enqueue, NULL, ret_tx) < 0)
		return 998;
	while (queued > 0) {
		unsigned first = 0;
		struct fleet_event ev;
		struct msg_mesh_recv rx;

		for (unsigned i = 1; i < queued; i++)
			if (queue[i].at_ms < queue[first].at_ms)
				first = i;
		ev = queue[first];
		queue[first] = queue[--queued];
		if (fleet_run_event(f, &ev, ev.at_ms, enqueue, NULL, buf, &rx) && n < cap) {
			out[n] = (struct arrival){ .at = ev.at_ms, .src = rx.src, .len = rx.payload_len };
			memcpy(out[n].payload, rx.payload, rx.payload_len);
			n++;
		}
	}
	return n;
}

static void test_radio_path(const struct scenario *s)
{
	struct ma_msg info = { .opcode = MA_OP_FW_INFO_GET, .u.fw_info_get = { .first_index = 0, .entries_limit = 1 } };
	struct ma_msg comp = { .opcode = MA_OP_COMP_GET, .u.comp_page = 0 };
	struct arrival got[4], again[4];
	struct scenario lossy;
	struct radio_tx tx;
	struct ma_msg st;
	struct fleet f, g;
	uint64_t lost;

	is_int(fleet_init(&f, s, 7), 0, "radio: fleet_init()");
	configure(&f, NET_KEY, APP_KEY);
	is_int(fleet_radio_init(&f, 7), 0, "radio: fleet_radio_init() with the scenario's knobs");
	ok(fleet_target(&f, 0) && !fleet_target(&f, 1) && fleet_target(&f, 2),
	   "radio: the DFU-capable nodes have an update target, the switch none");

	is_int(radio_exchange(&f, 1000, 0xC001, NULL, &info, &tx, got, 4), 1,
	       "radio: Information Get to 0xC001: one answer, from the subscribed sensor");
	is_int(got[0].src, 0x0300, "... from 0x0300");
	ok(ma_decode(got[0].payload, got[0].len, &st) == MA_OK && st.opcode == MA_OP_FW_INFO_STATUS,
	   "... an Information Status, answered by the target");
	ok(tx.start_us >= 1000000 && tx.done_us > tx.start_us, "... the dongle's message on the air from its send time "
	   "(%llu .. %llu us)", (unsigned long long)tx.start_us, (unsigned long long)tx.done_us);
	ok(got[0].at >= 1000 + TARGET_DELAY_MIN_MS, "... the answer after the access layer's delay (%llu ms)",
	   (unsigned long long)got[0].at);

	is_int(radio_exchange(&f, 5000, 0x0100, NULL, &info, &tx, got, 4), 0,
	       "radio: Information Get to the lamp, its server not bound: no answer");
	is_int(radio_exchange(&f, 6000, 0xC00F, NULL, &info, &tx, got, 4), 0,
	       "radio: to a group nobody subscribes: no answer ...");
	ok(tx.done_us > 6000000, "... yet the message took the dongle's advertiser");

	is_int(radio_exchange(&f, 10000, 0x0200, s->nodes[1].device_key, &comp, &tx, got, 4), 1,
	       "radio: Composition Data Get to the switch, two hops away: an answer");
	ok(got[0].at > 10000 + FLEET_PROCESSING_MS, "... after the request, the processing and two hops both ways "
	   "(%llu ms)", (unsigned long long)got[0].at);

	is_int(fleet_init(&g, s, 7), 0, "radio: a second fleet, the same seed");
	configure(&g, NET_KEY, APP_KEY);
	fleet_radio_init(&g, 7);
	radio_exchange(&f, 20000, 0xC001, NULL, &info, &tx, got, 4);
	radio_exchange(&g, 1000, 0xC001, NULL, &info, &tx, again, 4);
	radio_exchange(&g, 5000, 0x0100, NULL, &info, &tx, again, 4);
	radio_exchange(&g, 6000, 0xC00F, NULL, &info, &tx, again, 4);
	radio_exchange(&g, 10000, 0x0200, s->nodes[1].device_key, &comp, &tx, again, 4);
	radio_exchange(&g, 20000, 0xC001, NULL, &info, &tx, again, 4);
	ok(got[0].at == again[0].at, "... the same calls: the same answer times (%llu, %llu)",
	   (unsigned long long)got[0].at, (unsigned long long)again[0].at);
	fleet_done(&g);
	fleet_done(&f);

	lossy = *s;
	lossy.nodes = calloc(s->node_count, sizeof(*lossy.nodes));
	if (!ok(lossy.nodes != NULL, "radio: a copy of the scenario"))
		return;
	memcpy(lossy.nodes, s->nodes, s->node_count * sizeof(*lossy.nodes));
	lossy.nodes[2].loss_rate = 1;
	fleet_init(&f, &lossy, 7);
	configure(&f, NET_KEY, APP_KEY);
	fleet_radio_init(&f, 7);
	lost = f.radio_lost;
	is_int(radio_exchange(&f, 1000, 0xC001, NULL, &info, &tx, got, 4), 0,
	       "radio: a node with loss rate 1 never hears the request");
	ok(f.radio_lost > lost, "... counted as lost by the radio");
	fleet_done(&f);
	free(lossy.nodes);
}

int main(void)
{
	struct scenario s;
	struct fleet f;
	char err[512] = "";

	hex(DEV_A, dev_a, 16);
	scenario_init(&s);
	if (!ok(scenario_load_string(&s, SCENARIO, err, sizeof(err)) == 0, "the test scenario loads: %s", err))
		return done_testing();
	test_scenario_fields(&s);
	is_int(fleet_init(&f, &s, 1), 0, "fleet_init()");
	configure(&f, NET_KEY, APP_KEY);
	test_config_server(&f);
	test_groups_and_keys(&f);
	test_reboot(&f);
	is_int(s.nodes[0].models[3].n_bindings, 0, "the scenario itself is unchanged: the fleet has its own copy");
	fleet_done(&f);
	test_radio_path(&s);
	scenario_done(&s);
	test_learned_keys();
	test_lost_answers();
	test_answers_full();
	test_generate();
	test_scenario_export();
	test_bad_cdb();
	return done_testing();
}
