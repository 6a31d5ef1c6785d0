/* meshfleetctl: the operator's command-line tool (docs/meshfleetctl.md). main() parses the options and hands each
 * command to its module (ctl_keys, ctl_package, ctl_network, ctl_token, ctl_firmware; ctl_http finds the API token
 * of every REST command); `dongle probe`, which lists the serial ports and says which of them answer as a meshfleet dongle
 * (ARCHITECTURE.md, "Dongle link"), lives here.
 *
 * A probe is the daemon's own link with one attempt: open, one HELLO, a short timeout, close. Ports are probed one
 * after the other, so two names of the same device (a symlink and its target) never compete for the port's lock.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "ctl_firmware.h"
#include "ctl_campaign.h"
#include "ctl_keys.h"
#include "ctl_network.h"
#include "ctl_package.h"
#include "ctl_token.h"
#include "config_file.h"
#include "link.h"
#include "ctl_http.h"
#include "log.h"
#include "messages.h"
#include "tokens.h"
#include "transport.h"

#define CTL_MAX_PORTS 64                /* ports listed or named on the command line */
#define CTL_HELLO_TIMEOUT_MS 500        /* default of --timeout */
#define CTL_HELLO_TIMEOUT_MIN_MS 10
#define CTL_HELLO_TIMEOUT_MAX_MS 60000

enum ctl_exit {
	CTL_EXIT_FOUND = 0,             /* at least one meshfleet dongle answered */
	CTL_EXIT_NONE = 1,              /* none did (or nothing could be probed) */
	CTL_EXIT_USAGE = 2,
};

struct probe {
	struct ctl *ctl;
	char path[256];
	struct transport_port_info info;
	bool have_info;                 /* libserialport knows the port: USB ids, description */
	struct link *link;
	/* The link's state callback must not stop the link from inside set_state(): a zero timer defers it. */
	uv_timer_t stop_timer;
	bool stop_timer_ready;
	bool stop_scheduled;
	bool done;
	bool answered;                  /* HELLO came back with our major version */
	struct msg_hello hello;
	uint32_t window;
	char transport[16];
	struct link_diagnosis diag;
};

struct ctl {
	uv_loop_t loop;
	bool json;
	uint32_t hello_timeout_ms;
	struct probe *probes;
	size_t n_probes;
	size_t next;                    /* the probe to start when the current one has closed */
};

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: meshfleetctl [OPTION]... COMMAND\n"
		"Command-line tool of meshfleet, the Bluetooth Mesh fleet firmware-update daemon.\n\n"
		"Commands:\n"
		"  dongle probe [PATH]...  say which serial ports answer as a meshfleet dongle; without PATH, every\n"
		"                          serial port libserialport knows (PATH may also be a pseudo-terminal or a\n"
		"                          symlink such as STATE_DIR/dongle-sim)\n"
		"  network import FILE [--replace]\n"
		"                          import the network from a Mesh Configuration Database (CDB) export\n"
		"  network show            the imported network (keys are never shown)\n"
		"  network export [FILE]   the network as a CDB file, with what meshfleet learned (holds the keys)\n"
		"  nodes refresh [--wait]  ask the nodes for their composition and firmware through the dongle\n"
		"  keys generate --type ecdsa-p256|ed25519 [--force] FILE\n"
		"                          write a new private signing key (PKCS#8 PEM, mode 0600), show its public key\n"
		"  keys show FILE          a key's public part: PEM, Qx/Qy or raw hex, MCUboot KEYHASH\n"
		"  package inspect FILE [--key PEM]... [--region-start ADDR] [--composition-hash HASH --elements N]\n"
		"                          check an MCUboot image or Intel HEX file, offline\n"
		"  token create --role viewer|operator|admin --name NAME\n"
		"                          create an API token and print it (shown once); offline, in the state\n"
		"                          directory's database (the daemon may run or not), or with --url through\n"
		"                          the daemon's API (POST /api/v1/tokens, admin token needed)\n"
		"  token list              the daemon's API tokens (never their secrets)\n"
		"  token delete ID         delete a token\n"
		"  campaign create|list|show|start|pause|resume|cancel|retry|apply|watch ...\n"
		"                          campaigns over the API; their options follow 'campaign' (docs/meshfleetctl.md)\n"
		"  firmware import FILE [--format mcuboot|hex|raw|zip] [--version V] [--region-start ADDR]\n"
		"           [--company-id ID | --firmware-id HEX] [--metadata HEX | --composition-hash HASH\n"
		"           --elements N [--core-type TYPE] | --composition-from ADDR [--core-type TYPE]]\n"
		"                          upload a firmware image to the daemon's store (POST /api/v1/firmware,\n"
		"                          operator token), print the stored record\n"
		"  firmware list           the stored images, every page\n"
		"  firmware show ID        one stored image (ID: its SHA-256, 64 hex digits)\n"
		"  firmware delete ID      delete a stored image\n\n"
		"Options:\n"
		"      --json              print JSON instead of lines for people\n"
		"      --replace           network import: replace a different stored network, or go back to an\n"
		"                          older export of the same one\n"
		"      --wait              nodes refresh: wait until it ends, then print the result\n"
		"      --type TYPE         keys generate: ecdsa-p256 or ed25519\n"
		"      --force             keys generate: replace an existing FILE\n"
		"      --key PEM           package inspect: verify the signature with this key (repeatable, at most %d)\n"
		"      --region-start ADDR package inspect, firmware import: the application region a HEX file must\n"
		"                          start at\n"
		"      --composition-hash HASH, --elements N [--core-type TYPE]\n"
		"                          package inspect, firmware import: the Mesh DFU firmware metadata derived\n"
		"                          from these and the image's version and size (TYPE application, network,\n"
		"                          application_blob)\n"
		"      --format FORMAT     firmware import: mcuboot, hex, raw or zip (default: told by the content;\n"
		"                          a FILE.hex starting with ':' is hex)\n"
		"      --version V         after firmware import: the version of a hex or raw image, MAJOR.MINOR.REV+BUILD\n"
		"                          (anywhere else: print meshfleetctl's version)\n"
		"      --company-id ID     firmware import: the company id of the derived firmware ID (default 0x0059)\n"
		"      --firmware-id HEX   firmware import: the firmware ID itself, company id first\n"
		"      --metadata HEX      firmware import: the Mesh DFU firmware metadata itself\n"
		"      --composition-from ADDR\n"
		"                          firmware import: derive the metadata from the Composition Data the last\n"
		"                          refresh read from node ADDR\n"
		"      --role ROLE         token create: viewer, operator or admin\n"
		"      --name NAME         token create: 1 to %d characters of A-Z a-z 0-9 . _ -\n"
		"  -u, --url URL           the daemon's address for the commands that talk to it (default\n"
		"                          $MESHFLEET_URL, else " CTL_HTTP_DEFAULT_URL "); token create uses the API\n"
		"                          only when --url is given\n"
		"      --token TOKEN       the API token those commands send (visible to other users in ps: prefer\n"
		"                          --token-file or $" CTL_HTTP_TOKEN_ENV "); without one of them,\n"
		"                          STATE_DIR/" CTL_HTTP_ADMIN_TOKEN_FILE " when this user may read it\n"
		"      --token-file FILE   read the API token from FILE\n"
		"      --cacert FILE       trust the CA certificates in FILE (PEM) for an https:// URL, e.g. the CA of\n"
		"                          the daemon's self-signed certificate (default: the system's CA store)\n"
		"  -s, --state-dir DIR     the daemon's state directory (default: state_dir of the configuration file,\n"
		"                          else " LOCALSTATEDIR "/lib/meshfleet)\n"
		"  -c, --config FILE       the daemon's configuration file, for state_dir (default\n"
		"                          " CONFIG_DEFAULT_PATH ", if present)\n"
		"  -t, --timeout MS        how long to wait for the HELLO answer (default %d, %d..%d)\n"
		"  -v, --verbose           also print the link's log lines on stderr\n"
		"  -V, --version           print the version and exit\n"
		"  -h, --help              print this help and exit\n\n"
		"Exit status: 0 when at least one meshfleet dongle answered, 1 when none did, 2 on a usage error.\n"
		"package inspect: 0 valid (and verified, with --key), 1 refused, 2 usage error.\n"
		"network, nodes, token, firmware: 0 done, 1 failed or refused (reason on stderr), 2 usage error.\n"
		"See docs/meshfleetctl.md.\n",
		CTL_PACKAGE_KEYS_MAX, TOKEN_NAME_MAX, CTL_HELLO_TIMEOUT_MS, CTL_HELLO_TIMEOUT_MIN_MS, CTL_HELLO_TIMEOUT_MAX_MS);
}

/* --- one probe --- */

static void start_next(struct ctl *ctl);

static void on_stop_timer_closed(uv_handle_t *handle)
{
	struct probe *p = handle->data;

	p->stop_timer_ready = false;
}

static void on_link_closed(struct link *l, void *userdata)
{
	struct probe *p = userdata;

	(void)l;
	p->link = link_free(p->link);
	p->done = true;
	uv_close((uv_handle_t *)&p->stop_timer, on_stop_timer_closed);
	/* A link that never started calls back from within probe_start(), whose caller moves on by itself. */
	if (p->stop_scheduled)
		start_next(p->ctl);
}

static void on_stop_timer(uv_timer_t *timer)
{
	struct probe *p = timer->data;

	link_stop(p->link, on_link_closed, p);
}

static void schedule_stop(struct probe *p)
{
	if (p->stop_scheduled)
		return;
	p->stop_scheduled = true;
	uv_timer_start(&p->stop_timer, on_stop_timer, 0, 0);
}

static void on_link_state(void *userdata, enum link_state state, const struct link_diagnosis *diag)
{
	struct probe *p = userdata;
	const struct msg_hello *hello;

	(void)diag;
	switch (state) {
	case LINK_UP:
		hello = link_hello(p->link);
		if (hello)
			p->hello = *hello;
		p->answered = hello != NULL;
		p->window = link_window(p->link);
		snprintf(p->transport, sizeof(p->transport), "%s", link_transport_name(p->link));
		schedule_stop(p);
		return;
	case LINK_FAILED:
		/* max_attempts = 1: the one attempt failed, and the diagnosis says why. */
		p->diag = *link_diagnosis(p->link);
		snprintf(p->transport, sizeof(p->transport), "%s", link_transport_name(p->link));
		schedule_stop(p);
		return;
	case LINK_STOPPED:
	case LINK_HANDSHAKE:
	case LINK_CLOSING:
	case LINK_BACKOFF:
	case LINK_STOPPING:
		return;
	}
}

/* A probe that could not even start: reported like a failed open. */
static void probe_fail_early(struct probe *p, int error, const char *what)
{
	p->diag.code = LINK_DIAG_OPEN_FAILED;
	p->diag.error = error;
	snprintf(p->diag.message, sizeof(p->diag.message), "'%s': %s: %s", p->path, what, strerror(-error));
	p->done = true;
}

static int probe_start(struct probe *p)
{
	static const struct link_callbacks callbacks_template = { .state = on_link_state };
	struct link_callbacks callbacks = callbacks_template;
	struct link_options options = {
		.path = p->path,
		.kind = TRANSPORT_AUTO,
		.hello_timeout_ms = p->ctl->hello_timeout_ms,
		/* One HELLO: a port that some other program uses must see as little of us as possible. */
		.hello_attempts = 1,
		.max_attempts = 1,
	};
	int r;

	callbacks.userdata = p;
	r = link_new(&p->ctl->loop, &options, &callbacks, &p->link);
	if (r < 0) {
		probe_fail_early(p, r, "cannot set up the link");
		return r;
	}
	uv_timer_init(&p->ctl->loop, &p->stop_timer);
	p->stop_timer.data = p;
	p->stop_timer_ready = true;
	r = link_start(p->link);
	if (r < 0) {
		/* Never started: link_stop() calls back at once and closes the timer. */
		probe_fail_early(p, r, "cannot start the link");
		link_stop(p->link, on_link_closed, p);
		return r;
	}
	return 0;
}

/* Starts the next probe that starts; the loop runs dry after the last one. */
static void start_next(struct ctl *ctl)
{
	while (ctl->next < ctl->n_probes) {
		struct probe *p = &ctl->probes[ctl->next++];

		if (probe_start(p) == 0)
			return;
	}
}

/* USB details when libserialport knows the port, also through a symlink (/dev/serial/by-id/...). */
static void probe_lookup(struct probe *p)
{
	char real[PATH_MAX];

	if (p->have_info)
		return;
	if (transport_port_info(p->path, &p->info) == 0) {
		p->have_info = true;
		return;
	}
	if (realpath(p->path, real) && strcmp(real, p->path) != 0 && transport_port_info(real, &p->info) == 0)
		p->have_info = true;
}

static int probe_init(struct ctl *ctl, struct probe *p, const char *path)
{
	memset(p, 0, sizeof(*p));
	p->ctl = ctl;
	if ((size_t)snprintf(p->path, sizeof(p->path), "%s", path) >= sizeof(p->path))
		return -ENAMETOOLONG;
	return 0;
}

/* --- output --- */

static bool probe_usb(const struct probe *p)
{
	return p->have_info && p->info.usb && p->info.usb_vid >= 0 && p->info.usb_pid >= 0;
}

static void print_line(const struct probe *p)
{
	char usb_id[16] = "-";
	const char *serial = "-";

	if (probe_usb(p)) {
		snprintf(usb_id, sizeof(usb_id), "%04x:%04x", (unsigned)p->info.usb_vid, (unsigned)p->info.usb_pid);
		if (p->info.usb_serial[0])
			serial = p->info.usb_serial;
	}
	printf("%s  %s  %s  ", p->path, usb_id, serial);
	if (p->have_info && p->info.description[0])
		printf("\"%s\"  ", p->info.description);
	if (p->answered) {
		printf("-> meshfleet dongle, firmware %u.%u.%u, protocol %u.%u, window %u%s\n", p->hello.fw_major,
		       p->hello.fw_minor, p->hello.fw_patch, p->hello.proto_major, p->hello.proto_minor, p->window,
		       p->hello.features & MSG_FEATURE_SIMULATED ? ", simulated" : "");
	} else {
		printf("-> %s: %s\n", link_diag_code_to_string(p->diag.code), p->diag.message);
	}
}

static json_t *json_string_or_null(const char *s)
{
	return s && s[0] ? json_string(s) : json_null();
}

/* Returns: new reference, or NULL when out of memory. */
static json_t *probe_to_json(const struct probe *p)
{
	char usb_id[16] = "";
	char version[32], protocol[16], build_id[2 * MSG_BUILD_ID_SIZE + 1];
	json_t *o;
	bool usb = probe_usb(p);

	if (usb)
		snprintf(usb_id, sizeof(usb_id), "%04x:%04x", (unsigned)p->info.usb_vid, (unsigned)p->info.usb_pid);
	o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:b, s:o, s:b}",
		      "path", p->path,
		      "usb_id", json_string_or_null(usb_id),
		      "serial", json_string_or_null(usb ? p->info.usb_serial : NULL),
		      "description", json_string_or_null(p->have_info ? p->info.description : NULL),
		      "manufacturer", json_string_or_null(usb ? p->info.usb_manufacturer : NULL),
		      "product", json_string_or_null(usb ? p->info.usb_product : NULL),
		      "dongle_id", p->have_info && p->info.dongle_id,
		      "transport", json_string_or_null(p->transport),
		      "meshfleet", p->answered);
	if (!o)
		return NULL;
	if (p->answered) {
		snprintf(version, sizeof(version), "%u.%u.%u", p->hello.fw_major, p->hello.fw_minor,
			 p->hello.fw_patch);
		snprintf(protocol, sizeof(protocol), "%u.%u", p->hello.proto_major, p->hello.proto_minor);
		for (size_t i = 0; i < MSG_BUILD_ID_SIZE; i++)
			snprintf(build_id + 2 * i, 3, "%02x", p->hello.build_id[i]);
		if (json_object_set_new(o, "firmware", json_pack("{s:s, s:s, s:b}", "version", version,
								  "build_id", build_id, "simulated",
								  (p->hello.features & MSG_FEATURE_SIMULATED) != 0)) ||
		    json_object_set_new(o, "protocol", json_string(protocol)) ||
		    json_object_set_new(o, "window", json_integer(p->window)) ||
		    json_object_set_new(o, "max_frame", json_integer(p->hello.max_frame)) ||
		    json_object_set_new(o, "slot_size", json_integer(p->hello.slot_size)) ||
		    json_object_set_new(o, "diagnosis", json_null()))
			goto fail;
	} else {
		if (json_object_set_new(o, "firmware", json_null()) ||
		    json_object_set_new(o, "diagnosis", json_pack("{s:s, s:s}",
								  "code", link_diag_code_to_string(p->diag.code),
								  "message", p->diag.message)))
			goto fail;
	}
	return o;
fail:
	json_decref(o);
	return NULL;
}

static int print_json(const struct ctl *ctl)
{
	json_t *array = json_array();
	int r = 0;

	if (!array)
		return -ENOMEM;
	for (size_t i = 0; i < ctl->n_probes; i++) {
		if (json_array_append_new(array, probe_to_json(&ctl->probes[i])) < 0) {
			r = -ENOMEM;
			goto out;
		}
	}
	if (json_dumpf(array, stdout, JSON_INDENT(2)) < 0) {
		r = -EIO;
		goto out;
	}
	putchar('\n');
out:
	json_decref(array);
	return r;
}

/* --- dongle probe --- */

static int dongle_probe(struct ctl *ctl, char **paths, size_t n_paths)
{
	struct transport_port_info *ports = NULL;
	size_t n = n_paths, found = 0;
	int r, status = CTL_EXIT_NONE;

	if (n_paths > CTL_MAX_PORTS) {
		fprintf(stderr, "meshfleetctl: at most %d ports at a time\n", CTL_MAX_PORTS);
		return CTL_EXIT_USAGE;
	}
	if (n_paths == 0) {
		ports = calloc(CTL_MAX_PORTS, sizeof(*ports));
		if (!ports) {
			fprintf(stderr, "meshfleetctl: out of memory\n");
			return CTL_EXIT_NONE;
		}
		r = transport_probe_list(ports, CTL_MAX_PORTS, &n);
		if (r < 0) {
			fprintf(stderr, "meshfleetctl: cannot list the serial ports: %s\n", strerror(-r));
			goto out;
		}
		if (n == 0)
			fprintf(stderr, "meshfleetctl: no serial ports found; name a port (or a pseudo-terminal) to probe "
				"it: meshfleetctl dongle probe PATH\n");
	}
	ctl->probes = calloc(n ? n : 1, sizeof(*ctl->probes));
	if (!ctl->probes) {
		fprintf(stderr, "meshfleetctl: out of memory\n");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		struct probe *p = &ctl->probes[i];

		r = probe_init(ctl, p, n_paths ? paths[i] : ports[i].path);
		if (r < 0) {
			fprintf(stderr, "meshfleetctl: '%s': %s\n", n_paths ? paths[i] : ports[i].path, strerror(-r));
			status = CTL_EXIT_USAGE;
			goto out;
		}
		if (!n_paths) {
			p->info = ports[i];
			p->have_info = true;
		}
		probe_lookup(p);
	}
	ctl->n_probes = n;

	start_next(ctl);
	uv_run(&ctl->loop, UV_RUN_DEFAULT);

	for (size_t i = 0; i < ctl->n_probes; i++) {
		if (!ctl->probes[i].done)
			fprintf(stderr, "meshfleetctl: '%s': the probe did not finish: this is a bug\n",
				ctl->probes[i].path);
		if (ctl->probes[i].answered)
			found++;
	}
	if (ctl->json) {
		r = print_json(ctl);
		if (r < 0)
			fprintf(stderr, "meshfleetctl: cannot print the JSON: %s\n", strerror(-r));
	} else {
		for (size_t i = 0; i < ctl->n_probes; i++)
			print_line(&ctl->probes[i]);
	}
	status = found > 0 ? CTL_EXIT_FOUND : CTL_EXIT_NONE;
out:
	free(ports);
	return status;
}

/* The index of the first word of @argv that is neither an option nor an option's argument (the command), or @argc:
 * `campaign` has options of its own, which the global parser must not see. */
static int command_index(int argc, char **argv, const struct option *options, const char *short_options)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0)
			return i + 1;
		if (a[0] != '-' || a[1] == '\0')
			return i;
		if (a[1] == '-') {
			size_t len = strcspn(a + 2, "=");

			for (const struct option *o = options; o->name; o++)
				if (strlen(o->name) == len && strncmp(o->name, a + 2, len) == 0 &&
				    o->has_arg == required_argument && !a[2 + len])
					i++;
		} else {
			const char *p = strchr(short_options, a[1]);

			if (p && p[1] == ':' && !a[2])
				i++;
		}
	}
	return argc;
}

int main(int argc, char **argv)
{
	enum {
		OPT_JSON = 0x100, OPT_REPLACE, OPT_WAIT, OPT_TYPE, OPT_FORCE, OPT_KEY, OPT_REGION_START, OPT_ROLE,
		OPT_NAME, OPT_TOKEN, OPT_TOKEN_FILE, OPT_CACERT, OPT_CORE_TYPE, OPT_COMPOSITION_HASH, OPT_ELEMENTS,
		OPT_FORMAT, OPT_COMPANY_ID, OPT_FIRMWARE_ID, OPT_METADATA, OPT_COMPOSITION_FROM, OPT_VERSION_LONG,
	};
	static const struct option options[] = {
		{ "json", no_argument, NULL, OPT_JSON },
		{ "timeout", required_argument, NULL, 't' },
		{ "url", required_argument, NULL, 'u' },
		{ "replace", no_argument, NULL, OPT_REPLACE },
		{ "wait", no_argument, NULL, OPT_WAIT },
		{ "type", required_argument, NULL, OPT_TYPE },
		{ "force", no_argument, NULL, OPT_FORCE },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "region-start", required_argument, NULL, OPT_REGION_START },
		{ "core-type", required_argument, NULL, OPT_CORE_TYPE },
		{ "composition-hash", required_argument, NULL, OPT_COMPOSITION_HASH },
		{ "elements", required_argument, NULL, OPT_ELEMENTS },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "company-id", required_argument, NULL, OPT_COMPANY_ID },
		{ "firmware-id", required_argument, NULL, OPT_FIRMWARE_ID },
		{ "metadata", required_argument, NULL, OPT_METADATA },
		{ "composition-from", required_argument, NULL, OPT_COMPOSITION_FROM },
		{ "role", required_argument, NULL, OPT_ROLE },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "token", required_argument, NULL, OPT_TOKEN },
		{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
		{ "cacert", required_argument, NULL, OPT_CACERT },
		{ "state-dir", required_argument, NULL, 's' },
		{ "config", required_argument, NULL, 'c' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, OPT_VERSION_LONG },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl ctl = { .hello_timeout_ms = CTL_HELLO_TIMEOUT_MS };
	struct ctl_api api = { .url = getenv("MESHFLEET_URL") };
	struct ctl_keys_options keys = { 0 };
	struct ctl_package_options package = { 0 };
	struct ctl_http_auth auth = { 0 };
	struct ctl_token_options token = { .auth = &auth };
	struct ctl_firmware_options firmware = { 0 };
	/* --version is meshfleetctl's own, except after `firmware import`, where it is the image's: the word after it
	 * (remembered by address, which survives getopt's permutation) is then its value. */
	const char *version_value = NULL;
	bool version_asked = false;
	bool verbose = false;
	int c, r, status;
	char *end;
	long v;

	int command = command_index(argc, argv, options, "t:u:s:c:vVh");
	bool campaign = command < argc && strcmp(argv[command], "campaign") == 0;

	while ((c = getopt_long(campaign ? command : argc, argv, "t:u:s:c:vVh", options, NULL)) != -1) {
		switch (c) {
		case OPT_JSON:
			ctl.json = true;
			break;
		case 't':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || v < CTL_HELLO_TIMEOUT_MIN_MS || v > CTL_HELLO_TIMEOUT_MAX_MS) {
				fprintf(stderr, "meshfleetctl: --timeout '%s': expected milliseconds, %d..%d\n", optarg,
					CTL_HELLO_TIMEOUT_MIN_MS, CTL_HELLO_TIMEOUT_MAX_MS);
				return CTL_EXIT_USAGE;
			}
			ctl.hello_timeout_ms = (uint32_t)v;
			break;
		case OPT_CACERT:
			ctl_http_set_ca_file(optarg);
			break;
		case 'u':
			api.url = optarg;
			token.url_given = true;
			break;
		case OPT_REPLACE:
			api.replace = true;
			break;
		case OPT_WAIT:
			api.wait = true;
			break;
		case OPT_TYPE:
			keys.type = optarg;
			break;
		case OPT_FORCE:
			keys.force = true;
			break;
		case OPT_KEY:
			if (package.n_key_files == CTL_PACKAGE_KEYS_MAX) {
				fprintf(stderr, "meshfleetctl: at most %d --key options\n", CTL_PACKAGE_KEYS_MAX);
				return CTL_EXIT_USAGE;
			}
			package.key_files[package.n_key_files++] = optarg;
			break;
		case OPT_REGION_START:
			package.region_start = optarg;
			break;
		case OPT_CORE_TYPE:
			package.core_type = optarg;
			break;
		case OPT_COMPOSITION_HASH:
			package.composition_hash = optarg;
			break;
		case OPT_ELEMENTS:
			package.elements = optarg;
			break;
		case OPT_FORMAT:
			firmware.format = optarg;
			break;
		case OPT_COMPANY_ID:
			firmware.company_id = optarg;
			break;
		case OPT_FIRMWARE_ID:
			firmware.firmware_id = optarg;
			break;
		case OPT_METADATA:
			firmware.metadata = optarg;
			break;
		case OPT_COMPOSITION_FROM:
			firmware.composition_from = optarg;
			break;
		case OPT_ROLE:
			token.role = optarg;
			break;
		case OPT_NAME:
			token.name = optarg;
			break;
		case OPT_TOKEN:
			auth.token = optarg;
			break;
		case OPT_TOKEN_FILE:
			auth.token_file = optarg;
			break;
		case 's':
			auth.state_dir = optarg;
			break;
		case 'c':
			auth.config_path = optarg;
			break;
		case 'v':
			verbose = true;
			break;
		case OPT_VERSION_LONG:
			version_asked = true;
			version_value = optind < argc && argv[optind][0] != '-' ? argv[optind] : NULL;
			break;
		case 'V':
			printf("meshfleetctl %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return CTL_EXIT_USAGE;
		}
	}
	if (version_asked && !(argc - optind >= 2 && strcmp(argv[optind], "firmware") == 0 &&
			       strcmp(argv[optind + 1], "import") == 0)) {
		printf("meshfleetctl %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (version_asked) {
		/* The value is one of the words after `firmware import`; take it out of them. */
		int i;

		for (i = optind + 2; i < argc && argv[i] != version_value; i++)
			;
		if (version_value && i < argc) {
			memmove(argv + i, argv + i + 1, (size_t)(argc - i - 1) * sizeof(*argv));
			argv[--argc] = NULL;
			firmware.version = version_value;
		} else {
			firmware.version_without_value = true;
		}
	}
	if (!api.url || !*api.url)
		api.url = CTL_HTTP_DEFAULT_URL;
	api.json = ctl.json;
	keys.json = ctl.json;
	package.json = ctl.json;
	token.json = ctl.json;
	token.url = api.url;
	firmware.json = ctl.json;
	firmware.url = api.url;
	firmware.region_start = package.region_start;
	firmware.core_type = package.core_type;
	firmware.composition_hash = package.composition_hash;
	firmware.elements = package.elements;
	auth.verbose = verbose;
	/* Every REST command finds its token the same way, at its first request. */
	ctl_http_set_auth(&auth);
	if (campaign)
		return ctl_campaign_main(&api, argc - command, argv + command);
	if (optind < argc && strcmp(argv[optind], "keys") == 0)
		return ctl_keys_main(&keys, argc - optind - 1, argv + optind + 1);
	if (optind < argc && strcmp(argv[optind], "package") == 0)
		return ctl_package_main(&package, argc - optind - 1, argv + optind + 1);
	if (optind < argc && strcmp(argv[optind], "network") == 0)
		return ctl_network_main(&api, argc - optind - 1, argv + optind + 1);
	if (optind < argc && strcmp(argv[optind], "nodes") == 0)
		return ctl_nodes_main(&api, argc - optind - 1, argv + optind + 1);
	if (optind < argc && strcmp(argv[optind], "token") == 0)
		return ctl_token_main(&token, argc - optind - 1, argv + optind + 1);
	if (optind < argc && strcmp(argv[optind], "firmware") == 0)
		return ctl_firmware_main(&firmware, argc - optind - 1, argv + optind + 1);
	if (argc - optind < 2 || strcmp(argv[optind], "dongle") != 0 || strcmp(argv[optind + 1], "probe") != 0) {
		if (optind < argc)
			fprintf(stderr, "meshfleetctl: unknown command '%s%s%s'\n", argv[optind],
				optind + 1 < argc ? " " : "", optind + 1 < argc ? argv[optind + 1] : "");
		else
			fprintf(stderr, "meshfleetctl: no command given\n");
		usage(stderr);
		return CTL_EXIT_USAGE;
	}
	/* The probe's result is the output; the link's own lines (the diagnosis again, state changes) only on -v. */
	log_set_level(verbose ? LOG_DEBUG : LOG_ERR);

	r = uv_loop_init(&ctl.loop);
	if (r < 0) {
		fprintf(stderr, "meshfleetctl: cannot create the event loop: %s\n", uv_strerror(r));
		return CTL_EXIT_NONE;
	}
	status = dongle_probe(&ctl, argv + optind + 2, (size_t)(argc - optind - 2));
	/* Runs the close callbacks of anything a failed start left behind. */
	uv_run(&ctl.loop, UV_RUN_DEFAULT);
	r = uv_loop_close(&ctl.loop);
	if (r < 0) {
		fprintf(stderr, "meshfleetctl: event loop closed with handles still open (%s): this is a bug\n",
			uv_strerror(r));
		if (status == CTL_EXIT_FOUND)
			status = CTL_EXIT_NONE;
	}
	free(ctl.probes);
	return status;
}
