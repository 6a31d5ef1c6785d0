/* Unit tests for firmware_dongle/sim/sched.c: the event heap's order (by time, ties in the order added), the
 * virtual clock of --bench, and the real-time clock's turns: virtual time moves by the real time since the last turn
 * times the speed, but a turn that comes later than the wait the loop asked (plus SCHED_STALL_TOLERANCE_MS) counts
 * only that much: the host held the simulator up. The real-time cases sleep a few ms and check only what the clock
 * guarantees whatever the machine's load (a lower bound from the sleep, the stall limit as an upper bound). */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>

#include "sched.h"
#include "tap.h"

static void sleep_ms(long ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L };

	while (nanosleep(&ts, &ts) != 0)
		;
}

static void test_heap(void)
{
	static const uint64_t at[] = { 30, 10, 20, 10, 40, 10 };
	struct sched s;
	struct sched_event ev;
	uint64_t last = 0;
	int last_kind = -1;
	bool ordered = true;

	is_int(sched_init_virtual(&s, 8), 0, "a virtual clock");
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++)
		is_int(sched_add(&s, &(struct sched_event){ .at = at[i], .kind = (int)i }), 0, "event %zu at %llu", i,
		       (unsigned long long)at[i]);
	is_int(sched_add(&s, &(struct sched_event){ .at = 1 }), 0, "a 7th");
	is_int(sched_add(&s, &(struct sched_event){ .at = 1 }), 0, "an 8th");
	is_int(sched_add(&s, &(struct sched_event){ .at = 1 }), -ENOSPC, "a 9th: -ENOSPC (capacity 8)");
	is_int((int)sched_next(&s), 1, "the earliest is next");
	ok(!sched_pop_due(&s, 0, &ev), "nothing due at 0");
	while (sched_pop_due(&s, 1, &ev))
		;
	sched_advance(&s, 100);
	is_int((int)sched_now(&s), 100, "sched_advance() moves the virtual clock");
	sched_advance(&s, 50);
	is_int((int)sched_now(&s), 100, "... never back");
	while (sched_pop_due(&s, sched_now(&s), &ev)) {
		if (ev.at < last || (ev.at == last && ev.kind < last_kind))
			ordered = false;
		last = ev.at;
		last_kind = ev.kind;
	}
	ok(ordered, "events come by time, ties in the order added (10: events 1, 3, 5)");
	ok(sched_next(&s) == SCHED_NEVER, "nothing left");
	sched_done(&s);
}

static void test_turns(void)
{
	struct sched s;
	uint64_t before, moved;

	is_int(sched_init(&s, 100, 4), 0, "a real-time clock at 100 x");
	sched_turn(&s);
	before = sched_now(&s);
	sleep_ms(5);
	is_int((int)(sched_now(&s) - before), 0, "within a turn the clock stands still");
	sched_wait(&s, 20);
	sleep_ms(5);
	sched_turn(&s);
	moved = sched_now(&s) - before;
	ok(moved >= 1000 && moved <= (20 + SCHED_STALL_TOLERANCE_MS) * 100,
	   "a turn after 10 ms of real time (a wait of 20 asked) moves it by 10 ms x 100 or a little more (%llu)",
	   (unsigned long long)moved);

	before = sched_now(&s);
	sched_wait(&s, 0);
	sleep_ms(60);
	sched_turn(&s);
	moved = sched_now(&s) - before;
	ok(moved <= SCHED_STALL_TOLERANCE_MS * 100,
	   "a turn 60 ms after a wait of 0: at most the tolerance counts (%llu virtual ms, at most %d)",
	   (unsigned long long)moved, SCHED_STALL_TOLERANCE_MS * 100);
	ok(sched_stalled_ms(&s) >= 60 - SCHED_STALL_TOLERANCE_MS - 1, "the rest is counted as a stall (%.1f ms)",
	   sched_stalled_ms(&s));

	before = sched_now(&s);
	sched_wait(&s, -1);
	sleep_ms(30);
	sched_turn(&s);
	ok(sched_now(&s) - before >= 3000, "after a wait without a timeout, all of the real time counts");
	is_int(sched_real_delay(&s, SCHED_NEVER), -1, "real delay to never: -1");
	is_int(sched_real_delay(&s, sched_now(&s)), 0, "to now: 0");
	ok(sched_real_delay(&s, sched_now(&s) + 1000) <= 10, "to 1000 virtual ms ahead: at most 10 real ms");
	sched_done(&s);
}

int main(void)
{
	test_heap();
	test_turns();
	return done_testing();
}
