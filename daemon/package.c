/* package: nRF Connect SDK dfu_application.zip, see package.h and docs/firmware.md "nRF Connect SDK packages". */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <zip.h>

#include "package.h"

#define MANIFEST_NAME "manifest.json"
#define MESH_METADATA_NAME "ble_mesh_metadata.json"

__attribute__((format(printf, 3, 4)))
static int fail(char *err, size_t err_len, const char *fmt, ...)
{
	va_list ap;

	if (err && err_len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -EBADMSG;
}

static void version_str(const struct mcuboot_version *v, char *out, size_t out_len)
{
	snprintf(out, out_len, "%u.%u.%u+%" PRIu32, v->major, v->minor, v->revision, v->build);
}

static bool version_equal(const struct mcuboot_version *a, const struct mcuboot_version *b)
{
	return a->major == b->major && a->minor == b->minor && a->revision == b->revision && a->build == b->build;
}

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	put_le16(p, (uint16_t)v);
	put_le16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* --- the NCS layouts --- */

static size_t encode_version(const struct mcuboot_version *v, uint8_t *out)
{
	out[0] = v->major;
	out[1] = v->minor;
	put_le16(out + 2, v->revision);
	put_le32(out + 4, v->build);
	return 8;
}

size_t package_encode_fwid(uint16_t company_id, const struct mcuboot_version *v, uint8_t *out)
{
	put_le16(out, company_id);
	return 2 + encode_version(v, out + 2);
}

size_t package_encode_metadata(const struct mcuboot_version *v, uint32_t size, uint8_t core_type,
			       uint32_t composition_hash, uint16_t elements, uint8_t *out)
{
	encode_version(v, out);
	out[8] = (uint8_t)size;
	out[9] = (uint8_t)(size >> 8);
	out[10] = (uint8_t)(size >> 16);
	out[11] = core_type;
	put_le32(out + 12, composition_hash);
	put_le16(out + 16, elements);
	return PACKAGE_NCS_METADATA_LEN;
}

static int parse_u32(const char **p, uint32_t max, uint32_t *ret)
{
	uint64_t v = 0;
	const char *s = *p;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > max)
			return -EINVAL;
		s++;
	}
	*p = s;
	*ret = (uint32_t)v;
	return 0;
}

int package_parse_version(const char *s, struct mcuboot_version *ret)
{
	uint32_t major, minor, revision = 0, build = 0;

	if (!s || parse_u32(&s, UINT8_MAX, &major) < 0 || *s++ != '.' || parse_u32(&s, UINT8_MAX, &minor) < 0)
		return -EINVAL;
	if (*s == '.') {
		s++;
		if (parse_u32(&s, UINT16_MAX, &revision) < 0)
			return -EINVAL;
		if (*s == '+') {
			s++;
			if (parse_u32(&s, UINT32_MAX, &build) < 0)
				return -EINVAL;
		}
	}
	if (*s != '\0')
		return -EINVAL;
	ret->major = (uint8_t)major;
	ret->minor = (uint8_t)minor;
	ret->revision = (uint16_t)revision;
	ret->build = build;
	return 0;
}

static int hex_decode(const char *s, uint8_t *out, size_t max, size_t *ret_len)
{
	size_t n = strlen(s);

	if (n % 2 != 0 || n / 2 > max)
		return -EINVAL;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v = 0;
		for (int k = 0; k < 2; k++) {
			char c = s[2 * i + (size_t)k];
			v <<= 4;
			if (c >= '0' && c <= '9')
				v |= (unsigned)(c - '0');
			else if (c >= 'a' && c <= 'f')
				v |= (unsigned)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F')
				v |= (unsigned)(c - 'A' + 10);
			else
				return -EINVAL;
		}
		out[i] = (uint8_t)v;
	}
	*ret_len = n / 2;
	return 0;
}

/* --- JSON helpers: every refusal names the file and the key --- */

static json_t *load_json(const char *what, const char *json, size_t len, char *err, size_t err_len)
{
	json_error_t jerr;
	json_t *root;

	if (len > PACKAGE_JSON_MAX) {
		fail(err, err_len, "%s is %zu bytes, more than the %u allowed", what, len, PACKAGE_JSON_MAX);
		return NULL;
	}
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		fail(err, err_len, "%s is not JSON: line %d column %d: %s", what, jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		fail(err, err_len, "%s is not a JSON object", what);
		return NULL;
	}
	return root;
}

/* An integer in [0, max]; absent is -ENOENT (the caller decides whether that is an error). */
static int get_uint(const char *what, json_t *obj, const char *key, uint64_t max, uint64_t *ret, char *err,
		    size_t err_len)
{
	json_t *v = json_object_get(obj, key);
	json_int_t i;

	if (!v)
		return -ENOENT;
	if (!json_is_integer(v))
		return fail(err, err_len, "%s: \"%s\" is not an integer", what, key);
	i = json_integer_value(v);
	if (i < 0 || (uint64_t)i > max)
		return fail(err, err_len, "%s: \"%s\" = %" JSON_INTEGER_FORMAT " is out of range (0-%" PRIu64 ")",
			    what, key, i, max);
	*ret = (uint64_t)i;
	return 0;
}

static int get_string(const char *what, json_t *obj, const char *key, char *out, size_t out_len, char *err,
		      size_t err_len)
{
	json_t *v = json_object_get(obj, key);
	size_t n;

	if (!v || json_is_null(v))
		return -ENOENT;
	if (!json_is_string(v))
		return fail(err, err_len, "%s: \"%s\" is not a string", what, key);
	n = json_string_length(v);
	if (n >= out_len || strlen(json_string_value(v)) != n)
		return fail(err, err_len, "%s: \"%s\" is longer than %zu bytes or holds a NUL", what, key, out_len - 1);
	memcpy(out, json_string_value(v), n + 1);
	return 0;
}

/* NCS writes image_index and the slots as strings of digits ("0"); integers are taken too. */
static int get_index(const char *what, json_t *obj, const char *key, int *ret, char *err, size_t err_len)
{
	json_t *v = json_object_get(obj, key);
	uint32_t n;
	const char *s;

	*ret = -1;
	if (!v)
		return 0;
	if (json_is_integer(v)) {
		uint64_t u;
		int rc = get_uint(what, obj, key, 255, &u, err, err_len);
		if (rc < 0)
			return rc;
		*ret = (int)u;
		return 0;
	}
	if (!json_is_string(v))
		return fail(err, err_len, "%s: \"%s\" is neither a string of digits nor an integer", what, key);
	s = json_string_value(v);
	if (parse_u32(&s, 255, &n) < 0 || *s != '\0')
		return fail(err, err_len, "%s: \"%s\" = \"%s\" is not a number from 0 to 255", what, key,
			    json_string_value(v));
	*ret = (int)n;
	return 0;
}

/* --- manifest.json --- */

static int parse_image(json_t *o, size_t i, struct package_image *img, char *err, size_t err_len)
{
	char what[64];
	uint64_t u;
	int rc;

	snprintf(what, sizeof(what), "manifest.json files[%zu]", i);
	memset(img, 0, sizeof(*img));
	if (!json_is_object(o))
		return fail(err, err_len, "%s is not an object", what);
	rc = get_string(what, o, "file", img->file, sizeof(img->file), err, err_len);
	if (rc == -ENOENT)
		return fail(err, err_len, "%s has no \"file\"", what);
	if (rc < 0)
		return rc;
	if ((rc = get_string(what, o, "type", img->type, sizeof(img->type), err, err_len)) < 0 && rc != -ENOENT)
		return rc;
	if ((rc = get_string(what, o, "board", img->board, sizeof(img->board), err, err_len)) < 0 && rc != -ENOENT)
		return rc;
	if ((rc = get_string(what, o, "soc", img->soc, sizeof(img->soc), err, err_len)) < 0 && rc != -ENOENT)
		return rc;
	if ((rc = get_index(what, o, "image_index", &img->image_index, err, err_len)) < 0 ||
	    (rc = get_index(what, o, "slot_index_primary", &img->slot_primary, err, err_len)) < 0 ||
	    (rc = get_index(what, o, "slot_index_secondary", &img->slot_secondary, err, err_len)) < 0)
		return rc;
	rc = get_uint(what, o, "load_address", UINT32_MAX, &u, err, err_len);
	if (rc == 0) {
		img->has_load_address = true;
		img->load_address = (uint32_t)u;
	} else if (rc != -ENOENT) {
		return rc;
	}
	rc = get_uint(what, o, "size", PACKAGE_ENTRY_MAX, &u, err, err_len);
	if (rc == -ENOENT)
		return fail(err, err_len, "%s (\"%s\") has no \"size\"", what, img->file);
	if (rc < 0)
		return rc;
	img->size = u;
	rc = get_string(what, o, "version_MCUBOOT", img->version, sizeof(img->version), err, err_len);
	if (rc == 0) {
		if (package_parse_version(img->version, &img->mcuboot_version) < 0)
			return fail(err, err_len, "%s: \"version_MCUBOOT\" = \"%s\" is not major.minor.revision+build",
				    what, img->version);
		img->has_mcuboot_version = true;
	} else if (rc == -ENOENT) {
		/* the net core's entry says "version": "1" instead (format-version 0 and 1 alike) */
		rc = get_string(what, o, "version", img->version, sizeof(img->version), err, err_len);
		if (rc < 0 && rc != -ENOENT)
			return rc;
	} else {
		return rc;
	}
	return 0;
}

int package_manifest_parse(const char *json, size_t len, struct package_manifest *ret, char *err, size_t err_len)
{
	struct package_manifest *m;
	json_t *root, *files;
	uint64_t fv;
	size_t i, n, app = SIZE_MAX;
	int rc;

	root = load_json("manifest.json", json, len, err, err_len);
	if (!root)
		return len > PACKAGE_JSON_MAX ? -EFBIG : -EBADMSG;
	m = calloc(1, sizeof(*m));
	if (!m) {
		json_decref(root);
		return -ENOMEM;
	}
	rc = get_uint("manifest.json", root, "format-version", INT32_MAX, &fv, err, err_len);
	if (rc == -ENOENT)
		rc = fail(err, err_len, "manifest.json has no \"format-version\"");
	if (rc < 0)
		goto out;
	if (fv > 1) {
		rc = fail(err, err_len, "manifest.json \"format-version\" %" PRIu64 " is unknown (0 and 1 are read)", fv);
		goto out;
	}
	m->format_version = (int)fv;
	if ((rc = get_string("manifest.json", root, "name", m->name, sizeof(m->name), err, err_len)) < 0 &&
	    rc != -ENOENT)
		goto out;
	files = json_object_get(root, "files");
	if (!json_is_array(files) || json_array_size(files) == 0) {
		rc = fail(err, err_len, "manifest.json has no \"files\" list, or it is empty");
		goto out;
	}
	n = json_array_size(files);
	if (n > PACKAGE_IMAGES_MAX) {
		rc = fail(err, err_len, "manifest.json lists %zu images, more than the %d allowed", n,
			  PACKAGE_IMAGES_MAX);
		rc = -EFBIG;
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((rc = parse_image(json_array_get(files, i), i, &m->images[i], err, err_len)) < 0)
			goto out;
		for (size_t k = 0; k < i; k++) {
			if (strcmp(m->images[k].file, m->images[i].file) == 0) {
				rc = fail(err, err_len, "manifest.json lists \"%s\" twice", m->images[i].file);
				goto out;
			}
			if (m->images[i].image_index >= 0 && m->images[k].image_index == m->images[i].image_index) {
				rc = fail(err, err_len, "manifest.json gives image_index %d to both \"%s\" and \"%s\"",
					  m->images[i].image_index, m->images[k].file, m->images[i].file);
				goto out;
			}
		}
		if (m->images[i].image_index == 0)
			app = i;
	}
	m->n_images = n;
	/* a manifest without image_index (single-image builds of old NCS) has its one image as the application */
	if (app == SIZE_MAX && n == 1 && m->images[0].image_index < 0)
		app = 0;
	if (app == SIZE_MAX) {
		rc = fail(err, err_len, "manifest.json has no application image (image_index \"0\")");
		goto out;
	}
	if (!m->images[app].has_mcuboot_version) {
		rc = fail(err, err_len, "manifest.json: the application \"%s\" has no \"version_MCUBOOT\"",
			  m->images[app].file);
		goto out;
	}
	m->app = app;
	*ret = *m;
	rc = 0;
out:
	free(m);
	json_decref(root);
	return rc;
}

/* --- ble_mesh_metadata.json --- */

/* Composition Data Page 0 built from the JSON's composition_data, see composition_hash(). On success *ret_page is
 * malloc'd: the caller frees it. */
static int composition_page(json_t *comp, uint8_t **ret_page, size_t *ret_len, uint16_t *ret_cid,
			    uint16_t *ret_elements, char *err, size_t err_len)
{
	static const char what[] = "ble_mesh_metadata.json composition_data";
	static const char *const header[] = { "cid", "pid", "vid", "crpl", "features" };
	uint8_t *page = NULL;
	size_t len = 0, cap;
	json_t *elements;
	uint64_t u;
	int rc;

	if (!json_is_object(comp))
		return fail(err, err_len, "%s is not an object", what);
	elements = json_object_get(comp, "elements");
	if (!json_is_array(elements) || json_array_size(elements) == 0)
		return fail(err, err_len, "%s has no \"elements\" list, or it is empty", what);
	if (json_array_size(elements) > PACKAGE_ELEMENTS_MAX)
		return fail(err, err_len, "%s has %zu elements, more than the %d allowed", what,
			    json_array_size(elements), PACKAGE_ELEMENTS_MAX);
	cap = 10 + json_array_size(elements) * (4 + 4 * PACKAGE_MODELS_MAX);
	page = malloc(cap);
	if (!page)
		return -ENOMEM;
	for (size_t i = 0; i < 5; i++) {
		rc = get_uint(what, comp, header[i], UINT16_MAX, &u, err, err_len);
		if (rc == -ENOENT)
			rc = fail(err, err_len, "%s has no \"%s\"", what, header[i]);
		if (rc < 0)
			goto fail;
		if (i == 0)
			*ret_cid = (uint16_t)u;
		put_le16(page + len, (uint16_t)u);
		len += 2;
	}
	for (size_t i = 0; i < json_array_size(elements); i++) {
		json_t *el = json_array_get(elements, i), *sig, *vnd;
		char ewhat[96];

		snprintf(ewhat, sizeof(ewhat), "%s elements[%zu]", what, i);
		if (!json_is_object(el)) {
			rc = fail(err, err_len, "%s is not an object", ewhat);
			goto fail;
		}
		rc = get_uint(ewhat, el, "location", UINT16_MAX, &u, err, err_len);
		if (rc == -ENOENT)
			rc = fail(err, err_len, "%s has no \"location\"", ewhat);
		if (rc < 0)
			goto fail;
		sig = json_object_get(el, "sig_models");
		vnd = json_object_get(el, "vendor_models");
		if (!json_is_array(sig) || !json_is_array(vnd)) {
			rc = fail(err, err_len, "%s needs \"sig_models\" and \"vendor_models\" lists", ewhat);
			goto fail;
		}
		if (json_array_size(sig) + json_array_size(vnd) > PACKAGE_MODELS_MAX) {
			rc = fail(err, err_len, "%s has more than %d models", ewhat, PACKAGE_MODELS_MAX);
			goto fail;
		}
		put_le16(page + len, (uint16_t)u);
		page[len + 2] = (uint8_t)json_array_size(sig);
		page[len + 3] = (uint8_t)json_array_size(vnd);
		len += 4;
		for (size_t k = 0; k < json_array_size(sig); k++) {
			json_t *v = json_array_get(sig, k);
			if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT16_MAX) {
				rc = fail(err, err_len, "%s sig_models[%zu] is not a 16-bit model ID", ewhat, k);
				goto fail;
			}
			put_le16(page + len, (uint16_t)json_integer_value(v));
			len += 2;
		}
		for (size_t k = 0; k < json_array_size(vnd); k++) {
			json_t *v = json_array_get(vnd, k);
			if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > UINT32_MAX) {
				rc = fail(err, err_len, "%s vendor_models[%zu] is not a 32-bit model ID", ewhat, k);
				goto fail;
			}
			put_le32(page + len, (uint32_t)json_integer_value(v));
			len += 4;
		}
	}
	*ret_elements = (uint16_t)json_array_size(elements);
	*ret_page = page;
	*ret_len = len;
	return 0;
fail:
	free(page);
	return rc;
}

int package_composition_hash(const uint8_t *page, size_t len, uint32_t *ret_hash)
{
	static const uint8_t zero_key[16];
	uint8_t mac[16];
	size_t mac_len = 0;
	EVP_MAC *cmac = EVP_MAC_fetch(NULL, "CMAC", NULL);
	EVP_MAC_CTX *ctx = cmac ? EVP_MAC_CTX_new(cmac) : NULL;
	OSSL_PARAM params[2];
	int rc = -ENOMEM;

	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, (char *)"AES-128-CBC", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (ctx && EVP_MAC_init(ctx, zero_key, sizeof(zero_key), params) == 1 && EVP_MAC_update(ctx, page, len) == 1 &&
	    EVP_MAC_final(ctx, mac, &mac_len, sizeof(mac)) == 1 && mac_len == sizeof(mac)) {
		*ret_hash = get_le32(mac);
		rc = 0;
	}
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(cmac);
	return rc;
}

/* Composition Data Page 0 as the device builds it from the JSON's composition_data: CID, PID, VID, CRPL, features
 * (u16 LE each), then per element location (u16), SIG model count, vendor model count, SIG model IDs (u16), vendor
 * models (the JSON's u32 written LE). Its hash is the low 4 bytes (LE) of AES-CMAC with an all-zero key
 * (mesh-dfu-protocol.md §5.2; the vendor model byte order checked against the NCS 2.9 distributor's hash). */
static int composition_hash(json_t *comp, uint16_t *ret_cid, uint16_t *ret_elements, uint32_t *ret_hash, char *err,
			    size_t err_len)
{
	uint8_t *page = NULL;
	size_t len = 0;
	int rc;

	rc = composition_page(comp, &page, &len, ret_cid, ret_elements, err, err_len);
	if (rc < 0)
		return rc;
	rc = package_composition_hash(page, len, ret_hash);
	if (rc < 0)
		fail(err, err_len, "OpenSSL could not compute the AES-CMAC of the composition data");
	free(page);
	return rc;
}

int package_composition_page_json(const char *json, size_t len, uint8_t **ret_page, size_t *ret_len,
				  uint16_t *ret_elements, char *err, size_t err_len)
{
	json_t *comp = load_json("composition_data", json, len, err, err_len);
	uint16_t cid, elements;
	uint8_t *page = NULL;
	size_t page_len = 0;
	int rc;

	if (!comp)
		return -EBADMSG;
	rc = composition_page(comp, &page, &page_len, &cid, &elements, err, err_len);
	json_decref(comp);
	if (rc < 0)
		return rc;
	*ret_page = page;
	*ret_len = page_len;
	*ret_elements = elements;
	return 0;
}

int package_core_type_parse(const char *text, uint8_t *ret_core_type)
{
	static const struct {
		const char *name;
		uint8_t bits;
	} names[] = {
		{ "application", PACKAGE_CORE_APPLICATION },
		{ "network", PACKAGE_CORE_NETWORK },
		{ "application_blob", PACKAGE_CORE_APP_BLOB },
	};
	char *end;
	unsigned long v;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(text, names[i].name) == 0) {
			*ret_core_type = names[i].bits;
			return 0;
		}
	}
	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 0);
	if (errno || *end || v > PACKAGE_CORE_ALL)
		return -EINVAL;
	*ret_core_type = (uint8_t)v;
	return 0;
}

int package_parse_composition_hash(const char *text, uint32_t *ret_hash)
{
	const char *digits = (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) ? text + 2 : text;
	size_t n = strlen(digits);
	uint32_t v = 0;

	if (n == 0 || n > 2 * sizeof(v))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char c = digits[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v = v << 4 | (uint32_t)(c - 'A' + 10);
		else
			return -EINVAL;
	}
	*ret_hash = v;
	return 0;
}

void package_core_type_format(uint8_t core_type, char *out, size_t out_len)
{
	static const char *const bit_names[] = { "application", "network", "application_blob" };
	size_t used = 0;

	out[0] = '\0';
	for (unsigned bit = 0; bit < 8; bit++) {
		const char *name = bit < 3 ? bit_names[bit] : NULL;
		char other[16];
		int n;

		if (!(core_type & (1u << bit)))
			continue;
		if (!name) {
			snprintf(other, sizeof(other), "bit%u", bit);
			name = other;
		}
		n = snprintf(out + used, out_len - used, "%s%s", used ? "+" : "", name);
		if (n < 0 || (size_t)n >= out_len - used)
			return;
		used += (size_t)n;
	}
	if (used == 0)
		snprintf(out, out_len, "none");
}

int package_decode_metadata(const uint8_t *metadata, size_t len, struct package_metadata_fields *ret)
{
	if (len < PACKAGE_NCS_METADATA_LEN)
		return -EBADMSG;
	ret->version.major = metadata[0];
	ret->version.minor = metadata[1];
	ret->version.revision = (uint16_t)(metadata[2] | metadata[3] << 8);
	ret->version.build = get_le32(metadata + 4);
	ret->size = (uint32_t)metadata[8] | (uint32_t)metadata[9] << 8 | (uint32_t)metadata[10] << 16;
	ret->core_type = metadata[11];
	ret->composition_hash = get_le32(metadata + 12);
	ret->elements = (uint16_t)(metadata[16] | metadata[17] << 8);
	ret->user_data_len = len - PACKAGE_NCS_METADATA_LEN;
	return 0;
}

int package_mesh_metadata_parse(const char *json, size_t len, struct package_mesh_metadata *ret, char *err,
				size_t err_len)
{
	static const char what[] = "ble_mesh_metadata.json";
	struct package_mesh_metadata m;
	json_t *root, *sv, *comp;
	uint64_t u, parts[4];
	char hex[2 * PACKAGE_METADATA_MAX + 1], a[48], b[48];
	uint32_t computed_hash = 0;
	int rc;

	memset(&m, 0, sizeof(m));
	root = load_json(what, json, len, err, err_len);
	if (!root)
		return len > PACKAGE_JSON_MAX ? -EFBIG : -EBADMSG;
	sv = json_object_get(root, "sign_version");
	if (!json_is_object(sv)) {
		rc = fail(err, err_len, "%s has no \"sign_version\" object", what);
		goto out;
	}
	{
		static const char *const keys[] = { "major", "minor", "revision", "build_number" };
		static const uint64_t max[] = { UINT8_MAX, UINT8_MAX, UINT16_MAX, UINT32_MAX };
		for (size_t i = 0; i < 4; i++) {
			rc = get_uint("ble_mesh_metadata.json sign_version", sv, keys[i], max[i], &parts[i], err, err_len);
			if (rc == -ENOENT)
				rc = fail(err, err_len, "%s sign_version has no \"%s\"", what, keys[i]);
			if (rc < 0)
				goto out;
		}
	}
	m.version.major = (uint8_t)parts[0];
	m.version.minor = (uint8_t)parts[1];
	m.version.revision = (uint16_t)parts[2];
	m.version.build = (uint32_t)parts[3];
	version_str(&m.version, b, sizeof(b));
	/* the metadata's size field is 24 bits wide */
	rc = get_uint(what, root, "binary_size", 0xFFFFFF, &u, err, err_len);
	if (rc == -ENOENT)
		rc = fail(err, err_len, "%s has no \"binary_size\"", what);
	if (rc < 0)
		goto out;
	m.binary_size = (uint32_t)u;
	rc = get_uint(what, root, "core_type", 7, &u, err, err_len);
	if (rc == -ENOENT)
		rc = fail(err, err_len, "%s has no \"core_type\"", what);
	if (rc < 0)
		goto out;
	m.core_type = (uint8_t)u;
	rc = get_uint(what, root, "composition_hash", UINT32_MAX, &u, err, err_len);
	if (rc == 0) {
		m.has_composition_hash = true;
		m.composition_hash = (uint32_t)u;
	} else if (rc != -ENOENT) {
		goto out;
	}
	comp = json_object_get(root, "composition_data");
	if (comp) {
		if ((rc = composition_hash(comp, &m.cid, &m.elements, &computed_hash, err, err_len)) < 0)
			goto out;
		m.has_composition = true;
		if (m.has_composition_hash && computed_hash != m.composition_hash) {
			rc = fail(err, err_len, "%s: composition_hash is 0x%08" PRIX32 " but composition_data hashes to "
				  "0x%08" PRIX32, what, m.composition_hash, computed_hash);
			goto out;
		}
		if (!m.has_composition_hash) {
			m.has_composition_hash = true;
			m.composition_hash = computed_hash;
		}
	}
	if ((rc = get_string(what, root, "encoded_metadata", hex, sizeof(hex), err, err_len)) == 0) {
		const uint8_t *e = m.encoded_metadata;
		struct mcuboot_version ev;
		uint32_t esize;

		if (hex_decode(hex, m.encoded_metadata, sizeof(m.encoded_metadata), &m.encoded_metadata_len) < 0) {
			rc = fail(err, err_len, "%s: encoded_metadata is not hex", what);
			goto out;
		}
		/* Zephyr's decoder wants 12 bytes, 18 when the application core bit is set */
		if (m.encoded_metadata_len < 12 ||
		    ((e[11] & PACKAGE_CORE_APPLICATION) && m.encoded_metadata_len < PACKAGE_NCS_METADATA_LEN)) {
			rc = fail(err, err_len, "%s: encoded_metadata has %zu bytes, too short for its core type",
				  what, m.encoded_metadata_len);
			goto out;
		}
		ev.major = e[0];
		ev.minor = e[1];
		ev.revision = (uint16_t)(e[2] | e[3] << 8);
		ev.build = get_le32(e + 4);
		esize = (uint32_t)e[8] | (uint32_t)e[9] << 8 | (uint32_t)e[10] << 16;
		version_str(&ev, a, sizeof(a));
		if (!version_equal(&ev, &m.version)) {
			rc = fail(err, err_len, "%s: encoded_metadata says version %s but sign_version is %s", what, a, b);
			goto out;
		}
		if (esize != m.binary_size) {
			rc = fail(err, err_len, "%s: encoded_metadata says size %" PRIu32 " but binary_size is %" PRIu32,
				  what, esize, m.binary_size);
			goto out;
		}
		if (e[11] != m.core_type) {
			rc = fail(err, err_len, "%s: encoded_metadata says core type %u but core_type is %u", what,
				  e[11], m.core_type);
			goto out;
		}
		if (m.encoded_metadata_len >= PACKAGE_NCS_METADATA_LEN) {
			uint32_t ehash = get_le32(e + 12);
			uint16_t eelements = (uint16_t)(e[16] | e[17] << 8);
			if (m.has_composition_hash && ehash != m.composition_hash) {
				rc = fail(err, err_len, "%s: encoded_metadata says composition hash 0x%08" PRIX32 " but "
					  "composition_hash is 0x%08" PRIX32 " (%" PRIu32 ")", what, ehash,
					  m.composition_hash, m.composition_hash);
				goto out;
			}
			if (m.has_composition && eelements != m.elements) {
				rc = fail(err, err_len, "%s: encoded_metadata says %u elements but composition_data lists %u",
					  what, eelements, m.elements);
				goto out;
			}
			m.has_composition_hash = true;
			m.composition_hash = ehash;
			if (!m.has_composition)
				m.elements = eelements;
		}
	} else if (rc != -ENOENT) {
		goto out;
	}
	if ((rc = get_string(what, root, "firmware_id", hex, sizeof(hex), err, err_len)) == 0) {
		if (hex_decode(hex, m.firmware_id, sizeof(m.firmware_id), &m.firmware_id_len) < 0 ||
		    m.firmware_id_len < 2) {
			rc = fail(err, err_len, "%s: firmware_id is not 2 to %d bytes of hex", what, PACKAGE_FWID_MAX);
			goto out;
		}
		/* A 10-byte FWID is taken for the NCS form (CID + version): a stale one would fail the Confirm step
		 * after the update, because the target reports the version it runs. */
		if (m.firmware_id_len == PACKAGE_NCS_FWID_LEN) {
			uint8_t want[PACKAGE_NCS_FWID_LEN];
			package_encode_fwid((uint16_t)(m.firmware_id[0] | m.firmware_id[1] << 8), &m.version, want);
			if (memcmp(want + 2, m.firmware_id + 2, 8) != 0) {
				rc = fail(err, err_len, "%s: firmware_id %s does not hold sign_version %s", what, hex, b);
				goto out;
			}
		}
	} else if (rc != -ENOENT) {
		goto out;
	}
	*ret = m;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

/* --- the zip --- */

static int check_entry_name(const char *name, char *err, size_t err_len)
{
	size_t n = strlen(name);
	const char *p;

	if (n == 0 || n > PACKAGE_NAME_MAX)
		return fail(err, err_len, "an entry name is empty or longer than %d bytes", PACKAGE_NAME_MAX);
	for (p = name; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == '\\')
			return fail(err, err_len, "entry \"%.80s\": control characters and backslashes are refused", name);
	if (name[0] == '/' || (n >= 2 && name[1] == ':'))
		return fail(err, err_len, "entry \"%.80s\" is an absolute path", name);
	for (p = name; p; p = strchr(p, '/')) {
		if (*p == '/')
			p++;
		if (p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
			return fail(err, err_len, "entry \"%.80s\" climbs out of the package with \"..\"", name);
	}
	return 0;
}

static int zip_fail(zip_error_t *ze, const char *what, char *err, size_t err_len)
{
	return fail(err, err_len, "%s: %s", what, zip_error_strerror(ze));
}

/* Reads exactly the declared size: a member that inflates to more (or less) than its directory entry says is
 * refused, so a zip bomb costs at most the declared size, which is limited. */
static int read_entry(zip_t *za, zip_uint64_t index, const char *name, zip_uint64_t size, uint8_t **ret_buf,
		      char *err, size_t err_len)
{
	zip_file_t *zf;
	uint8_t *buf, extra;
	zip_int64_t n;
	size_t got = 0;

	buf = malloc(size ? size : 1);
	if (!buf)
		return -ENOMEM;
	zf = zip_fopen_index(za, index, 0);
	if (!zf) {
		free(buf);
		return zip_fail(zip_get_error(za), name, err, err_len);
	}
	while (got < size) {
		n = zip_fread(zf, buf + got, size - got);
		if (n < 0) {
			fail(err, err_len, "\"%s\": %s", name, zip_error_strerror(zip_file_get_error(zf)));
			goto bad;
		}
		if (n == 0) {
			fail(err, err_len, "\"%s\" holds %zu bytes, its directory entry says %" PRIu64, name, got,
			     (uint64_t)size);
			goto bad;
		}
		got += (size_t)n;
	}
	n = zip_fread(zf, &extra, 1);
	if (n != 0) {
		if (n > 0)
			fail(err, err_len, "\"%s\" holds more than the %" PRIu64 " bytes its directory entry says", name,
			     (uint64_t)size);
		else
			fail(err, err_len, "\"%s\": %s", name, zip_error_strerror(zip_file_get_error(zf)));
		goto bad;
	}
	zip_fclose(zf);
	*ret_buf = buf;
	return 0;
bad:
	zip_fclose(zf);
	free(buf);
	return -EBADMSG;
}

static bool is_macos_metadata(const char *name)
{
	const char *base = strrchr(name, '/');

	base = base ? base + 1 : name;
	return strncmp(name, "__MACOSX/", 9) == 0 || strncmp(base, "._", 2) == 0 || strcmp(base, ".DS_Store") == 0;
}

struct entry {
	const char *name;       /* borrowed from libzip, valid while the archive is open */
	zip_uint64_t index;
	zip_uint64_t size;
};

int package_open(const void *zip, size_t len, const struct mcuboot_keyring *keys, struct package *ret, char *err,
		 size_t err_len)
{
	zip_error_t ze;
	zip_source_t *src = NULL;
	zip_t *za = NULL;
	struct entry entries[PACKAGE_ENTRIES_MAX];
	struct package *p = NULL;
	uint8_t *json = NULL;
	const struct entry *manifest = NULL, *meta = NULL, *app_entry = NULL;
	struct package_image *app;
	zip_int64_t count;
	uint64_t total = 0;
	enum mcuboot_reason reason = MCUBOOT_OK;
	char a[48], b[48];
	int rc;

	if (err && err_len)
		err[0] = '\0';
	if (len > PACKAGE_ZIP_MAX) {
		fail(err, err_len, "the package is %zu bytes, more than the %u allowed", len, PACKAGE_ZIP_MAX);
		return -EFBIG;
	}
	zip_error_init(&ze);
	/* libzip reads an empty buffer as an empty archive; an empty upload is not one */
	if (len < 22) {
		rc = fail(err, err_len, "not a zip file: %zu bytes, shorter than the 22-byte end of central directory",
			  len);
		goto out;
	}
	src = zip_source_buffer_create(zip, len, 0, &ze);
	if (!src) {
		rc = zip_error_code_zip(&ze) == ZIP_ER_MEMORY ? -ENOMEM : zip_fail(&ze, "zip", err, err_len);
		goto out;
	}
	za = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
	if (!za) {
		rc = zip_error_code_zip(&ze) == ZIP_ER_MEMORY ? -ENOMEM
			: fail(err, err_len, "not a zip file, or a damaged one: %s", zip_error_strerror(&ze));
		zip_source_free(src);
		goto out;
	}
	count = zip_get_num_entries(za, 0);
	if (count < 0 || count > PACKAGE_ENTRIES_MAX) {
		fail(err, err_len, "the zip has %" PRId64 " entries, more than the %d allowed", (int64_t)count,
		     PACKAGE_ENTRIES_MAX);
		rc = -EFBIG;
		goto out;
	}
	for (zip_int64_t i = 0; i < count; i++) {
		zip_stat_t st;
		struct entry *e = &entries[i];

		zip_stat_init(&st);
		if (zip_stat_index(za, (zip_uint64_t)i, 0, &st) < 0) {
			rc = zip_fail(zip_get_error(za), "zip entry", err, err_len);
			goto out;
		}
		if (!(st.valid & ZIP_STAT_NAME) || !(st.valid & ZIP_STAT_SIZE)) {
			rc = fail(err, err_len, "zip entry %" PRId64 " has no name or size", (int64_t)i);
			goto out;
		}
		if ((rc = check_entry_name(st.name, err, err_len)) < 0)
			goto out;
		for (zip_int64_t k = 0; k < i; k++) {
			if (strcmp(entries[k].name, st.name) == 0) {
				rc = fail(err, err_len, "entry \"%s\" is in the zip twice", st.name);
				goto out;
			}
		}
		if (st.size > PACKAGE_ENTRY_MAX) {
			fail(err, err_len, "entry \"%s\" unpacks to %" PRIu64 " bytes, more than the %u allowed",
			     st.name, (uint64_t)st.size, PACKAGE_ENTRY_MAX);
			rc = -EFBIG;
			goto out;
		}
		total += st.size;
		if (total > PACKAGE_TOTAL_MAX) {
			fail(err, err_len, "the entries unpack to more than %u bytes together", PACKAGE_TOTAL_MAX);
			rc = -EFBIG;
			goto out;
		}
		if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE) {
			rc = fail(err, err_len, "entry \"%s\" is encrypted", st.name);
			goto out;
		}
		if ((st.valid & ZIP_STAT_COMP_METHOD) && st.comp_method != ZIP_CM_STORE &&
		    st.comp_method != ZIP_CM_DEFLATE) {
			rc = fail(err, err_len, "entry \"%s\" uses compression method %u; only stored and deflate are "
				  "read", st.name, (unsigned)st.comp_method);
			goto out;
		}
		e->name = st.name;
		e->index = (zip_uint64_t)i;
		e->size = st.size;
		if (strcmp(st.name, MANIFEST_NAME) == 0)
			manifest = e;
		else if (strcmp(st.name, MESH_METADATA_NAME) == 0)
			meta = e;
	}
	if (!manifest) {
		rc = fail(err, err_len, "no manifest.json at the top of the zip: not an nRF Connect SDK DFU package");
		goto out;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		rc = -ENOMEM;
		goto out;
	}
	if (manifest->size > PACKAGE_JSON_MAX) {
		fail(err, err_len, "manifest.json is %" PRIu64 " bytes, more than the %u allowed",
		     (uint64_t)manifest->size, PACKAGE_JSON_MAX);
		rc = -EFBIG;
		goto out;
	}
	if ((rc = read_entry(za, manifest->index, manifest->name, manifest->size, &json, err, err_len)) < 0 ||
	    (rc = package_manifest_parse((const char *)json, manifest->size, &p->manifest, err, err_len)) < 0)
		goto out;
	free(json);
	json = NULL;

	/* every listed image must be in the zip with the size the manifest gives */
	for (size_t i = 0; i < p->manifest.n_images; i++) {
		const struct package_image *img = &p->manifest.images[i];
		const struct entry *found = NULL;

		for (zip_int64_t k = 0; k < count; k++)
			if (strcmp(entries[k].name, img->file) == 0)
				found = &entries[k];
		if (!found || is_macos_metadata(img->file)) {
			rc = fail(err, err_len, "manifest.json lists \"%s\", which is not in the zip", img->file);
			goto out;
		}
		if (found->size != img->size) {
			rc = fail(err, err_len, "\"%s\" is %" PRIu64 " bytes, manifest.json says %" PRIu64, img->file,
				  (uint64_t)found->size, img->size);
			goto out;
		}
		if (i == p->manifest.app)
			app_entry = found;
	}
	app = &p->manifest.images[p->manifest.app];
	p->board = app->board;
	if ((rc = read_entry(za, app_entry->index, app_entry->name, app_entry->size, &p->image, err, err_len)) < 0)
		goto out;
	p->image_len = (size_t)app_entry->size;
	if (keys) {
		const char *key_name = NULL;
		rc = mcuboot_verify(p->image, p->image_len, keys, true, &p->mcuboot, &key_name, &reason);
		if (rc == 0) {
			p->verified = true;
			snprintf(p->key_name, sizeof(p->key_name), "%s", key_name ? key_name : "");
		}
	} else {
		rc = mcuboot_parse(p->image, p->image_len, &p->mcuboot, &reason);
	}
	if (rc < 0) {
		fail(err, err_len, "\"%s\" is refused as an MCUboot image: %s (%s)", app->file,
		     mcuboot_reason_to_string(reason), mcuboot_reason_describe(reason));
		goto out;
	}
	p->version = p->mcuboot.version;
	version_str(&app->mcuboot_version, a, sizeof(a));
	version_str(&p->version, b, sizeof(b));
	if (!version_equal(&app->mcuboot_version, &p->version)) {
		rc = fail(err, err_len, "manifest.json says \"%s\" is version %s but its MCUboot header says %s",
			  app->file, a, b);
		goto out;
	}

	if (meta) {
		if (meta->size > PACKAGE_JSON_MAX) {
			fail(err, err_len, "ble_mesh_metadata.json is %" PRIu64 " bytes, more than the %u allowed",
			     (uint64_t)meta->size, PACKAGE_JSON_MAX);
			rc = -EFBIG;
			goto out;
		}
		if ((rc = read_entry(za, meta->index, meta->name, meta->size, &json, err, err_len)) < 0 ||
		    (rc = package_mesh_metadata_parse((const char *)json, meta->size, &p->mesh, err, err_len)) < 0)
			goto out;
		p->has_mesh_metadata = true;
		version_str(&p->mesh.version, a, sizeof(a));
		if (!version_equal(&p->mesh.version, &p->version)) {
			rc = fail(err, err_len, "ble_mesh_metadata.json says version %s but the MCUboot header of \"%s\" "
				  "says %s", a, app->file, b);
			goto out;
		}
		if (p->mesh.binary_size != p->image_len) {
			rc = fail(err, err_len, "ble_mesh_metadata.json says binary_size %" PRIu32 " but \"%s\" is %zu "
				  "bytes", p->mesh.binary_size, app->file, p->image_len);
			goto out;
		}
		if (!(p->mesh.core_type & PACKAGE_CORE_APPLICATION)) {
			rc = fail(err, err_len, "ble_mesh_metadata.json core_type %u lacks the application core bit, but "
				  "\"%s\" is the application image", p->mesh.core_type, app->file);
			goto out;
		}
	}

	if (p->has_mesh_metadata && p->mesh.firmware_id_len > 0) {
		memcpy(p->firmware_id, p->mesh.firmware_id, p->mesh.firmware_id_len);
		p->firmware_id_len = p->mesh.firmware_id_len;
		p->firmware_id_from_file = true;
	} else {
		uint16_t cid = p->has_mesh_metadata && p->mesh.has_composition ? p->mesh.cid : PACKAGE_COMPANY_NORDIC;
		p->firmware_id_len = package_encode_fwid(cid, &p->version, p->firmware_id);
	}
	if (p->has_mesh_metadata && p->mesh.encoded_metadata_len > 0) {
		memcpy(p->metadata, p->mesh.encoded_metadata, p->mesh.encoded_metadata_len);
		p->metadata_len = p->mesh.encoded_metadata_len;
	} else if (p->has_mesh_metadata && p->mesh.has_composition) {
		p->metadata_len = package_encode_metadata(&p->version, (uint32_t)p->image_len, p->mesh.core_type,
							  p->mesh.composition_hash, p->mesh.elements, p->metadata);
	}
	/* the image and mcuboot's pointers move with the struct: the buffer is on the heap */
	*ret = *p;
	ret->board = ret->manifest.images[ret->manifest.app].board;
	p->image = NULL;
	rc = 0;
out:
	if (za)
		zip_discard(za);
	zip_error_fini(&ze);
	free(json);
	if (p)
		free(p->image);
	free(p);
	return rc;
}

void package_free(struct package *pkg)
{
	if (!pkg)
		return;
	free(pkg->image);
	pkg->image = NULL;
	pkg->image_len = 0;
}
