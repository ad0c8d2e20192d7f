import Atomics
import Foundation
import Logging
import MeterlineConfig
import MeterlineCore
import MeterlineEngine
import MeterlineKafka
import MeterlineLedger
import MeterlinePipeline
import Prometheus
import Testing

/// Hands a value to another thread (the engines are driven from one thread each, never shared).
final class Unchecked<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

@Suite(.timeLimit(.minutes(3)))
struct HandoffTests {
    static let configYAML = """
    meters:
      - { slug: tokens, eventType: llm_tokens, aggregation: SUM, valueProperty: $.tokens, windowSize: HOUR }
    priceBooks:
      - id: std
        version: 1
        currency: USD
        effectiveFrom: 2026-01-01T00:00:00Z
        prices:
          - meter: tokens
            model: graduated
            tiers:
              - { upTo: "20000", unitAmount: "0.01" }
              - { upTo: null, unitAmount: "0.005" }
    customers:
      - { subject: "c-*", entity: us, priceBook: std }
    entities:
      - { id: us, currency: USD, accounts: { unbilledReceivable: "1210", usageRevenue: "4010" } }
    """

    /// Waits for `condition` (checked every 20 ms) up to a bound that only a broken run reaches.
    func waitFor(_ what: String, seconds: Double = 60, _ condition: () -> Bool, state: () -> String = { "" }) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            guard Date() < deadline else { throw KafkaError(code: -1, message: "timed out waiting for \(what): \(state())") }
            usleep(20_000)
        }
    }

    /// A second instance joins the group while the first runs: the first checkpoints and lets the revoked
    /// partitions go, the second restores them from their changelog and goes on. The billing topic (last record
    /// per id) then equals one pipeline fed every partition's whole input, and the counters add up to its counters.
    @Test func aJoiningInstanceTakesOverPartitionsWithTheirState() throws {
        let config = try ConfigLoader.parse(yaml: HandoffTests.configYAML, file: "handoff.yaml")
        var g = SeededGenerator(seed: 41)
        var clock = RFC3339.parseMicros("2026-10-01T00:00:00Z")!
        // Subject c-i lives in partition i mod 4, as a producer keying by subject would place it.
        var batches: [[(partition: Int32, value: [UInt8])]] = [[], []]
        for i in 0..<3_200 {
            clock += Int64(g.next() % 90) * 1_000_000
            let s = Int(g.next() % 12)
            let late = g.next() % 30 == 0 ? UTC.microsPerHour : 0
            let json = #"{"specversion":"1.0","id":"h-\#(i)","source":"t","type":"llm_tokens","subject":"c-\#(s)","time":"\#(RFC3339.format(micros: clock - late))","data":{"tokens":\#(g.next() % 900)}}"#
            batches[i < 1_600 ? 0 : 1].append((Int32(s % 4), Array(json.utf8)))
            if i % 97 == 96 { batches[i < 1_600 ? 0 : 1].append(batches[i < 1_600 ? 0 : 1].randomElement(using: &g)!) }
        }
        let total = batches[0].count + batches[1].count
        let cluster = try MockCluster(brokers: 1)
        defer { cluster.close() }
        for (t, p) in [("usage", 4), ("billing", 4), ("journal", 2), ("dlq", 2), ("state", 4)] { try cluster.createTopic(t, partitions: Int32(p)) }
        let kafka = ["bootstrap.servers": cluster.bootstrapServers]
        let producer = try KafkaProducer(config: kafka)
        func produce(_ batch: [(partition: Int32, value: [UInt8])]) throws {
            for m in batch { try producer.produce(topic: "usage", partition: m.partition, key: nil, value: m.value) }
            try producer.flush(timeoutMs: 30_000)
        }

        let pinned = RFC3339.parseMicros("2026-11-01T00:00:00Z")!
        var registries: [PrometheusCollectorRegistry] = []
        func start(_ name: String, shards: Int) -> (Unchecked<StreamingEngine>, Thread, Unchecked<Box>) {
            let engine = StreamingEngine(config: config, kafka: kafka, lineageDirectory: tempDir("handoff-\(name)"), shards: shards)
            let registry = PrometheusCollectorRegistry()
            registries.append(registry)
            engine.metrics = PrometheusMetricsFactory(registry: registry)
            engine.checkpointEvery = 300
            engine.logger = Logger(label: "meterline.\(name)")
            engine.now = { pinned }
            let e = Unchecked(engine), result = Unchecked(Box())
            let stop = result.value.stop
            engine.shouldStop = { stop.load(ordering: .acquiring) }
            let t = Thread {
                do { _ = try e.value.run(until: .signal, groupId: "handoff") } catch { result.value.error = "\(error)" }
                result.value.done.store(true, ordering: .releasing)
            }
            t.start()
            return (e, t, result)
        }

        try produce(batches[0])
        let (a, _, aResult) = start("a", shards: 2)
        try waitFor("the first instance to consume the first batch") { a.value.consumedMessages.load(ordering: .relaxed) == batches[0].count }
        let (b, _, bResult) = start("b", shards: 3)
        let runs = { "first: \(aResult.value.done.load(ordering: .acquiring) ? aResult.value.error ?? "stopped" : "runs"), second: \(bResult.value.done.load(ordering: .acquiring) ? bResult.value.error ?? "stopped" : "runs")" }
        try waitFor("the group to split the partitions", {
            let (na, nb) = (a.value.assignedPartitions.load(ordering: .relaxed), b.value.assignedPartitions.load(ordering: .relaxed))
            return na > 0 && nb > 0 && na + nb == 4
        }, state: runs)
        try produce(batches[1])
        try waitFor("both instances to consume the second batch") {
            a.value.consumedMessages.load(ordering: .relaxed) + b.value.consumedMessages.load(ordering: .relaxed) == total
        }
        // One instance writes the journal (the owner of partition 0); it stops last, so its final checkpoint reads the
        // other's last outputs.
        let leaders = [a, b].map { $0.value.isJournalLeader.load(ordering: .relaxed) }
        #expect(leaders.filter { $0 }.count == 1, "one journal writer: \(leaders)")
        let order = leaders[0] ? [bResult, aResult] : [aResult, bResult]
        for r in order {
            r.value.stop.store(true, ordering: .releasing)
            try waitFor("an instance to stop") { r.value.done.load(ordering: .acquiring) }
        }
        #expect(aResult.value.error == nil && bResult.value.error == nil, "\(aResult.value.error ?? "") \(bResult.value.error ?? "")")

        // The reference: one pipeline, every partition's whole input in order, one checkpoint at the end.
        let reference = Pipeline(config: config, sourcePrefix: "usage")
        var offsets: [Int32: Int64] = [:]
        for m in batches[0] + batches[1] {
            var bytes = m.value
            let o = offsets[m.partition, default: 0]
            offsets[m.partition] = o + 1
            bytes.withUnsafeMutableBytes { reference.process(partition: m.partition, offset: o, value: UnsafeRawBufferPointer($0), nowMicros: pinned) }
        }
        var expected: [String: String] = [:]
        let referenceOutput = reference.checkpoint()
        for e in referenceOutput.billing { expected[e.id] = e.json() }
        var got: [String: String] = [:]
        for r in try readTopic("billing", kafka: kafka).sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
            got[String(decoding: r.key, as: UTF8.self)] = String(decoding: r.value, as: UTF8.self)
        }
        #expect(expected.count > 100 && reference.counters.revisions > 0 && reference.counters.duplicate > 0)
        #expect(got.count == expected.count, "\(got.count) billing ids, expected \(expected.count)")
        let sameBilling = got == expected
        #expect(sameBilling, "first difference: \(expected.keys.sorted().first { got[$0] != expected[$0] } ?? "-")")
        // Counters travel with the partitions: the two instances' partitions add up to the reference.
        let (pa, pb) = (Set(a.value.partitions), Set(b.value.partitions))
        #expect(pa.isDisjoint(with: pb) && pa.union(pb) == [0, 1, 2, 3], "\(pa.sorted()) \(pb.sorted())")
        var sum = a.value.counters
        sum.add(b.value.counters)
        #expect(sum == reference.counters)
        #expect(b.value.counters.input > b.value.consumedMessages.load(ordering: .relaxed), "the second instance took over counted state")
        // Metrics count each message once, in the process that processed it (restored history is not reported again).
        let reported = registries.map { r in
            r.emitToString().split(separator: "\n").first { $0.hasPrefix(#"meterline_events_total{outcome="in"} "#) }.flatMap { Int($0.split(separator: " ").last!) } ?? -1
        }
        #expect(reported == [a.value.consumedMessages.load(ordering: .relaxed), b.value.consumedMessages.load(ordering: .relaxed)])
        #expect(reported.reduce(0, +) == total)

        // The journal: one writer posted it for both instances' customers, exactly as one instance alone posts it.
        func lastPerId(_ topic: String, _ kafka: [String: String]) throws -> [String: String] {
            var out: [String: String] = [:]
            for r in try readTopic(topic, kafka: kafka).sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
                out[String(decoding: r.key, as: UTF8.self)] = String(decoding: r.value, as: UTF8.self)
            }
            return out
        }
        // The reference journal: one book fed every billing event, posted through the lowest partition watermark.
        var book = JournalBook(configuration: config)
        book.add(referenceOutput.billing)
        var expectedJournal: [String: String] = [:]
        for j in book.post(through: referenceOutput.lowWatermark) { expectedJournal[j.journalId] = j.json() }
        let journal = try lastPerId("journal", kafka)
        let firstDifference = expectedJournal.keys.sorted().first { journal[$0] != expectedJournal[$0] } ?? journal.keys.sorted().first { expectedJournal[$0] == nil } ?? "-"
        #expect(expectedJournal.count > 0 && book.unbalanced.isEmpty)
        let sameJournal = journal == expectedJournal
        #expect(sameJournal, "\(journal.count) entries, expected \(expectedJournal.count); first difference: \(firstDifference)")
    }
}

/// A run's end, seen from the test thread, and its stop flag.
final class Box: @unchecked Sendable {
    let stop = ManagedAtomic<Bool>(false)
    let done = ManagedAtomic<Bool>(false)
    /// Written by the run's thread before `done`, read by the test thread after it.
    var error: String? = nil
}
