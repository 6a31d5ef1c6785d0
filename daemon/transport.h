/* transport: opening the dongle's serial port and moving its bytes, behind one small interface (ARCHITECTURE.md,
 * "Dongle link"); also the OS look-ups that diagnose a port which will not open, and the port list of
 * `meshfleetctl dongle probe`.
 *
 * Two implementations of struct transport_ops, both watching their descriptor with a uv_poll_t that lives inside the
 * transport: TRANSPORT_TERMIOS opens any tty path in raw mode (pseudo-terminals, which libserialport cannot open:
 * meshfleet-sim, socat, ser2net; plain UARTs), TRANSPORT_SERIALPORT opens real serial ports through libserialport.
 * Both take an exclusive flock() on the port, so two daemons never share a dongle.
 *
 * Life cycle: transport_new → open → start → write... → close → (closed callback) → open again, or free.
 */
#ifndef MESHFLEET_TRANSPORT_H
#define MESHFLEET_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define TRANSPORT_DEFAULT_BAUD 115200
#define TRANSPORT_READ_CHUNK 4096       /* bytes per read(); the link decodes them before the next read */
#define TRANSPORT_READS_PER_WAKEUP 16   /* bounds one poll callback, so a flooding port cannot starve the loop */
#define TRANSPORT_MAX_HOLDERS 4         /* processes named in a "port busy" diagnosis */

enum transport_kind {
	TRANSPORT_AUTO,                 /* transport_new() picks by the path: ptys and non-serial ttys get termios */
	TRANSPORT_TERMIOS,
	TRANSPORT_SERIALPORT,
};

enum transport_flow {
	TRANSPORT_FLOW_NONE,
	TRANSPORT_FLOW_RTSCTS,          /* hardware flow control (the nRF5 SDK examples' default on a UART) */
};

struct transport_options {
	const char *path;               /* borrowed; copied by transport_new() */
	enum transport_kind kind;
	uint32_t baud;                  /* 0 = TRANSPORT_DEFAULT_BAUD; ignored by ptys and USB CDC ACM */
	enum transport_flow flow;
};

struct transport_callbacks {
	/* Bytes arrived; @data is borrowed for the duration of the call. */
	void (*read)(void *userdata, const uint8_t *data, size_t len);
	/* The port failed or hung up (-EIO after an unplug, -ENXIO when a pty's master closed, ...). Reading has
	 * stopped; the owner closes the transport. */
	void (*error)(void *userdata, int error);
	/* The port takes bytes again, after transport_want_writable(true). */
	void (*writable)(void *userdata);
	/* The poll handle is closed and the descriptor released: the transport may be opened again, or freed. */
	void (*closed)(void *userdata);
	void *userdata;
};

struct transport;

/* The interface. Every function returns 0 or a negative errno unless it says otherwise. */
struct transport_ops {
	const char *name;               /* "termios", "serialport" */
	/* Opens and configures the port (raw 8N1, baud, flow control, exclusive lock). Nothing is left open on
	 * failure: -ENOENT, -EACCES, -EBUSY (another process holds it), -ENOTTY (not a serial port), ... */
	int (*open)(struct transport *t);
	/* Starts delivering bytes to the read callback. */
	int (*start)(struct transport *t);
	/* Writes what the port takes now, without blocking: *ret_written may be less than @len, even 0. */
	int (*write)(struct transport *t, const uint8_t *data, size_t len, size_t *ret_written);
	/* Asks for (or stops) the writable callback. */
	int (*want_writable)(struct transport *t, bool on);
	/* Stops reading and closes the port; the closed callback follows. Only on an open transport. */
	void (*close)(struct transport *t);
	/* Frees a transport that is not open (never opened, or after the closed callback). */
	void (*free)(struct transport *t);
};

/* The common head of every implementation. */
struct transport {
	const struct transport_ops *ops;
	char path[256];
	bool is_open;                   /* open() succeeded and the closed callback has not come yet */
};

/* Creates a transport for @o->path (nothing is opened yet). TRANSPORT_AUTO is resolved here, by
 * transport_kind_for_path(). Returns 0, -ENAMETOOLONG or -ENOMEM; *ret is untouched on failure. */
int transport_new(uv_loop_t *loop, const struct transport_options *o, const struct transport_callbacks *cb,
		  struct transport **ret);

/* TRANSPORT_TERMIOS for pseudo-terminals, missing paths and anything libserialport does not know; else
 * TRANSPORT_SERIALPORT. */
enum transport_kind transport_kind_for_path(const char *path);
const char *transport_kind_to_string(enum transport_kind kind);

static inline int transport_open(struct transport *t)
{
	return t->ops->open(t);
}

static inline int transport_start(struct transport *t)
{
	return t->ops->start(t);
}

static inline int transport_write(struct transport *t, const uint8_t *data, size_t len, size_t *ret_written)
{
	return t->ops->write(t, data, len, ret_written);
}

static inline int transport_want_writable(struct transport *t, bool on)
{
	return t->ops->want_writable(t, on);
}

static inline void transport_close(struct transport *t)
{
	t->ops->close(t);
}

/* NULL is a no-op. Returns NULL. */
struct transport *transport_free(struct transport *t);

/* "termios" or "serialport"; for TRANSPORT_AUTO, the one chosen at the last open. */
const char *transport_name(const struct transport *t);

/* --- look-ups for diagnoses (all bounded; none blocks on the port itself) --- */

/* Names the processes that hold @path open, as "pid 812 (minicom), pid 977 (ModemManager)", scanning
 * /proc/<pid>/fd for the device (bounded: a few thousand processes and descriptors). The caller's own process
 * counts too, so close your own descriptor first. Returns the number of holders found: 0 when none are visible
 * (other users' processes are hidden from a non-root daemon). @out is always NUL-terminated. */
int transport_port_holders(const char *path, char *out, size_t size);

/* Describes who may open @path: "crw-rw---- root:dialout". *ret_group receives the owning group's name (or its
 * number). Returns 0 or a negative errno from stat(). */
int transport_port_access(const char *path, char *out, size_t size, char *ret_group, size_t group_size);

/* --- the port list of `meshfleetctl dongle probe` and of dongle = auto --- */

struct transport_port_info {
	char path[256];
	char description[128];
	bool usb;
	int usb_vid, usb_pid;           /* -1 when not USB */
	char usb_serial[64];
	char usb_manufacturer[64];
	char usb_product[64];
	bool dongle_id;                 /* a USB id the meshfleet companion firmware uses (transport_usb_id_is_dongle) */
};

/* 1915:520f (Nordic nRF52840 dongle, CDC ACM) and 2fe3:0100 (Zephyr's default CDC ACM id): the ids the udev rule
 * systemd/70-meshfleet-dongle.rules matches. */
bool transport_usb_id_is_dongle(int vid, int pid);

/* Lists up to @max serial ports into @out, the ones with a dongle id first. Returns 0 and *ret_count, or a
 * negative errno from libserialport. */
int transport_probe_list(struct transport_port_info *out, size_t max, size_t *ret_count);

/* USB details of one port by path, for GET /api/v1/dongle. Returns 0, -ENOENT (libserialport does not know it:
 * a pty, a missing path) or -ENOMEM. */
int transport_port_info(const char *path, struct transport_port_info *ret_info);

/* The path of the first port with a dongle id, for dongle = auto, and how many ports have one (the caller says so
 * when the choice was ambiguous). Returns 0, -ENOENT (none), -ENAMETOOLONG or a libserialport error. */
int transport_find_dongle(char *out, size_t size, size_t *ret_candidates);

#endif
