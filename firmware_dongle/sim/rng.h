/* rng: the simulator's pseudo-random numbers, SplitMix64 (Steele, Lea, Flood 2014): one 64-bit state, seeded by
 * --seed, so a run with the same seed and the same input draws the same numbers. Each consumer has its own
 * stream, so the link's faults do not shift the nodes' losses. */
#ifndef MESHFLEET_SIM_RNG_H
#define MESHFLEET_SIM_RNG_H

#include <stdbool.h>
#include <stdint.h>

struct rng {
	uint64_t state;
};

/* @stream separates the consumers of one seed. */
static inline void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
	r->state = seed ^ (stream * 0xD1B54A32D192ED03u);
}

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->state += 0x9E3779B97F4A7C15u);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double rng_uniform(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* True with probability @p; draws nothing when @p is 0, so a switch that is off changes no other draw. */
static inline bool rng_chance(struct rng *r, double p)
{
	return p > 0 && rng_uniform(r) < p;
}

#endif
