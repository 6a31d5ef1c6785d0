/* faults: see faults.h. */
#include <string.h>

#include "faults.h"

void faults_init(struct faults *f, double corrupt, double drop, double dup, uint64_t seed, uint64_t stream)
{
	*f = (struct faults){ .corrupt = corrupt, .drop = drop, .dup = dup };
	rng_seed(&f->rng, seed, stream);
}

size_t faults_apply(struct faults *f, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t n = 0;

	/* Off, as in most runs: a plain copy. The same result as the loop, which draws nothing for a rate of 0. */
	if (f->drop == 0 && f->corrupt == 0 && f->dup == 0) {
		memcpy(out, in, len);
		return len;
	}
	for (size_t i = 0; i < len; i++) {
		uint8_t b = in[i];

		if (rng_chance(&f->rng, f->drop)) {
			f->dropped++;
			continue;
		}
		if (rng_chance(&f->rng, f->corrupt)) {
			b ^= (uint8_t)(rng_next(&f->rng) % 255 + 1);
			f->corrupted++;
		}
		out[n++] = b;
		if (rng_chance(&f->rng, f->dup)) {
			out[n++] = b;
			f->duplicated++;
		}
	}
	return n;
}
