// CPrefetch — owns: a cache prefetch hint for Swift (Swift has no prefetch intrinsic).
// Must never include: anything but this header; no state, no allocation.
#ifndef METERLINE_CPREFETCH_H
#define METERLINE_CPREFETCH_H

/// Hints the CPU to load the cache line holding `p` for reading; never faults, never changes memory.
static inline void meterline_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

#endif
