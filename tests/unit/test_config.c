/* Unit tests for daemon/config_file.c: the INI parser, validation, all-or-nothing loads and the reload diff. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_file.h"
#include "log.h"
#include "tap.h"

static char dir[] = "/tmp/mf-test-config-XXXXXX";

static const char *write_file(const char *name, const char *text)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

/* Loads @text over defaults; returns the result and leaves the message in @err. */
static int load(const char *text, struct config *cfg, struct config_error *err)
{
	config_init(cfg);
	return config_load(cfg, write_file("t.conf", text), err);
}

static void test_valid(void)
{
	struct config cfg;
	struct config_error err = { "" };

	is_int(load("# comment\n; other comment\n\n[daemon]\nstate_dir = /srv/mf\nlog_level=debug\n"
		    "dongle = sim:fleet.json\n[http]\n  listen =  [::1]:9000  \nmax_body_bytes = 0x10000\n"
		    "web_root = \"/opt/web dir\"\nmax_connections_per_ip = 0\n", &cfg, &err), 0,
	       "a full file loads");
	is_str(err.message, "", "no message on success");
	is_str(cfg.state_dir, "/srv/mf", "state_dir");
	is_int(cfg.log_level, LOG_DEBUG, "log_level");
	is_str(cfg.dongle, "sim:fleet.json", "dongle");
	is_str(cfg.listen, "[::1]:9000", "listen, spaces trimmed");
	is_int(cfg.max_body_bytes, 65536, "hex integer");
	is_str(cfg.web_root, "/opt/web dir", "quoted value keeps inner spaces");
	is_int(cfg.max_connections_per_ip, 0, "0 = no per-address limit");
	is_int(cfg.max_connections, 64, "unset keys keep defaults");
	is_int(load("[mesh]\nin_flight = 8\ntimeout_ms = 5000\nattempts = 1\n", &cfg, &err), 0, "the [mesh] keys");
	ok(cfg.mesh_in_flight == 8 && cfg.mesh_timeout_ms == 5000 && cfg.mesh_attempts == 1, "[mesh] values");
	is_int(load("", &cfg, &err), 0, "an empty file is valid");
	is_int(load("[http]\r\nlisten = 0.0.0.0:80\r\n", &cfg, &err), 0, "CRLF line ends");
	is_str(cfg.listen, "0.0.0.0:80", "CRLF value");
	ok(cfg.tls_cert[0] == '\0' && cfg.tls_key[0] == '\0', "no HTTPS by default");
	is_int(load("[http]\ntls_key = /etc/tls/key.pem\ntls_cert = \"/etc/tls/full chain.pem\"\n", &cfg, &err), 0,
	       "tls_cert and tls_key together, in any order");
	is_str(cfg.tls_cert, "/etc/tls/full chain.pem", "tls_cert");
	is_str(cfg.tls_key, "/etc/tls/key.pem", "tls_key");
}

struct bad_case {
	const char *text;
	const char *message;
};

static void test_invalid(void)
{
	static const struct bad_case cases[] = {
		{ "[daemon]\nfoo = 1\n", ":2: unknown key 'foo' in section [daemon]" },
		{ "[nope]\n", ":1: unknown section [nope]" },
		{ "log_level = info\n", ":1: key 'log_level' outside a section" },
		{ "[daemon]\nlog_level\n", ":2: expected 'key = value'" },
		{ "[daemon]\n= info\n", ":2: missing key name" },
		{ "[daemon\n", ":1: malformed section header" },
		{ "[daemon]\nlog_level = loud\n", ":2: bad value 'loud' for log_level" },
		{ "[http]\nmax_connections = 0\n", "expected an integer from 1 to 4096" },
		{ "[http]\nmax_connections = 4097\n", "expected an integer from 1 to 4096" },
		{ "[http]\nmax_connections = ten\n", ":2: bad value 'ten' for max_connections" },
		{ "[http]\nmax_connections = -1\n", "bad value '-1'" },
		{ "[http]\nmax_body_bytes = 1023\n", "from 1024 to 67108864" },
		{ "[mesh]\nin_flight = 33\n", "expected an integer from 1 to 32" },
		{ "[mesh]\ntimeout_ms = 99\n", "from 100 to 60000" },
		{ "[mesh]\nattempts = 0\n", "from 1 to 10" },
		{ "[http]\nlisten = 8080\n", "expected ADDRESS:PORT" },
		{ "[http]\nlisten = 127.0.0.1:65536\n", "expected ADDRESS:PORT" },
		{ "[http]\nlisten = ::1:80\n", "expected ADDRESS:PORT" },
		{ "[http]\nlisten = [::1]80\n", "expected ADDRESS:PORT" },
		{ "[daemon]\ndongle = usb\n", "bad value 'usb' for dongle" },
		{ "[daemon]\ndongle = sim:\n", "bad value 'sim:' for dongle" },
		{ "[daemon]\nstate_dir =\n", "empty value for state_dir" },
		{ "[daemon]\nstate_dir = \"/x\n", "unterminated quoted value" },
		{ "[daemon]\nlog_level = info\nlog_level = debug\n", ":3: duplicate key 'log_level'" },
		{ "[http]\nlisten = [::1]:1\n[daemon]\n[http]\nlisten = [::1]:2\n", ":5: duplicate key 'listen'" },
		{ "[firmware]\nrequire_signature = maybe\n", ":2: bad value 'maybe' for require_signature: "
		  "expected true or false" },
		{ "[firmware]\nallow_downgrade =\n", "bad value '' for allow_downgrade" },
		{ "[firmware]\ntrusted_keys = a.pem,,b.pem\n", "empty entry 2 in the list for trusted_keys" },
		{ "[firmware]\ntrusted_keys = a.pem, \n", "empty entry 2 in the list for trusted_keys" },
		{ "[firmware]\ntrusted_keys = ,a.pem\n", "empty entry 1 in the list for trusted_keys" },
		{ "[firmware]\ntrusted_keys = 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,"
		  "27,28,29,30,31,32,33\n", "more than 32 entries for trusted_keys" },
		{ "[http]\ntls_cert = /c.pem\n[daemon]\nlog_level = info\n", ":2: tls_cert is set but tls_key is not: "
		  "set both for HTTPS" },
		{ "[daemon]\n\n[http]\ntls_key = /k.pem\n", ":4: tls_key is set but tls_cert is not" },
		{ "[http]\ntls_cert =\ntls_key = /k.pem\n", ":2: empty value for tls_cert" },
		{ "[daemon]\ntls_cert = /c.pem\n", ":2: unknown key 'tls_cert' in section [daemon]" },
	};
	struct config cfg, before;
	struct config_error err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_init(&before);
		cfg = before;
		is_int(config_load(&cfg, write_file("bad.conf", cases[i].text), &err), -EINVAL,
		       "refused: %s", cases[i].message);
		has_str(err.message, cases[i].message, "message for case %zu", i);
		has_str(err.message, "bad.conf:", "message names the file (case %zu)", i);
		ok(memcmp(&cfg, &before, sizeof(cfg)) == 0, "nothing applied (case %zu)", i);
	}
}

/* [firmware]: booleans in their spellings, and the comma-separated list of key files. */
static void test_firmware_keys(void)
{
	static const struct { const char *text; bool value; } bools[] = {
		{ "true", true }, { "yes", true }, { "on", true }, { "1", true },
		{ "false", false }, { "no", false }, { "off", false }, { "0", false },
	};
	struct config cfg;
	struct config_error err = { "" };
	const char *cursor;
	char entry[PATH_MAX];

	config_init(&cfg);
	ok(cfg.firmware_require_signature, "require_signature defaults to true");
	ok(!cfg.firmware_allow_downgrade, "allow_downgrade defaults to false");
	is_str(cfg.firmware_trusted_keys, "", "no trusted keys by default");
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		is_int(config_set(&cfg, "firmware", "require_signature", bools[i].text, &err), 0, "bool '%s'",
		       bools[i].text);
		is_int(cfg.firmware_require_signature, bools[i].value, "bool '%s' value", bools[i].text);
	}
	is_int(config_set(&cfg, "firmware", "allow_downgrade", "True", &err), -EINVAL, "booleans are lower case");
	is_int(load("[firmware]\ntrusted_keys = /etc/k1.pem , keys/k 2.pem,/k3.pem\nrequire_signature = false\n"
		    "allow_downgrade = yes\n", &cfg, &err), 0, "a [firmware] section");
	ok(!cfg.firmware_require_signature && cfg.firmware_allow_downgrade, "its booleans");
	cursor = cfg.firmware_trusted_keys;
	ok(config_list_next(&cursor, entry, sizeof(entry)), "first entry");
	is_str(entry, "/etc/k1.pem", "first entry, spaces trimmed");
	ok(config_list_next(&cursor, entry, sizeof(entry)), "second entry");
	is_str(entry, "keys/k 2.pem", "second entry keeps its inner space");
	ok(config_list_next(&cursor, entry, sizeof(entry)), "third entry");
	is_str(entry, "/k3.pem", "third entry");
	ok(!config_list_next(&cursor, entry, sizeof(entry)), "no fourth entry");
	is_int(load("[firmware]\ntrusted_keys =\n", &cfg, &err), 0, "an empty list is valid");
	cursor = cfg.firmware_trusted_keys;
	ok(!config_list_next(&cursor, entry, sizeof(entry)), "and has no entry");
}

static void test_file_errors(void)
{
	struct config cfg;
	struct config_error err;
	char big[CONFIG_MAX_LINE + 64];
	char path[600];

	config_init(&cfg);
	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	is_int(config_load(&cfg, path, &err), -ENOENT, "missing file");
	has_str(err.message, "missing.conf: cannot open: No such file", "missing file message");

	memset(big, 'a', sizeof(big));
	memcpy(big, "[daemon]\nstate_dir = /", 22);
	big[sizeof(big) - 2] = '\n';
	big[sizeof(big) - 1] = '\0';
	is_int(load(big, &cfg, &err), -EINVAL, "over-long line refused");
	has_str(err.message, ":2: line longer than", "over-long line message");

	{
		static const char nul_text[] = "[daemon]\nlog_level = info\0junk\n";
		FILE *f;

		snprintf(path, sizeof(path), "%s/nul.conf", dir);
		f = fopen(path, "w");
		fwrite(nul_text, 1, sizeof(nul_text) - 1, f);
		fclose(f);
		config_init(&cfg);
		is_int(config_load(&cfg, path, &err), -EINVAL, "NUL byte refused");
		has_str(err.message, ":2: NUL byte", "NUL byte message");
	}
}

static void test_set(void)
{
	struct config cfg;
	struct config_error err;

	config_init(&cfg);
	is_int(config_set(&cfg, "http", "listen", "127.0.0.1:0", &err), 0, "set listen");
	is_str(cfg.listen, "127.0.0.1:0", "listen set");
	is_int(config_set(&cfg, "http", "bogus", "1", &err), -ENOENT, "unknown key");
	is_int(config_set(&cfg, "daemon", "log_level", "LOUD", &err), -EINVAL, "bad level");
	is_int(cfg.log_level, LOG_INFO, "level untouched");
}

struct diff_seen {
	char keys[8][64];
	bool reloadable[8];
	int n;
};

static void on_diff(const char *section, const char *key, const char *a, const char *b, bool reloadable,
		    void *userdata)
{
	struct diff_seen *seen = userdata;

	(void)a;
	(void)b;
	if (seen->n < 8) {
		snprintf(seen->keys[seen->n], sizeof(seen->keys[0]), "%s.%s", section, key);
		seen->reloadable[seen->n] = reloadable;
		seen->n++;
	}
}

static void test_diff(void)
{
	struct config a, b;
	struct diff_seen seen = { 0 };

	config_init(&a);
	b = a;
	config_diff(&a, &b, on_diff, &seen);
	is_int(seen.n, 0, "no difference, no call");
	b.log_level = LOG_DEBUG;
	b.max_connections = 3;
	config_diff(&a, &b, on_diff, &seen);
	is_int(seen.n, 2, "two differences");
	is_str(seen.keys[0], "daemon.log_level", "log_level differs");
	ok(seen.reloadable[0], "log_level is reloadable");
	is_str(seen.keys[1], "http.max_connections", "max_connections differs");
	ok(!seen.reloadable[1], "max_connections needs a restart");
	seen.n = 0;
	b = a;
	b.firmware_require_signature = false;
	snprintf(b.firmware_trusted_keys, sizeof(b.firmware_trusted_keys), "/k.pem");
	config_diff(&a, &b, on_diff, &seen);
	is_int(seen.n, 2, "[firmware]: two differences");
	is_str(seen.keys[0], "firmware.trusted_keys", "trusted_keys differs");
	is_str(seen.keys[1], "firmware.require_signature", "require_signature differs");
	ok(!seen.reloadable[0] && !seen.reloadable[1], "the trust policy needs a restart");
}

int main(void)
{
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	test_valid();
	test_invalid();
	test_firmware_keys();
	test_file_errors();
	test_set();
	test_diff();
	unlink(write_file("t.conf", ""));
	unlink(write_file("bad.conf", ""));
	unlink(write_file("nul.conf", ""));
	rmdir(dir);
	return done_testing();
}
