/* Fuzz target: the Mesh Configuration Database reader and writer (daemon/cdb.c). A refused document returns
 * nothing and always says why; an accepted one is written back by cdb_to_json(), and what is written must be read
 * again (the export of a network meshfleet accepted must itself be acceptable). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cdb.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdb *c = NULL, *back = NULL;
	char err[512] = "";
	char *text;
	json_t *j;
	int r;

	r = cdb_parse((const char *)data, size, &c, err, sizeof(err));
	if (r < 0) {
		if (c || err[0] == '\0' || (r != -EINVAL && r != -EFBIG && r != -ENOMEM))
			__builtin_trap();
		return 0;
	}
	if (!c)
		__builtin_trap();
	j = cdb_to_json(c);
	text = j ? json_dumps(j, JSON_COMPACT) : NULL;
	if (text) {
		r = cdb_parse(text, strlen(text), &back, err, sizeof(err));
		if (r < 0 && r != -ENOMEM)
			__builtin_trap();
		if (back && (back->n_nodes != c->n_nodes || back->n_net_keys != c->n_net_keys ||
			     back->n_groups != c->n_groups || back->timestamp_ms != c->timestamp_ms))
			__builtin_trap();
	}
	free(text);
	json_decref(j);
	cdb_free(back);
	cdb_free(c);
	return 0;
}
