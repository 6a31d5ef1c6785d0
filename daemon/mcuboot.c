/* mcuboot: MCUboot image parser and signature verifier (see mcuboot.h and docs/firmware.md). */
#define _GNU_SOURCE     /* memmem() */
#include "mcuboot.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define TLV_KEYHASH 0x01
#define TLV_SHA256 0x10
#define TLV_SHA384 0x11
#define TLV_SHA512 0x12
#define TLV_RSA2048_PSS 0x20
#define TLV_ECDSA_SIG 0x22
#define TLV_RSA3072_PSS 0x23
#define TLV_ED25519 0x24

#define KNOWN_FLAGS (MCUBOOT_F_PIC | MCUBOOT_F_ENCRYPTED_AES128 | MCUBOOT_F_ENCRYPTED_AES256 | \
		     MCUBOOT_F_NON_BOOTABLE | MCUBOOT_F_RAM_LOAD | MCUBOOT_F_ROM_FIXED)
#define ENCRYPTED_FLAGS (MCUBOOT_F_ENCRYPTED_AES128 | MCUBOOT_F_ENCRYPTED_AES256)

/* A DER ECDSA signature: SEQUENCE of two INTEGERs; 8 bytes at the least, 104 for P-384 at the most. */
#define ECDSA_DER_MIN 8
#define ECDSA_DER_MAX 104
#define TRAILER_MAGIC_SIZE 16

static const uint8_t trailer_magic[TRAILER_MAGIC_SIZE] = {
	0x77, 0xc2, 0x95, 0xf3, 0x60, 0xd2, 0xef, 0x7f, 0x35, 0x52, 0x50, 0x0f, 0x2c, 0xb6, 0x79, 0x80,
};

static const struct {
	const char *token;
	const char *sentence;
} reasons[MCUBOOT_REASON_COUNT] = {
	[MCUBOOT_OK] = { "ok", "the image is acceptable" },
	[MCUBOOT_TOO_LARGE] = { "too_large", "the file is larger than an MCUboot image may be here" },
	[MCUBOOT_TRUNCATED] = { "truncated", "the header, body or a TLV area ends past the end of the file" },
	[MCUBOOT_BAD_MAGIC] = { "bad_magic", "not an MCUboot image (the header magic is not 0x96f3b83d)" },
	[MCUBOOT_HEADER_SIZE] = { "header_size", "the header size is smaller than the 32-byte header" },
	[MCUBOOT_UNSUPPORTED_FLAGS] = { "unsupported_flags", "the header has flag bits this importer does not know" },
	[MCUBOOT_ENCRYPTED] = { "encrypted", "the image is encrypted; its hash covers the plaintext" },
	[MCUBOOT_PROTECTED_TLV_MAGIC] = { "protected_tlv_magic", "the protected TLV area does not start with 0x6908" },
	[MCUBOOT_PROTECTED_TLV_SIZE] = { "protected_tlv_size",
					 "the protected TLV area's size disagrees with the header" },
	[MCUBOOT_TLV_MAGIC] = { "tlv_magic", "the TLV area does not start with 0x6907" },
	[MCUBOOT_TLV_SIZE] = { "tlv_size", "the TLV area's total size is smaller than its info header" },
	[MCUBOOT_TLV_OVERRUN] = { "tlv_overrun", "a TLV entry runs past the end of its area" },
	[MCUBOOT_TOO_MANY_TLVS] = { "too_many_tlvs", "the image has more TLV entries than allowed" },
	[MCUBOOT_TLV_LENGTH] = { "tlv_length", "a hash, KEYHASH or signature TLV has the wrong length for its type" },
	[MCUBOOT_DUPLICATE_TLV] = { "duplicate_tlv", "the image has a second hash, KEYHASH or signature TLV" },
	[MCUBOOT_TLV_PLACEMENT] = { "tlv_placement",
				    "a hash, KEYHASH or signature TLV is in the protected area" },
	[MCUBOOT_TRAILING_DATA] = { "trailing_data",
				    "bytes after the TLVs are neither 0xFF padding nor the MCUboot trailer magic" },
	[MCUBOOT_NO_HASH] = { "no_hash", "the image has no SHA-256/384/512 TLV" },
	[MCUBOOT_HASH_MISMATCH] = { "hash_mismatch", "header, body and protected TLVs do not match the image hash" },
	[MCUBOOT_NO_SIGNATURE] = { "no_signature", "the image is not signed and a signature is required" },
	[MCUBOOT_KEYHASH_WITHOUT_SIGNATURE] = { "keyhash_without_signature",
						"the image names a key (KEYHASH) but has no signature" },
	[MCUBOOT_NO_KEYHASH] = { "no_keyhash", "the image is signed but has no KEYHASH naming its key" },
	[MCUBOOT_KEY_NOT_TRUSTED] = { "key_not_trusted", "no trusted key matches the image's KEYHASH" },
	[MCUBOOT_KEY_TYPE] = { "key_type", "the trusted key does not fit the signature type or the hash" },
	[MCUBOOT_BAD_SIGNATURE] = { "bad_signature", "the signature does not verify with the trusted key" },
	[MCUBOOT_INTERNAL] = { "internal", "OpenSSL failed while checking the image (out of memory?)" },
};

/* One trusted key and its KEYHASH under each hash algorithm, computed once at load. */
struct trusted_key {
	EVP_PKEY *pkey;
	char *name;
	enum mcuboot_sig_type kind;     /* RSA keys: by size; EC: ECDSA; Ed25519 */
	int ec_hash;                    /* EC keys: the image hash the curve goes with */
	uint8_t keyhash[4][MCUBOOT_HASH_MAX]; /* indexed by enum mcuboot_hash_type */
};

struct mcuboot_keyring {
	struct trusted_key keys[MCUBOOT_KEYS_MAX];
	size_t count;
};

const char *mcuboot_reason_to_string(enum mcuboot_reason reason)
{
	if ((unsigned)reason >= MCUBOOT_REASON_COUNT)
		return "unknown";
	return reasons[reason].token;
}

const char *mcuboot_reason_describe(enum mcuboot_reason reason)
{
	if ((unsigned)reason >= MCUBOOT_REASON_COUNT)
		return "unknown reason";
	return reasons[reason].sentence;
}

const char *mcuboot_hash_type_to_string(enum mcuboot_hash_type type)
{
	switch (type) {
	case MCUBOOT_HASH_NONE: return "none";
	case MCUBOOT_HASH_SHA256: return "sha256";
	case MCUBOOT_HASH_SHA384: return "sha384";
	case MCUBOOT_HASH_SHA512: return "sha512";
	}
	return "unknown";
}

const char *mcuboot_sig_type_to_string(enum mcuboot_sig_type type)
{
	switch (type) {
	case MCUBOOT_SIG_NONE: return "none";
	case MCUBOOT_SIG_RSA2048_PSS: return "rsa2048-pss";
	case MCUBOOT_SIG_ECDSA: return "ecdsa";
	case MCUBOOT_SIG_RSA3072_PSS: return "rsa3072-pss";
	case MCUBOOT_SIG_ED25519: return "ed25519";
	}
	return "unknown";
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t hash_size(enum mcuboot_hash_type type)
{
	switch (type) {
	case MCUBOOT_HASH_NONE: return 0;
	case MCUBOOT_HASH_SHA256: return 32;
	case MCUBOOT_HASH_SHA384: return 48;
	case MCUBOOT_HASH_SHA512: return 64;
	}
	return 0;
}

static const EVP_MD *hash_md(enum mcuboot_hash_type type)
{
	switch (type) {
	case MCUBOOT_HASH_NONE: return NULL;
	case MCUBOOT_HASH_SHA256: return EVP_sha256();
	case MCUBOOT_HASH_SHA384: return EVP_sha384();
	case MCUBOOT_HASH_SHA512: return EVP_sha512();
	}
	return NULL;
}

/* Records one TLV entry; protected says which area it came from. */
static enum mcuboot_reason take_tlv(struct mcuboot_image *img, uint16_t type, const uint8_t *value, size_t len,
				    bool protected)
{
	enum mcuboot_hash_type hash = MCUBOOT_HASH_NONE;
	enum mcuboot_sig_type sig = MCUBOOT_SIG_NONE;
	bool length_ok = false;

	switch (type) {
	case TLV_SHA256: hash = MCUBOOT_HASH_SHA256; break;
	case TLV_SHA384: hash = MCUBOOT_HASH_SHA384; break;
	case TLV_SHA512: hash = MCUBOOT_HASH_SHA512; break;
	case TLV_RSA2048_PSS: sig = MCUBOOT_SIG_RSA2048_PSS; length_ok = len == 256; break;
	case TLV_RSA3072_PSS: sig = MCUBOOT_SIG_RSA3072_PSS; length_ok = len == 384; break;
	case TLV_ECDSA_SIG: sig = MCUBOOT_SIG_ECDSA; length_ok = len >= ECDSA_DER_MIN && len <= ECDSA_DER_MAX; break;
	case TLV_ED25519: sig = MCUBOOT_SIG_ED25519; length_ok = len == 64; break;
	case TLV_KEYHASH:
		if (protected)
			return MCUBOOT_TLV_PLACEMENT;
		if (img->keyhash)
			return MCUBOOT_DUPLICATE_TLV;
		img->keyhash = value;   /* its length is checked against the hash's once both are known */
		img->keyhash_len = len;
		return MCUBOOT_OK;
	default:
		/* Other types (security counter, boot record, dependencies...) are MCUboot's business, not ours. */
		return MCUBOOT_OK;
	}
	if (protected)
		return MCUBOOT_TLV_PLACEMENT;
	if (hash != MCUBOOT_HASH_NONE) {
		if (img->hash)
			return MCUBOOT_DUPLICATE_TLV;
		if (len != hash_size(hash))
			return MCUBOOT_TLV_LENGTH;
		img->hash_type = hash;
		img->hash = value;
		img->hash_len = len;
		return MCUBOOT_OK;
	}
	if (img->sig)
		return MCUBOOT_DUPLICATE_TLV;
	if (!length_ok)
		return MCUBOOT_TLV_LENGTH;
	img->sig_type = sig;
	img->sig = value;
	img->sig_len = len;
	return MCUBOOT_OK;
}

/* Walks the entries of one TLV area buf[start..end), after its 4-byte info header. */
static enum mcuboot_reason walk_tlvs(struct mcuboot_image *img, const uint8_t *buf, size_t start, size_t end,
				     bool protected)
{
	size_t off = start;

	while (off < end) {
		uint16_t type, len;
		enum mcuboot_reason r;

		if (end - off < 4)
			return MCUBOOT_TLV_OVERRUN;
		type = le16(buf + off);
		len = le16(buf + off + 2);
		if (len > end - off - 4)
			return MCUBOOT_TLV_OVERRUN;
		if (++img->tlv_count > MCUBOOT_TLV_MAX)
			return MCUBOOT_TOO_MANY_TLVS;
		r = take_tlv(img, type, buf + off + 4, len, protected);
		if (r != MCUBOOT_OK)
			return r;
		off += 4 + (size_t)len;
	}
	return MCUBOOT_OK;
}

/* What may follow the TLVs: 0xFF erased flash up to the slot end, the boot magic in the last 16 bytes. */
static enum mcuboot_reason check_trailer(struct mcuboot_image *img, const uint8_t *buf, size_t len)
{
	size_t n = len - img->tlv_end;
	const uint8_t *p = buf + img->tlv_end;

	img->padding = n;
	if (n >= TRAILER_MAGIC_SIZE && memcmp(p + n - TRAILER_MAGIC_SIZE, trailer_magic, TRAILER_MAGIC_SIZE) == 0) {
		img->trailer_magic = true;
		n -= TRAILER_MAGIC_SIZE;
	}
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0xFF)
			return MCUBOOT_TRAILING_DATA;
	return MCUBOOT_OK;
}

static enum mcuboot_reason parse(const uint8_t *buf, size_t len, struct mcuboot_image *img)
{
	uint64_t body_end, tlv_off, tlv_end;
	uint16_t magic, total;
	enum mcuboot_reason r;

	memset(img, 0, sizeof(*img));
	if (len > MCUBOOT_IMAGE_MAX)
		return MCUBOOT_TOO_LARGE;
	if (len < MCUBOOT_HEADER_BYTES)
		return MCUBOOT_TRUNCATED;
	if (le32(buf) != MCUBOOT_IMAGE_MAGIC)
		return MCUBOOT_BAD_MAGIC;
	img->load_addr = le32(buf + 4);
	img->hdr_size = le16(buf + 8);
	img->protect_tlv_size = le16(buf + 10);
	img->img_size = le32(buf + 12);
	img->flags = le32(buf + 16);
	img->version.major = buf[20];
	img->version.minor = buf[21];
	img->version.revision = le16(buf + 22);
	img->version.build = le32(buf + 24);
	/* buf[28..32) is padding; like the rest of the header it is covered by the image hash */

	if (img->hdr_size < MCUBOOT_HEADER_BYTES)
		return MCUBOOT_HEADER_SIZE;
	if (img->flags & ~KNOWN_FLAGS)
		return MCUBOOT_UNSUPPORTED_FLAGS;
	if (img->flags & ENCRYPTED_FLAGS)
		return MCUBOOT_ENCRYPTED;

	/* 64-bit arithmetic: hdr_size + img_size + 2 * 65535 cannot wrap, even where size_t is 32 bits */
	body_end = (uint64_t)img->hdr_size + img->img_size;
	tlv_off = body_end + img->protect_tlv_size;
	if (tlv_off + 4 > len)
		return MCUBOOT_TRUNCATED;
	if (img->protect_tlv_size > 0) {
		if (le16(buf + body_end) != MCUBOOT_TLV_PROT_INFO_MAGIC)
			return MCUBOOT_PROTECTED_TLV_MAGIC;
		if (img->protect_tlv_size < 4 || le16(buf + body_end + 2) != img->protect_tlv_size)
			return MCUBOOT_PROTECTED_TLV_SIZE;
		r = walk_tlvs(img, buf, (size_t)body_end + 4, (size_t)tlv_off, true);
		if (r != MCUBOOT_OK)
			return r;
	} else if (le16(buf + body_end) == MCUBOOT_TLV_PROT_INFO_MAGIC) {
		return MCUBOOT_PROTECTED_TLV_SIZE;   /* a protected area the header does not account for */
	}
	img->hashed_size = (size_t)tlv_off;

	magic = le16(buf + tlv_off);
	total = le16(buf + tlv_off + 2);
	if (magic != MCUBOOT_TLV_INFO_MAGIC)
		return MCUBOOT_TLV_MAGIC;
	if (total < 4)
		return MCUBOOT_TLV_SIZE;
	tlv_end = tlv_off + total;
	if (tlv_end > len)
		return MCUBOOT_TRUNCATED;
	r = walk_tlvs(img, buf, (size_t)tlv_off + 4, (size_t)tlv_end, false);
	if (r != MCUBOOT_OK)
		return r;
	img->tlv_end = (size_t)tlv_end;
	/* KEYHASH uses the image's hash algorithm; with no hash TLV the image is refused later as "no_hash" */
	if (img->keyhash && img->hash && img->keyhash_len != img->hash_len)
		return MCUBOOT_TLV_LENGTH;
	return check_trailer(img, buf, len);
}

int mcuboot_parse(const uint8_t *buf, size_t len, struct mcuboot_image *ret_image, enum mcuboot_reason *reason)
{
	struct mcuboot_image img;
	enum mcuboot_reason r = buf ? parse(buf, len, &img) : MCUBOOT_TRUNCATED;

	*reason = r;
	if (r != MCUBOOT_OK)
		return -EBADMSG;
	*ret_image = img;
	return 0;
}

int mcuboot_version_compare(const struct mcuboot_version *a, const struct mcuboot_version *b, bool with_build)
{
	if (a->major != b->major)
		return a->major < b->major ? -1 : 1;
	if (a->minor != b->minor)
		return a->minor < b->minor ? -1 : 1;
	if (a->revision != b->revision)
		return a->revision < b->revision ? -1 : 1;
	if (with_build && a->build != b->build)
		return a->build < b->build ? -1 : 1;
	return 0;
}

/* --- trusted keys --- */

struct mcuboot_keyring *mcuboot_keyring_new(void)
{
	return calloc(1, sizeof(struct mcuboot_keyring));
}

static void trusted_key_done(struct trusted_key *key)
{
	EVP_PKEY_free(key->pkey);
	free(key->name);
	memset(key, 0, sizeof(*key));
}

void mcuboot_keyring_free(struct mcuboot_keyring *keys)
{
	if (!keys)
		return;
	for (size_t i = 0; i < keys->count; i++)
		trusted_key_done(&keys->keys[i]);
	free(keys);
}

size_t mcuboot_keyring_count(const struct mcuboot_keyring *keys)
{
	return keys ? keys->count : 0;
}

__attribute__((format(printf, 2, 3)))
static int key_error(struct mcuboot_error *err, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->message, sizeof(err->message), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* The bytes MCUboot hashes into KEYHASH: PKCS#1 RSAPublicKey for RSA (what imgtool embeds in the bootloader),
 * SubjectPublicKeyInfo for everything else. Returns the DER length or -1. */
static int key_der(EVP_PKEY *pkey, uint8_t **ret_der)
{
	*ret_der = NULL;
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA)
		return i2d_PublicKey(pkey, ret_der);
	return i2d_PUBKEY(pkey, ret_der);
}

/* Classifies a key and computes its KEYHASHes; takes ownership of pkey on success. */
static int trusted_key_init(struct trusted_key *key, EVP_PKEY *pkey, const char *name, struct mcuboot_error *err)
{
	uint8_t *der = NULL;
	int der_len, rc = -EINVAL;

	memset(key, 0, sizeof(*key));
	switch (EVP_PKEY_get_base_id(pkey)) {
	case EVP_PKEY_RSA:
		if (EVP_PKEY_get_bits(pkey) == 2048)
			key->kind = MCUBOOT_SIG_RSA2048_PSS;
		else if (EVP_PKEY_get_bits(pkey) == 3072)
			key->kind = MCUBOOT_SIG_RSA3072_PSS;
		else
			return key_error(err, "\"%s\": RSA key of %d bits; MCUboot signs with RSA-2048 or RSA-3072",
					 name, EVP_PKEY_get_bits(pkey));
		break;
	case EVP_PKEY_EC: {
		char group[64] = "";
		size_t group_len = 0;

		if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
						    &group_len))
			return key_error(err, "\"%s\": EC key without a named curve", name);
		if (strcmp(group, "prime256v1") == 0)
			key->ec_hash = MCUBOOT_HASH_SHA256;
		else if (strcmp(group, "secp384r1") == 0)
			key->ec_hash = MCUBOOT_HASH_SHA384;
		else
			return key_error(err, "\"%s\": EC curve %s; MCUboot signs with P-256 or P-384", name, group);
		key->kind = MCUBOOT_SIG_ECDSA;
		break;
	}
	case EVP_PKEY_ED25519:
		key->kind = MCUBOOT_SIG_ED25519;
		break;
	default:
		return key_error(err, "\"%s\": unsupported key type %s (RSA, EC P-256/P-384 or Ed25519)", name,
				 OBJ_nid2sn(EVP_PKEY_get_base_id(pkey)));
	}

	der_len = key_der(pkey, &der);
	if (der_len <= 0) {
		rc = key_error(err, "\"%s\": cannot encode the public key", name);
		goto out;
	}
	for (int h = MCUBOOT_HASH_SHA256; h <= MCUBOOT_HASH_SHA512; h++) {
		if (!EVP_Digest(der, (size_t)der_len, key->keyhash[h], NULL, hash_md((enum mcuboot_hash_type)h),
				NULL)) {
			rc = -ENOMEM;
			key_error(err, "\"%s\": cannot hash the public key", name);
			goto out;
		}
	}
	key->name = strdup(name);
	if (!key->name) {
		rc = -ENOMEM;
		key_error(err, "\"%s\": out of memory", name);
		goto out;
	}
	key->pkey = pkey;
	rc = 0;
out:
	OPENSSL_free(der);
	return rc;
}

static bool same_key(const struct trusted_key *a, const struct trusted_key *b)
{
	return memcmp(a->keyhash[MCUBOOT_HASH_SHA256], b->keyhash[MCUBOOT_HASH_SHA256], 32) == 0;
}

/* Reads one PEM public key into keys->keys[at] without publishing it (count unchanged). */
static int read_pem(struct mcuboot_keyring *keys, size_t at, const char *name, const char *pem, size_t pem_len,
		    struct mcuboot_error *err)
{
	BIO *bio;
	EVP_PKEY *pkey;
	int rc;

	if (at >= MCUBOOT_KEYS_MAX)
		return key_error(err, "\"%s\": more than %d trusted keys", name, MCUBOOT_KEYS_MAX);
	if (pem_len > MCUBOOT_KEY_FILE_MAX || pem_len > INT32_MAX)
		return key_error(err, "\"%s\": larger than %u bytes, not a PEM key", name, MCUBOOT_KEY_FILE_MAX);
	bio = BIO_new_mem_buf(pem, (int)pem_len);
	if (!bio) {
		key_error(err, "\"%s\": out of memory", name);
		return -ENOMEM;
	}
	pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (!pkey) {
		if (memmem(pem, pem_len, "PRIVATE KEY-----", 16))
			return key_error(err, "\"%s\": is a private key; give the public key "
					 "(openssl pkey -in FILE -pubout)", name);
		return key_error(err, "\"%s\": no PEM public key (-----BEGIN PUBLIC KEY-----) in it", name);
	}
	rc = trusted_key_init(&keys->keys[at], pkey, name, err);
	if (rc < 0) {
		EVP_PKEY_free(pkey);
		return rc;
	}
	for (size_t i = 0; i < at; i++) {
		if (same_key(&keys->keys[i], &keys->keys[at])) {
			rc = key_error(err, "\"%s\": the same key as \"%s\"", name, keys->keys[i].name);
			trusted_key_done(&keys->keys[at]);
			return rc;
		}
	}
	return 0;
}

int mcuboot_keyring_add_pem(struct mcuboot_keyring *keys, const char *name, const char *pem, size_t pem_len,
			    struct mcuboot_error *err)
{
	int rc = read_pem(keys, keys->count, name, pem, pem_len, err);

	if (rc == 0)
		keys->count++;
	return rc;
}

static int read_file(const char *path, char **ret_text, size_t *ret_len, struct mcuboot_error *err)
{
	FILE *f = fopen(path, "rbe");
	char *text;
	size_t n;
	int rc;

	if (!f) {
		rc = -errno;
		key_error(err, "\"%s\": %s", path, strerror(-rc));
		return rc;
	}
	text = malloc(MCUBOOT_KEY_FILE_MAX + 1);
	if (!text) {
		fclose(f);
		key_error(err, "\"%s\": out of memory", path);
		return -ENOMEM;
	}
	n = fread(text, 1, MCUBOOT_KEY_FILE_MAX + 1, f);
	if (ferror(f)) {
		rc = -EIO;
		key_error(err, "\"%s\": read error", path);
		goto fail;
	}
	if (n > MCUBOOT_KEY_FILE_MAX) {
		rc = key_error(err, "\"%s\": larger than %u bytes, not a PEM key", path, MCUBOOT_KEY_FILE_MAX);
		goto fail;
	}
	fclose(f);
	*ret_text = text;
	*ret_len = n;
	return 0;
fail:
	free(text);
	fclose(f);
	return rc;
}

int mcuboot_keyring_load_files(struct mcuboot_keyring *keys, const char *const *paths, size_t n_paths,
			       struct mcuboot_error *err)
{
	size_t added = 0;
	int rc = 0;

	for (size_t i = 0; i < n_paths; i++) {
		char *text = NULL;
		size_t len = 0;

		rc = read_file(paths[i], &text, &len, err);
		if (rc < 0)
			break;
		rc = read_pem(keys, keys->count + added, paths[i], text, len, err);
		free(text);
		if (rc < 0)
			break;
		added++;
	}
	if (rc < 0) {
		/* all or nothing: drop what this call read */
		for (size_t i = 0; i < added; i++)
			trusted_key_done(&keys->keys[keys->count + i]);
		return rc;
	}
	keys->count += added;
	return 0;
}

/* --- verification --- */

static const struct trusted_key *find_key(const struct mcuboot_keyring *keys, const struct mcuboot_image *img)
{
	if (!keys)
		return NULL;
	for (size_t i = 0; i < keys->count; i++)
		if (CRYPTO_memcmp(keys->keys[i].keyhash[img->hash_type], img->keyhash, img->keyhash_len) == 0)
			return &keys->keys[i];
	return NULL;
}

static bool key_fits(const struct trusted_key *key, const struct mcuboot_image *img)
{
	switch (img->sig_type) {
	case MCUBOOT_SIG_NONE:
		return false;
	case MCUBOOT_SIG_RSA2048_PSS:
	case MCUBOOT_SIG_RSA3072_PSS:
		return key->kind == img->sig_type;
	case MCUBOOT_SIG_ECDSA:
		return key->kind == MCUBOOT_SIG_ECDSA && key->ec_hash == (int)img->hash_type;
	case MCUBOOT_SIG_ED25519:
		return key->kind == MCUBOOT_SIG_ED25519;
	}
	return false;
}

/* 1 verified, 0 refused, -ENOMEM when OpenSSL could not even try. The signed message is the hash TLV's value:
 * RSA-PSS (salt = digest length) and ECDSA sign it as a precomputed digest, Ed25519 signs it as a message. */
static int check_signature(const struct trusted_key *key, const struct mcuboot_image *img)
{
	EVP_PKEY_CTX *pctx = NULL;
	EVP_MD_CTX *mctx = NULL;
	int ok, rc = -ENOMEM;

	if (img->sig_type == MCUBOOT_SIG_ED25519) {
		mctx = EVP_MD_CTX_new();
		if (!mctx || EVP_DigestVerifyInit(mctx, NULL, NULL, NULL, key->pkey) != 1)
			goto out;
		ok = EVP_DigestVerify(mctx, img->sig, img->sig_len, img->hash, img->hash_len);
		rc = ok == 1;
		goto out;
	}
	pctx = EVP_PKEY_CTX_new(key->pkey, NULL);
	if (!pctx || EVP_PKEY_verify_init(pctx) != 1 ||
	    EVP_PKEY_CTX_set_signature_md(pctx, hash_md(img->hash_type)) != 1)
		goto out;
	if (img->sig_type != MCUBOOT_SIG_ECDSA &&
	    (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
	     EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, (int)img->hash_len) != 1))
		goto out;
	ok = EVP_PKEY_verify(pctx, img->sig, img->sig_len, img->hash, img->hash_len);
	rc = ok == 1;
out:
	ERR_clear_error();   /* a refused signature leaves errors queued; they are not ours to report */
	EVP_PKEY_CTX_free(pctx);
	EVP_MD_CTX_free(mctx);
	return rc;
}

static enum mcuboot_reason verify(const uint8_t *buf, const struct mcuboot_image *img,
				  const struct mcuboot_keyring *keys, bool require_signature,
				  const struct trusted_key **ret_key)
{
	uint8_t digest[MCUBOOT_HASH_MAX];
	const struct trusted_key *key;
	int rc;

	if (!img->hash)
		return MCUBOOT_NO_HASH;
	if (!EVP_Digest(buf, img->hashed_size, digest, NULL, hash_md(img->hash_type), NULL)) {
		ERR_clear_error();
		return MCUBOOT_INTERNAL;
	}
	if (CRYPTO_memcmp(digest, img->hash, img->hash_len) != 0)
		return MCUBOOT_HASH_MISMATCH;
	if (!img->sig) {
		if (img->keyhash)
			return MCUBOOT_KEYHASH_WITHOUT_SIGNATURE;
		return require_signature ? MCUBOOT_NO_SIGNATURE : MCUBOOT_OK;
	}
	if (!img->keyhash)
		return MCUBOOT_NO_KEYHASH;
	key = find_key(keys, img);
	if (!key)
		return MCUBOOT_KEY_NOT_TRUSTED;
	if (!key_fits(key, img))
		return MCUBOOT_KEY_TYPE;
	rc = check_signature(key, img);
	if (rc < 0)
		return MCUBOOT_INTERNAL;
	if (rc == 0)
		return MCUBOOT_BAD_SIGNATURE;
	*ret_key = key;
	return MCUBOOT_OK;
}

int mcuboot_verify(const uint8_t *buf, size_t len, const struct mcuboot_keyring *keys, bool require_signature,
		   struct mcuboot_image *ret_image, const char **ret_key_name, enum mcuboot_reason *reason)
{
	struct mcuboot_image img;
	const struct trusted_key *key = NULL;
	enum mcuboot_reason r = buf ? parse(buf, len, &img) : MCUBOOT_TRUNCATED;

	if (r == MCUBOOT_OK)
		r = verify(buf, &img, keys, require_signature, &key);
	*reason = r;
	if (r == MCUBOOT_INTERNAL)
		return -ENOMEM;
	if (r != MCUBOOT_OK)
		return -EBADMSG;
	if (ret_image)
		*ret_image = img;
	if (ret_key_name)
		*ret_key_name = key ? key->name : NULL;
	return 0;
}
