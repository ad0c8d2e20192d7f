// CSched — owns: asking the kernel for the calling thread's CPU time slice (Linux sched_setattr(2)), for threads
// that run busy beside more busy threads than there are cores. Swift cannot call the variadic syscall(2) itself.
// Must never include: anything but system headers; no state, no allocation.
#ifndef METERLINE_CSCHED_H
#define METERLINE_CSCHED_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

/// The first 48 bytes of the kernel's `struct sched_attr` (`SCHED_ATTR_SIZE_VER0`), under a name of our own: some
/// C libraries declare the kernel's struct too.
struct meterline_sched_attr {
    uint32_t size;
    uint32_t sched_policy;
    uint64_t sched_flags;
    int32_t sched_nice;
    uint32_t sched_priority;
    uint64_t sched_runtime;
    uint64_t sched_deadline;
    uint64_t sched_period;
};

/// The fair-class policies (`SCHED_OTHER`, `SCHED_BATCH`; <sched.h> names the second only under _GNU_SOURCE).
#define METERLINE_SCHED_OTHER 0u
#define METERLINE_SCHED_BATCH 3u

/// The calling thread's time slice as the kernel reports it, in nanoseconds: the slice of a fair-class thread
/// (`SCHED_OTHER`, `SCHED_BATCH`) on Linux 6.12 or later; 0 when the kernel reports none (earlier kernels, another
/// policy, a sandbox that refuses the call, not Linux).
static inline uint64_t meterline_time_slice(void) {
#if defined(__linux__) && defined(SYS_sched_getattr)
    struct meterline_sched_attr a;
    memset(&a, 0, sizeof a);
    if (syscall(SYS_sched_getattr, 0, &a, (unsigned)sizeof a, 0) != 0) return 0;
    if (a.sched_policy != METERLINE_SCHED_OTHER && a.sched_policy != METERLINE_SCHED_BATCH) return 0;
    return a.sched_runtime;
#else
    return 0;
#endif
}

/// Asks for a time slice of `nanoseconds` for the calling thread (0: the kernel's default again), keeping its
/// policy and nice value. Linux 6.12 and later honour it for fair-class threads, clamped to 0.1–100 ms; earlier
/// kernels accept and ignore it. Returns 0, or the errno of a refused call; ENOTSUP for a thread that is not in
/// the fair class (a real-time or idle policy is left alone).
static inline int meterline_request_time_slice(uint64_t nanoseconds) {
#if defined(__linux__) && defined(SYS_sched_setattr) && defined(SYS_sched_getattr)
    struct meterline_sched_attr a;
    memset(&a, 0, sizeof a);
    if (syscall(SYS_sched_getattr, 0, &a, (unsigned)sizeof a, 0) != 0) return errno;
    if (a.sched_policy != METERLINE_SCHED_OTHER && a.sched_policy != METERLINE_SCHED_BATCH) return ENOTSUP;
    a.size = (uint32_t)sizeof a;
    a.sched_flags &= 0x01; // SCHED_FLAG_RESET_ON_FORK only: the utilization flags need the longer struct
    a.sched_runtime = nanoseconds;
    a.sched_deadline = 0;
    a.sched_period = 0;
    if (syscall(SYS_sched_setattr, 0, &a, 0) != 0) return errno;
    return 0;
#else
    (void)nanoseconds;
    return ENOTSUP;
#endif
}

#endif
