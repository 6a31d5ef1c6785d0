/* meshfleet-sim: the companion firmware's core on Linux behind a pseudo-terminal, with a simulated fleet and fault
 * switches (docs/simulator.md). This file reads the command line; sim.c runs the simulator. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flash.h"
#include "scenario.h"
#include "sim.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0.0"
#endif

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: meshfleet-sim [OPTION]...\n"
		"The meshfleet companion firmware on a pseudo-terminal, with simulated nodes.\n"
		"Prints \"pty: PATH\" on stdout when the port is ready (again after each replug).\n"
		"\n"
		"  -s, --scenario FILE      nodes to simulate (JSON, docs/simulator.md); default: a built-in\n"
		"                           fleet of 5 nodes (example-scenario.json)\n"
		"      --cdb FILE           the nodes of a Mesh Configuration Database (CDB) JSON file\n"
		"      --generate N         a generated fleet of N nodes (1 to %d), from --seed\n"
		"      --loss RATE          loss rate of each node of a --cdb or --generate fleet (default 0)\n"
		"      --export-cdb FILE    write the CDB of the fleet to FILE, then exit (with --run or\n"
		"                           --link: then run)\n"
		"      --run                run after --export-cdb\n"
		"      --bench FILE         run the distribution of scenario FILE's \"bench\" object in virtual\n"
		"                           time, as fast as the CPU allows, print the report and exit (no pty)\n"
		"      --bench-out FILE     with --bench: the report as JSON in FILE too\n"
		"  -l, --link PATH          keep a symlink PATH to the current pty\n"
		"      --speed N            virtual time runs N times as fast as real time (default 1)\n"
		"      --seed N             seed of every random draw (default 1)\n"
		"      --slot-size BYTES    image slot size, a multiple of 4096; K and M suffixes (default 1M)\n"
		"      --slot-file FILE     keep the slot in FILE and its state in FILE.state\n"
		"      --fleet-state FILE   keep the nodes' configuration (keys, bindings, subscriptions) in\n"
		"                           FILE: loaded at start if it exists, saved after changes\n"
		"      --corrupt RATE       corrupt each byte on the link with this probability (both ways)\n"
		"      --drop RATE          drop each byte with this probability\n"
		"      --dup RATE           send each byte twice with this probability\n"
		"      --stall-every MS     every MS of virtual time, the link stalls ...\n"
		"      --stall-for MS       ... for MS (both needed)\n"
		"      --unplug-ms MS       SIGUSR1 unplugs the dongle for MS (default %d)\n"
		"      --unplug-reboots     an unplug also cuts the power (HELLO: POWER_ON)\n"
		"      --reboot-reason NAME SIGUSR2 reboots with this reset reason (default pin):\n"
		"                           pin, watchdog, software, fault, brownout, power-on, wakeup, debugger,\n"
		"                           unknown\n"
		"      --die-with-parent    exit when the parent process ends\n"
		"  -v, --verbose            debug lines on stderr\n"
		"  -q, --quiet              only warnings and errors on stderr\n"
		"      --syslog-prefix      start each stderr line with its syslog priority (\"<6>\"), for journald\n"
		"  -V, --version            print the version and exit\n"
		"  -h, --help               print this help and exit\n"
		"\n"
		"Signals: SIGUSR1 unplug, SIGUSR2 reboot, SIGTERM/SIGINT/SIGHUP stop (exit 0).\n"
		"Environment: MESHFLEET_SIM_SPEED, the default of --speed.\n"
		"Exit status: 0 stopped by a signal (or the CDB written), 1 could not run, 2 bad usage, scenario,\n"
		"CDB, slot or fleet state file.\n",
		SCENARIO_NODES_MAX, SIM_UNPLUG_MS_DEFAULT);
}

static int bad_value(const char *opt, const char *value, const char *expected)
{
	fprintf(stderr, "meshfleet-sim: bad value '%s' for --%s: expected %s\n", value, opt, expected);
	return -EINVAL;
}

static int parse_rate(const char *opt, const char *s, double *ret)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !(d >= 0 && d <= 1))
		return bad_value(opt, s, "a probability from 0 to 1 (e.g. 1e-3)");
	*ret = d;
	return 0;
}

static int parse_u64(const char *opt, const char *s, uint64_t max, uint64_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v > max) {
		char expected[64];

		snprintf(expected, sizeof(expected), "an integer from 0 to %llu", (unsigned long long)max);
		return bad_value(opt, s, expected);
	}
	*ret = v;
	return 0;
}

static int parse_ms(const char *opt, const char *s, uint32_t *ret)
{
	uint64_t v;
	int err = parse_u64(opt, s, 24u * 3600 * 1000, &v);

	if (err == 0)
		*ret = (uint32_t)v;
	return err;
}

static int parse_size(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s >= '0' && *s <= '9' && errno == 0) {
		if (strcmp(end, "K") == 0 || strcmp(end, "k") == 0)
			v *= 1024, end++;
		else if (strcmp(end, "M") == 0)
			v *= 1024 * 1024, end++;
		if (*end == '\0' && v >= FLASH_PAGE_SIZE && v <= SIM_SLOT_SIZE_MAX && v % FLASH_PAGE_SIZE == 0) {
			*ret = (uint32_t)v;
			return 0;
		}
	}
	return bad_value("slot-size", s, "a multiple of 4096 from 4096 to 64M (K and M suffixes)");
}

static int parse_speed(const char *s, double *ret)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || errno != 0 || !(d > 0 && d <= 1e6))
		return bad_value("speed", s, "a number above 0, at most 1000000");
	*ret = d;
	return 0;
}

static int parse_reason(const char *s, enum msg_reset_reason *ret)
{
	static const struct {
		const char *name;
		enum msg_reset_reason reason;
	} names[] = {
		{ "unknown", MSG_RESET_UNKNOWN }, { "power-on", MSG_RESET_POWER_ON }, { "pin", MSG_RESET_PIN },
		{ "watchdog", MSG_RESET_WATCHDOG }, { "software", MSG_RESET_SOFTWARE }, { "fault", MSG_RESET_FAULT },
		{ "brownout", MSG_RESET_BROWNOUT }, { "wakeup", MSG_RESET_WAKEUP }, { "debugger", MSG_RESET_DEBUGGER },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(s, names[i].name) == 0) {
			*ret = names[i].reason;
			return 0;
		}
	}
	return bad_value("reboot-reason", s,
			 "pin, watchdog, software, fault, brownout, power-on, wakeup, debugger or unknown");
}

/* "X.Y.Z" of the package into HELLO's firmware version. */
static void parse_version(struct sim_options *o)
{
	unsigned long v[3] = { 0, 0, 0 };
	const char *p = PACKAGE_VERSION;

	for (int i = 0; i < 3 && *p; i++) {
		char *end;

		v[i] = strtoul(p, &end, 10);
		p = *end == '.' ? end + 1 : end;
	}
	o->fw_major = (uint8_t)(v[0] > 255 ? 255 : v[0]);
	o->fw_minor = (uint8_t)(v[1] > 255 ? 255 : v[1]);
	o->fw_patch = (uint16_t)(v[2] > 65535 ? 65535 : v[2]);
}

enum {
	OPT_SPEED = 256, OPT_SEED, OPT_SLOT_SIZE, OPT_SLOT_FILE, OPT_CORRUPT, OPT_DROP, OPT_DUP, OPT_STALL_EVERY,
	OPT_STALL_FOR, OPT_UNPLUG_MS, OPT_UNPLUG_REBOOTS, OPT_REBOOT_REASON, OPT_DIE_WITH_PARENT, OPT_SYSLOG_PREFIX,
	OPT_CDB, OPT_GENERATE, OPT_LOSS, OPT_EXPORT_CDB, OPT_RUN, OPT_FLEET_STATE, OPT_BENCH, OPT_BENCH_OUT,
};

static const struct option long_options[] = {
	{ "scenario", required_argument, NULL, 's' },
	{ "cdb", required_argument, NULL, OPT_CDB },
	{ "generate", required_argument, NULL, OPT_GENERATE },
	{ "loss", required_argument, NULL, OPT_LOSS },
	{ "export-cdb", required_argument, NULL, OPT_EXPORT_CDB },
	{ "run", no_argument, NULL, OPT_RUN },
	{ "bench", required_argument, NULL, OPT_BENCH },
	{ "bench-out", required_argument, NULL, OPT_BENCH_OUT },
	{ "link", required_argument, NULL, 'l' },
	{ "speed", required_argument, NULL, OPT_SPEED },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "slot-size", required_argument, NULL, OPT_SLOT_SIZE },
	{ "slot-file", required_argument, NULL, OPT_SLOT_FILE },
	{ "fleet-state", required_argument, NULL, OPT_FLEET_STATE },
	{ "corrupt", required_argument, NULL, OPT_CORRUPT },
	{ "drop", required_argument, NULL, OPT_DROP },
	{ "dup", required_argument, NULL, OPT_DUP },
	{ "stall-every", required_argument, NULL, OPT_STALL_EVERY },
	{ "stall-for", required_argument, NULL, OPT_STALL_FOR },
	{ "unplug-ms", required_argument, NULL, OPT_UNPLUG_MS },
	{ "unplug-reboots", no_argument, NULL, OPT_UNPLUG_REBOOTS },
	{ "reboot-reason", required_argument, NULL, OPT_REBOOT_REASON },
	{ "die-with-parent", no_argument, NULL, OPT_DIE_WITH_PARENT },
	{ "syslog-prefix", no_argument, NULL, OPT_SYSLOG_PREFIX },
	{ "verbose", no_argument, NULL, 'v' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "version", no_argument, NULL, 'V' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Returns 0, 1 to exit 0 at once (--help, --version), or -EINVAL (a message was printed). */
static int parse_options(int argc, char **argv, struct sim_options *o)
{
	bool loss_given = false, level_given = false;
	const char *bench = NULL;
	uint64_t count;
	int c, err = 0;

	while ((c = getopt_long(argc, argv, "s:l:vqVh", long_options, NULL)) != -1 && err == 0) {
		switch (c) {
		case 's':
			o->scenario = optarg;
			break;
		case 'l':
			o->link = optarg;
			break;
		case OPT_CDB:
			o->cdb = optarg;
			break;
		case OPT_GENERATE:
			err = parse_u64("generate", optarg, SCENARIO_NODES_MAX, &count);
			if (err == 0 && count == 0)
				err = bad_value("generate", optarg, "a number of nodes from 1");
			o->generate = (unsigned)count;
			break;
		case OPT_LOSS:
			err = parse_rate("loss", optarg, &o->loss);
			loss_given = true;
			break;
		case OPT_EXPORT_CDB:
			o->export_cdb = optarg;
			break;
		case OPT_RUN:
			o->run = true;
			break;
		case OPT_BENCH:
			bench = optarg;
			break;
		case OPT_BENCH_OUT:
			o->bench_out = optarg;
			break;
		case OPT_SPEED:
			err = parse_speed(optarg, &o->speed);
			break;
		case OPT_SEED:
			err = parse_u64("seed", optarg, UINT64_MAX, &o->seed);
			break;
		case OPT_SLOT_SIZE:
			err = parse_size(optarg, &o->slot_size);
			break;
		case OPT_SLOT_FILE:
			o->slot_file = optarg;
			break;
		case OPT_FLEET_STATE:
			o->fleet_state = optarg;
			break;
		case OPT_CORRUPT:
			err = parse_rate("corrupt", optarg, &o->corrupt);
			break;
		case OPT_DROP:
			err = parse_rate("drop", optarg, &o->drop);
			break;
		case OPT_DUP:
			err = parse_rate("dup", optarg, &o->dup);
			break;
		case OPT_STALL_EVERY:
			err = parse_ms("stall-every", optarg, &o->stall_every_ms);
			break;
		case OPT_STALL_FOR:
			err = parse_ms("stall-for", optarg, &o->stall_for_ms);
			break;
		case OPT_UNPLUG_MS:
			err = parse_ms("unplug-ms", optarg, &o->unplug_ms);
			break;
		case OPT_UNPLUG_REBOOTS:
			o->unplug_reboots = true;
			break;
		case OPT_REBOOT_REASON:
			err = parse_reason(optarg, &o->reboot_reason);
			break;
		case OPT_DIE_WITH_PARENT:
			o->die_with_parent = true;
			break;
		case OPT_SYSLOG_PREFIX:
			o->syslog_prefix = true;
			break;
		case 'v':
			o->log_level = MSG_LOG_DEBUG;
			level_given = true;
			break;
		case 'q':
			o->log_level = MSG_LOG_WARNING;
			level_given = true;
			break;
		case 'V':
			printf("meshfleet-sim %s\n", PACKAGE_VERSION);
			return 1;
		case 'h':
			usage(stdout);
			return 1;
		default:
			err = -EINVAL;  /* getopt said what */
			break;
		}
	}
	if (err == 0 && optind < argc) {
		fprintf(stderr, "meshfleet-sim: unexpected argument '%s'\n", argv[optind]);
		err = -EINVAL;
	}
	if (err == 0 && (o->stall_every_ms == 0) != (o->stall_for_ms == 0)) {
		fprintf(stderr, "meshfleet-sim: --stall-every and --stall-for go together\n");
		err = -EINVAL;
	}
	if (err == 0 && (o->scenario != NULL) + (o->cdb != NULL) + (o->generate > 0) > 1) {
		fprintf(stderr, "meshfleet-sim: one fleet at a time: --scenario, --cdb or --generate\n");
		err = -EINVAL;
	}
	if (err == 0 && loss_given && !o->cdb && o->generate == 0) {
		fprintf(stderr, "meshfleet-sim: --loss is for --cdb and --generate fleets (a scenario gives each node "
			"its loss_rate)\n");
		err = -EINVAL;
	}
	if (err == 0 && o->bench_out && !bench) {
		fprintf(stderr, "meshfleet-sim: --bench-out goes with --bench\n");
		err = -EINVAL;
	}
	if (err == 0 && bench && (o->scenario || o->cdb || o->generate > 0 || o->export_cdb || o->link ||
				  o->fleet_state)) {
		fprintf(stderr, "meshfleet-sim: --bench FILE is the fleet and runs without a pty: not with --scenario, "
			"--cdb, --generate, --export-cdb, --link or --fleet-state\n");
		err = -EINVAL;
	}
	if (err == 0 && bench) {
		o->scenario = bench;
		o->bench = true;
		if (!level_given)
			o->log_level = MSG_LOG_WARNING;        /* the report is the output; -v shows the run */
	}
	if (err == 0 && o->stall_every_ms > 0 && o->stall_for_ms >= o->stall_every_ms) {
		fprintf(stderr, "meshfleet-sim: --stall-for must be shorter than --stall-every\n");
		err = -EINVAL;
	}
	return err;
}

int main(int argc, char **argv)
{
	struct sim_options o = {
		.speed = 1,
		.seed = 1,
		.slot_size = SIM_SLOT_SIZE_DEFAULT,
		.unplug_ms = SIM_UNPLUG_MS_DEFAULT,
		.reboot_reason = MSG_RESET_PIN,
		.log_level = MSG_LOG_INFO,
	};
	const char *speed = getenv("MESHFLEET_SIM_SPEED");
	int rc;

	/* the default of --speed for a parent that starts the simulator itself (meshfleetd's dongle = sim, in tests) */
	if (speed && parse_speed(speed, &o.speed) < 0) {
		fprintf(stderr, "meshfleet-sim: (from MESHFLEET_SIM_SPEED)\n");
		return 2;
	}
	rc = parse_options(argc, argv, &o);

	if (rc > 0)
		return 0;
	if (rc < 0) {
		fprintf(stderr, "Try 'meshfleet-sim --help'.\n");
		return 2;
	}
	parse_version(&o);
	return sim_run(&o);
}
