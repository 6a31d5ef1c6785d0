/* ctl_firmware: see ctl_firmware.h.
 *
 * Only the full id is taken by `show` and `delete`: the API looks images up by their whole SHA-256 and has no
 * prefix search, and finding a prefix would mean listing the whole store (and, for `delete`, a race with imports).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>

#include "ctl_firmware.h"
#include "ctl_http.h"
#include "ctl_network.h"
#include "firmware.h"
#include "package.h"
#include "util.h"

#define CTL_FIRMWARE_PATH_MAX 4096              /* a request's path and query, escaped */
#define CTL_FIRMWARE_UNICAST_MAX 0x7fff         /* composition_from: a node's unicast address */
#define CTL_FIRMWARE_COMPANY_MAX 0xffff
#define CTL_FIRMWARE_HEX_SUFFIX ".hex"
#define CTL_FIRMWARE_CONTENT_TYPE "application/octet-stream"
#define CTL_FIRMWARE_ERROR_MAX 2048             /* bytes of a message built from the daemon's answer */

/* The import's parameters: the option's name, the API's, and where the value is. */
struct import_param {
	const char *option;
	const char *api_name;
	const char *value;
};

static int usage_error(const char *why)
{
	if (why)
		fprintf(stderr, "meshfleetctl: %s\n", why);
	fprintf(stderr, "meshfleetctl: usage: firmware import FILE [--format mcuboot|hex|raw|zip] [--version V] "
		"[--region-start ADDR] [--company-id ID | --firmware-id HEX] [--metadata HEX | --composition-hash HASH "
		"--elements N [--core-type TYPE] | --composition-from ADDR [--core-type TYPE]] | firmware list | "
		"firmware show ID | firmware delete ID\n");
	return CTL_EXIT_USAGE_ERROR;
}

/* --- checking the options, with the daemon's parsers --- */

static bool hex_valid(const char *text, size_t min_bytes, size_t max_bytes)
{
	size_t len = strlen(text);
	uint8_t buf[FIRMWARE_METADATA_MAX > FIRMWARE_FWID_MAX ? FIRMWARE_METADATA_MAX : FIRMWARE_FWID_MAX];

	return len % 2 == 0 && len / 2 >= min_bytes && len / 2 <= max_bytes && len / 2 <= sizeof(buf) &&
	       hex_decode(text, len, buf) == 0;
}

/* Each value on its own, then the combinations POST /api/v1/firmware refuses whatever the file. Returns 0, or
 * CTL_EXIT_USAGE_ERROR after saying why on stderr. */
static int check_import_options(const struct ctl_firmware_options *o)
{
	struct mcuboot_version version;
	uint64_t v;
	uint32_t hash;
	uint8_t core;

	if (o->version_without_value)
		return usage_error("firmware import: --version needs a value, e.g. --version 1.2.0+7");
	if (o->format && strcmp(o->format, "mcuboot") != 0 && strcmp(o->format, "hex") != 0 &&
	    strcmp(o->format, "raw") != 0 && strcmp(o->format, "zip") != 0) {
		fprintf(stderr, "meshfleetctl: --format '%s': expected mcuboot, hex, raw or zip\n", o->format);
		return CTL_EXIT_USAGE_ERROR;
	}
	if (o->version && firmware_version_parse(o->version, &version) < 0) {
		fprintf(stderr, "meshfleetctl: --version '%s': expected MAJOR.MINOR.REVISION+BUILD such as 1.2.3+4 (major "
			"and minor up to 255, revision up to 65535)\n", o->version);
		return CTL_EXIT_USAGE_ERROR;
	}
	if (o->region_start && parse_uint(o->region_start, 0, UINT32_MAX, &v) < 0) {
		fprintf(stderr, "meshfleetctl: --region-start '%s': expected an address such as 0x27000 (decimal too)\n",
			o->region_start);
		return CTL_EXIT_USAGE_ERROR;
	}
	if (o->company_id && parse_uint(o->company_id, 0, CTL_FIRMWARE_COMPANY_MAX, &v) < 0) {
		fprintf(stderr, "meshfleetctl: --company-id '%s': expected 0 .. 0xFFFF (0x0059 is Nordic "
			"Semiconductor)\n", o->company_id);
		return CTL_EXIT_USAGE_ERROR;
	}
	if (o->firmware_id && !hex_valid(o->firmware_id, FIRMWARE_FWID_MIN, FIRMWARE_FWID_MAX)) {
		fprintf(stderr, "meshfleetctl: --firmware-id '%s': expected %d to %d bytes in hex (%d to %d digits), the "
			"company id first\n", o->firmware_id, FIRMWARE_FWID_MIN, FIRMWARE_FWID_MAX, 2 * FIRMWARE_FWID_MIN,
			2 * FIRMWARE_FWID_MAX);
		return CTL_EXIT_USAGE_ERROR;
	}
	if (o->metadata && !hex_valid(o->metadata, 1, FIRMWARE_METADATA_MAX)) {
		fprintf(stderr, "meshfleetctl: --metadata '%s': expected 1 to %d bytes in hex (2 to %d digits)\n",
			o->metadata, FIRMWARE_METADATA_MAX, 2 * FIRMWARE_METADATA_MAX);
		return CTL_EXIT_USAGE_ERROR;
	}
	if (o->core_type && package_core_type_parse(o->core_type, &core) < 0) {
		fprintf(stderr, "meshfleetctl: --core-type '%s': expected application, network, application_blob or a "
			"number 0 .. %u\n", o->core_type, PACKAGE_CORE_ALL);
		return CTL_EXIT_USAGE_ERROR;
	}
	if (o->composition_hash && package_parse_composition_hash(o->composition_hash, &hash) < 0) {
		fprintf(stderr, "meshfleetctl: --composition-hash '%s': expected up to 8 hex digits, e.g. 0x7E567089\n",
			o->composition_hash);
		return CTL_EXIT_USAGE_ERROR;
	}
	if (o->elements && parse_uint(o->elements, 1, PACKAGE_ELEMENTS_OPTION_MAX, &v) < 0) {
		fprintf(stderr, "meshfleetctl: --elements '%s': expected 1 .. %d\n", o->elements,
			PACKAGE_ELEMENTS_OPTION_MAX);
		return CTL_EXIT_USAGE_ERROR;
	}
	if (o->composition_from && parse_uint(o->composition_from, 1, CTL_FIRMWARE_UNICAST_MAX, &v) < 0) {
		fprintf(stderr, "meshfleetctl: --composition-from '%s': expected a node's unicast address 1 .. 0x7FFF "
			"(0x0100)\n", o->composition_from);
		return CTL_EXIT_USAGE_ERROR;
	}
	if (o->company_id && o->firmware_id)
		return usage_error("firmware import: give --company-id or --firmware-id, not both: the firmware ID "
				   "starts with the company id");
	if (o->metadata && (o->core_type || o->composition_hash || o->elements || o->composition_from))
		return usage_error("firmware import: give --metadata (the whole field in hex) or the options to derive "
				   "it from (--composition-hash with --elements, or --composition-from; --core-type), "
				   "not both");
	if (o->composition_hash && o->composition_from)
		return usage_error("firmware import: give --composition-hash or --composition-from, not both");
	if (o->composition_from && o->elements)
		return usage_error("firmware import: --composition-from gives the element count: leave out --elements");
	if (!o->composition_hash != !o->elements && !o->composition_from)
		return usage_error("firmware import: the metadata is derived from --composition-hash and --elements "
				   "together (and --core-type, default application)");
	if (o->core_type && !o->composition_hash && !o->composition_from)
		return usage_error("firmware import: --core-type needs --composition-hash and --elements, or "
				   "--composition-from");
	return 0;
}

/* "/api/v1/firmware?name=value&..." with the parameters given. Returns 0 or -ENAMETOOLONG. */
static int import_path(const struct import_param *params, size_t n, char *out, size_t size)
{
	size_t len = (size_t)snprintf(out, size, "/api/v1/firmware");
	char sep = '?';

	for (size_t i = 0; i < n; i++) {
		if (!params[i].value)
			continue;
		if (len + strlen(params[i].api_name) + 2 >= size)
			return -ENAMETOOLONG;
		len += (size_t)snprintf(out + len, size - len, "%c%s=", sep, params[i].api_name);
		if (ctl_http_escape_query(params[i].value, out + len, size - len) < 0)
			return -ENAMETOOLONG;
		len += strlen(out + len);
		sep = '&';
	}
	return 0;
}

/* --- printing a record --- */

static const char *string_or(const json_t *o, const char *key, const char *fallback)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : fallback;
}

static void print_metadata(const json_t *rec)
{
	const json_t *fields = json_object_get(rec, "metadata_fields");
	const char *metadata = json_string_value(json_object_get(rec, "metadata"));
	json_int_t elements, user_data;

	if (!metadata) {
		printf("metadata      none (give --composition-hash and --elements, or --metadata, to import it with "
		       "some)\n");
		return;
	}
	printf("metadata      %s\n", metadata);
	if (!json_is_object(fields)) {
		printf("              (not in the nRF Connect SDK layout: shown as hex only)\n");
		return;
	}
	elements = json_integer_value(json_object_get(fields, "elements"));
	user_data = json_integer_value(json_object_get(fields, "user_data_bytes"));
	printf("              version %s, %lld bytes, core %s, composition hash %s, %lld element%s", string_or(fields,
	       "version", "?"), (long long)json_integer_value(json_object_get(fields, "size")), string_or(fields,
	       "core_type", "?"), string_or(fields, "composition_hash", "?"), (long long)elements,
	       elements == 1 ? "" : "s");
	if (user_data > 0)
		printf(", %lld bytes of user data", (long long)user_data);
	putchar('\n');
}

/* One image of the API (docs/api.md, POST /api/v1/firmware), for people. */
static void print_record(const json_t *rec)
{
	const char *key = json_string_value(json_object_get(rec, "signature_key"));

	printf("id            %s\n", string_or(rec, "id", "?"));
	printf("kind          %s\n", string_or(rec, "kind", "?"));
	printf("version       %s\n", string_or(rec, "version", "?"));
	printf("size          %lld bytes\n", (long long)json_integer_value(json_object_get(rec, "size")));
	printf("firmware ID   %s\n", string_or(rec, "firmware_id", "?"));
	print_metadata(rec);
	if (key)
		printf("signed        yes, verified with the trusted key '%s'\n", key);
	else if (json_is_true(json_object_get(rec, "signed")))
		printf("signed        yes\n");
	else
		printf("signed        no\n");
	printf("imported      %s by '%s'\n", string_or(rec, "imported_at", "?"), string_or(rec, "imported_by", "?"));
}

static int print_json(json_t *doc)
{
	if (json_dumpf(doc, stdout, JSON_COMPACT) < 0 || putchar('\n') == EOF) {
		fprintf(stderr, "meshfleetctl: cannot print the JSON\n");
		return CTL_EXIT_FAILED;
	}
	return 0;
}

/* The answer of a request that did not do what was asked, on stderr. A refusal of the image or its parameters
 * (400, 413, 422) names the API's code; 401 and 403 say where the token came from (ctl_http). */
static void print_refusal(const char *file, const struct ctl_http_response *res)
{
	char buf[CTL_FIRMWARE_ERROR_MAX];
	json_t *doc = res->body ? json_loads(res->body, 0, NULL) : NULL;
	const json_t *error = json_object_get(doc, "error");
	const char *code = json_string_value(json_object_get(error, "code"));
	const char *message = json_string_value(json_object_get(error, "message"));

	if (code && message && (res->status == 400 || res->status == 413 || res->status == 422))
		fprintf(stderr, "meshfleetctl: '%s': refused: %s (%s, HTTP %ld)\n", file, message, code, res->status);
	else
		fprintf(stderr, "meshfleetctl: '%s': not imported: %s\n", file,
			ctl_http_error_message(res, buf, sizeof(buf)));
	json_decref(doc);
}

/* --- firmware import --- */

static bool has_hex_suffix(const char *path)
{
	size_t n = strlen(path), suffix = strlen(CTL_FIRMWARE_HEX_SUFFIX);

	return n > suffix && strcasecmp(path + n - suffix, CTL_FIRMWARE_HEX_SUFFIX) == 0;
}

/* Opens @path for streaming: a regular file within the daemon's limit. Returns 0, or CTL_EXIT_FAILED after saying
 * why. */
static int open_image(const char *path, FILE **ret_file, uint64_t *ret_size)
{
	struct stat st;
	FILE *f = fopen(path, "rbe");

	if (!f) {
		fprintf(stderr, "meshfleetctl: cannot open '%s': %s\n", path, strerror(errno));
		return CTL_EXIT_FAILED;
	}
	if (fstat(fileno(f), &st) < 0) {
		fprintf(stderr, "meshfleetctl: cannot read '%s': %s\n", path, strerror(errno));
		fclose(f);
		return CTL_EXIT_FAILED;
	}
	/* Content-Length is sent first: the size must be known and stay put, as a regular file's does. */
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "meshfleetctl: '%s' is %s, not a firmware file\n", path,
			S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
		fclose(f);
		return CTL_EXIT_FAILED;
	}
	if ((uint64_t)st.st_size > FIRMWARE_IMAGE_MAX) {
		fprintf(stderr, "meshfleetctl: '%s' is %lld bytes, over the daemon's limit of %u bytes for a firmware "
			"file\n", path, (long long)st.st_size, FIRMWARE_IMAGE_MAX);
		fclose(f);
		return CTL_EXIT_FAILED;
	}
	*ret_file = f;
	*ret_size = (uint64_t)st.st_size;
	return 0;
}

/* Without --format, an Intel HEX file is recognised as the daemon recognises one in a form: a name ending in .hex
 * and text starting with ':' (the content alone does not tell HEX from other text). */
static int guess_format(const char *path, FILE *f, const char **ret_format)
{
	int c = fgetc(f);

	if (c == EOF && ferror(f)) {
		fprintf(stderr, "meshfleetctl: cannot read '%s': %s\n", path, strerror(errno));
		return CTL_EXIT_FAILED;
	}
	if (fseek(f, 0, SEEK_SET) < 0) {
		fprintf(stderr, "meshfleetctl: cannot read '%s' again from its start: %s\n", path, strerror(errno));
		return CTL_EXIT_FAILED;
	}
	*ret_format = c == ':' && has_hex_suffix(path) ? "hex" : NULL;
	return 0;
}

static int import_answer(const struct ctl_firmware_options *options, const char *file,
			 const struct ctl_http_response *res)
{
	bool created = res->status == 201;
	json_t *doc = res->body ? json_loads(res->body, 0, NULL) : NULL;
	int status = 0;

	if (!json_is_object(doc) || !json_is_string(json_object_get(doc, "id"))) {
		fprintf(stderr, "meshfleetctl: '%s': the daemon answered HTTP %ld without the stored image's record: "
			"check with meshfleetctl firmware list\n", file, res->status);
		json_decref(doc);
		return CTL_EXIT_FAILED;
	}
	if (options->json) {
		/* The API says "new" with its status only: the JSON says it in a member of its own. */
		if (json_object_set_new(doc, "created", json_boolean(created)) < 0) {
			fprintf(stderr, "meshfleetctl: out of memory\n");
			status = CTL_EXIT_FAILED;
		} else {
			status = print_json(doc);
		}
	} else {
		if (created)
			printf("'%s': imported\n", file);
		else
			printf("'%s': already stored (these bytes were imported before; its firmware ID and metadata stay "
			       "as first imported: delete it to import them differently)\n", file);
		print_record(doc);
	}
	json_decref(doc);
	return status;
}

static int cmd_import(const struct ctl_firmware_options *options, const char *file)
{
	struct import_param params[] = {
		{ "--format", "format", options->format },
		{ "--version", "version", options->version },
		{ "--region-start", "region_start", options->region_start },
		{ "--company-id", "company_id", options->company_id },
		{ "--firmware-id", "firmware_id", options->firmware_id },
		{ "--metadata", "metadata", options->metadata },
		{ "--core-type", "core_type", options->core_type },
		{ "--elements", "elements", options->elements },
		{ "--composition-hash", "composition_hash", options->composition_hash },
		{ "--composition-from", "composition_from", options->composition_from },
	};
	struct ctl_http_response res;
	char path[CTL_FIRMWARE_PATH_MAX];
	uint64_t size = 0;
	FILE *f = NULL;
	int status;

	status = check_import_options(options);
	if (status)
		return status;
	status = open_image(file, &f, &size);
	if (status)
		return status;
	if (!options->format) {
		status = guess_format(file, f, &params[0].value);
		if (status)
			goto out;
	}
	if (import_path(params, sizeof(params) / sizeof(params[0]), path, sizeof(path)) < 0) {
		fprintf(stderr, "meshfleetctl: the options are too long for a URL\n");
		status = CTL_EXIT_USAGE_ERROR;
		goto out;
	}
	if (ctl_http_upload(options->url, path, CTL_FIRMWARE_CONTENT_TYPE, f, size, &res) < 0) {
		fprintf(stderr, "meshfleetctl: '%s': %s\n", file, res.error);
		status = CTL_EXIT_FAILED;
		goto out;
	}
	if (res.status == 200 || res.status == 201) {
		status = import_answer(options, file, &res);
	} else {
		print_refusal(file, &res);
		status = CTL_EXIT_FAILED;
	}
	ctl_http_response_done(&res);
out:
	fclose(f);
	return status;
}

/* --- firmware list, show, delete --- */

static void print_list(const json_t *images)
{
	size_t i;
	json_t *rec;

	if (json_array_size(images) == 0) {
		printf("no firmware stored; import some with: meshfleetctl firmware import FILE\n");
		return;
	}
	printf("%-64s  %-7s  %-14s  %9s  %-20s  %-8s  %s\n", "ID", "KIND", "VERSION", "SIZE", "IMPORTED", "SIGNED",
	       "FIRMWARE ID");
	json_array_foreach(images, i, rec) {
		printf("%-64s  %-7s  %-14s  %9lld  %-20s  %-8s  %s\n", string_or(rec, "id", "?"),
		       string_or(rec, "kind", "?"), string_or(rec, "version", "?"),
		       (long long)json_integer_value(json_object_get(rec, "size")), string_or(rec, "imported_at", "?"),
		       json_is_true(json_object_get(rec, "signed")) ? "yes" : "no", string_or(rec, "firmware_id", "?"));
	}
	printf("%zu image%s\n", json_array_size(images), json_array_size(images) == 1 ? "" : "s");
}

/* Every page of GET /api/v1/firmware into one array. */
static int cmd_list(const struct ctl_firmware_options *options)
{
	json_t *all = NULL;
	int status = CTL_EXIT_FAILED;

	if (ctl_http_get_all(options->url, "/api/v1/firmware", "firmware", &all) < 0)
		return CTL_EXIT_FAILED;
	if (options->json) {
		json_t *o = json_pack("{s:O}", "firmware", all);

		status = o ? print_json(o) : CTL_EXIT_FAILED;
		json_decref(o);
	} else {
		print_list(all);
		status = 0;
	}
	json_decref(all);
	return status;
}

/* @text as an id in lower case into @id. Returns 0, or CTL_EXIT_USAGE_ERROR after saying why. */
static int parse_id(const char *command, const char *text, char id[FIRMWARE_ID_HEX + 1])
{
	size_t n = strlen(text);

	for (size_t i = 0; i < n && i < FIRMWARE_ID_HEX; i++)
		id[i] = (char)(text[i] >= 'A' && text[i] <= 'F' ? text[i] - 'A' + 'a' : text[i]);
	id[n < FIRMWARE_ID_HEX ? n : FIRMWARE_ID_HEX] = '\0';
	if (n != FIRMWARE_ID_HEX || !firmware_id_valid(id)) {
		fprintf(stderr, "meshfleetctl: firmware %s '%s': expected the image's id, its SHA-256 in %d hex digits "
			"(meshfleetctl firmware list shows them)\n", command, text, FIRMWARE_ID_HEX);
		return CTL_EXIT_USAGE_ERROR;
	}
	return 0;
}

static int cmd_show(const struct ctl_firmware_options *options, const char *id_text)
{
	char id[FIRMWARE_ID_HEX + 1], path[sizeof("/api/v1/firmware/") + FIRMWARE_ID_HEX];
	struct ctl_http_response res;
	json_t *doc;
	int status;

	status = parse_id("show", id_text, id);
	if (status)
		return status;
	snprintf(path, sizeof(path), "/api/v1/firmware/%s", id);
	if (ctl_http_expect(options->url, "GET", path, NULL, 0, 200, &res) < 0)
		return CTL_EXIT_FAILED;
	doc = json_loads(res.body, 0, NULL);
	ctl_http_response_done(&res);
	if (!json_is_object(doc)) {
		fprintf(stderr, "meshfleetctl: GET %s: the answer is not a JSON object\n", path);
		status = CTL_EXIT_FAILED;
	} else if (options->json) {
		status = print_json(doc);
	} else {
		print_record(doc);
	}
	json_decref(doc);
	return status;
}

static int cmd_delete(const struct ctl_firmware_options *options, const char *id_text)
{
	char id[FIRMWARE_ID_HEX + 1], path[sizeof("/api/v1/firmware/") + FIRMWARE_ID_HEX];
	struct ctl_http_response res;
	int status;

	status = parse_id("delete", id_text, id);
	if (status)
		return status;
	snprintf(path, sizeof(path), "/api/v1/firmware/%s", id);
	if (ctl_http_expect(options->url, "DELETE", path, NULL, 0, 204, &res) < 0)
		return CTL_EXIT_FAILED;
	ctl_http_response_done(&res);
	if (options->json)
		printf("{\"id\":\"%s\",\"deleted\":true}\n", id);
	else
		printf("deleted firmware %s\n", id);
	return 0;
}

int ctl_firmware_main(const struct ctl_firmware_options *options, int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : "";

	if (strcmp(cmd, "import") == 0 && argc == 2)
		return cmd_import(options, argv[1]);
	if (strcmp(cmd, "import") == 0)
		return usage_error(argc < 2 ? "firmware import: no FILE given" : "firmware import: one FILE at a time");
	if (strcmp(cmd, "list") == 0 && argc == 1)
		return cmd_list(options);
	if (strcmp(cmd, "show") == 0 && argc == 2)
		return cmd_show(options, argv[1]);
	if (strcmp(cmd, "delete") == 0 && argc == 2)
		return cmd_delete(options, argv[1]);
	if (!*cmd)
		return usage_error("firmware: no subcommand given");
	return usage_error(NULL);
}
