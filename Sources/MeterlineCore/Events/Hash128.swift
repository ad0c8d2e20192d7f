/// A 128-bit hash: the identity of a deduplication key (source, id) and of rollup keys.
/// Invariant: deterministic across runs, processes and machines (no per-process seed).
/// Collision odds for 1e9 keys are ~1e-21 for a uniform 128-bit hash.
public struct Hash128: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var high: UInt64
    public var low: UInt64
    @inlinable public init(high: UInt64, low: UInt64) { self.high = high; self.low = low }
    public static let zero = Hash128(high: 0, low: 0)
    /// The value is already a well-mixed hash: feed one word to `Hasher` instead of both (equality still compares all 128 bits).
    @inlinable public func hash(into hasher: inout Hasher) { hasher.combine(low) }
    @inlinable public static func == (a: Hash128, b: Hash128) -> Bool { a.high == b.high && a.low == b.low }
    @inlinable public static func < (a: Hash128, b: Hash128) -> Bool { (a.high, a.low) < (b.high, b.low) }
    /// 32 lowercase hex digits (`high` then `low`, most significant digit first).
    public var description: String {
        // Each word's 16 digits as two 8-byte words, built by spreading nibbles (no loop over digits): a billing
        // event id is formatted per published window.
        let (a, b) = Hash128.hexWords(high), (c, d) = Hash128.hexWords(low)
        return String(unsafeUninitializedCapacity: 32) { buffer in
            let p = UnsafeMutableRawPointer(buffer.baseAddress!)
            p.storeBytes(of: a, toByteOffset: 0, as: UInt64.self)
            p.storeBytes(of: b, toByteOffset: 8, as: UInt64.self)
            p.storeBytes(of: c, toByteOffset: 16, as: UInt64.self)
            p.storeBytes(of: d, toByteOffset: 24, as: UInt64.self)
            return 32
        }
    }

    /// `prefix` followed by the first `digits` (0...32) digits of `description`, built in one allocation: journal line
    /// ids are formatted once per line (a `description`, a `prefix(_:)` and a concatenation each made a string).
    public func hexPrefix(_ digits: Int, after prefix: StaticString) -> String {
        precondition(digits >= 0 && digits <= 32, "a Hash128 has 32 hex digits")
        let (a, b) = Hash128.hexWords(high), (c, d) = Hash128.hexWords(low)
        let n = prefix.utf8CodeUnitCount
        return String(unsafeUninitializedCapacity: n + digits) { buffer in
            let p = UnsafeMutableRawPointer(buffer.baseAddress!)
            p.copyMemory(from: prefix.utf8Start, byteCount: n)
            withUnsafeBytes(of: (a, b, c, d)) { all in (p + n).copyMemory(from: all.baseAddress!, byteCount: digits) }
            return n + digits
        }
    }

    /// The 16 lowercase hex digits of `x`, most significant first, as the bytes of two little-endian words.
    @inlinable
    static func hexWords(_ x: UInt64) -> (UInt64, UInt64) {
        @inline(__always) func digits(_ half: UInt32) -> UInt64 {
            // Spread 8 nibbles to 8 bytes (most significant nibble in the lowest byte: text order).
            var v = UInt64(half)
            v = (v | v << 16) & 0x0000_FFFF_0000_FFFF
            v = (v | v << 8) & 0x00FF_00FF_00FF_00FF
            v = (v | v << 4) & 0x0F0F_0F0F_0F0F_0F0F
            v = v.byteSwapped                                   // first digit in the lowest byte
            // '0'...'9' for 0...9, 'a'...'f' for 10...15: add '0', and 39 more where the nibble is ≥ 10.
            let ge10 = ((v &+ 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101
            return v &+ 0x3030_3030_3030_3030 &+ ge10 &* 39
        }
        return (digits(UInt32(truncatingIfNeeded: x >> 32)).littleEndian, digits(UInt32(truncatingIfNeeded: x)).littleEndian)
    }
}

/// Streaming builder of `Hash128`. Two 64-bit lanes, each a multiply-fold over 8-byte words, with
/// the total length mixed into the result. Fields are separated by `combine(separator:)` so that
/// ("ab","c") and ("a","bc") differ.
public struct Hasher128: Sendable {
    @usableFromInline var a: UInt64 = 0x243F_6A88_85A3_08D3
    @usableFromInline var b: UInt64 = 0x1319_8A2E_0370_7344
    @usableFromInline var length: UInt64 = 0

    @inlinable public init() {}

    /// A hasher in the state another one had (`a`, `b` and `length` read from it): for memoized prefixes.
    @inlinable init(a: UInt64, b: UInt64, length: UInt64) { self.a = a; self.b = b; self.length = length }

    @inlinable @inline(__always)
    static func fold(_ x: UInt64, _ y: UInt64) -> UInt64 {
        let r = x.multipliedFullWidth(by: y)
        return r.high ^ r.low
    }

    @inlinable @inline(__always)
    mutating func word(_ w: UInt64) { Hasher128.mix(&a, &b, w) }

    /// One 8-byte word into lanes held in locals (the loop keeps them in registers, not in `self`).
    @inlinable @inline(__always)
    static func mix(_ a: inout UInt64, _ b: inout UInt64, _ w: UInt64) {
        a = Hasher128.fold(a ^ w, 0xA076_1D64_78BD_642F)
        b = Hasher128.fold(b ^ (w &+ 0x9E37_79B9_7F4A_7C15), 0xE703_7ED1_A0B4_28DB) &+ (a &>> 29)
    }

    @inlinable
    public mutating func combine(_ bytes: UnsafeRawBufferPointer) {
        let n = bytes.count
        guard let base = bytes.baseAddress else {
            word(0)  // the length word of an empty input (0 × the length constant)
            return
        }
        var a = self.a, b = self.b
        var i = 0
        while n &- i >= 8 {
            Hasher128.mix(&a, &b, base.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            i &+= 8
        }
        if i < n {
            // The r = n % 8 last bytes as a little-endian word, read with at most two loads (overlapping loads
            // read the same bytes twice, which the OR absorbs); same value as assembling them byte by byte.
            let r = n &- i
            let tail: UInt64
            if n >= 8 {
                tail = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: n &- 8, as: UInt64.self)) &>> UInt64((8 &- r) &* 8)
            } else if r >= 4 {
                let lo = UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt32.self)))
                let hi = UInt64(UInt32(littleEndian: base.loadUnaligned(fromByteOffset: n &- 4, as: UInt32.self)))
                tail = lo | hi &<< UInt64((r &- 4) &* 8)
            } else if r >= 2 {
                let lo = UInt64(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt16.self)))
                let hi = UInt64(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: n &- 2, as: UInt16.self)))
                tail = lo | hi &<< UInt64((r &- 2) &* 8)
            } else {
                tail = UInt64(base.load(fromByteOffset: i, as: UInt8.self))
            }
            Hasher128.mix(&a, &b, tail ^ (UInt64(n & 7) &<< 56))
        }
        length &+= UInt64(n)
        Hasher128.mix(&a, &b, UInt64(n) &* 0x8EBC_6AF0_9C88_C6E3)
        self.a = a
        self.b = b
    }

    @inlinable
    public mutating func combine(_ value: UInt64) {
        word(value)
        length &+= 8
    }

    @inlinable
    public mutating func combine(_ s: String) {
        var copy = s
        copy.withUTF8 { combine(UnsafeRawBufferPointer($0)) }
    }

    @inlinable
    public func finalize() -> Hash128 {
        var x = a ^ (length &* 0x5897_65F4_A7C5_3B47)
        var y = b ^ a
        x = Hasher128.fold(x, 0xD6E8_FEB8_6659_FD93) ^ y
        y = Hasher128.fold(y ^ 0x2D35_8DCC_AA6C_78A5, 0xFF51_AFD7_ED55_8CCD) ^ x
        return Hash128(high: x, low: y)
    }
}
