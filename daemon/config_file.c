/* config_file: see config_file.h. */
#include "config_file.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

enum key_type {
	KEY_PATH,
	KEY_LOG_LEVEL,
	KEY_DONGLE,
	KEY_LISTEN,
	KEY_UINT,
	KEY_BOOL,
	KEY_PATH_LIST,          /* comma-separated paths; may be empty */
};

struct key {
	const char *section;
	const char *name;
	enum key_type type;
	size_t offset;
	size_t size;            /* of the text field, for KEY_PATH, KEY_DONGLE, KEY_LISTEN, KEY_PATH_LIST */
	uint32_t min, max;      /* for KEY_UINT */
	bool reloadable;
};

#define TEXT(sec, nm, ty, field, rel) \
	{ sec, nm, ty, offsetof(struct config, field), sizeof(((struct config *)0)->field), 0, 0, rel }
#define UINT(sec, nm, field, lo, hi) \
	{ sec, nm, KEY_UINT, offsetof(struct config, field), 0, lo, hi, false }
#define BOOL(sec, nm, field) \
	{ sec, nm, KEY_BOOL, offsetof(struct config, field), 0, 0, 0, false }

static const struct key keys[] = {
	TEXT("daemon", "state_dir", KEY_PATH, state_dir, false),
	{ "daemon", "log_level", KEY_LOG_LEVEL, offsetof(struct config, log_level), 0, 0, 0, true },
	TEXT("daemon", "dongle", KEY_DONGLE, dongle, false),
	TEXT("http", "listen", KEY_LISTEN, listen, false),
	TEXT("http", "web_root", KEY_PATH, web_root, false),
	UINT("http", "max_body_bytes", max_body_bytes, 1024, 64u << 20),
	UINT("http", "max_connections", max_connections, 1, 4096),
	UINT("http", "max_connections_per_ip", max_connections_per_ip, 0, 4096),
	UINT("http", "connection_timeout_s", connection_timeout_s, 1, 3600),
	TEXT("http", "tls_cert", KEY_PATH, tls_cert, false),
	TEXT("http", "tls_key", KEY_PATH, tls_key, false),
	UINT("mesh", "in_flight", mesh_in_flight, 1, 32),
	UINT("mesh", "timeout_ms", mesh_timeout_ms, 100, 60000),
	UINT("mesh", "attempts", mesh_attempts, 1, 10),
	TEXT("firmware", "trusted_keys", KEY_PATH_LIST, firmware_trusted_keys, false),
	BOOL("firmware", "require_signature", firmware_require_signature),
	BOOL("firmware", "allow_downgrade", firmware_allow_downgrade),
};

/* Keys that only work together: a file sets both or neither. */
static const struct key_pair {
	const char *section, *first, *second;
	const char *hint;
} key_pairs[] = {
	{ "http", "tls_cert", "tls_key", "set both for HTTPS (the certificate and its private key), or neither for "
	  "plain HTTP" },
};

__attribute__((format(printf, 2, 3)))
static int fail(struct config_error *err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

void config_init(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->state_dir, sizeof(cfg->state_dir), "%s", LOCALSTATEDIR "/lib/meshfleet");
	cfg->log_level = LOG_INFO;
	snprintf(cfg->dongle, sizeof(cfg->dongle), "none");
	snprintf(cfg->listen, sizeof(cfg->listen), "127.0.0.1:8080");
	snprintf(cfg->web_root, sizeof(cfg->web_root), "%s", PKGDATADIR "/web");
	cfg->max_body_bytes = 1u << 20;
	cfg->max_connections = 64;
	cfg->max_connections_per_ip = 32;
	cfg->connection_timeout_s = 30;
	cfg->mesh_in_flight = 4;
	cfg->mesh_timeout_ms = 2000;
	cfg->mesh_attempts = 3;
	cfg->firmware_require_signature = true;
	cfg->firmware_allow_downgrade = false;
}

static const struct key *key_find(const char *section, const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

static bool section_known(const char *section)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		if (strcmp(keys[i].section, section) == 0)
			return true;
	return false;
}

/* Accepts "a.b.c.d:port" and "[v6]:port"; the address itself is checked when the listener is created. */
static bool listen_valid(const char *v)
{
	const char *colon;
	uint64_t port;

	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (!close || close == v + 1 || close[1] != ':')
			return false;
		colon = close + 1;
	} else {
		colon = strrchr(v, ':');
		if (!colon || colon == v || memchr(v, ':', (size_t)(colon - v)))
			return false;
	}
	return parse_uint(colon + 1, 0, 65535, &port) == 0;
}

static int bool_parse(const char *v, bool *ret_value)
{
	static const char *const yes[] = { "true", "yes", "on", "1" }, *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < ARRAY_SIZE(yes); i++) {
		if (strcmp(v, yes[i]) == 0) {
			*ret_value = true;
			return 0;
		}
		if (strcmp(v, no[i]) == 0) {
			*ret_value = false;
			return 0;
		}
	}
	return -EINVAL;
}

bool config_list_next(const char **cursor, char *out, size_t size)
{
	const char *p = *cursor, *end;
	size_t n;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return false;
	n = strcspn(p, ",");
	end = p + n;
	*cursor = *end ? end + 1 : end;
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	n = (size_t)(end - p);
	if (size) {
		if (n >= size)
			n = size - 1;
		memcpy(out, p, n);
		out[n] = '\0';
	}
	return true;
}

/* Every entry non-empty and shorter than PATH_MAX, at most CONFIG_LIST_MAX of them; a trailing comma is an empty
 * entry too. */
static int path_list_check(const char *name, const char *v, struct config_error *err)
{
	const char *p = v;
	size_t n = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p == '\0')
		return 0;
	for (;;) {
		size_t len = strcspn(p, ",");
		const char *s = p, *e = p + len;

		while (s < e && (*s == ' ' || *s == '\t'))
			s++;
		while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e == s)
			return fail(err, "empty entry %zu in the list for %s: separate paths with single commas", n + 1,
				    name);
		if ((size_t)(e - s) >= PATH_MAX)
			return fail(err, "entry %zu for %s is too long (at most %d bytes)", n + 1, name, PATH_MAX - 1);
		if (++n > CONFIG_LIST_MAX)
			return fail(err, "more than %d entries for %s", CONFIG_LIST_MAX, name);
		if (p[len] == '\0')
			return 0;
		p += len + 1;
	}
}

static bool dongle_valid(const char *v)
{
	return strcmp(v, "none") == 0 || strcmp(v, "auto") == 0 || strcmp(v, "sim") == 0 ||
	       (strncmp(v, "sim:", 4) == 0 && v[4] != '\0') || v[0] == '/';
}

int config_set(struct config *cfg, const char *section, const char *name, const char *value,
	       struct config_error *err)
{
	const struct key *k = key_find(section, name);
	char *field;
	uint64_t n;
	int level;
	bool b;

	if (!k) {
		snprintf(err->message, sizeof(err->message), "unknown key '%s' in section [%s]", name, section);
		return -ENOENT;
	}
	field = (char *)cfg + k->offset;
	switch (k->type) {
	case KEY_PATH:
		if (value[0] == '\0')
			return fail(err, "empty value for %s", name);
		break;
	case KEY_LOG_LEVEL:
		if (log_level_from_string(value, &level) < 0)
			return fail(err, "bad value '%s' for %s: expected err, warning, notice, info or debug",
				    value, name);
		*(int *)(void *)field = level;
		return 0;
	case KEY_DONGLE:
		if (!dongle_valid(value))
			return fail(err, "bad value '%s' for %s: expected none, auto, sim, sim:SCENARIO.json "
				    "or a device path such as /dev/ttyACM0", value, name);
		break;
	case KEY_LISTEN:
		if (!listen_valid(value))
			return fail(err, "bad value '%s' for %s: expected ADDRESS:PORT such as 127.0.0.1:8080 "
				    "or [::1]:8080", value, name);
		break;
	case KEY_UINT:
		if (parse_uint(value, k->min, k->max, &n) < 0)
			return fail(err, "bad value '%s' for %s: expected an integer from %u to %u",
				    value, name, k->min, k->max);
		*(uint32_t *)(void *)field = (uint32_t)n;
		return 0;
	case KEY_BOOL:
		if (bool_parse(value, &b) < 0)
			return fail(err, "bad value '%s' for %s: expected true or false (yes/no, on/off, 1/0)", value,
				    name);
		*(bool *)(void *)field = b;
		return 0;
	case KEY_PATH_LIST:
		if (path_list_check(name, value, err) < 0)
			return -EINVAL;
		break;
	}
	if (strlen(value) >= k->size)
		return fail(err, "value for %s is too long (at most %zu bytes)", name, k->size - 1);
	memcpy(field, value, strlen(value) + 1);
	return 0;
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		*--end = '\0';
	return s;
}

/* Checks key_pairs once the whole file is read; an error's line is that of the key given alone. */
static int pairs_check(const struct config *cfg, const unsigned *line_of, struct config_error *err,
		       unsigned *ret_line)
{
	for (size_t i = 0; i < ARRAY_SIZE(key_pairs); i++) {
		const struct key *a = key_find(key_pairs[i].section, key_pairs[i].first);
		const struct key *b = key_find(key_pairs[i].section, key_pairs[i].second);
		bool a_set = ((const char *)cfg + a->offset)[0] != '\0';
		bool b_set = ((const char *)cfg + b->offset)[0] != '\0';
		const struct key *given = a_set ? a : b, *missing = a_set ? b : a;

		if (a_set == b_set)
			continue;
		if (line_of[given - keys])
			*ret_line = line_of[given - keys];
		return fail(err, "%s is set but %s is not: %s", given->name, missing->name, key_pairs[i].hint);
	}
	return 0;
}

/* Parses the text of a file; errors are "reason" with *ret_line set, which the caller prefixes. */
static int parse_text(char *text, size_t len, struct config *cfg, struct config_error *err, unsigned *ret_line)
{
	char section[64] = "";
	bool seen[ARRAY_SIZE(keys)] = { false };
	unsigned line_of[ARRAY_SIZE(keys)] = { 0 };
	unsigned lineno = 0;
	char *next = text, *end = text + len;

	while (next < end) {
		char *line = next, *newline = memchr(line, '\n', (size_t)(end - line));
		char *s, *eq, *name, *value;
		const struct key *k;
		size_t n;

		n = newline ? (size_t)(newline - line) : (size_t)(end - line);
		next = line + n + 1;
		*ret_line = ++lineno;
		if (n > CONFIG_MAX_LINE)
			return fail(err, "line longer than %d bytes", CONFIG_MAX_LINE);
		if (memchr(line, '\0', n))
			return fail(err, "NUL byte in line");
		line[n] = '\0';
		s = trim(line);
		if (*s == '\0' || *s == '#' || *s == ';')
			continue;
		if (*s == '[') {
			char *close = strchr(s, ']');

			if (!close || close[1] != '\0')
				return fail(err, "malformed section header '%s'", s);
			*close = '\0';
			if (!section_known(s + 1))
				return fail(err, "unknown section [%s]", s + 1);
			snprintf(section, sizeof(section), "%s", s + 1);
			continue;
		}
		eq = strchr(s, '=');
		if (!eq)
			return fail(err, "expected 'key = value', got '%s'", s);
		*eq = '\0';
		name = trim(s);
		value = trim(eq + 1);
		if (*name == '\0')
			return fail(err, "missing key name before '='");
		if (section[0] == '\0')
			return fail(err, "key '%s' outside a section: put it under [daemon] or [http]", name);
		if (value[0] == '"') {
			size_t vlen = strlen(value);

			if (vlen < 2 || value[vlen - 1] != '"')
				return fail(err, "unterminated quoted value for %s", name);
			value[vlen - 1] = '\0';
			value++;
		}
		k = key_find(section, name);
		if (k && seen[k - keys])
			return fail(err, "duplicate key '%s' in section [%s]", name, section);
		if (config_set(cfg, section, name, value, err) < 0)
			return -EINVAL;
		seen[k - keys] = true;
		line_of[k - keys] = lineno;
	}
	return pairs_check(cfg, line_of, err, ret_line);
}

int config_parse(struct config *cfg, const char *name, const char *text, size_t len, struct config_error *err)
{
	struct config next = *cfg;
	struct config_error inner;
	unsigned line = 0;
	char *copy;
	int r;

	if (len > CONFIG_MAX_BYTES) {
		snprintf(err->message, sizeof(err->message), "%s: larger than %d bytes: is this the configuration "
			 "file?", name, CONFIG_MAX_BYTES);
		return -EFBIG;
	}
	/* The parser cuts lines in place. */
	copy = malloc(len + 1);
	if (!copy) {
		snprintf(err->message, sizeof(err->message), "%s: out of memory", name);
		return -ENOMEM;
	}
	memcpy(copy, text, len);
	r = parse_text(copy, len, &next, &inner, &line);
	free(copy);
	if (r < 0) {
		snprintf(err->message, sizeof(err->message), "%s:%u: %s", name, line, inner.message);
		return r;
	}
	*cfg = next;
	return 0;
}

int config_load(struct config *cfg, const char *path, struct config_error *err)
{
	char *text;
	size_t len;
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (!f) {
		r = -errno;
		snprintf(err->message, sizeof(err->message), "%s: cannot open: %s", path, strerror(-r));
		return r;
	}
	text = malloc(CONFIG_MAX_BYTES + 1);
	if (!text) {
		fclose(f);
		snprintf(err->message, sizeof(err->message), "%s: out of memory", path);
		return -ENOMEM;
	}
	len = fread(text, 1, CONFIG_MAX_BYTES + 1, f);
	if (ferror(f)) {
		snprintf(err->message, sizeof(err->message), "%s: read error", path);
		r = -EIO;
	} else {
		r = config_parse(cfg, path, text, len, err);
	}
	fclose(f);
	free(text);
	return r;
}

static void key_format(const struct config *cfg, const struct key *k, char *out, size_t size)
{
	const char *field = (const char *)cfg + k->offset;

	switch (k->type) {
	case KEY_PATH:
	case KEY_DONGLE:
	case KEY_LISTEN:
	case KEY_PATH_LIST:
		snprintf(out, size, "%s", field);
		break;
	case KEY_BOOL:
		snprintf(out, size, "%s", *(const bool *)(const void *)field ? "true" : "false");
		break;
	case KEY_LOG_LEVEL:
		snprintf(out, size, "%s", log_level_to_string(*(const int *)(const void *)field));
		break;
	case KEY_UINT:
		snprintf(out, size, "%u", *(const uint32_t *)(const void *)field);
		break;
	}
}

void config_diff(const struct config *a, const struct config *b, config_diff_fn fn, void *userdata)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		char va[PATH_MAX], vb[PATH_MAX];

		key_format(a, &keys[i], va, sizeof(va));
		key_format(b, &keys[i], vb, sizeof(vb));
		if (strcmp(va, vb) != 0)
			fn(keys[i].section, keys[i].name, va, vb, keys[i].reloadable, userdata);
	}
}
