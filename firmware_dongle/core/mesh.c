/* mesh: see mesh.h. */
#include "mem.h"
#include "mesh.h"

#define MODULE "mesh"

/* CORE_RECORD_MESH, version 1 */
enum {
	RECORD_MAGIC = 'M',
	RECORD_VERSION = 1,
	RECORD_SIZE = 12,       /* magic, version, address, IV index, high-water mark */
};

enum {
	UNSEGMENTED_MAX = 11,   /* access bytes in one unsegmented PDU: 15 - 4 (TransMIC) */
	SEGMENT_SIZE = 12,
	TRANSMIC_SIZE = 4,
};

static int save(struct mesh *m, uint16_t address, uint32_t iv_index, uint32_t reserved)
{
	const struct core_platform *p = m->platform;
	uint8_t rec[RECORD_SIZE];
	int err;

	rec[0] = RECORD_MAGIC;
	rec[1] = RECORD_VERSION;
	mem_put_le16(rec + 2, address);
	mem_put_le32(rec + 4, iv_index);
	mem_put_le32(rec + 8, reserved);
	err = p->ops->store_write(p->ctx, CORE_RECORD_MESH, rec, sizeof(rec));
	if (err != 0) {
		logq_printf(m->log, MSG_LOG_ERROR, MODULE, "cannot save the sequence number record (error %d)", err);
		return err;
	}
	m->have_record = true;
	m->address = address;
	m->iv_index = iv_index;
	m->reserved = reserved;
	return 0;
}

static uint32_t reserve_up_to(uint32_t seq)
{
	return seq > MSG_MESH_SEQ_MAX - MESH_SEQ_BLOCK ? MSG_MESH_SEQ_MAX : seq + MESH_SEQ_BLOCK;
}

void mesh_init(struct mesh *m, const struct core_platform *platform, struct logq *log)
{
	uint8_t rec[RECORD_SIZE];
	int len;

	*m = (struct mesh){ .platform = platform, .log = log };
	len = platform->ops->store_read(platform->ctx, CORE_RECORD_MESH, rec, sizeof(rec));
	if (len < 0)
		return;
	if (len != RECORD_SIZE || rec[0] != RECORD_MAGIC || rec[1] != RECORD_VERSION ||
	    mem_get_le32(rec + 8) > MSG_MESH_SEQ_MAX) {
		logq_printf(log, MSG_LOG_WARNING, MODULE, "sequence number record unreadable: the host must send "
			    "MESH_CONFIG with its own high-water mark");
		return;
	}
	m->have_record = true;
	m->address = mem_get_le16(rec + 2);
	m->iv_index = mem_get_le32(rec + 4);
	m->reserved = mem_get_le32(rec + 8);
	m->next = m->reserved;
}

bool mesh_available(const struct mesh *m)
{
	return m->platform->ops->mesh_config && m->platform->ops->mesh_send;
}

enum msg_status mesh_configure(struct mesh *m, const struct msg_mesh_config *cfg, uint32_t *ret_seq)
{
	const struct core_platform *p = m->platform;
	bool same = m->have_record && m->address == cfg->address;
	uint32_t next = cfg->seq;
	int err;

	if (!mesh_available(m))
		return MSG_STATUS_NOT_SUPPORTED;
	if (same && cfg->iv_index < m->iv_index) {
		logq_printf(m->log, MSG_LOG_WARNING, MODULE,
			    "refused IV index %u: address 0x%04x already used IV index %u, and the IV index "
			    "never goes back",
			    (unsigned)cfg->iv_index, cfg->address, (unsigned)m->iv_index);
		return MSG_STATUS_BAD_PARAM;
	}
	/* Same address and IV index: numbers below what this dongle may already have used are never handed out,
	 * whatever the host believes. A new address or a new IV index starts a new sequence. */
	if (same && cfg->iv_index == m->iv_index && m->next > next)
		next = m->next;
	if (!(same && cfg->iv_index == m->iv_index && next < m->reserved)) {
		if (save(m, cfg->address, cfg->iv_index, reserve_up_to(next)) != 0) {
			m->configured = false;
			return MSG_STATUS_FLASH_ERROR;
		}
	}
	err = p->ops->mesh_config(p->ctx, cfg, next);
	if (err != 0) {
		logq_printf(m->log, MSG_LOG_ERROR, MODULE, "the mesh stack refused the configuration (error %d)", err);
		m->configured = false;
		return MSG_STATUS_INTERNAL;
	}
	m->configured = true;
	m->net_key_index = cfg->net_key_index;
	m->app_key_index = cfg->app_key_index;
	m->next = next;
	logq_printf(m->log, MSG_LOG_INFO, MODULE, "address 0x%04x, IV index %u, next sequence number %u (host said %u)",
		    cfg->address, (unsigned)cfg->iv_index, (unsigned)next, (unsigned)cfg->seq);
	*ret_seq = next;
	return MSG_STATUS_OK;
}

enum msg_status mesh_seq_alloc(struct mesh *m, uint32_t count, uint32_t *ret_first)
{
	if (!m->configured)
		return MSG_STATUS_NOT_CONFIGURED;
	/* 0xFFFFFF itself is never used: it marks exhaustion (docs/protocol.md, MESH_CONFIG rule 4). */
	if (count == 0 || count > MSG_MESH_SEQ_MAX - m->next)
		return MSG_STATUS_SEQ_EXHAUSTED;
	if (m->next + count > m->reserved &&
	    save(m, m->address, m->iv_index, reserve_up_to(m->next + count)) != 0)
		return MSG_STATUS_FLASH_ERROR;
	*ret_first = m->next;
	m->next += count;
	return MSG_STATUS_OK;
}

uint32_t mesh_pdu_count(uint16_t len)
{
	if (len <= UNSEGMENTED_MAX)
		return 1;
	return ((uint32_t)len + TRANSMIC_SIZE + SEGMENT_SIZE - 1) / SEGMENT_SIZE;
}

enum msg_status mesh_send(struct mesh *m, const struct msg_mesh_send *s)
{
	const struct core_platform *p = m->platform;
	struct core_mesh_tx tx = { .msg = s };
	uint16_t want_index = s->devkey ? m->net_key_index : m->app_key_index;
	enum msg_status st;
	int err;

	if (!mesh_available(m))
		return MSG_STATUS_NOT_SUPPORTED;
	if (!m->configured)
		return MSG_STATUS_NOT_CONFIGURED;
	if (s->key_index != want_index) {
		logq_printf(m->log, MSG_LOG_WARNING, MODULE, "refused key index %u: the %s key index is %u",
			    s->key_index, s->devkey ? "network" : "application", want_index);
		return MSG_STATUS_BAD_PARAM;
	}
	tx.seq_count = mesh_pdu_count(s->payload_len);
	st = mesh_seq_alloc(m, tx.seq_count, &tx.seq);
	if (st != MSG_STATUS_OK) {
		m->tx_failed++;
		return st;
	}
	tx.src = m->address;
	tx.iv_index = m->iv_index;
	tx.net_key_index = m->net_key_index;
	err = p->ops->mesh_send(p->ctx, &tx);
	m->last_busy = err == CORE_MESH_SEND_BUSY;
	if (err == CORE_MESH_SEND_BUSY) {
		m->next = tx.seq;       /* nothing was sent with them: the numbers are handed out again */
		return MSG_STATUS_BUSY;
	}
	if (err != 0) {
		m->tx_failed++;
		logq_printf(m->log, MSG_LOG_WARNING, MODULE, "the mesh stack refused a message to 0x%04x (error %d)",
			    s->dst, err);
		return MSG_STATUS_BUSY;
	}
	m->tx++;
	return MSG_STATUS_OK;
}

bool mesh_accept(struct mesh *m, const struct msg_mesh_recv *r)
{
	(void)r;        /* all messages count alike for now; the distribution will look at them */
	if (!m->configured) {
		m->rx_ignored++;
		return false;
	}
	m->rx++;
	return true;
}
