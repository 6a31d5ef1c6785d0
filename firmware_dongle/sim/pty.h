/* pty: the simulated dongle's serial port, a pseudo-terminal in raw mode. The simulator owns the master side;
 * the host opens the slave (/dev/pts/N, or the --link symlink to it) like any serial port.
 *
 * The simulator also keeps the slave open itself (@hold). Without it the master reports a hang-up whenever the
 * host has the port closed, and poll() would spin; with it, "unplug" is the simulator closing both sides, which the
 * host sees as EIO and a vanished port, like a USB dongle pulled out.
 */
#ifndef MESHFLEET_SIM_PTY_H
#define MESHFLEET_SIM_PTY_H

#include <stdbool.h>

struct pty {
	int master;             /* non-blocking; -1 when closed */
	int hold;               /* the slave, kept open; -1 when closed */
	char path[64];          /* the slave's path */
	const char *link;       /* borrowed: the --link path, or NULL */
};

void pty_init(struct pty *p, const char *link);

/* Opens a new pseudo-terminal in raw mode and points the link at it (replacing an older symlink; anything else at
 * that path is refused with -EEXIST). Returns 0 or a negative errno. */
int pty_open(struct pty *p);

/* Closes both sides and removes the link. No-op when closed. */
void pty_close(struct pty *p);

bool pty_is_open(const struct pty *p);

#endif
