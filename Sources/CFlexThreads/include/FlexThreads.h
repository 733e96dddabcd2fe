// CPU affinity for worker threads: sched_{get,set}affinity need _GNU_SOURCE and the CPU_* macros,
// which Swift cannot import.
#ifndef FLEX_THREADS_H
#define FLEX_THREADS_H

/// Writes up to `max` CPU numbers this process may run on to `out`; returns how many (0 if unknown).
int fm_allowed_cpus(int *out, int max);

/// Pins the calling thread to `cpu`; returns 0 on success.
int fm_pin_current_thread(int cpu);

#endif
