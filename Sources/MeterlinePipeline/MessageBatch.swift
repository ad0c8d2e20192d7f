import MeterlineCore

// Owns: the batch that carries input messages to `Pipeline.process(batch:)` and across shard rings: values, Kafka
// keys and binary-mode attributes copied back to back into one buffer (one allocation per batch, none per event).

/// Input messages back to back, with where each one's value, key and binary-mode attributes lie.
/// Invariant: every range in `records` and `binaries` lies inside `bytes`; `bytes` stays under 2 GiB (Int32 ranges):
/// callers check `bytes.count` against `MessageBatch.maxBytes` and process the batch before it would pass it.
public struct MessageBatch: Sendable {
    public private(set) var bytes = GrowableBytes()
    public private(set) var records: [BatchRecord] = []
    public private(set) var binaries: [BatchBinary] = []
    /// Processing time for the batch (the router's clock when it was filled).
    public var nowMicros: Int64 = 0
    /// Bytes a caller lets a batch reach before processing it.
    public static let maxBytes = Int(Int32.max) / 2

    public init(capacity: Int = 0) {
        bytes = GrowableBytes(capacity: capacity * 256)
        records.reserveCapacity(capacity)
    }

    public var count: Int { records.count }
    public var isEmpty: Bool { records.isEmpty }

    /// Copies one message in. `key` is the Kafka key (nil or empty: none); `binary` the `ce_*` headers.
    public mutating func append(partition: Int32, offset: Int64, value: UnsafeRawBufferPointer, key: UnsafeRawBufferPointer? = nil,
                                binary: BinaryAttributes? = nil) {
        let start = Int32(bytes.count)
        bytes.append(value)
        var r = BatchRecord(partition: partition, offset: offset, start: start, count: Int32(value.count))
        if let key, key.count > 0 { (r.keyStart, r.keyCount) = copy(key) }
        if let b = binary {
            r.binary = Int32(binaries.count)
            binaries.append(BatchBinary(specversion: copy(b.specversion), id: copy(b.id), source: copy(b.source), type: copy(b.type),
                                        subject: copy(b.subject), time: copy(b.time)))
        }
        records.append(r)
    }

    /// Copies `b` to the end of `bytes`; its (start, count), count −1 when absent.
    private mutating func copy(_ b: UnsafeRawBufferPointer?) -> (Int32, Int32) {
        guard let b else { return (0, -1) }
        let start = Int32(bytes.count)
        bytes.append(b)
        return (start, Int32(b.count))
    }

    /// Empties the batch, keeping its buffers.
    public mutating func removeAll() {
        bytes.removeAll()
        records.removeAll(keepingCapacity: true)
        binaries.removeAll(keepingCapacity: true)
    }
}

extension Pipeline {
    /// Processes a batch in order (`process(batch:records:binaries:nowMicros:)`) at its `nowMicros`.
    public func process(_ batch: MessageBatch) {
        guard !batch.isEmpty else { return }
        batch.bytes.withUnsafeBytes { b in
            batch.records.withUnsafeBufferPointer { r in
                batch.binaries.withUnsafeBufferPointer { process(batch: b, records: r, binaries: $0, nowMicros: batch.nowMicros) }
            }
        }
    }
}
