/* sched: the simulator's discrete-event clock. Virtual time runs at --speed times real time (CLOCK_MONOTONIC);
 * events wait in a binary heap ordered by virtual time, ties in the order they were added, so equal times never
 * depend on the heap's layout. The main loop sleeps in poll() until the next event is due in real time.
 *
 * A clock made with sched_init_virtual() (meshfleet-sim --bench) does not follow real time at all: it stands still
 * until sched_advance() moves it to the next thing due, so a run takes as long as its computation. */
#ifndef MESHFLEET_SIM_SCHED_H
#define MESHFLEET_SIM_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCHED_NEVER UINT64_MAX

struct sched_event {
	uint64_t at;            /* virtual ms */
	uint64_t order;         /* set by sched_add() */
	int kind;               /* the owner's, with @arg */
	uint32_t arg[4];
};

struct sched {
	double speed;           /* 0: a virtual clock (sched_init_virtual()) */
	uint64_t virtual_now;   /* its time, virtual ms */
	int64_t start_ns;       /* CLOCK_MONOTONIC at virtual time 0 */
	struct sched_event *heap;
	size_t len;
	size_t cap;             /* fixed at init: adding beyond it is refused */
	uint64_t next_order;
};

/* Starts virtual time at 0 now. Returns 0 or -ENOMEM. */
int sched_init(struct sched *s, double speed, size_t cap);
/* A clock that only sched_advance() moves, from 0. Returns 0 or -ENOMEM. */
int sched_init_virtual(struct sched *s, size_t cap);
void sched_done(struct sched *s);

/* A virtual clock: jumps to @at (never back). No effect on a real-time clock. */
void sched_advance(struct sched *s, uint64_t at);

uint64_t sched_now(const struct sched *s);

/* Adds a copy of @ev. Returns 0, or -ENOSPC when @cap events are waiting. */
int sched_add(struct sched *s, const struct sched_event *ev);

/* Removes the earliest event if it is due at @now. */
bool sched_pop_due(struct sched *s, uint64_t now, struct sched_event *ret);

/* Virtual time of the earliest event, or SCHED_NEVER. */
uint64_t sched_next(const struct sched *s);

/* Real milliseconds until virtual time @at (rounded up), for poll(); -1 for SCHED_NEVER. */
int sched_real_delay(const struct sched *s, uint64_t at);

#endif
