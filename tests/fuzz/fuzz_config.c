/* Fuzz target: the configuration file parser (daemon/config_file.c). */
#include <string.h>

#include "config_file.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg, before;
	struct config_error err;

	config_init(&cfg);
	before = cfg;
	if (config_parse(&cfg, "fuzz", (const char *)data, size, &err) < 0) {
		/* All or nothing: a refused file changes nothing, and always says why. */
		if (memcmp(&cfg, &before, sizeof(cfg)) != 0 || err.message[0] == '\0')
			__builtin_trap();
	}
	return 0;
}
