// The x86 SHA extensions and the few SSE shuffles a SHA-256 kernel needs, as functions on
// SIMD4<UInt32> (clang: ext_vector_type(4)). Immediate-operand intrinsics are macros that Swift
// cannot import, so each needed immediate gets a named wrapper here. Only primitives: the rounds,
// schedule order, interleaving and early reject are in the Swift module SHA256KernelsSHANI.
#ifndef FLEX_SHANI_H
#define FLEX_SHANI_H

#include <stdint.h>

typedef uint32_t fm_sha_v4 __attribute__((ext_vector_type(4)));

#if defined(__SHA__) && defined(__SSE4_1__)
#include <immintrin.h>
#define FM_SHA_INLINE static inline __attribute__((always_inline))

/// Two SHA-256 rounds: returns the new ABEF; the old ABEF becomes CDGH. `wk` lanes 0,1 = W+K.
FM_SHA_INLINE fm_sha_v4 fm_sha_rnds2(fm_sha_v4 cdgh, fm_sha_v4 abef, fm_sha_v4 wk) {
    return (fm_sha_v4)_mm_sha256rnds2_epu32((__m128i)cdgh, (__m128i)abef, (__m128i)wk);
}
FM_SHA_INLINE fm_sha_v4 fm_sha_msg1(fm_sha_v4 a, fm_sha_v4 b) {
    return (fm_sha_v4)_mm_sha256msg1_epu32((__m128i)a, (__m128i)b);
}
FM_SHA_INLINE fm_sha_v4 fm_sha_msg2(fm_sha_v4 a, fm_sha_v4 b) {
    return (fm_sha_v4)_mm_sha256msg2_epu32((__m128i)a, (__m128i)b);
}
FM_SHA_INLINE fm_sha_v4 fm_sha_add(fm_sha_v4 a, fm_sha_v4 b) { return a + b; }
/// Lanes 1..4 of the concatenation lo:hi, i.e. (lo[1], lo[2], lo[3], hi[0]).
FM_SHA_INLINE fm_sha_v4 fm_sha_alignr4(fm_sha_v4 hi, fm_sha_v4 lo) {
    return (fm_sha_v4)_mm_alignr_epi8((__m128i)hi, (__m128i)lo, 4);
}
/// Lanes 2, 3 moved to 0, 1 (the second pair of W+K for the next rnds2).
FM_SHA_INLINE fm_sha_v4 fm_sha_high_pair(fm_sha_v4 x) { return (fm_sha_v4)_mm_shuffle_epi32((__m128i)x, 0x0E); }
/// Lanes reversed.
FM_SHA_INLINE fm_sha_v4 fm_sha_reverse(fm_sha_v4 x) { return (fm_sha_v4)_mm_shuffle_epi32((__m128i)x, 0x1B); }
FM_SHA_INLINE fm_sha_v4 fm_sha_unpacklo64(fm_sha_v4 a, fm_sha_v4 b) {
    return (fm_sha_v4)_mm_unpacklo_epi64((__m128i)a, (__m128i)b);
}
FM_SHA_INLINE fm_sha_v4 fm_sha_unpackhi64(fm_sha_v4 a, fm_sha_v4 b) {
    return (fm_sha_v4)_mm_unpackhi_epi64((__m128i)a, (__m128i)b);
}
#define FM_HAVE_SHANI 1
#else
#define FM_HAVE_SHANI 0
#endif

/// 1 when this module was compiled with the SHA extensions enabled.
static inline int fm_sha_compiled(void) { return FM_HAVE_SHANI; }

#endif
