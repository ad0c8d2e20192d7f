import CSched

// Owns: the CPU time slice a pipeline thread asks the kernel for (through the CSched shim).

/// The scheduler time slice of the calling thread.
///
/// A backfill runs more busy threads than there are cores (the reader, one per shard, the lineage writer), so the
/// kernel takes turns between them. Each turn costs the next thread its working set in the core's caches (a
/// shard's open windows, the reader's zstd window), and at Linux's default slice (0.7 ms × (1 + log2 cores), 1.4 ms
/// on 2 cores) a 20M-event backfill switched ~6,400 times. A thread that only wants throughput can ask for a longer
/// slice. On Linux's EEVDF scheduler a longer slice also means a later deadline, so threads that asked for nothing
/// (an HTTP server, librdkafka's) still go first when they wake.
///
/// Invariant: a request changes only the calling thread's slice, never its policy or nice value; a thread outside
/// the fair class (real-time, idle) is left alone.
public enum ThreadTimeSlice {
    /// The longest slice Linux grants (100 ms); longer requests are clamped to it.
    public static let longest: UInt64 = 100_000_000

    /// The calling thread's slice in nanoseconds as the kernel reports it; nil when it reports none (before Linux
    /// 6.12, a thread outside the fair class, a sandbox that refuses the call).
    public static var current: UInt64? {
        let s = meterline_time_slice()
        return s == 0 ? nil : s
    }

    /// Asks for a slice of `nanoseconds` for the calling thread (0: the kernel's default again) and returns the
    /// slice it then has (`current`). Linux 6.12 and later clamp the request to 0.1–100 ms; earlier kernels ignore
    /// it and nil comes back. A hint: nothing else depends on it being granted.
    @discardableResult
    public static func request(_ nanoseconds: UInt64) -> UInt64? {
        _ = meterline_request_time_slice(nanoseconds)
        return current
    }
}
