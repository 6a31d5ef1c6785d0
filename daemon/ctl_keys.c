/* ctl_keys: meshfleetctl keys generate|show, offline (docs/meshfleetctl.md). A private key file is created with
 * mode 0600 from the start (O_EXCL, or a 0600 temporary file renamed over it with --force): there is never a
 * moment when another user could open it.
 */
#define _GNU_SOURCE     /* memmem(), mkostemp() */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ctl_keys.h"
#include "ctl_network.h"
#include "mcuboot.h"

#define KEY_FILE_MAX MCUBOOT_KEY_FILE_MAX       /* bytes of a PEM key file */
#define KEY_COORD_MAX 48                        /* bytes of one coordinate of the largest curve (P-384) */
#define KEY_KEYHASHES_MAX 2

struct keyhash {
	const char *algorithm;          /* "sha256", "sha384", "sha512" */
	const char *note;               /* which images carry it */
	uint8_t value[EVP_MAX_MD_SIZE];
	unsigned len;
};

/* What `keys show` prints about one key. */
struct key_info {
	char type[16];                  /* "ecdsa-p256", "ecdsa-p384", "ed25519", "rsa-2048", "rsa-3072" */
	bool has_private;
	char *pem;                      /* owned: the public key as PEM, NUL-terminated */
	uint8_t qx[KEY_COORD_MAX], qy[KEY_COORD_MAX];
	size_t coord_len;               /* EC only; 0 otherwise */
	uint8_t raw[32];                /* Ed25519 only */
	size_t raw_len;
	struct keyhash keyhash[KEY_KEYHASHES_MAX];
	size_t n_keyhash;
};

static int set_err(char *err, size_t err_size, int code, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int set_err(char *err, size_t err_size, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
	return code;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* Reads at most KEY_FILE_MAX bytes, NUL-terminated. The caller wipes and frees *ret_text: it may hold a secret. */
static int read_key_file(const char *path, char **ret_text, size_t *ret_len, char *err, size_t err_size)
{
	char *buf;
	size_t len = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return set_err(err, err_size, -errno, "cannot open '%s': %s", path, strerror(errno));
	buf = malloc(KEY_FILE_MAX + 2);
	if (!buf) {
		close(fd);
		return set_err(err, err_size, -ENOMEM, "'%s': out of memory", path);
	}
	while (len <= KEY_FILE_MAX) {
		ssize_t n = read(fd, buf + len, KEY_FILE_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = set_err(err, err_size, -errno, "cannot read '%s': %s", path, strerror(errno));
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (r == 0 && len > KEY_FILE_MAX)
		r = set_err(err, err_size, -EFBIG, "'%s' is larger than %u bytes: not a PEM key", path, KEY_FILE_MAX);
	if (r < 0) {
		explicit_bzero(buf, len);
		free(buf);
		return r;
	}
	buf[len] = '\0';
	*ret_text = buf;
	*ret_len = len;
	return 0;
}

/* An encrypted key must not make OpenSSL ask for a passphrase on the terminal: it is refused instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)userdata;
	return -1;
}

static int load_key(const char *path, EVP_PKEY **ret_pkey, bool *ret_private, char *err, size_t err_size)
{
	EVP_PKEY *pkey = NULL;
	char *text = NULL;
	size_t len = 0;
	bool private_pem;
	BIO *bio;
	int r;

	r = read_key_file(path, &text, &len, err, err_size);
	if (r < 0)
		return r;
	private_pem = memmem(text, len, "PRIVATE KEY-----", 16) != NULL;
	bio = BIO_new_mem_buf(text, (int)len);
	if (!bio) {
		r = set_err(err, err_size, -ENOMEM, "'%s': out of memory", path);
		goto out;
	}
	if (private_pem)
		pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	else
		pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (!pkey) {
		if (memmem(text, len, "ENCRYPTED", 9))
			r = set_err(err, err_size, -EINVAL, "'%s' is an encrypted private key; decrypt a copy first "
				    "(openssl pkey -in FILE -out PLAIN)", path);
		else if (private_pem)
			r = set_err(err, err_size, -EINVAL, "'%s': the private key in it cannot be read", path);
		else
			r = set_err(err, err_size, -EINVAL, "'%s': no PEM key in it (expected -----BEGIN PUBLIC KEY----- "
				    "or -----BEGIN PRIVATE KEY-----)", path);
		goto out;
	}
	*ret_pkey = pkey;
	*ret_private = private_pem;
out:
	explicit_bzero(text, len);
	free(text);
	return r;
}

/* The KEYHASH of @pkey under @md, over the bytes MCUboot hashes (PKCS#1 for RSA, SPKI for the others). */
static int add_keyhash(EVP_PKEY *pkey, struct key_info *info, const EVP_MD *md, const char *algorithm,
		       const char *note)
{
	struct keyhash *k = &info->keyhash[info->n_keyhash];
	uint8_t *der = NULL;
	int der_len;

	if (EVP_PKEY_is_a(pkey, "RSA"))
		der_len = i2d_PublicKey(pkey, &der);
	else
		der_len = i2d_PUBKEY(pkey, &der);
	if (der_len <= 0 || !EVP_Digest(der, (size_t)der_len, k->value, &k->len, md, NULL)) {
		OPENSSL_free(der);
		ERR_clear_error();
		return -ENOMEM;
	}
	OPENSSL_free(der);
	k->algorithm = algorithm;
	k->note = note;
	info->n_keyhash++;
	return 0;
}

static int ec_coordinates(EVP_PKEY *pkey, struct key_info *info)
{
	BIGNUM *x = NULL, *y = NULL;
	int r = -ENOMEM;

	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x) == 1 &&
	    EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y) == 1 &&
	    BN_bn2binpad(x, info->qx, (int)info->coord_len) == (int)info->coord_len &&
	    BN_bn2binpad(y, info->qy, (int)info->coord_len) == (int)info->coord_len)
		r = 0;
	BN_free(x);
	BN_free(y);
	ERR_clear_error();
	return r;
}

static int public_pem(EVP_PKEY *pkey, char **ret_pem, size_t *ret_len)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *copy;
	long len;

	if (!bio || PEM_write_bio_PUBKEY(bio, pkey) != 1) {
		BIO_free(bio);
		ERR_clear_error();
		return -ENOMEM;
	}
	len = BIO_get_mem_data(bio, &data);
	copy = len > 0 ? strndup(data, (size_t)len) : NULL;
	BIO_free(bio);
	if (!copy)
		return -ENOMEM;
	*ret_pem = copy;
	*ret_len = (size_t)len;
	return 0;
}

static void key_info_done(struct key_info *info)
{
	free(info->pem);
	info->pem = NULL;
}

static int describe_key(EVP_PKEY *pkey, bool has_private, struct key_info *info, char *err, size_t err_size)
{
	char group[64] = "";
	size_t pem_len;
	int r = 0;

	memset(info, 0, sizeof(*info));
	info->has_private = has_private;
	if (EVP_PKEY_is_a(pkey, "ED25519")) {
		snprintf(info->type, sizeof(info->type), "ed25519");
		info->raw_len = sizeof(info->raw);
		if (EVP_PKEY_get_raw_public_key(pkey, info->raw, &info->raw_len) != 1 || info->raw_len != 32)
			r = -ENOMEM;
		/* nRF Connect SDK signs Ed25519 images with a SHA-512 hash (nRF54L); SHA-256 ones exist too. */
		if (r == 0)
			r = add_keyhash(pkey, info, EVP_sha512(), "sha512", "SHA-512 images");
		if (r == 0)
			r = add_keyhash(pkey, info, EVP_sha256(), "sha256", "SHA-256 images");
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL) != 1)
			group[0] = '\0';
		if (strcmp(group, "prime256v1") == 0) {
			snprintf(info->type, sizeof(info->type), "ecdsa-p256");
			info->coord_len = 32;
			r = add_keyhash(pkey, info, EVP_sha256(), "sha256", "SHA-256 images");
		} else if (strcmp(group, "secp384r1") == 0) {
			snprintf(info->type, sizeof(info->type), "ecdsa-p384");
			info->coord_len = 48;
			r = add_keyhash(pkey, info, EVP_sha384(), "sha384", "SHA-384 images");
		} else {
			return set_err(err, err_size, -EINVAL, "an EC key on curve '%s': MCUboot signs with P-256 or P-384",
				       group[0] ? group : "(unknown)");
		}
		if (r == 0)
			r = ec_coordinates(pkey, info);
	} else if (EVP_PKEY_is_a(pkey, "RSA")) {
		snprintf(info->type, sizeof(info->type), "rsa-%d", EVP_PKEY_get_bits(pkey));
		r = add_keyhash(pkey, info, EVP_sha256(), "sha256", "SHA-256 images; PKCS#1 RSAPublicKey DER");
	} else {
		return set_err(err, err_size, -EINVAL, "a %s key: MCUboot signs with ECDSA P-256/P-384, Ed25519 or RSA",
			       EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey) : "unknown");
	}
	if (r == 0)
		r = public_pem(pkey, &info->pem, &pem_len);
	if (r < 0)
		return set_err(err, err_size, r, "OpenSSL could not read the key's public part (out of memory?)");
	return 0;
}

static void print_key(const char *path, const struct key_info *info)
{
	char buf[2 * EVP_MAX_MD_SIZE + 1];

	printf("file        %s\n", path);
	printf("type        %s (%s key)\n", info->type, info->has_private ? "private" : "public");
	if (info->coord_len) {
		hex(info->qx, info->coord_len, buf);
		printf("Qx          %s\n", buf);
		hex(info->qy, info->coord_len, buf);
		printf("Qy          %s\n", buf);
	}
	if (info->raw_len) {
		hex(info->raw, info->raw_len, buf);
		printf("public key  %s\n", buf);
	}
	for (size_t i = 0; i < info->n_keyhash; i++) {
		hex(info->keyhash[i].value, info->keyhash[i].len, buf);
		printf("KEYHASH     %s %s (%s)\n", info->keyhash[i].algorithm, buf, info->keyhash[i].note);
	}
	fputs(info->pem, stdout);
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
	char buf[2 * EVP_MAX_MD_SIZE + 1];

	if (n == 0)
		return json_null();
	hex(p, n, buf);
	return json_string(buf);
}

static int print_key_json(const char *path, const struct key_info *info)
{
	json_t *o, *keyhash = json_object();
	int r = 0;

	if (!keyhash)
		return -ENOMEM;
	for (size_t i = 0; i < info->n_keyhash; i++) {
		if (json_object_set_new(keyhash, info->keyhash[i].algorithm,
					hex_json(info->keyhash[i].value, info->keyhash[i].len)) < 0) {
			json_decref(keyhash);
			return -ENOMEM;
		}
	}
	o = json_pack("{s:s, s:s, s:b, s:s, s:o, s:o, s:o, s:o}",
		      "file", path,
		      "type", info->type,
		      "private", info->has_private,
		      "public_key_pem", info->pem,
		      "qx", hex_json(info->qx, info->coord_len),
		      "qy", hex_json(info->qy, info->coord_len),
		      "raw_public_key", hex_json(info->raw, info->raw_len),
		      "keyhash", keyhash);
	if (!o)
		return -ENOMEM;
	if (json_dumpf(o, stdout, JSON_INDENT(2)) < 0)
		r = -EIO;
	else
		putchar('\n');
	json_decref(o);
	return r;
}

static int show_pkey(const struct ctl_keys_options *options, const char *path, EVP_PKEY *pkey, bool has_private)
{
	struct key_info info;
	char err[512];
	int r;

	r = describe_key(pkey, has_private, &info, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "meshfleetctl: '%s': %s\n", path, err);
		return CTL_EXIT_FAILED;
	}
	if (options->json) {
		r = print_key_json(path, &info);
		if (r < 0)
			fprintf(stderr, "meshfleetctl: cannot print the JSON: %s\n", strerror(-r));
	} else {
		print_key(path, &info);
	}
	key_info_done(&info);
	return r < 0 ? CTL_EXIT_FAILED : 0;
}

static int keys_show(const struct ctl_keys_options *options, const char *path)
{
	EVP_PKEY *pkey = NULL;
	bool has_private = false;
	char err[512];
	int status;

	if (load_key(path, &pkey, &has_private, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshfleetctl: %s\n", err);
		return CTL_EXIT_FAILED;
	}
	status = show_pkey(options, path, pkey, has_private);
	EVP_PKEY_free(pkey);
	return status;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];
	int fd, r = 0;

	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if ((size_t)snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path) >= sizeof(dir))
		return -ENAMETOOLONG;
	if (!dir[0])
		snprintf(dir, sizeof(dir), "/");
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Writes the secret @data to @path with mode 0600: a new file (O_EXCL), or with @force a 0600 temporary file in the
 * same directory renamed over @path. fsync'd, then the directory. */
static int write_private_file(const char *path, const char *data, size_t len, bool force, char *err, size_t err_size)
{
	char tmp[4096];
	const char *target = path;
	int fd, r;

	if (force) {
		if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path) >= sizeof(tmp))
			return set_err(err, err_size, -ENAMETOOLONG, "'%s': name too long", path);
		fd = mkostemp(tmp, O_CLOEXEC);     /* created 0600 */
		target = tmp;
	} else {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
	}
	if (fd < 0) {
		if (errno == EEXIST)
			return set_err(err, err_size, -EEXIST, "'%s' exists: not overwriting a key file (give --force to "
				       "replace it)", path);
		return set_err(err, err_size, -errno, "cannot create '%s': %s", target, strerror(errno));
	}
	/* The umask may only have narrowed 0600; make it exactly 0600 before a byte of the key is in the file. */
	r = fchmod(fd, 0600) < 0 ? -errno : 0;
	if (r == 0)
		r = write_all(fd, data, len);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && force && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(target);
		return set_err(err, err_size, r, "cannot write '%s': %s", path, strerror(-r));
	}
	r = fsync_parent(path);
	if (r < 0)
		return set_err(err, err_size, r, "wrote '%s', but cannot sync its directory: %s", path, strerror(-r));
	return 0;
}

static int keys_generate(const struct ctl_keys_options *options, const char *path)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char err[512], *pem;
	long pem_len;
	int status = CTL_EXIT_FAILED;

	if (!options->type) {
		fprintf(stderr, "meshfleetctl: keys generate: give the key type: --type ecdsa-p256 or --type ed25519\n");
		return CTL_EXIT_USAGE_ERROR;
	}
	if (strcmp(options->type, "ecdsa-p256") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	else if (strcmp(options->type, "ed25519") == 0)
		pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	else {
		fprintf(stderr, "meshfleetctl: --type '%s': expected ecdsa-p256 or ed25519\n", options->type);
		return CTL_EXIT_USAGE_ERROR;
	}
	if (!pkey) {
		fprintf(stderr, "meshfleetctl: OpenSSL could not generate the %s key\n", options->type);
		goto out;
	}
	bio = BIO_new(BIO_s_mem());
	if (!bio || PEM_write_bio_PKCS8PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
		fprintf(stderr, "meshfleetctl: OpenSSL could not encode the key as PKCS#8\n");
		goto out;
	}
	pem_len = BIO_get_mem_data(bio, &pem);
	if (pem_len <= 0 || write_private_file(path, pem, (size_t)pem_len, options->force, err, sizeof(err)) < 0) {
		fprintf(stderr, "meshfleetctl: %s\n", pem_len <= 0 ? "OpenSSL wrote an empty key" : err);
		goto out;
	}
	fprintf(stderr, "meshfleetctl: wrote '%s' (%s private key, mode 0600): keep it secret, keep a backup\n",
		path, options->type);
	status = show_pkey(options, path, pkey, true);
out:
	/* A memory BIO frees its buffer without wiping it; the key must not linger in freed memory. */
	if (bio) {
		pem_len = BIO_get_mem_data(bio, &pem);
		if (pem_len > 0)
			OPENSSL_cleanse(pem, (size_t)pem_len);
	}
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return status;
}

int ctl_keys_public_pem(const char *path, char **ret_pem, size_t *ret_len, char *err, size_t err_size)
{
	EVP_PKEY *pkey = NULL;
	bool has_private;
	int r;

	r = load_key(path, &pkey, &has_private, err, err_size);
	if (r < 0)
		return r;
	r = public_pem(pkey, ret_pem, ret_len);
	EVP_PKEY_free(pkey);
	if (r < 0)
		return set_err(err, err_size, r, "'%s': OpenSSL could not write the public key", path);
	return 0;
}

int ctl_keys_main(const struct ctl_keys_options *options, int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : "";

	if (strcmp(cmd, "generate") == 0 && argc == 2)
		return keys_generate(options, argv[1]);
	if (strcmp(cmd, "show") == 0 && argc == 2)
		return keys_show(options, argv[1]);
	fprintf(stderr, "meshfleetctl: usage: keys generate --type ecdsa-p256|ed25519 [--force] FILE | keys show FILE\n");
	return CTL_EXIT_USAGE_ERROR;
}
