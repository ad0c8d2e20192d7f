import CPrefetch
import MeterlineCore

// Owns: the exact, expiring set of seen event identities of one input partition (DESIGN.md §5).
// Layout: open addressing, linear probing, two parallel slot arrays — 16-byte keys and a 1-byte day
// relative to `baseDay` — so one slot costs 17 bytes. The home is the first slot of cache line
// `key.high × (slotCount / 4) >> 64` of the line-aligned key array (multiply-shift range reduction), so the slot
// count is not a power of two and the table can be sized to the load it needs (PERFORMANCE.md: 23 B/key for keys
// alone at load 0.7, ~34 B/key with a mask), and a probe reads its home line whole before it reads another.

/// Errors of `DedupTable(deserializing:)`: the bytes are not a table this code wrote.
public struct DedupTableError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Fewer or more bytes than the header announces.
        case length
        /// A format version this code does not read.
        case version
        /// The checksum over the bytes does not match: corrupt or truncated input.
        case checksum
        /// The bytes decode, but violate an invariant (duplicate key, reserved key in a slot, unknown flag).
        case invalid
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { "dedup table: \(message)" }
}

/// An exact set of 128-bit identities, each remembered with the day of its event, expired by day.
///
/// - Exact: a lookup compares all 128 bits with a stored key; there are no false positives (DESIGN.md §5:
///   a false duplicate drops revenue). The all-zero key marks an empty slot; a real all-zero key is
///   remembered in a side flag.
/// - Memory: 17 bytes per slot (16-byte key + 1-byte relative day). Growth rehashes to load `maxLoad / 2`;
///   `expire(before:)` deletes in place (backward shift) and, when the load has fallen below
///   `0.95 × maxLoad`, rebuilds once at the size the observed churn needs. At a steady state (ids of the
///   horizon's days in, the oldest day out) the load stays within [0.95, 1] × `maxLoad`: at the default
///   0.75 that is 22.7–23.9 bytes per remembered id. Measure with `bytesAllocated / count`.
/// - Days: slot days are `day − baseDay` in 0...255. `baseDay` starts 32 days before the first day put into
///   an empty table and moves to the cut of each `expire(before:)`. Days are kept exactly while they lie in
///   [baseDay, baseDay + 255] (a 35-day horizon spans 36 days); outside that range a day is rounded
///   *later* (a day before `baseDay` is kept as `baseDay`; a day more than 255 days after it moves
///   `baseDay` up), so an id may be kept longer than its horizon but is never forgotten early.
/// - Ownership: a value type with copy-on-write storage, so a copy is a correct (and O(n)) snapshot; the
///   intended use is a single owner mutating in place (`states[s].seen.insert(…)`), which never copies.
///   Not thread-safe: one shard owns it (DESIGN.md §10).
public struct DedupTable {
    /// Slot arrays. Invariants: `slotCount > entries` (an empty slot ends every probe);
    /// a slot is empty iff its key is `Hash128.zero`; the day of an empty slot is 0.
    final class Storage {
        let slotCount: Int
        let keys: UnsafeMutablePointer<Hash128>
        let days: UnsafeMutablePointer<UInt8>
        /// Where `prefetch` puts what it reads, so the read is not optimized away.

        init(slotCount: Int) {
            precondition(slotCount >= 2, "slot count \(slotCount) too small")
            self.slotCount = slotCount
            // Line-aligned, so that a home slot (see `home`) starts a cache line.
            keys = UnsafeMutableRawPointer.allocate(byteCount: slotCount * MemoryLayout<Hash128>.stride, alignment: 64)
                .bindMemory(to: Hash128.self, capacity: slotCount)
            keys.initialize(repeating: .zero, count: slotCount)
            days = .allocate(capacity: slotCount)
            days.initialize(repeating: 0, count: slotCount)
        }

        func copy() -> Storage {
            let c = Storage(slotCount: slotCount)
            c.keys.update(from: keys, count: slotCount)
            c.days.update(from: days, count: slotCount)
            return c
        }

        deinit {
            keys.deinitialize(count: slotCount)
            UnsafeMutableRawPointer(keys).deallocate()
            days.deinitialize(count: slotCount)
            days.deallocate()
        }
    }

    public static let defaultMaxLoad = 0.75
    /// The largest `expectedCount` a sizing hint may ask for (~1.1 GB of slots): a bad estimate must not take the machine.
    public static let maxExpectedHint = 50_000_000
    /// Bytes per slot: a 16-byte key and a 1-byte day.
    public static let bytesPerSlot = MemoryLayout<Hash128>.stride + MemoryLayout<UInt8>.stride
    static let minSlots = 16
    /// Days below the first day of an empty table that are still kept exactly.
    static let initialSlackDays: Int64 = 32

    var storage: Storage
    /// Keys in slots (the reserved all-zero key is not in a slot).
    var entries = 0
    /// Grow before `entries` would exceed this: floor(maxLoad × slotCount).
    var growAt: Int
    var hasReservedKey = false
    var reservedKeyDay: Int32 = 0
    /// Slot days are `day - baseDay`; the days of remembered ids are ≥ `baseDay` (or were rounded up to it).
    public private(set) var baseDay: Int32 = 0
    public let maxLoad: Double
    /// Inserts since the last `expire`, to size a rebuild for the churn between two expiries.
    var insertsSinceExpire = 0

    /// - Parameters:
    ///   - expectedCount: ids to hold without growing.
    ///   - maxLoad: the load (keys / slots) above which the table grows, in 0.5...0.9. Linear probing costs
    ///     ~(1 + 1/(1−α)²)/2 slots for a miss (the common case: new ids): 8.5 at 0.75, 13 at 0.8.
    public init(expectedCount: Int = 1024, maxLoad: Double = DedupTable.defaultMaxLoad) {
        precondition(expectedCount >= 0, "expectedCount \(expectedCount) < 0")
        precondition(maxLoad >= 0.5 && maxLoad <= 0.9, "maxLoad \(maxLoad) outside 0.5...0.9")
        self.maxLoad = maxLoad
        let slots = DedupTable.slots(for: expectedCount, load: maxLoad)
        storage = Storage(slotCount: slots)
        growAt = DedupTable.growAt(slots: slots, maxLoad: maxLoad)
        assert(growAt >= expectedCount && growAt < slots)
    }

    /// An empty table to be refilled from a changelog by `restore(_:day:)`: room for `count` ids (capped at
    /// `maxExpectedHint`; more only grow it) and `baseDay` where the table that wrote the changelog had it.
    init(restoring count: Int, baseDay: Int32) {
        self.init(expectedCount: min(count, DedupTable.maxExpectedHint))
        self.baseDay = baseDay
    }

    /// Re-remembers a logged id with its event day. The day is rounded as the writing table had it: an alive id's
    /// slot day is `max(day, baseDay)`, because `baseDay` only rises, a rebase rounds earlier days up to it and an
    /// expiry removes exactly the ids below its cut. Unlike `insert`, `baseDay` never moves.
    mutating func restore(_ k: Hash128, day: Int32) throws(StateError) {
        guard Int64(day) - Int64(baseDay) <= Int64(UInt8.max) else { throw StateError("id day \(day) is more than 255 days after the base day \(baseDay)") }
        if DedupTable.isEmpty(k) {
            guard !hasReservedKey else { throw StateError("id \(k) twice") }
            hasReservedKey = true
            reservedKeyDay = day
            return
        }
        if entries >= growAt { rebuild(slots: DedupTable.slots(for: entries + 1, load: maxLoad / 2)) }
        let s = storage
        var i = DedupTable.home(k.high, s.slotCount)
        while !DedupTable.isEmpty(s.keys[i]) {
            if s.keys[i] == k { throw StateError("id \(k) twice") }
            i += 1
            if i == s.slotCount { i = 0 }
        }
        s.keys[i] = k
        s.days[i] = relativeDay(day)
        entries += 1
    }

    /// Remembered ids.
    public var count: Int { entries + (hasReservedKey ? 1 : 0) }
    /// Slots in the table.
    public var slotCount: Int { storage.slotCount }
    /// Bytes of the slot arrays (the fixed-size header and class instance, < 100 bytes, not counted).
    public var bytesAllocated: Int { storage.slotCount * DedupTable.bytesPerSlot }
    /// keys in slots / slots.
    public var load: Double { Double(entries) / Double(storage.slotCount) }

    // MARK: - Lookup

    /// Slots per 64-byte cache line of the key array.
    static let slotsPerLine = 64 / MemoryLayout<Hash128>.stride

    /// The first slot of the key's home line: `high × lines >> 64` picks one of the `slotCount / 4` whole lines, and
    /// the probe starts at that line's first slot. So a miss reads on into the next line only when the four slots of
    /// its home line are all taken (linear probing over buckets of one line). With a home at any slot, a miss walked
    /// (1 + 1/(1 − load)²)/2 slots from a random place in the line and crossed into the next line more often than
    /// not: that next line, never prefetched, was where the accept path stalled (BENCHMARKS.md, 2026-12-07).
    @inline(__always)
    static func home(_ high: UInt64, _ slotCount: Int) -> Int {
        let lines = UInt64(truncatingIfNeeded: slotCount / slotsPerLine)
        return Int(truncatingIfNeeded: high.multipliedFullWidth(by: lines).high) &* slotsPerLine
    }

    @inline(__always)
    static func isEmpty(_ k: Hash128) -> Bool { k.high | k.low == 0 }

    /// Whether `k` was inserted and not expired since.
    public func contains(_ k: Hash128) -> Bool {
        if DedupTable.isEmpty(k) { return hasReservedKey }
        let s = storage
        let n = s.slotCount
        var i = DedupTable.home(k.high, n)
        // Bounded: at least one slot is empty (entries < slotCount).
        while true {
            let e = s.keys[i]
            if e.high == k.high && e.low == k.low { return true }
            if DedupTable.isEmpty(e) { return false }
            i &+= 1
            if i == n { i = 0 }
        }
    }

    /// Where a lookup of a key ended: its slot when it is remembered, else the empty slot an insert would fill
    /// (−1 for the reserved all-zero key, which lives in a flag). Valid until the table is next mutated.
    public struct Probe {
        public let found: Bool
        let slot: Int
    }

    /// `contains`, keeping where the probe ended, so that `insert(_:day:at:)` does not walk the cluster again.
    public func probe(_ k: Hash128) -> Probe {
        if DedupTable.isEmpty(k) { return Probe(found: hasReservedKey, slot: -1) }
        let s = storage
        let n = s.slotCount
        var i = DedupTable.home(k.high, n)
        // Bounded: at least one slot is empty (entries < slotCount).
        while true {
            let e = s.keys[i]
            if e.high == k.high && e.low == k.low { return Probe(found: true, slot: i) }
            if DedupTable.isEmpty(e) { return Probe(found: false, slot: i) }
            i &+= 1
            if i == n { i = 0 }
        }
    }

    /// `insert(_:day:)` for a key whose `probe` found it absent, with no mutation of the table since: fills the
    /// empty slot the probe ended at, unless the table must grow or rebase first (then the full insert runs).
    /// - Returns: what `insert(_:day:)` returns (true: the key was absent).
    @discardableResult
    public mutating func insert(_ k: Hash128, day: Int32, at p: Probe) -> Bool {
        precondition(!p.found, "insert(at:) of a probe that found its key")
        guard p.slot >= 0, entries < growAt, dayFits(day) else { return insert(k, day: day) }
        makeUnique()
        let s = storage
        assert(DedupTable.isEmpty(s.keys[p.slot]) && probe(k).slot == p.slot, "the table changed between probe and insert")
        s.keys[p.slot] = k
        s.days[p.slot] = relativeDay(day)
        entries &+= 1
        insertsSinceExpire &+= 1
        assert(entries <= growAt && entries < s.slotCount)
        return true
    }

    /// Prefetches the home slot of `k`, its key and its day (`__builtin_prefetch` through the CPrefetch C shim), to be called before
    /// other work that does not depend on the table (the accept path calls it right after the parse, before
    /// the contract and window lookups), so the slot's cache line is on its way when `insert`/`contains`
    /// reach it. A hint only: it never faults and changes nothing. `mutating` only so that a call through a
    /// partition's state in the pipeline's array is made in place, without retaining the storage.
    public mutating func prefetch(_ k: Hash128) {
        let a = homeAddresses(k)
        meterline_prefetch(a.key)
        meterline_prefetch(a.day)
    }

    /// The addresses of `k`'s home slot's key and day, for prefetches issued together with others (see
    /// `Pipeline.prefetchGroup`). Both are needed: `insert` stores the day, and a store that misses the TLB
    /// stalls the shard for a page walk as a load does. Only hints' targets: valid until the table changes.
    @inline(__always)
    public mutating func homeAddresses(_ k: Hash128) -> (key: UnsafeRawPointer, day: UnsafeRawPointer) {
        let s = storage
        let h = DedupTable.home(k.high, s.slotCount)
        return (UnsafeRawPointer(s.keys + h), UnsafeRawPointer(s.days + h))
    }

    // MARK: - Mutation

    mutating func makeUnique() {
        if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
    }

    /// Remembers `k` with the day of its event (days since 1970-01-01, UTC).
    /// - Returns: false, changing nothing, if `k` is already remembered.
    @discardableResult
    public mutating func insert(_ k: Hash128, day: Int32) -> Bool {
        if DedupTable.isEmpty(k) { return insertReserved(day: day) }
        makeUnique()
        var s = storage
        var n = s.slotCount
        var i = DedupTable.home(k.high, n)
        while true {
            let e = s.keys[i]
            if e.high == k.high && e.low == k.low { return false }
            if DedupTable.isEmpty(e) { break }
            i &+= 1
            if i == n { i = 0 }
        }
        if entries >= growAt || !dayFits(day) {
            // Slow path: grow and/or rebase; the slot found above may have moved.
            prepareInsert(day: day)
            s = storage
            n = s.slotCount
            i = DedupTable.home(k.high, n)
            while !DedupTable.isEmpty(s.keys[i]) {
                i &+= 1
                if i == n { i = 0 }
            }
        }
        s.keys[i] = k
        s.days[i] = relativeDay(day)
        entries &+= 1
        insertsSinceExpire &+= 1
        assert(entries <= growAt && entries < n)
        return true
    }

    @inline(__always)
    func dayFits(_ day: Int32) -> Bool {
        let d = Int64(day) - Int64(baseDay)
        return d >= 0 && d <= Int64(UInt8.max) && entries > 0
    }

    /// The slot day of `day`, rounded into 0...255 (earlier days round up to `baseDay`).
    @inline(__always)
    func relativeDay(_ day: Int32) -> UInt8 {
        let d = Int64(day) - Int64(baseDay)
        return d <= 0 ? 0 : UInt8(clamping: d)
    }

    /// Grows when the next insert would pass `maxLoad`; moves `baseDay` so `day` fits (see the type's notes).
    @inline(never)
    mutating func prepareInsert(day: Int32) {
        if entries == 0 {
            // Room below the first day for events that arrive out of order (kept exactly down to 32 days earlier).
            baseDay = Int32(clamping: Int64(day) - DedupTable.initialSlackDays)
        } else if Int64(day) - Int64(baseDay) > Int64(UInt8.max) {
            rebase(to: day - Int32(UInt8.max))
        }
        if entries >= growAt {
            rebuild(slots: DedupTable.slots(for: entries + 1, load: maxLoad / 2))
        }
        assert(entries < growAt)
    }

    mutating func insertReserved(day: Int32) -> Bool {
        if hasReservedKey { return false }
        hasReservedKey = true
        reservedKeyDay = day
        insertsSinceExpire &+= 1
        return true
    }

    /// Forgets every id whose day is before `day`. O(1) when nothing can be older (`day <= baseDay`, as on
    /// every call within the same day); else one pass over the slot days, with backward-shift deletion.
    public mutating func expire(before day: Int32) {
        if hasReservedKey && reservedKeyDay < day { hasReservedKey = false }
        let cut = Int64(day) - Int64(baseDay)
        guard entries > 0, cut > 0 else {
            if entries == 0 { baseDay = max(baseDay, day) }
            return  // within the same day: O(1)
        }
        makeUnique()
        let before = entries
        if cut > Int64(UInt8.max) {
            storage.keys.update(repeating: .zero, count: storage.slotCount)
            storage.days.update(repeating: 0, count: storage.slotCount)
            entries = 0
        } else {
            removeDays(below: UInt8(cut))
            rebase(to: day)
        }
        assert(baseDay == day || entries == 0)
        baseDay = day
        let removed = before - entries
        assert(entries <= before)
        // Trim: after growth the table can be up to twice the size its steady state needs.
        if removed > 0, Double(entries) < 0.95 * maxLoad * Double(storage.slotCount) {
            let churn = min(1.0, max(0.02, Double(max(removed, insertsSinceExpire)) / Double(max(entries, 1))))
            let slots = DedupTable.slots(for: Int((Double(entries) * (1 + churn)).rounded(.up)), load: 0.98 * maxLoad)
            if slots < storage.slotCount { rebuild(slots: slots) }
        }
        insertsSinceExpire = 0
        assert(verifyInvariants())
    }

    /// Deletes the slots whose relative day is below `cut`. The scan starts after an empty slot so no
    /// cluster wraps past the scan's start; a deletion shifts later entries of the same cluster back, so the
    /// slot is examined again; entries only move from unscanned slots to slots not yet passed.
    mutating func removeDays(below cut: UInt8) {
        let s = storage
        let n = s.slotCount
        var i = 0
        while !DedupTable.isEmpty(s.keys[i]) { i += 1 }  // exists: entries < slotCount
        var scanned = 0
        while scanned < n {
            if !DedupTable.isEmpty(s.keys[i]) && s.days[i] < cut {
                delete(at: i)
                continue  // a shifted entry now sits at i
            }
            scanned += 1
            i += 1
            if i == n { i = 0 }
        }
    }

    /// Backward-shift deletion: empties slot `hole`, then moves each later entry of the cluster that may
    /// live at the hole (its home is not in (hole, j] cyclically) back into it.
    mutating func delete(at hole: Int) {
        let s = storage
        let n = s.slotCount
        var h = hole
        var j = hole + 1 == n ? 0 : hole + 1
        while !DedupTable.isEmpty(s.keys[j]) {
            let home = DedupTable.home(s.keys[j].high, n)
            let distHome = j >= home ? j - home : j + n - home
            let distHole = j >= h ? j - h : j + n - h
            if distHome >= distHole {
                s.keys[h] = s.keys[j]
                s.days[h] = s.days[j]
                h = j
            }
            j = j + 1 == n ? 0 : j + 1
        }
        s.keys[h] = .zero
        s.days[h] = 0
        entries -= 1
    }

    /// Moves `baseDay` up to `newBase`; slot days below it become 0 (kept longer, never shorter).
    mutating func rebase(to newBase: Int32) {
        let delta = Int64(newBase) - Int64(baseDay)
        precondition(delta >= 0, "rebase down from \(baseDay) to \(newBase)")
        if delta == 0 { return }
        let dd = UInt8(clamping: delta)
        let days = storage.days
        for i in 0..<storage.slotCount {
            let d = days[i]
            days[i] = d > dd ? d - dd : 0
        }
        baseDay = newBase
    }

    /// Rehashes every entry into `slots` slots (days are relative to the unchanged `baseDay`).
    mutating func rebuild(slots: Int) {
        precondition(slots > entries, "rebuild into \(slots) slots for \(entries) keys")
        let old = storage
        let new = Storage(slotCount: slots)
        for j in 0..<old.slotCount {
            let k = old.keys[j]
            if DedupTable.isEmpty(k) { continue }
            var i = DedupTable.home(k.high, slots)
            while !DedupTable.isEmpty(new.keys[i]) {
                i += 1
                if i == slots { i = 0 }
            }
            new.keys[i] = k
            new.days[i] = old.days[j]
        }
        storage = new
        growAt = DedupTable.growAt(slots: slots, maxLoad: maxLoad)
        precondition(entries <= growAt, "rebuild to \(slots) slots leaves \(entries) keys above the load bound")
    }

    static func slots(for count: Int, load: Double) -> Int {
        max(minSlots, Int((Double(count) / load).rounded(.up)) + 1)
    }

    static func growAt(slots: Int, maxLoad: Double) -> Int {
        min(slots - 1, Int(Double(slots) * maxLoad))
    }

    /// O(n): counts, emptiness, and that every key is reachable from its home without crossing an empty slot.
    func verifyInvariants() -> Bool {
        let s = storage
        let n = s.slotCount
        var occupied = 0
        for i in 0..<n {
            let k = s.keys[i]
            if DedupTable.isEmpty(k) {
                guard s.days[i] == 0 else { return false }
                continue
            }
            occupied += 1
            var j = DedupTable.home(k.high, n)
            while j != i {
                if DedupTable.isEmpty(s.keys[j]) { return false }
                j = j + 1 == n ? 0 : j + 1
            }
        }
        return occupied == entries && entries <= growAt && entries < n
    }

    // MARK: - Serialization

    static let formatVersion: UInt8 = 1
    /// version u8, flags u8 (bit 0: the all-zero key is remembered), count u64, baseDay i32, reservedKeyDay i32.
    static let headerSize = 1 + 1 + 8 + 4 + 4
    /// high u64, low u64, day - baseDay u8.
    static let entrySize = 8 + 8 + 1
    static let checksumSize = 8

    /// The table as bytes for the state changelog: a header, the slot entries in slot order (deterministic
    /// for a given history of calls), and a checksum (64 bits of `Hasher128` over everything before it).
    /// All integers little-endian.
    public func serialize() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(DedupTable.headerSize + entries * DedupTable.entrySize + DedupTable.checksumSize)
        out.append(DedupTable.formatVersion)
        out.append(hasReservedKey ? 1 : 0)
        DedupTable.append(UInt64(entries), to: &out)
        DedupTable.append(UInt32(bitPattern: baseDay), to: &out)
        DedupTable.append(UInt32(bitPattern: hasReservedKey ? reservedKeyDay : 0), to: &out)
        // Entries in key order, so the bytes depend only on the content, not on the table's history.
        let s = storage
        var occupied: [Int] = []
        occupied.reserveCapacity(entries)
        for i in 0..<s.slotCount where !DedupTable.isEmpty(s.keys[i]) { occupied.append(i) }
        occupied.sort { s.keys[$0] < s.keys[$1] }
        for i in occupied {
            DedupTable.append(s.keys[i].high, to: &out)
            DedupTable.append(s.keys[i].low, to: &out)
            out.append(s.days[i])
        }
        DedupTable.append(DedupTable.checksum(out), to: &out)
        assert(out.count == DedupTable.headerSize + entries * DedupTable.entrySize + DedupTable.checksumSize)
        return out
    }

    /// Restores a table written by `serialize()`.
    /// - Throws: `DedupTableError` if the bytes are truncated, of another version, fail the checksum, or
    ///   decode to an invalid table. Never traps on any input.
    public init(deserializing bytes: [UInt8], maxLoad: Double = DedupTable.defaultMaxLoad) throws {
        let fixed = DedupTable.headerSize + DedupTable.checksumSize
        guard bytes.count >= fixed else {
            throw DedupTableError(.length, "\(bytes.count) bytes, fewer than the \(fixed) of an empty table")
        }
        guard bytes[0] == DedupTable.formatVersion else {
            throw DedupTableError(.version, "format version \(bytes[0]), expected \(DedupTable.formatVersion)")
        }
        let declared = DedupTable.readLE(bytes, 2)
        guard declared <= UInt64((bytes.count - fixed) / DedupTable.entrySize),
              fixed + Int(declared) * DedupTable.entrySize == bytes.count else {
            throw DedupTableError(.length, "\(bytes.count) bytes do not hold the declared \(declared) keys")
        }
        let body = bytes.count - DedupTable.checksumSize
        let stored = DedupTable.readLE(bytes, body)
        let actual = bytes.withUnsafeBytes { DedupTable.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<body])) }
        guard stored == actual else {
            throw DedupTableError(.checksum, "checksum \(stored) does not match the bytes (\(actual))")
        }
        let flags = bytes[1]
        guard flags & ~1 == 0 else { throw DedupTableError(.invalid, "unknown flags \(flags)") }
        let count = Int(declared)
        self.init(expectedCount: count, maxLoad: maxLoad)
        baseDay = Int32(bitPattern: DedupTable.readLE(bytes, 10, as: UInt32.self))
        if flags & 1 != 0 {
            hasReservedKey = true
            reservedKeyDay = Int32(bitPattern: DedupTable.readLE(bytes, 14, as: UInt32.self))
        }
        let s = storage
        var p = DedupTable.headerSize
        for _ in 0..<count {
            let k = Hash128(high: DedupTable.readLE(bytes, p), low: DedupTable.readLE(bytes, p + 8))
            let day = bytes[p + 16]
            p += DedupTable.entrySize
            guard !DedupTable.isEmpty(k) else { throw DedupTableError(.invalid, "the reserved all-zero key in a slot") }
            var i = DedupTable.home(k.high, s.slotCount)
            while !DedupTable.isEmpty(s.keys[i]) {
                if s.keys[i] == k { throw DedupTableError(.invalid, "key \(k) twice") }
                i += 1
                if i == s.slotCount { i = 0 }
            }
            s.keys[i] = k
            s.days[i] = day
            entries += 1
        }
        precondition(entries == count && entries <= growAt)
        assert(verifyInvariants())
    }

    static func append<T: FixedWidthInteger>(_ v: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    /// The little-endian integer at `offset` (the caller has checked the length).
    static func readLE<T: FixedWidthInteger>(_ bytes: [UInt8], _ offset: Int, as: T.Type = UInt64.self) -> T {
        precondition(offset >= 0 && offset + MemoryLayout<T>.size <= bytes.count)
        var v: T = 0
        for b in 0..<MemoryLayout<T>.size { v |= T(bytes[offset + b]) << (8 * b) }
        return v
    }

    static func checksum(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { checksum($0) }
    }

    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = Hasher128()
        h.combine(bytes)
        return h.finalize().low
    }
}
