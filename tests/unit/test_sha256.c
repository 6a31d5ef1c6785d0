/* Unit tests for firmware_dongle/core/sha256.c: the example vectors of FIPS 180-4 (NIST's "SHA256.pdf" examples and
 * the one-byte message of the CAVP SHAVS short messages), the padding boundaries around 55/56/64 bytes, and
 * incremental updates cut at every position, which must give the one-shot digest. */
#include <stdlib.h>

#include "sha256.h"
#include "tap.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static void to_hex(const uint8_t *d, char *out)
{
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void check(const uint8_t *msg, size_t len, const char *want, const char *what)
{
	uint8_t d[SHA256_DIGEST_SIZE];
	char hex[2 * SHA256_DIGEST_SIZE + 1];

	sha256(msg, len, d);
	to_hex(d, hex);
	is_str(hex, want, "%s", what);
}

static void test_nist(void)
{
	static const char m448[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char m896[] = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopq"
				   "klmnopqrlmnopqrsmnopqrstnopqrstu";
	uint8_t *million = malloc(1000000);

	check((const uint8_t *)"abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	      "FIPS 180-4 example: \"abc\" (one block)");
	check((const uint8_t *)"", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	      "empty message");
	check((const uint8_t *)m448, strlen(m448), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
	      "FIPS 180-4 example: 448-bit message (two blocks)");
	check((const uint8_t *)m896, strlen(m896), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1",
	      "896-bit message");
	check((const uint8_t[]){ 0xd3 }, 1, "28969cdfa74a12c82f3bad960b0b000aca2ac329deea5c2328ebc6f2ba9802c1",
	      "SHAVS short message, 8 bits (d3)");
	if (!million)
		return;
	memset(million, 'a', 1000000);
	check(million, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
	      "one million 'a'");
	free(million);
}

/* Digests from a second implementation (Python's hashlib) of bytes (i * 7 + 1) & 0xff: the lengths where the
 * padding needs one more block, or just does not. */
static void test_padding_boundaries(void)
{
	static const struct {
		size_t len;
		const char *digest;
	} cases[] = {
		{ 55, "16fa57a0a3423a715d594516339f36189d6b5f93754a9714fef202616a9fabfe" },
		{ 56, "c37b44e5f1b18554b36966f4f8e08bfbf3164c4b6c10374d12d89850892073c5" },
		{ 57, "12b234922502022f755ab8550a3d4e202ad39c81d961a4f59ec39d5fd83d15a7" },
		{ 63, "bbba992d2c85af960fb2987a1fd05e0aa82a3db3c740dd8982a9e273b75e36a3" },
		{ 64, "66bd4633ed6f71c4ecfa4763bf7ba1c8ec7612de9aa6c0578a7b675207c71e0b" },
		{ 65, "9f7dc47107b750a1f3d35db5d9547f24ef40da5b731b9540d4f43710a154f6c9" },
		{ 119, "a3ed307b730fa77c07531300c6e4a282330011d4d4caf6bb7b63ae05950f4b66" },
		{ 120, "8e3b15d9fea7472655aa069620b7f8c2e55ee1499f763200a7515fe826e99d20" },
		{ 128, "e462c130fef8c97e34f7dc3ff3ad2f8b3533ab849af21c10531552a2852387a4" },
	};
	uint8_t msg[128];

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char what[64];

		snprintf(what, sizeof(what), "%zu bytes", cases[i].len);
		check(msg, cases[i].len, cases[i].digest, what);
	}
}

static void test_incremental(void)
{
	uint8_t msg[300], one[SHA256_DIGEST_SIZE], two[SHA256_DIGEST_SIZE];
	struct sha256 s;
	int bad = 0, checked = 0;

	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i ^ 0x5a);
	for (size_t len = 0; len <= sizeof(msg); len += 13) {
		sha256(msg, len, one);
		for (size_t cut = 0; cut <= len; cut++) {
			sha256_init(&s);
			sha256_update(&s, msg, cut);
			sha256_update(&s, msg + cut, len - cut);
			sha256_final(&s, two);
			checked++;
			if (memcmp(one, two, sizeof(one)) != 0 && bad++ == 0)
				printf("#   %zu bytes cut at %zu differ\n", len, cut);
		}
	}
	is_int(bad, 0, "two updates at every cut equal one (%d cuts)", checked);

	/* byte by byte, and the state is fresh again after sha256_final() */
	sha256_init(&s);
	for (size_t i = 0; i < sizeof(msg); i++)
		sha256_update(&s, msg + i, 1);
	sha256_final(&s, two);
	sha256(msg, sizeof(msg), one);
	ok(memcmp(one, two, sizeof(one)) == 0, "byte by byte equals one shot");
	sha256_update(&s, (const uint8_t *)"abc", 3);
	sha256_final(&s, two);
	sha256((const uint8_t *)"abc", 3, one);
	ok(memcmp(one, two, sizeof(one)) == 0, "sha256_final() leaves a fresh state");
}

int main(void)
{
	test_nist();
	test_padding_boundaries();
	test_incremental();
	return done_testing();
}
