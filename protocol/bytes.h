/* bytes: little-endian field access and byte copies for the protocol codecs, without libc (freestanding).
 * Internal to protocol/; every function is static inline so each .c gets its own copy and no symbol leaks. The
 * cursor functions (struct reader, struct writer) have no prefix: they are the codecs' vocabulary. */
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

/* --- the codecs' cursors (messages.c, mesh_access.c, mesh_blob.c, mesh_dfu.c), bounds-checked: a read past the end
 * yields zeros, a write past the end is dropped and remembered, so a length check missed by mistake corrupts a value
 * instead of memory. Callers check lengths first; these are the second line. --- */

struct reader {
	const uint8_t *buf;
	size_t len;
	size_t pos;
};

static inline uint8_t get_u8(struct reader *r)
{
	return r->pos < r->len ? r->buf[r->pos++] : 0;
}

static inline uint16_t get_le16(struct reader *r)
{
	uint16_t lo = get_u8(r);

	return (uint16_t)(lo | (get_u8(r) << 8));
}

static inline uint32_t get_le32(struct reader *r)
{
	uint32_t lo = get_le16(r);

	return lo | ((uint32_t)get_le16(r) << 16);
}

static inline uint64_t get_le64(struct reader *r)
{
	uint64_t lo = get_le32(r);

	return lo | ((uint64_t)get_le32(r) << 32);
}

static inline void get_bytes(struct reader *r, uint8_t *dst, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = get_u8(r);
}

static inline size_t reader_left(const struct reader *r)
{
	return r->len - r->pos;
}

/* The rest of the payload, borrowed. */
static inline const uint8_t *get_rest(struct reader *r, size_t *ret_len)
{
	const uint8_t *p = r->buf + r->pos;

	*ret_len = r->len - r->pos;
	r->pos = r->len;
	return p;
}

struct writer {
	uint8_t *buf;
	size_t cap;
	size_t len;
	bool full;
};

static inline void put_u8(struct writer *w, uint8_t v)
{
	if (w->len >= w->cap) {
		w->full = true;
		return;
	}
	w->buf[w->len++] = v;
}

static inline void put_le16(struct writer *w, uint16_t v)
{
	put_u8(w, (uint8_t)v);
	put_u8(w, (uint8_t)(v >> 8));
}

static inline void put_le32(struct writer *w, uint32_t v)
{
	put_le16(w, (uint16_t)v);
	put_le16(w, (uint16_t)(v >> 16));
}

static inline void put_le64(struct writer *w, uint64_t v)
{
	put_le32(w, (uint32_t)v);
	put_le32(w, (uint32_t)(v >> 32));
}

static inline void put_bytes(struct writer *w, const uint8_t *p, size_t n)
{
	if (n > w->cap - w->len) {
		w->full = true;
		return;
	}
	bytes_copy(w->buf + w->len, p, n);
	w->len += n;
}

#endif
