/* flash: the simulated dongle's flash: the image slot and the persistent records of platform.h. In memory, where
 * they survive a simulated reboot; with --slot-file also in files, where they survive the simulator: the slot in
 * FILE (created erased, 0xff, at the slot size) and the records in FILE.state (replaced by rename, so a record is
 * written whole or not at all). Writes behave like NOR flash: they can only clear bits. */
#ifndef MESHFLEET_SIM_FLASH_H
#define MESHFLEET_SIM_FLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "platform.h"

#define FLASH_PAGE_SIZE 4096    /* the nRF52840's erase unit */
#define FLASH_WRITE_ALIGN 4     /* its write unit: one word */

struct flash_record {
	bool present;
	uint8_t len;
	uint8_t data[CORE_RECORD_MAX];
};

struct flash {
	uint8_t *mem;
	uint32_t size;
	int fd;                 /* the slot file, or -1 */
	char *state_path;       /* FILE.state, or NULL */
	struct flash_record rec[CORE_RECORD_COUNT];
	/* counters */
	uint64_t erases;
	uint64_t writes;
};

/* @size: a multiple of FLASH_PAGE_SIZE. @file: NULL for memory only. Returns 0, or a negative errno with a
 * message in @err (-EINVAL: the file exists with another size, or its state file is damaged). */
int flash_open(struct flash *f, uint32_t size, const char *file, char *err, size_t err_len);
void flash_close(struct flash *f);

int flash_erase(struct flash *f, uint32_t offset, uint32_t len);
int flash_write(struct flash *f, uint32_t offset, const uint8_t *data, uint32_t len);
int flash_read(struct flash *f, uint32_t offset, uint8_t *buf, uint32_t len);
int flash_store_read(struct flash *f, enum core_record rec, uint8_t *buf, size_t cap);
int flash_store_write(struct flash *f, enum core_record rec, const uint8_t *data, size_t len);

#endif
