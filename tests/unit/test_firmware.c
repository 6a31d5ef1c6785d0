/* Unit tests for daemon/firmware.c: storing MCUboot, HEX and raw images with the public test files, idempotent
 * imports, refusals that store nothing, the fsync path (counted and failed), a damaged file caught by
 * firmware_open_verified(), listing and deleting. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "db.h"
#include "firmware.h"
#include "log.h"
#include "mcuboot.h"
#include "tap.h"

#define MCUBOOT_DIR TOP_SRCDIR "/tests/data/mcuboot/"
#define HEX_DIR TOP_SRCDIR "/tests/data/nrf5-sdk-mesh/"
#define IMAGE_1_0_0 MCUBOOT_DIR "ios-dm_nrf52840_smp_svr.1.0.0.signed.bin"
#define IMAGE_1_0_0_SHA256 "da9f7e051e606fcd257ccfa3c757d846d0fa620779a72aeeda1444c3da0c9363"
#define IMAGE_2_0_0 MCUBOOT_DIR "ios-dm_nrf52840_smp_svr.2.0.0.signed.bin"
#define IMAGE_3_0_0 MCUBOOT_DIR "ios-dm_nrf52840_smp_svr.3.0.0.signed.bin"
#define IMAGE_HASH_ONLY MCUBOOT_DIR "smpclient_zephyr_4.4.0_smp_server_0eae053d_qemu_cortex_m0_serial.signed.bin"
#define IMAGE_EC_P256 MCUBOOT_DIR "smpclient_tfm_s_signed.bin"
#define KEY_RSA_2048 MCUBOOT_DIR "root-rsa-2048.pub.pem"
#define NCS_DIR TOP_SRCDIR "/tests/data/ncs/"

static char dir[] = "/tmp/mf-test-firmware-XXXXXX";
static char store_dir[512];
static unsigned fsync_calls;
static int fsync_result;        /* what the counting fsync returns after the call at index fsync_fail_at */
static unsigned fsync_fail_at = ~0u;

static int counting_fsync(int fd)
{
	(void)fd;
	return fsync_calls++ == fsync_fail_at ? fsync_result : 0;
}

static uint8_t *read_all(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	fclose(f);
	*ret_len = (size_t)n;
	return buf;
}

/* Entries of the store's folder, "." and ".." left out. */
static int store_entries(void)
{
	DIR *d = opendir(store_dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

static int rows(struct db *db)
{
	sqlite3_stmt *stmt;
	int n = -1;

	if (sqlite3_prepare_v2(db_handle(db), "SELECT count(*) FROM firmware", -1, &stmt, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		n = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	return n;
}

static struct firmware_import import_defaults(void)
{
	return (struct firmware_import){ .format = FIRMWARE_FORMAT_AUTO, .company_id = FIRMWARE_DEFAULT_COMPANY_ID,
					 .imported_by = "test" };
}

static int import_file(struct firmware *fw, const char *path, const struct firmware_import *in,
		       struct firmware_record *rec, bool *created, struct firmware_error *err)
{
	size_t len = 0;
	uint8_t *data = read_all(path, &len);
	int r;

	if (!data)
		return -ENOENT;
	r = firmware_import(fw, data, len, in, rec, created, err);
	free(data);
	return r;
}

static void test_versions(void)
{
	struct mcuboot_version v;
	uint8_t fwid[10];
	char text[40];

	is_int(firmware_version_parse("1.2.3+4", &v), 0, "version 1.2.3+4");
	ok(v.major == 1 && v.minor == 2 && v.revision == 3 && v.build == 4, "1.2.3+4: the four parts");
	is_int(firmware_version_parse("2", &v), 0, "version 2");
	firmware_version_format(&v, text, sizeof(text));
	is_str(text, "2.0.0+0", "2 is 2.0.0+0");
	is_int(firmware_version_parse("255.255.65535+4294967295", &v), 0, "the largest version");
	is_int(firmware_version_parse("256.0.0", &v), -EINVAL, "major 256 is refused");
	is_int(firmware_version_parse("1.2.65536", &v), -EINVAL, "revision 65536 is refused");
	is_int(firmware_version_parse("1..2", &v), -EINVAL, "an empty part is refused");
	is_int(firmware_version_parse("1.2.3-rc1", &v), -EINVAL, "a suffix is refused");
	is_int(firmware_version_parse("0x1.2", &v), -EINVAL, "hex is refused");
	is_int(firmware_version_parse("", &v), -EINVAL, "an empty version is refused");
	v = (struct mcuboot_version){ 2, 1, 0x0304, 0x05060708 };
	is_int(firmware_fwid_derive(0x0059, &v, fwid), 10, "the derived FWID has 10 bytes");
	ok(memcmp(fwid, "\x59\x00\x02\x01\x04\x03\x08\x07\x06\x05", 10) == 0,
	   "FWID: company id LE, major, minor, revision LE, build LE");
	ok(firmware_id_valid(IMAGE_1_0_0_SHA256), "a SHA-256 in lowercase hex is an id");
	ok(!firmware_id_valid("DA9F7E051E606FCD257CCFA3C757D846D0FA620779A72AEEDA1444C3DA0C9363"), "upper case is not");
	ok(!firmware_id_valid("da9f"), "a short one is not");
	ok(!firmware_id_valid("../../etc/passwd"), "a path is not");
}

/* MCUboot images against the trust policy: signed with the trusted key, then every refusal stores nothing. */
static void test_mcuboot(struct db *db, struct firmware *fw)
{
	struct firmware_import in = import_defaults();
	struct firmware_record rec, again;
	struct firmware_error err;
	char path[600], text[40];
	bool created = false;
	struct stat st;

	fsync_calls = 0;
	is_int(import_file(fw, IMAGE_1_0_0, &in, &rec, &created, &err), 0, "a signed image with a trusted key");
	ok(created, "it is new");
	is_str(rec.id, IMAGE_1_0_0_SHA256, "the id is the file's SHA-256");
	is_int(rec.size, 181972, "size");
	is_str(firmware_kind_to_string(rec.kind), "mcuboot", "kind");
	firmware_version_format(&rec.version, text, sizeof(text));
	is_str(text, "1.0.0+0", "the version from the header");
	is_int(rec.firmware_id_len, 10, "FWID length");
	ok(memcmp(rec.firmware_id, "\x59\x00\x01\x00\x00\x00\x00\x00\x00\x00", 10) == 0, "FWID 0x0059 + 1.0.0+0");
	is_str(rec.signature_key, KEY_RSA_2048, "the verifying key is recorded");
	is_str(rec.imported_by, "test", "imported_by");
	ok(!rec.has_metadata, "no metadata");
	is_int(fsync_calls, 2, "fsync: the file, then the folder");
	snprintf(path, sizeof(path), "%s/%s", store_dir, IMAGE_1_0_0_SHA256);
	ok(stat(path, &st) == 0 && st.st_size == 181972, "the file is at STATE_DIR/firmware/<sha256>");
	is_int(st.st_mode & 0777, 0600, "the file is readable by the daemon's user only");
	is_int(rows(db), 1, "one row");

	is_int(import_file(fw, IMAGE_1_0_0, &in, &again, &created, &err), 0, "the same bytes again");
	ok(!created, "not new");
	is_str(again.id, rec.id, "the same id");
	is_int(again.imported_at, rec.imported_at, "the first import's record stands");
	is_int(rows(db), 1, "still one row");
	is_int(store_entries(), 1, "still one file");

	/* Refusals */
	is_int(import_file(fw, IMAGE_HASH_ONLY, &in, &again, &created, &err), -EBADMSG, "a hash-only image");
	is_int(err.refusal, FIRMWARE_REFUSED_TRUST, "hash-only: refused by the trust policy");
	is_str(err.reason, "no_signature", "hash-only: no_signature");
	is_int(import_file(fw, IMAGE_EC_P256, &in, &again, &created, &err), -EBADMSG, "an image of another key");
	is_str(err.reason, "key_not_trusted", "another key: key_not_trusted");
	{
		size_t len = 0;
		uint8_t *data = read_all(IMAGE_2_0_0, &len);

		data[1000] ^= 0x01;
		is_int(firmware_import(fw, data, len, &in, &again, &created, &err), -EBADMSG, "a flipped bit");
		is_int(err.refusal, FIRMWARE_REFUSED_IMAGE, "a flipped bit: the image is invalid");
		is_str(err.reason, "hash_mismatch", "a flipped bit: hash_mismatch");
		data[1000] ^= 0x01;
		is_int(firmware_import(fw, data, 0, &in, &again, &created, &err), -EBADMSG, "an empty body");
		is_str(err.reason, "empty", "empty");
		in.format = FIRMWARE_FORMAT_AUTO;
		is_int(firmware_import(fw, (const uint8_t *)"hello", 5, &in, &again, &created, &err), -EBADMSG,
		       "no magic, no format");
		is_str(err.reason, "unknown_format", "unknown_format");
		in.has_version = true;
		is_int(firmware_import(fw, data, len, &in, &again, &created, &err), -EBADMSG,
		       "a version given for an MCUboot image");
		is_str(err.reason, "version_given", "version_given");
		in.has_version = false;
		in.firmware_id = (const uint8_t *)"\x59";
		in.firmware_id_len = 1;
		is_int(firmware_import(fw, data, len, &in, &again, &created, &err), -EBADMSG, "a 1-byte FWID");
		is_str(err.reason, "firmware_id_length", "firmware_id_length");
		in.firmware_id = NULL;
		free(data);
	}
	is_int(rows(db), 1, "refusals: no row added");
	is_int(store_entries(), 1, "refusals: no file added");
}

/* The fsync path: a failed fsync of the file or of the folder leaves neither a file nor a row. */
static void test_fsync_failure(struct db *db, struct firmware *fw)
{
	struct firmware_import in = import_defaults();
	struct firmware_record rec;
	struct firmware_error err;
	bool created = false;

	fsync_calls = 0;
	fsync_fail_at = 0;
	fsync_result = -EIO;
	is_int(import_file(fw, IMAGE_2_0_0, &in, &rec, &created, &err), -EIO, "fsync of the file fails: -EIO");
	is_int(rows(db), 1, "fsync of the file failed: no row");
	is_int(store_entries(), 1, "fsync of the file failed: no file, no temp file");
	fsync_calls = 0;
	fsync_fail_at = 1;
	fsync_result = -ENOSPC;
	is_int(import_file(fw, IMAGE_2_0_0, &in, &rec, &created, &err), -ENOSPC,
	       "fsync of the folder fails: -ENOSPC");
	is_int(rows(db), 1, "fsync of the folder failed: no row");
	is_int(store_entries(), 1, "fsync of the folder failed: the renamed file is gone again");
	fsync_fail_at = ~0u;
	is_int(import_file(fw, IMAGE_2_0_0, &in, &rec, &created, &err), 0, "and then it works");
	is_int(rows(db), 2, "two rows");
}

static void test_verified_open(struct firmware *fw)
{
	struct firmware_import in = import_defaults();
	struct firmware_record rec;
	struct firmware_error err;
	char path[600], buf[4];
	bool created = true;
	uint64_t size = 0;
	int fd = -1;

	is_int(firmware_open_verified(fw, IMAGE_1_0_0_SHA256, &fd, &size), 0, "the stored file verifies");
	is_int(size, 181972, "its size");
	ok(fd >= 0 && read(fd, buf, 4) == 4 && memcmp(buf, "\x3d\xb8\xf3\x96", 4) == 0,
	   "the descriptor is at offset 0 (the MCUboot magic)");
	if (fd >= 0)
		close(fd);

	snprintf(path, sizeof(path), "%s/%s", store_dir, IMAGE_1_0_0_SHA256);
	fd = open(path, O_WRONLY);
	ok(fd >= 0 && pwrite(fd, "\x00", 1, 5000) == 1, "damage one byte of the stored file");
	if (fd >= 0)
		close(fd);
	fd = -1;
	is_int(firmware_open_verified(fw, IMAGE_1_0_0_SHA256, &fd, &size), -EBADMSG, "the damaged file is refused");
	is_int(fd, -1, "no descriptor is returned");
	ok(truncate(path, 100) == 0, "truncate the stored file");
	is_int(firmware_open_verified(fw, IMAGE_1_0_0_SHA256, &fd, &size), -EBADMSG, "the short file is refused");
	is_int(import_file(fw, IMAGE_1_0_0, &in, &rec, &created, &err), 0, "importing the same bytes again ...");
	ok(!created, "... finds the record ...");
	is_int(firmware_open_verified(fw, IMAGE_1_0_0_SHA256, &fd, &size), 0, "... and repairs the file");
	if (fd >= 0)
		close(fd);
	ok(unlink(path) == 0, "remove the stored file");
	is_int(firmware_open_verified(fw, IMAGE_1_0_0_SHA256, &fd, &size), -ENOENT, "a missing file: -ENOENT");
	is_int(import_file(fw, IMAGE_1_0_0, &in, &rec, &created, &err), 0, "importing again puts it back");
	is_int(firmware_open_verified(fw, IMAGE_1_0_0_SHA256, &fd, &size), 0, "and it verifies");
	if (fd >= 0)
		close(fd);
	is_int(firmware_open_verified(fw, "0000000000000000000000000000000000000000000000000000000000000000", &fd,
				      &size), -ENOENT, "an unknown id: -ENOENT");
}

/* HEX and raw images: unsigned, so only with require_signature off. */
static void test_unsigned(struct db *db, struct firmware *strict, struct firmware *lax)
{
	struct firmware_import in = import_defaults();
	struct firmware_record rec;
	struct firmware_error err;
	bool created = false;
	char text[40];
	int before = rows(db);

	in.format = FIRMWARE_FORMAT_RAW;
	is_int(firmware_import(lax, (const uint8_t *)"raw image", 9, &in, &rec, &created, &err), -EBADMSG,
	       "raw without a version");
	is_str(err.reason, "version_required", "version_required");
	in.has_version = true;
	in.version = (struct mcuboot_version){ 1, 2, 3, 4 };
	is_int(firmware_import(strict, (const uint8_t *)"raw image", 9, &in, &rec, &created, &err), -EBADMSG,
	       "raw with require_signature on");
	is_str(err.reason, "no_signature", "raw, require_signature: no_signature");
	in.company_id = 0x1234;
	in.metadata = (const uint8_t *)"\x01\x02\x03";
	in.metadata_len = 3;
	is_int(firmware_import(lax, (const uint8_t *)"raw image", 9, &in, &rec, &created, &err), 0,
	       "raw with require_signature off");
	ok(created && rec.kind == FIRMWARE_RAW && rec.size == 9, "a raw record of 9 bytes");
	ok(rec.firmware_id_len == 10 && memcmp(rec.firmware_id, "\x34\x12\x01\x02\x03\x00\x04\x00\x00\x00", 10) == 0,
	   "the FWID with company id 0x1234 and 1.2.3+4");
	ok(rec.has_metadata && rec.metadata_len == 3 && memcmp(rec.metadata, "\x01\x02\x03", 3) == 0, "metadata");
	is_str(rec.signature_key, "", "no key");

	in = import_defaults();
	in.format = FIRMWARE_FORMAT_RAW;
	in.has_version = true;
	in.firmware_id = (const uint8_t *)"\xe5\x02\xaa\xbb";
	in.firmware_id_len = 4;
	is_int(firmware_import(lax, (const uint8_t *)"other raw", 9, &in, &rec, &created, &err), 0,
	       "raw with an explicit FWID");
	ok(rec.firmware_id_len == 4 && memcmp(rec.firmware_id, "\xe5\x02\xaa\xbb", 4) == 0, "the FWID as given");

	in = import_defaults();
	in.format = FIRMWARE_FORMAT_HEX;
	in.has_version = true;
	is_int(import_file(lax, HEX_DIR "blinky_nrf52832_xxAA_s132_7.2.0.hex", &in, &rec, &created, &err), -EBADMSG,
	       "hex without region_start");
	is_str(err.reason, "region_start_required", "region_start_required");
	in.has_region_start = true;
	in.region_start = 0x26000;
	is_int(import_file(lax, HEX_DIR "blinky_nrf52832_xxAA_s132_7.2.0.hex", &in, &rec, &created, &err), 0,
	       "the S132 blinky at 0x26000");
	ok(rec.kind == FIRMWARE_HEX && rec.size == 2416, "stored as the 2416-byte binary");
	firmware_version_format(&rec.version, text, sizeof(text));
	is_str(text, "0.0.0+0", "the version as given");
	in.region_start = 0x27000;
	is_int(import_file(lax, HEX_DIR "blinky_nrf52840_xxAA_s140_7.2.0.hex", &in, &rec, &created, &err), -EBADMSG,
	       "the blinky linked at 0x0 against 0x27000");
	is_int(err.refusal, FIRMWARE_REFUSED_REGION, "refused for its region");
	has_str(err.message, "0x00000000", "the message names the image's start");
	has_str(err.message, "0x00027000", "and the region's");
	is_int(firmware_import(lax, (const uint8_t *)":00000001FE\n", 12, &in, &rec, &created, &err), -EBADMSG,
	       "a HEX file with a bad checksum");
	is_str(err.reason, "invalid_hex", "invalid_hex");
	is_int(rows(db), before + 3, "three rows added");
}

struct collect {
	char ids[8][FIRMWARE_ID_HEX + 1];
	int64_t times[8];
	int n;
};

static int collect_one(const struct firmware_record *rec, void *userdata)
{
	struct collect *c = userdata;

	if (c->n < 8) {
		memcpy(c->ids[c->n], rec->id, sizeof(c->ids[0]));
		c->times[c->n] = rec->imported_at;
		c->n++;
	}
	return 0;
}

static void test_list_delete(struct db *db, struct firmware *fw)
{
	struct collect all = { .n = 0 }, page = { .n = 0 };
	int total = rows(db), entries = store_entries();
	struct firmware_record rec;
	bool more = true;

	is_int(firmware_list(fw, 0, NULL, 100, collect_one, &all, &more), 0, "list all");
	is_int(all.n, total, "every record");
	ok(!more, "nothing more");
	is_int(firmware_list(fw, 0, NULL, 1, collect_one, &page, &more), 0, "a page of one");
	ok(page.n == 1 && more, "one record and more");
	is_int(firmware_list(fw, page.times[0], page.ids[0], 100, collect_one, &page, &more), 0, "the rest");
	is_int(page.n, total, "the pages hold every record");
	ok(page.n >= 2 && strcmp(page.ids[1], all.ids[1]) == 0, "in the same order");

	is_int(firmware_delete(fw, IMAGE_1_0_0_SHA256), 0, "delete");
	is_int(firmware_get(fw, IMAGE_1_0_0_SHA256, &rec), -ENOENT, "the record is gone");
	is_int(rows(db), total - 1, "one row fewer");
	is_int(store_entries(), entries - 1, "one file fewer");
	is_int(firmware_delete(fw, IMAGE_1_0_0_SHA256), -ENOENT, "deleting again: -ENOENT");
}

/* The metadata derived in the NCS layout from the image's version and size (core_type, composition_hash,
 * elements), and the metadata given and derived at once. */
static void test_derived_metadata(struct firmware *lax)
{
	static const uint8_t want[] = { 0x01, 0x02, 0x03, 0x00, 0x04, 0x00, 0x00, 0x00, 0x0b, 0x00, 0x00, 0x03,
					0x89, 0x70, 0x56, 0x7e, 0x02, 0x00 };
	struct firmware_import in = import_defaults();
	struct firmware_record rec;
	struct firmware_error err;
	bool created = false;
	json_t *o, *fields;

	in.format = FIRMWARE_FORMAT_RAW;
	in.has_version = true;
	in.version = (struct mcuboot_version){ 1, 2, 3, 4 };
	in.derive_metadata = true;
	in.core_type = 3;
	in.composition_hash = 0x7E567089;
	in.elements = 2;
	is_int(firmware_import(lax, (const uint8_t *)"derived raw", 11, &in, &rec, &created, &err), 0,
	       "raw with core_type, composition_hash and elements");
	ok(rec.has_metadata && rec.metadata_len == sizeof(want) && memcmp(rec.metadata, want, sizeof(want)) == 0,
	   "the metadata: version, size 11 (u24), core 3, hash LE, 2 elements");
	o = firmware_record_to_json(&rec);
	fields = json_object_get(o, "metadata_fields");
	is_str(json_string_value(json_object_get(fields, "composition_hash")), "0x7E567089", "shown decoded: hash");
	is_str(json_string_value(json_object_get(fields, "core_type")), "application+network", "shown decoded: core");
	is_int(json_integer_value(json_object_get(fields, "elements")), 2, "shown decoded: elements");
	is_int(json_integer_value(json_object_get(fields, "size")), 11, "shown decoded: size");
	json_decref(o);

	in.metadata = want;
	in.metadata_len = sizeof(want);
	is_int(firmware_import(lax, (const uint8_t *)"both raw", 8, &in, &rec, &created, &err), -EBADMSG,
	       "metadata given and derived at once");
	is_str(err.reason, "metadata_conflict", "metadata_conflict");

	/* metadata of another stack, 18 bytes that do not describe this image: not decoded */
	in.derive_metadata = false;
	is_int(firmware_import(lax, (const uint8_t *)"another stack", 13, &in, &rec, &created, &err), 0,
	       "18 bytes of metadata given for a 13-byte image");
	o = firmware_record_to_json(&rec);
	ok(json_is_null(json_object_get(o, "metadata_fields")), "not shown decoded: its size field says 11, not 13");
	is_str(json_string_value(json_object_get(o, "metadata")), "0102030004000000" "0b000003" "8970567e" "0200",
	       "the metadata itself is shown");
	json_decref(o);
}

/* A dfu_application.zip through firmware_import(): its application image, the package's FWID and metadata. */
static void test_package(struct firmware *fw)
{
	struct firmware_import in = import_defaults();
	struct firmware_record rec;
	struct firmware_error err;
	bool created = false;

	is_int(import_file(fw, NCS_DIR "mesh_light_1.0.0_thingy53_nrf5340.zip", &in, &rec, &created, &err), 0,
	       "a dfu_application.zip told by its first bytes");
	is_str(rec.id, "50345943485b56164aa930120f58da4db3a9e2cc910f19899c0dcf5b48d478ae",
	       "stored: its app_update.bin");
	ok(!rec.has_metadata, "no ble_mesh_metadata.json: no metadata");
	is_int(firmware_delete(fw, rec.id), 0, "deleted again");
	in.derive_metadata = true;
	in.core_type = 1;
	in.composition_hash = 0x7E567089;
	in.elements = 1;
	is_int(import_file(fw, NCS_DIR "mesh_light_1.0.0_thingy53_nrf5340.zip", &in, &rec, &created, &err), 0,
	       "the same package with the metadata derived");
	ok(rec.has_metadata && rec.metadata_len == 18 && rec.metadata[8] == 0x2c && rec.metadata[9] == 0x96 &&
	   rec.metadata[10] == 0x03, "the metadata says 235052 bytes (app_update.bin's size)");
	is_int(firmware_delete(fw, rec.id), 0, "deleted again");
	in = import_defaults();
	in.format = FIRMWARE_FORMAT_ZIP;
	is_int(import_file(fw, IMAGE_1_0_0, &in, &rec, &created, &err), -EBADMSG, "format=zip with an MCUboot image");
	ok(err.refusal == FIRMWARE_REFUSED_PACKAGE, "refused as a package");
	is_int(import_file(fw, NCS_DIR "dfu_blinky_3.0.0.zip", &in, &rec, &created, &err), -EBADMSG,
	       "the package that contradicts itself");
	has_str(err.message, "2.0.0+0", "the message names the header's version");
}

struct async_result {
	int calls;
	int result[2];
	bool created[2];
	char id[2][FIRMWARE_ID_HEX + 1];
	char reason[2][32];
};

static void on_async(void *userdata, int result, const struct firmware_record *record, bool created,
		     const struct firmware_error *err)
{
	struct async_result *a = userdata;
	int i = a->calls++;

	if (i >= 2)
		return;
	a->result[i] = result;
	a->created[i] = created;
	if (record)
		memcpy(a->id[i], record->id, sizeof(a->id[i]));
	snprintf(a->reason[i], sizeof(a->reason[i]), "%s", err && err->reason ? err->reason : "");
}

/* firmware_import_start(): two imports of the same bytes at once on the thread pool, then a refusal; the loop runs
 * until every callback came, and closes cleanly. */
static void test_async(struct db *db, struct firmware *fw)
{
	size_t len = 0;
	uint8_t *data = read_all(IMAGE_3_0_0, &len);
	struct firmware_import in = import_defaults();
	struct async_result a = { 0 };
	uv_loop_t loop;
	int before = rows(db), files = store_entries();

	if (!data || uv_loop_init(&loop) < 0) {
		printf("Bail out! async setup\n");
		exit(1);
	}
	is_int(firmware_import_start(fw, &loop, data, len, &in, on_async, &a), 0, "first import queued");
	is_int(firmware_import_start(fw, &loop, data, len, &in, on_async, &a), 0, "the same bytes queued again");
	is_int(firmware_imports_running(fw), 2, "two imports under way");
	is_int(uv_run(&loop, UV_RUN_DEFAULT), 0, "the loop runs until both called back");
	is_int(a.calls, 2, "two callbacks");
	ok(a.result[0] == 0 && a.result[1] == 0, "both succeed (%d, %d)", a.result[0], a.result[1]);
	ok(a.created[0] != a.created[1], "exactly one created the record");
	is_str(a.id[0], a.id[1], "the same id");
	is_int(rows(db), before + 1, "one row");
	is_int(store_entries(), files + 1, "one file, no temporary file left");
	is_int(firmware_imports_running(fw), 0, "nothing under way");

	a = (struct async_result){ 0 };
	data[len / 2] ^= 0x01;
	is_int(firmware_import_start(fw, &loop, data, len, &in, on_async, &a), 0, "a damaged image queued");
	is_int(uv_run(&loop, UV_RUN_DEFAULT), 0, "the loop runs until it called back");
	is_int(a.result[0], -EBADMSG, "refused");
	is_str(a.reason[0], "hash_mismatch", "hash_mismatch");
	is_int(rows(db), before + 1, "nothing recorded");
	is_int(uv_loop_close(&loop), 0, "the loop closes: no handle or request left");
	free(data);
}

int main(void)
{
	struct mcuboot_keyring *keys = mcuboot_keyring_new();
	const char *key_paths[] = { KEY_RSA_2048 };
	struct firmware *strict = NULL, *lax = NULL;
	struct mcuboot_error kerr;
	char path[512], errbuf[512];
	struct db *db = NULL;

	log_set_level(LOG_WARNING);
	if (!mkdtemp(dir) || !keys || mcuboot_keyring_load_files(keys, key_paths, 1, &kerr) < 0) {
		printf("Bail out! setup failed\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/meshfleet.db", dir);
	snprintf(store_dir, sizeof(store_dir), "%s/" FIRMWARE_DIR_NAME, dir);
	if (db_open(path, &db, errbuf, sizeof(errbuf)) < 0) {
		printf("Bail out! %s\n", errbuf);
		return 1;
	}
	is_int(firmware_new(&(struct firmware_options){ .state_dir = dir, .db = db, .keys = keys,
							.require_signature = true, .fsync = counting_fsync },
			    &strict, errbuf, sizeof(errbuf)), 0, "a store with require_signature");
	is_int(store_entries(), 0, "its folder is created, empty");
	is_int(firmware_new(&(struct firmware_options){ .state_dir = dir, .db = db, .keys = keys,
							.require_signature = false }, &lax, errbuf, sizeof(errbuf)), 0,
	       "a store without (same folder, real fsync)");
	ok(firmware_require_signature(strict) && !firmware_require_signature(lax), "the policy is kept");
	ok(!firmware_allow_downgrade(strict), "allow_downgrade is kept");

	test_versions();
	test_mcuboot(db, strict);
	test_fsync_failure(db, strict);
	test_verified_open(strict);
	test_unsigned(db, strict, lax);
	test_derived_metadata(lax);
	test_package(strict);
	test_async(db, lax);            /* real fsync: the counting one is not for threads */
	test_list_delete(db, strict);

	firmware_free(lax);
	firmware_free(strict);
	firmware_free(NULL);
	db_free(db);
	mcuboot_keyring_free(keys);
	{
		char cmd[600];

		/* the test's own temporary folder; no shell is involved in what the daemon does */
		snprintf(cmd, sizeof(cmd), "%s/" FIRMWARE_DIR_NAME, dir);
		DIR *d = opendir(cmd);
		struct dirent *e;

		while (d && (e = readdir(d))) {
			char p[1200];

			if (e->d_name[0] == '.')
				continue;
			snprintf(p, sizeof(p), "%s/%s", cmd, e->d_name);
			unlink(p);
		}
		if (d)
			closedir(d);
		rmdir(cmd);
		snprintf(cmd, sizeof(cmd), "%s/meshfleet.db", dir);
		unlink(cmd);
		snprintf(cmd, sizeof(cmd), "%s/meshfleet.db-wal", dir);
		unlink(cmd);
		snprintf(cmd, sizeof(cmd), "%s/meshfleet.db-shm", dir);
		unlink(cmd);
		rmdir(dir);
	}
	return done_testing();
}
