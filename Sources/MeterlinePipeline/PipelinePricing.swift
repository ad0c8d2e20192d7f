import MeterlineCore

// Owns: how the pipeline finds a window's price and billing period (the memoized price resolution, the price boxes,
// the period memo) and the incremental amount with its tier breakdown. Caches only: every result is a pure function
// of the configuration and its arguments.

/// A price of the catalog in a box: passing it retains one object instead of copying a struct of arrays.
final class PriceEntry: Sendable {
    let price: Price
    init(_ price: Price) { self.price = price }
}

extension Pipeline {
    /// Key of the price-resolution memo: windows of one hour share few of these across all customers.
    struct PriceMemoKey: Hashable {
        var contract: Int32, meter: Int32, dimensions: Hash128, windowStart: Int64
    }

    /// A window's price: the book version in force (index into `config.priceBooks.books`), the matching price,
    /// and the discriminator of its rating scope (the price's filter for additive meters, else the dimensions).
    struct PriceResolution {
        var book: Int?
        /// The matching price: `config.priceBooks.books[book].prices[priceIndex]`.
        var priceIndex: Int?
        var discriminator: Hash128
    }

    /// Resolves (and memoizes) the price of a window. Pure in its arguments: the memo only saves the work.
    /// `dimensions` is an autoclosure: a memo hit does not touch the window's dimension array (a cold cache line).
    func resolvePrice(contract c: Int, meter m: Int, dimensionsHash: Hash128, dimensions: @autoclosure () -> [(String, String)],
                      windowStart: Int64) -> PriceResolution {
        let key = PriceMemoKey(contract: Int32(c), meter: Int32(m), dimensions: dimensionsHash, windowStart: windowStart)
        if let r = priceMemo[key] { return r }
        let dimensions = dimensions()
        let meter = catalog.meters[m]
        let bookIndex = config.priceBooks.bookIndex(id: contracts.contracts[c].priceBook, at: windowStart)
        let match = bookIndex.flatMap { config.priceBooks.books[$0].price(meter: meter.slug, dimensions: dimensions) }
        var disc = dimensionsHash
        if meter.aggregation.isAdditive, let mm = match {
            var h = Hasher128()
            for (fk, fv) in mm.price.filter.sorted(by: { $0.key < $1.key }) { h.combine(fk); h.combine(fv) }
            disc = h.finalize()
        }
        let r = PriceResolution(book: bookIndex, priceIndex: match?.index, discriminator: disc)
        if priceMemo.count >= 1 << 16 { priceMemo.removeAll(keepingCapacity: true) } // bounded: a cache, not state
        priceMemo[key] = r
        return r
    }

    /// The billing period [start, end) holding `t` for a contract anchor day, remembered for the next window (windows
    /// close in end order, so consecutive ones mostly share a period). A cache of `UTC.periodStart`/`periodEnd`.
    @inline(__always)
    func period(of t: Int64, anchorDay: Int) -> (start: Int64, end: Int64) {
        if anchorDay == periodMemo.anchorDay && t >= periodMemo.start && t < periodMemo.end { return (periodMemo.start, periodMemo.end) }
        let start = UTC.periodStart(t, anchorDay: anchorDay)
        periodMemo = (anchorDay, start, UTC.periodEnd(start: start, anchorDay: anchorDay))
        return (periodMemo.start, periodMemo.end)
    }

    /// `price(after) − price(before)` with the per-tier difference, for `config.priceBooks.books[book].prices[price]`;
    /// zero without a price.
    func increment(book: Int?, price: Int?, before: Quantity?, after: Quantity) -> (Amount, [TierLine]) {
        guard let bi = book, let p = price else { return (.zero, []) }
        do {
            // `Price.increment(before:after:)`, keeping the before breakdown for the tier delta (each side priced once).
            // The price is read through its box: a retain, not a copy of the struct and its tier arrays.
            let price = prices[bi][p]
            let a = try price.price.price(after, rounding: config.settings.rounding)
            let b = try before.map { (q) throws(DecimalError) in try price.price.price(q, rounding: config.settings.rounding) }
            let amount = try a.usageAmount.subtracting(b?.usageAmount ?? .zero)
            return (amount, Pipeline.tierDelta(after: a.tiers, before: b?.tiers ?? []))
        } catch {
            return (.zero, [])
        }
    }
}
