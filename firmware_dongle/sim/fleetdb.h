/* fleetdb: the simulated fleet as a Bluetooth Mesh Configuration Database (daemon/cdb.h): a fleet built from a CDB
 * file (--cdb), a generated demo fleet (--generate), and the CDB of the fleet in use (--export-cdb), which meshfleetd
 * imports. docs/simulator.md ("Fleets from a CDB") lists what is derived, and how.
 *
 * Everything is deterministic: the same seed (and the same CDB file) gives the same fleet and a byte-identical
 * export; an export read back with --cdb gives the same fleet and the same export again.
 */
#ifndef MESHFLEET_SIM_FLEETDB_H
#define MESHFLEET_SIM_FLEETDB_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "cdb.h"
#include "scenario.h"

#define FLEETDB_FIRST_ADDRESS 0x0100            /* of a generated fleet; the others follow, element after element */
#define FLEETDB_TIMESTAMP_MS 1704067200000LL    /* 2024-01-01T00:00:00Z: an export does not depend on the clock */
#define FLEETDB_HOPS_MAX 4                      /* derived hops are spread over 1..4 */
#define FLEETDB_FWID_SIZE 6

/* Replaces *ret with the fleet of @c: every node but the excluded ones and the provisioners' own (same UUID as a
 * provisioner), with hops from fleetdb_hops(), @loss and FWIDs from fleetdb_fwid(). Returns 0, -EINVAL with the
 * reason in @err (more nodes, keys or models than the simulator holds), or -ENOMEM; *ret is then unchanged. */
int fleetdb_from_cdb(struct scenario *ret, const struct cdb *c, uint64_t seed, double loss, char *err,
		     size_t err_len);

/* Replaces *ret with a generated fleet of @count (1..SCENARIO_NODES_MAX) nodes: lights of three products on a few
 * firmware versions, sensors, and a few switches without DFU; one network key and one application key that every
 * node holds, bound to the application models but not to the DFU models, and no subscriptions. Returns 0, -EINVAL
 * or -ENOMEM. */
int fleetdb_generate(struct scenario *ret, unsigned count, uint64_t seed, double loss);

/* A scenario with learned keys (scenario.h) gets values for them, from @seed, so that its export can name them. */
void fleetdb_fix_keys(struct scenario *s, uint64_t seed);

/* The CDB of @s as its nodes are now, in *ret (returns: new reference). With @base (the CDB the fleet came from) the
 * document is @base with the nodes' keys, bindings, subscriptions and (if @base had none) compositions updated in
 * place; without, a new network: mesh and provisioner UUIDs from @seed, one provisioner "meshfleet-sim" with the
 * unicast range 0x0001-0x3FFF, groups 0xC000-0xC0FF and scenes 0x0001-0x00FF. Returns 0 or -ENOMEM. */
int fleetdb_export(const struct scenario *s, struct cdb *base, uint64_t seed, json_t **ret);

/* Writes @doc to @path (2-space indented, a final newline) through a temporary file, fsync and rename. Returns 0
 * or -errno with the reason in @err. */
int fleetdb_write(const char *path, const json_t *doc, char *err, size_t err_len);

/* The hops of the node at @address: 1..FLEETDB_HOPS_MAX, from @seed and @address alone. */
uint8_t fleetdb_hops(uint64_t seed, uint16_t address);

/* The Firmware ID of a node the CDB says nothing more of: company id (little-endian), product id and version id
 * (big-endian), FLEETDB_FWID_SIZE bytes. */
void fleetdb_fwid(uint16_t cid, uint16_t pid, uint16_t vid, uint8_t ret[FLEETDB_FWID_SIZE]);

#endif
