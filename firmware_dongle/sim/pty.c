/* pty: see pty.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "pty.h"

void pty_init(struct pty *p, const char *link)
{
	*p = (struct pty){ .master = -1, .hold = -1, .link = link };
}

bool pty_is_open(const struct pty *p)
{
	return p->master >= 0;
}

/* Points the link at the slave: a new symlink renamed over the old one, so the link never dangles halfway. */
static int make_link(const struct pty *p)
{
	char tmp[4096];
	struct stat st;

	if (lstat(p->link, &st) == 0 && !S_ISLNK(st.st_mode))
		return -EEXIST;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp%ld", p->link, (long)getpid()) >= sizeof(tmp))
		return -ENAMETOOLONG;
	unlink(tmp);
	if (symlink(p->path, tmp) < 0)
		return -errno;
	if (rename(tmp, p->link) < 0) {
		int err = -errno;

		unlink(tmp);
		return err;
	}
	return 0;
}

int pty_open(struct pty *p)
{
	struct termios tio;
	int err;

	pty_close(p);
	p->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
	if (p->master < 0)
		return -errno;
	if (grantpt(p->master) < 0 || unlockpt(p->master) < 0 || ptsname_r(p->master, p->path, sizeof(p->path)) != 0)
		goto fail;
	p->hold = open(p->path, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (p->hold < 0)
		goto fail;
	/* raw: no echo, no line editing, no CR/LF translation, 8 bits */
	if (tcgetattr(p->hold, &tio) < 0)
		goto fail;
	cfmakeraw(&tio);
	if (tcsetattr(p->hold, TCSANOW, &tio) < 0)
		goto fail;
	if (p->link && (err = make_link(p)) < 0) {
		errno = -err;
		goto fail;
	}
	return 0;

fail:
	err = -errno;
	pty_close(p);
	return err;
}

void pty_close(struct pty *p)
{
	if (p->master < 0 && p->hold < 0)
		return;
	if (p->link) {
		char target[64] = "";
		ssize_t n = readlink(p->link, target, sizeof(target) - 1);

		/* only our own link: another simulator may have taken the path since */
		if (n > 0) {
			target[n] = '\0';
			if (strcmp(target, p->path) == 0)
				unlink(p->link);
		}
	}
	if (p->hold >= 0)
		close(p->hold);
	if (p->master >= 0)
		close(p->master);
	p->hold = -1;
	p->master = -1;
}
