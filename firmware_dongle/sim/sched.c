/* sched: see sched.h. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "sched.h"

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int sched_init(struct sched *s, double speed, size_t cap)
{
	*s = (struct sched){ .speed = speed, .turn_ns = mono_ns(), .wait_ms = -1, .cap = cap };
	s->heap = calloc(cap, sizeof(*s->heap));
	return s->heap ? 0 : -ENOMEM;
}

int sched_init_virtual(struct sched *s, size_t cap)
{
	int err = sched_init(s, 0, cap);

	s->virtual_now = 0;
	return err;
}

void sched_advance(struct sched *s, uint64_t at)
{
	if (s->speed == 0 && at != SCHED_NEVER && at > s->virtual_now)
		s->virtual_now = at;
}

void sched_done(struct sched *s)
{
	free(s->heap);
	s->heap = NULL;
	s->len = 0;
}

uint64_t sched_now(const struct sched *s)
{
	return s->virtual_now;
}

void sched_turn(struct sched *s)
{
	int64_t now = mono_ns();
	double real_ms = (double)(now - s->turn_ns) / 1e6;

	if (s->speed == 0)
		return;
	if (s->wait_ms >= 0 && real_ms > s->wait_ms + SCHED_STALL_TOLERANCE_MS) {
		s->stalled_ms += real_ms - (s->wait_ms + SCHED_STALL_TOLERANCE_MS);
		real_ms = s->wait_ms + SCHED_STALL_TOLERANCE_MS;
	}
	s->virtual_exact += real_ms * s->speed;
	s->virtual_now = (uint64_t)s->virtual_exact;
	s->turn_ns = now;
	s->wait_ms = -1;
}

void sched_wait(struct sched *s, int ms)
{
	s->wait_ms = ms;
}

double sched_stalled_ms(const struct sched *s)
{
	return s->stalled_ms;
}

static bool before(const struct sched_event *a, const struct sched_event *b)
{
	return a->at < b->at || (a->at == b->at && a->order < b->order);
}

static void swap(struct sched_event *a, struct sched_event *b)
{
	struct sched_event t = *a;

	*a = *b;
	*b = t;
}

int sched_add(struct sched *s, const struct sched_event *ev)
{
	size_t i = s->len;

	if (s->len == s->cap)
		return -ENOSPC;
	s->heap[i] = *ev;
	s->heap[i].order = s->next_order++;
	s->len++;
	while (i > 0 && before(&s->heap[i], &s->heap[(i - 1) / 2])) {
		swap(&s->heap[i], &s->heap[(i - 1) / 2]);
		i = (i - 1) / 2;
	}
	return 0;
}

bool sched_pop_due(struct sched *s, uint64_t now, struct sched_event *ret)
{
	size_t i = 0;

	if (s->len == 0 || s->heap[0].at > now)
		return false;
	*ret = s->heap[0];
	s->heap[0] = s->heap[--s->len];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < s->len && before(&s->heap[l], &s->heap[m]))
			m = l;
		if (r < s->len && before(&s->heap[r], &s->heap[m]))
			m = r;
		if (m == i)
			break;
		swap(&s->heap[i], &s->heap[m]);
		i = m;
	}
	return true;
}

uint64_t sched_next(const struct sched *s)
{
	return s->len > 0 ? s->heap[0].at : SCHED_NEVER;
}

int sched_real_delay(const struct sched *s, uint64_t at)
{
	double ms;

	if (at == SCHED_NEVER)
		return -1;
	if (at <= s->virtual_now || s->speed == 0)
		return 0;
	ms = ceil(((double)at - s->virtual_exact) / s->speed - (double)(mono_ns() - s->turn_ns) / 1e6);
	return ms <= 0 ? 0 : ms > INT_MAX ? INT_MAX : (int)ms;
}
