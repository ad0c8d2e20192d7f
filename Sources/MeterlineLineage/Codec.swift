// Byte-level codecs shared by the writer and the reader: LEB128 varints, zigzag, decimal scale
// factors, UUID packing, FNV-1a 64, XXH64 and a bounds-checked reader. All loops work on [UInt8] or
// unsafe buffers; nothing here allocates per value except the UUID/string materialisation.

/// Constants of the lineage file format (see docs/lineage-format.md).
enum Format {
    /// "MLINEAGE", at byte 0 and in the last 8 bytes of the trailer.
    static let magic: [UInt8] = Array("MLINEAGE".utf8)
    /// The version this writer writes: 2 (block and footer checksums are XXH64). Readers also read version 1
    /// (the same layout with FNV-1a 64 checksums).
    static let version: UInt32 = 2
    static let readableVersions: ClosedRange<UInt32> = 1...2

    /// The block and footer checksum of a file of `version`: FNV-1a 64 in version 1, XXH64 (seed 0) from version 2.
    static func checksum(_ bytes: UnsafeRawBufferPointer, version: UInt32) -> UInt64 {
        version == 1 ? fnv1a64(bytes) : xxh64(bytes)
    }
    static let headerSize = 16
    static let trailerSize = 48
    /// Sanity cap on any single decompressed body (block or footer): 4 GiB.
    static let maxBodySize = 1 << 32
    static let maxInt64Scale = 18
    static let maxInt128Scale = 38
    /// Per-event id kinds.
    static let idString: UInt8 = 0
    static let idUUIDLower: UInt8 = 1
    static let idUUIDUpper: UInt8 = 2
    /// Block-level id modes: 0...2 mean "every id has that kind"; 3 means a kind column follows.
    static let idModeMixed: UInt8 = 3
}

/// 10^0 ... 10^18 as Int64.
let powersOf10Int64: [Int64] = {
    var p: [Int64] = [1]
    for _ in 1...Format.maxInt64Scale { p.append(p.last! * 10) }
    return p
}()

/// 10^0 ... 10^38 as Int128.
let powersOf10Int128: [Int128] = {
    var p: [Int128] = [1]
    for _ in 1...Format.maxInt128Scale { p.append(p.last! * 10) }
    return p
}()

// MARK: - Writing

@inline(__always)
func zigzag(_ v: Int64) -> UInt64 { UInt64(bitPattern: (v << 1) ^ (v >> 63)) }

@inline(__always)
func unzigzag(_ u: UInt64) -> Int64 { Int64(bitPattern: u >> 1) ^ -Int64(bitPattern: u & 1) }

@inline(__always)
func zigzag128(_ v: Int128) -> UInt128 { UInt128(bitPattern: (v << 1) ^ (v >> 127)) }

@inline(__always)
func unzigzag128(_ u: UInt128) -> Int128 { Int128(bitPattern: u >> 1) ^ -Int128(bitPattern: u & 1) }

extension Array where Element == UInt8 {
    @inline(__always)
    mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        append(UInt8(truncatingIfNeeded: v))
    }

    @inline(__always)
    mutating func appendVarint(_ value: Int) {
        precondition(value >= 0, "varint of negative count \(value)")
        appendVarint(UInt64(value))
    }

    mutating func appendVarint128(_ value: UInt128) {
        append(upTo: 19) { putVarint128(value, $0) }
    }

    /// Appends the bytes `body` writes at the pointer it is given, at most `maxCount`; it returns how many it
    /// wrote. One capacity check for a whole column, where `append` checks uniqueness and capacity per byte.
    @inline(__always)
    mutating func append(upTo maxCount: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Int) {
        let start = count
        append(contentsOf: repeatElement(0, count: maxCount))
        let written = withUnsafeMutableBufferPointer { body($0.baseAddress! + start) }
        precondition(written >= 0 && written <= maxCount, "wrote more than it reserved")
        removeLast(maxCount - written)
    }

    mutating func appendUInt32LE(_ v: UInt32) {
        for i in 0..<4 { append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }

    mutating func appendUInt64LE(_ v: UInt64) {
        for i in 0..<8 { append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    mutating func appendBytes(_ s: String) {
        var s = s
        s.withUTF8 { append(contentsOf: $0) }
    }
}

/// Writes `value` as a varint at `p`; returns the bytes written (at most 10 for 64 bits, 19 for 128).
@inline(__always)
func putVarint<T: FixedWidthInteger & UnsignedInteger>(_ value: T, _ p: UnsafeMutablePointer<UInt8>) -> Int {
    var v = value, n = 0
    while v >= 0x80 {
        p[n] = UInt8(truncatingIfNeeded: v) | 0x80
        v >>= 7
        n &+= 1
    }
    p[n] = UInt8(truncatingIfNeeded: v)
    return n &+ 1
}

/// `putVarint` of a 128-bit value, by the 64-bit loop when it fits (the common case).
@inline(__always)
func putVarint128(_ value: UInt128, _ p: UnsafeMutablePointer<UInt8>) -> Int {
    value <= UInt128(UInt64.max) ? putVarint(UInt64(value), p) : putVarint(value, p)
}

/// Largest k ≤ 38 such that 10^k divides every non-zero value (0 if there are none).
func commonDecimalScale128(_ values: UnsafeBufferPointer<Int128>) -> Int {
    var k = Format.maxInt128Scale
    var sawNonZero = false
    for v in values where v != 0 {
        sawNonZero = true
        if let small = Int64(exactly: v) {
            // A non-zero |v| < 9.3e18 cannot be a multiple of 10^19: cheap 64-bit path.
            k = Swift.min(k, Format.maxInt64Scale)
            // Scale 9 (whole units in 9-decimal fixed point) is the usual one: a constant divisor is a multiply,
            // where `powersOf10Int64[k]` is a 64-bit `idiv` per value.
            if k == 9 && small % 1_000_000_000 == 0 { continue }
            while k > 0 && small % powersOf10Int64[k] != 0 { k -= 1 }
        } else {
            while k > 0 && v % powersOf10Int128[k] != 0 { k -= 1 }
        }
        if k == 0 { return 0 }
    }
    return sawNonZero ? k : 0
}

/// FNV-1a 64 over `bytes`.
func fnv1a64(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
    var h = seed
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 0x0000_0100_0000_01b3
    }
    return h
}

func fnv1a64(_ bytes: ArraySlice<UInt8>) -> UInt64 {
    bytes.withUnsafeBytes { fnv1a64($0) }
}

/// XXH64 of `bytes` with `seed`, as specified by the xxHash project (its `xxhash_spec.md`): four lanes over
/// 32-byte stripes, so ~0.1 cycles per byte where FNV-1a's byte-serial multiply chain costs ~4 (the block
/// checksum covered 439 MB of a 20M-event backfill's lineage, ~2 % of its CPU, with FNV-1a).
func xxh64(_ bytes: UnsafeRawBufferPointer, seed: UInt64 = 0) -> UInt64 {
    let p1: UInt64 = 0x9E37_79B1_85EB_CA87, p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F, p3: UInt64 = 0x1656_67B1_9E37_79F9
    let p4: UInt64 = 0x85EB_CA77_C2B2_AE63, p5: UInt64 = 0x27D4_EB2F_1656_67C5
    @inline(__always) func rotl(_ x: UInt64, _ r: UInt64) -> UInt64 { (x &<< r) | (x &>> (64 &- r)) }
    @inline(__always) func round(_ acc: UInt64, _ input: UInt64) -> UInt64 { rotl(acc &+ input &* p2, 31) &* p1 }
    @inline(__always) func merge(_ acc: UInt64, _ v: UInt64) -> UInt64 { (acc ^ round(0, v)) &* p1 &+ p4 }
    @inline(__always) func word(_ at: Int) -> UInt64 { UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
    let n = bytes.count
    var i = 0
    var h: UInt64
    if n >= 32 {
        var v1 = seed &+ p1 &+ p2, v2 = seed &+ p2, v3 = seed, v4 = seed &- p1
        while n &- i >= 32 {
            v1 = round(v1, word(i)); v2 = round(v2, word(i &+ 8)); v3 = round(v3, word(i &+ 16)); v4 = round(v4, word(i &+ 24))
            i &+= 32
        }
        h = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
        h = merge(merge(merge(merge(h, v1), v2), v3), v4)
    } else {
        h = seed &+ p5
    }
    h &+= UInt64(n)
    while n &- i >= 8 {
        h = rotl(h ^ round(0, word(i)), 27) &* p1 &+ p4
        i &+= 8
    }
    if n &- i >= 4 {
        let w = UInt64(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
        h = rotl(h ^ (w &* p1), 23) &* p2 &+ p3
        i &+= 4
    }
    while i < n {
        h = rotl(h ^ (UInt64(bytes[i]) &* p5), 11) &* p1
        i &+= 1
    }
    h ^= h &>> 33; h &*= p2
    h ^= h &>> 29; h &*= p3
    h ^= h &>> 32
    return h
}

// MARK: - UUIDs

enum UUIDText {
    /// Parses canonical 36-byte UUID text whose hex letters are all lower- or all upper-case.
    /// Returns the 128-bit value (big-endian text order) and its id kind, or nil.
    /// Sixteen digits per step, as byte vectors: the writer parses the id of every event (a table lookup per digit,
    /// then eight digits per step with word arithmetic, were most of appending a row).
    @inline(__always)
    static func parse(_ b: UnsafeBufferPointer<UInt8>) -> (hi: UInt64, lo: UInt64, kind: UInt8)? {
        guard b.count == 36, b[8] == 0x2D, b[13] == 0x2D, b[18] == 0x2D, b[23] == 0x2D else { return nil }
        let p = UnsafeRawPointer(b.baseAddress!)
        @inline(__always) func word(_ at: Int) -> UInt64 { UInt64(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        @inline(__always) func halves(_ a: Int, _ b: Int) -> UInt64 {
            UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: a, as: UInt32.self)))
                | UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: b, as: UInt32.self))) << 32
        }
        // Digits 0–7 | 9–12 and 14–17, then 19–22 and 24–27 | 28–35: the 32 digits in text order, 16 per vector.
        let first = hex16(SIMD2(word(0), halves(9, 14))), second = hex16(SIMD2(halves(19, 24), word(28)))
        guard (first.valid & second.valid) == ~0 else { return nil }
        let lower = first.lower | second.lower != 0, upper = first.upper | second.upper != 0
        // Both lower- and upper-case letters: not a packable UUID.
        if lower && upper { return nil }
        return (first.value, second.value, upper ? Format.idUUIDUpper : Format.idUUIDLower)
    }

    /// Sixteen ASCII hex digits as byte lanes (first digit in the lowest byte): their value, first digit most
    /// significant; `valid` all ones iff every byte is a hex digit; `lower`/`upper` non-zero iff a byte is an
    /// a–f/A–F letter. Unsigned byte ranges are tested as signed compares of the bytes with their top bit flipped
    /// (the instruction set's byte compare is signed); every compare is vector against vector, which compiles to one
    /// instruction (against a scalar it compiled to a loop over the lanes).
    @inline(__always)
    static func hex16(_ words: SIMD2<UInt64>) -> (value: UInt64, valid: UInt64, lower: UInt64, upper: UInt64) {
        typealias V = SIMD16<UInt8>
        typealias S = SIMD16<Int8>
        let v = unsafeBitCast(words, to: V.self)
        let flip = V(repeating: 0x80), none = V(repeating: 0), all = V(repeating: 0xFF)
        // b − 0x30 < 10 (a digit), (b | 0x20) − 0x61 < 6 (a letter), as signed compares of the flipped bytes.
        let digitBytes = unsafeBitCast((v &- V(repeating: 0x30)) ^ flip, to: S.self)
        let letterBytes = unsafeBitCast(((v | V(repeating: 0x20)) &- V(repeating: 0x61)) ^ flip, to: S.self)
        let digit = none.replacing(with: all, where: digitBytes .< S(repeating: Int8(bitPattern: 10 ^ 0x80)))
        let letter = none.replacing(with: all, where: letterBytes .< S(repeating: Int8(bitPattern: 6 ^ 0x80)))
        let bit5 = none.replacing(with: all, where: (v & V(repeating: 0x20)) .!= none)
        // A digit's value is its low nibble; a letter's (0x41…/0x61…) is its low nibble + 9. Each 16-bit lane then
        // holds two digits, the first in its low byte: (first << 4) | second in the lane's low byte.
        let nibbles = unsafeBitCast((v & V(repeating: 0x0F)) &+ (letter & V(repeating: 9)), to: SIMD8<UInt16>.self)
        let pairs = unsafeBitCast((nibbles &<< 4 | nibbles &>> 8) & SIMD8<UInt16>(repeating: 0xFF), to: SIMD2<UInt64>.self)
        // The four lane bytes of each word side by side (word arithmetic: a vector narrowing compiled to a call).
        var value: UInt64 = 0
        for i in 0..<2 {
            var x = pairs[i]
            x = (x | x >> 8) & 0x0000_FFFF_0000_FFFF
            x = (x | x >> 16) & 0xFFFF_FFFF
            value |= x << (32 * UInt64(i))
        }
        let valid = unsafeBitCast(digit | letter, to: SIMD2<UInt64>.self)
        let lower = unsafeBitCast(letter & bit5, to: SIMD2<UInt64>.self)
        let upper = unsafeBitCast(letter & ~bit5, to: SIMD2<UInt64>.self)
        return (value.byteSwapped, valid[0] & valid[1], lower[0] | lower[1], upper[0] | upper[1])
    }

    /// Formats 16 bytes as canonical UUID text in the case given by `kind`.
    static func format(_ bytes: UnsafeRawBufferPointer, kind: UInt8) -> String {
        precondition(bytes.count == 16)
        precondition(kind == Format.idUUIDLower || kind == Format.idUUIDUpper)
        let alpha: UInt8 = kind == Format.idUUIDUpper ? 0x41 : 0x61
        return String(unsafeUninitializedCapacity: 36) { out in
            var o = 0
            for i in 0..<16 {
                if i == 4 || i == 6 || i == 8 || i == 10 { out[o] = 0x2D; o += 1 }
                let byte = bytes[i]
                let hiN = byte >> 4
                let loN = byte & 0xF
                out[o] = hiN < 10 ? 0x30 + hiN : alpha + hiN - 10
                out[o + 1] = loN < 10 ? 0x30 + loN : alpha + loN - 10
                o += 2
            }
            assert(o == 36)
            return o
        }
    }
}

// MARK: - Reading

/// A structural problem found while decoding; the caller turns it into a LineageError with a file name.
struct Malformed: Error {
    var message: String
    init(_ message: String) { self.message = message }
}

/// A bounds-checked cursor over borrowed bytes. Every read either succeeds inside the buffer or
/// throws `Malformed`; it never traps on bad input.
///
/// - Warning: borrows `bytes`; use only inside the `withUnsafe…` scope that produced them.
struct UnsafeByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var position = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - position }
    var isAtEnd: Bool { position == bytes.count }

    @inline(__always)
    mutating func byte(_ what: @autoclosure () -> String) throws(Malformed) -> UInt8 {
        guard position < bytes.count else { throw Malformed("unexpected end of data reading \(what())") }
        let b = bytes[position]
        position += 1
        return b
    }

    @inline(__always)
    mutating func varint(_ what: @autoclosure () -> String) throws(Malformed) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard position < bytes.count else { throw Malformed("unexpected end of data reading \(what())") }
            let b = bytes[position]
            position += 1
            if shift == 63 && b > 1 { throw Malformed("varint overflow reading \(what())") }
            result |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 63 { throw Malformed("varint too long reading \(what())") }
        }
    }

    mutating func varint128(_ what: @autoclosure () -> String) throws(Malformed) -> UInt128 {
        var result: UInt128 = 0
        var shift: UInt128 = 0
        while true {
            guard position < bytes.count else { throw Malformed("unexpected end of data reading \(what())") }
            let b = bytes[position]
            position += 1
            if shift == 126 && b > 3 { throw Malformed("varint overflow reading \(what())") }
            result |= UInt128(b & 0x7F) << shift
            if b < 0x80 { return result }
            shift += 7
            if shift > 126 { throw Malformed("varint too long reading \(what())") }
        }
    }

    /// A varint that must be a count or length ≤ `limit`.
    @inline(__always)
    mutating func count(_ what: @autoclosure () -> String, limit: Int) throws(Malformed) -> Int {
        let v = try varint(what())
        guard v <= UInt64(limit) else { throw Malformed("\(what()) \(v) exceeds \(limit)") }
        return Int(v)
    }

    mutating func uint64LE(_ what: @autoclosure () -> String) throws(Malformed) -> UInt64 {
        guard remaining >= 8 else { throw Malformed("unexpected end of data reading \(what())") }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[position + i]) << (8 * UInt64(i)) }
        position += 8
        return v
    }

    mutating func uint32LE(_ what: @autoclosure () -> String) throws(Malformed) -> UInt32 {
        guard remaining >= 4 else { throw Malformed("unexpected end of data reading \(what())") }
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[position + i]) << (8 * UInt32(i)) }
        position += 4
        return v
    }

    /// Borrows the next `n` bytes.
    mutating func slice(_ n: Int, _ what: @autoclosure () -> String) throws(Malformed) -> UnsafeRawBufferPointer {
        guard n >= 0, n <= remaining else { throw Malformed("unexpected end of data reading \(what())") }
        let s = UnsafeRawBufferPointer(rebasing: bytes[position..<(position + n)])
        position += n
        return s
    }

    mutating func string(_ n: Int, _ what: @autoclosure () -> String) throws(Malformed) -> String {
        let s = try slice(n, what())
        return String(decoding: s, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` that keeps a typed error (the stdlib's is untyped `rethrows`).
    func withBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let result: Result<R, E> = withUnsafeBytes { raw in Result { () throws(E) -> R in try body(raw) } }
        return try result.get()
    }
}
