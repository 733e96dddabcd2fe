// Vector primitives for FlexMiner's multi-lane SHA-256 kernels.
//
// Why C: Swift's SIMD operators are per-lane generic loops that LLVM must re-vectorize. At AVX-512
// it manages, but at baseline/AVX2 rotates stayed scalar and compile times exploded. Clang's
// ext_vector_type operations lower directly to vector instructions at any ISA level, import into
// Swift as SIMDn<UInt32>, and are inlined into the Swift kernel (same module, same target flags).
// Only primitives live here; every round, schedule step and early-reject decision is Swift.
#ifndef FLEX_VECTOR_H
#define FLEX_VECTOR_H

#include <stdint.h>

#define FM_INLINE static inline __attribute__((always_inline))

#define FM_DEFINE_LANES(N)                                                                          \
    typedef uint32_t fm_u32x##N __attribute__((ext_vector_type(N)));                              \
    typedef int32_t fm_i32x##N __attribute__((ext_vector_type(N)));                               \
    FM_INLINE fm_u32x##N fm_splat_x##N(uint32_t x) { return (fm_u32x##N)(x); }                   \
    FM_INLINE fm_u32x##N fm_add_x##N(fm_u32x##N a, fm_u32x##N b) { return a + b; }                \
    FM_INLINE fm_u32x##N fm_xor_x##N(fm_u32x##N a, fm_u32x##N b) { return a ^ b; }                \
    FM_INLINE fm_u32x##N fm_and_x##N(fm_u32x##N a, fm_u32x##N b) { return a & b; }                \
    FM_INLINE fm_u32x##N fm_or_x##N(fm_u32x##N a, fm_u32x##N b) { return a | b; }                 \
    FM_INLINE fm_u32x##N fm_shr_x##N(fm_u32x##N x, int n) { return x >> (uint32_t)n; }           \
    FM_INLINE fm_u32x##N fm_rotr_x##N(fm_u32x##N x, int n) {                                     \
        return (x >> (uint32_t)n) | (x << (uint32_t)(32 - n));                                    \
    }                                                                                             \
    /* Byte swap of each lane: mining headers store the nonce little-endian, SHA-256 reads words  \
       big-endian. */                                                                             \
    FM_INLINE fm_u32x##N fm_bswap_x##N(fm_u32x##N x) {                                           \
        return (x << 24) | ((x & 0xff00u) << 8) | ((x >> 8) & 0xff00u) | (x >> 24);              \
    }                                                                                             \
    /* Lanes base, base+1, ... (wrapping). */                                                      \
    FM_INLINE fm_u32x##N fm_iota_x##N(uint32_t base) {                                           \
        fm_u32x##N v;                                                                             \
        for (int i = 0; i < N; i++) v[i] = base + (uint32_t)i;                                    \
        return v;                                                                                 \
    }                                                                                             \
    /* Smallest lane value: the early reject asks only "could any lane be at or below the limit". */ \
    FM_INLINE uint32_t fm_min_x##N(fm_u32x##N x) { return __builtin_reduce_min(x); }             \
    /* Whether any lane is at or below limit: one compare into a mask (AVX-512) instead of a      \
       reduction tree, on every step of the scan. */                                               \
    FM_INLINE int fm_any_le_x##N(fm_u32x##N x, uint32_t limit) {                                 \
        return __builtin_reduce_or(x <= (fm_u32x##N)(limit)) != 0;                                 \
    }                                                                                             \
    FM_INLINE uint32_t fm_lane_x##N(fm_u32x##N x, int i) { return x[i]; }

FM_DEFINE_LANES(4)
FM_DEFINE_LANES(8)
FM_DEFINE_LANES(16)

#if defined(__AVX512F__)
/* SHA-256's Ch and Maj as one vpternlogd each (imm8 = the function's truth table over the three
   operands: 0xCA = e ? f : g, 0xE8 = majority). Written with the builtin because clang lowers Maj's
   and/or form to two ternlogs; the builtin rather than _mm512_ternarylogic_epi32 keeps <immintrin.h>
   out of a header that every architecture imports. Only in modules compiled for AVX-512 (x86-64-v4). */
FM_INLINE fm_u32x16 fm_choose_x16(fm_u32x16 e, fm_u32x16 f, fm_u32x16 g) {
    return (fm_u32x16)__builtin_ia32_pternlogd512_mask(
        (fm_i32x16)e, (fm_i32x16)f, (fm_i32x16)g, 0xCA, (unsigned short)0xFFFF);
}
FM_INLINE fm_u32x16 fm_majority_x16(fm_u32x16 a, fm_u32x16 b, fm_u32x16 c) {
    return (fm_u32x16)__builtin_ia32_pternlogd512_mask(
        (fm_i32x16)a, (fm_i32x16)b, (fm_i32x16)c, 0xE8, (unsigned short)0xFFFF);
}
#else
/* Elsewhere (the module compiled without AVX-512, e.g. on other architectures) the same functions. */
FM_INLINE fm_u32x16 fm_choose_x16(fm_u32x16 e, fm_u32x16 f, fm_u32x16 g) { return g ^ (e & (f ^ g)); }
FM_INLINE fm_u32x16 fm_majority_x16(fm_u32x16 a, fm_u32x16 b, fm_u32x16 c) { return (a & b) | (c & (a | b)); }
#endif

#endif
