import CPrefetch
import MeterlineCore

// Owns: the keyed state tables of a partition (rollup windows by RollupKey, billing-period positions by
// ScopeKey). An open-addressing index of 8-byte entries (32-bit hash tag + slot) over dense key and value
// arrays: a lookup hashes with two multiplies (the keys' parts are hashes already) instead of SipHash, usually
// touches one index entry and one key, growth moves 8-byte entries, never values, and a value is read and
// mutated in place through `values[slot]` (a Dictionary's value getter copies the whole value).

/// A key whose parts are already well-mixed hashes: `slotHash` only combines them.
protocol SlotKey: Equatable {
    var slotHash: UInt64 { get }
}

extension RollupKey: SlotKey {
    @inline(__always) var slotHash: UInt64 {
        let a = subject.low ^ (dimensions.low &* 0x9E37_79B9_7F4A_7C15)
        let b = UInt64(bitPattern: windowStart) &* 0xC2B2_AE3D_27D4_EB4F ^ UInt64(UInt32(bitPattern: meter))
        return (a ^ b ^ subject.high) &* 0xD6E8_FEB8_6659_FD93
    }
}

extension ScopeKey: SlotKey {
    @inline(__always) var slotHash: UInt64 {
        let a = subject.low ^ (discriminator.low &* 0x9E37_79B9_7F4A_7C15)
        let b = UInt64(bitPattern: periodStart) &* 0xC2B2_AE3D_27D4_EB4F ^ UInt64(UInt32(bitPattern: meter))
        return (a ^ b ^ subject.high) &* 0xD6E8_FEB8_6659_FD93
    }
}

typealias WindowTable = SlotTable<RollupKey, WindowState>
typealias PeriodTable = SlotTable<ScopeKey, PeriodState>

/// Values by key.
///
/// Invariants: `keys.count == values.count == count`; every slot in `0..<count` is referenced by exactly one
/// index entry, found by linear probing from its key's home position with no empty entry in between; the
/// index is at most half full. Slots are dense: removing a value moves the last one into its slot.
struct SlotTable<Key: SlotKey, Value> {
    private(set) var keys: [Key] = []
    /// The values, by slot. Mutate in place through `values[slot]` (never through a copy).
    var values: [Value] = []
    /// 0 = empty; else `tag << 32 | (slot + 1)`.
    private var index: [UInt64] = [UInt64](repeating: 0, count: 16)
    private var shift: UInt64 = 60  // 64 − log2(index.count)

    var count: Int { keys.count }
    var isEmpty: Bool { keys.isEmpty }


    @inline(__always) static func hash(_ k: Key) -> UInt64 { k.slotHash }

    /// The slot of `key`, or nil.
    @inline(__always)
    func slot(forKey key: Key) -> Int? {
        let h = SlotTable.hash(key)
        let tag = h & 0xFFFF_FFFF
        let mask = index.count - 1
        var pos = Int(truncatingIfNeeded: h >> shift)
        while true {
            let e = index[pos]
            if e == 0 { return nil }
            if e >> 32 == tag {
                let s = Int(truncatingIfNeeded: e & 0xFFFF_FFFF) - 1
                if keys[s] == key { return s }
            }
            pos = (pos + 1) & mask
        }
    }

    /// Prefetches the index entry where a lookup of `key` starts (a hint; changes nothing). `mutating` only so
    /// that a call through `states[s].windows` accesses the table in place: a non-mutating call on an array
    /// element of a class copies the table out, retaining and releasing its three arrays per call.
    @inline(__always)
    mutating func prefetch(_ key: Key) {
        meterline_prefetch(indexAddress(key))
    }

    /// The address of the index entry where a lookup of `key` starts: a prefetch target (valid until the table
    /// changes, never read through), for prefetches issued together (see `Pipeline.prefetchGroup`).
    @inline(__always)
    mutating func indexAddress(_ key: Key) -> UnsafeRawPointer {
        let pos = Int(truncatingIfNeeded: SlotTable.hash(key) >> shift)
        return index.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress! + pos) }
    }

    /// Reads the home index entry of `key` (fetched by an earlier `prefetch`) and, if its tag matches, prefetches
    /// that slot's key and the first 64 bytes of its value (a hint; changes nothing; `mutating` as `prefetch` is).
    @inline(__always)
    mutating func prefetchSlot(of key: Key) {
        prefetchSlot(of: key, valueBytes: 0, count: SlotTable.prefetchedValueBytes)
    }

    /// How much of a value its prefetches cover: the first 64 bytes (two lines when they straddle a boundary).
    static var prefetchedValueBytes: Int { min(MemoryLayout<Value>.size, 64) }

    /// Reads the home index entry of `key` and, if its tag matches, gives the addresses of that slot's key and
    /// value: prefetch targets only (valid until the table changes; the tag may match another key).
    @inline(__always)
    mutating func slotAddresses(of key: Key) -> (key: UnsafeRawPointer, value: UnsafeRawPointer)? {
        let h = SlotTable.hash(key)
        let e = index[Int(truncatingIfNeeded: h >> shift)]
        guard e != 0, e >> 32 == h & 0xFFFF_FFFF else { return nil }
        let s = Int(truncatingIfNeeded: e & 0xFFFF_FFFF) - 1
        let k = keys.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress! + s) }
        let v = values.withUnsafeBufferPointer { UnsafeRawPointer($0.baseAddress! + s) }
        return (k, v)
    }

    /// Prefetches the first 64 bytes of the value in `slot` (a hint; changes nothing; `mutating` as `prefetch` is).
    @inline(__always)
    mutating func prefetchValue(slot s: Int) {
        prefetchValue(slot: s, bytes: 0, count: SlotTable.prefetchedValueBytes)
    }

    /// Like `prefetchSlot(of:)`, with the bytes `offset..<offset + count` of the value instead of its first 64.
    @inline(__always)
    mutating func prefetchSlot(of key: Key, valueBytes offset: Int, count: Int) {
        guard let a = slotAddresses(of: key) else { return }
        // A key or a value's bytes may straddle two cache lines (strides are not multiples of 64): both are fetched.
        meterline_prefetch(a.key)
        meterline_prefetch(a.key + (MemoryLayout<Key>.size - 1))
        meterline_prefetch(a.value + offset)
        meterline_prefetch(a.value + (offset + count - 1))
    }

    /// `prefetchObject(slot:field:isString:)` for the slot of `key` (its index entry and value line fetched before).
    @inline(__always)
    mutating func prefetchObject(of key: Key, field offset: Int, isString: Bool) {
        guard let a = slotAddresses(of: key) else { return }
        meterline_prefetch(ReferencePrefetch.object(of: a.value + offset, isString: isString))
    }

    /// Prefetches the bytes `offset..<offset + count` of the value in `slot` (a hint, like `prefetchValue`).
    @inline(__always)
    mutating func prefetchValue(slot s: Int, bytes offset: Int, count: Int) {
        values.withUnsafeBufferPointer {
            let p = UnsafeRawPointer($0.baseAddress! + s) + offset
            meterline_prefetch(p)
            meterline_prefetch(p + (count - 1))
        }
    }

    /// Prefetches the heap object of the `String` or `Array` stored at byte `offset` of the value in `slot`:
    /// the object a copy of that field retains (its reference count and first bytes). Reads the field's words
    /// in place, so the value's line should have been prefetched a few steps before.
    @inline(__always)
    mutating func prefetchObject(slot s: Int, field offset: Int, isString: Bool) {
        values.withUnsafeBufferPointer {
            let field = UnsafeRawPointer($0.baseAddress! + s) + offset
            meterline_prefetch(ReferencePrefetch.object(of: field, isString: isString))
        }
    }

    /// Adds a value for a key that is not present; returns its slot.
    @discardableResult
    mutating func insert(_ key: Key, _ value: Value) -> Int {
        assert(slot(forKey: key) == nil, "insert of a present key")
        if (count + 1) * 2 > index.count { grow() }
        let s = keys.count
        keys.append(key)
        values.append(value)
        place(key, slot: s)
        return s
    }

    subscript(key: Key) -> Value? {
        get { slot(forKey: key).map { values[$0] } }
        set {
            if let s = slot(forKey: key) {
                if let newValue { values[s] = newValue } else { remove(slot: s) }
            } else if let newValue {
                insert(key, newValue)
            }
        }
    }

    /// Every (key, value), in slot order.
    var entries: [(key: Key, value: Value)] { zip(keys, values).map { ($0, $1) } }

    /// The entries `isIncluded` selects, in slot order (only those are copied).
    func filter(_ isIncluded: (Key, Value) -> Bool) -> [(key: Key, value: Value)] {
        var out: [(key: Key, value: Value)] = []
        for s in keys.indices where isIncluded(keys[s], values[s]) { out.append((keys[s], values[s])) }
        return out
    }

    /// Removes the entries `shouldRemove` selects.
    mutating func removeAll(where shouldRemove: (Key, Value) -> Bool) {
        var s = 0
        while s < count {
            if shouldRemove(keys[s], values[s]) { remove(slot: s) } else { s += 1 }
        }
    }

    private mutating func place(_ key: Key, slot: Int) {
        let h = SlotTable.hash(key)
        let mask = index.count - 1
        var pos = Int(truncatingIfNeeded: h >> shift)
        while index[pos] != 0 { pos = (pos + 1) & mask }
        index[pos] = (h & 0xFFFF_FFFF) << 32 | UInt64(slot + 1)
    }

    /// The index position that refers to `slot` (whose key is `keys[slot]`).
    private func position(ofSlot slot: Int) -> Int {
        let mask = index.count - 1
        var pos = Int(truncatingIfNeeded: SlotTable.hash(keys[slot]) >> shift)
        while Int(truncatingIfNeeded: index[pos] & 0xFFFF_FFFF) != slot + 1 { pos = (pos + 1) & mask }
        return pos
    }

    /// Removes the entry in `slot`; the last entry moves into it.
    private mutating func remove(slot s: Int) {
        let mask = index.count - 1
        // Backward-shift deletion: pull later members of the probe run into the hole, so no tombstones are needed.
        var hole = position(ofSlot: s)
        var pos = (hole + 1) & mask
        while index[pos] != 0 {
            let home = Int(truncatingIfNeeded: SlotTable.hash(keys[Int(index[pos] & 0xFFFF_FFFF) - 1]) >> shift)
            // The entry at `pos` may move to `hole` if its home is not in the cyclic range (hole, pos].
            let distanceHome = (pos - home) & mask, distanceHole = (pos - hole) & mask
            if distanceHome >= distanceHole {
                index[hole] = index[pos]
                hole = pos
            }
            pos = (pos + 1) & mask
        }
        index[hole] = 0
        let last = keys.count - 1
        if s != last {
            let p = position(ofSlot: last)
            index[p] = index[p] & 0xFFFF_FFFF_0000_0000 | UInt64(s + 1)
            keys[s] = keys[last]
            // Swapped in the buffer: moves the two values (`Array.swapAt` copies them, retaining their arrays).
            values.withUnsafeMutableBufferPointer { $0.swapAt(s, last) }
        }
        keys.removeLast()
        values.removeLast()
    }

    private mutating func grow() {
        let size = index.count * 2
        index = [UInt64](repeating: 0, count: size)
        shift -= 1
        for s in keys.indices { place(keys[s], slot: s) }
    }
}

/// Where a stored `String` or `Array` keeps its heap object, read from the field's raw words without a retain:
/// a prefetch target only. Swift's 64-bit layouts: an array is one word, the address of its storage; a string
/// is two words, the second holding its storage address in the low 60 bits (the top four are discriminator
/// bits). For a small (inline) string or an empty array the result is no object of this value's, and prefetching
/// it is a wasted hint, never a fault: prefetches do not fault, and nothing reads through this address.
enum ReferencePrefetch {
    @inline(__always)
    static func object(of field: UnsafeRawPointer, isString: Bool) -> UnsafeRawPointer? {
        let word = field.load(fromByteOffset: isString ? 8 : 0, as: UInt.self)
        return UnsafeRawPointer(bitPattern: isString ? word & 0x0FFF_FFFF_FFFF_FFFF : word)
    }
}
