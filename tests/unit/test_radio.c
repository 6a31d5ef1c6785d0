/* Unit tests for firmware_dongle/sim/radio.c: the worked numbers of ../shared/reference/radio-model.md ("RM", §1-2)
 * from the timing functions and radio_bound(); the loss model's statistics against the analytic probabilities, with
 * tolerances of a few binomial standard deviations; exact event times at zero loss; determinism of one seed; and
 * every kind of bad params and arguments.
 *
 * Where RM rounds (its "≈50 ms" per PDU of the ext advertiser is 2 x (20 + 5) + 1.1 = 51.1 ms rounded; our default
 * is 51.5 ms because the event includes the channel switches), the test either checks our exact value and the
 * documented difference, or runs the RM arithmetic with adv_delay_max_us = 8500, which makes the mean exactly 50 ms:
 * docs/radio-model.md, "What the model reproduces". */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radio.h"
#include "tap.h"

#define MS 1000ull
#define MIN_US 60e6

/* |got - want| <= tol, with both shown */
#define near(got, want, tol, ...) do { \
	double g_ = (double)(got), w_ = (double)(want), t_ = (double)(tol); \
	if (!tap_report(fabs(g_ - w_) <= t_, __FILE__, __LINE__, __VA_ARGS__)) \
		printf("#   got: %.6g\n#   expected: %.6g +- %.3g\n", g_, w_, t_); \
} while (0)

/* A figure RM prints as @shown with its last digit at @unit: ours must round to it (half a unit, plus float slack). */
#define as_printed(got, shown, unit, ...) near(got, shown, (unit) * 0.5 * 1.000001, __VA_ARGS__)

static struct radio_params defaults(void)
{
	struct radio_params p;

	radio_params_zephyr_default(&p);
	return p;
}

/* RM's rounded 50 ms per PDU of the ext advertiser: 2 x (20 + 4.25) + 1.5 = 50.0 */
static struct radio_params rm50(void)
{
	struct radio_params p = defaults();

	p.adv_delay_max_us = 8500;
	return p;
}

static uint64_t msg_time(const struct radio_params *p, size_t len, bool multicast)
{
	uint64_t t = 0;
	int err = radio_message_time_us(p, len, multicast, 1, &t);

	if (err)
		printf("# radio_message_time_us(%zu): %d\n", len, err);
	return t;
}

static struct radio_bound bound(const struct radio_params *p, uint64_t image, uint32_t chunk, uint32_t n,
				enum radio_bound_mode mode)
{
	struct radio_bound b = { 0 };
	const char *reason = NULL;

	if (radio_bound(p, image, 4096, chunk, n, 1, mode, &b, &reason))
		printf("# radio_bound: %s\n", reason);
	return b;
}

static void test_defaults_and_sizes(void)
{
	struct radio_params p = defaults();
	char reason[160] = "";

	is_int(radio_params_check(&p, reason, sizeof(reason)), 0, "Zephyr's defaults pass the check (%s)", reason);
	is_int(p.advertiser, RADIO_ADV_EXT, "ext advertiser by default");
	is_int(p.net_transmit_count, 2, "network transmit count 2");
	is_int(p.net_transmit_interval_ms, 20, "network transmit interval 20 ms");
	is_int(p.relay_retransmit_count, 2, "relay retransmit count 2");
	is_int(p.ttl, 7, "TTL 7");

	/* RM §0 rows 1-3, §1.1, §1.2 */
	is_int(radio_air_us(RADIO_NET_PDU_MAX), 376, "full mesh packet: 47 B = 376 us per channel");
	is_int(radio_air_us(RADIO_ACK_NET_PDU), 336, "Segment Acknowledgment packet: 42 B = 336 us");
	is_int(3 * radio_air_us(RADIO_NET_PDU_MAX), 1128, "3 channels: 1.128 ms on air");
	is_int(radio_event_us(&p, RADIO_NET_PDU_MAX), 1500, "event with channel switches: 1.5 ms [A]");
	is_int(radio_unseg_pdu_len(RADIO_UNSEG_MAX), RADIO_NET_PDU_MAX, "11 access bytes fill one network PDU");
	is_int(radio_seg_pdu_len(68, 0), RADIO_NET_PDU_MAX, "a full segment fills one network PDU");
	is_int(radio_seg_pdu_len(20, 1), 9 + 4 + 12 + 4, "second segment of 20 + 4 bytes: 12 bytes");
	is_int(radio_seg_pdu_len(21, 1), 9 + 4 + 12 + 4, "second of 21 + 4 bytes: full");
	is_int(radio_seg_pdu_len(22, 2), 9 + 4 + 2 + 4, "third of 22 + 4 bytes: 2 bytes");

	is_int(radio_segments(&p, 0), -EINVAL, "0 bytes: refused");
	is_int(radio_segments(&p, 1), 0, "1 byte: unsegmented");
	is_int(radio_segments(&p, 8 + RADIO_CHUNK_MSG_OVERHEAD), 0, "8 B chunk = 11 B message: unsegmented");
	is_int(radio_segments(&p, 12), 2, "12 B: 16 B with TransMIC, 2 segments");
	is_int(radio_segments(&p, 65 + RADIO_CHUNK_MSG_OVERHEAD), 6, "65 B chunk: 72 B SDU, 6 segments");
	is_int(radio_segments(&p, 377 + RADIO_CHUNK_MSG_OVERHEAD), 32, "377 B chunk: 384 B, 32 segments");
	is_int(radio_segments(&p, 378 + RADIO_CHUNK_MSG_OVERHEAD), -EMSGSIZE, "378 B chunk: more than 32 segments");
	p.seg_max = 6;
	is_int(radio_segments(&p, 68), 6, "seg_max 6: 68 B fits");
	is_int(radio_segments(&p, 69), -EMSGSIZE, "seg_max 6: 69 B does not");
}

static void test_advertiser(void)
{
	struct radio_params p = defaults();
	struct radio_params legacy = defaults();
	struct radio r;
	uint64_t lo = UINT64_MAX, hi = 0, sum = 0;
	const unsigned n = 4000;
	uint32_t to = 1;

	legacy.advertiser = RADIO_ADV_LEGACY;
	/* RM §0 row 8, §1.4: 20 + 3 x (20 + 10) */
	is_int(radio_occupancy_mean_us(&legacy, 2, 20, RADIO_NET_PDU_MAX), 110 * MS, "legacy: 110 ms per PDU");
	legacy.net_transmit_interval_ms = 50;
	is_int(radio_occupancy_mean_us(&legacy, 2, 50, RADIO_NET_PDU_MAX), 50 * MS + 3 * 60 * MS,
	       "legacy at 50 ms: adv_int + (count + 1) x (adv_int + 10)");
	/* RM §1.4: 2 x (20 + 5) + event; RM rounds 51.1 (1.1 ms event) to 50, ours has the 1.5 ms event */
	is_int(radio_occupancy_mean_us(&p, 2, 20, RADIO_NET_PDU_MAX), 51500, "ext: 2 x (20 + 5) + 1.5 = 51.5 ms");
	ok(radio_occupancy_mean_us(&p, 2, 20, RADIO_NET_PDU_MAX) < 3 * (20 + 10) * MS,
	   "ext below Zephyr's upper-bound estimate num_events x (adv_int + 10) = 90 ms");
	is_int(radio_occupancy_mean_us(&p, 2, 10, RADIO_NET_PDU_MAX), 51500, "an interval below 20 ms counts as 20");
	is_int(radio_occupancy_mean_us(&p, 0, 20, RADIO_NET_PDU_MAX), 1500, "one transmission: one event");

	/* the drawn occupancy stays in RM's range 41-61 ms (+ the 0.4 ms of channel switches) and averages out */
	radio_init(&r, &p, 2, 1);
	radio_node_set(&r, 1, 1, 0);
	for (unsigned i = 0; i < n; i++) {
		struct radio_msg m = { .from = 0, .now_us = r.nodes[0].adv_free_us, .len = 5,
				       .ttl = RADIO_TTL_DEFAULT };
		struct radio_tx tx;
		uint64_t at, d;

		radio_send(&r, &m, &to, 1, &at, &tx);
		d = tx.adv_free_us - tx.start_us;
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
		sum += d;
	}
	ok(lo >= 41500 && hi <= 61500, "drawn ext occupancy within 41.5..61.5 ms (got %.1f..%.1f)", lo / 1e3, hi / 1e3);
	/* the sum of two uniform 0..10 ms delays: standard deviation 10 / sqrt(6) ms per PDU */
	near((double)sum / n, (double)radio_occupancy_mean_us(&p, 2, 20, radio_unseg_pdu_len(5)),
	     4 * 10000 / sqrt(6) / sqrt(n), "mean drawn occupancy of a 5 B message: 2 x 25 ms + its event");
	radio_done(&r);
}

static void test_sar_timers(void)
{
	struct radio_params p = defaults();

	is_int(radio_seg_interval_us(&p), 60 * MS, "segment interval (5 + 1) x 10 = 60 ms");
	is_int(radio_seg_spacing_us(&p), 60 * MS, "ext: spacing max(60, 51.5) = 60 ms");
	p.advertiser = RADIO_ADV_LEGACY;
	is_int(radio_seg_spacing_us(&p), 110 * MS, "legacy: spacing max(60, 110) = 110 ms");
	p = defaults();
	p.sar_seg_int_step = 0;
	is_int(radio_seg_interval_us(&p), 10 * MS, "SAR floor: 10 ms per segment");
	as_printed(12.0 / 0.010 / 1000, 1.2, 0.1, "RM §2.2: at most 1.2 kB/s of segment payload");
	p = defaults();
	is_int(radio_unicast_retrans_us(&p, 7), 500 * MS, "unicast retransmission at TTL 7: 200 + 6 x 50 ms");
	is_int(radio_unicast_retrans_us(&p, 0), 200 * MS, "at TTL 0: 200 ms");
	is_int(radio_multicast_retrans_us(&p), 250 * MS, "multicast retransmission interval 250 ms");
	is_int(radio_ack_timer_us(&p, 6), 150 * MS, "ack timer for >= 3 segments: 2.5 x 60 = 150 ms");
	is_int(radio_ack_timer_us(&p, 2), 90 * MS, "ack timer for 2 segments: 1.5 x 60 = 90 ms");
	is_int(radio_discard_timeout_us(&p), 10000 * MS, "discard timeout 10 s");
}

/* RM §2.3, one row per check: time per chunk and goodput */
static void test_chunk_table(void)
{
	struct radio_params ext = defaults(), legacy = defaults(), tuned = defaults();
	uint64_t ack = radio_event_us(&ext, RADIO_ACK_NET_PDU);
	uint64_t t;

	legacy.advertiser = RADIO_ADV_LEGACY;
	is_int(ack, 1380, "the ack's first event: 3 x 336 + 2 x 186 us");

	t = msg_time(&legacy, 11, true);
	is_int(t, 110 * MS, "8 B chunk, legacy: 110 ms");
	as_printed(8e6 / t, 73, 1, "  goodput 73 B/s");
	t = msg_time(&ext, 11, true);
	is_int(t, 51500, "8 B chunk, ext: 51.5 ms (RM: ~50)");
	as_printed(8e6 / t, 160, 10, "  goodput 160 B/s at RM's two significant digits");
	is_int(msg_time(&ext, 11, false), t, "  unicast costs the same unsegmented");

	t = msg_time(&legacy, 68, false);
	is_int(t - ack, 5 * 110 * MS + 110 * MS, "65 B legacy unicast: 5 x 110 + 110 = 660 ms (+ the ack's event)");
	as_printed(65e6 / t, 98, 1, "  goodput 98 B/s");
	t = msg_time(&ext, 68, false);
	is_int(t - ack, 5 * 60 * MS + 51500, "65 B ext unicast: 5 x 60 + 51.5 ms (RM: 350 with 50)");
	near(65e6 / t, 186, 2, "  goodput 186 B/s (ours 184: 51.5 ms PDUs and the ack's event)");
	t = msg_time(&legacy, 68, true);
	is_int(t, 3 * 660 * MS + 500 * MS, "65 B legacy multicast: 3 x 660 + 500 = 2.48 s");
	as_printed(65e6 / t, 26, 1, "  goodput 26 B/s");
	t = msg_time(&ext, 68, true);
	as_printed(t / 1e6, 1.55, 0.01, "65 B ext multicast: 3 x 350 + 500 = 1.55 s");
	as_printed(65e6 / t, 42, 1, "  goodput 42 B/s");
	t = msg_time(&ext, 380, false);
	as_printed((t - ack) / 1e6, 1.91, 0.01, "377 B ext unicast: 31 x 60 + 50 = 1.91 s");
	as_printed(377e6 / t, 197, 1, "  goodput 197 B/s");
	t = msg_time(&ext, 380, true);
	as_printed(t / 1e6, 6.23, 0.01, "377 B ext multicast: 3 x 1.91 + 0.5 = 6.23 s");
	near(377e6 / t, 61, 1, "  goodput 61 B/s (ours 60.5: RM rounds 1.91 first)");

	/* tuned rows [A]: 1 transmission, ~5 ms per PDU including HCI turnaround, segment interval 10 ms, no
	 * multicast retransmissions */
	tuned.net_transmit_count = 0;
	tuned.adv_turnaround_us = 3500;
	tuned.sar_seg_int_step = 0;
	tuned.sar_multicast_retrans_count = 0;
	t = msg_time(&tuned, 68, true);
	is_int(t, 5 * 10 * MS + 5 * MS, "65 B tuned multicast: 5 x 10 + 5 = 55 ms");
	as_printed(65e3 / t, 1.18, 0.01, "  goodput 1.18 kB/s");
	t = msg_time(&tuned, 11, true);
	is_int(t, 5 * MS, "8 B tuned: 5 ms");
	as_printed(8e3 / t, 1.6, 0.1, "  goodput 1.6 kB/s");
	/* the radio ceiling: back-to-back 1.5 ms events */
	tuned.adv_turnaround_us = 0;
	t = msg_time(&tuned, 11, true);
	is_int(t, 1500, "ceiling, 1 transmission: 1.5 ms per PDU");
	as_printed(8e3 / t, 5.3, 0.1, "  8 B per PDU: 5.3 kB/s");
	as_printed(12e3 / t, 8.0, 0.1, "  12 B per PDU: 8.0 kB/s");
	as_printed(8e3 / (3.0 * t), 1.8, 0.1, "  3 transmissions (4.5 ms): 1.8 kB/s");
	as_printed(12e3 / (3.0 * t), 2.7, 0.1, "  3 transmissions: 2.7 kB/s");
}

/* RM §2.4 */
static void test_flood_table(void)
{
	struct radio_params p = defaults();
	static const struct { unsigned relays; double k3, k3_unit, k1, k1_unit; } rows[] = {
		{ 0, 44, 1, 133, 1 }, { 1, 22, 1, 67, 1 }, { 2, 15, 1, 44, 1 }, { 4, 8.9, 0.1, 27, 1 },
		{ 9, 4.4, 0.1, 13, 1 },
	};

	near(radio_aloha_success(RADIO_ALOHA_G_MAX), 0.67, 0.005, "ALOHA at G = 0.2: 33 %% collision loss");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		as_printed(radio_flood_pdu_rate_max(&p, rows[i].relays, 3), rows[i].k3, rows[i].k3_unit,
			   "R = %u, k = 3: %g PDU/s", rows[i].relays, rows[i].k3);
		as_printed(radio_flood_pdu_rate_max(&p, rows[i].relays, 1), rows[i].k1, rows[i].k1_unit,
			   "R = %u, k = 1: %g PDU/s", rows[i].relays, rows[i].k1);
	}
	as_printed(100000 / (radio_flood_pdu_rate_max(&p, 0, 3) * 8) / 60, 4.7, 0.1, "R = 0, k = 3: 100 kB in 4.7 min");
}

/* RM §2.5 */
static void test_bound_tables(void)
{
	struct radio_params p = rm50(), legacy = defaults(), tuned = defaults(), ceiling;
	struct radio_bound b;
	static const struct { uint32_t n; double poll100, group100, poll300, group300; } totals[] = {
		{ 1, 10.5, 10.7, 31.5, 32.0 }, { 10, 11.3, 10.7, 33.8, 32.0 }, { 100, 19.7, 10.8, 57, 32.4 },
		{ 1000, 104, 14.6, 288, 43 },
	};

	legacy.advertiser = RADIO_ADV_LEGACY;
	tuned.net_transmit_count = 0;
	tuned.adv_turnaround_us = 3500;
	ceiling = tuned;
	ceiling.adv_turnaround_us = 0;

	b = bound(&p, 100000, 8, 1, RADIO_BOUND_GROUP);
	is_int(b.blocks, 25, "100 kB: 25 blocks of 4096 B");
	is_int(b.chunks, 12500, "100 kB: 12500 chunks of 8 B");
	is_int(b.rounds, 56, "100 kB: 56 control rounds");
	is_int(bound(&p, 300000, 8, 1, RADIO_BOUND_GROUP).rounds, 154, "300 kB: 154 control rounds");

	/* data phase alone */
	as_printed(bound(&p, 100000, 8, 1, RADIO_BOUND_GROUP).data_us / MIN_US, 10.4, 0.1, "defaults, 8 B: 10.4 min");
	as_printed(bound(&p, 300000, 8, 1, RADIO_BOUND_GROUP).data_us / MIN_US, 31, 1, "  300 kB: 31 min");
	b = bound(&legacy, 100000, 8, 1, RADIO_BOUND_GROUP);
	as_printed(b.data_us / MIN_US, 23, 1, "legacy, 8 B: 23 min");
	as_printed(b.goodput, 73, 1, "  goodput 73 B/s");
	as_printed(bound(&legacy, 300000, 8, 1, RADIO_BOUND_GROUP).data_us / MIN_US, 69, 1, "  300 kB: 69 min");
	as_printed(bound(&p, 100000, 65, 1, RADIO_BOUND_GROUP).data_us / MIN_US, 40, 1, "ext, 65 B multicast: 40 min");
	as_printed(bound(&p, 300000, 65, 1, RADIO_BOUND_GROUP).data_us / MIN_US, 119, 1, "  300 kB: 119 min");
	as_printed(bound(&legacy, 100000, 65, 1, RADIO_BOUND_GROUP).data_us / MIN_US, 64, 1,
		   "legacy, 65 B multicast: 64 min");
	as_printed(bound(&legacy, 300000, 65, 1, RADIO_BOUND_GROUP).data_us / MIN_US, 191, 1, "  300 kB: 191 min");
	as_printed(bound(&tuned, 100000, 8, 1, RADIO_BOUND_GROUP).data_us / MIN_US, 1.0, 0.1,
		   "ext, 1 transmission, 5 ms/PDU [A]: 1.0 min");
	as_printed(bound(&tuned, 300000, 8, 1, RADIO_BOUND_GROUP).data_us / MIN_US, 3.1, 0.1, "  300 kB: 3.1 min");
	as_printed(bound(&ceiling, 100000, 8, 1, RADIO_BOUND_GROUP).data_us / 1e6, 19, 1, "ceiling, 8 B: 19 s");
	as_printed(bound(&ceiling, 300000, 8, 1, RADIO_BOUND_GROUP).data_us / 1e6, 56, 1, "  300 kB: 56 s");

	/* with control rounds */
	for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++) {
		uint32_t n = totals[i].n;

		as_printed(bound(&p, 100000, 8, n, RADIO_BOUND_POLL).total_us / MIN_US, totals[i].poll100,
			   totals[i].poll100 >= 100 ? 1 : 0.1, "N = %u, 100 kB, polling: %g min", n, totals[i].poll100);
		as_printed(bound(&p, 100000, 8, n, RADIO_BOUND_GROUP).total_us / MIN_US, totals[i].group100, 0.1,
			   "N = %u, 100 kB, group rounds: %g min", n, totals[i].group100);
		as_printed(bound(&p, 300000, 8, n, RADIO_BOUND_POLL).total_us / MIN_US, totals[i].poll300,
			   totals[i].poll300 >= 50 ? 1 : 0.1, "N = %u, 300 kB, polling: %g min", n, totals[i].poll300);
		as_printed(bound(&p, 300000, 8, n, RADIO_BOUND_GROUP).total_us / MIN_US, totals[i].group300,
			   totals[i].group300 >= 40 ? 1 : 0.1, "N = %u, 300 kB, group rounds: %g min", n,
			   totals[i].group300);
	}

	/* the real defaults (51.5 ms per PDU) and the other modes */
	p = defaults();
	b = bound(&p, 100000, 8, 1000, RADIO_BOUND_GROUP);
	is_int(b.data_us, 12500 * 51500ull, "defaults: 12500 chunks x 51.5 ms");
	is_int(b.round_us, 1000 * 3 * 1500, "N = 1000 group round: 1000 x 3 x 1.5 ms");
	is_int(b.total_us, b.data_us + 56 * b.round_us, "total = data + rounds x round");
	b = bound(&p, 100000, 8, 10, RADIO_BOUND_UNICAST);
	is_int(b.data_us, 10 * 12500 * 51500ull, "unicast: the data phase once per target");
	{
		struct radio_bound one, three;
		const char *reason = NULL;

		radio_bound(&p, 100000, 4096, 8, 100, 1, RADIO_BOUND_GROUP, &one, &reason);
		radio_bound(&p, 100000, 4096, 8, 100, 3, RADIO_BOUND_GROUP, &three, &reason);
		is_int(three.data_us, one.data_us, "3 hops, relays as fast as the source: same data phase");
		ok(three.round_us > one.round_us, "3 hops: each group round costs more (relayed responses)");
		p.relay_retransmit_count = 4;
		radio_bound(&p, 100000, 4096, 8, 100, 3, RADIO_BOUND_GROUP, &three, &reason);
		is_int(three.data_us, 12500 * radio_occupancy_mean_us(&p, 4, 20, RADIO_NET_PDU_MAX),
		       "slower relays (5 transmissions) set the pace of a multi-hop stream");
	}
}

/* --- the transmission model --- */

/* one sender (node 0, the dongle) and @n receivers at @hops with @loss */
static void setup(struct radio *r, const struct radio_params *p, uint32_t n, unsigned hops, double loss,
		  uint64_t seed, uint32_t *to)
{
	int err = radio_init(r, p, n + 1, seed);

	if (err)
		printf("# radio_init: %d\n", err);
	for (uint32_t i = 1; i <= n; i++) {
		radio_node_set(r, i, hops, loss);
		to[i - 1] = i;
	}
}

/* delivered count of @trials with probability @prob: within 4 binomial standard deviations */
#define binomial(count, trials, prob, ...) do { \
	double n_ = (double)(trials), p_ = (prob); \
	near((double)(count), n_ * p_, 4 * sqrt(n_ * p_ * (1 - p_)), __VA_ARGS__); \
} while (0)

static uint64_t at[1000];
static uint32_t to[1000];

static void test_exact_times(void)
{
	struct radio_params p = defaults();
	struct radio r;
	struct radio_msg m = { .from = 0, .now_us = 1000 * MS, .len = 5, .ttl = RADIO_TTL_DEFAULT };
	struct radio_tx tx, tx2;
	uint64_t ev5 = radio_event_us(&p, radio_unseg_pdu_len(5));
	uint64_t ev29 = radio_event_us(&p, RADIO_NET_PDU_MAX);
	uint64_t occ;

	p.adv_delay_max_us = 0;         /* no randomness in the occupancy */
	occ = radio_occupancy_mean_us(&p, 2, 20, radio_unseg_pdu_len(5));
	setup(&r, &p, 1, 1, 0, 1, to);
	radio_node_set(&r, 1, 3, 0);
	is_int(radio_send(&r, &m, to, 1, at, &tx), 0, "send to a node 3 hops away");
	is_int(tx.start_us, m.now_us, "starts at once");
	is_int(tx.adv_free_us, m.now_us + occ, "advertiser busy for one occupancy");
	is_int(at[0], m.now_us + 3 * ev5, "3 hops: each relay sends after hearing the first event");
	is_int(radio_send(&r, &m, to, 1, at, &tx2), 0, "a second message at the same time");
	is_int(tx2.start_us, tx.adv_free_us, "waits for the sender's advertiser");
	is_int(at[0], tx2.start_us + 3 * ev5, "relays keep up (same occupancy)");
	is_int(r.pdus_relayed, 4, "2 PDUs x 2 relay levels");
	radio_done(&r);

	/* unicast SAR, no loss: 6 segments 60 ms apart, the receiver acks at once */
	setup(&r, &p, 1, 1, 0, 1, to);
	m = (struct radio_msg){ .from = 0, .now_us = 0, .len = 68, .unicast = true, .ttl = RADIO_TTL_DEFAULT };
	is_int(radio_send(&r, &m, to, 1, at, &tx), 0, "unicast 68 B");
	is_int(tx.segments, 6, "6 segments");
	is_int(tx.rounds, 1, "one round");
	ok(tx.acked, "acked");
	is_int(at[0], 5 * 60 * MS + ev29, "delivered with the last segment's first event");
	is_int(tx.done_us, at[0] + radio_event_us(&p, RADIO_ACK_NET_PDU), "done when the ack's first event ends");
	is_int(r.nodes[1].adv_free_us, at[0] + radio_occupancy_mean_us(&p, 2, 20, RADIO_ACK_NET_PDU),
	       "the ack occupies the receiver's advertiser");
	m.unicast = false;
	m.now_us = 0;
	is_int(radio_send(&r, &m, to, 1, at, &tx), 0, "a group message right after");
	is_int(tx.start_us, 5 * 60 * MS + radio_occupancy_mean_us(&p, 2, 20, RADIO_NET_PDU_MAX),
	       "segmented: after the previous transaction (its ack) and the advertiser's last PDU");
	is_int(tx.rounds, 3, "multicast: 3 rounds");
	is_int(tx.pdus, 18, "18 PDUs");
	is_int(tx.done_us - tx.adv_free_us, 250 * MS, "done one retransmission interval after the last round");
	is_int(at[0], tx.start_us + 5 * 60 * MS + ev29, "no loss: complete in the first round");
	radio_done(&r);

	/* TTL */
	setup(&r, &p, 3, 1, 0, 1, to);
	radio_node_set(&r, 2, 2, 0);
	radio_node_set(&r, 3, 3, 0);
	m = (struct radio_msg){ .from = 0, .len = 5, .ttl = 2 };
	radio_send(&r, &m, to, 3, at, &tx);
	ok(at[0] != RADIO_LOST && at[1] != RADIO_LOST, "TTL 2 reaches hops 1 and 2");
	ok(at[2] == RADIO_LOST, "TTL 2 does not reach hop 3");
	m.ttl = 0;
	radio_send(&r, &m, to, 3, at, &tx);
	ok(at[0] != RADIO_LOST && at[1] == RADIO_LOST, "TTL 0 reaches hop 1 only");
	is_int(r.out_of_range, 3, "3 receivers out of range counted");
	/* a node answers the dongle: relayed inwards */
	m = (struct radio_msg){ .from = 3, .now_us = 10000 * MS, .len = 5, .ttl = RADIO_TTL_DEFAULT };
	to[0] = 0;
	radio_send(&r, &m, to, 1, at, &tx);
	is_int(at[0], tx.start_us + 3 * ev5, "hop 3 to the dongle: 3 events");
	radio_done(&r);
}

static void test_statistics(void)
{
	struct radio_params p = defaults();
	struct radio r;
	struct radio_msg m = { .from = 0, .len = 5, .ttl = RADIO_TTL_DEFAULT };
	struct radio_tx tx;
	uint64_t delivered = 0, first = 0, trials = 0, round1 = 0;
	double loss, q;

	/* unsegmented, 1 hop, loss 0.5 per transmission, 3 transmissions: 1 - 0.5^3 */
	loss = 0.5;
	setup(&r, &p, 1000, 1, loss, 7, to);
	for (unsigned k = 0; k < 200; k++) {
		radio_send(&r, &m, to, 1000, at, &tx);
		m.now_us = tx.adv_free_us;
		for (unsigned i = 0; i < 1000; i++) {
			trials++;
			if (at[i] == RADIO_LOST)
				continue;
			delivered++;
			first += at[i] == tx.start_us + radio_event_us(&p, radio_unseg_pdu_len(5));
		}
	}
	binomial(delivered, trials, 1 - pow(loss, 3), "unsegmented, loss 0.5: delivered share 0.875");
	binomial(first, delivered, (1 - loss) / (1 - pow(loss, 3)), "  got with the first transmission: 0.571");
	is_int(r.deliveries, delivered, "  deliveries counted");
	is_int(r.losses, trials - delivered, "  losses counted");
	radio_done(&r);

	/* 3 hops, loss 0.3 on each link */
	loss = 0.3;
	delivered = trials = 0;
	setup(&r, &p, 1000, 3, loss, 8, to);
	for (unsigned k = 0; k < 100; k++) {
		radio_send(&r, &m, to, 1000, at, &tx);
		m.now_us = tx.adv_free_us;
		for (unsigned i = 0; i < 1000; i++, trials++)
			delivered += at[i] != RADIO_LOST;
	}
	binomial(delivered, trials, pow(1 - pow(loss, 3), 3), "3 hops, loss 0.3: (1 - 0.3^3)^3 = 0.921");
	radio_done(&r);

	/* multicast SAR: 6 segments, 3 rounds, loss 0.7: (1 - (0.7^3)^3)^6 */
	loss = 0.7;
	q = 1 - pow(loss, 3);
	delivered = trials = 0;
	setup(&r, &p, 1000, 1, loss, 9, to);
	m.len = 68;
	for (unsigned k = 0; k < 50; k++) {
		radio_send(&r, &m, to, 1000, at, &tx);
		m.now_us = tx.done_us;
		for (unsigned i = 0; i < 1000; i++, trials++) {
			delivered += at[i] != RADIO_LOST;
			/* round 1 ends within 6 x 61.5 ms; round 2 starts 250 ms after it */
			round1 += at[i] != RADIO_LOST && at[i] < tx.start_us + 450 * MS;
		}
	}
	binomial(delivered, trials, pow(1 - pow(1 - q, 3), 6), "multicast SAR, loss 0.7: 0.781");
	binomial(round1, trials, pow(q, 6), "  complete after the first round: q^6 = 0.081");
	radio_done(&r);

	/* unicast SAR without retransmissions: every segment in the one round, q^6 */
	p.sar_unicast_retrans_count = 0;
	loss = 0.5;
	q = 1 - pow(loss, 3);
	delivered = trials = 0;
	setup(&r, &p, 1, 1, loss, 10, to);
	m = (struct radio_msg){ .from = 0, .len = 68, .unicast = true, .ttl = RADIO_TTL_DEFAULT };
	for (unsigned k = 0; k < 3000; k++, trials++) {
		radio_send(&r, &m, to, 1, at, &tx);
		m.now_us = tx.done_us;
		delivered += at[0] != RADIO_LOST;
	}
	binomial(delivered, trials, pow(q, 6), "unicast SAR, no retransmission, loss 0.5: q^6 = 0.449");
	ok(r.sar_failures > 0, "  failures counted (%llu)", (unsigned long long)r.sar_failures);
	radio_done(&r);

	/* with Zephyr's retransmissions the same loss delivers more */
	p = defaults();
	delivered = 0;
	setup(&r, &p, 1, 1, loss, 10, to);
	m.now_us = 0;
	for (unsigned k = 0; k < 3000; k++) {
		radio_send(&r, &m, to, 1, at, &tx);
		m.now_us = tx.done_us;
		delivered += at[0] != RADIO_LOST;
	}
	ok(delivered > trials * (pow(q, 6) + 0.3), "unicast SAR with 2 retransmissions: %llu of %llu delivered",
	   (unsigned long long)delivered, (unsigned long long)trials);
	radio_done(&r);
}

/* Collisions: a stream of one-event PDUs from node 1 every 10 ms gives G = 1.5 / 10 = 0.15 (the decayed sum of a
 * periodic stream, computed exactly below); the dongle's receivers see e^(-2G) of its single transmissions. */
static void test_collisions(void)
{
	struct radio_params p = defaults();
	struct radio r;
	struct radio_msg a = { .from = 1, .len = 5, .ttl = RADIO_TTL_DEFAULT };
	struct radio_msg m = { .from = 0, .len = 5, .ttl = RADIO_TTL_DEFAULT };
	struct radio_tx tx;
	uint32_t one = 2;
	uint64_t delivered = 0, trials = 0, sink;
	double g = 0, event;
	const uint64_t period = 10 * MS;

	p.collisions = 1;
	p.net_transmit_count = 0;
	event = (double)radio_event_us(&p, radio_unseg_pdu_len(5));
	setup(&r, &p, 999, 1, 0, 11, to);
	for (unsigned k = 0; k < 3000; k++) {
		a.now_us = k * period;
		radio_send(&r, &a, &one, 1, &sink, &tx);
		if (k >= 2000 && k % 10 == 0) {
			m.now_us = a.now_us + period / 2;
			radio_send(&r, &m, to + 1, 998, at, &tx);
			for (unsigned i = 0; i < 998; i++, trials++)
				delivered += at[i] != RADIO_LOST;
		}
	}
	/* air time seen half a period after a PDU: sum over past PDUs of event x e^(-age / window) */
	for (unsigned j = 0; j < 3000; j++)
		g += event * exp(-(double)(period / 2 + j * period) / (p.collision_window_ms * 1e3));
	g /= p.collision_window_ms * 1e3;
	near(g, event / period, 0.002, "steady-state offered load of the stream: %.3f", event / period);
	binomial(delivered, trials, radio_aloha_success(g), "collisions on, G = %.3f: delivered share e^(-2G)", g);
	radio_done(&r);

	p.collisions = 0;
	setup(&r, &p, 999, 1, 0, 11, to);
	delivered = trials = 0;
	for (unsigned k = 0; k < 3000; k++) {
		a.now_us = k * period;
		radio_send(&r, &a, &one, 1, &sink, &tx);
		if (k >= 2000 && k % 10 == 0) {
			m.now_us = a.now_us + period / 2;
			radio_send(&r, &m, to + 1, 998, at, &tx);
			for (unsigned i = 0; i < 998; i++, trials++)
				delivered += at[i] != RADIO_LOST;
		}
	}
	is_int(delivered, trials, "collisions off: no loss at loss 0");
	radio_done(&r);
}

static void run(uint64_t seed, uint64_t *ret, struct radio_tx *ret_tx)
{
	struct radio_params p = defaults();
	struct radio r;
	struct radio_msg m = { .from = 0, .len = 68, .ttl = RADIO_TTL_DEFAULT };

	setup(&r, &p, 200, 2, 0.3, seed, to);
	radio_send(&r, &m, to, 200, ret, ret_tx);
	m = (struct radio_msg){ .from = 5, .now_us = ret_tx->done_us, .len = 40, .unicast = true, .ttl = 4 };
	to[0] = 0;
	radio_send(&r, &m, to, 1, ret + 200, ret_tx + 1);
	radio_done(&r);
}

static void test_determinism(void)
{
	static uint64_t a[201], b[201], c[201];
	struct radio_tx ta[2], tb[2], tc[2];

	run(42, a, ta);
	run(42, b, tb);
	run(43, c, tc);
	ok(memcmp(a, b, sizeof(a)) == 0, "same seed: the same delivery times");
	ok(memcmp(ta, tb, sizeof(ta)) == 0, "same seed: the same sender results");
	ok(memcmp(a, c, sizeof(a)) != 0, "another seed: other delivery times");
}

/* The Distributor's own SAR multicast state, dropped acks with a full advertiser queue, relays per level. */
static void test_node_knobs(void)
{
	struct radio_params p = defaults();
	struct radio r;
	struct radio_msg m = { .from = 0, .len = 68, .ttl = RADIO_TTL_DEFAULT };
	struct radio_tx tx;
	uint64_t ev5, first;

	p.adv_delay_max_us = 0;
	ev5 = radio_event_us(&p, radio_unseg_pdu_len(5));
	setup(&r, &p, 2, 1, 0, 1, to);
	is_int(radio_node_set_sar_multicast(&r, 0, 0, 0), 0, "the dongle: no multicast retransmission, 25 ms step");
	is_int(radio_send(&r, &m, to, 2, at, &tx), 0, "a 68 B group message from the dongle");
	is_int(tx.rounds, 1, "  one round");
	is_int(tx.pdus, 6, "  6 PDUs");
	is_int(tx.done_us - tx.adv_free_us, 25 * MS, "  done one 25 ms interval after the round");
	ok(at[0] != RADIO_LOST && at[1] != RADIO_LOST, "  no loss: both have it");
	m.from = 1;
	m.now_us = 10000 * MS;
	to[0] = 2;
	is_int(radio_send(&r, &m, to, 1, at, &tx), 0, "the same from a node that kept the params' state");
	is_int(tx.rounds, 3, "  3 rounds");
	is_int(radio_node_set_sar_multicast(&r, 3, 0, 0), -EINVAL, "node out of range refused");
	is_int(radio_node_set_sar_multicast(&r, 0, 16, 0), -EINVAL, "count 16 refused (4 bits)");
	is_int(radio_node_set_sar_multicast(&r, 0, 0, 16), -EINVAL, "step 16 refused (4 bits)");
	radio_done(&r);

	/* a receiver whose advertiser queue is full drops its Segment Acknowledgment (K_NO_WAIT) */
	for (unsigned bufs = 6; bufs <= 256; bufs += 250) {
		p.adv_buf_count = bufs;
		setup(&r, &p, 1, 1, 0, 1, to);
		m = (struct radio_msg){ .from = 1, .len = 5, .ttl = RADIO_TTL_DEFAULT };
		to[0] = 0;
		for (unsigned i = 0; i < 100; i++)
			radio_send(&r, &m, to, 1, at, &tx);     /* 100 PDUs queued on node 1: about 4 s, longer than
								 * the sender's 3 rounds */
		m = (struct radio_msg){ .from = 0, .len = 68, .unicast = true, .ttl = RADIO_TTL_DEFAULT };
		to[0] = 1;
		is_int(radio_send(&r, &m, to, 1, at, &tx), 0, "unicast 68 B to a node with %u buffers, busy", bufs);
		ok(at[0] != RADIO_LOST, "  delivered all the same");
		if (bufs == 6) {
			ok(!tx.acked, "  6 buffers: no ack (dropped), the sender gives up");
			ok(r.acks_dropped >= 1, "  acks_dropped counted: %llu", (unsigned long long)r.acks_dropped);
		} else {
			is_int(r.acks_dropped, 0, "  256 buffers: every ack waits in the queue, none dropped");
		}
		radio_done(&r);
	}
	p.adv_buf_count = 6;

	/* two answers from hop 3 at once: one relay per level serializes them, two relays carry both at once */
	for (unsigned relays = 1; relays <= 2; relays++) {
		p.relays_per_level = relays;
		setup(&r, &p, 2, 3, 0, 1, to);
		m = (struct radio_msg){ .from = 1, .now_us = 1000 * MS, .len = 5, .ttl = RADIO_TTL_DEFAULT };
		to[0] = 0;
		radio_send(&r, &m, to, 1, at, &tx);
		first = at[0];
		is_int(first, m.now_us + 3 * ev5, "relays per level %u: the first answer in 3 events", relays);
		m.from = 2;
		radio_send(&r, &m, to, 1, at, &tx);
		if (relays == 1)
			ok(at[0] > first + 10 * MS, "  one relay: the second waits for its advertiser (%llu us later)",
			   (unsigned long long)(at[0] - first));
		else
			is_int(at[0], first, "  two relays: the second at the same time");
		radio_done(&r);
	}
}

static void test_bad_input(void)
{
	struct radio_params p = defaults();
	struct radio r;
	struct radio_msg m = { .from = 0, .len = 5, .ttl = RADIO_TTL_DEFAULT };
	struct radio_tx tx;
	struct radio_bound b;
	const char *reason = "";
	char why[160] = "";
	const struct radio_param_desc *d;

	/* params */
	p.net_transmit_interval_ms = 5;
	is_int(radio_params_check(&p, why, sizeof(why)), -EINVAL, "interval 5 ms refused");
	is_str(why, "net_transmit_interval_ms: must be 10..330 ms, got 5", "  with the reason");
	p = defaults();
	p.ttl = 1;
	is_int(radio_params_check(&p, why, sizeof(why)), -EINVAL, "TTL 1 refused");
	has_str(why, "ttl: must be 0 or 2..127", "  with the reason");
	p = defaults();
	p.advertiser = 2;
	is_int(radio_params_check(&p, why, sizeof(why)), -EINVAL, "advertiser 2 refused");
	is_str(why, "advertiser: must be \"legacy\" or \"ext\", got 2", "  with the reason");
	p = defaults();
	p.collisions = 2;
	is_int(radio_params_check(&p, why, sizeof(why)), -EINVAL, "collisions 2 refused");
	is_str(why, "collisions: must be true or false, got 2", "  with the reason");
	is_int(radio_init(&r, &p, 4, 1), -EINVAL, "radio_init refuses bad params");
	p = defaults();
	is_int(radio_init(&r, &p, 0, 1), -EINVAL, "radio_init refuses 0 nodes");

	/* every knob: min and max accepted, one beyond refused, the struct unchanged then */
	for (size_t i = 0; i < radio_param_count; i++) {
		const struct radio_param_desc *e = &radio_param_table[i];
		struct radio_params q = defaults(), before;
		bool fine = true;

		fine &= radio_param_find(e->name) == e;
		fine &= radio_param_set_number(&q, e, e->max, why, sizeof(why)) == 0;
		fine &= radio_param_set_number(&q, e, e->min, why, sizeof(why)) == 0;
		fine &= radio_params_check(&q, why, sizeof(why)) == 0;
		before = q;
		fine &= radio_param_set_number(&q, e, (int64_t)e->max + 1, why, sizeof(why)) == -EINVAL;
		fine &= strncmp(why, e->name, strlen(e->name)) == 0;
		fine &= e->min == 0 || radio_param_set_number(&q, e, (int64_t)e->min - 1, why, sizeof(why)) == -EINVAL;
		fine &= radio_param_set_number(&q, e, -1, why, sizeof(why)) == -EINVAL;
		fine &= memcmp(&q, &before, sizeof(q)) == 0;
		ok(fine, "knob %s: %u..%u by name (%s)", e->name, e->min, e->max, why);
	}
	ok(radio_param_find("sar_seg_interval") == NULL, "unknown knob: NULL");
	d = radio_param_find("ttl");
	is_int(radio_param_set_number(&p, d, 1, why, sizeof(why)), -EINVAL, "ttl 1 by name refused");
	is_int(radio_param_set_number(&p, d, 0, why, sizeof(why)), 0, "ttl 0 by name accepted");
	d = radio_param_find("advertiser");
	is_int(radio_param_set_string(&p, d, "legacy", why, sizeof(why)), 0, "advertiser \"legacy\"");
	is_int(p.advertiser, RADIO_ADV_LEGACY, "  set");
	is_int(radio_param_set_string(&p, d, "fast", why, sizeof(why)), -EINVAL, "advertiser \"fast\" refused");
	is_str(why, "advertiser: must be \"legacy\" or \"ext\", got 'fast'", "  with the reason");
	is_int(radio_param_set_string(&p, radio_param_find("ttl"), "7", why, sizeof(why)), -EINVAL,
	       "a string for a number refused");

	/* the model */
	p = defaults();
	setup(&r, &p, 2, 1, 0, 1, to);
	is_int(radio_node_set(&r, 3, 1, 0), -EINVAL, "node out of range");
	is_int(radio_node_set(&r, 1, 128, 0), -EINVAL, "hops 128");
	is_int(radio_node_set(&r, 1, 1, -0.1), -EINVAL, "loss -0.1");
	is_int(radio_node_set(&r, 1, 1, 1.5), -EINVAL, "loss 1.5");
	is_int(radio_node_set(&r, 1, 1, NAN), -EINVAL, "loss NaN");
	is_int(radio_send(&r, &m, to, 0, at, &tx), -EINVAL, "no receiver");
	m.from = 3;
	is_int(radio_send(&r, &m, to, 1, at, &tx), -EINVAL, "sender out of range");
	m.from = 1;
	is_int(radio_send(&r, &m, to, 1, at, &tx), -EINVAL, "sender is the receiver");
	m.from = 0;
	m.unicast = true;
	is_int(radio_send(&r, &m, to, 2, at, &tx), -EINVAL, "unicast to two");
	m.unicast = false;
	m.ttl = 1;
	is_int(radio_send(&r, &m, to, 1, at, &tx), -EINVAL, "TTL 1");
	m.ttl = 128;
	is_int(radio_send(&r, &m, to, 1, at, &tx), -EINVAL, "TTL 128");
	m.ttl = RADIO_TTL_DEFAULT;
	m.len = 0;
	is_int(radio_send(&r, &m, to, 1, at, &tx), -EINVAL, "empty message");
	m.len = 381;
	is_int(radio_send(&r, &m, to, 1, at, &tx), -EMSGSIZE, "381 bytes: more than 32 segments");
	to[1] = 9;
	m.len = 5;
	is_int(radio_send(&r, &m, to, 2, at, &tx), -EINVAL, "a receiver out of range");
	is_int(r.messages + r.pdus + r.nodes[0].adv_free_us, 0, "nothing sent by refused calls");
	radio_done(&r);

	/* the bound */
	is_int(radio_bound(&p, 0, 4096, 8, 1, 1, RADIO_BOUND_GROUP, &b, &reason), -EINVAL, "bound: empty image");
	has_str(reason, "empty", "  reason");
	is_int(radio_bound(&p, 1000, 100, 8, 1, 1, RADIO_BOUND_GROUP, &b, &reason), -EINVAL, "block 100");
	has_str(reason, "power of two", "  reason");
	is_int(radio_bound(&p, 1000, 32, 8, 1, 1, RADIO_BOUND_GROUP, &b, &reason), -EINVAL, "block 32");
	is_int(radio_bound(&p, 1000, 1u << 21, 8, 1, 1, RADIO_BOUND_GROUP, &b, &reason), -EINVAL, "block 2^21");
	is_int(radio_bound(&p, 1000, 4096, 0, 1, 1, RADIO_BOUND_GROUP, &b, &reason), -EINVAL, "chunk 0");
	is_int(radio_bound(&p, 1000, 64, 65, 1, 1, RADIO_BOUND_GROUP, &b, &reason), -EINVAL, "chunk > block");
	is_int(radio_bound(&p, 1000, 4096, 378, 1, 1, RADIO_BOUND_GROUP, &b, &reason), -EMSGSIZE, "chunk 378");
	has_str(reason, "seg_max", "  reason");
	is_int(radio_bound(&p, 1000, 4096, 8, 0, 1, RADIO_BOUND_GROUP, &b, &reason), -EINVAL, "no target");
	is_int(radio_bound(&p, 1000, 4096, 8, 1, 0, RADIO_BOUND_GROUP, &b, &reason), -EINVAL, "0 hops");
	is_int(radio_bound(&p, 1000, 4096, 8, 1, 128, RADIO_BOUND_GROUP, &b, &reason), -EINVAL, "128 hops");
	is_int(radio_bound(&p, 1000, 4096, 377, 1, 1, RADIO_BOUND_UNICAST, &b, &reason), 0, "chunk 377 fits");
	is_int(radio_message_time_us(&p, 5, true, 0, &b.data_us), -EINVAL, "message time at 0 hops");
}

int main(void)
{
	test_defaults_and_sizes();
	test_advertiser();
	test_sar_timers();
	test_chunk_table();
	test_flood_table();
	test_bound_tables();
	test_exact_times();
	test_statistics();
	test_collisions();
	test_determinism();
	test_node_knobs();
	test_bad_input();
	return done_testing();
}
