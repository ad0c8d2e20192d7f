// Owns: the close queue of a partition's open windows (by window end), with its earliest end kept beside it so the
// per-event watermark check is one compare: a watermark that moves within an hour closes nothing most of the time;
// and the window-start memo of the accept path.

import MeterlineCore

/// Open (not yet rated) windows grouped by window end.
/// Invariant: `earliestEnd` is the smallest key of `byEnd`, or `Int64.max` when it is empty; every key's list is non-empty.
struct OpenWindows {
    private var byEnd: [Int64: [RollupKey]] = [:]
    private(set) var earliestEnd = Int64.max

    var isEmpty: Bool { byEnd.isEmpty }

    /// Queues a window that closes when the watermark reaches `end`.
    mutating func add(_ key: RollupKey, end: Int64) {
        byEnd[end, default: []].append(key)
        if end < earliestEnd { earliestEnd = end }
    }

    /// Removes and returns the windows ending at or before `watermark`, grouped by end in ascending end order
    /// (each group in the order its windows were added). Nothing is scanned when no window ends by then.
    mutating func take(upTo watermark: Int64) -> [(end: Int64, keys: [RollupKey])] {
        guard watermark >= earliestEnd else { return [] }
        let ends = byEnd.keys.filter { $0 <= watermark }.sorted()
        var out: [(end: Int64, keys: [RollupKey])] = []
        out.reserveCapacity(ends.count)
        for end in ends { out.append((end, byEnd.removeValue(forKey: end)!)) }
        earliestEnd = byEnd.keys.min() ?? .max
        assert(out.allSatisfy { $0.end <= watermark } && (byEnd.isEmpty || earliestEnd > watermark), "take(upTo:) left a due window or took a later one")
        return out
    }

    mutating func removeAll() {
        byEnd.removeAll()
        earliestEnd = .max
    }
}

/// `UTC.floor` for window starts, remembering the last window: consecutive events mostly fall in the same window,
/// so most events skip the division (a 64-bit divide by a run-time window size takes tens of cycles). A cache of a
/// pure function: the result is `UTC.floor(t, unit)` for every input.
/// Invariant: when `unit > 0`, `start == UTC.floor(start, unit)`.
struct WindowFloorMemo {
    private var unit: Int64 = 0
    private var start: Int64 = 0

    @inline(__always)
    mutating func floor(_ t: Int64, _ unit: Int64) -> Int64 {
        // t ≥ start makes the difference exact as an unsigned number, even where `t − start` would overflow Int64.
        if unit == self.unit && t >= start && UInt64(bitPattern: t &- start) < UInt64(bitPattern: unit) { return start }
        start = UTC.floor(t, unit)
        self.unit = unit
        return start
    }
}
