import MeterlineCore
@testable import MeterlineEngine
import Testing

/// `OffsetSet` holds what a `Set<Int64>` of the same offsets holds, in both of its forms: offsets dense enough for
/// its bitmap (repeats, a negative start, one word per offset) and offsets too sparse for it (a span near
/// the whole Int64 range); members come ascending, and offsets around and between them are not members.
@Suite struct OffsetSetTests {
    static func check(_ offsets: [Int64], _ context: String) {
        let set = OffsetSet(offsets)
        let expected = Array(Set(offsets)).sorted()
        #expect(set.members == expected, "\(context)")
        #expect(set.count == expected.count, "\(context)")
        let members = Set(offsets)
        var probes = offsets
        for o in offsets.prefix(64) {
            probes += [o &- 1, o &+ 1, o &- 64, o &+ 64, o &+ 65]
        }
        probes += [.min, .max, 0, -1]
        for p in probes where set.contains(p) != members.contains(p) {
            Issue.record("\(context): contains(\(p)) is \(set.contains(p))")
        }
    }

    static func isBitmap(_ s: OffsetSet) -> Bool {
        if case .bitmap = s.storage { return true }
        return false
    }

    @Test func holdsWhatASetHolds() {
        let seed: UInt64 = 7
        var g = SeededGenerator(seed: seed)
        var bitmaps = 0
        for round in 0..<200 {
            let count = Int(g.next() % 3000)
            // Spans from one value per offset to 200 values per offset, around a start that may be negative.
            let spread = Int64(g.next() % 200) + 1
            let start = Int64(bitPattern: g.next() % 2_000_000) - 1_000_000
            var offsets = (0..<count).map { _ in start + Int64(g.next() % UInt64(Int64(count) * spread + 1)) }
            if round % 5 == 0, count > 0 { offsets += offsets.prefix(count / 3) }  // repeats, as readings of one event
            offsets.shuffle(using: &g)
            Self.check(offsets, "seed \(seed), round \(round)")
            if Self.isBitmap(OffsetSet(offsets)) { bitmaps += 1 }
        }
        #expect(bitmaps > 40 && bitmaps < 160, "both forms are exercised: \(bitmaps) bitmaps of 200")
    }

    /// The builder the lineage writer feeds a checkpoint at a time: chunks of ascending offsets in any chunk order
    /// (it grows up and down), repeats, far-apart chunks that make it spill to a list midway, and spans that
    /// overflow Int64.
    @Test func builderCollectsWhatASetHolds() {
        let seed: UInt64 = 11
        var g = SeededGenerator(seed: seed)
        var spilledOrSorted = 0
        for round in 0..<300 {
            var b = OffsetSet.Builder()
            var all: [Int64] = []
            let chunks = Int(g.next() % 12) + 1
            // Mostly near one another (a file's lines), sometimes far apart (a sparse source), once in a while at the
            // ends of the Int64 range.
            let far = round % 7 == 0
            for c in 0..<chunks {
                let start: Int64
                if round % 50 == 3 {
                    start = c % 2 == 0 ? Int64.min + Int64(g.next() % 100) : Int64.max - 5_000
                } else {
                    start = Int64(bitPattern: g.next() % (far ? 1 << 40 : 20_000)) - (far ? 1 << 39 : 10_000)
                }
                var o = start
                var chunk: [Int64] = []
                for _ in 0..<Int(g.next() % 500) {
                    if g.next() % 4 == 0 { chunk.append(o) }  // a second reading of the same event
                    o &+= Int64(g.next() % 3)
                    chunk.append(o)
                }
                b.insert(contentsOf: chunk)
                all += chunk
            }
            let set = b.build()
            let expected = Array(Set(all)).sorted()
            #expect(set.members == expected, "seed \(seed), round \(round)")
            #expect(set.count == expected.count, "seed \(seed), round \(round)")
            for p in all.prefix(50) where !set.contains(p) { Issue.record("seed \(seed), round \(round): \(p) missing") }
            if !Self.isBitmap(set) { spilledOrSorted += 1 }
        }
        #expect(spilledOrSorted > 20 && spilledOrSorted < 280, "both forms are built: \(spilledOrSorted) of 300 not bitmaps")
        #expect(OffsetSet.Builder().build().count == 0)
    }

    /// `countNotIn` and `forEachNotIn` give what `Set.subtracting` gives, for bitmaps with bases apart (or overlapping
    /// only in part), sorted sets, and one of each.
    @Test func differencesAreWhatASetSubtractionGives() {
        let seed: UInt64 = 5
        var g = SeededGenerator(seed: seed)
        var bitmapPairs = 0
        for round in 0..<300 {
            func offsets() -> [Int64] {
                let count = Int(g.next() % 2000)
                let spread = Int64(g.next() % 100) + 1
                let start = Int64(bitPattern: g.next() % 200_000) - 100_000
                return (0..<count).map { _ in start + Int64(g.next() % UInt64(Int64(count) * spread + 1)) }
            }
            let a = offsets(), b = round % 3 == 0 ? a.filter { _ in g.next() % 5 != 0 } + offsets().prefix(50) : offsets()
            let sa = OffsetSet(a), sb = OffsetSet(b)
            if Self.isBitmap(sa) && Self.isBitmap(sb) { bitmapPairs += 1 }
            let expected = Set(a).subtracting(b).sorted()
            var got: [Int64] = []
            sa.forEachNotIn(sb) { got.append($0) }
            #expect(got == expected, "seed \(seed), round \(round)")
            #expect(sa.countNotIn(sb) == expected.count, "seed \(seed), round \(round)")
        }
        #expect(bitmapPairs > 30 && bitmapPairs < 270, "both word-wise and per-member differences: \(bitmapPairs) bitmap pairs of 300")
    }

    @Test func edgesOfBothForms() {
        let cases: [[Int64]] = [
            [], [5], [5, 5], [3, 1, 2, 1],
            [0, 64],  // two words for two offsets: bitmap
            [0, 128],  // three words for two offsets: sorted
            [Int64.min, Int64.max, 0],  // the span overflows Int64: sorted
            [Int64.max, Int64.max - 1, Int64.max - 63],
            [Int64.min + 1, Int64.min, Int64.min + 64],
        ]
        for c in cases { Self.check(c, "\(c)") }
        #expect(Self.isBitmap(OffsetSet([0, 64])) && !Self.isBitmap(OffsetSet([0, 128])))
        let reversed = OffsetSet(Array((0..<10_000).reversed()))
        #expect(reversed.members == Array(0..<10_000) && Self.isBitmap(reversed))
    }
}
