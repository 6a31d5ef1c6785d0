/* ctl_keys: meshfleetctl keys generate|show, the signing keys of firmware images, offline (docs/meshfleetctl.md,
 * "keys generate", "keys show"). Also turns a PEM key file, private or public, into its public PEM for
 * `package inspect --key`.
 *
 * Glossary:
 *   SPKI     - SubjectPublicKeyInfo, the DER inside "-----BEGIN PUBLIC KEY-----"
 *   Qx, Qy   - the coordinates of an EC public key, big-endian, as nrfutil's `keys --show-vk hex` prints them
 *   KEYHASH  - MCUboot's name for a key in an image: a hash of its SPKI DER (EC, Ed25519) or PKCS#1 DER (RSA)
 */
#ifndef MESHFLEET_CTL_KEYS_H
#define MESHFLEET_CTL_KEYS_H

#include <stdbool.h>
#include <stddef.h>

struct ctl_keys_options {
	bool json;
	bool force;                     /* keys generate: replace an existing FILE */
	const char *type;               /* keys generate --type: "ecdsa-p256" or "ed25519"; NULL when not given */
};

/* @argv: the words after "keys". Returns the exit status: 0, 1 (failed, reason on stderr), 2 (usage). */
int ctl_keys_main(const struct ctl_keys_options *options, int argc, char **argv);

/* Reads the PEM key in @path (a private key in PKCS#8 or the traditional form, or a public key) and returns its
 * public part as PEM in *ret_pem (new, NUL-terminated; free()). Returns 0, or a negative errno with @err
 * (@err_size bytes) naming the file and the cause. */
int ctl_keys_public_pem(const char *path, char **ret_pem, size_t *ret_len, char *err, size_t err_size);

#endif
