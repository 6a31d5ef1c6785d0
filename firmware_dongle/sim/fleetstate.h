/* fleetstate: the simulated nodes' flash, in the --fleet-state file: what Config messages change (the application
 * keys a node holds, its bindings and subscriptions; its network keys) and the keys learned from MESH_CONFIG, so
 * that a node keeps its configuration when the simulator restarts, as a real node keeps it across a power cycle.
 * docs/simulator.md ("Node state on disk") has the format.
 *
 * Loading is all or nothing: a malformed file, or one of another network (other network keys), is refused; a node
 * of the file that the fleet lacks, or has with another UUID or another composition, is skipped and reported.
 * Saving is debounced: the first change after a quiet period is written at once, later ones at most once per
 * interval (of the caller's clock), and whatever is left at fleetstate_flush().
 *
 * Glossary: *dirty* - the nodes changed since the file was last written.
 */
#ifndef MESHFLEET_SIM_FLEETSTATE_H
#define MESHFLEET_SIM_FLEETSTATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "scenario.h"

#define FLEETSTATE_FORMAT "meshfleet-sim fleet state"
#define FLEETSTATE_VERSION 1
#define FLEETSTATE_INTERVAL_MS 200      /* real time between two writes, at least */
#define FLEETSTATE_SKIPPED_SHOWN 8      /* skipped nodes named in the warning; the rest are counted */
#define FLEETSTATE_NEVER UINT64_MAX

/* What fleetstate_load() found. */
struct fleetstate_loaded {
	bool found;                     /* false: no file (a first run); nothing changed */
	size_t restored;                /* nodes whose state came from the file */
	size_t skipped;                 /* nodes of the file left out, named in @skipped_text */
	char skipped_text[512];         /* "0x0100 (another UUID), 0x0200 (not in the fleet), ..." */
};

struct fleetstate {
	const char *path;               /* borrowed */
	uint64_t interval;              /* clock units between two writes */
	bool dirty;
	uint64_t dirty_at;              /* when the first unsaved change happened */
	bool written;                   /* @written_at is set */
	uint64_t written_at;            /* when the file was last written (or a write last failed) */
	/* counters */
	uint64_t writes;                /* files written */
	uint64_t failures;              /* writes that failed; the state stays dirty */
};

/* Applies the file at @path to the nodes of @s (and to its learned keys, which then are known). Returns 0 (also
 * when there is no file: @ret->found is then false), -EINVAL with the reason in @err (malformed, or another
 * network's), -ENOMEM, or -errno (the file cannot be read); *s is then unchanged. */
int fleetstate_load(struct scenario *s, const char *path, struct fleetstate_loaded *ret, char *err, size_t err_len);

/* Writes the state of @s's nodes to @path: temporary file (mode 0600: it holds keys), fsync, rename, fsync of the
 * directory. Returns 0 or -errno with the reason in @err. Nothing to write while @s's keys are still to be learned:
 * it returns 0 without writing. */
int fleetstate_write(const struct scenario *s, const char *path, char *err, size_t err_len);

/* @interval: the least time between two writes, in the unit of the @now the other calls get. */
void fleetstate_init(struct fleetstate *fs, const char *path, uint64_t interval);

/* The nodes changed at @now. */
void fleetstate_changed(struct fleetstate *fs, uint64_t now);

/* When the next write is due, or FLEETSTATE_NEVER when nothing is dirty. */
uint64_t fleetstate_due(const struct fleetstate *fs);

/* Writes @s if a write is due at @now. Returns 1 (written), 0 (nothing due) or -errno with the reason in @err (the
 * state stays dirty, and the next try waits an interval). */
int fleetstate_save(struct fleetstate *fs, const struct scenario *s, uint64_t now, char *err, size_t err_len);

/* Writes @s now if it is dirty, whatever the interval: at the end of a run. Returns as fleetstate_save(). */
int fleetstate_flush(struct fleetstate *fs, const struct scenario *s, uint64_t now, char *err, size_t err_len);

#endif
