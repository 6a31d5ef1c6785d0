/* campaigns: see campaigns.h. The transition tables are the single authority: every write of a state goes through
 * one of the *_set_state() functions or an action that checks the same table inside its transaction. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "campaigns.h"
#include "log.h"
#include "util.h"

#define NODE_SCAN_TAGS_MAX 16                   /* nodes.h NODE_TAGS_MAX */
#define MESH_ADDRESSES 32768                    /* unicast addresses and 0: indexes of per-address tables */

/* --- names ------------------------------------------------------------------------------------------------- */

const char *campaign_state_to_string(enum campaign_state s)
{
	switch (s) {
	case CAMPAIGN_DRAFT: return "draft";
	case CAMPAIGN_SCHEDULED: return "scheduled";
	case CAMPAIGN_RUNNING: return "running";
	case CAMPAIGN_PAUSED: return "paused";
	case CAMPAIGN_COMPLETED: return "completed";
	case CAMPAIGN_FAILED: return "failed";
	case CAMPAIGN_CANCELLED: return "cancelled";
	}
	return "unknown";
}

const char *campaign_wave_state_to_string(enum campaign_wave_state s)
{
	switch (s) {
	case CAMPAIGN_WAVE_PENDING: return "pending";
	case CAMPAIGN_WAVE_PREPARING: return "preparing";
	case CAMPAIGN_WAVE_TRANSFERRING: return "transferring";
	case CAMPAIGN_WAVE_VERIFYING: return "verifying";
	case CAMPAIGN_WAVE_VERIFIED: return "verified";
	case CAMPAIGN_WAVE_APPLYING: return "applying";
	case CAMPAIGN_WAVE_CONFIRMING: return "confirming";
	case CAMPAIGN_WAVE_DONE: return "done";
	case CAMPAIGN_WAVE_CANCELLED: return "cancelled";
	}
	return "unknown";
}

const char *campaign_wave_kind_to_string(enum campaign_wave_kind k)
{
	switch (k) {
	case CAMPAIGN_WAVE_CANARY: return "canary";
	case CAMPAIGN_WAVE_NORMAL: return "normal";
	case CAMPAIGN_WAVE_RETRY: return "retry";
	}
	return "unknown";
}

const char *campaign_target_state_to_string(enum campaign_target_state s)
{
	switch (s) {
	case CAMPAIGN_TARGET_PENDING: return "pending";
	case CAMPAIGN_TARGET_PREPARING: return "preparing";
	case CAMPAIGN_TARGET_TRANSFERRING: return "transferring";
	case CAMPAIGN_TARGET_VERIFYING: return "verifying";
	case CAMPAIGN_TARGET_VERIFIED: return "verified";
	case CAMPAIGN_TARGET_APPLYING: return "applying";
	case CAMPAIGN_TARGET_CONFIRMING: return "confirming";
	case CAMPAIGN_TARGET_SUCCEEDED: return "succeeded";
	case CAMPAIGN_TARGET_FAILED: return "failed";
	case CAMPAIGN_TARGET_SKIPPED: return "skipped";
	case CAMPAIGN_TARGET_CANCELLED: return "cancelled";
	}
	return "unknown";
}

const char *campaign_apply_policy_to_string(enum campaign_apply_policy p)
{
	switch (p) {
	case CAMPAIGN_APPLY_IMMEDIATE: return "immediate";
	case CAMPAIGN_APPLY_VERIFY_ONLY: return "verify_only";
	case CAMPAIGN_APPLY_WINDOW: return "window";
	}
	return "unknown";
}

const char *campaign_transfer_mode_to_string(enum campaign_transfer_mode m)
{
	switch (m) {
	case CAMPAIGN_TRANSFER_PUSH: return "push";
	case CAMPAIGN_TRANSFER_PULL: return "pull";
	}
	return "unknown";
}

int campaign_state_from_string(const char *s, enum campaign_state *ret)
{
	for (int i = 0; i < CAMPAIGN_STATE_COUNT; i++) {
		if (strcmp(s, campaign_state_to_string((enum campaign_state)i)) == 0) {
			*ret = (enum campaign_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

int campaign_wave_state_from_string(const char *s, enum campaign_wave_state *ret)
{
	for (int i = 0; i < CAMPAIGN_WAVE_STATE_COUNT; i++) {
		if (strcmp(s, campaign_wave_state_to_string((enum campaign_wave_state)i)) == 0) {
			*ret = (enum campaign_wave_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

int campaign_target_state_from_string(const char *s, enum campaign_target_state *ret)
{
	for (int i = 0; i < CAMPAIGN_TARGET_STATE_COUNT; i++) {
		if (strcmp(s, campaign_target_state_to_string((enum campaign_target_state)i)) == 0) {
			*ret = (enum campaign_target_state)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int wave_kind_from_string(const char *s, enum campaign_wave_kind *ret)
{
	for (int i = 0; i <= CAMPAIGN_WAVE_RETRY; i++) {
		if (strcmp(s, campaign_wave_kind_to_string((enum campaign_wave_kind)i)) == 0) {
			*ret = (enum campaign_wave_kind)i;
			return 0;
		}
	}
	return -EINVAL;
}

/* --- transition tables (docs/campaigns.md, "States") ---------------------------------------------------------- */

#define C(x) CAMPAIGN_##x
static const bool campaign_table[CAMPAIGN_STATE_COUNT][CAMPAIGN_STATE_COUNT] = {
	[C(DRAFT)] = { [C(SCHEDULED)] = true, [C(RUNNING)] = true, [C(CANCELLED)] = true },
	[C(SCHEDULED)] = { [C(RUNNING)] = true, [C(CANCELLED)] = true },
	[C(RUNNING)] = { [C(PAUSED)] = true, [C(COMPLETED)] = true, [C(FAILED)] = true, [C(CANCELLED)] = true },
	[C(PAUSED)] = { [C(RUNNING)] = true, [C(FAILED)] = true, [C(CANCELLED)] = true },
};
#undef C

#define W(x) CAMPAIGN_WAVE_##x
static const bool wave_table[CAMPAIGN_WAVE_STATE_COUNT][CAMPAIGN_WAVE_STATE_COUNT] = {
	/* done straight from an early state: every target of the wave ended before it got further */
	[W(PENDING)] = { [W(PREPARING)] = true, [W(DONE)] = true, [W(CANCELLED)] = true },
	[W(PREPARING)] = { [W(TRANSFERRING)] = true, [W(DONE)] = true, [W(CANCELLED)] = true },
	/* back to preparing: the dongle rebooted and lost the image or the distribution */
	[W(TRANSFERRING)] = { [W(VERIFYING)] = true, [W(PREPARING)] = true, [W(DONE)] = true, [W(CANCELLED)] = true },
	[W(VERIFYING)] = { [W(VERIFIED)] = true, [W(APPLYING)] = true, [W(PREPARING)] = true, [W(DONE)] = true,
			   [W(CANCELLED)] = true },
	[W(VERIFIED)] = { [W(APPLYING)] = true, [W(DONE)] = true, [W(CANCELLED)] = true },
	/* no cancel once an apply may be on its way: the engine confirms what happened */
	[W(APPLYING)] = { [W(CONFIRMING)] = true, [W(DONE)] = true },
	[W(CONFIRMING)] = { [W(DONE)] = true },
};
#undef W

#define T(x) CAMPAIGN_TARGET_##x
static const bool target_table[CAMPAIGN_TARGET_STATE_COUNT][CAMPAIGN_TARGET_STATE_COUNT] = {
	[T(PENDING)] = { [T(PREPARING)] = true, [T(SKIPPED)] = true, [T(FAILED)] = true, [T(CANCELLED)] = true },
	[T(PREPARING)] = { [T(TRANSFERRING)] = true, [T(FAILED)] = true, [T(CANCELLED)] = true },
	[T(TRANSFERRING)] = { [T(VERIFYING)] = true, [T(PREPARING)] = true, [T(FAILED)] = true, [T(CANCELLED)] = true },
	[T(VERIFYING)] = { [T(VERIFIED)] = true, [T(APPLYING)] = true, [T(PREPARING)] = true, [T(FAILED)] = true,
			   [T(CANCELLED)] = true },
	[T(VERIFIED)] = { [T(APPLYING)] = true, [T(FAILED)] = true, [T(CANCELLED)] = true },
	[T(APPLYING)] = { [T(CONFIRMING)] = true, [T(FAILED)] = true },
	[T(CONFIRMING)] = { [T(SUCCEEDED)] = true, [T(FAILED)] = true },
	[T(FAILED)] = { [T(PENDING)] = true },  /* retry */
};
#undef T

bool campaign_transition_allowed(enum campaign_state from, enum campaign_state to)
{
	return (unsigned)from < CAMPAIGN_STATE_COUNT && (unsigned)to < CAMPAIGN_STATE_COUNT && campaign_table[from][to];
}

bool campaign_wave_transition_allowed(enum campaign_wave_state from, enum campaign_wave_state to)
{
	return (unsigned)from < CAMPAIGN_WAVE_STATE_COUNT && (unsigned)to < CAMPAIGN_WAVE_STATE_COUNT &&
	       wave_table[from][to];
}

bool campaign_target_transition_allowed(enum campaign_target_state from, enum campaign_target_state to)
{
	return (unsigned)from < CAMPAIGN_TARGET_STATE_COUNT && (unsigned)to < CAMPAIGN_TARGET_STATE_COUNT &&
	       target_table[from][to];
}

bool campaign_state_terminal(enum campaign_state s)
{
	switch (s) {
	case CAMPAIGN_DRAFT:
	case CAMPAIGN_SCHEDULED:
	case CAMPAIGN_RUNNING:
	case CAMPAIGN_PAUSED:
		return false;
	case CAMPAIGN_COMPLETED:
	case CAMPAIGN_FAILED:
	case CAMPAIGN_CANCELLED:
		return true;
	}
	return true;
}

/* --- versions ---------------------------------------------------------------------------------------------- */

#define NCS_FWID_LEN 10

static uint64_t ncs_version(const uint8_t *f)
{
	uint64_t revision = (uint64_t)f[4] | (uint64_t)f[5] << 8;
	uint64_t build = (uint64_t)f[6] | (uint64_t)f[7] << 8 | (uint64_t)f[8] << 16 | (uint64_t)f[9] << 24;

	return (uint64_t)f[2] << 56 | (uint64_t)f[3] << 48 | revision << 32 | build;
}

int campaign_fwid_compare(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	uint64_t va, vb;

	if (a_len != NCS_FWID_LEN || b_len != NCS_FWID_LEN || a[0] != b[0] || a[1] != b[1])
		return -2;
	va = ncs_version(a);
	vb = ncs_version(b);
	return va < vb ? -1 : va > vb;
}

/* --- records ----------------------------------------------------------------------------------------------- */

void campaign_init(struct campaign *c)
{
	memset(c, 0, sizeof(*c));
}

void campaign_done(struct campaign *c)
{
	if (!c)
		return;
	free(c->selection);
	c->selection = NULL;
}

static void copy_column_text(sqlite3_stmt *st, int col, char *out, size_t size)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(out, size, "%s", t ? (const char *)t : "");
}

/* --- resolution ------------------------------------------------------------------------------------------------ */

static bool has_tag(char tags[][NODE_SCAN_TAGS_MAX + 17], size_t n, const char *tag)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(tags[i], tag) == 0)
			return true;
	return false;
}

/* Loads the tags of @address into @tags (at most NODE_SCAN_TAGS_MAX). */
static int load_tags(struct db *db, uint16_t address, char tags[][NODE_SCAN_TAGS_MAX + 17], size_t *ret_n)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT tag FROM node_tags WHERE address = ?1 ORDER BY tag");
	size_t n = 0;
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, address);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (n < NODE_SCAN_TAGS_MAX)
			copy_column_text(st, 0, tags[n++], NODE_SCAN_TAGS_MAX + 17);
	}
	*ret_n = n;
	return db_result(db, rc, "read node tags");
}

static bool selected_by_filter(struct db *db, const struct campaign_selector *sel, uint16_t address, int32_t cid,
			       int32_t pid, const uint8_t *fwid, size_t fwid_len, int *ret_error)
{
	char tags[NODE_SCAN_TAGS_MAX][NODE_SCAN_TAGS_MAX + 17];
	size_t n_tags = 0;
	bool any = false;

	*ret_error = 0;
	if (sel->company_id >= 0 && cid != sel->company_id)
		return false;
	if (sel->product_id >= 0 && pid != sel->product_id)
		return false;
	if (sel->fwid_prefix && (fwid_len < sel->fwid_prefix_len ||
				 memcmp(fwid, sel->fwid_prefix, sel->fwid_prefix_len) != 0))
		return false;
	if (sel->n_tags_all == 0 && sel->n_tags_any == 0)
		return true;
	*ret_error = load_tags(db, address, tags, &n_tags);
	if (*ret_error < 0)
		return false;
	for (size_t i = 0; i < sel->n_tags_all; i++)
		if (!has_tag(tags, n_tags, sel->tags_all[i]))
			return false;
	for (size_t i = 0; i < sel->n_tags_any && !any; i++)
		any = has_tag(tags, n_tags, sel->tags_any[i]);
	return sel->n_tags_any == 0 || any;
}

static int column_id(sqlite3_stmt *st, int col)
{
	return sqlite3_column_type(st, col) == SQLITE_NULL ? -1 : sqlite3_column_int(st, col);
}

int campaigns_resolve(struct db *db, const struct campaign_selector *sel, const uint8_t *fwid, size_t fwid_len,
		      bool allow_downgrade, struct campaign_resolved **ret_targets, size_t *ret_n, uint16_t *unknown,
		      size_t unknown_cap, size_t *ret_n_unknown)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT address, company_id, product_id, version_id, firmware_id, dfu_capable, "
				   "hops FROM nodes ORDER BY address");
	struct campaign_resolved *out = NULL;
	uint8_t *wanted = NULL, *known = NULL;
	size_t n = 0, n_unknown = 0;
	int rc, r = 0;

	if (!st)
		return -EIO;
	out = calloc(CAMPAIGN_TARGETS_MAX, sizeof(*out));
	wanted = calloc(MESH_ADDRESSES, 1);
	known = calloc(MESH_ADDRESSES, 1);
	if (!out || !wanted || !known) {
		r = -ENOMEM;
		goto fail;
	}
	for (size_t i = 0; sel->addresses && i < sel->n_addresses; i++)
		wanted[sel->addresses[i] & 0x7fff] = 1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint16_t address = (uint16_t)sqlite3_column_int(st, 0);
		int32_t cid = column_id(st, 1), pid = column_id(st, 2), vid = column_id(st, 3);
		const uint8_t *node_fwid = sqlite3_column_blob(st, 4);
		size_t node_fwid_len = node_fwid ? (size_t)sqlite3_column_bytes(st, 4) : 0;
		int capable = column_id(st, 5);
		struct campaign_resolved *t;
		int error = 0;

		if (address >= MESH_ADDRESSES || n == CAMPAIGN_TARGETS_MAX)
			continue;
		known[address] = 1;
		if (sel->addresses ? !wanted[address] :
		    !selected_by_filter(db, sel, address, cid, pid, node_fwid, node_fwid_len, &error)) {
			if (error < 0) {
				r = error;
				goto fail;
			}
			continue;
		}
		t = &out[n++];
		/* hops: recorded by discovery (migration 9), else unknown */
		t->plan = (struct waves_target){ address, (int16_t)column_id(st, 6), cid, pid, vid };
		t->state = CAMPAIGN_TARGET_PENDING;
		if (node_fwid_len && node_fwid_len <= sizeof(t->old_fwid)) {
			memcpy(t->old_fwid, node_fwid, node_fwid_len);
			t->old_fwid_len = node_fwid_len;
		}
		if (node_fwid_len && node_fwid_len == fwid_len && memcmp(node_fwid, fwid, fwid_len) == 0) {
			t->state = CAMPAIGN_TARGET_SKIPPED;
			t->reason = "up_to_date";
		} else if (capable == 0) {
			t->state = CAMPAIGN_TARGET_SKIPPED;
			t->reason = "not_capable";
		} else if (!allow_downgrade && node_fwid_len &&
			   campaign_fwid_compare(node_fwid, node_fwid_len, fwid, fwid_len) == 1) {
			t->state = CAMPAIGN_TARGET_SKIPPED;
			t->reason = "downgrade";
		}
	}
	r = db_result(db, rc, "read nodes for a campaign");
	if (r < 0)
		goto fail;
	sqlite3_reset(st);
	for (size_t i = 0; sel->addresses && i < sel->n_addresses; i++) {
		if (!known[sel->addresses[i] & 0x7fff]) {
			if (n_unknown < unknown_cap)
				unknown[n_unknown] = sel->addresses[i];
			n_unknown++;
		}
	}
	if (n_unknown) {
		*ret_n_unknown = n_unknown;
		r = -ENOENT;
		goto fail;
	}
	free(wanted);
	free(known);
	*ret_targets = out;
	*ret_n = n;
	return 0;
fail:
	sqlite3_reset(st);
	free(out);
	free(wanted);
	free(known);
	return r;
}

/* --- group addresses ------------------------------------------------------------------------------------------- */

int campaigns_group_in_use(struct db *db, uint16_t group)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT EXISTS (SELECT 1 FROM campaigns WHERE group_address = ?1 AND state "
				   "NOT IN ('completed', 'failed', 'cancelled'))");
	int rc, used;

	if (!st)
		return -EIO;
	sqlite3_bind_int(st, 1, group);
	rc = sqlite3_step(st);
	used = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_reset(st);      /* a statement left on a row keeps a read transaction open */
	rc = db_result(db, rc, "check a campaign's group address");
	return rc < 0 ? rc : used;
}

int campaigns_allocate_group(struct db *db, uint16_t *ret_group)
{
	sqlite3_stmt *range = db_stmt(db, "SELECT group_low, group_high FROM network WHERE id = 1");
	sqlite3_stmt *used = db_stmt(db, "SELECT group_address FROM group_members UNION SELECT group_address FROM "
				     "campaigns WHERE state NOT IN ('completed', 'failed', 'cancelled')");
	uint8_t *taken = NULL;
	int64_t low, high;
	int rc, r;

	if (!range || !used)
		return -EIO;
	rc = sqlite3_step(range);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	r = db_result(db, rc, "read the network's group range");
	if (r < 0)
		return r;
	low = sqlite3_column_int64(range, 0);
	high = sqlite3_column_int64(range, 1);
	sqlite3_reset(range);
	taken = calloc(UINT16_MAX + 1, 1);    /* every address: group ones are above 0xC000 */
	if (!taken)
		return -ENOMEM;
	while ((rc = sqlite3_step(used)) == SQLITE_ROW)
		taken[sqlite3_column_int(used, 0) & 0xffff] = 1;
	r = db_result(db, rc, "read the group addresses in use");
	if (r == 0) {
		r = -ENOSPC;
		for (int64_t g = low < 0xC000 ? 0xC000 : low; g <= high && g <= 0xFEFF; g++) {
			if (!taken[g]) {
				*ret_group = (uint16_t)g;
				r = 0;
				break;
			}
		}
	}
	free(taken);
	return r;
}

/* --- events ---------------------------------------------------------------------------------------------------- */

static void publish_campaign(struct events *events, int64_t id, const char *name, enum campaign_state from,
			     enum campaign_state to, const char *reason, const char *action)
{
	json_t *o;

	if (!events)
		return;
	o = json_pack("{s:I, s:s, s:s, s:s, s:s?}", "campaign", (json_int_t)id, "action", action, "from",
		      campaign_state_to_string(from), "state", campaign_state_to_string(to), "reason",
		      reason && *reason ? reason : NULL);
	if (o && name)
		json_object_set_new(o, "name", json_string(name));
	if (o)
		events_publish(events, EVENT_CAMPAIGN, o);
}

static void publish_wave(struct events *events, int64_t id, uint32_t wave, const char *kind, const char *from,
			 const char *to)
{
	json_t *o;

	if (!events)
		return;
	o = json_pack("{s:I, s:I, s:s, s:s?, s:s}", "campaign", (json_int_t)id, "wave", (json_int_t)wave, "kind", kind,
		      "from", from, "state", to);
	if (o)
		events_publish(events, EVENT_WAVE, o);
}

/* Target events carry a list of addresses that made the same transition: one event for one node, a few for a
 * cancel of thousands. */
static void publish_targets(struct events *events, int64_t id, const uint16_t *addresses, size_t n, const char *from,
			    const char *to, const char *reason)
{
	for (size_t off = 0; events && off < n; off += CAMPAIGN_EVENT_ADDRESSES_MAX) {
		size_t count = n - off < CAMPAIGN_EVENT_ADDRESSES_MAX ? n - off : CAMPAIGN_EVENT_ADDRESSES_MAX;
		json_t *list = json_array(), *o;

		for (size_t i = 0; list && i < count; i++)
			json_array_append_new(list, json_integer(addresses[off + i]));
		o = json_pack("{s:I, s:o, s:s?, s:s, s:s?}", "campaign", (json_int_t)id, "addresses", list, "from",
			      from, "state", to, "reason", reason && *reason ? reason : NULL);
		if (o)
			events_publish(events, EVENT_TARGET, o);
	}
}

/* --- create ------------------------------------------------------------------------------------------------------ */

static void bind_optional_time(sqlite3_stmt *st, int col, int64_t ms)
{
	if (ms)
		sqlite3_bind_int64(st, col, ms);
	else
		sqlite3_bind_null(st, col);
}

static int insert_campaign(struct db *db, struct campaign *c)
{
	sqlite3_stmt *st = db_stmt(db,
		"INSERT INTO campaigns (name, firmware_id, fwid, state, reason, selection, canary, wave_size, "
		"wave_percent, success_threshold, error_threshold, max_attempts, apply_policy, window_start, window_end, "
		"mode, ttl, timeout_base, group_address, group_allocated, block_size_log, chunk_size, allow_downgrade, "
		"scheduled_start, created_by, created_at, updated_at) VALUES (?1, ?2, ?3, 'draft', NULL, ?4, ?5, ?6, ?7, "
		"?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?24)");

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, c->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->firmware, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, c->fwid, (int)c->fwid_len, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->selection ? c->selection : "{}", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, c->canary);
	sqlite3_bind_int64(st, 6, c->wave_size);
	sqlite3_bind_int64(st, 7, c->wave_percent);
	sqlite3_bind_int64(st, 8, c->success_threshold);
	sqlite3_bind_int64(st, 9, c->error_threshold);
	sqlite3_bind_int64(st, 10, c->max_attempts);
	sqlite3_bind_text(st, 11, campaign_apply_policy_to_string(c->apply_policy), -1, SQLITE_STATIC);
	bind_optional_time(st, 12, c->window_start);
	bind_optional_time(st, 13, c->window_end);
	sqlite3_bind_text(st, 14, campaign_transfer_mode_to_string(c->mode), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 15, c->ttl);
	sqlite3_bind_int(st, 16, c->timeout_base);
	sqlite3_bind_int(st, 17, c->group_address);
	sqlite3_bind_int(st, 18, c->group_allocated);
	sqlite3_bind_int(st, 19, c->block_size_log);
	sqlite3_bind_int(st, 20, c->chunk_size);
	sqlite3_bind_int(st, 21, c->allow_downgrade);
	bind_optional_time(st, 22, c->scheduled_start);
	sqlite3_bind_text(st, 23, c->created_by, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 24, c->created_at);
	return db_result(db, sqlite3_step(st), "insert a campaign");
}

static int insert_wave(struct db *db, int64_t id, uint32_t index, enum campaign_wave_kind kind, int64_t now)
{
	sqlite3_stmt *st = db_stmt(db, "INSERT INTO campaign_waves (campaign_id, idx, kind, state, updated_at) "
				   "VALUES (?1, ?2, ?3, 'pending', ?4)");

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, index);
	sqlite3_bind_text(st, 3, campaign_wave_kind_to_string(kind), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	return db_result(db, sqlite3_step(st), "insert a wave");
}

int campaigns_create(struct db *db, struct events *events, struct campaign *c, const struct campaign_resolved *t,
		     size_t n)
{
	struct waves_params params = { c->canary, c->wave_size, c->wave_percent, 0 };
	sqlite3_stmt *ins;
	struct waves_target *plan = NULL;
	uint32_t *wave = NULL, n_waves = 0;
	size_t n_pending = 0, k = 0;
	int64_t now = time_now_ms();
	int r;

	for (size_t i = 0; i < n; i++)
		n_pending += t[i].state == CAMPAIGN_TARGET_PENDING;
	if (n_pending == 0)
		return -EINVAL;
	if (waves_count(n_pending, &params) > WAVES_MAX)
		return -E2BIG;
	plan = calloc(n_pending, sizeof(*plan));
	wave = calloc(n_pending, sizeof(*wave));
	if (!plan || !wave) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (t[i].state == CAMPAIGN_TARGET_PENDING)
			plan[k++] = t[i].plan;
	c->created_at = c->updated_at = now;
	c->state = CAMPAIGN_DRAFT;
	c->reason[0] = '\0';
	r = db_begin(db);
	if (r < 0)
		goto out;
	r = insert_campaign(db, c);
	if (r < 0)
		goto rollback;
	c->id = sqlite3_last_insert_rowid(db_handle(db));
	params.seed = (uint64_t)c->id;
	r = waves_plan(plan, n_pending, &params, wave, &n_waves);
	if (r < 0)
		goto rollback;
	for (uint32_t w = 0; w < n_waves; w++) {
		r = insert_wave(db, c->id, w, w == 0 && c->canary > 0 ? CAMPAIGN_WAVE_CANARY : CAMPAIGN_WAVE_NORMAL, now);
		if (r < 0)
			goto rollback;
	}
	ins = db_stmt(db, "INSERT INTO campaign_targets (campaign_id, address, wave, state, reason, old_fwid, "
		      "updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	if (!ins) {
		r = -EIO;
		goto rollback;
	}
	k = 0;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(ins);
		sqlite3_clear_bindings(ins);
		sqlite3_bind_int64(ins, 1, c->id);
		sqlite3_bind_int(ins, 2, t[i].plan.address);
		if (t[i].state == CAMPAIGN_TARGET_PENDING)
			sqlite3_bind_int64(ins, 3, wave[k++]);
		sqlite3_bind_text(ins, 4, campaign_target_state_to_string(t[i].state), -1, SQLITE_STATIC);
		if (t[i].reason)
			sqlite3_bind_text(ins, 5, t[i].reason, -1, SQLITE_STATIC);
		if (t[i].old_fwid_len)
			sqlite3_bind_blob(ins, 6, t[i].old_fwid, (int)t[i].old_fwid_len, SQLITE_STATIC);
		sqlite3_bind_int64(ins, 7, now);
		r = db_result(db, sqlite3_step(ins), "insert a campaign target");
		if (r < 0)
			goto rollback;
	}
	r = db_commit(db);
	if (r < 0)
		goto rollback;
	log_info("campaign %" PRId64 " '%s' created by '%s': firmware %.12s, %zu targets (%zu skipped), %u waves",
		 c->id, c->name, c->created_by, c->firmware, n, n - n_pending, n_waves);
	publish_campaign(events, c->id, c->name, CAMPAIGN_DRAFT, CAMPAIGN_DRAFT, NULL, "created");
	goto out;
rollback:
	db_rollback(db);
	c->id = 0;
out:
	free(plan);
	free(wave);
	return r;
}

/* --- read ------------------------------------------------------------------------------------------------------- */

#define CAMPAIGN_COLUMNS \
	"id, name, firmware_id, fwid, state, reason, selection, canary, wave_size, wave_percent, success_threshold, " \
	"error_threshold, max_attempts, apply_policy, window_start, window_end, mode, ttl, timeout_base, " \
	"group_address, group_allocated, block_size_log, chunk_size, allow_downgrade, scheduled_start, created_by, " \
	"created_at, updated_at, started_at, finished_at"

static int read_campaign(sqlite3_stmt *st, struct campaign *c)
{
	char text[32];
	const void *fwid = sqlite3_column_blob(st, 3);
	size_t fwid_len = (size_t)sqlite3_column_bytes(st, 3);
	const unsigned char *selection = sqlite3_column_text(st, 6);

	campaign_init(c);
	c->id = sqlite3_column_int64(st, 0);
	copy_column_text(st, 1, c->name, sizeof(c->name));
	copy_column_text(st, 2, c->firmware, sizeof(c->firmware));
	if (fwid && fwid_len <= sizeof(c->fwid)) {
		memcpy(c->fwid, fwid, fwid_len);
		c->fwid_len = fwid_len;
	}
	copy_column_text(st, 4, text, sizeof(text));
	if (campaign_state_from_string(text, &c->state) < 0)
		return -EBADMSG;
	copy_column_text(st, 5, c->reason, sizeof(c->reason));
	c->selection = strdup(selection ? (const char *)selection : "{}");
	if (!c->selection)
		return -ENOMEM;
	c->canary = (uint32_t)sqlite3_column_int64(st, 7);
	c->wave_size = (uint32_t)sqlite3_column_int64(st, 8);
	c->wave_percent = (uint32_t)sqlite3_column_int64(st, 9);
	c->success_threshold = (uint32_t)sqlite3_column_int64(st, 10);
	c->error_threshold = (uint32_t)sqlite3_column_int64(st, 11);
	c->max_attempts = (uint32_t)sqlite3_column_int64(st, 12);
	copy_column_text(st, 13, text, sizeof(text));
	c->apply_policy = strcmp(text, "verify_only") == 0 ? CAMPAIGN_APPLY_VERIFY_ONLY :
			  strcmp(text, "window") == 0 ? CAMPAIGN_APPLY_WINDOW : CAMPAIGN_APPLY_IMMEDIATE;
	c->window_start = sqlite3_column_int64(st, 14);
	c->window_end = sqlite3_column_int64(st, 15);
	copy_column_text(st, 16, text, sizeof(text));
	c->mode = strcmp(text, "pull") == 0 ? CAMPAIGN_TRANSFER_PULL : CAMPAIGN_TRANSFER_PUSH;
	c->ttl = (uint8_t)sqlite3_column_int(st, 17);
	c->timeout_base = (uint16_t)sqlite3_column_int(st, 18);
	c->group_address = (uint16_t)sqlite3_column_int(st, 19);
	c->group_allocated = sqlite3_column_int(st, 20) != 0;
	c->block_size_log = (uint8_t)sqlite3_column_int(st, 21);
	c->chunk_size = (uint16_t)sqlite3_column_int(st, 22);
	c->allow_downgrade = sqlite3_column_int(st, 23) != 0;
	c->scheduled_start = sqlite3_column_int64(st, 24);
	copy_column_text(st, 25, c->created_by, sizeof(c->created_by));
	c->created_at = sqlite3_column_int64(st, 26);
	c->updated_at = sqlite3_column_int64(st, 27);
	c->started_at = sqlite3_column_int64(st, 28);
	c->finished_at = sqlite3_column_int64(st, 29);
	return 0;
}

int campaigns_get(struct db *db, int64_t id, struct campaign *ret)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT " CAMPAIGN_COLUMNS " FROM campaigns WHERE id = ?1");
	int rc, r;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return db_result(db, rc, "read a campaign");
	r = read_campaign(st, ret);
	if (r < 0)
		campaign_done(ret);
	sqlite3_reset(st);
	return r;
}

int campaigns_list(struct db *db, int state, int64_t before, unsigned limit, campaigns_list_fn fn, void *userdata,
		   bool *ret_more)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT " CAMPAIGN_COLUMNS " FROM campaigns WHERE (?1 = 0 OR id < ?1) AND "
				   "(?2 IS NULL OR state = ?2) ORDER BY id DESC LIMIT ?3");
	unsigned n = 0;
	int rc, r = 0;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, before);
	if (state >= 0)
		sqlite3_bind_text(st, 2, campaign_state_to_string((enum campaign_state)state), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (int64_t)limit + 1);
	*ret_more = false;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct campaign c;

		if (n++ == limit) {
			*ret_more = true;
			break;
		}
		r = read_campaign(st, &c);
		if (r == 0)
			r = fn(&c, userdata);
		campaign_done(&c);
		if (r)
			break;
	}
	sqlite3_reset(st);
	if (r)
		return r;
	return rc == SQLITE_ROW ? 0 : db_result(db, rc, "list campaigns");
}

int campaigns_delete(struct db *db, int64_t id, enum campaign_state *ret_state)
{
	sqlite3_stmt *del = db_stmt(db, "DELETE FROM campaigns WHERE id = ?1 AND state = 'draft'");
	struct campaign c;
	int r;

	if (!del)
		return -EIO;
	r = campaigns_get(db, id, &c);
	if (r < 0)
		return r;
	*ret_state = c.state;
	campaign_done(&c);
	if (c.state != CAMPAIGN_DRAFT)
		return -EBUSY;
	sqlite3_bind_int64(del, 1, id);
	r = db_result(db, sqlite3_step(del), "delete a campaign");
	if (r < 0)
		return r;
	if (sqlite3_changes(db_handle(db)) == 0)
		return -ENOENT;
	log_info("campaign %" PRId64 " '%s' deleted (draft)", id, c.name);
	return 0;
}

int campaigns_waves(struct db *db, int64_t id, struct campaign_wave **ret, size_t *ret_n)
{
	sqlite3_stmt *waves = db_stmt(db, "SELECT idx, kind, state, distribution_id, started_at, finished_at, "
				      "updated_at FROM campaign_waves WHERE campaign_id = ?1 ORDER BY idx");
	sqlite3_stmt *counts = db_stmt(db, "SELECT wave, state, count(*) FROM campaign_targets WHERE campaign_id = ?1 "
				       "AND wave IS NOT NULL GROUP BY wave, state");
	struct campaign_wave *out = NULL;
	size_t n = 0, cap = 0;
	int rc, r;

	if (!waves || !counts)
		return -EIO;
	sqlite3_bind_int64(waves, 1, id);
	while ((rc = sqlite3_step(waves)) == SQLITE_ROW) {
		struct campaign_wave *w;
		char text[32];

		if (n == cap) {
			size_t new_cap = cap ? 2 * cap : 8;
			struct campaign_wave *grown = realloc(out, new_cap * sizeof(*out));

			if (!grown) {
				free(out);
				sqlite3_reset(waves);
				return -ENOMEM;
			}
			out = grown;
			cap = new_cap;
		}
		w = &out[n++];
		memset(w, 0, sizeof(*w));
		w->index = (uint32_t)sqlite3_column_int64(waves, 0);
		copy_column_text(waves, 1, text, sizeof(text));
		if (wave_kind_from_string(text, &w->kind) < 0)
			w->kind = CAMPAIGN_WAVE_NORMAL;
		copy_column_text(waves, 2, text, sizeof(text));
		if (campaign_wave_state_from_string(text, &w->state) < 0)
			w->state = CAMPAIGN_WAVE_PENDING;
		w->distribution_id = (uint32_t)sqlite3_column_int64(waves, 3);
		w->started_at = sqlite3_column_int64(waves, 4);
		w->finished_at = sqlite3_column_int64(waves, 5);
		w->updated_at = sqlite3_column_int64(waves, 6);
	}
	r = db_result(db, rc, "read waves");
	if (r < 0) {
		free(out);
		return r;
	}
	sqlite3_bind_int64(counts, 1, id);
	while ((rc = sqlite3_step(counts)) == SQLITE_ROW) {
		int64_t index = sqlite3_column_int64(counts, 0);
		enum campaign_target_state s;
		char text[32];

		copy_column_text(counts, 1, text, sizeof(text));
		if (campaign_target_state_from_string(text, &s) < 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			if (out[i].index == index) {
				out[i].counts[s] = (uint64_t)sqlite3_column_int64(counts, 2);
				out[i].total += out[i].counts[s];
			}
		}
	}
	r = db_result(db, rc, "count targets per wave");
	if (r < 0) {
		free(out);
		return r;
	}
	*ret = out;
	*ret_n = n;
	return 0;
}

int campaigns_target_counts(struct db *db, int64_t id, uint64_t counts[CAMPAIGN_TARGET_STATE_COUNT])
{
	sqlite3_stmt *st = db_stmt(db, "SELECT state, count(*) FROM campaign_targets WHERE campaign_id = ?1 "
				   "GROUP BY state");
	int rc;

	if (!st)
		return -EIO;
	memset(counts, 0, sizeof(uint64_t) * CAMPAIGN_TARGET_STATE_COUNT);
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		enum campaign_target_state s;
		char text[32];

		copy_column_text(st, 0, text, sizeof(text));
		if (campaign_target_state_from_string(text, &s) == 0)
			counts[s] = (uint64_t)sqlite3_column_int64(st, 1);
	}
	return db_result(db, rc, "count targets");
}

int campaigns_targets(struct db *db, int64_t id, int state, uint16_t after, unsigned limit, campaigns_target_fn fn,
		      void *userdata, bool *ret_more)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT address, wave, state, reason, attempts, last_result, old_fwid, "
				   "updated_at FROM campaign_targets WHERE campaign_id = ?1 AND address > ?2 AND "
				   "(?3 IS NULL OR state = ?3) ORDER BY address LIMIT ?4");
	unsigned n = 0;
	int rc, r = 0;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, after);
	if (state >= 0)
		sqlite3_bind_text(st, 3, campaign_target_state_to_string((enum campaign_target_state)state), -1,
				  SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (int64_t)limit + 1);
	*ret_more = false;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct campaign_target t = { 0 };
		const void *old = sqlite3_column_blob(st, 6);
		size_t old_len = (size_t)sqlite3_column_bytes(st, 6);
		char text[32];

		if (n++ == limit) {
			*ret_more = true;
			break;
		}
		t.address = (uint16_t)sqlite3_column_int(st, 0);
		t.wave = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 1);
		copy_column_text(st, 2, text, sizeof(text));
		if (campaign_target_state_from_string(text, &t.state) < 0)
			t.state = CAMPAIGN_TARGET_PENDING;
		copy_column_text(st, 3, t.reason, sizeof(t.reason));
		t.attempts = (uint32_t)sqlite3_column_int64(st, 4);
		copy_column_text(st, 5, t.last_result, sizeof(t.last_result));
		if (old && old_len <= sizeof(t.old_fwid)) {
			memcpy(t.old_fwid, old, old_len);
			t.old_fwid_len = old_len;
		}
		t.updated_at = sqlite3_column_int64(st, 7);
		r = fn(&t, userdata);
		if (r)
			break;
	}
	sqlite3_reset(st);
	if (r)
		return r;
	return rc == SQLITE_ROW ? 0 : db_result(db, rc, "list campaign targets");
}

int campaigns_using_firmware(struct db *db, const char *firmware, int64_t *ret_id)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT id FROM campaigns WHERE firmware_id = ?1 AND state NOT IN "
				   "('completed', 'failed', 'cancelled') ORDER BY id LIMIT 1");
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_text(st, 1, firmware, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	*ret_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : db_result(db, rc, "find a campaign of an image");
}

int campaigns_count_by_state(struct db *db, uint64_t campaigns[CAMPAIGN_STATE_COUNT],
			     uint64_t targets[CAMPAIGN_TARGET_STATE_COUNT])
{
	sqlite3_stmt *cs = db_stmt(db, "SELECT state, count(*) FROM campaigns GROUP BY state");
	sqlite3_stmt *ts = db_stmt(db, "SELECT state, count(*) FROM campaign_targets GROUP BY state");
	int rc, r;

	if (!cs || !ts)
		return -EIO;
	memset(campaigns, 0, sizeof(uint64_t) * CAMPAIGN_STATE_COUNT);
	memset(targets, 0, sizeof(uint64_t) * CAMPAIGN_TARGET_STATE_COUNT);
	while ((rc = sqlite3_step(cs)) == SQLITE_ROW) {
		enum campaign_state s;
		char text[32];

		copy_column_text(cs, 0, text, sizeof(text));
		if (campaign_state_from_string(text, &s) == 0)
			campaigns[s] = (uint64_t)sqlite3_column_int64(cs, 1);
	}
	r = db_result(db, rc, "count campaigns");
	if (r < 0)
		return r;
	while ((rc = sqlite3_step(ts)) == SQLITE_ROW) {
		enum campaign_target_state s;
		char text[32];

		copy_column_text(ts, 0, text, sizeof(text));
		if (campaign_target_state_from_string(text, &s) == 0)
			targets[s] = (uint64_t)sqlite3_column_int64(ts, 1);
	}
	return db_result(db, rc, "count campaign targets");
}

/* --- transitions -------------------------------------------------------------------------------------------------- */

static int begin(struct db *db, bool durable)
{
	return durable ? db_begin_durable(db) : db_begin(db);
}

static int commit(struct db *db)
{
	int r = db_commit(db);

	if (r < 0)
		db_rollback(db);
	return r;
}

/* Reads the state and name of campaign @id inside the caller's transaction. */
static int current_campaign(struct db *db, int64_t id, enum campaign_state *ret_state, char *name, size_t size)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT state, name FROM campaigns WHERE id = ?1");
	char text[32];
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		return -ENOENT;
	if (rc != SQLITE_ROW)
		return db_result(db, rc, "read a campaign's state");
	copy_column_text(st, 0, text, sizeof(text));
	copy_column_text(st, 1, name, size);
	sqlite3_reset(st);
	return campaign_state_from_string(text, ret_state) < 0 ? -EBADMSG : 0;
}

/* Writes the campaign's new state inside the caller's transaction; timestamps follow the state. */
static int write_campaign_state(struct db *db, int64_t id, enum campaign_state to, const char *reason, int64_t now)
{
	sqlite3_stmt *st = db_stmt(db, "UPDATE campaigns SET state = ?2, reason = ?3, updated_at = ?4, "
				   "started_at = CASE WHEN ?2 = 'running' THEN coalesce(started_at, ?4) ELSE started_at END, "
				   "finished_at = CASE WHEN ?2 IN ('completed', 'failed', 'cancelled') THEN ?4 "
				   "ELSE finished_at END WHERE id = ?1");

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, campaign_state_to_string(to), -1, SQLITE_STATIC);
	if (reason && *reason)
		sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, now);
	return db_result(db, sqlite3_step(st), "write a campaign's state");
}

int campaigns_set_state(struct db *db, struct events *events, int64_t id, int expect_from, enum campaign_state to,
			const char *reason, bool durable, enum campaign_state *ret_current)
{
	char name[CAMPAIGN_NAME_MAX + 1];
	enum campaign_state from;
	int r = begin(db, durable);

	if (r < 0)
		return r;
	r = current_campaign(db, id, &from, name, sizeof(name));
	if (r < 0)
		goto fail;
	if (ret_current)
		*ret_current = from;
	if ((expect_from >= 0 && (int)from != expect_from) || !campaign_transition_allowed(from, to)) {
		r = -EPERM;
		goto fail;
	}
	r = write_campaign_state(db, id, to, reason, time_now_ms());
	if (r < 0)
		goto fail;
	r = commit(db);
	if (r < 0)
		return r;
	log_info("campaign %" PRId64 " '%s': %s -> %s%s%s", id, name, campaign_state_to_string(from),
		 campaign_state_to_string(to), reason && *reason ? ": " : "", reason ? reason : "");
	publish_campaign(events, id, name, from, to, reason, "state");
	return 0;
fail:
	db_rollback(db);
	return r;
}

int campaigns_wave_set_state(struct db *db, struct events *events, int64_t id, uint32_t wave,
			     enum campaign_wave_state to, bool durable, enum campaign_wave_state *ret_current)
{
	sqlite3_stmt *get = db_stmt(db, "SELECT state, kind FROM campaign_waves WHERE campaign_id = ?1 AND idx = ?2");
	sqlite3_stmt *set = db_stmt(db, "UPDATE campaign_waves SET state = ?3, updated_at = ?4, "
				    "started_at = CASE WHEN ?3 = 'preparing' THEN coalesce(started_at, ?4) ELSE started_at END, "
				    "finished_at = CASE WHEN ?3 IN ('done', 'cancelled') THEN ?4 ELSE finished_at END "
				    "WHERE campaign_id = ?1 AND idx = ?2");
	enum campaign_wave_state from;
	char text[32], kind[16];
	int rc, r;

	if (!get || !set)
		return -EIO;
	r = begin(db, durable);
	if (r < 0)
		return r;
	sqlite3_bind_int64(get, 1, id);
	sqlite3_bind_int64(get, 2, wave);
	rc = sqlite3_step(get);
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? -ENOENT : db_result(db, rc, "read a wave's state");
		goto fail;
	}
	copy_column_text(get, 0, text, sizeof(text));
	copy_column_text(get, 1, kind, sizeof(kind));
	sqlite3_reset(get);
	if (campaign_wave_state_from_string(text, &from) < 0) {
		r = -EBADMSG;
		goto fail;
	}
	if (ret_current)
		*ret_current = from;
	if (!campaign_wave_transition_allowed(from, to)) {
		r = -EPERM;
		goto fail;
	}
	sqlite3_bind_int64(set, 1, id);
	sqlite3_bind_int64(set, 2, wave);
	sqlite3_bind_text(set, 3, campaign_wave_state_to_string(to), -1, SQLITE_STATIC);
	sqlite3_bind_int64(set, 4, time_now_ms());
	r = db_result(db, sqlite3_step(set), "write a wave's state");
	if (r < 0)
		goto fail;
	r = commit(db);
	if (r < 0)
		return r;
	log_info("campaign %" PRId64 " wave %u: %s -> %s", id, wave, campaign_wave_state_to_string(from),
		 campaign_wave_state_to_string(to));
	publish_wave(events, id, wave, kind, campaign_wave_state_to_string(from), campaign_wave_state_to_string(to));
	return 0;
fail:
	db_rollback(db);
	return r;
}

int campaigns_target_set_state(struct db *db, struct events *events, int64_t id, uint16_t address,
			       enum campaign_target_state to, const char *reason, bool durable,
			       enum campaign_target_state *ret_current)
{
	sqlite3_stmt *get = db_stmt(db, "SELECT state FROM campaign_targets WHERE campaign_id = ?1 AND address = ?2");
	sqlite3_stmt *set = db_stmt(db, "UPDATE campaign_targets SET state = ?3, reason = ?4, updated_at = ?5, "
				    "attempts = attempts + (?3 = 'preparing' AND state = 'pending') "
				    "WHERE campaign_id = ?1 AND address = ?2");
	enum campaign_target_state from;
	char text[32];
	int rc, r;

	if (!get || !set)
		return -EIO;
	r = begin(db, durable);
	if (r < 0)
		return r;
	sqlite3_bind_int64(get, 1, id);
	sqlite3_bind_int(get, 2, address);
	rc = sqlite3_step(get);
	if (rc != SQLITE_ROW) {
		r = rc == SQLITE_DONE ? -ENOENT : db_result(db, rc, "read a target's state");
		goto fail;
	}
	copy_column_text(get, 0, text, sizeof(text));
	sqlite3_reset(get);
	if (campaign_target_state_from_string(text, &from) < 0) {
		r = -EBADMSG;
		goto fail;
	}
	if (ret_current)
		*ret_current = from;
	if (!campaign_target_transition_allowed(from, to)) {
		r = -EPERM;
		goto fail;
	}
	sqlite3_bind_int64(set, 1, id);
	sqlite3_bind_int(set, 2, address);
	sqlite3_bind_text(set, 3, campaign_target_state_to_string(to), -1, SQLITE_STATIC);
	if (reason && *reason)
		sqlite3_bind_text(set, 4, reason, -1, SQLITE_STATIC);
	sqlite3_bind_int64(set, 5, time_now_ms());
	r = db_result(db, sqlite3_step(set), "write a target's state");
	if (r < 0)
		goto fail;
	r = commit(db);
	if (r < 0)
		return r;
	log_debug("campaign %" PRId64 " node 0x%04x: %s -> %s%s%s", id, address, campaign_target_state_to_string(from),
		  campaign_target_state_to_string(to), reason && *reason ? ": " : "", reason ? reason : "");
	publish_targets(events, id, &address, 1, campaign_target_state_to_string(from),
			campaign_target_state_to_string(to), reason);
	return 0;
fail:
	db_rollback(db);
	return r;
}

/* --- actions ------------------------------------------------------------------------------------------------------ */

int campaigns_start(struct db *db, struct events *events, int64_t id, int64_t now_ms, const char *by,
		    enum campaign_state *ret_state)
{
	char reason[CAMPAIGN_REASON_MAX + 1];
	struct campaign c;
	enum campaign_state to;
	int r = campaigns_get(db, id, &c);

	if (r < 0)
		return r;
	to = c.state == CAMPAIGN_DRAFT && c.scheduled_start > now_ms ? CAMPAIGN_SCHEDULED : CAMPAIGN_RUNNING;
	campaign_done(&c);
	snprintf(reason, sizeof(reason), "%s by '%s'", to == CAMPAIGN_SCHEDULED ? "scheduled" : "started", by);
	/* from draft, or scheduled (start now); the table refuses the rest */
	if (c.state != CAMPAIGN_DRAFT && c.state != CAMPAIGN_SCHEDULED) {
		*ret_state = c.state;
		return -EPERM;
	}
	r = campaigns_set_state(db, events, id, (int)c.state, to, reason, false, ret_state);
	if (r == 0)
		*ret_state = to;
	return r;
}

/* Collects the addresses of @id's targets in @state into @out (MESH_ADDRESSES entries). */
static int targets_in_state(struct db *db, int64_t id, const char *state, uint16_t *out, size_t *ret_n)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT address FROM campaign_targets WHERE campaign_id = ?1 AND state = ?2 "
				   "ORDER BY address");
	size_t n = 0;
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && n < MESH_ADDRESSES)
		out[n++] = (uint16_t)sqlite3_column_int(st, 0);
	sqlite3_reset(st);
	*ret_n = n;
	return rc == SQLITE_ROW ? 0 : db_result(db, rc, "list targets by state");
}

/* The target states a cancel ends (docs/campaigns.md: applying and confirming stay for the engine). */
static const enum campaign_target_state cancel_targets[] = {
	CAMPAIGN_TARGET_PENDING, CAMPAIGN_TARGET_PREPARING, CAMPAIGN_TARGET_TRANSFERRING, CAMPAIGN_TARGET_VERIFYING,
	CAMPAIGN_TARGET_VERIFIED,
};
static const enum campaign_wave_state cancel_waves[] = {
	CAMPAIGN_WAVE_PENDING, CAMPAIGN_WAVE_PREPARING, CAMPAIGN_WAVE_TRANSFERRING, CAMPAIGN_WAVE_VERIFYING,
	CAMPAIGN_WAVE_VERIFIED,
};

int campaigns_cancel(struct db *db, struct events *events, int64_t id, const char *by, enum campaign_state *ret_state)
{
	sqlite3_stmt *waves = db_stmt(db, "UPDATE campaign_waves SET state = 'cancelled', updated_at = ?3, "
				      "finished_at = ?3 WHERE campaign_id = ?1 AND state = ?2 RETURNING idx, kind");
	sqlite3_stmt *targets = db_stmt(db, "UPDATE campaign_targets SET state = 'cancelled', reason = ?3, "
					"updated_at = ?4 WHERE campaign_id = ?1 AND state = ?2");
	uint16_t *lists[ARRAY_SIZE(cancel_targets)] = { 0 };
	size_t n_lists[ARRAY_SIZE(cancel_targets)] = { 0 };
	struct { uint32_t index; char kind[16]; enum campaign_wave_state from; } *cancelled_waves = NULL;
	size_t n_waves = 0;
	char reason[CAMPAIGN_REASON_MAX + 1], name[CAMPAIGN_NAME_MAX + 1];
	enum campaign_state from;
	int64_t now = time_now_ms();
	int rc, r;

	if (!waves || !targets)
		return -EIO;
	snprintf(reason, sizeof(reason), "cancelled by '%s'", by);
	cancelled_waves = calloc(WAVES_MAX, sizeof(*cancelled_waves));
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		lists[i] = calloc(MESH_ADDRESSES, sizeof(uint16_t));
	r = -ENOMEM;
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		if (!lists[i])
			goto out;
	if (!cancelled_waves)
		goto out;
	r = db_begin(db);
	if (r < 0)
		goto out;
	r = current_campaign(db, id, &from, name, sizeof(name));
	if (r < 0)
		goto fail;
	*ret_state = from;
	if (!campaign_transition_allowed(from, CAMPAIGN_CANCELLED)) {
		r = -EPERM;
		goto fail;
	}
	r = write_campaign_state(db, id, CAMPAIGN_CANCELLED, reason, now);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(cancel_waves); i++) {
		sqlite3_reset(waves);
		sqlite3_bind_int64(waves, 1, id);
		sqlite3_bind_text(waves, 2, campaign_wave_state_to_string(cancel_waves[i]), -1, SQLITE_STATIC);
		sqlite3_bind_int64(waves, 3, now);
		while ((rc = sqlite3_step(waves)) == SQLITE_ROW && n_waves < WAVES_MAX) {
			cancelled_waves[n_waves].index = (uint32_t)sqlite3_column_int64(waves, 0);
			copy_column_text(waves, 1, cancelled_waves[n_waves].kind, sizeof(cancelled_waves[0].kind));
			cancelled_waves[n_waves++].from = cancel_waves[i];
		}
		r = db_result(db, rc == SQLITE_ROW ? SQLITE_DONE : rc, "cancel waves");
		sqlite3_reset(waves);
	}
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(cancel_targets); i++) {
		const char *state = campaign_target_state_to_string(cancel_targets[i]);

		r = targets_in_state(db, id, state, lists[i], &n_lists[i]);
		if (r < 0)
			break;
		sqlite3_reset(targets);
		sqlite3_bind_int64(targets, 1, id);
		sqlite3_bind_text(targets, 2, state, -1, SQLITE_STATIC);
		sqlite3_bind_text(targets, 3, reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(targets, 4, now);
		r = db_result(db, sqlite3_step(targets), "cancel targets");
	}
	if (r < 0)
		goto fail;
	r = commit(db);
	if (r < 0)
		goto out;
	*ret_state = CAMPAIGN_CANCELLED;
	log_info("campaign %" PRId64 " '%s': %s -> cancelled: %s", id, name, campaign_state_to_string(from), reason);
	publish_campaign(events, id, name, from, CAMPAIGN_CANCELLED, reason, "state");
	for (size_t i = 0; i < n_waves; i++)
		publish_wave(events, id, cancelled_waves[i].index, cancelled_waves[i].kind,
			     campaign_wave_state_to_string(cancelled_waves[i].from), "cancelled");
	for (size_t i = 0; i < ARRAY_SIZE(cancel_targets); i++)
		publish_targets(events, id, lists[i], n_lists[i], campaign_target_state_to_string(cancel_targets[i]),
				"cancelled", reason);
	goto out;
fail:
	db_rollback(db);
out:
	for (size_t i = 0; i < ARRAY_SIZE(lists); i++)
		free(lists[i]);
	free(cancelled_waves);
	return r;
}

int campaigns_retry(struct db *db, struct events *events, int64_t id, enum campaign_state *ret_state, size_t *ret_n,
		    uint32_t *ret_wave)
{
	sqlite3_stmt *next = db_stmt(db, "SELECT coalesce(max(idx) + 1, 0) FROM campaign_waves WHERE campaign_id = ?1");
	sqlite3_stmt *pick = db_stmt(db, "UPDATE campaign_targets SET state = 'pending', wave = ?2, updated_at = ?3, "
				     "last_result = coalesce(reason, last_result), reason = NULL WHERE campaign_id = ?1 "
				     "AND state = 'failed' AND attempts < (SELECT max_attempts FROM campaigns WHERE id = ?1) "
				     "RETURNING address");
	char name[CAMPAIGN_NAME_MAX + 1];
	enum campaign_state state;
	uint16_t *picked = NULL;
	size_t n = 0;
	int64_t now = time_now_ms(), index;
	int rc, r;

	if (!next || !pick)
		return -EIO;
	picked = calloc(MESH_ADDRESSES, sizeof(*picked));
	if (!picked)
		return -ENOMEM;
	r = db_begin(db);
	if (r < 0)
		goto out;
	r = current_campaign(db, id, &state, name, sizeof(name));
	if (r < 0)
		goto fail;
	*ret_state = state;
	if (state != CAMPAIGN_RUNNING && state != CAMPAIGN_PAUSED) {
		r = -EPERM;
		goto fail;
	}
	sqlite3_bind_int64(next, 1, id);
	rc = sqlite3_step(next);
	index = rc == SQLITE_ROW ? sqlite3_column_int64(next, 0) : 0;
	sqlite3_reset(next);
	r = db_result(db, rc == SQLITE_ROW ? SQLITE_DONE : rc, "number a retry wave");
	if (r < 0)
		goto fail;
	if (index >= WAVES_MAX) {
		r = -E2BIG;
		goto fail;
	}
	r = insert_wave(db, id, (uint32_t)index, CAMPAIGN_WAVE_RETRY, now);
	if (r < 0)
		goto fail;
	sqlite3_bind_int64(pick, 1, id);
	sqlite3_bind_int64(pick, 2, index);
	sqlite3_bind_int64(pick, 3, now);
	while ((rc = sqlite3_step(pick)) == SQLITE_ROW && n < MESH_ADDRESSES)
		picked[n++] = (uint16_t)sqlite3_column_int(pick, 0);
	sqlite3_reset(pick);
	r = db_result(db, rc == SQLITE_ROW ? SQLITE_DONE : rc, "put failed targets into a retry wave");
	if (r < 0)
		goto fail;
	if (n == 0) {
		r = -ENODATA;
		goto fail;
	}
	r = commit(db);
	if (r < 0)
		goto out;
	log_info("campaign %" PRId64 " '%s': retry wave %" PRId64 " with %zu failed targets", id, name, index, n);
	publish_wave(events, id, (uint32_t)index, "retry", NULL, "pending");
	publish_targets(events, id, picked, n, "failed", "pending", NULL);
	*ret_n = n;
	*ret_wave = (uint32_t)index;
	goto out;
fail:
	db_rollback(db);
out:
	free(picked);
	return r;
}

int campaigns_apply(struct db *db, struct events *events, int64_t id, enum campaign_state *ret_state, size_t *ret_n)
{
	sqlite3_stmt *policy = db_stmt(db, "SELECT apply_policy FROM campaigns WHERE id = ?1");
	sqlite3_stmt *release = db_stmt(db, "UPDATE campaign_waves SET state = 'applying', updated_at = ?2 WHERE "
					"campaign_id = ?1 AND state = 'verified' RETURNING idx, kind");
	struct { uint32_t index; char kind[16]; } *released = NULL;
	char name[CAMPAIGN_NAME_MAX + 1], text[32] = "";
	enum campaign_state state;
	size_t n = 0;
	int rc, r;

	if (!policy || !release)
		return -EIO;
	released = calloc(WAVES_MAX, sizeof(*released));
	if (!released)
		return -ENOMEM;
	r = begin(db, true);
	if (r < 0)
		goto out;
	r = current_campaign(db, id, &state, name, sizeof(name));
	if (r < 0)
		goto fail;
	*ret_state = state;
	sqlite3_bind_int64(policy, 1, id);
	if (sqlite3_step(policy) == SQLITE_ROW)
		copy_column_text(policy, 0, text, sizeof(text));
	sqlite3_reset(policy);
	if (state != CAMPAIGN_RUNNING && state != CAMPAIGN_PAUSED) {
		r = -EPERM;
		goto fail;
	}
	if (strcmp(text, "immediate") == 0) {
		r = -EINVAL;
		goto fail;
	}
	/* the table allows verified -> applying: the statement changes nothing else */
	sqlite3_bind_int64(release, 1, id);
	sqlite3_bind_int64(release, 2, time_now_ms());
	while ((rc = sqlite3_step(release)) == SQLITE_ROW && n < WAVES_MAX) {
		released[n].index = (uint32_t)sqlite3_column_int64(release, 0);
		copy_column_text(release, 1, released[n++].kind, sizeof(released[0].kind));
	}
	sqlite3_reset(release);
	r = db_result(db, rc == SQLITE_ROW ? SQLITE_DONE : rc, "release verified waves");
	if (r < 0)
		goto fail;
	if (n == 0) {
		r = -ENODATA;
		goto fail;
	}
	/* durable: this commit is what allows the engine to send the apply */
	r = commit(db);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		log_info("campaign %" PRId64 " '%s' wave %u: verified -> applying (apply requested)", id, name,
			 released[i].index);
		publish_wave(events, id, released[i].index, released[i].kind, "verified", "applying");
	}
	*ret_n = n;
	goto out;
fail:
	db_rollback(db);
out:
	free(released);
	return r;
}

/* --- JSON -------------------------------------------------------------------------------------------------------- */

static json_t *json_time(int64_t ms)
{
	char text[21];

	if (!ms)
		return json_null();
	time_format_rfc3339(ms, text);
	return json_string(text);
}

static json_t *json_optional_uint(uint64_t v)
{
	return v ? json_integer((json_int_t)v) : json_null();
}

json_t *campaign_to_json(const struct campaign *c)
{
	char fwid[2 * CAMPAIGN_FWID_MAX + 1];
	json_t *selection = json_loads(c->selection ? c->selection : "{}", 0, NULL);
	json_t *window = c->apply_policy == CAMPAIGN_APPLY_WINDOW ?
			 json_pack("{s:o, s:o}", "start", json_time(c->window_start), "end", json_time(c->window_end)) :
			 json_null();

	hex_encode(c->fwid, c->fwid_len, fwid);
	fwid[2 * c->fwid_len] = '\0';
	return json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:o, s:{s:i, s:o, s:o}, s:i, s:i, s:i, s:{s:s, s:o}, "
			 "s:{s:s, s:i, s:i, s:i, s:b, s:o, s:o}, s:b, s:o, s:s, s:o, s:o, s:o, s:o}",
			 "id", (json_int_t)c->id, "name", c->name, "firmware", c->firmware, "firmware_id", fwid,
			 "state", campaign_state_to_string(c->state), "reason", c->reason[0] ? c->reason : NULL,
			 "targets", selection ? selection : json_null(),
			 "plan", "canary", (int)c->canary, "size", json_optional_uint(c->wave_size),
			 "percent", json_optional_uint(c->wave_size ? 0 : c->wave_percent),
			 "success_threshold", (int)c->success_threshold, "error_threshold", (int)c->error_threshold,
			 "max_attempts", (int)c->max_attempts,
			 "apply", "policy", campaign_apply_policy_to_string(c->apply_policy), "window",
			 window ? window : json_null(),
			 "transfer", "mode", campaign_transfer_mode_to_string(c->mode), "ttl", (int)c->ttl,
			 "timeout_base", (int)c->timeout_base, "group_address", (int)c->group_address,
			 "group_allocated", c->group_allocated, "block_size_log", json_optional_uint(c->block_size_log),
			 "chunk_size", json_optional_uint(c->chunk_size),
			 "allow_downgrade", c->allow_downgrade, "scheduled_start", json_time(c->scheduled_start),
			 "created_by", c->created_by, "created_at", json_time(c->created_at),
			 "updated_at", json_time(c->updated_at), "started_at", json_time(c->started_at),
			 "finished_at", json_time(c->finished_at));
}
