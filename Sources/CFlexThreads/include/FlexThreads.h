// CPU affinity for worker threads: sched_{get,set}affinity need _GNU_SOURCE and the CPU_* macros,
// which Swift cannot import.
#ifndef FLEX_THREADS_H
#define FLEX_THREADS_H

/// Writes up to `max` CPU numbers this process may run on to `out`; returns how many (0 if unknown).
int fm_allowed_cpus(int *out, int max);

/// Pins the calling thread to `cpu`; returns 0 on success.
int fm_pin_current_thread(int cpu);

/// The kernel thread id of the calling thread (what /proc/PID/task/TID shows).
int fm_gettid(void);

/// Gives thread `tid` real-time priority (SCHED_FIFO 1) so that it runs at once, ahead of every ordinary
/// thread of any process. Used only to let a halting worker that another process keeps off the CPU
/// finish its batch and park (it drops back to its own priority before hashing again). Needs
/// CAP_SYS_NICE or RLIMIT_RTPRIO >= 1; returns 0, or the errno (EPERM without them).
int fm_thread_boost(int tid);

/// Puts the calling thread back under `policy` (SCHED_OTHER = 0 keeps its nice value, SCHED_IDLE = 5)
/// in one call; returns 0 or the errno.
int fm_thread_unboost(int policy);

/// Raises the calling thread to SCHED_FIFO 1 for a short critical wait, storing its policy and priority
/// for `fm_self_restore`; returns 0, or the errno (nothing changed). A thread already real-time is left
/// alone (returns 0 with its own policy saved).
int fm_self_boost(int *saved_policy, int *saved_priority);

/// Restores the policy and priority saved by `fm_self_boost`.
void fm_self_restore(int policy, int priority);

/// Involuntary context switches of the calling thread so far (getrusage RUSAGE_THREAD, which needs
/// _GNU_SOURCE); 0 where unknown.
long fm_thread_involuntary_switches(void);

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
