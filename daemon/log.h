/* log: the daemon's log lines on stderr, each with a syslog priority prefix ("<6>") so journald keeps the level.
 *
 * One process-wide threshold; lines above it are dropped before formatting.
 */
#ifndef MESHFLEET_LOG_H
#define MESHFLEET_LOG_H

#include <stdbool.h>
#include <syslog.h>

void log_set_level(int priority);
int log_get_level(void);

/* Parses "err", "warning", "notice", "info" or "debug". Returns 0 or -EINVAL; *ret_priority untouched on failure. */
int log_level_from_string(const char *name, int *ret_priority);
const char *log_level_to_string(int priority);

bool log_enabled(int priority);

__attribute__((format(printf, 2, 3)))
void log_msg(int priority, const char *fmt, ...);

#define log_err(...)     log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)   do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, __VA_ARGS__); } while (0)

#endif
