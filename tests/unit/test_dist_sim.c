/* End-to-end test of the Distributor in meshfleet-sim over its pseudo-terminal, with a host written on protocol/
 * alone (sim_client.c): 50 simulated update targets, an image uploaded into the slot, DIST_START in batches to a
 * group, the DIST_* events followed and every target's result read with DIST_TARGETS_GET:
 *   - one target per fault of the scenario (docs/simulator.md "Update targets"), each ending with the result and
 *     reason of docs/distribution.md and docs/protocol.md §7.20, every other target ok;
 *   - the host closes the link mid-distribution and comes back: HELLO, DIST_GET shows it still running with its
 *     progress, it completes, the results are read;
 *   - DIST_CANCEL mid-transfer (every target cancelled), DIST_SUSPEND long enough for the targets to suspend their
 *     own transfers, then DIST_RESUME (every target ok);
 *   - pull mode to a low-power node;
 *   - the requests the dongle refuses while a distribution runs (BUSY, BAD_STATE, DIST_UNKNOWN_ID, BAD_PARAM).
 * Determinism (same scenario and seed, byte-identical --bench report) is tests/integration/sim_bench.sh's.
 *
 * The simulator runs at SPEED times real time; every wait is bounded by virtual progress (the dongle's elapsed
 * time and uptime, VIRTUAL_BOUND_MS) or by SIM_WAIT_MS without any progress, never by an absolute time limit. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sha256.h"
#include "sim_client.h"
#include "tap.h"

#define SPEED "200"                     /* virtual time runs 200 times as fast as real time */
#define SEED "5"
#define TARGETS 50                      /* the distribution of the faults */
#define FIRST_ADDRESS 0x0100            /* the scenario's nodes: FIRST_ADDRESS .. + TARGETS - 1, then the LPN */
#define LPN_ADDRESS (FIRST_ADDRESS + TARGETS)
#define NODES (TARGETS + 1)
#define GROUP 0xC000                    /* the targets' BLOB Transfer and Firmware Update Servers subscribe to it */
#define GROUP_CANCEL 0xC001             /* ... the cancel wave's too, and the suspend wave's: every node listening */
#define GROUP_SUSPEND 0xC002            /* to a group takes part, listed or not, so each wave has its own */
#define CANCEL_FIRST (FIRST_ADDRESS + 10)
#define SUSPEND_FIRST (FIRST_ADDRESS + 20)
#define COMPANY_ID 0x0059               /* the scenario's default company: the FWID after the update starts with it */
#define IMAGE_SIZE 12288                /* three blocks of 4096 bytes: "at 50 %" falls inside block 1 */
#define WRITE_SIZE 1024                 /* SLOT_WRITE bytes per request */
#define BATCH 20                        /* DIST_START entries per request: 50 targets in 3 batches */
#define TIMEOUT_BASE 2                  /* targets wait 30 s, the dongle 40.7 s (TTL 7) for an answer */
#define VERSION_SIZE 8                  /* Zephyr-format metadata: major, minor, revision (2), build (4) */
#define FWID_SIZE (2 + VERSION_SIZE)    /* company id + version: how the targets name the new image */
#define VERSION_BASE 0x10               /* distribution n sends version 0x10 + n: never the nodes' 1.0.0 */
#define CALL_TRIES 5
#define PUMP_MS 20                      /* real ms between two DIST_GET while waiting */
#define VIRTUAL_BOUND_MS (60u * 60 * 1000)      /* virtual time one distribution may take in this test */
#define AWAY_MS 150                     /* real ms the host stays away (about 30 s of virtual time; not asserted) */
#define SUSPEND_FOR_S 45                /* virtual s suspended: beyond the targets' 30 s receive timeout */
#define SMALL_WAVE 10                   /* targets of the cancel and suspend distributions (>= 5: by group) */

/* The faulty nodes (addresses) and the virtual time before DIST_START (the late joiners are timed from it). */
enum {
	REJECTS_METADATA = FIRST_ADDRESS + 1,
	FAILS_VERIFICATION,
	SILENT_AT_50,
	REBOOTS_AT_50,
	KEEPS_OLD_FIRMWARE,
	JOINS_IN_TIME,                  /* joins while the dongle still retries Firmware Update Start */
	JOINS_TOO_LATE,                 /* joins after every retry */
	FAULTY_END,
};
#define START_AT_S 35                   /* DIST_START at about uptime 35 s; attempts until + 32.6 s (5 x 8.14 s) */
#define JOIN_IN_TIME_MS 60000           /* within the attempts, after the first ones */
#define JOIN_TOO_LATE_MS 3600000

struct expect {
	uint16_t address;
	const char *fault;
	uint8_t result, reason, phase;  /* phase only checked for a failed target */
};

/* docs/distribution.md's flow table and docs/protocol.md §7.20. A node rebooting at 50 % comes back with its BLOB
 * transfer Suspended and the chunks of block 1 lost (docs/simulator.md "Reboots", as Zephyr stores it); the
 * Distributor resumes targets only on DIST_RESUME ("Suspend, resume, cancel"), and the node's Block Status no
 * longer names the current block, so it is dropped in BLOCK with timeout_block, as Zephyr's client drops it.
 * "The host retries failed targets with a new distribution": test_retry() does, and there it ends ok. */
static const struct expect EXPECTED[] = {
	{ REJECTS_METADATA, "rejects_metadata", MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_METADATA_REJECTED,
	  MSG_DIST_PHASE_INITIATE },
	{ FAILS_VERIFICATION, "fails_verification", MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_VERIFICATION_FAILED,
	  MSG_DIST_PHASE_VERIFY },
	{ SILENT_AT_50, "silent_at 50", MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_TIMEOUT_BLOCK, MSG_DIST_PHASE_BLOCK },
	{ REBOOTS_AT_50, "reboots_at 50", MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_TIMEOUT_BLOCK, MSG_DIST_PHASE_BLOCK },
	{ KEEPS_OLD_FIRMWARE, "keeps_old_firmware", MSG_DIST_TARGET_FAILED,
	  MSG_DIST_REASON_WRONG_FIRMWARE_AFTER_APPLY, MSG_DIST_PHASE_CONFIRM },
	{ JOINS_IN_TIME, "joins_late within the retries", MSG_DIST_OK, MSG_DIST_REASON_NONE, 0 },
	{ JOINS_TOO_LATE, "joins_late after the retries", MSG_DIST_TARGET_FAILED, MSG_DIST_REASON_TIMEOUT_INITIATE,
	  MSG_DIST_PHASE_INITIATE },
};
#define EXPECTED_FAILED 6

static struct host H;
static uint8_t image[IMAGE_SIZE];
static uint8_t image_sha256[32];

/* ---------------------------------------------------------------- the events */

/* What the DIST_* events said; the record is DIST_GET / DIST_TARGETS_GET, the events a convenience. */
static struct {
	unsigned states, progress, targets, others;
	struct msg_dist_state_evt state;        /* the last one */
	struct msg_dist_progress last_progress;
	uint8_t result[NODES];                  /* by index in DIST_START's list, of the last DIST_TARGET */
} seen;

static void on_event(void *ctx, const struct frame_header *hd, const struct msg *m)
{
	(void)ctx;
	if (!m) {
		seen.others++;
		return;
	}
	switch (hd->type) {
	case MSG_DIST_STATE:
		seen.states++;
		seen.state = m->u.dist_state;
		break;
	case MSG_DIST_PROGRESS:
		seen.progress++;
		seen.last_progress = m->u.dist_progress;
		break;
	case MSG_DIST_TARGET:
		seen.targets++;
		if (m->u.dist_target.index < NODES)
			seen.result[m->u.dist_target.index] = m->u.dist_target.t.result;
		break;
	default:
		seen.others++;
		break;
	}
}

static void seen_reset(void)
{
	memset(&seen, 0, sizeof(seen));
}

/* ---------------------------------------------------------------- the scenario */

static void scenario_write(const char *path)
{
	static char text[NODES * 320 + 256];
	size_t len = 0;

	len += (size_t)snprintf(text + len, sizeof(text) - len,
				"{ \"description\": \"%d update targets with one fault each on a few, and a low-power "
				"node\",\n  \"nodes\": [\n", TARGETS);
	for (unsigned i = 0; i < NODES && len < sizeof(text); i++) {
		unsigned a = FIRST_ADDRESS + i;
		char extra[160] = "", subs[200] = "";
		unsigned group2 = a >= CANCEL_FIRST && a < CANCEL_FIRST + SMALL_WAVE ? GROUP_CANCEL :
				  a >= SUSPEND_FIRST && a < SUSPEND_FIRST + SMALL_WAVE ? GROUP_SUSPEND : 0;

		switch (a) {
		case REJECTS_METADATA:
			snprintf(extra, sizeof(extra), ", \"faults\": { \"rejects_metadata\": true }");
			break;
		case FAILS_VERIFICATION:
			snprintf(extra, sizeof(extra), ", \"faults\": { \"fails_verification\": true }");
			break;
		case SILENT_AT_50:
			snprintf(extra, sizeof(extra), ", \"faults\": { \"silent_at\": 50 }");
			break;
		case REBOOTS_AT_50:
			snprintf(extra, sizeof(extra), ", \"faults\": { \"reboots_at\": 50 }");
			break;
		case KEEPS_OLD_FIRMWARE:
			snprintf(extra, sizeof(extra), ", \"faults\": { \"keeps_old_firmware\": true }");
			break;
		case JOINS_IN_TIME:
			snprintf(extra, sizeof(extra), ", \"faults\": { \"joins_late\": %d }", JOIN_IN_TIME_MS);
			break;
		case JOINS_TOO_LATE:
			snprintf(extra, sizeof(extra), ", \"faults\": { \"joins_late\": %d }", JOIN_TOO_LATE_MS);
			break;
		case LPN_ADDRESS:
			/* 64 PDUs in its Friend's queue: 4 chunks per request (PULL_REQ_COUNT), every 500 ms */
			snprintf(extra, sizeof(extra), ", \"target\": { \"low_power\": true, \"poll_interval_ms\": 500, "
				 "\"friend_queue\": 64 }");
			break;
		default:
			break;
		}
		if (a != LPN_ADDRESS)   /* in no group: it takes part in the pull distribution only */
			snprintf(subs, sizeof(subs), "{ \"model\": \"0x1400\", \"address\": \"0x%04X\" }, "
				 "{ \"model\": \"0x1402\", \"address\": \"0x%04X\" }", GROUP, GROUP);
		if (group2)
			snprintf(subs + strlen(subs), sizeof(subs) - strlen(subs), ", { \"model\": \"0x1400\", "
				 "\"address\": \"0x%04X\" }, { \"model\": \"0x1402\", \"address\": \"0x%04X\" }",
				 group2, group2);
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"%s    { \"address\": %u, \"uuid\": \"6d657368666c656574%014x\", "
					"\"fwid\": \"59000100000000000000\", \"subscriptions\": [ %s ]%s }",
					i ? ",\n" : "", a, a, subs, extra);
	}
	if (len < sizeof(text))
		snprintf(text + len, sizeof(text) - len, "\n  ]\n}\n");
	write_file(path, text);
}

/* ---------------------------------------------------------------- the host's requests */

static int request(struct msg *m, struct reply *r)
{
	return host_call_tries(&H, m, r, CALL_TRIES);
}

static int dist_ctl(enum msg_type type, uint32_t id)
{
	struct msg m = { .type = type, .u.dist_id = id };

	return request(&m, NULL);
}

static int dist_get(struct msg_dist_info *ret)
{
	struct msg m = { .type = MSG_DIST_GET };
	struct reply r;
	int st = request(&m, &r);

	if (st == MSG_STATUS_OK && r.decoded != MSG_STATUS_OK)
		return -EBADMSG;
	if (st == MSG_STATUS_OK)
		*ret = r.m.u.dist_info;
	return st;
}

static uint32_t uptime_s(void)
{
	struct msg m = { .type = MSG_STATS };
	struct reply r;

	if (request(&m, &r) != MSG_STATUS_OK || r.decoded != MSG_STATUS_OK)
		return 0;
	return r.m.u.stats.uptime_s;
}

/* DIST_START of @n targets in batches of @batch, FWID and metadata of version VERSION_BASE + @major; the first
 * status not OK. */
static int dist_start(uint32_t id, uint16_t group, uint8_t mode, const uint16_t *addresses, uint16_t n,
		      uint16_t batch, uint8_t major)
{
	uint8_t metadata[VERSION_SIZE] = { (uint8_t)(VERSION_BASE + major) }, fwid[FWID_SIZE] = { COMPANY_ID & 0xff, COMPANY_ID >> 8 };
	uint8_t entries[BATCH * MSG_DIST_ENTRY_SIZE];

	memcpy(fwid + 2, metadata, VERSION_SIZE);
	if (batch > BATCH)
		batch = BATCH;
	for (uint16_t first = 0; first < n; first = (uint16_t)(first + batch)) {
		uint16_t count = (uint16_t)(n - first < batch ? n - first : batch);
		struct msg m = { .type = MSG_DIST_START };
		int st;

		for (uint16_t i = 0; i < count; i++) {
			entries[i * MSG_DIST_ENTRY_SIZE] = (uint8_t)addresses[first + i];
			entries[i * MSG_DIST_ENTRY_SIZE + 1] = (uint8_t)(addresses[first + i] >> 8);
			entries[i * MSG_DIST_ENTRY_SIZE + 2] = 0;
		}
		m.u.dist_start = (struct msg_dist_start){
			.id = id, .group = group, .app_key_index = 0, .ttl = MSG_TTL_DEFAULT,
			.timeout_base = TIMEOUT_BASE, .mode = mode, .policy = MSG_DIST_POLICY_APPLY,
			.total = n, .first = first, .count = count, .fwid = fwid, .fwid_len = sizeof(fwid),
			.metadata = metadata, .metadata_len = sizeof(metadata), .entries = entries,
		};
		memcpy(m.u.dist_start.sha256, image_sha256, sizeof(image_sha256));
		st = request(&m, NULL);
		if (st != MSG_STATUS_OK)
			return st;
	}
	return MSG_STATUS_OK;
}

/* Every target of the distribution, in pages of @page; returns how many were read (all of them: the total). */
static unsigned dist_targets(uint32_t id, struct msg_dist_target_info *ret, unsigned max, uint16_t page)
{
	unsigned n = 0;

	for (;;) {
		struct msg m = { .type = MSG_DIST_TARGETS_GET, .u.dist_page = { .first = (uint16_t)n, .max = page } };
		struct reply r;

		if (request(&m, &r) != MSG_STATUS_OK || r.decoded != MSG_STATUS_OK || r.m.u.dist_targets.id != id)
			return n;
		if (r.m.u.dist_targets.count == 0)
			return n;
		for (uint16_t i = 0; i < r.m.u.dist_targets.count && n < max; i++)
			ret[n++] = msg_dist_target_at(&r.m.u.dist_targets, i);
		if (n >= r.m.u.dist_targets.total || n >= max)
			return n;
	}
}

typedef bool (*dist_cond)(const struct msg_dist_info *info, const void *ctx);

static bool ended(const struct msg_dist_info *info, const void *ctx)
{
	(void)ctx;
	return info->state == MSG_DIST_COMPLETED || info->state == MSG_DIST_FAILED ||
	       info->state == MSG_DIST_CANCELLED;
}

/* In BLOCK at block *ctx or later (or past the blocks). */
static bool at_block(const struct msg_dist_info *info, const void *ctx)
{
	uint16_t block = *(const uint16_t *)ctx;

	return ended(info, NULL) || (info->phase == MSG_DIST_PHASE_BLOCK && info->block >= block) ||
	       info->phase > MSG_DIST_PHASE_BLOCK;
}

/* Asks DIST_GET until @cond holds for distribution @id. Bounded by virtual progress: gives up when the
 * distribution's elapsed time passes VIRTUAL_BOUND_MS, or when it stands still for SIM_WAIT_MS of real time. */
static bool dist_wait(uint32_t id, dist_cond cond, const void *ctx, struct msg_dist_info *ret)
{
	struct msg_dist_info info = { 0 };
	uint32_t last_elapsed = 0;
	int64_t last_change = now_ms();

	for (;;) {
		if (dist_get(&info) != MSG_STATUS_OK || info.id != id) {
			printf("#   DIST_GET: not distribution %u (id %u)\n", id, info.id);
			break;
		}
		if (cond(&info, ctx)) {
			*ret = info;
			return true;
		}
		if (info.elapsed_ms != last_elapsed) {
			last_elapsed = info.elapsed_ms;
			last_change = now_ms();
		}
		if (info.elapsed_ms > VIRTUAL_BOUND_MS || now_ms() - last_change > SIM_WAIT_MS) {
			printf("#   gave up at %s/%s, elapsed %u ms\n", msg_dist_state_to_string(info.state),
			       msg_dist_phase_to_string(info.phase), info.elapsed_ms);
			break;
		}
		host_pump(&H, PUMP_MS);
	}
	*ret = info;
	return false;
}

/* Waits until the dongle's uptime reaches @until_s (virtual), bounded as dist_wait(). */
static bool uptime_wait(uint32_t until_s)
{
	uint32_t last = 0, now;
	int64_t last_change = now_ms();

	while ((now = uptime_s()) < until_s) {
		if (now != last) {
			last = now;
			last_change = now_ms();
		}
		if (now_ms() - last_change > SIM_WAIT_MS)
			return false;
		host_pump(&H, PUMP_MS);
	}
	return true;
}

static const struct expect *expected(uint16_t address)
{
	for (size_t i = 0; i < sizeof(EXPECTED) / sizeof(EXPECTED[0]); i++)
		if (EXPECTED[i].address == address)
			return &EXPECTED[i];
	return NULL;
}

static void print_target(const struct msg_dist_target_info *t)
{
	printf("#   0x%04x: %s, %s, phase %s, status %u/%u, %u blocks\n", t->address,
	       msg_dist_result_to_string(t->result), msg_dist_reason_to_string(t->reason),
	       msg_dist_phase_to_string(t->phase), t->status_source, t->status, t->blocks_done);
}

/* ---------------------------------------------------------------- tests */

static void test_setup(void)
{
	struct msg cfg = host_mesh_config(0x0001, 0);
	struct msg_hello hi = { 0 };

	is_int(host_hello(&H, &hi, CALL_TRIES), MSG_STATUS_OK, "HELLO");
	ok(hi.features & MSG_FEATURE_DIST, "... the DIST feature (features 0x%x)", hi.features);
	ok(hi.max_targets >= NODES, "... room for %d targets (max_targets %u)", NODES, hi.max_targets);
	is_int(request(&cfg, NULL), MSG_STATUS_OK, "MESH_CONFIG");
	fill_random(image, sizeof(image));
	sha256(image, sizeof(image), image_sha256);
	is_int(host_slot_image(&H, MSG_SLOT_BEGIN, sizeof(image), image_sha256, CALL_TRIES), MSG_STATUS_OK,
	       "SLOT_BEGIN %d bytes", IMAGE_SIZE);
	is_int(host_upload(&H, image, 0, sizeof(image), WRITE_SIZE, CALL_TRIES), sizeof(image), "SLOT_WRITE all of it");
	is_int(host_slot_image(&H, MSG_SLOT_COMMIT, sizeof(image), image_sha256, CALL_TRIES), MSG_STATUS_OK,
	       "SLOT_COMMIT");
}

/* The refusals while distribution @id runs, for @total targets. */
static void check_refusals(uint32_t id, uint16_t total)
{
	uint16_t one = FIRST_ADDRESS + 40;
	struct msg m = { .type = MSG_DIST_TARGETS_GET, .u.dist_page = { .first = (uint16_t)(total + 1) } };

	is_int(dist_start(id + 100, GROUP, MSG_DIST_MODE_PUSH, &one, 1, 1, 1), MSG_STATUS_BUSY,
	       "DIST_START of another id while one runs: BUSY");
	is_int(host_slot_image(&H, MSG_SLOT_BEGIN, sizeof(image), image_sha256, CALL_TRIES), MSG_STATUS_BUSY,
	       "SLOT_BEGIN while it runs: BUSY (the image stays)");
	is_int(dist_ctl(MSG_DIST_RESUME, id), MSG_STATUS_BAD_STATE, "DIST_RESUME of a running distribution: BAD_STATE");
	is_int(dist_ctl(MSG_DIST_APPLY, id), MSG_STATUS_BAD_STATE, "DIST_APPLY of a running distribution: BAD_STATE");
	is_int(dist_ctl(MSG_DIST_CANCEL, id + 1000), MSG_STATUS_DIST_UNKNOWN_ID, "DIST_CANCEL of another id: "
	       "DIST_UNKNOWN_ID");
	is_int(request(&m, NULL), MSG_STATUS_BAD_PARAM, "DIST_TARGETS_GET from past the last target: BAD_PARAM");
}

static void test_faults_and_reconnect(const char *link)
{
	static struct msg_dist_target_info t[NODES];
	uint16_t addresses[TARGETS], block = 1;
	struct msg_dist_info before, after, end;
	unsigned n, ok_count = 0, disagree = 0;
	bool reached;

	for (unsigned i = 0; i < TARGETS; i++)
		addresses[i] = (uint16_t)(FIRST_ADDRESS + i);
	seen_reset();
	ok(uptime_wait(START_AT_S), "the dongle's clock reaches %d s (the late joiners count from the start)",
	   START_AT_S);
	is_int(dist_start(1, GROUP, MSG_DIST_MODE_PUSH, addresses, TARGETS, BATCH, 1), MSG_STATUS_OK,
	       "DIST_START of %d targets to group 0x%04X in batches of %d", TARGETS, GROUP, BATCH);
	is_int(dist_start(1, GROUP, MSG_DIST_MODE_PUSH, addresses, TARGETS, BATCH, 1), MSG_STATUS_OK,
	       "... every batch again: OK (idempotent by id)");
	is_int(dist_start(1, GROUP, MSG_DIST_MODE_PUSH, addresses, BATCH, BATCH, 1), MSG_STATUS_BAD_PARAM,
	       "... its first batch again with another total: BAD_PARAM");
	check_refusals(1, TARGETS);

	/* the host goes away in block 1 and comes back */
	reached = dist_wait(1, at_block, &block, &before);
	ok(reached && before.state == MSG_DIST_RUNNING, "the distribution reaches block 1 (%s/%s)", msg_dist_state_to_string(before.state),
	   msg_dist_phase_to_string(before.phase));
	host_close(&H);
	poll(NULL, 0, AWAY_MS);         /* how long the host is away; nothing depends on it */
	ok(host_open(&H, link), "the host reopens the link");
	is_int(host_hello(&H, NULL, CALL_TRIES), MSG_STATUS_OK, "... HELLO again");
	is_int(dist_get(&after), MSG_STATUS_OK, "... DIST_GET");
	ok(after.id == 1 && (after.state == MSG_DIST_RUNNING || ended(&after, NULL)),
	   "... distribution 1, still running or done (%s)", msg_dist_state_to_string(after.state));
	ok(after.elapsed_ms > before.elapsed_ms && after.blocks == before.blocks &&
	   (after.phase > before.phase || after.block >= before.block),
	   "... it went on while the host was away: %u -> %u ms, block %u -> %u of %u", before.elapsed_ms,
	   after.elapsed_ms, before.block, after.block, after.blocks);
	is_int(after.total, TARGETS, "... %d targets", TARGETS);

	reached = dist_wait(1, ended, NULL, &end);
	ok(reached, "the distribution ends (%u ms of virtual time)", end.elapsed_ms);
	is_int(end.state, MSG_DIST_COMPLETED, "... COMPLETED");
	is_int(end.phase, MSG_DIST_PHASE_DONE, "... phase DONE");
	is_int(end.succeeded, TARGETS - EXPECTED_FAILED, "... %d ok", TARGETS - EXPECTED_FAILED);
	is_int(end.failed, EXPECTED_FAILED, "... %d failed", EXPECTED_FAILED);
	is_int(end.pending + end.cancelled, 0, "... none pending or cancelled");
	is_int(end.blocks, IMAGE_SIZE / 4096, "... in %d blocks", IMAGE_SIZE / 4096);

	n = dist_targets(1, t, NODES, BATCH);
	is_int(n, TARGETS, "DIST_TARGETS_GET in pages of %d: every target", BATCH);
	for (unsigned i = 0; i < n; i++) {
		const struct expect *e = expected(t[i].address);

		if (t[i].address != addresses[i]) {
			ok(0, "target %u is 0x%04x (0x%04x)", i, addresses[i], t[i].address);
			continue;
		}
		if (!e) {
			bool good = t[i].result == MSG_DIST_OK && t[i].reason == MSG_DIST_REASON_NONE &&
				    t[i].blocks_done == IMAGE_SIZE / 4096;

			ok_count += good;
			if (!good)
				print_target(&t[i]);
			continue;
		}
		if (e->result == MSG_DIST_OK) {
			ok(t[i].result == MSG_DIST_OK && t[i].reason == MSG_DIST_REASON_NONE,
			   "0x%04x (%s): ok (%s, %s)", t[i].address, e->fault, msg_dist_result_to_string(t[i].result),
			   msg_dist_reason_to_string(t[i].reason));
		} else {
			ok(t[i].result == e->result && t[i].reason == e->reason && t[i].phase == e->phase,
			   "0x%04x (%s): %s, %s in %s (%s, %s in %s)", t[i].address, e->fault,
			   msg_dist_result_to_string(e->result), msg_dist_reason_to_string(e->reason),
			   msg_dist_phase_to_string(e->phase), msg_dist_result_to_string(t[i].result),
			   msg_dist_reason_to_string(t[i].reason), msg_dist_phase_to_string(t[i].phase));
		}
		if (t[i].address == REJECTS_METADATA)
			ok(t[i].status_source == MSG_DIST_STATUS_FU && t[i].status == 5,
			   "... with the target's status: Firmware Update, Metadata Check Failed (%u/%u)",
			   t[i].status_source, t[i].status);
	}
	is_int(ok_count, TARGETS - (int)(sizeof(EXPECTED) / sizeof(EXPECTED[0])), "every target without a fault: ok "
	       "with every block");

	/* the events (after the reconnect, the ones still due) */
	ok(seen.progress >= 1 && seen.states >= 1, "DIST_PROGRESS (%u) and DIST_STATE (%u) events arrived",
	   seen.progress, seen.states);
	ok(seen.state.id == 1 && seen.state.state == MSG_DIST_COMPLETED, "... the last DIST_STATE: COMPLETED (%s)",
	   msg_dist_state_to_string(seen.state.state));
	for (unsigned i = 0; i < n; i++)
		disagree += seen.result[i] != MSG_DIST_PENDING && seen.result[i] != t[i].result;
	is_int(disagree, 0, "the results of the DIST_TARGET events agree with DIST_TARGETS_GET");
	is_int(dist_ctl(MSG_DIST_CANCEL, 1), MSG_STATUS_BAD_STATE, "DIST_CANCEL of a COMPLETED distribution: "
	       "BAD_STATE");
}

static void test_cancel(void)
{
	static struct msg_dist_target_info t[SMALL_WAVE];
	uint16_t addresses[SMALL_WAVE], block = 0;
	struct msg_dist_info info;
	unsigned n, cancelled = 0;
	bool reached;

	for (unsigned i = 0; i < SMALL_WAVE; i++)
		addresses[i] = (uint16_t)(CANCEL_FIRST + i);
	seen_reset();
	is_int(dist_start(2, GROUP_CANCEL, MSG_DIST_MODE_PUSH, addresses, SMALL_WAVE, BATCH, 2), MSG_STATUS_OK,
	       "DIST_START 2: %d targets (it replaces the finished one)", SMALL_WAVE);
	reached = dist_wait(2, at_block, &block, &info);
	ok(reached && info.state == MSG_DIST_RUNNING && info.phase == MSG_DIST_PHASE_BLOCK, "... in the transfer (%s/%s)", msg_dist_state_to_string(info.state), msg_dist_phase_to_string(info.phase));
	is_int(dist_ctl(MSG_DIST_CANCEL, 2), MSG_STATUS_OK, "DIST_CANCEL mid-transfer: OK");
	is_int(dist_get(&info), MSG_STATUS_OK, "DIST_GET");
	is_int(info.state, MSG_DIST_CANCELLED, "... CANCELLED");
	is_int(info.reason, MSG_DIST_REASON_CANCELLED, "... reason cancelled");
	is_int(info.cancelled, SMALL_WAVE, "... %d targets cancelled", SMALL_WAVE);
	n = dist_targets(2, t, SMALL_WAVE, 0);
	is_int(n, SMALL_WAVE, "DIST_TARGETS_GET: every target");
	for (unsigned i = 0; i < n; i++)
		cancelled += t[i].result == MSG_DIST_TARGET_CANCELLED && t[i].reason == MSG_DIST_REASON_CANCELLED;
	is_int(cancelled, SMALL_WAVE, "... each cancelled, reason cancelled");
	is_int(dist_ctl(MSG_DIST_CANCEL, 2), MSG_STATUS_BAD_STATE, "DIST_CANCEL again: BAD_STATE");
	is_int(dist_ctl(MSG_DIST_RESUME, 2), MSG_STATUS_BAD_STATE, "DIST_RESUME of a cancelled one: BAD_STATE");
	/* the DIST_STATE event may still be due: pump until it comes, bounded */
	int64_t end = now_ms() + SIM_WAIT_MS;
	while (!(seen.state.id == 2 && seen.state.state == MSG_DIST_CANCELLED) && now_ms() < end)
		host_pump(&H, PUMP_MS);
	ok(seen.state.id == 2 && seen.state.state == MSG_DIST_CANCELLED, "a DIST_STATE event says CANCELLED");
}

static void test_suspend_resume(void)
{
	static struct msg_dist_target_info t[SMALL_WAVE];
	uint16_t addresses[SMALL_WAVE], block = 1;
	struct msg_dist_info at, later, end;
	unsigned n, good = 0;
	uint32_t up;
	bool reached;

	for (unsigned i = 0; i < SMALL_WAVE; i++)
		addresses[i] = (uint16_t)(SUSPEND_FIRST + i);
	is_int(dist_start(3, GROUP_SUSPEND, MSG_DIST_MODE_PUSH, addresses, SMALL_WAVE, BATCH, 3), MSG_STATUS_OK,
	       "DIST_START 3: %d targets", SMALL_WAVE);
	is_int(dist_ctl(MSG_DIST_SUSPEND, 99), MSG_STATUS_DIST_UNKNOWN_ID, "DIST_SUSPEND of another id: "
	       "DIST_UNKNOWN_ID");
	reached = dist_wait(3, at_block, &block, &at);
	ok(reached && at.phase == MSG_DIST_PHASE_BLOCK, "... in block 1 (%s/%s)",
	   msg_dist_state_to_string(at.state), msg_dist_phase_to_string(at.phase));
	is_int(dist_ctl(MSG_DIST_SUSPEND, 3), MSG_STATUS_OK, "DIST_SUSPEND: OK");
	is_int(dist_ctl(MSG_DIST_SUSPEND, 3), MSG_STATUS_BAD_STATE, "DIST_SUSPEND again: BAD_STATE");
	is_int(dist_get(&at), MSG_STATUS_OK, "DIST_GET");
	is_int(at.state, MSG_DIST_SUSPENDED, "... SUSPENDED");
	up = uptime_s();
	ok(uptime_wait(up + SUSPEND_FOR_S), "%d s of virtual time pass (the targets' own timers suspend them)",
	   SUSPEND_FOR_S);
	is_int(dist_get(&later), MSG_STATUS_OK, "DIST_GET");
	ok(later.state == MSG_DIST_SUSPENDED && later.block == at.block && later.phase == at.phase &&
	   later.pending == SMALL_WAVE, "... still SUSPENDED at block %u, every target pending (block %u, %u "
	   "pending)", at.block, later.block, later.pending);
	is_int(dist_ctl(MSG_DIST_RESUME, 3), MSG_STATUS_OK, "DIST_RESUME: OK");
	ok(dist_wait(3, ended, NULL, &end), "the distribution ends");
	is_int(end.state, MSG_DIST_COMPLETED, "... COMPLETED");
	is_int(end.succeeded, SMALL_WAVE, "... every target ok");
	n = dist_targets(3, t, SMALL_WAVE, 0);
	for (unsigned i = 0; i < n; i++) {
		good += t[i].result == MSG_DIST_OK && t[i].blocks_done == IMAGE_SIZE / 4096;
		if (t[i].result != MSG_DIST_OK)
			print_target(&t[i]);
	}
	is_int(good, SMALL_WAVE, "DIST_TARGETS_GET: each ok, with every block");
}

/* The host retries a failed target with a new distribution: the node that rebooted at 50 % (once) now succeeds.
 * One target: the Distributor goes by unicast even with a group (docs/distribution.md, a small wave). */
static void test_retry(void)
{
	const uint16_t address = REBOOTS_AT_50;
	struct msg_dist_target_info t;
	struct msg_dist_info end;
	bool reached;

	is_int(dist_start(5, GROUP, MSG_DIST_MODE_PUSH, &address, 1, BATCH, 5), MSG_STATUS_OK,
	       "DIST_START 5: the node that rebooted at 50 %%, again");
	reached = dist_wait(5, ended, NULL, &end);
	ok(reached && end.state == MSG_DIST_COMPLETED && end.group == 0, "... COMPLETED, by unicast (%s, group 0x%04x)",
	   msg_dist_state_to_string(end.state), end.group);
	if (dist_targets(5, &t, 1, 0) == 1) {
		ok(t.result == MSG_DIST_OK, "0x%04x: ok this time (%s, %s)", t.address,
		   msg_dist_result_to_string(t.result), msg_dist_reason_to_string(t.reason));
	} else {
		ok(0, "DIST_TARGETS_GET of distribution 5");
	}
}

static void test_pull(void)
{
	static struct msg_dist_target_info t[2];
	const uint16_t addresses[] = { LPN_ADDRESS, FIRST_ADDRESS + 30 };
	struct msg_dist_info end;
	unsigned n;
	bool reached;

	is_int(dist_start(6, 0, MSG_DIST_MODE_PULL, addresses, 2, BATCH, 4), MSG_STATUS_OK,
	       "DIST_START 6, pull mode by unicast: the low-power node and another");
	reached = dist_wait(6, ended, NULL, &end);
	ok(reached, "the distribution ends (%u ms of virtual time)", end.elapsed_ms);
	is_int(end.state, MSG_DIST_COMPLETED, "... COMPLETED");
	is_int(end.mode, MSG_DIST_MODE_PULL, "... in pull mode");
	n = dist_targets(6, t, 2, 0);
	is_int(n, 2, "DIST_TARGETS_GET: both");
	for (unsigned i = 0; i < n; i++) {
		ok(t[i].result == MSG_DIST_OK, "0x%04x%s: ok (%s, %s)", t[i].address,
		   t[i].address == LPN_ADDRESS ? " (low power, polls every 500 ms)" : "",
		   msg_dist_result_to_string(t[i].result), msg_dist_reason_to_string(t[i].reason));
	}
}

int main(void)
{
	char scenario[512], link[512];
	struct sim s;

	if (!sim_client_setup("distsim"))
		return 1;
	snprintf(scenario, sizeof(scenario), "%s/fleet.json", sim_tmpdir);
	snprintf(link, sizeof(link), "%s/dongle", sim_tmpdir);
	scenario_write(scenario);
	H.on_event = on_event;
	if (!ok(sim_start(&s, (const char *const[]){ "--scenario", scenario, "--link", link, "--speed", SPEED,
						    "--seed", SEED, "--die-with-parent", NULL }) && sim_wait_pty(&s) && host_open(&H, link),
		"meshfleet-sim with %d nodes starts, the link opens", NODES)) {
		printf("# %s\n", read_text(s.err_path));
		sim_stop(&s);
		return done_testing();
	}
	test_setup();
	test_faults_and_reconnect(link);
	test_cancel();
	test_suspend_resume();
	test_retry();
	test_pull();
	host_close(&H);
	is_int(sim_stop(&s), 0, "SIGTERM: exit 0 (and no leak report)");
	if (tap_failed)
		printf("# the simulator's log: %s/sim1.err (MF_KEEP=1 keeps it)\n", sim_tmpdir);
	sim_client_cleanup();
	return done_testing();
}
