/* bytes: little-endian field access and byte copies for the protocol codecs, without libc (freestanding).
 * Internal to protocol/; every function is static inline so each .c gets its own copy and no symbol leaks. */
#ifndef MESHFLEET_PROTOCOL_BYTES_H
#define MESHFLEET_PROTOCOL_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline uint16_t bytes_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t bytes_get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static inline void bytes_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void bytes_put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Forward copy; @dst may equal @src (a payload built in place) but must not otherwise overlap it. */
static inline void bytes_copy(uint8_t *dst, const uint8_t *src, size_t len)
{
	if (dst == src)
		return;
	for (size_t i = 0; i < len; i++)
		dst[i] = src[i];
}

static inline bool bytes_contain(const uint8_t *p, size_t len, uint8_t value)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] == value)
			return true;
	return false;
}

#endif
