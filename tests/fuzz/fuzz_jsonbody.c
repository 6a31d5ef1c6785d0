/* Fuzz target: request bodies (daemon/jsonbody.c) under the API's limits. */
#include "fuzz.h"
#include "jsonbody.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *json = NULL;
	char err[256] = "";

	if (jsonbody_parse((const char *)data, size, &json, err, sizeof(err)) == 0) {
		if (!json)
			__builtin_trap();
		json_decref(json);
	} else if (json || err[0] == '\0') {
		__builtin_trap();
	}
	return 0;
}
