/// A set of one source's input offsets (the line numbers of a file, the offsets of a topic partition), as `backfill
/// --previous` compares them to count the events that changed state.
///
/// Invariant: either a bitmap whose bit `i` is offset `base + i`, `base` a multiple of 64, of at most one 64-bit word
/// per member (so at most as much memory as the members themselves), or the members ascending, each once; `count` is
/// the number of members.
/// Input offsets are dense, so the bitmap is the usual form: 2.5 MB for the 20M offsets of a 20M-event backfill, where
/// the sorted offsets took 160 MB and the standard sort of them ~1.2 s (BENCHMARKS.md, 2026-12-07, tenth session).
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
        var b = Builder()
        b.insert(contentsOf: offsets)
        self = b.build()
    }

    /// The set of the bits of `words`, bit `i` being offset `base + i` (`base` a multiple of 64); the bitmap is kept
    /// when it is small enough.
    init(bitmap words: [UInt64], base: Int64) {
        precondition(base & 63 == 0, "a bitmap's base \(base) is not a multiple of 64")
        let n = words.reduce(0) { $0 + $1.nonzeroBitCount }
        count = n
        if words.count <= n {
            storage = .bitmap(base: base, words: words)
        } else {
            var members: [Int64] = []
            members.reserveCapacity(n)
            OffsetSet.forEachBit(words, base) { members.append($0) }
            storage = .sorted(members)
        }
    }

    init(sorted members: [Int64]) {
        storage = .sorted(members)
        count = members.count
    }

    func contains(_ offset: Int64) -> Bool {
        switch storage {
        case let .bitmap(base, words):
            let (d, overflow) = offset.subtractingReportingOverflow(base)
            guard !overflow, d >= 0, d / 64 < Int64(words.count) else { return false }
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
        case let .bitmap(base, words): try OffsetSet.forEachBit(words, base, body)
        case let .sorted(members): for m in members { try body(m) }
        }
    }

    /// How many members of this set `other` lacks.
    func countNotIn(_ other: OffsetSet) -> Int {
        var n = 0
        if let aligned = alignedWords(other) {
            for (w, o) in aligned { n += (w & ~o).nonzeroBitCount }
        } else {
            forEach { if !other.contains($0) { n += 1 } }
        }
        return n
    }

    /// Calls `body` with each member `other` lacks, ascending.
    func forEachNotIn(_ other: OffsetSet, _ body: (Int64) throws -> Void) rethrows {
        guard case let .bitmap(base, _) = storage, let aligned = alignedWords(other) else {
            try forEach { if !other.contains($0) { try body($0) } }
            return
        }
        for (i, (w, o)) in aligned.enumerated() {
            var bits = w & ~o
            while bits != 0 {
                try body(base &+ Int64(i &* 64 &+ bits.trailingZeroBitCount))
                bits &= bits &- 1
            }
        }
    }

    /// When both sets are bitmaps: each word of this one with the word of `other` that holds the same offsets (0
    /// where `other` has none), so set operations go a word, 64 offsets, at a time.
    private func alignedWords(_ other: OffsetSet) -> LazyMapSequence<EnumeratedSequence<[UInt64]>, (UInt64, UInt64)>? {
        guard case let .bitmap(base, words) = storage, case let .bitmap(otherBase, otherWords) = other.storage else { return nil }
        let (d, overflow) = base.subtractingReportingOverflow(otherBase)
        guard !overflow else { return nil }
        let shift = d / 64  // exact: both bases are multiples of 64
        return words.enumerated().lazy.map { i, w in
            let (j, o) = shift.addingReportingOverflow(Int64(i))
            return (w, !o && j >= 0 && j < Int64(otherWords.count) ? otherWords[Int(j)] : 0)
        }
    }

    /// Members ascending, as an array.
    var members: [Int64] {
        var out: [Int64] = []
        out.reserveCapacity(count)
        forEach { out.append($0) }
        return out
    }

    static func forEachBit(_ words: [UInt64], _ base: Int64, _ body: (Int64) throws -> Void) rethrows {
        for (i, word) in words.enumerated() {
            var bits = word
            while bits != 0 {
                try body(base &+ Int64(i &* 64 &+ bits.trailingZeroBitCount))
                bits &= bits &- 1
            }
        }
    }

    /// Collects offsets as they come (the lineage writer's, a checkpoint at a time) into a bitmap that grows to the
    /// span seen so far, so a backfill's positions never sit in memory as one 8-byte offset each.
    ///
    /// Invariant: while `spilled` is empty, the members are the bits of `words` (bit `i` is offset `base + i`, `base`
    /// a multiple of 64) and `words` holds at most `2 × inserted + slackWords` words; offsets so sparse that the
    /// bitmap would outgrow that (or whose span overflows Int64) move every member to `spilled`, an unsorted list
    /// from then on.
    struct Builder: Sendable {
        private var base: Int64 = 0
        private var words: [UInt64] = []
        private var spilled: [Int64] = []
        private var inserted = 0
        /// Words a bitmap may hold beyond two per inserted offset (8 MiB, a span of 64M offsets): the first offsets
        /// inserted may lie anywhere in the span (a lineage file's offsets come grouped by window, not in order).
        static let slackWords = 1 << 20

        init() {}

        mutating func insert(contentsOf offsets: [Int64]) {
            for o in offsets { insert(o) }
        }

        mutating func insert(_ o: Int64) {
            inserted += 1
            guard spilled.isEmpty else {
                spilled.append(o)
                return
            }
            if words.isEmpty {
                base = o & ~63  // floor to a multiple of 64, also for negative offsets
                words = [0]
            }
            if o < base {
                // Grow downwards by at least the current size, so that a descending run costs amortized O(1).
                let (gap, overflow) = base.subtractingReportingOverflow(o)
                let need = overflow ? Int64.max : (gap + 63) / 64
                let add = max(need, Int64(words.count))
                let (newBase, o2) = base.subtractingReportingOverflow(add &* 64)
                guard !o2, add <= Int64.max / 64, Int64(words.count) + add <= budget else { return spill(o) }
                words.insert(contentsOf: repeatElement(0, count: Int(add)), at: 0)
                base = newBase
            }
            let (d, overflow) = o.subtractingReportingOverflow(base)
            guard !overflow else { return spill(o) }
            let word = d / 64
            if word >= Int64(words.count) {
                let add = max(word + 1 - Int64(words.count), Int64(words.count))
                guard Int64(words.count) + add <= budget else { return spill(o) }
                words.append(contentsOf: repeatElement(0, count: Int(add)))
            }
            let i = Int(d)
            words[i &>> 6] |= 1 &<< UInt64(i & 63)
        }

        /// The most words the bitmap may hold now.
        private var budget: Int64 { 2 * Int64(inserted) + Int64(Builder.slackWords) }

        /// Moves the members into `spilled`, followed by `o`.
        private mutating func spill(_ o: Int64) {
            spilled.reserveCapacity(inserted)
            OffsetSet.forEachBit(words, base) { spilled.append($0) }
            spilled.append(o)
            words = []
        }

        func build() -> OffsetSet {
            guard spilled.isEmpty else { return OffsetSet(sorted: OffsetSet.sortedUnique(spilled)) }
            guard let first = words.firstIndex(where: { $0 != 0 }), let last = words.lastIndex(where: { $0 != 0 }) else {
                return OffsetSet(sorted: [])
            }
            return OffsetSet(bitmap: Array(words[first...last]), base: base &+ Int64(first) &* 64)
        }
    }

    /// `offsets` ascending, each once, by sorting: for offsets too sparse for a bitmap.
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
