/* firmware: the firmware store. Checks an image (MCUboot through mcuboot.c and the trust policy, Intel HEX through
 * ihex.c, raw binaries with their version given), keeps its bytes content-addressed by SHA-256 under
 * STATE_DIR/firmware/<sha256> and records it in the `firmware` table. Design and decisions: docs/firmware.md,
 * "Importing firmware".
 *
 * Glossary:
 *   id     - the SHA-256 of the stored bytes in lowercase hex (64 digits): file name and primary key
 *   kind   - what was imported: an MCUboot image (stored as is), an Intel HEX file (stored as the binary image it
 *            describes, from the region start) or a raw binary
 *   FWID   - the Mesh DFU Firmware ID a target reports after the update: company id (2 bytes, little endian) and
 *            vendor version bytes; derived as in nRF Connect SDK unless given
 */
#ifndef MESHFLEET_FIRMWARE_H
#define MESHFLEET_FIRMWARE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "db.h"
#include "mcuboot.h"

#define FIRMWARE_DIR_NAME "firmware"
#define FIRMWARE_ID_HEX 64                      /* SHA-256 in hex */
#define FIRMWARE_IMAGE_MAX (8u << 20)           /* bytes of an imported file (a HEX file's text included) */
#define FIRMWARE_UPLOAD_MAX (FIRMWARE_IMAGE_MAX + (64u << 10))  /* a request body: the file and a form's
								 * boundaries, part headers and fields */
#define FIRMWARE_FWID_MIN 2                     /* the company id alone */
#define FIRMWARE_FWID_MAX 108                   /* Mesh DFU: the longest FWID a Firmware Update message can hold */
#define FIRMWARE_METADATA_MAX 255               /* Mesh DFU: Incoming Firmware Metadata */
#define FIRMWARE_DEFAULT_COMPANY_ID 0x0059      /* Nordic Semiconductor, nRF Connect SDK's default */
#define FIRMWARE_IMPORTED_BY_MAX 64

enum firmware_kind {
	FIRMWARE_MCUBOOT,
	FIRMWARE_HEX,
	FIRMWARE_RAW,
};

/* What the caller says about an import. */
enum firmware_format {
	FIRMWARE_FORMAT_AUTO,           /* MCUboot when the file starts with its magic; refused otherwise */
	FIRMWARE_FORMAT_MCUBOOT,
	FIRMWARE_FORMAT_HEX,
	FIRMWARE_FORMAT_RAW,
	FIRMWARE_FORMAT_ZIP,            /* an nRF Connect SDK dfu_application.zip: its application image (package.h) */
};

struct firmware_record {
	char id[FIRMWARE_ID_HEX + 1];
	uint64_t size;
	enum firmware_kind kind;
	struct mcuboot_version version;
	uint8_t firmware_id[FIRMWARE_FWID_MAX];
	size_t firmware_id_len;
	bool has_metadata;
	uint8_t metadata[FIRMWARE_METADATA_MAX];
	size_t metadata_len;
	char signature_key[PATH_MAX];   /* the trusted key that verified the image; "" when unsigned */
	int64_t imported_at;            /* ms since the epoch */
	char imported_by[FIRMWARE_IMPORTED_BY_MAX];
};

struct firmware_import {
	enum firmware_format format;
	uint16_t company_id;                    /* for the derived FWID */
	const uint8_t *firmware_id;             /* borrowed; NULL: derived from company_id and the version */
	size_t firmware_id_len;
	const uint8_t *metadata;                /* borrowed; NULL: none (or derived, below) */
	size_t metadata_len;
	/* Derive the metadata in the NCS layout (package_encode_metadata()) from the image's version and size and
	 * these; not together with @metadata. */
	bool derive_metadata;
	uint8_t core_type;                      /* PACKAGE_CORE_* bits */
	uint32_t composition_hash;
	uint16_t elements;
	bool has_region_start;                  /* required for HEX */
	uint32_t region_start;
	bool has_version;                       /* required for HEX and raw; refused for MCUboot (its header says) */
	struct mcuboot_version version;
	const char *imported_by;                /* borrowed */
};

/* Why an import was refused: a stable token and a sentence for a person. */
enum firmware_refusal {
	FIRMWARE_REFUSED_NONE,
	FIRMWARE_REFUSED_FORMAT,        /* no format given and not an MCUboot image */
	FIRMWARE_REFUSED_IMAGE,         /* the MCUboot image is malformed or its hash does not match */
	FIRMWARE_REFUSED_TRUST,         /* the trust policy refuses it: unsigned, unknown key, bad signature */
	FIRMWARE_REFUSED_HEX,           /* the Intel HEX file does not read */
	FIRMWARE_REFUSED_REGION,        /* the HEX image does not start at the region start */
	FIRMWARE_REFUSED_PARAMETER,     /* the import's parameters do not fit the file (missing version, ...) */
	FIRMWARE_REFUSED_PACKAGE,       /* the dfu_application.zip is refused as a whole (package_open()) */
};

struct firmware_error {
	enum firmware_refusal refusal;
	const char *reason;             /* static token: an MCUboot reason, or "unknown_format", "invalid_hex", ... */
	char message[640];              /* a sentence without the token */
};

struct firmware_options {
	const char *state_dir;                  /* borrowed; the store is STATE_DIR/firmware */
	struct db *db;                          /* borrowed */
	const struct mcuboot_keyring *keys;     /* borrowed; may be NULL (no trusted key) */
	bool require_signature;
	bool allow_downgrade;                   /* kept for the campaigns: nothing to compare with at import */
	int (*fsync)(int fd);                   /* NULL: fsync(2); tests count or fail the calls */
};

struct firmware;

/* Creates the store's folder when missing. On failure *ret_fw is untouched and @errbuf says why. */
int firmware_new(const struct firmware_options *options, struct firmware **ret_fw, char *errbuf, size_t errlen);
struct firmware *firmware_free(struct firmware *fw);    /* NULL is a no-op; returns NULL */

bool firmware_require_signature(const struct firmware *fw);
bool firmware_allow_downgrade(const struct firmware *fw);

/* Checks @len bytes of @data as @in says, then stores and records them. Importing bytes already stored is not an
 * error: the existing record is returned with *ret_created false (its file is written again if it was lost or
 * damaged). Returns 0; -EBADMSG when the image is refused (@err says why; nothing is stored); -EFBIG (over
 * FIRMWARE_IMAGE_MAX); -ENOMEM; -ESTALE (the file went away before the record was written: a DELETE of the same
 * image ran meanwhile; import again); an errno of the file system (-ENOSPC, -EIO, ...) or of the database.
 * *ret_record is filled on success only. Runs everything on the calling thread; see firmware_import_start(). */
int firmware_import(struct firmware *fw, const uint8_t *data /* borrowed */, size_t len,
		    const struct firmware_import *in, struct firmware_record *ret_record, bool *ret_created,
		    struct firmware_error *err);

/* firmware_import() in two halves: the checks, the SHA-256 and the file (temporary file with a unique name, fsync,
 * rename, fsync of the folder) run on @loop's thread pool, the record on the loop thread; then @cb gets what
 * firmware_import() returns (@record and @created valid when @result is 0, @err when it is -EBADMSG; all borrowed
 * for the call). @data stays borrowed until @cb; @in is copied. The loop must run until every @cb was called (a
 * queued work item keeps uv_run() going). Returns 0, or -ENOMEM / a libuv error without calling @cb. */
typedef void (*firmware_import_fn)(void *userdata, int result, const struct firmware_record *record, bool created,
				   const struct firmware_error *err);
int firmware_import_start(struct firmware *fw, uv_loop_t *loop, const uint8_t *data /* borrowed */, size_t len,
			  const struct firmware_import *in, firmware_import_fn cb, void *userdata);
/* Imports under way (for the health and tests). */
unsigned firmware_imports_running(const struct firmware *fw);

/* Returns 0, -ENOENT or a database error. */
int firmware_get(struct firmware *fw, const char *id, struct firmware_record *ret_record);

/* Records in import order (imported_at, then id), after the record (@after_time, @after_id) when @after_id is not
 * NULL, at most @limit; *ret_more says whether more follow. @fn returning non-zero stops the walk with that value. */
typedef int (*firmware_list_fn)(const struct firmware_record *record, void *userdata);
int firmware_list(struct firmware *fw, int64_t after_time, const char *after_id, unsigned limit,
		  firmware_list_fn fn, void *userdata, bool *ret_more);

/* Removes the record, then the file. Returns 0, -ENOENT, -EBUSY (a campaign that is not completed, failed or
 * cancelled uses the image: campaigns_using_firmware() names it), or an error (the record stays when the database
 * fails). */
int firmware_delete(struct firmware *fw, const char *id);

/* Opens the stored file of @id for reading and checks its SHA-256 again against @id and its size against the
 * record: the check before every upload to the dongle. On success *ret_fd (O_CLOEXEC, at offset 0; the caller
 * closes it) and *ret_size are set. Returns -ENOENT (no record or no file), -EBADMSG (the file's bytes changed),
 * or another negative errno. Upload from this descriptor, never by opening the path again. */
int firmware_open_verified(struct firmware *fw, const char *id, int *ret_fd, uint64_t *ret_size);

/* The path of @id's file. Returns 0 or -ENAMETOOLONG. */
int firmware_path(const struct firmware *fw, const char *id, char *out, size_t size);

/* Whether @id is 64 lowercase hex digits. */
bool firmware_id_valid(const char *id);

const char *firmware_kind_to_string(enum firmware_kind kind);

/* "MAJOR.MINOR.REVISION+BUILD"; "+BUILD" and ".REVISION" may be left out (0). Returns 0 or -EINVAL. */
int firmware_version_parse(const char *text, struct mcuboot_version *ret_version);
void firmware_version_format(const struct mcuboot_version *v, char *out, size_t size);

/* The FWID nRF Connect SDK builds from an MCUboot version: company id (2 bytes LE), major, minor, revision
 * (2 bytes LE), build (4 bytes LE) = 10 bytes. Returns the length. */
size_t firmware_fwid_derive(uint16_t company_id, const struct mcuboot_version *v, uint8_t out[10]);

/* The API's representation of a record. The metadata is also shown decoded ("metadata_fields") when it reads as
 * the NCS layout of this very image: at least 18 bytes whose version and size equal the record's; otherwise
 * "metadata_fields" is null. Returns: new reference, NULL when out of memory. */
json_t *firmware_record_to_json(const struct firmware_record *record);

#endif
