// CPUID and XGETBV: the two instructions Swift cannot express. Everything else about feature detection
// is in the Swift module CPUFeatures.
#ifndef FLEX_CPUID_H
#define FLEX_CPUID_H
#include <stdint.h>

typedef struct {
    uint32_t eax, ebx, ecx, edx;
} fm_cpuid_regs;

/// Returns 1 and fills `out` when `leaf` is supported (x86 only); 0 otherwise.
int fm_cpuid(uint32_t leaf, uint32_t subleaf, fm_cpuid_regs *out);

/// XCR0 (which register states the OS saves); 0 when XGETBV is unavailable.
uint64_t fm_xgetbv0(void);

/// 1 on x86/x86-64 builds.
int fm_is_x86(void);

#endif
