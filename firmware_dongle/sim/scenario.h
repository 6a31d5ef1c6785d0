/* scenario: the fleet a simulator run pretends to reach, read from the --scenario JSON file (docs/simulator.md,
 * "Scenario files" has the format and an example). Every field is checked; the first bad one is refused with its
 * JSON path and the reason ("$.nodes[2].loss_rate: must be a number from 0 to 1 (got 1.5)").
 *
 * A node is what a provisioned node holds: its device key, Composition Data page 0 (ids, CRPL, features, elements
 * and their models), the network and application keys it knows, and per model the application keys bound to it and
 * the group addresses it subscribes to. Fields the file leaves out get documented defaults (scenario_load_*()).
 *
 * Glossary:
 *   learned keys - a scenario without "net_keys" and "app_keys" has one network key and one application key, both
 *                  at index 0, whose values are unknown until the dongle's first MESH_CONFIG (fleet.c fills them in)
 *   model id     - SIG: 0x0000..0xFFFF; vendor (@vendor set): company id << 16 | model id, as the CDB writes it
 */
#ifndef MESHFLEET_SIM_SCENARIO_H
#define MESHFLEET_SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesh_access.h"
#include "radio.h"

#define SCENARIO_NODES_MAX 4096
#define SCENARIO_NAME_MAX 32
#define SCENARIO_FWID_MIN 2             /* a Firmware ID starts with the 2-byte company id */
#define SCENARIO_FWID_MAX 108           /* company id + 106 bytes of version information (Mesh DFU) */
#define SCENARIO_HOPS_MAX 127
#define SCENARIO_HOP_DELAY_MAX 60000
#define SCENARIO_HOP_DELAY_DEFAULT 30   /* ms per hop and direction */
#define SCENARIO_COMPANY_DEFAULT 0x0059 /* Nordic Semiconductor */
#define SCENARIO_KEY_SIZE 16
#define SCENARIO_KEY_INDEX_MAX 0x0FFF
#define SCENARIO_NET_KEYS_MAX 8         /* in the network */
#define SCENARIO_APP_KEYS_MAX 16        /* in the network */
#define SCENARIO_NODE_NET_KEYS_MAX 4    /* held by one node */
#define SCENARIO_NODE_APP_KEYS_MAX 8    /* held by one node: one more AppKey Add is Insufficient Resources */
#define SCENARIO_ELEMENTS_MAX 255
#define SCENARIO_MODELS_MAX 32          /* per node, all elements together */
#define SCENARIO_BINDINGS_MAX 4         /* application keys bound to one model */
#define SCENARIO_SUBSCRIPTIONS_MAX 8    /* group addresses of one model's subscription list */
#define SCENARIO_CRPL_DEFAULT 0x0020
#define SCENARIO_FEATURES_DEFAULT 0x0003        /* relay and proxy */
#define SCENARIO_FEATURES_MAX 0x000F    /* relay, proxy, friend, low power; the other bits are RFU */

/* SIG model ids of the default and generated compositions that protocol/mesh_access.h (MA_MODEL_*) has no use for */
#define SCENARIO_MODEL_ONOFF_SERVER 0x1000
#define SCENARIO_MODEL_SENSOR_SERVER 0x1100
#define SCENARIO_MODEL_SENSOR_SETUP_SERVER 0x1101

struct scenario_key {
	uint16_t index;
	uint16_t net_index;                     /* application keys: the network key it is bound to */
	uint8_t key[SCENARIO_KEY_SIZE];
};

struct scenario_model {
	uint32_t id;                            /* see the glossary */
	bool vendor;
	uint8_t element;                        /* index of its element, 0 = primary */
	uint8_t n_bindings;
	uint8_t n_subscriptions;
	uint16_t bindings[SCENARIO_BINDINGS_MAX];               /* application key indexes */
	uint16_t subscriptions[SCENARIO_SUBSCRIPTIONS_MAX];     /* group addresses, in the order added */
};

/* --- a node as an update Target (target.h): its Firmware Update and BLOB Transfer Servers and its faults --- */
#define SCENARIO_RX_SEG_MAX_DEFAULT 10          /* NCS DFU target sample: RX SDU 120, MTU 116, chunks <= 113 bytes */
#define SCENARIO_RX_SEG_MAX_MIN 2               /* below, the MTU is under the 20 bytes Zephyr's client accepts */
#define SCENARIO_RX_SEG_MAX_MAX 32
#define SCENARIO_BLOCK_LOG_DEFAULT 12           /* CONFIG_BT_MESH_BLOB_BLOCK_SIZE_MIN = _MAX = 4096 */
#define SCENARIO_BLOCK_LOG_MAX 20               /* their Kconfig range: 64 B .. 1 MiB */
#define SCENARIO_CHUNK_COUNT_DEFAULT 256        /* CONFIG_BT_MESH_BLOB_CHUNK_COUNT_MAX */
#define SCENARIO_CHUNK_COUNT_MAX 2992           /* its Kconfig range: one Block Status bitfield */
#define SCENARIO_BLOB_SIZE_DEFAULT 524288       /* CONFIG_BT_MESH_BLOB_SIZE_MAX */
#define SCENARIO_PROCESSING_DEFAULT 10          /* ms from hearing a message to answering it (before the random
						 * delay of the access layer) */
#define SCENARIO_VERIFY_DEFAULT 1000            /* ms in Verifying Update */
#define SCENARIO_REBOOT_DEFAULT 5000            /* ms from a reboot to answering again (MCUboot swap and boot) */
#define SCENARIO_POLL_INTERVAL_DEFAULT 1000     /* a low-power node's Friend Poll period, ms */
#define SCENARIO_POLL_INTERVAL_MAX 30000        /* an LPN polls at least every 30 s during a transfer */
#define SCENARIO_FRIEND_QUEUE_DEFAULT 16        /* CONFIG_BT_MESH_FRIEND_QUEUE_SIZE: PDUs the Friend holds */
#define SCENARIO_MS_MAX 3600000                 /* times of a target: up to an hour */
#define SCENARIO_METADATA_PREFIX_MAX 16
#define SCENARIO_PERCENT_OFF 0xFF               /* silent_at / reboots_at not set */
#define SCENARIO_FWID_NCS_SIZE 10               /* company id + MCUboot version: an NCS build's FWID (newer_only) */

struct scenario_target {
	uint8_t rx_seg_max;                     /* BT_MESH_RX_SEG_MAX: MTU 12 x n - 4, chunks up to 12 x n - 7 */
	uint8_t block_size_log_min;
	uint8_t block_size_log_max;
	uint8_t modes;                          /* MB_MODES_PUSH | MB_MODES_PULL */
	uint16_t chunk_count_max;               /* per block */
	uint32_t blob_size_max;
	uint32_t processing_ms;
	uint32_t verify_ms;
	uint32_t reboot_ms;
	bool low_power;                         /* pull mode only; hears messages at its polls */
	uint8_t friend_queue;                   /* PDUs its Friend queues between two polls */
	uint32_t poll_interval_ms;
	uint8_t effect;                         /* Additional Information answered when the metadata is accepted */
	bool newer_only;                        /* Zephyr-format metadata must carry a newer version than the FWID's */
	uint8_t metadata_prefix_len;
	uint8_t metadata_prefix[SCENARIO_METADATA_PREFIX_MAX];  /* accepted metadata starts with these bytes */
	uint8_t new_fwid_len;                   /* 0: the FWID comes from the image (target.h) */
	uint8_t new_fwid[SCENARIO_FWID_MAX];
};

struct scenario_faults {
	bool rejects_metadata;                  /* Metadata Check and Update Start: Metadata Check Failed */
	bool fails_verification;                /* Verifying -> Verification Failed */
	bool keeps_old_firmware;                /* apply "succeeds", the old FWID after the reboot */
	uint8_t silent_at;                      /* percent of the image, or SCENARIO_PERCENT_OFF */
	uint8_t reboots_at;                     /* percent of the image, or SCENARIO_PERCENT_OFF */
	uint32_t joins_late_ms;                 /* deaf until this virtual time */
};

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
	uint8_t device_key[SCENARIO_KEY_SIZE];
	uint16_t crpl;
	uint16_t features;                      /* Composition Data page 0 bits: relay, proxy, friend, low power */
	uint16_t locations[SCENARIO_ELEMENTS_MAX];      /* per element, [0, elements) */
	uint8_t n_models;
	struct scenario_model models[SCENARIO_MODELS_MAX];      /* by element, in Composition Data order */
	uint8_t n_net_keys;
	uint8_t n_app_keys;
	struct scenario_key net_keys[SCENARIO_NODE_NET_KEYS_MAX];
	struct scenario_key app_keys[SCENARIO_NODE_APP_KEYS_MAX];       /* index and value, as a node stores them */
	struct scenario_target target;          /* "target" */
	struct scenario_faults faults;          /* "faults" */
};

/* --- "bench": the distribution meshfleet-sim --bench runs (bench.h) --- */
#define SCENARIO_BENCH_IMAGE_DEFAULT 102400     /* 100 kB, the smaller image */
#define SCENARIO_BENCH_IMAGE_MAX (16u * 1024 * 1024)
#define SCENARIO_BENCH_GROUP_DEFAULT 0xC000
#define SCENARIO_BENCH_TIMEOUT_BASE_DEFAULT 2   /* targets give up after 10 x (2 + 1) = 30 s of silence */
#define SCENARIO_BENCH_TTL_DEFAULT 0xFF         /* the dongle's default TTL (MSG_TTL_DEFAULT) */

enum scenario_bench_mode {
	SCENARIO_BENCH_PUSH = 1,                /* = MSG_DIST_MODE_PUSH */
	SCENARIO_BENCH_PULL = 2,
};

enum scenario_bench_policy {
	SCENARIO_BENCH_VERIFY_ONLY = 0,         /* = MSG_DIST_POLICY_VERIFY_ONLY */
	SCENARIO_BENCH_APPLY = 1,
};

struct scenario_bench {
	uint32_t image_size;                    /* bytes */
	uint8_t block_size_log;                 /* 0: from the targets' capabilities */
	uint16_t chunk_size;                    /* 0: from the targets' capabilities */
	uint8_t mode;                           /* enum scenario_bench_mode */
	uint8_t policy;                         /* enum scenario_bench_policy */
	uint16_t group;                         /* 0: unicast to each target */
	uint8_t ttl;                            /* 0, 2..127, or SCENARIO_BENCH_TTL_DEFAULT */
	uint16_t timeout_base;
	bool sequential;                        /* one distribution per target, one after the other (the legacy way) */
	size_t n_targets;                       /* 0: every DFU-capable node */
	uint16_t targets[SCENARIO_NODES_MAX];   /* primary addresses */
};

struct scenario {
	uint32_t hop_delay_ms;
	struct radio_params radio;              /* "radio": every knob of radio_param_table; Zephyr's defaults */
	struct scenario_bench bench;            /* "bench" (its defaults without one) */
	bool learn_keys;                        /* see the glossary; the key values below are zero until learned */
	size_t n_net_keys;
	size_t n_app_keys;
	struct scenario_key net_keys[SCENARIO_NET_KEYS_MAX];
	struct scenario_key app_keys[SCENARIO_APP_KEYS_MAX];
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

/* The device key of a node the file gives none: the first 16 bytes of SHA-256("meshfleet-sim device key" || UUID),
 * so the same UUID always has the same key, whatever the seed. */
void scenario_default_device_key(const uint8_t uuid[16], uint8_t ret[SCENARIO_KEY_SIZE]);

/* Gives @n the default composition for its @elements: on the primary element Config Server, Health Server, then
 * (if @dfu) BLOB Transfer Server and Firmware Update Server, then Generic OnOff Server; one Generic OnOff Server on
 * each other element (while SCENARIO_MODELS_MAX allows). No bindings, no subscriptions; locations 0x0000. */
void scenario_default_composition(struct scenario_node *n, bool dfu);

/* Binds every model of @n but the Configuration Server and Client to every application key @n holds (as far as
 * SCENARIO_BINDINGS_MAX allows): the state of a node somebody configured completely. */
void scenario_bind_all(struct scenario_node *n);

/* The model @id (vendor or SIG) on element @element of @n, or NULL. */
struct scenario_model *scenario_node_model(struct scenario_node *n, uint8_t element, uint32_t id, bool vendor);

/* The defaults of "target" and "faults" (an NCS target sample without faults): for nodes from a CDB or a generator
 * too. */
void scenario_target_defaults(struct scenario_node *n);

/* True if @n has the Firmware Update Server and the BLOB Transfer Server on its primary element. */
bool scenario_node_dfu_capable(const struct scenario_node *n);

/* Bytes of the node's Composition Data page 0 (without opcode and page number). */
size_t scenario_composition_size(const struct scenario_node *n);

#endif
