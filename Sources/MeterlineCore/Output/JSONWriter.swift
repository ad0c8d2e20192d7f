/// A minimal canonical JSON writer: keys in the order written, strings escaped per RFC 8259, built as UTF-8 bytes.
/// Invariant: produces one line; the same calls give the same bytes.
public struct JSONWriter {
    /// The document so far, UTF-8.
    public private(set) var output: GrowableBytes
    /// Nesting depth → whether the next member needs a comma (bit per level; up to 64 levels).
    var commaBits: UInt64 = 0
    var depth = 0
    public init() { output = GrowableBytes(capacity: 1024) }

    /// The document as bytes (a copy).
    public var bytes: [UInt8] { output.array }
    /// The document as a String (one copy).
    public var text: String { output.withUnsafeBytes { String(decoding: $0, as: UTF8.self) } }

    /// Empties the document (keeps its buffer), to write the next one.
    public mutating func reset() {
        output.removeAll()
        commaBits = 0
        depth = 0
    }

    @inline(__always) mutating func separator() {
        guard depth > 0 else { return }
        let bit: UInt64 = 1 << UInt64(depth - 1)
        if commaBits & bit != 0 { output.append(UInt8(ascii: ",")) }
        commaBits |= bit
    }
    @inline(__always) mutating func open(_ c: Unicode.Scalar) {
        precondition(depth < 64, "JSONWriter nests at most 64 levels")
        output.append(UInt8(ascii: c))
        depth += 1
        commaBits &= ~(1 << UInt64(depth - 1))
    }
    @inline(__always) mutating func close(_ c: Unicode.Scalar) {
        precondition(depth > 0, "JSONWriter: close without open")
        depth -= 1
        output.append(UInt8(ascii: c))
    }
    public mutating func beginObject() { open("{") }
    public mutating func endObject() { close("}") }
    public mutating func beginArray() { open("[") }
    public mutating func endArray() { close("]") }
    /// Marks the start of an array element (writes the comma).
    public mutating func element() { separator() }
    /// A member name written in the source (a literal: nothing in it to escape, checked in debug builds), copied
    /// as is with its quotes and colon. Names that are data (dimension names, reason codes) use `key(text:)`.
    public mutating func key(_ k: StaticString) {
        separator()
        // A StaticString made from a Unicode scalar holds the scalar, not UTF-8 bytes to copy (literals hold bytes).
        guard k.hasPointerRepresentation else {
            string(k.withUTF8Buffer { String(decoding: $0, as: UTF8.self) })
            output.append(UInt8(ascii: ":"))
            return
        }
        let n = k.utf8CodeUnitCount
        assert(!JSONWriter.needsEscape(UnsafeBufferPointer(start: k.utf8Start, count: n)), "key \(k) needs escaping: use key(text:)")
        output.append(upTo: n &+ 3) { p in
            p.storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
            (p + 1).copyMemory(from: k.utf8Start, byteCount: n)
            (p + 1 + n).storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
            (p + 2 + n).storeBytes(of: UInt8(ascii: ":"), as: UInt8.self)
            return n &+ 3
        }
    }
    /// A member name that is data, escaped as needed.
    public mutating func key(text k: String) {
        separator()
        string(k)
        output.append(UInt8(ascii: ":"))
    }
    public mutating func field(_ k: StaticString, _ v: String) { key(k); string(v) }
    public mutating func field(_ k: StaticString, _ v: Int) { key(k); number(Int128(v), scale: 0) }
    public mutating func field(_ k: StaticString, _ v: Int64) { key(k); number(Int128(v), scale: 0) }
    /// An integer as a JSON number, as `String(v)` writes it (minor units of an amount, for one).
    public mutating func field(_ k: StaticString, integer v: Int128) { key(k); number(v, scale: 0) }
    public mutating func field(_ k: StaticString, _ v: Bool) { key(k); output.append(v ? "true" : "false") }
    /// A decimal as a JSON string (`"12.5"`), formatted as `description` is.
    public mutating func field(_ k: StaticString, _ v: Quantity) { key(k); decimal(v.raw, scale: Quantity.scale) }
    public mutating func field(_ k: StaticString, _ v: Amount) { key(k); decimal(v.raw, scale: Amount.scale) }
    /// A time as an RFC 3339 UTC string, formatted as `RFC3339.format(micros:)` is.
    public mutating func field(_ k: StaticString, micros: Int64) {
        key(k)
        time(micros)
    }
    /// A member whose name is data (`key(text:)`) and whose value is a string.
    public mutating func field(text k: String, _ v: String) { key(text: k); string(v) }
    /// A member whose name is data (`key(text:)`) and whose value is an integer.
    public mutating func field(text k: String, _ v: Int) { key(text: k); number(Int128(v), scale: 0) }

    /// The last times formatted, by a hash of their value: a billing event writes five times, most of them
    /// shared with the events before it (window, period and posting instants), so most are copied, not formatted.
    var timeMemo = TimeMemo()

    /// `micros` as a quoted RFC 3339 string.
    mutating func time(_ micros: Int64) {
        output.append(upTo: RFC3339.maxFormattedCount &+ 2) { p in
            p.storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
            let n = timeMemo.write(micros, to: p + 1)
            (p + 1 + n).storeBytes(of: UInt8(ascii: "\""), as: UInt8.self)
            return n &+ 2
        }
    }
    mutating func number(_ raw: Int128, scale: Int) {
        output.append(upTo: FixedPoint.maxFormattedCount) { FixedPoint.write(raw, scale: scale, to: $0) }
    }
    mutating func decimal(_ raw: Int128, scale: Int) {
        output.append(UInt8(ascii: "\""))
        number(raw, scale: scale)
        output.append(UInt8(ascii: "\""))
    }
    public mutating func raw(_ json: String) {
        var copy = json
        copy.withUTF8 { output.append(UnsafeRawBufferPointer($0)) }
    }
    public mutating func null() { output.append("null") }

    /// Whether `u` holds a byte that a JSON string must escape: '"', '\\' or a control character (< 0x20).
    /// Eight bytes per step; each test is the exact "some byte is zero / below n" bit trick, so no false answer.
    @inline(__always)
    static func needsEscape(_ u: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = u.count
        guard let p = UnsafeRawPointer(u.baseAddress) else { return false }
        @inline(__always) func flagged(_ w: UInt64) -> Bool {
            let ones: UInt64 = 0x0101_0101_0101_0101, high: UInt64 = 0x8080_8080_8080_8080
            let q = w ^ 0x2222_2222_2222_2222, b = w ^ 0x5C5C_5C5C_5C5C_5C5C
            return ((q &- ones) & ~q | (b &- ones) & ~b | (w &- 0x2020_2020_2020_2020) & ~w) & high != 0
        }
        var i = 0
        while n &- i >= 8 {
            if flagged(p.loadUnaligned(fromByteOffset: i, as: UInt64.self)) { return true }
            i &+= 8
        }
        while i < n {
            let c = p.load(fromByteOffset: i, as: UInt8.self)
            if c < 0x20 || c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { return true }
            i &+= 1
        }
        return false
    }

    public mutating func string(_ s: String) {
        output.append(UInt8(ascii: "\""))
        stringContent(s)
        output.append(UInt8(ascii: "\""))
    }

    /// Writes `a`, the ASCII byte `separator` and `b` as one JSON string, without building their concatenation.
    public mutating func string(_ a: String, _ separator: Unicode.Scalar, _ b: String) {
        precondition(separator.isASCII && separator.value >= 0x20 && separator != "\"" && separator != "\\",
                     "the separator is written unescaped")
        output.append(UInt8(ascii: "\""))
        stringContent(a)
        output.append(UInt8(separator.value))
        stringContent(b)
        output.append(UInt8(ascii: "\""))
    }

    /// Writes `s` escaped, without quotes.
    mutating func stringContent(_ s: String) {
        // The string's own bytes, in place: `var copy = s; copy.withUTF8` retained and released every heap string
        // (a cold object per billing event field when a backfill writes its file).
        if let done: Void = s.utf8.withContiguousStorageIfAvailable({ stringContent(bytes: $0) }) { return done }
        var copy = s
        copy.withUTF8 { stringContent(bytes: $0) }
    }

    /// Writes the UTF-8 bytes `u` escaped, without quotes.
    @inline(__always)
    mutating func stringContent(bytes u: UnsafeBufferPointer<UInt8>) {
        // Nothing to escape (ids, keys, decimals, times: the common case) → one copy.
        guard JSONWriter.needsEscape(u) else { output.append(UnsafeRawBufferPointer(u)); return }
        for c in u {
            switch c {
            case UInt8(ascii: "\""): output.append(#"\""#)
            case UInt8(ascii: "\\"): output.append(#"\\"#)
            case UInt8(ascii: "\n"): output.append(#"\n"#)
            case UInt8(ascii: "\r"): output.append(#"\r"#)
            case UInt8(ascii: "\t"): output.append(#"\t"#)
            case 0..<0x20:
                let hex: StaticString = "0123456789abcdef"
                output.append(#"\u00"#)
                output.append(hex.utf8Start[Int(c >> 4)])
                output.append(hex.utf8Start[Int(c & 15)])
            default:
                output.append(c)
            }
        }
    }
}

/// Formatted RFC 3339 times, a few, by a hash of their value (a cache: `write` gives what `RFC3339.write` gives).
/// Invariant: an entry with `count > 0` holds the `count` bytes `RFC3339.write(micros:)` writes for its `micros`.
struct TimeMemo {
    struct Entry {
        var micros: Int64 = 0
        var count = 0
        /// The formatted bytes (at most 32: `RFC3339.maxFormattedCount` is less, checked in `write`).
        var bytes: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    }
    var entries: (Entry, Entry, Entry, Entry, Entry, Entry, Entry, Entry) = (Entry(), Entry(), Entry(), Entry(), Entry(), Entry(), Entry(), Entry())

    /// Writes `micros` formatted at `p` (room for `RFC3339.maxFormattedCount` bytes); returns the count.
    @inline(__always)
    mutating func write(_ micros: Int64, to p: UnsafeMutableRawPointer) -> Int {
        let slot = Int(truncatingIfNeeded: (UInt64(bitPattern: micros) &* 0x9E37_79B9_7F4A_7C15) >> 61)
        return withUnsafeMutableBytes(of: &entries) { raw in
            let e = raw.baseAddress!.assumingMemoryBound(to: Entry.self) + slot
            if e.pointee.count > 0 && e.pointee.micros == micros {
                withUnsafeBytes(of: &e.pointee.bytes) { p.copyMemory(from: $0.baseAddress!, byteCount: e.pointee.count) }
                return e.pointee.count
            }
            let n = RFC3339.write(micros: micros, to: p)
            if n <= MemoryLayout.size(ofValue: e.pointee.bytes) {
                e.pointee.micros = micros
                e.pointee.count = n
                withUnsafeMutableBytes(of: &e.pointee.bytes) { $0.baseAddress!.copyMemory(from: p, byteCount: n) }
            }
            return n
        }
    }
}
