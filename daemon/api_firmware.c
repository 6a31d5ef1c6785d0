/* api_firmware: POST/GET /api/v1/firmware, GET/DELETE /api/v1/firmware/{id}: the firmware store. See firmware.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "firmware.h"
#include "log.h"
#include "package.h"
#include "util.h"

#define FIRMWARE_LIST_DEFAULT 100
#define FIRMWARE_LIST_MAX 1000

/* Decodes a hex query parameter of @min..@max bytes into @out. Returns the length, or -EINVAL after answering. */
static long query_hex(const struct http_request *req, const char *name, size_t min, size_t max, uint8_t *out,
		      struct http_response *res)
{
	const char *text = http_query(req, name);
	size_t len;

	if (!text)
		return 0;
	len = strlen(text);
	if (len % 2 || len / 2 < min || len / 2 > max || hex_decode(text, len, out) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "%s='%s': expected %zu to %zu bytes in hex (%zu to %zu "
				 "digits)", name, text, min, max, 2 * min, 2 * max);
		return -EINVAL;
	}
	return (long)(len / 2);
}

/* Reads the import's query parameters into @in. Returns 0, or -EINVAL after answering 400. */
static int import_params(const struct http_request *req, struct firmware_import *in, uint8_t *fwid,
			 uint8_t *metadata, struct http_response *res)
{
	const char *format = http_query(req, "format"), *company = http_query(req, "company_id");
	const char *region = http_query(req, "region_start"), *version = http_query(req, "version");
	uint64_t v;
	long n;

	*in = (struct firmware_import){ .format = FIRMWARE_FORMAT_AUTO, .company_id = FIRMWARE_DEFAULT_COMPANY_ID,
					.imported_by = "api" };
	if (format) {
		if (strcmp(format, "mcuboot") == 0)
			in->format = FIRMWARE_FORMAT_MCUBOOT;
		else if (strcmp(format, "hex") == 0)
			in->format = FIRMWARE_FORMAT_HEX;
		else if (strcmp(format, "raw") == 0)
			in->format = FIRMWARE_FORMAT_RAW;
		else if (strcmp(format, "zip") == 0)
			in->format = FIRMWARE_FORMAT_MCUBOOT;   /* the package's application image; see unpack() */
		else {
			http_reply_error(res, 400, "invalid_parameter", "format='%s': expected mcuboot, hex, raw or zip",
					 format);
			return -EINVAL;
		}
	}
	if (company) {
		if (parse_uint(company, 0, 0xffff, &v) < 0) {
			http_reply_error(res, 400, "invalid_parameter", "company_id='%s': expected an integer from 0 to "
					 "65535 (0x0059 is Nordic Semiconductor)", company);
			return -EINVAL;
		}
		in->company_id = (uint16_t)v;
	}
	n = query_hex(req, "firmware_id", FIRMWARE_FWID_MIN, FIRMWARE_FWID_MAX, fwid, res);
	if (n < 0)
		return -EINVAL;
	if (n > 0) {
		if (company) {
			http_reply_error(res, 400, "invalid_parameter", "give company_id or firmware_id, not both: "
					 "firmware_id already starts with the company id");
			return -EINVAL;
		}
		in->firmware_id = fwid;
		in->firmware_id_len = (size_t)n;
	}
	n = query_hex(req, "metadata", 1, FIRMWARE_METADATA_MAX, metadata, res);
	if (n < 0)
		return -EINVAL;
	if (n > 0) {
		in->metadata = metadata;
		in->metadata_len = (size_t)n;
	}
	if (region) {
		if (parse_uint(region, 0, UINT32_MAX, &v) < 0) {
			http_reply_error(res, 400, "invalid_parameter", "region_start='%s': expected an address such as "
					 "0x27000", region);
			return -EINVAL;
		}
		in->has_region_start = true;
		in->region_start = (uint32_t)v;
	}
	if (version) {
		if (firmware_version_parse(version, &in->version) < 0) {
			http_reply_error(res, 400, "invalid_parameter", "version='%s': expected MAJOR.MINOR.REVISION+BUILD "
					 "such as 1.2.3+4 (major and minor up to 255, revision up to 65535)", version);
			return -EINVAL;
		}
		in->has_version = true;
	}
	return 0;
}

static void reply_refusal(struct http_response *res, const struct firmware_error *err)
{
	switch (err->refusal) {
	case FIRMWARE_REFUSED_NONE:
	case FIRMWARE_REFUSED_PARAMETER:
		http_reply_error(res, 400, "invalid_parameter", "%s: %s", err->reason, err->message);
		break;
	case FIRMWARE_REFUSED_FORMAT:
		http_reply_error(res, 422, "unsupported_image", "%s: %s", err->reason, err->message);
		break;
	case FIRMWARE_REFUSED_IMAGE:
		http_reply_error(res, 422, "invalid_image", "%s: %s", err->reason, err->message);
		break;
	case FIRMWARE_REFUSED_TRUST:
		http_reply_error(res, 422, "untrusted_image", "%s: %s", err->reason, err->message);
		break;
	case FIRMWARE_REFUSED_HEX:
		http_reply_error(res, 422, "invalid_hex", "%s: %s", err->reason, err->message);
		break;
	case FIRMWARE_REFUSED_REGION:
		http_reply_error(res, 422, "wrong_region", "%s: %s", err->reason, err->message);
		break;
	}
}

static void reply_store_error(struct http_response *res, int error)
{
	switch (error) {
	case -ENOMEM:
		http_reply_error(res, 500, "internal_error", "out of memory");
		break;
	case -ENOSPC:
	case -EDQUOT:
		http_reply_error(res, 507, "insufficient_storage", "the disk holding the state directory is full: "
				 "free some space (or delete unused images) and import again");
		break;
	case -EBUSY:
		api_reply_db_error(res, error);
		break;
	default:
		http_reply_error(res, 500, "internal_error", "cannot store the image: %s; the daemon's log says more",
				 strerror(-error));
		break;
	}
}

/* An nRF Connect SDK dfu_application.zip (format=zip, or a body that starts like a zip without a format): what is
 * stored is its application image, with the firmware ID and metadata the package gives unless the query gives them.
 * The signature is checked by firmware_import() with the trusted keys, like any MCUboot image. Returns 0 (with
 * @pkg to free), 1 when the body is no package, or -EBADMSG after answering 422. */
static int unpack(const struct http_request *req, struct firmware_import *in, struct package *pkg,
		  struct http_response *res)
{
	const char *format = http_query(req, "format");
	bool zip = format ? strcmp(format, "zip") == 0 :
		   req->body && req->body_len >= 4 && memcmp(req->body, "PK\3\4", 4) == 0;
	char err[512];
	int r;

	if (!zip)
		return 1;
	r = package_open(req->body ? req->body : "", req->body ? req->body_len : 0, NULL, pkg, err, sizeof(err));
	if (r < 0) {
		log_notice("firmware import of a %zu-byte package refused: %s", req->body_len, err);
		http_reply_error(res, 422, "invalid_package", "%s", r == -ENOMEM ? "out of memory" : err);
		return -EBADMSG;
	}
	if (!in->firmware_id) {
		in->firmware_id = pkg->firmware_id;
		in->firmware_id_len = pkg->firmware_id_len;
	}
	if (!in->metadata && pkg->metadata_len) {
		in->metadata = pkg->metadata;
		in->metadata_len = pkg->metadata_len;
	}
	return 0;
}

void api_firmware_import(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	uint8_t fwid[FIRMWARE_FWID_MAX], metadata[FIRMWARE_METADATA_MAX];
	struct firmware_record *rec = malloc(sizeof(*rec));
	struct firmware_error *err = malloc(sizeof(*err));
	struct firmware_import in;
	struct package pkg = { 0 };
	const uint8_t *image;
	size_t image_len;
	char version[40];
	bool created = false;
	int r;

	if (!rec || !err) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		goto out;
	}
	if (import_params(req, &in, fwid, metadata, res) < 0)
		goto out;
	r = unpack(req, &in, &pkg, res);
	if (r < 0)
		goto out;
	image = r == 0 ? pkg.image : (const uint8_t *)req->body;
	image_len = r == 0 ? pkg.image_len : req->body ? req->body_len : 0;
	r = firmware_import(api->firmware, image, image_len, &in, rec, &created, err);
	if (r == -EBADMSG) {
		log_notice("firmware import of %zu bytes refused: %s: %s", req->body_len, err->reason, err->message);
		reply_refusal(res, err);
		goto out;
	}
	if (r < 0) {
		log_err("firmware import of %zu bytes: cannot store it: %s", req->body_len, strerror(-r));
		reply_store_error(res, r);
		goto out;
	}
	firmware_version_format(&rec->version, version, sizeof(version));
	if (created)
		log_info("firmware %s imported by %s: %s %s, %llu bytes, %s%s", rec->id, rec->imported_by,
			 firmware_kind_to_string(rec->kind), version, (unsigned long long)rec->size,
			 rec->signature_key[0] ? "signed by " : "unsigned", rec->signature_key);
	http_reply_json(res, created ? 201 : 200, firmware_record_to_json(rec));
	if (created)
		snprintf(res->location, sizeof(res->location), "/api/v1/firmware/%s", rec->id);
out:
	package_free(&pkg);
	free(rec);
	free(err);
}

struct list_state {
	json_t *items;
	int64_t last_time;
	char last_id[FIRMWARE_ID_HEX + 1];
};

static int list_one(const struct firmware_record *rec, void *userdata)
{
	struct list_state *st = userdata;

	if (json_array_append_new(st->items, firmware_record_to_json(rec)) < 0)
		return -ENOMEM;
	st->last_time = rec->imported_at;
	memcpy(st->last_id, rec->id, sizeof(st->last_id));
	return 0;
}

void api_firmware_list(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	const char *limit_text = http_query(req, "limit"), *cursor = http_query(req, "cursor");
	struct list_state st = { .items = json_array() };
	char after_id[FIRMWARE_ID_HEX + 1] = "";
	uint64_t limit = FIRMWARE_LIST_DEFAULT, after_time = 0;
	char next[FIRMWARE_ID_HEX + 32];
	bool more = false;
	int r;

	if (!st.items) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	}
	if (limit_text && parse_uint(limit_text, 1, FIRMWARE_LIST_MAX, &limit) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "limit='%s': expected an integer from 1 to %d",
				 limit_text, FIRMWARE_LIST_MAX);
		goto out;
	}
	if (cursor) {
		/* "f" + imported_at + "." + id of the last record returned; clients treat it as opaque. */
		const char *dot = strchr(cursor, '.');
		char number[24];

		if (cursor[0] != 'f' || !dot || (size_t)(dot - cursor - 1) >= sizeof(number) ||
		    strlen(dot + 1) != FIRMWARE_ID_HEX) {
			http_reply_error(res, 400, "invalid_parameter", "cursor='%s' is not a cursor this server "
					 "returned", cursor);
			goto out;
		}
		memcpy(number, cursor + 1, (size_t)(dot - cursor - 1));
		number[dot - cursor - 1] = '\0';
		memcpy(after_id, dot + 1, sizeof(after_id));
		if (parse_uint(number, 0, INT64_MAX, &after_time) < 0 || !firmware_id_valid(after_id)) {
			http_reply_error(res, 400, "invalid_parameter", "cursor='%s' is not a cursor this server "
					 "returned", cursor);
			goto out;
		}
	}
	r = firmware_list(api->firmware, (int64_t)after_time, cursor ? after_id : NULL, (unsigned)limit, list_one,
			  &st, &more);
	if (r < 0) {
		if (r == -ENOMEM)
			http_reply_error(res, 500, "internal_error", "out of memory");
		else
			api_reply_db_error(res, r);
		goto out;
	}
	snprintf(next, sizeof(next), "f%lld.%s", (long long)st.last_time, st.last_id);
	http_reply_json(res, 200, json_pack("{s:O, s:o}", "firmware", st.items,
					    "next_cursor", more ? json_string(next) : json_null()));
out:
	json_decref(st.items);
}

/* The {id} segment in lower case; false after answering 400 when it is not a SHA-256 in hex. */
static bool path_id(const struct http_request *req, char id[FIRMWARE_ID_HEX + 1], struct http_response *res)
{
	size_t i;

	for (i = 0; req->params[0][i] && i < FIRMWARE_ID_HEX; i++)
		id[i] = (char)tolower((unsigned char)req->params[0][i]);
	id[i] = '\0';
	if (req->params[0][i] != '\0' || !firmware_id_valid(id)) {
		http_reply_error(res, 400, "invalid_parameter", "'%s' is not a firmware id: the image's SHA-256 in "
				 "hex (64 digits)", req->params[0]);
		return false;
	}
	return true;
}

void api_firmware_get(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct firmware_record *rec = malloc(sizeof(*rec));
	char id[FIRMWARE_ID_HEX + 1];
	int r;

	if (!rec) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	}
	if (path_id(req, id, res)) {
		r = firmware_get(api->firmware, id, rec);
		if (r == -ENOENT)
			http_reply_error(res, 404, "not_found", "no firmware %s", id);
		else if (r < 0)
			api_reply_db_error(res, r);
		else
			http_reply_json(res, 200, firmware_record_to_json(rec));
	}
	free(rec);
}

void api_firmware_delete(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	char id[FIRMWARE_ID_HEX + 1];
	int r;

	if (!path_id(req, id, res))
		return;
	r = firmware_delete(api->firmware, id);
	if (r == -ENOENT) {
		http_reply_error(res, 404, "not_found", "no firmware %s", id);
		return;
	}
	if (r < 0) {
		api_reply_db_error(res, r);
		return;
	}
	log_info("firmware %s deleted", id);
	http_reply_text(res, 204, NULL, NULL, 0);
}
