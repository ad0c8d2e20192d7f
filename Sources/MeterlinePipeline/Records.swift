// MeterlinePipeline — turns batches of input messages into rated billing events, DLQ records,
// lineage and checkpoints. Independent of Kafka and files: the streaming engine, backfill and the
// benchmark harness run this same code.
//
// Owns: per-input-partition state (dedup ids, open and closed windows, period positions,
// watermarks), window close in event-time order, late revisions, period true-ups, conservation counters.
//
// Must never import: MeterlineKafka, MeterlineLineage, MeterlineLedger, MeterlineEngine, or a C module other
// than CPrefetch (a prefetch hint, no state), CFutex (the rings' sleep and wake-up, in SPSCRing.swift only) and
// CSched (a thread's scheduler slice, in ThreadTimeSlice.swift only); Foundation only in ShardedPipeline.swift,
// for its threads.
import MeterlineCore

/// A rejected input message, as written to the DLQ stream.
/// Invariant: `payload` is the original message bytes, unchanged.
public struct DLQRecord: Sendable, Equatable {
    public var source: String
    public var partition: Int32
    public var offset: Int64
    public var reason: RejectReason
    public var message: String
    public var payload: [UInt8]

    public init(source: String, partition: Int32, offset: Int64, reason: RejectReason, message: String, payload: [UInt8]) {
        self.source = source
        self.partition = partition
        self.offset = offset
        self.reason = reason
        self.message = message
        self.payload = payload
    }

    /// Deterministic id: the input position.
    public var id: String { "\(source)@\(offset)" }

    public func json() -> String {
        var w = JSONWriter()
        w.beginObject()
        w.field("id", id)
        w.field("source", source)
        w.field("partition", Int(partition))
        w.field("offset", offset)
        w.field("reason", reason.code)
        w.field("message", message)
        w.field("payload", Base64.encode(payload))
        w.endObject()
        return w.text
    }
}

/// Standard base64 (RFC 4648) with padding.
public enum Base64 {
    static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    public static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(v >> 18)]); out.append(alphabet[Int(v >> 12 & 63)])
            out.append(alphabet[Int(v >> 6 & 63)]); out.append(alphabet[Int(v & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let v = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(v >> 18)]); out.append(alphabet[Int(v >> 12 & 63)]); out.append(61); out.append(61)
        } else if rest == 2 {
            let v = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(v >> 18)]); out.append(alphabet[Int(v >> 12 & 63)]); out.append(alphabet[Int(v >> 6 & 63)]); out.append(61)
        }
        return String(decoding: out, as: UTF8.self)
    }
    public static func decode(_ s: String) -> [UInt8]? {
        var table = [Int](repeating: -1, count: 256)
        for (i, c) in alphabet.enumerated() { table[Int(c)] = i }
        var out: [UInt8] = []
        var acc = 0, bits = 0
        for c in s.utf8 {
            if c == 61 { break }
            let v = table[Int(c)]
            if v < 0 { return nil }
            acc = acc << 6 | v
            bits += 6
            if bits >= 8 { bits -= 8; out.append(UInt8(acc >> bits & 0xFF)) }
        }
        return out
    }
}

/// Conservation counters of one input partition.
/// Invariant: `input == accepted + duplicate + rejected.values.sum()` after every message.
public struct Counters: Sendable, Equatable {
    public var input = 0
    public var accepted = 0
    public var duplicate = 0
    public var rejected: [RejectReason: Int] = [:]
    public var latePeriodClosed: [Int64: Int] = [:]
    /// Records whose Kafka key differs from their subject (processed anyway).
    public var keyMismatch = 0
    public var revisions = 0
    /// Events outside a run's accepted event-time range (backfill `--from/--to`): counted, not rated, and not part of `input`.
    public var outOfRange = 0
    public init() {}

    public var rejectedTotal: Int { rejected.values.reduce(0, +) }
    public var balanced: Bool { input == accepted + duplicate + rejectedTotal }

    public mutating func add(_ o: Counters) {
        input += o.input; accepted += o.accepted; duplicate += o.duplicate; keyMismatch += o.keyMismatch; revisions += o.revisions; outOfRange += o.outOfRange
        for (k, v) in o.rejected { rejected[k, default: 0] += v }
        for (k, v) in o.latePeriodClosed { latePeriodClosed[k, default: 0] += v }
    }
}

/// What one checkpoint produced: outputs in canonical order, lineage per input source, and the offsets to commit.
/// Invariant: outputs are a deterministic function of each partition's input sequence (not of batch sizes or timing).
public struct CheckpointOutput: Sendable {
    public var sequence: Int
    public var billing: [BillingEvent] = []
    /// With `Pipeline.handsOverBilling`: the billing events, still in the partitions' buffers (`billing` is then
    /// empty); nil when there are none or the pipeline moves them into `billing`.
    public var billingHandover: BillingHandover? = nil
    public var dlq: [DLQRecord] = []
    /// Input source name → (first offset, last offset, events) for the lineage file of this checkpoint.
    public var lineage: [(source: String, firstOffset: Int64, lastOffset: Int64, events: LineageColumns)] = []
    /// Input source → next offset to read.
    public var offsets: [(partition: Int32, next: Int64)] = []
    /// The lowest watermark over all partitions that have seen data (event time, µs).
    public var lowWatermark: Int64
    /// Per-partition changelog records for the `state` topic (`Pipeline.includeState`), in write order; partitions
    /// that did not change since their last changelog are absent.
    public var state: [(partition: Int32, records: [StateRecord])] = []
    /// How many of `billing` and of `dlq` each partition contributed, in partition order (the runs `merging` sorts by).
    public var runs: [(partition: Int32, billing: Int, dlq: Int)] = []

    /// The outputs of shards that own disjoint partitions, as one pipeline holding all of them would have produced
    /// them: billing events and DLQ records in partition order, lineage, offsets and state likewise, the lowest
    /// watermark of the shards that have seen data.
    public static func merging(_ outputs: [CheckpointOutput]) -> CheckpointOutput {
        precondition(outputs.allSatisfy { $0.billingHandover == nil }, "merging takes billing events in `billing` only")
        guard outputs.count > 1 else { return outputs.first ?? CheckpointOutput(sequence: 0, lowWatermark: .min) }
        let lows = outputs.map(\.lowWatermark).filter { $0 != .min }
        var m = CheckpointOutput(sequence: outputs[0].sequence, lowWatermark: lows.min() ?? .min)
        var pieces: [(partition: Int32, shard: Int, billing: Range<Int>, dlq: Range<Int>)] = []
        for (i, o) in outputs.enumerated() {
            var b = 0, d = 0
            for r in o.runs {
                pieces.append((r.partition, i, b..<(b + r.billing), d..<(d + r.dlq)))
                b += r.billing; d += r.dlq
            }
            precondition(b == o.billing.count && d == o.dlq.count, "runs do not cover the outputs")
        }
        pieces.sort { $0.partition < $1.partition }
        m.billing.reserveCapacity(outputs.reduce(0) { $0 + $1.billing.count })
        for p in pieces {
            m.billing.append(contentsOf: outputs[p.shard].billing[p.billing])
            m.dlq.append(contentsOf: outputs[p.shard].dlq[p.dlq])
            m.runs.append((p.partition, p.billing.count, p.dlq.count))
        }
        m.lineage = outputs.flatMap(\.lineage)
        m.offsets = outputs.flatMap(\.offsets).sorted { $0.partition < $1.partition }
        m.state = outputs.flatMap(\.state).sorted { $0.partition < $1.partition }
        return m
    }
}
