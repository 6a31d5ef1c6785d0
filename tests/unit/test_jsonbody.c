/* Unit tests for daemon/jsonbody.c: the limits on request bodies. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonbody.h"
#include "tap.h"

static int parse(const char *text, char *err, size_t errlen)
{
	json_t *json = NULL;
	int r = jsonbody_parse(text, strlen(text), &json, err, errlen);

	json_decref(json);
	return r;
}

static char *nested(unsigned depth, const char *open, const char *close, const char *inner)
{
	size_t n = depth * (strlen(open) + strlen(close)) + strlen(inner) + 1;
	char *s = malloc(n), *p = s;

	for (unsigned i = 0; i < depth; i++)
		p = stpcpy(p, open);
	p = stpcpy(p, inner);
	for (unsigned i = 0; i < depth; i++)
		p = stpcpy(p, close);
	return s;
}

int main(void)
{
	char err[256];
	char *s;

	is_int(parse("{\"a\":1}", err, sizeof(err)), 0, "object parses");
	is_int(parse("[1,2]", err, sizeof(err)), 0, "array parses");
	is_int(parse("", err, sizeof(err)), -EINVAL, "empty body refused");
	has_str(err, "empty body", "empty body reason");
	is_int(parse("{\"a\":1,\"a\":2}", err, sizeof(err)), -EINVAL, "duplicate keys refused");
	has_str(err, "duplicate", "duplicate key reason");
	is_int(parse("{\"a\":1} x", err, sizeof(err)), -EINVAL, "trailing garbage refused");
	is_int(parse("{\"a\":\"\\u0000\"}", err, sizeof(err)), -EINVAL, "NUL escape refused");
	is_int(parse("{\"a\":\"\xff\"}", err, sizeof(err)), -EINVAL, "invalid UTF-8 refused");
	is_int(parse("{\"a\":1e400}", err, sizeof(err)), -EINVAL, "real overflow refused");
	is_int(parse("{\"a\":99999999999999999999}", err, sizeof(err)), -EINVAL, "integer overflow refused");
	has_str(err, "line 1", "position given");

	s = nested(JSONBODY_MAX_DEPTH, "[", "]", "1");
	is_int(parse(s, err, sizeof(err)), 0, "nesting at the limit parses");
	free(s);
	s = nested(JSONBODY_MAX_DEPTH + 1, "[", "]", "1");
	is_int(parse(s, err, sizeof(err)), -EINVAL, "nesting one over the limit refused");
	has_str(err, "deeper than 32", "depth reason");
	free(s);
	s = nested(100000, "{\"a\":", "}", "1");
	is_int(parse(s, err, sizeof(err)), -EINVAL, "100000 levels refused without recursion");
	free(s);
	s = nested(40, "[", "]", "\"[[[[{{{{\"");
	is_int(parse(s, err, sizeof(err)), -EINVAL, "brackets inside strings do not count, real ones do");
	free(s);
	is_int(parse("[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[\"]", err, sizeof(err)), 0,
	       "brackets in strings with escaped quotes are ignored");
	return done_testing();
}
