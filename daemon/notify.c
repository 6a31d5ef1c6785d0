/* notify: see notify.h. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "notify.h"
#include "util.h"

int notify_send(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	size_t n;
	ssize_t sent;
	int fd, r = 0;

	if (!path || !*path)
		return 0;
	n = strlen(path);
	/* A path, or a Linux abstract socket written with a leading '@'. */
	if ((path[0] != '/' && path[0] != '@') || n >= sizeof(addr.sun_path))
		return -EINVAL;
	memcpy(addr.sun_path, path, n);
	if (addr.sun_path[0] == '@')
		addr.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&addr,
		      (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
	if (sent < 0)
		r = -errno;
	close(fd);
	return r;
}

uint64_t notify_watchdog_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	uint64_t v, p;

	if (!usec || parse_uint(usec, 1, UINT64_MAX, &v) < 0)
		return 0;
	/* A watchdog meant for another process (a parent shell, say) is not ours. */
	if (pid && (parse_uint(pid, 1, UINT32_MAX, &p) < 0 || p != (uint64_t)getpid()))
		return 0;
	return v / 1000 ? v / 1000 : 1;
}
