// CPU affinity for worker threads: sched_{get,set}affinity need _GNU_SOURCE and the CPU_* macros,
// which Swift cannot import.
#ifndef FLEX_THREADS_H
#define FLEX_THREADS_H

/// Writes up to `max` CPU numbers this process may run on to `out`; returns how many (0 if unknown).
int fm_allowed_cpus(int *out, int max);

/// Pins the calling thread to `cpu`; returns 0 on success.
int fm_pin_current_thread(int cpu);

/// Names the calling thread (at most 15 bytes are kept), so tools and /proc show what it does.
void fm_set_thread_name(const char *name);

/// The kernel thread id of the calling thread (what /proc/PID/task/TID shows).
int fm_gettid(void);

#include <stdint.h>

/// Futex-backed wake-up words: a waiter reads the word, re-checks its condition, then sleeps only if the
/// word is unchanged; a signaller changes the condition, then bumps the word and wakes every sleeper.
/// No mutex is shared between the controller and the (low-priority) workers, so a worker preempted at
/// the wrong moment cannot hold up a halt or a resume.
uint32_t fm_word_load(const uint32_t *word);

/// Increments `word` and wakes every thread waiting on it.
void fm_word_signal(uint32_t *word);

/// Sleeps while `*word == seen`, at most `timeout_ns` (negative: no limit). Returns at once if the word
/// already differs; may return spuriously.
void fm_word_wait(uint32_t *word, uint32_t seen, int64_t timeout_ns);

#endif
