/* events: see events.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "log.h"
#include "util.h"

struct events_sub {
	struct events_sub *prev, *next;
	events_fn fn;
	void *userdata;
};

struct progress_key {
	char key[EVENTS_KEY_MAX];       /* "" = free */
	uint64_t last_ms;               /* clock of the last published event */
};

struct events {
	struct db *db;                  /* weak */
	uint32_t keep, prune_batch;
	events_clock_fn clock;
	void *clock_userdata;
	uint64_t last_id;
	uint32_t since_prune;           /* inserts since the last prune */
	struct events_sub *subs;
	struct events_sub *delivering_next;     /* the next subscriber of the delivery under way */
	struct progress_key keys[EVENTS_PROGRESS_KEYS];
};

bool events_type_known(const char *name, size_t len)
{
	static const char *const types[] = { EVENT_REFRESH, EVENT_GROUP_JOB, EVENT_NETWORK, EVENT_DONGLE,
					     EVENT_FIRMWARE, EVENT_CAMPAIGN, EVENT_WAVE, EVENT_TARGET,
					     EVENT_CAMPAIGN_PROGRESS };

	for (size_t i = 0; i < ARRAY_SIZE(types); i++)
		if (strlen(types[i]) == len && memcmp(types[i], name, len) == 0)
			return true;
	return false;
}

int events_new(struct db *db, const struct events_options *options, struct events **ret)
{
	struct events *ev;
	sqlite3_stmt *st;
	int rc;

	if (!options->clock)
		return -EINVAL;
	ev = calloc(1, sizeof(*ev));
	if (!ev)
		return -ENOMEM;
	ev->db = db;
	ev->keep = options->keep ? options->keep : EVENTS_KEEP;
	ev->prune_batch = options->prune_batch ? options->prune_batch : EVENTS_PRUNE_BATCH;
	ev->clock = options->clock;
	ev->clock_userdata = options->clock_userdata;
	st = db_stmt(db, "SELECT coalesce(max(id), 0) FROM events");
	if (!st) {
		free(ev);
		return -EIO;
	}
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		free(ev);
		return db_result(db, rc, "reading the newest event");
	}
	ev->last_id = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	/* A full batch may be due already (a crash before the last prune): the first insert prunes. */
	ev->since_prune = ev->prune_batch;
	*ret = ev;
	return 0;
}

struct events *events_free(struct events *ev)
{
	if (!ev)
		return NULL;
	if (ev->subs)
		log_err("events: freed with subscribers left: this is a bug");
	free(ev);
	return NULL;
}

uint64_t events_last_id(const struct events *ev)
{
	return ev ? ev->last_id : 0;
}

static void prune(struct events *ev)
{
	sqlite3_stmt *st;
	int rc;

	if (ev->last_id <= ev->keep)
		return;
	st = db_stmt(ev->db, "DELETE FROM events WHERE id <= ?");
	if (!st)
		return;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)(ev->last_id - ev->keep));
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		db_result(ev->db, rc, "pruning old events");
}

static void store(struct events *ev, const struct event *e)
{
	sqlite3_stmt *st = db_stmt(ev->db, "INSERT INTO events(id, time, type, data) VALUES (?, ?, ?, ?)");
	int rc;

	if (!st)
		return;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)e->id);
	sqlite3_bind_int64(st, 2, e->time);
	sqlite3_bind_text(st, 3, e->type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, e->data, (int)e->data_len, SQLITE_STATIC);
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		/* Live clients still get it; one that reconnects misses it. */
		db_result(ev->db, rc, "storing an event");
		return;
	}
	if (++ev->since_prune >= ev->prune_batch) {
		ev->since_prune = 0;
		prune(ev);
	}
}

static void deliver(struct events *ev, const struct event *e)
{
	for (struct events_sub *s = ev->subs; s; s = ev->delivering_next) {
		ev->delivering_next = s->next;
		s->fn(s->userdata, e);
	}
	ev->delivering_next = NULL;
}

uint64_t events_publish(struct events *ev, const char *type, json_t *data)
{
	struct event e = { .type = type };
	char *text;

	if (!ev || !data) {
		json_decref(data);
		return 0;
	}
	text = json_dumps(data, JSON_COMPACT);
	json_decref(data);
	if (!text) {
		log_warning("events: out of memory writing a %s event; it is lost", type);
		return 0;
	}
	e.data_len = strlen(text);
	if (e.data_len > EVENTS_DATA_MAX) {
		log_err("events: a %s event of %zu bytes is over the limit of %d: this is a bug", type, e.data_len,
			EVENTS_DATA_MAX);
		free(text);
		return 0;
	}
	e.id = ++ev->last_id;
	e.time = time_now_ms();
	e.data = text;
	store(ev, &e);
	deliver(ev, &e);
	free(text);
	return e.id;
}

uint64_t events_progress(struct events *ev, const char *type, const char *key, json_t *data, bool final)
{
	struct progress_key *slot = NULL, *oldest = NULL;
	uint64_t now;

	if (!ev) {
		json_decref(data);
		return 0;
	}
	now = ev->clock(ev->clock_userdata);
	for (size_t i = 0; i < EVENTS_PROGRESS_KEYS; i++) {
		struct progress_key *k = &ev->keys[i];

		if (k->key[0] && strcmp(k->key, key) == 0) {
			slot = k;
			break;
		}
		if (!oldest || !k->key[0] || (oldest->key[0] && k->last_ms < oldest->last_ms))
			oldest = k;
	}
	if (final) {
		if (slot)
			slot->key[0] = '\0';    /* the job is over: its next run starts afresh */
		return events_publish(ev, type, data);
	}
	if (slot && now - slot->last_ms < EVENTS_COALESCE_MS) {
		json_decref(data);
		return 0;
	}
	if (!slot) {
		slot = oldest;
		snprintf(slot->key, sizeof(slot->key), "%s", key);
	}
	slot->last_ms = now;
	return events_publish(ev, type, data);
}

int events_replay(struct events *ev, uint64_t after, unsigned limit, events_fn fn, void *userdata, bool *ret_more)
{
	sqlite3_stmt *st = db_stmt(ev->db, "SELECT id, time, type, data FROM events WHERE id > ? ORDER BY id LIMIT ?");
	unsigned n = 0;
	int rc;

	if (!st)
		return -EIO;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)(after > INT64_MAX ? INT64_MAX : after));
	sqlite3_bind_int64(st, 2, (sqlite3_int64)limit + 1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct event e;

		if (n == limit) {
			*ret_more = true;
			sqlite3_reset(st);
			return 0;
		}
		e.id = (uint64_t)sqlite3_column_int64(st, 0);
		e.time = sqlite3_column_int64(st, 1);
		e.type = (const char *)sqlite3_column_text(st, 2);
		e.data = (const char *)sqlite3_column_text(st, 3);
		e.data_len = (size_t)sqlite3_column_bytes(st, 3);
		if (!e.type || !e.data) {
			sqlite3_reset(st);
			return -ENOMEM;
		}
		fn(userdata, &e);
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE)
		return db_result(ev->db, rc, "reading events");
	*ret_more = false;
	return 0;
}

int events_subscribe(struct events *ev, events_fn fn, void *userdata, struct events_sub **ret)
{
	struct events_sub *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	s->fn = fn;
	s->userdata = userdata;
	s->next = ev->subs;
	if (ev->subs)
		ev->subs->prev = s;
	ev->subs = s;
	*ret = s;
	return 0;
}

void events_unsubscribe(struct events *ev, struct events_sub *sub)
{
	if (!sub)
		return;
	if (ev->delivering_next == sub)
		ev->delivering_next = sub->next;
	if (sub->prev)
		sub->prev->next = sub->next;
	else
		ev->subs = sub->next;
	if (sub->next)
		sub->next->prev = sub->prev;
	free(sub);
}
