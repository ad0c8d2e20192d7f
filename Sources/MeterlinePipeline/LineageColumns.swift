import Glibc
import MeterlineCore

// Owns: the lineage a partition collects between two checkpoints, in columns, so the accept path appends
// integers and id bytes instead of building strings per event. The engine turns it into lineage files
// (MeterlineLineage); this module never imports MeterlineLineage or CZstd.

/// The accepted events of one input partition since the last checkpoint, by rollup key, in columns.
///
/// Invariants: every per-event column has `count` elements; `offsets` never decreases (events are appended in
/// input order, several readings of one event share its offset, in reading order); `keyIndex[i] < keys.count`
/// once `resolveKeys` has run (always so for columns taken by a checkpoint);
/// `sourceIndex[i] < sources.count`; event `i`'s id is `idBytes[idEnd(i - 1)..<idEnds[i]]` (UTF-8, unescaped).
public struct LineageColumns: Sendable {
    /// Rollup key texts referenced by this checkpoint's events, in first-use order.
    public private(set) var keys: [String] = []
    /// CloudEvents `source` values, in first-use order.
    public private(set) var sources: [String] = []
    public private(set) var keyIndex: [UInt32] = []
    public private(set) var sourceIndex: [UInt32] = []
    public private(set) var times: [Int64] = []
    /// Reading values, raw 9-decimal fixed point (`Quantity.raw`).
    public private(set) var values: [Int128] = []
    public private(set) var offsets: [Int64] = []
    public private(set) var idEnds: [UInt32] = []
    public private(set) var idBytes: [UInt8] = []
    /// UTF-8 of each of `sources`, and the index of each by the hash of those bytes: a source seen before is
    /// found without building a `String` (several producers, hence sources, often share one partition).
    var sourceBytes: [[UInt8]] = []
    var sourceByHash: [Hash128: UInt32] = [:]
    /// The index of the previous event's source, compared first (one source per input is the norm).
    var lastSource: UInt32 = 0

    public init() {}

    public var count: Int { times.count }
    public var isEmpty: Bool { times.isEmpty }

    /// Window slots whose key texts are registered but not yet copied into `keys` (they follow `keys` in index
    /// order). Reading a window's key text costs a cache miss on a cold `String`; taking them all in one loop at
    /// the checkpoint (`resolveKeys`) overlaps those misses instead of stalling the accept path once per window.
    var pendingKeySlots: [Int32] = []

    /// Registers the key text of the window in `slot` for this checkpoint; the returned index goes into `append`.
    /// The text is read later, by `resolveKeys`, which must run before any window slot changes and before the
    /// columns leave the partition.
    mutating func addKey(slot: Int) -> UInt32 {
        pendingKeySlots.append(Int32(truncatingIfNeeded: slot))
        return UInt32(keys.count + pendingKeySlots.count - 1)
    }

    /// Copies the key texts of the registered window slots into `keys`, in registration order.
    mutating func resolveKeys(_ windows: WindowTable) {
        guard !pendingKeySlots.isEmpty else { return }
        keys.reserveCapacity(keys.count + pendingKeySlots.count)
        windows.values.withUnsafeBufferPointer { values in
            pendingKeySlots.withUnsafeBufferPointer { slots in
                for i in slots.indices { keys.append(values[Int(slots[i])].keyText) }
            }
        }
        pendingKeySlots.removeAll(keepingCapacity: true)
    }

    /// Appends one reading of an accepted event. `id` and `source` are the unescaped UTF-8 bytes.
    @inline(__always)
    mutating func append(key: UInt32, id: UnsafeRawBufferPointer, source: UnsafeRawBufferPointer,
                         timeMicros: Int64, value: Int128, offset: Int64) {
        assert(offsets.last.map { $0 <= offset } ?? true, "lineage offsets must not decrease")
        if sources.isEmpty || !LineageColumns.equal(source, sourceBytes[Int(lastSource)]) {
            lastSource = sourceNumber(source)
        }
        sourceIndex.append(lastSource)
        keyIndex.append(key)
        times.append(timeMicros)
        values.append(value)
        offsets.append(offset)
        idBytes.append(contentsOf: id)
        precondition(idBytes.count <= Int(UInt32.max), "lineage of one checkpoint holds under 4 GiB of ids")
        idEnds.append(UInt32(truncatingIfNeeded: idBytes.count))
    }

    /// The index in `sources` of `source` (UTF-8), registering it when it is new. Slow path: only when the source
    /// differs from the previous event's; allocates only for a source not seen in this checkpoint.
    @inline(never)
    mutating func sourceNumber(_ source: UnsafeRawBufferPointer) -> UInt32 {
        var h = Hasher128()
        h.combine(source)
        let hash = h.finalize()
        let known = sourceByHash[hash]
        if let i = known {
            if LineageColumns.equal(source, sourceBytes[Int(i)]) { return i }
            // A 128-bit collision is not assumed away: the bytes decide (the first source keeps the hash entry,
            // later ones with the same hash are found by this scan).
            if let j = sourceBytes.firstIndex(where: { LineageColumns.equal(source, $0) }) { return UInt32(j) }
        }
        let i = UInt32(sources.count)
        sources.append(String(decoding: source, as: UTF8.self))
        sourceBytes.append(Array(source))
        if known == nil { sourceByHash[hash] = i }
        return i
    }

    /// Whether two byte strings are equal (`memcmp`; the generic `elementsEqual` compared byte by byte).
    @inline(__always)
    static func equal(_ a: UnsafeRawBufferPointer, _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        guard let pa = a.baseAddress, a.count > 0 else { return true }
        return b.withUnsafeBytes { memcmp(pa, $0.baseAddress!, a.count) == 0 }
    }

    /// Forgets every event; keeps capacity for the next checkpoint.
    mutating func removeAll() {
        keys.removeAll(keepingCapacity: true)
        pendingKeySlots.removeAll(keepingCapacity: true)
        sources.removeAll()
        sourceBytes.removeAll()
        sourceByHash.removeAll(keepingCapacity: true)
        lastSource = 0
        keyIndex.removeAll(keepingCapacity: true)
        sourceIndex.removeAll(keepingCapacity: true)
        times.removeAll(keepingCapacity: true)
        values.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        idEnds.removeAll(keepingCapacity: true)
        idBytes.removeAll(keepingCapacity: true)
    }
}
