/* sha256: see sha256.h. Section numbers refer to FIPS 180-4. */
#include "sha256.h"

/* 4.2.2: the first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
static const uint32_t K[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

/* 4.1.2 */
static uint32_t ch(uint32_t x, uint32_t y, uint32_t z)
{
	return (x & y) ^ (~x & z);
}

static uint32_t maj(uint32_t x, uint32_t y, uint32_t z)
{
	return (x & y) ^ (x & z) ^ (y & z);
}

static uint32_t big_sigma0(uint32_t x)
{
	return rotr(x, 2) ^ rotr(x, 13) ^ rotr(x, 22);
}

static uint32_t big_sigma1(uint32_t x)
{
	return rotr(x, 6) ^ rotr(x, 11) ^ rotr(x, 25);
}

static uint32_t small_sigma0(uint32_t x)
{
	return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3);
}

static uint32_t small_sigma1(uint32_t x)
{
	return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10);
}

/* 6.2.2: one 512-bit block, sixteen rounds at a time. The message schedule is a rolling window of 16 words, whose
 * indexes are then constants, and each round renames the working variables instead of shifting them along. SLOT_COMMIT
 * hashes the whole slot, and this takes about 30% less time than a loop over the 64 rounds, for about 2 KiB more
 * code. */
#define ROUND(a, b, c, d, e, f, g, h, k, wt) \
	do { \
		uint32_t t1 = (h) + big_sigma1(e) + ch(e, f, g) + (k) + (wt); \
		(d) += t1; \
		(h) = t1 + big_sigma0(a) + maj(a, b, c); \
	} while (0)
/* Word t + i of the schedule (step 1), computed in place over word t + i - 16. */
#define W(i) \
	(t == 0 ? w[i] : \
		  (w[i] += small_sigma1(w[((i) + 14) & 15]) + w[((i) + 9) & 15] + small_sigma0(w[((i) + 1) & 15])))

static void compress(uint32_t h[8], const uint8_t *p)
{
	uint32_t w[16], a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];

	for (unsigned i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
		       p[4 * i + 3];
	for (unsigned t = 0; t < 64; t += 16) {
		ROUND(a, b, c, d, e, f, g, hh, K[t + 0], W(0));
		ROUND(hh, a, b, c, d, e, f, g, K[t + 1], W(1));
		ROUND(g, hh, a, b, c, d, e, f, K[t + 2], W(2));
		ROUND(f, g, hh, a, b, c, d, e, K[t + 3], W(3));
		ROUND(e, f, g, hh, a, b, c, d, K[t + 4], W(4));
		ROUND(d, e, f, g, hh, a, b, c, K[t + 5], W(5));
		ROUND(c, d, e, f, g, hh, a, b, K[t + 6], W(6));
		ROUND(b, c, d, e, f, g, hh, a, K[t + 7], W(7));
		ROUND(a, b, c, d, e, f, g, hh, K[t + 8], W(8));
		ROUND(hh, a, b, c, d, e, f, g, K[t + 9], W(9));
		ROUND(g, hh, a, b, c, d, e, f, K[t + 10], W(10));
		ROUND(f, g, hh, a, b, c, d, e, K[t + 11], W(11));
		ROUND(e, f, g, hh, a, b, c, d, K[t + 12], W(12));
		ROUND(d, e, f, g, hh, a, b, c, K[t + 13], W(13));
		ROUND(c, d, e, f, g, hh, a, b, K[t + 14], W(14));
		ROUND(b, c, d, e, f, g, hh, a, K[t + 15], W(15));
	}
	h[0] += a;
	h[1] += b;
	h[2] += c;
	h[3] += d;
	h[4] += e;
	h[5] += f;
	h[6] += g;
	h[7] += hh;
}

#undef W
#undef ROUND

void sha256_init(struct sha256 *s)
{
	/* 5.3.3: the first 32 bits of the fractional parts of the square roots of the first 8 primes. */
	static const uint32_t H0[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	for (unsigned i = 0; i < 8; i++)
		s->h[i] = H0[i];
	s->bytes = 0;
	s->fill = 0;
}

void sha256_update(struct sha256 *s, const uint8_t *data, size_t len)
{
	s->bytes += len;
	if (s->fill > 0) {
		while (len > 0 && s->fill < SHA256_BLOCK_SIZE) {
			s->block[s->fill++] = *data++;
			len--;
		}
		if (s->fill < SHA256_BLOCK_SIZE)
			return;
		compress(s->h, s->block);
		s->fill = 0;
	}
	for (; len >= SHA256_BLOCK_SIZE; data += SHA256_BLOCK_SIZE, len -= SHA256_BLOCK_SIZE)
		compress(s->h, data);
	while (len-- > 0)
		s->block[s->fill++] = *data++;
}

void sha256_final(struct sha256 *s, uint8_t out[SHA256_DIGEST_SIZE])
{
	uint64_t bits = s->bytes * 8;

	/* 5.1.1: a 1 bit, zeros up to 448 mod 512, the length in bits as a 64-bit big-endian number. */
	s->block[s->fill++] = 0x80;
	if (s->fill > SHA256_BLOCK_SIZE - 8) {
		while (s->fill < SHA256_BLOCK_SIZE)
			s->block[s->fill++] = 0;
		compress(s->h, s->block);
		s->fill = 0;
	}
	while (s->fill < SHA256_BLOCK_SIZE - 8)
		s->block[s->fill++] = 0;
	for (unsigned i = 0; i < 8; i++)
		s->block[SHA256_BLOCK_SIZE - 1 - i] = (uint8_t)(bits >> (8 * i));
	compress(s->h, s->block);
	for (unsigned i = 0; i < 8; i++) {
		out[4 * i] = (uint8_t)(s->h[i] >> 24);
		out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
		out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
		out[4 * i + 3] = (uint8_t)s->h[i];
	}
	sha256_init(s);
}

void sha256(const uint8_t *data, size_t len, uint8_t out[SHA256_DIGEST_SIZE])
{
	struct sha256 s;

	sha256_init(&s);
	sha256_update(&s, data, len);
	sha256_final(&s, out);
}
