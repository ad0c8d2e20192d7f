import Glibc
import MeterlineCore
import Synchronization

// Owns: the lineage a partition collects between two checkpoints, in columns, so the accept path appends
// integers and id bytes instead of building strings per event. The engine turns it into lineage files
// (MeterlineLineage); this module never imports MeterlineLineage or CZstd.

/// One reading of an accepted event, as `LineageColumns` keeps it: plain values only (48 bytes), so appending
/// one is a single array append on the accept path.
/// Invariant: `key` and `source` index the columns' `keys` and `sources`; `idEnd` is where this event's id ends
/// in the columns' `idBytes` (it starts where the previous row's ends, at 0 for the first row).
public struct LineageRow: Sendable, Equatable {
    /// The reading's value, raw 9-decimal fixed point (`Quantity.raw`).
    public var value: Int128
    public var timeMicros: Int64
    public var offset: Int64
    public var key: UInt32
    public var source: UInt32
    public var idEnd: UInt32
}

/// The accepted events of one input partition since the last checkpoint, by rollup key: one row per reading.
///
/// Invariants: `rows[i].offset` never decreases (events are appended in input order, several readings of one
/// event share its offset, in reading order); `rows[i].key < keyCount` once `resolveKeys` has run (always so
/// for columns taken by a checkpoint); `rows[i].source < sources.count`; row `i`'s id is
/// `idBytes[idStart(i)..<rows[i].idEnd]` (UTF-8, unescaped).
public struct LineageColumns: Sendable {
    /// Rollup key texts referenced by this checkpoint's events, in first-use order, as UTF-8 back to back: key `i`
    /// is `keyBytes[keyStart(i) ..< keyEnds[i]]`. Bytes, not `String`s: the lineage thread reads them in order
    /// (each key's `String`, built on the shard, was a cold object there: a cache miss per key).
    public private(set) var keyBytes = GrowableBytes()
    public private(set) var keyEnds: [UInt32] = []
    /// CloudEvents `source` values, in first-use order.
    public private(set) var sources: [String] = []
    public private(set) var rows: [LineageRow] = []
    public private(set) var idBytes = GrowableBytes()
    /// UTF-8 of each of `sources`, and the index of each by the hash of those bytes: a source seen before is
    /// found without building a `String` (several producers, hence sources, often share one partition).
    var sourceBytes: [[UInt8]] = []
    var sourceByHash: [Hash128: UInt32] = [:]
    /// The index of the previous event's source, compared first (one source per input is the norm).
    var lastSource: UInt32 = 0

    public init() {}

    public var count: Int { rows.count }
    public var isEmpty: Bool { rows.isEmpty }

    /// Resolved keys.
    public var keyCount: Int { keyEnds.count }
    /// Where key `i`'s bytes start in `keyBytes`.
    @inline(__always)
    public func keyStart(_ i: Int) -> Int { i == 0 ? 0 : Int(keyEnds[i - 1]) }
    /// The key texts as strings (a copy: for tests and tools, not for per-event loops).
    public var keys: [String] {
        keyBytes.withUnsafeBytes { b in (0..<keyCount).map { String(decoding: b[keyStart($0)..<Int(keyEnds[$0])], as: UTF8.self) } }
    }

    /// Where row `i`'s id starts in `idBytes`.
    @inline(__always)
    public func idStart(_ i: Int) -> Int { i == 0 ? 0 : Int(rows[i - 1].idEnd) }

    /// The rows' offsets, in row order (a copy: for tests and tools, not for per-event loops).
    public var offsets: [Int64] { rows.map(\.offset) }
    /// The rows' source indexes into `sources`, in row order (a copy, like `offsets`).
    public var sourceIndex: [UInt32] { rows.map(\.source) }

    /// Window slots whose key texts are registered but not yet copied into `keys` (they follow `keys` in index
    /// order). Reading a window's key text costs a cache miss on a cold `String`; taking them all in one loop at
    /// the checkpoint (`resolveKeys`) overlaps those misses instead of stalling the accept path once per window.
    var pendingKeySlots: [Int32] = []

    /// Registers the key text of the window in `slot` for this checkpoint; the returned index goes into `append`.
    /// The text is read later, by `resolveKeys`, which must run before any window slot changes and before the
    /// columns leave the partition.
    mutating func addKey(slot: Int) -> UInt32 {
        pendingKeySlots.append(Int32(truncatingIfNeeded: slot))
        return UInt32(keyEnds.count + pendingKeySlots.count - 1)
    }

    /// Copies the key texts of the registered window slots into `keyBytes`, in registration order.
    ///
    /// Each text is in a cold string (a cache miss on its object, ~90 % of this loop's time before): the
    /// window's line holding the string is prefetched 16 slots ahead, the string's object 8 ahead.
    mutating func resolveKeys(_ windows: inout WindowTable) {
        guard !pendingKeySlots.isEmpty else { return }
        keyEnds.reserveCapacity(keyEnds.count + pendingKeySlots.count)
        let offset = WindowState.keyTextOffset
        pendingKeySlots.withUnsafeBufferPointer { slots in
            let n = slots.count
            for i in 0..<n {
                if i &+ 16 < n { windows.prefetchValue(slot: Int(slots[i &+ 16]), bytes: offset, count: 16) }
                if i &+ 8 < n { windows.prefetchObject(slot: Int(slots[i &+ 8]), field: offset, isString: true) }
                keyBytes.append(text: windows.values[Int(slots[i])].keyText)
                precondition(keyBytes.count <= Int(UInt32.max), "lineage keys of one checkpoint hold under 4 GiB")
                keyEnds.append(UInt32(truncatingIfNeeded: keyBytes.count))
            }
        }
        pendingKeySlots.removeAll(keepingCapacity: true)
    }

    /// Appends one reading of an accepted event. `id` and `source` are the unescaped UTF-8 bytes.
    @inline(__always)
    mutating func append(key: UInt32, id: UnsafeRawBufferPointer, source: UnsafeRawBufferPointer,
                         timeMicros: Int64, value: Int128, offset: Int64) {
        assert(rows.last.map { $0.offset <= offset } ?? true, "lineage offsets must not decrease")
        if sources.isEmpty || !LineageColumns.equal(source, sourceBytes[Int(lastSource)]) {
            lastSource = sourceNumber(source)
        }
        idBytes.append(id)
        precondition(idBytes.count <= Int(UInt32.max), "lineage of one checkpoint holds under 4 GiB of ids")
        rows.append(LineageRow(value: value, timeMicros: timeMicros, offset: offset, key: key, source: lastSource,
                               idEnd: UInt32(truncatingIfNeeded: idBytes.count)))
    }

    /// The index in `sources` of `source` (UTF-8), registering it when it is new. Only when the source differs
    /// from the previous event's; allocates only for a source not seen in this checkpoint.
    @inline(__always)
    mutating func sourceNumber(_ source: UnsafeRawBufferPointer) -> UInt32 {
        // A few producers interleaved in one partition is common (each switch lands here): compare their bytes
        // directly, cheaper than hashing and a dictionary lookup.
        if sourceBytes.count <= LineageColumns.scannedSources {
            for i in sourceBytes.indices where LineageColumns.equal(source, sourceBytes[i]) { return UInt32(i) }
        }
        return sourceNumberByHash(source)
    }

    /// Up to how many distinct sources `sourceNumber` compares bytes before it looks the hash up.
    static let scannedSources = 8

    /// `sourceNumber` by hash, for a partition with many sources or a new source (the slow path).
    @inline(never)
    mutating func sourceNumberByHash(_ source: UnsafeRawBufferPointer) -> UInt32 {
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
        keyBytes.removeAll()
        keyEnds.removeAll(keepingCapacity: true)
        pendingKeySlots.removeAll(keepingCapacity: true)
        sources.removeAll()
        sourceBytes.removeAll()
        sourceByHash.removeAll(keepingCapacity: true)
        lastSource = 0
        rows.removeAll(keepingCapacity: true)
        idBytes.removeAll()
    }
}

/// Emptied `LineageColumns` given back by the code that consumed them (a backfill's lineage thread), for the
/// partitions to fill again at a later checkpoint: their buffers were written by an earlier checkpoint, so the
/// next one writes into memory the process already has instead of fresh pages (on the 20M-event backfill the
/// columns' first touches were ~120k page faults; on this VM a first touch costs a fault and a page clear).
///
/// Invariant: holds at most `limit` columns, each empty, and none once closed. Shared by the shards of one
/// `ShardedPipeline` and the consumer of their checkpoints: a lock, taken once per partition per checkpoint (never
/// per event).
public final class LineageColumnsPool: Sendable {
    let stack: Mutex<(columns: [LineageColumns], closed: Bool)>
    public let limit: Int

    public init(limit: Int) {
        precondition(limit >= 0, "limit \(limit) < 0")
        self.limit = limit
        stack = Mutex(([], false))
    }

    /// Empties `columns` and keeps them for a later `take`, or frees them when the pool is full or closed. Give
    /// columns that no other copy refers to: emptying shared columns allocates new buffers (correct, but nothing is
    /// reused).
    public func give(_ columns: consuming LineageColumns) {
        var c = columns
        c.removeAll()
        let freed: LineageColumns? = stack.withLock { s in
            guard !s.closed && s.columns.count < limit else { return c }
            s.columns.append(c)
            return nil
        }
        _ = consume freed  // freed outside the lock
    }

    /// Frees what the pool holds and every column given to it from now on: for when no checkpoint will take any
    /// more (a backfill's end, whose billing and journal work should have the memory).
    public func close() {
        let held = stack.withLock { s in
            s.closed = true
            defer { s.columns = [] }
            return s.columns
        }
        _ = consume held
    }

    /// Empty columns given back earlier, if any.
    public func take() -> LineageColumns? {
        stack.withLock { $0.columns.popLast() }
    }

    /// Columns held now.
    public var count: Int { stack.withLock { $0.columns.count } }
}
