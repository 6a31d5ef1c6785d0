/* tls: see tls.h. */
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "log.h"

#define TLS_NAME_MAX 256                /* a certificate's subject or issuer as logged */
#define TLS_TIME_MAX 32                 /* "2026-11-23T20:00:00Z" */

/* Reads the regular file @path (the value of [http] @key) whole, NUL-terminated. */
static int file_read(const char *key, const char *path, char **ret_text, size_t *ret_len, struct stat *ret_stat,
		     char *errbuf, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	int fd, r;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "[http] %s: cannot open '%s': %s%s", key, path, strerror(-r),
			 r == -EACCES ? " (the file must be readable by the user meshfleetd runs as)" :
			 r == -ENOENT ? " (check the path in the configuration file)" : "");
		return r;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(errbuf, errlen, "[http] %s: cannot read '%s': %s", key, path, strerror(-r));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(errbuf, errlen, "[http] %s: '%s' is not a regular file: name the PEM file itself", key, path);
		r = -EINVAL;
		goto fail;
	}
	if (st.st_size > (off_t)TLS_FILE_MAX) {
		snprintf(errbuf, errlen, "[http] %s: '%s' is larger than %u bytes: that is not a PEM certificate or "
			 "key", key, path, TLS_FILE_MAX);
		r = -EFBIG;
		goto fail;
	}
	text = malloc((size_t)st.st_size + 1);
	if (!text) {
		snprintf(errbuf, errlen, "out of memory");
		r = -ENOMEM;
		goto fail;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, text + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			snprintf(errbuf, errlen, "[http] %s: cannot read '%s': %s", key, path, strerror(-r));
			goto fail;
		}
		if (n == 0)
			break;          /* shrank while we read: what we have is checked like any other text */
		len += (size_t)n;
	}
	text[len] = '\0';
	close(fd);
	*ret_text = text;
	*ret_len = len;
	*ret_stat = st;
	return 0;
fail:
	if (text) {
		OPENSSL_cleanse(text, len);
		free(text);
	}
	close(fd);
	return r;
}

static void name_format(const X509_NAME *name, char *out, size_t size)
{
	if (!X509_NAME_oneline(name, out, (int)size))
		snprintf(out, size, "?");
}

static void time_format(const ASN1_TIME *t, char *out, size_t size)
{
	struct tm tm;

	if (!ASN1_TIME_to_tm(t, &tm) || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, size, "?");
}

/* Reads every certificate of the chain in @pem; returns the leaf (new reference) or NULL with @errbuf set. */
static X509 *chain_read(const char *path, const char *pem, size_t len, char *errbuf, size_t errlen)
{
	X509 *leaf = NULL, *next;
	unsigned count = 0;
	unsigned long e;
	BIO *bio;

	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	while ((next = PEM_read_bio_X509(bio, NULL, NULL, NULL))) {
		if (!leaf)
			leaf = next;
		else
			X509_free(next);
		count++;
	}
	/* The loop ends at the end of the text (no further BEGIN line) or at a block that is not a certificate. */
	e = ERR_peek_last_error();
	ERR_clear_error();
	BIO_free(bio);
	if (count > 0 && ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE)
		return leaf;
	X509_free(leaf);
	if (count > 0)
		snprintf(errbuf, errlen, "[http] tls_cert: certificate %u of the chain in '%s' is damaged: the file "
			 "must hold PEM certificates only, the server's first", count + 1, path);
	else if (strstr(pem, "PRIVATE KEY-----"))
		snprintf(errbuf, errlen, "[http] tls_cert: '%s' holds a private key, not a certificate: are tls_cert "
			 "and tls_key swapped?", path);
	else
		snprintf(errbuf, errlen, "[http] tls_cert: '%s' holds no PEM certificate (expected a "
			 "'-----BEGIN CERTIFICATE-----' block; a DER file converts with `openssl x509 -inform der "
			 "-in FILE -out FILE.pem`)", path);
	return NULL;
}

/* OpenSSL would ask for an encrypted key's passphrase on the terminal: answer "no passphrase" instead. */
static int no_passphrase(char *buf, int size, int rwflag, void *userdata)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)userdata;
	return -1;
}

/* Reads the private key in @pem; returns it (new reference) or NULL with @errbuf set. */
static EVP_PKEY *key_read(const char *path, const char *pem, size_t len, char *errbuf, size_t errlen)
{
	EVP_PKEY *pkey;
	BIO *bio;

	bio = BIO_new_mem_buf(pem, (int)len);
	if (!bio) {
		snprintf(errbuf, errlen, "out of memory");
		return NULL;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	ERR_clear_error();
	BIO_free(bio);
	if (pkey)
		return pkey;
	if (strstr(pem, "ENCRYPTED"))
		snprintf(errbuf, errlen, "[http] tls_key: the private key in '%s' is encrypted with a passphrase, and "
			 "meshfleetd reads unencrypted keys only: write it without the passphrase (`openssl pkey -in "
			 "KEY -out KEY.new`) and keep that file mode 0600", path);
	else if (strstr(pem, "-----BEGIN CERTIFICATE-----"))
		snprintf(errbuf, errlen, "[http] tls_key: '%s' holds a certificate, not a private key: are tls_cert "
			 "and tls_key swapped?", path);
	else
		snprintf(errbuf, errlen, "[http] tls_key: '%s' holds no PEM private key (expected a '-----BEGIN "
			 "PRIVATE KEY-----' block, or an 'EC PRIVATE KEY' or 'RSA PRIVATE KEY' one)", path);
	return NULL;
}

/* The checks that do not refuse: the leaf's validity dates and the key file's mode. */
static void warn_if_doubtful(X509 *leaf, const char *cert_path, const char *key_path, const struct stat *key_st)
{
	char subject[TLS_NAME_MAX], when[TLS_TIME_MAX];

	name_format(X509_get_subject_name(leaf), subject, sizeof(subject));
	if (X509_cmp_current_time(X509_get0_notAfter(leaf)) <= 0) {
		time_format(X509_get0_notAfter(leaf), when, sizeof(when));
		log_warning("https: the certificate in '%s' (%s) expired at %s: clients will refuse it; serving it "
			    "anyway: renew it and restart meshfleetd", cert_path, subject, when);
	} else if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
		time_format(X509_get0_notBefore(leaf), when, sizeof(when));
		log_warning("https: the certificate in '%s' (%s) is not valid before %s: clients will refuse it "
			    "until then; check the clock of this machine", cert_path, subject, when);
	}
	if (key_st->st_mode & (S_IROTH | S_IWOTH))
		log_warning("https: the private key '%s' can be read by every user of this machine (mode %04o): "
			    "`chmod 600` it (or 640 with the group of meshfleetd's user)", key_path,
			    (unsigned)(key_st->st_mode & 07777));
}

int tls_credentials_load(struct tls_credentials *creds, const char *cert_path, const char *key_path,
			 char *errbuf, size_t errlen)
{
	struct tls_credentials next = { 0 };
	char subject[TLS_NAME_MAX], issuer[TLS_NAME_MAX], until[TLS_TIME_MAX];
	EVP_PKEY *pkey = NULL;
	X509 *leaf = NULL;
	size_t cert_len;
	int r;

	r = file_read("tls_cert", cert_path, &next.cert_pem, &cert_len, &next.cert_stat, errbuf, errlen);
	if (r < 0)
		return r;
	r = file_read("tls_key", key_path, &next.key_pem, &next.key_len, &next.key_stat, errbuf, errlen);
	if (r < 0)
		goto fail;
	r = -EINVAL;
	leaf = chain_read(cert_path, next.cert_pem, cert_len, errbuf, errlen);
	if (!leaf)
		goto fail;
	pkey = key_read(key_path, next.key_pem, next.key_len, errbuf, errlen);
	if (!pkey)
		goto fail;
	if (X509_check_private_key(leaf, pkey) != 1) {
		ERR_clear_error();
		snprintf(errbuf, errlen, "[http] tls_key: the private key in '%s' does not belong to the certificate "
			 "in '%s' (the first one of the file): tls_key must be the key the certificate was issued for; "
			 "compare `openssl x509 -noout -pubkey -in CERT` with `openssl pkey -pubout -in KEY`", key_path,
			 cert_path);
		goto fail;
	}
	warn_if_doubtful(leaf, cert_path, key_path, &next.key_stat);
	name_format(X509_get_subject_name(leaf), subject, sizeof(subject));
	name_format(X509_get_issuer_name(leaf), issuer, sizeof(issuer));
	time_format(X509_get0_notAfter(leaf), until, sizeof(until));
	log_info("https: certificate '%s' (%s, issued by %s, valid until %s), key '%s'", cert_path, subject, issuer,
		 until, key_path);
	EVP_PKEY_free(pkey);
	X509_free(leaf);
	*creds = next;
	return 0;
fail:
	EVP_PKEY_free(pkey);
	X509_free(leaf);
	tls_credentials_done(&next);
	return r;
}

void tls_credentials_done(struct tls_credentials *creds)
{
	if (creds->key_pem)
		OPENSSL_cleanse(creds->key_pem, creds->key_len);
	free(creds->key_pem);
	free(creds->cert_pem);
	memset(creds, 0, sizeof(*creds));
}

static bool file_changed(const struct stat *was, const char *path)
{
	struct stat now;

	if (stat(path, &now) < 0)
		return true;
	return now.st_dev != was->st_dev || now.st_ino != was->st_ino || now.st_size != was->st_size ||
	       now.st_mtim.tv_sec != was->st_mtim.tv_sec || now.st_mtim.tv_nsec != was->st_mtim.tv_nsec;
}

bool tls_credentials_changed(const struct tls_credentials *creds, const char *cert_path, const char *key_path)
{
	return file_changed(&creds->cert_stat, cert_path) || file_changed(&creds->key_stat, key_path);
}
