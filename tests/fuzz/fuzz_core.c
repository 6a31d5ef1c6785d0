/* Fuzz target: the firmware core (firmware_dongle/core) on the fake platform of tests/unit/fake_platform.c.
 *
 * Byte 0 of an input chooses how the rest is used:
 *   even: as bytes from the host, fed in uneven chunks (line noise, half frames, whatever the fuzzer makes);
 *   odd:  as records the harness turns into valid frames, so the fuzzer reaches the handlers without forging
 *         CRCs: [type][flags][len lo][len hi][payload...]. Flags: bit 0 retransmission flag, bit 1 repeat the
 *         previous request id, bit 2 a MESH_RECV from the mesh instead (payload = access message), bit 3 reboot
 *         the core (records and flash kept), bit 4 the transmit buffer refuses frames, bit 5 one second passes.
 *
 * After every step, what the core sent must be valid frames; flash is only written where erased and aligned;
 * event numbers only go up within a boot; and a mesh sequence number is never handed out twice while the dongle
 * keeps the same address and IV index, across reboots too. A violation traps. */
#include <string.h>

#include "cobs.h"
#include "core.h"
#include "fake_platform.h"
#include "fuzz.h"

static struct fake F;
static struct core C;

static void check(bool cond)
{
	if (!cond)
		__builtin_trap();
}

struct seen {
	bool have_event;
	uint32_t last_event;
	bool have_seq;
	uint16_t src;
	uint32_t iv_index;
	uint32_t next_seq;      /* the lowest number the stack may get next for (src, iv_index) */
	unsigned mesh_tx;
};

/* Everything the core sent is a valid frame of the right kind. */
static void check_output(struct seen *seen)
{
	static uint8_t frame[FRAME_MAX_SIZE];
	size_t len;

	while ((len = fake_next_frame(&F, frame)) > 0) {
		struct frame_header h;
		struct msg m;

		check(frame_decode(frame, len, &h) == FRAME_OK);
		check(h.kind == FRAME_RESPONSE || h.kind == FRAME_EVENT);
		if (h.kind == FRAME_EVENT) {
			check(msg_decode(&h, frame + FRAME_HEADER_SIZE, &m) == MSG_STATUS_OK);
			check(!seen->have_event || h.seq - seen->last_event - 1 < 0x80000000u);
			seen->have_event = true;
			seen->last_event = h.seq;
		} else if (msg_type_valid(h.type, FRAME_RESPONSE)) {
			check(msg_decode(&h, frame + FRAME_HEADER_SIZE, &m) == MSG_STATUS_OK);
		}
	}
	F.out_len = F.out_read = 0;
	check(F.overwrites == 0 && F.misaligned == 0);
	check(C.slot.bytes_written <= C.slot.image_size && C.slot.image_size <= FAKE_SLOT_SIZE);
}

static void boot(enum msg_reset_reason reason, struct seen *seen)
{
	struct core_config cfg = { .reset_reason = reason, .forward_level = MSG_LOG_DEBUG };

	check_output(seen);     /* what the old boot sent */
	core_init(&C, &F.platform, &cfg);
	seen->have_event = false;
}

static void check_mesh(struct seen *seen)
{
	for (; seen->mesh_tx < F.mesh_tx_count; seen->mesh_tx++) {
		const struct fake_mesh_tx *t = &F.mesh_tx[seen->mesh_tx % FAKE_MESH_MAX];

		check(t->seq_count >= 1 && t->seq + t->seq_count <= MSG_MESH_SEQ_MAX);
		if (seen->have_seq && t->src == seen->src && t->iv_index == seen->iv_index)
			check(t->seq >= seen->next_seq);
		seen->have_seq = true;
		seen->src = t->src;
		seen->iv_index = t->iv_index;
		seen->next_seq = t->seq + t->seq_count;
	}
	/* The dongle took another identity: the host owns that history (docs/protocol.md, MESH_CONFIG rule 3). */
	if (C.mesh.have_record && (C.mesh.address != seen->src || C.mesh.iv_index != seen->iv_index))
		seen->have_seq = false;
}

static void feed_raw(const uint8_t *data, size_t size)
{
	size_t chunk = 1;

	while (size > 0) {
		size_t n = chunk < size ? chunk : size;

		core_input(&C, data, n);
		data += n;
		size -= n;
		chunk = chunk % 7 + 1;
	}
}

static void feed_records(const uint8_t *data, size_t size, struct seen *seen)
{
	static uint8_t frame[FRAME_MAX_SIZE], wire[COBS_WIRE_MAX(FRAME_MAX_SIZE)];
	uint32_t id = MSG_HELLO_ID;

	while (size >= 4) {
		uint8_t type = data[0], flags = data[1];
		size_t len = (size_t)(data[2] | data[3] << 8) % (FRAME_MAX_PAYLOAD + 1);

		data += 4;
		size -= 4;
		if (len > size)
			len = size;
		F.refuse_send = flags & 0x10;
		if (flags & 0x20)
			F.now += 1000;
		if (flags & 0x08) {
			boot(MSG_RESET_PIN, seen);
		} else if (flags & 0x04) {
			struct msg_mesh_recv rx = { .src = (uint16_t)(type | 1), .dst = 1, .payload = data,
						    .payload_len = (uint16_t)len };

			core_mesh_recv(&C, &rx);
		} else {
			struct frame_header h = { .type = type, .kind = FRAME_REQUEST, .retransmit = flags & 0x01,
						  .payload_len = (uint16_t)len };
			size_t frame_len, wire_len;

			if (!(flags & 0x02))
				id++;
			h.seq = type == MSG_HELLO ? MSG_HELLO_ID : id;
			frame_len = frame_encode(&h, data, frame, sizeof(frame));
			wire_len = cobs_encode_frame(frame, frame_len, true, wire, sizeof(wire));
			core_input(&C, wire, wire_len);
			if (core_reset_requested(&C))
				boot(MSG_RESET_HOST, seen);
		}
		data += len;
		size -= len;
		core_poll(&C);
		check_output(seen);
		check_mesh(seen);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen seen = { 0 };

	fake_init(&F, true, true);
	boot(MSG_RESET_POWER_ON, &seen);
	if (size == 0)
		return 0;
	if (data[0] % 2 == 0) {
		feed_raw(data + 1, size - 1);
		check_output(&seen);
	} else {
		feed_records(data + 1, size - 1, &seen);
	}
	return 0;
}
