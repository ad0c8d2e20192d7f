import Foundation
import MeterlineCore
import MeterlineKafka
import MeterlineLedger
import MeterlinePipeline

// Owns: the group's one journal writer. Journal entries are per (entity, currency, posting interval) over all
// customers, so with several instances one of them — the owner of usage partition 0 — posts them, from what
// every instance wrote: billing events from the billing topic, and each input partition's progress (its max
// event time) from its changelog `meta` record in the state topic.

/// The journal writer: reads the billing and state topics up to their ends, posts the intervals every input
/// partition's watermark has passed, and keeps its place in the `journal` state record.
///
/// Invariants:
/// - An instance flushes its billing events before it writes its state records, so a `meta` read here implies that
///   its checkpoint's billing events are in the log; the billing topic is read up to end offsets taken *after* the
///   state topic was read, so they are read too.
/// - `pending` holds billing events not yet posted, by id: a replayed checkpoint re-emits the same ids (the last
///   record wins). A re-emitted window always falls in an interval not yet posted: its partition's last `meta`
///   watermark is below the window's end, so the lowest watermark is too.
/// - The state record names, per billing partition, the offset of its earliest pending event: a new writer
///   re-reads from there (events of intervals already posted are skipped), not the topic's whole history.
final class JournalLeader {
    static let key = "journal"

    let config: Configuration
    let kafka: [String: String]
    private(set) var book: JournalBook
    private var pending: [String: (event: BillingEvent, partition: Int32, offset: Int64)] = [:]
    private var billingNext: [Int32: Int64] = [:]
    private var stateNext: [Int32: Int64] = [:]
    /// Max event time per input partition, from its latest `meta` record.
    private var maxEventTimes: [Int32: Int64] = [:]

    /// Marks the billing records this process writes (header `meterline_writer`), so the writer takes its own
    /// checkpoint's events as they are instead of decoding their JSON again. Not part of any output's bytes.
    let writerId: String

    init(config: Configuration, kafka: [String: String], writerId: String) {
        self.config = config
        self.kafka = kafka
        self.writerId = writerId
        self.book = JournalBook(configuration: config)
    }

    /// Reads what every instance has written since the last call: progress first, then billing events. `own` are
    /// the billing events this process wrote in its latest checkpoint (their records are matched by key).
    func catchUp(own: [BillingEvent]) throws {
        var ownById: [String: BillingEvent] = [:]
        ownById.reserveCapacity(own.count)
        for e in own { ownById[e.id] = e }
        let prefix = config.topics.usage + "-"
        try readNew(config.topics.state, from: &stateNext, keep: { key, _ in key.hasSuffix("/meta") }) { key, value, _, _, _ in
            guard key.hasPrefix(prefix), key.hasSuffix("/meta"), !value.isEmpty,
                  let (p, rest) = StateKeys.parse(key, usage: config.topics.usage), rest == "meta",
                  let progress = Pipeline.metaProgress(value), progress.partition == p else { return }
            maxEventTimes[p] = progress.maxEventTime
        }
        let interval = book.interval
        // Records of this process's own latest checkpoint are matched by key: their values are not even copied.
        try readNew(config.topics.billing, from: &billingNext, keep: { key, writer in writer != writerId || ownById[key] == nil }) { key, value, partition, offset, writer in
            let e: BillingEvent
            if writer == writerId, let mine = ownById[key] {
                e = mine
            } else {
                guard let o = try JSONSerialization.jsonObject(with: Data(value)) as? [String: Any] else {
                    throw KafkaError(code: -1, message: "\(config.topics.billing)[\(partition)]@\(offset): not a JSON object")
                }
                e = try BillingRecords.decode(o, file: "\(config.topics.billing)[\(partition)]", line: Int(offset))
            }
            guard UTC.floor(e.postedAt, interval) >= book.postedThrough else { return }  // posted already
            pending[e.id] = (e, partition, offset)
        }
    }

    /// Posts every interval the lowest partition watermark has passed (`final`: everything).
    func post(final: Bool) -> [JournalEntry] {
        let lateness = config.settings.allowedLatenessMicros
        let low = maxEventTimes.values.filter { $0 != .min }.map { $0 - lateness }.min() ?? .min
        let through = final ? Int64.max : low
        let interval = book.interval
        let due = pending.values.filter { through == .max || UTC.floor($0.event.postedAt, interval) + interval <= through }
        for d in due { pending[d.event.id] = nil }
        book.add(due.map(\.event).sorted { $0.id < $1.id })
        return final ? book.finish() : book.post(through: through)
    }

    /// The writer's state: the book's positions, how far it posted, where to read on, and the partitions' progress.
    func stateRecord(checkpoint: Int) -> [UInt8] {
        let s = book.state()
        var start = billingNext
        for p in pending.values { start[p.partition] = min(start[p.partition] ?? p.offset, p.offset) }
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
        for (name, map) in [("billingFrom", start), ("stateFrom", stateNext), ("maxEventTimes", maxEventTimes)] {
            w.key(text: name); w.beginArray()
            for (k, v) in map.sorted(by: { $0.key < $1.key }) {
                w.element(); w.beginArray(); w.element(); w.raw(String(k)); w.element(); w.raw(String(v)); w.endArray()
            }
            w.endArray()
        }
        w.endObject()
        return Array(w.text.utf8)
    }

    /// Continues from a record of `stateRecord`: the book's positions, and reading positions from which the
    /// pending events are read again.
    func restore(_ bytes: [UInt8]) throws {
        func invalid(_ what: String) -> KafkaError { KafkaError(code: -1, message: "journal state record: \(what)") }
        guard let o = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let positions = o["positions"] as? [[Any]] else { throw invalid("not an object with positions") }
        var ps: [JournalBook.Position] = []
        for p in positions {
            guard p.count == 6, let e = p[0] as? String, let s = p[1] as? String, let m = p[2] as? String,
                  let start = (p[3] as? NSNumber)?.int64Value, let exact = p[4] as? String,
                  let posted = (p[5] as? String).flatMap({ Int128($0) }) else { throw invalid("a position is not valid") }
            ps.append(JournalBook.Position(entity: e, subject: s, meter: m, periodStart: start, exact: try Amount(exact), posted: posted))
        }
        func map(_ name: String) throws -> [Int32: Int64] {
            guard let rows = o[name] as? [[NSNumber]] else { throw invalid("no \(name)") }
            var out: [Int32: Int64] = [:]
            for r in rows {
                guard r.count == 2 else { throw invalid("a row of \(name) is not a pair") }
                out[r[0].int32Value] = r[1].int64Value
            }
            return out
        }
        book.restore(positions: ps, pending: [], postedThrough: (o["postedThrough"] as? NSNumber)?.int64Value ?? .min)
        billingNext = try map("billingFrom")
        stateNext = try map("stateFrom")
        maxEventTimes = try map("maxEventTimes")
        pending = [:]
    }

    /// The writer's reading consumer (manual assignment, no group), made once.
    private var reader: KafkaConsumer? = nil
    private var partitionCounts: [String: Int32] = [:]

    deinit { _ = reader?.close(timeoutMs: 5_000) }

    /// Reads every partition of `topic` from `next` (default: its beginning) to its end — each partition's end-of-
    /// partition event, so no watermark request per partition — calling `body` per record in partition order;
    /// advances `next`. A record whose (key, writer) `keep` declines reaches `body` with an empty value.
    private func readNew(_ topic: String, from next: inout [Int32: Int64], keep: (String, String?) -> Bool,
                         _ body: (String, [UInt8], Int32, Int64, String?) throws -> Void) throws {
        if reader == nil {
            var cfg = kafka
            cfg["enable.partition.eof"] = "true"
            cfg["fetch.wait.max.ms"] = "10"
            reader = try KafkaConsumer(config: cfg)
        }
        let consumer = reader!
        let partitions = try partitionCounts[topic] ?? consumer.partitionCount(topic: topic, timeoutMs: 30_000)
        partitionCounts[topic] = partitions
        let all = (0..<partitions).map { TopicPartition(topic: topic, partition: $0) }
        try consumer.assign(all.map { TopicPartitionOffset(topic: topic, partition: $0.partition, offset: next[$0.partition] ?? KafkaOffset.beginning) })
        defer { try? consumer.assign([]) }
        var records: [(key: String, value: [UInt8], partition: Int32, offset: Int64, writer: String?)] = []
        let deadline = wallClockMicros() + 60_000_000
        // A partition is done once it reported its end in this round: what was written before the round started is
        // read by then, and records that other instances write meanwhile are taken if they arrive, not waited for.
        var done = Set<TopicPartition>()
        while done.count < all.count {
            guard wallClockMicros() < deadline else { throw KafkaError(code: -1, message: "reading \(topic) for the journal: timed out") }
            defer { done.formUnion(consumer.eofPartitions) }
            _ = try consumer.poll(max: 10_000, timeoutMs: 100) { m in
                guard m.offset >= (next[m.partition] ?? 0) else { return }
                let key = String(decoding: m.key, as: UTF8.self)
                let writer = m.header("meterline_writer").map { String(decoding: $0, as: UTF8.self) }
                records.append((key, keep(key, writer) ? Array(m.value) : [], m.partition, m.offset, writer))
                next[m.partition] = m.offset + 1
            }
        }
        for r in records.sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) { try body(r.key, r.value, r.partition, r.offset, r.writer) }
    }
}
