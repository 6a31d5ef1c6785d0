/* tap.h: Test Anything Protocol output for the C unit tests.
 *
 * Each check prints "ok N - what" or "not ok N - what" with both values on failure; done_testing() prints the plan
 * and returns the exit status. Automake's tap-driver.sh counts every point, so ./quickstart test reports them.
 */
#ifndef MESHFLEET_TAP_H
#define MESHFLEET_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int tap_run;
static int tap_failed;

__attribute__((format(printf, 4, 5)))
static inline bool tap_report(bool pass, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	tap_run++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_run);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!pass)
		printf("#   failed at %s line %d\n", file, line);
	fflush(stdout);
	return pass;
}

#define ok(cond, ...) tap_report(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...) do { \
	intmax_t g_ = (intmax_t)(got), w_ = (intmax_t)(want); \
	if (!tap_report(g_ == w_, __FILE__, __LINE__, __VA_ARGS__)) \
		printf("#   got: %jd\n#   expected: %jd\n", g_, w_); \
} while (0)

#define is_str(got, want, ...) do { \
	const char *g_ = (got), *w_ = (want); \
	bool p_ = (g_ == NULL && w_ == NULL) || (g_ && w_ && strcmp(g_, w_) == 0); \
	if (!tap_report(p_, __FILE__, __LINE__, __VA_ARGS__)) \
		printf("#   got: '%s'\n#   expected: '%s'\n", g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
} while (0)

/* Checks that @haystack contains @needle, for error messages whose exact wording may grow. */
#define has_str(haystack, needle, ...) do { \
	const char *h_ = (haystack), *n_ = (needle); \
	if (!tap_report(h_ && strstr(h_, n_), __FILE__, __LINE__, __VA_ARGS__)) \
		printf("#   got: '%s'\n#   expected to contain: '%s'\n", h_ ? h_ : "(null)", n_); \
} while (0)

static inline int done_testing(void)
{
	printf("1..%d\n", tap_run);
	return tap_failed == 0 && tap_run > 0 ? 0 : 1;
}

#endif
