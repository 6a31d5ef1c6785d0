/* sha256: SHA-256 (FIPS 180-4, section 6.2), freestanding, for the slot check at SLOT_COMMIT (slot.c).
 * Written from the standard; tests/unit/test_sha256.c checks it against the NIST example vectors. */
#ifndef MESHFLEET_CORE_SHA256_H
#define MESHFLEET_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE 64

struct sha256 {
	uint32_t h[8];                          /* intermediate hash value H(i) */
	uint64_t bytes;                         /* message length so far */
	uint8_t block[SHA256_BLOCK_SIZE];       /* the partial block */
	size_t fill;                            /* bytes in @block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const uint8_t *data, size_t len);
/* Pads, writes the digest to @out and leaves @s to be initialised again. */
void sha256_final(struct sha256 *s, uint8_t out[SHA256_DIGEST_SIZE]);
/* One shot. */
void sha256(const uint8_t *data, size_t len, uint8_t out[SHA256_DIGEST_SIZE]);

#endif
