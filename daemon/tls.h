/* tls: the certificate chain and private key of meshfleetd's HTTPS listener ([http] tls_cert and tls_key), read
 * from PEM files at start and checked with OpenSSL before libmicrohttpd (GnuTLS) gets them, so that a bad file is a
 * start-up error naming the file and the next step rather than a bare GnuTLS code. docs/configuration.md, "HTTPS".
 *
 * Glossary: chain = the server's certificate first, then any intermediate CA certificates, in one PEM file;
 * leaf = that first certificate, the one the private key must belong to.
 */
#ifndef MESHFLEET_TLS_H
#define MESHFLEET_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* A PEM file larger than this is not a certificate chain or a key: refused before it is read. */
#define TLS_FILE_MAX (256u * 1024)

/* GnuTLS priorities of the listener: TLS 1.2 and 1.3 only; with TLS 1.2, forward-secret ECDHE key exchange and AEAD
 * ciphers only (Mozilla's "intermediate" profile without DHE); the server's order wins. docs/configuration.md. */
#define TLS_PRIORITIES \
	"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:" \
	"-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:-MAC-ALL:+AEAD:" \
	"-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:%SERVER_PRECEDENCE"

struct tls_credentials {
	char *cert_pem;                 /* owned; NUL-terminated, as libmicrohttpd wants it */
	char *key_pem;                  /* owned; NUL-terminated; wiped by tls_credentials_done() */
	size_t key_len;
	struct stat cert_stat;          /* of the files as read, to tell a renewal on disk (tls_credentials_changed) */
	struct stat key_stat;
};

/* Reads and checks @cert_path (a PEM chain) and @key_path (its unencrypted PEM private key) into @creds: readable
 * regular files, PEM, every certificate of the chain well-formed, the key belonging to the leaf. Logs a warning,
 * without refusing, for a leaf that has expired or is not valid yet (nginx serves those too) and for a key file
 * that other users can read. Returns 0, or a negative errno with @errbuf saying which file, what is wrong and what
 * to do; @creds is untouched on failure. */
int tls_credentials_load(struct tls_credentials *creds, const char *cert_path, const char *key_path,
			 char *errbuf, size_t errlen);

/* Frees what tls_credentials_load() read and wipes the key; a zeroed @creds is a no-op. */
void tls_credentials_done(struct tls_credentials *creds);

/* Whether either file at these paths is no longer the file that was loaded (replaced, rewritten or gone). */
bool tls_credentials_changed(const struct tls_credentials *creds, const char *cert_path, const char *key_path);

#endif
