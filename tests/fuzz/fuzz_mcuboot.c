/* Fuzz target: the MCUboot image parser and verifier (daemon/mcuboot.c). */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "mcuboot.h"

/* A P-256 key made for the corpus (its private half was discarded): the signed seeds carry its KEYHASH, so mutations
 * of them reach the signature check instead of stopping at "key_not_trusted". */
static const char p256_pem[] =
	"-----BEGIN PUBLIC KEY-----\n"
	"MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEx+x1xtck+Ts874NB2a31/zr5JaAt\n"
	"EnaP26sdRpHDtv8WHHDKN5+wbvIpEzIEwFjc4O1LYdwVqyW36nThUkYPxg==\n"
	"-----END PUBLIC KEY-----\n";

static struct mcuboot_keyring *keys;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mcuboot_image img;
	enum mcuboot_reason parsed = MCUBOOT_REASON_COUNT, verified = MCUBOOT_REASON_COUNT;
	int rc_parse, rc_verify;

	if (!keys) {
		keys = mcuboot_keyring_new();
		if (!keys || mcuboot_keyring_add_pem(keys, "root-ec-p256", p256_pem, strlen(p256_pem), NULL) < 0)
			abort();
	}
	rc_parse = mcuboot_parse(data, size, &img, &parsed);
	rc_verify = mcuboot_verify(data, size, keys, false, NULL, NULL, &verified);
	/* Both always give a reason; a structural refusal is the same in both; what parses stays inside the input. */
	if (parsed >= MCUBOOT_REASON_COUNT || verified >= MCUBOOT_REASON_COUNT)
		__builtin_trap();
	if ((rc_parse == 0) != (parsed == MCUBOOT_OK) || (rc_verify == 0) != (verified == MCUBOOT_OK))
		__builtin_trap();
	if (rc_parse < 0 && verified != parsed)
		__builtin_trap();
	if (rc_parse == 0) {
		if (img.tlv_end > size || img.hashed_size > img.tlv_end || img.tlv_end + img.padding != size)
			__builtin_trap();
		if (img.hash && (img.hash < data || img.hash + img.hash_len > data + size))
			__builtin_trap();
		if (img.sig && (img.sig < data || img.sig + img.sig_len > data + size))
			__builtin_trap();
		if (img.keyhash && (img.keyhash < data || img.keyhash + img.keyhash_len > data + size))
			__builtin_trap();
	}
	return 0;
}
