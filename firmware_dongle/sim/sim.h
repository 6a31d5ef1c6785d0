/* sim: meshfleet-sim's host platform for the firmware core: the pseudo-terminal, the discrete-event clock, the
 * flash, the simulated fleet and the fault switches, run by one poll() loop (docs/simulator.md is the user's view;
 * firmware_dongle/README.md the design).
 *
 * Everything runs on one thread, in virtual time: the core's clock, the nodes' delays, the stalls and unplugs.
 * Signals arrive through a signalfd, so they are handled in the loop like any input.
 */
#ifndef MESHFLEET_SIM_SIM_H
#define MESHFLEET_SIM_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "messages.h"

#define SIM_SLOT_SIZE_DEFAULT (1024 * 1024)
#define SIM_SLOT_SIZE_MAX (64 * 1024 * 1024)
#define SIM_UNPLUG_MS_DEFAULT 1000

struct sim_options {
	const char *scenario;           /* NULL: the built-in fleet (or @cdb, or @generate) */
	bool bench;                     /* --bench: run the scenario's "bench" distribution in virtual time, report */
	const char *bench_out;          /* --bench-out: the report as JSON too */
	const char *cdb;                /* --cdb: the fleet of a Mesh Configuration Database file */
	unsigned generate;              /* --generate: a generated fleet of this many nodes; 0: none */
	double loss;                    /* loss rate of every node of a --cdb or --generate fleet */
	const char *export_cdb;         /* --export-cdb: write the fleet's CDB here */
	bool run;                       /* run after --export-cdb (else it exits once written) */
	const char *link;               /* symlink to the pty, or NULL */
	double speed;                   /* virtual time per real time, > 0 */
	uint64_t seed;
	uint32_t slot_size;             /* a multiple of the flash page size */
	const char *slot_file;          /* NULL: the slot is in memory */
	const char *fleet_state;        /* --fleet-state: the nodes' state, loaded and saved; NULL: in memory */
	double corrupt;                 /* per byte, both directions */
	double drop;
	double dup;
	uint32_t stall_every_ms;        /* 0: no stalls */
	uint32_t stall_for_ms;
	uint32_t unplug_ms;             /* SIGUSR1 unplugs for this long */
	bool unplug_reboots;            /* an unplug also cuts the power: POWER_ON at the replug */
	enum msg_reset_reason reboot_reason;    /* SIGUSR2 reboots with this reason */
	bool die_with_parent;
	enum msg_log_level log_level;   /* lines on stderr up to this level */
	bool syslog_prefix;             /* "<6>" before each line, for journald */
	uint8_t fw_major;               /* the version HELLO reports */
	uint8_t fw_minor;
	uint16_t fw_patch;
};

/* Runs the simulator until SIGTERM, SIGINT or SIGHUP. Returns the exit status: 0, 1 (it could not run: no pty,
 * out of memory, the CDB export or the fleet state could not be written) or 2 (a bad scenario, CDB, slot or fleet
 * state file, reported on stderr).
 * With @export_cdb and neither @run nor @link, it returns 0 once the file is written. */
int sim_run(const struct sim_options *opt);

#endif
