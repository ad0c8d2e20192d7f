import MeterlineCore

// Owns: the bytes of a `DedupTable` in the state changelog and partition snapshots (format 1): writing them, and
// reading them back into a table with every check a corrupt or foreign input needs.

/// Errors of `DedupTable(deserializing:)`: the bytes are not a table this code wrote.
public struct DedupTableError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Fewer or more bytes than the header announces.
        case length
        /// A format version this code does not read.
        case version
        /// The checksum over the bytes does not match: corrupt or truncated input.
        case checksum
        /// The bytes decode, but violate an invariant (duplicate key, reserved key in a slot, unknown flag), or hold a
        /// relative day of 255, which the 17-byte-slot table could write and this one cannot keep.
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

extension DedupTable {
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
        var occupied: [(key: Hash128, day: UInt8)] = []
        occupied.reserveCapacity(entries)
        for i in 0..<s.slotCount where !s.slots[i].isEmpty {
            let e = s.slots[i]
            occupied.append((Hash128(high: DedupTable.fullHigh(e, at: i, s), low: e.low), e.relativeDay))
        }
        occupied.sort { $0.key < $1.key }
        for e in occupied {
            DedupTable.append(e.key.high, to: &out)
            DedupTable.append(e.key.low, to: &out)
            out.append(e.day)
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
        var p = DedupTable.headerSize
        for _ in 0..<count {
            let k = Hash128(high: DedupTable.readLE(bytes, p), low: DedupTable.readLE(bytes, p + 8))
            let day = bytes[p + 16]
            p += DedupTable.entrySize
            guard !DedupTable.isEmpty(k) else { throw DedupTableError(.invalid, "the reserved all-zero key in a slot") }
            // Written by an earlier format-1 writer, which kept relative days up to 255.
            guard day <= DedupTable.maxRelativeDay else {
                throw DedupTableError(.invalid, "key \(k) has day \(day) after the base day; at most \(DedupTable.maxRelativeDay) are kept")
            }
            guard !probe(k).found else { throw DedupTableError(.invalid, "key \(k) twice") }
            place(Slot(k, relativeDay: day), home: k.high)
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
