// CFutex — owns: parking a thread on a 32-bit word until another thread wakes it (Linux futex), for the
// blocking ends of the pipeline's rings. Swift cannot call the variadic syscall(2) itself.
// Must never include: anything but system headers; no state, no allocation.
#ifndef METERLINE_CFUTEX_H
#define METERLINE_CFUTEX_H

#include <errno.h>
#include <stdint.h>
#include <time.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/// Sleeps while `*word == expected`, at most `timeout_ns` nanoseconds; returns at once when the word already
/// differs. May return early (a wake, a signal, a spurious wake-up): the caller re-checks its condition.
/// Returns 1 when it slept the whole timeout, else 0. Without futexes (not Linux), sleeps 20 µs and returns 0.
static inline int meterline_futex_wait(uint32_t *word, uint32_t expected, long timeout_ns) {
#if defined(__linux__)
    struct timespec ts = { timeout_ns / 1000000000L, timeout_ns % 1000000000L };
    long r = syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, &ts, NULL, 0);
    return r == -1 && errno == ETIMEDOUT;
#else
    (void)word; (void)expected; (void)timeout_ns;
    struct timespec ts = { 0, 20000 };
    nanosleep(&ts, NULL);
    return 0;
#endif
}

/// Wakes at most one thread sleeping in `meterline_futex_wait` on `word`.
static inline void meterline_futex_wake(uint32_t *word) {
#if defined(__linux__)
    (void)syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#else
    (void)word;
#endif
}

#endif
