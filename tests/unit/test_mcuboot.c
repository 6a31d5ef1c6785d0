/* Unit tests for daemon/mcuboot.c: every real MCUboot image of tests/data/mcuboot/ (versions, sizes, image hashes,
 * KEYHASH, the right key verifies and every other key fails), images signed here with OpenSSL in the MCUboot layout
 * (ECDSA P-256, Ed25519 over SHA-512, RSA-2048/3072 PSS, protected TLVs), hand-made structural faults, key loading,
 * and the rejection matrix of issue 5 on a 64 KiB signed image with the totals per reason as TAP diagnostics. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "mcuboot.h"
#include "tap.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif
#define DATA TOP_SRCDIR "/tests/data/mcuboot/"

/* --- helpers --- */

static uint8_t *load(const char *name, size_t *ret_len)
{
	char path[1024];
	FILE *f;
	uint8_t *buf;
	long n;

	snprintf(path, sizeof(path), DATA "%s", name);
	f = fopen(path, "rb");
	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	*ret_len = (size_t)n;
	return buf;
}

static struct mcuboot_keyring *keyring_of(const char *key_file)
{
	struct mcuboot_keyring *keys = mcuboot_keyring_new();
	struct mcuboot_error err = { "" };
	char path[1024];
	const char *paths[] = { path };

	snprintf(path, sizeof(path), DATA "%s", key_file);
	if (!keys || mcuboot_keyring_load_files(keys, paths, 1, &err) < 0) {
		printf("Bail out! %s\n", err.message);
		exit(1);
	}
	return keys;
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	out[2 * n] = '\0';
}

static uint64_t rng_state = 0x6d637562303a3130ull;

static uint64_t rng(void)
{
	/* xorshift64*: the matrix must pick the same positions on every run */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1Dull;
}

static const char *reason_name(enum mcuboot_reason r)
{
	return mcuboot_reason_to_string(r);
}

static enum mcuboot_reason verify_reason(const uint8_t *buf, size_t len, const struct mcuboot_keyring *keys,
					 bool require)
{
	enum mcuboot_reason r = MCUBOOT_REASON_COUNT;

	mcuboot_verify(buf, len, keys, require, NULL, NULL, &r);
	return r;
}

/* --- the real images of SOURCES.md §1 (and one nRF54L15 Ed25519 image of §3) --- */

static const char *const key_files[] = {
	"root-rsa-2048.pub.pem", "root-rsa-3072.pub.pem", "root-ec-p256.pub.pem", "root-ec-p384.pub.pem",
	"root-ed25519.pub.pem",
};
#define N_KEYS (sizeof(key_files) / sizeof(key_files[0]))

struct real_image {
	const char *file;
	size_t size;
	struct mcuboot_version version;
	uint16_t hdr_size;
	uint32_t img_size;
	uint16_t protect_tlv_size;
	uint32_t flags;
	uint32_t load_addr;
	size_t tlv_end;
	bool trailer_magic;
	enum mcuboot_hash_type hash_type;
	const char *image_hash;
	enum mcuboot_sig_type sig_type;
	const char *key_file;           /* NULL: hash only */
	const char *keyhash;
};

#define RSA_KEYHASH "fc5701dc6135e1323847bdc40f04d2e5bee5833b23c29f93593d00018cfa9994"
#define P256_KEYHASH "e30466f6b8470c1f29070b17f1e2d3e94d445e3f608087fdc711e4382bb538b6"
#define ED25519_KEYHASH "e3e129b49f1218e18e4614acb2523389c75852ebb98b4d2c6171a2fc65706ba3" \
	"d1ddf85f52e71450c3e572e624695fafd41ce4d9354d6c2b19f7d6001a6ae8b0"

static const struct real_image real_images[] = {
	{ "ios-dm_nrf52840_smp_svr.1.0.0.signed.bin", 181972, { 1, 0, 0, 0 }, 512, 181124, 0, 0, 0, 181972, false,
	  MCUBOOT_HASH_SHA256, "12d5fd1fa767be4d46a9270154d2e2226faf3370d16290dce2a21f5ff80ec071",
	  MCUBOOT_SIG_RSA2048_PSS, "root-rsa-2048.pub.pem", RSA_KEYHASH },
	{ "ios-dm_nrf52840_smp_svr.2.0.0.signed.bin", 181972, { 2, 0, 0, 0 }, 512, 181124, 0, 0, 0, 181972, false,
	  MCUBOOT_HASH_SHA256, "53a556ac41a797680e488cb39690d191b824021c76c00e895318718a1feb3eec",
	  MCUBOOT_SIG_RSA2048_PSS, "root-rsa-2048.pub.pem", RSA_KEYHASH },
	{ "ios-dm_nrf52840_smp_svr.3.0.0.signed.bin", 181972, { 3, 0, 0, 0 }, 512, 181124, 0, 0, 0, 181972, false,
	  MCUBOOT_HASH_SHA256, "541e01f71cf988b763d3b9a1e3ff9c36fe02475ba1d142535ab51273ea5e4fcb",
	  MCUBOOT_SIG_RSA2048_PSS, "root-rsa-2048.pub.pem", RSA_KEYHASH },
	{ "ios-dm_nrf52832_smp_svr.1.0.0.signed.bin", 179576, { 1, 0, 0, 0 }, 512, 178728, 0, 0, 0, 179576, false,
	  MCUBOOT_HASH_SHA256, "a76b83efffae0ce5aa79548557e3fb7dedff177faa8f0b2edb7d3d20a32541f9",
	  MCUBOOT_SIG_RSA2048_PSS, "root-rsa-2048.pub.pem", RSA_KEYHASH },
	{ "smpclient_hello_world.signed.bin", 25540, { 0, 0, 0, 0 }, 512, 24692, 0, 0, 0, 25540, false,
	  MCUBOOT_HASH_SHA256, "90a0d88baaa733640dab01fd8e9311dbe8ea1032966b6b286ef6ef772cc608cf",
	  MCUBOOT_SIG_RSA2048_PSS, "root-rsa-2048.pub.pem", RSA_KEYHASH },
	{ "smpclient_tfm_s_signed.bin", 524288, { 0, 0, 0, 0 }, 1024, 115296, 123, 0, 0, 116594, true,
	  MCUBOOT_HASH_SHA256, "26ad088c6dc8e4a2792ef6fbb16aeb524cf58396866f355c33bd7939182bc09d",
	  MCUBOOT_SIG_ECDSA, "root-ec-p256.pub.pem", P256_KEYHASH },
	{ "smpclient_zephyr_4.4.0_smp_server_0eae053d_qemu_cortex_m0_serial.signed.bin", 49692, { 0, 0, 0, 0 }, 512,
	  49140, 0, 0, 0, 49692, false,
	  MCUBOOT_HASH_SHA256, "1baa222074cc805faf4e09846d2377886b1e5ef7cfccd9eac1554d82d9aa9d5a",
	  MCUBOOT_SIG_NONE, NULL, NULL },
	{ "smpclient_zephyr_f33aa2bc4a43_smp_server_27c54835_mps2_an385_serial_recovery.signed.bin", 132476,
	  { 0, 0, 0, 0 }, 512, 131924, 0, MCUBOOT_F_RAM_LOAD, 0x20240000, 132476, false,
	  MCUBOOT_HASH_SHA256, "18779b16a62c10405e239b096eae0c54c8b097a260978b21b4cec75f149a617e",
	  MCUBOOT_SIG_NONE, NULL, NULL },
	{ "ncs-mesh-dfu_target_nrf54L_1.0.signed.bin", 328948, { 1, 0, 0, 0 }, 2048, 0, 0, 0, 0, 328948, false,
	  MCUBOOT_HASH_SHA512, "82caf68c1d9b92f8c6570ac89503e10d92420a42818e1aa4e3f64193a70d770d"
	  "8b1596aa323ceb80d91de0a6335ed69883dc916d9c6514af402950121f476fa7",
	  MCUBOOT_SIG_ED25519, "root-ed25519.pub.pem", ED25519_KEYHASH },
};

static void test_real_image(const struct real_image *t, struct mcuboot_keyring *const *keyrings)
{
	struct mcuboot_image img;
	enum mcuboot_reason r = MCUBOOT_REASON_COUNT;
	const char *key_name = "unset";
	char hex[2 * MCUBOOT_HASH_MAX + 1];
	size_t len;
	uint8_t *buf = load(t->file, &len);

	printf("# %s\n", t->file);
	is_int(len, t->size, "file size");
	if (mcuboot_parse(buf, len, &img, &r) < 0) {
		ok(0, "parses (%s)", reason_name(r));
		free(buf);
		return;
	}
	ok(1, "parses");
	ok(img.version.major == t->version.major && img.version.minor == t->version.minor &&
	   img.version.revision == t->version.revision && img.version.build == t->version.build,
	   "version %u.%u.%u+%u", img.version.major, img.version.minor, img.version.revision, img.version.build);
	is_int(img.hdr_size, t->hdr_size, "hdr_size");
	if (t->img_size)
		is_int(img.img_size, t->img_size, "img_size");
	is_int(img.protect_tlv_size, t->protect_tlv_size, "protect_tlv_size");
	is_int(img.flags, t->flags, "flags");
	is_int(img.load_addr, t->load_addr, "load_addr");
	is_int(img.tlv_end, t->tlv_end, "end of the TLVs");
	is_int(img.padding, t->size - t->tlv_end, "padding after the TLVs");
	is_int(img.trailer_magic, t->trailer_magic, "trailer magic");
	is_int(img.hash_type, t->hash_type, "hash type %s", mcuboot_hash_type_to_string(img.hash_type));
	to_hex(img.hash, img.hash_len, hex);
	is_str(hex, t->image_hash, "image hash as SOURCES.md gives it");
	is_int(img.sig_type, t->sig_type, "signature type %s", mcuboot_sig_type_to_string(img.sig_type));
	if (t->keyhash) {
		to_hex(img.keyhash, img.keyhash_len, hex);
		is_str(hex, t->keyhash, "KEYHASH");
	} else {
		ok(img.keyhash == NULL && img.sig == NULL, "no KEYHASH, no signature");
	}

	if (!t->key_file) {
		is_int(mcuboot_verify(buf, len, NULL, false, NULL, &key_name, &r), 0, "hash-only image accepted "
		       "when no signature is required");
		ok(key_name == NULL, "accepted unsigned: no key name");
		is_str(reason_name(verify_reason(buf, len, keyrings[0], true)), "no_signature",
		       "refused when a signature is required");
		free(buf);
		return;
	}
	for (size_t k = 0; k < N_KEYS; k++) {
		char want[1024];

		if (strcmp(key_files[k], t->key_file) == 0) {
			r = MCUBOOT_REASON_COUNT;
			key_name = NULL;
			is_int(mcuboot_verify(buf, len, keyrings[k], true, &img, &key_name, &r), 0,
			       "verifies with %s (%s)", key_files[k], reason_name(r));
			snprintf(want, sizeof(want), DATA "%s", key_files[k]);
			is_str(key_name, want, "names the key that verified");
			is_str(reason_name(verify_reason(buf, len, keyrings[k], false)), "ok",
			       "verifies with require_signature off too");
		} else {
			is_str(reason_name(verify_reason(buf, len, keyrings[k], true)), "key_not_trusted",
			       "fails with %s", key_files[k]);
		}
	}
	is_str(reason_name(verify_reason(buf, len, NULL, false)), "key_not_trusted",
	       "a signed image with no trusted key fails even when signatures are optional");
	/* the last byte of the signature (a DER INTEGER byte for ECDSA) */
	buf[t->tlv_end - 1] ^= 0x01;
	is_str(reason_name(verify_reason(buf, len, keyrings[N_KEYS], true)), "bad_signature",
	       "one bit of the signature flipped");
	free(buf);
}

static void test_real_images(void)
{
	struct mcuboot_keyring *keyrings[N_KEYS + 1];
	struct mcuboot_error err = { "" };
	const char *paths[N_KEYS];
	char path_buf[N_KEYS][1024];
	struct mcuboot_image a, b, c;
	enum mcuboot_reason r;
	size_t la, lb, lc;
	uint8_t *ia, *ib, *ic;

	for (size_t k = 0; k < N_KEYS; k++) {
		keyrings[k] = keyring_of(key_files[k]);
		snprintf(path_buf[k], sizeof(path_buf[k]), DATA "%s", key_files[k]);
		paths[k] = path_buf[k];
	}
	keyrings[N_KEYS] = mcuboot_keyring_new();
	is_int(mcuboot_keyring_load_files(keyrings[N_KEYS], paths, N_KEYS, &err), 0, "all five sample keys load (%s)",
	       err.message);
	is_int(mcuboot_keyring_count(keyrings[N_KEYS]), N_KEYS, "five keys");

	for (size_t i = 0; i < sizeof(real_images) / sizeof(real_images[0]); i++)
		test_real_image(&real_images[i], keyrings);

	/* the three nrf52840 builds differ only in version, hash and signature: ordering, and no transplants */
	ia = load("ios-dm_nrf52840_smp_svr.1.0.0.signed.bin", &la);
	ib = load("ios-dm_nrf52840_smp_svr.2.0.0.signed.bin", &lb);
	ic = load("ios-dm_nrf52840_smp_svr.3.0.0.signed.bin", &lc);
	if (mcuboot_parse(ia, la, &a, &r) == 0 && mcuboot_parse(ib, lb, &b, &r) == 0 &&
	    mcuboot_parse(ic, lc, &c, &r) == 0) {
		ok(mcuboot_version_compare(&a.version, &b.version, true) < 0, "1.0.0 is older than 2.0.0");
		ok(mcuboot_version_compare(&c.version, &b.version, true) > 0, "3.0.0 is newer than 2.0.0");
		ok(mcuboot_version_compare(&a.version, &a.version, true) == 0, "1.0.0 equals itself");
		/* 2.0.0's signature on 1.0.0's header+body+hash: the hash matches, the signature does not */
		memcpy(ia + (a.sig - ia), b.sig, a.sig_len);
		is_str(reason_name(verify_reason(ia, la, keyrings[0], true)), "bad_signature",
		       "2.0.0's signature transplanted into 1.0.0");
		/* 1.0.0's header (version) on 2.0.0: a downgrade attempt by editing the header */
		memcpy(ic, ib, 32);
		is_str(reason_name(verify_reason(ic, lc, keyrings[0], true)), "hash_mismatch",
		       "3.0.0 with 2.0.0's header");
	} else {
		ok(0, "nrf52840 images parse");
	}
	free(ia);
	free(ib);
	free(ic);

	/* KEYHASH of an RSA key on the ECDSA image: the key matches by hash but cannot check an ECDSA signature */
	ia = load("smpclient_tfm_s_signed.bin", &la);
	if (mcuboot_parse(ia, la, &a, &r) == 0) {
		static const uint8_t rsa_keyhash[32] = {
			0xfc, 0x57, 0x01, 0xdc, 0x61, 0x35, 0xe1, 0x32, 0x38, 0x47, 0xbd, 0xc4, 0x0f, 0x04, 0xd2, 0xe5,
			0xbe, 0xe5, 0x83, 0x3b, 0x23, 0xc2, 0x9f, 0x93, 0x59, 0x3d, 0x00, 0x01, 0x8c, 0xfa, 0x99, 0x94,
		};

		memcpy(ia + (a.keyhash - ia), rsa_keyhash, sizeof(rsa_keyhash));
		is_str(reason_name(verify_reason(ia, la, keyrings[N_KEYS], true)), "key_type",
		       "ECDSA signature with the RSA key's KEYHASH");
		ia[la - 17] = 0x00;  /* the last padding byte before the trailer magic */
		is_str(reason_name(verify_reason(ia, la, keyrings[N_KEYS], true)), "trailing_data",
		       "a non-0xFF byte in the padding of a padded image");
	} else {
		ok(0, "TF-M image parses");
	}
	free(ia);

	for (size_t k = 0; k <= N_KEYS; k++)
		mcuboot_keyring_free(keyrings[k]);
}

/* --- images built here, in the MCUboot layout --- */

struct layout {
	size_t hdr_size, body_end, prot_off, tlv_off, hash_off, keyhash_off, sig_hdr_off, sig_off, end;
};

struct build {
	const EVP_MD *md;       /* image hash: sha256 or sha512 */
	EVP_PKEY *key;          /* signer; NULL: hash only */
	bool keyhash;           /* write KEYHASH (with key) */
	bool sign;              /* write the signature (with key) */
	bool protected_tlvs;    /* a protected area with a security counter and a dependency */
	size_t body_len;
	size_t hdr_size;
	uint32_t flags;
	struct mcuboot_version version;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void bail_openssl(const char *what)
{
	printf("Bail out! OpenSSL: %s\n", what);
	exit(1);
}

/* The key as MCUboot hashes it: PKCS#1 for RSA, SubjectPublicKeyInfo otherwise. */
static void key_hash(EVP_PKEY *key, const EVP_MD *md, uint8_t *out)
{
	uint8_t *der = NULL;
	int n = EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA ? i2d_PublicKey(key, &der) : i2d_PUBKEY(key, &der);

	if (n <= 0 || !EVP_Digest(der, (size_t)n, out, NULL, md, NULL))
		bail_openssl("key hash");
	OPENSSL_free(der);
}

static size_t sign_digest(EVP_PKEY *key, const EVP_MD *md, const uint8_t *digest, size_t digest_len, uint8_t *sig,
			  uint16_t *ret_type)
{
	size_t sig_len = 512;
	int id = EVP_PKEY_get_base_id(key);

	if (id == EVP_PKEY_ED25519) {
		EVP_MD_CTX *m = EVP_MD_CTX_new();

		if (!m || EVP_DigestSignInit(m, NULL, NULL, NULL, key) != 1 ||
		    EVP_DigestSign(m, sig, &sig_len, digest, digest_len) != 1)
			bail_openssl("Ed25519 sign");
		EVP_MD_CTX_free(m);
		*ret_type = 0x24;
		return sig_len;
	}
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);

	if (!c || EVP_PKEY_sign_init(c) != 1 || EVP_PKEY_CTX_set_signature_md(c, md) != 1)
		bail_openssl("sign init");
	if (id == EVP_PKEY_RSA) {
		if (EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) != 1 ||
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(c, (int)digest_len) != 1)
			bail_openssl("PSS");
		*ret_type = EVP_PKEY_get_bits(key) == 3072 ? 0x23 : 0x20;
	} else {
		*ret_type = 0x22;
	}
	if (EVP_PKEY_sign(c, sig, &sig_len, digest, digest_len) != 1)
		bail_openssl("sign");
	EVP_PKEY_CTX_free(c);
	return sig_len;
}

/* Returns a new image (malloc) laid out as imgtool writes it; *lay gives the offsets of each part. */
static uint8_t *build_image(const struct build *o, size_t *ret_len, struct layout *lay)
{
	size_t hash_len = (size_t)EVP_MD_get_size(o->md);
	size_t prot_size = o->protected_tlvs ? 4 + (4 + 4) + (4 + 12) : 0;
	size_t cap = o->hdr_size + o->body_len + prot_size + 4 + 3 * (4 + 64) + 512;
	uint8_t *buf = calloc(1, cap);
	uint8_t digest[64], sig[512];
	uint16_t sig_type = 0;
	size_t off, sig_len;

	if (!buf)
		bail_openssl("calloc");
	memset(lay, 0, sizeof(*lay));
	put32(buf, MCUBOOT_IMAGE_MAGIC);
	put32(buf + 4, 0);
	put16(buf + 8, (uint16_t)o->hdr_size);
	put16(buf + 10, (uint16_t)prot_size);
	put32(buf + 12, (uint32_t)o->body_len);
	put32(buf + 16, o->flags);
	buf[20] = o->version.major;
	buf[21] = o->version.minor;
	put16(buf + 22, o->version.revision);
	put32(buf + 24, o->version.build);
	for (size_t i = 0; i < o->body_len; i++)
		buf[o->hdr_size + i] = (uint8_t)rng();
	lay->hdr_size = o->hdr_size;
	off = lay->body_end = o->hdr_size + o->body_len;
	lay->prot_off = off;
	if (o->protected_tlvs) {
		put16(buf + off, MCUBOOT_TLV_PROT_INFO_MAGIC);
		put16(buf + off + 2, (uint16_t)prot_size);
		put16(buf + off + 4, 0x50);     /* SEC_CNT */
		put16(buf + off + 6, 4);
		put32(buf + off + 8, 7);
		put16(buf + off + 12, 0x40);    /* DEPENDENCY: image 1, version 1.0.0+0 */
		put16(buf + off + 14, 12);
		buf[off + 16] = 1;
		buf[off + 20] = 1;
		off += prot_size;
	}
	if (!EVP_Digest(buf, off, digest, NULL, o->md, NULL))
		bail_openssl("digest");
	lay->tlv_off = off;
	off += 4;
	put16(buf + off, hash_len == 32 ? 0x10 : 0x12);
	put16(buf + off + 2, (uint16_t)hash_len);
	memcpy(buf + off + 4, digest, hash_len);
	lay->hash_off = off + 4;
	off += 4 + hash_len;
	if (o->key && o->keyhash) {
		put16(buf + off, 0x01);
		put16(buf + off + 2, (uint16_t)hash_len);
		key_hash(o->key, o->md, buf + off + 4);
		lay->keyhash_off = off + 4;
		off += 4 + hash_len;
	}
	if (o->key && o->sign) {
		sig_len = sign_digest(o->key, o->md, digest, hash_len, sig, &sig_type);
		put16(buf + off, sig_type);
		put16(buf + off + 2, (uint16_t)sig_len);
		memcpy(buf + off + 4, sig, sig_len);
		lay->sig_hdr_off = off;
		lay->sig_off = off + 4;
		off += 4 + sig_len;
	}
	put16(buf + lay->tlv_off, MCUBOOT_TLV_INFO_MAGIC);
	put16(buf + lay->tlv_off + 2, (uint16_t)(off - lay->tlv_off));
	lay->end = off;
	*ret_len = off;
	return buf;
}

static EVP_PKEY *keygen(const char *type, const char *param)
{
	EVP_PKEY *k;

	if (strcmp(type, "RSA") == 0)
		k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)strtoul(param, NULL, 10));
	else if (param)
		k = EVP_PKEY_Q_keygen(NULL, NULL, type, param);
	else
		k = EVP_PKEY_Q_keygen(NULL, NULL, type);
	if (!k)
		bail_openssl("keygen");
	return k;
}

static char *public_pem(EVP_PKEY *key, size_t *ret_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *copy;
	long n;

	if (!bio || PEM_write_bio_PUBKEY(bio, key) != 1)
		bail_openssl("PEM");
	n = BIO_get_mem_data(bio, &data);
	copy = malloc((size_t)n + 1);
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	BIO_free(bio);
	*ret_len = (size_t)n;
	return copy;
}

static struct mcuboot_keyring *keyring_with(EVP_PKEY *key, const char *name)
{
	struct mcuboot_keyring *keys = mcuboot_keyring_new();
	struct mcuboot_error err = { "" };
	size_t n;
	char *pem = public_pem(key, &n);

	if (!keys || mcuboot_keyring_add_pem(keys, name, pem, n, &err) < 0) {
		printf("Bail out! %s\n", err.message);
		exit(1);
	}
	free(pem);
	return keys;
}

static struct build default_build(EVP_PKEY *key)
{
	struct build o = {
		.md = EVP_sha256(), .key = key, .keyhash = true, .sign = true, .body_len = 4096, .hdr_size = 512,
		.version = { 1, 2, 3, 4567 },
	};
	return o;
}

/* Each signature scheme signed here verifies, and with another key of the same type does not. */
static void test_generated_schemes(void)
{
	static const struct {
		const char *type, *param, *md;
		enum mcuboot_sig_type sig;
	} schemes[] = {
		{ "EC", "P-256", "SHA256", MCUBOOT_SIG_ECDSA },
		{ "ED25519", NULL, "SHA512", MCUBOOT_SIG_ED25519 },
		{ "ED25519", NULL, "SHA256", MCUBOOT_SIG_ED25519 },
		{ "RSA", "2048", "SHA256", MCUBOOT_SIG_RSA2048_PSS },
		{ "RSA", "3072", "SHA256", MCUBOOT_SIG_RSA3072_PSS },
	};

	for (size_t i = 0; i < sizeof(schemes) / sizeof(schemes[0]); i++) {
		EVP_PKEY *key = keygen(schemes[i].type, schemes[i].param);
		EVP_PKEY *other = keygen(schemes[i].type, schemes[i].param);
		struct mcuboot_keyring *keys = keyring_with(key, "signer");
		struct mcuboot_keyring *others = keyring_with(other, "other");
		struct build o = default_build(key);
		struct mcuboot_image img;
		struct layout lay;
		enum mcuboot_reason r = MCUBOOT_REASON_COUNT;
		const char *name = NULL;
		size_t len;
		uint8_t *buf;

		o.md = EVP_get_digestbyname(schemes[i].md);
		o.protected_tlvs = true;
		buf = build_image(&o, &len, &lay);
		printf("# generated %s %s with %s\n", schemes[i].type, schemes[i].param ? schemes[i].param : "",
		       schemes[i].md);
		is_int(mcuboot_verify(buf, len, keys, true, &img, &name, &r), 0, "verifies (%s)", reason_name(r));
		is_str(name, "signer", "key name");
		is_int(img.sig_type, schemes[i].sig, "signature type");
		is_int(img.protect_tlv_size, 28, "protected area");
		ok(img.version.major == 1 && img.version.minor == 2 && img.version.revision == 3 &&
		   img.version.build == 4567, "version 1.2.3+4567");
		is_str(reason_name(verify_reason(buf, len, others, true)), "key_not_trusted", "another key");
		/* KEYHASH forged to name the other key: found, but its signature check fails */
		key_hash(other, o.md, buf + lay.keyhash_off);
		is_str(reason_name(verify_reason(buf, len, others, true)), "bad_signature",
		       "KEYHASH forged to name another trusted key");
		/* a byte of the protected area is hashed */
		key_hash(key, o.md, buf + lay.keyhash_off);
		buf[lay.prot_off + 8] ^= 0x80;
		is_str(reason_name(verify_reason(buf, len, keys, true)), "hash_mismatch", "security counter changed");
		free(buf);
		mcuboot_keyring_free(keys);
		mcuboot_keyring_free(others);
		EVP_PKEY_free(key);
		EVP_PKEY_free(other);
	}
}

/* Structural faults made by hand, one reason each. */
static void test_structure(void)
{
	EVP_PKEY *key = keygen("EC", "P-256");
	EVP_PKEY *p384 = keygen("EC", "P-384");
	struct mcuboot_keyring *keys = keyring_with(key, "k");
	struct build o = default_build(key);
	struct mcuboot_image img;
	struct layout lay;
	enum mcuboot_reason r;
	size_t len;
	uint8_t *buf = build_image(&o, &len, &lay), *big;

	is_str(reason_name(verify_reason(buf, len, keys, true)), "ok", "the base image verifies");
	is_str(reason_name(verify_reason(buf, 0, keys, true)), "truncated", "empty");
	is_str(reason_name(verify_reason(buf, 31, keys, true)), "truncated", "31 bytes");
	is_str(reason_name(verify_reason(NULL, 0, keys, true)), "truncated", "NULL buffer");
	ok(mcuboot_parse(buf, 3, &img, &r) == -EBADMSG && r == MCUBOOT_TRUNCATED, "parse: -EBADMSG and the reason");

	put16(buf + 8, 16);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "header_size", "hdr_size 16");
	put16(buf + 8, 512);
	put32(buf + 16, 0x00010000);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "unsupported_flags", "an unknown flag");
	put32(buf + 16, MCUBOOT_F_ENCRYPTED_AES128);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "encrypted", "AES-128 encrypted");
	put32(buf + 16, MCUBOOT_F_ENCRYPTED_AES256);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "encrypted", "AES-256 encrypted");
	put32(buf + 16, 0);

	/* the hash TLV's type changed to a second KEYHASH, SHA-384 with 32 bytes, and an unknown type */
	put16(buf + lay.hash_off - 4, 0x01);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "duplicate_tlv", "two KEYHASH TLVs");
	put16(buf + lay.hash_off - 4, 0x11);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "tlv_length", "SHA-384 TLV of 32 bytes");
	put16(buf + lay.hash_off - 4, 0x7777);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "no_hash", "no hash TLV");
	put16(buf + lay.hash_off - 4, 0x10);
	put16(buf + lay.keyhash_off - 4, 0x7777);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "no_keyhash", "signature without KEYHASH");
	put16(buf + lay.keyhash_off - 4, 0x01);
	put16(buf + lay.sig_hdr_off, 0x7777);
	is_str(reason_name(verify_reason(buf, len, keys, false)), "keyhash_without_signature",
	       "KEYHASH without a signature, even when signatures are optional");
	put16(buf + lay.sig_hdr_off, 0x24);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "tlv_length", "ECDSA signature as Ed25519");
	put16(buf + lay.sig_hdr_off, 0x22);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "ok", "restored");
	free(buf);

	/* TLV area size: smaller than its header, larger than the file */
	buf = build_image(&o, &len, &lay);
	put16(buf + lay.tlv_off + 2, 3);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "tlv_size", "TLV total 3");
	put16(buf + lay.tlv_off + 2, (uint16_t)(len - lay.tlv_off + 1));
	is_str(reason_name(verify_reason(buf, len, keys, true)), "truncated", "TLV total one past the file");
	put16(buf + lay.tlv_off + 2, (uint16_t)(len - lay.tlv_off - 1));
	is_str(reason_name(verify_reason(buf, len, keys, true)), "tlv_overrun", "TLV total one short");
	free(buf);

	/* a hash TLV in the protected area */
	o.protected_tlvs = true;
	buf = build_image(&o, &len, &lay);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "ok", "with protected TLVs");
	put16(buf + lay.prot_off + 4, 0x10);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "tlv_placement", "SHA-256 TLV in the protected area");
	put16(buf + lay.prot_off + 4, 0x50);
	put16(buf + lay.prot_off + 2, 27);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "protected_tlv_size", "protected total != header");
	put16(buf + lay.prot_off + 2, 28);
	put16(buf + 10, 0);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "protected_tlv_size",
	       "protected area the header does not count");
	put16(buf + 10, 2);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "protected_tlv_size", "protect_tlv_size 2");
	free(buf);
	o.protected_tlvs = false;

	/* too many TLVs: 65 empty unknown entries */
	buf = build_image(&o, &len, &lay);
	big = calloc(1, len + 65 * 4);
	memcpy(big, buf, len);
	for (int i = 0; i < 65; i++)
		put16(big + len + 4 * i, 0x7000);
	put16(big + lay.tlv_off + 2, (uint16_t)(len - lay.tlv_off + 65 * 4));
	is_str(reason_name(verify_reason(big, len + 65 * 4, keys, true)), "too_many_tlvs", "65 more TLVs");
	put16(big + lay.tlv_off + 2, (uint16_t)(len - lay.tlv_off + 50 * 4));
	memset(big + len + 50 * 4, 0xFF, 15 * 4);
	is_str(reason_name(verify_reason(big, len + 65 * 4, keys, true)), "ok",
	       "50 unknown TLVs are ignored, the rest is 0xFF padding");
	free(big);
	is_str(reason_name(verify_reason(buf, MCUBOOT_IMAGE_MAX + 1, keys, true)), "too_large",
	       "longer than MCUBOOT_IMAGE_MAX (length checked first)");
	free(buf);

	/* unsigned images */
	o.sign = o.keyhash = false;
	buf = build_image(&o, &len, &lay);
	is_str(reason_name(verify_reason(buf, len, keys, true)), "no_signature", "unsigned, signature required");
	is_str(reason_name(verify_reason(buf, len, keys, false)), "ok", "unsigned, signature optional");
	free(buf);

	/* a P-384 key cannot verify a SHA-256 image even when its KEYHASH is there */
	{
		struct mcuboot_keyring *k384 = keyring_with(p384, "p384");

		o = default_build(key);
		buf = build_image(&o, &len, &lay);
		key_hash(p384, EVP_sha256(), buf + lay.keyhash_off);
		is_str(reason_name(verify_reason(buf, len, k384, true)), "key_type", "P-384 key for a SHA-256 image");
		free(buf);
		mcuboot_keyring_free(k384);
	}
	mcuboot_keyring_free(keys);
	EVP_PKEY_free(key);
	EVP_PKEY_free(p384);
}

static void test_keys(void)
{
	struct mcuboot_keyring *keys = mcuboot_keyring_new();
	struct mcuboot_error err = { "" };
	const char *missing[] = { DATA "root-ec-p256.pub.pem", DATA "no-such-key.pem" };
	const char *notkey[] = { DATA "smpclient_hello_world.signed.bin" };
	const char *twice[] = { DATA "root-ec-p256.pub.pem", DATA "root-ec-p256.pub.pem" };
	EVP_PKEY *key = keygen("EC", "P-256");
	EVP_PKEY *rsa1024 = keygen("RSA", "1024");
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	size_t pem_len;
	char *pem;

	is_int(mcuboot_keyring_load_files(keys, missing, 2, &err), -ENOENT, "a missing file");
	has_str(err.message, "no-such-key.pem", "the error names the file");
	is_int(mcuboot_keyring_count(keys), 0, "all or nothing: the good file before it was not kept");
	is_int(mcuboot_keyring_load_files(keys, notkey, 1, &err), -EINVAL, "an image is not a key");
	has_str(err.message, "smpclient_hello_world.signed.bin", "names the file");
	has_str(err.message, "no PEM public key", "and says what is missing");
	is_int(mcuboot_keyring_load_files(keys, twice, 2, &err), -EINVAL, "the same key twice");
	has_str(err.message, "the same key as", "says so");
	is_int(mcuboot_keyring_count(keys), 0, "nothing kept");

	PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(bio, &data);
	is_int(mcuboot_keyring_add_pem(keys, "secret.pem", data, (size_t)n, &err), -EINVAL, "a private key");
	has_str(err.message, "private key", "is refused as such");
	has_str(err.message, "secret.pem", "naming it");
	BIO_free(bio);

	pem = public_pem(rsa1024, &pem_len);
	is_int(mcuboot_keyring_add_pem(keys, "small.pem", pem, pem_len, &err), -EINVAL, "RSA-1024");
	has_str(err.message, "1024 bits", "says the size");
	free(pem);
	is_int(mcuboot_keyring_count(keys), 0, "still empty");
	is_str(mcuboot_reason_to_string(MCUBOOT_REASON_COUNT), "unknown", "out-of-range reason");
	for (int r = 0; r < MCUBOOT_REASON_COUNT; r++)
		if (!mcuboot_reason_to_string((enum mcuboot_reason)r) ||
		    !mcuboot_reason_describe((enum mcuboot_reason)r))
			ok(0, "reason %d has a string", r);
	mcuboot_keyring_free(keys);
	mcuboot_keyring_free(NULL);
	EVP_PKEY_free(key);
	EVP_PKEY_free(rsa1024);
}

/* --- the rejection matrix of issue 5 --- */

static unsigned totals[MCUBOOT_REASON_COUNT];
static unsigned matrix_cases;

/* Flips each bit of [from, to) in turn (or one random bit of `count` random bytes when count > 0); every result
 * must be a rejection with a reason from `allowed` (a comma-separated list). */
static void flip_region(uint8_t *buf, size_t len, const struct mcuboot_keyring *keys, const char *what, size_t from,
			size_t to, unsigned count, const char *allowed)
{
	unsigned cases = 0, bad = 0, region_totals[MCUBOOT_REASON_COUNT] = { 0 };
	char first_bad[160] = "";
	char line[512];
	size_t used = 0;

	for (unsigned i = 0; count ? i < count : i < (to - from) * 8; i++) {
		size_t pos = count ? from + (size_t)(rng() % (to - from)) : from + i / 8;
		uint8_t bit = (uint8_t)(1u << (count ? rng() % 8 : i % 8));
		enum mcuboot_reason r;
		char needle[48];

		buf[pos] ^= bit;
		r = verify_reason(buf, len, keys, true);
		buf[pos] ^= bit;
		cases++;
		region_totals[r < MCUBOOT_REASON_COUNT ? r : MCUBOOT_INTERNAL]++;
		snprintf(needle, sizeof(needle), ",%s,", reason_name(r));
		{
			char list[256];

			snprintf(list, sizeof(list), ",%s,", allowed);
			if (r == MCUBOOT_OK || !strstr(list, needle)) {
				if (!bad++)
					snprintf(first_bad, sizeof(first_bad), "offset %zu bit 0x%02x: %s", pos, bit,
						 reason_name(r));
			}
		}
	}
	for (int r = 0; r < MCUBOOT_REASON_COUNT; r++) {
		totals[r] += region_totals[r];
		if (region_totals[r])
			used += (size_t)snprintf(line + used, sizeof(line) - used, " %s=%u", reason_name((enum mcuboot_reason)r),
						 region_totals[r]);
	}
	matrix_cases += cases;
	if (!ok(bad == 0, "%s: %u flips rejected, each with an expected reason", what, cases))
		printf("#   %u unexpected, first: %s\n#   expected one of: %s\n", bad, first_bad, allowed);
	printf("#   %s:%s\n", what, line);
}

static void test_matrix(void)
{
	EVP_PKEY *key = keygen("EC", "P-256");
	EVP_PKEY *wrong = keygen("EC", "P-256");
	struct mcuboot_keyring *keys = keyring_with(key, "signer");
	struct mcuboot_keyring *wrong_keys = keyring_with(wrong, "wrong");
	struct build o = default_build(key);
	struct mcuboot_image img;
	struct layout lay;
	enum mcuboot_reason r = MCUBOOT_REASON_COUNT;
	size_t len;
	uint8_t *buf, *more;
	unsigned extra = 0;

	o.body_len = 64 * 1024;
	buf = build_image(&o, &len, &lay);
	printf("# matrix image: %zu bytes (header %zu, body %zu, TLVs %zu, ECDSA signature %zu bytes)\n", len,
	       lay.hdr_size, o.body_len, lay.end - lay.tlv_off, lay.end - lay.sig_off);
	is_int(mcuboot_verify(buf, len, keys, true, &img, NULL, &r), 0, "the matrix image verifies (%s)",
	       reason_name(r));

	flip_region(buf, len, keys, "header magic", 0, 4, 0, "bad_magic");
	flip_region(buf, len, keys, "header load_addr", 4, 8, 0, "hash_mismatch");
	flip_region(buf, len, keys, "header hdr_size", 8, 10, 0, "header_size,truncated,tlv_magic");
	flip_region(buf, len, keys, "header protect_tlv_size", 10, 12, 0, "protected_tlv_magic,truncated");
	flip_region(buf, len, keys, "header img_size", 12, 16, 0,
		    "truncated,tlv_magic,protected_tlv_size,tlv_size,tlv_overrun");
	flip_region(buf, len, keys, "header flags", 16, 20, 0, "unsupported_flags,encrypted,hash_mismatch");
	flip_region(buf, len, keys, "header version and pad", 20, 32, 0, "hash_mismatch");
	flip_region(buf, len, keys, "header padding", 32, lay.hdr_size, 0, "hash_mismatch");
	flip_region(buf, len, keys, "body (1000 random positions)", lay.hdr_size, lay.body_end, 1000,
		    "hash_mismatch");
	flip_region(buf, len, keys, "TLV info magic", lay.tlv_off, lay.tlv_off + 2, 0, "tlv_magic,protected_tlv_size");
	flip_region(buf, len, keys, "TLV info total", lay.tlv_off + 2, lay.tlv_off + 4, 0,
		    "tlv_size,tlv_overrun,truncated,trailing_data");
	flip_region(buf, len, keys, "hash TLV type and length", lay.hash_off - 4, lay.hash_off, 0,
		    "no_hash,tlv_length,duplicate_tlv,tlv_overrun");
	flip_region(buf, len, keys, "hash value", lay.hash_off, lay.keyhash_off - 4, 0, "hash_mismatch");
	flip_region(buf, len, keys, "KEYHASH type and length", lay.keyhash_off - 4, lay.keyhash_off, 0,
		    "no_keyhash,tlv_length,duplicate_tlv,tlv_overrun");
	flip_region(buf, len, keys, "KEYHASH value", lay.keyhash_off, lay.sig_hdr_off, 0, "key_not_trusted");
	flip_region(buf, len, keys, "signature type and length", lay.sig_hdr_off, lay.sig_off, 0,
		    "keyhash_without_signature,tlv_length,duplicate_tlv,tlv_overrun");
	flip_region(buf, len, keys, "signature value", lay.sig_off, lay.end, 0, "bad_signature");

	/* length: one byte short, every shorter length near the end, and appended bytes */
	r = verify_reason(buf, len - 1, keys, true);
	is_str(reason_name(r), "truncated", "truncated by one byte");
	totals[r]++;
	extra++;
	{
		unsigned bad = 0;

		for (size_t cut = 0; cut < len - 1; cut += cut < 1024 || cut > lay.body_end - 8 ? 1 : 997) {
			r = verify_reason(buf, cut, keys, true);
			totals[r]++;
			extra++;
			if (r != MCUBOOT_TRUNCATED && !bad++)
				printf("#   cut at %zu: %s\n", cut, reason_name(r));
		}
		ok(bad == 0, "every truncation of the header and TLVs (and every 997th of the body) is \"truncated\"");
	}
	more = malloc(len + 64);
	memcpy(more, buf, len);
	more[len] = 0xFF;
	is_str(reason_name(verify_reason(more, len + 1, keys, true)), "ok",
	       "one 0xFF byte appended: erased-flash padding, accepted");
	for (int byte = 0; byte < 255; byte++) {
		more[len] = (uint8_t)byte;
		r = verify_reason(more, len + 1, keys, true);
		totals[r]++;
		extra++;
		if (r != MCUBOOT_TRAILING_DATA) {
			ok(0, "appended 0x%02x: %s", byte, reason_name(r));
			break;
		}
	}
	more[len] = 0x00;
	is_str(reason_name(verify_reason(more, len + 1, keys, true)), "trailing_data",
	       "one 0x00 byte appended (and every other non-0xFF byte)");
	memset(more + len, 0xFF, 48);
	memcpy(more + len + 32, "\x77\xc2\x95\xf3\x60\xd2\xef\x7f\x35\x52\x50\x0f\x2c\xb6\x79\x80", 16);
	is_int(mcuboot_parse(more, len + 48, &img, &r), 0, "0xFF padding and the trailer magic: accepted");
	ok(img.trailer_magic && img.padding == 48, "trailer seen (magic %d, padding %zu)", img.trailer_magic,
	   img.padding);
	more[len + 47] ^= 1;
	is_str(reason_name(verify_reason(more, len + 48, keys, true)), "trailing_data", "a damaged trailer magic");
	free(more);

	/* wrong key, no key, no signature */
	r = verify_reason(buf, len, wrong_keys, true);
	is_str(reason_name(r), "key_not_trusted", "another P-256 key");
	totals[r]++;
	r = verify_reason(buf, len, NULL, true);
	is_str(reason_name(r), "key_not_trusted", "no trusted keys at all");
	totals[r]++;
	put16(buf + lay.tlv_off + 2, (uint16_t)(lay.sig_hdr_off - lay.tlv_off));
	r = verify_reason(buf, lay.sig_hdr_off, keys, true);
	is_str(reason_name(r), "keyhash_without_signature", "signature stripped, KEYHASH kept");
	totals[r]++;
	put16(buf + lay.tlv_off + 2, (uint16_t)(lay.keyhash_off - 4 - lay.tlv_off));
	r = verify_reason(buf, lay.keyhash_off - 4, keys, true);
	is_str(reason_name(r), "no_signature", "signature and KEYHASH stripped");
	totals[r]++;
	extra += 4;
	matrix_cases += extra;

	printf("# matrix totals: %u cases, all rejected; by reason:\n", matrix_cases);
	for (int i = 0; i < MCUBOOT_REASON_COUNT; i++)
		if (totals[i])
			printf("#   %-26s %u\n", reason_name((enum mcuboot_reason)i), totals[i]);
	is_int(totals[MCUBOOT_OK], 0, "no mutation accepted");

	free(buf);
	mcuboot_keyring_free(keys);
	mcuboot_keyring_free(wrong_keys);
	EVP_PKEY_free(key);
	EVP_PKEY_free(wrong);
}

int main(void)
{
	test_real_images();
	test_keys();
	test_structure();
	test_generated_schemes();
	test_matrix();
	return done_testing();
}
