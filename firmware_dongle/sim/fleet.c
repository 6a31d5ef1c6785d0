/* fleet: see fleet.h. */
#include <string.h>

#include "fleet.h"

#define ALL_NODES 0xFFFF

void fleet_init(struct fleet *f, const struct scenario *scenario, uint64_t seed)
{
	*f = (struct fleet){ .scenario = scenario };
	rng_seed(&f->rng, seed, 3);
}

static bool reachable(uint8_t ttl, uint8_t hops)
{
	/* TTL 0 is never relayed; TTL t >= 2 is relayed until it reaches 1, so it covers t hops */
	return hops <= (ttl == 0 ? 1 : ttl);
}

static void ask(struct fleet *f, uint32_t index, const struct core_mesh_tx *tx, uint8_t first, uint8_t limit,
		void (*answer)(void *ctx, const struct fleet_answer *a), void *ctx)
{
	const struct scenario_node *n = &f->scenario->nodes[index];
	uint8_t ttl = tx->msg->ttl == MSG_TTL_DEFAULT ? FLEET_DEFAULT_TTL : tx->msg->ttl;
	struct fleet_answer a = {
		.node = index,
		.delay_ms = 2u * n->hops * f->scenario->hop_delay_ms + FLEET_PROCESSING_MS,
		.dst = tx->src,
		.key_index = tx->msg->key_index,
		.devkey = tx->msg->devkey,
		.first_index = first,
		.entries_limit = limit,
	};

	if (!reachable(ttl, n->hops) || !reachable(FLEET_DEFAULT_TTL, n->hops)) {
		f->out_of_range++;
		return;
	}
	if (rng_chance(&f->rng, n->loss_rate)) {
		f->lost++;
		return;
	}
	f->answers++;
	answer(ctx, &a);
}

void fleet_handle(struct fleet *f, const struct core_mesh_tx *tx,
		  void (*answer)(void *ctx, const struct fleet_answer *a), void *ctx)
{
	const struct msg_mesh_send *m = tx->msg;
	const struct scenario *s = f->scenario;

	f->messages++;
	/* Information Get: a 2-byte opcode and exactly 2 parameters (Zephyr drops other lengths) */
	if (m->payload_len != 4 || m->payload[0] != (FLEET_OP_INFO_GET >> 8) ||
	    m->payload[1] != (FLEET_OP_INFO_GET & 0xff))
		return;
	for (uint32_t i = 0; i < s->node_count; i++)
		if (m->dst == ALL_NODES || m->dst == s->nodes[i].address)
			ask(f, i, tx, m->payload[2], m->payload[3], answer, ctx);
}

bool fleet_reply(const struct fleet *f, const struct fleet_answer *a, uint8_t *buf, struct msg_mesh_recv *ret)
{
	const struct scenario_node *n;
	size_t len = 0;

	if (a->node >= f->scenario->node_count)
		return false;
	n = &f->scenario->nodes[a->node];
	buf[len++] = FLEET_OP_INFO_STATUS >> 8;
	buf[len++] = FLEET_OP_INFO_STATUS & 0xff;
	buf[len++] = 1;                         /* images on the node */
	buf[len++] = a->first_index;
	if (a->first_index == 0 && a->entries_limit > 0) {
		buf[len++] = n->fwid_len;
		memcpy(buf + len, n->fwid, n->fwid_len);
		len += n->fwid_len;
		buf[len++] = 0;                 /* no Update URI */
	}
	*ret = (struct msg_mesh_recv){
		.src = n->address,
		.dst = a->dst,
		.key_index = a->key_index,
		.devkey = a->devkey,
		.ttl = (uint8_t)(FLEET_DEFAULT_TTL - (n->hops - 1)),
		.rssi = (int8_t)(-40 - 6 * (n->hops - 1 > 9 ? 9 : n->hops - 1)),
		.payload = buf,
		.payload_len = (uint16_t)len,
	};
	return true;
}
