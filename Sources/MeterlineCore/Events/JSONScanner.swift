/// The kind of a JSON value found by the scanner.
public enum JSONKind: UInt8, Sendable {
    case string, number, object, array, trueValue, falseValue, null
}

/// A located JSON value: byte offsets into the scanned buffer. For strings, `start..<end` is the
/// content between the quotes and `escaped` says whether it holds backslash escapes.
/// Invariant: offsets fit 32 bits (`JSONScanner` scans buffers of at most `Int32.max` bytes; events are at most
/// 16 MiB). Stored in 10 bytes, so a parsed event (six of these and its hashes) is copied in registers, not by `memcpy`.
public struct JSONValueRef: Sendable, Equatable {
    @usableFromInline var storedStart: Int32
    @usableFromInline var storedEnd: Int32
    public var kind: JSONKind
    public var escaped: Bool
    @inlinable public var start: Int {
        get { Int(storedStart) }
        set { storedStart = Int32(newValue) }
    }
    @inlinable public var end: Int {
        get { Int(storedEnd) }
        set { storedEnd = Int32(newValue) }
    }
    @inlinable public init(kind: JSONKind, start: Int, end: Int, escaped: Bool) {
        storedStart = Int32(truncatingIfNeeded: start); storedEnd = Int32(truncatingIfNeeded: end)
        self.kind = kind; self.escaped = escaped
    }
}

/// A validating single-pass JSON scanner over borrowed bytes. It never allocates on the accept
/// path; errors carry a `Rejection` built only when input is bad.
/// Invariant: `pos` never passes `end`; nesting never exceeds `maxDepth`.
public struct JSONScanner {
    public let base: UnsafeRawBufferPointer
    public var pos: Int
    public let end: Int
    public let maxDepth: Int

    @inlinable
    public init(_ base: UnsafeRawBufferPointer, start: Int = 0, end: Int? = nil, maxDepth: Int = 32) {
        precondition(base.count <= Int(Int32.max), "JSONScanner scans buffers of at most 2 GiB (offsets are 32-bit)")
        self.base = base
        self.pos = start
        self.end = end ?? base.count
        self.maxDepth = maxDepth
    }

    @inlinable @inline(__always)
    public mutating func skipWhitespace() {
        while pos < end {
            let c = base[pos]
            if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { pos &+= 1 } else { return }
        }
    }

    @inlinable @inline(__always)
    public func peek() -> UInt8? { pos < end ? base[pos] : nil }

    @inlinable
    public mutating func expect(_ c: UInt8) throws(Rejection) {
        skipWhitespace()
        guard pos < end, base[pos] == c else { throw malformed("expected '\(Character(Unicode.Scalar(c)))'") }
        pos &+= 1
    }

    @usableFromInline
    func malformed(_ what: String) -> Rejection {
        Rejection(.malformedJSON, "\(what) at byte \(pos)")
    }

    @inlinable @inline(__always)
    static func hexValue(_ c: UInt8) -> UInt32? {
        switch c {
        case 0x30...0x39: return UInt32(c &- 0x30)
        case 0x41...0x46: return UInt32(c &- 0x41 &+ 10)
        case 0x61...0x66: return UInt32(c &- 0x61 &+ 10)
        default: return nil
        }
    }

    @inlinable
    mutating func hex4() throws(Rejection) -> UInt32 {
        guard pos + 4 <= end else { throw malformed("truncated \\u escape") }
        var v: UInt32 = 0
        for k in 0..<4 {
            guard let h = JSONScanner.hexValue(base[pos + k]) else { throw malformed("bad \\u escape") }
            v = v << 4 | h
        }
        pos &+= 4
        return v
    }

    /// High bit set in each byte of the little-endian word `w` that may be '"', '\\', below 0x20 or above 0x7F.
    /// No false negatives; a false positive can only appear above (after) a true one, so the lowest set bit is exact.
    @inlinable @inline(__always)
    static func specialMask(_ w: UInt64) -> UInt64 {
        // Per byte x of w (lowest byte first), the high bit of:
        //   (x ^ '"') − 1   is set when x == '"', or x ≥ 0x80 (x ^ 0x22 ≥ 0x80, minus 1 stays ≥ 0x7F only from 0x80: x = 0xA2);
        //   (x ^ '\\') − 1  likewise for '\\';
        //   x − 0x20        is set when x < 0x20 (it wraps), or x ≥ 0xA0;
        //   x               is set when x ≥ 0x80.
        // A byte that is none of these sets none of them, unless a borrow comes in from the byte below, which happens
        // only when that byte was itself special: false positives lie above the first true one, never below it.
        let ones: UInt64 = 0x0101_0101_0101_0101
        let t = ((w ^ 0x2222_2222_2222_2222) &- ones) | ((w ^ 0x5C5C_5C5C_5C5C_5C5C) &- ones) | (w &- 0x2020_2020_2020_2020) | w
        return t & 0x8080_8080_8080_8080
    }

    /// `specialMask` of the 16 bytes at `p` (which must lie inside `b`), exact: all ones in each byte that is '"',
    /// '\\', below 0x20 or above 0x7F, zero in the others, as the two little-endian words of the 16 bytes. Byte vector
    /// compares, each vector against vector (one instruction; against a scalar, Swift compiled a loop over the
    /// lanes): below 0x20 or above 0x7F is one signed compare, since bytes above 0x7F are negative as `Int8`.
    @inlinable @inline(always)
    static func specialMask16(_ b: UnsafeRawBufferPointer, _ p: Int) -> (UInt64, UInt64) {
        typealias V = SIMD16<UInt8>
        let v = b.loadUnaligned(fromByteOffset: p, as: V.self)
        let none = V(repeating: 0), all = V(repeating: 0xFF)
        let quote = none.replacing(with: all, where: v .== V(repeating: 0x22))
        let backslash = none.replacing(with: all, where: v .== V(repeating: 0x5C))
        let control = none.replacing(with: all, where: unsafeBitCast(v, to: SIMD16<Int8>.self) .< SIMD16<Int8>(repeating: 0x20))
        let m = unsafeBitCast(quote | backslash | control, to: SIMD2<UInt64>.self)
        return (UInt64(littleEndian: m[0]), UInt64(littleEndian: m[1]))
    }

    /// Scans a string starting at the opening quote; returns its content range.
    @inlinable
    public mutating func scanString() throws(Rejection) -> JSONValueRef {
        guard pos < end, base[pos] == UInt8(ascii: "\"") else { throw malformed("expected string") }
        pos &+= 1
        let start = pos
        var escaped = false
        while pos < end {
            // Eight plain bytes at a time, up to the first byte that is '"', '\\', a control or non-ASCII
            // (the lowest flagged byte of the mask is exact); that byte goes through the byte-wise path below.
            var p = pos
            let p8 = end &- 8
            while p <= p8 {
                let m = JSONScanner.specialMask(base.loadUnaligned(fromByteOffset: p, as: UInt64.self))
                if m != 0 { p &+= m.trailingZeroBitCount &>> 3; break }
                p &+= 8
            }
            pos = p
            guard pos < end else { break }
            let c = base[pos]
            if c == UInt8(ascii: "\"") {
                let r = JSONValueRef(kind: .string, start: start, end: pos, escaped: escaped)
                pos &+= 1
                return r
            }
            if c == UInt8(ascii: "\\") {
                escaped = true
                pos &+= 1
                guard pos < end else { break }
                switch base[pos] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    pos &+= 1
                case UInt8(ascii: "u"):
                    pos &+= 1
                    let u = try hex4()
                    if u >= 0xD800 && u <= 0xDBFF {
                        guard pos + 6 <= end, base[pos] == UInt8(ascii: "\\"), base[pos + 1] == UInt8(ascii: "u") else {
                            throw malformed("unpaired surrogate")
                        }
                        pos &+= 2
                        let lo = try hex4()
                        guard lo >= 0xDC00 && lo <= 0xDFFF else { throw malformed("unpaired surrogate") }
                    } else if u >= 0xDC00 && u <= 0xDFFF {
                        throw malformed("unpaired surrogate")
                    }
                default:
                    throw malformed("bad escape")
                }
                continue
            }
            if c < 0x20 { throw malformed("control character in string") }
            if c >= 0x80 {
                try skipUTF8Sequence()
                continue
            }
            pos &+= 1
        }
        throw malformed("unterminated string")
    }

    @inlinable
    mutating func skipUTF8Sequence() throws(Rejection) {
        let c = base[pos]
        let need: Int
        var lowBound: UInt8 = 0x80, highBound: UInt8 = 0xBF
        switch c {
        case 0xC2...0xDF: need = 1
        case 0xE0: need = 2; lowBound = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: need = 2
        case 0xED: need = 2; highBound = 0x9F
        case 0xF0: need = 3; lowBound = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4: need = 3; highBound = 0x8F
        default: throw malformed("invalid UTF-8")
        }
        guard pos + need < end else { throw malformed("invalid UTF-8") }
        let b1 = base[pos + 1]
        guard b1 >= lowBound && b1 <= highBound else { throw malformed("invalid UTF-8") }
        var k = 2
        while k <= need {
            let b = base[pos + k]
            guard b >= 0x80 && b <= 0xBF else { throw malformed("invalid UTF-8") }
            k += 1
        }
        pos &+= need + 1
    }

    /// Scans a number per JSON's grammar; returns its text range.
    @inlinable
    public mutating func scanNumber() throws(Rejection) -> JSONValueRef {
        let start = pos
        if pos < end && base[pos] == UInt8(ascii: "-") { pos &+= 1 }
        guard pos < end else { throw malformed("bad number") }
        if base[pos] == UInt8(ascii: "0") {
            pos &+= 1
        } else if base[pos] >= 0x31 && base[pos] <= 0x39 {
            while pos < end && base[pos] &- 0x30 < 10 { pos &+= 1 }
        } else {
            throw malformed("bad number")
        }
        if pos < end && base[pos] == UInt8(ascii: ".") {
            pos &+= 1
            let s = pos
            while pos < end && base[pos] &- 0x30 < 10 { pos &+= 1 }
            guard pos > s else { throw malformed("bad number") }
        }
        if pos < end && (base[pos] == UInt8(ascii: "e") || base[pos] == UInt8(ascii: "E")) {
            pos &+= 1
            if pos < end && (base[pos] == UInt8(ascii: "+") || base[pos] == UInt8(ascii: "-")) { pos &+= 1 }
            let s = pos
            while pos < end && base[pos] &- 0x30 < 10 { pos &+= 1 }
            guard pos > s else { throw malformed("bad number") }
        }
        return JSONValueRef(kind: .number, start: start, end: pos, escaped: false)
    }

    @inlinable
    mutating func literal(_ word: StaticString, _ kind: JSONKind) throws(Rejection) -> JSONValueRef {
        let n = word.utf8CodeUnitCount
        guard pos + n <= end else { throw malformed("bad literal") }
        let p = word.utf8Start
        for k in 0..<n where base[pos + k] != p[k] { throw malformed("bad literal") }
        let r = JSONValueRef(kind: kind, start: pos, end: pos + n, escaped: false)
        pos &+= n
        return r
    }

    /// Scans any value (after whitespace) and validates it fully; `depth` is the current nesting.
    @inlinable
    public mutating func scanValue(depth: Int) throws(Rejection) -> JSONValueRef {
        skipWhitespace()
        guard pos < end else { throw malformed("expected a value") }
        switch base[pos] {
        case UInt8(ascii: "\""): return try scanString()
        case UInt8(ascii: "{"):
            let start = pos
            try skipContainer(close: UInt8(ascii: "}"), depth: depth + 1)
            return JSONValueRef(kind: .object, start: start, end: pos, escaped: false)
        case UInt8(ascii: "["):
            let start = pos
            try skipContainer(close: UInt8(ascii: "]"), depth: depth + 1)
            return JSONValueRef(kind: .array, start: start, end: pos, escaped: false)
        case UInt8(ascii: "t"): return try literal("true", .trueValue)
        case UInt8(ascii: "f"): return try literal("false", .falseValue)
        case UInt8(ascii: "n"): return try literal("null", .null)
        default: return try scanNumber()
        }
    }

    @inlinable
    mutating func skipContainer(close: UInt8, depth: Int) throws(Rejection) {
        if depth > maxDepth { throw Rejection(.tooDeep, "nesting deeper than \(maxDepth)") }
        pos &+= 1
        skipWhitespace()
        if pos < end && base[pos] == close { pos &+= 1; return }
        let isObject = close == UInt8(ascii: "}")
        while true {
            if isObject {
                skipWhitespace()
                _ = try scanString()
                try expect(UInt8(ascii: ":"))
            }
            _ = try scanValue(depth: depth)
            skipWhitespace()
            guard pos < end else { throw malformed("unterminated container") }
            let c = base[pos]
            pos &+= 1
            if c == close { return }
            guard c == UInt8(ascii: ",") else { throw malformed("expected ',' or close") }
        }
    }

    /// Compares a scanned key (or string) to literal bytes, handling escapes exactly.
    @inlinable
    public func stringEquals(_ ref: JSONValueRef, _ literal: UnsafeRawBufferPointer) -> Bool {
        if !ref.escaped {
            let n = ref.end - ref.start
            guard n == literal.count else { return false }
            var k = 0
            while k < n { if base[ref.start + k] != literal[k] { return false }; k &+= 1 }
            return true
        }
        let u = JSONScanner.unescape(base, ref)
        return u.elementsEqual(literal)
    }

    /// Decodes a string's content (escapes resolved) into UTF-8 bytes.
    public static func unescape(_ base: UnsafeRawBufferPointer, _ ref: JSONValueRef) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(ref.end - ref.start)
        var i = ref.start
        func appendScalar(_ v: UInt32) {
            guard let s = Unicode.Scalar(v) else { return }
            out.append(contentsOf: String(Character(s)).utf8)
        }
        func hex(_ at: Int) -> UInt32 {
            var v: UInt32 = 0
            for k in 0..<4 { v = v << 4 | (hexValue(base[at + k]) ?? 0) }
            return v
        }
        while i < ref.end {
            let c = base[i]
            if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
            let e = base[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var v = hex(i)
                i += 4
                if v >= 0xD800 && v <= 0xDBFF {
                    let lo = hex(i + 2)
                    i += 6
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00)
                }
                appendScalar(v)
            default: out.append(e)
            }
        }
        return out
    }
}
