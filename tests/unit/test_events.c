/* Unit tests for daemon/events.c: ids, storage and replay, pruning, subscribers, coalescing on a fake clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "events.h"
#include "tap.h"

static char dir[] = "/tmp/mf-test-events-XXXXXX";
static char path[512];
static uint64_t fake_now;

static uint64_t fake_clock(void *userdata)
{
	(void)userdata;
	return fake_now;
}

struct seen {
	uint64_t ids[64];
	char types[64][EVENTS_TYPE_MAX];
	char data[64][128];
	size_t n;
};

static void on_event(void *userdata, const struct event *e)
{
	struct seen *s = userdata;

	if (s->n < 64) {
		s->ids[s->n] = e->id;
		snprintf(s->types[s->n], sizeof(s->types[0]), "%s", e->type);
		snprintf(s->data[s->n], sizeof(s->data[0]), "%.*s", (int)e->data_len, e->data);
	}
	s->n++;
}

static struct events *open_events(struct db **ret_db, uint32_t keep, uint32_t batch)
{
	struct events_options o = { .keep = keep, .prune_batch = batch, .clock = fake_clock };
	struct events *ev = NULL;
	char err[512] = "";
	int r;

	r = db_open(path, ret_db, err, sizeof(err));
	if (r < 0) {
		printf("# db_open: %s\n", err);
		return NULL;
	}
	r = events_new(*ret_db, &o, &ev);
	is_int(r, 0, "events_new");
	return ev;
}

static int64_t count_rows(struct db *db)
{
	sqlite3_stmt *st = db_stmt(db, "SELECT count(*) FROM events");
	int64_t n = -1;

	if (st && sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

static void test_ids_and_replay(void)
{
	struct seen live = { 0 }, replayed = { 0 };
	struct events_sub *sub = NULL;
	struct db *db = NULL;
	struct events *ev = open_events(&db, 0, 0);
	bool more = true;

	if (!ev)
		return;
	is_int(events_last_id(ev), 0, "a new database has no event");
	is_int(events_subscribe(ev, on_event, &live, &sub), 0, "subscribe");
	is_int(events_publish(ev, EVENT_NETWORK, json_pack("{s:s}", "action", "imported")), 1, "the first id is 1");
	is_int(events_publish(ev, EVENT_DONGLE, json_pack("{s:s}", "state", "up")), 2, "then 2");
	is_int(live.n, 2, "the subscriber saw both");
	ok(live.ids[0] == 1 && live.ids[1] == 2, "in order");
	is_str(live.types[1], "dongle", "with their type");
	is_str(live.data[0], "{\"action\":\"imported\"}", "and compact JSON");
	is_int(events_publish(ev, EVENT_DONGLE, NULL), 0, "no data: nothing published");
	events_unsubscribe(ev, sub);
	is_int(events_publish(ev, EVENT_DONGLE, json_pack("{s:s}", "state", "lost")), 3, "3");
	is_int(live.n, 2, "an unsubscribed callback sees nothing more");

	is_int(events_replay(ev, 1, 10, on_event, &replayed, &more), 0, "replay after 1");
	is_int(replayed.n, 2, "two events after 1");
	ok(replayed.ids[0] == 2 && replayed.ids[1] == 3 && !more, "ids 2 and 3, no more");
	is_str(replayed.data[1], "{\"state\":\"lost\"}", "the stored data reads back");
	replayed.n = 0;
	is_int(events_replay(ev, 0, 2, on_event, &replayed, &more), 0, "replay a page of 2");
	ok(replayed.n == 2 && more, "two, and more follow (got %zu)", replayed.n);
	events_free(ev);
	db_free(db);

	/* A restart continues the ids after the newest stored one. */
	ev = open_events(&db, 0, 0);
	if (!ev)
		return;
	is_int(events_last_id(ev), 3, "after a restart the last id is 3");
	is_int(events_publish(ev, EVENT_NETWORK, json_object()), 4, "and the next is 4");
	events_free(ev);
	db_free(db);
}

static void test_prune(void)
{
	struct seen replayed = { 0 };
	struct db *db = NULL;
	struct events *ev;
	bool more = true;
	int64_t rows;

	unlink(path);
	ev = open_events(&db, 10, 5);
	if (!ev)
		return;
	for (int i = 0; i < 47; i++)
		events_publish(ev, EVENT_DONGLE, json_pack("{s:i}", "n", i));
	rows = count_rows(db);
	ok(rows >= 10 && rows < 10 + 5, "kept between 10 and 14 events (%lld)", (long long)rows);
	is_int(events_replay(ev, 0, 64, on_event, &replayed, &more), 0, "replay from the start");
	is_int(replayed.n, rows, "replays what is kept");
	is_int(replayed.ids[replayed.n - 1], 47, "up to the newest");
	is_int(replayed.ids[0], 47 - rows + 1, "from the oldest kept, without a hole");
	events_free(ev);
	db_free(db);
}

static void test_progress(void)
{
	struct seen live = { 0 };
	struct events_sub *sub = NULL;
	struct db *db = NULL;
	struct events *ev;

	unlink(path);
	ev = open_events(&db, 0, 0);
	if (!ev)
		return;
	events_subscribe(ev, on_event, &live, &sub);
	fake_now = 5000;
	ok(events_progress(ev, EVENT_REFRESH, "refresh", json_pack("{s:i}", "done", 1), false) > 0,
	   "the first progress of a key is published");
	for (int i = 2; i < 50; i++) {
		fake_now += 10;
		events_progress(ev, EVENT_REFRESH, "refresh", json_pack("{s:i}", "done", i), false);
	}
	is_int(live.n, 1, "the next ones within the interval are dropped");
	ok(events_progress(ev, EVENT_GROUP_JOB, "group_job:1", json_pack("{s:i}", "done", 1), false) > 0,
	   "another key is independent");
	fake_now += EVENTS_COALESCE_MS;
	ok(events_progress(ev, EVENT_REFRESH, "refresh", json_pack("{s:i}", "done", 60), false) > 0,
	   "after the interval, the next is published");
	is_str(live.data[2], "{\"done\":60}", "with the newest counts");
	fake_now += 1;
	ok(events_progress(ev, EVENT_REFRESH, "refresh", json_pack("{s:i}", "done", 61), true) > 0,
	   "the final state is always published");
	ok(events_progress(ev, EVENT_REFRESH, "refresh", json_pack("{s:i}", "done", 0), false) > 0,
	   "and a new run of the key starts afresh");
	is_int(live.n, 5, "five events in all");
	for (int i = 0; i < EVENTS_PROGRESS_KEYS + 4; i++) {
		char key[16];

		fake_now += 1;
		snprintf(key, sizeof(key), "k%d", i);
		events_progress(ev, EVENT_GROUP_JOB, key, json_object(), false);
	}
	is_int(live.n, 5 + EVENTS_PROGRESS_KEYS + 4, "more keys than slots: each new key is published");
	events_unsubscribe(ev, sub);
	events_free(ev);
	db_free(db);
}

static struct events *self_ev;
static struct events_sub *self_sub;

static void on_event_unsubscribe(void *userdata, const struct event *e)
{
	struct seen *s = userdata;

	(void)e;
	s->n++;
	events_unsubscribe(self_ev, self_sub);
	self_sub = NULL;
}

static void test_unsubscribe_in_callback(void)
{
	struct seen a = { 0 }, b = { 0 };
	struct events_sub *sub_b = NULL;
	struct db *db = NULL;

	unlink(path);
	self_ev = open_events(&db, 0, 0);
	if (!self_ev)
		return;
	events_subscribe(self_ev, on_event, &b, &sub_b);
	events_subscribe(self_ev, on_event_unsubscribe, &a, &self_sub);
	events_publish(self_ev, EVENT_DONGLE, json_object());
	events_publish(self_ev, EVENT_DONGLE, json_object());
	is_int(a.n, 1, "a subscriber that unsubscribes in its callback sees one event");
	is_int(b.n, 2, "the others still see every event");
	ok(events_type_known("group_job", 9) && !events_type_known("group", 5) && !events_type_known("nodes", 5),
	   "known types");
	events_unsubscribe(self_ev, sub_b);
	events_free(self_ev);
	db_free(db);
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/test.db", dir);
	test_ids_and_replay();
	test_prune();
	test_progress();
	test_unsubscribe_in_callback();
	{
		char p[600];

		unlink(path);
		snprintf(p, sizeof(p), "%s-wal", path);
		unlink(p);
		snprintf(p, sizeof(p), "%s-shm", path);
		unlink(p);
		rmdir(dir);
	}
	return done_testing();
}
