/* estimate: GET /api/v1/campaigns/{id}/estimate. The expected duration of a campaign from the radio model
 * (firmware_dongle/sim/radio.c, linked into the daemon: one copy of the model for the simulator and the daemon):
 * for each wave, radio_bound() with the wave's size, its farthest target's hop count, the image size, the block and
 * chunk sizes the dongle's Distributor would choose, and the addressing its rule picks; the campaign's estimate is
 * the sum over its waves. docs/campaigns.md ("Estimate") says what is assumed; docs/radio-model.md has the bound.
 *
 * Glossary:
 *   bound       - radio_bound(): data phase (every chunk once, no loss) + control rounds x round cost
 *   caps        - a target's BLOB capabilities (Information Status); the intersection over a wave's targets
 *   addressing  - group (chunks and rounds to the wave's group address) or unicast (each target on its own); the
 *                 Distributor's rule: unicast without a group or below DIST_MULTICAST_MIN_TARGETS targets
 *                 (docs/distribution.md, "Addressing")
 */
#ifndef MESHFLEET_ESTIMATE_H
#define MESHFLEET_ESTIMATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "campaigns.h"
#include "db.h"
#include "radio.h"

/* The Distributor's constants this module mirrors (firmware_dongle/core/dist.h; the daemon does not link the core) */
#define ESTIMATE_MULTICAST_MIN_TARGETS 2        /* DIST_MULTICAST_MIN_TARGETS */
#define ESTIMATE_CHUNK_HEADER 3                 /* Chunk Transfer: opcode (1) + chunk number (2) */
#define ESTIMATE_TTL_UNSET 0xFF                 /* Zephyr's client counts TTL 0xFF as ESTIMATE_TTL_AS_DEFAULT */
#define ESTIMATE_TTL_AS_DEFAULT 7
#define ESTIMATE_BOUND_BLOCK_LOG_MAX 20         /* radio_bound() takes blocks of 64 B .. 1 MiB */
/* The dongle's own SAR Transmitter state for group destinations (DIST_SAR_MULTICAST_RETRANS_COUNT / _INT_STEP): no
 * retransmission of segmented group messages, BLOB repairs losses per block */
#define ESTIMATE_SAR_MULTICAST_RETRANS_COUNT 0
#define ESTIMATE_SAR_MULTICAST_RETRANS_INT_STEP 0

/* The BLOB capabilities that decide the block and chunk sizes. */
struct estimate_caps {
	uint8_t min_block_size_log;
	uint8_t max_block_size_log;
	uint16_t max_chunks;            /* per block */
	uint16_t max_chunk_size;
	uint16_t mtu;                   /* the largest access message the target takes */
};

/* Zephyr's BLOB Transfer Server defaults as the NCS DFU target sample builds it: 4096-byte blocks
 * (CONFIG_BT_MESH_BLOB_BLOCK_SIZE_MIN = _MAX), 256 chunks per block (CONFIG_BT_MESH_BLOB_CHUNK_COUNT_MAX), RX SDU of
 * 10 segments: MTU 116 and chunks of at most 113 bytes (the simulator's targets default to the same). */
void estimate_caps_zephyr_default(struct estimate_caps *ret);

/* The sizes the Distributor picks (dist.c pick_sizes(), Zephyr's caps_adjust): the largest chunk the caps allow,
 * no larger than @pref_chunk (0 = no preference); then the largest block, no larger than 2^@pref_log when that is
 * within the caps (0 = no preference), whose chunks one Block Status describes and whose count fits. Returns 0 with
 * *ret_log and *ret_chunk, or -ERANGE (nothing fits). */
int estimate_pick_sizes(const struct estimate_caps *c, uint8_t pref_log, uint16_t pref_chunk, uint64_t image_size,
			uint8_t *ret_log, uint16_t *ret_chunk);

/* One wave. */
struct estimate_wave_input {
	uint64_t image_size;            /* bytes */
	uint8_t block_size_log;         /* as picked */
	uint16_t chunk_size;
	uint32_t targets;               /* 1.. */
	unsigned hops;                  /* the farthest target: 1..RADIO_HOPS_MAX */
	bool pull;                      /* transfer mode pull: chunks go by unicast to whoever asks */
	uint16_t group;                 /* the wave's group address; 0 = none */
};

struct estimate_wave {
	bool unicast;                   /* the Distributor's addressing rule */
	enum radio_bound_mode mode;     /* what radio_bound() was asked: group, or unicast */
	struct radio_bound bound;
};

/* radio_bound() for one wave. Returns 0, or -EINVAL / -EMSGSIZE with radio_bound()'s reason in *ret_reason. */
int estimate_wave(const struct radio_params *p, const struct estimate_wave_input *in, struct estimate_wave *ret,
		  const char **ret_reason);

const char *estimate_mode_to_string(enum radio_bound_mode mode);

/* The Distributor's client timeout (ms) for @ttl and @timeout_base: 10000 x (base + 2) + 100 x TTL. */
uint64_t estimate_client_timeout_ms(uint8_t ttl, uint16_t timeout_base);

/* The estimate of campaign @c (image of @image_size bytes) as the API's JSON: total_s, waves (each with targets,
 * hops, mode, data_phase_s, control_s, total_s), the sizes and settings used, the assumptions and the bound's
 * reference. The radio knobs are @p (Zephyr's defaults unless configured). Returns 0 with a new reference in *ret;
 * -ERANGE (no block/chunk size fits the image: @reason says why), -EINVAL (radio_bound() refused: @reason),
 * -ENOMEM or a database error. */
int estimate_campaign(struct db *db, const struct campaign *c, uint64_t image_size, const struct radio_params *p,
		      json_t **ret, char *reason, size_t reason_len);

#endif
