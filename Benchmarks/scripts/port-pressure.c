// Port pressure on x86: does `sha256rnds2` compete with the lane kernel's AVX-512 operations for the
// same execution pipes? (issue 28, the hybrid kernels; results in docs/performance.md)
//
// build and run:  clang -O2 -march=x86-64-v4 -msha -o /tmp/port-pressure Benchmarks/scripts/port-pressure.c
//                 /tmp/port-pressure
//
// Every figure is the best of 30-40 repetitions of a 4000-iteration loop, timed with rdtsc and converted
// to core cycles by a chain of dependent scalar adds (one cycle each), so a shared machine's noise, which
// only ever adds time, mostly drops out. Part 1: throughput of each instruction alone (8 independent
// chains) and of pairs (if a pair costs the sum, the two share a pipe; the maximum, they do not). Part 2:
// the lane kernel's operation mix per 16-lane step (1022 rotates, 157 shifts, 629 ternlogs, 1047 adds,
// about 7:1:4:7) on independent registers, with 1-8 `sha256rnds2` added: the marginal cycles per rnds2.
// Part 3: the same with whole SHA quads as the SHA kernel runs them. Part 4: rnds2 only, W + K from memory.
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <x86intrin.h>
#define N 4000
static double cyclesPerTick = 1;

static double measureClock(void) {
    double b = 1e30;
    for (int r = 0; r < 50; r++) {
        uint64_t x = 1;
        uint64_t t0 = __rdtsc();
        for (int i = 0; i < 100000; i++) {
            __asm__ volatile("add %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\t"
                             "add %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0\n\tadd %0,%0" : "+r"(x));
        }
        double t = (double)(__rdtsc() - t0) / (100000 * 10.0);
        if (t < b) b = t;
    }
    return 1 / b;
}
static double best(double (*f)(void)) { double b = 1e30; for (int r = 0; r < 30; r++) { double t = f(); if (t < b) b = t; } return b * cyclesPerTick; }
#define REP8(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
static __m128i s[8]; static __m512i z[8];
#define LOADS __m128i a0=s[0],a1=s[1],a2=s[2],a3=s[3],a4=s[4],a5=s[5],a6=s[6],a7=s[7],wk=s[0]; __m512i v0=z[0],v1=z[1],v2=z[2],v3=z[3],v4=z[4],v5=z[5],v6=z[6],v7=z[7];
#define STORES s[0]=a0;s[1]=a1;s[2]=a2;s[3]=a3;s[4]=a4;s[5]=a5;s[6]=a6;s[7]=a7;z[0]=v0;z[1]=v1;z[2]=v2;z[3]=v3;z[4]=v4;z[5]=v5;z[6]=v6;z[7]=v7;
#define SHA(i) a##i = _mm_sha256rnds2_epu32(a##i, a##i, wk);
#define ROT(i) v##i = _mm512_rol_epi32(v##i, 7);
#define ADD(i) v##i = _mm512_add_epi32(v##i, v##i);
#define TERN(i) v##i = _mm512_ternarylogic_epi32(v##i, v##i, v##i, 0xCA);
#define SHIFT(i) v##i = _mm512_srli_epi32(v##i, 3);
#define BENCH(name, body) static double name(void) { LOADS uint64_t t0 = __rdtsc(); for (int i = 0; i < N; i++) { body __asm__ volatile("" : "+x"(a0),"+x"(a1),"+x"(a2),"+x"(a3),"+x"(a4),"+x"(a5),"+x"(a6),"+x"(a7)); __asm__ volatile("" : "+v"(v0),"+v"(v1),"+v"(v2),"+v"(v3),"+v"(v4),"+v"(v5),"+v"(v6),"+v"(v7)); } uint64_t t1 = __rdtsc(); STORES return (double)(t1 - t0) / N; }
BENCH(sha8, REP8(SHA))
BENCH(sha1chain, SHA(0) SHA(0) SHA(0) SHA(0) SHA(0) SHA(0) SHA(0) SHA(0))
BENCH(rot8, REP8(ROT))
BENCH(add8, REP8(ADD))
BENCH(tern8, REP8(TERN))
BENCH(shift8, REP8(SHIFT))
BENCH(sha_rot, REP8(SHA) REP8(ROT))
BENCH(sha_add, REP8(SHA) REP8(ADD))
BENCH(sha_tern, REP8(SHA) REP8(TERN))
BENCH(sha_shift, REP8(SHA) REP8(SHIFT))
BENCH(rot_add, REP8(ROT) REP8(ADD))
BENCH(add_tern, REP8(ADD) REP8(TERN))
BENCH(sha4_rot8, SHA(0) SHA(1) SHA(2) SHA(3) REP8(ROT))
BENCH(sha4_add8, SHA(0) SHA(1) SHA(2) SHA(3) REP8(ADD))

BENCH(rot_shift, REP8(ROT) REP8(SHIFT))
BENCH(rot_tern, REP8(ROT) REP8(TERN))
BENCH(shift_tern, REP8(SHIFT) REP8(TERN))
BENCH(rot_add_tern, REP8(ROT) REP8(ADD) REP8(TERN))
BENCH(sha_shift_add, REP8(SHA) REP8(SHIFT) REP8(ADD))
BENCH(sha_add_tern, REP8(SHA) REP8(ADD) REP8(TERN))
static void part1(void) {
  for (int i = 0; i < 8; i++) { s[i] = _mm_set1_epi32(i * 77 + 1); z[i] = _mm512_set1_epi32(i * 91 + 3); }
  struct { const char *n; double (*f)(void); int ops; } t[] = {
    {"8 sha256rnds2 (indep)", sha8, 8}, {"8 sha256rnds2 (1 chain)", sha1chain, 8},
    {"8 vprold zmm", rot8, 8}, {"8 vpaddd zmm", add8, 8}, {"8 vpternlogd zmm", tern8, 8}, {"8 vpsrld zmm", shift8, 8},
    {"8 rnds2 + 8 vprold", sha_rot, 16}, {"8 rnds2 + 8 vpaddd", sha_add, 16}, {"8 rnds2 + 8 vpternlogd", sha_tern, 16},
    {"8 rnds2 + 8 vpsrld", sha_shift, 16}, {"8 vprold + 8 vpaddd", rot_add, 16}, {"8 vpaddd + 8 vpternlogd", add_tern, 16},
    {"4 rnds2 + 8 vprold", sha4_rot8, 12}, {"4 rnds2 + 8 vpaddd", sha4_add8, 12},
 {"8 vprold + 8 vpsrld", rot_shift, 16}, {"8 vprold + 8 vpternlogd", rot_tern, 16}, {"8 vpsrld + 8 vpternlogd", shift_tern, 16},
 {"8 rot + 8 add + 8 tern", rot_add_tern, 24}, {"8 rnds2 + 8 srl + 8 add", sha_shift_add, 24}, {"8 rnds2 + 8 add + 8 tern", sha_add_tern, 24},
  };
  for (unsigned i = 0; i < sizeof t / sizeof t[0]; i++) printf("%-28s %7.2f cycles\n", t[i].n, best(t[i].f));
  volatile int sink = _mm_cvtsi128_si32(s[0]) + _mm512_reduce_add_epi32(z[0]); (void)sink;
}
static __m512i zz[16]; static __m128i ss[8];
#define MIXBODY \
 v0=_mm512_rol_epi32(v0,7); v1=_mm512_add_epi32(v1,v9); v2=_mm512_rol_epi32(v2,11); v3=_mm512_ternarylogic_epi32(v3,v10,v11,0xCA); \
 v4=_mm512_add_epi32(v4,v12); v5=_mm512_rol_epi32(v5,13); v6=_mm512_add_epi32(v6,v13); v7=_mm512_srli_epi32(v7,3); \
 v8=_mm512_rol_epi32(v8,17); v9=_mm512_ternarylogic_epi32(v9,v14,v15,0xE8); v10=_mm512_add_epi32(v10,v0); v11=_mm512_rol_epi32(v11,19); \
 v12=_mm512_add_epi32(v12,v1); v13=_mm512_ternarylogic_epi32(v13,v2,v4,0x96); v14=_mm512_rol_epi32(v14,22); v15=_mm512_add_epi32(v15,v5); \
 v0=_mm512_add_epi32(v0,v6); v1=_mm512_ternarylogic_epi32(v1,v7,v8,0xCA); v2=_mm512_rol_epi32(v2,25);
#undef SHA
#define SHA(i) a##i = _mm_sha256rnds2_epu32(a##i, b##i, wk);
#undef BENCH
#define BENCH(name, body) static double name(void) { \
  __m512i v0=zz[0],v1=zz[1],v2=zz[2],v3=zz[3],v4=zz[4],v5=zz[5],v6=zz[6],v7=zz[7],v8=zz[8],v9=zz[9],v10=zz[10],v11=zz[11],v12=zz[12],v13=zz[13],v14=zz[14],v15=zz[15]; \
  __m128i a0=ss[0],a1=ss[1],a2=ss[2],a3=ss[3],b0=ss[4],b1=ss[5],b2=ss[6],b3=ss[7],wk=ss[0]; double b=1e30; \
  for (int r=0;r<40;r++){ uint64_t t0=__rdtsc(); for (int i=0;i<N;i++){ body \
   __asm__ volatile("" : "+x"(a0),"+x"(a1),"+x"(a2),"+x"(a3)); } uint64_t t=__rdtsc()-t0; if (t<b) b=t; } \
  zz[0]=v0;zz[1]=v1;zz[2]=v2;zz[3]=v3;zz[4]=v4;zz[5]=v5;zz[6]=v6;zz[7]=v7;zz[8]=v8;zz[9]=v9;zz[10]=v10;zz[11]=v11;zz[12]=v12;zz[13]=v13;zz[14]=v14;zz[15]=v15; ss[0]=a0;ss[1]=a1;ss[2]=a2;ss[3]=a3; \
  return b*cyclesPerTick/N; }
BENCH(mix_m0, MIXBODY MIXBODY)
BENCH(mix_m1, MIXBODY SHA(0) MIXBODY)
BENCH(mix_m2, MIXBODY SHA(0) MIXBODY SHA(1))
BENCH(mix_m4, MIXBODY SHA(0) SHA(1) MIXBODY SHA(2) SHA(3))
BENCH(mix_m8, MIXBODY SHA(0) SHA(1) SHA(2) SHA(3) MIXBODY SHA(0) SHA(1) SHA(2) SHA(3))
BENCH(mix_s4, SHA(0) SHA(1) SHA(2) SHA(3))
static void part2(void){ for(int i=0;i<16;i++) zz[i]=_mm512_set1_epi32(i*7+1); for(int i=0;i<8;i++) ss[i]=_mm_set1_epi32(i*3+5);
 double b0=mix_m0(); printf("38 lane ops           : %6.2f cycles (%.2f zmm ops/cycle)\n", b0, 38/b0);
 double c[]={mix_m1(),mix_m2(),mix_m4(),mix_m8()}; int k[]={1,2,4,8};
 for(int i=0;i<4;i++) printf("38 lane ops + %d rnds2: %6.2f cycles, marginal %.2f cycles per rnds2\n", k[i], c[i], (c[i]-b0)/k[i]);
 printf("4 rnds2 alone (4 chains): %.2f cycles\n", mix_s4());
 volatile int sink=_mm512_reduce_add_epi32(zz[0])+_mm_cvtsi128_si32(ss[0]); (void)sink; }

// Part 3: a whole SHA-extension quad as the kernel runs it (schedule: msg1, alignr, add, msg2; W + K add;
// rnds2; pshufd; rnds2 = 8 instructions, 4 rounds of one nonce), two independent streams, inside the mix.
#define QUAD(x) { __m128i t = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(m0##x, m1##x), \
    _mm_alignr_epi8(m3##x, m2##x, 4)), m3##x); m0##x = m1##x; m1##x = m2##x; m2##x = m3##x; m3##x = t; \
    __m128i wk = _mm_add_epi32(t, kk); c##x = _mm_sha256rnds2_epu32(c##x, a##x, wk); \
    a##x = _mm_sha256rnds2_epu32(a##x, c##x, _mm_shuffle_epi32(wk, 0x0E)); }
#define QBENCH(name, body) static double name(void) { \
  __m512i v0=zz[0],v1=zz[1],v2=zz[2],v3=zz[3],v4=zz[4],v5=zz[5],v6=zz[6],v7=zz[7],v8=zz[8],v9=zz[9],v10=zz[10],v11=zz[11],v12=zz[12],v13=zz[13],v14=zz[14],v15=zz[15]; \
  __m128i a0=ss[0],c0=ss[1],m00=ss[2],m10=ss[3],m20=ss[4],m30=ss[5],a1=ss[6],c1=ss[7],m01=ss[2],m11=ss[3],m21=ss[4],m31=ss[5],kk=ss[1]; double b=1e30; \
  for (int r=0;r<40;r++){ uint64_t t0=__rdtsc(); for (int i=0;i<N;i++){ body \
   __asm__ volatile("" : "+x"(a0),"+x"(a1),"+x"(c0),"+x"(c1)); } uint64_t t=__rdtsc()-t0; if (t<b) b=t; } \
  zz[0]=v0;zz[1]=v1;zz[2]=v2;zz[3]=v3;zz[4]=v4;zz[5]=v5;zz[6]=v6;zz[7]=v7;zz[8]=v8;zz[9]=v9;zz[10]=v10;zz[11]=v11;zz[12]=v12;zz[13]=v13;zz[14]=v14;zz[15]=v15; \
  ss[0]=_mm_add_epi32(_mm_add_epi32(a0,a1),_mm_add_epi32(c0,c1)); ss[2]=_mm_add_epi32(m30,m31); \
  return b*cyclesPerTick/N; }
QBENCH(q_lanes, MIXBODY MIXBODY MIXBODY MIXBODY)
QBENCH(q_one, MIXBODY MIXBODY QUAD(0) MIXBODY MIXBODY)
QBENCH(q_two, MIXBODY QUAD(0) MIXBODY QUAD(1) MIXBODY MIXBODY)
QBENCH(q_four, MIXBODY QUAD(0) MIXBODY QUAD(1) MIXBODY QUAD(0) MIXBODY QUAD(1))
QBENCH(q_alone, QUAD(0) QUAD(1))
static void part3(void) {
    double l = q_lanes();
    printf("76 lane ops            : %6.2f cycles\n", l);
    double q[] = {q_one(), q_two(), q_four()};
    int n[] = {1, 2, 4};
    for (int i = 0; i < 3; i++)
        printf("76 lane ops + %d quads  : %6.2f cycles, marginal %.2f cycles per quad (%.2f per SHA round)\n", n[i], q[i],
               (q[i] - l) / n[i], (q[i] - l) / n[i] / 4);
    printf("2 quads alone (2 streams): %.2f cycles (%.2f per SHA round)\n", q_alone(), q_alone() / 8);
}

// Part 4: rounds only: 62 sha256rnds2 per nonce with W + K precomputed in memory (no msg1/msg2), 2-6
// nonces interleaved, alone and beside the lane mix: what a kernel that leaves the schedule to the lanes
// could reach.
static uint32_t wkMemory[8][128] __attribute__((aligned(64)));
static __m128i roundState[16];
#define RQ(w) { __m128i x = _mm_load_si128((const __m128i *)&wkMemory[w][4 * q]); \
    c##w = _mm_sha256rnds2_epu32(c##w, a##w, x); a##w = _mm_sha256rnds2_epu32(a##w, c##w, _mm_shuffle_epi32(x, 0x0E)); }
#define RRUN(name, WAYS, QBODY, MIX) static double name(void) { double b = 1e30; \
  __m512i v0=zz[0],v1=zz[1],v2=zz[2],v3=zz[3],v4=zz[4],v5=zz[5],v6=zz[6],v7=zz[7],v8=zz[8],v9=zz[9],v10=zz[10],v11=zz[11],v12=zz[12],v13=zz[13],v14=zz[14],v15=zz[15]; \
  for (int r = 0; r < 30; r++) { uint64_t t0 = __rdtsc(); \
    for (int it = 0; it < 500; it++) { \
      __m128i a0=roundState[0],c0=roundState[1],a1=roundState[2],c1=roundState[3],a2=roundState[4],c2=roundState[5],a3=roundState[6],c3=roundState[7],a4=roundState[8],c4=roundState[9],a5=roundState[10],c5=roundState[11]; \
      for (int q = 0; q < 31; q++) { QBODY MIX } \
      roundState[0]=a0;roundState[1]=c0;roundState[2]=a1;roundState[3]=c1;roundState[4]=a2;roundState[5]=c2;roundState[6]=a3;roundState[7]=c3;roundState[8]=a4;roundState[9]=c4;roundState[10]=a5;roundState[11]=c5; } \
    uint64_t t = __rdtsc() - t0; if (t < b) b = t; } \
  zz[0]=v0;zz[1]=v1;zz[2]=v2;zz[3]=v3;zz[4]=v4;zz[5]=v5;zz[6]=v6;zz[7]=v7;zz[8]=v8;zz[9]=v9;zz[10]=v10;zz[11]=v11;zz[12]=v12;zz[13]=v13;zz[14]=v14;zz[15]=v15; \
  return b * cyclesPerTick / 500 / WAYS; }
RRUN(r_w2, 2, RQ(0) RQ(1), )
RRUN(r_w4, 4, RQ(0) RQ(1) RQ(2) RQ(3), )
RRUN(r_w6, 6, RQ(0) RQ(1) RQ(2) RQ(3) RQ(4) RQ(5), )
RRUN(r_mix, 1, , MIXBODY)
RRUN(r_w4mix, 4, RQ(0) RQ(1) RQ(2) RQ(3), MIXBODY)
RRUN(r_w6mix, 6, RQ(0) RQ(1) RQ(2) RQ(3) RQ(4) RQ(5), MIXBODY)
static void part4(void) {
    for (int i = 0; i < 16; i++) roundState[i] = _mm_set1_epi32(i + 1);
    for (int w = 0; w < 8; w++) for (int i = 0; i < 128; i++) wkMemory[w][i] = i * 2654435761u + w;
    printf("62 rnds2 per nonce from precomputed W+K: 2 ways %.1f, 4 ways %.1f, 6 ways %.1f cycles/nonce\n", r_w2(),
           r_w4(), r_w6());
    double m = r_mix();
    double w4 = r_w4mix() * 4, w6 = r_w6mix() * 6;
    printf("beside 31 x 19 lane ops (%.1f cycles): 4 nonces +%.1f cycles (%.2f per rnds2), 6 nonces +%.1f (%.2f)\n", m,
           w4 - m, (w4 - m) / 248, w6 - m, (w6 - m) / 372);
}

int main(void) {
    cyclesPerTick = measureClock();
    printf("core clock / TSC: %.3f\n\npart 1: 8 independent chains per instruction, cycles per loop iteration\n", cyclesPerTick);
    part1();
    printf("\npart 2: the lane kernel's mix (38 AVX-512 ops on independent registers) plus sha256rnds2\n");
    part2();
    printf("\npart 3: whole SHA quads (schedule + 2 rnds2 = 4 rounds of one nonce) inside the lane mix\n");
    part3();
    printf("\npart 4: rounds only (W+K from memory, no msg1/msg2)\n");
    part4();
}
