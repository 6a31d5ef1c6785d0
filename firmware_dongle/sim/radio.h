/* radio: the simulator's Bluetooth Mesh radio: what one access message costs on the advertising bearer, who gets it
 * and when, and the lower bound a campaign is measured against. The model, every knob with its default and source,
 * and what is simplified are in docs/radio-model.md; the numbers it reproduces are in
 * ../shared/reference/radio-model.md (§0-2), which the comments cite as "RM §x".
 *
 * Three layers, each usable alone:
 *   - struct radio_params: every knob, Zephyr's defaults, a check with a reason, and a table to set knobs by name
 *     (for the scenario parser);
 *   - timing functions of the params alone (no state, no randomness): segments of a message, air time, advertiser
 *     occupancy, SAR timers, the no-loss cost of one message, the flooding limit, and radio_bound();
 *   - struct radio: a discrete-event transmission model over nodes with a hop count and a loss rate.
 *     radio_send() places one message on its sender's advertiser (sends from one node serialize), relays it level by
 *     level, draws the losses from one seeded stream, and returns when each receiver gets it and when the sender is
 *     free again. It allocates nothing: its state is sized at radio_init().
 *
 * Times are microseconds of virtual time (uint64_t, suffix _us); the simulator's clock counts milliseconds.
 *
 * Glossary:
 *   PDU          one network PDU (at most 29 bytes) in one advertising packet; sent k = count + 1 times
 *   event        one advertising event: the packet on each advertising channel in turn (≈ 1.5 ms)
 *   occupancy    how long one PDU keeps the sender's advertiser busy (all k events and the gaps between them)
 *   level        a hop count: the dongle is at level 0, a node at level h hears level h - 1 and h + 1; the
 *                relays of level h forward what crosses it
 *   link         one hop; a path from level a to level b has |a - b| links (1 within a level)
 *   round        one pass of a segmented message's segments (SAR); multicast SAR sends R = count + 1 rounds
 *   SAR          segmentation and reassembly (the lower transport layer)
 */
#ifndef MESHFLEET_SIM_RADIO_H
#define MESHFLEET_SIM_RADIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rng.h"

/* --- protocol constants (not knobs) --- */

#define RADIO_NET_PDU_MAX 29            /* BT_MESH_ADV_DATA_SIZE, Zephyr adv.h [Z5] */
#define RADIO_NET_HDR 9                 /* IVI/NID, CTL/TTL, SEQ 3, SRC 2, DST 2: Mesh Protocol §3.4.4 [B2] */
#define RADIO_NET_MIC 4                 /* NetMIC of an access PDU [B2] */
#define RADIO_TRANS_MIC 4               /* TransMIC (32-bit) [Z1] help text */
#define RADIO_UNSEG_HDR 1               /* lower transport header, unsegmented access [B2] §3.5.2 */
#define RADIO_SEG_HDR 4                 /* lower transport header, segmented access [B2] §3.5.2 */
#define RADIO_SEG_SIZE 12               /* upper transport bytes per segment [Z1], [Z2] */
#define RADIO_UNSEG_MAX 11              /* access bytes of an unsegmented message: BT_MESH_SDU_UNSEG_MAX [Z6] */
#define RADIO_SEG_COUNT_MAX 32          /* segments of one message (SegN is 5 bits) [Z2] */
#define RADIO_ACK_NET_PDU 24            /* Segment Acknowledgment: 9 header + 1 opcode + 6 params + 8 NetMIC (RM §1.1) */
#define RADIO_PACKET_OVERHEAD 18        /* preamble 1, access address 4, header 2, AdvA 6, AD length and type 2, CRC 3 */
#define RADIO_US_PER_BYTE 8             /* 1M PHY: 1 µs per bit */
#define RADIO_HOPS_MAX 127              /* a scenario node's hop count; also the largest TTL */
#define RADIO_ROUNDS_MAX 16             /* SAR retransmission counts are 4-bit: at most 15 + 1 rounds */
#define RADIO_TTL_DEFAULT 0xFF          /* in struct radio_msg: use the params' TTL */
#define RADIO_RELAYS_MAX 64             /* relays_per_level */
#define RADIO_LOST UINT64_MAX           /* a receiver's delivery time when it did not get the message */

/* BLOB chunk message (Chunk Transfer): opcode 1 + chunk number 2, before the chunk; TransMIC comes on top [Z8]. */
#define RADIO_CHUNK_MSG_OVERHEAD 3

enum radio_advertiser {
	RADIO_ADV_LEGACY,       /* adv_legacy.c: the thread sleeps a fixed duration per PDU [Z3] */
	RADIO_ADV_EXT,          /* adv_ext.c: an advertising set of k events; the next PDU when it ends [Z4] */
};

/* Every knob. All uint32_t so that one setter-by-name serves them all (radio_param_table). */
struct radio_params {
	uint32_t advertiser;                    /* enum radio_advertiser */
	uint32_t net_transmit_count;            /* transmissions of an originated PDU = count + 1 */
	uint32_t net_transmit_interval_ms;
	uint32_t relay_retransmit_count;        /* transmissions of a relayed PDU = count + 1 */
	uint32_t relay_retransmit_interval_ms;
	uint32_t adv_int_min_ms;                /* shortest advertising interval the controller allows */
	uint32_t adv_delay_max_us;              /* advDelay: uniform 0..this added to every advertising interval */
	uint32_t adv_channels;                  /* channels per advertising event */
	uint32_t channel_switch_us;             /* between two channels of one event */
	uint32_t adv_turnaround_us;             /* ext advertiser: from a set's end to the next set's first event */
	uint32_t relay_processing_us;           /* from a relay hearing a PDU to queueing it on its advertiser */
	uint32_t ttl;                           /* default TTL of originated messages */
	uint32_t seg_max;                       /* segments of one message the senders and receivers accept */
	uint32_t sar_seg_int_step;              /* segment interval (step + 1) x 10 ms */
	uint32_t sar_unicast_retrans_count;
	uint32_t sar_unicast_retrans_without_prog_count;
	uint32_t sar_unicast_retrans_int_step;  /* (step + 1) x 25 ms */
	uint32_t sar_unicast_retrans_int_inc;   /* (inc + 1) x 25 ms per TTL above 1 */
	uint32_t sar_multicast_retrans_count;
	uint32_t sar_multicast_retrans_int_step;        /* (step + 1) x 25 ms */
	uint32_t sar_rx_seg_threshold;          /* acks are retransmitted only for messages of more segments */
	uint32_t sar_rx_ack_delay_inc;          /* ack timer: min(SegN + 0.5, inc + 1.5) segment reception intervals */
	uint32_t sar_rx_seg_int_step;           /* segment reception interval (step + 1) x 10 ms */
	uint32_t sar_rx_discard_timeout;        /* an incomplete message is dropped after (n + 1) x 5 s of silence */
	uint32_t sar_rx_ack_retrans_count;
	uint32_t collisions;                    /* bool: the shared-channel (ALOHA) loss model */
	uint32_t relays_per_hop;                /* relays of each level that forward every PDU (channel load) */
	uint32_t collision_window_ms;           /* time constant of the offered-load estimate */
	uint32_t relays_per_level;              /* relay advertisers of each level that share its relayed traffic */
	uint32_t adv_buf_count;                 /* PDUs a node's advertiser queue holds: a Segment Acknowledgment that
						 * finds it full is dropped (Zephyr sends acks with K_NO_WAIT) */
};

/* Zephyr's defaults (docs/radio-model.md has each with its source). */
void radio_params_zephyr_default(struct radio_params *ret);

/* 0, or -EINVAL with "name: must be MIN..MAX, got V" (or another rule) in @reason. */
int radio_params_check(const struct radio_params *p, char *reason, size_t reason_len);

/* --- knobs by name, for scenario files --- */

enum radio_param_type {
	RADIO_PARAM_UINT,       /* a number from min to max */
	RADIO_PARAM_BOOL,       /* 0 or 1; true / false in JSON */
	RADIO_PARAM_ENUM,       /* one of @names (index min..max); a number is accepted too */
};

struct radio_param_desc {
	const char *name;
	enum radio_param_type type;
	uint32_t min;
	uint32_t max;
	size_t offset;                  /* of the uint32_t in struct radio_params */
	const char *unit;               /* "ms", "us", "step", "" */
	const char *const *names;       /* RADIO_PARAM_ENUM only, max + 1 entries */
	const char *help;               /* one line with its source */
};

extern const struct radio_param_desc radio_param_table[];
extern const size_t radio_param_count;

/* The knob called @name, or NULL. */
const struct radio_param_desc *radio_param_find(const char *name);

/* Sets one knob. 0, or -EINVAL with the reason ("sar_seg_int_step: must be 0..15, got 16") in @reason. */
int radio_param_set_number(struct radio_params *p, const struct radio_param_desc *d, int64_t value,
			   char *reason, size_t reason_len);
/* For RADIO_PARAM_ENUM: one of d->names. */
int radio_param_set_string(struct radio_params *p, const struct radio_param_desc *d, const char *value,
			   char *reason, size_t reason_len);

/* --- timing from first principles (params only) --- */

/* Segments of an access message of @len bytes (opcode and parameters, without TransMIC): 0 when it goes unsegmented
 * (len <= 11), else ceil((len + 4) / 12). -EINVAL for 0 bytes, -EMSGSIZE beyond @seg_max segments. */
int radio_segments(const struct radio_params *p, size_t len);

/* Network PDU bytes: of an unsegmented access message of @len bytes; of segment @index of a message of @len bytes. */
unsigned radio_unseg_pdu_len(size_t len);
unsigned radio_seg_pdu_len(size_t len, unsigned index);

/* Air time of one packet carrying a network PDU of @pdu_len bytes on one channel (47 B → 376 µs for 29). */
uint64_t radio_air_us(unsigned pdu_len);

/* One advertising event: the packet on every channel plus the switches between them (≈ 1.5 ms for a full PDU). */
uint64_t radio_event_us(const struct radio_params *p, unsigned pdu_len);

/* Advertiser occupancy of one PDU sent @count + 1 times at @interval_ms: the expected value (mean advDelay). */
uint64_t radio_occupancy_mean_us(const struct radio_params *p, uint32_t count, uint32_t interval_ms, unsigned pdu_len);

/* Time between two transmissions of one PDU: max(adv_int_min, interval) + mean advDelay. */
uint64_t radio_transmission_spacing_us(const struct radio_params *p, uint32_t interval_ms);

uint64_t radio_seg_interval_us(const struct radio_params *p);
/* The time from one segment's start to the next: max(segment interval, occupancy of a full PDU). */
uint64_t radio_seg_spacing_us(const struct radio_params *p);
uint64_t radio_unicast_retrans_us(const struct radio_params *p, uint32_t ttl);
uint64_t radio_multicast_retrans_us(const struct radio_params *p);
/* The receiver's acknowledgment timer for a message of @segments segments. */
uint64_t radio_ack_timer_us(const struct radio_params *p, unsigned segments);
uint64_t radio_discard_timeout_us(const struct radio_params *p);

/* The no-loss, single-hop time of one access message of @len bytes, from its first PDU to the point the receivers
 * have it (RM §2.2): unsegmented: one occupancy; unicast SAR: (S - 1) spacings + one occupancy + the ack's first
 * event; multicast SAR: R x ((S - 1) spacings + one occupancy) + (R - 1) retransmission intervals. With @hops > 1
 * the slowest advertiser on the path (the relays' occupancy) sets the PDU period, and each further hop adds one
 * event and the relay processing time. -EINVAL / -EMSGSIZE as radio_segments(). */
int radio_message_time_us(const struct radio_params *p, size_t len, bool multicast, unsigned hops, uint64_t *ret_us);

/* Pure ALOHA: the share of transmissions that survive at offered load @g (RM §2.4): e^(-2G). */
double radio_aloha_success(double g);
#define RADIO_ALOHA_G_MAX 0.2           /* RM §2.4 [A]: keep G <= 0.2, i.e. <= 33 % collision loss */

/* RM §2.4: the highest source rate (PDU/s) that keeps G <= 0.2 with @relays relays in range, each PDU sent
 * @transmissions times in events of radio_event_us() of a full PDU. */
double radio_flood_pdu_rate_max(const struct radio_params *p, unsigned relays, unsigned transmissions);

/* --- the lower bound (RM §2.5) --- */

enum radio_bound_mode {
	RADIO_BOUND_GROUP,      /* multicast chunks, ideal group rounds: responses back to back */
	RADIO_BOUND_POLL,       /* multicast chunks, each target polled in turn in every control round */
	RADIO_BOUND_UNICAST,    /* every chunk to every target separately (unicast SAR), targets polled */
};

#define RADIO_BOUND_START_ROUNDS 3      /* DFU start, BLOB start, capabilities (RM §2.5 [A]) */
#define RADIO_BOUND_BLOCK_ROUNDS 2      /* Block Start, Block Get/Status (RM §2.5 [A]) */
#define RADIO_BOUND_END_ROUNDS 3        /* verify, apply, confirm (RM §2.5 [A]) */
#define RADIO_BOUND_ROUND_MIN_US 300000 /* the shortest group round (RM §2.5 [A]) */
#define RADIO_BOUND_POLL_PDUS 2         /* a polled exchange: request + response PDU (RM §2.5 [A]) */

struct radio_bound {
	uint32_t blocks;
	uint64_t chunks;
	uint64_t data_us;               /* every chunk once (x targets in unicast mode), no loss */
	uint32_t rounds;                /* control rounds */
	uint64_t round_us;              /* cost of one control round at this N */
	uint64_t control_us;            /* rounds x round_us */
	uint64_t total_us;
	double goodput;                 /* image bytes per second of the data phase */
};

/* The lower bound of pushing an image of @image_size bytes in blocks of @block_size (a power of two, 64..2^20) and
 * chunks of @chunk_size bytes to @targets targets at most @hops hops away: data phase + control rounds x round cost.
 * 0, or -EINVAL / -EMSGSIZE (a chunk that does not fit seg_max segments) with the reason in @ret_reason. */
int radio_bound(const struct radio_params *p, uint64_t image_size, uint32_t block_size, uint32_t chunk_size,
		uint32_t targets, unsigned hops, enum radio_bound_mode mode, struct radio_bound *ret,
		const char **ret_reason);

/* --- the transmission model --- */

struct radio_node {
	uint8_t hops;                   /* level: 0 for the dongle */
	double loss;                    /* per transmission of one PDU on each link of the node's paths, 0..1 */
	uint64_t adv_free_us;           /* the advertiser is free from then on */
	uint64_t sar_free_us;           /* the one segmented-message context (TX_SEG_MSG_COUNT = 1) is free */
	uint8_t sar_multicast_retrans_count;    /* this node's SAR Transmitter state (radio_node_set_sar_multicast()) */
	uint8_t sar_multicast_retrans_int_step;
	double load_air_us;             /* collision model: this node's recent air time, decayed */
	uint64_t load_at_us;
};

struct radio_msg {
	uint32_t from;                  /* node index */
	uint64_t now_us;                /* when the sender hands it to the mesh stack */
	size_t len;                     /* access payload: opcode and parameters */
	bool unicast;                   /* to one unicast address (acknowledged SAR), else to a group */
	uint32_t ttl;                   /* 0, 2..127, or RADIO_TTL_DEFAULT */
};

/* What one radio_send() did at the sender. */
struct radio_tx {
	uint64_t start_us;              /* first PDU on the air */
	uint64_t adv_free_us;           /* the sender's advertiser is free again */
	uint64_t done_us;               /* the sender's transport is done with it (Zephyr's send end callback) */
	uint32_t segments;              /* 0: unsegmented */
	uint32_t rounds;                /* SAR rounds sent */
	uint32_t pdus;                  /* network PDUs the sender queued (each sent count + 1 times) */
	bool acked;                     /* unicast SAR: the sender saw the receiver's complete ack */
};

/* radio_send()'s figures for one path length (radio.c, pass_lookup()) */
struct radio_pass {
	uint64_t message;               /* valid for radio.messages == this */
	double loss;
	double q;                       /* one PDU crosses the path */
	double cdf[8 + 1];              /* last link: got through by its i-th transmission, given it did (k <= 8) */
	double round_p[RADIO_ROUNDS_MAX + 1];   /* multicast SAR: complete by round j */
};

struct radio {
	struct radio_params p;
	struct rng rng;
	struct radio_node *nodes;       /* owned, @nodes_max */
	uint32_t nodes_max;
	uint64_t relay_free_us[RADIO_HOPS_MAX + 1][RADIO_RELAYS_MAX];   /* the advertisers of each level's relays */
	double load_air_us;             /* collision model: all recent air time, decayed */
	uint64_t load_at_us;
	/* scratch of radio_send(): per round and level, when the sender heard at that level started sending the
	 * round's last segment */
	uint64_t round_tx_us[RADIO_ROUNDS_MAX][RADIO_HOPS_MAX + 1];
	uint64_t pdu_tx_us[RADIO_HOPS_MAX + 1];
	struct radio_pass pass[RADIO_HOPS_MAX + 1];
	/* counters */
	uint64_t messages;
	uint64_t pdus;                  /* network PDUs originated */
	uint64_t pdus_relayed;          /* PDUs forwarded, counted once per level */
	uint64_t deliveries;
	uint64_t losses;                /* receivers that did not get a message */
	uint64_t out_of_range;          /* receivers farther than the TTL allows */
	uint64_t sar_failures;          /* unicast SAR transactions that ran out of retransmissions */
	uint64_t acks_dropped;          /* Segment Acknowledgments that found their sender's advertiser queue full */
};

/* @nodes_max nodes, all at level 0 without loss until radio_node_set(). The params must pass radio_params_check().
 * Returns 0, -EINVAL (bad params or nodes_max 0), or -ENOMEM. */
int radio_init(struct radio *r, const struct radio_params *p, uint32_t nodes_max, uint64_t seed);
void radio_done(struct radio *r);

/* 0, or -EINVAL for a node index out of range, hops > 127 or a loss outside 0..1. */
int radio_node_set(struct radio *r, uint32_t node, unsigned hops, double loss);

/* A node's own SAR Transmitter state for group destinations (Mesh 1.1 SAR Configuration: SAR Multicast
 * Retransmissions Count 0..15 and Interval Step 0..15); radio_init() gives every node the params' values. The
 * Distributor sets its own (docs/distribution.md, "The dongle's own SAR settings"). 0, or -EINVAL. */
int radio_node_set_sar_multicast(struct radio *r, uint32_t node, unsigned count, unsigned int_step);

/* Sends one access message from m->from to the @n_to nodes of @to (exactly one when m->unicast). For each receiver
 * @ret_at gets the time it has the whole message, or RADIO_LOST. Costs O(n_to + PDUs x levels) and draws from the
 * radio's stream only: the same seed and the same calls give the same results.
 * Returns 0; -EINVAL (bad node, n_to, TTL or length 0), -EMSGSIZE (more than seg_max segments); nothing changes
 * then. */
int radio_send(struct radio *r, const struct radio_msg *m, const uint32_t *to, uint32_t n_to, uint64_t *ret_at,
	       struct radio_tx *ret);

#endif
