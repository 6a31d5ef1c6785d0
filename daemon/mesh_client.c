/* mesh_client: see mesh_client.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mesh_access.h"
#include "mesh_client.h"
#include "network.h"
#include "util.h"

#define STATS_INTERVAL_MS 10000         /* how often the sequence number mark follows the dongle while sending */

struct pending {
	struct pending *next;
	struct mesh_exchange x;
	uint8_t payload[MESH_CLIENT_PAYLOAD_MAX];
	uint32_t attempts;              /* sent so far */
};

struct slot {
	struct mesh_client *m;
	uv_timer_t timer;
	struct pending *p;              /* NULL = free */
};

enum config_state { CONFIG_NONE, CONFIG_SENT, CONFIG_DONE, CONFIG_FAILED };

struct mesh_client {
	uv_loop_t *loop;
	struct db *db;
	struct dongle *dongle;
	uint32_t in_flight_max, timeout_ms, attempts;
	char dongle_id[NETWORK_DONGLE_ID_MAX + 1];
	mesh_client_ready_fn ready_cb;
	void *userdata;

	bool link_up;
	enum config_state config;
	char why[256];
	struct network net;             /* while ready */
	uint32_t seq_seen;
	uint64_t sent_at_last_stats;

	struct pending *head, *tail;    /* waiting, in order */
	struct slot slots[MESH_CLIENT_IN_FLIGHT_MAX];
	uv_timer_t stats_timer;
	unsigned open_handles;
	struct mesh_client_counters counters;
	uint8_t unmatched_logged[0x8000 / 8];  /* sources whose unmatched answer was logged: once per node */
};

static void pump(struct mesh_client *m);
static void on_timeout(uv_timer_t *timer);

static void set_ready(struct mesh_client *m, enum config_state config, const char *why)
{
	bool was = mesh_client_ready(m);

	m->config = config;
	if (why)
		snprintf(m->why, sizeof(m->why), "%s", why);
	if (was != mesh_client_ready(m) && m->ready_cb)
		m->ready_cb(m->userdata, mesh_client_ready(m));
}

bool mesh_client_ready(const struct mesh_client *m)
{
	return m->link_up && m->config == CONFIG_DONE;
}

const char *mesh_client_why_not_ready(const struct mesh_client *m)
{
	if (mesh_client_ready(m))
		return "ready";
	if (!m->link_up)
		return "the dongle is not connected (GET /api/v1/dongle says why)";
	return m->why;
}

static void finish(struct mesh_client *m, struct pending *p, int error, const struct msg_mesh_recv *answer)
{
	(void)m;
	p->x.done(p->x.userdata, error, answer);
	free(p);
}

/* --- the sequence number mark --- */

static void on_stats(void *userdata, const struct link_reply *reply)
{
	struct mesh_client *m = userdata;

	if (dongle_reply_errno(reply) != 0 || !mesh_client_ready(m))
		return;
	if (reply->msg->u.stats.mesh_seq > m->seq_seen) {
		m->seq_seen = reply->msg->u.stats.mesh_seq;
		network_seq_seen(m->db, m->seq_seen, m->dongle_id);
	}
}

static void on_stats_timer(uv_timer_t *timer)
{
	struct mesh_client *m = timer->data;

	if (!mesh_client_ready(m) || m->counters.sent == m->sent_at_last_stats)
		return;
	m->sent_at_last_stats = m->counters.sent;
	dongle_stats(m->dongle, on_stats, m);
}

/* --- configuring the dongle --- */

static void on_config(void *userdata, const struct link_reply *reply)
{
	struct mesh_client *m = userdata;
	char buf[128];
	int e = dongle_reply_errno(reply);

	if (m->config != CONFIG_SENT || reply->error == -ECANCELED)
		return;
	if (e != 0) {
		char why[256];

		snprintf(why, sizeof(why), "the dongle refused the network configuration (%s): its log says why",
			 dongle_reply_describe(reply, buf, sizeof(buf)));
		log_err("mesh: %s", why);
		set_ready(m, CONFIG_FAILED, why);
		return;
	}
	m->seq_seen = reply->msg->u.mesh_seq;
	network_seq_seen(m->db, m->seq_seen, m->dongle_id);
	log_info("mesh: dongle configured as 0x%04x in '%s' (IV index %u, next sequence number %u)", m->net.address,
		 m->net.name, (unsigned)m->net.iv_index, (unsigned)m->seq_seen);
	set_ready(m, CONFIG_DONE, NULL);
	uv_timer_start(&m->stats_timer, on_stats_timer, STATS_INTERVAL_MS, STATS_INTERVAL_MS);
	pump(m);
}

static void configure(struct mesh_client *m)
{
	struct msg_mesh_config cfg;
	int r;

	if (!m->link_up)
		return;
	r = network_load(m->db, &m->net);
	if (r == -ENOENT) {
		set_ready(m, CONFIG_NONE, "no network imported yet: import the provisioner's export with "
			  "'meshfleetctl network import FILE' or POST /api/v1/network/import");
		return;
	}
	if (r < 0) {
		set_ready(m, CONFIG_FAILED, "the stored network cannot be read: the daemon's log says why");
		return;
	}
	cfg = (struct msg_mesh_config){
		.net_key_index = m->net.net_key_index,
		.app_key_index = m->net.app_key_index,
		.iv_index = m->net.iv_index,
		.iv_update = m->net.iv_update,
		.address = m->net.address,
		.seq = network_seq_start(&m->net, m->dongle_id),
	};
	memcpy(cfg.net_key, m->net.net_key, sizeof(cfg.net_key));
	memcpy(cfg.app_key, m->net.app_key, sizeof(cfg.app_key));
	set_ready(m, CONFIG_SENT, "the dongle is being configured");
	r = dongle_mesh_config(m->dongle, &cfg, on_config, m);
	explicit_bzero(&cfg, sizeof(cfg));
	if (r < 0) {
		log_warning("mesh: cannot send MESH_CONFIG: %s", strerror(-r));
		set_ready(m, CONFIG_FAILED, "the dongle could not be configured: the link refused the request");
	}
}

/* --- exchanges --- */

static void requeue_front(struct mesh_client *m, struct pending *p)
{
	p->next = m->head;
	m->head = p;
	if (!m->tail)
		m->tail = p;
	m->counters.queued++;
}

static void on_sent(void *userdata, const struct link_reply *reply)
{
	struct mesh_client *m = userdata;
	char buf[128];

	if (reply->error == -ECANCELED || reply->error == -ECONNRESET)
		return;         /* the link went down: the exchanges were put back in the queue */
	if (reply->status == MSG_STATUS_NOT_CONFIGURED && m->config == CONFIG_DONE) {
		log_warning("mesh: the dongle lost its configuration; configuring it again");
		configure(m);
	} else if (dongle_reply_errno(reply) != 0) {
		/* The exchange's timer retries it. */
		log_debug("mesh: MESH_SEND: %s", dongle_reply_describe(reply, buf, sizeof(buf)));
	}
}

static void send_slot(struct mesh_client *m, struct slot *s)
{
	struct pending *p = s->p;
	struct msg_mesh_send send = {
		.dst = p->x.dst,
		.key_index = p->x.devkey ? m->net.net_key_index : m->net.app_key_index,
		.devkey = p->x.devkey,
		.ttl = p->x.ttl,
		.payload = p->payload,
		.payload_len = p->x.payload_len,
	};
	int r;

	if (p->x.devkey) {
		r = network_device_key(m->db, p->x.dst, send.dev_key);
		if (r < 0) {
			s->p = NULL;
			m->counters.in_flight--;
			finish(m, p, -ENOENT, NULL);
			return;
		}
	}
	if (p->attempts > 0)
		m->counters.retries++;
	p->attempts++;
	m->counters.sent++;
	r = dongle_mesh_send(m->dongle, &send, on_sent, m);
	explicit_bzero(send.dev_key, sizeof(send.dev_key));
	/* Sent or not, the timer decides: a refused send is one attempt that got no answer. */
	if (r < 0)
		log_debug("mesh: MESH_SEND to 0x%04x not queued: %s", p->x.dst, strerror(-r));
	uv_timer_start(&s->timer, on_timeout, m->timeout_ms, 0);
}

static void on_timeout(uv_timer_t *timer)
{
	struct slot *s = timer->data;
	struct mesh_client *m = s->m;
	struct pending *p = s->p;

	if (!p)
		return;
	if (p->attempts < m->attempts) {
		send_slot(m, s);
		return;
	}
	s->p = NULL;
	m->counters.in_flight--;
	m->counters.timed_out++;
	finish(m, p, -ETIMEDOUT, NULL);
	pump(m);
}

static void pump(struct mesh_client *m)
{
	for (uint32_t i = 0; i < m->in_flight_max && m->head && mesh_client_ready(m); i++) {
		struct slot *s = &m->slots[i];
		struct pending *p;

		if (s->p)
			continue;
		p = m->head;
		m->head = p->next;
		if (!m->head)
			m->tail = NULL;
		p->next = NULL;
		m->counters.queued--;
		m->counters.in_flight++;
		s->p = p;
		send_slot(m, s);
	}
}

int mesh_client_exchange(struct mesh_client *m, const struct mesh_exchange *x)
{
	struct pending *p;

	if (!x->done || !x->payload || x->payload_len == 0 || x->payload_len > MESH_CLIENT_PAYLOAD_MAX ||
	    x->dst == 0 || x->dst > 0x7FFF)
		return -EINVAL;
	if (m->counters.queued >= MESH_CLIENT_QUEUE_MAX)
		return -ENOBUFS;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->x = *x;
	memcpy(p->payload, x->payload, x->payload_len);
	p->x.payload = p->payload;
	if (m->tail)
		m->tail->next = p;
	else
		m->head = p;
	m->tail = p;
	m->counters.queued++;
	pump(m);
	return 0;
}

void mesh_client_cancel(struct mesh_client *m, void *userdata)
{
	struct pending **link = &m->head, *p;

	for (uint32_t i = 0; i < MESH_CLIENT_IN_FLIGHT_MAX; i++) {
		struct slot *s = &m->slots[i];

		if (s->p && s->p->x.userdata == userdata) {
			p = s->p;
			s->p = NULL;
			uv_timer_stop(&s->timer);
			m->counters.in_flight--;
			finish(m, p, -ECANCELED, NULL);
		}
	}
	m->tail = NULL;
	while ((p = *link)) {
		if (p->x.userdata == userdata) {
			*link = p->next;
			m->counters.queued--;
			finish(m, p, -ECANCELED, NULL);
		} else {
			m->tail = p;
			link = &p->next;
		}
	}
	pump(m);
}

/* An answer to no question: late after a retry, a duplicate, or a message this daemon did not ask for. Counted;
 * logged once per node so that a chatty node cannot flood the log. */
static void unmatched(struct mesh_client *m, const struct msg_mesh_recv *r, size_t opcode_len, uint32_t opcode)
{
	uint16_t src = r->src & 0x7FFF;

	m->counters.unmatched++;
	if (m->unmatched_logged[src / 8] & (1u << (src % 8)))
		return;
	m->unmatched_logged[src / 8] |= (uint8_t)(1u << (src % 8));
	if (opcode_len == 0)
		log_notice("mesh: 0x%04x sent a message with a malformed opcode (%u bytes): ignored (logged once "
			   "per node)", r->src, r->payload_len);
	else
		log_notice("mesh: 0x%04x sent %s (opcode 0x%x) that answers nothing asked: ignored (late after a "
			   "retry, or unsolicited; logged once per node)", r->src, ma_opcode_to_string(opcode),
			   (unsigned)opcode);
}

void mesh_client_recv(struct mesh_client *m, const struct msg_mesh_recv *r)
{
	uint32_t opcode = 0;
	size_t opcode_len = ma_opcode_decode(r->payload, r->payload_len, &opcode);

	if (opcode_len == 0) {
		unmatched(m, r, 0, 0);
		return;
	}
	for (uint32_t i = 0; i < MESH_CLIENT_IN_FLIGHT_MAX; i++) {
		struct slot *s = &m->slots[i];
		struct pending *p = s->p;
		uint32_t elements = p && p->x.answer_elements ? p->x.answer_elements : 1;

		if (!p || p->x.answer_opcode != opcode || r->src < p->x.dst || r->src >= p->x.dst + elements ||
		    r->devkey != p->x.devkey)
			continue;
		s->p = NULL;
		uv_timer_stop(&s->timer);
		m->counters.in_flight--;
		m->counters.answered++;
		finish(m, p, 0, r);
		pump(m);
		return;
	}
	unmatched(m, r, opcode_len, opcode);
}

void mesh_client_link_state(struct mesh_client *m, enum link_state state)
{
	bool up = state == LINK_UP;

	if (up == m->link_up)
		return;
	if (!up) {
		/* What was in flight goes back to the front, in order, with its attempts counted. */
		for (uint32_t i = MESH_CLIENT_IN_FLIGHT_MAX; i-- > 0;) {
			struct slot *s = &m->slots[i];

			if (s->p) {
				uv_timer_stop(&s->timer);
				m->counters.in_flight--;
				requeue_front(m, s->p);
				s->p = NULL;
			}
		}
		uv_timer_stop(&m->stats_timer);
		m->link_up = false;
		set_ready(m, CONFIG_NONE, NULL);
		return;
	}
	m->link_up = true;
	configure(m);
}

void mesh_client_network_changed(struct mesh_client *m)
{
	if (m->link_up)
		configure(m);
}

const struct mesh_client_counters *mesh_client_counters(const struct mesh_client *m)
{
	return &m->counters;
}

static void release(struct mesh_client *m)
{
	if (--m->open_handles == 0) {
		explicit_bzero(&m->net, sizeof(m->net));
		free(m);
	}
}

static void on_stats_timer_closed(uv_handle_t *handle)
{
	release(handle->data);
}

static void on_slot_timer_closed(uv_handle_t *handle)
{
	release(((struct slot *)handle->data)->m);
}

void mesh_client_close(struct mesh_client *m)
{
	if (!m)
		return;
	m->ready_cb = NULL;
	m->link_up = false;
	for (uint32_t i = 0; i < MESH_CLIENT_IN_FLIGHT_MAX; i++) {
		struct slot *s = &m->slots[i];

		if (s->p) {
			struct pending *p = s->p;

			s->p = NULL;
			m->counters.in_flight--;
			finish(m, p, -ECANCELED, NULL);
		}
		uv_close((uv_handle_t *)&s->timer, on_slot_timer_closed);
	}
	while (m->head) {
		struct pending *p = m->head;

		m->head = p->next;
		m->counters.queued--;
		finish(m, p, -ECANCELED, NULL);
	}
	m->tail = NULL;
	uv_close((uv_handle_t *)&m->stats_timer, on_stats_timer_closed);
}

int mesh_client_new(uv_loop_t *loop, struct db *db, struct dongle *dongle, const struct mesh_client_options *o,
		    mesh_client_ready_fn ready, void *userdata, struct mesh_client **ret)
{
	struct mesh_client *m;

	if (o->in_flight > MESH_CLIENT_IN_FLIGHT_MAX)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->loop = loop;
	m->db = db;
	m->dongle = dongle;
	m->in_flight_max = o->in_flight ? o->in_flight : MESH_CLIENT_IN_FLIGHT;
	m->timeout_ms = o->timeout_ms ? o->timeout_ms : MESH_CLIENT_TIMEOUT_MS;
	m->attempts = o->attempts ? o->attempts : MESH_CLIENT_ATTEMPTS;
	snprintf(m->dongle_id, sizeof(m->dongle_id), "%s", o->dongle_id ? o->dongle_id : "");
	m->ready_cb = ready;
	m->userdata = userdata;
	snprintf(m->why, sizeof(m->why), "the dongle is not connected");
	uv_timer_init(loop, &m->stats_timer);
	m->stats_timer.data = m;
	m->open_handles = 1 + MESH_CLIENT_IN_FLIGHT_MAX;
	for (uint32_t i = 0; i < MESH_CLIENT_IN_FLIGHT_MAX; i++) {
		m->slots[i].m = m;
		uv_timer_init(loop, &m->slots[i].timer);
		m->slots[i].timer.data = &m->slots[i];
	}
	*ret = m;
	return 0;
}
