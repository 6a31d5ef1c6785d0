/* loop_wait: a unit test's libuv loop as its clock. loop_run_until() turns the loop until a condition holds, with a
 * bound on loop time; @guard (a timer initialised on @loop) wakes the loop when nothing else would. Header-only. */
#ifndef MESHFLEET_TESTS_LOOP_WAIT_H
#define MESHFLEET_TESTS_LOOP_WAIT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

typedef bool (*cond_fn)(void *ctx);

static void loop_wait_guard(uv_timer_t *timer)
{
	(void)timer;
}

/* Returns whether @cond holds before @max_ms of loop time have passed. */
static inline bool loop_run_until(uv_loop_t *loop, uv_timer_t *guard, cond_fn cond, void *ctx, uint64_t max_ms)
{
	uint64_t start;

	uv_update_time(loop);
	start = uv_now(loop);
	uv_timer_start(guard, loop_wait_guard, max_ms, 0);
	while (!cond(ctx)) {
		if (uv_now(loop) - start >= max_ms) {
			uv_timer_stop(guard);
			return false;
		}
		uv_run(loop, UV_RUN_ONCE);
	}
	uv_timer_stop(guard);
	return true;
}

#endif
