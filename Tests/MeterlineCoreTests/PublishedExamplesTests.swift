import MeterlineCore
import Testing

/// Worked examples from public billing documentation, reproduced exactly (the numbers are the sources'; the
/// code is ours). Each test names its source.
@Suite struct PublishedExamplesTests {
    func q(_ s: String) -> Quantity { try! Quantity(s) }
    func a(_ s: String) -> Amount { try! Amount(s) }

    /// Zuplo, "Pricing models" (zuplo.com/docs/articles/monetization/pricing-models): graduated tiers 1–1,000 at
    /// $0.10, 1,001–10,000 at $0.05, 10,001+ at $0.01; 15,000 units cost $100 + $450 + $50 = $600.
    @Test func zuploGraduated() throws {
        let p = Price(meter: "m", model: .graduated([Tier(upTo: q("1000"), unitAmount: a("0.10")), Tier(upTo: q("10000"), unitAmount: a("0.05")),
                                                     Tier(upTo: nil, unitAmount: a("0.01"))]))
        let b = try p.price(q("15000"))
        #expect(b.amount == a("600"))
        #expect(b.tiers.map(\.amount) == [a("100"), a("450"), a("50")])
    }

    /// Same source, volume mode: all 15,000 units at the reached tier's $0.01 = $150.
    @Test func zuploVolume() throws {
        let p = Price(meter: "m", model: .volume([Tier(upTo: q("1000"), unitAmount: a("0.10")), Tier(upTo: q("10000"), unitAmount: a("0.05")),
                                                  Tier(upTo: nil, unitAmount: a("0.01"))]))
        #expect(try p.price(q("15000")).amount == a("150"))
    }

    /// Same source, per unit: 100,000 API calls at $0.001 = $100.
    @Test func zuploPerUnit() throws {
        #expect(try Price(meter: "m", model: .perUnit(unitAmount: a("0.001"))).price(q("100000")).amount == a("100"))
    }

    /// Lago, "Volume" charge model (getlago.com/docs/guide/plans/charges/charge-models/volume): tiers to 10,000 at
    /// $0.0010, to 50,000 at $0.0008, to 100,000 at $0.0006, above at $0.0004, each with a $10 fixed fee;
    /// 65,000 API calls cost 65,000 × $0.0006 + $10 = $49.
    @Test func lagoVolumeWithFlatFee() throws {
        let p = Price(meter: "m", model: .volume([
            Tier(upTo: q("10000"), unitAmount: a("0.0010"), flatAmount: a("10")), Tier(upTo: q("50000"), unitAmount: a("0.0008"), flatAmount: a("10")),
            Tier(upTo: q("100000"), unitAmount: a("0.0006"), flatAmount: a("10")), Tier(upTo: nil, unitAmount: a("0.0004"), flatAmount: a("10")),
        ]))
        let b = try p.price(q("65000"))
        #expect(b.amount == a("49"))
        #expect(b.tiers.map(\.tier) == [3])
    }

    /// Autumn, "Graduated pricing" (docs.useautumn.com/documentation/modelling-pricing/graduated-pricing): first
    /// 1,000 requests at $0.01, next 9,000 at $0.008, above 10,000 at $0.005; 15,000 requests cost $107.
    @Test func autumnGraduated() throws {
        let p = Price(meter: "m", model: .graduated([Tier(upTo: q("1000"), unitAmount: a("0.01")), Tier(upTo: q("10000"), unitAmount: a("0.008")),
                                                     Tier(upTo: nil, unitAmount: a("0.005"))]))
        #expect(try p.price(q("15000")).amount == a("107"))
        // Incrementally, over any split of the period, the windows sum to the same $107.
        var sum = Amount.zero
        var before: Quantity? = nil
        for after in ["400", "1000", "1000.000000001", "9999", "15000"].map(q) {
            sum = try sum.adding(p.incrementAmount(before: before, after: after))
            before = after
        }
        #expect(sum == a("107"))
    }

    /// Flexprice, "Tiered" (docs.flexprice.io/docs/product-catalogue/plans/billing-models/tiered): packages of
    /// 1,000 calls at $1.00; 4,500 calls make 4.5 packages, rounded up to 5 = $5.
    @Test func flexpricePackage() throws {
        #expect(try Price(meter: "m", model: .package(size: q("1000"), amount: a("1.00"))).price(q("4500")).amount == a("5"))
    }
}
