// The parser's precompiled plan: flat tables of the meter catalog, and the data keys recorded in one pass.

/// Values found in the event's `data` object for the data keys the catalog's `$.key` paths name
/// (first occurrence of each key, as `JSONPath.locate` finds it). Fixed capacity: `ParserPlan.maxSlots`.
@usableFromInline
struct DataSlots {
    @usableFromInline static let absent = JSONValueRef(kind: .null, start: -1, end: -1, escaped: false)
    @usableFromInline var v0 = DataSlots.absent, v1 = DataSlots.absent, v2 = DataSlots.absent, v3 = DataSlots.absent
    @usableFromInline var filled: UInt8 = 0

    @inlinable init() {}

    @inlinable
    subscript(_ i: Int8) -> JSONValueRef? {
        guard filled & (1 << UInt8(i)) != 0 else { return nil }
        switch i {
        case 0: return v0
        case 1: return v1
        case 2: return v2
        default: return v3
        }
    }

    @inlinable @inline(__always)
    mutating func set(_ i: Int, _ v: JSONValueRef) {
        filled |= 1 << UInt8(i)
        switch i {
        case 0: v0 = v
        case 1: v1 = v
        case 2: v2 = v
        default: v3 = v
        }
    }
}

/// The meter catalog compiled for the accept path: flat tables of trivial values (reading them retains nothing),
/// and the data keys read by single-key paths (`$.tokens`), which the parser records while it validates `data`
/// instead of re-scanning `data` once per path. Other paths (nested, indexes, or more than `maxSlots` keys)
/// fall back to `JSONPath.locate`.
///
/// A final class, not a struct: the parser's methods are `mutating`, and calling a method of a struct stored in
/// `self` from one copied the whole plan (188 bytes, a `memcpy` per event) to keep `self` exclusive.
@usableFromInline
final class ParserPlan: Sendable {
    @usableFromInline struct MeterPlan: Sendable {
        @usableFromInline var hasValue: Bool
        @usableFromInline var isUnique: Bool
        @usableFromInline var readsData: Bool
        /// Slot of the value path, or -1 (use `locate`).
        @usableFromInline var valueSlot: Int8
        @usableFromInline var groupStart: Int
        @usableFromInline var groupEnd: Int
        /// The dimensions hasher after the first group's name (every reading of the meter starts with it); for a
        /// meter without groupBy, `noDimensions` is the whole (constant) hash.
        @usableFromInline var firstNameState: Hasher128
        @usableFromInline var noDimensions: Hash128
    }
    @usableFromInline struct GroupPlan: Sendable {
        @usableFromInline var slot: Int8
        @usableFromInline var nameStart: Int
        @usableFromInline var nameEnd: Int
    }
    @usableFromInline static let maxSlots = 4

    /// Meters of type t: `typeMeters[typeStart[t]..<typeStart[t + 1]]`.
    @usableFromInline let typeStart: [Int]
    @usableFromInline let typeMeters: [Int]
    @usableFromInline let meters: [MeterPlan]
    /// groupBy entries of all meters, in each meter's canonical order; names as UTF-8 in `names`.
    @usableFromInline let groups: [GroupPlan]
    @usableFromInline let names: [UInt8]
    /// Event types as UTF-8: type k is `typeBytes[typeBytesStart[k]..<typeBytesStart[k + 1]]`.
    @usableFromInline let typeBytes: [UInt8]
    @usableFromInline let typeBytesStart: [Int]
    /// The recorded data keys: key i is `wanted[wantedStart[i]..<wantedStart[i + 1]]`.
    @usableFromInline let wanted: [UInt8]
    @usableFromInline let wantedStart: [Int]
    @usableFromInline let wantedCount: Int
    /// For each recorded key of at most 8 bytes: its bytes as a little-endian word (zero above the key) and its
    /// length, so a data member's name is matched by one masked load and two compares per key; longer keys (and
    /// unused entries) have length 0xFF, which no name of at most 8 bytes has. Tuples, not arrays: the match
    /// loads no array buffer and checks no bounds (`maxSlots` entries).
    @usableFromInline let shortWord: (UInt64, UInt64, UInt64, UInt64)
    @usableFromInline let shortLength: (UInt8, UInt8, UInt8, UInt8)

    init(_ catalog: MeterCatalog) {
        var wantedKeys: [[UInt8]] = []
        func slot(_ path: JSONPath) -> Int8 {
            guard path.segments.count == 1, case .key(let key) = path.segments[0] else { return -1 }
            if let i = wantedKeys.firstIndex(of: key) { return Int8(i) }
            guard wantedKeys.count < ParserPlan.maxSlots else { return -1 }
            wantedKeys.append(key)
            return Int8(wantedKeys.count - 1)
        }
        var meters: [MeterPlan] = []
        var groups: [GroupPlan] = []
        var names: [UInt8] = []
        for m in catalog.meters {
            let start = groups.count
            for (name, path) in m.groupBy {
                let n0 = names.count
                names += Array(name.utf8)
                groups.append(GroupPlan(slot: slot(path), nameStart: n0, nameEnd: names.count))
            }
            var first = Hasher128()
            if let (name, _) = m.groupBy.first { first.combine(name) }
            meters.append(MeterPlan(hasValue: m.valueProperty != nil, isUnique: m.aggregation == .uniqueCount,
                                    readsData: m.valueProperty != nil || !m.groupBy.isEmpty,
                                    valueSlot: m.valueProperty.map(slot) ?? -1, groupStart: start, groupEnd: groups.count,
                                    firstNameState: first, noDimensions: Hasher128().finalize()))
        }
        var typeStart = [0], typeMeters: [Int] = []
        for list in catalog.metersByType { typeMeters += list; typeStart.append(typeMeters.count) }
        var typeBytes: [UInt8] = [], typeBytesStart = [0]
        for t in catalog.types { typeBytes += t; typeBytesStart.append(typeBytes.count) }
        var wanted: [UInt8] = [], wantedStart = [0]
        for k in wantedKeys { wanted += k; wantedStart.append(wanted.count) }
        self.meters = meters
        self.groups = groups
        self.names = names
        self.typeStart = typeStart
        self.typeMeters = typeMeters
        self.typeBytes = typeBytes
        self.typeBytesStart = typeBytesStart
        self.wanted = wanted
        self.wantedStart = wantedStart
        self.wantedCount = wantedKeys.count
        precondition(ParserPlan.maxSlots == 4 && wantedKeys.count <= ParserPlan.maxSlots, "the short-key tuples hold maxSlots entries")
        /// Up to 8 bytes as a little-endian word, zero above them.
        func word(_ bytes: ArraySlice<UInt8>) -> UInt64 {
            bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << UInt64(8 * $1.offset) }
        }
        let words = (0..<4).map { i -> UInt64 in
            i < wantedKeys.count && wantedKeys[i].count <= 8 ? word(wantedKeys[i][...]) : 0
        }
        let lengths = (0..<4).map { i -> UInt8 in i < wantedKeys.count && wantedKeys[i].count <= 8 ? UInt8(wantedKeys[i].count) : 0xFF }
        let typeWords = (0..<4).map { i -> (UInt64, UInt64) in
            guard i < catalog.types.count, catalog.types[i].count <= 16 else { return (0, 0) }
            let t = catalog.types[i]
            return (word(t.prefix(8)), word(t.dropFirst(8)))
        }
        let typeLengths = (0..<4).map { i -> UInt8 in i < catalog.types.count && catalog.types[i].count <= 16 ? UInt8(catalog.types[i].count) : 0xFF }
        self.shortTypeWords = (typeWords[0], typeWords[1], typeWords[2], typeWords[3])
        self.shortTypeLength = (typeLengths[0], typeLengths[1], typeLengths[2], typeLengths[3])
        self.allTypesShort = catalog.types.allSatisfy { $0.count <= 16 }
        self.shortWord = (words[0], words[1], words[2], words[3])
        self.shortLength = (lengths[0], lengths[1], lengths[2], lengths[3])
    }

    /// The first `maxShortTypes` event types of at most 16 bytes as two little-endian words (zero above the type)
    /// and their lengths (0xFF: no such type), so the usual types are matched by two masked loads.
    @usableFromInline static let maxShortTypes = 4
    /// Whether every type is at most 16 bytes (then, with at most `maxShortTypes` types, the words decide alone).
    @usableFromInline let allTypesShort: Bool
    @usableFromInline let shortTypeWords: ((UInt64, UInt64), (UInt64, UInt64), (UInt64, UInt64), (UInt64, UInt64))
    @usableFromInline let shortTypeLength: (UInt8, UInt8, UInt8, UInt8)

    /// `MeterCatalog.typeIndex` for an unescaped string: the first type with the same bytes.
    @inlinable
    func typeIndex(_ base: UnsafeRawBufferPointer, _ ref: JSONValueRef) -> Int? {
        let n = ref.end &- ref.start
        if n <= 16 && ref.start &+ 16 <= base.count {
            // The 16 bytes from the type's start, masked to its length (in the message the type is followed by more).
            let lo = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: ref.start, as: UInt64.self))
            let hi = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: ref.start &+ 8, as: UInt64.self))
            let w0 = n >= 8 ? lo : lo & ((1 << UInt64(n &* 8)) &- 1)
            let w1 = n >= 16 ? hi : n <= 8 ? 0 : hi & ((1 << UInt64((n &- 8) &* 8)) &- 1)
            let len = UInt8(truncatingIfNeeded: n)
            if len == shortTypeLength.0 && w0 == shortTypeWords.0.0 && w1 == shortTypeWords.0.1 { return 0 }
            if len == shortTypeLength.1 && w0 == shortTypeWords.1.0 && w1 == shortTypeWords.1.1 { return 1 }
            if len == shortTypeLength.2 && w0 == shortTypeWords.2.0 && w1 == shortTypeWords.2.1 { return 2 }
            if len == shortTypeLength.3 && w0 == shortTypeWords.3.0 && w1 == shortTypeWords.3.1 { return 3 }
            // Not one of the first four short types: a later type, a long one, or none (the loop decides).
            if typeBytesStart.count &- 1 <= ParserPlan.maxShortTypes && allTypesShort { return nil }
        }
        return typeBytes.withUnsafeBytes { tb -> Int? in
            var k = 0
            let count = typeBytesStart.count &- 1
            while k < count {
                let a = typeBytesStart[k]
                if typeBytesStart[k &+ 1] &- a == n && memcmpEqual(base, ref.start, UnsafeRawBufferPointer(rebasing: tb[a...]), n) {
                    return k
                }
                k &+= 1
            }
            return nil
        }
    }

    /// `JSONScanner.scanValue(depth: 1)` for the `data` member, recording the first value of each wanted key when
    /// `data` is an object. Validation, errors and the result are those of `scanValue`.
    @inlinable
    func scanData(_ s: inout JSONScanner, _ slots: inout DataSlots) throws(Rejection) -> JSONValueRef {
        s.skipWhitespace()
        guard s.pos < s.end, s.base[s.pos] == UInt8(ascii: "{") else { return try s.scanValue(depth: 1) }
        let start = s.pos
        // As `skipContainer(close: "}", depth: 2)`.
        if 2 > s.maxDepth { throw Rejection(.tooDeep, "nesting deeper than \(s.maxDepth)") }
        s.pos &+= 1
        s.skipWhitespace()
        if s.pos < s.end && s.base[s.pos] == UInt8(ascii: "}") {
            s.pos &+= 1
            return JSONValueRef(kind: .object, start: start, end: s.pos, escaped: false)
        }
        let all: UInt8 = UInt8((1 << wantedCount) - 1)
        while true {
            s.skipWhitespace()
            let k = try s.scanString()
            try s.expect(UInt8(ascii: ":"))
            let v = try s.scanValue(depth: 2)
            if slots.filled != all { record(s, k, v, &slots) }
            s.skipWhitespace()
            guard s.pos < s.end else { throw s.malformed("unterminated container") }
            let c = s.base[s.pos]
            s.pos &+= 1
            if c == UInt8(ascii: "}") { return JSONValueRef(kind: .object, start: start, end: s.pos, escaped: false) }
            guard c == UInt8(ascii: ",") else { throw s.malformed("expected ',' or close") }
        }
    }

    @inlinable @inline(always)
    func record(_ s: JSONScanner, _ k: JSONValueRef, _ v: JSONValueRef, _ slots: inout DataSlots) {
        let n = k.end &- k.start
        if !k.escaped && n <= 8 && k.start &+ 8 <= s.end {
            // Short unescaped names (all real traffic): the name's bytes and the 8 − n after it, masked to the name.
            let mask: UInt64 = n == 8 ? ~0 : (1 << UInt64(n &* 8)) &- 1
            let w = UInt64(littleEndian: s.base.loadUnaligned(fromByteOffset: k.start, as: UInt64.self)) & mask
            let i = shortSlot(w, UInt8(truncatingIfNeeded: n))
            // Keys are distinct, so at most one matches; a key seen before keeps its first value.
            if i >= 0 && slots.filled & (1 << UInt8(i)) == 0 { slots.set(i, v) }
            return
        }
        recordLong(s, k, v, &slots)
    }

    /// The recorded key whose short form is (`w`, `n`), or −1.
    @inlinable @inline(__always)
    func shortSlot(_ w: UInt64, _ n: UInt8) -> Int {
        if n == shortLength.0 && w == shortWord.0 { return 0 }
        if n == shortLength.1 && w == shortWord.1 { return 1 }
        if n == shortLength.2 && w == shortWord.2 { return 2 }
        if n == shortLength.3 && w == shortWord.3 { return 3 }
        return -1
    }

    /// `record` for escaped or long names (byte-wise compares), out of line.
    @usableFromInline @inline(never)
    func recordLong(_ s: JSONScanner, _ k: JSONValueRef, _ v: JSONValueRef, _ slots: inout DataSlots) {
        let n = k.end &- k.start
        wanted.withUnsafeBytes { wb in
            var i = 0
            while i < wantedCount {
                let a = wantedStart[i], b = wantedStart[i &+ 1]
                if slots.filled & (1 << UInt8(i)) == 0 {
                    let key = UnsafeRawBufferPointer(rebasing: wb[a..<b])
                    let match = k.escaped ? s.stringEquals(k, key) : (b &- a == n && memcmpEqual(s.base, k.start, key, n))
                    if match { slots.set(i, v); return }
                }
                i &+= 1
            }
        }
    }
}
