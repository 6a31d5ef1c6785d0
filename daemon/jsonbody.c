/* jsonbody: see jsonbody.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>

#include "jsonbody.h"

/* jansson's own depth limit is a build-time 2048; the API's is much lower, so check it before parsing. */
static int check_depth(const char *data, size_t len, size_t *ret_offset)
{
	bool in_string = false, escaped = false;
	unsigned depth = 0;

	for (size_t i = 0; i < len; i++) {
		char c = data[i];

		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"') {
			in_string = true;
		} else if (c == '[' || c == '{') {
			if (++depth > JSONBODY_MAX_DEPTH) {
				*ret_offset = i;
				return -E2BIG;
			}
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
	return 0;
}

int jsonbody_parse(const char *data, size_t len, json_t **ret_json, char *errbuf, size_t errlen)
{
	json_error_t error;
	size_t offset;
	json_t *json;

	if (len == 0) {
		snprintf(errbuf, errlen, "empty body: expected a JSON document");
		return -EINVAL;
	}
	if (check_depth(data, len, &offset) < 0) {
		snprintf(errbuf, errlen, "JSON nested deeper than %d levels at byte %zu", JSONBODY_MAX_DEPTH, offset);
		return -EINVAL;
	}
	json = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
	if (!json) {
		snprintf(errbuf, errlen, "invalid JSON at line %d, column %d: %s", error.line, error.column,
			 error.text);
		return -EINVAL;
	}
	*ret_json = json;
	return 0;
}
