/// Errors of exact decimal arithmetic. Overflow is an error, never a wrap.
public struct DecimalError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Not a decimal number at all.
        case syntax
        /// More fractional digits than the type's scale holds (and they are not zeros).
        case tooPrecise
        /// The value or a result does not fit in the type.
        case overflow
        /// Division by zero.
        case divisionByZero
    }
    public var kind: Kind
    public var message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}

/// Shared fixed-point routines over `Int128` raw values with a decimal `scale`.
/// Invariant: `raw` = value × 10^scale exactly; nothing here rounds unless its name says so.
public enum FixedPoint {
    /// 10^n for n in 0...38 (all powers that fit in Int128): a table read, not n multiplications.
    @inlinable
    public static func pow10(_ n: Int) -> Int128 {
        precondition(n >= 0 && n <= 38, "pow10 out of range: \(n)")
        return n <= 19 ? Int128(pow10UInt64[n]) : Int128(pow10UInt64[19]) * Int128(pow10UInt64[n - 19])
    }

    /// 10^n for n in 0...19 (all powers that fit in UInt64).
    @usableFromInline static let pow10UInt64: [UInt64] = [
        1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000,
        10_000_000_000, 100_000_000_000, 1_000_000_000_000, 10_000_000_000_000, 100_000_000_000_000,
        1_000_000_000_000_000, 10_000_000_000_000_000, 100_000_000_000_000_000, 1_000_000_000_000_000_000,
        10_000_000_000_000_000_000,
    ]

    /// Parses a decimal string (optional sign, digits, optional fraction, optional exponent, as JSON
    /// numbers and numeric strings allow) into raw units of `scale`. Exact: digits beyond the scale
    /// must be zeros, otherwise `.tooPrecise`.
    @inlinable
    public static func parse(_ bytes: UnsafeRawBufferPointer, scale: Int) -> Result<Int128, DecimalError> {
        if let raw = parsePlainInteger(bytes, scale: scale) { return .success(raw) }
        return parseGeneral(bytes, scale: scale)
    }

    /// Fast path for the common case, an optional '-' and 1...18 digits: exact in UInt64, and × 10^scale
    /// (scale ≤ 19) stays below 10^37. Nil for anything else (the general parser decides).
    @inlinable
    static func parsePlainInteger(_ bytes: UnsafeRawBufferPointer, scale: Int) -> Int128? {
        let n = bytes.count
        if scale >= 0 && scale <= 19 && n > 0 {
            var j = bytes[0] == UInt8(ascii: "-") ? 1 : 0
            let first = j
            var m: UInt64 = 0
            while j < n {
                let d = bytes[j] &- 0x30
                if d >= 10 { break }
                m = m &* 10 &+ UInt64(d)
                j &+= 1
            }
            let count = j &- first
            if j == n && count >= 1 && count <= 18 {
                let raw = Int128(m) &* Int128(pow10UInt64[scale])
                return first == 1 ? 0 &- raw : raw
            }
        }
        return nil
    }

    /// `parse` without the fast path (the fuzz target compares the two).
    @inlinable
    static func parseGeneral(_ bytes: UnsafeRawBufferPointer, scale: Int) -> Result<Int128, DecimalError> {
        var i = 0
        let n = bytes.count
        if n == 0 { return .failure(DecimalError(.syntax, "empty number")) }
        var negative = false
        if bytes[0] == UInt8(ascii: "-") { negative = true; i = 1 } else if bytes[0] == UInt8(ascii: "+") { i = 1 }
        var mantissa: Int128 = 0
        var digits = 0
        var fractionDigits = 0
        var sawPoint = false
        var overflowed = false
        // Significant digits beyond what Int128 holds are allowed only if they are zeros after the point.
        var droppedNonZero = false
        var droppedZeros = 0
        while i < n {
            let c = bytes[i]
            if c >= 0x30 && c <= 0x39 {
                digits += 1
                let d = Int128(c &- 0x30)
                if !overflowed {
                    let (m1, o1) = mantissa.multipliedReportingOverflow(by: 10)
                    let (m2, o2) = m1.addingReportingOverflow(d)
                    if o1 || o2 {
                        if sawPoint {
                            // Keep going: trailing digits of the fraction may be zeros.
                            overflowed = true
                            if d != 0 { droppedNonZero = true } else { droppedZeros += 1 }
                        } else {
                            return .failure(DecimalError(.overflow, "number too large"))
                        }
                    } else {
                        mantissa = m2
                        if sawPoint { fractionDigits += 1 }
                    }
                } else {
                    if d != 0 { droppedNonZero = true } else { droppedZeros += 1 }
                }
            } else if c == UInt8(ascii: ".") && !sawPoint {
                if digits == 0 { return .failure(DecimalError(.syntax, "no digits before '.'")) }
                sawPoint = true
            } else {
                break
            }
            i += 1
        }
        if digits == 0 { return .failure(DecimalError(.syntax, "no digits")) }
        if sawPoint && bytes[i - 1] == UInt8(ascii: ".") { return .failure(DecimalError(.syntax, "no digits after '.'")) }
        _ = droppedZeros
        var exponent = 0
        if i < n && (bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E")) {
            i += 1
            var expNegative = false
            if i < n && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) {
                expNegative = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            var expDigits = 0
            while i < n && bytes[i] >= 0x30 && bytes[i] <= 0x39 {
                if exponent < 10_000 { exponent = exponent * 10 + Int(bytes[i] &- 0x30) }
                expDigits += 1
                i += 1
            }
            if expDigits == 0 { return .failure(DecimalError(.syntax, "no digits in exponent")) }
            if expNegative { exponent = -exponent }
        }
        if i != n { return .failure(DecimalError(.syntax, "unexpected character in number")) }
        if droppedNonZero {
            // Digits were dropped because the mantissa overflowed: if the kept part cannot be scaled either, the
            // number is too large (overflow), not merely too precise.
            // The first dropped digit lies within the scale exactly when keptShift ≥ 1: then the scaled value needs it.
            let keptShift = scale + exponent - fractionDigits
            if keptShift >= 1 {
                return .failure(DecimalError(.overflow, "number too large"))
            }
            return .failure(DecimalError(.tooPrecise, "more than \(scale) fractional digits"))
        }
        if mantissa == 0 { return .success(0) }
        // value = mantissa × 10^(exponent − fractionDigits); raw = value × 10^scale
        let shift = scale + exponent - fractionDigits
        var raw: Int128
        if shift >= 0 {
            if shift > 38 { return .failure(DecimalError(.overflow, "number too large")) }
            let (r, o) = mantissa.multipliedReportingOverflow(by: pow10(shift))
            if o { return .failure(DecimalError(.overflow, "number too large")) }
            raw = r
        } else {
            if -shift > 38 { return .failure(DecimalError(.tooPrecise, "more than \(scale) fractional digits")) }
            let p = pow10(-shift)
            let (q, r) = mantissa.quotientAndRemainder(dividingBy: p)
            if r != 0 { return .failure(DecimalError(.tooPrecise, "more than \(scale) fractional digits")) }
            raw = q
        }
        return .success(negative ? -raw : raw)
    }

    /// Parses a Swift string; see `parse(_:scale:)`.
    public static func parse(_ text: String, scale: Int) -> Result<Int128, DecimalError> {
        var copy = text
        return copy.withUTF8 { parse(UnsafeRawBufferPointer($0), scale: scale) }
    }

    /// Canonical decimal text: no exponent, no trailing fractional zeros, no "-0".
    public static func format(_ raw: Int128, scale: Int) -> String {
        var out: [UInt8] = []
        append(raw, scale: scale, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `format(raw, scale:)` as UTF-8 to `out` (no intermediate strings).
    public static func append(_ raw: Int128, scale: Int, to out: inout [UInt8]) {
        if raw == 0 { out.append(UInt8(ascii: "0")); return }
        if raw < 0 { out.append(UInt8(ascii: "-")) }
        let magnitude = raw.magnitude
        let p = UInt128(pow10(scale))
        let intPart = magnitude / p
        var frac = magnitude % p
        appendDigits(intPart, minWidth: 1, to: &out)
        if frac != 0 {
            var width = scale
            while frac % 10 == 0 { frac /= 10; width -= 1 }
            out.append(UInt8(ascii: "."))
            appendDigits(frac, minWidth: width, to: &out)
        }
    }

    /// The longest text `format` gives: a sign, 39 digits, a point and a leading zero.
    public static let maxFormattedCount = 48

    /// Writes `format(raw, scale:)` as UTF-8 at `p` (room for `maxFormattedCount` bytes); returns its length.
    /// Magnitudes and scales that fit 64 bits (all real amounts and quantities) take 64-bit arithmetic.
    public static func write(_ raw: Int128, scale: Int, to p: UnsafeMutableRawPointer) -> Int {
        precondition(scale >= 0 && scale <= 38, "scale out of range: \(scale)")
        if raw == 0 { p.storeBytes(of: UInt8(ascii: "0"), as: UInt8.self); return 1 }
        var n = 0
        if raw < 0 { p.storeBytes(of: UInt8(ascii: "-"), as: UInt8.self); n = 1 }
        let magnitude = raw.magnitude
        guard magnitude <= UInt128(UInt64.max) && scale <= 19 else {
            var out: [UInt8] = []
            append(raw, scale: scale, to: &out)
            out.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            return out.count
        }
        var unit: UInt64 = 1
        for _ in 0..<scale { unit &*= 10 }
        let m = UInt64(magnitude)
        n &+= writeDigits(m / unit, minWidth: 1, to: p + n)
        var frac = m % unit
        if frac != 0 {
            var width = scale
            while frac % 10 == 0 { frac /= 10; width &-= 1 }
            p.storeBytes(of: UInt8(ascii: "."), toByteOffset: n, as: UInt8.self)
            n &+= 1
            n &+= writeDigits(frac, minWidth: width, to: p + n)
        }
        return n
    }

    /// Decimal digits of `v` at `p`, zero-padded on the left to `minWidth` (at most 20); returns their count.
    @inline(__always)
    static func writeDigits(_ v: UInt64, minWidth: Int, to p: UnsafeMutableRawPointer) -> Int {
        var count = 1
        var t = v
        while t >= 10 { t /= 10; count &+= 1 }
        let width = Swift.max(count, minWidth)
        var x = v
        var i = width
        while i > 0 {
            i &-= 1
            p.storeBytes(of: UInt8(truncatingIfNeeded: x % 10) &+ 0x30, toByteOffset: i, as: UInt8.self)
            x /= 10
        }
        return width
    }

    /// Decimal digits of `v`, zero-padded on the left to `minWidth`.
    static func appendDigits(_ v: UInt128, minWidth: Int, to out: inout [UInt8]) {
        // 39 digits hold any UInt128; fill from the right.
        var buf: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &buf) { b in
            var i = b.count
            if v <= UInt128(UInt64.max) {
                var x = UInt64(v)
                repeat { i -= 1; b[i] = UInt8(truncatingIfNeeded: x % 10) + 0x30; x /= 10 } while x != 0
            } else {
                var x = v
                repeat { i -= 1; b[i] = UInt8(truncatingIfNeeded: x % 10) + 0x30; x /= 10 } while x != 0
            }
            let n = b.count - i
            if n < minWidth { for _ in 0..<(minWidth - n) { out.append(UInt8(ascii: "0")) } }
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: b[i...]))
        }
    }

    /// Divides `value` by `divisor`, rounding the quotient once by `mode`.
    @inlinable
    public static func divideRounded(_ value: Int128, by divisor: Int128, mode: RoundingMode) throws(DecimalError) -> Int128 {
        guard divisor != 0 else { throw DecimalError(.divisionByZero, "division by zero") }
        let (q, r) = value.quotientAndRemainder(dividingBy: divisor)
        if r == 0 { return q }
        let twiceR = r.magnitude * 2
        let d = divisor.magnitude
        let awayFromZero: Bool
        if twiceR > d { awayFromZero = true }
        else if twiceR < d { awayFromZero = false }
        else {
            switch mode {
            case .halfAwayFromZero: awayFromZero = true
            case .halfEven: awayFromZero = q.magnitude % 2 == 1
            }
        }
        if !awayFromZero { return q }
        let sameSign = (value < 0) == (divisor < 0)
        return sameSign ? q + 1 : q - 1
    }

    /// `a × b / divisor`, exact 256-bit intermediate, rounded once by `mode`. Throws on overflow.
    @inlinable
    public static func multiplyDivide(_ a: Int128, _ b: Int128, dividingBy divisor: Int128, mode: RoundingMode) throws(DecimalError) -> Int128 {
        guard divisor > 0 else { throw DecimalError(.divisionByZero, "division by zero") }
        let negative = (a < 0) != (b < 0)
        let product = a.magnitude.multipliedFullWidth(by: b.magnitude)
        let d = divisor.magnitude
        guard product.high < d else { throw DecimalError(.overflow, "overflow: \(a) × \(b) / \(divisor)") }
        // A product that fits 128 bits (every realistic quantity × unit price) divides with one 128-bit division;
        // the 256-by-128 division is only for larger ones. Same quotient and remainder either way.
        let (q, r) = product.high == 0 ? product.low.quotientAndRemainder(dividingBy: d) : d.dividingFullWidth(product)
        var mag = q
        if r != 0 {
            let twice = r.multipliedFullWidth(by: 2)
            let cmp: Int
            if twice.high > 0 || twice.low > d { cmp = 1 } else if twice.low < d { cmp = -1 } else { cmp = 0 }
            let up: Bool
            switch cmp {
            case 1: up = true
            case -1: up = false
            default:
                switch mode {
                case .halfAwayFromZero: up = true
                case .halfEven: up = q % 2 == 1
                }
            }
            if up {
                let (m, o) = mag.addingReportingOverflow(1)
                guard !o else { throw DecimalError(.overflow, "overflow: \(a) × \(b) / \(divisor)") }
                mag = m
            }
        }
        guard mag <= UInt128(Int128.max) else { throw DecimalError(.overflow, "overflow: \(a) × \(b) / \(divisor)") }
        return negative ? -Int128(mag) : Int128(mag)
    }
}

/// How a value is rounded when a rounding is stated. Default for money is half away from zero.
public enum RoundingMode: String, Sendable, CaseIterable {
    case halfAwayFromZero = "half_away_from_zero"
    case halfEven = "half_even"
}

/// A quantity of usage: exact decimal with 9 fractional digits.
/// Invariant: `raw` = quantity × 10^9; arithmetic is checked and throws on overflow.
public struct Quantity: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let scale = 9
    public static let one: Int128 = 1_000_000_000
    public var raw: Int128
    @inlinable public init(raw: Int128) { self.raw = raw }
    public static let zero = Quantity(raw: 0)
    /// Whole units.
    public init(units: Int) { self.raw = Int128(units) * Quantity.one }
    public init(_ text: String) throws(DecimalError) {
        switch FixedPoint.parse(text, scale: Quantity.scale) {
        case .success(let r): self.raw = r
        case .failure(let e): throw e
        }
    }
    public var description: String { FixedPoint.format(raw, scale: Quantity.scale) }
    @inlinable public static func < (a: Quantity, b: Quantity) -> Bool { a.raw < b.raw }
    @inlinable public func adding(_ o: Quantity) throws(DecimalError) -> Quantity {
        let (r, ov) = raw.addingReportingOverflow(o.raw)
        if ov { throw DecimalError(.overflow, "quantity overflow: \(self) + \(o)") }
        return Quantity(raw: r)
    }
    @inlinable public func subtracting(_ o: Quantity) throws(DecimalError) -> Quantity {
        let (r, ov) = raw.subtractingReportingOverflow(o.raw)
        if ov { throw DecimalError(.overflow, "quantity overflow: \(self) − \(o)") }
        return Quantity(raw: r)
    }
}

/// A money amount or unit price: exact decimal with 12 fractional digits (as Stripe's decimal amounts).
/// Invariant: `raw` = amount × 10^12; arithmetic is checked and throws on overflow.
public struct Amount: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let scale = 12
    public static let one: Int128 = 1_000_000_000_000
    public var raw: Int128
    @inlinable public init(raw: Int128) { self.raw = raw }
    public static let zero = Amount(raw: 0)
    public init(_ text: String) throws(DecimalError) {
        switch FixedPoint.parse(text, scale: Amount.scale) {
        case .success(let r): self.raw = r
        case .failure(let e): throw e
        }
    }
    public var description: String { FixedPoint.format(raw, scale: Amount.scale) }
    @inlinable public static func < (a: Amount, b: Amount) -> Bool { a.raw < b.raw }
    @inlinable public func adding(_ o: Amount) throws(DecimalError) -> Amount {
        let (r, ov) = raw.addingReportingOverflow(o.raw)
        if ov { throw DecimalError(.overflow, "amount overflow: \(self) + \(o)") }
        return Amount(raw: r)
    }
    @inlinable public func subtracting(_ o: Amount) throws(DecimalError) -> Amount {
        let (r, ov) = raw.subtractingReportingOverflow(o.raw)
        if ov { throw DecimalError(.overflow, "amount overflow: \(self) − \(o)") }
        return Amount(raw: r)
    }
    /// `quantity × unitPrice`, exact to 21 digits internally, rounded once to 12 digits by `mode`.
    @inlinable public static func times(_ q: Quantity, unitPrice: Amount, mode: RoundingMode = .halfEven) throws(DecimalError) -> Amount {
        Amount(raw: try FixedPoint.multiplyDivide(q.raw, unitPrice.raw, dividingBy: Quantity.one, mode: mode))
    }
    /// Rounds to `minorUnits` fractional digits (e.g. 2 for USD) and returns the integer count of minor units.
    public func minorUnits(digits: Int, mode: RoundingMode) throws(DecimalError) -> Int128 {
        precondition(digits >= 0 && digits <= Amount.scale)
        return try FixedPoint.divideRounded(raw, by: FixedPoint.pow10(Amount.scale - digits), mode: mode)
    }
}
