/* ctl_package: meshfleetctl package inspect, offline: what daemon/mcuboot.c and daemon/ihex.c make of a firmware
 * file, for people and with --json (docs/meshfleetctl.md, "package inspect"; docs/firmware.md for the checks). */
#ifndef MESHFLEET_CTL_PACKAGE_H
#define MESHFLEET_CTL_PACKAGE_H

#include <stdbool.h>
#include <stddef.h>

#define CTL_PACKAGE_KEYS_MAX 32         /* --key files; MCUBOOT_KEYS_MAX */

struct ctl_package_options {
	bool json;
	const char *key_files[CTL_PACKAGE_KEYS_MAX];    /* --key, in the order given; borrowed */
	size_t n_key_files;
	const char *region_start;       /* --region-start as given, NULL when absent; checked by ctl_package_main() */
	/* --core-type, --composition-hash, --elements as given (NULL when absent): the firmware metadata derived
	 * from them and the image's version and size, as POST /api/v1/firmware derives it */
	const char *core_type;
	const char *composition_hash;
	const char *elements;
};

/* @argv: the words after "package". Returns the exit status: 0 a valid package (verified when keys were given),
 * 1 refused (the reason on stderr), 2 usage. */
int ctl_package_main(const struct ctl_package_options *options, int argc, char **argv);

#endif
