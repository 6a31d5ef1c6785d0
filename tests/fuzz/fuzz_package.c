/* Fuzz target: nRF Connect SDK packages (daemon/package.c). Each input goes through the whole reader (libzip on the
 * fuzzer's bytes, manifest, image, metadata) and, as JSON, through the manifest and ble_mesh_metadata.json parsers,
 * so mutations of the JSON seeds reach the field checks without having to keep a zip valid. */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "package.h"

static void check_reason(int rc, const char *err)
{
	/* a refusal always says why, and only these returns exist */
	if (rc != 0 && rc != -EBADMSG && rc != -EFBIG && rc != -ENOMEM)
		__builtin_trap();
	if (rc != 0 && err[0] == '\0')
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct package p;
	struct package_manifest m;
	struct package_mesh_metadata md;
	char err[512];
	int rc;

	err[0] = '\0';
	rc = package_open(data, size, NULL, &p, err, sizeof(err));
	check_reason(rc, err);
	if (rc == 0) {
		if (p.manifest.app >= p.manifest.n_images || p.image_len != p.manifest.images[p.manifest.app].size ||
		    p.firmware_id_len < 2 || p.firmware_id_len > PACKAGE_FWID_MAX ||
		    p.metadata_len > PACKAGE_METADATA_MAX)
			__builtin_trap();
		package_free(&p);
	}
	err[0] = '\0';
	rc = package_manifest_parse((const char *)data, size, &m, err, sizeof(err));
	check_reason(rc, err);
	if (rc == 0 && (m.n_images == 0 || m.n_images > PACKAGE_IMAGES_MAX || m.app >= m.n_images ||
			!m.images[m.app].has_mcuboot_version))
		__builtin_trap();
	err[0] = '\0';
	rc = package_mesh_metadata_parse((const char *)data, size, &md, err, sizeof(err));
	check_reason(rc, err);
	if (rc == 0 && (md.encoded_metadata_len > PACKAGE_METADATA_MAX || md.firmware_id_len > PACKAGE_FWID_MAX ||
			md.binary_size > 0xFFFFFF))
		__builtin_trap();
	return 0;
}
