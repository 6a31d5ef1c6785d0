/* logq: the firmware core's log lines. Each line goes to the platform's log sink at once and, at or above the
 * forwarding level, into a bounded queue that core.c drains as LOG events (docs/protocol.md, "LOG").
 *
 * When the queue is full the oldest DEBUG line goes, or else the oldest line: the host sees the loss as a gap in
 * the event numbers (core.c uses one number per dropped line). Formatting is a small printf of its own, since the
 * core has no libc: %d %i %u %x %X %c %s %% with an optional '0' flag, a width, and a precision for %s ("%.*s").
 */
#ifndef MESHFLEET_CORE_LOGQ_H
#define MESHFLEET_CORE_LOGQ_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "platform.h"

#define LOGQ_DEPTH 16           /* lines waiting for the host */
#define LOGQ_MODULE_MAX 15      /* characters of a module name (the protocol allows 32) */
#define LOGQ_TEXT_MAX 120       /* characters of a line (the protocol allows 256); longer lines are cut */

struct logq_line {
	enum msg_log_level level;
	uint32_t uptime_ms;
	uint8_t module_len;
	uint8_t text_len;
	char module[LOGQ_MODULE_MAX + 1];       /* NUL-terminated */
	char text[LOGQ_TEXT_MAX + 1];           /* NUL-terminated */
};

struct logq {
	const struct core_platform *platform;   /* borrowed */
	enum msg_log_level forward_level;       /* lines above it (less severe) are not queued */
	struct logq_line lines[LOGQ_DEPTH];     /* ring */
	unsigned head;                          /* oldest line */
	unsigned count;
	uint32_t dropped;                       /* lines dropped because the queue was full; wraps */
};

void logq_init(struct logq *q, const struct core_platform *platform, enum msg_log_level forward_level);

__attribute__((format(printf, 4, 5)))
void logq_printf(struct logq *q, enum msg_log_level level, const char *module, const char *fmt, ...);
__attribute__((format(printf, 4, 0)))
void logq_vprintf(struct logq *q, enum msg_log_level level, const char *module, const char *fmt, va_list ap);

/* The oldest queued line (borrowed, valid until the next logq call), or NULL. */
const struct logq_line *logq_peek(const struct logq *q);
void logq_pop(struct logq *q);

/* The formatter on its own: writes at most @cap - 1 characters and a NUL; returns the characters written. */
__attribute__((format(printf, 3, 0)))
unsigned logq_vformat(char *buf, unsigned cap, const char *fmt, va_list ap);

#endif
