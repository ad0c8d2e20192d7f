import MeterlineCore
@testable import MeterlinePipeline
import Testing

/// `SubjectCache` answers exactly as a `Dictionary` of the same inserts: over growth, keys that share their low
/// word (the slot bits), replaced values, and the zero hash (its empty marker, kept apart).
@Suite struct SubjectCacheTests {
    @Test func answersAsADictionary() {
        let seed = testSeed()
        var g = SeededGenerator(seed: seed)
        var cache = SubjectCache()
        var expected: [Hash128: Int32] = [:]
        var keys: [Hash128] = [.zero, Hash128(high: 1, low: 0), Hash128(high: 0, low: 1)]
        for i in 0..<50_000 {
            let key: Hash128 = switch g.next() % 4 {
            case 0 where !keys.isEmpty: keys[Int(g.next() % UInt64(keys.count))]     // a known key: replaced
            case 1: Hash128(high: g.next(), low: g.next() % 64)                       // low words collide
            default: Hash128(high: g.next(), low: g.next())
            }
            let value = Int32(truncatingIfNeeded: Int(g.next() % 1_000) - 1)          // -1: "no contract" is a value too
            if i % 3 == 0 {
                cache.insert(key, value)
                expected[key] = value
                keys.append(key)
            }
            let probe = g.next() % 2 == 0 ? key : Hash128(high: g.next(), low: g.next())
            #expect(cache.value(probe) == expected[probe], "seed \(seed), step \(i)")
        }
        for k in keys { #expect(cache.value(k) == expected[k], "seed \(seed)") }
        #expect(cache.count == expected.keys.filter { $0 != .zero }.count, "seed \(seed)")
        #expect(cache.entries.count >= 2 * cache.count, "seed \(seed): at most half full")
    }
}
