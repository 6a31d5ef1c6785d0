/* mesh_vectors: what the tests of the mesh message codecs (test_mesh_access.c, test_mesh_blob.c,
 * test_mesh_dfu.c) share: comparing encoded bytes with a vector (a hex dump of both on failure), the codecs'
 * status in a TAP line, and exactly-sized heap copies for decoding, so that ASan reports any read past a cut or
 * padded payload. Header-only, for tests. */
#ifndef MESHFLEET_TESTS_MESH_VECTORS_H
#define MESHFLEET_TESTS_MESH_VECTORS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesh_access.h"
#include "tap.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void hex_line(const char *label, const uint8_t *p, size_t len)
{
	printf("#   %s (%zu bytes):", label, len);
	for (size_t i = 0; i < len; i++)
		printf("%s%02x", i % 32 == 0 ? "\n#     " : " ", p[i]);
	printf("\n");
}

static inline bool is_bytes(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len,
			    const char *what)
{
	bool same = got_len == want_len && (want_len == 0 || memcmp(got, want, want_len) == 0);

	if (!ok(same, "%s", what)) {
		hex_line("got", got, got_len);
		hex_line("expected", want, want_len);
	}
	return same;
}

/* A heap copy of exactly @len bytes of @p (at least one byte allocated); the caller frees it. */
static inline uint8_t *exact_copy(const uint8_t *p, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);

	if (!copy)
		abort();
	if (len)
		memcpy(copy, p, len);
	return copy;
}

#define is_status(got, want, ...) do { \
	enum ma_status g_ = (got), w_ = (want); \
	if (!tap_report(g_ == w_, __FILE__, __LINE__, __VA_ARGS__)) \
		printf("#   got: %s\n#   expected: %s\n", ma_status_to_string(g_), ma_status_to_string(w_)); \
} while (0)

#endif
