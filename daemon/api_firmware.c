/* api_firmware: POST/GET /api/v1/firmware, GET/DELETE /api/v1/firmware/{id}: the firmware store. See firmware.h.
 *
 * POST takes the file as the body (application/octet-stream) or as the "file" part of a multipart/form-data body
 * (multipart.h), with its parameters in the query or as form fields. The import runs on the thread pool
 * (firmware_import_start()) and the request is answered when it is done (http_defer()). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "campaigns.h"
#include "events.h"
#include "firmware.h"
#include "log.h"
#include "multipart.h"
#include "nodes.h"
#include "package.h"
#include "util.h"

#define FIRMWARE_LIST_DEFAULT 100
#define FIRMWARE_LIST_MAX 1000

/* The import's parameters: the same names in the query and as form fields (docs/api.md, POST /api/v1/firmware). */
static const char *const import_fields[] = {
	"format", "company_id", "firmware_id", "metadata", "region_start", "version", "core_type", "elements",
	"composition_hash", "composition_from", NULL,
};

/* Where the parameters come from: the query and, for a form, its fields. */
struct params {
	const struct http_request *req;
	const struct multipart_form *form;      /* NULL without a form */
};

/* One import from its request to its answer. */
struct import_request {
	struct api *api;
	struct http_deferred *deferred;         /* NULL when answered at once */
	struct multipart_form form;             /* the file part's bytes when the body was a form */
	size_t body_len;
	uint8_t fwid[FIRMWARE_FWID_MAX];
	uint8_t metadata[FIRMWARE_METADATA_MAX];
	char imported_by[FIRMWARE_IMPORTED_BY_MAX];
};

/* The value of parameter @name: the query's, else the form's (an empty form field counts as absent: it is what a
 * browser sends for an input left blank). */
static const char *param(const struct params *p, const char *name)
{
	const char *v = http_query(p->req, name);

	if (!v && p->form) {
		v = multipart_field(p->form, name);
		if (v && !*v)
			v = NULL;
	}
	return v;
}

/* A field given both ways must say the same. Returns 0, or -EINVAL after answering 400. */
static int params_agree(const struct params *p, struct http_response *res)
{
	for (size_t i = 0; p->form && i < p->form->n_fields; i++) {
		const struct multipart_field *f = &p->form->fields[i];
		const char *q = http_query(p->req, f->name);

		if (q && f->len && strcmp(q, f->value) != 0) {
			http_reply_error(res, 400, "invalid_parameter", "'%s' is given as a query parameter ('%s') and "
					 "as a form field ('%s') with different values: give it once", f->name, q,
					 f->value);
			return -EINVAL;
		}
	}
	return 0;
}

/* Decodes a hex parameter of @min..@max bytes into @out. Returns the length (0: absent), or -EINVAL after
 * answering. */
static long param_hex(const struct params *p, const char *name, size_t min, size_t max, uint8_t *out,
		      struct http_response *res)
{
	const char *text = param(p, name);
	size_t len;

	if (!text)
		return 0;
	len = strlen(text);
	if (len % 2 || len / 2 < min || len / 2 > max || hex_decode(text, len, out) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "%s='%.40s%s': expected %zu to %zu bytes in hex (%zu to "
				 "%zu digits)", name, text, len > 40 ? "..." : "", min, max, 2 * min, 2 * max);
		return -EINVAL;
	}
	return (long)(len / 2);
}

/* composition_from=ADDR: the node's recorded Composition Data page 0 gives the hash and the element count. */
static int composition_from_node(struct api *api, const char *text, struct firmware_import *in,
				 struct http_response *res)
{
	uint8_t page[MA_PAYLOAD_MAX];
	struct ma_comp0 comp;
	uint16_t address;
	size_t len = 0;
	int r;

	if (parse_unicast(text, &address) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "composition_from='%s': expected a node's unicast "
				 "address 1 .. 0x7FFF", text);
		return -EINVAL;
	}
	r = nodes_get_composition(api->db, address, page, sizeof(page), &len);
	if (r == -ENOENT) {
		http_reply_error(res, 400, "invalid_parameter", "composition_from=%s: no node 0x%04X", text, address);
		return -EINVAL;
	}
	if (r == -ENODATA || r == -EOVERFLOW || (r == 0 && ma_comp0_parse(page, len, &comp) != MA_OK)) {
		http_reply_error(res, 400, "invalid_parameter", "composition_from=%s: node 0x%04X has no readable "
				 "Composition Data recorded: refresh it (POST /api/v1/nodes/refresh) or give "
				 "composition_hash and elements", text, address);
		return -EINVAL;
	}
	if (r < 0) {
		api_reply_db_error(res, r);
		return r;
	}
	if (package_composition_hash(page, len, &in->composition_hash) < 0) {
		http_reply_error(res, 500, "internal_error", "OpenSSL could not compute the composition hash");
		return -ENOMEM;
	}
	in->elements = comp.element_count;
	return 0;
}

/* core_type, elements, composition_hash / composition_from: the metadata derived in the NCS layout. */
static int metadata_params(struct api *api, const struct params *p, struct firmware_import *in,
			   struct http_response *res)
{
	const char *core = param(p, "core_type"), *elements = param(p, "elements");
	const char *hash = param(p, "composition_hash"), *from = param(p, "composition_from");
	uint64_t v;

	if (!core && !elements && !hash && !from)
		return 0;
	if (hash && from) {
		http_reply_error(res, 400, "invalid_parameter", "give composition_hash or composition_from, not both");
		return -EINVAL;
	}
	if (!hash && !from) {
		http_reply_error(res, 400, "invalid_parameter", "core_type and elements build the firmware metadata "
				 "with a composition hash: add composition_hash (with elements) or composition_from "
				 "(a node whose composition is recorded)");
		return -EINVAL;
	}
	in->derive_metadata = true;
	in->core_type = PACKAGE_CORE_APPLICATION;
	if (core && package_core_type_parse(core, &in->core_type) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "core_type='%s': expected application, network, "
				 "application_blob or a number 0 .. %u (the bits)", core, PACKAGE_CORE_ALL);
		return -EINVAL;
	}
	if (from) {
		if (elements) {
			http_reply_error(res, 400, "invalid_parameter", "composition_from gives the element count: leave "
					 "out elements");
			return -EINVAL;
		}
		return composition_from_node(api, from, in, res);
	}
	if (package_parse_composition_hash(hash, &in->composition_hash) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "composition_hash='%s': expected up to 8 hex digits "
				 "(e.g. 0x7E567089)", hash);
		return -EINVAL;
	}
	if (!elements) {
		http_reply_error(res, 400, "invalid_parameter", "composition_hash needs elements: the node's number of "
				 "elements, 1 .. %d", PACKAGE_ELEMENTS_OPTION_MAX);
		return -EINVAL;
	}
	if (parse_uint(elements, 1, PACKAGE_ELEMENTS_OPTION_MAX, &v) < 0) {
		http_reply_error(res, 400, "invalid_parameter", "elements='%s': expected 1 .. %d", elements,
				 PACKAGE_ELEMENTS_OPTION_MAX);
		return -EINVAL;
	}
	in->elements = (uint16_t)v;
	return 0;
}

/* Reads the import's parameters into @in. Returns 0, or -EINVAL after answering 400. */
static int import_params(struct api *api, const struct params *p, struct firmware_import *in, uint8_t *fwid,
			 uint8_t *metadata, struct http_response *res)
{
	const char *format = param(p, "format"), *company = param(p, "company_id");
	const char *region = param(p, "region_start"), *version = param(p, "version");
	uint64_t v;
	long n;

	*in = (struct firmware_import){ .format = FIRMWARE_FORMAT_AUTO, .company_id = FIRMWARE_DEFAULT_COMPANY_ID,
					.imported_by = "api" };
	if (params_agree(p, res) < 0)
		return -EINVAL;
	if (format) {
		if (strcmp(format, "mcuboot") == 0)
			in->format = FIRMWARE_FORMAT_MCUBOOT;
		else if (strcmp(format, "hex") == 0)
			in->format = FIRMWARE_FORMAT_HEX;
		else if (strcmp(format, "raw") == 0)
			in->format = FIRMWARE_FORMAT_RAW;
		else if (strcmp(format, "zip") == 0)
			in->format = FIRMWARE_FORMAT_ZIP;
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
	n = param_hex(p, "firmware_id", FIRMWARE_FWID_MIN, FIRMWARE_FWID_MAX, fwid, res);
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
	n = param_hex(p, "metadata", 1, FIRMWARE_METADATA_MAX, metadata, res);
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
	if (metadata_params(api, p, in, res) < 0)
		return -EINVAL;
	if (in->metadata && in->derive_metadata) {
		http_reply_error(res, 400, "invalid_parameter", "metadata_conflict: give metadata (the whole field in "
				 "hex) or the fields to derive it from (core_type, composition_hash or composition_from, "
				 "elements), not both");
		return -EINVAL;
	}
	return 0;
}

/* A form's filename may say what the file is when the query does not: an Intel HEX file is text starting with
 * ':', which the content alone does not tell from other text. The content still decides (a .hex that is not HEX
 * text stays unknown; a .bin that is a zip is read as a zip). */
static void format_hint(const struct multipart_form *form, struct firmware_import *in)
{
	size_t n = strlen(form->filename);

	if (in->format == FIRMWARE_FORMAT_AUTO && n > 4 && strcasecmp(form->filename + n - 4, ".hex") == 0 &&
	    form->file_len > 0 && form->file[0] == ':')
		in->format = FIRMWARE_FORMAT_HEX;
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
	case FIRMWARE_REFUSED_PACKAGE:
		http_reply_error(res, 422, "invalid_package", "%s", err->message);
		break;
	}
}

static void reply_store_error(struct http_response *res, int error)
{
	switch (error) {
	case -ENOMEM:
		http_reply_error(res, 500, "internal_error", "out of memory");
		break;
	case -EFBIG:
		http_reply_error(res, 413, "payload_too_large", "the image is larger than %u bytes", FIRMWARE_IMAGE_MAX);
		break;
	case -ENOSPC:
	case -EDQUOT:
		http_reply_error(res, 507, "insufficient_storage", "the disk holding the state directory is full: "
				 "free some space (or delete unused images) and import again");
		break;
	case -ESTALE:
		http_reply_error(res, 409, "conflict", "the image was deleted while it was being imported: import it "
				 "again");
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

/* The event of an image that came or went (docs/api.md, GET /api/v1/events). */
static void publish(struct api *api, const char *action, const struct firmware_record *rec)
{
	char version[40], fwid[2 * FIRMWARE_FWID_MAX + 1];

	firmware_version_format(&rec->version, version, sizeof(version));
	hex_encode(rec->firmware_id, rec->firmware_id_len, fwid);
	events_publish(api->events, EVENT_FIRMWARE, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "action", action,
							      "id", rec->id, "kind",
							      firmware_kind_to_string(rec->kind), "version", version,
							      "firmware_id", fwid, "size", (json_int_t)rec->size,
							      "imported_by", rec->imported_by));
}

static void import_request_free(struct import_request *ir)
{
	if (!ir)
		return;
	multipart_form_done(&ir->form);
	free(ir);
}

/* The import's answer, on the loop thread (from firmware_import_start(), or at once). */
static void import_answer(struct import_request *ir, int r, const struct firmware_record *rec, bool created,
			  const struct firmware_error *err, struct http_response *res)
{
	char version[40];

	if (r == -EBADMSG) {
		log_notice("firmware import of %zu bytes refused: %s: %s", ir->body_len, err->reason, err->message);
		reply_refusal(res, err);
		return;
	}
	if (r < 0) {
		if (r == -EFBIG || r == -ESTALE)
			log_notice("firmware import of %zu bytes refused: %s", ir->body_len, strerror(-r));
		else
			log_err("firmware import of %zu bytes: cannot store it: %s", ir->body_len, strerror(-r));
		reply_store_error(res, r);
		return;
	}
	firmware_version_format(&rec->version, version, sizeof(version));
	if (created) {
		log_info("firmware %s imported by '%s': %s %s, %llu bytes, %s%s", rec->id, rec->imported_by,
			 firmware_kind_to_string(rec->kind), version, (unsigned long long)rec->size,
			 rec->signature_key[0] ? "signed by " : "unsigned", rec->signature_key);
		publish(ir->api, "imported", rec);
	}
	http_reply_json(res, created ? 201 : 200, firmware_record_to_json(rec));
	if (created)
		snprintf(res->location, sizeof(res->location), "/api/v1/firmware/%s", rec->id);
}

static void on_imported(void *userdata, int r, const struct firmware_record *rec, bool created,
			const struct firmware_error *err)
{
	struct import_request *ir = userdata;
	struct http_response res = { .status = 500, .fd = -1 };

	import_answer(ir, r, rec, created, err, &res);
	http_deferred_reply(ir->deferred, &res);
	import_request_free(ir);
}

/* Reads a multipart/form-data body into @ir->form. Returns 0, or a negative errno after answering. */
static int read_form(const struct http_request *req, struct import_request *ir, struct http_response *res)
{
	static const struct multipart_limits limits = {
		.file_field = "file", .file_max = FIRMWARE_IMAGE_MAX, .fields = import_fields,
	};
	struct multipart_error err;
	int r;

	r = multipart_parse(req->conn, req->body ? req->body : "", req->body_len, &limits, &ir->form, &err);
	if (r == -ENOMEM)
		http_reply_error(res, 500, "internal_error", "out of memory");
	else if (r == -EFBIG)
		http_reply_error(res, 413, "payload_too_large", "%s: %s", err.reason, err.message);
	else if (r < 0)
		http_reply_error(res, 400, "invalid_form", "%s: %s", err.reason, err.message);
	if (r < 0 && r != -ENOMEM)
		log_notice("firmware import: a %zu-byte form refused: %s: %s", req->body_len, err.reason, err.message);
	return r;
}

void api_firmware_import(void *app, const struct http_request *req, struct http_response *res)
{
	struct api *api = app;
	struct import_request *ir = calloc(1, sizeof(*ir));
	struct firmware_error *err = NULL;
	struct firmware_record *rec = NULL;
	struct params p = { .req = req };
	struct firmware_import in;
	const uint8_t *data;
	size_t len;
	bool created = false;
	int r;

	if (!ir) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	}
	ir->api = api;
	ir->body_len = req->body_len;
	if (multipart_is_form(http_header(req, "Content-Type"))) {
		if (read_form(req, ir, res) < 0)
			goto out;
		p.form = &ir->form;
	}
	if (import_params(api, &p, &in, ir->fwid, ir->metadata, res) < 0)
		goto out;
	snprintf(ir->imported_by, sizeof(ir->imported_by), "%s", req->principal.name[0] ? req->principal.name : "api");
	in.imported_by = ir->imported_by;
	if (p.form) {
		format_hint(p.form, &in);
		data = ir->form.file ? ir->form.file : (const uint8_t *)"";
		len = ir->form.file_len;
	} else {
		data = req->body ? (const uint8_t *)req->body : (const uint8_t *)"";
		len = req->body_len;
	}
	if (len > FIRMWARE_IMAGE_MAX) {
		http_reply_error(res, 413, "payload_too_large", "the image is %zu bytes, over the limit of %u bytes",
				 len, FIRMWARE_IMAGE_MAX);
		goto out;
	}
	ir->deferred = http_defer(req, res);
	if (ir->deferred) {
		r = firmware_import_start(api->firmware, api->loop, data, len, &in, on_imported, ir);
		if (r == 0)
			return;         /* on_imported() answers */
		/* @res belongs to http now: the answer goes through the deferred reply. */
		struct http_response later = { .status = 500, .fd = -1 };

		log_err("firmware import: cannot queue the work: %s", r == -ENOMEM ? "out of memory" : uv_strerror(r));
		http_reply_error(&later, 500, "internal_error", "cannot start the import: %s",
				 r == -ENOMEM ? "out of memory" : uv_strerror(r));
		http_deferred_reply(ir->deferred, &later);
		goto out;
	}
	/* No memory to defer the answer: import on the loop thread, as a last resort. */
	rec = malloc(sizeof(*rec));
	err = malloc(sizeof(*err));
	if (!rec || !err) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		goto out;
	}
	r = firmware_import(api->firmware, data, len, &in, rec, &created, err);
	import_answer(ir, r, rec, created, err, res);
out:
	free(rec);
	free(err);
	import_request_free(ir);
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
	const char *cursor = http_query(req, "cursor");
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
	if (api_query_uint(req, "limit", 1, FIRMWARE_LIST_MAX, &limit, NULL, res) < 0)
		goto out;
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
		api_reply_list_error(res, r);
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
	struct firmware_record *rec;
	char id[FIRMWARE_ID_HEX + 1];
	int r;

	if (!path_id(req, id, res))
		return;
	rec = malloc(sizeof(*rec));
	if (!rec) {
		http_reply_error(res, 500, "internal_error", "out of memory");
		return;
	}
	/* What the event says of the image; the delete itself decides whether it is there. */
	r = firmware_get(api->firmware, id, rec);
	if (r == 0)
		r = firmware_delete(api->firmware, id);
	if (r == -ENOENT) {
		http_reply_error(res, 404, "not_found", "no firmware %s", id);
		goto out;
	}
	if (r == -EBUSY) {
		int64_t campaign = 0;

		(void)campaigns_using_firmware(api->db, id, &campaign);
		http_reply_error(res, 409, "firmware_in_use", "firmware %s is the image of campaign %lld, which is "
				 "not finished: cancel the campaign (or let it end) before deleting the image", id,
				 (long long)campaign);
		goto out;
	}
	if (r < 0) {
		api_reply_db_error(res, r);
		goto out;
	}
	log_info("firmware %s deleted by '%s'", id, req->principal.name[0] ? req->principal.name : "api");
	publish(api, "deleted", rec);
	http_reply_text(res, 204, NULL, NULL, 0);
out:
	free(rec);
}
