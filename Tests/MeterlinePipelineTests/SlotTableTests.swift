import Foundation
import MeterlineCore
@testable import MeterlinePipeline
import Testing

@Suite struct SlotTableTests {
    /// Random inserts, updates, removals and bulk removals against a Dictionary model; keys collide on purpose
    /// (few subjects, few window starts) so probe runs are long and backward-shift deletion is exercised.
    @Test func matchesDictionaryModel() {
        let seed = testSeed()
        var g = SeededGenerator(seed: seed)
        var table = WindowTable()
        var model: [RollupKey: Int] = [:]
        func window(_ n: Int) -> WindowState {
            WindowState(contract: n, keyText: "k\(n)", subject: "s", meter: 0, dimensions: [], windowEnd: 0)
        }
        let subjects = (0..<50).map { _ in Hash128(high: g.next(), low: g.next()) }
        func randomKey() -> RollupKey {
            RollupKey(subject: subjects[Int(g.next() % 50)], meter: Int32(g.next() % 3), dimensions: Hash128(high: 0, low: g.next() % 4),
                      windowStart: Int64(g.next() % 40) * 3_600_000_000)
        }
        var failure: String?
        for step in 0..<60_000 where failure == nil {
            let k = randomKey()
            switch g.next() % 10 {
            case 0...4:
                if model[k] == nil { table.insert(k, window(step)); model[k] = step } else {
                    table[k] = window(step); model[k] = step
                }
            case 5...7:
                table[k] = nil; model[k] = nil
            case 8:
                if step % 500 == 0 {
                    let cut = Int(g.next() % 60_000)
                    table.removeAll { _, w in w.contract < cut }
                    model = model.filter { $0.value >= cut }
                }
            default:
                if table.slot(forKey: k).map({ table.values[$0].contract }) != model[k] {
                    failure = "step \(step): lookup of \(k) differs"
                }
            }
            if table.count != model.count { failure = "step \(step): count \(table.count) vs \(model.count)" }
        }
        #expect(failure == nil, "seed \(seed): \(failure ?? "")")
        let mismatched = model.filter { table[$0.key]?.contract != $0.value }.count
        #expect(mismatched == 0, "seed \(seed): \(mismatched) keys differ")
        let entries = Dictionary(uniqueKeysWithValues: table.entries.map { ($0.key, $0.value.contract) })
        #expect(entries == model, "seed \(seed)")
    }
}
