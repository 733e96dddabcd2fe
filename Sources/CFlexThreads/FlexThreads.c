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
#include <sys/resource.h>

long fm_thread_involuntary_switches(void) {
    struct rusage usage;
    return getrusage(RUSAGE_THREAD, &usage) == 0 ? usage.ru_nivcsw : 0;
}

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

int fm_gettid(void) { return (int)syscall(SYS_gettid); }

#include <errno.h>

int fm_thread_boost(int tid) {
    struct sched_param p = {.sched_priority = 1};
    return sched_setscheduler(tid, SCHED_FIFO, &p) == 0 ? 0 : errno;
}

int fm_self_boost(int *saved_policy, int *saved_priority) {
    struct sched_param old;
    int policy = sched_getscheduler(0);
    if (policy < 0 || sched_getparam(0, &old) != 0) return errno;
    *saved_policy = policy;
    *saved_priority = old.sched_priority;
    if ((policy & ~SCHED_RESET_ON_FORK) == SCHED_FIFO || (policy & ~SCHED_RESET_ON_FORK) == SCHED_RR) return 0;
    struct sched_param p = {.sched_priority = 1};
    return sched_setscheduler(0, SCHED_FIFO, &p) == 0 ? 0 : errno;
}

void fm_self_restore(int policy, int priority) {
    struct sched_param p = {.sched_priority = priority};
    sched_setscheduler(0, policy, &p);
}

int fm_thread_unboost(int policy) {
    struct sched_param p = {.sched_priority = 0};
    return sched_setscheduler(0, policy, &p) == 0 ? 0 : errno;
}

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
int fm_gettid(void) { return 0; }
long fm_thread_involuntary_switches(void) { return 0; }
int fm_thread_boost(int tid) { (void)tid; return 1; }
int fm_thread_unboost(int policy) { (void)policy; return 0; }
int fm_self_boost(int *saved_policy, int *saved_priority) { *saved_policy = 0; *saved_priority = 0; return 1; }
void fm_self_restore(int policy, int priority) { (void)policy; (void)priority; }
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
