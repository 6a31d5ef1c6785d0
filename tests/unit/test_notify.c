/* Unit tests for daemon/notify.c: messages reach $NOTIFY_SOCKET (path and abstract), the watchdog settings. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "tap.h"

/* Binds a datagram socket at @name (a path, or '@' + abstract name). */
static int listen_at(const char *name)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t n = strlen(name);
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	memcpy(addr.sun_path, name, n);
	if (name[0] == '@')
		addr.sun_path[0] = '\0';
	if (bind(fd, (struct sockaddr *)&addr, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void receive(int fd, char *buf, size_t size)
{
	ssize_t n = recv(fd, buf, size - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
}

int main(void)
{
	char dir[] = "/tmp/mf-test-notify-XXXXXX", path[128], abstract[64], got[64], pid[32];
	int fd;

	unsetenv("NOTIFY_SOCKET");
	is_int(notify_send("READY=1"), 0, "outside systemd, a no-op");

	ok(mkdtemp(dir) != NULL, "temp dir");
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = listen_at(path);
	ok(fd >= 0, "listening at a path");
	setenv("NOTIFY_SOCKET", path, 1);
	is_int(notify_send("READY=1"), 0, "send to a path");
	receive(fd, got, sizeof(got));
	is_str(got, "READY=1", "message arrives");
	close(fd);
	unlink(path);
	rmdir(dir);

	snprintf(abstract, sizeof(abstract), "@meshfleet-test-%ld", (long)getpid());
	fd = listen_at(abstract);
	ok(fd >= 0, "listening on an abstract socket");
	setenv("NOTIFY_SOCKET", abstract, 1);
	is_int(notify_send("STOPPING=1"), 0, "send to an abstract socket");
	receive(fd, got, sizeof(got));
	is_str(got, "STOPPING=1", "message arrives");
	close(fd);

	setenv("NOTIFY_SOCKET", "relative/path", 1);
	is_int(notify_send("READY=1"), -EINVAL, "a relative socket path is refused");
	unsetenv("NOTIFY_SOCKET");

	unsetenv("WATCHDOG_USEC");
	is_int(notify_watchdog_ms(), 0, "no watchdog by default");
	setenv("WATCHDOG_USEC", "30000000", 1);
	unsetenv("WATCHDOG_PID");
	is_int(notify_watchdog_ms(), 30000, "30 s watchdog");
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	is_int(notify_watchdog_ms(), 30000, "watchdog for this pid");
	setenv("WATCHDOG_PID", "1", 1);
	is_int(notify_watchdog_ms(), 0, "watchdog for another pid is ignored");
	setenv("WATCHDOG_USEC", "soon", 1);
	unsetenv("WATCHDOG_PID");
	is_int(notify_watchdog_ms(), 0, "a bad interval is ignored");
	return done_testing();
}
