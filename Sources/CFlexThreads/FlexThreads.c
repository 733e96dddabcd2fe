#define _GNU_SOURCE
#include "FlexThreads.h"

#if defined(__linux__)
#include <sched.h>

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
#else
int fm_allowed_cpus(int *out, int max) { (void)out; (void)max; return 0; }
int fm_pin_current_thread(int cpu) { (void)cpu; return -1; }
#endif
