/* flash: see flash.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flash.h"

/* FILE.state: the magic, then per record: present (1), length (1), data (CORE_RECORD_MAX). */
static const char STATE_MAGIC[8] = "MFSIMST1";
#define STATE_SIZE (sizeof(STATE_MAGIC) + CORE_RECORD_COUNT * (2 + CORE_RECORD_MAX))

static bool in_range(const struct flash *f, uint32_t offset, uint32_t len)
{
	return offset <= f->size && len <= f->size - offset;
}

static int write_all(int fd, const uint8_t *p, size_t len, off_t offset)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, p, len, offset);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
		offset += n;
	}
	return 0;
}

static int load_state(struct flash *f, char *err, size_t err_len)
{
	uint8_t buf[STATE_SIZE];
	const uint8_t *p = buf + sizeof(STATE_MAGIC);
	int fd = open(f->state_path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		int e = errno;

		snprintf(err, err_len, "cannot open '%s': %s", f->state_path, strerror(e));
		return -e;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n != (ssize_t)sizeof(buf) || memcmp(buf, STATE_MAGIC, sizeof(STATE_MAGIC)) != 0) {
		snprintf(err, err_len, "'%s' is not a meshfleet-sim state file (remove it to start afresh)",
			 f->state_path);
		return -EINVAL;
	}
	for (int i = 0; i < CORE_RECORD_COUNT; i++, p += 2 + CORE_RECORD_MAX) {
		f->rec[i].present = p[0] == 1;
		f->rec[i].len = p[1] <= CORE_RECORD_MAX ? p[1] : 0;
		memcpy(f->rec[i].data, p + 2, CORE_RECORD_MAX);
	}
	return 0;
}

static int save_state(struct flash *f)
{
	uint8_t buf[STATE_SIZE] = { 0 };
	uint8_t *p = buf + sizeof(STATE_MAGIC);
	char tmp[4096];
	int fd, err;

	memcpy(buf, STATE_MAGIC, sizeof(STATE_MAGIC));
	for (int i = 0; i < CORE_RECORD_COUNT; i++, p += 2 + CORE_RECORD_MAX) {
		p[0] = f->rec[i].present;
		p[1] = f->rec[i].len;
		memcpy(p + 2, f->rec[i].data, CORE_RECORD_MAX);
	}
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", f->state_path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	err = write_all(fd, buf, sizeof(buf), 0);
	if (close(fd) < 0 && err == 0)
		err = -errno;
	/* No fsync: the file has to outlive the simulator, not a power cut of the host. */
	if (err == 0 && rename(tmp, f->state_path) < 0)
		err = -errno;
	if (err != 0)
		unlink(tmp);
	return err;
}

static int open_file(struct flash *f, const char *file, char *err, size_t err_len)
{
	struct stat st;
	ssize_t n;

	f->fd = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (f->fd < 0 || fstat(f->fd, &st) < 0) {
		int e = errno;

		snprintf(err, err_len, "cannot open the slot file '%s': %s", file, strerror(e));
		return -e;
	}
	if (st.st_size == 0) {
		int e = write_all(f->fd, f->mem, f->size, 0);      /* a new file: erased flash */

		if (e < 0) {
			snprintf(err, err_len, "cannot write the slot file '%s': %s", file, strerror(-e));
			return e;
		}
	} else if (st.st_size != (off_t)f->size) {
		snprintf(err, err_len, "the slot file '%s' has %lld bytes, but the slot has %u (--slot-size)", file,
			 (long long)st.st_size, f->size);
		return -EINVAL;
	} else {
		n = pread(f->fd, f->mem, f->size, 0);
		if (n != (ssize_t)f->size) {
			snprintf(err, err_len, "cannot read the slot file '%s'", file);
			return -EIO;
		}
	}
	if (asprintf(&f->state_path, "%s.state", file) < 0) {
		f->state_path = NULL;
		snprintf(err, err_len, "out of memory");
		return -ENOMEM;
	}
	return load_state(f, err, err_len);
}

int flash_open(struct flash *f, uint32_t size, const char *file, char *err, size_t err_len)
{
	int e;

	*f = (struct flash){ .size = size, .fd = -1 };
	f->mem = malloc(size);
	if (!f->mem) {
		snprintf(err, err_len, "out of memory for a slot of %u bytes", size);
		return -ENOMEM;
	}
	memset(f->mem, 0xff, size);
	if (file && (e = open_file(f, file, err, err_len)) < 0) {
		flash_close(f);
		return e;
	}
	return 0;
}

void flash_close(struct flash *f)
{
	if (f->fd >= 0)
		close(f->fd);
	free(f->mem);
	free(f->state_path);
	*f = (struct flash){ .fd = -1 };
}

int flash_erase(struct flash *f, uint32_t offset, uint32_t len)
{
	if (!in_range(f, offset, len) || offset % FLASH_PAGE_SIZE || len % FLASH_PAGE_SIZE)
		return -EINVAL;
	memset(f->mem + offset, 0xff, len);
	f->erases++;
	return f->fd >= 0 ? write_all(f->fd, f->mem + offset, len, offset) : 0;
}

int flash_write(struct flash *f, uint32_t offset, const uint8_t *data, uint32_t len)
{
	if (!in_range(f, offset, len) || offset % FLASH_WRITE_ALIGN || len % FLASH_WRITE_ALIGN)
		return -EINVAL;
	for (uint32_t i = 0; i < len; i++)
		f->mem[offset + i] &= data[i];
	f->writes++;
	return f->fd >= 0 ? write_all(f->fd, f->mem + offset, len, offset) : 0;
}

int flash_read(struct flash *f, uint32_t offset, uint8_t *buf, uint32_t len)
{
	if (!in_range(f, offset, len))
		return -EINVAL;
	memcpy(buf, f->mem + offset, len);
	return 0;
}

int flash_store_read(struct flash *f, enum core_record rec, uint8_t *buf, size_t cap)
{
	if (rec >= CORE_RECORD_COUNT || !f->rec[rec].present)
		return -ENOENT;
	if (f->rec[rec].len > cap)
		return -EOVERFLOW;
	memcpy(buf, f->rec[rec].data, f->rec[rec].len);
	return f->rec[rec].len;
}

int flash_store_write(struct flash *f, enum core_record rec, const uint8_t *data, size_t len)
{
	struct flash_record old;
	int err;

	if (rec >= CORE_RECORD_COUNT || len > CORE_RECORD_MAX)
		return -EINVAL;
	old = f->rec[rec];
	f->rec[rec].present = true;
	f->rec[rec].len = (uint8_t)len;
	memset(f->rec[rec].data, 0, CORE_RECORD_MAX);
	memcpy(f->rec[rec].data, data, len);
	err = f->state_path ? save_state(f) : 0;
	if (err != 0)
		f->rec[rec] = old;      /* the record is replaced whole or not at all */
	return err;
}
