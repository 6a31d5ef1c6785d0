/* jsonbody: turns an HTTP request body into JSON under the API's limits: bounded nesting, no duplicate keys,
 * valid UTF-8, no NUL in strings, one value and nothing after it. */
#ifndef MESHFLEET_JSONBODY_H
#define MESHFLEET_JSONBODY_H

#include <stddef.h>

#include <jansson.h>

#define JSONBODY_MAX_DEPTH 32

/* Returns 0 and *ret_json (new reference), or -EINVAL with the reason (position included) in @errbuf. */
int jsonbody_parse(const char *data, size_t len, json_t **ret_json, char *errbuf, size_t errlen);

#endif
