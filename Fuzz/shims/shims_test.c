// The C shims (Sources/CFlex*) under AddressSanitizer and UndefinedBehaviorSanitizer, called the way
// the Swift modules call them and at their edges: buffers sized exactly (so one element too many is a
// heap overflow ASan reports), names longer than the kernel keeps, CPU numbers out of range, futex
// words shared by two threads, every vector width. Built and run by scripts/sanitize-shims... through
// scripts/test; a sanitizer report or a failed check exits non-zero.
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "FlexCPUID.h"
#include "FlexSHANI.h"
#include "FlexThreads.h"
#include "FlexVector.h"

static int failures = 0;
#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);             \
            failures++;                                                                          \
        }                                                                                        \
    } while (0)

static void test_allowed_cpus(void) {
    int sizes[] = {0, 1, 2, 3, 64, CPU_SETSIZE};
    int all = 0;
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        int max = sizes[k];
        // malloc(0) may return NULL; one element keeps the pointer valid while max stays 0.
        int *out = malloc(sizeof(int) * (size_t)(max ? max : 1));
        int n = fm_allowed_cpus(out, max);
        CHECK(n >= 0 && n <= max);
        for (int i = 1; i < n; i++) CHECK(out[i] > out[i - 1]);
        if (max == CPU_SETSIZE) all = n;
        free(out);
    }
    cpu_set_t set;
    CHECK(sched_getaffinity(0, sizeof(set), &set) == 0);
    CHECK(all == CPU_COUNT(&set));
}

struct pin_result {
    int cpu, pinned, tid;
};

static void *pin_thread(void *arg) {
    struct pin_result *r = arg;
    r->pinned = fm_pin_current_thread(r->cpu);
    r->tid = fm_gettid();
    return NULL;
}

static void test_threads(void) {
    CHECK(fm_pin_current_thread(-1) == -1);
    CHECK(fm_pin_current_thread(CPU_SETSIZE) == -1);
    CHECK(fm_gettid() == (int)syscall(SYS_gettid));
    int cpu;
    CHECK(fm_allowed_cpus(&cpu, 1) == 1);
    struct pin_result r = {cpu, -2, 0};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, pin_thread, &r) == 0);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(r.pinned == 0);
    CHECK(r.tid != 0 && r.tid != fm_gettid());
}

// Two threads hand a token back and forth through two futex words, as the engine's controller and
// workers do; every wait re-checks its condition, so a lost wake-up shows as a hang.
enum { rounds = 20000 };
static uint32_t ping_word, pong_word;
static volatile int turn;

static void *ponger(void *arg) {
    (void)arg;
    for (int i = 0; i < rounds; i++) {
        for (;;) {
            uint32_t seen = fm_word_load(&ping_word);
            if (__atomic_load_n(&turn, __ATOMIC_SEQ_CST) == 1) break;
            fm_word_wait(&ping_word, seen, -1);
        }
        __atomic_store_n(&turn, 0, __ATOMIC_SEQ_CST);
        fm_word_signal(&pong_word);
    }
    return NULL;
}

static void test_words(void) {
    uint32_t *word = malloc(sizeof(uint32_t));
    *word = 7;
    CHECK(fm_word_load(word) == 7);
    fm_word_signal(word);
    CHECK(fm_word_load(word) == 8);
    fm_word_wait(word, 7, -1);  // already changed: returns at once
    fm_word_wait(word, 8, 1000000);  // unchanged: returns after the 1 ms limit
    *word = UINT32_MAX;
    fm_word_signal(word);  // wraps
    CHECK(fm_word_load(word) == 0);
    free(word);

    pthread_t t;
    CHECK(pthread_create(&t, NULL, ponger, NULL) == 0);
    for (int i = 0; i < rounds; i++) {
        __atomic_store_n(&turn, 1, __ATOMIC_SEQ_CST);
        fm_word_signal(&ping_word);
        for (;;) {
            uint32_t seen = fm_word_load(&pong_word);
            if (__atomic_load_n(&turn, __ATOMIC_SEQ_CST) == 0) break;
            fm_word_wait(&pong_word, seen, -1);
        }
    }
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(fm_word_load(&ping_word) == rounds && fm_word_load(&pong_word) == rounds);
}

static void test_cpuid(void) {
    if (!fm_is_x86()) return;
    fm_cpuid_regs *r = malloc(sizeof(fm_cpuid_regs));
    CHECK(fm_cpuid(0, 0, r) == 1);
    uint32_t max = r->eax;
    CHECK(max >= 1);
    // A leaf past the maximum is refused and leaves the output alone.
    memset(r, 0xAB, sizeof(*r));
    CHECK(fm_cpuid(max + 1, 0, r) == 0);
    CHECK(r->eax == 0xABABABABu);
    CHECK(fm_cpuid(0x80000000u, 0, r) == 1);
    CHECK(fm_cpuid(7, 0xFFFFFFFFu, r) == (max >= 7));
    CHECK(fm_cpuid(1, 0, r) == 1);
    uint64_t xcr0 = fm_xgetbv0();
    if (r->ecx & (1u << 27)) CHECK((xcr0 & 3) == 3);  // x87 and SSE state are always saved
    free(r);
}

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
static uint32_t bswap(uint32_t x) { return __builtin_bswap32(x); }

#define CHECK_LANES(N)                                                                           \
    do {                                                                                         \
        fm_u32x##N a = fm_iota_x##N(0xFFFFFFFEu);                                               \
        CHECK(fm_lane_x##N(a, 0) == 0xFFFFFFFEu && fm_lane_x##N(a, 2) == 0);                    \
        CHECK(fm_min_x##N(a) == 0);                                                             \
        fm_u32x##N b = fm_splat_x##N(0x01234567u);                                              \
        for (int n = 1; n < 32; n++) {                                                          \
            fm_u32x##N r = fm_rotr_x##N(fm_add_x##N(a, b), n);                                  \
            fm_u32x##N s = fm_shr_x##N(fm_xor_x##N(a, b), n);                                   \
            for (int i = 0; i < N; i++) {                                                       \
                CHECK(fm_lane_x##N(r, i) == rotr(0xFFFFFFFEu + (uint32_t)i + 0x01234567u, n));  \
                CHECK(fm_lane_x##N(s, i) == ((0xFFFFFFFEu + (uint32_t)i) ^ 0x01234567u) >> n);  \
            }                                                                                   \
        }                                                                                       \
        fm_u32x##N w = fm_bswap_x##N(fm_or_x##N(fm_and_x##N(a, b), b));                         \
        for (int i = 0; i < N; i++)                                                             \
            CHECK(fm_lane_x##N(w, i) == bswap(((0xFFFFFFFEu + (uint32_t)i) & 0x01234567u) | 0x01234567u)); \
    } while (0)

static void test_vectors(void) {
    CHECK_LANES(4);
    CHECK_LANES(8);
    CHECK_LANES(16);
}

static void test_shani(void) {
#if FM_HAVE_SHANI
    fm_cpuid_regs r;
    if (!fm_cpuid(7, 0, &r) || !(r.ebx & (1u << 29))) return;  // this CPU has no SHA extensions
    fm_sha_v4 lo = {0, 1, 2, 3}, hi = {4, 5, 6, 7};
    fm_sha_v4 v = fm_sha_alignr4(hi, lo);
    CHECK(v[0] == 1 && v[1] == 2 && v[2] == 3 && v[3] == 4);
    v = fm_sha_high_pair(hi);
    CHECK(v[0] == 6 && v[1] == 7);
    v = fm_sha_reverse(lo);
    CHECK(v[0] == 3 && v[1] == 2 && v[2] == 1 && v[3] == 0);
    v = fm_sha_unpacklo64(lo, hi);
    CHECK(v[0] == 0 && v[1] == 1 && v[2] == 4 && v[3] == 5);
    v = fm_sha_unpackhi64(lo, hi);
    CHECK(v[0] == 2 && v[1] == 3 && v[2] == 6 && v[3] == 7);
    // The rounds themselves are checked against the reference by the Swift kernel tests; here they only
    // need to run under the sanitizers.
    v = fm_sha_rnds2(lo, hi, fm_sha_add(lo, hi));
    v = fm_sha_msg2(fm_sha_msg1(v, lo), hi);
    (void)v;
#endif
}

int main(void) {
    CHECK(fm_sha_compiled() == FM_HAVE_SHANI);
    test_allowed_cpus();
    test_threads();
    test_words();
    test_cpuid();
    test_vectors();
    test_shani();
    if (failures) {
        fprintf(stderr, "shims: %d checks failed\n", failures);
        return 1;
    }
    printf("shims: all checks passed under ASan+UBSan (SHA extensions %s)\n",
           FM_HAVE_SHANI ? "compiled" : "not compiled");
    return 0;
}
