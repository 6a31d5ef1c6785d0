/* log: see log.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

static int log_threshold = LOG_INFO;

static const char *const level_names[] = {
	[LOG_ERR] = "err",
	[LOG_WARNING] = "warning",
	[LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log_set_level(int priority)
{
	log_threshold = priority;
}

int log_get_level(void)
{
	return log_threshold;
}

int log_level_from_string(const char *name, int *ret_priority)
{
	for (int p = LOG_ERR; p <= LOG_DEBUG; p++) {
		if (level_names[p] && strcmp(name, level_names[p]) == 0) {
			*ret_priority = p;
			return 0;
		}
	}
	return -EINVAL;
}

const char *log_level_to_string(int priority)
{
	if (priority < LOG_ERR || priority > LOG_DEBUG || !level_names[priority])
		return "unknown";
	return level_names[priority];
}

bool log_enabled(int priority)
{
	return priority <= log_threshold;
}

void log_msg(int priority, const char *fmt, ...)
{
	char line[2048];
	va_list ap;
	int n;

	if (!log_enabled(priority))
		return;
	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	/* One fprintf per line keeps lines whole when stderr is a pipe shared with a child. */
	fprintf(stderr, "<%d>meshfleetd: %s%s\n", priority, line, (size_t)n >= sizeof(line) ? " [truncated]" : "");
}
