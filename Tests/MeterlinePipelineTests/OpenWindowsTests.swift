import MeterlineCore
@testable import MeterlinePipeline
import Testing

/// The close queue against a plain model: every due window comes out once, grouped by end in ascending order,
/// in insertion order within an end; nothing later comes out; the earliest end stays the queue's minimum.
@Suite struct OpenWindowsTests {
    static func key(_ n: Int) -> RollupKey {
        RollupKey(subject: Hash128(high: UInt64(n), low: UInt64(n) &* 31), meter: Int32(n % 3), dimensions: .zero, windowStart: Int64(n))
    }

    @Test func takesDueWindowsInEndOrderAndKeepsTheRest() {
        let seed = UInt64.random(in: 1...UInt64.max)
        var g = SeededGenerator(seed: seed)
        var queue = OpenWindows()
        var model: [(end: Int64, key: RollupKey)] = []
        #expect(queue.take(upTo: .max).isEmpty && queue.earliestEnd == .max, "seed \(seed)")
        var watermark: Int64 = 0
        for step in 0..<2_000 {
            for _ in 0..<Int(g.next() % 4) {
                let end = watermark + Int64(g.next() % 20) + 1
                let k = OpenWindowsTests.key(step)
                queue.add(k, end: end)
                model.append((end, k))
            }
            #expect(queue.earliestEnd == (model.map(\.end).min() ?? .max), "seed \(seed), step \(step)")
            watermark += Int64(g.next() % 6)
            let taken = queue.take(upTo: watermark)
            let due = model.filter { $0.end <= watermark }
            model.removeAll { $0.end <= watermark }
            // Expected: due windows grouped by end ascending, in insertion order within an end (a stable sort).
            let expected = due.enumerated().sorted { ($0.element.end, $0.offset) < ($1.element.end, $1.offset) }.map(\.element)
            #expect(taken.flatMap { g in g.keys.map { (g.end, $0) } }.map(\.0) == expected.map(\.end), "seed \(seed), step \(step)")
            #expect(taken.flatMap(\.keys) == expected.map(\.key), "seed \(seed), step \(step)")
            #expect(Set(taken.map(\.end)).count == taken.count, "seed \(seed): one group per end")
            #expect(queue.earliestEnd > watermark && queue.earliestEnd == (model.map(\.end).min() ?? .max), "seed \(seed), step \(step)")
        }
        queue.removeAll()
        #expect(queue.isEmpty && queue.earliestEnd == .max)
    }
}
