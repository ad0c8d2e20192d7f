import Foundation
import MeterlineConfig
import MeterlineCore
import MeterlineEngine
import Testing

/// `meterline bench`: the synthetic workload through the in-memory pipeline, counted and timed.
@Suite struct BenchTests {
    static let config = try! ConfigLoader.parse(yaml: EmbeddedDefaults.configYAML, file: "(embedded) " + EmbeddedDefaults.configFileName)

    func run(events: Int, shards: Int, checkpointEvery: Int = 7_000) -> BenchResult {
        var o = BenchOptions(events: events)
        o.shards = shards
        o.hours = 6
        o.customersPerEntity = 50
        o.checkpointEvery = checkpointEvery
        return Bench.run(config: BenchTests.config, options: o)
    }

    @Test func everyMessageIsCountedOnceAndShardsDoNotChangeTheResult() throws {
        let one = run(events: 30_000, shards: 1)
        #expect(one.complete)
        #expect(one.counters.input == 30_000)
        #expect(one.counters.accepted + one.counters.duplicate + one.counters.rejectedTotal == 30_000)
        // The workload mixes in exact duplicates, malformed JSON and unknown event types: all three paths ran.
        #expect(one.counters.duplicate > 0 && one.counters.rejected[.malformedJSON, default: 0] > 0 && one.counters.rejected[.unknownMeter, default: 0] > 0)
        #expect(one.billingEvents > 0 && one.lineageEvents == one.counters.accepted)
        // Every message's Kafka key is its subject (the malformed ones are not parsed far enough to compare).
        #expect(one.counters.keyMismatch == 0)
        // Every accepted id is remembered (the workload spans hours, the horizon days), at 17 bytes per slot and a
        // load of at least maxLoad / 2 = 0.375 (right after a growth): at most 45.3 bytes each.
        #expect(one.dedupIds == one.counters.accepted)
        #expect(one.dedupBytes > 0 && Double(one.dedupBytes) <= 17 / 0.375 * Double(one.dedupIds))
        #expect(one.seconds > 0 && one.eventsPerSecond > 0)
        // Partition routing: the outputs are a function of each partition's messages, whatever the shard count.
        for shards in [2, 3] {
            let many = run(events: 30_000, shards: shards)
            #expect(many.complete)
            #expect(many.counters.accepted == one.counters.accepted && many.counters.duplicate == one.counters.duplicate)
            #expect(many.counters.rejected == one.counters.rejected)
            #expect(many.billingEvents == one.billingEvents && many.lineageEvents == one.lineageEvents, "\(shards) shards")
            #expect(many.dedupIds == one.dedupIds)
        }
    }

    @Test func jsonCarriesTheCounters() throws {
        let r = run(events: 5_000, shards: 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.json.utf8)) as? [String: Any])
        #expect(object["in"] as? Int == 5_000)
        #expect(object["accepted"] as? Int == r.counters.accepted)
        #expect(object["duplicate"] as? Int == r.counters.duplicate)
        #expect(object["rejected"] as? Int == r.counters.rejectedTotal)
        #expect(object["balanced"] as? Bool == true)
        #expect(object["billingEvents"] as? Int == r.billingEvents)
        #expect((object["seconds"] as? Double).map { $0 > 0 } == true)
    }
}
