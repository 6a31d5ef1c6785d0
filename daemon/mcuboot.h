/* mcuboot: MCUboot firmware images (zephyr.signed.bin, app_update.bin) in memory: parse the header and TLV areas,
 * recompute the image hash and verify the signature against trusted public keys with OpenSSL. No I/O beyond loading
 * PEM key files; depends on libc and libcrypto only. What is checked and every reason: docs/firmware.md, "MCUboot
 * images".
 *
 * Glossary:
 *   header        - the first 32 bytes (magic 0x96f3b83d, little-endian); hdr_size bytes are reserved for it
 *   body          - img_size bytes after the header: the application as the device runs it
 *   TLV           - type/length/value entry after the body; protected TLVs (area magic 0x6908) are covered by the
 *                   hash, unprotected ones (area magic 0x6907) hold the hash, KEYHASH and signature
 *   image hash    - SHA-256/384/512 of header + body + protected TLV area, stored in a hash TLV
 *   KEYHASH       - hash (same algorithm as the image hash) of the signing public key as MCUboot encodes it:
 *                   PKCS#1 RSAPublicKey DER for RSA, SubjectPublicKeyInfo DER for EC and Ed25519
 *   trailer       - what imgtool --pad leaves after the TLVs: 0xFF up to the slot end, the last 16 bytes may be the
 *                   boot magic 77c295f3 60d2ef7f 3552500f 2cb67980
 */
#ifndef MESHFLEET_MCUBOOT_H
#define MESHFLEET_MCUBOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MCUBOOT_IMAGE_MAX (64u << 20)   /* bytes of a whole file, trailer included; larger is "too_large" */
#define MCUBOOT_TLV_MAX 64              /* TLV entries in both areas together; more is "too_many_tlvs" */
#define MCUBOOT_KEYS_MAX 32             /* trusted keys in one keyring */
#define MCUBOOT_KEY_FILE_MAX (64u << 10) /* bytes of one PEM file */
#define MCUBOOT_HASH_MAX 64             /* bytes of the longest image hash (SHA-512) */

#define MCUBOOT_IMAGE_MAGIC 0x96f3b83du
#define MCUBOOT_HEADER_BYTES 32
#define MCUBOOT_TLV_INFO_MAGIC 0x6907u
#define MCUBOOT_TLV_PROT_INFO_MAGIC 0x6908u

/* ih_flags bits (bootutil/image.h) */
#define MCUBOOT_F_PIC 0x00000001u
#define MCUBOOT_F_ENCRYPTED_AES128 0x00000004u
#define MCUBOOT_F_ENCRYPTED_AES256 0x00000008u
#define MCUBOOT_F_NON_BOOTABLE 0x00000010u
#define MCUBOOT_F_RAM_LOAD 0x00000020u
#define MCUBOOT_F_ROM_FIXED 0x00000100u

/* Why an image was refused; the strings of mcuboot_reason_to_string() are stable (API, logs, tests). */
enum mcuboot_reason {
	MCUBOOT_OK,
	MCUBOOT_TOO_LARGE,              /* "too_large": the file is over MCUBOOT_IMAGE_MAX */
	MCUBOOT_TRUNCATED,              /* "truncated": header, body or a TLV area ends past the end of the file */
	MCUBOOT_BAD_MAGIC,              /* "bad_magic": not an MCUboot image */
	MCUBOOT_HEADER_SIZE,            /* "header_size": hdr_size smaller than the 32-byte header */
	MCUBOOT_UNSUPPORTED_FLAGS,      /* "unsupported_flags": a flag bit this module does not know */
	MCUBOOT_ENCRYPTED,              /* "encrypted": the hash covers the plaintext, which we cannot see */
	MCUBOOT_PROTECTED_TLV_MAGIC,    /* "protected_tlv_magic": protect_tlv_size set, area magic is not 0x6908 */
	MCUBOOT_PROTECTED_TLV_SIZE,     /* "protected_tlv_size": area size disagrees with the header */
	MCUBOOT_TLV_MAGIC,              /* "tlv_magic": the TLV area does not start with 0x6907 */
	MCUBOOT_TLV_SIZE,               /* "tlv_size": the TLV area's total is smaller than its own info header */
	MCUBOOT_TLV_OVERRUN,            /* "tlv_overrun": an entry runs past the end of its area */
	MCUBOOT_TOO_MANY_TLVS,          /* "too_many_tlvs": more than MCUBOOT_TLV_MAX entries */
	MCUBOOT_TLV_LENGTH,             /* "tlv_length": hash, KEYHASH or signature of the wrong length for its type */
	MCUBOOT_DUPLICATE_TLV,          /* "duplicate_tlv": a second hash, KEYHASH or signature */
	MCUBOOT_TLV_PLACEMENT,          /* "tlv_placement": hash, KEYHASH or signature in the protected area */
	MCUBOOT_TRAILING_DATA,          /* "trailing_data": bytes after the TLVs that are neither 0xFF nor the trailer */
	MCUBOOT_NO_HASH,                /* "no_hash": no SHA-256/384/512 TLV */
	MCUBOOT_HASH_MISMATCH,          /* "hash_mismatch": header + body + protected TLVs do not hash to the TLV */
	MCUBOOT_NO_SIGNATURE,           /* "no_signature": unsigned image while a signature is required */
	MCUBOOT_KEYHASH_WITHOUT_SIGNATURE, /* "keyhash_without_signature": a KEYHASH but no signature TLV */
	MCUBOOT_NO_KEYHASH,             /* "no_keyhash": a signature but no KEYHASH naming its key */
	MCUBOOT_KEY_NOT_TRUSTED,        /* "key_not_trusted": no trusted key has this KEYHASH */
	MCUBOOT_KEY_TYPE,               /* "key_type": the trusted key does not fit the signature type or hash */
	MCUBOOT_BAD_SIGNATURE,          /* "bad_signature": the signature does not verify */
	MCUBOOT_INTERNAL,               /* "internal": OpenSSL failed (out of memory); not the image's fault */
	MCUBOOT_REASON_COUNT
};

enum mcuboot_hash_type {
	MCUBOOT_HASH_NONE,
	MCUBOOT_HASH_SHA256,    /* TLV 0x10 */
	MCUBOOT_HASH_SHA384,    /* TLV 0x11 */
	MCUBOOT_HASH_SHA512,    /* TLV 0x12 */
};

enum mcuboot_sig_type {
	MCUBOOT_SIG_NONE,
	MCUBOOT_SIG_RSA2048_PSS,        /* TLV 0x20 */
	MCUBOOT_SIG_ECDSA,              /* TLV 0x22, DER; P-256 with SHA-256 or P-384 with SHA-384 */
	MCUBOOT_SIG_RSA3072_PSS,        /* TLV 0x23 */
	MCUBOOT_SIG_ED25519,            /* TLV 0x24, over the image hash value */
};

struct mcuboot_version {
	uint8_t major;
	uint8_t minor;
	uint16_t revision;
	uint32_t build;
};

/* What mcuboot_parse() found. The pointers are borrowed from the parsed buffer. */
struct mcuboot_image {
	uint32_t load_addr;
	uint16_t hdr_size;
	uint16_t protect_tlv_size;
	uint32_t img_size;
	uint32_t flags;
	struct mcuboot_version version;
	size_t hashed_size;             /* hdr_size + img_size + protect_tlv_size: what the image hash covers */
	size_t tlv_end;                 /* end of the unprotected TLV area: the image proper */
	size_t padding;                 /* bytes after tlv_end (0xFF, trailer magic) */
	bool trailer_magic;             /* the last 16 bytes are the boot magic */
	unsigned tlv_count;             /* entries in both areas, unknown types included */
	enum mcuboot_hash_type hash_type;
	const uint8_t *hash;
	size_t hash_len;
	const uint8_t *keyhash;         /* NULL when absent */
	size_t keyhash_len;
	enum mcuboot_sig_type sig_type;
	const uint8_t *sig;             /* NULL when absent */
	size_t sig_len;
};

/* A reason for logs and errors, both as a stable token and as a sentence. */
struct mcuboot_error {
	char message[320];
};

struct mcuboot_keyring;

const char *mcuboot_reason_to_string(enum mcuboot_reason reason);
const char *mcuboot_reason_describe(enum mcuboot_reason reason);
const char *mcuboot_hash_type_to_string(enum mcuboot_hash_type type);
const char *mcuboot_sig_type_to_string(enum mcuboot_sig_type type);

/* Structure only: header, both TLV areas, trailer. No hashing, no keys. Returns 0, or -EBADMSG with *reason set
 * (*reason is MCUBOOT_OK on success); *ret_image is untouched on failure. Never reads outside buf[0..len). */
int mcuboot_parse(const uint8_t *buf /* borrowed */, size_t len, struct mcuboot_image *ret_image,
		  enum mcuboot_reason *reason);

/* <0, 0, >0 as a is older, equal, newer than b: major, minor, revision, then build when with_build
 * (MCUboot's own downgrade check ignores the build number unless configured to use it). */
int mcuboot_version_compare(const struct mcuboot_version *a, const struct mcuboot_version *b, bool with_build);

struct mcuboot_keyring *mcuboot_keyring_new(void);      /* returns: new object, NULL when out of memory */
void mcuboot_keyring_free(struct mcuboot_keyring *keys);
size_t mcuboot_keyring_count(const struct mcuboot_keyring *keys);

/* Adds the public keys of PEM files (SubjectPublicKeyInfo: RSA 2048/3072, EC P-256/P-384, Ed25519). All or
 * nothing: on error nothing is added, and err names the file and the cause. Returns 0 or a negative errno. */
int mcuboot_keyring_load_files(struct mcuboot_keyring *keys, const char *const *paths, size_t n_paths,
			       struct mcuboot_error *err);
/* The same for one PEM text in memory; name is used in errors and by mcuboot_verify()'s ret_key_name. */
int mcuboot_keyring_add_pem(struct mcuboot_keyring *keys, const char *name, const char *pem, size_t pem_len,
			    struct mcuboot_error *err);

/* The whole check: parse, recompute the image hash, then (when the image is signed or require_signature is set)
 * find the trusted key named by KEYHASH and verify the signature. keys may be NULL (no trusted key).
 * Returns 0 when the image is acceptable, -EBADMSG when it is refused, -ENOMEM when OpenSSL ran out of memory;
 * *reason says why in both failure cases. On success *ret_image (may be NULL) is filled and *ret_key_name
 * (may be NULL) is the verifying key's name, borrowed from keys, or NULL for an accepted unsigned image. */
int mcuboot_verify(const uint8_t *buf /* borrowed */, size_t len, const struct mcuboot_keyring *keys,
		   bool require_signature, struct mcuboot_image *ret_image, const char **ret_key_name,
		   enum mcuboot_reason *reason);

#endif
