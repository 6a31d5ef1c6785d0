/* slot: the image slot of the dongle, the flash area that receives one firmware image from the host
 * (docs/protocol.md, "SLOT_INFO" .. "SLOT_COMMIT"; firmware_dongle/README.md, "Slot").
 *
 * Glossary: *bytes_written* = image bytes written, contiguous from offset 0; *durable* = the part of them the
 * CORE_RECORD_SLOT record vouches for after a reset: a multiple of the page size, saved each time the writes cross
 * a page boundary. After a reset the slot continues at the durable offset and erases that page again before
 * writing to it (flash cannot be written twice without an erase, and a page is the erase unit). Pages are erased
 * lazily, just ahead of the writes, so SLOT_BEGIN returns at once.
 */
#ifndef MESHFLEET_CORE_SLOT_H
#define MESHFLEET_CORE_SLOT_H

#include <stdbool.h>
#include <stdint.h>

#include "logq.h"
#include "messages.h"
#include "platform.h"

#define SLOT_READ_CHUNK 256     /* bytes read at a time for the SHA-256 at commit */

struct slot {
	const struct core_platform *platform;   /* borrowed */
	struct logq *log;                       /* borrowed */
	bool usable;                            /* the platform has a slot with a sound geometry */
	enum msg_slot_state state;
	uint32_t image_size;
	uint32_t bytes_written;
	uint32_t durable;                       /* page multiple (or image_size once committed) */
	uint32_t erased_to;                     /* bytes from 0 known to be erased past bytes_written' page */
	uint8_t sha256[MSG_SHA256_SIZE];        /* announced (WRITING) or verified (COMMITTED) */
	uint8_t buf[SLOT_READ_CHUNK];
};

/* Checks the geometry and reads the slot record: the state survives resets. Returns false if the platform has
 * slot operations but a geometry the slot cannot use (the slot is then unavailable). */
bool slot_init(struct slot *s, const struct core_platform *platform, struct logq *log);

/* True if the platform has a usable slot (the SLOT feature). */
bool slot_available(const struct slot *s);

void slot_info(const struct slot *s, struct msg_slot_info *ret);

/* The request handlers; each returns the status of the response. slot_write()'s response carries
 * s->bytes_written whatever the status. */
enum msg_status slot_begin(struct slot *s, const struct msg_slot_image *img);
enum msg_status slot_write(struct slot *s, const struct msg_slot_write *w);
enum msg_status slot_commit(struct slot *s, const struct msg_slot_image *img);

#endif
