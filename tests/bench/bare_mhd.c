/* bare-mhd: the ceiling of meshfleetd's HTTP design, for `make bench`.
 *
 * The same design as daemon/http.c with none of the daemon's work: libmicrohttpd in external-event epoll mode,
 * its epoll fd watched by a uv_poll_t and its timeouts by a uv_timer_t, one thread, the same daemon flags and
 * options, and a response built per request from bytes read at start-up, with the headers the daemon adds.
 * What meshfleetd does beyond this (routing, SQLite, JSON, metrics) is what the benchmark's ratio measures.
 *
 * Usage: bare-mhd [OPTION]... PORT PATH=FILE [PATH=FILE...]   (PORT 0 picks a free one; see usage())
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <uv.h>

#define MAX_ROUTES 16
#define MAX_PATH_LEN 256
#define MAX_FILE_BYTES (64u << 20)
#define LISTEN_BACKLOG 128              /* as daemon/http.c open_listener() */

/* The daemon's defaults: daemon/config_file.c config_init() and HTTP_CONNECTION_MEMORY in daemon/http.h. */
#define DEFAULT_MAX_CONNECTIONS 64
#define DEFAULT_MAX_CONNECTIONS_PER_IP 32
#define DEFAULT_CONNECTION_TIMEOUT_S 30
#define DEFAULT_CONNECTION_MEMORY 32768

struct route {
	char path[MAX_PATH_LEN];
	char *body;                     /* owned */
	size_t len;
};

struct options {
	unsigned max_connections;
	unsigned max_connections_per_ip;
	unsigned connection_timeout_s;
	size_t connection_memory;
};

struct server {
	uv_loop_t loop;
	uv_poll_t poll;                 /* watches MHD's epoll fd */
	uv_timer_t timer;               /* MHD's next timeout */
	uv_signal_t sig_term;
	uv_signal_t sig_int;
	int open_handles;
	struct MHD_Daemon *mhd;         /* owned */
	struct route routes[MAX_ROUTES];
	size_t n_routes;
	bool stopping;
};

/* Marks a request whose first call of the access handler has been seen (the daemon's request_ctx, minus the
 * allocation: the daemon answers a GET on the second call, so this server does too). */
static char request_seen;

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: bare-mhd [OPTION]... PORT PATH=FILE [PATH=FILE...]\n"
		"Serves each FILE's bytes at exactly PATH (GET and HEAD) on 127.0.0.1:PORT with libmicrohttpd\n"
		"driven by libuv as meshfleetd does; 404 otherwise. PORT 0 picks a free port. Prints\n"
		"\"bare-mhd: listening on http://127.0.0.1:PORT/\" on stdout when ready; SIGTERM stops it.\n\n"
		"  --max-connections N         MHD_OPTION_CONNECTION_LIMIT (default %d, as meshfleetd)\n"
		"  --max-connections-per-ip N  MHD_OPTION_PER_IP_CONNECTION_LIMIT (default %d)\n"
		"  --connection-timeout S      MHD_OPTION_CONNECTION_TIMEOUT (default %d)\n"
		"  --connection-memory BYTES   MHD_OPTION_CONNECTION_MEMORY_LIMIT (default %d)\n"
		"  -h, --help                  print this help and exit\n",
		DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS_PER_IP, DEFAULT_CONNECTION_TIMEOUT_S,
		DEFAULT_CONNECTION_MEMORY);
}

/* Parses a whole decimal string within [min, max]. Returns 0 or -EINVAL. */
static int parse_number(const char *text, unsigned long min, unsigned long max, unsigned long *ret_value)
{
	unsigned long v;
	char *end;

	if (text[0] < '0' || text[0] > '9')
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -EINVAL;
	*ret_value = v;
	return 0;
}

/* Reads all of @path into a new buffer. Returns 0 or a negative errno (-EFBIG over MAX_FILE_BYTES). */
static int read_file(const char *path, char **ret_data, size_t *ret_len)
{
	struct stat st;
	size_t len = 0;
	char *data = NULL;
	int fd = -1, r;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		r = -EINVAL;
		goto fail;
	}
	if ((uint64_t)st.st_size > MAX_FILE_BYTES) {
		r = -EFBIG;
		goto fail;
	}
	/* One spare byte, so an empty file still gets a buffer of its own. */
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		r = -ENOMEM;
		goto fail;
	}
	while (len < (size_t)st.st_size) {
		ssize_t n = read(fd, data + len, (size_t)st.st_size - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto fail;
		}
		if (n == 0)
			break;  /* the file shrank; serve what is there */
		len += (size_t)n;
	}
	close(fd);
	*ret_data = data;
	*ret_len = len;
	return 0;
fail:
	free(data);
	close(fd);
	return r;
}

/* Adds a "PATH=FILE" argument to the route table. */
static int route_add(struct server *s, const char *spec)
{
	const char *eq = strchr(spec, '=');
	struct route *route;
	size_t path_len;
	int r;

	if (!eq || spec[0] != '/' || eq[1] == '\0') {
		fprintf(stderr, "bare-mhd: '%s': expected PATH=FILE with PATH starting with '/'\n", spec);
		return -EINVAL;
	}
	path_len = (size_t)(eq - spec);
	if (path_len >= MAX_PATH_LEN) {
		fprintf(stderr, "bare-mhd: '%s': the path is longer than %d bytes\n", spec, MAX_PATH_LEN - 1);
		return -ENAMETOOLONG;
	}
	if (s->n_routes == MAX_ROUTES) {
		fprintf(stderr, "bare-mhd: more than %d PATH=FILE arguments\n", MAX_ROUTES);
		return -E2BIG;
	}
	route = &s->routes[s->n_routes];
	r = read_file(eq + 1, &route->body, &route->len);
	if (r < 0) {
		fprintf(stderr, "bare-mhd: cannot read '%s': %s\n", eq + 1,
			r == -EFBIG ? "larger than 64 MiB" : strerror(-r));
		return r;
	}
	memcpy(route->path, spec, path_len);
	route->path[path_len] = '\0';
	s->n_routes++;
	return 0;
}

static const struct route *route_find(const struct server *s, const char *path)
{
	for (size_t i = 0; i < s->n_routes; i++)
		if (strcmp(s->routes[i].path, path) == 0)
			return &s->routes[i];
	return NULL;
}

/* Queues @len bytes of @body (borrowed; outlives the response) with the daemon's headers. */
static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ok;

	r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	ok = MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	ok &= MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ok &= MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (ok == MHD_YES)
		ok = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	static const char not_found[] = "{\"error\":{\"code\":\"not_found\",\"message\":\"no such route\"}}";
	static const char not_allowed[] =
		"{\"error\":{\"code\":\"method_not_allowed\",\"message\":\"only GET and HEAD\"}}";
	const struct server *s = cls;
	const struct route *route;

	(void)version;
	(void)upload_data;
	if (!*con_cls) {
		*con_cls = &request_seen;
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		*upload_data_size = 0;  /* a body is read and dropped */
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return respond(conn, MHD_HTTP_METHOD_NOT_ALLOWED, not_allowed, sizeof(not_allowed) - 1);
	route = route_find(s, url);
	if (!route)
		return respond(conn, MHD_HTTP_NOT_FOUND, not_found, sizeof(not_found) - 1);
	return respond(conn, MHD_HTTP_OK, route->body, route->len);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	*con_cls = NULL;
}

__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("bare-mhd: libmicrohttpd: ", stderr);
	vfprintf(stderr, fmt, ap);
}

static void on_handle_closed(uv_handle_t *handle)
{
	struct server *s = handle->data;

	s->open_handles--;
}

static void on_timer(uv_timer_t *timer);

/* Lets MHD do its work, then re-arms the timer for its next deadline (as daemon/http.c http_run()). */
static void server_run(struct server *s)
{
	MHD_UNSIGNED_LONG_LONG timeout;

	if (s->stopping)
		return;
	MHD_run(s->mhd);
	if (MHD_get_timeout(s->mhd, &timeout) == MHD_YES)
		uv_timer_start(&s->timer, on_timer, (uint64_t)timeout, 0);
	else
		uv_timer_stop(&s->timer);
}

static void on_timer(uv_timer_t *timer)
{
	server_run(timer->data);
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
	(void)status;
	(void)events;
	server_run(poll->data);
}

static void on_signal(uv_signal_t *handle, int signum)
{
	struct server *s = handle->data;

	(void)signum;
	if (s->stopping)
		return;
	s->stopping = true;
	/* Stop watching the epoll fd before MHD closes it. */
	uv_close((uv_handle_t *)&s->poll, on_handle_closed);
	MHD_stop_daemon(s->mhd);
	s->mhd = NULL;
	uv_close((uv_handle_t *)&s->timer, on_handle_closed);
	uv_close((uv_handle_t *)&s->sig_term, on_handle_closed);
	uv_close((uv_handle_t *)&s->sig_int, on_handle_closed);
}

/* A non-blocking IPv4 listener on 127.0.0.1:@port, as the daemon opens its own. */
static int open_listener(uint16_t port, int *ret_fd, uint16_t *ret_port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons(port),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t addr_len = sizeof(addr);
	int fd, one = 1, r;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, LISTEN_BACKLOG) < 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &addr_len) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	*ret_fd = fd;
	*ret_port = ntohs(addr.sin_port);
	return 0;
}

static int server_start(struct server *s, const struct options *o, uint16_t port)
{
	const union MHD_DaemonInfo *info;
	uint16_t bound = 0;
	int fd = -1, r;

	r = open_listener(port, &fd, &bound);
	if (r < 0) {
		fprintf(stderr, "bare-mhd: cannot listen on 127.0.0.1:%u: %s\n", port, strerror(-r));
		return r;
	}
	s->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
				  0, NULL, NULL, on_request, s,
				  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
				  MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
				  MHD_OPTION_CONNECTION_LIMIT, o->max_connections,
				  MHD_OPTION_PER_IP_CONNECTION_LIMIT, o->max_connections_per_ip,
				  MHD_OPTION_CONNECTION_TIMEOUT, o->connection_timeout_s,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->connection_memory,
				  MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
				  MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
				  MHD_OPTION_END);
	if (!s->mhd) {
		fprintf(stderr, "bare-mhd: libmicrohttpd refused to start (see the lines above)\n");
		close(fd);
		return -EIO;
	}
	info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
	if (!info) {
		fprintf(stderr, "bare-mhd: libmicrohttpd has no epoll descriptor\n");
		return -EIO;
	}
	r = uv_poll_init(&s->loop, &s->poll, info->epoll_fd);
	if (r < 0) {
		fprintf(stderr, "bare-mhd: cannot watch the epoll descriptor: %s\n", uv_strerror(r));
		return r;
	}
	s->poll.data = s;
	s->open_handles++;
	uv_timer_init(&s->loop, &s->timer);
	s->timer.data = s;
	s->open_handles++;
	uv_signal_init(&s->loop, &s->sig_term);
	s->sig_term.data = s;
	s->open_handles++;
	uv_signal_init(&s->loop, &s->sig_int);
	s->sig_int.data = s;
	s->open_handles++;
	uv_signal_start(&s->sig_term, on_signal, SIGTERM);
	uv_signal_start(&s->sig_int, on_signal, SIGINT);
	uv_poll_start(&s->poll, UV_READABLE, on_poll);
	server_run(s);
	printf("bare-mhd: listening on http://127.0.0.1:%u/\n", bound);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	enum { OPT_MAX_CONNECTIONS = 0x100, OPT_PER_IP, OPT_TIMEOUT, OPT_MEMORY };
	static const struct option long_options[] = {
		{ "max-connections", required_argument, NULL, OPT_MAX_CONNECTIONS },
		{ "max-connections-per-ip", required_argument, NULL, OPT_PER_IP },
		{ "connection-timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "connection-memory", required_argument, NULL, OPT_MEMORY },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct options o = {
		.max_connections = DEFAULT_MAX_CONNECTIONS,
		.max_connections_per_ip = DEFAULT_MAX_CONNECTIONS_PER_IP,
		.connection_timeout_s = DEFAULT_CONNECTION_TIMEOUT_S,
		.connection_memory = DEFAULT_CONNECTION_MEMORY,
	};
	struct server *s;
	unsigned long v;
	int c, r, status = 1, index = 0;

	while ((c = getopt_long(argc, argv, "h", long_options, &index)) != -1) {
		/* The ranges are meshfleetd's (daemon/config_file.c); the memory limit is MHD's sane span. */
		switch (c) {
		case OPT_MAX_CONNECTIONS:
			r = parse_number(optarg, 1, 4096, &v);
			o.max_connections = (unsigned)v;
			break;
		case OPT_PER_IP:
			r = parse_number(optarg, 0, 4096, &v);
			o.max_connections_per_ip = (unsigned)v;
			break;
		case OPT_TIMEOUT:
			r = parse_number(optarg, 1, 3600, &v);
			o.connection_timeout_s = (unsigned)v;
			break;
		case OPT_MEMORY:
			r = parse_number(optarg, 4096, 16u << 20, &v);
			o.connection_memory = (size_t)v;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (r < 0) {
			fprintf(stderr, "bare-mhd: bad value '%s' for --%s\n", optarg, long_options[index].name);
			return 2;
		}
	}
	if (argc - optind < 2) {
		usage(stderr);
		return 2;
	}
	if (parse_number(argv[optind], 0, 65535, &v) < 0) {
		fprintf(stderr, "bare-mhd: '%s' is not a port number (0..65535)\n", argv[optind]);
		return 2;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		fprintf(stderr, "bare-mhd: out of memory\n");
		return 1;
	}
	for (int i = optind + 1; i < argc; i++) {
		if (route_add(s, argv[i]) < 0) {
			status = 2;
			goto out;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	r = uv_loop_init(&s->loop);
	if (r < 0) {
		fprintf(stderr, "bare-mhd: cannot create the event loop: %s\n", uv_strerror(r));
		goto out;
	}
	/* server_start() fails only before its first libuv handle, so a failure leaves nothing to close. */
	if (server_start(s, &o, (uint16_t)v) == 0) {
		uv_run(&s->loop, UV_RUN_DEFAULT);
		status = 0;
	}
	if (s->mhd)
		MHD_stop_daemon(s->mhd);
	if (s->open_handles != 0 || uv_loop_close(&s->loop) != 0) {
		fprintf(stderr, "bare-mhd: the event loop closed with handles still open: this is a bug\n");
		status = 1;
	}
out:
	for (size_t i = 0; i < s->n_routes; i++)
		free(s->routes[i].body);
	free(s);
	return status;
}
