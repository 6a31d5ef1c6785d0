/* waves: see waves.h.
 *
 * The canary is picked in three passes over the targets in the seed's order: first, greedily, nodes that bring a
 * hop class or a variant the canary lacks (two new ones beat one), until every class and variant is in or K is
 * reached; then one node of each stratum not yet in; then the rest in order. The later waves take the remaining
 * targets in the same order. The seed's order (a hash of seed and address), not the insertion order, keeps a fleet
 * registered room by room from giving the canary one room.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "waves.h"

struct keyed {
	uint64_t key;
	uint32_t index;
};

/* splitmix64: a fixed, well-mixed hash; the plan must not change between builds or platforms. */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static int keyed_compare(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

static uint64_t variant_key(const struct waves_target *t)
{
	/* each id is -1..65535: +1 makes it fit 17 bits */
	return (uint64_t)(t->company_id + 1) << 34 | (uint64_t)(t->product_id + 1) << 17 | (uint64_t)(t->version_id + 1);
}

/* Numbers the distinct values of @keys (n entries, scratch @tmp) densely into @ret_class. Returns the count. */
static uint32_t classify(const uint64_t *keys, size_t n, struct keyed *tmp, uint32_t *ret_class)
{
	uint32_t classes = 0;

	for (size_t i = 0; i < n; i++)
		tmp[i] = (struct keyed){ keys[i], (uint32_t)i };
	qsort(tmp, n, sizeof(*tmp), keyed_compare);
	for (size_t i = 0; i < n; i++) {
		if (i > 0 && tmp[i].key != tmp[i - 1].key)
			classes++;
		ret_class[tmp[i].index] = classes;
	}
	return n ? classes + 1 : 0;
}

static uint32_t later_wave_size(size_t n, const struct waves_params *p)
{
	if (p->size)
		return p->size;
	if (p->percent < 1 || p->percent > 100)
		return 0;
	return (uint32_t)(((uint64_t)n * p->percent + 99) / 100);
}

uint32_t waves_count(size_t n, const struct waves_params *params)
{
	size_t canary = params->canary < n ? params->canary : n;
	uint32_t size = later_wave_size(n, params);
	uint64_t rest = n - canary;

	if (n == 0 || size == 0)
		return 0;
	return (canary > 0) + (uint32_t)((rest + size - 1) / size);
}

int waves_plan(const struct waves_target *targets, size_t n, const struct waves_params *params, uint32_t *ret_wave,
	       uint32_t *ret_n_waves)
{
	uint32_t n_waves = waves_count(n, params), size = later_wave_size(n, params);
	size_t canary = params->canary < n ? params->canary : n, picked = 0, wave_fill = 0;
	uint32_t *hop = NULL, *variant = NULL, *stratum = NULL, *wave = NULL, n_hops, n_variants, n_strata, next;
	bool *in_canary = NULL, *hop_in = NULL, *variant_in = NULL, *stratum_in = NULL;
	struct keyed *order = NULL, *tmp = NULL;
	uint64_t *keys = NULL;
	int r = -ENOMEM;

	if (n == 0 || n_waves == 0)
		return -EINVAL;
	if (n > WAVES_TARGETS_MAX || n_waves > WAVES_MAX)
		return -E2BIG;
	order = calloc(n, sizeof(*order));
	tmp = calloc(n, sizeof(*tmp));
	keys = calloc(n, sizeof(*keys));
	hop = calloc(n, sizeof(*hop));
	variant = calloc(n, sizeof(*variant));
	stratum = calloc(n, sizeof(*stratum));
	wave = calloc(n, sizeof(*wave));
	in_canary = calloc(n, sizeof(*in_canary));
	hop_in = calloc(n, sizeof(*hop_in));
	variant_in = calloc(n, sizeof(*variant_in));
	stratum_in = calloc(n, sizeof(*stratum_in));
	if (!order || !tmp || !keys || !hop || !variant || !stratum || !wave || !in_canary || !hop_in ||
	    !variant_in || !stratum_in)
		goto out;

	for (size_t i = 0; i < n; i++)
		order[i] = (struct keyed){ mix(params->seed ^ mix(targets[i].address)), (uint32_t)i };
	qsort(order, n, sizeof(*order), keyed_compare);
	for (size_t i = 0; i < n; i++)
		keys[i] = (uint64_t)(targets[i].hops + 1);
	n_hops = classify(keys, n, tmp, hop);
	for (size_t i = 0; i < n; i++)
		keys[i] = variant_key(&targets[i]);
	n_variants = classify(keys, n, tmp, variant);
	for (size_t i = 0; i < n; i++)
		keys[i] = (uint64_t)hop[i] * n + variant[i];
	n_strata = classify(keys, n, tmp, stratum);
	(void)n_strata;

	/* pass 1: cover hop classes and variants, a node bringing two new ones first */
	for (uint32_t missing = n_hops + n_variants; picked < canary && missing > 0;) {
		size_t best = n;
		int best_score = 0;

		for (size_t k = 0; k < n && best_score < 2; k++) {
			uint32_t i = order[k].index;
			int score;

			if (in_canary[i])
				continue;
			score = !hop_in[hop[i]] + !variant_in[variant[i]];
			if (score > best_score) {
				best_score = score;
				best = i;
			}
		}
		if (best == n)
			break;
		in_canary[best] = true;
		missing -= (uint32_t)best_score;
		hop_in[hop[best]] = variant_in[variant[best]] = stratum_in[stratum[best]] = true;
		picked++;
	}
	/* pass 2: one node of each stratum not in yet; pass 3: the rest in order */
	for (size_t k = 0; k < n && picked < canary; k++) {
		uint32_t i = order[k].index;

		if (!in_canary[i] && !stratum_in[stratum[i]]) {
			in_canary[i] = stratum_in[stratum[i]] = true;
			picked++;
		}
	}
	for (size_t k = 0; k < n && picked < canary; k++) {
		uint32_t i = order[k].index;

		if (!in_canary[i]) {
			in_canary[i] = true;
			picked++;
		}
	}

	next = canary > 0 ? 1 : 0;
	for (size_t k = 0; k < n; k++) {
		uint32_t i = order[k].index;

		if (in_canary[i]) {
			wave[i] = 0;
			continue;
		}
		if (wave_fill == size) {
			next++;
			wave_fill = 0;
		}
		wave[i] = next;
		wave_fill++;
	}
	memcpy(ret_wave, wave, n * sizeof(*wave));
	*ret_n_waves = n_waves;
	r = 0;
out:
	free(order);
	free(tmp);
	free(keys);
	free(hop);
	free(variant);
	free(stratum);
	free(wave);
	free(in_canary);
	free(hop_in);
	free(variant_in);
	free(stratum_in);
	return r;
}
