import Atomics
import MeterlineCore

// Owns: the batch that carries input messages to `Pipeline.process(batch:)` and across shard rings: values, Kafka
// keys and binary-mode attributes copied back to back into one buffer (one allocation per batch, none per event),
// or lines read in place from a `SharedChunk` of input that several shards' batches refer to.

/// A buffer of input bytes that batches of several shards read in place (the backfill's decompressed chunks), so
/// the router copies no line. Invariant: `users` counts the batches that refer to the chunk (a batch adds itself
/// when it takes its first line from it; its shard removes it, releasing, after processing it); the owner writes
/// `storage` and `count` only while `isFree`, and batches read only `storage[0..<count]`.
///
/// Why `@unchecked Sendable`: the bytes are written by the owner before any batch that refers to them is pushed on
/// a ring (the ring's release/acquire orders the writes before the shard's reads), and written again only after
/// every such batch was processed (`isFree` loads `users` acquiring, after the shards' releasing decrements).
public final class SharedChunk: @unchecked Sendable {
    public let storage: UnsafeMutableRawBufferPointer
    /// Valid bytes at the start of `storage`.
    public var count = 0
    let users = ManagedAtomic<Int>(0)

    public init(capacity: Int) {
        precondition(capacity >= 1 && capacity <= Int(Int32.max), "SharedChunk capacity \(capacity) outside 1...2^31−1 (Int32 ranges)")
        storage = .allocate(byteCount: capacity, alignment: 64)
    }

    deinit { storage.deallocate() }

    /// Whether no batch refers to the chunk any more: the owner may refill it.
    public var isFree: Bool { users.load(ordering: .acquiring) == 0 }

    /// The valid bytes.
    public var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[0..<count]) }
}

/// Input messages back to back, with where each one's value, key and binary-mode attributes lie.
/// Invariant: when `shared` is nil, every range in `records` and `binaries` lies inside `bytes`, and `bytes` stays
/// under 2 GiB (Int32 ranges): callers check `bytes.count` against `MessageBatch.maxBytes` and process the batch
/// before it would pass it. When `shared` is set, `bytes` and `binaries` are empty and every record lies inside
/// the shared chunk's valid bytes.
public struct MessageBatch: Sendable {
    public private(set) var bytes = GrowableBytes()
    public private(set) var records: [BatchRecord] = []
    public private(set) var binaries: [BatchBinary] = []
    /// The chunk the records lie in, for a batch of lines read in place; nil when the batch holds its own bytes.
    public private(set) var shared: SharedChunk? = nil
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
        precondition(shared == nil, "a batch of lines read in place takes no copied message")
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

    /// Adds the message at `start..<start+count` of `chunk`, read in place (no copy), with its canonical head when the
    /// router found one (`EventParser.canonicalHead` of those bytes). A batch takes lines from one chunk only, and then
    /// no copied message (`append`); its first line counts it among the chunk's users.
    @inline(__always)
    public mutating func appendInPlace(_ chunk: SharedChunk, partition: Int32, offset: Int64, start: Int, count: Int,
                                       head: CanonicalHead? = nil) {
        if shared !== chunk {
            precondition(shared == nil && records.isEmpty, "a batch takes lines from one chunk only, and no copied message with them")
            shared = chunk
            chunk.users.wrappingIncrement(ordering: .relaxed)
        }
        var r = BatchRecord(partition: partition, offset: offset, start: Int32(truncatingIfNeeded: start), count: Int32(truncatingIfNeeded: count))
        r.head = head
        records.append(r)
    }

    /// Tells the batch's chunk (if any) that the batch is done with it; call once, after processing it.
    public mutating func releaseChunk() {
        shared?.users.wrappingDecrement(ordering: .releasing)
        shared = nil
    }

    /// Empties the batch, keeping its buffers. A batch of lines read in place must have released its chunk.
    public mutating func removeAll() {
        precondition(shared == nil, "release the chunk of a batch before emptying it")
        bytes.removeAll()
        records.removeAll(keepingCapacity: true)
        binaries.removeAll(keepingCapacity: true)
    }
}

extension Pipeline {
    /// Processes a batch in order (`process(batch:records:binaries:nowMicros:)`) at its `nowMicros`.
    public func process(_ batch: MessageBatch) {
        guard !batch.isEmpty else { return }
        if let chunk = batch.shared {
            batch.records.withUnsafeBufferPointer { process(batch: chunk.bytes, records: $0, nowMicros: batch.nowMicros) }
            return
        }
        batch.bytes.withUnsafeBytes { b in
            batch.records.withUnsafeBufferPointer { r in
                batch.binaries.withUnsafeBufferPointer { process(batch: b, records: r, binaries: $0, nowMicros: batch.nowMicros) }
            }
        }
    }
}
