// The byte searches of the JSON reader and writer (Primitives), sixteen bytes at a time with SSE2 (every x86-64 CPU
// has it), a byte at a time elsewhere. In C because Swift's SIMD types compile their compares with scalars and
// `any()` to element-by-element loops (Swift 6.3, checked in the disassembly), and the eight-byte arithmetic Swift
// can do costs ~25 instructions per word: these strings are a reply's and a request's largest per-byte cost.
#ifndef CJSONSCAN_H
#define CJSONSCAN_H

#include <stddef.h>
#include <stdint.h>

/// The offset of the first of `length` bytes that a JSON string must escape — `"`, `\`, or a byte below 0x20 — or
/// `length` when there is none. Reads only `bytes[0 ..< length]`.
size_t cbw_json_escape_offset(const uint8_t *bytes, size_t length);

/// The offset of the first of `length` bytes that ends a plain run in a JSON string being read — `"`, `\`, a byte
/// below 0x20, or a non-ASCII byte (>= 0x80, checked as UTF-8 by the caller) — or `length` when there is none.
/// Reads only `bytes[0 ..< length]`.
size_t cbw_json_special_offset(const uint8_t *bytes, size_t length);

#endif
