/// A set of one source's input offsets (the line numbers of a file, the offsets of a topic partition), as `backfill
/// --previous` compares them to count the events that changed state.
///
/// Invariant: a bitmap of the span from `base` (the smallest member) when that span takes at most one 64-bit word per
/// member, so at most as much memory as the members themselves; otherwise the members ascending, each once. Input
/// offsets are dense, so the bitmap is the usual form: 2.5 MB for the 20M offsets of a 20M-event backfill, where the
/// sorted offsets took 160 MB and the standard sort of them ~1.2 s (BENCHMARKS.md, 2026-12-07, tenth session).
struct OffsetSet: Sendable {
    enum Storage: Sendable {
        case bitmap(base: Int64, words: [UInt64])
        case sorted([Int64])
    }

    let storage: Storage
    /// Members (distinct offsets).
    let count: Int

    /// The set of `offsets` (in any order, repeats allowed).
    init(_ offsets: [Int64]) {
        guard let lo = offsets.min(), let hi = offsets.max() else {
            storage = .sorted([])
            count = 0
            return
        }
        let (span, overflow) = hi.subtractingReportingOverflow(lo)
        guard !overflow, span / 64 < Int64(offsets.count) else {
            let s = OffsetSet.sortedUnique(offsets)
            storage = .sorted(s)
            count = s.count
            return
        }
        var words = [UInt64](repeating: 0, count: Int(span / 64) + 1)
        words.withUnsafeMutableBufferPointer { w in
            for o in offsets {
                let d = Int(truncatingIfNeeded: o &- lo)
                w[d &>> 6] |= 1 &<< UInt64(d & 63)
            }
        }
        storage = .bitmap(base: lo, words: words)
        count = words.reduce(0) { $0 + $1.nonzeroBitCount }
    }

    func contains(_ offset: Int64) -> Bool {
        switch storage {
        case let .bitmap(base, words):
            guard offset >= base else { return false }
            let (d, overflow) = offset.subtractingReportingOverflow(base)
            guard !overflow, d / 64 < Int64(words.count) else { return false }
            let i = Int(d)
            return words[i &>> 6] & (1 &<< UInt64(i & 63)) != 0
        case let .sorted(members):
            var lo = 0, hi = members.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if members[mid] < offset { lo = mid + 1 } else { hi = mid }
            }
            return lo < members.count && members[lo] == offset
        }
    }

    /// Calls `body` with each member, ascending.
    func forEach(_ body: (Int64) throws -> Void) rethrows {
        switch storage {
        case let .bitmap(base, words):
            for (i, word) in words.enumerated() {
                var bits = word
                while bits != 0 {
                    try body(base &+ Int64(i &* 64 &+ bits.trailingZeroBitCount))
                    bits &= bits &- 1
                }
            }
        case let .sorted(members):
            for m in members { try body(m) }
        }
    }

    /// Members ascending, as an array.
    var members: [Int64] {
        var out: [Int64] = []
        out.reserveCapacity(count)
        forEach { out.append($0) }
        return out
    }

    /// `offsets` ascending, each once, by sorting: for offsets too sparse for the bitmap.
    static func sortedUnique(_ offsets: [Int64]) -> [Int64] {
        var s = offsets.sorted()
        guard s.count > 1 else { return s }
        var w = 1
        for k in 1..<s.count where s[k] != s[w - 1] {
            s[w] = s[k]
            w += 1
        }
        s.removeLast(s.count - w)
        return s
    }
}
