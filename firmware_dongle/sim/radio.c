/* radio: see radio.h and docs/radio-model.md. Source keys ([Z1], [B1], ...) are those of
 * ../shared/reference/radio-model.md §8; "RM §x" is a section of that document. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radio.h"

#define US_PER_MS 1000
#define SAR_SEG_INT_UNIT_MS 10          /* SAR segment intervals are (step + 1) x 10 ms [Z1], [Z2] */
#define SAR_RETRANS_INT_UNIT_MS 25      /* SAR retransmission intervals are (step + 1) x 25 ms [Z1], [Z2] */
#define SAR_DISCARD_UNIT_MS 5000        /* SAR discard timeout (n + 1) x 5 s [Z1], [Z2] */
#define SAR_STEP_MAX 15                 /* SAR counts and steps are 4-bit fields [Z2] */
#define LEGACY_SLACK_MS 10              /* adv_legacy.c adds 10 ms per event for advDelay [Z3] */

/* --- params --- */

void radio_params_zephyr_default(struct radio_params *ret)
{
	*ret = (struct radio_params){
		.advertiser = RADIO_ADV_EXT,            /* BT_MESH_ADV choice: ADV_EXT when BT_EXT_ADV [Z1] */
		.net_transmit_count = 2,                /* BT_MESH_NETWORK_TRANSMIT_COUNT [Z1] */
		.net_transmit_interval_ms = 20,         /* BT_MESH_NETWORK_TRANSMIT_INTERVAL [Z1] */
		.relay_retransmit_count = 2,            /* BT_MESH_RELAY_RETRANSMIT_COUNT [Z1] */
		.relay_retransmit_interval_ms = 20,     /* BT_MESH_RELAY_RETRANSMIT_INTERVAL [Z1] */
		.adv_int_min_ms = 20,                   /* ADV_INT_FAST_MS, BT >= 5.0 controllers [Z3] */
		.adv_delay_max_us = 10000,              /* advDelay 0..10 ms: Core Vol 6 Part B §4.4.2.2 [B1] */
		.adv_channels = 3,                      /* channels 37, 38, 39 [B1] */
		.channel_switch_us = 186,               /* [A] RM §2.1 "≈0.2 ms": 3 x 376 + 2 x 186 = 1500 µs */
		.adv_turnaround_us = 0,                 /* [A] RM §1.4's ≈50 ms has none */
		.relay_processing_us = 0,               /* [A] the relay's queueing is modelled, its CPU time is not */
		.ttl = 7,                               /* BT_MESH_DEFAULT_TTL [Z1] */
		.seg_max = RADIO_SEG_COUNT_MAX,         /* the protocol's maximum; see docs/radio-model.md */
		.sar_seg_int_step = 5,                  /* BT_MESH_SAR_TX_SEG_INT_STEP → 60 ms [Z1] */
		.sar_unicast_retrans_count = 2,         /* BT_MESH_SAR_TX_UNICAST_RETRANS_COUNT [Z1] */
		.sar_unicast_retrans_without_prog_count = 2,    /* ..._WITHOUT_PROG_COUNT [Z1] */
		.sar_unicast_retrans_int_step = 7,      /* BT_MESH_SAR_TX_UNICAST_RETRANS_INT_STEP → 200 ms [Z1] */
		.sar_unicast_retrans_int_inc = 1,       /* BT_MESH_SAR_TX_UNICAST_RETRANS_INT_INC → 50 ms [Z1] */
		.sar_multicast_retrans_count = 2,       /* BT_MESH_SAR_TX_MULTICAST_RETRANS_COUNT [Z1] */
		.sar_multicast_retrans_int_step = 9,    /* BT_MESH_SAR_TX_MULTICAST_RETRANS_INT → 250 ms [Z1] */
		.sar_rx_seg_threshold = 3,              /* BT_MESH_SAR_RX_SEG_THRESHOLD [Z1] */
		.sar_rx_ack_delay_inc = 1,              /* BT_MESH_SAR_RX_ACK_DELAY_INC → 2.5 segments [Z1] */
		.sar_rx_seg_int_step = 5,               /* BT_MESH_SAR_RX_SEG_INT_STEP → 60 ms [Z1] */
		.sar_rx_discard_timeout = 1,            /* BT_MESH_SAR_RX_DISCARD_TIMEOUT → 10 s [Z1] */
		.sar_rx_ack_retrans_count = 0,          /* BT_MESH_SAR_RX_ACK_RETRANS_COUNT [Z1] */
		.collisions = 0,                        /* off: docs/radio-model.md, "Collisions" */
		.relays_per_hop = 1,
		.relays_per_level = 1,
		.adv_buf_count = 6,                     /* BT_MESH_ADV_BUF_COUNT [Z1] */
		.collision_window_ms = 1000,
	};
}

static const char *const advertiser_names[] = { "legacy", "ext" };

#define PARAM(field, type_, lo, hi, unit_, help_) \
	{ .name = #field, .type = (type_), .min = (lo), .max = (hi), \
	  .offset = offsetof(struct radio_params, field), .unit = (unit_), .help = (help_) }

/* Ranges are those of Zephyr's Kconfig [Z1] and the Mesh Protocol's SAR Configuration states [Z2], unless said. */
const struct radio_param_desc radio_param_table[] = {
	{ .name = "advertiser", .type = RADIO_PARAM_ENUM, .min = RADIO_ADV_LEGACY, .max = RADIO_ADV_EXT,
	  .offset = offsetof(struct radio_params, advertiser), .unit = "", .names = advertiser_names,
	  .help = "Zephyr's mesh advertiser: legacy (adv_legacy.c) or ext (adv_ext.c), BT_MESH_ADV [Z1]" },
	PARAM(net_transmit_count, RADIO_PARAM_UINT, 0, 7, "", "originated PDUs are sent count + 1 times [Z1]"),
	PARAM(net_transmit_interval_ms, RADIO_PARAM_UINT, 10, 330, "ms", "between transmissions of a PDU [Z1]"),
	PARAM(relay_retransmit_count, RADIO_PARAM_UINT, 0, 7, "", "relayed PDUs are sent count + 1 times [Z1]"),
	PARAM(relay_retransmit_interval_ms, RADIO_PARAM_UINT, 10, 330, "ms", "between relayed transmissions [Z1]"),
	PARAM(adv_int_min_ms, RADIO_PARAM_UINT, 20, 10240, "ms",
	      "shortest advertising interval: 20 on BT >= 5.0, 100 before [Z3]; 10.24 s is the Core maximum"),
	PARAM(adv_delay_max_us, RADIO_PARAM_UINT, 0, 10000, "us", "advDelay upper end, Core Vol 6 Part B §4.4.2.2"),
	PARAM(adv_channels, RADIO_PARAM_UINT, 1, 3, "", "advertising channels per event [B1]"),
	PARAM(channel_switch_us, RADIO_PARAM_UINT, 0, 1000, "us", "[A] between two channels of one event (RM §2.1)"),
	PARAM(adv_turnaround_us, RADIO_PARAM_UINT, 0, 100000, "us",
	      "[A] ext advertiser: set end to next set's first event (RM §2.3 assumes 3.5 ms in its tuned rows)"),
	PARAM(relay_processing_us, RADIO_PARAM_UINT, 0, 100000, "us", "[A] relay: reception to its advertiser queue"),
	PARAM(ttl, RADIO_PARAM_UINT, 0, RADIO_HOPS_MAX, "", "default TTL, 0 or 2..127 [Z1] (1 is not allowed)"),
	PARAM(seg_max, RADIO_PARAM_UINT, 1, RADIO_SEG_COUNT_MAX, "", "BT_MESH_TX_SEG_MAX / RX_SEG_MAX [Z1]"),
	PARAM(sar_seg_int_step, RADIO_PARAM_UINT, 0, 15, "step", "segment interval (step + 1) x 10 ms [Z1], [Z2]"),
	PARAM(sar_unicast_retrans_count, RADIO_PARAM_UINT, 0, 15, "", "unicast SAR retransmissions [Z1], [Z2]"),
	PARAM(sar_unicast_retrans_without_prog_count, RADIO_PARAM_UINT, 0, 15, "",
	      "unicast SAR retransmissions without progress [Z1], [Z2]"),
	PARAM(sar_unicast_retrans_int_step, RADIO_PARAM_UINT, 0, 15, "step",
	      "unicast retransmission interval (step + 1) x 25 ms [Z1], [Z2]"),
	PARAM(sar_unicast_retrans_int_inc, RADIO_PARAM_UINT, 0, 15, "step",
	      "plus (inc + 1) x 25 ms per TTL above 1 [Z1], [Z2]"),
	PARAM(sar_multicast_retrans_count, RADIO_PARAM_UINT, 0, 15, "", "multicast SAR retransmissions [Z1], [Z2]"),
	PARAM(sar_multicast_retrans_int_step, RADIO_PARAM_UINT, 0, 15, "step",
	      "multicast retransmission interval (step + 1) x 25 ms [Z1], [Z2]"),
	PARAM(sar_rx_seg_threshold, RADIO_PARAM_UINT, 0, 31, "", "acks retransmitted above this SegN [Z1], [Z2]"),
	PARAM(sar_rx_ack_delay_inc, RADIO_PARAM_UINT, 0, 7, "step", "ack delay (inc + 1.5) segments [Z1], [Z2]"),
	PARAM(sar_rx_seg_int_step, RADIO_PARAM_UINT, 0, 15, "step",
	      "segment reception interval (step + 1) x 10 ms [Z1], [Z2]"),
	PARAM(sar_rx_discard_timeout, RADIO_PARAM_UINT, 0, 15, "step", "discard timeout (n + 1) x 5 s [Z1], [Z2]"),
	PARAM(sar_rx_ack_retrans_count, RADIO_PARAM_UINT, 0, 3, "", "ack retransmissions [Z1], [Z2]"),
	PARAM(collisions, RADIO_PARAM_BOOL, 0, 1, "", "shared-channel loss, pure ALOHA e^(-2G) (RM §2.4)"),
	PARAM(relays_per_hop, RADIO_PARAM_UINT, 1, 64, "", "relays of each level that forward a PDU (channel load)"),
	PARAM(relays_per_level, RADIO_PARAM_UINT, 1, RADIO_RELAYS_MAX, "",
	      "relay advertisers per level: a relayed PDU takes the first free one (capacity)"),
	PARAM(adv_buf_count, RADIO_PARAM_UINT, 1, 256, "",
	      "BT_MESH_ADV_BUF_COUNT [Z1]: queued PDUs per node; an ack finding the queue full is dropped"),
	PARAM(collision_window_ms, RADIO_PARAM_UINT, 10, 60000, "ms", "time constant of the offered-load estimate"),
};

const size_t radio_param_count = sizeof(radio_param_table) / sizeof(radio_param_table[0]);

const struct radio_param_desc *radio_param_find(const char *name)
{
	for (size_t i = 0; i < radio_param_count; i++)
		if (strcmp(radio_param_table[i].name, name) == 0)
			return &radio_param_table[i];
	return NULL;
}

static uint32_t *field(struct radio_params *p, const struct radio_param_desc *d)
{
	return (uint32_t *)(void *)((char *)p + d->offset);
}

static uint32_t field_value(const struct radio_params *p, const struct radio_param_desc *d)
{
	uint32_t v;

	memcpy(&v, (const char *)p + d->offset, sizeof(v));
	return v;
}

static int range_error(const struct radio_param_desc *d, int64_t value, char *reason, size_t reason_len)
{
	switch (d->type) {
	case RADIO_PARAM_BOOL:
		snprintf(reason, reason_len, "%s: must be true or false, got %lld", d->name, (long long)value);
		break;
	case RADIO_PARAM_ENUM:
		snprintf(reason, reason_len, "%s: must be \"%s\" or \"%s\", got %lld", d->name, d->names[d->min],
			 d->names[d->max], (long long)value);
		break;
	case RADIO_PARAM_UINT:
		snprintf(reason, reason_len, "%s: must be %u..%u%s%s, got %lld", d->name, d->min, d->max,
			 d->unit[0] ? " " : "", d->unit, (long long)value);
		break;
	}
	return -EINVAL;
}

int radio_param_set_number(struct radio_params *p, const struct radio_param_desc *d, int64_t value,
			   char *reason, size_t reason_len)
{
	if (value < d->min || value > d->max)
		return range_error(d, value, reason, reason_len);
	if (d->offset == offsetof(struct radio_params, ttl) && value == 1) {
		snprintf(reason, reason_len, "ttl: must be 0 or 2..%u (a TTL of 1 is never sent), got 1", d->max);
		return -EINVAL;
	}
	*field(p, d) = (uint32_t)value;
	return 0;
}

int radio_param_set_string(struct radio_params *p, const struct radio_param_desc *d, const char *value,
			   char *reason, size_t reason_len)
{
	if (d->type == RADIO_PARAM_ENUM)
		for (uint32_t i = d->min; i <= d->max; i++)
			if (strcmp(d->names[i], value) == 0) {
				*field(p, d) = i;
				return 0;
			}
	if (d->type == RADIO_PARAM_ENUM)
		snprintf(reason, reason_len, "%s: must be \"%s\" or \"%s\", got '%s'", d->name, d->names[d->min],
			 d->names[d->max], value);
	else
		snprintf(reason, reason_len, "%s: must be a number, got '%s'", d->name, value);
	return -EINVAL;
}

int radio_params_check(const struct radio_params *p, char *reason, size_t reason_len)
{
	for (size_t i = 0; i < radio_param_count; i++) {
		const struct radio_param_desc *d = &radio_param_table[i];
		uint32_t v = field_value(p, d);

		if (v < d->min || v > d->max)
			return range_error(d, v, reason, reason_len);
	}
	if (p->ttl == 1) {
		snprintf(reason, reason_len, "ttl: must be 0 or 2..%u (a TTL of 1 is never sent), got 1", RADIO_HOPS_MAX);
		return -EINVAL;
	}
	return 0;
}

/* --- timing --- */

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

int radio_segments(const struct radio_params *p, size_t len)
{
	size_t segments;

	if (len == 0)
		return -EINVAL;
	if (len <= RADIO_UNSEG_MAX)
		return 0;
	segments = (len + RADIO_TRANS_MIC + RADIO_SEG_SIZE - 1) / RADIO_SEG_SIZE;
	if (segments > p->seg_max)
		return -EMSGSIZE;
	return (int)segments;
}

unsigned radio_unseg_pdu_len(size_t len)
{
	return (unsigned)(RADIO_NET_HDR + RADIO_UNSEG_HDR + len + RADIO_TRANS_MIC + RADIO_NET_MIC);
}

unsigned radio_seg_pdu_len(size_t len, unsigned index)
{
	size_t upper = len + RADIO_TRANS_MIC;
	size_t done = (size_t)index * RADIO_SEG_SIZE;
	size_t seg = upper - done < RADIO_SEG_SIZE ? upper - done : RADIO_SEG_SIZE;

	return (unsigned)(RADIO_NET_HDR + RADIO_SEG_HDR + seg + RADIO_NET_MIC);
}

uint64_t radio_air_us(unsigned pdu_len)
{
	return (uint64_t)(RADIO_PACKET_OVERHEAD + pdu_len) * RADIO_US_PER_BYTE;
}

uint64_t radio_event_us(const struct radio_params *p, unsigned pdu_len)
{
	return p->adv_channels * radio_air_us(pdu_len) + (uint64_t)(p->adv_channels - 1) * p->channel_switch_us;
}

static uint64_t adv_int_us(const struct radio_params *p, uint32_t interval_ms)
{
	return (uint64_t)(interval_ms > p->adv_int_min_ms ? interval_ms : p->adv_int_min_ms) * US_PER_MS;
}

/* One PDU's occupancy of its sender's advertiser. @rng NULL: the mean; else advDelay is drawn per interval. */
static uint64_t occupancy(const struct radio_params *p, uint32_t count, uint32_t interval_ms, unsigned pdu_len,
			  struct rng *rng)
{
	uint64_t ai = adv_int_us(p, interval_ms);
	uint64_t delays = 0;

	switch ((enum radio_advertiser)p->advertiser) {
	case RADIO_ADV_LEGACY:
		/* adv_legacy.c: the thread sleeps adv_int + (count + 1) x (adv_int + 10 ms) per PDU [Z3] */
		return ai + (uint64_t)(count + 1) * (ai + LEGACY_SLACK_MS * US_PER_MS);
	case RADIO_ADV_EXT:
		/* adv_ext.c: num_events = count + 1 at adv_int, each interval plus advDelay; the next PDU when the set
		 * ends (after the last event) [Z4] */
		if (rng)
			for (uint32_t i = 0; i < count; i++)
				delays += rng_next(rng) % ((uint64_t)p->adv_delay_max_us + 1);
		else
			delays = (uint64_t)count * p->adv_delay_max_us / 2;
		return count * ai + delays + radio_event_us(p, pdu_len) + p->adv_turnaround_us;
	}
	return 0;       /* not reached: radio_params_check() refuses other values */
}

uint64_t radio_occupancy_mean_us(const struct radio_params *p, uint32_t count, uint32_t interval_ms, unsigned pdu_len)
{
	return occupancy(p, count, interval_ms, pdu_len, NULL);
}

uint64_t radio_transmission_spacing_us(const struct radio_params *p, uint32_t interval_ms)
{
	return adv_int_us(p, interval_ms) + p->adv_delay_max_us / 2;
}

uint64_t radio_seg_interval_us(const struct radio_params *p)
{
	return (uint64_t)(p->sar_seg_int_step + 1) * SAR_SEG_INT_UNIT_MS * US_PER_MS;
}

/* The period of full PDUs from one source through @hops levels: the slowest advertiser on the path (RM §2.4). */
static uint64_t pdu_period_us(const struct radio_params *p, unsigned hops)
{
	uint64_t src = radio_occupancy_mean_us(p, p->net_transmit_count, p->net_transmit_interval_ms,
					       RADIO_NET_PDU_MAX);
	uint64_t relay = radio_occupancy_mean_us(p, p->relay_retransmit_count, p->relay_retransmit_interval_ms,
						 RADIO_NET_PDU_MAX);

	return hops > 1 ? max_u64(src, relay) : src;
}

uint64_t radio_seg_spacing_us(const struct radio_params *p)
{
	return max_u64(radio_seg_interval_us(p), pdu_period_us(p, 1));
}

uint64_t radio_unicast_retrans_us(const struct radio_params *p, uint32_t ttl)
{
	uint64_t ms = (uint64_t)(p->sar_unicast_retrans_int_step + 1) * SAR_RETRANS_INT_UNIT_MS;

	if (ttl > 1)
		ms += (uint64_t)(p->sar_unicast_retrans_int_inc + 1) * SAR_RETRANS_INT_UNIT_MS * (ttl - 1);
	return ms * US_PER_MS;
}

uint64_t radio_multicast_retrans_us(const struct radio_params *p)
{
	return (uint64_t)(p->sar_multicast_retrans_int_step + 1) * SAR_RETRANS_INT_UNIT_MS * US_PER_MS;
}

uint64_t radio_ack_timer_us(const struct radio_params *p, unsigned segments)
{
	/* min(SegN + 0.5, inc + 1.5) x reception interval [Z2]; in half segments to stay in integers */
	uint64_t halves_segn = 2 * (uint64_t)(segments - 1) + 1;
	uint64_t halves_inc = 2 * (uint64_t)p->sar_rx_ack_delay_inc + 3;
	uint64_t halves = halves_segn < halves_inc ? halves_segn : halves_inc;

	return halves * (p->sar_rx_seg_int_step + 1) * SAR_SEG_INT_UNIT_MS * US_PER_MS / 2;
}

uint64_t radio_discard_timeout_us(const struct radio_params *p)
{
	return (uint64_t)(p->sar_rx_discard_timeout + 1) * SAR_DISCARD_UNIT_MS * US_PER_MS;
}

/* Per further hop: the relay hears the first event, then sends (RM §2.4: "roughly one advertising event plus
 * queueing"; the queueing is the period). */
static uint64_t hop_latency_us(const struct radio_params *p, unsigned pdu_len)
{
	return radio_event_us(p, pdu_len) + p->relay_processing_us;
}

/* The no-loss cost of one message; @latency adds the time to cross @hops - 1 relays (and back for the ack). */
static int message_cost(const struct radio_params *p, size_t len, bool multicast, unsigned hops, bool latency,
			uint64_t *ret_us)
{
	int segments = radio_segments(p, len);
	uint64_t period = pdu_period_us(p, hops);
	uint64_t extra = latency && hops > 1 ? (hops - 1) * hop_latency_us(p, RADIO_NET_PDU_MAX) : 0;
	uint64_t spacing, round;

	if (segments < 0)
		return segments;
	if (segments == 0) {
		*ret_us = period + extra;
		return 0;
	}
	spacing = max_u64(radio_seg_interval_us(p), period);
	round = (uint64_t)(segments - 1) * spacing + period;
	if (multicast) {
		uint64_t rounds = p->sar_multicast_retrans_count + 1;

		*ret_us = rounds * round + (rounds - 1) * radio_multicast_retrans_us(p) + extra;
	} else {
		/* RM §2.2 [A]: the receiver acks as soon as it has the message; the sender hears the first event */
		uint64_t ack = radio_event_us(p, RADIO_ACK_NET_PDU);

		if (hops > 1)
			ack += (hops - 1) * hop_latency_us(p, RADIO_ACK_NET_PDU);
		*ret_us = round + ack + extra;
	}
	return 0;
}

int radio_message_time_us(const struct radio_params *p, size_t len, bool multicast, unsigned hops, uint64_t *ret_us)
{
	if (hops == 0 || hops > RADIO_HOPS_MAX)
		return -EINVAL;
	return message_cost(p, len, multicast, hops, true, ret_us);
}

double radio_aloha_success(double g)
{
	return exp(-2 * g);
}

double radio_flood_pdu_rate_max(const struct radio_params *p, unsigned relays, unsigned transmissions)
{
	/* λ_max = G_max / ((1 + R) x k x event) (RM §2.4) */
	double event_s = (double)radio_event_us(p, RADIO_NET_PDU_MAX) / 1e6;

	return RADIO_ALOHA_G_MAX / ((1.0 + relays) * transmissions * event_s);
}

/* --- the bound --- */

#define BLOCK_SIZE_MIN 64               /* BT_MESH_BLOB_BLOCK_SIZE_MIN range [Z1] */
#define BLOCK_SIZE_MAX (1u << 20)

/* Data phase of one block of @bytes: every chunk once, the last one shorter. */
static int block_cost(const struct radio_params *p, uint32_t bytes, uint32_t chunk_size, bool multicast,
		      unsigned hops, uint64_t *ret_chunks, uint64_t *ret_us)
{
	uint64_t chunks = (bytes + chunk_size - 1) / chunk_size;
	uint32_t last = bytes - (uint32_t)(chunks - 1) * chunk_size;
	uint64_t full_us = 0, last_us = 0;
	/* unicast segmented chunks wait for their ack (stop and wait); everything else is a pipelined stream */
	bool latency = !multicast;
	int err;

	if (chunks > 1 && (err = message_cost(p, chunk_size + RADIO_CHUNK_MSG_OVERHEAD, multicast, hops, latency,
					      &full_us)) < 0)
		return err;
	err = message_cost(p, last + RADIO_CHUNK_MSG_OVERHEAD, multicast, hops, latency, &last_us);
	if (err < 0)
		return err;
	*ret_chunks = chunks;
	*ret_us = (chunks - 1) * full_us + last_us;
	return 0;
}

int radio_bound(const struct radio_params *p, uint64_t image_size, uint32_t block_size, uint32_t chunk_size,
		uint32_t targets, unsigned hops, enum radio_bound_mode mode, struct radio_bound *ret,
		const char **ret_reason)
{
	struct radio_bound b = { 0 };
	bool multicast = false;
	uint64_t full_chunks = 0, full_us = 0, last_chunks = 0, last_us = 0;
	uint64_t event = radio_event_us(p, RADIO_NET_PDU_MAX);
	uint64_t latency = hops > 1 ? 2 * (uint64_t)(hops - 1) * hop_latency_us(p, RADIO_NET_PDU_MAX) : 0;
	uint32_t last_block;
	int err;

	if (image_size == 0) {
		*ret_reason = "the image is empty";
		return -EINVAL;
	}
	if (block_size < BLOCK_SIZE_MIN || block_size > BLOCK_SIZE_MAX || (block_size & (block_size - 1))) {
		*ret_reason = "the block size must be a power of two from 64 to 1048576 bytes";
		return -EINVAL;
	}
	if (chunk_size == 0 || chunk_size > block_size) {
		*ret_reason = "the chunk size must be 1 byte to the block size";
		return -EINVAL;
	}
	if (targets == 0) {
		*ret_reason = "there must be at least one target";
		return -EINVAL;
	}
	if (hops == 0 || hops > RADIO_HOPS_MAX) {
		*ret_reason = "hops must be 1..127";
		return -EINVAL;
	}
	switch (mode) {
	case RADIO_BOUND_GROUP:
	case RADIO_BOUND_POLL:
		multicast = true;
		break;
	case RADIO_BOUND_UNICAST:
		multicast = false;
		break;
	}
	if (radio_segments(p, chunk_size + RADIO_CHUNK_MSG_OVERHEAD) < 0) {
		*ret_reason = "a chunk message does not fit the largest segmented message (seg_max x 12 - 4 bytes)";
		return -EMSGSIZE;
	}

	/* Data phase: the full blocks cost the same, the last one is shorter. */
	b.blocks = (uint32_t)((image_size + block_size - 1) / block_size);
	last_block = (uint32_t)(image_size - (uint64_t)(b.blocks - 1) * block_size);
	if (b.blocks > 1 && (err = block_cost(p, block_size, chunk_size, multicast, hops, &full_chunks, &full_us)) < 0)
		return err;
	err = block_cost(p, last_block, chunk_size, multicast, hops, &last_chunks, &last_us);
	if (err < 0)
		return err;
	b.chunks = (b.blocks - 1) * full_chunks + last_chunks;
	b.data_us = (b.blocks - 1) * full_us + last_us;
	if (!multicast)
		b.data_us *= targets;

	/* Control rounds (RM §2.5 [A]): 3 at the start, 2 per block, 3 at the end. */
	b.rounds = RADIO_BOUND_START_ROUNDS + RADIO_BOUND_BLOCK_ROUNDS * b.blocks + RADIO_BOUND_END_ROUNDS;
	switch (mode) {
	case RADIO_BOUND_GROUP: {
		/* (b) ideal group round: max(0.3 s, N responses back to back, each k events, plus their relaying) */
		uint64_t events = (uint64_t)p->net_transmit_count + 1 +
				  (uint64_t)(hops - 1) * (p->relay_retransmit_count + 1);

		b.round_us = max_u64(RADIO_BOUND_ROUND_MIN_US + latency, (uint64_t)targets * events * event);
		break;
	}
	case RADIO_BOUND_POLL:
	case RADIO_BOUND_UNICAST:
		/* (a) per-target polling: request and response, ~2 PDU periods per target, plus the path both ways */
		b.round_us = (uint64_t)targets * (RADIO_BOUND_POLL_PDUS * pdu_period_us(p, hops) + latency);
		break;
	}
	b.control_us = b.rounds * b.round_us;
	b.total_us = b.data_us + b.control_us;
	b.goodput = (double)image_size * 1e6 / (double)b.data_us;
	*ret = b;
	return 0;
}

/* --- the transmission model --- */

int radio_init(struct radio *r, const struct radio_params *p, uint32_t nodes_max, uint64_t seed)
{
	char reason[160];

	memset(r, 0, sizeof(*r));
	if (nodes_max == 0 || radio_params_check(p, reason, sizeof(reason)) < 0)
		return -EINVAL;
	r->nodes = calloc(nodes_max, sizeof(*r->nodes));
	if (!r->nodes)
		return -ENOMEM;
	r->p = *p;
	r->nodes_max = nodes_max;
	for (uint32_t i = 0; i < nodes_max; i++) {
		r->nodes[i].sar_multicast_retrans_count = (uint8_t)p->sar_multicast_retrans_count;
		r->nodes[i].sar_multicast_retrans_int_step = (uint8_t)p->sar_multicast_retrans_int_step;
	}
	rng_seed(&r->rng, seed, 0);
	return 0;
}

void radio_done(struct radio *r)
{
	free(r->nodes);
	r->nodes = NULL;
	r->nodes_max = 0;
}

int radio_node_set(struct radio *r, uint32_t node, unsigned hops, double loss)
{
	if (node >= r->nodes_max || hops > RADIO_HOPS_MAX || !(loss >= 0 && loss <= 1))
		return -EINVAL;
	r->nodes[node].hops = (uint8_t)hops;
	r->nodes[node].loss = loss;
	return 0;
}

int radio_node_set_sar_multicast(struct radio *r, uint32_t node, unsigned count, unsigned int_step)
{
	if (node >= r->nodes_max || count > SAR_STEP_MAX || int_step > SAR_STEP_MAX)
		return -EINVAL;
	r->nodes[node].sar_multicast_retrans_count = (uint8_t)count;
	r->nodes[node].sar_multicast_retrans_int_step = (uint8_t)int_step;
	return 0;
}

/* Collision model: air time decays with time constant collision_window_ms; G = air / window. */
static void load_decay(double *air, uint64_t *at, uint64_t now, double window_us)
{
	if (now > *at) {
		*air *= exp(-(double)(now - *at) / window_us);
		*at = now;
	}
}

static void load_add(struct radio *r, struct radio_node *n, uint64_t now, double air)
{
	double window = (double)r->p.collision_window_ms * US_PER_MS;

	if (!r->p.collisions)
		return;
	load_decay(&r->load_air_us, &r->load_at_us, now, window);
	r->load_air_us += air;
	if (n) {
		load_decay(&n->load_air_us, &n->load_at_us, now, window);
		n->load_air_us += air;
	}
}

/* Share of transmissions from @n that survive the other senders' load: e^(-2G), G = their air time / window. */
static double load_survival(struct radio *r, struct radio_node *n, uint64_t now)
{
	double window = (double)r->p.collision_window_ms * US_PER_MS;
	double g;

	if (!r->p.collisions)
		return 1;
	load_decay(&r->load_air_us, &r->load_at_us, now, window);
	load_decay(&n->load_air_us, &n->load_at_us, now, window);
	g = (r->load_air_us - n->load_air_us) / window;
	return radio_aloha_success(g > 0 ? g : 0);
}

/* The levels a message crosses, from the sender's level @from to every receiver's. */
struct span {
	unsigned from;
	unsigned lo;
	unsigned hi;
};

/* The advertiser of level @l's relays that is free first: a level with relays_per_level relays forwards a PDU
 * through the one that can send it soonest (the others repeat it too; that is channel load, relays_per_hop). */
static uint64_t *first_free_relay(struct radio *r, unsigned l)
{
	uint64_t *best = &r->relay_free_us[l][0];

	for (uint32_t i = 1; i < r->p.relays_per_level; i++)
		if (r->relay_free_us[l][i] < *best)
			best = &r->relay_free_us[l][i];
	return best;
}

/* Places one PDU of @pdu_len bytes from @n (at level s->from) on its advertiser no earlier than @ready, and relays it
 * level by level towards s->lo and s->hi. r->pdu_tx_us[l] gets the time the sender heard at level l starts it (the
 * relays assume they hear the first event; losses are drawn per receiver). Returns the PDU's start. */
static uint64_t place_pdu(struct radio *r, struct radio_node *n, const struct span *s, uint64_t ready,
			  unsigned pdu_len)
{
	const struct radio_params *p = &r->p;
	uint64_t start = max_u64(ready, n->adv_free_us);
	uint64_t event = radio_event_us(p, pdu_len);
	double relay_air = (double)(p->relay_retransmit_count + 1) * (double)event * p->relays_per_hop;

	n->adv_free_us = start + occupancy(p, p->net_transmit_count, p->net_transmit_interval_ms, pdu_len, &r->rng);
	r->pdu_tx_us[s->from] = start;
	load_add(r, n, start, (double)(p->net_transmit_count + 1) * (double)event);
	for (unsigned l = s->from + 1; l < s->hi; l++) {
		uint64_t *relay = first_free_relay(r, l);
		uint64_t at = max_u64(r->pdu_tx_us[l - 1] + event + p->relay_processing_us, *relay);

		*relay = at + occupancy(p, p->relay_retransmit_count, p->relay_retransmit_interval_ms,
						     pdu_len, &r->rng);
		r->pdu_tx_us[l] = at;
		r->pdus_relayed++;
		load_add(r, NULL, at, relay_air);
	}
	for (unsigned l = s->from; l > s->lo + 1; l--) {
		uint64_t *relay = first_free_relay(r, l - 1);
		uint64_t at = max_u64(r->pdu_tx_us[l] + event + p->relay_processing_us, *relay);

		*relay = at + occupancy(p, p->relay_retransmit_count,
							 p->relay_retransmit_interval_ms, pdu_len, &r->rng);
		r->pdu_tx_us[l - 1] = at;
		r->pdus_relayed++;
		load_add(r, NULL, at, relay_air);
	}
	return start;
}

/* True when @n's advertiser still holds adv_buf_count PDUs or more at @at: its queue reaches that far beyond @at. */
static bool queue_full(const struct radio_params *p, const struct radio_node *n, uint64_t at)
{
	uint64_t per_pdu = occupancy(p, p->net_transmit_count, p->net_transmit_interval_ms, RADIO_NET_PDU_MAX, NULL);

	return n->adv_free_us > at && n->adv_free_us - at >= (uint64_t)p->adv_buf_count * per_pdu;
}

/* A receiver at level @b of a message from level @a. */
struct path {
	unsigned links;
	unsigned last_sender;           /* the level whose transmission the receiver hears */
	uint32_t last_count;            /* that sender's transmit count (k = count + 1) */
	uint32_t last_interval_ms;
};

static struct path path_of(const struct radio_params *p, unsigned a, unsigned b)
{
	struct path path = { .links = 1, .last_sender = a };

	if (b > a) {
		path.links = b - a;
		path.last_sender = b - 1;
	} else if (b < a) {
		path.links = a - b;
		path.last_sender = b + 1;
	}
	if (path.last_sender == a) {
		path.last_count = p->net_transmit_count;
		path.last_interval_ms = p->net_transmit_interval_ms;
	} else {
		path.last_count = p->relay_retransmit_count;
		path.last_interval_ms = p->relay_retransmit_interval_ms;
	}
	return path;
}

/* Probability that one PDU crosses the whole path: each link gets at least one of its sender's k transmissions
 * through; each transmission is lost with @loss independently. */
static double path_pass(const struct radio_params *p, const struct path *path, double loss)
{
	double first = 1 - pow(loss, p->net_transmit_count + 1);
	double relay = 1 - pow(loss, p->relay_retransmit_count + 1);

	return path->links > 1 ? first * pow(relay, path->links - 1) : first;
}

/* Which of the last link's k transmissions got through first, from @v uniform in [0, 1), given that one did: the
 * geometric distribution truncated at k, by inversion: F(i) = (1 - loss^i) / (1 - loss^k). */
static unsigned first_success(double loss, unsigned k, double v)
{
	double i;

	if (loss <= 0 || k == 1)
		return 1;
	i = floor(log(1 - v * (1 - pow(loss, k))) / log(loss)) + 1;
	return i < 1 ? 1 : i > k ? k : (unsigned)i;
}

/* The per-receiver figures of one message depend on (loss, links) only, and fleets mostly share a loss rate: each
 * path length keeps the last loss's figures for the current message (r->pass[links], valid while its @message is
 * r->messages), so pow() runs once per path length and message rather than once per receiver. */
static const struct radio_pass *pass_lookup(struct radio *r, const struct path *path, double loss, unsigned segs,
					    unsigned rounds)
{
	struct radio_pass *c = &r->pass[path->links];

	if (c->message == r->messages && c->loss == loss)
		return c;
	c->message = r->messages;
	c->loss = loss;
	c->q = path_pass(&r->p, path, loss);
	/* F(i) = (1 - loss^i) / (1 - loss^k) of the last link, whose count follows from links */
	for (unsigned i = 1; i <= path->last_count + 1 && c->q > 0; i++)
		c->cdf[i] = (1 - pow(loss, i)) / (1 - pow(loss, path->last_count + 1));
	for (unsigned j = 1; segs > 0 && j <= rounds; j++)
		c->round_p[j] = pow(1 - pow(1 - c->q, j), segs);
	return c;
}

/* first_success() from the cached distribution: the smallest i with v < F(i) */
static unsigned first_success_cached(const struct radio_pass *c, unsigned k, double v)
{
	unsigned i = 1;

	while (i < k && v >= c->cdf[i])
		i++;
	return i;
}

/* When the receiver on @path has a PDU whose last-link sender started at @tx, given that its @i-th transmission
 * got through first. */
static uint64_t heard_at(const struct radio_params *p, const struct path *path, uint64_t tx, unsigned i,
			 unsigned pdu_len)
{
	return tx + (uint64_t)(i - 1) * radio_transmission_spacing_us(p, path->last_interval_ms) +
	       radio_event_us(p, pdu_len);
}

static unsigned reach_of(uint32_t ttl)
{
	/* TTL 0: not relayed; 2..127: each relay decrements it and relays while it is at least 2 [B2] §3.4.6 */
	return ttl == 0 ? 1 : ttl;
}

static double effective_loss(double loss, double survival)
{
	return 1 - (1 - loss) * survival;
}

/* Unicast SAR (acknowledged): rounds of the unacknowledged segments, the receiver's ack after its ack timer (at
 * once when complete), retransmission on an ack with missing segments or on the retransmission timer. */
static void send_unicast_sar(struct radio *r, struct radio_node *n, const struct span *s, size_t len, unsigned segs,
			     uint32_t ttl, uint32_t to, bool reachable, double survival, uint64_t start_ready,
			     uint64_t *ret_at, struct radio_tx *tx)
{
	const struct radio_params *p = &r->p;
	struct radio_node *rx = &r->nodes[to];
	unsigned b = rx->hops;
	struct path path = path_of(p, s->from, b);
	struct path back = path_of(p, b, s->from);
	struct span ack_span = { .from = b, .lo = s->from < b ? s->from : b, .hi = s->from > b ? s->from : b };
	double loss = effective_loss(rx->loss, survival);
	double q = reachable ? path_pass(p, &path, loss) : 0;
	double q_ack = reachable ? path_pass(p, &back, loss) : 0;
	uint64_t all = ((uint64_t)1 << segs) - 1;        /* segs <= 32 */
	uint64_t received = 0, acked = 0;
	uint64_t delivered = RADIO_LOST, last_rx = 0;
	uint64_t t = start_ready, done;
	unsigned retrans_left = p->sar_unicast_retrans_count;
	unsigned noprog_left = p->sar_unicast_retrans_without_prog_count;
	unsigned ack_pdus = 1 + (segs - 1 > p->sar_rx_seg_threshold ? p->sar_rx_ack_retrans_count : 0);
	bool first_round = true;

	for (;;) {
		uint64_t prev = 0, round_rx = RADIO_LOST, ack_at = RADIO_LOST, timer, next;
		bool first = true;

		tx->rounds++;
		for (unsigned i = 0; i < segs; i++) {
			uint64_t bit = (uint64_t)1 << i, start, at;
			unsigned pdu_len = radio_seg_pdu_len(len, i);

			if (acked & bit)
				continue;
			start = place_pdu(r, n, s, first ? t : prev + radio_seg_interval_us(p), pdu_len);
			if (first_round && first)
				tx->start_us = start;
			prev = start;
			first = false;
			tx->pdus++;
			r->pdus++;
			if (!(rng_uniform(&r->rng) < q))
				continue;
			at = heard_at(p, &path, r->pdu_tx_us[path.last_sender], 1, pdu_len);
			if (received != all && last_rx && at > last_rx + radio_discard_timeout_us(p))
				received = 0;   /* the receiver gave the incomplete message up */
			last_rx = round_rx = at;
			if (!(received & bit)) {
				received |= bit;
				if (received == all && delivered == RADIO_LOST)
					delivered = at;
			}
		}
		first_round = false;
		timer = n->adv_free_us + radio_unicast_retrans_us(p, ttl);
		if (round_rx != RADIO_LOST) {
			/* complete: at once (again for a repeated segment); else after the ack timer */
			uint64_t ack_ready = received == all ? round_rx : round_rx + radio_ack_timer_us(p, segs);

			for (unsigned k = 0; k < ack_pdus && ack_at == RADIO_LOST; k++) {
				double u;

				/* Zephyr allocates the ack's buffer with K_NO_WAIT: with the advertiser's queue
				 * full the ack is not sent, and the sender's retransmission timer runs out */
				if (queue_full(p, rx, ack_ready)) {
					r->acks_dropped++;
					break;
				}
				place_pdu(r, rx, &ack_span, ack_ready, RADIO_ACK_NET_PDU);
				r->pdus++;
				u = rng_uniform(&r->rng);
				if (u < q_ack)
					ack_at = heard_at(p, &back, r->pdu_tx_us[back.last_sender],
							  first_success(loss, back.last_count + 1, u / q_ack),
							  RADIO_ACK_NET_PDU);
			}
		}
		if (ack_at != RADIO_LOST && ack_at <= timer) {
			bool progress = (received & ~acked) != 0;

			acked |= received;
			if (acked == all) {
				tx->acked = true;
				done = ack_at;
				break;
			}
			noprog_left = progress ? p->sar_unicast_retrans_without_prog_count : noprog_left - 1;
			next = ack_at;
		} else {
			noprog_left--;
			next = timer;
		}
		if (retrans_left == 0 || noprog_left == 0) {
			r->sar_failures++;
			done = next;
			break;
		}
		retrans_left--;
		t = next;
	}
	tx->adv_free_us = n->adv_free_us;
	tx->done_us = done;
	n->sar_free_us = done;
	*ret_at = delivered;
}

int radio_send(struct radio *r, const struct radio_msg *m, const uint32_t *to, uint32_t n_to, uint64_t *ret_at,
	       struct radio_tx *ret)
{
	const struct radio_params *p = &r->p;
	struct radio_tx tx = { 0 };
	struct radio_node *n;
	struct span s;
	uint32_t ttl = m->ttl == RADIO_TTL_DEFAULT ? p->ttl : m->ttl;
	unsigned reach = reach_of(ttl);
	int segs;
	double survival;

	if (m->from >= r->nodes_max || n_to == 0 || (m->unicast && n_to != 1) || ttl == 1 || ttl > RADIO_HOPS_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < n_to; i++)
		if (to[i] >= r->nodes_max || to[i] == m->from)
			return -EINVAL;
	segs = radio_segments(p, m->len);
	if (segs < 0)
		return segs;

	n = &r->nodes[m->from];
	s = (struct span){ .from = n->hops, .lo = n->hops, .hi = n->hops };
	for (uint32_t i = 0; i < n_to; i++) {
		struct path path = path_of(p, n->hops, r->nodes[to[i]].hops);

		if (path.links > reach)
			continue;
		if (r->nodes[to[i]].hops < s.lo)
			s.lo = r->nodes[to[i]].hops;
		if (r->nodes[to[i]].hops > s.hi)
			s.hi = r->nodes[to[i]].hops;
	}
	r->messages++;
	tx.segments = (uint32_t)segs;
	survival = load_survival(r, n, max_u64(m->now_us, n->adv_free_us));

	if (segs > 0 && m->unicast) {
		bool reachable = path_of(p, n->hops, r->nodes[to[0]].hops).links <= reach;

		send_unicast_sar(r, n, &s, m->len, (unsigned)segs, ttl, to[0], reachable, survival,
				 max_u64(m->now_us, n->sar_free_us), &ret_at[0], &tx);
	} else {
		/* unsegmented (one PDU, one round), or multicast SAR: R rounds of every segment, the retransmission
		 * interval after each; Zephyr ends the transaction from that timer after the last round [Z1] */
		unsigned rounds = segs == 0 ? 1 : n->sar_multicast_retrans_count + 1u;
		uint64_t retrans_us = (uint64_t)(n->sar_multicast_retrans_int_step + 1) * SAR_RETRANS_INT_UNIT_MS *
				      US_PER_MS;
		unsigned pdus = segs == 0 ? 1 : (unsigned)segs;
		uint64_t t = max_u64(m->now_us, segs == 0 ? 0 : n->sar_free_us);
		unsigned last_len = segs == 0 ? radio_unseg_pdu_len(m->len) : radio_seg_pdu_len(m->len, pdus - 1);

		for (unsigned round = 0; round < rounds; round++) {
			uint64_t prev = 0;

			for (unsigned i = 0; i < pdus; i++) {
				unsigned pdu_len = segs == 0 ? last_len : radio_seg_pdu_len(m->len, i);
				uint64_t start = place_pdu(r, n, &s, i == 0 ? t : prev + radio_seg_interval_us(p),
							   pdu_len);

				if (round == 0 && i == 0)
					tx.start_us = start;
				prev = start;
			}
			memcpy(r->round_tx_us[round], r->pdu_tx_us, sizeof(r->pdu_tx_us));
			t = n->adv_free_us + (segs == 0 ? 0 : retrans_us);
		}
		tx.rounds = rounds;
		tx.pdus = rounds * pdus;
		r->pdus += tx.pdus;
		tx.adv_free_us = n->adv_free_us;
		tx.done_us = segs == 0 ? n->adv_free_us : t;
		if (segs > 0)
			n->sar_free_us = t;

		for (uint32_t i = 0; i < n_to; i++) {
			struct radio_node *rx = &r->nodes[to[i]];
			struct path path = path_of(p, n->hops, rx->hops);
			double loss = effective_loss(rx->loss, survival);
			const struct radio_pass *c;
			double q, u;

			ret_at[i] = RADIO_LOST;
			if (path.links > reach)
				continue;
			c = pass_lookup(r, &path, loss, (unsigned)segs, rounds);
			q = c->q;
			u = rng_uniform(&r->rng);       /* one draw per receiver and message */
			if (segs == 0) {
				/* unsegmented: got it with probability q; the first transmission that got through on
				 * the last link from the same draw (u / q is uniform given u < q) */
				if (u < q)
					ret_at[i] = heard_at(p, &path, r->round_tx_us[0][path.last_sender],
							     first_success_cached(c, path.last_count + 1, u / q),
							     last_len);
				continue;
			}
			/* multicast SAR: complete by round j with probability (1 - (1 - q)^j)^S; the round is the
			 * smallest j with u below that */
			for (unsigned j = 1; j <= rounds; j++) {
				if (u < c->round_p[j]) {
					ret_at[i] = heard_at(p, &path, r->round_tx_us[j - 1][path.last_sender], 1,
							     last_len);
					break;
				}
			}
		}
	}

	for (uint32_t i = 0; i < n_to; i++) {
		if (path_of(p, n->hops, r->nodes[to[i]].hops).links > reach)
			r->out_of_range++;
		if (ret_at[i] == RADIO_LOST)
			r->losses++;
		else
			r->deliveries++;
	}
	if (ret)
		*ret = tx;
	return 0;
}
