import MeterlineCore
@testable import MeterlineEngine
import Testing

/// `BackfillDiff.sortedUnique` gives what sorting and dropping repeats gives, on both of its paths: offsets dense
/// enough for its bitmap (repeats, a negative start, a span of exactly 64 per offset) and offsets too sparse for it
/// (a span near the whole Int64 range).
@Suite struct BackfillDiffTests {
    static func expected(_ offsets: [Int64]) -> [Int64] { Array(Set(offsets)).sorted() }

    @Test func sortedUniqueEqualsSortingAndDroppingRepeats() {
        let seed: UInt64 = 7
        var g = SeededGenerator(seed: seed)
        for round in 0..<200 {
            let count = Int(g.next() % 3000)
            // Spans from one value per offset to 200 values per offset, around a start that may be negative.
            let spread = Int64(g.next() % 200) + 1
            let start = Int64(bitPattern: g.next() % 2_000_000) - 1_000_000
            var offsets = (0..<count).map { _ in start + Int64(g.next() % UInt64(Int64(count) * spread + 1)) }
            if round % 5 == 0, count > 0 { offsets += offsets.prefix(count / 3) }  // repeats, as readings of one event
            offsets.shuffle(using: &g)
            #expect(BackfillDiff.sortedUnique(offsets) == Self.expected(offsets), "seed \(seed), round \(round)")
        }
    }

    @Test func edgesOfTheBitmapAndTheSortPaths() {
        let cases: [[Int64]] = [
            [], [5], [5, 5], [3, 1, 2, 1],
            [0, 64 * 2],  // a span of exactly 64 per offset: bitmap
            [0, 64 * 2 + 64],  // one word more than offsets: sorted
            [Int64.min, Int64.max, 0],  // the span overflows Int64: sorted
            [Int64.max, Int64.max - 1, Int64.max - 63],
            [Int64.min + 1, Int64.min, Int64.min + 64],
        ]
        for c in cases { #expect(BackfillDiff.sortedUnique(c) == Self.expected(c), "\(c)") }
        #expect(BackfillDiff.sortedUnique(Array((0..<10_000).reversed())) == Array(0..<10_000))
    }
}
