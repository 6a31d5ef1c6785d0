/* ctl_package: meshfleetctl package inspect (docs/meshfleetctl.md). The file's kind is told by its first bytes:
 * the MCUboot magic, or ':' for Intel HEX; anything else is refused, because a raw binary carries no version and
 * no hash to check. An Intel HEX file that holds an MCUboot image (nRF Connect SDK's signed .hex) gets both reports.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl_keys.h"
#include "ctl_network.h"
#include "ctl_package.h"
#include "ihex.h"
#include "mcuboot.h"
#include "package.h"

#define PACKAGE_FILE_MAX MCUBOOT_IMAGE_MAX      /* bytes read; a HEX file of IHEX_DEFAULT_MAX_DATA is smaller */
#define SEGMENTS_SHOWN_MAX 32                   /* segments listed for people; --json lists them all */

_Static_assert(CTL_PACKAGE_KEYS_MAX == MCUBOOT_KEYS_MAX, "one key limit");

struct inspect {
	const struct ctl_package_options *options;
	const char *path;
	struct mcuboot_keyring *keys;   /* NULL without --key */
	uint32_t region_start;
	bool have_region;
	bool derive;                    /* --composition-hash and --elements given */
	uint8_t core_type;
	uint32_t composition_hash;
	uint16_t elements;
	char reason[768];               /* why the file is refused; the first refusal wins */
};

static void refuse(struct inspect *in, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void refuse(struct inspect *in, const char *fmt, ...)
{
	va_list ap;

	if (in->reason[0])
		return;
	va_start(ap, fmt);
	vsnprintf(in->reason, sizeof(in->reason), fmt, ap);
	va_end(ap);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", p[i]);
	out[2 * n] = '\0';
}

/* Adds @value (takes ownership) to @o; without @o (output for people) it is dropped. A failed allocation leaves
 * the key out: the answer is then incomplete, never wrong. */
static void put(json_t *o, const char *key, json_t *value)
{
	if (o)
		json_object_set_new(o, key, value);
	else
		json_decref(value);
}

static int read_package(const char *path, uint8_t **ret_buf, size_t *ret_len)
{
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		r = -errno;
		fprintf(stderr, "meshfleetctl: cannot open '%s': %s\n", path, strerror(-r));
		return r;
	}
	for (;;) {
		ssize_t n;

		if (len == cap) {
			uint8_t *bigger;

			if (cap > PACKAGE_FILE_MAX) {
				fprintf(stderr, "meshfleetctl: '%s' is larger than %u bytes: not a firmware image\n", path,
					PACKAGE_FILE_MAX);
				r = -EFBIG;
				break;
			}
			cap = cap ? 2 * cap : 65536;
			if (cap > PACKAGE_FILE_MAX + 1)
				cap = PACKAGE_FILE_MAX + 1;
			bigger = realloc(buf, cap);
			if (!bigger) {
				fprintf(stderr, "meshfleetctl: '%s': out of memory\n", path);
				r = -ENOMEM;
				break;
			}
			buf = bigger;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			fprintf(stderr, "meshfleetctl: cannot read '%s': %s\n", path, strerror(-r));
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	*ret_buf = buf;
	*ret_len = len;
	return 0;
}

static int load_keys(struct inspect *in)
{
	const struct ctl_package_options *opt = in->options;
	struct mcuboot_error err;
	char message[512];

	if (opt->n_key_files == 0)
		return 0;
	in->keys = mcuboot_keyring_new();
	if (!in->keys) {
		fprintf(stderr, "meshfleetctl: out of memory\n");
		return -ENOMEM;
	}
	for (size_t i = 0; i < opt->n_key_files; i++) {
		char *pem = NULL;
		size_t pem_len = 0;
		int r;

		/* A private key (what `keys generate` writes) is as good as its public part here. */
		r = ctl_keys_public_pem(opt->key_files[i], &pem, &pem_len, message, sizeof(message));
		if (r < 0) {
			fprintf(stderr, "meshfleetctl: --key: %s\n", message);
			return r;
		}
		r = mcuboot_keyring_add_pem(in->keys, opt->key_files[i], pem, pem_len, &err);
		free(pem);
		if (r < 0) {
			fprintf(stderr, "meshfleetctl: --key: %s\n", err.message);
			return r;
		}
	}
	return 0;
}

/* --- MCUboot --- */

static void flags_string(uint32_t flags, char *buf, size_t size)
{
	static const struct { uint32_t bit; const char *name; } names[] = {
		{ MCUBOOT_F_PIC, "PIC" },
		{ MCUBOOT_F_ENCRYPTED_AES128, "ENCRYPTED_AES128" },
		{ MCUBOOT_F_ENCRYPTED_AES256, "ENCRYPTED_AES256" },
		{ MCUBOOT_F_NON_BOOTABLE, "NON_BOOTABLE" },
		{ MCUBOOT_F_RAM_LOAD, "RAM_LOAD" },
		{ MCUBOOT_F_ROM_FIXED, "ROM_FIXED" },
	};
	size_t at = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]) && at < size; i++)
		if (flags & names[i].bit)
			at += (size_t)snprintf(buf + at, size - at, "%s%s", at ? " " : "", names[i].name);
}

static json_t *flags_json(uint32_t flags)
{
	char names[128];
	json_t *a = json_array();
	char *save = NULL;

	flags_string(flags, names, sizeof(names));
	for (char *t = strtok_r(names, " ", &save); t && a; t = strtok_r(NULL, " ", &save))
		json_array_append_new(a, json_string(t));
	return a;
}

/* Reports the MCUboot image in buf[0..len) on stdout (people) or into @o (--json). Returns true when it is
 * acceptable: well formed, hash matching and, with --key, signed by one of the keys. */
static bool inspect_mcuboot(struct inspect *in, const uint8_t *buf, size_t len, json_t *o)
{
	char version[48], flags[128], hash[2 * MCUBOOT_HASH_MAX + 1], keyhash[2 * MCUBOOT_HASH_MAX + 1];
	const char *key_name = NULL;
	struct mcuboot_image img;
	enum mcuboot_reason reason;
	bool json = in->options->json, hash_ok, accepted;

	put(o, "format", json_string("mcuboot"));
	if (mcuboot_parse(buf, len, &img, &reason) < 0) {
		refuse(in, "not a valid MCUboot image: %s: %s", mcuboot_reason_to_string(reason),
		       mcuboot_reason_describe(reason));
		put(o, "valid", json_false());
		put(o, "reason", json_string(mcuboot_reason_to_string(reason)));
		put(o, "message", json_string(mcuboot_reason_describe(reason)));
		if (!json)
			printf("format         MCUboot image (refused: %s)\n", mcuboot_reason_to_string(reason));
		return false;
	}
	/* Without keys a signed image stops at key_not_trusted, which the hash check has passed: the structure and
	 * the hash are sound, the signature is simply not checked. */
	mcuboot_verify(buf, len, in->keys, in->keys != NULL, NULL, &key_name, &reason);
	hash_ok = reason != MCUBOOT_HASH_MISMATCH && reason != MCUBOOT_INTERNAL;
	accepted = reason == MCUBOOT_OK || (!in->keys && reason == MCUBOOT_KEY_NOT_TRUSTED);

	snprintf(version, sizeof(version), "%u.%u.%u+%u", img.version.major, img.version.minor, img.version.revision,
		 img.version.build);
	flags_string(img.flags, flags, sizeof(flags));
	hex(img.hash, img.hash_len, hash);
	if (img.keyhash)
		hex(img.keyhash, img.keyhash_len, keyhash);

	if (!accepted) {
		if (reason == MCUBOOT_KEY_NOT_TRUSTED)
			refuse(in, "%s: %s (KEYHASH %s; %zu key%s given)", mcuboot_reason_to_string(reason),
			       mcuboot_reason_describe(reason), keyhash, mcuboot_keyring_count(in->keys),
			       mcuboot_keyring_count(in->keys) == 1 ? "" : "s");
		else
			refuse(in, "%s: %s", mcuboot_reason_to_string(reason), mcuboot_reason_describe(reason));
	}

	if (json) {
		put(o, "valid", json_boolean(accepted));
		put(o, "reason", accepted ? json_null() : json_string(mcuboot_reason_to_string(reason)));
		put(o, "message", accepted ? json_null() : json_string(mcuboot_reason_describe(reason)));
		put(o, "version", json_string(version));
		put(o, "header_size", json_integer(img.hdr_size));
		put(o, "image_size", json_integer(img.img_size));
		put(o, "protected_tlv_size", json_integer(img.protect_tlv_size));
		put(o, "load_address", json_integer(img.load_addr));
		put(o, "flags", json_integer(img.flags));
		put(o, "flag_names", flags_json(img.flags));
		put(o, "hashed_size", json_integer((json_int_t)img.hashed_size));
		put(o, "tlv_end", json_integer((json_int_t)img.tlv_end));
		put(o, "padding", json_integer((json_int_t)img.padding));
		put(o, "trailer_magic", json_boolean(img.trailer_magic));
		put(o, "tlv_count", json_integer(img.tlv_count));
		put(o, "hash", json_pack("{s:s, s:s, s:b}", "type", mcuboot_hash_type_to_string(img.hash_type),
					 "value", hash, "matches", hash_ok));
		put(o, "keyhash", img.keyhash ? json_string(keyhash) : json_null());
		put(o, "signature", img.sig ? json_pack("{s:s, s:I}", "type", mcuboot_sig_type_to_string(img.sig_type),
							"length", (json_int_t)img.sig_len) : json_null());
		put(o, "verified", in->keys ? json_boolean(reason == MCUBOOT_OK) : json_null());
		put(o, "key", key_name ? json_string(key_name) : json_null());
		return accepted;
	}
	printf("format         MCUboot image\n");
	printf("version        %s\n", version);
	printf("header         %u bytes\n", img.hdr_size);
	printf("body           %u bytes\n", img.img_size);
	printf("protected TLVs %u bytes\n", img.protect_tlv_size);
	printf("load address   0x%08X%s\n", img.load_addr,
	       img.flags & (MCUBOOT_F_RAM_LOAD | MCUBOOT_F_ROM_FIXED) ? "" : " (not used: neither RAM_LOAD nor ROM_FIXED)");
	printf("flags          0x%08X%s%s%s\n", img.flags, flags[0] ? " (" : "", flags, flags[0] ? ")" : "");
	printf("TLVs           %u entries; the image ends at byte %zu, then %zu bytes of padding%s\n", img.tlv_count,
	       img.tlv_end, img.padding, img.trailer_magic ? " with the boot trailer magic" : "");
	printf("image hash     %s %s (%s)\n", mcuboot_hash_type_to_string(img.hash_type), hash,
	       reason == MCUBOOT_INTERNAL ? "not checked: OpenSSL failed" :
	       hash_ok ? "matches header, body and protected TLVs" : "MISMATCH");
	printf("KEYHASH        %s\n", img.keyhash ? keyhash : "none");
	if (img.sig)
		printf("signature      %s, %zu bytes\n", mcuboot_sig_type_to_string(img.sig_type), img.sig_len);
	else
		printf("signature      none (unsigned image)\n");
	if (reason == MCUBOOT_OK && key_name)
		printf("verified       yes, with '%s'\n", key_name);
	else if (!in->keys)
		printf("verified       %s\n", img.sig ? "not checked (no --key given)" : "no signature to check");
	else
		printf("verified       no: %s\n", mcuboot_reason_to_string(reason));
	return accepted;
}

/* --- Intel HEX --- */

static json_t *hex_segments_json(const struct ihex_image *image)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < image->n_segments; i++) {
		const struct ihex_segment *s = &image->segments[i];

		json_array_append_new(a, json_pack("{s:I, s:I, s:I, s:I, s:I}", "start", (json_int_t)s->start,
						   "last", (json_int_t)s->last, "size", (json_int_t)s->size,
						   "gap_before", (json_int_t)s->gap_before, "line", (json_int_t)s->line));
	}
	return a;
}

static json_t *hex_start_json(const struct ihex_image *image)
{
	switch (image->start_kind) {
	case IHEX_START_NONE:
		return json_null();
	case IHEX_START_SEGMENT:
		return json_pack("{s:s, s:I, s:I, s:I}", "kind", "segment", "address", (json_int_t)image->start_address,
				 "cs", (json_int_t)image->start_cs, "ip", (json_int_t)image->start_ip);
	case IHEX_START_LINEAR:
		return json_pack("{s:s, s:I}", "kind", "linear", "address", (json_int_t)image->start_address);
	}
	return json_null();
}

static void print_hex(const struct ihex_image *image, const char *note)
{
	printf("format         Intel HEX, %u lines\n", image->lines);
	printf("range          0x%08X-0x%08X, %zu bytes (%zu from data records, %zu of gaps filled with 0xFF)\n",
	       image->base, image->last, image->size, image->data_bytes, image->gap_bytes);
	printf("segments       %zu\n", image->n_segments);
	for (size_t i = 0; i < image->n_segments && i < SEGMENTS_SHOWN_MAX; i++) {
		const struct ihex_segment *s = &image->segments[i];

		printf("  0x%08X-0x%08X  %8u bytes  line %u", s->start, s->last, s->size, s->line);
		if (i > 0)
			printf(", after a gap of %u bytes", s->gap_before);
		putchar('\n');
	}
	if (image->n_segments > SEGMENTS_SHOWN_MAX)
		printf("  ... %zu more (--json lists them all)\n", image->n_segments - SEGMENTS_SHOWN_MAX);
	switch (image->start_kind) {
	case IHEX_START_NONE:
		printf("start address  none (no type 03/05 record)\n");
		break;
	case IHEX_START_SEGMENT:
		printf("start address  0x%08X (start segment address %04X:%04X)\n", image->start_address,
		       image->start_cs, image->start_ip);
		break;
	case IHEX_START_LINEAR:
		printf("start address  0x%08X (start linear address)\n", image->start_address);
		break;
	}
	if (note[0])
		printf("vectors        %s\n", note);
}

static bool inspect_hex(struct inspect *in, const char *text, size_t len, json_t *o)
{
	struct ihex_image image;
	struct ihex_error err = { 0 };
	char note[256], region_msg[600] = "";
	bool json = in->options->json, region_ok = true, accepted;
	json_t *embedded = NULL;
	int r;

	ihex_image_init(&image);
	put(o, "format", json_string("ihex"));
	r = ihex_parse(text, len, NULL, &image, &err);
	if (r < 0) {
		if (r == -ENOMEM)
			refuse(in, "out of memory");
		else if (err.line)
			refuse(in, "not a valid Intel HEX file: line %u: %s", err.line, err.message);
		else
			refuse(in, "not a valid Intel HEX file: %s", err.message);
		put(o, "valid", json_false());
		put(o, "message", json_string(in->reason));
		put(o, "line", err.line ? json_integer(err.line) : json_null());
		if (!json)
			printf("format         Intel HEX (refused)\n");
		return false;
	}
	ihex_vectors_note(&image, note, sizeof(note));
	if (in->have_region && ihex_check_region(&image, in->region_start, 0, &err) < 0) {
		region_ok = false;
		snprintf(region_msg, sizeof(region_msg), "%s", err.message);
		refuse(in, "%s", err.message);
	}
	if (json) {
		put(o, "lines", json_integer(image.lines));
		put(o, "base", json_integer(image.base));
		put(o, "last", json_integer(image.last));
		put(o, "size", json_integer((json_int_t)image.size));
		put(o, "data_bytes", json_integer((json_int_t)image.data_bytes));
		put(o, "gap_bytes", json_integer((json_int_t)image.gap_bytes));
		put(o, "segments", hex_segments_json(&image));
		put(o, "start_address", hex_start_json(&image));
		put(o, "vectors", image.has_vectors ?
		    json_pack("{s:I, s:I, s:b, s:b, s:s}", "initial_sp", (json_int_t)image.initial_sp,
			      "reset", (json_int_t)image.reset_vector, "sp_in_ram", image.sp_in_ram,
			      "reset_in_image", image.reset_in_image, "note", note) : json_null());
		put(o, "mcuboot_header", json_boolean(image.mcuboot_header));
		put(o, "region", in->have_region ?
		    json_pack("{s:I, s:b, s:s?}", "start", (json_int_t)in->region_start, "ok", region_ok,
			      "message", region_ok ? NULL : region_msg) : json_null());
	} else {
		print_hex(&image, note);
		if (!in->have_region)
			printf("region         not checked (give --region-start ADDR, e.g. 0x27000 for S140 7.x)\n");
		else if (region_ok)
			printf("region         starts at the application region 0x%08X\n", in->region_start);
		else
			printf("region         REFUSED: %s\n", region_msg);
	}
	accepted = region_ok;
	if (image.mcuboot_header) {
		if (json)
			embedded = json_object();
		else
			printf("\nMCUboot image at 0x%08X:\n", image.base);
		if (!inspect_mcuboot(in, image.data, image.size, embedded))
			accepted = false;
	}
	put(o, "mcuboot", embedded ? embedded : json_null());
	put(o, "valid", json_boolean(accepted));
	put(o, "message", accepted ? json_null() : json_string(in->reason));
	ihex_image_done(&image);
	return accepted;
}

/* --- nRF Connect SDK dfu_application.zip --- */

static void hex_text(const uint8_t *data, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", data[i]);
	out[2 * len] = '\0';
}

/* The firmware metadata: derived from the options when they are given (it then replaces @given), else @given
 * (@given_len 0: none); shown decoded when it is in the NCS layout. */
static void report_metadata(struct inspect *in, const struct mcuboot_version *version, size_t image_len,
			    const uint8_t *given, size_t given_len, json_t *o)
{
	uint8_t derived[PACKAGE_NCS_METADATA_LEN];
	char text[2 * PACKAGE_METADATA_MAX + 1], core[64], v[48];
	struct package_metadata_fields f;
	const uint8_t *m = given;
	size_t len = given_len;

	if (in->derive) {
		len = package_encode_metadata(version, (uint32_t)image_len, in->core_type, in->composition_hash,
					      in->elements, derived);
		m = derived;
	}
	if (len == 0) {
		put(o, "metadata", json_null());
		if (!o)
			printf("metadata       unknown (no ble_mesh_metadata.json: give --composition-hash and --elements "
			       "to derive it)\n");
		return;
	}
	hex(m, len, text);
	put(o, "metadata", json_string(text));
	put(o, "metadata_derived", json_boolean(in->derive));
	if (package_decode_metadata(m, len, &f) < 0) {
		if (!o)
			printf("metadata       %s\n", text);
		return;
	}
	package_core_type_format(f.core_type, core, sizeof(core));
	snprintf(v, sizeof(v), "%u.%u.%u+%lu", f.version.major, f.version.minor, f.version.revision,
		 (unsigned long)f.version.build);
	if (o) {
		char h[11];

		snprintf(h, sizeof(h), "0x%08lX", (unsigned long)f.composition_hash);
		put(o, "metadata_fields", json_pack("{s:s, s:I, s:s, s:i, s:s, s:i}", "version", v, "size",
						    (json_int_t)f.size, "core_type", core, "core_type_bits",
						    f.core_type, "composition_hash", h, "elements", f.elements));
		return;
	}
	printf("metadata       %s (%s)\n", text, in->derive ? "derived from --core-type, --composition-hash and "
	       "--elements" : "from ble_mesh_metadata.json");
	printf("               version %s, %lu bytes, core %s, composition hash 0x%08lX, %u elements\n", v,
	       (unsigned long)f.size, core, (unsigned long)f.composition_hash, f.elements);
}

/* The package through package_open() (manifest, ble_mesh_metadata.json, the versions agreeing), then its
 * application image in detail as an MCUboot image. */
static bool inspect_zip(struct inspect *in, const uint8_t *buf, size_t len, json_t *o)
{
	char err[512], fwid[2 * PACKAGE_FWID_MAX + 1];
	struct package pkg = { 0 };
	json_t *embedded = NULL, *images;
	bool accepted;
	int r;

	/* Signatures are checked by inspect_mcuboot() below with the same keys, with its detailed reasons. */
	r = package_open(buf, len, NULL, &pkg, err, sizeof(err));
	if (r < 0) {
		refuse(in, "%s", r == -ENOMEM ? "out of memory" : err);
		put(o, "format", json_string("zip"));
		put(o, "valid", json_false());
		put(o, "message", json_string(in->reason));
		if (!o)
			printf("format         nRF Connect SDK package (zip), refused\n");
		return false;
	}
	hex_text(pkg.firmware_id, pkg.firmware_id_len, fwid);
	if (o) {
		images = json_array();
		for (size_t i = 0; images && i < pkg.manifest.n_images; i++) {
			const struct package_image *im = &pkg.manifest.images[i];

			json_array_append_new(images, json_pack("{s:s, s:s, s:s, s:i, s:I}", "file", im->file,
				"board", im->board, "version", im->version, "image_index", im->image_index,
				"size", (json_int_t)im->size));
		}
		put(o, "format", json_string("zip"));
		put(o, "name", json_string(pkg.manifest.name));
		put(o, "board", json_string(pkg.board ? pkg.board : ""));
		put(o, "images", images);
		put(o, "firmware_id", json_string(fwid));
		put(o, "firmware_id_from_metadata_file", json_boolean(pkg.firmware_id_from_file));
		report_metadata(in, &pkg.version, pkg.image_len, pkg.metadata, pkg.metadata_len, o);
		embedded = json_object();
	} else {
		printf("format         nRF Connect SDK package (zip, manifest format %d), '%s'\n",
		       pkg.manifest.format_version, pkg.manifest.name);
		for (size_t i = 0; i < pkg.manifest.n_images; i++) {
			const struct package_image *im = &pkg.manifest.images[i];

			printf("image          %s: %s, version %s, %llu bytes%s\n", im->file, im->board, im->version,
			       (unsigned long long)im->size, i == pkg.manifest.app ? " (the application)" : "");
		}
		printf("firmware ID    %s (%s)\n", fwid, pkg.firmware_id_from_file ? "from ble_mesh_metadata.json" :
		       "derived: company 0x0059 and the MCUboot version");
		report_metadata(in, &pkg.version, pkg.image_len, pkg.metadata, pkg.metadata_len, NULL);
		printf("\nthe application image:\n");
	}
	accepted = inspect_mcuboot(in, pkg.image, pkg.image_len, embedded);
	put(o, "mcuboot", embedded ? embedded : json_null());
	put(o, "valid", json_boolean(accepted));
	put(o, "message", accepted ? json_null() : json_string(in->reason));
	package_free(&pkg);
	return accepted;
}

/* --- package inspect --- */

static int parse_region_start(const char *s, uint32_t *ret)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

/* --core-type, --composition-hash, --elements. Returns 0, or -EINVAL after saying why on stderr. */
static int parse_metadata_options(struct inspect *in)
{
	const struct ctl_package_options *opt = in->options;
	unsigned long elements;
	char *end;

	if (!opt->core_type && !opt->composition_hash && !opt->elements)
		return 0;
	if (!opt->composition_hash || !opt->elements) {
		fprintf(stderr, "meshfleetctl: the metadata is derived from --composition-hash and --elements together "
			"(and --core-type, default application)\n");
		return -EINVAL;
	}
	in->core_type = PACKAGE_CORE_APPLICATION;
	if (opt->core_type && package_core_type_parse(opt->core_type, &in->core_type) < 0) {
		fprintf(stderr, "meshfleetctl: --core-type '%s': expected application, network, application_blob or a "
			"number 0 .. %u\n", opt->core_type, PACKAGE_CORE_ALL);
		return -EINVAL;
	}
	if (package_parse_composition_hash(opt->composition_hash, &in->composition_hash) < 0) {
		fprintf(stderr, "meshfleetctl: --composition-hash '%s': expected up to 8 hex digits, e.g. 0x7E567089\n",
			opt->composition_hash);
		return -EINVAL;
	}
	errno = 0;
	elements = strtoul(opt->elements, &end, 10);
	if (errno || end == opt->elements || *end || opt->elements[0] == '-' || elements < 1 ||
	    elements > PACKAGE_ELEMENTS_OPTION_MAX) {
		fprintf(stderr, "meshfleetctl: --elements '%s': expected 1 .. %d\n", opt->elements,
			PACKAGE_ELEMENTS_OPTION_MAX);
		return -EINVAL;
	}
	in->elements = (uint16_t)elements;
	in->derive = true;
	return 0;
}

static int package_inspect(const struct ctl_package_options *options, const char *path)
{
	struct inspect in = { .options = options, .path = path };
	uint8_t *buf = NULL;
	size_t len = 0;
	json_t *o = NULL;
	bool accepted = false;
	int status = CTL_EXIT_FAILED;

	if (options->region_start) {
		if (parse_region_start(options->region_start, &in.region_start) < 0) {
			fprintf(stderr, "meshfleetctl: --region-start '%s': expected an address, e.g. 0x27000\n",
				options->region_start);
			return CTL_EXIT_USAGE_ERROR;
		}
		in.have_region = true;
	}
	if (parse_metadata_options(&in) < 0)
		return CTL_EXIT_USAGE_ERROR;
	if (load_keys(&in) < 0 || read_package(path, &buf, &len) < 0)
		goto out;
	if (options->json) {
		o = json_pack("{s:s, s:I}", "file", path, "file_size", (json_int_t)len);
		if (!o) {
			fprintf(stderr, "meshfleetctl: out of memory\n");
			goto out;
		}
	} else {
		printf("file           %s, %zu bytes\n", path, len);
	}
	if (len >= 4 && (buf[0] | buf[1] << 8 | buf[2] << 16 | (uint32_t)buf[3] << 24) == MCUBOOT_IMAGE_MAGIC) {
		if (in.have_region)
			fprintf(stderr, "meshfleetctl: --region-start applies to Intel HEX files; an MCUboot image says "
				"nothing about its slot, so it is not checked\n");
		accepted = inspect_mcuboot(&in, buf, len, o);
		if (in.derive) {
			struct mcuboot_image img;
			enum mcuboot_reason reason;

			if (mcuboot_parse(buf, len, &img, &reason) == 0)
				report_metadata(&in, &img.version, len, NULL, 0, o);
		}
	} else if (len > 0 && buf[0] == ':') {
		if (in.derive)
			fprintf(stderr, "meshfleetctl: --composition-hash and --elements apply to MCUboot images and "
				"packages; a HEX file has no version to derive the metadata from\n");
		accepted = inspect_hex(&in, (const char *)buf, len, o);
	} else if (len >= 4 && memcmp(buf, "PK\3\4", 4) == 0) {
		accepted = inspect_zip(&in, buf, len, o);
	} else {
		if (len == 0)
			refuse(&in, "the file is empty");
		else
			refuse(&in, "neither an MCUboot image (no magic 0x96f3b83d at its start) nor an Intel HEX file (no "
			       "':' at its start); a raw binary carries no version or hash to check");
		put(o, "format", json_string("unknown"));
		put(o, "valid", json_false());
		put(o, "message", json_string(in.reason));
		if (!options->json)
			printf("format         unknown\n");
	}
	if (o) {
		if (json_dumpf(o, stdout, JSON_INDENT(2)) < 0) {
			fprintf(stderr, "meshfleetctl: cannot print the JSON\n");
			goto out;
		}
		putchar('\n');
	}
	if (!accepted) {
		fprintf(stderr, "meshfleetctl: '%s': refused: %s\n", path, in.reason[0] ? in.reason : "unknown reason");
		goto out;
	}
	status = 0;
out:
	json_decref(o);
	free(buf);
	mcuboot_keyring_free(in.keys);
	return status;
}

int ctl_package_main(const struct ctl_package_options *options, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[0], "inspect") == 0)
		return package_inspect(options, argv[1]);
	fprintf(stderr, "meshfleetctl: usage: package inspect FILE [--json] [--key PEM]... [--region-start ADDR] "
		"[--core-type TYPE --composition-hash HASH --elements N]\n");
	return CTL_EXIT_USAGE_ERROR;
}
