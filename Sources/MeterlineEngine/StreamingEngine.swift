import Foundation
import Logging
import MeterlineCore
import MeterlineKafka
import MeterlineLedger
import MeterlineLineage
import MeterlinePipeline

/// Processing time in UTC microseconds (the engine's only clock read; the core never reads a clock).
public func wallClockMicros() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000 + Int64(ts.tv_nsec) / 1000
}

/// Counts of what a run wrote.
public struct RunOutputs: Sendable {
    public var billingEvents = 0
    public var journalEntries = 0
    public var dlqRecords = 0
    public var lineageFiles = 0
    public var lineageBytes = 0
    public var checkpoints = 0
    public var unbalancedEntries = 0
    public var stateRecords = 0
    public var stateBytes = 0
    /// State records written by the last checkpoint (a complete changelog: every partition and the journal).
    public var lastCheckpointStateRecords = 0
    public var lastCheckpoint = 0
}

/// When a streaming run stops.
public enum StopCondition: Sendable {
    /// After this many input messages (embedded runs and tests): then end of input is declared,
    /// every window is closed and the journal is posted in full.
    case afterMessages(Int)
    /// When `shouldStop` returns true (SIGTERM): drain, checkpoint, exit.
    case signal
    /// Stop after this many input messages *without* a final checkpoint: what a crash leaves (tests).
    case crashAfterMessages(Int)
}

/// The streaming engine: consumes `usage` as a consumer group, runs the pipeline, and per checkpoint
/// produces billing events, DLQ records, journal entries and state records, writes lineage files,
/// then commits the input offsets. Outputs carry derived ids, so a replayed checkpoint rewrites the same records.
///
/// - Warning: not thread-safe; `run` drives everything from the calling thread.
public final class StreamingEngine {
    public let config: Configuration
    public let kafka: [String: String]
    public let lineageDirectory: String
    public var checkpointEvery = 200_000
    public var logger: Logger
    public private(set) var pipeline: Pipeline
    public private(set) var journal: JournalBook
    public private(set) var outputs = RunOutputs()
    var lineageFiles = LineageFiles()
    /// Partitions of the state topic (read once).
    var stateTopicPartitions: Int32? = nil
    public var shouldStop: @Sendable () -> Bool = { false }
    /// Processing clock; tests pin it.
    public var now: () -> Int64 = wallClockMicros

    public init(config: Configuration, kafka: [String: String], lineageDirectory: String, logger: Logger = Logger(label: "meterline.engine")) {
        self.config = config
        self.kafka = kafka
        self.lineageDirectory = lineageDirectory
        self.logger = logger
        self.pipeline = Pipeline(config: config, sourcePrefix: config.topics.usage)
        self.pipeline.includeState = true
        self.journal = JournalBook(configuration: config)
    }

    /// Runs until `stop`; returns the pipeline's conservation counters.
    @discardableResult
    public func run(until stop: StopCondition, groupId: String = "meterline") throws -> Counters {
        // Restore: partitions with state resume from the offset recorded in it (the group's commit is advisory).
        let resume = try restoreFromStateTopic()
        var consumerConfig = kafka
        consumerConfig["group.id"] = consumerConfig["group.id"] ?? groupId
        consumerConfig["enable.auto.commit"] = "false"
        consumerConfig["auto.offset.reset"] = consumerConfig["auto.offset.reset"] ?? "earliest"
        consumerConfig["session.timeout.ms"] = consumerConfig["session.timeout.ms"] ?? "6000"
        consumerConfig["fetch.wait.max.ms"] = consumerConfig["fetch.wait.max.ms"] ?? "10"
        let usageTopic = config.topics.usage
        let consumer = try KafkaConsumer(config: consumerConfig, startOffset: { tp in tp.topic == usageTopic ? resume[tp.partition] : nil })
        defer { _ = consumer.close(timeoutMs: 10_000) }
        var producerConfig = kafka.filter { !$0.key.hasPrefix("group.") && $0.key != "auto.offset.reset" && $0.key != "session.timeout.ms" && $0.key != "fetch.wait.max.ms" }
        producerConfig["linger.ms"] = producerConfig["linger.ms"] ?? "5"
        let producer = try KafkaProducer(config: producerConfig)
        try consumer.subscribe([config.topics.usage])
        try FileManager.default.createDirectory(atPath: lineageDirectory, withIntermediateDirectories: true)

        var sinceCheckpoint = 0
        var total = 0
        var idlePolls = 0
        // Idle partitions advance by processing time (DESIGN §4): last time each partition delivered input.
        var lastInput: [Int32: Int64] = [:]
        let runStart = self.now()
        var lastIdleCheck = runStart
        let pipeline = self.pipeline
        let nowFn = self.now
        while true {
            let budget: Int
            switch stop {
            case .afterMessages(let n): budget = min(10_000, n - total)
            case .crashAfterMessages(let n):
                // Poll exactly up to the next checkpoint boundary, so checkpoints fall at fixed message counts.
                budget = min(10_000, n - total, checkpointEvery * (outputs.checkpoints + 1) - total)
            case .signal: budget = 10_000
            }
            if budget <= 0 { break }
            if case .signal = stop, shouldStop() { break }
            let now = nowFn()
            let n = try consumer.poll(max: budget, timeoutMs: 100) { m in
                var binary: BinaryAttributes? = nil
                if let spec = m.header("ce_specversion") {
                    binary = BinaryAttributes(specversion: spec, id: m.header("ce_id"), source: m.header("ce_source"), type: m.header("ce_type"),
                                              subject: m.header("ce_subject"), time: m.header("ce_time"))
                }
                pipeline.process(partition: m.partition, offset: m.offset, value: m.value, key: m.key, binary: binary, nowMicros: now)
                lastInput[m.partition] = now
            }
            if case .signal = stop, now - lastIdleCheck >= 1_000_000 {
                lastIdleCheck = now
                let idle = config.settings.idleTimeoutMicros
                for p in pipeline.partitions where now - (lastInput[p] ?? runStart) >= idle {
                    pipeline.advanceIdle(partition: p, to: now - idle)
                }
            }
            total += n
            sinceCheckpoint += n
            if n == 0 {
                idlePolls += 1
                if case .afterMessages(let expected) = stop, idlePolls > 150 {
                    logger.error("no input for 15 s", metadata: ["consumed": "\(total)", "expected": "\(expected)"])
                    break
                }
            } else { idlePolls = 0 }
            if case .crashAfterMessages = stop, total >= checkpointEvery * (outputs.checkpoints + 1) {
                try checkpoint(producer: producer, consumer: consumer, final: false)
                sinceCheckpoint = 0
            } else if case .crashAfterMessages = stop {
                continue
            } else if sinceCheckpoint >= checkpointEvery || (n == 0 && sinceCheckpoint > 0) {
                try checkpoint(producer: producer, consumer: consumer, final: false)
                sinceCheckpoint = 0
            }
        }
        if case .crashAfterMessages = stop { return pipeline.counters } // no final checkpoint: the crash
        if case .afterMessages = stop { pipeline.finish() }
        try checkpoint(producer: producer, consumer: consumer, final: { if case .afterMessages = stop { return true }; return false }())
        return pipeline.counters
    }

    func statePartitions(_ consumer: KafkaConsumer) throws -> Int32 {
        if let n = stateTopicPartitions { return n }
        let n = try consumer.partitionCount(topic: config.topics.state, timeoutMs: 30_000)
        guard n > 0 else { throw KafkaError(code: -1, message: "topic \(config.topics.state) has no partitions") }
        stateTopicPartitions = n
        return n
    }

    /// One checkpoint: outputs, lineage, state, then the offsets (last, so a crash before it replays the checkpoint).
    func checkpoint(producer: KafkaProducer, consumer: KafkaConsumer, final: Bool) throws {
        let out = pipeline.checkpoint()
        let topics = config.topics
        let seq = "\(out.sequence)"
        func produce(_ topic: String, key: String, value: String) throws {
            var k = key, v = value
            try k.withUTF8 { kb in
                try v.withUTF8 { vb in
                    try producer.produce(topic: topic, key: UnsafeRawBufferPointer(kb), value: UnsafeRawBufferPointer(vb),
                                         headers: [("meterline_checkpoint", Array(seq.utf8))])
                }
            }
        }
        for e in out.billing { try produce(topics.billing, key: e.id, value: e.json()) }
        for d in out.dlq { try produce(topics.dlq, key: d.id, value: d.json()) }
        journal.add(out.billing)
        let entries = final ? journal.finish() : journal.post(through: out.lowWatermark)
        for j in entries { try produce(topics.journal, key: j.journalId, value: j.json()) }
        for l in out.lineage {
            let r = try lineageFiles.write([l.events], source: l.source, directory: lineageDirectory)
            outputs.lineageFiles += 1
            outputs.lineageBytes += r.bytes
        }
        // State last: the journal's rounding positions and unposted billing events (global), then a snapshot
        // per partition naming its checkpoint and the input offset to resume from.
        let stateRecordsBefore = outputs.stateRecords
        let journalState = Array(JournalStateCodec.encode(journal, checkpoint: out.sequence).utf8)
        outputs.stateRecords += try StateChunks.produce(key: JournalStateCodec.key, value: journalState, checkpoint: out.sequence,
                                                        topic: topics.state, producer: producer)
        outputs.stateBytes += journalState.count
        // Each input partition's changelog goes to one state partition (input partition mod their count), in the
        // pipeline's order: records, then the meta that lists them, then tombstones.
        let statePartitions = try self.statePartitions(consumer)
        for st in out.state {
            let prefix = StateKeys.prefix(usage: topics.usage, partition: st.partition)
            let target = st.partition % statePartitions
            for r in st.records {
                if let v = r.value {
                    outputs.stateRecords += try StateChunks.produce(key: prefix + r.key, value: v, checkpoint: out.sequence,
                                                                    topic: topics.state, partition: target, producer: producer)
                    outputs.stateBytes += v.count
                } else {
                    outputs.stateRecords += try StateChunks.tombstone(key: prefix + r.key, length: r.droppedLength, checkpoint: out.sequence,
                                                                      topic: topics.state, partition: target, producer: producer)
                }
            }
        }
        outputs.lastCheckpointStateRecords = outputs.stateRecords - stateRecordsBefore
        outputs.lastCheckpoint = out.sequence
        try producer.flush(timeoutMs: 60_000)
        if !out.offsets.isEmpty {
            try consumer.commit(out.offsets.map { TopicPartitionOffset(topic: topics.usage, partition: $0.partition, offset: $0.next) })
        }
        outputs.billingEvents += out.billing.count
        outputs.dlqRecords += out.dlq.count
        outputs.journalEntries += entries.count
        outputs.checkpoints += 1
        outputs.unbalancedEntries = journal.unbalanced.count
        logger.debug("checkpoint", metadata: ["seq": "\(out.sequence)", "billing": "\(out.billing.count)", "journal": "\(entries.count)"])
    }
}

extension StreamingEngine {
    /// Reads the state topic (keeping the last record per key, as compaction would), restores every partition
    /// and the journal book, and returns the offset each restored partition resumes from.
    public func restoreFromStateTopic() throws -> [Int32: Int64] {
        let records = try readTopic(config.topics.state, kafka: kafka, compacted: true)
        // The last value per key, as compaction keeps it; an empty value is a tombstone.
        var raw: [String: [UInt8]] = [:]
        for r in records.sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
            let key = String(decoding: r.key, as: UTF8.self)
            raw[key] = r.value.isEmpty ? nil : r.value
        }
        let last = try StateChunks.assemble(raw)
        var byPartition: [Int32: [String: [UInt8]]] = [:]
        for (key, value) in last where key != JournalStateCodec.key {
            guard let (p, rest) = StateKeys.parse(key, usage: config.topics.usage) else {
                throw KafkaError(code: -1, message: "\(config.topics.state): record key '\(key)' is neither the journal nor a partition changelog key of topic \(config.topics.usage)")
            }
            byPartition[p, default: [:]][rest] = value
        }
        var resume: [Int32: Int64] = [:]
        for (p, records) in byPartition.sorted(by: { $0.key < $1.key }) {
            do { try pipeline.restore(partition: p, changelog: records) } catch {
                throw KafkaError(code: -1, message: "restoring partition \(p) of \(config.topics.usage) from \(config.topics.state): \(error)")
            }
            resume[p] = pipeline.nextOffset(partition: p)
        }
        if let j = last[JournalStateCodec.key] {
            let billing = try readTopic(config.topics.billing, kafka: kafka).map { (value: $0.value, checkpoint: $0.checkpoint) }
            try JournalStateCodec.decode(j, billing: billing, into: &journal)
        }
        if !resume.isEmpty { logger.info("restored", metadata: ["partitions": "\(resume.count)"]) }
        return resume
    }
}

/// State values larger than a Kafka message (the broker's 1 MB default) are written as parts `KEY~part~i`,
/// each prefixed with its checkpoint, then a manifest under KEY (written last) naming the checkpoint and the
/// part count. A value is assembled only if every part carries the manifest's checkpoint, so a torn write of a
/// later checkpoint cannot be half-read: restore then uses the manifest, which is the last complete one.
enum StateChunks {
    static let partSize = 900_000
    static let magic: [UInt8] = Array("MLCH".utf8)

    static func le(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func readLE(_ b: ArraySlice<UInt8>) -> UInt64 { b.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) } }

    /// Returns the number of records written.
    @discardableResult
    static func produce(key: String, value: [UInt8], checkpoint: Int, topic: String, partition: Int32? = nil, producer: KafkaProducer) throws -> Int {
        let header = [("meterline_checkpoint", Array(String(checkpoint).utf8))]
        if value.count <= partSize {
            try producer.produce(topic: topic, partition: partition, key: Array(key.utf8), value: value, headers: header)
            return 1
        }
        let parts = (value.count + partSize - 1) / partSize
        for i in 0..<parts {
            let slice = value[(i * partSize)..<min(value.count, (i + 1) * partSize)]
            try producer.produce(topic: topic, partition: partition, key: Array("\(key)~part~\(i)".utf8), value: le(UInt64(checkpoint)) + slice, headers: header)
        }
        try producer.produce(topic: topic, partition: partition, key: Array(key.utf8), value: magic + le(UInt64(checkpoint)) + le(UInt64(parts)), headers: header)
        return parts + 1
    }

    /// Tombstones (null values) for `key` and, when its value of `length` bytes was written in parts, for each part.
    /// Returns the number of records written.
    @discardableResult
    static func tombstone(key: String, length: Int, checkpoint: Int, topic: String, partition: Int32?, producer: KafkaProducer) throws -> Int {
        let header = [("meterline_checkpoint", Array(String(checkpoint).utf8))]
        let parts = length > partSize ? (length + partSize - 1) / partSize : 0
        for k in (0..<parts).map({ "\(key)~part~\($0)" }) + [key] {
            var kb = Array(k.utf8)
            try kb.withUnsafeBytes { try producer.produce(topic: topic, partition: partition, key: $0, value: UnsafeRawBufferPointer(start: nil, count: 0), headers: header) }
        }
        return parts + 1
    }

    /// Last value per key, with chunked values reassembled; part records are consumed.
    static func assemble(_ raw: [String: [UInt8]]) throws -> [String: [UInt8]] {
        var out: [String: [UInt8]] = [:]
        for (key, value) in raw where !key.contains("~part~") {
            guard value.count == 20, Array(value[0..<4]) == magic else { out[key] = value; continue }
            let checkpoint = readLE(value[4..<12]), parts = Int(readLE(value[12..<20]))
            var whole: [UInt8] = []
            for i in 0..<parts {
                guard let part = raw["\(key)~part~\(i)"], part.count > 8, readLE(part[0..<8]) == checkpoint else {
                    throw KafkaError(code: -1, message: "state \(key): part \(i) of checkpoint \(checkpoint) is missing or from another checkpoint")
                }
                whole += part[8...]
            }
            out[key] = whole
        }
        return out
    }
}

/// Keys of the partition changelogs in the `state` topic: `<usage topic>-<partition>/<record key>`.
enum StateKeys {
    static func prefix(usage: String, partition: Int32) -> String { "\(usage)-\(partition)/" }

    /// The input partition and the record key of a changelog key, or nil if `key` is not one.
    static func parse(_ key: String, usage: String) -> (Int32, String)? {
        guard key.hasPrefix(usage + "-") else { return nil }
        let rest = key.dropFirst(usage.count + 1)
        guard let slash = rest.firstIndex(of: "/"), let p = Int32(rest[..<slash]), p >= 0 else { return nil }
        return (p, String(rest[rest.index(after: slash)...]))
    }
}

/// The journal book's state record in the `state` topic (key `journal`): JSON with its rounding positions, how far it
/// has posted and the checkpoint; unposted billing events are not copied (they are in the billing topic).
enum JournalStateCodec {
    static let key = "journal"

    static func encode(_ book: JournalBook, checkpoint: Int) -> String {
        let s = book.state()
        var w = JSONWriter()
        w.beginObject()
        w.field("checkpoint", checkpoint)
        w.field("postedThrough", s.postedThrough)
        w.key("positions"); w.beginArray()
        for p in s.positions {
            w.element(); w.beginArray()
            w.element(); w.string(p.entity); w.element(); w.string(p.subject); w.element(); w.string(p.meter)
            w.element(); w.raw(String(p.periodStart)); w.element(); w.string(p.exact.description); w.element(); w.string(String(p.posted))
            w.endArray()
        }
        w.endArray()
        w.endObject()
        return w.text
    }

    /// Restores the book: positions from the record; unposted billing events from the billing topic — those of
    /// checkpoints up to the record's (a crashed run may have written more) that post on or after `postedThrough`.
    static func decode(_ bytes: [UInt8], billing: [(value: [UInt8], checkpoint: Int?)], into book: inout JournalBook) throws {
        guard let o = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let positions = o["positions"] as? [[Any]], let checkpoint = (o["checkpoint"] as? NSNumber)?.intValue else {
            throw KafkaError(code: -1, message: "journal state record is not valid")
        }
        var ps: [JournalBook.Position] = []
        for p in positions {
            guard p.count == 6, let e = p[0] as? String, let s = p[1] as? String, let m = p[2] as? String, let start = (p[3] as? NSNumber)?.int64Value,
                  let exact = p[4] as? String, let posted = (p[5] as? String).flatMap({ Int128($0) }) else { throw KafkaError(code: -1, message: "journal state position is not valid") }
            ps.append(JournalBook.Position(entity: e, subject: s, meter: m, periodStart: start, exact: try Amount(exact), posted: posted))
        }
        let postedThrough = (o["postedThrough"] as? NSNumber)?.int64Value ?? .min
        var pending: [String: BillingEvent] = [:]
        for (i, r) in billing.enumerated() {
            guard let c = r.checkpoint, c <= checkpoint else { continue }
            guard let obj = try JSONSerialization.jsonObject(with: Data(r.value)) as? [String: Any] else { continue }
            let e = try BillingRecords.decode(obj, file: "billing topic", line: i + 1)
            if UTC.floor(e.postedAt, book.interval) >= postedThrough { pending[e.id] = e }
        }
        book.restore(positions: ps, pending: pending.values.sorted { $0.id < $1.id }, postedThrough: postedThrough)
    }
}

/// Reads every record of a topic from the low to the high watermark (manual assignment, no group).
/// With `compacted`, records before the low watermark may be gone (a changelog keeps only the last record per key,
/// as compaction does); otherwise a low watermark above 0 is an error (the broker dropped output records).
public func readTopic(_ topic: String, kafka: [String: String], compacted: Bool = false, timeoutMs: Int32 = 30_000) throws -> [(key: [UInt8], value: [UInt8], partition: Int32, offset: Int64, checkpoint: Int?)] {
    var cfg = kafka
    cfg["enable.partition.eof"] = "true"
    cfg["fetch.wait.max.ms"] = "10"
    let consumer = try KafkaConsumer(config: cfg)
    defer { _ = consumer.close(timeoutMs: 5_000) }
    let partitions = try consumer.partitionCount(topic: topic, timeoutMs: timeoutMs)
    var targets: [Int32: Int64] = [:]
    var assign: [TopicPartitionOffset] = []
    var expected: Int64 = 0
    for p in 0..<partitions {
        let (low, high) = try consumer.watermarks(topic: topic, partition: p, timeoutMs: timeoutMs)
        // Our outputs start at offset 0; a higher low watermark means the broker dropped records (the mock's cap).
        guard low == 0 || compacted else { throw KafkaError(code: -1, message: "\(topic)[\(p)]: records 0..<\(low) are gone (retention dropped them): use more partitions") }
        if high > low { targets[p] = high; assign.append(TopicPartitionOffset(topic: topic, partition: p, offset: low)); expected += high - low }
    }
    var out: [(key: [UInt8], value: [UInt8], partition: Int32, offset: Int64, checkpoint: Int?)] = []
    guard expected > 0 else { return out }
    try consumer.assign(assign)
    let deadline = wallClockMicros() + Int64(timeoutMs) * 1000
    while Int64(out.count) < expected {
        guard wallClockMicros() < deadline else {
            throw KafkaError(code: -1, message: "reading \(topic): got \(out.count) of \(expected) records before the timeout")
        }
        _ = try consumer.poll(max: 10_000, timeoutMs: 100) { m in
            if let t = targets[m.partition], m.offset < t {
                let checkpoint = m.header("meterline_checkpoint").flatMap { Int(String(decoding: $0, as: UTF8.self)) }
                out.append((Array(m.key), Array(m.value), m.partition, m.offset, checkpoint))
            }
        }
    }
    return out
}
