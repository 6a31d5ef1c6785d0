/* ctl_firmware: meshfleetctl firmware import|list|show|delete, the daemon's firmware store over the REST API
 * (docs/meshfleetctl.md, "firmware"; docs/api.md, POST/GET/DELETE /api/v1/firmware; docs/firmware.md for what the
 * daemon checks).
 *
 * `import` streams the file as the body of POST /api/v1/firmware (application/octet-stream) with its parameters in
 * the query, so an 8 MiB image is never held in memory. Option values are checked here first, with the daemon's
 * own parsers, so a typo is a usage error before a byte is sent; the daemon checks them again, and everything that
 * depends on the file (format, signature, trust policy, region) is its decision alone.
 *
 * Glossary:
 *   id        - an image's SHA-256 in hex (64 digits): how the store names it
 *   FWID      - the Mesh DFU firmware ID: company id (2 bytes, little endian) and version information
 *   metadata  - the Mesh DFU firmware metadata; decoded when it is in the nRF Connect SDK layout
 */
#ifndef MESHFLEET_CTL_FIRMWARE_H
#define MESHFLEET_CTL_FIRMWARE_H

#include <stdbool.h>

struct ctl_firmware_options {
	bool json;
	const char *url;                        /* the daemon's base URL */
	/* The import's parameters as given on the command line (NULL when absent); the API's names in brackets. */
	const char *format;                     /* --format (format) */
	const char *version;                    /* --version V after `firmware import` (version) */
	bool version_without_value;             /* --version after `firmware import` with no value after it */
	const char *region_start;               /* --region-start (region_start) */
	const char *company_id;                 /* --company-id (company_id) */
	const char *firmware_id;                /* --firmware-id (firmware_id) */
	const char *metadata;                   /* --metadata (metadata) */
	const char *core_type;                  /* --core-type (core_type) */
	const char *elements;                   /* --elements (elements) */
	const char *composition_hash;           /* --composition-hash (composition_hash) */
	const char *composition_from;           /* --composition-from (composition_from) */
};

/* @argv: the words after "firmware". Returns the exit status: 0 done, 1 failed or refused (the reason on stderr),
 * 2 usage error. */
int ctl_firmware_main(const struct ctl_firmware_options *options, int argc, char **argv);

#endif
