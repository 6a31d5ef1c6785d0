/* package: nRF Connect SDK DFU packages (dfu_application.zip) in memory: the zip read with libzip under limits,
 * manifest.json (format-version 0 and 1), the application image checked by mcuboot.c, and ble_mesh_metadata.json
 * when present, from which come the Mesh DFU firmware ID and firmware metadata. What is checked and every reason:
 * docs/firmware.md, "nRF Connect SDK packages".
 *
 * Glossary:
 *   manifest       - manifest.json: the list of images ("files"), each with board, image_index, slots, version
 *   application    - the image with image_index "0" (the application core, MCUboot image 0)
 *   mesh metadata  - ble_mesh_metadata.json, written by NCS builds with SB_CONFIG_DFU_ZIP_BLUETOOTH_MESH_METADATA
 *   FWID           - Mesh DFU firmware ID: company ID (u16 LE) + 8 version bytes in the NCS convention
 *   metadata       - Mesh DFU firmware metadata in Zephyr's format (18 bytes), see package_encode_metadata()
 */
#ifndef MESHFLEET_PACKAGE_H
#define MESHFLEET_PACKAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mcuboot.h"

#define PACKAGE_ZIP_MAX (64u << 20)             /* bytes of the zip file */
#define PACKAGE_ENTRIES_MAX 32                  /* entries in the zip, directories and __MACOSX/ included */
#define PACKAGE_ENTRY_MAX MCUBOOT_IMAGE_MAX     /* declared uncompressed size of one entry */
#define PACKAGE_TOTAL_MAX (128u << 20)          /* declared uncompressed sizes of all entries together */
#define PACKAGE_JSON_MAX (64u << 10)            /* uncompressed bytes of manifest.json or ble_mesh_metadata.json */
#define PACKAGE_NAME_MAX 255                    /* bytes of an entry name */
#define PACKAGE_IMAGES_MAX 8                    /* entries of the manifest's "files" */
#define PACKAGE_ELEMENTS_MAX 64                 /* elements in the metadata's composition_data */
#define PACKAGE_MODELS_MAX 128                  /* SIG plus vendor models of one element */
#define PACKAGE_FWID_MAX 106                    /* BT_MESH_DFU_FWID_MAXLEN's upper bound (Kconfig range) */
#define PACKAGE_METADATA_MAX 255                /* the Mesh DFU metadata field's maximum */
#define PACKAGE_NCS_FWID_LEN 10                 /* company ID + 8 version bytes */
#define PACKAGE_NCS_METADATA_LEN 18
#define PACKAGE_COMPANY_NORDIC 0x0059u          /* CONFIG_BT_COMPANY_ID's default in NCS */
#define PACKAGE_CORE_APPLICATION 0x01u          /* metadata core type bits (Zephyr dfu_metadata.h) */
#define PACKAGE_CORE_NETWORK 0x02u
#define PACKAGE_CORE_APP_BLOB 0x04u
#define PACKAGE_CORE_ALL 0x07u                  /* the core type values an option may give as a number */
#define PACKAGE_ELEMENTS_OPTION_MAX 255         /* element count given by hand: Provisioning's Number of Elements */

/* One entry of manifest.json's "files". Strings are empty when the manifest leaves them out. */
struct package_image {
	char file[PACKAGE_NAME_MAX + 1];
	char type[32];
	char board[64];
	char soc[64];
	char version[32];               /* "version_MCUBOOT", else "version" (the net core's "1"), as written */
	bool has_mcuboot_version;       /* version came from "version_MCUBOOT" and parsed into mcuboot_version */
	struct mcuboot_version mcuboot_version;
	int image_index;                /* -1 when absent */
	int slot_primary, slot_secondary; /* -1 when absent */
	bool has_load_address;
	uint32_t load_address;
	uint64_t size;                  /* the manifest's "size"; equals the entry's size once package_open() accepts */
};

struct package_manifest {
	int format_version;
	char name[64];
	struct package_image images[PACKAGE_IMAGES_MAX];
	size_t n_images;
	size_t app;                     /* index into images of the application (image_index 0) */
};

/* ble_mesh_metadata.json after its own consistency checks (see package_mesh_metadata_parse()). */
struct package_mesh_metadata {
	struct mcuboot_version version; /* "sign_version" */
	uint32_t binary_size;
	uint8_t core_type;
	bool has_composition;           /* "composition_data" present: cid and elements are set */
	uint16_t cid;
	uint16_t elements;
	bool has_composition_hash;
	uint32_t composition_hash;
	uint8_t encoded_metadata[PACKAGE_METADATA_MAX];
	size_t encoded_metadata_len;    /* 0 when the file has no "encoded_metadata" */
	uint8_t firmware_id[PACKAGE_FWID_MAX];
	size_t firmware_id_len;         /* 0 when the file has no "firmware_id" */
};

struct package {
	struct package_manifest manifest;
	const char *board;              /* the application's board, borrowed from manifest */
	uint8_t *image;                 /* owned: the application image as it is in the zip */
	size_t image_len;
	struct mcuboot_image mcuboot;   /* its pointers are into image */
	struct mcuboot_version version; /* the MCUboot header's, equal to the manifest's */
	bool verified;                  /* signature checked against the keyring given to package_open() */
	char key_name[128];             /* the verifying key's name when verified */
	bool has_mesh_metadata;
	struct package_mesh_metadata mesh;
	uint8_t firmware_id[PACKAGE_FWID_MAX];
	size_t firmware_id_len;
	bool firmware_id_from_file;     /* taken from ble_mesh_metadata.json rather than derived */
	uint8_t metadata[PACKAGE_METADATA_MAX];
	size_t metadata_len;            /* 0 without ble_mesh_metadata.json: composition hash and elements unknown */
};

/* Reads a dfu_application.zip from memory (borrowed; not kept). With keys (may be NULL) the application image must
 * carry a signature that verifies with one of them; without, it is only parsed. Returns 0, -EBADMSG when the
 * package is refused, -EFBIG when a limit is exceeded, -ENOMEM; err (may be NULL) then holds the reason, and *ret
 * is untouched. On success *ret owns its buffers: release with package_free(). */
int package_open(const void *zip, size_t len, const struct mcuboot_keyring *keys, struct package *ret, char *err,
		 size_t err_len);
void package_free(struct package *pkg);  /* NULL and a zeroed package are fine */

/* The two JSON files alone (the fuzz target and the tests use them directly). Same returns as package_open(). */
int package_manifest_parse(const char *json, size_t len, struct package_manifest *ret, char *err, size_t err_len);
/* Checks the file against itself: sign_version, binary_size, core_type, composition hash and element count against
 * encoded_metadata; the composition hash against composition_data (AES-CMAC, zero key); firmware_id's version part. */
int package_mesh_metadata_parse(const char *json, size_t len, struct package_mesh_metadata *ret, char *err,
				size_t err_len);

/* "major.minor.revision+build" as imgtool takes it (-v): revision and build may be left out. 0 or -EINVAL. */
int package_parse_version(const char *s, struct mcuboot_version *ret);

/* The fields of an NCS metadata (the first PACKAGE_NCS_METADATA_LEN bytes; user data may follow). */
struct package_metadata_fields {
	struct mcuboot_version version;
	uint32_t size;                  /* u24 */
	uint8_t core_type;
	uint32_t composition_hash;
	uint16_t elements;
	size_t user_data_len;           /* bytes after the 18 */
};

/* The NCS composition hash: the low 4 bytes (LE) of AES-CMAC with an all-zero key over Composition Data Page 0
 * (@page: the page's bytes after the page number, as a node sends them). Returns 0 or -ENOMEM (OpenSSL failed). */
int package_composition_hash(const uint8_t *page, size_t len, uint32_t *ret_hash);
/* Page 0 built from a ble_mesh_metadata.json "composition_data" object given as JSON text (@json, @len), as the
 * device builds it; *ret_page is malloc'd (the caller frees it). Same returns as package_open(). */
int package_composition_page_json(const char *json, size_t len, uint8_t **ret_page, size_t *ret_len,
				  uint16_t *ret_elements, char *err, size_t err_len);
/* "application", "network", "application_blob" or a number 0 .. PACKAGE_CORE_ALL (the bits). 0 or -EINVAL. */
int package_core_type_parse(const char *text, uint8_t *ret_core_type);
/* A composition hash as an option gives it: 1 to 8 hex digits, "0x" in front or not. 0 or -EINVAL. */
int package_parse_composition_hash(const char *text, uint32_t *ret_hash);
/* The bits by name joined with '+' ("application", "application+network"), "none" for 0. */
void package_core_type_format(uint8_t core_type, char *out, size_t out_len);
/* Reads @len bytes of metadata in the NCS layout. Returns 0, or -EBADMSG when shorter than 18 bytes. Whether the
 * metadata really is in that layout is the caller's judgement (e.g. its version and size equal the image's). */
int package_decode_metadata(const uint8_t *metadata, size_t len, struct package_metadata_fields *ret);

/* The NCS layouts (../shared/reference/mesh-dfu-protocol.md §5.1, §5.2). out must hold PACKAGE_NCS_FWID_LEN or
 * PACKAGE_NCS_METADATA_LEN bytes; both return the length written. */
size_t package_encode_fwid(uint16_t company_id, const struct mcuboot_version *v, uint8_t *out);
size_t package_encode_metadata(const struct mcuboot_version *v, uint32_t size, uint8_t core_type,
			       uint32_t composition_hash, uint16_t elements, uint8_t *out);

#endif
