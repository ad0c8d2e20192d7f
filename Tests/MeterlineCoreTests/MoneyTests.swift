import Testing
@testable import MeterlineCore

/// DESIGN §7: quantities are exact decimals with 9 fractional digits, amounts with 12, in Int128;
/// overflow is an error, never a wrap; rounding to minor units is half away from zero by default.
@Suite struct MoneyParseTests {
    func raw(_ s: String, scale: Int) -> Result<Int128, DecimalError> { FixedPoint.parse(s, scale: scale) }

    func kind(_ s: String, scale: Int) -> DecimalError.Kind? {
        if case .failure(let e) = raw(s, scale: scale) { return e.kind }
        return nil
    }

    @Test(arguments: [
        ("0", Int128(0)),
        ("-0", 0),
        ("0.0", 0),
        ("1", 1_000_000_000),
        ("+1", 1_000_000_000),
        ("250", 250_000_000_000),
        ("1.5", 1_500_000_000),
        ("-1.5", -1_500_000_000),
        ("0.000000001", 1),
        ("-0.000000001", -1),
        ("1e3", 1_000_000_000_000),
        ("1E3", 1_000_000_000_000),
        ("2.5e3", 2_500_000_000_000),
        ("2.5e+3", 2_500_000_000_000),
        ("25e-1", 2_500_000_000),
        ("1e-9", 1),
        ("10e-10", 1),
        ("1.0000000000", 1_000_000_000),       // a zero beyond the scale is exact
        ("1.000000000000000000000000000000000000000000000000", 1_000_000_000), // 48 zeros: past Int128 digits
        ("0e99999", 0),
        ("007", 7_000_000_000),
        ("123456789012345678901234567.123456789", Int128("123456789012345678901234567123456789")!),
    ] as [(String, Int128)])
    func quantityParsesExactly(text: String, expected: Int128) throws {
        let q = try Quantity(text)
        #expect(q.raw == expected, "Quantity(\(text))")
    }

    /// The table of powers of ten against repeated multiplication, for every power an Int128 holds; the plain-integer
    /// fast path (which reads the table) against the general parser at every scale it takes.
    @Test func powersOfTenAreExact() {
        var p: Int128 = 1
        for n in 0...38 {
            #expect(FixedPoint.pow10(n) == p, "10^\(n)")
            if n < 38 { p *= 10 }
        }
        for scale in 0...19 {
            for text in ["0", "7", "-42", "926", "123456789012345678"] {
                let fast = Array(text.utf8).withUnsafeBytes { FixedPoint.parsePlainInteger($0, scale: scale) }
                let general = Array(text.utf8).withUnsafeBytes { try? FixedPoint.parseGeneral($0, scale: scale).get() }
                #expect(fast != nil && fast == general, "\(text) at scale \(scale)")
            }
        }
    }

    @Test func amountParsesExactly() throws {
        #expect(try Amount("1.5E-9").raw == 1_500)
        #expect(try Amount("0.000000000001").raw == 1)
        #expect(try Amount("-0.000000000001").raw == -1)
        #expect(try Amount("20.00").raw == 20 * Amount.one)
        #expect(try Amount("0.0004").raw == 400_000_000)
        #expect(try Amount("1.0000000000000").raw == Amount.one)
        #expect(try Amount("1e3").raw == 1000 * Amount.one)
    }

    @Test(arguments: ["1.0000000001", "1.5E-9", "1e-10", "0.0000000001", "-0.0000000015", "0.0000000000000000000000000000000000000000000001"])
    func quantityTooPrecise(text: String) {
        #expect(kind(text, scale: Quantity.scale) == .tooPrecise, "\(text)")
        #expect(throws: DecimalError.self) { try Quantity(text) }
    }

    @Test func amountTooPrecise() {
        #expect(kind("0.0000000000001", scale: Amount.scale) == .tooPrecise)
        #expect(kind("1.5e-13", scale: Amount.scale) == .tooPrecise)
    }

    @Test(arguments: ["1e40", "1e30", "-1e40", "1e99999", "170141183460469231731687303715884105728", "99999999999999999999999999999999999999999"])
    func overflowIsAnErrorNotAWrap(text: String) {
        #expect(kind(text, scale: Quantity.scale) == .overflow, "\(text)")
    }

    @Test func largestQuantityParses() throws {
        // Int128.max raw = 170141183460469231731.687303715884105727 units at 9 dp.
        let q = try Quantity("170141183460469231731687303715.884105727")
        #expect(q.raw == Int128.max)
    }

    /// A number whose integer part fills Int128's 39 digits, plus one fractional digit, is too large,
    /// not too precise: it has 1 fractional digit and the scale is 9.
    @Test func overflowWithFewFractionalDigitsIsReportedAsOverflow() {
        #expect(kind("100000000000000000000000000000000000000.5", scale: Quantity.scale) == .overflow)
        #expect(kind("170141183460469231731687303715.884105728", scale: Quantity.scale) == .overflow) // Int128.max + 1 raw
    }

    @Test(arguments: ["", "abc", "-", "+", ".", ".5", "1.", "-.5", "1e", "1e+", "1e-", "1..2", "1.2.3", "--1", "+-1",
                      " 1", "1 ", "0x10", "NaN", "Infinity", "1,5", "1e3.5", "1_000", "٣"])
    func garbageIsSyntax(text: String) {
        #expect(kind(text, scale: Quantity.scale) == .syntax, "\"\(text)\"")
        #expect(kind(text, scale: Amount.scale) == .syntax, "\"\(text)\"")
    }
}

@Suite struct MoneyFormatTests {
    @Test(arguments: [
        (Int128(0), "0"),
        (1, "0.000000001"),
        (-1, "-0.000000001"),
        (1_000_000_000, "1"),
        (-1_000_000_000, "-1"),
        (1_500_000_000, "1.5"),
        (10_000_000_000, "10"),
        (100_000_000_010, "100.00000001"),
        (Int128.max, "170141183460469231731687303715.884105727"),
        (Int128.min, "-170141183460469231731687303715.884105728"),
    ] as [(Int128, String)])
    func canonicalQuantity(raw: Int128, text: String) {
        #expect(Quantity(raw: raw).description == text)
    }

    @Test func canonicalAmount() throws {
        #expect(Amount(raw: 0).description == "0")
        #expect(Amount(raw: -1).description == "-0.000000000001")
        #expect(try Amount("20.00").description == "20")
        #expect(try Amount("-0.000").description == "0")       // no "-0"
        #expect(try Amount("0.35").description == "0.35")
        #expect(try Amount("1.5E-9").description == "0.0000000015")
        #expect(try Quantity("1e3").description == "1000")       // no exponent
        #expect(try Quantity("-0.0").description == "0")
    }

    /// format ∘ parse is the identity on raw values, at both scales.
    @Test func roundTripRandom() throws {
        let seed = testSeed(default: 0x5EED_0001)
        var g = SeededGenerator(seed: seed)
        for _ in 0..<2_000 {
            let magnitude = Int128(g.next() >> (1 + g.below(63))) * Int128(g.next() >> g.below(64)) / Int128(1 + g.below(1000))
            let raw = g.chance(50) ? -magnitude : magnitude
            for scale in [Quantity.scale, Amount.scale] {
                let text = FixedPoint.format(raw, scale: scale)
                let back = FixedPoint.parse(text, scale: scale)
                #expect(back == .success(raw), "seed \(seed): \(raw) at scale \(scale) formatted as \(text)")
                #expect(!text.hasSuffix("0") || !text.contains("."), "seed \(seed): trailing zero in \(text)")
            }
        }
    }
}

@Suite struct MoneyArithmeticTests {
    /// Amount.times: quantity (9 dp) × unit price (12 dp) is exact to 21 dp, rounded once to 12 dp half-even.
    @Test func timesRoundsHalfEvenAt12Digits() throws {
        let half = q("0.5")
        #expect(try Amount.times(half, unitPrice: Amount(raw: 1)).raw == 0)   // 0.5e-12 → 0 (even)
        #expect(try Amount.times(half, unitPrice: Amount(raw: 3)).raw == 2)   // 1.5e-12 → 2
        #expect(try Amount.times(half, unitPrice: Amount(raw: 5)).raw == 2)   // 2.5e-12 → 2
        #expect(try Amount.times(half, unitPrice: Amount(raw: -1)).raw == 0)  // −0.5e-12 → 0
        #expect(try Amount.times(half, unitPrice: Amount(raw: -3)).raw == -2)
        #expect(try Amount.times(q("0.500000001"), unitPrice: Amount(raw: 1)).raw == 1) // above half
        #expect(try Amount.times(q("0.499999999"), unitPrice: Amount(raw: 1)).raw == 0)
        #expect(try Amount.times(half, unitPrice: Amount(raw: 1), mode: .halfAwayFromZero).raw == 1)
        #expect(try Amount.times(half, unitPrice: Amount(raw: -1), mode: .halfAwayFromZero).raw == -1)
        // Exact products are not rounded at all.
        #expect(try Amount.times(q("3"), unitPrice: amt("0.123456789012")) == amt("0.370370367036"))
        #expect(try Amount.times(q("1000000000000"), unitPrice: amt("0.000000000001")) == amt("1"))
        #expect(try Amount.times(q("0.000000001"), unitPrice: amt("0.000000000001")) == .zero)
    }

    @Test func minorUnitsHalfAwayFromZeroVersusHalfEven() throws {
        let usd = Currency(code: "USD")!.minorUnitDigits
        #expect(try amt("2.345").minorUnits(digits: usd, mode: .halfAwayFromZero) == 235)
        #expect(try amt("2.345").minorUnits(digits: usd, mode: .halfEven) == 234)
        #expect(try amt("-2.345").minorUnits(digits: usd, mode: .halfAwayFromZero) == -235)
        #expect(try amt("-2.345").minorUnits(digits: usd, mode: .halfEven) == -234)
        #expect(try amt("2.355").minorUnits(digits: usd, mode: .halfEven) == 236)
        #expect(try amt("2.355").minorUnits(digits: usd, mode: .halfAwayFromZero) == 236)
        #expect(try amt("2.345000000001").minorUnits(digits: usd, mode: .halfEven) == 235)   // not a tie
        #expect(try amt("2.344999999999").minorUnits(digits: usd, mode: .halfAwayFromZero) == 234)
        #expect(try amt("0.005").minorUnits(digits: usd, mode: .halfEven) == 0)
        #expect(try amt("-0.005").minorUnits(digits: usd, mode: .halfAwayFromZero) == -1)
        #expect(try amt("20").minorUnits(digits: usd, mode: .halfEven) == 2000)

        let jpy = Currency(code: "JPY")!.minorUnitDigits
        #expect(try amt("2.5").minorUnits(digits: jpy, mode: .halfAwayFromZero) == 3)
        #expect(try amt("2.5").minorUnits(digits: jpy, mode: .halfEven) == 2)
        #expect(try amt("3.5").minorUnits(digits: jpy, mode: .halfEven) == 4)
        #expect(try amt("-2.5").minorUnits(digits: jpy, mode: .halfAwayFromZero) == -3)
        #expect(try amt("1234").minorUnits(digits: jpy, mode: .halfEven) == 1234)

        let kwd = Currency(code: "KWD")!.minorUnitDigits
        #expect(try amt("1.2345").minorUnits(digits: kwd, mode: .halfAwayFromZero) == 1235)
        #expect(try amt("1.2345").minorUnits(digits: kwd, mode: .halfEven) == 1234)
        #expect(try amt("1.2355").minorUnits(digits: kwd, mode: .halfEven) == 1236)

        // 12 digits: no rounding at all.
        #expect(try amt("-0.000000000001").minorUnits(digits: 12, mode: .halfEven) == -1)
    }

    @Test func multiplyDivideOverflowThrowsAndNamesOperands() throws {
        do throws(DecimalError) {
            _ = try FixedPoint.multiplyDivide(Int128.max, 2, dividingBy: 1, mode: .halfEven)
            Issue.record("Int128.max × 2 did not throw")
        } catch {
            #expect(error.kind == .overflow)
            #expect(error.message.contains("\(Int128.max)"), "message: \(error.message)")
            #expect(error.message.contains("2"), "message: \(error.message)")
        }
        // The quotient fits in UInt128 but not Int128: still an error, never a wrap to negative.
        #expect(throws: DecimalError.self) { try FixedPoint.multiplyDivide(Int128.max, 3, dividingBy: 2, mode: .halfEven) }
        #expect(throws: DecimalError.self) { try FixedPoint.multiplyDivide(Int128.max, -3, dividingBy: 2, mode: .halfEven) }
        #expect(throws: DecimalError.self) { try FixedPoint.multiplyDivide(1, 1, dividingBy: 0, mode: .halfEven) }
        // In range: the full 256-bit intermediate makes these exact.
        #expect(try FixedPoint.multiplyDivide(Int128.max, 2, dividingBy: 2, mode: .halfEven) == Int128.max)
        #expect(try FixedPoint.multiplyDivide(Int128.max, Int128.max, dividingBy: Int128.max, mode: .halfEven) == Int128.max)
        #expect(try FixedPoint.multiplyDivide(-Int128.max, 3, dividingBy: 3, mode: .halfEven) == -Int128.max)
        #expect(try FixedPoint.multiplyDivide(7, 1, dividingBy: 2, mode: .halfEven) == 4)
        #expect(try FixedPoint.multiplyDivide(5, 1, dividingBy: 2, mode: .halfEven) == 2)
        #expect(try FixedPoint.multiplyDivide(-5, 1, dividingBy: 2, mode: .halfAwayFromZero) == -3)
        #expect(try FixedPoint.multiplyDivide(5, -1, dividingBy: 2, mode: .halfEven) == -2)
    }

    @Test func amountTimesOverflowThrows() {
        #expect(throws: DecimalError.self) { try Amount.times(Quantity(raw: Int128.max), unitPrice: amt("2")) }
        #expect(throws: DecimalError.self) { try Amount.times(Quantity(raw: Int128.max / 1000), unitPrice: amt("1e20")) }
    }

    @Test func addingAndSubtractingOverflowThrow() throws {
        #expect(throws: DecimalError.self) { try Quantity(raw: Int128.max).adding(Quantity(raw: 1)) }
        #expect(throws: DecimalError.self) { try Quantity(raw: Int128.min).subtracting(Quantity(raw: 1)) }
        #expect(throws: DecimalError.self) { try Amount(raw: Int128.max).adding(Amount(raw: 1)) }
        #expect(throws: DecimalError.self) { try Amount(raw: Int128.min).subtracting(Amount(raw: 1)) }
        #expect(try Amount(raw: Int128.max).subtracting(Amount(raw: 1)).raw == Int128.max - 1)
    }

    @Test func divideRounded() throws {
        #expect(try FixedPoint.divideRounded(25, by: 10, mode: .halfEven) == 2)
        #expect(try FixedPoint.divideRounded(35, by: 10, mode: .halfEven) == 4)
        #expect(try FixedPoint.divideRounded(-25, by: 10, mode: .halfEven) == -2)
        #expect(try FixedPoint.divideRounded(-25, by: 10, mode: .halfAwayFromZero) == -3)
        #expect(try FixedPoint.divideRounded(25, by: -10, mode: .halfAwayFromZero) == -3)
        #expect(try FixedPoint.divideRounded(26, by: 10, mode: .halfEven) == 3)
        #expect(throws: DecimalError.self) { try FixedPoint.divideRounded(1, by: 0, mode: .halfEven) }
    }

    /// Random cross-check of minorUnits against an independent rounding of the decimal text.
    @Test func minorUnitsMatchesReference() throws {
        let seed = testSeed(default: 0x5EED_0002)
        var g = SeededGenerator(seed: seed)
        for _ in 0..<3_000 {
            let raw = Int128(Int64(bitPattern: g.next()) >> g.below(40))
            let digits = g.int(0...4)
            let p = FixedPoint.pow10(12 - digits)
            let (quo, rem) = raw.quotientAndRemainder(dividingBy: p)
            let twice = rem.magnitude * 2
            for mode in RoundingMode.allCases {
                var expected = quo
                if twice > p.magnitude || (twice == p.magnitude && (mode == .halfAwayFromZero || quo.magnitude % 2 == 1)) {
                    expected += raw < 0 ? -1 : 1
                }
                let got = try Amount(raw: raw).minorUnits(digits: digits, mode: mode)
                #expect(got == expected, "seed \(seed): \(Amount(raw: raw)) to \(digits) digits \(mode)")
            }
        }
    }

    /// multiplyDivide against the definition of its rounding, on products on both sides of 2^128 (one 128-bit
    /// division below, the 256-by-128 division above): the result m satisfies 2·|P − m·d| ≤ d for P = |a·b|, a
    /// tie goes to the even m (half-even) or away from zero, and the sign is the product's.
    @Test func multiplyDivideRoundsAsDefinedOnBothDivisionPaths() throws {
        let seed = testSeed(default: 0x5EED_0003)
        var g = SeededGenerator(seed: seed)
        func operand(bits: Int) -> Int128 {
            let magnitude = (Int128(g.next() >> 1) << 64 | Int128(g.next())) >> (127 - bits)
            return g.chance(50) ? -magnitude : magnitude
        }
        for round in 0..<4_000 {
            // Up to 160 bits of product: ~8 % of them take the 256-by-128 path (many of those overflow Int128).
            let abits = g.int(1...80), bbits = g.int(1...80)
            let a = operand(bits: abits), b = operand(bits: bbits)
            let d = [Int128(1_000_000_000), 1_000, 7, 1_000_000_000_000, Int128(g.below(1 << 40)) + 1][g.int(0...4)]
            let p = a.magnitude.multipliedFullWidth(by: b.magnitude)
            for mode in RoundingMode.allCases {
                let m: Int128
                do throws(DecimalError) {
                    m = try FixedPoint.multiplyDivide(a, b, dividingBy: d, mode: mode)
                } catch {
                    // Only a quotient at the edge of Int128 or beyond may throw (stdlib's 256-by-128 division as the oracle).
                    let beyond = p.high >= d.magnitude || d.magnitude.dividingFullWidth(p).quotient >= UInt128(Int128.max)
                    #expect(beyond, "seed \(seed) round \(round): \(a) × \(b) / \(d) threw \(error)")
                    continue
                }
                #expect(m == 0 || (m < 0) == ((a < 0) != (b < 0)), "seed \(seed) round \(round): sign of \(a) × \(b) / \(d) = \(m)")
                // m·d against P in 256 bits: m·d = (hi, lo), difference in 256 bits, compared with d / 2.
                let md = m.magnitude.multipliedFullWidth(by: d.magnitude)
                let mdAbove = (md.high, md.low) > (p.high, p.low)
                let (dh, dl): (UInt128, UInt128) = mdAbove
                    ? (md.high &- p.high &- (md.low < p.low ? 1 : 0), md.low &- p.low)
                    : (p.high &- md.high &- (p.low < md.low ? 1 : 0), p.low &- md.low)
                #expect(dh == 0 && dl <= d.magnitude / 2, "seed \(seed) round \(round): \(a) × \(b) / \(d) = \(m) is not the nearest")
                if dh == 0 && d.magnitude % 2 == 0 && dl == d.magnitude / 2 {
                    switch mode {
                    case .halfEven: #expect(m.magnitude % 2 == 0, "seed \(seed) round \(round): tie of \(a) × \(b) / \(d) not to even: \(m)")
                    case .halfAwayFromZero: #expect(mdAbove, "seed \(seed) round \(round): tie of \(a) × \(b) / \(d) not away from zero: \(m)")
                    }
                }
            }
        }
    }
}

@Suite struct CurrencyTests {
    @Test(arguments: [("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("KWD", 3), ("BHD", 3), ("CLF", 4), ("XYZ", 2)])
    func minorUnitDigits(code: String, digits: Int) throws {
        let c = try #require(Currency(code: code))
        #expect(c.minorUnitDigits == digits)
        #expect(c.code == code)
        #expect(c.description == code)
    }

    @Test(arguments: ["usd", "US", "USDD", "", "U1D", "ÜSD", " USD", "US "])
    func invalidCodeIsNil(code: String) {
        #expect(Currency(code: code) == nil)
    }
}
