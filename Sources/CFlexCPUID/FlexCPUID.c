#include "FlexCPUID.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

int fm_cpuid(uint32_t leaf, uint32_t subleaf, fm_cpuid_regs *out) {
    unsigned int max = __get_cpuid_max(leaf & 0x80000000u, 0);
    if (max == 0 || leaf > max) return 0;
    unsigned int a, b, c, d;
    __cpuid_count(leaf, subleaf, a, b, c, d);
    out->eax = a; out->ebx = b; out->ecx = c; out->edx = d;
    return 1;
}

uint64_t fm_xgetbv0(void) {
    fm_cpuid_regs r;
    // OSXSAVE (leaf 1 ECX bit 27) says XGETBV may be executed.
    if (!fm_cpuid(1, 0, &r) || !(r.ecx & (1u << 27))) return 0;
    uint32_t lo, hi;
    // Encoded by hand so this file needs no -mxsave.
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

int fm_is_x86(void) { return 1; }
#else
int fm_cpuid(uint32_t leaf, uint32_t subleaf, fm_cpuid_regs *out) { (void)leaf; (void)subleaf; (void)out; return 0; }
uint64_t fm_xgetbv0(void) { return 0; }
int fm_is_x86(void) { return 0; }
#endif
