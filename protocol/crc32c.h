/* crc32c: CRC-32C (Castagnoli), the checksum that ends every frame of the dongle link (docs/protocol.md, "Frame").
 *
 * Reflected polynomial 0x82F63B78, initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF; the check value of the nine
 * ASCII bytes "123456789" is 0xE3069283. Same parameters as iSCSI, ext4 and SCTP, so tools and hardware agree.
 */
#ifndef MESHFLEET_PROTOCOL_CRC32C_H
#define MESHFLEET_PROTOCOL_CRC32C_H

#include <stddef.h>
#include <stdint.h>

#define CRC32C_CHECK 0xE3069283u

/* Returns the CRC-32C of @data continued from @crc, a value this function returned before; start with 0.
 * crc32c(crc32c(0, a, n), b, m) equals the CRC of a followed by b, so a frame can be summed in pieces. */
uint32_t crc32c(uint32_t crc, const uint8_t *data, size_t len);

#endif
