import CPrefetch
import MeterlineCore

// Owns: the exact, expiring set of seen event identities of one input partition (DESIGN.md §5).
// Layout: open addressing, linear probing, one array of 16-byte slots: a slot holds a key's low word whole and the
// low 56 bits of its high word, with the event's day (relative to `baseDay`, plus one) in the top 8 bits. The top
// 8 bits of the key are not stored: the slot's place gives them back (see `DedupTable.fullHigh`), because every key
// lies within `probeLimit` slots of its home and two keys that differ only in those bits have homes much farther
// apart. So a slot's key and day are one 16-byte store in one cache line and one page (a separate day array cost
// a second page walk per insert: BENCHMARKS.md, 2026-12-07). The home is the first slot of cache line
// `key.high × (slotCount / 4) >> 64` of the line-aligned array (multiply-shift range reduction), so the slot count is
// not a power of two and the table is sized to the load it needs; a probe reads its home line whole first.

/// An exact set of 128-bit identities, each remembered with the day of its event, expired by day.
///
/// - Exact: a lookup matches all 128 bits of a key; there are no false positives (DESIGN.md §5: a false duplicate
///   drops revenue). A slot stores 120 of them; the top 8 bits of the high word follow from the slot's place,
///   because no key lies `probeLimit` or more slots past its home and keys that differ only in those bits have
///   homes at least `⌊lines / 256⌋` lines apart, more than a probe ever reads (`probeLimit` is less than that). An
///   insert that would land past the limit grows the table instead, which only hash clusters no real hash makes
///   can force. A slot whose high word is zero (tag 0) is empty; the all-zero key is remembered in a side flag.
/// - Memory: 16 bytes per slot, at least `minSlots` slots. Growth rehashes to load `maxLoad / 2`;
///   `expire(before:)` deletes in place (backward shift) and, when the load has fallen below
///   `0.95 × maxLoad`, rebuilds once at the size the observed churn needs. At a steady state (ids of the
///   horizon's days in, the oldest day out) the load stays within [0.95, 1] × `maxLoad`: at the default
///   0.75 that is 21.3–22.5 bytes per remembered id. Measure with `bytesAllocated / count`.
/// - Days: slot days are `day − baseDay` in 0...254. `baseDay` starts 32 days before the first day put into
///   an empty table and moves to the cut of each `expire(before:)`. Days are kept exactly while they lie in
///   [baseDay, baseDay + 254] (a 35-day horizon spans 36 days); outside that range a day is rounded
///   *later* (a day before `baseDay` is kept as `baseDay`; a day more than 254 days after it moves
///   `baseDay` up), so an id may be kept longer than its horizon but is never forgotten early.
/// - Ownership: a value type with copy-on-write storage, so a copy is a correct (and O(n)) snapshot; the
///   intended use is a single owner mutating in place (`states[s].seen.insert(…)`), which never copies.
///   Not thread-safe: one shard owns it (DESIGN.md §10).
public struct DedupTable {
    /// The slot array. Invariants: `slotCount > entries` (an empty slot ends every probe); a slot is empty iff its
    /// high word is 0, and then its low word is 0 too; an occupied slot's top byte (`tag`) is its relative day + 1,
    /// so in 1...255; every key lies fewer than `probeLimit` slots (cyclically) past its home, and no empty slot lies
    /// between its home and it.
    final class Storage {
        let slotCount: Int
        /// Slots a probe reads at most: `(⌊lines / 256⌋ − 1) × 4`. Keys whose highs differ only in the top 8 bits have
        /// homes at least `⌊lines / 256⌋` lines apart (cyclically), and a key a probe compares has its home fewer
        /// than that many lines from the probe's, so no probe meets a key it could mistake.
        let probeLimit: Int
        let slots: UnsafeMutablePointer<Slot>

        init(slotCount: Int) {
            precondition(slotCount >= DedupTable.minSlots, "slot count \(slotCount) below \(DedupTable.minSlots)")
            self.slotCount = slotCount
            probeLimit = (slotCount / DedupTable.slotsPerLine / 256 - 1) * DedupTable.slotsPerLine
            // Line-aligned, so that a home slot (see `home`) starts a cache line.
            slots = UnsafeMutableRawPointer.allocate(byteCount: slotCount * MemoryLayout<Slot>.stride, alignment: 64)
                .bindMemory(to: Slot.self, capacity: slotCount)
            slots.initialize(repeating: .empty, count: slotCount)
        }

        func copy() -> Storage {
            let c = Storage(slotCount: slotCount)
            c.slots.update(from: slots, count: slotCount)
            return c
        }

        deinit {
            slots.deinitialize(count: slotCount)
            UnsafeMutableRawPointer(slots).deallocate()
        }
    }

    /// One slot: a key without the top 8 bits of its high word, which hold the tag (relative day + 1) instead.
    struct Slot {
        var high: UInt64
        var low: UInt64
        static let empty = Slot(high: 0, low: 0)

        @inline(__always) init(high: UInt64, low: UInt64) {
            self.high = high
            self.low = low
        }

        @inline(__always) init(_ k: Hash128, relativeDay: UInt8) {
            assert(relativeDay <= DedupTable.maxRelativeDay)
            high = (k.high & DedupTable.keyBits) | (UInt64(relativeDay &+ 1) << DedupTable.tagShift)
            low = k.low
        }

        @inline(__always) var isEmpty: Bool { high == 0 }
        /// The key's high word without its top 8 bits.
        @inline(__always) var keyHigh: UInt64 { high & DedupTable.keyBits }
        @inline(__always) var tag: UInt8 { UInt8(truncatingIfNeeded: high >> DedupTable.tagShift) }
        @inline(__always) var relativeDay: UInt8 { tag &- 1 }
    }

    public static let defaultMaxLoad = 0.75
    /// The largest `expectedCount` a sizing hint may ask for (~1.1 GB of slots): a bad estimate must not take the machine.
    public static let maxExpectedHint = 50_000_000
    /// Bytes per slot: 120 bits of a key and a day.
    public static let bytesPerSlot = MemoryLayout<Slot>.stride
    /// 1,024 lines: `probeLimit` is 12 slots (4 at 512 lines, none below).
    static let minSlots = 4_096
    /// Days below the first day of an empty table that are still kept exactly.
    static let initialSlackDays: Int64 = 32
    /// The largest relative day a slot keeps (its tag is the day + 1, and tag 0 marks an empty slot).
    static let maxRelativeDay: UInt8 = 254
    static let tagShift: UInt64 = 56
    static let keyBits: UInt64 = (1 << 56) - 1

    var storage: Storage
    /// Keys in slots (the reserved all-zero key is not in a slot).
    var entries = 0
    /// Grow before `entries` would exceed this: floor(maxLoad × slotCount).
    var growAt: Int
    var hasReservedKey = false
    var reservedKeyDay: Int32 = 0
    /// Slot days are `day - baseDay`; the days of remembered ids are ≥ `baseDay` (or were rounded up to it).
    public internal(set) var baseDay: Int32 = 0
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
        guard Int64(day) - Int64(baseDay) <= Int64(DedupTable.maxRelativeDay) else {
            throw StateError("id day \(day) is more than \(DedupTable.maxRelativeDay) days after the base day \(baseDay)")
        }
        if DedupTable.isEmpty(k) {
            guard !hasReservedKey else { throw StateError("id \(k) twice") }
            hasReservedKey = true
            reservedKeyDay = day
            return
        }
        guard !contains(k) else { throw StateError("id \(k) twice") }
        if entries >= growAt { rebuild(slots: DedupTable.slots(for: entries + 1, load: maxLoad / 2)) }
        place(Slot(k, relativeDay: relativeDay(day)), home: k.high)
        entries += 1
    }

    /// Remembered ids.
    public var count: Int { entries + (hasReservedKey ? 1 : 0) }
    /// Slots in the table.
    public var slotCount: Int { storage.slotCount }
    /// Bytes of the slot array (the fixed-size header and class instance, < 100 bytes, not counted).
    public var bytesAllocated: Int { storage.slotCount * DedupTable.bytesPerSlot }
    /// keys in slots / slots.
    public var load: Double { Double(entries) / Double(storage.slotCount) }

    // MARK: - Lookup

    /// Slots per 64-byte cache line of the slot array.
    static let slotsPerLine = 64 / MemoryLayout<Slot>.stride

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

    /// Slots from `from` forward to `to`, cyclically in a table of `n`.
    @inline(__always)
    static func distance(_ from: Int, _ to: Int, _ n: Int) -> Int { to >= from ? to - from : to + n - from }

    /// The whole high word of the key in slot `i`: its stored 56 bits, and the one top byte whose home lies fewer
    /// than `probeLimit` slots before `i`. Traps if there is not exactly one (a broken invariant).
    /// `t0` is tried first: only keys within `probeLimit` slots of where the next top byte begins take another.
    @inline(__always)
    static func fullHigh(_ e: Slot, at i: Int, _ s: Storage) -> UInt64 {
        assert(topBytes(e, at: i, s).fits == 1, "slot \(i): not exactly one top byte puts its key within the probe limit")
        let t0 = likeliestTopByte(at: i, s)
        var h = withTopByte(t0, e)
        if lies(h, within: i, s) { return h }
        h = withTopByte(t0 &- 1, e)
        if lies(h, within: i, s) { return h }
        h = withTopByte(t0 &+ 1, e)
        if lies(h, within: i, s) { return h }
        h = withTopByte(t0 &- 2, e)
        if lies(h, within: i, s) { return h }
        preconditionFailure("slot \(i) holds a key beyond the probe limit")
    }

    /// How many of the 4 candidate top bytes put the home of `e`'s key fewer than `probeLimit` slots before `i`, and
    /// the high word with the last that does. No other top byte can: the home's line is within `probeLimit / 4`
    /// lines (fewer than `lines / 256`) before `i`'s, and a top byte `t` puts a home in lines `t × lines / 256` up to
    /// `(t + 1) × lines / 256`, so only `t0 − 1`, `t0` and `t0 + 1` (for `t0 = line(i) × 256 / lines`, modulo 256)
    /// can; `t0 − 2` is checked as a margin.
    static func topBytes(_ e: Slot, at i: Int, _ s: Storage) -> (fits: Int, high: UInt64) {
        let t0 = likeliestTopByte(at: i, s)
        var fits = 0
        var high: UInt64 = 0
        // Unrolled: a loop over a range is a generic call per step in debug builds, where `expire` checks every slot.
        var h = withTopByte(t0 &- 2, e)
        if lies(h, within: i, s) { fits += 1; high = h }
        h = withTopByte(t0 &- 1, e)
        if lies(h, within: i, s) { fits += 1; high = h }
        h = withTopByte(t0, e)
        if lies(h, within: i, s) { fits += 1; high = h }
        h = withTopByte(t0 &+ 1, e)
        if lies(h, within: i, s) { fits += 1; high = h }
        return (fits, high)
    }

    /// `line(i) × 256 / lines`: the top byte whose share of the homes holds slot `i`'s line (one division).
    @inline(__always)
    static func likeliestTopByte(at i: Int, _ s: Storage) -> Int {
        (i / slotsPerLine) * 256 / (s.slotCount / slotsPerLine)
    }

    /// Whether a key with high word `high` in slot `i` lies within the probe limit of its home: for a slot's stored
    /// bits, true for exactly one top byte.
    @inline(__always)
    static func lies(_ high: UInt64, within i: Int, _ s: Storage) -> Bool {
        distance(home(high, s.slotCount), i, s.slotCount) < s.probeLimit
    }

    @inline(__always)
    static func withTopByte(_ t: Int, _ e: Slot) -> UInt64 {
        UInt64(truncatingIfNeeded: t & 255) << tagShift | e.keyHigh
    }

    /// Whether `k` was inserted and not expired since.
    public func contains(_ k: Hash128) -> Bool {
        if DedupTable.isEmpty(k) { return hasReservedKey }
        return probe(k).found
    }

    /// Where a lookup of a key ended: its slot when it is remembered, else the empty slot an insert would fill
    /// (−1 for the reserved all-zero key, which lives in a flag, and when the nearest empty slot is beyond the
    /// probe limit: then only the full insert, which grows the table, can place it). Valid until the table is next
    /// mutated.
    public struct Probe {
        public let found: Bool
        let slot: Int
    }

    /// `contains`, keeping where the probe ended, so that `insert(_:day:at:)` does not walk the cluster again.
    public func probe(_ k: Hash128) -> Probe {
        if DedupTable.isEmpty(k) { return Probe(found: hasReservedKey, slot: -1) }
        let s = storage
        let n = s.slotCount
        let high = k.high & DedupTable.keyBits
        var i = DedupTable.home(k.high, n)
        // Bounded by the probe limit, and by an empty slot (entries < slotCount).
        var left = s.probeLimit
        while true {
            let e = s.slots[i]
            if e.isEmpty { return Probe(found: false, slot: i) }
            if e.low == k.low && e.keyHigh == high { return Probe(found: true, slot: i) }
            left &-= 1
            if left == 0 { return Probe(found: false, slot: -1) }
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
        assert(s.slots[p.slot].isEmpty && probe(k).slot == p.slot, "the table changed between probe and insert")
        s.slots[p.slot] = Slot(k, relativeDay: relativeDay(day))
        entries &+= 1
        insertsSinceExpire &+= 1
        assert(entries <= growAt && entries < s.slotCount)
        return true
    }

    /// Prefetches the home slot of `k` (`__builtin_prefetch` through the CPrefetch C shim), to be called before
    /// other work that does not depend on the table (the accept path calls it right after the parse, before
    /// the contract and window lookups), so the slot's cache line is on its way when `insert`/`contains`
    /// reach it. A hint only: it never faults and changes nothing. `mutating` only so that a call through a
    /// partition's state in the pipeline's array is made in place, without retaining the storage.
    public mutating func prefetch(_ k: Hash128) {
        meterline_prefetch(homeAddress(k))
    }

    /// The address of `k`'s home slot, for prefetches issued together with others (see `Pipeline.prefetchGroup`).
    /// The key and its day share the slot, so `insert`'s store needs no other line or page. Only a hint's target:
    /// valid until the table changes.
    @inline(__always)
    public mutating func homeAddress(_ k: Hash128) -> UnsafeRawPointer {
        let s = storage
        return UnsafeRawPointer(s.slots + DedupTable.home(k.high, s.slotCount))
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
        let p = probe(k)
        if p.found { return false }
        makeUnique()
        if p.slot >= 0 && entries < growAt && dayFits(day) {
            storage.slots[p.slot] = Slot(k, relativeDay: relativeDay(day))
        } else {
            // Slow path: grow and/or rebase, or grow because the nearest empty slot is past the probe limit.
            prepareInsert(day: day)
            place(Slot(k, relativeDay: relativeDay(day)), home: k.high)
        }
        entries &+= 1
        insertsSinceExpire &+= 1
        assert(entries <= growAt && entries < storage.slotCount)
        return true
    }

    /// Puts `slot` (a key not in the table) into the first empty slot from `home(high)`, growing the table first
    /// while that slot would lie at or past the probe limit. Counts nothing.
    mutating func place(_ slot: Slot, home high: UInt64) {
        while !DedupTable.tryPlace(slot, home: high, in: storage) {
            rebuild(slots: storage.slotCount * 2)
        }
    }

    /// Puts `slot` into the first empty slot from `home(high)` of `s`, unless that lies at or past the probe limit.
    static func tryPlace(_ slot: Slot, home high: UInt64, in s: Storage) -> Bool {
        let n = s.slotCount
        var i = home(high, n)
        var left = s.probeLimit
        while !s.slots[i].isEmpty {
            left -= 1
            if left == 0 { return false }
            i += 1
            if i == n { i = 0 }
        }
        s.slots[i] = slot
        return true
    }

    @inline(__always)
    func dayFits(_ day: Int32) -> Bool {
        let d = Int64(day) - Int64(baseDay)
        return d >= 0 && d <= Int64(DedupTable.maxRelativeDay) && entries > 0
    }

    /// The slot day of `day`, rounded into 0...254 (earlier days round up to `baseDay`).
    @inline(__always)
    func relativeDay(_ day: Int32) -> UInt8 {
        let d = Int64(day) - Int64(baseDay)
        return d <= 0 ? 0 : UInt8(min(d, Int64(DedupTable.maxRelativeDay)))
    }

    /// Grows when the next insert would pass `maxLoad`; moves `baseDay` so `day` fits (see the type's notes).
    @inline(never)
    mutating func prepareInsert(day: Int32) {
        if entries == 0 {
            // Room below the first day for events that arrive out of order (kept exactly down to 32 days earlier).
            baseDay = Int32(clamping: Int64(day) - DedupTable.initialSlackDays)
        } else if Int64(day) - Int64(baseDay) > Int64(DedupTable.maxRelativeDay) {
            rebase(to: day - Int32(DedupTable.maxRelativeDay))
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
    /// every call within the same day); else one pass over the slots, with backward-shift deletion.
    public mutating func expire(before day: Int32) {
        if hasReservedKey && reservedKeyDay < day { hasReservedKey = false }
        let cut = Int64(day) - Int64(baseDay)
        guard entries > 0, cut > 0 else {
            if entries == 0 { baseDay = max(baseDay, day) }
            return  // within the same day: O(1)
        }
        makeUnique()
        let before = entries
        if cut > Int64(DedupTable.maxRelativeDay) {
            storage.slots.update(repeating: .empty, count: storage.slotCount)
            entries = 0
        } else {
            removeDays(below: UInt8(cut))
        }
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

    /// Deletes the slots whose relative day is below `cut` and makes the others' days relative to `baseDay + cut`
    /// (the caller then moves `baseDay` there). The scan starts after an empty slot so no cluster wraps past the
    /// scan's start; a deletion shifts later entries of the same cluster back, so the slot is examined again;
    /// entries only move from unscanned slots to slots not yet passed, so each is examined once.
    mutating func removeDays(below cut: UInt8) {
        let s = storage
        let n = s.slotCount
        let shift = UInt64(cut) << DedupTable.tagShift
        var i = 0
        while !s.slots[i].isEmpty { i += 1 }  // exists: entries < slotCount
        var scanned = 0
        while scanned < n {
            let e = s.slots[i]
            if !e.isEmpty {
                if e.relativeDay < cut {
                    delete(at: i)
                    continue  // a shifted entry now sits at i
                }
                s.slots[i].high = e.high - shift  // tag − cut ≥ 1
            }
            scanned += 1
            i += 1
            if i == n { i = 0 }
        }
    }

    /// Backward-shift deletion: empties slot `hole`, then moves each later entry of the cluster that may
    /// live at the hole (its home is not in (hole, j] cyclically) back into it. A moved entry comes nearer its
    /// home, so it stays within the probe limit and its top byte is still the one `fullHigh` finds.
    mutating func delete(at hole: Int) {
        let s = storage
        let n = s.slotCount
        var h = hole
        var j = hole + 1 == n ? 0 : hole + 1
        while !s.slots[j].isEmpty {
            let home = DedupTable.home(DedupTable.fullHigh(s.slots[j], at: j, s), n)
            if DedupTable.distance(home, j, n) >= DedupTable.distance(h, j, n) {
                s.slots[h] = s.slots[j]
                h = j
            }
            j = j + 1 == n ? 0 : j + 1
        }
        s.slots[h] = .empty
        entries -= 1
    }

    /// Moves `baseDay` up to `newBase`; slot days below it become 0 (kept longer, never shorter).
    mutating func rebase(to newBase: Int32) {
        let delta = Int64(newBase) - Int64(baseDay)
        precondition(delta >= 0, "rebase down from \(baseDay) to \(newBase)")
        if delta == 0 { return }
        let dd = UInt8(clamping: delta)
        let s = storage
        for i in 0..<s.slotCount where !s.slots[i].isEmpty {
            let d = s.slots[i].relativeDay
            s.slots[i] = Slot(high: s.slots[i].keyHigh | (UInt64((d > dd ? d - dd : 0) + 1) << DedupTable.tagShift), low: s.slots[i].low)
        }
        baseDay = newBase
    }

    /// Rehashes every entry into `slots` slots (days are relative to the unchanged `baseDay`), or into twice as many
    /// as often as an entry would land at or past the probe limit.
    mutating func rebuild(slots: Int) {
        precondition(slots > entries, "rebuild into \(slots) slots for \(entries) keys")
        let old = storage
        var size = max(slots, DedupTable.minSlots)
        var new = Storage(slotCount: size)
        let n = old.slotCount
        // Slots in order hold keys in order of their top byte (but for the wrap): the previous key's top byte is
        // tried first, and only a key whose home it does not explain pays `fullHigh`'s division.
        var top = 0
        var j = 0
        while j < n {
            let e = old.slots[j]
            if !e.isEmpty {
                var high = DedupTable.withTopByte(top, e)
                if !DedupTable.lies(high, within: j, old) {
                    high = DedupTable.fullHigh(e, at: j, old)
                    top = Int(truncatingIfNeeded: high >> DedupTable.tagShift)
                }
                if !DedupTable.tryPlace(e, home: high, in: new) {
                    size *= 2
                    new = Storage(slotCount: size)
                    j = 0
                    continue
                }
            }
            j += 1
        }
        storage = new
        growAt = DedupTable.growAt(slots: size, maxLoad: maxLoad)
        precondition(entries <= growAt, "rebuild to \(size) slots leaves \(entries) keys above the load bound")
    }

    static func slots(for count: Int, load: Double) -> Int {
        max(minSlots, Int((Double(count) / load).rounded(.up)) + 1)
    }

    static func growAt(slots: Int, maxLoad: Double) -> Int {
        min(slots - 1, Int(Double(slots) * maxLoad))
    }

    /// O(n): counts, emptiness, tags, and that every key lies within the probe limit of its home with no empty slot
    /// between.
    func verifyInvariants() -> Bool {
        let s = storage
        let n = s.slotCount
        var occupied = 0
        for i in 0..<n {
            let e = s.slots[i]
            if e.isEmpty {
                guard e.low == 0 else { return false }
                continue
            }
            guard e.tag >= 1 else { return false }
            occupied += 1
            let (fits, high) = DedupTable.topBytes(e, at: i, s)
            guard fits == 1 else { return false }
            var j = DedupTable.home(high, n)
            while j != i {
                if s.slots[j].isEmpty { return false }
                j = j + 1 == n ? 0 : j + 1
            }
        }
        return occupied == entries && entries <= growAt && entries < n
    }
}
