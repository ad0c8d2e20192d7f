import Testing
@testable import MeterlineCore

// Rating semantics of DESIGN §6. Graduated and volume tiers follow the definitions of Stripe's
// tiered pricing (docs.stripe.com/products-prices/pricing-models: "graduated" prices each unit at the
// tier it falls in, "volume" prices every unit at the tier the total reaches; tiers have an inclusive
// `up_to`, a unit amount and an optional flat amount, the last tier is open). The numbers in the
// worked examples below are our own, computed by hand in the comments.

private func tier(_ upTo: String?, _ unit: String, flat: String = "0") -> Tier {
    Tier(upTo: upTo.map(q), unitAmount: amt(unit), flatAmount: amt(flat))
}

/// Three tiers with a flat fee each: the first flat is a base fee.
/// (0, 100] at 0.10 + 10 flat; (100, 1000] at 0.05 + 20 flat; (1000, ∞) at 0.01 + 30 flat.
private let feeTiers = [tier("100", "0.10", flat: "10"), tier("1000", "0.05", flat: "20"), tier(nil, "0.01", flat: "30")]

@Suite struct WorkedExampleTests {
    /// Graduated, 5 at $5, next 5 at $4, the rest at $3. 8 units: 5×5 + 3×4 = 37. 12 units: 25 + 20 + 2×3 = 51.
    @Test func graduatedTiers() throws {
        let p = Price(meter: "m", model: .graduated([tier("5", "5"), tier("10", "4"), tier(nil, "3")]))
        #expect(try p.price(q("8")).usageAmount == amt("37"))
        #expect(try p.price(q("12")).usageAmount == amt("51"))
        let b = try p.price(q("12"))
        #expect(b.tiers.map(\.tier) == [1, 2, 3])
        #expect(b.tiers.map(\.quantity) == [q("5"), q("5"), q("2")])
        #expect(b.tiers.map(\.amount) == [amt("25"), amt("20"), amt("6")])
        #expect(b.tiers.map(\.unitAmount) == [amt("5"), amt("4"), amt("3")])
        #expect(b.amount == amt("51"))
        #expect(b.quantity == q("12") && b.billableQuantity == q("12"))
    }

    /// Volume, same table: 8 units all at $4 = 32; 12 units all at $3 = 36; 5 units at $5 = 25; 6 units at $4 = 24.
    @Test func volumeTiers() throws {
        let p = Price(meter: "m", model: .volume([tier("5", "5"), tier("10", "4"), tier(nil, "3")]))
        #expect(try p.price(q("8")).usageAmount == amt("32"))
        #expect(try p.price(q("12")).usageAmount == amt("36"))
        #expect(try p.price(q("5")).usageAmount == amt("25"))
        #expect(try p.price(q("6")).usageAmount == amt("24"))
        let b = try p.price(q("8"))
        #expect(b.tiers == [TierLine(tier: 2, quantity: q("8"), unitAmount: amt("4"), flatAmount: .zero, amount: amt("32"))])
    }

    /// Per unit: 2,500 API calls at $0.0004 = $1.00.
    @Test func perUnit() throws {
        let p = Price(meter: "m", model: .perUnit(unitAmount: amt("0.0004")))
        #expect(try p.price(q("2500")).usageAmount == amt("1"))
        #expect(try p.price(q("0")).usageAmount == .zero)
        #expect(try p.price(q("0.5")).usageAmount == amt("0.0002"))
    }

    /// Package: $0.35 per block of 1,000 calls, rounded up. 2,500 calls → 3 blocks → $1.05.
    @Test func package() throws {
        let p = Price(meter: "m", model: .package(size: q("1000"), amount: amt("0.35")))
        #expect(try p.price(q("2500")).usageAmount == amt("1.05"))
        #expect(try p.price(q("1")).usageAmount == amt("0.35"))
        #expect(try p.price(q("1000")).usageAmount == amt("0.35"))
        #expect(try p.price(q("1000.000000001")).usageAmount == amt("0.70"))
        #expect(try p.price(q("0")).usageAmount == .zero)
        #expect(try p.price(q("0.000000001")).usageAmount == amt("0.35"))
    }

    /// examples/meterline.yaml `standard` tokens: 10,000 included, first 1,000,000 at 0.000004, rest at 0.000002.
    /// 2,010,000 tokens → 2,000,000 billable → 4.00 + 2.00 = 6.00.
    @Test func exampleStandardTokens() throws {
        let p = Price(meter: "tokens", model: .graduated([tier("1000000", "0.000004"), tier(nil, "0.000002")]),
                      includedQuantity: q("10000"))
        let b = try p.price(q("2010000"))
        #expect(b.billableQuantity == q("2000000"))
        #expect(b.usageAmount == amt("6"))
        #expect(try p.price(q("10000")).usageAmount == .zero)
        #expect(try p.price(q("10001")).usageAmount == amt("0.000004"))
    }

    /// examples/meterline.yaml `europe` tokens: volume, minimum 25; ≤ 500,000 at 0.000005 + 5 flat, above at 0.000003.
    @Test func exampleEuropeTokens() throws {
        let p = Price(meter: "tokens", model: .volume([tier("500000", "0.000005", flat: "5.00"), tier(nil, "0.000003")]),
                      minimum: amt("25.00"))
        let small = try p.price(q("400000"))       // 2.00 + 5.00 = 7.00 → minimum 25
        #expect(small.usageAmount == amt("7"))
        #expect(small.amount == amt("25"))
        let large = try p.price(q("10000000"))     // 30.00, above the minimum
        #expect(large.usageAmount == amt("30"))
        #expect(large.amount == amt("30"))
        #expect(try p.price(q("500000")).usageAmount == amt("7.5"))
        #expect(try p.price(q("500001")).usageAmount == amt("1.500003"))
    }
}

@Suite struct GraduatedBoundaryTests {
    let p = Price(meter: "m", model: .graduated(feeTiers))

    @Test func zeroQuantityChargesTheBaseFee() throws {
        let b = try p.price(.zero)
        #expect(b.usageAmount == amt("10"))
        #expect(b.tiers == [TierLine(tier: 1, quantity: .zero, unitAmount: amt("0.10"), flatAmount: amt("10"), amount: amt("10"))])
    }

    @Test func exactlyAtUpToDoesNotEnterTheNextTier() throws {
        let b = try p.price(q("100"))
        #expect(b.usageAmount == amt("20"))        // 100 × 0.10 + 10; no 20 flat fee of tier 2
        #expect(b.tiers.count == 1)
        #expect(try p.price(q("1000")).usageAmount == amt("85"))   // 20 + 900 × 0.05 + 20
        #expect(try p.price(q("1000")).tiers.count == 2)
    }

    @Test func oneNanoUnitPastUpToEntersTheNextTier() throws {
        let b = try p.price(q("100.000000001"))
        // 20 + 0.000000001 × 0.05 + 20 flat
        #expect(b.usageAmount == amt("40.00000000005"))
        #expect(b.tiers.map(\.tier) == [1, 2])
        #expect(b.tiers[1].quantity == Quantity(raw: 1))
        #expect(b.tiers[1].flatAmount == amt("20"))
        #expect(try p.price(q("1000.000000001")).usageAmount == amt("115.00000000001"))
    }

    /// A fractional quantity lies in the tier after an integral upTo (100.5 is in tier 2).
    @Test func continuousTiers() throws {
        let b = try p.price(q("100.5"))
        #expect(b.tiers.map(\.quantity) == [q("100"), q("0.5")])
        #expect(b.usageAmount == amt("40.025"))
    }

    @Test func aTrillionUnits() throws {
        // 85 + 30 + (1e12 − 1000) × 0.01 = 115 + 9,999,999,990
        #expect(try p.price(q("1000000000000")).usageAmount == amt("10000000105"))
        let tiny = Price(meter: "m", model: .graduated([tier("1", "0.000000000001"), tier(nil, "0.000000000003")]))
        // 1 × 1e-12 + (1e12 − 1) × 3e-12 = 1e-12 + 3 − 3e-12
        #expect(try tiny.price(q("1000000000000")).usageAmount == amt("2.999999999998"))
    }

    @Test func twelveDecimalUnitPrices() throws {
        let p = Price(meter: "m", model: .graduated([tier("3", "0.123456789012"), tier(nil, "0.000000000001")]))
        #expect(try p.price(q("3")).usageAmount == amt("0.370370367036"))
        // 0.5 × 1e-12 rounds half-even to 0 at 12 digits; 1.5 × 1e-12 to 2e-12.
        #expect(try p.price(q("3.5")).usageAmount == amt("0.370370367036"))
        #expect(try p.price(q("4.5")).usageAmount == amt("0.370370367038"))
    }

    @Test func includedQuantityIsSubtractedFirst() throws {
        let p = Price(meter: "m", model: .graduated(feeTiers), includedQuantity: q("50"))
        let under = try p.price(q("30"))
        #expect(under.billableQuantity == .zero)
        #expect(under.usageAmount == amt("10"))           // base fee still due
        let over = try p.price(q("150"))
        #expect(over.quantity == q("150"))
        #expect(over.billableQuantity == q("100"))
        #expect(over.usageAmount == amt("20"))            // tiers apply to the billable quantity
        #expect(try p.price(q("150.000000001")).usageAmount == amt("40.00000000005"))
    }

    @Test func firstWindowCarriesTheBaseFee() throws {
        let first = try p.increment(before: nil, after: .zero)
        #expect(first.amount == amt("10"))
        #expect(first.after.usageAmount == amt("10"))
        #expect(try p.increment(before: .zero, after: .zero).amount == .zero)
        #expect(try p.increment(before: q("100"), after: q("100.000000001")).amount == amt("20.00000000005"))
    }
}

@Suite struct VolumeBoundaryTests {
    let p = Price(meter: "m", model: .volume(feeTiers))

    @Test func zeroQuantityChargesTheBaseFee() throws {
        let b = try p.price(.zero)
        #expect(b.usageAmount == amt("10"))
        #expect(b.tiers.map(\.tier) == [1])
    }

    @Test func boundaries() throws {
        #expect(try p.price(q("100")).usageAmount == amt("20"))                  // 100 × 0.10 + 10
        #expect(try p.price(q("100.000000001")).usageAmount == amt("25.00000000005")) // 100.000000001 × 0.05 + 20
        #expect(try p.price(q("1000")).usageAmount == amt("70"))                 // 1000 × 0.05 + 20
        #expect(try p.price(q("1000.000000001")).usageAmount == amt("40.00000000001")) // × 0.01 + 30
        #expect(try p.price(q("1000000000000")).usageAmount == amt("10000000030"))
        #expect(try p.price(q("1000.000000001")).tiers.map(\.tier) == [3])
    }

    @Test func amountCanFallAsUsageRises() throws {
        let inc = try p.increment(before: q("1000"), after: q("1000.000000001"))
        #expect(inc.amount == amt("-29.99999999999"))
        #expect(inc.amount < .zero)
    }

    @Test func includedQuantityAndMinimum() throws {
        let p = Price(meter: "m", model: .volume(feeTiers), includedQuantity: q("1000"), minimum: amt("12.5"))
        let b = try p.price(q("1100"))
        #expect(b.billableQuantity == q("100"))
        #expect(b.usageAmount == amt("20"))
        #expect(b.amount == amt("20"))
        let zero = try p.price(.zero)
        #expect(zero.usageAmount == amt("10"))
        #expect(zero.amount == amt("12.5"))
    }
}

@Suite struct MinimumAndPackageTests {
    @Test func minimumAppliesAtZeroUsage() throws {
        let p = Price(meter: "m", model: .perUnit(unitAmount: amt("0.0004")), minimum: amt("20.00"))
        let b = try p.price(.zero)
        #expect(b.usageAmount == .zero)
        #expect(b.amount == amt("20"))
        let pkg = Price(meter: "m", model: .package(size: q("100"), amount: amt("2.50")), minimum: amt("1"))
        #expect(try pkg.price(.zero).amount == amt("1"))
    }

    /// The minimum compares exact amounts: 1.004 beats a 1.00 minimum although both round to 1.00.
    @Test func minimumComparesExactAmounts() throws {
        let p = Price(meter: "m", model: .perUnit(unitAmount: amt("0.0004")), minimum: amt("1.00"))
        #expect(try p.price(q("2510")).amount == amt("1.004"))
        #expect(try p.price(q("2499.99999999")).amount == amt("1"))
        #expect(try p.price(q("2499.99999999")).usageAmount == amt("0.999999999996"))
    }

    @Test func packageRoundsUpAndZeroIsZero() throws {
        let p = Price(meter: "m", model: .package(size: q("100"), amount: amt("2.50")), includedQuantity: q("50"))
        #expect(try p.price(q("50")).usageAmount == .zero)
        #expect(try p.price(q("50.000000001")).usageAmount == amt("2.5"))
        #expect(try p.price(q("150")).usageAmount == amt("2.5"))
        #expect(try p.price(q("150.000000001")).usageAmount == amt("5"))
        let b = try p.price(q("1050"))
        #expect(b.tiers == [TierLine(tier: 1, quantity: q("1000"), unitAmount: amt("2.5"), flatAmount: .zero, amount: amt("25"))])
    }

    @Test func packageOverflowThrows() {
        let p = Price(meter: "m", model: .package(size: Quantity(raw: 1), amount: Amount(raw: Int128.max / 2)))
        #expect(throws: DecimalError.self) { try p.price(Quantity(raw: 3)) }
    }

    @Test func problemsOfBadDefinitions() {
        #expect(Price(meter: "m", model: .graduated(feeTiers)).problems().isEmpty)
        #expect(!Price(meter: "m", model: .graduated([])).problems().isEmpty)
        #expect(!Price(meter: "m", model: .volume([tier("10", "1"), tier("5", "1"), tier(nil, "1")])).problems().isEmpty)
        #expect(!Price(meter: "m", model: .volume([tier("10", "1"), tier("10", "1"), tier(nil, "1")])).problems().isEmpty)
        #expect(!Price(meter: "m", model: .graduated([tier("10", "1")])).problems().isEmpty)
        #expect(!Price(meter: "m", model: .graduated([tier(nil, "1"), tier(nil, "1")])).problems().isEmpty)
        #expect(!Price(meter: "m", model: .graduated([tier("0", "1"), tier(nil, "1")])).problems().isEmpty)
        #expect(!Price(meter: "m", model: .package(size: .zero, amount: amt("1"))).problems().isEmpty)
        #expect(!Price(meter: "m", model: .perUnit(unitAmount: amt("1")), includedQuantity: q("-1")).problems().isEmpty)
    }

    @Test func priceBookSelection() {
        let usd = Currency(code: "USD")!
        let v1 = PriceBook(id: "std", version: 1, currency: usd, effectiveFrom: utc("2026-01-01T00:00:00Z"),
                           prices: [Price(meter: "tokens", filter: ["model": "large"], model: .perUnit(unitAmount: amt("2"))),
                                    Price(meter: "tokens", model: .perUnit(unitAmount: amt("1")))])
        let v2 = PriceBook(id: "std", version: 2, currency: usd, effectiveFrom: utc("2026-03-01T00:00:00Z"),
                           effectiveTo: utc("2026-04-01T00:00:00Z"), prices: [])
        let catalog = PriceCatalog([v2, v1])
        #expect(catalog.book(id: "std", at: utc("2025-12-31T23:59:59Z")) == nil)
        #expect(catalog.book(id: "std", at: utc("2026-02-15T00:00:00Z"))?.version == 1)
        #expect(catalog.book(id: "std", at: utc("2026-03-01T00:00:00Z"))?.version == 2)
        #expect(catalog.book(id: "std", at: utc("2026-04-01T00:00:00Z"))?.version == 1)   // v2 ended (exclusive)
        #expect(catalog.book(id: "other", at: utc("2026-03-01T00:00:00Z")) == nil)
        #expect(v1.price(meter: "tokens", dimensions: [("model", "large")])?.index == 0)
        #expect(v1.price(meter: "tokens", dimensions: [("model", "small")])?.index == 1)
        #expect(v1.price(meter: "tokens", dimensions: [])?.index == 1)
        #expect(v1.price(meter: "calls", dimensions: []) == nil)
    }
}

/// Σ increments over a period's windows = price(Q_period) exactly, and price(Q) agrees with an
/// independent reference implementation of DESIGN §6, for random tier tables.
@Suite struct RatingPropertyTests {
    static func randomAmount(_ g: inout SeededGenerator, maxInt: UInt64) -> Amount {
        if g.chance(15) { return .zero }
        let d = g.int(0...12)
        let intPart = Int128(g.below(maxInt))
        let frac = d == 0 ? 0 : Int128(g.below(UInt64(FixedPoint.pow10(d))))
        return Amount(raw: (intPart * FixedPoint.pow10(d) + frac) * FixedPoint.pow10(12 - d))
    }

    /// A positive quantity below 10^k units for a random k ≤ maxExp, with 0–9 decimals.
    static func randomQuantity(_ g: inout SeededGenerator, maxExp: Int) -> Quantity {
        let k = g.int(0...maxExp)
        let d = g.int(0...9)
        let limit = Int128(FixedPoint.pow10(k)) * FixedPoint.pow10(d)
        let units = g.below128(limit) + 1
        return Quantity(raw: units * FixedPoint.pow10(9 - d))
    }

    static func roundHalfEven(_ n: Int128, _ d: Int128) -> Int128 {
        let (quo, rem) = n.quotientAndRemainder(dividingBy: d)
        let twice = rem.magnitude * 2
        if twice > d.magnitude || (twice == d.magnitude && quo.magnitude % 2 == 1) { return quo + (n < 0 ? -1 : 1) }
        return quo
    }

    /// Reference: the model's amount for `q`, straight from the DESIGN text, in raw 12-digit units.
    static func reference(_ price: Price, _ q: Quantity) -> Int128 {
        let billable = max(q.raw - price.includedQuantity.raw, 0)
        func times(_ units: Int128, _ unit: Amount) -> Int128 { roundHalfEven(units * unit.raw, Quantity.one) }
        switch price.model {
        case .perUnit(let u):
            return times(billable, u)
        case .graduated(let tiers):
            var total: Int128 = 0
            var lower: Int128 = 0
            for (i, t) in tiers.enumerated() {
                let upper = t.upTo?.raw ?? Int128.max
                let inTier = max(0, min(billable, upper) - lower)
                if inTier > 0 || i == 0 { total += times(inTier, t.unitAmount) + t.flatAmount.raw }
                lower = upper
                if billable <= upper { break }
            }
            return total
        case .volume(let tiers):
            let t = tiers.first { $0.upTo.map { billable <= $0.raw } ?? true }!
            return times(billable, t.unitAmount) + t.flatAmount.raw
        case .package(let size, let amount):
            return (billable + size.raw - 1) / size.raw * amount.raw
        }
    }

    static func randomPrice(_ g: inout SeededGenerator) -> Price {
        var bounds: [Quantity] = []
        var tiers: [Tier] = []
        let n = g.int(1...5)
        var previous = Quantity.zero
        for i in 0..<n {
            var upTo: Quantity? = nil
            if i < n - 1 {
                upTo = Quantity(raw: previous.raw + randomQuantity(&g, maxExp: 9).raw)
                previous = upTo!
                bounds.append(previous)
            }
            tiers.append(Tier(upTo: upTo, unitAmount: randomAmount(&g, maxInt: 1000), flatAmount: randomAmount(&g, maxInt: 1000)))
        }
        let model: PriceModel
        switch g.below(4) {
        case 0: model = .graduated(tiers)
        case 1: model = .volume(tiers)
        case 2: model = .perUnit(unitAmount: randomAmount(&g, maxInt: 1000))
        default: model = .package(size: randomQuantity(&g, maxExp: 6), amount: randomAmount(&g, maxInt: 1000))
        }
        let included = g.chance(40) ? randomQuantity(&g, maxExp: 8) : .zero
        let minimum = g.chance(30) ? randomAmount(&g, maxInt: 100_000) : nil
        return Price(meter: "m", model: model, includedQuantity: included, minimum: minimum)
    }

    /// Interesting period quantities: tier bounds (± one nano-unit), shifted by the included quantity.
    static func boundaries(_ p: Price) -> [Int128] {
        var out: [Int128] = [0, p.includedQuantity.raw]
        switch p.model {
        case .graduated(let t), .volume(let t):
            for b in t.compactMap(\.upTo) { out.append(b.raw + p.includedQuantity.raw) }
        case .package(let size, _):
            out.append(size.raw + p.includedQuantity.raw)
        case .perUnit:
            break
        }
        return out
    }

    @Test func windowsTelescopeToThePeriodPrice() throws {
        let seed = testSeed(default: 0x5EED_0003)
        var g = SeededGenerator(seed: seed)
        var failures = 0
        var cumulative: [Quantity] = []
        cumulative.reserveCapacity(8)
        var cuts: [Int128] = []
        cuts.reserveCapacity(8)
        for iteration in 0..<10_000 where failures < 5 {
            let price = Self.randomPrice(&g)
            let bounds = Self.boundaries(price)
            // The period quantity: random, or a boundary, or a boundary ± 1e-9.
            var period: Int128
            if g.chance(30) {
                period = bounds[Int(g.below(UInt64(bounds.count)))] + Int128(g.int(-1...1))
                period = max(period, 0)
            } else {
                period = Self.randomQuantity(&g, maxExp: 12).raw
            }
            // Split it into 1–8 windows (some possibly empty); cut points may land on boundaries.
            let windows = g.int(1...8)
            cuts.removeAll(keepingCapacity: true)
            for _ in 0..<(windows - 1) {
                if g.chance(25) {
                    cuts.append(min(period, max(0, bounds[Int(g.below(UInt64(bounds.count)))] + Int128(g.int(-1...1)))))
                } else {
                    cuts.append(g.below128(period + 1))
                }
            }
            cuts.sort()
            cumulative.removeAll(keepingCapacity: true)
            for c in cuts { cumulative.append(Quantity(raw: c)) }
            cumulative.append(Quantity(raw: period))

            var sum = Amount.zero
            var before: Quantity? = nil
            for after in cumulative {
                let inc = try price.increment(before: before, after: after)
                sum = try sum.adding(inc.amount)
                // The allocation-free fast path must give exactly the same increment.
                let fast = try price.incrementAmount(before: before, after: after)
                if fast != inc.amount {
                    failures += 1
                    Issue.record("seed \(seed) iteration \(iteration): incrementAmount(\(before.map(\.description) ?? "nil") → \(after)) = \(fast) ≠ increment \(inc.amount); \(price)")
                }
                // Also between arbitrary positions, backwards too (volume can fall; a revision can lower a window).
                if let b = before {
                    let back = try price.incrementAmount(before: after, after: b)
                    let full = try price.price(b).usageAmount.subtracting(try price.price(after).usageAmount)
                    if back != full {
                        failures += 1
                        Issue.record("seed \(seed) iteration \(iteration): backwards incrementAmount \(back) ≠ \(full); \(price)")
                    }
                }
                let expected = Self.reference(price, after)
                if inc.after.usageAmount.raw != expected {
                    failures += 1
                    Issue.record("seed \(seed) iteration \(iteration): price(\(after)) = \(inc.after.usageAmount), reference \(Amount(raw: expected)); \(price)")
                }
                let charged = price.minimum.map { max($0, inc.after.usageAmount) } ?? inc.after.usageAmount
                if inc.after.amount != charged {
                    failures += 1
                    Issue.record("seed \(seed) iteration \(iteration): amount \(inc.after.amount) ≠ max(usage, minimum) \(charged); \(price)")
                }
                before = after
            }
            let total = try price.price(Quantity(raw: period)).usageAmount
            if sum != total {
                failures += 1
                Issue.record("seed \(seed) iteration \(iteration): Σ increments \(sum) ≠ price(\(Quantity(raw: period))) \(total) over \(cumulative); \(price)")
            }
        }
        #expect(failures == 0, "seed \(seed)")
    }
}
