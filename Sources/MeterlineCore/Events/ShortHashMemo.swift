// Owns: hashes of short values the parser has computed before (an event's source, a one-group meter's dimension
// value), so that the values that repeat from event to event are hashed once, not once per event. A cache: it never
// changes a result, only skips recomputing it. Must never import anything but the standard library.

/// Results of hashing short byte strings (at most 16 bytes), kept in a small direct-mapped table by
/// (namespace, bytes): the parser keeps the `Hasher128` state after an event's source and the dimensions hash of a
/// one-group meter's value here, because a stream repeats a few sources and dimension values millions of times.
///
/// Invariant: an entry holds exactly what its computation gave for its key, and a lookup matches the key's namespace,
/// length and every byte, so a hit returns what recomputing would. Entries are only written through
/// `EventParser.memoize`, which copies a shared memo first (copy on write): copies of a parser never write to one
/// memo, so a memo is never written while another thread reads it.
@usableFromInline final class ShortHashMemo {
    /// Up to 16 bytes as two little-endian words (zero past the end), and a tag: bit 63 set, the namespace in bits
    /// 8...39, the length in bits 0...7. An empty entry's tag is 0, which no key has.
    @usableFromInline struct Key: Equatable {
        @usableFromInline var w0: UInt64
        @usableFromInline var w1: UInt64
        @usableFromInline var tag: UInt64
        @inlinable init(w0: UInt64, w1: UInt64, tag: UInt64) { self.w0 = w0; self.w1 = w1; self.tag = tag }
    }

    /// A memoized result: three words whose meaning the namespace's user gives (a hasher state, or a hash and 0).
    @usableFromInline typealias Value = (UInt64, UInt64, UInt64)

    @usableFromInline struct Entry {
        @usableFromInline var key: Key
        @usableFromInline var value: Value
    }

    /// Entries in the table (a power of two): a few sources and dimension values per meter fit with room to spare.
    @usableFromInline static let capacity = 64
    @usableFromInline let entries: UnsafeMutablePointer<Entry>

    @usableFromInline init() {
        entries = .allocate(capacity: ShortHashMemo.capacity)
        entries.initialize(repeating: Entry(key: Key(w0: 0, w1: 0, tag: 0), value: (0, 0, 0)), count: ShortHashMemo.capacity)
    }

    @usableFromInline func copy() -> ShortHashMemo {
        let c = ShortHashMemo()
        c.entries.update(from: entries, count: ShortHashMemo.capacity)
        return c
    }

    deinit {
        entries.deinitialize(count: ShortHashMemo.capacity)
        entries.deallocate()
    }

    /// The key of `base[start..<end]` in `namespace`, or nil when it is longer than 16 bytes, or shorter than 8
    /// bytes and ending within the buffer's first 8 (the bytes are read as whole words ending at `end`, which must
    /// lie inside the buffer).
    @inlinable @inline(__always)
    static func key(_ base: UnsafeRawBufferPointer, _ start: Int, _ end: Int, namespace: UInt32) -> Key? {
        let n = end &- start
        guard start >= 0, n >= 0, n <= 16, end <= base.count, end >= 8 || n == 0 else { return nil }
        let tag = 1 << 63 | UInt64(namespace) << 8 | UInt64(n)
        @inline(__always) func word(_ at: Int) -> UInt64 { UInt64(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        if n == 0 { return Key(w0: 0, w1: 0, tag: tag) }
        // The word ending at `end`, shifted down so that only the value's last bytes remain.
        if n <= 8 { return Key(w0: word(end &- 8) &>> UInt64(64 &- 8 &* n), w1: 0, tag: tag) }
        return Key(w0: word(start), w1: word(end &- 8) &>> UInt64(128 &- 8 &* n), tag: tag)
    }

    @inlinable @inline(__always)
    static func slot(_ k: Key) -> Int {
        let x = ((k.w0 ^ k.tag) &* 0x9E37_79B9_7F4A_7C15 ^ k.w1) &* 0xD6E8_FEB8_6659_FD93
        return Int(truncatingIfNeeded: x &>> 58)  // 64 = 2^6 entries
    }

    @inlinable @inline(__always)
    func lookup(_ k: Key) -> Value? {
        let e = entries + ShortHashMemo.slot(k)
        return e.pointee.key == k ? e.pointee.value : nil
    }

    /// Replaces the entry `k` maps to (call through `EventParser.memoize`, never on a shared memo).
    @usableFromInline func store(_ k: Key, _ v: Value) {
        entries[ShortHashMemo.slot(k)] = Entry(key: k, value: v)
    }
}
