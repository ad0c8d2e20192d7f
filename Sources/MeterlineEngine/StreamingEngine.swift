import Atomics
import CoreMetrics
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

/// What the rebalance hooks share with the poll loop (all on the polling thread).
final class Handover {
    var consumer: KafkaConsumer?
    var producer: KafkaProducer?
    var statePartitions: Int32 = 1
    /// Input partitions assigned to this instance.
    var owned: Set<Int32> = []
    /// The first failure inside a hook; the run throws it after the poll.
    var error: Error?
    /// A simulated crash takes no checkpoint on the way out.
    var noCheckpointOnRevoke = false
    /// State partitions read during the current assignment (cleared when it completes).
    var stateCache: [Int32: [String: [UInt8]]] = [:]
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
    /// The pipeline: `shards` threads, each owning the input partitions routed to it (`ShardRouting.partition`).
    let sharded: ShardedPipeline
    /// The group's journal writer, while this instance owns usage partition 0 (`JournalLeader`).
    var journalLeader: JournalLeader? = nil
    /// Identifies this process's billing records to its own journal writer (a header; no output depends on it).
    let writerId = UUID().uuidString
    /// Each checkpoint — outputs, state records and the input offsets — is one Kafka transaction (DESIGN §10), so
    /// `read_committed` readers see a checkpoint whole or not at all. The `transactional.id` is the config's, else
    /// one per process (the consumer group's metadata, sent with the offsets, fences a stale instance: KIP-447).
    /// An empty `transactional.id` in the config turns transactions off.
    var transactional: Bool { kafka["transactional.id"].map { !$0.isEmpty } ?? true }
    /// Whether this instance writes the group's journal now: readable from other threads.
    public let isJournalLeader = ManagedAtomic<Bool>(false)
    public private(set) var outputs = RunOutputs()
    var lineageFiles = LineageFiles()
    /// Partitions of the state topic (read once).
    var stateTopicPartitions: Int32? = nil
    /// Input partitions this instance owns now (the group's assignment): readable from other threads.
    public let assignedPartitions = ManagedAtomic<Int>(0)
    /// Input messages this instance has consumed: readable from other threads.
    public let consumedMessages = ManagedAtomic<Int>(0)
    /// Wall-clock µs of the poll loop's last turn (0 before the run): readable from other threads.
    public let lastPollMicros = ManagedAtomic<Int64>(0)
    /// Set once the producer exists and the consumer has subscribed; cleared when the run ends.
    let running = ManagedAtomic<Bool>(false)

    /// Nil when the poll loop turned within `maxSilenceMicros`, else why not (`/healthz`). Safe from any thread.
    public func health(maxSilenceMicros: Int64 = 60_000_000) -> String? {
        let last = lastPollMicros.load(ordering: .relaxed)
        guard last > 0 else { return "the engine has not started polling" }
        let silence = wallClockMicros() - last
        return silence <= maxSilenceMicros ? nil : "no poll for \(silence / 1_000_000) s"
    }

    /// Nil when the producer is ready and the group assigned partitions, else why not (`/readyz`). Safe from any thread.
    public func readiness() -> String? {
        guard running.load(ordering: .relaxed) else { return "the engine is not running" }
        return assignedPartitions.load(ordering: .relaxed) > 0 ? nil : "no partitions assigned"
    }
    public var shouldStop: @Sendable () -> Bool = { false }
    /// Processing clock; tests pin it.
    public var now: () -> Int64 = wallClockMicros
    /// Where the engine reports its metrics (`EngineMetrics`); nil reports none.
    public var metrics: MetricsFactory? = nil
    /// Called after every checkpoint (e.g. to write the metrics exposition to a file).
    public var afterCheckpoint: (() -> Void)? = nil
    var engineMetrics: EngineMetrics? = nil

    /// - Parameter shards: pipeline threads; input partitions are spread over them, each owned by one. The outputs do
    ///   not depend on the count. The engine runs once: `run` stops the shard threads when it returns.
    public init(config: Configuration, kafka: [String: String], lineageDirectory: String, shards: Int = 1,
                logger: Logger = Logger(label: "meterline.engine")) {
        self.config = config
        self.kafka = kafka
        self.lineageDirectory = lineageDirectory
        self.logger = logger
        self.sharded = ShardedPipeline(shards: shards, routing: .partition) {
            let p = Pipeline(config: config, sourcePrefix: config.topics.usage)
            p.includeState = true
            return p
        }
    }

    /// Conservation counters of the partitions this instance holds (after `run`, or between checkpoints on its thread).
    public var counters: Counters {
        sharded.quiesce { ps in
            var c = Counters()
            for p in ps { c.add(p.counters) }
            return c
        }
    }

    /// The input partitions this instance holds state for, in order.
    public var partitions: [Int32] { sharded.quiesce { ps in ps.flatMap(\.partitions).sorted() } }

    /// Runs `body` on the pipeline that owns `partition` (shards parked; see `ShardedPipeline.quiesce`).
    func withPipeline<R>(of partition: Int32, _ body: (Pipeline) throws -> R) rethrows -> R {
        try sharded.quiesce { try body($0[sharded.shard(of: partition)]) }
    }

    /// Runs until `stop`; returns the pipeline's conservation counters.
    @discardableResult
    public func run(until stop: StopCondition, groupId: String = "meterline") throws -> Counters {
        // The journal book is this instance's; partition state is restored when the group assigns a partition,
        // which then resumes from the offset recorded in its state (the group's commit is advisory).
        engineMetrics = metrics.map(EngineMetrics.init)
        var consumerConfig = kafka
        consumerConfig["group.id"] = consumerConfig["group.id"] ?? groupId
        consumerConfig["enable.auto.commit"] = "false"
        consumerConfig["auto.offset.reset"] = consumerConfig["auto.offset.reset"] ?? "earliest"
        consumerConfig["session.timeout.ms"] = consumerConfig["session.timeout.ms"] ?? "6000"
        consumerConfig["fetch.wait.max.ms"] = consumerConfig["fetch.wait.max.ms"] ?? "10"
        // Incremental rebalancing: a member joining or leaving moves only the partitions that change owner, so only
        // those are checkpointed away and restored from their changelog.
        consumerConfig["partition.assignment.strategy"] = consumerConfig["partition.assignment.strategy"] ?? "cooperative-sticky"
        consumerConfig["transactional.id"] = nil
        let usageTopic = config.topics.usage
        // The hooks run inside `poll`, on this thread: by then the consumer and producer in `hand` exist.
        let hand = Handover()
        let consumer = try KafkaConsumer(
            config: consumerConfig,
            onAssign: { [unowned self] tps in
                let assigned = tps.filter { $0.topic == usageTopic }.map(\.partition)
                if assigned.contains(0) && self.journalLeader == nil && hand.error == nil {
                    // This instance now writes the group's journal, from where the last writer left it.
                    do { try self.becomeJournalLeader(cache: &hand.stateCache) } catch { hand.error = error }
                }
                hand.stateCache.removeAll()
                hand.owned.formUnion(assigned)
                self.assignedPartitions.store(hand.owned.count, ordering: .relaxed)
                self.engineMetrics?.assignedPartitions.record(hand.owned.count)
                self.logger.info("assigned", metadata: ["partitions": "\(assigned.sorted())", "owned": "\(hand.owned.sorted())"])
            },
            onRevoke: { [unowned self] tps in
                // Hand-off: a checkpoint first, so the next owner resumes exactly where this one stopped; then the
                // partitions' state goes (it lives on in the changelog).
                let revoked = Set(tps.filter { $0.topic == usageTopic }.map(\.partition))
                guard !revoked.isEmpty, hand.error == nil, let c = hand.consumer, let p = hand.producer else { return }
                do {
                    if !hand.noCheckpointOnRevoke { try self.checkpoint(producer: p, consumer: c, final: false) }
                    self.sharded.quiesce { ps in for p in ps { p.drop(partitions: revoked) } }
                    if revoked.contains(0) { self.journalLeader = nil; self.isJournalLeader.store(false, ordering: .relaxed) }
                    for p in revoked { self.engineMetrics?.forget(partition: p) }
                    hand.owned.subtract(revoked)
                    self.assignedPartitions.store(hand.owned.count, ordering: .relaxed)
                    self.engineMetrics?.assignedPartitions.record(hand.owned.count)
                    self.logger.info("revoked", metadata: ["partitions": "\(revoked.sorted())"])
                } catch { hand.error = error }
            },
            startOffset: { [unowned self] tp in
                guard tp.topic == usageTopic, hand.error == nil else { return nil }
                do { return try self.restorePartition(tp.partition, statePartitions: hand.statePartitions, cache: &hand.stateCache) } catch {
                    hand.error = error
                    return nil
                }
            })
        defer {
            hand.consumer = nil  // the hooks hold `hand`, which held the consumer: no cycle past the run
            _ = consumer.close(timeoutMs: 10_000)
        }
        var producerConfig = kafka.filter { !$0.key.hasPrefix("group.") && !["auto.offset.reset", "session.timeout.ms", "fetch.wait.max.ms", "partition.assignment.strategy"].contains($0.key) }
        producerConfig["linger.ms"] = producerConfig["linger.ms"] ?? "5"
        if transactional { producerConfig["transactional.id"] = kafka["transactional.id"] ?? "meterline-\(consumerConfig["group.id"]!)-\(writerId)" }
        else { producerConfig["transactional.id"] = nil }
        let producer = try KafkaProducer(config: producerConfig)
        if transactional { try producer.initTransactions(timeoutMs: 60_000) }
        hand.statePartitions = try statePartitions(consumer)
        (hand.consumer, hand.producer) = (consumer, producer)
        if case .crashAfterMessages = stop { hand.noCheckpointOnRevoke = true }
        try consumer.subscribe([config.topics.usage])
        running.store(true, ordering: .relaxed)
        defer { running.store(false, ordering: .relaxed) }
        try FileManager.default.createDirectory(atPath: lineageDirectory, withIntermediateDirectories: true)

        var sinceCheckpoint = 0
        var total = 0
        var idlePolls = 0
        // Idle partitions advance by processing time (DESIGN §4): last time each partition delivered input.
        var lastInput: [Int32: Int64] = [:]
        let runStart = self.now()
        var lastIdleCheck = runStart
        let sharded = self.sharded
        defer { sharded.stop() }
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
            lastPollMicros.store(wallClockMicros(), ordering: .relaxed)
            // Each message is copied into its shard's batch (the pipeline's look-ahead path, as the backfill and the
            // benchmarks run it); batches cross to the shard threads when full and at every checkpoint, sync or stop.
            // Rebalance hooks run inside the poll before its messages are handed over, and checkpoint or park the
            // shards first, so no batch spans a hand-off.
            let n = try consumer.poll(max: budget, timeoutMs: 100) { m in
                guard hand.error == nil else { return }  // a failed hand-off: nothing more is processed, the run throws
                var binary: BinaryAttributes? = nil
                if let spec = m.header("ce_specversion") {
                    binary = BinaryAttributes(specversion: spec, id: m.header("ce_id"), source: m.header("ce_source"), type: m.header("ce_type"),
                                              subject: m.header("ce_subject"), time: m.header("ce_time"))
                }
                sharded.process(partition: m.partition, offset: m.offset, value: m.value, key: m.key, binary: binary, nowMicros: now)
                lastInput[m.partition] = now
            }
            if let error = hand.error { throw error }
            if case .signal = stop, now - lastIdleCheck >= 1_000_000 {
                lastIdleCheck = now
                let idle = config.settings.idleTimeoutMicros
                // Owned partitions without input for `idleTimeout` (the shards are parked only when there are some).
                let idleOnes = hand.owned.filter { now - (lastInput[$0] ?? runStart) >= idle }.sorted()
                if !idleOnes.isEmpty {
                    sharded.quiesce { ps in for p in idleOnes { ps[sharded.shard(of: p)].advanceIdle(partition: p, to: now - idle) } }
                }
            }
            total += n
            sinceCheckpoint += n
            consumedMessages.wrappingIncrement(by: n, ordering: .relaxed)
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
        if case .crashAfterMessages = stop { return counters } // no final checkpoint: the crash
        // End of input (`afterMessages`) closes every window and posts the whole journal; a signal only checkpoints.
        let endOfInput: Bool = { if case .afterMessages = stop { return true }; return false }()
        try checkpoint(producer: producer, consumer: consumer, final: endOfInput)
        return counters
    }

    /// Commit errors that mean the group is rebalancing or has a new generation: REBALANCE_IN_PROGRESS (27),
    /// ILLEGAL_GENERATION (22), UNKNOWN_MEMBER_ID (25).
    static let groupMovedOn: Set<Int32> = [27, 22, 25]

    func statePartitions(_ consumer: KafkaConsumer) throws -> Int32 {
        if let n = stateTopicPartitions { return n }
        let n = try consumer.partitionCount(topic: config.topics.state, timeoutMs: 30_000)
        guard n > 0 else { throw KafkaError(code: -1, message: "topic \(config.topics.state) has no partitions") }
        stateTopicPartitions = n
        return n
    }

    /// One checkpoint: outputs, lineage, state, then the offsets (last, so a crash before it replays the checkpoint).
    /// `final`: end of input — every window closes first and the journal is posted in full.
    func checkpoint(producer: KafkaProducer, consumer: KafkaConsumer, final: Bool) throws {
        let started = DispatchTime.now().uptimeNanoseconds
        let out = CheckpointOutput.merging(final ? sharded.finish() : sharded.checkpoint())
        let topics = config.topics
        let seq = "\(out.sequence)"
        let headers = [("meterline_checkpoint", Array(seq.utf8)), ("meterline_writer", Array(writerId.utf8))]
        func produce(_ topic: String, key: String, value: String) throws {
            var k = key, v = value
            try k.withUTF8 { kb in
                try v.withUTF8 { vb in
                    try producer.produce(topic: topic, key: UnsafeRawBufferPointer(kb), value: UnsafeRawBufferPointer(vb), headers: headers)
                }
            }
        }
        let lineageBytesBefore = outputs.lineageBytes
        let stateRecordsBefore = outputs.stateRecords, stateBytesBefore = outputs.stateBytes
        if transactional { try producer.beginTransaction() }
        do {
            for e in out.billing { try produce(topics.billing, key: e.id, value: e.json()) }
            for d in out.dlq { try produce(topics.dlq, key: d.id, value: d.json()) }
            // In the log before the state that accounts for them: the journal writer relies on it (`JournalLeader`).
            try producer.flush(timeoutMs: 60_000)
            for l in out.lineage {
                let r = try lineageFiles.write([l.events], source: l.source, directory: lineageDirectory)
                outputs.lineageFiles += 1
                outputs.lineageBytes += r.bytes
            }
            // State last: each input partition's changelog, naming its checkpoint and the input offset to resume from.
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
            try producer.flush(timeoutMs: 60_000)
            let offsets = out.offsets.map { TopicPartitionOffset(topic: topics.usage, partition: $0.partition, offset: $0.next) }
            if transactional {
                try producer.sendOffsetsToTransaction(offsets, consumer: consumer, timeoutMs: 60_000)
                try producer.commitTransaction(timeoutMs: 60_000)
            } else if !offsets.isEmpty {
                do {
                    try consumer.commit(offsets)
                } catch let e as KafkaError where StreamingEngine.groupMovedOn.contains(e.code) {
                    // A rebalance is under way: the group's offset is advisory (a partition resumes from the offset in its
                    // state, written above), and the revoke that follows checkpoints and commits again.
                    logger.warning("offset commit skipped during a rebalance", metadata: ["error": "\(e)"])
                }
            }
        } catch {
            // Nothing of an unfinished checkpoint may become visible: its transaction is aborted, and the run stops
            // (a restart replays from the last committed checkpoint).
            if transactional { try? producer.abortTransaction(timeoutMs: 30_000) }
            throw error
        }
        // The journal, by the group's writer: what every instance has written, up to the lowest watermark. A crash
        // before its state record re-posts the same entries (same ids) from the previous one.
        var entries: [JournalEntry] = []
        if let leader = journalLeader {
            try leader.catchUp(own: out.billing)
            entries = leader.post(final: final)
            // The entries and the writer's record in one transaction of their own (after the checkpoint's, whose
            // billing events the writer had to read committed).
            if transactional { try producer.beginTransaction() }
            do {
                for j in entries { try produce(topics.journal, key: j.journalId, value: j.json()) }
                let record = leader.stateRecord(checkpoint: out.sequence)
                outputs.stateRecords += try StateChunks.produce(key: JournalLeader.key, value: record, checkpoint: out.sequence,
                                                                topic: topics.state, partition: StateKeys.journalPartition, producer: producer)
                outputs.stateBytes += record.count
                if transactional { try producer.commitTransaction(timeoutMs: 60_000) } else { try producer.flush(timeoutMs: 60_000) }
            } catch {
                if transactional { try? producer.abortTransaction(timeoutMs: 30_000) }
                throw error
            }
            outputs.unbalancedEntries = leader.book.unbalanced.count
        }
        outputs.lastCheckpointStateRecords = outputs.stateRecords - stateRecordsBefore
        outputs.lastCheckpoint = out.sequence
        outputs.billingEvents += out.billing.count
        outputs.dlqRecords += out.dlq.count
        outputs.journalEntries += entries.count
        outputs.checkpoints += 1
        if let m = engineMetrics {
            sharded.quiesce { ps in for p in ps { m.report(p) } }
            m.add("meterline_billing_events_total", out.billing.count)
            m.add("meterline_dlq_records_total", out.dlq.count)
            m.add("meterline_journal_entries_total", entries.count)
            m.add("meterline_lineage_bytes_total", outputs.lineageBytes - lineageBytesBefore)
            m.stateBytes.increment(by: outputs.stateBytes - stateBytesBefore)
            m.add("meterline_checkpoints_total", 1)
            m.checkpointDuration.recordNanoseconds(Int64(DispatchTime.now().uptimeNanoseconds - started))
            // Lag over every partition this instance holds: high watermark (as of the last fetch) minus next offset.
            var lag: Int64 = 0
            for o in out.offsets {
                if let high = consumer.cachedHighWatermark(topic: topics.usage, partition: o.partition) { lag += max(0, high - o.next) }
            }
            m.consumerLag.record(lag)
            m.recordLatencies(billing: out.billing, entries: entries, interval: config.settings.postingIntervalMicros, nowMicros: now())
        }
        lastPollMicros.store(wallClockMicros(), ordering: .relaxed)  // a long checkpoint is not a stalled loop
        afterCheckpoint?()
        logger.debug("checkpoint", metadata: ["seq": "\(out.sequence)", "billing": "\(out.billing.count)", "journal": "\(entries.count)"])
    }
}

/// Reads every record of a topic from the low to the high watermark (manual assignment, no group).
/// With `compacted`, records before the low watermark may be gone (a changelog keeps only the last record per key,
/// as compaction does); otherwise a low watermark above 0 is an error (the broker dropped output records).
/// `partitions` limits the read to those partitions.
public func readTopic(_ topic: String, kafka: [String: String], compacted: Bool = false, partitions only: [Int32]? = nil,
                      timeoutMs: Int32 = 30_000) throws -> [(key: [UInt8], value: [UInt8], partition: Int32, offset: Int64, checkpoint: Int?)] {
    var cfg = kafka
    cfg["enable.partition.eof"] = "true"
    cfg["fetch.wait.max.ms"] = "10"
    let consumer = try KafkaConsumer(config: cfg)
    defer { _ = consumer.close(timeoutMs: 5_000) }
    let partitions = try consumer.partitionCount(topic: topic, timeoutMs: timeoutMs)
    var targets: [Int32: Int64] = [:]
    var assign: [TopicPartitionOffset] = []
    var expected: Int64 = 0
    for p in only ?? Array(0..<partitions) {
        guard p >= 0 && p < partitions else { throw KafkaError(code: -1, message: "\(topic) has no partition \(p) (it has \(partitions))") }
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
