import Foundation
import MeterlineCore
import MeterlineKafka
import MeterlineLedger
import MeterlinePipeline

// Owns: what the streaming engine keeps in the `state` topic and how it reads it back: per input partition the
// pipeline's changelog records (StateKeys), the journal writer's record (JournalLeader), values cut into
// parts when larger than a message (StateChunks), and the restores on start and on assignment.

extension StreamingEngine {
    /// The last value of every key in the given partitions of the state topic, as compaction keeps it (an empty
    /// value is a tombstone and removes its key), with values written in parts reassembled.
    func readState(partitions: [Int32]) throws -> [String: [UInt8]] {
        let records = try readTopic(config.topics.state, kafka: kafka, compacted: true, partitions: partitions)
        var raw: [String: [UInt8]] = [:]
        for r in records.sorted(by: { ($0.partition, $0.offset) < ($1.partition, $1.offset) }) {
            raw[String(decoding: r.key, as: UTF8.self)] = r.value.isEmpty ? nil : r.value
        }
        return try StateChunks.assemble(raw)
    }

    /// Makes this instance the group's journal writer, continuing from the writer's record in state partition
    /// `StateKeys.journalPartition` (none: from the start of the billing and state topics).
    func becomeJournalLeader(cache: inout [Int32: [String: [UInt8]]]) throws {
        let sp = StateKeys.journalPartition
        let last = try cache[sp] ?? readState(partitions: [sp])
        cache[sp] = last
        let leader = JournalLeader(config: config, kafka: kafka, writerId: writerId)
        if let record = last[JournalLeader.key] { try leader.restore(record) }
        journalLeader = leader
        isJournalLeader.store(true, ordering: .relaxed)
        logger.info("journal writer", metadata: ["restored": "\(last[JournalLeader.key] != nil)"])
    }

    /// Restores a newly assigned input partition from its changelog (in state partition `p mod statePartitions`),
    /// replacing whatever this instance held for it, and returns the offset to resume from. Without a changelog the
    /// partition starts empty, and nil keeps the group's committed offset. `cache` keeps the state partitions read
    /// during one assignment, so partitions that share one are restored from a single read.
    func restorePartition(_ p: Int32, statePartitions: Int32, cache: inout [Int32: [String: [UInt8]]]) throws -> Int64? {
        let sp = p % statePartitions
        let last = try cache[sp] ?? readState(partitions: [sp])
        cache[sp] = last
        let prefix = StateKeys.prefix(usage: config.topics.usage, partition: p)
        var records: [String: [UInt8]] = [:]
        for (key, value) in last where key.hasPrefix(prefix) { records[String(key.dropFirst(prefix.count))] = value }
        guard !records.isEmpty else {
            withPipeline(of: p) { $0.drop(partitions: [p]) }
            engineMetrics?.forget(partition: p)
            return nil
        }
        let (counters, resume) = try withPipeline(of: p) { pipeline in
            do { try pipeline.restore(partition: p, changelog: records) } catch {
                throw KafkaError(code: -1, message: "restoring partition \(p) of \(config.topics.usage) from \(config.topics.state): \(error)")
            }
            return (pipeline.counters(partition: p), pipeline.nextOffset(partition: p))
        }
        if let counters { engineMetrics?.adopt(partition: p, counters: counters) }
        logger.info("restored", metadata: ["partition": "\(p)", "resume": "\(resume ?? -1)"])
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
            let kb = Array(k.utf8)
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
    /// The state partition of the journal book's record.
    static let journalPartition: Int32 = 0

    static func prefix(usage: String, partition: Int32) -> String { "\(usage)-\(partition)/" }

    /// The input partition and the record key of a changelog key, or nil if `key` is not one.
    static func parse(_ key: String, usage: String) -> (Int32, String)? {
        guard key.hasPrefix(usage + "-") else { return nil }
        let rest = key.dropFirst(usage.count + 1)
        guard let slash = rest.firstIndex(of: "/"), let p = Int32(rest[..<slash]), p >= 0 else { return nil }
        return (p, String(rest[rest.index(after: slash)...]))
    }
}
