/* config_file: meshfleetd's settings, from defaults, the INI file and the command line, in that order.
 *
 * Every key is in one table (config_file.c) with its section, type, range and whether SIGHUP can apply it; the file
 * parser, the command-line options and the reload diff all go through that table. The keys are documented in
 * docs/configuration.md and daemon/meshfleetd.conf.sample.
 */
#ifndef MESHFLEET_CONFIG_H
#define MESHFLEET_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_DEFAULT_PATH SYSCONFDIR "/meshfleet/meshfleetd.conf"
#define CONFIG_MAX_LINE 1024
#define CONFIG_MAX_BYTES (256 * 1024)

struct config {
	char state_dir[PATH_MAX];
	int log_level;                  /* syslog priority */
	char dongle[PATH_MAX];          /* none | auto | sim | sim:FILE | /dev/PATH */
	char listen[128];               /* ADDR:PORT or [ADDR]:PORT */
	char web_root[PATH_MAX];
	uint32_t max_body_bytes;
	uint32_t max_connections;
	uint32_t max_connections_per_ip;
	uint32_t connection_timeout_s;
	char tls_cert[PATH_MAX];        /* [http] PEM certificate chain; "" = plain HTTP (both or neither with tls_key) */
	char tls_key[PATH_MAX];         /* [http] its PEM private key */
	uint32_t mesh_in_flight;        /* [mesh] exchanges with nodes at once */
	uint32_t mesh_timeout_ms;       /* [mesh] wait for a node's answer, per attempt */
	uint32_t mesh_attempts;         /* [mesh] attempts per exchange */
	char firmware_trusted_keys[CONFIG_MAX_LINE + 1];  /* [firmware] PEM paths, comma-separated; "" = none */
	bool firmware_require_signature;        /* [firmware] */
	bool firmware_allow_downgrade;          /* [firmware] */
};

#define CONFIG_LIST_MAX 32       /* entries of a list value (trusted_keys) */

/* Walks a list value (entries separated by commas, spaces around them trimmed): copies the next entry into @out
 * and advances *@cursor. Returns false at the end. config_set() has checked that every entry is non-empty and
 * shorter than PATH_MAX, so an @out of PATH_MAX bytes always fits. */
bool config_list_next(const char **cursor, char *out, size_t size);

/* The reason a value or file was refused, with "FILE:LINE: " in front when it came from a file. */
struct config_error {
	char message[PATH_MAX + 256];
};

void config_init(struct config *cfg);

/* Sets one key from text, validated as the file would be. Returns 0, -ENOENT (no such key) or -EINVAL
 * (bad value); @err says why. @cfg is untouched on failure. */
int config_set(struct config *cfg, const char *section, const char *key, const char *value,
	       struct config_error *err);

/* Parses @len bytes of @text (named @name in messages) over @cfg, all or nothing like config_load(). */
int config_parse(struct config *cfg, const char *name, const char *text, size_t len, struct config_error *err);

/* Reads @path over @cfg. All or nothing: on any error @cfg is untouched and @err names file, line and reason.
 * Returns 0, -ENOENT/-EACCES/... (cannot open) or -EINVAL. */
int config_load(struct config *cfg, const char *path, struct config_error *err);

/* Calls @fn for every key whose value differs between @a and @b, with the values as text. */
typedef void (*config_diff_fn)(const char *section, const char *key, const char *old_value,
			       const char *new_value, bool reloadable, void *userdata);
void config_diff(const struct config *a, const struct config *b, config_diff_fn fn, void *userdata);

#endif
