/* firmware: see firmware.h. */
#define _GNU_SOURCE     /* mkostemp() */
#include "firmware.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include <openssl/evp.h>

#include "ihex.h"
#include "log.h"
#include "package.h"
#include "util.h"

#define HASH_BLOCK (64u << 10)          /* bytes read at a time when a stored file is hashed again */


struct firmware {
	char dir[PATH_MAX];             /* STATE_DIR/firmware */
	struct db *db;
	const struct mcuboot_keyring *keys;
	bool require_signature;
	bool allow_downgrade;
	int (*fsync)(int fd);
	struct firmware_job *jobs;      /* imports under way (firmware_import_start(), firmware_import()) */
};

static const char *const kind_names[] = {
	[FIRMWARE_MCUBOOT] = "mcuboot",
	[FIRMWARE_HEX] = "hex",
	[FIRMWARE_RAW] = "raw",
};

const char *firmware_kind_to_string(enum firmware_kind kind)
{
	switch (kind) {
	case FIRMWARE_MCUBOOT:
	case FIRMWARE_HEX:
	case FIRMWARE_RAW:
		return kind_names[kind];
	}
	return "unknown";
}

static int kind_from_string(const char *s, enum firmware_kind *ret_kind)
{
	for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++) {
		if (strcmp(s, kind_names[i]) == 0) {
			*ret_kind = (enum firmware_kind)i;
			return 0;
		}
	}
	return -EINVAL;
}

static int fsync_default(int fd)
{
	return fsync(fd) < 0 ? -errno : 0;
}

int firmware_new(const struct firmware_options *options, struct firmware **ret_fw, char *errbuf, size_t errlen)
{
	struct firmware *fw = calloc(1, sizeof(*fw));
	int r;

	if (!fw) {
		snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	if ((size_t)snprintf(fw->dir, sizeof(fw->dir), "%s/" FIRMWARE_DIR_NAME, options->state_dir) >=
	    sizeof(fw->dir) - FIRMWARE_ID_HEX - 16) {
		snprintf(errbuf, errlen, "state directory path is too long for the firmware store: '%s'",
			 options->state_dir);
		free(fw);
		return -ENAMETOOLONG;
	}
	r = mkdir_if_missing(fw->dir, 0700);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot create the firmware store '%s': %s", fw->dir, strerror(-r));
		free(fw);
		return r;
	}
	fw->db = options->db;
	fw->keys = options->keys;
	fw->require_signature = options->require_signature;
	fw->allow_downgrade = options->allow_downgrade;
	fw->fsync = options->fsync ? options->fsync : fsync_default;
	*ret_fw = fw;
	return 0;
}

struct firmware *firmware_free(struct firmware *fw)
{
	if (fw && fw->jobs) {
		/* The loop runs until every queued import has called back; this is a bug in the caller. */
		log_err("firmware: the store is freed with %u imports under way: this is a bug; they are leaked",
			firmware_imports_running(fw));
		return NULL;
	}
	free(fw);
	return NULL;
}

bool firmware_require_signature(const struct firmware *fw)
{
	return fw->require_signature;
}

bool firmware_allow_downgrade(const struct firmware *fw)
{
	return fw->allow_downgrade;
}

bool firmware_id_valid(const char *id)
{
	size_t i;

	for (i = 0; id[i]; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return i == FIRMWARE_ID_HEX;
}

int firmware_path(const struct firmware *fw, const char *id, char *out, size_t size)
{
	if ((size_t)snprintf(out, size, "%s/%s", fw->dir, id) >= size)
		return -ENAMETOOLONG;
	return 0;
}

/* Parses one dot- or plus-separated number of a version; advances *p past it. */
static int version_part(const char **p, uint64_t max, const char *stops, uint64_t *ret_value)
{
	char part[16];
	size_t n = strcspn(*p, stops);

	if (n == 0 || n >= sizeof(part))
		return -EINVAL;
	memcpy(part, *p, n);
	part[n] = '\0';
	/* Decimal only: "0x10.1" is not a version anyone writes. */
	for (size_t i = 0; i < n; i++)
		if (part[i] < '0' || part[i] > '9')
			return -EINVAL;
	if (parse_uint(part, 0, max, ret_value) < 0)
		return -EINVAL;
	*p += n;
	return 0;
}

int firmware_version_parse(const char *text, struct mcuboot_version *ret_version)
{
	uint64_t major, minor = 0, revision = 0, build = 0;
	const char *p = text;

	if (version_part(&p, UINT8_MAX, ".+", &major) < 0)
		return -EINVAL;
	if (*p == '.') {
		p++;
		if (version_part(&p, UINT8_MAX, ".+", &minor) < 0)
			return -EINVAL;
		if (*p == '.') {
			p++;
			if (version_part(&p, UINT16_MAX, "+", &revision) < 0)
				return -EINVAL;
		}
	}
	if (*p == '+') {
		p++;
		if (version_part(&p, UINT32_MAX, "", &build) < 0)
			return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	*ret_version = (struct mcuboot_version){ (uint8_t)major, (uint8_t)minor, (uint16_t)revision, (uint32_t)build };
	return 0;
}

void firmware_version_format(const struct mcuboot_version *v, char *out, size_t size)
{
	snprintf(out, size, "%u.%u.%u+%lu", v->major, v->minor, v->revision, (unsigned long)v->build);
}

size_t firmware_fwid_derive(uint16_t company_id, const struct mcuboot_version *v, uint8_t out[10])
{
	out[0] = (uint8_t)company_id;
	out[1] = (uint8_t)(company_id >> 8);
	out[2] = v->major;
	out[3] = v->minor;
	out[4] = (uint8_t)v->revision;
	out[5] = (uint8_t)(v->revision >> 8);
	for (int i = 0; i < 4; i++)
		out[6 + i] = (uint8_t)(v->build >> (8 * i));
	return 10;
}

__attribute__((format(printf, 4, 5)))
static int refuse(struct firmware_error *err, enum firmware_refusal refusal, const char *reason, const char *fmt, ...)
{
	va_list ap;

	err->refusal = refusal;
	err->reason = reason;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static bool reason_is_trust(enum mcuboot_reason reason)
{
	switch (reason) {
	case MCUBOOT_NO_SIGNATURE:
	case MCUBOOT_KEYHASH_WITHOUT_SIGNATURE:
	case MCUBOOT_NO_KEYHASH:
	case MCUBOOT_KEY_NOT_TRUSTED:
	case MCUBOOT_KEY_TYPE:
	case MCUBOOT_BAD_SIGNATURE:
		return true;
	case MCUBOOT_OK:
	case MCUBOOT_TOO_LARGE:
	case MCUBOOT_TRUNCATED:
	case MCUBOOT_BAD_MAGIC:
	case MCUBOOT_HEADER_SIZE:
	case MCUBOOT_UNSUPPORTED_FLAGS:
	case MCUBOOT_ENCRYPTED:
	case MCUBOOT_PROTECTED_TLV_MAGIC:
	case MCUBOOT_PROTECTED_TLV_SIZE:
	case MCUBOOT_TLV_MAGIC:
	case MCUBOOT_TLV_SIZE:
	case MCUBOOT_TLV_OVERRUN:
	case MCUBOOT_TOO_MANY_TLVS:
	case MCUBOOT_TLV_LENGTH:
	case MCUBOOT_DUPLICATE_TLV:
	case MCUBOOT_TLV_PLACEMENT:
	case MCUBOOT_TRAILING_DATA:
	case MCUBOOT_NO_HASH:
	case MCUBOOT_HASH_MISMATCH:
	case MCUBOOT_INTERNAL:
	case MCUBOOT_REASON_COUNT:
		return false;
	}
	return false;
}

static bool starts_with_mcuboot_magic(const uint8_t *data, size_t len)
{
	return len >= 4 && ((uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16 |
			    (uint32_t)data[3] << 24) == MCUBOOT_IMAGE_MAGIC;
}

static int hash_fd(int fd, char out[FIRMWARE_ID_HEX + 1], uint64_t *ret_len);

static int sha256_hex(const uint8_t *data, size_t len, char out[FIRMWARE_ID_HEX + 1])
{
	uint8_t digest[32];
	unsigned digest_len = 0;

	if (EVP_Digest(data, len, digest, &digest_len, EVP_sha256(), NULL) != 1 || digest_len != sizeof(digest))
		return -ENOMEM;
	hex_encode(digest, sizeof(digest), out);
	return 0;
}

static int write_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static int fsync_dir(struct firmware *fw)
{
	int fd = open(fw->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return -errno;
	r = fw->fsync(fd);
	close(fd);
	return r;
}

/* Temp file → fsync → rename → fsync the folder. @replacing: a record already names this file, so a failure
 * after the rename leaves the (identical) file in place. */
static int store_file(struct firmware *fw, const char *id, const uint8_t *data, size_t len, bool replacing)
{
	char tmp[PATH_MAX], path[PATH_MAX];
	int fd, r;

	if (firmware_path(fw, id, path, sizeof(path)) < 0 ||
	    (size_t)snprintf(tmp, sizeof(tmp), "%s/.tmp-%s-XXXXXX", fw->dir, id) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r == 0)
		r = fw->fsync(fd);
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		unlink(tmp);
		return r;
	}
	r = fsync_dir(fw);
	if (r < 0 && !replacing)
		unlink(path);
	return r;
}

#define FIRMWARE_COLUMNS "id, size, kind, version_major, version_minor, version_revision, version_build, " \
	"firmware_id, metadata, signature_key, imported_at, imported_by"

static void copy_text(char *dst, size_t size, const unsigned char *src)
{
	snprintf(dst, size, "%s", src ? (const char *)src : "");
}

static int read_record(sqlite3_stmt *stmt, struct firmware_record *rec)
{
	const void *blob;
	int n;

	memset(rec, 0, sizeof(*rec));
	copy_text(rec->id, sizeof(rec->id), sqlite3_column_text(stmt, 0));
	rec->size = (uint64_t)sqlite3_column_int64(stmt, 1);
	if (kind_from_string((const char *)sqlite3_column_text(stmt, 2), &rec->kind) < 0)
		return -EBADMSG;
	rec->version.major = (uint8_t)sqlite3_column_int(stmt, 3);
	rec->version.minor = (uint8_t)sqlite3_column_int(stmt, 4);
	rec->version.revision = (uint16_t)sqlite3_column_int(stmt, 5);
	rec->version.build = (uint32_t)sqlite3_column_int64(stmt, 6);
	blob = sqlite3_column_blob(stmt, 7);
	n = sqlite3_column_bytes(stmt, 7);
	if (!blob || n < FIRMWARE_FWID_MIN || n > FIRMWARE_FWID_MAX)
		return -EBADMSG;
	memcpy(rec->firmware_id, blob, (size_t)n);
	rec->firmware_id_len = (size_t)n;
	if (sqlite3_column_type(stmt, 8) != SQLITE_NULL) {
		blob = sqlite3_column_blob(stmt, 8);
		n = sqlite3_column_bytes(stmt, 8);
		if (n > FIRMWARE_METADATA_MAX)
			return -EBADMSG;
		if (n > 0)
			memcpy(rec->metadata, blob, (size_t)n);
		rec->metadata_len = (size_t)n;
		rec->has_metadata = true;
	}
	copy_text(rec->signature_key, sizeof(rec->signature_key), sqlite3_column_text(stmt, 9));
	rec->imported_at = sqlite3_column_int64(stmt, 10);
	copy_text(rec->imported_by, sizeof(rec->imported_by), sqlite3_column_text(stmt, 11));
	return 0;
}

int firmware_get(struct firmware *fw, const char *id, struct firmware_record *ret_record)
{
	sqlite3_stmt *stmt = db_stmt(fw->db, "SELECT " FIRMWARE_COLUMNS " FROM firmware WHERE id = ?1");
	struct firmware_record rec;
	int rc, r;

	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		r = read_record(stmt, &rec);
		if (r == 0)
			*ret_record = rec;
	} else {
		r = db_result(fw->db, rc, "get firmware");
		if (r == 0)
			r = -ENOENT;
	}
	sqlite3_reset(stmt);
	return r;
}

static int insert_record(struct firmware *fw, const struct firmware_record *rec)
{
	sqlite3_stmt *stmt = db_stmt(fw->db, "INSERT INTO firmware (" FIRMWARE_COLUMNS ") "
				     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");

	if (!stmt)
		return -EIO;
	sqlite3_bind_text(stmt, 1, rec->id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, (sqlite3_int64)rec->size);
	sqlite3_bind_text(stmt, 3, firmware_kind_to_string(rec->kind), -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 4, rec->version.major);
	sqlite3_bind_int(stmt, 5, rec->version.minor);
	sqlite3_bind_int(stmt, 6, rec->version.revision);
	sqlite3_bind_int64(stmt, 7, rec->version.build);
	sqlite3_bind_blob(stmt, 8, rec->firmware_id, (int)rec->firmware_id_len, SQLITE_STATIC);
	if (rec->has_metadata)
		sqlite3_bind_blob(stmt, 9, rec->metadata_len ? (const void *)rec->metadata : "", (int)rec->metadata_len,
				  SQLITE_STATIC);
	if (rec->signature_key[0])
		sqlite3_bind_text(stmt, 10, rec->signature_key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 11, rec->imported_at);
	sqlite3_bind_text(stmt, 12, rec->imported_by, -1, SQLITE_STATIC);
	return db_result(fw->db, sqlite3_step(stmt), "record firmware");
}

/* What the checks of one kind leave: the bytes to store (borrowed from the request or owned by hex) and what
 * the file says about itself. */
struct checked {
	enum firmware_kind kind;
	const uint8_t *bytes;
	size_t len;
	struct mcuboot_version version;
	const char *key_name;           /* borrowed from the keyring; NULL when unsigned */
};

static int check_mcuboot(struct firmware *fw, const uint8_t *data, size_t len, const struct firmware_import *in,
			 struct checked *out, struct firmware_error *err)
{
	enum mcuboot_reason reason = MCUBOOT_OK;
	struct mcuboot_image image;
	const char *key_name = NULL;
	int r;

	if (in->has_version)
		return refuse(err, FIRMWARE_REFUSED_PARAMETER, "version_given", "an MCUboot image carries its "
			      "version in its header: leave out version (or override firmware_id)");
	if (in->has_region_start)
		return refuse(err, FIRMWARE_REFUSED_PARAMETER, "region_start_given", "region_start is for "
			      "format=hex only");
	r = mcuboot_verify(data, len, fw->keys, fw->require_signature, &image, &key_name, &reason);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return refuse(err, reason_is_trust(reason) ? FIRMWARE_REFUSED_TRUST : FIRMWARE_REFUSED_IMAGE,
			      mcuboot_reason_to_string(reason), "%s", mcuboot_reason_describe(reason));
	*out = (struct checked){ FIRMWARE_MCUBOOT, data, len, image.version, key_name };
	return 0;
}

static int check_unsigned_policy(struct firmware *fw, const char *format, struct firmware_error *err)
{
	if (!fw->require_signature)
		return 0;
	return refuse(err, FIRMWARE_REFUSED_TRUST, "no_signature", "a %s image carries no signature "
		      "and [firmware] require_signature is on; import a signed MCUboot image, or turn "
		      "require_signature off for unsigned images", format);
}

static int check_hex(struct firmware *fw, const uint8_t *data, size_t len, const struct firmware_import *in,
		     struct ihex_image *image, struct checked *out, struct firmware_error *err)
{
	struct ihex_error herr = { 0 };
	int r;

	if (!in->has_region_start)
		return refuse(err, FIRMWARE_REFUSED_PARAMETER, "region_start_required", "format=hex needs "
			      "region_start: the address the application region starts at (e.g. 0x27000 after the "
			      "S140 7.x SoftDevice)");
	if (!in->has_version)
		return refuse(err, FIRMWARE_REFUSED_PARAMETER, "version_required", "format=hex needs version "
			      "(MAJOR.MINOR.REVISION+BUILD): a HEX file does not say it");
	r = check_unsigned_policy(fw, "format=hex", err);
	if (r < 0)
		return r;
	r = ihex_parse((const char *)data, len, NULL, image, &herr);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return refuse(err, FIRMWARE_REFUSED_HEX, "invalid_hex", "%s", herr.message);
	if (ihex_check_region(image, in->region_start, 0, &herr) < 0)
		return refuse(err, FIRMWARE_REFUSED_REGION, "wrong_region", "%s", herr.message);
	/* A signed image inside a HEX would be stored without its signature being checked. */
	if (image->mcuboot_header)
		return refuse(err, FIRMWARE_REFUSED_FORMAT, "mcuboot_in_hex", "this HEX file holds an MCUboot image: "
			      "import its signed binary (zephyr.signed.bin) so that its signature is checked");
	*out = (struct checked){ FIRMWARE_HEX, image->data, image->size, in->version, NULL };
	return 0;
}

static int check_image(struct firmware *fw, const uint8_t *data, size_t len, const struct firmware_import *in,
		       struct ihex_image *hex, struct checked *out, struct firmware_error *err)
{
	enum firmware_format format = in->format;
	int r;

	if (len == 0)
		return refuse(err, FIRMWARE_REFUSED_FORMAT, "empty", "the body is empty: send the image's bytes");
	if (format == FIRMWARE_FORMAT_AUTO) {
		if (!starts_with_mcuboot_magic(data, len))
			return refuse(err, FIRMWARE_REFUSED_FORMAT, "unknown_format", "not an MCUboot image (no "
				      "magic 0x96f3b83d at the start) and not a zip: give format=hex or format=raw for other "
				      "files");
		format = FIRMWARE_FORMAT_MCUBOOT;
	}
	switch (format) {
	case FIRMWARE_FORMAT_AUTO:
	case FIRMWARE_FORMAT_MCUBOOT:
	case FIRMWARE_FORMAT_ZIP:       /* unpack() has taken the package's application image out */
		return check_mcuboot(fw, data, len, in, out, err);
	case FIRMWARE_FORMAT_HEX:
		return check_hex(fw, data, len, in, hex, out, err);
	case FIRMWARE_FORMAT_RAW:
		if (!in->has_version)
			return refuse(err, FIRMWARE_REFUSED_PARAMETER, "version_required", "format=raw needs version "
				      "(MAJOR.MINOR.REVISION+BUILD)");
		if (in->has_region_start)
			return refuse(err, FIRMWARE_REFUSED_PARAMETER, "region_start_given", "region_start is for "
				      "format=hex only");
		r = check_unsigned_policy(fw, "format=raw", err);
		if (r < 0)
			return r;
		*out = (struct checked){ FIRMWARE_RAW, data, len, in->version, NULL };
		return 0;
	}
	return -EINVAL;
}

/* One import, from the request to its record. The checks, the hash and the file (import_prepare()) touch neither
 * the database nor anything but this job, the read-only keyring and the store's folder: they may run on a worker
 * thread. The record (import_commit()) is written on the loop thread. */
struct firmware_job {
	struct firmware *fw;
	struct firmware_job *prev, *next;       /* fw->jobs */
	uv_work_t work;
	const uint8_t *data;                    /* borrowed until the callback */
	size_t len;
	struct firmware_import in;              /* its pointers point into the copies below */
	uint8_t firmware_id[FIRMWARE_FWID_MAX];
	uint8_t metadata[FIRMWARE_METADATA_MAX];
	char imported_by[FIRMWARE_IMPORTED_BY_MAX];
	firmware_import_fn cb;
	void *userdata;
	int result;                             /* of import_prepare(), then of import_commit() */
	struct firmware_record rec;             /* what the file says, filled by import_prepare() */
	bool created;
	struct firmware_error err;
};

static struct firmware_job *job_new(struct firmware *fw, const uint8_t *data, size_t len,
				    const struct firmware_import *in)
{
	struct firmware_job *job = calloc(1, sizeof(*job));

	if (!job)
		return NULL;
	job->fw = fw;
	job->data = data;
	job->len = len;
	job->in = *in;
	/* Copies bounded by the limits; an over-long value is refused by import_prepare() from its length. */
	if (in->firmware_id)
		memcpy(job->firmware_id, in->firmware_id, MIN(in->firmware_id_len, sizeof(job->firmware_id)));
	job->in.firmware_id = in->firmware_id ? job->firmware_id : NULL;
	if (in->metadata)
		memcpy(job->metadata, in->metadata, MIN(in->metadata_len, sizeof(job->metadata)));
	job->in.metadata = in->metadata ? job->metadata : NULL;
	snprintf(job->imported_by, sizeof(job->imported_by), "%s", in->imported_by ? in->imported_by : "");
	job->in.imported_by = job->imported_by;
	job->next = fw->jobs;
	if (fw->jobs)
		fw->jobs->prev = job;
	fw->jobs = job;
	return job;
}

static void job_free(struct firmware_job *job)
{
	struct firmware *fw = job->fw;

	if (job->prev)
		job->prev->next = job->next;
	else
		fw->jobs = job->next;
	if (job->next)
		job->next->prev = job->prev;
	free(job);
}

/* Whether another import of the same bytes is under way: its file must not be removed under it. */
static bool job_twin_running(const struct firmware_job *job)
{
	for (const struct firmware_job *j = job->fw->jobs; j; j = j->next)
		if (j != job && strcmp(j->rec.id, job->rec.id) == 0)
			return true;
	return false;
}

/* Whether the stored file of @id holds exactly these bytes (read back and hashed, so a damaged file is written
 * again). Quiet: it runs on the worker. */
static bool file_matches(struct firmware *fw, const char *id, size_t len)
{
	char path[PATH_MAX], hash[FIRMWARE_ID_HEX + 1];
	uint64_t n = 0;
	bool same;
	int fd;

	if (firmware_path(fw, id, path, sizeof(path)) < 0)
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	same = hash_fd(fd, hash, &n) == 0 && n == len && strcmp(hash, id) == 0;
	close(fd);
	return same;
}

/* A dfu_application.zip (format=zip, or no format and a zip's first bytes): its application image is what is
 * checked and stored, with the package's firmware ID and metadata unless the import gives or derives them. */
static int unpack(struct firmware_job *job, struct package *pkg, const uint8_t **data, size_t *len,
		  struct firmware_error *err)
{
	struct firmware_import *in = &job->in;
	char message[sizeof(err->message)];
	int r;

	if (!(in->format == FIRMWARE_FORMAT_ZIP ||
	      (in->format == FIRMWARE_FORMAT_AUTO && *len >= 4 && memcmp(*data, "PK\3\4", 4) == 0)))
		return 0;
	r = package_open(*data, *len, NULL, pkg, message, sizeof(message));
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return refuse(err, FIRMWARE_REFUSED_PACKAGE, "invalid_package", "%s", message);
	if (!in->firmware_id) {
		memcpy(job->firmware_id, pkg->firmware_id, pkg->firmware_id_len);
		in->firmware_id = job->firmware_id;
		in->firmware_id_len = pkg->firmware_id_len;
	}
	if (!in->metadata && !in->derive_metadata && pkg->metadata_len) {
		memcpy(job->metadata, pkg->metadata, pkg->metadata_len);
		in->metadata = job->metadata;
		in->metadata_len = pkg->metadata_len;
	}
	in->format = FIRMWARE_FORMAT_MCUBOOT;
	*data = pkg->image;
	*len = pkg->image_len;
	return 0;
}

/* Checks, hashes and stores the file; fills job->rec but for imported_at. Thread-safe (see struct firmware_job). */
static int import_prepare(struct firmware_job *job)
{
	struct firmware *fw = job->fw;
	const struct firmware_import *in = &job->in;
	struct firmware_record *rec = &job->rec;
	struct firmware_error *err = &job->err;
	const uint8_t *data = job->data;
	size_t len = job->len;
	struct package pkg = { 0 };
	struct ihex_image hex;
	struct checked c;
	int r;

	ihex_image_init(&hex);
	if (len > FIRMWARE_IMAGE_MAX) {
		r = -EFBIG;
		goto out;
	}
	r = unpack(job, &pkg, &data, &len, err);
	if (r < 0)
		goto out;
	r = check_image(fw, data, len, in, &hex, &c, err);
	if (r < 0)
		goto out;
	if (in->firmware_id && (in->firmware_id_len < FIRMWARE_FWID_MIN || in->firmware_id_len > FIRMWARE_FWID_MAX)) {
		r = refuse(err, FIRMWARE_REFUSED_PARAMETER, "firmware_id_length", "firmware_id of %zu bytes: a "
			   "Mesh DFU Firmware ID has %d to %d bytes (company id first)", in->firmware_id_len,
			   FIRMWARE_FWID_MIN, FIRMWARE_FWID_MAX);
		goto out;
	}
	if (in->metadata && in->derive_metadata) {
		r = refuse(err, FIRMWARE_REFUSED_PARAMETER, "metadata_conflict", "give metadata (the whole field in "
			   "hex) or the fields to derive it from (core_type, composition_hash, elements), not both");
		goto out;
	}
	if (in->metadata && in->metadata_len > FIRMWARE_METADATA_MAX) {
		r = refuse(err, FIRMWARE_REFUSED_PARAMETER, "metadata_length", "metadata of %zu bytes: at most %d",
			   in->metadata_len, FIRMWARE_METADATA_MAX);
		goto out;
	}
	r = sha256_hex(c.bytes, c.len, rec->id);
	if (r < 0)
		goto out;
	rec->size = c.len;
	rec->kind = c.kind;
	rec->version = c.version;
	if (in->firmware_id) {
		memcpy(rec->firmware_id, in->firmware_id, in->firmware_id_len);
		rec->firmware_id_len = in->firmware_id_len;
	} else {
		rec->firmware_id_len = firmware_fwid_derive(in->company_id, &c.version, rec->firmware_id);
	}
	if (in->metadata) {
		rec->has_metadata = true;
		if (in->metadata_len)
			memcpy(rec->metadata, in->metadata, in->metadata_len);
		rec->metadata_len = in->metadata_len;
	} else if (in->derive_metadata) {
		/* c.len fits the u24 size field: FIRMWARE_IMAGE_MAX is below 16 MiB. */
		rec->has_metadata = true;
		rec->metadata_len = package_encode_metadata(&c.version, (uint32_t)c.len, in->core_type,
							    in->composition_hash, in->elements, rec->metadata);
	}
	if (c.key_name)
		snprintf(rec->signature_key, sizeof(rec->signature_key), "%s", c.key_name);
	snprintf(rec->imported_by, sizeof(rec->imported_by), "%s", in->imported_by);
	/* File first: a record always names a complete file; a crash before the record leaves an unnamed file that
	 * the next import of the same bytes takes over. Bytes already stored intact are not written again. */
	if (!file_matches(fw, rec->id, c.len))
		r = store_file(fw, rec->id, c.bytes, c.len, false);
out:
	ihex_image_done(&hex);
	package_free(&pkg);
	return r;
}

/* The record, on the loop thread, after import_prepare() succeeded. */
static int import_commit(struct firmware_job *job)
{
	struct firmware *fw = job->fw;
	struct firmware_record *existing = malloc(sizeof(*existing));
	char path[PATH_MAX];
	struct stat st;
	int r;

	if (!existing)
		return -ENOMEM;
	r = firmware_get(fw, job->rec.id, existing);
	if (r == 0) {
		/* Known bytes: the first import's record stands (its file was checked or put back above). */
		job->rec = *existing;
		job->created = false;
		goto out;
	}
	if (r != -ENOENT)
		goto out;
	r = firmware_path(fw, job->rec.id, path, sizeof(path));
	if (r < 0)
		goto out;
	/* A DELETE of the same image may have run while the file was written: never a record without its file. */
	if (stat(path, &st) < 0 || (uint64_t)st.st_size != job->rec.size) {
		r = -ESTALE;
		goto out;
	}
	job->rec.imported_at = time_now_ms();
	r = insert_record(fw, &job->rec);
	if (r < 0) {
		if (!job_twin_running(job))
			unlink(path);
		goto out;
	}
	job->created = true;
out:
	free(existing);
	return r;
}

int firmware_import(struct firmware *fw, const uint8_t *data, size_t len, const struct firmware_import *in,
		    struct firmware_record *ret_record, bool *ret_created, struct firmware_error *err)
{
	struct firmware_job *job = job_new(fw, data, len, in);
	int r;

	memset(err, 0, sizeof(*err));
	if (!job)
		return -ENOMEM;
	r = import_prepare(job);
	if (r == 0)
		r = import_commit(job);
	if (r == 0) {
		*ret_record = job->rec;
		*ret_created = job->created;
	}
	*err = job->err;
	job_free(job);
	return r;
}

static void on_import_work(uv_work_t *work)
{
	struct firmware_job *job = work->data;

	job->result = import_prepare(job);
}

static void on_import_done(uv_work_t *work, int status)
{
	struct firmware_job *job = work->data;

	if (status < 0)
		job->result = status == UV_ECANCELED ? -ECANCELED : -EIO;
	if (job->result == 0)
		job->result = import_commit(job);
	job->cb(job->userdata, job->result, job->result == 0 ? &job->rec : NULL, job->created, &job->err);
	job_free(job);
}

int firmware_import_start(struct firmware *fw, uv_loop_t *loop, const uint8_t *data, size_t len,
			  const struct firmware_import *in, firmware_import_fn cb, void *userdata)
{
	struct firmware_job *job = job_new(fw, data, len, in);
	int r;

	if (!job)
		return -ENOMEM;
	job->cb = cb;
	job->userdata = userdata;
	job->work.data = job;
	r = uv_queue_work(loop, &job->work, on_import_work, on_import_done);
	if (r < 0) {
		job_free(job);
		return r;
	}
	return 0;
}

unsigned firmware_imports_running(const struct firmware *fw)
{
	unsigned n = 0;

	for (const struct firmware_job *j = fw->jobs; j; j = j->next)
		n++;
	return n;
}

int firmware_list(struct firmware *fw, int64_t after_time, const char *after_id, unsigned limit,
		  firmware_list_fn fn, void *userdata, bool *ret_more)
{
	sqlite3_stmt *stmt = db_stmt(fw->db, "SELECT " FIRMWARE_COLUMNS " FROM firmware"
				     " WHERE ?2 IS NULL OR (imported_at, id) > (?1, ?2)"
				     " ORDER BY imported_at, id LIMIT ?3");
	struct firmware_record *rec = malloc(sizeof(*rec));
	unsigned seen = 0;
	int rc, r = 0;

	if (!rec)
		return -ENOMEM;
	if (!stmt) {
		free(rec);
		return -EIO;
	}
	sqlite3_bind_int64(stmt, 1, after_time);
	if (after_id)
		sqlite3_bind_text(stmt, 2, after_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, (sqlite3_int64)limit + 1);
	*ret_more = false;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		if (seen == limit) {
			*ret_more = true;
			break;
		}
		seen++;
		r = read_record(stmt, rec);
		if (r == 0)
			r = fn(rec, userdata);
		if (r != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		r = db_result(fw->db, rc, "list firmware");
	sqlite3_reset(stmt);
	free(rec);
	return r;
}

int firmware_delete(struct firmware *fw, const char *id)
{
	/* A campaign that is not terminal (campaigns.h) keeps its image: checked in the same statement, so no campaign
	 * created meanwhile can lose it. */
	sqlite3_stmt *stmt = db_stmt(fw->db, "DELETE FROM firmware WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM "
				     "campaigns WHERE firmware_id = ?1 AND state NOT IN ('completed', 'failed', 'cancelled'))");
	sqlite3_stmt *exists = db_stmt(fw->db, "SELECT EXISTS (SELECT 1 FROM firmware WHERE id = ?1)");
	char path[PATH_MAX];
	int r, rc;

	if (!stmt || !exists)
		return -EIO;
	if (firmware_path(fw, id, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	sqlite3_bind_text(stmt, 1, id, -1, SQLITE_STATIC);
	r = db_result(fw->db, sqlite3_step(stmt), "delete firmware");
	if (r < 0)
		return r;
	if (sqlite3_changes(db_handle(fw->db)) == 0) {
		sqlite3_bind_text(exists, 1, id, -1, SQLITE_STATIC);
		rc = sqlite3_step(exists);
		r = rc == SQLITE_ROW && sqlite3_column_int(exists, 0) ? -EBUSY : -ENOENT;
		sqlite3_reset(exists);
		return rc == SQLITE_ROW ? r : db_result(fw->db, rc, "look for firmware");
	}
	/* Record first: a crash now leaves an unnamed file, never a record without its file. */
	if (unlink(path) < 0 && errno != ENOENT) {
		log_warning("firmware %s: record deleted, but its file '%s' stays: %s", id, path, strerror(errno));
		return 0;
	}
	r = fsync_dir(fw);
	if (r < 0)
		log_warning("firmware %s: cannot sync the folder '%s' after deleting the file: %s", id, fw->dir,
			    strerror(-r));
	return 0;
}

static int hash_fd(int fd, char out[FIRMWARE_ID_HEX + 1], uint64_t *ret_len)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *buf = malloc(HASH_BLOCK), digest[32];
	unsigned digest_len = 0;
	uint64_t total = 0;
	int r = 0;

	if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = -ENOMEM;
		goto out;
	}
	for (;;) {
		ssize_t n = read(fd, buf, HASH_BLOCK);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
			r = -ENOMEM;
			goto out;
		}
		total += (uint64_t)n;
	}
	if (EVP_DigestFinal_ex(ctx, digest, &digest_len) != 1 || digest_len != sizeof(digest)) {
		r = -ENOMEM;
		goto out;
	}
	hex_encode(digest, sizeof(digest), out);
	*ret_len = total;
out:
	free(buf);
	EVP_MD_CTX_free(ctx);
	return r;
}

int firmware_open_verified(struct firmware *fw, const char *id, int *ret_fd, uint64_t *ret_size)
{
	struct firmware_record *rec = malloc(sizeof(*rec));
	char path[PATH_MAX], hash[FIRMWARE_ID_HEX + 1];
	uint64_t len = 0;
	int fd = -1, r;

	if (!rec)
		return -ENOMEM;
	r = firmware_id_valid(id) ? firmware_get(fw, id, rec) : -ENOENT;
	if (r < 0)
		goto fail;
	r = firmware_path(fw, id, path, sizeof(path));
	if (r < 0)
		goto fail;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		r = -errno;
		goto fail;
	}
	r = hash_fd(fd, hash, &len);
	if (r < 0)
		goto fail;
	if (len != rec->size || strcmp(hash, id) != 0) {
		log_err("firmware %s: the stored file '%s' has changed (%llu bytes, SHA-256 %s): delete the image "
			"and import it again", id, path, (unsigned long long)len, hash);
		r = -EBADMSG;
		goto fail;
	}
	if (lseek(fd, 0, SEEK_SET) < 0) {
		r = -errno;
		goto fail;
	}
	free(rec);
	*ret_fd = fd;
	*ret_size = len;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	free(rec);
	return r;
}

/* The NCS metadata decoded, when it is about this image (see firmware.h); JSON null otherwise. */
static json_t *metadata_fields_to_json(const struct firmware_record *rec)
{
	struct package_metadata_fields f;
	char version[40], core[64], hash[11];

	if (!rec->has_metadata || package_decode_metadata(rec->metadata, rec->metadata_len, &f) < 0 ||
	    mcuboot_version_compare(&f.version, &rec->version, true) != 0 ||
	    f.size != rec->size)
		return json_null();
	firmware_version_format(&f.version, version, sizeof(version));
	package_core_type_format(f.core_type, core, sizeof(core));
	snprintf(hash, sizeof(hash), "0x%08" PRIX32, f.composition_hash);
	return json_pack("{s:s, s:I, s:s, s:i, s:s, s:i, s:I}", "version", version, "size", (json_int_t)f.size,
			 "core_type", core, "core_type_bits", f.core_type, "composition_hash", hash,
			 "elements", f.elements, "user_data_bytes", (json_int_t)f.user_data_len);
}

json_t *firmware_record_to_json(const struct firmware_record *rec)
{
	char version[40], fwid[2 * FIRMWARE_FWID_MAX + 1], metadata[2 * FIRMWARE_METADATA_MAX + 1], time[21];
	json_t *o;

	firmware_version_format(&rec->version, version, sizeof(version));
	hex_encode(rec->firmware_id, rec->firmware_id_len, fwid);
	time_format_rfc3339(rec->imported_at, time);
	o = json_pack("{s:s, s:I, s:s, s:s, s:{s:i, s:i, s:i, s:I}, s:s, s:o, s:b, s:o, s:s, s:s}",
		      "id", rec->id, "size", (json_int_t)rec->size, "kind", firmware_kind_to_string(rec->kind),
		      "version", version, "version_parts", "major", rec->version.major, "minor", rec->version.minor,
		      "revision", rec->version.revision, "build", (json_int_t)rec->version.build,
		      "firmware_id", fwid, "metadata", json_null(), "signed", rec->signature_key[0] != '\0',
		      "signature_key", rec->signature_key[0] ? json_string(rec->signature_key) : json_null(),
		      "imported_at", time, "imported_by", rec->imported_by);
	if (o && rec->has_metadata) {
		hex_encode(rec->metadata, rec->metadata_len, metadata);
		json_object_set_new(o, "metadata", json_string(metadata));
	}
	if (o)
		json_object_set_new(o, "metadata_fields", metadata_fields_to_json(rec));
	return o;
}
