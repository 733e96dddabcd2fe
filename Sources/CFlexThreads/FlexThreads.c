#define _GNU_SOURCE
#include "FlexThreads.h"

#if defined(__linux__)
#include <sched.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <limits.h>
#include <time.h>

int fm_allowed_cpus(int *out, int max) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n < max; cpu++) {
        if (CPU_ISSET(cpu, &set)) out[n++] = cpu;
    }
    return n;
}

int fm_pin_current_thread(int cpu) {
    if (cpu < 0 || cpu >= CPU_SETSIZE) return -1;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof(set), &set);
}

void fm_set_thread_name(const char *name) {
    char buf[16];
    strncpy(buf, name, 15);
    buf[15] = 0;
    pthread_setname_np(pthread_self(), buf);
}

int fm_gettid(void) { return (int)syscall(SYS_gettid); }

uint32_t fm_word_load(const uint32_t *word) { return __atomic_load_n(word, __ATOMIC_SEQ_CST); }

void fm_word_signal(uint32_t *word) {
    __atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST);
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

void fm_word_wait(uint32_t *word, uint32_t seen, int64_t timeout_ns) {
    struct timespec ts;
    struct timespec *limit = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = (time_t)(timeout_ns / 1000000000);
        ts.tv_nsec = (long)(timeout_ns % 1000000000);
        limit = &ts;
    }
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, seen, limit, NULL, 0);
}
#else
int fm_allowed_cpus(int *out, int max) { (void)out; (void)max; return 0; }
int fm_pin_current_thread(int cpu) { (void)cpu; return -1; }
void fm_set_thread_name(const char *name) { (void)name; }
int fm_gettid(void) { return 0; }
#include <time.h>
uint32_t fm_word_load(const uint32_t *word) { return __atomic_load_n(word, __ATOMIC_SEQ_CST); }
void fm_word_signal(uint32_t *word) { __atomic_add_fetch(word, 1, __ATOMIC_SEQ_CST); }
void fm_word_wait(uint32_t *word, uint32_t seen, int64_t timeout_ns) {
    // Without futexes: poll every 100 us.
    struct timespec ts = {0, 100000};
    int64_t waited = 0;
    while (__atomic_load_n(word, __ATOMIC_SEQ_CST) == seen && (timeout_ns < 0 || waited < timeout_ns)) {
        nanosleep(&ts, NULL);
        waited += 100000;
    }
}
#endif
