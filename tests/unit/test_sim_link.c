/* Integration test of meshfleet-sim over its pseudo-terminal, with a small host written on the protocol codec:
 * the command line and bad scenarios (refused with their JSON path), HELLO/ECHO/STATS, a window of requests in
 * flight, the simulated nodes answering Firmware Update Information Get through MESH_SEND/MESH_RECV, image upload
 * with SHA-256, resume after an unplug, reboot and RESET, the slot file across simulator runs, and the link under
 * 1e-3 byte corruption (plus dropped and duplicated bytes) and stalls, where every request completes through
 * retransmission and the committed SHA-256 proves no corrupted write was taken.
 *
 * The host and the simulator process are sim_client.c (shared with test_dist_sim.c), which finds the binary:
 * $MESHFLEET_SIM, else $MF_BUILDDIR/firmware_dongle/sim/meshfleet-sim, else SIM_PATH. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "mesh_access.h"
#include "sha256.h"
#include "sim_client.h"
#include "tap.h"

#define WAIT_MS SIM_WAIT_MS
#define FAST_TIMEOUT_MS 25     /* the fault test's call timeout */
#define MAX_EVENTS HOST_EVENTS_MAX

static struct host H;

static const uint8_t INFO_GET[] = { 0x83, 0x08, 0x00, 0xff };

static int info_get(struct host *h, uint16_t dst)
{
	struct msg m = { .type = MSG_MESH_SEND,
			 .u.mesh_send = { .dst = dst, .ttl = MSG_TTL_DEFAULT, .payload = INFO_GET, .payload_len = 4 } };

	return host_call(h, &m, NULL);
}

/* Collects MESH_RECV events for @ms; returns how many arrived, the first one's index in *ret_first. */
static unsigned collect_mesh_recv(struct host *h, int ms, unsigned *ret_first)
{
	int64_t end = now_ms() + ms;
	unsigned before = h->event_count, n = 0;

	while (now_ms() < end && !h->link_lost)
		host_pump(h, (int)(end - now_ms()));
	*ret_first = before;
	for (unsigned i = before; i < h->event_count; i++)
		n += h->events[i % MAX_EVENTS].type == MSG_MESH_RECV;
	return n;
}

/* ---------------------------------------------------------------- tests */

static const char SCENARIO[] =
	"{\n"
	"  \"description\": \"three nodes in range, one that never answers, one out of TTL range\",\n"
	"  \"hop_delay_ms\": 20,\n"
	"  \"nodes\": [\n"
	"    { \"name\": \"lamp-a\", \"address\": \"0x0100\", \"uuid\": \"00112233-4455-6677-8899-aabbccddeeff\",\n"
	"      \"company_id\": \"0x0059\", \"product_id\": 1, \"version_id\": 2, \"fwid\": \"59000102\",\n"
	"      \"hops\": 1 },\n"
	"    { \"address\": 512, \"elements\": 2, \"uuid\": \"00112233445566778899aabbccddee01\",\n"
	"      \"fwid\": \"5900aabbccdd\", \"loss_rate\": 1 },\n"
	"    { \"address\": \"0x0300\", \"uuid\": \"00112233445566778899aabbccddee02\", \"fwid\": \"590003\",\n"
	"      \"hops\": 3, \"loss_rate\": 0.0 },\n"
	"    { \"address\": \"0x0400\", \"uuid\": \"00112233445566778899aabbccddee03\", \"fwid\": \"590004\",\n"
	"      \"hops\": 9 }\n"
	"  ]\n"
	"}\n";

static void test_command_line(void)
{
	char path[512], bad[512], link_file[512];
	const char *err;
	int status;

	status = sim_run_once((const char *const[]){ "--bogus", NULL }, &err);
	is_int(status, 2, "unknown option: exit 2");
	has_str(err, "unrecognized option '--bogus'", "... named on stderr");
	status = sim_run_once((const char *const[]){ "--corrupt", "2", NULL }, &err);
	is_int(status, 2, "--corrupt 2: exit 2");
	has_str(err, "bad value '2' for --corrupt: expected a probability from 0 to 1", "... with the reason");
	status = sim_run_once((const char *const[]){ "--slot-size", "1000", NULL }, &err);
	is_int(status, 2, "--slot-size 1000: exit 2");
	status = sim_run_once((const char *const[]){ "--stall-every", "100", NULL }, &err);
	is_int(status, 2, "--stall-every without --stall-for: exit 2");
	status = sim_run_once((const char *const[]){ "--help", NULL }, &err);
	is_int(status, 0, "--help: exit 0");

	snprintf(path, sizeof(path), "%s/missing.json", sim_tmpdir);
	status = sim_run_once((const char *const[]){ "--scenario", path, NULL }, &err);
	is_int(status, 2, "a missing scenario file: exit 2");
	has_str(err, "missing.json': cannot open: No such file", "... says so");

	snprintf(bad, sizeof(bad), "%s/bad.json", sim_tmpdir);
	write_file(bad, "{ \"nodes\": [ { \"address\": 1, \"uuid\": \"00112233445566778899aabbccddeeff\", "
			"\"fwid\": \"5900\" },\n { \"address\": 2, \"uuid\": \"00112233445566778899aabbccddee00\", "
			"\"fwid\": \"5900\", \"hops\": 0 } ] }");
	status = sim_run_once((const char *const[]){ "--scenario", bad, NULL }, &err);
	is_int(status, 2, "a scenario with hops 0: exit 2");
	has_str(err, "$.nodes[1].hops: must be from 1 to 127, got 0", "... refused with its JSON path and the reason");
	ok(strstr(err, "pty:") == NULL, "... before any pty exists");

	write_file(bad, "{ \"nodes\": [ { \"address\": 1, \n\"uuid\": \"0011\" } ");
	status = sim_run_once((const char *const[]){ "--scenario", bad, NULL }, &err);
	is_int(status, 2, "a scenario that is not JSON: exit 2");
	has_str(err, "line 2", "... with the line");

	snprintf(link_file, sizeof(link_file), "%s/not-a-link", sim_tmpdir);
	write_file(link_file, "precious");
	status = sim_run_once((const char *const[]){ "--link", link_file, NULL }, &err);
	is_int(status, 1, "--link over a regular file: exit 1");
	has_str(err, "File exists", "... refused, the file kept");
	is_str(read_text(link_file), "precious", "... untouched");
}

static void test_session(void)
{
	static uint8_t image[64 * 1024], big[1000];
	char scenario[512], link[512], target[128] = "";
	uint8_t hash[32];
	struct msg_hello hi;
	struct msg_slot_info info;
	struct msg_stats stats;
	struct reply r;
	struct sim s;
	unsigned first, n;
	int status;

	snprintf(scenario, sizeof(scenario), "%s/fleet.json", sim_tmpdir);
	write_file(scenario, SCENARIO);
	snprintf(link, sizeof(link), "%s/dongle", sim_tmpdir);
	if (!ok(sim_start(&s, (const char *const[]){ "--scenario", scenario, "--link", link, "--speed", "10",
						    "--slot-size", "256K", "--unplug-ms", "500", "--reboot-reason",
						    "watchdog", "--seed", "3", NULL }), "meshfleet-sim starts"))
		return;
	if (!ok(sim_wait_pty(&s), "it prints 'pty: PATH'")) {
		sim_stop(&s);
		return;
	}
	has_str(s.pty, "/dev/pts/", "... a pty");
	if (readlink(link, target, sizeof(target) - 1) < 0)
		target[0] = '\0';
	is_str(target, s.pty, "--link points at it");
	if (!ok(host_open(&H, link), "the link opens")) {
		sim_stop(&s);
		return;
	}

	/* HELLO, ECHO, STATS */
	is_int(host_hello(&H, &hi, 3), MSG_STATUS_OK, "HELLO: OK");
	is_int(hi.proto_major, MSG_VERSION_MAJOR, "HELLO: protocol %d", MSG_VERSION_MAJOR);
	is_int(hi.reset_reason, MSG_RESET_POWER_ON, "HELLO: reset reason POWER_ON");
	is_int(hi.slot_size, 256 * 1024, "HELLO: the slot size of --slot-size");
	is_int(hi.features & (MSG_FEATURE_MESH | MSG_FEATURE_SLOT | MSG_FEATURE_SIMULATED),
	       MSG_FEATURE_MESH | MSG_FEATURE_SLOT | MSG_FEATURE_SIMULATED, "HELLO: MESH, SLOT and SIMULATED");
	ok(hi.request_window >= 1 && hi.max_frame == FRAME_MAX_SIZE, "HELLO: window %u, max frame %u",
	   hi.request_window, hi.max_frame);
	fill_random(big, sizeof(big));
	struct msg echo = { .type = MSG_ECHO, .u.echo = { .data = big, .len = sizeof(big) } };
	ok(host_call(&H, &echo, &r) == MSG_STATUS_OK && r.m.u.echo.len == sizeof(big) &&
	   memcmp(r.m.u.echo.data, big, sizeof(big)) == 0, "ECHO of 1000 bytes");

	/* a full window of requests in flight, answered by id */
	uint32_t ids[64];
	unsigned answered = 0;
	for (unsigned i = 0; i < hi.request_window && i < 64; i++) {
		echo.u.echo = (struct msg_data){ .data = big + i, .len = (uint16_t)(100 + i) };
		ids[i] = H.next_id++;
		host_send(&H, &echo, ids[i], false);
	}
	for (unsigned i = 0; i < hi.request_window && i < 64; i++)
		answered += host_wait(&H, ids[i], MSG_ECHO, &r, WAIT_MS) == 1 && r.m.u.echo.len == 100 + i;
	is_int(answered, hi.request_window, "%u ECHOs in flight at once: each answered, by id", hi.request_window);

	struct msg st = { .type = MSG_STATS };
	ok(host_call(&H, &st, &r) == MSG_STATUS_OK && r.decoded == MSG_STATUS_OK, "STATS: OK");
	stats = r.m.u.stats;
	ok(stats.rx_frames >= 10 && stats.rx_bad_crc == 0, "STATS: %u frames, no CRC error", stats.rx_frames);

	/* the simulated nodes */
	is_int(info_get(&H, 0x0100), MSG_STATUS_NOT_CONFIGURED, "MESH_SEND before MESH_CONFIG: NOT_CONFIGURED");
	struct msg cfg = host_mesh_config(0x0001, 1000);
	ok(host_call(&H, &cfg, &r) == MSG_STATUS_OK && r.m.u.mesh_seq == 1000, "MESH_CONFIG: OK, sequence 1000");
	is_int(info_get(&H, 0x0100), MSG_STATUS_OK, "Firmware Update Information Get to 0x0100: OK");
	n = collect_mesh_recv(&H, 500, &first);
	is_int(n, 1, "... one MESH_RECV");
	if (n == 1) {
		const struct event *e = &H.events[first % MAX_EVENTS];
		static const uint8_t want[] = { 0x83, 0x09, 0x01, 0x00, 0x04, 0x59, 0x00, 0x01, 0x02, 0x00 };

		is_int(e->src, 0x0100, "... from 0x0100");
		ok(e->len == sizeof(want) && memcmp(e->payload, want, sizeof(want)) == 0,
		   "... Information Status: 1 image, first index 0, FWID 59000102, no URI");
	}
	is_int(info_get(&H, 0x0200), MSG_STATUS_OK, "Information Get to the node with loss rate 1: OK");
	is_int(collect_mesh_recv(&H, 300, &first), 0, "... no answer (300 ms, 3 s of virtual time)");
	is_int(info_get(&H, 0x0201), MSG_STATUS_OK, "Information Get to its second element");
	is_int(collect_mesh_recv(&H, 300, &first), 0, "... no answer (the server is on the primary element)");
	is_int(info_get(&H, 0xffff), MSG_STATUS_OK, "Information Get to all nodes");
	n = collect_mesh_recv(&H, 500, &first);
	is_int(n, 2, "... two answers: the lossy node and the one 9 hops away (TTL 7) stay silent");
	if (n == 2) {
		ok(H.events[first % MAX_EVENTS].src == 0x0100 && H.events[(first + 1) % MAX_EVENTS].src == 0x0300,
		   "... the near node first, the node 3 hops away second");
		ok(H.events[(first + 1) % MAX_EVENTS].seq == H.events[first % MAX_EVENTS].seq + 1,
		   "... with consecutive event numbers");
	}

	/* image upload */
	fill_random(image, sizeof(image));
	sha256(image, sizeof(image), hash);
	is_int(host_slot_image(&H, MSG_SLOT_BEGIN, sizeof(image), hash, 3), MSG_STATUS_OK, "SLOT_BEGIN 64 KiB: OK");
	is_int(host_upload(&H, image, 0, sizeof(image), 1024, 3), sizeof(image), "64 writes of 1 KiB: OK");
	is_int(host_slot_image(&H, MSG_SLOT_COMMIT, sizeof(image), hash, 3), MSG_STATUS_OK, "SLOT_COMMIT: SHA-256 matches");
	info = host_slot_info(&H);
	ok(info.state == MSG_SLOT_COMMITTED && info.bytes_written == sizeof(image) && !memcmp(info.sha256, hash, 32),
	   "SLOT_INFO: COMMITTED");
	/* a hash the bytes do not have */
	uint8_t wrong[32];
	memcpy(wrong, hash, 32);
	wrong[0] ^= 1;
	host_slot_image(&H, MSG_SLOT_BEGIN, 8192, wrong, 3);
	host_upload(&H, image, 0, 8192, 1024, 3);
	is_int(host_slot_image(&H, MSG_SLOT_COMMIT, 8192, wrong, 3), MSG_STATUS_SLOT_HASH_MISMATCH,
	       "SLOT_COMMIT of bytes with another SHA-256: SLOT_HASH_MISMATCH");

	/* unplug in the middle of an upload: the port vanishes, comes back on a new pty, the upload resumes */
	sha256(image, 40000, hash);
	host_slot_image(&H, MSG_SLOT_BEGIN, 40000, hash, 3);
	is_int(host_upload(&H, image, 0, 20480, 1024, 3), 20480, "20 KiB of a new image written");
	kill(s.pid, SIGUSR1);
	ok(host_wait_link_lost(&H), "SIGUSR1: the host sees the port go away");
	host_close(&H);
	ok(access(link, F_OK) != 0, "... the link is gone while unplugged");
	ok(sim_wait_pty(&s), "... and a new 'pty:' line comes after --unplug-ms");
	if (readlink(link, target, sizeof(target) - 1) < 0)
		target[0] = '\0';
	else
		target[strlen(s.pty)] = '\0';
	is_str(target, s.pty, "... the link points at the new pty");
	ok(host_open(&H, link), "the host reopens the link");
	is_int(host_hello(&H, &hi, 3), MSG_STATUS_OK, "HELLO after the replug");
	is_int(hi.reset_reason, MSG_RESET_POWER_ON, "... no reboot: the reset reason is still POWER_ON");
	info = host_slot_info(&H);
	ok(info.state == MSG_SLOT_WRITING && info.bytes_written == 20480, "SLOT_INFO: WRITING at 20480 (%u)",
	   info.bytes_written);
	is_int(host_upload(&H, image, info.bytes_written, 40000, 1024, 3), 40000, "the upload continues from there");
	is_int(host_slot_image(&H, MSG_SLOT_COMMIT, 40000, hash, 3), MSG_STATUS_OK, "SLOT_COMMIT after the unplug: OK");

	/* reboot: the pty stays, the core starts again */
	struct msg stats_req = { .type = MSG_STATS };
	host_call(&H, &stats_req, &r);
	uint32_t seq_before = r.m.u.stats.mesh_seq;
	kill(s.pid, SIGUSR2);
	int64_t end = now_ms() + WAIT_MS;
	do
		status = host_hello(&H, &hi, 1);
	while ((status != MSG_STATUS_OK || hi.reset_reason != MSG_RESET_WATCHDOG) && now_ms() < end);
	is_int(hi.reset_reason, MSG_RESET_WATCHDOG, "SIGUSR2: HELLO reports the --reboot-reason WATCHDOG");
	ok(hi.next_event_seq <= 2, "... event numbers start again (%u)", hi.next_event_seq);
	is_int(host_slot_info(&H).state, MSG_SLOT_COMMITTED, "... the slot survived");
	host_call(&H, &stats_req, &r);
	ok(r.m.u.stats.mesh_seq >= seq_before, "... the mesh sequence did not go back (%u >= %u)",
	   r.m.u.stats.mesh_seq, seq_before);
	is_int(info_get(&H, 0x0100), MSG_STATUS_NOT_CONFIGURED, "... mesh requests wait for MESH_CONFIG again");

	/* RESET */
	struct msg reset = { .type = MSG_RESET, .u.reset = { .mode = MSG_RESET_MODE_BOOTLOADER } };
	is_int(host_call(&H, &reset, NULL), MSG_STATUS_NOT_SUPPORTED, "RESET into a bootloader: NOT_SUPPORTED");
	reset.u.reset.mode = MSG_RESET_MODE_APP;
	is_int(host_call_tries(&H, &reset, NULL, 1), MSG_STATUS_OK, "RESET: OK");
	end = now_ms() + WAIT_MS;
	do
		status = host_hello(&H, &hi, 1);
	while ((status != MSG_STATUS_OK || hi.reset_reason != MSG_RESET_HOST) && now_ms() < end);
	is_int(hi.reset_reason, MSG_RESET_HOST, "after RESET, HELLO says HOST");

	host_close(&H);
	is_int(sim_stop(&s), 0, "SIGTERM: exit 0 (and no leak report)");
	ok(access(link, F_OK) != 0, "... the link is removed");
	has_str(read_text(s.err_path), "INFO slot: image of 65536 bytes committed", "the core's log lines on stderr");
}

/* The nodes' Configuration Server through the dongle: MESH_CONFIG's keys reach the fleet, the device key is checked,
 * and what a node was told survives the dongle's reboot (the state is the node's). */
static const char KEYED_SCENARIO[] =
	"{ \"hop_delay_ms\": 10,"
	"  \"net_keys\": [ { \"index\": 0, \"key\": \"11111111111111111111111111111111\" } ],"
	"  \"app_keys\": [ { \"index\": 0, \"key\": \"22222222222222222222222222222222\" } ],"
	"  \"nodes\": [ { \"address\": \"0x0100\", \"uuid\": \"00112233445566778899aabbccddee10\","
	"    \"fwid\": \"59000102\", \"device_key\": \"dddddddddddddddddddddddddddddddd\", \"bindings\": [] } ] }";

/* MESH_SEND of @m with device key byte @dev (16 times) to 0x0100; the decoded answer in *ret, if one comes. */
static unsigned config_call(struct host *h, uint8_t dev, const struct ma_msg *m, struct ma_msg *ret)
{
	static uint8_t payload[MA_PAYLOAD_MAX];
	struct msg req = { .type = MSG_MESH_SEND,
			   .u.mesh_send = { .dst = 0x0100, .devkey = true, .ttl = MSG_TTL_DEFAULT, .payload = payload } };
	unsigned first, n;
	size_t len = 0;

	if (ma_encode(m, payload, sizeof(payload), &len) != MA_OK)
		return 99;
	req.u.mesh_send.payload_len = (uint16_t)len;
	memset(req.u.mesh_send.dev_key, dev, sizeof(req.u.mesh_send.dev_key));
	if (host_call(h, &req, NULL) != MSG_STATUS_OK)
		return 98;
	n = collect_mesh_recv(h, 200, &first);
	if (n == 1) {
		const struct event *e = &h->events[first % MAX_EVENTS];

		if (ma_decode(e->payload, e->len, ret) != MA_OK)
			return 97;
	}
	return n;
}

static void test_node_state(void)
{
	const struct ma_msg bind = { .opcode = MA_OP_MODEL_APP_BIND,
				     .u.model_app = { .elem_addr = 0x0100, .app_key_index = 0,
						      .model = MA_SIG_MODEL(MA_MODEL_DFU_SRV) } };
	char scenario[512], link[512];
	struct msg cfg = host_mesh_config(0x0001, 0);
	struct msg_hello hi;
	struct ma_msg r;
	struct sim s;
	unsigned first;
	int64_t end;
	int status;

	snprintf(scenario, sizeof(scenario), "%s/keyed.json", sim_tmpdir);
	write_file(scenario, KEYED_SCENARIO);
	snprintf(link, sizeof(link), "%s/dongle3", sim_tmpdir);
	if (!ok(sim_start(&s, (const char *const[]){ "--scenario", scenario, "--link", link, "--speed", "10",
						    "--reboot-reason", "software", NULL }) &&
		sim_wait_pty(&s) && host_open(&H, link), "meshfleet-sim with a scenario with keys starts")) {
		sim_stop(&s);
		return;
	}
	host_hello(&H, NULL, 3);
	host_call(&H, &cfg, NULL);
	is_int(info_get(&H, 0x0100), MSG_STATUS_OK, "Information Get to a node with nothing bound: OK");
	is_int(collect_mesh_recv(&H, 200, &first), 0, "... no answer");
	is_int(config_call(&H, 0xee, &bind, &r), 0, "Model App Bind with another device key: no answer");
	is_int(config_call(&H, 0xdd, &bind, &r), 1, "Model App Bind with the node's device key: an answer");
	ok(r.opcode == MA_OP_MODEL_APP_STATUS && r.u.model_app.status == MA_CFG_SUCCESS, "... Model App Status, "
	   "Success");

	kill(s.pid, SIGUSR2);
	end = now_ms() + WAIT_MS;
	do
		status = host_hello(&H, &hi, 1);
	while ((status != MSG_STATUS_OK || hi.reset_reason != MSG_RESET_SOFTWARE) && now_ms() < end);
	is_int(hi.reset_reason, MSG_RESET_SOFTWARE, "the dongle reboots");
	host_call(&H, &cfg, NULL);
	is_int(info_get(&H, 0x0100), MSG_STATUS_OK, "after MESH_CONFIG again, Information Get: OK");
	is_int(collect_mesh_recv(&H, 300, &first), 1, "... the node answers: the binding outlived the dongle's reboot");
	host_close(&H);
	is_int(sim_stop(&s), 0, "SIGTERM: exit 0 (and no leak report)");
}

static void test_slot_file(void)
{
	static uint8_t image[20000];
	char slot[512], link[512], small[600];
	uint8_t hash[32];
	struct msg_slot_info info;
	struct reply r;
	struct sim s;
	const char *err;
	uint32_t seq = 0;

	snprintf(slot, sizeof(slot), "%s/slot.bin", sim_tmpdir);
	snprintf(link, sizeof(link), "%s/dongle2", sim_tmpdir);
	fill_random(image, sizeof(image));
	sha256(image, sizeof(image), hash);

	for (int run = 0; run < 3; run++) {
		if (!sim_start(&s, (const char *const[]){ "--slot-file", slot, "--slot-size", "64K", "--link", link,
							   NULL }) || !sim_wait_pty(&s) || !host_open(&H, link)) {
			ok(0, "meshfleet-sim with --slot-file starts (run %d)", run + 1);
			sim_stop(&s);
			return;
		}
		host_hello(&H, NULL, 3);
		info = host_slot_info(&H);
		struct msg st = { .type = MSG_STATS };
		host_call(&H, &st, &r);
		if (run == 0) {
			is_int(info.state, MSG_SLOT_EMPTY, "run 1: a new slot file is empty");
			struct msg cfg = host_mesh_config(0x0042, 0);
			host_call(&H, &cfg, NULL);
			unsigned first;

			for (int i = 0; i < 5; i++)
				info_get(&H, 0x0100);
			/* real time: five requests queue on the dongle's advertiser (~52 ms each with the radio model),
			 * then each answer is segmented SAR back: ~0.5 s for the fifth */
			ok(collect_mesh_recv(&H, 1500, &first) == 5 && H.events[first % MAX_EVENTS].src == 0x0100,
			   "run 1: without --scenario, node 0x0100 of the built-in fleet answers");
			host_call(&H, &st, &r);
			seq = r.m.u.stats.mesh_seq;
			host_slot_image(&H, MSG_SLOT_BEGIN, sizeof(image), hash, 3);
			is_int(host_upload(&H, image, 0, 10240, 1024, 3), 10240,
			       "run 1: 10 KiB written, then the simulator stops");
		} else if (run == 1) {
			ok(info.state == MSG_SLOT_WRITING && info.bytes_written == 8192,
			   "run 2: the slot file says WRITING at the last page boundary, 8192 (%u)",
			   info.bytes_written);
			ok(r.m.u.stats.mesh_seq >= seq, "run 2: mesh sequence %u >= %u from run 1",
			   r.m.u.stats.mesh_seq, seq);
			is_int(host_upload(&H, image, info.bytes_written, sizeof(image), 1024, 3), sizeof(image),
			       "run 2: the rest written");
			is_int(host_slot_image(&H, MSG_SLOT_COMMIT, sizeof(image), hash, 3), MSG_STATUS_OK,
			       "run 2: committed");
		} else {
			ok(info.state == MSG_SLOT_COMMITTED && !memcmp(info.sha256, hash, 32),
			   "run 3: COMMITTED, from the files");
		}
		host_close(&H);
		is_int(sim_stop(&s), 0, "run %d: exit 0", run + 1);
	}
	is_int(sim_run_once((const char *const[]){ "--slot-file", slot, "--slot-size", "128K", NULL }, &err), 2,
	       "the slot file with another --slot-size: exit 2");
	has_str(err, "has 65536 bytes, but the slot has 131072", "... says why");
	snprintf(small, sizeof(small), "%s.state", slot);
	write_file(small, "garbage");
	is_int(sim_run_once((const char *const[]){ "--slot-file", slot, "--slot-size", "64K", NULL }, &err), 2,
	       "a damaged state file: exit 2");
	has_str(err, "is not a meshfleet-sim state file", "... says so");
}

static void test_faults(void)
{
	static uint8_t image[32 * 1024], data[200];
	char link[512];
	uint8_t hash[32];
	struct msg_stats stats;
	struct reply r;
	struct sim s;
	int echoes_ok = 0, st;

	snprintf(link, sizeof(link), "%s/noisy", sim_tmpdir);
	if (!sim_start(&s, (const char *const[]){ "--link", link, "--corrupt", "1e-3", "--drop", "1e-4", "--dup",
						   "1e-4", "--seed", "7", "--quiet", NULL }) || !sim_wait_pty(&s) ||
	    !host_open(&H, link)) {
		ok(0, "meshfleet-sim --corrupt 1e-3 starts");
		sim_stop(&s);
		return;
	}
	H.call_timeout_ms = FAST_TIMEOUT_MS;      /* a pty answers in well under a millisecond */
	is_int(host_hello(&H, NULL, 20), MSG_STATUS_OK, "--corrupt 1e-3 --drop 1e-4 --dup 1e-4: HELLO");
	for (int i = 0; i < 200; i++) {
		struct msg echo = { .type = MSG_ECHO, .u.echo = { .data = data, .len = sizeof(data) } };

		fill_random(data, sizeof(data));
		st = host_call_tries(&H, &echo, &r, 20);
		echoes_ok += st == MSG_STATUS_OK && r.m.u.echo.len == sizeof(data) &&
			     memcmp(r.m.u.echo.data, data, sizeof(data)) == 0;
	}
	is_int(echoes_ok, 200, "200 ECHOs of 200 bytes: every one came back intact");
	fill_random(image, sizeof(image));
	sha256(image, sizeof(image), hash);
	is_int(host_slot_image(&H, MSG_SLOT_BEGIN, sizeof(image), hash, 20), MSG_STATUS_OK, "SLOT_BEGIN 32 KiB");
	is_int(host_upload(&H, image, 0, sizeof(image), 256, 20), sizeof(image), "128 writes of 256 bytes, with retries");
	is_int(host_slot_image(&H, MSG_SLOT_COMMIT, sizeof(image), hash, 20), MSG_STATUS_OK,
	       "SLOT_COMMIT: the SHA-256 matches, so no corrupted write was taken");
	struct msg stq = { .type = MSG_STATS };
	is_int(host_call_tries(&H, &stq, &r, 20), MSG_STATUS_OK, "STATS");
	stats = r.m.u.stats;
	ok(stats.rx_bad_crc + stats.rx_bad_frame > 0, "the dongle dropped damaged frames (%u CRC, %u other)",
	   stats.rx_bad_crc, stats.rx_bad_frame);
	ok(H.bad_frames > 0, "the host dropped damaged frames (%u)", H.bad_frames);
	ok(H.retransmits > 0 && stats.rx_duplicates > 0, "retransmissions (%u) and duplicates answered from the cache "
	   "(%u)", H.retransmits, stats.rx_duplicates);
	H.call_timeout_ms = HOST_CALL_TIMEOUT_MS;
	host_close(&H);
	is_int(sim_stop(&s), 0, "exit 0");

	/* stalls: the link stops for 60 of every 100 ms; requests wait, none is lost */
	if (!sim_start(&s, (const char *const[]){ "--link", link, "--stall-every", "100", "--stall-for", "60",
						   "--quiet", NULL }) || !sim_wait_pty(&s) || !host_open(&H, link)) {
		ok(0, "meshfleet-sim --stall-every starts");
		sim_stop(&s);
		return;
	}
	int64_t start = now_ms(), slowest = 0;
	int calls = 0;
	echoes_ok = 0;
	/* 400 ms of back-to-back calls cross the stalls at 100, 200 and 300 ms */
	while (now_ms() - start < 400 && calls < 100000) {
		struct msg echo = { .type = MSG_ECHO, .u.echo = { .data = data, .len = 10 } };
		int64_t t = now_ms();

		calls++;
		echoes_ok += host_call_tries(&H, &echo, &r, 20) == MSG_STATUS_OK;
		if (now_ms() - t > slowest)
			slowest = now_ms() - t;
	}
	is_int(echoes_ok, calls, "--stall-every 100 --stall-for 60: every ECHO answered (%d)", calls);
	ok(slowest >= 20, "... some waited for a stall to end (slowest %lld ms, all %lld ms)", (long long)slowest,
	   (long long)(now_ms() - start));
	host_close(&H);
	is_int(sim_stop(&s), 0, "exit 0");
}

int main(void)
{
	if (!sim_client_setup("simlink"))
		return 1;
	test_command_line();
	test_session();
	test_node_state();
	test_slot_file();
	test_faults();
	sim_client_cleanup();
	return done_testing();
}
