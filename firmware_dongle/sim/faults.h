/* faults: byte-level fault injection on the simulated serial link, for the link tests (docs/simulator.md,
 * "Fault injection"). Each byte that passes, in either direction, is independently dropped, corrupted (XORed with
 * a random non-zero value, so it may become a delimiter) or sent twice, with the rates of --drop, --corrupt and
 * --dup. Each direction has its own random stream. */
#ifndef MESHFLEET_SIM_FAULTS_H
#define MESHFLEET_SIM_FAULTS_H

#include <stddef.h>
#include <stdint.h>

#include "rng.h"

struct faults {
	double corrupt;
	double drop;
	double dup;
	struct rng rng;
	/* counters */
	uint64_t corrupted;
	uint64_t dropped;
	uint64_t duplicated;
};

void faults_init(struct faults *f, double corrupt, double drop, double dup, uint64_t seed, uint64_t stream);

/* Copies @len bytes of @in to @out with the faults applied; @out must hold 2 * @len bytes. Returns the bytes
 * written. */
size_t faults_apply(struct faults *f, const uint8_t *in, size_t len, uint8_t *out);

#endif
