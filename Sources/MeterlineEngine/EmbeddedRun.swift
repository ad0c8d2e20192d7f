import CoreMetrics
import Foundation
import Logging
import MeterlineCore
import MeterlineKafka
import MeterlineLedger
import MeterlinePipeline

extension Counters {
    /// The summary lines of a run's outcomes (in, accepted, duplicate, rejected by reason, the conservation check),
    /// in the column layout of `RunSummary.text` and `BenchResult.text`.
    var outcomeLines: String {
        var s = ""
        s += "  in                   \(input)\n"
        s += "  accepted             \(accepted)\n"
        s += "  duplicate            \(duplicate)\n"
        s += "  rejected             \(rejectedTotal)\n"
        for (r, n) in rejected.sorted(by: { $0.key.code < $1.key.code }) { s += "    " + TextColumn.pad(r.code, 19) + "\(n)\n" }
        s += "  conservation         in = accepted + duplicate + rejected: \(input) = \(accepted) + \(duplicate) + \(rejectedTotal) \(balanced ? "holds" : "FAILS")\n"
        return s
    }
}

/// What a run reports: conservation, outputs, totals and speed.
/// Invariant: `produced == consumed == counters.input` for a complete embedded run (`complete`).
public struct RunSummary: Sendable {
    public var produced = 0
    public var consumed = 0
    public var counters = Counters()
    public var outputs = RunOutputs()
    public var billingReadBack = 0
    public var journalReadBack = 0
    public var dlqReadBack = 0
    public var stateReadBack = 0
    /// entity|currency → (exact billed amount, journal net minor units)
    public var totals: [String: (billed: Amount, journalMinor: Int128, currency: Currency)] = [:]
    public var seconds: Double = 0
    public var produceSeconds: Double = 0
    public var processingSeconds: Double = 0
    /// The streaming engine's own run: consume, process, checkpoint (outputs, lineage, state, commits).
    public var engineSeconds: Double = 0

    public var complete: Bool {
        produced == consumed && consumed == counters.input && counters.balanced
            && billingReadBack == outputs.billingEvents && journalReadBack == outputs.journalEntries && dlqReadBack == outputs.dlqRecords
            && stateReadBack == outputs.lastCheckpointStateRecords
            && outputs.unbalancedEntries == 0
    }

    public var text: String {
        var s = ""
        s += "Meterline run summary\n"
        s += "  events produced      \(produced)\n"
        s += "  events consumed      \(consumed)\n"
        s += counters.outcomeLines
        s += "  late revisions       \(counters.revisions)\n"
        s += "  key ≠ subject        \(counters.keyMismatch)\n"
        s += "  billing events       \(outputs.billingEvents) (read back \(billingReadBack))\n"
        s += "  journal entries      \(outputs.journalEntries) (read back \(journalReadBack)), unbalanced \(outputs.unbalancedEntries)\n"
        s += "  dlq records          \(outputs.dlqRecords) (read back \(dlqReadBack))\n"
        s += "  lineage files        \(outputs.lineageFiles), \(outputs.lineageBytes) bytes (\(counters.accepted > 0 ? String(format: "%.1f", Double(outputs.lineageBytes) / Double(counters.accepted)) : "-") B/event)\n"
        s += "  checkpoints          \(outputs.checkpoints), \(outputs.stateRecords) state records: partition changelogs and the journal book (\(outputs.stateBytes) bytes; last checkpoint's \(outputs.lastCheckpointStateRecords) read back: \(stateReadBack))\n"
        s += "  totals per entity and currency (billed exact | journal, minor units):\n"
        for (k, v) in totals.sorted(by: { $0.key < $1.key }) {
            let journal = FixedPoint.format(v.journalMinor * FixedPoint.pow10(Amount.scale - v.currency.minorUnitDigits), scale: Amount.scale)
            s += "    " + TextColumn.pad(k, 17) + "\(v.billed) | \(journal) (\(v.journalMinor) minor units)\n"
        }
        s += String(format: "  wall time            %.2f s (produce %.2f s; engine %.2f s, %.0f events/s; consume→outputs read back %.2f s)\n", seconds, produceSeconds,
                    engineSeconds, engineSeconds > 0 ? Double(consumed) / engineSeconds : 0, processingSeconds)
        s += "  result               \(complete ? "OK: nothing lost" : "INCOMPLETE: see counts above")\n"
        return s
    }
}

/// `meterline run --embedded`: the whole path through librdkafka's mock cluster on 127.0.0.1.
public struct EmbeddedRun {
    public var config: Configuration
    public var workload: Workload
    public var outDirectory: String
    public var usagePartitions: Int32?
    public var logger = Logger(label: "meterline.embedded")
    /// Pins the processing clock (tests); nil uses the wall clock.
    public var now: Int64? = nil
    /// Explicit messages instead of the generated workload (tests).
    public var messages: [Workload.Message]? = nil
    public var checkpointEvery = 200_000
    /// Pipeline threads of the streaming engine (the outputs do not depend on it).
    public var shards = 1
    /// Where the engine reports metrics, and the text written to `metrics.prom` at the end (Prometheus exposition).
    public var metrics: (factory: MetricsFactory, exposition: () -> String)? = nil

    public init(config: Configuration, workload: Workload, outDirectory: String) {
        self.config = config
        self.workload = workload
        self.outDirectory = outDirectory
    }

    public func run() throws -> RunSummary {
        let started = Date()
        var summary = RunSummary()
        let cluster = try MockCluster(brokers: 3)
        defer { cluster.close() }
        let topics = config.topics
        // The mock keeps ~5 MB per partition and silently drops older records: size the input topic so an
        // average partition holds ≤ 1 MB (keys are uneven), and verify the watermarks after producing.
        let count = messages?.count ?? workload.events
        let partitions = usagePartitions ?? Int32(max(8, min(512, count * 260 / 1_000_000 + 1)))
        try cluster.createTopic(topics.usage, partitions: partitions)
        // Billing events (~700 B) number up to subjects × keys × windows: give them the same room.
        try cluster.createTopic(topics.billing, partitions: max(16, partitions / 2))
        try cluster.createTopic(topics.journal, partitions: 4)
        try cluster.createTopic(topics.dlq, partitions: 4)
        // One state partition per input partition: each partition's changelog goes to one of them, and the mock keeps ~5 MB each.
        try cluster.createTopic(topics.state, partitions: partitions)
        let kafka = ["bootstrap.servers": cluster.bootstrapServers]

        // Produce the workload, keyed by subject.
        let producer = try KafkaProducer(config: kafka.merging(["linger.ms": "20", "batch.num.messages": "10000", "queue.buffering.max.messages": "1000000"]) { a, _ in a })
        func send(_ m: Workload.Message) throws {
            try producer.produce(topic: topics.usage, key: m.key, value: m.value, timestampMs: m.timestampMs)
            summary.produced += 1
        }
        if let messages { for m in messages { try send(m) } } else { try workload.generate(send) }
        try producer.flush(timeoutMs: 120_000)
        guard producer.deliveryErrorCount == 0 else { throw KafkaError(code: -1, message: "\(producer.deliveryErrorCount) usage messages failed to deliver") }
        logger.info("produced", metadata: ["events": "\(summary.produced)", "partitions": "\(partitions)"])
        summary.produceSeconds = Date().timeIntervalSince(started)
        // Nothing may be lost before the engine even starts: every produced record must still be in the topic.
        let probe = try KafkaConsumer(config: kafka)
        var kept: Int64 = 0
        for p in 0..<partitions {
            let (low, high) = try probe.watermarks(topic: topics.usage, partition: p, timeoutMs: 10_000)
            kept += high - low
        }
        _ = probe.close(timeoutMs: 5_000)
        guard kept == Int64(summary.produced) else {
            throw KafkaError(code: -1, message: "the mock cluster kept \(kept) of \(summary.produced) usage records (its ~5 MB per-partition cap dropped the rest): use more partitions or fewer events")
        }

        // Stage outputs in a temporary directory; rename at the end so out/ never looks complete when it is not.
        let staging = outDirectory + ".partial"
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createDirectory(atPath: staging + "/lineage", withIntermediateDirectories: true)

        let processingStart = Date()
        let engine = StreamingEngine(config: config, kafka: kafka, lineageDirectory: staging + "/lineage", shards: shards, logger: logger)
        engine.checkpointEvery = checkpointEvery
        engine.metrics = metrics?.factory
        if let now { engine.now = { now } }
        summary.counters = try engine.run(until: .afterMessages(summary.produced), groupId: "meterline-embedded")
        summary.consumed = summary.counters.input
        summary.outputs = engine.outputs
        summary.engineSeconds = Date().timeIntervalSince(processingStart)

        // Read the committed outputs back from the topics.
        let billing = try readTopic(topics.billing, kafka: kafka)
        let journal = try readTopic(topics.journal, kafka: kafka)
        let dlq = try readTopic(topics.dlq, kafka: kafka)
        // The state topic is a changelog: older records may be gone (the mock's cap, as compaction would drop
        // superseded ones); the last checkpoint's records — changed partitions' and the journal writer's — must all be there.
        let state = try readTopic(topics.state, kafka: kafka, compacted: true)
        summary.stateReadBack = state.filter { $0.checkpoint == summary.outputs.lastCheckpoint }.count
        summary.processingSeconds = Date().timeIntervalSince(processingStart)
        summary.billingReadBack = billing.count
        summary.journalReadBack = journal.count
        summary.dlqReadBack = dlq.count
        // Each record is parsed once, for both the sort order and the totals.
        let billingRecords = OutputFiles.parse(billing.map(\.value))
        let journalRecords = OutputFiles.parse(journal.map(\.value))
        try OutputFiles.writeJSONL(staging + "/billing-events.jsonl", billingRecords, sortKeys: ["postedAt", "id"])
        try OutputFiles.writeJSONL(staging + "/journal-entries.jsonl", journalRecords, sortKeys: ["postingDate", "entity", "currency", "journalId"])
        try OutputFiles.writeJSONL(staging + "/dlq.jsonl", OutputFiles.parse(dlq.map(\.value)), sortKeys: ["source", "offset"])
        summary.totals = try OutputFiles.totals(billing: billingRecords, journal: journalRecords, entities: config.entities)
        if let text = metrics?.exposition() {
            guard FileManager.default.createFile(atPath: staging + "/metrics.prom", contents: Data(text.utf8)) else {
                throw KafkaError(code: -1, message: "cannot write \(staging)/metrics.prom")
            }
        }

        try? FileManager.default.removeItem(atPath: outDirectory)
        try FileManager.default.moveItem(atPath: staging, toPath: outDirectory)
        summary.seconds = Date().timeIntervalSince(started)
        return summary
    }
}

/// Writing and summarizing output files.
public enum OutputFiles {
    /// A JSON record: its bytes as received and its top-level object (empty when it is not an object).
    public typealias Record = (object: [String: Any], bytes: [UInt8])

    /// Parses each record once.
    public static func parse(_ records: [[UInt8]]) -> [Record] {
        records.map { ((try? JSONSerialization.jsonObject(with: Data($0))) as? [String: Any] ?? [:], $0) }
    }

    /// Writes JSON lines sorted by the given top-level keys (compared as strings, numbers numerically).
    public static func writeJSONL(_ path: String, _ records: [Record], sortKeys: [String]) throws {
        let keyed: [(keys: [String], bytes: [UInt8])] = records.map { r in
            (sortKeys.map { k in
                if let n = r.object[k] as? NSNumber { return String(format: "%020lld", n.int64Value) }
                return r.object[k].map { "\($0)" } ?? ""
            }, r.bytes)
        }
        let sorted = keyed.sorted { $0.keys.lexicographicallyPrecedes($1.keys) }
        let w = try LineFileWriter(path: path)
        do {
            for r in sorted { try w.append(line: r.bytes) }
            try w.finish()
        } catch {
            w.abandon()
            throw error
        }
    }

    /// Σ billed amounts (exact) and Σ journal net receivable (minor units) per entity|currency.
    public static func totals(billing: [Record], journal: [Record], entities: [LegalEntity]) throws -> [String: (billed: Amount, journalMinor: Int128, currency: Currency)] {
        var out: [String: (billed: Amount, journalMinor: Int128, currency: Currency)] = [:]
        for r in billing {
            let o = r.object
            guard let entity = o["entity"] as? String, let cur = o["currency"] as? String, let currency = Currency(code: cur) else { continue }
            let amountText = (o["amountDelta"] as? String) ?? (o["amount"] as? String) ?? "0"
            let a = try Amount(amountText)
            let k = "\(entity)|\(cur)"
            var t = out[k] ?? (.zero, 0, currency)
            t.billed = try t.billed.adding(a)
            out[k] = t
        }
        for r in journal {
            let o = r.object
            guard let entityId = o["entity"] as? String, let cur = o["currency"] as? String, let currency = Currency(code: cur),
                  let lines = o["lines"] as? [[String: Any]], let entity = entities.first(where: { $0.id == entityId }) else { continue }
            let k = "\(entityId)|\(cur)"
            var t = out[k] ?? (.zero, 0, currency)
            for l in lines where (l["account"] as? String) == entity.unbilledReceivable {
                t.journalMinor += Int128((l["debit"] as? NSNumber)?.int64Value ?? 0) - Int128((l["credit"] as? NSNumber)?.int64Value ?? 0)
            }
            out[k] = t
        }
        return out
    }
}
