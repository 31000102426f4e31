// CRC-32 (zlib's: the IEEE polynomial, reflected) for the answer log's records, folded with PCLMULQDQ where the CPU
// has it. zlib's own crc32 is a table walk, ~4.6 instructions a byte: ~2,300 per echo for a record of ~500 bytes,
// 2 % of the worker's instructions (callgrind).
#ifndef CCHECKSUM_H
#define CCHECKSUM_H

#include <stddef.h>
#include <stdint.h>

/// The CRC-32 of `length` bytes at `bytes` continuing `crc` (0 to start): exactly zlib's `crc32(crc, bytes, length)`
/// for every input; only the speed depends on the CPU.
uint32_t cbw_crc32(uint32_t crc, const uint8_t *bytes, size_t length);

/// Whether `cbw_crc32` folds with PCLMULQDQ on this CPU (for tests and logs).
int cbw_crc32_is_accelerated(void);

#endif
