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
