// See CJSONScan.h. Each search: whole sixteen-byte blocks, then the last sixteen bytes again (overlapping, the ones
// already checked masked off); fewer than sixteen bytes as two overlapping halves in one block; fewer than four (or
// without SSE2) byte by byte.
#include "CJSONScan.h"

#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline int is_escape(uint8_t byte) { return byte < 0x20 || byte == '"' || byte == '\\'; }
static inline int is_special(uint8_t byte) { return is_escape(byte) || byte >= 0x80; }

#if defined(__SSE2__)
static inline unsigned escape_mask(__m128i block) {
    // Unsigned "below 0x20": min(byte, 0x1F) == byte (SSE2 compares bytes as signed only).
    __m128i control = _mm_cmpeq_epi8(_mm_min_epu8(block, _mm_set1_epi8(0x1F)), block);
    __m128i quote = _mm_cmpeq_epi8(block, _mm_set1_epi8('"'));
    __m128i backslash = _mm_cmpeq_epi8(block, _mm_set1_epi8('\\'));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(control, _mm_or_si128(quote, backslash)));
}

static inline unsigned special_mask(__m128i block) {
    return escape_mask(block) | (unsigned)_mm_movemask_epi8(block);  // a byte's high bit: non-ASCII
}
#endif

// Inlined into each search with its own `mask` and `is` (constants there), so no call goes through the pointers.
static inline __attribute__((always_inline)) size_t search(const uint8_t *bytes, size_t length,
#if defined(__SSE2__)
                                                           unsigned (*mask)(__m128i),
#endif
                                                           int (*is)(uint8_t)) {
    size_t i = 0;
#if defined(__SSE2__)
    if (length >= 16) {
        for (; i + 16 <= length; i += 16) {
            unsigned found = mask(_mm_loadu_si128((const __m128i *)(bytes + i)));
            if (found) return i + (size_t)__builtin_ctz(found);
        }
        if (i == length) return length;
        // Bit k of the last block is byte length - 16 + k; the bytes before i were checked already.
        unsigned found = mask(_mm_loadu_si128((const __m128i *)(bytes + length - 16))) >> (16 - (length - i));
        return found ? i + (size_t)__builtin_ctz(found) : length;
    }
    // Shorter (most keys and small values): the first and the last eight (or four) bytes, overlapping, in one block.
    // A byte loop here cost ~13 instructions a byte. Lanes past the loaded bytes are masked off (zeros would read as
    // control characters).
    if (length >= 8) {
        uint64_t first, last;
        memcpy(&first, bytes, 8);
        memcpy(&last, bytes + length - 8, 8);
        unsigned found = mask(_mm_set_epi64x((long long)last, (long long)first));
        if (found & 0xFF) return (size_t)__builtin_ctz(found);
        found >>= 8;  // bit k: byte length - 8 + k
        return found ? length - 8 + (size_t)__builtin_ctz(found) : length;
    }
    if (length >= 4) {
        uint32_t first, last;
        memcpy(&first, bytes, 4);
        memcpy(&last, bytes + length - 4, 4);
        unsigned found = mask(_mm_set_epi32(0, 0, (int)last, (int)first)) & 0xFF;
        if (found & 0x0F) return (size_t)__builtin_ctz(found);
        found >>= 4;  // bit k: byte length - 4 + k
        return found ? length - 4 + (size_t)__builtin_ctz(found) : length;
    }
#endif
    for (; i < length; i++) {
        if (is(bytes[i])) return i;
    }
    return length;
}

size_t cbw_json_escape_offset(const uint8_t *bytes, size_t length) {
#if defined(__SSE2__)
    return search(bytes, length, escape_mask, is_escape);
#else
    return search(bytes, length, is_escape);
#endif
}

size_t cbw_json_special_offset(const uint8_t *bytes, size_t length) {
#if defined(__SSE2__)
    return search(bytes, length, special_mask, is_special);
#else
    return search(bytes, length, is_special);
#endif
}
