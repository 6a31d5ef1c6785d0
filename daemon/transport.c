/* transport: see transport.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <libserialport.h>

#include "transport.h"
#include "util.h"

/* Bounds of the /proc scan: a Raspberry Pi runs a few hundred processes; these keep a pathological machine from
 * stalling the loop for long. */
#define PROC_MAX_PIDS 8192
#define PROC_MAX_FDS_PER_PID 1024

/* Both implementations are a descriptor watched by a uv_poll_t; they differ in how the port is opened, configured
 * and released. One struct serves both, and TRANSPORT_AUTO picks the implementation again at each open, so a port
 * that is missing at start and plugged in later still gets libserialport. */
struct fd_transport {
	struct transport base;
	const struct transport_ops *impl;       /* termios_ops or serialport_ops; base.ops may be auto_ops */
	bool auto_kind;
	uv_loop_t *loop;                        /* weak */
	uv_poll_t poll;
	struct transport_callbacks cb;
	uint32_t baud;
	enum transport_flow flow;
	int fd;                                 /* -1 when closed */
	struct sp_port *sp;                     /* owned; serialport only */
	bool started;
	bool closing;
	bool want_write;
	uint8_t buf[TRANSPORT_READ_CHUNK];
};

static const struct transport_ops termios_ops, serialport_ops, auto_ops;

static struct fd_transport *fd_transport(struct transport *t)
{
	return (struct fd_transport *)t;
}

const char *transport_kind_to_string(enum transport_kind kind)
{
	switch (kind) {
	case TRANSPORT_AUTO:
		return "auto";
	case TRANSPORT_TERMIOS:
		return "termios";
	case TRANSPORT_SERIALPORT:
		return "serialport";
	}
	return "unknown";
}

/* libserialport's results as negative errnos, at the boundary (STYLE.md, "Errors"). */
static int sp_errno(enum sp_return r)
{
	int code;

	switch (r) {
	case SP_OK:
		return 0;
	case SP_ERR_ARG:
		return -EINVAL;
	case SP_ERR_FAIL:
		code = sp_last_error_code();
		return code > 0 ? -code : -EIO;
	case SP_ERR_MEM:
		return -ENOMEM;
	case SP_ERR_SUPP:
		return -ENOTSUP;
	}
	return r < 0 ? -EIO : 0;
}

enum transport_kind transport_kind_for_path(const char *path)
{
	struct sp_port *sp = NULL;
	char real[PATH_MAX];

	/* libserialport refuses ptys and missing paths; termios handles both (a missing path then gets a clear
	 * "port missing" at open, and AUTO looks again next time). */
	if (realpath(path, real) && strncmp(real, "/dev/pts/", 9) == 0)
		return TRANSPORT_TERMIOS;
	if (sp_get_port_by_name(path, &sp) != SP_OK)
		return TRANSPORT_TERMIOS;
	sp_free_port(sp);
	return TRANSPORT_SERIALPORT;
}

static int speed_constant(uint32_t baud, speed_t *ret_speed)
{
	static const struct {
		uint32_t baud;
		speed_t speed;
	} table[] = {
		{ 9600, B9600 }, { 19200, B19200 }, { 38400, B38400 }, { 57600, B57600 }, { 115200, B115200 },
		{ 230400, B230400 }, { 460800, B460800 }, { 500000, B500000 }, { 921600, B921600 },
		{ 1000000, B1000000 }, { 2000000, B2000000 }, { 3000000, B3000000 }, { 4000000, B4000000 },
	};

	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		if (table[i].baud == baud) {
			*ret_speed = table[i].speed;
			return 0;
		}
	}
	return -EINVAL;
}

/* The part of opening both implementations share once they have a descriptor: the exclusive lock (libserialport
 * 0.1.1 takes none), non-blocking mode, and the poll handle. */
static int finish_open(struct fd_transport *ft, int fd)
{
	int flags, r;

	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK ? -EBUSY : -errno;
	/* TIOCEXCL makes other non-root opens fail with EBUSY while we hold the port; ptys and old kernels may refuse
	 * it, and the flock above is the real guard, so a failure is ignored. */
	(void)ioctl(fd, TIOCEXCL);
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	r = uv_poll_init(ft->loop, &ft->poll, fd);
	if (r < 0)
		return r;
	ft->poll.data = ft;
	ft->fd = fd;
	ft->started = false;
	ft->closing = false;
	ft->want_write = false;
	ft->base.is_open = true;
	return 0;
}

/* VMIN=1, VTIME=0: with O_NONBLOCK a read() then returns EAGAIN when there is nothing to read, so that 0 can only
 * mean a hang-up (with VMIN=0 a tty returns 0 for "no data" too). */
static int set_read_mode(int fd)
{
	struct termios tio;

	if (tcgetattr(fd, &tio) < 0)
		return -errno;
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &tio) < 0)
		return -errno;
	return 0;
}

static int termios_open(struct transport *t)
{
	struct fd_transport *ft = fd_transport(t);
	struct termios tio;
	speed_t speed;
	int fd, r;

	if (t->is_open)
		return -EALREADY;
	r = speed_constant(ft->baud, &speed);
	if (r < 0)
		return r;
	fd = open(t->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (tcgetattr(fd, &tio) < 0) {
		/* ENOTTY for a regular file or a socket; EINVAL on some drivers. Either way it is not a serial port. */
		r = errno == EINVAL ? -ENOTTY : -errno;
		goto fail;
	}
	cfmakeraw(&tio);
	tio.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
	tio.c_cflag |= CS8 | CLOCAL | CREAD | (ft->flow == TRANSPORT_FLOW_RTSCTS ? CRTSCTS : 0);
	tio.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (cfsetispeed(&tio, speed) < 0 || cfsetospeed(&tio, speed) < 0 || tcsetattr(fd, TCSANOW, &tio) < 0) {
		r = -errno;
		goto fail;
	}
	/* Bytes queued before we opened belong to nobody (half a frame from before a reset, a boot banner). */
	(void)tcflush(fd, TCIFLUSH);
	r = finish_open(ft, fd);
	if (r < 0)
		goto fail;
	return 0;
fail:
	close(fd);
	return r;
}

static int serialport_open(struct transport *t)
{
	struct fd_transport *ft = fd_transport(t);
	struct sp_port *sp = NULL;
	struct stat st;
	int fd = -1, r;

	if (t->is_open)
		return -EALREADY;
	/* libserialport says only "invalid argument" for a missing path; stat() says which. */
	if (stat(t->path, &st) < 0)
		return -errno;
	if (!S_ISCHR(st.st_mode))
		return -ENOTTY;
	r = sp_errno(sp_get_port_by_name(t->path, &sp));
	if (r < 0)
		return r == -EINVAL ? -ENOTTY : r;
	r = sp_errno(sp_open(sp, SP_MODE_READ_WRITE));
	if (r < 0)
		goto fail_free;
	r = sp_errno(sp_get_port_handle(sp, &fd));
	if (r < 0)
		goto fail_close;
	r = sp_errno(sp_set_baudrate(sp, (int)ft->baud));
	if (r == 0)
		r = sp_errno(sp_set_bits(sp, 8));
	if (r == 0)
		r = sp_errno(sp_set_parity(sp, SP_PARITY_NONE));
	if (r == 0)
		r = sp_errno(sp_set_stopbits(sp, 1));
	if (r == 0)
		r = sp_errno(sp_set_flowcontrol(sp, ft->flow == TRANSPORT_FLOW_RTSCTS ? SP_FLOWCONTROL_RTSCTS :
						SP_FLOWCONTROL_NONE));
	/* Zephyr's CDC ACM samples wait for DTR before they send anything: assert it. */
	if (r == 0)
		r = sp_errno(sp_set_dtr(sp, SP_DTR_ON));
	if (r == 0)
		r = set_read_mode(fd);
	if (r < 0)
		goto fail_close;
	(void)sp_flush(sp, SP_BUF_INPUT);
	r = finish_open(ft, fd);
	if (r < 0)
		goto fail_close;
	ft->sp = sp;
	return 0;
fail_close:
	sp_close(sp);
fail_free:
	sp_free_port(sp);
	return r;
}

static int auto_open(struct transport *t)
{
	struct fd_transport *ft = fd_transport(t);

	if (t->is_open)
		return -EALREADY;
	ft->impl = transport_kind_for_path(t->path) == TRANSPORT_SERIALPORT ? &serialport_ops : &termios_ops;
	return ft->impl->open(t);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
	struct fd_transport *ft = poll->data;
	int err = 0;

	if (status < 0) {
		/* libuv says EBADF for POLLERR; a read tells the real cause (EIO after an unplug). */
		ssize_t n = read(ft->fd, ft->buf, sizeof(ft->buf));

		err = n < 0 && errno != EAGAIN && errno != EWOULDBLOCK ? -errno : n == 0 ? -EPIPE : -EIO;
		goto failed;
	}
	if ((events & UV_WRITABLE) && ft->want_write) {
		ft->cb.writable(ft->cb.userdata);
		if (ft->closing || !ft->base.is_open)
			return;
	}
	if (!(events & (UV_READABLE | UV_DISCONNECT)))
		return;
	for (int i = 0; i < TRANSPORT_READS_PER_WAKEUP; i++) {
		ssize_t n = read(ft->fd, ft->buf, sizeof(ft->buf));

		if (n > 0) {
			ft->cb.read(ft->cb.userdata, ft->buf, (size_t)n);
			/* The owner may have closed the port from its callback (a fatal diagnosis, say). */
			if (ft->closing || !ft->started)
				return;
			continue;
		}
		if (n == 0) {
			err = -EPIPE;           /* hang-up: with VMIN=1, 0 means nothing else */
			goto failed;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return;
		if (errno == EINTR)
			continue;
		err = -errno;
		goto failed;
	}
	return;
failed:
	/* Level-triggered polling on a dead descriptor would call us again at once: stop before reporting. */
	uv_poll_stop(&ft->poll);
	ft->started = false;
	ft->cb.error(ft->cb.userdata, err);
}

static int poll_update(struct fd_transport *ft)
{
	if (!ft->started)
		return 0;
	return uv_poll_start(&ft->poll, UV_READABLE | (ft->want_write ? UV_WRITABLE : 0), on_poll);
}

static int fd_start(struct transport *t)
{
	struct fd_transport *ft = fd_transport(t);

	if (!t->is_open || ft->closing)
		return -EBADF;
	ft->started = true;
	return poll_update(ft);
}

static int fd_want_writable(struct transport *t, bool on)
{
	struct fd_transport *ft = fd_transport(t);

	if (!t->is_open || ft->closing)
		return -EBADF;
	if (ft->want_write == on)
		return 0;
	ft->want_write = on;
	return poll_update(ft);
}

static int termios_write(struct transport *t, const uint8_t *data, size_t len, size_t *ret_written)
{
	struct fd_transport *ft = fd_transport(t);
	ssize_t n;

	if (!t->is_open || ft->closing)
		return -EBADF;
	do
		n = write(ft->fd, data, len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		n = 0;
	}
	*ret_written = (size_t)n;
	return 0;
}

static int serialport_write(struct transport *t, const uint8_t *data, size_t len, size_t *ret_written)
{
	struct fd_transport *ft = fd_transport(t);
	enum sp_return n;

	if (!t->is_open || ft->closing)
		return -EBADF;
	n = sp_nonblocking_write(ft->sp, data, len);
	if (n < 0)
		return sp_errno(n);
	*ret_written = (size_t)n;
	return 0;
}

static void on_poll_closed(uv_handle_t *handle)
{
	struct fd_transport *ft = handle->data;

	/* The exclusive mode belongs to the tty, not to our descriptor: it would outlive us while another holds the
	 * tty open (meshfleet-sim keeps its pty's slave open), and keep every later non-root open out with EBUSY. */
	if (ft->fd >= 0)
		(void)ioctl(ft->fd, TIOCNXCL);
	if (ft->sp) {
		sp_close(ft->sp);
		sp_free_port(ft->sp);
		ft->sp = NULL;
	} else if (ft->fd >= 0) {
		close(ft->fd);
	}
	ft->fd = -1;
	ft->closing = false;
	ft->base.is_open = false;
	if (ft->cb.closed)
		ft->cb.closed(ft->cb.userdata);
}

static void fd_close(struct transport *t)
{
	struct fd_transport *ft = fd_transport(t);

	if (!t->is_open || ft->closing)
		return;
	ft->closing = true;
	ft->started = false;
	/* The descriptor is released in the close callback: libuv must stop watching it before it is closed. */
	uv_poll_stop(&ft->poll);
	uv_close((uv_handle_t *)&ft->poll, on_poll_closed);
}

static void fd_free(struct transport *t)
{
	free(t);
}

static int auto_start(struct transport *t)
{
	return fd_transport(t)->impl->start(t);
}

static int auto_write(struct transport *t, const uint8_t *data, size_t len, size_t *ret_written)
{
	return fd_transport(t)->impl->write(t, data, len, ret_written);
}

static int auto_want_writable(struct transport *t, bool on)
{
	return fd_transport(t)->impl->want_writable(t, on);
}

static void auto_close(struct transport *t)
{
	fd_transport(t)->impl->close(t);
}

static const struct transport_ops termios_ops = {
	.name = "termios",
	.open = termios_open,
	.start = fd_start,
	.write = termios_write,
	.want_writable = fd_want_writable,
	.close = fd_close,
	.free = fd_free,
};

static const struct transport_ops serialport_ops = {
	.name = "serialport",
	.open = serialport_open,
	.start = fd_start,
	.write = serialport_write,
	.want_writable = fd_want_writable,
	.close = fd_close,
	.free = fd_free,
};

static const struct transport_ops auto_ops = {
	.name = "auto",
	.open = auto_open,
	.start = auto_start,
	.write = auto_write,
	.want_writable = auto_want_writable,
	.close = auto_close,
	.free = fd_free,
};

int transport_new(uv_loop_t *loop, const struct transport_options *o, const struct transport_callbacks *cb,
		  struct transport **ret)
{
	struct fd_transport *ft;
	int r;

	ft = calloc(1, sizeof(*ft));
	if (!ft)
		return -ENOMEM;
	r = str_copy(ft->base.path, sizeof(ft->base.path), o->path);
	if (r < 0) {
		free(ft);
		return r;
	}
	ft->loop = loop;
	ft->cb = *cb;
	ft->baud = o->baud ? o->baud : TRANSPORT_DEFAULT_BAUD;
	ft->flow = o->flow;
	ft->fd = -1;
	switch (o->kind) {
	case TRANSPORT_AUTO:
		ft->auto_kind = true;
		ft->base.ops = &auto_ops;
		ft->impl = &termios_ops;
		break;
	case TRANSPORT_TERMIOS:
		ft->base.ops = ft->impl = &termios_ops;
		break;
	case TRANSPORT_SERIALPORT:
		ft->base.ops = ft->impl = &serialport_ops;
		break;
	}
	*ret = &ft->base;
	return 0;
}

const char *transport_name(const struct transport *t)
{
	if (t->ops == &auto_ops)
		return ((const struct fd_transport *)t)->impl->name;
	return t->ops->name;
}

struct transport *transport_free(struct transport *t)
{
	if (t)
		t->ops->free(t);
	return NULL;
}

/* --- diagnosis look-ups --- */

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static bool same_file(const struct stat *a, const struct stat *b)
{
	if (S_ISCHR(a->st_mode) && S_ISCHR(b->st_mode))
		return a->st_rdev == b->st_rdev;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

static void process_name(const char *pid, char *out, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(out, size, "?");
	snprintf(path, sizeof(path), "/proc/%s/comm", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, out, size - 1);
	close(fd);
	if (n <= 0) {
		snprintf(out, size, "?");
		return;
	}
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
}

/* Whether process @pid has @dev open (at most PROC_MAX_FDS_PER_PID descriptors looked at). */
static bool process_holds(int proc_fd, const char *pid, const struct stat *dev)
{
	char sub[64];
	struct dirent *e;
	bool found = false;
	DIR *fds;
	int dfd, n = 0;

	snprintf(sub, sizeof(sub), "%s/fd", pid);
	dfd = openat(proc_fd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return false;
	fds = fdopendir(dfd);
	if (!fds) {
		close(dfd);
		return false;
	}
	while (!found && n++ < PROC_MAX_FDS_PER_PID && (e = readdir(fds))) {
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		if (fstatat(dirfd(fds), e->d_name, &st, 0) == 0 && same_file(&st, dev))
			found = true;
	}
	closedir(fds);
	return found;
}

int transport_port_holders(const char *path, char *out, size_t size)
{
	struct stat dev;
	struct dirent *e;
	size_t used = 0;
	int found = 0, n = 0;
	DIR *proc;

	out[0] = '\0';
	if (stat(path, &dev) < 0)
		return 0;
	proc = opendir("/proc");
	if (!proc)
		return 0;
	while (n++ < PROC_MAX_PIDS && (e = readdir(proc))) {
		char comm[32];
		int w;

		if (!all_digits(e->d_name) || !process_holds(dirfd(proc), e->d_name, &dev))
			continue;
		found++;
		if (found > TRANSPORT_MAX_HOLDERS)
			continue;
		process_name(e->d_name, comm, sizeof(comm));
		w = snprintf(out + used, size - used, "%spid %s (%s)", used ? ", " : "", e->d_name, comm);
		if (w > 0 && (size_t)w < size - used)
			used += (size_t)w;
	}
	closedir(proc);
	if (found > TRANSPORT_MAX_HOLDERS && used < size)
		snprintf(out + used, size - used, " and %d more", found - TRANSPORT_MAX_HOLDERS);
	return found;
}

static void mode_string(mode_t mode, char out[11])
{
	static const char rwx[] = "rwxrwxrwx";

	out[0] = S_ISCHR(mode) ? 'c' : S_ISDIR(mode) ? 'd' : S_ISLNK(mode) ? 'l' : S_ISREG(mode) ? '-' : '?';
	for (int i = 0; i < 9; i++)
		out[1 + i] = (mode & (0400 >> i)) ? rwx[i] : '-';
	out[10] = '\0';
}

int transport_port_access(const char *path, char *out, size_t size, char *ret_group, size_t group_size)
{
	char buf[2048], user[64], group[64], mode[11];
	struct passwd pw, *pwp = NULL;
	struct group gr, *grp = NULL;
	struct stat st;

	if (stat(path, &st) < 0)
		return -errno;
	mode_string(st.st_mode, mode);
	if (getpwuid_r(st.st_uid, &pw, buf, sizeof(buf), &pwp) == 0 && pwp)
		snprintf(user, sizeof(user), "%s", pwp->pw_name);
	else
		snprintf(user, sizeof(user), "%u", (unsigned)st.st_uid);
	if (getgrgid_r(st.st_gid, &gr, buf, sizeof(buf), &grp) == 0 && grp)
		snprintf(group, sizeof(group), "%s", grp->gr_name);
	else
		snprintf(group, sizeof(group), "%u", (unsigned)st.st_gid);
	snprintf(out, size, "%s %s:%s", mode, user, group);
	snprintf(ret_group, group_size, "%s", group);
	return 0;
}

/* --- port list --- */

bool transport_usb_id_is_dongle(int vid, int pid)
{
	return (vid == 0x1915 && pid == 0x520f) || (vid == 0x2fe3 && pid == 0x0100);
}

static void copy_sp_string(char *dst, size_t size, char *s)
{
	snprintf(dst, size, "%s", s ? s : "");
}

static void fill_info(struct sp_port *sp, struct transport_port_info *info)
{
	memset(info, 0, sizeof(*info));
	snprintf(info->path, sizeof(info->path), "%s", sp_get_port_name(sp));
	copy_sp_string(info->description, sizeof(info->description), sp_get_port_description(sp));
	info->usb_vid = info->usb_pid = -1;
	if (sp_get_port_transport(sp) != SP_TRANSPORT_USB)
		return;
	info->usb = true;
	if (sp_get_port_usb_vid_pid(sp, &info->usb_vid, &info->usb_pid) != SP_OK)
		info->usb_vid = info->usb_pid = -1;
	copy_sp_string(info->usb_serial, sizeof(info->usb_serial), sp_get_port_usb_serial(sp));
	copy_sp_string(info->usb_manufacturer, sizeof(info->usb_manufacturer), sp_get_port_usb_manufacturer(sp));
	copy_sp_string(info->usb_product, sizeof(info->usb_product), sp_get_port_usb_product(sp));
	info->dongle_id = transport_usb_id_is_dongle(info->usb_vid, info->usb_pid);
}

int transport_probe_list(struct transport_port_info *out, size_t max, size_t *ret_count)
{
	struct sp_port **list = NULL;
	size_t count = 0;
	int r;

	r = sp_errno(sp_list_ports(&list));
	if (r < 0)
		return r;
	/* Two passes, so the ports with a dongle id come first and survive a small @max. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; list[i] && count < max; i++) {
			struct transport_port_info info;

			fill_info(list[i], &info);
			if (info.dongle_id == (pass == 0))
				out[count++] = info;
		}
	}
	sp_free_port_list(list);
	*ret_count = count;
	return 0;
}

int transport_port_info(const char *path, struct transport_port_info *ret_info)
{
	struct sp_port *sp = NULL;
	int r;

	r = sp_errno(sp_get_port_by_name(path, &sp));
	if (r < 0)
		return r == -ENOMEM ? r : -ENOENT;
	fill_info(sp, ret_info);
	sp_free_port(sp);
	return 0;
}

int transport_find_dongle(char *out, size_t size, size_t *ret_candidates)
{
	struct transport_port_info ports[16];
	size_t n = 0, candidates = 0;
	int r;

	r = transport_probe_list(ports, ARRAY_SIZE(ports), &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		candidates += ports[i].dongle_id;
	if (candidates == 0)
		return -ENOENT;
	r = str_copy(out, size, ports[0].path);
	if (r < 0)
		return r;
	*ret_candidates = candidates;
	return 0;
}
