/// A tier of a graduated or volume price.
/// Invariant: `upTo` (inclusive upper bound) is nil only for the last tier; bounds strictly increase.
public struct Tier: Sendable, Equatable {
    public var upTo: Quantity?
    public var unitAmount: Amount
    public var flatAmount: Amount
    public init(upTo: Quantity?, unitAmount: Amount, flatAmount: Amount = .zero) {
        self.upTo = upTo
        self.unitAmount = unitAmount
        self.flatAmount = flatAmount
    }
}

/// How a billable period quantity becomes an amount (DESIGN §6).
public enum PriceModel: Sendable, Equatable {
    /// Every billable unit at `unitAmount`.
    case perUnit(unitAmount: Amount)
    /// Each unit at the price of the tier it falls in; a tier's flat amount once any quantity enters it;
    /// the first tier's flat amount is a base fee charged even at zero.
    case graduated([Tier])
    /// All billable units at the unit price of the tier containing the billable quantity, plus that tier's flat amount.
    case volume([Tier])
    /// ⌈billable / size⌉ × amount; 0 → 0.
    case package(size: Quantity, amount: Amount)

    public var name: String {
        switch self {
        case .perUnit: "per_unit"
        case .graduated: "graduated"
        case .volume: "volume"
        case .package: "package"
        }
    }
}

/// One line of a price breakdown.
public struct TierLine: Sendable, Equatable {
    /// 1-based tier number (1 for per_unit and package).
    public var tier: Int
    public var quantity: Quantity
    public var unitAmount: Amount
    public var flatAmount: Amount
    /// quantity × unitAmount + flatAmount (12 digits).
    public var amount: Amount
    public init(tier: Int, quantity: Quantity, unitAmount: Amount, flatAmount: Amount, amount: Amount) {
        self.tier = tier; self.quantity = quantity; self.unitAmount = unitAmount; self.flatAmount = flatAmount; self.amount = amount
    }
}

/// The price of a period quantity.
/// Invariant: `usageAmount` = Σ tier line amounts; `amount` = max(usageAmount, minimum).
public struct PriceBreakdown: Sendable, Equatable {
    public var quantity: Quantity
    public var billableQuantity: Quantity
    public var usageAmount: Amount
    public var amount: Amount
    public var tiers: [TierLine]
}

/// A price for one meter, optionally restricted to dimension values.
/// Invariant: tiers are validated at construction by `validate()`; amounts are exact 12-digit decimals.
public struct Price: Sendable, Equatable {
    public var meter: String
    /// groupBy dimension → required value; empty matches all.
    public var filter: [String: String]
    public var model: PriceModel
    public var includedQuantity: Quantity
    public var minimum: Amount?

    public init(meter: String, filter: [String: String] = [:], model: PriceModel, includedQuantity: Quantity = .zero, minimum: Amount? = nil) {
        self.meter = meter
        self.filter = filter
        self.model = model
        self.includedQuantity = includedQuantity
        self.minimum = minimum
    }

    /// Problems with this price's definition (empty when valid).
    public func problems() -> [String] {
        var out: [String] = []
        if includedQuantity < .zero { out.append("includedQuantity must not be negative") }
        switch model {
        case .graduated(let tiers), .volume(let tiers):
            if tiers.isEmpty { out.append("tiers must not be empty") }
            var previous: Quantity? = nil
            for (i, t) in tiers.enumerated() {
                if let u = t.upTo {
                    if u <= (previous ?? Quantity(raw: -1)) || u.raw <= 0 { out.append("tiers[\(i)].upTo must be greater than the previous tier's") }
                    previous = u
                } else if i != tiers.count - 1 {
                    out.append("tiers[\(i)].upTo: only the last tier may be open (null)")
                }
            }
            if let last = tiers.last, last.upTo != nil { out.append("the last tier must have upTo: null") }
        case .package(let size, _):
            if size.raw <= 0 { out.append("packageSize must be positive") }
        case .perUnit:
            break
        }
        return out
    }

    /// Whether this price applies to a rollup key with these dimensions.
    public func matches(_ dimensions: [(String, String)]) -> Bool {
        for (k, v) in filter where !dimensions.contains(where: { $0.0 == k && $0.1 == v }) { return false }
        return true
    }

    /// The amount for a period quantity `q` (DESIGN §6): included units first, then the model; amounts
    /// are exact to 12 digits (each product of a 9-digit quantity and a 12-digit unit price is rounded
    /// half-even to 12 digits, the only rounding before minor units).
    public func price(_ q: Quantity, rounding: RoundingMode = .halfEven) throws(DecimalError) -> PriceBreakdown {
        let billable = q > includedQuantity ? try q.subtracting(includedQuantity) : .zero
        var lines: [TierLine] = []
        // One allocation: a graduated price has at most a line per tier, the other models one line.
        if case .graduated(let tiers) = model { lines.reserveCapacity(tiers.count) } else { lines.reserveCapacity(1) }
        var usage = Amount.zero
        switch model {
        case .perUnit(let unit):
            let a = try Amount.times(billable, unitPrice: unit, mode: rounding)
            lines.append(TierLine(tier: 1, quantity: billable, unitAmount: unit, flatAmount: .zero, amount: a))
            usage = a
        case .graduated(let tiers):
            var lower = Quantity.zero
            for (i, t) in tiers.enumerated() {
                let upper = t.upTo
                var inTier = Quantity.zero
                if billable > lower {
                    let top = upper.map { Swift.min($0, billable) } ?? billable
                    inTier = try top.subtracting(lower)
                }
                // Flat fee: once any positive quantity enters the tier; tier 1's flat is a base fee, always.
                if inTier.raw > 0 || i == 0 {
                    let units = try Amount.times(inTier, unitPrice: t.unitAmount, mode: rounding)
                    let a = try units.adding(t.flatAmount)
                    lines.append(TierLine(tier: i + 1, quantity: inTier, unitAmount: t.unitAmount, flatAmount: t.flatAmount, amount: a))
                    usage = try usage.adding(a)
                }
                guard let u = upper, billable > u else { break }
                lower = u
            }
        case .volume(let tiers):
            var index = tiers.count - 1
            for (i, t) in tiers.enumerated() {
                if let u = t.upTo, billable <= u { index = i; break }
            }
            let t = tiers[index]
            let units = try Amount.times(billable, unitPrice: t.unitAmount, mode: rounding)
            let a = try units.adding(t.flatAmount)
            lines.append(TierLine(tier: index + 1, quantity: billable, unitAmount: t.unitAmount, flatAmount: t.flatAmount, amount: a))
            usage = a
        case .package(let size, let amount):
            let (n, r) = billable.raw.quotientAndRemainder(dividingBy: size.raw)
            let packages = n + (r > 0 ? 1 : 0)
            let (raw, o) = amount.raw.multipliedReportingOverflow(by: packages)
            if o { throw DecimalError(.overflow, "amount overflow: \(packages) packages × \(amount)") }
            let a = Amount(raw: raw)
            lines.append(TierLine(tier: 1, quantity: billable, unitAmount: amount, flatAmount: .zero, amount: a))
            usage = a
        }
        let charged = minimum.map { Swift.max($0, usage) } ?? usage
        return PriceBreakdown(quantity: q, billableQuantity: billable, usageAmount: usage, amount: charged, tiers: lines)
    }

    /// The usage amount of a window that moves the period quantity from `before` to `after`:
    /// `price(after) − price(before)`, with baseline 0 for the first window (so it carries the base fee).
    /// Windows of a period therefore sum exactly to `price(Q_period).usageAmount`.
    public func increment(before: Quantity?, after: Quantity, rounding: RoundingMode = .halfEven) throws(DecimalError) -> (amount: Amount, after: PriceBreakdown) {
        let a = try price(after, rounding: rounding)
        let b = try before.map { (q) throws(DecimalError) in try price(q, rounding: rounding).usageAmount } ?? .zero
        return (try a.usageAmount.subtracting(b), a)
    }
}

extension Price {
    /// Exactly `increment(before:after:).amount`, without building breakdowns: the terms of tiers that hold the
    /// same quantity before and after cancel (each tier line is rounded on its own in `price`), so only the tiers
    /// between the two positions are computed — usually one multiplication. No allocation.
    @inlinable
    public func incrementAmount(before: Quantity?, after: Quantity, rounding: RoundingMode = .halfEven) throws(DecimalError) -> Amount {
        guard let before else { return try price(after, rounding: rounding).usageAmount }
        switch model {
        case .graduated(let tiers):
            let bb = before > includedQuantity ? try before.subtracting(includedQuantity) : .zero
            let ba = after > includedQuantity ? try after.subtracting(includedQuantity) : .zero
            if bb == ba { return .zero }
            let tb = Price.tierIndex(tiers, bb), ta = Price.tierIndex(tiers, ba)
            var sum = Amount.zero
            var t = Swift.min(tb, ta)
            let last = Swift.max(tb, ta)
            while t <= last {
                let d = try Price.graduatedTerm(tiers, t, ba, rounding).subtracting(try Price.graduatedTerm(tiers, t, bb, rounding))
                sum = try sum.adding(d)
                t += 1
            }
            return sum
        case .perUnit(let unit):
            let bb = before > includedQuantity ? try before.subtracting(includedQuantity) : .zero
            let ba = after > includedQuantity ? try after.subtracting(includedQuantity) : .zero
            return try Amount.times(ba, unitPrice: unit, mode: rounding).subtracting(try Amount.times(bb, unitPrice: unit, mode: rounding))
        case .volume, .package:
            return try price(after, rounding: rounding).usageAmount.subtracting(try price(before, rounding: rounding).usageAmount)
        }
    }

    /// The tier holding billable quantity `b` (0 for b = 0; `upTo` inclusive).
    @inlinable
    static func tierIndex(_ tiers: [Tier], _ b: Quantity) -> Int {
        var i = 0
        while i < tiers.count - 1 {
            if let u = tiers[i].upTo, b <= u { return i }
            i += 1
        }
        return tiers.count - 1
    }

    /// Tier `t`'s line in `price(b)`: units in the tier × unit price (rounded) + its flat amount if any units entered it
    /// (tier 1's flat always: the base fee); zero otherwise.
    @inlinable
    static func graduatedTerm(_ tiers: [Tier], _ t: Int, _ b: Quantity, _ rounding: RoundingMode) throws(DecimalError) -> Amount {
        let lower = t == 0 ? Quantity.zero : tiers[t - 1].upTo!
        var inTier = Quantity.zero
        if b > lower {
            let top = tiers[t].upTo.map { Swift.min($0, b) } ?? b
            inTier = try top.subtracting(lower)
        }
        guard inTier.raw > 0 || t == 0 else { return .zero }
        return try Amount.times(inTier, unitPrice: tiers[t].unitAmount, mode: rounding).adding(tiers[t].flatAmount)
    }
}

/// A versioned, effective-dated price book.
/// Invariant: `effectiveFrom` < `effectiveTo` when both are set; one currency for all prices.
public struct PriceBook: Sendable, Equatable {
    public var id: String
    public var version: Int
    public var currency: Currency
    public var effectiveFrom: Int64
    public var effectiveTo: Int64?
    public var prices: [Price]

    public init(id: String, version: Int, currency: Currency, effectiveFrom: Int64, effectiveTo: Int64? = nil, prices: [Price]) {
        self.id = id
        self.version = version
        self.currency = currency
        self.effectiveFrom = effectiveFrom
        self.effectiveTo = effectiveTo
        self.prices = prices
    }

    public func isEffective(at t: Int64) -> Bool {
        t >= effectiveFrom && (effectiveTo.map { t < $0 } ?? true)
    }

    /// The first price for `meter` whose filter matches `dimensions` (file order: put specific filters first).
    public func price(meter: String, dimensions: [(String, String)]) -> (index: Int, price: Price)? {
        for (i, p) in prices.enumerated() where p.meter == meter && p.matches(dimensions) { return (i, p) }
        return nil
    }
}

/// All versions of all price books; picks the version in force at an instant.
/// Invariant: versions of one id are sorted by version.
public struct PriceCatalog: Sendable {
    public let books: [PriceBook]
    public init(_ books: [PriceBook]) {
        self.books = books.sorted { ($0.id, $0.version) < ($1.id, $1.version) }
    }
    /// The index in `books` of `book(id:at:)`.
    public func bookIndex(id: String, at t: Int64) -> Int? {
        books.lastIndex { $0.id == id && $0.isEffective(at: t) }
    }

    /// The highest version of book `id` effective at `t`.
    public func book(id: String, at t: Int64) -> PriceBook? {
        bookIndex(id: id, at: t).map { books[$0] }
    }
}
