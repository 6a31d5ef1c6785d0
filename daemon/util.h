/* util: small parsers and formatters shared by the daemon's modules (numbers, hex, addresses, times). */
#ifndef MESHFLEET_UTIL_H
#define MESHFLEET_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Bluetooth Mesh unicast addresses are 0x0001..0x7FFF. */
#define MESH_UNICAST_MIN 0x0001
#define MESH_UNICAST_MAX 0x7FFF

/* Parses a whole string as an unsigned decimal number, or hexadecimal after "0x", within [min, max].
 * No sign, no spaces, no empty string. Returns 0, -EINVAL (syntax) or -ERANGE. */
int parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *ret_value);

/* Parses a unicast address written as decimal ("16") or hex ("0x0010"). Returns 0, -EINVAL or -ERANGE. */
int parse_unicast(const char *s, uint16_t *ret_address);

/* Decodes exactly @len hex digits (either case) into @out (len / 2 bytes). Returns 0 or -EINVAL. */
int hex_decode(const char *hex, size_t len, uint8_t *out);
/* Writes 2 * @len lowercase hex digits and a NUL to @out. */
void hex_encode(const uint8_t *data, size_t len, char *out);

/* Milliseconds since the Unix epoch, from the wall clock (for records, never for timeouts). */
int64_t time_now_ms(void);
/* Formats @ms as RFC 3339 UTC with second precision, "2026-11-23T20:00:00Z"; @out holds at least 21 bytes. */
void time_format_rfc3339(int64_t ms, char out[static 21]);
/* Parses an RFC 3339 date-time with "Z" or an offset, "2026-11-23T20:00:00Z", "2026-11-23T21:00:00.250+01:00",
 * from 1970 on, into ms since the epoch. Returns 0 or -EINVAL; *ret_ms untouched on failure. */
int time_parse_rfc3339(const char *s, int64_t *ret_ms);

/* Creates @path (one level) with @mode if missing; fails with -ENOTDIR if it is something else. */
int mkdir_if_missing(const char *path, unsigned mode);

/* Copies @src into @dst of @size bytes; returns -ENAMETOOLONG (leaving @dst untouched) when it does not fit. */
int str_copy(char *dst, size_t size, const char *src);

/* A growable text buffer with a hard limit; once an append fails (out of memory or over @max), the buffer keeps
 * what it had and strbuf_failed() says so, so callers check once at the end. */
struct strbuf {
	char *data;     /* owned; NUL-terminated when not NULL */
	size_t len;
	size_t cap;
	size_t max;
	bool failed;
};

void strbuf_init(struct strbuf *sb, size_t max);
void strbuf_done(struct strbuf *sb);
void strbuf_append(struct strbuf *sb, const char *data, size_t len);
__attribute__((format(printf, 2, 3)))
void strbuf_printf(struct strbuf *sb, const char *fmt, ...);
/* Appends @s as a JSON string literal, quotes included; @s must be valid UTF-8 (it is copied byte for byte but
 * for the characters JSON requires escaped). */
void strbuf_json_string(struct strbuf *sb, const char *s);
/* Appends @v in decimal, without printf. */
void strbuf_append_uint(struct strbuf *sb, uint64_t v);
/* Appends @len bytes for the caller to fill and returns where they start; NULL once failed. */
char *strbuf_tail(struct strbuf *sb, size_t len);
/* Makes room for @len bytes in all, so that a response of known typical size is not grown step by step. */
void strbuf_reserve_total(struct strbuf *sb, size_t len);
/* Hands the text over to the caller (free() it) and resets @sb. Returns: new reference, or NULL if failed. */
char *strbuf_steal(struct strbuf *sb, size_t *ret_len);

#endif
