/* Fuzz target: Intel HEX files (daemon/ihex.c). A refused file leaves the image empty and always says why; an
 * accepted one must be self-consistent (segments ascending and inside the image, gaps 0xFF, byte counts adding up)
 * and must pass the region check at its own base and fail it one byte higher. The same input under tight limits
 * either fails with a reason or gives the same image. Each input is also parsed with every record's checksum made
 * right, so that mutations reach the addressing and image code rather than stopping at the checksum. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ihex.h"

static void check_refused(int r, const struct ihex_image *image, const struct ihex_error *err)
{
	struct ihex_image empty;

	ihex_image_init(&empty);
	if (r >= 0 || memcmp(image, &empty, sizeof(empty)) != 0 || err->message[0] == '\0')
		__builtin_trap();
}

static void check_image(const struct ihex_image *image)
{
	struct ihex_error err;
	size_t data_bytes = 0;
	char note[256];

	if (image->n_segments == 0 || image->size != (size_t)image->last - image->base + 1 ||
	    image->data_bytes + image->gap_bytes != image->size || image->segments[0].start != image->base ||
	    image->segments[0].gap_before != 0 || image->segments[image->n_segments - 1].last != image->last)
		__builtin_trap();
	for (size_t i = 0; i < image->n_segments; i++) {
		const struct ihex_segment *s = &image->segments[i];

		if (s->last < s->start || s->size != s->last - s->start + 1 || s->line == 0)
			__builtin_trap();
		data_bytes += s->size;
		if (i > 0) {
			const struct ihex_segment *prev = &image->segments[i - 1];

			/* joined segments never touch; the gap between them is all fill */
			if (s->start <= prev->last + 1 || s->gap_before != s->start - prev->last - 1)
				__builtin_trap();
			for (uint32_t a = prev->last + 1; a < s->start; a++)
				if (image->data[a - image->base] != IHEX_FILL)
					__builtin_trap();
		}
	}
	if (data_bytes != image->data_bytes)
		__builtin_trap();
	if (ihex_check_region(image, image->base, 0, &err) != 0 ||
	    ihex_check_region(image, image->base, (uint32_t)image->size, &err) != 0)
		__builtin_trap();
	if (image->base < UINT32_MAX && (ihex_check_region(image, image->base + 1, 0, &err) == 0 ||
					 err.message[0] == '\0'))
		__builtin_trap();
	ihex_vectors_note(image, note, sizeof(note));
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Rewrites the last two hex digits of every line that is ':' and an even number (>= 10) of hex digits. */
static void fix_checksums(char *text, size_t size)
{
	static const char digits[] = "0123456789ABCDEF";
	size_t pos = 0;

	while (pos < size) {
		char *nl = memchr(text + pos, '\n', size - pos);
		size_t end = nl ? (size_t)(nl - text) : size, n;
		uint8_t sum = 0;

		if (end > pos && text[end - 1] == '\r')
			end--;
		n = end - pos;
		if (n >= 11 && n % 2 == 1 && text[pos] == ':') {
			size_t i;

			for (i = pos + 1; i < end - 2; i += 2) {
				int hi = hex_digit(text[i]), lo = hex_digit(text[i + 1]);

				if (hi < 0 || lo < 0)
					break;
				sum = (uint8_t)(sum + (hi << 4 | lo));
			}
			if (i == end - 2) {
				sum = (uint8_t)-sum;
				text[end - 2] = digits[sum >> 4];
				text[end - 1] = digits[sum & 15];
			}
		}
		pos = nl ? (size_t)(nl - text) + 1 : size;
	}
}

static void one_input(const uint8_t *data, size_t size)
{
	struct ihex_limits tight = { .max_data = 64, .max_image = 4096, .max_runs = 4 };
	struct ihex_image image, small;
	struct ihex_error err = { 0 };
	int r;

	ihex_image_init(&image);
	r = ihex_parse((const char *)data, size, NULL, &image, &err);
	if (r < 0) {
		check_refused(r, &image, &err);
	} else {
		check_image(&image);
	}

	ihex_image_init(&small);
	err.message[0] = '\0';
	r = ihex_parse((const char *)data, size, &tight, &small, &err);
	if (r < 0) {
		check_refused(r, &small, &err);
	} else if (!image.data || small.size != image.size || small.base != image.base ||
		   small.n_segments != image.n_segments || memcmp(small.data, image.data, image.size) != 0) {
		__builtin_trap();
	}
	ihex_image_done(&small);
	ihex_image_done(&image);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;

	one_input(data, size);
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	fix_checksums(copy, size);
	one_input((const uint8_t *)copy, size);
	free(copy);
	return 0;
}
