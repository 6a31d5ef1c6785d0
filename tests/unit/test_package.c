/* Unit tests for daemon/package.c: the real nRF Connect SDK packages of tests/data/ncs/ (versions, image sizes and
 * hashes, firmware ID and metadata as ../shared/testdata/SOURCES.md gives them, signatures with the sample keys), the
 * package that contradicts itself, and zips built here with libzip for each refusal. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <zip.h>

#include <jansson.h>

#include "mesh_access.h"
#include "package.h"
#include "tap.h"

#ifndef TOP_SRCDIR
#define TOP_SRCDIR "."
#endif
#define NCS TOP_SRCDIR "/tests/data/ncs/"
#define KEYS TOP_SRCDIR "/tests/data/mcuboot/"

static uint8_t *load(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	buf = malloc((size_t)n + 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		printf("Bail out! cannot read %s\n", path);
		exit(1);
	}
	fclose(f);
	*ret_len = (size_t)n;
	return buf;
}

static struct mcuboot_keyring *keyring_of(const char *file)
{
	struct mcuboot_keyring *keys = mcuboot_keyring_new();
	struct mcuboot_error err = { "" };
	char path[1024];
	const char *paths[] = { path };

	snprintf(path, sizeof(path), KEYS "%s", file);
	if (!keys || mcuboot_keyring_load_files(keys, paths, 1, &err) < 0) {
		printf("Bail out! %s\n", err.message);
		exit(1);
	}
	return keys;
}

static void to_hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	out[2 * n] = '\0';
}

static void sha256_hex(const uint8_t *p, size_t n, char out[65])
{
	uint8_t md[32];
	unsigned md_len = 0;

	if (EVP_Digest(p, n, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32) {
		printf("Bail out! sha256\n");
		exit(1);
	}
	to_hex(md, 32, out);
}

static void version_str(const struct mcuboot_version *v, char *out, size_t len)
{
	snprintf(out, len, "%u.%u.%u+%u", v->major, v->minor, v->revision, (unsigned)v->build);
}

/* One member of a zip on disk, read with libzip directly (not through the module under test). */
static uint8_t *zip_member(const char *zip_path, const char *name, size_t *ret_len)
{
	int zerr = 0;
	zip_t *za = zip_open(zip_path, ZIP_RDONLY, &zerr);
	zip_stat_t st;
	zip_file_t *zf;
	uint8_t *buf;

	if (!za || zip_stat(za, name, 0, &st) < 0 || !(zf = zip_fopen(za, name, 0))) {
		printf("Bail out! cannot read %s from %s\n", name, zip_path);
		exit(1);
	}
	buf = malloc(st.size + 1);
	if (!buf || zip_fread(zf, buf, st.size) != (zip_int64_t)st.size) {
		printf("Bail out! cannot read %s from %s\n", name, zip_path);
		exit(1);
	}
	buf[st.size] = '\0';
	zip_fclose(zf);
	zip_discard(za);
	*ret_len = st.size;
	return buf;
}

/* --- zips built in memory --- */

struct member {
	const char *name;
	const void *data;
	size_t len;
	bool deflate;
};

static uint8_t *build_zip(const struct member *m, size_t n, size_t *ret_len)
{
	zip_error_t ze;
	zip_source_t *src;
	zip_t *za;
	zip_stat_t st;
	uint8_t *out;

	zip_error_init(&ze);
	src = zip_source_buffer_create(NULL, 0, 0, &ze);
	if (!src) {
		printf("Bail out! zip_source_buffer_create\n");
		exit(1);
	}
	zip_source_keep(src);
	za = zip_open_from_source(src, ZIP_TRUNCATE, &ze);
	if (!za) {
		printf("Bail out! zip_open_from_source: %s\n", zip_error_strerror(&ze));
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		zip_source_t *fs = zip_source_buffer(za, m[i].data, m[i].len, 0);
		zip_int64_t idx = fs ? zip_file_add(za, m[i].name, fs, ZIP_FL_ENC_UTF_8) : -1;
		if (idx < 0 || zip_set_file_compression(za, (zip_uint64_t)idx,
							  m[i].deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) < 0) {
			printf("Bail out! zip_file_add %s: %s\n", m[i].name, zip_strerror(za));
			exit(1);
		}
	}
	if (zip_close(za) < 0) {
		printf("Bail out! zip_close: %s\n", zip_strerror(za));
		exit(1);
	}
	zip_stat_init(&st);
	if (zip_source_stat(src, &st) < 0 || zip_source_open(src) < 0) {
		printf("Bail out! zip_source_open\n");
		exit(1);
	}
	out = malloc(st.size ? st.size : 1);
	if (!out || zip_source_read(src, out, st.size) != (zip_int64_t)st.size) {
		printf("Bail out! zip_source_read\n");
		exit(1);
	}
	zip_source_close(src);
	zip_source_free(src);
	*ret_len = st.size;
	return out;
}

/* Rewrites the uncompressed size of every entry named name, in its local header and in the central directory. */
static int patch_size(uint8_t *zip, size_t len, const char *name, uint32_t size)
{
	size_t nlen = strlen(name);
	int patched = 0;

	for (size_t i = 0; i + 46 + nlen <= len; i++) {
		size_t size_off, name_off, nlen_off;
		if (memcmp(zip + i, "PK\3\4", 4) == 0) {
			size_off = 22;
			nlen_off = 26;
			name_off = 30;
		} else if (memcmp(zip + i, "PK\1\2", 4) == 0) {
			size_off = 24;
			nlen_off = 28;
			name_off = 46;
		} else {
			continue;
		}
		if (zip[i + nlen_off] != nlen || zip[i + nlen_off + 1] != 0 || memcmp(zip + i + name_off, name, nlen) != 0)
			continue;
		zip[i + size_off] = (uint8_t)size;
		zip[i + size_off + 1] = (uint8_t)(size >> 8);
		zip[i + size_off + 2] = (uint8_t)(size >> 16);
		zip[i + size_off + 3] = (uint8_t)(size >> 24);
		patched++;
	}
	return patched;
}

static const char *manifest_for(const char *file, size_t size, const char *version, char *buf, size_t len)
{
	snprintf(buf, len,
		 "{\"format-version\": 1, \"time\": 1, \"name\": \"t\", \"files\": [{\"type\": \"application\", "
		 "\"board\": \"nrf52840dk\", \"soc\": \"nrf52840\", \"load_address\": 49664, \"image_index\": \"0\", "
		 "\"slot_index_primary\": \"1\", \"slot_index_secondary\": \"2\", \"version_MCUBOOT\": \"%s\", "
		 "\"size\": %zu, \"file\": \"%s\", \"modtime\": 1}]}", version, size, file);
	return buf;
}

/* Opens a zip that must be refused; checks the return and that the reason holds want. */
static void refused(const uint8_t *zip, size_t len, int want_rc, const char *want, const char *what)
{
	struct package p;
	char err[512] = "";
	int rc = package_open(zip, len, NULL, &p, err, sizeof(err));

	is_int(rc, want_rc, "%s: refused", what);
	has_str(err, want, "%s: reason", what);
	if (rc == 0)
		package_free(&p);
}

/* --- the real packages --- */

static void test_mesh_light(void)
{
	size_t len;
	uint8_t *zip = load(NCS "mesh_light_1.0.0_thingy53_nrf5340.zip", &len);
	struct mcuboot_keyring *rsa = keyring_of("root-rsa-2048.pub.pem"), *p256 = keyring_of("root-ec-p256.pub.pem");
	struct package p;
	char err[512] = "", hex[2 * PACKAGE_METADATA_MAX + 1], v[48];
	int rc;

	rc = package_open(zip, len, rsa, &p, err, sizeof(err));
	is_int(rc, 0, "mesh_light 1.0.0 opens and verifies with root-rsa-2048 (%s)", err);
	if (rc == 0) {
		is_int(p.manifest.format_version, 0, "mesh_light: format-version 0");
		is_int(p.manifest.n_images, 2, "mesh_light: two images");
		is_str(p.manifest.name, "light", "mesh_light: name");
		is_str(p.board, "thingy53_nrf5340_cpuapp", "mesh_light: application board");
		is_str(p.manifest.images[p.manifest.app].file, "app_update.bin", "mesh_light: application file");
		is_int(p.manifest.images[0].load_address, 66048, "mesh_light: load_address 0x10200");
		is_int(p.manifest.images[0].slot_primary, 1, "mesh_light: primary slot \"1\"");
		is_int(p.manifest.images[0].slot_secondary, 2, "mesh_light: secondary slot \"2\"");
		is_int(p.manifest.images[1].image_index, 1, "mesh_light: net core image_index \"1\"");
		is_str(p.manifest.images[1].version, "1", "mesh_light: net core \"version\" as written");
		ok(!p.manifest.images[1].has_mcuboot_version, "mesh_light: net core has no version_MCUBOOT");
		is_int(p.manifest.images[1].load_address, 16812032, "mesh_light: net core load_address");
		is_str(p.manifest.images[1].board, "thingy53_nrf5340_cpunet", "mesh_light: net core board");
		is_int(p.image_len, 235052, "mesh_light: application size");
		sha256_hex(p.image, p.image_len, hex);
		is_str(hex, "50345943485b56164aa930120f58da4db3a9e2cc910f19899c0dcf5b48d478ae",
		       "mesh_light: application sha256");
		version_str(&p.version, v, sizeof(v));
		is_str(v, "1.0.0+0", "mesh_light: version");
		ok(p.verified, "mesh_light: signature verified");
		has_str(p.key_name, "root-rsa-2048.pub.pem", "mesh_light: verifying key");
		ok(!p.has_mesh_metadata, "mesh_light: no ble_mesh_metadata.json");
		to_hex(p.firmware_id, p.firmware_id_len, hex);
		is_str(hex, "59000100000000000000", "mesh_light: FWID derived (CID 0x0059 + 1.0.0+0)");
		ok(!p.firmware_id_from_file, "mesh_light: FWID derived, not from a file");
		is_int(p.metadata_len, 0, "mesh_light: no metadata without composition hash");
		package_free(&p);
		package_free(&p);
	}
	rc = package_open(zip, len, NULL, &p, err, sizeof(err));
	is_int(rc, 0, "mesh_light opens without a keyring (%s)", err);
	if (rc == 0) {
		ok(!p.verified, "mesh_light: not verified without keys");
		package_free(&p);
	}
	rc = package_open(zip, len, p256, &p, err, sizeof(err));
	is_int(rc, -EBADMSG, "mesh_light refused with only root-ec-p256 trusted");
	has_str(err, "key_not_trusted", "mesh_light: reason key_not_trusted");
	mcuboot_keyring_free(rsa);
	mcuboot_keyring_free(p256);
	free(zip);
}

static void test_distributor(void)
{
	size_t len;
	uint8_t *zip = load(NCS "dfu_distr_nrf54L_1.0.1.zip", &len);
	struct mcuboot_keyring *ed = keyring_of("root-ed25519.pub.pem");
	struct package p;
	char err[512] = "", hex[2 * PACKAGE_METADATA_MAX + 1], v[48];
	int rc;

	rc = package_open(zip, len, ed, &p, err, sizeof(err));
	is_int(rc, 0, "distributor 1.0.1 opens and verifies with root-ed25519 (%s)", err);
	if (rc == 0) {
		is_int(p.manifest.format_version, 1, "distributor: format-version 1");
		is_int(p.manifest.n_images, 1, "distributor: one image");
		is_str(p.board, "nrf54l15dk", "distributor: board");
		is_int(p.manifest.images[0].load_address, 59392, "distributor: load_address 0xE800");
		is_int(p.image_len, 446332, "distributor: image size");
		sha256_hex(p.image, p.image_len, hex);
		is_str(hex, "4c0726df9e8b602d344214eb4a06b1602aaf80f1cfbe54e8c7bed452559c05df",
		       "distributor: image sha256");
		version_str(&p.version, v, sizeof(v));
		is_str(v, "1.0.1+1234", "distributor: version with revision and build");
		is_int(p.mcuboot.hdr_size, 2048, "distributor: header size 2048");
		ok(p.verified, "distributor: Ed25519 signature verified");
		ok(p.has_mesh_metadata, "distributor: ble_mesh_metadata.json read");
		is_int(p.mesh.composition_hash, 3155069765u, "distributor: composition hash");
		is_int(p.mesh.elements, 2, "distributor: two elements");
		is_int(p.mesh.cid, 0x59, "distributor: CID");
		to_hex(p.firmware_id, p.firmware_id_len, hex);
		is_str(hex, "590001000100d2040000", "distributor: FWID");
		ok(p.firmware_id_from_file, "distributor: FWID from the metadata file");
		to_hex(p.metadata, p.metadata_len, hex);
		is_str(hex, "01000100d20400007ccf0601458b0ebc0200", "distributor: metadata");
		{
			uint8_t fwid[PACKAGE_NCS_FWID_LEN], meta[PACKAGE_NCS_METADATA_LEN];
			package_encode_fwid(0x0059, &p.version, fwid);
			package_encode_metadata(&p.version, (uint32_t)p.image_len, 1, 3155069765u, 2, meta);
			ok(memcmp(fwid, p.firmware_id, sizeof(fwid)) == 0, "distributor: derived FWID equals the file's");
			ok(memcmp(meta, p.metadata, sizeof(meta)) == 0, "distributor: derived metadata equals the file's");
		}
		package_free(&p);
	}
	mcuboot_keyring_free(ed);
	free(zip);
}

static void test_blinky(void)
{
	size_t len, mlen;
	uint8_t *zip = load(NCS "dfu_blinky_3.0.0.zip", &len);
	uint8_t *meta = zip_member(NCS "dfu_blinky_3.0.0.zip", "ble_mesh_metadata.json", &mlen);
	struct package_mesh_metadata m;
	char err[512] = "";
	int rc;

	/* SOURCES.md §3: manifest and metadata say 3.0.0+0, the MCUboot header says 2.0.0+0 */
	refused(zip, len, -EBADMSG, "version 3.0.0+0 but its MCUboot header says 2.0.0+0",
		"dfu_blinky_3.0.0 (contradicts itself)");
	/* and its metadata file disagrees with itself: composition copied from the distributor */
	rc = package_mesh_metadata_parse((const char *)meta, mlen, &m, err, sizeof(err));
	is_int(rc, -EBADMSG, "blinky's ble_mesh_metadata.json refused on its own");
	has_str(err, "encoded_metadata says composition hash 0x52973F49 but composition_hash is 0xBC0E8B45", "blinky "
		"metadata: reason");
	free(meta);
	free(zip);
}

/* --- metadata derived without ble_mesh_metadata.json (the API's core_type/composition_hash/elements) --- */

/* For each of the six NCS files: page 0 built from composition_data, its hash, its element count (read back by
 * the mesh_access decoder, as composition_from reads a node's recorded page), and the metadata encoded from
 * sign_version, binary_size and core_type: equal to encoded_metadata, except for the blinky file that contradicts
 * itself. */
static void test_derived_metadata(void)
{
	static const struct {
		const char *file;
		bool consistent;
	} files[] = {
		{ "dfu_target_nrf52840_1.0", true }, { "dfu_target_nrf52840_2.0", true },
		{ "dfu_target_nrf54L_1.0", true }, { "dfu_target_nrf54L_2.0", true },
		{ "dfu_distr_nrf54L_1.0.1", true }, { "dfu_blinky_3.0.0", false },
	};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char path[1024], err[512] = "", hex[2 * PACKAGE_METADATA_MAX + 1], *comp_text;
		uint8_t *page = NULL, derived[PACKAGE_NCS_METADATA_LEN];
		size_t len, page_len = 0, n;
		uint16_t elements = 0;
		uint32_t hash = 0;
		struct mcuboot_version v;
		struct ma_comp0 comp;
		json_error_t jerr;
		json_t *root, *sv;
		uint8_t *text;

		snprintf(path, sizeof(path), NCS "metadata/%s.ble_mesh_metadata.json", files[i].file);
		text = load(path, &len);
		root = json_loadb((const char *)text, len, 0, &jerr);
		if (!root) {
			printf("Bail out! %s: %s\n", path, jerr.text);
			exit(1);
		}
		comp_text = json_dumps(json_object_get(root, "composition_data"), JSON_COMPACT);
		is_int(package_composition_page_json(comp_text, strlen(comp_text), &page, &page_len, &elements, err,
						     sizeof(err)), 0, "%s: composition_data builds page 0 (%s)",
		       files[i].file, err);
		is_int(package_composition_hash(page, page_len, &hash), 0, "%s: its hash", files[i].file);
		if (files[i].consistent)
			is_int(hash, json_integer_value(json_object_get(root, "composition_hash")),
			       "%s: the hash equals composition_hash", files[i].file);
		is_int(ma_comp0_parse(page, page_len, &comp), MA_OK, "%s: page 0 decodes", files[i].file);
		is_int(comp.element_count, elements, "%s: the decoder counts the elements", files[i].file);
		sv = json_object_get(root, "sign_version");
		v = (struct mcuboot_version){
			(uint8_t)json_integer_value(json_object_get(sv, "major")),
			(uint8_t)json_integer_value(json_object_get(sv, "minor")),
			(uint16_t)json_integer_value(json_object_get(sv, "revision")),
			(uint32_t)json_integer_value(json_object_get(sv, "build_number")),
		};
		n = package_encode_metadata(&v, (uint32_t)json_integer_value(json_object_get(root, "binary_size")),
					    (uint8_t)json_integer_value(json_object_get(root, "core_type")), hash,
					    comp.element_count, derived);
		to_hex(derived, n, hex);
		if (files[i].consistent)
			is_str(hex, json_string_value(json_object_get(root, "encoded_metadata")),
			       "%s: the derived metadata equals encoded_metadata", files[i].file);
		else
			ok(strcmp(hex, json_string_value(json_object_get(root, "encoded_metadata"))) != 0,
			   "%s: derived from its (copied) composition_data, the metadata differs from the file's %s",
			   files[i].file, hex);
		free(comp_text);
		free(page);
		json_decref(root);
		free(text);
	}
}

static void test_metadata_fields(void)
{
	static const uint8_t distributor[] = { 0x01, 0x00, 0x01, 0x00, 0xd2, 0x04, 0x00, 0x00, 0x7c, 0xcf, 0x06,
					       0x01, 0x45, 0x8b, 0x0e, 0xbc, 0x02, 0x00, 0xaa };
	struct package_metadata_fields f;
	uint8_t core = 0xff;
	char name[64];

	is_int(package_decode_metadata(distributor, sizeof(distributor), &f), 0, "decode 19 bytes");
	ok(f.version.major == 1 && f.version.minor == 0 && f.version.revision == 1 && f.version.build == 1234,
	   "decoded version 1.0.1+1234");
	is_int(f.size, 446332, "decoded size (u24)");
	is_int(f.core_type, 1, "decoded core type");
	is_int(f.composition_hash, 0xBC0E8B45u, "decoded composition hash");
	is_int(f.elements, 2, "decoded elements");
	is_int(f.user_data_len, 1, "one byte of user data");
	is_int(package_decode_metadata(distributor, 17, &f), -EBADMSG, "17 bytes are not the NCS layout");

	is_int(package_core_type_parse("application", &core), 0, "core_type application");
	is_int(core, PACKAGE_CORE_APPLICATION, "application is bit 0");
	is_int(package_core_type_parse("network", &core), 0, "core_type network");
	is_int(core, PACKAGE_CORE_NETWORK, "network is bit 1");
	is_int(package_core_type_parse("application_blob", &core), 0, "core_type application_blob");
	is_int(core, PACKAGE_CORE_APP_BLOB, "application_blob is bit 2");
	is_int(package_core_type_parse("3", &core), 0, "core_type 3");
	is_int(core, 3, "a number is the bits");
	is_int(package_core_type_parse("0x7", &core), 0, "core_type 0x7");
	is_int(core, 7, "0x7 is all three");
	ok(package_core_type_parse("8", &core) < 0, "core_type 8 refused (bits above 2)");
	ok(package_core_type_parse("", &core) < 0, "an empty core_type refused");
	ok(package_core_type_parse("Application", &core) < 0, "names are lower case");
	ok(package_core_type_parse("-1", &core) < 0, "a negative core_type refused");
	ok(package_core_type_parse("1x", &core) < 0, "a suffix refused");
	package_core_type_format(3, name, sizeof(name));
	is_str(name, "application+network", "core type 3 by name");
	package_core_type_format(0, name, sizeof(name));
	is_str(name, "none", "core type 0 by name");
	package_core_type_format(0x81, name, sizeof(name));
	is_str(name, "application+bit7", "an unnamed bit");
}

/* --- zips built here --- */

static void test_built(void)
{
	size_t blen, len;
	uint8_t *bin = zip_member(NCS "dfu_blinky_3.0.0.zip", "blinky_app_update.bin", &blen);
	char man[1024], meta[1024], big[80 * 1024];
	uint8_t *zip, fw[PACKAGE_NCS_FWID_LEN], md[PACKAGE_NCS_METADATA_LEN];
	char fwhex[64], mdhex[64], v[48];
	struct mcuboot_version v2 = { 2, 0, 0, 0 }, v3 = { 3, 0, 0, 0 };
	struct package p;
	char err[512] = "";
	int rc;

	/* the baseline: blinky's image (2.0.0+0) with a manifest that tells the truth */
	manifest_for("app.bin", blen, "2.0.0+0", man, sizeof(man));
	{
		struct member m[] = { { "manifest.json", man, strlen(man), false }, { "app.bin", bin, blen, true } };
		zip = build_zip(m, 2, &len);
	}
	rc = package_open(zip, len, NULL, &p, err, sizeof(err));
	is_int(rc, 0, "built: a truthful package opens (%s)", err);
	if (rc == 0) {
		version_str(&p.version, v, sizeof(v));
		is_str(v, "2.0.0+0", "built: version");
		package_free(&p);
	}
	free(zip);

	/* metadata that agrees with the image, then one that does not */
	package_encode_fwid(0x59, &v2, fw);
	to_hex(fw, sizeof(fw), fwhex);
	package_encode_metadata(&v2, (uint32_t)blen, 1, 0x7E567089u, 1, md);
	to_hex(md, sizeof(md), mdhex);
	snprintf(meta, sizeof(meta), "{\"sign_version\": {\"major\": 2, \"minor\": 0, \"revision\": 0, \"build_number\": "
		 "0}, \"binary_size\": %zu, \"core_type\": 1, \"composition_hash\": 2119594121, \"encoded_metadata\": "
		 "\"%s\", \"firmware_id\": \"%s\"}", blen, mdhex, fwhex);
	{
		struct member m[] = { { "manifest.json", man, strlen(man), false }, { "app.bin", bin, blen, false },
				      { "ble_mesh_metadata.json", meta, strlen(meta), false } };
		zip = build_zip(m, 3, &len);
	}
	rc = package_open(zip, len, NULL, &p, err, sizeof(err));
	is_int(rc, 0, "built: consistent metadata accepted (%s)", err);
	if (rc == 0) {
		to_hex(p.metadata, p.metadata_len, fwhex);
		is_str(fwhex, mdhex, "built: metadata taken from the file");
		is_int(p.mesh.elements, 1, "built: elements from encoded_metadata");
		package_free(&p);
	}
	free(zip);
	package_encode_fwid(0x59, &v3, fw);
	to_hex(fw, sizeof(fw), fwhex);
	package_encode_metadata(&v3, (uint32_t)blen, 1, 0x7E567089u, 1, md);
	to_hex(md, sizeof(md), mdhex);
	snprintf(meta, sizeof(meta), "{\"sign_version\": {\"major\": 3, \"minor\": 0, \"revision\": 0, \"build_number\": "
		 "0}, \"binary_size\": %zu, \"core_type\": 1, \"encoded_metadata\": \"%s\", \"firmware_id\": \"%s\"}",
		 blen, mdhex, fwhex);
	{
		struct member m[] = { { "manifest.json", man, strlen(man), false }, { "app.bin", bin, blen, false },
				      { "ble_mesh_metadata.json", meta, strlen(meta), false } };
		zip = build_zip(m, 3, &len);
	}
	refused(zip, len, -EBADMSG, "ble_mesh_metadata.json says version 3.0.0+0 but the MCUboot header of \"app.bin\" "
		"says 2.0.0+0", "built: metadata version mismatch");
	free(zip);

	/* the manifest's version against the header */
	manifest_for("app.bin", blen, "2.0.1+0", man, sizeof(man));
	{
		struct member m[] = { { "manifest.json", man, strlen(man), false }, { "app.bin", bin, blen, false } };
		zip = build_zip(m, 2, &len);
	}
	refused(zip, len, -EBADMSG, "manifest.json says \"app.bin\" is version 2.0.1+0 but its MCUboot header says "
		"2.0.0+0", "built: manifest version mismatch");
	free(zip);

	/* no manifest */
	{
		struct member m[] = { { "app.bin", bin, blen, false } };
		zip = build_zip(m, 1, &len);
	}
	refused(zip, len, -EBADMSG, "no manifest.json", "built: missing manifest");
	free(zip);

	/* manifest not JSON */
	{
		static const char junk[] = "format-version: 1\n";
		struct member m[] = { { "manifest.json", junk, strlen(junk), false }, { "app.bin", bin, blen, false } };
		zip = build_zip(m, 2, &len);
	}
	refused(zip, len, -EBADMSG, "manifest.json is not JSON", "built: manifest not JSON");
	free(zip);

	/* the image the manifest lists is not there */
	manifest_for("app.bin", blen, "2.0.0+0", man, sizeof(man));
	{
		struct member m[] = { { "manifest.json", man, strlen(man), false }, { "other.bin", bin, blen, false } };
		zip = build_zip(m, 2, &len);
	}
	refused(zip, len, -EBADMSG, "lists \"app.bin\", which is not in the zip", "built: image missing");
	free(zip);

	/* the manifest's size disagrees with the entry */
	manifest_for("app.bin", blen + 1, "2.0.0+0", man, sizeof(man));
	{
		struct member m[] = { { "manifest.json", man, strlen(man), false }, { "app.bin", bin, blen, false } };
		zip = build_zip(m, 2, &len);
	}
	refused(zip, len, -EBADMSG, "\"app.bin\" is 33264 bytes, manifest.json says 33265", "built: size mismatch");
	free(zip);

	/* names that would escape an extraction folder */
	manifest_for("app.bin", blen, "2.0.0+0", man, sizeof(man));
	{
		static const char *const bad[] = { "../evil.bin", "a/../../evil.bin", "/etc/evil", "C:evil",
						   "a\\..\\evil" };
		static const char *const why[] = { "climbs out", "climbs out", "absolute path", "absolute path",
						    "backslashes" };
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			struct member m[] = { { "manifest.json", man, strlen(man), false },
					      { "app.bin", bin, blen, false }, { bad[i], "x", 1, false } };
			char what[80];
			zip = build_zip(m, 3, &len);
			snprintf(what, sizeof(what), "built: entry name \"%s\"", bad[i]);
			refused(zip, len, -EBADMSG, why[i], what);
			free(zip);
		}
	}

	/* an entry that declares more than the limit (a zip bomb's directory) */
	{
		struct member m[] = { { "manifest.json", man, strlen(man), false }, { "app.bin", bin, blen, false },
				      { "bomb.bin", big, 4096, true } };
		memset(big, 0, sizeof(big));
		zip = build_zip(m, 3, &len);
		is_int(patch_size(zip, len, "bomb.bin", 0x7FFFFFFFu), 2, "built: bomb size patched in both headers");
		refused(zip, len, -EFBIG, "entry \"bomb.bin\" unpacks to 2147483647 bytes, more than the 67108864 allowed",
			"built: declared oversized entry");
		free(zip);
	}
	/* an entry that inflates to more than it declares */
	{
		struct member m[] = { { "manifest.json", man, strlen(man), true }, { "app.bin", bin, blen, false } };
		zip = build_zip(m, 2, &len);
		is_int(patch_size(zip, len, "manifest.json", 100), 2, "built: manifest size patched in both headers");
		refused(zip, len, -EBADMSG, "manifest.json", "built: entry inflating past its declared size");
		free(zip);
	}
	/* manifest larger than the JSON limit */
	{
		struct member m[] = { { "manifest.json", big, sizeof(big), true }, { "app.bin", bin, blen, false } };
		memset(big, ' ', sizeof(big));
		zip = build_zip(m, 2, &len);
		refused(zip, len, -EFBIG, "manifest.json is 81920 bytes, more than the 65536 allowed",
			"built: manifest over the JSON limit");
		free(zip);
	}
	/* too many entries */
	{
		struct member m[PACKAGE_ENTRIES_MAX + 1];
		char names[PACKAGE_ENTRIES_MAX + 1][16];
		for (size_t i = 0; i < PACKAGE_ENTRIES_MAX + 1; i++) {
			snprintf(names[i], sizeof(names[i]), "f%zu", i);
			m[i] = (struct member){ names[i], "x", 1, false };
		}
		zip = build_zip(m, PACKAGE_ENTRIES_MAX + 1, &len);
		refused(zip, len, -EFBIG, "the zip has 33 entries, more than the 32 allowed", "built: too many entries");
		free(zip);
	}
	/* the application is not an MCUboot image */
	manifest_for("app.bin", 4, "2.0.0+0", man, sizeof(man));
	{
		struct member m[] = { { "manifest.json", man, strlen(man), false }, { "app.bin", "abcd", 4, false } };
		zip = build_zip(m, 2, &len);
	}
	refused(zip, len, -EBADMSG, "\"app.bin\" is refused as an MCUboot image: truncated", "built: not MCUboot");
	free(zip);

	/* not a zip at all */
	refused((const uint8_t *)"hello, world", 12, -EBADMSG, "not a zip file", "not a zip");
	refused((const uint8_t *)"", 0, -EBADMSG, "not a zip file", "empty input");
	refused(bin, blen, -EBADMSG, "not a zip file", "an MCUboot image is not a package");
	free(bin);
}

static void test_json(void)
{
	struct package_manifest m;
	struct package_mesh_metadata md;
	struct mcuboot_version v;
	char err[512] = "";
	static const char v2[] = "{\"format-version\": 2, \"files\": []}";
	static const char idx[] = "{\"format-version\": 1, \"files\": [{\"file\": \"a\", \"size\": 1, "
				  "\"image_index\": \"x\", \"version_MCUBOOT\": \"1.0.0\"}]}";
	static const char noapp[] = "{\"format-version\": 1, \"files\": [{\"file\": \"a\", \"size\": 1, "
				    "\"image_index\": \"1\", \"version_MCUBOOT\": \"1.0.0\"}]}";
	static const char badfwid[] = "{\"sign_version\": {\"major\": 1, \"minor\": 0, \"revision\": 0, "
				      "\"build_number\": 0}, \"binary_size\": 10, \"core_type\": 1, "
				      "\"firmware_id\": \"59000200000000000000\"}";

	is_int(package_manifest_parse(v2, strlen(v2), &m, err, sizeof(err)), -EBADMSG, "format-version 2 refused");
	has_str(err, "\"format-version\" 2 is unknown", "format-version 2: reason");
	is_int(package_manifest_parse(idx, strlen(idx), &m, err, sizeof(err)), -EBADMSG, "bad image_index refused");
	has_str(err, "\"image_index\" = \"x\" is not a number", "bad image_index: reason");
	is_int(package_manifest_parse(noapp, strlen(noapp), &m, err, sizeof(err)), -EBADMSG, "no image_index 0");
	has_str(err, "no application image", "no application: reason");
	is_int(package_mesh_metadata_parse(badfwid, strlen(badfwid), &md, err, sizeof(err)), -EBADMSG,
	       "FWID of another version refused");
	has_str(err, "firmware_id 59000200000000000000 does not hold sign_version 1.0.0+0", "FWID: reason");

	ok(package_parse_version("1.0.1+1234", &v) == 0 && v.revision == 1 && v.build == 1234, "version 1.0.1+1234");
	ok(package_parse_version("2.5", &v) == 0 && v.major == 2 && v.minor == 5 && v.revision == 0, "version 2.5");
	ok(package_parse_version("256.0.0", &v) < 0, "version major 256 refused");
	ok(package_parse_version("1.0.0+", &v) < 0, "version with empty build refused");
	ok(package_parse_version("1", &v) < 0, "version \"1\" is not an MCUboot version");
	ok(package_parse_version("1.0.0+4294967296", &v) < 0, "build over 32 bits refused");
}

int main(void)
{
	test_mesh_light();
	test_distributor();
	test_blinky();
	test_derived_metadata();
	test_metadata_fields();
	test_built();
	test_json();
	return done_testing();
}
