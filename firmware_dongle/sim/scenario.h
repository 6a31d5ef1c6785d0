/* scenario: the fleet a simulator run pretends to reach, read from the --scenario JSON file (docs/simulator.md,
 * "Scenario files" has the format and an example). Every field is checked; the first bad one is refused with its
 * JSON path and the reason ("$.nodes[2].loss_rate: must be a number from 0 to 1 (got 1.5)"). */
#ifndef MESHFLEET_SIM_SCENARIO_H
#define MESHFLEET_SIM_SCENARIO_H

#include <stddef.h>
#include <stdint.h>

#define SCENARIO_NODES_MAX 4096
#define SCENARIO_NAME_MAX 32
#define SCENARIO_FWID_MIN 2             /* a Firmware ID starts with the 2-byte company id */
#define SCENARIO_FWID_MAX 108           /* company id + 106 bytes of version information (Mesh DFU) */
#define SCENARIO_HOPS_MAX 127
#define SCENARIO_HOP_DELAY_MAX 60000
#define SCENARIO_HOP_DELAY_DEFAULT 30   /* ms per hop and direction */
#define SCENARIO_COMPANY_DEFAULT 0x0059 /* Nordic Semiconductor */

struct scenario_node {
	char name[SCENARIO_NAME_MAX + 1];       /* "" when not given */
	uint16_t address;                       /* primary element's unicast address */
	uint8_t elements;                       /* addresses address .. address + elements - 1 */
	uint8_t uuid[16];
	uint16_t company_id;
	uint16_t product_id;
	uint16_t version_id;
	uint8_t fwid[SCENARIO_FWID_MAX];
	uint8_t fwid_len;
	uint8_t hops;                           /* 1 = in direct range of the dongle */
	double loss_rate;                       /* probability that one exchange with the node is lost */
};

struct scenario {
	uint32_t hop_delay_ms;
	size_t node_count;
	struct scenario_node *nodes;            /* owned */
};

/* An empty fleet. */
void scenario_init(struct scenario *s);

/* Replace *s with the scenario in the file or string. Return 0, or -EINVAL (bad JSON or a bad field) / -errno
 * (the file) with the reason in @err; *s is then unchanged. */
int scenario_load_file(struct scenario *s, const char *path, char *err, size_t err_len);
int scenario_load_string(struct scenario *s, const char *json, char *err, size_t err_len);

/* The built-in demo fleet, used without --scenario; its JSON text (the same as example-scenario.json). */
int scenario_load_builtin(struct scenario *s, char *err, size_t err_len);
const char *scenario_builtin_json(void);

void scenario_done(struct scenario *s);

/* The node whose primary element has @address, or NULL. */
const struct scenario_node *scenario_find(const struct scenario *s, uint16_t address);

#endif
