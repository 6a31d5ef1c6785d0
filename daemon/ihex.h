/* ihex: Intel HEX firmware files (the nRF5 SDK's and objcopy's `.hex`) read into one contiguous binary image, and
 * the check that the image sits where the application region of the target starts. libc only; no I/O. What is
 * accepted, refused and why: docs/firmware.md, "Intel HEX".
 *
 * Glossary:
 *   record   - one line ":LLAAAATT<data>CC": byte count, 16-bit offset, type, data, two's-complement checksum
 *   base     - the upper address bits set by type 02 (segment << 4) or type 04 (linear << 16); the last of either
 *              wins, as in objcopy and the intelhex Python module
 *   run      - records at consecutive addresses in file order; every address jump starts a new run, and the
 *              number of runs is what the segment limit bounds
 *   segment  - a maximal range of addresses that hold data (adjacent runs joined), as reported to the user
 *   gap      - addresses between two segments; the image holds 0xFF there (the erased state of flash)
 *   region   - the flash area the bootloader starts the application from (after MBR + SoftDevice on nRF5, or
 *              an MCUboot slot)
 */
#ifndef MESHFLEET_IHEX_H
#define MESHFLEET_IHEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IHEX_DEFAULT_MAX_DATA (16u << 20)   /* bytes of data records */
#define IHEX_DEFAULT_MAX_IMAGE (16u << 20)  /* bytes from the lowest to the highest address, gaps included */
#define IHEX_DEFAULT_MAX_RUNS 4096u
#define IHEX_FILL 0xFF

struct ihex_limits {
	size_t max_data;
	size_t max_image;
	size_t max_runs;
};

struct ihex_segment {
	uint32_t start;
	uint32_t last;                  /* inclusive: a segment may end at 0xFFFFFFFF */
	uint32_t size;
	uint32_t gap_before;            /* 0xFF bytes between the previous segment and this one; 0 for the first */
	unsigned line;                  /* line of the first record of the segment */
};

enum ihex_start_kind {
	IHEX_START_NONE,
	IHEX_START_SEGMENT,             /* type 03, CS:IP; start_address = CS * 16 + IP */
	IHEX_START_LINEAR,              /* type 05, EIP */
};

struct ihex_image {
	uint8_t *data;                  /* owned: size bytes, gaps filled with IHEX_FILL */
	size_t size;
	uint32_t base;                  /* address of data[0], the lowest address holding data */
	uint32_t last;                  /* highest address holding data */
	size_t data_bytes;              /* bytes that came from data records */
	size_t gap_bytes;               /* size - data_bytes */
	struct ihex_segment *segments;  /* owned, ascending */
	size_t n_segments;
	unsigned lines;                 /* lines read, up to the end-of-file record */

	enum ihex_start_kind start_kind;
	uint32_t start_address;
	uint16_t start_cs, start_ip;    /* type 03 only */

	/* A Cortex-M vector table at base, if the image looks like one: a hint for the user, never an error.
	 * An nRF Connect SDK signed image begins with the MCUboot header instead (mcuboot_header). */
	bool has_vectors;               /* at least 8 bytes at base */
	uint32_t initial_sp;
	uint32_t reset_vector;
	bool sp_in_ram;                 /* 0x20000000 < SP <= 0x40000000 and 4-aligned: the Cortex-M SRAM region */
	bool reset_in_image;            /* Thumb bit set and the target inside [base, last] */
	bool mcuboot_header;            /* the first word is the MCUboot image magic 0x96f3b83d */
};

/* The reason a file was refused. line is 1-based; 0 when the reason is about the whole file (span, region). */
struct ihex_error {
	unsigned line;
	char message[512];
};

void ihex_limits_default(struct ihex_limits *limits);

void ihex_image_init(struct ihex_image *image);
/* Frees what the image owns and leaves it as after ihex_image_init(); safe on an initialised, empty image. */
void ihex_image_done(struct ihex_image *image);

/* Parses @len bytes of @text (LF or CRLF line ends; need not be NUL-terminated) into @ret_image, with @limits
 * (NULL: the defaults). Returns 0; -EINVAL for a malformed or refused file, with @ret_err saying line and reason;
 * -EFBIG when a limit is exceeded (also explained in @ret_err); -ENOMEM. @ret_image (an initialised, empty image) is
 * untouched on failure; @ret_err may be NULL. */
int ihex_parse(const char *text, size_t len, const struct ihex_limits *limits, struct ihex_image *ret_image,
	       struct ihex_error *ret_err);

/* Checks that @image starts exactly at @region_start and, when @region_size is not 0, ends inside the region.
 * Returns 0 or -ERANGE with @ret_err naming the addresses and the likely cause (e.g. an image linked at 0x0, or a
 * full-chip image with SoftDevice or bootloader, against an application region at 0x27000). */
int ihex_check_region(const struct ihex_image *image, uint32_t region_start, uint32_t region_size,
		      struct ihex_error *ret_err);

/* Writes one sentence about the vector table hint into @buf ("" when there is nothing to say). */
void ihex_vectors_note(const struct ihex_image *image, char *buf, size_t size);

#endif
