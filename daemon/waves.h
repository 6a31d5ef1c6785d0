/* waves: the wave plan of a campaign. Splits the targets to update into a canary wave of K nodes spread over hop
 * counts and product variants, then waves of a fixed count or a percentage. Pure computation: no database, no
 * clock; the same input and seed always give the same plan. Rules and reasons: docs/campaigns.md, "Planning".
 *
 * Glossary:
 *   hop class - a node's distance from the dongle in hops (-1 while unknown: one class of its own)
 *   variant   - a node's company id, product id and version id (cid/pid/vid) together
 *   stratum   - the nodes sharing a hop class and a variant
 *   seed      - the campaign id: each campaign shuffles its fleet its own way, the same way every time
 */
#ifndef MESHFLEET_WAVES_H
#define MESHFLEET_WAVES_H

#include <stddef.h>
#include <stdint.h>

#define WAVES_MAX 1024                  /* waves of one plan (canary and retries included) */
#define WAVES_TARGETS_MAX 32767         /* one per unicast address */

/* What the planner knows of one target. */
struct waves_target {
	uint16_t address;
	int16_t hops;                   /* -1 = unknown */
	int32_t company_id;             /* -1 = unknown, as in nodes.h */
	int32_t product_id;
	int32_t version_id;
};

struct waves_params {
	uint32_t canary;                /* K: nodes of the canary wave; 0 = none */
	uint32_t size;                  /* nodes per later wave; 0 = use @percent */
	uint32_t percent;               /* 1..100: a later wave's share of all the targets (rounded up) */
	uint64_t seed;
};

/* Plans @n targets (distinct addresses; borrowed). On success ret_wave[i] is the wave index (0-based) of
 * @targets[i], waves are numbered without gaps, and *ret_n_waves is their number; wave 0 is the canary when
 * @params->canary > 0. Returns 0, -EINVAL (no target, or neither size nor percent in range), -E2BIG (more than
 * WAVES_MAX waves or WAVES_TARGETS_MAX targets) or -ENOMEM; the outputs are untouched on failure. */
int waves_plan(const struct waves_target *targets, size_t n, const struct waves_params *params, uint32_t *ret_wave,
	       uint32_t *ret_n_waves);

/* The waves @n targets make (0 when the parameters are unusable): to check a request before planning it. */
uint32_t waves_count(size_t n, const struct waves_params *params);

#endif
