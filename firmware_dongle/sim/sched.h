/* sched: the simulator's discrete-event clock. Virtual time runs at --speed times real time (CLOCK_MONOTONIC);
 * events wait in a binary heap ordered by virtual time, ties in the order they were added, so equal times never
 * depend on the heap's layout. The main loop sleeps in poll() until the next event is due in real time.
 *
 * The clock moves in turns of the loop: sched_turn() after poll() returns, and sched_now() gives that turn's time
 * until the next. A turn moves it by the real time since the last one, times the speed, but by no more than the
 * wait the loop asked of poll() (sched_wait()) plus SCHED_STALL_TOLERANCE_MS: real time beyond that is the host
 * holding the simulator up (a loaded CPU, a slow fsync), not time the mesh had. Without the limit, at 200 x a stall
 * of 100 ms would be 20 s of mesh time, in which every node's BLOB timeout (10 s x (TimeoutBase + 2)) could run out.
 * The time taken out is counted (sched_stalled_ms()).
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

#define SCHED_STALL_TOLERANCE_MS 10     /* real ms of work per turn beyond the wait asked, before it is a stall */

struct sched {
	double speed;           /* 0: a virtual clock (sched_init_virtual()) */
	uint64_t virtual_now;   /* the time of this turn, virtual ms */
	double virtual_exact;   /* ... without rounding (a real-time clock) */
	int64_t turn_ns;        /* CLOCK_MONOTONIC at the start of this turn */
	int wait_ms;            /* the wait asked of poll() in this turn; -1: none (no limit) */
	double stalled_ms;      /* real ms taken out of the clock */
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

/* The time of this turn, virtual ms. */
uint64_t sched_now(const struct sched *s);

/* A real-time clock: a turn of the loop begins (poll() returned); virtual time moves on (see above). */
void sched_turn(struct sched *s);
/* The loop is about to wait @ms in poll() (-1: without a timeout). */
void sched_wait(struct sched *s, int ms);
/* Real ms taken out of the clock because the host held the simulator up. */
double sched_stalled_ms(const struct sched *s);

/* Adds a copy of @ev. Returns 0, or -ENOSPC when @cap events are waiting. */
int sched_add(struct sched *s, const struct sched_event *ev);

/* Removes the earliest event if it is due at @now. */
bool sched_pop_due(struct sched *s, uint64_t now, struct sched_event *ret);

/* Virtual time of the earliest event, or SCHED_NEVER. */
uint64_t sched_next(const struct sched *s);

/* Real milliseconds from now until virtual time @at (rounded up; the turn's work so far counted), for poll(); -1
 * for SCHED_NEVER. */
int sched_real_delay(const struct sched *s, uint64_t at);

#endif
