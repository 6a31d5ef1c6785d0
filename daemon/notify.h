/* notify: the systemd service notification protocol (sd_notify), without linking libsystemd.
 *
 * READY=1 once the listener is up, STOPPING=1 on SIGTERM, WATCHDOG=1 from the loop while it turns. Outside
 * systemd (no $NOTIFY_SOCKET) every call is a no-op.
 */
#ifndef MESHFLEET_NOTIFY_H
#define MESHFLEET_NOTIFY_H

#include <stdint.h>

/* Sends @state ("READY=1", ...) to $NOTIFY_SOCKET. Returns 0 (also when not under systemd) or a negative errno. */
int notify_send(const char *state);

/* The watchdog interval systemd expects for this process, in milliseconds, or 0 when there is none. */
uint64_t notify_watchdog_ms(void);

#endif
