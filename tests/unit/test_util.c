/* Unit tests for daemon/util.c: number, address and hex parsing, time formatting, strbuf limits. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tap.h"
#include "util.h"

static void test_parse_uint(void)
{
	uint64_t v = 7;

	is_int(parse_uint("0", 0, 10, &v), 0, "0 parses");
	is_int(v, 0, "0 is 0");
	is_int(parse_uint("0x7fff", 0, 0xffff, &v), 0, "hex parses");
	is_int(v, 0x7fff, "0x7fff is 32767");
	is_int(parse_uint("0X10", 0, 100, &v), 0, "upper-case 0X parses");
	is_int(v, 16, "0X10 is 16");
	v = 99;
	is_int(parse_uint("", 0, 10, &v), -EINVAL, "empty string refused");
	is_int(parse_uint("0x", 0, 10, &v), -EINVAL, "bare 0x refused");
	is_int(parse_uint("-1", 0, 10, &v), -EINVAL, "sign refused");
	is_int(parse_uint(" 1", 0, 10, &v), -EINVAL, "leading space refused");
	is_int(parse_uint("1 ", 0, 10, &v), -EINVAL, "trailing space refused");
	is_int(parse_uint("12a", 0, 1000, &v), -EINVAL, "trailing garbage refused");
	is_int(parse_uint("11", 0, 10, &v), -ERANGE, "above max refused");
	is_int(parse_uint("4", 5, 10, &v), -ERANGE, "below min refused");
	is_int(parse_uint("18446744073709551616", 0, UINT64_MAX, &v), -ERANGE, "2^64 overflows");
	is_int(v, 99, "output untouched on failure");
	is_int(parse_uint("18446744073709551615", 0, UINT64_MAX, &v), 0, "2^64-1 parses");
	ok(v == UINT64_MAX, "2^64-1 value");
}

static void test_parse_unicast(void)
{
	uint16_t a = 0;

	is_int(parse_unicast("1", &a), 0, "address 1");
	is_int(a, 1, "address 1 value");
	is_int(parse_unicast("0x7FFF", &a), 0, "address 0x7FFF");
	is_int(a, 0x7fff, "address 0x7FFF value");
	is_int(parse_unicast("0", &a), -ERANGE, "unassigned address 0 refused");
	is_int(parse_unicast("0x8000", &a), -ERANGE, "group/virtual range refused");
	is_int(parse_unicast("0xffff", &a), -ERANGE, "all-nodes address refused");
	is_int(parse_unicast("x10", &a), -EINVAL, "junk refused");
}

static void test_hex(void)
{
	uint8_t out[4] = { 0 };
	char text[9];

	is_int(hex_decode("0aFf10", 6, out), 0, "mixed case hex decodes");
	ok(out[0] == 0x0a && out[1] == 0xff && out[2] == 0x10, "decoded bytes");
	out[0] = 0x55;
	is_int(hex_decode("0g", 2, out), -EINVAL, "non-hex digit refused");
	is_int(out[0], 0x55, "output untouched on failure");
	is_int(hex_decode("abc", 3, out), -EINVAL, "odd length refused");
	hex_encode((const uint8_t[]){ 0xde, 0xad, 0x00, 0x01 }, 4, text);
	is_str(text, "dead0001", "encode is lower case and keeps zeros");
}

static void test_time(void)
{
	char text[21];

	time_format_rfc3339(0, text);
	is_str(text, "1970-01-01T00:00:00Z", "epoch");
	time_format_rfc3339(1795478400123LL, text);
	is_str(text, "2026-11-24T00:00:00Z", "milliseconds dropped, UTC");
	ok(time_now_ms() > 1700000000000LL, "wall clock is after 2023");
	time_format_rfc3339(1709164799000LL, text);
	is_str(text, "2024-02-28T23:59:59Z", "day before a leap day");
	time_format_rfc3339(1709164800000LL, text);
	is_str(text, "2024-02-29T00:00:00Z", "leap day");
	time_format_rfc3339(951868800000LL, text);
	is_str(text, "2000-03-01T00:00:00Z", "2000 is a leap year (400-year rule)");
	time_format_rfc3339(4107542400000LL, text);
	is_str(text, "2100-03-01T00:00:00Z", "2100 is not a leap year");
	time_format_rfc3339(253402300799000LL, text);
	is_str(text, "9999-12-31T23:59:59Z", "last second of 9999");
	time_format_rfc3339(-1000, text);
	is_str(text, "1970-01-01T00:00:00Z", "before the epoch becomes the epoch");
	/* Every day of 1970..2200 agrees with gmtime_r(). */
	{
		int bad = 0;

		for (int64_t day = 0; day < 84000; day++) {
			time_t t = (time_t)(day * 86400 + 45296);
			char want[21];
			struct tm tm;

			gmtime_r(&t, &tm);
			strftime(want, sizeof(want), "%Y-%m-%dT%H:%M:%SZ", &tm);
			time_format_rfc3339((int64_t)t * 1000, text);
			bad += strcmp(want, text) != 0;
		}
		is_int(bad, 0, "84000 days agree with gmtime_r");
	}
}

static void test_strbuf(void)
{
	struct strbuf sb;
	char *text;
	size_t len = 0;

	strbuf_init(&sb, 16);
	strbuf_printf(&sb, "%d-%s", 42, "abc");
	strbuf_append(&sb, "xyz", 3);
	text = strbuf_steal(&sb, &len);
	is_str(text, "42-abcxyz", "appends");
	is_int(len, 9, "length");
	free(text);

	strbuf_init(&sb, 16);
	strbuf_append(&sb, "0123456789", 10);
	strbuf_printf(&sb, "%s", "0123456789");
	ok(sb.failed, "over the limit marks the buffer failed");
	is_int(sb.len, 10, "failed append keeps what was there");
	strbuf_append(&sb, "1", 1);
	is_int(sb.len, 10, "appends after a failure are ignored");
	ok(strbuf_steal(&sb, &len) == NULL, "steal of a failed buffer returns NULL");
	strbuf_done(&sb);

	strbuf_init(&sb, 16);
	strbuf_append(&sb, "012345678901234", 15);
	ok(!sb.failed, "exactly max-1 bytes fit (NUL takes the last)");
	strbuf_done(&sb);

	strbuf_init(&sb, 64);
	strbuf_append_uint(&sb, 0);
	strbuf_append(&sb, ",", 1);
	strbuf_append_uint(&sb, 18446744073709551615ULL);
	{
		char *p = strbuf_tail(&sb, 3);

		ok(p != NULL, "tail reserved");
		memcpy(p, "abc", 3);
	}
	is_str(sb.data, "0,18446744073709551615abc", "integers without printf, tail filled in place");
	strbuf_printf(&sb, "%s", "0123456789012345678901234567890123456789");
	ok(sb.failed, "printf past the limit fails");
	is_str(sb.data, "0,18446744073709551615abc", "and leaves the text as it was");
	ok(strbuf_tail(&sb, 1) == NULL, "no tail after a failure");
	strbuf_done(&sb);
}

static void test_json_string(void)
{
	struct strbuf sb;
	char *text;
	size_t len;

	strbuf_init(&sb, 256);
	strbuf_json_string(&sb, "plain");
	strbuf_append(&sb, " ", 1);
	strbuf_json_string(&sb, "q\"b\\n\nt\tc\x01\x1f é");
	strbuf_append(&sb, " ", 1);
	strbuf_json_string(&sb, "");
	text = strbuf_steal(&sb, &len);
	is_str(text, "\"plain\" \"q\\\"b\\\\n\\nt\\tc\\u0001\\u001f é\" \"\"",
	       "quotes, backslashes and control characters escaped; UTF-8 kept");
	free(text);
}

int main(void)
{
	test_parse_uint();
	test_parse_unicast();
	test_hex();
	test_time();
	test_strbuf();
	test_json_string();
	return done_testing();
}
